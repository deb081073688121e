use std::net::UdpSocket;
use std::time::{Duration, Instant};

use super::config::{Facility, SinkConfig, SinkKind, SyslogConfig, Transport};
use super::*;
use crate::record::LogTarget;

fn udp_sink(port: u16, spool_max: u64) -> SinkConfig {
    SinkConfig {
        name: "s1".into(),
        kind: SinkKind::Syslog(SyslogConfig {
            url: format!("udp://127.0.0.1:{port}"),
            transport: Transport::Udp(format!("127.0.0.1:{port}")),
            facility: Facility(10),
            app_name: "pkgward".into(),
        }),
        spool_max,
        flush_timeout: Duration::from_secs(5),
    }
}

fn opts() -> FlushOpts {
    FlushOpts {
        deadline: Instant::now() + Duration::from_secs(5),
        ignore_backoff: true,
        wait_lock: true,
        attempts: 4,
    }
}

fn receive(sock: &UdpSocket) -> Vec<serde_json::Value> {
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 70_000];
    while let Ok(n) = sock.recv(&mut buf) {
        let m = std::str::from_utf8(&buf[..n]).unwrap();
        let json = m.split_once('\u{feff}').unwrap().1;
        out.push(serde_json::from_str(json).unwrap());
    }
    out
}

/// Records appended through a log target reach the spool; a flush ships
/// them once, deletes the shipped segment, and a second flush sends nothing.
#[test]
fn spooled_records_ship_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink = udp_sink(rx.local_addr().unwrap().port(), 1 << 20);
    let target = LogTarget {
        path: state.join("audit.jsonl"),
        rotation: None,
        tees: vec![live_path(state, "s1")],
    };
    let mut log = target.open().unwrap();
    for i in 0..20 {
        log.append(&serde_json::json!({"kind": "t", "i": i}))
            .unwrap();
    }
    let r = flush(&sink, state, opts());
    assert_eq!((r.sent, r.error.clone()), (20, None), "{r:?}");
    // The same handle keeps appending: into a new live file.
    log.append(&serde_json::json!({"kind": "t", "i": 20}))
        .unwrap();
    let r = flush(&sink, state, opts());
    assert_eq!(r.sent, 1, "{r:?}");
    let got = receive(&rx);
    let is: Vec<u64> = got.iter().map(|v| v["i"].as_u64().unwrap()).collect();
    assert_eq!(is, (0..=20).collect::<Vec<_>>());
    assert_eq!(pending(state, "s1"), (0, 0));
    assert_eq!(read_state(&spool_dir(state, "s1")).sent_total, 21);
}

/// Over `spool_max`, the oldest unsent records are dropped and a marker
/// saying how many goes first.
#[test]
fn spool_bound_drops_oldest_with_a_marker() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink = udp_sink(rx.local_addr().unwrap().port(), 4096);
    let target = LogTarget {
        path: state.join("audit.jsonl"),
        rotation: None,
        tees: vec![live_path(state, "s1")],
    };
    let mut log = target.open().unwrap();
    // 100 records of 100 bytes: 10 000 bytes, over the 4096 bound, in two
    // segments.
    for i in 0..100 {
        if i == 50 {
            seal(&spool_dir(state, "s1")).unwrap();
        }
        let pad = "x".repeat(75 - if i < 10 { 1 } else { 2 });
        log.append(&serde_json::json!({"kind": "t", "i": i, "p": pad}))
            .unwrap();
    }
    assert_eq!(pending(state, "s1"), (100, 10_000));
    let r = flush(&sink, state, opts());
    assert!(r.error.is_none(), "{r:?}");
    let got = receive(&rx);
    assert_eq!(got[0]["kind"], "sink-dropped");
    let dropped = got[0]["dropped"].as_u64().unwrap();
    assert_eq!(dropped, r.dropped);
    let is: Vec<u64> = got[1..].iter().map(|v| v["i"].as_u64().unwrap()).collect();
    // The newest ones, in order, fitting the bound.
    assert_eq!(is, ((100 - is.len() as u64)..100).collect::<Vec<_>>());
    assert_eq!(dropped + is.len() as u64, 100);
    assert!(
        is.len() as u64 * 100 <= 4096 && is.len() >= 40,
        "{}",
        is.len()
    );
    assert_eq!(read_state(&spool_dir(state, "s1")).dropped_pending, 0);
}

/// A failed flush keeps everything, records the error and a back-off that
/// the shim's flush respects; an explicit flush ignores it.
#[test]
fn failure_keeps_the_spool_and_backs_off() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    // A TCP port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut sink = udp_sink(port, 1 << 20);
    sink.kind = SinkKind::Syslog(SyslogConfig {
        url: format!("tcp://127.0.0.1:{port}"),
        transport: Transport::Tcp(format!("127.0.0.1:{port}")),
        facility: Facility(10),
        app_name: "pkgward".into(),
    });
    let target = LogTarget {
        path: state.join("audit.jsonl"),
        rotation: None,
        tees: vec![live_path(state, "s1")],
    };
    let mut log = target.open().unwrap();
    for i in 0..5 {
        log.append(&serde_json::json!({"kind": "t", "i": i}))
            .unwrap();
    }
    let r = flush(&sink, state, opts());
    assert!(r.error.is_some(), "{r:?}");
    let st = read_state(&spool_dir(state, "s1"));
    assert_eq!(st.failures, 1);
    assert!(st.next_attempt_ms.unwrap() > now_ms());
    assert_eq!(pending(state, "s1").0, 5);
    let r = flush(
        &sink,
        state,
        FlushOpts {
            ignore_backoff: false,
            ..opts()
        },
    );
    assert_eq!(r.skipped, Some("backing off after a failure"));
    assert_eq!(pending(state, "s1").0, 5);
}

/// A cursor into a segment resumes there; one whose length no longer
/// matches (the segment was trimmed) starts from the beginning.
#[test]
fn cursor_resumes() {
    let st = SinkState {
        cursor: Some(Cursor {
            segment: "seg-a.jsonl".into(),
            offset: 10,
            len: 100,
        }),
        ..SinkState::default()
    };
    assert_eq!(start_of(&st, "seg-a.jsonl", 100), 10);
    assert_eq!(start_of(&st, "seg-a.jsonl", 90), 0);
    assert_eq!(start_of(&st, "seg-b.jsonl", 100), 0);
}

/// A spool that cannot be written does not fail the append: the log gets
/// the record and a `spool-error` record.
#[cfg(unix)]
#[test]
fn spool_failure_is_recorded_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    // The spool directory's place is taken by a file.
    std::fs::create_dir_all(state.join("spool")).unwrap();
    std::fs::write(state.join("spool").join("s1"), "").unwrap();
    let target = LogTarget {
        path: state.join("audit.jsonl"),
        rotation: None,
        tees: vec![live_path(state, "s1")],
    };
    let mut log = target.open().unwrap();
    log.append(&serde_json::json!({"kind": "invocation", "invocation_id": "x"}))
        .unwrap();
    assert_eq!(log.take_tee_errors().len(), 1);
    let text = std::fs::read_to_string(state.join("audit.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["kind"], "spool-error");
    assert_eq!(lines[1]["invocation_id"], "x");
    assert_eq!(lines[1]["missed_kind"], "invocation");
}
