//! bun, bunx.
//!
//! Checked against bun 1.4.5. The default registry, in the order bun takes
//! it: `--registry` (install commands and bunx); `BUN_CONFIG_REGISTRY`
//! (uppercase only); `NPM_CONFIG_REGISTRY` / `npm_config_registry`; the
//! project's `bunfig.toml` (`[install] registry = "URL"` or `{ url = … }`,
//! at the nearest `package.json`; `--config=<file>` replaces it); the
//! project's `.npmrc`; the global bunfig (`$XDG_CONFIG_HOME/.bunfig.toml`,
//! else `~/.bunfig.toml`); the user's `.npmrc` (`NPM_CONFIG_USERCONFIG`);
//! bun's default. Scopes: `[install.scopes]` and `@scope:registry`, in the
//! same order; no variable or flag sets a scope. bun expands a bunfig value
//! that is exactly `$NAME`, and `${NAME}` in `.npmrc`.
//!
//! `bun.lock` entries with a tarball URL are fetched from that URL whatever
//! the registry settings (the binary `bun.lockb` is not read).
//!
//! Forcing: `BUN_CONFIG_REGISTRY` beats every file and `NPM_CONFIG_REGISTRY`;
//! scopes stay to be checked (replacing them needs a generated bunfig, and
//! `--config` would drop the project's own bunfig settings).

use std::path::{Path, PathBuf};

use super::source::{Origin, Source, SourceKind};
use super::yarn::{
    dedupe, env_var_too, expand_home, flag_value, flag_values, node_tls, own_args, package_root,
    positionals, publish_config, set_env, spec_source,
};
use super::{npmrc, Plan, Request, Verb};
use crate::lockfiles;

const BUN_VALUE_FLAGS: &[&str] = &[
    "--registry",
    "--cwd",
    "--env-file",
    "--cache-dir",
    "--backend",
    "--config",
    "-c",
    "--filter",
    "-F",
    "--concurrent-scripts",
    "--network-concurrency",
    "--omit",
    "--linker",
    "--cpu",
    "--os",
    "--ca",
    "--cafile",
    "--package",
    "-p",
    "--tag",
    "--access",
    "--otp",
    "--auth-type",
    "--gzip-level",
    "--minimum-release-age",
];

pub(super) fn verb(tool: &str, args: &[String]) -> Verb {
    if tool == "bunx" {
        return Verb::Execute;
    }
    let pos = positionals(args, BUN_VALUE_FLAGS);
    match pos.first().map(|(_, w)| *w) {
        Some(
            "install" | "i" | "add" | "a" | "update" | "remove" | "rm" | "link" | "upgrade"
            | "patch",
        ) => Verb::Install,
        Some("x" | "create" | "c") => Verb::Execute,
        Some("publish") => Verb::Publish,
        _ => Verb::Other,
    }
}

/// One `key = value` of a TOML file, with its full key path.
#[derive(Debug, Clone)]
struct TomlEntry {
    path: Vec<String>,
    value: String,
    line: usize,
}

/// A line-based reader of the TOML that bunfig files use: `[table]`
/// headers (dotted, quoted), `key = "string"` with dotted keys, and inline
/// tables (flattened into their keys). Only string values are kept.
/// Reading line by line (rather than rejecting the file on the first
/// error, as a strict parser would) keeps settings bun may still read.
fn toml_strings(text: &str) -> Vec<TomlEntry> {
    let mut out = Vec::new();
    let mut table: Vec<String> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim().trim_start_matches('\u{feff}');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(h) = line.strip_prefix('[') {
            let h = h.strip_prefix('[').unwrap_or(h);
            let end = h.find(']').unwrap_or(h.len());
            table = key_path(&h[..end]);
            continue;
        }
        let Some((k, v)) = split_eq(line) else {
            continue;
        };
        let mut path = table.clone();
        path.extend(key_path(k));
        value_into(&path, v.trim(), i + 1, &mut out, 0);
    }
    out
}

/// Splits `key = value` at the first `=` outside quotes.
fn split_eq(s: &str) -> Option<(&str, &str)> {
    let mut q: Option<char> = None;
    for (i, c) in s.char_indices() {
        match q {
            Some(o) if c == o => q = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => q = Some(c),
            None if c == '=' => return Some((&s[..i], &s[i + 1..])),
            None => {}
        }
    }
    None
}

/// `a."b.c".d` → `[a, b.c, d]`.
fn key_path(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut q: Option<char> = None;
    for c in s.chars() {
        match q {
            Some(o) if c == o => q = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => q = Some(c),
            None if c == '.' => out.push(std::mem::take(&mut cur).trim().to_string()),
            None => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

fn value_into(path: &[String], v: &str, line: usize, out: &mut Vec<TomlEntry>, depth: usize) {
    if depth > 16 {
        return;
    }
    if let Some(s) = toml_string(v) {
        out.push(TomlEntry {
            path: path.to_vec(),
            value: s,
            line,
        });
        return;
    }
    if let Some(inner) = v.strip_prefix('{') {
        // Split the inline table on top-level commas.
        let inner = inner.trim_end();
        let inner = inner.strip_suffix('}').unwrap_or(inner);
        let mut level = 0i32;
        let mut q: Option<char> = None;
        let mut start = 0;
        let mut parts = Vec::new();
        for (i, c) in inner.char_indices() {
            match q {
                Some(o) if c == o => q = None,
                Some(_) => {}
                None => match c {
                    '"' | '\'' => q = Some(c),
                    '{' | '[' => level += 1,
                    '}' | ']' => level -= 1,
                    ',' if level == 0 => {
                        parts.push(&inner[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                },
            }
        }
        parts.push(&inner[start..]);
        for p in parts {
            if let Some((k, val)) = split_eq(p) {
                let mut sub = path.to_vec();
                sub.extend(key_path(k));
                value_into(&sub, val.trim(), line, out, depth + 1);
            }
        }
    }
}

/// A basic (`"…"`) or literal (`'…'`) TOML string.
fn toml_string(v: &str) -> Option<String> {
    if let Some(rest) = v.strip_prefix('\'') {
        return rest.find('\'').map(|e| rest[..e].to_string());
    }
    if v.starts_with('"') {
        return super::yarn::yaml::quoted(v).map(|(s, _)| s);
    }
    None
}

/// The install cache directory a bunfig sets, as written: `[install.cache]
/// dir = "…"`, `[install] cache = "…"` or `cache = { dir = "… " }` (the
/// last one wins; `cache = false` sets none). bun does not expand
/// variables in it.
#[cfg(any(unix, test))]
pub(crate) fn bunfig_cache_dir(text: &str) -> Option<String> {
    toml_strings(text)
        .into_iter()
        .filter(|e| {
            let p: Vec<&str> = e.path.iter().map(String::as_str).collect();
            matches!(
                p.as_slice(),
                ["install", "cache"] | ["install", "cache", "dir"]
            )
        })
        .map(|e| e.value)
        .next_back()
        .filter(|v| !v.is_empty())
}

/// bun expands a bunfig string that is exactly `$NAME`.
fn expand(req: &Request<'_>, v: &str) -> String {
    match v.strip_prefix('$') {
        Some(name)
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            req.env.get(name).unwrap_or_default()
        }
        _ => v.to_string(),
    }
}

/// One place bun reads registries from.
#[derive(Default)]
struct Layer {
    registry: Vec<Source>,
    scopes: Vec<(String, Source)>,
}

fn bunfig_layer(req: &Request<'_>, path: &Path) -> Layer {
    let mut l = Layer::default();
    let Some(text) = req.files.read(path) else {
        return l;
    };
    for e in toml_strings(&text) {
        let p: Vec<&str> = e.path.iter().map(String::as_str).collect();
        let origin = Origin::file(path, e.line);
        let value = expand(req, &e.value);
        match p.as_slice() {
            ["install", "registry"] | ["install", "registry", "url"] => {
                l.registry.retain(|s| s.origin != origin);
                l.registry.push(
                    Source::new(SourceKind::Registry, value, origin, "install.registry")
                        .overridable(),
                );
            }
            ["install", "scopes", scope] | ["install", "scopes", scope, "url"] => {
                let scope = if scope.starts_with('@') {
                    scope.to_string()
                } else {
                    format!("@{scope}")
                };
                let subject = format!("install.scopes.{}", scope.trim_start_matches('@'));
                l.scopes.push((
                    scope,
                    Source::new(SourceKind::ScopeRegistry, value, origin, subject),
                ));
            }
            _ => {}
        }
    }
    l
}

fn npmrc_layer(req: &Request<'_>, path: &Path) -> Layer {
    let mut l = Layer::default();
    let Some(text) = req.files.read(path) else {
        return l;
    };
    for e in npmrc::parse(&text, req.env) {
        let key = e.key.to_ascii_lowercase();
        let origin = Origin::file(path, e.line);
        if key == "registry" {
            l.registry.clear();
            l.registry
                .push(Source::new(SourceKind::Registry, e.value, origin, "registry").overridable());
        } else if let Some(scope) = key.strip_suffix(":registry").filter(|s| s.starts_with('@')) {
            l.scopes.retain(|(s, _)| s != scope);
            l.scopes.push((
                scope.to_string(),
                Source::new(
                    SourceKind::ScopeRegistry,
                    e.value,
                    origin,
                    format!("{scope}:registry"),
                ),
            ));
        }
    }
    l
}

fn global_bunfig(req: &Request<'_>) -> Option<PathBuf> {
    match req.env.get("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        Some(x) => Some(PathBuf::from(x).join(".bunfig.toml")),
        None => req.home.map(|h| h.join(".bunfig.toml")),
    }
}

/// bun's commands; anything else is a file or script to run.
const BUN_COMMANDS: &[&str] = &[
    "add",
    "a",
    "audit",
    "build",
    "c",
    "create",
    "exec",
    "i",
    "info",
    "init",
    "install",
    "link",
    "outdated",
    "patch",
    "patch-commit",
    "pm",
    "publish",
    "remove",
    "repl",
    "rm",
    "test",
    "unlink",
    "update",
    "upgrade",
    "why",
    "x",
];

pub(super) fn sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let own = if req.tool.name == "bunx" {
        own_args(req.args, BUN_VALUE_FLAGS, &[], &[])
    } else {
        own_args(req.args, BUN_VALUE_FLAGS, BUN_COMMANDS, &["x", "exec"])
    };
    let req = &Request {
        tool: req.tool,
        args: own,
        env: req.env,
        files: req.files,
        cwd: req.cwd,
        home: req.home,
        real_tool: req.real_tool,
    };
    let args = req.args;
    let cwd = flag_value(args, &["--cwd"])
        .map(|(v, _)| req.cwd.join(v))
        .unwrap_or_else(|| req.cwd.to_path_buf());
    let root = package_root(req, &cwd);
    let mut layers: Vec<Layer> = Vec::new();

    let mut flags = Layer::default();
    if let Some((v, f)) = flag_value(args, &["--registry"]) {
        flags.registry.push(Source::new(
            SourceKind::Registry,
            v,
            Origin::flag(f),
            "registry",
        ));
    }
    layers.push(flags);
    let mut env = Layer::default();
    let mut vars = req.env.vars();
    vars.sort();
    // The dotenv files bun loads into its environment, under the process's
    // own variables ([`dotenv_vars`]).
    let files = dotenv_vars(req, args, &cwd, &root);
    for name in [
        "BUN_CONFIG_REGISTRY",
        "NPM_CONFIG_REGISTRY",
        "npm_config_registry",
    ] {
        let found = match vars.iter().find(|(k, _)| k == name) {
            Some((_, v)) => Some((v.clone(), Origin::env(name))),
            None => files
                .iter()
                .rev()
                .find(|(k, _, _)| k == name)
                .map(|(_, v, o)| (v.clone(), o.clone())),
        };
        if let Some((v, origin)) = found {
            env.registry
                .push(Source::new(SourceKind::Registry, v, origin, "registry").overridable());
        }
        if name == "BUN_CONFIG_REGISTRY" && !env.registry.is_empty() {
            // It beats the npm variables.
            break;
        }
    }
    layers.push(env);
    // `--config=<file>` replaces the project's bunfig.
    let config_flag: Vec<PathBuf> = flag_values(args, &["--config", "-c"])
        .into_iter()
        .map(|(v, _)| cwd.join(v))
        .collect();
    if config_flag.is_empty() {
        layers.push(bunfig_layer(req, &root.join("bunfig.toml")));
    } else {
        for f in &config_flag {
            layers.push(bunfig_layer(req, f));
        }
    }
    layers.push(npmrc_layer(req, &root.join(".npmrc")));
    if let Some(g) = global_bunfig(req) {
        layers.push(bunfig_layer(req, &g));
    }
    let userconfig = ["NPM_CONFIG_USERCONFIG", "npm_config_userconfig"]
        .iter()
        .find_map(|k| req.env.get(k).filter(|v| !v.is_empty()))
        .map(|v| expand_home(&v, req.home))
        .or_else(|| req.home.map(|h| h.join(".npmrc")));
    if let Some(u) = userconfig {
        layers.push(npmrc_layer(req, &u));
    }

    let mut out = Vec::new();
    let mut locked = Vec::new();
    match layers.iter().find(|l| !l.registry.is_empty()) {
        Some(l) => out.extend(l.registry.iter().cloned()),
        None => out.push(
            Source::new(SourceKind::Registry, "builtin", Origin::Builtin, "registry").overridable(),
        ),
    }
    let mut seen: Vec<String> = Vec::new();
    for l in &layers {
        let mut here = Vec::new();
        for (scope, s) in &l.scopes {
            if !seen.contains(scope) {
                out.push(s.clone());
                here.push(scope.clone());
            }
        }
        seen.extend(here);
    }
    out.extend(node_tls(req));
    if matches!(verb, Verb::Install | Verb::Execute) {
        out.extend(bun_specs(req.tool.name, args, verb));
    }
    if verb == Verb::Install {
        // Run in a workspace, bun installs for the workspace root.
        let project = super::workspaces::project_root(req, &root);
        let mut dirs = vec![project.clone()];
        if project != root {
            dirs.push(root.clone());
        }
        for d in &dirs {
            locked.extend(super::yarn::lockfile_sources(
                req,
                &d.join("bun.lock"),
                lockfiles::Format::BunLock,
            ));
        }
        out.extend(super::workspaces::manifest_sources(req, &project, true));
    }
    if verb == Verb::Publish {
        out.extend(publish_config(req, &root));
    }
    let mut out = dedupe(out);
    out.extend(locked);
    out
}

/// The variables of the dotenv files bun loads into its environment (the
/// process's own win over them), in increasing precedence, with where each
/// was set. Checked with bun 1.4.5's `bun install`: `.env`,
/// `.env.production` and `.env.local` of the project (a run from a
/// subdirectory reads the project root's); `--env-file=F` (repeatable)
/// instead of those; `--no-env-file`: none. (The cwd's files are read too,
/// and `.env.$NODE_ENV`: one more file read can only add a registry to
/// check.)
fn dotenv_vars(
    req: &Request<'_>,
    args: &[String],
    cwd: &Path,
    root: &Path,
) -> Vec<(String, String, Origin)> {
    let mut paths: Vec<PathBuf> = Vec::new();
    let given = flag_values(args, &["--env-file"]);
    if !given.is_empty() {
        paths.extend(given.into_iter().map(|(v, _)| req.cwd.join(v)));
    } else if !args.iter().any(|a| a == "--no-env-file") {
        let mut names = vec![".env".to_string(), ".env.production".to_string()];
        if let Some(mode) = req.env.get("NODE_ENV").filter(|m| {
            !m.is_empty() && m != "production" && !m.contains(['/', '\\']) && !m.starts_with('.')
        }) {
            names.push(format!(".env.{mode}"));
        }
        names.push(".env.local".into());
        for dir in [root, cwd] {
            for n in &names {
                let p = dir.join(n);
                if !paths.contains(&p) {
                    paths.push(p);
                }
            }
        }
    }
    let mut out = Vec::new();
    for p in paths {
        let Some(text) = req.files.read(&p) else {
            continue;
        };
        for (k, v, line) in super::pnpm::dotenv(&text) {
            out.push((k, v, Origin::file(&p, line)));
        }
    }
    out
}

fn bun_specs(tool: &str, args: &[String], verb: Verb) -> Vec<Source> {
    let pos = positionals(args, BUN_VALUE_FLAGS);
    let dash = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let words: Vec<&str> = pos
        .iter()
        .filter(|(i, _)| *i < dash)
        .map(|(_, w)| *w)
        .collect();
    let mut out: Vec<Source> = flag_values(args, &["--package", "-p"])
        .into_iter()
        .filter_map(|(v, f)| spec_source(&v, Origin::flag(f)))
        .collect();
    let explicit = !out.is_empty();
    if tool == "bunx" {
        if !explicit {
            out.extend(words.first().and_then(|w| spec_source(w, Origin::arg(*w))));
        }
        return out;
    }
    match words.first().copied() {
        Some("x") if !explicit => {
            out.extend(words.get(1).and_then(|w| spec_source(w, Origin::arg(*w))));
        }
        Some("create" | "c") => {
            out.extend(words.get(1).and_then(|w| spec_source(w, Origin::arg(*w))));
        }
        Some(_) if verb == Verb::Install => {
            out.extend(
                words
                    .iter()
                    .skip(1)
                    .filter_map(|w| spec_source(w, Origin::arg(*w))),
            );
        }
        _ => {}
    }
    out
}

pub(super) fn force(
    args: &[String],
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    let _ = (args, approved);
    let mut plan = Plan::default();
    set_env(&mut plan, "BUN_CONFIG_REGISTRY", mirror);
    for s in sources {
        if s.overridable && s.kind == SourceKind::Registry {
            env_var_too(&mut plan, s, mirror);
            plan.overridden.push(s.clone());
        } else {
            plan.remaining.push(s.clone());
        }
    }
    Some(plan)
}

#[cfg(test)]
mod tests {
    use super::super::yarn::testkit::*;
    use super::*;
    use SourceKind::*;

    fn bun<'a>(
        args: &'a [&'a str],
        env: &'a [(&'a str, &'a str)],
        files: &'a [(&'a str, &'a str)],
    ) -> Case<'a> {
        Case {
            tool: "bun",
            args,
            env,
            files,
            real: "/usr/lib/node_modules/bun/bin/bun.exe",
        }
    }

    #[test]
    fn verbs() {
        let cases: &[(&str, &[&str], Verb)] = &[
            ("bun", &["install"], Verb::Install),
            ("bun", &["i"], Verb::Install),
            ("bun", &["add", "x"], Verb::Install),
            ("bun", &["--cwd", "a", "add", "x"], Verb::Install),
            ("bun", &["x", "cowsay"], Verb::Execute),
            ("bun", &["run", "build"], Verb::Other),
            ("bun", &["index.ts"], Verb::Other),
            ("bun", &["publish"], Verb::Publish),
            ("bunx", &["cowsay"], Verb::Execute),
        ];
        for (tool, args, want) in cases {
            let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert_eq!(verb(tool, &a), *want, "{tool} {args:?}");
        }
    }

    #[test]
    fn precedence() {
        check(
            &bun(&["add", "x"], &[], &[]),
            &[(Registry, "builtin", "the tool's built-in default", true)],
        );
        let files = [
            ("/w/proj/package.json", "{}"),
            (
                "/w/proj/bunfig.toml",
                "[install]\nregistry = \"http://a.test/\"\n",
            ),
            ("/w/proj/.npmrc", "registry=http://b.test/\n"),
            (
                "/home/u/.bunfig.toml",
                "[install.registry]\nurl = \"http://c.test/\"\n",
            ),
            ("/home/u/.npmrc", "registry=http://d.test/\n"),
        ];
        let expect = [
            ("http://a.test/", "/w/proj/bunfig.toml:2"),
            ("http://b.test/", "/w/proj/.npmrc:1"),
            ("http://c.test/", "/home/u/.bunfig.toml:2"),
            ("http://d.test/", "/home/u/.npmrc:1"),
        ];
        for n in 0..4 {
            let mut fs = vec![files[0]];
            fs.extend(&files[n + 1..]);
            let got = check(
                &bun(&["add", "x"], &[], &fs),
                &[(Registry, expect[n].0, expect[n].1, true)],
            );
            for (other, _) in &expect[n + 1..] {
                absent(&got, other);
            }
        }
        // XDG_CONFIG_HOME moves the global bunfig.
        check(
            &bun(
                &["add", "x"],
                &[("XDG_CONFIG_HOME", "/x")],
                &[(
                    "/x/.bunfig.toml",
                    "install.registry = { url = \"http://e.test/\", token = \"t\" }\n",
                )],
            ),
            &[(Registry, "http://e.test/", "/x/.bunfig.toml:1", true)],
        );
        let got = check(
            &bun(
                &["add", "x"],
                &[("npm_config_registry", "http://f.test/")],
                &files,
            ),
            &[(
                Registry,
                "http://f.test/",
                "the environment variable npm_config_registry",
                true,
            )],
        );
        absent(&got, "http://a.test/");
        let got = check(
            &bun(
                &["add", "x"],
                &[
                    ("npm_config_registry", "http://f.test/"),
                    ("BUN_CONFIG_REGISTRY", "http://g.test/"),
                ],
                &files,
            ),
            &[(
                Registry,
                "http://g.test/",
                "the environment variable BUN_CONFIG_REGISTRY",
                true,
            )],
        );
        absent(&got, "http://f.test/");
        let got = check(
            &bun(
                &["add", "x", "--registry", "http://h.test/"],
                &[("BUN_CONFIG_REGISTRY", "http://g.test/")],
                &files,
            ),
            &[(
                Registry,
                "http://h.test/",
                "the command-line flag --registry",
                false,
            )],
        );
        absent(&got, "http://g.test/");
        // --config=<file> replaces the project's bunfig; `$NAME` is expanded.
        check(
            &bun(
                &["--config=/etc/alt.toml", "add", "x"],
                &[("EVIL", "http://i.test/")],
                &[
                    files[0],
                    files[1],
                    ("/etc/alt.toml", "[install]\nregistry = \"$EVIL\"\n"),
                ],
            ),
            &[(Registry, "http://i.test/", "/etc/alt.toml:2", true)],
        );
    }

    #[test]
    fn dotenv_files_bun_loads() {
        let pkg = ("/w/proj/package.json", "{}");
        let bunfig = (
            "/w/proj/bunfig.toml",
            "[install]\nregistry = \"http://a.test/\"\n",
        );
        // `.env`, `.env.production`, `.env.local`, in increasing
        // precedence; above the project's bunfig.
        for (file, origin) in [
            ("/w/proj/.env", "/w/proj/.env:2"),
            ("/w/proj/.env.production", "/w/proj/.env.production:2"),
            ("/w/proj/.env.local", "/w/proj/.env.local:2"),
        ] {
            let text = "# x\nNPM_CONFIG_REGISTRY=http://e.test/\n";
            check(
                &bun(&["install"], &[], &[pkg, bunfig, (file, text)]),
                &[(Registry, "http://e.test/", origin, true)],
            );
        }
        let got = check(
            &bun(
                &["install"],
                &[],
                &[
                    pkg,
                    ("/w/proj/.env", "BUN_CONFIG_REGISTRY=http://e.test/\n"),
                    (
                        "/w/proj/.env.local",
                        "BUN_CONFIG_REGISTRY='http://f.test/'\n",
                    ),
                ],
            ),
            &[(Registry, "http://f.test/", "/w/proj/.env.local:1", true)],
        );
        absent(&got, "http://e.test/");
        // A file's BUN_CONFIG_REGISTRY beats the process's npm variable; the
        // process's own variable beats the file's.
        let env_file = ("/w/proj/.env", "BUN_CONFIG_REGISTRY=http://e.test/\n");
        check(
            &bun(
                &["install"],
                &[("NPM_CONFIG_REGISTRY", "http://g.test/")],
                &[pkg, env_file],
            ),
            &[(Registry, "http://e.test/", "/w/proj/.env:1", true)],
        );
        check(
            &bun(
                &["install"],
                &[("BUN_CONFIG_REGISTRY", "http://g.test/")],
                &[pkg, env_file],
            ),
            &[(
                Registry,
                "http://g.test/",
                "the environment variable BUN_CONFIG_REGISTRY",
                true,
            )],
        );
        // `--env-file` instead of the project's files; `--no-env-file`.
        let alt = ("/w/proj/alt.env", "npm_config_registry=http://h.test/\n");
        for args in [
            &["--env-file=alt.env", "install"][..],
            &["install", "--env-file", "alt.env"],
        ] {
            let got = check(
                &bun(args, &[], &[pkg, env_file, alt]),
                &[(Registry, "http://h.test/", "/w/proj/alt.env:1", true)],
            );
            absent(&got, "http://e.test/");
        }
        check(
            &bun(&["install", "--no-env-file"], &[], &[pkg, env_file]),
            &[(Registry, "builtin", "the tool's built-in default", true)],
        );
        // bunx reads them too.
        check(
            &Case {
                tool: "bunx",
                ..bun(&["--env-file=alt.env", "cowsay"], &[], &[pkg, alt])
            },
            &[(Registry, "http://h.test/", "/w/proj/alt.env:1", true)],
        );
    }

    #[test]
    fn scopes_specs_lockfile_and_force() {
        let files = [
            ("/w/proj/package.json", "{\"dependencies\": {\"g\": \"github:u/r\"}}"),
            ("/w/proj/bunfig.toml", "[install.scopes]\nacme = \"http://a.test/\"\n\"@other\" = { url = \"http://b.test/\" }\n"),
            ("/w/proj/.npmrc", "@acme:registry=http://c.test/\n@third:registry=http://d.test/\n"),
            ("/w/proj/bun.lock", "{\n  \"lockfileVersion\": 1,\n  \"packages\": {\n    \"x\": [\"x@1.0.0\", \"http://e.test/x-1.0.0.tgz\", {}, \"sha512-AAAA\"],\n    \"y\": [\"y@1.0.0\", \"\", {}, \"sha512-AAAA\"],\n  }\n}\n"),
        ];
        let got = check(
            &bun(&["add", "https://f.test/t.tgz"], &[], &files),
            &[
                (
                    ScopeRegistry,
                    "http://a.test/",
                    "/w/proj/bunfig.toml:2",
                    false,
                ),
                (
                    ScopeRegistry,
                    "http://b.test/",
                    "/w/proj/bunfig.toml:3",
                    false,
                ),
                (ScopeRegistry, "http://d.test/", "/w/proj/.npmrc:2", false),
                (
                    Locked,
                    "http://e.test/x-1.0.0.tgz",
                    "/w/proj/bun.lock:4",
                    false,
                ),
                (
                    Direct,
                    "https://f.test/t.tgz",
                    "the command-line argument `https://f.test/t.tgz`",
                    false,
                ),
                (Git, "github:u/r", "/w/proj/package.json:1", false),
            ],
        );
        absent(&got, "http://c.test/");
        let p = plan("bun", &["add", "x"], &got);
        assert_eq!(
            p.env,
            vec![(
                "BUN_CONFIG_REGISTRY".to_string(),
                "https://mirror.example.com/npm/".to_string()
            )]
        );
        assert!(p.overridden.iter().all(|s| s.kind == Registry));
        assert!(p.remaining.iter().any(|s| s.value == "http://a.test/"));
        check(
            &Case {
                tool: "bunx",
                args: &["--bun", "github:u/tool"],
                env: &[],
                files: &[],
                real: "/x/bunx",
            },
            &[(
                Git,
                "github:u/tool",
                "the command-line argument `github:u/tool`",
                false,
            )],
        );
        check(
            &bun(&["install"], &[("NODE_TLS_REJECT_UNAUTHORIZED", "0")], &[]),
            &[(
                Insecure,
                "0",
                "the environment variable NODE_TLS_REJECT_UNAUTHORIZED",
                false,
            )],
        );
    }

    #[test]
    fn arguments_of_scripts_are_not_buns() {
        for args in [
            &["run", "dev", "--registry", "http://x.test/"][..],
            &["index.ts", "--registry", "http://x.test/"],
            &["x", "cowsay", "--registry", "http://x.test/"],
        ] {
            let got = run(&bun(args, &[], &[]));
            absent(&got, "http://x.test/");
        }
        check(
            &Case {
                tool: "bunx",
                args: &[
                    "--registry=http://x.test/",
                    "cowsay",
                    "--registry",
                    "http://y.test/",
                ],
                env: &[],
                files: &[],
                real: "/x/bunx",
            },
            &[(
                Registry,
                "http://x.test/",
                "the command-line flag --registry",
                false,
            )],
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        #[test]
        fn toml_reader_never_panics(t in "[a-z\"'{}\\[\\].,=# \\n\\\\u0-9$\u{e9}]{0,200}") {
            let _ = toml_strings(&t);
        }
    }

    #[test]
    fn bunfig_cache_dir_forms() {
        use super::bunfig_cache_dir as dir;
        assert_eq!(dir("[install.cache]\ndir = \"/c\"\n"), Some("/c".into()));
        assert_eq!(dir("[install]\ncache = \"~/c\"\n"), Some("~/c".into()));
        assert_eq!(
            dir("[install]\ncache = { dir = 'rel', disable = true }\n"),
            Some("rel".into())
        );
        assert_eq!(dir("[install]\ncache = false\n"), None);
        assert_eq!(dir("[install.cache]\ndir = \"\"\n"), None);
        assert_eq!(dir("[run]\ndir = \"/c\"\n"), None);
    }

    #[test]
    fn toml_reader() {
        let e = toml_strings("# c\n[install]\nregistry = 'http://a.test/' # x\n[install.scopes]\n\"my.org\" = \"http://b.test/\"\n[[x]]\ny = \"z\"\n");
        assert_eq!(e[0].path, vec!["install", "registry"]);
        assert_eq!(e[0].value, "http://a.test/");
        assert_eq!(e[1].path, vec!["install", "scopes", "my.org"]);
        assert_eq!(e[1].line, 5);
        for t in [
            "[",
            "a = {",
            "a = {b = {c = {",
            "= =",
            "a = \"\\u",
            "[install]\nregistry = { url = 'x', ",
            "'",
        ] {
            let _ = toml_strings(t);
        }
    }
}
