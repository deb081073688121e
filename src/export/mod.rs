//! `pkgward export`: the audit log in the formats a security team ingests.
//!
//! - [`ocsf`]: OCSF 1.5.0 events (Process Activity 1007, Network Activity
//!   4001, HTTP Activity 4002, Script Activity 1009, File System Activity
//!   1001), one per record, with the `host` profile.
//! - [`ecs`]: Elastic Common Schema documents, one per record.
//! - [`intoto`]: one in-toto Statement v1 with a SLSA Provenance v1
//!   predicate per invocation that installed something with a digest.
//!
//! Everything here is pure: records (as JSON values, so that records from
//! newer or older pkgward versions still read) go in, JSON values come out;
//! reading the log and writing the output is the CLI's. A record of a kind
//! a format has no mapping for is skipped (and counted by the caller), never
//! an error; a field a record lacks is left out of the event.

pub mod ecs;
pub mod intoto;
pub mod ocsf;

use std::collections::{HashMap, HashSet};

use base64::Engine;
use serde_json::{Map, Value};

/// The product that writes the events.
#[derive(Clone, Debug)]
pub struct Producer {
    pub name: &'static str,
    pub version: &'static str,
}

impl Producer {
    /// This pkgward.
    pub fn this() -> Producer {
        Producer {
            name: "pkgward",
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// What the exporter knows of every invocation: its `invocation` and `exit`
/// records, gathered in a first pass over the log so that the records of
/// an invocation (which carry only its id) can name its host, user and tool.
#[derive(Clone, Debug, Default)]
pub struct Index {
    invocations: HashMap<String, Value>,
    exits: HashMap<String, Value>,
    /// Invocation ids in log order.
    order: Vec<String>,
}

impl Index {
    /// Takes note of `rec` if it is an `invocation` or `exit` record: of
    /// the fields the other records' events borrow (a log of many
    /// invocations stays small in memory; the full records are converted
    /// as they are read).
    pub fn add(&mut self, rec: &Value) {
        let id = str_of(rec, "invocation_id").unwrap_or("").to_string();
        match str_of(rec, "kind") {
            Some("invocation") => {
                let slim = keep(rec, INVOCATION_KEYS);
                if self.invocations.insert(id.clone(), slim).is_none() {
                    self.order.push(id);
                }
            }
            Some("exit") => {
                self.exits.insert(id, keep(rec, EXIT_KEYS));
            }
            _ => {}
        }
    }

    pub fn invocation(&self, id: &str) -> Option<&Value> {
        self.invocations.get(id)
    }

    pub fn exit(&self, id: &str) -> Option<&Value> {
        self.exits.get(id)
    }

    /// Invocation ids in log order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }

    /// The invocation a record belongs to.
    pub fn invocation_of(&self, rec: &Value) -> Option<&Value> {
        str_of(rec, "invocation_id").and_then(|id| self.invocation(id))
    }

    /// When a record happened: its own `time`; for records without one
    /// (processes seen on Windows, files written), the end of its
    /// invocation, else the start.
    pub fn time_of(&self, rec: &Value) -> Option<jiff::Timestamp> {
        if let Some(t) = str_of(rec, "time").and_then(parse_time) {
            return Some(t);
        }
        let id = str_of(rec, "invocation_id")?;
        self.exit(id)
            .and_then(|x| str_of(x, "time"))
            .and_then(parse_time)
            .or_else(|| {
                self.invocation(id)
                    .and_then(|i| str_of(i, "time"))
                    .and_then(parse_time)
            })
    }

    /// The invocation `id` and every invocation it started, recursively
    /// (by `parent_id`).
    pub fn tree(&self, id: &str) -> HashSet<String> {
        let mut members: HashSet<String> = HashSet::new();
        if !self.invocations.contains_key(id) {
            return members;
        }
        members.insert(id.to_string());
        // Children are logged after their parents; loop until nothing new
        // in case a log was concatenated out of order.
        loop {
            let before = members.len();
            for cid in &self.order {
                let parent = self
                    .invocations
                    .get(cid)
                    .and_then(|v| str_of(v, "parent_id"))
                    .unwrap_or("");
                if members.contains(parent) {
                    members.insert(cid.clone());
                }
            }
            if members.len() == before {
                return members;
            }
        }
    }

    /// Resolves an invocation id given in full or as a unique prefix of at
    /// least 8 characters.
    pub fn resolve(&self, id: &str) -> Result<String, String> {
        let id = id.trim();
        if self.invocations.contains_key(id) {
            return Ok(id.to_string());
        }
        let found: Vec<&String> = if id.len() >= 8 {
            self.order.iter().filter(|i| i.starts_with(id)).collect()
        } else {
            Vec::new()
        };
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(format!("no invocation {id} in the audit log")),
            many => Err(format!(
                "{id} matches {} invocations; give more of the id",
                many.len()
            )),
        }
    }
}

/// What [`Index`] keeps of an invocation record.
const INVOCATION_KEYS: &[&str] = &[
    "kind",
    "invocation_id",
    "parent_id",
    "time",
    "tool",
    "ecosystem",
    "argv",
    "user",
    "uid",
    "host",
    "pid",
];

/// What [`Index`] keeps of an exit record.
const EXIT_KEYS: &[&str] = &["kind", "invocation_id", "time", "child_pid"];

fn keep(rec: &Value, keys: &[&str]) -> Value {
    let mut m = Map::new();
    for k in keys {
        if let Some(v) = rec.get(*k) {
            m.insert((*k).to_string(), v.clone());
        }
    }
    Value::Object(m)
}

/// Which records to export.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only invocations that started at or after this (records without a
    /// known invocation: by their own time).
    pub since: Option<jiff::Timestamp>,
    /// Only these invocations (an invocation and its children).
    pub invocations: Option<HashSet<String>>,
}

impl Selection {
    pub fn accepts(&self, idx: &Index, rec: &Value) -> bool {
        let id = str_of(rec, "invocation_id").unwrap_or("");
        if let Some(set) = &self.invocations {
            if !set.contains(id) {
                return false;
            }
        }
        if let Some(since) = self.since {
            let t = match idx.invocation(id) {
                Some(inv) => str_of(inv, "time").and_then(parse_time),
                None => idx.time_of(rec),
            };
            if t.is_none_or(|t| t < since) {
                return false;
            }
        }
        true
    }
}

pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

pub(crate) fn u64_of(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

pub(crate) fn i64_of(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

pub(crate) fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    s.parse().ok()
}

/// RFC 3339, UTC, millisecond precision (`2026-01-01T00:00:00.000Z`).
pub(crate) fn rfc3339(t: jiff::Timestamp) -> String {
    format!("{t:.3}")
}

/// The last path component of a `/` or `\` separated path.
pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\'])
        .find(|s| !s.is_empty())
        .unwrap_or(path)
}

/// The directory part of a path (`""` when there is none).
pub(crate) fn dir_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches(['/', '\\']);
    match trimmed.rfind(['/', '\\']) {
        Some(0) => &trimmed[..1],
        Some(i) => &trimmed[..i],
        None => "",
    }
}

/// A record's argv as strings.
pub(crate) fn argv_of(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A command line from argv: arguments with spaces or quotes are quoted
/// (for reading, not for a shell).
pub(crate) fn command_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.is_empty() || a.contains([' ', '\t', '"', '\'']) {
                format!("\"{}\"", a.replace('\\', "\\\\").replace('"', "\\\""))
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The record without the keys an event mapped elsewhere: what goes to
/// `unmapped` (OCSF) or `pkgward.*` (ECS) so that nothing is lost.
/// The fields of an `invocation` record both event formats map to their
/// own process/actor fields (the rest goes to `unmapped` / `pkgward.*`).
pub(crate) const INVOCATION_MAPPED: &[&str] = &[
    "kind",
    "time",
    "argv",
    "cwd",
    "user",
    "uid",
    "host",
    "pid",
    "tool",
    "real_tool",
];

/// The same for a `process` record (Linux tracer and Windows shapes).
pub(crate) const PROCESS_MAPPED: &[&str] = &[
    "kind",
    "time",
    "pid",
    "ppid",
    "parent_pid",
    "exe",
    "image",
    "argv",
    "command_line",
    "cwd",
    "exit_code",
];

pub(crate) fn rest(rec: &Value, mapped: &[&str]) -> Map<String, Value> {
    let mut m = rec.as_object().cloned().unwrap_or_default();
    for k in mapped {
        m.remove(*k);
    }
    m.retain(|_, v| !v.is_null());
    m
}

/// A digest as lowercase hex, with the algorithm's in-toto name, from how a
/// record spells it: hex, or base64 (npm's `sha512-…` integrity). `None`
/// for algorithms that are not plain hashes of the artifact (`h1`,
/// `yarn-zip-sha512`, …) or values of the wrong length.
pub fn hex_digest(algorithm: &str, value: &str) -> Option<(&'static str, String)> {
    let (alg, len) = match algorithm.to_ascii_lowercase().as_str() {
        "sha1" => ("sha1", 20),
        "sha256" => ("sha256", 32),
        "sha384" => ("sha384", 48),
        "sha512" => ("sha512", 64),
        "md5" => ("md5", 16),
        _ => return None,
    };
    let value = value.trim();
    let value = value
        .strip_prefix(&format!("{alg}-"))
        .or_else(|| value.strip_prefix(&format!("{alg}:")))
        .unwrap_or(value);
    if value.len() == len * 2 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some((alg, value.to_ascii_lowercase()));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(value))
        .ok()?;
    if bytes.len() != len {
        return None;
    }
    Some((alg, bytes.iter().map(|b| format!("{b:02x}")).collect()))
}

/// Every digest a `package` record states, as hex by algorithm: its
/// `integrity` list and its `sha256`.
pub fn package_digests(rec: &Value) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut push = |d: Option<(&'static str, String)>| {
        if let Some((a, h)) = d {
            if !out.iter().any(|(x, _)| *x == a) {
                out.push((a, h));
            }
        }
    };
    if let Some(list) = rec.get("integrity").and_then(Value::as_array) {
        for d in list {
            if let (Some(a), Some(v)) = (str_of(d, "algorithm"), str_of(d, "value")) {
                push(hex_digest(a, v));
            }
        }
    }
    if let Some(s) = str_of(rec, "sha256") {
        push(hex_digest("sha256", s));
    }
    out
}

/// A stable id for a record: the first 128 bits of the sha256 of its JSON,
/// as hex. Exporting the same log twice gives the same ids, so a SIEM can
/// drop the events it already has (OCSF `metadata.uid`, ECS `event.id`).
pub fn record_uid(rec: &Value) -> String {
    use sha2::Digest;
    let bytes = serde_json::to_vec(rec).unwrap_or_default();
    let d = sha2::Sha256::digest(&bytes);
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The record kinds each format maps, for the caller's report of what it
/// skipped.
pub fn record_kind(rec: &Value) -> &str {
    str_of(rec, "kind").unwrap_or("(none)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn digests_from_hex_and_sri() {
        let hex = "a".repeat(64);
        assert_eq!(hex_digest("sha256", &hex), Some(("sha256", hex.clone())));
        assert_eq!(
            hex_digest("SHA256", &hex.to_uppercase()),
            Some(("sha256", hex.clone()))
        );
        // npm integrity: base64 of the 64 bytes.
        let b64 = base64::engine::general_purpose::STANDARD.encode([0xabu8; 64]);
        assert_eq!(
            hex_digest("sha512", &b64),
            Some(("sha512", "ab".repeat(64)))
        );
        assert_eq!(
            hex_digest("sha512", &format!("sha512-{b64}")),
            Some(("sha512", "ab".repeat(64)))
        );
        for (a, v) in [
            ("h1", "abc="),
            ("sha256", "abc"),
            ("sha512", &hex),
            ("yarn-zip-sha512", "00"),
        ] {
            assert_eq!(hex_digest(a, v), None, "{a} {v}");
        }
        let rec = json!({"integrity": [{"algorithm": "sha512", "value": b64}, {"algorithm": "h1", "value": "x"}], "sha256": hex});
        let d = package_digests(&rec);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].0, "sha512");
        assert_eq!(d[1].0, "sha256");
    }

    #[test]
    fn paths_and_command_lines() {
        assert_eq!(base_name("/usr/bin/node"), "node");
        assert_eq!(base_name(r"C:\Windows\cmd.exe"), "cmd.exe");
        assert_eq!(base_name("dir/"), "dir");
        assert_eq!(dir_name("/usr/bin/node"), "/usr/bin");
        assert_eq!(dir_name("/node"), "/");
        assert_eq!(dir_name("node"), "");
        assert_eq!(
            command_line(&["npm".into(), "run".into(), "a b".into(), "".into()]),
            r#"npm run "a b" """#
        );
    }

    #[test]
    fn index_tree_time_and_selection() {
        let mut idx = Index::default();
        for r in [
            json!({"kind": "invocation", "invocation_id": "0193aaaa-1", "time": "2026-01-01T00:00:00Z"}),
            json!({"kind": "invocation", "invocation_id": "0193aaaa-2", "parent_id": "0193aaaa-1", "time": "2026-01-01T00:00:01Z"}),
            json!({"kind": "invocation", "invocation_id": "0193bbbb-3", "parent_id": "0193aaaa-2", "time": "2026-01-01T00:00:02Z"}),
            json!({"kind": "invocation", "invocation_id": "0193cccc-4", "time": "2026-01-02T00:00:00Z"}),
            json!({"kind": "exit", "invocation_id": "0193aaaa-1", "time": "2026-01-01T00:00:09Z"}),
        ] {
            idx.add(&r);
        }
        let t = idx.tree("0193aaaa-1");
        assert_eq!(t.len(), 3);
        assert!(!t.contains("0193cccc-4"));
        assert!(idx.tree("nope").is_empty());
        assert_eq!(idx.resolve("0193cccc").unwrap(), "0193cccc-4");
        assert!(idx.resolve("0193aaaa").unwrap_err().contains("matches 2"));
        assert!(idx.resolve("0193").is_err());
        // A file-written record has no time of its own: the invocation's end.
        let fw = json!({"kind": "file-written", "invocation_id": "0193aaaa-1"});
        assert_eq!(
            idx.time_of(&fw).unwrap().to_string(),
            "2026-01-01T00:00:09Z"
        );
        let sel = Selection {
            since: Some("2026-01-01T12:00:00Z".parse().unwrap()),
            invocations: None,
        };
        assert!(!sel.accepts(&idx, &fw));
        assert!(sel.accepts(
            &idx,
            &json!({"kind": "connection", "invocation_id": "0193cccc-4", "time": "2025-01-01T00:00:00Z"})
        ));
        let sel = Selection {
            since: None,
            invocations: Some(t),
        };
        assert!(sel.accepts(&idx, &fw));
        assert!(!sel.accepts(&idx, &json!({"invocation_id": "0193cccc-4"})));
    }

    /// Records with any shape (wrong types, missing fields, odd strings)
    /// never make a converter panic.
    mod odd_records {
        use super::super::*;
        use proptest::prelude::*;
        use serde_json::json;

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(Value::from),
                ".{0,12}".prop_map(Value::from),
                Just(json!("2026-01-01T00:00:00Z")),
                Just(json!("sha512-ERERERE=")),
                Just(json!("::1")),
                Just(json!("http://[::1]:9/a/b.tgz?x#y")),
            ]
        }

        fn value() -> impl Strategy<Value = Value> {
            leaf().prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                    prop::collection::btree_map(
                        prop_oneof![
                            Just("algorithm".to_string()),
                            Just("value".to_string()),
                            Just("message".to_string()),
                            Just("path".to_string()),
                            Just("action".to_string()),
                            "[a-z]{1,6}"
                        ],
                        inner,
                        0..4
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        const KEYS: &[&str] = &[
            "invocation_id",
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
        ];

        fn record() -> impl Strategy<Value = Value> {
            let kinds = prop_oneof![
                Just("invocation"),
                Just("exit"),
                Just("process"),
                Just("process-exit"),
                Just("connection"),
                Just("artifact"),
                Just("script"),
                Just("file-written"),
                Just("package"),
                Just("watch-truncated"),
                Just("unknown"),
            ];
            (
                kinds,
                prop::collection::vec((prop::sample::select(KEYS), value()), 0..20),
            )
                .prop_map(|(kind, fields)| {
                    let mut m = serde_json::Map::new();
                    m.insert("kind".into(), json!(kind));
                    for (k, v) in fields {
                        m.insert(k.to_string(), v);
                    }
                    Value::Object(m)
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]
            #[test]
            fn converters_do_not_panic(recs in prop::collection::vec(record(), 1..6)) {
                let mut idx = Index::default();
                for r in &recs {
                    idx.add(r);
                }
                let p = Producer::this();
                for r in &recs {
                    if let Some(e) = ocsf::event(r, &idx, &p) {
                        let class = e["class_uid"].as_u64().unwrap();
                        let activity = e["activity_id"].as_u64().unwrap();
                        prop_assert_eq!(e["type_uid"].as_u64(), Some(class * 100 + activity));
                        prop_assert!(e["time"].is_i64());
                        prop_assert!(e["device"]["hostname"].is_string());
                    }
                    if let Some(d) = ecs::document(r, &idx, &p) {
                        prop_assert!(d["@timestamp"].is_string());
                    }
                }
                let inv = &recs[0];
                let _ = intoto::statement(inv, recs.get(1), &recs, &p);
                let sel = Selection { since: Some(jiff::Timestamp::UNIX_EPOCH), invocations: None };
                for r in &recs {
                    let _ = sel.accepts(&idx, r);
                }
            }
        }
    }
}
