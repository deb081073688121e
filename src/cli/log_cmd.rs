//! `pkgward log`: recent invocations from the audit log.

use std::path::PathBuf;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::record::query::{self, Entry, Filter};

/// What `pkgward log` was asked for.
pub struct Args {
    pub tool: Option<String>,
    pub denied: bool,
    pub since: Option<String>,
    pub package: Option<String>,
    pub host: Option<String>,
    pub invocation: Option<String>,
    pub json: bool,
    pub summary: bool,
    pub file: Option<PathBuf>,
}

/// `--since`: a duration back from now, or `job`.
pub fn since_timestamp(s: &str) -> Result<jiff::Timestamp> {
    if s == "job" {
        return job_start(&|k| std::env::var(k).ok());
    }
    let d = query::parse_duration(s).map_err(|e| Error::Config(format!("--since: {e}")))?;
    let d =
        jiff::SignedDuration::try_from(d).map_err(|e| Error::Config(format!("--since: {e}")))?;
    jiff::Timestamp::now()
        .checked_sub(d)
        .map_err(|e| Error::Config(format!("--since: {e}")))
}

/// The log to read: `--file`, else the one the policy in effect here names.
pub fn log_path(file: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(f) = file {
        return Ok(f);
    }
    let cwd =
        std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))?;
    let loaded = crate::policy::load(&crate::policy::discover(
        &crate::policy::DiscoveryContext::from_process(&cwd),
    ));
    crate::shim::audit_log_path(&loaded.policy)
        .ok_or_else(|| Error::Config("no audit log configured and no state directory".into()))
}

pub fn run(a: Args) -> Result<i32> {
    let since = a.since.as_deref().map(since_timestamp).transpose()?;
    let path = log_path(a.file)?;
    use std::io::Write;
    if let Some(id) = a.invocation {
        let (records, bad) = query::tree(&path, &id)?;
        let Some(records) = records else {
            return Err(Error::Config(format!(
                "--invocation: no invocation {id} in the audit log"
            )));
        };
        let mut out = std::io::stdout().lock();
        if a.json {
            for r in &records {
                let _ = writeln!(out, "{r}");
            }
        } else {
            let _ = write!(out, "{}", human_tree(&records));
        }
        report_bad(bad, &path);
        return Ok(0);
    }
    let filter = Filter {
        tool: a.tool,
        denied: a.denied,
        since,
        package: a.package,
        host: a.host,
    };
    let (entries, bad) = query::read(&path, &filter)?;
    let mut out = std::io::stdout().lock();
    if a.summary {
        let _ = write!(out, "{}", markdown_summary(&entries));
    }
    for e in entries.iter().filter(|_| !a.summary) {
        let _ = if a.json {
            let mut v = e.invocation.clone();
            if let Value::Object(m) = &mut v {
                m.insert("exit".into(), e.exit.clone().unwrap_or(Value::Null));
            }
            writeln!(out, "{v}")
        } else {
            writeln!(out, "{}", human(e))
        };
    }
    report_bad(bad, &path);
    Ok(0)
}

fn report_bad(bad: usize, path: &std::path::Path) {
    if bad > 0 {
        eprintln!(
            "pkgward: {bad} line(s) of {} (or its rotated files) are not valid JSON and were skipped",
            path.display()
        );
    }
}

/// An invocation tree for people: each invocation's line as in the list,
/// then what happened under it, children indented under their parent.
pub fn human_tree(records: &[Value]) -> String {
    use std::collections::HashMap;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut order: Vec<String> = Vec::new();
    let mut entries: HashMap<String, Entry> = HashMap::new();
    let mut detail: HashMap<String, Vec<String>> = HashMap::new();
    let mut depth: HashMap<String, usize> = HashMap::new();
    for r in records {
        let id = s(r, "invocation_id");
        match s(r, "kind").as_str() {
            "invocation" => {
                let d = depth.get(&s(r, "parent_id")).map_or(0, |d| d + 1);
                depth.insert(id.clone(), d);
                order.push(id.clone());
                entries.insert(
                    id,
                    Entry {
                        invocation: r.clone(),
                        exit: None,
                    },
                );
            }
            "exit" => {
                if let Some(e) = entries.get_mut(&id) {
                    e.exit = Some(r.clone());
                }
            }
            _ => detail.entry(id).or_default().push(describe(r)),
        }
    }
    let mut out = String::new();
    for id in &order {
        let pad = "    ".repeat(depth.get(id).copied().unwrap_or(0));
        if let Some(e) = entries.get(id) {
            for line in human(e).lines() {
                out.push_str(&pad);
                out.push_str(line);
                out.push('\n');
            }
        }
        for d in detail.get(id).into_iter().flatten() {
            out.push_str(&pad);
            out.push_str("  ");
            out.push_str(d);
            out.push('\n');
        }
    }
    out
}

/// One line for a record of an invocation's tree.
fn describe(r: &Value) -> String {
    let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
    let n = |k: &str| r.get(k).and_then(Value::as_i64);
    let short = |h: &str| h.get(..16).unwrap_or(h).to_string();
    match s("kind") {
        "process" => {
            let argv: Vec<&str> = r
                .get("argv")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let cmd = if argv.is_empty() {
                s("command_line").to_string()
            } else {
                argv.join(" ")
            };
            let exe = if s("exe").is_empty() {
                s("image")
            } else {
                s("exe")
            };
            let mut l = format!(
                "process     pid {} {exe}  {cmd}",
                n("pid").map(|p| p.to_string()).unwrap_or_default()
            );
            // Linux tracer: the parent, to follow the lineage back.
            if let Some(pp) = n("ppid") {
                l.push_str(&format!("  (parent {pp})"));
            }
            if !s("flagged").is_empty() {
                l.push_str(&format!("  [flagged: {}]", s("flagged")));
            }
            l
        }
        "process-exit" => format!(
            "exit        pid {} {}{}",
            n("pid").map(|p| p.to_string()).unwrap_or_default(),
            match (n("exit_code"), n("signal")) {
                (Some(c), _) => format!("code {c}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                (None, None) => "status unknown".to_string(),
            },
            if s("note").is_empty() {
                String::new()
            } else {
                format!("  ({})", s("note"))
            }
        ),
        "tracer" => format!("tracer      {}  {}", s("tracer"), s("note")),
        "dns" => {
            let names: Vec<&str> = r
                .get("names")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut l = format!(
                "dns         {:<10} {} via {}:{}",
                s("action"),
                names.join(","),
                s("host"),
                n("port").unwrap_or(0)
            );
            if !s("reason").is_empty() {
                l.push_str(&format!("  reason: {}", s("reason")));
            }
            l
        }
        "connection" => {
            let dest = match (s("host"), n("port")) {
                ("", _) if !s("path").is_empty() => s("path").to_string(),
                ("", _) => "(no destination)".to_string(),
                (h, Some(p)) => format!("{h}:{p}"),
                (h, None) => h.to_string(),
            };
            let how = if s("method").is_empty() {
                s("call")
            } else {
                s("method")
            };
            let mut l = format!("connection  {:<10} {how} {dest}", s("action"));
            if !s("url").is_empty() {
                l.push_str(&format!(" {}", s("url")));
            }
            if !s("rule").is_empty() {
                l.push_str(&format!("  ({})", s("rule")));
            }
            if !s("reason").is_empty() {
                l.push_str(&format!("  reason: {}", s("reason")));
            }
            l
        }
        "package" => {
            let mut l = format!(
                "package     {:<10} {} {}",
                s("change"),
                s("name"),
                s("version")
            );
            if !s("previous_version").is_empty() {
                l.push_str(&format!(" (was {})", s("previous_version")));
            }
            if !s("sha256").is_empty() {
                l.push_str(&format!("  sha256:{}…", short(s("sha256"))));
            } else if let Some(d) = r
                .get("integrity")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
            {
                let alg = d.get("algorithm").and_then(Value::as_str).unwrap_or("");
                let val = d.get("value").and_then(Value::as_str).unwrap_or("");
                l.push_str(&format!("  {alg}:{}…", short(val)));
            }
            if !s("resolved").is_empty() {
                l.push_str(&format!("  {}", s("resolved")));
            }
            l
        }
        "artifact" => format!(
            "artifact    {} {} {} {} bytes{}",
            s("method"),
            s("url"),
            n("status").unwrap_or(0),
            n("size").unwrap_or(0),
            if s("sha256").is_empty() {
                "  (incomplete)".to_string()
            } else {
                format!("  sha256:{}…", short(s("sha256")))
            }
        ),
        "script" => format!(
            "script      {:<10} {}@{} {}: {}{}",
            s("decision"),
            s("package"),
            s("version"),
            s("script"),
            s("command"),
            match (r.get("ran").and_then(Value::as_bool), n("exit_code")) {
                (Some(true), Some(c)) => format!("  (exit {c})"),
                (Some(true), None) => "  (ran)".into(),
                _ => "  (did not run)".into(),
            }
        ),
        "file-written" => format!(
            "file        {:<10} {}{}",
            s("change"),
            s("path"),
            if s("sha256").is_empty() {
                String::new()
            } else {
                format!("  sha256:{}…", short(s("sha256")))
            }
        ),
        "watch-truncated" => {
            "watch       truncated: the list of files written may be incomplete".into()
        }
        other => format!("{other:<11} {}", r),
    }
}

fn human(e: &Entry) -> String {
    let time = e.str_field("time");
    let time = time.get(..19).unwrap_or(time).replace('T', " ");
    let (exit, dur) = match &e.exit {
        None => ("running?".to_string(), String::new()),
        Some(x) => {
            let code = x.get("exit_code").and_then(Value::as_i64).unwrap_or(-1);
            let exit = match x.get("signal").and_then(Value::as_i64) {
                Some(s) => format!("signal {s}"),
                None => format!("exit {code}"),
            };
            let dur = x
                .get("duration_ms")
                .and_then(Value::as_f64)
                .map(|d| format!("{:.0}ms", d))
                .unwrap_or_default();
            (exit, dur)
        }
    };
    let argv: Vec<&str> = e
        .invocation
        .get("argv")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut line = format!(
        "{time}  {:<7} {:<10} {:<9} {:>7}  {}  id={}",
        e.str_field("tool"),
        e.action(),
        exit,
        dur,
        argv.join(" "),
        e.str_field("invocation_id")
    );
    if e.denied() {
        if let Some(reasons) = e
            .invocation
            .pointer("/decision/reasons")
            .and_then(Value::as_array)
        {
            for r in reasons {
                if let Some(m) = r.get("message").and_then(Value::as_str) {
                    line.push_str(&format!("\n    reason: {m}"));
                }
            }
        }
    }
    line
}

/// When the CI job started: `PKGWARD_JOB_START` (RFC 3339 or Unix seconds,
/// written by the CI integrations when they install pkgward), else GitLab's
/// `CI_JOB_STARTED_AT`.
pub fn job_start(env: &dyn Fn(&str) -> Option<String>) -> Result<jiff::Timestamp> {
    for var in ["PKGWARD_JOB_START", "CI_JOB_STARTED_AT"] {
        let Some(v) = env(var).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let v = v.trim();
        let t = match v.parse::<i64>() {
            Ok(secs) => jiff::Timestamp::from_second(secs).ok(),
            Err(_) => v.parse::<jiff::Timestamp>().ok(),
        };
        return t.ok_or_else(|| {
            Error::Config(format!(
                "--since job: {var} = {v:?} is neither RFC 3339 nor Unix seconds"
            ))
        });
    }
    Err(Error::Config(
        "--since job: the job's start is not known (set PKGWARD_JOB_START, as the pkgward CI \
         integrations do, or use a duration such as --since 2h)"
            .into(),
    ))
}

/// A Markdown summary of `entries` for a CI step summary: totals per tool,
/// then every denial (or would-deny) with its reasons.
pub fn markdown_summary(entries: &[Entry]) -> String {
    use std::collections::BTreeMap;
    let mut per_tool: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for e in entries {
        let row = per_tool.entry(e.str_field("tool")).or_default();
        row[0] += 1;
        match e.action() {
            "deny" => row[2] += 1,
            "would-deny" => row[3] += 1,
            _ => row[1] += 1,
        }
        // A denial after the tool ran (a listed package the install resolved).
        if e.action() != "deny"
            && e.exit
                .as_ref()
                .and_then(|x| x.get("findings"))
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty())
        {
            row[2] += 1;
            row[1] = row[1].saturating_sub(1);
        }
    }
    let mut m = String::from("## pkgward\n\n");
    if entries.is_empty() {
        m.push_str("No package-manager invocations went through pkgward in this period.\n");
        return m;
    }
    let denied: usize = per_tool.values().map(|r| r[2]).sum();
    let would: usize = per_tool.values().map(|r| r[3]).sum();
    m.push_str(&format!(
        "{} invocation(s); {} denied; {} would have been denied (audit mode).\n\n",
        entries.len(),
        denied,
        would
    ));
    m.push_str(
        "| tool | invocations | allowed | denied | would deny |\n|---|---:|---:|---:|---:|\n",
    );
    for (tool, r) in &per_tool {
        m.push_str(&format!(
            "| {tool} | {} | {} | {} | {} |\n",
            r[0], r[1], r[2], r[3]
        ));
    }
    let flagged: Vec<&Entry> = entries
        .iter()
        .filter(|e| {
            e.denied()
                || e.exit
                    .as_ref()
                    .and_then(|x| x.get("findings"))
                    .and_then(Value::as_array)
                    .is_some_and(|f| !f.is_empty())
        })
        .collect();
    if !flagged.is_empty() {
        m.push_str("\n### Denied\n\n");
        for e in flagged {
            let argv: Vec<&str> = e
                .invocation
                .get("argv")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            m.push_str(&format!(
                "- `{}` — {} ({})\n",
                md_code(&argv.join(" ")),
                e.action(),
                e.str_field("time")
            ));
            let reasons = e
                .invocation
                .pointer("/decision/reasons")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .chain(
                    e.exit
                        .as_ref()
                        .and_then(|x| x.get("findings"))
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten(),
                );
            for r in reasons {
                if let Some(msg) = r.get("message").and_then(Value::as_str) {
                    m.push_str(&format!("  - {}\n", md_text(msg)));
                }
            }
        }
    }
    m
}

/// Text inside a Markdown code span: backticks would end it.
fn md_code(s: &str) -> String {
    s.replace('`', "'").replace(['\n', '\r'], " ")
}

/// Plain text in a Markdown list item: no HTML, no line breaks.
fn md_text(s: &str) -> String {
    s.replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tool: &str, action: &str, findings: bool) -> Entry {
        Entry {
            invocation: serde_json::json!({
                "tool": tool, "time": "2026-11-26T10:00:00Z", "argv": [tool, "install", "x`y"],
                "decision": {"action": action, "reasons": if action == "allow" { serde_json::json!([]) } else { serde_json::json!([{"message": "npm package <x> is listed"}]) }}
            }),
            exit: Some(if findings {
                serde_json::json!({"findings": [{"message": "resolved y"}]})
            } else {
                serde_json::json!({})
            }),
        }
    }

    #[test]
    fn summary_counts_and_lists_denials() {
        let m = markdown_summary(&[
            entry("npm", "allow", false),
            entry("npm", "deny", false),
            entry("pip", "would-deny", false),
            entry("npm", "allow", true),
        ]);
        assert!(
            m.contains("4 invocation(s); 2 denied; 1 would have been denied"),
            "{m}"
        );
        assert!(m.contains("| npm | 3 | 1 | 2 | 0 |"), "{m}");
        assert!(m.contains("| pip | 1 | 0 | 0 | 1 |"), "{m}");
        assert!(m.contains("- `npm install x'y` — deny"), "{m}");
        assert!(m.contains("  - npm package &lt;x&gt; is listed"), "{m}");
        assert!(m.contains("  - resolved y"), "{m}");
        assert!(markdown_summary(&[]).contains("No package-manager invocations"));
    }

    #[test]
    fn job_start_sources() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let t = job_start(&env(&[("PKGWARD_JOB_START", "1700000000")])).unwrap();
        assert_eq!(t.as_second(), 1_700_000_000);
        let t = job_start(&env(&[("CI_JOB_STARTED_AT", "2026-11-26T10:00:00Z")])).unwrap();
        assert_eq!(t.to_string(), "2026-11-26T10:00:00Z");
        assert!(job_start(&env(&[("PKGWARD_JOB_START", "yesterday")])).is_err());
        assert!(job_start(&env(&[])).is_err());
    }
}
