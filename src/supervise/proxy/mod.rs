//! The egress proxy: an HTTP proxy on an ephemeral `127.0.0.1` port, in the
//! shim's own process, that the real tool is pointed at (see [`env`]).
//!
//! - `CONNECT host:port` (HTTPS, any TLS) is tunnelled byte for byte — no TLS
//!   interception, the tool's trust store is untouched;
//! - absolute-form plain HTTP (`GET http://host:port/path HTTP/1.1`) is
//!   forwarded in origin form with `Connection: close`; when asked
//!   ([`Config::artifacts`]), every response body relayed back is hashed as
//!   it streams through ([`body`]) and becomes an `artifact` record.
//!
//! Only destinations the invocation's [`rules::Rules`] allow get through
//! (the approved registries of the tool's ecosystem with `builtin` resolved,
//! its mirror, and `[network] allow`); everything else gets a `403` whose body
//! names pkgward and the policy key to change. In audit mode the connection
//! goes through and is recorded as `would-deny`. Every connection — allowed,
//! denied or malformed — is one `connection` record in the audit log, linked
//! to the invocation.
//!
//! The proxy uses plain threads (no async runtime): starting it is one
//! `bind` and one thread (well under a millisecond), and it is only started
//! for verbs that fetch packages. Hostile input is bounded: request heads
//! ([`http::MAX_HEAD`]), concurrent connections ([`MAX_CONNECTIONS`]),
//! header reading time ([`HEAD_TIMEOUT`]).

pub mod body;
pub mod env;
pub mod http;
pub mod rules;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use std::ffi::OsString;

use crate::classify::Verb;
use crate::decide::urls::NormHost;
use crate::policy::{Mode, Policy};
use crate::record::package::ArtifactRecord;
use crate::record::Action;
use crate::tools::Tool;

pub use rules::{Rule, Rules};

/// Connections handled at once; more get a `503`.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a client may take to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting to one upstream address may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long [`Proxy::stop`] waits for open connections to record themselves.
const STOP_GRACE: Duration = Duration::from_secs(2);
const BUF: usize = 64 * 1024;

/// Whether an invocation gets the proxy: a verb that fetches packages
/// (install, execute, publish) under a policy that checks anything.
pub fn wanted(verb: Verb, mode: Mode) -> bool {
    mode != Mode::Off && matches!(verb, Verb::Install | Verb::Execute | Verb::Publish)
}

/// The destinations one invocation of `tool` may reach: the approved
/// registries of its ecosystem (`builtin` asked of the tool through
/// `builtin`), its mirror, and `[network] allow`.
pub fn rules_for(tool: Tool, policy: &Policy, builtin: &mut dyn FnMut() -> Vec<String>) -> Rules {
    let eco = tool.ecosystem;
    let source = format!("registries.{eco}");
    let mut rules = Vec::new();
    for entry in policy.registries_for(eco) {
        if entry == crate::policy::BUILTIN {
            for url in builtin() {
                rules.extend(Rule::from_registry_url(
                    &url,
                    &format!("{source} (builtin)"),
                ));
            }
        } else {
            rules.extend(Rule::from_registry_url(&entry, &source));
        }
    }
    if let Some(m) = policy.mirror_for(eco) {
        rules.extend(Rule::from_registry_url(&m.value, &format!("mirrors.{eco}")));
    }
    for a in &policy.network_allow {
        if let Ok(r) = Rule::parse_allow(&a.value, "network.allow") {
            rules.push(r);
        }
    }
    Rules::new(rules)
}

/// A proxy started for one invocation, with the variables that point the
/// tool at it.
pub struct Running {
    pub proxy: Proxy,
    pub env: Vec<(OsString, OsString)>,
    /// The tool's canonical name.
    pub tool: &'static str,
    /// Linux: the process tracer that backs the proxy up (a connection that
    /// ignores the proxy variables is refused unless it is to loopback).
    #[cfg(target_os = "linux")]
    pub trace: Option<super::linux::trace::Tracing>,
}

impl Running {
    /// Points the launch at the proxy: its variables (set last, so they win)
    /// and the arguments a tool needs ([`env::args`]).
    pub fn apply(&self, launch: &mut super::Launch) {
        launch.env.extend(self.env.iter().cloned());
        #[cfg(target_os = "linux")]
        {
            launch.trace = self.trace.clone();
        }
        if let Some((at, add)) = env::args(self.tool, self.proxy.addr().port(), &launch.args) {
            let at = at.min(launch.args.len());
            launch.args.splice(at..at, add);
        }
    }
}

/// Starts the proxy for one invocation of `tool` and computes the child's
/// proxy variables from the current environment.
pub fn start_for(
    tool: Tool,
    mode: Mode,
    rules: Rules,
    invocation_id: &str,
    sink: Sink,
    artifacts: Option<ArtifactSink>,
) -> io::Result<Running> {
    let proxy = Proxy::start(Config {
        rules,
        enforce: mode == Mode::Enforce,
        invocation_id: invocation_id.to_string(),
        ecosystem: tool.ecosystem.key().to_string(),
        sink,
        artifacts,
    })?;
    let keys: Vec<OsString> = std::env::vars_os().map(|(k, _)| k).collect();
    let env = env::vars(
        tool.name,
        proxy.addr().port(),
        &|k| std::env::var_os(k),
        &keys,
    );
    Ok(Running {
        proxy,
        env,
        tool: tool.name,
        #[cfg(target_os = "linux")]
        trace: None,
    })
}

/// What the shim knows about an invocation when it starts the proxy.
pub struct Invocation<'a> {
    pub tool: Tool,
    pub verb: Verb,
    pub mode: Mode,
    pub policy: &'a Policy,
    /// The real tool, to resolve `builtin` (cached under `cache`).
    pub real: &'a std::path::Path,
    pub cache: Option<&'a std::path::Path>,
    pub invocation_id: &'a str,
    /// Where connection records go.
    pub log: Option<crate::record::LogTarget>,
    /// Hash plain-HTTP response bodies into `artifact` records (provenance).
    pub artifacts: bool,
    /// When the invocation started (the tracer flags binaries written since).
    pub started: std::time::SystemTime,
}

/// Starts the proxy when the invocation needs one ([`wanted`]); connection
/// records are appended to the audit log at `inv.log`.
pub fn for_invocation(inv: &Invocation<'_>) -> crate::error::Result<Option<Running>> {
    if !wanted(inv.verb, inv.mode) {
        return Ok(None);
    }
    let builtin_cache = inv.cache.map(|c| c.join("builtin"));
    let mut builtin = || crate::builtin::resolve(inv.tool, inv.real, builtin_cache.as_deref()).urls;
    let rules = rules_for(inv.tool, inv.policy, &mut builtin);
    #[cfg(target_os = "linux")]
    let trace_rules = rules.clone();
    let log = match &inv.log {
        Some(t) => Some(t.open()?),
        None => None,
    };
    let log = Arc::new(Mutex::new(log));
    let l = log.clone();
    let sink: Sink = Arc::new(move |rec: &ConnectionRecord| append(&l, rec));
    let artifacts = inv.artifacts.then(|| {
        let l = log.clone();
        Arc::new(move |rec: &ArtifactRecord| append(&l, rec)) as ArtifactSink
    });
    #[allow(unused_mut)]
    let mut running = start_for(
        inv.tool,
        inv.mode,
        rules,
        inv.invocation_id,
        sink,
        artifacts,
    )
    .map_err(|e| crate::error::Error::io("cannot start the egress proxy", e))?;
    #[cfg(target_os = "linux")]
    {
        let net = super::linux::trace::Net {
            proxy_port: Some(running.proxy.addr().port()),
            rules: trace_rules,
            resolvers: super::linux::resolvers(),
        };
        running.trace = Some(super::linux::records::tracing(
            inv.mode == Mode::Enforce,
            inv.policy.supervise_tracer.value,
            net,
            inv.started,
            inv.invocation_id,
            log,
        ));
    }
    Ok(Some(running))
}

/// Appends one record; a record that cannot be written has no one to tell
/// from this thread (the invocation's own records report the log).
fn append<T: Serialize>(log: &Mutex<Option<crate::record::AuditLog>>, rec: &T) {
    if let Ok(mut l) = log.lock() {
        if let Some(l) = l.as_mut() {
            let _ = l.append(rec);
        }
    }
}

/// One connection through (or refused by) the proxy, as recorded.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionRecord {
    pub kind: &'static str,
    pub invocation_id: String,
    /// When the client connected (RFC 3339).
    pub time: String,
    pub via: &'static str,
    /// `CONNECT`, `GET`, … (`null` when no request line could be read).
    pub method: Option<String>,
    /// The destination host, normalised (`null` when there was none).
    pub host: Option<String>,
    pub port: Option<u16>,
    /// Plain HTTP only: the URL without its query, credentials redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub action: Action,
    /// The rule that allowed it (`registries.npm: 127.0.0.1:4873`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Why it was refused or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The status the proxy answered with (200 for an established tunnel).
    pub status: u16,
    /// Bytes from the tool to the destination (request heads included).
    pub bytes_up: u64,
    /// Bytes from the destination to the tool.
    pub bytes_down: u64,
    pub duration_ms: f64,
}

/// Where connection records go (the audit log, in the shim).
pub type Sink = Arc<dyn Fn(&ConnectionRecord) + Send + Sync>;

pub struct Config {
    pub rules: Rules,
    /// Deny (enforce mode) or only record (audit mode).
    pub enforce: bool,
    pub invocation_id: String,
    /// For messages: the ecosystem key whose registries were approved.
    pub ecosystem: String,
    pub sink: Sink,
    /// Plain HTTP: hash each response body relayed and hand it here as an
    /// `artifact` record (`None`: bodies are relayed untouched).
    pub artifacts: Option<ArtifactSink>,
}

/// Where `artifact` records go.
pub type ArtifactSink = Arc<dyn Fn(&ArtifactRecord) + Send + Sync>;

/// At most this many artifact records are kept for [`Proxy::stop`] to
/// return (all are handed to the sink).
pub const MAX_KEPT_ARTIFACTS: usize = 20_000;

struct Shared {
    cfg: Config,
    addr: SocketAddr,
    stop: AtomicBool,
    next_id: AtomicU64,
    /// Open client and upstream sockets, to shut down on stop.
    open: Mutex<HashMap<u64, Vec<TcpStream>>>,
    active: Mutex<usize>,
    idle: Condvar,
    count: AtomicUsize,
    artifacts: Mutex<Vec<ArtifactRecord>>,
}

/// A running proxy. Dropping it without [`Proxy::stop`] leaves the threads
/// to die with the process.
pub struct Proxy {
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Binds an ephemeral port on 127.0.0.1 and starts accepting.
    pub fn start(cfg: Config) -> io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            cfg,
            addr,
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            active: Mutex::new(0),
            idle: Condvar::new(),
            count: AtomicUsize::new(0),
            artifacts: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let accept = std::thread::Builder::new()
            .name("pkgward-proxy".into())
            .stack_size(128 * 1024)
            .spawn(move || accept_loop(&listener, s, None))?;
        Ok(Proxy {
            shared,
            accept: Some(accept),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// How many connections were handled so far.
    pub fn connections(&self) -> usize {
        self.shared.count.load(Ordering::Relaxed)
    }

    /// A handle for the install-code sandbox: the port, and more listeners
    /// to accept on ([`Handle::serve_extra`]).
    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }

    /// Stops accepting, closes open connections (the tool has exited) and
    /// waits briefly for their records. Returns the artifacts relayed (the
    /// first [`MAX_KEPT_ARTIFACTS`]).
    pub fn stop(mut self) -> Vec<ArtifactRecord> {
        self.wind_down();
        self.shared
            .artifacts
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default()
    }

    fn wind_down(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.shared.addr, Duration::from_millis(200));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        if let Ok(open) = self.shared.open.lock() {
            for s in open.values().flatten() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        let Ok(mut active) = self.shared.active.lock() else {
            return;
        };
        while *active > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match self.shared.idle.wait_timeout(active, deadline - now) {
                Ok((a, _)) => active = a,
                Err(_) => return,
            }
        }
    }
}

/// A running proxy's handle for the install-code sandbox.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("addr", &self.shared.addr)
            .finish()
    }
}

impl Handle {
    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.shared.addr.port()
    }

    /// Serves the proxy on another listening socket too, e.g. one bound to
    /// 127.0.0.1 and the same port inside a sandbox's network namespace (a
    /// socket keeps its namespace, so pkgward accepts the sandbox's
    /// connections from outside it). Same rules, records and limits.
    #[cfg(unix)]
    pub fn serve_extra(&self, listener: TcpListener) -> io::Result<Extra> {
        let own = Arc::new(AtomicBool::new(false));
        let listener = Arc::new(listener);
        let (s, o, l) = (self.shared.clone(), own.clone(), listener.clone());
        let thread = std::thread::Builder::new()
            .name("pkgward-proxy-extra".into())
            .stack_size(128 * 1024)
            .spawn(move || accept_loop(&l, s, Some(o)))?;
        Ok(Extra {
            own,
            listener,
            thread: Some(thread),
        })
    }
}

/// An extra listener being served ([`Handle::serve_extra`]).
#[cfg(unix)]
pub struct Extra {
    own: Arc<AtomicBool>,
    listener: Arc<TcpListener>,
    thread: Option<JoinHandle<()>>,
}

#[cfg(unix)]
impl Extra {
    /// Stops accepting on it and closes it (connections already accepted
    /// go on until the proxy stops).
    pub fn stop(mut self) {
        self.own.store(true, Ordering::SeqCst);
        // shutdown(2) on a listening socket wakes a blocked accept(2) (EINVAL).
        use std::os::fd::AsRawFd;
        // SAFETY: shutdown on a socket this handle keeps open.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: Arc<Shared>, own: Option<Arc<AtomicBool>>) {
    let stopped = |own: &Option<Arc<AtomicBool>>| {
        shared.stop.load(Ordering::SeqCst) || own.as_ref().is_some_and(|o| o.load(Ordering::SeqCst))
    };
    for conn in listener.incoming() {
        if stopped(&own) {
            break;
        }
        let Ok(stream) = conn else {
            // EMFILE and friends: back off a little instead of spinning.
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        shared.count.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let time = crate::record::now_rfc3339();
        {
            let Ok(mut active) = shared.active.lock() else {
                break;
            };
            if *active >= MAX_CONNECTIONS {
                drop(active);
                let mut rec = shared.record(time);
                rec.action = Action::Deny;
                rec.status = 503;
                rec.reason = Some(format!(
                    "more than {MAX_CONNECTIONS} connections at once through the proxy"
                ));
                let mut s = stream;
                let _ = respond(&mut s, 503, "Service Unavailable", &too_many());
                finish(&shared, rec, started);
                continue;
            }
            *active += 1;
        }
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("pkgward-proxy-conn".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let id = s.next_id.fetch_add(1, Ordering::Relaxed);
                let rec = handle(&s, id, stream, time);
                if let Ok(mut open) = s.open.lock() {
                    open.remove(&id);
                }
                finish(&s, rec, started);
                if let Ok(mut a) = s.active.lock() {
                    *a -= 1;
                    s.idle.notify_all();
                }
            });
        if spawned.is_err() {
            if let Ok(mut a) = shared.active.lock() {
                *a -= 1;
            }
        }
    }
}

fn too_many() -> String {
    format!("pkgward: too many connections through the egress proxy (limit {MAX_CONNECTIONS})\n")
}

fn finish(shared: &Shared, mut rec: ConnectionRecord, started: Instant) {
    rec.duration_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    (shared.cfg.sink)(&rec);
}

impl Shared {
    fn record(&self, time: String) -> ConnectionRecord {
        ConnectionRecord {
            kind: "connection",
            invocation_id: self.cfg.invocation_id.clone(),
            time,
            via: "proxy",
            method: None,
            host: None,
            port: None,
            url: None,
            action: Action::Deny,
            rule: None,
            reason: None,
            status: 0,
            bytes_up: 0,
            bytes_down: 0,
            duration_ms: 0.0,
        }
    }

    /// One response body relayed: recorded, and kept for [`Proxy::stop`].
    fn artifact(&self, r: body::Relayed, host: &str, port: u16) {
        let Some(sink) = &self.cfg.artifacts else {
            return;
        };
        let rec = ArtifactRecord {
            kind: "artifact",
            invocation_id: self.cfg.invocation_id.clone(),
            time: crate::record::now_rfc3339(),
            url: crate::record::redact::redact_urls(&r.url).into_owned(),
            host: host.to_string(),
            port,
            method: r.method,
            status: r.status,
            content_type: r.content_type,
            size: r.size,
            sha256: r.sha256,
        };
        sink(&rec);
        if let Ok(mut kept) = self.artifacts.lock() {
            if kept.len() < MAX_KEPT_ARTIFACTS {
                kept.push(rec);
            }
        }
    }

    fn register(&self, id: u64, s: &TcpStream) {
        if let (Ok(mut open), Ok(c)) = (self.open.lock(), s.try_clone()) {
            open.entry(id).or_default().push(c);
        }
    }
}

/// What a request asks for, once parsed and normalised.
struct Target {
    host: NormHost,
    port: u16,
    /// Plain HTTP: the origin-form target to send upstream, and the URL to record.
    forward: Option<(String, String)>,
}

/// A refusal: status, reason (recorded) and the body the tool sees.
struct Refusal {
    status: u16,
    reason: String,
}

fn bad(reason: impl Into<String>) -> Refusal {
    Refusal {
        status: 400,
        reason: reason.into(),
    }
}

fn handle(shared: &Shared, id: u64, mut client: TcpStream, time: String) -> ConnectionRecord {
    let mut rec = shared.record(time);
    shared.register(id, &client);
    if shared.stop.load(Ordering::SeqCst) {
        rec.reason = Some("the proxy was stopping".into());
        return rec;
    }
    let _ = client.set_read_timeout(Some(HEAD_TIMEOUT));
    let _ = client.set_nodelay(true);
    let (head_bytes, rest) = match http::read_head(&mut client) {
        Ok(x) => x,
        Err(e) => {
            rec.reason = Some(e.to_string());
            if !matches!(e, http::HeadError::Closed | http::HeadError::Io(_)) {
                rec.status = if matches!(e, http::HeadError::TooLarge) {
                    431
                } else {
                    400
                };
                let _ = respond(
                    &mut client,
                    rec.status,
                    reason_phrase(rec.status),
                    &format!("pkgward: the egress proxy refused the request: {e}\n"),
                );
            }
            return rec;
        }
    };
    rec.bytes_up = head_bytes.len() as u64;
    let head = match http::parse_head(&head_bytes) {
        Ok(h) => h,
        Err(e) => {
            rec.status = 400;
            rec.reason = Some(e.to_string());
            let _ = respond(
                &mut client,
                400,
                "Bad Request",
                &format!("pkgward: the egress proxy refused the request: {e}\n"),
            );
            return rec;
        }
    };
    rec.method = Some(head.method.clone());
    let target = match target_of(&head) {
        Ok(t) => t,
        Err(r) => {
            rec.status = r.status;
            rec.reason = Some(r.reason.clone());
            let _ = respond(
                &mut client,
                r.status,
                reason_phrase(r.status),
                &format!(
                    "pkgward: the egress proxy refused the request: {}\n",
                    r.reason
                ),
            );
            return rec;
        }
    };
    rec.host = Some(target.host.to_string());
    rec.port = Some(target.port);
    rec.url = target.forward.as_ref().map(|(_, u)| u.clone());

    let self_target = matches!(&target.host, NormHost::Ip(ip) if *ip == shared.addr.ip())
        && target.port == shared.addr.port();
    match shared
        .cfg
        .rules
        .find(&target.host, target.port)
        .filter(|_| !self_target)
    {
        Some(rule) => {
            rec.action = Action::Allow;
            rec.rule = Some(format!("{}: {rule}", rule.source));
        }
        None => {
            let reason = format!(
                "{}:{} is not an approved destination",
                target.host, target.port
            );
            if shared.cfg.enforce {
                rec.action = Action::Deny;
                rec.status = 403;
                rec.reason = Some(reason);
                let body = denial_body(&shared.cfg, &target);
                let _ = respond(&mut client, 403, "Forbidden", &body);
                return rec;
            }
            rec.action = Action::WouldDeny;
            rec.reason = Some(reason);
        }
    }

    let upstream = match connect(&target.host, target.port) {
        Ok(u) => u,
        Err(e) => {
            rec.status = 502;
            let why = format!("cannot connect to {}:{}: {e}", target.host, target.port);
            rec.reason = Some(match rec.reason.take() {
                Some(r) => format!("{r}; {why}"),
                None => why.clone(),
            });
            let _ = respond(
                &mut client,
                502,
                "Bad Gateway",
                &format!("pkgward: the egress proxy {why}\n"),
            );
            return rec;
        }
    };
    shared.register(id, &upstream);
    let _ = client.set_read_timeout(None);
    let _ = upstream.set_nodelay(true);

    let up = AtomicU64::new(rec.bytes_up);
    let down = AtomicU64::new(0);
    let result = match &target.forward {
        None => {
            rec.status = 200;
            match client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n") {
                Ok(()) => tunnel(&client, &upstream, &rest, &up, &down, false, None),
                Err(e) => Err(e),
            }
        }
        Some((origin_form, shown)) => {
            rec.status = 200;
            let mut head_out = forwarded_head(&head, origin_form);
            head_out.extend_from_slice(&rest);
            up.store(head_out.len() as u64, Ordering::Relaxed);
            let track = shared.cfg.artifacts.as_ref().map(|_| {
                let pending = body::Pending::default();
                let mut reqs = body::Requests::new(shown.clone(), pending.clone());
                reqs.feed(&head_bytes);
                reqs.feed(&rest);
                (reqs, body::Responses::new(pending))
            });
            let (host, port) = (target.host.to_string(), target.port);
            let emit = |r: body::Relayed| shared.artifact(r, &host, port);
            match (&upstream).write_all(&head_out) {
                Ok(()) => match track {
                    Some((reqs, resps)) => tunnel(
                        &client,
                        &upstream,
                        &[],
                        &up,
                        &down,
                        true,
                        Some(Tracking {
                            reqs,
                            resps,
                            emit: &emit,
                        }),
                    ),
                    None => tunnel(&client, &upstream, &[], &up, &down, true, None),
                },
                Err(e) => Err(e),
            }
        }
    };
    rec.bytes_up = up.load(Ordering::Relaxed);
    rec.bytes_down = down.load(Ordering::Relaxed);
    if let Err(e) = result {
        if rec.reason.is_none() {
            rec.reason = Some(format!("connection ended with an error: {e}"));
        }
    }
    rec
}

/// The destination of a request: `CONNECT host:port`, or an absolute
/// `http://` URL whose `Host` header (if any) names the same host and port.
fn target_of(head: &http::Head) -> Result<Target, Refusal> {
    let host_header = head.all("host").next();
    if head.method == "CONNECT" {
        let t = &head.target;
        if t.contains('@') {
            return Err(bad("a CONNECT target must not carry a user name"));
        }
        if t.contains(['/', '?', '#', '\\']) {
            return Err(bad("a CONNECT target is host:port"));
        }
        let (h, p) = rules::split_host_port(t).map_err(|e| bad(format!("CONNECT {t}: {e}")))?;
        let port = p.ok_or_else(|| bad("a CONNECT target needs a port"))?;
        let host = NormHost::parse(h).map_err(|e| bad(format!("CONNECT {t}: {e}")))?;
        if let Some(hh) = host_header {
            if !same_authority(hh, &host, port, port) {
                return Err(bad(format!(
                    "the Host header ({hh}) does not name the CONNECT target ({t})"
                )));
            }
        }
        return Ok(Target {
            host,
            port,
            forward: None,
        });
    }
    let t = &head.target;
    let lower = t.get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
    if lower.starts_with("https://") {
        return Err(bad(
            "an https:// URL must be fetched through CONNECT (the proxy does not open TLS for the tool)",
        ));
    }
    if !lower.starts_with("http://") {
        return Err(bad(
            "pkgward's egress proxy only takes absolute http:// requests and CONNECT",
        ));
    }
    if t.contains('\\') {
        return Err(bad("a backslash in the request target"));
    }
    let url = url::Url::parse(t).map_err(|e| bad(format!("invalid URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal {
            status: 403,
            reason: "a URL with a user name or password is not forwarded".into(),
        });
    }
    let host = url
        .host()
        .map(NormHost::from_host)
        .ok_or_else(|| bad("the URL has no host"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    if let Some(hh) = host_header {
        if !same_authority(hh, &host, port, 80) {
            return Err(bad(format!(
                "the Host header ({hh}) does not name the URL's host"
            )));
        }
    }
    let origin_form = url[url::Position::BeforePath..url::Position::AfterQuery].to_string();
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    Ok(Target {
        host,
        port,
        forward: Some((origin_form, shown.to_string())),
    })
}

/// Whether a `Host` header value names `host`:`port` (`default_port` when
/// the header has none).
fn same_authority(value: &str, host: &NormHost, port: u16, default_port: u16) -> bool {
    if value.contains(['@', '/', '\\', '?', '#']) {
        return false;
    }
    match rules::split_host_port(value) {
        Ok((h, p)) => {
            p.unwrap_or(default_port) == port && NormHost::parse(h).is_ok_and(|n| &n == host)
        }
        Err(_) => false,
    }
}

/// The request head sent upstream: origin-form target, hop-by-hop and
/// proxy headers dropped, `Host` set, `Connection: close`.
fn forwarded_head(head: &http::Head, origin_form: &str) -> Vec<u8> {
    let hop: Vec<String> = head
        .all("connection")
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = format!("{} {} {}\r\n", head.method, origin_form, head.version).into_bytes();
    for (k, v) in &head.headers {
        let lk = k.to_ascii_lowercase();
        if matches!(
            lk.as_str(),
            "connection"
                | "proxy-connection"
                | "proxy-authorization"
                | "proxy-authenticate"
                | "keep-alive"
                | "te"
                | "trailer"
                | "upgrade"
        ) || hop.contains(&lk)
        {
            continue;
        }
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out
}

fn connect(host: &NormHost, port: u16) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = match host {
        NormHost::Ip(ip) => vec![SocketAddr::new(*ip, port)],
        NormHost::Domain(d) => (d.as_str(), port).to_socket_addrs()?.collect(),
        NormHost::None => return Err(io::Error::other("no host")),
    };
    let mut last = io::Error::other("the name resolved to no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The trackers of a relayed plain-HTTP connection and where finished
/// bodies go.
struct Tracking<'a> {
    reqs: body::Requests,
    resps: body::Responses,
    emit: &'a (dyn Fn(body::Relayed) + Sync),
}

/// Copies both ways until both directions end. `first` is sent upstream
/// before anything else (bytes the client sent right after its head).
/// `close_after_response`: plain HTTP — when the upstream is done, the
/// whole connection is.
fn tunnel(
    client: &TcpStream,
    upstream: &TcpStream,
    first: &[u8],
    up: &AtomicU64,
    down: &AtomicU64,
    close_after_response: bool,
    track: Option<Tracking<'_>>,
) -> io::Result<()> {
    if !first.is_empty() {
        let mut u = upstream;
        u.write_all(first)?;
        up.fetch_add(first.len() as u64, Ordering::Relaxed);
    }
    let (mut reqs, mut resps, emit) = match track {
        Some(t) => (Some(t.reqs), Some(t.resps), Some(t.emit)),
        None => (None, None, None),
    };
    std::thread::scope(|scope| {
        let back = scope.spawn(move || {
            let mut seen = |b: &[u8]| {
                if let (Some(r), Some(emit)) = (resps.as_mut(), emit) {
                    r.feed(b);
                    r.done.drain(..).for_each(emit);
                }
            };
            let r = pump(upstream, client, down, &mut seen);
            if let (Some(r), Some(emit)) = (resps.as_mut(), emit) {
                r.eof();
                r.done.drain(..).for_each(emit);
            }
            if close_after_response {
                let _ = client.shutdown(Shutdown::Both);
                let _ = upstream.shutdown(Shutdown::Both);
            } else {
                let _ = client.shutdown(Shutdown::Write);
            }
            r
        });
        let r1 = pump(client, upstream, up, &mut |b: &[u8]| {
            if let Some(r) = reqs.as_mut() {
                r.feed(b);
            }
        });
        let _ = upstream.shutdown(Shutdown::Write);
        let r2 = back
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("panic")));
        // A reset after the other side is done is how many clients hang up.
        match (r1, r2) {
            (Err(e), _) | (_, Err(e)) if !is_hangup(&e) => Err(e),
            _ => Ok(()),
        }
    })
}

fn is_hangup(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
    )
}

/// Copies `from` → `to` until EOF. (`splice(2)` was tried on Linux: no
/// faster on loopback here, see docs/PERFORMANCE.md.)
fn pump(
    from: &TcpStream,
    to: &TcpStream,
    count: &AtomicU64,
    seen: &mut dyn FnMut(&[u8]),
) -> io::Result<()> {
    let mut buf = vec![0u8; BUF];
    let (mut from, mut to) = (from, to);
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        seen(&buf[..n]);
        to.write_all(&buf[..n])?;
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn respond(s: &mut TcpStream, status: u16, phrase: &str, body: &str) -> io::Result<()> {
    let msg = format!(
        "HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         X-Pkgward: egress-proxy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(msg.as_bytes())?;
    let _ = s.shutdown(Shutdown::Write);
    // Let the client read the answer before the socket goes away (closing
    // with unread input would reset the connection).
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while drained < 1 << 20 {
        match s.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    Ok(())
}

fn denial_body(cfg: &Config, t: &Target) -> String {
    let dest = format!("{}:{}", t.host, t.port);
    let allowed: Vec<String> = cfg
        .rules
        .iter()
        .map(|r| format!("{r} ({})", r.source))
        .collect();
    format!(
        "pkgward: egress to {dest} denied by policy (invocation {}).\n\
         Allowed destinations for this invocation: {}.\n\
         To allow it, approve the registry under `[registries] {}` or add \"{dest}\" to \
         `[network] allow` in the policy; `pkgward policy show` shows where each setting comes from.\n",
        cfg.invocation_id,
        if allowed.is_empty() {
            "none".to_string()
        } else {
            allowed.join(", ")
        },
        cfg.ecosystem
    )
}

#[cfg(test)]
mod tests;
