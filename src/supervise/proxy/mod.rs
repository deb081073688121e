//! The egress proxy: an HTTP proxy on an ephemeral `127.0.0.1` port, in the
//! shim's own process, that the real tool is pointed at (see [`env`]).
//!
//! - `CONNECT host:port` (HTTPS, any TLS) is tunnelled byte for byte — no TLS
//!   interception, the tool's trust store is untouched — unless a confined
//!   run's TLS index is registered for that host and port ([`origin`]);
//! - absolute-form plain HTTP (`GET http://host:port/path HTTP/1.1`) is
//!   forwarded in origin form, one request at a time, over a persistent
//!   connection: the client connection stays open across requests (HTTP/1.1,
//!   or HTTP/1.0 with `Connection: keep-alive`) and the upstream connection
//!   is reused for the next request to the same host and port. Every
//!   request is decided and recorded on its own, whatever came before it on
//!   the connection; request bodies are framed strictly (one of
//!   `Content-Length` or `Transfer-Encoding: chunked`, anything ambiguous is
//!   a `400` and the end of the connection) and response bodies by
//!   [`body::Framer`]; a response delimited by the end of the connection
//!   ends the client connection too. When asked ([`Config::artifacts`]),
//!   every response body relayed back is hashed as it streams through
//!   ([`body`]) and becomes an `artifact` record;
//! - an index gateway ([`gateway`]): requests for a path prefix
//!   registered with [`Handle::add_gateway`] are read by pkgward itself
//!   from that TLS index, with its credentials (pkgward is the TLS client:
//!   nothing is intercepted).
//!
//! Only destinations the invocation's [`rules::Rules`] allow get through
//! (the approved registries of the tool's ecosystem with `builtin` resolved,
//! its mirror, and `[network] allow`); everything else gets a `403` whose body
//! names pkgward and the policy key to change. In audit mode the connection
//! goes through and is recorded as `would-deny`. Every request — allowed,
//! denied or malformed — is one `connection` record in the audit log, linked
//! to the invocation (`conn` and `seq` tell the requests of one kept-alive
//! client connection apart; a `CONNECT` tunnel is one record).
//!
//! The proxy uses plain threads (no async runtime): starting it is one
//! `bind` and one thread (well under a millisecond), and it is only started
//! for verbs that fetch packages. Hostile input is bounded: request heads
//! ([`http::MAX_HEAD`]), concurrent connections ([`MAX_CONNECTIONS`]),
//! header reading time ([`HEAD_TIMEOUT`]), idle kept-alive connections
//! ([`IDLE_TIMEOUT`]).

pub mod body;
pub mod env;
pub mod gateway;
pub mod http;
pub mod origin;
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
/// How long a kept-alive client connection may stay idle between requests.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests on one client connection, at most (then it is closed).
pub const MAX_REQUESTS: u32 = 10_000;
/// How long connecting to one upstream address may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long [`Proxy::stop`] waits for open connections to record themselves.
const STOP_GRACE: Duration = Duration::from_secs(2);
const BUF: usize = 64 * 1024;
/// The answer to a `CONNECT` that goes through.
const ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

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
    /// The client connection the request came on (numbered per proxy from
    /// 0): requests on one kept-alive connection share it, each with its
    /// own record.
    pub conn: u64,
    /// The request's number on that connection (1 = the first).
    pub seq: u32,
    /// Plain HTTP: whether the request went over an upstream connection an
    /// earlier request on the same client connection opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_reused: Option<bool>,
    /// Plain HTTP: the status of the upstream's response (`status` stays
    /// what the proxy answered: 200 for a response relayed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
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
    /// Registry credentials added to plain-HTTP requests ([`Handle::add_auth`]).
    auth: Mutex<Vec<Auth>>,
    /// TLS indexes served with credentials ([`Handle::add_gateway`]).
    gateways: Mutex<Vec<Arc<gateway::Gateway>>>,
    /// TLS indexes served at their own origin ([`Handle::serve_at_origin`]).
    origins: Mutex<origin::Origins>,
}

/// An `Authorization` value for the plain-HTTP requests to a host (and
/// port: `None`, any).
struct Auth {
    host: NormHost,
    port: Option<u16>,
    value: String,
}

impl Shared {
    fn auth_for(&self, host: &NormHost, port: u16) -> Option<String> {
        let auth = self.auth.lock().ok()?;
        // An entry with a port wins over a host-wide one.
        auth.iter()
            .filter(|a| a.host == *host && a.port.is_none_or(|p| p == port))
            .max_by_key(|a| a.port.is_some())
            .map(|a| a.value.clone())
    }
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
            auth: Mutex::new(Vec::new()),
            gateways: Mutex::new(Vec::new()),
            origins: Mutex::new(origin::Origins::default()),
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

    /// Adds HTTP basic credentials to every plain-HTTP `GET`/`HEAD` request
    /// forwarded to `host` (and `port`; `None`: any), replacing the client's
    /// own `Authorization`: confined code reaches a registry that needs them
    /// without ever holding them, and can only read with them (no upload,
    /// no delete). `CONNECT` tunnels (TLS) are untouched.
    /// `false`: `host` is not a host.
    pub fn add_auth(&self, host: &str, port: Option<u16>, user: &str, password: &str) -> bool {
        let Ok(host) = NormHost::parse(host) else {
            return false;
        };
        let value = basic(user, password);
        let Ok(mut auth) = self.shared.auth.lock() else {
            return false;
        };
        auth.retain(|a| !(a.host == host && a.port == port));
        auth.push(Auth { host, port, value });
        true
    }

    /// Serves the TLS index `https://host:port` with HTTP basic
    /// credentials through an index gateway on the proxy's port
    /// ([`gateway`]), verified with `trust`; returns its base URL
    /// (`http://127.0.0.1:PORT/pkgward-…`, to use in place of
    /// `https://host:port`). `Err`: why not (a destination the rules do not
    /// allow, unusable trust anchors).
    pub fn add_gateway(
        &self,
        host: &str,
        port: u16,
        user: &str,
        password: &str,
        trust: &gateway::Trust,
    ) -> Result<String, String> {
        self.shared
            .add_gateway(host, port, basic(user, password), trust)
    }

    /// Serves the TLS index `host` (`port`: `None`, any port, as netrc's
    /// credentials apply) with HTTP basic credentials at its own origin
    /// ([`origin`]): a `CONNECT` to it that the rules allow is answered by
    /// pkgward with a certificate of the invocation's ephemeral CA
    /// ([`Handle::origin_ca_pem`], to be trusted by the client) and its
    /// requests served like the gateway's, until the returned guard is
    /// dropped. `Err`: why not (a destination the rules do not allow, no CA).
    pub fn serve_at_origin(
        &self,
        host: &str,
        port: Option<u16>,
        user: &str,
        password: &str,
        trust: &gateway::Trust,
    ) -> Result<origin::ServedAtOrigin, String> {
        self.shared
            .serve_at_origin(host, port, basic(user, password), trust)
    }

    /// A guard with no registration, to [`origin::ServedAtOrigin::merge`] into.
    pub fn empty_origin_guard(&self) -> origin::ServedAtOrigin {
        origin::ServedAtOrigin::empty(self.shared.clone())
    }

    /// The certificate (PEM) of the ephemeral CA of [`Handle::serve_at_origin`],
    /// once a registration made it.
    pub fn origin_ca_pem(&self) -> Option<String> {
        self.shared.origin_ca_pem()
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

/// An `Authorization: Basic` value.
fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
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
                rec.conn = shared.next_id.fetch_add(1, Ordering::Relaxed);
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
                handle(&s, id, stream, time, started);
                if let Ok(mut open) = s.open.lock() {
                    open.remove(&id);
                }
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
            conn: 0,
            seq: 1,
            upstream_reused: None,
            response_status: None,
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

    /// The upstream connection of client connection `id` (registered after
    /// its client socket) is now `s`.
    fn set_upstream(&self, id: u64, s: Option<&TcpStream>) {
        if let Ok(mut open) = self.open.lock() {
            if let Some(v) = open.get_mut(&id) {
                v.truncate(1);
                if let Some(c) = s.and_then(|s| s.try_clone().ok()) {
                    v.push(c);
                }
            }
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

/// What becomes of a client connection after a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    /// Wait for another request on it.
    Keep,
    Close,
}

/// An upstream connection kept for the next request to the same host and
/// port on the same client connection, with the bytes read past the last
/// response (none unless the upstream misbehaves).
struct Kept {
    host: NormHost,
    port: u16,
    stream: TcpStream,
    buf: Vec<u8>,
}

/// One client connection: the bytes read past the last request (the next,
/// pipelined request) and the upstream connection kept, if any.
struct Conn<'a> {
    shared: &'a Shared,
    id: u64,
    client: TcpStream,
    buf: Vec<u8>,
    upstream: Option<Kept>,
}

/// Serves one client connection: one request after another while both
/// sides keep it open (plain HTTP), each decided and recorded on its own.
fn handle(shared: &Shared, id: u64, client: TcpStream, time: String, started: Instant) {
    shared.register(id, &client);
    let _ = client.set_nodelay(true);
    let mut c = Conn {
        shared,
        id,
        client,
        buf: Vec::new(),
        upstream: None,
    };
    let (mut time, mut started, mut seq) = (time, started, 1u32);
    loop {
        let mut rec = shared.record(time);
        rec.conn = id;
        rec.seq = seq;
        let next = if shared.stop.load(Ordering::SeqCst) {
            rec.reason = Some("the proxy was stopping".into());
            Next::Close
        } else {
            c.request(&mut rec)
        };
        finish(shared, rec, started);
        if next == Next::Close || seq >= MAX_REQUESTS || !c.await_next() {
            break;
        }
        time = crate::record::now_rfc3339();
        started = Instant::now();
        seq += 1;
    }
    c.close();
}

impl Conn<'_> {
    /// Waits (at most [`IDLE_TIMEOUT`]) for the next request on a kept-alive
    /// connection; false when the client closed it or stayed idle.
    fn await_next(&mut self) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        if self.client.set_read_timeout(Some(IDLE_TIMEOUT)).is_err() {
            return false;
        }
        let mut b = [0u8; 1];
        matches!(self.client.peek(&mut b), Ok(n) if n > 0)
            && !self.shared.stop.load(Ordering::SeqCst)
    }

    fn close(&mut self) {
        self.drop_upstream();
        let _ = self.client.shutdown(Shutdown::Write);
        // Requests the client sent that will not be served: read them away
        // briefly so that closing does not reset the connection before the
        // client has read its last response.
        let _ = self
            .client
            .set_read_timeout(Some(Duration::from_millis(200)));
        let mut sink = [0u8; 4096];
        let mut drained = 0usize;
        while drained < 1 << 20 {
            match self.client.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    }

    fn drop_upstream(&mut self) {
        if let Some(k) = self.upstream.take() {
            let _ = k.stream.shutdown(Shutdown::Both);
        }
        self.shared.set_upstream(self.id, None);
    }

    /// Refuses the request and closes the connection.
    fn refuse(&mut self, rec: &mut ConnectionRecord, status: u16, reason: String) -> Next {
        rec.status = status;
        let _ = respond(
            &mut self.client,
            status,
            reason_phrase(status),
            &format!("pkgward: the egress proxy refused the request: {reason}\n"),
        );
        rec.reason = Some(reason);
        Next::Close
    }

    /// Reads, decides and serves one request.
    fn request(&mut self, rec: &mut ConnectionRecord) -> Next {
        let shared = self.shared;
        let _ = self.client.set_read_timeout(Some(HEAD_TIMEOUT));
        let before = std::mem::take(&mut self.buf);
        let (head_bytes, rest) = match http::read_head(&mut before.as_slice().chain(&self.client)) {
            Ok(x) => x,
            Err(e) => {
                if !matches!(e, http::HeadError::Closed | http::HeadError::Io(_)) {
                    let status = if matches!(e, http::HeadError::TooLarge) {
                        431
                    } else {
                        400
                    };
                    return self.refuse(rec, status, e.to_string());
                }
                rec.reason = Some(e.to_string());
                return Next::Close;
            }
        };
        rec.bytes_up = head_bytes.len() as u64;
        let head = match http::parse_head(&head_bytes) {
            Ok(h) => h,
            Err(e) => return self.refuse(rec, 400, e.to_string()),
        };
        rec.method = Some(head.method.clone());
        if let Some((gw, path)) = shared.gateway_for(&head) {
            return self.gateway(rec, &head, &gw, &path, rest);
        }
        let target = match target_of(&head) {
            Ok(t) => t,
            Err(r) => return self.refuse(rec, r.status, r.reason),
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
                    let _ = respond(&mut self.client, 403, "Forbidden", &body);
                    return Next::Close;
                }
                rec.action = Action::WouldDeny;
                rec.reason = Some(reason);
            }
        }
        match &target.forward {
            None => {
                let served = (rec.action == Action::Allow)
                    .then(|| self.at_origin(rec, &target.host, target.port, &rest))
                    .flatten();
                served.unwrap_or_else(|| self.connect_tunnel(rec, &target, &rest))
            }
            Some((origin_form, shown)) => {
                let plain = Plain {
                    head: &head,
                    head_bytes: &head_bytes,
                    origin_form,
                    shown,
                };
                self.forward(rec, &target, &plain, rest)
            }
        }
    }

    /// `CONNECT`: the connection becomes a tunnel to the target.
    fn connect_tunnel(&mut self, rec: &mut ConnectionRecord, target: &Target, rest: &[u8]) -> Next {
        self.drop_upstream();
        let upstream = match connect(&target.host, target.port) {
            Ok(u) => u,
            Err(e) => {
                self.bad_gateway(rec, target, &e);
                return Next::Close;
            }
        };
        self.shared.set_upstream(self.id, Some(&upstream));
        let _ = self.client.set_read_timeout(None);
        let _ = upstream.set_nodelay(true);
        let up = AtomicU64::new(rec.bytes_up);
        let down = AtomicU64::new(0);
        rec.status = 200;
        let result = match (&self.client).write_all(ESTABLISHED) {
            Ok(()) => tunnel(&self.client, &upstream, rest, &up, &down, false, None),
            Err(e) => Err(e),
        };
        rec.bytes_up = up.load(Ordering::Relaxed);
        rec.bytes_down = down.load(Ordering::Relaxed);
        self.ended_with(rec, result);
        Next::Close
    }

    fn ended_with(&self, rec: &mut ConnectionRecord, result: io::Result<()>) {
        if let Err(e) = result {
            if rec.reason.is_none() {
                rec.reason = Some(format!("connection ended with an error: {e}"));
            }
        }
    }

    fn bad_gateway(&mut self, rec: &mut ConnectionRecord, target: &Target, e: &io::Error) {
        rec.status = 502;
        let why = format!("cannot connect to {}:{}: {e}", target.host, target.port);
        rec.reason = Some(match rec.reason.take() {
            Some(r) => format!("{r}; {why}"),
            None => why.clone(),
        });
        let _ = respond(
            &mut self.client,
            502,
            "Bad Gateway",
            &format!("pkgward: the egress proxy {why}\n"),
        );
    }

    /// Sends `bytes` (a request head and what of its body was read) to the
    /// target over the kept upstream connection when it is to the same
    /// host and port and still open, else over a new one. Returns whether
    /// the kept one was used.
    fn send_upstream(&mut self, target: &Target, bytes: &[u8], reuse: bool) -> io::Result<bool> {
        if reuse {
            if let Some(k) = self.upstream.as_mut() {
                if k.host == target.host && k.port == target.port && still_open(&k.stream) {
                    k.buf.clear();
                    if (&k.stream).write_all(bytes).is_ok() {
                        return Ok(true);
                    }
                }
            }
        }
        self.drop_upstream();
        let stream = connect(&target.host, target.port)?;
        let _ = stream.set_nodelay(true);
        self.shared.set_upstream(self.id, Some(&stream));
        (&stream).write_all(bytes)?;
        self.upstream = Some(Kept {
            host: target.host.clone(),
            port: target.port,
            stream,
            buf: Vec::new(),
        });
        Ok(false)
    }

    /// Relays the rest of a request body from the client upstream.
    fn relay_request_body(
        &mut self,
        framer: &mut body::Framer,
        rec: &mut ConnectionRecord,
        track: &mut Option<(body::Requests, body::Responses)>,
    ) -> Result<(), String> {
        let mut buf = vec![0u8; BUF];
        let Some(k) = self.upstream.as_ref() else {
            return Err("no upstream connection".into());
        };
        loop {
            let n = match (&self.client).read(&mut buf) {
                Ok(0) => {
                    return Err("the client closed the connection inside a request body".into())
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("reading a request body: {e}")),
            };
            let (take, done) = match framer.step(&buf[..n]) {
                body::Step::More => (n, false),
                body::Step::Ended(m) => (m, true),
                body::Step::Broken => return Err("a malformed chunked request body".into()),
            };
            if let Some((reqs, _)) = track.as_mut() {
                reqs.feed(&buf[..take]);
            }
            (&k.stream)
                .write_all(&buf[..take])
                .map_err(|e| format!("sending a request body upstream: {e}"))?;
            rec.bytes_up += take as u64;
            if done {
                self.buf = buf[take..n].to_vec();
                return Ok(());
            }
        }
    }

    /// After a request head with `Expect: 100-continue`, until one side
    /// speaks: `Some(true)` the upstream (its answer is to be read),
    /// `Some(false)` the client (the body comes), `None` neither within
    /// [`HEAD_TIMEOUT`].
    fn await_continue(&self) -> Option<bool> {
        let k = self.upstream.as_ref()?;
        let step = Duration::from_millis(20);
        let deadline = Instant::now() + HEAD_TIMEOUT;
        let mut b = [0u8; 1];
        let mut ready = |s: &TcpStream| {
            s.set_read_timeout(Some(step)).is_ok()
                && !matches!(s.peek(&mut b), Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted))
        };
        let answer = loop {
            if ready(&k.stream) {
                break Some(true);
            }
            if ready(&self.client) {
                break Some(false);
            }
            if Instant::now() >= deadline || self.shared.stop.load(Ordering::SeqCst) {
                break None;
            }
        };
        let _ = k.stream.set_read_timeout(None);
        let _ = self.client.set_read_timeout(None);
        answer
    }

    /// Reads a response head from the upstream connection. The error says
    /// whether nothing at all came back (a kept connection the upstream
    /// had closed: the request may be sent again on a new one).
    fn read_response(&mut self) -> Result<(body::ResponseHead, Vec<u8>), (String, bool)> {
        let Some(k) = self.upstream.as_mut() else {
            return Err(("no upstream connection".into(), false));
        };
        let mut head = Vec::new();
        let mut data = std::mem::take(&mut k.buf);
        let mut chunk = vec![0u8; 16 * 1024];
        let mut got_any = !data.is_empty();
        loop {
            let mut d = data.as_slice();
            match body::gather_head(&mut head, &mut d) {
                None => return Err(("the upstream's response head is too large".into(), false)),
                Some(true) => {
                    k.buf = d.to_vec();
                    return match body::parse_response(&head) {
                        Some(h) => Ok((h, head)),
                        None => Err(("the upstream sent a malformed response head".into(), false)),
                    };
                }
                Some(false) => {}
            }
            let n = match (&k.stream).read(&mut chunk) {
                Ok(0) => {
                    return Err((
                        "the upstream closed the connection before a response".into(),
                        !got_any,
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err((format!("reading the upstream's response: {e}"), !got_any)),
            };
            got_any = true;
            data = chunk[..n].to_vec();
        }
    }

    /// Writes to the client, counting.
    fn to_client(
        &self,
        bytes: &[u8],
        rec: &mut ConnectionRecord,
        track: &mut Option<(body::Requests, body::Responses)>,
    ) -> io::Result<()> {
        if let Some((_, resps)) = track.as_mut() {
            resps.feed(bytes);
        }
        (&self.client).write_all(bytes)?;
        rec.bytes_down += bytes.len() as u64;
        Ok(())
    }

    /// Plain HTTP: forwards one request in origin form and relays its
    /// response, keeping both connections open when both ends allow it.
    fn forward(
        &mut self,
        rec: &mut ConnectionRecord,
        target: &Target,
        req: &Plain<'_>,
        rest: Vec<u8>,
    ) -> Next {
        let shared = self.shared;
        let head = req.head;
        let framing = match request_framing(head) {
            Ok(f) => f,
            Err(why) => return self.refuse(rec, 400, why.into()),
        };
        let mut client_keep = persistent(&head.version, head.all("connection"));
        let expect = head
            .all("expect")
            .any(|v| v.eq_ignore_ascii_case("100-continue"));
        let mut framer = body::Framer::new(framing, true);
        let now = match framer.step(&rest) {
            body::Step::More => rest.len(),
            body::Step::Ended(n) => n,
            body::Step::Broken => {
                return self.refuse(rec, 400, "a malformed chunked request body".into())
            }
        };
        let mut body_sent = framer.ended();
        self.buf = rest[now..].to_vec();
        let mut track = shared.cfg.artifacts.as_ref().map(|_| {
            let pending = body::Pending::default();
            let mut reqs = body::Requests::new(req.shown.to_string(), pending.clone());
            reqs.feed(req.head_bytes);
            reqs.feed(&rest[..now]);
            (reqs, body::Responses::new(pending))
        });
        let _ = self.client.set_read_timeout(None);
        rec.status = 200;
        rec.bytes_up += now as u64;
        // An HTTP/1.0 request is sent with `Connection: close`.
        let upstream_keep_asked = head.version == "HTTP/1.1";
        // Credentials only fetch: an install reads from its index, and
        // confined code must not publish or delete with the user's account.
        let auth = matches!(head.method.as_str(), "GET" | "HEAD")
            .then(|| shared.auth_for(&target.host, target.port))
            .flatten();
        let mut out = forwarded_head(head, req.origin_form, upstream_keep_asked, auth.as_deref());
        out.extend_from_slice(&rest[..now]);
        let retryable =
            framing == body::Framing::Empty && matches!(head.method.as_str(), "GET" | "HEAD");
        let reused = match self.send_upstream(target, &out, true) {
            Ok(r) => r,
            Err(e) => {
                self.bad_gateway(rec, target, &e);
                return Next::Close;
            }
        };
        rec.upstream_reused = Some(reused);
        let mut retried = false;
        // `Expect: 100-continue`: the body once the upstream says so, or as
        // soon as the client sends it anyway (an upstream that ignores the
        // expectation waits for it).
        let body_now = !body_sent
            && (!expect
                || match self.await_continue() {
                    Some(upstream_first) => !upstream_first,
                    None => {
                        rec.reason = Some("neither side went on after Expect: 100-continue".into());
                        self.drop_upstream();
                        return Next::Close;
                    }
                });
        if body_now {
            if let Err(why) = self.relay_request_body(&mut framer, rec, &mut track) {
                rec.reason.get_or_insert(why);
                return Next::Close;
            }
            body_sent = true;
        }
        let mut interim_sent = false;
        let (resp, raw) = loop {
            match self.read_response() {
                Ok((resp, raw)) if resp.status == 101 => {
                    // The Upgrade header was not forwarded: an upstream
                    // switching protocols anyway gets the rest of the
                    // connection as a tunnel, never another request.
                    rec.response_status = Some(101);
                    return self.switch(rec, &raw);
                }
                Ok((resp, raw)) if (100..200).contains(&resp.status) => {
                    if let Err(e) = self.to_client(&raw, rec, &mut track) {
                        self.ended_with(rec, Err(e));
                        return Next::Close;
                    }
                    interim_sent = true;
                    if resp.status == 100 && !body_sent {
                        if let Err(why) = self.relay_request_body(&mut framer, rec, &mut track) {
                            rec.reason.get_or_insert(why);
                            return Next::Close;
                        }
                        body_sent = true;
                    }
                }
                Ok(x) => break x,
                Err((why, nothing)) => {
                    if nothing && reused && retryable && !retried && !interim_sent {
                        // The kept connection had been closed upstream: once
                        // more on a new one.
                        retried = true;
                        rec.upstream_reused = Some(false);
                        if let Err(e) = self.send_upstream(target, &out, false) {
                            self.bad_gateway(rec, target, &e);
                            return Next::Close;
                        }
                        continue;
                    }
                    self.drop_upstream();
                    if interim_sent {
                        rec.reason.get_or_insert(why);
                    } else {
                        rec.status = 502;
                        rec.reason.get_or_insert(why.clone());
                        let _ = respond(
                            &mut self.client,
                            502,
                            "Bad Gateway",
                            &format!("pkgward: the egress proxy: {why}\n"),
                        );
                    }
                    return Next::Close;
                }
            }
        };
        let _ = raw;
        rec.response_status = Some(resp.status);
        let bodiless = head.method == "HEAD" || resp.status == 204 || resp.status == 304;
        let te_and_cl = resp.all("transfer-encoding").next().is_some()
            && resp.all("content-length").next().is_some();
        let rframing = if bodiless {
            body::Framing::Empty
        } else {
            body::framing_of(&resp.headers, true).unwrap_or(body::Framing::Close)
        };
        let framed = rframing != body::Framing::Close && !te_and_cl;
        // A final answer before the body (an `Expect: 100-continue` the
        // upstream refused): the client may send the body or not, so
        // nothing after it can be told apart from a request.
        client_keep &= framed && body_sent && !shared.stop.load(Ordering::SeqCst);
        let mut upstream_keep = framed
            && body_sent
            && upstream_keep_asked
            && persistent(&resp.version, resp.all("connection"));
        let mut head_out = response_head(&resp, client_keep, &head.version, te_and_cl);
        let mut framer = body::Framer::new(rframing, false);
        let pending = self
            .upstream
            .as_mut()
            .map(|k| std::mem::take(&mut k.buf))
            .unwrap_or_default();
        let (mut done, mut complete) = (false, true);
        let take = match framer.step(&pending) {
            body::Step::More => pending.len(),
            body::Step::Ended(n) => {
                done = true;
                n
            }
            body::Step::Broken => {
                complete = false;
                done = true;
                pending.len()
            }
        };
        if take < pending.len() {
            // More than the response: the upstream connection is not reused.
            upstream_keep = false;
        }
        head_out.extend_from_slice(&pending[..take]);
        if let Err(e) = self.to_client(&head_out, rec, &mut track) {
            self.ended_with(rec, Err(e));
            return Next::Close;
        }
        let mut buf = vec![0u8; BUF];
        while !done {
            let Some(k) = self.upstream.as_ref() else {
                break;
            };
            let n = match (&k.stream).read(&mut buf) {
                Ok(0) => {
                    complete = rframing == body::Framing::Close;
                    upstream_keep = false;
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    rec.reason
                        .get_or_insert(format!("reading the upstream's response: {e}"));
                    complete = false;
                    break;
                }
            };
            let take = match framer.step(&buf[..n]) {
                body::Step::More => n,
                body::Step::Ended(m) => {
                    done = true;
                    if m < n {
                        upstream_keep = false;
                    }
                    m
                }
                body::Step::Broken => {
                    complete = false;
                    done = true;
                    n
                }
            };
            if let Err(e) = self.to_client(&buf[..take], rec, &mut track) {
                self.ended_with(rec, Err(e));
                complete = false;
                break;
            }
        }
        if let Some((_, mut resps)) = track.take() {
            resps.eof();
            let (host, port) = (target.host.to_string(), target.port);
            resps
                .done
                .drain(..)
                .for_each(|r| shared.artifact(r, &host, port));
        }
        if !complete {
            rec.reason
                .get_or_insert_with(|| "the upstream's response ended early".into());
            client_keep = false;
            upstream_keep = false;
        }
        if !upstream_keep {
            self.drop_upstream();
        }
        if client_keep {
            Next::Keep
        } else {
            Next::Close
        }
    }

    /// After a `101`: relays the head, then both ways until either ends.
    fn switch(&mut self, rec: &mut ConnectionRecord, raw: &[u8]) -> Next {
        let Some(k) = self.upstream.take() else {
            return Next::Close;
        };
        let mut first_down = raw.to_vec();
        first_down.extend_from_slice(&k.buf);
        if let Err(e) = (&self.client).write_all(&first_down) {
            self.ended_with(rec, Err(e));
            return Next::Close;
        }
        let up = AtomicU64::new(rec.bytes_up);
        let down = AtomicU64::new(rec.bytes_down + first_down.len() as u64);
        let first_up = std::mem::take(&mut self.buf);
        let result = tunnel(&self.client, &k.stream, &first_up, &up, &down, true, None);
        rec.bytes_up = up.load(Ordering::Relaxed);
        rec.bytes_down = down.load(Ordering::Relaxed);
        self.ended_with(rec, result);
        self.shared.set_upstream(self.id, None);
        Next::Close
    }
}

/// A plain-HTTP request, parsed and decided.
struct Plain<'a> {
    head: &'a http::Head,
    head_bytes: &'a [u8],
    origin_form: &'a str,
    shown: &'a str,
}

/// Whether a connection stays open after this message: HTTP/1.1 unless
/// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
fn persistent<'a>(version: &str, connection: impl Iterator<Item = &'a str>) -> bool {
    let tokens: Vec<String> = connection
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    if tokens.iter().any(|t| t == "close") {
        return false;
    }
    version == "HTTP/1.1" || tokens.iter().any(|t| t == "keep-alive")
}

/// The framing of a request body, strictly: one of `Content-Length` or
/// `Transfer-Encoding: chunked` (HTTP/1.1), never both, nothing else. Any
/// doubt is a refusal (request smuggling lives in the differences between
/// two parsers).
fn request_framing(head: &http::Head) -> Result<body::Framing, &'static str> {
    let te: Vec<&str> = head.all("transfer-encoding").collect();
    let cl = head.all("content-length").next().is_some();
    if !te.is_empty() {
        if cl {
            return Err("a request with both Content-Length and Transfer-Encoding");
        }
        if head.version != "HTTP/1.1" {
            return Err("Transfer-Encoding in an HTTP/1.0 request");
        }
        if te.len() != 1 || !te[0].eq_ignore_ascii_case("chunked") {
            return Err("a Transfer-Encoding other than chunked");
        }
        return Ok(body::Framing::Chunked);
    }
    body::framing_of(&head.headers, false).ok_or("an invalid or conflicting Content-Length")
}

/// The response head relayed to the client: the upstream's, hop-by-hop
/// headers dropped, `Connection` saying whether the proxy keeps the client
/// connection (`Content-Length` dropped beside `Transfer-Encoding`).
fn response_head(
    resp: &body::ResponseHead,
    keep: bool,
    client_version: &str,
    te_and_cl: bool,
) -> Vec<u8> {
    let hop = hop_by_hop(resp.all("connection"));
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(resp.line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for ((k, v), name) in resp.headers.iter().zip(&resp.names) {
        if matches!(k.as_str(), "connection" | "keep-alive" | "proxy-connection")
            || hop.contains(k)
            || (te_and_cl && k == "content-length")
        {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(match (keep, client_version == "HTTP/1.1") {
        (false, _) => b"Connection: close\r\n\r\n".as_slice(),
        (true, true) => b"\r\n",
        (true, false) => b"Connection: keep-alive\r\n\r\n",
    });
    out
}

/// The headers a `Connection` header names (never the message's framing
/// or `Host`: naming those is no reason to drop them).
fn hop_by_hop<'a>(connection: impl Iterator<Item = &'a str>) -> Vec<String> {
    connection
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| {
            !t.is_empty() && !matches!(t.as_str(), "content-length" | "transfer-encoding" | "host")
        })
        .collect()
}

/// Whether a kept upstream connection is still open (nothing to read, no
/// end of stream): checked before a request is sent on it.
fn still_open(s: &TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return false;
    }
    let mut b = [0u8; 1];
    let open = matches!(s.peek(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
    s.set_nonblocking(false).is_ok() && open
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
/// proxy headers dropped, `Connection: keep-alive` (`keep`, HTTP/1.1) or
/// `Connection: close`; with `auth`, that `Authorization` instead of the
/// client's.
fn forwarded_head(head: &http::Head, origin_form: &str, keep: bool, auth: Option<&str>) -> Vec<u8> {
    let hop = hop_by_hop(head.all("connection"));
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
            || (auth.is_some() && lk == "authorization")
        {
            continue;
        }
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(a) = auth {
        out.extend_from_slice(b"Authorization: ");
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(if keep {
        b"Connection: keep-alive\r\n\r\n".as_slice()
    } else {
        b"Connection: close\r\n\r\n"
    });
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
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A complete plain-text answer that closes the connection.
fn error_response(status: u16, phrase: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         X-Pkgward: egress-proxy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn respond(s: &mut TcpStream, status: u16, phrase: &str, body: &str) -> io::Result<()> {
    let msg = error_response(status, phrase, body);
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
