//! uv project commands, poetry and pipenv build approved sdists inside
//! their own run (pkgward cannot build them beforehand: the lock pins the
//! sdist's hash, or the tool builds while resolving). When such a run will
//! build approved (confined) code, the tool's *whole* run is started as
//! install-time code ([`crate::supervise::sandbox::run`]): Landlock, the
//! network namespace whose only way out is the egress proxy, the scrubbed
//! environment, unreadable credential files — the layers an sdist pkgward
//! builds itself gets. Writable besides the project, the tool's caches
//! ([`crate::supervise::sandbox::cache_dirs`]) and the private temp
//! directory: what the tool writes by design, asked from the tool's own
//! settings ([`roots`]):
//!
//! | tool | also writable |
//! |---|---|
//! | uv | the workspace root (`uv.lock`), `UV_PROJECT_ENVIRONMENT`, `VIRTUAL_ENV` with `--active`, `uv cache dir` (not `uv python dir`: a run that has to download a Python fails; `uv python install` it first) |
//! | poetry | `poetry config --list`'s `cache-dir` (only its `cache/` and `artifacts/` when `virtualenvs.path` is inside it), the project's own virtualenv ([`tool_venv`]: `poetry env info --path`, else created by `poetry run` first; not the rest of `virtualenvs.path`), an active `VIRTUAL_ENV`, virtualenv's app data |
//! | yarn dlx | `YARN_GLOBAL_FOLDER` (berry's global cache; the temporary project is in the temp directory), `YARN_CACHE_FOLDER`; the project is the current directory (a `create-*` tool writes there) |
//! | `uv pip install` (a local project, [`uv_pip_roots`]) | as uv, and `--target` / `--prefix`, else the interpreter's virtualenv (`--python`, `UV_PYTHON`, `VIRTUAL_ENV`, a `.venv` above), the project's source tree |
//! | pip (an approved editable install or local project, [`pip_roots`]) | the target environment: `--target`, `--prefix` or `--root` when given (command line, `PIP_*`, pip's config files), else the installing interpreter's scheme paths (the virtualenv; `--user`, or a non-writable system site, the user scheme), `--src`, `--cache-dir`, `-d`/`-w`, `--log`/`--report` files, the editable and local source trees |
//! | pipenv | the project's own virtualenv ([`tool_venv`]: `pipenv --venv`, else created by `pipenv run` first; not the rest of `WORKON_HOME`), or an active `VIRTUAL_ENV` unless `PIPENV_IGNORE_VIRTUALENVS`, `PIPENV_CACHE_DIR` (`~/.cache/pipenv`), virtualenv's app data |
//!
//! The run sees no registry credentials either (the sandbox scrubs them,
//! its command line loses URL userinfo); pkgward's egress proxy adds them
//! to its plain-HTTP index requests ([`super::auth`]), and serves a uv or
//! poetry run's TLS index at its own origin ([`super::origin`]).
//! Where the confinement cannot be set up, `[sandbox] require = true`
//! refuses the run (the sandbox's refusal); otherwise it runs with what the
//! machine offers and the build's records say which layers were missing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::supervise::sandbox::Report;

/// Which tool's run is confined (its writable roots differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Uv,
    Poetry,
    Pipenv,
    /// `yarn dlx` building approved packages ([`crate::scripts::yarn::dlx_setup`]).
    YarnDlx,
    /// pip building an approved editable install or a local project in
    /// its own run.
    Pip,
}

/// Shared between the setup, the run and the records of one invocation:
/// whether the tool's run is to be confined, and what confined it.
#[derive(Clone, Debug, Default)]
pub struct ToolRun(Arc<Mutex<State>>);

#[derive(Debug, Default)]
struct State {
    want: Option<Want>,
    report: Option<Report>,
}

/// A run to confine.
#[derive(Clone, Debug)]
pub struct Want {
    pub kind: Kind,
    /// The project directory the tool works on.
    pub project: PathBuf,
    /// Also writable: pkgward's own files the run writes (poetry: its
    /// guard's report); pip: what [`pip_roots`] found (asked once for the
    /// resolution passes and the run) and the editable source trees.
    pub extra: Vec<PathBuf>,
}

impl ToolRun {
    /// The tool's run builds approved code that is to be confined.
    pub fn want(&self, want: Want) {
        if let Ok(mut s) = self.0.lock() {
            s.want = Some(want);
        }
    }

    pub fn wanted(&self) -> Option<Want> {
        self.0.lock().ok().and_then(|s| s.want.clone())
    }

    /// What confined the run (`None`: it was not confined, or has not run).
    pub fn report(&self) -> Option<Report> {
        self.0.lock().ok().and_then(|s| s.report.clone())
    }

    fn set_report(&self, r: Report) {
        if let Ok(mut s) = self.0.lock() {
            s.report = Some(r);
        }
    }

    /// The `sandbox` of a build's record: what confined the tool's run,
    /// else why it was not confined (`what` is the tool and where it built).
    pub fn record(&self, what: &str) -> Report {
        self.report().unwrap_or_else(|| Report {
            missing: vec![format!(
                "{what}, which pkgward traces and sends through its egress proxy but did not confine"
            )],
            ..Report::default()
        })
    }
}

/// A variable as the tool sees it: the launch's, else pkgward's own.
fn var(env: &[(OsString, OsString)], key: &str) -> Option<OsString> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var_os(key))
        .filter(|v| !v.is_empty())
}

fn home(env: &[(OsString, OsString)]) -> Option<PathBuf> {
    var(env, "HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// `$XDG_DATA_HOME` (absolute) or `~/.local/share`.
fn data_home(env: &[(OsString, OsString)]) -> Option<PathBuf> {
    var(env, "XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home(env).map(|h| h.join(".local/share")))
}

/// `$XDG_CONFIG_HOME` (absolute) or `~/.config`.
fn config_home(env: &[(OsString, OsString)]) -> Option<PathBuf> {
    var(env, "XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home(env).map(|h| h.join(".config")))
}

/// A private copy of poetry's config directory's files without its
/// `auth.toml` (removed when dropped).
fn poetry_config_copy(dir: &Path) -> Option<tempfile::TempDir> {
    let copy = tempfile::Builder::new()
        .prefix("pkgward-poetry-config-")
        .tempdir()
        .ok()?;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_file() && e.file_name() != "auth.toml" {
            std::fs::copy(&p, copy.path().join(e.file_name())).ok()?;
        }
    }
    Some(copy)
}

/// `$XDG_CACHE_HOME` (absolute) or `~/.cache`.
fn cache_home(env: &[(OsString, OsString)]) -> Option<PathBuf> {
    var(env, "XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home(env).map(|h| h.join(".cache")))
}

/// virtualenv's app data (seed wheels; uv and pipenv create environments
/// with virtualenv): `VIRTUALENV_OVERRIDE_APP_DATA`, else its user data
/// directory.
fn virtualenv_app_data(env: &[(OsString, OsString)]) -> Option<PathBuf> {
    var(env, "VIRTUALENV_OVERRIDE_APP_DATA")
        .map(PathBuf::from)
        .or_else(|| data_home(env).map(|d| d.join("virtualenv")))
}

/// One line of output of `program args` (run in `cwd` with the launch's
/// environment, unconfined: it only reads settings), or `None`.
fn ask(program: &Path, args: &[&str], cwd: &Path, env: &[(OsString, OsString)]) -> Option<String> {
    let mut cmd = std::process::Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    // Not under poetry's build guard: its report is the real run's (a
    // `guard` line from this run would hide a guard that did not load).
    cmd.env_remove(crate::scripts::poetry::GUARD_VAR);
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// poetry's `config --list` value of `key`: the resolved path after `# `
/// when the value has placeholders, else the quoted value.
pub fn poetry_setting(list: &str, key: &str) -> Option<PathBuf> {
    let line = list
        .lines()
        .find(|l| l.split_once(" = ").is_some_and(|(k, _)| k.trim() == key))?;
    let value = line.split_once(" = ")?.1;
    let v = match value.rsplit_once("  # ") {
        Some((_, resolved)) => resolved.trim(),
        None => value.trim().trim_matches('"'),
    };
    let p = PathBuf::from(v);
    p.is_absolute().then_some(p)
}

/// The uv workspace root above (or at) `project`: the nearest directory
/// whose `pyproject.toml` has `[tool.uv.workspace]` and lists it, else the
/// project itself (`uv.lock` is written at the root).
pub fn uv_workspace_root(project: &Path) -> PathBuf {
    for d in project.ancestors().skip(1) {
        let Ok(text) = std::fs::read_to_string(d.join("pyproject.toml")) else {
            continue;
        };
        let Ok(t) = text.parse::<toml::Table>() else {
            continue;
        };
        if t.get("tool")
            .and_then(|t| t.get("uv"))
            .and_then(|t| t.get("workspace"))
            .is_some()
        {
            return d.to_path_buf();
        }
    }
    project.to_path_buf()
}

/// Whether `args` (before any `--`) have `flag`.
fn has_flag(args: &[OsString], flag: &str) -> bool {
    args.iter().take_while(|a| *a != "--").any(|a| a == flag)
}

/// The value of `--opt V` / `--opt=V` (before any `--`), the last one.
fn flag_value(args: &[OsString], opt: &str) -> Option<OsString> {
    let mut found = None;
    let mut it = args.iter().take_while(|a| *a != "--");
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if let Some(v) = s.strip_prefix(opt).and_then(|r| r.strip_prefix('=')) {
            found = Some(OsString::from(v));
        } else if s == opt {
            found = it.next().cloned();
        }
    }
    found
}

/// The virtualenv the tool uses for `project` — the only one of its
/// virtualenv home the confined run may write: the path the tool gives
/// (`info`: poetry's `env info --path`, pipenv's `--venv`), else, when it
/// has none yet, the one the tool creates for it, unconfined, through `run`
/// (`poetry run` / `pipenv run` create the project's virtualenv and run its
/// `python`, which prints it; no package code runs). `None`: neither
/// answered (the run then cannot create one, and fails).
fn tool_venv(
    program: &Path,
    info: &[&str],
    run: &[&str],
    project: &Path,
    env: &[(OsString, OsString)],
) -> Option<PathBuf> {
    let path = |out: Option<String>| {
        out.and_then(|o| {
            o.lines()
                .rev()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(PathBuf::from)
        })
        .filter(|p| p.is_absolute() && p.is_dir())
    };
    path(ask(program, info, project, env)).or_else(|| {
        let mut a = run.to_vec();
        a.extend(["python", "-c", "import sys; print(sys.prefix)"]);
        path(ask(program, &a, project, env))
    })
}

/// Asked of the interpreter that runs pip (`-I`: nothing from the project or
/// `PYTHON*` is imported): pip's settings from its config files and `PIP_*`
/// (`cfg KEY VALUE`), the install scheme's paths (`default`, `user`),
/// whether it is a virtualenv and whether its site-packages is writable.
/// Runs no build code (only what starting pip itself runs).
const PIP_PATHS: &str = r#"
import os, sys, sysconfig
def paths(scheme=None):
    p = sysconfig.get_paths(scheme) if scheme else sysconfig.get_paths()
    return [p[k] for k in ("purelib", "platlib", "scripts", "data") if k in p]
for p in paths():
    print("default\t" + p)
try:
    user = sysconfig.get_preferred_scheme("user")
except AttributeError:
    user = os.name + "_user"
try:
    for p in paths(user):
        print("user\t" + p)
except KeyError:
    pass
print("venv\t%d" % (sys.prefix != getattr(sys, "base_prefix", sys.prefix)))
print("writable\t%d" % os.access(sysconfig.get_paths()["purelib"], os.W_OK))
try:
    from pip._internal.configuration import Configuration
    c = Configuration(isolated=False)
    c.load()
    for k, v in c.items():
        print("cfg\t%s\t%s" % (k.split(".", 1)[-1], v))
except Exception:
    pass
"#;

/// The interpreter that runs pip `program`: its script's `#!` line when
/// that names a Python, else found above the directory `pip --version`
/// reports pip in (`…/lib/pythonX.Y/site-packages/pip`).
fn pip_python(program: &Path, cwd: &Path, env: &[(OsString, OsString)]) -> Option<PathBuf> {
    let head = std::fs::read(program).ok().map(|b| {
        let end = b
            .iter()
            .position(|c| *c == b'\n')
            .unwrap_or(b.len())
            .min(512);
        String::from_utf8_lossy(&b[..end]).into_owned()
    });
    if let Some(line) = head.as_deref().and_then(|h| h.strip_prefix("#!")) {
        let first = line.split_whitespace().next().map(PathBuf::from);
        if let Some(p) = first.filter(|p| {
            p.is_absolute()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("python"))
        }) {
            return Some(p);
        }
    }
    let v = ask(program, &["--version"], cwd, env)?;
    let dir = v.split_once(" from ")?.1;
    let dir = Path::new(dir.rsplit_once(" (python")?.0);
    dir.ancestors().take(6).find_map(|a| {
        [
            "bin/python3",
            "bin/python",
            "Scripts/python.exe",
            "python.exe",
        ]
        .iter()
        .map(|n| a.join(n))
        .find(|p| p.is_file())
    })
}

/// What a pip run that builds an approved editable install writes (see the
/// module docs): the target environment and the places pip's options name.
/// `--log` / `--report` files are created now (so that they can be granted
/// without their directory).
pub fn pip_roots(
    program: &Path,
    args: &[OsString],
    project: &Path,
    env: &[(OsString, OsString)],
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut scheme: Vec<(String, String)> = Vec::new();
    let mut cfg: Vec<(String, String)> = Vec::new();
    if let Some(py) = pip_python(program, project, env) {
        let text = ask(&py, &["-I", "-c", PIP_PATHS], project, env).unwrap_or_default();
        for l in text.lines() {
            let mut it = l.splitn(3, '\t');
            match (it.next(), it.next(), it.next()) {
                (Some("cfg"), Some(k), Some(v)) => cfg.push((k.into(), v.into())),
                (Some(k), Some(v), None) => scheme.push((k.into(), v.into())),
                _ => {}
            }
        }
    }
    // The command line's value, else pip's settings (config files, `PIP_*`).
    let setting = |opts: &[&str], key: &str| -> Option<PathBuf> {
        opts.iter()
            .find_map(|o| flag_value(args, o))
            .map(PathBuf::from)
            .or_else(|| {
                cfg.iter()
                    .rev()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| PathBuf::from(v))
            })
            .filter(|v| !v.as_os_str().is_empty() && v.as_os_str() != "-")
            .map(|v| project.join(v))
    };
    let truthy = |key: &str| {
        cfg.iter()
            .rev()
            .find(|(k, _)| k == key)
            .is_some_and(|(_, v)| {
                matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
            })
    };
    let chosen: Vec<PathBuf> = [
        (&["--target", "-t"][..], "target"),
        (&["--prefix"][..], "prefix"),
        (&["--root"][..], "root"),
    ]
    .iter()
    .filter_map(|(o, k)| setting(o, k))
    .collect();
    if chosen.is_empty() {
        let of = |which: &str| {
            scheme
                .iter()
                .filter(|(k, _)| k == which)
                .map(|(_, v)| PathBuf::from(v))
                .collect::<Vec<_>>()
        };
        let flag = |k: &str| scheme.iter().any(|(n, v)| n == k && v == "1");
        let user = (has_flag(args, "--user") || truthy("user")) && !has_flag(args, "--no-user");
        if !user {
            out.extend(of("default"));
        }
        // pip installs into the user site when asked, or when the
        // environment's is not writable (outside a virtualenv).
        if user || (!flag("venv") && !flag("writable")) {
            out.extend(of("user"));
        }
    }
    out.extend(chosen);
    for (o, k) in [
        (&["--src"][..], "src"),
        (&["--cache-dir"][..], "cache-dir"),
        (&["--dest", "-d"][..], "dest"),
        (&["--wheel-dir", "-w"][..], "wheel-dir"),
    ] {
        out.extend(setting(o, k));
    }
    for (o, k) in [
        (&["--log", "--log-file"][..], "log"),
        (&["--report"][..], "report"),
    ] {
        if let Some(f) = setting(o, k) {
            if let Some(d) = f.parent() {
                let _ = std::fs::create_dir_all(d);
            }
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&f);
            out.push(f);
        }
    }
    out
}

/// What a `uv pip install` that builds a local project writes besides
/// uv's own roots ([`roots`], `Kind::Uv`): its target environment —
/// `--target` / `--prefix`, else the interpreter's virtualenv (`--python`,
/// `UV_PYTHON`), else `VIRTUAL_ENV`, else a `.venv` in the directory or
/// above (uv's own order). An interpreter outside any virtualenv is not
/// granted: such a run fails in the sandbox.
pub fn uv_pip_roots(
    args: &[OsString],
    project: &Path,
    env: &[(OsString, OsString)],
) -> Vec<PathBuf> {
    let chosen: Vec<PathBuf> = ["--target", "--prefix"]
        .iter()
        .filter_map(|o| flag_value(args, o))
        .map(|v| project.join(v))
        .collect();
    if !chosen.is_empty() {
        return chosen;
    }
    let venv_of = |p: PathBuf| -> Option<PathBuf> {
        let p = project.join(p);
        p.ancestors()
            .take(3)
            .find(|a| a.join("pyvenv.cfg").is_file())
            .map(Path::to_path_buf)
    };
    let python = flag_value(args, "--python")
        .or_else(|| flag_value(args, "-p"))
        .or_else(|| var(env, "UV_PYTHON"));
    if let Some(v) = python.and_then(|p| venv_of(PathBuf::from(p))) {
        return vec![v];
    }
    if let Some(v) = var(env, "VIRTUAL_ENV") {
        return vec![PathBuf::from(v)];
    }
    project
        .ancestors()
        .map(|d| d.join(".venv"))
        .find(|d| d.join("pyvenv.cfg").is_file())
        .into_iter()
        .collect()
}

/// What the tool's run may write besides the project, its caches of
/// [`crate::supervise::sandbox::cache_dirs`] and its temp directory (see
/// the module docs).
pub fn roots(
    kind: Kind,
    program: &Path,
    args: &[OsString],
    project: &Path,
    env: &[(OsString, OsString)],
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    match kind {
        Kind::Uv => {
            let root = uv_workspace_root(project);
            if let Some(e) = var(env, "UV_PROJECT_ENVIRONMENT") {
                out.push(root.join(e));
            }
            if has_flag(args, "--active") || var(env, "UV_ACTIVE").is_some() {
                out.extend(var(env, "VIRTUAL_ENV").map(PathBuf::from));
            }
            out.push(root);
            let mut cache: Vec<&str> = vec!["cache", "dir"];
            let c = flag_value(args, "--cache-dir");
            let c = c.as_ref().map(|c| c.to_string_lossy().into_owned());
            if let Some(c) = &c {
                cache.extend(["--cache-dir", c.as_str()]);
            }
            // Not `uv python dir`: interpreters other runs start, unconfined.
            if let Some(p) = ask(program, &cache, project, env) {
                out.push(PathBuf::from(p.trim()));
            }
        }
        Kind::Poetry => {
            if let Some(list) = ask(program, &["config", "--list", "--no-plugins"], project, env) {
                let cache = poetry_setting(&list, "cache-dir");
                let venvs = poetry_setting(&list, "virtualenvs.path");
                match (cache, venvs) {
                    // By default the virtualenvs are in the cache directory:
                    // only its caches then.
                    (Some(c), Some(v)) if v.starts_with(&c) => {
                        out.push(c.join("cache"));
                        out.push(c.join("artifacts"));
                    }
                    (Some(c), _) => out.push(c),
                    _ => {}
                }
                if !list
                    .lines()
                    .any(|l| l.replace(' ', "") == "virtualenvs.create=false")
                {
                    out.extend(tool_venv(
                        program,
                        &["env", "info", "--path", "--no-plugins"],
                        &["run", "--no-plugins"],
                        project,
                        env,
                    ));
                }
            }
            out.extend(var(env, "VIRTUAL_ENV").map(PathBuf::from));
            out.extend(virtualenv_app_data(env));
        }
        // Asked once before the resolution passes ([`pip_roots`], in `Want::extra`).
        Kind::Pip => {}
        Kind::YarnDlx => {
            out.extend(var(env, "YARN_GLOBAL_FOLDER").map(PathBuf::from));
            out.extend(var(env, "YARN_CACHE_FOLDER").map(PathBuf::from));
        }
        Kind::Pipenv => {
            let in_project = var(env, "PIPENV_VENV_IN_PROJECT")
                .is_some_and(|v| !matches!(v.to_str(), Some("0" | "false" | "False")));
            let active =
                var(env, "VIRTUAL_ENV").filter(|_| var(env, "PIPENV_IGNORE_VIRTUALENVS").is_none());
            if let Some(a) = active {
                out.push(PathBuf::from(a));
            } else if !in_project {
                let mut run = vec!["run"];
                let python = flag_value(args, "--python");
                let python = python.as_ref().map(|p| p.to_string_lossy().into_owned());
                if let Some(p) = &python {
                    run.extend(["--python", p.as_str()]);
                }
                out.extend(tool_venv(program, &["--venv"], &run, project, env));
            }
            out.extend(
                var(env, "PIPENV_CACHE_DIR")
                    .map(PathBuf::from)
                    .or_else(|| cache_home(env).map(|c| c.join("pipenv"))),
            );
            out.extend(virtualenv_app_data(env));
        }
    }
    out.retain(|p| p.is_absolute());
    // Made now (as directories), so that they can be granted.
    for p in out.iter().filter(|p| !p.exists()) {
        let _ = std::fs::create_dir_all(p);
    }
    out.sort();
    out.dedup();
    out
}

/// Runs the real tool's whole run confined as install-time code (see the
/// module docs); `Err`: the sandbox could not be set up and the policy
/// requires it (nothing ran).
pub fn run(
    launch: &crate::supervise::Launch,
    run: &ToolRun,
    want: &Want,
) -> crate::error::Result<crate::supervise::Ended> {
    match confined(launch, want, None)? {
        Some((ended, report)) => {
            run.set_report(report);
            Ok(ended)
        }
        None => crate::supervise::run(launch),
    }
}

/// A confined pass before the tool's run (pip's wheels-only resolution,
/// which already prepares an editable install's metadata): `program args`
/// confined like the run `want` describes, its output captured. `Ok(None)`:
/// not confined here (not enforce mode, or no way to capture on this
/// platform): the caller runs it as usual. `Err`: the sandbox is required
/// and cannot be set up.
pub fn captured(
    launch: &crate::supervise::Launch,
    want: &Want,
) -> crate::error::Result<Option<(bool, Vec<u8>)>> {
    #[cfg(unix)]
    {
        use crate::supervise::install_code::{Attached, ChildSlot};
        let io = |e| crate::error::Error::io("cannot capture the resolution pass's output", e);
        let null = std::fs::File::open("/dev/null").map_err(io)?;
        let out = tempfile::tempfile().map_err(io)?;
        let mut err = tempfile::tempfile().map_err(io)?;
        let attached = Attached {
            stdio: Arc::new([null.into(), out.into(), err.try_clone().map_err(io)?.into()]),
            child: Arc::new(ChildSlot::default()),
        };
        let Some((ended, _)) = confined(launch, want, Some(attached))? else {
            return Ok(None);
        };
        use std::io::{Read, Seek};
        let mut text = Vec::new();
        err.rewind().map_err(io)?;
        err.read_to_end(&mut text).map_err(io)?;
        Ok(Some((ended.code == 0, text)))
    }
    #[cfg(not(unix))]
    {
        let _ = (launch, want);
        Ok(None)
    }
}

/// Runs `launch` confined for `want` (its streams `attached`'s, else
/// pkgward's); `None`: not in enforce mode, nothing ran.
fn confined(
    launch: &crate::supervise::Launch,
    want: &Want,
    attached: Option<crate::supervise::install_code::Attached>,
) -> crate::error::Result<Option<(crate::supervise::Ended, Report)>> {
    let project = want.project.as_path();
    use crate::supervise::install_code::InstallCode;
    let mut cx = crate::supervise::sandbox::current().unwrap_or_else(|| {
        Arc::new(crate::supervise::sandbox::Context {
            mode: crate::policy::Mode::Enforce,
            policy: crate::policy::SandboxPolicy::default(),
            tool: "",
            prepared: Default::default(),
            proxy: None,
        })
    });
    if cx.mode != crate::policy::Mode::Enforce {
        return Ok(None);
    }
    // poetry's credentials file is unreadable in the run (the default one
    // is in the sandbox's own list, a moved one is added), and poetry, which
    // fails on a config file it cannot read, gets a copy of its config
    // directory without it: the credentials reach the index through the
    // proxy ([`super::auth`]).
    let mut env = launch.env.clone();
    let mut _config_copy = None;
    if want.kind == Kind::Poetry {
        let dir = var(&launch.env, "POETRY_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| config_home(&launch.env).map(|c| c.join("pypoetry")));
        if let Some(dir) = dir.filter(|d| d.join("auth.toml").exists()) {
            let mut c = (*cx).clone();
            c.policy.deny_read.push(crate::policy::Sourced::builtin(
                dir.join("auth.toml").to_string_lossy().into_owned(),
            ));
            cx = Arc::new(c);
            if let Some(copy) = poetry_config_copy(&dir) {
                env.push(("POETRY_CONFIG_DIR".into(), copy.path().into()));
                _config_copy = Some(copy);
            }
        }
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| project.to_path_buf());
    // The registry credentials go to the proxy, not into the run ([`super::auth`]).
    // A TLS index's: at the index's own origin ([`super::origin`]).
    let creds = super::auth::collect(&launch.program, &launch.args, &launch.env, project);
    let mut args = launch.args.clone();
    let at_origin = super::origin::to_origin(
        want.kind,
        &creds,
        cx.proxy.as_ref(),
        &mut args,
        &mut env,
        (&cwd, project),
    );
    let rest: Vec<super::auth::Cred> = creds
        .into_iter()
        .filter(|c| !at_origin.taken.contains(c))
        .collect();
    let mut no_creds = super::auth::to_proxy(&rest, cx.proxy.as_ref());
    no_creds.extend(at_origin.missing.iter().cloned());
    let code = InstallCode {
        program: launch.program.clone(),
        args: super::auth::strip_args(&args),
        cwd,
        env,
        sandboxed: true,
        extra_write: {
            let mut w = roots(
                want.kind,
                &launch.program,
                &launch.args,
                project,
                &launch.env,
            );
            w.extend(want.extra.iter().cloned());
            w
        },
        #[cfg(target_os = "linux")]
        trace: launch.trace.clone(),
        attached,
        project: Some(project.to_path_buf()),
    };
    let (ended, mut report) = crate::supervise::sandbox::run(&code, &cx)?;
    drop(at_origin);
    report.missing.extend(no_creds);
    Ok(Some((ended, report)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poetry_settings_are_read_resolved() {
        let list = "cache-dir = \"/h/.cache/pypoetry\"\n\
                    virtualenvs.in-project = null\n\
                    virtualenvs.path = \"{cache-dir}/virtualenvs\"  # /h/.cache/pypoetry/virtualenvs\n\
                    virtualenvs.prompt = \"{project_name}-py{python_version}\"\n";
        assert_eq!(
            poetry_setting(list, "cache-dir"),
            Some(PathBuf::from("/h/.cache/pypoetry"))
        );
        assert_eq!(
            poetry_setting(list, "virtualenvs.path"),
            Some(PathBuf::from("/h/.cache/pypoetry/virtualenvs"))
        );
        assert_eq!(poetry_setting(list, "virtualenvs.in-project"), None);
        assert_eq!(poetry_setting(list, "virtualenvs.prompt"), None);
        assert_eq!(poetry_setting(list, "nothing"), None);
    }

    #[test]
    fn uv_flags_are_read_before_the_command() {
        let a: Vec<OsString> = [
            "sync",
            "--cache-dir=/c",
            "--active",
            "--",
            "--cache-dir",
            "/x",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        assert_eq!(flag_value(&a, "--cache-dir"), Some(OsString::from("/c")));
        assert!(has_flag(&a, "--active"));
        let b: Vec<OsString> = ["run", "--", "--active"]
            .iter()
            .map(OsString::from)
            .collect();
        assert!(!has_flag(&b, "--active"));
    }

    #[test]
    fn pipenv_roots_follow_its_settings() {
        let d = tempfile::tempdir().unwrap();
        let h = d.path().join("home");
        // No pipenv to ask.
        let none = d.path().join("no-pipenv");
        let env: Vec<(OsString, OsString)> = vec![
            ("HOME".into(), h.clone().into()),
            ("XDG_DATA_HOME".into(), "".into()),
            ("XDG_CACHE_HOME".into(), "".into()),
            ("WORKON_HOME".into(), "".into()),
            ("PIPENV_CACHE_DIR".into(), "".into()),
            ("VIRTUALENV_OVERRIDE_APP_DATA".into(), "".into()),
            ("VIRTUAL_ENV".into(), "".into()),
            ("PIPENV_VENV_IN_PROJECT".into(), "".into()),
        ];
        let r = roots(Kind::Pipenv, &none, &[], d.path(), &env);
        assert_eq!(
            r,
            // Not the virtualenv home: only the project's own virtualenv,
            // which no pipenv names here.
            vec![h.join(".cache/pipenv"), h.join(".local/share/virtualenv")]
        );
        let mut env2 = env.clone();
        env2.push(("PIPENV_VENV_IN_PROJECT".into(), "1".into()));
        env2.push(("VIRTUAL_ENV".into(), d.path().join("active").into()));
        let r = roots(Kind::Pipenv, &none, &[], d.path(), &env2);
        assert!(r.contains(&d.path().join("active")), "{r:?}");
        assert!(!r.contains(&h.join(".local/share/virtualenvs")), "{r:?}");
        env2.push(("PIPENV_IGNORE_VIRTUALENVS".into(), "1".into()));
        let r = roots(Kind::Pipenv, &none, &[], d.path(), &env2);
        assert!(!r.contains(&d.path().join("active")), "{r:?}");
    }

    /// pip's roots follow its command line, its settings and the scheme of
    /// the interpreter that runs it (a stand-in here: its `#!` names a
    /// "python" that prints what [`PIP_PATHS`] would).
    #[cfg(unix)]
    #[test]
    fn pip_roots_follow_its_options_settings_and_scheme() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        let fake = |venv: u8, writable: u8, cfg: &str| {
            let py = p.join("python3");
            std::fs::write(
                &py,
                format!(
                    "#!/bin/sh\nprintf 'default\\t/e/lib\\ndefault\\t/e\\nuser\\t/u/lib\\n\
                     venv\\t{venv}\\nwritable\\t{writable}\\n{cfg}'\n"
                ),
            )
            .unwrap();
            std::fs::set_permissions(&py, std::fs::Permissions::from_mode(0o755)).unwrap();
            let pip = p.join("pip");
            std::fs::write(&pip, format!("#!{}\n", py.display())).unwrap();
            pip
        };
        let a = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let pb = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        let pip = fake(1, 1, "");
        assert_eq!(
            pip_roots(&pip, &a(&["install", "-e", "x"]), p, &[]),
            pb(&["/e/lib", "/e"])
        );
        assert_eq!(
            pip_roots(&pip, &a(&["install", "--user"]), p, &[]),
            pb(&["/u/lib"])
        );
        // Not a virtualenv, its site not writable: pip falls back to the user site.
        let pip = fake(0, 0, "");
        assert_eq!(
            pip_roots(&pip, &a(&["install"]), p, &[]),
            pb(&["/e/lib", "/e", "/u/lib"])
        );
        // pip's settings (`PIP_TARGET`, pip.conf), the command line first.
        let pip = fake(
            1,
            1,
            "cfg\\ttarget\\t/t\\ncfg\\tsrc\\tsrcdir\\ncfg\\tlog\\tlogs/pip.log\\n",
        );
        let r = pip_roots(&pip, &a(&["install", "--cache-dir=/c"]), p, &[]);
        assert_eq!(
            r,
            [
                pb(&["/t", &format!("{}/srcdir", p.display()), "/c"]),
                vec![p.join("logs/pip.log")]
            ]
            .concat()
        );
        assert!(p.join("logs/pip.log").is_file());
        let r = pip_roots(
            &pip,
            &a(&["install", "-t", "here", "--report", "-"]),
            p,
            &[],
        );
        assert_eq!(r[0], p.join("here"), "{r:?}");
    }

    #[test]
    fn a_uv_workspace_member_writes_at_the_root() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("pyproject.toml"),
            "[project]\nname = \"r\"\n[tool.uv.workspace]\nmembers = [\"m\"]\n",
        )
        .unwrap();
        let m = d.path().join("m");
        std::fs::create_dir(&m).unwrap();
        assert_eq!(uv_workspace_root(&m), d.path());
        let e = tempfile::tempdir().unwrap();
        assert_eq!(uv_workspace_root(e.path()), e.path());
    }
}
