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
//! * poetry: `POETRY_INSTALLER_ONLY_BINARY=:all:`; pipenv and pipx run pip:
//!   `PIP_ONLY_BINARY=:all:` (and `UV_NO_BUILD=1`).
//!
//! Neither pip nor uv can say "wheels only, except that this package may
//! also build its sdist": `--no-binary NAME` / `--no-binary-package NAME`
//! mean "NAME from source", which breaks NAME wherever only a wheel exists.
//! So a PyPI approval does not lift wheels-only yet (it approves
//! fetch-and-execute, see [`super::exec`]); `scripts.default = "allow"` or
//! `"sandbox"` lifts it for every package. Building approved sdists is left
//! to pkgward itself (into a private wheelhouse, through
//! [`crate::supervise::install_code`]).

use std::path::{Path, PathBuf};

use crate::classify::Verb;
use crate::record::Reason;
use crate::tools::Tool;

use super::Setup;

/// pip's subcommands that resolve and may build.
const PIP_BUILDING: [&str; 3] = ["install", "download", "wheel"];

pub(super) fn setup(tool: Tool, verb: Verb, args: &[String]) -> Option<Setup> {
    match tool.name {
        "pip" | "pip3" => {
            let sub = args.iter().find(|a| !a.starts_with('-'))?;
            if !PIP_BUILDING.contains(&sub.as_str()) {
                return None;
            }
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
                build: None,
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
                    build: None,
                }),
                // Building the user's own project is what they asked for.
                ["build" | "publish", ..] => None,
                _ => Some(Setup {
                    env,
                    disables_builds: verb != Verb::Other,
                    ..Setup::default()
                }),
            }
        }
        "uvx" => Some(Setup {
            env: vec![("UV_NO_BUILD".into(), "1".into())],
            disables_builds: true,
            ..Setup::default()
        }),
        "poetry" | "pipenv" | "pipx" if verb != Verb::Other || tool.name == "pipx" => Some(Setup {
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
