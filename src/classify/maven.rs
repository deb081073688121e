//! mvn, mvnw, gradle, gradlew.
//!
//! Maven: the effective repositories of a build are the project POM's
//! `<repositories>`/`<pluginRepositories>` (its modules and local parents
//! too, and active profiles), the active profiles of the user and global
//! `settings.xml`, and the super POM's `central` (`builtin`), each sent
//! through the first matching `<mirror>` of the settings (user mirrors
//! first; an exact `<mirrorOf>` id wins over patterns; `blocked` mirrors,
//! such as Maven's own `external:http:*` blocker, stop the repository).
//! Arguments come from `MAVEN_ARGS` (Maven 3.9, first), the command line,
//! then `.mvn/maven.config`; the first `-s`/`-gs` wins. `-o` means nothing is
//! fetched. `-D` switches (and `MAVEN_OPTS`/`.mvn/jvm.config`) that turn off
//! TLS checks are `Insecure`. `mvn deploy` adds `<distributionManagement>`
//! and `-DaltDeploymentRepository`; `mvnw` adds the wrapper's download URLs.
//!
//! Forcing: a generated `settings.xml` passed with `-s` (inserted first, so
//! it beats any other `-s`): the user's own settings file copied over (its
//! servers, proxies, profiles…) with its `<mirrors>` replaced by one
//! `<mirrorOf>*</mirrorOf>` mirror, plus one mirror per global-settings
//! mirror id (the settings merge lets the user file replace a global mirror
//! of the same id, so no global exact-id mirror can win over `*`).
//!
//! Gradle: build scripts are programs, so this is a best-effort scan of the
//! scripts Gradle reads (settings, root and included project builds,
//! `buildSrc`, init scripts from `-I`, `$GRADLE_USER_HOME` and the
//! distribution) for URL strings inside `repositories { }` blocks,
//! `mavenCentral()`-style defaults (`builtin`) and `allowInsecureProtocol`.
//! `gradlew` adds the wrapper's `distributionUrl`. Forcing: a generated init
//! script (`-I`) that points every Maven repository at the mirror.

use std::path::{Path, PathBuf};

use super::source::{Origin, Source, SourceKind};
use super::{Plan, Request, Verb};

/// A small, forgiving XML reader for configuration files (settings.xml,
/// pom.xml, NuGet.Config, chocolatey.config): elements, attributes, text,
/// line numbers. No DTDs or external entities are ever processed.
pub(crate) mod xml {
    /// One element. Names are local names (a `prefix:` is dropped).
    #[derive(Clone, Debug, Default)]
    pub struct Element {
        pub name: String,
        pub attrs: Vec<(String, String)>,
        pub children: Vec<Element>,
        /// The element's own text (its children's text excluded).
        pub text: String,
        /// The line its start tag is on (1-based).
        pub line: usize,
    }

    impl Element {
        pub fn child(&self, name: &str) -> Option<&Element> {
            self.children.iter().find(|c| c.name == name)
        }

        pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
            self.children.iter().filter(move |c| c.name == name)
        }

        /// `a/b/c` below this element (every match).
        pub fn path<'a>(&'a self, names: &[&str]) -> Vec<&'a Element> {
            let mut cur: Vec<&Element> = vec![self];
            for n in names {
                cur = cur
                    .into_iter()
                    .flat_map(|e| e.children.iter().filter(|c| c.name == *n))
                    .collect();
            }
            cur
        }

        /// Attribute value; attribute names are compared case-insensitively.
        pub fn attr(&self, name: &str) -> Option<&str> {
            self.attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        /// The trimmed text of the first child `name`.
        pub fn text_of(&self, name: &str) -> Option<&str> {
            self.child(name).map(|c| c.text.trim())
        }
    }

    const MAX_DEPTH: usize = 256;
    const MAX_ELEMENTS: usize = 200_000;

    pub fn decode(s: &str) -> String {
        let mut out = String::new();
        decode_into(s, &mut out);
        out
    }

    /// Appends `s` with its entities decoded.
    fn decode_into(s: &str, out: &mut String) {
        if !s.contains('&') {
            out.push_str(s);
            return;
        }
        let mut rest = s;
        while let Some(at) = rest.find('&') {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            let Some(end) = rest[..rest.len().min(12)].find(';') else {
                out.push('&');
                rest = &rest[1..];
                continue;
            };
            let ent = &rest[1..end];
            let ch = match ent {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => ent
                    .strip_prefix("#x")
                    .or_else(|| ent.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            match ch {
                Some(c) => {
                    out.push(c);
                    rest = &rest[end + 1..];
                }
                None => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        }
        out.push_str(rest);
    }

    fn local(name: &str) -> String {
        local_str(name).to_string()
    }

    /// The local part of a name: after the last `:` (a byte scan: names
    /// are short, and this runs for every tag).
    fn local_str(name: &str) -> &str {
        match name.bytes().rposition(|b| b == b':') {
            Some(at) => &name[at + 1..],
            None => name,
        }
    }

    fn parse_attrs(s: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
                i += 1;
            }
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
                i += 1;
            }
            if start == i {
                i += 1;
                continue;
            }
            let name = &s[start..i];
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i >= b.len() || b[i] != b'=' {
                out.push((local(name), String::new()));
                continue;
            }
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i >= b.len() {
                break;
            }
            let q = b[i];
            let value = if q == b'"' || q == b'\'' {
                let vs = i + 1;
                let ve = s[vs..].find(q as char).map(|e| vs + e).unwrap_or(s.len());
                i = (ve + 1).min(s.len());
                &s[vs..ve]
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                &s[vs..i]
            };
            out.push((local(name), decode(value)));
        }
        out
    }

    /// Parses `text` and returns its root element (tolerant of unclosed or
    /// mismatched tags; `None` when there is no element at all).
    pub fn parse(text: &str) -> Option<Element> {
        let mut stack: Vec<Element> = vec![Element::default()];
        let mut count = 0usize;
        let mut line = 1usize;
        let mut pos = 0usize;
        let close_top = |stack: &mut Vec<Element>| {
            if stack.len() > 1 {
                let e = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(e);
            }
        };
        while pos < text.len() {
            let Some(lt) = text[pos..].find('<').map(|o| pos + o) else {
                decode_into(&text[pos..], &mut stack.last_mut().unwrap().text);
                break;
            };
            if lt > pos {
                let t = &text[pos..lt];
                line += t.bytes().filter(|b| *b == b'\n').count();
                if !t.trim().is_empty() {
                    decode_into(t, &mut stack.last_mut().unwrap().text);
                }
            }
            let rest = &text[lt..];
            let (end, consumed) = if rest.starts_with("<!--") {
                let e = rest.find("-->").map(|e| e + 3).unwrap_or(rest.len());
                (e, &rest[..e])
            } else if rest.starts_with("<![CDATA[") {
                let e = rest.find("]]>").unwrap_or(rest.len());
                stack.last_mut().unwrap().text.push_str(&rest[9.min(e)..e]);
                let e = (e + 3).min(rest.len());
                (e, &rest[..e])
            } else if rest.starts_with("<?") {
                let e = rest.find("?>").map(|e| e + 2).unwrap_or(rest.len());
                (e, &rest[..e])
            } else if rest.starts_with("<!") {
                // DOCTYPE and friends: skipped (with any internal subset).
                let mut depth = 0i32;
                let mut e = rest.len();
                for (i, c) in rest.char_indices() {
                    match c {
                        '[' => depth += 1,
                        ']' => depth -= 1,
                        '>' if depth <= 0 => {
                            e = i + 1;
                            break;
                        }
                        _ => {}
                    }
                }
                (e, &rest[..e])
            } else {
                // A tag: find its end outside quotes.
                let mut quote: Option<u8> = None;
                let mut e = rest.len();
                for (i, c) in rest.bytes().enumerate().skip(1) {
                    match (quote, c) {
                        (Some(q), c) if c == q => quote = None,
                        (Some(_), _) => {}
                        (None, b'"' | b'\'') => quote = Some(c),
                        (None, b'>') => {
                            e = i + 1;
                            break;
                        }
                        _ => {}
                    }
                }
                let tag = &rest[..e];
                let inner = tag.trim_start_matches('<').trim_end_matches('>').trim_end();
                if let Some(name) = inner.strip_prefix('/') {
                    let name = local_str(name.trim());
                    // Close up to the matching open element, if there is one.
                    if let Some(at) = stack.iter().rposition(|el| el.name == name) {
                        if at > 0 {
                            while stack.len() > at {
                                close_top(&mut stack);
                            }
                        }
                    }
                } else {
                    let self_closing = inner.ends_with('/');
                    let inner = inner.trim_end_matches('/');
                    let name_end = inner
                        .find(|c: char| c.is_whitespace())
                        .unwrap_or(inner.len());
                    count += 1;
                    if count > MAX_ELEMENTS {
                        break;
                    }
                    let el = Element {
                        name: local(&inner[..name_end]),
                        attrs: parse_attrs(&inner[name_end..]),
                        line,
                        ..Element::default()
                    };
                    if self_closing || stack.len() > MAX_DEPTH {
                        stack.last_mut().unwrap().children.push(el);
                    } else {
                        stack.push(el);
                    }
                }
                (e, tag)
            };
            line += consumed.bytes().filter(|b| *b == b'\n').count();
            pos = lt + end.max(1);
        }
        while stack.len() > 1 {
            close_top(&mut stack);
        }
        stack.pop().and_then(|doc| doc.children.into_iter().next())
    }

    /// The byte ranges of the top-level children named `name` of the root
    /// element in `text` (outside comments), for rewriting a file while
    /// keeping everything else as written.
    pub fn top_level_spans(text: &str, name: &str) -> (Vec<(usize, usize)>, Option<usize>) {
        let mut spans = Vec::new();
        let mut depth = 0usize;
        let mut open_at: Option<usize> = None;
        let mut root_close: Option<usize> = None;
        let mut pos = 0usize;
        while let Some(lt) = text[pos..].find('<').map(|o| pos + o) {
            let rest = &text[lt..];
            let skip_to = |pat: &str| rest.find(pat).map(|e| lt + e + pat.len());
            if rest.starts_with("<!--") {
                pos = skip_to("-->").unwrap_or(text.len());
                continue;
            }
            if rest.starts_with("<![CDATA[") {
                pos = skip_to("]]>").unwrap_or(text.len());
                continue;
            }
            if rest.starts_with("<?") || rest.starts_with("<!") {
                pos = skip_to(">").unwrap_or(text.len());
                continue;
            }
            let Some(gt) = rest.find('>') else { break };
            let inner = rest[1..gt].trim();
            let end = lt + gt + 1;
            if let Some(n) = inner.strip_prefix('/') {
                let n = local(n.trim());
                depth = depth.saturating_sub(1);
                if depth == 1 && n == name {
                    if let Some(s) = open_at.take() {
                        spans.push((s, end));
                    }
                }
                if depth == 0 {
                    root_close = Some(lt);
                    break;
                }
            } else {
                let n = local(
                    inner
                        .trim_end_matches('/')
                        .split_whitespace()
                        .next()
                        .unwrap_or(""),
                );
                if inner.ends_with('/') {
                    if depth == 1 && n == name {
                        spans.push((lt, end));
                    }
                } else {
                    if depth == 1 && n == name {
                        open_at = Some(lt);
                    }
                    depth += 1;
                }
            }
            pos = end;
        }
        (spans, root_close)
    }

    pub fn escape(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    }
}

use xml::Element;

pub(super) fn verb(tool: &str, args: &[String]) -> Verb {
    let gradle = tool.starts_with("gradle");
    let mut positional: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            break;
        }
        if let Some(name) = a.strip_prefix('-') {
            let takes = if gradle {
                GRADLE_VALUE_OPTS.contains(&a)
            } else {
                MVN_VALUE_OPTS.contains(&a) || name == "D"
            };
            if takes && !a.contains('=') {
                i += 1;
            }
            match a {
                "-v" | "--version" | "-h" | "--help" | "-?" | "--stop" | "--status" => {
                    return Verb::Other
                }
                _ => {}
            }
            continue;
        }
        positional.push(a);
    }
    if gradle {
        if positional
            .iter()
            .any(|t| t.contains("publish") && !t.ends_with("ToMavenLocal") || t.contains("upload"))
        {
            Verb::Publish
        } else {
            Verb::Install
        }
    } else if positional.is_empty() {
        Verb::Other
    } else if positional.iter().any(|g| {
        *g == "deploy"
            || g.ends_with(":deploy")
            || g.ends_with(":deploy-file")
            || g.ends_with("release:perform")
    }) {
        Verb::Publish
    } else {
        Verb::Install
    }
}

/// Maven options that take a value (the next argument, or attached).
const MVN_VALUE_OPTS: &[&str] = &[
    "-s",
    "--settings",
    "-gs",
    "--global-settings",
    "-f",
    "--file",
    "-P",
    "--activate-profiles",
    "-pl",
    "--projects",
    "-rf",
    "--resume-from",
    "-T",
    "--threads",
    "-l",
    "--log-file",
    "-t",
    "--toolchains",
    "-gt",
    "--global-toolchains",
    "-b",
    "--builder",
    "-D",
    "--define",
    "--color",
];

/// gradle options that take a value.
pub const GRADLE_VALUE_OPTS: &[&str] = &[
    "-I",
    "--init-script",
    "-p",
    "--project-dir",
    "-g",
    "--gradle-user-home",
    "-b",
    "--build-file",
    "-c",
    "--settings-file",
    "-x",
    "--exclude-task",
    "-D",
    "--system-prop",
    "-P",
    "--project-prop",
    "--include-build",
    "--console",
    "--warning-mode",
    "--max-workers",
    "--priority",
    "-M",
    "--write-verification-metadata",
    "-F",
    "--dependency-verification",
    "--project-cache-dir",
    "--update-locks",
    "--configuration-cache-problems",
];

pub(super) fn sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    if req.tool.name.starts_with("gradle") {
        gradle_sources(req, verb)
    } else {
        maven_sources(req, verb)
    }
}

// ---------------------------------------------------------------------------
// Maven
// ---------------------------------------------------------------------------

/// `-D` keys that switch off TLS or checksum verification.
fn insecure_property(key: &str, value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    let truthy = v.is_empty() || v == "true";
    match key {
        "maven.wagon.http.ssl.insecure"
        | "maven.wagon.http.ssl.allowall"
        | "maven.wagon.http.ssl.ignore.validity.dates"
        | "maven.resolver.transport.https.insecure" => truthy,
        "aether.connector.https.securityMode" => v == "insecure",
        k if k.ends_with("checksumPolicy") || k.ends_with("checksums.checksumPolicy") => {
            v == "ignore"
        }
        _ => false,
    }
}

#[derive(Default)]
struct MvnArgs {
    settings: Option<(String, Origin)>,
    global: Option<(String, Origin)>,
    file: Option<String>,
    profiles: Vec<String>,
    props: Vec<(String, String)>,
    offline: bool,
    out: Vec<Source>,
    /// `-s`/`-gs` came from `MAVEN_ARGS`, which precede anything pkgward inserts.
    settings_from_env: bool,
}

/// Reads Maven arguments (one source of them: the command line, MAVEN_ARGS
/// or maven.config). The first `-s`/`-gs`/`-f` over all sources wins, in the
/// order the sources are read.
fn mvn_args(words: &[(String, Origin)], a: &mut MvnArgs, deploy: bool) {
    let mut i = 0;
    while i < words.len() {
        let (w, origin) = (&words[i].0, &words[i].1);
        i += 1;
        if w == "--" {
            break;
        }
        if !w.starts_with('-') {
            continue;
        }
        // Split `--opt=value`, `-Dk=v`, `-sFILE`, `-gs=FILE`.
        let (name, inline): (&str, Option<&str>) = if let Some(long) = w.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (&w[..n.len() + 2], Some(v)),
                None => (w.as_str(), None),
            }
        } else {
            let body = &w[1..];
            let short = [
                "gs", "pl", "rf", "gt", "s", "f", "P", "T", "l", "t", "b", "D",
            ]
            .into_iter()
            .find(|s| {
                body.starts_with(s) && (body.len() == s.len() || MVN_SHORT_VALUE.contains(s))
            });
            match short {
                Some(s) if body.len() > s.len() => {
                    let v = &body[s.len()..];
                    (&w[..s.len() + 1], Some(v.strip_prefix('=').unwrap_or(v)))
                }
                _ => (w.as_str(), None),
            }
        };
        let takes = MVN_VALUE_OPTS.contains(&name);
        let value: Option<String> = match (inline, takes) {
            (Some(v), _) => Some(v.to_string()),
            (None, true) => {
                i += 1;
                words.get(i - 1).map(|(v, _)| v.clone())
            }
            (None, false) => None,
        };
        let flag_origin = match origin {
            Origin::Flag { .. } => Origin::flag(name),
            o => o.clone(),
        };
        match (name, value) {
            ("-s" | "--settings", Some(v)) if a.settings.is_none() => {
                a.settings_from_env = matches!(origin, Origin::Env { .. });
                a.settings = Some((v, flag_origin));
            }
            ("-gs" | "--global-settings", Some(v)) if a.global.is_none() => {
                a.global = Some((v, flag_origin));
            }
            ("-f" | "--file", Some(v)) if a.file.is_none() => {
                a.file = Some(v);
            }
            ("-P" | "--activate-profiles", Some(v)) => {
                a.profiles
                    .extend(v.split(',').map(|p| p.trim().to_string()));
            }
            ("-D" | "--define", Some(v)) => {
                let (k, val) = v.split_once('=').unwrap_or((v.as_str(), "true"));
                if insecure_property(k, val) {
                    a.out.push(Source::new(
                        SourceKind::Insecure,
                        v.clone(),
                        flag_origin.clone(),
                        k.to_string(),
                    ));
                }
                if k == "remoteRepositories" {
                    for r in val.split(',').filter(|r| !r.trim().is_empty()) {
                        let url = r.rsplit("::").next().unwrap_or(r).trim();
                        a.out.push(Source::new(
                            SourceKind::ExtraIndex,
                            url,
                            flag_origin.clone(),
                            "remoteRepositories",
                        ));
                    }
                }
                if deploy
                    && (k == "altDeploymentRepository"
                        || k.starts_with("alt") && k.ends_with("DeploymentRepository"))
                {
                    let url = val.rsplit("::").next().unwrap_or(val).trim();
                    a.out.push(Source::new(
                        SourceKind::Registry,
                        url,
                        flag_origin.clone(),
                        k.to_string(),
                    ));
                }
                if k == "url" && deploy {
                    // deploy:deploy-file -Durl=…
                    a.out.push(Source::new(
                        SourceKind::Registry,
                        val,
                        flag_origin.clone(),
                        "deploy-file url",
                    ));
                }
                a.props.push((k.to_string(), val.to_string()));
            }
            ("-o" | "--offline", _) => a.offline = true,
            _ => {}
        }
    }
}

/// Short options whose value may be attached (`-sFILE`).
const MVN_SHORT_VALUE: &[&str] = &[
    "gs", "pl", "rf", "gt", "s", "f", "P", "T", "l", "t", "b", "D",
];

fn words_of(text: &str, origin_for_line: impl Fn(usize) -> Origin) -> Vec<(String, Origin)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        for w in split_words(line) {
            out.push((w, origin_for_line(i + 1)));
        }
    }
    out
}

/// Splits like a shell would for simple quoting (`"a b"` and `'a b'`).
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() || any {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if !cur.is_empty() || any {
        out.push(cur);
    }
    out
}

/// The directory holding `.mvn`, searched upward from `start` (what the
/// `mvn` script calls the multi-module project directory).
fn mvn_basedir(req: &Request<'_>, start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .take(64)
        .find(|d| req.files.exists(&d.join(".mvn")))
        .map(Path::to_path_buf)
}

fn expand_path(p: &str, req: &Request<'_>, base: &Path) -> PathBuf {
    let p = p.trim();
    if let (Some(rest), Some(h)) = (p.strip_prefix("~/"), req.home) {
        return h.join(rest);
    }
    let pb = PathBuf::from(p);
    if pb.is_absolute() {
        pb
    } else {
        normalize(&base.join(pb))
    }
}

fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
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

/// `${name}` interpolation from POM/settings properties, `-D`, `env.*`.
struct Props<'a> {
    req: &'a Request<'a>,
    vals: Vec<(String, String)>,
}

impl Props<'_> {
    fn get(&self, k: &str) -> Option<String> {
        if let Some(v) = self.vals.iter().rev().find(|(n, _)| n == k) {
            return Some(v.1.clone());
        }
        if let Some(e) = k.strip_prefix("env.") {
            return self.req.env.get(e);
        }
        match k {
            "user.home" => self.req.home.map(|h| h.display().to_string()),
            _ => None,
        }
    }

    fn expand(&self, s: &str) -> String {
        let mut out = s.to_string();
        for _ in 0..8 {
            let Some(start) = out.find("${") else { break };
            let Some(len) = out[start..].find('}') else {
                break;
            };
            let key = out[start + 2..start + len].to_string();
            match self.get(&key) {
                Some(v) if !v.contains(&format!("${{{key}}}")) => {
                    out.replace_range(start..start + len + 1, &v);
                }
                _ => break,
            }
        }
        out
    }
}

/// A repository a build can fetch from.
struct Repo {
    id: String,
    url: String,
    origin: Origin,
    what: &'static str,
}

#[derive(Clone)]
struct Mirror {
    id: String,
    mirror_of: String,
    url: String,
    blocked: bool,
    origin: Origin,
    global: bool,
}

fn is_external(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("file:") {
        return false;
    }
    let host = lower
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    !(host == "localhost" || host == "127.0.0.1")
}

/// Maven's `DefaultMirrorSelector.matchPattern`.
fn mirror_matches(pattern: &str, id: &str, url: &str) -> bool {
    let pattern = pattern.trim();
    if pattern == "*" || pattern == id {
        return true;
    }
    let mut result = false;
    for tok in pattern.split(',').map(str::trim) {
        if tok.len() > 1 && tok.starts_with('!') {
            if &tok[1..] == id {
                return false;
            }
        } else if tok == id {
            return true;
        } else if tok == "*"
            || (tok == "external:*" && is_external(url))
            || (tok == "external:http:*"
                && is_external(url)
                && url.to_ascii_lowercase().starts_with("http:"))
        {
            // Not final: a later `!id` may still exclude the repository.
            result = true;
        }
    }
    result
}

fn select_mirror<'m>(mirrors: &'m [Mirror], id: &str, url: &str) -> Option<&'m Mirror> {
    mirrors
        .iter()
        .find(|m| m.mirror_of.trim() == id)
        .or_else(|| {
            mirrors
                .iter()
                .find(|m| mirror_matches(&m.mirror_of, id, url))
        })
}

/// Whether a profile (of settings or a POM) is active or may be.
fn profile_active(p: &Element, active_ids: &[String], explicit: &[String]) -> bool {
    let id = p.text_of("id").unwrap_or("");
    if explicit
        .iter()
        .any(|e| e == &format!("!{id}") || e == &format!("-{id}"))
    {
        return false;
    }
    if explicit.iter().any(|e| e == id) || active_ids.iter().any(|e| e == id) {
        return true;
    }
    match p.child("activation") {
        None => false,
        Some(act) => {
            // activeByDefault=false alone never activates; any condition may.
            act.children
                .iter()
                .any(|c| c.name != "activeByDefault" || c.text.trim() == "true")
        }
    }
}

fn repos_of(el: &Element, file: &Path, props: &Props<'_>, out: &mut Vec<Repo>, what: &'static str) {
    for (group, item) in [
        ("repositories", "repository"),
        ("pluginRepositories", "pluginRepository"),
    ] {
        for r in el.path(&[group, item]) {
            let Some(url) = r.text_of("url") else {
                continue;
            };
            out.push(Repo {
                id: r.text_of("id").unwrap_or("").to_string(),
                url: props.expand(url),
                origin: Origin::file(file, r.child("url").map_or(r.line, |u| u.line)),
                what,
            });
        }
    }
}

struct Settings {
    mirrors: Vec<Mirror>,
    repos: Vec<Repo>,
}

fn read_settings(
    req: &Request<'_>,
    path: &Path,
    global: bool,
    explicit: &[String],
    props: &Props<'_>,
) -> Option<Settings> {
    let text = req.files.read(path)?;
    let root = xml::parse(&text)?;
    let mut s = Settings {
        mirrors: Vec::new(),
        repos: Vec::new(),
    };
    for m in root.path(&["mirrors", "mirror"]) {
        s.mirrors.push(Mirror {
            id: m.text_of("id").unwrap_or("default").to_string(),
            mirror_of: m.text_of("mirrorOf").unwrap_or("").to_string(),
            url: props.expand(m.text_of("url").unwrap_or("")),
            blocked: m.text_of("blocked") == Some("true"),
            origin: Origin::file(path, m.child("url").map_or(m.line, |u| u.line)),
            global,
        });
    }
    let active: Vec<String> = root
        .path(&["activeProfiles", "activeProfile"])
        .iter()
        .map(|e| e.text.trim().to_string())
        .collect();
    for p in root.path(&["profiles", "profile"]) {
        if profile_active(p, &active, explicit) {
            repos_of(p, path, props, &mut s.repos, "repository");
        }
    }
    Some(s)
}

/// The project POM and what Maven reads with it: local parents through
/// `<relativePath>` and the modules of a reactor build.
fn read_poms(
    req: &Request<'_>,
    pom: &Path,
    explicit: &[String],
    props: &mut Props<'_>,
    repos: &mut Vec<Repo>,
    deploy: &mut Vec<Source>,
) {
    let mut queue: Vec<PathBuf> = vec![pom.to_path_buf()];
    let mut seen: Vec<PathBuf> = Vec::new();
    while let Some(p) = queue.pop() {
        if seen.contains(&p) || seen.len() >= 256 {
            continue;
        }
        seen.push(p.clone());
        let Some(text) = req.files.read(&p) else {
            continue;
        };
        let Some(root) = xml::parse(&text) else {
            continue;
        };
        let dir = p.parent().unwrap_or(Path::new("")).to_path_buf();
        if let Some(pr) = root.child("properties") {
            for c in &pr.children {
                props.vals.push((c.name.clone(), c.text.trim().to_string()));
            }
        }
        props
            .vals
            .push(("project.basedir".into(), dir.display().to_string()));
        props
            .vals
            .push(("basedir".into(), dir.display().to_string()));
        repos_of(&root, &p, props, repos, "repository");
        for prof in root.path(&["profiles", "profile"]) {
            if profile_active(prof, &[], explicit) {
                repos_of(prof, &p, props, repos, "repository");
                for m in prof.path(&["modules", "module"]) {
                    queue.push(module_pom(&dir, m.text.trim()));
                }
            }
        }
        for (group, item) in [
            ("distributionManagement", "repository"),
            ("distributionManagement", "snapshotRepository"),
        ] {
            for r in root.path(&[group, item]) {
                if let Some(url) = r.text_of("url") {
                    deploy.push(Source::new(
                        SourceKind::Registry,
                        props.expand(url),
                        Origin::file(&p, r.child("url").map_or(r.line, |u| u.line)),
                        format!("distributionManagement {item}"),
                    ));
                }
            }
        }
        if let Some(parent) = root.child("parent") {
            let rel = parent.child("relativePath");
            let rel = match rel {
                // `<relativePath/>`: the parent is looked up in repositories only.
                Some(r) if r.text.trim().is_empty() => None,
                Some(r) => Some(r.text.trim().to_string()),
                None => Some("../pom.xml".to_string()),
            };
            if let Some(rel) = rel {
                queue.push(module_pom(&dir, &rel));
            }
        }
        for m in root.path(&["modules", "module"]) {
            queue.push(module_pom(&dir, m.text.trim()));
        }
    }
}

fn module_pom(dir: &Path, rel: &str) -> PathBuf {
    let p = normalize(&dir.join(rel));
    if rel.ends_with(".xml") {
        p
    } else {
        p.join("pom.xml")
    }
}

/// Subject of a settings mirror source: `mirror ID of PATTERN` (the id is
/// what `force` neutralizes).
fn mirror_subject(m: &Mirror) -> String {
    format!(
        "{} mirror {} of {}",
        if m.global { "global" } else { "user" },
        m.id,
        m.mirror_of
    )
}

const USER_SETTINGS: &str = "maven user settings";

fn maven_sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let args = req.args;
    if args
        .iter()
        .any(|a| matches!(a.as_str(), "-v" | "--version" | "-h" | "--help"))
    {
        return Vec::new();
    }
    let deploy = verb == Verb::Publish;
    let mut a = MvnArgs::default();
    // MAVEN_ARGS (Maven 3.9+) come first, then the command line, then .mvn/maven.config.
    if let Some(v) = req.env.get("MAVEN_ARGS") {
        let words: Vec<(String, Origin)> = split_words(&v)
            .into_iter()
            .map(|w| (w, Origin::env("MAVEN_ARGS")))
            .collect();
        mvn_args(&words, &mut a, deploy);
    }
    let cli: Vec<(String, Origin)> = args
        .iter()
        .map(|w| (w.clone(), Origin::flag(w.clone())))
        .collect();
    mvn_args(&cli, &mut a, deploy);
    let cwd = req.cwd.to_path_buf();
    let pom = match &a.file {
        Some(f) => {
            let p = expand_path(f, req, &cwd);
            if p.extension().is_some_and(|e| e == "xml") || req.files.read(&p).is_some() {
                p
            } else {
                p.join("pom.xml")
            }
        }
        None => cwd.join("pom.xml"),
    };
    let project_dir = pom.parent().unwrap_or(&cwd).to_path_buf();
    let basedir = mvn_basedir(req, &project_dir).or_else(|| mvn_basedir(req, &cwd));
    let mut out: Vec<Source> = Vec::new();
    let mut jvm_props: Vec<(String, String)> = Vec::new();
    if let Some(base) = &basedir {
        let cfg = base.join(".mvn").join("maven.config");
        if let Some(text) = req.files.read(&cfg) {
            let words = words_of(&text, |l| Origin::file(&cfg, l));
            mvn_args(&words, &mut a, deploy);
        }
        let jvm = base.join(".mvn").join("jvm.config");
        if let Some(text) = req.files.read(&jvm) {
            let words = words_of(&text, |l| Origin::file(&jvm, l));
            let words = jvm_options(req, &words, &mut out);
            jvm_props.extend(system_props(&words));
        }
        if req.tool.name == "mvnw" {
            let props = base
                .join(".mvn")
                .join("wrapper")
                .join("maven-wrapper.properties");
            wrapper_urls(req, &props, &["distributionUrl", "wrapperUrl"], &mut out);
        }
    }
    let words = jvm_env(req, &["MAVEN_OPTS"], &mut out);
    jvm_props.extend(system_props(&words));
    out.append(&mut a.out);
    if a.offline {
        // Nothing is fetched; only the dangerous switches are reported.
        return out;
    }
    let mut props = Props {
        req,
        vals: a.props.clone(),
    };
    // Java's `user.home` (the account's home, or `-Duser.home`), which is
    // where Maven looks for `.m2/settings.xml`.
    let user_home = a
        .props
        .iter()
        .rev()
        .chain(jvm_props.iter().rev())
        .find(|(k, _)| k == "user.home")
        .map(|(_, v)| PathBuf::from(v))
        .or_else(|| req.home.map(Path::to_path_buf));
    // Settings: user (dominant) then global.
    let user_path = match &a.settings {
        Some((p, _)) => Some(expand_path(p, req, &cwd)),
        None => user_home.map(|h| h.join(".m2").join("settings.xml")),
    };
    let global_path = match &a.global {
        Some((p, _)) => Some(expand_path(p, req, &cwd)),
        None => maven_home(req).map(|h| h.join("conf").join("settings.xml")),
    };
    let explicit = a.profiles.clone();
    let user = user_path
        .as_ref()
        .and_then(|p| read_settings(req, p, false, &explicit, &props));
    let global = global_path
        .as_ref()
        .and_then(|p| read_settings(req, p, true, &explicit, &props));
    if let (Some(p), Some(_)) = (&user_path, &user) {
        // Where the user settings are, for `force` to carry them over.
        out.push(Source::new(
            SourceKind::Path,
            p.display().to_string(),
            a.settings
                .as_ref()
                .map_or(Origin::Builtin, |(_, o)| o.clone()),
            USER_SETTINGS,
        ));
    }
    let mut mirrors: Vec<Mirror> = Vec::new();
    let mut repos: Vec<Repo> = Vec::new();
    for s in [&user, &global].into_iter().flatten() {
        for m in &s.mirrors {
            // The user file's mirror replaces a global one with the same id.
            if !mirrors.iter().any(|x| x.id == m.id) {
                mirrors.push(m.clone());
            }
        }
    }
    let mut deploy_sources = Vec::new();
    read_poms(
        req,
        &pom,
        &explicit,
        &mut props,
        &mut repos,
        &mut deploy_sources,
    );
    for s in [&user, &global].into_iter().flatten() {
        for r in &s.repos {
            repos.push(Repo {
                id: r.id.clone(),
                url: r.url.clone(),
                origin: r.origin.clone(),
                what: r.what,
            });
        }
    }
    // The super POM's central, unless a repository of that id replaces it.
    let central_overridden = repos.iter().any(|r| r.id == "central");
    let overridable = !a.settings_from_env;
    let mark = |s: Source| if overridable { s.overridable() } else { s };
    let mut candidates: Vec<(String, String, Option<Source>)> = repos
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                r.url.clone(),
                Some(Source::new(
                    SourceKind::Registry,
                    r.url.clone(),
                    r.origin.clone(),
                    format!("{} {}", r.what, r.id),
                )),
            )
        })
        .collect();
    if !central_overridden {
        candidates.push(("central".into(), "https://central.invalid/".into(), None));
    }
    for (id, url, src) in candidates {
        if select_mirror(&mirrors, &id, &url).is_some() {
            // Sent to a mirror (or blocked by it): the mirror is the source.
            continue;
        }
        out.push(mark(src.unwrap_or_else(|| {
            Source::new(
                SourceKind::Registry,
                "builtin",
                Origin::Builtin,
                "repository central",
            )
        })));
    }
    // Every mirror that is not blocked: besides the repositories above, it
    // serves those that only dependency POMs name.
    for m in mirrors.iter().filter(|m| !m.blocked) {
        out.push(mark(Source::new(
            SourceKind::Registry,
            m.url.clone(),
            m.origin.clone(),
            mirror_subject(m),
        )));
    }
    if deploy {
        out.extend(deploy_sources);
    }
    out
}

/// `-Dkey=value` JVM options.
fn system_props(words: &[(String, Origin)]) -> Vec<(String, String)> {
    words
        .iter()
        .filter_map(|(w, _)| w.strip_prefix("-D"))
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// The variables every JVM reads its options from, besides the tool's own
/// (`MAVEN_OPTS`; `GRADLE_OPTS`, `JAVA_OPTS`): `JAVA_TOOL_OPTIONS` (the JVM
/// itself) and `JDK_JAVA_OPTIONS` (the `java` launcher).
const JVM_ENV: &[&str] = &["JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS"];

/// [`jvm_options`] of the tool's variables `own` and of [`JVM_ENV`].
fn jvm_env(req: &Request<'_>, own: &[&str], out: &mut Vec<Source>) -> Vec<(String, Origin)> {
    let mut words: Vec<(String, Origin)> = Vec::new();
    for var in own.iter().chain(JVM_ENV) {
        if let Some(v) = req.env.get(var) {
            words.extend(split_words(&v).into_iter().map(|w| (w, Origin::env(*var))));
        }
    }
    jvm_options(req, &words, out)
}

/// The one scanner of the JVM options a tool's JVM starts with (Maven's
/// `.mvn/jvm.config` and `MAVEN_OPTS`, Gradle's `GRADLE_OPTS`, `JAVA_OPTS`
/// and `org.gradle.jvmargs`, every JVM's [`JVM_ENV`]): the files they name
/// are read in first (`@argfile`, which the `java` launcher expands, and
/// `-XX:VMOptionsFile=`/`-XX:Flags=`, which the JVM reads; relative to the
/// working directory), as are the options of a `-Dorg.gradle.jvmargs=`
/// (the Gradle daemon's); then [`jvm_insecure`] reports those that load
/// code or weaken TLS. A named file that exists but cannot be read is
/// reported as unreadable. Returns the options, files expanded.
fn jvm_options(
    req: &Request<'_>,
    words: &[(String, Origin)],
    out: &mut Vec<Source>,
) -> Vec<(String, Origin)> {
    const MAX_WORDS: usize = 10_000;
    let mut all: Vec<(String, Origin)> = Vec::new();
    // (word, origin, how many files deep)
    let mut todo: Vec<(String, Origin, usize)> = words
        .iter()
        .rev()
        .map(|(w, o)| (w.clone(), o.clone(), 0))
        .collect();
    while let Some((w, o, depth)) = todo.pop() {
        if all.len() >= MAX_WORDS {
            break;
        }
        let file = w
            .strip_prefix('@')
            .filter(|f| !f.starts_with('@') && !f.is_empty())
            .or_else(|| w.strip_prefix("-XX:VMOptionsFile="))
            .or_else(|| w.strip_prefix("-XX:Flags="));
        if let Some(f) = file.filter(|_| depth < 3) {
            let p = expand_path(f, req, req.cwd);
            match req.files.read(&p) {
                Some(text) => {
                    let inner = words_of(&text, |l| Origin::file(&p, l));
                    todo.extend(inner.into_iter().rev().map(|(w, o)| (w, o, depth + 1)));
                }
                None if req.files.exists(&p) => out.push(Source::unreadable(
                    &p,
                    0,
                    "a file of JVM options pkgward cannot read",
                )),
                None => {}
            }
            continue;
        }
        if let Some(v) = w.strip_prefix("-Dorg.gradle.jvmargs=") {
            todo.extend(
                split_words(v)
                    .into_iter()
                    .rev()
                    .map(|x| (x, o.clone(), depth)),
            );
        }
        all.push((w, o));
    }
    jvm_insecure(&all, out);
    all
}

fn jvm_insecure(words: &[(String, Origin)], out: &mut Vec<Source>) {
    for (w, o) in words {
        if let Some(option) = jvm_loads_code(w) {
            // `-javaagent:/x.jar` sets -javaagent = /x.jar.
            let value = w[option.len()..].trim_start_matches([':', '=']);
            out.push(Source::new(
                SourceKind::Executable,
                if value.is_empty() { w.as_str() } else { value },
                o.clone(),
                option.trim_end_matches([':', '=']),
            ));
            continue;
        }
        if let Some(kv) = w.strip_prefix("-D") {
            let (k, v) = kv.split_once('=').unwrap_or((kv, "true"));
            if insecure_property(k, v) {
                out.push(Source::new(SourceKind::Insecure, w.clone(), o.clone(), k));
            }
        }
    }
}

/// A JVM option of the tool's own JVM ([`jvm_options`]) that has it load
/// or run other code than the tool's, outside any decision on build
/// extensions and plugins: an agent, a boot class path, a command run on an
/// error, a system class loader or security manager class, core extensions
/// (`maven.ext.class.path`). Its name, if so. (Options that only allow
/// something later, such as `-XX:+EnableDynamicAgentLoading`, are not.)
fn jvm_loads_code(word: &str) -> Option<&'static str> {
    const OPTIONS: &[&str] = &[
        "-javaagent:",
        "-agentlib:",
        "-agentpath:",
        // The old spelling of `-agentlib:` (`-Xrunjdwp:…`).
        "-Xrun",
        "-Xbootclasspath",
        "-XX:OnError=",
        "-XX:OnOutOfMemoryError=",
        // A native JVMCI compiler library.
        "-XX:JVMCILibPath=",
        "--patch-module",
        "-Dmaven.ext.class.path=",
        "-Djava.system.class.loader=",
        // Maven 3.9 loads its console library's native part from there.
        "-Dlibrary.jansi.path=",
    ];
    if let Some(v) = word.strip_prefix("-Djava.security.manager=") {
        // A class name; `allow`, `disallow`, `default` (or nothing) are not.
        if !matches!(v, "" | "allow" | "disallow" | "default") {
            return Some("-Djava.security.manager=");
        }
    }
    OPTIONS.iter().copied().find(|o| word.starts_with(o))
}

/// The daemon JVM's options in `gradle.properties` (the root project's and
/// the Gradle user home's): `org.gradle.jvmargs` ([`jvm_options`]), and an
/// `org.gradle.java.home` of the project's that names a directory inside it
/// (Gradle would run that directory's `bin/java`).
fn gradle_properties_jvm(
    req: &Request<'_>,
    root: &Path,
    user_home: Option<&Path>,
    out: &mut Vec<Source>,
) {
    for dir in std::iter::once(root).chain(user_home) {
        let path = dir.join("gradle.properties");
        let Some(text) = req.files.read(&path) else {
            continue;
        };
        for (k, v, line) in properties(&text) {
            let origin = Origin::file(&path, line);
            if k == "org.gradle.jvmargs" {
                let words: Vec<(String, Origin)> = split_words(&v)
                    .into_iter()
                    .map(|w| (w, origin.clone()))
                    .collect();
                jvm_options(req, &words, out);
            } else if k == "org.gradle.java.home" && dir == root {
                let home = normalize(&expand_path(&v, req, root));
                if home.starts_with(normalize(root)) {
                    out.push(Source::new(SourceKind::Executable, v, origin, k));
                }
            }
        }
    }
}

/// `$MAVEN_HOME`, else the installation the real `mvn` belongs to
/// (`<home>/bin/mvn`).
fn maven_home(req: &Request<'_>) -> Option<PathBuf> {
    if let Some(h) = req.env.get("MAVEN_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(h));
    }
    if let Some(h) = req.env.get("M2_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(h));
    }
    let bin = req.real_tool?.parent()?;
    if bin.file_name().is_some_and(|n| n == "bin") {
        bin.parent().map(Path::to_path_buf)
    } else {
        None
    }
}

/// Java `.properties` values (`key=value`, `key: value`, `\:` escapes).
fn properties(text: &str) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') || l.starts_with('!') {
            continue;
        }
        let Some(at) = l.find(['=', ':']) else {
            continue;
        };
        let key = l[..at].trim().to_string();
        let mut value = String::new();
        let mut chars = l[at + 1..].trim().chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    value.push(n);
                }
            } else {
                value.push(c);
            }
        }
        out.push((key, value, i + 1));
    }
    out
}

fn wrapper_urls(req: &Request<'_>, path: &Path, keys: &[&str], out: &mut Vec<Source>) {
    let Some(text) = req.files.read(path) else {
        return;
    };
    for (k, v, line) in properties(&text) {
        if keys.contains(&k.as_str()) && !v.is_empty() {
            out.push(Source::new(
                SourceKind::Direct,
                v,
                Origin::file(path, line),
                k,
            ));
        }
    }
}

// ---------------------------------------------------------------------------
// Gradle
// ---------------------------------------------------------------------------

const GRADLE_DEFAULTS: &[&str] = &["mavenCentral", "google", "gradlePluginPortal", "jcenter"];

/// One finding of the script scan.
struct Found {
    kind: SourceKind,
    value: String,
    line: usize,
    subject: String,
    publishing: bool,
    ivy: bool,
}

/// Strips comments, keeping strings and line structure.
fn scan_script(text: &str) -> Vec<Found> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0usize;
    let mut line = 1usize;
    // Block names currently open (`repositories`, `maven`, `publishing`…).
    let mut blocks: Vec<String> = Vec::new();
    let mut last_ident = String::new();
    let mut prev_ident = String::new();
    let mut pending_insecure = false;
    let in_repos = |b: &[String]| b.iter().any(|n| n == "repositories");
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
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
            let start_line = line;
            let mut s = String::new();
            i += if triple { 3 } else { 1 };
            while i < chars.len() {
                if chars[i] == '\\' {
                    if let Some(n) = chars.get(i + 1) {
                        s.push(*n);
                    }
                    i += 2;
                    continue;
                }
                if chars[i] == c
                    && (!triple || (chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c)))
                {
                    i += if triple { 3 } else { 1 };
                    break;
                }
                if chars[i] == '\n' {
                    line += 1;
                    if !triple {
                        i += 1;
                        break;
                    }
                }
                s.push(chars[i]);
                i += 1;
            }
            if in_repos(&blocks) {
                let url_context = matches!(
                    last_ident.as_str(),
                    "url" | "uri" | "setUrl" | "maven" | "ivy" | "artifactUrls" | "URI" | "create"
                ) || prev_ident == "url";
                let flat = blocks.iter().any(|b| b == "flatDir") || last_ident == "dirs";
                let kind = if s.contains("://") {
                    if s.to_ascii_lowercase().starts_with("file:") {
                        Some(SourceKind::Path)
                    } else {
                        Some(SourceKind::Registry)
                    }
                } else if flat || s.starts_with("file:") {
                    Some(SourceKind::Path)
                } else if url_context && s.starts_with('$') {
                    if [
                        "rootDir",
                        "projectDir",
                        "buildDir",
                        "rootProject.projectDir",
                        "layout.",
                    ]
                    .iter()
                    .any(|d| s.contains(d))
                    {
                        Some(SourceKind::Path)
                    } else {
                        Some(SourceKind::Registry)
                    }
                } else if url_context
                    && !s.is_empty()
                    && matches!(last_ident.as_str(), "url" | "uri" | "setUrl")
                {
                    Some(SourceKind::Path)
                } else {
                    None
                };
                if let Some(kind) = kind {
                    out.push(Found {
                        kind,
                        value: s,
                        line: start_line,
                        subject: "repository".into(),
                        publishing: blocks.iter().any(|b| b == "publishing"),
                        ivy: blocks.iter().any(|b| b == "ivy") || last_ident == "ivy",
                    });
                }
            }
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            let ident: String = chars[start..i].iter().collect();
            let tail = ident.rsplit('.').next().unwrap_or(&ident).to_string();
            if in_repos(&blocks) && GRADLE_DEFAULTS.contains(&tail.as_str()) {
                // A named default repository (`builtin`); where it is named
                // goes in the subject (the origin of a default is `Builtin`).
                // `mavenCentral()` and friends.
                let mut j = i;
                while j < chars.len() && chars[j] == ' ' {
                    j += 1;
                }
                if chars.get(j) == Some(&'(') || chars.get(j) == Some(&'{') {
                    out.push(Found {
                        kind: SourceKind::Registry,
                        value: "builtin".into(),
                        line,
                        subject: format!("{tail}()"),
                        publishing: blocks.iter().any(|b| b == "publishing"),
                        ivy: false,
                    });
                }
            }
            if tail == "mavenLocal" && in_repos(&blocks) {
                out.push(Found {
                    kind: SourceKind::Path,
                    value: "mavenLocal()".into(),
                    line,
                    subject: "repository".into(),
                    publishing: false,
                    ivy: false,
                });
            }
            if matches!(
                tail.as_str(),
                "allowInsecureProtocol" | "isAllowInsecureProtocol" | "setAllowInsecureProtocol"
            ) {
                pending_insecure = true;
            } else if pending_insecure && tail == "true" {
                out.push(Found {
                    kind: SourceKind::Insecure,
                    value: "allowInsecureProtocol = true".into(),
                    line,
                    subject: "allowInsecureProtocol".into(),
                    publishing: blocks.iter().any(|b| b == "publishing"),
                    ivy: false,
                });
                pending_insecure = false;
            } else {
                pending_insecure = false;
            }
            prev_ident = std::mem::replace(&mut last_ident, tail);
            continue;
        }
        match c {
            '{' => {
                blocks.push(std::mem::take(&mut last_ident));
                if blocks.len() > 512 {
                    blocks.remove(0);
                }
            }
            '}' => {
                blocks.pop();
                last_ident.clear();
            }
            '(' | ')' | '=' | ' ' | '\t' | '\r' | ',' => {}
            ';' => {
                last_ident.clear();
                pending_insecure = false;
            }
            _ => {
                if !matches!(c, ':' | '<' | '>') {
                    last_ident.clear();
                }
            }
        }
        i += 1;
    }
    out
}

/// `include ':a', ':b:c'` / `include("a", "b")` → project directories.
fn included_projects(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        let Some(rest) = l.strip_prefix("include") else {
            continue;
        };
        if !rest.starts_with([' ', '(', '\t']) {
            continue;
        }
        let mut cur = String::new();
        let mut quote: Option<char> = None;
        for c in rest.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => {
                    quote = None;
                    let p = cur.trim_start_matches(':').replace(':', "/");
                    if !p.is_empty() && !p.contains("..") {
                        out.push(p);
                    }
                    cur.clear();
                }
                (Some(_), c) => cur.push(c),
                (None, '"' | '\'') => quote = Some(c),
                _ => {}
            }
        }
        if out.len() > 500 {
            break;
        }
    }
    out
}

fn included_builds(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        let Some(rest) = l.strip_prefix("includeBuild") else {
            continue;
        };
        if let Some(q) = rest.find(['"', '\'']) {
            let qc = rest.as_bytes()[q] as char;
            if let Some(e) = rest[q + 1..].find(qc) {
                out.push(rest[q + 1..q + 1 + e].to_string());
            }
        }
    }
    out
}

fn gradle_script(req: &Request<'_>, dir: &Path, stem: &str) -> Option<(PathBuf, String)> {
    for ext in ["gradle", "gradle.kts"] {
        let p = dir.join(format!("{stem}.{ext}"));
        if let Some(t) = req.files.read(&p) {
            return Some((p, t));
        }
    }
    None
}

fn gradle_sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let args = req.args;
    if args.iter().any(|a| {
        matches!(
            a.as_str(),
            "-v" | "--version" | "-h" | "--help" | "-?" | "--stop" | "--status"
        )
    }) {
        return Vec::new();
    }
    let cwd = req.cwd.to_path_buf();
    let mut project_dir = cwd.clone();
    let mut build_file: Option<PathBuf> = None;
    let mut settings_file: Option<PathBuf> = None;
    let mut init_scripts: Vec<(PathBuf, Origin)> = Vec::new();
    let mut user_home: Option<PathBuf> = None;
    let mut offline = false;
    let mut out: Vec<Source> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            break;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a, None),
        };
        let value = |i: &mut usize| -> Option<String> {
            if let Some(v) = &inline {
                return Some(v.clone());
            }
            *i += 1;
            args.get(*i - 1).cloned()
        };
        match name {
            "-I" | "--init-script" => {
                if let Some(v) = value(&mut i) {
                    init_scripts.push((expand_path(&v, req, &cwd), Origin::flag(name)));
                }
            }
            "-p" | "--project-dir" => {
                if let Some(v) = value(&mut i) {
                    project_dir = expand_path(&v, req, &cwd);
                }
            }
            "-b" | "--build-file" => {
                if let Some(v) = value(&mut i) {
                    build_file = Some(expand_path(&v, req, &cwd));
                }
            }
            "-c" | "--settings-file" => {
                if let Some(v) = value(&mut i) {
                    settings_file = Some(expand_path(&v, req, &cwd));
                }
            }
            "-g" | "--gradle-user-home" => {
                if let Some(v) = value(&mut i) {
                    user_home = Some(expand_path(&v, req, &cwd));
                }
            }
            "--offline" => offline = true,
            "-D" | "--system-prop" => {
                if let Some(v) = value(&mut i) {
                    jvm_options(req, &[(format!("-D{v}"), Origin::flag(name))], &mut out);
                }
            }
            _ if a.starts_with("-D") && a.len() > 2 => {
                jvm_options(req, &[(a.to_string(), Origin::flag("-D"))], &mut out);
            }
            _ if GRADLE_VALUE_OPTS.contains(&name) && inline.is_none() => i += 1,
            _ => {}
        }
    }
    // The wrapper downloads Gradle itself first.
    if req.tool.name == "gradlew" {
        let root = cwd
            .ancestors()
            .take(64)
            .find(|d| req.files.exists(&d.join("gradle").join("wrapper")))
            .unwrap_or(&cwd)
            .to_path_buf();
        let p = root
            .join("gradle")
            .join("wrapper")
            .join("gradle-wrapper.properties");
        wrapper_urls(req, &p, &["distributionUrl"], &mut out);
    }
    // The JVMs gradle starts (its client and its daemon) and their options.
    jvm_env(req, &["GRADLE_OPTS", "JAVA_OPTS"], &mut out);
    let user_home = user_home
        .or_else(|| {
            req.env
                .get("GRADLE_USER_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| req.home.map(|h| h.join(".gradle")));
    let mut scripts: Vec<(PathBuf, String)> = Vec::new();
    let push_script = |p: &Path, scripts: &mut Vec<(PathBuf, String)>| {
        if scripts.iter().any(|(q, _)| q == p) || scripts.len() >= 512 {
            return;
        }
        if let Some(t) = req.files.read(p) {
            scripts.push((p.to_path_buf(), t));
        }
    };
    for (p, _) in &init_scripts {
        push_script(p, &mut scripts);
    }
    let mut init_dirs: Vec<PathBuf> = Vec::new();
    if let Some(h) = &user_home {
        for ext in ["gradle", "gradle.kts"] {
            push_script(&h.join(format!("init.{ext}")), &mut scripts);
        }
        init_dirs.push(h.join("init.d"));
    }
    if let Some(gh) = req
        .real_tool
        .and_then(|p| p.parent())
        .filter(|b| b.file_name().is_some_and(|n| n == "bin"))
        .and_then(|b| b.parent())
    {
        init_dirs.push(gh.join("init.d"));
    }
    for d in init_dirs {
        for p in super::apt::list_dir(&d) {
            let n = p.to_string_lossy();
            if n.ends_with(".gradle") || n.ends_with(".gradle.kts") {
                push_script(&p, &mut scripts);
            }
        }
    }
    // The root project: the settings file, searched upward.
    let (root, settings) = match &settings_file {
        Some(p) => (
            p.parent().unwrap_or(&cwd).to_path_buf(),
            req.files.read(p).map(|t| (p.clone(), t)),
        ),
        None => {
            let found = project_dir
                .ancestors()
                .take(64)
                .find_map(|d| gradle_script(req, d, "settings").map(|s| (d.to_path_buf(), s)));
            match found {
                Some((d, s)) => (d, Some(s)),
                None => (project_dir.clone(), None),
            }
        }
    };
    gradle_properties_jvm(req, &root, user_home.as_deref(), &mut out);
    if offline {
        return out;
    }
    let mut dirs: Vec<PathBuf> = vec![root.clone(), root.join("buildSrc")];
    if let Some((p, t)) = &settings {
        for inc in included_projects(t) {
            dirs.push(root.join(inc));
        }
        let mut builds = vec![root.clone()];
        for b in included_builds(t) {
            let d = normalize(&root.join(b));
            builds.push(d.clone());
            if let Some((sp, st)) = gradle_script(req, &d, "settings") {
                for inc in included_projects(&st) {
                    dirs.push(d.join(inc));
                }
                push_script(&sp, &mut scripts);
            }
            dirs.push(d);
        }
        push_script(p, &mut scripts);
    }
    if let Some((sp, _)) = gradle_script(req, &root.join("buildSrc"), "settings") {
        push_script(&sp, &mut scripts);
    }
    if let Some(b) = &build_file {
        push_script(b, &mut scripts);
    }
    if !dirs.contains(&project_dir) {
        dirs.push(project_dir.clone());
    }
    for d in dirs {
        if let Some((p, _)) = gradle_script(req, &d, "build") {
            push_script(&p, &mut scripts);
        }
    }
    let publish = verb == Verb::Publish;
    let mut any_repo = false;
    for (path, text) in &scripts {
        for f in scan_script(text) {
            if f.publishing && !publish {
                continue;
            }
            any_repo |= f.kind == SourceKind::Registry;
            let s = if f.value == "builtin" {
                Source::new(
                    f.kind,
                    f.value,
                    Origin::Builtin,
                    format!("{} at {}:{}", f.subject, path.display(), f.line),
                )
            } else {
                Source::new(f.kind, f.value, Origin::file(path, f.line), f.subject)
            };
            // The generated init script rewrites Maven repositories (not
            // Ivy ones, nor publishing targets).
            let forceable = f.kind == SourceKind::Registry && !f.ivy && !f.publishing;
            out.push(if forceable { s.overridable() } else { s });
        }
    }
    let _ = any_repo;
    out
}

// ---------------------------------------------------------------------------
// Forcing
// ---------------------------------------------------------------------------

pub(super) fn force(
    tool: &str,
    args: &[String],
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    let _ = approved;
    if tool.starts_with("gradle") {
        return Some(gradle_force(args, mirror, sources));
    }
    let mut overridden = Vec::new();
    let mut remaining = Vec::new();
    let mut global_ids: Vec<String> = Vec::new();
    let mut user_mirror_id: Option<String> = None;
    let mut user_settings: Option<PathBuf> = None;
    for s in sources {
        if s.subject == USER_SETTINGS && s.kind == SourceKind::Path {
            user_settings = Some(PathBuf::from(&s.value));
        }
        if let Some(rest) = s.subject.strip_prefix("global mirror ") {
            if let Some((id, _)) = rest.split_once(" of ") {
                global_ids.push(id.to_string());
            }
        }
        if let Some(rest) = s.subject.strip_prefix("user mirror ") {
            if let Some((id, _)) = rest.split_once(" of ") {
                if same_url(&s.value, mirror) {
                    user_mirror_id = Some(id.to_string());
                }
            }
        }
        let take = s.overridable && s.kind == SourceKind::Registry;
        if take {
            overridden.push(s.clone());
        } else {
            remaining.push(s.clone());
        }
    }
    // The user's settings as they are (servers, proxies, profiles), read
    // now: the file is not touched, a copy is passed to Maven.
    let user_text = user_settings.and_then(|p| {
        let meta = std::fs::metadata(&p).ok()?;
        if meta.len() > super::source::MAX_FILE {
            return None;
        }
        std::fs::read_to_string(p).ok()
    });
    let settings = generated_settings(
        user_text.as_deref(),
        mirror,
        user_mirror_id.as_deref().unwrap_or("pkgward-mirror"),
        &global_ids,
    );
    Some(Plan {
        insert_args: vec!["-s".into(), "{dir}/settings.xml".into()],
        insert_at: 0,
        files: vec![("settings.xml".into(), settings)],
        overridden,
        remaining,
        ..Plan::default()
    })
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// The settings file pkgward passes with `-s`: the user's own settings with
/// their `<mirrors>` replaced.
fn generated_settings(user: Option<&str>, mirror: &str, id: &str, global_ids: &[String]) -> String {
    let m = xml::escape(mirror);
    let mut mirrors = String::from("<mirrors>\n");
    mirrors.push_str(&format!(
        "    <!-- pkgward: every repository goes through the approved mirror -->\n    <mirror>\n      <id>{}</id>\n      <mirrorOf>*</mirrorOf>\n      <url>{m}</url>\n    </mirror>\n",
        xml::escape(id)
    ));
    for g in global_ids {
        if g == id {
            continue;
        }
        mirrors.push_str(&format!(
            "    <mirror>\n      <id>{}</id>\n      <mirrorOf>*</mirrorOf>\n      <url>{m}</url>\n    </mirror>\n",
            xml::escape(g)
        ));
    }
    mirrors.push_str("  </mirrors>");
    if let Some(text) = user {
        if xml::parse(text).is_some_and(|r| r.name == "settings") {
            let (spans, root_close) = xml::top_level_spans(text, "mirrors");
            let mut out = text.to_string();
            if let Some(&(first_start, _)) = spans.first() {
                for &(s, e) in spans.iter().skip(1).rev() {
                    out.replace_range(s..e, "");
                }
                let e = spans[0].1;
                out.replace_range(first_start..e, &mirrors);
                return out;
            }
            if let Some(at) = root_close {
                out.insert_str(at, &format!("  {mirrors}\n"));
                return out;
            }
        }
    }
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<settings>\n  {mirrors}\n</settings>\n")
}

fn gradle_force(args: &[String], mirror: &str, sources: &[Source]) -> Plan {
    let mut overridden = Vec::new();
    let mut remaining = Vec::new();
    for s in sources {
        if s.overridable && s.kind == SourceKind::Registry {
            overridden.push(s.clone());
        } else {
            remaining.push(s.clone());
        }
    }
    let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let _ = at;
    Plan {
        insert_args: vec!["-I".into(), "{dir}/mirror.gradle".into()],
        insert_at: 0,
        files: vec![("mirror.gradle".into(), gradle_init_script(mirror))],
        overridden,
        remaining,
        ..Plan::default()
    }
}

/// An init script that points every Maven repository (plugin, buildscript,
/// settings-level and project repositories) at the mirror.
fn gradle_init_script(mirror: &str) -> String {
    let quoted = mirror.replace('\\', "\\\\").replace('\'', "\\'");
    format!(
        r#"// Generated by pkgward: every Maven repository resolves through the approved mirror.
def pkgwardMirror = new URI('{quoted}')
def pkgwardRewrite = {{ repos ->
    repos.all {{ r ->
        if (r instanceof org.gradle.api.artifacts.repositories.MavenArtifactRepository) {{
            r.url = pkgwardMirror
            r.artifactUrls = [] as Set
            if (pkgwardMirror.scheme == 'http') {{
                try {{ r.allowInsecureProtocol = true }} catch (ignored) {{}}
            }}
        }}
    }}
}}
beforeSettings {{ settings ->
    pkgwardRewrite(settings.pluginManagement.repositories)
    pkgwardRewrite(settings.buildscript.repositories)
    try {{ pkgwardRewrite(settings.dependencyResolutionManagement.repositories) }} catch (ignored) {{}}
}}
allprojects {{ project ->
    pkgwardRewrite(project.buildscript.repositories)
    pkgwardRewrite(project.repositories)
}}
"#
    )
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
            cwd: Path::new("/w/proj"),
            home: Some(Path::new("/home/u")),
            real_tool: Some(Path::new("/usr/share/maven/bin/mvn")),
        };
        let v = verb(tool, &args);
        sources(&req, v)
    }

    fn has(got: &[Source], kind: SourceKind, value: &str, origin: &str) -> bool {
        got.iter()
            .any(|s| s.kind == kind && s.value == value && s.origin.to_string() == origin)
    }

    #[test]
    fn verbs() {
        let cases: &[(&str, &[&str], Verb)] = &[
            ("mvn", &["-v"], Verb::Other),
            ("mvn", &[], Verb::Other),
            ("mvn", &["-B", "package"], Verb::Install),
            ("mvn", &["-s", "x.xml", "dependency:resolve"], Verb::Install),
            ("mvn", &["clean", "deploy"], Verb::Publish),
            ("mvnw", &["-Dx=y", "verify"], Verb::Install),
            ("gradle", &["build"], Verb::Install),
            ("gradle", &["--version"], Verb::Other),
            ("gradlew", &["publish"], Verb::Publish),
            ("gradlew", &["publishToMavenLocal"], Verb::Install),
        ];
        for (tool, args, want) in cases {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert_eq!(verb(tool, &args), *want, "{tool} {args:?}");
        }
    }

    #[test]
    fn xml_reader_is_forgiving() {
        let r = xml::parse("<?xml version='1.0'?>\n<!DOCTYPE x [<!ENTITY a 'b'>]>\n<a x=\"1 &amp; 2\">\n<!-- <b>no</b> -->\n<b>t&lt;</b><c/><d><![CDATA[<raw>]]></d>\n</a>").unwrap();
        assert_eq!(r.name, "a");
        assert_eq!(r.attr("X"), Some("1 & 2"));
        assert_eq!(r.children.len(), 3);
        assert_eq!(r.text_of("b"), Some("t<"));
        assert_eq!(r.child("b").unwrap().line, 5);
        assert_eq!(r.text_of("d"), Some("<raw>"));
        for bad in [
            "",
            "<",
            "<a",
            "<a><b></a>",
            "</x>",
            "<a b='>",
            "<<<>>>",
            "<!--",
            "<![CDATA[x",
        ] {
            let _ = xml::parse(bad);
        }
    }

    const EVIL_SETTINGS: &str = "<settings>\n  <mirrors>\n    <mirror>\n      <id>corp</id>\n      <mirrorOf>central</mirrorOf>\n      <url>http://m.test/central</url>\n    </mirror>\n  </mirrors>\n  <profiles><profile><id>p</id>\n    <repositories><repository><id>r</id><url>http://p.test/repo</url></repository></repositories>\n  </profile></profiles>\n  <activeProfiles><activeProfile>p</activeProfile></activeProfiles>\n</settings>\n";

    #[test]
    fn maven_settings_pom_and_mirrors() {
        let pom = "<project>\n<properties><repo.url>http://prop.test/r</repo.url></properties>\n<repositories>\n<repository><id>a</id>\n<url>http://a.test/repo</url></repository>\n<repository><id>b</id><url>${repo.url}</url></repository>\n</repositories>\n<pluginRepositories><pluginRepository><id>c</id><url>http://c.test/p</url></pluginRepository></pluginRepositories>\n<modules><module>sub</module></modules>\n<distributionManagement><repository><id>d</id><url>http://d.test/rel</url></repository></distributionManagement>\n</project>";
        let sub = "<project><parent><relativePath>../pom.xml</relativePath></parent><repositories><repository><id>s</id><url>https://s.test/m2</url></repository></repositories></project>";
        let got = run(
            "mvn",
            &["install"],
            &[],
            &[
                ("/w/proj/pom.xml", pom),
                ("/w/proj/sub/pom.xml", sub),
                ("/home/u/.m2/settings.xml", EVIL_SETTINGS),
            ],
        );
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "http://a.test/repo",
                "/w/proj/pom.xml:5"
            ),
            "{got:#?}"
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://prop.test/r",
            "/w/proj/pom.xml:6"
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://c.test/p",
            "/w/proj/pom.xml:8"
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://s.test/m2",
            "/w/proj/sub/pom.xml:1"
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://p.test/repo",
            "/home/u/.m2/settings.xml:10"
        ));
        // central goes through the user's mirror, not builtin.
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://m.test/central",
            "/home/u/.m2/settings.xml:6"
        ));
        assert!(!got.iter().any(|s| s.value == "builtin"));
        // deployment targets only for deploy.
        assert!(!got.iter().any(|s| s.value == "http://d.test/rel"));
        let got = run("mvn", &["deploy"], &[], &[("/w/proj/pom.xml", pom)]);
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://d.test/rel",
            "/w/proj/pom.xml:10"
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "builtin",
            "the tool's built-in default"
        ));
    }

    #[test]
    fn maven_mirror_star_hides_pom_repositories_and_blocker_blocks_http() {
        let settings = "<settings><mirrors><mirror><id>all</id><mirrorOf>*</mirrorOf><url>https://corp.test/m2</url></mirror></mirrors></settings>";
        let pom = "<project><repositories><repository><id>x</id><url>http://x.test/</url></repository></repositories></project>";
        let got = run(
            "mvn",
            &["package"],
            &[],
            &[
                ("/w/proj/pom.xml", pom),
                ("/home/u/.m2/settings.xml", settings),
            ],
        );
        let regs: Vec<&str> = got
            .iter()
            .filter(|s| s.kind == SourceKind::Registry)
            .map(|s| s.value.as_str())
            .collect();
        assert_eq!(regs, ["https://corp.test/m2"]);
        // Maven's own http blocker (global settings) stops an http repository.
        let blocker = "<settings><mirrors><mirror><id>maven-default-http-blocker</id><mirrorOf>external:http:*</mirrorOf><url>http://0.0.0.0/</url><blocked>true</blocked></mirror></mirrors></settings>";
        let got = run(
            "mvn",
            &["package"],
            &[],
            &[
                ("/w/proj/pom.xml", pom),
                ("/usr/share/maven/conf/settings.xml", blocker),
            ],
        );
        assert!(
            !got.iter()
                .any(|s| s.value == "http://x.test/" && s.kind == SourceKind::Registry),
            "{got:#?}"
        );
        assert!(got.iter().any(|s| s.value == "builtin"));
    }

    /// JVM options that load code, wherever a JVM of mvn or gradle reads
    /// them (the scanner both share), and those that do not.
    #[test]
    fn jvm_options_that_load_code_for_mvn_and_gradle() {
        let exe = |got: &[Source], value: &str, origin: &str| {
            assert!(
                has(got, SourceKind::Executable, value, origin),
                "{value} from {origin}: {got:#?}"
            );
        };
        for tool in ["mvn", "gradle"] {
            let got = run(
                tool,
                &["build"],
                &[
                    ("JAVA_TOOL_OPTIONS", "-javaagent:/a.jar"),
                    ("JDK_JAVA_OPTIONS", "-Xmx1g @opts.txt"),
                ],
                &[
                    ("/w/proj/opts.txt", "# agent\n-XX:VMOptionsFile=vm.txt\n"),
                    ("/w/proj/vm.txt", "-Xbootclasspath/a:/b.jar\n"),
                ],
            );
            exe(&got, "/a.jar", "the environment variable JAVA_TOOL_OPTIONS");
            exe(&got, "/a:/b.jar", "/w/proj/vm.txt:1");
        }
        let got = run(
            "gradle",
            &["build", "-Dorg.gradle.jvmargs=-Xmx2g -agentpath:/c.so"],
            &[
                ("GRADLE_OPTS", "-Djava.system.class.loader=evil.Loader"),
                ("JAVA_OPTS", "-Djava.security.manager=evil.Manager -Xrunhprof"),
            ],
            &[
                ("/w/proj/settings.gradle", "rootProject.name = 'x'\n"),
                (
                    "/w/proj/gradle.properties",
                    "org.gradle.caching=true\norg.gradle.jvmargs=-Xmx1g -agentlib:jdwp=x\norg.gradle.java.home=tools/jdk\n",
                ),
                ("/home/u/.gradle/gradle.properties", "org.gradle.jvmargs=-javaagent\\:/d.jar\n"),
            ],
        );
        exe(&got, "/c.so", "the command-line flag -D");
        exe(&got, "evil.Loader", "the environment variable GRADLE_OPTS");
        exe(&got, "evil.Manager", "the environment variable JAVA_OPTS");
        exe(&got, "hprof", "the environment variable JAVA_OPTS");
        exe(&got, "jdwp=x", "/w/proj/gradle.properties:2");
        exe(&got, "tools/jdk", "/w/proj/gradle.properties:3");
        exe(&got, "/d.jar", "/home/u/.gradle/gradle.properties:1");
        // Options that load nothing themselves.
        let got = run(
            "gradle",
            &["build"],
            &[(
                "JAVA_TOOL_OPTIONS",
                "-XX:+EnableDynamicAgentLoading -Djava.security.manager=allow -Xmx1g",
            )],
            &[(
                "/w/proj/gradle.properties",
                "org.gradle.jvmargs=-Xmx2g -Dfile.encoding=UTF-8\norg.gradle.java.home=/usr/lib/jvm/java-17\n",
            )],
        );
        assert!(
            !got.iter().any(|s| s.kind == SourceKind::Executable),
            "{got:#?}"
        );
    }

    #[test]
    fn maven_arguments_config_and_env() {
        let got = run(
            "mvn",
            &[
                "-sother.xml",
                "-Dmaven.wagon.http.ssl.insecure=true",
                "dependency:get",
                "-DremoteRepositories=x::default::http://r.test/m2",
                "-o",
            ],
            &[("MAVEN_OPTS", "-Xmx1g -Dmaven.wagon.http.ssl.allowall=true")],
            &[],
        );
        assert!(
            has(
                &got,
                SourceKind::Insecure,
                "maven.wagon.http.ssl.insecure=true",
                "the command-line flag -D"
            ),
            "{got:#?}"
        );
        assert!(has(
            &got,
            SourceKind::Insecure,
            "-Dmaven.wagon.http.ssl.allowall=true",
            "the environment variable MAVEN_OPTS"
        ));
        assert!(has(
            &got,
            SourceKind::ExtraIndex,
            "http://r.test/m2",
            "the command-line flag -D"
        ));
        // .mvn/maven.config names the settings file.
        let got = run(
            "mvn",
            &["verify"],
            &[],
            &[
                ("/w/proj/.mvn/maven.config", "-B\n-s ci/settings.xml\n"),
                ("/w/proj/ci/settings.xml", EVIL_SETTINGS),
            ],
        );
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "http://m.test/central",
                "/w/proj/ci/settings.xml:6"
            ),
            "{got:#?}"
        );
        assert!(got
            .iter()
            .any(|s| s.kind == SourceKind::Path && s.value == "/w/proj/ci/settings.xml"));
    }

    #[test]
    fn maven_force_copies_user_settings() {
        let user = "<?xml version=\"1.0\"?>\n<settings>\n  <!-- <mirrors>x</mirrors> -->\n  <servers><server><id>corp</id><username>u</username></server></servers>\n  <mirrors><mirror><id>corp</id><mirrorOf>*</mirrorOf><url>http://evil.test/</url></mirror></mirrors>\n</settings>\n";
        let out = generated_settings(
            Some(user),
            "http://127.0.0.1:1/m2/",
            "pkgward-mirror",
            &["g1".into()],
        );
        assert!(out.contains("<servers><server><id>corp</id>"));
        assert!(!out.contains("evil.test"));
        assert!(out.contains("<!-- <mirrors>x</mirrors> -->"));
        assert!(out.contains("<id>g1</id>"));
        let r = xml::parse(&out).unwrap();
        assert_eq!(r.path(&["mirrors", "mirror"]).len(), 2);
        let none = generated_settings(None, "http://m/", "pkgward-mirror", &[]);
        assert!(xml::parse(&none).is_some_and(|r| r.path(&["mirrors", "mirror"]).len() == 1));
        let no_mirrors = generated_settings(
            Some("<settings><servers/></settings>"),
            "http://m/",
            "x",
            &[],
        );
        assert!(no_mirrors.contains("<servers/>") && no_mirrors.contains("<mirrorOf>*</mirrorOf>"));
    }

    #[test]
    fn gradle_scan() {
        let build = r#"
plugins { id 'java' }
repositories {
    mavenCentral()
    // maven { url "http://commented.test/" }
    maven { url "https://a.test/m2" }
    maven { url = uri("http://b.test/m2"); allowInsecureProtocol = true }
    maven("https://c.test/m2")
    ivy { url 'https://i.test/ivy' }
    flatDir { dirs 'libs' }
    maven { url = uri("$rootDir/local-repo") }
}
publishing { repositories { maven { url = "https://pub.test/" } } }
description = "see https://docs.test/"
"#;
        let got = run(
            "gradlew",
            &["build"],
            &[],
            &[
                ("/w/proj/build.gradle", build),
                (
                    "/w/proj/settings.gradle",
                    "pluginManagement { repositories { gradlePluginPortal() } }\ninclude ':app'\n",
                ),
                (
                    "/w/proj/app/build.gradle.kts",
                    "repositories {\n  maven(url = \"https://kts.test/\")\n}\n",
                ),
                (
                    "/w/proj/gradle/wrapper/gradle-wrapper.properties",
                    "distributionUrl=https\\://dist.test/gradle-8.0-bin.zip\n",
                ),
                (
                    "/home/u/.gradle/init.gradle",
                    "allprojects { repositories { maven { url 'https://init.test/' } } }",
                ),
            ],
        );
        let f = "/w/proj/build.gradle";
        let builtin_at = |at: &str| {
            got.iter()
                .any(|s| s.is_builtin() && s.subject.ends_with(&format!(" at {at}")))
        };
        assert!(builtin_at(&format!("{f}:4")), "{got:#?}");
        assert!(builtin_at("/w/proj/settings.gradle:1"));
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://a.test/m2",
            &format!("{f}:6")
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://b.test/m2",
            &format!("{f}:7")
        ));
        assert!(has(
            &got,
            SourceKind::Insecure,
            "allowInsecureProtocol = true",
            &format!("{f}:7")
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://c.test/m2",
            &format!("{f}:8")
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://i.test/ivy",
            &format!("{f}:9")
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://kts.test/",
            "/w/proj/app/build.gradle.kts:2"
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://init.test/",
            "/home/u/.gradle/init.gradle:1"
        ));
        assert!(has(
            &got,
            SourceKind::Direct,
            "https://dist.test/gradle-8.0-bin.zip",
            "/w/proj/gradle/wrapper/gradle-wrapper.properties:1"
        ));
        assert!(!got.iter().any(|s| s.value.contains("commented")
            || s.value.contains("docs.test")
            || s.value.contains("pub.test")));
        assert!(got
            .iter()
            .filter(|s| s.kind == SourceKind::Registry && s.value != "builtin")
            .all(|s| s.overridable != s.value.contains("i.test")));
        // Publishing targets count for publish tasks.
        let got = run(
            "gradle",
            &["publish"],
            &[],
            &[("/w/proj/build.gradle", build)],
        );
        assert!(got
            .iter()
            .any(|s| s.value == "https://pub.test/" && !s.overridable));
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let junk = [
            "<",
            "<settings><mirrors><mirror><url>",
            "{{{{",
            "\"",
            "'''",
            "repositories { maven { url \"",
            "include '",
            "${${${",
            "\u{0}\u{ffff}",
        ];
        for j in junk {
            for name in [
                "/w/proj/pom.xml",
                "/home/u/.m2/settings.xml",
                "/w/proj/build.gradle",
                "/w/proj/settings.gradle",
                "/w/proj/.mvn/maven.config",
            ] {
                let _ = run(
                    "mvn",
                    &["install", "-s", "x", "-D", "-P"],
                    &[],
                    &[(name, j)],
                );
                let _ = run("gradle", &["build", "-I"], &[], &[(name, j)]);
            }
        }
        let _ = run("mvn", &["-s"], &[("MAVEN_ARGS", "\"")], &[]);
    }
}
