//! What both tracers (seccomp user notification and ptrace) share: the
//! processes of the tree seen so far, the records, and the decisions on
//! every exec, connection and datagram.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::SystemTime;

use super::mem::{self, Addr};
use super::trace::{Dest, Event, Net, Process, Sink};
use super::{dns, flags};
use crate::decide::urls::NormHost;

/// At most this many `process` records per launch.
const MAX_RECORDED: usize = crate::supervise::MAX_PROCESSES;
/// At most this many live processes watched for their exit at once (a
/// descriptor each; beyond, a normal exit is still seen through `exit_group`).
const MAX_WATCHED: usize = 256;
/// Bytes of a datagram read to look for a DNS query.
const DATAGRAM_PEEK: usize = 1024;

/// `AF_UNIX` sockets of the system resolver (glibc's nscd and the
/// systemd-resolved varlink service): a name lookup that bypasses the DNS
/// datagrams the tracer reads.
pub fn resolver_socket(path: &str) -> bool {
    let p = path.strip_prefix("/var").unwrap_or(path);
    p == "/run/nscd/socket" || p.starts_with("/run/systemd/resolve/")
}

struct Proc {
    /// Start time in clock ticks since boot (to tell a reused pid).
    start: u64,
    exited: bool,
}

pub(super) struct State {
    pub enforce: bool,
    net: std::sync::Arc<Net>,
    sink: Sink,
    shim: u32,
    /// The process pkgward started (the real tool): its execs are not flagged.
    pub root: u32,
    since: SystemTime,
    procs: HashMap<u32, Proc>,
    recorded: usize,
    /// seccomp: exits are watched through pidfds (ptrace sees them).
    pub watch_exits: bool,
    pub watched: Vec<(u32, OwnedFd)>,
    /// seccomp: records of a stop, written once the stopped process has
    /// its answer ([`State::flush`]), so that it does not wait for the
    /// audit log (the facts are read while it is stopped).
    pub defer: bool,
    deferred: std::cell::RefCell<Vec<Event>>,
    /// seccomp: exec stops whose facts were read while the process waited;
    /// the rest (its ancestors, the flags, the record) is done once it has
    /// its answer ([`State::flush`]).
    pending: Vec<ExecStop>,
    /// A gated launch's gate ([`super::gate`]).
    pub gate: Option<std::sync::Arc<super::gate::Gate>>,
}

/// What an exec stop read while the process waited for its answer: what is
/// gone once it runs on (its memory, its descriptors, a thread's id, the
/// file before the new program can remove it).
struct ExecStop {
    tid: u32,
    tgid: u32,
    ppid: Option<u32>,
    start: u64,
    path: String,
    argv: Vec<String>,
    cwd: Option<String>,
    shown: String,
    /// Why the binary counts as written during the invocation.
    written: Option<String>,
}

/// `Ok`: let the call run; `Err(errno)`: fail it.
pub(super) type Verdict = Result<(), i32>;

impl State {
    pub fn new(enforce: bool, net: std::sync::Arc<Net>, sink: Sink, since: SystemTime) -> State {
        State {
            enforce,
            net,
            sink,
            shim: std::process::id(),
            root: 0,
            since,
            procs: HashMap::new(),
            recorded: 0,
            watch_exits: false,
            watched: Vec::new(),
            defer: false,
            deferred: std::cell::RefCell::new(Vec::new()),
            pending: Vec::new(),
            gate: None,
        }
    }

    pub fn emit(&self, e: Event) {
        if self.defer {
            self.deferred.borrow_mut().push(e);
        } else {
            (self.sink)(e)
        }
    }

    /// Finishes the exec stops [`State::defer`] held back, then writes the
    /// records held back, in order.
    pub fn flush(&mut self) {
        for x in std::mem::take(&mut self.pending) {
            self.exec_record(x);
        }
        let held = std::mem::take(&mut *self.deferred.borrow_mut());
        for e in held {
            (self.sink)(e);
        }
    }

    fn deny(&self, allowed: bool) -> Verdict {
        if !allowed && self.enforce {
            Err(libc::EACCES)
        } else {
            Ok(())
        }
    }

    /// Registers `tgid` (started at `start`), watching its exit if asked.
    /// `pidfd`: one opened while `tgid` was stopped (so it is that process).
    fn register(&mut self, tgid: u32, start: u64, pidfd: Option<OwnedFd>) {
        if let Some(p) = self.procs.get(&tgid) {
            if p.start == start {
                return;
            }
        }
        self.procs.insert(
            tgid,
            Proc {
                start,
                exited: false,
            },
        );
        if self.watch_exits && self.watched.len() < MAX_WATCHED {
            let fd = match pidfd {
                Some(fd) => Some(fd),
                // The pid may have been reused between the look-up and the
                // open: keep the descriptor only if it is the same process.
                None => mem::pidfd_open(tgid)
                    .filter(|_| mem::stat(tgid).is_some_and(|s| s.start == start)),
            };
            if let Some(fd) = fd {
                self.watched.retain(|(p, _)| *p != tgid);
                self.watched.push((tgid, fd));
            }
        }
    }

    /// `pid`'s start when it is a process of the tree known to be alive:
    /// registered, not seen ending, and its pidfd not readable — so the pid
    /// still names that process (a pid is reused only once its process has
    /// ended). No `/proc` read: a poll of the pidfd. `None`: not known so.
    fn known_alive(&self, pid: u32) -> Option<u64> {
        let p = self.procs.get(&pid).filter(|p| !p.exited)?;
        let (_, fd) = self.watched.iter().find(|(w, _)| *w == pid)?;
        (!mem::pidfd_ended(fd)).then_some(p.start)
    }

    /// The process thread `tid` belongs to.
    fn tgid_of(&self, tid: u32) -> u32 {
        if self.known_alive(tid).is_some() {
            return tid;
        }
        mem::status(tid).map_or(tid, |s| s.tgid)
    }

    fn count(&mut self) -> bool {
        self.recorded += 1;
        self.recorded <= MAX_RECORDED
    }

    /// Makes sure `pid` and its ancestors up to the real tool have a
    /// `process` record (a process that forked without exec, e.g. a
    /// subshell, is recorded when it or a descendant is first seen).
    pub fn ensure(&mut self, pid: u32) {
        let mut chain = Vec::new();
        let mut p = pid;
        for _ in 0..64 {
            if p <= 1 || p == self.shim || self.known_alive(p).is_some() {
                break;
            }
            let Some(st) = mem::stat(p) else {
                break;
            };
            if self.procs.get(&p).is_some_and(|k| k.start == st.start) {
                break;
            }
            chain.push((p, st.start, st.ppid));
            if p == self.root {
                break;
            }
            p = st.ppid;
        }
        // Older than the real tool: not part of the tree (an ancestor after
        // reparenting); stop at the first such.
        let root_start = self.procs.get(&self.root).map(|r| r.start);
        for (pid, start, ppid) in chain.into_iter().rev() {
            if root_start.is_some_and(|r| start < r) {
                continue;
            }
            self.register(pid, start, None);
            if !self.count() {
                continue;
            }
            let argv = mem::cmdline(pid);
            let exe = mem::exe(pid);
            self.emit(Event::Process(Process {
                pid,
                tid: pid,
                ppid: Some(ppid),
                path: String::new(),
                exe,
                argv,
                cwd: mem::cwd(pid),
                started: mem::start_time(start),
                exec: false,
                flagged: None,
                note: Some("forked, seen before any exec of its own".into()),
            }));
        }
    }

    /// An `execve` (`dirfd` None) or `execveat` by thread `tid`: what
    /// cannot be read once it runs on is read now; its ancestors, flags and
    /// record follow at once (ptrace) or once it has its answer (seccomp,
    /// [`State::flush`]). Execs are recorded, never refused.
    pub fn exec(
        &mut self,
        tid: u32,
        path: String,
        argv: Vec<String>,
        dirfd: Option<i64>,
        at_flags: u64,
    ) -> Verdict {
        let (tgid, ppid, start) = self.identify(tid);
        let cwd = mem::cwd(tid);
        let (file, shown) = resolve(tid, &path, cwd.as_deref(), dirfd, at_flags);
        // Now: the new program could remove or replace its file.
        let written = (tgid != self.root)
            .then(|| flags::written(&file, &shown, self.since))
            .flatten();
        // A gated launch ([`super::gate`]): the exec waits for the gate;
        // denied, its process is killed (the root already is).
        // (The launch's own execs, the tool's — a wrapper or rustup's proxy
        // becoming the real one —, are what the gate lets start: only what
        // the tool starts waits.)
        let launch = tgid == self.root;
        let verdict = match &self.gate {
            Some(g) if !launch && !g.pass(&[&shown, &path], &argv) => {
                // SAFETY: kill with plain integer arguments.
                unsafe { libc::kill(tgid as libc::pid_t, libc::SIGKILL) };
                Err(libc::EACCES)
            }
            _ => Ok(()),
        };
        let x = ExecStop {
            tid,
            tgid,
            ppid,
            start,
            path,
            argv,
            cwd,
            shown,
            written,
        };
        if self.defer {
            self.pending.push(x);
        } else {
            self.exec_record(x);
        }
        verdict
    }

    /// The process of thread `tid` (stopped in exec), registered: (tgid,
    /// ppid, start). One `/proc/<tid>/stat` read; a process seen for the
    /// first time is told from a thread by `pidfd_open`, which only takes a
    /// thread group's leader and gives the descriptor its exit is watched by.
    fn identify(&mut self, tid: u32) -> (u32, Option<u32>, u64) {
        let Some(st) = mem::stat(tid) else {
            self.register(tid, 0, None);
            return (tid, None, 0);
        };
        if self
            .procs
            .get(&tid)
            .is_some_and(|p| p.start == st.start && !p.exited)
        {
            return (tid, Some(st.ppid), st.start);
        }
        if let Some(fd) = mem::pidfd_open(tid) {
            self.register(tid, st.start, Some(fd));
            return (tid, Some(st.ppid), st.start);
        }
        // A thread other than the leader (or a pidfd refused): its process
        // by /proc.
        let tgid = mem::status(tid).map_or(tid, |s| s.tgid);
        let start = if tgid == tid {
            st.start
        } else {
            mem::stat(tgid).map_or(0, |s| s.start)
        };
        self.register(tgid, start, None);
        (tgid, Some(st.ppid), start)
    }

    /// The rest of an exec stop: its not yet recorded ancestors, its flags,
    /// its `process` record.
    fn exec_record(&mut self, x: ExecStop) {
        let ExecStop {
            tid,
            tgid,
            ppid,
            start,
            path,
            argv,
            cwd,
            shown,
            written,
        } = x;
        if let Some(pp) = ppid {
            if tgid != self.root {
                self.ensure(pp);
            }
        }
        let name = std::path::Path::new(&shown)
            .file_name()
            .or_else(|| std::path::Path::new(&path).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let flagged = if tgid == self.root {
            None
        } else {
            // By the program's name, else by the name it was run as (a
            // link: `sh` → dash, a renamed copy).
            let base = |s: &str| {
                std::path::Path::new(s)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            let by_name = flags::flag(&name, &argv)
                .or_else(|| flags::flag(&base(&path), &argv))
                .or_else(|| argv.first().and_then(|a0| flags::flag(&base(a0), &argv)));
            match (by_name, written) {
                (Some(f), Some(w)) => Some(format!("{f}; {w}")),
                (Some(f), None) => Some(f),
                (None, Some(w)) => Some(format!("{w}, started by install-time code")),
                (None, None) => None,
            }
        };
        if self.count() {
            self.emit(Event::Process(Process {
                pid: tgid,
                tid,
                ppid,
                path,
                exe: Some(shown),
                argv,
                cwd,
                started: mem::start_time(start),
                exec: true,
                flagged,
                note: None,
            }));
        }
    }

    /// `exit_group(code)` by thread `tid` (seccomp): the process ends with `code`.
    pub fn exit_group(&mut self, tid: u32, code: u64) {
        let tgid = self.tgid_of(tid);
        self.ensure(tgid);
        if let Some(p) = self.procs.get_mut(&tgid) {
            if p.exited {
                return;
            }
            p.exited = true;
        }
        // exit_group does not return: its pidfd has nothing left to tell,
        // and closing it spares this thread a wake-up when the process ends.
        self.watched.retain(|(p, _)| *p != tgid);
        self.emit(Event::Exit {
            pid: tgid,
            code: Some((code & 0xff) as i32),
            signal: None,
            note: None,
        });
    }

    /// Process `pid` is gone (ptrace: its wait status; seccomp: its pidfd
    /// became readable). Only processes with a record get an exit record.
    pub fn gone(&mut self, pid: u32, code: Option<i32>, signal: Option<i32>, note: Option<String>) {
        match self.procs.get_mut(&pid) {
            Some(p) if !p.exited => p.exited = true,
            _ => return,
        }
        self.emit(Event::Exit {
            pid,
            code,
            signal,
            note,
        });
    }

    /// seccomp: a watched process's pidfd became readable.
    pub fn watched_exit(&mut self, pid: u32) {
        let Some(start) = self.procs.get(&pid).filter(|p| !p.exited).map(|p| p.start) else {
            return;
        };
        // A zombie not reaped yet still tells its wait status.
        match mem::stat(pid) {
            Some(mem::Stat {
                state: 'Z',
                start: s,
                exit: Some(w),
                ..
            }) if s == start => {
                let (code, signal) = if w & 0x7f == 0 {
                    (Some((w >> 8) & 0xff), None)
                } else {
                    (None, Some(w & 0x7f))
                };
                self.gone(pid, code, signal, None)
            }
            _ => self.gone(
                pid,
                None,
                None,
                Some(
                    "ended without exit_group (killed by a signal, or its last thread called exit); \
                     its parent reaped it before the status could be read"
                        .into(),
                ),
            ),
        }
    }

    /// `connect`, `sendto`, `sendmsg`, `sendmmsg` by thread `tid` with
    /// arguments `a`.
    pub fn net(&mut self, tid: u32, nr: i64, a: [u64; 6]) -> Verdict {
        match nr {
            libc::SYS_connect => {
                let Some(addr) = mem::read_sockaddr(tid, a[1], a[2]) else {
                    return Ok(());
                };
                match addr {
                    Addr::Ip(sa) => {
                        let transport = transport(tid, a[0]);
                        let (allowed, reason) = self.decide_ip(tid, sa, transport, "connect", None);
                        let pid = self.pid_of(tid);
                        self.emit(Event::Connect {
                            pid,
                            call: "connect",
                            transport,
                            dest: Dest::Ip(sa),
                            allowed,
                            reason,
                        });
                        self.deny(allowed)
                    }
                    Addr::Unix(path) => {
                        let resolver = resolver_socket(&path);
                        let pid = self.pid_of(tid);
                        self.emit(Event::Connect {
                            pid,
                            call: "connect",
                            transport: "unix",
                            dest: Dest::Unix(path),
                            allowed: !resolver,
                            reason: resolver.then(|| {
                                "the system resolver's socket: name lookups must use DNS datagrams, \
                                 which pkgward reads"
                                    .into()
                            }),
                        });
                        self.deny(!resolver)
                    }
                    Addr::Other => Ok(()),
                }
            }
            libc::SYS_sendto => {
                let dest = if a[4] != 0 {
                    mem::read_sockaddr(tid, a[4], a[5])
                } else {
                    None
                };
                self.send(tid, "sendto", a[0], dest, |p| {
                    mem::read_bytes(p, a[1], a[2], DATAGRAM_PEEK).unwrap_or_default()
                })
            }
            libc::SYS_sendmsg => {
                let Some((name, namelen, iov, iovlen)) = mem::read_msghdr(tid, a[1]) else {
                    return Ok(());
                };
                let dest = mem::read_sockaddr(tid, name, namelen as u64);
                self.send(tid, "sendmsg", a[0], dest, |p| {
                    mem::read_iov(p, iov, iovlen, DATAGRAM_PEEK)
                })
            }
            libc::SYS_sendmmsg => {
                let mut verdict = Ok(());
                // struct mmsghdr = msghdr (56) + unsigned int + padding = 64;
                // the kernel sends at most UIO_MAXIOV (1024) of them.
                for i in 0..a[2].min(1024) {
                    let Some((name, namelen, iov, iovlen)) = mem::read_msghdr(tid, a[1] + i * 64)
                    else {
                        break;
                    };
                    let dest = mem::read_sockaddr(tid, name, namelen as u64);
                    if self
                        .send(tid, "sendmmsg", a[0], dest, |p| {
                            mem::read_iov(p, iov, iovlen, DATAGRAM_PEEK)
                        })
                        .is_err()
                    {
                        verdict = Err(libc::EACCES);
                    }
                }
                verdict
            }
            _ => Ok(()),
        }
    }

    fn pid_of(&mut self, tid: u32) -> u32 {
        let tgid = self.tgid_of(tid);
        self.ensure(tgid);
        tgid
    }

    /// One datagram (or a send on a stream, which is let through unless it
    /// names a destination).
    fn send(
        &mut self,
        tid: u32,
        call: &'static str,
        fd: u64,
        dest: Option<Addr>,
        payload: impl FnOnce(u32) -> Vec<u8>,
    ) -> Verdict {
        let dest = match dest {
            Some(Addr::Ip(sa)) => Some(sa),
            // Datagrams to unix sockets (syslog, journald): not network.
            Some(Addr::Unix(_)) | Some(Addr::Other) => return Ok(()),
            None => None,
        };
        // No destination: a send on a connected socket. Streams were decided
        // at connect; a connected datagram socket may carry DNS queries.
        let sock = mem::steal_fd(tid, fd);
        let ty = sock.as_ref().and_then(mem::sock_type);
        let transport = match ty {
            Some(libc::SOCK_STREAM) => "tcp",
            Some(libc::SOCK_DGRAM) => "udp",
            Some(_) => "other",
            None => "unknown",
        };
        let (sa, connected) = match dest {
            Some(sa) => (sa, false),
            None => {
                if transport == "tcp" {
                    return Ok(());
                }
                match sock.as_ref().and_then(mem::peer) {
                    Some(Addr::Ip(sa)) => (sa, true),
                    _ => return Ok(()),
                }
            }
        };
        drop(sock);
        let data = payload(tid);
        let names = dns::query_names(&data);
        if connected && names.is_none() {
            // Decided (and recorded) at connect.
            return Ok(());
        }
        let (allowed, reason) = self.decide_ip(tid, sa, transport, call, names.as_deref());
        let pid = self.pid_of(tid);
        match names {
            Some(names) => self.emit(Event::Dns {
                pid,
                call,
                transport,
                server: sa,
                names,
                allowed,
                reason,
            }),
            None => self.emit(Event::Connect {
                pid,
                call,
                transport,
                dest: Dest::Ip(sa),
                allowed,
                reason,
            }),
        }
        self.deny(allowed)
    }

    /// Whether the tree may reach `sa`, and why (not).
    fn decide_ip(
        &mut self,
        tid: u32,
        sa: SocketAddr,
        transport: &str,
        call: &str,
        dns_names: Option<&[String]>,
    ) -> (bool, Option<String>) {
        let ip = sa.ip();
        let port = sa.port();
        let loopback = ip.is_loopback();
        let mut addr = (|| {
            if let Some(r) = self.net.rules.find(&NormHost::Ip(ip), port) {
                return (true, Some(format!("{}: {r}", r.source)));
            }
            if loopback && Some(port) == self.net.proxy_port && transport == "tcp" {
                return (true, Some("the egress proxy".into()));
            }
            if port == 53 && (loopback || self.net.resolvers.contains(&ip)) {
                return match (dns_names, transport, call) {
                    (Some(_), "udp", _) => (true, None),
                    (None, "udp", "connect") => (
                        true,
                        Some("the system resolver (queries are read from the datagrams)".into()),
                    ),
                    _ => (
                        false,
                        Some("only DNS queries in UDP datagrams may reach the resolver".into()),
                    ),
                };
            }
            if loopback {
                if self.tree_listens(tid, port) {
                    return (true, Some("a listener of the supervised tree".into()));
                }
                return (
                    false,
                    Some(format!(
                        "loopback port {port} is not the egress proxy (nor an approved registry)"
                    )),
                );
            }
            (
                false,
                Some(
                    "not an approved destination: connections must go through the egress proxy"
                        .into(),
                ),
            )
        })();
        if let (Some(names), true) = (dns_names, addr.0) {
            for n in names {
                let ok = NormHost::parse(n)
                    .ok()
                    .is_some_and(|h| self.net.rules.find_host(&h).is_some());
                if !ok {
                    addr = (
                        false,
                        Some(format!(
                            "DNS query for {n}: not an approved registry host or [network] allow entry"
                        )),
                    );
                    break;
                }
            }
        }
        addr
    }

    /// Whether a socket bound to loopback `port` belongs to a live process
    /// of the tree (a nested pkgward's proxy, a test server the build
    /// starts): traffic that never leaves the tree.
    fn tree_listens(&self, tid: u32, port: u16) -> bool {
        let inodes = mem::bound_inodes(tid, port);
        if inodes.is_empty() {
            return false;
        }
        self.procs
            .iter()
            .filter(|(_, p)| !p.exited)
            .take(4096)
            .any(|(pid, _)| mem::holds_socket(*pid, &inodes))
    }
}

fn transport(tid: u32, fd: u64) -> &'static str {
    match mem::steal_fd(tid, fd).as_ref().and_then(mem::sock_type) {
        Some(libc::SOCK_STREAM) => "tcp",
        Some(libc::SOCK_DGRAM) => "udp",
        Some(_) => "other",
        None => "unknown",
    }
}

/// The file an exec names (for `stat`) and how to show it: `/proc/self`
/// is the caller's, a relative path is relative to its cwd (or `dirfd`),
/// `execveat(fd, "", AT_EMPTY_PATH)` is the descriptor itself.
fn resolve(
    tid: u32,
    path: &str,
    cwd: Option<&str>,
    dirfd: Option<i64>,
    at_flags: u64,
) -> (PathBuf, String) {
    let proc_fd = |fd: i64| PathBuf::from(format!("/proc/{tid}/fd/{fd}"));
    let file: PathBuf = if let Some(rest) = path
        .strip_prefix("/proc/self/")
        .or_else(|| path.strip_prefix("/proc/thread-self/"))
    {
        PathBuf::from(format!("/proc/{tid}/{rest}"))
    } else if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        match dirfd {
            Some(fd) if path.is_empty() && at_flags & libc::AT_EMPTY_PATH as u64 != 0 => {
                proc_fd(fd)
            }
            Some(fd) if fd != libc::AT_FDCWD as i64 => proc_fd(fd).join(path),
            _ => PathBuf::from(cwd.unwrap_or("/")).join(path),
        }
    };
    let shown = std::fs::canonicalize(&file)
        .ok()
        .filter(|p| !p.starts_with("/proc"))
        .map(|p| p.to_string_lossy().into_owned())
        .or_else(|| {
            std::fs::read_link(&file)
                .ok()
                .map(|p| p.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| file.to_string_lossy().into_owned());
    (file, shown)
}
