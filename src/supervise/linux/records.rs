//! The tracer's events as audit records, appended to the invocation's log
//! as they happen (each a complete JSONL line through [`AuditLog`], which
//! tees to the sinks' spools): a shim killed mid-install leaves every record
//! written so far.
//!
//! - `tracer`: which tracer took a launch (`seccomp`, `ptrace`, `outer`,
//!   `proxy-only`, `none`) and why;
//! - `process`: every exec of the tree, and every process first seen some
//!   other way (a fork that connects, the parent of a later exec): `pid`,
//!   `ppid`, `exe`, `path`, `argv` (redacted), `cwd`, `started`, `flagged`;
//! - `process-exit`: `pid`, `exit_code`, `signal` (or a `note` when the
//!   kernel no longer had the status);
//! - `connection` (`via: "trace"`): `pid`, `call`, `transport`, `host` and
//!   `port` (or `path` for `AF_UNIX`), `action`, `reason`;
//! - `dns`: a datagram that is a DNS query: `names`, `host`/`port` of the
//!   server, `action`, `reason`.

use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::trace::{Dest, Event, Net, Tracer, Tracing};
use crate::record::{redact, Action, AuditLog};

#[derive(Serialize)]
struct TracerRecord<'a> {
    kind: &'static str,
    invocation_id: &'a str,
    time: String,
    tracer: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[derive(Serialize)]
struct ProcessRecord<'a> {
    kind: &'static str,
    invocation_id: &'a str,
    time: String,
    pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    tid: Option<u32>,
    ppid: Option<u32>,
    exe: Option<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    path: &'a str,
    argv: Vec<String>,
    cwd: Option<&'a str>,
    started: Option<&'a str>,
    exec: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    flagged: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
}

#[derive(Serialize)]
struct ExitRecord<'a> {
    kind: &'static str,
    invocation_id: &'a str,
    time: String,
    pid: u32,
    exit_code: Option<i32>,
    signal: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[derive(Serialize)]
struct ConnectionRecord<'a> {
    kind: &'static str,
    invocation_id: &'a str,
    time: String,
    via: &'static str,
    pid: u32,
    call: &'static str,
    transport: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    names: Vec<String>,
    action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// The argv of a traced exec, redacted like the invocation's own.
pub fn redact_argv(path: &str, argv: &[String]) -> Vec<String> {
    let tool = std::path::Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut red = argv.first().cloned().into_iter().collect::<Vec<_>>();
    red.extend(redact::redact_args(&tool, argv.get(1..).unwrap_or(&[])));
    red.iter()
        .map(|a| redact::redact_urls(a).into_owned())
        .collect()
}

fn append<T: Serialize>(log: &Mutex<Option<AuditLog>>, rec: &T) {
    if let Ok(mut l) = log.lock() {
        if let Some(l) = l.as_mut() {
            // No one to tell from the tracer thread: the invocation's own
            // records report an unwritable log.
            let _ = l.append(rec);
        }
    }
}

/// Tracing settings whose events become records of invocation
/// `invocation_id` in `log`.
pub fn tracing(
    enforce: bool,
    tracer: Tracer,
    net: Net,
    since: std::time::SystemTime,
    invocation_id: &str,
    log: Arc<Mutex<Option<AuditLog>>>,
) -> Tracing {
    let id = invocation_id.to_string();
    let action = move |allowed: bool| match (allowed, enforce) {
        (true, _) => Action::Allow,
        (false, true) => Action::Deny,
        (false, false) => Action::WouldDeny,
    };
    let now = crate::record::now_rfc3339;
    Tracing {
        enforce,
        tracer,
        net: Arc::new(net),
        since,
        sink: Arc::new(move |e: Event| match e {
            Event::Tracer { tracer, note } => append(
                &log,
                &TracerRecord {
                    kind: "tracer",
                    invocation_id: &id,
                    time: now(),
                    tracer,
                    note,
                },
            ),
            Event::Process(p) => {
                let shown = p.exe.as_deref().unwrap_or(&p.path);
                append(
                    &log,
                    &ProcessRecord {
                        kind: "process",
                        invocation_id: &id,
                        time: now(),
                        pid: p.pid,
                        tid: (p.tid != p.pid).then_some(p.tid),
                        ppid: p.ppid,
                        exe: p.exe.as_deref(),
                        path: &p.path,
                        argv: redact_argv(shown, &p.argv),
                        cwd: p.cwd.as_deref(),
                        started: p.started.as_deref(),
                        exec: p.exec,
                        flagged: p.flagged.as_deref(),
                        note: p.note.as_deref(),
                    },
                )
            }
            Event::Exit {
                pid,
                code,
                signal,
                note,
            } => append(
                &log,
                &ExitRecord {
                    kind: "process-exit",
                    invocation_id: &id,
                    time: now(),
                    pid,
                    exit_code: code,
                    signal,
                    note,
                },
            ),
            Event::Connect {
                pid,
                call,
                transport,
                dest,
                allowed,
                reason,
            } => {
                let (host, port, path) = match dest {
                    Dest::Ip(a) => (Some(a.ip().to_string()), Some(a.port()), None),
                    Dest::Unix(p) => (None, None, Some(p)),
                };
                append(
                    &log,
                    &ConnectionRecord {
                        kind: "connection",
                        invocation_id: &id,
                        time: now(),
                        via: "trace",
                        pid,
                        call,
                        transport,
                        host,
                        port,
                        path,
                        names: Vec::new(),
                        action: action(allowed),
                        reason,
                    },
                )
            }
            Event::Dns {
                pid,
                call,
                transport,
                server,
                names,
                allowed,
                reason,
            } => append(
                &log,
                &ConnectionRecord {
                    kind: "dns",
                    invocation_id: &id,
                    time: now(),
                    via: "trace",
                    pid,
                    call,
                    transport,
                    host: Some(server.ip().to_string()),
                    port: Some(server.port()),
                    path: None,
                    names,
                    action: action(allowed),
                    reason,
                },
            ),
        }),
        gate: None,
    }
}
