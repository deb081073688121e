//! A TLS index's credentials for a confined uv, poetry, pipenv or pip run.
//! None can be pointed at the index gateway's prefix (lock files record the
//! index URL; pip's editable run resolves as the user's command says), so the egress proxy serves the gateway at the index's own
//! origin instead ([`crate::supervise::proxy::origin`]): each TLS host
//! with credentials the run would use (an `https://` index's, a netrc
//! entry's) is registered for the run, and the run trusts the invocation's
//! ephemeral CA **in addition to** what it trusted before. The settings
//! that name a bundle replace the default roots (uv 0.13's `SSL_CERT_FILE`:
//! "No default certificates will be trusted" otherwise; requests'
//! `REQUESTS_CA_BUNDLE` replaces certifi's), so the run gets bundles in a
//! private temporary directory: the roots it would otherwise use, plus
//! the CA —
//!
//! | the run's trust | the bundle's roots |
//! |---|---|
//! | uv `--cert FILE` (`uv pip`; the argument is pointed at the bundle) | that file's |
//! | uv `SSL_CERT_FILE` | that file's (`SSL_CERT_DIR`, which uv adds, is left as it is) |
//! | uv `SSL_CERT_DIR` only | none (uv still adds the directory's) |
//! | uv `--system-certs` / `UV_SYSTEM_CERTS` / `system-certs` (or the deprecated `native-tls` spellings) | the platform's ([`rustls_native_certs`]) |
//! | uv by default | the Mozilla roots uv bundles ([`webpki_root_certs`]) |
//! | poetry `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE` (set: `REQUESTS_CA_BUNDLE`) | that file's |
//! | poetry by default | certifi's, i.e. Mozilla's ([`webpki_root_certs`]) |
//! | poetry `certificates.<source>.cert` (set: `POETRY_CERTIFICATES_<SOURCE>_CERT`) | that file's |
//! | pip, pipenv `--cert` / `PIP_CERT` / `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE` (set: `PIP_CERT` and `REQUESTS_CA_BUNDLE`) | that file's |
//! | pip, pipenv by default | the platform's (pip's truststore) and Mozilla's (certifi's) |
//!
//! pkgward itself, the TLS client of the real index, verifies it with the
//! file the run names for it, else the platform's roots ([`Trust::Native`],
//! standing in for the bundled Mozilla ones).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::auth::{Cred, Vars};
use crate::supervise::proxy::gateway::Trust;
use crate::supervise::proxy::origin::ServedAtOrigin;

/// What [`to_origin`] did; the registrations and the bundle last as long
/// as this.
#[derive(Debug, Default)]
pub struct AtOrigin {
    /// The `https://` credentials dealt with here: served, or listed in
    /// `missing` (pass the rest to [`super::auth::to_proxy`]; a netrc
    /// entry goes there too, for plain HTTP).
    pub taken: Vec<Cred>,
    /// The TLS indexes whose credentials the run does not get, and why.
    pub missing: Vec<String>,
    _guard: Option<ServedAtOrigin>,
    _dir: Option<tempfile::TempDir>,
}

/// Where a bundle goes: a variable, or an argument (`--cert=` kept).
enum Put {
    Var(String),
    Arg(usize),
}

/// How one confined run's client trusts, and how to make it trust the
/// gateway's CA besides.
struct Plan {
    /// pkgward's trust for the index.
    trust: Result<Trust, String>,
    /// A source's own trust (poetry's `certificates.<source>.cert`): its
    /// host and port.
    per_host: Vec<((String, u16), PathBuf)>,
    /// The bundles to write: where, and the roots besides the CA.
    bundles: Vec<(Put, String)>,
}

/// uv's trust (see the module docs).
fn uv_plan(args: &[String], vars: &Vars, cwd: &Path, project: &Path) -> Plan {
    let cert_arg = cert_arg(args);
    let user_file = cert_arg
        .as_ref()
        .map(|(_, f)| f.clone())
        .or_else(|| vars.get("SSL_CERT_FILE"))
        .map(|f| cwd.join(f));
    let roots = match &user_file {
        Some(f) => std::fs::read_to_string(f).unwrap_or_default(),
        None if vars.get("SSL_CERT_DIR").is_some() => String::new(),
        None if system_certs(args, vars, project) => {
            pem_all(&rustls_native_certs::load_native_certs().certs)
        }
        None => pem_all(webpki_root_certs::TLS_SERVER_ROOT_CERTS),
    };
    let mut bundles = vec![(Put::Var("SSL_CERT_FILE".into()), roots.clone())];
    bundles.extend(cert_arg.map(|(i, _)| (Put::Arg(i), roots)));
    Plan {
        trust: file_trust(user_file),
        per_host: Vec::new(),
        bundles,
    }
}

/// poetry's (requests'): `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE`, else
/// certifi's Mozilla roots (the same list: uv's bundled ones stand in);
/// a source's `certificates.<source>.cert` (`POETRY_CERTIFICATES_<SOURCE>_CERT`,
/// else the project's `poetry.toml`, else poetry's `config.toml`) instead
/// for that source.
fn poetry_plan(vars: &Vars, cwd: &Path, project: &Path) -> Plan {
    let user_file = vars
        .get("REQUESTS_CA_BUNDLE")
        .or_else(|| vars.get("CURL_CA_BUNDLE"))
        .map(|f| cwd.join(f));
    let roots = match &user_file {
        Some(f) => std::fs::read_to_string(f).unwrap_or_default(),
        None => pem_all(webpki_root_certs::TLS_SERVER_ROOT_CERTS),
    };
    let mut bundles = vec![(Put::Var("REQUESTS_CA_BUNDLE".into()), roots)];
    let mut per_host = Vec::new();
    let mut sources = Vec::new();
    if let Some(t) = super::auth::read(&project.join("pyproject.toml")) {
        super::auth::toml_indexes(&t, &mut sources);
    }
    let config_dir = vars
        .get("POETRY_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            vars.get("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| vars.get("HOME").map(|h| Path::new(&h).join(".config")))
                .map(|c| c.join("pypoetry"))
        });
    let configs: Vec<toml::Table> = [
        Some(cwd.join("poetry.toml")),
        config_dir.map(|d| d.join("config.toml")),
    ]
    .into_iter()
    .flatten()
    .filter_map(|p| super::auth::read(&p)?.parse().ok())
    .collect();
    for (name, url) in sources {
        let var = format!("POETRY_CERTIFICATES_{}_CERT", super::auth::env_name(&name));
        let cert = vars.get(&var).or_else(|| {
            configs.iter().find_map(|t| {
                t.get("certificates")?
                    .get(&name)?
                    .get("cert")?
                    .as_str()
                    .map(str::to_string)
            })
        });
        let (Some(cert), Ok(u)) = (cert, url::Url::parse(&url)) else {
            continue;
        };
        let cert = cwd.join(cert);
        if let (Some(h), Some(p)) = (u.host_str(), u.port_or_known_default()) {
            per_host.push(((h.to_ascii_lowercase(), p), cert.clone()));
        }
        bundles.push((
            Put::Var(var),
            std::fs::read_to_string(&cert).unwrap_or_default(),
        ));
    }
    Plan {
        trust: file_trust(user_file),
        per_host,
        bundles,
    }
}

/// pip's (a confined pip run, and pipenv, whose resolution and installs are
/// pip's; pipenv's own requests read `REQUESTS_CA_BUNDLE`): `--cert FILE`
/// (pointed at the bundle), else `PIP_CERT`, `REQUESTS_CA_BUNDLE`,
/// `CURL_CA_BUNDLE`: that file's roots; else the platform's (pip's
/// truststore) and certifi's Mozilla roots. `PIP_CERT` and
/// `REQUESTS_CA_BUNDLE` are both set to the bundle. (A `cert` in pip's
/// config files is not read: `PIP_CERT` replaces it.)
fn pip_plan(args: &[String], vars: &Vars, cwd: &Path) -> Plan {
    let cert_arg = cert_arg(args);
    let user_file = cert_arg
        .as_ref()
        .map(|(_, f)| f.clone())
        .or_else(|| vars.get("PIP_CERT"))
        .or_else(|| vars.get("REQUESTS_CA_BUNDLE"))
        .or_else(|| vars.get("CURL_CA_BUNDLE"))
        .map(|f| cwd.join(f));
    let roots = match &user_file {
        Some(f) => std::fs::read_to_string(f).unwrap_or_default(),
        None => format!(
            "{}\n{}",
            pem_all(&rustls_native_certs::load_native_certs().certs),
            pem_all(webpki_root_certs::TLS_SERVER_ROOT_CERTS)
        ),
    };
    let mut bundles = vec![
        (Put::Var("PIP_CERT".into()), roots.clone()),
        (Put::Var("REQUESTS_CA_BUNDLE".into()), roots.clone()),
    ];
    bundles.extend(cert_arg.map(|(i, _)| (Put::Arg(i), roots)));
    Plan {
        trust: file_trust(user_file),
        per_host: Vec::new(),
        bundles,
    }
}

/// pkgward's trust for an index the run would verify with `file` (`None`:
/// the platform's roots).
fn file_trust(file: Option<PathBuf>) -> Result<Trust, String> {
    match file {
        Some(f) if f.is_file() => Ok(Trust::Bundle(f)),
        Some(f) => Err(format!("the CA bundle {} is not a file", f.display())),
        None => Ok(Trust::Native),
    }
}

/// Registers the TLS hosts of `creds` with `proxy` for a confined run of
/// `kind` (uv, poetry; `args`, `env` as launched in `cwd`, on `project`)
/// and points the run's trust at bundles with the gateway's CA (see the
/// module docs).
pub fn to_origin(
    kind: super::confine::Kind,
    creds: &[Cred],
    proxy: Option<&crate::supervise::proxy::Handle>,
    args: &mut [OsString],
    env: &mut Vec<(OsString, OsString)>,
    (cwd, project): (&Path, &Path),
) -> AtOrigin {
    let mut done = AtOrigin::default();
    let Some(proxy) = proxy else {
        return done;
    };
    let vars = Vars::of(env);
    let strs: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let plan = match kind {
        super::confine::Kind::Uv => uv_plan(&strs, &vars, cwd, project),
        super::confine::Kind::Poetry => poetry_plan(&vars, cwd, project),
        super::confine::Kind::Pip | super::confine::Kind::Pipenv => pip_plan(&strs, &vars, cwd),
        super::confine::Kind::YarnDlx => return done,
    };
    let mut guard = proxy.empty_origin_guard();
    for c in creds {
        let https = match c.scheme.as_deref() {
            Some("https") => true,
            None => false,
            _ => continue,
        };
        let own = plan.per_host.iter().find(|((h, p), _)| {
            h.eq_ignore_ascii_case(&c.host) && c.port.is_none_or(|cp| cp == *p)
        });
        let trust = match own {
            Some((_, f)) => file_trust(Some(f.clone())),
            None => plan.trust.clone(),
        };
        let got = trust.and_then(|t| {
            let port = if https { c.port } else { None };
            proxy.serve_at_origin(&c.host, port, &c.user, &c.password, &t)
        });
        if https && !done.taken.contains(c) {
            done.taken.push(c.clone());
        }
        match got {
            Ok(g) => guard.merge(g),
            // A netrc entry for a host the run may not reach is no index of it.
            Err(_) if !https => {}
            Err(e) => done.missing.push(format!(
                "registry credentials for https://{}{} (pkgward's index gateway cannot serve \
                 it: {e})",
                c.host,
                c.port.map(|p| format!(":{p}")).unwrap_or_default()
            )),
        }
    }
    if guard.is_empty() {
        return done;
    }
    let Some(ca) = proxy.origin_ca_pem() else {
        return done;
    };
    let written = tempfile::Builder::new()
        .prefix("pkgward-trust-")
        .tempdir()
        .and_then(|d| {
            let mut paths = Vec::new();
            for (i, (_, roots)) in plan.bundles.iter().enumerate() {
                let p = d.path().join(format!("bundle-{i}.pem"));
                std::fs::write(&p, format!("{}\n{ca}", roots.trim_end()))?;
                paths.push(p);
            }
            Ok((d, paths))
        });
    match written {
        Ok((dir, paths)) => {
            for ((into, _), bundle) in plan.bundles.iter().zip(paths) {
                match into {
                    Put::Arg(i) => {
                        args[*i] = match strs[*i].split_once('=') {
                            Some((k, _)) => format!("{k}={}", bundle.display()).into(),
                            None => bundle.into(),
                        };
                    }
                    Put::Var(k) => {
                        env.retain(|(x, _)| x != k.as_str());
                        env.push((k.into(), bundle.into()));
                    }
                }
            }
            done._dir = Some(dir);
            done._guard = Some(guard);
        }
        Err(e) => {
            done.missing.push(format!(
                "registry credentials for the TLS indexes (cannot write the run's CA bundle: {e})"
            ));
        }
    }
    done
}

/// uv's `--cert FILE` / `--cert=FILE` (before `--`): the index of the
/// argument holding the file, and the file.
fn cert_arg(args: &[String]) -> Option<(usize, String)> {
    let mut found = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            break;
        }
        if a == "--cert" {
            if let Some(v) = args.get(i + 1) {
                found = Some((i + 1, v.clone()));
            }
            i += 2;
            continue;
        }
        if let Some(v) = a.strip_prefix("--cert=") {
            found = Some((i, v.to_string()));
        }
        i += 1;
    }
    found
}

/// Whether uv would use the platform's certificates: its flags (the last
/// wins), else `UV_SYSTEM_CERTS` / `UV_NATIVE_TLS`, else `system-certs` /
/// `native-tls` in its configuration (`UV_CONFIG_FILE`, else the project's
/// `uv.toml` or `pyproject.toml`'s `[tool.uv]`, the user's `uv.toml`).
fn system_certs(args: &[String], vars: &Vars, cwd: &Path) -> bool {
    let flag = args
        .iter()
        .take_while(|a| *a != "--")
        .filter_map(|a| match a.as_str() {
            "--system-certs" | "--native-tls" => Some(true),
            "--no-system-certs" | "--no-native-tls" => Some(false),
            _ => None,
        })
        .last();
    if let Some(f) = flag {
        return f;
    }
    for k in ["UV_SYSTEM_CERTS", "UV_NATIVE_TLS"] {
        if let Some(v) = vars.get(k) {
            return matches!(
                v.to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on" | "y" | "t"
            );
        }
    }
    let setting = |t: &toml::Table| {
        ["system-certs", "native-tls"]
            .iter()
            .find_map(|k| t.get(*k).and_then(toml::Value::as_bool))
    };
    let file = |p: PathBuf, tool_uv: bool| -> Option<bool> {
        let t: toml::Table = super::auth::read(&p)?.parse().ok()?;
        if tool_uv {
            setting(t.get("tool")?.get("uv")?.as_table()?)
        } else {
            setting(&t)
        }
    };
    if let Some(f) = vars.get("UV_CONFIG_FILE") {
        return file(cwd.join(f), false).unwrap_or(false);
    }
    let project = super::confine::uv_workspace_root(cwd);
    let config = vars
        .get("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| vars.get("HOME").map(|h| Path::new(&h).join(".config")));
    [project.clone(), cwd.to_path_buf()]
        .iter()
        .find_map(|d| {
            file(d.join("uv.toml"), false).or_else(|| file(d.join("pyproject.toml"), true))
        })
        .or_else(|| config.and_then(|c| file(c.join("uv/uv.toml"), false)))
        .unwrap_or(false)
}

/// Certificates (DER) as PEM.
fn pem_all(certs: &[rustls::pki_types::CertificateDer<'_>]) -> String {
    use base64::Engine;
    let mut out = String::new();
    for c in certs {
        let b = base64::engine::general_purpose::STANDARD.encode(c.as_ref());
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::confine::Kind;
    use super::*;
    use crate::supervise::proxy::{Config, Proxy, Rule, Rules};

    fn certs(pem: &[u8]) -> usize {
        rustls::pki_types::pem::PemObject::pem_slice_iter(pem)
            .collect::<Result<Vec<rustls::pki_types::CertificateDer>, _>>()
            .unwrap()
            .len()
    }

    /// The run's bundle: the roots uv would use, plus the gateway's CA;
    /// registered only while the result lives.
    #[test]
    fn a_uv_run_trusts_the_gateway_besides_its_roots() {
        let proxy = Proxy::start(Config {
            rules: Rules::new(
                Rule::from_registry_url("https://idx.test/simple/", "registries.pypi")
                    .into_iter()
                    .collect(),
            ),
            enforce: true,
            invocation_id: "inv".into(),
            ecosystem: "pypi".into(),
            sink: std::sync::Arc::new(|_| {}),
            artifacts: None,
        })
        .unwrap();
        let h = proxy.handle();
        let d = tempfile::tempdir().unwrap();
        let cred = |scheme: Option<&str>, host: &str| Cred {
            scheme: scheme.map(str::to_string),
            host: host.into(),
            port: scheme.map(|_| 443),
            user: "u".into(),
            password: "p".into(),
        };
        let creds = vec![
            cred(Some("https"), "idx.test"),
            cred(Some("https"), "other.test"),
            cred(None, "elsewhere.test"),
            cred(Some("http"), "idx.test"),
        ];
        let clean: Vec<(OsString, OsString)> = [
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "UV_SYSTEM_CERTS",
            "UV_NATIVE_TLS",
            "UV_CONFIG_FILE",
        ]
        .iter()
        .map(|k| (OsString::from(k), OsString::new()))
        .collect();
        // Default: the Mozilla roots uv bundles, and the CA.
        let mut env = clean.clone();
        let mut args: Vec<OsString> = vec!["sync".into()];
        let done = to_origin(
            Kind::Uv,
            &creds,
            Some(&h),
            &mut args,
            &mut env,
            (d.path(), d.path()),
        );
        assert_eq!(done.taken, creds[..2].to_vec());
        assert_eq!(done.missing.len(), 1, "{:?}", done.missing);
        assert!(done.missing[0].contains("other.test"), "{:?}", done.missing);
        let bundle = PathBuf::from(&env.last().unwrap().1);
        assert_eq!(env.last().unwrap().0, "SSL_CERT_FILE");
        let pem = std::fs::read(&bundle).unwrap();
        assert_eq!(
            certs(&pem),
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() + 1
        );
        assert!(String::from_utf8_lossy(&pem).ends_with(&h.origin_ca_pem().unwrap()));
        assert_eq!(env.iter().filter(|(k, _)| k == "SSL_CERT_FILE").count(), 1);
        drop(done);
        assert!(!bundle.exists());
        // `--cert FILE`: that file's roots, the argument pointed at the bundle.
        let mine = d.path().join("mine.pem");
        std::fs::write(&mine, h.origin_ca_pem().unwrap()).unwrap();
        let mut env = clean.clone();
        let mut args: Vec<OsString> = vec![
            "pip".into(),
            "install".into(),
            "--cert=mine.pem".into(),
            "x".into(),
        ];
        let done = to_origin(
            Kind::Uv,
            &creds[..1],
            Some(&h),
            &mut args,
            &mut env,
            (d.path(), d.path()),
        );
        for bundle in [
            env.last().unwrap().1.to_string_lossy().into_owned(),
            args[2].to_string_lossy().replace("--cert=", ""),
        ] {
            assert_eq!(certs(&std::fs::read(&bundle).unwrap()), 2, "{bundle}");
        }
        drop(done);
        // poetry: requests' bundle, and a source's own certificate.
        std::fs::write(
            d.path().join("pyproject.toml"),
            "[[tool.poetry.source]]\nname = \"my-priv\"\nurl = \"https://IDX.test/simple/\"\n",
        )
        .unwrap();
        let mut env = clean.clone();
        env.push(("REQUESTS_CA_BUNDLE".into(), "".into()));
        env.push(("CURL_CA_BUNDLE".into(), "".into()));
        env.push(("POETRY_CERTIFICATES_MY_PRIV_CERT".into(), "mine.pem".into()));
        let done = to_origin(
            Kind::Poetry,
            &creds[..1],
            Some(&h),
            &mut args,
            &mut env,
            (d.path(), d.path()),
        );
        assert!(done.missing.is_empty(), "{:?}", done.missing);
        let get = |k: &str| {
            let v = &env.iter().rev().find(|(x, _)| x == k).unwrap().1;
            std::fs::read(v).unwrap()
        };
        assert_eq!(
            certs(&get("REQUESTS_CA_BUNDLE")),
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() + 1
        );
        assert_eq!(certs(&get("POETRY_CERTIFICATES_MY_PRIV_CERT")), 2);
        drop(done);
        // Without a proxy: nothing taken, nothing set.
        let mut env = clean.clone();
        let done = to_origin(
            Kind::Uv,
            &creds,
            None,
            &mut args,
            &mut env,
            (d.path(), d.path()),
        );
        assert!(done.taken.is_empty() && env == clean);
        proxy.stop();
    }

    #[test]
    fn pips_trust_is_the_bundles_roots() {
        let d = tempfile::tempdir().unwrap();
        let s = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        std::fs::write(d.path().join("mine.pem"), "MINE").unwrap();
        let names = |p: &Plan| -> Vec<String> {
            p.bundles
                .iter()
                .map(|(put, roots)| match put {
                    Put::Var(k) => format!("{k}={roots}"),
                    Put::Arg(i) => format!("arg{i}={roots}"),
                })
                .collect()
        };
        // (This machine's own environment may name bundles: unset here.)
        let with = |k: &str, v: &str| {
            let mut env: Vec<(OsString, OsString)> =
                ["PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"]
                    .iter()
                    .map(|k| (OsString::from(k), OsString::new()))
                    .collect();
            env.push((k.into(), v.into()));
            Vars::of(&env)
        };
        let mine = with("REQUESTS_CA_BUNDLE", "mine.pem");
        let p = pip_plan(&s(&["install", "x"]), &mine, d.path());
        assert_eq!(names(&p), ["PIP_CERT=MINE", "REQUESTS_CA_BUNDLE=MINE"]);
        assert!(matches!(p.trust, Ok(Trust::Bundle(_))));
        let none = || with("UNRELATED", "");
        let cert = s(&["install", "--cert", "mine.pem", "x"]);
        assert_eq!(names(&pip_plan(&cert, &none(), d.path()))[2], "arg2=MINE");
        // By default: the platform's roots and Mozilla's, verified natively.
        let p = pip_plan(&s(&["install", "x"]), &none(), d.path());
        assert!(certs(p.bundles[0].1.as_bytes()) >= webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(matches!(p.trust, Ok(Trust::Native)));
    }

    #[test]
    fn uv_trust_settings_are_read() {
        let d = tempfile::tempdir().unwrap();
        let s = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            cert_arg(&s(&["pip", "install", "--cert", "c.pem", "x"])),
            Some((3, "c.pem".into()))
        );
        assert_eq!(
            cert_arg(&s(&["pip", "install", "--cert=c.pem", "--", "--cert", "n"])),
            Some((2, "c.pem".into()))
        );
        let home = d.path().join("home");
        let vars = Vars::of(&[
            ("HOME".into(), home.clone().into()),
            ("XDG_CONFIG_HOME".into(), "".into()),
            ("UV_SYSTEM_CERTS".into(), "".into()),
            ("UV_NATIVE_TLS".into(), "".into()),
            ("UV_CONFIG_FILE".into(), "".into()),
        ]);
        assert!(!system_certs(&s(&["sync"]), &vars, d.path()));
        assert!(system_certs(
            &s(&["sync", "--system-certs"]),
            &vars,
            d.path()
        ));
        assert!(!system_certs(
            &s(&["--native-tls", "sync", "--no-system-certs"]),
            &vars,
            d.path()
        ));
        std::fs::create_dir_all(home.join(".config/uv")).unwrap();
        std::fs::write(home.join(".config/uv/uv.toml"), "native-tls = true\n").unwrap();
        assert!(system_certs(&s(&["sync"]), &vars, d.path()));
        std::fs::write(
            d.path().join("pyproject.toml"),
            "[tool.uv]\nsystem-certs = false\n",
        )
        .unwrap();
        assert!(!system_certs(&s(&["sync"]), &vars, d.path()));
        let on = Vars::of(&[("UV_NATIVE_TLS".into(), "1".into())]);
        assert!(system_certs(&s(&["sync"]), &on, d.path()));
        let pem = pem_all(&webpki_root_certs::TLS_SERVER_ROOT_CERTS[..2]);
        let back: Vec<_> = rustls::pki_types::pem::PemObject::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<rustls::pki_types::CertificateDer>, _>>()
            .unwrap();
        assert_eq!(back, webpki_root_certs::TLS_SERVER_ROOT_CERTS[..2].to_vec());
    }
}
