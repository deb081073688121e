//! The Linux tracer end to end: the real npm behind the shim installs a
//! fixture package whose `postinstall` ignores the proxy variables and
//! connects straight to a non-loopback address; in enforce mode the connect
//! fails with EACCES and is recorded (`connection`, `via: "trace"`, deny)
//! with the process lineage (`process` records for npm's shell and node).
//!
//! The proof of the tracer, under both mechanisms (`[supervise] tracer =
//! "seccomp"` and `"ptrace"`): an approved hook that runs
//! `sh -c 'curl http://127.0.0.1:PORT/x'` (ignoring the proxy), connects
//! straight to a loopback listener, sends a DNS query to a fake resolver on
//! 127.0.0.1, and starts a deep tree through fork, vfork, threads, execveat
//! and an exec of `/proc/self/fd/N`. Everything is in the record with its
//! lineage back to the package manager and its exit code; in enforce mode it
//! is stopped and the listeners receive nothing.

#![cfg(target_os = "linux")]

mod support;

use serde_json::Value;
use support::guard::{text, Guarded};
use support::{shared, Listener, NpmPackage};

/// TEST-NET-1: never routed, so without the tracer the connect would time
/// out or fail with a network error — never with EACCES.
const OUTSIDE: &str = "192.0.2.1";

fn hook(name: &str) -> String {
    format!(
        "const net = require('net'), fs = require('fs'), path = require('path');\n\
         const out = path.join(process.env.FIXTURE_MARKER_DIR, {name:?});\n\
         const s = net.connect({{ host: {OUTSIDE:?}, port: 80 }});\n\
         s.setTimeout(5000, () => {{ fs.writeFileSync(out, 'timeout'); s.destroy(); }});\n\
         s.on('connect', () => {{ fs.writeFileSync(out, 'connected'); s.destroy(); }});\n\
         s.on('error', e => fs.writeFileSync(out, String(e.code)));\n"
    )
}

fn policy(mode: &str) -> String {
    format!(
        "mode = \"{mode}\"\n[registries]\nnpm = [\"{}\"]\n[scripts]\ndefault = \"allow\"\n",
        shared().npm_url()
    )
}

fn install(mode: &str, pkg: &str) -> (Guarded, std::process::Output, Vec<Value>) {
    let r = shared();
    r.publish_npm(
        &NpmPackage::new(pkg, "1.0.0")
            .file("hook.js", hook(pkg))
            .script("postinstall", "node hook.js"),
    );
    let g = Guarded::new(&policy(mode));
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    let out = g.npm(&["install", pkg], &[]);
    let id = g.last_invocation()["invocation_id"].clone();
    let recs = g
        .audit()
        .into_iter()
        .filter(|r| r["invocation_id"] == id)
        .collect();
    (g, out, recs)
}

#[test]
fn a_direct_connection_from_install_code_is_refused_and_recorded() {
    let (g, out, recs) = install("enforce", "pw-tr-direct");
    assert_eq!(
        g.sb.marker("pw-tr-direct").as_deref(),
        Some("EACCES"),
        "{}",
        text(&out.stderr)
    );
    let denied: Vec<&Value> = recs
        .iter()
        .filter(|r| r["kind"] == "connection" && r["via"] == "trace" && r["action"] == "deny")
        .collect();
    assert!(
        denied
            .iter()
            .any(|r| r["host"] == OUTSIDE && r["port"] == 80 && r["call"] == "connect"),
        "{recs:#?}"
    );
    // The process that tried it is in the record, with its lineage.
    let pid = denied[0]["pid"].as_u64().unwrap();
    let procs: Vec<&Value> = recs.iter().filter(|r| r["kind"] == "process").collect();
    let node = procs
        .iter()
        .find(|p| p["pid"].as_u64() == Some(pid))
        .unwrap_or_else(|| panic!("no process record for pid {pid}: {procs:#?}"));
    assert!(node["argv"].to_string().contains("hook.js"), "{node}");
    // Its parent (npm's script shell) was recorded too.
    let ppid = node["ppid"].as_u64().unwrap();
    assert!(
        procs.iter().any(|p| p["pid"].as_u64() == Some(ppid)),
        "{procs:#?}"
    );
}

#[test]
fn audit_mode_lets_it_through_and_records_a_would_deny() {
    let (g, _out, recs) = install("audit", "pw-tr-audit");
    let m = g.sb.marker("pw-tr-audit");
    assert_ne!(m.as_deref(), Some("EACCES"), "{m:?}");
    assert!(
        recs.iter().any(|r| r["kind"] == "connection"
            && r["via"] == "trace"
            && r["action"] == "would-deny"
            && r["host"] == OUTSIDE),
        "{recs:#?}"
    );
}

fn tree_policy(mode: &str, tracer: &str) -> String {
    format!("{}[supervise]\ntracer = \"{tracer}\"\n", policy(mode))
}

/// What the hook does, step by step, each outcome in a marker.
fn tree_hook(guard: u16, fake: u16, py: &str) -> String {
    let query: String = dns_query("exfil.evil.test")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "const cp = require('child_process'), net = require('net'), dgram = require('dgram');\n\
         const fs = require('fs'), path = require('path');\n\
         const M = (n, v) => fs.writeFileSync(path.join(process.env.FIXTURE_MARKER_DIR, n), String(v));\n\
         const c = cp.spawnSync('sh', ['-c', \"curl -s -m 5 --noproxy '*' http://127.0.0.1:{guard}/x; echo $?\"]);\n\
         M('curl', c.stdout.toString().trim());\n\
         const s = net.connect({{ host: '127.0.0.1', port: {guard} }});\n\
         s.setTimeout(5000, () => {{ M('direct', 'timeout'); s.destroy(); dns(); }});\n\
         s.on('connect', () => {{ M('direct', 'connected'); s.destroy(); dns(); }});\n\
         s.on('error', e => {{ M('direct', e.code); dns(); }});\n\
         function dns() {{\n\
           const u = dgram.createSocket('udp4');\n\
           u.send(Buffer.from('{query}', 'hex'), {fake}, '127.0.0.1', err => {{\n\
             M('dns', err ? err.code : 'sent'); u.close(); deep(); }});\n\
         }}\n\
         function deep() {{\n\
           const r = cp.spawnSync({py:?}, ['deep.py'], {{ stdio: 'inherit' }});\n\
           M('deep', r.status);\n\
         }}\n"
    )
}

/// fork → connect; posix_spawn (vfork) → exec; a thread that execs;
/// execveat(fd, "", AT_EMPTY_PATH) of a binary written now; exec of
/// /proc/self/fd/N.
const DEEP: &str = r#"import os, socket, threading, ctypes, shutil, time
pid = os.fork()
if pid == 0:
    s = socket.socket(); s.settimeout(2)
    try: s.connect(('192.0.2.7', 81))
    except OSError: pass
    os._exit(7)
os.waitpid(pid, 0)
p = os.posix_spawn('/bin/true', ['/bin/true', 'vforked'], os.environ)
os.waitpid(p, 0)
shutil.copy('/bin/true', 'written-true')
pid = os.fork()
if pid == 0:
    fd = os.open('written-true', os.O_RDONLY)
    libc = ctypes.CDLL(None, use_errno=True)
    argv = (ctypes.c_char_p * 3)(b'true', b'execveat', None)
    envp = (ctypes.c_char_p * 1)(None)
    libc.syscall(322, fd, b'', argv, envp, 0x1000)
    os._exit(99)
os.waitpid(pid, 0)
pid = os.fork()
if pid == 0:
    fd = os.open('/bin/true', os.O_RDONLY)
    os.execv('/proc/self/fd/%d' % fd, ['true', 'procfd'])
os.waitpid(pid, 0)
pid = os.fork()
if pid == 0:
    t = threading.Thread(target=lambda: os.execv('/bin/true', ['/bin/true', 'from-thread']))
    t.start(); time.sleep(30)
os.waitpid(pid, 0)
"#;

fn dns_query(name: &str) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

struct Tree {
    g: Guarded,
    out: std::process::Output,
    recs: Vec<Value>,
    guard: Listener,
    fake: std::net::UdpSocket,
}

fn tree_install(mode: &str, tracer: &str) -> Tree {
    let r = shared();
    let pkg = format!("pw-tr-tree-{mode}-{tracer}");
    let guard = Listener::start();
    let fake = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    fake.set_nonblocking(true).unwrap();
    let py = support::tools::real_python();
    r.publish_npm(
        &NpmPackage::new(&pkg, "1.0.0")
            .file(
                "hook.js",
                tree_hook(
                    guard.port(),
                    fake.local_addr().unwrap().port(),
                    &py.to_string_lossy(),
                ),
            )
            .file("deep.py", DEEP)
            .script("postinstall", "node hook.js"),
    );
    let g = Guarded::new(&tree_policy(mode, tracer));
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    let out = g.npm(&["install", &pkg], &[]);
    let id = g.last_invocation()["invocation_id"].clone();
    let recs = g
        .audit()
        .into_iter()
        .filter(|r| r["invocation_id"] == id)
        .collect();
    Tree {
        g,
        out,
        recs,
        guard,
        fake,
    }
}

impl Tree {
    fn of(&self, kind: &str) -> Vec<&Value> {
        self.recs.iter().filter(|r| r["kind"] == kind).collect()
    }

    fn execs_with(&self, f: impl Fn(&[Value]) -> bool) -> Vec<&Value> {
        self.of("process")
            .into_iter()
            .filter(|p| p["exec"] == true && p["argv"].as_array().is_some_and(|a| f(a)))
            .collect()
    }

    fn exec_arg1(&self, arg: &str) -> &Value {
        self.execs_with(|a| a.get(1).is_some_and(|x| x == arg))
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no exec with {arg}: {:#?}", self.of("process")))
    }

    /// The `ppid` links from `pid` reach a process started by the shim
    /// (the package manager pkgward ran).
    fn lineage(&self, pid: u64) -> Vec<String> {
        let shim = self
            .recs
            .iter()
            .find(|r| r["kind"] == "invocation")
            .unwrap()["pid"]
            .as_u64()
            .unwrap();
        let procs = self.of("process");
        let mut chain = Vec::new();
        let mut p = pid;
        for _ in 0..64 {
            let Some(rec) = procs.iter().find(|r| r["pid"].as_u64() == Some(p)) else {
                panic!("broken lineage at pid {p} ({chain:?}): {procs:#?}");
            };
            chain.push(rec["exe"].as_str().unwrap_or("").to_string());
            let pp = rec["ppid"].as_u64().unwrap();
            if pp == shim {
                return chain;
            }
            p = pp;
        }
        panic!("no end to the lineage of {pid}: {chain:?}");
    }

    fn exit_code(&self, pid: u64) -> Option<i64> {
        self.of("process-exit")
            .into_iter()
            .find(|r| r["pid"].as_u64() == Some(pid))
            .unwrap_or_else(|| panic!("no process-exit for {pid}: {:#?}", self.of("process-exit")))
            ["exit_code"]
            .as_i64()
    }
}

fn proves_the_tree_is_stopped_and_recorded(tracer: &str) {
    let t = tree_install("enforce", tracer);
    let err = text(&t.out.stderr);
    let m = |n: &str| {
        t.g.sb
            .marker(n)
            .unwrap_or_else(|| panic!("marker {n}: {err}"))
    };
    // Stopped, and the listeners received nothing.
    assert_eq!(m("curl"), "7", "curl could not connect: {err}");
    assert_eq!(m("direct"), "EACCES");
    assert_eq!(m("dns"), "EACCES");
    assert_eq!(m("deep"), "0");
    t.guard.assert_untouched();
    assert!(
        t.fake.recv(&mut [0u8; 512]).is_err(),
        "the fake resolver got a query"
    );
    // Which tracer was in force, for the tool and for the install code.
    let tracers: Vec<&Value> = t.of("tracer");
    assert!(tracers.len() >= 2, "{tracers:#?}");
    assert!(
        tracers.iter().all(|r| r["tracer"] == tracer),
        "{tracers:#?}"
    );

    // curl, flagged, started by the flagged shell; lineage to npm; exit 7.
    let curl = t.execs_with(|a| a.first().is_some_and(|x| x == "curl"))[0];
    assert_eq!(
        curl["flagged"], "curl started by install-time code",
        "{curl}"
    );
    let shell = t
        .of("process")
        .into_iter()
        .find(|p| p["pid"] == curl["ppid"])
        .unwrap();
    assert!(
        shell["flagged"].as_str().unwrap().starts_with("shell"),
        "{shell}"
    );
    let chain = t.lineage(curl["pid"].as_u64().unwrap());
    assert!(
        chain.len() >= 4,
        "curl ← sh ← node hook.js ← … ← npm: {chain:?}"
    );
    assert_eq!(t.exit_code(curl["pid"].as_u64().unwrap()), Some(7));
    let denied = |pid: &Value, port: u16| {
        t.of("connection").into_iter().any(|c| {
            c["via"] == "trace"
                && c["pid"] == *pid
                && c["host"] == "127.0.0.1"
                && c["port"] == port
                && c["action"] == "deny"
                && c["transport"] == "tcp"
        })
    };
    assert!(
        denied(&curl["pid"], t.guard.port()),
        "{:#?}",
        t.of("connection")
    );
    // The hook's own direct connection and DNS query.
    let hook = t.execs_with(|a| a.iter().any(|x| x == "hook.js"))[0];
    assert!(
        denied(&hook["pid"], t.guard.port()),
        "{:#?}",
        t.of("connection")
    );
    let dns = t.of("dns");
    assert!(
        dns.iter().any(|d| d["pid"] == hook["pid"]
            && d["names"] == serde_json::json!(["exfil.evil.test"])
            && d["port"] == t.fake.local_addr().unwrap().port()
            && d["transport"] == "udp"
            && d["action"] == "deny"),
        "{dns:#?}"
    );
    t.lineage(hook["pid"].as_u64().unwrap());
    // The deep tree: every branch recorded, linked and with its exit code.
    for arg in ["vforked", "execveat", "procfd", "from-thread"] {
        let p = t.exec_arg1(arg);
        let pid = p["pid"].as_u64().unwrap();
        let chain = t.lineage(pid);
        assert!(
            chain.iter().any(|e| e.contains("python")),
            "{arg}: {chain:?}"
        );
        assert_eq!(t.exit_code(pid), Some(0), "{arg}");
    }
    let at = t.exec_arg1("execveat");
    assert!(
        at["exe"].as_str().unwrap().ends_with("/written-true"),
        "{at}"
    );
    assert!(
        at["flagged"]
            .as_str()
            .unwrap_or("")
            .contains("written during the invocation"),
        "{at}"
    );
    assert!(t.exec_arg1("from-thread")["tid"].is_u64());
    // The forked child that connected without an exec of its own.
    let forked = t
        .of("connection")
        .into_iter()
        .find(|c| c["host"] == "192.0.2.7")
        .unwrap_or_else(|| panic!("{:#?}", t.of("connection")));
    assert_eq!(forked["action"], "deny");
    let fpid = forked["pid"].as_u64().unwrap();
    t.lineage(fpid);
    assert_eq!(t.exit_code(fpid), Some(7));
    // `pkgward log --invocation` shows the tree with parents, exits and DNS.
    let id = t.recs[0]["invocation_id"].as_str().unwrap().to_string();
    let out = std::process::Command::new(support::guard::pkgward_bin())
        .args(["log", "--file"])
        .arg(t.g.state.join("audit.jsonl"))
        .args(["--invocation", &id])
        .output()
        .unwrap();
    let human = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let curl_line = format!("pid {} ", curl["pid"]);
    assert!(
        human
            .lines()
            .any(|l| l.contains(&curl_line) && l.contains(&format!("(parent {})", curl["ppid"]))),
        "{human}"
    );
    assert!(
        human.contains(&format!("exit        pid {} code 7", curl["pid"])),
        "{human}"
    );
    assert!(
        human.contains("dns         deny       exfil.evil.test"),
        "{human}"
    );
    assert!(human.contains(&format!("tracer      {tracer}")), "{human}");
}

#[test]
fn seccomp_tracer_stops_and_records_the_whole_tree() {
    proves_the_tree_is_stopped_and_recorded("seccomp");
}

#[test]
fn ptrace_tracer_stops_and_records_the_whole_tree() {
    proves_the_tree_is_stopped_and_recorded("ptrace");
}

fn audit_mode_lets_the_tree_through(tracer: &str) {
    let t = tree_install("audit", tracer);
    assert_eq!(t.g.sb.marker("direct").as_deref(), Some("connected"));
    assert_eq!(t.g.sb.marker("dns").as_deref(), Some("sent"));
    assert!(!t.guard.connections().is_empty());
    assert!(t.fake.recv(&mut [0u8; 512]).is_ok());
    assert!(t
        .of("connection")
        .iter()
        .any(|c| c["port"] == t.guard.port() && c["action"] == "would-deny"));
    assert!(t.of("dns").iter().any(|d| d["action"] == "would-deny"));
    assert!(t.of("tracer").iter().all(|r| r["tracer"] == tracer));
}

#[test]
fn audit_mode_records_the_tree_under_both_tracers() {
    audit_mode_lets_the_tree_through("seccomp");
    audit_mode_lets_the_tree_through("ptrace");
}

/// Records are written as the tree runs: a shim killed mid-install leaves
/// the process records of what had started.
fn killed_shim_leaves_the_records_so_far(tracer: &str) {
    let r = shared();
    let pkg = format!("pw-tr-killed-{tracer}");
    r.publish_npm(&NpmPackage::new(&pkg, "1.0.0").script(
        "postinstall",
        "echo started > \"$FIXTURE_MARKER_DIR/started\"; exec sleep 29",
    ));
    let g = Guarded::new(&tree_policy("enforce", tracer));
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    let mut shim =
        g.sb.command("npm", &[g.sb.npm_env(&r.npm_url()), g.pkgward_env()])
            .args(["install", &pkg])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
    // Wait (bounded) for the hook to start; no timing is asserted.
    for _ in 0..600 {
        if g.sb.marker("started").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(g.sb.marker("started").is_some(), "the hook never started");
    // The hook's `sleep` has its record once its exec was seen; the marker
    // was written just before it, so wait for the record, not for time.
    let sleeping = || {
        g.audit()
            .into_iter()
            .find(|r| r["kind"] == "process" && r["argv"] == serde_json::json!(["sleep", "29"]))
    };
    let mut rec = None;
    for _ in 0..600 {
        rec = sleeping();
        if rec.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // SAFETY: SIGKILL to the shim this test started.
    unsafe { libc::kill(shim.id() as i32, libc::SIGKILL) };
    let _ = shim.wait();
    let rec = rec.expect("no process record for the hook's sleep before the kill");
    let recs: Vec<Value> = g
        .audit()
        .into_iter()
        .filter(|r| r["invocation_id"] == rec["invocation_id"])
        .collect();
    // No exit record (the shim was killed), but the tree so far is there,
    // each record a complete line, and the lineage of the sleep with it.
    assert!(!recs.iter().any(|r| r["kind"] == "exit"));
    assert!(recs
        .iter()
        .any(|r| r["kind"] == "tracer" && r["tracer"] == tracer));
    let ppid = rec["ppid"].as_u64().unwrap();
    assert!(
        recs.iter()
            .any(|r| r["kind"] == "process" && r["pid"].as_u64() == Some(ppid)),
        "{recs:#?}"
    );
    // Whatever is left of the tree goes (ptrace: EXITKILL did it already).
    // SAFETY: SIGKILL to the sleep this test's hook started.
    unsafe { libc::kill(rec["pid"].as_u64().unwrap() as i32, libc::SIGKILL) };
}

#[test]
fn a_killed_shim_leaves_the_records_so_far() {
    killed_shim_leaves_the_records_so_far("seccomp");
    killed_shim_leaves_the_records_so_far("ptrace");
}

/// Install code that runs the package manager again (through its pkgward
/// shim, inside the traced tree): the nested shim's proxy is a listener of
/// the tree, so its tool reaches it; the nested launch is left to the
/// outer tracer and says so.
#[test]
fn a_nested_install_inside_the_traced_tree_works_in_enforce_mode() {
    let r = shared();
    r.publish_npm(&NpmPackage::new("pw-tr-nested-b", "1.0.0"));
    r.publish_npm(&NpmPackage::new("pw-tr-nested-a", "1.0.0").script(
        "postinstall",
        "npm install pw-tr-nested-b --no-save --prefix \"$PWD/inner\" && echo ok > \"$FIXTURE_MARKER_DIR/nested\"",
    ));
    let g = Guarded::new(&tree_policy("enforce", "auto"));
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    let out = g.npm(&["install", "pw-tr-nested-a"], &[]);
    assert_eq!(
        g.sb.marker("nested").as_deref().map(str::trim),
        Some("ok"),
        "{}",
        text(&out.stderr)
    );
    let recs = g.audit();
    let outer = recs
        .iter()
        .find(|r| r["kind"] == "invocation" && r["parent_id"].is_null())
        .unwrap();
    let inner = recs
        .iter()
        .find(|r| r["kind"] == "invocation" && r["parent_id"] == outer["invocation_id"])
        .unwrap_or_else(|| panic!("{recs:#?}"));
    assert!(recs.iter().any(|r| r["kind"] == "tracer"
        && r["invocation_id"] == inner["invocation_id"]
        && r["tracer"] == "outer"));
    // The outer tracer saw the nested tool reach the nested proxy.
    assert!(
        recs.iter().any(|r| r["kind"] == "connection"
            && r["via"] == "trace"
            && r["invocation_id"] == outer["invocation_id"]
            && r["action"] == "allow"
            && r["reason"] == "a listener of the supervised tree"),
        "{recs:#?}"
    );
}
