//! cargo.
//!
//! Where cargo takes its sources from (each fact checked against cargo 1.95):
//!
//! - Config, highest first: the effective `--config KEY=VALUE|FILE` list
//!   (a `--config` given after a built-in subcommand *replaces* those given
//!   before it — clap's global-argument rule — while an alias, `b` included,
//!   keeps both; cargo takes the argument as a file when `cwd/ARG` exists),
//!   then `CARGO_*` variables (only for keys cargo looks up by name:
//!   `registries.<n>.index`, `alias.<n>`; `source.*` has no environment
//!   form), then `.cargo/config` (the legacy name wins over
//!   `.cargo/config.toml` when both exist) in the working directory and each
//!   ancestor (deeper first), then `$CARGO_HOME/config[.toml]`. `cargo
//!   install` walks up from `$CARGO_HOME` instead of the working directory
//!   (it ignores the project's config). A file's `include` list is
//!   merged below the file itself (later entries above earlier ones).
//! - crates-io (`builtin`) unless `[source.crates-io] replace-with` (followed
//!   through chains) or `[source.crates-io] registry` redirects it; any other
//!   `[source.<n>]` with a location and `replace-with` redirects that
//!   location. A `directory`/`local-registry` end is a local path, `git` a
//!   git repository.
//! - Every `[registries.<n>] index` / `CARGO_REGISTRIES_<N>_INDEX` (a
//!   dependency, `--registry`, `registry.default` or `package.publish` can
//!   name it; all are listed, so one named only in a manifest that is not
//!   read is still checked). `registries.crates-io.index` and
//!   `registry.index` are ignored or refused by cargo and so here.
//! - `--index URL`, `cargo install|add --git URL / --path DIR`.
//! - Manifests (`--manifest-path` or the nearest `Cargo.toml`, its workspace
//!   root, explicitly listed members and path dependencies, recursively):
//!   `git`, `registry-index` and `path` of `[dependencies]`,
//!   `[dev-dependencies]`, `[build-dependencies]`, their `target.<cfg>`
//!   forms, `[workspace.dependencies]`, `[patch.<source>]`, `[replace]`;
//!   `[patch]` and `paths` of config files.
//! - `Cargo.lock`: a `git+` source is a git repository (unless a source
//!   replacement covers it); a `sparse+` source that no configured registry
//!   or manifest explains is listed as locked. A `registry+` source is
//!   crates-io's identity (cargo writes crates-io that way whatever its
//!   protocol and replacement) or a git-protocol registry already listed, so
//!   it adds nothing; cargo never fetches a lock entry no dependency asks
//!   for (checked).
//!
//! Forcing a mirror: a generated config file passed as `--config FILE`
//! replaces crates-io with `pkgward-mirror` (a file rather than
//! `KEY=VALUE`, because cargo reads `KEY=VALUE` as a path when a file of
//! that name exists in the project). It goes before the subcommand, or
//! right after a built-in subcommand that has `--config` of its own (which
//! would otherwise drop ours), or after `clippy` (which forwards only its
//! own arguments to the inner `cargo check`). Named registries are forced
//! through `CARGO_REGISTRIES_<N>_INDEX`, which beats config files. An
//! external subcommand does not pass `--config` on to the cargo it runs, so
//! there crates-io cannot be forced. A policy names the mirror as an http(s)
//! URL (policy entries carry no `sparse+`): cargo is given `sparse+URL`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::source::{Origin, Source, SourceKind};
use super::{Plan, Request, Verb};

/// cargo's built-in subcommands (cargo 1.95 `--list`).
const BUILTIN: &[&str] = &[
    "add",
    "bench",
    "build",
    "check",
    "clean",
    "config",
    "doc",
    "fetch",
    "fix",
    "generate-lockfile",
    "git-checkout",
    "help",
    "info",
    "init",
    "install",
    "locate-project",
    "login",
    "logout",
    "metadata",
    "new",
    "owner",
    "package",
    "pkgid",
    "publish",
    "read-manifest",
    "remove",
    "report",
    "run",
    "rustc",
    "rustdoc",
    "search",
    "test",
    "tree",
    "uninstall",
    "update",
    "vendor",
    "verify-project",
    "version",
    "yank",
];

/// cargo's built-in aliases. cargo expands them like user aliases (both
/// levels of `--config` are kept).
const BUILTIN_ALIASES: &[(&str, &str)] = &[
    ("b", "build"),
    ("c", "check"),
    ("d", "doc"),
    ("t", "test"),
    ("r", "run"),
    ("rm", "remove"),
];

/// Subcommands that use no registry.
const OFFLINE: &[&str] = &[
    "clean",
    "config",
    "fmt",
    "git-checkout",
    "help",
    "init",
    "locate-project",
    "logout",
    "new",
    "read-manifest",
    "report",
    "uninstall",
    "verify-project",
    "version",
];

/// Subcommands that work on the project (read its manifests and lockfile).
const PROJECT: &[&str] = &[
    "add",
    "bench",
    "build",
    "check",
    "clippy",
    "doc",
    "fetch",
    "fix",
    "generate-lockfile",
    "metadata",
    "package",
    "pkgid",
    "publish",
    "remove",
    "run",
    "rustc",
    "rustdoc",
    "test",
    "tree",
    "update",
    "vendor",
];

/// Global options that take a value.
const GLOBAL_VALUE: &[&str] = &["--config", "-Z", "--color", "-C", "--explain"];

/// The name pkgward gives the mirror's source.
const MIRROR_SOURCE: &str = "pkgward-mirror";

/// The generated config file (relative to the plan's private directory).
const MIRROR_FILE: &str = "cargo-mirror.toml";

/// Caps that keep hostile inputs cheap.
const MAX_INCLUDE_DEPTH: usize = 8;
const MAX_MANIFESTS: usize = 256;
const MAX_ALIAS_DEPTH: usize = 16;

fn builtin_alias(name: &str) -> Option<&'static str> {
    BUILTIN_ALIASES
        .iter()
        .find(|(a, _)| *a == name)
        .map(|(_, t)| *t)
}

pub(super) fn verb(args: &[String]) -> Verb {
    let line = parse_top(args);
    let Some(at) = line.sub_at else {
        return Verb::Other;
    };
    let name = args[at].as_str();
    let name = builtin_alias(name).unwrap_or(name);
    let rest = &args[at + 1..];
    match name {
        "publish" | "owner" | "yank" => Verb::Publish,
        "metadata"
            if rest
                .iter()
                .take_while(|a| *a != "--")
                .any(|a| a == "--no-deps") =>
        {
            Verb::Other
        }
        "add" | "bench" | "build" | "check" | "clippy" | "doc" | "fetch" | "fix"
        | "generate-lockfile" | "install" | "metadata" | "package" | "remove" | "run" | "rustc"
        | "rustdoc" | "test" | "tree" | "update" | "vendor" => Verb::Install,
        n if BUILTIN.contains(&n) || OFFLINE.contains(&n) => Verb::Other,
        // An external subcommand or a user alias: it may build and fetch.
        _ => Verb::Install,
    }
}

// ---- the command line ---------------------------------------------------

/// What the command line says before the subcommand.
#[derive(Debug, Default)]
struct TopLine {
    /// Index of the first argument after a `+toolchain` argument.
    start: usize,
    /// `--config` values before the subcommand.
    configs: Vec<String>,
    /// Index of the subcommand.
    sub_at: Option<usize>,
    /// `-C DIR` (nightly): cargo changes to DIR first.
    chdir: Option<String>,
}

/// Splits `--name=value` / `-Xvalue` into the option and its inline value.
fn split_opt(arg: &str) -> (&str, Option<&str>) {
    if let Some(body) = arg.strip_prefix("--") {
        return match body.split_once('=') {
            Some((n, v)) => (&arg[..n.len() + 2], Some(v)),
            None => (arg, None),
        };
    }
    if arg.len() > 2 && (arg.starts_with("-Z") || arg.starts_with("-C")) {
        let v = &arg[2..];
        return (&arg[..2], Some(v.strip_prefix('=').unwrap_or(v)));
    }
    (arg, None)
}

fn parse_top(args: &[String]) -> TopLine {
    let mut line = TopLine {
        start: usize::from(args.first().is_some_and(|a| a.starts_with('+'))),
        ..TopLine::default()
    };
    let mut i = line.start;
    while i < args.len() {
        let arg = args[i].as_str();
        if arg == "--" {
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            line.sub_at = Some(i);
            break;
        }
        i += 1;
        let (name, inline) = split_opt(arg);
        if !GLOBAL_VALUE.contains(&name) {
            continue;
        }
        let value = match inline {
            Some(v) => v.to_string(),
            None => match args.get(i) {
                Some(v) => {
                    i += 1;
                    v.clone()
                }
                None => break,
            },
        };
        match name {
            "--config" => line.configs.push(value),
            "-C" => line.chdir = Some(value),
            _ => {}
        }
    }
    line
}

/// Options of a subcommand that name sources, up to `--`.
#[derive(Debug, Default)]
struct SubLine {
    configs: Vec<String>,
    /// (option, value) for `--index`, `--registry`, `--git`, `--path`,
    /// `--manifest-path`.
    flags: Vec<(String, String)>,
    no_deps: bool,
    /// The first positional (a crate spec of `cargo install` / `add`).
    first_positional: Option<String>,
}

const SUB_SOURCE_FLAGS: &[&str] = &[
    "--index",
    "--registry",
    "--git",
    "--path",
    "--manifest-path",
    "-s",
    "--sync",
];

/// Subcommand options that take a value (so the value is not a positional).
const SUB_VALUE: &[&str] = &[
    "--branch",
    "--tag",
    "--rev",
    "--version",
    "--vers",
    "--root",
    "-p",
    "--package",
    "-F",
    "--features",
    "--target",
    "--target-dir",
    "--bin",
    "--example",
    "--test",
    "--bench",
    "-j",
    "--jobs",
    "--profile",
    "--message-format",
    "--rename",
    "--base",
    "--color",
    "-Z",
    "--exclude",
    "--lockfile-path",
    "--artifact-dir",
    "--format-version",
    "--filter-platform",
    "--token",
    "--add",
    "--remove",
];

fn parse_sub(args: &[String]) -> SubLine {
    let mut sub = SubLine::default();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        if arg == "--" {
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            if sub.first_positional.is_none() {
                sub.first_positional = Some(arg.to_string());
            }
            continue;
        }
        let (name, inline) = split_opt(arg);
        if name == "--no-deps" {
            sub.no_deps = true;
            continue;
        }
        let wanted = name == "--config" || SUB_SOURCE_FLAGS.contains(&name);
        if !wanted && !SUB_VALUE.contains(&name) {
            continue;
        }
        let value = match inline {
            Some(v) => v.to_string(),
            None => match args.get(i) {
                Some(v) => {
                    i += 1;
                    v.clone()
                }
                None => break,
            },
        };
        if name == "--config" {
            sub.configs.push(value);
        } else if wanted {
            sub.flags.push((name.to_string(), value));
        }
    }
    sub
}

/// How cargo runs the subcommand, as far as `--config` is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A built-in subcommand typed as such: its own `--config` list, when
    /// non-empty, replaces the one before it.
    Builtin,
    /// Reached through an alias (built-in or user): both lists count.
    Alias,
    /// `cargo clippy`: the inner `cargo check` gets clippy's arguments only.
    Clippy,
    /// Another program (`cargo-NAME`), which may run cargo itself without
    /// the outer `--config` list.
    External,
}

/// The subcommand after alias expansion.
struct Command {
    name: String,
    kind: Kind,
    /// The arguments after the subcommand (with alias expansions).
    rest: Vec<String>,
    /// The `--config` values that aliases set in config files add, with
    /// the file of each alias.
    alias_configs: Vec<(String, PathBuf)>,
}

/// Normalises a name the way cargo derives environment variables from
/// config keys (`my-reg` → `MY_REG`).
fn env_key(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

fn resolve_command(args: &[String], at: usize, cfg: &Config) -> Command {
    let mut name = args[at].clone();
    let mut rest: Vec<String> = args[at + 1..].to_vec();
    let mut via_alias = false;
    let mut alias_configs: Vec<(String, PathBuf)> = Vec::new();
    for _ in 0..MAX_ALIAS_DEPTH {
        if BUILTIN.contains(&name.as_str()) {
            break;
        }
        if let Some(t) = builtin_alias(&name) {
            name = t.to_string();
            via_alias = true;
            break;
        }
        match cfg.aliases.get(&env_key(&name)) {
            Some(exp) if !exp.is_empty() => {
                if let Some(file) = cfg.alias_files.get(&env_key(&name)) {
                    alias_configs.extend(
                        parse_sub(&exp[1..])
                            .configs
                            .into_iter()
                            .map(|c| (c, file.clone())),
                    );
                }
                let mut new_rest = exp[1..].to_vec();
                new_rest.append(&mut rest);
                rest = new_rest;
                name = exp[0].clone();
                via_alias = true;
            }
            _ => break,
        }
    }
    let kind = if BUILTIN.contains(&name.as_str()) {
        if via_alias {
            Kind::Alias
        } else {
            Kind::Builtin
        }
    } else if name == "clippy" && !via_alias {
        Kind::Clippy
    } else {
        Kind::External
    };
    Command {
        name,
        kind,
        rest,
        alias_configs,
    }
}

// ---- config -------------------------------------------------------------

/// Who set a value: a value set at a lower level is overridden by anything
/// pkgward sets at a higher one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    File,
    Env,
    /// The user's own `--config` (not overridable).
    Cli,
}

#[derive(Clone, Debug)]
struct Set {
    value: String,
    origin: Origin,
    level: Level,
}

/// The merged config keys pkgward needs.
#[derive(Clone, Default)]
struct Config {
    /// `[source.<name>]` → field → value.
    sources: BTreeMap<String, BTreeMap<String, Set>>,
    /// `registries.<name>.index`, keyed by [`env_key`] → (name, index).
    registries: BTreeMap<String, (String, Set)>,
    /// `alias.<name>`, keyed by [`env_key`].
    aliases: BTreeMap<String, Vec<String>>,
    /// The config file that set each alias (none: the environment or the
    /// command line).
    alias_files: BTreeMap<String, PathBuf>,
    /// `[patch.<source>.<crate>]` fields (all of them, from every layer).
    patches: Vec<(String, String, Set)>,
    /// `paths = […]`.
    paths: Vec<Set>,
    /// `build.rustc`, `build.rustc-wrapper`, `build.rustc-workspace-wrapper`,
    /// `build.rustdoc`: programs cargo runs in rustc's place (already to
    /// learn the target, in every command that resolves), with the file
    /// that set each.
    tools: Vec<(String, Set, PathBuf)>,
}

/// Byte offsets of line starts, for spans → line numbers.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Lines {
        let mut v = vec![0];
        v.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines(v)
    }
    fn line(&self, offset: usize) -> usize {
        match self.0.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

/// Where a parsed document came from, to build origins.
struct DocCx<'a> {
    /// The file, or `None` for a `--config KEY=VALUE` argument.
    path: Option<&'a Path>,
    lines: Lines,
    level: Level,
}

impl DocCx<'_> {
    fn origin(&self, span: std::ops::Range<usize>) -> Origin {
        match self.path {
            Some(p) => Origin::file(p, self.lines.line(span.start)),
            None => Origin::flag("--config"),
        }
    }
    fn set(&self, v: &Spanned<DeValue<'_>>) -> Option<Set> {
        let s = v.get_ref().as_str()?;
        Some(Set {
            value: s.to_string(),
            origin: self.origin(v.span()),
            level: self.level,
        })
    }
}

fn table<'a, 'i>(v: Option<&'a Spanned<DeValue<'i>>>) -> Option<&'a DeTable<'i>> {
    v.and_then(|v| v.get_ref().as_table())
}

/// Lexically resolves `.` and `..`.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

const SOURCE_LOCATIONS: &[&str] = &["registry", "local-registry", "directory", "git"];

impl Config {
    /// Loads a config file (its includes first, below it).
    fn load_file(&mut self, req: &Request<'_>, path: &Path, level: Level, depth: usize) {
        if depth > MAX_INCLUDE_DEPTH {
            return;
        }
        let Some(text) = req.files.read(path) else {
            return;
        };
        let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
        self.load_text(req, &text, Some(path), &base, level, depth);
    }

    fn load_text(
        &mut self,
        req: &Request<'_>,
        text: &str,
        path: Option<&Path>,
        base: &Path,
        level: Level,
        depth: usize,
    ) {
        // cargo refuses a config file that is not valid TOML (and then
        // fetches nothing), so such a file adds nothing here.
        let Ok(doc) = DeTable::parse(text) else {
            return;
        };
        let doc = doc.get_ref();
        let cx = DocCx {
            path,
            lines: Lines::new(text),
            level,
        };
        if let Some(inc) = doc.get("include").and_then(|v| v.get_ref().as_array()) {
            for item in inc.iter() {
                let p = match item.get_ref() {
                    DeValue::String(s) => Some(s.as_ref()),
                    DeValue::Table(t) => t.get("path").and_then(|p| p.get_ref().as_str()),
                    _ => None,
                };
                if let Some(p) = p {
                    let inc_path = normalize(&base.join(p));
                    self.load_file(req, &inc_path, level, depth + 1);
                }
            }
        }
        if let Some(sources) = table(doc.get("source")) {
            for (name, def) in sources.iter() {
                let Some(def) = def.get_ref().as_table() else {
                    continue;
                };
                let entry = self.sources.entry(name.get_ref().to_string()).or_default();
                for field in std::iter::once("replace-with").chain(SOURCE_LOCATIONS.iter().copied())
                {
                    if let Some(s) = def.get(field).and_then(|v| cx.set(v)) {
                        entry.insert(field.to_string(), s);
                    }
                }
            }
        }
        if let Some(regs) = table(doc.get("registries")) {
            for (name, def) in regs.iter() {
                let name = name.get_ref();
                if name == "crates-io" {
                    // cargo ignores `registries.crates-io.index`.
                    continue;
                }
                if let Some(s) = table(Some(def))
                    .and_then(|d| d.get("index"))
                    .and_then(|v| cx.set(v))
                {
                    self.registries.insert(env_key(name), (name.to_string(), s));
                }
            }
        }
        if let Some(aliases) = table(doc.get("alias")) {
            for (name, v) in aliases.iter() {
                let words: Vec<String> = match v.get_ref() {
                    DeValue::String(s) => s.split_whitespace().map(str::to_string).collect(),
                    DeValue::Array(a) => a
                        .iter()
                        .filter_map(|x| x.get_ref().as_str().map(str::to_string))
                        .collect(),
                    _ => continue,
                };
                let key = env_key(name.get_ref());
                match path.filter(|_| level == Level::File) {
                    Some(p) => self.alias_files.insert(key.clone(), p.to_path_buf()),
                    None => self.alias_files.remove(&key),
                };
                self.aliases.insert(key, words);
            }
        }
        if let Some(patch) = table(doc.get("patch")) {
            for (src, deps) in patch.iter() {
                let Some(deps) = deps.get_ref().as_table() else {
                    continue;
                };
                for (dep, spec) in deps.iter() {
                    let Some(spec) = spec.get_ref().as_table() else {
                        continue;
                    };
                    for field in ["git", "path", "registry-index"] {
                        if let Some(mut s) = spec.get(field).and_then(|v| cx.set(v)) {
                            if field == "path" {
                                s.value = base.join(&s.value).to_string_lossy().into_owned();
                            }
                            self.patches.push((
                                format!("patch.{}.{}", src.get_ref(), dep.get_ref()),
                                field.to_string(),
                                s,
                            ));
                        }
                    }
                }
            }
        }
        let file = path.filter(|_| level == Level::File);
        if let (Some(build), Some(file)) = (table(doc.get("build")), file) {
            for key in [
                "rustc",
                "rustc-wrapper",
                "rustc-workspace-wrapper",
                "rustdoc",
            ] {
                if let Some(s) = build.get(key).and_then(|v| cx.set(v)) {
                    self.tools.retain(|(k, ..)| k != key);
                    if !s.value.is_empty() {
                        self.tools.push((key.to_string(), s, file.to_path_buf()));
                    }
                }
            }
        }
        if let Some(paths) = doc.get("paths").and_then(|v| v.get_ref().as_array()) {
            for p in paths.iter() {
                if let Some(s) = cx.set(p) {
                    self.paths.push(s);
                }
            }
        }
    }

    fn load_env(&mut self, req: &Request<'_>) {
        let mut vars = req.env.vars();
        vars.sort();
        for (k, v) in vars {
            if let Some(mid) = k
                .strip_prefix("CARGO_REGISTRIES_")
                .and_then(|r| r.strip_suffix("_INDEX"))
            {
                if mid.is_empty() || mid == "CRATES_IO" || v.is_empty() {
                    continue;
                }
                let name = mid.to_ascii_lowercase().replace('_', "-");
                self.registries.insert(
                    mid.to_string(),
                    (
                        name,
                        Set {
                            value: v,
                            origin: Origin::env(k.as_str()),
                            level: Level::Env,
                        },
                    ),
                );
            } else if let Some(name) = k.strip_prefix("CARGO_ALIAS_") {
                if !name.is_empty() {
                    self.alias_files.remove(name);
                    self.aliases.insert(
                        name.to_string(),
                        v.split_whitespace().map(str::to_string).collect(),
                    );
                }
            }
        }
    }

    /// One `--config` argument: a file when `cwd/ARG` exists (cargo's rule),
    /// else `KEY=VALUE` TOML.
    fn load_cli(&mut self, req: &Request<'_>, cwd: &Path, arg: &str) {
        if !arg.is_empty() {
            let p = normalize(&cwd.join(arg));
            if req.files.read(&p).is_some() {
                self.load_file(req, &p, Level::Cli, 0);
                return;
            }
        }
        self.load_text(req, arg, None, cwd, Level::Cli, 0);
    }
}

/// `$CARGO_HOME`.
fn cargo_home(req: &Request<'_>) -> Option<PathBuf> {
    match req.env.get("CARGO_HOME").filter(|v| !v.is_empty()) {
        Some(h) => Some(req.cwd.join(h)),
        None => req.home.map(|h| h.join(".cargo")),
    }
}

/// The config file in a `.cargo`-like directory: the legacy `config` wins
/// over `config.toml` when both exist.
fn config_in(req: &Request<'_>, dir: &Path) -> Option<PathBuf> {
    ["config", "config.toml"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| req.files.read(p).is_some())
}

/// Config files, lowest precedence first. `cargo install` reloads its
/// config rooted at `$CARGO_HOME` instead of the working directory (so the
/// walk starts there; checked).
fn config_files(req: &Request<'_>, cwd: &Path, install: bool) -> Vec<PathBuf> {
    let home = cargo_home(req);
    let mut files: Vec<PathBuf> = Vec::new();
    let start = if install { home.as_deref() } else { Some(cwd) };
    for dir in start.into_iter().flat_map(Path::ancestors) {
        if let Some(f) = config_in(req, &dir.join(".cargo")) {
            files.push(f);
        }
    }
    if let Some(h) = &home {
        if let Some(f) = config_in(req, h) {
            if !files.contains(&f) {
                files.push(f);
            }
        }
    }
    files.reverse();
    files
}

/// The merged config for one list of `--config` arguments.
fn load_config(req: &Request<'_>, cwd: &Path, install: bool, cli: &[String]) -> Config {
    let mut cfg = Config::default();
    for f in config_files(req, cwd, install) {
        cfg.load_file(req, &f, Level::File, 0);
    }
    cfg.load_env(req);
    for arg in cli {
        cfg.load_cli(req, cwd, arg);
    }
    cfg
}

// ---- sources from config --------------------------------------------------

/// A URL as cargo identifies a source (prefix and trailing slash aside).
fn url_id(u: &str) -> &str {
    let u = u.trim();
    let u = u
        .strip_prefix("sparse+")
        .or_else(|| u.strip_prefix("registry+"))
        .or_else(|| u.strip_prefix("git+"))
        .unwrap_or(u);
    u.trim_end_matches('/')
}

/// A git URL without `?query` / `#fragment` (branch, revision).
fn git_id(u: &str) -> &str {
    let u = url_id(u);
    let end = u.find(['?', '#']).unwrap_or(u.len());
    u[..end].trim_end_matches('/')
}

/// The end of a `replace-with` chain starting at `start`.
enum End<'c> {
    /// crates-io, not redirected.
    Builtin,
    /// The source definition reached (name, fields).
    Def(&'c str, &'c BTreeMap<String, Set>),
    /// A cycle or an undefined name: cargo refuses to run.
    Broken,
}

fn chain_end<'c>(cfg: &'c Config, start: &'c str) -> End<'c> {
    let mut name: &str = start;
    let mut seen: Vec<&str> = vec![name];
    loop {
        let def = cfg.sources.get(name);
        match def.and_then(|d| d.get("replace-with")) {
            Some(rw) => {
                if seen.contains(&rw.value.as_str()) || seen.len() > 64 {
                    return End::Broken;
                }
                name = rw.value.as_str();
                seen.push(name);
            }
            None => {
                let has_location =
                    def.is_some_and(|d| SOURCE_LOCATIONS.iter().any(|f| d.contains_key(*f)));
                return match (def, has_location) {
                    (Some(d), true) => {
                        let (n, _) = cfg.sources.get_key_value(name).expect("present");
                        End::Def(n.as_str(), d)
                    }
                    _ if name == "crates-io" => End::Builtin,
                    _ => End::Broken,
                };
            }
        }
    }
}

fn location_sources(name: &str, def: &BTreeMap<String, Set>, overridable: bool) -> Vec<Source> {
    let mut out = Vec::new();
    for field in SOURCE_LOCATIONS {
        let Some(s) = def.get(*field) else { continue };
        let kind = match *field {
            "registry" => SourceKind::Registry,
            "git" => SourceKind::Git,
            _ => SourceKind::Path,
        };
        let src = Source::new(
            kind,
            s.value.clone(),
            s.origin.clone(),
            format!("source.{name}.{field}"),
        );
        out.push(if overridable { src.overridable() } else { src });
    }
    out
}

/// URLs that a source definition with `replace-with` redirects.
fn replaced_urls(cfg: &Config) -> (HashSet<String>, HashSet<String>) {
    let (mut registries, mut gits) = (HashSet::new(), HashSet::new());
    for def in cfg.sources.values() {
        if !def.contains_key("replace-with") {
            continue;
        }
        if let Some(r) = def.get("registry") {
            registries.insert(url_id(&r.value).to_string());
        }
        if let Some(g) = def.get("git") {
            gits.insert(git_id(&g.value).to_string());
        }
    }
    (registries, gits)
}

/// The sources the merged config makes usable. `force_crates_io`: whether
/// a `--config` pkgward inserts reaches the cargo that resolves.
fn config_sources(cfg: &Config, force_crates_io: bool, out: &mut Vec<Source>) {
    // crates-io, through its replacement chain.
    let rw_level = cfg
        .sources
        .get("crates-io")
        .and_then(|d| d.get("replace-with"))
        .map(|s| s.level);
    let overridable = force_crates_io && rw_level != Some(Level::Cli);
    match chain_end(cfg, "crates-io") {
        End::Builtin => {
            let s = Source::new(
                SourceKind::Registry,
                "builtin",
                Origin::Builtin,
                "crates-io",
            );
            out.push(if overridable { s.overridable() } else { s });
        }
        End::Def(name, def) => out.extend(location_sources(name, def, overridable)),
        End::Broken => {}
    }
    // Any other source with a location and a replacement: its location is
    // fetched from the chain's end instead.
    for (name, def) in &cfg.sources {
        if name == "crates-io"
            || !def.contains_key("replace-with")
            || !SOURCE_LOCATIONS.iter().any(|f| def.contains_key(*f))
        {
            continue;
        }
        if let End::Def(end, d) = chain_end(cfg, name) {
            out.extend(location_sources(end, d, false));
        }
    }
    // A user's own definition of the mirror's source name could redirect it.
    if let Some(def) = cfg.sources.get(MIRROR_SOURCE) {
        let mine: BTreeMap<String, Set> = def
            .iter()
            .filter(|(_, s)| s.level == Level::Cli)
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        out.extend(location_sources(MIRROR_SOURCE, &mine, false));
    }
    // Named registries (unless a source replacement redirects them).
    let (replaced, _) = replaced_urls(cfg);
    for (name, set) in cfg.registries.values() {
        if replaced.contains(url_id(&set.value)) {
            continue;
        }
        let s = Source::new(
            SourceKind::Registry,
            set.value.clone(),
            set.origin.clone(),
            format!("registries.{name}.index"),
        );
        out.push(if set.level == Level::Cli {
            s
        } else {
            s.overridable()
        });
    }
    for (subject, field, set) in &cfg.patches {
        let kind = match field.as_str() {
            "git" => SourceKind::Git,
            "path" => SourceKind::Path,
            _ => SourceKind::Registry,
        };
        out.push(Source::new(
            kind,
            set.value.clone(),
            set.origin.clone(),
            format!("{subject}.{field}"),
        ));
    }
    for set in &cfg.paths {
        out.push(Source::new(
            SourceKind::Path,
            set.value.clone(),
            set.origin.clone(),
            "paths",
        ));
    }
}

// ---- manifests and the lockfile ------------------------------------------

const DEP_TABLES: &[&str] = &[
    "dependencies",
    "dev-dependencies",
    "dev_dependencies",
    "build-dependencies",
    "build_dependencies",
];

struct ManifestWalk<'r, 'a> {
    req: &'r Request<'a>,
    queue: Vec<PathBuf>,
    seen: HashSet<PathBuf>,
    out: Vec<Source>,
    /// `registry-index` URLs named by manifests.
    indexes: HashSet<String>,
    /// git URLs named by manifests.
    gits: HashSet<String>,
}

impl ManifestWalk<'_, '_> {
    fn push(&mut self, manifest: PathBuf) {
        let manifest = normalize(&manifest);
        if self.seen.len() < MAX_MANIFESTS && self.seen.insert(manifest.clone()) {
            self.queue.push(manifest);
        }
    }

    fn run(&mut self) {
        while let Some(m) = self.queue.pop() {
            let Some(text) = self.req.files.read(&m) else {
                continue;
            };
            let Ok(doc) = DeTable::parse(&text) else {
                continue;
            };
            let lines = Lines::new(&text);
            let dir = m.parent().unwrap_or(Path::new("")).to_path_buf();
            self.manifest(doc.get_ref(), &m, &dir, &lines);
        }
    }

    fn manifest(&mut self, doc: &DeTable<'_>, path: &Path, dir: &Path, lines: &Lines) {
        for t in DEP_TABLES {
            if let Some(deps) = table(doc.get(*t)) {
                self.deps(deps, t, path, dir, lines);
            }
        }
        if let Some(targets) = table(doc.get("target")) {
            for (cfg, tt) in targets.iter() {
                let Some(tt) = tt.get_ref().as_table() else {
                    continue;
                };
                for t in DEP_TABLES {
                    if let Some(deps) = table(tt.get(*t)) {
                        let prefix = format!("target.{}.{t}", cfg.get_ref());
                        self.deps(deps, &prefix, path, dir, lines);
                    }
                }
            }
        }
        if let Some(ws) = table(doc.get("workspace")) {
            if let Some(deps) = table(ws.get("dependencies")) {
                self.deps(deps, "workspace.dependencies", path, dir, lines);
            }
            for key in ["members", "default-members"] {
                if let Some(members) = ws.get(key).and_then(|v| v.get_ref().as_array()) {
                    for m in members.iter() {
                        // Glob members cannot be listed through `Files`;
                        // the lockfile still covers what they resolved.
                        if let Some(m) = m
                            .get_ref()
                            .as_str()
                            .filter(|m| !m.contains(['*', '?', '[']))
                        {
                            self.push(dir.join(m).join("Cargo.toml"));
                        }
                    }
                }
            }
        }
        if let Some(patch) = table(doc.get("patch")) {
            for (src, deps) in patch.iter() {
                if let Some(deps) = deps.get_ref().as_table() {
                    let prefix = format!("patch.{}", src.get_ref());
                    self.deps(deps, &prefix, path, dir, lines);
                }
            }
        }
        if let Some(deps) = table(doc.get("replace")) {
            self.deps(deps, "replace", path, dir, lines);
        }
    }

    fn deps(&mut self, deps: &DeTable<'_>, prefix: &str, path: &Path, dir: &Path, lines: &Lines) {
        for (name, spec) in deps.iter() {
            let Some(spec) = spec.get_ref().as_table() else {
                continue;
            };
            let name = name.get_ref();
            let origin = |v: &Spanned<DeValue<'_>>| Origin::file(path, lines.line(v.span().start));
            if let Some(v) = spec.get("git") {
                if let Some(u) = v.get_ref().as_str() {
                    self.gits.insert(git_id(u).to_string());
                    self.out
                        .push(Source::new(SourceKind::Git, u, origin(v), name.to_string()));
                }
            }
            for key in ["registry-index", "registry_index"] {
                if let Some(v) = spec.get(key) {
                    if let Some(u) = v.get_ref().as_str() {
                        self.indexes.insert(url_id(u).to_string());
                        self.out.push(Source::new(
                            SourceKind::Registry,
                            u,
                            origin(v),
                            format!("{prefix}.{name}.{key}"),
                        ));
                    }
                }
            }
            if let Some(v) = spec.get("path") {
                if let Some(p) = v.get_ref().as_str() {
                    self.out.push(Source::new(
                        SourceKind::Path,
                        p,
                        origin(v),
                        name.to_string(),
                    ));
                    self.push(dir.join(p).join("Cargo.toml"));
                }
            }
        }
    }
}

/// The nearest `Cargo.toml` from `dir` upward.
fn nearest_manifest(req: &Request<'_>, dir: &Path) -> Option<(PathBuf, String)> {
    dir.ancestors().find_map(|d| {
        let p = d.join("Cargo.toml");
        req.files.read(&p).map(|t| (p, t))
    })
}

fn has_workspace(text: &str) -> bool {
    DeTable::parse(text)
        .ok()
        .is_some_and(|d| d.get_ref().get("workspace").is_some())
}

/// The workspace root manifest for the package manifest `m`.
fn workspace_root(req: &Request<'_>, m: &Path, text: &str) -> PathBuf {
    let dir = m.parent().unwrap_or(Path::new(""));
    if let Ok(doc) = DeTable::parse(text) {
        let doc = doc.get_ref();
        if doc.get("workspace").is_some() {
            return m.to_path_buf();
        }
        if let Some(ws) = table(doc.get("package"))
            .and_then(|p| p.get("workspace"))
            .and_then(|w| w.get_ref().as_str())
        {
            return normalize(&dir.join(ws).join("Cargo.toml"));
        }
    }
    for d in dir.ancestors().skip(1) {
        let p = d.join("Cargo.toml");
        if let Some(t) = req.files.read(&p) {
            if has_workspace(&t) {
                return p;
            }
        }
    }
    m.to_path_buf()
}

/// One `[[package]]` of a lockfile that has a `source`.
struct LockEntry<'t> {
    line: usize,
    name: &'t str,
    version: &'t str,
    source: &'t str,
}

/// A `"…"` TOML basic string without escapes, alone on the rest of a line.
fn plain_string(v: &str) -> Option<&str> {
    let inner = v.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.bytes().any(|b| b == b'"' || b == b'\\')).then_some(inner)
}

/// The lockfile's `git+` / `sparse+` sources without a TOML parse (which
/// costs milliseconds for 1,000 packages). Without a backslash in the file
/// (no escapes), any such source value cargo reads appears verbatim in the
/// text, so it is enough that every line holding `git+` or `sparse+` is a
/// plain `source = "…"` line; `None` otherwise (the TOML parser then reads
/// the file). Registry sources add nothing and are not looked at.
fn quick_lock(text: &str) -> Option<Vec<LockEntry<'_>>> {
    if text.contains('\\') {
        return None;
    }
    let mut starts: Vec<usize> = text
        .match_indices("git+")
        .chain(text.match_indices("sparse+"))
        .map(|(at, _)| text[..at].rfind('\n').map_or(0, |n| n + 1))
        .collect();
    starts.sort_unstable();
    starts.dedup();
    let mut out = Vec::with_capacity(starts.len());
    let (mut counted, mut line_no) = (0, 1);
    for start in starts {
        line_no += text.as_bytes()[counted..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        counted = start;
        let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
        let line = &text[start..end];
        let line = line.strip_suffix('\r').unwrap_or(line);
        let source = plain_string(line.strip_prefix("source = ")?)?;
        // The package's name and version: the nearest lines above.
        let before = &text[..start];
        let field = |key: &str| {
            let at = before.rfind(&format!("\n{key} = \""))?;
            let rest = &before[at + key.len() + 4..];
            let v = rest.split('\n').next()?;
            plain_string(v.strip_suffix('\r').unwrap_or(v))
        };
        out.push(LockEntry {
            line: line_no,
            name: field("name").unwrap_or("?"),
            version: field("version").unwrap_or("?"),
            source,
        });
    }
    Some(out)
}

/// The same entries through the TOML parser.
fn parse_lock<'t>(doc: &'t DeTable<'t>, text: &str) -> Vec<LockEntry<'t>> {
    let lines = Lines::new(text);
    let mut out = Vec::new();
    for key in ["package", "patch"] {
        let list = match key {
            "package" => doc.get("package"),
            _ => table(doc.get("patch")).and_then(|p| p.get("unused")),
        };
        let Some(pkgs) = list.and_then(|p| p.get_ref().as_array()) else {
            continue;
        };
        for pkg in pkgs.iter() {
            let Some(pkg) = pkg.get_ref().as_table() else {
                continue;
            };
            let Some(src) = pkg.get("source") else {
                continue;
            };
            let Some(source) = src.get_ref().as_str() else {
                continue;
            };
            let field = |k: &str| pkg.get(k).and_then(|n| n.get_ref().as_str()).unwrap_or("?");
            out.push(LockEntry {
                line: lines.line(src.span().start),
                name: field("name"),
                version: field("version"),
                source,
            });
        }
    }
    out
}

/// `Cargo.lock` entries that name something other than what the config
/// and manifests already list.
fn lock_sources(
    req: &Request<'_>,
    lock: &Path,
    known_indexes: &HashSet<String>,
    known_gits: &HashSet<String>,
    out: &mut Vec<Source>,
) {
    let Some(text) = req.files.read(lock) else {
        return;
    };
    let doc;
    let entries = match quick_lock(&text) {
        Some(e) => e,
        None => {
            // cargo refuses a lockfile that is not valid TOML.
            let Ok(d) = DeTable::parse(&text) else {
                return;
            };
            doc = d;
            parse_lock(doc.get_ref(), &text)
        }
    };
    // One source per distinct lockfile source string: (index, packages).
    let mut seen: HashMap<&str, (Option<usize>, usize)> = HashMap::new();
    for e in entries {
        if let Some((_, n)) = seen.get_mut(e.source) {
            *n += 1;
            continue;
        }
        let value = e.source;
        let origin = || Origin::file(lock, e.line);
        let subject = || format!("{} {}", e.name, e.version);
        let source = if let Some(rest) = value.strip_prefix("git+") {
            (!known_gits.contains(git_id(value)))
                .then(|| Source::new(SourceKind::Git, rest, origin(), subject()))
        } else if value.starts_with("sparse+") {
            (!known_indexes.contains(url_id(value)))
                .then(|| Source::new(SourceKind::Locked, value, origin(), subject()))
        } else if value.starts_with("registry+") {
            // crates-io's identity, or a git-protocol registry the config
            // or a manifest already lists.
            None
        } else {
            Some(Source::new(SourceKind::Locked, value, origin(), subject()))
        };
        let at = source.map(|s| {
            out.push(s);
            out.len() - 1
        });
        seen.insert(value, (at, 1));
    }
    for (at, n) in seen.into_values() {
        if let (Some(i), true) = (at, n > 1) {
            let s = &mut out[i];
            s.subject = format!("{} and {} more", s.subject, n - 1);
        }
    }
}

// ---- sources ------------------------------------------------------------

/// Every registry source the cargo invocation can use.
pub(super) fn sources(req: &Request<'_>, _verb: Verb) -> Vec<Source> {
    let args = req.args;
    let top = parse_top(args);
    let Some(at) = top.sub_at else {
        return Vec::new();
    };
    let cwd = match &top.chdir {
        Some(d) => normalize(&req.cwd.join(d)),
        None => req.cwd.to_path_buf(),
    };
    // Aliases come from config read with the top-level `--config` list.
    let alias_cfg = load_config(req, &cwd, false, &top.configs);
    let cmd = resolve_command(args, at, &alias_cfg);
    let sub = parse_sub(&cmd.rest);
    let name = cmd.name.as_str();
    let mut out: Vec<Source> = Vec::new();
    // A program in rustc's place set by a config file other than
    // `$CARGO_HOME`'s (a repository's `.cargo/config.toml`) would run the
    // repository's code in cargo commands that ask rustc about the target
    // (`clean` too), outside the build's sandbox: a tool override. (The
    // environment and `--config` are yours.)
    let home_config = cargo_home(req).and_then(|h| config_in(req, &h));
    for (key, set, file) in &alias_cfg.tools {
        if Some(file) != home_config.as_ref() {
            out.push(Source::new(
                SourceKind::Executable,
                set.value.clone(),
                set.origin.clone(),
                format!("build.{key}"),
            ));
        }
    }
    // An alias of such a file that passes `--config` sets them all the
    // same (`xb = "build --config build.rustc-wrapper='./w'"`): the
    // repository's, not yours.
    for (arg, file) in &cmd.alias_configs {
        if Some(file) == home_config.as_ref() {
            continue;
        }
        let mut c = Config::default();
        let p = normalize(&cwd.join(arg));
        if req.files.read(&p).is_some() {
            c.load_file(req, &p, Level::File, 0);
        } else {
            c.load_text(req, arg, Some(file), &cwd, Level::File, 0);
        }
        let line = req
            .files
            .read(file)
            .and_then(|t| {
                t.lines()
                    .position(|l| l.contains(arg.split('=').next().unwrap_or(arg)))
            })
            .map_or(1, |i| i + 1);
        for (key, set, _) in c.tools {
            out.push(Source::new(
                SourceKind::Executable,
                set.value,
                Origin::file(file, line),
                format!("build.{key} (in an alias's --config)"),
            ));
        }
    }
    if OFFLINE.contains(&name) || (name == "metadata" && sub.no_deps) {
        return out;
    }
    let install = name == "install";
    // The `--config` lists in effect, per cargo process that resolves.
    let passes: Vec<(Vec<String>, bool)> = match cmd.kind {
        Kind::Builtin => {
            let list = if sub.configs.is_empty() {
                top.configs.clone()
            } else {
                sub.configs.clone()
            };
            vec![(list, true)]
        }
        Kind::Alias => {
            let mut list = top.configs.clone();
            list.extend(sub.configs.iter().cloned());
            // pkgward's `--config` goes before the alias, where cargo keeps
            // it — unless the alias is named like a subcommand pkgward
            // inserts after (a user alias `clippy`).
            let forceable = insert_position(args) == top.start;
            vec![(list, forceable)]
        }
        Kind::Clippy => vec![(sub.configs.clone(), true)],
        Kind::External => {
            let mut all = top.configs.clone();
            all.extend(sub.configs.iter().cloned());
            vec![(Vec::new(), false), (all, false)]
        }
    };
    let mut indexes: HashSet<String> = HashSet::new();
    let mut gits: HashSet<String> = HashSet::new();
    for (list, forceable) in &passes {
        let cfg = load_config(req, &cwd, install, list);
        config_sources(&cfg, *forceable, &mut out);
        for (_, set) in cfg.registries.values() {
            indexes.insert(url_id(&set.value).to_string());
        }
        for def in cfg.sources.values() {
            if let Some(r) = def.get("registry") {
                indexes.insert(url_id(&r.value).to_string());
            }
        }
        let (_, replaced_gits) = replaced_urls(&cfg);
        gits.extend(replaced_gits);
    }

    // Command-line options.
    let mut manifest_path: Option<PathBuf> = None;
    let mut extra_manifests: Vec<PathBuf> = Vec::new();
    let mut install_path: Option<PathBuf> = None;
    for (flag, value) in &sub.flags {
        let origin = Origin::flag(flag.as_str());
        let subject = sub.first_positional.clone().unwrap_or_default();
        match flag.as_str() {
            "--index" => {
                indexes.insert(url_id(value).to_string());
                out.push(Source::new(SourceKind::Registry, value, origin, "index"));
            }
            "--git" if matches!(name, "install" | "add") => {
                out.push(Source::new(SourceKind::Git, value, origin, subject));
            }
            "--path" if matches!(name, "install" | "add") => {
                out.push(Source::new(SourceKind::Path, value, origin, subject));
                if install {
                    install_path = Some(normalize(&cwd.join(value)));
                }
            }
            "--manifest-path" => manifest_path = Some(normalize(&cwd.join(value))),
            // `cargo vendor --sync OTHER/Cargo.toml` vendors more workspaces.
            "-s" | "--sync" if name == "vendor" => {
                extra_manifests.push(normalize(&cwd.join(value)))
            }
            _ => {}
        }
    }

    // Manifests and the lockfile of the project the command works on.
    let project = PROJECT.contains(&name) || cmd.kind == Kind::External;
    let start = if let Some(p) = install_path {
        let m = p.join("Cargo.toml");
        req.files.read(&m).map(|t| (m, t))
    } else if !project {
        None
    } else if let Some(m) = manifest_path {
        req.files.read(&m).map(|t| (m, t))
    } else {
        nearest_manifest(req, &cwd)
    };
    if let Some((m, text)) = start {
        let root = workspace_root(req, &m, &text);
        let mut walk = ManifestWalk {
            req,
            queue: Vec::new(),
            seen: HashSet::new(),
            out: Vec::new(),
            indexes: HashSet::new(),
            gits: HashSet::new(),
        };
        walk.push(root.clone());
        walk.push(m);
        for extra in extra_manifests {
            walk.push(extra);
        }
        walk.run();
        indexes.extend(walk.indexes);
        gits.extend(walk.gits);
        out.extend(walk.out);
        let lock = root.parent().unwrap_or(Path::new("")).join("Cargo.lock");
        lock_sources(req, &lock, &indexes, &gits, &mut out);
    }
    dedupe(out)
}

/// Drops repeated sources (several config passes); a non-overridable copy wins.
fn dedupe(sources: Vec<Source>) -> Vec<Source> {
    let mut out: Vec<Source> = Vec::with_capacity(sources.len());
    for s in sources {
        if let Some(prev) = out.iter_mut().find(|p| {
            p.kind == s.kind && p.value == s.value && p.origin == s.origin && p.subject == s.subject
        }) {
            prev.overridable &= s.overridable;
            continue;
        }
        out.push(s);
    }
    out
}

// ---- forcing ----------------------------------------------------------------

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The mirror as cargo spells a registry location: `sparse+URL` as given,
/// `registry+URL` → a git index (`URL`), a plain http(s) URL → sparse.
fn mirror_location(mirror: &str) -> String {
    let m = mirror.trim();
    if m.starts_with("sparse+") {
        m.to_string()
    } else if let Some(git) = m.strip_prefix("registry+") {
        git.to_string()
    } else if m.starts_with("http://") || m.starts_with("https://") {
        format!("sparse+{m}")
    } else {
        m.to_string()
    }
}

/// Where the generated `--config` goes so that cargo keeps it (see the
/// module documentation).
fn insert_position(args: &[String]) -> usize {
    let top = parse_top(args);
    let Some(at) = top.sub_at else {
        return top.start;
    };
    let name = args[at].as_str();
    if name == "clippy" {
        return at + 1;
    }
    if BUILTIN.contains(&name) && !parse_sub(&args[at + 1..]).configs.is_empty() {
        return at + 1;
    }
    top.start
}

/// `[mirrors] cargo`: crates-io replaced by the mirror through a generated
/// `--config` file; unapproved named registries from config or the
/// environment pointed at the mirror through `CARGO_REGISTRIES_<N>_INDEX`.
/// Command-line settings, manifests and the lockfile stay checked.
pub(super) fn force(
    args: &[String],
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    let location = mirror_location(mirror);
    let mut plan = Plan::default();
    let mut crates_io = false;
    for s in sources {
        let is_crates_io =
            s.subject == "crates-io" || (s.subject.starts_with("source.") && s.overridable);
        let take = s.overridable
            && match s.kind {
                // A vendored or local crates-io replacement is left alone.
                SourceKind::Registry | SourceKind::Git if is_crates_io => true,
                SourceKind::Registry if s.subject.starts_with("registries.") => !approved(s),
                _ => false,
            };
        if !take {
            plan.remaining.push(s.clone());
            continue;
        }
        if is_crates_io {
            crates_io = true;
        } else if let Some(name) = s
            .subject
            .strip_prefix("registries.")
            .and_then(|r| r.strip_suffix(".index"))
        {
            let var = format!("CARGO_REGISTRIES_{}_INDEX", env_key(name));
            if !plan.env.iter().any(|(k, _)| *k == var) {
                plan.env.push((var, location.clone()));
            }
        }
        plan.overridden.push(s.clone());
    }
    if crates_io {
        plan.files.push((
            MIRROR_FILE.to_string(),
            format!(
                "# Generated by pkgward: crates-io is replaced by the approved mirror.\n\
                 [source.crates-io]\nreplace-with = {}\n\n[source.{MIRROR_SOURCE}]\nregistry = {}\n",
                toml_str(MIRROR_SOURCE),
                toml_str(&location)
            ),
        ));
        plan.insert_args = vec!["--config".into(), format!("{{dir}}/{MIRROR_FILE}")];
        plan.insert_at = insert_position(args);
    }
    Some(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::source::fake::{FakeEnv, FakeFiles};
    use crate::tools::Tool;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn verbs() {
        let cases: &[(&[&str], Verb)] = &[
            (&["build"], Verb::Install),
            (&["+nightly", "b"], Verb::Install),
            (&["--config", "net.retry=0", "fetch"], Verb::Install),
            (&["-Zunstable-options", "-C", "x", "check"], Verb::Install),
            (&["install", "ripgrep"], Verb::Install),
            (&["publish"], Verb::Publish),
            (&["yank", "--version", "1.0.0"], Verb::Publish),
            (&["--version"], Verb::Other),
            (&["clean"], Verb::Other),
            (&["fmt"], Verb::Other),
            (&["metadata", "--no-deps"], Verb::Other),
            (&["metadata"], Verb::Install),
            (&["search", "x"], Verb::Other),
            (&["nextest", "run"], Verb::Install),
        ];
        for (args, want) in cases {
            assert_eq!(verb(&strings(args)), *want, "{args:?}");
        }
    }

    #[test]
    fn insert_positions() {
        let cases: &[(&[&str], usize)] = &[
            (&["build"], 0),
            (&["+stable", "build"], 1),
            (&["--config", "net.retry=0", "build"], 0),
            (&["build", "--config", "net.retry=0"], 1),
            (&["+stable", "-v", "fetch", "--config=a=1"], 3),
            (&["b", "--config", "net.retry=0"], 0),
            (&["clippy", "--", "-D", "warnings"], 1),
            (&["run", "--", "--config", "x"], 0),
            (&["myalias", "--config", "x"], 0),
        ];
        for (args, want) in cases {
            assert_eq!(insert_position(&strings(args)), *want, "{args:?}");
        }
    }

    #[test]
    fn mirror_locations_and_toml() {
        assert_eq!(
            mirror_location("sparse+http://m.test/"),
            "sparse+http://m.test/"
        );
        assert_eq!(mirror_location("https://m.test/"), "sparse+https://m.test/");
        assert_eq!(
            mirror_location("registry+https://m.test/i"),
            "https://m.test/i"
        );
        assert_eq!(toml_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }

    fn run(args: &[&str], env: &[(&str, &str)], files: &[(&str, &str)]) -> Vec<Source> {
        let env = FakeEnv(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let files = FakeFiles(
            files
                .iter()
                .map(|(p, t)| (PathBuf::from(p), t.to_string()))
                .collect(),
        );
        let args = strings(args);
        let req = Request {
            tool: Tool::by_name("cargo").unwrap(),
            args: &args,
            env: &env,
            files: &files,
            cwd: Path::new("/w/proj/sub"),
            home: Some(Path::new("/h")),
            real_tool: None,
        };
        sources(&req, verb(&args))
    }

    /// (kind, value, origin as displayed, overridable)
    type Want<'a> = (SourceKind, &'a str, &'a str, bool);

    fn check(got: &[Source], want: &[Want<'_>]) {
        for (kind, value, origin, ov) in want {
            assert!(
                got.iter().any(|s| s.kind == *kind
                    && s.value == *value
                    && s.origin.to_string() == *origin
                    && s.overridable == *ov),
                "want {kind:?} {value} from {origin} (overridable: {ov})\n got {got:#?}"
            );
        }
    }

    fn lacks(got: &[Source], value: &str) {
        assert!(
            !got.iter().any(|s| s.value == value),
            "{value} listed: {got:#?}"
        );
    }

    use SourceKind::{Git, Locked, Path as Dir, Registry};
    const BUILTIN_SRC: Want<'static> = (Registry, "builtin", "the tool's built-in default", true);
    const EVIL_CFG: &str = "[source.crates-io]\nreplace-with = \"evil\"\n\n[source.evil]\nregistry = \"sparse+http://e.test/\"\n";

    #[test]
    fn a_program_in_rustcs_place_from_a_project_config_is_an_override() {
        let wrapper = "[build]\nrustc-wrapper = \"./w.sh\"\n";
        check(
            &run(&["build"], &[], &[("/w/proj/.cargo/config.toml", wrapper)]),
            &[(
                SourceKind::Executable,
                "./w.sh",
                "/w/proj/.cargo/config.toml:2",
                false,
            )],
        );
        // `$CARGO_HOME`'s config, the environment and `--config` are yours.
        for got in [
            run(&["build"], &[], &[("/h/.cargo/config.toml", wrapper)]),
            run(&["build"], &[("RUSTC_WRAPPER", "sccache")], &[]),
            run(&["build", "--config", "build.rustc-wrapper='x'"], &[], &[]),
        ] {
            assert!(
                !got.iter().any(|s| s.kind == SourceKind::Executable),
                "{got:#?}"
            );
        }
    }

    #[test]
    fn crates_io_and_its_replacements() {
        check(&run(&["build"], &[], &[]), &[BUILTIN_SRC]);
        // Project config above the working directory, a chain of replacements.
        let got = run(
            &["build"],
            &[],
            &[(
                "/w/proj/.cargo/config.toml",
                "[source.crates-io]\nreplace-with = 'a'\n[source.a]\nreplace-with = 'b'\n[source.b]\nregistry = \"sparse+http://e.test/\"\n",
            )],
        );
        check(
            &got,
            &[(
                Registry,
                "sparse+http://e.test/",
                "/w/proj/.cargo/config.toml:6",
                true,
            )],
        );
        lacks(&got, "builtin");
        // The legacy name wins over config.toml; deeper directories win.
        let got = run(
            &["fetch"],
            &[],
            &[
                ("/w/proj/sub/.cargo/config", EVIL_CFG),
                ("/w/proj/sub/.cargo/config.toml", "[source.crates-io]\nreplace-with = \"x\"\n[source.x]\nregistry = \"sparse+http://x.test/\"\n"),
                ("/w/.cargo/config.toml", "[source.crates-io]\nreplace-with = \"y\"\n[source.y]\ngit = \"https://y.test/idx\"\n"),
            ],
        );
        check(
            &got,
            &[(
                Registry,
                "sparse+http://e.test/",
                "/w/proj/sub/.cargo/config:5",
                true,
            )],
        );
        lacks(&got, "sparse+http://x.test/");
        lacks(&got, "https://y.test/idx");
        // $CARGO_HOME (default ~/.cargo), a git or directory replacement,
        // crates-io's own `registry`.
        check(
            &run(&["check"], &[], &[("/h/.cargo/config.toml", "[source.crates-io]\nreplace-with = \"g\"\n[source.g]\ngit = \"https://g.test/index\"\n")]),
            &[(Git, "https://g.test/index", "/h/.cargo/config.toml:4", true)],
        );
        check(
            &run(&["check"], &[("CARGO_HOME", "/ch")], &[("/ch/config", "[source.crates-io]\nreplace-with = \"v\"\n[source.v]\ndirectory = \"vendor\"\n")]),
            &[(Dir, "vendor", "/ch/config:4", true)],
        );
        check(
            &run(
                &["check"],
                &[],
                &[(
                    "/w/proj/.cargo/config.toml",
                    "[source.crates-io]\nregistry = \"sparse+http://r.test/\"\n",
                )],
            ),
            &[(
                Registry,
                "sparse+http://r.test/",
                "/w/proj/.cargo/config.toml:2",
                true,
            )],
        );
        // A broken chain: cargo refuses to run, nothing is listed for it.
        let got = run(
            &["check"],
            &[],
            &[(
                "/w/proj/.cargo/config.toml",
                "[source.crates-io]\nreplace-with = \"nowhere\"\n",
            )],
        );
        lacks(&got, "builtin");
    }

    #[test]
    fn includes_and_install() {
        let files = [
            (
                "/w/proj/.cargo/config.toml",
                "include = [\"more.toml\", { path = \"gone.toml\", optional = true }]\n",
            ),
            ("/w/proj/.cargo/more.toml", EVIL_CFG),
        ];
        check(
            &run(&["build"], &[], &files),
            &[(
                Registry,
                "sparse+http://e.test/",
                "/w/proj/.cargo/more.toml:5",
                true,
            )],
        );
        // The including file's own values win over the included ones.
        let own = [
            ("/w/proj/.cargo/config.toml", "include = [\"more.toml\"]\n[source.evil]\nregistry = \"sparse+http://own.test/\"\n"),
            ("/w/proj/.cargo/more.toml", EVIL_CFG),
        ];
        check(
            &run(&["build"], &[], &own),
            &[(
                Registry,
                "sparse+http://own.test/",
                "/w/proj/.cargo/config.toml:3",
                true,
            )],
        );
        // cargo install reads $CARGO_HOME's config, not the project's…
        check(&run(&["install", "ripgrep"], &[], &files), &[BUILTIN_SRC]);
        check(
            &run(
                &["install", "ripgrep"],
                &[],
                &[("/h/.cargo/config.toml", EVIL_CFG)],
            ),
            &[(
                Registry,
                "sparse+http://e.test/",
                "/h/.cargo/config.toml:5",
                true,
            )],
        );
        // …and the `.cargo` directories above it.
        check(
            &run(
                &["install", "ripgrep"],
                &[],
                &[("/.cargo/config", EVIL_CFG)],
            ),
            &[(Registry, "sparse+http://e.test/", "/.cargo/config:5", true)],
        );
    }

    #[test]
    fn command_line_config() {
        let cli = [
            "--config",
            "source.crates-io.replace-with=\"c\"",
            "--config",
            "source.c.registry=\"sparse+http://c.test/\"",
        ];
        let mut top = cli.to_vec();
        top.push("build");
        let got = run(&top, &[], &[("/w/proj/.cargo/config.toml", EVIL_CFG)]);
        check(
            &got,
            &[(
                Registry,
                "sparse+http://c.test/",
                "the command-line flag --config",
                false,
            )],
        );
        lacks(&got, "sparse+http://e.test/");
        // A `--config` after a built-in subcommand drops those before it…
        let mut both = top.clone();
        both.extend(["--config", "net.retry=0"]);
        check(
            &run(&both, &[], &[("/w/proj/.cargo/config.toml", EVIL_CFG)]),
            &[(
                Registry,
                "sparse+http://e.test/",
                "/w/proj/.cargo/config.toml:5",
                true,
            )],
        );
        // …but not after an alias.
        let mut alias = cli.to_vec();
        alias.extend(["b", "--config", "net.retry=0"]);
        check(
            &run(&alias, &[], &[]),
            &[(
                Registry,
                "sparse+http://c.test/",
                "the command-line flag --config",
                false,
            )],
        );
        // A file argument (cargo takes ARG as a path when it exists).
        check(
            &run(
                &["fetch", "--config", "../extra.toml"],
                &[],
                &[("/w/proj/extra.toml", EVIL_CFG)],
            ),
            &[(
                Registry,
                "sparse+http://e.test/",
                "/w/proj/extra.toml:5",
                false,
            )],
        );
        // `+toolchain` and `-Z` before the subcommand.
        check(
            &run(
                &[
                    "+nightly",
                    "-Zunstable-options",
                    "--config=source.crates-io.registry='sparse+http://z.test/'",
                    "build",
                ],
                &[],
                &[],
            ),
            &[(
                Registry,
                "sparse+http://z.test/",
                "the command-line flag --config",
                true,
            )],
        );
    }

    #[test]
    fn named_registries_and_flags() {
        let got = run(
            &["build"],
            &[("CARGO_REGISTRIES_MY_REG_INDEX", "sparse+http://env.test/")],
            &[("/w/proj/.cargo/config.toml", "[registries.my-reg]\nindex = \"sparse+http://file.test/\"\n[registries.other]\nindex = \"https://o.test/git-index\"\n")],
        );
        check(
            &got,
            &[
                (
                    Registry,
                    "sparse+http://env.test/",
                    "the environment variable CARGO_REGISTRIES_MY_REG_INDEX",
                    true,
                ),
                (
                    Registry,
                    "https://o.test/git-index",
                    "/w/proj/.cargo/config.toml:4",
                    true,
                ),
                BUILTIN_SRC,
            ],
        );
        lacks(&got, "sparse+http://file.test/");
        let got = run(
            &[
                "install",
                "--index",
                "sparse+http://i.test/",
                "x",
                "--git=https://g.test/r.git",
                "--path",
                "../local",
            ],
            &[],
            &[],
        );
        check(
            &got,
            &[
                (
                    Registry,
                    "sparse+http://i.test/",
                    "the command-line flag --index",
                    false,
                ),
                (
                    Git,
                    "https://g.test/r.git",
                    "the command-line flag --git",
                    false,
                ),
                (Dir, "../local", "the command-line flag --path", false),
            ],
        );
        // A registry replaced by a local directory is not contacted.
        let got = run(
            &["build"],
            &[],
            &[("/w/proj/.cargo/config.toml", "[registries.corp]\nindex = \"sparse+http://corp.test/\"\n[source.corp-src]\nregistry = \"sparse+http://corp.test/\"\nreplace-with = \"vendored\"\n[source.vendored]\ndirectory = \"vendor\"\n")],
        );
        check(
            &got,
            &[(Dir, "vendor", "/w/proj/.cargo/config.toml:7", false)],
        );
        lacks(&got, "sparse+http://corp.test/");
    }

    #[test]
    fn aliases_and_external_subcommands() {
        let cfg = "[alias]\nget = [\"fetch\", \"--config\", \"source.crates-io.replace-with='q'\", \"--config\", \"source.q.registry='sparse+http://q.test/'\"]\nlint = \"clippy --all\"\n";
        check(
            &run(&["get"], &[], &[("/w/proj/.cargo/config.toml", cfg)]),
            &[(
                Registry,
                "sparse+http://q.test/",
                "the command-line flag --config",
                false,
            )],
        );
        check(
            &run(
                &["yy"],
                &[("CARGO_ALIAS_YY", "fetch --manifest-path other/Cargo.toml")],
                &[(
                    "/w/proj/sub/other/Cargo.toml",
                    "[dependencies]\nx = { git = \"https://x.test/r\" }\n",
                )],
            ),
            &[(
                Git,
                "https://x.test/r",
                "/w/proj/sub/other/Cargo.toml:2",
                false,
            )],
        );
        // An external subcommand runs cargo without pkgward's --config.
        check(
            &run(&["nextest", "run"], &[], &[]),
            &[(Registry, "builtin", "the tool's built-in default", false)],
        );
        check(
            &run(&["lint"], &[], &[("/w/proj/.cargo/config.toml", cfg)]),
            &[(Registry, "builtin", "the tool's built-in default", false)],
        );
        check(&run(&["clippy"], &[], &[]), &[BUILTIN_SRC]);
        // Offline commands list nothing.
        assert!(run(&["clean"], &[], &[("/w/proj/.cargo/config.toml", EVIL_CFG)]).is_empty());
        assert!(run(
            &["metadata", "--no-deps"],
            &[],
            &[("/w/proj/.cargo/config.toml", EVIL_CFG)]
        )
        .is_empty());
    }

    #[test]
    fn manifests() {
        let root = "[workspace]\nmembers = [\"crates/a\", \"crates/*\"]\n\n[workspace.dependencies]\nws = { git = \"https://ws.test/r\" }\n\n[patch.crates-io]\np = { git = \"https://patch.test/r\", branch = \"x\" }\n\n[replace]\n\"r:1.0.0\" = { git = \"https://replace.test/r\" }\n";
        let member = "[package]\nname = \"a\"\n\n[dependencies]\nplain = \"1\"\nidx = { version = \"1\", registry-index = \"sparse+http://idx.test/\" }\nlocal = { path = \"../b\" }\n\n[target.'cfg(unix)'.build-dependencies]\nt = { git = \"https://target.test/r\" }\n[dev-dependencies.d]\ngit = \"https://dev.test/r\"\n";
        let b =
            "[package]\nname = \"b\"\n[dependencies]\ndeep = { git = \"ssh://git@deep.test/r\" }\n";
        let files = [
            ("/w/proj/Cargo.toml", root),
            ("/w/proj/crates/a/Cargo.toml", member),
            ("/w/proj/crates/b/Cargo.toml", b),
        ];
        let mut env_files = files.to_vec();
        env_files.push(("/w/proj/sub/.keep", ""));
        let got = run(
            &["build", "--manifest-path", "../crates/a/Cargo.toml"],
            &[],
            &env_files,
        );
        check(
            &got,
            &[
                (Git, "https://ws.test/r", "/w/proj/Cargo.toml:5", false),
                (Git, "https://patch.test/r", "/w/proj/Cargo.toml:8", false),
                (
                    Git,
                    "https://replace.test/r",
                    "/w/proj/Cargo.toml:11",
                    false,
                ),
                (
                    Registry,
                    "sparse+http://idx.test/",
                    "/w/proj/crates/a/Cargo.toml:6",
                    false,
                ),
                (Dir, "../b", "/w/proj/crates/a/Cargo.toml:7", false),
                (
                    Git,
                    "https://target.test/r",
                    "/w/proj/crates/a/Cargo.toml:10",
                    false,
                ),
                (
                    Git,
                    "https://dev.test/r",
                    "/w/proj/crates/a/Cargo.toml:12",
                    false,
                ),
                (
                    Git,
                    "ssh://git@deep.test/r",
                    "/w/proj/crates/b/Cargo.toml:4",
                    false,
                ),
            ],
        );
        // From the workspace root itself (cwd below it, no manifest there):
        // the explicit member is read too.
        check(
            &run(&["test"], &[], &files),
            &[(
                Git,
                "https://dev.test/r",
                "/w/proj/crates/a/Cargo.toml:12",
                false,
            )],
        );
        // Config [patch] and paths.
        check(
            &run(
                &["build"],
                &[],
                &[(
                    "/w/proj/.cargo/config.toml",
                    "paths = [\"../override\"]\n[patch.crates-io.x]\ngit = \"https://cp.test/r\"\n",
                )],
            ),
            &[
                (
                    Git,
                    "https://cp.test/r",
                    "/w/proj/.cargo/config.toml:3",
                    false,
                ),
                (Dir, "../override", "/w/proj/.cargo/config.toml:1", false),
            ],
        );
    }

    #[test]
    fn lockfile() {
        let lock = "version = 4\n\n[[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"registry+https://index.example.com/crates\"\n\n[[package]]\nname = \"g\"\nversion = \"0.1.0\"\nsource = \"git+https://git.test/g?branch=main#0123abcd\"\n\n[[package]]\nname = \"s\"\nversion = \"2.0.0\"\nsource = \"sparse+http://lock.test/\"\n\n[[package]]\nname = \"s2\"\nversion = \"2.0.0\"\nsource = \"sparse+http://lock.test/\"\n\n[[package]]\nname = \"n\"\nversion = \"1.0.0\"\nsource = \"sparse+http://named.test/\"\n\n[[package]]\nname = \"v\"\nversion = \"1.0.0\"\nsource = \"git+https://vendored.test/v#abc\"\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n";
        let files = [
            ("/w/proj/Cargo.toml", "[package]\nname = \"app\"\n"),
            ("/w/proj/Cargo.lock", lock),
            ("/w/proj/.cargo/config.toml", "[registries.named]\nindex = \"sparse+http://named.test/\"\n[source.vg]\ngit = \"https://vendored.test/v\"\nreplace-with = \"vendored\"\n[source.vendored]\ndirectory = \"vendor\"\n"),
        ];
        let got = run(&["build"], &[], &files);
        check(
            &got,
            &[
                (
                    Git,
                    "https://git.test/g?branch=main#0123abcd",
                    "/w/proj/Cargo.lock:11",
                    false,
                ),
                (
                    Locked,
                    "sparse+http://lock.test/",
                    "/w/proj/Cargo.lock:16",
                    false,
                ),
            ],
        );
        assert!(
            got.iter().any(|s| s.subject == "s 2.0.0 and 1 more"),
            "{got:#?}"
        );
        lacks(&got, "registry+https://index.example.com/crates");
        assert_eq!(
            got.iter()
                .filter(|s| s.value.contains("named.test"))
                .count(),
            1,
            "{got:#?}"
        );
        lacks(&got, "https://vendored.test/v#abc");
        // `cargo install` does not read the project.
        lacks(
            &run(&["install", "x"], &[], &files),
            "sparse+http://lock.test/",
        );
        // Sources spelled with TOML escapes or in another string form are
        // read by the TOML parser.
        for (text, want) in [
            ("[[package]]\nname = \"e\"\nversion = \"1.0.0\"\nsource = \"\\u0067it+https://esc.test/r#1\"\n", "https://esc.test/r#1"),
            ("[[package]]\nname = \"l\"\nversion = \"1.0.0\"\nsource = 'git+https://lit.test/r#1'\n", "https://lit.test/r#1"),
            ("[[package]]\nname = \"m\"\nversion = \"1.0.0\"\n\"source\" = \"sparse+http://quoted.test/\"\n", "sparse+http://quoted.test/"),
        ] {
            let got = run(&["build"], &[], &[("/w/proj/Cargo.toml", "[package]\nname = \"app\"\n"), ("/w/proj/Cargo.lock", text)]);
            assert!(got.iter().any(|s| s.value == want && s.origin.to_string() == "/w/proj/Cargo.lock:4"), "{want}: {got:#?}");
        }
    }

    #[test]
    fn forcing() {
        let evil_named = "[registries.evil]\nindex = \"sparse+http://evil.test/\"\n[registries.ok]\nindex = \"sparse+http://ok.test/\"\n";
        let files = [
            ("/w/proj/.cargo/config.toml", evil_named),
            (
                "/w/proj/Cargo.toml",
                "[dependencies]\ng = { git = \"https://g.test/r\" }\n",
            ),
        ];
        let args = ["build", "--config", "net.retry=0"];
        let got = run(&args, &[], &files);
        let mut approved = |s: &Source| s.value.contains("ok.test");
        let plan = force(
            &strings(&args),
            "sparse+http://m.test/",
            &got,
            &mut approved,
        )
        .unwrap();
        assert_eq!(plan.insert_args, ["--config", "{dir}/cargo-mirror.toml"]);
        assert_eq!(plan.insert_at, 1);
        assert_eq!(plan.files.len(), 1);
        assert!(plan.files[0]
            .1
            .contains("[source.crates-io]\nreplace-with = \"pkgward-mirror\""));
        assert!(plan.files[0]
            .1
            .contains("registry = \"sparse+http://m.test/\""));
        assert_eq!(
            plan.env,
            [(
                "CARGO_REGISTRIES_EVIL_INDEX".to_string(),
                "sparse+http://m.test/".to_string()
            )]
        );
        assert_eq!(plan.overridden.len(), 2, "{:#?}", plan.overridden);
        assert!(plan.remaining.iter().any(|s| s.value == "https://g.test/r"));
        assert!(plan
            .remaining
            .iter()
            .any(|s| s.value == "sparse+http://ok.test/"));
        // The parsed generated file says what the plan claims.
        let cfg = {
            let mut c = Config::default();
            let env = FakeEnv::default();
            let files = FakeFiles::default();
            let a = strings(&[]);
            let req = Request {
                tool: Tool::by_name("cargo").unwrap(),
                args: &a,
                env: &env,
                files: &files,
                cwd: Path::new("/"),
                home: None,
                real_tool: None,
            };
            c.load_text(&req, &plan.files[0].1, None, Path::new("/"), Level::Cli, 0);
            c
        };
        let mut out = Vec::new();
        config_sources(&cfg, true, &mut out);
        assert_eq!(out[0].value, "sparse+http://m.test/");
        // Vendored crates-io is left alone; an external subcommand cannot be forced.
        let vend = run(
            &["build"],
            &[],
            &[(
                "/w/proj/.cargo/config.toml",
                "[source.crates-io]\nreplace-with = \"v\"\n[source.v]\ndirectory = \"vendor\"\n",
            )],
        );
        let plan = force(
            &strings(&["build"]),
            "sparse+http://m.test/",
            &vend,
            &mut |_| true,
        )
        .unwrap();
        assert!(plan.insert_args.is_empty() && plan.overridden.is_empty());
        let ext = run(&["nextest", "run"], &[], &[]);
        let plan = force(
            &strings(&["nextest", "run"]),
            "sparse+http://m.test/",
            &ext,
            &mut |_| false,
        )
        .unwrap();
        assert!(plan.insert_args.is_empty() && plan.remaining.len() == ext.len());
    }

    /// `cargo test --release --lib classify::cargo::tests::timing -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn timing() {
        use crate::classify::source::RealFiles;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let w = |rel: &str, text: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w("home/.cargo/config.toml", "[source.crates-io]\nreplace-with = \"m\"\n[source.m]\nregistry = \"sparse+https://m.example.com/\"\n[registries.corp]\nindex = \"sparse+https://corp.example.com/\"\n[net]\nretry = 2\n");
        w(
            "proj/.cargo/config.toml",
            "[build]\njobs = 4\n[alias]\nxt = \"run -p xtask --\"\n",
        );
        let mut manifest =
            String::from("[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[dependencies]\n");
        let mut lock = String::from("version = 4\n\n");
        for i in 0..1000 {
            if i < 60 {
                manifest.push_str(&format!("dep{i} = \"1\"\n"));
            }
            lock.push_str(&format!("[[package]]\nname = \"dep{i}\"\nversion = \"1.0.{i}\"\nsource = \"registry+https://index.example.com/\"\nchecksum = \"{:064x}\"\ndependencies = [\n \"dep{}\",\n]\n\n", i, (i + 1) % 1000));
        }
        w("proj/Cargo.toml", &manifest);
        w("proj/Cargo.lock", &lock);
        let env = FakeEnv::default();
        let args = strings(&["build", "--release"]);
        let home = root.join("home");
        let cwd = root.join("proj");
        let req = Request {
            tool: Tool::by_name("cargo").unwrap(),
            args: &args,
            env: &env,
            files: &RealFiles,
            cwd: &cwd,
            home: Some(&home),
            real_tool: None,
        };
        let n = 200;
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(sources(&req, Verb::Install));
        }
        eprintln!(
            "cargo sources, registry-only lockfile: {:?} per call",
            t.elapsed() / n
        );
        let with_git = lock.replacen(
            "registry+https://index.example.com/",
            "git+https://git.example.com/x.git#0123456789abcdef",
            20,
        );
        w("proj/Cargo.lock", &with_git);
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(sources(&req, Verb::Install));
        }
        eprintln!(
            "cargo sources, 20 git entries: {:?} per call ({} sources)",
            t.elapsed() / n,
            sources(&req, Verb::Install).len()
        );
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let junk = [
            "",
            "[",
            "[source.crates-io]\nreplace-with = 3\n",
            "source = 1\nregistries = []\n",
            "[source.a]\nreplace-with = \"a\"\n[source.crates-io]\nreplace-with = \"a\"\n",
            "include = [1, {path = 2}, \"../../../../etc/passwd\"]\n",
            "[[package]]\nsource = 7\n[[package]]\nname = 1\nsource = \"git+\"\n",
            "[alias]\nx = []\ny = [\"\"]\n",
            "[patch]\nx = 1\n[patch.y]\nz = {git = 1}\n",
        ];
        for text in junk {
            let mut files = FakeFiles::default();
            for p in [
                "/w/.cargo/config.toml",
                "/w/Cargo.toml",
                "/w/Cargo.lock",
                "/h/.cargo/config.toml",
            ] {
                files.0.insert(PathBuf::from(p), text.to_string());
            }
            let env = FakeEnv::default();
            for args in [
                &["build"][..],
                &["x"],
                &["y"],
                &["install", "--path", "."],
                &["--config", text, "fetch"],
                &["+"],
                &["-Z"],
                &["--config"],
                &["build", "--config"],
            ] {
                let args = strings(args);
                let req = Request {
                    tool: Tool::by_name("cargo").unwrap(),
                    args: &args,
                    env: &env,
                    files: &files,
                    cwd: Path::new("/w"),
                    home: Some(Path::new("/h")),
                    real_tool: None,
                };
                let s = sources(&req, verb(&args));
                let _ = force(&args, "sparse+http://m.test/", &s, &mut |_| false);
            }
        }
    }
}
