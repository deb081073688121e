//! pip, pip3, uv, uvx, poetry, pipenv, pipx.

use std::path::{Path, PathBuf};

use super::ini;
use super::npmrc::expand;
use super::source::{Origin, Source, SourceKind};
use super::{first_positional, Plan, Request, Verb};

/// pip's general options (pip's `general_group`, pip 23 to 25), which may
/// come before the command, and whether each takes a value.
const PIP_GENERAL: &[(&str, bool)] = &[
    ("--help", false),
    ("--debug", false),
    ("--isolated", false),
    ("--require-virtualenv", false),
    ("--require-venv", false),
    ("--python", true),
    ("--verbose", false),
    ("--version", false),
    ("--quiet", false),
    ("--log", true),
    ("--log-file", true),
    ("--local-log", true),
    ("--no-input", false),
    ("--keyring-provider", true),
    ("--proxy", true),
    ("--retries", true),
    ("--resume-retries", true),
    ("--timeout", true),
    ("--default-timeout", true),
    ("--exists-action", true),
    ("--trusted-host", true),
    ("--cert", true),
    ("--client-cert", true),
    ("--cache-dir", true),
    ("--no-cache-dir", false),
    ("--disable-pip-version-check", false),
    ("--no-color", false),
    ("--no-python-version-warning", false),
    ("--use-feature", true),
    ("--use-deprecated", true),
];

/// Where pip's command word is: pip's parser reads its general options up
/// to the first positional word (a long option's value is the next word
/// unless written `--name=value`; optparse takes any unique abbreviation),
/// so in `pip --timeout 5 install x` the command is `install`, not `5`.
pub(super) fn pip_command_at(args: &[String]) -> Option<usize> {
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" {
            return (i + 1 < args.len()).then_some(i + 1);
        }
        if a.starts_with("--") {
            if !a.contains('=') {
                let exact = PIP_GENERAL.iter().find(|(n, _)| *n == a);
                let mut prefixed = PIP_GENERAL.iter().filter(|(n, _)| n.starts_with(a));
                let found = exact.or_else(|| match (prefixed.next(), prefixed.next()) {
                    (Some(one), None) => Some(one),
                    _ => None,
                });
                if found.is_some_and(|(_, takes)| *takes) {
                    i += 1;
                }
            }
        } else if !(a.starts_with('-') && a.len() > 1) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// pip's command word ([`pip_command_at`]).
pub(super) fn pip_command(args: &[String]) -> Option<&str> {
    pip_command_at(args).map(|i| args[i].as_str())
}

pub(super) fn verb(tool: &str, args: &[String]) -> Verb {
    let first = first_positional(args);
    match tool {
        "uvx" => Verb::Execute,
        "pip" | "pip3" => match pip_command(args) {
            Some("install" | "download" | "wheel" | "uninstall") => Verb::Install,
            _ => Verb::Other,
        },
        "uv" => match first {
            Some("add" | "remove" | "sync" | "lock" | "pip" | "venv") => Verb::Install,
            Some("tool") => match args
                .iter()
                .filter(|a| !a.starts_with('-'))
                .nth(1)
                .map(String::as_str)
            {
                Some("run") => Verb::Execute,
                Some("install" | "upgrade") => Verb::Install,
                _ => Verb::Other,
            },
            Some("run") => Verb::Execute,
            Some("publish") => Verb::Publish,
            _ => Verb::Other,
        },
        "poetry" => match first {
            Some("install" | "add" | "update" | "remove" | "lock" | "sync") => Verb::Install,
            Some("publish") => Verb::Publish,
            _ => Verb::Other,
        },
        "pipenv" => match first {
            Some("install" | "update" | "upgrade" | "sync" | "uninstall" | "lock") => Verb::Install,
            _ => Verb::Other,
        },
        "pipx" => match first {
            Some("run") => Verb::Execute,
            Some(
                "install" | "upgrade" | "upgrade-all" | "inject" | "reinstall" | "reinstall-all",
            ) => Verb::Install,
            _ => Verb::Other,
        },
        _ => Verb::Other,
    }
}

/// pip options that take a value (so the next argument is not a requirement).
pub(crate) const PIP_VALUE_OPTS: &[&str] = &[
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--trusted-host",
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-e",
    "--editable",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--src",
    "--upgrade-strategy",
    "--python-version",
    "--platform",
    "--implementation",
    "--abi",
    "--progress-bar",
    "--log",
    "--proxy",
    "--retries",
    "--timeout",
    "--exists-action",
    "--cert",
    "--client-cert",
    "--cache-dir",
    "-C",
    "--config-settings",
    "--global-option",
    "--build-option",
    "--no-binary",
    "--only-binary",
    "--python",
    "--report",
    "--root-user-action",
    "--use-feature",
    "--use-deprecated",
    "-d",
    "--dest",
    "-w",
    "--wheel-dir",
    "--keyring-provider",
    "--path",
    "--format",
    "--log-file",
    "--local-log",
];

/// The pip options that name sources, by canonical long name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Opt {
    IndexUrl,
    ExtraIndexUrl,
    FindLinks,
    TrustedHost,
    Requirement,
    Constraint,
    Editable,
    Isolated,
}

/// Maps an option as written to pip's option, honouring optparse's unique
/// prefix abbreviations (`--extra` is `--extra-index-url`).
fn pip_opt(name: &str) -> Option<Opt> {
    const LONG: &[(&str, Opt)] = &[
        ("--index-url", Opt::IndexUrl),
        ("--extra-index-url", Opt::ExtraIndexUrl),
        ("--find-links", Opt::FindLinks),
        ("--trusted-host", Opt::TrustedHost),
        ("--requirement", Opt::Requirement),
        ("--constraint", Opt::Constraint),
        ("--editable", Opt::Editable),
        ("--isolated", Opt::Isolated),
    ];
    match name {
        "-i" => return Some(Opt::IndexUrl),
        "-f" => return Some(Opt::FindLinks),
        "-r" => return Some(Opt::Requirement),
        "-c" => return Some(Opt::Constraint),
        "-e" => return Some(Opt::Editable),
        _ => {}
    }
    if !name.starts_with("--") || name.len() < 4 {
        return None;
    }
    // Exact, else an abbreviation that no other pip option shares. Other pip
    // options beginning like these: --index (pip index), --ignore-*, --install-option,
    // --extra? none; --find? none; --trusted? none; --isolated vs --ignore…;
    // --editable vs --exists-action; --constraint vs --config-settings, --compile, --cert.
    if let Some((_, o)) = LONG.iter().find(|(l, _)| *l == name) {
        return Some(*o);
    }
    let min = |o: Opt| match o {
        Opt::IndexUrl => "--ind".len(),
        Opt::ExtraIndexUrl => "--ex".len() + 1,
        Opt::FindLinks => "--fi".len(),
        Opt::TrustedHost => "--tr".len(),
        Opt::Requirement => "--req".len(),
        Opt::Constraint => "--cons".len(),
        Opt::Editable => "--ed".len(),
        Opt::Isolated => "--is".len(),
    };
    LONG.iter()
        .find(|(l, o)| l.starts_with(name) && name.len() >= min(*o))
        .map(|(_, o)| *o)
}

/// Collects sources from pip-style option/value pairs (command line or a
/// requirements file), following nested requirement files.
struct Collector<'r, 'a> {
    req: &'r Request<'a>,
    out: Vec<Source>,
    visited: Vec<PathBuf>,
    isolated: bool,
}

impl Collector<'_, '_> {
    fn option(&mut self, opt: Opt, value: &str, origin: Origin, base: &Path) {
        match opt {
            Opt::IndexUrl => self.out.push(Source::new(
                SourceKind::Registry,
                value,
                origin,
                "index-url",
            )),
            Opt::ExtraIndexUrl => {
                for v in value.split_whitespace() {
                    self.out.push(Source::new(
                        SourceKind::ExtraIndex,
                        v,
                        origin.clone(),
                        "extra-index-url",
                    ));
                }
            }
            Opt::FindLinks => {
                for v in value.split_whitespace() {
                    self.link(v, origin.clone(), base);
                }
            }
            Opt::TrustedHost => {
                for v in value.split_whitespace() {
                    self.out.push(Source::new(
                        SourceKind::Insecure,
                        v,
                        origin.clone(),
                        "trusted-host",
                    ));
                }
            }
            Opt::Requirement | Opt::Constraint => self.file(&normalize(&base.join(value)), origin),
            Opt::Editable => {
                if let Some(s) = requirement_source(value, origin, base) {
                    self.out.push(s);
                } else {
                    self.out.push(Source::new(
                        SourceKind::Path,
                        value,
                        Origin::Builtin,
                        "editable",
                    ));
                }
            }
            Opt::Isolated => self.isolated = true,
        }
    }

    /// `--find-links` takes URLs or local directories.
    fn link(&mut self, v: &str, origin: Origin, _base: &Path) {
        let kind = if v.contains("://") {
            SourceKind::FindLinks
        } else {
            SourceKind::Path
        };
        self.out.push(Source::new(kind, v, origin, "find-links"));
    }

    /// A requirements or constraints file: options, nested files, specs.
    fn file(&mut self, path: &Path, via: Origin) {
        if path.to_string_lossy().contains("://") {
            // pip can read requirement files from URLs: that is a fetch too.
            self.out.push(Source::new(
                SourceKind::Direct,
                path.to_string_lossy(),
                via,
                "requirement",
            ));
            return;
        }
        if self.visited.iter().any(|p| p == path) || self.visited.len() > 64 {
            return;
        }
        self.visited.push(path.to_path_buf());
        let Some(text) = self.req.files.read(path) else {
            return;
        };
        let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
        for (line_no, line) in logical_lines(&text) {
            let line = expand(&line, self.req.env);
            let origin = Origin::file(path, line_no);
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.is_empty() {
                continue;
            }
            if words[0].starts_with('-') {
                let (name, inline) = match words[0].split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None if words[0].len() > 2
                        && words[0].is_char_boundary(2)
                        && !words[0].starts_with("--") =>
                    {
                        (&words[0][..2], Some(words[0][2..].to_string()))
                    }
                    None => (words[0], words.get(1).map(|w| w.to_string())),
                };
                if let (Some(opt), Some(v)) = (pip_opt(name), inline) {
                    self.option(opt, &v, origin, &base);
                }
                continue;
            }
            if let Some(s) = requirement_source(line.trim(), origin, &base) {
                self.out.push(s);
            }
        }
    }
}

/// Resolves `.` and `..` lexically (requirement paths are relative to the
/// file that names them).
pub(super) fn normalize(p: &Path) -> PathBuf {
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

/// Joins `\`-continued lines and strips comments, keeping the first line number.
pub(super) fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if cur.is_empty() {
            start = i + 1;
        }
        let line = match raw.find(" #").or_else(|| raw.find("\t#")) {
            Some(at) => &raw[..at],
            None if raw.trim_start().starts_with('#') => "",
            None => raw,
        };
        if let Some(body) = line.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
            continue;
        }
        cur.push_str(line);
        if !cur.trim().is_empty() {
            out.push((start, std::mem::take(&mut cur)));
        }
        cur.clear();
    }
    if !cur.trim().is_empty() {
        out.push((start, cur));
    }
    out
}

/// A requirement that is not a plain index package: `name @ URL`, a URL, a
/// VCS URL, or a local path/archive.
fn requirement_source(spec: &str, origin: Origin, _base: &Path) -> Option<Source> {
    // One reading of a requirement for every Python adapter (pip, uv,
    // poetry, pipenv): what pip would fetch from where.
    super::uv::spec_source(spec, origin)
}

/// pip's config files in the order pip loads them (later wins): global,
/// user, site; `PIP_CONFIG_FILE` adds one more (and `os.devnull` disables all).
fn pip_config_files(req: &Request<'_>, isolated: bool) -> Vec<PathBuf> {
    let env_file = req.env.get("PIP_CONFIG_FILE").filter(|v| !v.is_empty());
    if env_file.as_deref() == Some("/dev/null")
        || env_file
            .as_deref()
            .is_some_and(|f| f.eq_ignore_ascii_case("nul"))
    {
        return Vec::new();
    }
    let mut files = Vec::new();
    if cfg!(windows) {
        if let Some(pd) = req.env.get("ProgramData") {
            files.push(PathBuf::from(pd).join("pip").join("pip.ini"));
        }
    } else {
        let xdg_dirs = req
            .env
            .get("XDG_CONFIG_DIRS")
            .unwrap_or_else(|| "/etc/xdg".into());
        for d in xdg_dirs.split(':').filter(|d| !d.is_empty()) {
            files.push(PathBuf::from(d).join("pip").join("pip.conf"));
        }
        files.push(PathBuf::from("/etc/pip.conf"));
    }
    if !isolated {
        if let Some(home) = req.home {
            if cfg!(windows) {
                files.push(home.join("pip").join("pip.ini"));
                if let Some(appdata) = req.env.get("APPDATA") {
                    files.push(PathBuf::from(appdata).join("pip").join("pip.ini"));
                }
            } else {
                files.push(home.join(".pip").join("pip.conf"));
                let xdg = req
                    .env
                    .get("XDG_CONFIG_HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| home.join(".config"));
                files.push(xdg.join("pip").join("pip.conf"));
            }
        }
    }
    // Site config: the environment pip runs in (a venv's pip.conf).
    let site_name = if cfg!(windows) { "pip.ini" } else { "pip.conf" };
    if let Some(venv) = req.env.get("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        files.push(PathBuf::from(venv).join(site_name));
    }
    if let Some(prefix) = req
        .real_tool
        .and_then(|p| p.parent())
        .and_then(|b| b.parent())
    {
        let site = prefix.join(site_name);
        if !files.contains(&site) {
            files.push(site);
        }
    }
    if let Some(f) = env_file {
        files.push(PathBuf::from(f));
    }
    files
}

/// The requirement files (`false`) and editables (`true`) a pip command
/// takes besides its command line: `requirement` and `editable` in its
/// config files (`[global]`, the command's own section) and `PIP_REQUIREMENT`
/// / `PIP_EDITABLE` (space-separated, each replacing the files' value of
/// its option); the environment and the user's files not with `--isolated`.
/// Values as written (pip takes them relative to the current directory).
pub fn pip_configured_requirements(req: &Request<'_>) -> Vec<(String, bool)> {
    let command = pip_command_at(req.args).map_or("", |i| req.args[i].as_str());
    let isolated = req.args.iter().any(|a| pip_opt(a) == Some(Opt::Isolated));
    let wanted = |o: Opt| matches!(o, Opt::Requirement | Opt::Editable);
    let mut found: Vec<(Opt, String)> = Vec::new();
    for file in pip_config_files(req, isolated) {
        let Some(text) = req.files.read(&file) else {
            continue;
        };
        for e in ini::parse(&text) {
            if e.section != "global" && e.section != command {
                continue;
            }
            if let Some(opt) = pip_opt(&format!("--{}", e.key)).filter(|o| wanted(*o)) {
                found.retain(|(o, _)| *o != opt);
                found.extend(e.value.split_whitespace().map(|v| (opt, v.to_string())));
            }
        }
    }
    if !isolated {
        for (var, opt) in [
            ("PIP_REQUIREMENT", Opt::Requirement),
            ("PIP_EDITABLE", Opt::Editable),
        ] {
            if let Some(v) = req.env.get(var).filter(|v| !v.trim().is_empty()) {
                found.retain(|(o, _)| *o != opt);
                found.extend(v.split_whitespace().map(|x| (opt, x.to_string())));
            }
        }
    }
    found
        .into_iter()
        .map(|(o, v)| (v, o == Opt::Editable))
        .collect()
}

/// pip / pip3: the effective index, extra indexes, find-links, trusted
/// hosts (config files < `PIP_*` env < command line), requirement files
/// (nested), and direct/VCS/path requirements.
pub(super) fn sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let command_at = pip_command_at(req.args);
    let command = command_at.map_or("", |i| req.args[i].as_str());
    let mut c = Collector {
        req,
        out: Vec::new(),
        visited: Vec::new(),
        isolated: req.args.iter().any(|a| pip_opt(a) == Some(Opt::Isolated)),
    };
    let cwd = req.cwd.to_path_buf();

    // 1. Config files (the command's own section overrides [global]).
    let mut cfg_index: Option<Source> = None;
    let mut cfg_rest: Vec<(Opt, String, Origin, PathBuf)> = Vec::new();
    for file in pip_config_files(req, c.isolated) {
        let Some(text) = req.files.read(&file) else {
            continue;
        };
        let base = file.parent().unwrap_or(Path::new("")).to_path_buf();
        for e in ini::parse(&text) {
            if e.section != "global" && e.section != command {
                continue;
            }
            let Some(opt) = pip_opt(&format!("--{}", e.key)) else {
                continue;
            };
            let origin = Origin::file(&file, e.line);
            if opt == Opt::IndexUrl {
                cfg_index = Some(
                    Source::new(SourceKind::Registry, e.value.trim(), origin, "index-url")
                        .overridable(),
                );
            } else {
                cfg_rest.push((opt, e.value, origin, base.clone()));
            }
        }
    }
    // 2. Environment.
    let mut env_index: Option<Source> = None;
    if !c.isolated {
        // pip reads every option from `PIP_<NAME>` (`PIP_CONSTRAINT`,
        // `PIP_REQUIREMENT` too: files of requirements and options).
        let mut vars: Vec<(String, Opt)> = req
            .env
            .vars()
            .into_iter()
            .filter_map(|(k, _)| {
                let name = k
                    .strip_prefix("PIP_")?
                    .to_ascii_lowercase()
                    .replace('_', "-");
                let opt = pip_opt(&format!("--{name}")).filter(|o| *o != Opt::Isolated)?;
                Some((k, opt))
            })
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (var, opt) in vars {
            let var = var.as_str();
            if let Some(v) = req.env.get(var).filter(|v| !v.trim().is_empty()) {
                if opt == Opt::IndexUrl {
                    env_index = Some(
                        Source::new(
                            SourceKind::Registry,
                            v.trim(),
                            Origin::env(var),
                            "index-url",
                        )
                        .overridable(),
                    );
                } else if matches!(opt, Opt::Requirement | Opt::Constraint) {
                    // A list: each file.
                    cfg_rest.retain(|(o, ..)| *o != opt);
                    for f in v.split_whitespace() {
                        cfg_rest.push((opt, f.to_string(), Origin::env(var), cwd.clone()));
                    }
                } else {
                    // An env value replaces the config file's value of that option.
                    cfg_rest.retain(|(o, ..)| *o != opt);
                    cfg_rest.push((opt, v, Origin::env(var), cwd.clone()));
                }
            }
        }
    }
    // 3. The command line.
    let mut cli_index: Option<Source> = None;
    let args = req.args;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            break;
        }
        if arg.starts_with('-') && arg.len() > 1 {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None if !arg.starts_with("--") && arg.len() > 2 && arg.is_char_boundary(2) => {
                    (arg[..2].to_string(), Some(arg[2..].to_string()))
                }
                None => (arg.clone(), None),
            };
            let opt = pip_opt(&name);
            let takes_value =
                opt.is_some_and(|o| o != Opt::Isolated) || PIP_VALUE_OPTS.contains(&name.as_str());
            let value = match (inline, takes_value) {
                (Some(v), _) => Some(v),
                (None, true) => {
                    i += 1;
                    args.get(i - 1).cloned()
                }
                (None, false) => None,
            };
            if let (Some(opt), Some(v)) = (opt, value) {
                let origin = Origin::flag(name.clone());
                if opt == Opt::IndexUrl {
                    cli_index = Some(Source::new(SourceKind::Registry, v, origin, "index-url"));
                } else {
                    c.option(opt, &v, origin, &cwd);
                }
            }
            continue;
        }
        if command_at.is_none_or(|at| i - 1 <= at) {
            // The pip command itself, or a general option's value before it.
            continue;
        }
        if verb == Verb::Install {
            if let Some(s) = requirement_source(arg, Origin::arg(arg.as_str()), &cwd) {
                c.out.push(s);
            }
        }
    }
    // Config-file and environment values: a PIP_* variable set by pkgward
    // replaces them.
    for (opt, v, origin, base) in cfg_rest {
        let before = c.out.len();
        c.option(opt, &v, origin, &base);
        for s in &mut c.out[before..] {
            s.overridable = true;
        }
    }
    // A local project pip installs (`.`, `-e DIR`, a directory in a
    // requirements file) is built from its `pyproject.toml`: pip fetches
    // its `build-system.requires` and its dependencies, direct URLs and git
    // included.
    let mut projects: Vec<PathBuf> = Vec::new();
    for s in &c.out {
        if s.kind != SourceKind::Path || s.subject == "find-links" {
            continue;
        }
        let value = s.value.strip_prefix("file://").unwrap_or(&s.value);
        let p = normalize(&cwd.join(value)).join("pyproject.toml");
        if !projects.contains(&p) && projects.len() < 64 {
            projects.push(p);
        }
    }
    for p in projects {
        if let Some(text) = req.files.read(&p) {
            let items = super::uv::toml_items(&text);
            c.out.extend(super::uv::project_specs(&items, &p, false));
        }
    }
    // A requirements file's own --index-url replaces the index too; the
    // command line, env and config decide the rest.
    let file_index = c.out.iter().position(|s| s.kind == SourceKind::Registry);
    let effective = cli_index.or(env_index).or(cfg_index);
    match (effective, file_index) {
        (Some(s), _) => c.out.insert(0, s),
        (None, Some(_)) => {}
        (None, None) => c.out.insert(
            0,
            Source::new(
                SourceKind::Registry,
                "builtin",
                Origin::Builtin,
                "index-url",
            )
            .overridable(),
        ),
    }
    c.out
}

/// An empty list for a pip list option set through the environment (an
/// empty string would be ignored; verified against pip 23).
const PIP_EMPTY: &str = " ";

/// `[mirrors] pypi` for pip: `PIP_INDEX_URL` (beats pip.conf), extra
/// indexes cleared, unapproved find-links / trusted hosts from config
/// cleared. Command-line options and requirement files stay checked.
pub(super) fn force(
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut overridden = Vec::new();
    let mut remaining = Vec::new();
    env.push(("PIP_INDEX_URL".into(), mirror.into()));
    // Extra indexes are cleared outright: with a mirror there is one
    // index. pip ignores an empty variable but splits a blank one
    // into an empty list, which replaces the config files' value.
    env.push(("PIP_EXTRA_INDEX_URL".into(), PIP_EMPTY.into()));
    let (mut clear_links, mut clear_trusted) = (false, false);
    for s in sources {
        let take = s.overridable
            && match s.kind {
                SourceKind::Registry | SourceKind::ExtraIndex => true,
                SourceKind::FindLinks | SourceKind::Insecure => !approved(s),
                _ => false,
            };
        if !take {
            remaining.push(s.clone());
            continue;
        }
        match s.kind {
            SourceKind::FindLinks => clear_links = true,
            SourceKind::Insecure => clear_trusted = true,
            _ => {}
        }
        overridden.push(s.clone());
    }
    if clear_links {
        env.push(("PIP_FIND_LINKS".into(), PIP_EMPTY.into()));
        // Local link directories from the same setting are gone too;
        // they were only paths, so nothing needs checking.
        remaining.retain(|s| {
            !(s.kind == SourceKind::Path && s.subject == "find-links" && s.overridable)
        });
    }
    if clear_trusted {
        env.push(("PIP_TRUSTED_HOST".into(), PIP_EMPTY.into()));
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

    /// Requirement files and editables from pip's config and variables:
    /// the command's section and `[global]`, a variable replacing a file's
    /// value, nothing from the environment or user files with `--isolated`.
    #[test]
    fn configured_requirements() {
        use super::super::source::fake::{FakeEnv, FakeFiles};
        let run = |args: &[&str], env: &[(&str, &str)]| {
            let env = FakeEnv(
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
            let files = FakeFiles(
                [(
                    PathBuf::from("/home/u/.config/pip/pip.conf"),
                    "[global]\nrequirement = g.txt\n[install]\neditable = ./a ./b\n[wheel]\nrequirement = w.txt\n"
                        .to_string(),
                )]
                .into_iter()
                .collect(),
            );
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            pip_configured_requirements(&Request {
                tool: crate::tools::Tool::by_name("pip").unwrap(),
                args: &args,
                env: &env,
                files: &files,
                cwd: Path::new("/w"),
                home: Some(Path::new("/home/u")),
                real_tool: None,
            })
        };
        let v = |x: &[(&str, bool)]| {
            x.iter()
                .map(|(s, e)| (s.to_string(), *e))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            run(&["install"], &[]),
            v(&[("g.txt", false), ("./a", true), ("./b", true)])
        );
        assert_eq!(run(&["wheel", "x"], &[]), v(&[("w.txt", false)]));
        assert_eq!(
            run(
                &["install"],
                &[("PIP_EDITABLE", "./c"), ("PIP_REQUIREMENT", "r1 r2")]
            ),
            v(&[("r1", false), ("r2", false), ("./c", true)])
        );
        assert_eq!(
            run(&["--isolated", "install"], &[("PIP_EDITABLE", "./c")]),
            v(&[])
        );
    }

    #[test]
    fn table() {
        let cases: &[(&str, &[&str], Verb)] = &[
            ("pip", &["install", "six"], Verb::Install),
            ("pip3", &["-q", "download", "six"], Verb::Install),
            ("pip", &["--timeout", "5", "install", "x"], Verb::Install),
            ("pip", &["--cache", "/c", "wheel", "x"], Verb::Install),
            (
                "pip",
                &["--cache-dir=/c", "-v", "download", "x"],
                Verb::Install,
            ),
            ("pip", &["--python", "/p", "list"], Verb::Other),
            ("pip", &["--version"], Verb::Other),
            ("pip", &["list"], Verb::Other),
            ("uv", &["pip", "install", "x"], Verb::Install),
            ("uv", &["tool", "run", "x"], Verb::Execute),
            ("uvx", &["ruff"], Verb::Execute),
            ("poetry", &["add", "x"], Verb::Install),
            ("pipenv", &["install"], Verb::Install),
            ("pipx", &["run", "x"], Verb::Execute),
        ];
        for (tool, args, want) in cases {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert_eq!(verb(tool, &args), *want, "{tool} {args:?}");
        }
    }

    /// pip reads a requirement the way uv, poetry and pipenv do (one
    /// function): the kind of place it is fetched from, and the part that is
    /// checked against the policy.
    #[test]
    fn requirement_sources() {
        use SourceKind::*;
        let cases: &[(&str, Option<(SourceKind, &str)>)] = &[
            ("six", None),
            ("six==1.16", None),
            (
                "six @ https://example.com/six.whl",
                Some((Direct, "https://example.com/six.whl")),
            ),
            // Options and markers after the URL are not part of it.
            (
                "six @ https://example.com/six.whl --hash=sha256:00",
                Some((Direct, "https://example.com/six.whl")),
            ),
            (
                "six @ https://example.com/six.whl ; python_version > '3'",
                Some((Direct, "https://example.com/six.whl")),
            ),
            (
                "git+https://example.com/r.git@v1",
                Some((Git, "git+https://example.com/r.git@v1")),
            ),
            (
                "git+ssh://git@example.com/r.git",
                Some((Git, "git+ssh://git@example.com/r.git")),
            ),
            (
                "git://example.com/r.git",
                Some((Git, "git://example.com/r.git")),
            ),
            // A local repository is local.
            (
                "git+file:///srv/r.git",
                Some((Path, "git+file:///srv/r.git")),
            ),
            ("./dist/six.tgz", Some((Path, "./dist/six.tgz"))),
            ("six.tgz", Some((Path, "six.tgz"))),
            ("C:\\w\\six.whl", Some((Path, "C:\\w\\six.whl"))),
            // Credentials in a URL are not a `name @`.
            (
                "https://user@example.com/six.whl",
                Some((Direct, "https://user@example.com/six.whl")),
            ),
        ];
        for (spec, want) in cases {
            let got = requirement_source(spec, Origin::arg(*spec), std::path::Path::new("."))
                .map(|s| (s.kind, s.value.clone()));
            let want = want.map(|(k, v)| (k, v.to_string()));
            assert_eq!(got, want, "{spec}");
        }
    }
}
