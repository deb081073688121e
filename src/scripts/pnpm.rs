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
use crate::policy::Policy;
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
                scripts,
                needs: Vec::new(),
            });
        }
    }
    out
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
// starts those at all. Afterwards the dlx cache entry pnpm installed into
// is read ([`dlx_after`]): what pnpm did not build is decided, recorded,
// and listed once with what the broker denied. Without the broker (not
// Linux, or it cannot start) pnpm runs with `--ignore-scripts` (nothing
// builds, the dlx'd package included) and the same list follows.

/// When this invocation's `pnpm dlx` started (its cache entry is newer).
static DLX_START: Mutex<Option<SystemTime>> = Mutex::new(None);
/// `--allow-build=NAME` for each approved npm name ([`dlx_setup`]).
static DLX_ALLOW: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// What the broker decided in this invocation's `pnpm dlx` run.
static DLX_SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

/// A script the broker was asked for.
#[derive(Clone, Debug)]
struct Seen {
    name: String,
    version: String,
    rel: String,
    event: String,
    command: String,
    denied: bool,
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

/// `pnpm dlx` / `pnpm create` / `pnpx` (see above); `pnpm exec` runs with
/// scripts off.
pub fn dlx_setup(tool: &str, policy: &Policy, args: &[String], cwd: &Path) -> Setup {
    let off = Setup {
        env: super::ignore_scripts_env("true"),
        insert_args: vec!["--ignore-scripts".into()],
        insert_at: 0,
        ..Setup::default()
    };
    if !fetches(tool, args) {
        return Setup {
            insert_args: Vec::new(),
            ..off
        };
    }
    *DLX_START.lock().unwrap_or_else(|e| e.into_inner()) = Some(SystemTime::now());
    let mut names: Vec<String> = policy
        .allow_entries()
        .filter(|(e, _)| e.ecosystem == Ecosystem::Npm)
        .map(|(e, _)| format!("--allow-build={}", e.name))
        .collect();
    names.sort();
    names.dedup();
    *DLX_ALLOW.lock().unwrap_or_else(|e| e.into_inner()) = names;
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
    }));
}

/// pnpm's cache directory (pnpm's rule): `cache-dir` from its environment
/// (`PNPM_CONFIG_CACHE_DIR`, `npm_config_cache_dir`), else
/// `$XDG_CACHE_HOME/pnpm`, else the platform's (`~/.cache/pnpm`,
/// `~/Library/Caches/pnpm`, `%LOCALAPPDATA%\pnpm-cache`).
fn cache_dir(cx: &Context<'_>) -> Option<PathBuf> {
    let var = |k: &str| {
        super::launch_var(cx.env, k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(d) = var("PNPM_CONFIG_CACHE_DIR").or_else(|| var("npm_config_cache_dir")) {
        return Some(d);
    }
    if let Some(x) = var("XDG_CACHE_HOME") {
        return Some(x.join("pnpm"));
    }
    if cfg!(windows) {
        return var("LOCALAPPDATA").map(|l| l.join("pnpm-cache"));
    }
    let home = var("HOME").or_else(dirs::home_dir)?;
    Some(if cfg!(target_os = "macos") {
        home.join("Library/Caches/pnpm")
    } else {
        home.join(".cache/pnpm")
    })
}

/// The dlx cache entries (`<cache>/dlx/<hash>/<entry>`) written since `start`.
pub fn dlx_entries(cache: &Path, start: SystemTime) -> Vec<PathBuf> {
    let Ok(hashes) = std::fs::read_dir(cache.join("dlx")) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = hashes
        .filter_map(|e| e.ok())
        .flat_map(|h| super::fresh_dirs(&h.path(), start))
        .collect();
    out.sort();
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
            )),
        }
    }
    let entries = match (start, cache_dir(cx)) {
        (Some(t), Some(c)) => dlx_entries(&c, t),
        _ => Vec::new(),
    };
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
        "pnpm dlx did not build these approved packages (it builds only the names \
         pkgward passes as `--allow-build` and the package it runs)",
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
            ]
        );
        assert_eq!(snapshot(r).len(), 3);
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
        assert!(dlx_entries(t.path(), start).is_empty());
        let before = SystemTime::now() - std::time::Duration::from_secs(3600);
        assert_eq!(dlx_entries(t.path(), before), vec![old]);
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
