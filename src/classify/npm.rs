//! npm, npx, yarn, pnpm, pnpx, bun, bunx.

use std::path::{Path, PathBuf};

use super::npmrc;
use super::source::{Origin, Source, SourceKind};
use super::{first_positional, Plan, Request, Verb};

/// npm's commands (by npm's own name, [`super::npm_argv::deref`]) that
/// install: `install` and its kin, and the ones that install into the project
/// all the same, running install scripts as an install does: `prune`
/// reifies the project's tree (adding what it lacks), `edit` rebuilds the
/// package it opened.
const NPM_INSTALLING: &[&str] = &[
    "install",
    "ci",
    "update",
    "rebuild",
    "install-test",
    "install-ci-test",
    "uninstall",
    "dedupe",
    "link",
    "prune",
    "edit",
];

/// `npm audit fix` reifies the project's tree like `prune`.
fn reifies(command: &str, args: &[String]) -> bool {
    command == "audit"
        && super::npm_argv::parse(args)
            .positionals
            .get(1)
            .is_some_and(|w| w == "fix")
}

/// npm commands that fetch the packages their arguments name (a git
/// repository, a tarball URL, a registry package) and, to make a tarball
/// of a git dependency, install its dependencies and run its `prepare`:
/// their specs are sources like an install's, and their scripts are
/// decided like an install's.
pub(crate) const NPM_FETCH: &[&str] = &["pack", "cache", "diff", "publish"];

/// npm commands that only read the manifest of the packages they name
/// (from a git repository too): their specs are sources.
const NPM_MANIFEST: &[&str] = &["view", "repo", "docs", "bugs"];

pub(super) fn verb(tool: &str, args: &[String]) -> Verb {
    let first = first_positional(args);
    match tool {
        "npx" | "pnpx" | "bunx" => Verb::Execute,
        // The command as npm finds it (past the values of its options, its
        // aliases and abbreviations resolved).
        "npm" => match super::npm_argv::command(args) {
            Some(c) if NPM_INSTALLING.contains(&c) || reifies(c, args) => Verb::Install,
            Some("exec") => Verb::Execute,
            Some("publish") => Verb::Publish,
            _ => Verb::Other,
        },
        // `yarn` alone installs.
        "yarn" => match first {
            None | Some("install" | "add" | "upgrade" | "up" | "remove" | "import") => {
                Verb::Install
            }
            Some("dlx") => Verb::Execute,
            Some("publish" | "npm") => Verb::Publish,
            _ => Verb::Other,
        },
        "pnpm" => match first {
            Some(
                "install" | "i" | "add" | "update" | "up" | "upgrade" | "remove" | "rm"
                | "uninstall" | "un" | "rebuild" | "rb" | "import" | "fetch" | "install-test"
                | "it" | "dedupe",
            ) => Verb::Install,
            Some("dlx" | "exec" | "create") => Verb::Execute,
            Some("publish") => Verb::Publish,
            _ => Verb::Other,
        },
        "bun" => match first {
            Some("install" | "i" | "add" | "a" | "update" | "remove" | "rm" | "link") => {
                Verb::Install
            }
            Some("x") => Verb::Execute,
            Some("publish") => Verb::Publish,
            _ => Verb::Other,
        },
        _ => Verb::Other,
    }
}

/// npm config keys that take a value (so the next argument is not a spec).
const VALUE_FLAGS: &[&str] = &[
    "registry",
    "userconfig",
    "globalconfig",
    "prefix",
    "cache",
    "tag",
    "omit",
    "include",
    "workspace",
    "w",
    "loglevel",
    "cafile",
    "ca",
    "cert",
    "key",
    "otp",
    "scope",
    "access",
    "before",
    "proxy",
    "https-proxy",
    "noproxy",
    "install-strategy",
    "script-shell",
    "save-prefix",
    "location",
    "node-gyp",
    "package",
    "p",
    "call",
    "c",
    "userconfig",
    "auth-type",
    "fetch-retries",
    "fetch-timeout",
    "replace-registry-host",
];

/// npm accepts any unambiguous abbreviation of a long option (`--reg` is
/// `--registry`). `min` is the shortest unambiguous prefix among npm's keys.
fn abbrev_of(name: &str, full: &str, min: usize) -> bool {
    name.len() >= min && full.starts_with(name)
}

/// The config settings npm takes from one place, in npm's key spelling.
#[derive(Default)]
struct Layer {
    /// The registry; more than one only when the environment sets it under
    /// several spellings (`npm_config_registry` and `NPM_CONFIG_REGISTRY`),
    /// where which one npm takes depends on the environment's order.
    registry: Vec<(String, Origin)>,
    scopes: Vec<(String, String, Origin)>,
    userconfig: Vec<String>,
    globalconfig: Vec<String>,
    prefix: Vec<String>,
    /// `git`: the program npm runs for git dependencies.
    git: Vec<(String, Origin)>,
    /// `node-gyp`: the program npm's `node-gyp` runs (the build of every
    /// native package, its implicit `node-gyp rebuild` included).
    node_gyp: Vec<(String, Origin)>,
}

/// Whether a new value replaces an earlier one of the same layer: a later
/// line of a file or a later flag does; two spellings of an environment
/// variable are both kept (conservatively, both are checked).
fn replaces(old: &Origin, new: &Origin) -> bool {
    match (old, new) {
        (Origin::Env { var: a }, Origin::Env { var: b }) => a == b,
        _ => true,
    }
}

fn put<T>(list: &mut Vec<(T, Origin)>, value: T, origin: Origin) {
    if list.last().is_some_and(|(_, o)| replaces(o, &origin)) {
        list.clear();
    }
    list.push((value, origin));
}

impl Layer {
    fn set(&mut self, key: &str, value: String, origin: Origin) {
        let key = key.to_ascii_lowercase();
        let plain = |list: &mut Vec<String>, value: String, origin: &Origin| {
            if !matches!(origin, Origin::Env { .. }) {
                list.clear();
            }
            list.push(value);
        };
        if key == "registry" {
            put(&mut self.registry, value, origin);
        } else if key.starts_with('@') && key.ends_with(":registry") {
            let scope = key.trim_end_matches(":registry").to_string();
            self.scopes
                .retain(|(s, _, o)| *s != scope || !replaces(o, &origin));
            self.scopes.push((scope, value, origin));
        } else if key == "userconfig" {
            plain(&mut self.userconfig, value, &origin);
        } else if key == "globalconfig" {
            plain(&mut self.globalconfig, value, &origin);
        } else if key == "prefix" {
            plain(&mut self.prefix, value, &origin);
        } else if key == "git" {
            put(&mut self.git, value, origin);
        } else if key == "node-gyp" || key == "node_gyp" {
            put(&mut self.node_gyp, value, origin);
        }
    }
}

/// Where npm's own files are, from the real tool's resolved path
/// (`…/lib/node_modules/npm/bin/npm-cli.js` on Unix).
pub(super) struct Install {
    /// npm's package directory (holds npm's builtin `npmrc`).
    dir: Option<PathBuf>,
    /// The global prefix (`/usr`, `/usr/local`, `%AppData%\npm`).
    prefix: Option<PathBuf>,
}

fn install(real_tool: Option<&Path>) -> Install {
    let dir = real_tool.and_then(|p| {
        p.ancestors()
            .find(|a| {
                a.file_name().is_some_and(|n| n == "npm")
                    && a.parent().is_some_and(|p| p.ends_with("node_modules"))
            })
            .map(Path::to_path_buf)
    });
    let prefix = dir.as_ref().and_then(|d| {
        let nm = d.parent()?;
        let up = nm.parent()?;
        if cfg!(windows) {
            Some(up.to_path_buf())
        } else {
            // <prefix>/lib/node_modules/npm
            up.parent().map(Path::to_path_buf)
        }
    });
    Install { dir, prefix }
}

fn flag_layer(args: &[String]) -> Layer {
    let mut layer = Layer::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            break;
        }
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            continue;
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let lname = name.to_ascii_lowercase();
        let key = if lname.starts_with('@') && lname.ends_with(":registry") {
            lname.clone()
        } else if abbrev_of(&lname, "registry", 3) {
            "registry".into()
        } else if abbrev_of(&lname, "userconfig", 5) {
            "userconfig".into()
        } else if abbrev_of(&lname, "globalconfig", 7) {
            "globalconfig".into()
        } else if lname == "prefix" || lname == "prefi" {
            "prefix".into()
        } else if lname == "git" {
            "git".into()
        } else if abbrev_of(&lname, "node-gyp", 6) {
            "node-gyp".into()
        } else {
            continue;
        };
        let value = match inline {
            Some(v) => v,
            None => match args.get(i) {
                Some(v) if !v.starts_with('-') => {
                    i += 1;
                    v.clone()
                }
                _ => continue,
            },
        };
        layer.set(&key, value, Origin::flag(format!("--{name}")));
    }
    layer
}

fn env_layer(req: &Request<'_>) -> Layer {
    let mut layer = Layer::default();
    let mut vars = req.env.vars();
    vars.sort();
    for (k, v) in vars {
        let lk = k.to_ascii_lowercase();
        let Some(rest) = lk.strip_prefix("npm_config_") else {
            continue;
        };
        // npm: underscores after the first character become dashes.
        let key: String = rest
            .char_indices()
            .map(|(i, c)| if c == '_' && i > 0 { '-' } else { c })
            .collect();
        layer.set(&key, v, Origin::env(k));
    }
    layer
}

/// Several candidate files of one level, read as one layer (all values kept).
fn merged(layers: impl Iterator<Item = Layer>) -> Layer {
    let mut out = Layer::default();
    for l in layers {
        out.registry.extend(l.registry);
        out.scopes.extend(l.scopes);
        out.git.extend(l.git);
        out.node_gyp.extend(l.node_gyp);
    }
    out
}

fn file_layer(req: &Request<'_>, path: &Path) -> Layer {
    let mut layer = Layer::default();
    if let Some(text) = req.files.read(path) {
        for e in npmrc::parse(&text, req.env) {
            layer.set(&e.key, e.value, Origin::file(path, e.line));
        }
    }
    layer
}

/// npm's "local prefix": the nearest directory holding package.json or
/// node_modules, else the working directory.
fn local_prefix(req: &Request<'_>) -> PathBuf {
    req.cwd
        .ancestors()
        .find(|d| {
            req.files.exists(&d.join("package.json")) || req.files.exists(&d.join("node_modules"))
        })
        .unwrap_or(req.cwd)
        .to_path_buf()
}

fn expand_home(p: &str, home: Option<&Path>) -> PathBuf {
    match (p.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => PathBuf::from(p),
    }
}

/// Every registry source an npm/npx invocation can use, with origins:
/// the effective registry and scope registries (flags > env > project
/// `.npmrc` > user > global > npm's builtin npmrc > default), direct specs on
/// the command line, and the lockfile's resolved URLs for installs.
pub(super) fn sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let flags = flag_layer(req.args);
    let env = env_layer(req);
    let prefix_dir = local_prefix(req);
    let project = file_layer(req, &prefix_dir.join(".npmrc"));
    // Where a setting is ambiguous (two spellings of a variable), every
    // candidate file is read and every candidate value checked.
    let pick = |a: &Vec<String>, b: &Vec<String>| -> Vec<String> {
        if a.is_empty() {
            b.clone()
        } else {
            a.clone()
        }
    };
    let mut userconfigs: Vec<PathBuf> = pick(&flags.userconfig, &env.userconfig)
        .iter()
        .map(|p| expand_home(p, req.home))
        .collect();
    if userconfigs.is_empty() {
        userconfigs.extend(req.home.map(|h| h.join(".npmrc")));
    }
    let user = merged(userconfigs.iter().map(|p| file_layer(req, p)));
    let inst = install(req.real_tool);
    let mut prefixes: Vec<PathBuf> = pick(&flags.prefix, &env.prefix)
        .into_iter()
        .map(PathBuf::from)
        .collect();
    if prefixes.is_empty() {
        prefixes.extend(inst.prefix.clone());
    }
    let mut globalconfigs: Vec<PathBuf> = pick(&flags.globalconfig, &env.globalconfig)
        .into_iter()
        .map(PathBuf::from)
        .collect();
    if globalconfigs.is_empty() {
        globalconfigs.extend(prefixes.iter().map(|p| p.join("etc").join("npmrc")));
    }
    let global = merged(globalconfigs.iter().map(|p| file_layer(req, p)));
    // npm's own node-gyp (npm hands its path to every script it runs as
    // `npm_config_node_gyp`, so a nested npm sees it).
    let own_gyp = inst
        .dir
        .as_ref()
        .map(|d| d.join("node_modules/node-gyp/bin/node-gyp.js"));
    let builtin = inst
        .dir
        .map(|d| file_layer(req, &d.join("npmrc")))
        .unwrap_or_default();
    let layers = [&flags, &env, &project, &user, &global, &builtin];

    let mut out = Vec::new();
    // Every layer but the command line is overridden by an npm_config_* variable.
    let from_flag = |o: &Origin| matches!(o, Origin::Flag { .. });
    match layers.iter().find(|l| !l.registry.is_empty()) {
        Some(layer) => {
            for (value, origin) in &layer.registry {
                let s = Source::new(
                    SourceKind::Registry,
                    value.clone(),
                    origin.clone(),
                    "registry",
                );
                out.push(if from_flag(origin) {
                    s
                } else {
                    s.overridable()
                });
            }
        }
        None => out.push(
            Source::new(SourceKind::Registry, "builtin", Origin::Builtin, "registry").overridable(),
        ),
    }
    // `git = PROGRAM` (a repository's `.npmrc`, say) has npm run that
    // program for every git dependency, outside any install-script
    // decision: another program than `git` itself is a tool override.
    if let Some(layer) = layers.iter().find(|l| !l.git.is_empty()) {
        for (value, origin) in &layer.git {
            if value != "git" {
                out.push(Source::new(
                    SourceKind::Executable,
                    value.clone(),
                    origin.clone(),
                    "git",
                ));
            }
        }
    }
    // `node-gyp = PROGRAM` has every native build (of an approved package
    // too) run that program instead of npm's node-gyp.
    if let Some(layer) = layers.iter().find(|l| !l.node_gyp.is_empty()) {
        for (value, origin) in &layer.node_gyp {
            if own_gyp.as_deref() == Some(Path::new(value)) {
                continue;
            }
            out.push(Source::new(
                SourceKind::Executable,
                value.clone(),
                origin.clone(),
                "node-gyp",
            ));
        }
    }
    // Per scope: every value the most specific layer naming it holds.
    let mut seen_scopes: Vec<String> = Vec::new();
    for layer in layers {
        let mut here: Vec<String> = Vec::new();
        for (scope, value, origin) in &layer.scopes {
            if seen_scopes.contains(scope) {
                continue;
            }
            here.push(scope.clone());
            let s = Source::new(
                SourceKind::ScopeRegistry,
                value.clone(),
                origin.clone(),
                format!("{scope}:registry"),
            );
            out.push(if from_flag(origin) {
                s
            } else {
                s.overridable()
            });
        }
        seen_scopes.extend(here);
    }
    let fetches = req.tool.name == "npm"
        && super::npm_argv::command(req.args)
            .is_some_and(|c| NPM_FETCH.contains(&c) || NPM_MANIFEST.contains(&c));
    if matches!(verb, Verb::Install | Verb::Execute) || fetches {
        out.extend(spec_sources(req));
    }
    if verb == Verb::Install {
        // npm installs for the whole project (the workspace root when run
        // in a workspace; `--prefix`'s directory): its lockfile and the
        // dependencies of its manifests, which the lockfile may not hold
        // yet (a git one is cloned and `prepare`d before any script is
        // decided).
        let at = super::npm_argv::parse(req.args)
            .options
            .iter()
            .rev()
            .find(|(k, _)| k == "prefix")
            .map(|(_, v)| req.cwd.join(v))
            .unwrap_or_else(|| prefix_dir.clone());
        let root = super::workspaces::project_root(req, &at);
        out.extend(lockfile_sources(req, &root));
        if root != prefix_dir {
            out.extend(lockfile_sources(req, &prefix_dir));
        }
        out.extend(super::workspaces::manifest_sources(req, &root, false));
    }
    out
}

/// Positional specs of an install/exec command that name something other
/// than a registry package.
fn spec_sources(req: &Request<'_>) -> Vec<Source> {
    if req.tool.name == "npm" {
        return npm_spec_sources(req.args);
    }
    let mut out = Vec::new();
    let args = req.args;
    let mut i = 0;
    let mut seen_command = req.tool.name != "npm";
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            // npx/exec: what follows is the command to run, not specs.
            break;
        }
        if let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let is_package = name == "package" || name == "p";
            if VALUE_FLAGS.contains(&name) && inline.is_none() {
                // The value is the next argument.
                if is_package {
                    if let Some(v) = args.get(i) {
                        out.extend(classify_spec(v, Origin::flag(format!("--{name}"))));
                    }
                }
                i += 1;
            } else if is_package {
                if let Some(v) = inline {
                    out.extend(classify_spec(v, Origin::flag(format!("--{name}"))));
                }
            }
            continue;
        }
        if !seen_command {
            // npm's command word itself.
            seen_command = true;
            continue;
        }
        out.extend(classify_spec(arg, Origin::arg(arg.as_str())));
        if matches!(req.tool.name, "npx" | "pnpx" | "bunx")
            || first_positional(args) == Some("exec")
        {
            // npx PKG ARGS…: only the first positional is a package.
            break;
        }
    }
    out
}

/// npm's specs as npm reads its command line ([`super::npm_argv`]): the
/// words after the command (for `exec`, the first one: the rest is the
/// command it runs) and the values of `--package` and `--diff`.
fn npm_spec_sources(args: &[String]) -> Vec<Source> {
    let argv = super::npm_argv::parse(args);
    let exec = argv
        .positionals
        .first()
        .and_then(|c| super::npm_argv::deref(c))
        == Some("exec");
    // `npm exec [--] CMD ARGS…`: only a package before a `--` is one.
    let words = argv
        .positionals
        .iter()
        .take(if exec {
            argv.before_dashdash.min(2)
        } else {
            usize::MAX
        })
        .skip(1);
    let mut out: Vec<Source> = words
        .filter_map(|w| classify_spec(w, Origin::arg(w.as_str())))
        .collect();
    for (key, value) in &argv.options {
        if key == "package" || key == "diff" {
            out.extend(classify_spec(value, Origin::flag(format!("--{key}"))));
        }
    }
    out
}

/// Classifies one npm package spec (`name@range`, a URL, git, a path).
pub(crate) fn classify_spec(spec: &str, origin: Origin) -> Option<Source> {
    // `alias@npm:real@1` and plain `name@range` are registry packages. For
    // `name@<something>` look at what follows the name.
    let target = match spec.strip_prefix('@') {
        Some(rest) => rest.split_once('@').map(|(_, t)| t).unwrap_or(""),
        None => spec.split_once('@').map(|(_, t)| t).unwrap_or(spec),
    };
    let target = if target.is_empty() { spec } else { target };
    let lower = target.to_ascii_lowercase();
    let kind = if lower.starts_with("http://") || lower.starts_with("https://") {
        SourceKind::Direct
    } else if lower.starts_with("git+")
        || lower.starts_with("git://")
        || lower.starts_with("git@")
        || lower.starts_with("ssh://")
        || ["github:", "gitlab:", "bitbucket:", "gist:"]
            .iter()
            .any(|p| lower.starts_with(p))
    {
        SourceKind::Git
    } else if lower.starts_with("file:")
        || lower.starts_with('.')
        || lower.starts_with('/')
        || lower.starts_with('~')
        || lower.starts_with('\\')
        || (lower.len() > 2
            && lower.as_bytes()[1] == b':'
            && lower.as_bytes()[0].is_ascii_alphabetic())
        || lower.ends_with(".tgz")
        || lower.ends_with(".tar.gz")
    {
        SourceKind::Path
    } else if target == spec && github_shorthand(spec) {
        SourceKind::Git
    } else {
        return None;
    };
    let name = if target == spec {
        String::new()
    } else {
        spec[..spec.len() - target.len() - 1].to_string()
    };
    Some(Source::new(kind, target, origin, name))
}

/// Whether a spec (or a manifest's dependency value) is GitHub's
/// `user/repo` shorthand (`#ref` allowed).
pub(super) fn github_shorthand(spec: &str) -> bool {
    !spec.starts_with('@')
        && spec.split('/').count() == 2
        && !spec.contains(':')
        && spec.split('/').all(|p| !p.is_empty())
}

/// The first line on which each `"resolved": "…"` value appears.
fn resolved_lines(text: &str) -> std::collections::HashMap<&str, usize> {
    let mut map = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let Some(pos) = line.find("\"resolved\"") else {
            continue;
        };
        let rest = &line[pos + 10..];
        let Some(start) = rest.find('"') else {
            continue;
        };
        let value = &rest[start + 1..];
        if let Some(end) = value.find('"') {
            map.entry(&value[..end]).or_insert(i + 1);
        }
    }
    map
}

#[derive(serde::Deserialize)]
struct Fast<'a> {
    #[serde(borrow)]
    packages: Option<std::collections::BTreeMap<std::borrow::Cow<'a, str>, FastEntry<'a>>>,
}

#[derive(serde::Deserialize)]
struct FastEntry<'a> {
    #[serde(borrow)]
    resolved: Option<std::borrow::Cow<'a, str>>,
    link: Option<bool>,
}

/// The `resolved` URLs of package-lock.json / npm-shrinkwrap.json.
fn lockfile_sources(req: &Request<'_>, dir: &Path) -> Vec<Source> {
    for name in ["npm-shrinkwrap.json", "package-lock.json"] {
        let path = dir.join(name);
        let Some(text) = req.files.read(&path) else {
            continue;
        };
        let mut out = Vec::new();
        let lines = resolved_lines(&text);
        let mut push = |key: &str, resolved: &str| {
            let line = lines.get(resolved).copied().unwrap_or(0);
            let web = resolved.get(..8).is_some_and(|p| {
                p.eq_ignore_ascii_case("https://") || p[..7].eq_ignore_ascii_case("http://")
            });
            let kind = if web {
                // What `classify_spec` says of any http(s) URL, without its cost.
                SourceKind::Locked
            } else {
                match classify_spec(&format!("x@{resolved}"), Origin::Builtin) {
                    Some(s) if s.kind == SourceKind::Path => SourceKind::Path,
                    Some(s) if s.kind == SourceKind::Git => SourceKind::Git,
                    _ => SourceKind::Locked,
                }
            };
            let s = Source::new(kind, resolved, Origin::file(&path, line), key);
            // `replace-registry-host=always` makes npm fetch locked tarballs
            // from the configured registry instead.
            out.push(if kind == SourceKind::Locked {
                s.overridable()
            } else {
                s
            });
        };
        // The usual v2/v3 lockfile, read without building a JSON tree; any
        // surprise (a field of another type, no `packages`) takes the
        // general path below.
        if let Ok(Fast {
            packages: Some(pkgs),
        }) = serde_json::from_str::<Fast<'_>>(&text)
        {
            for (key, entry) in &pkgs {
                if entry.link == Some(true) {
                    continue;
                }
                if let Some(r) = &entry.resolved {
                    push(key, r);
                }
            }
            return out;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            return out;
        };
        if let Some(pkgs) = v.get("packages").and_then(|p| p.as_object()) {
            for (key, entry) in pkgs {
                if entry.get("link").and_then(|l| l.as_bool()) == Some(true) {
                    continue;
                }
                if let Some(r) = entry.get("resolved").and_then(|r| r.as_str()) {
                    push(key, r);
                }
            }
        } else if let Some(deps) = v.get("dependencies") {
            // lockfileVersion 1: nested `dependencies`.
            let mut stack = vec![deps];
            while let Some(d) = stack.pop() {
                let Some(map) = d.as_object() else { continue };
                for (name, entry) in map {
                    if let Some(r) = entry.get("resolved").and_then(|r| r.as_str()) {
                        push(name, r);
                    }
                    if let Some(sub) = entry.get("dependencies") {
                        stack.push(sub);
                    }
                }
            }
        }
        return out;
    }
    Vec::new()
}

/// `[mirrors] npm`: `npm_config_registry` (which beats every `.npmrc`),
/// `npm_config_@scope:registry` for unapproved scopes from config, and
/// `replace-registry-host=always` so lockfile tarball hosts follow the mirror.
/// Command-line flags and specs are not overridden (they stay checked).
pub(super) fn force(
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut overridden = Vec::new();
    let mut remaining = Vec::new();
    env.push(("npm_config_registry".into(), mirror.into()));
    let mut replace_hosts = false;
    for s in sources {
        let take = s.overridable
            && match s.kind {
                SourceKind::Registry => true,
                SourceKind::ScopeRegistry => !approved(s),
                SourceKind::Locked => !approved(s),
                _ => false,
            };
        if !take {
            remaining.push(s.clone());
            continue;
        }
        match s.kind {
            SourceKind::ScopeRegistry => {
                env.push((format!("npm_config_{}", s.subject), mirror.into()))
            }
            SourceKind::Locked => replace_hosts = true,
            _ => {}
        }
        overridden.push(s.clone());
    }
    if replace_hosts {
        env.push(("npm_config_replace_registry_host".into(), "always".into()));
    }
    Some(Plan {
        env,
        overridden,
        remaining,
        ..Plan::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &[&str], Verb)] = &[
            ("npm", &["install"], Verb::Install),
            ("npm", &["i", "left-pad"], Verb::Install),
            ("npm", &["isntall"], Verb::Install),
            ("npm", &["--silent", "ci"], Verb::Install),
            ("npm", &["--version"], Verb::Other),
            ("npm", &["run", "build"], Verb::Other),
            ("npm", &["exec", "cowsay"], Verb::Execute),
            ("npm", &["publish"], Verb::Publish),
            ("npx", &["cowsay"], Verb::Execute),
            ("yarn", &[], Verb::Install),
            ("yarn", &["dlx", "x"], Verb::Execute),
            ("pnpm", &["add", "x"], Verb::Install),
            ("pnpm", &["dlx", "x"], Verb::Execute),
            ("bun", &["add", "x"], Verb::Install),
            ("bunx", &["x"], Verb::Execute),
        ];
        for (tool, args, want) in cases {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert_eq!(verb(tool, &args), *want, "{tool} {args:?}");
        }
    }
}
