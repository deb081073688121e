//! yarn's install-time code. yarn 1 leaves a hoisted `node_modules` that
//! the npm walk reads ([`super::run_after`], the approved scripts through
//! `npm rebuild`). yarn 2+ (berry) is read from yarn's own data and its
//! approved builds run with yarn's own mechanism, whatever the linker:
//! under its default Plug'n'Play linker there is no `node_modules` at all.
//!
//! How (checked with the real berry 4):
//! - yarn runs with scripts off (`YARN_ENABLE_SCRIPTS=false`) and with
//!   pkgward's plugin (`YARN_PLUGINS`, [`PLUGIN_JS`], written to a private
//!   temp directory). With scripts off, berry neither builds nor unplugs a
//!   dependency with build scripts, but it still runs the install scripts of
//!   the project's own workspaces; the plugin keeps those from running
//!   unless pkgward approved them (`name@version` of the workspace), and
//!   reports each one.
//! - Afterwards the packages with install-time code are read from the
//!   PnP data (`.pnp.data.json`, else the `RAW_RUNTIME_STATE` in
//!   `.pnp.cjs`): each `name@reference` yarn resolved (aliases are the
//!   package they point to; a virtual reference is its base), its
//!   `package.json` read from the cache zip (never extracted) or the
//!   unplugged directory. A package is decided by yarn's locator (name and,
//!   for `npm:` references, the version in it), never by the name its own
//!   `package.json` claims.
//! - The approved ones run through a second `yarn install`, supervised
//!   and confined like npm's ([`run_install_code`]), scripts still off for
//!   yarn as a whole: the plugin answers `dependenciesMeta[…].built = true`
//!   (berry's own per-package switch, which it honours with scripts off)
//!   for exactly the approved locators and `false` for every other package,
//!   in memory only (no file of the user's is written). If the plugin does
//!   not load, nothing is built: the switch is the plugin's.
//! - yarn's own build state (the build hashes in its install state) decides
//!   what that install builds: what changed or was never built. berry keeps
//!   the hash only of what it built in a run; the plugin gives a package it
//!   kept from building its earlier hash back (and keeps a package yarn
//!   built before unplugged meanwhile), and drops the hash of a workspace
//!   whose script it kept from running. So an unchanged approved build does
//!   not run again (recorded as not run, without error: up to date), and
//!   whatever was denied before and is approved now runs on the next
//!   install. `yarn rebuild [NAME…]` forgets the state of what it names,
//!   as berry does: those build again.
//!
//! - `nodeLinker: pnpm` and `node-modules`: the packages yarn did not
//!   build are the plugin's report (yarn's `skippedBuilds`, each where
//!   yarn's own linker put it); their manifests are read there and they
//!   are decided and run the same way. (Without the plugin, a
//!   `node-modules` tree is walked the npm way, [`super::run_after`].)
//!
//! - `yarn dlx` (and berry's `create`): its temporary project is gone when
//!   yarn ends, so the approved packages build inside dlx's own run
//!   ([`dlx_setup`]: the plugin gets the policy's rules; the whole run is
//!   confined when approved code is); the plugin reports what ran and what
//!   it skipped with its scripts (read from the fetched package), and each
//!   is decided, recorded and listed ([`is_exec`]). The dlx'd package
//!   itself is decided before the run, by the exec policy ([`super::exec`]).
//! - `pkgward scripts` reads the same from the project's files without
//!   running yarn ([`find_project`]).
//!
//! Fail-safe cases (everything denied and listed with its approve command,
//! nothing run): the plugin did not load (a yarn without `YARN_PLUGINS`:
//! nothing tells pkgward that yarn would build only the approved ones; the
//! PnP data still lists what was not built).
//!
//! Limits: a confined approved script may write the plugin's report (the
//! plugin runs in the same confinement), so its own record's exit code is
//! only as trustworthy as the script; relative paths in `~/.yarnrc.yml`
//! resolve against the private HOME in the confined run.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

use super::python::confine::{Kind, ToolRun, Want};
use super::{
    append, approve_hint, confines, decide, denied_message, npm, After, Context, Family, Rerun,
    Runner, ScriptDecision, ScriptRecord,
};
use crate::record::{self, AuditLog};
use crate::supervise::install_code::{run_install_code, InstallCode};
use crate::tools::Ecosystem;

/// The plugin berry loads from `YARN_PLUGINS` (see the module docs).
pub const PLUGIN_JS: &str = include_str!("yarn_plugin.cjs");

/// A `package.json` in a zip larger than this is not read.
const MAX_MANIFEST: u64 = 4 << 20;
/// PnP data larger than this is not read.
const MAX_PNP: u64 = 256 << 20;

/// The invocation's plugin directory: the plugin, the report it writes,
/// the allow lists it reads.
struct Plugin {
    dir: tempfile::TempDir,
}

impl Plugin {
    fn js(&self) -> PathBuf {
        self.dir.path().join("pkgward-yarn-plugin.cjs")
    }
    fn report(&self) -> PathBuf {
        self.dir.path().join("report.jsonl")
    }
    fn allow(&self) -> PathBuf {
        self.dir.path().join("allow.txt")
    }
    fn ws_allow(&self) -> PathBuf {
        self.dir.path().join("workspaces.txt")
    }
}

static PLUGIN: Mutex<Option<Plugin>> = Mutex::new(None);

/// The variables that load pkgward's plugin into yarn (an empty list when
/// the plugin cannot be written: berry then runs the project's own scripts
/// as yarn does, and every dependency's stays off).
pub fn plugin_env() -> Vec<(String, String)> {
    let mut guard = PLUGIN.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        let made = tempfile::Builder::new()
            .prefix("pkgward-yarn-")
            .tempdir()
            .ok()
            .map(|dir| Plugin { dir })
            .filter(|p| {
                std::fs::write(p.js(), PLUGIN_JS).is_ok()
                    && std::fs::write(p.allow(), "").is_ok()
                    && std::fs::write(p.ws_allow(), "").is_ok()
                    && std::fs::write(p.report(), "").is_ok()
            });
        *guard = made;
    }
    let Some(p) = guard.as_ref() else {
        return Vec::new();
    };
    let mut plugins = p.js().to_string_lossy().into_owned();
    if let Some(theirs) = std::env::var("YARN_PLUGINS").ok().filter(|v| !v.is_empty()) {
        plugins = format!("{theirs};{plugins}");
    }
    vec![
        ("YARN_PLUGINS".into(), plugins),
        (
            "PKGWARD_YARN_REPORT".into(),
            p.report().to_string_lossy().into_owned(),
        ),
        (
            "PKGWARD_YARN_ALLOW".into(),
            p.allow().to_string_lossy().into_owned(),
        ),
        (
            "PKGWARD_YARN_WS_ALLOW".into(),
            p.ws_allow().to_string_lossy().into_owned(),
        ),
    ]
}

/// The project root berry works in: the nearest directory from `cwd` up
/// with a `yarn.lock` or `.pnp.cjs`, else npm's ([`npm::project_root`]).
pub fn project_root(cwd: &Path) -> PathBuf {
    let mut d = Some(cwd);
    while let Some(dir) = d {
        if dir.join("yarn.lock").is_file() || dir.join(".pnp.cjs").is_file() {
            return dir.to_path_buf();
        }
        d = dir.parent();
    }
    npm::project_root(cwd)
}

/// Which linker berry uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linker {
    Pnp,
    NodeModules,
    Pnpm,
}

/// `nodeLinker`: `YARN_NODE_LINKER` (any case), else the nearest
/// `.yarnrc.yml` from the project up that sets it, else `~/.yarnrc.yml`,
/// else `pnp` (berry's default).
pub fn linker(root: &Path, env: &dyn Fn(&str) -> Option<String>) -> Linker {
    let parse = |v: &str| match v.trim().trim_matches(['"', '\'']) {
        "node-modules" => Some(Linker::NodeModules),
        "pnpm" => Some(Linker::Pnpm),
        "pnp" => Some(Linker::Pnp),
        _ => None,
    };
    if let Some(l) = env("YARN_NODE_LINKER").as_deref().and_then(parse) {
        return l;
    }
    let from_rc = |p: &Path| -> Option<Linker> {
        let text = std::fs::read_to_string(p.join(".yarnrc.yml")).ok()?;
        text.lines()
            .filter_map(|l| l.strip_prefix("nodeLinker:"))
            .filter_map(parse)
            .next_back()
    };
    let mut d = Some(root);
    while let Some(dir) = d {
        if let Some(l) = from_rc(dir) {
            return l;
        }
        d = dir.parent();
    }
    if let Some(l) = dirs::home_dir().and_then(|h| from_rc(&h)) {
        return l;
    }
    Linker::Pnp
}

/// A package yarn installed that has install-time code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// `name@reference` as yarn resolved it (virtual references stripped):
    /// what the plugin is given.
    pub locator: String,
    /// The ident (the name yarn installed it under).
    pub ident: String,
    /// Who it is decided as ([`identity`]).
    pub name: String,
    pub version: String,
    /// Where it is, relative to the project when inside it.
    pub location: String,
    /// (event, command), in yarn's order.
    pub scripts: Vec<(String, String)>,
}

/// `virtual:HASH#REF` → `REF`.
pub fn devirtualize(reference: &str) -> &str {
    match reference.strip_prefix("virtual:") {
        Some(r) => r.split_once('#').map(|(_, b)| b).unwrap_or(reference),
        None => reference,
    }
}

/// Who a locator is: `npm:1.2.3` is `ident@1.2.3`; an alias resolved as
/// `npm:other@1.2.3` is `other@1.2.3`; a patch is the package it patches;
/// anything else (file, git, …) is the ident with the version of its
/// manifest (`manifest_version`).
pub fn identity(ident: &str, reference: &str, manifest_version: &str) -> (String, String) {
    let reference = devirtualize(reference);
    if let Some(v) = reference.strip_prefix("npm:") {
        // `npm:@scope/x@1.0.0` or `npm:x@1.0.0` (an alias), else a version.
        if let Some(at) = v.get(1..).and_then(|s| s.rfind('@')).map(|i| i + 1) {
            let (n, ver) = (&v[..at], &v[at + 1..]);
            if !n.is_empty() && !ver.is_empty() {
                return (n.to_string(), ver.to_string());
            }
        }
        return (ident.to_string(), v.to_string());
    }
    if let Some(p) = reference.strip_prefix("patch:") {
        // `patch:NAME@ENCODED-REF#PATCH…`
        let inner = p.split('#').next().unwrap_or_default();
        if let Some(at) = inner.get(1..).and_then(|s| s.find('@')).map(|i| i + 1) {
            let r = percent_decode(&inner[at + 1..]);
            return identity(ident, &r, manifest_version);
        }
    }
    (ident.to_string(), manifest_version.to_string())
}

/// Whether a locator (`name@reference`) is the project's own code: a
/// workspace, or a `file:`, `portal:` or `link:` reference (also patched),
/// which only an `npm:NAME@local` approval covers.
pub fn is_local(locator: &str) -> bool {
    let Some((_, reference)) = split_locator(locator) else {
        return false;
    };
    let reference = devirtualize(reference);
    if let Some(p) = reference.strip_prefix("patch:") {
        let inner = p.split('#').next().unwrap_or_default();
        if let Some(at) = inner.get(1..).and_then(|s| s.find('@')).map(|i| i + 1) {
            let r = percent_decode(&inner[at + 1..]);
            return is_local(&format!("{}@{r}", &inner[..at]));
        }
    }
    ["workspace:", "file:", "portal:", "link:"]
        .iter()
        .any(|p| reference.starts_with(p))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The PnP data of the project: `.pnp.data.json`, else the JSON string in
/// `.pnp.cjs`.
pub fn pnp_data(root: &Path) -> Option<Value> {
    let read = |p: PathBuf| -> Option<String> {
        let m = std::fs::symlink_metadata(&p).ok()?;
        if !m.is_file() || m.len() > MAX_PNP {
            return None;
        }
        std::fs::read_to_string(p).ok()
    };
    if let Some(t) = read(root.join(".pnp.data.json")) {
        return serde_json::from_str(&t).ok();
    }
    let js = read(root.join(".pnp.cjs"))?;
    serde_json::from_str(&raw_runtime_state(&js)?).ok()
}

/// The JSON text of `const RAW_RUNTIME_STATE = '…';` (a JS single-quoted
/// string with line continuations).
pub fn raw_runtime_state(js: &str) -> Option<String> {
    let start = js.find("RAW_RUNTIME_STATE")?;
    let rest = &js[start..];
    let q = rest.find('\'')?;
    let mut out = String::new();
    let mut chars = rest[q + 1..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => return Some(out),
            '\\' => match chars.next()? {
                '\n' => {}
                '\r' => {}
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// Every package in the PnP data with install-time code (yarn's rule:
/// preinstall, install, postinstall, and `node-gyp rebuild` for a
/// `binding.gyp` without an install script), hard links only (yarn builds
/// no soft link; workspaces are the plugin's).
pub fn find_pnp(root: &Path) -> Vec<Found> {
    let mut out = Vec::new();
    let Some(data) = pnp_data(root) else {
        return out;
    };
    let Some(reg) = data.get("packageRegistryData").and_then(Value::as_array) else {
        return out;
    };
    let mut seen = BTreeSet::new();
    for entry in reg {
        let Some(ident) = entry.get(0).and_then(Value::as_str) else {
            continue;
        };
        let Some(refs) = entry.get(1).and_then(Value::as_array) else {
            continue;
        };
        for r in refs {
            let (Some(reference), Some(info)) = (r.get(0).and_then(Value::as_str), r.get(1)) else {
                continue;
            };
            if info.get("linkType").and_then(Value::as_str) != Some("HARD") {
                continue;
            }
            let base = devirtualize(reference);
            let locator = format!("{ident}@{base}");
            if !seen.insert(locator.clone()) {
                continue;
            }
            let Some(loc) = info.get("packageLocation").and_then(Value::as_str) else {
                continue;
            };
            let Some((manifest, gyp)) = read_package(root, loc) else {
                continue;
            };
            let scripts = build_scripts(&manifest, gyp);
            if scripts.is_empty() {
                continue;
            }
            let mv = manifest
                .get("version")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let (name, version) = identity(ident, base, mv);
            out.push(Found {
                locator,
                ident: ident.to_string(),
                name,
                version,
                location: loc.trim_start_matches("./").trim_end_matches('/').into(),
                scripts,
            });
        }
    }
    out
}

/// What a berry project would build, read from its files without running
/// yarn (`pkgward scripts`): the dependencies with install-time code
/// ([`find_pnp`] under PnP; the `node_modules/.yarn-state.yml` of the
/// `node-modules` linker; else each `yarn.lock` resolution read from its
/// cache zip), then the workspaces' own (`name@version`, `0.0.0` without a
/// version, as the plugin keys them). Each is who yarn's locator says.
/// `None`: not a berry project.
pub fn find_project(root: &Path, env: &dyn Fn(&str) -> Option<String>) -> Option<Vec<Found>> {
    if !is_berry(root, false) {
        return None;
    }
    let lock = std::fs::read_to_string(root.join("yarn.lock")).unwrap_or_default();
    let entries = lockfile_resolutions(&lock);
    let mut found = match linker(root, env) {
        Linker::Pnp if pnp_data(root).is_some() => find_pnp(root),
        Linker::NodeModules if root.join("node_modules/.yarn-state.yml").is_file() => {
            let text = std::fs::read_to_string(root.join("node_modules/.yarn-state.yml"))
                .unwrap_or_default();
            let mut out = Vec::new();
            for (locator, location) in yarn_state(&text) {
                if let Some(f) = found_at(root, &locator, &location) {
                    if !out.iter().any(|o: &Found| o.locator == f.locator) {
                        out.push(f);
                    }
                }
            }
            out
        }
        _ => {
            let caches = cache_dirs(root, env);
            entries
                .iter()
                .filter(|(_, hard)| *hard)
                .filter_map(|(locator, _)| {
                    let (ident, reference) = split_locator(locator)?;
                    let zip = caches.iter().find_map(|d| cache_zip(d, ident, reference))?;
                    let inner = format!("{}/node_modules/{ident}", zip.display());
                    let mut f = found_at(root, locator, &inner)?;
                    f.location = zip.to_string_lossy().into_owned();
                    Some(f)
                })
                .collect()
        }
    };
    // The workspaces: yarn.lock's soft `workspace:` resolutions, else the
    // project's own manifest.
    let mut workspaces: Vec<(String, String)> = entries
        .iter()
        .filter_map(|(l, _)| {
            let (ident, reference) = split_locator(l)?;
            let path = reference.strip_prefix("workspace:")?;
            Some((ident.to_string(), path.to_string()))
        })
        .collect();
    if workspaces.is_empty() {
        workspaces.push((String::new(), ".".into()));
    }
    for (ident, rel) in workspaces {
        let Some((manifest, gyp)) = read_package(root, &rel) else {
            continue;
        };
        let scripts = build_scripts(&manifest, gyp);
        if scripts.is_empty() {
            continue;
        }
        let s = |k: &str| manifest.get(k).and_then(Value::as_str).map(str::to_string);
        let name = if ident.is_empty() {
            s("name").unwrap_or_default()
        } else {
            ident
        };
        let version = s("version").unwrap_or_else(|| "0.0.0".into());
        found.push(Found {
            locator: format!("{name}@workspace:{rel}"),
            ident: name.clone(),
            name,
            version,
            location: rel,
            scripts,
        });
    }
    Some(found)
}

/// The package yarn's `locator` names at `location` (relative to the
/// project, or absolute), when it has install-time code.
fn found_at(root: &Path, locator: &str, location: &str) -> Option<Found> {
    let (ident, reference) = split_locator(locator)?;
    if reference.starts_with("workspace:") {
        return None;
    }
    let (manifest, gyp) = read_package(root, location)?;
    let scripts = build_scripts(&manifest, gyp);
    if scripts.is_empty() {
        return None;
    }
    let mv = manifest
        .get("version")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let base = devirtualize(reference);
    let (name, version) = identity(ident, base, mv);
    Some(Found {
        locator: format!("{ident}@{base}"),
        ident: ident.to_string(),
        name,
        version,
        location: location
            .trim_start_matches("./")
            .trim_end_matches('/')
            .into(),
        scripts,
    })
}

/// `@scope/name@ref` → (`@scope/name`, `ref`).
pub fn split_locator(locator: &str) -> Option<(&str, &str)> {
    let at = locator.get(1..)?.find('@')? + 1;
    Some((&locator[..at], &locator[at + 1..]))
}

/// A berry `yarn.lock`'s resolutions, each with whether it is a hard link.
pub fn lockfile_resolutions(text: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    let unquote = |v: &str| v.trim().trim_matches('"').to_string();
    for line in text.lines() {
        if !line.starts_with(' ') {
            continue;
        }
        let l = line.trim();
        if let Some(v) = l.strip_prefix("resolution:") {
            out.push((unquote(v), true));
        } else if let Some(v) = l.strip_prefix("linkType:") {
            if let Some(last) = out.last_mut() {
                last.1 = v.trim() == "hard";
            }
        }
    }
    out
}

/// `node_modules/.yarn-state.yml`: each locator with its first location.
pub fn yarn_state(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') && !line.starts_with('#') {
            let key = line.trim_end_matches(':').trim_matches('"');
            current = (key != "__metadata").then(|| key.to_string());
        } else if let (Some(loc), Some(cur)) = (line.trim().strip_prefix("- "), &current) {
            out.push((cur.clone(), loc.trim_matches('"').to_string()));
            current = None;
        }
    }
    out
}

/// Where berry keeps its cache zips: `YARN_CACHE_FOLDER`, the project's
/// `cacheFolder`, `.yarn/cache`, the global folder's cache.
fn cache_dirs(root: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let rc = std::fs::read_to_string(root.join(".yarnrc.yml")).unwrap_or_default();
    let setting = |k: &str| {
        rc.lines()
            .filter_map(|l| l.strip_prefix(k))
            .filter_map(|l| l.strip_prefix(':'))
            .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
            .next_back()
    };
    let mut out = Vec::new();
    out.extend(env("YARN_CACHE_FOLDER").map(PathBuf::from));
    out.extend(setting("cacheFolder").map(|c| root.join(c)));
    out.push(root.join(".yarn/cache"));
    let global = env("YARN_GLOBAL_FOLDER")
        .map(PathBuf::from)
        .or_else(|| setting("globalFolder").map(|g| root.join(g)))
        .or_else(|| dirs::home_dir().map(|h| global_folder(&h, env)));
    out.extend(global.map(|g| g.join("cache")));
    out
}

/// berry's hash: sha512 of the parts, hex.
fn berry_hash(parts: &[&str]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha512::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache file name's start for a locator (berry's `slugifyLocator`):
/// `IDENT-PROTOCOL[-VERSION]-LOCATORHASH10-`.
pub fn cache_slug(ident: &str, reference: &str) -> String {
    let (scope, name) = match ident.strip_prefix('@').and_then(|s| s.split_once('/')) {
        Some((scope, name)) => (Some(scope), name),
        None => (None, ident),
    };
    let ident_hash = berry_hash(&[scope.unwrap_or_default(), name]);
    let locator_hash = berry_hash(&[&ident_hash, reference]);
    let (protocol, selector) = match reference.find(':') {
        Some(i) => (&reference[..i], &reference[i + 1..]),
        None => ("exotic", reference),
    };
    let human = match semver::Version::parse(selector) {
        Ok(v) => format!("{protocol}-{v}"),
        Err(_) => protocol.to_string(),
    };
    let slug_ident = match scope {
        Some(s) => format!("@{s}-{name}"),
        None => name.to_string(),
    };
    format!("{slug_ident}-{human}-{}-", &locator_hash[..10])
}

/// The cache zip of a locator in `dir`.
fn cache_zip(dir: &Path, ident: &str, reference: &str) -> Option<PathBuf> {
    let slug = cache_slug(ident, reference);
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&slug) && n.ends_with(".zip"))
        })
}

/// The packages the plugin reported as not built (`skipped`), read where
/// yarn's linker put them, less the ones already in `known`.
fn from_skipped(events: &[Event], known: &[Found]) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::new();
    for e in events.iter().filter(|e| e.event == "skipped") {
        if e.location.is_empty() || known.iter().chain(out.iter()).any(|f| f.locator == e.id) {
            continue;
        }
        let Some((manifest, gyp)) = read_package(Path::new("/"), &e.location) else {
            continue;
        };
        let scripts = build_scripts(&manifest, gyp);
        let Some(reference) =
            e.id.strip_prefix(e.ident.as_str())
                .and_then(|r| r.strip_prefix('@'))
        else {
            continue;
        };
        if scripts.is_empty() {
            continue;
        }
        let (name, version) = identity(&e.ident, reference, &e.version);
        out.push(Found {
            locator: e.id.clone(),
            ident: e.ident.clone(),
            name,
            version,
            location: e.location.trim_end_matches('/').to_string(),
            scripts,
        });
    }
    out
}

/// yarn's build scripts of a manifest ([`find_pnp`]).
pub fn build_scripts(m: &Value, binding_gyp: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in npm::DEP_EVENTS {
        if let Some(c) = m
            .get("scripts")
            .and_then(|s| s.get(e))
            .and_then(Value::as_str)
        {
            out.push((e.to_string(), c.to_string()));
        }
    }
    if binding_gyp && !out.iter().any(|(e, _)| e == "install") {
        out.push(("install".into(), "node-gyp rebuild".into()));
    }
    out
}

/// The manifest of the package at `location` (relative to the project, or
/// absolute), and whether it has a `binding.gyp`: read from inside its
/// zip when the location is in one, else from its directory.
fn read_package(root: &Path, location: &str) -> Option<(Value, bool)> {
    let path = root.join(location);
    let s = path.to_string_lossy().into_owned();
    if let Some(at) = s.find(".zip/").or_else(|| s.find(".zip\\")) {
        let zip_path = PathBuf::from(&s[..at + 4]);
        let inner = s[at + 5..].replace('\\', "/");
        let inner = inner.trim_end_matches('/');
        let m = std::fs::symlink_metadata(&zip_path).ok()?;
        if !m.is_file() {
            return None;
        }
        let f = std::fs::File::open(&zip_path).ok()?;
        let mut z = zip::ZipArchive::new(f).ok()?;
        let prefix = if inner.is_empty() {
            String::new()
        } else {
            format!("{inner}/")
        };
        let gyp = z.by_name(&format!("{prefix}binding.gyp")).is_ok();
        let mut e = z.by_name(&format!("{prefix}package.json")).ok()?;
        if e.size() > MAX_MANIFEST {
            return None;
        }
        let mut buf = Vec::new();
        e.by_ref().take(MAX_MANIFEST).read_to_end(&mut buf).ok()?;
        return Some((serde_json::from_slice(&buf).ok()?, gyp));
    }
    let dir = Path::new(&s);
    let m = npm::read_manifest(dir)?;
    let gyp = std::fs::symlink_metadata(dir.join("binding.gyp")).is_ok_and(|m| m.is_file());
    Some((m, gyp))
}

/// One line of the plugin's report.
#[derive(Clone, Debug, Default)]
struct Event {
    event: String,
    id: String,
    ident: String,
    version: String,
    location: String,
    key: String,
    cwd: String,
    script: String,
    command: String,
    ran: bool,
    code: Option<i32>,
    ms: Option<f64>,
    /// `yarn dlx`'s skipped packages: their manifest's `scripts` (`Null`
    /// when the plugin could not read it; absent otherwise) and whether
    /// they have a `binding.gyp`.
    scripts: Option<Value>,
    gyp: bool,
}

fn read_report(path: &Path, from: usize) -> Vec<Event> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .skip(from)
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            let s = |k: &str| {
                v.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            Event {
                event: s("event"),
                id: s("id"),
                ident: s("ident"),
                version: s("version"),
                location: s("location"),
                key: s("key"),
                cwd: s("cwd"),
                script: s("script"),
                command: s("command"),
                ran: v.get("ran").and_then(Value::as_bool).unwrap_or(false),
                code: v.get("code").and_then(Value::as_i64).map(|c| c as i32),
                ms: v.get("ms").and_then(Value::as_f64),
                scripts: v.get("scripts").cloned(),
                gyp: v.get("gyp").and_then(Value::as_bool).unwrap_or(false),
            }
        })
        .collect()
}

/// Whether yarn here is berry: its plugin reported in, or the project has
/// berry's files (a `yarn.lock` with `__metadata`, PnP data).
fn is_berry(root: &Path, loaded: bool) -> bool {
    loaded
        || root.join(".pnp.cjs").is_file()
        || root.join(".yarn/install-state.gz").is_file()
        || std::fs::read_to_string(root.join("yarn.lock"))
            .is_ok_and(|t| t.lines().any(|l| l.starts_with("__metadata:")))
}

/// After yarn ran: yarn 1 → the npm walk; berry → see the module docs.
pub fn run_after(
    after: &After,
    cx: &Context<'_>,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Option<i32> {
    let (report, ws_allow_path, allow_path, plugin_js) = {
        let guard = PLUGIN.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(p) => (
                Some(p.report()),
                Some(p.ws_allow()),
                Some(p.allow()),
                Some(p.js()),
            ),
            None => (None, None, None, None),
        }
    };
    let events = report
        .as_deref()
        .map(|r| read_report(r, 0))
        .unwrap_or_default();
    let loaded = events.iter().any(|e| e.event == "loaded");
    let root = project_root(&after.root);
    let npm_after = |with_root: bool| After {
        family: Family::Npm,
        runner: Runner::Npm,
        with_root,
        ..after.clone()
    };
    if is_exec(&after_args(cx)) {
        // yarn 1's `create` has nothing of pkgward's to read.
        return if loaded {
            dlx_after(&events, cx, log, notice)
        } else {
            None
        };
    }
    if !is_berry(&root, loaded) {
        return super::run_after(&npm_after(after.with_root), cx, log, notice);
    }
    if skips_builds(&after_args(cx), &root) {
        // The user's own choice: yarn builds nothing, and neither does pkgward.
        return None;
    }
    let eco = Ecosystem::Npm;
    let env = |k: &str| {
        super::launch_var(cx.env, k)
            .or_else(|| {
                std::env::vars_os()
                    .find(|(n, _)| n.to_str().is_some_and(|n| n.eq_ignore_ascii_case(k)))
                    .map(|(_, v)| v)
            })
            .and_then(|v| v.into_string().ok())
    };
    let linker = linker(&root, &env);
    // The project's own workspaces: what the plugin kept from running.
    let mut denied_pkgs: Vec<npm::Package> = Vec::new();
    let mut ws_run: Vec<(String, String, String, ScriptDecision, Option<String>)> = Vec::new();
    let mut ws_seen = BTreeSet::new();
    for e in events.iter().filter(|e| e.event == "workspace" && !e.ran) {
        let (name, version) = e
            .key
            .rsplit_once('@')
            .filter(|(n, _)| !n.is_empty())
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .unwrap_or_else(|| (e.key.clone(), String::new()));
        // A workspace is the project's own code.
        let (d, by) = decide(cx.policy, cx.mode, eco, &name, &version, true);
        let rel = Path::new(&e.cwd)
            .strip_prefix(&root)
            .map(|r| {
                let s = r.to_string_lossy().replace('\\', "/");
                if s.is_empty() {
                    ".".to_string()
                } else {
                    s
                }
            })
            .unwrap_or_else(|_| e.cwd.clone());
        if !d.runs() || !loaded {
            append(
                log,
                &record(cx, &name, &version, &rel, &e.script, &e.command, d, &by),
                notice,
            );
            if ws_seen.insert(e.key.clone()) {
                denied_pkgs.push(package(&name, &version, &rel, &[], true));
            }
            if let Some(p) = denied_pkgs.iter_mut().find(|p| p.rel == rel) {
                p.scripts.push((e.script.clone(), e.command.clone()));
            }
        } else {
            ws_run.push((e.key.clone(), rel, e.script.clone(), d, by));
        }
    }
    let mut failed = None;
    let mut found = match linker {
        Linker::Pnp => find_pnp(&root),
        Linker::NodeModules | Linker::Pnpm => Vec::new(),
    };
    // What yarn itself reports it did not build, where its linker put it
    // (the other linkers; under PnP, anything the PnP data missed).
    found.extend(from_skipped(&events, &found));
    if linker == Linker::NodeModules && !loaded {
        // No plugin, no report: the hoisted tree the npm way.
        failed = super::run_after(&npm_after(false), cx, log, notice);
    }
    let decided: Vec<(&Found, ScriptDecision, Option<String>)> = found
        .iter()
        .map(|f| {
            let (d, by) = decide(
                cx.policy,
                cx.mode,
                eco,
                &f.name,
                &f.version,
                is_local(&f.locator),
            );
            (f, d, by)
        })
        .collect();
    let mut run: Vec<&(&Found, ScriptDecision, Option<String>)> = Vec::new();
    for item in &decided {
        let (f, d, by) = item;
        if d.runs() && loaded {
            run.push(item);
        } else {
            for (event, command) in &f.scripts {
                append(
                    log,
                    &record(cx, &f.name, &f.version, &f.location, event, command, *d, by),
                    notice,
                );
            }
            denied_pkgs.push(package(
                &f.name,
                &f.version,
                &f.location,
                &f.scripts,
                is_local(&f.locator),
            ));
        }
    }
    if !loaded && (!run.is_empty() || !found.is_empty()) {
        notice(
            "pkgward's yarn plugin did not load (a yarn without YARN_PLUGINS support): \
             no install-time code was run"
                .into(),
        );
    }
    if (!run.is_empty() || !ws_run.is_empty()) && loaded && failed.is_none() {
        let (Some(allow_path), Some(ws_allow_path), Some(report), Some(plugin_js)) =
            (allow_path, ws_allow_path, report, plugin_js)
        else {
            return failed;
        };
        let allow: Vec<&str> = run.iter().map(|(f, _, _)| f.locator.as_str()).collect();
        let ws: Vec<&str> = ws_run.iter().map(|w| w.0.as_str()).collect();
        let written = std::fs::write(&allow_path, allow.join("\n") + "\n").is_ok()
            && std::fs::write(&ws_allow_path, ws.join("\n") + "\n").is_ok();
        let from = read_report(&report, 0).len();
        // A plain install: yarn builds what its build state says changed or
        // was never built, of what the plugin allows (see the module docs).
        let args = ["install".to_string()];
        let mut env_vars = cx.env.to_vec();
        for (k, v) in [
            ("YARN_ENABLE_SCRIPTS", "false".to_string()),
            // The install before it checked the resolutions (hardened
            // mode, on by default for public pull requests): this one
            // only builds.
            ("YARN_ENABLE_HARDENED_MODE", "false".to_string()),
            ("YARN_PLUGINS", plugin_js.to_string_lossy().into_owned()),
            ("PKGWARD_YARN_REPORT", report.to_string_lossy().into_owned()),
            (
                "PKGWARD_YARN_ALLOW",
                allow_path.to_string_lossy().into_owned(),
            ),
            (
                "PKGWARD_YARN_WS_ALLOW",
                ws_allow_path.to_string_lossy().into_owned(),
            ),
        ] {
            env_vars.push((OsString::from(k), OsString::from(v)));
        }
        let sandboxed = run.iter().any(|(_, d, _)| confines(cx.policy, *d))
            || ws_run.iter().any(|w| confines(cx.policy, w.3));
        if sandboxed {
            env_vars.extend(private_home(&plugin_js.with_file_name("home"), &env));
        }
        let code = InstallCode {
            program: cx.program.to_path_buf(),
            args: args.iter().map(OsString::from).collect(),
            cwd: root.clone(),
            env: env_vars,
            sandboxed,
            // The plugin's report only (not its allow lists or code).
            extra_write: vec![report.clone()],
            attached: None,
            project: None,
            #[cfg(target_os = "linux")]
            trace: cx.trace.clone(),
        };
        let mut runner = vec!["yarn".to_string()];
        runner.extend(args.iter().cloned());
        let result = if !written {
            Err("cannot write the plugin's allow list".to_string())
        } else if let Some(sig) = crate::supervise::terminated() {
            failed = Some(128 + sig);
            Err(format!("stopped by signal {sig}"))
        } else {
            run_install_code(&code).map_err(|e| {
                failed = Some(e.exit_code());
                e.to_string()
            })
        };
        let ran = read_report(&report, from);
        let ended = result.as_ref().ok();
        let mut one = |name: &str,
                       version: &str,
                       rel: &str,
                       id: &str,
                       event: &str,
                       command: &str,
                       d: ScriptDecision,
                       by: &Option<String>| {
            let mut r = record(cx, name, version, rel, event, command, d, by);
            r.runner = Some(runner.clone());
            let hit = ran
                .iter()
                .find(|e| e.ran && e.id == id && e.script == event);
            let current = ran.iter().any(|e| e.event == "up-to-date" && e.id == id);
            match (&result, hit) {
                (Err(err), _) => r.error = Some(err.clone()),
                // yarn's build state: built before, nothing changed since.
                (Ok(_), None) if current => {}
                (Ok(_), Some(h)) => {
                    r.ran = true;
                    r.exit_code = h.code;
                    r.duration_ms = h.ms;
                    r.sandbox = ended.and_then(|e| e.sandbox.clone());
                }
                // yarn's implicit `node-gyp rebuild` is no script: it ran
                // as part of the rebuild, whose status it shares.
                (Ok(e), None) if command == "node-gyp rebuild" => {
                    r.ran = true;
                    r.exit_code = Some(e.exit_code);
                    r.sandbox = e.sandbox.clone();
                }
                (Ok(_), None) => r.error = Some("not run by yarn".into()),
            }
            append(log, &r, notice);
        };
        for (f, d, by) in &run {
            for (event, command) in &f.scripts {
                one(
                    &f.name,
                    &f.version,
                    &f.location,
                    &f.locator,
                    event,
                    command,
                    *d,
                    by,
                );
            }
        }
        for (key, rel, script, d, by) in &ws_run {
            let (name, version) = key.rsplit_once('@').unwrap_or((key, ""));
            let id = ran
                .iter()
                .find(|e| e.event == "workspace" && e.script == *script)
                .map(|e| e.id.clone())
                .unwrap_or_default();
            let command = events
                .iter()
                .find(|e| e.key == *key && e.script == *script)
                .map(|e| e.command.clone())
                .unwrap_or_default();
            one(name, version, rel, &id, script, &command, *d, by);
        }
        match &result {
            Ok(e) if e.exit_code == 0 => {}
            Ok(e) => {
                notice(format!(
                    "install-time code failed (exit code {}): `{}`",
                    e.exit_code,
                    runner.join(" ")
                ));
                failed = Some(e.exit_code);
            }
            Err(err) => {
                notice(format!("cannot run the approved install-time code: {err}"));
                failed.get_or_insert(crate::error::exit::INTERNAL);
            }
        }
    }
    list_denied(cx.policy, &denied_pkgs, Rerun::NextInstall("yarn"), notice);
    failed
}

/// Confined code cannot read `~/.yarnrc.yml` (it may hold registry
/// tokens), and berry fails without it: berry reads a copy without
/// credentials from a private HOME (`fake`); the scripts get the real HOME
/// back from the plugin. The variables that do so (none when there is no
/// `~/.yarnrc.yml` or the copy cannot be written).
fn private_home(fake: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<(OsString, OsString)> {
    let Some(real_home) = env("HOME").map(PathBuf::from).or_else(dirs::home_dir) else {
        return Vec::new();
    };
    let Ok(rc) = std::fs::read_to_string(real_home.join(".yarnrc.yml")) else {
        return Vec::new();
    };
    if std::fs::create_dir_all(fake).is_err()
        || std::fs::write(fake.join(".yarnrc.yml"), scrub_yarnrc(&rc)).is_err()
    {
        return Vec::new();
    }
    let mut out: Vec<(OsString, OsString)> = vec![
        ("HOME".into(), fake.into()),
        ("PKGWARD_YARN_HOME".into(), real_home.clone().into()),
    ];
    if env("YARN_GLOBAL_FOLDER").is_none() {
        out.push((
            "YARN_GLOBAL_FOLDER".into(),
            global_folder(&real_home, env).into_os_string(),
        ));
    }
    out
}

/// The confinement of this invocation's `yarn dlx` run, when it has one
/// ([`dlx_setup`]).
static DLX_RUN: Mutex<Option<ToolRun>> = Mutex::new(None);

/// `yarn dlx`: what its temporary project may build is known only after
/// yarn fetched it, so the plugin is given the policy's rules
/// (`PKGWARD_YARN_DLX_ALLOW`: one `NAME<TAB>RANGE` a line for each npm
/// approval, an empty range for any version; `*` when the policy's default
/// lets every package's code run) and builds exactly the packages they
/// approve, each matched by yarn's locator (an `npm:` reference: its name
/// and version; anything else only under `*`); every other package stays
/// unbuilt, listed and recorded afterwards ([`dlx_after`], which decides
/// each one that ran again, by pkgward's own policy code). When those
/// builds are to be confined, the whole `yarn dlx` run is
/// ([`super::python::confine`], [`Kind::YarnDlx`]): the command it runs
/// too. Returns the variables for yarn.
pub fn dlx_setup(policy: &crate::policy::Policy, cwd: &Path) -> Vec<(String, String)> {
    let mut rules: Vec<String> = policy
        .allow_entries()
        .filter(|(e, _)| e.ecosystem == Ecosystem::Npm && !e.local)
        .map(|(e, _)| format!("{}\t{}", e.name, e.range.unwrap_or_default()))
        .collect();
    let (default, _) = decide(policy, policy.mode.value, Ecosystem::Npm, "", "", false);
    if default.runs() {
        rules.push("*".into());
    }
    let confined = (!rules.is_empty() && confines(policy, ScriptDecision::Approved))
        || (default.runs() && confines(policy, default));
    let guard = PLUGIN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(p) = guard.as_ref() else {
        return Vec::new();
    };
    let file = p.dir.path().join("dlx-allow.txt");
    if std::fs::write(&file, rules.join("\n") + "\n").is_err() {
        return Vec::new();
    }
    let mut env = vec![(
        "PKGWARD_YARN_DLX_ALLOW".to_string(),
        file.to_string_lossy().into_owned(),
    )];
    if !confined || rules.is_empty() {
        return env;
    }
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let home = private_home(&p.dir.path().join("home"), &var);
    let faked = !home.is_empty();
    env.extend(home.into_iter().map(|(k, v)| {
        (
            k.to_string_lossy().into_owned(),
            v.to_string_lossy().into_owned(),
        )
    }));
    if !faked && var("YARN_GLOBAL_FOLDER").is_none() {
        if let Some(h) = var("HOME").map(PathBuf::from).or_else(dirs::home_dir) {
            let g = global_folder(&h, &var);
            env.push((
                "YARN_GLOBAL_FOLDER".into(),
                g.to_string_lossy().into_owned(),
            ));
        }
    }
    let run = ToolRun::default();
    run.want(Want {
        kind: Kind::YarnDlx,
        project: cwd.to_path_buf(),
        extra: vec![p.report()],
    });
    *DLX_RUN.lock().unwrap_or_else(|e| e.into_inner()) = Some(run);
    env
}

/// The confinement [`dlx_setup`] asked for.
pub fn dlx_run() -> Option<ToolRun> {
    DLX_RUN.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The one list of what was not run, each with its approve command.
fn list_denied(
    policy: &crate::policy::Policy,
    denied: &[npm::Package],
    rerun: Rerun<'_>,
    notice: &mut dyn FnMut(String),
) {
    if denied.is_empty() {
        return;
    }
    let listed: Vec<(&npm::Package, String)> = denied
        .iter()
        .map(|p| {
            let hint = approve_hint(policy, Ecosystem::Npm, &p.name, &p.version, p.local);
            (p, hint)
        })
        .collect();
    notice(denied_message(&listed, rerun));
}

/// Where a `yarn dlx` package is recorded as being.
const DLX_PATH: &str = "yarn dlx";

/// `yarn dlx …` / `yarn create …` (berry runs `create` as `dlx`).
pub fn is_exec(args: &[String]) -> bool {
    let mut it = args.iter().take_while(|a| *a != "--");
    while let Some(a) = it.next() {
        if a == "--cwd" {
            it.next();
        } else if !a.starts_with('-') {
            return matches!(a.as_str(), "dlx" | "create");
        }
    }
    false
}

/// `yarn dlx`: from the plugin's report (its temporary project is gone).
/// What the plugin let build ran inside dlx's own run ([`dlx_setup`]):
/// each script recorded with its exit code and duration, decided again
/// here. What it did not build is decided, recorded, and listed with its
/// approve command when denied; an approved one left unbuilt (a locator the
/// plugin's rules do not match, such as a non-registry one) is recorded as
/// not run, and said so.
fn dlx_after(
    events: &[Event],
    cx: &Context<'_>,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Option<i32> {
    let eco = Ecosystem::Npm;
    let confined = DLX_RUN.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut runner = vec!["yarn".to_string()];
    runner.extend(after_args(cx));
    for e in events.iter().filter(|e| e.event == "script" && e.ran) {
        let Some(reference) =
            e.id.strip_prefix(e.ident.as_str())
                .and_then(|r| r.strip_prefix('@'))
        else {
            continue;
        };
        let (name, version) = identity(&e.ident, reference, &e.version);
        let (d, by) = decide(cx.policy, cx.mode, eco, &name, &version, is_local(&e.id));
        let mut r = record(cx, &name, &version, DLX_PATH, &e.script, &e.command, d, &by);
        r.ran = true;
        r.runner = Some(runner.clone());
        r.exit_code = e.code;
        r.duration_ms = e.ms;
        r.sandbox = confined.as_ref().map(|c| c.record("yarn dlx"));
        if !d.runs() {
            r.error = Some("built by yarn dlx although the policy denies it".into());
        }
        append(log, &r, notice);
    }
    let mut seen = BTreeSet::new();
    let mut denied: Vec<npm::Package> = Vec::new();
    let mut not_run: Vec<String> = Vec::new();
    for e in events.iter().filter(|e| e.event == "skipped") {
        if !seen.insert(e.id.clone()) {
            continue;
        }
        let Some(reference) =
            e.id.strip_prefix(e.ident.as_str())
                .and_then(|r| r.strip_prefix('@'))
        else {
            continue;
        };
        let scripts = match &e.scripts {
            Some(Value::Null) | None => {
                vec![(
                    "install".to_string(),
                    "(its package.json was not readable)".to_string(),
                )]
            }
            Some(s) => build_scripts(&serde_json::json!({ "scripts": s }), e.gyp),
        };
        if scripts.is_empty() {
            continue;
        }
        let (name, version) = identity(&e.ident, reference, &e.version);
        let (d, by) = decide(cx.policy, cx.mode, eco, &name, &version, is_local(&e.id));
        for (event, command) in &scripts {
            let mut r = record(cx, &name, &version, DLX_PATH, event, command, d, &by);
            if d.runs() {
                r.error = Some("not run: yarn dlx did not build it".into());
            }
            append(log, &r, notice);
        }
        if d.runs() {
            not_run.push(format!("{name}@{version}"));
        } else {
            denied.push(package(
                &name,
                &version,
                DLX_PATH,
                &scripts,
                is_local(&e.id),
            ));
        }
    }
    if !not_run.is_empty() {
        notice(format!(
            "yarn dlx did not build these approved packages (only registry versions are \
             built inside its run): {}",
            not_run.join(", ")
        ));
    }
    list_denied(cx.policy, &denied, Rerun::None, notice);
    None
}

fn after_args(cx: &Context<'_>) -> Vec<String> {
    cx.args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// Whether the user told berry to build nothing: `--mode=skip-build` /
/// `update-lockfile`, their own `YARN_ENABLE_SCRIPTS=false` (pkgward's is
/// only in the tool's launch), or `enableScripts: false` in the nearest
/// `.yarnrc.yml` (from the project up, then the home's) that sets it.
pub fn skips_builds(args: &[String], root: &Path) -> bool {
    let mut it = args.iter().take_while(|a| *a != "--");
    while let Some(a) = it.next() {
        let mode = match a.strip_prefix("--mode=") {
            Some(m) => Some(m.to_string()),
            None if a == "--mode" => it.next().cloned(),
            None => None,
        };
        if matches!(mode.as_deref(), Some("skip-build" | "update-lockfile")) {
            return true;
        }
    }
    let off = |v: &str| matches!(v.trim().trim_matches(['"', '\'']), "false" | "0");
    if let Some((_, v)) =
        std::env::vars().find(|(k, _)| k.eq_ignore_ascii_case("YARN_ENABLE_SCRIPTS"))
    {
        return off(&v);
    }
    let from_rc = |dir: &Path| -> Option<bool> {
        let text = std::fs::read_to_string(dir.join(".yarnrc.yml")).ok()?;
        text.lines()
            .filter_map(|l| l.strip_prefix("enableScripts:"))
            .map(off)
            .next_back()
    };
    let mut d = Some(root);
    while let Some(dir) = d {
        if let Some(o) = from_rc(dir) {
            return o;
        }
        d = dir.parent();
    }
    dirs::home_dir().and_then(|h| from_rc(&h)).unwrap_or(false)
}

/// berry's default global folder (its global cache is there): what it
/// would use with the real HOME.
pub fn global_folder(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if cfg!(windows) {
        return env("LOCALAPPDATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("AppData").join("Local"))
            .join("Yarn")
            .join("Berry");
    }
    match env("XDG_DATA_HOME").filter(|d| Path::new(d).is_absolute()) {
        Some(d) => Path::new(&d).join("yarn/berry"),
        None => home.join(".yarn/berry"),
    }
}

/// A `.yarnrc.yml` without credentials: every line whose key names an
/// auth setting, a token, a password or a secret (`npmAuthToken`,
/// `npmAuthIdent`, … at any depth) is left out.
pub fn scrub_yarnrc(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let key = line
            .trim_start()
            .trim_start_matches("- ")
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .trim_matches(['"', '\''])
            .to_ascii_lowercase();
        if ["auth", "token", "password", "secret"]
            .iter()
            .any(|w| key.contains(w))
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A package as the npm walk describes it (the listing and `pkgward
/// scripts`); `local`: the project's own code ([`is_local`]).
pub fn package(
    name: &str,
    version: &str,
    rel: &str,
    scripts: &[(String, String)],
    local: bool,
) -> npm::Package {
    npm::Package {
        name: name.to_string(),
        version: version.to_string(),
        dir: PathBuf::from(rel),
        rel: rel.to_string(),
        root: rel == ".",
        local,
        scripts: scripts.to_vec(),
        needs: Vec::new(),
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn record(
    cx: &Context<'_>,
    name: &str,
    version: &str,
    rel: &str,
    event: &str,
    command: &str,
    d: ScriptDecision,
    by: &Option<String>,
) -> ScriptRecord {
    ScriptRecord {
        kind: "script",
        invocation_id: cx.invocation_id.to_string(),
        time: record::now_rfc3339(),
        ecosystem: Ecosystem::Npm,
        package: name.to_string(),
        version: version.to_string(),
        path: rel.to_string(),
        script: event.to_string(),
        command: record::redact::redact_urls(command).into_owned(),
        decision: d,
        approved_by: by.clone(),
        ran: false,
        runner: None,
        exit_code: None,
        signal: None,
        duration_ms: None,
        error: None,
        sandbox: None,
    }
}

#[cfg(test)]
#[path = "yarn_tests.rs"]
mod tests;
