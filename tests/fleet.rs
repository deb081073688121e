//! The remote policy (issue: fleet), end to end: a policy server this test
//! serves on 127.0.0.1 (plain HTTP, and HTTPS with a test CA), a system
//! layer naming it with a pin or a minisign key, the real npm behind the
//! shim, and what happens when the server lies, goes down or the cache
//! ages.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};
use support::guard::{pkgward_bin, text, Guarded};
use support::{shared, NpmPackage};

fn fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        shared().publish_npm(
            &NpmPackage::new("pw-fleet-pkg", "1.0.0").file("index.js", "module.exports = 1;\n"),
        );
    });
}

/// What the policy server serves, and what it saw.
#[derive(Default)]
struct Served {
    policy: Vec<u8>,
    signature: Vec<u8>,
    feed: Vec<u8>,
    feed_signature: Vec<u8>,
    etag: String,
    down: bool,
    requests: Vec<String>,
    if_none_match: Vec<String>,
}

struct PolicyServer {
    state: Arc<Mutex<Served>>,
    port: u16,
    tls: bool,
}

impl PolicyServer {
    fn start(tls: Option<Arc<rustls::ServerConfig>>) -> PolicyServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(Served::default()));
        let st = state.clone();
        let is_tls = tls.is_some();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                let tls = tls.clone();
                std::thread::spawn(move || match tls {
                    Some(cfg) => {
                        let Ok(c) = rustls::ServerConnection::new(cfg) else {
                            return;
                        };
                        let mut s = rustls::StreamOwned::new(c, conn);
                        serve(&st, &mut s);
                    }
                    None => {
                        let mut conn = conn;
                        serve(&st, &mut conn);
                    }
                });
            }
        });
        PolicyServer {
            state,
            port,
            tls: is_tls,
        }
    }

    fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let host = if self.tls { "localhost" } else { "127.0.0.1" };
        format!("{scheme}://{host}:{}/team/policy.toml", self.port)
    }

    fn set(&self, policy: &str, signature: &str) {
        let mut s = self.state.lock().unwrap();
        s.policy = policy.as_bytes().to_vec();
        s.signature = signature.as_bytes().to_vec();
        s.etag = format!("\"{}\"", &hex(&Sha256::digest(policy.as_bytes()))[..16]);
    }

    fn down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn serve<S: std::io::Read + Write>(st: &Mutex<Served>, s: &mut S) {
    let mut r = BufReader::new(&mut *s);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        head.push(line.trim_end().to_string());
    }
    let Some(path) = head
        .first()
        .and_then(|l| l.split(' ').nth(1))
        .map(str::to_string)
    else {
        return;
    };
    let inm = head.iter().find_map(|h| {
        h.to_ascii_lowercase()
            .strip_prefix("if-none-match:")
            .map(|_| h[14..].trim().to_string())
    });
    let resp = {
        let mut g = st.lock().unwrap();
        g.requests.push(path.clone());
        if let Some(v) = &inm {
            g.if_none_match.push(v.clone());
        }
        if g.down {
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                .to_vec()
        } else if inm.as_deref() == Some(g.etag.as_str()) && path.ends_with(".toml") {
            format!(
                "HTTP/1.1 304 Not Modified\r\netag: {}\r\nconnection: close\r\n\r\n",
                g.etag
            )
            .into_bytes()
        } else {
            let body = match (path.contains("/feed"), path.ends_with(".minisig")) {
                (true, true) => g.feed_signature.clone(),
                (true, false) => g.feed.clone(),
                (false, true) => g.signature.clone(),
                (false, false) => g.policy.clone(),
            };
            let mut v = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\netag: {}\r\nconnection: close\r\n\r\n",
                body.len(),
                g.etag
            )
            .into_bytes();
            v.extend(body);
            v
        }
    };
    let _ = s.write_all(&resp);
    let _ = s.flush();
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn keypair() -> minisign::KeyPair {
    minisign::KeyPair::generate_unencrypted_keypair().unwrap()
}

fn sign(kp: &minisign::KeyPair, body: &str) -> String {
    minisign::sign(Some(&kp.pk), &kp.sk, body.as_bytes(), None, None)
        .unwrap()
        .to_string()
}

/// The remote policy: enforce, npm limited to `npm`.
fn remote_policy(npm: &str) -> String {
    format!("mode = \"enforce\"\nlock = [\"registries\"]\n[registries]\nnpm = [\"{npm}\"]\n")
}

/// A sandbox whose system layer is `system` (the remote policy's owner).
/// The env layer approves everything the fixtures need, so whatever is
/// denied is the remote policy's doing (its lock narrows the lower layers).
struct Fleet {
    g: Guarded,
    system: PathBuf,
}

impl Fleet {
    fn new(system: &str) -> Fleet {
        fixtures();
        let g = Guarded::new(&format!(
            "mode = \"enforce\"\n[registries]\nnpm = [\"{}\"]\n",
            shared().npm_url()
        ));
        g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
        let system_path = g.sb.root().join("system-policy.toml");
        std::fs::write(&system_path, system).unwrap();
        Fleet {
            g,
            system: system_path,
        }
    }

    fn env(&self) -> Vec<(String, std::ffi::OsString)> {
        let mut e = self.g.pkgward_env();
        e.retain(|(k, _)| k != "PKGWARD_SYSTEM_POLICY");
        e.push(("PKGWARD_SYSTEM_POLICY".into(), self.system.clone().into()));
        e
    }

    fn npm(&self, args: &[&str]) -> Output {
        let reg = shared().npm_url();
        let mut c = self
            .g
            .sb
            .command("npm", &[self.g.sb.npm_env(&reg), self.env()]);
        c.args(args).output().unwrap()
    }

    fn pkgward(&self, args: &[&str]) -> Output {
        Command::new(pkgward_bin())
            .args(args)
            .current_dir(&self.g.sb.work)
            .env_clear()
            .env("HOME", self.g.sb.root())
            .envs(self.env())
            .output()
            .unwrap()
    }

    /// Ages the cached copy by `secs` (its fetch time is not part of what
    /// is verified: only its content is).
    fn age_cache(&self, secs: u64) {
        let fleet = self.g.state.join("fleet");
        for d in std::fs::read_dir(&fleet).unwrap() {
            let p = d.unwrap().path().join("meta.json");
            let mut m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            let t = m["fetched_at"].as_u64().unwrap();
            m["fetched_at"] = serde_json::json!(t - secs);
            std::fs::write(&p, serde_json::to_vec(&m).unwrap()).unwrap();
        }
    }
}

fn pinned_system(url: &str, body: &str, extra: &str) -> String {
    format!(
        "[fleet]\npolicy_url = \"{url}\"\nsha256 = \"{}\"\n{extra}",
        hex(&Sha256::digest(body.as_bytes()))
    )
}

#[test]
fn a_pinned_policy_applies_and_a_wrong_pin_is_never_used() {
    let srv = PolicyServer::start(None);
    let good = remote_policy(&shared().npm_url());
    srv.set(&good, "");
    let f = Fleet::new(&pinned_system(&srv.url(), &good, ""));
    // First run: no copy yet, fetched up front, verified, in force.
    let out = f.npm(&["install", "pw-fleet-pkg"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let inv = f.g.last_invocation();
    assert_eq!(inv["policy"]["fleet"]["status"], "fresh", "{inv}");
    assert!(inv["policy"]["fleet"]["refresh"]
        .as_str()
        .unwrap()
        .starts_with("updated"));
    assert_eq!(
        inv["policy"]["sources"].as_array().unwrap().len(),
        3,
        "{inv}"
    );

    // The server now serves a policy approving an attacker's registry;
    // the pin refuses it and the verified copy stays in force.
    let bad = remote_policy("http://127.0.0.1:9/");
    srv.set(&bad, "");
    let sync = f.pkgward(&["fleet", "sync"]);
    let err = text(&sync.stderr);
    assert_eq!(sync.status.code(), Some(78), "{err}");
    assert!(err.contains("not the pinned"), "{err}");
    let out = f.npm(&["install", "pw-fleet-pkg"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A system layer pinning another digest: never used, and the run is
    // refused with the reason in the audit log.
    let g2 = Fleet::new(&pinned_system(&srv.url(), "something else", ""));
    let out = g2.npm(&["install", "pw-fleet-pkg"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("remote policy") && err.contains("not available"),
        "{err}"
    );
    let inv = g2.g.last_invocation();
    assert_eq!(inv["policy"]["fleet"]["status"], "unavailable");
    assert!(
        inv["policy"]["fleet"]["refresh"]
            .as_str()
            .unwrap()
            .contains("not the pinned"),
        "{inv}"
    );
    assert!(!g2.g.sb.work.join("node_modules").exists());
}

#[test]
fn a_signed_policy_over_https_applies_and_tampering_or_a_wrong_key_is_refused() {
    let (cfg, ca_pem) = support::test_tls();
    let srv = PolicyServer::start(Some(cfg));
    let kp = keypair();
    // The remote policy narrows npm to an unused port: installs are denied.
    let strict = remote_policy("http://127.0.0.1:9/");
    srv.set(&strict, &sign(&kp, &strict));
    let ca = std::env::temp_dir().join(format!("pkgward-test-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, &ca_pem).unwrap();
    let system = |key: &str| {
        format!(
            "[fleet]\npolicy_url = \"{}\"\npublic_key = \"{key}\"\nca_file = \"{}\"\n",
            srv.url(),
            ca.display()
        )
    };
    let f = Fleet::new(&system(&kp.pk.to_base64()));
    let sync = f.pkgward(&["fleet", "sync"]);
    assert!(sync.status.success(), "{}", text(&sync.stderr));
    let out = f.npm(&["install", "pw-fleet-pkg"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("locked") || err.contains("does not approve"),
        "{err}"
    );

    // Tampered body with the old signature: refused; the copy in force stays.
    srv.set(&remote_policy(&shared().npm_url()), &sign(&kp, &strict));
    let sync = f.pkgward(&["fleet", "sync"]);
    let err = text(&sync.stderr);
    assert_eq!(sync.status.code(), Some(78), "{err}");
    assert!(err.contains("signature does not verify"), "{err}");
    let out = f.npm(&["install", "pw-fleet-pkg"]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out.stderr));

    // A policy signed by another key: refused.
    let other = keypair();
    let loose = remote_policy(&shared().npm_url());
    srv.set(&loose, &sign(&other, &loose));
    let sync = f.pkgward(&["fleet", "sync"]);
    assert_eq!(sync.status.code(), Some(78), "{}", text(&sync.stderr));
    // Signed by the right key: applies (installs now succeed).
    srv.set(&loose, &sign(&kp, &loose));
    let sync = f.pkgward(&["fleet", "sync"]);
    assert!(sync.status.success(), "{}", text(&sync.stderr));
    let out = f.npm(&["install", "pw-fleet-pkg"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // An unsigned copy written straight into the cache is refused when read.
    let dir = std::fs::read_dir(f.g.state.join("fleet"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(dir.join("policy.toml"), "mode = \"off\"\n").unwrap();
    srv.down(true);
    let out = f.npm(&["install", "pw-fleet-pkg"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("signature does not verify"), "{err}");
    let _ = std::fs::remove_file(&ca);
}

#[test]
fn stale_copies_follow_on_stale_and_a_down_server_does_not_stop_work() {
    let srv = PolicyServer::start(None);
    let body = remote_policy(&shared().npm_url());
    srv.set(&body, "");
    for (on_stale, stale_code) in [("enforce-cached", Some(0)), ("deny", Some(78))] {
        let f = Fleet::new(&pinned_system(
            &srv.url(),
            &body,
            &format!("refresh = \"1h\"\nmax_age = \"1d\"\non_stale = \"{on_stale}\"\n"),
        ));
        srv.down(false);
        assert!(f.pkgward(&["fleet", "sync"]).status.success());
        // Due for a refresh, server down: the cached copy is in force and
        // the failed background refresh is recorded.
        srv.down(true);
        f.age_cache(2 * 3600);
        let out = f.npm(&["install", "pw-fleet-pkg"]);
        assert!(out.status.success(), "{on_stale}: {}", text(&out.stderr));
        let exit =
            f.g.audit()
                .into_iter()
                .rev()
                .find(|r| r["kind"] == "exit")
                .unwrap();
        assert!(
            exit["fleet_refresh"]
                .as_str()
                .unwrap()
                .starts_with("started in the background"),
            "{on_stale}: {exit}"
        );
        // The detached refresh fails against the down server and says so to
        // the next invocation; that one does not start another.
        let last = std::fs::read_dir(f.g.state.join("fleet"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
            .join("last-refresh.json");
        let t0 = std::time::Instant::now();
        while !last.exists() && t0.elapsed() < std::time::Duration::from_secs(20) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = f.npm(&["install", "pw-fleet-pkg"]);
        assert!(out.status.success(), "{on_stale}: {}", text(&out.stderr));
        let inv = f.g.last_invocation();
        assert!(
            inv["policy"]["fleet"]["problem"]
                .as_str()
                .unwrap_or_default()
                .contains("failed"),
            "{on_stale}: {inv}"
        );
        let exit =
            f.g.audit()
                .into_iter()
                .rev()
                .find(|r| r["kind"] == "exit")
                .unwrap();
        assert!(
            exit["fleet_refresh"]
                .as_str()
                .unwrap()
                .contains("not started again"),
            "{on_stale}: {exit}"
        );
        assert_eq!(f.g.last_invocation()["policy"]["fleet"]["status"], "due");
        // Past max_age with the server still down.
        f.age_cache(2 * 86_400);
        let out = f.npm(&["install", "pw-fleet-pkg"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), stale_code, "{on_stale}: {err}");
        let inv = f.g.last_invocation();
        assert_eq!(
            inv["policy"]["fleet"]["status"], "stale",
            "{on_stale}: {inv}"
        );
        if on_stale == "deny" {
            assert!(err.contains("max_age"), "{err}");
        }
    }
    srv.down(false);
}

#[test]
fn unchanged_policies_cost_a_304() {
    let srv = PolicyServer::start(None);
    let body = remote_policy(&shared().npm_url());
    srv.set(&body, "");
    let f = Fleet::new(&pinned_system(&srv.url(), &body, ""));
    let first = f.pkgward(&["fleet", "sync"]);
    assert!(String::from_utf8_lossy(&first.stdout).contains("updated"));
    let second = f.pkgward(&["fleet", "sync"]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("not modified"),
        "{}",
        text(&second.stdout)
    );
    assert_eq!(srv.state.lock().unwrap().if_none_match.len(), 1);
    assert_eq!(srv.requests().len(), 2);
    let status = f.pkgward(&["fleet", "status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["status"], "fresh");
}

#[test]
fn only_the_system_layer_may_name_a_remote_policy() {
    fixtures();
    let g = Guarded::new(
        "[fleet]\npolicy_url = \"https://policy.example.com/p.toml\"\nsha256 = \"00\"\n",
    );
    let out = g.npm(&["--version"], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("only allowed in the system policy"), "{err}");
}

#[test]
fn a_signed_threat_feed_comes_with_the_policy() {
    fixtures();
    shared().publish_npm(
        &NpmPackage::new("pw-fleet-mal", "1.0.0").file("index.js", "module.exports = 1;\n"),
    );
    let srv = PolicyServer::start(None);
    let kp = keypair();
    let body = remote_policy(&shared().npm_url());
    srv.set(&body, &sign(&kp, &body));
    let feed = r#"[{"id": "MAL-FLEET-1", "affected": [{"package": {"ecosystem": "npm", "name": "pw-fleet-mal"}}]}]"#;
    {
        let mut s = srv.state.lock().unwrap();
        s.feed = feed.as_bytes().to_vec();
        s.feed_signature = sign(&kp, feed).into_bytes();
    }
    let feed_url = srv.url().replace("policy.toml", "feed/mal.json");
    let f = Fleet::new(&format!(
        "[fleet]\npolicy_url = \"{}\"\npublic_key = \"{}\"\nfeed_url = \"{feed_url}\"\n",
        srv.url(),
        kp.pk.to_base64()
    ));
    let sync = f.pkgward(&["fleet", "sync"]);
    assert!(sync.status.success(), "{}", text(&sync.stderr));
    let out = f.npm(&["install", "pw-fleet-mal"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("MAL-FLEET-1"), "{err}");
    // A tampered feed is refused and the verified one stays in force.
    srv.state.lock().unwrap().feed = b"[]".to_vec();
    let sync = f.pkgward(&["fleet", "sync"]);
    assert_eq!(sync.status.code(), Some(78), "{}", text(&sync.stderr));
    assert!(
        text(&sync.stderr).contains("threat feed"),
        "{}",
        text(&sync.stderr)
    );
    let out = f.npm(&["install", "pw-fleet-mal"]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out.stderr));
    let ok = f.npm(&["install", "pw-fleet-pkg"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
}

#[test]
fn a_pinned_threat_feed_is_used_and_a_changed_one_refused() {
    fixtures();
    shared().publish_npm(
        &NpmPackage::new("pw-fleet-pinmal", "1.0.0").file("index.js", "module.exports = 1;\n"),
    );
    let srv = PolicyServer::start(None);
    let body = remote_policy(&shared().npm_url());
    srv.set(&body, "");
    let feed = r#"[{"id": "MAL-FLEET-PIN", "affected": [{"package": {"ecosystem": "npm", "name": "pw-fleet-pinmal"}}]}]"#;
    srv.state.lock().unwrap().feed = feed.as_bytes().to_vec();
    let feed_url = srv.url().replace("policy.toml", "feed/mal.json");
    let f = Fleet::new(&pinned_system(
        &srv.url(),
        &body,
        &format!(
            "feed_url = \"{feed_url}\"\nfeed_sha256 = \"{}\"\n",
            hex(&Sha256::digest(feed.as_bytes()))
        ),
    ));
    let sync = f.pkgward(&["fleet", "sync"]);
    assert!(sync.status.success(), "{}", text(&sync.stderr));
    let out = f.npm(&["install", "pw-fleet-pinmal"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("MAL-FLEET-PIN"), "{err}");
    srv.state.lock().unwrap().feed = b"[]".to_vec();
    let sync = f.pkgward(&["fleet", "sync"]);
    let err = text(&sync.stderr);
    assert_eq!(sync.status.code(), Some(78), "{err}");
    assert!(err.contains("not the pinned"), "{err}");
    let out = f.npm(&["install", "pw-fleet-pinmal"]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out.stderr));
}
