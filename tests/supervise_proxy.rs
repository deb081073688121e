//! The egress proxy end to end: the real npm, pip and cargo behind pkgward
//! shims install from registries served on 127.0.0.1, and their traffic
//! goes through the proxy pkgward starts for the invocation (each connection
//! is in the audit log, linked to the invocation, and the registry saw the
//! proxy's own `Connection` header). pip's requests share kept-alive
//! connections, each still decided and recorded. A package whose metadata sends the tool to
//! an unapproved host is stopped by the proxy with a 403 naming pkgward and
//! `[network] allow`; the unapproved listener receives nothing.

mod support;

use serde_json::Value;
use support::guard::{evil, pkgward_bin, text, Guarded};
use support::tools::real_cargo;
use support::{shared, CargoRegistry, Crate, NpmPackage, Response, Wheel};

fn cargo_url() -> String {
    shared()
        .cargo_index_url()
        .trim_start_matches("sparse+")
        .to_string()
}

fn policy(mode: &str, extra: &str) -> String {
    let r = shared();
    format!(
        "mode = \"{mode}\"\n[registries]\nnpm = [\"{}\"]\npypi = [\"{}\"]\ncargo = [\"{}\", \"{}\"]\n{extra}",
        r.npm_url(),
        r.pypi_index_url(),
        cargo_url(),
        evil_cargo().index_url().trim_start_matches("sparse+"),
    )
}

fn connections(g: &Guarded) -> Vec<Value> {
    g.audit()
        .into_iter()
        .filter(|r| r["kind"] == "connection")
        .collect()
}

/// Every proxy connection record of the last invocation.
fn last_connections(g: &Guarded) -> (String, Vec<Value>) {
    let id = g.last_invocation()["invocation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = connections(g)
        .into_iter()
        .filter(|c| c["invocation_id"] == id.as_str() && c["via"] == "proxy")
        .collect();
    (id, c)
}

fn registry_port() -> u16 {
    shared().server.handle().port()
}

/// The allowed records reach the loopback registry; returns them.
fn assert_through_proxy(conns: &[Value], needle: &str) {
    assert!(!conns.is_empty(), "no connection went through the proxy");
    for c in conns {
        assert_eq!(c["via"], "proxy", "{c}");
        assert_eq!(c["action"], "allow", "{c}");
        assert_eq!(c["host"], "127.0.0.1", "{c}");
        assert_eq!(c["port"], registry_port(), "{c}");
        assert!(
            c["rule"].as_str().unwrap().starts_with("registries."),
            "{c}"
        );
    }
    let fetched = conns
        .iter()
        .find(|c| c["url"].as_str().is_some_and(|u| u.contains(needle)))
        .unwrap_or_else(|| panic!("no request for {needle} in {conns:#?}"));
    assert!(fetched["bytes_down"].as_u64().unwrap() > 0, "{fetched}");
    assert!(fetched["bytes_up"].as_u64().unwrap() > 0, "{fetched}");
}

/// The registry's view: the request for `path` came with the proxy's own
/// `Connection` header (it keeps its upstream connections alive) and
/// without the tool's proxy headers.
fn assert_registry_saw_proxy(path: &str) {
    let hits: Vec<_> = shared()
        .hits()
        .into_iter()
        .filter(|h| h.path == path)
        .collect();
    assert!(!hits.is_empty(), "{path} was not requested");
    for h in hits {
        assert_eq!(h.header("connection"), Some("keep-alive"), "{path}: {h:?}");
        assert!(h.header("proxy-connection").is_none(), "{h:?}");
    }
}

fn assert_denied_by_proxy(g: &Guarded, out: &std::process::Output, before: usize) {
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "the install succeeded:\n{stderr}");
    let (_, conns) = last_connections(g);
    let denied: Vec<&Value> = conns.iter().filter(|c| c["action"] == "deny").collect();
    assert!(
        !denied.is_empty(),
        "no denied connection: {conns:#?}\n{stderr}"
    );
    for d in &denied {
        assert_eq!(d["host"], "127.0.0.1", "{d}");
        assert_eq!(d["port"], evil().port(), "{d}");
        assert_eq!(d["status"], 403, "{d}");
        assert_eq!(d["bytes_down"], 0, "{d}");
    }
    assert_eq!(
        evil().connections().len(),
        before,
        "the unapproved listener was reached"
    );
}

// ---- npm ----------------------------------------------------------------

#[test]
fn npm_install_goes_through_the_proxy() {
    let r = shared();
    let p = r.publish_npm(&NpmPackage::new("pw-px-ok", "1.0.0"));
    let g = Guarded::new(&policy("enforce", ""));
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    let out = g.npm(&["install", "pw-px-ok"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(g
        .sb
        .work
        .join("node_modules/pw-px-ok/package.json")
        .is_file());
    let (_, conns) = last_connections(&g);
    assert_through_proxy(&conns, &p.tarball_path);
    assert_registry_saw_proxy(&p.tarball_path);
}

/// The packument sends the tarball download to an unapproved host: nothing
/// in the command line or config names it, so only the proxy can stop it.
#[test]
fn npm_tarball_on_an_unapproved_host_is_stopped_by_the_proxy() {
    let r = shared();
    r.publish_npm(&NpmPackage::new("pw-px-evil", "1.0.0"));
    let mut doc = r.npm.packument("pw-px-evil").unwrap();
    doc["versions"]["1.0.0"]["dist"]["tarball"] =
        format!("{}/pw-px-evil-1.0.0.tgz", evil().base_url()).into();
    r.server
        .handle()
        .respond(&r.npm.packument_path("pw-px-evil"), Response::json(&doc));
    let before = evil().connections().len();
    let g = Guarded::new(&policy("enforce", ""));
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    let out = g.npm(&["install", "pw-px-evil", "--fetch-retries=0"], &[]);
    assert_denied_by_proxy(&g, &out, before);
    assert!(text(&out.stderr).contains("403"), "{}", text(&out.stderr));
    assert!(!g.sb.work.join("node_modules/pw-px-evil").exists());
}

/// Proxy settings in the project's `.npmrc` (no proxy, every host exempt)
/// and in the environment the tool starts with do not take the tool off the
/// proxy.
#[test]
fn hostile_proxy_settings_do_not_bypass_the_proxy() {
    let r = shared();
    r.publish_npm(&NpmPackage::new("pw-px-evil2", "1.0.0"));
    let mut doc = r.npm.packument("pw-px-evil2").unwrap();
    doc["versions"]["1.0.0"]["dist"]["tarball"] =
        format!("{}/pw-px-evil2-1.0.0.tgz", evil().base_url()).into();
    r.server
        .handle()
        .respond(&r.npm.packument_path("pw-px-evil2"), Response::json(&doc));
    let before = evil().connections().len();
    let g = Guarded::new(&policy("enforce", ""));
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    g.sb.write(".npmrc", "noproxy=*\nproxy=\nhttps-proxy=\n");
    let out = g.npm(
        &["install", "pw-px-evil2", "--fetch-retries=0"],
        &[
            ("NO_PROXY", "*"),
            ("no_proxy", "127.0.0.1,localhost"),
            ("NPM_CONFIG_NOPROXY", "*"),
            ("npm_config_proxy", "http://127.0.0.1:9/"),
        ],
    );
    assert_denied_by_proxy(&g, &out, before);
}

/// `[network] allow` lets the same destination through (and says which rule).
#[test]
fn network_allow_lets_a_destination_through() {
    let r = shared();
    let published = r.publish_npm(&NpmPackage::new("pw-px-allowed", "1.0.0"));
    // The tarball lives on a second loopback server the policy allows by host:port.
    let other = support::HttpServer::start();
    other.handle().respond(
        "/t.tgz",
        Response::ok("application/octet-stream", published.tarball.to_vec()),
    );
    let mut doc = r.npm.packument("pw-px-allowed").unwrap();
    doc["versions"]["1.0.0"]["dist"]["tarball"] = other.handle().url("/t.tgz").into();
    r.server
        .handle()
        .respond(&r.npm.packument_path("pw-px-allowed"), Response::json(&doc));
    let allow = format!(
        "[network]\nallow = [\"127.0.0.1:{}\"]\n",
        other.handle().port()
    );
    let g = Guarded::new(&policy("enforce", &allow));
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    let out = g.npm(&["install", "pw-px-allowed"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (_, conns) = last_connections(&g);
    let to_other = conns
        .iter()
        .find(|c| c["port"] == other.handle().port())
        .unwrap_or_else(|| panic!("{conns:#?}"));
    assert_eq!(to_other["action"], "allow");
    assert_eq!(
        to_other["rule"],
        format!("network.allow: 127.0.0.1:{}", other.handle().port())
    );
    assert!(other
        .hits()
        .iter()
        .all(|h| h.header("connection") == Some("keep-alive")));
}

/// In audit mode the same download goes through and is recorded as a
/// would-deny.
#[test]
fn audit_mode_records_would_deny_connections() {
    let r = shared();
    // A listener of its own: the other tests count what reaches `evil()`.
    let elsewhere = support::Listener::start();
    r.publish_npm(&NpmPackage::new("pw-px-audit", "1.0.0"));
    let mut doc = r.npm.packument("pw-px-audit").unwrap();
    doc["versions"]["1.0.0"]["dist"]["tarball"] =
        format!("{}/pw-px-audit-1.0.0.tgz", elsewhere.base_url()).into();
    r.server
        .handle()
        .respond(&r.npm.packument_path("pw-px-audit"), Response::json(&doc));
    let g = Guarded::new(&policy("audit", ""));
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    let _ = g.npm(&["install", "pw-px-audit", "--fetch-retries=0"], &[]);
    let (_, conns) = last_connections(&g);
    assert!(
        conns
            .iter()
            .any(|c| c["action"] == "would-deny" && c["port"] == elsewhere.port()),
        "{conns:#?}"
    );
    assert!(
        !elsewhere.connections().is_empty(),
        "audit mode did not let it through"
    );
}

// ---- pip ----------------------------------------------------------------

#[test]
fn pip_install_goes_through_the_proxy() {
    let r = shared();
    let w = r.publish_wheel(&Wheel::new("pw-px-wheel", "1.0.0"));
    let g = Guarded::new(&policy("enforce", ""));
    let target = g.sb.root().join("site");
    let out = g.pip(
        &[
            "install",
            "--target",
            target.to_str().unwrap(),
            "pw-px-wheel",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (_, conns) = last_connections(&g);
    assert_through_proxy(&conns, &w.path);
    assert_registry_saw_proxy(&w.path);
}

/// The project page links the file on an unapproved host.
#[test]
fn pip_file_on_an_unapproved_host_is_stopped_by_the_proxy() {
    let r = shared();
    let w = r.publish_wheel(&Wheel::new("pw-px-evil-wheel", "1.0.0"));
    let html = format!(
        "<!DOCTYPE html><html><body><a href=\"{}/{}#sha256={}\">{}</a></body></html>\n",
        evil().base_url(),
        w.filename,
        w.sha256,
        w.filename
    );
    r.server.handle().respond(
        &r.pypi.project_path("pw-px-evil-wheel"),
        Response::ok("text/html", html),
    );
    let before = evil().connections().len();
    let g = Guarded::new(&policy("enforce", ""));
    let target = g.sb.root().join("site");
    let out = g.pip(
        &[
            "install",
            "--retries",
            "0",
            "--target",
            target.to_str().unwrap(),
            "pw-px-evil-wheel",
        ],
        &[],
    );
    assert_denied_by_proxy(&g, &out, before);
    assert!(text(&out.stderr).contains("403"), "{}", text(&out.stderr));
    // pip asked for the file on the connection it had fetched the project
    // page on: a later request on a kept-alive connection is decided on
    // its own (and the unapproved listener saw nothing, above).
    let (_, conns) = last_connections(&g);
    let page = conns
        .iter()
        .find(|c| {
            c["action"] == "allow"
                && c["url"]
                    .as_str()
                    .is_some_and(|u| u.contains("pw-px-evil-wheel"))
        })
        .unwrap_or_else(|| panic!("no record of the project page: {conns:#?}"));
    assert!(
        conns.iter().any(|c| c["action"] == "deny"
            && c["conn"] == page["conn"]
            && c["seq"].as_u64() > page["seq"].as_u64()),
        "the denied request did not come on the page's kept connection: {conns:#?}"
    );
}

// ---- cargo --------------------------------------------------------------

/// A second sparse registry on the shared server whose `config.json` sends
/// crate downloads to the unapproved listener.
fn evil_cargo() -> &'static CargoRegistry {
    static R: std::sync::OnceLock<CargoRegistry> = std::sync::OnceLock::new();
    R.get_or_init(|| {
        let reg = CargoRegistry::new(shared().server.handle(), "/cargo-px-evil");
        reg.publish(&Crate::new("pw-px-evil-crate", "1.0.0"));
        shared().server.handle().respond(
            "/cargo-px-evil/config.json",
            Response::json(&serde_json::json!({
                "dl": format!("{}/api/v1/crates", evil().base_url()),
            })),
        );
        reg
    })
}

fn cargo_guarded(config: &str) -> Guarded {
    let g = Guarded::new(&policy("enforce", ""));
    std::os::unix::fs::symlink(pkgward_bin(), g.shims.join("cargo")).unwrap();
    let real = g.real.join("cargo");
    std::fs::write(
        &real,
        format!("#!/bin/sh\nexec '{}' \"$@\"\n", real_cargo().display()),
    )
    .unwrap();
    std::fs::set_permissions(&real, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    g.sb.cargo_config(config);
    g
}

fn cargo(g: &Guarded, args: &[&str]) -> std::process::Output {
    g.sb.command("cargo", &[g.sb.cargo_env(), g.pkgward_env()])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cargo_fetch_goes_through_the_proxy() {
    let r = shared();
    let c = r.publish_crate(&Crate::new("pw-px-crate", "1.0.0"));
    let g = cargo_guarded(&r.cargo.config_replacing_crates_io());
    g.sb.write(
        "Cargo.toml",
        "[package]\nname = \"px-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\npw-px-crate = \"1\"\n",
    );
    g.sb.write("src/main.rs", "fn main() {}\n");
    let out = cargo(&g, &["fetch"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (_, conns) = last_connections(&g);
    assert_through_proxy(&conns, &c.download_path);
    assert_registry_saw_proxy(&c.download_path);
}

#[test]
fn cargo_download_on_an_unapproved_host_is_stopped_by_the_proxy() {
    let reg = evil_cargo();
    // A config that turns cargo's proxy off does not help.
    let g = cargo_guarded(&format!(
        "{}\n[http]\nproxy = \"\"\n",
        reg.config_replacing_crates_io()
    ));
    g.sb.write(
        "Cargo.toml",
        "[package]\nname = \"px-evil\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\npw-px-evil-crate = \"1\"\n",
    );
    g.sb.write("src/main.rs", "fn main() {}\n");
    let before = evil().connections().len();
    let out = cargo(&g, &["fetch"]);
    assert_denied_by_proxy(&g, &out, before);
    assert!(text(&out.stderr).contains("403"), "{}", text(&out.stderr));
}

/// pip fetches its index pages and wheels over kept-alive connections to
/// the proxy, which reuses its connection to the registry: fewer client
/// connections than requests, fewer registry connections than requests,
/// and still one decided record per request.
#[test]
fn pip_reuses_connections_through_the_proxy_and_every_request_is_decided() {
    let r = shared();
    let names = ["pw-ka-one", "pw-ka-two", "pw-ka-three", "pw-ka-four"];
    let wheels: Vec<_> = names
        .iter()
        .map(|n| r.publish_wheel(&Wheel::new(n, "1.0.0")))
        .collect();
    let g = Guarded::new(&policy("enforce", ""));
    let target = g.sb.root().join("site");
    let mut args = vec![
        "install",
        "--no-cache-dir",
        "--target",
        target.to_str().unwrap(),
    ];
    args.extend(names);
    let out = g.pip(&args, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (_, conns) = last_connections(&g);
    assert_through_proxy(&conns, &wheels[0].path);
    let mut paths: Vec<String> = wheels.iter().map(|w| w.path.clone()).collect();
    paths.extend(names.iter().map(|n| r.pypi.project_path(n)));
    for p in &paths {
        let c = conns
            .iter()
            .find(|c| c["url"].as_str().is_some_and(|u| u.ends_with(p.as_str())))
            .unwrap_or_else(|| panic!("no record for {p}: {conns:#?}"));
        assert_eq!(c["response_status"], 200, "{c}");
        assert!(c["bytes_down"].as_u64().unwrap() > 0, "{c}");
        assert!(c["duration_ms"].as_f64().is_some(), "{c}");
    }
    // Client connections: each record names its own (old proxy: none, and
    // one connection per request).
    let clients: std::collections::BTreeSet<u64> = conns
        .iter()
        .map(|c| c["conn"].as_u64().unwrap_or_else(|| panic!("no conn: {c}")))
        .collect();
    assert!(
        clients.len() < conns.len(),
        "{} client connections for {} requests",
        clients.len(),
        conns.len()
    );
    assert!(
        conns.iter().any(|c| c["seq"].as_u64().unwrap() > 1),
        "{conns:#?}"
    );
    assert!(
        conns.iter().any(|c| c["upstream_reused"] == true),
        "{conns:#?}"
    );
    // The registry's view: the proxy's requests asked for keep-alive and
    // came over fewer connections than there were requests.
    let hits: Vec<_> = r
        .hits()
        .into_iter()
        .filter(|h| paths.contains(&h.path))
        .collect();
    assert!(hits.len() >= paths.len(), "{hits:?}");
    let peers: std::collections::BTreeSet<_> = hits.iter().map(|h| h.peer).collect();
    assert!(
        peers.len() < hits.len(),
        "{} connections for {} requests",
        peers.len(),
        hits.len()
    );
    for h in &hits {
        assert_eq!(h.header("connection"), Some("keep-alive"), "{h:?}");
    }
}
