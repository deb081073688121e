//! gradle: plugins, build-script classpaths, build logic and init scripts
//! are code Gradle downloads or loads and runs inside the build. pkgward
//! reads what the build declares from its files **before** Gradle runs,
//! without running Gradle ([`find`]), and decides each as Maven does
//! (`maven:` in `[scripts] allow`):
//!
//! * `plugins { id("x") version "v" }` (Groovy and Kotlin DSL, in build
//!   and settings scripts, `pluginManagement { plugins { } }`, `apply
//!   false` too), `kotlin("jvm")` (`org.jetbrains.kotlin.jvm`),
//!   `alias(libs.plugins.x)` (from `gradle/libs.versions.toml`), `apply
//!   plugin: 'x'`, `apply(plugin = "x")`, `pluginManager.apply("x")`:
//!   decided as `maven:PLUGIN.ID[@VERSION]` (a version-less use takes the
//!   version the build declares for that id elsewhere, else by name only);
//! * `buildscript { dependencies { classpath "g:a:v" } }`, the same in
//!   `initscript { }`, `pluginManagement { resolutionStrategy { …
//!   useModule("g:a:v") } }`, and the dependencies of build logic
//!   (`buildSrc`, builds included in `pluginManagement`, and any build
//!   applying `java-gradle-plugin`, `kotlin-dsl` or
//!   `groovy-gradle-plugin`): `maven:GROUP:ARTIFACT[@VER]`;
//! * `apply from: "https://…"` (a script fetched and run): `maven:URL`;
//!   a local `apply from:` file is read like the other scripts;
//! * init scripts (`-I`/`--init-script`, `init.gradle(.kts)` and `init.d/`
//!   of the Gradle user home and of the distribution) are recorded as the
//!   machine's own code (decision `project`) and read for their
//!   `initscript` classpath.
//!
//! Which scripts: every `settings.gradle(.kts)` and `build.gradle(.kts)`
//! below the root build (the directory of the settings file, searched
//! upward from `-p`/the working directory), skipping `build/`, hidden and
//! `node_modules` directories (unless the settings `include` them), whether
//! or not the settings include them, plus `-b`, `--include-build`
//! and `includeBuild("…")` builds outside it. The Gradle user home is `-g`,
//! `-Dgradle.user.home`, `GRADLE_USER_HOME` or `~/.gradle`.
//! Gradle's own plugins (an id without a dot, `org.gradle.NAME`, a backtick
//! id) are part of the tool.
//!
//! Groovy and Kotlin build scripts are programs: this is a static reading
//! ([`scan`], comments and strings understood, blocks tracked) of the
//! forms above. It cannot see what only running the script computes: a
//! plugin id or coordinate held in a variable or built in a loop, a
//! `buildFileName` or `projectDir` set in settings, a catalog other than
//! `gradle/libs.versions.toml`, convention plugins' own `plugins { }`
//! (their code is decided as the build logic's dependencies), code a
//! decided plugin loads itself. Where a declaration is seen but its value
//! is not a literal (`id(someVar)`, an unknown catalog alias, `classpath`
//! of a computed coordinate, `apply from:` a computed path), enforce mode
//! with `scripts.default = "deny"` denies the build: pkgward cannot tell
//! what would run. An unapproved declaration denies the build before
//! Gradle starts (exit 77, with the approve commands); approved ones are
//! recorded after Gradle ran, with its exit code.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::policy::{Mode, Policy, ScriptsDefault};
use crate::record::{self, AuditLog};
use crate::tools::Ecosystem;

use super::{ScriptDecision, ScriptRecord};

/// Scripts read at most.
pub const MAX_SCRIPTS: usize = 2000;
/// Directories walked at most below one build root.
const MAX_DIRS: usize = 20_000;

#[derive(Clone, Debug)]
pub struct Plan {
    pub project_dir: PathBuf,
    pub build_file: Option<PathBuf>,
    pub settings_file: Option<PathBuf>,
    pub init_scripts: Vec<PathBuf>,
    pub include_builds: Vec<PathBuf>,
    pub user_home: Option<PathBuf>,
    approved: Arc<Mutex<Approved>>,
}

type Approved = Vec<(Found, ScriptDecision, Option<String>)>;

/// One declaration of code the build runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// `plugin`, `classpath`, `build-logic`, `script-plugin`, `init-script`.
    pub kind: &'static str,
    /// A plugin id, `GROUP:ARTIFACT`, a URL, or an init script's path.
    pub name: String,
    pub version: String,
    pub file: PathBuf,
    pub line: usize,
}

/// A declaration whose value is not a literal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unknown {
    pub what: String,
    pub file: PathBuf,
    pub line: usize,
}

/// The plan for a gradle command line (every one that configures a build:
/// not `--version`, `--help`, `--stop`, `--status`).
pub fn plan(args: &[String], cwd: &Path) -> Option<Plan> {
    let mut p = Plan {
        project_dir: cwd.to_path_buf(),
        build_file: None,
        settings_file: None,
        init_scripts: Vec::new(),
        include_builds: Vec::new(),
        user_home: None,
        approved: Arc::default(),
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            break;
        }
        if matches!(
            a,
            "-v" | "--version" | "-h" | "--help" | "-?" | "--stop" | "--status"
        ) {
            return None;
        }
        if !a.starts_with('-') {
            continue;
        }
        // `-Dgradle.user.home=DIR` moves the user home (and its init scripts).
        let prop = if let Some(d) = a.strip_prefix("-D").filter(|d| !d.is_empty()) {
            Some(d.to_string())
        } else if a == "-D" || a == "--system-prop" {
            i += 1;
            args.get(i - 1).cloned()
        } else {
            a.strip_prefix("--system-prop=").map(str::to_string)
        };
        if let Some(prop) = prop {
            if let Some(h) = prop.strip_prefix("gradle.user.home=") {
                p.user_home = Some(cwd.join(h));
            }
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a, None),
        };
        // `-Ifile`, `-pdir`: short options with the value attached.
        let (name, inline) = match (name, inline, name.get(..2), name.get(2..)) {
            (n, None, Some(short), Some(rest))
                if !rest.is_empty()
                    && !n.starts_with("--")
                    && ["-I", "-p", "-g", "-b", "-c"].contains(&short) =>
            {
                (short, Some(rest.to_string()))
            }
            (n, inline, _, _) => (n, inline),
        };
        let value = match inline {
            Some(v) => Some(v),
            None if crate::classify::maven::GRADLE_VALUE_OPTS.contains(&name) => {
                i += 1;
                args.get(i - 1).cloned()
            }
            None => None,
        };
        let Some(v) = value else {
            continue;
        };
        let path = cwd.join(&v);
        match name {
            "-I" | "--init-script" => p.init_scripts.push(path),
            "-p" | "--project-dir" => p.project_dir = path,
            "-b" | "--build-file" => p.build_file = Some(path),
            "-c" | "--settings-file" => p.settings_file = Some(path),
            "--include-build" => p.include_builds.push(path),
            "-g" | "--gradle-user-home" => p.user_home = Some(path),
            _ => {}
        }
    }
    Some(p)
}

// ---- the scanner -------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    /// A string literal; `true` when it interpolates (`"$x"`, `"${x}"`).
    Str(String, bool),
    /// A Kotlin backtick name (`` `java-library` ``).
    Tick(String),
    Punct(char),
}

fn tokens(text: &str) -> Vec<(Tok, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < chars.len() && out.len() < 1_000_000 {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                if chars[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
            i += 2;
            continue;
        }
        if c == '"' || c == '\'' {
            let triple = chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c);
            let start = line;
            let mut s = String::new();
            let mut interp = false;
            i += if triple { 3 } else { 1 };
            while i < chars.len() {
                let d = chars[i];
                if d == '\\' {
                    if let Some(n) = chars.get(i + 1) {
                        s.push(*n);
                    }
                    i += 2;
                    continue;
                }
                if d == c
                    && (!triple || (chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c)))
                {
                    i += if triple { 3 } else { 1 };
                    break;
                }
                if d == '\n' {
                    line += 1;
                    if !triple {
                        i += 1;
                        break;
                    }
                }
                if d == '$' && c == '"' {
                    interp = true;
                }
                s.push(d);
                i += 1;
            }
            out.push((Tok::Str(s, interp), start));
            continue;
        }
        if c == '`' {
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '`' && chars[i] != '\n' {
                s.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push((Tok::Tick(s), line));
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push((Tok::Ident(chars[start..i].iter().collect()), line));
            continue;
        }
        out.push((Tok::Punct(c), line));
        i += 1;
    }
    out
}

/// A value at a token position: a literal, a dotted reference
/// (`libs.plugins.x`), or a call (`kotlin("jvm")`, `files(…)`).
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Lit(String),
    /// An interpolated string.
    Interp(String),
    Ref(String),
    Call(String, Option<String>),
    None,
}

/// What one script declares.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scan {
    /// (kind, name, version, line); the name is a plugin id, `g:a` or a URL.
    pub decls: Vec<(&'static str, String, String, usize)>,
    /// `alias(libs.plugins.x)` and `classpath(libs.x)`-style references:
    /// (kind, accessor, line), resolved against the version catalog.
    pub refs: Vec<(&'static str, String, usize)>,
    /// Local scripts applied with `apply from:` (as written).
    pub apply_from: Vec<(String, usize)>,
    /// `includeBuild("…")` directories (as written); `true` when included
    /// in `pluginManagement` (a build of plugins: build logic).
    pub include_builds: Vec<(String, bool)>,
    /// `include(":a", ":b:c")` project paths, as directories (`a`, `b/c`).
    pub includes: Vec<String>,
    /// The script makes build logic (`java-gradle-plugin`, `kotlin-dsl`,
    /// `groovy-gradle-plugin`): its dependencies are the build's code.
    pub build_logic: bool,
    /// Declarations whose value is not a literal: (kind, what, line).
    pub unknown: Vec<(&'static str, String, usize)>,
}

/// A Gradle core plugin (part of the tool): no dot, or `org.gradle.NAME`.
pub fn core_plugin(id: &str) -> bool {
    !id.contains('.')
        || id
            .strip_prefix("org.gradle.")
            .is_some_and(|r| !r.contains('.'))
}

const LOGIC_PLUGINS: &[&str] = &["java-gradle-plugin", "kotlin-dsl", "groovy-gradle-plugin"];

/// Configurations whose dependencies are on a build-logic build's runtime
/// classpath.
const LOGIC_CONFS: &[&str] = &["implementation", "api", "runtimeOnly", "compile", "runtime"];

struct Parser {
    toks: Vec<(Tok, usize)>,
}

impl Parser {
    fn tok(&self, i: usize) -> Option<&Tok> {
        self.toks.get(i).map(|(t, _)| t)
    }

    fn line(&self, i: usize) -> usize {
        self.toks
            .get(i)
            .or(self.toks.last())
            .map(|(_, l)| *l)
            .unwrap_or(1)
    }

    fn is_punct(&self, i: usize, c: char) -> bool {
        self.tok(i) == Some(&Tok::Punct(c))
    }

    fn is_ident(&self, i: usize, s: &str) -> bool {
        matches!(self.tok(i), Some(Tok::Ident(x)) if x == s)
    }

    /// A dotted name starting at `i` and the index after it.
    fn dotted(&self, mut i: usize) -> Option<(String, usize)> {
        let Some(Tok::Ident(first)) = self.tok(i) else {
            return None;
        };
        let mut s = first.clone();
        i += 1;
        while self.is_punct(i, '.') {
            match self.tok(i + 1) {
                Some(Tok::Ident(n)) => {
                    s.push('.');
                    s.push_str(n);
                    i += 2;
                }
                _ => break,
            }
        }
        Some((s, i))
    }

    /// The value at `i` (one optional `(` skipped); the index after it.
    fn value(&self, mut i: usize) -> (Val, usize) {
        let paren = self.is_punct(i, '(');
        if paren {
            i += 1;
        }
        let (v, mut j) = match self.tok(i) {
            Some(Tok::Str(s, false)) => (Val::Lit(s.clone()), i + 1),
            Some(Tok::Str(s, true)) => (Val::Interp(s.clone()), i + 1),
            Some(Tok::Ident(_)) => {
                let (name, j) = self.dotted(i).unwrap_or_default();
                if name.starts_with("libs.") && name.ends_with(".get") && self.is_punct(j, '(') {
                    let r = name.trim_end_matches(".get").to_string();
                    (Val::Ref(r), self.close(j))
                } else if self.is_punct(j, '(') {
                    let arg = match self.tok(j + 1) {
                        Some(Tok::Str(s, false)) => Some(s.clone()),
                        _ => None,
                    };
                    (Val::Call(name, arg), self.close(j))
                } else {
                    (Val::Ref(name), j)
                }
            }
            _ => (Val::None, i),
        };
        // `.get()` after a catalog reference.
        if let Val::Ref(_) = v {
            while self.is_punct(j, '(') {
                j = self.close(j);
            }
        }
        if paren && self.is_punct(j, ')') {
            j += 1;
        }
        (v, j)
    }

    /// The index after the `)` matching the `(` at `i`.
    fn close(&self, i: usize) -> usize {
        let mut depth = 0usize;
        let mut j = i;
        while let Some(t) = self.tok(j) {
            match t {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return j + 1;
                    }
                }
                Tok::Punct('{') | Tok::Punct('}') if depth <= 1 => return j,
                _ => {}
            }
            j += 1;
        }
        j
    }

    /// `version "v"` / `.version("v")` at `i`: the version and the index
    /// after it (`None`: not there; `Some("")`: not a literal).
    fn version_after(&self, i: usize) -> (Option<String>, usize) {
        let k = if self.is_punct(i, '.') { i + 1 } else { i };
        if !self.is_ident(k, "version") {
            return (None, i);
        }
        let (v, j) = self.value(k + 1);
        let v = match v {
            Val::Lit(s) => s,
            Val::Ref(r) => format!("\u{0}{r}"),
            _ => String::new(),
        };
        (Some(v), j)
    }

    /// `group: 'g', name: 'a', version: 'v'` (Groovy map) or
    /// `group = "g", name = "a", version = "v"` (Kotlin named arguments).
    fn named_coords(&self, i: usize) -> Option<(String, String, usize)> {
        let mut j = if self.is_punct(i, '(') { i + 1 } else { i };
        let (mut g, mut a, mut v) = (None, None, None);
        for _ in 0..4 {
            let Some(Tok::Ident(key)) = self.tok(j) else {
                break;
            };
            if !(self.is_punct(j + 1, ':') || self.is_punct(j + 1, '=')) {
                break;
            }
            let val = match self.tok(j + 2) {
                Some(Tok::Str(s, false)) => s.clone(),
                _ => "\u{0}".into(),
            };
            match key.as_str() {
                "group" => g = Some(val),
                "name" => a = Some(val),
                "version" => v = Some(val),
                _ => {}
            }
            j += 3;
            if self.is_punct(j, ',') {
                j += 1;
            }
        }
        let (g, a) = (g?, a?);
        if self.is_punct(j, ')') {
            j += 1;
        }
        Some((format!("{g}:{a}"), v.unwrap_or_default(), j))
    }
}

/// `g:a[:v[:classifier]][@ext]` → (`g:a`, `v`).
pub fn coords(s: &str) -> Option<(String, String)> {
    let s = s.split('@').next().unwrap_or(s);
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() < 2 || parts[0].is_empty() || parts[1].is_empty() {
        return None;
    }
    let v = parts.get(2).copied().unwrap_or("");
    Some((format!("{}:{}", parts[0], parts[1]), v.to_string()))
}

/// Reads one Groovy or Kotlin build, settings or init script.
pub fn scan(text: &str) -> Scan {
    let p = Parser { toks: tokens(text) };
    let mut out = Scan::default();
    // Names of the open blocks.
    let mut blocks: Vec<String> = Vec::new();
    // The name before each open `(`, and the last closed one.
    let mut parens: Vec<String> = Vec::new();
    let mut last_closed = String::new();
    let mut i = 0;
    let n = p.toks.len();
    while i < n {
        let line = p.line(i);
        let top = blocks.last().map(String::as_str).unwrap_or("");
        let in_block = |name: &str| blocks.iter().any(|b| b == name);
        match p.tok(i).cloned() {
            Some(Tok::Punct('{')) => {
                let name = match i.checked_sub(1).and_then(|k| p.tok(k)) {
                    Some(Tok::Ident(x)) => x.clone(),
                    Some(Tok::Punct(')')) => last_closed.clone(),
                    _ => String::new(),
                };
                blocks.push(name);
                if blocks.len() > 256 {
                    blocks.remove(0);
                }
                i += 1;
                continue;
            }
            Some(Tok::Punct('}')) => {
                blocks.pop();
                i += 1;
                continue;
            }
            Some(Tok::Punct('(')) => {
                let name = match i.checked_sub(1).and_then(|k| p.tok(k)) {
                    Some(Tok::Ident(x)) => x.clone(),
                    _ => String::new(),
                };
                parens.push(name);
                i += 1;
                continue;
            }
            Some(Tok::Punct(')')) => {
                last_closed = parens.pop().unwrap_or_default();
                i += 1;
                continue;
            }
            Some(Tok::Ident(id)) => {
                let after_dot = i > 0 && p.is_punct(i - 1, '.');
                // plugins { … }
                if top == "plugins" && !after_dot {
                    let (decl, j) = match id.as_str() {
                        "id" => {
                            let (v, j) = p.value(i + 1);
                            (Some(v), j)
                        }
                        "kotlin" if p.is_punct(i + 1, '(') => {
                            let (v, j) = p.value(i + 1);
                            let v = match v {
                                Val::Lit(s) => Val::Lit(format!("org.jetbrains.kotlin.{s}")),
                                other => other,
                            };
                            (Some(v), j)
                        }
                        "alias" => {
                            let (v, j) = p.value(i + 1);
                            match v {
                                Val::Ref(r) if r.starts_with("libs.") => {
                                    out.refs.push(("plugin", r, line));
                                    i = j;
                                    continue;
                                }
                                _ => (Some(Val::None), j),
                            }
                        }
                        _ => (None, i + 1),
                    };
                    if let Some(v) = decl {
                        let (ver, j) = p.version_after(j);
                        let ver = ver.unwrap_or_default();
                        match v {
                            Val::Lit(s) => {
                                if LOGIC_PLUGINS.contains(&s.as_str()) {
                                    out.build_logic = true;
                                }
                                if !core_plugin(&s) {
                                    out.decls.push(("plugin", s, ver, line));
                                }
                            }
                            _ => out.unknown.push((
                                "plugin",
                                format!("a plugin `{id}(…)` whose id is not a literal"),
                                line,
                            )),
                        }
                        i = j;
                        continue;
                    }
                }
                // classpath in buildscript/initscript dependencies.
                if id == "classpath"
                    && top == "dependencies"
                    && (in_block("buildscript") || in_block("initscript"))
                    && !after_dot
                {
                    i = dependency(&p, i, "classpath", line, &mut out);
                    continue;
                }
                // useModule("g:a:v") in pluginManagement's resolutionStrategy.
                if id == "useModule" && in_block("pluginManagement") {
                    let (v, j) = p.value(i + 1);
                    push_coords(&mut out, "classpath", v, line, "useModule(…)");
                    i = j;
                    continue;
                }
                // Build-logic dependencies (decided if the script turns out
                // to make build logic).
                if LOGIC_CONFS.contains(&id.as_str())
                    && top == "dependencies"
                    && !in_block("buildscript")
                    && !in_block("initscript")
                    && !after_dot
                {
                    i = dependency(&p, i, "build-logic", line, &mut out);
                    continue;
                }
                // apply plugin: 'x' / apply(plugin = "x") / apply from: …
                let on_manager = after_dot && {
                    let k = i.saturating_sub(2);
                    p.is_ident(k, "pluginManager")
                        || p.is_ident(k, "plugins")
                        || p.is_ident(k, "project")
                };
                if id == "apply" && (!after_dot || on_manager) {
                    let j = if p.is_punct(i + 1, '(') { i + 2 } else { i + 1 };
                    if let Some(Tok::Ident(key)) = p.tok(j) {
                        if (key == "plugin" || key == "from")
                            && (p.is_punct(j + 1, ':') || p.is_punct(j + 1, '='))
                        {
                            let (v, k) = p.value(j + 2);
                            apply(&mut out, key, v, line);
                            i = k;
                            continue;
                        }
                    }
                    if let Some(Tok::Str(..)) = p.tok(j) {
                        // pluginManager.apply("x")
                        let (v, k) = p.value(i + 1);
                        apply(&mut out, "plugin", v, line);
                        i = k;
                        continue;
                    }
                }
                // apply { plugin("x"); from("x") }
                if top == "apply" && (id == "plugin" || id == "from") && p.is_punct(i + 1, '(') {
                    let (v, k) = p.value(i + 1);
                    apply(&mut out, &id, v, line);
                    i = k;
                    continue;
                }
                // include ':a', ':b:c' / include(":a", ":b")
                if id == "include" && !after_dot {
                    let mut j = if p.is_punct(i + 1, '(') { i + 2 } else { i + 1 };
                    while let Some(Tok::Str(s, interp)) = p.tok(j) {
                        let dir = s.trim_start_matches(':').replace(':', "/");
                        if *interp {
                            // Computed: the tree walk still finds it.
                        } else if !dir.is_empty() {
                            out.includes.push(dir);
                        }
                        j += 1;
                        if p.is_punct(j, ',') {
                            j += 1;
                        }
                        if out.includes.len() > 4096 {
                            break;
                        }
                    }
                    i = j.max(i + 1);
                    continue;
                }
                // add("classpath", "g:a:v") in buildscript dependencies.
                if id == "add"
                    && top == "dependencies"
                    && (in_block("buildscript") || in_block("initscript"))
                    && p.is_punct(i + 1, '(')
                    && matches!(p.tok(i + 2), Some(Tok::Str(c, false)) if c == "classpath")
                    && p.is_punct(i + 3, ',')
                {
                    let (v, j) = p.value(i + 4);
                    push_coords(&mut out, "classpath", v, line, "`add(\"classpath\", …)`");
                    i = j;
                    continue;
                }
                if id == "includeBuild" && !after_dot {
                    let (v, k) = p.value(i + 1);
                    match v {
                        Val::Lit(s) => out.include_builds.push((s, in_block("pluginManagement"))),
                        _ => out.unknown.push((
                            "build",
                            "an `includeBuild` of a computed path".into(),
                            line,
                        )),
                    }
                    i = k;
                    continue;
                }
                i += 1;
                continue;
            }
            Some(Tok::Tick(t)) if top == "plugins" => {
                if LOGIC_PLUGINS.contains(&t.as_str()) {
                    out.build_logic = true;
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn push_coords(out: &mut Scan, kind: &'static str, v: Val, line: usize, what: &str) {
    match v {
        Val::Lit(s) => match coords(&s) {
            Some((n, ver)) => out.decls.push((kind, n, ver, line)),
            None => out.unknown.push((kind, format!("{what} of `{s}`"), line)),
        },
        Val::Interp(s) => match coords(&s) {
            // A version from a variable: decided by name.
            Some((n, ver)) if !n.contains('$') => {
                let ver = if ver.contains('$') {
                    String::new()
                } else {
                    ver
                };
                out.decls.push((kind, n, ver, line))
            }
            _ => out
                .unknown
                .push((kind, format!("{what} of a computed `{s}`"), line)),
        },
        Val::Ref(r) if r.starts_with("libs.") => out.refs.push((kind, r, line)),
        _ => out
            .unknown
            .push((kind, format!("{what} of a computed coordinate"), line)),
    }
}

/// One dependency declaration at `i` (`classpath …`, `implementation …`).
fn dependency(p: &Parser, i: usize, kind: &'static str, line: usize, out: &mut Scan) -> usize {
    let what = match p.tok(i) {
        Some(Tok::Ident(s)) => s.clone(),
        _ => String::new(),
    };
    if let Some((n, v, j)) = p.named_coords(i + 1) {
        if n.contains('\u{0}') {
            out.unknown
                .push((kind, format!("`{what}` of a computed coordinate"), line));
        } else {
            let v = if v.contains('\u{0}') {
                String::new()
            } else {
                v
            };
            out.decls.push((kind, n, v, line));
        }
        return j;
    }
    let (v, j) = p.value(i + 1);
    match v {
        // Local jars, other projects, Gradle's API: the project's or the tool's.
        Val::Call(ref f, _)
            if matches!(
                f.as_str(),
                "files"
                    | "fileTree"
                    | "project"
                    | "gradleApi"
                    | "localGroovy"
                    | "gradleTestKit"
                    | "platform"
                    | "enforcedPlatform"
                    | "testFixtures"
            ) => {}
        // kotlin("gradle-plugin", "1.9.0"): decided by name.
        Val::Call(ref f, Some(ref a)) if f == "kotlin" => out.decls.push((
            kind,
            format!("org.jetbrains.kotlin:kotlin-{a}"),
            String::new(),
            line,
        )),
        Val::None if !p.is_punct(i + 1, '(') && kind == "build-logic" => {}
        other => push_coords(out, kind, other, line, &format!("`{what}`")),
    }
    j.max(i + 1)
}

fn apply(out: &mut Scan, key: &str, v: Val, line: usize) {
    match (key, v) {
        ("plugin", Val::Lit(s)) => {
            if LOGIC_PLUGINS.contains(&s.as_str()) {
                out.build_logic = true;
            }
            if !core_plugin(&s) {
                out.decls.push(("plugin", s, String::new(), line));
            }
        }
        // `apply plugin: SomeClass` / `apply<SomeClass>()`: a class already
        // on the classpath (decided where it comes from). A lower-case name
        // is a variable holding an id.
        ("plugin", Val::Ref(r))
            if r.rsplit('.')
                .next()
                .is_some_and(|c| c.starts_with(|x: char| x.is_ascii_uppercase())) => {}
        ("plugin", _) => {
            out.unknown
                .push(("plugin", "`apply plugin:` of a computed id".into(), line))
        }
        ("from", Val::Lit(s)) if s.contains("://") && !s.starts_with("file:") => {
            out.decls.push(("script-plugin", s, String::new(), line))
        }
        ("from", Val::Lit(s)) => out
            .apply_from
            .push((s.trim_start_matches("file:").to_string(), line)),
        ("from", Val::Interp(s)) => out.apply_from.push((s, line)),
        ("from", Val::Call(f, Some(a)))
            if (f == "uri" || f.ends_with("file"))
                && a.contains("://")
                && !a.starts_with("file:") =>
        {
            out.decls.push(("script-plugin", a, String::new(), line))
        }
        ("from", Val::Call(f, Some(a))) if f.ends_with("file") || f == "uri" => {
            let base = if f.starts_with("rootProject") {
                "$rootDir/"
            } else {
                ""
            };
            out.apply_from.push((format!("{base}{a}"), line))
        }
        (_, _) => out.unknown.push((
            "script-plugin",
            "`apply from:` of a computed location".into(),
            line,
        )),
    }
}

// ---- the version catalog ---------------------------------------------------------

/// `gradle/libs.versions.toml`, parsed.
#[derive(Debug, Default)]
pub struct Catalog {
    table: toml::Table,
}

fn norm(s: &str) -> String {
    s.replace(['-', '_'], ".").to_ascii_lowercase()
}

impl Catalog {
    pub fn parse(text: &str) -> std::result::Result<Catalog, String> {
        text.parse::<toml::Table>()
            .map(|table| Catalog { table })
            .map_err(|e| format!("not valid TOML: {e}"))
    }

    fn section(&self, name: &str, key: &str) -> Option<&toml::Value> {
        let want = norm(key);
        self.table
            .get(name)?
            .as_table()?
            .iter()
            .find(|(k, _)| norm(k) == want)
            .map(|(_, v)| v)
    }

    fn version(&self, v: Option<&toml::Value>, t: &toml::Table) -> String {
        let r = match v {
            Some(toml::Value::String(s)) => return s.clone(),
            Some(toml::Value::Table(vt)) => vt
                .get("ref")
                .and_then(|r| r.as_str())
                .map(str::to_string)
                .or_else(|| {
                    // A rich version: its strict or required one.
                    ["strictly", "require", "prefer"]
                        .iter()
                        .find_map(|k| vt.get(*k).and_then(|x| x.as_str()))
                        .map(|s| format!("\u{1}{s}"))
                }),
            _ => t
                .get("version.ref")
                .and_then(|r| r.as_str())
                .map(str::to_string),
        };
        match r {
            Some(s) if s.starts_with('\u{1}') => s[1..].to_string(),
            Some(k) => self
                .section("versions", &k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string(),
            None => String::new(),
        }
    }

    /// `libs.versions.x` → its version.
    pub fn version_ref(&self, accessor: &str) -> Option<String> {
        let key = accessor.strip_prefix("libs.versions.")?;
        let key = key.strip_suffix(".get").unwrap_or(key);
        self.section("versions", key)?.as_str().map(str::to_string)
    }

    /// `libs.plugins.x.y` → (id, version).
    pub fn plugin(&self, accessor: &str) -> Option<(String, String)> {
        let key = accessor.strip_prefix("libs.plugins.")?;
        match self.section("plugins", key)? {
            toml::Value::String(s) => {
                let (id, v) = s.split_once(':').unwrap_or((s, ""));
                Some((id.to_string(), v.to_string()))
            }
            toml::Value::Table(t) => Some((
                t.get("id")?.as_str()?.to_string(),
                self.version(t.get("version"), t),
            )),
            _ => None,
        }
    }

    /// `libs.x.y` → (`g:a`, version).
    pub fn library(&self, accessor: &str) -> Option<(String, String)> {
        let key = accessor.strip_prefix("libs.")?;
        if key.starts_with("plugins.")
            || key.starts_with("bundles.")
            || key.starts_with("versions.")
        {
            return None;
        }
        match self.section("libraries", key)? {
            toml::Value::String(s) => coords(s),
            toml::Value::Table(t) => {
                let name = match t.get("module").and_then(|m| m.as_str()) {
                    Some(m) => m.to_string(),
                    None => format!("{}:{}", t.get("group")?.as_str()?, t.get("name")?.as_str()?),
                };
                Some((name, self.version(t.get("version"), t)))
            }
            _ => None,
        }
    }
}

// ---- finding the scripts -----------------------------------------------------------

fn script_in(dir: &Path, stem: &str) -> Option<PathBuf> {
    ["gradle", "gradle.kts"]
        .iter()
        .map(|e| dir.join(format!("{stem}.{e}")))
        .find(|p| p.is_file())
}

/// The build and settings scripts below `root` (bounded walk).
fn walk(root: &Path, out: &mut Vec<PathBuf>) {
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    let mut seen = 0;
    while let Some((d, depth)) = stack.pop() {
        seen += 1;
        if seen > MAX_DIRS {
            break;
        }
        for stem in ["settings", "build"] {
            if let Some(p) = script_in(&d, stem) {
                out.push(p);
            }
        }
        if depth >= 12 {
            continue;
        }
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut subs: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                !n.starts_with('.') && !matches!(n.as_ref(), "build" | "node_modules" | "out")
            })
            .map(|e| e.path())
            .collect();
        subs.sort();
        stack.extend(subs.into_iter().rev().map(|p| (p, depth + 1)));
    }
}

fn expand(s: &str, script_dir: &Path, root: &Path) -> PathBuf {
    let mut s = s.to_string();
    for (k, v) in [
        ("${rootProject.projectDir}", root),
        ("${rootDir}", root),
        ("$rootDir", root),
        ("${projectDir}", script_dir),
        ("$projectDir", script_dir),
    ] {
        s = s.replace(k, &v.to_string_lossy());
    }
    script_dir.join(s)
}

/// What the whole build declares, its unknowns, and the scripts read.
pub struct Findings {
    pub found: Vec<Found>,
    pub unknown: Vec<Unknown>,
    pub scripts: Vec<PathBuf>,
}

/// Everything the build at `plan` declares; `Err` when a file that exists
/// cannot be read (fail closed). `user_home`: the Gradle user home;
/// `dist`: the Gradle distribution (its `init.d`).
pub fn find(
    plan: &Plan,
    user_home: Option<&Path>,
    dist: Option<&Path>,
) -> std::result::Result<Findings, String> {
    let mut found = Vec::new();
    let mut unknown = Vec::new();
    // Init scripts.
    let mut inits: Vec<PathBuf> = plan.init_scripts.clone();
    let mut init_dirs = Vec::new();
    if let Some(h) = user_home {
        inits.extend(script_in(h, "init"));
        init_dirs.push(h.join("init.d"));
    }
    if let Some(d) = dist {
        init_dirs.push(d.join("init.d"));
    }
    for d in init_dirs {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut v: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let n = p.to_string_lossy();
                (n.ends_with(".gradle") || n.ends_with(".gradle.kts")) && p.is_file()
            })
            .collect();
        v.sort();
        inits.extend(v);
    }
    // The root build.
    let root = match &plan.settings_file {
        Some(s) => s.parent().unwrap_or(&plan.project_dir).to_path_buf(),
        None => plan
            .project_dir
            .ancestors()
            .take(64)
            .find(|d| script_in(d, "settings").is_some())
            .unwrap_or(&plan.project_dir)
            .to_path_buf(),
    };
    let root = root.canonicalize().unwrap_or(root);
    let catalog = match std::fs::read_to_string(root.join("gradle").join("libs.versions.toml")) {
        Ok(t) => Some(Catalog::parse(&t).map_err(|e| format!("gradle/libs.versions.toml: {e}"))?),
        Err(_) => None,
    };
    let mut queue: Vec<(PathBuf, bool)> = inits.iter().map(|p| (p.clone(), true)).collect();
    let mut builds: Vec<PathBuf> = vec![root.clone()];
    builds.extend(plan.include_builds.iter().cloned());
    let mut walked: Vec<PathBuf> = Vec::new();
    // Each script's declarations, decided once every build-logic root is known.
    let mut scanned: Vec<(PathBuf, Scan)> = Vec::new();
    // Builds of plugins (`pluginManagement { includeBuild(…) }`): build logic.
    let mut logic_roots: Vec<PathBuf> = vec![root.join("buildSrc")];
    let mut scripts: Vec<PathBuf> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut extra: Vec<PathBuf> = plan
        .settings_file
        .iter()
        .chain(&plan.build_file)
        .cloned()
        .collect();
    loop {
        for b in std::mem::take(&mut builds) {
            let key = b.canonicalize().unwrap_or(b.clone());
            if walked.iter().any(|w| key.starts_with(w)) {
                continue;
            }
            let mut v = Vec::new();
            walk(&key, &mut v);
            walked.push(key);
            queue.extend(v.into_iter().map(|p| (p, false)));
        }
        queue.extend(extra.drain(..).map(|p| (p, false)));
        let Some((path, init)) = queue.pop() else {
            break;
        };
        let key = path.canonicalize().unwrap_or(path.clone());
        if !seen.insert(key) || !path.is_file() {
            continue;
        }
        if scripts.len() >= MAX_SCRIPTS {
            return Err(format!(
                "more than {MAX_SCRIPTS} Gradle scripts below {}",
                root.display()
            ));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        scripts.push(path.clone());
        let dir = path.parent().unwrap_or(&root).to_path_buf();
        let mut s = scan(&text);
        let later = Scan {
            decls: std::mem::take(&mut s.decls),
            refs: std::mem::take(&mut s.refs),
            unknown: std::mem::take(&mut s.unknown),
            build_logic: s.build_logic,
            ..Scan::default()
        };
        scanned.push((path.clone(), later));
        if init {
            found.push(Found {
                kind: "init-script",
                name: path.to_string_lossy().into_owned(),
                version: String::new(),
                file: path.clone(),
                line: 1,
            });
        }
        for (f, line) in s.apply_from {
            if f.contains('$') && !f.contains("rootDir") && !f.contains("projectDir") {
                unknown.push(Unknown {
                    what: format!("`apply from: \"{f}\"` (a computed location)"),
                    file: path.clone(),
                    line,
                });
                continue;
            }
            let p = expand(&f, &dir, &root);
            if p.to_string_lossy().contains('$') {
                unknown.push(Unknown {
                    what: format!("`apply from: \"{f}\"` (a computed location)"),
                    file: path.clone(),
                    line,
                });
                continue;
            }
            queue.push((p, init));
        }
        for (b, plugins) in s.include_builds {
            let d = dir.join(b);
            let d = d.canonicalize().unwrap_or(d);
            if plugins {
                logic_roots.push(d.clone());
            }
            builds.push(d);
        }
        // Projects the settings include, wherever they are (a directory the
        // walk skips, such as one named `build`, included on purpose).
        for inc in s.includes {
            if inc.split('/').any(|c| c == "..") {
                continue;
            }
            for stem in ["build", "settings"] {
                if let Some(p) = script_in(&dir.join(&inc), stem) {
                    queue.push((p, false));
                }
            }
        }
    }
    for (path, s) in scanned {
        let logic = s.build_logic || logic_roots.iter().any(|r| path.starts_with(r));
        let mut decls = s.decls.clone();
        for (kind, r, line) in &s.refs {
            let got = catalog.as_ref().and_then(|c| {
                if *kind == "plugin" {
                    c.plugin(r)
                } else {
                    c.library(r)
                }
            });
            match got {
                Some((n, v)) => decls.push((kind, n, v, *line)),
                None if *kind == "build-logic" && !logic => {}
                None => unknown.push(Unknown {
                    what: format!("`{r}` (not in gradle/libs.versions.toml)"),
                    file: path.clone(),
                    line: *line,
                }),
            }
        }
        for (kind, name, mut version, line) in decls {
            if let Some(r) = version.strip_prefix('\u{0}') {
                version = catalog
                    .as_ref()
                    .and_then(|c| c.version_ref(r))
                    .unwrap_or_default();
            }
            if kind == "build-logic" && !logic {
                continue;
            }
            if kind == "plugin" && core_plugin(&name) {
                continue;
            }
            found.push(Found {
                kind,
                name,
                version,
                file: path.clone(),
                line,
            });
        }
        for (kind, what, line) in s.unknown {
            // An ordinary build's own dependencies may be computed freely.
            if kind == "build-logic" && !logic {
                continue;
            }
            unknown.push(Unknown {
                what,
                file: path.clone(),
                line,
            });
        }
    }
    // Version-less plugin uses take the version declared elsewhere.
    let known: Vec<(String, String)> = found
        .iter()
        .filter(|f| f.kind == "plugin" && !f.version.is_empty())
        .map(|f| (f.name.clone(), f.version.clone()))
        .collect();
    for f in found
        .iter_mut()
        .filter(|f| f.kind == "plugin" && f.version.is_empty())
    {
        if let Some((_, v)) = known.iter().find(|(n, _)| *n == f.name) {
            f.version = v.clone();
        }
    }
    Ok(Findings {
        found,
        unknown,
        scripts,
    })
}

// ---- before and after Gradle ---------------------------------------------------------

fn rec(invocation_id: &str, f: &Found, d: ScriptDecision, by: &Option<String>) -> ScriptRecord {
    let shown = record::redact::redact_urls(&f.name).into_owned();
    ScriptRecord {
        kind: "script",
        invocation_id: invocation_id.to_string(),
        time: record::now_rfc3339(),
        ecosystem: Ecosystem::Maven,
        package: shown.clone(),
        version: f.version.clone(),
        path: format!("{}:{}", f.file.display(), f.line),
        script: f.kind.to_string(),
        command: if f.version.is_empty() {
            shown
        } else {
            format!("{shown}:{}", f.version)
        },
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

fn env_var(launch: &crate::supervise::Launch, key: &str) -> Option<String> {
    super::launch_var(&launch.env, key)
        .map(|v| v.to_string_lossy().into_owned())
        .filter(|v| !v.is_empty())
}

/// The Gradle user home: `-g`, `GRADLE_USER_HOME`, `~/.gradle`.
fn user_home(plan: &Plan, launch: &crate::supervise::Launch) -> Option<PathBuf> {
    plan.user_home
        .clone()
        .or_else(|| env_var(launch, "GRADLE_USER_HOME").map(PathBuf::from))
        .or_else(|| env_var(launch, "HOME").map(|h| Path::new(&h).join(".gradle")))
}

/// The distribution of the real `gradle` (`…/bin/gradle` → `…`).
fn dist(launch: &crate::supervise::Launch) -> Option<PathBuf> {
    let p = launch.program.canonicalize().ok()?;
    let bin = p.parent()?;
    (bin.file_name()? == "bin").then(|| bin.parent().map(Path::to_path_buf))?
}

/// Before Gradle runs: find, decide, record; `Err(Denied)` for an
/// unapproved plugin or classpath entry (or, under `scripts.default =
/// "deny"`, one pkgward cannot name) in enforce mode.
pub fn before(
    plan: &Plan,
    launch: &crate::supervise::Launch,
    policy: &Policy,
    invocation_id: &str,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Result<()> {
    let mode = policy.mode.value;
    let strict = mode == Mode::Enforce && policy.scripts_default.value == ScriptsDefault::Deny;
    let home = user_home(plan, launch);
    let findings = match find(plan, home.as_deref(), dist(launch).as_deref()) {
        Ok(f) => f,
        Err(e) if mode == Mode::Enforce => {
            return Err(Error::Denied {
                message: format!(
                "denied: cannot tell which Gradle plugins and build code the build would run: {e}"
            ),
            })
        }
        Err(e) => {
            notice(format!("warning: {e}; Gradle runs anyway (audit mode)"));
            return Ok(());
        }
    };
    let mut denied = Vec::new();
    let mut approved = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for f in findings.found {
        if !seen.insert((f.kind, f.name.clone(), f.version.clone(), f.file.clone())) {
            continue;
        }
        let (d, by) = if f.kind == "init-script" {
            (ScriptDecision::Project, None)
        } else {
            super::decide(policy, mode, Ecosystem::Maven, &f.name, &f.version, false)
        };
        if d.runs() {
            approved.push((f, d, by));
        } else {
            denied.push((f, d, by));
        }
    }
    let unknown = findings.unknown;
    if !unknown.is_empty() && !strict {
        for u in &unknown {
            notice(format!(
                "warning: {}:{}: {}: pkgward cannot tell what it runs",
                u.file.display(),
                u.line,
                u.what
            ));
        }
    }
    if denied.is_empty() && (unknown.is_empty() || !strict) {
        if let Ok(mut a) = plan.approved.lock() {
            *a = approved;
        }
        return Ok(());
    }
    for (f, d, by) in denied.iter().chain(approved.iter()) {
        let mut r = rec(invocation_id, f, *d, by);
        if d.runs() {
            r.error = Some("not run: the build was denied".into());
        }
        super::append(log, &r, notice);
    }
    let mut m = String::new();
    if !denied.is_empty() {
        m.push_str(&format!(
            "denied: the build would run {} Gradle plugin{}/build dependenc{} not approved by `[scripts]` in the \
             policy (Gradle did not run):",
            denied.len(),
            if denied.len() == 1 { "" } else { "s" },
            if denied.len() == 1 { "y" } else { "ies" },
        ));
        for (f, _, _) in &denied {
            let shown = record::redact::redact_urls(&f.name);
            m.push_str(&format!(
                "\n  maven:{}{} ({}, {}:{})\n    approve: {}",
                shown,
                if f.version.is_empty() {
                    String::new()
                } else {
                    format!("@{}", f.version)
                },
                f.kind,
                f.file.display(),
                f.line,
                super::approve_command(Ecosystem::Maven, &shown, &f.version, false)
            ));
        }
    }
    if !unknown.is_empty() {
        if !m.is_empty() {
            m.push('\n');
        }
        m.push_str(
            "denied: the build declares code pkgward cannot name from its files (Gradle did not run); \
             write it as a literal, or set `[scripts] default` in the policy:",
        );
        for u in &unknown {
            m.push_str(&format!("\n  {}:{}: {}", u.file.display(), u.line, u.what));
        }
    }
    Err(Error::Denied { message: m })
}

/// After Gradle ran: the approved declarations, with its exit code.
pub fn after(
    plan: &Plan,
    cx: &super::Context<'_>,
    code: i32,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) {
    let approved = plan.approved.lock().map(|a| a.clone()).unwrap_or_default();
    let records = approved
        .iter()
        .map(|(f, d, by)| rec(cx.invocation_id, f, *d, by));
    super::record_ran(records, code, "gradle", log, notice);
}

#[cfg(test)]
#[path = "gradle_tests.rs"]
mod tests;
