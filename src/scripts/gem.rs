//! gem and bundle: a gem's native extensions (`extconf.rb`, `Rakefile`,
//! `CMakeLists.txt`, `Cargo.toml` listed in its gemspec's `extensions`)
//! are built by `gem install` / `bundle install` with no switch to turn
//! them off, and a `rubygems_plugin.rb` among its files is loaded by every
//! later `gem` command. pkgward reads them from the gems **before** the
//! tool runs ([`before`]):
//!
//! * `gem install`: `gem install --explain` (the user's arguments, through
//!   the egress proxy and any mirror) lists the gems the install would add;
//!   each is fetched with `gem fetch NAME:VERSION` into a private directory
//!   (same sources, same proxy) and its `metadata.gz` read ([`inspect`]);
//!   a local `.gem` named on the command line is read where it is;
//! * `bundle install` / `update` / `add`: `bundle lock --print` (with
//!   `--update` for `bundle update`, and the user's `--gemfile`) gives the
//!   resolution without writing it; every locked rubygems gem is fetched
//!   from its `remote:` and read. For `bundle add NAME…` the resolution is
//!   of a temporary Gemfile next to the project's that evaluates it and
//!   adds the new gems ([`add_lines`]; the lockfile copied beside it), so
//!   the added gems are read before bundler writes or installs anything.
//!
//! What a gem version holds is cached in pkgward's state directory
//! (`scripts/gem/NAME-VERSION[-PLATFORM].json`), so a gem is fetched once.
//! Each gem with code is decided ([`super::decide`], `rubygems:NAME[@VER]`,
//! an exact version); in enforce mode an unapproved one denies the whole
//! command before it runs (exit 77, with the approve commands). Approved
//! ones are built by the tool itself (gem has no sandbox hook) and
//! recorded after it with its exit code. Git and path gems of a Gemfile
//! are the project's code: not fetched and not decided. A platform gem is
//! fetched as the tool picks it for this machine (`gem fetch NAME:VERSION`).

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::policy::{Mode, Policy};
use crate::record::{self, AuditLog};
use crate::tools::Ecosystem;

use super::{ScriptDecision, ScriptRecord};

/// What the shim does for one `gem`/`bundle` command that installs.
#[derive(Clone, Debug)]
pub struct Plan {
    pub tool: Tool,
    /// Index of the subcommand in the arguments.
    pub sub_at: usize,
    pub update: bool,
    /// `bundle add`: the Gemfile lines of the gems it adds.
    pub add: Vec<String>,
    /// `bundle --gemfile FILE`.
    pub gemfile: Option<PathBuf>,
    /// Local `.gem` files named on the command line.
    pub local: Vec<PathBuf>,
    /// The approved gems with code, recorded after the tool ran.
    approved: Arc<Mutex<Approved>>,
}

/// The approved gems with code and their decisions.
type Approved = Vec<(Gem, GemCode, ScriptDecision, Option<String>)>;

/// The gems with their code, and the project's own (git/path) gems.
type FoundGems = (Vec<(Gem, GemCode)>, Vec<Gem>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Gem,
    Bundle,
}

/// Options of `gem install` that take a value.
const GEM_VALUE: &[&str] = &[
    "-v",
    "--version",
    "--platform",
    "-i",
    "--install-dir",
    "-n",
    "--bindir",
    "--build-root",
    "-P",
    "--trust-policy",
    "-g",
    "--file",
    "--without",
    "-B",
    "--bulk-threshold",
    "-s",
    "--source",
    "-p",
    "--http-proxy",
    "--config-file",
    "--document",
    "--gemfile",
];

/// A gem's name, version and platform (`ruby` when empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gem {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub platform: String,
    /// Where it comes from (a remote URL; empty: the tool's sources).
    #[serde(default)]
    pub remote: String,
    /// A `.gem` file named on the command line: the user's own file, not a
    /// registry's, approved only by `rubygems:NAME@local`.
    #[serde(default)]
    pub local: bool,
}

impl Gem {
    fn full(&self) -> String {
        if self.platform.is_empty() || self.platform == "ruby" {
            format!("{}-{}", self.name, self.version)
        } else {
            format!("{}-{}-{}", self.name, self.version, self.platform)
        }
    }
}

/// The install-time code of one gem.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GemCode {
    /// The gemspec's `extensions` (`ext/x/extconf.rb`, …).
    pub extensions: Vec<String>,
    /// `rubygems_plugin.rb` files among its `files` (loaded by every gem
    /// command once installed).
    pub plugins: Vec<String>,
}

impl GemCode {
    pub fn is_empty(&self) -> bool {
        self.extensions.is_empty() && self.plugins.is_empty()
    }
}

fn split_opt(a: &str) -> (&str, Option<&str>) {
    match a.split_once('=') {
        Some((n, v)) if n.starts_with("--") => (n, Some(v)),
        _ => (a, None),
    }
}

/// The subcommand's index and the positionals after it.
fn words(args: &[String]) -> Option<(usize, Vec<String>)> {
    let mut sub = None;
    let mut pos = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" {
            break;
        }
        if a.starts_with('-') && a != "-" {
            let (name, inline) = split_opt(a);
            if inline.is_none() && GEM_VALUE.contains(&name) {
                i += 1;
            }
        } else if sub.is_none() {
            sub = Some(i);
        } else {
            pos.push(a.to_string());
        }
        i += 1;
    }
    sub.map(|s| (s, pos))
}

/// The reason code of a gem/bundle command that may build native
/// extensions pkgward cannot read ahead.
pub const UNCHECKED_CODE: &str = "gem-unchecked";

/// gem/bundle commands that may build native extensions (or run a gem's
/// code) that pkgward does not read before they run: `gem update` (and
/// `--system`), `gem install -g FILE` (a dependencies file), `gem
/// pristine` and `bundle pristine` (they build installed gems' extensions
/// again). Why, or `None`.
pub fn unchecked(tool: &str, args: &[String]) -> Option<String> {
    let has = |f: &str| {
        args.iter()
            .any(|a| a == f || a.starts_with(&format!("{f}=")))
    };
    let what = if tool == "bundle" {
        (crate::classify::bundle_command(args) == "pristine").then_some("`bundle pristine`")
    } else {
        match crate::classify::gem_command(args).as_deref() {
            Some("update") => Some("`gem update`"),
            Some("pristine") if !has("--no-extensions") => Some("`gem pristine`"),
            Some("install") if args.iter().any(|a| a.starts_with("-g")) || has("--file") => {
                Some("`gem install -g FILE`")
            }
            _ => None,
        }
    }?;
    Some(format!(
        "{what}: pkgward cannot read the native extensions it may build before they run; \
         install the gems by name (`gem install NAME`, `bundle install`), which is checked"
    ))
}

/// The plan for a `gem`/`bundle` command line, or `None` when it installs
/// no gems.
pub fn plan(tool: &str, args: &[String], cwd: &Path) -> Option<Plan> {
    if args
        .iter()
        .any(|a| a == "-h" || a == "--help" || a == "--explain")
    {
        return None;
    }
    let mut add = Vec::new();
    let mut gemfile = None;
    let (tool, sub_at, update, local) = if tool == "bundle" {
        // A bare `bundle` is `bundle install`.
        let at = words(args).map_or(args.len(), |(at, _)| at);
        // By Bundler's own name (`bundle inst` is `install`).
        let sub = crate::classify::bundle_command(args);
        if !matches!(sub.as_str(), "install" | "update" | "add") {
            return None;
        }
        if sub == "add" {
            add = add_lines(&args[at + 1..])?;
        }
        gemfile = option_value(args, "--gemfile").map(|g| cwd.join(g));
        (Tool::Bundle, at, sub == "update", Vec::new())
    } else {
        let (at, pos) = words(args)?;
        // By RubyGems' own name (`gem instal` is `install`).
        if crate::classify::gem_command(args).as_deref() != Some("install") {
            return None;
        }
        if args.iter().any(|a| a == "-g" || a.starts_with("--file")) {
            // A gem dependencies file: not read ahead (left to the tool).
            return None;
        }
        let local = pos
            .iter()
            .filter(|p| p.ends_with(".gem"))
            .map(|p| cwd.join(p))
            .filter(|p| p.is_file())
            .collect();
        (Tool::Gem, at, false, local)
    };
    Some(Plan {
        tool,
        sub_at,
        update,
        add,
        gemfile,
        local,
        approved: Arc::default(),
    })
}

/// The value of `--name VALUE` / `--name=VALUE` (the last one).
fn option_value(args: &[String], name: &str) -> Option<String> {
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == name {
            out = it.next().cloned();
        } else if let Some(v) = a.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            out = Some(v.to_string());
        }
    }
    out
}

/// A Ruby single-quoted string literal of `s`.
fn ruby_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The Gemfile lines `bundle add ARGS…` (after the subcommand) adds:
/// `gem 'NAME', 'REQ', source: 'URL'` for each name. `None` when nothing is
/// installed (`--skip-install`) or the gems are the project's own (`--git`,
/// `--github`, `--path`: not fetched from a gem source, as in a Gemfile).
pub fn add_lines(args: &[String]) -> Option<Vec<String>> {
    const VALUE: &[&str] = &[
        "-v",
        "--version",
        "-g",
        "--group",
        "-s",
        "--source",
        "-r",
        "--require",
        "--path",
        "--git",
        "--github",
        "-b",
        "--branch",
        "--ref",
        "--glob",
        "--gemfile",
    ];
    let mut names = Vec::new();
    let mut versions = Vec::new();
    let mut source = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            break;
        }
        if a == "--skip-install" {
            return None;
        }
        if !a.starts_with('-') || a == "-" {
            names.push(a.to_string());
            continue;
        }
        let (name, inline) = split_opt(a);
        let value = match inline {
            Some(v) => Some(v.to_string()),
            None if VALUE.contains(&name) => {
                i += 1;
                args.get(i - 1).cloned()
            }
            None => None,
        };
        match name {
            "--git" | "--github" | "--path" => return None,
            "-v" | "--version" => versions.extend(
                value
                    .unwrap_or_default()
                    .split(',')
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty()),
            ),
            "-s" | "--source" => source = value,
            _ => {}
        }
    }
    Some(
        names
            .iter()
            .map(|n| {
                let mut l = format!("gem {}", ruby_str(n));
                for v in &versions {
                    l.push_str(&format!(", {}", ruby_str(v)));
                }
                if let Some(s) = &source {
                    l.push_str(&format!(", source: {}", ruby_str(s)));
                }
                l
            })
            .collect(),
    )
}

/// The project's Gemfile as bundler finds it: `--gemfile`, `BUNDLE_GEMFILE`,
/// else `Gemfile` or `gems.rb` in the directory or one above it.
fn project_gemfile(plan: &Plan, env: &[(OsString, OsString)], cwd: &Path) -> Option<PathBuf> {
    if let Some(g) = &plan.gemfile {
        return Some(g.clone());
    }
    let from_env = super::launch_var(env, "BUNDLE_GEMFILE")
        .map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty());
    if let Some(g) = from_env {
        return Some(cwd.join(g));
    }
    cwd.ancestors().find_map(|d| {
        ["Gemfile", "gems.rb"]
            .iter()
            .map(|n| d.join(n))
            .find(|p| p.is_file())
    })
}

/// The lockfile bundler pairs with a Gemfile.
fn lock_of(gemfile: &Path) -> PathBuf {
    if gemfile.file_name().is_some_and(|n| n == "gems.rb") {
        gemfile.with_file_name("gems.locked")
    } else {
        let mut s = gemfile.as_os_str().to_os_string();
        s.push(".lock");
        PathBuf::from(s)
    }
}

/// For `bundle add`: a temporary Gemfile beside the project's that
/// evaluates it and adds the new gems, with a copy of its lockfile (so the
/// resolution is the one `bundle add` makes). Removed when dropped.
struct AddGemfile {
    file: tempfile::NamedTempFile,
    lock: PathBuf,
}

impl Drop for AddGemfile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

fn add_gemfile(gemfile: &Path, lines: &[String]) -> std::result::Result<AddGemfile, String> {
    let dir = gemfile.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".pkgward-bundle-add-")
        .suffix(".gemfile")
        .tempfile_in(dir)
        .map_err(|e| format!("cannot write a Gemfile in {}: {e}", dir.display()))?;
    let text = format!(
        "eval_gemfile {}\n{}\n",
        ruby_str(&gemfile.to_string_lossy()),
        lines.join("\n")
    );
    std::io::Write::write_all(&mut file, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", file.path().display()))?;
    let lock = lock_of(file.path());
    let real_lock = lock_of(gemfile);
    if real_lock.is_file() {
        std::fs::copy(&real_lock, &lock)
            .map_err(|e| format!("cannot copy {}: {e}", real_lock.display()))?;
    }
    Ok(AddGemfile { file, lock })
}

// ---- reading a .gem -----------------------------------------------------------

/// The install-time code a `.gem` (a tar with `metadata.gz`) declares.
pub fn inspect(gem: &[u8]) -> std::result::Result<GemCode, String> {
    let mut ar = tar::Archive::new(gem);
    let entries = ar.entries().map_err(|e| format!("not a gem: {e}"))?;
    for e in entries {
        let mut e = e.map_err(|e| format!("not a gem: {e}"))?;
        let path = e.path().map(|p| p.into_owned()).unwrap_or_default();
        if path != Path::new("metadata.gz") {
            continue;
        }
        let mut yaml = String::new();
        flate2::read::GzDecoder::new(&mut e)
            .take(16 << 20)
            .read_to_string(&mut yaml)
            .map_err(|e| format!("cannot read the gem's metadata.gz: {e}"))?;
        return Ok(code_of_spec(&yaml));
    }
    Err("not a gem: no metadata.gz".into())
}

/// The `extensions` and plugin files of a gemspec in YAML (a
/// `Gem::Specification`: top-level keys at column 0, list items `- x`).
pub fn code_of_spec(yaml: &str) -> GemCode {
    let mut out = GemCode::default();
    let mut key = "";
    for line in yaml.lines() {
        let line = line.trim_end_matches('\r');
        if !line.starts_with(' ') && !line.starts_with('-') {
            key = line.split(':').next().unwrap_or("");
            // `extensions: []` or an inline flow list.
            if let Some(rest) = line.strip_prefix("extensions:") {
                let rest = rest.trim();
                if rest.starts_with('[') && rest.len() > 2 {
                    out.extensions.extend(
                        rest.trim_matches(|c| c == '[' || c == ']')
                            .split(',')
                            .map(unquote)
                            .filter(|s| !s.is_empty()),
                    );
                }
            }
            continue;
        }
        let Some(item) = line.trim_start().strip_prefix("- ") else {
            continue;
        };
        // Only list items directly under the key (column 0 or 2).
        let indent = line.len() - line.trim_start().len();
        if indent > 2 {
            continue;
        }
        let item = unquote(item);
        match key {
            "extensions" if !item.is_empty() => out.extensions.push(item),
            "files" if item == "rubygems_plugin.rb" || item.ends_with("/rubygems_plugin.rb") => {
                out.plugins.push(item)
            }
            _ => {}
        }
    }
    out
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    let s = s
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
        .unwrap_or(s);
    s.to_string()
}

/// `name-version[-platform]` as `gem install --explain` prints it.
pub fn parse_full_name(s: &str) -> Option<Gem> {
    let parts: Vec<&str> = s.trim().split('-').collect();
    let at = (1..parts.len()).find(|&i| {
        parts[i].starts_with(|c: char| c.is_ascii_digit())
            && parts[i]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.')
    })?;
    Some(Gem {
        name: parts[..at].join("-"),
        version: parts[at].to_string(),
        platform: parts[at + 1..].join("-"),
        remote: String::new(),
        local: false,
    })
}

/// The gems `gem install --explain` lists.
pub fn parse_explain(out: &str) -> Vec<Gem> {
    out.lines()
        .skip_while(|l| !l.starts_with("Gems to install"))
        .skip(1)
        .filter(|l| l.starts_with("  "))
        .filter_map(parse_full_name)
        .collect()
}

/// The rubygems gems of a `Gemfile.lock`: each `GEM` section's `remote:`
/// and its `specs:` (`    name (version[-platform])` at four spaces), plus
/// the `GIT`/`PATH` sections' gems as the project's code.
pub fn parse_lock(lock: &str) -> (Vec<Gem>, Vec<Gem>) {
    let mut gems = Vec::new();
    let mut local = Vec::new();
    let mut section = "";
    let mut remote = String::new();
    for line in lock.lines() {
        let line = line.trim_end_matches('\r');
        if !line.starts_with(' ') {
            section = line.trim();
            remote.clear();
            continue;
        }
        if let Some(r) = line.strip_prefix("  remote: ") {
            remote = r.trim().to_string();
            continue;
        }
        let Some(spec) = line.strip_prefix("    ") else {
            continue;
        };
        if spec.starts_with(' ') {
            continue;
        }
        let Some((name, rest)) = spec.split_once(" (") else {
            continue;
        };
        let ver = rest.trim_end_matches(')');
        let (version, platform) = match ver.split_once('-') {
            Some((v, p)) => (v.to_string(), p.to_string()),
            None => (ver.to_string(), String::new()),
        };
        let g = Gem {
            name: name.to_string(),
            version,
            platform,
            remote: remote.clone(),
            local: false,
        };
        match section {
            "GEM" => gems.push(g),
            "GIT" | "PATH" => local.push(g),
            _ => {}
        }
    }
    (gems, local)
}

// ---- before the tool runs -------------------------------------------------------

fn cache_path(g: &Gem) -> Option<PathBuf> {
    cache_path_in(&crate::paths::state_dir()?, g)
}

fn cache_path_in(base: &Path, g: &Gem) -> Option<PathBuf> {
    let safe = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !s.starts_with('.')
    };
    let full = g.full();
    if !safe(&full) {
        return None;
    }
    Some(
        base.join("scripts")
            .join("gem")
            .join(format!("{full}.json")),
    )
}

fn cached(g: &Gem) -> Option<GemCode> {
    let text = std::fs::read_to_string(cache_path(g)?).ok()?;
    serde_json::from_str(&text).ok()
}

fn store(g: &Gem, code: &GemCode) {
    if let Some(p) = cache_path(g) {
        if let Some(dir) = p.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Ok(text) = serde_json::to_string(code) {
            let tmp = p.with_extension("tmp");
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, &p);
            }
        }
    }
}

/// The options of the user's `gem` command that say where gems come from.
fn source_options(args: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--" {
            break;
        }
        let (name, inline) = split_opt(&s);
        match name {
            "-s" | "--source" | "-p" | "--http-proxy" | "--config-file" | "--platform" => {
                out.push(OsString::from(name));
                match inline {
                    Some(v) => out.push(OsString::from(v)),
                    None => out.extend(it.next().cloned()),
                }
            }
            "--clear-sources" | "--norc" | "--prerelease" | "--no-http-proxy" => {
                out.push(a.clone())
            }
            _ => {}
        }
    }
    out
}

fn capture(
    program: &Path,
    args: &[OsString],
    env: &[(OsString, OsString)],
    cwd: Option<&Path>,
) -> std::result::Result<String, String> {
    let mut cmd = std::process::Command::new(program);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null());
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let shown = record::redact::redact_urls(&shown.join(" ")).into_owned();
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run `{} {shown}`: {e}", program.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`{} {shown}` failed: {}",
            program.file_name().unwrap_or_default().to_string_lossy(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The real `gem` next to the real `bundle` (bundle's fetch uses gem).
fn gem_program(launch: &crate::supervise::Launch, tool: Tool) -> PathBuf {
    match tool {
        Tool::Gem => launch.program.clone(),
        Tool::Bundle => launch
            .program
            .parent()
            .map(|d| d.join("gem"))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("gem")),
    }
}

/// The gems the command would install, each with its code.
fn find(plan: &Plan, launch: &crate::supervise::Launch) -> std::result::Result<FoundGems, String> {
    let args = &launch.args;
    let mut sources = source_options(args);
    let mut project = Vec::new();
    let wanted: Vec<Gem> = match plan.tool {
        Tool::Gem => {
            let mut explain = args.clone();
            explain.insert((plan.sub_at + 1).min(explain.len()), "--explain".into());
            let out = capture(&launch.program, &explain, &launch.env, None)?;
            parse_explain(&out)
        }
        Tool::Bundle => {
            let mut lock_args: Vec<OsString> = vec!["lock".into(), "--print".into()];
            if plan.update {
                lock_args.push("--update".into());
            }
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            let mut _added = None;
            if !plan.add.is_empty() {
                let g = project_gemfile(plan, &launch.env, &cwd)
                    .ok_or("`bundle add` with no Gemfile")?;
                let a = add_gemfile(&g, &plan.add)?;
                lock_args.push("--gemfile".into());
                lock_args.push(a.file.path().into());
                _added = Some(a);
            } else if let Some(g) = &plan.gemfile {
                lock_args.push("--gemfile".into());
                lock_args.push(g.into());
            }
            let out = capture(&launch.program, &lock_args, &launch.env, None)?;
            drop(_added);
            let (mut gems, local) = parse_lock(&out);
            project = local;
            // A mirror for every source (pkgward's forced one, or the
            // user's) is where bundler fetches from: so does pkgward.
            let mirror = super::launch_var(&launch.env, "BUNDLE_MIRROR__ALL")
                .map(|v| v.to_string_lossy().into_owned())
                .filter(|m| !m.is_empty());
            if let Some(m) = mirror {
                for g in &mut gems {
                    g.remote = m.clone();
                }
            }
            // bundle's proxy is the environment's; gem fetch gets it as a flag.
            if let Some((_, v)) = launch
                .env
                .iter()
                .rev()
                .find(|(k, _)| k == "HTTP_PROXY" || k == "http_proxy")
            {
                sources = vec!["--http-proxy".into(), v.clone()];
            } else {
                sources.clear();
            }
            gems
        }
    };
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for g in wanted {
        match cached(&g) {
            Some(c) => found.push((g, c)),
            None => missing.push(g),
        }
    }
    // Local .gem files named on the command line.
    for p in &plan.local {
        let bytes = std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        let code = inspect(&bytes).map_err(|e| format!("{}: {e}", p.display()))?;
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(mut g) = parse_full_name(&stem) {
            g.local = true;
            missing.retain(|m| m.name != g.name || m.version != g.version);
            found.retain(|(m, _)| m.name != g.name || m.version != g.version);
            found.push((g, code));
        }
    }
    if !missing.is_empty() {
        let dir = tempfile::Builder::new()
            .prefix("pkgward-gem-fetch-")
            .tempdir()
            .map_err(|e| format!("cannot create a directory for the gems: {e}"))?;
        let gem = gem_program(launch, plan.tool);
        // One fetch per remote (bundle) or one for all (gem).
        let mut by_remote: std::collections::BTreeMap<String, Vec<&Gem>> = Default::default();
        for g in &missing {
            by_remote.entry(g.remote.clone()).or_default().push(g);
        }
        for (remote, gems) in by_remote {
            let mut a: Vec<OsString> = vec!["fetch".into()];
            a.extend(
                gems.iter()
                    .map(|g| OsString::from(format!("{}:{}", g.name, g.version))),
            );
            if !remote.is_empty() {
                a.push("--clear-sources".into());
                a.push("--source".into());
                a.push(remote.clone().into());
            }
            a.extend(sources.iter().cloned());
            capture(&gem, &a, &launch.env, Some(dir.path()))?;
        }
        for g in missing {
            let path = dir.path().join(format!("{}.gem", g.full()));
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("`gem fetch` left no {}.gem: {e}", g.full()))?;
            let code = inspect(&bytes).map_err(|e| format!("{}: {e}", g.full()))?;
            store(&g, &code);
            found.push((g, code));
        }
    }
    Ok((found, project))
}

fn record_for(
    invocation_id: &str,
    g: &Gem,
    script: &str,
    command: &str,
    decision: ScriptDecision,
    approved_by: Option<String>,
) -> ScriptRecord {
    ScriptRecord {
        kind: "script",
        invocation_id: invocation_id.to_string(),
        time: record::now_rfc3339(),
        ecosystem: Ecosystem::Rubygems,
        package: g.name.clone(),
        version: g.version.clone(),
        path: if g.remote.is_empty() {
            g.full()
        } else {
            record::redact::redact_urls(&g.remote).into_owned()
        },
        script: script.to_string(),
        command: command.to_string(),
        decision,
        approved_by,
        ran: false,
        runner: None,
        exit_code: None,
        signal: None,
        duration_ms: None,
        error: None,
        sandbox: None,
    }
}

fn records(
    invocation_id: &str,
    g: &Gem,
    c: &GemCode,
    d: ScriptDecision,
    by: &Option<String>,
) -> Vec<ScriptRecord> {
    let mut out = Vec::new();
    for e in &c.extensions {
        out.push(record_for(invocation_id, g, "extension", e, d, by.clone()));
    }
    for p in &c.plugins {
        out.push(record_for(
            invocation_id,
            g,
            "rubygems-plugin",
            p,
            d,
            by.clone(),
        ));
    }
    out
}

/// Before the tool runs: find, decide and record; `Err(Denied)` when an
/// unapproved gem would build an extension or install a plugin.
pub fn before(
    plan: &Plan,
    launch: &crate::supervise::Launch,
    policy: &Policy,
    invocation_id: &str,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Result<()> {
    let mode = policy.mode.value;
    let (found, _project) = match find(plan, launch) {
        Ok(f) => f,
        Err(e) if mode == Mode::Enforce => {
            return Err(Error::Denied {
                message: format!(
                    "denied: cannot tell which gems would build native extensions, so the install \
                     does not run: {e}"
                ),
            })
        }
        Err(e) => {
            notice(format!("warning: {e}; the tool runs anyway (audit mode)"));
            return Ok(());
        }
    };
    let mut denied = Vec::new();
    let mut approved = Vec::new();
    for (g, c) in found.into_iter().filter(|(_, c)| !c.is_empty()) {
        let (d, by) = super::decide(
            policy,
            mode,
            Ecosystem::Rubygems,
            &g.name,
            &g.version,
            g.local,
        );
        if d.runs() {
            approved.push((g, c, d, by));
        } else {
            denied.push((g, c, d, by));
        }
    }
    if !denied.is_empty() {
        for (g, c, d, by) in denied.iter().chain(approved.iter()) {
            for mut r in records(invocation_id, g, c, *d, by) {
                if d.runs() {
                    r.error = Some("not run: the install was denied".into());
                }
                super::append(log, &r, notice);
            }
        }
        let mut m = format!(
            "denied: the install would run install-time code of {} gem{} not approved by `[scripts]` \
             in the policy (nothing was installed):",
            denied.len(),
            if denied.len() == 1 { "" } else { "s" }
        );
        for (g, c, _, _) in &denied {
            let mut what: Vec<String> = c
                .extensions
                .iter()
                .map(|e| format!("native extension {e}"))
                .collect();
            what.extend(c.plugins.iter().map(|p| format!("rubygems plugin {p}")));
            m.push_str(&format!(
                "\n  rubygems:{}@{} ({})\n    approve: {}",
                g.name,
                g.version,
                what.join(", "),
                super::approve_hint(policy, Ecosystem::Rubygems, &g.name, &g.version, g.local)
            ));
        }
        return Err(Error::Denied { message: m });
    }
    if let Ok(mut a) = plan.approved.lock() {
        *a = approved;
    }
    Ok(())
}

/// After the tool ran: the approved gems' code ran inside it; recorded with
/// its exit code.
pub fn after(
    plan: &Plan,
    cx: &super::Context<'_>,
    code: i32,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) {
    let approved = plan.approved.lock().map(|a| a.clone()).unwrap_or_default();
    let runner = match plan.tool {
        Tool::Gem => "gem",
        Tool::Bundle => "bundle",
    };
    let all = approved
        .iter()
        .flat_map(|(g, c, d, by)| records(cx.invocation_id, g, c, *d, by));
    super::record_ran(all, code, runner, log, notice);
}

#[cfg(test)]
#[path = "gem_tests.rs"]
mod tests;
