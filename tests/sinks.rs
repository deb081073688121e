//! Shipping the audit record: a real rsyslogd (Debian's `rsyslog`, started
//! here on loopback) and a loopback HTTP collector receive every record of
//! the local log exactly once; an unreachable collector loses nothing; the
//! spool stays bounded; 16 concurrent pkgward processes rotating a small log
//! lose and tear nothing.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private rsyslogd: imudp, imtcp and imuxsock inputs, every message
/// written to `out` with what its RFC 5424 parser found. Killed on drop.
struct Rsyslog {
    child: Child,
    out: PathBuf,
    udp: u16,
    tcp: u16,
    sock: PathBuf,
}

impl Rsyslog {
    fn start(dir: &Path) -> Rsyslog {
        assert!(
            Path::new(RSYSLOGD).exists(),
            "{RSYSLOGD} is missing: install Debian's rsyslog package (.ci/run does)"
        );
        std::fs::create_dir_all(dir).unwrap();
        let (udp, tcp) = (free_port(), free_port());
        let sock = dir.join("log.sock");
        let out = dir.join("out.log");
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{d}" maxMessageSize="256k")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{sock}" CreatePath="on" UseSpecialParser="off" ParseHostname="on")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{udp}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
template(name="fields" type="string" string="%protocol-version%\t%pri%\t%hostname%\t%app-name%\t%msgid%\t%structured-data%\t%inputname%\t%rawmsg%\n")
*.* action(type="omfile" file="{out}" template="fields")
"#,
                d = dir.display(),
                sock = sock.display(),
                out = out.display(),
            ),
        )
        .unwrap();
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rsyslogd");
        let r = Rsyslog {
            child,
            out,
            udp,
            tcp,
            sock,
        };
        // Ready when each input has taken a probe message.
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let tcp_up = TcpStream::connect(("127.0.0.1", tcp)).is_ok();
            if tcp_up && r.sock.exists() {
                let probe = b"<14>1 - - probe - probe - ready";
                let _ = std::net::UdpSocket::bind("127.0.0.1:0")
                    .and_then(|s| s.send_to(probe, ("127.0.0.1", udp)));
                let _ = std::os::unix::net::UnixDatagram::unbound()
                    .and_then(|s| s.send_to(probe, &r.sock));
                if let Ok(mut s) = TcpStream::connect(("127.0.0.1", tcp)) {
                    let _ = s.write_all(format!("{} ", probe.len()).as_bytes());
                    let _ = s.write_all(probe);
                }
                std::thread::sleep(Duration::from_millis(200));
                let text = std::fs::read_to_string(&r.out).unwrap_or_default();
                let inputs: std::collections::BTreeSet<&str> = text
                    .lines()
                    .filter(|l| l.contains("\tprobe\t"))
                    .filter_map(|l| l.split('\t').nth(6))
                    .collect();
                if inputs.len() == 3 {
                    return r;
                }
            }
            assert!(Instant::now() < until, "rsyslogd did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pkgward messages received so far, per input: (fields, JSON).
    fn received(&self) -> BTreeMap<String, Vec<(Vec<String>, serde_json::Value)>> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for line in text.lines() {
            let f: Vec<String> = line.splitn(8, '\t').map(str::to_string).collect();
            if f.len() < 8 || f[3] != "pkgward" {
                continue;
            }
            let raw = &f[7];
            let json = raw
                .split_once('\u{feff}')
                .unwrap_or_else(|| panic!("no BOM before the MSG: {raw}"))
                .1;
            let v: serde_json::Value = serde_json::from_str(json)
                .unwrap_or_else(|e| panic!("MSG is not the JSON record ({e}): {raw}"));
            out.entry(f[6].clone()).or_default().push((f, v));
        }
        out
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every line of the audit log and its rotated files, parsed.
fn all_records(w: &World) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(&w.state).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("audit.jsonl") {
            out.extend(read_jsonl(&p));
        }
    }
    out
}

fn sorted(mut v: Vec<serde_json::Value>) -> Vec<String> {
    let mut s: Vec<String> = v.drain(..).map(|x| x.to_string()).collect();
    s.sort();
    s
}

#[test]
fn rsyslog_receives_every_record_once_over_udp_tcp_and_unix() {
    let w = World::new();
    let rs = Rsyslog::start(&w.root().join("rsyslog"));
    std::fs::write(
        &w.system_policy,
        format!(
            "mode = \"enforce\"\n\
             [[audit.sinks]]\ntype = \"syslog\"\nname = \"udp\"\nurl = \"udp://127.0.0.1:{}\"\n\
             [[audit.sinks]]\ntype = \"syslog\"\nname = \"tcp\"\nurl = \"tcp://127.0.0.1:{}\"\nfacility = \"local4\"\n\
             [[audit.sinks]]\ntype = \"syslog\"\nname = \"unix\"\nurl = \"unix://{}\"\napp_name = \"pkgward\"\n",
            rs.udp,
            rs.tcp,
            rs.sock.display()
        ),
    )
    .unwrap();
    w.fake_tool("gem", "echo gem 3.0 \"$@\"");
    w.link_real("npm", Path::new("/usr/bin/npm"));
    for i in 0..5 {
        let out = w.run("gem", &["--version", &i.to_string()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out), format!("gem 3.0 --version {i}\n"));
        assert!(out.stderr.is_empty(), "{}", stderr(&out));
    }
    let out = w.run("npm", &["--version"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = w.pkgward(&["audit", "flush"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    let local = all_records(&w);
    assert_eq!(kinds(&local, "invocation").len(), 6);
    let want = sorted(local.clone());
    // rsyslog writes asynchronously: wait until the counts are there.
    let until = Instant::now() + Duration::from_secs(30);
    let got = loop {
        let got = rs.received();
        let done = ["imudp", "imtcp", "imuxsock"]
            .iter()
            .all(|i| got.get(*i).map_or(0, Vec::len) >= want.len());
        if done || Instant::now() > until {
            break got;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for (input, facility) in [("imudp", 10), ("imtcp", 20), ("imuxsock", 10)] {
        let msgs = got.get(input).cloned().unwrap_or_default();
        let values: Vec<serde_json::Value> = msgs.iter().map(|(_, v)| v.clone()).collect();
        assert_eq!(
            sorted(values),
            want,
            "{input}: not every record exactly once"
        );
        for (f, v) in &msgs {
            assert_eq!(f[0], "1", "{input}: not parsed as RFC 5424: {f:?}");
            assert_eq!(f[4], v["kind"].as_str().unwrap(), "MSGID is the kind");
            let pri: u32 = f[1].parse().unwrap();
            assert_eq!(pri / 8, facility, "{input}: {f:?}");
            match v["invocation_id"].as_str() {
                Some(id) => assert_eq!(f[5], format!("[pkgward@32473 invocation_id=\"{id}\"]")),
                None => assert_eq!(f[5], "[pkgward@32473]"),
            }
        }
    }
    // Nothing left behind.
    let out = w.pkgward(&["audit", "status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for s in v["sinks"].as_array().unwrap() {
        assert_eq!(s["spooled_records"], 0, "{s}");
        assert_eq!(s["sent_total"].as_u64().unwrap(), want.len() as u64, "{s}");
    }
}

/// One request received by the collector.
#[derive(Clone, Debug)]
struct Req {
    headers: BTreeMap<String, String>,
    body: String,
}

/// A loopback HTTP collector answering 200 to every POST.
fn collector(listener: TcpListener) -> Arc<Mutex<Vec<Req>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let store = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let mut r = BufReader::new(conn);
            let mut headers = BTreeMap::new();
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.trim_end().split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
            let len: usize = headers
                .get("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_err() {
                continue;
            }
            store.lock().unwrap().push(Req {
                headers,
                body: String::from_utf8(body).unwrap(),
            });
            let mut c = r.into_inner();
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    got
}

fn http_world(port: u16, extra: &str) -> World {
    let mut w = World::new();
    std::fs::write(
        &w.system_policy,
        format!(
            "[[audit.sinks]]\ntype = \"http\"\nname = \"siem\"\nurl = \"http://127.0.0.1:{port}/ingest\"\n\
             token_env = \"SIEM_TOKEN\"\n{extra}"
        ),
    )
    .unwrap();
    w.set_env("SIEM_TOKEN", "s3cret-token");
    w.fake_tool("gem", "echo gem \"$@\"");
    w
}

fn received_records(got: &[Req]) -> Vec<serde_json::Value> {
    got.iter()
        .flat_map(|r| r.body.lines().map(|l| serde_json::from_str(l).unwrap()))
        .collect::<Vec<serde_json::Value>>()
}

#[test]
fn http_collector_down_then_up_ends_with_every_record_once() {
    let port = free_port();
    let w = http_world(port, "");
    // First half: nothing listens (connection refused).
    for i in 0..4 {
        let out = w.run("gem", &["list", &i.to_string()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out), format!("gem list {i}\n"));
        assert!(out.stderr.is_empty(), "{}", stderr(&out));
    }
    let out = w.pkgward(&["audit", "status", "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &st["sinks"][0];
    assert_eq!(s["spooled_records"], 8, "{st}");
    assert!(
        s["last_error"].as_str().unwrap().contains("127.0.0.1"),
        "{st}"
    );
    assert!(s["next_attempt_ms"].as_u64().is_some(), "{st}");
    let out = w.pkgward(&["audit", "flush"]);
    assert_eq!(out.status.code(), Some(75), "{}", stdout(&out));

    // Second half: the collector is up. The back-off of the failures is
    // still in force, so the shims leave the records spooled...
    let got = collector(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let out = w.run("gem", &["list", "4"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(got.lock().unwrap().is_empty());
    // ...until it expires: then the next invocation drains the spool.
    let state_file = w.state.join("spool/siem/state.json");
    let mut st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    st["next_attempt_ms"] = serde_json::json!(1);
    std::fs::write(&state_file, st.to_string()).unwrap();
    for i in 5..8 {
        let out = w.run("gem", &["list", &i.to_string()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let out = w.pkgward(&["audit", "flush"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    let local = w.audit();
    assert_eq!(kinds(&local, "invocation").len(), 8);
    let got = got.lock().unwrap().clone();
    assert_eq!(
        sorted(received_records(&got)),
        sorted(local.clone()),
        "every record exactly once"
    );
    // In the order of the log, and the backlog in few batches.
    assert_eq!(received_records(&got), local);
    assert!(got.len() < local.len() / 2, "{} requests", got.len());
    let mut keys = std::collections::BTreeSet::new();
    for r in &got {
        assert_eq!(r.headers["content-type"], "application/x-ndjson");
        assert_eq!(r.headers["authorization"], "Bearer s3cret-token");
        assert!(
            keys.insert(r.headers["idempotency-key"].clone()),
            "a key reused"
        );
    }
    // The token is nowhere in the record.
    for rec in &local {
        assert!(!rec.to_string().contains("s3cret"));
    }
}

#[test]
fn spool_is_bounded_and_says_what_it_dropped() {
    let port = free_port();
    let w = http_world(port, "spool_max = 8192\n");
    for i in 0..20 {
        let out = w.run("gem", &["list", &i.to_string()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let local = w.audit();
    assert_eq!(local.len(), 40);
    // The last invocation's records came after its bound check.
    let out = w.pkgward(&["audit", "status", "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let spooled = st["sinks"][0]["spooled_bytes"].as_u64().unwrap();
    let last_two: u64 = local[38..]
        .iter()
        .map(|r| r.to_string().len() as u64 + 1)
        .sum();
    assert!(spooled <= 8192 + last_two, "{spooled}");
    assert!(
        st["sinks"][0]["dropped_total"].as_u64().unwrap() > 0,
        "{st}"
    );

    let got = collector(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let out = w.pkgward(&["audit", "flush", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let recs = received_records(&got.lock().unwrap());
    assert_eq!(recs[0]["kind"], "sink-dropped", "{}", recs[0]);
    assert_eq!(recs[0]["sink"], "siem");
    let dropped = recs[0]["dropped"].as_u64().unwrap();
    let shipped = &recs[1..];
    assert_eq!(dropped as usize + shipped.len(), local.len());
    // What was kept is the newest, in order.
    assert_eq!(shipped, &local[local.len() - shipped.len()..]);
}

/// 16 pkgward processes at once, each running invocations through a shim,
/// with the log rotating every few records and a sink spooling all of it:
/// every record is in exactly one log file, whole, and reaches the
/// collector exactly once.
#[test]
fn sixteen_concurrent_processes_rotate_and_spool_without_loss() {
    let port = free_port();
    let w = Arc::new(http_world(
        port,
        "flush_timeout = \"50ms\"\n[audit]\nmax_size = 4096\nkeep = 100000\n",
    ));
    // The shim exists before the writers start (they race only on the log).
    w.shim("gem");
    let workers: Vec<_> = (0..16)
        .map(|n| {
            let w = w.clone();
            std::thread::spawn(move || {
                for i in 0..6 {
                    let out = w.run("gem", &["list", &format!("w{n}-{i}")]);
                    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
                }
            })
        })
        .collect();
    for t in workers {
        t.join().unwrap();
    }
    let mut files = 0;
    for e in std::fs::read_dir(&w.state).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("audit.jsonl")
        {
            files += 1;
            assert!(std::fs::metadata(&p).unwrap().len() <= 4096 + 2048);
        }
    }
    assert!(files > 10, "{files}: the log must rotate many times");
    let local = all_records(&w);
    let invocations = kinds(&local, "invocation");
    assert_eq!(invocations.len(), 96);
    let mut args: Vec<String> = invocations
        .iter()
        .map(|r| r["argv"][2].as_str().unwrap().to_string())
        .collect();
    args.sort();
    args.dedup();
    assert_eq!(args.len(), 96);
    for inv in &invocations {
        let id = &inv["invocation_id"];
        let exits = local
            .iter()
            .filter(|r| r["kind"] == "exit" && &r["invocation_id"] == id)
            .count();
        assert_eq!(exits, 1, "{id}");
    }

    let got = collector(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let out = w.pkgward(&["audit", "flush"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        sorted(received_records(&got.lock().unwrap())),
        sorted(local)
    );
}

#[test]
fn a_project_file_cannot_add_a_sink() {
    let port = free_port();
    let got = collector(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let w = World::new();
    w.fake_tool("gem", "echo gem");
    w.write(
        "work/pkgward.toml",
        &format!("[[audit.sinks]]\ntype = \"http\"\nurl = \"http://127.0.0.1:{port}/\"\n"),
    );
    let out = w.run("gem", &["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = w.pkgward(&["audit", "flush"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(got.lock().unwrap().is_empty());
    assert!(!w.state.join("spool").exists());
    let inv = &kinds(&w.audit(), "invocation")[0].clone();
    assert_eq!(inv["policy"]["refused"][0]["key"], "audit.sinks");
}
