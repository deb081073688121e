//! Following the plain-HTTP messages the proxy relays, to record each
//! response body's size and sha256 while it streams through (nothing is
//! buffered but a head or a chunk-size line).
//!
//! Two trackers watch one relayed connection: [`Requests`] the bytes from
//! the tool (for each request's method and URL, skipping request bodies),
//! [`Responses`] the bytes back (pairing each final response with the
//! oldest unanswered request, in order, as HTTP/1.1 requires). Framing
//! follows RFC 9112 §6.3: no body after `HEAD` or for 1xx/204/304; a
//! `Transfer-Encoding` ending in `chunked` is decoded and the decoded bytes
//! hashed; another `Transfer-Encoding`, or neither header, means the body
//! lasts until the connection closes; otherwise `Content-Length`. Several
//! requests on one connection (keep-alive, pipelining) are followed in turn.
//!
//! The trackers only observe: the bytes are relayed unchanged whatever they
//! make of them. Input they cannot follow (a malformed head, a bad chunk
//! size, conflicting lengths) stops the tracking of that connection — no
//! record is better than a wrong one — and a body cut short is recorded
//! with its size and no sha256.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// The longest message head followed (larger ones stop the tracking).
const MAX_HEAD: usize = 64 * 1024;
/// The longest chunk-size or trailer line.
const MAX_LINE: usize = 8 * 1024;
/// Requests sent but not yet answered, at most (pipelining beyond this
/// stops the tracking).
const MAX_PENDING: usize = 1024;

/// One request the tool sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub method: String,
    /// The URL without query or credentials.
    pub url: String,
}

/// A response body relayed in full (or cut short).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relayed {
    pub method: String,
    pub url: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub size: u64,
    /// `None` when the body ended early.
    pub sha256: Option<String>,
}

/// The requests sent on a connection and not yet answered.
pub type Pending = Arc<Mutex<VecDeque<Sent>>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Head,
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailer,
    Close,
    Broken,
}

enum Progress {
    /// The message ended (the rest of the input is the next message).
    Ended,
    /// All input was consumed; the message goes on.
    More,
    Broken,
}

/// Steps through body bytes in state `st`, handing the payload to `sink`.
fn body(
    st: &mut St,
    line: &mut Vec<u8>,
    data: &mut &[u8],
    sink: &mut dyn FnMut(&[u8]),
) -> Progress {
    body_with(st, line, data, sink, false)
}

/// [`body`]; `strict`: chunk-size and trailer lines must end in CRLF and a
/// chunk size carries no whitespace (what the proxy demands of requests it
/// relays, so that it and the upstream cannot disagree on where one ends).
fn body_with(
    st: &mut St,
    line: &mut Vec<u8>,
    data: &mut &[u8],
    sink: &mut dyn FnMut(&[u8]),
    strict: bool,
) -> Progress {
    loop {
        if data.is_empty() {
            return match st {
                St::Length(0) => Progress::Ended,
                _ => Progress::More,
            };
        }
        match *st {
            St::Length(left) => {
                let n = (left.min(data.len() as u64)) as usize;
                sink(&data[..n]);
                *data = &data[n..];
                *st = St::Length(left - n as u64);
                if left == n as u64 {
                    return Progress::Ended;
                }
            }
            St::Close => {
                sink(data);
                *data = &[];
            }
            St::ChunkData(left) => {
                let n = (left.min(data.len() as u64)) as usize;
                sink(&data[..n]);
                *data = &data[n..];
                *st = if left == n as u64 {
                    St::ChunkEnd
                } else {
                    St::ChunkData(left - n as u64)
                };
            }
            St::ChunkSize | St::ChunkEnd | St::Trailer => {
                let Some((l, crlf)) = take_line(line, data) else {
                    if line.len() > MAX_LINE {
                        return Progress::Broken;
                    }
                    continue;
                };
                if strict && (!crlf || l.len() > MAX_LINE) {
                    return Progress::Broken;
                }
                if strict && *st == St::ChunkSize && (l.contains(&b' ') || l.contains(&b'\t')) {
                    return Progress::Broken;
                }
                match *st {
                    St::ChunkEnd => {
                        if !l.is_empty() {
                            return Progress::Broken;
                        }
                        *st = St::ChunkSize;
                    }
                    St::ChunkSize => match chunk_size(&l) {
                        Some(0) => *st = St::Trailer,
                        Some(n) => *st = St::ChunkData(n),
                        None => return Progress::Broken,
                    },
                    _ => {
                        if l.is_empty() {
                            return Progress::Ended;
                        }
                    }
                }
            }
            St::Head | St::Broken => return Progress::Broken,
        }
    }
}

/// Moves bytes from `data` into `line` up to and including a CRLF; returns
/// the line without it once complete (and whether it ended in CRLF rather
/// than a bare LF).
fn take_line(line: &mut Vec<u8>, data: &mut &[u8]) -> Option<(Vec<u8>, bool)> {
    match memchr::memchr(b'\n', data) {
        Some(i) => {
            line.extend_from_slice(&data[..=i]);
            *data = &data[i + 1..];
            let mut l = std::mem::take(line);
            l.pop();
            let crlf = l.last() == Some(&b'\r');
            if crlf {
                l.pop();
            }
            Some((l, crlf))
        }
        None => {
            line.extend_from_slice(data);
            *data = &[];
            None
        }
    }
}

fn chunk_size(line: &[u8]) -> Option<u64> {
    let end = line.iter().position(|&b| b == b';').unwrap_or(line.len());
    let hex = std::str::from_utf8(&line[..end])
        .ok()?
        .trim_matches([' ', '\t']);
    if hex.is_empty() || hex.len() > 15 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Moves bytes from `data` into `buf` up to and including the blank line
/// ending a head; returns true once the head is complete.
fn take_head(buf: &mut Vec<u8>, data: &mut &[u8]) -> bool {
    let from = buf.len().saturating_sub(3);
    let keep = data.len().min(MAX_HEAD + 4 - buf.len().min(MAX_HEAD + 4));
    buf.extend_from_slice(&data[..keep]);
    match memchr::memmem::find(&buf[from..], b"\r\n\r\n") {
        Some(i) => {
            let end = from + i + 4;
            let extra = buf.len() - end;
            buf.truncate(end);
            *data = &data[keep - extra..];
            true
        }
        None => {
            *data = &data[keep..];
            false
        }
    }
}

struct Head {
    first: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn parse(bytes: &[u8]) -> Option<Head> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.strip_suffix("\r\n\r\n")?.split("\r\n");
        let first = lines.next()?.to_string();
        let mut headers = Vec::new();
        for l in lines {
            let (k, v) = l.split_once(':')?;
            if k.is_empty() || k.contains([' ', '\t']) {
                return None;
            }
            headers.push((
                k.to_ascii_lowercase(),
                v.trim_matches([' ', '\t']).to_string(),
            ));
        }
        Some(Head { first, headers })
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The framing a body with these headers has: `Some(st)`, or `None` for
    /// headers that cannot be followed. `close` is what no length means
    /// (responses: read to close; requests: no body).
    fn framing(&self, close: St) -> Option<St> {
        let te: Vec<String> = self
            .all("transfer-encoding")
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        if !te.is_empty() {
            return if te.last().map(String::as_str) == Some("chunked") {
                Some(St::ChunkSize)
            } else if close == St::Close {
                Some(St::Close)
            } else {
                None
            };
        }
        let mut len = None;
        for v in self.all("content-length").flat_map(|v| v.split(',')) {
            let v = v.trim();
            if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: u64 = v.parse().ok()?;
            if len.is_some_and(|l| l != n) {
                return None;
            }
            len = Some(n);
        }
        Some(len.map_or(close, St::Length))
    }
}

/// How a message body the proxy relays is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body (a request without length, a `HEAD` answer, 1xx/204/304).
    Empty,
    Length(u64),
    Chunked,
    /// Until the connection closes (responses only).
    Close,
}

/// The framing the headers of a message give its body (`response`: no
/// length means read to close, else no body); `None` when they cannot be
/// followed (conflicting or invalid `Content-Length`, a request whose
/// `Transfer-Encoding` does not end in `chunked`). `headers`' names in any
/// case.
pub fn framing_of(headers: &[(String, String)], response: bool) -> Option<Framing> {
    let head = Head {
        first: String::new(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect(),
    };
    let st = head.framing(if response { St::Close } else { St::Length(0) })?;
    Some(match st {
        St::Length(0) if !response => Framing::Empty,
        St::Length(n) => Framing::Length(n),
        St::ChunkSize => Framing::Chunked,
        _ => Framing::Close,
    })
}

/// Finds where a body ends in the bytes relayed, with the trackers' state
/// machine (nothing is buffered but a chunk-size line).
pub struct Framer {
    st: St,
    line: Vec<u8>,
    strict: bool,
}

/// What [`Framer::step`] made of some bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// All the bytes belong to the body, which goes on.
    More,
    /// The body ended after the first `n` bytes (the rest is not its).
    Ended(usize),
    /// The bytes are not a body in this framing (a bad chunk line).
    Broken,
}

impl Framer {
    /// `strict`: chunk lines must end in CRLF, chunk sizes carry no
    /// whitespace (for requests).
    pub fn new(f: Framing, strict: bool) -> Framer {
        let st = match f {
            Framing::Empty => St::Length(0),
            Framing::Length(n) => St::Length(n),
            Framing::Chunked => St::ChunkSize,
            Framing::Close => St::Close,
        };
        Framer {
            st,
            line: Vec::new(),
            strict,
        }
    }

    /// Whether the body is complete (an empty one is from the start).
    pub fn ended(&self) -> bool {
        self.st == St::Head || self.st == St::Length(0)
    }

    /// Steps through the next bytes relayed.
    pub fn step(&mut self, data: &[u8]) -> Step {
        if self.ended() {
            self.st = St::Head;
            return Step::Ended(0);
        }
        let mut rest = data;
        match body_with(
            &mut self.st,
            &mut self.line,
            &mut rest,
            &mut |_| {},
            self.strict,
        ) {
            Progress::Ended => {
                self.st = St::Head;
                Step::Ended(data.len() - rest.len())
            }
            Progress::More => Step::More,
            Progress::Broken => {
                self.st = St::Broken;
                Step::Broken
            }
        }
    }
}

/// A response head the proxy relays.
#[derive(Clone, Debug)]
pub struct ResponseHead {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    pub status: u16,
    /// The status line without its CRLF.
    pub line: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    /// The names as sent, in the same order.
    pub names: Vec<String>,
}

impl ResponseHead {
    /// The values of a header (`name` in lowercase).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Gathers a response head from the bytes read: moves them from `data`
/// into `buf` up to the blank line. `Some(true)` once complete, `None`
/// when the head grows past the limit.
pub fn gather_head(buf: &mut Vec<u8>, data: &mut &[u8]) -> Option<bool> {
    let done = take_head(buf, data);
    if !done && buf.len() > MAX_HEAD {
        return None;
    }
    Some(done)
}

/// Parses a response head gathered by [`gather_head`]: `HTTP/1.x`, a
/// three-digit status; `None` for anything else.
pub fn parse_response(bytes: &[u8]) -> Option<ResponseHead> {
    let head = Head::parse(bytes)?;
    let mut parts = head.first.splitn(3, ' ');
    let (version, code) = (parts.next()?, parts.next()?);
    if !(version == "HTTP/1.1" || version == "HTTP/1.0") || code.len() != 3 {
        return None;
    }
    let control = |t: &str| t.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f);
    if !code.bytes().all(|b| b.is_ascii_digit())
        || control(&head.first)
        || head.headers.iter().any(|(k, v)| control(k) || control(v))
    {
        return None;
    }
    let names = std::str::from_utf8(bytes)
        .ok()?
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
        .collect::<Vec<_>>();
    if names.len() != head.headers.len() {
        return None;
    }
    Some(ResponseHead {
        version: version.to_string(),
        status: code.parse().ok()?,
        line: head.first.clone(),
        headers: head.headers,
        names,
    })
}

/// The URL a request target names, for the record: query, fragment and
/// credentials dropped; origin-form targets completed with `base`.
fn shown_url(target: &str, base: &str) -> String {
    let parsed = if target.starts_with('/') {
        url::Url::parse(base).and_then(|b| b.join(target))
    } else {
        url::Url::parse(target)
    };
    match parsed {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => String::new(),
    }
}

/// Follows the requests a tool sends on one connection.
pub struct Requests {
    st: St,
    buf: Vec<u8>,
    base: String,
    pending: Pending,
}

impl Requests {
    /// `base`: `http://host:port` of the connection's first request.
    pub fn new(base: String, pending: Pending) -> Requests {
        Requests {
            st: St::Head,
            buf: Vec::new(),
            base,
            pending,
        }
    }

    /// Bytes the tool sent (before they are relayed upstream).
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.st {
                St::Broken => return,
                St::Head => {
                    if !take_head(&mut self.buf, &mut data) {
                        if self.buf.len() > MAX_HEAD {
                            self.st = St::Broken;
                        }
                        continue;
                    }
                    let head = Head::parse(&self.buf);
                    self.buf.clear();
                    let Some(head) = head else {
                        self.broken();
                        return;
                    };
                    let mut parts = head.first.split(' ');
                    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
                        self.broken();
                        return;
                    };
                    let Some(st) = head.framing(St::Length(0)) else {
                        self.broken();
                        return;
                    };
                    let Ok(mut p) = self.pending.lock() else {
                        return;
                    };
                    if p.len() >= MAX_PENDING {
                        drop(p);
                        self.broken();
                        return;
                    }
                    p.push_back(Sent {
                        method: method.to_string(),
                        url: shown_url(target, &self.base),
                    });
                    self.st = if st == St::Length(0) { St::Head } else { st };
                }
                _ => match body(&mut self.st, &mut self.buf, &mut data, &mut |_| {}) {
                    Progress::Ended => {
                        self.st = St::Head;
                        self.buf.clear();
                    }
                    Progress::More => {}
                    Progress::Broken => self.broken(),
                },
            }
        }
    }

    /// The requests can no longer be told apart: the responses cannot be
    /// paired either.
    fn broken(&mut self) {
        self.st = St::Broken;
        if let Ok(mut p) = self.pending.lock() {
            // A marker the response side stops at (the requests before it
            // are still answered in order).
            p.push_back(Sent {
                method: String::new(),
                url: String::new(),
            });
        }
    }
}

struct Current {
    sent: Sent,
    status: u16,
    content_type: Option<String>,
    hasher: Sha256,
    size: u64,
}

/// Follows the responses relayed back on one connection.
pub struct Responses {
    st: St,
    buf: Vec<u8>,
    pending: Pending,
    cur: Option<Current>,
    /// Bodies relayed in full or cut short, for the caller to take.
    pub done: Vec<Relayed>,
}

impl Responses {
    pub fn new(pending: Pending) -> Responses {
        Responses {
            st: St::Head,
            buf: Vec::new(),
            pending,
            cur: None,
            done: Vec::new(),
        }
    }

    /// Bytes from upstream (before they are relayed to the tool).
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.st {
                St::Broken => return,
                St::Head => {
                    if !take_head(&mut self.buf, &mut data) {
                        if self.buf.len() > MAX_HEAD {
                            self.st = St::Broken;
                        }
                        continue;
                    }
                    let head = Head::parse(&self.buf);
                    self.buf.clear();
                    if !self.start(head) {
                        self.st = St::Broken;
                        return;
                    }
                }
                _ => {
                    let cur = &mut self.cur;
                    let mut sink = |b: &[u8]| {
                        if let Some(c) = cur.as_mut() {
                            c.hasher.update(b);
                            c.size += b.len() as u64;
                        }
                    };
                    match body(&mut self.st, &mut self.buf, &mut data, &mut sink) {
                        Progress::Ended => self.end(true),
                        Progress::More => {}
                        Progress::Broken => {
                            self.end(false);
                            self.st = St::Broken;
                        }
                    }
                }
            }
        }
        // A zero-length body ends without further input.
        if self.st == St::Length(0) {
            self.end(true);
        }
    }

    /// The connection from upstream ended.
    pub fn eof(&mut self) {
        match self.st {
            St::Close => self.end(true),
            St::Head | St::Broken => {}
            _ => self.end(false),
        }
        self.st = St::Broken;
    }

    /// A response head: pairs it with its request and sets the framing.
    fn start(&mut self, head: Option<Head>) -> bool {
        let Some(head) = head else { return false };
        let mut parts = head.first.splitn(3, ' ');
        let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
            return false;
        };
        if !version.starts_with("HTTP/1.") || code.len() != 3 {
            return false;
        }
        let Ok(status) = code.parse::<u16>() else {
            return false;
        };
        if (100..200).contains(&status) {
            // Interim: the final response follows for the same request.
            return true;
        }
        let sent = match self.pending.lock() {
            Ok(mut p) => p.pop_front(),
            Err(_) => None,
        };
        let Some(sent) = sent.filter(|s| !s.method.is_empty()) else {
            return false;
        };
        if sent.method == "HEAD" || status == 204 || status == 304 {
            return true;
        }
        let Some(st) = head.framing(St::Close) else {
            return false;
        };
        self.cur = Some(Current {
            sent,
            status,
            content_type: head.all("content-type").next().map(str::to_string),
            hasher: Sha256::new(),
            size: 0,
        });
        self.st = st;
        true
    }

    fn end(&mut self, complete: bool) {
        self.st = St::Head;
        self.buf.clear();
        if let Some(c) = self.cur.take() {
            let digest = c.hasher.finalize();
            self.done.push(Relayed {
                method: c.sent.method,
                url: c.sent.url,
                status: c.status,
                content_type: c.content_type,
                size: c.size,
                sha256: complete.then(|| crate::record::hash::hex(&digest)),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(b: &[u8]) -> Option<String> {
        Some(crate::record::hash::sha256_bytes(b))
    }

    /// Feeds `reqs` then `resps` in pieces of every size from 1 up, and
    /// checks each split gives the same result.
    fn run(reqs: &[u8], resps: &[u8], eof: bool) -> Vec<Relayed> {
        let mut first: Option<Vec<Relayed>> = None;
        for step in [1usize, 2, 3, 5, 7, 64, usize::MAX] {
            let pending = Pending::default();
            let mut q = Requests::new("http://a.test:80".into(), pending.clone());
            for c in reqs.chunks(step.min(reqs.len().max(1))) {
                q.feed(c);
            }
            let mut r = Responses::new(pending);
            for c in resps.chunks(step.min(resps.len().max(1))) {
                r.feed(c);
            }
            if eof {
                r.eof();
            }
            match &first {
                None => first = Some(r.done.clone()),
                Some(f) => assert_eq!(f, &r.done, "split {step}"),
            }
        }
        first.unwrap()
    }

    #[test]
    fn content_length_chunked_and_close() {
        let got = run(
            b"GET http://a.test/x.tgz?tok=1 HTTP/1.1\r\nHost: a.test\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: application/octet-stream\r\n\r\nhello",
            false,
        );
        assert_eq!(
            got,
            [Relayed {
                method: "GET".into(),
                url: "http://a.test/x.tgz".into(),
                status: 200,
                content_type: Some("application/octet-stream".into()),
                size: 5,
                sha256: sha(b"hello"),
            }]
        );
        let got = run(
            b"GET http://a.test/c HTTP/1.1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0004\r\ndefg\r\n0\r\nX-T: 1\r\n\r\n",
            false,
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].size, 7);
        assert_eq!(got[0].sha256, sha(b"abcdefg"));
        // Close-delimited: complete at EOF only.
        let reqs = b"GET http://a.test/d HTTP/1.0\r\n\r\n";
        let resp = b"HTTP/1.0 200 OK\r\n\r\nuntil close";
        assert!(run(reqs, resp, false).is_empty());
        let got = run(reqs, resp, true);
        assert_eq!(got[0].sha256, sha(b"until close"));
        // Transfer-Encoding without chunked last: until close.
        let got = run(
            reqs,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz",
            true,
        );
        assert_eq!(got[0].size, 2);
    }

    #[test]
    fn keep_alive_with_bodiless_responses_in_between() {
        let reqs = b"HEAD http://a.test/h HTTP/1.1\r\n\r\n\
                     GET /one HTTP/1.1\r\nHost: a.test\r\n\r\n\
                     POST http://a.test/p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\
                     PUT http://a.test/q HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nzz\r\n0\r\n\r\n\
                     GET http://a.test/nm HTTP/1.1\r\n\r\n\
                     GET http://a.test/e HTTP/1.1\r\n\r\n\
                     GET http://a.test/last HTTP/1.1\r\n\r\n";
        let resps = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n\
                      HTTP/1.1 100 Continue\r\n\r\n\
                      HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none\
                      HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok\
                      HTTP/1.1 204 No Content\r\n\r\n\
                      HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n\
                      HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n\
                      HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast";
        let got = run(reqs, resps, false);
        let rows: Vec<(&str, &str, u16, u64)> = got
            .iter()
            .map(|r| (r.method.as_str(), r.url.as_str(), r.status, r.size))
            .collect();
        assert_eq!(
            rows,
            [
                ("GET", "http://a.test/one", 200, 3),
                ("POST", "http://a.test/p", 201, 2),
                ("GET", "http://a.test/e", 404, 0),
                ("GET", "http://a.test/last", 200, 4),
            ]
        );
        assert_eq!(got[3].sha256, sha(b"last"));
    }

    #[test]
    fn cut_short_and_unreadable_input() {
        // EOF inside a Content-Length body: size so far, no digest.
        let got = run(
            b"GET http://a.test/x HTTP/1.1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            true,
        );
        assert_eq!((got[0].size, got[0].sha256.clone()), (3, None));
        // EOF inside a chunked body.
        let got = run(
            b"GET http://a.test/x HTTP/1.1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            true,
        );
        assert_eq!((got[0].size, got[0].sha256.clone()), (2, None));
        // A bad chunk size ends the tracking (the body is recorded as cut short).
        let got = run(
            b"GET http://a.test/x HTTP/1.1\r\n\r\nGET http://a.test/y HTTP/1.1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
            true,
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].sha256, None);
        // Conflicting lengths, garbage status lines, responses nobody asked for.
        for resp in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"[..],
            b"HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\na",
            b"SSH-2.0-x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        ] {
            assert!(
                run(b"GET http://a.test/x HTTP/1.1\r\n\r\n", resp, true).is_empty(),
                "{}",
                String::from_utf8_lossy(resp)
            );
        }
        assert!(run(b"", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", true).is_empty());
        // A request the tracker cannot follow: nothing is paired after it.
        let got = run(
            b"GET http://a.test/x HTTP/1.1\r\n\r\nPOST http://a.test/y HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na\
              HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb",
            true,
        );
        assert_eq!(got.len(), 1);
        // An endless head is not buffered without bound.
        let mut r = Responses::new(Pending::default());
        for _ in 0..100 {
            r.feed(&[b'x'; 4096]);
        }
        assert!(r.buf.len() <= MAX_HEAD + 4);
        assert_eq!(r.st, St::Broken);
    }
}
