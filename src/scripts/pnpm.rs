//! pnpm's install-time code. pnpm installs into its virtual store
//! (`node_modules/.pnpm/<name>@<version>/node_modules/<name>`, linked from
//! `node_modules`), so the npm walk does not see it: this module walks the
//! virtual store (real directories only, never a symlink). pnpm itself
//! runs with `--ignore-scripts`; afterwards the approved packages' scripts
//! run through pnpm's own mechanism, one `pnpm rebuild NAME…` for all of
//! them (pnpm orders them by their dependencies), with
//! `PNPM_CONFIG_ALLOW_BUILDS` naming exactly the approved `name@version`s
//! (and every unapproved one with scripts as `false`, so a project's own
//! `allowBuilds` cannot add a version the policy did not approve).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::Value;

use super::npm::{self, Package};
use super::{After, Context, Family, Runner, Setup};
use crate::policy::{Mode, Policy, ScriptsDefault};
use crate::record::AuditLog;
use crate::tools::Ecosystem;

/// A walk stops after this many packages.
const MAX_PACKAGES: usize = 100_000;

/// The virtual store directory of the project at `root`: `virtualStoreDir`
/// from `node_modules/.modules.yaml` (JSON, as pnpm writes it) when it is
/// inside the project, else `node_modules/.pnpm`.
pub fn virtual_store(root: &Path) -> PathBuf {
    let nm = root.join("node_modules");
    let from_state = std::fs::read(nm.join(".modules.yaml"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("virtualStoreDir")?.as_str().map(str::to_string))
        .map(|d| nm.join(d));
    match from_state {
        // Only a store inside the project: a shared global virtual store
        // holds other projects' packages too.
        Some(d) if d.starts_with(root) && !d.components().any(|c| c.as_os_str() == "..") => d,
        _ => nm.join(".pnpm"),
    }
}

/// Every package in the virtual store with install-time code (no order:
/// `pnpm rebuild` orders them).
pub fn find(root: &Path) -> Vec<Package> {
    let store = virtual_store(root);
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&store) else {
        return out;
    };
    let mut entries: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect();
    entries.sort();
    for (entry, path) in entries {
        if out.len() >= MAX_PACKAGES {
            break;
        }
        if entry.starts_with('.') || entry == "node_modules" || !npm::is_real_dir(&path) {
            continue;
        }
        let nm = path.join("node_modules");
        for dir in package_dirs(&nm) {
            let Some(m) = npm::read_manifest(&dir) else {
                continue;
            };
            let name = m.get("name").and_then(Value::as_str).unwrap_or_default();
            let version = m.get("version").and_then(Value::as_str).unwrap_or_default();
            if name.is_empty() {
                continue;
            }
            let scripts = npm::dep_scripts(&m, &dir);
            if scripts.is_empty() {
                continue;
            }
            let rel = dir
                .strip_prefix(root)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_else(|_| dir.to_string_lossy().into_owned());
            out.push(Package {
                name: name.to_string(),
                version: version.to_string(),
                dir,
                rel,
                root: false,
                local: is_local_entry(&entry),
                scripts,
                needs: Vec::new(),
            });
        }
    }
    out
}

/// Whether a virtual-store entry (`name@file+vendor+x.tgz`, `@link+…`)
/// holds the project's own files rather than a fetched package.
fn is_local_entry(entry: &str) -> bool {
    entry.contains("@file+") || entry.contains("@link+")
}

/// The real package directories in one virtual-store entry's
/// `node_modules` (its dependencies there are symlinks).
fn package_dirs(nm: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(nm) else {
        return out;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let p = e.path();
        if name.starts_with('.') || !npm::is_real_dir(&p) {
            continue;
        }
        if name.starts_with('@') {
            if let Ok(inner) = std::fs::read_dir(&p) {
                for i in inner.filter_map(|e| e.ok()) {
                    let ip = i.path();
                    if !i.file_name().to_string_lossy().starts_with('.') && npm::is_real_dir(&ip) {
                        out.push(ip);
                    }
                }
            }
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The virtual store's packages (relative path → version and identity of
/// its `package.json`), to tell which ones an install added or replaced.
pub fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let store = virtual_store(root);
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(&store) else {
        return out;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let p = e.path();
        if !npm::is_real_dir(&p) {
            continue;
        }
        for dir in package_dirs(&p.join("node_modules")) {
            let id = std::fs::symlink_metadata(dir.join("package.json"))
                .map(|m| npm::file_identity(&m))
                .unwrap_or_default();
            let rel = dir
                .strip_prefix(root)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            out.insert(rel, id);
            if out.len() >= MAX_PACKAGES {
                return out;
            }
        }
    }
    out
}

/// `PNPM_CONFIG_ALLOW_BUILDS`: the approved `name@version`s `true`, every
/// other found one `false`.
pub fn allow_builds(approved: &[&Package], denied: &[&Package]) -> String {
    let mut m = serde_json::Map::new();
    for p in denied {
        m.insert(format!("{}@{}", p.name, p.version), Value::Bool(false));
    }
    for p in approved {
        m.insert(format!("{}@{}", p.name, p.version), Value::Bool(true));
    }
    Value::Object(m).to_string()
}

// ---- pnpm dlx / pnpx ---------------------------------------------------------
//
// pnpm builds what `dlx` installs inside its own run, just before it runs
// the command: the dlx'd package itself (pnpm allows it by default, even
// with `ignore-scripts` in its environment) and the dependencies named by
// `--allow-build=NAME` (names, or exact versions; pnpm reads neither
// `allowBuilds` nor `dangerouslyAllowAllBuilds` for dlx). So on Linux pnpm
// is given pkgward as its script shell (`--config.script-shell`, which it
// honours for every build script): each build pnpm starts goes to the npm
// broker ([`super::npm_broker`]), which decides it by the package pnpm
// installed (its virtual-store directory's name, the manifest's version:
// exact versions, so a version range is respected), runs an approved one
// confined (writable: that dlx cache entry) and records it with its exit
// code and duration; a denied one is skipped, as `--ignore-scripts` would.
// pnpm gets `--allow-build=NAME` for each approved npm name, so that it
// starts those at all.
//
// Under `[scripts] default = "sandbox"` / `"allow"` or in audit mode every
// package's build must start, and pnpm 12 has no switch for that in dlx:
// its install ignores `dangerouslyAllowAllBuilds` (`--dangerously-allow-
// all-builds`, `--config.dangerously-allow-all-builds=true`,
// `PNPM_CONFIG_DANGEROUSLY_ALLOW_ALL_BUILDS`, a global config file: all
// honoured by `pnpm install`, none by dlx), `allowBuilds`
// (`PNPM_CONFIG_ALLOW_BUILDS`, `--config.allow-builds`),
// `neverBuiltDependencies` / `onlyBuiltDependencies`, and takes
// `--allow-build` values literally (no `*`, no pattern); `npm_config_*`
// spellings are not read for these at all. So pkgward resolves the tree
// first ([`dlx_before`]): the real pnpm's `add` of the same packages into a
// private temporary project, scripts off, with the user's store and
// metadata cache (the tarballs it fetches are the ones dlx then links),
// and every package found there with install-time code is added as
// `--allow-build=NAME`. pnpm's dlx cache key is the resolved packages, the
// registries and the sorted `--allow-build` list, so the same resolution
// gives the same key and a later run reuses the entry (the resolution
// beforehand is repeated each time). What that resolution did not see
// (another version resolved by dlx, options pkgward does not pass on) is
// not started by pnpm and is listed afterwards, as below.
//
// Afterwards the dlx cache entry pnpm installed into
// is read ([`dlx_after`]): what pnpm did not build is decided, recorded,
// and listed once with what the broker denied.
//
// Without the broker (not Linux, or it cannot start: [`Setup::fall_back`])
// pnpm runs with `--ignore-scripts`: nothing builds, the dlx'd package
// included, and pnpm runs the command right after its install. So when
// the policy lets any npm package build, pkgward prepares the entry first
// ([`dlx_prepare`]): the real pnpm runs `dlx` with the user's options,
// the packages as `--package`, scripts off and a shell's `exit 0` as the
// command ([`dlx_prepare_args`]; pnpm's cache key — the resolved
// packages, the registries, `--allow-build`, the architectures — is the
// user's run's, checked with pnpm 12), then the entry is built like a
// project after `pnpm install` ([`super::run_after`]: one `pnpm rebuild
// NAME…` of the approved packages, confined to the entry), and the user's
// run finds the entry and only runs its command. What pnpm installs itself
// (a command line not understood, another entry) is listed afterwards as
// above; the prepared entries are not read again.

/// When this invocation's `pnpm dlx` started (its cache entry is newer).
static DLX_START: Mutex<Option<SystemTime>> = Mutex::new(None);
/// Where that pnpm keeps its cache ([`crate::classify::pnpm_cache_dirs`]).
static DLX_CACHES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// `--allow-build=NAME` for each approved npm name ([`dlx_setup`]).
static DLX_ALLOW: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// What the broker decided in this invocation's `pnpm dlx` run.
static DLX_SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
/// What to resolve beforehand ([`dlx_before`]): set when every package's
/// build may run (`default = "sandbox"` / `"allow"`, audit mode) and the
/// command line is understood ([`dlx_packages`]).
static DLX_RESOLVE: Mutex<Option<Resolve>> = Mutex::new(None);

/// Without the broker: the arguments of the real pnpm that prepares the
/// dlx cache entry ([`dlx_prepare`]), when the command line is understood.
static DLX_PREPARE: Mutex<Option<Vec<String>>> = Mutex::new(None);
/// The dlx cache entries pkgward prepared and built in this invocation
/// ([`dlx_after`] does not read them again).
static DLX_PREPARED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The packages `pnpm dlx` installs and what pnpm reads to resolve them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Resolve {
    packages: Vec<String>,
    /// `--registry=URL` and `--config.NAME=VALUE` as given.
    options: Vec<String>,
    /// Where pnpm runs (its project `.npmrc`, [`project_npmrc`]).
    cwd: PathBuf,
}

/// A script the broker was asked for.
#[derive(Clone, Debug)]
struct Seen {
    name: String,
    version: String,
    rel: String,
    event: String,
    command: String,
    denied: bool,
    local: bool,
}

/// Whether `pnpm ARGS` / `pnpx ARGS` fetches and runs a package (`dlx`,
/// `create`): not `pnpm exec`, which runs what the project has.
fn fetches(tool: &str, args: &[String]) -> bool {
    tool == "pnpx"
        || matches!(
            args.iter()
                .find(|a| !a.starts_with('-'))
                .map(String::as_str),
            Some("dlx" | "create")
        )
}

/// The packages `pnpm dlx` / `pnpx` / `pnpm create` installs, as given:
/// the `--package` values, else the command (`pnpm create NAME`:
/// `create-NAME`, `@scope/NAME`: `@scope/create-NAME`, `@scope`:
/// `@scope/create`), with the `--registry=` / `--config.*=` options given.
/// `None` when pkgward cannot be sure what pnpm installs: an option it does
/// not know (which may take a value) or `--cpu`/`--os`/`--libc` (another
/// tree), no package, a local path spec.
fn dlx_packages(tool: &str, args: &[String]) -> Option<(Vec<String>, Vec<String>)> {
    dlx_parse(tool, args).map(|p| (p.packages, p.options))
}

/// A `pnpm dlx` / `pnpx` / `pnpm create` command line, as [`dlx_packages`]
/// reads it.
struct DlxLine {
    packages: Vec<String>,
    options: Vec<String>,
    /// Whether the packages are `--package` values (else the command's).
    given: bool,
    /// The index of `dlx` / `create` (none for `pnpx`).
    sub: Option<usize>,
    /// The index of the command (`args.len()` when none).
    command: usize,
}

fn dlx_parse(tool: &str, args: &[String]) -> Option<DlxLine> {
    let mut packages = Vec::new();
    let mut options = Vec::new();
    let mut create = false;
    let mut sub = None;
    let mut it = args.iter().map(String::as_str).enumerate();
    let mut command = None;
    while let Some((i, a)) = it.next() {
        if !a.starts_with('-') {
            if sub.is_none() && tool != "pnpx" {
                sub = Some(i);
                create = a == "create";
                continue;
            }
            command = Some((i, a));
            break;
        }
        let (flag, value) = match a.split_once('=') {
            Some((f, v)) => (f, Some(v)),
            None => (a, None),
        };
        match flag {
            "--package" | "--allow-build" => {
                let v = match value {
                    Some(v) => v,
                    None => it.next()?.1,
                };
                if flag == "--package" {
                    packages.push(v.to_string());
                }
            }
            "--cpu" | "--os" | "--libc" => return None,
            "-c" | "--shell-mode" | "-y" | "--yes" | "-s" | "--silent" => {}
            "--registry" if value.is_some() => options.push(a.to_string()),
            _ if value.is_some() && flag.starts_with("--config.") => options.push(a.to_string()),
            // `--name=value`: a setting, without a separate value.
            _ if value.is_some() && flag.starts_with("--") => {}
            _ => return None,
        }
    }
    if sub.is_none() && tool != "pnpx" {
        return None;
    }
    let given = !packages.is_empty();
    if !given {
        let (_, c) = command?;
        packages.push(if create {
            create_name(c)
        } else {
            c.to_string()
        });
    }
    let local = |p: &String| {
        p.starts_with(['.', '/', '~', '\\'])
            || p.starts_with("file:")
            || p.starts_with("link:")
            || p.contains(":\\")
    };
    (!packages.iter().any(local)).then_some(DlxLine {
        packages,
        options,
        given,
        sub,
        command: command.map_or(args.len(), |(i, _)| i),
    })
}

/// The command line of the real pnpm that prepares the dlx cache entry
/// the user's `pnpm dlx` / `pnpx` / `pnpm create` will use: the user's
/// options up to the command (`create`: `dlx`), the packages as
/// `--package` values, and the command replaced by a shell's `exit 0`
/// (`-c`: a shell builtin, in sh and in cmd, so no package's bin runs).
/// pnpm's cache key is the resolved packages, the registries, the
/// `--allow-build` list and `--cpu`/`--os`/`--libc`, none of which this
/// changes: the user's run finds the entry and does not install again.
/// Scripts off (`--ignore-scripts`: not even the dlx'd package builds),
/// the packages as real directories in the entry (no global virtual
/// store), where [`find`] reads them and `pnpm rebuild` builds them.
fn dlx_prepare_args(tool: &str, args: &[String]) -> Option<Vec<String>> {
    let line = dlx_parse(tool, args)?;
    let mut out: Vec<String> = Vec::new();
    match line.sub {
        Some(i) => {
            out.extend_from_slice(&args[..i]);
            out.push("dlx".into());
            out.extend_from_slice(&args[i + 1..line.command]);
        }
        None => {
            out.push("dlx".into());
            out.extend_from_slice(&args[..line.command]);
        }
    }
    if !line.given {
        out.extend(line.packages.iter().map(|p| format!("--package={p}")));
    }
    out.extend(
        [
            "--ignore-scripts",
            "--loglevel=error",
            "--config.enable-global-virtual-store=false",
            "-c",
            "exit 0",
        ]
        .map(String::from),
    );
    Some(out)
}

/// The project `.npmrc` files pnpm reads when run in `cwd`: the workspace
/// root's (the nearest `pnpm-workspace.yaml`), then the project's (the
/// nearest `package.json`, else `cwd` itself).
#[cfg(any(target_os = "linux", test))]
fn project_npmrc(cwd: &Path) -> Vec<PathBuf> {
    let nearest = |f: &str| cwd.ancestors().find(|d| d.join(f).is_file());
    let project = nearest("package.json").unwrap_or(cwd);
    let mut out: Vec<PathBuf> = nearest("pnpm-workspace.yaml")
        .into_iter()
        .chain([project])
        .map(|d| d.join(".npmrc"))
        .filter(|f| f.is_file())
        .collect();
    out.dedup();
    out
}

/// The package `pnpm create NAME` runs (npm's rule).
fn create_name(name: &str) -> String {
    let prefixed = |n: &str| {
        if n.starts_with("create-") {
            n.to_string()
        } else {
            format!("create-{n}")
        }
    };
    let Some(scoped) = name.strip_prefix('@') else {
        return prefixed(name);
    };
    let (bare, version) = match scoped.find('@') {
        Some(i) => (&scoped[..i], &scoped[i..]),
        None => (scoped, ""),
    };
    match bare.split_once('/') {
        Some((scope, n)) => format!("@{scope}/{}{version}", prefixed(n)),
        None => format!("@{bare}/create{version}"),
    }
}

/// The reason code of an option that would switch pnpm's scripts back on.
pub const OVERRIDE_CODE: &str = "scripts-switched-on";

/// Options of a pnpm install or dlx that switch its lifecycle scripts back
/// on, which pkgward keeps off (it runs the approved ones itself): pnpm
/// reads `--config.ignore-scripts=false` over its `--ignore-scripts`
/// wherever each is. Any spelling of the key (`ignoreScripts`,
/// `ignore_scripts`), `--ignore-scripts=false`, `--no-ignore-scripts`;
/// only pnpm's own options (before `--`, and before dlx's command).
pub fn script_overrides(tool: &str, args: &[String]) -> Vec<crate::record::Reason> {
    let end = dlx_parse(tool, args)
        .filter(|_| fetches(tool, args))
        .map_or(args.len(), |p| p.command)
        .min(args.iter().position(|a| a == "--").unwrap_or(args.len()));
    let on = |v: &str| !matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "");
    args[..end]
        .iter()
        .filter(|a| {
            let Some(body) = a.strip_prefix("--") else {
                return false;
            };
            let (key, value) = match body.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (body, None),
            };
            let norm: String = key
                .chars()
                .filter(|c| !matches!(c, '-' | '_'))
                .flat_map(char::to_lowercase)
                .collect();
            match norm.strip_prefix("config.").unwrap_or(&norm) {
                "ignorescripts" => value.is_some_and(on),
                "noignorescripts" => true,
                _ => false,
            }
        })
        .map(|a| crate::record::Reason {
            code: OVERRIDE_CODE.into(),
            message: format!(
                "`{a}` would run every package's install scripts; pkgward keeps pnpm's scripts \
                 off and runs the approved ones itself: remove it (approve a package with \
                 `pkgward approve npm:NAME`)"
            ),
            origin: Some(format!(
                "the command-line flag {}",
                a.split('=').next().unwrap_or(a)
            )),
        })
        .collect()
}

/// `pnpm dlx` / `pnpm create` / `pnpx` (see above); `pnpm exec` runs with
/// scripts off.
pub fn dlx_setup(tool: &str, policy: &Policy, args: &[String], cwd: &Path) -> Setup {
    let off = Setup {
        env: super::ignore_scripts_env("true"),
        ..Setup::default()
    };
    if !fetches(tool, args) {
        return off;
    }
    // pkgward's options go last, just before the command, after the
    // user's. (pnpm reads the config form over `--ignore-scripts` wherever
    // each is, and the user's own wins over pkgward's: a command line that
    // switches scripts back on is denied beforehand, [`script_overrides`].)
    let off = Setup {
        insert_args: vec![
            "--ignore-scripts".into(),
            "--config.ignore-scripts=true".into(),
        ],
        insert_at: dlx_parse(tool, args).map_or(0, |p| p.command),
        ..off
    };
    *DLX_START.lock().unwrap_or_else(|e| e.into_inner()) = Some(SystemTime::now());
    *DLX_CACHES.lock().unwrap_or_else(|e| e.into_inner()) = cache_dirs(tool, args, cwd);
    let mut names: Vec<String> = policy
        .allow_entries()
        .filter(|(e, _)| e.ecosystem == Ecosystem::Npm && !e.local)
        .map(|(e, _)| format!("--allow-build={}", e.name))
        .collect();
    names.sort();
    names.dedup();
    *DLX_ALLOW.lock().unwrap_or_else(|e| e.into_inner()) = names;
    *DLX_PREPARE.lock().unwrap_or_else(|e| e.into_inner()) = dlx_prepare_args(tool, args);
    DLX_PREPARED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    let all_run =
        policy.mode.value == Mode::Audit || policy.scripts_default.value != ScriptsDefault::Deny;
    *DLX_RESOLVE.lock().unwrap_or_else(|e| e.into_inner()) = all_run
        .then(|| dlx_packages(tool, args))
        .flatten()
        .map(|(packages, options)| Resolve {
            packages,
            options,
            cwd: cwd.to_path_buf(),
        });
    Setup {
        in_tool: cfg!(target_os = "linux"),
        after: Some(After::all_in(
            Family::PnpmDlx,
            Runner::SameTool,
            cwd.to_path_buf(),
        )),
        ..off
    }
}

/// Linux, before `pnpm dlx` when every package's build may run (see
/// above): the real pnpm's `add` of the packages dlx installs into a
/// private temporary project (scripts off, its output on stderr; the
/// `--registry` / `--config.*` options given, a copy of the project
/// `.npmrc` files pnpm reads where dlx runs), and
/// `--allow-build=NAME` for each package found there with install-time code
/// that pkgward does not pass already. Nothing when the packages are not
/// known ([`dlx_packages`]); a failed resolution is said and dlx runs as
/// before (what it did not build is listed afterwards).
#[cfg(target_os = "linux")]
pub fn dlx_before(cx: &Context<'_>, notice: &mut dyn FnMut(String)) -> Vec<String> {
    use crate::supervise::install_code::{run_install_code, InstallCode};
    let Some(r) = DLX_RESOLVE.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return Vec::new();
    };
    let what = r.packages.join(" ");
    let failed = |why: String| {
        format!(
            "pnpm dlx: resolving {what} beforehand failed ({why}): pnpm builds only the package \
             it runs and the approved ones"
        )
    };
    let Some(pnpm) = real_pnpm(cx) else {
        notice(failed("the real pnpm was not found".into()));
        return Vec::new();
    };
    // A private directory (0700): the `.npmrc` copy may hold tokens.
    let npmrc = project_npmrc(&r.cwd)
        .iter()
        .map(std::fs::read)
        .collect::<std::io::Result<Vec<_>>>()
        .map(|all| all.join(&b'\n'));
    let dir = match tempfile::Builder::new()
        .prefix("pkgward-pnpm-dlx-")
        .tempdir()
        .and_then(|d| std::fs::write(d.path().join("package.json"), "{}\n").map(|_| d))
        .and_then(|d| match npmrc {
            Ok(t) if t.is_empty() => Ok(d),
            Ok(t) => std::fs::write(d.path().join(".npmrc"), t).map(|_| d),
            Err(e) => Err(e),
        }) {
        Ok(d) => d,
        Err(e) => {
            notice(failed(e.to_string()));
            return Vec::new();
        }
    };
    let mut args: Vec<std::ffi::OsString> = vec!["add".into()];
    args.extend(r.packages.iter().chain(&r.options).map(Into::into));
    args.extend(
        [
            "--ignore-scripts",
            "--loglevel=error",
            // Real directories in the project, where [`find`] reads them.
            "--config.enable-global-virtual-store=false",
        ]
        .map(Into::into),
    );
    let mut env = cx.env.to_vec();
    env.extend(
        super::ignore_scripts_env("true")
            .into_iter()
            .chain([("PNPM_CONFIG_IGNORE_SCRIPTS".into(), "true".into())])
            .map(|(k, v)| (k.into(), v.into())),
    );
    let resolved = run_install_code(&InstallCode {
        program: pnpm,
        args,
        cwd: dir.path().to_path_buf(),
        env,
        sandboxed: false,
        extra_write: Vec::new(),
        trace: cx.trace.clone(),
        attached: super::stderr_attached(),
        project: None,
    });
    if !super::step_succeeded(resolved, "pnpm add", &failed, notice) {
        return Vec::new();
    }
    let given = dlx_allow_args();
    let mut more: Vec<String> = find(dir.path())
        .into_iter()
        .map(|p| format!("--allow-build={}", p.name))
        .filter(|a| !given.contains(a))
        .collect();
    more.sort();
    more.dedup();
    more
}

/// The real pnpm (`pnpx`'s too): after the shims on PATH, else the program
/// the shim runs when it is pnpm.
fn real_pnpm(cx: &Context<'_>) -> Option<PathBuf> {
    let is_pnpm = |p: &Path| {
        p.file_stem()
            .is_some_and(|n| n.eq_ignore_ascii_case("pnpm"))
    };
    (cx.find_tool)("pnpm").or_else(|| is_pnpm(cx.program).then(|| cx.program.to_path_buf()))
}

/// Without the broker (macOS, Windows, or a Linux broker that cannot
/// start), before the user's `pnpm dlx` / `pnpx` / `pnpm create` runs
/// (with `--ignore-scripts`) when the policy lets any npm package build:
/// the real pnpm prepares the dlx cache entry the user's run will use
/// ([`dlx_prepare_args`]; its output on stderr), then the packages in it
/// are built like an install's ([`super::run_after`] with the entry as the
/// project: the approved ones through `pnpm rebuild`, confined to it; the
/// denied ones recorded and listed with their approve command). The
/// user's run then finds the entry and runs its command. `Some(code)`: an
/// approved build failed; the entry is removed and the command does not
/// run. Nothing when the command line is not understood
/// ([`dlx_packages`]) or pnpm reuses a valid entry (built, or not, by an
/// earlier run: as with the broker); a failed preparation is said and dlx
/// runs as before (what it installs is listed afterwards, [`dlx_after`]).
pub fn dlx_prepare(
    cx: &Context<'_>,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Option<i32> {
    let args = DLX_PREPARE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()?;
    if !super::npm_builds_any(cx) {
        return None;
    }
    let unprepared = |why: String| {
        format!(
            "pnpm dlx: preparing its cache entry failed ({why}): pnpm installs its packages \
             itself and builds nothing"
        )
    };
    let caches = DLX_CACHES.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let Some(pnpm) = real_pnpm(cx).filter(|_| !caches.is_empty()) else {
        notice(unprepared(
            "the real pnpm or its cache directory was not found".into(),
        ));
        return None;
    };
    let mut env = cx.env.to_vec();
    env.extend(
        super::ignore_scripts_env("true")
            .into_iter()
            .chain([("PNPM_CONFIG_IGNORE_SCRIPTS".into(), "true".into())])
            .map(|(k, v)| (k.into(), v.into())),
    );
    let start = SystemTime::now();
    let args = args.iter().map(Into::into).collect();
    let step = super::prepare_step(
        cx,
        pnpm.clone(),
        args,
        env,
        ("pnpm", "pnpm dlx"),
        &unprepared,
        notice,
    );
    let attached = match step {
        super::Step::Done(a) => a,
        super::Step::Stopped(code) => return Some(code),
        super::Step::Failed => return None,
    };
    let cx = Context {
        program: &pnpm,
        attached,
        #[cfg(target_os = "linux")]
        trace: cx.trace.clone(),
        ..*cx
    };
    for entry in dlx_entries(&caches, start) {
        let after = After::all_in(Family::Pnpm, Runner::SameTool, entry.clone());
        if let Some(code) = super::run_after(&after, &cx, log, notice) {
            // Not left half built for the next run to reuse.
            remove_entry(&entry);
            return Some(code);
        }
        DLX_PREPARED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry);
    }
    None
}

/// Removes a dlx cache entry and its `pkg` link when the link names it.
fn remove_entry(entry: &Path) {
    if let Some(link) = entry.parent().map(|p| p.join("pkg")) {
        let same = match (std::fs::canonicalize(&link), std::fs::canonicalize(entry)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same {
            // A symlink (Unix) or a junction (Windows).
            let _ = std::fs::remove_file(&link).or_else(|_| std::fs::remove_dir(&link));
        }
    }
    let _ = std::fs::remove_dir_all(entry);
}

/// Whether `dir` is a dlx cache entry (`<cache>/dlx/<hash>/<entry>`).
pub(crate) fn is_dlx_entry(dir: &Path) -> bool {
    dir.parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .is_some_and(|n| n == "dlx")
}

/// The arguments that let pnpm start the approved builds at all (the broker
/// decides each one it starts).
pub fn dlx_allow_args() -> Vec<String> {
    DLX_ALLOW.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The broker's decisions in the `pnpm dlx` run ([`super::broker_stopped`]).
#[cfg(target_os = "linux")]
pub fn dlx_seen(outcomes: Vec<super::npm_broker::Outcome>) {
    let mut seen = DLX_SEEN.lock().unwrap_or_else(|e| e.into_inner());
    seen.extend(outcomes.into_iter().map(|o| Seen {
        name: o.package.name,
        version: o.package.version,
        rel: o.package.rel,
        event: o.event,
        command: o.command,
        denied: o.decision == super::ScriptDecision::Deny,
        local: o.package.local,
    }));
}

/// Where pnpm keeps its cache for this command line, from the shim's own
/// environment and files.
fn cache_dirs(tool: &str, args: &[String], cwd: &Path) -> Vec<PathBuf> {
    crate::classify::with_own_request(tool, args, cwd, crate::classify::pnpm_cache_dirs)
        .unwrap_or_default()
}

/// The dlx cache entries (`<cache>/dlx/<hash>/<entry>`) written since
/// `start`, in any of `caches`.
pub fn dlx_entries(caches: &[PathBuf], start: SystemTime) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = caches
        .iter()
        .filter_map(|c| std::fs::read_dir(c.join("dlx")).ok())
        .flatten()
        .filter_map(|e| e.ok())
        .flat_map(|h| super::fresh_dirs(&h.path(), start))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// After `pnpm dlx` (whatever its exit code): the packages with
/// install-time code in the dlx cache entry it installed into that the
/// broker was not asked for (pnpm did not build them) are decided and
/// recorded; the denied ones are listed once, with the ones the broker
/// denied, each with its approve command. A reused cache entry installs
/// and builds nothing: nothing to record.
pub fn dlx_after(cx: &Context<'_>, log: &mut Option<AuditLog>, notice: &mut dyn FnMut(String)) {
    let seen = std::mem::take(&mut *DLX_SEEN.lock().unwrap_or_else(|e| e.into_inner()));
    let start = DLX_START.lock().unwrap_or_else(|e| e.into_inner()).take();
    let mut denied: Vec<Package> = Vec::new();
    for s in seen.iter().filter(|s| s.denied) {
        match denied.iter_mut().find(|p| p.rel == s.rel) {
            Some(p) => p.scripts.push((s.event.clone(), s.command.clone())),
            None => denied.push(super::yarn::package(
                &s.name,
                &s.version,
                &s.rel,
                &[(s.event.clone(), s.command.clone())],
                s.local,
            )),
        }
    }
    let prepared = std::mem::take(&mut *DLX_PREPARED.lock().unwrap_or_else(|e| e.into_inner()));
    let caches = std::mem::take(&mut *DLX_CACHES.lock().unwrap_or_else(|e| e.into_inner()));
    let mut entries = match start {
        Some(t) => dlx_entries(&caches, t),
        None => Vec::new(),
    };
    // Built (and listed) before the run ([`dlx_prepare`]).
    entries.retain(|e| !prepared.contains(e));
    let found: Vec<Package> = entries
        .iter()
        .flat_map(|e| find(e))
        .filter(|p| !seen.iter().any(|s| s.rel == p.rel))
        .collect();
    let (more, not_built) =
        super::record_unbuilt(found, "not run: pnpm dlx did not build it", cx, log, notice);
    denied.extend(more);
    super::list_unbuilt(
        &denied,
        &not_built,
        "pnpm dlx did not build these packages the policy lets build (it builds only the \
         package it runs and the names pkgward passes as `--allow-build`: the approved ones, \
         and under `default = \"sandbox\"`/`\"allow\"` or in audit mode the ones its \
         resolution beforehand found with install-time code)",
        notice,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(dir: &Path, json: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("package.json"), json).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn walks_the_virtual_store_not_its_links() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let store = r.join("node_modules/.pnpm");
        pkg(
            &store.join("a@1.0.0/node_modules/a"),
            r#"{"name":"a","version":"1.0.0","scripts":{"postinstall":"x"}}"#,
        );
        pkg(
            &store.join("@s+b@2.0.0/node_modules/@s/b"),
            r#"{"name":"@s/b","version":"2.0.0","scripts":{"install":"y"}}"#,
        );
        pkg(
            &store.join("c@1.0.0/node_modules/c"),
            r#"{"name":"c","version":"1.0.0"}"#,
        );
        // A `file:` dependency: the project's own code.
        pkg(
            &store.join("d@file+vendor+d/node_modules/d"),
            r#"{"name":"d","version":"1.0.0","scripts":{"postinstall":"z"}}"#,
        );
        // a's dependency link, and a link out of the project.
        std::os::unix::fs::symlink(
            store.join("@s+b@2.0.0/node_modules/@s"),
            store.join("a@1.0.0/node_modules/@s"),
        )
        .unwrap();
        std::os::unix::fs::symlink("/", store.join("evil@1.0.0")).unwrap();
        let found = find(r);
        let names: Vec<(&str, &str)> = found
            .iter()
            .map(|p| (p.name.as_str(), p.rel.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("@s/b", "node_modules/.pnpm/@s+b@2.0.0/node_modules/@s/b"),
                ("a", "node_modules/.pnpm/a@1.0.0/node_modules/a"),
                ("d", "node_modules/.pnpm/d@file+vendor+d/node_modules/d"),
            ]
        );
        let local: Vec<bool> = found.iter().map(|p| p.local).collect();
        assert_eq!(local, [false, false, true]);
        assert_eq!(snapshot(r).len(), 4);
        let a = &found[1];
        let b = &found[0];
        let v: Value = serde_json::from_str(&allow_builds(&[a], &[b])).unwrap();
        assert_eq!(v["a@1.0.0"], true);
        assert_eq!(v["@s/b@2.0.0"], false);
    }

    #[test]
    fn dlx_fetches_and_its_fresh_cache_entries_are_found() {
        assert!(fetches("pnpx", &["cowsay".into()]));
        assert!(fetches(
            "pnpm",
            &["--silent".into(), "dlx".into(), "x".into()]
        ));
        assert!(fetches("pnpm", &["create".into(), "vite".into()]));
        assert!(!fetches("pnpm", &["exec".into(), "tsc".into()]));
        let t = tempfile::tempdir().unwrap();
        let old = t.path().join("dlx/h1/old");
        std::fs::create_dir_all(&old).unwrap();
        let start = SystemTime::now() + std::time::Duration::from_secs(3600);
        assert!(dlx_entries(&[t.path().into()], start).is_empty());
        let before = SystemTime::now() - std::time::Duration::from_secs(3600);
        assert_eq!(dlx_entries(&[t.path().into()], before), vec![old]);
    }

    #[test]
    fn options_that_switch_scripts_on_are_found() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let n = |tool: &str, a: &[&str]| script_overrides(tool, &v(a)).len();
        for a in [
            &["install", "--config.ignore-scripts=false"][..],
            &["install", "--config.ignoreScripts=0"],
            &["--config.ignore_scripts=no", "add", "x"],
            &["i", "--ignore-scripts=false"],
            &["install", "--no-ignore-scripts"],
            &["dlx", "--config.ignore-scripts=false", "x"],
        ] {
            assert_eq!(n("pnpm", a), 1, "{a:?}");
        }
        for a in [
            &["install", "--ignore-scripts"][..],
            &["install", "--config.ignore-scripts=true"],
            &["dlx", "x", "--config.ignore-scripts=false"],
            &["install", "--", "--no-ignore-scripts"],
        ] {
            assert_eq!(n("pnpm", a), 0, "{a:?}");
        }
        assert_eq!(n("pnpx", &["--no-ignore-scripts", "x"]), 1);
        assert_eq!(n("pnpx", &["x", "--no-ignore-scripts"]), 0);
    }

    #[test]
    fn dlx_packages_are_read_from_the_command_line() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let pk = |tool: &str, a: &[&str]| dlx_packages(tool, &v(a)).map(|(p, _)| p);
        assert_eq!(pk("pnpm", &["dlx", "cowsay", "hi"]), Some(v(&["cowsay"])));
        assert_eq!(
            pk(
                "pnpm",
                &[
                    "--silent",
                    "dlx",
                    "-y",
                    "--allow-build",
                    "esbuild",
                    "x@^1",
                    "-c"
                ]
            ),
            Some(v(&["x@^1"]))
        );
        assert_eq!(
            pk(
                "pnpm",
                &["--package=a@1", "dlx", "--package", "@s/b", "run-it"]
            ),
            Some(v(&["a@1", "@s/b"]))
        );
        assert_eq!(pk("pnpx", &["--reporter=silent", "tsx"]), Some(v(&["tsx"])));
        assert_eq!(
            pk("pnpm", &["create", "vite@5", "app"]),
            Some(v(&["create-vite@5"]))
        );
        assert_eq!(
            pk("pnpm", &["create", "@s/app"]),
            Some(v(&["@s/create-app"]))
        );
        assert_eq!(pk("pnpm", &["create", "@s@2"]), Some(v(&["@s/create@2"])));
        assert_eq!(pk("pnpm", &["create", "create-x"]), Some(v(&["create-x"])));
        assert_eq!(
            dlx_packages(
                "pnpm",
                &v(&[
                    "--registry=http://r.test/",
                    "--reporter=silent",
                    "dlx",
                    "--config.x=1",
                    "a"
                ])
            ),
            Some((v(&["a"]), v(&["--registry=http://r.test/", "--config.x=1"])))
        );
        // Not sure what pnpm installs: nothing resolved beforehand.
        for a in [
            &["dlx"][..],
            &["-C", "dir", "dlx", "x"],
            &["dlx", "--cpu=arm64", "x"],
            &["dlx", "--unknown", "x"],
            &["dlx", "./local"],
            &["dlx", "--package=file:../p", "x"],
        ] {
            assert_eq!(pk("pnpm", a), None, "{a:?}");
        }
    }

    #[test]
    fn the_preparing_command_line_keeps_the_users_options_and_runs_no_bin() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ours = [
            "--ignore-scripts",
            "--loglevel=error",
            "--config.enable-global-virtual-store=false",
            "-c",
            "exit 0",
        ];
        let with = |a: &[&str]| {
            let mut w = v(a);
            w.extend(v(&ours));
            Some(w)
        };
        let prep = |tool: &str, a: &[&str]| dlx_prepare_args(tool, &v(a));
        assert_eq!(
            prep("pnpm", &["dlx", "cowsay", "hi", "--x"]),
            with(&["dlx", "--package=cowsay"])
        );
        // The options before the command (the cache key's `--allow-build`
        // included); the command's own arguments dropped.
        assert_eq!(
            prep(
                "pnpm",
                &[
                    "--silent",
                    "dlx",
                    "--allow-build",
                    "esbuild",
                    "--registry=http://r.test/",
                    "x@^1",
                    "-y"
                ]
            ),
            with(&[
                "--silent",
                "dlx",
                "--allow-build",
                "esbuild",
                "--registry=http://r.test/",
                "--package=x@^1"
            ])
        );
        // `--package` given: the command is not a package.
        assert_eq!(
            prep(
                "pnpm",
                &["--package=a@1", "dlx", "--package", "b", "run-it"]
            ),
            with(&["--package=a@1", "dlx", "--package", "b"])
        );
        assert_eq!(
            prep("pnpx", &["-s", "tsx", "f.ts"]),
            with(&["dlx", "-s", "--package=tsx"])
        );
        assert_eq!(
            prep("pnpm", &["create", "@s/app", "my-app"]),
            with(&["dlx", "--package=@s/create-app"])
        );
        assert_eq!(prep("pnpm", &["dlx", "./local"]), None);
        assert_eq!(prep("pnpm", &["dlx", "--cpu=arm64", "x"]), None);
        assert_eq!(prep("pnpm", &["--silent"]), None);
        assert!(is_dlx_entry(Path::new("/c/pnpm/dlx/abc/123-4")));
        assert!(!is_dlx_entry(Path::new("/p/app")));
    }

    #[test]
    fn the_project_npmrc_files_pnpm_reads() {
        let t = tempfile::tempdir().unwrap();
        let ws = t.path();
        let sub = ws.join("pkg/src");
        std::fs::create_dir_all(&sub).unwrap();
        assert!(project_npmrc(&sub).is_empty());
        std::fs::write(ws.join(".npmrc"), "").unwrap();
        // No project: only the current directory's.
        assert!(project_npmrc(&sub).is_empty());
        std::fs::write(sub.join(".npmrc"), "").unwrap();
        assert_eq!(project_npmrc(&sub), vec![sub.join(".npmrc")]);
        std::fs::write(ws.join("pnpm-workspace.yaml"), "").unwrap();
        pkg(&ws.join("pkg"), "{}");
        std::fs::write(ws.join("pkg/.npmrc"), "").unwrap();
        assert_eq!(
            project_npmrc(&sub),
            vec![ws.join(".npmrc"), ws.join("pkg/.npmrc")]
        );
        pkg(ws, "{}");
        assert_eq!(project_npmrc(ws), vec![ws.join(".npmrc")]);
    }

    #[test]
    fn a_store_outside_the_project_is_not_used() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("node_modules")).unwrap();
        std::fs::write(
            r.join("node_modules/.modules.yaml"),
            r#"{"virtualStoreDir":"../../elsewhere"}"#,
        )
        .unwrap();
        assert_eq!(virtual_store(r), r.join("node_modules/.pnpm"));
        std::fs::write(
            r.join("node_modules/.modules.yaml"),
            r#"{"virtualStoreDir":".vs"}"#,
        )
        .unwrap();
        assert_eq!(virtual_store(r), r.join("node_modules/.vs"));
    }
}
