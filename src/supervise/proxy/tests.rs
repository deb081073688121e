//! The proxy against raw, hostile requests, with a loopback upstream.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

struct Upstream {
    port: u16,
    got: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// Accepts connections, records what each sent (up to the end of its head)
/// and answers a fixed response, then closes.
fn upstream() -> Upstream {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let g = got.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let g = g.clone();
            std::thread::spawn(move || {
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                g.lock().unwrap().push(buf);
                let _ = c.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
                );
            });
        }
    });
    Upstream { port, got }
}

struct Started {
    proxy: Proxy,
    records: Arc<Mutex<Vec<ConnectionRecord>>>,
}

fn start(allow: &[&str], enforce: bool) -> Started {
    let rules = allow
        .iter()
        .map(|a| Rule::parse_allow(a, "network.allow").unwrap())
        .collect();
    start_with(rules, enforce)
}

fn start_with(rules: Vec<Rule>, enforce: bool) -> Started {
    let records: Arc<Mutex<Vec<ConnectionRecord>>> = Arc::default();
    let r = records.clone();
    let proxy = Proxy::start(Config {
        rules: Rules::new(rules),
        enforce,
        invocation_id: "inv-1".into(),
        ecosystem: "npm".into(),
        sink: Arc::new(move |rec| r.lock().unwrap().push(rec.clone())),
        artifacts: None,
    })
    .unwrap();
    Started { proxy, records }
}

/// Sends `req` to the proxy and returns everything it answered.
fn exchange(p: &Proxy, req: &[u8]) -> String {
    let mut s = TcpStream::connect(p.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(req);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn records(s: Started) -> Vec<ConnectionRecord> {
    let recs = s.records.clone();
    s.proxy.stop();
    let r = recs.lock().unwrap().clone();
    r
}

#[test]
fn plain_http_to_an_allowed_host_is_forwarded_in_origin_form() {
    let up = upstream();
    let s = start(&[&format!("127.0.0.1:{}", up.port)], true);
    let req = format!(
        "GET http://127.0.0.1:{0}/npm/x?q=1 HTTP/1.1\r\nHost: 127.0.0.1:{0}\r\nProxy-Authorization: Basic eA==\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\n\r\n",
        up.port
    );
    let out = exchange(&s.proxy, req.as_bytes());
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert!(out.ends_with("hello"), "{out}");
    let sent = String::from_utf8(up.got.lock().unwrap()[0].clone()).unwrap();
    assert!(sent.starts_with("GET /npm/x?q=1 HTTP/1.1\r\n"), "{sent}");
    assert!(sent.contains("Connection: keep-alive\r\n"), "{sent}");
    assert!(
        !sent.to_ascii_lowercase().contains("proxy-authorization"),
        "{sent}"
    );
    assert!(!sent.contains("X-Secret"), "{sent}");
    let recs = records(s);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.action, Action::Allow);
    assert_eq!(r.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(r.port, Some(up.port));
    assert_eq!(r.method.as_deref(), Some("GET"));
    assert_eq!(
        r.url.as_deref(),
        Some(format!("http://127.0.0.1:{}/npm/x", up.port).as_str())
    );
    assert!(r.bytes_down >= 5 && r.bytes_up > 0, "{r:?}");
    assert!(r.rule.as_deref().unwrap().starts_with("network.allow"));
}

#[test]
fn connect_tunnels_bytes_both_ways() {
    let up = upstream();
    let s = start(&[&format!("127.0.0.1:{}", up.port)], true);
    let req = format!(
        "CONNECT 127.0.0.1:{0} HTTP/1.1\r\nHost: 127.0.0.1:{0}\r\n\r\nPING /x HTTP/1.1\r\n\r\n",
        up.port
    );
    let out = exchange(&s.proxy, req.as_bytes());
    assert!(
        out.starts_with("HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 200 OK"),
        "{out}"
    );
    assert_eq!(
        up.got.lock().unwrap()[0],
        b"PING /x HTTP/1.1\r\n\r\n".to_vec()
    );
    let recs = records(s);
    assert_eq!(recs[0].action, Action::Allow);
    assert_eq!(recs[0].status, 200);
}

#[test]
fn hostile_requests_are_refused_and_recorded() {
    let up = upstream();
    let p = up.port;
    let s = start(&[&format!("127.0.0.1:{p}"), "*.example.test:443"], true);
    // (request, expected status, what the record's reason mentions)
    let cases: Vec<(String, u16, &str)> = vec![
        (
            format!("CONNECT 127.0.0.2:{p} HTTP/1.1\r\n\r\n"),
            403,
            "not an approved",
        ),
        (
            format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", p + 1),
            403,
            "not an approved",
        ),
        (
            format!("CONNECT [::1]:{p} HTTP/1.1\r\n\r\n"),
            403,
            "not an approved",
        ),
        (
            format!("CONNECT localhost:{p} HTTP/1.1\r\n\r\n"),
            403,
            "not an approved",
        ),
        (
            "CONNECT example.test:443 HTTP/1.1\r\n\r\n".into(),
            403,
            "not an approved",
        ),
        (
            "CONNECT evilexample.test:443 HTTP/1.1\r\n\r\n".into(),
            403,
            "not an approved",
        ),
        (
            "CONNECT a.example.test.evil.test:443 HTTP/1.1\r\n\r\n".into(),
            403,
            "not an approved",
        ),
        (
            "CONNECT a.example.test:8443 HTTP/1.1\r\n\r\n".into(),
            403,
            "not an approved",
        ),
        (
            format!("CONNECT user@127.0.0.1:{p} HTTP/1.1\r\n\r\n"),
            400,
            "user name",
        ),
        (
            "CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n".to_string(),
            400,
            "needs a port",
        ),
        (
            format!("CONNECT 127.0.0.1:{p}/x HTTP/1.1\r\n\r\n"),
            400,
            "host:port",
        ),
        (
            format!("CONNECT 127.0.0.1:{p} HTTP/1.1\r\nHost: evil.test:{p}\r\n\r\n"),
            400,
            "Host header",
        ),
        (
            format!("GET http://127.0.0.1:{p}/ HTTP/1.1\r\nHost: evil.test\r\n\r\n"),
            400,
            "Host header",
        ),
        (
            format!("GET http://u:pw@127.0.0.1:{p}/ HTTP/1.1\r\n\r\n"),
            403,
            "user name or password",
        ),
        (
            format!("GET http://127.0.0.1:{p}@evil.test/ HTTP/1.1\r\n\r\n"),
            403,
            "not an approved",
        ),
        (
            format!("GET http://evil.test\\@127.0.0.1:{p}/ HTTP/1.1\r\n\r\n"),
            400,
            "backslash",
        ),
        (
            format!("GET https://127.0.0.1:{p}/ HTTP/1.1\r\n\r\n"),
            400,
            "CONNECT",
        ),
        (
            "GET /npm/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".into(),
            400,
            "absolute",
        ),
        (
            format!("GET http://127.0.0.1:{p}/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            400,
            "Host",
        ),
        (
            format!("GET http://127.0.0.1:{p}/ HTTP/1.1\nHost: a\n\n\r\n\r\n"),
            400,
            "bare",
        ),
        (
            format!(
                "GET http://127.0.0.1:{p}/{} HTTP/1.1\r\n\r\n",
                "a".repeat(9000)
            ),
            431,
            "larger",
        ),
        (
            format!(
                "GET http://127.0.0.1:{p}/ HTTP/1.1\r\n{}\r\n",
                "X-A: b\r\n".repeat(5000)
            ),
            431,
            "larger",
        ),
        (
            format!("GET http://127.0.0.1:{p}/ HTTP/1.1\r\n folded\r\n\r\n"),
            400,
            "header",
        ),
        (
            format!("CONNECT {} HTTP/1.1\r\n\r\n", s.proxy.addr()),
            403,
            "not an approved",
        ),
    ];
    for (req, status, _) in &cases {
        let out = exchange(&s.proxy, req.as_bytes());
        assert!(
            out.starts_with(&format!("HTTP/1.1 {status} ")),
            "{req:?} → {out}"
        );
        assert!(out.contains("pkgward"), "{out}");
        if *status == 403 && out.contains("denied by policy") {
            assert!(out.contains("`[network] allow`"), "{out}");
        }
    }
    let n = cases.len();
    let recs = records(s);
    assert_eq!(recs.len(), n, "{recs:#?}");
    assert!(
        up.got.lock().unwrap().is_empty(),
        "the upstream was reached"
    );
    for (req, status, why) in &cases {
        assert!(
            recs.iter().any(|r| r.status == *status
                && r.action == Action::Deny
                && r.reason.as_deref().is_some_and(|x| x.contains(why))),
            "no record for {req:?} ({status}, {why}): {recs:#?}"
        );
    }
}

#[test]
fn normalised_spellings_of_an_allowed_host_are_one_host() {
    let up = upstream();
    let p = up.port;
    let s = start(&[&format!("127.0.0.1:{p}")], true);
    for t in [
        format!("CONNECT 2130706433:{p} HTTP/1.1\r\n\r\n"),
        format!("CONNECT [::ffff:127.0.0.1]:{p} HTTP/1.1\r\n\r\n"),
        format!("CONNECT 127.0.0.1:{p} HTTP/1.1\r\nHost: 0x7f.1:{p}\r\n\r\n"),
        format!("GET http://127.0.0.1:{p}/a HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n\r\n"),
    ] {
        let out = exchange(&s.proxy, t.as_bytes());
        assert!(out.starts_with("HTTP/1.1 200"), "{t:?} → {out}");
    }
    let recs = records(s);
    assert!(recs.iter().all(|r| r.action == Action::Allow), "{recs:#?}");
}

#[test]
fn audit_mode_lets_an_unapproved_destination_through_and_records_it() {
    let up = upstream();
    let s = start(&[], false);
    let out = exchange(
        &s.proxy,
        format!("GET http://127.0.0.1:{}/x HTTP/1.1\r\n\r\n", up.port).as_bytes(),
    );
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    let recs = records(s);
    assert_eq!(recs[0].action, Action::WouldDeny);
    assert!(recs[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("not an approved"));
}

#[test]
fn the_connection_limit_holds() {
    let s = start(&[], true);
    // Idle clients that never send a head occupy every slot.
    let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(s.proxy.addr()).unwrap())
        .collect();
    // Wait until the proxy has counted them all.
    while s.proxy.connections() < MAX_CONNECTIONS {
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = exchange(&s.proxy, b"CONNECT a.test:443 HTTP/1.1\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 503 "), "{out}");
    drop(idle);
    let recs = records(s);
    assert!(recs.iter().any(|r| r.status == 503), "{recs:#?}");
}

// ---- persistent plain HTTP ---------------------------------------------

/// One request an upstream received: the upstream connection it came on
/// (numbered from 0), its head and body.
#[derive(Clone, Debug)]
struct Got {
    conn: usize,
    head: String,
    body: Vec<u8>,
}

/// A keep-alive upstream: reads requests one after another on each
/// connection (bodies by Content-Length or chunked) and answers each with
/// `answer(head)`; closes when the answer says so.
struct KeepAlive {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
}

type Answer = fn(&str) -> (Vec<u8>, bool);

fn keep_alive_upstream(answer: Answer) -> KeepAlive {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let n: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
    let g = got.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let conn = n.fetch_add(1, Ordering::SeqCst);
            let g = g.clone();
            std::thread::spawn(move || {
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut buf: Vec<u8> = Vec::new();
                let mut chunk = [0u8; 4096];
                let mut fill = |c: &mut TcpStream, buf: &mut Vec<u8>| match c.read(&mut chunk) {
                    Ok(0) | Err(_) => false,
                    Ok(k) => {
                        buf.extend_from_slice(&chunk[..k]);
                        true
                    }
                };
                loop {
                    let end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        if !fill(&mut c, &mut buf) {
                            return;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end);
                    let lower = head.to_ascii_lowercase();
                    let body = if lower.contains("transfer-encoding: chunked") {
                        // The last chunk, then trailers up to a blank line.
                        let end = loop {
                            let last = if buf.starts_with(b"0\r\n") {
                                Some(0)
                            } else {
                                buf.windows(5)
                                    .position(|w| w == b"\r\n0\r\n")
                                    .map(|i| i + 2)
                            };
                            if let Some(i) = last.and_then(|l| {
                                buf[l + 1..]
                                    .windows(4)
                                    .position(|w| w == b"\r\n\r\n")
                                    .map(|j| l + 1 + j)
                            }) {
                                break i + 4;
                            }
                            if !fill(&mut c, &mut buf) {
                                return;
                            }
                        };
                        buf.drain(..end).collect()
                    } else {
                        let len: usize = lower
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        if lower.contains("expect: 100-continue") && !lower.contains("/no-continue")
                        {
                            let _ = c.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
                        }
                        while buf.len() < len {
                            if !fill(&mut c, &mut buf) {
                                return;
                            }
                        }
                        buf.drain(..len).collect()
                    };
                    let (resp, close) = answer(&head);
                    g.lock().unwrap().push(Got { conn, head, body });
                    if c.write_all(&resp).is_err() || close {
                        let _ = c.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                }
            });
        }
    });
    KeepAlive { port, got }
}

/// `200`, the path as the body, kept alive.
fn echo_path(head: &str) -> (Vec<u8>, bool) {
    let path = head.split(' ').nth(1).unwrap_or("");
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{path}",
        path.len()
    );
    (resp.into_bytes(), false)
}

/// A listener that must never be reached; counts connections.
struct Evil {
    port: u16,
    reached: Arc<std::sync::atomic::AtomicUsize>,
}

fn evil() -> Evil {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let reached: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
    let r = reached.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            if c.is_ok() {
                r.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    Evil { port, reached }
}

/// Reads one response with a Content-Length body (or none) off `s`.
fn read_one(s: &mut impl Read) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut b).unwrap(),
            1,
            "{}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(b[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    buf.extend_from_slice(&body);
    String::from_utf8_lossy(&buf).into_owned()
}

fn connect_to(p: &Proxy) -> TcpStream {
    let s = TcpStream::connect(p.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Everything left until the proxy closes the connection.
fn rest_of(mut s: TcpStream) -> String {
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn get(port: u16, path: &str) -> String {
    format!("GET http://127.0.0.1:{port}{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")
}

#[test]
fn plain_http_keeps_the_client_and_the_upstream_connection() {
    let up = keep_alive_upstream(echo_path);
    let s = start(&[&format!("127.0.0.1:{}", up.port)], true);
    let mut c = connect_to(&s.proxy);
    for path in ["/a", "/b", "/c"] {
        c.write_all(get(up.port, path).as_bytes()).unwrap();
        let r = read_one(&mut c);
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.ends_with(path), "{r}");
        assert!(!r.to_ascii_lowercase().contains("connection: close"), "{r}");
    }
    assert_eq!(rest_of(c), "");
    let got = up.got.lock().unwrap().clone();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|g| g.conn == 0), "{got:#?}");
    assert!(got[0].head.starts_with("GET /a HTTP/1.1\r\n"), "{got:#?}");
    assert!(
        got[0].head.contains("Connection: keep-alive\r\n"),
        "{got:#?}"
    );
    let recs = records(s);
    assert_eq!(recs.len(), 3, "{recs:#?}");
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.conn, recs[0].conn);
        assert_eq!(r.seq, i as u32 + 1);
        assert_eq!(r.action, Action::Allow);
        assert_eq!(r.status, 200);
        assert_eq!(r.response_status, Some(200));
        assert_eq!(r.upstream_reused, Some(i > 0));
        assert!(r.bytes_up > 0 && r.bytes_down > 0, "{r:?}");
        assert!(r.url.as_deref().unwrap().ends_with(["/a", "/b", "/c"][i]));
    }
}

#[test]
fn every_request_on_a_kept_connection_is_decided() {
    let up = keep_alive_upstream(echo_path);
    let bad = evil();
    let s = start(&[&format!("127.0.0.1:{}", up.port)], true);
    // One after the other: allowed, then another host on the same
    // connection.
    let mut c = connect_to(&s.proxy);
    c.write_all(get(up.port, "/ok").as_bytes()).unwrap();
    assert!(read_one(&mut c).ends_with("/ok"));
    c.write_all(get(bad.port, "/x").as_bytes()).unwrap();
    let out = rest_of(c);
    assert!(out.starts_with("HTTP/1.1 403 Forbidden"), "{out}");
    // Pipelined in one write: allowed, denied, allowed.
    let mut c = connect_to(&s.proxy);
    let mut all = get(up.port, "/p1");
    all.push_str(&get(bad.port, "/p2"));
    all.push_str(&get(up.port, "/p3"));
    c.write_all(all.as_bytes()).unwrap();
    let out = rest_of(c);
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert!(out.contains("/p1HTTP/1.1 403 Forbidden"), "{out}");
    assert!(!out.contains("/p3"), "{out}");
    // A request with a body that looks like a request: the body is the
    // allowed upstream's, never a request of its own.
    let mut c = connect_to(&s.proxy);
    let inner = get(bad.port, "/in-body");
    let req = format!(
        "POST http://127.0.0.1:{0}/post HTTP/1.1\r\nHost: 127.0.0.1:{0}\r\nContent-Length: {1}\r\n\r\n{inner}",
        up.port,
        inner.len()
    );
    c.write_all(req.as_bytes()).unwrap();
    assert!(read_one(&mut c).ends_with("/post"));
    drop(rest_of(c));
    assert_eq!(
        bad.reached.load(Ordering::SeqCst),
        0,
        "the unapproved listener was reached"
    );
    let got = up.got.lock().unwrap().clone();
    let paths: Vec<&str> = got
        .iter()
        .map(|g| g.head.split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(paths, ["/ok", "/p1", "/post"]);
    assert_eq!(got[2].body, inner.as_bytes());
    let recs = records(s);
    let denied: Vec<_> = recs.iter().filter(|r| r.action == Action::Deny).collect();
    assert_eq!(denied.len(), 2, "{recs:#?}");
    for d in denied {
        assert_eq!((d.status, d.seq, d.port), (403, 2, Some(bad.port)), "{d:?}");
        assert_eq!(d.bytes_down, 0);
    }
    assert_eq!(recs.len(), 5, "{recs:#?}");
}

#[test]
fn ambiguous_request_framing_is_refused() {
    let up = keep_alive_upstream(echo_path);
    let p = up.port;
    let s = start(&[&format!("127.0.0.1:{p}")], true);
    let base = format!("POST http://127.0.0.1:{p}/x HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n");
    let cases = [
        format!("{base}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        format!("{base}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"),
        format!("{base}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
        format!("{base}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        format!("{base}Transfer-Encoding: xchunked\r\n\r\n"),
        format!("{base}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
        format!("{base}Content-Length: 3, 4\r\n\r\nabcd"),
        format!("{base}Content-Length: +3\r\n\r\nabc"),
        format!("{base}Content-Length: 0x3\r\n\r\nabc"),
        format!(
            "POST http://127.0.0.1:{p}/x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        ),
        // Chunk lines must end in CRLF and carry no whitespace.
        format!("{base}Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n"),
        format!("{base}Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n"),
        format!("{base}Transfer-Encoding: chunked\r\n\r\nzz\r\n"),
    ];
    for req in &cases {
        let mut c = connect_to(&s.proxy);
        // A request after it: never served.
        c.write_all(format!("{req}{}", get(p, "/after")).as_bytes())
            .unwrap();
        let out = rest_of(c);
        assert!(out.starts_with("HTTP/1.1 400 "), "{req:?} → {out}");
        assert!(!out.contains("/after"), "{req:?} → {out}");
    }
    assert!(
        up.got
            .lock()
            .unwrap()
            .iter()
            .all(|g| !g.head.contains("/after")),
        "a request after a refused one went through"
    );
    let recs = records(s);
    assert_eq!(recs.len(), cases.len(), "{recs:#?}");
    assert!(
        recs.iter().all(|r| r.status == 400 || r.status == 200),
        "{recs:#?}"
    );
}

#[test]
fn request_bodies_are_relayed_by_their_framing() {
    let up = keep_alive_upstream(echo_path);
    let p = up.port;
    let s = start(&[&format!("127.0.0.1:{p}")], true);
    let mut c = connect_to(&s.proxy);
    let chunked = format!(
        "PUT http://127.0.0.1:{p}/ch HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\nTransfer-Encoding: chunked\r\n\
         Connection: transfer-encoding, content-length\r\n\r\n3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
    );
    c.write_all(chunked.as_bytes()).unwrap();
    assert!(read_one(&mut c).ends_with("/ch"));
    // Expect: 100-continue: the body follows the upstream's 100.
    let head = format!(
        "PUT http://127.0.0.1:{p}/ex HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
    );
    c.write_all(head.as_bytes()).unwrap();
    assert_eq!(read_one(&mut c), "HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"wxyz").unwrap();
    assert!(read_one(&mut c).ends_with("/ex"));
    // An upstream that ignores the expectation: the body goes when the
    // client sends it anyway.
    let head = format!(
        "PUT http://127.0.0.1:{p}/no-continue HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
    );
    c.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    c.write_all(b"nc").unwrap();
    assert!(read_one(&mut c).ends_with("/no-continue"));
    c.write_all(get(p, "/last").as_bytes()).unwrap();
    assert!(read_one(&mut c).ends_with("/last"));
    drop(rest_of(c));
    let got = up.got.lock().unwrap().clone();
    assert_eq!(got.len(), 4, "{got:#?}");
    assert_eq!(got[2].body, b"nc");
    assert!(got.iter().all(|g| g.conn == 0), "{got:#?}");
    // The framing headers were not dropped as hop-by-hop.
    assert!(
        got[0].head.contains("Transfer-Encoding: chunked"),
        "{got:#?}"
    );
    assert_eq!(got[0].body, b"3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n");
    assert_eq!(got[1].body, b"wxyz");
    let recs = records(s);
    assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
}

/// Responses: HEAD, 204 and 304 have no body whatever they say; a response
/// without length ends the client connection; an upstream that closes a
/// kept connection is replaced.
fn odd_answers(head: &str) -> (Vec<u8>, bool) {
    let path = head.split(' ').nth(1).unwrap_or("");
    let r: &[u8] = match path {
        "/head" => b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
        "/204" => b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
        "/304" => b"HTTP/1.1 304 Not Modified\r\n\r\n",
        "/chunked" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "/gone" => {
            return (
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\ngone".to_vec(),
                true,
            )
        }
        "/unframed" => return (b"HTTP/1.1 200 OK\r\n\r\nuntil close".to_vec(), true),
        "/both" => b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "/switch" => return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nraw".to_vec(), true),
        _ => return echo_path(head),
    };
    (r.to_vec(), false)
}

#[test]
fn response_framing_decides_what_follows() {
    let up = keep_alive_upstream(odd_answers);
    let p = up.port;
    let s = start(&[&format!("127.0.0.1:{p}")], true);
    let mut c = connect_to(&s.proxy);
    let head = format!("HEAD http://127.0.0.1:{p}/head HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n\r\n");
    c.write_all(head.as_bytes()).unwrap();
    // HEAD: the length is the resource's, no body follows.
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        c.read_exact(&mut b).unwrap();
        buf.push(b[0]);
    }
    assert!(buf.starts_with(b"HTTP/1.1 200 OK"));
    for (path, want) in [
        ("/204", "HTTP/1.1 204 No Content"),
        ("/304", "HTTP/1.1 304 Not Modified"),
    ] {
        c.write_all(get(p, path).as_bytes()).unwrap();
        let mut buf = Vec::new();
        while !buf.ends_with(b"\r\n\r\n") {
            c.read_exact(&mut b).unwrap();
            buf.push(b[0]);
        }
        let t = String::from_utf8_lossy(&buf);
        assert!(t.starts_with(want), "{path}: {t}");
    }
    c.write_all(get(p, "/x").as_bytes()).unwrap();
    assert!(read_one(&mut c).ends_with("\r\n\r\n/x"));
    c.write_all(get(p, "/chunked").as_bytes()).unwrap();
    c.write_all(get(p, "/gone").as_bytes()).unwrap();
    // The upstream closed after /gone: the next one takes a new connection.
    c.write_all(get(p, "/after-gone").as_bytes()).unwrap();
    c.write_all(get(p, "/unframed").as_bytes()).unwrap();
    c.write_all(get(p, "/never").as_bytes()).unwrap();
    let out = rest_of(c);
    assert!(
        out.contains("Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        "{out}"
    );
    assert!(out.contains("\r\n\r\ngone"), "{out}");
    assert!(out.contains("/after-gone"), "{out}");
    assert!(
        out.ends_with("Connection: close\r\n\r\nuntil close"),
        "{out}"
    );
    assert!(!out.contains("/never"), "{out}");
    // TE beside CL: the length is dropped, the connection ends after it.
    let mut c = connect_to(&s.proxy);
    c.write_all(format!("{}{}", get(p, "/both"), get(p, "/never2")).as_bytes())
        .unwrap();
    let out = rest_of(c);
    assert!(
        !out.to_ascii_lowercase().contains("content-length"),
        "{out}"
    );
    assert!(out.contains("2\r\nok\r\n0\r\n\r\n"), "{out}");
    assert!(!out.contains("/never2"), "{out}");
    // 101 although Upgrade was not forwarded: a tunnel to the same
    // upstream, no request of its own after it.
    let mut c = connect_to(&s.proxy);
    let up_req = format!(
        "GET http://127.0.0.1:{p}/switch HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n"
    );
    c.write_all(up_req.as_bytes()).unwrap();
    let out = rest_of(c);
    assert!(out.ends_with("\r\n\r\nraw"), "{out}");
    let got = up.got.lock().unwrap().clone();
    assert!(
        !got[got.len() - 1]
            .head
            .to_ascii_lowercase()
            .contains("upgrade"),
        "{got:#?}"
    );
    assert!(got.iter().all(|g| !g.head.contains("/never")), "{got:#?}");
    let recs = records(s);
    let gone = recs
        .iter()
        .find(|r| r.url.as_deref().unwrap().ends_with("/after-gone"))
        .unwrap();
    assert_eq!(gone.upstream_reused, Some(false), "{gone:?}");
    let unframed = recs
        .iter()
        .find(|r| r.url.as_deref().unwrap().ends_with("/unframed"))
        .unwrap();
    assert_eq!(unframed.response_status, Some(200));
    assert!(unframed.reason.is_none(), "{unframed:?}");
}

#[test]
fn http_1_0_keeps_the_connection_only_when_asked() {
    let up = keep_alive_upstream(echo_path);
    let p = up.port;
    let s = start(&[&format!("127.0.0.1:{p}")], true);
    let req =
        |path: &str, extra: &str| format!("GET http://127.0.0.1:{p}{path} HTTP/1.0\r\n{extra}\r\n");
    let mut c = connect_to(&s.proxy);
    c.write_all(format!("{}{}", req("/a", ""), req("/b", "")).as_bytes())
        .unwrap();
    let out = rest_of(c);
    assert!(out.contains("Connection: close\r\n"), "{out}");
    assert!(out.ends_with("/a"), "{out}");
    let mut c = connect_to(&s.proxy);
    let ka = "Connection: keep-alive\r\n";
    c.write_all(format!("{}{}", req("/c", ka), req("/d", "")).as_bytes())
        .unwrap();
    let out = rest_of(c);
    assert!(out.contains("Connection: keep-alive\r\n"), "{out}");
    assert!(out.contains("/c") && out.ends_with("/d"), "{out}");
    let got = up.got.lock().unwrap().clone();
    assert!(
        got.iter().all(|g| g.head.contains("Connection: close\r\n")),
        "{got:#?}"
    );
}

#[test]
fn artifacts_are_hashed_per_request_on_a_kept_connection() {
    let up = keep_alive_upstream(echo_path);
    let p = up.port;
    let arts: Arc<Mutex<Vec<ArtifactRecord>>> = Arc::default();
    let a = arts.clone();
    let proxy = Proxy::start(Config {
        rules: Rules::new(vec![Rule::parse_allow(
            &format!("127.0.0.1:{p}"),
            "network.allow",
        )
        .unwrap()]),
        enforce: true,
        invocation_id: "inv-1".into(),
        ecosystem: "npm".into(),
        sink: Arc::new(|_| {}),
        artifacts: Some(Arc::new(move |r| a.lock().unwrap().push(r.clone()))),
    })
    .unwrap();
    let mut c = connect_to(&proxy);
    for path in ["/one.tgz", "/two.tgz"] {
        c.write_all(get(p, path).as_bytes()).unwrap();
        read_one(&mut c);
    }
    drop(rest_of(c));
    let kept = proxy.stop();
    assert_eq!(kept.len(), 2);
    for (r, path) in kept.iter().zip(["/one.tgz", "/two.tgz"]) {
        assert_eq!(r.url, format!("http://127.0.0.1:{p}{path}"));
        assert_eq!(r.size, path.len() as u64);
        assert_eq!(
            r.sha256,
            Some(crate::record::hash::sha256_bytes(path.as_bytes()))
        );
    }
    assert_eq!(arts.lock().unwrap().len(), 2);
}

#[test]
fn credentials_are_added_to_reads_only() {
    let up = upstream();
    let s = start(&[&format!("127.0.0.1:{}", up.port)], true);
    assert!(s
        .proxy
        .handle()
        .add_auth("127.0.0.1", Some(up.port), "user", "s3cret"));
    let basic = "Authorization: Basic dXNlcjpzM2NyZXQ=";
    for (method, body) in [("GET", ""), ("HEAD", ""), ("POST", "x"), ("PUT", "x")] {
        let req = format!(
            "{method} http://127.0.0.1:{}/simple/ HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             Authorization: Basic b3duOm93bg==\r\nContent-Length: {}\r\n\r\n{body}",
            up.port,
            up.port,
            body.len()
        );
        exchange(&s.proxy, req.as_bytes());
        let got = up.got.lock().unwrap().pop().expect("forwarded");
        let got = String::from_utf8_lossy(&got).into_owned();
        assert!(got.starts_with(method), "{got}");
        let added = got.contains(basic);
        assert_eq!(added, matches!(method, "GET" | "HEAD"), "{method}: {got}");
        // The client's own header is replaced, never doubled.
        assert_eq!(got.matches("Authorization:").count(), 1, "{got}");
    }
    records(s);
}

/// A TLS index on loopback (a certificate from a test CA, returned in PEM)
/// that wants `u:pw`: `/simple/p/` (a page with absolute links), `/big`
/// (256 KiB delimited by the end of the connection), `/redir` (to `/big`
/// on itself); `401` without the credentials. Records each request head.
fn tls_index() -> (u16, String, Arc<Mutex<Vec<String>>>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let heads: Arc<Mutex<Vec<String>>> = Arc::default();
    let h = heads.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { continue };
            let (cfg, h) = (cfg.clone(), h.clone());
            std::thread::spawn(move || {
                let mut s =
                    rustls::StreamOwned::new(rustls::ServerConnection::new(cfg).unwrap(), c);
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if s.read(&mut b).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                let head = String::from_utf8(head).unwrap();
                h.lock().unwrap().push(head.clone());
                let path = head.split(' ').nth(1).unwrap_or("").to_string();
                let resp: Vec<u8> = if !head.contains("\r\nauthorization: Basic dTpwdw==\r\n") {
                    b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
                } else if path == "/simple/p/" {
                    let body = format!(
                        "<a href=\"https://127.0.0.1:{port}/files/p.tar.gz\">p</a> <a href=\"https://other.test/x\">x</a>"
                    );
                    format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: s=1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).into_bytes()
                } else if path == "/big" {
                    let mut r = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n".to_vec();
                    r.extend(std::iter::repeat_n(b'x', 256 << 10));
                    r
                } else if path == "/redir" {
                    format!("HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1:{port}/big\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes()
                } else {
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_vec()
                };
                let _ = s.write_all(&resp);
                s.conn.send_close_notify();
                let _ = s.flush();
            });
        }
    });
    (port, ca_cert.pem(), heads)
}

/// The body of a chunked response (after its head).
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let i = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..i]).unwrap(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[i + 4 + n..];
    }
}

#[test]
fn the_index_gateway_reads_a_tls_index_with_the_credentials() {
    let (port, ca, heads) = tls_index();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, ca).unwrap();
    let trust = gateway::Trust::Bundle(bundle);
    let s = start(&[&format!("127.0.0.1:{port}")], true);
    let h = s.proxy.handle();
    assert!(h
        .add_gateway("127.0.0.1", port + 1, "u", "pw", &trust)
        .unwrap_err()
        .contains("not an approved destination"));
    let base = h.add_gateway("127.0.0.1", port, "u", "pw", &trust).unwrap();
    let prefix = base.rsplit('/').next().unwrap().to_string();
    assert!(base.starts_with(&format!("http://{}/pkgward-", s.proxy.addr())));
    // Origin form; the client's own credentials are not passed on.
    let out = exchange(
        &s.proxy,
        format!("GET /{prefix}/simple/p/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ZXZpbA==\r\nAccept-Encoding: gzip\r\n\r\n").as_bytes(),
    );
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert!(out.contains(&format!("\"{base}/files/p.tar.gz\"")), "{out}");
    assert!(out.contains("\"https://other.test/x\""), "{out}");
    assert!(!out.to_ascii_lowercase().contains("set-cookie"), "{out}");
    let sent = heads.lock().unwrap()[0].clone();
    assert!(sent.contains("authorization: Basic dTpwdw==\r\n"), "{sent}");
    assert!(!sent.contains("ZXZpbA"), "{sent}");
    assert!(
        !sent.to_ascii_lowercase().contains("accept-encoding: gzip"),
        "{sent}"
    );
    // Absolute form through the proxy; a body of unknown length, chunked.
    let out = exchange(
        &s.proxy,
        format!(
            "GET {base}/big HTTP/1.1\r\nHost: {}\r\n\r\n",
            s.proxy.addr()
        )
        .as_bytes(),
    );
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    assert_eq!(dechunk(body.as_bytes()).len(), 256 << 10);
    // A redirect on the same host stays on the gateway, and is not followed.
    let out = exchange(
        &s.proxy,
        format!("GET /{prefix}/redir HTTP/1.0\r\n\r\n").as_bytes(),
    );
    assert!(out.starts_with("HTTP/1.1 302"), "{out}");
    assert!(out.contains(&format!("location: {base}/big\r\n")), "{out}");
    // Only reads; an unknown prefix is no gateway.
    let out = exchange(
        &s.proxy,
        format!("POST /{prefix}/simple/p/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n").as_bytes(),
    );
    assert!(out.starts_with("HTTP/1.1 405"), "{out}");
    let out = exchange(&s.proxy, b"GET /pkgward-0/simple/p/ HTTP/1.1\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(!out.contains("pw"), "{out}");
    assert_eq!(heads.lock().unwrap().len(), 3);
    let recs = records(s);
    let gw: Vec<&ConnectionRecord> = recs.iter().filter(|r| r.via == "gateway").collect();
    assert_eq!(gw.len(), 4, "{recs:?}");
    assert_eq!(gw[0].host.as_deref(), Some("127.0.0.1"));
    assert_eq!(gw[0].port, Some(port));
    assert_eq!(
        gw[0].url.as_deref(),
        Some(format!("https://127.0.0.1:{port}/simple/p/").as_str())
    );
    assert_eq!(gw[0].response_status, Some(200));
    assert!(gw[1].bytes_down > 256 << 10, "{:?}", gw[1]);
    assert_eq!(gw[2].response_status, Some(302));
    assert_eq!((gw[3].status, gw[3].action), (405, Action::Deny));
}

/// A TLS client session through the proxy: `CONNECT 127.0.0.1:port`, then
/// a handshake trusting only `ca` (PEM).
fn tls_through(
    p: &Proxy,
    port: u16,
    ca: &str,
) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let mut s = connect_to(p);
    s.write_all(format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n").as_bytes())?;
    let answer = read_one(&mut s);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::pem::PemObject::pem_slice_iter(ca.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let mut t = rustls::StreamOwned::new(conn, s);
    while t.conn.is_handshaking() {
        t.conn.complete_io(&mut t.sock)?;
    }
    Ok(t)
}

#[test]
fn the_index_gateway_serves_a_tls_index_at_its_origin_while_registered() {
    let (port, index_ca, heads) = tls_index();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, &index_ca).unwrap();
    let trust = gateway::Trust::Bundle(bundle);
    // A host-wide registration (netrc's) is for a registry's host only.
    let s = start(&[&format!("127.0.0.1:{port}")], true);
    let h = s.proxy.handle();
    assert!(h
        .serve_at_origin("127.0.0.1", None, "u", "pw", &trust)
        .is_err());
    drop(h);
    records(s);
    let index = format!("https://127.0.0.1:{port}/simple/");
    let s = start_with(
        Rule::from_registry_url(&index, "registries.pypi")
            .into_iter()
            .collect(),
        true,
    );
    let h = s.proxy.handle();
    assert!(h.origin_ca_pem().is_none());
    assert!(h
        .serve_at_origin("127.0.0.1", Some(port + 1), "u", "pw", &trust)
        .unwrap_err()
        .contains("not an approved destination"));
    let guard = h
        .serve_at_origin("127.0.0.1", None, "u", "pw", &trust)
        .unwrap();
    let ca = h.origin_ca_pem().unwrap();
    // The index's own certificate is not what the client gets.
    assert!(tls_through(&s.proxy, port, &index_ca).is_err());
    let mut t = tls_through(&s.proxy, port, &ca).unwrap();
    // Two requests in one session; the client's credentials do not pass,
    // links are left as they are (same origin).
    t.write_all(
        format!("GET /simple/p/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Basic ZXZpbA==\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let out = read_one(&mut t);
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert!(
        out.contains(&format!("\"https://127.0.0.1:{port}/files/p.tar.gz\"")),
        "{out}"
    );
    assert!(!out.to_ascii_lowercase().contains("set-cookie"), "{out}");
    t.write_all(b"GET /redir HTTP/1.1\r\n\r\n").unwrap();
    let out = read_one(&mut t);
    assert!(out.starts_with("HTTP/1.1 302"), "{out}");
    assert!(
        out.contains(&format!("location: https://127.0.0.1:{port}/big\r\n")),
        "{out}"
    );
    // Only reads, only paths on that host.
    t.write_all(b"POST /simple/p/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    assert!(read_one(&mut t).starts_with("HTTP/1.1 405"));
    let mut t = tls_through(&s.proxy, port, &ca).unwrap();
    t.write_all(b"GET /x HTTP/1.1\r\nHost: other.test\r\n\r\n")
        .unwrap();
    let out = read_one(&mut t);
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(!out.contains("pw"), "{out}");
    let sent = heads.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent[0].contains("authorization: Basic dTpwdw==\r\n"),
        "{sent:?}"
    );
    assert!(!sent[0].contains("ZXZpbA"), "{sent:?}");
    // Once the registration ends, a CONNECT is a tunnel again: the index
    // itself answers, and without credentials.
    drop(guard);
    let mut t = tls_through(&s.proxy, port, &index_ca).unwrap();
    t.write_all(b"GET /simple/p/ HTTP/1.1\r\n\r\n").unwrap();
    assert!(read_one(&mut t).starts_with("HTTP/1.1 401"));
    drop(t);
    let recs = records(s);
    let gw: Vec<&ConnectionRecord> = recs.iter().filter(|r| r.via == "gateway").collect();
    let reqs: Vec<&&ConnectionRecord> = gw
        .iter()
        .filter(|r| r.method.as_deref() != Some("CONNECT"))
        .collect();
    assert_eq!(reqs.len(), 4, "{recs:?}");
    assert_eq!(
        reqs[0].url.as_deref(),
        Some(format!("https://127.0.0.1:{port}/simple/p/").as_str())
    );
    assert_eq!(reqs[0].response_status, Some(200));
    assert_eq!(reqs[1].response_status, Some(302));
    assert_eq!(reqs[1].conn, reqs[0].conn);
    assert_eq!(reqs[1].seq, reqs[0].seq + 1);
    assert_eq!((reqs[2].status, reqs[2].action), (405, Action::Deny));
    assert_eq!(reqs[3].status, 400);
    let connects = gw.len() - reqs.len();
    assert_eq!(connects, 3, "{recs:?}");
    assert!(gw.iter().any(|r| r
        .reason
        .as_deref()
        .is_some_and(|w| w.contains("TLS session"))));
    assert!(recs
        .iter()
        .any(|r| r.via == "proxy" && r.method.as_deref() == Some("CONNECT")));
}
