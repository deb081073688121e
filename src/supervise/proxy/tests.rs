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
    assert!(sent.contains("Connection: close\r\n"), "{sent}");
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
