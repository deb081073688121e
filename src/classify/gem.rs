//! gem, bundle.
//!
//! gem: the source list is gemrc's `:sources:` (the last of `/etc/gemrc`,
//! the user file — `--config-file`, else `$GEMRC`, else `~/.gemrc`, else
//! `$XDG_CONFIG_HOME/gem/gemrc` — and each file of the `$GEMRC` list that
//! defines it; none with `--norc`), else the built-in default. On the command
//! line `-s/--source URL` (and any unambiguous abbreviation, `--so`) appends
//! to it and `--clear-sources` resets it to that default, a `--source` right
//! after it replacing the list (verified with RubyGems 3.3). `:ssl_verify_mode:
//! 0` is `Insecure`. Local `.gem` files are paths; `gem install -g` reads a
//! Gemfile; `gem push` goes to `--host`/`$RUBYGEMS_HOST`; `gem sources --add`
//! is reported. Forcing: `--clear-sources --source MIRROR` right after the
//! command word.
//!
//! bundle: the Gemfile (`--gemfile`, `$BUNDLE_GEMFILE`, else `gems.rb` or
//! `Gemfile` searched upward, unless a config file's `BUNDLE_GEMFILE`
//! names another) read as text: `source` lines (also the block
//! form), `source:` options, `git:`/`github:`/`gist:`/`bitbucket:`, `git …
//! do`, `git_source` templates, `path:` and `gemspec`, `eval_gemfile`; the
//! lockfile's `remote:` lines; mirrors from Bundler's settings
//! (`.bundle/config` beats `BUNDLE_*` beats `~/.bundle/config`), where
//! `BUNDLE_MIRROR__ALL` sends every gem source to one mirror and a mirror
//! with a `fallback_timeout` may fall back to the original. Forcing:
//! `BUNDLE_MIRROR__ALL=MIRROR` (verified with Bundler 2.3: it beats the
//! Gemfile, the lockfile and per-source mirrors, but not a `mirror.all` in
//! the project's `.bundle/config`).

use std::path::{Path, PathBuf};

use super::source::{Origin, Source, SourceKind};
use super::{Plan, Request, Verb};

/// RubyGems' commands (3.3; `exec` from 3.5), for its unique-prefix matching.
const GEM_COMMANDS: &[&str] = &[
    "build",
    "cert",
    "check",
    "cleanup",
    "contents",
    "dependency",
    "environment",
    "exec",
    "fetch",
    "generate_index",
    "help",
    "info",
    "install",
    "list",
    "lock",
    "mirror",
    "open",
    "outdated",
    "owner",
    "pristine",
    "push",
    "query",
    "rdoc",
    "search",
    "server",
    "signin",
    "signout",
    "sources",
    "specification",
    "stale",
    "uninstall",
    "unpack",
    "update",
    "which",
    "yank",
];

/// The commands that take `--source`/`--clear-sources`.
const GEM_REMOTE: &[&str] = &[
    "install",
    "update",
    "fetch",
    "outdated",
    "search",
    "query",
    "list",
    "dependency",
    "specification",
    "info",
    "exec",
];

/// The commands that take `--http-proxy` besides [`GEM_REMOTE`]'s (RubyGems
/// 3.3's `add_proxy_option`, directly or through `add_local_remote_options`
/// and `add_query_options`); any other command rejects it as an invalid
/// option.
const GEM_PROXY_TOO: &[&str] = &["owner", "push", "sources"];

/// Whether gem's command on this command line takes `--http-proxy`.
pub(super) fn takes_http_proxy(args: &[String]) -> bool {
    command_name(args)
        .is_some_and(|c| GEM_REMOTE.contains(&c.as_str()) || GEM_PROXY_TOO.contains(&c.as_str()))
}

/// Bundler's commands (2.3) and aliases, for Thor's unique-prefix matching.
const BUNDLE_COMMANDS: &[&str] = &[
    "add", "binstubs", "cache", "check", "clean", "cli_help", "config", "console", "doctor", "env",
    "exec", "fund", "gem", "help", "info", "init", "inject", "install", "issue", "licenses",
    "list", "lock", "open", "outdated", "platform", "plugin", "pristine", "remove", "show",
    "update", "version", "viz",
];
const BUNDLE_ALIASES: &[(&str, &str)] = &[
    ("c", "check"),
    ("i", "install"),
    ("ls", "list"),
    ("e", "exec"),
    ("ex", "exec"),
    ("exe", "exec"),
    ("package", "cache"),
    ("pack", "cache"),
];

/// The command word and its index in `args` (skipping gem's global options).
fn gem_command(args: &[String]) -> Option<(usize, String)> {
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--config-file" {
            i += 2;
            continue;
        }
        if a.starts_with('-') {
            i += 1;
            continue;
        }
        let name = if a == "i" { "install" } else { a };
        let found: Vec<&str> = GEM_COMMANDS
            .iter()
            .copied()
            .filter(|c| c.starts_with(name))
            .collect();
        let cmd = if found.contains(&name) {
            name.to_string()
        } else if found.len() == 1 {
            found[0].to_string()
        } else {
            a.to_string()
        };
        return Some((i, cmd));
    }
    None
}

/// [`gem_command`]'s name.
pub(super) fn command_name(args: &[String]) -> Option<String> {
    gem_command(args).map(|(_, c)| c)
}

/// [`bundle_command`]'s name.
pub(super) fn bundle_command_name(args: &[String]) -> String {
    bundle_command(args).1
}

fn bundle_command(args: &[String]) -> (Option<usize>, String) {
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if matches!(a, "-r" | "--retry") {
            i += 2;
            continue;
        }
        if a.starts_with('-') {
            if matches!(a, "-v" | "--version") {
                return (Some(i), "version".into());
            }
            if matches!(a, "-h" | "--help") {
                return (Some(i), "help".into());
            }
            i += 1;
            continue;
        }
        if let Some((_, t)) = BUNDLE_ALIASES.iter().find(|(k, _)| *k == a) {
            return (Some(i), t.to_string());
        }
        if BUNDLE_COMMANDS.contains(&a) {
            return (Some(i), a.to_string());
        }
        let mut found: Vec<&str> = BUNDLE_COMMANDS
            .iter()
            .copied()
            .filter(|c| c.starts_with(a))
            .chain(
                BUNDLE_ALIASES
                    .iter()
                    .filter(|(k, _)| k.starts_with(a))
                    .map(|(_, t)| *t),
            )
            .collect();
        found.sort_unstable();
        found.dedup();
        return (
            Some(i),
            if found.len() == 1 {
                found[0].to_string()
            } else {
                a.to_string()
            },
        );
    }
    (None, "install".into())
}

pub(super) fn verb(tool: &str, args: &[String]) -> Verb {
    if tool == "bundle" {
        return match bundle_command(args).1.as_str() {
            "install" | "update" | "add" | "lock" | "cache" | "remove" | "pristine" | "plugin" => {
                Verb::Install
            }
            _ => Verb::Other,
        };
    }
    match gem_command(args).map(|(_, c)| c).as_deref() {
        Some("install" | "update" | "fetch" | "uninstall" | "pristine") => Verb::Install,
        Some("exec") => Verb::Execute,
        Some("push" | "yank") => Verb::Publish,
        _ => Verb::Other,
    }
}

pub(super) fn sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    if req.tool.name == "bundle" {
        bundle_sources(req, verb)
    } else {
        gem_sources(req, verb)
    }
}

// ---------------------------------------------------------------------------
// gem
// ---------------------------------------------------------------------------

/// The top-level `:key:` values of a gemrc (a YAML hash): lists as several
/// values, each with its line.
fn gemrc(text: &str) -> Vec<(String, Vec<(String, usize)>)> {
    let mut out: Vec<(String, Vec<(String, usize)>)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(" #").next().unwrap_or(raw);
        if line.trim().is_empty() || line.trim_start().starts_with('#') || line.trim() == "---" {
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t');
        let t = line.trim();
        if let Some(item) = t.strip_prefix("- ").or_else(|| (t == "-").then_some("")) {
            if let Some(last) = out.last_mut() {
                last.1.push((unquote(item).to_string(), i + 1));
            }
            continue;
        }
        if indented {
            continue;
        }
        let Some(at) = t[1..].find(':').map(|a| a + 1) else {
            continue;
        };
        let key = t[..at].trim().to_string();
        let value = t[at + 1..].trim();
        let mut vals = Vec::new();
        if let Some(list) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            for v in list.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                vals.push((unquote(v).to_string(), i + 1));
            }
        } else if !value.is_empty() {
            vals.push((unquote(value).to_string(), i + 1));
        }
        out.push((key, vals));
    }
    out
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    if s.len() >= 2
        && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')))
    {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// The gemrc files RubyGems reads, in order (later wins per key).
fn gemrc_files(req: &Request<'_>) -> Vec<PathBuf> {
    let args = req.args;
    if args.iter().any(|a| a == "--norc") {
        return Vec::new();
    }
    let mut files = vec![PathBuf::from(if cfg!(windows) {
        "C:\\ProgramData\\gemrc"
    } else {
        "/etc/gemrc"
    })];
    let mut user: Option<String> = req.env.get("GEMRC").filter(|g| !g.is_empty());
    let mut i = 0;
    while i < args.len() {
        if let Some(v) = args[i].strip_prefix("--config-file=") {
            user = Some(v.to_string());
        } else if args[i] == "--config-file" {
            if let Some(v) = args.get(i + 1) {
                user = Some(v.clone());
            }
        }
        i += 1;
    }
    match user {
        Some(u) => files.push(PathBuf::from(u)),
        None => {
            if let Some(h) = req.home {
                let rc = h.join(".gemrc");
                if req.files.exists(&rc) {
                    files.push(rc);
                } else {
                    let xdg = req
                        .env
                        .get("XDG_CONFIG_HOME")
                        .filter(|x| !x.is_empty())
                        .map(PathBuf::from)
                        .unwrap_or_else(|| h.join(".config"));
                    files.push(xdg.join("gem").join("gemrc"));
                }
            }
        }
    }
    let sep = if cfg!(windows) { ';' } else { ':' };
    if let Some(list) = req.env.get("GEMRC") {
        files.extend(list.split(sep).filter(|f| !f.is_empty()).map(PathBuf::from));
    }
    files
}

/// Matches a gem long option by OptionParser's unique-prefix rule among the
/// options of the remote commands.
fn gem_long(command: &str, name: &str) -> Option<&'static str> {
    const REMOTE: &[&str] = &[
        "--source",
        "--silent",
        "--suggestions",
        "--no-suggestions",
        "--clear-sources",
        "--config-file",
        "--conservative",
        "--host",
        "--file",
        "--force",
        "--format-executable",
        "--system",
        "--default",
    ];
    const SOURCES: &[&str] = &[
        "--add",
        "--remove",
        "--clear-all",
        "--list",
        "--update",
        "--silent",
        "--config-file",
        "--force",
    ];
    let list = if command == "sources" {
        SOURCES
    } else {
        REMOTE
    };
    gem_long_in(list, name)
}

fn gem_long_in(list: &[&'static str], name: &str) -> Option<&'static str> {
    if let Some(exact) = list.iter().find(|l| **l == name) {
        return Some(exact);
    }
    let found: Vec<&&str> = list.iter().filter(|l| l.starts_with(name)).collect();
    match found.as_slice() {
        [one] if name.len() > 2 => Some(one),
        _ => None,
    }
}

fn gem_sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let args = req.args;
    let command = gem_command(args).map(|(_, c)| c).unwrap_or_default();
    let mut out: Vec<Source> = Vec::new();
    // Config files: the last one naming :sources: wins.
    let mut base: Vec<Source> = Vec::new();
    for f in gemrc_files(req) {
        let Some(text) = req.files.read(&f) else {
            continue;
        };
        for (key, vals) in gemrc(&text) {
            match key.as_str() {
                ":sources" => {
                    base = vals
                        .into_iter()
                        .map(|(v, l)| {
                            Source::new(SourceKind::Registry, v, Origin::file(&f, l), "sources")
                        })
                        .collect();
                }
                ":ssl_verify_mode" => {
                    for (v, l) in vals {
                        if v.trim() == "0" || v.trim().eq_ignore_ascii_case("VERIFY_NONE") {
                            out.push(Source::new(
                                SourceKind::Insecure,
                                v,
                                Origin::file(&f, l),
                                "ssl_verify_mode",
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if base.is_empty() {
        base.push(Source::new(
            SourceKind::Registry,
            "builtin",
            Origin::Builtin,
            "sources",
        ));
    }
    // The command line, in order.
    let mut list: Vec<Source> = base.clone();
    let mut cleared = false;
    // Whether a --clear-sources of the user's is not followed by a --source
    // (the defaults come back then, whatever pkgward put first).
    let mut reexposed = false;
    let mut positional: Vec<(usize, &String)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            break;
        }
        let (name, inline): (String, Option<String>) = if a.starts_with("--") {
            match a.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (a.clone(), None),
            }
        } else if a.starts_with('-') && a.len() > 2 && a.is_char_boundary(2) {
            (a[..2].to_string(), Some(a[2..].to_string()))
        } else {
            (a.clone(), None)
        };
        let canon = if name.starts_with("--") {
            gem_long(&command, &name).unwrap_or("")
        } else {
            match name.as_str() {
                "-s" => "--source",
                "-a" => "--add",
                "-g" => "--file",
                "-v" | "-i" | "-n" | "-P" | "-r" | "-l" | "-b" | "-t" | "-k" => "value",
                _ => "",
            }
        };
        let value = |i: &mut usize| -> Option<String> {
            if let Some(v) = &inline {
                return Some(v.clone());
            }
            *i += 1;
            args.get(*i - 1).cloned()
        };
        let origin = Origin::flag(name.clone());
        match canon {
            "--source" => {
                if let Some(v) = value(&mut i) {
                    let s = Source::new(SourceKind::Registry, v, origin, "source");
                    if cleared {
                        list = vec![s];
                        cleared = false;
                    } else {
                        list.push(s);
                    }
                    reexposed = false;
                }
            }
            "--clear-sources" => {
                list = base.clone();
                cleared = true;
                reexposed = true;
            }
            "--add" if command == "sources" => {
                if let Some(v) = value(&mut i) {
                    out.push(Source::new(
                        SourceKind::Registry,
                        v,
                        origin,
                        "sources --add",
                    ));
                }
            }
            "--host" => {
                if let Some(v) = value(&mut i) {
                    out.push(Source::new(SourceKind::Registry, v, origin, "host"));
                }
            }
            "--file" => {
                // `gem install -g [FILE]`: a Gemfile (optional value).
                let f = match &inline {
                    Some(v) => Some(v.clone()),
                    None => match args.get(i) {
                        Some(v) if !v.starts_with('-') => {
                            i += 1;
                            Some(v.clone())
                        }
                        _ => None,
                    },
                };
                let path = match f {
                    Some(f) => vec![req.cwd.join(f)],
                    None => ["gem.deps.rb", "Gemfile", "Isolate"]
                        .iter()
                        .map(|n| req.cwd.join(n))
                        .collect(),
                };
                if let Some(p) = path.into_iter().find(|p| req.files.exists(p)) {
                    let mut seen = Vec::new();
                    gemfile(req, &p, &mut out, &mut seen);
                }
            }
            "value" | "--config-file" if inline.is_none() => i += 1,
            _ => {}
        }
        if !a.starts_with('-') {
            positional.push((i - 1, a));
        }
    }
    let remote = GEM_REMOTE.contains(&command.as_str());
    if command == "push" || command == "yank" || command == "owner" {
        if !out.iter().any(|s| s.subject == "host") {
            match req.env.get("RUBYGEMS_HOST").filter(|h| !h.is_empty()) {
                Some(h) => out.push(Source::new(
                    SourceKind::Registry,
                    h,
                    Origin::env("RUBYGEMS_HOST"),
                    "host",
                )),
                None => out.push(Source::new(
                    SourceKind::Registry,
                    "builtin",
                    Origin::Builtin,
                    "host",
                )),
            }
        }
        return out;
    }
    if !remote && verb != Verb::Install {
        return out;
    }
    // gemrc and the default are what `--clear-sources --source` replaces.
    let mut all: Vec<Source> = list
        .into_iter()
        .map(|s| {
            let from_base = !matches!(s.origin, Origin::Flag { .. });
            if from_base && !reexposed {
                s.overridable()
            } else {
                s
            }
        })
        .collect();
    all.append(&mut out);
    let mut out = all;
    if matches!(command.as_str(), "install" | "exec" | "fetch" | "update") {
        for (_, p) in positional.into_iter().skip(1) {
            let lower = p.to_ascii_lowercase();
            let kind = if lower.contains("://") {
                SourceKind::Direct
            } else if lower.ends_with(".gem")
                || lower.starts_with('.')
                || lower.starts_with('/')
                || lower.starts_with('~')
            {
                SourceKind::Path
            } else {
                continue;
            };
            out.push(Source::new(kind, p.clone(), Origin::arg(p.clone()), ""));
        }
    }
    out
}

pub(super) fn force(
    tool: &str,
    args: &[String],
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    let _ = approved;
    let mut overridden = Vec::new();
    let mut remaining = Vec::new();
    if tool == "bundle" {
        for s in sources {
            if s.overridable && matches!(s.kind, SourceKind::Registry | SourceKind::Locked) {
                overridden.push(s.clone());
            } else {
                remaining.push(s.clone());
            }
        }
        return Some(Plan {
            env: vec![
                ("BUNDLE_MIRROR__ALL".into(), mirror.into()),
                ("BUNDLE_MIRROR__ALL__FALLBACK_TIMEOUT".into(), "0".into()),
            ],
            overridden,
            remaining,
            ..Plan::default()
        });
    }
    let (at, command) = gem_command(args)?;
    if !GEM_REMOTE.contains(&command.as_str()) {
        return None;
    }
    for s in sources {
        if s.overridable && s.kind == SourceKind::Registry {
            overridden.push(s.clone());
        } else {
            remaining.push(s.clone());
        }
    }
    Some(Plan {
        insert_args: vec!["--clear-sources".into(), "--source".into(), mirror.into()],
        insert_at: at + 1,
        overridden,
        remaining,
        ..Plan::default()
    })
}

// ---------------------------------------------------------------------------
// bundle
// ---------------------------------------------------------------------------

/// One settings file or the environment: (key, value, where) in order.
type KeyValues = Vec<(String, String, Origin)>;

/// Bundler's settings: local (`.bundle/config`), environment, global.
struct Settings {
    layers: Vec<(Layer, KeyValues)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Layer {
    Local,
    Env,
    Global,
}

impl Settings {
    fn get(&self, key: &str) -> Option<(&str, &Origin, Layer)> {
        for (layer, kv) in &self.layers {
            if let Some((_, v, o)) = kv.iter().rev().find(|(k, _, _)| k == key) {
                return Some((v.as_str(), o, *layer));
            }
        }
        None
    }

    fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self
            .layers
            .iter()
            .flat_map(|(_, kv)| kv.iter().map(|(k, _, _)| k.clone()))
            .collect();
        k.sort();
        k.dedup();
        k
    }
}

/// A Bundler YAML config file: `BUNDLE_KEY: "value"` lines.
fn bundle_config(text: &str, path: &Path) -> Vec<(String, String, Origin)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if !t.starts_with("BUNDLE_") {
            continue;
        }
        let Some((k, v)) = t
            .split_once(": ")
            .or_else(|| t.strip_suffix(':').map(|k| (k, "")))
        else {
            continue;
        };
        out.push((
            k.trim().replace('-', "___"),
            unquote(v).to_string(),
            Origin::file(path, i + 1),
        ));
    }
    out
}

/// `~/x` under the home directory, else the path as written.
fn expand_user(p: &str, home: Option<&Path>) -> PathBuf {
    match (p.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => PathBuf::from(p),
    }
}

/// Bundler's `Settings.key_for` for a source URI: normalized with a
/// trailing slash, `.` → `__`, `-` → `___`, upper case.
fn mirror_key(uri: &str) -> String {
    let mut u = uri.trim().to_string();
    if !u.ends_with('/') {
        u.push('/');
    }
    format!(
        "BUNDLE_MIRROR__{}",
        u.replace('.', "__")
            .replace('-', "___")
            .to_ascii_uppercase()
    )
}

fn truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes")
}

/// What a Gemfile names, line by line (Gemfiles are Ruby: literal values
/// only; a non-literal `source` is reported as written, so it fails the
/// check rather than being missed).
fn gemfile(req: &Request<'_>, path: &Path, out: &mut Vec<Source>, seen: &mut Vec<PathBuf>) {
    if seen.contains(&path.to_path_buf()) || seen.len() > 32 {
        return;
    }
    seen.push(path.to_path_buf());
    let Some(text) = req.files.read(path) else {
        return;
    };
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw);
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let origin = Origin::file(path, i + 1);
        let (head, rest) = match t.find([' ', '(']) {
            Some(at) => (&t[..at], t[at..].trim_start_matches(['(', ' '])),
            None => (t, ""),
        };
        match head {
            "source" => {
                let v = first_literal(rest);
                match v {
                    Some(v) => out.push(Source::new(SourceKind::Registry, v, origin, "source")),
                    None if rest.starts_with(':') => out.push(Source::new(
                        SourceKind::Registry,
                        "builtin",
                        Origin::Builtin,
                        format!(
                            "source {} at {origin}",
                            rest.split_whitespace().next().unwrap_or("")
                        ),
                    )),
                    None => out.push(Source::new(
                        SourceKind::Registry,
                        rest.trim_end_matches(" do").trim(),
                        origin,
                        "source",
                    )),
                }
                continue;
            }
            "git" => {
                if let Some(v) = first_literal(rest) {
                    out.push(Source::new(SourceKind::Git, v, origin, "git"));
                }
                continue;
            }
            "path" => {
                if let Some(v) = first_literal(rest) {
                    out.push(Source::new(SourceKind::Path, v, origin, "path"));
                }
                continue;
            }
            "git_source" => {
                // git_source(:name) { |repo| "https://host/#{repo}.git" }
                if let Some(v) = t
                    .find('{')
                    .and_then(|b| t[b..].find(['"', '\'']).map(|q| b + q))
                    .and_then(|q| first_literal(&t[q..]))
                {
                    out.push(Source::new(SourceKind::Git, v, origin, "git_source"));
                }
                continue;
            }
            "eval_gemfile" => {
                if let Some(v) = first_literal(rest) {
                    gemfile(req, &dir.join(v), out, seen);
                }
                continue;
            }
            "gemspec" => {
                out.push(Source::new(SourceKind::Path, ".", origin, "gemspec"));
                continue;
            }
            _ => {}
        }
        // Options (`git:`, `source:`…) need a `:` or `=>`.
        if (head == "gem" || head == "plugin") && (rest.contains(':') || rest.contains("=>")) {
            let name = first_literal(rest).unwrap_or_default();
            for (key, kind) in [
                ("source", SourceKind::Registry),
                ("git", SourceKind::Git),
                ("github", SourceKind::Git),
                ("gist", SourceKind::Git),
                ("bitbucket", SourceKind::Git),
                ("path", SourceKind::Path),
            ] {
                if let Some(v) = option_literal(rest, key) {
                    let v = match key {
                        "github" | "gist" | "bitbucket" => format!("{key}:{v}"),
                        _ => v,
                    };
                    out.push(Source::new(kind, v, origin.clone(), name.clone()));
                }
            }
        }
    }
}

fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The first string literal in `s` (`"…"`, `'…'`, `%q(…)`).
fn first_literal(s: &str) -> Option<String> {
    let s = s.trim_start();
    let q = s.chars().next()?;
    if q == '"' || q == '\'' {
        let end = s[1..].find(q)?;
        return Some(s[1..1 + end].to_string());
    }
    if let Some(r) = s.strip_prefix("%q(").or_else(|| s.strip_prefix("%Q(")) {
        return r.find(')').map(|e| r[..e].to_string());
    }
    None
}

/// The literal value of `key: "…"` or `:key => "…"` in a `gem` line.
fn option_literal(s: &str, key: &str) -> Option<String> {
    for pat in [
        format!("{key}:"),
        format!(":{key} =>"),
        format!(":{key}=>"),
        format!("\"{key}\" =>"),
    ] {
        let mut from = 0;
        while let Some(at) = s[from..].find(&pat).map(|a| from + a) {
            let before = s[..at].chars().last();
            from = at + pat.len();
            // Not the tail of a longer word (`require_path:`).
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(v) = first_literal(&s[at + pat.len()..]) {
                return Some(v);
            }
        }
    }
    None
}

fn bundle_sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let args = req.args;
    let (cmd_at, command) = bundle_command(args);
    let mut out: Vec<Source> = Vec::new();
    // Flags: --gemfile, and the sources of `bundle add` / `bundle plugin install`.
    let mut gemfile_flag: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            break;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let value = |i: &mut usize| -> Option<String> {
            if let Some(v) = &inline {
                return Some(v.clone());
            }
            *i += 1;
            args.get(*i - 1).cloned()
        };
        let origin = Origin::flag(name);
        match name {
            "--gemfile" => gemfile_flag = value(&mut i),
            "--source" | "-s" if matches!(command.as_str(), "add" | "plugin") => {
                if let Some(v) = value(&mut i) {
                    out.push(Source::new(SourceKind::Registry, v, origin, "source"));
                }
            }
            "--git" if matches!(command.as_str(), "add" | "plugin") => {
                if let Some(v) = value(&mut i) {
                    out.push(Source::new(SourceKind::Git, v, origin, "git"));
                }
            }
            "--github" if command == "add" => {
                if let Some(v) = value(&mut i) {
                    out.push(Source::new(
                        SourceKind::Git,
                        format!("github:{v}"),
                        origin,
                        "github",
                    ));
                }
            }
            "--path" | "--local_git" if matches!(command.as_str(), "add" | "plugin") => {
                if let Some(v) = value(&mut i) {
                    out.push(Source::new(SourceKind::Path, v, origin, "path"));
                }
            }
            _ => {}
        }
    }
    if command == "config" {
        // `bundle config [set] [--local|--global] mirror.URL VALUE` persists a mirror.
        let pos: Vec<&String> = args
            .iter()
            .skip(cmd_at.map_or(0, |c| c + 1))
            .filter(|a| !a.starts_with('-'))
            .filter(|a| !matches!(a.as_str(), "set" | "get" | "unset"))
            .collect();
        if let [key, value, ..] = pos.as_slice() {
            if key.starts_with("mirror.") && !key.ends_with(".fallback_timeout") {
                out.push(Source::new(
                    SourceKind::Registry,
                    value.to_string(),
                    Origin::arg(value.to_string()),
                    key.to_string(),
                ));
            }
        }
        return out;
    }
    if verb != Verb::Install && command != "outdated" {
        return out;
    }
    // The Gemfile.
    let chosen = gemfile_flag
        .clone()
        .or_else(|| req.env.get("BUNDLE_GEMFILE").filter(|g| !g.is_empty()));
    let mut gemfile_path = match chosen.clone() {
        Some(g) => {
            let p = PathBuf::from(&g);
            if p.is_absolute() {
                p
            } else {
                req.cwd.join(p)
            }
        }
        None => req
            .cwd
            .ancestors()
            .take(64)
            .find_map(|d| {
                ["gems.rb", "Gemfile"]
                    .iter()
                    .map(|n| d.join(n))
                    .find(|p| req.files.read(p).is_some())
            })
            .unwrap_or_else(|| req.cwd.join("Gemfile")),
    };
    let root = gemfile_path.parent().unwrap_or(req.cwd).to_path_buf();
    // Settings.
    let ignore = req.env.get("BUNDLE_IGNORE_CONFIG").is_some();
    let mut layers = Vec::new();
    if !ignore {
        let app = match req.env.get("BUNDLE_APP_CONFIG").filter(|a| !a.is_empty()) {
            Some(a) if Path::new(&a).is_absolute() => PathBuf::from(a),
            Some(a) => root.join(a),
            None => root.join(".bundle"),
        };
        let local = app.join("config");
        let kv = req
            .files
            .read(&local)
            .map(|t| bundle_config(&t, &local))
            .unwrap_or_default();
        layers.push((Layer::Local, kv));
    }
    let mut env_kv: Vec<(String, String, Origin)> = req
        .env
        .vars()
        .into_iter()
        .filter(|(k, _)| k.starts_with("BUNDLE_") && k.len() > 7)
        .map(|(k, v)| (k.clone(), v, Origin::env(k)))
        .collect();
    env_kv.sort_by(|a, b| a.0.cmp(&b.0));
    layers.push((Layer::Env, env_kv));
    if !ignore {
        let global = ["BUNDLE_CONFIG", "BUNDLE_USER_CONFIG"]
            .iter()
            .find_map(|k| req.env.get(k).filter(|v| !v.is_empty()).map(PathBuf::from))
            .or_else(|| {
                req.env
                    .get("BUNDLE_USER_HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join("config"))
            })
            .or_else(|| req.home.map(|h| h.join(".bundle").join("config")));
        if let Some(g) = global {
            let kv = req
                .files
                .read(&g)
                .map(|t| bundle_config(&t, &g))
                .unwrap_or_default();
            layers.push((Layer::Global, kv));
        }
    }
    let mut settings = Settings { layers };
    // `BUNDLE_GEMFILE` in a config file (the project's `.bundle/config`,
    // say) sends Bundler to another Gemfile (relative to the working
    // directory), whose settings it then reads too (checked with Bundler
    // 2.3: `Bundler.settings[:gemfile]` is set in its environment).
    if chosen.is_none() {
        if let Some((g, ..)) = settings
            .get("BUNDLE_GEMFILE")
            .filter(|(g, ..)| !g.is_empty())
        {
            let g = expand_user(g, req.home);
            gemfile_path = if g.is_absolute() { g } else { req.cwd.join(g) };
            if !ignore {
                let local = gemfile_path
                    .parent()
                    .unwrap_or(req.cwd)
                    .join(".bundle")
                    .join("config");
                let kv = req
                    .files
                    .read(&local)
                    .map(|t| bundle_config(&t, &local))
                    .unwrap_or_default();
                settings.layers.insert(0, (Layer::Local, kv));
            }
        }
    }
    for key in [
        "BUNDLE_SSL_VERIFY_MODE",
        "BUNDLE_DISABLE_CHECKSUM_VALIDATION",
    ] {
        if let Some((v, o, _)) = settings.get(key) {
            let bad = if key == "BUNDLE_SSL_VERIFY_MODE" {
                v.trim() == "0"
            } else {
                truthy(v)
            };
            if bad {
                out.push(Source::new(
                    SourceKind::Insecure,
                    v,
                    o.clone(),
                    key.to_lowercase(),
                ));
            }
        }
    }
    // Gemfile and lockfile sources.
    let mut found: Vec<Source> = Vec::new();
    let mut seen = Vec::new();
    gemfile(req, &gemfile_path, &mut found, &mut seen);
    let lock = if gemfile_path.file_name().is_some_and(|n| n == "gems.rb") {
        root.join("gems.locked")
    } else {
        PathBuf::from(format!("{}.lock", gemfile_path.display()))
    };
    if matches!(
        command.as_str(),
        "install" | "update" | "cache" | "lock" | "add" | "outdated" | "remove" | "pristine"
    ) {
        if let Some(text) = req.files.read(&lock) {
            found.extend(lockfile(&text, &lock));
        }
    }
    if !found
        .iter()
        .any(|s| s.kind == SourceKind::Registry && s.subject.starts_with("source"))
    {
        found.insert(
            0,
            Source::new(SourceKind::Registry, "builtin", Origin::Builtin, "source"),
        );
    }
    // Mirrors.
    let all = settings
        .get("BUNDLE_MIRROR__ALL")
        .filter(|(v, _, _)| !v.is_empty());
    let all_fallback = settings
        .get("BUNDLE_MIRROR__ALL__FALLBACK_TIMEOUT")
        .is_some_and(|(v, _, _)| !matches!(v.trim(), "0" | "false" | ""));
    let local_all = all.is_some_and(|(_, _, l)| l == Layer::Local);
    let local_fallback = settings
        .get("BUNDLE_MIRROR__ALL__FALLBACK_TIMEOUT")
        .is_some_and(|(_, _, l)| l == Layer::Local);
    // What pkgward's BUNDLE_MIRROR__ALL replaces: everything a gem source
    // resolves to, unless the project's own settings win over it.
    let forceable = !local_all && (!local_fallback || !all_fallback);
    let mark = |s: Source| if forceable { s.overridable() } else { s };
    let mut mirrors_used: Vec<String> = Vec::new();
    for s in found {
        let gem_source = matches!(s.kind, SourceKind::Registry | SourceKind::Locked);
        if !gem_source {
            out.push(s);
            continue;
        }
        let mirror = if all.is_some() {
            Some(("BUNDLE_MIRROR__ALL".to_string(), all_fallback))
        } else if s.value != "builtin" {
            let key = mirror_key(&s.value);
            let host = s
                .value
                .split("://")
                .nth(1)
                .and_then(|r| r.split('/').next())
                .map(|h| {
                    format!(
                        "BUNDLE_MIRROR__{}",
                        h.replace('.', "__")
                            .replace('-', "___")
                            .to_ascii_uppercase()
                    )
                });
            let key = [Some(key), host]
                .into_iter()
                .flatten()
                .find(|k| settings.get(k).is_some_and(|(v, _, _)| !v.is_empty()));
            key.map(|k| {
                let fb = settings
                    .get(&format!("{k}__FALLBACK_TIMEOUT"))
                    .is_some_and(|(v, _, _)| !matches!(v.trim(), "0" | "false" | ""));
                (k, fb)
            })
        } else {
            None
        };
        match mirror {
            Some((key, fallback)) => {
                if !mirrors_used.contains(&key) {
                    mirrors_used.push(key.clone());
                    if let Some((v, o, layer)) = settings.get(&key) {
                        let m = Source::new(SourceKind::Registry, v, o.clone(), mirror_name(&key));
                        out.push(if key == "BUNDLE_MIRROR__ALL" && layer == Layer::Local {
                            m
                        } else {
                            mark(m)
                        });
                    }
                }
                if fallback {
                    out.push(mark(s));
                }
            }
            None => out.push(mark(s)),
        }
    }
    // Mirrors configured for sources not in this Gemfile are not used.
    let _ = settings.keys();
    out
}

fn mirror_name(key: &str) -> String {
    let rest = key.trim_start_matches("BUNDLE_");
    rest.replace("___", "-")
        .replace("__", ".")
        .to_ascii_lowercase()
}

/// `remote:` lines of a Gemfile.lock, by section.
fn lockfile(text: &str, path: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    let mut section = "";
    for (i, raw) in text.lines().enumerate() {
        if !raw.starts_with(' ') && !raw.trim().is_empty() {
            section = raw.trim();
            continue;
        }
        let t = raw.trim();
        let Some(remote) = t.strip_prefix("remote:") else {
            continue;
        };
        if raw.len() - raw.trim_start().len() != 2 {
            continue;
        }
        let remote = remote.trim();
        let origin = Origin::file(path, i + 1);
        let kind = match section {
            "GEM" => SourceKind::Locked,
            "GIT" => SourceKind::Git,
            "PATH" => SourceKind::Path,
            "PLUGIN SOURCE" => {
                if remote.contains("://") {
                    SourceKind::Git
                } else {
                    SourceKind::Path
                }
            }
            _ => continue,
        };
        out.push(Source::new(
            kind,
            remote,
            origin,
            format!("{section} remote"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::source::fake::{FakeEnv, FakeFiles};
    use crate::tools::Tool;
    use std::collections::BTreeMap;

    fn run(tool: &str, args: &[&str], env: &[(&str, &str)], files: &[(&str, &str)]) -> Vec<Source> {
        let env = FakeEnv(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let files = FakeFiles(
            files
                .iter()
                .map(|(p, t)| (PathBuf::from(p), t.to_string()))
                .collect::<BTreeMap<_, _>>(),
        );
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let req = Request {
            tool: Tool::by_name(tool).unwrap(),
            args: &args,
            env: &env,
            files: &files,
            cwd: Path::new("/w/app/lib"),
            home: Some(Path::new("/home/u")),
            real_tool: None,
        };
        sources(&req, verb(tool, &args))
    }

    fn has(got: &[Source], kind: SourceKind, value: &str, origin: &str) -> bool {
        got.iter()
            .any(|s| s.kind == kind && s.value == value && s.origin.to_string() == origin)
    }

    #[test]
    fn verbs() {
        let cases: &[(&str, &[&str], Verb)] = &[
            ("gem", &["install", "x"], Verb::Install),
            ("gem", &["i", "x"], Verb::Install),
            ("gem", &["inst", "x"], Verb::Install),
            ("gem", &["--config-file", "rc", "update"], Verb::Install),
            ("gem", &["push", "x.gem"], Verb::Publish),
            ("gem", &["list"], Verb::Other),
            ("gem", &["--version"], Verb::Other),
            ("bundle", &[], Verb::Install),
            ("bundle", &["--retry", "3"], Verb::Install),
            ("bundle", &["i"], Verb::Install),
            ("bundle", &["inst"], Verb::Install),
            ("bundle", &["up"], Verb::Install),
            ("bundle", &["pack"], Verb::Install),
            ("bundle", &["exec", "rake"], Verb::Other),
            ("bundle", &["-v"], Verb::Other),
        ];
        for (tool, args, want) in cases {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert_eq!(verb(tool, &args), *want, "{tool} {args:?}");
        }
    }

    #[test]
    fn gem_sources_and_gemrc() {
        let got = run("gem", &["install", "x"], &[], &[]);
        assert!(has(
            &got,
            SourceKind::Registry,
            "builtin",
            "the tool's built-in default"
        ));
        assert!(got[0].overridable);
        let rc = "---\n:verbose: true\n:sources:\n- http://a.test/\n- \"http://b.test/\"\n:ssl_verify_mode: 0\n";
        let got = run(
            "gem",
            &["install", "x", "--so", "http://c.test/", "-shttp://d.test/"],
            &[],
            &[("/home/u/.gemrc", rc)],
        );
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "http://a.test/",
                "/home/u/.gemrc:4"
            ),
            "{got:#?}"
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://b.test/",
            "/home/u/.gemrc:5"
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://c.test/",
            "the command-line flag --so"
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://d.test/",
            "the command-line flag -s"
        ));
        assert!(has(&got, SourceKind::Insecure, "0", "/home/u/.gemrc:6"));
        assert!(!got.iter().any(|s| s.value == "builtin"));
        // --clear-sources then --source: only that source.
        let got = run(
            "gem",
            &["install", "--clear-sources", "--source=http://e.test/", "x"],
            &[],
            &[("/home/u/.gemrc", rc)],
        );
        let regs: Vec<&str> = got
            .iter()
            .filter(|s| s.kind == SourceKind::Registry)
            .map(|s| s.value.as_str())
            .collect();
        assert_eq!(regs, ["http://e.test/"]);
        // A trailing --clear-sources brings the configured ones back, not overridable.
        let got = run(
            "gem",
            &["install", "-s", "http://e.test/", "--clear", "x"],
            &[],
            &[("/home/u/.gemrc", rc)],
        );
        assert!(
            got.iter()
                .any(|s| s.value == "http://a.test/" && !s.overridable),
            "{got:#?}"
        );
        // GEMRC replaces ~/.gemrc; XDG file when there is no ~/.gemrc; --norc none.
        let got = run(
            "gem",
            &["fetch", "x"],
            &[("GEMRC", "/etc/alt")],
            &[
                ("/etc/alt", ":sources: [http://f.test/]\n"),
                ("/home/u/.gemrc", rc),
            ],
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://f.test/",
            "/etc/alt:1"
        ));
        assert!(!got.iter().any(|s| s.value == "http://a.test/"));
        let got = run(
            "gem",
            &["install", "x"],
            &[],
            &[(
                "/home/u/.config/gem/gemrc",
                ":sources:\n  - http://g.test/\n",
            )],
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://g.test/",
            "/home/u/.config/gem/gemrc:2"
        ));
        let got = run(
            "gem",
            &["install", "--norc", "x"],
            &[],
            &[("/home/u/.gemrc", rc)],
        );
        assert!(got.iter().any(|s| s.value == "builtin"));
        // Local gems, push host, sources --add.
        let got = run(
            "gem",
            &["install", "./pkg/x-1.0.gem", "http://h.test/x.gem"],
            &[],
            &[],
        );
        assert!(has(
            &got,
            SourceKind::Path,
            "./pkg/x-1.0.gem",
            "the command-line argument `./pkg/x-1.0.gem`"
        ));
        assert!(has(
            &got,
            SourceKind::Direct,
            "http://h.test/x.gem",
            "the command-line argument `http://h.test/x.gem`"
        ));
        let got = run(
            "gem",
            &["push", "x.gem"],
            &[("RUBYGEMS_HOST", "http://i.test")],
            &[],
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://i.test",
            "the environment variable RUBYGEMS_HOST"
        ));
        let got = run("gem", &["sources", "-a", "http://j.test/"], &[], &[]);
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://j.test/",
            "the command-line flag -a"
        ));
    }

    #[test]
    fn gem_force_inserts_after_the_command() {
        let args: Vec<String> = ["-q", "install", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let src = vec![
            Source::new(SourceKind::Registry, "builtin", Origin::Builtin, "sources").overridable(),
        ];
        let p = force("gem", &args, "http://m/", &src, &mut |_| false).unwrap();
        assert_eq!(p.insert_at, 2);
        assert_eq!(p.insert_args, ["--clear-sources", "--source", "http://m/"]);
        assert_eq!(p.overridden.len(), 1);
        let args: Vec<String> = ["push", "x.gem"].iter().map(|s| s.to_string()).collect();
        assert!(force("gem", &args, "http://m/", &src, &mut |_| false).is_none());
    }

    const GEMFILE: &str = "source \"https://a.test\" # main\n\ngem 'rails', '~> 7.0'\ngem 'x', git: 'https://git.test/x.git', branch: 'main'\ngem \"y\", :github => \"u/y\"\ngem 'z', path: '../z'\ngem 'w', source: 'https://w.test/'\nsource 'https://b.test/' do\n  gem 'v'\nend\ngit 'https://git2.test/r.git' do\n  gem 'q'\nend\nsource ENV.fetch('GEMS')\ngemspec\ngit_source(:corp) { |repo| \"https://corp.test/#{repo}.git\" }\n";

    #[test]
    fn bundle_gemfile_lockfile_and_mirrors() {
        let lock = "GEM\n  remote: https://a.test/\n  specs:\n    rails (7.0.0)\n\nGIT\n  remote: https://git.test/x.git\n  revision: abc\n  specs:\n    x (1.0)\n\nPATH\n  remote: ../z\n  specs:\n    z (1.0)\n";
        let got = run(
            "bundle",
            &["install"],
            &[],
            &[("/w/app/Gemfile", GEMFILE), ("/w/app/Gemfile.lock", lock)],
        );
        let f = "/w/app/Gemfile";
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "https://a.test",
                &format!("{f}:1")
            ),
            "{got:#?}"
        );
        assert!(has(
            &got,
            SourceKind::Git,
            "https://git.test/x.git",
            &format!("{f}:4")
        ));
        assert!(has(&got, SourceKind::Git, "github:u/y", &format!("{f}:5")));
        assert!(has(&got, SourceKind::Path, "../z", &format!("{f}:6")));
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://w.test/",
            &format!("{f}:7")
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://b.test/",
            &format!("{f}:8")
        ));
        assert!(has(
            &got,
            SourceKind::Git,
            "https://git2.test/r.git",
            &format!("{f}:11")
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "ENV.fetch('GEMS')",
            &format!("{f}:14")
        ));
        assert!(has(
            &got,
            SourceKind::Git,
            "https://corp.test/#{repo}.git",
            &format!("{f}:16")
        ));
        assert!(has(
            &got,
            SourceKind::Locked,
            "https://a.test/",
            "/w/app/Gemfile.lock:2"
        ));
        assert!(has(
            &got,
            SourceKind::Git,
            "https://git.test/x.git",
            "/w/app/Gemfile.lock:7"
        ));
        assert!(got
            .iter()
            .filter(|s| s.kind == SourceKind::Registry)
            .all(|s| s.overridable));
        assert!(got
            .iter()
            .filter(|s| s.kind == SourceKind::Git)
            .all(|s| !s.overridable));
        // A per-source mirror replaces that source; mirror.all replaces all.
        let cfg = "---\nBUNDLE_MIRROR__HTTPS://A__TEST/: \"https://corp.test/gems/\"\n";
        let got = run(
            "bundle",
            &[],
            &[],
            &[
                ("/w/app/Gemfile", "source 'https://a.test'\n"),
                ("/home/u/.bundle/config", cfg),
            ],
        );
        let regs: Vec<(&str, String)> = got
            .iter()
            .filter(|s| s.kind == SourceKind::Registry)
            .map(|s| (s.value.as_str(), s.origin.to_string()))
            .collect();
        assert_eq!(
            regs,
            [(
                "https://corp.test/gems/",
                "/home/u/.bundle/config:2".to_string()
            )]
        );
        let got = run(
            "bundle",
            &["install"],
            &[("BUNDLE_MIRROR__ALL", "http://m.test/")],
            &[("/w/app/Gemfile", GEMFILE)],
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://m.test/",
            "the environment variable BUNDLE_MIRROR__ALL"
        ));
        assert!(!got.iter().any(|s| s.value == "https://a.test"));
        // mirror.all in the project's .bundle/config beats the environment: not overridable.
        let got = run(
            "bundle",
            &["install"],
            &[],
            &[
                ("/w/app/Gemfile", GEMFILE),
                (
                    "/w/app/.bundle/config",
                    "BUNDLE_MIRROR__ALL: http://evil.test/\nBUNDLE_SSL_VERIFY_MODE: \"0\"\n",
                ),
            ],
        );
        assert!(
            got.iter()
                .any(|s| s.value == "http://evil.test/" && !s.overridable),
            "{got:#?}"
        );
        assert!(has(
            &got,
            SourceKind::Insecure,
            "0",
            "/w/app/.bundle/config:2"
        ));
        // BUNDLE_GEMFILE and gems.rb.
        let got = run(
            "bundle",
            &["install"],
            &[("BUNDLE_GEMFILE", "/o/Gemfile.ci")],
            &[("/o/Gemfile.ci", "source 'https://ci.test'\n")],
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://ci.test",
            "/o/Gemfile.ci:1"
        ));
        let got = run(
            "bundle",
            &["install"],
            &[],
            &[
                ("/w/app/gems.rb", "source 'https://gr.test'\n"),
                ("/w/app/gems.locked", "GEM\n  remote: https://gl.test/\n"),
            ],
        );
        assert!(has(
            &got,
            SourceKind::Locked,
            "https://gl.test/",
            "/w/app/gems.locked:2"
        ));
        // bundle add flags, bundle config mirror.
        let got = run(
            "bundle",
            &[
                "add",
                "x",
                "--source",
                "https://add.test/",
                "--git=https://g.test/x",
            ],
            &[],
            &[("/w/app/Gemfile", "")],
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://add.test/",
            "the command-line flag --source"
        ));
        assert!(has(
            &got,
            SourceKind::Git,
            "https://g.test/x",
            "the command-line flag --git"
        ));
        let got = run(
            "bundle",
            &[
                "config",
                "set",
                "--global",
                "mirror.https://a.test",
                "https://evil.test/",
            ],
            &[],
            &[],
        );
        assert!(got.iter().any(|s| s.value == "https://evil.test/"));
    }

    #[test]
    fn bundle_mirror_keys_match_bundler() {
        assert_eq!(
            mirror_key("https://a-b.example.com/x"),
            "BUNDLE_MIRROR__HTTPS://A___B__EXAMPLE__COM/X/"
        );
        assert_eq!(
            mirror_name("BUNDLE_MIRROR__HTTPS://A___B__EXAMPLE__COM/"),
            "mirror.https://a-b.example.com/"
        );
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        for j in [
            "source",
            "source '",
            "gem 'x', git:",
            ":sources:\n-",
            "- x",
            "\u{0}",
            "GEM\n  remote:",
            "BUNDLE_X",
            "gem \"a\", source: %q(",
            "eval_gemfile 'Gemfile'",
        ] {
            for p in [
                "/w/app/Gemfile",
                "/w/app/Gemfile.lock",
                "/home/u/.gemrc",
                "/w/app/.bundle/config",
            ] {
                let _ = run("bundle", &["install"], &[], &[(p, j)]);
                let _ = run("gem", &["install", "-g", "-s"], &[], &[(p, j)]);
            }
        }
    }
}
