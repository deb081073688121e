//! The npm family's install-time code: which installed packages have
//! lifecycle scripts (or an implicit `node-gyp rebuild`), in dependency
//! order, found by walking `node_modules` without following symlinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The events npm runs for an installed dependency, in order.
pub const DEP_EVENTS: [&str; 3] = ["preinstall", "install", "postinstall"];

/// The events npm runs for the root project on install, in order.
pub const ROOT_EVENTS: [&str; 7] = [
    "preinstall",
    "install",
    "postinstall",
    "prepublish",
    "preprepare",
    "prepare",
    "postprepare",
];

/// A walk stops after this many packages (a hostile tree must not hang the shim).
const MAX_PACKAGES: usize = 100_000;
/// `node_modules` nesting deeper than this is not followed.
const MAX_DEPTH: usize = 64;
/// A `package.json` larger than this is not read.
const MAX_MANIFEST: u64 = 4 << 20;

/// An installed package (or the root project) with install-time code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// The package directory.
    pub dir: PathBuf,
    /// The directory relative to the project root, `/`-separated (`.` for
    /// the root): what `npm rebuild <path>` takes.
    pub rel: String,
    pub root: bool,
    /// The project's own code (the root, a workspace, a `file:` link or
    /// tarball), approved only by `npm:NAME@local` ([`identity`]).
    pub local: bool,
    /// (event, command), in the order npm runs them.
    pub scripts: Vec<(String, String)>,
    /// The other packages with install-time code this one depends on,
    /// directly or not (their `rel`s): what must run before it.
    pub needs: Vec<String>,
}

struct Node {
    version: String,
    dir: PathBuf,
    rel: String,
    deps: Vec<String>,
    scripts: Vec<(String, String)>,
}

/// The project root npm works in: the nearest directory from `cwd` upwards
/// with a `package.json` (npm's local prefix), else `cwd`.
pub fn project_root(cwd: &Path) -> PathBuf {
    let mut d = Some(cwd);
    while let Some(dir) = d {
        if dir.join("package.json").is_file() {
            return dir.to_path_buf();
        }
        d = dir.parent();
    }
    cwd.to_path_buf()
}

/// Every package under `root/node_modules` with install-time code, plus the
/// root project when it has install scripts (and `with_root`), in the order
/// to run them: dependencies before their dependents, the root last.
pub fn find(root: &Path, with_root: bool) -> Vec<Package> {
    let resolved = lock_resolved(root);
    let git_deps: BTreeSet<String> = resolved
        .iter()
        .filter(|(_, r)| r.starts_with("git") || r.starts_with("github:"))
        .map(|(p, _)| p.clone())
        .collect();
    let mut nodes: Vec<Node> = Vec::new();
    walk_node_modules(&root.join("node_modules"), "node_modules", 0, &mut nodes);
    for n in &mut nodes {
        if git_deps.contains(&n.rel) {
            if let Some(m) = read_manifest(&n.dir) {
                if let Some(c) = script(&m, "prepare") {
                    n.scripts.push(("prepare".into(), c));
                }
            }
        }
    }
    let edges = resolved_edges(&nodes);
    let order = dependency_order(&nodes, &edges);
    let mut needs = script_needs(&nodes, &edges);
    let mut out: Vec<Package> = order
        .into_iter()
        .filter(|&i| !nodes[i].scripts.is_empty())
        .map(|i| {
            let n = &nodes[i];
            // Decided by what was installed there, not by the name the
            // package's own manifest claims ([`identity`]).
            let id = identity(root, &n.dir, resolved.get(&n.rel).map(String::as_str));
            Package {
                name: id.name,
                version: if id.version.is_empty() {
                    n.version.clone()
                } else {
                    id.version
                },
                dir: n.dir.clone(),
                rel: n.rel.clone(),
                root: false,
                local: id.local,
                scripts: n.scripts.clone(),
                needs: std::mem::take(&mut needs[i]),
            }
        })
        .collect();
    if with_root {
        if let Some(m) = read_manifest(root) {
            let scripts: Vec<(String, String)> = ROOT_EVENTS
                .iter()
                .filter_map(|e| script(&m, e).map(|c| (e.to_string(), c)))
                .collect();
            if !scripts.is_empty() {
                let name = m
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| {
                        root.file_name()
                            .map(|f| f.to_string_lossy().into_owned())
                            .unwrap_or_else(|| "root".into())
                    });
                out.push(Package {
                    name,
                    version: m
                        .get("version")
                        .and_then(Value::as_str)
                        .unwrap_or("0.0.0")
                        .to_string(),
                    dir: root.to_path_buf(),
                    rel: ".".into(),
                    root: true,
                    local: true,
                    scripts,
                    needs: out.iter().map(|p| p.rel.clone()).collect(),
                });
            }
        }
    }
    out
}

/// Who a package directory npm runs a script in is: the name it is
/// installed under (the path after the last `node_modules`), or — for a
/// registry tarball npm resolved (`npm_package_resolved`, set by npm, not
/// by the package) — the name and version in the tarball's URL, so an
/// alias (`"x": "npm:y@1"`) is `y`. A package's own `package.json` name is
/// not trusted: it could claim an approved package's name. Directories
/// outside `node_modules` (the root project, workspaces, `file:` links)
/// are the project's own code and go by their `package.json`; so does a
/// package npm installed from a `file:` source (a tarball, or a directory
/// copied with `install-links`): they are `local`, which only an
/// `npm:NAME@local` approval covers, so that the project's own code
/// cannot borrow a registry package's approval by taking its name.
pub fn identity(root: &Path, dir: &Path, resolved: Option<&str>) -> Identity {
    let manifest = read_manifest(dir);
    let field = |k: &str| {
        manifest
            .as_ref()
            .and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let rel_path = dir.strip_prefix(root).ok();
    let rel = match rel_path {
        Some(r) if r.as_os_str().is_empty() => ".".to_string(),
        Some(r) => r
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
        None => dir.display().to_string(),
    };
    let parts: Vec<&str> = rel.split('/').collect();
    let installed_as = parts
        .iter()
        .rposition(|c| *c == "node_modules")
        .and_then(|i| match parts.get(i + 1) {
            Some(s) if s.starts_with('@') => parts.get(i + 2).map(|n| format!("{s}/{n}")),
            Some(n) => Some(n.to_string()),
            None => None,
        });
    let Some(installed_as) = installed_as else {
        let name = field("name").unwrap_or_else(|| {
            dir.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| "root".into())
        });
        return Identity {
            name,
            version: field("version").unwrap_or_else(|| "0.0.0".into()),
            root: rel == ".",
            local: true,
            rel,
        };
    };
    let (name, version) = match resolved.and_then(tarball_identity) {
        Some((n, v)) => (n, v),
        None => (installed_as, field("version").unwrap_or_default()),
    };
    Identity {
        name,
        version,
        rel,
        root: false,
        local: resolved.is_some_and(is_local_source),
    }
}

/// Whether npm's `resolved` for a package names the project's own files
/// (`file:` a directory or tarball) rather than something fetched.
pub fn is_local_source(resolved: &str) -> bool {
    resolved.starts_with("file:")
}

/// A package directory's identity ([`identity`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub version: String,
    /// Relative to the project root, `/`-separated; `.` = the root.
    pub rel: String,
    pub root: bool,
    /// The project's own code: outside `node_modules`, or installed from a
    /// `file:` source.
    pub local: bool,
}

/// The package name and version of a registry tarball URL
/// (`…/NAME/-/BASENAME-VERSION.tgz`, NAME possibly `@scope/x` or
/// `@scope%2fx`).
pub fn tarball_identity(url: &str) -> Option<(String, String)> {
    let path = url.split(['?', '#']).next()?;
    let (before, file) = path.rsplit_once("/-/")?;
    let file = file.strip_suffix(".tgz")?;
    if file.contains('/') {
        return None;
    }
    let segs: Vec<&str> = before.rsplit('/').take(2).collect();
    let last = *segs.first()?;
    let name = if let Some(prev) = segs.get(1).filter(|p| p.starts_with('@')) {
        format!("{prev}/{last}")
    } else {
        last.replace("%2f", "/").replace("%2F", "/")
    };
    let base = name.rsplit('/').next()?;
    let version = file.strip_prefix(base)?.strip_prefix('-')?;
    if name.is_empty() || version.is_empty() || name.starts_with('.') {
        return None;
    }
    Some((name, version.to_string()))
}

/// Every installed package directory under `root/node_modules` (relative
/// path → version and the identity of its `package.json`), to tell after an
/// install which packages it added or replaced.
pub fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut nodes = Vec::new();
    walk_node_modules(&root.join("node_modules"), "node_modules", 0, &mut nodes);
    nodes
        .into_iter()
        .map(|n| {
            let id = std::fs::symlink_metadata(n.dir.join("package.json"))
                .map(|m| file_identity(&m))
                .unwrap_or_default();
            (n.rel, format!("{}:{id}", n.version))
        })
        .collect()
}

#[cfg(unix)]
pub(crate) fn file_identity(m: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!(
        "{}:{}:{}",
        m.dev(),
        m.ino(),
        m.ctime_nsec() + m.ctime() * 1_000_000_000
    )
}

#[cfg(not(unix))]
pub(crate) fn file_identity(m: &std::fs::Metadata) -> String {
    let t = |r: std::io::Result<std::time::SystemTime>| {
        r.ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    };
    format!("{}:{}", t(m.created()), t(m.modified()))
}

fn walk_node_modules(dir: &Path, rel: &str, depth: usize, out: &mut Vec<Node>) {
    if depth > MAX_DEPTH || out.len() >= MAX_PACKAGES {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect();
    names.sort();
    for (name, path) in names {
        if name.starts_with('.') || !is_real_dir(&path) {
            continue;
        }
        if name.starts_with('@') {
            let Ok(scoped) = std::fs::read_dir(&path) else {
                continue;
            };
            let mut inner: Vec<(String, PathBuf)> = scoped
                .filter_map(|e| e.ok())
                .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
                .collect();
            inner.sort();
            for (n, p) in inner {
                if n.starts_with('.') || !is_real_dir(&p) {
                    continue;
                }
                visit(&p, &format!("{rel}/{name}/{n}"), depth, out);
            }
        } else {
            visit(&path, &format!("{rel}/{name}"), depth, out);
        }
    }
}

fn visit(dir: &Path, rel: &str, depth: usize, out: &mut Vec<Node>) {
    if out.len() >= MAX_PACKAGES {
        return;
    }
    if let Some(m) = read_manifest(dir) {
        let name = m
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let version = m
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut deps = Vec::new();
        for key in ["dependencies", "optionalDependencies"] {
            if let Some(o) = m.get(key).and_then(Value::as_object) {
                deps.extend(o.keys().cloned());
            }
        }
        if !name.is_empty() {
            out.push(Node {
                version,
                dir: dir.to_path_buf(),
                rel: rel.to_string(),
                deps,
                scripts: dep_scripts(&m, dir),
            });
        }
    }
    walk_node_modules(
        &dir.join("node_modules"),
        &format!("{rel}/node_modules"),
        depth + 1,
        out,
    );
}

/// A directory that is not a symlink (and not reached through one).
pub(crate) fn is_real_dir(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_dir())
}

pub(crate) fn read_manifest(dir: &Path) -> Option<Value> {
    let p = dir.join("package.json");
    let meta = std::fs::symlink_metadata(&p).ok()?;
    if !meta.is_file() || meta.len() > MAX_MANIFEST {
        return None;
    }
    serde_json::from_slice(&std::fs::read(p).ok()?).ok()
}

fn script(m: &Value, event: &str) -> Option<String> {
    m.get("scripts")?
        .get(event)?
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
}

/// A dependency's install-time scripts: preinstall/install/postinstall, and
/// npm's implicit `install: node-gyp rebuild` for a `binding.gyp` without
/// an install or preinstall script (unless `"gypfile": false`).
pub(crate) fn dep_scripts(m: &Value, dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for e in DEP_EVENTS {
        if let Some(c) = script(m, e) {
            out.push((e.to_string(), c));
        }
    }
    let has = |e: &str| out.iter().any(|(x, _)| x == e);
    let gyp_off = m.get("gypfile").and_then(Value::as_bool) == Some(false);
    if !has("install")
        && !has("preinstall")
        && !gyp_off
        && std::fs::symlink_metadata(dir.join("binding.gyp")).is_ok_and(|m| m.is_file())
    {
        let pos = out
            .iter()
            .position(|(e, _)| e == "postinstall")
            .unwrap_or(out.len());
        out.insert(pos, ("install".into(), "node-gyp rebuild".into()));
    }
    out
}

/// npm's lockfile (the hidden one in `node_modules`, else
/// `package-lock.json`): each package path's `resolved`.
fn lock_resolved(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for lock in [
        root.join("node_modules/.package-lock.json"),
        root.join("package-lock.json"),
    ] {
        let Ok(meta) = std::fs::symlink_metadata(&lock) else {
            continue;
        };
        if !meta.is_file() || meta.len() > 256 << 20 {
            continue;
        }
        let Ok(bytes) = std::fs::read(&lock) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        if let Some(pkgs) = v.get("packages").and_then(Value::as_object) {
            for (path, p) in pkgs {
                if let Some(r) = p.get("resolved").and_then(Value::as_str) {
                    out.insert(path.clone(), r.to_string());
                }
            }
        }
        break;
    }
    out
}

/// Each node's dependencies, resolved like Node does (the nearest
/// `node_modules` upwards), as indices into `nodes`.
fn resolved_edges(nodes: &[Node]) -> Vec<Vec<usize>> {
    let by_rel: BTreeMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.rel.as_str(), i))
        .collect();
    let resolve = |from: &str, dep: &str| -> Option<usize> {
        let mut base = from.to_string();
        loop {
            let candidate = format!("{base}/node_modules/{dep}");
            if let Some(&i) = by_rel.get(candidate.as_str()) {
                return Some(i);
            }
            // Up to the enclosing package's directory.
            match base.rfind("/node_modules/") {
                Some(at) => base.truncate(at),
                None => {
                    return by_rel.get(format!("node_modules/{dep}").as_str()).copied();
                }
            }
        }
    };
    nodes
        .iter()
        .map(|n| n.deps.iter().filter_map(|d| resolve(&n.rel, d)).collect())
        .collect()
}

/// Indices of `nodes` so that each comes after the packages it depends on.
/// Cycles are broken where they are met.
fn dependency_order(nodes: &[Node], edges: &[Vec<usize>]) -> Vec<usize> {
    let mut state = vec![0u8; nodes.len()]; // 0 new, 1 on stack, 2 done
    let mut order = Vec::with_capacity(nodes.len());
    for start in 0..nodes.len() {
        if state[start] != 0 {
            continue;
        }
        // Iterative DFS, post-order.
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        while let Some(&mut (i, ref mut next)) = stack.last_mut() {
            if *next < edges[i].len() {
                let j = edges[i][*next];
                *next += 1;
                if state[j] == 0 {
                    state[j] = 1;
                    stack.push((j, 0));
                }
            } else {
                state[i] = 2;
                order.push(i);
                stack.pop();
            }
        }
    }
    order
}

/// For each node with install-time code: the other nodes with
/// install-time code it depends on, directly or not (their `rel`s).
fn script_needs(nodes: &[Node], edges: &[Vec<usize>]) -> Vec<Vec<String>> {
    nodes
        .iter()
        .enumerate()
        .map(|(start, n)| {
            if n.scripts.is_empty() {
                return Vec::new();
            }
            let mut seen = vec![false; nodes.len()];
            seen[start] = true;
            let mut stack = vec![start];
            let mut out = Vec::new();
            while let Some(i) = stack.pop() {
                for &j in &edges[i] {
                    if !seen[j] {
                        seen[j] = true;
                        if !nodes[j].scripts.is_empty() {
                            out.push(nodes[j].rel.clone());
                        }
                        stack.push(j);
                    }
                }
            }
            out
        })
        .collect()
}

/// Splits `run` (in dependency order) into batches that can run together:
/// no package in a batch needs (directly or not) another package of `run`
/// in the same or a later batch.
pub fn batches<'a>(run: &[&'a Package]) -> Vec<Vec<&'a Package>> {
    let mut level: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out: Vec<Vec<&Package>> = Vec::new();
    for p in run {
        let l = p
            .needs
            .iter()
            .filter_map(|r| level.get(r.as_str()))
            .map(|l| l + 1)
            .max()
            .unwrap_or(0);
        level.insert(p.rel.as_str(), l);
        if out.len() <= l {
            out.resize_with(l + 1, Vec::new);
        }
        out[l].push(p);
    }
    out
}

/// What the shim's npm script broker needs to place a script npm asks for
/// ([`super::npm_broker`]): the project, and where npm puts the packages of
/// `npx`/`npm exec` and of a global install; for `npx`, the user's own
/// script shell, which runs the command `npx` runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrokerPlan {
    /// npm's local prefix (the project).
    pub root: PathBuf,
    /// `<cache>/_npx`: `npx` installs each set of packages into one
    /// directory below it.
    pub npx_cache: Option<PathBuf>,
    /// `<global prefix>/lib`: a global install's packages are in its
    /// `node_modules`.
    pub global_lib: Option<PathBuf>,
    /// `npx`/`npm exec`: the user's `script-shell` (empty: npm's default).
    pub exec_shell: Option<String>,
    /// `npm pack`/`cache add`/`diff`/`publish` naming what they fetch: the
    /// command, whose packing runs that package's scripts (not an install).
    pub fetch: Option<&'static str>,
}

/// An npm setting as npm reads it for this command line: the last
/// `--key=value` / `--key value` flag, else an `npm_config_*` variable
/// (any spelling), else the project's `.npmrc`, the user's (`userconfig`),
/// the global one (`globalconfig`). `None`: npm's default.
pub fn setting(key: &str, args: &[String], cwd: &Path, home: Option<&Path>) -> Option<String> {
    if let Some(v) = flag_or_env(key, args) {
        return Some(v);
    }
    let env = crate::classify::source::ProcessEnv;
    let userconfig = flag_or_env("userconfig", args)
        .map(|p| config_path(&p, cwd, home))
        .or_else(|| home.map(|h| h.join(".npmrc")));
    let globalconfig = flag_or_env("globalconfig", args).map(|p| config_path(&p, cwd, home));
    let files = [
        Some(project_root(cwd).join(".npmrc")),
        userconfig,
        globalconfig,
    ];
    files.into_iter().flatten().find_map(|f| {
        let text = std::fs::read_to_string(f).ok()?;
        crate::classify::npmrc::parse(&text, &env)
            .into_iter()
            .rfind(|e| e.key == key)
            .map(|e| e.value)
    })
}

/// A setting from the command line or the environment only.
fn flag_or_env(key: &str, args: &[String]) -> Option<String> {
    let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let flag = format!("--{key}");
    let mut found = None;
    let mut it = args[..at].iter();
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix(&flag).and_then(|r| r.strip_prefix('=')) {
            found = Some(v.to_string());
        } else if *a == flag {
            found = it.next().cloned();
        }
    }
    if found.is_some() {
        return found;
    }
    let mut vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    vars.sort();
    vars.into_iter()
        .rfind(|(k, _)| super::npm_config_key(k).as_deref() == Some(key))
        .map(|(_, v)| v)
}

/// A path setting: `~/` is the home, a relative one is from `cwd`.
fn config_path(p: &str, cwd: &Path, home: Option<&Path>) -> PathBuf {
    match (p.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => cwd.join(p),
    }
}

/// `<cache>/_npx`, with npm's cache as this command line sets it (default
/// `~/.npm`; on Windows `%LOCALAPPDATA%\\npm-cache`, else
/// `~\\npm-cache`, as npm's own default).
pub fn npx_cache(args: &[String], cwd: &Path, home: Option<&Path>) -> Option<PathBuf> {
    let cache = match setting("cache", args, cwd, home) {
        Some(c) => config_path(&c, cwd, home),
        None => default_cache(
            cfg!(windows),
            std::env::var_os("LOCALAPPDATA").map(PathBuf::from),
            home,
        )?,
    };
    Some(cache.join("_npx"))
}

/// npm's default cache directory.
fn default_cache(
    windows: bool,
    local_app_data: Option<PathBuf>,
    home: Option<&Path>,
) -> Option<PathBuf> {
    if windows {
        let root = local_app_data
            .filter(|d| !d.as_os_str().is_empty())
            .or_else(|| home.map(Path::to_path_buf))?;
        return Some(root.join("npm-cache"));
    }
    Some(home?.join(".npm"))
}

/// `<global prefix>/lib`: the `prefix` setting, else `$PREFIX`, else the
/// directory above the one holding the `node` npm runs on (`$DESTDIR`
/// before it), as npm computes it on Unix.
pub fn global_lib(args: &[String], cwd: &Path, home: Option<&Path>) -> Option<PathBuf> {
    let prefix = match setting("prefix", args, cwd, home) {
        Some(p) => config_path(&p, cwd, home),
        None => match std::env::var_os("PREFIX").filter(|p| !p.is_empty()) {
            Some(p) => cwd.join(p),
            None => {
                let path = std::env::var_os("PATH")?;
                let node = std::env::split_paths(&path)
                    .map(|d| d.join("node"))
                    .find(|n| n.is_file())?;
                let node = node.canonicalize().unwrap_or(node);
                let p = node.parent()?.parent()?.to_path_buf();
                match std::env::var_os("DESTDIR").filter(|d| !d.is_empty()) {
                    Some(d) => PathBuf::from(d).join(p.strip_prefix("/").unwrap_or(&p)),
                    None => p,
                }
            }
        },
    };
    Some(prefix.join("lib"))
}

/// `npx`'s install directories (`<cache>/_npx/<hash>`, canonical) and when
/// npm last installed into each (its hidden lockfile's time).
pub fn npx_state(
    npx_cache: &Path,
) -> std::collections::BTreeMap<PathBuf, Option<std::time::SystemTime>> {
    let Ok(dirs) = std::fs::read_dir(npx_cache) else {
        return Default::default();
    };
    dirs.flatten()
        .filter_map(|d| d.path().canonicalize().ok())
        .map(|d| {
            let t = installed_at(&d);
            (d, t)
        })
        .collect()
}

pub(crate) fn installed_at(dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(dir.join("node_modules/.package-lock.json"))
        .and_then(|m| m.modified())
        .ok()
}

#[cfg(test)]
mod tests {

    #[test]
    fn npms_default_cache_per_platform() {
        use std::path::{Path, PathBuf};
        let home = Some(Path::new("/h"));
        let lad = || Some(PathBuf::from("C:/L"));
        assert_eq!(
            super::default_cache(false, lad(), home),
            Some(PathBuf::from("/h/.npm"))
        );
        assert_eq!(
            super::default_cache(true, lad(), home),
            Some(PathBuf::from("C:/L/npm-cache"))
        );
        assert_eq!(
            super::default_cache(true, None, home),
            Some(PathBuf::from("/h/npm-cache"))
        );
        assert_eq!(
            super::default_cache(true, Some(PathBuf::new()), home),
            Some(PathBuf::from("/h/npm-cache"))
        );
        assert_eq!(super::default_cache(false, lad(), None), None);
    }

    #[test]
    fn tarball_urls_name_the_package() {
        let t = |u: &str| tarball_identity(u).map(|(n, v)| format!("{n}@{v}"));
        assert_eq!(
            t("http://127.0.0.1:1/r/a/-/a-1.0.0.tgz").as_deref(),
            Some("a@1.0.0")
        );
        assert_eq!(
            t("http://h/@s/a/-/a-1.2.3-rc.1.tgz").as_deref(),
            Some("@s/a@1.2.3-rc.1")
        );
        assert_eq!(
            t("http://h/@s%2fa/-/a-2.0.0.tgz?x=1").as_deref(),
            Some("@s/a@2.0.0")
        );
        // Not a registry tarball, or a file that is not the package's.
        assert_eq!(t("git+ssh://git@example.com/a.git#abc"), None);
        assert_eq!(t("file:../a"), None);
        assert_eq!(t("http://h/a/-/b-1.0.0.tgz"), None);
        assert_eq!(t("http://h/a/-/a-.tgz"), None);
    }

    #[test]
    fn a_directory_is_who_npm_installed_there() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let write = |rel: &str, name: &str| {
            std::fs::create_dir_all(root.join(rel)).unwrap();
            std::fs::write(
                root.join(rel).join("package.json"),
                format!(r#"{{"name":"{name}","version":"9.9.9"}}"#),
            )
            .unwrap();
        };
        write(".", "app");
        write("node_modules/evil", "esbuild");
        write("node_modules/@s/x/node_modules/y", "y");
        write("packages/ws", "ws-own");
        let id = |rel: &str, resolved: Option<&str>| identity(root, &root.join(rel), resolved);
        let r = id(".", None);
        assert_eq!(
            (r.name.as_str(), r.rel.as_str(), r.root),
            ("app", ".", true)
        );
        // The manifest's claim is not the identity; the path (or the
        // resolved tarball) is.
        let e = id("node_modules/evil", None);
        assert_eq!((e.name.as_str(), e.version.as_str()), ("evil", "9.9.9"));
        let e = id("node_modules/evil", Some("http://h/evil/-/evil-1.0.0.tgz"));
        assert_eq!((e.name.as_str(), e.version.as_str()), ("evil", "1.0.0"));
        // An alias is what it resolved to.
        let a = id(
            "node_modules/evil",
            Some("http://h/other/-/other-2.0.0.tgz"),
        );
        assert_eq!(a.name, "other");
        let n = id("node_modules/@s/x/node_modules/y", None);
        assert_eq!(
            (n.name.as_str(), n.rel.as_str()),
            ("y", "node_modules/@s/x/node_modules/y")
        );
        let s = id("node_modules/@s/x", None);
        assert_eq!(s.name, "@s/x");
        // A workspace is the project's own code.
        let w = id("packages/ws", None);
        assert_eq!((w.name.as_str(), w.root), ("ws-own", false));
        // Local: outside node_modules, or installed from a `file:` source;
        // only `npm:NAME@local` approves it.
        assert!(r.local && w.local);
        assert!(!e.local && !a.local && !n.local && !s.local);
        let f = id("node_modules/evil", Some("file:vendor/evil-1.0.0.tgz"));
        assert!(f.local && f.name == "evil", "{f:?}");
        assert!(!id("node_modules/evil", Some("git+ssh://git@h/e.git#abc")).local);
    }
    use super::*;

    #[test]
    fn an_npm_setting_comes_from_the_flag_then_the_npmrc_files() {
        let d = tempfile::tempdir().unwrap();
        let (proj, home) = (d.path().join("p"), d.path().join("h"));
        std::fs::create_dir_all(&proj).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(proj.join("package.json"), "{}").unwrap();
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let key = "pkgward-test-key";
        assert_eq!(setting(key, &[], &proj, Some(&home)), None);
        std::fs::write(home.join(".npmrc"), format!("{key}=user\n")).unwrap();
        assert_eq!(
            setting(key, &[], &proj, Some(&home)).as_deref(),
            Some("user")
        );
        std::fs::write(proj.join(".npmrc"), format!("{key} = \"project\"\n")).unwrap();
        assert_eq!(
            setting(key, &[], &proj, Some(&home)).as_deref(),
            Some("project")
        );
        let flag = format!("--{key}=flag");
        let a = args(&[flag.as_str(), "x", "--", "--pkgward-test-key=after"]);
        assert_eq!(
            setting(key, &a, &proj, Some(&home)).as_deref(),
            Some("flag")
        );
        let a = args(&["--pkgward-test-key", "two"]);
        assert_eq!(setting(key, &a, &proj, Some(&home)).as_deref(), Some("two"));
        // The user's file named by `--userconfig`.
        std::fs::remove_file(proj.join(".npmrc")).unwrap();
        std::fs::write(d.path().join("rc"), format!("{key}=named\n")).unwrap();
        let a = args(&["--userconfig", d.path().join("rc").to_str().unwrap()]);
        assert_eq!(
            setting(key, &a, &proj, Some(&home)).as_deref(),
            Some("named")
        );
        assert_eq!(
            npx_cache(&args(&["--cache=~/c"]), &proj, Some(&home)),
            Some(home.join("c/_npx"))
        );
        assert_eq!(
            global_lib(&args(&["--prefix", "g"]), &proj, Some(&home)),
            Some(proj.join("g/lib"))
        );
    }

    fn pkg(dir: &Path, json: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("package.json"), json).unwrap();
    }

    #[test]
    fn finds_nested_scoped_and_gyp_in_dependency_order() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        pkg(
            r,
            r#"{"name":"app","version":"1.0.0","scripts":{"postinstall":"node setup.js","test":"x"}}"#,
        );
        pkg(
            &r.join("node_modules/a"),
            r#"{"name":"a","version":"1.0.0","dependencies":{"b":"*"},"scripts":{"postinstall":"echo a"}}"#,
        );
        pkg(
            &r.join("node_modules/b"),
            r#"{"name":"b","version":"1.0.0","dependencies":{"@s/c":"*"},"scripts":{"install":"echo b"}}"#,
        );
        pkg(
            &r.join("node_modules/@s/c"),
            r#"{"name":"@s/c","version":"2.0.0"}"#,
        );
        std::fs::write(r.join("node_modules/@s/c/binding.gyp"), "{}").unwrap();
        pkg(
            &r.join("node_modules/a/node_modules/b"),
            r#"{"name":"b","version":"0.5.0","scripts":{"preinstall":"echo old b"}}"#,
        );
        pkg(
            &r.join("node_modules/plain"),
            r#"{"name":"plain","version":"1.0.0"}"#,
        );
        let found = find(r, true);
        let rels: Vec<&str> = found.iter().map(|p| p.rel.as_str()).collect();
        // a resolves b to its own nested copy; the top-level b needs @s/c first.
        let pos = |r: &str| rels.iter().position(|x| *x == r).unwrap();
        assert!(pos("node_modules/a/node_modules/b") < pos("node_modules/a"));
        assert!(pos("node_modules/@s/c") < pos("node_modules/b"));
        assert_eq!(*rels.last().unwrap(), ".");
        assert!(!rels.contains(&"node_modules/plain"));
        let c = &found[pos("node_modules/@s/c")];
        assert_eq!(
            c.scripts,
            vec![("install".into(), "node-gyp rebuild".into())]
        );
        let root = found.last().unwrap();
        assert!(root.root);
        assert_eq!(
            root.scripts,
            vec![("postinstall".into(), "node setup.js".into())]
        );
    }

    #[test]
    fn batches_keep_dependencies_first_and_group_the_rest() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let s = r#""scripts":{"postinstall":"x"}"#;
        pkg(
            &r.join("node_modules/a"),
            &format!(r#"{{"name":"a","version":"1.0.0","dependencies":{{"m":"*"}},{s}}}"#),
        );
        // a needs c through m (which has no script).
        pkg(
            &r.join("node_modules/m"),
            r#"{"name":"m","version":"1.0.0","dependencies":{"c":"*"}}"#,
        );
        pkg(
            &r.join("node_modules/b"),
            &format!(r#"{{"name":"b","version":"1.0.0",{s}}}"#),
        );
        pkg(
            &r.join("node_modules/c"),
            &format!(r#"{{"name":"c","version":"1.0.0",{s}}}"#),
        );
        let found = find(r, false);
        let all: Vec<&Package> = found.iter().collect();
        let names = |b: &Vec<&Package>| b.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        let mut got: Vec<Vec<String>> = batches(&all).iter().map(names).collect();
        got[0].sort();
        assert_eq!(
            got,
            vec![vec!["b".to_string(), "c".into()], vec!["a".into()]]
        );
        // Without c in the run, a and b go together.
        let some: Vec<&Package> = found.iter().filter(|p| p.name != "c").collect();
        assert_eq!(batches(&some).len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn does_not_follow_symlinks_out_of_the_project() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        pkg(
            &outside,
            r#"{"name":"x","version":"1.0.0","scripts":{"install":"echo x"}}"#,
        );
        let r = t.path().join("proj");
        std::fs::create_dir_all(r.join("node_modules")).unwrap();
        std::os::unix::fs::symlink(&outside, r.join("node_modules/x")).unwrap();
        std::os::unix::fs::symlink(t.path(), r.join("node_modules/@loop")).unwrap();
        assert!(find(&r, true).is_empty());
    }

    #[test]
    fn bad_manifests_are_skipped() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        pkg(&r.join("node_modules/a"), "{not json");
        pkg(
            &r.join("node_modules/b"),
            r#"{"name":"b","scripts":{"install":3}}"#,
        );
        assert!(find(r, true).is_empty());
    }
}
