//! pip, uv, poetry, pipenv, pipx: building an sdist runs its build backend
//! (`setup.py`, any PEP 517 backend) — install-time code, also while
//! resolving and in dry runs. Under the default `scripts.default = "deny"`
//! in enforce mode they get wheels only:
//!
//! * pip: `--only-binary=:all:` appended after the user's own arguments
//!   (pip applies format options in order and `:all:` clears any earlier
//!   `--no-binary`), then `-r <pkgward's file>` whose only line is
//!   `--only-binary :all:`: a requirements file's own `--no-binary X` or
//!   `--only-binary :none:` lines change pip's format control *after* the
//!   command line, and requirement files are read in order, so pkgward's
//!   comes last. Plus `PIP_ONLY_BINARY=:all:` for pip processes the tool
//!   starts itself;
//! * `uv pip install|sync|compile`: `--no-build` (these do not read
//!   `UV_NO_BUILD`); every other uv command and uvx: `UV_NO_BUILD=1`. uv
//!   builds a package marked no-binary even then, so any no-binary setting
//!   (command line, environment, requirement files, uv config) is refused
//!   before uv runs ([`uv_violations`]);
//! * poetry: its builds decided in its own run ([`super::poetry`]); pipenv and pipx run pip:
//!   `PIP_ONLY_BINARY=:all:` (and `UV_NO_BUILD=1`).
//!
//! Neither pip nor uv can say "wheels only, except that this package may
//! also build its sdist": `--no-binary NAME` / `--no-binary-package NAME`
//! mean "NAME from source", which breaks NAME wherever only a wheel exists.
//! So the real tool always stays wheels-only, and pkgward builds approved
//! sdists itself ([`prebuild`], pip `install`/`download`/`wheel` and `uv
//! pip install`): a wheels-only resolution pass (the same command as a dry
//! run, output captured, no package code runs) names the package only an
//! sdist provides; pkgward picks its version (the one uv names, or the
//! highest `pip index versions` lists that the requirement allows),
//! decides it ([`super::decide`], approval ranges included), and builds
//! just that version with `pip wheel --no-deps --no-binary NAME
//! --only-binary=:all:` through [`crate::supervise::install_code`] into a
//! private per-invocation wheelhouse; then resolves again, until nothing
//! needs a build (for uv the builder is the real pip on PATH, given uv's
//! index settings from the command line and `UV_*` variables). The real
//! tool runs wheels-only with `--find-links <wheelhouse>`. pip's approved
//! direct references are built the same way first ([`direct`]); an
//! approved editable one builds in pip's own run, which (with the
//! resolution passes, which prepare its metadata) is then confined as a
//! whole ([`confine`], `Kind::Pip`). So is a run building a local directory
//! (`pip install .`, `-e ./pkg`, `uv pip install .`: [`local`]), decided
//! first as `pypi:NAME@local` — under `scripts.default = "sandbox"` and in
//! audit mode too ([`local_setup`]). An unapproved sdist-only package denies the invocation
//! (a `script` record with decision `deny`, and the `pkgward approve
//! pypi:NAME@VERSION` command). Without any PyPI approval no pass runs
//! before the tool; when it fails, the same pass explains why
//! ([`explain_failure`]). `uv add`/`remove` are checked on a private copy
//! of the project before uv edits it (`uv_edit`, always, approvals or
//! not); uvx and pipx stay wheels-only (poetry: [`super::poetry`], pipenv:
//! [`super::pipenv`]);
//! `scripts.default = "allow"` or `"sandbox"` lifts
//! wheels-only for every package.
//!
//! `uv sync` / `uv lock` / `uv run` (its sync: the pass is `uv sync` with
//! the run's options, pkgward's go right after `run`;
//! [`Resolver::UvProject`]): `uv.lock` pins artifact
//! hashes, so uv builds the approved sdists itself. A wheels-only dry run
//! (captured) names each sdist uv would build — installing from the lock
//! (``Distribution `NAME==VERSION …` … marked as `--no-build` ``, the next
//! pass skips it with `--no-install-package`) or resolving (`Wheels are
//! required for NAME`). The real run keeps `UV_NO_BUILD=1` and gets
//! `--no-binary-package NAME` for exactly the approved ones (a per-package
//! setting beats `--no-build` for that package alone, uv's `BuildOptions`).
//! Versions: from the lock, the locked version is decided and uv gets
//! `--locked` (unless frozen), so uv resolves nothing and builds that
//! version only; resolving, uv may build any version it considers, so only
//! an approval without a range counts. The build runs inside uv's run,
//! which is then confined as a whole, as install-time code ([`confine`]);
//! records (with the layers in force) are written after the run
//! ([`Prebuilt::record_after`]). A resolution needing
//! a second sdist shows it only in the real (wheels-only, failing) run.

use std::path::{Path, PathBuf};

use crate::classify::Verb;
use crate::record::Reason;
use crate::tools::Tool;

use super::Setup;

pub mod auth;
pub mod confine;
mod direct;
mod local;
pub mod origin;
mod uv_edit;

/// pip's subcommands that resolve and may build.
const PIP_BUILDING: [&str; 3] = ["install", "download", "wheel"];

pub(super) fn setup(
    tool: Tool,
    verb: Verb,
    args: &[String],
    cwd: &Path,
    policy: &crate::policy::Policy,
) -> Option<Setup> {
    // A local directory to build is decided before the tool runs, approved
    // or not ([`prebuild`]).
    let approvals = policy
        .allow_entries()
        .any(|(e, _)| e.ecosystem == crate::tools::Ecosystem::Pypi)
        || !local_builds(tool.name, args, cwd).is_empty();
    match tool.name {
        "pip" | "pip3" => {
            let sub = pip_sub(args)?;
            let mut insert_args = vec!["--only-binary=:all:".to_string()];
            if let Some(f) = only_binary_file() {
                insert_args.push("-r".into());
                insert_args.push(f.to_string_lossy().into_owned());
            }
            Some(Setup {
                env: vec![("PIP_ONLY_BINARY".into(), ":all:".into())],
                insert_args,
                insert_at: args.len(),
                after: None,
                disables_builds: true,
                python: Some(Prebuild {
                    resolver: Resolver::Pip(sub),
                    approvals,
                    confine: Default::default(),
                    wheels_only: true,
                }),
                build: None,
                in_tool: false,
                broker: None,
            })
        }
        "uv" => {
            let words: Vec<&str> = args
                .iter()
                .map(String::as_str)
                .filter(|a| !a.starts_with('-'))
                .take(2)
                .collect();
            let env = vec![("UV_NO_BUILD".to_string(), "1".to_string())];
            match words.as_slice() {
                ["pip", "install" | "sync" | "compile", ..] => Some(Setup {
                    env,
                    insert_args: if args.iter().any(|a| a == "--no-build") {
                        Vec::new()
                    } else {
                        vec!["--no-build".into()]
                    },
                    insert_at: args.iter().position(|a| a == "--").unwrap_or(args.len()),
                    after: None,
                    disables_builds: true,
                    python: (words.get(1) == Some(&"install")).then(|| Prebuild {
                        resolver: Resolver::UvPip,
                        approvals,
                        confine: Default::default(),
                        wheels_only: true,
                    }),
                    build: None,
                    in_tool: false,
                    broker: None,
                }),
                // Building the user's own project is what they asked for.
                ["build" | "publish", ..] => None,
                _ => Some(Setup {
                    env,
                    disables_builds: verb != Verb::Other,
                    python: uv_project_sub(args).map(|sub| Prebuild {
                        resolver: Resolver::UvProject(sub),
                        // `uv add` / `uv remove` are checked before uv edits
                        // the project, approvals or not (uv_edit).
                        approvals: approvals || matches!(sub, "add" | "remove"),
                        confine: Default::default(),
                        wheels_only: true,
                    }),
                    ..Setup::default()
                }),
            }
        }
        "uvx" => Some(Setup {
            env: vec![("UV_NO_BUILD".into(), "1".into())],
            disables_builds: true,
            ..Setup::default()
        }),
        "poetry" => super::poetry::setup(verb, args, policy),
        "pipenv" if verb != Verb::Other => super::pipenv::setup(args, policy),
        "pipx" => Some(Setup {
            env: vec![
                ("POETRY_INSTALLER_ONLY_BINARY".into(), ":all:".into()),
                ("PIP_ONLY_BINARY".into(), ":all:".into()),
                ("UV_NO_BUILD".into(), "1".into()),
            ],
            disables_builds: verb != Verb::Other,
            ..Setup::default()
        }),
        _ => None,
    }
}

/// pip's subcommand when it is one that builds.
fn pip_sub(args: &[String]) -> Option<&'static str> {
    let sub = args.iter().find(|a| !a.starts_with('-'))?;
    PIP_BUILDING.iter().find(|s| **s == sub.as_str()).copied()
}

/// Where builds are not switched off (`scripts.default = "sandbox"`, audit
/// mode), pip still builds a local directory in its own run: decided the
/// same way ([`prebuild`] with `wheels_only` false: recorded, and confined
/// as a whole when the decision says so). `None`: none to build, or every
/// one simply allowed (`scripts.default = "allow"`).
pub(super) fn local_setup(
    tool: Tool,
    args: &[String],
    cwd: &Path,
    policy: &crate::policy::Policy,
) -> Option<Setup> {
    let resolver = match tool.name {
        "pip" | "pip3" => Resolver::Pip(pip_sub(args)?),
        "uv" if crate::classify::uv::pip_install_requirements(args).is_some() => Resolver::UvPip,
        _ => return None,
    };
    let locals = local_builds(tool.name, args, cwd);
    let decided = locals.iter().any(|l| {
        let (d, _) = super::decide(
            policy,
            policy.mode.value,
            crate::tools::Ecosystem::Pypi,
            &l.name,
            "",
            true,
        );
        d != super::ScriptDecision::Allow
    });
    decided.then(|| Setup {
        python: Some(Prebuild {
            resolver,
            approvals: true,
            confine: Default::default(),
            wheels_only: false,
        }),
        ..Setup::default()
    })
}

/// The local directories a pip or `uv pip install` command builds
/// ([`local`]): its arguments, `-e` values and requirement files.
fn local_builds(tool: &str, args: &[String], cwd: &Path) -> Vec<local::Local> {
    let specs = match tool {
        "pip" | "pip3" => pip_direct_specs(args, cwd),
        "uv" => {
            let Some((mut specs, files)) = crate::classify::uv::pip_install_requirements(args)
            else {
                return Vec::new();
            };
            let mut seen = Vec::new();
            for f in files {
                requirement_specs(&cwd.join(f), 0, &mut seen, &mut specs);
            }
            specs
        }
        _ => return Vec::new(),
    };
    local::find(&specs, cwd)
}

/// A requirements file whose only line is `--only-binary :all:`, in
/// pkgward's state directory (written once, 0644).
fn only_binary_file() -> Option<PathBuf> {
    const TEXT: &str = "--only-binary :all:\n";
    let dir = crate::paths::state_dir()?.join("scripts");
    let file = dir.join("pip-only-binary.txt");
    if std::fs::read_to_string(&file).ok().as_deref() == Some(TEXT) {
        return Some(file);
    }
    std::fs::create_dir_all(&dir).ok()?;
    // Write then rename, so a concurrent pip never reads half a file.
    let tmp = dir.join(format!("pip-only-binary.{}.tmp", std::process::id()));
    std::fs::write(&tmp, TEXT).ok()?;
    std::fs::rename(&tmp, &file).ok()?;
    Some(file)
}

/// The reason code of an invocation that asks uv to build from source
/// while builds are not approved.
pub const BUILD_CODE: &str = "build-not-approved";

/// pip builds a direct reference from source whatever its format settings
/// say (`--only-binary` applies to index packages only): an sdist archive
/// by URL or path, a VCS checkout — named on the command line (positional
/// or `-e`) or in a requirement file (nested as pip reads them). Preparing
/// its metadata already runs its build backend, also for `pip download`
/// and `--dry-run`. So under wheels-only each one needs an approval of
/// every version of the name it gives (`NAME @ URL`, `#egg=NAME`); anything
/// else denies the invocation before pip runs. One on the local disk (a
/// path, a `file:` URL) is the project's own code, approved only by
/// `pypi:NAME@local`: a cloned repository's requirement must not borrow
/// the approval of the index package whose name it takes. A local
/// directory by path (`pip install .`, `-e ./pkg`) or unnamed `file:` URL
/// is decided by the name its own metadata claims, in [`prebuild`]
/// ([`local`]). An
/// approved one is built by pkgward, confined, and pip gets the wheel
/// ([`direct`]); an approved editable one builds in pip's run, which is
/// then confined ([`prebuild`]).
pub fn pip_direct_violations(
    policy: &crate::policy::Policy,
    args: &[String],
    cwd: &Path,
) -> Vec<Reason> {
    let mut out = Vec::new();
    for (spec, editable) in pip_direct_specs(args, cwd) {
        let Some((name, target)) = super::pipenv::cli_source_build(&spec) else {
            continue;
        };
        // An unnamed `file:` URL to a directory: a local build ([`prebuild`]).
        if local::local_dir(&spec, editable, cwd).is_some() {
            continue;
        }
        let local = super::pipenv::is_local_target(&target);
        let eco = crate::tools::Ecosystem::Pypi;
        if name
            .as_deref()
            .is_some_and(|n| policy.approves_every_version(eco, n, local).is_some())
        {
            continue;
        }
        let approve = match &name {
            Some(n) => {
                let mut a = format!(
                    "`{}` (every version: the archive's own version is not known before it is built)",
                    super::approve_command(eco, n, "", local)
                );
                if let Some(note) = super::local_note(policy, eco, n, local) {
                    a.push_str(&format!(" ({note})"));
                }
                a
            }
            None => "name it (`NAME @ URL`) and approve that name for every version (`pkgward approve pypi:NAME`)".into(),
        };
        out.push(Reason {
            code: BUILD_CODE.into(),
            message: format!(
                "pip would build {target} from source (its `--only-binary` covers index packages \
                 only, and reading the metadata already runs the package's build code); \
                 install it from the index, or {approve}"
            ),
            origin: None,
        });
    }
    out
}

/// An approved direct reference of a pip command ([`pip_direct_violations`]
/// let it through).
#[derive(Clone, Debug)]
struct Direct {
    name: String,
    /// What is built (the URL or path).
    target: String,
    /// The requirement as the user wrote it.
    spec: String,
    editable: bool,
    /// The approval.
    by: String,
}

/// The approved direct references of a pip command.
fn pip_direct_approved(policy: &crate::policy::Policy, args: &[String], cwd: &Path) -> Vec<Direct> {
    let mut out: Vec<Direct> = Vec::new();
    for (spec, editable) in pip_direct_specs(args, cwd) {
        let Some((Some(name), target)) = super::pipenv::cli_source_build(&spec) else {
            continue;
        };
        let local = super::pipenv::is_local_target(&target);
        let Some(by) = policy.approves_every_version(crate::tools::Ecosystem::Pypi, &name, local)
        else {
            continue;
        };
        if !out.iter().any(|d| d.spec == spec && d.editable == editable) {
            out.push(Direct {
                name,
                target,
                spec,
                editable,
                by,
            });
        }
    }
    out
}

/// The requirement specifiers of a pip `install`/`download`/`wheel`
/// command: its arguments, `-e` values (`true`: editable) and the lines of
/// its requirement files (nested); none for another subcommand.
fn pip_direct_specs(args: &[String], cwd: &Path) -> Vec<(String, bool)> {
    let (sub, found) = direct::pip_args(args);
    if !matches!(sub, Some("install" | "download" | "wheel")) {
        return Vec::new();
    }
    let mut specs: Vec<(String, bool)> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    for a in found {
        match a.kind {
            direct::ArgKind::Spec => specs.push((a.value, false)),
            direct::ArgKind::Editable => specs.push((a.value, true)),
            direct::ArgKind::File => files.push(cwd.join(a.value)),
        }
    }
    // What pip takes from its config files and `PIP_*` variables too.
    let configured = crate::classify::with_own_request(
        "pip",
        args,
        cwd,
        crate::classify::pip_configured_requirements,
    );
    for (value, editable) in configured.into_iter().flatten() {
        if editable {
            specs.push((value, true));
        } else {
            files.push(cwd.join(value));
        }
    }
    let mut seen = Vec::new();
    for f in files {
        requirement_specs(&f, 0, &mut seen, &mut specs);
    }
    specs
}

/// A requirement file's line as pip reads it: without its comment, trimmed.
fn requirement_line(line: &str) -> &str {
    match line
        .find(" #")
        .or_else(|| line.starts_with('#').then_some(0))
    {
        Some(i) => &line[..i],
        None => line,
    }
    .trim()
}

/// The value of a requirement file line's option among `names` (`-r x`,
/// `-rx`, `--requirement=x`, `--requirement x`).
fn line_option(line: &str, names: &[&str]) -> Option<String> {
    for n in names {
        if let Some(r) = line.strip_prefix(n) {
            if n.starts_with("--") {
                if let Some(v) = r.strip_prefix('=') {
                    return Some(v.trim().to_string());
                }
                if r.starts_with([' ', '\t']) {
                    return Some(r.trim().to_string());
                }
            } else if !r.is_empty() {
                return Some(r.trim_start_matches('=').trim().to_string());
            }
        }
    }
    None
}

/// The requirement lines of a requirement file and the files it names
/// (`-r`, at most 8 deep), `-e` values included (`true`).
fn requirement_specs(
    path: &Path,
    depth: usize,
    seen: &mut Vec<PathBuf>,
    out: &mut Vec<(String, bool)>,
) {
    if depth > 8 || seen.iter().any(|p| p == path) {
        return;
    }
    seen.push(path.to_path_buf());
    let Some(text) = read_requirement_file(path) else {
        return;
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    for line in text.lines() {
        let line = requirement_line(line);
        if line.is_empty() {
            continue;
        }
        if let Some(f) = line_option(line, &["--requirement", "-r"]) {
            requirement_specs(&dir.join(f), depth + 1, seen, out);
        } else if let Some(e) = line_option(line, &["--editable", "-e"]) {
            out.push((e, true));
        } else if !line.starts_with('-') {
            out.push((line.to_string(), false));
        }
    }
}

/// A requirement file's text (at most 16 MiB), continuation lines joined
/// as pip does.
fn read_requirement_file(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 16 << 20 {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.replace("\\\n", ""))
}

/// uv builds a package marked "no binary" even under `--no-build` /
/// `UV_NO_BUILD` (a per-package setting beats the global one), so under
/// wheels-only any way of marking a package no-binary is refused: on the
/// command line, in `UV_NO_BINARY*`, in a requirement file (nested ones
/// included), or in a uv setting (`uv.toml`, `pyproject.toml`'s
/// `[tool.uv]`, user/system/`UV_CONFIG_FILE` config).
pub fn uv_violations(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
    home: Option<&Path>,
) -> Vec<Reason> {
    let mut found: Vec<String> = Vec::new();
    let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let args = &args[..at];
    for a in args {
        if a.starts_with("--no-binary") {
            found.push(format!("the command line sets `{a}`"));
        }
    }
    for var in ["UV_NO_BINARY", "UV_NO_BINARY_PACKAGE"] {
        if let Some(v) = env(var) {
            let v = v.trim().to_ascii_lowercase();
            if !v.is_empty() && !matches!(v.as_str(), "0" | "false" | "no" | "off") {
                found.push(format!("the environment sets {var}"));
            }
        }
    }
    // Requirement files: -r/-c/--requirements/--constraints/--overrides/
    // --build-constraints, and `uv pip sync`'s positional files.
    let mut files: Vec<PathBuf> = Vec::new();
    let words: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let sync = words.starts_with(&["pip", "sync"]);
    let mut it = args.iter().peekable();
    const FILE_FLAGS: [&str; 8] = [
        "-r",
        "--requirements",
        "--requirement",
        "-c",
        "--constraints",
        "--overrides",
        "-b",
        "--build-constraints",
    ];
    while let Some(a) = it.next() {
        if let Some((k, v)) = a.split_once('=') {
            if FILE_FLAGS.contains(&k) {
                files.push(cwd.join(v));
            }
        } else if FILE_FLAGS.contains(&a.as_str()) {
            if let Some(v) = it.next() {
                files.push(cwd.join(v));
            }
        } else if let Some(v) = a.strip_prefix("-r").or_else(|| a.strip_prefix("-c")) {
            if !v.is_empty() && !a.starts_with("--") {
                files.push(cwd.join(v));
            }
        }
    }
    if sync {
        files.extend(words.iter().skip(2).map(|w| cwd.join(w)));
    }
    let mut seen = Vec::new();
    for f in files {
        scan_requirements(&f, 0, &mut seen, &mut found);
    }
    // Settings.
    let mut configs: Vec<PathBuf> = Vec::new();
    for d in cwd.ancestors() {
        configs.push(d.join("uv.toml"));
        configs.push(d.join("pyproject.toml"));
    }
    if let Some(f) = env("UV_CONFIG_FILE").filter(|v| !v.is_empty()) {
        configs.push(PathBuf::from(f));
    }
    // `--config-file FILE` (replaces the discovered uv.toml files).
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix("--config-file=") {
            configs.push(cwd.join(v));
        } else if a == "--config-file" {
            if let Some(v) = it.next() {
                configs.push(cwd.join(v));
            }
        }
    }
    let xdg = env("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".config")));
    if let Some(x) = xdg {
        configs.push(x.join("uv/uv.toml"));
    }
    let dirs = env("XDG_CONFIG_DIRS").unwrap_or_else(|| "/etc/xdg".into());
    for d in dirs.split(':').filter(|d| !d.is_empty()) {
        configs.push(Path::new(d).join("uv/uv.toml"));
    }
    configs.push(PathBuf::from("/etc/uv/uv.toml"));
    for c in configs {
        if config_sets_no_binary(&c) {
            found.push(format!("{} marks packages no-binary", c.display()));
        }
    }
    found
        .into_iter()
        .map(|what| Reason {
            code: BUILD_CODE.to_string(),
            message: format!(
                "{what}: uv would build those packages from source, running their build code, \
                 which `[scripts]` does not approve (wheels only under `scripts.default = \"deny\"`)"
            ),
            origin: None,
        })
        .collect()
}

fn scan_requirements(path: &Path, depth: usize, seen: &mut Vec<PathBuf>, found: &mut Vec<String>) {
    if depth > 16 || seen.iter().any(|p| p == path) || seen.len() > 256 {
        return;
    }
    seen.push(path.to_path_buf());
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if !meta.is_file() || meta.len() > 16 << 20 {
        return;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let base = path.parent().unwrap_or(Path::new("."));
    for (i, line) in text.lines().enumerate() {
        let l = line.trim_start();
        if l.starts_with("--no-binary") || l.starts_with("--no-bin") {
            found.push(format!(
                "{}:{} sets `{}`",
                path.display(),
                i + 1,
                l.trim_end()
            ));
        }
        for flag in ["-r", "--requirement", "-c", "--constraint"] {
            if let Some(rest) = l.strip_prefix(flag) {
                let rest = rest.trim_start_matches(['=', ' ', '\t']).trim();
                if !rest.is_empty() && (flag.len() > 2 || !rest.starts_with('-')) {
                    scan_requirements(&base.join(rest), depth + 1, seen, found);
                }
            }
        }
    }
}

fn config_sets_no_binary(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() || meta.len() > 4 << 20 {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    if !text.contains("no-binary") {
        return false;
    }
    let pyproject = path.file_name().is_some_and(|n| n == "pyproject.toml");
    match text.parse::<toml::Table>() {
        // pyproject.toml: only uv's own table counts.
        Ok(t) if pyproject => t
            .get("tool")
            .and_then(|t| t.get("uv"))
            .is_some_and(any_no_binary),
        Ok(t) => any_no_binary(&toml::Value::Table(t)),
        // uv refuses an invalid file itself.
        Err(_) => false,
    }
}

fn any_no_binary(v: &toml::Value) -> bool {
    match v {
        toml::Value::Table(t) => t.iter().any(|(k, v)| {
            let set = match v {
                toml::Value::Boolean(b) => *b,
                toml::Value::Array(a) => !a.is_empty(),
                toml::Value::String(s) => !s.is_empty(),
                _ => false,
            };
            ((k == "no-binary" || k == "no-binary-package") && set) || any_no_binary(v)
        }),
        toml::Value::Array(a) => a.iter().any(any_no_binary),
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Approved sdist builds (pip, `uv pip install`).

/// Which resolver pkgward asks which packages need a build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolver {
    /// pip `install` / `download` / `wheel` (the subcommand).
    Pip(&'static str),
    /// `uv pip install`.
    UvPip,
    /// `uv sync` / `uv lock` (the subcommand): uv builds the approved
    /// sdists itself, only those (see the module docs).
    UvProject(&'static str),
}

/// What pkgward does around a wheels-only pip or `uv pip install`:
/// with PyPI approvals in the policy, it first builds the approved sdists the
/// resolution needs into a private wheelhouse ([`prebuild`]); without any,
/// it explains a failed run ([`explain_failure`]) when an sdist-only package
/// was the cause.
#[derive(Clone, Debug)]
pub struct Prebuild {
    pub resolver: Resolver,
    /// Whether some `scripts.allow` entry is a PyPI one (else nothing can
    /// be built and no resolution pass runs before the tool).
    pub approvals: bool,
    /// uv project commands: whether uv's own run is confined (it builds
    /// approved sdists itself), and what confined it ([`confine`]).
    pub confine: confine::ToolRun,
    /// Whether the tool runs wheels-only (enforce mode, `scripts.default =
    /// "deny"`); else only its local builds are decided ([`local_setup`]).
    pub wheels_only: bool,
}

/// At most this many approved sdists are built for one invocation.
const MAX_BUILDS: usize = 64;

/// Options pip's index commands share with `install`/`download`/`wheel`
/// (flag, takes a value).
const PIP_INDEX_OPTS: [(&str, bool); 12] = [
    ("-i", true),
    ("--index-url", true),
    ("--extra-index-url", true),
    ("--no-index", false),
    ("-f", true),
    ("--find-links", true),
    ("--trusted-host", true),
    ("--cert", true),
    ("--client-cert", true),
    ("--proxy", true),
    ("--pre", false),
    ("--isolated", false),
];

/// Options of `pip download` / `pip wheel` that `pip install` does not take
/// (flag, takes a value): dropped from the resolution pass.
const PIP_OUTPUT_OPTS: [(&str, bool); 6] = [
    ("-d", true),
    ("--dest", true),
    ("--destination-directory", true),
    ("-w", true),
    ("--wheel-dir", true),
    ("--no-verify", false),
];

fn lossy(args: &[std::ffi::OsString]) -> Vec<String> {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// The index options of a pip command line (and of the requirement files
/// it names, one level of `-r` nesting deep): what `pip index` and `pip
/// wheel` need to see the same packages.
pub fn pip_index_args(args: &[String], cwd: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some((k, v)) = a.split_once('=') {
            if PIP_INDEX_OPTS.iter().any(|(f, val)| *val && *f == k) {
                out.push(k.to_string());
                out.push(v.to_string());
            }
            if matches!(k, "-r" | "--requirement" | "-c" | "--constraint") {
                files.push(cwd.join(v));
            }
            continue;
        }
        if let Some((f, val)) = PIP_INDEX_OPTS.iter().find(|(f, _)| *f == a) {
            out.push(f.to_string());
            if *val {
                if let Some(v) = it.next() {
                    out.push(v.clone());
                }
            }
        } else if matches!(a.as_str(), "-r" | "--requirement" | "-c" | "--constraint") {
            if let Some(v) = it.next() {
                files.push(cwd.join(v));
            }
        } else if let Some(v) = a
            .strip_prefix("-r")
            .filter(|v| !v.is_empty() && !a.starts_with("--"))
        {
            files.push(cwd.join(v));
        }
    }
    for f in files {
        out.extend(requirement_file_index_args(&f, 0));
    }
    out
}

fn requirement_file_index_args(path: &Path, depth: usize) -> Vec<String> {
    let mut out = Vec::new();
    if depth > 4 {
        return out;
    }
    let Ok(meta) = std::fs::metadata(path) else {
        return out;
    };
    if !meta.is_file() || meta.len() > 16 << 20 {
        return out;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return out;
    };
    let base = path.parent().unwrap_or(Path::new("."));
    for line in text.lines() {
        let l = line.split(" #").next().unwrap_or("").trim();
        let (flag, rest) = match l.split_once(['=', ' ', '\t']) {
            Some((f, r)) => (f, r.trim()),
            None => (l, ""),
        };
        if let Some((f, val)) = PIP_INDEX_OPTS.iter().find(|(f, _)| *f == flag) {
            if *val && !rest.is_empty() {
                out.push(f.to_string());
                out.push(rest.to_string());
            } else if !*val {
                out.push(f.to_string());
            }
        } else if matches!(flag, "-r" | "--requirement") && !rest.is_empty() {
            out.extend(requirement_file_index_args(&base.join(rest), depth + 1));
        }
    }
    out
}

/// The arguments of pip's resolution pass: the real command as a dry-run
/// `install` (download/wheel: their output options dropped, into an empty
/// `--target`), quiet, looking in the wheelhouse too.
fn pip_resolution_args(
    sub: &str,
    args: &[String],
    wheelhouse: &Path,
    target: &Path,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    let mut sub_seen = false;
    while let Some(a) = it.next() {
        if !sub_seen && a == sub {
            sub_seen = true;
            out.push("install".into());
            continue;
        }
        if sub != "install" {
            if let Some((_, val)) = PIP_OUTPUT_OPTS.iter().find(|(f, _)| *f == a) {
                if *val {
                    it.next();
                }
                continue;
            }
            if PIP_OUTPUT_OPTS.iter().any(|(f, val)| {
                *val && (a.starts_with(&format!("{f}=")) || (f.len() == 2 && a.starts_with(f)))
            }) {
                continue;
            }
        }
        out.push(a.clone());
    }
    out.push("--dry-run".into());
    out.push("--quiet".into());
    if sub != "install" {
        out.push("--target".into());
        out.push(target.to_string_lossy().into_owned());
    }
    out.push("--find-links".into());
    out.push(wheelhouse.to_string_lossy().into_owned());
    out
}

/// What the wheels-only resolution said about a package it could not get.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    pub name: String,
    /// The requirement's specifier (pip), e.g. `>=1.1`; empty: any.
    pub spec: String,
    /// The version the resolver named (uv), if it did.
    pub version: Option<String>,
}

/// pip: `ERROR: No matching distribution found for NAME[extras]SPEC[; marker]`.
pub fn parse_pip_missing(stderr: &str) -> Option<Missing> {
    const NEEDLE: &str = "No matching distribution found for ";
    let line = stderr.lines().find(|l| l.contains(NEEDLE))?;
    let req = line[line.find(NEEDLE)? + NEEDLE.len()..].trim();
    let req = req.split(';').next().unwrap_or("").trim();
    let end = req
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(req.len());
    let name = &req[..end];
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    let mut rest = req[end..].trim_start();
    if rest.starts_with('[') {
        rest = rest
            .split_once(']')
            .map(|(_, r)| r)
            .unwrap_or("")
            .trim_start();
    }
    // A direct reference (`NAME @ URL`) is not an index package.
    if rest.starts_with('@') {
        return None;
    }
    Some(Missing {
        name: name.to_string(),
        spec: rest
            .trim_start_matches('(')
            .trim_end_matches(')')
            .trim()
            .to_string(),
        version: None,
    })
}

/// uv: ``hint: Wheels are required for `NAME` because building from source
/// is disabled`` and, when it names one, `NAME==VERSION has no usable wheels`.
pub fn parse_uv_missing(stderr: &str) -> Option<Missing> {
    const HINT: &str = "Wheels are required for `";
    let at = stderr.find(HINT)? + HINT.len();
    let name = stderr[at..].split('`').next()?.to_string();
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return None;
    }
    let want = crate::tools::pep503(&name);
    let mut version = None;
    for (i, _) in stderr.match_indices(" has no usable wheels") {
        let before = &stderr[..i];
        let word = before
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("");
        if let Some((n, v)) = word.split_once("==") {
            // Only a PEP 440 version (normalised) is used.
            if crate::tools::pep503(n) == want {
                if let Ok(v) = <pep440_rs::Version as std::str::FromStr>::from_str(v) {
                    version = Some(v.to_string());
                    break;
                }
            }
        }
    }
    Some(Missing {
        name,
        spec: String::new(),
        version,
    })
}

/// `pip index versions`: `Available versions: 1.2.0, 1.0.0`.
pub fn parse_pip_versions(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Available versions:"))
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The highest of `versions` that `spec` (PEP 440 specifiers; empty: any)
/// allows: pre-releases only when `pre` or when nothing else fits.
pub fn best_version(versions: &[String], spec: &str, pre: bool) -> Option<String> {
    use std::str::FromStr;
    let spec = if spec.is_empty() {
        pep440_rs::VersionSpecifiers::empty()
    } else {
        pep440_rs::VersionSpecifiers::from_str(spec).ok()?
    };
    let mut ok: Vec<pep440_rs::Version> = versions
        .iter()
        .filter_map(|v| pep440_rs::Version::from_str(v).ok())
        .filter(|v| spec.contains(v))
        .collect();
    ok.sort();
    let finals: Vec<&pep440_rs::Version> = ok.iter().filter(|v| !v.any_prerelease()).collect();
    let pick = if pre || finals.is_empty() {
        ok.last()
    } else {
        finals.last().copied()
    };
    pick.map(|v| v.to_string())
}

/// What [`prebuild`] leaves for the real tool: the wheelhouse (removed when
/// dropped) and the arguments that make the tool look in it.
pub struct Prebuilt {
    /// pip's arguments replaced (position, value): approved direct
    /// references by the wheels pkgward built ([`direct`]).
    replace: Vec<(usize, std::ffi::OsString)>,
    pub args: Vec<std::ffi::OsString>,
    /// Where in the tool's arguments they go (`None`: at the end).
    at: Option<usize>,
    _dir: Option<tempfile::TempDir>,
    /// uv projects, pip's editable installs: the approved builds the tool
    /// runs itself, recorded when it ends ([`Prebuilt::record_after`]).
    pending: Vec<super::ScriptRecord>,
    started: std::time::Instant,
    /// uv projects: where uv looks for the project (`--directory`,
    /// `--project`), to read the version a resolution locked.
    project: Option<PathBuf>,
    /// pip's editable installs: the directories pip installs into, to read
    /// the version it installed (its `.dist-info`).
    installed_in: Vec<PathBuf>,
    /// uv projects, pip's editable installs: the tool's confined run
    /// ([`confine`]) and what builds in it, for the records' `sandbox`
    /// (`None`: the builds were not to be confined).
    confine: Option<(confine::ToolRun, &'static str)>,
}

/// How one resolution pass ended.
enum Round {
    /// It resolved: nothing (more) needs a build.
    Resolved,
    /// A package it could only get by building its sdist.
    Missing(Missing),
    /// Another failure: the real tool reports it itself.
    Other,
}

/// An approved package's build, or a denial, as decided and recorded.
#[derive(Clone, Debug)]
struct Needed {
    name: String,
    version: String,
    /// The project's own code (uv's project or a path source, a local
    /// archive or directory): only `pypi:NAME@local` approves it.
    local: bool,
}

fn wheelhouse() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("pkgward-wheelhouse-")
        .tempdir()
}

/// Runs the real tool as a wheels-only resolution pass, output captured:
/// it runs no install-time code (builds are off in it exactly as in the
/// real run), through the invocation's proxy environment — but for an
/// approved editable install's metadata, which pip prepares in it: the
/// pass is then confined like pip's run (`confined`, [`confine::captured`];
/// `Err`: the sandbox is required and cannot be set up).
fn resolution_round(
    resolver: Resolver,
    cx: &super::Context<'_>,
    args: &[String],
    wheelhouse: &Path,
    target: &Path,
    confined: Option<&confine::Want>,
) -> crate::error::Result<Round> {
    let pass: Vec<String> = match resolver {
        Resolver::Pip(sub) => pip_resolution_args(sub, args, wheelhouse, target),
        Resolver::UvPip | Resolver::UvProject(_) => {
            let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
            let mut a = args[..at].to_vec();
            a.push("--dry-run".into());
            a.push("--find-links".into());
            a.push(wheelhouse.to_string_lossy().into_owned());
            a.extend(args[at..].iter().cloned());
            a
        }
    };
    let launch = crate::supervise::Launch {
        program: cx.program.to_path_buf(),
        arg0: None,
        args: pass.iter().map(Into::into).collect(),
        env: cx.env.to_vec(),
        #[cfg(target_os = "linux")]
        trace: cx.trace.clone(),
    };
    let ran = match confined {
        Some(w) => confine::captured(&launch, w)?,
        None => None,
    };
    let Some((ok, stderr)) =
        ran.or_else(|| captured(cx.program, &pass, cx).map(|o| (o.status.success(), o.stderr)))
    else {
        return Ok(Round::Other);
    };
    if ok {
        return Ok(Round::Resolved);
    }
    let err = String::from_utf8_lossy(&stderr);
    let missing = match resolver {
        Resolver::Pip(_) => parse_pip_missing(&err),
        Resolver::UvPip | Resolver::UvProject(_) => parse_uv_missing(&err),
    };
    Ok(missing.map(Round::Missing).unwrap_or(Round::Other))
}

fn captured(
    program: &Path,
    args: &[String],
    cx: &super::Context<'_>,
) -> Option<std::process::Output> {
    let mut c = std::process::Command::new(program);
    c.args(args)
        .envs(cx.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null());
    c.output().ok()
}

/// The version of `m` a build would produce: the one the resolver named,
/// else the highest the index has that the requirement allows (`pip index
/// versions`, which lists sdist-only versions and runs no package code).
fn version_of(
    m: &Missing,
    cx: &super::Context<'_>,
    pip: Option<&Path>,
    index: &[String],
) -> Option<String> {
    if let Some(v) = &m.version {
        return Some(v.clone());
    }
    let pip = pip?;
    let mut args = vec!["index".to_string(), "versions".to_string()];
    args.extend(index.iter().cloned());
    args.push(m.name.clone());
    let out = captured(pip, &args, cx)?;
    let pre = index.iter().any(|a| a == "--pre");
    best_version(
        &parse_pip_versions(&String::from_utf8_lossy(&out.stdout)),
        &m.spec,
        pre,
    )
}

/// uv's index settings as pip options and variables, for the pip that
/// builds an approved sdist for uv.
fn uv_index_as_pip(args: &[String]) -> (Vec<String>, Vec<(String, String)>) {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (k, v) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let pip_flag = match k {
            "--default-index" | "--index-url" | "-i" => "--index-url",
            "--index" | "--extra-index-url" => "--extra-index-url",
            "--find-links" | "-f" => "--find-links",
            "--no-index" => {
                out.push("--no-index".into());
                continue;
            }
            "--prerelease" => {
                out.push("--pre".into());
                if v.is_none() {
                    it.next();
                }
                continue;
            }
            _ => continue,
        };
        let Some(v) = v.or_else(|| it.next().cloned()) else {
            continue;
        };
        // `--index name=URL`.
        let v = match v.split_once('=') {
            Some((n, u)) if !n.contains(':') && !n.contains('/') => u.to_string(),
            _ => v,
        };
        out.push(pip_flag.into());
        out.push(v);
    }
    let mut env = Vec::new();
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(u) = var("UV_DEFAULT_INDEX").or_else(|| var("UV_INDEX_URL")) {
        env.push(("PIP_INDEX_URL".to_string(), u));
    }
    let extra: Vec<String> = [var("UV_INDEX"), var("UV_EXTRA_INDEX_URL")]
        .into_iter()
        .flatten()
        .flat_map(|v| {
            v.split_whitespace()
                .map(|u| match u.split_once('=') {
                    Some((n, u)) if !n.contains(':') && !n.contains('/') => u.to_string(),
                    _ => u.to_string(),
                })
                .collect::<Vec<_>>()
        })
        .collect();
    if !extra.is_empty() {
        env.push(("PIP_EXTRA_INDEX_URL".to_string(), extra.join(" ")));
    }
    (out, env)
}

fn script_record(
    cx: &super::Context<'_>,
    name: &str,
    version: &str,
    decision: super::ScriptDecision,
    approved_by: Option<String>,
) -> super::ScriptRecord {
    build_record(
        cx.invocation_id,
        name,
        version,
        decision,
        approved_by,
        sdist_command(name, version),
    )
}

/// The `script` record of building the sdist of `name` `version` (pip, uv,
/// poetry, pipenv), not run yet.
pub(super) fn build_record(
    invocation_id: &str,
    name: &str,
    version: &str,
    decision: super::ScriptDecision,
    approved_by: Option<String>,
    command: String,
) -> super::ScriptRecord {
    super::ScriptRecord {
        kind: "script",
        invocation_id: invocation_id.to_string(),
        time: crate::record::now_rfc3339(),
        ecosystem: crate::tools::Ecosystem::Pypi,
        package: name.to_string(),
        version: version.to_string(),
        path: ".".into(),
        script: "build".into(),
        command,
        decision,
        approved_by,
        ran: false,
        runner: None,
        exit_code: None,
        signal: None,
        duration_ms: None,
        error: None,
        sandbox: None,
    }
}

/// The `command` of an sdist build pkgward runs (or denies).
pub(super) fn sdist_command(name: &str, version: &str) -> String {
    format!("build the sdist of {name} {version} (its PEP 517 backend / setup.py)")
}

/// The `command` of an approved direct reference's build by pip.
fn direct_command(name: &str, target: &str) -> String {
    format!("build {name} from {target} (its PEP 517 backend / setup.py), by pip in its own run")
}

/// The `command` of an approved direct reference's build by pkgward.
fn direct_build_command(name: &str, target: &str) -> String {
    format!("build {name} from {target} (its PEP 517 backend / setup.py)")
}

/// Runs an approved build (`code`, `pip wheel`) and appends its record
/// (`rec`, completed by `finish` once the build ended); `Err`: it failed
/// (`label` names it), the tool must not run.
fn run_build(
    tool: &str,
    code: &crate::supervise::install_code::InstallCode,
    mut rec: super::ScriptRecord,
    label: &str,
    log: &mut Option<crate::record::AuditLog>,
    notice: &mut dyn FnMut(String),
    finish: impl FnOnce(&mut super::ScriptRecord),
) -> crate::error::Result<()> {
    // Confined: the registry credentials go to the proxy (plain HTTP) and
    // its index gateway (TLS), not to the build.
    let mut no_creds = Vec::new();
    let mut code = code.clone();
    if code.sandboxed {
        let creds = auth::collect(&code.program, &code.args, &code.env, &code.cwd);
        let cx = crate::supervise::sandbox::current();
        let proxy = cx.as_ref().and_then(|c| c.proxy.as_ref());
        let gw = auth::to_gateway(&creds, proxy, &mut code.args, &mut code.env, &code.cwd);
        let rest: Vec<auth::Cred> = creds
            .into_iter()
            .filter(|c| !(c.scheme.as_deref() == Some("https") && gw.served.contains(c)))
            .collect();
        no_creds = gw.missing;
        for m in auth::to_proxy(&rest, proxy) {
            if !no_creds.contains(&m) {
                no_creds.push(m);
            }
        }
        code.args = auth::strip_args(&code.args);
    }
    let code = &code;
    let result = crate::supervise::install_code::run_install_code(code);
    let mut runner = vec!["pip".to_string()];
    runner.extend(code.args.iter().map(|a| a.to_string_lossy().into_owned()));
    rec.runner = Some(runner);
    rec.ran = result.is_ok();
    match &result {
        Ok(e) => {
            rec.exit_code = Some(e.exit_code);
            rec.signal = e.signal;
            rec.duration_ms = Some((e.duration.as_secs_f64() * 1e6).round() / 1e3);
            rec.sandbox = e.sandbox.clone();
            if let Some(r) = rec.sandbox.as_mut() {
                r.missing.extend(no_creds);
            }
        }
        Err(err) => rec.error = Some(err.to_string()),
    }
    finish(&mut rec);
    super::append(log, &rec, notice);
    match result {
        Ok(e) if e.exit_code == 0 => Ok(()),
        Ok(e) => {
            notice(format!(
                "the build of the approved {label} failed (exit code {})",
                e.exit_code
            ));
            Err(crate::error::Error::Denied {
                message: format!("`{tool}` was not run: the approved build of {label} failed"),
            })
        }
        Err(err) => Err(err),
    }
}

/// The denial of an sdist-only package the policy does not approve.
fn denial(tool: &str, n: &Needed) -> String {
    format!(
        "`{tool}` needs to build {name} {version} from its sdist, which runs the package's build code \
         (setup.py / its PEP 517 backend) at install time, and `[scripts]` does not approve it \
         (wheels only under `scripts.default = \"deny\"`).\n  approve: {cmd}\n\
         (pkgward then builds it, supervised, and the install uses the wheel it built)",
        name = n.name,
        version = n.version,
        cmd = super::approve_command(crate::tools::Ecosystem::Pypi, &n.name, &n.version, n.local),
    )
}

/// A local build that runs: its decision and approval.
type DecidedLocal = (local::Local, super::ScriptDecision, Option<String>);

/// Decides each local directory `locals` builds as `pypi:NAME@local`
/// ([`local`]): one that does not run is recorded (`deny`) and denies the
/// invocation, all of them named in one message; the others are returned
/// with their decision and approval (their records are written after the
/// tool's run, which builds them).
fn decide_locals(
    tool: &str,
    cx: &super::Context<'_>,
    locals: &[local::Local],
    log: &mut Option<crate::record::AuditLog>,
    notice: &mut dyn FnMut(String),
) -> crate::error::Result<Vec<DecidedLocal>> {
    let eco = crate::tools::Ecosystem::Pypi;
    let mut runs = Vec::new();
    let mut denied: Vec<String> = Vec::new();
    for l in locals {
        let (decision, by) = super::decide(cx.policy, cx.mode, eco, &l.name, "", true);
        if decision.runs() {
            runs.push((l.clone(), decision, by));
            continue;
        }
        let mut rec = script_record(cx, &l.name, "", decision, None);
        rec.command = direct_command(&l.name, &l.dir.to_string_lossy());
        super::append(log, &rec, notice);
        denied.push(format!(
            "\n  {} ({}{})\n  approve: {}",
            l.dir.display(),
            l.name,
            if l.editable { ", editable" } else { "" },
            super::approve_hint(cx.policy, eco, &l.name, "", true),
        ));
    }
    if denied.is_empty() {
        return Ok(runs);
    }
    Err(crate::error::Error::Denied {
        message: format!(
            "`{tool}` would build a local project, which runs its setup.py / PEP 517 backend at \
             install time (reading its metadata already does), and `[scripts]` does not approve \
             it (the project's own code is approved only by `pypi:NAME@local`):{}",
            denied.concat()
        ),
    })
}

/// Before a wheels-only pip / `uv pip install` with PyPI approvals in the
/// policy: resolves wheels-only (captured, no package code runs), and for
/// each package only an sdist provides, if the policy approves that
/// version, builds it — `pip wheel --no-deps` for just that package,
/// through [`crate::supervise::install_code::run_install_code`] — into a
/// private wheelhouse, then resolves again, until the resolution succeeds.
/// An unapproved sdist-only package denies the invocation (recorded, with
/// the command that approves it). The real tool then runs wheels-only with
/// `--find-links <wheelhouse>`.
pub fn prebuild(
    pre: &Prebuild,
    tool: &str,
    cx: &super::Context<'_>,
    log: &mut Option<crate::record::AuditLog>,
    notice: &mut dyn FnMut(String),
) -> crate::error::Result<Option<Prebuilt>> {
    use crate::supervise::install_code::InstallCode;
    if let Resolver::UvProject(sub) = pre.resolver {
        return uv_project(sub, tool, &pre.confine, cx, log, notice);
    }
    let io = |source| crate::error::Error::Io {
        context: "cannot create a private wheelhouse for approved sdist builds".into(),
        source,
    };
    let dir = wheelhouse().map_err(io)?;
    let target = tempfile::Builder::new()
        .prefix("pkgward-resolve-")
        .tempdir()
        .map_err(io)?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let args = lossy(cx.args);
    // Local directories: decided first (a denial stops here, before any
    // pass, which would already prepare their metadata); the ones that run
    // build in pip's own run, confined as a whole when their decision says
    // so (as an approved editable one).
    let tool_name = match pre.resolver {
        Resolver::Pip(_) => "pip",
        _ => "uv",
    };
    let locals = decide_locals(tool, cx, &local_builds(tool_name, &args, &cwd), log, notice)?;
    let local_confined = locals
        .iter()
        .any(|(_, d, _)| super::confines(cx.policy, *d));
    // Approved direct references (sdist archive, source tree, VCS): pkgward
    // builds them first, confined, and pip gets the wheels ([`direct`]);
    // an editable one stays pip's own build in its run (an editable install
    // is not a wheel pkgward could hand over): when it is to be confined,
    // pip's whole run is — and so are the resolution passes before it,
    // which already prepare its metadata ([`confine`], `Kind::Pip`). Its
    // record is written after the run ([`Prebuilt::record_after`]).
    let direct = match pre.resolver {
        Resolver::Pip(_) if pre.wheels_only => pip_direct_approved(cx.policy, &args, &cwd),
        _ => Vec::new(),
    };
    let direct_confined = super::confines(cx.policy, super::ScriptDecision::Approved);
    let editable = direct.iter().any(|d| d.editable);
    let pip_run = ((editable && direct_confined) || local_confined).then(|| {
        let (kind, mut extra) = match pre.resolver {
            Resolver::Pip(_) => (
                confine::Kind::Pip,
                confine::pip_roots(cx.program, cx.args, &cwd, cx.env),
            ),
            _ => (
                confine::Kind::Uv,
                confine::uv_pip_roots(cx.args, &cwd, cx.env),
            ),
        };
        // The source trees the editable and local builds write in
        // (`*.egg-info`, `build/`).
        extra.extend(
            direct
                .iter()
                .filter(|d| d.editable)
                .filter_map(|d| direct::source_dir(&d.target, &cwd)),
        );
        extra.extend(locals.iter().map(|(l, _, _)| l.dir.clone()));
        extra.push(target.path().to_path_buf());
        confine::Want {
            kind,
            project: cwd.clone(),
            extra,
        }
    });
    let pending: Vec<super::ScriptRecord> = direct
        .iter()
        .filter(|d| d.editable)
        .map(|d| {
            let mut rec = script_record(
                cx,
                &d.name,
                "",
                super::ScriptDecision::Approved,
                Some(d.by.clone()),
            );
            rec.command = direct_command(&d.name, &d.target);
            let mut runner = vec![tool.to_string()];
            runner.extend(args.iter().cloned());
            rec.runner = Some(runner);
            rec
        })
        .chain(locals.iter().map(|(l, decision, by)| {
            let mut rec = script_record(cx, &l.name, "", *decision, by.clone());
            rec.command = direct_command(&l.name, &l.dir.to_string_lossy());
            let mut runner = vec![tool.to_string()];
            runner.extend(args.iter().cloned());
            rec.runner = Some(runner);
            rec
        }))
        .collect();
    let (pip, index, index_env) = match pre.resolver {
        Resolver::Pip(_) => (
            Some(cx.program.to_path_buf()),
            pip_index_args(&args, &cwd),
            Vec::new(),
        ),
        Resolver::UvPip | Resolver::UvProject(_) => {
            let (a, e) = uv_index_as_pip(&args);
            (
                (cx.find_tool)("pip").or_else(|| (cx.find_tool)("pip3")),
                a,
                e,
            )
        }
    };
    let mut env = cx.env.to_vec();
    env.extend(
        index_env
            .iter()
            .map(|(k, v)| (std::ffi::OsString::from(k), std::ffi::OsString::from(v))),
    );
    let mut direct_built: Vec<direct::Built> = Vec::new();
    for (i, d) in direct.iter().filter(|d| !d.editable).enumerate() {
        let out = dir.path().join(format!("direct-{i}"));
        std::fs::create_dir_all(&out).map_err(io)?;
        let mut bargs: Vec<String> = vec![
            "wheel".into(),
            "--no-deps".into(),
            "--wheel-dir".into(),
            out.to_string_lossy().into_owned(),
        ];
        bargs.extend(index.iter().cloned());
        bargs.push(direct::line_requirement(&d.spec).to_string());
        let mut rec = script_record(
            cx,
            &d.name,
            "",
            super::ScriptDecision::Approved,
            Some(d.by.clone()),
        );
        rec.command = direct_build_command(&d.name, &d.target);
        let code = InstallCode {
            program: cx.program.to_path_buf(),
            args: bargs.iter().map(std::ffi::OsString::from).collect(),
            cwd: cwd.clone(),
            env: env.clone(),
            sandboxed: direct_confined,
            // Its wheel directory, and a source tree it builds in place
            // (as pip does: `build/`, `*.egg-info`).
            extra_write: std::iter::once(out.clone())
                .chain(direct::source_dir(&d.target, &cwd))
                .collect(),
            attached: None,
            project: None,
            #[cfg(target_os = "linux")]
            trace: cx.trace.clone(),
        };
        let label = format!("pypi:{} from {}", d.name, d.target);
        run_build(tool, &code, rec.clone(), &label, log, notice, |rec| {
            rec.version = direct::the_wheel(&out)
                .as_deref()
                .and_then(direct::wheel_version)
                .unwrap_or_default();
        })?;
        let Some(wheel) = direct::the_wheel(&out) else {
            rec.error = Some("pip wheel left no single wheel".into());
            super::append(log, &rec, notice);
            return Err(crate::error::Error::Denied {
                message: format!(
                    "`{tool}` was not run: the approved build of {label} left no wheel"
                ),
            });
        };
        direct_built.push(direct::Built {
            spec: d.spec.clone(),
            name: d.name.clone(),
            wheel,
        });
    }
    let replace = if direct_built.is_empty() {
        Vec::new()
    } else {
        let reqs = dir.path().join("requirements");
        std::fs::create_dir_all(&reqs).map_err(io)?;
        direct::substitute(&args, &cwd, &direct_built, &reqs)
    };
    let mut replace = replace;
    // `uv pip install` building approved local projects: uv's `--no-build`
    // would refuse them; wheels only but for these names instead (a
    // per-package `--no-binary` beats `--only-binary :all:`).
    let mut uv_local: Vec<String> = Vec::new();
    if pre.resolver == Resolver::UvPip && pre.wheels_only && !locals.is_empty() {
        if let Some(i) = args.iter().rposition(|a| a == "--no-build") {
            replace.push((i, "--only-binary=:all:".into()));
        }
        for (l, _, _) in &locals {
            uv_local.push("--no-binary".into());
            uv_local.push(l.name.clone());
        }
    }
    let uv_at = args.iter().position(|a| a == "--");
    // The resolution passes see pip's arguments as the real run will.
    let mut pass_args = args.clone();
    for (i, v) in &replace {
        if let Some(a) = pass_args.get_mut(*i) {
            a.clone_from(v);
        }
    }
    let at = uv_at.unwrap_or(pass_args.len());
    pass_args.splice(at..at, uv_local.iter().cloned());
    let mut built: Vec<String> = Vec::new();
    loop {
        // Builds not switched off ([`local_setup`]): pip builds what it needs.
        if !pre.wheels_only {
            break;
        }
        let round = resolution_round(
            pre.resolver,
            cx,
            &pass_args,
            dir.path(),
            target.path(),
            pip_run.as_ref(),
        )?;
        let m = match round {
            Round::Resolved => break,
            Round::Other => break,
            Round::Missing(m) => m,
        };
        let key = crate::tools::pep503(&m.name);
        if built.contains(&key) || built.len() >= MAX_BUILDS {
            // Built, yet still missing: the real tool says why.
            break;
        }
        let Some(version) = version_of(&m, cx, pip.as_deref(), &index) else {
            break;
        };
        // A package only an sdist on the index provides: fetched.
        let n = Needed {
            name: m.name.clone(),
            version: version.clone(),
            local: false,
        };
        let (decision, approved_by) = super::decide(
            cx.policy,
            cx.mode,
            crate::tools::Ecosystem::Pypi,
            &n.name,
            &version,
            false,
        );
        if !decision.runs() {
            let rec = script_record(cx, &n.name, &version, decision, None);
            super::append(log, &rec, notice);
            return Err(crate::error::Error::Denied {
                message: denial(tool, &n),
            });
        }
        let Some(pip) = pip.clone() else {
            let mut rec = script_record(cx, &n.name, &version, decision, approved_by);
            rec.error = Some("pip not found on PATH".into());
            super::append(log, &rec, notice);
            return Err(crate::error::Error::Denied {
                message: format!(
                    "`{tool}` needs to build the approved {} {} from its sdist; pkgward builds it with \
                     `pip wheel` (supervised), and no pip was found on PATH",
                    n.name, n.version
                ),
            });
        };
        let mut bargs: Vec<String> = vec![
            "wheel".into(),
            "--no-deps".into(),
            "--only-binary=:all:".into(),
            "--no-binary".into(),
            m.name.clone(),
            "--wheel-dir".into(),
            dir.path().to_string_lossy().into_owned(),
        ];
        bargs.extend(index.iter().cloned());
        bargs.push(format!("{}=={}", m.name, version));
        let code = InstallCode {
            program: pip.clone(),
            args: bargs.iter().map(std::ffi::OsString::from).collect(),
            cwd: cwd.clone(),
            env: env.clone(),
            sandboxed: super::confines(cx.policy, decision),
            // The private wheelhouse the build writes its wheel into.
            extra_write: vec![dir.path().to_path_buf()],
            attached: None,
            project: None,
            #[cfg(target_os = "linux")]
            trace: cx.trace.clone(),
        };
        let rec = script_record(cx, &n.name, &version, decision, approved_by);
        let label = format!("pypi:{}@{}", n.name, n.version);
        run_build(tool, &code, rec, &label, log, notice, |_| {})?;
        built.push(key);
        if crate::supervise::terminated().is_some() {
            break;
        }
    }
    if built.is_empty() && pending.is_empty() && replace.is_empty() {
        return Ok(None);
    }
    if let Some(w) = &pip_run {
        pre.confine.want(w.clone());
    }
    let wh = dir.path().as_os_str().to_owned();
    let mut more: Vec<std::ffi::OsString> = uv_local.into_iter().map(Into::into).collect();
    if !built.is_empty() {
        more.extend(["--find-links".into(), wh]);
    }
    Ok(Some(Prebuilt {
        replace: replace.into_iter().map(|(i, v)| (i, v.into())).collect(),
        args: more,
        at: uv_at,
        _dir: Some(dir),
        pending,
        started: std::time::Instant::now(),
        project: None,
        installed_in: match &pip_run {
            Some(w) => w.extra.clone(),
            // Not confined (audit mode): still where pip installs, for the
            // version.
            None if locals.is_empty() => Vec::new(),
            None if tool_name == "uv" => confine::uv_pip_roots(cx.args, &cwd, cx.env),
            None => confine::pip_roots(cx.program, cx.args, &cwd, cx.env),
        },
        confine: pip_run.map(|_| {
            (
                pre.confine.clone(),
                match pre.resolver {
                    Resolver::Pip(_) => {
                        "pip builds the local project or editable install inside its own run"
                    }
                    _ => "uv builds the local project inside its own run",
                },
            )
        }),
    }))
}

/// After a wheels-only pip / `uv pip install` without PyPI approvals
/// failed: when the cause is a package only an sdist provides, records the
/// denial and says which command approves it (returns the exit code to
/// use, [`crate::error::exit::DENIED`]).
pub fn explain_failure(
    pre: &Prebuild,
    tool: &str,
    cx: &super::Context<'_>,
    log: &mut Option<crate::record::AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Option<i32> {
    if let Resolver::UvProject(sub) = pre.resolver {
        return uv_project_explain(sub, tool, cx, log, notice);
    }
    let dir = wheelhouse().ok()?;
    let target = tempfile::Builder::new()
        .prefix("pkgward-resolve-")
        .tempdir()
        .ok()?;
    let args = lossy(cx.args);
    let Ok(Round::Missing(m)) =
        resolution_round(pre.resolver, cx, &args, dir.path(), target.path(), None)
    else {
        return None;
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let (pip, index) = match pre.resolver {
        Resolver::Pip(_) => (Some(cx.program.to_path_buf()), pip_index_args(&args, &cwd)),
        Resolver::UvPip | Resolver::UvProject(_) => (None, Vec::new()),
    };
    let version = version_of(&m, cx, pip.as_deref(), &index).unwrap_or_default();
    let (decision, _) = super::decide(
        cx.policy,
        cx.mode,
        crate::tools::Ecosystem::Pypi,
        &m.name,
        &version,
        false,
    );
    let rec = script_record(cx, &m.name, &version, decision, None);
    super::append(log, &rec, notice);
    notice(format!(
        "denied: {}",
        denial(
            tool,
            &Needed {
                name: m.name.clone(),
                version,
                local: false,
            }
        )
    ));
    Some(crate::error::exit::DENIED)
}

// ---------------------------------------------------------------------------
// uv projects: `uv sync`, `uv lock`.
//
// A lockfile pins each artifact's hash, so a wheel pkgward builds itself is
// not one uv would accept. uv builds the approved sdists itself instead: the
// real run keeps `UV_NO_BUILD=1` (wheels only for every package) and gets
// `--no-binary-package NAME` for exactly the approved packages found — uv's
// per-package setting beats the global `--no-build` for that package only
// (which is why any *other* no-binary setting is refused, [`uv_violations`]).
// `--no-binary-package` has no version: which version builds is held by the
// lockfile (`uv sync` then runs with `--locked`, so uv resolves nothing and
// builds the locked version only) or, when uv has to resolve, by requiring
// an approval of every version of the package.

/// uv's global options that take a value (skipped to find the subcommand).
const UV_GLOBAL_VALUE: [&str; 8] = [
    "--directory",
    "--project",
    "--config-file",
    "--cache-dir",
    "-p",
    "--python",
    "--color",
    "--allow-insecure-host",
];

/// `sync` / `lock` / `run` when that is uv's subcommand.
fn uv_project_sub(args: &[String]) -> Option<&'static str> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            return None;
        }
        if UV_GLOBAL_VALUE.contains(&a.as_str()) {
            it.next();
            continue;
        }
        if a.starts_with('-') {
            continue;
        }
        return match a.as_str() {
            "sync" => Some("sync"),
            "lock" => Some("lock"),
            "run" => Some("run"),
            "add" => Some("add"),
            "remove" => Some("remove"),
            _ => None,
        };
    }
    None
}

/// `uv run`'s options that take a value (the command starts at the first
/// word that is neither an option nor such a value).
const UV_RUN_VALUE: [&str; 47] = [
    "--extra",
    "--no-extra",
    "--group",
    "--no-group",
    "--only-group",
    "--no-editable-package",
    "--env-file",
    "-w",
    "--with",
    "--with-editable",
    "--with-requirements",
    "--package",
    "--python-platform",
    "--index",
    "--default-index",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--index-strategy",
    "--keyring-provider",
    "-P",
    "--upgrade-package",
    "--upgrade-group",
    "--resolution",
    "--prerelease",
    "--prerelease-package",
    "--fork-strategy",
    "--exclude-newer",
    "--exclude-newer-package",
    "--no-sources-package",
    "--reinstall-package",
    "--link-mode",
    "-C",
    "--config-setting",
    "--config-settings-package",
    "--no-build-isolation-package",
    "--no-build-package",
    "--no-binary-package",
    "--cache-dir",
    "--refresh-package",
    "-p",
    "--python",
    "--color",
    "--allow-insecure-host",
    "--directory",
];

/// `uv run`'s own options that `uv sync` does not take (dropped from the
/// pass; with a value or not).
const UV_RUN_ONLY: [(&str, bool); 9] = [
    ("--env-file", true),
    ("-w", true),
    ("--with", true),
    ("--with-editable", true),
    ("--with-requirements", true),
    ("--no-env-file", false),
    ("--exact", false),
    ("-m", false),
    ("--module", false),
];

/// `uv run` options under which it does not sync the project environment
/// from the lockfile (nothing is approved for them: wheels only).
const UV_RUN_OWN_ENV: [&str; 6] = [
    "--isolated",
    "--no-project",
    "--script",
    "-s",
    "--gui-script",
    "--no-sync",
];

/// `uv run [OPTIONS] COMMAND…` as the `uv sync [OPTIONS]` it does first:
/// (where pkgward's options go — right after `run` —, the sync's
/// arguments). `None`: a run that does not sync the project.
fn uv_run_as_sync(args: &[String]) -> Option<(usize, Vec<String>)> {
    let mut r = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" {
            return None;
        }
        if UV_GLOBAL_VALUE.contains(&a) {
            i += 2;
            continue;
        }
        if !a.starts_with('-') {
            if a != "run" {
                return None;
            }
            r = Some(i);
            break;
        }
        i += 1;
    }
    let r = r?;
    let mut out = args[..r].to_vec();
    out.push("sync".into());
    let mut i = r + 1;
    while i < args.len() {
        let a = &args[i];
        if a == "--" || !a.starts_with('-') {
            break;
        }
        let (k, inline) = match a.split_once('=') {
            Some((k, _)) if a.starts_with("--") => (k, true),
            _ => (a.as_str(), false),
        };
        if UV_RUN_OWN_ENV.contains(&k) {
            return None;
        }
        if let Some((_, val)) = UV_RUN_ONLY.iter().find(|(f, _)| *f == k) {
            i += 1 + usize::from(*val && !inline);
            continue;
        }
        out.push(a.clone());
        if UV_RUN_VALUE.contains(&k) && !inline {
            if let Some(v) = args.get(i + 1) {
                out.push(v.clone());
            }
            i += 1;
        }
        i += 1;
    }
    Some((r + 1, out))
}

/// The directory uv starts its project discovery in.
fn uv_project_dir(args: &[String]) -> PathBuf {
    let mut dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut project = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let (k, v) = match a.split_once('=') {
            Some((k, v)) if a.starts_with("--") => (k, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        if k == "--directory" || k == "--project" {
            let Some(v) = v.or_else(|| it.next().cloned()) else {
                break;
            };
            if k == "--directory" {
                dir = dir.join(v);
            } else {
                project = Some(v);
            }
        }
    }
    match project {
        Some(p) => dir.join(p),
        None => dir,
    }
}

/// The version of `name` installed in one of `dirs` (its only
/// `NAME-VERSION.dist-info` there).
fn installed_version(dirs: &[PathBuf], name: &str) -> Option<String> {
    let key = crate::tools::pep503(name);
    let mut found = dirs.iter().flat_map(|d| {
        std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let f = e.ok()?.file_name().into_string().ok()?;
                let (n, v) = f.strip_suffix(".dist-info")?.split_once('-')?;
                (crate::tools::pep503(n) == key).then(|| v.to_string())
            })
            .collect::<Vec<_>>()
    });
    let v = found.next()?;
    found.all(|w| w == v).then_some(v)
}

/// The version `uv.lock` (in `dir` or above) pins for `name`.
fn locked_version(dir: &Path, name: &str) -> Option<String> {
    let lock = dir
        .ancestors()
        .map(|d| d.join("uv.lock"))
        .find(|p| p.is_file())?;
    if std::fs::metadata(&lock).ok()?.len() > 64 << 20 {
        return None;
    }
    let t: toml::Table = std::fs::read_to_string(&lock).ok()?.parse().ok()?;
    let want = crate::tools::pep503(name);
    t.get("package")?.as_array()?.iter().find_map(|p| {
        let n = p.get("name")?.as_str()?;
        (crate::tools::pep503(n) == want)
            .then(|| p.get("version")?.as_str().map(str::to_string))
            .flatten()
    })
}

fn has_flag(args: &[String], flag: &str) -> bool {
    args.iter()
        .any(|a| a == flag || a.strip_prefix(flag).is_some_and(|r| r.starts_with('=')))
}

/// Whether a boolean uv variable is set to true in the tool's environment.
fn env_true(cx: &super::Context<'_>, name: &str) -> bool {
    super::launch_var(cx.env, name).is_some_and(|v| {
        let v = v.to_string_lossy().trim().to_ascii_lowercase();
        !v.is_empty() && !matches!(v.as_str(), "0" | "false" | "no" | "off")
    })
}

/// uv installing from its lockfile with builds off: ``Distribution
/// `NAME==VERSION @ registry+URL` can't be installed because it is marked
/// as `--no-build` but has no binary distribution``.
pub fn parse_uv_no_build_dist(stderr: &str) -> Option<(String, String)> {
    const HEAD: &str = "Distribution `";
    for line in stderr
        .lines()
        .filter(|l| l.contains("marked as `--no-build`"))
    {
        let Some(at) = line.find(HEAD) else {
            continue;
        };
        let spec = line[at + HEAD.len()..].split('`').next().unwrap_or("");
        let spec = spec.split(" @ ").next().unwrap_or("").trim();
        let Some((n, v)) = spec.split_once("==") else {
            continue;
        };
        if !n.starts_with(|c: char| c.is_ascii_alphanumeric())
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            continue;
        }
        if let Ok(v) = <pep440_rs::Version as std::str::FromStr>::from_str(v) {
            return Some((n.to_string(), v.to_string()));
        }
    }
    None
}

/// The wheels-only dry run of `uv sync` / `uv lock` (captured; it builds
/// nothing), skipping the packages already decided (`uv sync
/// --no-install-package`).
fn uv_project_pass(sub: &str, args: &[String], skip: &[Needed]) -> Vec<String> {
    let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let mut a = args[..at].to_vec();
    let dry = ["--dry-run", "--check", "--check-exists"]
        .iter()
        .any(|f| has_flag(&a, f));
    if !dry {
        a.push("--dry-run".into());
    }
    if sub == "sync" {
        for n in skip {
            a.push("--no-install-package".into());
            a.push(n.name.clone());
        }
    }
    a.extend(args[at..].iter().cloned());
    a
}

/// What the wheels-only pass said uv would need to build.
enum UvNeed {
    /// Installing the locked `NAME==VERSION` (no resolution involved).
    Locked(Needed),
    /// Resolving: uv would build some version of the package to read its
    /// metadata (the one it names, when it does).
    Resolve(Needed),
}

fn uv_need(out: &std::process::Output) -> Option<UvNeed> {
    if out.status.success() {
        return None;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if let Some((name, version)) = parse_uv_no_build_dist(&err) {
        let local = uv_source_is_local(&err, &name);
        return Some(UvNeed::Locked(Needed {
            name,
            version,
            local,
        }));
    }
    parse_uv_missing(&err)
        .map(|m| {
            UvNeed::Resolve(Needed {
                local: uv_source_is_local(&err, &m.name),
                name: m.name,
                version: m.version.unwrap_or_default(),
            })
        })
        .or_else(|| {
            parse_uv_build_disabled(&err).map(|name| {
                UvNeed::Resolve(Needed {
                    local: uv_source_is_local(&err, &name),
                    name,
                    version: String::new(),
                })
            })
        })
}

/// Whether uv's message names `name`'s source as the project's own files:
/// ``Distribution `NAME==VERSION @ directory+../lib` ``, `` `NAME @
/// file:///…` `` (uv's `editable+`, `directory+`, `path+`, `virtual+`
/// sources and `file:` URLs), rather than a registry, git or remote URL.
pub fn uv_source_is_local(stderr: &str, name: &str) -> bool {
    let head = format!("`{name}");
    stderr.match_indices(&head).any(|(i, _)| {
        let rest = &stderr[i + head.len()..];
        let rest = match rest.strip_prefix("==") {
            Some(r) => r.trim_start_matches(|c: char| c != ' ' && c != '`'),
            None => rest,
        };
        rest.strip_prefix(" @ ").is_some_and(|src| {
            ["editable+", "directory+", "path+", "virtual+", "file:"]
                .iter()
                .any(|p| src.starts_with(p))
        })
    })
}

/// uv reading a direct URL, git or path sdist's metadata with builds off:
/// ``Building source distributions for `NAME` is disabled``.
pub fn parse_uv_build_disabled(stderr: &str) -> Option<String> {
    const HEAD: &str = "Building source distributions for `";
    let at = stderr.find(HEAD)? + HEAD.len();
    let rest = &stderr[at..];
    let name = rest.split('`').next()?;
    let ok = rest[name.len()..].starts_with("` is disabled")
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ok.then(|| name.to_string())
}

/// The denial of a package uv would build while resolving, which the
/// policy does not approve for every version.
fn resolution_denial(tool: &str, n: &Needed, ranged: Option<&str>) -> String {
    let which = if n.version.is_empty() {
        n.name.clone()
    } else {
        format!("{} (e.g. {})", n.name, n.version)
    };
    let approved = match ranged {
        Some(a) => format!(
            "`{a}` approves some versions only, and uv's resolver builds whichever versions of it \
             it considers (pkgward cannot hold it to a range)"
        ),
        None => "`[scripts]` does not approve it (wheels only under `scripts.default = \"deny\"`)"
            .to_string(),
    };
    let cmd = super::approve_command(crate::tools::Ecosystem::Pypi, &n.name, "", n.local);
    let then = if n.local {
        // `@local` approves every version of the project's own code.
        "(uv then builds it, supervised)".to_string()
    } else {
        format!(
            "(uv then builds it, supervised; once `uv.lock` pins a version, `uv sync` only needs \
             that version approved: {})",
            super::approve_command(
                crate::tools::Ecosystem::Pypi,
                &n.name,
                if n.version.is_empty() {
                    "VERSION"
                } else {
                    &n.version
                },
                false
            )
        )
    };
    format!(
        "`{tool}` needs to build {which} from its sdist to resolve the project, which runs the \
         package's build code (setup.py / its PEP 517 backend) at install time; {approved}.\n  \
         approve: {cmd}\n{then}"
    )
}

/// [`resolution_denial`] of `n`, which no entry approves for every
/// version: the ranged approval that does not hold uv's resolver (fetched
/// code), or why a registry approval does not count (the project's own).
fn resolution_denied(tool: &str, n: &Needed, policy: &crate::policy::Policy) -> String {
    let ranged = policy
        .approves_name(crate::tools::Ecosystem::Pypi, &n.name)
        .filter(|_| !n.local)
        .map(|a| a.value.clone());
    with_note(resolution_denial(tool, n, ranged.as_deref()), policy, n)
}

/// A denial of `n`, followed by why a registry approval of its name does
/// not approve it when it is the project's own code ([`super::local_note`]).
fn with_note(message: String, policy: &crate::policy::Policy, n: &Needed) -> String {
    match super::local_note(policy, crate::tools::Ecosystem::Pypi, &n.name, n.local) {
        Some(note) => format!("{message}\n({note})"),
        None => message,
    }
}

/// `uv sync` / `uv lock` with PyPI approvals, before the real run: finds
/// the sdists uv would build with a wheels-only dry run, decides each, and
/// gives uv `--no-binary-package` for the approved ones only (see above);
/// an unapproved one denies the invocation (recorded, with the approve
/// command).
fn uv_project(
    sub: &'static str,
    tool: &str,
    run: &confine::ToolRun,
    cx: &super::Context<'_>,
    log: &mut Option<crate::record::AuditLog>,
    notice: &mut dyn FnMut(String),
) -> crate::error::Result<Option<Prebuilt>> {
    use super::ScriptDecision;
    if matches!(sub, "add" | "remove") {
        return uv_edit::check(sub, tool, run, cx, log, notice);
    }
    let all = lossy(cx.args);
    // `uv run`: the pass is the `uv sync` it starts with; pkgward's
    // options go right after `run` (before the command).
    let (at, args, sub) = if sub == "run" {
        match uv_run_as_sync(&all) {
            Some((at, sync)) => (Some(at), sync, "sync"),
            None => return Ok(None),
        }
    } else {
        (None, all.clone(), sub)
    };
    let mut builds: Vec<(Needed, ScriptDecision, Option<String>)> = Vec::new();
    let mut resolves = false;
    while builds.len() < MAX_BUILDS {
        let skip: Vec<Needed> = builds.iter().map(|(n, ..)| n.clone()).collect();
        let Some(out) = captured(cx.program, &uv_project_pass(sub, &args, &skip), cx) else {
            break;
        };
        match uv_need(&out) {
            None => break,
            Some(UvNeed::Locked(n)) => {
                let key = crate::tools::pep503(&n.name);
                if builds
                    .iter()
                    .any(|(b, ..)| crate::tools::pep503(&b.name) == key)
                {
                    break;
                }
                let (decision, by) = super::decide(
                    cx.policy,
                    cx.mode,
                    crate::tools::Ecosystem::Pypi,
                    &n.name,
                    &n.version,
                    n.local,
                );
                if !decision.runs() {
                    let rec = script_record(cx, &n.name, &n.version, decision, None);
                    super::append(log, &rec, notice);
                    return Err(crate::error::Error::Denied {
                        message: with_note(denial(tool, &n), cx.policy, &n),
                    });
                }
                builds.push((n, decision, by));
            }
            Some(UvNeed::Resolve(n)) => {
                let Some(by) = cx.policy.approves_every_version(
                    crate::tools::Ecosystem::Pypi,
                    &n.name,
                    n.local,
                ) else {
                    let rec = script_record(cx, &n.name, &n.version, ScriptDecision::Deny, None);
                    super::append(log, &rec, notice);
                    return Err(crate::error::Error::Denied {
                        message: resolution_denied(tool, &n, cx.policy),
                    });
                };
                // uv may need more sdists past this one; the pass cannot see
                // them without building this one, so the real run shows them
                // (wheels only: it fails on an unapproved one).
                builds.push((n, ScriptDecision::Approved, Some(by)));
                resolves = true;
                break;
            }
        }
    }
    if builds.is_empty() {
        return Ok(None);
    }
    let mut extra: Vec<String> = Vec::new();
    for (n, ..) in &builds {
        extra.push("--no-binary-package".into());
        extra.push(n.name.clone());
    }
    let frozen = has_flag(&args, "--frozen") || env_true(cx, "UV_FROZEN");
    let locked = has_flag(&args, "--locked") || env_true(cx, "UV_LOCKED");
    if sub == "sync" && !resolves && !frozen && !locked {
        // uv must not resolve again: that could build another version.
        extra.push("--locked".into());
        notice(format!(
            "`{tool}` runs with --locked so that only the locked versions of the approved sdists \
             build (run `uv lock` first if the lockfile is out of date)"
        ));
    }
    let at = at.unwrap_or(all.len()).min(all.len());
    approved_run(builds, extra, at, &all, run, cx)
}

/// The real run of a uv project command that builds `builds` (approved)
/// itself with `extra` inserted at `at`: when a build is to be confined,
/// uv's whole run is ([`confine`]); the builds' records are kept for
/// [`Prebuilt::record_after`].
fn approved_run(
    builds: Vec<(Needed, super::ScriptDecision, Option<String>)>,
    extra: Vec<String>,
    at: usize,
    all: &[String],
    run: &confine::ToolRun,
    cx: &super::Context<'_>,
) -> crate::error::Result<Option<Prebuilt>> {
    let confined = builds
        .iter()
        .any(|(_, decision, _)| super::confines(cx.policy, *decision));
    let project = uv_project_dir(all);
    if confined {
        // uv builds inside its own run: that run is confined as a whole.
        run.want(confine::Want {
            kind: confine::Kind::Uv,
            project: std::fs::canonicalize(&project).unwrap_or_else(|_| project.clone()),
            extra: Vec::new(),
        });
    }
    let mut launched = all.to_vec();
    launched.splice(at..at, extra.iter().cloned());
    let mut runner = vec!["uv".to_string()];
    runner.extend(launched);
    let pending = builds
        .into_iter()
        .map(|(n, decision, by)| {
            let mut rec = script_record(cx, &n.name, &n.version, decision, by);
            rec.command =
                format!(
                "build the sdist of {} {} (its PEP 517 backend / setup.py), by uv in its own run \
                 (or taken from uv's cache of an earlier build)",
                n.name,
                if n.version.is_empty() { "(any version)" } else { &n.version }
            );
            rec.runner = Some(runner.clone());
            rec
        })
        .collect();
    Ok(Some(Prebuilt {
        replace: Vec::new(),
        args: extra.into_iter().map(Into::into).collect(),
        at: Some(at),
        _dir: None,
        pending,
        started: std::time::Instant::now(),
        project: Some(project),
        installed_in: Vec::new(),
        confine: confined.then(|| (run.clone(), "uv builds the sdist inside its own run")),
    }))
}

/// After a wheels-only `uv sync` / `uv lock` without PyPI approvals failed:
/// when an sdist was the cause, records the denial and says which command
/// approves it.
fn uv_project_explain(
    sub: &'static str,
    tool: &str,
    cx: &super::Context<'_>,
    log: &mut Option<crate::record::AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Option<i32> {
    if matches!(sub, "add" | "remove") {
        // Checked before the run (uv_edit).
        return None;
    }
    let mut args = lossy(cx.args);
    let mut sub = sub;
    if sub == "run" {
        args = uv_run_as_sync(&args)?.1;
        sub = "sync";
    }
    let out = captured(cx.program, &uv_project_pass(sub, &args, &[]), cx)?;
    let message = match uv_need(&out)? {
        UvNeed::Locked(n) => {
            let (decision, _) = super::decide(
                cx.policy,
                cx.mode,
                crate::tools::Ecosystem::Pypi,
                &n.name,
                &n.version,
                n.local,
            );
            let rec = script_record(cx, &n.name, &n.version, decision, None);
            super::append(log, &rec, notice);
            with_note(denial(tool, &n), cx.policy, &n)
        }
        UvNeed::Resolve(n) => {
            let rec = script_record(cx, &n.name, &n.version, super::ScriptDecision::Deny, None);
            super::append(log, &rec, notice);
            with_note(resolution_denial(tool, &n, None), cx.policy, &n)
        }
    };
    notice(format!("denied: {message}"));
    Some(crate::error::exit::DENIED)
}

impl Prebuilt {
    /// Adds [`Prebuilt::args`] to the tool's arguments, where they go.
    pub fn apply(&self, args: &mut Vec<std::ffi::OsString>) {
        for (i, v) in &self.replace {
            if let Some(a) = args.get_mut(*i) {
                a.clone_from(v);
            }
        }
        let at = self.at.unwrap_or(args.len()).min(args.len());
        args.splice(at..at, self.args.iter().cloned());
    }

    /// After the real tool ended: the `script` records of the approved
    /// builds uv (or pip, an editable install) ran itself (its exit code
    /// and duration are the run's).
    pub fn record_after(
        &self,
        code: i32,
        signal: Option<i32>,
        log: Option<&crate::record::LogTarget>,
        notice: &mut dyn FnMut(String),
    ) {
        if self.pending.is_empty() {
            return;
        }
        let mut log = log.and_then(|t| t.open().ok());
        let ms = (self.started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        for p in &self.pending {
            let mut rec = p.clone();
            if rec.version.is_empty() {
                // Resolved by uv: the version it locked; pip: the one it
                // installed.
                if let Some(v) = self
                    .project
                    .as_deref()
                    .and_then(|d| locked_version(d, &rec.package))
                    .or_else(|| installed_version(&self.installed_in, &rec.package))
                {
                    rec.version = v;
                }
            }
            if let Some((run, what)) = &self.confine {
                rec.sandbox = Some(run.record(what));
            }
            rec.time = crate::record::now_rfc3339();
            rec.ran = true;
            rec.exit_code = Some(code);
            rec.signal = signal;
            rec.duration_ms = Some(ms);
            super::append(&mut log, &rec, notice);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_and_uv_messages() {
        let m = parse_pip_missing(
            "ERROR: Could not find a version that satisfies the requirement foo-sd>=1.1 (from bar) (from versions: none)\n\
             ERROR: No matching distribution found for Foo_Sd[x]>=1.1; python_version > \"3\"\n",
        )
        .unwrap();
        assert_eq!((m.name.as_str(), m.spec.as_str()), ("Foo_Sd", ">=1.1"));
        assert_eq!(
            parse_pip_missing("ERROR: No matching distribution found for -x"),
            None
        );
        assert_eq!(
            parse_pip_missing("ERROR: No matching distribution found for a @ https://x"),
            None
        );
        let u = parse_uv_missing(
            "  cause: Because foo-sd==1.2.0 has no usable wheels and only ...\n\
             hint: Wheels are required for `foo-sd` because building from source is disabled",
        )
        .unwrap();
        assert_eq!(u.name, "foo-sd");
        assert_eq!(u.version.as_deref(), Some("1.2.0"));
        assert_eq!(
            parse_uv_missing("hint: Wheels are required for `--x`"),
            None
        );
        let odd = parse_uv_missing(
            "Because a==1.0;--x has no usable wheels\nhint: Wheels are required for `a`",
        )
        .unwrap();
        assert_eq!(odd.version, None);
    }

    #[test]
    fn the_projects_own_sources_are_local() {
        // As uv 0.13 says them.
        let locked = |src: &str| {
            format!(
                "error: Distribution `numpy==0.1.0 @ {src}` can't be installed because it is \
                 marked as `--no-build` but has no binary distribution\n"
            )
        };
        for src in [
            "directory+../lib",
            "editable+.",
            "path+../x-1.0.tar.gz",
            "virtual+ws",
        ] {
            assert!(uv_source_is_local(&locked(src), "numpy"), "{src}");
        }
        assert!(!uv_source_is_local(
            &locked("registry+http://127.0.0.1/simple"),
            "numpy"
        ));
        assert!(!uv_source_is_local(&locked("directory+../lib"), "other"));
        let resolving = |src: &str| {
            format!(
                "error: Failed to build `numpy @ {src}`\n  \
                 cause: Building source distributions for `numpy` is disabled\n"
            )
        };
        assert!(uv_source_is_local(&resolving("file:///tmp/lib"), "numpy"));
        assert!(!uv_source_is_local(
            &resolving("http://127.0.0.1/numpy-1.0.tar.gz"),
            "numpy"
        ));
        assert!(!uv_source_is_local(
            &resolving("git+https://h.test/n.git"),
            "numpy"
        ));
        // pip's direct references (and Pipfile `file`/`path` values).
        use super::super::pipenv::is_local_target;
        for t in [
            "./x-1.0.tar.gz",
            "/abs/x.zip",
            "file:///tmp/lib",
            "FILE:///x",
        ] {
            assert!(is_local_target(t), "{t}");
        }
        for t in [
            "https://h.test/x.tar.gz",
            "git+file:///repo",
            "hg+https://h/x",
        ] {
            assert!(!is_local_target(t), "{t}");
        }
    }

    #[test]
    fn uv_project_messages_and_passes() {
        assert_eq!(
            parse_uv_no_build_dist(
                "Resolved 3 packages in 1ms\nerror: Distribution `Pw_X.sdist==1.1 @ registry+http://127.0.0.1/s` \
                 can't be installed because it is marked as `--no-build` but has no binary distribution\n"
            ),
            Some(("Pw_X.sdist".to_string(), "1.1".to_string()))
        );
        assert_eq!(
            parse_uv_no_build_dist("Distribution `-x==1 @ a` is marked as `--no-build`"),
            None
        );
        assert_eq!(
            parse_uv_build_disabled(
                "  cause: Failed to download and build `Sd_a @ http://127.0.0.1/a.tar.gz`\n  \
                 cause: Building source distributions for `Sd_a` is disabled\n"
            )
            .as_deref(),
            Some("Sd_a")
        );
        assert_eq!(
            parse_uv_build_disabled("Building source distributions for `-x` is disabled"),
            None
        );
        assert_eq!(
            parse_uv_build_disabled("Building source distributions for `x` was fine"),
            None
        );
        assert_eq!(
            parse_uv_no_build_dist("Distribution `x==1;y @ a` is marked as `--no-build`"),
            None
        );
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            uv_project_sub(&a(&["--directory", "sync", "lock"])),
            Some("lock")
        );
        assert_eq!(
            uv_project_sub(&a(&["-q", "sync", "--frozen"])),
            Some("sync")
        );
        assert_eq!(uv_project_sub(&a(&["pip", "sync"])), None);
        assert_eq!(uv_project_sub(&a(&["run", "--", "sync"])), Some("run"));
        assert_eq!(uv_project_sub(&a(&["tool", "run", "x"])), None);
        assert_eq!(uv_project_sub(&a(&["--", "sync"])), None);
        let skip = [Needed {
            name: "x".into(),
            version: "1".into(),
            local: false,
        }];
        assert_eq!(
            uv_project_pass("sync", &a(&["sync", "--extra", "e"]), &skip),
            a(&[
                "sync",
                "--extra",
                "e",
                "--dry-run",
                "--no-install-package",
                "x"
            ])
        );
        assert_eq!(
            uv_project_pass("lock", &a(&["lock", "--check"]), &skip),
            a(&["lock", "--check"])
        );
        assert_eq!(
            uv_run_as_sync(&a(&[
                "-q",
                "run",
                "--with",
                "x",
                "--extra=e",
                "--group",
                "g",
                "-m",
                "--env-file",
                "f",
                "--frozen",
                "pytest",
                "--extra",
                "z"
            ])),
            Some((
                2,
                a(&["-q", "sync", "--extra=e", "--group", "g", "--frozen"])
            ))
        );
        assert_eq!(
            uv_run_as_sync(&a(&["--directory", "d", "run", "--", "python"])),
            Some((3, a(&["--directory", "d", "sync"])))
        );
        assert_eq!(uv_run_as_sync(&a(&["run", "--no-sync", "x"])), None);
        assert_eq!(uv_run_as_sync(&a(&["run", "--script", "x.py"])), None);
        assert_eq!(uv_run_as_sync(&a(&["tool", "run", "x"])), None);
        assert!(has_flag(&a(&["--locked=true"]), "--locked"));
        assert!(!has_flag(&a(&["--lockedx"]), "--locked"));
    }

    #[test]
    fn a_config_file_on_the_command_line_is_read() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("c.toml"), "no-binary-package = [\"x\"]\n").unwrap();
        let none = |_: &str| None;
        for args in [
            vec!["sync", "--config-file", "c.toml"],
            vec!["--config-file=c.toml", "lock"],
        ] {
            let args: Vec<String> = args.into_iter().map(String::from).collect();
            let v = uv_violations(&args, &none, d.path(), None);
            assert_eq!(v.len(), 1, "{args:?}");
            assert_eq!(v[0].code, BUILD_CODE);
        }
        let args: Vec<String> = vec!["sync".into()];
        assert!(uv_violations(&args, &none, d.path(), None).is_empty());
    }

    #[test]
    fn versions_and_specifiers() {
        let v: Vec<String> =
            parse_pip_versions("foo (2.0)\nAvailable versions: 2.0, 1.5, 1.0, 3.0rc1\n");
        assert_eq!(v.len(), 4);
        assert_eq!(best_version(&v, "", false).as_deref(), Some("2.0"));
        assert_eq!(best_version(&v, "<2", false).as_deref(), Some("1.5"));
        assert_eq!(best_version(&v, ">2", false).as_deref(), Some("3.0rc1"));
        assert_eq!(best_version(&v, "", true).as_deref(), Some("3.0rc1"));
        assert_eq!(best_version(&v, ">5", false), None);
    }

    #[test]
    fn resolution_args_and_index_options() {
        let a: Vec<String> = [
            "download",
            "-d",
            "out",
            "--dest=o2",
            "-dX",
            "-i",
            "http://127.0.0.1/s",
            "foo",
        ]
        .map(String::from)
        .to_vec();
        let r = pip_resolution_args("download", &a, Path::new("/wh"), Path::new("/t"));
        assert_eq!(
            r,
            [
                "install",
                "-i",
                "http://127.0.0.1/s",
                "foo",
                "--dry-run",
                "--quiet",
                "--target",
                "/t",
                "--find-links",
                "/wh"
            ]
            .map(String::from)
            .to_vec()
        );
        assert_eq!(
            pip_index_args(&a, Path::new(".")),
            vec!["-i".to_string(), "http://127.0.0.1/s".into()]
        );
        let (args, _) = uv_index_as_pip(
            &[
                "pip",
                "install",
                "--index",
                "x=http://127.0.0.1/a",
                "--default-index=http://127.0.0.1/b",
            ]
            .map(String::from),
        );
        assert_eq!(
            args,
            [
                "--extra-index-url",
                "http://127.0.0.1/a",
                "--index-url",
                "http://127.0.0.1/b"
            ]
            .map(String::from)
        );
    }
}
