//! One in-toto Statement v1 per invocation, with a SLSA Provenance v1
//! predicate: what the package manager put on the machine and from what.
//!
//! - `subject`: what the invocation installed with a digest: every package
//!   added or changed whose lockfile or metadata (or the proxy) states a
//!   hash, named by its purl, and every executable it wrote into a watched
//!   bin directory, named by its path.
//! - `buildDefinition`: `buildType` [`BUILD_TYPE`]; `externalParameters`
//!   the command (tool, ecosystem, argv, cwd); `internalParameters` what
//!   pkgward decided (policy digest, mode and sources; the decision with its
//!   reasons; packages removed); `resolvedDependencies` the packages (with
//!   their purl, URL and digests) and the artifacts the proxy relayed (URL,
//!   sha256).
//! - `runDetails`: `builder.id` pkgward with its version, `metadata` the
//!   invocation id and when it started and finished, `byproducts` the
//!   install-time scripts and the files written without a digest.
//!
//! An invocation with nothing to name as a subject (a `--version`, a denied
//! install) has no statement: a v1 Statement needs at least one subject
//! with a digest.

use serde_json::{json, Map, Value};

use super::{argv_of, package_digests, parse_time, rfc3339, str_of, Producer};

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What a pkgward provenance describes: one package-manager invocation.
pub const BUILD_TYPE: &str = "urn:pkgward:build-type:package-manager-invocation:v1";

/// The builder id: pkgward and its version.
pub fn builder_id(p: &Producer) -> String {
    format!("urn:pkgward:builder:{}@{}", p.name, p.version)
}

/// The statement for one invocation from its `invocation` record, its
/// `exit` record and its other records (`package`, `artifact`,
/// `file-written`, `script`; others are ignored). `None` when there is no
/// subject.
pub fn statement(
    inv: &Value,
    exit: Option<&Value>,
    records: &[Value],
    p: &Producer,
) -> Option<Value> {
    let mut subjects: Vec<Value> = Vec::new();
    let mut resolved: Vec<Value> = Vec::new();
    let mut byproducts: Vec<Value> = Vec::new();
    let mut removed: Vec<Value> = Vec::new();
    for rec in records {
        match str_of(rec, "kind") {
            Some("package") => {
                let digests = digest_map(package_digests(rec));
                let purl = str_of(rec, "purl").unwrap_or("");
                let name = str_of(rec, "name").unwrap_or("");
                if str_of(rec, "change") == Some("removed") {
                    removed.push(json!(if purl.is_empty() { name } else { purl }));
                    continue;
                }
                let mut rd = Map::new();
                if !purl.is_empty() {
                    rd.insert("uri".into(), json!(purl));
                }
                if !name.is_empty() {
                    rd.insert("name".into(), json!(name));
                }
                if !digests.is_empty() {
                    rd.insert("digest".into(), Value::Object(digests.clone()));
                }
                if let Some(r) = str_of(rec, "resolved") {
                    rd.insert("downloadLocation".into(), json!(r));
                }
                let mut ann = Map::new();
                for (from, to) in [
                    ("ecosystem", "ecosystem"),
                    ("version", "version"),
                    ("change", "change"),
                    ("previous_version", "previousVersion"),
                    ("evidence", "evidence"),
                    ("source_kind", "sourceKind"),
                    ("path", "evidencePath"),
                ] {
                    if let Some(v) = rec.get(from).filter(|v| !v.is_null()) {
                        ann.insert(to.into(), v.clone());
                    }
                }
                rd.insert("annotations".into(), Value::Object(ann));
                if rd.contains_key("uri") || rd.contains_key("name") || !digests.is_empty() {
                    resolved.push(Value::Object(rd));
                }
                if !digests.is_empty() {
                    let label = if purl.is_empty() { name } else { purl };
                    subjects.push(json!({"name": label, "digest": digests}));
                }
            }
            Some("artifact") => {
                let Some(url) = str_of(rec, "url").filter(|u| !u.is_empty()) else {
                    continue;
                };
                let mut rd = json!({"uri": url});
                if let Some(h) = str_of(rec, "sha256") {
                    let d = digest_map(
                        super::hex_digest("sha256", h)
                            .into_iter()
                            .collect::<Vec<_>>(),
                    );
                    if !d.is_empty() {
                        rd["digest"] = Value::Object(d);
                    }
                }
                if let Some(ct) = str_of(rec, "content_type") {
                    rd["mediaType"] = json!(ct);
                }
                let mut ann = Map::new();
                for k in ["method", "status", "size"] {
                    if let Some(v) = rec.get(k).filter(|v| !v.is_null()) {
                        ann.insert(k.into(), v.clone());
                    }
                }
                ann.insert("fetchedThrough".into(), json!("pkgward egress proxy"));
                rd["annotations"] = Value::Object(ann);
                resolved.push(rd);
            }
            Some("file-written") => {
                let Some(path) = str_of(rec, "path").filter(|p| !p.is_empty()) else {
                    continue;
                };
                let digest = str_of(rec, "sha256")
                    .and_then(|h| super::hex_digest("sha256", h))
                    .map(|d| digest_map(vec![d]));
                let mut ann = Map::new();
                for k in ["change", "size", "root"] {
                    if let Some(v) = rec.get(k).filter(|v| !v.is_null()) {
                        ann.insert(k.into(), v.clone());
                    }
                }
                match digest {
                    Some(d) => subjects.push(json!({"name": path, "digest": d})),
                    None => byproducts.push(json!({
                        "name": path,
                        "annotations": ann,
                    })),
                }
            }
            Some("script") => {
                let mut ann = Map::new();
                for (from, to) in [
                    ("ecosystem", "ecosystem"),
                    ("package", "package"),
                    ("version", "version"),
                    ("script", "script"),
                    ("command", "command"),
                    ("decision", "decision"),
                    ("approved_by", "approvedBy"),
                    ("ran", "ran"),
                    ("exit_code", "exitCode"),
                    ("signal", "signal"),
                ] {
                    if let Some(v) = rec.get(from).filter(|v| !v.is_null()) {
                        ann.insert(to.into(), v.clone());
                    }
                }
                byproducts.push(json!({
                    "name": format!(
                        "script:{}@{}:{}",
                        str_of(rec, "package").unwrap_or(""),
                        str_of(rec, "version").unwrap_or(""),
                        str_of(rec, "script").unwrap_or("")
                    ),
                    "annotations": ann,
                }));
            }
            _ => {}
        }
    }
    if subjects.is_empty() {
        return None;
    }

    let mut external = Map::new();
    for k in ["tool", "ecosystem", "cwd"] {
        if let Some(v) = inv.get(k).filter(|v| !v.is_null()) {
            external.insert(k.into(), v.clone());
        }
    }
    external.insert("argv".into(), json!(argv_of(inv, "argv")));
    let mut internal = Map::new();
    if let Some(policy) = inv.get("policy") {
        let mut pm = Map::new();
        for k in ["digest", "mode", "sources"] {
            if let Some(v) = policy.get(k).filter(|v| !v.is_null()) {
                pm.insert(k.into(), v.clone());
            }
        }
        internal.insert("policy".into(), Value::Object(pm));
    }
    if let Some(d) = inv.get("decision") {
        internal.insert("decision".into(), d.clone());
    }
    if let Some(c) = inv.get("classification") {
        internal.insert("classification".into(), c.clone());
    }
    if let Some(f) = exit.and_then(|x| x.get("findings")) {
        internal.insert("findings".into(), f.clone());
    }
    if !removed.is_empty() {
        internal.insert("removedPackages".into(), json!(removed));
    }
    for (from, to) in [
        ("host", "host"),
        ("user", "user"),
        ("ci", "ci"),
        ("parent_id", "parentInvocationId"),
    ] {
        if let Some(v) = inv.get(from).filter(|v| !v.is_null()) {
            internal.insert(to.into(), v.clone());
        }
    }
    if let Some(x) = exit {
        let mut e = Map::new();
        for (from, to) in [
            ("exit_code", "exitCode"),
            ("signal", "signal"),
            ("ran", "ran"),
        ] {
            if let Some(v) = x.get(from).filter(|v| !v.is_null()) {
                e.insert(to.into(), v.clone());
            }
        }
        internal.insert("exit".into(), Value::Object(e));
    }

    let mut metadata = Map::new();
    if let Some(id) = str_of(inv, "invocation_id") {
        metadata.insert("invocationId".into(), json!(id));
    }
    if let Some(t) = str_of(inv, "time").and_then(parse_time) {
        metadata.insert("startedOn".into(), json!(rfc3339(t)));
    }
    if let Some(t) = exit.and_then(|x| str_of(x, "time")).and_then(parse_time) {
        metadata.insert("finishedOn".into(), json!(rfc3339(t)));
    }
    let mut run = json!({
        "builder": {
            "id": builder_id(p),
            "version": {p.name: p.version},
        },
        "metadata": metadata,
    });
    if !byproducts.is_empty() {
        run["byproducts"] = json!(byproducts);
    }
    let mut build = json!({
        "buildType": BUILD_TYPE,
        "externalParameters": external,
        "internalParameters": internal,
    });
    if !resolved.is_empty() {
        build["resolvedDependencies"] = json!(resolved);
    }
    // Identical subjects (a package changed twice) once.
    let mut seen = std::collections::HashSet::new();
    subjects.retain(|s| seen.insert(s.to_string()));
    Some(json!({
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": build,
            "runDetails": run,
        },
    }))
}

fn digest_map(d: Vec<(&'static str, String)>) -> Map<String, Value> {
    d.into_iter()
        .map(|(a, h)| (a.to_string(), json!(h)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_subject_no_statement() {
        let inv = json!({"kind": "invocation", "invocation_id": "i", "argv": ["npm", "--version"]});
        assert!(statement(&inv, None, &[], &Producer::this()).is_none());
        // A package without any digest is a dependency, not a subject.
        let pkg = json!({"kind": "package", "change": "added", "name": "x", "version": "1", "purl": "pkg:npm/x@1"});
        assert!(statement(&inv, None, &[pkg], &Producer::this()).is_none());
    }

    #[test]
    fn subjects_and_dependencies() {
        let inv = json!({"kind": "invocation", "invocation_id": "i", "time": "2026-01-01T00:00:00Z", "tool": "npm", "argv": ["npm", "install"], "policy": {"digest": "d", "mode": "enforce", "sources": []}, "decision": {"action": "allow", "reasons": []}});
        let exit = json!({"kind": "exit", "invocation_id": "i", "time": "2026-01-01T00:00:01.5Z", "exit_code": 0});
        let h = "ab".repeat(32);
        let recs = vec![
            json!({"kind": "package", "change": "added", "name": "x", "version": "1", "purl": "pkg:npm/x@1", "sha256": h, "resolved": "http://127.0.0.1/x-1.tgz"}),
            json!({"kind": "package", "change": "removed", "name": "y", "version": "2", "purl": "pkg:npm/y@2"}),
            json!({"kind": "artifact", "url": "http://127.0.0.1/x-1.tgz", "sha256": h, "size": 3, "status": 200, "method": "GET"}),
            json!({"kind": "file-written", "path": "/p/node_modules/.bin/x", "sha256": h, "change": "created"}),
            json!({"kind": "file-written", "path": "/p/node_modules/.bin/z", "sha256": null, "change": "created"}),
            json!({"kind": "connection", "host": "127.0.0.1"}),
        ];
        let s = statement(&inv, Some(&exit), &recs, &Producer::this()).unwrap();
        assert_eq!(s["subject"].as_array().unwrap().len(), 2);
        assert_eq!(s["subject"][0]["name"], "pkg:npm/x@1");
        assert_eq!(s["subject"][0]["digest"]["sha256"], h.as_str());
        let p = &s["predicate"];
        assert_eq!(
            p["buildDefinition"]["resolvedDependencies"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            p["buildDefinition"]["internalParameters"]["removedPackages"],
            json!(["pkg:npm/y@2"])
        );
        assert_eq!(
            p["runDetails"]["metadata"]["finishedOn"],
            "2026-01-01T00:00:01.500Z"
        );
        assert_eq!(
            p["runDetails"]["byproducts"][0]["name"],
            "/p/node_modules/.bin/z"
        );
    }
}
