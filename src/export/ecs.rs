//! Elastic Common Schema documents, one per audit record.
//!
//! Every document has `@timestamp`, `ecs.version`, `event.{kind, category,
//! type, outcome, action, module, dataset}`, `host.*`, `user.*` and
//! `observer.*` (pkgward itself), the record-specific ECS fields
//! (`process.*`, `destination.*`, `url.*`, `package.*`, `file.*`, …) and,
//! under `pkgward.*` (ECS leaves custom fields to their own namespace), the
//! record's fields that ECS has no place for.

use serde_json::{json, Map, Value};

use super::{
    argv_of, base_name, command_line, dir_name, i64_of, package_digests, rest, rfc3339, str_of,
    u64_of, Index, Producer,
};

/// The ECS version the documents follow (every field used exists, with the
/// same type, throughout 9.x; the tests check them against 9.4's
/// definitions).
pub const VERSION: &str = "9.0.0";

/// The document for one record, or `None` for a kind with no mapping here.
pub fn document(rec: &Value, idx: &Index, p: &Producer) -> Option<Value> {
    let kind = str_of(rec, "kind")?;
    let mut d = match kind {
        "invocation" => invocation(rec),
        "exit" => exit(rec, idx),
        "process" => process(rec),
        "process-exit" => process_exit(rec),
        "connection" => connection(rec),
        "artifact" => artifact(rec),
        "script" => script(rec),
        "file-written" => file_written(rec),
        "package" => package(rec),
        _ => return None,
    };
    common(&mut d, kind, rec, idx, p);
    Some(Value::Object(d.0))
}

/// A document under construction; `set("a.b", v)` writes nested objects.
struct Doc(Map<String, Value>);

impl Doc {
    fn new() -> Doc {
        Doc(Map::new())
    }

    fn set(&mut self, path: &str, v: Value) {
        if v.is_null() {
            return;
        }
        let mut parts = path.split('.').peekable();
        let mut m = &mut self.0;
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                m.insert(part.to_string(), v);
                return;
            }
            let next = m
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !next.is_object() {
                *next = Value::Object(Map::new());
            }
            m = next.as_object_mut().expect("just made an object");
        }
    }

    fn set_opt<T: Into<Value>>(&mut self, path: &str, v: Option<T>) {
        if let Some(v) = v {
            self.set(path, v.into());
        }
    }

    fn event(&mut self, category: &[&str], types: &[&str], outcome: &str) {
        self.set("event.category", json!(category));
        self.set("event.type", json!(types));
        self.set("event.outcome", json!(outcome));
    }

    fn related(&mut self, key: &str, v: &str) {
        let e = self
            .0
            .entry("related")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(m) = e.as_object_mut() {
            let list = m.entry(key).or_insert_with(|| json!([]));
            if let Some(a) = list.as_array_mut() {
                if !a.iter().any(|x| x == v) {
                    a.push(json!(v));
                }
            }
        }
    }
}

fn common(d: &mut Doc, kind: &str, rec: &Value, idx: &Index, p: &Producer) {
    let inv = idx.invocation_of(rec).unwrap_or(&Value::Null);
    let time = idx
        .time_of(rec)
        .map(rfc3339)
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into());
    d.set("@timestamp", json!(time));
    d.set("ecs.version", json!(VERSION));
    d.set("event.kind", json!("event"));
    d.set("event.action", json!(kind));
    d.set("event.id", json!(super::record_uid(rec)));
    d.set("event.module", json!("pkgward"));
    d.set("event.dataset", json!("pkgward.audit"));
    d.set("event.provider", json!("pkgward"));
    d.set("observer.product", json!(p.name));
    d.set("observer.vendor", json!(p.name));
    d.set("observer.version", json!(p.version));
    if let Some(h) = str_of(inv, "host").filter(|h| !h.is_empty()) {
        d.set("host.name", json!(h));
        d.set("host.hostname", json!(h));
        d.related("hosts", h);
    }
    if let Some(u) = str_of(inv, "user").filter(|u| !u.is_empty()) {
        d.set("user.name", json!(u));
        d.related("user", u);
    }
    if let Some(uid) = u64_of(inv, "uid") {
        d.set("user.id", json!(uid.to_string()));
    }
    if let Some(id) = str_of(rec, "invocation_id") {
        d.set("pkgward.invocation_id", json!(id));
    }
    if let Some(tool) = str_of(inv, "tool") {
        d.set("pkgward.tool", json!(tool));
    }
}

/// A record's `time` as an ECS date, when it is one.
fn time_of(v: &Value) -> Option<String> {
    str_of(v, "time").and_then(super::parse_time).map(rfc3339)
}

fn outcome(ok: bool) -> &'static str {
    if ok {
        "success"
    } else {
        "failure"
    }
}

fn reasons(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| str_of(r, "message").map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn unmapped(d: &mut Doc, rec: &Value, mapped: &[&str]) {
    let mut r = rest(rec, mapped);
    r.remove("invocation_id");
    if !r.is_empty() {
        d.set("pkgward.record", Value::Object(r));
    }
}

fn invocation(rec: &Value) -> Doc {
    let mut d = Doc::new();
    let action = rec
        .pointer("/decision/action")
        .and_then(Value::as_str)
        .unwrap_or("");
    match action {
        "deny" => d.event(
            &["process", "intrusion_detection"],
            &["start", "denied"],
            "failure",
        ),
        "would-deny" => d.event(
            &["process", "intrusion_detection"],
            &["start", "allowed"],
            "success",
        ),
        _ => d.event(&["process"], &["start"], "success"),
    }
    let argv = argv_of(rec, "argv");
    d.set_opt("process.pid", u64_of(rec, "pid"));
    d.set_opt("process.name", str_of(rec, "tool"));
    d.set_opt("process.entity_id", str_of(rec, "invocation_id"));
    d.set_opt("process.parent.entity_id", str_of(rec, "parent_id"));
    if !argv.is_empty() {
        d.set("process.args", json!(argv));
        d.set("process.args_count", json!(argv.len()));
        d.set("process.command_line", json!(command_line(&argv)));
    }
    d.set_opt("process.working_directory", str_of(rec, "cwd"));
    d.set_opt("process.start", time_of(rec));
    if let Some(real) = rec.get("real_tool") {
        d.set_opt("process.executable", str_of(real, "path"));
        if let Some(h) = str_of(real, "sha256") {
            d.set("process.hash.sha256", json!(h));
            d.related("hash", h);
        }
    }
    let r = reasons(rec.pointer("/decision/reasons"));
    if !r.is_empty() {
        d.set("event.reason", json!(r.join("; ")));
    }
    d.set_opt("pkgward.ecosystem", str_of(rec, "ecosystem"));
    d.set("pkgward.decision", json!(action));
    unmapped(
        &mut d,
        rec,
        &[super::INVOCATION_MAPPED, &["parent_id", "ecosystem"]].concat(),
    );
    d
}

fn exit(rec: &Value, idx: &Index) -> Doc {
    let mut d = Doc::new();
    let inv = idx.invocation_of(rec).unwrap_or(&Value::Null);
    let ran = rec.get("ran").and_then(Value::as_bool).unwrap_or(true);
    let code = i64_of(rec, "exit_code");
    let findings = reasons(rec.get("findings"));
    d.event(
        &["process"],
        &["end"],
        outcome(ran && code == Some(0) && findings.is_empty()),
    );
    d.set_opt(
        "process.pid",
        u64_of(rec, "child_pid").or_else(|| u64_of(inv, "pid")),
    );
    d.set_opt("process.name", str_of(inv, "tool"));
    d.set_opt("process.entity_id", str_of(rec, "invocation_id"));
    d.set_opt("process.exit_code", code);
    d.set_opt("process.start", time_of(inv));
    d.set_opt("process.end", time_of(rec));
    if let Some(ms) = rec.get("duration_ms").and_then(Value::as_f64) {
        d.set("event.duration", json!((ms.max(0.0) * 1e6).round() as u64));
    }
    if !findings.is_empty() {
        d.set("event.reason", json!(findings.join("; ")));
    } else {
        d.set_opt("error.message", str_of(rec, "error"));
    }
    unmapped(
        &mut d,
        rec,
        &[
            "kind",
            "time",
            "exit_code",
            "duration_ms",
            "child_pid",
            "error",
        ],
    );
    d
}

/// How a process of the tree ended (Windows `process-exit`).
fn process_exit(rec: &Value) -> Doc {
    let mut d = Doc::new();
    d.event(&["process"], &["end"], "success");
    d.set_opt("process.pid", u64_of(rec, "pid"));
    d.set_opt("process.exit_code", i64_of(rec, "exit_code"));
    d.set_opt("message", str_of(rec, "note"));
    unmapped(&mut d, rec, &["kind", "time", "pid", "exit_code", "note"]);
    d
}

fn process(rec: &Value) -> Doc {
    let mut d = Doc::new();
    d.event(&["process"], &["start"], "success");
    let exe = str_of(rec, "exe").or_else(|| str_of(rec, "image"));
    let argv = argv_of(rec, "argv");
    d.set_opt("process.pid", u64_of(rec, "pid"));
    d.set_opt(
        "process.parent.pid",
        u64_of(rec, "ppid").or_else(|| u64_of(rec, "parent_pid")),
    );
    if let Some(exe) = exe {
        d.set("process.executable", json!(exe));
        d.set("process.name", json!(base_name(exe)));
    }
    if !argv.is_empty() {
        d.set("process.args", json!(argv));
        d.set("process.args_count", json!(argv.len()));
        d.set("process.command_line", json!(command_line(&argv)));
    }
    d.set_opt("process.command_line", str_of(rec, "command_line"));
    d.set_opt("process.working_directory", str_of(rec, "cwd"));
    d.set_opt("process.exit_code", i64_of(rec, "exit_code"));
    d.set_opt("event.reason", str_of(rec, "flagged"));
    unmapped(&mut d, rec, &[super::PROCESS_MAPPED, &["flagged"]].concat());
    d
}

fn destination(d: &mut Doc, host: Option<&str>, port: Option<u64>) {
    if let Some(h) = host.filter(|h| !h.is_empty()) {
        let bare = h.trim_start_matches('[').trim_end_matches(']');
        d.set("destination.address", json!(bare));
        if bare.parse::<std::net::IpAddr>().is_ok() {
            d.set("destination.ip", json!(bare));
            d.related("ip", bare);
        } else {
            d.set("destination.domain", json!(bare));
            d.related("hosts", bare);
        }
    }
    d.set_opt("destination.port", port.filter(|p| *p <= 65535));
}

fn url_fields(d: &mut Doc, url: &str) {
    d.set("url.full", json!(url));
    d.set("url.original", json!(url));
    if let Ok(u) = url::Url::parse(url) {
        d.set("url.scheme", json!(u.scheme()));
        d.set_opt("url.domain", u.host_str());
        d.set_opt("url.port", u.port().map(u64::from));
        d.set("url.path", json!(u.path()));
    }
}

fn connection(rec: &Value) -> Doc {
    let mut d = Doc::new();
    let action = str_of(rec, "action").unwrap_or("");
    let status = u64_of(rec, "status");
    let ok = action != "deny" && status.is_none_or(|s| s < 400);
    let verdict = if action == "deny" {
        "denied"
    } else {
        "allowed"
    };
    d.event(&["network"], &["connection", verdict], outcome(ok));
    destination(&mut d, str_of(rec, "host"), u64_of(rec, "port"));
    if let Some(url) = str_of(rec, "url") {
        url_fields(&mut d, url);
    }
    d.set("network.direction", json!("egress"));
    d.set("network.transport", json!("tcp"));
    let up = u64_of(rec, "bytes_up");
    let down = u64_of(rec, "bytes_down");
    d.set_opt("source.bytes", up);
    d.set_opt("destination.bytes", down);
    if up.is_some() || down.is_some() {
        d.set(
            "network.bytes",
            json!(up.unwrap_or(0).saturating_add(down.unwrap_or(0))),
        );
    }
    if let Some(m) = str_of(rec, "method") {
        if m != "CONNECT" {
            d.set("network.protocol", json!("http"));
        }
        d.set("http.request.method", json!(m));
        d.set_opt("http.response.status_code", status.filter(|s| *s > 0));
    }
    if let Some(ms) = rec.get("duration_ms").and_then(Value::as_f64) {
        d.set("event.duration", json!((ms.max(0.0) * 1e6).round() as u64));
    }
    d.set_opt("process.pid", u64_of(rec, "pid"));
    d.set_opt("rule.name", str_of(rec, "rule"));
    d.set_opt("event.reason", str_of(rec, "reason"));
    d.set("pkgward.decision", json!(action));
    unmapped(
        &mut d,
        rec,
        &[
            "kind",
            "time",
            "host",
            "port",
            "url",
            "bytes_up",
            "bytes_down",
            "duration_ms",
            "pid",
            "rule",
            "reason",
            "method",
            "status",
            "action",
        ],
    );
    d
}

fn artifact(rec: &Value) -> Doc {
    let mut d = Doc::new();
    let status = u64_of(rec, "status");
    let complete = rec.get("sha256").is_some_and(|v| !v.is_null());
    d.event(
        &["network", "file"],
        &["access"],
        outcome(complete && status.is_some_and(|s| (200..400).contains(&s))),
    );
    destination(&mut d, str_of(rec, "host"), u64_of(rec, "port"));
    let url = str_of(rec, "url").unwrap_or("");
    if !url.is_empty() {
        url_fields(&mut d, url);
    }
    d.set_opt("http.request.method", str_of(rec, "method"));
    d.set_opt("http.response.status_code", status);
    d.set_opt("http.response.mime_type", str_of(rec, "content_type"));
    d.set_opt("http.response.body.bytes", u64_of(rec, "size"));
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = base_name(path.split_once("://").map(|(_, r)| r).unwrap_or(path));
    if !name.is_empty() {
        d.set("file.name", json!(name));
    }
    d.set_opt("file.size", u64_of(rec, "size"));
    d.set_opt("file.mime_type", str_of(rec, "content_type"));
    if let Some(h) = str_of(rec, "sha256") {
        d.set("file.hash.sha256", json!(h));
        d.related("hash", h);
    }
    unmapped(
        &mut d,
        rec,
        &[
            "kind",
            "time",
            "url",
            "host",
            "port",
            "method",
            "status",
            "content_type",
            "size",
            "sha256",
        ],
    );
    d
}

fn script(rec: &Value) -> Doc {
    let mut d = Doc::new();
    let decision = str_of(rec, "decision").unwrap_or("");
    let ran = rec.get("ran").and_then(Value::as_bool).unwrap_or(false);
    let code = i64_of(rec, "exit_code");
    if ran {
        d.event(
            &["process", "package"],
            &["start"],
            outcome(code == Some(0)),
        );
    } else {
        d.event(
            &["process", "intrusion_detection"],
            &["start", "denied"],
            "failure",
        );
    }
    d.set_opt("package.name", str_of(rec, "package"));
    d.set_opt("package.version", str_of(rec, "version"));
    d.set_opt("package.type", str_of(rec, "ecosystem"));
    d.set_opt("process.command_line", str_of(rec, "command"));
    if let Some(r) = rec.get("runner").and_then(Value::as_array) {
        let argv: Vec<&str> = r.iter().filter_map(Value::as_str).collect();
        if let Some(first) = argv.first() {
            d.set("process.name", json!(base_name(first)));
        }
        d.set("process.args", json!(argv));
        d.set("process.args_count", json!(argv.len()));
    }
    d.set_opt("process.exit_code", code);
    if let Some(ms) = rec.get("duration_ms").and_then(Value::as_f64) {
        d.set("event.duration", json!((ms.max(0.0) * 1e6).round() as u64));
    }
    d.set_opt("error.message", str_of(rec, "error"));
    d.set("pkgward.decision", json!(decision));
    unmapped(
        &mut d,
        rec,
        &[
            "kind",
            "time",
            "package",
            "version",
            "ecosystem",
            "command",
            "runner",
            "exit_code",
            "duration_ms",
            "error",
            "decision",
        ],
    );
    d
}

fn file_fields(d: &mut Doc, path: &str) {
    d.set("file.path", json!(path));
    d.set("file.name", json!(base_name(path)));
    let dir = dir_name(path);
    if !dir.is_empty() {
        d.set("file.directory", json!(dir));
    }
    if let Some((_, ext)) = base_name(path).rsplit_once('.') {
        if !ext.is_empty() {
            d.set("file.extension", json!(ext));
        }
    }
    d.set("file.type", json!("file"));
}

fn file_written(rec: &Value) -> Doc {
    let mut d = Doc::new();
    let modified = str_of(rec, "change") == Some("modified");
    d.event(
        &["file"],
        &[if modified { "change" } else { "creation" }],
        "success",
    );
    file_fields(&mut d, str_of(rec, "path").unwrap_or(""));
    d.set_opt("file.size", u64_of(rec, "size"));
    if let Some(h) = str_of(rec, "sha256") {
        d.set("file.hash.sha256", json!(h));
        d.related("hash", h);
    }
    unmapped(&mut d, rec, &["kind", "time", "path", "size", "sha256"]);
    d
}

fn package(rec: &Value) -> Doc {
    let mut d = Doc::new();
    let t = match str_of(rec, "change") {
        Some("added") => "installation",
        Some("removed") => "deletion",
        Some("changed") => "change",
        _ => "info",
    };
    d.event(&["package"], &[t], "success");
    d.set_opt("package.name", str_of(rec, "name"));
    d.set_opt("package.version", str_of(rec, "version"));
    d.set_opt("package.type", str_of(rec, "ecosystem"));
    d.set_opt("package.reference", str_of(rec, "resolved"));
    let digests = package_digests(rec);
    // ECS has one checksum: the strongest stated.
    if let Some((_, h)) = digests
        .iter()
        .find(|(a, _)| *a == "sha512")
        .or_else(|| digests.iter().find(|(a, _)| *a == "sha256"))
        .or(digests.first())
    {
        d.set("package.checksum", json!(h));
    }
    for (a, h) in &digests {
        if matches!(*a, "md5" | "sha1" | "sha256" | "sha384" | "sha512") {
            d.set(&format!("file.hash.{a}"), json!(h));
            d.related("hash", h);
        }
    }
    d.set_opt(
        "pkgward.package.previous_version",
        str_of(rec, "previous_version"),
    );
    d.set_opt("pkgward.package.purl", str_of(rec, "purl"));
    unmapped(
        &mut d,
        rec,
        &[
            "kind",
            "time",
            "name",
            "version",
            "ecosystem",
            "resolved",
            "previous_version",
            "purl",
        ],
    );
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_set_and_related() {
        let mut d = Doc::new();
        d.set("a.b.c", json!(1));
        d.set("a.b.d", json!(2));
        d.set("a.e", Value::Null);
        d.related("hosts", "x");
        d.related("hosts", "x");
        assert_eq!(
            Value::Object(d.0),
            json!({"a": {"b": {"c": 1, "d": 2}}, "related": {"hosts": ["x"]}})
        );
    }

    #[test]
    fn unknown_kinds_are_skipped() {
        let idx = Index::default();
        let p = Producer::this();
        assert!(document(&json!({"kind": "watch-truncated"}), &idx, &p).is_none());
        assert!(document(&json!([1, 2]), &idx, &p).is_none());
        let d = document(&json!({"kind": "package", "change": "added"}), &idx, &p).unwrap();
        assert_eq!(d["event"]["type"], json!(["installation"]));
        assert_eq!(d["@timestamp"], "1970-01-01T00:00:00.000Z");
    }
}
