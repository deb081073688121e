//! `uv add` / `uv remove`: they edit `pyproject.toml` (or a script's
//! inline metadata), lock and sync, and have no dry run. Before uv changes
//! anything, pkgward runs the same command, wheels-only and captured, with
//! `--no-sync` on a private copy of the files uv reads ([`Mirror`]: the
//! `pyproject.toml` of the workspace root and of every project under it,
//! `uv.lock`, `uv.toml`, `.python-version`, the script; paths outside the
//! workspace that `[tool.uv.sources]` or the command line name are linked
//! at their mirrored place, so relative paths reach the real ones). uv's
//! resolver, with builds off, names the first sdist it would build
//! (``Wheels are required for `NAME` ``); when the resolution succeeds, a
//! `uv sync --dry-run --frozen` of the copy (against the real project
//! environment) names what the add's sync would build (path, git and URL
//! sources, packages without a wheel for this platform).
//!
//! The real `uv add` resolves the project again and may build any version
//! of a package it may build, so — as for `uv lock` — only an approval of
//! every version (`pypi:NAME`, no range) lets it build: uv then gets
//! `--no-binary-package NAME` for exactly those, `UV_NO_BUILD=1` stays for
//! the rest, and the builds are recorded after the run
//! ([`super::Prebuilt::record_after`]). Anything else denies the invocation
//! (exit 77, a `script` record, the approve command) before uv touches the
//! project. The copy being inexact can only cost a denial or an approval
//! not applied: the real run stays wheels-only for every package not named.
//! A resolution needing a second sdist past an approved one shows it only
//! in the real (wheels-only, failing) run, as for `uv lock`.

use std::path::{Component, Path, PathBuf};

use super::{Needed, UvNeed};

/// Options of `uv add` / `uv remove` that take a value, beside the ones
/// `uv run` shares with them ([`super::UV_RUN_VALUE`]: index, resolver,
/// build, cache and global options), so that a value is not read as a
/// package.
const ADD_VALUE: [&str; 15] = [
    "-r",
    "--requirements",
    "-c",
    "--constraints",
    "-m",
    "--marker",
    "--optional",
    "--bounds",
    "--rev",
    "--tag",
    "--branch",
    "--script",
    "--no-install-package",
    "--project",
    "--config-file",
];

fn takes_value(a: &str) -> bool {
    ADD_VALUE.contains(&a) || super::UV_RUN_VALUE.contains(&a)
}

/// Of those, the ones the add's sync uses too (given to the sync pass).
const SYNC_VALUE: [&str; 22] = [
    "--package",
    "--no-install-package",
    "--index",
    "--default-index",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--index-strategy",
    "--keyring-provider",
    "--reinstall-package",
    "--link-mode",
    "-C",
    "--config-setting",
    "--config-settings-package",
    "--no-build-isolation-package",
    "--cache-dir",
    "--config-file",
    "-p",
    "--python",
    "--allow-insecure-host",
];

/// Flags the add's sync uses too.
const SYNC_FLAGS: [&str; 13] = [
    "--no-install-project",
    "--no-install-workspace",
    "--no-install-local",
    "--active",
    "--offline",
    "--no-build-isolation",
    "--reinstall",
    "--native-tls",
    "--no-config",
    "--no-cache",
    "--managed-python",
    "--no-managed-python",
    "--no-python-downloads",
];

/// One option of a uv command line: `(name, value, how many words)`.
fn option_at(args: &[String], i: usize) -> (&str, Option<&str>, usize) {
    let a = args[i].as_str();
    if let Some((k, v)) = a.split_once('=').filter(|_| a.starts_with("--")) {
        return (k, Some(v), 1);
    }
    if takes_value(a) {
        return match args.get(i + 1) {
            Some(v) => (a, Some(v.as_str()), 2),
            None => (a, None, 1),
        };
    }
    (a, None, 1)
}

/// What pkgward reads from a `uv add` / `uv remove` command line.
#[derive(Debug, Default, PartialEq, Eq)]
struct Line {
    /// Index of the subcommand word.
    sub_at: usize,
    directory: Option<String>,
    project: Option<String>,
    script: Option<String>,
    /// Positional words and requirement/constraint files: what may name a
    /// path.
    paths: Vec<String>,
    frozen: bool,
    no_sync: bool,
}

fn parse(args: &[String]) -> Line {
    let mut l = Line::default();
    let mut sub = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" {
            if sub {
                l.paths.extend(args[i + 1..].iter().cloned());
            }
            break;
        }
        if !a.starts_with('-') || a == "-" {
            if sub {
                l.paths.push(a.to_string());
            } else {
                sub = true;
                l.sub_at = i;
            }
            i += 1;
            continue;
        }
        let (k, v, n) = option_at(args, i);
        let v = v.map(str::to_string);
        match k {
            "--directory" => l.directory = v,
            "--project" => l.project = v,
            "--script" => l.script = v,
            "-r" | "--requirements" | "-c" | "--constraints" => l.paths.extend(v),
            "--frozen" => l.frozen = true,
            "--no-sync" => l.no_sync = true,
            _ => {}
        }
        i += n;
    }
    l
}

/// The wheels-only pass: the user's command with `--directory` /
/// `--project` replaced by the copy's project, the script by its copy, and
/// `--no-sync` (which uv refuses beside `--frozen`: that syncs nothing).
fn pass_args(args: &[String], project: &Path, script: Option<&Path>, frozen: bool) -> Vec<String> {
    let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let mut out = Vec::new();
    let mut i = 0;
    while i < end {
        let (k, _, n) = if args[i].starts_with('-') {
            option_at(args, i)
        } else {
            (args[i].as_str(), None, 1)
        };
        match k {
            "--directory" | "--project" => {}
            "--script" => {
                if let Some(s) = script {
                    out.push("--script".into());
                    out.push(s.to_string_lossy().into_owned());
                }
            }
            _ => out.extend(args[i..i + n].iter().cloned()),
        }
        i += n;
    }
    out.push("--project".into());
    out.push(project.to_string_lossy().into_owned());
    if !frozen && !args[..end].iter().any(|a| a == "--no-sync") {
        out.push("--no-sync".into());
    }
    out.extend(args[end..].iter().cloned());
    out
}

/// The `uv sync` an add / remove runs after locking, as a dry run of the
/// copy's lockfile: the options it shares with the sync, the extra or
/// group a dependency was added to, and the packages already decided.
fn sync_args(sub: &str, args: &[String], project: &Path, skip: &[Needed]) -> Vec<String> {
    let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let mut out: Vec<String> = vec![
        "sync".into(),
        "--dry-run".into(),
        "--frozen".into(),
        "--project".into(),
        project.to_string_lossy().into_owned(),
    ];
    let mut i = 0;
    while i < end {
        if !args[i].starts_with('-') {
            i += 1;
            continue;
        }
        let (k, v, n) = option_at(args, i);
        if SYNC_FLAGS.contains(&k) && v.is_none() {
            out.push(k.to_string());
        } else if let Some(v) = v {
            if SYNC_VALUE.contains(&k) {
                out.push(k.to_string());
                out.push(v.to_string());
            } else if sub == "add" && k == "--optional" {
                out.push("--extra".into());
                out.push(v.to_string());
            } else if sub == "add" && k == "--group" {
                out.push("--group".into());
                out.push(v.to_string());
            }
        } else if sub == "add" && k == "--dev" {
            out.push("--group".into());
            out.push("dev".into());
        }
        i += n;
    }
    for n in skip {
        out.push("--no-install-package".into());
        out.push(n.name.clone());
    }
    out
}

/// `p` without `.` and `..` (lexically) — absolute when `p` is.
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c.as_os_str()),
        }
    }
    out
}

/// A private directory holding copies of a project's files at their
/// absolute paths below it (`/home/u/p/pyproject.toml` →
/// `<dir>/home/u/p/pyproject.toml`).
struct Mirror {
    dir: tempfile::TempDir,
}

/// At most this many directory entries are looked at under the workspace.
const MAX_ENTRIES: usize = 20_000;
/// Files uv reads from a project directory.
const PROJECT_FILES: [&str; 5] = [
    "pyproject.toml",
    "uv.toml",
    "uv.lock",
    ".python-version",
    ".python-versions",
];

impl Mirror {
    fn new() -> std::io::Result<Mirror> {
        Ok(Mirror {
            dir: tempfile::Builder::new()
                .prefix("pkgward-uv-edit-")
                .tempdir()?,
        })
    }

    /// Where the absolute `real` is in the copy.
    fn map(&self, real: &Path) -> PathBuf {
        let mut out = self.dir.path().to_path_buf();
        for c in lexical(real).components() {
            match c {
                Component::Normal(n) => out.push(n),
                Component::Prefix(p) => {
                    let s = p.as_os_str().to_string_lossy();
                    let s: String = s.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
                    out.push(if s.is_empty() { "prefix".into() } else { s });
                }
                _ => {}
            }
        }
        out
    }

    /// Whether `p` (in the copy) is reached without passing a link: what
    /// is written there, or where uv looks for the project, stays in the
    /// copy.
    fn unlinked(&self, p: &Path) -> bool {
        let root = self.dir.path();
        let Ok(rel) = p.strip_prefix(root) else {
            return false;
        };
        let mut cur = root.to_path_buf();
        for c in rel.components() {
            cur.push(c);
            match std::fs::symlink_metadata(&cur) {
                Ok(m) if m.file_type().is_symlink() => return false,
                Ok(_) => {}
                // The rest is created as plain directories.
                Err(_) => return true,
            }
        }
        true
    }

    /// Creates the directory `p` in the copy (never through a link).
    fn dir(&self, p: &Path) -> bool {
        self.unlinked(p) && std::fs::create_dir_all(p).is_ok()
    }

    /// Copies the regular file `real` (at most 16 MiB) into the copy.
    fn copy(&self, real: &Path) -> bool {
        let Ok(meta) = std::fs::metadata(real) else {
            return false;
        };
        if !meta.is_file() || meta.len() > 16 << 20 {
            return false;
        }
        let to = self.map(real);
        let Some(parent) = to.parent() else {
            return false;
        };
        self.dir(parent)
            && self.unlinked(&to)
            && std::fs::read(real)
                .and_then(|b| std::fs::write(&to, b))
                .is_ok()
    }

    /// Makes `real`, outside the `workspace` (which is copied), readable at
    /// its place in the copy through a link; a file inside it is copied;
    /// nothing when that place is taken. uv writes nothing there (it writes
    /// the project's and the workspace's files, which are copies, and
    /// [`Mirror::unlinked`] is checked for them).
    fn link(&self, real: &Path, workspace: Option<&Path>) {
        let real = lexical(real);
        if workspace.is_some_and(|w| real.starts_with(w)) {
            self.copy(&real);
            return;
        }
        let to = self.map(&real);
        if to.symlink_metadata().is_ok() || std::fs::symlink_metadata(&real).is_err() {
            return;
        }
        if !to.parent().is_some_and(|p| self.dir(p)) {
            return;
        }
        #[cfg(unix)]
        let _ = std::os::unix::fs::symlink(&real, &to);
        #[cfg(not(unix))]
        let _ = to;
    }
}

fn read_toml(path: &Path) -> Option<toml::Table> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 4 << 20 {
        return None;
    }
    std::fs::read_to_string(path).ok()?.parse().ok()
}

fn is_workspace_root(dir: &Path) -> bool {
    read_toml(&dir.join("pyproject.toml"))
        .and_then(|t| t.get("tool")?.get("uv")?.get("workspace").cloned())
        .is_some()
}

/// The project uv finds from `start` (the nearest `pyproject.toml`) and
/// its workspace root (the nearest directory above it whose
/// `pyproject.toml` has `[tool.uv.workspace]`, else the project).
fn roots(start: &Path) -> Option<(PathBuf, PathBuf)> {
    let project = start
        .ancestors()
        .find(|a| a.join("pyproject.toml").is_file())?
        .to_path_buf();
    let root = project
        .ancestors()
        .find(|a| is_workspace_root(a))
        .unwrap_or(&project)
        .to_path_buf();
    Some((project, root))
}

/// Copies what uv reads under the workspace `root` (bounded walk; hidden
/// directories, `node_modules`, `__pycache__` and `target` skipped) and
/// the settings above it; returns the `pyproject.toml` files copied.
fn copy_workspace(m: &Mirror, root: &Path) -> Vec<PathBuf> {
    let mut pyprojects = Vec::new();
    for a in root.ancestors().skip(1) {
        for f in PROJECT_FILES {
            if f != "uv.lock" {
                m.copy(&a.join(f));
            }
        }
    }
    let mut seen = 0usize;
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                return pyprojects;
            }
            let Ok(ft) = e.file_type() else { continue };
            let name = e.file_name();
            let name = name.to_string_lossy();
            if ft.is_dir() {
                if depth < 8
                    && !name.starts_with('.')
                    && !matches!(name.as_ref(), "node_modules" | "__pycache__" | "target")
                {
                    stack.push((e.path(), depth + 1));
                }
            } else if PROJECT_FILES.contains(&name.as_ref())
                && (name != "uv.lock" || depth == 0)
                && m.copy(&e.path())
                && name == "pyproject.toml"
            {
                pyprojects.push(e.path());
            }
        }
    }
    pyprojects
}

/// The `path` sources of a `pyproject.toml` (`[tool.uv.sources]`), as
/// paths.
fn path_sources(pyproject: &Path) -> Vec<PathBuf> {
    let base = pyproject.parent().unwrap_or(Path::new("."));
    let Some(t) = read_toml(pyproject) else {
        return Vec::new();
    };
    let Some(sources) = t
        .get("tool")
        .and_then(|t| t.get("uv"))
        .and_then(|t| t.get("sources"))
        .and_then(|t| t.as_table())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for v in sources.values() {
        let list: Vec<&toml::Value> = match v {
            toml::Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        for s in list {
            if let Some(p) = s.get("path").and_then(|p| p.as_str()) {
                out.push(base.join(p));
            }
        }
    }
    out
}

/// Runs uv on the copy, captured, wheels-only (the invocation's
/// environment), in `cwd`.
fn run(
    cx: &super::super::Context<'_>,
    args: &[String],
    cwd: &Path,
    env: &[(&str, PathBuf)],
) -> Option<std::process::Output> {
    let mut c = std::process::Command::new(cx.program);
    c.args(args)
        .envs(cx.env.iter().map(|(k, v)| (k, v)))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(std::process::Stdio::null());
    for k in ["UV_WORKING_DIR", "UV_WORKING_DIRECTORY", "UV_PROJECT"] {
        c.env_remove(k);
    }
    c.output().ok()
}

/// What the add / remove would build, found on a copy of the project.
fn needs(sub: &str, args: &[String], cx: &super::super::Context<'_>) -> Vec<UvNeed> {
    let line = parse(args);
    let var = |k: &str| {
        super::super::launch_var(cx.env, k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let cwd = lexical(&match line
        .directory
        .as_ref()
        .map(PathBuf::from)
        .or_else(|| var("UV_WORKING_DIR"))
    {
        Some(d) => here.join(d),
        None => here,
    });
    let start = lexical(&match line
        .project
        .as_ref()
        .map(PathBuf::from)
        .or_else(|| var("UV_PROJECT"))
    {
        Some(p) => cwd.join(p),
        None => cwd.clone(),
    });
    let Ok(m) = Mirror::new() else {
        return Vec::new();
    };
    // Every copy first, then the links (which never replace a copy).
    let root = roots(&start);
    let mut sources = Vec::new();
    if let Some((project, root)) = &root {
        m.copy(&project.join("pyproject.toml"));
        for p in copy_workspace(&m, root) {
            sources.extend(path_sources(&p));
        }
    }
    let script = line.script.as_ref().map(|s| {
        let real = lexical(&cwd.join(s));
        m.copy(&real);
        let mut lock = real.clone().into_os_string();
        lock.push(".lock");
        m.copy(Path::new(&lock));
        m.map(&real)
    });
    let workspace = root.as_ref().map(|(_, r)| r.as_path());
    for s in sources {
        m.link(&s, workspace);
    }
    for p in &line.paths {
        let p = p.strip_prefix("file://").unwrap_or(p);
        let real = cwd.join(p);
        if std::fs::symlink_metadata(&real).is_ok() {
            m.link(&real, workspace);
        }
    }
    let here = m.map(&cwd);
    let project = m.map(&start);
    // uv must find the copy's project, and write the copy's files only.
    if !m.dir(&here)
        || !m.dir(&project)
        || script
            .as_deref()
            .is_some_and(|s| !m.unlinked(s) || !s.is_file())
    {
        return Vec::new();
    }
    let no_sync = line.no_sync || super::env_true(cx, "UV_NO_SYNC");
    let frozen = line.frozen || super::env_true(cx, "UV_FROZEN");
    let pass = pass_args(args, &project, script.as_deref(), frozen);
    let Some(out) = run(cx, &pass, &here, &[]) else {
        return Vec::new();
    };
    if !out.status.success() {
        return super::uv_need(&out).into_iter().collect();
    }
    if no_sync || frozen || line.script.is_some() {
        return Vec::new();
    }
    // The add's sync, against the real project environment (a dry run
    // changes nothing).
    let ws_root = root.map(|(_, r)| r).unwrap_or_else(|| start.clone());
    let venv = match super::super::launch_var(cx.env, "UV_PROJECT_ENVIRONMENT") {
        Some(v) if !v.is_empty() => ws_root.join(v),
        _ => ws_root.join(".venv"),
    };
    let env = [("UV_PROJECT_ENVIRONMENT", venv)];
    let mut found: Vec<UvNeed> = Vec::new();
    while found.len() < super::MAX_BUILDS {
        let skip: Vec<Needed> = found
            .iter()
            .map(|n| match n {
                UvNeed::Locked(n) | UvNeed::Resolve(n) => n.clone(),
            })
            .collect();
        let Some(out) = run(cx, &sync_args(sub, args, &project, &skip), &here, &env) else {
            break;
        };
        match super::uv_need(&out) {
            None => break,
            Some(n) => {
                let (UvNeed::Locked(k) | UvNeed::Resolve(k)) = &n;
                let key = crate::tools::pep503(&k.name);
                let again = skip.iter().any(|s| crate::tools::pep503(&s.name) == key);
                let resolve = matches!(n, UvNeed::Resolve(_));
                if !again {
                    found.push(n);
                }
                if again || resolve {
                    break;
                }
            }
        }
    }
    found
}

/// Before a `uv add` / `uv remove`: finds what it would build (see the
/// module docs), and lets uv build exactly the packages approved for every
/// version; anything else is denied before uv changes the project.
pub(super) fn check(
    sub: &'static str,
    tool: &str,
    run: &super::confine::ToolRun,
    cx: &super::super::Context<'_>,
    log: &mut Option<crate::record::AuditLog>,
    notice: &mut dyn FnMut(String),
) -> crate::error::Result<Option<super::Prebuilt>> {
    use super::super::ScriptDecision;
    let all = super::lossy(cx.args);
    let mut builds: Vec<(Needed, ScriptDecision, Option<String>)> = Vec::new();
    for n in needs(sub, &all, cx) {
        let (UvNeed::Locked(n) | UvNeed::Resolve(n)) = n;
        let key = crate::tools::pep503(&n.name);
        if builds
            .iter()
            .any(|(b, ..)| crate::tools::pep503(&b.name) == key)
        {
            continue;
        }
        let Some(by) =
            cx.policy
                .approves_every_version(crate::tools::Ecosystem::Pypi, &n.name, n.local)
        else {
            let rec = super::script_record(cx, &n.name, &n.version, ScriptDecision::Deny, None);
            super::super::append(log, &rec, notice);
            return Err(crate::error::Error::Denied {
                message: format!(
                    "{}\n(nothing was changed: uv did not run)",
                    super::resolution_denied(&format!("{tool} {sub}"), &n, cx.policy)
                ),
            });
        };
        builds.push((n, ScriptDecision::Approved, Some(by)));
    }
    if builds.is_empty() {
        return Ok(None);
    }
    let mut extra: Vec<String> = Vec::new();
    for (n, ..) in &builds {
        extra.push("--no-binary-package".into());
        extra.push(n.name.clone());
    }
    let at = (parse(&all).sub_at + 1).min(all.len());
    super::approved_run(builds, extra, at, &all, run, cx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_lines() {
        let l = parse(&a(&[
            "-q",
            "--directory",
            "d",
            "add",
            "--group",
            "g",
            "-r",
            "req.txt",
            "--project=p",
            "../lib",
            "--script",
            "s.py",
            "--frozen",
            "x>=1",
        ]));
        assert_eq!(l.sub_at, 3);
        assert_eq!(l.directory.as_deref(), Some("d"));
        assert_eq!(l.project.as_deref(), Some("p"));
        assert_eq!(l.script.as_deref(), Some("s.py"));
        assert_eq!(l.paths, a(&["req.txt", "../lib", "x>=1"]));
        assert!(l.frozen && !l.no_sync);
        let p = pass_args(
            &a(&[
                "--project",
                "q",
                "add",
                "--script=s.py",
                "--directory=d",
                "x",
            ]),
            Path::new("/m/p"),
            Some(Path::new("/m/s.py")),
            false,
        );
        assert_eq!(
            p,
            a(&[
                "add",
                "--script",
                "/m/s.py",
                "x",
                "--project",
                "/m/p",
                "--no-sync"
            ])
        );
        let p = pass_args(
            &a(&["remove", "--no-sync", "x"]),
            Path::new("/m"),
            None,
            false,
        );
        assert_eq!(p, a(&["remove", "--no-sync", "x", "--project", "/m"]));
        let p = pass_args(&a(&["add", "--frozen", "x"]), Path::new("/m"), None, true);
        assert_eq!(p, a(&["add", "--frozen", "x", "--project", "/m"]));
        let skip = [Needed {
            name: "y".into(),
            version: "1".into(),
            local: false,
        }];
        let s = sync_args(
            "add",
            &a(&[
                "add",
                "--optional",
                "e",
                "--extra",
                "x",
                "--dev",
                "--package",
                "m",
                "--no-install-project",
                "-p=3.11",
                "--rev",
                "r",
                "z",
            ]),
            Path::new("/m"),
            &skip,
        );
        assert_eq!(
            s,
            a(&[
                "sync",
                "--dry-run",
                "--frozen",
                "--project",
                "/m",
                "--extra",
                "e",
                "--group",
                "dev",
                "--package",
                "m",
                "--no-install-project",
                "--no-install-package",
                "y"
            ])
        );
        let s = sync_args(
            "remove",
            &a(&["remove", "--group", "g", "x"]),
            Path::new("/m"),
            &[],
        );
        assert_eq!(s, a(&["sync", "--dry-run", "--frozen", "--project", "/m"]));
    }

    #[test]
    #[cfg(unix)]
    fn the_copy_holds_what_uv_reads_and_links_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let w = d.path().join("ws");
        std::fs::create_dir_all(w.join("packages/a/src")).unwrap();
        std::fs::create_dir_all(w.join(".venv/lib")).unwrap();
        std::fs::create_dir_all(d.path().join("outside")).unwrap();
        std::fs::write(
            w.join("pyproject.toml"),
            "[tool.uv.workspace]\nmembers = [\"packages/*\"]\n",
        )
        .unwrap();
        std::fs::write(w.join("uv.lock"), "version = 1\n").unwrap();
        std::fs::write(
            w.join("packages/a/pyproject.toml"),
            "[project]\nname = \"a\"\n[tool.uv.sources]\no = { path = \"../../../outside\" }\n",
        )
        .unwrap();
        std::fs::write(w.join("packages/a/src/x.py"), "").unwrap();
        std::fs::write(w.join(".venv/lib/pyproject.toml"), "").unwrap();
        let (project, root) = roots(&w.join("packages/a/src")).unwrap();
        assert_eq!(project, w.join("packages/a"));
        assert_eq!(root, w);
        let m = Mirror::new().unwrap();
        let copied = copy_workspace(&m, &root);
        assert_eq!(copied.len(), 2, "{copied:?}");
        assert!(m.map(&w.join("uv.lock")).is_file());
        assert!(m.map(&w.join("packages/a/pyproject.toml")).is_file());
        assert!(!m.map(&w.join("packages/a/src/x.py")).exists());
        assert!(!m.map(&w.join(".venv")).exists());
        for p in &copied {
            for s in path_sources(p) {
                m.link(&s, Some(&root));
            }
        }
        let o = m.map(&d.path().join("outside"));
        assert!(o.symlink_metadata().unwrap().file_type().is_symlink());
        // Nothing is written, and no project looked for, through a link.
        std::fs::write(d.path().join("outside/s.py"), "x").unwrap();
        assert!(!m.copy(&d.path().join("outside/s.py")));
        assert!(!m.dir(&m.map(&d.path().join("outside/sub"))));
        assert!(!d.path().join("outside/sub").exists());
        // Inside the workspace: files are copied, directories never linked.
        std::fs::write(w.join("req.txt"), "x\n").unwrap();
        m.link(&w.join("req.txt"), Some(&root));
        assert!(m.unlinked(&m.map(&w.join("req.txt"))));
        assert!(m.map(&w.join("req.txt")).is_file());
        m.link(&w.join("packages/a/src"), Some(&root));
        assert!(!m.map(&w.join("packages/a/src")).exists());
        // A place already in the copy is never replaced by a link.
        m.link(&w.join("packages/a"), None);
        assert!(m.map(&w.join("packages/a")).is_dir());
        assert!(!m
            .map(&w.join("packages/a"))
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(lexical(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }
}
