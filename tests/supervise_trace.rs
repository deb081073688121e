//! The Linux tracer end to end: the real npm behind the shim installs a
//! fixture package whose `postinstall` ignores the proxy variables and
//! connects straight to a non-loopback address; in enforce mode the connect
//! fails with EACCES and is recorded (`connection`, `via: "trace"`, deny)
//! with the process lineage (`process` records for npm's shell and node).

#![cfg(target_os = "linux")]

mod support;

use serde_json::Value;
use support::guard::{text, Guarded};
use support::{shared, NpmPackage};

/// TEST-NET-1: never routed, so without the tracer the connect would time
/// out or fail with a network error — never with EACCES.
const OUTSIDE: &str = "192.0.2.1";

fn hook(name: &str) -> String {
    format!(
        "const net = require('net'), fs = require('fs'), path = require('path');\n\
         const out = path.join(process.env.FIXTURE_MARKER_DIR, {name:?});\n\
         const s = net.connect({{ host: {OUTSIDE:?}, port: 80 }});\n\
         s.setTimeout(5000, () => {{ fs.writeFileSync(out, 'timeout'); s.destroy(); }});\n\
         s.on('connect', () => {{ fs.writeFileSync(out, 'connected'); s.destroy(); }});\n\
         s.on('error', e => fs.writeFileSync(out, String(e.code)));\n"
    )
}

fn policy(mode: &str) -> String {
    format!(
        "mode = \"{mode}\"\n[registries]\nnpm = [\"{}\"]\n[scripts]\ndefault = \"allow\"\n",
        shared().npm_url()
    )
}

fn install(mode: &str, pkg: &str) -> (Guarded, std::process::Output, Vec<Value>) {
    let r = shared();
    r.publish_npm(
        &NpmPackage::new(pkg, "1.0.0")
            .file("hook.js", hook(pkg))
            .script("postinstall", "node hook.js"),
    );
    let g = Guarded::new(&policy(mode));
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    let out = g.npm(&["install", pkg], &[]);
    let id = g.last_invocation()["invocation_id"].clone();
    let recs = g
        .audit()
        .into_iter()
        .filter(|r| r["invocation_id"] == id)
        .collect();
    (g, out, recs)
}

#[test]
fn a_direct_connection_from_install_code_is_refused_and_recorded() {
    let (g, out, recs) = install("enforce", "pw-tr-direct");
    assert_eq!(
        g.sb.marker("pw-tr-direct").as_deref(),
        Some("EACCES"),
        "{}",
        text(&out.stderr)
    );
    let denied: Vec<&Value> = recs
        .iter()
        .filter(|r| r["kind"] == "connection" && r["via"] == "trace" && r["action"] == "deny")
        .collect();
    assert!(
        denied
            .iter()
            .any(|r| r["host"] == OUTSIDE && r["port"] == 80 && r["call"] == "connect"),
        "{recs:#?}"
    );
    // The process that tried it is in the record, with its lineage.
    let pid = denied[0]["pid"].as_u64().unwrap();
    let procs: Vec<&Value> = recs.iter().filter(|r| r["kind"] == "process").collect();
    let node = procs
        .iter()
        .find(|p| p["pid"].as_u64() == Some(pid))
        .unwrap_or_else(|| panic!("no process record for pid {pid}: {procs:#?}"));
    assert!(node["argv"].to_string().contains("hook.js"), "{node}");
    // Its parent (npm's script shell) was recorded too.
    let ppid = node["ppid"].as_u64().unwrap();
    assert!(
        procs.iter().any(|p| p["pid"].as_u64() == Some(ppid)),
        "{procs:#?}"
    );
}

#[test]
fn audit_mode_lets_it_through_and_records_a_would_deny() {
    let (g, _out, recs) = install("audit", "pw-tr-audit");
    let m = g.sb.marker("pw-tr-audit");
    assert_ne!(m.as_deref(), Some("EACCES"), "{m:?}");
    assert!(
        recs.iter().any(|r| r["kind"] == "connection"
            && r["via"] == "trace"
            && r["action"] == "would-deny"
            && r["host"] == OUTSIDE),
        "{recs:#?}"
    );
}
