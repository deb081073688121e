//! pipenv (checked against pipenv 2026.10.3 and the pip 26.2 it vendors):
//! building an sdist runs its build code — while locking (pipenv's resolver
//! subprocess drives its vendored pip, which builds an sdist to read its
//! metadata) and while installing (pip, started by pipenv with
//! `--require-hashes` lines from `Pipfile.lock`). Under `scripts.default =
//! "deny"` in enforce mode only wheels are used, except for the sdists the
//! policy approves, which pip builds *inside* pipenv's run (a wheel pkgward
//! built itself would not match the locked hashes).
//!
//! How pipenv's pips get their format settings, and what pkgward sets:
//!
//! * The resolver (`pipenv lock`, and the lock step of `install`, `update`,
//!   `upgrade`, `uninstall`) parses pip options from pip's configuration
//!   files and `PIP_*` variables (`--extra-pip-args` does not reach it for
//!   `pipenv lock`). pip applies config-file sections first (`[global]`,
//!   then the command's), then the environment, each key's callback in
//!   order; `--only-binary :all:` clears `--no-binary`, and the order of two
//!   variables in the environment is not something pkgward controls (a
//!   launcher script may reorder it). So without approvals pkgward sets
//!   `PIP_ONLY_BINARY=:all:` (the environment comes last: it beats any
//!   config file); with PyPI approvals in the policy it sets
//!   `PIP_CONFIG_FILE` to a per-invocation file whose `[global]` and
//!   command sections say `only-binary = :all:` then `no-binary = APPROVED`
//!   (or `:none:`), and blanks `PIP_ONLY_BINARY` / `PIP_NO_BINARY` (pip
//!   drops empty values). Every pip config file pip still loads (global,
//!   site) gets its format keys replaced by that file's, which pip loads
//!   last. pip no longer loads the user's own file then (nor the one the
//!   user's `PIP_CONFIG_FILE` names): its settings are copied into
//!   pkgward's file, format keys left out ([`user_pip_config`],
//!   [`config_text`]).
//! * The installing pip runs with `PIP_CONFIG_FILE=/dev/null` (pipenv's),
//!   its command line built from `--extra-pip-args`, then pipenv's own `-r`
//!   file. pkgward appends `--extra-pip-args="<the user's> -r FILE"` (the
//!   last value wins) whose FILE says `--only-binary :all:` (and
//!   `--no-binary APPROVED`): requirement-file options apply after the
//!   command line, so a `--no-binary` pipenv adds for a Pipfile or lock
//!   entry marked `no_binary` is cleared again.
//! * `--resolver=pip` (and `--backend=pip` for `lock`) and
//!   `PIPENV_RESOLVER=pip`: pipenv's "pure-python" resolver builds sdists
//!   itself, whatever pip's settings say.
//!
//! Refused before pipenv runs ([`violations`]): any other spelling of
//! `PIP_NO_BINARY`/`PIP_ONLY_BINARY` in the environment (pipenv also turns
//! `PIP_NO_BINARY` into a `--no-binary` on pip's command line), the same
//! and pip's config file, uv's build switches or the resolver set in the
//! project's `.env` (pipenv loads it over its environment), format or
//! requirement-file options in `--extra-pip-args`/`PIPENV_EXTRA_PIP_ARGS`,
//! a resolver other than pip, what pip builds from source whatever it is
//! told (VCS references and sdist archives by URL or path: pip's
//! `--only-binary` covers index packages only) unless approved for every
//! version, Pipfile/lock entries marked `no_binary` for
//! packages the policy does not approve, values spanning lines and source
//! URLs with whitespace (pipenv writes both into the resolver's requirement
//! file, where they would become option lines), and — with approvals, when
//! the environment no longer says wheels only — a Pipfile `[build-system]`
//! (pipenv installs it with a pip that reads neither).
//!
//! Before pipenv runs ([`before`]), a wheels-only `pip install --dry-run`
//! (output captured, no package code runs) names the packages only an sdist
//! provides: the locked pins where pipenv installs from the lock without
//! locking again (`sync`; `install` without packages when the lock is
//! current — pipenv's hash of the Pipfile, reproduced by [`pipfile_hash`] —
//! or with `--deploy`/`--ignore-pipfile`/`--system`), else the Pipfile's
//! requirements (resolving). Each is decided: a denial stops the invocation
//! (exit 77, a `script` record, the `pkgward approve pypi:NAME@VERSION`
//! command). Versions: a range approval counts only where the version that
//! builds is fixed — the locked one, or an exact `==` pin; pipenv's resolver
//! may otherwise build any version it considers, so only an approval of
//! every version counts. The approved builds run inside pipenv's run,
//! which is then confined as a whole, as install-time code
//! ([`super::python::confine`]); they are recorded after the run, with the
//! layers that were in force ([`after`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::policy::Policy;
use crate::record::{AuditLog, Reason};
use crate::tools::Ecosystem;

use super::{ScriptDecision, ScriptRecord, Setup};

/// pipenv's subcommands that lock or install (each takes
/// `--extra-pip-args` and `--resolver`).
pub const SUBS: [&str; 6] = ["install", "sync", "lock", "update", "upgrade", "uninstall"];

/// The main parser's options that take a value.
const GLOBAL_VALUE: [&str; 2] = ["--python", "--pypi-mirror"];

/// The subcommands' long options (argparse accepts any unique prefix):
/// (option, takes a value).
const LONG: [(&str, bool); 30] = [
    ("--python", true),
    ("--pypi-mirror", true),
    ("--extra-pip-args", true),
    ("--categories", true),
    ("--extras", true),
    ("--index", true),
    ("--requirements", true),
    ("--editable", true),
    ("--config-settings", true),
    ("--resolver", true),
    ("--backend", true),
    ("--dev", false),
    ("--dev-only", false),
    ("--system", false),
    ("--deploy", false),
    ("--ignore-pipfile", false),
    ("--skip-lock", false),
    ("--pre", false),
    ("--all-categories", false),
    ("--lock-only", false),
    ("--site-packages", false),
    ("--no-site-packages", false),
    ("--verbose", false),
    ("--quiet", false),
    ("--clear", false),
    ("--help", false),
    ("--bare", false),
    ("--clean", false),
    ("--all", false),
    ("--all-dev", false),
];

/// Short options that take a value.
const SHORT_VALUE: [&str; 3] = ["-i", "-r", "-e"];

/// A pipenv command line, as far as pkgward needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cli {
    /// One of [`SUBS`].
    pub sub: &'static str,
    /// Package specifications named after the subcommand.
    pub packages: Vec<String>,
    pub dev: bool,
    /// `--categories` (space or comma separated).
    pub categories: Vec<String>,
    pub deploy: bool,
    pub ignore_pipfile: bool,
    pub skip_lock: bool,
    pub system: bool,
    pub pre: bool,
    /// The last `--extra-pip-args` value.
    pub extra_pip_args: Option<String>,
    /// `--resolver` / `--backend` values.
    pub resolvers: Vec<String>,
    /// `-i` / `--index` values.
    pub indexes: Vec<String>,
    /// The last `--pypi-mirror` value.
    pub pypi_mirror: Option<String>,
    /// `-e` / `--editable` values.
    pub editables: Vec<String>,
}

/// The full name of a long option given as `a` (argparse's unique-prefix
/// abbreviations included), with whether it takes a value.
fn long_option(a: &str) -> Option<(&'static str, bool)> {
    if let Some(hit) = LONG.iter().find(|(o, _)| *o == a) {
        return Some(*hit);
    }
    if a.len() < 4 {
        return None;
    }
    let mut hits = LONG.iter().filter(|(o, _)| o.starts_with(a));
    match (hits.next(), hits.next()) {
        (Some(hit), None) => Some(*hit),
        _ => None,
    }
}

/// Parses a pipenv command line; `None` when its subcommand is not one of
/// [`SUBS`].
pub fn parse_cli(args: &[String]) -> Option<Cli> {
    let mut i = 0;
    let mut sub = None;
    let mut cli = Cli::default();
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            return None;
        }
        if let Some(v) = a.strip_prefix("--pypi-mirror=") {
            cli.pypi_mirror = Some(v.to_string());
            continue;
        }
        if GLOBAL_VALUE.contains(&a) {
            if a == "--pypi-mirror" {
                cli.pypi_mirror = args.get(i).cloned();
            }
            i += 1;
            continue;
        }
        if a.starts_with('-') {
            continue;
        }
        sub = SUBS.iter().copied().find(|s| *s == a);
        break;
    }
    cli.sub = sub?;
    let mut positional_only = false;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if positional_only || !a.starts_with('-') || a == "-" {
            cli.packages.push(a.to_string());
            continue;
        }
        if a == "--" {
            positional_only = true;
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((k, v)) if a.starts_with("--") => (k, Some(v.to_string())),
            _ => (a, None),
        };
        let (full, value) = if name.starts_with("--") {
            match long_option(name) {
                Some((f, takes)) => (f, takes),
                None => continue,
            }
        } else if SHORT_VALUE.contains(&name) {
            (name, true)
        } else if let Some(v) = SHORT_VALUE
            .iter()
            .find(|s| name.starts_with(**s) && name.len() > 2)
        {
            // `-iURL`.
            let rest = name[v.len()..].to_string();
            record_value(&mut cli, v, rest);
            continue;
        } else {
            if name == "-d" {
                cli.dev = true;
            }
            continue;
        };
        if !value {
            match full {
                "--dev" => cli.dev = true,
                "--deploy" => cli.deploy = true,
                "--ignore-pipfile" => cli.ignore_pipfile = true,
                "--skip-lock" => cli.skip_lock = true,
                "--system" => cli.system = true,
                "--pre" => cli.pre = true,
                _ => {}
            }
            continue;
        }
        let v = match inline {
            Some(v) => v,
            None => {
                let Some(v) = args.get(i) else { break };
                i += 1;
                v.clone()
            }
        };
        record_value(&mut cli, full, v);
    }
    Some(cli)
}

fn record_value(cli: &mut Cli, opt: &str, v: String) {
    match opt {
        "--extra-pip-args" => cli.extra_pip_args = Some(v),
        "--categories" => cli.categories.extend(
            v.split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        ),
        "--resolver" | "--backend" => cli.resolvers.push(v),
        "-i" | "--index" => cli.indexes.push(v),
        "--pypi-mirror" => cli.pypi_mirror = Some(v),
        "-e" | "--editable" => cli.editables.push(v),
        _ => {}
    }
}

/// `packaging`'s `canonicalize_name`: runs of `-`, `_`, `.` as one `-`,
/// lower case.
fn canonicalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !run {
                out.push('-');
            }
            run = true;
        } else {
            run = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Python's `json.dumps(v, sort_keys=True, separators=(",", ":"))` of a
/// TOML value (ASCII only, as Python escapes); `None` for floats and dates,
/// whose Python spelling is not reproduced.
fn py_json(v: &toml::Value, out: &mut String) -> Option<()> {
    match v {
        toml::Value::String(s) => py_json_str(s, out),
        toml::Value::Integer(i) => out.push_str(&i.to_string()),
        toml::Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        toml::Value::Float(_) | toml::Value::Datetime(_) => return None,
        toml::Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                py_json(x, out)?;
            }
            out.push(']');
        }
        toml::Value::Table(t) => {
            let mut keys: Vec<&String> = t.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                py_json_str(k, out);
                out.push(':');
                py_json(&t[k.as_str()], out)?;
            }
            out.push('}');
        }
    }
    Some(())
}

fn py_json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// The hash pipenv keeps in `Pipfile.lock` (`_meta.hash.sha256`) for this
/// Pipfile (pipenv's `Pipfile.calculate_hash`); `None` where pkgward does
/// not reproduce it (no `[[source]]`, floats, dates, names that collide).
pub fn pipfile_hash(text: &str) -> Option<String> {
    use sha2::Digest;
    let doc: toml::Table = text.parse().ok()?;
    let source = doc.get("source")?.clone();
    let norm = |v: Option<&toml::Value>| -> Option<toml::Value> {
        let Some(v) = v else {
            return Some(toml::Value::Table(toml::Table::new()));
        };
        let t = v.as_table()?;
        let mut out = toml::Table::new();
        for (k, x) in t {
            if out.insert(canonicalize(k), x.clone()).is_some() {
                return None;
            }
        }
        Some(toml::Value::Table(out))
    };
    let mut meta = toml::Table::new();
    meta.insert("sources".into(), source);
    meta.insert(
        "requires".into(),
        doc.get("requires")
            .cloned()
            .unwrap_or_else(|| toml::Value::Table(toml::Table::new())),
    );
    let mut data = toml::Table::new();
    data.insert("_meta".into(), toml::Value::Table(meta));
    data.insert("default".into(), norm(doc.get("packages"))?);
    data.insert("develop".into(), norm(doc.get("dev-packages"))?);
    const SKIP: [&str; 9] = [
        "source",
        "packages",
        "dev-packages",
        "requires",
        "scripts",
        "pipfile",
        "pipenv",
        "default",
        "develop",
    ];
    for (k, v) in &doc {
        if !SKIP.contains(&k.as_str()) {
            data.insert(k.clone(), norm(Some(v))?);
        }
    }
    let mut json = String::new();
    py_json(&toml::Value::Table(data), &mut json)?;
    let digest = sha2::Sha256::digest(json.as_bytes());
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `Pipfile.lock` was made from this Pipfile as it is now (so
/// `pipenv install` installs from it instead of locking again).
pub fn lock_is_current(pipfile: &str, lock: &str) -> bool {
    let Some(h) = pipfile_hash(pipfile) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(lock)
        .ok()
        .and_then(|l| {
            l.pointer("/_meta/hash/sha256")
                .and_then(|v| v.as_str())
                .map(|v| v == h)
        })
        .unwrap_or(false)
}

/// What pkgward carries from [`setup`] to [`before`] and [`after`].
#[derive(Clone, Debug)]
pub struct Plan {
    pub cli: Cli,
    pub cwd: PathBuf,
    /// With PyPI approvals: the per-invocation directory holding pip's
    /// config file and the requirement file (`-r`), rewritten by [`before`]
    /// to let the approved sdists build; removed by [`after`].
    pub dir: Option<PathBuf>,
    state: Arc<Mutex<State>>,
    /// Whether pipenv's run is confined ([`super::python::confine`]), and
    /// what confined it.
    pub confine: super::python::confine::ToolRun,
    /// The user's own pip config texts ([`user_pip_config`]), kept in
    /// pkgward's config file.
    pub pip_user: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    /// The approved builds that run inside pipenv's run, recorded after it.
    pending: Vec<ScriptRecord>,
    started: Option<std::time::Instant>,
}

/// Whether the policy has any PyPI approval.
fn has_approvals(policy: &Policy) -> bool {
    policy
        .allow_entries()
        .any(|(e, _)| e.ecosystem == Ecosystem::Pypi)
}

/// pip's config file: the user's own settings ([`user_pip_config`], which
/// pip no longer loads once `PIP_CONFIG_FILE` names this file), without
/// their format keys, then `only-binary = :all:` and `no-binary = NAMES`
/// (or `:none:`, which clears any other file's) in `[global]` and in every
/// command section pipenv's pips run under. One section per name and one
/// key per section (pip's parser refuses duplicates); of the user's files,
/// the later one's key wins, as in pip.
pub fn config_text(user: &[String], no_binary: &[String]) -> String {
    let nb = if no_binary.is_empty() {
        ":none:".to_string()
    } else {
        no_binary.join(",")
    };
    // (section, [(normalized key, its lines)])
    type Section = (String, Vec<(String, Vec<String>)>);
    let mut sections: Vec<Section> = Vec::new();
    for text in user {
        let mut current: Option<usize> = None;
        let mut key: Option<usize> = None;
        for line in text.lines() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
                key = None;
                continue;
            }
            if line.starts_with([' ', '\t']) {
                // A value's continuation line.
                if let (Some(c), Some(k)) = (current, key) {
                    sections[c].1[k].1.push(line.to_string());
                }
                continue;
            }
            if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                let name = name.trim().to_string();
                current = Some(match sections.iter().position(|(n, _)| *n == name) {
                    Some(i) => i,
                    None => {
                        sections.push((name, Vec::new()));
                        sections.len() - 1
                    }
                });
                key = None;
                continue;
            }
            let (Some(c), Some(at)) = (current, t.find(['=', ':'])) else {
                key = None;
                continue;
            };
            let k = t[..at].trim().to_ascii_lowercase().replace('_', "-");
            let keys = &mut sections[c].1;
            keys.retain(|(n, _)| *n != k);
            keys.push((k, vec![line.to_string()]));
            key = Some(keys.len() - 1);
        }
    }
    for (_, keys) in sections.iter_mut() {
        keys.retain(|(k, _)| !matches!(k.as_str(), "only-binary" | "no-binary"));
    }
    for name in ["global", "install", "download", "wheel", "lock"] {
        if !sections.iter().any(|(n, _)| n == name) {
            sections.push((name.to_string(), Vec::new()));
        }
    }
    let mut out = String::new();
    for (name, keys) in &sections {
        out.push_str(&format!("[{name}]\n"));
        for (_, lines) in keys {
            for l in lines {
                out.push_str(l);
                out.push('\n');
            }
        }
        if matches!(
            name.as_str(),
            "global" | "install" | "download" | "wheel" | "lock"
        ) {
            out.push_str(&format!("only-binary = :all:\nno-binary = {nb}\n"));
        }
    }
    out
}

/// The user's pip configuration that pip would load but stops loading
/// when pkgward sets `PIP_CONFIG_FILE`: the file the user's own
/// `PIP_CONFIG_FILE` names, when it exists (nothing for `/dev/null`, with
/// which pip loads no file), else pip's user files — `~/.pip/pip.conf`,
/// then `$XDG_CONFIG_HOME/pip/pip.conf` (`~/.config/pip/pip.conf`); on
/// Windows `%APPDATA%\pip\pip.ini`. Texts in pip's loading order.
pub fn user_pip_config(env: &dyn Fn(&str) -> Option<String>, home: Option<&Path>) -> Vec<String> {
    let read = |p: &Path| read_small(p);
    if let Some(f) = env("PIP_CONFIG_FILE").filter(|v| !v.is_empty()) {
        if f == "/dev/null" || f.eq_ignore_ascii_case("nul") {
            return Vec::new();
        }
        if Path::new(&f).is_file() {
            return read(Path::new(&f)).into_iter().collect();
        }
    }
    let mut files: Vec<PathBuf> = Vec::new();
    if cfg!(windows) {
        files.extend(home.map(|h| h.join("pip").join("pip.ini")));
        files.extend(env("APPDATA").map(|a| Path::new(&a).join("pip").join("pip.ini")));
    } else {
        files.extend(home.map(|h| h.join(".pip/pip.conf")));
        let xdg = env("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home.map(|h| h.join(".config")));
        files.extend(xdg.map(|x| x.join("pip/pip.conf")));
    }
    files.iter().filter_map(|f| read(f)).collect()
}

/// The requirement file given to pipenv's installing pip: `--only-binary
/// :all:` then `--no-binary NAMES`.
pub fn requirements_text(no_binary: &[String]) -> String {
    let mut out = "--only-binary :all:\n".to_string();
    if !no_binary.is_empty() {
        out.push_str(&format!("--no-binary {}\n", no_binary.join(",")));
    }
    out
}

/// The `--extra-pip-args` value pkgward gives pipenv: the user's, then
/// `-r FILE` (or `--only-binary=:all:` without a file).
pub fn merged_extra(user: Option<&str>, file: Option<&Path>) -> String {
    let mut parts: Vec<String> = user
        .map(|u| u.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    match file {
        Some(f) => {
            parts.push("-r".into());
            parts.push(f.to_string_lossy().into_owned());
        }
        None => parts.push("--only-binary=:all:".into()),
    }
    parts.join(" ")
}

/// A directory for pkgward's files whose path has no whitespace (pipenv
/// splits `--extra-pip-args` on it).
fn files_dir() -> Option<PathBuf> {
    let ok = |p: &Path| !p.to_string_lossy().chars().any(char::is_whitespace);
    let state = crate::paths::state_dir().map(|d| d.join("scripts"));
    state
        .into_iter()
        .chain(std::iter::once(std::env::temp_dir()))
        .find(|d| ok(d) && std::fs::create_dir_all(d).is_ok())
}

/// Removes per-invocation directories older than a day (left by an
/// invocation that was denied before pipenv ran, or killed).
fn sweep(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    let day = std::time::Duration::from_secs(24 * 3600);
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > day);
        if old
            && e.file_name()
                .to_string_lossy()
                .starts_with("pkgward-pipenv-")
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The requirement file without approvals (written once, shared).
fn static_requirements(dir: &Path) -> Option<PathBuf> {
    let text = requirements_text(&[]);
    let file = dir.join("pipenv-only-binary.txt");
    if std::fs::read_to_string(&file).ok().as_deref() == Some(text.as_str()) {
        return Some(file);
    }
    let tmp = dir.join(format!("pipenv-only-binary.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &text).ok()?;
    std::fs::rename(&tmp, &file).ok()?;
    Some(file)
}

/// How pipenv is started under wheels-only (see the module docs).
pub(super) fn setup(args: &[String], policy: &Policy) -> Option<Setup> {
    let cli = parse_cli(args)?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let user_extra = cli
        .extra_pip_args
        .clone()
        .or_else(|| std::env::var("PIPENV_EXTRA_PIP_ARGS").ok())
        .filter(|v| !v.trim().is_empty());
    let base = files_dir();
    // The user's pip settings, which pip no longer reads once pkgward's
    // file is its `PIP_CONFIG_FILE`.
    let pip_user = if has_approvals(policy) {
        user_pip_config(&|k| std::env::var(k).ok(), dirs::home_dir().as_deref())
    } else {
        Vec::new()
    };
    let mut env: Vec<(String, String)> = vec![
        ("UV_NO_BUILD".into(), "1".into()),
        ("PIPENV_RESOLVER".into(), "pip".into()),
    ];
    let mut dir = None;
    let file = match &base {
        Some(b) if has_approvals(policy) => {
            sweep(b);
            let d = tempfile::Builder::new()
                .prefix("pkgward-pipenv-")
                .tempdir_in(b)
                .ok()
                .map(tempfile::TempDir::keep);
            let written = d.as_ref().is_some_and(|d| {
                std::fs::write(d.join("pip.conf"), config_text(&pip_user, &[])).is_ok()
                    && std::fs::write(d.join("only-binary.txt"), requirements_text(&[])).is_ok()
            });
            match d {
                Some(d) if written => {
                    env.push((
                        "PIP_CONFIG_FILE".into(),
                        d.join("pip.conf").to_string_lossy().into_owned(),
                    ));
                    env.push(("PIP_ONLY_BINARY".into(), String::new()));
                    env.push(("PIP_NO_BINARY".into(), String::new()));
                    let f = d.join("only-binary.txt");
                    dir = Some(d);
                    Some(f)
                }
                other => {
                    if let Some(d) = other {
                        let _ = std::fs::remove_dir_all(d);
                    }
                    None
                }
            }
        }
        Some(b) => static_requirements(b),
        None => None,
    };
    if dir.is_none() {
        env.push(("PIP_ONLY_BINARY".into(), ":all:".into()));
    }
    let mut insert_args = vec![
        format!(
            "--extra-pip-args={}",
            merged_extra(user_extra.as_deref(), file.as_deref())
        ),
        "--resolver=pip".to_string(),
    ];
    if cli.sub == "lock" {
        insert_args.push("--backend=pip".into());
    }
    Some(Setup {
        env,
        insert_args,
        insert_at: args.iter().position(|a| a == "--").unwrap_or(args.len()),
        after: None,
        disables_builds: true,
        python: None,
        build: Some(super::Build::Pipenv(Plan {
            cli,
            cwd,
            dir,
            state: Arc::default(),
            confine: Default::default(),
            pip_user,
        })),
        in_tool: false,
        broker: None,
    })
}

// ---------------------------------------------------------------------------
// What is refused before pipenv runs.

/// Problems with a `--extra-pip-args` value: options that change pip's
/// formats or read requirement files (which can).
pub fn extra_args_problems(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    for t in value.split_whitespace() {
        let k = t.split('=').next().unwrap_or(t);
        let bad = k.starts_with("--no-bin")
            || k.starts_with("--only-bin")
            || k == "--isolated"
            || matches!(k, "--requirement" | "--constraint")
            || (k.starts_with("-r") && !k.starts_with("--"))
            || (k.starts_with("-c") && !k.starts_with("--"));
        if bad {
            out.push(t.to_string());
        }
    }
    out
}

/// Environment variables pip reads as `--no-binary` / `--only-binary`
/// (pip takes any `PIP_` name, lower-cases the rest and reads `_` as `-`),
/// other than the `PIP_ONLY_BINARY` pkgward sets itself.
pub fn env_problems(vars: &[(String, String)]) -> Vec<String> {
    vars.iter()
        .filter(|(k, v)| {
            let Some(rest) = k.strip_prefix("PIP_") else {
                return false;
            };
            let n = rest.to_ascii_lowercase().replace('-', "_");
            !v.trim().is_empty()
                && matches!(n.as_str(), "no_binary" | "only_binary")
                && k != "PIP_ONLY_BINARY"
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// The variables of a `.env` file (pipenv loads the project's into its own
/// environment, over what is already set, before it starts pip) that would
/// undo wheels-only: pip's format settings and config file (any value: an
/// empty `PIP_CONFIG_FILE` drops pkgward's), uv's build switches, pipenv's
/// resolver choice.
pub fn dotenv_problems(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim_start();
        let l = l.strip_prefix("export ").unwrap_or(l).trim_start();
        let Some((k, _)) = l.split_once('=') else {
            continue;
        };
        let k = k.trim().trim_matches(['"', '\'']);
        let upper = k.to_ascii_uppercase();
        let pip = upper
            .strip_prefix("PIP_")
            .map(|r| r.replace('-', "_"))
            .is_some_and(|r| matches!(r.as_str(), "NO_BINARY" | "ONLY_BINARY" | "CONFIG_FILE"));
        let uv = upper.starts_with("UV_NO_BUILD")
            || upper.starts_with("UV_NO_BINARY")
            || upper == "UV_CONFIG_FILE";
        if pip || uv || upper == "PIPENV_RESOLVER" {
            out.push(k.to_string());
        }
    }
    out
}

/// Every string (keys included) of a JSON document (or a TOML one,
/// converted) that spans lines.
fn multiline_json(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) if s.contains(['\n', '\r']) => out.push(path.to_string()),
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                multiline_json(x, &format!("{path}[{i}]"), out);
            }
        }
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if k.contains(['\n', '\r']) {
                    out.push(p.clone());
                }
                multiline_json(x, &p, out);
            }
        }
        _ => {}
    }
}

/// Sections of a Pipfile that are not package categories.
const NOT_CATEGORIES: [&str; 6] = [
    "source",
    "requires",
    "pipenv",
    "scripts",
    "build-system",
    "dev-packages-meta",
];

/// What a Pipfile does that would let an unapproved sdist build (`approved`
/// says whether the policy approves a package name, any version;
/// `approvals`: whether pkgward runs pipenv with PyPI approvals).
pub fn pipfile_problems(
    text: &str,
    approved: &dyn Fn(&str) -> bool,
    approvals: bool,
) -> Vec<String> {
    let Ok(doc) = text.parse::<toml::Table>() else {
        // pipenv refuses an invalid Pipfile itself.
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut lines = Vec::new();
    if let Ok(v) = serde_json::to_value(&doc) {
        multiline_json(&v, "", &mut lines);
    }
    for p in lines {
        out.push(format!(
            "`{p}` spans lines: pipenv writes it into pip's requirement file, where a line \
             of its own is a pip option"
        ));
    }
    if let Some(srcs) = doc.get("source").and_then(|s| s.as_array()) {
        for s in srcs {
            if let Some(u) = s.get("url").and_then(|u| u.as_str()) {
                if u.trim().chars().any(char::is_whitespace) {
                    out.push(format!(
                        "the source URL `{u}` contains whitespace: pipenv writes it into pip's \
                         requirement file, where the rest would be read as pip options"
                    ));
                }
            }
        }
    }
    if let Some(p) = doc.get("pipenv").and_then(|p| p.as_table()) {
        for key in ["resolver", "resolver_backend"] {
            if let Some(v) = p.get(key).and_then(|v| v.as_str()) {
                if v.trim() != "pip" && !v.trim().is_empty() {
                    out.push(format!(
                        "[pipenv] {key} = \"{v}\": that resolver builds sdists itself, whatever \
                         pip's wheels-only settings say"
                    ));
                }
            }
        }
    }
    if approvals {
        let requires = doc
            .get("build-system")
            .and_then(|b| b.get("requires"))
            .and_then(|r| r.as_array())
            .is_some_and(|r| !r.is_empty());
        if requires {
            out.push(
                "[build-system] requires: pipenv installs it with a pip that reads neither \
                 pkgward's command line nor its config file, and with PyPI approvals the \
                 environment cannot say \"wheels only\" to it"
                    .into(),
            );
        }
    }
    for (cat, v) in &doc {
        if NOT_CATEGORIES.contains(&cat.as_str()) {
            continue;
        }
        let Some(t) = v.as_table() else { continue };
        for (name, entry) in t {
            let nb = entry
                .get("no_binary")
                .is_some_and(|v| v.as_bool() != Some(false));
            if nb && !approved(name) {
                out.push(format!(
                    "[{cat}] {name} is marked no_binary: pipenv passes pip `--no-binary {name}`, \
                     a build from source"
                ));
            }
        }
    }
    out
}

/// The Pipfile's entries pip builds from source ([`built_from_source`]):
/// (name, what).
pub fn pipfile_entries(text: &str) -> Vec<(String, String, bool)> {
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (cat, v) in &doc {
        if NOT_CATEGORIES.contains(&cat.as_str()) {
            continue;
        }
        let Some(t) = v.as_table() else { continue };
        for (name, e) in t {
            let Some(e) = e.as_table() else { continue };
            let get = |k: &str| e.get(k).and_then(|v| v.as_str()).map(str::to_string);
            if let Some((what, local)) = built_from_source(&get) {
                out.push((name.clone(), what, local));
            }
        }
    }
    out
}

/// The same for a `Pipfile.lock`.
pub fn lock_entries(text: &str) -> Vec<(String, String, bool)> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (cat, v) in doc.as_object().into_iter().flatten() {
        if cat == "_meta" {
            continue;
        }
        for (name, e) in v.as_object().into_iter().flatten() {
            let get = |k: &str| e.get(k).and_then(|v| v.as_str()).map(str::to_string);
            if let Some((what, local)) = built_from_source(&get) {
                out.push((name.clone(), what, local));
            }
        }
    }
    out
}

/// What a `Pipfile.lock` does that would let an unapproved sdist build.
pub fn lock_problems(text: &str, approved: &dyn Fn(&str) -> bool) -> Vec<String> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut lines = Vec::new();
    multiline_json(&doc, "", &mut lines);
    for p in lines {
        out.push(format!(
            "Pipfile.lock `{p}` spans lines: pipenv writes it into pip's requirement file, \
             where a line of its own is a pip option"
        ));
    }
    if let Some(srcs) = doc.pointer("/_meta/sources").and_then(|s| s.as_array()) {
        for s in srcs {
            if let Some(u) = s.get("url").and_then(|u| u.as_str()) {
                if u.trim().chars().any(char::is_whitespace) {
                    out.push(format!(
                        "the Pipfile.lock source URL `{u}` contains whitespace, which pip would \
                         read as options"
                    ));
                }
            }
        }
    }
    if let Some(o) = doc.as_object() {
        for (cat, v) in o {
            if cat == "_meta" {
                continue;
            }
            let Some(t) = v.as_object() else { continue };
            for (name, entry) in t {
                let nb = entry
                    .get("no_binary")
                    .is_some_and(|v| v.as_bool() != Some(false));
                if nb && !approved(name) {
                    out.push(format!(
                        "Pipfile.lock [{cat}] {name} is marked no_binary: pipenv passes pip \
                         `--no-binary {name}`, a build from source"
                    ));
                }
            }
        }
    }
    out
}

/// Archive names pip builds from source (sdists).
const SDIST_EXT: [&str; 7] = [
    ".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tbz", ".tar.xz", ".tar",
];

fn is_sdist_name(s: &str) -> bool {
    let l = s
        .split(['#', '?'])
        .next()
        .unwrap_or(s)
        .trim()
        .to_ascii_lowercase();
    SDIST_EXT.iter().any(|e| l.ends_with(e))
}

/// What pip builds from source whatever its format settings say (its
/// `--only-binary` applies to index packages only): a VCS checkout, or an
/// sdist archive named by URL or path. `get` reads a key of a Pipfile or
/// lock entry. `None`: an index package, a wheel, or a local directory
/// (the project's own code). With what it is, whether it is on the local
/// disk (a `path`, a `file` that is a path or `file:` URL: the project's
/// own code, approved only by `pypi:NAME@local`).
pub fn built_from_source(get: &dyn Fn(&str) -> Option<String>) -> Option<(String, bool)> {
    for vcs in ["git", "hg", "svn", "bzr"] {
        if let Some(u) = get(vcs) {
            return Some((format!("a {vcs} checkout ({u})"), false));
        }
    }
    if let Some(f) = get("file") {
        if !f.trim().to_ascii_lowercase().ends_with(".whl") {
            return Some((format!("the archive {f}"), is_local_target(&f)));
        }
    }
    if let Some(p) = get("path") {
        if is_sdist_name(&p) {
            return Some((format!("the archive {p}"), true));
        }
    }
    None
}

/// A package named on pipenv's command line (or `-e`) that pip would build
/// from source: a URL (not a wheel), a VCS reference, an sdist archive.
/// Returns (the name when given as `NAME @ URL` / `#egg=NAME`, what it is).
pub fn cli_source_build(spec: &str) -> Option<(Option<String>, String)> {
    let s = spec.trim();
    let (name, target) = match s
        .split_once(" @ ")
        .or_else(|| s.split_once('@').filter(|(n, _)| valid_name(n.trim())))
    {
        Some((n, t)) if valid_name(n.trim().split('[').next().unwrap_or("")) => (
            Some(n.trim().split('[').next().unwrap_or("").to_string()),
            t.trim(),
        ),
        _ => (None, s),
    };
    let lower = target.to_ascii_lowercase();
    let vcs = ["git+", "hg+", "svn+", "bzr+"]
        .iter()
        .any(|p| lower.starts_with(p));
    let url = lower.contains("://");
    let wheel = lower
        .split(['#', '?'])
        .next()
        .unwrap_or("")
        .ends_with(".whl");
    if !(vcs || (url && !wheel) || is_sdist_name(target)) {
        return None;
    }
    let name = name.or_else(|| {
        target
            .split_once("#egg=")
            .map(|(_, e)| e.split('&').next().unwrap_or("").to_string())
            .filter(|n| valid_name(n))
    });
    Some((name, target.to_string()))
}

/// Whether a source-build target ([`cli_source_build`], a Pipfile's
/// `path`/`file`) is on the local disk (a path, a `file:` URL): the
/// project's own code, approved only by `pypi:NAME@local`.
pub fn is_local_target(target: &str) -> bool {
    let t = target.trim().to_ascii_lowercase();
    t.starts_with("file:")
        || !(t.contains("://")
            || ["git+", "hg+", "svn+", "bzr+"]
                .iter()
                .any(|p| t.starts_with(p)))
}

/// The Pipfile pipenv uses: `PIPENV_PIPFILE`, else the nearest one in
/// `cwd` and its parents, `PIPENV_MAX_DEPTH` (3) directories counting `cwd`
/// itself, the last one excluded (pipenv's `find_pipfile`: `i < max_depth`).
pub fn pipfile_path(cwd: &Path, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(p) = env("PIPENV_PIPFILE").filter(|v| !v.is_empty()) {
        return Some(cwd.join(p));
    }
    let depth = env("PIPENV_MAX_DEPTH")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(3)
        .min(64);
    cwd.ancestors()
        .take(depth.saturating_sub(1))
        .map(|d| d.join("Pipfile"))
        .find(|p| p.is_file())
}

fn read_small(p: &Path) -> Option<String> {
    let meta = std::fs::metadata(p).ok()?;
    if !meta.is_file() || meta.len() > 32 << 20 {
        return None;
    }
    std::fs::read_to_string(p).ok()
}

/// The invocation's violations under wheels-only (see the module docs).
pub fn violations(
    args: &[String],
    cwd: &Path,
    policy: &Policy,
    env: &dyn Fn(&str) -> Option<String>,
    vars: &[(String, String)],
) -> Vec<Reason> {
    let Some(cli) = parse_cli(args) else {
        return Vec::new();
    };
    let mut found: Vec<String> = Vec::new();
    let user_extra = cli
        .extra_pip_args
        .clone()
        .map(|v| ("--extra-pip-args", v))
        .or_else(|| env("PIPENV_EXTRA_PIP_ARGS").map(|v| ("PIPENV_EXTRA_PIP_ARGS", v)));
    if let Some((from, v)) = user_extra {
        for t in extra_args_problems(&v) {
            found.push(format!(
                "{from} passes pip `{t}`, which can turn wheels-only off for some packages"
            ));
        }
    }
    for k in env_problems(vars) {
        found.push(format!(
            "the environment sets {k}, which pip (and pipenv) read as a format setting"
        ));
    }
    for r in &cli.resolvers {
        if r.trim() != "pip" {
            found.push(format!(
                "the `{r}` resolver builds sdists itself, whatever pip's wheels-only settings say"
            ));
        }
    }
    let urls = cli
        .indexes
        .iter()
        .cloned()
        .chain(cli.pypi_mirror.clone())
        .chain(
            ["PIPENV_PYPI_MIRROR", "PIP_INDEX_URL", "PIPENV_TEST_INDEX"]
                .iter()
                .filter_map(|k| env(k)),
        );
    for u in urls {
        if u.trim().chars().any(char::is_whitespace) {
            found.push(format!(
                "the index URL `{u}` contains whitespace: pipenv writes it into pip's \
                 requirement file, where the rest would be read as pip options"
            ));
        }
    }
    let approved = |name: &str| policy.approves_name(Ecosystem::Pypi, name).is_some();
    let pipfile = pipfile_path(cwd, env);
    let load_env = env("PIPENV_DONT_LOAD_ENV").is_none_or(|v| {
        !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on" | "y"
        )
    });
    if load_env {
        let dotenv = match env("PIPENV_DOTENV_LOCATION").filter(|v| !v.is_empty()) {
            Some(p) => cwd.join(p),
            None => pipfile
                .as_deref()
                .and_then(Path::parent)
                .unwrap_or(cwd)
                .join(".env"),
        };
        if let Some(text) = read_small(&dotenv) {
            for k in dotenv_problems(&text) {
                found.push(format!(
                    "{} sets {k}, and pipenv loads it over the environment pkgward gives it",
                    dotenv.display()
                ));
            }
        }
    }
    // What pip builds from source whatever it is told: only with an
    // approval of every version (which version it is, is not known).
    let every = |name: &str, local: bool| {
        policy
            .approves_every_version(Ecosystem::Pypi, name, local)
            .is_some()
    };
    let named = cli.packages.iter().chain(&cli.editables);
    let adds = matches!(cli.sub, "install" | "upgrade" | "update");
    for spec in named.filter(|_| adds) {
        if let Some((name, what)) = cli_source_build(spec) {
            let local = is_local_target(&what);
            if !name.as_deref().is_some_and(|n| every(n, local)) {
                found.push(format!(
                    "`{spec}` is built from source ({what}){}",
                    match &name {
                        Some(n) => format!(
                            "; approve: {}",
                            super::approve_hint(policy, Ecosystem::Pypi, n, "", local)
                        ),
                        None => " and names no package to approve (`NAME @ URL`)".into(),
                    }
                ));
            }
        }
    }
    if let Some(pf) = &pipfile {
        let lock = read_small(&pf.with_file_name("Pipfile.lock"));
        let pipfile_text = read_small(pf);
        for (file, entries) in [
            (
                pf.clone(),
                pipfile_text
                    .as_deref()
                    .map(pipfile_entries)
                    .unwrap_or_default(),
            ),
            (
                pf.with_file_name("Pipfile.lock"),
                lock.as_deref().map(lock_entries).unwrap_or_default(),
            ),
        ] {
            for (name, what, local) in entries {
                if !every(&name, local) {
                    found.push(format!(
                        "{}: {name} is built from source ({what}), whatever pip's wheels-only \
                         settings say; approve: {}",
                        file.display(),
                        super::approve_hint(policy, Ecosystem::Pypi, &name, "", local)
                    ));
                }
            }
        }
    }
    if let Some(pf) = pipfile {
        if let Some(text) = read_small(&pf) {
            found.extend(
                pipfile_problems(&text, &approved, has_approvals(policy))
                    .into_iter()
                    .map(|m| format!("{}: {m}", pf.display())),
            );
        }
        if let Some(text) = read_small(&pf.with_file_name("Pipfile.lock")) {
            found.extend(lock_problems(&text, &approved));
        }
    }
    found
        .into_iter()
        .map(|what| Reason {
            code: super::python::BUILD_CODE.to_string(),
            message: format!(
                "{what}: pipenv would build packages from source, running their build code, \
                 which `[scripts]` does not approve (wheels only under `scripts.default = \"deny\"`)"
            ),
            origin: None,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The wheels-only pass before pipenv runs.

/// A requirement the pass checks, with the version a lock pins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Req {
    pub name: String,
    /// The requirement as pip takes it (`name[extras]SPEC; markers`).
    pub line: String,
    /// The locked version (from `Pipfile.lock`), else empty.
    pub version: String,
}

fn valid_name(n: &str) -> bool {
    n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn lock_category(c: &str) -> String {
    match c {
        "packages" => "default".into(),
        "dev-packages" => "develop".into(),
        other => other.into(),
    }
}

/// The pins of `Pipfile.lock` in `categories` (lock names: `default`,
/// `develop`, …), and its sources' URLs (with `verify_ssl`).
pub fn lock_reqs(text: &str, categories: &[String]) -> (Vec<Req>, Vec<(String, bool)>) {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) else {
        return (Vec::new(), Vec::new());
    };
    let mut reqs = Vec::new();
    for cat in categories {
        let Some(t) = doc.get(cat).and_then(|v| v.as_object()) else {
            continue;
        };
        for (name, e) in t {
            let Some(v) = e.get("version").and_then(|v| v.as_str()) else {
                continue;
            };
            let Some(version) = v.strip_prefix("==") else {
                continue;
            };
            let local = ["git", "hg", "svn", "bzr", "path", "file", "editable"]
                .iter()
                .any(|k| e.get(k).is_some());
            if local || !valid_name(name) || version.contains(char::is_whitespace) {
                continue;
            }
            let mut line = format!("{name}=={version}");
            if let Some(m) = e.get("markers").and_then(|m| m.as_str()) {
                if !m.trim().is_empty() {
                    line.push_str(&format!("; {m}"));
                }
            }
            reqs.push(Req {
                name: name.clone(),
                line,
                version: version.to_string(),
            });
        }
    }
    (reqs, sources_of(doc.pointer("/_meta/sources")))
}

fn sources_of(v: Option<&serde_json::Value>) -> Vec<(String, bool)> {
    v.and_then(|s| s.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| {
                    let url = s.get("url")?.as_str()?.trim().to_string();
                    let verify = s
                        .get("verify_ssl")
                        .and_then(|v| v.as_bool())
                        .unwrap_or(true);
                    Some((url, verify))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The requirements of every package category of a Pipfile (VCS, path and
/// file entries left out: those are the project's own code), and its
/// sources.
pub fn pipfile_reqs(text: &str) -> (Vec<Req>, Vec<(String, bool)>) {
    let Ok(doc) = text.parse::<toml::Table>() else {
        return (Vec::new(), Vec::new());
    };
    let mut reqs = Vec::new();
    for (cat, v) in &doc {
        if NOT_CATEGORIES.contains(&cat.as_str()) {
            continue;
        }
        let Some(t) = v.as_table() else { continue };
        for (name, e) in t {
            if !valid_name(name) {
                continue;
            }
            let (spec, extras, markers) = match e {
                toml::Value::String(s) => (s.clone(), Vec::new(), None),
                toml::Value::Table(t) => {
                    let local = ["git", "hg", "svn", "bzr", "path", "file", "editable"]
                        .iter()
                        .any(|k| t.contains_key(*k));
                    if local {
                        continue;
                    }
                    let spec = t
                        .get("version")
                        .and_then(|v| v.as_str())
                        .unwrap_or("*")
                        .to_string();
                    let extras: Vec<String> = t
                        .get("extras")
                        .and_then(|x| x.as_array())
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str())
                                .filter(|x| valid_name(x))
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    let markers = t
                        .get("markers")
                        .and_then(|m| m.as_str())
                        .map(str::to_string);
                    (spec, extras, markers)
                }
                _ => continue,
            };
            let spec = spec.trim();
            if spec.contains(['\n', '\r']) || spec.starts_with('-') {
                continue;
            }
            let mut line = name.clone();
            if !extras.is_empty() {
                line.push_str(&format!("[{}]", extras.join(",")));
            }
            if spec != "*" && !spec.is_empty() {
                line.push_str(spec);
            }
            if let Some(m) = markers.filter(|m| !m.trim().is_empty() && !m.contains(['\n', '\r'])) {
                line.push_str(&format!("; {m}"));
            }
            reqs.push(Req {
                name: name.clone(),
                line,
                version: String::new(),
            });
        }
    }
    let sources = doc
        .get("source")
        .and_then(|s| s.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| {
                    let url = s.get("url")?.as_str()?.trim().to_string();
                    let verify = s
                        .get("verify_ssl")
                        .and_then(|v| v.as_bool())
                        .unwrap_or(true);
                    Some((url, verify))
                })
                .collect()
        })
        .unwrap_or_default();
    (reqs, sources)
}

/// A package named on pipenv's command line (`install NAME>=1`), as a
/// requirement; `None` for paths, URLs and VCS references.
pub fn cli_req(spec: &str) -> Option<Req> {
    let s = spec.trim();
    if s.is_empty()
        || s.contains("://")
        || s.contains(['\n', '\r', '/', '\\'])
        || s.starts_with('.')
    {
        return None;
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(s.len());
    let name = &s[..end];
    if !valid_name(name) || s[end..].trim_start().starts_with('@') {
        return None;
    }
    Some(Req {
        name: name.to_string(),
        line: s.to_string(),
        version: String::new(),
    })
}

/// pip's index options for `sources` (first = the index, the rest extra
/// indexes), with `--trusted-host` where `verify_ssl = false`.
pub fn index_args(sources: &[(String, bool)]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (url, verify)) in sources.iter().enumerate() {
        out.push(
            if i == 0 {
                "--index-url"
            } else {
                "--extra-index-url"
            }
            .to_string(),
        );
        out.push(url.clone());
        if !verify {
            if let Some(host) = url
                .split_once("://")
                .and_then(|(_, r)| r.split(['/', '?', '#']).next())
                .map(|h| h.rsplit('@').next().unwrap_or(h))
                .filter(|h| !h.is_empty())
            {
                out.push("--trusted-host".into());
                out.push(host.to_string());
            }
        }
    }
    out
}

/// The version an exact specifier (`==V`, not a wildcard) fixes.
pub fn exact_version(spec: &str) -> Option<String> {
    let v = spec.trim().strip_prefix("==")?.trim();
    if v.is_empty() || v.contains(['*', ',', ' ', ';']) {
        return None;
    }
    Some(v.to_string())
}

/// What the pass found for one package.
#[derive(Clone, Debug)]
struct Found {
    name: String,
    /// The version that builds (the locked one or the exact pin), else the
    /// one the index would give (for the message), else empty.
    version: String,
    /// Whether that version is the only one that can build.
    fixed: bool,
}

fn find_pip() -> Option<PathBuf> {
    let shim_dirs: Vec<PathBuf> = crate::paths::default_shim_dir().into_iter().collect();
    let exe = std::env::current_exe().ok();
    let skip = crate::supervise::resolve::Skip::new(&shim_dirs, exe.as_deref());
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let path = std::env::var_os("PATH");
    ["pip3", "pip"]
        .iter()
        .find_map(|n| crate::supervise::resolve::find_real_tool(n, path.as_deref(), &cwd, &skip).0)
}

fn captured(
    pip: &Path,
    args: &[String],
    launch: &crate::supervise::Launch,
) -> Option<std::process::Output> {
    let mut c = std::process::Command::new(pip);
    c.args(args)
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .stdin(std::process::Stdio::null());
    c.output().ok()
}

fn var(launch: &crate::supervise::Launch, key: &str) -> Option<String> {
    super::launch_var(&launch.env, key)
        .map(|v| v.to_string_lossy().into_owned())
        .filter(|v| !v.trim().is_empty())
}

/// The requirements to check, their index, and whether they are the lock's
/// pins (and whether those are exactly what installs).
fn inputs(plan: &Plan, launch: &crate::supervise::Launch) -> (Vec<Req>, Vec<String>, bool, bool) {
    let env = |k: &str| var(launch, k).or_else(|| std::env::var(k).ok());
    let Some(pf) = pipfile_path(&plan.cwd, &env) else {
        // No Pipfile: `pipenv install NAME` creates one.
        let reqs: Vec<Req> = plan
            .cli
            .packages
            .iter()
            .filter_map(|p| cli_req(p))
            .collect();
        let mut idx = Vec::new();
        if let Some(m) = plan
            .cli
            .pypi_mirror
            .clone()
            .or_else(|| env("PIPENV_PYPI_MIRROR"))
        {
            idx = index_args(&[(m, true)]);
        }
        return (reqs, idx, false, false);
    };
    let lock = read_small(&pf.with_file_name("Pipfile.lock"));
    let text = read_small(&pf).unwrap_or_default();
    let cli = &plan.cli;
    // pipenv installs from the lock (without locking again) for `sync`, and
    // for a plain `install` when the lock is current or it is told not to
    // lock (`routines/install.py`).
    let from_lock = cli.sub == "sync"
        || (cli.sub == "install"
            && cli.packages.is_empty()
            && !cli.skip_lock
            && (cli.deploy
                || cli.ignore_pipfile
                || cli.system
                || lock.as_deref().is_some_and(|l| lock_is_current(&text, l))));
    let mirror = cli
        .pypi_mirror
        .clone()
        .or_else(|| env("PIPENV_PYPI_MIRROR"));
    let with_mirror = |mut s: Vec<(String, bool)>| {
        if let Some(m) = &mirror {
            if s.is_empty() {
                s.push((m.clone(), true));
            }
        }
        s
    };
    if let (true, Some(lock)) = (from_lock, lock) {
        let mut cats: Vec<String> = cli.categories.iter().map(|c| lock_category(c)).collect();
        if cats.is_empty() {
            cats.push("default".into());
            if cli.dev {
                cats.push("develop".into());
            }
        }
        let (reqs, sources) = lock_reqs(&lock, &cats);
        return (reqs, index_args(&with_mirror(sources)), true, true);
    }
    let (mut reqs, sources) = pipfile_reqs(&text);
    let named: Vec<Req> = cli.packages.iter().filter_map(|p| cli_req(p)).collect();
    if cli.sub == "uninstall" {
        reqs.retain(|r| {
            !named
                .iter()
                .any(|n| crate::tools::pep503(&n.name) == crate::tools::pep503(&r.name))
        });
    } else {
        reqs.retain(|r| {
            !named
                .iter()
                .any(|n| crate::tools::pep503(&n.name) == crate::tools::pep503(&r.name))
        });
        reqs.extend(named);
    }
    let mut idx = index_args(&with_mirror(sources));
    for i in &cli.indexes {
        if i.contains("://") {
            idx.push("--extra-index-url".into());
            idx.push(i.clone());
        }
    }
    (reqs, idx, false, false)
}

fn record(
    invocation_id: &str,
    name: &str,
    version: &str,
    decision: ScriptDecision,
    approved_by: Option<String>,
) -> ScriptRecord {
    super::python::build_record(
        invocation_id,
        name,
        version,
        decision,
        approved_by,
        super::python::sdist_command(name, version),
    )
}

/// The denial message for `f`.
pub fn denial(sub: &str, name: &str, version: &str, fixed: bool, ranged: Option<&str>) -> String {
    let exact = super::approve_command(Ecosystem::Pypi, name, version, false);
    if fixed {
        return format!(
            "`pipenv {sub}` needs to build {name} {version} from its sdist, which runs the \
             package's build code (setup.py / its PEP 517 backend) at install time, and \
             `[scripts]` does not approve it (wheels only under `scripts.default = \"deny\"`).\n  \
             approve: {exact}\n(pip then builds it inside pipenv's run, supervised)"
        );
    }
    let which = if version.is_empty() {
        name.to_string()
    } else {
        format!("{name} (e.g. {version})")
    };
    let why = match ranged {
        Some(a) => format!(
            "`{a}` approves some versions only, and pipenv's resolver may build whichever \
             versions of it it considers"
        ),
        None => "`[scripts]` does not approve it (wheels only under `scripts.default = \"deny\"`)"
            .into(),
    };
    format!(
        "`pipenv {sub}` needs to build {which} from its sdist, which runs the package's build \
         code (setup.py / its PEP 517 backend) at install time; {why}.\n  approve: {every}\n\
         (or pin it (`{name} = \"=={v}\"` in the Pipfile) and approve that version: {exact}; \
         `pipenv sync` from a lock only needs the locked version approved)",
        every = super::approve_command(Ecosystem::Pypi, name, "", false),
        v = if version.is_empty() {
            "VERSION"
        } else {
            version
        },
        exact = if version.is_empty() {
            super::approve_command(Ecosystem::Pypi, name, "VERSION", false)
        } else {
            exact
        },
    )
}

/// At most this many sdists are looked for in one invocation.
const MAX_FOUND: usize = 64;

/// Before pipenv runs (see the module docs): the wheels-only pass, the
/// decisions, and the approved packages written into pkgward's files.
pub fn before(
    plan: &Plan,
    launch: &crate::supervise::Launch,
    policy: &Policy,
    invocation_id: &str,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> crate::error::Result<()> {
    let result = before_inner(plan, launch, policy, invocation_id, log, notice);
    if result.is_err() {
        if let Some(d) = &plan.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
    result
}

fn before_inner(
    plan: &Plan,
    launch: &crate::supervise::Launch,
    policy: &Policy,
    invocation_id: &str,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> crate::error::Result<()> {
    let sub = plan.cli.sub;
    let (mut reqs, index, from_lock, exact_lock) = inputs(plan, launch);
    if reqs.is_empty() {
        return Ok(());
    }
    let Some(pip) = find_pip() else {
        notice(
            "no pip found on PATH: pkgward cannot tell beforehand which packages need a build \
             (pipenv runs wheels only)"
                .into(),
        );
        return Ok(());
    };
    let mut approved: Vec<(Found, ScriptDecision, Option<String>)> = Vec::new();
    while approved.len() < MAX_FOUND && !reqs.is_empty() {
        let mut args: Vec<String> = vec![
            "install".into(),
            "--dry-run".into(),
            "--quiet".into(),
            "--ignore-installed".into(),
            "--no-input".into(),
            "--only-binary=:all:".into(),
        ];
        if from_lock {
            args.push("--no-deps".into());
        }
        if plan.cli.pre {
            args.push("--pre".into());
        }
        args.extend(index.iter().cloned());
        args.extend(reqs.iter().map(|r| r.line.clone()));
        let Some(out) = captured(&pip, &args, launch) else {
            break;
        };
        if out.status.success() {
            break;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        let Some(m) = super::python::parse_pip_missing(&err) else {
            break;
        };
        let key = crate::tools::pep503(&m.name);
        if approved
            .iter()
            .any(|(f, ..)| crate::tools::pep503(&f.name) == key)
        {
            break;
        }
        let req = reqs
            .iter()
            .find(|r| crate::tools::pep503(&r.name) == key)
            .cloned();
        // The versions the index has (sdist-only ones included; no package
        // code runs): a package it does not have, or an index pip cannot
        // reach, is no build to decide — pipenv's own run says what it is.
        let mut iargs = vec!["index".to_string(), "versions".to_string()];
        iargs.extend(index.iter().cloned());
        if plan.cli.pre {
            iargs.push("--pre".into());
        }
        iargs.push(m.name.clone());
        let versions = captured(&pip, &iargs, launch)
            .map(|o| super::python::parse_pip_versions(&String::from_utf8_lossy(&o.stdout)))
            .unwrap_or_default();
        let listed = |v: &str| {
            use std::str::FromStr;
            let Ok(want) = pep440_rs::Version::from_str(v) else {
                return false;
            };
            versions
                .iter()
                .any(|x| pep440_rs::Version::from_str(x).is_ok_and(|x| x == want))
        };
        let f = if from_lock {
            let Some(r) = &req else { break };
            Found {
                name: r.name.clone(),
                version: r.version.clone(),
                fixed: exact_lock,
            }
        } else if let Some(v) = exact_version(&m.spec) {
            Found {
                name: m.name.clone(),
                version: v,
                fixed: true,
            }
        } else {
            let Some(version) = super::python::best_version(&versions, &m.spec, plan.cli.pre)
            else {
                break;
            };
            Found {
                name: m.name.clone(),
                version,
                fixed: false,
            }
        };
        if !listed(&f.version) {
            break;
        }
        let (decision, by) = if f.fixed {
            super::decide(
                policy,
                policy.mode.value,
                Ecosystem::Pypi,
                &f.name,
                &f.version,
                false,
            )
        } else {
            match policy.approves_every_version(Ecosystem::Pypi, &f.name, false) {
                Some(by) => (ScriptDecision::Approved, Some(by)),
                None => {
                    let (d, _) = super::decide(
                        policy,
                        policy.mode.value,
                        Ecosystem::Pypi,
                        &f.name,
                        "",
                        false,
                    );
                    // A range approval does not hold pipenv's resolver.
                    let d = if d == ScriptDecision::Approved {
                        ScriptDecision::Deny
                    } else {
                        d
                    };
                    (d, None)
                }
            }
        };
        if !decision.runs() {
            let rec = record(invocation_id, &f.name, &f.version, decision, None);
            super::append(log, &rec, notice);
            let ranged = policy
                .approves_name(Ecosystem::Pypi, &f.name)
                .map(|a| a.value.clone());
            return Err(crate::error::Error::Denied {
                message: denial(sub, &f.name, &f.version, f.fixed, ranged.as_deref()),
            });
        }
        // Resolving, the approved package's own requirements are only known
        // once it is built (pipenv's wheels-only run shows them); the rest
        // of the requirements are checked without it.
        reqs.retain(|r| crate::tools::pep503(&r.name) != key);
        approved.push((f, decision, by));
        // A dependency of another requirement cannot be left out of the
        // pass: pipenv's run shows what else it needs.
        if req.is_none() {
            break;
        }
    }
    // What pip builds from source whatever it is told (approved for every
    // version, or refused before: [`violations`]).
    let direct: Vec<(String, String, bool)> = direct_sources(plan, launch)
        .into_iter()
        .filter(|(n, ..)| {
            !approved
                .iter()
                .any(|(f, ..)| crate::tools::pep503(&f.name) == crate::tools::pep503(n))
        })
        .collect();
    for (name, what, local) in &direct {
        if let Some(by) = policy.approves_every_version(Ecosystem::Pypi, name, *local) {
            approved.push((
                Found {
                    name: name.clone(),
                    version: String::new(),
                    fixed: false,
                },
                ScriptDecision::Approved,
                Some(by),
            ));
            notice(format!(
                "{name} is built from source ({what}) in pipenv's run, approved"
            ));
        }
    }
    if approved.is_empty() {
        return Ok(());
    }
    // pip builds them inside pipenv's run, which is then confined as a
    // whole.
    if approved.iter().any(|(_, d, _)| super::confines(policy, *d)) {
        let env = |k: &str| var(launch, k).or_else(|| std::env::var(k).ok());
        let project = pipfile_path(&plan.cwd, &env)
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| plan.cwd.clone());
        plan.confine.want(super::python::confine::Want {
            kind: super::python::confine::Kind::Pipenv,
            project: std::fs::canonicalize(&project).unwrap_or(project),
            extra: Vec::new(),
        });
    }
    let Some(dir) = &plan.dir else {
        return Err(crate::error::Error::Denied {
            message: format!(
                "`pipenv {sub}` needs to build the approved {} but pkgward found no directory \
                 without whitespace for its pip settings",
                approved[0].0.name
            ),
        });
    };
    let names: Vec<String> = approved.iter().map(|(f, ..)| f.name.clone()).collect();
    let io = |source| crate::error::Error::Io {
        context: "cannot write pip's settings for pipenv".into(),
        source,
    };
    std::fs::write(dir.join("pip.conf"), config_text(&plan.pip_user, &names)).map_err(io)?;
    std::fs::write(dir.join("only-binary.txt"), requirements_text(&names)).map_err(io)?;
    let mut runner = vec!["pipenv".to_string()];
    runner.extend(launch.args.iter().map(|a| a.to_string_lossy().into_owned()));
    let mut pending = Vec::new();
    for (f, decision, by) in approved {
        let mut rec = record(
            invocation_id,
            &f.name,
            if f.fixed { &f.version } else { "" },
            decision,
            by,
        );
        rec.command =
            format!(
            "build the sdist of {} {} (its PEP 517 backend / setup.py), by pip in pipenv's own \
             run (or taken from pip's cache of an earlier build)",
            f.name,
            if f.fixed { f.version.as_str() } else { "(the version pipenv locks)" }
        );
        rec.runner = Some(runner.clone());
        if super::confines(policy, decision) {
            // Filled in after the run: what confined it.
            rec.sandbox = Some(Default::default());
        }
        pending.push(rec);
    }
    if let Ok(mut s) = plan.state.lock() {
        s.pending = pending;
        s.started = Some(std::time::Instant::now());
    }
    Ok(())
}

/// The packages of this invocation that pip builds from source whatever
/// it is told: the Pipfile's and lock's, and the ones named on the command
/// line as `NAME @ URL`.
fn direct_sources(plan: &Plan, launch: &crate::supervise::Launch) -> Vec<(String, String, bool)> {
    let env = |k: &str| var(launch, k).or_else(|| std::env::var(k).ok());
    let mut out = Vec::new();
    if let Some(pf) = pipfile_path(&plan.cwd, &env) {
        out.extend(
            read_small(&pf)
                .as_deref()
                .map(pipfile_entries)
                .unwrap_or_default(),
        );
        out.extend(
            read_small(&pf.with_file_name("Pipfile.lock"))
                .as_deref()
                .map(lock_entries)
                .unwrap_or_default(),
        );
    }
    for spec in plan.cli.packages.iter().chain(&plan.cli.editables) {
        if let Some((Some(name), what)) = cli_source_build(spec) {
            let local = is_local_target(&what);
            out.push((name, what, local));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|(n, ..)| seen.insert(crate::tools::pep503(n)));
    out
}

/// The version `Pipfile.lock` pins for `name` (any category).
pub fn locked_version(text: &str, name: &str) -> Option<String> {
    let doc = serde_json::from_str::<serde_json::Value>(text).ok()?;
    let want = crate::tools::pep503(name);
    doc.as_object()?.iter().find_map(|(cat, v)| {
        if cat == "_meta" {
            return None;
        }
        v.as_object()?.iter().find_map(|(n, e)| {
            (crate::tools::pep503(n) == want)
                .then(|| {
                    e.get("version")?
                        .as_str()?
                        .strip_prefix("==")
                        .map(str::to_string)
                })
                .flatten()
        })
    })
}

/// After pipenv ended: the records of the approved builds that ran in it
/// (its exit code and duration are theirs), and pkgward's files removed.
pub fn after(
    plan: &Plan,
    cx: &super::Context<'_>,
    code: i32,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) {
    let (pending, started) = match plan.state.lock() {
        Ok(mut s) => (std::mem::take(&mut s.pending), s.started),
        Err(_) => (Vec::new(), None),
    };
    let ms = started.map(|s| (s.elapsed().as_secs_f64() * 1e6).round() / 1e3);
    let env = |k: &str| super::launch_var(cx.env, k).map(|v| v.to_string_lossy().into_owned());
    let lock =
        pipfile_path(&plan.cwd, &env).and_then(|p| read_small(&p.with_file_name("Pipfile.lock")));
    for mut rec in pending {
        if rec.version.is_empty() {
            if let Some(v) = lock
                .as_deref()
                .and_then(|t| locked_version(t, &rec.package))
            {
                rec.version = v;
            }
        }
        if rec.sandbox.is_some() {
            rec.sandbox = Some(
                plan.confine
                    .record("pip builds the sdist inside pipenv's own run"),
            );
        }
        rec.time = crate::record::now_rfc3339();
        rec.ran = true;
        rec.exit_code = Some(code);
        rec.duration_ms = ms;
        super::append(log, &rec, notice);
    }
    if let Some(d) = &plan.dir {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[cfg(test)]
#[path = "pipenv_tests.rs"]
mod tests;
