//! Reading the audit log back: `pkgward log` and `pkgward export`.
//!
//! The log is rotated by size (`<log>.1` … `<log>.N`, `.1` the newest), so a
//! reader reads the rotated files too, oldest first. Every file is opened
//! before any is read: a rotation while the log is being read renames files
//! under the reader, but the handles it holds keep naming what they named.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};

/// One invocation with its exit line (if it has one yet).
#[derive(Clone, Debug)]
pub struct Entry {
    pub invocation: Value,
    pub exit: Option<Value>,
}

impl Entry {
    pub fn str_field(&self, key: &str) -> &str {
        self.invocation
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    pub fn action(&self) -> &str {
        self.invocation
            .pointer("/decision/action")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    pub fn denied(&self) -> bool {
        matches!(self.action(), "deny" | "would-deny")
    }
    pub fn time(&self) -> Option<jiff::Timestamp> {
        self.str_field("time").parse().ok()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub tool: Option<String>,
    pub denied: bool,
    pub since: Option<jiff::Timestamp>,
    /// Only invocations that added, changed or removed this package, ran
    /// its install-time code, or named it on their command line.
    pub package: Option<String>,
    /// Only invocations with a connection (or a fetched artifact) to this
    /// host (`HOST` or `HOST:PORT`).
    pub host: Option<String>,
}

impl Filter {
    fn accepts(&self, e: &Entry) -> bool {
        if let Some(t) = &self.tool {
            if e.str_field("tool") != t {
                return false;
            }
        }
        if self.denied && !e.denied() {
            return false;
        }
        if let Some(since) = self.since {
            match e.time() {
                Some(t) if t >= since => {}
                _ => return false,
            }
        }
        true
    }

    /// Whether a related record (not `invocation`/`exit`) makes its
    /// invocation match the package or host filter.
    fn matches_related(&self, kind: &str, v: &Value) -> (bool, bool) {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
        let package = self.package.as_deref().is_some_and(|p| match kind {
            "package" => same_package(s("name"), p),
            "script" => same_package(s("package"), p),
            _ => false,
        });
        let host = self.host.as_deref().is_some_and(|h| match kind {
            "connection" | "artifact" => {
                let port = v.get("port").and_then(Value::as_u64);
                same_host(s("host"), port, h)
            }
            _ => false,
        });
        (package, host)
    }
}

/// Whether `name` (a package name as recorded) is `wanted`: equal, ignoring
/// case and treating `-`, `_` and `.` alike (PyPI's normalisation; npm and
/// Cargo names are lowercase anyway).
pub fn same_package(name: &str, wanted: &str) -> bool {
    let norm = |s: &str| crate::tools::pep503(s.trim());
    !wanted.trim().is_empty() && norm(name) == norm(wanted)
}

/// Whether a command-line argument names the package: `left-pad`,
/// `left-pad@1.3.0`, `@scope/pkg@^2`, `requests==2.31`, `Django>=4`,
/// `serde@1.0.200`, `pkg[extra]`, `npm:alias@…` is not followed.
pub fn names_package(arg: &str, wanted: &str) -> bool {
    if arg.starts_with('-') {
        return false;
    }
    // `--flag=value` was skipped above; `name@version`: the name ends at
    // the first `@` after the first character (scoped npm names start
    // with one), or at a version operator, extras or a marker.
    let body = arg.get(1..).unwrap_or("");
    let cut = body
        .find(['@', '=', '<', '>', '~', '!', '[', ';', ' ', ','])
        .map(|i| i + 1)
        .unwrap_or(arg.len());
    same_package(&arg[..cut], wanted)
}

/// Whether a recorded host (and port) is the one asked for: `HOST` or
/// `HOST:PORT` (`[v6]:PORT`), case-insensitive.
pub fn same_host(host: &str, port: Option<u64>, wanted: &str) -> bool {
    let wanted = wanted.trim();
    let (whost, wport) = match wanted.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.ends_with(':') && p.parse::<u16>().is_ok() => {
            (h, p.parse::<u64>().ok())
        }
        _ => (wanted, None),
    };
    let whost = whost.trim_start_matches('[').trim_end_matches(']');
    let host = host.trim_start_matches('[').trim_end_matches(']');
    !whost.is_empty() && host.eq_ignore_ascii_case(whost) && (wport.is_none() || wport == port)
}

/// The files of the log, oldest first: the rotated ones (`<log>.N` …
/// `<log>.1`, whatever N the rotation kept) and then the log itself. Only
/// names that exist.
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u32, PathBuf)> = Vec::new();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let (Some(name), Ok(entries)) = (path.file_name(), std::fs::read_dir(&dir)) {
        let prefix = format!("{}.", name.to_string_lossy());
        for e in entries.flatten() {
            let f = e.file_name();
            let f = f.to_string_lossy();
            let Some(n) = f.strip_prefix(&prefix) else {
                continue;
            };
            if n.is_empty() || n.len() > 6 || !n.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Ok(n) = n.parse::<u32>() {
                rotated.push((n, dir.join(&*f)));
            }
        }
    }
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut out: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    if path.exists() {
        out.push(path.to_path_buf());
    }
    out
}

/// Calls `f` with every record of the log (rotated files first, oldest
/// first) that parses as a JSON object. Returns how many lines did not:
/// they are counted and skipped, never fatal. A log that does not exist is
/// empty.
pub fn for_each_record(path: &Path, f: &mut dyn FnMut(Value)) -> Result<usize> {
    let mut files = Vec::new();
    for p in log_files(path) {
        match File::open(&p) {
            Ok(file) => files.push((p, file)),
            // Rotated away between listing and opening: its records are in
            // the next name, which is opened after it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("cannot read {}", p.display()), e)),
        }
    }
    let mut bad = 0usize;
    for (p, file) in files {
        for line in BufReader::new(file).split(b'\n') {
            let line = line.map_err(|e| Error::io(format!("cannot read {}", p.display()), e))?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Value>(&line) {
                Ok(v @ Value::Object(_)) => f(v),
                _ => bad += 1,
            }
        }
    }
    Ok(bad)
}

/// Whether the invocation's command line names the package.
fn argv_names(e: &Entry, package: &str) -> bool {
    e.invocation
        .get("argv")
        .and_then(Value::as_array)
        .is_some_and(|argv| {
            argv.iter()
                .skip(1)
                .filter_map(Value::as_str)
                .any(|a| names_package(a, package))
        })
}

fn kind(v: &Value) -> &str {
    v.get("kind").and_then(Value::as_str).unwrap_or("")
}

fn invocation_id(v: &Value) -> &str {
    v.get("invocation_id").and_then(Value::as_str).unwrap_or("")
}

/// Reads every invocation (oldest first) that passes `filter`. Lines that are
/// not valid JSON are counted and skipped, never fatal.
pub fn read(path: &Path, filter: &Filter) -> Result<(Vec<Entry>, usize)> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // Invocations a related record matched to the package / host filter.
    let mut by_package: HashSet<String> = HashSet::new();
    let mut by_host: HashSet<String> = HashSet::new();
    let bad = for_each_record(path, &mut |v| {
        let id = invocation_id(&v).to_string();
        match kind(&v) {
            "invocation" => {
                index.insert(id, entries.len());
                entries.push(Entry {
                    invocation: v,
                    exit: None,
                });
            }
            "exit" => {
                if let Some(&i) = index.get(&id) {
                    entries[i].exit = Some(v);
                }
            }
            k => {
                let (p, h) = filter.matches_related(k, &v);
                if p {
                    by_package.insert(id.clone());
                }
                if h {
                    by_host.insert(id);
                }
            }
        }
    })?;
    entries.retain(|e| {
        let id = e.str_field("invocation_id");
        let package_ok = filter
            .package
            .as_deref()
            .is_none_or(|p| by_package.contains(id) || argv_names(e, p));
        let host_ok = filter.host.is_none() || by_host.contains(id);
        package_ok && host_ok && filter.accepts(e)
    });
    Ok((entries, bad))
}

/// Every record of invocation `id` and of the invocations it started,
/// recursively (by `parent_id`), in log order. `id` may be a unique prefix
/// of at least 8 characters. `Ok(None)` when no invocation matches.
pub fn tree(path: &Path, id: &str) -> Result<(Option<Vec<Value>>, usize)> {
    let id = id.trim();
    let mut candidates: Vec<String> = Vec::new();
    for_each_record(path, &mut |v| {
        if kind(&v) == "invocation" {
            let i = invocation_id(&v);
            if (i == id || (id.len() >= 8 && i.starts_with(id)))
                && !candidates.iter().any(|c| c == i)
            {
                candidates.push(i.to_string());
            }
        }
    })?;
    let root = match candidates.iter().find(|c| *c == id) {
        Some(c) => c.clone(),
        None => match candidates.len() {
            0 => return Ok((None, 0)),
            1 => candidates.remove(0),
            n => {
                return Err(Error::Config(format!(
                    "--invocation {id}: the prefix matches {n} invocations; give more of the id"
                )))
            }
        },
    };
    let mut members: HashSet<String> = HashSet::from([root]);
    let mut out = Vec::new();
    let bad = for_each_record(path, &mut |v| {
        if kind(&v) == "invocation" {
            let parent = v.get("parent_id").and_then(Value::as_str).unwrap_or("");
            if members.contains(parent) {
                members.insert(invocation_id(&v).to_string());
            }
        }
        if members.contains(invocation_id(&v)) {
            out.push(v);
        }
    })?;
    Ok((Some(out), bad))
}

/// Parses a duration like `90s`, `15m`, `2h`, `1h30m`, `7d`, `2w`.
pub fn parse_duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(format!("`{s}`: unknown unit `{c}` (use s, m, h, d or w)")),
        };
        let n: u64 = num
            .parse()
            .map_err(|_| format!("`{s}`: expected a number before `{c}`"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("`{s}`: too large"))?;
        num.clear();
    }
    if !num.is_empty() {
        return Err(format!(
            "`{s}`: missing unit after {num} (use s, m, h, d or w)"
        ));
    }
    Ok(std::time::Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("2d").unwrap().as_secs(), 172_800);
        for bad in ["", "5", "h", "3x", "99999999999999999999w"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn package_names_and_hosts() {
        for (arg, name, hit) in [
            ("left-pad", "left-pad", true),
            ("left-pad@1.3.0", "left-pad", true),
            ("@scope/pkg@^2", "@scope/pkg", true),
            ("@scope/pkg", "pkg", false),
            ("requests==2.31", "requests", true),
            ("Django>=4", "django", true),
            ("zope.interface[test]", "zope-interface", true),
            ("left", "left-pad", false),
            ("--left-pad", "left-pad", false),
            ("install", "left-pad", false),
        ] {
            assert_eq!(names_package(arg, name), hit, "{arg} {name}");
        }
        assert!(same_package("Foo_Bar", "foo.bar"));
        assert!(!same_package("x", ""));
        for (host, port, wanted, hit) in [
            ("127.0.0.1", Some(4873), "127.0.0.1", true),
            ("127.0.0.1", Some(4873), "127.0.0.1:4873", true),
            ("127.0.0.1", Some(4873), "127.0.0.1:80", false),
            (
                "Registry.Example.COM",
                Some(443),
                "registry.example.com",
                true,
            ),
            ("::1", Some(9), "::1", true),
            ("::1", Some(9), "[::1]:9", true),
            ("::1", Some(9), "[::1]:10", false),
            ("", None, "", false),
        ] {
            assert_eq!(same_host(host, port, wanted), hit, "{host} {wanted}");
        }
    }

    #[test]
    fn rotated_files_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        for name in [
            "audit.jsonl",
            "audit.jsonl.1",
            "audit.jsonl.2",
            "audit.jsonl.10",
            "audit.jsonl.spool",
            "audit.jsonl.1.tmp",
            "other.jsonl.3",
        ] {
            std::fs::write(dir.path().join(name), format!("{{\"f\":\"{name}\"}}\n")).unwrap();
        }
        let names: Vec<String> = log_files(&p)
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "audit.jsonl.10",
                "audit.jsonl.2",
                "audit.jsonl.1",
                "audit.jsonl"
            ]
        );
        let mut seen = Vec::new();
        for_each_record(&p, &mut |v| seen.push(v["f"].as_str().unwrap().to_string())).unwrap();
        assert_eq!(seen, names);
        // Only rotated files (the log itself just rotated away): still read.
        std::fs::remove_file(&p).unwrap();
        assert_eq!(log_files(&p).len(), 3);
        // No log at all: nothing, no error.
        assert!(log_files(&dir.path().join("none.jsonl")).is_empty());
        assert_eq!(
            for_each_record(&dir.path().join("none.jsonl"), &mut |_| {}).unwrap(),
            0
        );
    }

    #[test]
    fn pairs_exit_lines_and_skips_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        std::fs::write(
            &p,
            concat!(
                r#"{"kind":"invocation","invocation_id":"a","tool":"npm","time":"2026-01-01T00:00:00Z","decision":{"action":"allow"}}"#,
                "\nnot json\n",
                r#"{"kind":"invocation","invocation_id":"b","tool":"pip","time":"2026-01-02T00:00:00Z","decision":{"action":"deny"}}"#,
                "\n",
                r#"{"kind":"exit","invocation_id":"a","exit_code":0}"#,
                "\n"
            ),
        )
        .unwrap();
        let (all, bad) = read(&p, &Filter::default()).unwrap();
        assert_eq!((all.len(), bad), (2, 1));
        assert!(all[0].exit.is_some() && all[1].exit.is_none());
        let f = Filter {
            denied: true,
            ..Filter::default()
        };
        assert_eq!(read(&p, &f).unwrap().0.len(), 1);
        let f = Filter {
            tool: Some("npm".into()),
            ..Filter::default()
        };
        assert_eq!(read(&p, &f).unwrap().0[0].str_field("invocation_id"), "a");
        let f = Filter {
            since: Some("2026-01-01T12:00:00Z".parse().unwrap()),
            ..Filter::default()
        };
        assert_eq!(read(&p, &f).unwrap().0.len(), 1);
    }
}
