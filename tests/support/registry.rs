//! A small HTTP/1.1 server on 127.0.0.1 for tests: a route table of static
//! responses (added to while it runs), a hit log, keep-alive, HEAD, 404 for
//! unknown paths. Plus [`Listener`], which only records raw connections.
//!
//! Both stop when dropped (a server kept in a `static` lives until the test
//! binary exits, which is fine).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

/// How long a connection thread blocks in one read before it looks at the
/// stop flag again.
const POLL: Duration = Duration::from_millis(100);
/// An idle keep-alive connection is closed after this long.
const IDLE: Duration = Duration::from_secs(30);
const MAX_HEAD: usize = 64 * 1024;

/// One canned response.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Arc<Vec<u8>>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type: content_type.to_string(),
            headers: Vec::new(),
            body: Arc::new(body.into()),
        }
    }

    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response::new(200, content_type, body)
    }

    pub fn json(body: &serde_json::Value) -> Response {
        Response::ok("application/json", serde_json::to_vec(body).unwrap())
    }

    /// A redirect (302) to `location`, e.g. to a host a test did not approve.
    pub fn redirect(location: &str) -> Response {
        Response::new(302, "text/plain", Vec::new()).header("Location", location)
    }

    pub fn not_found() -> Response {
        Response::new(404, "text/plain", b"not found\n".to_vec())
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// What a path serves: one response, or several picked by the request's
/// `Accept` header (highest q, judged by the most specific matching range;
/// list order breaks ties; the first of all when nothing matches).
#[derive(Clone, Debug)]
pub enum Route {
    Fixed(Response),
    Negotiated(Vec<Response>),
}

impl Route {
    fn pick(&self, accept: Option<&str>) -> &Response {
        match self {
            Route::Fixed(r) => r,
            Route::Negotiated(list) => {
                let prefs = parse_accept(accept.unwrap_or(""));
                let mut best: Option<(f32, &Response)> = None;
                for r in list {
                    let ct = r.content_type.split(';').next().unwrap_or("").trim();
                    let q = accept_q(&prefs, ct);
                    if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                        best = Some((q, r));
                    }
                }
                best.map(|(_, r)| r).unwrap_or(&list[0])
            }
        }
    }
}

/// `Accept` entries as (media range, q).
fn parse_accept(accept: &str) -> Vec<(String, f32)> {
    accept
        .split(',')
        .filter_map(|part| {
            let mut it = part.split(';');
            let range = it.next()?.trim().to_ascii_lowercase();
            if range.is_empty() {
                return None;
            }
            let q = it
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((range, q))
        })
        .collect()
}

/// The q of the most specific range matching `ct` (0 when none does).
fn accept_q(prefs: &[(String, f32)], ct: &str) -> f32 {
    let ct = ct.to_ascii_lowercase();
    let major = ct.split('/').next().unwrap_or("");
    let mut best: Option<(u8, f32)> = None;
    for (range, q) in prefs {
        let spec = if *range == ct {
            3
        } else if range.strip_suffix("/*") == Some(major) {
            2
        } else if range == "*/*" {
            1
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| spec > s) {
            best = Some((spec, *q));
        }
    }
    best.map(|(_, q)| q).unwrap_or(0.0)
}

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Hit {
    pub method: String,
    /// The request target exactly as sent (may hold `%2f`, a query, …).
    pub target: String,
    /// `target` without its query, percent-decoded: what routes match.
    pub path: String,
    /// The `Host` header, if any.
    pub host: Option<String>,
    pub headers: Vec<(String, String)>,
    /// Status and content type of the response served.
    pub status: u16,
    pub content_type: String,
    pub peer: SocketAddr,
    pub at: SystemTime,
}

impl Hit {
    /// A header's value (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    routes: RwLock<HashMap<String, Route>>,
    hits: Mutex<Vec<Hit>>,
    stop: AtomicBool,
}

/// A cheap, cloneable handle on a running server's routes and hit log.
/// It does not keep the server running: only [`HttpServer`] does.
#[derive(Clone)]
pub struct ServerHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl ServerHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `base_url()` + `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Serves `body` at `path` (a decoded path without query, starting
    /// with `/`), replacing whatever was there.
    pub fn serve(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) {
        self.route(path, Route::Fixed(Response::ok(content_type, body)));
    }

    pub fn respond(&self, path: &str, response: Response) {
        self.route(path, Route::Fixed(response));
    }

    pub fn route(&self, path: &str, route: Route) {
        assert!(
            path.starts_with('/'),
            "route path must start with '/': {path}"
        );
        self.shared
            .routes
            .write()
            .unwrap()
            .insert(path.to_string(), route);
    }

    pub fn remove(&self, path: &str) {
        self.shared.routes.write().unwrap().remove(path);
    }

    pub fn has_route(&self, path: &str) -> bool {
        self.shared.routes.read().unwrap().contains_key(path)
    }

    /// Every request so far, oldest first.
    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// Requests whose decoded path starts with `prefix`.
    pub fn hits_under(&self, prefix: &str) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.path.starts_with(prefix))
            .collect()
    }

    /// Decoded paths of every request so far, oldest first.
    pub fn paths(&self) -> Vec<String> {
        self.hits().into_iter().map(|h| h.path).collect()
    }

    /// Whether some request (any method) asked for exactly `path`.
    pub fn was_requested(&self, path: &str) -> bool {
        self.shared
            .hits
            .lock()
            .unwrap()
            .iter()
            .any(|h| h.path == path)
    }

    /// How many requests so far: take it before an action, then look at
    /// `hits_since(mark)` (only meaningful when no other test shares the
    /// server at the same time; otherwise filter by path).
    pub fn mark(&self) -> usize {
        self.shared.hits.lock().unwrap().len()
    }

    pub fn hits_since(&self, mark: usize) -> Vec<Hit> {
        self.shared.hits.lock().unwrap()[mark..].to_vec()
    }

    pub fn clear_hits(&self) {
        self.shared.hits.lock().unwrap().clear();
    }
}

/// The running server. Dropping it stops it.
pub struct HttpServer {
    handle: ServerHandle,
    accept: Option<JoinHandle<()>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl std::ops::Deref for HttpServer {
    type Target = ServerHandle;
    fn deref(&self) -> &ServerHandle {
        &self.handle
    }
}

impl HttpServer {
    /// Starts a server on `127.0.0.1:0` (a free port).
    pub fn start() -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (s, c) = (shared.clone(), conns.clone());
        let accept = thread::Builder::new()
            .name(format!("http-{}", addr.port()))
            .spawn(move || {
                for stream in listener.incoming() {
                    if s.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let s2 = s.clone();
                    let h = thread::spawn(move || serve_connection(stream, &s2));
                    let mut list = c.lock().unwrap();
                    list.retain(|h| !h.is_finished());
                    list.push(h);
                }
            })
            .expect("spawn accept thread");
        HttpServer {
            handle: ServerHandle { addr, shared },
            accept: Some(accept),
            conns,
        }
    }

    /// A handle that can be cloned and moved around.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.handle.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.handle.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for h in self.conns.lock().unwrap().drain(..) {
            let _ = h.join();
        }
    }
}

struct Request {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        if self.version == "HTTP/1.0" {
            conn.contains("keep-alive")
        } else {
            !conn.contains("close")
        }
    }
}

/// Reads from `stream` into `buf`; `Ok(false)` on EOF, idle timeout or stop.
fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, stop: &AtomicBool, idle_since: Instant) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if stop.load(Ordering::SeqCst) || idle_since.elapsed() > IDLE {
            return false;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return true;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn serve_connection(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_nodelay(true);
    let peer = match stream.peer_addr() {
        Ok(p) => p,
        Err(_) => return,
    };
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Read one request head.
        let idle = Instant::now();
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            if buf.len() > MAX_HEAD || !fill(&mut stream, &mut buf, &shared.stop, idle) {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end + 4);
        let Some(req) = parse_head(&head) else {
            let _ = stream.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        };
        // Read (and drop) a body, if any.
        if req
            .header("transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
        {
            if !skip_chunked(&mut stream, &mut buf, &shared.stop) {
                return;
            }
        } else {
            let len: usize = req
                .header("content-length")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let idle = Instant::now();
            while buf.len() < len {
                if !fill(&mut stream, &mut buf, &shared.stop, idle) {
                    return;
                }
            }
            buf.drain(..len);
        }

        let path = decode_path(&req.target);
        let response = shared
            .routes
            .read()
            .unwrap()
            .get(&path)
            .map(|r| r.pick(req.header("accept")).clone())
            .unwrap_or_else(Response::not_found);
        let keep = req.keep_alive();
        shared.hits.lock().unwrap().push(Hit {
            method: req.method.clone(),
            target: req.target.clone(),
            path,
            host: req.header("host").map(str::to_string),
            headers: req.headers.clone(),
            status: response.status,
            content_type: response.content_type.clone(),
            peer,
            at: SystemTime::now(),
        });
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n",
            response.status,
            reason(response.status),
            response.content_type,
            response.body.len(),
            if keep { "keep-alive" } else { "close" },
        );
        for (k, v) in &response.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if req.method != "HEAD" {
            bytes.extend_from_slice(&response.body);
        }
        if stream.write_all(&bytes).is_err() || stream.flush().is_err() {
            return;
        }
        if !keep {
            let _ = stream.shutdown(Shutdown::Write);
            return;
        }
    }
}

fn skip_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>, stop: &AtomicBool) -> bool {
    let idle = Instant::now();
    loop {
        let line_end = loop {
            if let Some(i) = find(buf, b"\r\n") {
                break i;
            }
            if !fill(stream, buf, stop, idle) {
                return false;
            }
        };
        let line = String::from_utf8_lossy(&buf[..line_end]).into_owned();
        buf.drain(..line_end + 2);
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16);
        let Ok(size) = size else { return false };
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                let end = loop {
                    if let Some(i) = find(buf, b"\r\n") {
                        break i;
                    }
                    if !fill(stream, buf, stop, idle) {
                        return false;
                    }
                };
                buf.drain(..end + 2);
                if end == 0 {
                    return true;
                }
            }
        }
        while buf.len() < size + 2 {
            if !fill(stream, buf, stop, idle) {
                return false;
            }
        }
        buf.drain(..size + 2);
    }
}

fn parse_head(head: &str) -> Option<Request> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let version = first.next()?.to_string();
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let headers = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Some(Request {
        method,
        target,
        version,
        headers,
    })
}

/// The path part of a request target, percent-decoded (an absolute-form
/// target, as sent to a proxy, is reduced to its path).
pub fn decode_path(target: &str) -> String {
    let mut t = target;
    if let Some(rest) = t
        .strip_prefix("http://")
        .or_else(|| t.strip_prefix("https://"))
    {
        t = rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
    }
    let t = t.split(['?', '#']).next().unwrap_or("");
    let bytes = t.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

/// One connection a [`Listener`] accepted.
#[derive(Clone, Debug)]
pub struct Connection {
    pub peer: SocketAddr,
    pub at: SystemTime,
    /// What arrived (up to the end of a request head, EOF, or 1 s idle).
    pub bytes: Vec<u8>,
}

impl Connection {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// A TCP listener on `127.0.0.1:0` that answers nothing useful: it records
/// every connection and what was sent on it, then closes it. For "the
/// unapproved registry received nothing" assertions. Stops when dropped.
pub struct Listener {
    addr: SocketAddr,
    conns: Arc<Mutex<Vec<Arc<Mutex<Connection>>>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Listener {
    pub fn start() -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let conns: Arc<Mutex<Vec<Arc<Mutex<Connection>>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (conns.clone(), stop.clone());
        let accept = thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let conn = Arc::new(Mutex::new(Connection {
                    peer: stream.peer_addr().unwrap_or(addr),
                    at: SystemTime::now(),
                    bytes: Vec::new(),
                }));
                c.lock().unwrap().push(conn.clone());
                let s2 = s.clone();
                thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(POLL));
                    let mut last = Instant::now();
                    let mut chunk = [0u8; 4096];
                    while !s2.load(Ordering::SeqCst) && last.elapsed() < Duration::from_secs(1) {
                        match stream.read(&mut chunk) {
                            Ok(0) => break,
                            Ok(n) => {
                                let mut g = conn.lock().unwrap();
                                g.bytes.extend_from_slice(&chunk[..n]);
                                last = Instant::now();
                                if find(&g.bytes, b"\r\n\r\n").is_some() {
                                    break;
                                }
                            }
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    ErrorKind::WouldBlock
                                        | ErrorKind::TimedOut
                                        | ErrorKind::Interrupted
                                ) => {}
                            Err(_) => break,
                        }
                    }
                    let _ = stream.shutdown(Shutdown::Both);
                });
            }
        });
        Listener {
            addr,
            conns,
            stop,
            accept: Some(accept),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every connection so far, with what it sent so far.
    pub fn connections(&self) -> Vec<Connection> {
        self.conns
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.lock().unwrap().clone())
            .collect()
    }

    /// Panics, listing what arrived, if anything connected.
    pub fn assert_untouched(&self) {
        let conns = self.connections();
        assert!(
            conns.is_empty(),
            "listener {} got {} connection(s): {:?}",
            self.addr,
            conns.len(),
            conns.iter().map(Connection::text).collect::<Vec<_>>()
        );
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}
