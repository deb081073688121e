//! poetry: sdist builds — while resolving and while installing — run only
//! when approved (`scripts.default = "deny"`, enforce mode).
//!
//! What poetry (checked against 2.5) does with sdists:
//!
//! * **Resolving** (`lock`, `add`, `update`, `install`/`sync` without a
//!   lock, `self …`, `show --outdated`): metadata comes from a wheel when a
//!   release has one; for an sdist-only release poetry downloads the sdist
//!   and reads `PKG-INFO`, and when that does not list the requirements
//!   (metadata older than 2.2 without `Requires-Dist`, or `Requires-Dist`
//!   dynamic) it builds the sdist's metadata in an isolated environment —
//!   the package's backend / `setup.py` runs
//!   (`poetry.inspection.info.get_pep517_metadata`). Git, url and path
//!   dependencies are read the same way. No poetry setting turns this off:
//!   `installer.only-binary` is read by the installer's `Chooser` only.
//! * **Installing**: the `Chooser` picks a file per locked package.
//!   Precedence (`poetry/installation/chooser.py`): an sdist is skipped when
//!   `installer.only-binary` names the package exactly, or is `:all:` and
//!   `installer.no-binary` does not name it exactly; a wheel is skipped when
//!   `no-binary` names the package exactly, or is `:all:` and `only-binary`
//!   does not name it exactly. So `only-binary = :all:` + `no-binary = X`
//!   means "X from source only" (X's wheels are refused), not "wheels only
//!   except X"; a *list* of names in `only-binary` is the only "wheels
//!   only, except" form (the names not listed may use either, wheels
//!   preferred). Both are read from `POETRY_INSTALLER_*` first (it beats
//!   `poetry.toml` and the user's `config.toml`).
//!
//! So pkgward does three things for poetry's run ([`setup`]):
//!
//! 1. **The build guard** ([`GUARD`], a `sitecustomize` first on
//!    `PYTHONPATH`, configured through `PKGWARD_POETRY_GUARD`): every PEP 517
//!    backend call poetry makes goes through `pyproject_hooks`'
//!    `BuildBackendHookCaller._call_hook`; the guard decides each one before
//!    the backend's process starts. Every identity of the package (the
//!    sdist file poetry downloaded — the index's name for it —, `PKG-INFO`,
//!    `pyproject.toml`) must be approved at that version (`pypi:NAME`,
//!    `pypi:NAME@RANGE`), else poetry is ended at once (exit 77) and the
//!    denial reported; approved calls are reported with their outcome and
//!    duration. The project poetry runs for is not decided (building it is
//!    what the user asked for). This holds for resolution, installation,
//!    build requirements, git/url/path dependencies and whatever config
//!    makes poetry try a build. After the run, pkgward writes the `script`
//!    records ([`after`]); a run in which the guard did not load is refused.
//! 2. **Wheels only in the installer**: `POETRY_INSTALLER_ONLY_BINARY` =
//!    `:all:` — or, installing from `poetry.lock` with approvals, the list
//!    of locked packages minus the approved ones (exact names beat any
//!    `no-binary`); resolving with approvals, the user's setting (the guard
//!    decides). `POETRY_INSTALLER_NO_BINARY=:none:` overrides every
//!    `installer.no-binary` (config, `poetry.toml`, environment).
//! 3. **The lock, before the run** ([`before`]): installing from
//!    `poetry.lock`, each locked package of the dependency groups the
//!    install selects ([`Groups`]: `--with`/`--without`/`--only`/
//!    `--all-groups`, the project's optional groups) that can only be built
//!    (registry packages with no wheel; git, url, sdist-file and directory
//!    ones) is decided at its locked version (environment markers are not
//!    evaluated: a package locked for another platform is decided too; the
//!    guard decides whatever poetry does build); an unapproved one denies the
//!    invocation before anything is installed, with the command that
//!    approves each.
//!
//! The approved builds run inside poetry's run: when it may build one
//! (resolving, or a locked package that can only be built is approved),
//! that whole run is confined as install-time code
//! ([`super::python::confine`]) and the records say which layers were in
//! force. `poetry self …` (it writes to poetry's own installation) is not
//! confined: its approved builds are recorded in `sandbox.missing`, and
//! under `[sandbox] require = true` the guard refuses them (exit 78).

use std::path::{Path, PathBuf};

use crate::classify::Verb;
use crate::policy::Policy;
use crate::tools::Ecosystem;

use super::python::build_record as record;
use super::python::confine::{Kind, ToolRun as Confine, Want};
use super::{ScriptDecision, Setup};

/// The guard, written to pkgward's state directory as `sitecustomize.py`.
pub const GUARD: &str = include_str!("poetry_guard.py");

/// The variable that configures [`GUARD`].
pub const GUARD_VAR: &str = "PKGWARD_POETRY_GUARD";

/// poetry's options that take a value (global and per-command).
const VALUE_OPTS: &[&str] = crate::classify::POETRY_VALUE_OPTS;

/// Subcommands the guard is on for, besides the installing ones: they may
/// resolve (`self …`, `show --outdated`) or install build requirements
/// (`build`).
const ALSO_GUARDED: &[&str] = &["self", "show", "build"];

/// The plugins a project requires (`[tool.poetry.requires-plugins]`):
/// poetry installs them into the project's `.poetry/plugins` and loads them
/// into its own process on every command.
pub fn required_plugins(pyproject: &str) -> Vec<String> {
    let Ok(t) = pyproject.parse::<toml::Table>() else {
        return Vec::new();
    };
    t.get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(|t| t.get("requires-plugins"))
        .and_then(|t| t.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// Before any poetry command: the project's required plugins are code poetry
/// fetches and runs in its own process (fetch-and-execute), so each must be
/// approved by name (`pypi:NAME`), unless `scripts.exec = "allow"` or the
/// command says `--no-plugins`.
pub fn plugin_violations(
    policy: &Policy,
    args: &[String],
    cwd: &Path,
) -> Vec<crate::record::Reason> {
    if policy.scripts_exec.value == crate::policy::ScriptsExec::Allow {
        return Vec::new();
    }
    let own = args
        .iter()
        .position(|a| a == "--")
        .map_or(args, |i| &args[..i]);
    if own.iter().any(|a| a == "--no-plugins") {
        return Vec::new();
    }
    let Some(dir) = project_dir(args, cwd, &|p: &Path| p.is_file()) else {
        return Vec::new();
    };
    let path = dir.join("pyproject.toml");
    if !std::fs::metadata(&path).is_ok_and(|m| m.len() < 16 << 20) {
        return Vec::new();
    }
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    required_plugins(&text)
        .into_iter()
        .filter(|n| policy.approves_name(Ecosystem::Pypi, n).is_none())
        .map(|n| crate::record::Reason {
            code: super::exec::CODE.to_string(),
            message: format!(
                "`poetry` installs the plugin pypi:{n} that {} requires \
                 (`[tool.poetry.requires-plugins]`) and runs it inside poetry, which \
                 `scripts.allow` does not approve (`scripts.exec = \"deny\"`); approve it with \
                 `pkgward approve pypi:{n}`, or run poetry with `--no-plugins`",
                path.display()
            ),
            origin: None,
        })
        .collect()
}

/// One package of `poetry.lock`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Locked {
    pub name: String,
    pub version: String,
    /// `[package.source] type` (`None`: the default index; `legacy`: a
    /// named index).
    pub source: Option<String>,
    /// Whether `files` lists a wheel.
    pub wheel: bool,
    /// Whether `files` lists anything.
    pub files: bool,
    /// The source URL (git, url, file, directory), for messages.
    pub url: Option<String>,
    /// Its dependency groups (`groups`, poetry 2's lock; empty: not said).
    pub groups: Vec<String>,
}

/// The dependency groups a `poetry install` / `sync` installs (poetry's
/// `--with`, `--without`, `--only`, `--all-groups`; the groups the project
/// marks `optional = true` only when named in `--with`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Groups {
    only: Vec<String>,
    with: Vec<String>,
    without: Vec<String>,
    all: bool,
    optional: Vec<String>,
}

impl Groups {
    pub fn parse(args: &[String], pyproject: &str) -> Groups {
        let mut g = Groups::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--" {
                break;
            }
            if a == "--all-groups" {
                g.all = true;
                continue;
            }
            let (k, v) = match a.split_once('=') {
                Some((k, v)) if a.starts_with("--") => (k, Some(v.to_string())),
                _ => (a.as_str(), None),
            };
            let list = match k {
                "--only" => &mut g.only,
                "--with" => &mut g.with,
                "--without" => &mut g.without,
                _ => continue,
            };
            if let Some(v) = v.or_else(|| it.next().cloned()) {
                list.extend(
                    v.split(',')
                        .map(|s| crate::tools::pep503(s.trim()))
                        .filter(|s| !s.is_empty()),
                );
            }
        }
        if let Ok(t) = pyproject.parse::<toml::Table>() {
            if let Some(groups) = t
                .get("tool")
                .and_then(|t| t.get("poetry"))
                .and_then(|t| t.get("group"))
                .and_then(|t| t.as_table())
            {
                g.optional = groups
                    .iter()
                    .filter(|(_, v)| v.get("optional").and_then(|o| o.as_bool()) == Some(true))
                    .map(|(k, _)| crate::tools::pep503(k))
                    .collect();
            }
        }
        g
    }

    fn selects(&self, group: &str) -> bool {
        let g = crate::tools::pep503(group);
        if self.all {
            return true;
        }
        if !self.only.is_empty() {
            return self.only.contains(&g);
        }
        if self.without.contains(&g) {
            return false;
        }
        !self.optional.contains(&g) || self.with.contains(&g)
    }

    /// Whether a locked package of these groups is installed (one whose
    /// lock entry names none is).
    pub fn installs(&self, groups: &[String]) -> bool {
        groups.is_empty() || groups.iter().any(|g| self.selects(g))
    }
}

impl Locked {
    /// Whether it is the project's own code (a `directory` or `file`
    /// source: a path), approved only by `pypi:NAME@local`.
    pub fn local(&self) -> bool {
        matches!(self.source.as_deref(), Some("directory" | "file"))
    }

    /// Whether installing it can only be done by building it.
    pub fn needs_build(&self) -> bool {
        match self.source.as_deref() {
            None | Some("legacy") => self.files && !self.wheel,
            Some("file" | "url") => !self
                .url
                .as_deref()
                .is_some_and(|u| u.to_ascii_lowercase().ends_with(".whl")),
            Some(_) => true,
        }
    }
}

/// The packages of a `poetry.lock` (an unreadable one: none).
pub fn parse_lock(text: &str) -> Vec<Locked> {
    let Ok(t) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let Some(pkgs) = t.get("package").and_then(|p| p.as_array()) else {
        return Vec::new();
    };
    pkgs.iter()
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?.to_string();
            let version = p
                .get("version")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            let files: Vec<&str> = p
                .get("files")
                .and_then(|f| f.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.get("file").and_then(|f| f.as_str()))
                        .collect()
                })
                .unwrap_or_default();
            let source = p.get("source");
            Some(Locked {
                name,
                version,
                source: source
                    .and_then(|s| s.get("type"))
                    .and_then(|s| s.as_str())
                    .map(str::to_string),
                wheel: files
                    .iter()
                    .any(|f| f.to_ascii_lowercase().ends_with(".whl")),
                files: !files.is_empty(),
                url: source
                    .and_then(|s| s.get("url"))
                    .and_then(|s| s.as_str())
                    .map(str::to_string),
                groups: p
                    .get("groups")
                    .and_then(|g| g.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|g| g.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// poetry's subcommand (the first word that is not an option or an
/// option's value).
pub fn subcommand(args: &[String]) -> Option<&str> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            return it.next().map(String::as_str);
        }
        if a.starts_with('-') && a.len() > 1 {
            if !a.contains('=') && VALUE_OPTS.contains(&a.as_str()) {
                it.next();
            }
            continue;
        }
        return Some(a);
    }
    None
}

/// The project directory poetry uses: `-C/--directory`, then `-P/--project`
/// relative to it (or the working directory), then the nearest directory
/// upward with a `pyproject.toml` (`exists` tells).
pub fn project_dir(args: &[String], cwd: &Path, exists: &dyn Fn(&Path) -> bool) -> Option<PathBuf> {
    let mut dir = cwd.to_path_buf();
    let mut project: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let (k, v) = match a.split_once('=') {
            Some((k, v)) if a.starts_with("--") => (k, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        match k {
            "-C" | "--directory" => {
                if let Some(v) = v.or_else(|| it.next().cloned()) {
                    dir = dir.join(v);
                }
            }
            "-P" | "--project" => project = v.or_else(|| it.next().cloned()),
            _ if a.starts_with('-') && VALUE_OPTS.contains(&k) && v.is_none() => {
                it.next();
            }
            _ => {}
        }
    }
    let start = match project {
        Some(p) => dir.join(p),
        None => dir,
    };
    start
        .ancestors()
        .find(|d| exists(&d.join("pyproject.toml")))
        .map(Path::to_path_buf)
}

/// The `POETRY_INSTALLER_ONLY_BINARY` value: `:all:` without a lock to
/// install from or without approvals; else the locked packages the policy
/// does not approve (at their locked version), comma-separated — exact
/// names, which no `no-binary` overrides. `None`: leave the user's setting
/// (resolving with approvals: the guard decides each build).
pub fn only_binary(
    locked: Option<&[Locked]>,
    approvals: bool,
    approved: &dyn Fn(&str, &str) -> bool,
) -> Option<String> {
    if !approvals {
        return Some(":all:".into());
    }
    let locked = locked?;
    let mut names: Vec<String> = locked
        .iter()
        .filter(|p| !approved(&p.name, &p.version))
        .map(|p| crate::tools::pep503(&p.name))
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        // Every locked package is approved: no sdist is refused; `:none:`
        // overrides a stricter user setting no more than an empty list.
        return Some(":none:".into());
    }
    Some(names.join(","))
}

/// What the guard needs: the report file, the project poetry runs for, the
/// PyPI approvals (name, range, how `approved_by` says it) and whether
/// approved builds are refused all the same (they cannot be confined, and
/// the policy requires the sandbox).
pub fn guard_config(
    report: &Path,
    project: Option<&Path>,
    policy: &Policy,
    require_sandbox: bool,
) -> String {
    let approvals: Vec<serde_json::Value> = policy
        .allow_entries()
        .filter(|(e, _)| e.ecosystem == Ecosystem::Pypi)
        .map(|(e, origin)| {
            let value = match (e.range, e.local) {
                (_, true) => format!("pypi:{}@{}", e.name, crate::policy::LOCAL),
                (Some(r), _) => format!("pypi:{}@{r}", e.name),
                (None, _) => format!("pypi:{}", e.name),
            };
            serde_json::json!({
                "name": e.name,
                "range": e.range,
                "local": e.local,
                "by": match origin {
                    Some(o) => format!("{value} ({o})"),
                    None => value,
                },
            })
        })
        .collect();
    serde_json::json!({
        "report": report.to_string_lossy(),
        "project": project.map(|p| p.to_string_lossy()),
        "approvals": approvals,
        "require_sandbox": require_sandbox,
    })
    .to_string()
}

/// What pkgward does around one poetry run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub sub: String,
    /// The private directory of this run's report (created by [`before`],
    /// removed by [`after`]).
    pub dir: PathBuf,
    /// The guard's directory (holds `sitecustomize.py`); `None`: it could
    /// not be written, and the run is refused.
    pub guard: Option<PathBuf>,
    /// `poetry.lock`'s packages, when installing from it.
    pub locked: Option<Vec<Locked>>,
    pub args: Vec<String>,
    /// Whether poetry's run is confined, and what confined it.
    pub confine: Confine,
}

impl Plan {
    fn report(&self) -> PathBuf {
        self.dir.join("report.jsonl")
    }
}

/// Writes [`GUARD`] to pkgward's state directory (once; 0644), returning
/// its directory.
fn guard_dir() -> Option<PathBuf> {
    let dir = crate::paths::state_dir()?
        .join("scripts")
        .join("poetry-guard");
    let file = dir.join("sitecustomize.py");
    if std::fs::read_to_string(&file).ok().as_deref() == Some(GUARD) {
        return Some(dir);
    }
    std::fs::create_dir_all(&dir).ok()?;
    let tmp = dir.join(format!("sitecustomize.{}.tmp", std::process::id()));
    std::fs::write(&tmp, GUARD).ok()?;
    std::fs::rename(&tmp, &file).ok()?;
    Some(dir)
}

/// A fresh, not yet created, private directory name for one run's report.
fn run_dir() -> PathBuf {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("pkgward-poetry-{}-{nanos:x}", std::process::id()))
}

/// The setup of a poetry run under wheels-only (see the module docs);
/// `None`: a subcommand that neither resolves nor installs (`run`,
/// `config`, `env`, …).
pub fn setup(verb: Verb, args: &[String], policy: &Policy) -> Option<Setup> {
    let sub = subcommand(args)?.to_string();
    if verb != Verb::Install && !ALSO_GUARDED.contains(&sub.as_str()) {
        return None;
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let project = project_dir(args, &cwd, &|p: &Path| p.is_file());
    let project = project.map(|p| std::fs::canonicalize(&p).unwrap_or(p));
    let approvals = policy
        .allow_entries()
        .any(|(e, _)| e.ecosystem == Ecosystem::Pypi);
    // Installing from the lock (poetry does not resolve when it is current).
    let only_root = args.iter().any(|a| a == "--only-root");
    let locked = if matches!(sub.as_str(), "install" | "sync") && !only_root {
        project
            .as_deref()
            .map(|p| p.join("poetry.lock"))
            .filter(|l| std::fs::metadata(l).is_ok_and(|m| m.is_file() && m.len() < 64 << 20))
            .and_then(|l| std::fs::read_to_string(l).ok())
            .map(|t| parse_lock(&t))
            .map(|mut l| {
                // Only what this install installs: the packages of the
                // dependency groups it selects.
                let pyproject = project
                    .as_deref()
                    .and_then(|p| std::fs::read_to_string(p.join("pyproject.toml")).ok())
                    .unwrap_or_default();
                let groups = Groups::parse(args, &pyproject);
                l.retain(|p| groups.installs(&p.groups));
                l
            })
    } else {
        None
    };
    let approved = |n: &str, v: &str| policy.approval_for(Ecosystem::Pypi, n, v, false).is_some();
    let mut env = Vec::new();
    if let Some(v) = only_binary(locked.as_deref(), approvals, &approved) {
        env.push(("POETRY_INSTALLER_ONLY_BINARY".to_string(), v));
    }
    env.push((
        "POETRY_INSTALLER_NO_BINARY".to_string(),
        ":none:".to_string(),
    ));
    let dir = run_dir();
    let guard = guard_dir();
    if let Some(g) = &guard {
        let mut path = g.to_string_lossy().into_owned();
        if let Some(old) = std::env::var_os("PYTHONPATH").filter(|v| !v.is_empty()) {
            path.push(if cfg!(windows) { ';' } else { ':' });
            path.push_str(&old.to_string_lossy());
        }
        env.push(("PYTHONPATH".to_string(), path));
    }
    // Approved builds run inside poetry's run, which is then confined as a
    // whole ([`super::python::confine`]) — not `poetry self …`, which
    // writes to poetry's own installation: there the guard refuses them
    // where the policy requires the sandbox.
    let confined = super::confines(policy, ScriptDecision::Approved);
    let confine = Confine::default();
    let builds = match &locked {
        Some(l) => l
            .iter()
            .any(|p| p.needs_build() && approved(&p.name, &p.version)),
        None => true,
    };
    if approvals && confined && builds && sub != "self" {
        // The guard reports into pkgward's directory for this run.
        confine.want(Want {
            kind: Kind::Poetry,
            project: project.clone().unwrap_or_else(|| cwd.clone()),
            extra: vec![dir.clone()],
        });
    }
    let require = policy.sandbox.require.value && confined && confine.wanted().is_none();
    env.push((
        GUARD_VAR.to_string(),
        guard_config(
            &dir.join("report.jsonl"),
            project.as_deref(),
            policy,
            require,
        ),
    ));
    Some(Setup {
        env,
        disables_builds: verb == Verb::Install,
        build: Some(super::Build::Poetry(Plan {
            sub,
            dir,
            guard,
            locked,
            args: args.to_vec(),
            confine,
        })),
        ..Setup::default()
    })
}

fn build_command(name: &str, version: &str) -> String {
    format!("build the sdist of {name} {version} (its PEP 517 backend / setup.py), by poetry in its own run")
}

/// The denial of builds the policy does not approve (name, version,
/// whether it is the project's own code).
pub fn denial(policy: &Policy, sub: &str, found: &[(String, String, bool)]) -> String {
    let list: Vec<String> = found
        .iter()
        .map(|(n, v, local)| {
            format!(
                "{n} {v}\n  approve: {}",
                super::approve_hint(policy, Ecosystem::Pypi, n, v, *local)
            )
        })
        .collect();
    format!(
        "`poetry {sub}` needs to build from source (the package's setup.py / PEP 517 backend, \
         install-time code), and `[scripts]` does not approve it (wheels only under \
         `scripts.default = \"deny\"`):\n  {}\n(poetry then builds it in its run, traced)",
        list.join("\n  ")
    )
}

/// Before poetry runs: the guard must be in place (its report directory is
/// created, private), and installing from `poetry.lock`, every locked
/// package that can only be built must be approved at its locked version.
pub fn before(
    plan: &Plan,
    policy: &Policy,
    invocation_id: &str,
    log: &mut Option<crate::record::AuditLog>,
    notice: &mut dyn FnMut(String),
) -> crate::error::Result<()> {
    if plan.guard.is_none() {
        return Err(crate::error::Error::Config(
            "pkgward cannot write its poetry build guard to its state directory, so poetry's \
             builds could not be decided; poetry was not run"
                .into(),
        ));
    }
    if let Some(locked) = &plan.locked {
        let mut denied = Vec::new();
        for p in locked.iter().filter(|p| p.needs_build()) {
            let (decision, _) = super::decide(
                policy,
                policy.mode.value,
                Ecosystem::Pypi,
                &p.name,
                &p.version,
                p.local(),
            );
            if decision.runs() {
                continue;
            }
            let mut rec = record(
                invocation_id,
                &p.name,
                &p.version,
                decision,
                None,
                build_command(&p.name, &p.version),
            );
            if let Some(u) = &p.url {
                rec.command.push_str(&format!(" from {u}"));
            }
            super::append(log, &rec, notice);
            denied.push((p.name.clone(), p.version.clone(), p.local()));
        }
        if !denied.is_empty() {
            return Err(crate::error::Error::Denied {
                message: denial(policy, &plan.sub, &denied),
            });
        }
    }
    let io = |e: std::io::Error| crate::error::Error::Io {
        context: format!(
            "cannot create the report directory of pkgward's poetry build guard ({})",
            plan.dir.display()
        ),
        source: e,
    };
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    #[cfg(not(unix))]
    let _ = &mut b;
    b.create(&plan.dir).map_err(io)?;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(plan.report()).map_err(io)?;
    Ok(())
}

/// One line of the guard's report.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct Event {
    pub event: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub hook: String,
    #[serde(default)]
    pub approved_by: Option<String>,
    #[serde(default)]
    pub ok: bool,
    #[serde(default)]
    pub ms: f64,
    /// The build is of the project's own code (a path dependency).
    #[serde(default)]
    pub local: bool,
}

/// The report's events (lines that do not parse are skipped).
pub fn parse_report(text: &str) -> Vec<Event> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// One package's approved build, from the report's events.
#[derive(Clone, Debug, PartialEq)]
pub struct Built {
    pub name: String,
    pub version: String,
    pub approved_by: Option<String>,
    pub hooks: Vec<String>,
    pub ok: bool,
    pub ms: f64,
}

/// What the report says: whether the guard loaded, the approved builds
/// (one per package and version, in order), the refused ones (name,
/// version), and whether a refusal was for the sandbox requirement.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub loaded: bool,
    pub built: Vec<Built>,
    /// (name, version, whether it is the project's own code).
    pub denied: Vec<(String, String, bool)>,
    pub unconfinable: Vec<(String, String, bool)>,
    /// A poetry older than 2 (the guard refused to run it).
    pub unsupported: Option<String>,
}

pub fn summarize(events: &[Event]) -> Summary {
    let mut s = Summary::default();
    for e in events {
        match e.event.as_str() {
            "guard" => s.loaded = true,
            "unsupported" => s.unsupported = Some(e.version.clone()),
            "deny" | "unconfinable" => {
                let key = (e.name.clone(), e.version.clone(), e.local);
                let list = if e.event == "deny" {
                    &mut s.denied
                } else {
                    &mut s.unconfinable
                };
                if !list.contains(&key) {
                    list.push(key);
                }
            }
            "build" => {
                let key = crate::tools::pep503(&e.name);
                match s
                    .built
                    .iter_mut()
                    .find(|b| crate::tools::pep503(&b.name) == key && b.version == e.version)
                {
                    Some(b) => {
                        b.ok &= e.ok;
                        b.ms += e.ms;
                        if !b.hooks.contains(&e.hook) {
                            b.hooks.push(e.hook.clone());
                        }
                    }
                    None => s.built.push(Built {
                        name: e.name.clone(),
                        version: e.version.clone(),
                        approved_by: e.approved_by.clone(),
                        hooks: vec![e.hook.clone()],
                        ok: e.ok,
                        ms: e.ms,
                    }),
                }
            }
            _ => {}
        }
    }
    s
}

/// After poetry's run: the `script` records of what the guard allowed and
/// refused; the exit code (77 when it refused a build, 78 when the sandbox
/// requirement refused one, or when the guard did not load).
pub fn after(
    plan: &Plan,
    cx: &super::Context<'_>,
    code: i32,
    log: &mut Option<crate::record::AuditLog>,
    notice: &mut dyn FnMut(String),
) -> i32 {
    let text = std::fs::read_to_string(plan.report()).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&plan.dir);
    let s = summarize(&parse_report(&text));
    let mut runner = vec!["poetry".to_string()];
    runner.extend(plan.args.iter().cloned());
    let confined = super::confines(cx.policy, ScriptDecision::Approved);
    for b in &s.built {
        let mut rec = record(
            cx.invocation_id,
            &b.name,
            &b.version,
            ScriptDecision::Approved,
            b.approved_by.clone(),
            format!(
                "{} (backend hooks: {})",
                build_command(&b.name, &b.version),
                b.hooks.join(", ")
            ),
        );
        rec.ran = true;
        rec.exit_code = Some(if b.ok { 0 } else { 1 });
        rec.duration_ms = Some(b.ms);
        rec.runner = Some(runner.clone());
        if confined {
            rec.sandbox = Some(
                plan.confine
                    .record("poetry builds the sdist inside its own run"),
            );
        }
        super::append(log, &rec, notice);
        if confined && plan.confine.report().is_none() {
            notice(format!(
                "poetry built the approved sdist of {} {} in its own run: traced and through the \
                 egress proxy, but not confined (`[sandbox] require = true` refuses this instead)",
                b.name, b.version
            ));
        }
    }
    for (n, v, _) in &s.denied {
        let rec = record(
            cx.invocation_id,
            n,
            v,
            ScriptDecision::Deny,
            None,
            build_command(n, v),
        );
        super::append(log, &rec, notice);
    }
    for (n, v, _) in &s.unconfinable {
        let mut rec = record(
            cx.invocation_id,
            n,
            v,
            ScriptDecision::Deny,
            None,
            build_command(n, v),
        );
        rec.error = Some("[sandbox] require = true: the build cannot be confined".into());
        super::append(log, &rec, notice);
    }
    if !s.denied.is_empty() {
        notice(format!(
            "denied: {}",
            denial(cx.policy, &plan.sub, &s.denied)
        ));
        return crate::error::exit::DENIED;
    }
    if let Some((n, ..)) = s.unconfinable.first() {
        notice(format!(
            "denied: `poetry {}` would build the approved sdist of {n} inside poetry's own run, \
             which pkgward traces but cannot confine, and [sandbox] require = true; lift the \
             requirement, or install it with pip (built confined by pkgward)",
            plan.sub
        ));
        return crate::error::exit::CONFIG;
    }
    if let Some(v) = &s.unsupported {
        notice(format!(
            "error: poetry {v} is older than poetry 2, whose builds pkgward decides in its run; \
             it was not run (upgrade poetry, or change `[scripts]` in the policy)"
        ));
        return crate::error::exit::CONFIG;
    }
    if !s.loaded {
        notice(format!(
            "error: pkgward's poetry build guard did not load in poetry's run (poetry's Python \
             ignores PYTHONPATH: -E/-I/-S?), so builds were not decided; the run counts as failed \
             (exit code {})",
            crate::error::exit::CONFIG
        ));
        return crate::error::exit::CONFIG;
    }
    code
}

#[cfg(test)]
#[path = "poetry_tests.rs"]
mod tests;
