//! Registry credentials of confined Python code. A confined run (an
//! approved sdist's `pip wheel`, a uv / poetry / pipenv run that builds
//! approved code) sees no secret: the sandbox scrubs credential variables
//! and URL userinfo, and credential files (`~/.netrc`, …) are unreadable.
//! Its index fetches still authenticate: pkgward reads the credentials the
//! tool would use, outside the sandbox, and its egress proxy adds them
//! (`Authorization: Basic`) to the plain-HTTP requests for that host and
//! port ([`crate::supervise::proxy::Handle::add_auth`]), so the code in the
//! sandbox can use the index but never reads the secret. A TLS index
//! (`https://`) is tunnelled untouched (no TLS interception). pkgward's own
//! `pip wheel` builds reach one through an index gateway instead
//! ([`to_gateway`]): pkgward fetches from the index itself, with the
//! credentials and the trust pip would use, and the build's index settings
//! point at the gateway. A confined uv or poetry run, whose lock file
//! records the index URL, gets the gateway at the index's own origin
//! ([`super::origin`]). Elsewhere (a confined pipenv run) a TLS index's
//! credentials do not reach the confined run, which says so in its record.
//!
//! Where credentials are read from: URL userinfo in the tool's arguments,
//! in any environment variable, in the configuration files the tools read
//! (pip's `pip.conf` files, `uv.toml`, the project's `pyproject.toml`, the
//! `Pipfile` with its `${VAR}` references expanded); `UV_INDEX_<NAME>_USERNAME`
//! / `_PASSWORD` for the index named NAME (`--index NAME=URL`, `UV_INDEX`,
//! `[[tool.uv.index]]`); poetry's `http-basic.<NAME>` (`POETRY_HTTP_BASIC_<NAME>_*`,
//! its `auth.toml`) for the source named NAME; `~/.netrc` (`NETRC`) per host.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Credentials for the requests to one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cred {
    /// `http` or `https`; `None`: any (netrc).
    pub scheme: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub user: String,
    pub password: String,
}

impl Cred {
    /// The credentials in a URL's userinfo (`scheme://user:pass@host`).
    fn from_url(u: &str) -> Option<Cred> {
        let url = url::Url::parse(u.trim()).ok()?;
        if !matches!(url.scheme(), "http" | "https") || url.username().is_empty() {
            return None;
        }
        let dec = |s: &str| {
            url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        Some(Cred {
            scheme: Some(url.scheme().to_string()),
            host: url.host_str()?.to_string(),
            port: url.port_or_known_default(),
            user: dec(url.username()),
            password: dec(url.password().unwrap_or("")),
        })
    }

    /// `user` / `password` for the host of `url`.
    fn for_url(url: &str, user: String, password: String) -> Option<Cred> {
        let u = url::Url::parse(url.trim()).ok()?;
        Some(Cred {
            scheme: Some(u.scheme().to_string()),
            host: u.host_str()?.to_string(),
            port: u.port_or_known_default(),
            user,
            password,
        })
    }

    /// Whether pkgward's proxy can add them (plain HTTP, or netrc's any).
    pub fn injectable(&self) -> bool {
        self.scheme.as_deref() != Some("https")
    }
}

/// Every `scheme://…` URL in a text.
fn urls_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("://") {
        let start = text[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |j| j + 1);
        let end = text[i..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ','))
            .map_or(text.len(), |j| i + j);
        out.push(text[start..end].to_string());
    }
    out
}

/// `UV_INDEX_<NAME>_…`'s NAME for an index name (uppercased, other than
/// ASCII letters and digits as `_`).
pub(super) fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `NAME=URL` entries (uv's `--index`, `UV_INDEX`).
fn named_entries(v: &str, out: &mut Vec<(String, String)>) {
    for e in v.split_whitespace() {
        if let Some((n, u)) = e.split_once('=') {
            if !n.contains(['/', ':']) {
                out.push((n.to_string(), u.to_string()));
            }
        }
    }
}

/// `[[tool.uv.index]]` / `[[index]]` / `[[tool.poetry.source]]` /
/// `[[source]]` tables of a TOML text: (name, url).
pub(super) fn toml_indexes(text: &str, out: &mut Vec<(String, String)>) {
    let Ok(t) = text.parse::<toml::Table>() else {
        return;
    };
    let tool = t.get("tool");
    let lists = [
        tool.and_then(|t| t.get("uv")).and_then(|u| u.get("index")),
        t.get("index"),
        tool.and_then(|t| t.get("poetry"))
            .and_then(|p| p.get("source")),
        t.get("source"),
    ];
    for l in lists.into_iter().flatten() {
        for e in l.as_array().into_iter().flatten() {
            if let (Some(n), Some(u)) = (
                e.get("name").and_then(|v| v.as_str()),
                e.get("url").and_then(|v| v.as_str()),
            ) {
                out.push((n.to_string(), u.to_string()));
            }
        }
    }
}

/// `$VAR` / `${VAR}` expanded from `var` (pipenv expands its Pipfile's
/// source URLs so).
fn expand(text: &str, var: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(b) = after.strip_prefix('{') {
            match b.find('}') {
                Some(j) => (&b[..j], j + 2),
                None => ("", 0),
            }
        } else {
            let j = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..j], j)
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        out.push_str(&var(name).unwrap_or_default());
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// `machine HOST login USER password PASS` entries of a netrc text.
fn netrc(text: &str) -> Vec<Cred> {
    let mut out = Vec::new();
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut cur: Option<Cred> = None;
    let mut i = 0;
    while i < words.len() {
        let next = words.get(i + 1).copied().unwrap_or("");
        match words[i] {
            "machine" | "default" => {
                out.extend(cur.take());
                if words[i] == "machine" {
                    cur = Some(Cred {
                        scheme: None,
                        host: next.to_string(),
                        port: None,
                        user: String::new(),
                        password: String::new(),
                    });
                    i += 1;
                }
            }
            "login" => {
                if let Some(c) = cur.as_mut() {
                    c.user = next.to_string();
                }
                i += 1;
            }
            "password" => {
                if let Some(c) = cur.as_mut() {
                    c.password = next.to_string();
                }
                i += 1;
            }
            "account" | "macdef" => i += 1,
            _ => {}
        }
        i += 1;
    }
    out.extend(cur);
    out.retain(|c| !c.user.is_empty() || !c.password.is_empty());
    out
}

/// The variables a launch sees: its own over pkgward's.
pub(super) struct Vars(Vec<(String, String)>);

impl Vars {
    pub(super) fn of(env: &[(OsString, OsString)]) -> Vars {
        let mut vars: Vec<(String, String)> = std::env::vars_os()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect();
        for (k, v) in env {
            let k = k.to_string_lossy().into_owned();
            vars.retain(|(x, _)| *x != k);
            vars.push((k, v.to_string_lossy().into_owned()));
        }
        Vars(vars)
    }

    /// A variable's value, unless unset or empty.
    pub(super) fn get(&self, k: &str) -> Option<String> {
        self.raw(k).filter(|v| !v.is_empty())
    }

    /// A variable's value, unless unset.
    fn raw(&self, k: &str) -> Option<String> {
        self.0.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone())
    }
}

pub(super) fn read(p: &Path) -> Option<String> {
    let meta = std::fs::metadata(p).ok()?;
    (meta.is_file() && meta.len() < 4 << 20)
        .then(|| std::fs::read_to_string(p).ok())
        .flatten()
}

/// pip's configuration files, in its order (a later one wins): global
/// (`$XDG_CONFIG_DIRS/pip/pip.conf`, `/etc/pip.conf`), the user's
/// (`~/.pip/pip.conf`, `$XDG_CONFIG_HOME/pip/pip.conf`; not when
/// `PIP_CONFIG_FILE` names a file), the environment's (`$VIRTUAL_ENV`),
/// `PIP_CONFIG_FILE`. None when `PIP_CONFIG_FILE` is `/dev/null`.
fn pip_config_files(vars: &Vars) -> Vec<PathBuf> {
    let explicit = vars.get("PIP_CONFIG_FILE").map(PathBuf::from);
    if explicit.as_deref() == Some(Path::new("/dev/null")) {
        return Vec::new();
    }
    let home = vars.get("HOME").map(PathBuf::from);
    let mut files: Vec<PathBuf> = vars
        .get("XDG_CONFIG_DIRS")
        .unwrap_or_else(|| "/etc/xdg".into())
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join("pip/pip.conf"))
        .collect();
    files.push(PathBuf::from("/etc/pip.conf"));
    if !explicit.as_deref().is_some_and(Path::exists) {
        files.extend(home.as_ref().map(|h| h.join(".pip/pip.conf")));
        files.extend(
            vars.get("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".config")))
                .map(|c| c.join("pip/pip.conf")),
        );
    }
    files.extend(
        vars.get("VIRTUAL_ENV")
            .map(|v| PathBuf::from(v).join("pip.conf")),
    );
    files.extend(explicit);
    files
}

/// The values of pip's configuration files for `command` (`[global]`,
/// then `[command]`, a later file winning), keys with `-` (`index-url`).
fn pip_config(vars: &Vars, command: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for f in pip_config_files(vars) {
        let Some(text) = read(&f) else { continue };
        for section in ["global", command] {
            for (k, v) in ini_section(&text, section) {
                out.retain(|(x, _)| *x != k);
                out.push((k, v));
            }
        }
    }
    out
}

/// The `key = value` entries of `[section]` in an INI text (continuation
/// lines joined with a newline; keys lowercased, `_` as `-`).
fn ini_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            inside = name.trim() == section;
            continue;
        }
        if !inside {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push('\n');
                v.push_str(t);
            }
            continue;
        }
        if let Some((k, v)) = t.split_once(['=', ':']) {
            let k = k.trim().to_ascii_lowercase().replace('_', "-");
            out.retain(|(x, _)| *x != k);
            out.push((k, v.trim().to_string()));
        }
    }
    out
}

/// pip's options naming index locations: (flag, variable, config key).
const PIP_INDEX_SETTINGS: [(&[&str], &str, &str); 3] = [
    (&["-i", "--index-url"], "PIP_INDEX_URL", "index-url"),
    (
        &["--extra-index-url"],
        "PIP_EXTRA_INDEX_URL",
        "extra-index-url",
    ),
    (&["-f", "--find-links"], "PIP_FIND_LINKS", "find-links"),
];

/// What [`to_gateway`] did.
#[derive(Debug, Default)]
pub struct Gateways {
    /// The credentials the gateway serves (pass the rest to [`to_proxy`]).
    pub served: Vec<Cred>,
    /// The TLS indexes whose credentials the run does not get, and why
    /// (for its record's `sandbox.missing`).
    pub missing: Vec<String>,
}

/// A confined `pip wheel` run (`args`, `env` as launched in `cwd`): each
/// TLS index location it would use (`--index-url`, `--extra-index-url`,
/// `--find-links`; `PIP_INDEX_URL`, `PIP_EXTRA_INDEX_URL`,
/// `PIP_FIND_LINKS`; the same in pip's configuration files) whose host has
/// credentials in `creds` is served by an index gateway of the egress proxy
/// (`proxy`), with the trust pip would use ([`pip_trust`]), and the run is
/// pointed at it: its arguments rewritten, and variables set (they win over
/// the configuration files; pip passes the index options on to the install
/// of build requirements in its isolated build environment, which inherits
/// the variables too).
pub fn to_gateway(
    creds: &[Cred],
    proxy: Option<&crate::supervise::proxy::Handle>,
    args: &mut [OsString],
    env: &mut Vec<(OsString, OsString)>,
    cwd: &Path,
) -> Gateways {
    let vars = Vars::of(env);
    gateways_with(&vars, creds, proxy, args, env, cwd)
}

/// [`to_gateway`] with the run's variables `vars`.
fn gateways_with(
    vars: &Vars,
    creds: &[Cred],
    proxy: Option<&crate::supervise::proxy::Handle>,
    args: &mut [OsString],
    env: &mut Vec<(OsString, OsString)>,
    cwd: &Path,
) -> Gateways {
    let mut done = Gateways::default();
    let strs: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let isolated = strs.iter().any(|a| a == "--isolated");
    let config = if isolated {
        Vec::new()
    } else {
        pip_config(vars, "wheel")
    };
    let trust = pip_trust(&strs, vars, &config, cwd);
    let mut base_of: Vec<((String, u16), Option<String>)> = Vec::new();
    let mut rewrite = |url: &str, done: &mut Gateways| -> Option<String> {
        let u = url::Url::parse(url.trim()).ok()?;
        if u.scheme() != "https" {
            return None;
        }
        let host = u.host_str()?.to_string();
        let port = u.port_or_known_default()?;
        let key = (host.to_ascii_lowercase(), port);
        let base = match base_of.iter().find(|(k, _)| *k == key) {
            Some((_, b)) => b.clone(),
            None => {
                let cred = Cred::from_url(url).or_else(|| {
                    creds
                        .iter()
                        .filter(|c| {
                            c.scheme.as_deref() != Some("http")
                                && c.host.eq_ignore_ascii_case(&host)
                                && c.port.is_none_or(|p| p == port)
                        })
                        // An entry with a port wins over a host-wide one.
                        .max_by_key(|c| c.port.is_some())
                        .cloned()
                });
                let base = cred.and_then(|c| {
                    let got = match (proxy, &trust) {
                        (None, _) => Err("no egress proxy".to_string()),
                        (_, Err(e)) => Err(e.clone()),
                        (Some(p), Ok(t)) => p.add_gateway(&host, port, &c.user, &c.password, t),
                    };
                    match got {
                        Ok(b) => {
                            if !done.served.contains(&c) {
                                done.served.push(c);
                            }
                            Some(b)
                        }
                        Err(e) => {
                            done.missing.push(format!(
                                "registry credentials for https://{host}:{port} (pkgward's index \
                                 gateway cannot serve it: {e})"
                            ));
                            None
                        }
                    }
                });
                base_of.push((key, base.clone()));
                base
            }
        }?;
        Some(format!(
            "{base}{}",
            &u[url::Position::BeforePath..url::Position::AfterQuery]
        ))
    };
    // The command line.
    let mut i = 0;
    while i < args.len() {
        let a = &strs[i];
        let flags = PIP_INDEX_SETTINGS.iter().flat_map(|(f, ..)| f.iter());
        if flags.clone().any(|f| f == a) {
            if let Some(new) = strs.get(i + 1).and_then(|v| rewrite(v, &mut done)) {
                args[i + 1] = new.into();
            }
            i += 2;
            continue;
        }
        if let Some((k, v)) = a.split_once('=') {
            if flags.clone().any(|f| f.starts_with("--") && *f == k) {
                if let Some(new) = rewrite(v, &mut done) {
                    args[i] = format!("{k}={new}").into();
                }
            }
        }
        i += 1;
    }
    // Variables, else the configuration files' values.
    for (_, name, key) in PIP_INDEX_SETTINGS {
        // Set, even empty, a variable wins over the configuration files.
        let from_env = if isolated { None } else { vars.raw(name) };
        let Some(value) = from_env.or_else(|| {
            config
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        }) else {
            continue;
        };
        let mut changed = false;
        let words: Vec<String> = value
            .split_whitespace()
            .map(|w| match rewrite(w, &mut done) {
                Some(n) => {
                    changed = true;
                    n
                }
                None => w.to_string(),
            })
            .collect();
        if changed {
            env.retain(|(k, _)| k != name);
            env.push((name.into(), words.join(" ").into()));
        }
    }
    done.missing.dedup();
    done
}

/// The trust anchors pip would verify an index with: `--cert`,
/// `PIP_CERT`, `cert` in its configuration, `REQUESTS_CA_BUNDLE`,
/// `CURL_CA_BUNDLE` (a bundle: only its certificates), else the system's
/// (which `SSL_CERT_FILE` replaces). `--client-cert` is not presented.
fn pip_trust(
    args: &[String],
    vars: &Vars,
    config: &[(String, String)],
    cwd: &Path,
) -> Result<crate::supervise::proxy::gateway::Trust, String> {
    use crate::supervise::proxy::gateway::Trust;
    let mut cert = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--cert" {
            cert = it.next().cloned();
        } else if let Some(v) = a.strip_prefix("--cert=") {
            cert = Some(v.to_string());
        }
    }
    let bundle = cert
        .or_else(|| vars.get("PIP_CERT"))
        .or_else(|| {
            config
                .iter()
                .find(|(k, _)| k == "cert")
                .map(|(_, v)| v.clone())
        })
        .or_else(|| vars.get("REQUESTS_CA_BUNDLE"))
        .or_else(|| vars.get("CURL_CA_BUNDLE"))
        .or_else(|| vars.get("SSL_CERT_FILE"));
    Ok(match bundle {
        Some(b) => {
            let p = cwd.join(b);
            if !p.is_file() {
                return Err(format!("the CA bundle {} is not a file", p.display()));
            }
            Trust::Bundle(p)
        }
        None => Trust::Native,
    })
}

/// The credentials a Python tool's run would use (see the module docs):
/// `program`'s file name tells the tool, `cwd` is the project.
pub fn collect(
    program: &Path,
    args: &[OsString],
    env: &[(OsString, OsString)],
    cwd: &Path,
) -> Vec<Cred> {
    let tool = program
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let vars = Vars::of(env);
    let var = |k: &str| vars.get(k);
    let home = var("HOME").map(PathBuf::from);
    let mut texts: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    texts.extend(vars.0.iter().map(|(_, v)| v.clone()));
    let config = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    let mut files: Vec<PathBuf> = pip_config_files(&vars);
    files.extend(var("UV_CONFIG_FILE").map(PathBuf::from));
    files.extend(config.as_ref().map(|c| c.join("uv/uv.toml")));
    let project = super::confine::uv_workspace_root(cwd);
    for d in [cwd.to_path_buf(), project] {
        files.push(d.join("pyproject.toml"));
        files.push(d.join("uv.toml"));
    }
    let mut named: Vec<(String, String)> = Vec::new();
    for f in &files {
        if let Some(t) = read(f) {
            toml_indexes(&t, &mut named);
            texts.push(t);
        }
    }
    if tool.starts_with("pipenv") {
        let lookup = |k: &str| var(k);
        if let Some(p) = super::super::pipenv::pipfile_path(cwd, &lookup) {
            if let Some(t) = read(&p) {
                let t = expand(&t, &|k| var(k));
                toml_indexes(&t, &mut named);
                texts.push(t);
            }
        }
    }
    let mut out: Vec<Cred> = Vec::new();
    for t in &texts {
        out.extend(urls_in(t).iter().filter_map(|u| Cred::from_url(u)));
    }
    // Named indexes: uv's and poetry's credential variables.
    for (k, v) in [
        ("UV_INDEX", var("UV_INDEX")),
        ("UV_DEFAULT_INDEX", var("UV_DEFAULT_INDEX")),
    ] {
        let _ = k;
        if let Some(v) = v {
            named_entries(&v, &mut named);
        }
    }
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        let v = match a.split_once('=') {
            Some(("--index" | "--default-index", v)) => Some(v.to_string()),
            _ if matches!(a.as_str(), "--index" | "--default-index") => it.next(),
            _ => None,
        };
        if let Some(v) = v {
            named_entries(&v, &mut named);
        }
    }
    let poetry_auth: Option<toml::Table> = var("POETRY_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| config.as_ref().map(|c| c.join("pypoetry")))
        .and_then(|d| read(&d.join("auth.toml")))
        .and_then(|t| t.parse().ok());
    for (name, url) in &named {
        let e = env_name(name);
        for (u, p) in [
            (
                var(&format!("UV_INDEX_{e}_USERNAME")),
                var(&format!("UV_INDEX_{e}_PASSWORD")),
            ),
            (
                var(&format!("POETRY_HTTP_BASIC_{e}_USERNAME")),
                var(&format!("POETRY_HTTP_BASIC_{e}_PASSWORD")),
            ),
            (
                poetry_auth.as_ref().and_then(|t| {
                    t.get("http-basic")?
                        .get(name)?
                        .get("username")?
                        .as_str()
                        .map(str::to_string)
                }),
                poetry_auth.as_ref().and_then(|t| {
                    t.get("http-basic")?
                        .get(name)?
                        .get("password")?
                        .as_str()
                        .map(str::to_string)
                }),
            ),
        ] {
            if u.is_some() || p.is_some() {
                out.extend(Cred::for_url(
                    url,
                    u.unwrap_or_default(),
                    p.unwrap_or_default(),
                ));
            }
        }
    }
    let netrc_path = var("NETRC")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".netrc")));
    if let Some(t) = netrc_path.as_deref().and_then(read) {
        out.extend(netrc(&t));
    }
    out.dedup();
    out
}

/// Hands the injectable credentials to the invocation's egress proxy and
/// returns what the confined run cannot get (TLS hosts), for its record.
pub fn to_proxy(creds: &[Cred], proxy: Option<&crate::supervise::proxy::Handle>) -> Vec<String> {
    let mut missing = Vec::new();
    for c in creds {
        if c.injectable() {
            if let Some(p) = proxy {
                p.add_auth(&c.host, c.port, &c.user, &c.password);
                continue;
            }
        }
        let what = format!(
            "registry credentials for {}://{}{} (pkgward's proxy adds credentials to plain-HTTP \
             requests only, and its index gateway serves pkgward's own pip builds and confined uv \
             and poetry runs only; a TLS index's stay outside the sandbox)",
            c.scheme.as_deref().unwrap_or("http"),
            c.host,
            c.port.map(|p| format!(":{p}")).unwrap_or_default()
        );
        if !missing.contains(&what) {
            missing.push(what);
        }
    }
    missing
}

/// The arguments with URL userinfo removed: the confined run's command line
/// is readable by the code it starts (`/proc/PID/cmdline`).
pub fn strip_args(args: &[OsString]) -> Vec<OsString> {
    args.iter()
        .map(|a| {
            a.to_str()
                .and_then(crate::supervise::sandbox::strip_userinfo)
                .map(OsString::from)
                .unwrap_or_else(|| a.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_of_credentials_are_parsed() {
        let c = Cred::from_url("http://us%40er:p%2Bw@127.0.0.1:8080/simple/").unwrap();
        assert_eq!(
            (
                c.host.as_str(),
                c.port,
                c.user.as_str(),
                c.password.as_str()
            ),
            ("127.0.0.1", Some(8080), "us@er", "p+w")
        );
        assert!(c.injectable());
        assert!(!Cred::from_url("https://u:p@x.test/").unwrap().injectable());
        assert_eq!(Cred::from_url("http://x.test/"), None);
        assert_eq!(
            urls_in("index-url = \"http://a:b@h.test/s\"\nx https://c.test/y"),
            vec!["http://a:b@h.test/s", "https://c.test/y"]
        );
        let n = netrc("machine h.test login u password p\ndefault login d password e\n");
        assert_eq!(n.len(), 1);
        assert_eq!((n[0].host.as_str(), n[0].user.as_str()), ("h.test", "u"));
        let v = |k: &str| (k == "PW").then(|| "s3".to_string());
        assert_eq!(
            expand("http://u:${PW}@h/$PW/$NONE/$", &v),
            "http://u:s3@h/s3//$"
        );
        assert_eq!(env_name("my-index.1"), "MY_INDEX_1");
        let mut named = Vec::new();
        toml_indexes(
            "[[tool.uv.index]]\nname = \"priv\"\nurl = \"http://h.test/simple\"\n\
             [[tool.poetry.source]]\nname = \"po\"\nurl = \"http://p.test/simple\"\n",
            &mut named,
        );
        assert_eq!(named.len(), 2);
        assert_eq!(
            strip_args(&["--index-url=http://u:p@h.test/s".into()]),
            vec![OsString::from("--index-url=http://h.test/s")]
        );
    }

    #[test]
    fn a_pip_build_is_pointed_at_the_gateway() {
        use crate::supervise::proxy::{Config, Proxy, Rule, Rules};
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["idx.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(&ca, cert.pem()).unwrap();
        let conf = dir.path().join("pip.conf");
        std::fs::write(
            &conf,
            "[global]\nindex-url = https://nope.test/\n[wheel]\nfind_links =\n    https://idx.test/f/\n    https://x.test/g/\n",
        )
        .unwrap();
        let proxy = Proxy::start(Config {
            rules: Rules::new(vec![
                Rule::parse_allow("idx.test:443", "network.allow").unwrap(),
                Rule::parse_allow("idx.test:8443", "network.allow").unwrap(),
            ]),
            enforce: true,
            invocation_id: "i".into(),
            ecosystem: "pypi".into(),
            sink: std::sync::Arc::new(|_| {}),
            artifacts: None,
        })
        .unwrap();
        let creds =
            netrc("machine idx.test login u password p\nmachine x.test login v password q\n");
        let mut args: Vec<OsString> = [
            "wheel",
            "--index-url",
            "https://IDX.test/simple/",
            "--extra-index-url=https://idx.test:8443/s/?a=1",
            "--extra-index-url",
            "https://other.test/s/",
            "--cert",
            ca.to_str().unwrap(),
        ]
        .map(OsString::from)
        .to_vec();
        let mut env: Vec<(OsString, OsString)> = vec![
            ("PIP_CONFIG_FILE".into(), conf.into()),
            (
                "PIP_EXTRA_INDEX_URL".into(),
                "https://idx.test/e/ http://idx.test/p/".into(),
            ),
        ];
        let vars = Vars(
            env.iter()
                .map(|(k, v)| (k.to_string_lossy().into(), v.to_string_lossy().into()))
                .collect(),
        );
        let g = gateways_with(
            &vars,
            &creds,
            Some(&proxy.handle()),
            &mut args,
            &mut env,
            dir.path(),
        );
        let base = format!("http://{}/pkgward-", proxy.addr());
        let a: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            a[2].starts_with(&base) && a[2].ends_with("/simple/"),
            "{a:?}"
        );
        assert!(
            a[3].starts_with(&format!("--extra-index-url={base}")),
            "{a:?}"
        );
        assert!(a[3].ends_with("/s/?a=1") && a[3] != a[2], "{a:?}");
        assert_eq!(a[5], "https://other.test/s/");
        let var = |k: &str| {
            env.iter()
                .rfind(|(x, _)| x == k)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        let extra = var("PIP_EXTRA_INDEX_URL").unwrap();
        assert!(
            extra.starts_with(&base) && extra.ends_with("/e/ http://idx.test/p/"),
            "{extra}"
        );
        // The configuration file's `[wheel]` value, as a variable: x.test is
        // not an approved destination.
        let links = var("PIP_FIND_LINKS").unwrap();
        assert!(
            links.starts_with(&base) && links.ends_with("/f/ https://x.test/g/"),
            "{links}"
        );
        assert_eq!(var("PIP_INDEX_URL"), None);
        assert_eq!(g.served.len(), 1, "{g:?}");
        assert_eq!(g.missing.len(), 1, "{g:?}");
        assert!(g.missing[0].contains("x.test:443") && g.missing[0].contains("not an approved"));
        proxy.stop();
    }
}
