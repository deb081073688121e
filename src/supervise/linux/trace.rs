//! The Linux tracer: every process the real tool's tree starts and every
//! connection or datagram it sends, recorded and — in enforce mode — refused
//! when it leaves the approved destinations.
//!
//! Two mechanisms, one behaviour ([`super::state`] holds what they share):
//!
//! - **seccomp user notification** (preferred): a filter installed in the
//!   child between `fork` and `exec` (`pre_exec`) with
//!   `SECCOMP_FILTER_FLAG_NEW_LISTENER`; the child writes its pid and the
//!   listener's descriptor number to a pipe and waits; a supervisor thread
//!   takes the descriptor with `pidfd_getfd`, lets the child go on, and
//!   answers every notification of the whole tree (the filter is inherited
//!   across fork and exec and cannot be removed). Exits: `exit_group` is
//!   notified (its argument is the exit code); a process that ends without
//!   it (a signal) is seen through a pidfd and its zombie's status read from
//!   `/proc` when it is still there.
//! - **ptrace** (fallback, see [`super::ptrace`]): the same filter with
//!   `SECCOMP_RET_TRACE`; the supervisor thread `PTRACE_SEIZE`s the child
//!   before it installs the filter and follows forks, vforks, clones and
//!   execs; a deny rewrites the syscall to -1 with `-EACCES` as its result.
//!
//! Which one runs is `[supervise] tracer` (`auto`: seccomp, else ptrace;
//! `proxy-only`: none). Every launch says which was in force (`tracer`
//! event). Under an outer tracer (a pkgward shim started by install-time
//! code of another one) the kernel allows no second listener (`EBUSY`): the
//! nested launch is left to the outer tracer, which sees its whole subtree.
//!
//! Syscalls stopped on: `execve`, `execveat`, `connect`, `sendto`,
//! `sendmsg`, `sendmmsg` (and `exit_group` for seccomp); `io_uring_setup`
//! and foreign syscall ABIs (x32, i386) fail with `ENOSYS`. A `CONTINUE`
//! answer is racy (the process may change its memory after the check), so
//! allow decisions are records; deny decisions are enforcement.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::SystemTime;

pub use super::mem::parse_sockaddr;
use super::state::State;
pub use crate::policy::Tracer;
use crate::supervise::proxy::Rules;

/// Where a connection went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dest {
    Ip(SocketAddr),
    /// An `AF_UNIX` path (`@name`: abstract).
    Unix(String),
}

/// One process of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    /// The process id (thread group id).
    pub pid: u32,
    /// The thread that called exec (= `pid` but for a threaded exec).
    pub tid: u32,
    pub ppid: Option<u32>,
    /// The path as passed to exec (relative to `cwd` or the dirfd); empty
    /// for a process recorded without an exec of its own.
    pub path: String,
    /// The program, resolved (`/proc/self/fd/N` → the file it names).
    pub exe: Option<String>,
    pub argv: Vec<String>,
    pub cwd: Option<String>,
    /// When the process started (RFC 3339, from `/proc`).
    pub started: Option<String>,
    /// Whether this record is an exec (else: first seen otherwise).
    pub exec: bool,
    pub flagged: Option<String>,
    pub note: Option<String>,
}

/// What the tracer saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Which tracer took the launch: `seccomp`, `ptrace`, `outer` (an
    /// enclosing pkgward's), `proxy-only` or `none` (refused to start).
    Tracer {
        tracer: &'static str,
        note: Option<String>,
    },
    Process(Process),
    /// A process of the tree ended: `code` from `exit_group` or its wait
    /// status, `signal` when it was killed; both `None` when unknown.
    Exit {
        pid: u32,
        code: Option<i32>,
        signal: Option<i32>,
        note: Option<String>,
    },
    Connect {
        pid: u32,
        /// `connect`, `sendto`, `sendmsg`, `sendmmsg`.
        call: &'static str,
        /// `tcp`, `udp`, `unix`, `other`, `unknown`.
        transport: &'static str,
        dest: Dest,
        allowed: bool,
        reason: Option<String>,
    },
    /// A datagram that is a DNS query.
    Dns {
        pid: u32,
        call: &'static str,
        transport: &'static str,
        server: SocketAddr,
        names: Vec<String>,
        allowed: bool,
        reason: Option<String>,
    },
}

/// Where events go (called from the supervisor thread, before the traced
/// call goes on: a record is written before what it records happens).
pub type Sink = Arc<dyn Fn(Event) + Send + Sync>;

/// The destinations the tree may reach directly.
#[derive(Clone, Debug, Default)]
pub struct Net {
    /// The egress proxy's port on 127.0.0.1.
    pub proxy_port: Option<u16>,
    /// The invocation's proxy rules: approved registries and `[network] allow`
    /// (an IP rule lets a direct connection through; a host rule approves
    /// DNS queries for that name).
    pub rules: Rules,
    /// `nameserver`s of `/etc/resolv.conf` (port 53 of these, and of
    /// loopback, takes DNS queries for approved names).
    pub resolvers: Vec<IpAddr>,
}

/// Tracing settings for one launch.
#[derive(Clone)]
pub struct Tracing {
    /// Refuse what is not allowed (else only record).
    pub enforce: bool,
    pub tracer: Tracer,
    pub net: Arc<Net>,
    /// When the invocation started: a binary changed since is "written
    /// during the invocation".
    pub since: SystemTime,
    pub sink: Sink,
    /// A gated launch ([`super::gate`]): only under pkgward's own tracer.
    pub gate: Option<Arc<super::gate::Gate>>,
}

impl Tracing {
    /// Settings with no proxy and no rules (tests, tools).
    pub fn new(enforce: bool, tracer: Tracer, sink: Sink) -> Tracing {
        Tracing {
            enforce,
            tracer,
            net: Arc::default(),
            since: SystemTime::now(),
            sink,
            gate: None,
        }
    }
}

impl std::fmt::Debug for Tracing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracing")
            .field("enforce", &self.enforce)
            .field("tracer", &self.tracer)
            .field("net", &self.net)
            .finish_non_exhaustive()
    }
}

/// A started, traced child.
pub struct Spawned {
    pub child: Child,
    /// Gets a message (or is disconnected) when the tracer is done.
    pub done: Receiver<()>,
    /// ptrace: the tracer thread reaps the child and sends its status here;
    /// the caller must not wait for the child itself (its wait would take
    /// the tracer's stops).
    pub status: Option<Receiver<ExitStatus>>,
}

impl Spawned {
    /// Waits for the child: through the tracer under ptrace, else directly.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        match &self.status {
            Some(rx) => rx
                .recv()
                .map_err(|_| io::Error::other("the ptrace tracer ended without the exit status")),
            None => self.child.wait(),
        }
    }
}

// Messages from the child's pre_exec to the supervisor: [pid, value, kind].
const MSG_SECCOMP: u32 = 1; // value: the listener's fd number
const MSG_OUTER: u32 = 2; // an enclosing tracer's filter holds the listener
const MSG_PTRACE: u32 = 3; // value: why seccomp was not used (errno, 0: not tried)
const MSG_NONE: u32 = 4; // value: errno; no tracer

// What the supervisor thread settled on (read by the caller after spawn).
const KIND_UNSET: u8 = 0;
const KIND_PTRACE: u8 = 2;

/// Starts `cmd` under the tracer `t.tracer` asks for.
pub fn spawn(cmd: &mut Command, t: &Tracing) -> io::Result<Spawned> {
    let (tx, done) = std::sync::mpsc::channel();
    if t.gate.is_some() && t.tracer == Tracer::ProxyOnly {
        return Err(ungated());
    }
    if t.tracer == Tracer::ProxyOnly {
        (t.sink)(Event::Tracer {
            tracer: "proxy-only",
            note: Some("[supervise] tracer = \"proxy-only\"".into()),
        });
        let child = cmd.spawn()?;
        drop(tx);
        return Ok(Spawned {
            child,
            done,
            status: None,
        });
    }
    // The traced tree runs as this user: keep it from attaching to the
    // supervisor (ptrace, /proc/<pid>/mem) to answer its own stops.
    // SAFETY: prctl with plain integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let sink = t.sink.clone();
    let mut state = State::new(t.enforce, t.net.clone(), sink, t.since);
    state.gate = t.gate.clone();
    let kind = Arc::new(AtomicU8::new(KIND_UNSET));
    let (status_tx, status_rx) = std::sync::mpsc::channel();
    let (child, _sup) = spawn_with(
        cmd,
        t.tracer,
        t.enforce,
        t.gate.is_some(),
        kind.clone(),
        move |s| {
            state.root = s.pid;
            run_supervisor(s, state, status_tx);
        },
        tx,
    )?;
    let status = (kind.load(Ordering::SeqCst) == KIND_PTRACE).then_some(status_rx);
    Ok(Spawned {
        child,
        done,
        status,
    })
}

/// What the child reported, for the supervisor.
pub(super) struct Start {
    pub pid: u32,
    kind: u32,
    value: u32,
    go: OwnedFd,
    settled: Arc<AtomicU8>,
}

impl Start {
    fn go(&self, b: u8) {
        let _ = write_byte(&self.go, b);
    }
}

fn run_supervisor(s: Start, mut state: State, status: Sender<ExitStatus>) {
    let emit = |state: &State, tracer: &'static str, note: Option<String>| {
        // A gated launch without pkgward's own tracer does not start (its
        // caller runs it again ungated, which says what was in force).
        if state.gate.is_none() || matches!(tracer, "seccomp" | "ptrace") {
            state.emit(Event::Tracer { tracer, note })
        }
    };
    match s.kind {
        MSG_SECCOMP => match take_fd(s.pid, s.value as RawFd) {
            Ok(listener) => {
                emit(&state, "seccomp", None);
                state.watch_exits = true;
                if let Some(g) = &state.gate {
                    g.started(s.pid);
                }
                s.go(1);
                serve(&listener, &mut state);
            }
            Err(e) => {
                emit(
                    &state,
                    "none",
                    Some(format!("cannot take the seccomp listener: {e}")),
                );
                s.go(0);
            }
        },
        MSG_OUTER => emit(
            &state,
            "outer",
            Some("an enclosing pkgward tracer already traces this process tree".into()),
        ),
        MSG_PTRACE => {
            let why = match s.value {
                0 => "[supervise] tracer = \"ptrace\"".to_string(),
                e => format!(
                    "seccomp user notification unavailable ({})",
                    io::Error::from_raw_os_error(e as i32)
                ),
            };
            match super::ptrace::seize(s.pid) {
                Ok(()) => {
                    emit(&state, "ptrace", Some(why));
                    s.settled.store(KIND_PTRACE, Ordering::SeqCst);
                    if let Some(g) = &state.gate {
                        g.started(s.pid);
                    }
                    s.go(1);
                    super::ptrace::run(s.pid, &mut state, status);
                }
                Err(e) => {
                    let traced = super::mem::status(s.pid).is_some_and(|st| st.tracer != 0);
                    if traced {
                        emit(
                            &state,
                            "outer",
                            Some(format!(
                                "{why}; the process is already traced by another tracer"
                            )),
                        );
                        s.go(2);
                    } else {
                        let t = if state.enforce { "none" } else { "proxy-only" };
                        emit(&state, t, Some(format!("{why}; ptrace refused: {e}")));
                        s.go(0);
                    }
                }
            }
        }
        _ => emit(
            &state,
            if state.enforce { "none" } else { "proxy-only" },
            Some(format!(
                "seccomp user notification unavailable ({}); no ptrace fallback under this policy",
                io::Error::from_raw_os_error(s.value as i32)
            )),
        ),
    }
}

/// The error of a gated launch that would not run under pkgward's own
/// tracer ([`super::gate`]): nothing could hold its execs.
pub fn ungated() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "a gated launch needs pkgward's own tracer",
    )
}

fn spawn_with(
    cmd: &mut Command,
    tracer: Tracer,
    enforce: bool,
    gated: bool,
    settled: Arc<AtomicU8>,
    supervise: impl FnOnce(Start) + Send + 'static,
    done: Sender<()>,
) -> io::Result<(Child, JoinHandle<()>)> {
    let (ready_r, ready_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    let notify = filter(RET_USER_NOTIF, true, enforce);
    let trace = filter(RET_TRACE, false, enforce);
    let try_seccomp = matches!(tracer, Tracer::Auto | Tracer::Seccomp);
    let try_ptrace = matches!(tracer, Tracer::Auto | Tracer::Ptrace);
    let (rw, gr) = (ready_w.as_raw_fd(), go_r.as_raw_fd());
    // SAFETY: the closure only makes async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(move || {
            let send = |kind: u32, value: u32| -> io::Result<()> {
                let msg: [u32; 3] = [libc::getpid() as u32, value, kind];
                if libc::write(rw, msg.as_ptr().cast(), 12) != 12 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            };
            let wait_go = || -> u8 {
                let mut b = 0u8;
                if libc::read(gr, (&mut b as *mut u8).cast(), 1) != 1 {
                    return 0;
                }
                b
            };
            // The supervisor made this process non-dumpable (so the tree
            // cannot attach to it); the child must be open to it again.
            libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0);
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            let mut why = 0u32;
            if try_seccomp {
                let fprog = libc::sock_fprog {
                    len: notify.len() as u16,
                    filter: notify.as_ptr() as *mut libc::sock_filter,
                };
                let fd = libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
                    &fprog as *const libc::sock_fprog,
                );
                if fd >= 0 {
                    if send(MSG_SECCOMP, fd as u32).is_err() || wait_go() != 1 {
                        // Without a listener our own exit is not stopped.
                        libc::close(fd as libc::c_int);
                        return Err(io::Error::other("the supervisor did not start"));
                    }
                    return Ok(());
                }
                let e = io::Error::last_os_error();
                // EBUSY: a tracer above us already has the one listener a
                // filter chain may have (a nested pkgward): it sees this
                // subtree, this one stands down.
                if e.raw_os_error() == Some(libc::EBUSY) {
                    if gated {
                        send(MSG_NONE, libc::EBUSY as u32)?;
                        return Err(ungated());
                    }
                    send(MSG_OUTER, 0)?;
                    return Ok(());
                }
                why = e.raw_os_error().unwrap_or(0) as u32;
            }
            if !try_ptrace {
                send(MSG_NONE, why)?;
                return if gated {
                    Err(ungated())
                } else if enforce {
                    Err(io::Error::from_raw_os_error(why as i32))
                } else {
                    Ok(())
                };
            }
            send(MSG_PTRACE, why)?;
            match wait_go() {
                1 => {
                    let fprog = libc::sock_fprog {
                        len: trace.len() as u16,
                        filter: trace.as_ptr() as *mut libc::sock_filter,
                    };
                    if libc::syscall(
                        libc::SYS_seccomp,
                        libc::SECCOMP_SET_MODE_FILTER,
                        0,
                        &fprog as *const libc::sock_fprog,
                    ) != 0
                    {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                }
                // Traced by an outer tracer already: it sees the tree.
                2 if gated => Err(ungated()),
                2 => Ok(()),
                _ if gated => Err(ungated()),
                _ if enforce => Err(io::Error::other("no tracer could be started")),
                _ => Ok(()),
            }
        });
    }
    let supervisor = std::thread::Builder::new()
        .name("pkgward-trace".into())
        .spawn(move || {
            let mut msg = [0u32; 3];
            // SAFETY: reading 12 bytes into a local array.
            let n = unsafe { libc::read(ready_r.as_raw_fd(), msg.as_mut_ptr().cast(), 12) };
            if n == 12 {
                supervise(Start {
                    pid: msg[0],
                    value: msg[1],
                    kind: msg[2],
                    go: go_w,
                    settled,
                });
            }
            // else: the child failed before it could report.
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
    let pidfd = super::mem::pidfd_open(pid).ok_or_else(io::Error::last_os_error)?;
    super::mem::pidfd_getfd(&pidfd, fd).ok_or_else(io::Error::last_os_error)
}

// ---- the filter ------------------------------------------------------------

#[cfg(target_arch = "x86_64")]
const ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_USER_NOTIF: u32 = 0x7fc0_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
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

/// The BPF program (offsets into `struct seccomp_data`: nr 0, arch 4):
/// `action` on the supervised syscalls (`exit_group` too when asked);
/// `enforce`: packet sockets (`AF_PACKET`) refused as well.
pub fn filter(action: u32, exit_group: bool, enforce: bool) -> Vec<libc::sock_filter> {
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
    let mut stop = vec![
        nr(libc::SYS_execve),
        nr(libc::SYS_execveat),
        nr(libc::SYS_connect),
        nr(libc::SYS_sendto),
        nr(libc::SYS_sendmsg),
        nr(libc::SYS_sendmmsg),
    ];
    if exit_group {
        stop.push(nr(libc::SYS_exit_group));
    }
    // Each: jeq nr → action (the instruction right after), else skip it.
    for n in stop {
        p.push(jeq(n, 0, 1));
        p.push(stmt(ret, action));
    }
    p.push(jeq(nr(libc::SYS_io_uring_setup), 0, 1));
    p.push(stmt(ret, RET_ERRNO | libc::ENOSYS as u32));
    if enforce {
        // Packet sockets send frames no address check sees.
        p.push(jeq(nr(libc::SYS_socket), 0, 3));
        p.push(stmt(ld, 16)); // args[0] (low half): the family
        p.push(jeq(libc::AF_PACKET as u32, 0, 1));
        p.push(stmt(ret, RET_ERRNO | libc::EACCES as u32));
    }
    p.push(stmt(ret, RET_ALLOW));
    p
}

/// The decision on one stopped syscall (both tracers).
pub(super) fn handle(state: &mut State, tid: u32, nr: i64, a: [u64; 6]) -> Result<(), i32> {
    if nr == libc::SYS_execve || nr == libc::SYS_execveat {
        let (dirfd, path_p, argv_p, fl) = if nr == libc::SYS_execve {
            (None, a[0], a[1], 0)
        } else {
            (Some(a[0] as i32 as i64), a[1], a[2], a[4])
        };
        let mut mem = super::mem::Pages::new(tid);
        let path = mem.cstr(path_p).unwrap_or_default();
        let argv = mem.argv(argv_p);
        return state.exec(tid, path, argv, dirfd, fl);
    }
    if nr == libc::SYS_exit_group {
        state.exit_group(tid, a[0]);
        return Ok(());
    }
    state.net(tid, nr, a)
}

// ---- seccomp notifications -------------------------------------------------

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
// SECCOMP_IOCTL_NOTIF_SET_FLAGS and SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
// (Linux 6.6).
const IOCTL_SET_FLAGS: libc::Ioctl = 0x4008_2104_u32 as libc::Ioctl;
const FD_SYNC_WAKE_UP: u64 = 1;

fn serve(listener: &OwnedFd, state: &mut State) {
    let fd = listener.as_raw_fd();
    // A stopped process and this thread hand over to each other directly
    // (the kernel switches to the waiting side on the same CPU instead of
    // waking it through the scheduler): every exec and connect of the tree
    // waits for this thread's answer, and on a virtual machine a scheduler
    // wake-up per stop is most of what tracing costs. Older kernels refuse
    // the flag (EINVAL); the plain wake-up works the same, only slower.
    // SAFETY: SET_FLAGS with a plain integer argument on our listener.
    unsafe { libc::ioctl(fd, IOCTL_SET_FLAGS, FD_SYNC_WAKE_UP) };
    state.defer = true;
    let mut pfds = Vec::new();
    loop {
        pfds.clear();
        pfds.push(libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
        pfds.extend(state.watched.iter().map(|(_, w)| libc::pollfd {
            fd: w.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }));
        // SAFETY: a valid array of pollfds.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        // Processes that ended.
        let ended: Vec<u32> = pfds[1..]
            .iter()
            .zip(&state.watched)
            .filter(|(p, _)| p.revents != 0)
            .map(|(_, (pid, _))| *pid)
            .collect();
        for pid in ended {
            state.watched.retain(|(p, _)| *p != pid);
            state.watched_exit(pid);
        }
        // (No process waits on these.)
        state.flush();
        let rev = pfds[0].revents;
        if rev & libc::POLLIN == 0 {
            if rev & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                // No process uses the filter any more.
                break;
            }
            continue;
        }
        let mut n = Notif::default();
        // SAFETY: RECV fills a zeroed seccomp_notif.
        if unsafe { libc::ioctl(fd, IOCTL_RECV, &mut n) } != 0 {
            continue; // the process died meanwhile (ENOENT), or EINTR
        }
        let verdict = handle(state, n.pid, n.data.nr as i64, n.data.args);
        // What was read belongs to this request only if it is still pending.
        // SAFETY: ID_VALID with a pointer to the u64 id.
        if unsafe { libc::ioctl(fd, IOCTL_ID_VALID, &n.id) } != 0 {
            state.flush();
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
        // The bookkeeping of the stop, and its records.
        state.flush();
    }
    // The tree is gone: what is still watched has ended.
    state.flush();
    for (pid, _) in std::mem::take(&mut state.watched) {
        state.watched_exit(pid);
    }
    state.flush();
    state.defer = false;
}

/// Whether the tracer lets a destination through without rules: loopback
/// (kept for callers that only ask about the address family).
pub fn loopback(a: &SocketAddr) -> bool {
    a.ip().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::Mutex;

    const BOTH: [Tracer; 2] = [Tracer::Seccomp, Tracer::Ptrace];
    const PY: &str = "/usr/bin/python3";

    struct Run {
        stdout: String,
        status: ExitStatus,
        events: Vec<Event>,
        root: u32,
    }

    fn run(tracer: Tracer, enforce: bool, net: Net, cmd: &mut Command) -> Run {
        let events: Arc<Mutex<Vec<Event>>> = Arc::default();
        let e = events.clone();
        let t = Tracing {
            enforce,
            tracer,
            net: Arc::new(net),
            since: SystemTime::now() - std::time::Duration::from_secs(1),
            sink: Arc::new(move |ev| e.lock().unwrap().push(ev)),
            gate: None,
        };
        cmd.stdout(std::process::Stdio::piped());
        let mut s = spawn(cmd, &t).unwrap();
        let root = s.child.id();
        let mut stdout = String::new();
        s.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let status = s.wait().unwrap();
        let _ = s.done.recv_timeout(std::time::Duration::from_secs(20));
        let events = events.lock().unwrap().clone();
        Run {
            stdout,
            status,
            events,
            root,
        }
    }

    fn sh(tracer: Tracer, enforce: bool, script: &str) -> Run {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", script]);
        run(tracer, enforce, Net::default(), &mut cmd)
    }

    fn py(tracer: Tracer, enforce: bool, net: Net, code: &str) -> Run {
        let mut cmd = Command::new(PY);
        cmd.args(["-c", code]);
        run(tracer, enforce, net, &mut cmd)
    }

    fn procs(r: &Run) -> Vec<&Process> {
        r.events
            .iter()
            .filter_map(|e| match e {
                Event::Process(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    fn exits(r: &Run) -> Vec<(u32, Option<i32>, Option<i32>)> {
        r.events
            .iter()
            .filter_map(|e| match e {
                Event::Exit {
                    pid, code, signal, ..
                } => Some((*pid, *code, *signal)),
                _ => None,
            })
            .collect()
    }

    fn tracer_of(r: &Run) -> &'static str {
        r.events
            .iter()
            .find_map(|e| match e {
                Event::Tracer { tracer, .. } => Some(*tracer),
                _ => None,
            })
            .unwrap_or("")
    }

    /// Every process's parent chain reaches the root.
    fn lineage_ok(r: &Run, pid: u32) -> bool {
        let ps = procs(r);
        let mut p = pid;
        for _ in 0..64 {
            if p == r.root {
                return true;
            }
            match ps.iter().find(|x| x.pid == p).and_then(|x| x.ppid) {
                Some(pp) => p = pp,
                None => return false,
            }
        }
        false
    }

    #[test]
    fn records_execs_exits_and_flags_of_the_tree() {
        for t in BOTH {
            let r = sh(
                t,
                true,
                "/bin/echo hi; /bin/sh -c '/bin/true a b; exit 3'; /bin/sh -c 'kill -9 $$'; exit 5",
            );
            assert_eq!(tracer_of(&r), t.as_str(), "{:?}", r.events);
            assert_eq!(r.status.code(), Some(5), "{t:?}");
            assert_eq!(r.stdout, "hi\n");
            let ps = procs(&r);
            let root = ps.iter().find(|p| p.pid == r.root).unwrap();
            assert_eq!(root.flagged, None, "the real tool is not flagged");
            let echo = ps
                .iter()
                .find(|p| p.path == "/bin/echo")
                .unwrap_or_else(|| panic!("{t:?} {ps:#?}"));
            assert_eq!(echo.argv, ["/bin/echo", "hi"]);
            assert_eq!(echo.ppid, Some(r.root));
            assert!(echo.started.is_some() && echo.cwd.is_some(), "{echo:?}");
            let inner = ps
                .iter()
                .find(|p| p.argv.get(2).is_some_and(|a| a.starts_with("/bin/true")))
                .unwrap();
            assert!(
                inner
                    .flagged
                    .as_deref()
                    .unwrap_or("")
                    .contains("shell dash"),
                "{inner:?}"
            );
            let tru = ps.iter().find(|p| p.path == "/bin/true").unwrap();
            assert_eq!(tru.argv, ["/bin/true", "a", "b"]);
            assert!(lineage_ok(&r, tru.pid), "{t:?} {ps:#?}");
            let ex = exits(&r);
            assert!(ex.contains(&(inner.pid, Some(3), None)), "{t:?} {ex:?}");
            assert!(ex.contains(&(r.root, Some(5), None)), "{t:?} {ex:?}");
            assert!(ex.contains(&(tru.pid, Some(0), None)), "{t:?} {ex:?}");
            // Killed by a signal: ptrace knows the signal; seccomp records the
            // end with the signal if the zombie was still there, else a note.
            let killed = ps
                .iter()
                .find(|p| p.argv.get(2).is_some_and(|a| a == "kill -9 $$"))
                .unwrap();
            let end = r
                .events
                .iter()
                .find_map(|e| match e {
                    Event::Exit {
                        pid,
                        code,
                        signal,
                        note,
                    } if *pid == killed.pid => Some((*code, *signal, note.clone())),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("{t:?}: no exit for the killed shell {:?}", r.events));
            assert_eq!(end.0, None, "{end:?}");
            if t == Tracer::Ptrace {
                assert_eq!(end.1, Some(9));
            } else {
                assert!(end.1 == Some(9) || end.2.is_some(), "{end:?}");
            }
        }
    }

    fn conns(r: &Run) -> Vec<(&'static str, Dest, bool)> {
        r.events
            .iter()
            .filter_map(|e| match e {
                Event::Connect {
                    call,
                    dest,
                    allowed,
                    ..
                } => Some((*call, dest.clone(), *allowed)),
                _ => None,
            })
            .collect()
    }

    fn ip(s: &str) -> Dest {
        Dest::Ip(s.parse().unwrap())
    }

    #[test]
    fn connections_are_decided_loopback_only_at_the_proxy() {
        for t in BOTH {
            let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let guard = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            guard.set_nonblocking(true).unwrap();
            let pp = proxy.local_addr().unwrap().port();
            let gp = guard.local_addr().unwrap().port();
            // TEST-NET-1 is never routed: without the tracer this times out
            // or fails with a network error, not with EACCES.
            let code = format!(
                "import socket, errno\n\
                 def tcp(h, p):\n  s = socket.socket(); s.settimeout(5)\n  \
                   try:\n    s.connect((h, p)); return 'ok'\n  \
                   except OSError as e: return 'EACCES' if e.errno == errno.EACCES else str(e.errno)\n\
                 print('outside', tcp('192.0.2.1', 80))\n\
                 print('guard', tcp('127.0.0.1', {gp}))\n\
                 print('proxy', tcp('127.0.0.1', {pp}))\n\
                 u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
                 try:\n  u.sendto(b'x', ('192.0.2.1', 9)); print('udp ok')\n\
                 except OSError as e: print('udp', e.errno)\n\
                 srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen()\n\
                 print('own', tcp('127.0.0.1', srv.getsockname()[1]))\n"
            );
            let net = Net {
                proxy_port: Some(pp),
                ..Net::default()
            };
            let r = py(t, true, net.clone(), &code);
            let out = &r.stdout;
            assert!(out.contains("outside EACCES"), "{t:?} {out}");
            assert!(out.contains("guard EACCES"), "{t:?} {out}");
            assert!(out.contains("proxy ok"), "{t:?} {out}");
            assert!(out.contains("udp 13"), "{t:?} {out}");
            assert!(out.contains("own ok"), "{t:?} {out}");
            assert!(guard.accept().is_err(), "the guard listener was reached");
            let c = conns(&r);
            assert!(c.contains(&("connect", ip("192.0.2.1:80"), false)), "{c:?}");
            assert!(
                c.contains(&("connect", ip(&format!("127.0.0.1:{gp}")), false)),
                "{c:?}"
            );
            assert!(
                c.contains(&("connect", ip(&format!("127.0.0.1:{pp}")), true)),
                "{c:?}"
            );
            assert!(c.contains(&("sendto", ip("192.0.2.1:9"), false)), "{c:?}");
            // Audit mode: recorded, not refused.
            let r = py(t, false, net, &code);
            assert!(r.stdout.contains("guard ok"), "{t:?} {}", r.stdout);
            assert!(guard.accept().is_ok());
            assert!(conns(&r).contains(&("connect", ip(&format!("127.0.0.1:{gp}")), false)));
        }
    }

    fn dns_events(r: &Run) -> Vec<(&'static str, SocketAddr, Vec<String>, bool)> {
        r.events
            .iter()
            .filter_map(|e| match e {
                Event::Dns {
                    call,
                    server,
                    names,
                    allowed,
                    ..
                } => Some((*call, *server, names.clone(), *allowed)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn dns_queries_are_read_and_decided() {
        let fake = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        fake.set_nonblocking(true).unwrap();
        let fp = fake.local_addr().unwrap().port();
        let q = |n: &str| super::super::dns::build_query(1, n);
        let hex = |b: Vec<u8>| b.iter().map(|c| format!("{c:02x}")).collect::<String>();
        let (ok, bad) = (hex(q("reg.example.test")), hex(q("secret.evil.test")));
        let code = format!(
            "import socket, errno\n\
             def tx(f):\n  try:\n    f(); return 'sent'\n  \
               except OSError as e: return 'EACCES' if e.errno == errno.EACCES else str(e.errno)\n\
             ok, bad = bytes.fromhex('{ok}'), bytes.fromhex('{bad}')\n\
             u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             print('fake', tx(lambda: u.sendto(bad, ('127.0.0.1', {fp}))))\n\
             print('res-ok', tx(lambda: u.sendto(ok, ('127.0.0.1', 53))))\n\
             print('res-bad', tx(lambda: u.sendmsg([bad], [], 0, ('127.0.0.1', 53))))\n\
             c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             print('conn', tx(lambda: c.connect(('127.0.0.1', 53))))\n\
             print('conn-bad', tx(lambda: c.send(bad)))\n\
             print('conn-ok', tx(lambda: c.send(ok)))\n\
             x = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n\
             print('nscd', tx(lambda: x.connect('/run/nscd/socket')))\n"
        );
        for t in BOTH {
            let net = Net {
                rules: Rules::new(vec![crate::supervise::proxy::Rule::parse_allow(
                    "reg.example.test",
                    "network.allow",
                )
                .unwrap()]),
                ..Net::default()
            };
            let r = py(t, true, net, &code);
            let out = &r.stdout;
            for want in [
                "fake EACCES",
                "res-ok sent",
                "res-bad EACCES",
                "conn sent",
                "conn-bad EACCES",
                "conn-ok sent",
                "nscd EACCES",
            ] {
                assert!(out.contains(want), "{t:?} {want}: {out}");
            }
            let mut b = [0u8; 512];
            assert!(fake.recv(&mut b).is_err(), "the fake resolver got a query");
            let d = dns_events(&r);
            let fake_addr: SocketAddr = format!("127.0.0.1:{fp}").parse().unwrap();
            let res: SocketAddr = "127.0.0.1:53".parse().unwrap();
            let evil = vec!["secret.evil.test".to_string()];
            let good = vec!["reg.example.test".to_string()];
            assert!(
                d.contains(&("sendto", fake_addr, evil.clone(), false)),
                "{d:?}"
            );
            assert!(d.contains(&("sendto", res, good.clone(), true)), "{d:?}");
            assert!(d.contains(&("sendmsg", res, evil.clone(), false)), "{d:?}");
            assert!(
                d.contains(&("sendto", res, evil, false)),
                "connected send: {d:?}"
            );
            assert!(d.contains(&("sendto", res, good, true)), "{d:?}");
            assert!(
                conns(&r).contains(&("connect", Dest::Unix("/run/nscd/socket".into()), false)),
                "{:?}",
                r.events
            );
        }
    }

    #[test]
    fn deep_trees_fork_vfork_threads_execveat_and_proc_fd() {
        // fork → connect; posix_spawn (vfork) → exec; a thread that execs;
        // execveat(fd, "", AT_EMPTY_PATH) of a copy written now under the
        // working directory; exec of /proc/self/fd/N.
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("written-true");
        let code = format!(
            "import os, socket, threading, ctypes, shutil, sys, time\n\
             pid = os.fork()\n\
             if pid == 0:\n  s = socket.socket(); s.settimeout(2)\n  \
               try: s.connect(('192.0.2.7', 81))\n  except OSError: pass\n  os._exit(7)\n\
             os.waitpid(pid, 0)\n\
             p = os.posix_spawn('/bin/true', ['/bin/true', 'vforked'], os.environ)\n\
             os.waitpid(p, 0)\n\
             shutil.copy('/bin/true', {copy:?})\n\
             pid = os.fork()\n\
             if pid == 0:\n  fd = os.open({copy:?}, os.O_RDONLY)\n  \
               libc = ctypes.CDLL(None, use_errno=True)\n  \
               argv = (ctypes.c_char_p * 3)(b'true', b'execveat', None)\n  \
               envp = (ctypes.c_char_p * 1)(None)\n  \
               libc.syscall(322, fd, b'', argv, envp, 0x1000)\n  os._exit(99)\n\
             os.waitpid(pid, 0)\n\
             pid = os.fork()\n\
             if pid == 0:\n  fd = os.open('/bin/true', os.O_RDONLY)\n  \
               os.execv('/proc/self/fd/%d' % fd, ['true', 'procfd'])\n\
             os.waitpid(pid, 0)\n\
             pid = os.fork()\n\
             if pid == 0:\n  \
               t = threading.Thread(target=lambda: os.execv('/bin/true', ['/bin/true', 'from-thread']))\n  \
               t.start(); time.sleep(30)\n\
             os.waitpid(pid, 0)\n\
             print('done')\n"
        );
        for t in BOTH {
            let _ = std::fs::remove_file(&copy);
            let r = py(t, true, Net::default(), &code);
            assert!(r.stdout.contains("done"), "{t:?} {}", r.stdout);
            let ps = procs(&r);
            let find = |arg: &str| {
                ps.iter()
                    .find(|p| p.exec && p.argv.get(1).is_some_and(|a| a == arg))
                    .unwrap_or_else(|| panic!("{t:?}: no exec with {arg}: {ps:#?}"))
            };
            for arg in ["vforked", "execveat", "procfd", "from-thread"] {
                let p = find(arg);
                assert!(lineage_ok(&r, p.pid), "{t:?} {arg} {ps:#?}");
                assert!(
                    exits(&r).contains(&(p.pid, Some(0), None)),
                    "{t:?} {arg} {:?}",
                    exits(&r)
                );
            }
            let at = find("execveat");
            assert_eq!(at.exe.as_deref(), Some(copy.to_str().unwrap()), "{at:?}");
            assert!(
                at.flagged
                    .as_deref()
                    .unwrap_or("")
                    .contains("written during the invocation"),
                "{at:?}"
            );
            assert_eq!(find("procfd").exe.as_deref(), Some("/usr/bin/true"));
            let thr = find("from-thread");
            assert_ne!(thr.tid, thr.pid, "{thr:?}");
            // The forked child that connected without exec is recorded (with
            // its lineage) and so is its exit code.
            let denied = r
                .events
                .iter()
                .find_map(|e| match e {
                    Event::Connect {
                        pid,
                        allowed: false,
                        dest,
                        ..
                    } if *dest == ip("192.0.2.7:81") => Some(*pid),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("{t:?} {:?}", r.events));
            let forked = ps.iter().find(|p| p.pid == denied).unwrap();
            assert!(!forked.exec && forked.ppid == Some(r.root), "{forked:?}");
            assert!(
                exits(&r).contains(&(denied, Some(7), None)),
                "{:?}",
                exits(&r)
            );
        }
    }

    #[test]
    fn io_uring_setup_and_packet_sockets_are_refused() {
        let code = "import ctypes, socket\nlibc = ctypes.CDLL(None, use_errno=True)\n\
                    buf = ctypes.create_string_buffer(120)\n\
                    r = libc.syscall(425, 4, buf)\nprint(r, ctypes.get_errno())\n\
                    try:\n  socket.socket(socket.AF_PACKET, socket.SOCK_RAW); print('packet ok')\n\
                    except OSError as e: print('packet', e.errno)\n";
        for t in BOTH {
            let r = py(t, true, Net::default(), code);
            assert!(
                r.stdout.starts_with(&format!("-1 {}\n", libc::ENOSYS)),
                "{t:?} {}",
                r.stdout
            );
            assert!(
                r.stdout.contains(&format!("packet {}", libc::EACCES)),
                "{t:?} {}",
                r.stdout
            );
        }
    }

    #[test]
    fn the_tree_cannot_attach_to_its_supervisor() {
        let code = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n\
                    r = libc.ptrace(16, os.getppid(), None, None)\nprint(r, ctypes.get_errno())\n\
                    try:\n  open('/proc/%d/mem' % os.getppid(), 'rb'); print('mem ok')\n\
                    except OSError as e: print('mem', e.errno)\n";
        for t in BOTH {
            // Root (CAP_SYS_PTRACE) may attach to anything: only the
            // setting can be checked then.
            // SAFETY: geteuid and prctl have no memory effects.
            if unsafe { libc::geteuid() } == 0 {
                let _ = sh(t, true, "true");
                assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE) }, 0);
                continue;
            }
            let r = py(t, true, Net::default(), code);
            assert!(
                r.stdout.starts_with(&format!("-1 {}\n", libc::EPERM)),
                "{t:?} {}",
                r.stdout
            );
            assert!(!r.stdout.contains("mem ok"), "{t:?} {}", r.stdout);
        }
    }

    #[test]
    fn proxy_only_runs_untraced_and_says_so() {
        let r = sh(Tracer::ProxyOnly, true, "exit 4");
        assert_eq!(r.status.code(), Some(4));
        assert_eq!(tracer_of(&r), "proxy-only");
        assert!(procs(&r).is_empty());
    }

    #[test]
    fn a_gated_launch_runs_nothing_until_its_gate_opens() {
        use super::super::gate::Gate;
        use std::os::unix::process::ExitStatusExt;
        for tracer in [Tracer::Seccomp, Tracer::Ptrace] {
            for open in [false, true] {
                let dir = tempfile::tempdir().unwrap();
                let marker = dir.path().join("m");
                let gate = Arc::new(Gate::default());
                let events: Arc<Mutex<Vec<Event>>> = Arc::default();
                let e = events.clone();
                let t = Tracing {
                    gate: Some(gate.clone()),
                    ..Tracing::new(true, tracer, Arc::new(move |ev| e.lock().unwrap().push(ev)))
                };
                // The shell (the launch) starts; what it runs waits.
                let mut cmd = Command::new("/bin/sh");
                cmd.arg("-c")
                    .arg(format!("/usr/bin/touch {}; exit 3", marker.display()));
                let mut s = spawn(&mut cmd, &t).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(150));
                assert!(!marker.exists(), "{tracer:?}: ran before the gate opened");
                if open {
                    gate.open();
                } else {
                    gate.deny();
                }
                let status = s.wait().unwrap();
                let _ = s.done.recv_timeout(std::time::Duration::from_secs(20));
                if open {
                    assert_eq!(status.code(), Some(3), "{tracer:?}");
                    assert!(marker.exists(), "{tracer:?}");
                } else {
                    assert_eq!(
                        status.signal(),
                        Some(libc::SIGKILL),
                        "{tracer:?} {status:?}"
                    );
                    assert!(!marker.exists(), "{tracer:?}: ran after a denial");
                }
                let tracers: Vec<&str> = events
                    .lock()
                    .unwrap()
                    .iter()
                    .filter_map(|e| match e {
                        Event::Tracer { tracer, .. } => Some(*tracer),
                        _ => None,
                    })
                    .collect();
                assert_eq!(tracers.len(), 1, "{tracer:?}: {tracers:?}");
            }
        }
        // Nothing could hold a proxy-only launch's execs: it does not start.
        let t = Tracing {
            gate: Some(Arc::default()),
            ..Tracing::new(true, Tracer::ProxyOnly, Arc::new(|_| {}))
        };
        let err = spawn(Command::new("/bin/true").arg("x"), &t).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    }

    #[test]
    fn filters_refuse_foreign_abis() {
        let f = filter(RET_USER_NOTIF, true, true);
        assert_eq!(f[1].k, ARCH);
        assert!(f.iter().any(|i| i.k == libc::AF_PACKET as u32));
        let t = filter(RET_TRACE, false, false);
        assert!(t.iter().any(|i| i.k == RET_TRACE));
        assert!(!t.iter().any(|i| i.k == libc::SYS_exit_group as u32));
    }
}
