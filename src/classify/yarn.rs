//! yarn 1 (classic) and yarn 2+ (berry); also the helpers the npm-family
//! adapters (`pnpm`, `bun`) share: a YAML subset reader, `.npmrc` layers,
//! package roots, tool versions, specs, manifests and lockfiles.
//!
//! Which yarn runs is told from the real tool (the version in the
//! `package.json` of the package it belongs to: `yarn` 1.x is classic,
//! `@yarnpkg/cli-dist` is berry) and, when the tool cannot tell (a corepack
//! shim), from the project's `packageManager` field; when neither tells,
//! the sources of both are listed. A classic yarn whose rc files name a
//! `yarnPath` runs that file instead: its sources are those of both.
//!
//! Classic (facts checked against yarn 1.22.22), in the order yarn applies
//! them for the default registry:
//! 1. `--registry` on the command line, then `--registry` / `--<cmd>.registry`
//!    keys of the rc chain (`.yarnrc`/`.yarnrc.yml` from `/` down to the
//!    working directory, `/etc/yarn/config`, `/etc/yarnrc`, the home
//!    `.config/yarn/config`, `.yarn/config`, `.yarnrc`, `.yarnrc.yml`,
//!    `$YARN_CONFIG`, `--use-yarnrc` files; later wins): yarn turns those
//!    keys into command-line flags placed before the user's own.
//! 2. npm config: `npm_config_*` (any case), then `yarn_*`, then `.npmrc`
//!    at the project root (nearest `package.json`), the user config
//!    (`npm_config_userconfig`, else `~/.npmrc`), `$PREFIX/etc/npmrc`, then
//!    every ancestor of the project root; the first file naming a key wins.
//! 3. yarn config: `yarn_*`, `--use-yarnrc` files, `.yarnrc` at the project
//!    root, `yarn_userconfig` else `~/.yarnrc`, `$PREFIX/etc/yarnrc`,
//!    ancestors; then yarn's built-in default.
//!
//! `@scope:registry` keys come from the npm config, then the yarn config,
//! and beat `--registry`. With a `yarn.lock`, classic yarn fetches the
//! lockfile's `resolved` URLs as written, whatever the registry settings.
//! `yarn-path` (or `yarnPath` in a `.yarnrc.yml`) anywhere in the rc chain
//! makes yarn run that file (unless `YARN_IGNORE_PATH`).
//!
//! Berry (checked against 4.18): `YARN_*` variables (any case, snake case
//! of the setting) beat the `.yarnrc.yml` files (`$YARN_RC_FILENAME`) from
//! the working directory up to `/` (the closest wins), then the home
//! `.yarnrc.yml`. `npmRegistryServer`, `npmScopes.<s>.npmRegistryServer`
//! (not settable by the environment), `unsafeHttpWhitelist` (insecure,
//! except loopback hosts: plain http to this machine is not sent over a
//! network), `enableStrictSsl: false` (insecure), `yarnPath` and `plugins`
//! (code that runs as yarn: executable). Berry ignores `.npmrc` and
//! `npm_config_*`. The lockfile names a URL only for packages not fetched
//! from the registry (`__archiveUrl`, tarball and git resolutions).
//!
//! Forcing: classic gets `npm_config_registry` and `YARN_REGISTRY` (the npm
//! config beats the yarn config, the variable beats every file),
//! `npm_config_@s:registry` per scope, and an inserted `--registry` when an
//! rc file sets one as a flag; berry gets `YARN_NPM_REGISTRY_SERVER`;
//! berry scopes, lockfile URLs, flags and specs stay to be checked.

use std::path::{Path, PathBuf};

use super::npmrc;
use super::source::{Origin, Source, SourceKind};
use super::{Plan, Request, Verb};
use crate::lockfiles;

// ---------------------------------------------------------------------------
// Verbs

/// yarn (both) commands that change what is installed.
const INSTALL_WORDS: &[&str] = &[
    "install",
    "add",
    "upgrade",
    "up",
    "remove",
    "import",
    "upgrade-interactive",
    "dedupe",
    // yarn 2+: both run an install, which runs build scripts.
    "rebuild",
    "unplug",
];

pub(super) fn verb(args: &[String]) -> Verb {
    let pos = positionals(args, YARN_VALUE_FLAGS);
    let words: Vec<&str> = pos.iter().map(|(_, w)| *w).collect();
    if words.is_empty()
        && args
            .iter()
            .any(|a| matches!(a.as_str(), "-v" | "--version" | "-h" | "--help"))
    {
        return Verb::Other;
    }
    yarn_verb(&words)
}

fn yarn_verb(words: &[&str]) -> Verb {
    match words.first().copied() {
        None => Verb::Install,
        Some(w) if INSTALL_WORDS.contains(&w) => Verb::Install,
        Some("global") => match words.get(1).copied() {
            Some("add" | "upgrade" | "remove" | "upgrade-interactive") => Verb::Install,
            _ => Verb::Other,
        },
        // `yarn workspace <name> add x`
        Some("workspace") if words.len() > 2 => yarn_verb(&words[2..]),
        Some("workspaces") => match words.get(1).copied() {
            Some("focus") => Verb::Install,
            Some("foreach") if words[2..].iter().any(|w| INSTALL_WORDS.contains(w)) => {
                Verb::Install
            }
            _ => Verb::Other,
        },
        Some("dlx" | "create") => Verb::Execute,
        Some("publish") => Verb::Publish,
        Some("npm") => match words.get(1).copied() {
            Some("publish") => Verb::Publish,
            _ => Verb::Other,
        },
        // Both download code that later runs as yarn.
        Some("set") if words.get(1) == Some(&"version") => Verb::Install,
        Some("policies") if words.get(1) == Some(&"set-version") => Verb::Install,
        Some("plugin") if words.get(1) == Some(&"import") => Verb::Install,
        _ => Verb::Other,
    }
}

/// Options of yarn (both lines) that take a value as the next argument.
const YARN_VALUE_FLAGS: &[&str] = &[
    "--registry",
    "--cwd",
    "--use-yarnrc",
    "--modules-folder",
    "--cache-folder",
    "--global-folder",
    "--link-folder",
    "--preferred-cache-folder",
    "--mutex",
    "--network-concurrency",
    "--network-timeout",
    "--proxy",
    "--https-proxy",
    "--otp",
    "--tag",
    "--access",
    "--new-version",
    "--message",
    "-m",
    "--package",
    "-p",
    "--mode",
    "--pattern",
    "--into",
];

// ---------------------------------------------------------------------------
// Sources

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Line {
    Classic,
    Berry,
    Both,
}

/// yarn's commands (both lines); anything else runs a script.
const YARN_COMMANDS: &[&str] = &[
    "add",
    "audit",
    "autoclean",
    "bin",
    "cache",
    "check",
    "config",
    "constraints",
    "create",
    "dedupe",
    "dlx",
    "exec",
    "explain",
    "generate-lock-entry",
    "global",
    "help",
    "import",
    "info",
    "init",
    "install",
    "licenses",
    "link",
    "list",
    "login",
    "logout",
    "node",
    "npm",
    "outdated",
    "owner",
    "pack",
    "patch",
    "patch-commit",
    "plugin",
    "policies",
    "publish",
    "rebuild",
    "remove",
    "search",
    "set",
    "stage",
    "tag",
    "team",
    "unlink",
    "unplug",
    "up",
    "upgrade",
    "upgrade-interactive",
    "version",
    "versions",
    "why",
    "workspace",
    "workspaces",
];

pub(super) fn sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let own = own_args(
        req.args,
        YARN_VALUE_FLAGS,
        YARN_COMMANDS,
        &["node", "exec", "dlx"],
    );
    let req = &Request {
        tool: req.tool,
        args: own,
        env: req.env,
        files: req.files,
        cwd: req.cwd,
        home: req.home,
        real_tool: req.real_tool,
    };
    let cwd = flag_value(req.args, &["--cwd"])
        .map(|(v, _)| req.cwd.join(v))
        .unwrap_or_else(|| req.cwd.to_path_buf());
    let mut out = Vec::new();
    let mut locked = Vec::new();
    let line = yarn_line(req, &cwd);
    let mut line_for_files = line;
    if matches!(line, Line::Classic | Line::Both) {
        let delegated = classic_sources(req, &cwd, &mut out);
        if delegated && line == Line::Classic {
            // The yarnPath target (most likely berry) reads the project's
            // berry settings.
            berry_sources(req, &cwd, verb, &mut out);
            line_for_files = Line::Both;
        }
    }
    if line != Line::Classic {
        berry_sources(req, &cwd, verb, &mut out);
    }
    out.extend(node_tls(req));
    if matches!(verb, Verb::Install | Verb::Execute) {
        out.extend(yarn_specs(req.args));
    }
    if verb == Verb::Install {
        let mut roots: Vec<PathBuf> = Vec::new();
        if line_for_files != Line::Berry {
            // Yarn 1 run in a workspace installs for the workspace root.
            let pkg = package_root(req, &cwd);
            roots.push(super::workspaces::project_root(req, &pkg));
            if !roots.contains(&pkg) {
                roots.push(pkg);
            }
        }
        if line_for_files != Line::Classic {
            let r = berry_project_root(req, &cwd);
            if !roots.contains(&r) {
                roots.push(r);
            }
        }
        for root in &roots {
            let name = if line_for_files == Line::Classic {
                "yarn.lock".to_string()
            } else {
                berry_lockfile_name(req, &cwd)
            };
            locked.extend(lockfile_sources(
                req,
                &root.join(&name),
                lockfiles::Format::YarnLock,
            ));
            if name != "yarn.lock" && line_for_files == Line::Both {
                locked.extend(lockfile_sources(
                    req,
                    &root.join("yarn.lock"),
                    lockfiles::Format::YarnLock,
                ));
            }
            out.extend(super::workspaces::manifest_sources(req, root, true));
        }
    }
    if verb == Verb::Publish {
        out.extend(publish_config(req, &package_root(req, &cwd)));
    }
    let mut out = dedupe(out);
    out.extend(locked);
    out
}

fn yarn_line(req: &Request<'_>, cwd: &Path) -> Line {
    match tool_major(req, &["yarn", "@yarnpkg/cli-dist", "@yarnpkg/cli"]) {
        Some((name, m)) if name == "yarn" && m < 2 => return Line::Classic,
        Some((_, m)) if m >= 2 => return Line::Berry,
        _ => {}
    }
    match package_manager(req, &package_root(req, cwd)) {
        Some((tool, m)) if tool == "yarn" && m < 2 => Line::Classic,
        Some((tool, _)) if tool == "yarn" => Line::Berry,
        _ => Line::Both,
    }
}

// --- classic ---------------------------------------------------------------

/// One `key value` setting of a classic rc file.
#[derive(Clone, Debug)]
struct RcEntry {
    key: String,
    value: String,
    line: usize,
}

/// Reads a classic `.yarnrc` (yarn's lockfile syntax: `key value`,
/// `key "value"`, `"key" "value"`, `key: value`) at the top level, plus
/// whatever a YAML reading finds (yarn falls back to YAML when its own
/// parser fails).
fn yarnrc_entries(text: &str) -> Vec<RcEntry> {
    let mut out: Vec<RcEntry> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
        if raw.starts_with([' ', '\t']) {
            continue;
        }
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, rest) = match take_token(line) {
            Some(t) => t,
            None => continue,
        };
        let rest = rest.trim_start();
        let rest = rest.strip_prefix(':').unwrap_or(rest).trim();
        if rest.is_empty() {
            continue;
        }
        let value = match take_token(rest) {
            Some((v, _)) if rest.starts_with('"') || rest.starts_with('\'') => v,
            _ => rest.to_string(),
        };
        out.push(RcEntry {
            key,
            value,
            line: i + 1,
        });
    }
    for (key, line, node) in yaml::parse(text).map_entries() {
        if let Some(v) = yaml::scalar(node) {
            if !out.iter().any(|e| e.key == *key && e.value == v) {
                out.push(RcEntry {
                    key: key.clone(),
                    value: v.to_string(),
                    line: *line,
                });
            }
        }
    }
    out
}

/// A leading token: a quoted string (unescaped) or a bare word ending at
/// whitespace or `:`+space. Returns the token and the rest.
fn take_token(s: &str) -> Option<(String, &str)> {
    let q = s.chars().next()?;
    if q == '"' || q == '\'' {
        let (value, used) = yaml::quoted(s)?;
        return Some((value, &s[used..]));
    }
    let end = s
        .char_indices()
        .find(|&(i, c)| {
            c.is_whitespace()
                || (c == ':' && s[i + 1..].chars().next().is_none_or(char::is_whitespace))
        })
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    Some((s[..end].to_string(), &s[end..]))
}

/// The entries of one file of the classic rc chain, as yarn's `loadRcFile`
/// sees them: a `.yml` file with a string `yarnPath` yields only that.
fn rc_file_entries(req: &Request<'_>, path: &Path) -> Vec<RcEntry> {
    let Some(text) = req.files.read(path) else {
        return Vec::new();
    };
    if path.extension().is_some_and(|e| e == "yml") {
        let doc = yaml::parse(&text);
        let mut out = Vec::new();
        for (key, line, node) in doc.map_entries() {
            if let Some(v) = yaml::scalar(node) {
                out.push(RcEntry {
                    key: key.clone(),
                    value: v.to_string(),
                    line: *line,
                });
            }
        }
        if let Some(yp) = out.iter().rev().find(|e| e.key == "yarnPath").cloned() {
            return vec![RcEntry {
                key: "yarn-path".into(),
                ..yp
            }];
        }
        return out;
    }
    yarnrc_entries(&text)
}

/// The files of yarn's rc chain (flags in rc files, `yarn-path`), in the
/// order yarn merges them: later files win.
fn rc_chain(
    req: &Request<'_>,
    cwd: &Path,
    use_yarnrc: &[PathBuf],
    default_rc: bool,
) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if default_rc {
        let dirs: Vec<&Path> = cwd.ancestors().collect();
        for d in dirs.iter().rev() {
            files.push(d.join(".yarnrc"));
            files.push(d.join(".yarnrc.yml"));
        }
        if cfg!(unix) {
            files.push(PathBuf::from("/etc/yarn/config"));
            files.push(PathBuf::from("/etc/yarnrc"));
        }
        if let Some(h) = req.home {
            files.push(h.join(".config/yarn/config"));
            files.push(h.join(".yarn/config"));
            files.push(h.join(".yarnrc"));
            files.push(h.join(".yarnrc.yml"));
        }
        if let Some(p) = req.env.get("YARN_CONFIG").filter(|p| !p.is_empty()) {
            files.push(req.cwd.join(p));
        }
    }
    files.extend(use_yarnrc.iter().cloned());
    files
}

/// A layer of classic config: values per key, with where each came from.
#[derive(Default)]
struct KeyLayer {
    entries: Vec<(String, String, Origin)>,
}

impl KeyLayer {
    fn get(&self, key: &str) -> Vec<(&str, &Origin)> {
        self.entries
            .iter()
            .filter(|(k, _, _)| k == key)
            .map(|(_, v, o)| (v.as_str(), o))
            .collect()
    }
    fn scopes(&self) -> Vec<(String, &str, &Origin)> {
        self.entries
            .iter()
            .filter_map(|(k, v, o)| {
                let s = k.strip_suffix(":registry")?;
                s.starts_with('@').then(|| (s.to_string(), v.as_str(), o))
            })
            .collect()
    }
}

/// The environment variables starting with `prefix` (any case), as
/// `(config key, value, variable)`: yarn and npm lowercase the name, turn
/// `__` into `.` and `_` into `-`.
pub(super) fn env_keys(req: &Request<'_>, prefix: &str) -> Vec<(String, String, String)> {
    let mut vars = req.env.vars();
    vars.sort();
    let mut out = Vec::new();
    for (k, v) in vars {
        let lk = k.to_ascii_lowercase();
        let Some(rest) = lk.strip_prefix(prefix) else {
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        let rest = rest.replace("__", ".");
        let key: String = rest
            .char_indices()
            .map(|(i, c)| if c == '_' && i > 0 { '-' } else { c })
            .collect();
        out.push((key, v, k));
    }
    out
}

/// Whether `s` is true the way the tools read booleans from the environment.
pub(super) fn truthy(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "y" | "on"
    )
}

/// Lists the classic sources; returns whether a `yarnPath` makes yarn run
/// another file.
fn classic_sources(req: &Request<'_>, cwd: &Path, out: &mut Vec<Source>) -> bool {
    let args = req.args;
    let default_rc = !args.iter().any(|a| a == "--no-default-rc");
    let use_yarnrc: Vec<PathBuf> = flag_values(args, &["--use-yarnrc"])
        .into_iter()
        .map(|(v, _)| req.cwd.join(v))
        .collect();

    // The rc chain: flags from rc files, yarn-path. yarn looks for
    // yarn-path from the process's directory and for flags from `--cwd`.
    let mut rc_registry: Vec<(String, Origin, String)> = Vec::new();
    let mut yarn_paths: Vec<(String, Origin)> = Vec::new();
    let mut chains = vec![rc_chain(req, cwd, &use_yarnrc, default_rc)];
    if cwd != req.cwd {
        chains.push(rc_chain(req, req.cwd, &use_yarnrc, default_rc));
    }
    for (n, chain) in chains.iter().enumerate() {
        let mut winner: Option<(String, Origin)> = None;
        for f in chain {
            for e in rc_file_entries(req, f) {
                let origin = Origin::file(f, e.line);
                if e.key == "yarn-path" || e.key == "yarnPath" {
                    winner = Some((e.value.clone(), origin));
                    continue;
                }
                let Some(flag) = e.key.strip_prefix("--") else {
                    continue;
                };
                let (cmd, name) = match flag.split_once('.') {
                    Some((c, n)) => (c.to_string(), n),
                    None => ("*".to_string(), flag),
                };
                if name == "registry" && n == 0 {
                    rc_registry.retain(|(c, _, _)| *c != cmd);
                    rc_registry.push((cmd, origin, e.value.clone()));
                }
            }
        }
        yarn_paths.extend(winner);
    }
    let ignore_path = req.env.get("YARN_IGNORE_PATH").is_some_and(|v| truthy(&v));
    let delegated = !yarn_paths.is_empty() && !ignore_path;
    if !ignore_path {
        for (v, o) in yarn_paths {
            out.push(Source::new(SourceKind::Executable, v, o, "yarnPath"));
        }
    }

    // npm config, then yarn config.
    let root = package_root(req, cwd);
    let mut npm_layers: Vec<KeyLayer> = Vec::new();
    let mut yarn_layers: Vec<KeyLayer> = Vec::new();
    let npm_env = env_keys(req, "npm_config_");
    let yarn_env = env_keys(req, "yarn_");
    let env_layer = |keys: &[(String, String, String)]| KeyLayer {
        entries: keys
            .iter()
            .map(|(k, v, var)| (k.clone(), v.clone(), Origin::env(var)))
            .collect(),
    };
    npm_layers.push(env_layer(&npm_env));
    npm_layers.push(env_layer(&yarn_env));
    yarn_layers.push(env_layer(&yarn_env));
    let env_get = |keys: &[(String, String, String)], key: &str| {
        keys.iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.clone())
    };
    let npm_userconfig =
        env_get(&npm_env, "userconfig").or_else(|| env_get(&yarn_env, "userconfig"));
    let yarn_userconfig = env_get(&yarn_env, "userconfig");
    let prefix = global_prefix(req, "yarn");
    for f in use_yarnrc.iter().rev() {
        yarn_layers.push(yarnrc_layer(req, f));
    }
    if default_rc {
        let mut npm_files = vec![root.join(".npmrc")];
        npm_files.extend(
            npm_userconfig
                .map(|p| expand_home(&p, req.home))
                .or_else(|| req.home.map(|h| h.join(".npmrc"))),
        );
        npm_files.extend(prefix.iter().map(|p| p.join("etc").join("npmrc")));
        npm_files.extend(
            root.ancestors()
                .filter(|d| d.parent().is_some())
                .map(|d| d.join(".npmrc")),
        );
        for f in npm_files {
            npm_layers.push(npmrc_layer(req, &f));
        }
        let mut yarn_files = vec![root.join(".yarnrc")];
        yarn_files.extend(
            yarn_userconfig
                .map(|p| expand_home(&p, req.home))
                .or_else(|| req.home.map(|h| h.join(".yarnrc"))),
        );
        yarn_files.extend(prefix.iter().map(|p| p.join("etc").join("yarnrc")));
        yarn_files.extend(
            root.ancestors()
                .filter(|d| d.parent().is_some())
                .map(|d| d.join(".yarnrc")),
        );
        for f in yarn_files {
            yarn_layers.push(yarnrc_layer(req, &f));
        }
    }
    let all: Vec<&KeyLayer> = npm_layers.iter().chain(yarn_layers.iter()).collect();

    // The default registry.
    let flag = flag_value(args, &["--registry"]);
    if let Some((v, f)) = flag {
        out.push(Source::new(
            SourceKind::Registry,
            v,
            Origin::flag(f),
            "registry",
        ));
    } else if !rc_registry.is_empty() {
        for (_, o, v) in &rc_registry {
            out.push(
                Source::new(SourceKind::Registry, v.clone(), o.clone(), "--registry").overridable(),
            );
        }
    } else {
        match all
            .iter()
            .map(|l| l.get("registry"))
            .find(|v| !v.is_empty())
        {
            Some(found) => {
                // The variable pkgward sets beats every file; a variable
                // the user set is replaced by name.
                for (v, o) in found {
                    out.push(
                        Source::new(SourceKind::Registry, v, o.clone(), "registry").overridable(),
                    );
                }
            }
            None => out.push(
                Source::new(SourceKind::Registry, "builtin", Origin::Builtin, "registry")
                    .overridable(),
            ),
        }
    }
    // Scopes: the first layer naming each.
    let mut seen: Vec<String> = Vec::new();
    for layer in &all {
        let mut here = Vec::new();
        for (scope, v, o) in layer.scopes() {
            if seen.contains(&scope) {
                continue;
            }
            out.push(
                Source::new(
                    SourceKind::ScopeRegistry,
                    v,
                    o.clone(),
                    format!("{scope}:registry"),
                )
                .overridable(),
            );
            here.push(scope);
        }
        seen.extend(here);
    }
    // strict-ssl=false weakens every request.
    if let Some(found) = all
        .iter()
        .map(|l| l.get("strict-ssl"))
        .find(|v| !v.is_empty())
    {
        for (v, o) in found {
            if v.trim().eq_ignore_ascii_case("false") {
                out.push(Source::new(
                    SourceKind::Insecure,
                    v,
                    o.clone(),
                    "strict-ssl",
                ));
            }
        }
    }
    delegated
}

fn npmrc_layer(req: &Request<'_>, path: &Path) -> KeyLayer {
    let mut layer = KeyLayer::default();
    if let Some(text) = req.files.read(path) {
        for e in npmrc::parse(&text, req.env) {
            let key = e.key.to_ascii_lowercase();
            layer.entries.retain(|(k, _, _)| *k != key);
            layer
                .entries
                .push((key, e.value, Origin::file(path, e.line)));
        }
    }
    layer
}

fn yarnrc_layer(req: &Request<'_>, path: &Path) -> KeyLayer {
    let mut layer = KeyLayer::default();
    if let Some(text) = req.files.read(path) {
        for e in yarnrc_entries(&text) {
            layer
                .entries
                .push((e.key, e.value, Origin::file(path, e.line)));
        }
    }
    layer
}

/// `$PREFIX`, else the prefix the tool's package is installed under
/// (`<prefix>/lib/node_modules/<pkg>`), with `$DESTDIR` in front.
pub(super) fn global_prefix(req: &Request<'_>, pkg: &str) -> Vec<PathBuf> {
    if let Some(p) = req.env.get("PREFIX").filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let mut out = Vec::new();
    if let Some(t) = req.real_tool {
        if let Some(dir) = t.ancestors().find(|a| {
            a.file_name().is_some_and(|n| n == pkg)
                && a.parent().is_some_and(|p| p.ends_with("node_modules"))
        }) {
            if let Some(prefix) = dir.parent().and_then(Path::parent).and_then(|lib| {
                if cfg!(windows) {
                    Some(lib)
                } else {
                    lib.parent()
                }
            }) {
                let prefix = match req.env.get("DESTDIR").filter(|d| !d.is_empty()) {
                    Some(d) => PathBuf::from(d).join(prefix.strip_prefix("/").unwrap_or(prefix)),
                    None => prefix.to_path_buf(),
                };
                out.push(prefix);
            }
        }
    }
    out
}

pub(super) fn expand_home(p: &str, home: Option<&Path>) -> PathBuf {
    match (p.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => PathBuf::from(p),
    }
}

// --- berry -----------------------------------------------------------------

/// lodash's camelCase of a snake_case name (`npm_registry_server`).
fn camel(s: &str) -> String {
    let mut out = String::new();
    for (i, w) in s.split(['_', '-']).filter(|w| !w.is_empty()).enumerate() {
        let w = w.to_ascii_lowercase();
        if i == 0 {
            out.push_str(&w);
        } else {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                out.extend(f.to_uppercase());
                out.push_str(c.as_str());
            }
        }
    }
    out
}

/// Berry settings from the environment: `(setting, value, variable)`.
fn berry_env(req: &Request<'_>) -> Vec<(String, String, String)> {
    let mut vars = req.env.vars();
    vars.sort();
    vars.into_iter()
        .filter_map(|(k, v)| {
            let lk = k.to_ascii_lowercase();
            let rest = lk.strip_prefix("yarn_")?;
            Some((camel(rest), v, k))
        })
        .collect()
}

/// Berry's rc files, closest first, with their parsed contents.
fn berry_rc_files(req: &Request<'_>, cwd: &Path) -> Vec<(PathBuf, yaml::Node)> {
    let name = req
        .env
        .vars()
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("yarn_rc_filename"))
        .map(|(_, v)| v)
        .unwrap_or_else(|| ".yarnrc.yml".to_string());
    let mut out = Vec::new();
    for d in cwd.ancestors() {
        let p = d.join(&name);
        if let Some(text) = req.files.read(&p) {
            out.push((p, yaml::parse(&text)));
        }
    }
    if let Some(h) = req.home {
        let p = h.join(".yarnrc.yml");
        if !out.iter().any(|(q, _)| *q == p) {
            if let Some(text) = req.files.read(&p) {
                out.push((p, yaml::parse(&text)));
            }
        }
    }
    out
}

/// `localhost`, `::1` or `127.x.y.z`: plain http to these never leaves
/// the machine.
fn is_loopback_host(h: &str) -> bool {
    let h = h.trim().trim_start_matches('[').trim_end_matches(']');
    let v4 = h.starts_with("127.")
        && h.split('.').count() == 4
        && h.split('.').all(|p| p.parse::<u8>().is_ok());
    h.eq_ignore_ascii_case("localhost") || h == "::1" || v4
}

fn berry_sources(req: &Request<'_>, cwd: &Path, verb: Verb, out: &mut Vec<Source>) {
    let env = berry_env(req);
    let rcs = berry_rc_files(req, cwd);
    for (p, doc) in &rcs {
        if let Some((line, why)) = yaml::error(doc) {
            out.push(Source::unreadable(p, line, why));
        }
    }
    let env_get = |name: &str| env.iter().filter(|(k, _, _)| k == name).collect::<Vec<_>>();
    // The closest rc file setting a scalar.
    let rc_scalar = |name: &str| -> Vec<(String, Origin)> {
        for (p, doc) in &rcs {
            let found: Vec<(String, Origin)> = doc
                .get_all(name)
                .into_iter()
                .filter_map(|(n, l)| yaml::scalar(n).map(|v| (v.to_string(), Origin::file(p, l))))
                .collect();
            if !found.is_empty() {
                return found;
            }
        }
        Vec::new()
    };

    // npmRegistryServer
    let from_env = env_get("npmRegistryServer");
    if !from_env.is_empty() {
        for (_, v, var) in from_env {
            out.push(
                Source::new(
                    SourceKind::Registry,
                    v.clone(),
                    Origin::env(var),
                    "npmRegistryServer",
                )
                .overridable(),
            );
        }
    } else {
        let found = rc_scalar("npmRegistryServer");
        if found.is_empty() {
            out.push(
                Source::new(
                    SourceKind::Registry,
                    "builtin",
                    Origin::Builtin,
                    "npmRegistryServer",
                )
                .overridable(),
            );
        }
        for (v, o) in found {
            out.push(Source::new(SourceKind::Registry, v, o, "npmRegistryServer").overridable());
        }
    }
    // npmScopes.<scope>.npmRegistryServer: the closest file naming it.
    let mut seen: Vec<String> = Vec::new();
    for (p, doc) in &rcs {
        let mut here = Vec::new();
        for (scopes, _) in doc.get_all("npmScopes") {
            for (scope, line, conf) in scopes.map_entries() {
                if seen.contains(scope) {
                    continue;
                }
                for (n, l) in conf.get_all("npmRegistryServer") {
                    if let Some(v) = yaml::scalar(n) {
                        out.push(Source::new(
                            SourceKind::ScopeRegistry,
                            v,
                            Origin::file(p, l.max(*line)),
                            format!("npmScopes.{scope}.npmRegistryServer"),
                        ));
                        here.push(scope.clone());
                    }
                }
                if verb == Verb::Publish {
                    for (n, l) in conf.get_all("npmPublishRegistry") {
                        if let Some(v) = yaml::scalar(n) {
                            out.push(Source::new(
                                SourceKind::ScopeRegistry,
                                v,
                                Origin::file(p, l),
                                format!("npmScopes.{scope}.npmPublishRegistry"),
                            ));
                        }
                    }
                }
            }
        }
        seen.extend(here);
    }
    if verb == Verb::Publish {
        let from_env = env_get("npmPublishRegistry");
        if !from_env.is_empty() {
            for (_, v, var) in from_env {
                out.push(Source::new(
                    SourceKind::Registry,
                    v.clone(),
                    Origin::env(var),
                    "npmPublishRegistry",
                ));
            }
        } else {
            for (v, o) in rc_scalar("npmPublishRegistry") {
                out.push(Source::new(
                    SourceKind::Registry,
                    v,
                    o,
                    "npmPublishRegistry",
                ));
            }
        }
    }
    // unsafeHttpWhitelist: the environment replaces the files' (merged) lists.
    let mut whitelist: Vec<(String, Origin)> = Vec::new();
    let from_env = env_get("unsafeHttpWhitelist");
    if !from_env.is_empty() {
        for (_, v, var) in from_env {
            for h in v.split(',') {
                whitelist.push((h.trim().to_string(), Origin::env(var)));
            }
        }
    } else {
        for (p, doc) in &rcs {
            for (n, l) in doc.get_all("unsafeHttpWhitelist") {
                for (v, vl) in yaml::scalars(n, l) {
                    whitelist.push((v, Origin::file(p, vl)));
                }
            }
        }
    }
    for (h, o) in whitelist {
        if !h.is_empty() && !is_loopback_host(&h) {
            out.push(Source::new(
                SourceKind::Insecure,
                h,
                o,
                "unsafeHttpWhitelist",
            ));
        }
    }
    // enableStrictSsl: false
    let strict: Vec<(String, Origin)> = {
        let e = env_get("enableStrictSsl");
        if e.is_empty() {
            rc_scalar("enableStrictSsl")
        } else {
            e.into_iter()
                .map(|(_, v, var)| (v.clone(), Origin::env(var)))
                .collect()
        }
    };
    for (v, o) in strict {
        if matches!(v.trim().to_ascii_lowercase().as_str(), "false" | "0") {
            out.push(Source::new(SourceKind::Insecure, v, o, "enableStrictSsl"));
        }
    }
    // yarnPath, unless ignorePath.
    let ignore = {
        let e = env_get("ignorePath");
        if e.is_empty() {
            rc_scalar("ignorePath").iter().any(|(v, _)| truthy(v))
        } else {
            e.iter().any(|(_, v, _)| truthy(v))
        }
    };
    if !ignore {
        let e = env_get("yarnPath");
        let paths: Vec<(String, Origin)> = if e.is_empty() {
            rc_scalar("yarnPath")
        } else {
            e.into_iter()
                .map(|(_, v, var)| (v.clone(), Origin::env(var)))
                .collect()
        };
        for (v, o) in paths {
            if !v.is_empty() {
                out.push(Source::new(SourceKind::Executable, v, o, "yarnPath"));
            }
        }
    }
    // plugins: code yarn loads; a missing one is downloaded from its spec.
    for (_, v, var) in env_get("plugins") {
        for p in v.split(';').filter(|p| !p.trim().is_empty()) {
            out.push(Source::new(
                SourceKind::Executable,
                p.trim(),
                Origin::env(var),
                "plugins",
            ));
        }
    }
    for (p, doc) in &rcs {
        for (list, _) in doc.get_all("plugins") {
            for (item, l) in list.seq_items() {
                let origin = Origin::file(p, l);
                if let Some(path) = yaml::scalar(item) {
                    out.push(Source::new(SourceKind::Executable, path, origin, "plugins"));
                    continue;
                }
                let path = item
                    .get_all("path")
                    .into_iter()
                    .find_map(|(n, _)| yaml::scalar(n));
                let spec = item
                    .get_all("spec")
                    .into_iter()
                    .find_map(|(n, _)| yaml::scalar(n));
                out.push(Source::new(
                    SourceKind::Executable,
                    path.or(spec).unwrap_or("(plugin)"),
                    origin.clone(),
                    "plugins",
                ));
                if let Some(s) = spec.filter(|s| {
                    let l = s.to_ascii_lowercase();
                    l.starts_with("http://") || l.starts_with("https://")
                }) {
                    out.push(Source::new(SourceKind::Direct, s, origin, "plugins"));
                }
            }
        }
    }
    // packageExtensions can add dependencies with any spec.
    for (p, doc) in &rcs {
        for (exts, _) in doc.get_all("packageExtensions") {
            for (_, _, ext) in exts.map_entries() {
                for field in ["dependencies", "peerDependencies"] {
                    for (deps, _) in ext.get_all(field) {
                        for (name, l, spec) in deps.map_entries() {
                            if let Some(v) = yaml::scalar(spec) {
                                if let Some(mut src) =
                                    spec_source(&format!("x@{v}"), Origin::file(p, *l))
                                {
                                    src.subject = name.clone();
                                    out.push(src);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Berry's project root: the closest folder with a lockfile, else the
/// farthest one with a `package.json`.
fn berry_project_root(req: &Request<'_>, cwd: &Path) -> PathBuf {
    let mut top = None;
    for d in cwd.ancestors() {
        if req.files.exists(&d.join("yarn.lock")) {
            return d.to_path_buf();
        }
        if req.files.exists(&d.join("package.json")) {
            top = Some(d.to_path_buf());
        }
    }
    top.unwrap_or_else(|| cwd.to_path_buf())
}

fn berry_lockfile_name(req: &Request<'_>, cwd: &Path) -> String {
    if let Some((_, v, _)) = berry_env(req)
        .into_iter()
        .find(|(k, _, _)| k == "lockfileFilename")
    {
        return v;
    }
    for (_, doc) in berry_rc_files(req, cwd) {
        if let Some(v) = doc
            .get_all("lockfileFilename")
            .into_iter()
            .find_map(|(n, _)| yaml::scalar(n))
        {
            return v.to_string();
        }
    }
    "yarn.lock".into()
}

fn yarn_specs(args: &[String]) -> Vec<Source> {
    let pos = positionals(args, YARN_VALUE_FLAGS);
    let words: Vec<&str> = pos.iter().map(|(_, w)| *w).collect();
    // Skip the command words: `add`, `global add`, `workspace <name> add`, `dlx`.
    let mut skip = 1;
    match words.first().copied() {
        Some("global") => skip = 2,
        Some("workspace") => skip = 3,
        Some("create") => {
            // `yarn create foo` fetches `create-foo`.
            return words
                .get(1)
                .and_then(|w| spec_source(w, Origin::arg(*w)))
                .into_iter()
                .collect();
        }
        Some("dlx") => {
            let mut out: Vec<Source> = flag_values(args, &["--package", "-p"])
                .into_iter()
                .filter_map(|(v, f)| spec_source(&v, Origin::flag(f)))
                .collect();
            if out.is_empty() {
                out.extend(words.get(1).and_then(|w| spec_source(w, Origin::arg(*w))));
            }
            return out;
        }
        Some("plugin") => skip = 2,
        _ => {}
    }
    let dash = args.iter().position(|a| a == "--").unwrap_or(args.len());
    pos.iter()
        .filter(|(i, _)| *i < dash)
        .skip(skip)
        .filter_map(|(_, w)| spec_source(w, Origin::arg(*w)))
        .collect()
}

// ---------------------------------------------------------------------------
// Forcing

pub(super) fn force(
    args: &[String],
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    let _ = args;
    let mut plan = Plan {
        env: vec![
            ("npm_config_registry".into(), mirror.into()),
            ("NPM_CONFIG_REGISTRY".into(), mirror.into()),
            ("YARN_REGISTRY".into(), mirror.into()),
            ("YARN_NPM_REGISTRY_SERVER".into(), mirror.into()),
            ("yarn_npm_registry_server".into(), mirror.into()),
        ],
        ..Plan::default()
    };
    for s in sources {
        let take = s.overridable
            && match (s.kind, s.subject.as_str()) {
                (SourceKind::Registry, "registry" | "npmRegistryServer") => true,
                (SourceKind::Registry, "--registry") => {
                    if plan.insert_args.is_empty() {
                        plan.insert_args = vec!["--registry".into(), mirror.into()];
                        plan.insert_at = 0;
                    }
                    true
                }
                (SourceKind::ScopeRegistry, subject) if subject.starts_with('@') => {
                    if approved(s) {
                        false
                    } else {
                        set_env(&mut plan, &format!("npm_config_{subject}"), mirror);
                        true
                    }
                }
                _ => false,
            };
        if take {
            env_var_too(&mut plan, s, mirror);
            plan.overridden.push(s.clone());
        } else {
            plan.remaining.push(s.clone());
        }
    }
    Some(plan)
}

/// Adds `var=value` to the plan unless it is there.
pub(super) fn set_env(plan: &mut Plan, var: &str, value: &str) {
    if !plan.env.iter().any(|(k, _)| k == var) {
        plan.env.push((var.to_string(), value.to_string()));
    }
}

/// A source the user set through a variable is replaced by name, whatever
/// its spelling.
pub(super) fn env_var_too(plan: &mut Plan, s: &Source, mirror: &str) {
    if let Origin::Env { var } = &s.origin {
        set_env(plan, var, mirror);
    }
}

// ---------------------------------------------------------------------------
// Helpers shared by the npm-family adapters

/// Removes exact duplicates (same kind, value, origin, subject), keeping
/// the first; a duplicate that is not overridable makes the kept one not
/// overridable either.
pub(super) fn dedupe(v: Vec<Source>) -> Vec<Source> {
    let mut seen: std::collections::HashMap<(u8, String, String, String), usize> =
        std::collections::HashMap::with_capacity(v.len());
    let mut out: Vec<Source> = Vec::with_capacity(v.len());
    for s in v {
        let key = (
            s.kind as u8,
            s.value.clone(),
            s.origin.to_string(),
            s.subject.clone(),
        );
        match seen.get(&key) {
            Some(&i) => {
                if !s.overridable {
                    out[i].overridable = false;
                }
            }
            None => {
                seen.insert(key, out.len());
                out.push(s);
            }
        }
    }
    out
}

/// The part of `args` the tool parses itself: for `run <script> …`, an
/// unknown command (a script name) or a command that runs another
/// program (`exec`, `dlx`, `x`), what follows belongs to that program.
pub(super) fn own_args<'a>(
    args: &'a [String],
    value_flags: &[&str],
    known: &[&str],
    passthrough: &[&str],
) -> &'a [String] {
    let pos = positionals(args, value_flags);
    let Some(&(c, cmd)) = pos.first() else {
        return args;
    };
    if cmd == "run" {
        return match pos.get(1) {
            Some(&(s, _)) => &args[..s],
            None => args,
        };
    }
    if passthrough.contains(&cmd) {
        // The program (or package) is the next positional; its arguments follow.
        return match pos.get(1) {
            Some(&(s, _)) => &args[..=s],
            None => args,
        };
    }
    if known.is_empty() {
        // npx-like tools: the package is the first positional.
        return &args[..=c];
    }
    if !known.contains(&cmd) {
        return &args[..c];
    }
    args
}

/// The non-option arguments with their index in `args`, skipping the values
/// of the options in `value_flags` (given as `--name`/`-n`, no `=`).
pub(super) fn positionals<'a>(args: &'a [String], value_flags: &[&str]) -> Vec<(usize, &'a str)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            out.extend(
                args[i..]
                    .iter()
                    .enumerate()
                    .map(|(j, s)| (i + j, s.as_str())),
            );
            break;
        }
        if a.starts_with('-') && a.len() > 1 {
            if !a.contains('=') && value_flags.contains(&a) {
                i += 1;
            }
            continue;
        }
        out.push((i - 1, a));
    }
    out
}

/// The last value of an option (`--name value` or `--name=value`) before
/// `--`, with the option as written.
pub(super) fn flag_value(args: &[String], names: &[&str]) -> Option<(String, String)> {
    flag_values(args, names).pop()
}

/// Every value of an option, in order.
pub(super) fn flag_values(args: &[String], names: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            break;
        }
        if let Some((n, v)) = a.split_once('=') {
            if names.contains(&n) {
                out.push((v.to_string(), n.to_string()));
            }
        } else if names.contains(&a) {
            if let Some(v) = args.get(i) {
                out.push((v.clone(), a.to_string()));
                i += 1;
            }
        }
    }
    out
}

/// The nearest directory at or above `start` holding a `package.json`, else
/// `start`.
pub(super) fn package_root(req: &Request<'_>, start: &Path) -> PathBuf {
    start
        .ancestors()
        .find(|d| req.files.exists(&d.join("package.json")))
        .unwrap_or(start)
        .to_path_buf()
}

/// The major version of the real tool, from the `package.json` of the
/// package it belongs to (one of `names`): `(package name, major)`.
pub(super) fn tool_major(req: &Request<'_>, names: &[&str]) -> Option<(String, u32)> {
    let tool = req.real_tool?;
    for dir in tool.ancestors().skip(1).take(6) {
        let Some(text) = req.files.read(&dir.join("package.json")) else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        let name = v.get("name")?.as_str()?;
        if !names.contains(&name) {
            return None;
        }
        let major = v
            .get("version")?
            .as_str()?
            .split('.')
            .next()?
            .parse()
            .ok()?;
        return Some((name.to_string(), major));
    }
    None
}

/// `packageManager: "tool@X.Y.Z"` of the project's `package.json`.
pub(super) fn package_manager(req: &Request<'_>, root: &Path) -> Option<(String, u32)> {
    let text = req.files.read(&root.join("package.json"))?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let pm = v.get("packageManager")?.as_str()?;
    let (tool, ver) = pm.rsplit_once('@')?;
    let major = ver
        .trim_start_matches(['^', '~', '=', 'v'])
        .split('.')
        .next()?
        .parse()
        .ok()?;
    Some((tool.to_string(), major))
}

/// `NODE_TLS_REJECT_UNAUTHORIZED=0` turns certificate checks off for the
/// node-based tools (and bun).
pub(super) fn node_tls(req: &Request<'_>) -> Option<Source> {
    let v = req.env.get("NODE_TLS_REJECT_UNAUTHORIZED")?;
    (v.trim() == "0").then(|| {
        Source::new(
            SourceKind::Insecure,
            v,
            Origin::env("NODE_TLS_REJECT_UNAUTHORIZED"),
            "NODE_TLS_REJECT_UNAUTHORIZED",
        )
    })
}

/// A package spec of the npm family: what `npm::classify_spec` recognises,
/// plus the protocols of yarn and pnpm that name no registry package, and
/// the inner spec of `npm:` aliases and yarn `patch:` specs.
pub(super) fn spec_source(spec: &str, origin: Origin) -> Option<Source> {
    spec_source_at(spec, origin, 0)
}

fn spec_source_at(spec: &str, origin: Origin, depth: usize) -> Option<Source> {
    let target = match spec.strip_prefix('@') {
        Some(rest) => rest.split_once('@').map(|(_, t)| t).unwrap_or(""),
        None => spec.split_once('@').map(|(_, t)| t).unwrap_or(spec),
    };
    let lower = target.to_ascii_lowercase();
    if depth < 8 {
        if let Some(inner) = lower.strip_prefix("npm:").map(|_| &target[4..]) {
            return spec_source_at(inner, origin, depth + 1);
        }
        if lower.starts_with("patch:") {
            // `patch:name@<encoded inner spec>#path`: the inner spec.
            let inner = percent_decode(&target[6..]);
            let inner = inner.split('#').next().unwrap_or("");
            return spec_source_at(inner, origin, depth + 1);
        }
    }
    for p in [
        "workspace:",
        "link:",
        "portal:",
        "exec:",
        "catalog:",
        "patch:",
        "npm:",
    ] {
        if lower.starts_with(p) {
            return (p == "link:" || p == "portal:" || p == "exec:")
                .then(|| Source::new(SourceKind::Path, target, origin, spec_name(spec, target)));
        }
    }
    super::npm::classify_spec(spec, origin)
}

fn spec_name(spec: &str, target: &str) -> String {
    if target.len() < spec.len() {
        spec[..spec.len() - target.len() - 1].to_string()
    } else {
        String::new()
    }
}

/// Percent-decoding (berry encodes nested specs).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let hex = |c: u8| (c as char).to_digit(16);
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL, git and path entries of a lockfile, with their lines (the
/// line where the entry starts). Registry entries without a URL are left
/// out: they are fetched from the configured registry. Line scanners, not
/// full parsers: this runs on every invocation.
pub(super) fn lockfile_sources(
    req: &Request<'_>,
    path: &Path,
    format: lockfiles::Format,
) -> Vec<Source> {
    let Some(text) = req.files.read(path) else {
        return Vec::new();
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut out = Vec::new();
    match format {
        lockfiles::Format::YarnLock => scan_yarn_lock(path, text, &mut out),
        lockfiles::Format::PnpmLock => scan_pnpm_lock(path, text, &mut out),
        lockfiles::Format::BunLock if !scan_bun_lock(path, text, &mut out) => {
            // A layout the scanner does not follow: the full reader.
            out.clear();
            if let Ok(lock) = lockfiles::parse(format, path, text) {
                for e in lock.entries {
                    let Some(resolved) = e.resolved else { continue };
                    let kind = match e.kind {
                        lockfiles::EntryKind::Registry | lockfiles::EntryKind::Url => {
                            SourceKind::Locked
                        }
                        lockfiles::EntryKind::Git => SourceKind::Git,
                        lockfiles::EntryKind::Path => SourceKind::Path,
                        lockfiles::EntryKind::Workspace => continue,
                    };
                    out.push(Source::new(
                        kind,
                        resolved,
                        Origin::file(path, e.line),
                        e.name,
                    ));
                }
            }
        }
        _ => {}
    }
    out
}

/// What a resolved URL or spec in a lockfile is: git, a local path, or a
/// URL the tool fetches as written.
fn locked_kind(v: &str) -> SourceKind {
    if starts_with_ci(v, "https://") || starts_with_ci(v, "http://") {
        return SourceKind::Locked;
    }
    match super::npm::classify_spec(&format!("x@{v}"), Origin::Builtin) {
        Some(s) if s.kind == SourceKind::Git => SourceKind::Git,
        Some(s) if s.kind == SourceKind::Path => SourceKind::Path,
        _ => SourceKind::Locked,
    }
}

pub(super) fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// `key value`, `key "value"`, `"key" value`, `key: value` → the value.
fn field_value<'t>(t: &'t str, key: &str) -> Option<&'t str> {
    let rest = if let Some(r) = t.strip_prefix(key) {
        r
    } else {
        t.strip_prefix('"')?.strip_prefix(key)?.strip_prefix('"')?
    };
    if !rest.starts_with([' ', '\t', ':']) {
        return None;
    }
    let rest = rest.trim_start();
    Some(rest.strip_prefix(':').unwrap_or(rest).trim())
}

fn unquote_value(v: &str) -> String {
    if let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let inner = &v[1..];
        if let Some(end) = inner.find(q) {
            if !inner[..end].contains('\\') {
                return inner[..end].to_string();
            }
        }
        if let Some((s, _)) = yaml::quoted(v) {
            return s;
        }
    }
    v.to_string()
}

/// The package name of a lockfile block header (`"@s/a@^1", "@s/a@^2":`).
fn header_name(h: &str) -> String {
    let first = h
        .trim_end_matches(':')
        .split(',')
        .next()
        .unwrap_or("")
        .trim();
    let first = first.trim_matches('"');
    let cut = first
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '@')
        .map(|(i, _)| i)
        .unwrap_or(first.len());
    first[..cut].to_string()
}

/// yarn.lock, classic (`resolved "URL#sha1"`) and berry (`resolution:`).
/// `yarn.lock`, v1 and berry. Yarn 1 reads its own line format; berry reads
/// YAML (its own fast parser for the layout it writes, else a YAML
/// parser), so a berry lockfile in any other YAML spelling (flow style,
/// anchors and aliases, quoted or escaped field names, a value on a later
/// line) goes to the YAML reader instead of the line scan, as for pnpm.
fn scan_yarn_lock(path: &Path, text: &str, out: &mut Vec<Source>) {
    let start = out.len();
    if !scan_yarn_lock_lines(path, text, out) {
        out.truncate(start);
        if !berry_lock_yaml(path, text, out) {
            // Not YAML either: yarn 1 reads it with its own parser (it
            // falls back to YAML only when that fails), and so does the
            // line scan.
            out.truncate(start);
            scan_yarn_lock_unguarded(path, text, out);
        }
    }
}

/// Whether a `pnpm-lock.yaml` or `yarn.lock` is in a YAML form the line
/// readers do not follow, one the tool would still read (through its YAML
/// parser): classification reads such a file with the YAML reader; the
/// lockfile readers (`verify`, provenance) cannot vouch for it.
pub(crate) fn lockfile_in_yaml_form(format: lockfiles::Format, text: &str) -> bool {
    let path = Path::new("lockfile");
    let mut out = Vec::new();
    match format {
        lockfiles::Format::PnpmLock => !scan_pnpm_lock_lines(path, text, &mut out),
        lockfiles::Format::YarnLock => {
            !scan_yarn_lock_lines(path, text, &mut out)
                && (!yarn_v1(text) || yaml::error(&yaml::parse(text)).is_none())
        }
        _ => false,
    }
}

/// Whether the file carries yarn 1's header (berry's files do not).
fn yarn_v1(text: &str) -> bool {
    text.lines()
        .take_while(|l| l.starts_with('#') || l.trim().is_empty())
        .any(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("yarn lockfile v1")
        })
}

/// The YAML reader's view of a `yarn.lock`: every entry's `resolution`
/// (berry) and `resolved` (yarn 1). False when it is not YAML and yarn 1
/// would read it with its own parser.
fn berry_lock_yaml(path: &Path, text: &str, out: &mut Vec<Source>) -> bool {
    let doc = yaml::parse(text);
    let error = yaml::error(&doc).map(|(l, w)| (l, w.to_string()));
    if error.is_some() && yarn_v1(text) {
        return false;
    }
    for (key, kline, entry) in doc.map_entries() {
        if key == "__metadata" {
            continue;
        }
        for (res, rline) in entry.get_all("resolution") {
            let Some(v) = yaml::scalar(res) else { continue };
            if let Some((kind, value)) = berry_locator(v, 0) {
                let line = if rline > 0 { rline } else { *kline };
                out.push(Source::new(
                    kind,
                    value,
                    Origin::file(path, line),
                    header_name(key),
                ));
            }
        }
        for (res, rline) in entry.get_all("resolved") {
            let Some(v) = yaml::scalar(res).filter(|v| !v.is_empty()) else {
                continue;
            };
            let line = if rline > 0 { rline } else { *kline };
            out.push(Source::new(
                locked_kind(v),
                v,
                Origin::file(path, line),
                header_name(key),
            ));
        }
    }
    if let Some((line, why)) = error {
        out.push(Source::new(
            SourceKind::Locked,
            format!("unreadable yarn.lock: {why}"),
            Origin::file(path, line),
            "",
        ));
    }
    true
}

fn scan_yarn_lock_unguarded(path: &Path, text: &str, out: &mut Vec<Source>) {
    scan_yarn_lock_with(path, text, out, false);
}

/// The line scan; false for a lockfile in a form it does not follow.
fn scan_yarn_lock_lines(path: &Path, text: &str, out: &mut Vec<Source>) -> bool {
    scan_yarn_lock_with(path, text, out, true)
}

fn scan_yarn_lock_with(path: &Path, text: &str, out: &mut Vec<Source>, guard: bool) -> bool {
    let berry = guard && !yarn_v1(text);
    let mut header: (&str, usize) = ("", 0);
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if guard && (yaml_risky(line) || line.starts_with(['{', '[', '?', '-'])) {
            return false;
        }
        if berry {
            let t = line.trim_start();
            // A field the scan does not take where berry would.
            if t.contains("resolution")
                && !(line.starts_with("  ")
                    && !line[2..].starts_with([' ', '\t'])
                    && field_value(&line[2..], "resolution").is_some_and(|v| !v.is_empty()))
            {
                return false;
            }
        }
        if !line.starts_with([' ', '\t']) {
            header = (line, i + 1);
            continue;
        }
        let Some(t) = line.strip_prefix("  ") else {
            continue;
        };
        if t.starts_with([' ', '\t']) {
            continue;
        }
        if let Some(v) = field_value(t, "resolved") {
            let mut v = unquote_value(v);
            if starts_with_ci(&v, "http://") || starts_with_ci(&v, "https://") {
                if let Some((url, frag)) = v.rsplit_once('#') {
                    if frag.len() == 40 && frag.bytes().all(|b| b.is_ascii_hexdigit()) {
                        v = url.to_string();
                    }
                }
            }
            let kind = locked_kind(&v);
            out.push(Source::new(
                kind,
                v,
                Origin::file(path, header.1),
                header_name(header.0),
            ));
        } else if let Some(v) = field_value(t, "resolution") {
            let v = unquote_value(v);
            if let Some((kind, value)) = berry_locator(&v, 0) {
                out.push(Source::new(
                    kind,
                    value,
                    Origin::file(path, header.1),
                    header_name(header.0),
                ));
            }
        }
    }
    true
}

/// Where a berry locator (`name@npm:1.0.0::__archiveUrl=…`, `name@https://…`,
/// `name@patch:…`) is fetched from, when not from the registry.
fn berry_locator(loc: &str, depth: usize) -> Option<(SourceKind, String)> {
    let cut = loc
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '@')
        .map(|(i, _)| i)?;
    let reference = &loc[cut + 1..];
    if starts_with_ci(reference, "npm:") {
        let params = reference[4..].split_once("::").map(|(_, p)| p)?;
        let url = params
            .split('&')
            .find_map(|kv| kv.strip_prefix("__archiveUrl="))?;
        return Some((SourceKind::Locked, percent_decode(url)));
    }
    let lower = reference.to_ascii_lowercase();
    if lower.starts_with("workspace:") {
        return None;
    }
    if let Some(inner) = reference.strip_prefix("patch:") {
        let inner = percent_decode(inner.split('#').next().unwrap_or(""));
        if depth < 4 {
            return berry_locator(&inner, depth + 1);
        }
        return Some((SourceKind::Locked, inner));
    }
    for p in ["file:", "link:", "portal:", "exec:"] {
        if lower.starts_with(p) {
            return Some((SourceKind::Path, reference.split("::").next()?.to_string()));
        }
    }
    let git = lower.starts_with("git")
        || lower.starts_with("ssh:")
        || lower.starts_with("github:")
        || lower.contains(".git#")
        || lower.contains("#commit=");
    let value = reference.to_string();
    Some((
        if git {
            SourceKind::Git
        } else {
            SourceKind::Locked
        },
        value,
    ))
}

/// pnpm-lock.yaml: `tarball:` and `repo:` under `packages:`.
/// `pnpm-lock.yaml`: the `tarball` and `repo` of every package's
/// `resolution`.
///
/// A line scan reads the layout pnpm writes. pnpm itself reads the file as
/// YAML, so any other spelling of the same data (a flow-style or quoted
/// `packages` key, a quoted or escaped `"tarball"`, anchors and aliases,
/// merge keys, tags, a value on the next line or in a block scalar) makes
/// the scan hand the file to the YAML reader instead: a resolution cannot
/// hide behind a form the scan does not follow.
fn scan_pnpm_lock(path: &Path, text: &str, out: &mut Vec<Source>) {
    let start = out.len();
    if !scan_pnpm_lock_lines(path, text, out) {
        out.truncate(start);
        pnpm_lock_yaml(path, text, out);
    }
}

/// Anything in a line that YAML could read differently from the line scan:
/// an anchor, alias, tag or merge key, a block scalar, an explicit key, an
/// escape.
fn yaml_risky(line: &str) -> bool {
    let b = line.as_bytes();
    // Most lines have none of the characters at all.
    if !b
        .iter()
        .any(|c| matches!(c, b'&' | b'*' | b'!' | b'|' | b'>' | b'?' | b'<' | b'\\'))
    {
        return false;
    }
    if line.contains("<<") || line.contains('\\') {
        return true;
    }
    // An indicator counts where a node starts: at the start of the line, or
    // after `:`, `-`, `{`, `[`, `,` and any spaces (inside a plain scalar,
    // `a || b`, it is text; inside a quoted one, `'>=18'`, too).
    let starts_node =
        |prev: Option<u8>| matches!(prev, None | Some(b':' | b'-' | b'{' | b'[' | b','));
    let mut prev: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if starts_node(prev) && (c == b'"' || c == b'\'') {
            // A quoted scalar: to its closing quote (`''` is a quote inside
            // single quotes; a line with a backslash was taken above).
            i += 1;
            loop {
                match b.get(i) {
                    // Continued on the next line: not a form the scan reads.
                    None => return true,
                    Some(&q) if q == c => {
                        if c == b'\'' && b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
            prev = Some(c);
            i += 1;
            continue;
        }
        // (`@`, `` ` `` and `%` cannot start a node either: YAML, and so
        // pnpm and yarn, reject the file.)
        if starts_node(prev) && matches!(c, b'&' | b'*' | b'!' | b'|' | b'>' | b'?') {
            return true;
        }
        if c != b' ' && c != b'\t' {
            prev = Some(c);
        }
        i += 1;
    }
    false
}

/// The line scan; false when the file is in a form it does not follow.
fn scan_pnpm_lock_lines(path: &Path, text: &str, out: &mut Vec<Source>) -> bool {
    let mut in_packages = false;
    let mut key: (&str, usize) = ("", 0);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            let top = line.trim_end();
            // The only top-level forms read: `key:` and `key: scalar` with
            // a plain key, and document markers.
            let plain_key = top.split_once(':').is_some_and(|(k, _)| {
                !k.is_empty() && k.bytes().all(|c| c.is_ascii_alphanumeric())
            });
            if !(plain_key || top == "---" || top == "...") {
                return false;
            }
            if top.starts_with("packages") && top != "packages:" {
                return false;
            }
            in_packages = top == "packages:";
            continue;
        }
        if !in_packages {
            // Elsewhere an anchor or tag matters only where an alias uses
            // it, and aliases inside `packages` are caught below.
            continue;
        }
        if yaml_risky(line) {
            return false;
        }
        if line.starts_with("  ") && !line[2..].starts_with([' ', '\t']) {
            key = (line.trim().trim_end_matches(':'), i + 1);
        }
        if !line.contains("tarball") && !line.contains("repo:") {
            continue;
        }
        // Every mention of the fields must be one the scan reads.
        let mentions = line.matches("tarball").count() + line.matches("repo:").count();
        let mut read = 0;
        for (field, git) in [("tarball:", false), ("repo:", true)] {
            let Some(at) = line.find(field) else { continue };
            let before = line[..at].chars().last();
            if !matches!(before, None | Some(' ' | '{' | ',' | '\t')) {
                continue;
            }
            let rest = line[at + field.len()..].trim_start();
            let v = if rest.starts_with('"') || rest.starts_with('\'') {
                unquote_value(rest)
            } else {
                rest.split([',', '}'])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            };
            if v.is_empty() {
                // The value is on a later line (or in a block scalar).
                return false;
            }
            read += 1;
            let kind = if git {
                SourceKind::Git
            } else {
                locked_kind(&v)
            };
            let name = key
                .0
                .trim_matches(|c| c == '\'' || c == '"')
                .trim_start_matches('/');
            out.push(Source::new(kind, v, Origin::file(path, key.1), name));
        }
        if read != mentions {
            // `"tarball": …`, a field the scan did not take, a second one on
            // the line, the word inside a value: the YAML reader decides.
            return false;
        }
    }
    true
}

/// The YAML reader's view of `pnpm-lock.yaml` (every document):
/// `packages.<key>.resolution.{tarball, repo}`.
fn pnpm_lock_yaml(path: &Path, text: &str, out: &mut Vec<Source>) {
    let doc = yaml::parse(text);
    for (pkgs, _) in doc.get_all("packages") {
        for (key, kline, pkg) in pkgs.map_entries() {
            let name = key.trim_start_matches('/');
            for (res, rline) in pkg.get_all("resolution") {
                for (field, fline, v) in res.map_entries() {
                    let Some(v) = yaml::scalar(v).filter(|v| !v.is_empty()) else {
                        continue;
                    };
                    let kind = match field.as_str() {
                        "tarball" => locked_kind(v),
                        "repo" => SourceKind::Git,
                        _ => continue,
                    };
                    let line = [*fline, rline, *kline]
                        .into_iter()
                        .find(|l| *l > 0)
                        .unwrap_or(0);
                    out.push(Source::new(kind, v, Origin::file(path, line), name));
                }
            }
        }
    }
    if let Some((line, why)) = yaml::error(&doc) {
        // pnpm cannot read it either; what was read stands, and the file is
        // named so that an install from it is not taken as clean.
        out.push(Source::new(
            SourceKind::Locked,
            format!("unreadable pnpm-lock.yaml: {why}"),
            Origin::file(path, line),
            "",
        ));
    }
}

/// bun.lock: one `"key": ["name@resolution", "URL", {…}, "hash"]` per
/// line. Returns false on a layout it does not follow.
fn scan_bun_lock(path: &Path, text: &str, out: &mut Vec<Source>) -> bool {
    let mut in_packages = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if !in_packages {
            if t.starts_with("\"packages\"") {
                if !t.ends_with('{') {
                    return false;
                }
                in_packages = true;
            }
            continue;
        }
        if t.is_empty() || t.starts_with("//") {
            continue;
        }
        if t.starts_with('}') {
            in_packages = false;
            continue;
        }
        let Some(at) = t.find(": [") else {
            return false;
        };
        let arr = t[at + 3..].trim_start();
        let Some((first, used)) = yaml::quoted(arr) else {
            return false;
        };
        let rest = arr[used..].trim_start();
        let second = rest.strip_prefix(',').map(str::trim_start).and_then(|r| {
            if r.starts_with('"') {
                yaml::quoted(r).map(|(s, _)| s)
            } else {
                None
            }
        });
        let Some(cut) = first
            .char_indices()
            .skip(1)
            .find(|(_, c)| *c == '@')
            .map(|(i, _)| i)
        else {
            continue;
        };
        let (name, res) = (&first[..cut], &first[cut + 1..]);
        let lower = res.to_ascii_lowercase();
        let origin = Origin::file(path, i + 1);
        if lower.starts_with("workspace:") || lower.starts_with("root:") {
            continue;
        }
        if lower.starts_with("http://") || lower.starts_with("https://") {
            out.push(Source::new(locked_kind(res), res, origin, name));
        } else if let Some(kind) = super::npm::classify_spec(&format!("x@{res}"), Origin::Builtin)
            .map(|s| s.kind)
            .filter(|k| matches!(k, SourceKind::Git | SourceKind::Path))
        {
            out.push(Source::new(kind, res, origin, name));
        } else if let Some(url) = second.filter(|u| !u.is_empty()) {
            out.push(Source::new(locked_kind(&url), url, origin, name));
        }
    }
    true
}

/// Dependencies of the project's `package.json` that name something other
/// than a registry package (URLs, git, paths), with their lines. With
/// `resolutions`, yarn's field that replaces any dependency.
pub(super) fn manifest_sources(req: &Request<'_>, root: &Path, resolutions: bool) -> Vec<Source> {
    let path = root.join("package.json");
    let Some(text) = req.files.read(&path) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let mut fields = vec![
        "dependencies",
        "devDependencies",
        "optionalDependencies",
        "peerDependencies",
        "overrides",
    ];
    if resolutions {
        fields.push("resolutions");
    }
    let mut out = Vec::new();
    let mut maps: Vec<&serde_json::Map<String, serde_json::Value>> = fields
        .iter()
        .filter_map(|f| v.get(*f).and_then(|m| m.as_object()))
        .collect();
    if let Some(o) = v
        .get("pnpm")
        .and_then(|p| p.get("overrides"))
        .and_then(|m| m.as_object())
    {
        maps.push(o);
    }
    let mut stack = maps;
    let mut budget = 10_000usize;
    while let Some(m) = stack.pop() {
        for (name, spec) in m {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                return out;
            }
            match spec {
                serde_json::Value::String(s) => {
                    // `"x": "user/repo"` is GitHub shorthand there too.
                    let found =
                        if super::npm::github_shorthand(s) && !s.starts_with(['.', '~', '/']) {
                            Some(Source::new(
                                SourceKind::Git,
                                s.as_str(),
                                Origin::Builtin,
                                "",
                            ))
                        } else {
                            spec_source(&format!("x@{s}"), Origin::Builtin)
                        };
                    if let Some(mut src) = found {
                        src.origin = Origin::file(&path, line_of(&text, s));
                        src.subject = name.clone();
                        out.push(src);
                    }
                }
                // npm's nested overrides.
                serde_json::Value::Object(inner) => stack.push(inner),
                _ => {}
            }
        }
    }
    out
}

/// The first line on which the JSON string `value` appears (0 if not found).
fn line_of(text: &str, value: &str) -> usize {
    let needle = serde_json::to_string(value).unwrap_or_default();
    text.find(&needle)
        .map(|at| text[..at].matches('\n').count() + 1)
        .unwrap_or(0)
}

/// `publishConfig.registry` (and scoped ones) of the project's package.json.
pub(super) fn publish_config(req: &Request<'_>, root: &Path) -> Vec<Source> {
    let path = root.join("package.json");
    let Some(text) = req.files.read(&path) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(pc) = v.get("publishConfig").and_then(|p| p.as_object()) {
        for (k, val) in pc {
            if let (true, Some(s)) = (k == "registry" || k.ends_with(":registry"), val.as_str()) {
                out.push(Source::new(
                    SourceKind::Registry,
                    s,
                    Origin::file(&path, line_of(&text, s)),
                    format!("publishConfig.{k}"),
                ));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// YAML

pub(super) mod yaml {
    //! YAML for `.yarnrc.yml`, `pnpm-workspace.yaml` and pnpm's
    //! `config.yaml`, read with a YAML 1.2 parser (`saphyr-parser`) into a
    //! tree that keeps what a reader of registry settings needs and what a
    //! hostile file could hide behind: every duplicate key (all are
    //! reported), the line of every key and item, aliases expanded, merge
    //! keys (`<<: *base`) spliced into their map, tags dropped (`!!str x` is
    //! `x`). A file the parser rejects (or one nested or aliased beyond the
    //! limits) keeps what was read before the error and carries the error
    //! ([`error`]): callers report it, so a file pkgward cannot read never
    //! passes for one that sets nothing.
    use std::collections::HashMap;

    use saphyr_parser::{Event, Parser, ScalarStyle};

    /// A parsed node. Maps keep duplicate keys (all are reported).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Node {
        Null,
        Scalar(String),
        Map(Vec<(String, usize, Node)>),
        Seq(Vec<(usize, Node)>),
    }

    /// Collections nested deeper than this make the file unreadable.
    const MAX_DEPTH: usize = 64;
    /// At most this many nodes, aliases expanded (no "billion laughs").
    const MAX_NODES: usize = 1 << 20;
    /// The root key that carries a parse error (a key no reader asks for).
    const ERROR_KEY: &str = "\u{0}pkgward-yaml-error";

    impl Node {
        /// Every value of `key` (berry's `{onConflict, value}` wrapper is
        /// looked through), with its line.
        pub fn get_all(&self, key: &str) -> Vec<(&Node, usize)> {
            match self {
                Node::Map(m) => m
                    .iter()
                    .filter(|(k, _, _)| k == key)
                    .map(|(_, l, n)| (unwrap(n), *l))
                    .collect(),
                _ => Vec::new(),
            }
        }

        /// The entries of a map (empty for anything else).
        pub fn map_entries(&self) -> impl Iterator<Item = (&String, &usize, &Node)> {
            let m: &[(String, usize, Node)] = match unwrap(self) {
                Node::Map(m) => m,
                _ => &[],
            };
            m.iter()
                .filter(|(k, _, _)| k != ERROR_KEY)
                .map(|(k, l, n)| (k, l, unwrap(n)))
        }

        /// The items of a sequence (empty for anything else).
        pub fn seq_items(&self) -> impl Iterator<Item = (&Node, usize)> {
            let s: &[(usize, Node)] = match unwrap(self) {
                Node::Seq(s) => s,
                _ => &[],
            };
            s.iter().map(|(l, n)| (unwrap(n), *l))
        }

        fn size(&self) -> usize {
            match self {
                Node::Null | Node::Scalar(_) => 1,
                Node::Map(m) => 1 + m.iter().map(|(_, _, n)| n.size()).sum::<usize>(),
                Node::Seq(s) => 1 + s.iter().map(|(_, n)| n.size()).sum::<usize>(),
            }
        }
    }

    /// Berry's `{onConflict: …, value: …}`.
    fn unwrap(n: &Node) -> &Node {
        if let Node::Map(m) = n {
            if m.iter().any(|(k, _, _)| k == "onConflict") {
                if let Some((_, _, v)) = m.iter().find(|(k, _, _)| k == "value") {
                    return v;
                }
            }
        }
        n
    }

    pub fn scalar(n: &Node) -> Option<&str> {
        match unwrap(n) {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar or a sequence of scalars, with lines (`line` for a scalar).
    pub fn scalars(n: &Node, line: usize) -> Vec<(String, usize)> {
        match unwrap(n) {
            Node::Scalar(s) => vec![(s.clone(), line)],
            Node::Seq(items) => items
                .iter()
                .filter_map(|(l, i)| scalar(i).map(|s| (s.to_string(), *l)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Why the document could not be read to its end: (line, message).
    pub fn error(doc: &Node) -> Option<(usize, &str)> {
        match doc {
            Node::Map(m) => {
                m.iter()
                    .find(|(k, _, _)| k == ERROR_KEY)
                    .and_then(|(_, l, n)| match n {
                        Node::Scalar(s) => Some((*l, s.as_str())),
                        _ => None,
                    })
            }
            _ => None,
        }
    }

    enum Frame {
        Map {
            entries: Vec<(String, usize, Node)>,
            key: Option<(String, usize)>,
            anchor: usize,
            line: usize,
        },
        Seq {
            items: Vec<(usize, Node)>,
            anchor: usize,
            line: usize,
        },
    }

    struct Builder {
        stack: Vec<Frame>,
        root: Vec<(String, usize, Node)>,
        anchors: HashMap<usize, (Node, usize)>,
        nodes: usize,
    }

    impl Builder {
        /// Puts a finished value into the open collection (or the root).
        fn value(&mut self, node: Node, line: usize) {
            match self.stack.last_mut() {
                Some(Frame::Map { entries, key, .. }) => match key.take() {
                    None => {
                        let k = match &node {
                            Node::Scalar(s) => s.clone(),
                            Node::Null => String::new(),
                            // A complex key (`? [a, b]`): kept, unnamed.
                            _ => "?".to_string(),
                        };
                        *key = Some((k, line));
                    }
                    Some((k, kl)) => {
                        if k == "<<" {
                            // A merge key: its map(s) join this one.
                            match &node {
                                Node::Map(m) => entries.extend(m.iter().cloned()),
                                Node::Seq(s) => {
                                    for (_, n) in s {
                                        if let Node::Map(m) = n {
                                            entries.extend(m.iter().cloned());
                                        }
                                    }
                                }
                                _ => {}
                            }
                        }
                        entries.push((k, kl, node));
                    }
                },
                Some(Frame::Seq { items, .. }) => items.push((line, node)),
                None => {
                    // Several documents: their top-level maps are merged.
                    if let Node::Map(m) = node {
                        self.root.extend(m);
                    }
                }
            }
        }

        fn anchor(&mut self, id: usize, node: &Node) {
            if id != 0 {
                self.anchors.insert(id, (node.clone(), node.size()));
            }
        }

        /// Closes the innermost collection.
        fn close(&mut self) {
            let (node, anchor, line) = match self.stack.pop() {
                Some(Frame::Map {
                    mut entries,
                    key,
                    anchor,
                    line,
                }) => {
                    if let Some((k, kl)) = key {
                        entries.push((k, kl, Node::Null));
                    }
                    (Node::Map(entries), anchor, line)
                }
                Some(Frame::Seq {
                    items,
                    anchor,
                    line,
                }) => (Node::Seq(items), anchor, line),
                None => return,
            };
            self.anchor(anchor, &node);
            self.value(node, line);
        }

        fn event(&mut self, ev: Event<'_>, line: usize) -> Result<(), String> {
            match ev {
                Event::Scalar(v, style, anchor, _tag) => {
                    let null = style == ScalarStyle::Plain
                        && matches!(v.as_ref(), "" | "~" | "null" | "Null" | "NULL");
                    let node = if null {
                        Node::Null
                    } else {
                        Node::Scalar(v.into_owned())
                    };
                    self.count(1)?;
                    self.anchor(anchor, &node);
                    self.value(node, line);
                }
                Event::Alias(id) => {
                    let (node, size) = self
                        .anchors
                        .get(&id)
                        .cloned()
                        .ok_or("an alias names no anchor")?;
                    self.count(size)?;
                    self.value(node, line);
                }
                Event::SequenceStart(anchor, _) => {
                    self.open()?;
                    self.stack.push(Frame::Seq {
                        items: Vec::new(),
                        anchor,
                        line,
                    });
                }
                Event::MappingStart(anchor, _) => {
                    self.open()?;
                    self.stack.push(Frame::Map {
                        entries: Vec::new(),
                        key: None,
                        anchor,
                        line,
                    });
                }
                Event::SequenceEnd | Event::MappingEnd => self.close(),
                _ => {}
            }
            Ok(())
        }

        fn open(&mut self) -> Result<(), String> {
            self.count(1)?;
            if self.stack.len() >= MAX_DEPTH {
                return Err(format!("collections nested deeper than {MAX_DEPTH}"));
            }
            Ok(())
        }

        fn count(&mut self, n: usize) -> Result<(), String> {
            self.nodes = self.nodes.saturating_add(n);
            if self.nodes > MAX_NODES {
                return Err("aliases expand beyond pkgward's limit".into());
            }
            Ok(())
        }
    }

    /// Parses a document (or several: their top-level maps are merged) into
    /// a map; see the module comment for errors.
    pub fn parse(text: &str) -> Node {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut b = Builder {
            stack: Vec::new(),
            root: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
        };
        let mut error: Option<(usize, String)> = None;
        for ev in Parser::new_from_str(text) {
            match ev {
                Ok((ev, span)) => {
                    let line = span.start.line();
                    if let Err(e) = b.event(ev, line) {
                        error = Some((line, e));
                        break;
                    }
                }
                Err(e) => {
                    error = Some((e.marker().line(), e.info().to_string()));
                    break;
                }
            }
        }
        // Keep what was read before an error.
        while !b.stack.is_empty() {
            b.close();
        }
        let mut root = b.root;
        if let Some((line, e)) = error {
            root.push((ERROR_KEY.to_string(), line, Node::Scalar(e)));
        }
        Node::Map(root)
    }

    /// A quoted scalar at the start of `s`: (value, bytes used).
    pub fn quoted(s: &str) -> Option<(String, usize)> {
        let q = s.chars().next()?;
        let mut out = String::new();
        let mut it = s.char_indices().skip(1);
        while let Some((i, c)) = it.next() {
            if q == '\'' && c == '\'' {
                if s[i + 1..].starts_with('\'') {
                    out.push('\'');
                    it.next();
                    continue;
                }
                return Some((out, i + 1));
            }
            if q == '"' && c == '"' {
                return Some((out, i + 1));
            }
            if q == '"' && c == '\\' {
                match it.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, '0')) => out.push('\0'),
                    Some((j, 'u')) => {
                        let hex = s.get(j + 1..j + 5)?;
                        let c = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)?;
                        out.push(c);
                        for _ in 0..4 {
                            it.next();
                        }
                    }
                    Some((j, 'x')) => {
                        let hex = s.get(j + 1..j + 3)?;
                        let c = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)?;
                        out.push(c);
                        it.next();
                        it.next();
                    }
                    Some((_, other)) => out.push(other),
                    None => return None,
                }
                continue;
            }
            out.push(c);
        }
        None
    }
}

/// Helpers for the npm-family table tests.
#[cfg(test)]
pub(super) mod testkit {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::super::source::fake::{FakeEnv, FakeFiles};
    use super::super::{classify, force_mirror, Plan, Request, Source, SourceKind};
    use crate::tools::Tool;

    pub struct Case<'a> {
        pub tool: &'a str,
        pub args: &'a [&'a str],
        pub env: &'a [(&'a str, &'a str)],
        pub files: &'a [(&'a str, &'a str)],
        pub real: &'a str,
    }

    /// Package files that make the real tool's version known.
    pub const YARN1: (&str, &str) = (
        "/usr/lib/node_modules/yarn/package.json",
        r#"{"name":"yarn","version":"1.22.22"}"#,
    );
    pub const YARN1_BIN: &str = "/usr/lib/node_modules/yarn/bin/yarn.js";
    pub const BERRY: (&str, &str) = (
        "/opt/berry/node_modules/@yarnpkg/cli-dist/package.json",
        r#"{"name":"@yarnpkg/cli-dist","version":"4.18.1"}"#,
    );
    pub const BERRY_BIN: &str = "/opt/berry/node_modules/@yarnpkg/cli-dist/bin/yarn.js";
    pub const PNPM12: (&str, &str) = (
        "/usr/lib/node_modules/pnpm/package.json",
        r#"{"name":"pnpm","version":"12.21.0"}"#,
    );
    pub const PNPM12_BIN: &str = "/usr/lib/node_modules/pnpm/pnpm";
    pub const PNPM10: (&str, &str) = (
        "/opt/p10/node_modules/pnpm/package.json",
        r#"{"name":"pnpm","version":"10.34.9"}"#,
    );
    pub const PNPM10_BIN: &str = "/opt/p10/node_modules/pnpm/bin/pnpm.cjs";

    pub fn run(c: &Case<'_>) -> Vec<Source> {
        with_request(c, |req| classify(req).sources)
    }

    /// `f` of the request the case describes (cwd `/w/proj`, home `/home/u`).
    pub fn with_request<T>(c: &Case<'_>, f: impl FnOnce(&Request<'_>) -> T) -> T {
        let env = FakeEnv(
            c.env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let files = FakeFiles(
            c.files
                .iter()
                .map(|(p, t)| (PathBuf::from(p), t.to_string()))
                .collect::<BTreeMap<_, _>>(),
        );
        let args: Vec<String> = c.args.iter().map(|s| s.to_string()).collect();
        let req = Request {
            tool: Tool::by_name(c.tool).unwrap(),
            args: &args,
            env: &env,
            files: &files,
            cwd: Path::new("/w/proj"),
            home: Some(Path::new("/home/u")),
            real_tool: Some(Path::new(c.real)),
        };
        f(&req)
    }

    /// `want`: (kind, value, origin as displayed, overridable).
    pub fn check(c: &Case<'_>, want: &[(SourceKind, &str, &str, bool)]) -> Vec<Source> {
        let got = run(c);
        for (kind, value, origin, ov) in want {
            assert!(
                got.iter().any(|s| s.kind == *kind
                    && s.value == *value
                    && s.origin.to_string() == *origin
                    && s.overridable == *ov),
                "{} {:?}: want {kind:?} {value} from {origin} (overridable {ov})\n got {got:#?}",
                c.tool,
                c.args
            );
        }
        got
    }

    /// The source of `value` is not among `got`.
    pub fn absent(got: &[Source], value: &str) {
        assert!(
            !got.iter().any(|s| s.value == value),
            "{value} should not be a source: {got:#?}"
        );
    }

    pub fn plan(tool: &str, args: &[&str], sources: &[Source]) -> Plan {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        force_mirror(
            Tool::by_name(tool).unwrap(),
            &args,
            "https://mirror.example.com/npm/",
            sources,
            &mut |s: &Source| s.value.starts_with("https://mirror.example.com/"),
        )
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;
    use SourceKind::*;

    const BUILTIN: &str = "the tool's built-in default";

    fn classic<'a>(
        args: &'a [&'a str],
        env: &'a [(&'a str, &'a str)],
        files: &'a [(&'a str, &'a str)],
    ) -> Case<'a> {
        Case {
            tool: "yarn",
            args,
            env,
            files,
            real: YARN1_BIN,
        }
    }

    #[test]
    fn verbs() {
        let cases: &[(&[&str], Verb)] = &[
            (&[], Verb::Install),
            (&["--frozen-lockfile"], Verb::Install),
            (&["add", "x"], Verb::Install),
            (&["--cwd", "sub", "add", "x"], Verb::Install),
            (&["global", "add", "x"], Verb::Install),
            (&["global", "bin"], Verb::Other),
            (&["workspace", "a", "add", "x"], Verb::Install),
            (&["workspace", "a", "build"], Verb::Other),
            (&["workspaces", "focus"], Verb::Install),
            (&["up"], Verb::Install),
            (&["rebuild"], Verb::Install),
            (&["unplug", "x"], Verb::Install),
            (&["dlx", "cowsay"], Verb::Execute),
            (&["create", "react-app"], Verb::Execute),
            (&["npm", "publish"], Verb::Publish),
            (&["publish"], Verb::Publish),
            (&["set", "version", "stable"], Verb::Install),
            (&["run", "build"], Verb::Other),
            (&["build"], Verb::Other),
            (&["--version"], Verb::Other),
            (&["--frozen-lockfile", "--verbose"], Verb::Install),
        ];
        for (args, want) in cases {
            let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert_eq!(verb(&a), *want, "{args:?}");
        }
    }

    #[test]
    fn classic_registry_precedence() {
        // yarn's default.
        let got = check(
            &classic(&["add", "x"], &[], &[YARN1]),
            &[(Registry, "builtin", BUILTIN, true)],
        );
        assert!(
            !got.iter().any(|s| s.subject == "npmRegistryServer"),
            "{got:#?}"
        );
        // .yarnrc alone.
        check(
            &classic(
                &["add", "x"],
                &[],
                &[
                    YARN1,
                    ("/w/proj/.yarnrc", "# c\nregistry \"http://a.test/\"\n"),
                ],
            ),
            &[(Registry, "http://a.test/", "/w/proj/.yarnrc:2", true)],
        );
        // .npmrc beats .yarnrc; YARN_REGISTRY beats .npmrc; npm_config_registry beats both.
        let files = [
            YARN1,
            ("/w/proj/.yarnrc", "registry \"http://a.test/\"\n"),
            ("/w/proj/.npmrc", "registry=http://b.test/\n"),
        ];
        let got = check(
            &classic(&["add", "x"], &[], &files),
            &[(Registry, "http://b.test/", "/w/proj/.npmrc:1", true)],
        );
        absent(&got, "http://a.test/");
        let got = check(
            &classic(
                &["add", "x"],
                &[("YARN_REGISTRY", "http://c.test/")],
                &files,
            ),
            &[(
                Registry,
                "http://c.test/",
                "the environment variable YARN_REGISTRY",
                true,
            )],
        );
        absent(&got, "http://b.test/");
        check(
            &classic(
                &["add", "x"],
                &[
                    ("YARN_REGISTRY", "http://c.test/"),
                    ("NPM_CONFIG_REGISTRY", "http://d.test/"),
                ],
                &files,
            ),
            &[(
                Registry,
                "http://d.test/",
                "the environment variable NPM_CONFIG_REGISTRY",
                true,
            )],
        );
        // The command line beats everything, and is not overridable.
        let got = check(
            &classic(
                &["add", "x", "--registry=http://e.test/"],
                &[("npm_config_registry", "http://d.test/")],
                &files,
            ),
            &[(
                Registry,
                "http://e.test/",
                "the command-line flag --registry",
                false,
            )],
        );
        absent(&got, "http://d.test/");
    }

    #[test]
    fn classic_files_around_the_project() {
        // The project root is the nearest package.json; ancestors' .npmrc count.
        check(
            &Case {
                tool: "yarn",
                args: &["add", "x"],
                env: &[],
                files: &[
                    YARN1,
                    ("/w/proj/package.json", "{}"),
                    ("/w/.npmrc", "registry=http://f.test/\n"),
                ],
                real: YARN1_BIN,
            },
            &[(Registry, "http://f.test/", "/w/.npmrc:1", true)],
        );
        check(
            &classic(
                &["add", "x"],
                &[],
                &[YARN1, ("/home/u/.yarnrc", "registry: \"http://g.test/\"\n")],
            ),
            &[(Registry, "http://g.test/", "/home/u/.yarnrc:1", true)],
        );
        check(
            &classic(
                &["add", "x"],
                &[("npm_config_userconfig", "/etc/alt-npmrc")],
                &[
                    YARN1,
                    ("/etc/alt-npmrc", "registry=http://h.test/\n"),
                    ("/home/u/.npmrc", "registry=http://i.test/\n"),
                ],
            ),
            &[(Registry, "http://h.test/", "/etc/alt-npmrc:1", true)],
        );
        check(
            &classic(
                &["add", "x", "--use-yarnrc", "/etc/alt-yarnrc"],
                &[],
                &[YARN1, ("/etc/alt-yarnrc", "registry \"http://j.test/\"\n")],
            ),
            &[(Registry, "http://j.test/", "/etc/alt-yarnrc:1", true)],
        );
        // --no-default-rc: project files are not read.
        let got = run(&classic(
            &["--no-default-rc", "add", "x"],
            &[],
            &[YARN1, ("/w/proj/.npmrc", "registry=http://b.test/\n")],
        ));
        absent(&got, "http://b.test/");
        // Global prefix npmrc, from where yarn is installed.
        check(
            &classic(
                &["add", "x"],
                &[],
                &[YARN1, ("/usr/etc/npmrc", "registry=http://k.test/\n")],
            ),
            &[(Registry, "http://k.test/", "/usr/etc/npmrc:1", true)],
        );
    }

    #[test]
    fn classic_rc_flags_scopes_and_yarn_path() {
        // A `--registry` key becomes a flag, overridden by an inserted one.
        let got = check(
            &classic(
                &["add", "x"],
                &[("npm_config_registry", "http://d.test/")],
                &[YARN1, ("/w/.yarnrc", "--registry \"http://l.test/\"\n")],
            ),
            &[(Registry, "http://l.test/", "/w/.yarnrc:1", true)],
        );
        let p = plan("yarn", &["add", "x"], &got);
        assert_eq!(
            p.insert_args,
            vec!["--registry", "https://mirror.example.com/npm/"]
        );
        check(
            &classic(
                &["install"],
                &[],
                &[
                    YARN1,
                    (
                        "/w/proj/.yarnrc.yml",
                        "\"--install.registry\": http://m.test/\n",
                    ),
                ],
            ),
            &[(Registry, "http://m.test/", "/w/proj/.yarnrc.yml:1", true)],
        );
        // Scopes from .npmrc and .yarnrc.
        check(
            &classic(
                &["add", "@a/x"],
                &[],
                &[
                    YARN1,
                    ("/w/proj/.npmrc", "@a:registry=http://n.test/\n"),
                    ("/w/proj/.yarnrc", "\"@b:registry\" \"http://o.test/\"\n"),
                ],
            ),
            &[
                (ScopeRegistry, "http://n.test/", "/w/proj/.npmrc:1", true),
                (ScopeRegistry, "http://o.test/", "/w/proj/.yarnrc:1", true),
            ],
        );
        // yarn-path anywhere in the rc chain, unless YARN_IGNORE_PATH.
        let files = [
            YARN1,
            ("/w/.yarnrc.yml", "yarnPath: .yarn/releases/yarn-4.cjs\n"),
        ];
        check(
            &classic(&["install"], &[], &files),
            &[(
                Executable,
                ".yarn/releases/yarn-4.cjs",
                "/w/.yarnrc.yml:1",
                false,
            )],
        );
        let got = run(&classic(&["install"], &[("YARN_IGNORE_PATH", "1")], &files));
        absent(&got, ".yarn/releases/yarn-4.cjs");
        check(
            &classic(
                &["--version"],
                &[("YARN_CONFIG", "/etc/y")],
                &[YARN1, ("/etc/y", "yarn-path \"/tmp/x.js\"\n")],
            ),
            &[(Executable, "/tmp/x.js", "/etc/y:1", false)],
        );
        check(
            &classic(
                &["add", "x"],
                &[],
                &[YARN1, ("/w/proj/.npmrc", "strict-ssl=false\n")],
            ),
            &[(Insecure, "false", "/w/proj/.npmrc:1", false)],
        );
    }

    #[test]
    fn classic_specs_lockfile_manifest() {
        let lock = "# yarn lockfile v1\n\n\nleft-pad@^1.3.0:\n  version \"1.3.0\"\n  resolved \"http://p.test/left-pad/-/left-pad-1.3.0.tgz#5b2a2d5f2b1b7c1f1c0e7f9a6b8c2e0d4f6a8b0c\"\n  integrity sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQEHCHm+lr0nt7ZW2Nu8kCQ6RQpnS0N+jqvLDM5B4FZ3uHcw==\n\ngitdep@github:u/r:\n  version \"1.0.0\"\n  resolved \"https://codeload.example.com/u/r/tar.gz/abc\"\n";
        let got = check(
            &classic(
                &["add", "https://q.test/x.tgz", "github:u/r", "file:../local", "plain@^1"],
                &[],
                &[
                    YARN1,
                    ("/w/proj/package.json", "{\n  \"dependencies\": {\n    \"a\": \"^1.0.0\",\n    \"b\": \"git+https://r.test/b.git\"\n  }\n}\n"),
                    ("/w/proj/yarn.lock", lock),
                ],
            ),
            &[
                (Direct, "https://q.test/x.tgz", "the command-line argument `https://q.test/x.tgz`", false),
                (Git, "github:u/r", "the command-line argument `github:u/r`", false),
                (Path, "file:../local", "the command-line argument `file:../local`", false),
                (Locked, "http://p.test/left-pad/-/left-pad-1.3.0.tgz", "/w/proj/yarn.lock:4", false),
                (Git, "git+https://r.test/b.git", "/w/proj/package.json:4", false),
            ],
        );
        absent(&got, "^1.0.0");
    }

    fn berry<'a>(
        args: &'a [&'a str],
        env: &'a [(&'a str, &'a str)],
        files: &'a [(&'a str, &'a str)],
    ) -> Case<'a> {
        Case {
            tool: "yarn",
            args,
            env,
            files,
            real: BERRY_BIN,
        }
    }

    /// Exotic YAML a hostile `.yarnrc.yml` could use to set the registry
    /// unseen by a naive reader: each must be found (or the file reported
    /// as unreadable, which is denied too).
    #[test]
    fn hostile_yarnrc_yml_forms_are_detected() {
        const EVIL: &str = "https://evil.test/";
        let cases: &[(&str, &str)] = &[
            ("plain", "npmRegistryServer: https://evil.test/\n"),
            ("alias of a scalar anchor", "base: &r https://evil.test/\nnpmRegistryServer: *r\n"),
            ("anchor on the value itself", "npmRegistryServer: &r https://evil.test/\n"),
            ("core tag", "npmRegistryServer: !!str https://evil.test/\n"),
            ("local tag", "npmRegistryServer: !x https://evil.test/\n"),
            ("tag and anchor", "npmRegistryServer: !!str &a https://evil.test/\n"),
            ("top-level flow map over lines", "{nodeLinker: pnp,\n  npmRegistryServer:\n    \"https://evil.test/\"}\n"),
            ("folded block scalar", "npmRegistryServer: >-\n  https://evil.test/\n"),
            ("literal block scalar, stripped", "npmRegistryServer: |-\n  https://evil.test/\n"),
            ("value on the next line", "npmRegistryServer:\n  https://evil.test/\n"),
            ("double-quoted key", "\"npmRegistryServer\": https://evil.test/\n"),
            ("single-quoted key", "'npmRegistryServer': https://evil.test/\n"),
            ("escaped key", "\"npm\\x52egistryServer\": https://evil.test/\n"),
            ("unicode-escaped key", "\"\\u006epmRegistryServer\": https://evil.test/\n"),
            ("escaped value", "npmRegistryServer: \"https://\\x65vil.test/\"\n"),
            ("quoted value split over lines", "npmRegistryServer: \"https://evil\\\n  .test/\"\n"),
            ("duplicate key, evil second", "npmRegistryServer: https://ok.test/\nnpmRegistryServer: https://evil.test/\n"),
            ("duplicate key, evil first", "npmRegistryServer: https://evil.test/\nnpmRegistryServer: https://ok.test/\n"),
            ("merge key, flow map", "<<: {npmRegistryServer: https://evil.test/}\n"),
            ("merge key, alias", "defaults: &d\n  npmRegistryServer: https://evil.test/\n<<: *d\n"),
            ("merge key, list of aliases", "a: &a {x: 1}\nb: &b {npmRegistryServer: https://evil.test/}\n<<: [*a, *b]\n"),
            ("explicit key", "? npmRegistryServer\n: https://evil.test/\n"),
            ("second document", "nodeLinker: pnp\n---\nnpmRegistryServer: https://evil.test/\n"),
            ("document markers and directive", "%YAML 1.2\n---\nnpmRegistryServer: https://evil.test/\n...\n"),
            ("byte order mark", "\u{feff}npmRegistryServer: https://evil.test/\n"),
            ("hash inside a plain scalar", "npmRegistryServer: https://evil.test/#x\n"),
            ("berry onConflict wrapper", "npmRegistryServer:\n  onConflict: reset\n  value: https://evil.test/\n"),
            ("crlf line ends", "nodeLinker: pnp\r\nnpmRegistryServer: https://evil.test/\r\n"),
            ("tab after the colon", "npmRegistryServer:\thttps://evil.test/\n"),
            ("flow map value, then garbage", "npmRegistryServer: https://evil.test/\nx: [\n"),
            ("syntax error before the key", "x: [\nnpmRegistryServer: https://evil.test/\n"),
            ("bad indentation", "nodeLinker: pnp\n  npmRegistryServer: https://evil.test/\n"),
            ("undefined alias", "npmRegistryServer: *nowhere\n"),
            ("nested too deep", &format!("x: {}{}\nnpmRegistryServer: https://evil.test/\n", "[".repeat(100), "]".repeat(100))),
            ("alias bomb", "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nnpmRegistryServer: https://evil.test/\n"),
        ];
        for (name, text) in cases {
            let files = [BERRY, ("/w/proj/.yarnrc.yml", *text)];
            let got = run(&berry(&["add", "x"], &[], &files));
            let found = got.iter().any(|s| {
                (s.kind == Registry && s.value.starts_with(EVIL))
                    || (s.kind == Insecure && s.subject == crate::classify::source::UNREADABLE)
            });
            assert!(found, "{name}: {text:?} not detected: {got:#?}");
            // And the decision layer denies it.
            let r = crate::decide::registries::check(
                &got,
                &["https://ok.test/".to_string()],
                &mut crate::builtin::Resolved::default,
            );
            assert!(!r.is_empty(), "{name}: not denied");
        }
        // An unreadable file names its line and the parser's reason.
        let got = run(&berry(
            &["add", "x"],
            &[],
            &[BERRY, ("/w/proj/.yarnrc.yml", "a: 1\nb: [\n")],
        ));
        let u = got
            .iter()
            .find(|s| s.subject == crate::classify::source::UNREADABLE)
            .unwrap();
        assert!(
            u.origin.to_string().starts_with("/w/proj/.yarnrc.yml:"),
            "{u:?}"
        );
        // A well-formed file with no registry: nothing reported as unreadable.
        let got = run(&berry(
            &["add", "x"],
            &[],
            &[
                BERRY,
                (
                    "/w/proj/.yarnrc.yml",
                    "nodeLinker: node-modules\n# c\nenableTelemetry: false\n",
                ),
            ],
        ));
        assert!(!got.iter().any(|s| s.kind == Insecure), "{got:#?}");
    }

    #[test]
    fn yaml_lines_follow_keys() {
        let doc = yaml::parse("a: 1\n\n? b\n: 2\n{c: 3,\n d: 4}\n");
        assert_eq!(doc.get_all("a")[0].1, 1);
        assert_eq!(doc.get_all("b")[0].1, 3);
        let doc = yaml::parse("x:\n  - p\n  -   q\ny: [r,\n  s]\n");
        assert_eq!(
            yaml::scalars(doc.get_all("x")[0].0, 0),
            vec![("p".to_string(), 2), ("q".to_string(), 3)]
        );
        assert_eq!(
            yaml::scalars(doc.get_all("y")[0].0, 0),
            vec![("r".to_string(), 4), ("s".to_string(), 5)]
        );
        assert!(yaml::error(&doc).is_none());
    }

    #[test]
    fn berry_settings() {
        let got = check(
            &berry(
                &["add", "x"],
                &[],
                &[BERRY, ("/w/proj/.npmrc", "registry=http://b.test/\n")],
            ),
            &[(Registry, "builtin", BUILTIN, true)],
        );
        absent(&got, "http://b.test/");
        // Closest rc file wins; home is last; the environment beats files.
        let files = [
            BERRY,
            (
                "/w/proj/.yarnrc.yml",
                "npmRegistryServer: \"http://a.test/\"\n",
            ),
            ("/w/.yarnrc.yml", "npmRegistryServer: http://c.test/\n"),
            ("/home/u/.yarnrc.yml", "npmRegistryServer: http://d.test/\n"),
        ];
        let got = check(
            &berry(&["add", "x"], &[], &files),
            &[(Registry, "http://a.test/", "/w/proj/.yarnrc.yml:1", true)],
        );
        absent(&got, "http://c.test/");
        check(
            &berry(&["add", "x"], &[], &files[2..]),
            &[(Registry, "http://c.test/", "/w/.yarnrc.yml:1", true)],
        );
        check(
            &berry(&["add", "x"], &[], &[BERRY, files[3]]),
            &[(Registry, "http://d.test/", "/home/u/.yarnrc.yml:1", true)],
        );
        let got = check(
            &berry(
                &["add", "x"],
                &[("yarn_npm_registry_server", "http://e.test/")],
                &files,
            ),
            &[(
                Registry,
                "http://e.test/",
                "the environment variable yarn_npm_registry_server",
                true,
            )],
        );
        absent(&got, "http://a.test/");
        let p = plan("yarn", &["add", "x"], &got);
        assert!(p
            .env
            .iter()
            .any(|(k, v)| k == "yarn_npm_registry_server" && v.starts_with("https://mirror")));
        // YARN_RC_FILENAME renames the files.
        check(
            &berry(
                &["add", "x"],
                &[("YARN_RC_FILENAME", "evil.yml")],
                &[
                    BERRY,
                    ("/w/proj/evil.yml", "npmRegistryServer: http://f.test/\n"),
                ],
            ),
            &[(Registry, "http://f.test/", "/w/proj/evil.yml:1", true)],
        );
    }

    #[test]
    fn berry_scopes_and_modifiers() {
        let rc = "npmScopes:\n  acme:\n    npmRegistryServer: \"http://g.test/\"\n  other:\n    npmAlwaysAuth: true\nunsafeHttpWhitelist:\n  - \"*.evil.test\"\n  - 127.0.0.1\n  - localhost\nenableStrictSsl: false\nyarnPath: .yarn/releases/yarn-4.cjs\nplugins:\n  - path: .yarn/plugins/p.cjs\n    spec: \"https://h.test/p.js\"\n  - .yarn/plugins/q.cjs\npackageExtensions:\n  \"left-pad@*\":\n    dependencies:\n      evil: \"https://i.test/e.tgz\"\n";
        let got = check(
            &berry(&["install"], &[], &[BERRY, ("/w/proj/.yarnrc.yml", rc)]),
            &[
                (
                    ScopeRegistry,
                    "http://g.test/",
                    "/w/proj/.yarnrc.yml:3",
                    false,
                ),
                (Insecure, "*.evil.test", "/w/proj/.yarnrc.yml:7", false),
                (Insecure, "false", "/w/proj/.yarnrc.yml:10", false),
                (
                    Executable,
                    ".yarn/releases/yarn-4.cjs",
                    "/w/proj/.yarnrc.yml:11",
                    false,
                ),
                (
                    Executable,
                    ".yarn/plugins/p.cjs",
                    "/w/proj/.yarnrc.yml:13",
                    false,
                ),
                (
                    Direct,
                    "https://h.test/p.js",
                    "/w/proj/.yarnrc.yml:13",
                    false,
                ),
                (
                    Executable,
                    ".yarn/plugins/q.cjs",
                    "/w/proj/.yarnrc.yml:15",
                    false,
                ),
                (
                    Direct,
                    "https://i.test/e.tgz",
                    "/w/proj/.yarnrc.yml:19",
                    false,
                ),
            ],
        );
        absent(&got, "127.0.0.1");
        absent(&got, "localhost");
        let p = plan("yarn", &["install"], &got);
        assert!(p.remaining.iter().any(|s| s.value == "http://g.test/"));
        // Environment settings.
        let got = check(
            &berry(
                &["install"],
                &[
                    ("YARN_UNSAFE_HTTP_WHITELIST", "evil.test,127.0.0.1"),
                    ("YARN_YARN_PATH", "/tmp/y.cjs"),
                    ("YARN_PLUGINS", "/tmp/p.cjs"),
                ],
                &[BERRY],
            ),
            &[
                (
                    Insecure,
                    "evil.test",
                    "the environment variable YARN_UNSAFE_HTTP_WHITELIST",
                    false,
                ),
                (
                    Executable,
                    "/tmp/y.cjs",
                    "the environment variable YARN_YARN_PATH",
                    false,
                ),
                (
                    Executable,
                    "/tmp/p.cjs",
                    "the environment variable YARN_PLUGINS",
                    false,
                ),
            ],
        );
        absent(&got, "127.0.0.1");
        let got = run(&berry(
            &["install"],
            &[("YARN_YARN_PATH", "/tmp/y.cjs"), ("YARN_IGNORE_PATH", "1")],
            &[BERRY],
        ));
        absent(&got, "/tmp/y.cjs");
    }

    #[test]
    fn berry_lockfile_urls() {
        let lock = "__metadata:\n  version: 8\n  cacheKey: 10c0\n\n\"left-pad@npm:^1.3.0\":\n  version: 1.3.0\n  resolution: \"left-pad@npm:1.3.0::__archiveUrl=http%3A%2F%2Fj.test%2Fleft-pad-1.3.0.tgz\"\n  languageName: node\n  linkType: hard\n\n\"ok@npm:^1.0.0\":\n  version: 1.0.0\n  resolution: \"ok@npm:1.0.0\"\n  languageName: node\n  linkType: hard\n";
        let got = check(
            &berry(
                &["install"],
                &[],
                &[
                    BERRY,
                    ("/w/proj/package.json", "{}"),
                    ("/w/proj/yarn.lock", lock),
                ],
            ),
            &[(
                Locked,
                "http://j.test/left-pad-1.3.0.tgz",
                "/w/proj/yarn.lock:5",
                false,
            )],
        );
        assert_eq!(
            got.iter().filter(|s| s.kind == Locked).count(),
            1,
            "{got:#?}"
        );
    }

    #[test]
    fn unknown_yarn_uses_the_project_pin_or_both() {
        let corepack = "/usr/lib/node_modules/corepack/shims/yarn";
        let files = [
            (
                "/w/proj/package.json",
                "{\"packageManager\": \"yarn@4.18.1\"}",
            ),
            ("/w/proj/.npmrc", "registry=http://b.test/\n"),
            ("/w/proj/.yarnrc.yml", "npmRegistryServer: http://a.test/\n"),
        ];
        let case = |files| Case {
            tool: "yarn",
            args: &["install"],
            env: &[],
            files,
            real: corepack,
        };
        let got = check(
            &case(&files),
            &[(Registry, "http://a.test/", "/w/proj/.yarnrc.yml:1", true)],
        );
        absent(&got, "http://b.test/");
        let got = check(
            &case(&files[1..]),
            &[
                (Registry, "http://a.test/", "/w/proj/.yarnrc.yml:1", true),
                (Registry, "http://b.test/", "/w/proj/.npmrc:1", true),
            ],
        );
        let p = plan("yarn", &["install"], &got);
        assert!(p.remaining.is_empty(), "{:#?}", p.remaining);
    }

    #[test]
    fn arguments_of_scripts_are_not_yarns() {
        for args in [
            &["run", "build", "--registry", "http://x.test/"][..],
            &["build", "--registry", "http://x.test/"],
            &["node", "script.js", "--registry", "http://x.test/"],
            &["dlx", "cowsay", "--registry", "http://x.test/"],
        ] {
            let got = run(&classic(args, &[], &[YARN1]));
            absent(&got, "http://x.test/");
        }
        check(
            &classic(&["--registry", "http://x.test/", "build"], &[], &[YARN1]),
            &[(
                Registry,
                "http://x.test/",
                "the command-line flag --registry",
                false,
            )],
        );
        check(
            &classic(
                &["run", "--registry", "http://x.test/", "build"],
                &[],
                &[YARN1],
            ),
            &[(
                Registry,
                "http://x.test/",
                "the command-line flag --registry",
                false,
            )],
        );
    }

    #[test]
    fn force_classic_scope_and_env() {
        let got = run(&classic(
            &["add", "@a/x", "https://q.test/x.tgz"],
            &[("NPM_CONFIG_@a:registry", "http://n.test/")],
            &[
                YARN1,
                (
                    "/w/proj/yarn.lock",
                    "x@1:\n  resolved \"http://p.test/x.tgz\"\n",
                ),
            ],
        ));
        let p = plan("yarn", &["add", "@a/x"], &got);
        for var in [
            "npm_config_registry",
            "YARN_REGISTRY",
            "YARN_NPM_REGISTRY_SERVER",
            "npm_config_@a:registry",
            "NPM_CONFIG_@a:registry",
        ] {
            assert!(p.env.iter().any(|(k, _)| k == var), "{var}: {:?}", p.env);
        }
        assert!(p.insert_args.is_empty());
        assert!(p
            .remaining
            .iter()
            .any(|s| s.value == "https://q.test/x.tgz"));
        assert!(p.remaining.iter().any(|s| s.value == "http://p.test/x.tgz"));
    }

    /// pnpm reads its lockfile as YAML: a resolution in any spelling YAML
    /// allows is found, not only in the layout pnpm writes.
    #[test]
    fn pnpm_lock_resolutions_in_any_yaml_form() {
        let canonical = "lockfileVersion: '9.0'\n\npackages:\n\n  x@1.0.0:\n    resolution: {integrity: sha512-AA==, tarball: http://evil.test/x.tgz}\n\n  '@s/g@1.0.0':\n    resolution:\n      type: git\n      repo: https://evil.test/g.git\n      commit: abc\n";
        let hidden: &[&str] = &[
            canonical,
            "lockfileVersion: '9.0'\npackages: {'x@1.0.0': {resolution: {tarball: http://evil.test/x.tgz}}}\n",
            "lockfileVersion: '9.0'\n\"packages\":\n  x@1.0.0:\n    resolution: {tarball: http://evil.test/x.tgz}\n",
            "packages:   # the packages\n  x@1.0.0:\n    resolution: {tarball: http://evil.test/x.tgz}\n",
            "packages:\n  x@1.0.0:\n    resolution: {\"tarball\": http://evil.test/x.tgz}\n",
            "packages:\n  x@1.0.0:\n    resolution: {\"tar\\x62all\": http://evil.test/x.tgz}\n",
            "settings:\n  r: &r {tarball: http://evil.test/x.tgz}\npackages:\n  x@1.0.0:\n    resolution: *r\n",
            "settings:\n  r: &r {tarball: http://evil.test/x.tgz}\npackages:\n  x@1.0.0:\n    resolution: {<<: *r}\n",
            "packages:\n  x@1.0.0:\n    resolution:\n      tarball:\n        http://evil.test/x.tgz\n",
            "packages:\n  x@1.0.0:\n    resolution:\n      tarball: |-\n        http://evil.test/x.tgz\n",
            "packages:\n  x@1.0.0:\n    resolution:\n      tarball: !!str http://evil.test/x.tgz\n",
            "packages:\n  x@1.0.0:\n    resolution:\n      ? tarball\n      : http://evil.test/x.tgz\n",
            "importers: {}\n---\npackages:\n  x@1.0.0:\n    resolution: {tarball: http://evil.test/x.tgz}\n",
        ];
        for text in hidden {
            let mut out = Vec::new();
            scan_pnpm_lock(std::path::Path::new("/w/pnpm-lock.yaml"), text, &mut out);
            assert!(
                out.iter()
                    .any(|s| s.value == "http://evil.test/x.tgz" && s.kind == SourceKind::Locked),
                "{text}: {out:?}"
            );
        }
        // The layout pnpm writes stays on the line scan, with its lines.
        let mut out = Vec::new();
        assert!(scan_pnpm_lock_lines(
            std::path::Path::new("/w/pnpm-lock.yaml"),
            canonical,
            &mut out
        ));
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[1].kind, SourceKind::Git);
        assert_eq!(out[1].origin.to_string(), "/w/pnpm-lock.yaml:8");
        // A file YAML cannot read is not a clean one.
        let mut out = Vec::new();
        scan_pnpm_lock(
            std::path::Path::new("/w/pnpm-lock.yaml"),
            "packages: {x: [\n",
            &mut out,
        );
        assert!(
            out.iter()
                .any(|s| s.value.starts_with("unreadable pnpm-lock.yaml")),
            "{out:?}"
        );
    }

    /// Berry reads yarn.lock as YAML too: a URL resolution in any YAML
    /// spelling is found.
    #[test]
    fn berry_lock_resolutions_in_any_yaml_form() {
        let meta = "__metadata:\n  version: 8\n  cacheKey: 10c0\n\n";
        let canonical = format!("{meta}\"left-pad@npm:>=1.0.0, left-pad@https://evil.test/lp.tgz\":\n  version: 1.3.0\n  resolution: \"left-pad@https://evil.test/lp.tgz\"\n  languageName: node\n  linkType: hard\n");
        let hidden = [
            canonical.clone(),
            format!("{meta}\"lp@https://evil.test/lp.tgz\": {{version: 1.0.0, resolution: \"lp@https://evil.test/lp.tgz\"}}\n"),
            format!("{meta}\"lp@x\":\n  \"resolution\": \"lp@https://evil.test/lp.tgz\"\n"),
            format!("{meta}\"lp@x\":\n  resolution:\n    \"lp@https://evil.test/lp.tgz\"\n"),
            format!("{meta}\"a@x\": &a\n  resolution: \"lp@https://evil.test/lp.tgz\"\n\"lp@x\": *a\n"),
            format!("{meta}\"lp@x\":\n  resolution: !!str lp@https://evil.test/lp.tgz\n"),
            "{__metadata: {version: 8}, \"lp@x\": {resolution: \"lp@https://evil.test/lp.tgz\"}}\n".to_string(),
        ];
        for text in &hidden {
            let mut out = Vec::new();
            scan_yarn_lock(std::path::Path::new("/w/yarn.lock"), text, &mut out);
            assert!(
                out.iter().any(|s| s.value.contains("evil.test/lp.tgz")),
                "{text}: {out:?}"
            );
        }
        // The layout berry writes (a `>=` range in a quoted key included)
        // stays on the line scan.
        let mut out = Vec::new();
        assert!(scan_yarn_lock_lines(
            std::path::Path::new("/w/yarn.lock"),
            &canonical,
            &mut out
        ));
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].origin.to_string(), "/w/yarn.lock:5");
    }

    #[test]
    fn yaml_subset() {
        let doc = yaml::parse(
            "# c\na: 1 # trailing\n\"b c\": 'it''s'\nd:\n  - x\n  - \"y#z\"\ne: [1, \"two\", {k: v}]\nf: {url: \"http://u.test/:x\", n: 2}\nhttp://k.test/:\n  scopes: [\"@\"]\ng: |\n  line1\n  line2\nh:\n- p\n- q\ni: plain\n  continued\nj: &anchor val\n",
        );
        let s = |k: &str| yaml::scalar(doc.get_all(k)[0].0).map(str::to_string);
        assert_eq!(s("a").as_deref(), Some("1"));
        assert_eq!(s("b c").as_deref(), Some("it's"));
        assert_eq!(
            yaml::scalars(doc.get_all("d")[0].0, 0),
            vec![("x".to_string(), 5), ("y#z".to_string(), 6)]
        );
        assert_eq!(yaml::scalars(doc.get_all("e")[0].0, 0).len(), 2);
        let f = doc.get_all("f")[0].0;
        assert_eq!(
            yaml::scalar(f.get_all("url")[0].0),
            Some("http://u.test/:x")
        );
        assert_eq!(f.get_all("url")[0].1, 8);
        let k = doc.get_all("http://k.test/")[0].0;
        assert_eq!(yaml::scalars(k.get_all("scopes")[0].0, 0)[0].0, "@");
        assert_eq!(s("g").as_deref(), Some("line1\nline2\n"));
        assert_eq!(yaml::scalars(doc.get_all("h")[0].0, 0).len(), 2);
        assert_eq!(s("i").as_deref(), Some("plain continued"));
        assert_eq!(s("j").as_deref(), Some("val"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        #[test]
        fn readers_never_panic(t in "[a-z@:/\"'#{}\\[\\],\\-=|>&!\\\\ \\n\\t%0-9.$\u{e9}]{0,200}") {
            let _ = yaml::parse(&t);
            let _ = yarnrc_entries(&t);
            let _ = berry_locator(&t, 0);
            let _ = spec_source(&t, Origin::Builtin);
            let mut out = Vec::new();
            let p = std::path::Path::new("/x");
            scan_yarn_lock(p, &t, &mut out);
            scan_pnpm_lock(p, &t, &mut out);
            let _ = scan_bun_lock(p, &t, &mut out);
        }
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let nasty = [
            "",
            "\u{feff}",
            ":",
            "- - - -",
            "a: [",
            "a: {",
            "a: \"unterminated",
            "a: '\\u12'",
            "a: \"\\u12\"",
            "a: \"\\uD800\"",
            "\"",
            "'",
            "a:\n\tb: c",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
            "é: ü\n  ö: ä",
            "a:\n    b: 1\n  c: 2\n d: 3",
            "- a: b\n  - c",
            "x@patch:x@patch:x@patch:",
            "\u{e9}:\t[}",
            "a: {]",
            "a: [1, }, 2]",
        ];
        let deep: String = (0..5000)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i % 200)))
            .collect();
        let flows = "{".repeat(10_000);
        for t in nasty.iter().copied().chain([deep.as_str(), flows.as_str()]) {
            let _ = yaml::parse(t);
            let _ = yarnrc_entries(t);
            let _ = take_token(t);
            let _ = spec_source(t, Origin::Builtin);
            let combos: [(&str, &str); 5] = [
                ("yarn", YARN1_BIN),
                ("yarn", BERRY_BIN),
                ("pnpm", PNPM12_BIN),
                ("pnpm", PNPM10_BIN),
                ("bun", "/x"),
            ];
            for (tool, real) in combos {
                for name in [
                    "/w/proj/.yarnrc",
                    "/w/proj/.yarnrc.yml",
                    "/w/proj/.npmrc",
                    "/w/proj/yarn.lock",
                    "/w/proj/package.json",
                    "/w/proj/pnpm-workspace.yaml",
                    "/w/proj/bunfig.toml",
                    "/w/proj/pnpm-lock.yaml",
                    "/w/proj/bun.lock",
                ] {
                    let _ = run(&Case {
                        tool,
                        args: &["install", t],
                        env: &[("YARN_NPM_REGISTRY_SERVER", t)],
                        files: &[(name, t), YARN1, BERRY, PNPM12, PNPM10],
                        real,
                    });
                }
            }
        }
    }
}

/// `cargo test --release --lib npm_family_timing -- --ignored --nocapture`
#[cfg(test)]
mod timing {
    use super::testkit::*;

    #[test]
    #[ignore]
    fn npm_family_timing() {
        let mut yarn_lock = String::from("# yarn lockfile v1\n\n");
        let mut berry_lock = String::from("__metadata:\n  version: 8\n  cacheKey: 10c0\n\n");
        let mut pnpm_lock = String::from("lockfileVersion: '9.0'\n\npackages:\n\n");
        let mut bun_lock = String::from("{\n  \"lockfileVersion\": 1,\n  \"packages\": {\n");
        let mut deps = String::from("{\"dependencies\": {");
        for i in 0..1000 {
            yarn_lock.push_str(&format!("pkg-{i}@^1.0.0:\n  version \"1.0.{i}\"\n  resolved \"https://registry.example.com/pkg-{i}/-/pkg-{i}-1.0.{i}.tgz#0123456789abcdef0123456789abcdef01234567\"\n  integrity sha512-AAAA\n  dependencies:\n    other \"^1\"\n\n"));
            berry_lock.push_str(&format!("\"pkg-{i}@npm:^1.0.0\":\n  version: 1.0.{i}\n  resolution: \"pkg-{i}@npm:1.0.{i}\"\n  checksum: 10c0/abc\n  languageName: node\n  linkType: hard\n\n"));
            pnpm_lock.push_str(&format!(
                "  pkg-{i}@1.0.{i}:\n    resolution: {{integrity: sha512-AAAA}}\n\n"
            ));
            bun_lock.push_str(&format!(
                "    \"pkg-{i}\": [\"pkg-{i}@1.0.{i}\", \"\", {{}}, \"sha512-AAAA\"],\n"
            ));
            if i < 100 {
                deps.push_str(&format!("\"pkg-{i}\": \"^1.0.0\",",));
            }
        }
        bun_lock.push_str("  }\n}\n");
        deps.push_str("\"last\": \"1.0.0\"}}");
        let npmrc = "registry=https://registry.example.com/\n@acme:registry=https://npm.example.com/\n//npm.example.com/:_authToken=${TOKEN}\n";
        type Files<'a> = Vec<(&'a str, &'a str)>;
        let cases: Vec<(&str, &str, Files)> = vec![
            ("yarn", YARN1_BIN, vec![YARN1, ("/w/proj/package.json", &deps), ("/w/proj/yarn.lock", &yarn_lock), ("/w/proj/.npmrc", npmrc), ("/w/proj/.yarnrc", "network-timeout 600000\n")]),
            ("yarn", BERRY_BIN, vec![BERRY, ("/w/proj/package.json", &deps), ("/w/proj/yarn.lock", &berry_lock), ("/w/proj/.yarnrc.yml", "nodeLinker: node-modules\nnpmRegistryServer: \"https://registry.example.com/\"\nnpmScopes:\n  acme:\n    npmRegistryServer: \"https://npm.example.com/\"\n")]),
            ("pnpm", PNPM12_BIN, vec![PNPM12, ("/w/proj/package.json", &deps), ("/w/proj/pnpm-lock.yaml", &pnpm_lock), ("/w/proj/.npmrc", npmrc), ("/w/proj/pnpm-workspace.yaml", "packages:\n  - 'pkgs/*'\n")]),
            ("bun", "/x/bun", vec![("/w/proj/package.json", &deps), ("/w/proj/bun.lock", &bun_lock), ("/w/proj/.npmrc", npmrc), ("/w/proj/bunfig.toml", "[install]\nregistry = \"https://registry.example.com/\"\n")]),
        ];
        let mut variants = Vec::new();
        for (tool, real, files) in &cases {
            let keep = |f: &dyn Fn(&str) -> bool| -> Vec<(&str, &str)> {
                files.iter().filter(|(p, _)| f(p)).cloned().collect()
            };
            variants.push((*tool, *real, files.clone(), "all"));
            variants.push((*tool, *real, keep(&|p| !p.contains("lock")), "no lockfile"));
            variants.push((
                *tool,
                *real,
                keep(&|p| !p.contains("lock") && !p.ends_with("proj/package.json")),
                "config only",
            ));
        }
        for (tool, real, files, what) in &variants {
            let c = Case {
                tool,
                args: &["install"],
                env: &[("TOKEN", "x")],
                files,
                real,
            };
            let _ = run(&c);
            let n = 50;
            let t = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(run(&c));
            }
            let per = t.elapsed().as_secs_f64() * 1e3 / n as f64;
            println!("{tool} ({real}) {what}: {per:.3} ms per classification");
        }
    }
}
