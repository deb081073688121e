//! The seccomp user-notification tracer.
//!
//! The filter is installed in the child between `fork` and `exec`
//! (`pre_exec`), with `SECCOMP_FILTER_FLAG_NEW_LISTENER`; the child writes
//! its pid and the listener's descriptor number to a pipe and waits; a
//! supervisor thread in the parent takes the descriptor with `pidfd_getfd`,
//! lets the child go on, and answers every notification of the whole tree
//! (the filter is inherited across fork and exec and cannot be removed):
//!
//! - exec: the program path and argv are read from the process
//!   (`process_vm_readv`), recorded with pid, parent pid and cwd, and the
//!   call continues;
//! - connect / sendto / sendmsg / sendmmsg with an address: the destination
//!   is read and decided — loopback, `AF_UNIX` and non-IP families are
//!   allowed, any other IPv4/IPv6 destination is refused with `EACCES` in
//!   enforce mode (recorded as `would-deny` in audit mode).
//!
//! Under an outer tracer (a pkgward shim started by install-time code of
//! another one) the kernel allows no second listener (`EBUSY`): the nested
//! launch is left to the outer tracer, which sees its whole subtree.
//!
//! A `CONTINUE` answer is racy (the process may change its memory after the
//! check), so allow decisions are records; deny decisions are enforcement.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::thread::JoinHandle;

/// What the tracer saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Exec {
        pid: u32,
        ppid: Option<u32>,
        /// The path as passed to execve (relative to `cwd` or the dirfd).
        path: String,
        argv: Vec<String>,
        cwd: Option<String>,
    },
    Connect {
        pid: u32,
        /// `connect`, `sendto`, `sendmsg`, `sendmmsg`.
        call: &'static str,
        addr: SocketAddr,
        allowed: bool,
    },
}

/// Where events go (called from the supervisor thread).
pub type Sink = std::sync::Arc<dyn Fn(Event) + Send + Sync>;

/// Tracing settings for one launch.
#[derive(Clone)]
pub struct Tracing {
    /// Refuse non-loopback IP destinations (else only record).
    pub enforce: bool,
    pub sink: Sink,
}

impl std::fmt::Debug for Tracing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracing")
            .field("enforce", &self.enforce)
            .finish_non_exhaustive()
    }
}

/// Starts `cmd` under the tracer. `enforce`: refuse non-loopback IP
/// destinations (else only record). Events go to `sink` from the
/// supervisor thread; the returned receiver gets a message (or is
/// disconnected) when the last traced process is gone.
pub fn spawn(
    cmd: &mut Command,
    enforce: bool,
    sink: Sink,
) -> io::Result<(Child, std::sync::mpsc::Receiver<()>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (child, sup) = spawn_with(cmd, enforce, move |e| sink(e), tx)?;
    drop(sup);
    Ok((child, rx))
}

fn spawn_with(
    cmd: &mut Command,
    enforce: bool,
    mut sink: impl FnMut(Event) + Send + 'static,
    done: std::sync::mpsc::Sender<()>,
) -> io::Result<(Child, JoinHandle<()>)> {
    let (ready_r, ready_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    let prog = filter();
    let (rw, gr) = (ready_w.as_raw_fd(), go_r.as_raw_fd());
    // SAFETY: the closure only makes async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            let fprog = libc::sock_fprog {
                len: prog.len() as u16,
                filter: prog.as_ptr() as *mut libc::sock_filter,
            };
            let fd = libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
                &fprog as *const libc::sock_fprog,
            );
            if fd < 0 {
                let e = io::Error::last_os_error();
                // EBUSY: a tracer above us already has the one listener a
                // filter chain may have (a nested pkgward): it sees this
                // subtree, this one stands down. Any other failure (no
                // user notification in this kernel): audit mode runs the
                // tool untraced, enforce mode refuses to start it.
                if e.raw_os_error() == Some(libc::EBUSY) || !enforce {
                    let msg: [u32; 2] = [libc::getpid() as u32, u32::MAX];
                    libc::write(rw, msg.as_ptr().cast(), 8);
                    return Ok(());
                }
                return Err(e);
            }
            let msg: [u32; 2] = [libc::getpid() as u32, fd as u32];
            if libc::write(rw, msg.as_ptr().cast(), 8) != 8 {
                return Err(io::Error::last_os_error());
            }
            let mut b = 0u8;
            if libc::read(gr, (&mut b as *mut u8).cast(), 1) != 1 || b != 1 {
                return Err(io::Error::other("the supervisor did not start"));
            }
            Ok(())
        });
    }
    let supervisor = std::thread::Builder::new()
        .name("pkgward-trace".into())
        .spawn(move || {
            let mut msg = [0u32; 2];
            // SAFETY: reading 8 bytes into a local array.
            let n = unsafe { libc::read(ready_r.as_raw_fd(), msg.as_mut_ptr().cast(), 8) };
            if n != 8 || msg[1] == u32::MAX {
                // The child failed before installing the filter, or an
                // outer tracer has the tree.
                return;
            }
            let listener = match take_fd(msg[0], msg[1] as RawFd) {
                Ok(l) => l,
                Err(_) => {
                    let _ = write_byte(&go_w, 0);
                    return;
                }
            };
            let _ = write_byte(&go_w, 1);
            drop(go_w);
            serve(&listener, enforce, &mut sink);
            let _ = done.send(());
        })?;
    let child = cmd.spawn();
    drop(ready_w);
    drop(go_r);
    // The command keeps the pre_exec closure (and its copies of the fds'
    // numbers, not the fds): nothing else to close.
    match child {
        Ok(c) => Ok((c, supervisor)),
        Err(e) => {
            let _ = supervisor.join();
            Err(e)
        }
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn write_byte(fd: &OwnedFd, b: u8) -> io::Result<()> {
    // SAFETY: writing one byte from a local.
    if unsafe { libc::write(fd.as_raw_fd(), (&b as *const u8).cast(), 1) } != 1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn take_fd(pid: u32, fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: plain system calls; the results are checked.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0);
        if pidfd < 0 {
            return Err(io::Error::last_os_error());
        }
        let pidfd = OwnedFd::from_raw_fd(pidfd as RawFd);
        let l = libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0);
        if l < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(l as RawFd))
    }
}

// ---- the filter ------------------------------------------------------------

#[cfg(target_arch = "x86_64")]
const ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_USER_NOTIF: u32 = 0x7fc0_0000;
const RET_ERRNO: u32 = 0x0005_0000;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

/// The BPF program (offsets into `struct seccomp_data`: nr 0, arch 4,
/// args 16 + 8·i).
pub fn filter() -> Vec<libc::sock_filter> {
    let ld = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    let ret = (libc::BPF_RET | libc::BPF_K) as u16;
    let nr = |n: libc::c_long| n as u32;
    let mut p = vec![
        // 0: foreign ABI → ENOSYS
        stmt(ld, 4),
        jeq(ARCH, 1, 0),
        stmt(ret, RET_ERRNO | libc::ENOSYS as u32),
        // 3: syscall number
        stmt(ld, 0),
    ];
    #[cfg(target_arch = "x86_64")]
    {
        // x32 syscalls carry bit 30.
        p.push(libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: 0x4000_0000,
        });
        p.push(stmt(ret, RET_ERRNO | libc::ENOSYS as u32));
    }
    let notify = [
        nr(libc::SYS_execve),
        nr(libc::SYS_execveat),
        nr(libc::SYS_connect),
        nr(libc::SYS_sendmsg),
        nr(libc::SYS_sendmmsg),
    ];
    // Each: jeq nr → RET_USER_NOTIF (the instruction right after), else skip it.
    for n in notify {
        p.push(jeq(n, 0, 1));
        p.push(stmt(ret, RET_USER_NOTIF));
    }
    p.push(jeq(nr(libc::SYS_io_uring_setup), 0, 1));
    p.push(stmt(ret, RET_ERRNO | libc::ENOSYS as u32));
    // sendto: notify only when dest_addr (args[4]) is not NULL.
    p.push(jeq(nr(libc::SYS_sendto), 0, 5));
    p.push(stmt(ld, 16 + 8 * 4));
    p.push(jeq(0, 0, 2));
    p.push(stmt(ld, 16 + 8 * 4 + 4));
    p.push(jeq(0, 1, 0));
    p.push(stmt(ret, RET_USER_NOTIF));
    p.push(stmt(ret, RET_ALLOW));
    p
}

// ---- notifications ---------------------------------------------------------

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct SeccompData {
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    data: SeccompData,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Resp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

// `libc::Ioctl` is c_ulong on glibc, c_int on musl: the request bits are the same.
const IOCTL_RECV: libc::Ioctl = 0xC050_2100_u32 as libc::Ioctl;
const IOCTL_SEND: libc::Ioctl = 0xC018_2101_u32 as libc::Ioctl;
const IOCTL_ID_VALID: libc::Ioctl = 0x4008_2102_u32 as libc::Ioctl;
const FLAG_CONTINUE: u32 = 1;

fn serve(listener: &OwnedFd, enforce: bool, sink: &mut dyn FnMut(Event)) {
    let fd = listener.as_raw_fd();
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, -1) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if pfd.revents & libc::POLLIN == 0 {
            // POLLHUP: no process uses the filter any more.
            return;
        }
        let mut n = Notif::default();
        // SAFETY: RECV fills a zeroed seccomp_notif.
        if unsafe { libc::ioctl(fd, IOCTL_RECV, &mut n) } != 0 {
            continue; // the process died meanwhile (ENOENT), or EINTR
        }
        let verdict = handle(&n, enforce, sink);
        // What was read belongs to this request only if it is still pending.
        // SAFETY: ID_VALID with a pointer to the u64 id.
        if unsafe { libc::ioctl(fd, IOCTL_ID_VALID, &n.id) } != 0 {
            continue;
        }
        let mut resp = Resp {
            id: n.id,
            ..Resp::default()
        };
        match verdict {
            Ok(()) => resp.flags = FLAG_CONTINUE,
            Err(errno) => resp.error = -errno,
        }
        // SAFETY: SEND with an initialised response; failure means the
        // process is gone.
        unsafe { libc::ioctl(fd, IOCTL_SEND, &resp) };
    }
}

/// `Ok`: let the call run; `Err(errno)`: fail it.
fn handle(n: &Notif, enforce: bool, sink: &mut dyn FnMut(Event)) -> Result<(), i32> {
    let pid = n.pid;
    let a = n.data.args;
    let sc = n.data.nr as libc::c_long;
    if sc == libc::SYS_execve || sc == libc::SYS_execveat {
        let (path_p, argv_p) = if sc == libc::SYS_execve {
            (a[0], a[1])
        } else {
            (a[1], a[2])
        };
        let path = read_cstr(pid, path_p).unwrap_or_default();
        let argv = read_argv(pid, argv_p);
        sink(Event::Exec {
            pid,
            ppid: ppid(pid),
            path,
            argv,
            cwd: std::fs::read_link(format!("/proc/{pid}/cwd"))
                .ok()
                .map(|p| p.to_string_lossy().into_owned()),
        });
        return Ok(());
    }
    let dests: Vec<(&'static str, Option<SocketAddr>)> = match sc {
        libc::SYS_connect => vec![("connect", read_sockaddr(pid, a[1], a[2]))],
        libc::SYS_sendto => vec![("sendto", read_sockaddr(pid, a[4], a[5]))],
        libc::SYS_sendmsg => vec![("sendmsg", msg_name(pid, a[1]))],
        libc::SYS_sendmmsg => {
            let count = a[2].min(1024);
            (0..count)
                // struct mmsghdr = msghdr (56) + unsigned int + padding = 64
                .map(|i| ("sendmmsg", msg_name(pid, a[1] + i * 64)))
                .collect()
        }
        _ => return Ok(()),
    };
    let mut verdict = Ok(());
    for (call, d) in dests {
        let Some(addr) = d else { continue };
        let allowed = allowed_destination(&addr);
        sink(Event::Connect {
            pid,
            call,
            addr,
            allowed,
        });
        if !allowed && enforce {
            verdict = Err(libc::EACCES);
        }
    }
    verdict
}

/// Loopback destinations are allowed (the egress proxy is on loopback).
pub fn allowed_destination(a: &SocketAddr) -> bool {
    match a.ip() {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

fn read_mem(pid: u32, addr: u64, buf: &mut [u8]) -> Option<usize> {
    if addr == 0 || buf.is_empty() {
        return None;
    }
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: reads into our own buffer.
    let n = unsafe { libc::process_vm_readv(pid as libc::pid_t, &local, 1, &remote, 1, 0) };
    (n > 0).then_some(n as usize)
}

fn read_cstr(pid: u32, addr: u64) -> Option<String> {
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < 4096 {
        // Read up to the end of the page, so a string near an unmapped page
        // is still read.
        let room = 4096 - (at % 4096) as usize;
        let mut buf = vec![0u8; room.min(512)];
        let n = read_mem(pid, at, &mut buf)?;
        if let Some(z) = buf[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&buf[..z]);
            return Some(String::from_utf8_lossy(&out).into_owned());
        }
        out.extend_from_slice(&buf[..n]);
        at += n as u64;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn read_u64(pid: u32, addr: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    (read_mem(pid, addr, &mut b)? == 8).then(|| u64::from_ne_bytes(b))
}

fn read_argv(pid: u32, argv: u64) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..256u64 {
        match read_u64(pid, argv + i * 8) {
            Some(0) | None => break,
            Some(p) => out.push(read_cstr(pid, p).unwrap_or_default()),
        }
    }
    out
}

fn read_sockaddr(pid: u32, addr: u64, len: u64) -> Option<SocketAddr> {
    let len = (len as usize).min(128);
    if len < 2 {
        return None;
    }
    let mut b = vec![0u8; len];
    let n = read_mem(pid, addr, &mut b)?;
    parse_sockaddr(&b[..n])
}

/// An IPv4/IPv6 `sockaddr`; `None` for other families (unix, netlink…).
pub fn parse_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes([*b.first()?, *b.get(1)?]) as i32;
    match family {
        libc::AF_INET if b.len() >= 8 => {
            let port = u16::from_be_bytes([b[2], b[3]]);
            let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            Some(SocketAddr::new(ip.into(), port))
        }
        libc::AF_INET6 if b.len() >= 24 => {
            let port = u16::from_be_bytes([b[2], b[3]]);
            let mut o = [0u8; 16];
            o.copy_from_slice(&b[8..24]);
            Some(SocketAddr::new(Ipv6Addr::from(o).into(), port))
        }
        // A short IP sockaddr is refused by the kernel anyway.
        _ => None,
    }
}

fn msg_name(pid: u32, msghdr: u64) -> Option<SocketAddr> {
    // struct msghdr { void *msg_name; socklen_t msg_namelen; ... }
    let name = read_u64(pid, msghdr)?;
    let mut l = [0u8; 4];
    read_mem(pid, msghdr + 8, &mut l)?;
    read_sockaddr(pid, name, u32::from_ne_bytes(l) as u64)
}

fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid …; comm may contain spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn test_spawn(
        cmd: &mut Command,
        enforce: bool,
        sink: impl FnMut(Event) + Send + 'static,
    ) -> (Child, JoinHandle<()>) {
        let (tx, _rx) = std::sync::mpsc::channel();
        spawn_with(cmd, enforce, sink, tx).unwrap()
    }

    fn traced(script: &str, enforce: bool) -> (std::process::Output, Vec<Event>) {
        let events: Arc<Mutex<Vec<Event>>> = Arc::default();
        let e = events.clone();
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", script])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let (child, sup) = test_spawn(&mut cmd, enforce, move |ev| e.lock().unwrap().push(ev));
        let out = child.wait_with_output().unwrap();
        sup.join().unwrap();
        let ev = events.lock().unwrap().clone();
        (out, ev)
    }

    fn python() -> Option<&'static str> {
        ["/usr/bin/python3", "/usr/local/bin/python3"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
    }

    #[test]
    fn records_execs_of_the_tree() {
        let (out, ev) = traced("/bin/echo hi; /bin/sh -c '/bin/true a b'", true);
        assert!(out.status.success(), "{out:?}");
        let execs: Vec<(String, Vec<String>)> = ev
            .iter()
            .filter_map(|e| match e {
                Event::Exec { path, argv, .. } => Some((path.clone(), argv.clone())),
                _ => None,
            })
            .collect();
        assert!(
            execs
                .iter()
                .any(|(p, a)| p == "/bin/sh" && a[0] == "/bin/sh"),
            "{execs:?}"
        );
        assert!(
            execs
                .iter()
                .any(|(p, a)| p == "/bin/echo" && a == &["/bin/echo", "hi"]),
            "{execs:?}"
        );
        assert!(
            execs
                .iter()
                .any(|(p, a)| p == "/bin/true" && a == &["/bin/true", "a", "b"]),
            "{execs:?}"
        );
    }

    #[test]
    fn non_loopback_connects_are_refused_and_loopback_ones_recorded() {
        let Some(py) = python() else { return };
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        // TEST-NET-1 is never routed: without the tracer this times out or
        // fails with a network error, not with EACCES.
        let code = format!(
            "import socket, errno\n\
             s = socket.socket(); s.settimeout(5)\n\
             try:\n    s.connect(('192.0.2.1', 80)); print('connected')\n\
             except OSError as e: print('denied' if e.errno == errno.EACCES else 'other', e.errno)\n\
             u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             try:\n    u.sendto(b'x', ('192.0.2.1', 53)); print('sent')\n\
             except OSError as e: print('udp-denied' if e.errno == errno.EACCES else 'udp-other', e.errno)\n\
             c = socket.create_connection(('127.0.0.1', {port})); print('loopback-ok')\n"
        );
        let events: Arc<Mutex<Vec<Event>>> = Arc::default();
        let e = events.clone();
        let mut cmd = Command::new(py);
        cmd.args(["-c", &code]).stdout(std::process::Stdio::piped());
        let (child, sup) = test_spawn(&mut cmd, true, move |ev| e.lock().unwrap().push(ev));
        let out = child.wait_with_output().unwrap();
        sup.join().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("denied 13"), "{stdout}");
        assert!(stdout.contains("udp-denied 13"), "{stdout}");
        assert!(stdout.contains("loopback-ok"), "{stdout}");
        let ev = events.lock().unwrap().clone();
        let conns: Vec<(&str, SocketAddr, bool)> = ev
            .iter()
            .filter_map(|e| match e {
                Event::Connect {
                    call,
                    addr,
                    allowed,
                    ..
                } => Some((*call, *addr, *allowed)),
                _ => None,
            })
            .collect();
        assert!(
            conns.contains(&("connect", "192.0.2.1:80".parse().unwrap(), false)),
            "{conns:?}"
        );
        assert!(
            conns.contains(&("sendto", "192.0.2.1:53".parse().unwrap(), false)),
            "{conns:?}"
        );
        assert!(
            conns.contains(&("connect", SocketAddr::from(([127, 0, 0, 1], port)), true)),
            "{conns:?}"
        );
        drop(l);
    }

    #[test]
    fn audit_mode_only_records() {
        let Some(py) = python() else { return };
        let code = "import socket\ns = socket.socket(); s.setblocking(False)\n\
                    try:\n    s.connect(('192.0.2.1', 80))\nexcept OSError as e: print('errno', e.errno)\n";
        let events: Arc<Mutex<Vec<Event>>> = Arc::default();
        let e = events.clone();
        let mut cmd = Command::new(py);
        cmd.args(["-c", code]).stdout(std::process::Stdio::piped());
        let (child, sup) = test_spawn(&mut cmd, false, move |ev| e.lock().unwrap().push(ev));
        let out = child.wait_with_output().unwrap();
        sup.join().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Non-blocking connect in progress: EINPROGRESS (115), not EACCES.
        assert!(!stdout.contains("errno 13"), "{stdout}");
        let ev = events.lock().unwrap().clone();
        assert!(
            ev.iter()
                .any(|e| matches!(e, Event::Connect { allowed: false, .. })),
            "{ev:?}"
        );
    }

    #[test]
    fn sockaddrs() {
        let mut v4 = vec![0u8; 16];
        v4[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&443u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[10, 0, 0, 1]);
        assert_eq!(parse_sockaddr(&v4), Some("10.0.0.1:443".parse().unwrap()));
        assert_eq!(parse_sockaddr(&v4[..6]), None);
        assert_eq!(parse_sockaddr(&[1, 0, b'/', b'x']), None);
        assert!(allowed_destination(
            &"[::ffff:127.0.0.1]:1".parse().unwrap()
        ));
        assert!(!allowed_destination(
            &"[::ffff:10.0.0.1]:1".parse().unwrap()
        ));
    }
}
