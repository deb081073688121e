//! cargo: build scripts (`build.rs`, target kind `custom-build`) and
//! proc-macros run during every build, and cargo has no switch to turn them
//! off. So a building command is split in two:
//!
//! 1. **fetch** — the shim runs `cargo fetch` instead of the user's command,
//!    with the user's global options (`+toolchain`, `--config`, `-Z`, `-C`)
//!    and manifest/lockfile options (`--manifest-path`, `--locked`,
//!    `--frozen`, `--offline`, `--lockfile-path`): the network step,
//!    supervised like any fetch (approved registries only — the checks of
//!    [`crate::classify`] and [`crate::decide`] have already run on the
//!    user's command — through the egress proxy). It runs no crate code.
//!    It is skipped when it has nothing to do: the graph cache answers for
//!    the project as it is, or an offline `cargo metadata --locked` shows
//!    the lockfile needs no change and every package in it is already on
//!    the machine ([`nothing_to_fetch`]). That check starts with the plan
//!    ([`Plan::apply`]) and runs while the shim sets up the rest of the
//!    invocation; the confined build's sandbox is prepared while it runs.
//!    On Linux, under pkgward's own tracer, the build does not wait for
//!    that answer: it starts at once behind a gate
//!    ([`crate::supervise::linux::gate`]) that holds every exec of its tree
//!    but rustc's probes until step 2 has decided, so that cargo's own
//!    start-up (manifests, lockfile, rustc probes) runs alongside. A denial
//!    kills it before it compiled anything; an answer that something is
//!    missing after all stops it too, and the fetch runs.
//! 2. **decide** — `cargo metadata --offline --format-version 1` (with the
//!    user's feature flags) lists the graph; every crate that the command
//!    can build ([`find`]: normal and build dependencies, dev-dependencies
//!    of workspace members only for commands that build tests, examples or
//!    benches, dependencies for other platforms left out) with a build
//!    script or a proc-macro is decided with [`super::decide`] against
//!    `[scripts] allow` (`cargo:NAME[@REQ]`, a Cargo version requirement).
//!    In enforce mode one unapproved crate denies the build (exit 77),
//!    before any build script ran, with the list and the `pkgward approve
//!    cargo:NAME@VERSION` commands; every crate is a `script` record.
//! 3. **build** — the user's command with `--offline` (and
//!    `CARGO_NET_OFFLINE=true`) through
//!    [`crate::supervise::install_code::run_install_code`], `sandboxed`
//!    (no network; writes confined to the target directory and cargo's
//!    own cache, once the sandbox lands there). `cargo run` / `test` /
//!    `bench` first compile with the same options (`build`, `test
//!    --no-run`, `bench --no-run`) under the sandbox, then run the
//!    user's command offline unsandboxed (it finds everything built, so no
//!    build script runs again; the program or tests are the user's own
//!    code, which runs as it would without pkgward).
//!
//! The project's own packages (workspace members, and path dependencies:
//! packages without a `source`) are the project's code: their build
//! scripts and proc-macros run — sandboxed — without an approval and are
//! recorded with decision `project`.
//!
//! `cargo install NAME[@VER]` (a registry or `--git` crate): the fetch runs
//! on a private probe project that depends on the crate(s) with the same
//! version, features and source, then `cargo install … --offline`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::policy::{Mode, ScriptsDefault};
use crate::record::{self, AuditLog};
use crate::supervise::install_code::{run_install_code, InstallCode};
use crate::tools::Ecosystem;

use super::{ScriptDecision, ScriptRecord};

/// The reason code of a `cargo install` whose crate cannot be checked
/// before it builds.
pub const UNCHECKED_CODE: &str = "cargo-install-unchecked";

/// Subcommands that compile (and so run build scripts and proc-macros).
const BUILDING: &[&str] = &[
    "build", "b", "check", "c", "clippy", "doc", "d", "fix", "rustc", "rustdoc", "test", "t",
    "bench", "run", "r", "install", "package",
];

/// Subcommands that never compile: left alone.
const NOT_BUILDING: &[&str] = &[
    "fetch",
    "generate-lockfile",
    "update",
    "tree",
    "vendor",
    "metadata",
    "add",
    "remove",
    "rm",
    "owner",
    "yank",
    "login",
    "logout",
    "search",
    "new",
    "init",
    "clean",
    "fmt",
    "help",
    "locate-project",
    "pkgid",
    "read-manifest",
    "verify-project",
    "version",
    "uninstall",
    "info",
    "report",
    "config",
    "miri",
];

/// Global options that take a value.
const GLOBAL_VALUE: &[&str] = &["--config", "-Z", "--color", "-C", "--explain"];

/// Options of the building subcommands that take a value (so their value is
/// not a positional).
const SUB_VALUE: &[&str] = &[
    "--bin",
    "--example",
    "--test",
    "--bench",
    "-p",
    "--package",
    "--exclude",
    "-F",
    "--features",
    "-j",
    "--jobs",
    "--profile",
    "--target",
    "--target-dir",
    "--manifest-path",
    "--lockfile-path",
    "--message-format",
    "--color",
    "--config",
    "-Z",
    "--version",
    "--vers",
    "--git",
    "--branch",
    "--tag",
    "--rev",
    "--path",
    "--root",
    "--index",
    "--registry",
    "--artifact-dir",
    "--out-dir",
    "--crate-type",
    "--open-result",
    "--token",
];

/// What the shim does for one building cargo command.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The subcommand as written (`b`, `test`, an alias…).
    pub sub: String,
    /// A builtin building subcommand (the others are aliases or external
    /// subcommands: run offline, unsandboxed, after the same checks).
    pub builtin: bool,
    /// Dev-dependencies of workspace members are built.
    pub include_dev: bool,
    /// `--target` given: dependencies of every platform are considered.
    pub cross: bool,
    /// The user's feature flags, for `cargo metadata`.
    pub features: Vec<String>,
    /// `cargo install NAME…`: the probe project fetched and inspected.
    pub probe: Option<Arc<tempfile::TempDir>>,
    /// The user's own arguments (the graph cache's key).
    pub user_args: Vec<String>,
    /// The graph cache answers for this project as it is now: the last
    /// fetch for the same lockfile and manifests succeeded, so nothing is
    /// missing and the fetch is skipped.
    pub skip_fetch: bool,
    /// The user's arguments as the real tool would have got them (after
    /// pkgward's mirror settings), set by [`Plan::apply`].
    real_args: OnceLock<Vec<OsString>>,
    /// The global part of those arguments (up to the subcommand).
    global: OnceLock<Vec<OsString>>,
    /// The offline `cargo metadata --locked` of [`nothing_to_fetch`],
    /// started by [`Plan::apply`] so that it runs while the shim sets up
    /// the rest of the invocation (provenance, egress proxy).
    early: Arc<std::sync::Mutex<Option<EarlyMetadata>>>,
    /// Set by [`nothing_to_fetch`] when it did not wait ([`Ahead`]).
    ahead: Arc<std::sync::Mutex<Option<Ahead>>>,
}

/// A `cargo metadata` started ahead ([`Plan::early`]); killed and reaped
/// if nobody waits for it.
#[derive(Debug)]
struct EarlyMetadata(Option<std::process::Child>);

impl EarlyMetadata {
    /// Its output, as [`metadata_with`] gives it.
    fn wait(mut self) -> Result<String, String> {
        let child = self.0.take().ok_or("`cargo metadata` was not started")?;
        metadata_output(child.wait_with_output())
    }
}

impl Drop for EarlyMetadata {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn split_opt(a: &str) -> (&str, Option<&str>) {
    match a.split_once('=') {
        Some((n, v)) if n.starts_with("--") => (n, Some(v)),
        _ => (a, None),
    }
}

/// Index of the subcommand: after `+toolchain` and the global options.
pub fn sub_at(args: &[String]) -> Option<usize> {
    let mut i = usize::from(args.first().is_some_and(|a| a.starts_with('+')));
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" {
            return None;
        }
        if !a.starts_with('-') || a == "-" {
            return Some(i);
        }
        i += 1;
        let (name, inline) = split_opt(a);
        if GLOBAL_VALUE.contains(&name) && inline.is_none() {
            i += 1;
        }
    }
    None
}

/// The options after the subcommand up to `--`, as (name, value) pairs
/// (value `None` for flags) plus the positionals.
fn sub_options(rest: &[String]) -> (Vec<(String, Option<String>)>, Vec<String>) {
    let mut opts = Vec::new();
    let mut pos = Vec::new();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if !a.starts_with('-') || a == "-" {
            pos.push(a.clone());
            continue;
        }
        let (name, inline) = split_opt(a);
        if let Some(v) = inline {
            opts.push((name.to_string(), Some(v.to_string())));
        } else if SUB_VALUE.contains(&name) {
            opts.push((name.to_string(), it.next().cloned()));
        } else if let Some(v) = name.strip_prefix("-F").filter(|v| !v.is_empty()) {
            opts.push(("-F".into(), Some(v.to_string())));
        } else if let Some(v) = name.strip_prefix("-Z").filter(|v| !v.is_empty()) {
            opts.push(("-Z".into(), Some(v.to_string())));
        } else {
            opts.push((name.to_string(), None));
        }
    }
    (opts, pos)
}

/// Whether `dir` or one of its ancestors has a `Cargo.toml`.
fn in_project(dir: &Path) -> bool {
    dir.ancestors().any(|d| d.join("Cargo.toml").is_file())
}

/// The plan for a cargo command line, or `None` when it builds nothing
/// (or mode `off`, decided by the caller).
pub fn plan(args: &[String], cwd: &Path) -> Option<Plan> {
    let at = sub_at(args)?;
    let sub = args[at].as_str();
    if NOT_BUILDING.contains(&sub) {
        return None;
    }
    // `cargo publish` verifies the package by building it (dependencies'
    // build scripts included), unless told not to.
    let builtin = BUILDING.contains(&sub) || sub == "publish";
    let rest = &args[at + 1..];
    let (opts, pos) = sub_options(rest);
    let has = |n: &str| opts.iter().any(|(k, _)| k == n);
    if rest.iter().any(|a| a == "-h" || a == "--help") || has("--list") {
        return None;
    }
    if sub == "publish" && has("--no-verify") {
        return None;
    }
    let global_chdir = args[..at].iter().any(|a| a == "-C" || a.starts_with("-C"));
    if !builtin && !has("--manifest-path") && !global_chdir && !in_project(cwd) {
        // An external subcommand outside a project (`cargo audit`, …).
        return None;
    }
    let include_dev = !builtin
        || matches!(sub, "test" | "t" | "bench" | "fix")
        || [
            "--all-targets",
            "--tests",
            "--test",
            "--benches",
            "--bench",
            "--examples",
            "--example",
        ]
        .iter()
        .any(|f| has(f));
    let cross = has("--target") || args[..at].iter().any(|a| a.contains("build.target"));
    let mut features = Vec::new();
    for (k, v) in &opts {
        match (k.as_str(), v) {
            ("--features" | "-F", Some(v)) => {
                features.push("--features".into());
                features.push(v.clone());
            }
            ("--all-features" | "--no-default-features", None) => features.push(k.clone()),
            _ => {}
        }
    }
    let mut probe = None;
    if sub == "install" {
        if has("--path") {
            // Local sources: fetched through their manifest.
        } else if pos.is_empty() || has("--index") {
            // Nothing named, or an index URL: see [`unsupported`].
            return None;
        } else {
            probe = Some(Arc::new(install_probe(&opts, &pos).ok()?));
            features.clear();
        }
    }
    let mut plan = Plan {
        sub: sub.to_string(),
        builtin,
        include_dev: include_dev && sub != "install",
        cross,
        features,
        probe,
        user_args: args.to_vec(),
        skip_fetch: false,
        real_args: OnceLock::new(),
        global: OnceLock::new(),
        early: Default::default(),
        ahead: Default::default(),
    };
    plan.skip_fetch = plan.probe.is_none()
        && graph_cache_path(&plan, cwd)
            .as_deref()
            .and_then(cached_graph)
            .is_some();
    Some(plan)
}

/// `cargo install` forms that pkgward cannot check ahead (an `--index`
/// URL: a probe manifest cannot name one on stable cargo).
pub fn unsupported(args: &[String]) -> Option<String> {
    let at = sub_at(args)?;
    if args[at] != "install" {
        return None;
    }
    let (opts, pos) = sub_options(&args[at + 1..]);
    if pos.is_empty() || opts.iter().any(|(k, _)| k == "--path") {
        return None;
    }
    opts.iter().any(|(k, _)| k == "--index").then(|| {
        "`cargo install --index URL`: pkgward cannot check the build scripts and proc-macros \
         of the crate before it builds; name the registry instead (`--registry NAME` with \
         `[registries.NAME] index = \"URL\"` in cargo's config)"
            .to_string()
    })
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The probe project of `cargo install`: one dependency per crate named,
/// with the version, source and features the install uses.
fn install_probe(
    opts: &[(String, Option<String>)],
    crates: &[String],
) -> std::io::Result<tempfile::TempDir> {
    let get = |n: &[&str]| {
        opts.iter()
            .rev()
            .find(|(k, _)| n.contains(&k.as_str()))
            .and_then(|(_, v)| v.clone())
    };
    let version = get(&["--version", "--vers"]);
    let mut features: Vec<String> = Vec::new();
    for (k, v) in opts {
        if let ("--features" | "-F", Some(v)) = (k.as_str(), v) {
            features.extend(
                v.split([' ', ','])
                    .filter(|f| !f.is_empty())
                    .map(str::to_string),
            );
        }
    }
    let has = |n: &str| opts.iter().any(|(k, _)| k == n);
    let mut deps = String::new();
    for (i, spec) in crates.iter().enumerate() {
        let (name, ver) = match spec.split_once('@') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (spec.as_str(), version.clone()),
        };
        let mut fields = vec![format!("package = {}", toml_str(name))];
        if let Some(git) = get(&["--git"]) {
            fields.push(format!("git = {}", toml_str(&git)));
            for (flag, key) in [("--branch", "branch"), ("--tag", "tag"), ("--rev", "rev")] {
                if let Some(v) = get(&[flag]) {
                    fields.push(format!("{key} = {}", toml_str(&v)));
                }
            }
            if let Some(v) = ver {
                fields.push(format!("version = {}", toml_str(&v)));
            }
        } else {
            // `cargo install x --version 1.2.3` means `^1.2.3`'s newest
            // unless it is an exact version: `=` keeps it exact.
            let req = match ver {
                Some(v) if semver::Version::parse(&v).is_ok() => format!("={v}"),
                Some(v) => v,
                None => "*".into(),
            };
            fields.push(format!("version = {}", toml_str(&req)));
            if let Some(r) = get(&["--registry"]) {
                fields.push(format!("registry = {}", toml_str(&r)));
            }
        }
        if has("--all-features") {
            // Every feature of the crate: approximated by the union the
            // resolver sees with `--all-features` on the probe's metadata.
        }
        if !features.is_empty() {
            let list: Vec<String> = features.iter().map(|f| toml_str(f)).collect();
            fields.push(format!("features = [{}]", list.join(", ")));
        }
        if has("--no-default-features") {
            fields.push("default-features = false".into());
        }
        deps.push_str(&format!("dep{i} = {{ {} }}\n", fields.join(", ")));
    }
    let dir = tempfile::Builder::new()
        .prefix("pkgward-cargo-install-")
        .tempdir()?;
    std::fs::create_dir_all(dir.path().join("src"))?;
    std::fs::write(dir.path().join("src/lib.rs"), "")?;
    std::fs::write(
        dir.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"pkgward-install-probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[workspace]\n\n[dependencies]\n{deps}"
        ),
    )?;
    Ok(dir)
}

impl Plan {
    /// Replaces the real tool's arguments with the fetch, keeping the
    /// user's (mirror-adjusted) arguments for the build.
    pub fn apply(&self, launch: &mut crate::supervise::Launch) {
        let args: Vec<String> = launch
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let _ = self.real_args.set(launch.args.clone());
        let Some(at) = sub_at(&args) else {
            return;
        };
        let _ = self.global.set(launch.args[..at].to_vec());
        if self.skip_fetch {
            return;
        }
        if self.probe.is_none() {
            if let Ok(cwd) = std::env::current_dir() {
                if self.may_have_nothing_to_fetch(&cwd) {
                    let child = metadata_command(self, &launch.program, &launch.env, true)
                        .stdout(std::process::Stdio::piped())
                        .stderr(std::process::Stdio::piped())
                        .spawn();
                    if let (Ok(child), Ok(mut early)) = (child, self.early.lock()) {
                        *early = Some(EarlyMetadata(Some(child)));
                    }
                }
            }
        }
        let mut fetch: Vec<OsString> = launch.args[..at].to_vec();
        fetch.push("fetch".into());
        fetch.extend(
            self.passed_on(&args[at + 1..])
                .into_iter()
                .map(OsString::from),
        );
        launch.args = fetch;
    }

    /// The options of the user's command that `cargo fetch` and `cargo
    /// metadata` take too (manifest, lockfile, config, verbosity).
    fn passed_on(&self, rest: &[String]) -> Vec<String> {
        let (opts, _) = sub_options(rest);
        let mut out = Vec::new();
        for (k, v) in opts {
            let keep = match k.as_str() {
                "--manifest-path" | "--lockfile-path" => self.probe.is_none(),
                "--config" | "-Z" | "--locked" | "--frozen" | "--offline" | "--color" => true,
                "-q" | "--quiet" | "-v" | "-vv" | "--verbose" => true,
                _ => false,
            };
            if !keep {
                continue;
            }
            match v {
                Some(v) if k == "-Z" => out.push(format!("-Z{v}")),
                Some(v) => out.push(format!("{k}={v}")),
                None => out.push(k),
            }
        }
        if let Some(p) = &self.probe {
            out.push(format!(
                "--manifest-path={}",
                p.path().join("Cargo.toml").display()
            ));
        }
        out
    }

    /// Whether [`nothing_to_fetch`] has something to check: a lockfile
    /// (where the project is named some other way, the check itself tells).
    fn may_have_nothing_to_fetch(&self, cwd: &Path) -> bool {
        let elsewhere = self.user_args.iter().any(|a| {
            a.starts_with("--manifest-path")
                || a.starts_with("--lockfile-path")
                || a.starts_with("-C")
        });
        elsewhere || cwd.ancestors().any(|d| d.join("Cargo.lock").is_file())
    }

    fn real_args(&self) -> Vec<OsString> {
        self.real_args.get().cloned().unwrap_or_default()
    }
}

// ---- what the graph holds ---------------------------------------------------

#[derive(Deserialize)]
struct Meta {
    packages: Vec<Package>,
    #[serde(default)]
    workspace_members: Vec<String>,
    resolve: Option<Resolve>,
    #[serde(default)]
    workspace_root: Option<PathBuf>,
}

#[derive(Deserialize)]
struct Package {
    id: String,
    name: String,
    version: String,
    source: Option<String>,
    manifest_path: PathBuf,
    #[serde(default)]
    targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    #[serde(default)]
    kind: Vec<String>,
    #[serde(default)]
    src_path: PathBuf,
}

#[derive(Deserialize)]
struct Resolve {
    nodes: Vec<Node>,
}

#[derive(Deserialize)]
struct Node {
    id: String,
    #[serde(default)]
    deps: Vec<NodeDep>,
}

#[derive(Deserialize)]
struct NodeDep {
    pkg: String,
    #[serde(default)]
    dep_kinds: Vec<DepKind>,
}

#[derive(Deserialize)]
struct DepKind {
    kind: Option<String>,
    target: Option<String>,
}

/// A crate of the graph with install-time code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    pub name: String,
    pub version: String,
    /// `None`: the project's own code (a workspace member or a path
    /// dependency).
    pub source: Option<String>,
    /// The crate's directory (relative to the workspace root when inside).
    pub path: String,
    /// The build script, relative to the crate's directory.
    pub build_script: Option<String>,
    pub proc_macro: bool,
}

impl Found {
    pub fn local(&self) -> bool {
        self.source.is_none()
    }
}

/// The platform dependencies are evaluated for (the host's, without
/// `--target`).
#[derive(Clone, Debug)]
pub struct Platform {
    pub os: &'static str,
    pub family: &'static str,
    pub arch: &'static str,
    pub pointer_width: &'static str,
    pub endian: &'static str,
}

impl Platform {
    pub fn host() -> Platform {
        Platform {
            os: std::env::consts::OS,
            family: std::env::consts::FAMILY,
            arch: std::env::consts::ARCH,
            pointer_width: if cfg!(target_pointer_width = "64") {
                "64"
            } else if cfg!(target_pointer_width = "32") {
                "32"
            } else {
                "16"
            },
            endian: if cfg!(target_endian = "big") {
                "big"
            } else {
                "little"
            },
        }
    }
}

/// Three-valued: a predicate pkgward does not know stays possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tri {
    Yes,
    No,
    Maybe,
}

impl Tri {
    fn not(self) -> Tri {
        match self {
            Tri::Yes => Tri::No,
            Tri::No => Tri::Yes,
            Tri::Maybe => Tri::Maybe,
        }
    }
}

/// Whether a dependency's platform (`cfg(...)` or a target triple) may be
/// the platform `p`: `false` only when it certainly is not.
pub fn platform_may_match(spec: &str, p: &Platform) -> bool {
    let spec = spec.trim();
    if let Some(inner) = spec.strip_prefix("cfg(").and_then(|s| s.strip_suffix(')')) {
        let mut cur = CfgParser {
            s: inner.as_bytes(),
            i: 0,
        };
        return match cur.pred(p, 0) {
            Some(t) if cur.done() => t != Tri::No,
            _ => true,
        };
    }
    // A triple: arch-vendor-os[-env]. Compare what is certain.
    let parts: Vec<&str> = spec.split('-').collect();
    let arch = parts.first().copied().unwrap_or("");
    let arch_norm = match arch {
        "i386" | "i586" | "i686" => "x86",
        a if a.starts_with("armv7") || a.starts_with("thumbv7") => "arm",
        a => a,
    };
    let os = if spec.contains("windows") {
        "windows"
    } else if spec.contains("linux") {
        "linux"
    } else if spec.contains("apple-darwin") {
        "macos"
    } else if spec.contains("freebsd") {
        "freebsd"
    } else {
        ""
    };
    let os_ok = os.is_empty() || os == p.os;
    let arch_ok = arch_norm.is_empty()
        || arch_norm == p.arch
        || !["x86_64", "x86", "aarch64", "arm", "riscv64gc", "wasm32"].contains(&arch_norm);
    os_ok && arch_ok
}

struct CfgParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl CfgParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn done(&mut self) -> bool {
        self.ws();
        self.i == self.s.len()
    }
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn ident(&mut self) -> Option<String> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn string(&mut self) -> Option<String> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != b'"' {
            self.i += 1;
        }
        let v = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.eat(b'"').then_some(v)
    }
    fn list(&mut self, p: &Platform, depth: usize) -> Option<Vec<Tri>> {
        if !self.eat(b'(') {
            return None;
        }
        let mut out = Vec::new();
        loop {
            if self.eat(b')') {
                return Some(out);
            }
            out.push(self.pred(p, depth + 1)?);
            if !self.eat(b',') {
                return self.eat(b')').then_some(out);
            }
        }
    }
    fn pred(&mut self, p: &Platform, depth: usize) -> Option<Tri> {
        if depth > 32 {
            return None;
        }
        let id = self.ident()?;
        match id.as_str() {
            "all" => {
                let l = self.list(p, depth)?;
                Some(if l.contains(&Tri::No) {
                    Tri::No
                } else if l.contains(&Tri::Maybe) {
                    Tri::Maybe
                } else {
                    Tri::Yes
                })
            }
            "any" => {
                let l = self.list(p, depth)?;
                Some(if l.contains(&Tri::Yes) {
                    Tri::Yes
                } else if l.contains(&Tri::Maybe) {
                    Tri::Maybe
                } else {
                    Tri::No
                })
            }
            "not" => {
                let l = self.list(p, depth)?;
                (l.len() == 1).then(|| l[0].not())
            }
            _ => {
                let value = if self.eat(b'=') {
                    Some(self.string()?)
                } else {
                    None
                };
                let known = |want: &str| match &value {
                    Some(v) if v == want => Tri::Yes,
                    Some(_) => Tri::No,
                    None => Tri::Maybe,
                };
                Some(match (id.as_str(), &value) {
                    ("unix", None) => {
                        if p.family == "unix" {
                            Tri::Yes
                        } else {
                            Tri::No
                        }
                    }
                    ("windows", None) => {
                        if p.family == "windows" {
                            Tri::Yes
                        } else {
                            Tri::No
                        }
                    }
                    ("target_os", Some(_)) => known(p.os),
                    ("target_family", Some(v)) => {
                        // wasm targets have family "wasm"; unix and windows are exclusive.
                        if v == p.family {
                            Tri::Yes
                        } else if v == "unix" || v == "windows" || v == "wasm" {
                            Tri::No
                        } else {
                            Tri::Maybe
                        }
                    }
                    ("target_arch", Some(_)) => known(p.arch),
                    ("target_pointer_width", Some(_)) => known(p.pointer_width),
                    ("target_endian", Some(_)) => known(p.endian),
                    _ => Tri::Maybe,
                })
            }
        }
    }
}

/// The crates of `cargo metadata`'s output that the command may build and
/// that have a build script or a proc-macro. `include_dev`: members'
/// dev-dependencies too; `platform`: leave out dependencies only for other
/// platforms (`None`: keep all). Without a `resolve` (or with a node
/// missing), every package counts.
pub fn find(
    metadata: &str,
    include_dev: bool,
    platform: Option<&Platform>,
) -> Result<Vec<Found>, String> {
    let meta: Meta = serde_json::from_str(metadata)
        .map_err(|e| format!("cannot read `cargo metadata` output: {e}"))?;
    let by_id: std::collections::HashMap<&str, &Package> =
        meta.packages.iter().map(|p| (p.id.as_str(), p)).collect();
    let members: std::collections::HashSet<&str> =
        meta.workspace_members.iter().map(String::as_str).collect();
    let reachable: Vec<&Package> = match &meta.resolve {
        None => meta.packages.iter().collect(),
        Some(r) => {
            let nodes: std::collections::HashMap<&str, &Node> =
                r.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
            let mut seen: std::collections::BTreeSet<&str> = Default::default();
            let mut stack: Vec<&str> = meta.workspace_members.iter().map(String::as_str).collect();
            if stack.is_empty() {
                stack = meta.packages.iter().map(|p| p.id.as_str()).collect();
            }
            while let Some(id) = stack.pop() {
                if !seen.insert(id) {
                    continue;
                }
                let Some(node) = nodes.get(id) else {
                    continue;
                };
                let member = members.contains(id);
                for d in &node.deps {
                    let used = d.dep_kinds.is_empty()
                        || d.dep_kinds.iter().any(|k| {
                            let kind_ok = match k.kind.as_deref() {
                                Some("dev") => include_dev && member,
                                _ => true,
                            };
                            let plat_ok = match (&k.target, platform) {
                                (Some(t), Some(p)) => platform_may_match(t, p),
                                _ => true,
                            };
                            kind_ok && plat_ok
                        });
                    if used {
                        stack.push(d.pkg.as_str());
                    }
                }
            }
            seen.iter()
                .filter_map(|id| by_id.get(id).copied())
                .collect()
        }
    };
    let root = meta.workspace_root.clone().unwrap_or_default();
    let mut out = Vec::new();
    for p in reachable {
        let dir = p
            .manifest_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let build_script = p
            .targets
            .iter()
            .find(|t| t.kind.iter().any(|k| k == "custom-build"))
            .map(|t| {
                t.src_path
                    .strip_prefix(&dir)
                    .unwrap_or(&t.src_path)
                    .to_string_lossy()
                    .into_owned()
            });
        let proc_macro = p
            .targets
            .iter()
            .any(|t| t.kind.iter().any(|k| k == "proc-macro"));
        if build_script.is_none() && !proc_macro {
            continue;
        }
        let path = match (&p.source, dir.strip_prefix(&root)) {
            (None, Ok(rel)) if rel.as_os_str().is_empty() => ".".to_string(),
            (None, Ok(rel)) => rel.to_string_lossy().into_owned(),
            (None, Err(_)) => dir.to_string_lossy().into_owned(),
            (Some(s), _) => record::redact::redact_urls(s).into_owned(),
        };
        out.push(Found {
            name: p.name.clone(),
            version: p.version.clone(),
            source: p.source.clone(),
            path,
            build_script,
            proc_macro,
        });
    }
    out.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    out.dedup();
    Ok(out)
}

// ---- after the fetch ---------------------------------------------------------

/// The decision for one crate: the project's own code runs (sandboxed).
fn decide_crate(cx: &super::Context<'_>, f: &Found) -> (ScriptDecision, Option<String>) {
    if f.local() {
        return (ScriptDecision::Project, None);
    }
    super::decide(
        cx.policy,
        cx.mode,
        Ecosystem::Cargo,
        &f.name,
        &f.version,
        false,
    )
}

/// `cargo metadata` on what the fetch left, through the real cargo, offline.
fn metadata(plan: &Plan, cx: &super::Context<'_>) -> Result<String, String> {
    metadata_with(plan, cx.program, cx.env, false)
        .map_err(|e| format!("`cargo metadata --offline` failed after the fetch: {e}"))
}

/// `cargo metadata --offline` with the user's manifest, lockfile and
/// configuration options; `locked`: also `--locked`, so that it fails
/// rather than change the lockfile. `Err`: why it failed (its stderr).
fn metadata_with(
    plan: &Plan,
    program: &Path,
    env: &[(OsString, OsString)],
    locked: bool,
) -> Result<String, String> {
    metadata_output(metadata_command(plan, program, env, locked).output())
}

/// The `cargo metadata` command of [`metadata_with`].
fn metadata_command(
    plan: &Plan,
    program: &Path,
    env: &[(OsString, OsString)],
    locked: bool,
) -> std::process::Command {
    let real: Vec<String> = plan
        .real_args()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut args: Vec<OsString> = plan.global.get().cloned().unwrap_or_default();
    args.extend(
        ["metadata", "--format-version", "1", "--offline"]
            .iter()
            .map(OsString::from),
    );
    if let Some(at) = sub_at(&real) {
        args.extend(
            plan.passed_on(&real[at + 1..])
                .into_iter()
                .filter(|a| a != "--offline" && !a.starts_with("-v") && a != "--verbose")
                .filter(|a| !locked || (a != "--locked" && a != "--frozen"))
                .map(OsString::from),
        );
    }
    if locked {
        args.push("--locked".into());
    }
    if plan.probe.is_some() {
        args.push("--all-features".into());
    } else {
        args.extend(plan.features.iter().map(OsString::from));
    }
    let mut cmd = std::process::Command::new(program);
    cmd.args(&args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("CARGO_NET_OFFLINE", "true")
        .stdin(std::process::Stdio::null());
    cmd
}

/// What `cargo metadata` printed, or why it failed (its stderr).
fn metadata_output(out: std::io::Result<std::process::Output>) -> Result<String, String> {
    let out = out.map_err(|e| format!("cannot run `cargo metadata`: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err.trim().to_string());
    }
    String::from_utf8(out.stdout).map_err(|_| "`cargo metadata` printed non-UTF-8".to_string())
}

/// Before the fetch, when the graph cache did not answer: whether the fetch
/// has nothing to do. `cargo metadata --offline --locked` succeeds only when
/// the lockfile needs no change and the source of every package in it is
/// already on this machine (it reads each one's manifest) — which is
/// everything `cargo fetch` would get, for every platform. Its answer is then
/// kept in the graph cache, so the build step that follows uses it; the cost
/// when something is missing is one failed offline `cargo metadata`. A
/// rebuild after `cargo clean`, or a CI job with a restored cargo cache, so
/// starts no `cargo fetch` and no second `cargo metadata`.
pub fn nothing_to_fetch(
    plan: &Plan,
    launch: &crate::supervise::Launch,
    policy: &crate::policy::Policy,
) -> bool {
    if plan.skip_fetch || plan.probe.is_some() {
        return plan.skip_fetch;
    }
    let Ok(cwd) = std::env::current_dir() else {
        return false;
    };
    // Started by `Plan::apply` (the same command, the launch as it was
    // then: only the egress proxy's settings, which an offline run does
    // not use, were added since).
    let early = plan.early.lock().ok().and_then(|mut e| e.take());
    if early.is_none() && !plan.may_have_nothing_to_fetch(&cwd) {
        return false;
    }
    let Some(cache) = graph_cache_path(plan, &cwd) else {
        return false;
    };
    // Meanwhile, the confined build's preparation (the sandbox's plan and
    // Landlock ruleset; enforce mode only), which does not depend on the
    // answer: the build step finds it ready.
    let confined = plan.builtin && policy.scripts_default.value != ScriptsDefault::Allow;
    let prepare = || {
        let real: Vec<String> = plan
            .real_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let code = build_code(&real, &launch.program, &launch.env, &cwd);
        move || crate::supervise::sandbox::prepare(&code)
    };
    // Under pkgward's own tracer the build need not wait for the answer:
    // it starts at once behind a gate ([`after`]), so that cargo's own
    // start-up runs alongside `cargo metadata`. Said wrong (something is
    // missing after all), the gated build is stopped and the fetch runs.
    #[cfg(target_os = "linux")]
    let early = match (early, plan.ahead.lock()) {
        (Some(metadata), Ok(mut ahead))
            if plan.builtin
                && launch
                    .trace
                    .as_ref()
                    .is_some_and(|t| t.tracer != crate::policy::Tracer::ProxyOnly) =>
        {
            *ahead = Some(Ahead {
                metadata,
                prepare: confined.then(|| std::thread::spawn(prepare())),
            });
            return true;
        }
        (early, _) => early,
    };
    let m = std::thread::scope(|s| {
        if confined {
            s.spawn(prepare());
        }
        match early {
            Some(e) => e.wait(),
            None => metadata_with(plan, &launch.program, &launch.env, true),
        }
    });
    let Ok(m) = m else {
        return false;
    };
    let platform = (!plan.cross).then(Platform::host);
    let Ok(found) = find(&m, plan.include_dev, platform.as_ref()) else {
        return false;
    };
    store_graph(&cache, &inputs_of(&m, &cwd), &found);
    cached_graph(&cache).is_some()
}

/// `args` with `--offline` as a global option (after `+toolchain`).
fn offline(mut args: Vec<OsString>) -> Vec<OsString> {
    let at = usize::from(
        args.first()
            .is_some_and(|a| a.to_string_lossy().starts_with('+')),
    );
    args.insert(at, "--offline".into());
    args
}

/// For `run` / `test` / `bench`: the compile-only command with the same
/// options (`build`, `test --no-run`, `bench --no-run`), or `None`.
pub fn compile_only(args: &[String]) -> Option<Vec<String>> {
    let at = sub_at(args)?;
    let sub = args[at].as_str();
    let mut out: Vec<String> = args[..at].to_vec();
    match sub {
        "run" | "r" => {
            out.push("build".into());
            // Everything from the first positional or `--` on is the
            // program's arguments.
            let mut it = args[at + 1..].iter();
            while let Some(a) = it.next() {
                if a == "--" || !a.starts_with('-') || a == "-" {
                    break;
                }
                out.push(a.clone());
                let (name, inline) = split_opt(a);
                if inline.is_none() && SUB_VALUE.contains(&name) {
                    if let Some(v) = it.next() {
                        out.push(v.clone());
                    }
                }
            }
        }
        "test" | "t" | "bench" => {
            out.push(sub.to_string());
            out.push("--no-run".into());
            let rest = &args[at + 1..];
            let end = rest.iter().position(|a| a == "--").unwrap_or(rest.len());
            out.extend(rest[..end].iter().cloned());
        }
        // `cargo package` verifies as `publish` would; the upload is
        // `publish --no-verify` ([`publish_upload`]).
        "publish" => {
            out.push("package".into());
            let mut it = args[at + 1..].iter();
            while let Some(a) = it.next() {
                let (name, inline) = split_opt(a);
                match name {
                    "--dry-run" => {}
                    "--token" => {
                        if inline.is_none() {
                            it.next();
                        }
                    }
                    _ => out.push(a.clone()),
                }
            }
        }
        _ => return None,
    }
    Some(out)
}

/// `cargo publish` once [`compile_only`]'s `cargo package` verified it:
/// the upload, `--no-verify` (nothing builds), online.
fn publish_upload(args: &[OsString]) -> Option<Vec<OsString>> {
    let s: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let at = sub_at(&s)?;
    (s[at] == "publish").then(|| {
        let mut out = args.to_vec();
        out.insert(at + 1, "--no-verify".into());
        out
    })
}

/// After the fetch succeeded: inspect, decide, record, and build (or deny).
/// Returns the exit code that replaces the fetch's; `None` when the fetch
/// was skipped on the strength of a `cargo metadata` that then failed
/// ([`nothing_to_fetch`], Linux): the fetch must run after all, then this
/// again.
pub fn after(
    plan: &Plan,
    cx: &super::Context<'_>,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Option<i32> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let cache = (plan.probe.is_none())
        .then(|| graph_cache_path(plan, &cwd))
        .flatten();
    // Build: the sandbox unless the policy lets everything run as is.
    let sandboxed =
        cx.mode == Mode::Enforce && cx.policy.scripts_default.value != ScriptsDefault::Allow;
    let real = plan.real_args();
    let real_s: Vec<String> = real
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let code_for = |args: Vec<OsString>, sandboxed: bool| InstallCode {
        args,
        sandboxed,
        #[cfg(target_os = "linux")]
        trace: cx.trace.clone(),
        ..build_code(&real_s, cx.program, cx.env, &cwd)
    };
    let compile = if plan.builtin {
        compile_only(&real_s)
    } else {
        None
    };
    let upload = publish_upload(&real);
    let (first, then): (Vec<OsString>, Option<Vec<OsString>>) = match compile {
        Some(c) => (
            offline(c.into_iter().map(OsString::from).collect()),
            Some(upload.clone().unwrap_or_else(|| offline(real.clone()))),
        ),
        None if plan.builtin => (offline(real.clone()), None),
        // An alias or external subcommand: offline through the environment
        // (it may not take `--offline` before its name), unsandboxed: what
        // it runs besides the build is not known.
        None => (real.clone(), None),
    };
    let first_sandboxed = sandboxed && plan.builtin;
    let runner: Vec<String> = std::iter::once("cargo".to_string())
        .chain(first.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect();
    let ahead = plan
        .ahead
        .lock()
        .ok()
        .and_then(|mut a| a.take())
        .filter(|_| plan.builtin);
    std::thread::scope(|s| {
        // The first build of this graph ([`nothing_to_fetch`]): started now,
        // behind a gate that holds every exec of its tree but rustc's
        // probes until the graph below is decided.
        let started = ahead
            .as_ref()
            .and_then(|_| Started::spawn(s, code_for(first.clone(), first_sandboxed)));
        let found = match ahead {
            Some(a) => {
                let m = a.metadata.wait();
                if let Some(h) = a.prepare {
                    let _ = h.join();
                }
                match m {
                    Ok(m) => {
                        let platform = (!plan.cross).then(Platform::host);
                        find(&m, plan.include_dev, platform.as_ref()).inspect(|found| {
                            if let Some(c) = &cache {
                                store_graph(c, &inputs_of(&m, &cwd), found);
                            }
                        })
                    }
                    // Something is missing after all: the fetch runs.
                    Err(_) => {
                        if let Some(b) = started {
                            b.stop();
                        }
                        return None;
                    }
                }
            }
            None => match cache.as_deref().and_then(cached_graph) {
                Some(found) => Ok(found),
                None => metadata(plan, cx).and_then(|m| {
                    let platform = (!plan.cross).then(Platform::host);
                    let found = find(&m, plan.include_dev, platform.as_ref())?;
                    if let Some(c) = &cache {
                        store_graph(c, &inputs_of(&m, &cwd), &found);
                    }
                    Ok(found)
                }),
            },
        };
        let found = match found {
            Ok(f) => f,
            Err(e) if cx.mode == Mode::Enforce => {
                if let Some(b) = started {
                    b.stop();
                }
                notice(format!(
                    "denied: cannot tell which build scripts and proc-macros this build would run, \
                     so it does not run: {e}"
                ));
                return Some(crate::error::exit::DENIED);
            }
            Err(e) => {
                notice(format!(
                    "warning: {e}; the build runs anyway ({} mode)",
                    if cx.mode == Mode::Audit {
                        "audit"
                    } else {
                        "off"
                    }
                ));
                Vec::new()
            }
        };
        let decided: Vec<(&Found, ScriptDecision, Option<String>)> = found
            .iter()
            .map(|f| {
                let (d, by) = decide_crate(cx, f);
                (f, d, by)
            })
            .collect();
        let rec = |f: &Found, d: ScriptDecision, by: &Option<String>, script: &str| ScriptRecord {
            kind: "script",
            invocation_id: cx.invocation_id.to_string(),
            time: record::now_rfc3339(),
            ecosystem: Ecosystem::Cargo,
            package: f.name.clone(),
            version: f.version.clone(),
            path: f.path.clone(),
            script: script.to_string(),
            command: match script {
                "build-script" => f.build_script.clone().unwrap_or_default(),
                _ => "proc-macro (runs inside rustc)".into(),
            },
            decision: d,
            approved_by: by.clone(),
            ran: false,
            runner: None,
            exit_code: None,
            signal: None,
            duration_ms: None,
            error: None,
            sandbox: None,
        };
        let scripts_of = |f: &Found| -> Vec<&'static str> {
            let mut v = Vec::new();
            if f.build_script.is_some() {
                v.push("build-script");
            }
            if f.proc_macro {
                v.push("proc-macro");
            }
            v
        };
        let denied: Vec<&(&Found, ScriptDecision, Option<String>)> =
            decided.iter().filter(|(_, d, _)| !d.runs()).collect();
        if !denied.is_empty() {
            if let Some(b) = started {
                b.stop();
            }
            for (f, d, by) in &decided {
                for s in scripts_of(f) {
                    let mut r = rec(f, *d, by, s);
                    if d.runs() {
                        r.error = Some("not run: the build was denied".into());
                    }
                    super::append(log, &r, notice);
                }
            }
            notice(denied_message(&denied));
            return Some(crate::error::exit::DENIED);
        }
        let result = match started.and_then(Started::go) {
            Some(r) => r,
            None => run_install_code(&code_for(first.clone(), first_sandboxed)),
        };
        for (f, d, by) in &decided {
            for s in scripts_of(f) {
                let mut r = rec(f, *d, by, s);
                r.runner = Some(runner.clone());
                match &result {
                    Ok(e) => {
                        // Cargo runs what it needs: an up-to-date crate's build
                        // script does not run again.
                        r.ran = true;
                        r.exit_code = Some(e.exit_code);
                        r.signal = e.signal;
                        r.duration_ms = Some((e.duration.as_secs_f64() * 1e6).round() / 1e3);
                        r.sandbox = e.sandbox.clone();
                    }
                    Err(err) => r.error = Some(err.to_string()),
                }
                super::append(log, &r, notice);
            }
        }
        let code = match result {
            Ok(e) => e.exit_code,
            Err(err) => {
                notice(format!("cannot run the build: {err}"));
                return Some(err.exit_code());
            }
        };
        Some(match then {
            Some(args) if code == 0 => {
                if crate::supervise::terminated().is_some() {
                    return Some(code);
                }
                let mut last = code_for(args, false);
                if upload.is_some() {
                    // The upload reaches the registry (through the egress proxy).
                    last.env.retain(|(k, _)| k != "CARGO_NET_OFFLINE");
                }
                match run_install_code(&last) {
                    Ok(e) => e.exit_code,
                    Err(err) => {
                        notice(format!("cannot run cargo: {err}"));
                        err.exit_code()
                    }
                }
            }
            _ => code,
        })
    })
}

/// What [`nothing_to_fetch`] left for [`after`] when it did not wait for
/// its `cargo metadata` (Linux, under pkgward's own tracer): that run, and
/// the confined build's preparation.
#[derive(Debug)]
struct Ahead {
    metadata: EarlyMetadata,
    prepare: Option<std::thread::JoinHandle<()>>,
}

/// A gate denied when dropped without having been opened: a return or an
/// unwind that forgets it stops the build instead of leaving it (and the
/// scope that waits for it) waiting.
#[cfg(target_os = "linux")]
struct Gated(Arc<crate::supervise::linux::gate::Gate>);

#[cfg(target_os = "linux")]
impl Drop for Gated {
    fn drop(&mut self) {
        self.0.deny();
    }
}

/// The build started behind a gate ([`crate::supervise::linux::gate`]).
struct Started<'s> {
    #[cfg(target_os = "linux")]
    gate: Gated,
    run: std::thread::ScopedJoinHandle<
        's,
        crate::error::Result<crate::supervise::install_code::CodeEnded>,
    >,
}

impl<'s> Started<'s> {
    /// Starts `code` gated (`None` where there is no tracer to gate it).
    fn spawn<'e>(
        s: &'s std::thread::Scope<'s, 'e>,
        #[cfg_attr(not(target_os = "linux"), allow(unused_mut))] mut code: InstallCode,
    ) -> Option<Started<'s>> {
        #[cfg(target_os = "linux")]
        {
            let gate: Arc<crate::supervise::linux::gate::Gate> = Arc::default();
            let t = code.trace.as_mut()?;
            t.gate = Some(gate.clone());
            let run = s.spawn(move || run_install_code(&code));
            Some(Started {
                gate: Gated(gate),
                run,
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (s, code);
            None
        }
    }

    /// Stops it: nothing it would have started runs.
    fn stop(self) {
        #[cfg(target_os = "linux")]
        self.gate.0.deny();
        let _ = self.run.join();
    }

    /// Lets it go on, and waits for it. `None`: it did not start (no tracer
    /// of pkgward's own could gate it): the caller runs it again, ungated.
    fn go(self) -> Option<crate::error::Result<crate::supervise::install_code::CodeEnded>> {
        #[cfg(target_os = "linux")]
        self.gate.0.open();
        let r = match self.run.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        #[cfg(target_os = "linux")]
        if r.is_err() && !self.gate.0.held() {
            return None;
        }
        Some(r)
    }
}

/// The build step's run (offline, in `cwd`), without arguments.
fn build_code(
    real: &[String],
    program: &Path,
    env: &[(OsString, OsString)],
    cwd: &Path,
) -> InstallCode {
    let mut vars = env.to_vec();
    vars.push(("CARGO_NET_OFFLINE".into(), "true".into()));
    InstallCode {
        program: program.to_path_buf(),
        args: Vec::new(),
        cwd: cwd.to_path_buf(),
        env: vars,
        sandboxed: false,
        extra_write: install_root(real, env),
        attached: None,
        project: None,
        #[cfg(target_os = "linux")]
        trace: None,
    }
}

/// The command that approves exactly `name@version`: a bare version in a
/// Cargo requirement means `^version`, so the approval says `=version`.
pub fn approve_command(name: &str, version: &str) -> String {
    format!("pkgward approve cargo:{name}@={version}")
}

// ---- the graph cache -----------------------------------------------------------
//
// `cargo metadata` costs about as much as an up-to-date build. What it says
// depends only on the manifests, the lockfile, cargo's configuration, the
// environment and the command line, so its result (the crates with
// install-time code) is kept per project and command line with the files it
// was computed from (size and modification time of each, and the entries
// of the directories holding the project's own packages, so that a new
// workspace member shows), and reused while none of them changed. The fetch still
// runs unless the cache answers before it: then the lockfile and manifests
// are those of the last successful fetch, so nothing is missing, and the
// tool is not started at all (the build step follows directly).

#[derive(Serialize, Deserialize)]
struct CachedGraph {
    key: String,
    inputs: Vec<PathBuf>,
    found: Vec<Found>,
}

fn graph_cache_path(plan: &Plan, cwd: &Path) -> Option<PathBuf> {
    let mut id = format!(
        "{}\0{}\0{}\0{}",
        cwd.display(),
        plan.include_dev,
        plan.cross,
        plan.features.join("\u{1}")
    );
    for a in &plan.user_args {
        id.push('\0');
        id.push_str(a);
    }
    let name = crate::record::hash::sha256_bytes(id.as_bytes());
    Some(
        crate::paths::state_dir()?
            .join("scripts")
            .join("cargo")
            .join(format!("{}.json", &name[..32.min(name.len())])),
    )
}

/// The key of a set of input files: each one's size and modification time
/// (or its absence), plus cargo's environment.
fn inputs_key(inputs: &[PathBuf]) -> String {
    let mut s = String::new();
    for p in inputs {
        s.push_str(&p.to_string_lossy());
        match std::fs::metadata(p) {
            // A directory (one holding the project's own packages) counts by
            // what it holds, not by its modification time, which every
            // `cargo clean`, build and editor swap file changes: a new
            // workspace member is a new entry.
            Ok(m) if m.is_dir() => s.push_str(&format!("\0dir\0{}\n", dir_entries(p))),
            Ok(m) => {
                let mtime = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                s.push_str(&format!("\0{}\0{mtime}\n", m.len()));
            }
            Err(_) => s.push_str("\0-\n"),
        }
    }
    let mut vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
        .filter(|(k, _)| k.starts_with("CARGO") || k.starts_with("RUSTUP") || k == "RUSTC")
        .collect();
    vars.sort();
    for (k, v) in vars {
        s.push_str(&format!("{k}={v}\n"));
    }
    crate::record::hash::sha256_bytes(s.as_bytes())
}

/// The sorted names of a directory's entries (with a `/` after
/// directories), leaving out the `target` directory of a workspace root (one
/// holding `Cargo.lock`), which builds and `cargo clean` create and remove.
/// Hidden entries count: a member glob such as `crates/*` matches them.
fn dir_entries(dir: &Path) -> String {
    let root = dir.join("Cargo.lock").is_file();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if root && name == "target" {
                        return None;
                    }
                    let dir = e.file_type().is_ok_and(|t| t.is_dir());
                    Some(if dir { format!("{name}/") } else { name })
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.join("\u{1}")
}

/// What `cargo metadata`'s answer was computed from.
fn inputs_of(metadata: &str, cwd: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    if let Ok(meta) = serde_json::from_str::<Meta>(metadata) {
        if let Some(root) = &meta.workspace_root {
            out.push(root.join("Cargo.lock"));
            out.extend(config_files(root));
        }
        for p in meta.packages.iter().filter(|p| p.source.is_none()) {
            out.push(p.manifest_path.clone());
            if let Some(dir) = p.manifest_path.parent() {
                out.push(dir.to_path_buf());
                if let Some(up) = dir.parent() {
                    out.push(up.to_path_buf());
                }
            }
        }
    }
    out.extend(config_files(cwd));
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".cargo")));
    if let Some(h) = home {
        out.push(h.join("config.toml"));
        out.push(h.join("config"));
    }
    out.sort();
    out.dedup();
    out
}

fn config_files(dir: &Path) -> Vec<PathBuf> {
    dir.ancestors()
        .flat_map(|d| {
            [
                d.join("Cargo.toml"),
                d.join(".cargo").join("config.toml"),
                d.join(".cargo").join("config"),
            ]
        })
        .collect()
}

fn cached_graph(path: &Path) -> Option<Vec<Found>> {
    let text = std::fs::read_to_string(path).ok()?;
    let c: CachedGraph = serde_json::from_str(&text).ok()?;
    (c.key == inputs_key(&c.inputs)).then_some(c.found)
}

fn store_graph(path: &Path, inputs: &[PathBuf], found: &[Found]) {
    let c = CachedGraph {
        key: inputs_key(inputs),
        inputs: inputs.to_vec(),
        found: found.to_vec(),
    };
    let Some(dir) = path.parent() else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    if let (Ok(text), Ok(mut tmp)) = (
        serde_json::to_string(&c),
        tempfile::NamedTempFile::new_in(dir),
    ) {
        if std::io::Write::write_all(&mut tmp, text.as_bytes()).is_ok() {
            let _ = tmp.persist(path);
        }
    }
}

fn denied_message(denied: &[&(&Found, ScriptDecision, Option<String>)]) -> String {
    let mut m = format!(
        "denied: the build would run install-time code of {} crate{} not approved by `[scripts]` in the policy \
         (nothing was built):",
        denied.len(),
        if denied.len() == 1 { "" } else { "s" }
    );
    for (f, _, _) in denied {
        let mut what = Vec::new();
        if let Some(b) = &f.build_script {
            what.push(format!("build script {b}"));
        }
        if f.proc_macro {
            what.push("proc-macro".to_string());
        }
        m.push_str(&format!(
            "\n  cargo:{}@{} ({})\n    approve: {}",
            f.name,
            f.version,
            what.join(", "),
            approve_command(&f.name, &f.version)
        ));
    }
    m.push_str(
        "\n(an approved crate's build script runs sandboxed: no network, writes only to the target directory)",
    );
    m
}

#[cfg(test)]
#[path = "cargo_tests.rs"]
mod tests;

/// `cargo install`: where it puts the binaries and its records (`--root`,
/// else `CARGO_INSTALL_ROOT`, else `$CARGO_HOME`, else `~/.cargo`) — what the
/// command writes by design, so the confined build may write there too.
/// Empty for every other command.
fn install_root(args: &[String], env: &[(OsString, OsString)]) -> Vec<PathBuf> {
    if !args.iter().any(|a| a == "install") {
        return Vec::new();
    }
    let var = |k: &str| super::launch_var(env, k).map(PathBuf::from);
    let mut root = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix("--root=") {
            root = Some(PathBuf::from(v));
        } else if a == "--root" {
            root = it.next().map(PathBuf::from);
        }
    }
    let Some(root) = root
        .or_else(|| var("CARGO_INSTALL_ROOT"))
        .or_else(|| var("CARGO_HOME"))
        .or_else(|| dirs::home_dir().map(|h| h.join(".cargo")))
        .filter(|r| r.is_absolute())
    else {
        return Vec::new();
    };
    vec![
        root.join("bin"),
        root.join(".crates.toml"),
        root.join(".crates2.json"),
    ]
}
