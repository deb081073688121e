//! OCSF 1.5.0 events, one per audit record.
//!
//! | record | class | activity |
//! |---|---|---|
//! | `invocation` | Process Activity 1007 | 1 Launch (status Failure when denied) |
//! | `exit` | Process Activity 1007 | 2 Terminate |
//! | `process` | Process Activity 1007 | 1 Launch |
//! | `connection` | Network Activity 4001 | 1 Open, 5 Refuse when denied |
//! | `artifact` | HTTP Activity 4002 | by method (3 Get, …) with the body as `file` |
//! | `script` | Script Activity 1009 | 1 Execute |
//! | `file-written` | File System Activity 1001 | 1 Create, 3 Update |
//! | `package` | File System Activity 1001 | 1 Create, 3 Update, 4 Delete (the package as a file) |
//!
//! Every event declares the `host` profile (`actor` and `device` on every
//! class), carries the invocation id as `metadata.correlation_uid` and the
//! record's fields that have no OCSF attribute under `unmapped`.

use serde_json::{json, Map, Value};

use super::{
    argv_of, base_name, command_line, dir_name, i64_of, package_digests, rest, str_of, u64_of,
    Index, Producer,
};

pub const VERSION: &str = "1.5.0";

const SYSTEM: (u64, &str) = (1, "System Activity");
const NETWORK: (u64, &str) = (4, "Network Activity");

struct Class {
    uid: u64,
    name: &'static str,
    category: (u64, &'static str),
}

const PROCESS_ACTIVITY: Class = Class {
    uid: 1007,
    name: "Process Activity",
    category: SYSTEM,
};
const NETWORK_ACTIVITY: Class = Class {
    uid: 4001,
    name: "Network Activity",
    category: NETWORK,
};
const HTTP_ACTIVITY: Class = Class {
    uid: 4002,
    name: "HTTP Activity",
    category: NETWORK,
};
const SCRIPT_ACTIVITY: Class = Class {
    uid: 1009,
    name: "Script Activity",
    category: SYSTEM,
};
const FILE_ACTIVITY: Class = Class {
    uid: 1001,
    name: "File System Activity",
    category: SYSTEM,
};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Severity {
    Informational = 1,
    Low = 2,
    Medium = 3,
    High = 4,
}

impl Severity {
    fn name(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Success = 1,
    Failure = 2,
}

/// The event for one record, or `None` for a kind OCSF has no class for
/// here (`watch-truncated`, kinds from a newer pkgward).
pub fn event(rec: &Value, idx: &Index, p: &Producer) -> Option<Value> {
    let kind = str_of(rec, "kind")?;
    let mut e = match kind {
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
    common(&mut e, rec, idx, p);
    Some(Value::Object(e.finish()))
}

/// An event under construction.
struct Event {
    class: Class,
    activity: (u64, &'static str),
    severity: Severity,
    status: Option<Status>,
    fields: Map<String, Value>,
    unmapped: Map<String, Value>,
}

impl Event {
    fn new(class: Class, activity: (u64, &'static str)) -> Event {
        Event {
            class,
            activity,
            severity: Severity::Informational,
            status: None,
            fields: Map::new(),
            unmapped: Map::new(),
        }
    }

    fn set(&mut self, key: &str, v: Value) {
        if !v.is_null() {
            self.fields.insert(key.to_string(), v);
        }
    }

    fn finish(self) -> Map<String, Value> {
        let mut m = self.fields;
        let (aid, aname) = self.activity;
        m.insert("class_uid".into(), json!(self.class.uid));
        m.insert("class_name".into(), json!(self.class.name));
        m.insert("category_uid".into(), json!(self.class.category.0));
        m.insert("category_name".into(), json!(self.class.category.1));
        m.insert("activity_id".into(), json!(aid));
        m.insert("activity_name".into(), json!(aname));
        m.insert("type_uid".into(), json!(self.class.uid * 100 + aid));
        m.insert(
            "type_name".into(),
            json!(format!("{}: {aname}", self.class.name)),
        );
        m.insert("severity_id".into(), json!(self.severity as u64));
        m.insert("severity".into(), json!(self.severity.name()));
        if let Some(s) = self.status {
            m.insert("status_id".into(), json!(s as u64));
            m.insert(
                "status".into(),
                json!(match s {
                    Status::Success => "Success",
                    Status::Failure => "Failure",
                }),
            );
        }
        if !self.unmapped.is_empty() {
            m.insert("unmapped".into(), Value::Object(self.unmapped));
        }
        m
    }
}

/// `time`, `metadata`, `actor`, `device`: from the record and its invocation.
fn common(e: &mut Event, rec: &Value, idx: &Index, p: &Producer) {
    let inv = idx.invocation_of(rec).unwrap_or(&Value::Null);
    let time = idx.time_of(rec);
    e.set("time", json!(time.map(|t| t.as_millisecond()).unwrap_or(0)));
    let mut metadata = json!({
        "product": {"name": p.name, "vendor_name": p.name, "version": p.version},
        "version": VERSION,
        "profiles": ["host"],
        "log_name": "audit",
        "event_code": str_of(rec, "kind").unwrap_or(""),
        "uid": super::record_uid(rec),
    });
    if let Some(id) = str_of(rec, "invocation_id") {
        metadata["correlation_uid"] = json!(id);
    }
    if let Some(t) = str_of(rec, "time") {
        metadata["original_time"] = json!(t);
    }
    e.set("metadata", metadata);
    // Who: the invocation's user; for processes and traced connections the
    // parent (or the connecting) process as well.
    let mut actor = Map::new();
    if let Some(u) = user(inv) {
        actor.insert("user".into(), u);
    }
    if !e.fields.contains_key("actor") {
        if actor.is_empty() {
            // OCSF wants one of user/process/…: the app then.
            actor.insert("app_name".into(), json!(p.name));
        }
        e.set("actor", Value::Object(actor));
    } else if let Some(Value::Object(a)) = e.fields.get_mut("actor") {
        for (k, v) in actor {
            a.entry(k).or_insert(v);
        }
    }
    let host = str_of(inv, "host").filter(|h| !h.is_empty());
    e.set(
        "device",
        json!({
            "type_id": 0,
            "type": "Unknown",
            "hostname": host.unwrap_or("unknown"),
        }),
    );
}

fn user(inv: &Value) -> Option<Value> {
    let name = str_of(inv, "user").filter(|s| !s.is_empty());
    let uid = u64_of(inv, "uid");
    if name.is_none() && uid.is_none() {
        return None;
    }
    let mut u = Map::new();
    if let Some(n) = name {
        u.insert("name".into(), json!(n));
    }
    if let Some(uid) = uid {
        u.insert("uid".into(), json!(uid.to_string()));
    }
    Some(Value::Object(u))
}

fn sha256_file(path: &str, sha256: Option<&str>, size: Option<u64>) -> Value {
    let mut f = json!({
        "name": base_name(path),
        "path": path,
        "type_id": 1,
        "type": "Regular File",
    });
    let parent = dir_name(path);
    if !parent.is_empty() {
        f["parent_folder"] = json!(parent);
    }
    if let Some(s) = size {
        f["size"] = json!(s);
    }
    if let Some(h) = sha256.and_then(sha256_hex) {
        f["hashes"] = json!([fingerprint("sha256", &h)]);
    }
    f
}

/// A recorded sha256 as OCSF wants a fingerprint: hex (anything else is
/// left out rather than passed on as a hash).
fn sha256_hex(h: &str) -> Option<String> {
    super::hex_digest("sha256", h).map(|(_, hex)| hex)
}

fn fingerprint(alg: &str, hex: &str) -> Value {
    let (id, name) = match alg {
        "md5" => (1, "MD5"),
        "sha1" => (2, "SHA-1"),
        "sha256" => (3, "SHA-256"),
        "sha512" => (4, "SHA-512"),
        _ => (99, "Other"),
    };
    let mut f = json!({"algorithm_id": id, "algorithm": name, "value": hex});
    if id == 99 {
        f["algorithm"] = json!(alg.to_uppercase());
    }
    f
}

fn invocation(rec: &Value) -> Event {
    let mut e = Event::new(PROCESS_ACTIVITY, (1, "Launch"));
    let argv = argv_of(rec, "argv");
    let tool = str_of(rec, "tool").unwrap_or("");
    let mut process = json!({
        "uid": str_of(rec, "invocation_id").unwrap_or(""),
        "name": tool,
        "cmd_line": command_line(&argv),
    });
    if let Some(pid) = u64_of(rec, "pid") {
        process["pid"] = json!(pid);
    }
    if let Some(cwd) = str_of(rec, "cwd") {
        process["working_directory"] = json!(cwd);
    }
    if let Some(t) = str_of(rec, "time").and_then(super::parse_time) {
        process["created_time"] = json!(t.as_millisecond());
    }
    if let Some(u) = user(rec) {
        process["user"] = u;
    }
    if let Some(parent) = str_of(rec, "parent_id") {
        process["parent_process"] = json!({"uid": parent});
    }
    if let Some(real) = rec.get("real_tool") {
        if let Some(path) = str_of(real, "path") {
            process["file"] = sha256_file(path, str_of(real, "sha256"), None);
        }
    }
    e.set("process", process);
    let action = rec
        .pointer("/decision/action")
        .and_then(Value::as_str)
        .unwrap_or("");
    let reasons = reasons(rec.pointer("/decision/reasons"));
    let (status, severity) = match action {
        "deny" => (Status::Failure, Severity::High),
        "would-deny" => (Status::Success, Severity::Medium),
        _ => (Status::Success, Severity::Informational),
    };
    e.status = Some(status);
    e.severity = severity;
    e.set("status_code", json!(action));
    if !reasons.is_empty() {
        e.set("status_detail", json!(reasons.join("; ")));
    }
    e.set(
        "message",
        json!(format!("{}: {action}", command_line(&argv))),
    );
    e.unmapped = rest(rec, super::INVOCATION_MAPPED);
    e
}

fn reasons(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| {
                    let msg = str_of(r, "message")?;
                    Some(match str_of(r, "code") {
                        Some(c) => format!("{c}: {msg}"),
                        None => msg.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn exit(rec: &Value, idx: &Index) -> Event {
    let mut e = Event::new(PROCESS_ACTIVITY, (2, "Terminate"));
    let inv = idx.invocation_of(rec).unwrap_or(&Value::Null);
    let argv = argv_of(inv, "argv");
    let mut process = json!({
        "uid": str_of(rec, "invocation_id").unwrap_or(""),
    });
    if let Some(tool) = str_of(inv, "tool") {
        process["name"] = json!(tool);
    }
    if !argv.is_empty() {
        process["cmd_line"] = json!(command_line(&argv));
    }
    // The tool's process when it ran, else the shim's.
    if let Some(pid) = u64_of(rec, "child_pid").or_else(|| u64_of(inv, "pid")) {
        process["pid"] = json!(pid);
    }
    if let Some(t) = str_of(rec, "time").and_then(super::parse_time) {
        process["terminated_time"] = json!(t.as_millisecond());
    }
    e.set("process", process);
    let code = i64_of(rec, "exit_code");
    if let Some(c) = code {
        e.set("exit_code", json!(c));
    }
    if let Some(d) = rec.get("duration_ms").and_then(Value::as_f64) {
        e.set("duration", json!(d.max(0.0).round() as u64));
    }
    let ran = rec.get("ran").and_then(Value::as_bool).unwrap_or(true);
    let findings = reasons(rec.get("findings"));
    e.status = Some(if ran && code == Some(0) && findings.is_empty() {
        Status::Success
    } else {
        Status::Failure
    });
    if !findings.is_empty() {
        e.severity = Severity::High;
        e.set("status_detail", json!(findings.join("; ")));
    } else if let Some(err) = str_of(rec, "error") {
        e.set("status_detail", json!(err));
    }
    e.unmapped = rest(
        rec,
        &["kind", "time", "exit_code", "duration_ms", "child_pid"],
    );
    e
}

/// How a process of the tree ended (Windows `process-exit`).
fn process_exit(rec: &Value) -> Event {
    let mut e = Event::new(PROCESS_ACTIVITY, (2, "Terminate"));
    let mut process = Map::new();
    match u64_of(rec, "pid") {
        Some(pid) => process.insert("pid".into(), json!(pid)),
        None => process.insert(
            "uid".into(),
            json!(str_of(rec, "invocation_id").unwrap_or("")),
        ),
    };
    e.set("process", Value::Object(process));
    if let Some(c) = i64_of(rec, "exit_code") {
        e.set("exit_code", json!(c));
    }
    if let Some(n) = str_of(rec, "note") {
        e.set("message", json!(n));
    }
    e.unmapped = rest(rec, &["kind", "time", "pid", "exit_code", "note"]);
    e
}

fn process(rec: &Value) -> Event {
    let mut e = Event::new(PROCESS_ACTIVITY, (1, "Launch"));
    // Linux tracer: exe, argv, ppid, cwd. Windows: image, command_line,
    // parent_pid, exit_code, flagged.
    let exe = str_of(rec, "exe").or_else(|| str_of(rec, "image"));
    let argv = argv_of(rec, "argv");
    let cmd = str_of(rec, "command_line")
        .map(str::to_string)
        .or_else(|| (!argv.is_empty()).then(|| command_line(&argv)));
    let mut process = Map::new();
    if let Some(pid) = u64_of(rec, "pid") {
        process.insert("pid".into(), json!(pid));
    }
    if let Some(exe) = exe {
        process.insert("name".into(), json!(base_name(exe)));
        process.insert("path".into(), json!(exe));
    }
    if let Some(cmd) = cmd {
        process.insert("cmd_line".into(), json!(cmd));
    }
    if let Some(cwd) = str_of(rec, "cwd") {
        process.insert("working_directory".into(), json!(cwd));
    }
    let ppid = u64_of(rec, "ppid").or_else(|| u64_of(rec, "parent_pid"));
    if let Some(pp) = ppid {
        process.insert("parent_process".into(), json!({"pid": pp}));
        e.set("actor", json!({"process": {"pid": pp}}));
    }
    if process.is_empty() || !process.contains_key("pid") {
        // OCSF needs one of pid/uid: the record's own id then.
        process.insert(
            "uid".into(),
            json!(format!(
                "{}:{}",
                str_of(rec, "invocation_id").unwrap_or(""),
                exe.unwrap_or("")
            )),
        );
    }
    e.set("process", Value::Object(process));
    if let Some(c) = i64_of(rec, "exit_code") {
        e.set("exit_code", json!(c));
    }
    if let Some(f) = str_of(rec, "flagged") {
        e.severity = Severity::Medium;
        e.set("message", json!(format!("flagged: {f}")));
    }
    e.unmapped = rest(rec, super::PROCESS_MAPPED);
    e
}

fn endpoint(host: Option<&str>, port: Option<u64>) -> Option<Value> {
    let host = host.filter(|h| !h.is_empty())?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let mut ep = if bare.parse::<std::net::IpAddr>().is_ok() {
        json!({"ip": bare})
    } else {
        json!({"hostname": host})
    };
    if let Some(p) = port.filter(|p| *p <= 65535) {
        ep["port"] = json!(p);
    }
    Some(ep)
}

fn connection(rec: &Value) -> Event {
    let action = str_of(rec, "action").unwrap_or("");
    let refused = action == "deny";
    let mut e = Event::new(
        NETWORK_ACTIVITY,
        if refused { (5, "Refuse") } else { (1, "Open") },
    );
    let host = str_of(rec, "host");
    let port = u64_of(rec, "port");
    match endpoint(host, port) {
        Some(ep) => e.set("dst_endpoint", ep),
        // No destination could be read: the source is this device.
        None => e.set("src_endpoint", json!({"name": "localhost"})),
    }
    if let Some(url) = str_of(rec, "url") {
        e.set("url", json!({"url_string": url}));
    }
    e.set(
        "connection_info",
        json!({"direction_id": 2, "direction": "Outbound", "protocol_name": "tcp"}),
    );
    let up = u64_of(rec, "bytes_up");
    let down = u64_of(rec, "bytes_down");
    if up.is_some() || down.is_some() {
        let (u, d) = (up.unwrap_or(0), down.unwrap_or(0));
        e.set(
            "traffic",
            json!({"bytes_out": u, "bytes_in": d, "bytes": u.saturating_add(d)}),
        );
    }
    if let Some(d) = rec.get("duration_ms").and_then(Value::as_f64) {
        e.set("duration", json!(d.max(0.0).round() as u64));
    }
    if let Some(pid) = u64_of(rec, "pid") {
        e.set("actor", json!({"process": {"pid": pid}}));
    }
    let status = u64_of(rec, "status");
    if let Some(s) = status {
        e.set("status_code", json!(s.to_string()));
    }
    if let Some(r) = str_of(rec, "reason") {
        e.set("status_detail", json!(r));
    }
    let failed = refused || status.is_some_and(|s| s >= 400);
    e.status = Some(if failed {
        Status::Failure
    } else {
        Status::Success
    });
    e.severity = match action {
        "deny" => Severity::High,
        "would-deny" => Severity::Medium,
        _ => Severity::Informational,
    };
    let dest = match (host, port) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => "(unknown)".into(),
    };
    let how = str_of(rec, "method")
        .or_else(|| str_of(rec, "call"))
        .unwrap_or("connect");
    e.set("message", json!(format!("{how} {dest}: {action}")));
    e.unmapped = rest(
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
            "status",
            "reason",
        ],
    );
    e
}

fn artifact(rec: &Value) -> Event {
    let method = str_of(rec, "method").unwrap_or("").to_ascii_uppercase();
    let activity = match method.as_str() {
        "CONNECT" => (1, "Connect"),
        "DELETE" => (2, "Delete"),
        "GET" => (3, "Get"),
        "HEAD" => (4, "Head"),
        "OPTIONS" => (5, "Options"),
        "POST" => (6, "Post"),
        "PUT" => (7, "Put"),
        "TRACE" => (8, "Trace"),
        _ => (99, "Other"),
    };
    let mut e = Event::new(HTTP_ACTIVITY, activity);
    let url = str_of(rec, "url").unwrap_or("");
    let mut request = json!({"url": {"url_string": url}});
    // OCSF enumerates the methods; another one stays in `unmapped`.
    let known = activity.0 != 99;
    if known {
        request["http_method"] = json!(method);
    }
    e.set("http_request", request);
    let status = u64_of(rec, "status");
    let mut response = json!({"code": status.unwrap_or(0)});
    if let Some(ct) = str_of(rec, "content_type") {
        response["content_type"] = json!(ct);
    }
    if let Some(size) = u64_of(rec, "size") {
        response["body_length"] = json!(size);
    }
    e.set("http_response", response);
    if let Some(ep) = endpoint(str_of(rec, "host"), u64_of(rec, "port")) {
        e.set("dst_endpoint", ep);
    }
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = base_name(path.split_once("://").map(|(_, r)| r).unwrap_or(path));
    let mut file = json!({"name": name, "type_id": 1, "type": "Regular File", "uri": url});
    if let Some(size) = u64_of(rec, "size") {
        file["size"] = json!(size);
    }
    if let Some(h) = str_of(rec, "sha256").and_then(sha256_hex) {
        file["hashes"] = json!([fingerprint("sha256", &h)]);
    }
    e.set("file", file);
    if let Some(s) = status {
        e.set("status_code", json!(s.to_string()));
    }
    e.status = Some(
        if status.is_some_and(|s| (200..400).contains(&s))
            && rec.get("sha256").is_some_and(|v| !v.is_null())
        {
            Status::Success
        } else {
            Status::Failure
        },
    );
    e.set("message", json!(format!("{method} {url}")));
    e.unmapped = rest(
        rec,
        &[
            "kind",
            "time",
            "url",
            "host",
            "port",
            if known { "method" } else { "" },
            "status",
            "content_type",
            "size",
            "sha256",
        ],
    );
    e
}

fn script(rec: &Value) -> Event {
    let mut e = Event::new(SCRIPT_ACTIVITY, (1, "Execute"));
    let package = str_of(rec, "package").unwrap_or("");
    let version = str_of(rec, "version").unwrap_or("");
    let which = str_of(rec, "script").unwrap_or("");
    let command = str_of(rec, "command").unwrap_or("");
    e.set(
        "script",
        json!({
            "name": format!("{package}@{version} {which}"),
            "script_content": {"value": command},
            "type_id": 99,
            "type": format!("{} {which}", str_of(rec, "ecosystem").unwrap_or("package")),
        }),
    );
    let decision = str_of(rec, "decision").unwrap_or("");
    let ran = rec.get("ran").and_then(Value::as_bool).unwrap_or(false);
    let code = i64_of(rec, "exit_code");
    e.status = Some(if ran && code == Some(0) {
        Status::Success
    } else {
        Status::Failure
    });
    e.severity = match decision {
        "deny" => Severity::High,
        "would-deny" => Severity::Medium,
        "sandbox" => Severity::Low,
        _ => Severity::Informational,
    };
    e.set("status_code", json!(decision));
    if let Some(err) = str_of(rec, "error") {
        e.set("status_detail", json!(err));
    }
    if let Some(d) = rec.get("duration_ms").and_then(Value::as_f64) {
        e.set("duration", json!(d.max(0.0).round() as u64));
    }
    e.set(
        "message",
        json!(format!(
            "{package}@{version} {which}: {decision}{}",
            if ran { "" } else { " (did not run)" }
        )),
    );
    e.unmapped = rest(rec, &["kind", "time", "command", "error", "duration_ms"]);
    e
}

fn file_written(rec: &Value) -> Event {
    let modified = str_of(rec, "change") == Some("modified");
    let mut e = Event::new(
        FILE_ACTIVITY,
        if modified {
            (3, "Update")
        } else {
            (1, "Create")
        },
    );
    let path = str_of(rec, "path").unwrap_or("");
    e.set(
        "file",
        sha256_file(path, str_of(rec, "sha256"), u64_of(rec, "size")),
    );
    e.status = Some(Status::Success);
    // An executable appearing in PATH or a bin directory is worth a look.
    e.severity = Severity::Low;
    e.set(
        "message",
        json!(format!(
            "{} {path}",
            if modified { "modified" } else { "created" }
        )),
    );
    e.unmapped = rest(rec, &["kind", "time", "path", "size", "sha256"]);
    e
}

fn package(rec: &Value) -> Event {
    let change = str_of(rec, "change").unwrap_or("");
    let activity = match change {
        "added" => (1, "Create"),
        "changed" => (3, "Update"),
        "removed" => (4, "Delete"),
        _ => (99, "Other"),
    };
    let mut e = Event::new(FILE_ACTIVITY, activity);
    let name = str_of(rec, "name").unwrap_or("");
    let version = str_of(rec, "version").unwrap_or("");
    let resolved = str_of(rec, "resolved");
    let file_name = resolved
        .map(|r| base_name(r.split(['?', '#']).next().unwrap_or(r)))
        .filter(|n| !n.is_empty() && !n.contains(':'))
        .map(str::to_string)
        .unwrap_or_else(|| format!("{name}-{version}"));
    let mut file = json!({
        "name": file_name,
        "type_id": 1,
        "type": "Regular File",
        "version": version,
        "product": {"name": name, "version": version},
    });
    if let Some(r) = resolved {
        file["uri"] = json!(r);
    }
    let hashes: Vec<Value> = package_digests(rec)
        .iter()
        .map(|(a, h)| fingerprint(a, h))
        .collect();
    if !hashes.is_empty() {
        file["hashes"] = json!(hashes);
    }
    e.set("file", file);
    e.status = Some(Status::Success);
    e.set(
        "message",
        json!(format!("{change} {}", str_of(rec, "purl").unwrap_or(name))),
    );
    e.unmapped = rest(rec, &["kind", "time", "resolved"]);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_uid_is_class_times_100_plus_activity() {
        let idx = Index::default();
        let p = Producer::this();
        for (rec, class, activity) in [
            (
                json!({"kind": "connection", "action": "deny", "host": "evil.test", "port": 443}),
                4001,
                5,
            ),
            (
                json!({"kind": "connection", "action": "allow", "host": "127.0.0.1", "port": 80}),
                4001,
                1,
            ),
            (json!({"kind": "exit", "exit_code": 0}), 1007, 2),
            (
                json!({"kind": "process-exit", "pid": 7, "exit_code": 3}),
                1007,
                2,
            ),
            (
                json!({"kind": "package", "change": "removed", "name": "x", "version": "1"}),
                1001,
                4,
            ),
            (
                json!({"kind": "artifact", "method": "GET", "url": "http://127.0.0.1/x.tgz", "status": 200}),
                4002,
                3,
            ),
        ] {
            let e = event(&rec, &idx, &p).unwrap();
            assert_eq!(e["class_uid"], class);
            assert_eq!(e["activity_id"], activity);
            assert_eq!(e["type_uid"], class * 100 + activity);
        }
        assert!(event(&json!({"kind": "watch-truncated"}), &idx, &p).is_none());
        assert!(event(&json!({"kind": "from-the-future"}), &idx, &p).is_none());
        assert!(event(&json!({"no": "kind"}), &idx, &p).is_none());
    }

    #[test]
    fn connection_endpoint_is_ip_or_hostname() {
        let idx = Index::default();
        let p = Producer::this();
        let e = event(
            &json!({"kind": "connection", "action": "allow", "host": "::1", "port": 8080}),
            &idx,
            &p,
        )
        .unwrap();
        assert_eq!(e["dst_endpoint"], json!({"ip": "::1", "port": 8080}));
        let e = event(
            &json!({"kind": "connection", "action": "deny", "host": null, "port": null}),
            &idx,
            &p,
        )
        .unwrap();
        assert!(e.get("dst_endpoint").is_none());
        assert!(e.get("src_endpoint").is_some());
    }
}
