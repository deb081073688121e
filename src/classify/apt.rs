//! apt, apt-get, yum, dnf.
//!
//! apt: the repositories are the entries of `Dir::Etc::SourceList`
//! (`/etc/apt/sources.list`) and of the `*.list` (one-line) and `*.sources`
//! (deb822) files in `Dir::Etc::SourceParts` (`/etc/apt/sources.list.d`).
//! Those settings, and the switches that weaken verification
//! (`Acquire::AllowInsecureRepositories`, `APT::Get::AllowUnauthenticated`,
//! `Acquire::https::Verify-Peer "false"`…; not `Check-Valid-Until "false"`,
//! which snapshot mirrors need and which keeps signatures checked), come from `$APT_CONFIG`, then
//! `apt.conf.d/*`, then `apt.conf`, then the command line (`-c FILE`,
//! `-o Key=Value`, `--allow-unauthenticated`, `--allow-insecure-repositories`)
//! in order, later winning. `[trusted=yes]`, `[allow-insecure=yes]`,
//! `[allow-weak=yes]`, `[allow-downgrade-to-insecure=yes]` (and the deb822
//! fields) are `Insecure`; `Enabled: no` entries are skipped; `file:`,
//! `cdrom:` and `copy:` entries are paths; `./pkg.deb` arguments too.
//!
//! Forcing (`[mirrors] apt`): a generated sources list where every entry
//! keeps its type, suite, components and options (less the insecure ones),
//! unapproved URIs replaced by the mirror, passed with
//! `-o Dir::Etc::SourceList={dir}/sources.list -o Dir::Etc::SourceParts=/dev/null`
//! appended (apt applies `-o` in order, after every config file), plus
//! `-o KEY=false` for each insecure switch a config file set.
//!
//! yum/dnf: the `[main]` section of `dnf.conf`/`yum.conf` (`-c`), its
//! `reposdir` (`/etc/yum.repos.d`, `/etc/yum/repos.d`, `/etc/distro.repos.d`)
//! `*.repo` files: each enabled repository's `baseurl`, `mirrorlist` and
//! `metalink`; `gpgcheck=0`/`sslverify=0` (repository or `[main]`) are
//! `Insecure`. The command line adds `--repofrompath=ID,URL`,
//! `--setopt=ID.baseurl=…`, `--setopt=[ID.]gpgcheck=0`, `--nogpgcheck`, and
//! selects with `--repo`, `--enablerepo`, `--disablerepo` (globs, in order).
//! Package arguments that are URLs are fetched directly. Not forced: a
//! single mirror URL cannot stand for several RPM repositories.

use std::path::{Path, PathBuf};

use super::source::{Origin, Source, SourceKind};
use super::{Plan, Request, Verb};

/// The entries of a configuration directory (`sources.list.d`, `init.d`…),
/// sorted. The one read outside `Request::files`: the `Files` trait has no
/// listing yet.
pub(super) fn list_dir(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .take(4096)
        .collect();
    v.sort();
    v
}

const APT_VALUE_OPTS: &[&str] = &[
    "-o",
    "--option",
    "-c",
    "--config-file",
    "-t",
    "--target-release",
    "--default-release",
    "-a",
    "--host-architecture",
    "-P",
    "--build-profiles",
];

const DNF_VALUE_OPTS: &[&str] = &[
    "-c",
    "--config",
    "--installroot",
    "--releasever",
    "-d",
    "--debuglevel",
    "-e",
    "--errorlevel",
    "-x",
    "--exclude",
    "--repo",
    "--repoid",
    "--enablerepo",
    "--disablerepo",
    "--setopt",
    "--repofrompath",
    "--forcearch",
    "--downloaddir",
    "--destdir",
    "--rpmverbosity",
    "-R",
    "--randomwait",
    "--color",
    "--comment",
    "--advisory",
    "--bz",
    "--cve",
    "--sec-severity",
    "--secseverity",
];

fn command_word<'a>(args: &'a [String], value_opts: &[&str]) -> Option<(usize, &'a str)> {
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a.starts_with('-') {
            if value_opts.contains(&a) {
                i += 1;
            }
            i += 1;
            continue;
        }
        return Some((i, a));
    }
    None
}

fn is_dnf(tool: &str) -> bool {
    tool == "yum" || tool == "dnf"
}

pub(super) fn verb(tool: &str, args: &[String]) -> Verb {
    if is_dnf(tool) {
        let cmd = command_word(args, DNF_VALUE_OPTS).map(|(_, c)| c);
        let second = command_word(args, DNF_VALUE_OPTS)
            .and_then(|(i, _)| args.get(i + 1))
            .map(String::as_str);
        return match cmd {
            Some(
                "install"
                | "in"
                | "localinstall"
                | "reinstall"
                | "rei"
                | "upgrade"
                | "up"
                | "update"
                | "update-to"
                | "upgrade-to"
                | "upgrade-minimal"
                | "up-min"
                | "downgrade"
                | "dg"
                | "distro-sync"
                | "dsync"
                | "distribution-synchronization"
                | "makecache"
                | "mc"
                | "groupinstall"
                | "groupupdate"
                | "swap"
                | "builddep"
                | "build-dep"
                | "download"
                | "remove"
                | "rm"
                | "erase"
                | "autoremove",
            ) => Verb::Install,
            Some("group" | "groups" | "module") => match second {
                Some("install" | "upgrade" | "update" | "enable" | "switch-to" | "remove") => {
                    Verb::Install
                }
                _ => Verb::Other,
            },
            _ => Verb::Other,
        };
    }
    match command_word(args, APT_VALUE_OPTS).map(|(_, c)| c) {
        Some(
            "install" | "reinstall" | "upgrade" | "dist-upgrade" | "full-upgrade" | "update"
            | "source" | "build-dep" | "download" | "satisfy" | "remove" | "purge" | "autoremove"
            | "auto-remove" | "autopurge" | "dselect-upgrade",
        ) => Verb::Install,
        _ => Verb::Other,
    }
}

pub(super) fn sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    if is_dnf(req.tool.name) {
        dnf_sources(req, verb)
    } else {
        apt_sources(req, verb)
    }
}

// ---------------------------------------------------------------------------
// apt
// ---------------------------------------------------------------------------

/// apt configuration values (keys lower-cased), later entries winning.
#[derive(Default)]
struct AptConf {
    values: Vec<(String, String, Origin)>,
}

impl AptConf {
    fn get(&self, key: &str) -> Option<(&str, &Origin)> {
        let key = key.to_ascii_lowercase();
        self.values
            .iter()
            .rev()
            .find(|(k, _, _)| *k == key)
            .map(|(_, v, o)| (v.as_str(), o))
    }

    fn set(&mut self, key: &str, value: &str, origin: Origin) {
        self.values
            .push((key.trim().to_ascii_lowercase(), value.to_string(), origin));
    }
}

/// Parses apt.conf syntax: `A::B "v";`, `A { B "v"; };`, comments, `#include`.
fn apt_conf(req: &Request<'_>, path: &Path, conf: &mut AptConf, depth: usize) {
    if depth > 8 {
        return;
    }
    let Some(text) = req.files.read(path) else {
        return;
    };
    // Tokens with lines: words, strings, braces, semicolons.
    let mut toks: Vec<(String, bool, usize)> = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let (mut i, mut line) = (0usize, 1usize);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                if chars[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
            i += 2;
        } else if c == '#' {
            let start = i;
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            let directive: String = chars[start..i].iter().collect();
            if let Some(rest) = directive.strip_prefix("#include") {
                let f = rest.trim().trim_end_matches(';').trim().trim_matches('"');
                let p = path.parent().unwrap_or(Path::new("/")).join(f);
                apt_conf(req, &p, conf, depth + 1);
            }
        } else if c == '"' {
            let start_line = line;
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\n' {
                    line += 1;
                }
                s.push(chars[i]);
                i += 1;
            }
            i += 1;
            toks.push((s, true, start_line));
        } else if matches!(c, '{' | '}' | ';') {
            toks.push((c.to_string(), false, line));
            i += 1;
        } else {
            let start = i;
            while i < chars.len()
                && !chars[i].is_whitespace()
                && !matches!(chars[i], '{' | '}' | ';' | '"')
            {
                i += 1;
            }
            toks.push((chars[start..i].iter().collect(), false, line));
        }
    }
    let mut scope: Vec<String> = Vec::new();
    let mut key: Option<String> = None;
    for (t, quoted, l) in toks {
        match (t.as_str(), quoted) {
            ("{", false) => {
                if let Some(k) = key.take() {
                    scope.push(k);
                }
            }
            ("}", false) => {
                scope.pop();
                key = None;
            }
            (";", false) => key = None,
            (_, true) | (_, false) if key.is_some() => {
                let k = key.take().unwrap_or_default();
                let full = scope
                    .iter()
                    .chain(std::iter::once(&k))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("::");
                conf.set(&full, &t, Origin::file(path, l));
                key = Some(k);
            }
            (_, true) => {}
            (w, false) => key = Some(w.to_string()),
        }
    }
}

/// Joins apt directory settings: an absolute value stands alone.
fn apt_join(base: &Path, value: &str) -> PathBuf {
    let p = Path::new(value);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(value)
    }
}

fn apt_dir(conf: &AptConf, key: &str, default: &str) -> PathBuf {
    let root = conf.get("Dir").map(|(v, _)| v).unwrap_or("/");
    let etc = apt_join(
        Path::new(root),
        conf.get("Dir::Etc").map(|(v, _)| v).unwrap_or("etc/apt/"),
    );
    apt_join(&etc, conf.get(key).map(|(v, _)| v).unwrap_or(default))
}

/// apt switches that weaken verification, with the value that does it.
const APT_INSECURE: &[(&str, &str)] = &[
    ("Acquire::AllowInsecureRepositories", "true"),
    ("Acquire::AllowDowngradeToInsecureRepositories", "true"),
    ("Acquire::AllowWeakRepositories", "true"),
    ("APT::Get::AllowUnauthenticated", "true"),
    ("Acquire::https::Verify-Peer", "false"),
    ("Acquire::https::Verify-Host", "false"),
];

fn is_true(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "yes" | "1" | "on" | "with" | "enable"
    )
}

fn is_false(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "false" | "no" | "0" | "off" | "without" | "disable"
    )
}

/// Options of a source entry that weaken verification.
const ENTRY_INSECURE: &[&str] = &[
    "trusted",
    "allow-insecure",
    "allow-weak",
    "allow-downgrade-to-insecure",
];

/// One source entry: `TYPE [OPTIONS] URI SUITE [COMPONENTS]`.
struct Entry {
    typ: String,
    options: Vec<(String, String)>,
    uri: String,
    suite: String,
    components: Vec<String>,
    origin: Origin,
}

impl Entry {
    /// The entry without its URI (the subject of its source).
    fn subject(&self) -> String {
        let mut s = self.typ.clone();
        if !self.options.is_empty() {
            let opts: Vec<String> = self
                .options
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            s.push_str(&format!(" [{}]", opts.join(" ")));
        }
        s.push(' ');
        s.push_str(&self.suite);
        for c in &self.components {
            s.push(' ');
            s.push_str(c);
        }
        s
    }
}

fn one_line(text: &str, path: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (typ, rest) = match line.split_once(char::is_whitespace) {
            Some((t, r)) => (t, r.trim_start()),
            None => continue,
        };
        if typ != "deb" && typ != "deb-src" {
            continue;
        }
        let (options, rest) = match rest.strip_prefix('[') {
            Some(r) => match r.split_once(']') {
                Some((o, rest)) => (
                    o.split_whitespace()
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                        .collect(),
                    rest,
                ),
                None => continue,
            },
            None => (Vec::new(), rest),
        };
        let mut words = rest.split_whitespace();
        let Some(uri) = words.next() else { continue };
        let suite = words.next().unwrap_or("").to_string();
        out.push(Entry {
            typ: typ.to_string(),
            options,
            uri: uri.to_string(),
            suite,
            components: words.map(str::to_string).collect(),
            origin: Origin::file(path, i + 1),
        });
    }
    out
}

fn deb822(text: &str, path: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut fields: Vec<(String, String, usize)> = Vec::new();
    let mut flush = |fields: &mut Vec<(String, String, usize)>| {
        let get = |n: &str| {
            fields
                .iter()
                .find(|(k, _, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v, l)| (v.as_str(), *l))
        };
        let enabled = get("Enabled").is_none_or(|(v, _)| !is_false(v));
        if enabled {
            let (uris, line) = get("URIs").unwrap_or(("", 0));
            let types = get("Types").map(|t| t.0).unwrap_or("deb");
            let suites = get("Suites").map(|t| t.0).unwrap_or("");
            let comps: Vec<String> = get("Components")
                .map(|t| t.0)
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string)
                .collect();
            let mut options = Vec::new();
            for (k, v, _) in fields.iter() {
                let lk = k.to_ascii_lowercase();
                if ENTRY_INSECURE.contains(&lk.as_str())
                    || matches!(lk.as_str(), "signed-by" | "architectures" | "languages")
                {
                    let name = if lk == "architectures" {
                        "arch".into()
                    } else {
                        lk
                    };
                    // An inline key block is not an option value.
                    if !v.contains('\n') {
                        options.push((name, v.replace(' ', ",")));
                    }
                }
            }
            for typ in types.split_whitespace() {
                for uri in uris.split_whitespace() {
                    for suite in suites.split_whitespace() {
                        out.push(Entry {
                            typ: typ.to_string(),
                            options: options.clone(),
                            uri: uri.to_string(),
                            suite: suite.to_string(),
                            components: comps.clone(),
                            origin: Origin::file(path, line),
                        });
                    }
                }
            }
        }
        fields.clear();
    };
    for (i, raw) in text.lines().enumerate() {
        if raw.trim_start().starts_with('#') {
            continue;
        }
        if raw.trim().is_empty() {
            flush(&mut fields);
            continue;
        }
        if raw.starts_with(' ') || raw.starts_with('\t') {
            if let Some(last) = fields.last_mut() {
                last.1.push('\n');
                last.1.push_str(raw.trim());
            }
            continue;
        }
        if let Some((k, v)) = raw.split_once(':') {
            fields.push((k.trim().to_string(), v.trim().to_string(), i + 1));
        }
    }
    flush(&mut fields);
    out
}

fn valid_part_name(p: &Path, ext: &str) -> bool {
    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        n.ends_with(ext)
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    })
}

fn apt_sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let args = req.args;
    let mut out = Vec::new();
    let mut conf = AptConf::default();
    // Config files: APT_CONFIG, apt.conf.d, apt.conf.
    if let Some(f) = req.env.get("APT_CONFIG").filter(|f| !f.is_empty()) {
        apt_conf(req, Path::new(&f), &mut conf, 0);
    }
    let parts = apt_dir(&conf, "Dir::Etc::parts", "apt.conf.d");
    for p in list_dir(&parts) {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            && !name.ends_with(".dpkg-old")
            && !name.ends_with(".dpkg-dist")
        {
            apt_conf(req, &p, &mut conf, 0);
        }
    }
    let main = apt_dir(&conf, "Dir::Etc::main", "apt.conf");
    apt_conf(req, &main, &mut conf, 0);
    let from_files = conf.values.len();
    // The command line, in order.
    let mut i = 0;
    let mut positional: Vec<&String> = Vec::new();
    while i < args.len() {
        let a = &args[i];
        i += 1;
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
        match name {
            "-o" | "--option" => {
                if let Some(kv) = value(&mut i) {
                    if let Some((k, v)) = kv.split_once('=') {
                        conf.set(k, v, Origin::flag(format!("-o {k}")));
                    }
                }
            }
            _ if name.starts_with("-o") && name.len() > 2 && !name.starts_with("--") => {
                if let Some((k, v)) = name[2..].split_once('=') {
                    conf.set(k, v, Origin::flag(format!("-o {k}")));
                }
            }
            "-c" | "--config-file" => {
                if let Some(f) = value(&mut i) {
                    apt_conf(req, &req.cwd.join(f), &mut conf, 0);
                }
            }
            "--allow-unauthenticated" => {
                conf.set("APT::Get::AllowUnauthenticated", "true", Origin::flag(name))
            }
            "--allow-insecure-repositories" => conf.set(
                "Acquire::AllowInsecureRepositories",
                "true",
                Origin::flag(name),
            ),
            "--allow-downgrades" | "--allow-remove-essential" | "--allow-change-held-packages" => {}
            _ if APT_VALUE_OPTS.contains(&name) && inline.is_none() => i += 1,
            _ if !a.starts_with('-') => positional.push(a),
            _ => {}
        }
    }
    for (key, bad) in APT_INSECURE {
        if let Some((v, o)) = conf.get(key) {
            let weak = if *bad == "true" {
                is_true(v)
            } else {
                is_false(v)
            };
            if weak {
                let s = Source::new(SourceKind::Insecure, v, o.clone(), *key);
                // A config file's switch can be set back with a later `-o`.
                let from_file = conf
                    .values
                    .iter()
                    .rposition(|(k, _, _)| *k == key.to_ascii_lowercase())
                    .is_some_and(|at| at < from_files);
                out.push(if from_file { s.overridable() } else { s });
            }
        }
    }
    // The sources lists.
    let list = apt_dir(&conf, "Dir::Etc::SourceList", "sources.list");
    let parts = apt_dir(&conf, "Dir::Etc::SourceParts", "sources.list.d");
    let mut entries = Vec::new();
    if let Some(t) = req.files.read(&list) {
        entries.extend(one_line(&t, &list));
    }
    if !parts.ends_with("/dev/null") {
        for p in list_dir(&parts) {
            if valid_part_name(&p, ".list") {
                if let Some(t) = req.files.read(&p) {
                    entries.extend(one_line(&t, &p));
                }
            } else if valid_part_name(&p, ".sources") {
                if let Some(t) = req.files.read(&p) {
                    entries.extend(deb822(&t, &p));
                }
            }
        }
    }
    for e in &entries {
        let lower = e.uri.to_ascii_lowercase();
        let kind = if ["file:", "cdrom:", "copy:"]
            .iter()
            .any(|p| lower.starts_with(p))
        {
            SourceKind::Path
        } else {
            SourceKind::Registry
        };
        out.push(Source::new(kind, e.uri.clone(), e.origin.clone(), e.subject()).overridable());
        for (k, v) in &e.options {
            if ENTRY_INSECURE.contains(&k.as_str()) && is_true(v) {
                out.push(
                    Source::new(
                        SourceKind::Insecure,
                        format!("{k}={v} for {}", e.uri),
                        e.origin.clone(),
                        k.clone(),
                    )
                    .overridable(),
                );
            }
        }
    }
    if verb == Verb::Install {
        for p in positional.into_iter().skip(1) {
            let l = p.to_ascii_lowercase();
            if l.contains("://") {
                out.push(Source::new(
                    SourceKind::Direct,
                    p.clone(),
                    Origin::arg(p.clone()),
                    "",
                ));
            } else if l.ends_with(".deb") || l.starts_with('.') || l.starts_with('/') {
                out.push(Source::new(
                    SourceKind::Path,
                    p.clone(),
                    Origin::arg(p.clone()),
                    "",
                ));
            }
        }
    }
    out
}

/// Rebuilds a source entry from its subject and URI.
fn entry_line(subject: &str, uri: &str) -> String {
    let (typ, rest) = subject.split_once(' ').unwrap_or((subject, ""));
    let (opts, rest) = match rest.strip_prefix('[') {
        Some(r) => r.split_once("] ").unwrap_or((r.trim_end_matches(']'), "")),
        None => ("", rest),
    };
    let kept: Vec<&str> = opts
        .split_whitespace()
        .filter(|kv| {
            let k = kv.split('=').next().unwrap_or("");
            !ENTRY_INSECURE.contains(&k)
        })
        .collect();
    if kept.is_empty() {
        format!("{typ} {uri} {rest}")
    } else {
        format!("{typ} [{}] {uri} {rest}", kept.join(" "))
    }
}

pub(super) fn force(
    tool: &str,
    args: &[String],
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    if is_dnf(tool) {
        return None;
    }
    let mut overridden = Vec::new();
    let mut remaining = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    let mut insert_args: Vec<String> = Vec::new();
    for s in sources {
        if !s.overridable {
            remaining.push(s.clone());
            continue;
        }
        match s.kind {
            SourceKind::Registry | SourceKind::Path => {
                let uri = if s.kind == SourceKind::Registry && !approved(s) {
                    overridden.push(s.clone());
                    mirror.to_string()
                } else {
                    remaining.push(s.clone());
                    s.value.clone()
                };
                let l = entry_line(&s.subject, &uri);
                if !lines.contains(&l) {
                    lines.push(l);
                }
            }
            SourceKind::Insecure => {
                overridden.push(s.clone());
                if s.subject.contains("::") {
                    insert_args.push("-o".into());
                    let v = APT_INSECURE.iter().find(|(k, _)| *k == s.subject).map_or(
                        "false",
                        |(_, bad)| if *bad == "true" { "false" } else { "true" },
                    );
                    insert_args.push(format!("{}={v}", s.subject));
                }
            }
            _ => remaining.push(s.clone()),
        }
    }
    if lines.is_empty() {
        return None;
    }
    let mut text = String::from(
        "# Generated by pkgward: unapproved repositories go through the approved mirror.\n",
    );
    for l in &lines {
        text.push_str(l.trim_end());
        text.push('\n');
    }
    insert_args.extend([
        "-o".to_string(),
        "Dir::Etc::SourceList={dir}/sources.list".to_string(),
        "-o".to_string(),
        "Dir::Etc::SourceParts=/dev/null".to_string(),
    ]);
    Some(Plan {
        insert_args,
        insert_at: args.len(),
        files: vec![("sources.list".into(), text)],
        overridden,
        remaining,
        ..Plan::default()
    })
}

// ---------------------------------------------------------------------------
// yum / dnf
// ---------------------------------------------------------------------------

/// Shell-style globs (`*`, `?`) as dnf matches repository ids.
fn glob(pattern: &str, s: &str) -> bool {
    fn rec(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => rec(&p[1..], s) || (!s.is_empty() && rec(p, &s[1..])),
            (Some(b'?'), Some(_)) => rec(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => rec(&p[1..], &s[1..]),
            _ => false,
        }
    }
    rec(pattern.as_bytes(), s.as_bytes())
}

struct Repo {
    id: String,
    enabled: bool,
    urls: Vec<(String, String, Origin)>,
    insecure: Vec<(String, String, Origin)>,
}

fn split_urls(v: &str) -> Vec<String> {
    v.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn dnf_sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let args = req.args;
    let mut out = Vec::new();
    // Command line first pass: config file, setopts, repo selection.
    let mut config: Option<PathBuf> = None;
    let mut setopts: Vec<(String, String)> = Vec::new();
    let mut selection: Vec<(bool, String)> = Vec::new();
    let mut only: Option<Vec<String>> = None;
    let mut from_path: Vec<(String, String)> = Vec::new();
    let mut positional: Vec<&String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
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
        match name {
            "-c" | "--config" => config = value(&mut i).map(|v| req.cwd.join(v)),
            "--setopt" => {
                if let Some(kv) = value(&mut i) {
                    if let Some((k, v)) = kv.split_once('=') {
                        setopts.push((k.trim().to_string(), v.to_string()));
                    }
                }
            }
            "--enablerepo" | "--disablerepo" => {
                if let Some(v) = value(&mut i) {
                    for r in v.split(',').filter(|r| !r.is_empty()) {
                        selection.push((name == "--enablerepo", r.to_string()));
                    }
                }
            }
            "--repo" | "--repoid" => {
                if let Some(v) = value(&mut i) {
                    only.get_or_insert_with(Vec::new)
                        .extend(v.split(',').map(str::to_string));
                }
            }
            "--repofrompath" => {
                if let Some(v) = value(&mut i) {
                    if let Some((id, url)) = v.split_once(',') {
                        from_path.push((id.to_string(), url.to_string()));
                    }
                }
            }
            "--nogpgcheck" => out.push(Source::new(
                SourceKind::Insecure,
                "--nogpgcheck",
                Origin::flag(name),
                "gpgcheck",
            )),
            _ if DNF_VALUE_OPTS.contains(&name) && inline.is_none() => i += 1,
            _ if !a.starts_with('-') => positional.push(a),
            _ => {}
        }
    }
    let main_files: Vec<PathBuf> = match config {
        Some(c) => vec![c],
        None if req.tool.name == "yum" => vec![PathBuf::from("/etc/yum.conf")],
        None => vec![PathBuf::from("/etc/dnf/dnf.conf")],
    };
    let mut repos: Vec<Repo> = Vec::new();
    let mut main_gpg: Option<(String, Origin)> = None;
    let mut main_ssl: Option<(String, Origin)> = None;
    let mut reposdir: Vec<PathBuf> = [
        "/etc/yum.repos.d",
        "/etc/yum/repos.d",
        "/etc/distro.repos.d",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    let mut ini_files: Vec<PathBuf> = Vec::new();
    for f in &main_files {
        if let Some(t) = req.files.read(f) {
            for e in super::ini::parse(&t) {
                if e.section == "main" {
                    let o = Origin::file(f, e.line);
                    match e.key.as_str() {
                        "gpgcheck" => main_gpg = Some((e.value.clone(), o)),
                        "sslverify" => main_ssl = Some((e.value.clone(), o)),
                        "reposdir" => {
                            reposdir = split_urls(&e.value)
                                .into_iter()
                                .map(PathBuf::from)
                                .collect()
                        }
                        _ => {}
                    }
                }
            }
            ini_files.push(f.clone());
        }
    }
    for (k, v) in &setopts {
        match k.as_str() {
            "reposdir" => reposdir = split_urls(v).into_iter().map(PathBuf::from).collect(),
            "gpgcheck" => main_gpg = Some((v.clone(), Origin::flag(format!("--setopt={k}")))),
            "sslverify" => main_ssl = Some((v.clone(), Origin::flag(format!("--setopt={k}")))),
            _ => {}
        }
    }
    for d in &reposdir {
        for p in list_dir(d) {
            if p.extension().is_some_and(|e| e == "repo") {
                ini_files.push(p);
            }
        }
    }
    for f in &ini_files {
        let Some(t) = req.files.read(f) else { continue };
        for e in super::ini::parse(&t) {
            if e.section == "main" || e.section.is_empty() {
                continue;
            }
            let at = match repos.iter().position(|r| r.id == e.section) {
                Some(at) => at,
                None => {
                    repos.push(Repo {
                        id: e.section.clone(),
                        enabled: true,
                        urls: Vec::new(),
                        insecure: Vec::new(),
                    });
                    repos.len() - 1
                }
            };
            let r = &mut repos[at];
            let o = Origin::file(f, e.line);
            match e.key.as_str() {
                "enabled" => r.enabled = !is_false(&e.value),
                "baseurl" | "mirrorlist" | "metalink" => {
                    for u in split_urls(&e.value) {
                        r.urls.push((e.key.clone(), u, o.clone()));
                    }
                }
                "gpgcheck" | "sslverify" => r.insecure.push((e.key.clone(), e.value.clone(), o)),
                _ => {}
            }
        }
    }
    for (id, url) in from_path {
        repos.push(Repo {
            id: id.clone(),
            enabled: true,
            urls: vec![("baseurl".into(), url, Origin::flag("--repofrompath"))],
            insecure: Vec::new(),
        });
        selection.push((true, id));
    }
    // --setopt=ID.key=value (ID may be a glob).
    for (k, v) in &setopts {
        let Some((pat, key)) = k.rsplit_once('.') else {
            continue;
        };
        for r in repos.iter_mut().filter(|r| glob(pat, &r.id)) {
            let o = Origin::flag(format!("--setopt={k}"));
            match key {
                "baseurl" | "mirrorlist" | "metalink" => {
                    r.urls.retain(|(kk, _, _)| kk != key);
                    for u in split_urls(v) {
                        r.urls.push((key.to_string(), u, o.clone()));
                    }
                }
                "enabled" => r.enabled = !is_false(v),
                "gpgcheck" | "sslverify" => r.insecure.push((key.to_string(), v.clone(), o)),
                _ => {}
            }
        }
    }
    if let Some(ids) = &only {
        for r in repos.iter_mut() {
            r.enabled = ids.iter().any(|p| glob(p, &r.id));
        }
    }
    for (enable, pat) in &selection {
        for r in repos.iter_mut().filter(|r| glob(pat, &r.id)) {
            r.enabled = *enable;
        }
    }
    for r in repos.iter().filter(|r| r.enabled) {
        for (key, url, o) in &r.urls {
            let kind = if url.to_ascii_lowercase().starts_with("file:") {
                SourceKind::Path
            } else {
                SourceKind::Registry
            };
            out.push(Source::new(
                kind,
                url.clone(),
                o.clone(),
                format!("{key} of {}", r.id),
            ));
        }
        for key in ["gpgcheck", "sslverify"] {
            let own = r.insecure.iter().rev().find(|(k, _, _)| k == key);
            let (v, o) = match own {
                Some((_, v, o)) => (v.clone(), o.clone()),
                None => match (key, &main_gpg, &main_ssl) {
                    ("gpgcheck", Some((v, o)), _) | ("sslverify", _, Some((v, o))) => {
                        (v.clone(), o.clone())
                    }
                    _ => continue,
                },
            };
            if is_false(&v) {
                out.push(Source::new(
                    SourceKind::Insecure,
                    format!("{key}={v} for {}", r.id),
                    o,
                    key,
                ));
            }
        }
    }
    if verb == Verb::Install {
        for p in positional.into_iter().skip(1) {
            let l = p.to_ascii_lowercase();
            if l.contains("://") {
                out.push(Source::new(
                    SourceKind::Direct,
                    p.clone(),
                    Origin::arg(p.clone()),
                    "",
                ));
            } else if l.ends_with(".rpm") || l.starts_with('.') || l.starts_with('/') {
                out.push(Source::new(
                    SourceKind::Path,
                    p.clone(),
                    Origin::arg(p.clone()),
                    "",
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::source::fake::{FakeEnv, FakeFiles};
    use crate::classify::source::RealFiles;
    use crate::classify::Files;
    use crate::tools::Tool;
    use std::collections::BTreeMap;

    fn run_with(tool: &str, args: &[&str], env: &[(&str, &str)], files: &dyn Files) -> Vec<Source> {
        let env = FakeEnv(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let req = Request {
            tool: Tool::by_name(tool).unwrap(),
            args: &args,
            env: &env,
            files,
            cwd: Path::new("/w"),
            home: Some(Path::new("/home/u")),
            real_tool: None,
        };
        sources(&req, verb(tool, &args))
    }

    fn run(tool: &str, args: &[&str], env: &[(&str, &str)], files: &[(&str, &str)]) -> Vec<Source> {
        let files = FakeFiles(
            files
                .iter()
                .map(|(p, t)| (PathBuf::from(p), t.to_string()))
                .collect::<BTreeMap<_, _>>(),
        );
        run_with(tool, args, env, &files)
    }

    fn has(got: &[Source], kind: SourceKind, value: &str, origin: &str) -> bool {
        got.iter()
            .any(|s| s.kind == kind && s.value == value && s.origin.to_string() == origin)
    }

    #[test]
    fn verbs() {
        let cases: &[(&str, &[&str], Verb)] = &[
            ("apt-get", &["-y", "install", "curl"], Verb::Install),
            ("apt", &["update"], Verb::Install),
            ("apt", &["-o", "Debug::X=1", "search", "x"], Verb::Other),
            ("apt-get", &["source", "x"], Verb::Install),
            ("dnf", &["in", "x"], Verb::Install),
            ("yum", &["-y", "--enablerepo", "x", "update"], Verb::Install),
            ("dnf", &["group", "install", "x"], Verb::Install),
            ("dnf", &["repolist"], Verb::Other),
        ];
        for (tool, args, want) in cases {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert_eq!(verb(tool, &args), *want, "{tool} {args:?}");
        }
    }

    #[test]
    fn apt_lists_options_and_config() {
        let list = "# main\ndeb http://a.test/debian bookworm main contrib\ndeb-src [arch=amd64 trusted=yes] http://b.test/x stable main # c\ndeb file:/srv/repo ./\n";
        let conf = "APT {\n  Get {\n    AllowUnauthenticated \"true\";\n  };\n};\nDir::Etc::SourceParts \"/nonexistent-parts\";\n";
        let got = run(
            "apt-get",
            &["install", "-y", "./local.deb", "curl"],
            &[("APT_CONFIG", "/cfg/apt.conf")],
            &[("/etc/apt/sources.list", list), ("/cfg/apt.conf", conf)],
        );
        let f = "/etc/apt/sources.list";
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "http://a.test/debian",
                &format!("{f}:2")
            ),
            "{got:#?}"
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://b.test/x",
            &format!("{f}:3")
        ));
        assert!(has(
            &got,
            SourceKind::Insecure,
            "trusted=yes for http://b.test/x",
            &format!("{f}:3")
        ));
        assert!(has(
            &got,
            SourceKind::Path,
            "file:/srv/repo",
            &format!("{f}:4")
        ));
        assert!(has(&got, SourceKind::Insecure, "true", "/cfg/apt.conf:3"));
        assert!(has(
            &got,
            SourceKind::Path,
            "./local.deb",
            "the command-line argument `./local.deb`"
        ));
        // -o on the command line: a different list, an insecure switch.
        let got = run(
            "apt-get",
            &[
                "update",
                "-o",
                "Dir::Etc::SourceList=/o/alt.list",
                "--allow-insecure-repositories",
            ],
            &[],
            &[
                ("/etc/apt/sources.list", list),
                ("/o/alt.list", "deb https://c.test/ x main\n"),
            ],
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://c.test/",
            "/o/alt.list:1"
        ));
        assert!(!got.iter().any(|s| s.value == "http://a.test/debian"));
        assert!(got
            .iter()
            .any(|s| s.kind == SourceKind::Insecure && !s.overridable));
    }

    #[test]
    fn apt_parts_directory_with_deb822() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.list"), "deb https://one.test/ stable main\n").unwrap();
        std::fs::write(
            d.join("b.sources"),
            "Types: deb deb-src\nURIs: https://two.test/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/x.gpg\n\nTypes: deb\nURIs: http://three.test/\nSuites: x\nTrusted: yes\n\nEnabled: no\nTypes: deb\nURIs: http://off.test/\nSuites: x\n",
        )
        .unwrap();
        std::fs::write(d.join("ignored.txt"), "deb http://no.test/ x y\n").unwrap();
        let opt = format!("Dir::Etc::SourceParts={}", d.display());
        let got = run_with(
            "apt",
            &[
                "update",
                "-o",
                &opt,
                "-o",
                "Dir::Etc::SourceList=/nonexistent",
            ],
            &[],
            &RealFiles,
        );
        let b = d.join("b.sources").display().to_string();
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "https://one.test/",
                &format!("{}:1", d.join("a.list").display())
            ),
            "{got:#?}"
        );
        assert_eq!(
            got.iter()
                .filter(|s| s.value == "https://two.test/debian")
                .count(),
            4
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://two.test/debian",
            &format!("{b}:2")
        ));
        assert!(has(
            &got,
            SourceKind::Insecure,
            "trusted=yes for http://three.test/",
            &format!("{b}:8")
        ));
        assert!(!got
            .iter()
            .any(|s| s.value.contains("off.test") || s.value.contains("no.test")));
        // Forcing rewrites unapproved entries, keeps approved ones, drops trusted=yes.
        let args: Vec<String> = ["update"].iter().map(|s| s.to_string()).collect();
        let plan = force("apt", &args, "http://mirror.test/debian", &got, &mut |s| {
            s.value == "https://one.test/"
        })
        .unwrap();
        let text = &plan.files[0].1;
        assert!(text.contains("deb https://one.test/ stable main"), "{text}");
        assert!(text.contains("deb-src [signed-by=/usr/share/keyrings/x.gpg] http://mirror.test/debian bookworm-updates main"), "{text}");
        assert!(text.contains("deb http://mirror.test/debian x"));
        assert!(!text.contains("trusted") && !text.contains("three.test"));
        assert_eq!(plan.insert_at, 1);
        assert!(plan
            .remaining
            .iter()
            .all(|s| s.kind != SourceKind::Insecure));
    }

    #[test]
    fn dnf_repos_and_flags() {
        let repo = "[base]\nname=Base\nbaseurl=https://a.test/$releasever/os/\n        https://b.test/os/\ngpgcheck=1\n\n[extra]\nmirrorlist=https://m.test/list\ngpgcheck=0\n\n[off]\nenabled=0\nbaseurl=http://off.test/\n";
        let files = [("/etc/dnf/dnf.conf", "[main]\nreposdir=/nonexistent-r\nsslverify=0\n\n[inline]\nbaseurl=http://inline.test/\n")];
        let got = run("dnf", &["install", "https://x.test/p.rpm"], &[], &files);
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "http://inline.test/",
                "/etc/dnf/dnf.conf:6"
            ),
            "{got:#?}"
        );
        assert!(has(
            &got,
            SourceKind::Insecure,
            "sslverify=0 for inline",
            "/etc/dnf/dnf.conf:3"
        ));
        assert!(has(
            &got,
            SourceKind::Direct,
            "https://x.test/p.rpm",
            "the command-line argument `https://x.test/p.rpm`"
        ));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.repo");
        std::fs::write(&p, repo).unwrap();
        let conf = dir.path().join("dnf.conf");
        std::fs::write(
            &conf,
            format!("[main]\nreposdir={}\n", dir.path().display()),
        )
        .unwrap();
        let c = conf.display().to_string();
        let got = run_with(
            "yum",
            &[
                "-c",
                &c,
                "--enablerepo=of*",
                "--repofrompath=tmp,http://tmp.test/",
                "--setopt=base.gpgcheck=0",
                "update",
            ],
            &[],
            &RealFiles,
        );
        let r = p.display().to_string();
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "https://a.test/$releasever/os/",
                &format!("{r}:3")
            ),
            "{got:#?}"
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://b.test/os/",
            &format!("{r}:3")
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://m.test/list",
            &format!("{r}:8")
        ));
        assert!(has(
            &got,
            SourceKind::Insecure,
            "gpgcheck=0 for extra",
            &format!("{r}:9")
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://off.test/",
            &format!("{r}:13")
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://tmp.test/",
            "the command-line flag --repofrompath"
        ));
        assert!(has(
            &got,
            SourceKind::Insecure,
            "gpgcheck=0 for base",
            "the command-line flag --setopt=base.gpgcheck"
        ));
        let got = run_with(
            "dnf",
            &[
                "-c",
                &c,
                "--disablerepo=*",
                "--enablerepo=base",
                "install",
                "x",
            ],
            &[],
            &RealFiles,
        );
        assert!(got.iter().all(|s| !s.value.contains("m.test")), "{got:#?}");
        assert!(force("dnf", &[], "http://m/", &got, &mut |_| false).is_none());
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        for j in [
            "deb [",
            "deb",
            "deb-src [a=b",
            "Types:\nURIs:",
            "{{{",
            "}}}",
            "\"",
            "#include \"/cfg/apt.conf\"",
            "[main\nbaseurl",
            "\u{0}",
        ] {
            for p in [
                "/etc/apt/sources.list",
                "/cfg/apt.conf",
                "/etc/dnf/dnf.conf",
                "/etc/apt/apt.conf",
            ] {
                let _ = run(
                    "apt",
                    &["install", "-o", "-c"],
                    &[("APT_CONFIG", "/cfg/apt.conf")],
                    &[(p, j)],
                );
                let _ = run(
                    "dnf",
                    &["install", "--setopt", "--repofrompath=x"],
                    &[],
                    &[(p, j)],
                );
            }
        }
        assert!(glob("a*b?", "axxbc") && !glob("a*", "b"));
    }
}
