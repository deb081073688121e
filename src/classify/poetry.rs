//! poetry, pipenv, pipx.
//!
//! - **poetry** (checked against poetry 2.5): sources come only from
//!   `[[tool.poetry.source]]` in `pyproject.toml` (PyPI is added unless a
//!   primary source is configured, or named `pypi` without a URL); the lock
//!   records each package's `[package.source]`. PyPI cannot be given another
//!   URL (poetry refuses `url` on a source named `pypi`) and no environment
//!   variable adds or replaces an install source (`POETRY_REPOSITORIES_*`
//!   are for publishing): poetry cannot be forced, so `force` is `None`.
//!   `certificates.<source>.cert = false` (poetry config, `poetry.toml`,
//!   `POETRY_CERTIFICATES_<NAME>_CERT`) turns TLS verification off.
//! - **pipenv** (checked against pipenv 2026.10): the Pipfile's `[[source]]`
//!   list (first = index, others = extra indexes; `verify_ssl = false` on an
//!   https source adds `--trusted-host`); the lock's `_meta.sources` are what
//!   `pipenv sync`/`install` use when the lock is current.
//!   `--pypi-mirror`/`PIPENV_PYPI_MIRROR` replace only the default PyPI
//!   source (no `[[source]]`) or sources that *are* PyPI — never another
//!   index. pip runs with `PIP_CONFIG_FILE` = devnull and pipenv's own
//!   `PIP_INDEX_URL`, but the user's `PIP_EXTRA_INDEX_URL`, `PIP_FIND_LINKS`
//!   and `PIP_TRUSTED_HOST` reach it (a blank value clears them).
//! - **pipx** (checked against pipx 1.18): pip (with pip's config files and
//!   `PIP_*`) or, when uv is available, `uv pip install` (with uv's config
//!   and `UV_*`), given `--index-url` and `--pip-args`.

use std::path::{Path, PathBuf};

use super::npmrc::expand;
use super::source::{Origin, Source, SourceKind};
use super::uv::{
    index_kind, normalize, project_specs, pylock_sources, spec_source, target_kind, toml_items,
    Item, Lines, LockPkg, ReqReader, Scalar, Seg,
};
use super::{Plan, Request, Verb};
use crate::tools::Tool;

/// Positional words of a command line, skipping the values of `value_opts`
/// (long options, and short ones given as `-x`).
fn positionals<'a>(args: &'a [String], value_opts: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            out.extend(args[i..].iter().map(String::as_str));
            break;
        }
        if a.starts_with('-') && a.len() > 1 {
            if !a.contains('=') && value_opts.contains(&a) {
                i += 1;
            }
            continue;
        }
        out.push(a);
    }
    out
}

/// The arguments that belong to the tool itself: for `run` (pipx, pipenv,
/// poetry) everything after the app/command to run is that program's.
fn own_args<'a>(args: &'a [String], value_opts: &[&str]) -> &'a [String] {
    let mut i = 0;
    let mut run = false;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            // `run -- APP …`: APP is still ours.
            return if run {
                &args[..(i + 1).min(args.len())]
            } else {
                args
            };
        }
        if a.starts_with('-') && a.len() > 1 {
            if !a.contains('=') && value_opts.contains(&a) {
                i += 1;
            }
            continue;
        }
        if !run {
            if a != "run" {
                return args;
            }
            run = true;
            continue;
        }
        return &args[..i];
    }
    args
}

/// (option as written, value) for every option in `wanted` (exact long
/// names and `-x` shorts; `--opt=v`, `--opt v`, `-xv`, `-x v`).
fn option_values(args: &[String], wanted: &[&str], value_opts: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            break;
        }
        if !a.starts_with('-') || a.len() < 2 {
            continue;
        }
        let (name, inline) = if a.starts_with("--") {
            match a.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (a.to_string(), None),
            }
        } else if a.len() > 2 && a.is_char_boundary(2) && value_opts.contains(&&a[..2]) {
            (
                a[..2].to_string(),
                Some(a[2..].trim_start_matches('=').to_string()),
            )
        } else {
            (a.to_string(), None)
        };
        let takes = value_opts.contains(&name.as_str());
        let value = match inline {
            Some(v) => Some(v),
            None if takes => {
                i += 1;
                args.get(i - 1).cloned()
            }
            None => None,
        };
        if let (true, Some(v)) = (wanted.contains(&name.as_str()), value) {
            out.push((name, v));
        }
    }
    out
}

/// Splits a shell-quoted argument string (`--pip-args="…"`).
fn shell_split(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut chars = s.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                has = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    has = true;
                }
            }
            (None, c) if c.is_whitespace() => {
                if has || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                has = false;
            }
            (None, c) => {
                cur.push(c);
                has = true;
            }
        }
    }
    if has || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// pip options inside `--pip-args` / `--extra-pip-args` that name sources.
fn pip_arg_sources(text: &str, origin: &Origin, out: &mut Vec<Source>) {
    let words = shell_split(text);
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        i += 1;
        let (name, inline) = match w.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ if !w.starts_with("--")
                && w.len() > 2
                && w.starts_with('-')
                && w.is_char_boundary(2) =>
            {
                (w[..2].to_string(), Some(w[2..].to_string()))
            }
            _ => (w.clone(), None),
        };
        let canonical = match name.as_str() {
            "-i" => "--index-url",
            "-f" => "--find-links",
            n => [
                ("--index-url", 5),
                ("--extra-index-url", 4),
                ("--find-links", 4),
                ("--trusted-host", 4),
                ("--default-index", 5),
                ("--index", 7),
                ("--allow-insecure-host", 4),
            ]
            .iter()
            .find(|(l, min)| l.starts_with(n) && n.len() >= *min && n.starts_with("--"))
            .map_or("", |(l, _)| *l),
        };
        if canonical.is_empty() {
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                match words.get(i - 1) {
                    Some(v) => v.clone(),
                    None => continue,
                }
            }
        };
        let (kind, subject) = match canonical {
            "--index-url" | "--default-index" => (SourceKind::Registry, "index-url"),
            "--extra-index-url" | "--index" => (SourceKind::ExtraIndex, "extra-index-url"),
            "--find-links" => (SourceKind::FindLinks, "find-links"),
            _ => (SourceKind::Insecure, "trusted-host"),
        };
        let kind = if kind == SourceKind::Insecure {
            kind
        } else {
            index_kind(&value, kind)
        };
        out.push(Source::new(kind, value, origin.clone(), subject));
    }
}

pub(super) fn verb(tool: &str, args: &[String]) -> Verb {
    let pos = match tool {
        "poetry" => positionals(own_args(args, POETRY_VALUE_OPTS), POETRY_VALUE_OPTS),
        "pipenv" => positionals(own_args(args, PIPENV_VALUE_OPTS), PIPENV_VALUE_OPTS),
        _ => positionals(own_args(args, PIPX_VALUE_OPTS), PIPX_VALUE_OPTS),
    };
    let first = pos.first().copied();
    match tool {
        "poetry" => match first {
            Some("install" | "add" | "update" | "remove" | "lock" | "sync") => Verb::Install,
            Some("self") => match pos.get(1).copied() {
                Some("add" | "install" | "update" | "remove" | "lock" | "sync") => Verb::Install,
                _ => Verb::Other,
            },
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
                "install" | "install-all" | "upgrade" | "upgrade-all" | "upgrade-shared" | "inject"
                | "reinstall" | "reinstall-all",
            ) => Verb::Install,
            _ => Verb::Other,
        },
        _ => Verb::Other,
    }
}

pub(super) fn sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let mut out = match req.tool.name {
        "poetry" => poetry_sources(req, verb),
        "pipenv" => pipenv_sources(req, verb),
        "pipx" => pipx_sources(req, verb),
        _ => Vec::new(),
    };
    dedupe(&mut out);
    out
}

fn dedupe(v: &mut Vec<Source>) {
    let mut seen: Vec<Source> = Vec::with_capacity(v.len());
    v.retain(|s| {
        if seen.contains(s) {
            false
        } else {
            seen.push(s.clone());
            true
        }
    });
}

/// `$VAR` and `${VAR}` (Python's `os.path.expandvars`: unknown names stay).
fn expandvars(s: &str, req: &Request<'_>) -> String {
    let s = expand(s, req.env);
    if !s.contains('$') {
        return s;
    }
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j > i + 1 {
                match req.env.get(&s[i + 1..j]) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&s[i..j]),
                }
                i = j;
                continue;
            }
        }
        let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

fn config_home(req: &Request<'_>) -> Option<PathBuf> {
    req.env
        .get("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| req.home.map(|h| h.join(".config")))
}

// ---------------------------------------------------------------------------
// poetry

pub(crate) const POETRY_VALUE_OPTS: &[&str] = &[
    "-C",
    "--directory",
    "-P",
    "--project",
    "--source",
    "-G",
    "--group",
    "-E",
    "--extras",
    "--python",
    "--platform",
    "--markers",
    "-r",
    "--repository",
    "-u",
    "--username",
    "-p",
    "--password",
    "--cert",
    "--client-cert",
    "--dist-dir",
    "--priority",
    "--only",
    "--with",
    "--without",
    "-f",
    "--format",
    "-o",
    "--output",
    "--config-settings",
    "--local-version",
    "--next-phase",
];

/// The project directory poetry uses: `-C/--directory`, `-P/--project`, or
/// the working directory; then the nearest `pyproject.toml` upward.
fn poetry_project(req: &Request<'_>) -> (PathBuf, Option<PathBuf>) {
    let opts = option_values(
        own_args(req.args, POETRY_VALUE_OPTS),
        &["-C", "--directory", "-P", "--project"],
        POETRY_VALUE_OPTS,
    );
    let mut cwd = req.cwd.to_path_buf();
    let mut project = None;
    for (name, v) in &opts {
        if name == "-C" || name == "--directory" {
            cwd = normalize(&cwd.join(v));
        }
    }
    for (name, v) in &opts {
        if name == "-P" || name == "--project" {
            project = Some(normalize(&cwd.join(v)));
        }
    }
    let start = project.unwrap_or_else(|| cwd.clone());
    let found = start
        .ancestors()
        .find(|d| req.files.exists(&d.join("pyproject.toml")))
        .map(Path::to_path_buf);
    (cwd, found)
}

fn poetry_sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let mut out = Vec::new();
    let args = own_args(req.args, POETRY_VALUE_OPTS);
    let pos = positionals(args, POETRY_VALUE_OPTS);
    let (cwd, root) = poetry_project(req);
    let cmd = pos.first().copied().unwrap_or("");
    let sub = pos.get(1).copied().unwrap_or("");
    let publish = verb == Verb::Publish;

    // The project's sources and dependencies.
    let mut names_primary = false;
    let mut explicit_pypi = false;
    if let Some(root) = &root {
        let path = root.join("pyproject.toml");
        if let Some(text) = req.files.read(&path) {
            let items = toml_items(&text);
            poetry_manifest(
                &items,
                &path,
                &mut out,
                &mut names_primary,
                &mut explicit_pypi,
            );
        }
        if !publish {
            let lock = root.join("poetry.lock");
            if let Some(text) = req.files.read(&lock) {
                out.extend(poetry_lock_sources(&text, &lock));
            }
        }
    }
    if !explicit_pypi && !names_primary {
        out.insert(
            0,
            Source::new(
                SourceKind::Registry,
                "builtin",
                Origin::Builtin,
                "source PyPI",
            ),
        );
    }

    // Poetry's config: certificates that turn verification off, and the
    // repositories `poetry publish` uploads to.
    let mut configs: Vec<PathBuf> = Vec::new();
    match req.env.get("POETRY_CONFIG_DIR").filter(|v| !v.is_empty()) {
        Some(d) => configs.push(PathBuf::from(d).join("config.toml")),
        None => configs.extend(config_home(req).map(|c| c.join("pypoetry").join("config.toml"))),
    }
    if let Some(root) = &root {
        configs.push(root.join("poetry.toml"));
    }
    for file in configs {
        let Some(text) = req.files.read(&file) else {
            continue;
        };
        for it in toml_items(&text) {
            let origin = Origin::file(&file, it.line);
            poetry_setting(&it.path, &it.value, origin, publish, &mut out);
        }
    }
    for (k, v) in req.env.vars() {
        let upper = k.to_ascii_uppercase();
        if let Some(name) = upper
            .strip_prefix("POETRY_CERTIFICATES_")
            .and_then(|r| r.strip_suffix("_CERT"))
        {
            if v.trim().eq_ignore_ascii_case("false") {
                out.push(Source::new(
                    SourceKind::Insecure,
                    format!("cert = false for {}", name.to_ascii_lowercase()),
                    Origin::env(k.clone()),
                    "certificates",
                ));
            }
        }
        if publish {
            if let Some(name) = upper
                .strip_prefix("POETRY_REPOSITORIES_")
                .and_then(|r| r.strip_suffix("_URL"))
            {
                out.push(Source::new(
                    SourceKind::Registry,
                    v.clone(),
                    Origin::env(k.clone()),
                    format!("repositories.{}.url", name.to_ascii_lowercase()),
                ));
            }
        }
    }
    if publish {
        out.push(Source::new(
            SourceKind::Registry,
            "builtin",
            Origin::Builtin,
            "publish",
        ));
    }

    // The command line.
    match (cmd, sub) {
        ("add", _) | ("self", "add") => {
            let skip = if cmd == "self" { 2 } else { 1 };
            for s in pos.iter().skip(skip) {
                out.extend(spec_source(s, Origin::arg(*s)));
            }
        }
        ("source", "add") => {
            // `poetry source add NAME URL` writes a source into pyproject.toml.
            if let (Some(name), Some(url)) = (pos.get(2), pos.get(3)) {
                let priority = option_values(args, &["--priority"], POETRY_VALUE_OPTS)
                    .pop()
                    .map(|(_, v)| v.to_ascii_lowercase())
                    .unwrap_or_default();
                let kind = if matches!(priority.as_str(), "supplemental" | "explicit") {
                    SourceKind::ExtraIndex
                } else {
                    SourceKind::Registry
                };
                out.push(Source::new(
                    index_kind(url, kind),
                    *url,
                    Origin::arg(*url),
                    format!("source {name}"),
                ));
            }
        }
        ("config", _) => {
            // `poetry config certificates.X.cert false`, `repositories.X URL`.
            if let (Some(key), Some(value)) = (pos.get(1), pos.get(2)) {
                let path: Vec<Seg<'static>> = key
                    .split('.')
                    .map(|k| Seg::Key(std::borrow::Cow::Owned(k.to_string())))
                    .collect();
                let v = match *value {
                    "false" => Scalar::Bool(false),
                    "true" => Scalar::Bool(true),
                    v => Scalar::Str(std::borrow::Cow::Owned(v.to_string())),
                };
                poetry_setting(&path, &v, Origin::arg(*value), true, &mut out);
            }
        }
        _ => {}
    }
    let _ = cwd;
    out
}

/// One poetry config value (`config.toml`, `poetry.toml`, `poetry config`).
fn poetry_setting(
    path: &[Seg<'_>],
    value: &Scalar<'_>,
    origin: Origin,
    publish: bool,
    out: &mut Vec<Source>,
) {
    let keys: Vec<&str> = path.iter().filter_map(Seg::key).collect();
    if path.len() != 3 || keys.len() != 3 {
        return;
    }
    match (keys[0], keys[2], value) {
        ("certificates", "cert", Scalar::Bool(false)) => out.push(Source::new(
            SourceKind::Insecure,
            format!("cert = false for {}", keys[1]),
            origin,
            "certificates",
        )),
        ("certificates", "cert", Scalar::Str(s)) if s.eq_ignore_ascii_case("false") => {
            out.push(Source::new(
                SourceKind::Insecure,
                format!("cert = false for {}", keys[1]),
                origin,
                "certificates",
            ))
        }
        ("repositories", "url", Scalar::Str(s)) if publish => out.push(Source::new(
            SourceKind::Registry,
            s.as_ref(),
            origin,
            format!("repositories.{}.url", keys[1]),
        )),
        _ => {}
    }
}

/// `[[tool.poetry.source]]`, dependencies with git/url/path, PEP 621
/// direct references, `[tool.poetry.requires-plugins]`.
fn poetry_manifest(
    items: &[Item],
    path: &Path,
    out: &mut Vec<Source>,
    names_primary: &mut bool,
    explicit_pypi: &mut bool,
) {
    struct Src {
        name: String,
        url: Option<(String, usize)>,
        priority: String,
        line: usize,
    }
    let mut srcs: Vec<(usize, Src)> = Vec::new();
    for it in items {
        if it.path.len() == 5 && it.at(0, &["tool", "poetry", "source", "#", "*"]) {
            let n = it.idx(3).unwrap_or(0);
            let pos = match srcs.iter().position(|(k, _)| *k == n) {
                Some(p) => p,
                None => {
                    srcs.push((
                        n,
                        Src {
                            name: String::new(),
                            url: None,
                            priority: String::new(),
                            line: it.line,
                        },
                    ));
                    srcs.len() - 1
                }
            };
            let e = &mut srcs[pos].1;
            match (it.key(4), &it.value) {
                (Some("name"), Scalar::Str(s)) => e.name = s.to_string(),
                (Some("url"), Scalar::Str(s)) => e.url = Some((s.to_string(), it.line)),
                (Some("priority"), Scalar::Str(s)) => e.priority = s.to_ascii_lowercase(),
                (Some("default"), Scalar::Bool(true)) => e.priority = "primary".into(),
                (Some("secondary"), Scalar::Bool(true)) => e.priority = "supplemental".into(),
                _ => {}
            }
            continue;
        }
        // Dependency tables: <deps>.<name>.<key> or <deps>.<name>[i].<key>.
        let deps_at = if it.at(0, &["tool", "poetry", "dependencies", "*", "*"])
            || it.at(0, &["tool", "poetry", "dependencies", "*", "#", "*"])
            || it.at(0, &["tool", "poetry", "dev-dependencies", "*", "*"])
            || it.at(0, &["tool", "poetry", "dev-dependencies", "*", "#", "*"])
            || it.at(0, &["tool", "poetry", "requires-plugins", "*", "*"])
            || it.at(0, &["tool", "poetry", "requires-plugins", "*", "#", "*"])
        {
            Some(3)
        } else if it.at(
            0,
            &["tool", "poetry", "group", "*", "dependencies", "*", "*"],
        ) || it.at(
            0,
            &[
                "tool",
                "poetry",
                "group",
                "*",
                "dependencies",
                "*",
                "#",
                "*",
            ],
        ) {
            Some(5)
        } else {
            None
        };
        if let (Some(at), Some(v)) = (deps_at, it.str()) {
            let name = it.key(at).unwrap_or("");
            let origin = Origin::file(path, it.line);
            match it.path.last().and_then(Seg::key) {
                Some("git") => out.push(Source::new(SourceKind::Git, v, origin, name)),
                Some("url") => out.push(Source::new(
                    target_kind(v).unwrap_or(SourceKind::Direct),
                    v,
                    origin,
                    name,
                )),
                Some("path") => out.push(Source::new(SourceKind::Path, v, origin, name)),
                _ => {}
            }
        }
    }
    for (_, s) in srcs {
        if s.name.eq_ignore_ascii_case("pypi") && s.url.is_none() {
            *explicit_pypi = true;
            // The built-in PyPI (a `builtin` source must have the Builtin origin).
            out.push(Source::new(
                SourceKind::Registry,
                "builtin",
                Origin::Builtin,
                format!("source {} ({}:{})", s.name, path.display(), s.line),
            ));
            continue;
        }
        let primary = matches!(s.priority.as_str(), "" | "primary" | "default");
        if primary {
            *names_primary = true;
        }
        let Some((url, line)) = s.url else { continue };
        let kind = if url.to_ascii_lowercase().ends_with(".html")
            || url.to_ascii_lowercase().ends_with(".htm")
        {
            SourceKind::FindLinks
        } else if primary {
            SourceKind::Registry
        } else {
            SourceKind::ExtraIndex
        };
        out.push(Source::new(
            index_kind(&url, kind),
            url,
            Origin::file(path, line),
            format!("source {}", s.name),
        ));
    }
    out.extend(project_specs(items, path, false));
}

/// `poetry.lock`: `[package.source]` (legacy index, git, url, file,
/// directory) and any `files[].url`.
fn poetry_lock_sources(text: &str, path: &Path) -> Vec<Source> {
    let lines = Lines::new(text);
    let mut pkgs: Vec<LockPkg<'_>> = Vec::new();
    let mut types: Vec<String> = Vec::new();
    let mut urls: Vec<Option<(std::borrow::Cow<'_, str>, usize)>> = Vec::new();
    super::uv::scan_toml(text, &mut |p, v, off| {
        if p.len() < 3 || p[0].key() != Some("package") {
            return;
        }
        let Some(i) = p[1].idx() else { return };
        if i >= pkgs.len() {
            pkgs.resize_with(i + 1, LockPkg::default);
            types.resize(i + 1, String::new());
            urls.resize(i + 1, None);
        }
        let Scalar::Str(s) = v else { return };
        match (
            p[2].key().unwrap_or(""),
            p.len(),
            p.last().and_then(Seg::key),
        ) {
            ("name", 3, _) => pkgs[i].name = Some(s),
            ("source", 4, Some("type")) => types[i] = s.to_ascii_lowercase(),
            ("source", 4, Some("url")) => urls[i] = Some((s, off)),
            ("files", 5, Some("url")) => pkgs[i].artifacts.push((true, s, off)),
            _ => {}
        }
    });
    for (i, p) in pkgs.iter_mut().enumerate() {
        if let Some((url, off)) = urls[i].take() {
            let key = match types[i].as_str() {
                "git" => "git",
                "url" => "url",
                "file" | "directory" => "path",
                // legacy (an index), or anything else naming a URL.
                _ => "registry",
            };
            p.source.push((key, url, off));
        }
    }
    super::uv::lock_sources(&pkgs, path, &lines, false)
}

// ---------------------------------------------------------------------------
// pipenv

const PIPENV_VALUE_OPTS: &[&str] = &[
    "--python",
    "--pypi-mirror",
    "--extra-pip-args",
    "--categories",
    "--extras",
    "-i",
    "--index",
    "-r",
    "--requirements",
    "-e",
    "--editable",
    "--config-settings",
    "--resolver",
    "--output",
    "--exclude-markers",
];

/// The Pipfile pipenv uses: `PIPENV_PIPFILE`, else the nearest one from the
/// working directory up `PIPENV_MAX_DEPTH` (3) levels.
fn pipfile_path(req: &Request<'_>) -> Option<PathBuf> {
    if let Some(p) = req.env.get("PIPENV_PIPFILE").filter(|v| !v.is_empty()) {
        return Some(normalize(&req.cwd.join(p)));
    }
    let depth = req
        .env
        .get("PIPENV_MAX_DEPTH")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(3)
        .min(64);
    req.cwd
        .ancestors()
        .take(depth + 1)
        .map(|d| d.join("Pipfile"))
        .find(|p| req.files.exists(p))
}

/// The host of an `https://` URL (for `verify_ssl = false`).
fn https_host(url: &str) -> Option<String> {
    let rest = url.trim().strip_prefix("https://").or_else(|| {
        url.trim()
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("https://"))
            .map(|_| &url.trim()[8..])
    })?;
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit('@').next()?;
    (!host.is_empty()).then(|| host.to_string())
}

fn pipenv_sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let mut out = Vec::new();
    let args = own_args(req.args, PIPENV_VALUE_OPTS);
    let pos = positionals(args, PIPENV_VALUE_OPTS);
    let pipfile = pipfile_path(req);
    let mut has_sources = false;
    if let Some(pf) = &pipfile {
        if let Some(text) = req.files.read(pf) {
            let items = toml_items(&text);
            has_sources = pipfile_manifest(req, &items, pf, &mut out);
        }
        let lock = pf.with_file_name("Pipfile.lock");
        if verb == Verb::Install {
            if let Some(text) = req.files.read(&lock) {
                out.extend(pipfile_lock_sources(&text, &lock));
            }
        }
    }
    if !has_sources {
        // Without `[[source]]`, pipenv's default source comes from pip's
        // configuration (files and `PIP_INDEX_URL`), `PIPENV_TEST_INDEX`, or
        // PyPI; `PIPENV_PYPI_MIRROR` replaces it whatever it is. A new Pipfile
        // also gets pip's extra indexes as sources, which the mirror does not
        // replace.
        let exists = pipfile.as_ref().is_some_and(|p| req.files.exists(p));
        let mut named = false;
        for (key, value, origin) in pip_conf_indexes(req) {
            // `PIP_*` values are listed below (a blank value clears them).
            let from_env = matches!(origin, Origin::Env { .. });
            match key {
                "index-url" => {
                    named = true;
                    out.push(
                        Source::new(
                            index_kind(&value, SourceKind::Registry),
                            value,
                            origin,
                            "index-url",
                        )
                        .overridable(),
                    );
                }
                "extra-index-url" if !exists && !from_env => out.push(Source::new(
                    index_kind(&value, SourceKind::ExtraIndex),
                    value,
                    origin,
                    "extra-index-url",
                )),
                "trusted-host" if !exists && !from_env => out.push(Source::new(
                    SourceKind::Insecure,
                    value,
                    origin,
                    "trusted-host",
                )),
                _ => {}
            }
        }
        if let Some(v) = req
            .env
            .get("PIPENV_TEST_INDEX")
            .filter(|v| !v.trim().is_empty())
        {
            named = true;
            out.push(
                Source::new(
                    index_kind(&v, SourceKind::Registry),
                    v.trim(),
                    Origin::env("PIPENV_TEST_INDEX"),
                    "test-index",
                )
                .overridable(),
            );
        }
        if !named {
            out.insert(
                0,
                Source::new(
                    SourceKind::Registry,
                    "builtin",
                    Origin::Builtin,
                    "source pypi",
                )
                .overridable(),
            );
        }
    }
    // The environment.
    if let Some(v) = req
        .env
        .get("PIPENV_PYPI_MIRROR")
        .filter(|v| !v.trim().is_empty())
    {
        out.push(
            Source::new(
                index_kind(&v, SourceKind::Registry),
                v.trim(),
                Origin::env("PIPENV_PYPI_MIRROR"),
                "pypi-mirror",
            )
            .overridable(),
        );
    }
    for (var, kind, subject) in [
        ("PIP_INDEX_URL", SourceKind::Registry, "index-url"),
        (
            "PIP_EXTRA_INDEX_URL",
            SourceKind::ExtraIndex,
            "extra-index-url",
        ),
        ("PIP_FIND_LINKS", SourceKind::FindLinks, "find-links"),
        ("PIP_TRUSTED_HOST", SourceKind::Insecure, "trusted-host"),
        ("PIP_TRUSTED_HOSTS", SourceKind::Insecure, "trusted-host"),
    ] {
        if let Some(v) = req.env.get(var) {
            for p in v.split_whitespace() {
                let k = if kind == SourceKind::Insecure {
                    kind
                } else {
                    index_kind(p, kind)
                };
                out.push(Source::new(k, p, Origin::env(var), subject).overridable());
            }
        }
    }
    // The command line.
    for (name, v) in option_values(
        args,
        &[
            "--pypi-mirror",
            "-i",
            "--index",
            "--extra-pip-args",
            "-r",
            "--requirements",
            "-e",
            "--editable",
        ],
        PIPENV_VALUE_OPTS,
    ) {
        let origin = Origin::flag(name.clone());
        match name.as_str() {
            "--pypi-mirror" => out.push(Source::new(
                index_kind(&v, SourceKind::Registry),
                v,
                origin,
                "pypi-mirror",
            )),
            // `--index URL` adds the index as a Pipfile source (a name refers to one).
            "-i" | "--index" => {
                if v.contains("://") {
                    out.push(Source::new(
                        index_kind(&v, SourceKind::ExtraIndex),
                        v,
                        origin,
                        "index",
                    ));
                }
            }
            "--extra-pip-args" => pip_arg_sources(&v, &origin, &mut out),
            "-r" | "--requirements" => {
                let mut r = ReqReader::new(req, false);
                r.file(&v, req.cwd, origin);
                out.extend(r.out);
            }
            _ => out.extend(spec_source(&v, origin)),
        }
    }
    if matches!(pos.first().copied(), Some("install" | "upgrade" | "update")) {
        for s in pos.iter().skip(1) {
            out.extend(spec_source(s, Origin::arg(*s)));
        }
    }
    out
}

/// pip's configuration as pipenv reads it (`pip._internal` `Configuration`):
/// `index-url`, `extra-index-url` and `trusted-host` from every section of
/// every pip config file, and `PIP_INDEX_URL` / `PIP_EXTRA_INDEX_URL` /
/// `PIP_TRUSTED_HOST` (each kept alongside the files' values).
fn pip_conf_indexes(req: &Request<'_>) -> Vec<(&'static str, String, Origin)> {
    let mut out = Vec::new();
    let env_file = req.env.get("PIP_CONFIG_FILE").filter(|v| !v.is_empty());
    let disabled = env_file
        .as_deref()
        .is_some_and(|f| f == "/dev/null" || f.eq_ignore_ascii_case("nul"));
    if !disabled {
        let mut files: Vec<PathBuf> = Vec::new();
        let dirs = req
            .env
            .get("XDG_CONFIG_DIRS")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "/etc/xdg".into());
        files.extend(
            dirs.split(':')
                .filter(|d| !d.is_empty())
                .map(|d| PathBuf::from(d).join("pip").join("pip.conf")),
        );
        files.push(PathBuf::from("/etc/pip.conf"));
        if let Some(home) = req.home {
            files.push(home.join(".pip").join("pip.conf"));
        }
        files.extend(config_home(req).map(|c| c.join("pip").join("pip.conf")));
        if let Some(venv) = req.env.get("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
            files.push(PathBuf::from(venv).join("pip.conf"));
        }
        files.extend(env_file.map(PathBuf::from));
        for file in files {
            let Some(text) = req.files.read(&file) else {
                continue;
            };
            for e in super::ini::parse(&text) {
                let key: &'static str = match e.key.as_str() {
                    "index-url" => "index-url",
                    "extra-index-url" => "extra-index-url",
                    "trusted-host" => "trusted-host",
                    _ => continue,
                };
                for v in e.value.split_whitespace() {
                    out.push((key, v.to_string(), Origin::file(&file, e.line)));
                }
            }
        }
    }
    for (var, key) in [
        ("PIP_INDEX_URL", "index-url"),
        ("PIP_EXTRA_INDEX_URL", "extra-index-url"),
        ("PIP_TRUSTED_HOST", "trusted-host"),
    ] {
        if let Some(v) = req.env.get(var) {
            for p in v.split_whitespace() {
                out.push((key, p.to_string(), Origin::env(var)));
            }
        }
    }
    out
}

/// A Pipfile's `[[source]]` list and its packages' git/file/path entries.
/// Returns whether it lists any source.
fn pipfile_manifest(req: &Request<'_>, items: &[Item], path: &Path, out: &mut Vec<Source>) -> bool {
    struct Src {
        url: Option<(String, usize)>,
        name: String,
        verify: Option<bool>,
    }
    let mut srcs: Vec<(usize, Src)> = Vec::new();
    for it in items {
        if it.path.len() == 3 && it.at(0, &["source", "#", "*"]) {
            let n = it.idx(1).unwrap_or(0);
            let pos = match srcs.iter().position(|(k, _)| *k == n) {
                Some(p) => p,
                None => {
                    srcs.push((
                        n,
                        Src {
                            url: None,
                            name: String::new(),
                            verify: None,
                        },
                    ));
                    srcs.len() - 1
                }
            };
            let e = &mut srcs[pos].1;
            match (it.key(2), &it.value) {
                (Some("url"), Scalar::Str(s)) => e.url = Some((expandvars(s, req), it.line)),
                (Some("name"), Scalar::Str(s)) => e.name = s.to_string(),
                (Some("verify_ssl"), Scalar::Bool(b)) => e.verify = Some(*b),
                (Some("verify_ssl"), Scalar::Str(s)) => {
                    e.verify = Some(s.eq_ignore_ascii_case("true"))
                }
                _ => {}
            }
            continue;
        }
        // [<category>] name = { git | file | path = … }
        let cat = it.key(0).unwrap_or("");
        if matches!(cat, "source" | "requires" | "pipenv" | "scripts") {
            continue;
        }
        let is_dep = it.path.len() == 3 && it.key(1).is_some() && it.key(2).is_some();
        if !is_dep {
            continue;
        }
        let (Some(v), Some(key)) = (it.str(), it.key(2)) else {
            continue;
        };
        let name = it.key(1).unwrap_or("");
        let origin = Origin::file(path, it.line);
        let v = expandvars(v, req);
        match key {
            "git" => out.push(Source::new(SourceKind::Git, v, origin, name)),
            "file" => out.push(Source::new(
                target_kind(&v).unwrap_or(SourceKind::Path),
                v,
                origin,
                name,
            )),
            "path" => out.push(Source::new(SourceKind::Path, v, origin, name)),
            _ => {}
        }
    }
    let any = srcs.iter().any(|(_, s)| s.url.is_some());
    for (n, (_, s)) in srcs.into_iter().enumerate() {
        let Some((url, line)) = s.url else { continue };
        let origin = Origin::file(path, line);
        let kind = if n == 0 {
            SourceKind::Registry
        } else {
            SourceKind::ExtraIndex
        };
        if s.verify == Some(false) {
            if let Some(host) = https_host(&url) {
                out.push(Source::new(
                    SourceKind::Insecure,
                    host,
                    origin.clone(),
                    "verify_ssl",
                ));
            }
        }
        out.push(Source::new(
            index_kind(&url, kind),
            url,
            origin,
            format!("source {}", s.name),
        ));
    }
    any
}

/// `Pipfile.lock`: `_meta.sources` and packages' `git`/`file`/`path`.
fn pipfile_lock_sources(text: &str, path: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return out;
    };
    let lines = Lines::new(text);
    let line_of = |value: &str| -> usize {
        let quoted = serde_json::to_string(value).unwrap_or_default();
        text.find(&quoted).map_or(0, |at| lines.line(at))
    };
    if let Some(sources) = v.pointer("/_meta/sources").and_then(|s| s.as_array()) {
        for s in sources {
            let Some(url) = s.get("url").and_then(|u| u.as_str()) else {
                continue;
            };
            let name = s.get("name").and_then(|n| n.as_str()).unwrap_or("");
            let origin = Origin::file(path, line_of(url));
            if s.get("verify_ssl").and_then(|b| b.as_bool()) == Some(false) {
                if let Some(host) = https_host(url) {
                    out.push(Source::new(
                        SourceKind::Insecure,
                        host,
                        origin.clone(),
                        "verify_ssl",
                    ));
                }
            }
            out.push(Source::new(
                index_kind(url, SourceKind::Locked),
                url,
                origin,
                format!("source {name}"),
            ));
        }
    }
    if let Some(obj) = v.as_object() {
        for (cat, pkgs) in obj {
            if cat == "_meta" {
                continue;
            }
            let Some(pkgs) = pkgs.as_object() else {
                continue;
            };
            for (name, p) in pkgs {
                for (key, kind) in [
                    ("git", SourceKind::Git),
                    ("file", SourceKind::Locked),
                    ("path", SourceKind::Path),
                ] {
                    if let Some(val) = p.get(key).and_then(|x| x.as_str()) {
                        let k = if kind == SourceKind::Locked {
                            match target_kind(val) {
                                Some(SourceKind::Direct) | None => SourceKind::Locked,
                                Some(other) => other,
                            }
                        } else {
                            kind
                        };
                        out.push(Source::new(
                            k,
                            val,
                            Origin::file(path, line_of(val)),
                            name.as_str(),
                        ));
                    }
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// pipx

const PIPX_VALUE_OPTS: &[&str] = &[
    "-i",
    "--index-url",
    "--pip-args",
    "--python",
    "--suffix",
    "--spec",
    "--preinstall",
    "--include-resources-from",
    "--app",
    "--lock",
    "--cooldown",
    "--backend",
    "--output",
    "--upgrade-strategy",
    "--fetch-python",
    "--python-args",
    "--with",
    "-r",
    "--requirement",
];

fn pipx_sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let mut out = Vec::new();
    let args = own_args(req.args, PIPX_VALUE_OPTS);
    let pos = positionals(args, PIPX_VALUE_OPTS);
    let cmd = pos.first().copied().unwrap_or("");
    let opts = option_values(
        args,
        &[
            "-i",
            "--index-url",
            "--pip-args",
            "--spec",
            "--preinstall",
            "--with",
            "-r",
            "--requirement",
            "--lock",
            "--backend",
        ],
        PIPX_VALUE_OPTS,
    );
    // What pipx hands to pip / `uv pip install`.
    let mut pip_args: Vec<String> = vec!["install".into()];
    let mut specs: Vec<(String, Origin)> = Vec::new();
    let mut backend = req.env.get("PIPX_DEFAULT_BACKEND").unwrap_or_default();
    for (name, v) in &opts {
        match name.as_str() {
            "-i" | "--index-url" => {
                pip_args.push("--index-url".into());
                pip_args.push(v.clone());
            }
            "--pip-args" => {
                // Requirement/constraint files are read here, not by pip's reader.
                let words = shell_split(v);
                let mut k = 0;
                while k < words.len() {
                    let w = &words[k];
                    k += 1;
                    match req_file_opt(w) {
                        Some(inline) => {
                            let file = match inline {
                                Some(f) => Some(f.to_string()),
                                None => {
                                    k += 1;
                                    words.get(k - 1).cloned()
                                }
                            };
                            if let Some(f) = file {
                                let mut r = ReqReader::new(req, false);
                                r.file(&f, req.cwd, Origin::flag(name.clone()));
                                out.extend(r.out);
                            }
                        }
                        None => pip_args.push(w.clone()),
                    }
                }
            }
            "-r" | "--requirement" => {
                // Read here rather than by pip's reader (see `pip_safe`).
                let mut r = ReqReader::new(req, false);
                r.file(v, req.cwd, Origin::flag(name.clone()));
                out.extend(r.out);
            }
            "--backend" => backend = v.clone(),
            "--lock" => {
                if let Some(text) = req.files.read(&normalize(&req.cwd.join(v))) {
                    out.extend(pylock_sources(&text, &normalize(&req.cwd.join(v))));
                }
            }
            _ => specs.push((v.clone(), Origin::flag(name.clone()))),
        }
    }
    let has_spec = opts.iter().any(|(n, _)| n == "--spec");
    match cmd {
        "install" => specs.extend(pos.iter().skip(1).map(|s| (s.to_string(), Origin::arg(*s)))),
        // The first argument names the venv.
        "inject" => specs.extend(pos.iter().skip(2).map(|s| (s.to_string(), Origin::arg(*s)))),
        "run" => {
            if let Some(app) = pos.get(1) {
                let lower = app.to_ascii_lowercase();
                if lower.starts_with("http://") || lower.starts_with("https://") {
                    if !has_spec {
                        // `pipx run https://…/script.py` downloads and runs it.
                        out.push(Source::new(
                            SourceKind::Direct,
                            *app,
                            Origin::arg(*app),
                            "script",
                        ));
                    }
                } else if lower.ends_with(".py") {
                    let mut u = Vec::new();
                    script_deps(req, &normalize(&req.cwd.join(app)), &mut u);
                    out.extend(u);
                } else if !has_spec {
                    specs.push((app.to_string(), Origin::arg(*app)));
                }
            }
        }
        _ => {}
    }
    // pip's view: its config files and PIP_* as pip reads them.
    let mut syn: Vec<String> = pip_args.into_iter().filter(|a| pip_safe(a)).collect();
    syn.extend(specs.iter().map(|(s, _)| s.clone()).filter(|a| pip_safe(a)));
    let with_origins = |mut v: Vec<Source>| {
        for s in &mut v {
            if let Origin::Argument { arg } = &s.origin {
                if let Some((_, o)) = specs.iter().find(|(sp, _)| sp == arg) {
                    s.origin = o.clone();
                }
            }
        }
        v
    };
    if let Some(pip) = Tool::by_name("pip") {
        let r = Request {
            tool: pip,
            args: &syn,
            env: req.env,
            files: req.files,
            cwd: req.cwd,
            home: req.home,
            real_tool: None,
        };
        out.extend(with_origins(super::pypi::sources(&r, Verb::Install)));
    }
    // uv's view, unless pipx is told to use pip.
    if !backend.trim().eq_ignore_ascii_case("pip") {
        if let Some(uv) = Tool::by_name("uv") {
            let mut uv_args: Vec<String> = vec!["pip".into()];
            uv_args.extend(syn.iter().cloned());
            let r = Request {
                tool: uv,
                args: &uv_args,
                env: req.env,
                files: req.files,
                cwd: req.cwd,
                home: req.home,
                real_tool: None,
            };
            let mut v = with_origins(super::uv::sources(&r, Verb::Install));
            for s in &mut v {
                // pipx's own flags reach pip as flags: nothing overrides them.
                if matches!(s.origin, Origin::Flag { .. } | Origin::Argument { .. }) {
                    s.overridable = false;
                }
            }
            out.extend(v);
        }
    }
    let _ = verb;
    out
}

/// `-r`/`-c` (and pip's spellings of them): `Some(inline value)`.
fn req_file_opt(w: &str) -> Option<Option<&str>> {
    let (name, inline) = match w.split_once('=') {
        Some((n, v)) if n.starts_with("--") => (n, Some(v)),
        _ => (w, None),
    };
    if name == "-r" || name == "-c" {
        return Some(inline);
    }
    if !name.starts_with("--") {
        let rest = name
            .strip_prefix("-r")
            .or_else(|| name.strip_prefix("-c"))?;
        return (!rest.is_empty()).then_some(Some(rest.trim_start_matches('=')));
    }
    let long = ["--requirement", "--constraint"]
        .iter()
        .any(|l| l.starts_with(name) && name.len() >= 5);
    long.then_some(inline)
}

/// Whether an argument can be handed to pip's classifier, which slices a
/// short option's first two bytes (a `-` followed by a multibyte character
/// would not be a character boundary). pip itself rejects such an argument.
fn pip_safe(a: &str) -> bool {
    !(a.starts_with('-') && a.len() > 2 && !a.is_char_boundary(2))
}

/// A PEP 723 script's dependencies (for `pipx run script.py`).
fn script_deps(req: &Request<'_>, path: &Path, out: &mut Vec<Source>) {
    let Some(text) = req.files.read(path) else {
        return;
    };
    let mut in_block = false;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_end();
        if t == "# /// script" {
            in_block = true;
            continue;
        }
        if in_block && t == "# ///" {
            break;
        }
        if in_block {
            // Dependencies are quoted strings inside the block.
            for part in t.split(['"', '\'']).skip(1).step_by(2) {
                out.extend(spec_source(part, Origin::file(path, i + 1)));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Forcing.

/// Blank values that clear a list option through the environment: pip
/// ignores an empty variable but reads a blank one as an empty list; uv
/// reads an empty one as an empty list.
const PIP_BLANK: &str = " ";

/// `[mirrors] pypi`: poetry cannot be forced (None). pipenv:
/// `PIPENV_PYPI_MIRROR` (replaces the default PyPI source), unapproved
/// `PIP_EXTRA_INDEX_URL` / `PIP_FIND_LINKS` / `PIP_TRUSTED_HOST` blanked.
/// pipx: `PIP_INDEX_URL` + blank `PIP_EXTRA_INDEX_URL` for its pip backend
/// and `UV_DEFAULT_INDEX` for its uv backend.
pub(super) fn force(
    tool: &str,
    args: &[String],
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    let _ = args;
    let mut env: Vec<(String, String)> = Vec::new();
    match tool {
        "pipenv" => {
            env.push(("PIPENV_PYPI_MIRROR".into(), mirror.into()));
            if sources
                .iter()
                .any(|s| s.origin == Origin::env("PIP_INDEX_URL"))
            {
                env.push(("PIP_INDEX_URL".into(), mirror.into()));
            }
        }
        "pipx" => {
            env.push(("PIP_INDEX_URL".into(), mirror.into()));
            env.push(("PIP_EXTRA_INDEX_URL".into(), PIP_BLANK.into()));
            env.push(("UV_DEFAULT_INDEX".into(), mirror.into()));
        }
        _ => return None,
    }
    let mut overridden = Vec::new();
    let mut remaining = Vec::new();
    let set = |k: &str, v: &str, env: &mut Vec<(String, String)>| {
        if !env.iter().any(|(e, _)| e == k) {
            env.push((k.into(), v.into()));
        }
    };
    for s in sources {
        let var = match &s.origin {
            Origin::Env { var } => Some(var.clone()),
            _ => None,
        };
        let take = s.overridable
            && match s.kind {
                SourceKind::Registry => true,
                SourceKind::Path => s.subject == "index-url" || s.subject == "default-index",
                SourceKind::ExtraIndex => {
                    tool == "pipx" && var.as_deref().is_none_or(|v| v.starts_with("PIP_"))
                        || !approved(s)
                }
                SourceKind::FindLinks | SourceKind::Insecure => !approved(s),
                _ => false,
            };
        if !take {
            remaining.push(s.clone());
            continue;
        }
        match (s.kind, var.as_deref()) {
            (SourceKind::Registry | SourceKind::Path, _) => {}
            (_, Some(v)) if v.starts_with("UV_") => set(v, "", &mut env),
            (_, Some(v)) => set(v, PIP_BLANK, &mut env),
            // A pip config file's value (pipx's pip reads pip.conf).
            (SourceKind::ExtraIndex, None) => set("PIP_EXTRA_INDEX_URL", PIP_BLANK, &mut env),
            (SourceKind::FindLinks, None) => set("PIP_FIND_LINKS", PIP_BLANK, &mut env),
            (SourceKind::Insecure, None) => set("PIP_TRUSTED_HOST", PIP_BLANK, &mut env),
            _ => {}
        }
        overridden.push(s.clone());
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
    use super::super::uv::testing::{check, force, run, Case};
    use super::*;
    use SourceKind::*;

    const B: &str = "the tool's built-in default";

    #[test]
    fn verbs() {
        let cases: &[(&str, &[&str], Verb)] = &[
            ("poetry", &["install"], Verb::Install),
            ("poetry", &["-C", "dir", "add", "x"], Verb::Install),
            ("poetry", &["self", "add", "plugin"], Verb::Install),
            ("poetry", &["publish"], Verb::Publish),
            ("poetry", &["run", "pytest"], Verb::Other),
            (
                "poetry",
                &["source", "add", "x", "http://a.test/"],
                Verb::Other,
            ),
            ("pipenv", &["install"], Verb::Install),
            ("pipenv", &["--python", "3.11", "sync"], Verb::Install),
            ("pipenv", &["run", "x"], Verb::Other),
            ("pipx", &["run", "x"], Verb::Execute),
            ("pipx", &["--verbose", "install", "x"], Verb::Install),
            ("pipx", &["inject", "venv", "x"], Verb::Install),
            ("pipx", &["list"], Verb::Other),
        ];
        for (tool, args, want) in cases {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert_eq!(verb(tool, &args), *want, "{tool} {args:?}");
        }
    }

    const POETRY_LOCK: &str = r#"# This file is automatically @generated by Poetry 2.5.1 and should not be changed by hand.

[[package]]
name = "a"
version = "1.0"
files = [
    {file = "a-1.0-py3-none-any.whl", hash = "sha256:00"},
]

[package.source]
type = "legacy"
url = "http://lock.test/simple"
reference = "corp"

[[package]]
name = "b"
version = "1.0"
files = []

[package.source]
type = "git"
url = "https://git.test/b.git"
reference = "main"
resolved_reference = "abc"

[[package]]
name = "c"
version = "1.0"
files = [{file = "c.whl", hash = "sha256:00"}]

[package.source]
type = "url"
url = "https://c.test/c-1.0-py3-none-any.whl"

[[package]]
name = "d"
version = "1.0"
files = []

[package.source]
type = "directory"
url = "../d"
"#;

    #[test]
    fn poetry() {
        check(&[
            Case {
                // No sources: PyPI.
                tool: "poetry",
                args: &["install"],
                env: &[],
                files: &[("/w/proj/pyproject.toml", "[project]\nname = \"x\"\n")],
                want: &[(Registry, "builtin", B, false)],
                not: &[],
            },
            Case {
                tool: "poetry",
                args: &["install"],
                env: &[],
                files: &[
                    ("/w/proj/pyproject.toml", "[tool.poetry]\nname = \"x\"\n\n[[tool.poetry.source]]\nname = \"corp\"\nurl = \"http://a.test/simple/\"\npriority = \"primary\"\n\n[[tool.poetry.source]]\nname = \"extra\"\nurl = \"http://b.test/simple/\"\npriority = \"supplemental\"\n\n[[tool.poetry.source]]\nname = \"links\"\nurl = \"http://c.test/wheels.html\"\npriority = \"explicit\"\n\n[tool.poetry.dependencies]\npython = \"^3.9\"\ng = { git = \"https://g.test/g.git\", branch = \"main\" }\nu = { url = \"https://u.test/u.whl\" }\np = { path = \"../p\", develop = true }\nm = [{ version = \"1\", python = \"<3.10\" }, { git = \"https://m.test/m.git\", python = \">=3.10\" }]\n\n[tool.poetry.group.dev.dependencies]\nd = { git = \"https://d.test/d.git\" }\n\n[tool.poetry.requires-plugins]\nplug = { url = \"https://plug.test/plug.whl\" }\n"),
                    ("/w/proj/poetry.lock", POETRY_LOCK),
                ],
                want: &[
                    (Registry, "http://a.test/simple/", "/w/proj/pyproject.toml:6", false),
                    (ExtraIndex, "http://b.test/simple/", "/w/proj/pyproject.toml:11", false),
                    (FindLinks, "http://c.test/wheels.html", "/w/proj/pyproject.toml:16", false),
                    (Git, "https://g.test/g.git", "/w/proj/pyproject.toml:21", false),
                    (Direct, "https://u.test/u.whl", "/w/proj/pyproject.toml:22", false),
                    (Path, "../p", "/w/proj/pyproject.toml:23", false),
                    (Git, "https://m.test/m.git", "/w/proj/pyproject.toml:24", false),
                    (Git, "https://d.test/d.git", "/w/proj/pyproject.toml:27", false),
                    (Direct, "https://plug.test/plug.whl", "/w/proj/pyproject.toml:30", false),
                    (Locked, "http://lock.test/simple", "/w/proj/poetry.lock:12", false),
                    (Git, "https://git.test/b.git", "/w/proj/poetry.lock:22", false),
                    (Locked, "https://c.test/c-1.0-py3-none-any.whl", "/w/proj/poetry.lock:33", false),
                ],
                // A primary source disables the implicit PyPI.
                not: &["builtin"],
            },
            Case {
                // An explicit `pypi` source (no URL) is PyPI; -C moves the project.
                tool: "poetry",
                args: &["-C", "/other", "lock"],
                env: &[],
                files: &[("/other/pyproject.toml", "[[tool.poetry.source]]\nname = \"PyPI\"\npriority = \"primary\"\n[[tool.poetry.source]]\nname = \"x\"\nurl = \"http://x.test/\"\npriority = \"primary\"\n[project]\ndependencies = [\"q @ git+https://q.test/q\"]\n")],
                want: &[
                    (Registry, "builtin", B, false),
                    (Registry, "http://x.test/", "/other/pyproject.toml:6", false),
                    (Git, "git+https://q.test/q", "/other/pyproject.toml:9", false),
                ],
                not: &[],
            },
            Case {
                // Command line: specs, `source add`, `config`; poetry config certificates.
                tool: "poetry",
                args: &["add", "git+https://a.test/r.git", "b@https://b.test/b.whl", "git@c.test:u/r.git", "./loc", "x@^1.0", "--source", "corp"],
                env: &[("POETRY_CERTIFICATES_CORP_CERT", "false")],
                files: &[("/home/u/.config/pypoetry/config.toml", "[certificates.other]\ncert = false\n"), ("/w/proj/poetry.toml", "[certificates.third]\ncert = \"false\"\n")],
                want: &[
                    (Git, "git+https://a.test/r.git", "the command-line argument `git+https://a.test/r.git`", false),
                    (Direct, "https://b.test/b.whl", "the command-line argument `b@https://b.test/b.whl`", false),
                    (Git, "git@c.test:u/r.git", "the command-line argument `git@c.test:u/r.git`", false),
                    (Path, "./loc", "the command-line argument `./loc`", false),
                    (Insecure, "cert = false for corp", "the environment variable POETRY_CERTIFICATES_CORP_CERT", false),
                    (Insecure, "cert = false for other", "/home/u/.config/pypoetry/config.toml:2", false),
                ],
                not: &["corp", "x@^1.0"],
            },
            Case {
                tool: "poetry",
                args: &["source", "add", "--priority=supplemental", "evil", "http://e.test/simple/"],
                env: &[],
                files: &[],
                want: &[(ExtraIndex, "http://e.test/simple/", "the command-line argument `http://e.test/simple/`", false)],
                not: &[],
            },
            Case {
                tool: "poetry",
                args: &["publish", "-r", "corp"],
                env: &[("POETRY_REPOSITORIES_CORP_URL", "http://up.test/legacy/")],
                files: &[],
                want: &[(Registry, "http://up.test/legacy/", "the environment variable POETRY_REPOSITORIES_CORP_URL", false)],
                not: &[],
            },
        ]);
        // Poetry cannot be forced.
        let s = run("poetry", &["install"], &[], &[]);
        assert!(force("poetry", &["install"], &s, "http://127.0.0.1:1/simple/").is_none());
    }

    #[test]
    fn pipenv() {
        check(&[
            Case {
                tool: "pipenv",
                args: &["install"],
                env: &[],
                files: &[("/w/proj/sub/Pipfile", "[packages]\nrequests = \"*\"\n")],
                want: &[(Registry, "builtin", B, true)],
                not: &[],
            },
            Case {
                // The Pipfile is found up to three levels above; ${VAR} in URLs.
                tool: "pipenv",
                args: &["sync"],
                env: &[("IDX", "a.test"), ("PIP_EXTRA_INDEX_URL", "http://pe.test/simple"), ("PIP_FIND_LINKS", "http://pf.test/"), ("PIP_TRUSTED_HOST", "pt.test"), ("PIPENV_PYPI_MIRROR", "http://pm.test/simple")],
                files: &[
                    ("/w/Pipfile", "[[source]]\nurl = \"https://${IDX}/simple\"\nverify_ssl = true\nname = \"a\"\n\n[[source]]\nurl = \"https://b.test/simple\"\nverify_ssl = false\nname = \"b\"\n\n[packages]\ng = { git = \"https://g.test/g.git\", ref = \"v1\" }\nf = { file = \"https://f.test/f.whl\" }\np = { path = \"./p\", editable = true }\nx = { version = \"*\", index = \"b\" }\n"),
                    ("/w/Pipfile.lock", "{\n  \"_meta\": {\n    \"sources\": [\n      {\"name\": \"a\", \"url\": \"https://l.test/simple\", \"verify_ssl\": false}\n    ]\n  },\n  \"default\": {\n    \"g\": {\"git\": \"https://lg.test/g.git\", \"ref\": \"abc\"},\n    \"f\": {\"file\": \"https://lf.test/f.whl\"},\n    \"x\": {\"version\": \"==1\", \"index\": \"b\", \"hashes\": []}\n  },\n  \"develop\": {}\n}\n"),
                ],
                want: &[
                    (Registry, "https://a.test/simple", "/w/Pipfile:2", false),
                    (ExtraIndex, "https://b.test/simple", "/w/Pipfile:7", false),
                    (Insecure, "b.test", "/w/Pipfile:7", false),
                    (Git, "https://g.test/g.git", "/w/Pipfile:12", false),
                    (Direct, "https://f.test/f.whl", "/w/Pipfile:13", false),
                    (Path, "./p", "/w/Pipfile:14", false),
                    (Locked, "https://l.test/simple", "/w/Pipfile.lock:4", false),
                    (Insecure, "l.test", "/w/Pipfile.lock:4", false),
                    (Git, "https://lg.test/g.git", "/w/Pipfile.lock:8", false),
                    (Locked, "https://lf.test/f.whl", "/w/Pipfile.lock:9", false),
                    (ExtraIndex, "http://pe.test/simple", "the environment variable PIP_EXTRA_INDEX_URL", true),
                    (FindLinks, "http://pf.test/", "the environment variable PIP_FIND_LINKS", true),
                    (Insecure, "pt.test", "the environment variable PIP_TRUSTED_HOST", true),
                    (Registry, "http://pm.test/simple", "the environment variable PIPENV_PYPI_MIRROR", true),
                ],
                not: &["builtin"],
            },
            Case {
                // Too far up; PIPENV_PIPFILE names another.
                tool: "pipenv",
                args: &["install"],
                env: &[("PIPENV_PIPFILE", "/elsewhere/Pipfile")],
                files: &[("/elsewhere/Pipfile", "[[source]]\nurl = \"http://e.test/simple\"\n"), ("/w/proj/sub/Pipfile", "[[source]]\nurl = \"http://no.test/simple\"\n")],
                want: &[(Registry, "http://e.test/simple", "/elsewhere/Pipfile:2", false)],
                not: &["http://no.test/simple"],
            },
            Case {
                tool: "pipenv",
                args: &["install", "--pypi-mirror", "http://m.test/simple", "-i", "http://i.test/simple", "--extra-pip-args=--extra-index-url http://x.test/ --trusted-host=t.test -fhttp://f.test/", "-r", "req.txt", "git+https://g.test/r", "six"],
                env: &[],
                files: &[("/w/proj/sub/req.txt", "-i http://r.test/simple\nrequests\n")],
                want: &[
                    (Registry, "http://m.test/simple", "the command-line flag --pypi-mirror", false),
                    (ExtraIndex, "http://i.test/simple", "the command-line flag -i", false),
                    (ExtraIndex, "http://x.test/", "the command-line flag --extra-pip-args", false),
                    (Insecure, "t.test", "the command-line flag --extra-pip-args", false),
                    (FindLinks, "http://f.test/", "the command-line flag --extra-pip-args", false),
                    (Registry, "http://r.test/simple", "/w/proj/sub/req.txt:1", false),
                    (Git, "git+https://g.test/r", "the command-line argument `git+https://g.test/r`", false),
                ],
                not: &[],
            },
        ]);
    }

    #[test]
    fn pipenv_default_source_from_pip_config() {
        check(&[
            Case {
                // A Pipfile without [[source]]: pip's index-url (file and env) is the
                // default source; the mirror replaces it; extras are not used.
                tool: "pipenv",
                args: &["lock"],
                env: &[("PIP_INDEX_URL", "http://env.test/simple")],
                files: &[
                    ("/w/proj/sub/Pipfile", "[packages]\nx = \"*\"\n"),
                    ("/home/u/.config/pip/pip.conf", "[install]\nindex-url = http://file.test/simple\nextra-index-url = http://extra.test/simple\n"),
                ],
                want: &[
                    (Registry, "http://file.test/simple", "/home/u/.config/pip/pip.conf:2", true),
                    (Registry, "http://env.test/simple", "the environment variable PIP_INDEX_URL", true),
                ],
                not: &["builtin", "http://extra.test/simple"],
            },
            Case {
                // No Pipfile: pipenv writes pip's indexes into a new one.
                tool: "pipenv",
                args: &["install", "x"],
                env: &[("PIPENV_TEST_INDEX", "http://t.test/simple")],
                files: &[("/etc/pip.conf", "[global]\nextra-index-url = http://extra.test/simple\ntrusted-host = extra.test\n")],
                want: &[
                    (ExtraIndex, "http://extra.test/simple", "/etc/pip.conf:2", false),
                    (Insecure, "extra.test", "/etc/pip.conf:3", false),
                    (Registry, "http://t.test/simple", "the environment variable PIPENV_TEST_INDEX", true),
                ],
                not: &["builtin"],
            },
        ]);
    }

    #[test]
    fn pipx() {
        check(&[
            Case {
                tool: "pipx",
                args: &["install", "black"],
                env: &[],
                files: &[],
                want: &[(Registry, "builtin", B, true)],
                not: &[],
            },
            Case {
                tool: "pipx",
                args: &[
                    "install",
                    "--index-url",
                    "http://a.test/simple",
                    "--pip-args=--extra-index-url http://b.test/simple --trusted-host b.test",
                    "git+https://c.test/tool",
                    "d @ https://d.test/d.whl",
                ],
                env: &[
                    ("PIP_FIND_LINKS", "http://e.test/links"),
                    ("UV_INDEX", "http://f.test/simple"),
                ],
                files: &[
                    (
                        "/home/u/.config/pip/pip.conf",
                        "[global]\nextra-index-url = http://g.test/simple\n",
                    ),
                    (
                        "/home/u/.config/uv/uv.toml",
                        "[[index]]\nurl = \"http://h.test/simple\"\n",
                    ),
                ],
                want: &[
                    (
                        Registry,
                        "http://a.test/simple",
                        "the command-line flag --index-url",
                        false,
                    ),
                    (
                        ExtraIndex,
                        "http://b.test/simple",
                        "the command-line flag --extra-index-url",
                        false,
                    ),
                    (
                        Insecure,
                        "b.test",
                        "the command-line flag --trusted-host",
                        false,
                    ),
                    (
                        Git,
                        "git+https://c.test/tool",
                        "the command-line argument `git+https://c.test/tool`",
                        false,
                    ),
                    (
                        Direct,
                        "https://d.test/d.whl",
                        "the command-line argument `d @ https://d.test/d.whl`",
                        false,
                    ),
                    (
                        FindLinks,
                        "http://e.test/links",
                        "the environment variable PIP_FIND_LINKS",
                        true,
                    ),
                    (
                        ExtraIndex,
                        "http://f.test/simple",
                        "the environment variable UV_INDEX",
                        true,
                    ),
                    (
                        ExtraIndex,
                        "http://g.test/simple",
                        "/home/u/.config/pip/pip.conf:2",
                        true,
                    ),
                    (
                        ExtraIndex,
                        "http://h.test/simple",
                        "/home/u/.config/uv/uv.toml:2",
                        false,
                    ),
                ],
                not: &["builtin"],
            },
            Case {
                // pipx run: the app's own arguments are not pipx's; --spec names the package.
                tool: "pipx",
                args: &[
                    "run",
                    "--spec",
                    "git+https://a.test/t",
                    "t",
                    "--index-url",
                    "http://arg.test/",
                ],
                env: &[],
                files: &[],
                want: &[(
                    Git,
                    "git+https://a.test/t",
                    "the command-line flag --spec",
                    false,
                )],
                not: &["http://arg.test/"],
            },
            Case {
                tool: "pipx",
                args: &["run", "https://a.test/script.py"],
                env: &[],
                files: &[],
                want: &[(
                    Direct,
                    "https://a.test/script.py",
                    "the command-line argument `https://a.test/script.py`",
                    false,
                )],
                not: &[],
            },
            Case {
                // --backend pip: uv's files are not read.
                tool: "pipx",
                args: &["install", "--backend", "pip", "x"],
                env: &[],
                files: &[(
                    "/home/u/.config/uv/uv.toml",
                    "[[index]]\nurl = \"http://h.test/simple\"\n",
                )],
                want: &[],
                not: &["http://h.test/simple"],
            },
        ]);
    }

    #[test]
    fn forcing() {
        // pipenv: the default source and PIP_* values are replaced; Pipfile sources stay.
        let files: &[(&str, &str)] = &[("/w/proj/sub/Pipfile", "[packages]\nx = \"*\"\n")];
        let env = [
            ("PIP_EXTRA_INDEX_URL", "http://pe.test/"),
            ("PIP_TRUSTED_HOST", "t.test"),
            ("PIP_FIND_LINKS", "http://ok.test/links"),
        ];
        let s = run("pipenv", &["install"], &env, files);
        let plan = force("pipenv", &["install"], &s, "http://127.0.0.1:1/simple/").unwrap();
        let env: Vec<(&str, &str)> = plan
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            env,
            [
                ("PIPENV_PYPI_MIRROR", "http://127.0.0.1:1/simple/"),
                ("PIP_EXTRA_INDEX_URL", " "),
                ("PIP_TRUSTED_HOST", " ")
            ]
        );
        assert!(plan
            .remaining
            .iter()
            .any(|s| s.value == "http://ok.test/links"));
        assert!(plan.overridden.iter().any(|s| s.value == "builtin"));
        let files: &[(&str, &str)] = &[(
            "/w/proj/sub/Pipfile",
            "[[source]]\nurl = \"http://evil.test/simple\"\n",
        )];
        let s = run("pipenv", &["install"], &[], files);
        let plan = force("pipenv", &["install"], &s, "http://127.0.0.1:1/simple/").unwrap();
        assert!(plan
            .remaining
            .iter()
            .any(|s| s.value == "http://evil.test/simple"));
        // pipx: both backends; its own flags stay.
        let s = run(
            "pipx",
            &["install", "-i", "http://cli.test/", "x"],
            &[("UV_INDEX", "http://uvx.test/")],
            &[(
                "/home/u/.config/pip/pip.conf",
                "[global]\nindex-url = http://cfg.test/\n",
            )],
        );
        let plan = force("pipx", &["install"], &s, "http://127.0.0.1:1/simple/").unwrap();
        let env: Vec<(&str, &str)> = plan
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            env,
            [
                ("PIP_INDEX_URL", "http://127.0.0.1:1/simple/"),
                ("PIP_EXTRA_INDEX_URL", " "),
                ("UV_DEFAULT_INDEX", "http://127.0.0.1:1/simple/"),
                ("UV_INDEX", "")
            ]
        );
        assert!(plan.remaining.iter().any(|s| s.value == "http://cli.test/"));
        assert!(!plan.remaining.iter().any(|s| s.value == "http://uvx.test/"));
    }

    #[test]
    fn shell_words() {
        assert_eq!(
            shell_split("a 'b c' \"d\\\"e\" f\\ g ''"),
            ["a", "b c", "d\"e", "f g", ""]
        );
    }
}
