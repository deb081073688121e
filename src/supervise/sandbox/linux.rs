//! Linux confinement: Landlock (file system, TCP ports, scopes) and a user +
//! network namespace, both entered in the child between `fork` and `exec`,
//! before the tracer's seccomp filter (whose `pre_exec` is registered after
//! ours, so it runs after ours).
//!
//! The network namespace has only `lo`. To keep the egress proxy at the URL
//! the tool was given (`http://127.0.0.1:PORT`), the child binds a listener
//! on 127.0.0.1:PORT inside the new namespace and passes it to pkgward over
//! a socketpair (`SCM_RIGHTS`); pkgward's proxy accepts on it (a socket
//! keeps its namespace). Nothing else is reachable from inside: no route
//! out, no DNS, no other loopback service.
//!
//! Everything the child does before `exec` is a plain system call on
//! buffers prepared before `fork` (no allocation, no locks).

use std::ffi::CStr;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use landlock::{
    Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, Scope, ABI,
};

use super::{Offered, Plan, DEVICES_R, DEVICES_RW};

/// The newest Landlock ABI pkgward knows the rights of; older kernels get
/// what they support (best effort), and the record says what that was.
const ABI_WANTED: ABI = ABI::V9;

/// The running kernel's Landlock ABI (0: none).
pub fn landlock_abi() -> u32 {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
    // only returns a number.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32,
        )
    };
    if v < 0 {
        0
    } else {
        v as u32
    }
}

/// Whether seccomp user notification is available.
pub fn seccomp_notify() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail")
        .is_ok_and(|s| s.split_whitespace().any(|a| a == "user_notif"))
}

/// Tries `unshare(CLONE_NEWUSER | CLONE_NEWNET)` in a short-lived child:
/// `Ok` or the errno.
pub fn probe_user_netns() -> Result<(), i32> {
    let mut cmd = Command::new("/");
    // SAFETY: unshare and _exit are async-signal-safe; the child never execs.
    unsafe {
        cmd.pre_exec(|| {
            let rc = libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET);
            let code = if rc == 0 {
                0
            } else {
                *libc::__errno_location() & 0x7f
            };
            libc::_exit(code.max(0));
        });
    }
    match cmd.status() {
        Ok(s) => match s.code() {
            Some(0) => Ok(()),
            Some(e) => Err(e),
            None => Err(libc::EINVAL),
        },
        Err(e) => Err(e.raw_os_error().unwrap_or(libc::EINVAL)),
    }
}

pub(super) fn offered() -> Offered {
    let abi = landlock_abi();
    let userns = probe_user_netns();
    let seccomp = seccomp_notify();
    let mut layers = vec!["env-scrub", "private-tmp"];
    if abi >= 1 {
        layers.push("landlock-fs");
    }
    if abi >= 4 {
        layers.push("landlock-net");
    }
    if abi >= 6 {
        layers.push("landlock-scope");
    }
    if userns.is_ok() {
        layers.push("netns");
    }
    if seccomp {
        layers.push("seccomp");
    }
    Offered {
        landlock_abi: abi,
        user_netns: userns.is_ok(),
        user_netns_error: userns.err().map(errno_name),
        seccomp_notify: seccomp,
        seatbelt: false,
        layers,
    }
}

pub(super) fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        libc::ENOSYS => "ENOSYS",
        libc::ENOSPC => "ENOSPC",
        libc::EUSERS => "EUSERS",
        libc::ENOMEM => "ENOMEM",
        _ => return format!("errno {e}"),
    };
    name.to_string()
}

/// The Landlock ruleset for a plan, built in the parent; `None` when the
/// kernel has no Landlock.
pub fn ruleset(plan: &Plan, abi: u32) -> Result<Option<OwnedFd>, String> {
    if abi == 0 {
        return Ok(None);
    }
    let err = |e: landlock::RulesetError| format!("Landlock: {e}");
    let read = AccessFs::from_read(ABI_WANTED);
    let all = AccessFs::from_all(ABI_WANTED);
    let write = all & !(AccessFs::MakeChar | AccessFs::MakeBlock);
    let device = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate | AccessFs::IoctlDev;
    let mut rs = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .map_err(err)?;
    if abi >= 4 {
        rs = rs
            .handle_access(AccessNet::from_all(ABI_WANTED))
            .map_err(err)?;
    }
    if abi >= 6 {
        rs = rs.scope(Scope::from_all(ABI_WANTED)).map_err(err)?;
    }
    let mut rs = rs.create().map_err(err)?;
    let mut add = |p: &Path, access| -> Result<(), String> {
        let fd = match PathFd::new(p) {
            Ok(fd) => fd,
            // Gone since it was listed: nothing to grant.
            Err(_) => return Ok(()),
        };
        rs.as_mut()
            .add_rule(PathBeneath::new(fd, access))
            .map(|_| ())
            .map_err(|e| format!("Landlock rule for {}: {e}", p.display()))
    };
    for p in &plan.read {
        add(p, read)?;
    }
    for p in &plan.write {
        add(p, write)?;
    }
    // A device that is a pipe or a socket here (`/dev/stdin` when pkgward's
    // stdin is a pipe): no file-system object to grant (Landlock has no
    // rule for one, and does not restrict pipes and sockets).
    let pipe = |d: &str| {
        use std::os::unix::fs::FileTypeExt;
        std::fs::metadata(d).is_ok_and(|m| m.file_type().is_fifo() || m.file_type().is_socket())
    };
    for d in DEVICES_RW.iter().filter(|d| !pipe(d)) {
        add(Path::new(d), device)?;
    }
    for d in DEVICES_R.iter().filter(|d| !pipe(d)) {
        add(Path::new(d), AccessFs::ReadFile.into())?;
    }
    if abi >= 4 {
        if let Some(port) = plan.proxy_port {
            rs.as_mut()
                .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
                .map_err(err)?;
        }
    }
    let fd: Option<OwnedFd> = rs.into();
    Ok(fd)
}

/// The layers a Landlock ABI gives.
pub fn landlock_layers(abi: u32) -> Vec<&'static str> {
    let mut out = Vec::new();
    if abi >= 1 {
        out.push("landlock-fs");
    }
    if abi >= 4 {
        out.push("landlock-net");
    }
    if abi >= 6 {
        out.push("landlock-scope");
    }
    out
}

// ---- the socket filter -----------------------------------------------------

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// A seccomp filter (no listener) for sandboxed code: `socket(2)` may make
/// only TCP sockets (and netlink, for interface queries); UDP, raw and
/// UNIX-domain sockets fail with `EACCES`. Landlock has no UDP rules and
/// (before ABI 9) no rules for connecting to a UNIX socket by path, so this
/// closes DNS (a resolver on loopback, `nss-resolve`'s varlink socket) and
/// local services (a Docker socket, an SSH agent) as ways out, also where
/// there is no network namespace. Socket pairs (pipes between processes)
/// are untouched. Also refused: TCP Fast Open (`MSG_FASTOPEN` connects
/// from `sendto`/`sendmsg`, past Landlock's connect rule) and
/// `io_uring_setup` (its operations bypass system-call filters); foreign
/// syscall ABIs fail with `ENOSYS`.
pub fn socket_filter() -> Vec<libc::sock_filter> {
    let ld = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    let ret = (libc::BPF_RET | libc::BPF_K) as u16;
    let st = |code: u16, k: u32| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    const ALLOW: u32 = 0x7fff_0000;
    const ERRNO: u32 = 0x0005_0000;
    let deny = ERRNO | libc::EACCES as u32;
    let mut p = vec![
        st(ld, 4),
        jeq(AUDIT_ARCH, 1, 0),
        st(ret, ERRNO | libc::ENOSYS as u32),
        st(ld, 0),
    ];
    #[cfg(target_arch = "x86_64")]
    {
        p.push(libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: 0x4000_0000,
        });
        p.push(st(ret, ERRNO | libc::ENOSYS as u32));
    }
    // io_uring makes sockets and connections without these system calls.
    p.push(jeq(libc::SYS_io_uring_setup as u32, 0, 1));
    p.push(st(ret, ERRNO | libc::ENOSYS as u32));
    // TCP Fast Open (MSG_FASTOPEN) connects from sendto/sendmsg, where
    // Landlock's connect rule does not apply: refused. (flags: sendto
    // args[3], sendmsg args[2], sendmmsg args[3].)
    let fastopen = libc::MSG_FASTOPEN as u32;
    let jset = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    for (nr, arg) in [
        (libc::SYS_sendto, 3u32),
        (libc::SYS_sendmsg, 2),
        (libc::SYS_sendmmsg, 3),
    ] {
        p.extend([
            jeq(nr as u32, 0, 4),
            st(ld, 16 + 8 * arg),
            jset(fastopen, 0, 1),
            st(ret, deny),
            st(ret, ALLOW),
        ]);
    }
    p.extend([
        // Not socket(2): allow.
        jeq(libc::SYS_socket as u32, 1, 0),
        st(ret, ALLOW),
        // args[0]: the family.
        st(ld, 16),
        jeq(libc::AF_NETLINK as u32, 0, 1),
        st(ret, ALLOW),
        jeq(libc::AF_INET as u32, 2, 0),
        jeq(libc::AF_INET6 as u32, 1, 0),
        st(ret, deny),
        // args[1]: the type, without SOCK_NONBLOCK / SOCK_CLOEXEC.
        st(ld, 24),
        st((libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16, 0xf),
        jeq(libc::SOCK_STREAM as u32, 0, 1),
        st(ret, ALLOW),
        st(ret, deny),
    ]);
    p
}

/// Async-signal-safe: no capabilities now or after `exec`, even for root
/// (the bounding and ambient sets emptied, then the process's own sets).
/// Without it, sandboxed code run by root keeps `CAP_SYS_MODULE`,
/// `CAP_SYS_ADMIN`, `CAP_DAC_READ_SEARCH`… where there is no user namespace.
unsafe fn drop_capabilities() -> io::Result<()> {
    for cap in 0..64 {
        // EINVAL past the last capability; EPERM without CAP_SETPCAP (then
        // there was nothing to drop).
        libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
    }
    libc::prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL,
        0,
        0,
        0,
    );
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let header = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let data = [
        Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        },
        Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        },
    ];
    if libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

// ---- the child's side ------------------------------------------------------

/// What the child reports over the socketpair (8 bytes: kind, stage, errno).
const NS_OK: u8 = 1;
const NS_FAILED: u8 = 2;

/// Which step failed.
const STAGE_UNSHARE: u8 = 1;
const STAGE_MAPS: u8 = 2;
const STAGE_LO: u8 = 3;
const STAGE_LISTEN: u8 = 4;

/// A fixed buffer for an id map line (`"0 0 1\n"`), filled before fork.
#[derive(Clone, Copy)]
struct MapLine {
    buf: [u8; 48],
    len: usize,
}

impl MapLine {
    fn new(id: u32) -> MapLine {
        let text = format!("{id} {id} 1\n");
        let mut buf = [0u8; 48];
        buf[..text.len()].copy_from_slice(text.as_bytes());
        MapLine {
            buf,
            len: text.len(),
        }
    }
}

/// The netns request for one child.
#[derive(Clone, Copy)]
struct NetnsSetup {
    sock: RawFd,
    port: Option<u16>,
    uid: MapLine,
    gid: MapLine,
    /// Fail the child when the namespace cannot be made.
    require: bool,
}

const SETGROUPS: &CStr = c"/proc/self/setgroups";
const UID_MAP: &CStr = c"/proc/self/uid_map";
const GID_MAP: &CStr = c"/proc/self/gid_map";

/// Async-signal-safe: open, write, close.
unsafe fn write_file(path: &CStr, data: &[u8]) -> bool {
    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
    if fd < 0 {
        return false;
    }
    let n = libc::write(fd, data.as_ptr().cast(), data.len());
    libc::close(fd);
    n == data.len() as isize
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Async-signal-safe: sets IFF_UP on `lo`.
unsafe fn loopback_up() -> bool {
    let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
    if s < 0 {
        return false;
    }
    // struct ifreq: 16 bytes of name, then the union (flags: short).
    let mut ifr = [0u8; 40];
    ifr[..2].copy_from_slice(b"lo");
    let ok = libc::ioctl(s, libc::SIOCGIFFLAGS as _, ifr.as_mut_ptr()) == 0 && {
        let flags = i16::from_ne_bytes([ifr[16], ifr[17]]) | (libc::IFF_UP as i16);
        ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
        libc::ioctl(s, libc::SIOCSIFFLAGS as _, ifr.as_mut_ptr()) == 0
    };
    libc::close(s);
    ok
}

/// Async-signal-safe: a listening TCP socket on 127.0.0.1:port, or -1.
unsafe fn listen_on(port: u16) -> RawFd {
    let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
    if s < 0 {
        return -1;
    }
    let one: libc::c_int = 1;
    libc::setsockopt(
        s,
        libc::SOL_SOCKET,
        libc::SO_REUSEADDR,
        (&one as *const libc::c_int).cast(),
        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
    );
    let mut addr: libc::sockaddr_in = std::mem::zeroed();
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_port = port.to_be();
    addr.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
    let bound = libc::bind(
        s,
        (&addr as *const libc::sockaddr_in).cast(),
        std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
    ) == 0;
    if !bound || libc::listen(s, 128) != 0 {
        libc::close(s);
        return -1;
    }
    s
}

#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

/// Async-signal-safe: sends the 8-byte status and, if `fd >= 0`, the fd.
unsafe fn send_status(sock: RawFd, status: &[u8; 8], fd: RawFd) -> bool {
    let mut iov = libc::iovec {
        iov_base: status.as_ptr() as *mut libc::c_void,
        iov_len: 8,
    };
    let mut cbuf = CmsgBuf([0; 64]);
    let mut msg: libc::msghdr = std::mem::zeroed();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if fd >= 0 {
        let space = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() {
            return false;
        }
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::copy_nonoverlapping(
            (&fd as *const RawFd).cast::<u8>(),
            libc::CMSG_DATA(c),
            std::mem::size_of::<RawFd>(),
        );
    }
    libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) == 8
}

/// In the child: the namespace, the listener, the report. Returns the
/// errno to fail the child with, or 0.
unsafe fn enter_netns(n: &NetnsSetup) -> i32 {
    let mut status = [0u8; 8];
    let fail = |status: &mut [u8; 8], stage: u8, e: i32| {
        status[0] = NS_FAILED;
        status[1] = stage;
        status[4..8].copy_from_slice(&e.to_ne_bytes());
    };
    let mut listener = -1;
    let mut entered = false;
    if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) != 0 {
        fail(&mut status, STAGE_UNSHARE, errno());
    } else {
        entered = true;
        // setgroups may be missing on old kernels: then the gid map works anyway.
        write_file(SETGROUPS, b"deny");
        if !write_file(UID_MAP, &n.uid.buf[..n.uid.len])
            || !write_file(GID_MAP, &n.gid.buf[..n.gid.len])
        {
            fail(&mut status, STAGE_MAPS, errno());
        } else if !loopback_up() {
            fail(&mut status, STAGE_LO, errno());
        } else {
            match n.port {
                Some(p) => {
                    listener = listen_on(p);
                    if listener < 0 {
                        fail(&mut status, STAGE_LISTEN, errno());
                    } else {
                        status[0] = NS_OK;
                    }
                }
                None => status[0] = NS_OK,
            }
        }
    }
    let sent = send_status(n.sock, &status, listener);
    if listener >= 0 {
        libc::close(listener);
    }
    if status[0] == NS_OK && !sent {
        // The proxy would be unreachable: fail rather than run cut off.
        return libc::EPIPE;
    }
    if status[0] != NS_OK && (n.require || entered) {
        // Half made (in a user namespace without a map) or required: the
        // child must not run; the parent retries without it or refuses.
        let e = i32::from_ne_bytes([status[4], status[5], status[6], status[7]]);
        return if e == 0 { libc::EPERM } else { e };
    }
    0
}

// ---- the parent's side -----------------------------------------------------

/// How the namespace went, as the child reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetnsOutcome {
    /// In force (with the proxy listener passed, when there is a proxy).
    InForce,
    /// Failed at a step, with the errno.
    Failed { stage: &'static str, errno: i32 },
    /// The child reported nothing (it failed before, or was not asked).
    Unknown,
}

impl NetnsOutcome {
    pub fn describe(&self) -> String {
        match self {
            NetnsOutcome::InForce => "in force".into(),
            NetnsOutcome::Failed { stage, errno } => {
                format!("{stage} failed ({})", errno_name(*errno))
            }
            NetnsOutcome::Unknown => "not reported".into(),
        }
    }
}

fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair fills two descriptors we then own.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Receives the child's report (blocking until it sends or the socket's
/// other end is closed).
fn receive(sock: &OwnedFd) -> (NetnsOutcome, Option<TcpListener>) {
    let mut status = [0u8; 8];
    let mut iov = libc::iovec {
        iov_base: status.as_mut_ptr().cast(),
        iov_len: 8,
    };
    let mut cbuf = CmsgBuf([0; 64]);
    // SAFETY: a msghdr over local buffers; the received fd (if any) is
    // taken into an OwnedFd.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = cbuf.0.len() as _;
        let n = loop {
            let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            break n;
        };
        if n != 8 {
            return (NetnsOutcome::Unknown, None);
        }
        let mut listener = None;
        let c = libc::CMSG_FIRSTHDR(&msg);
        if !c.is_null() && (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS
        {
            let mut fd: RawFd = -1;
            std::ptr::copy_nonoverlapping(
                libc::CMSG_DATA(c),
                (&mut fd as *mut RawFd).cast::<u8>(),
                std::mem::size_of::<RawFd>(),
            );
            if fd >= 0 {
                listener = Some(TcpListener::from(OwnedFd::from_raw_fd(fd)));
            }
        }
        let outcome = match status[0] {
            NS_OK => NetnsOutcome::InForce,
            NS_FAILED => NetnsOutcome::Failed {
                stage: match status[1] {
                    STAGE_UNSHARE => "unshare(CLONE_NEWUSER|CLONE_NEWNET)",
                    STAGE_MAPS => "writing the uid/gid maps",
                    STAGE_LO => "bringing up lo",
                    STAGE_LISTEN => "binding the proxy listener",
                    _ => "the network namespace",
                },
                errno: i32::from_ne_bytes([status[4], status[5], status[6], status[7]]),
            },
            _ => NetnsOutcome::Unknown,
        };
        (outcome, listener)
    }
}

/// The child side armed on a command, and the parent side waiting.
pub struct Armed {
    /// The child's end: closed once the child has started (or failed to).
    child_end: Option<OwnedFd>,
    receiver: Option<std::thread::JoinHandle<(NetnsOutcome, Option<super::super::proxy::Extra>)>>,
}

impl Armed {
    /// After the child ended: its report and the extra listener stopped.
    pub fn finish(mut self) -> NetnsOutcome {
        drop(self.child_end.take());
        match self.receiver.take().map(|r| r.join()) {
            Some(Ok((outcome, extra))) => {
                if let Some(x) = extra {
                    x.stop();
                }
                outcome
            }
            _ => NetnsOutcome::Unknown,
        }
    }
}

/// Registers the child's confinement on `cmd`: the network namespace (when
/// `netns`), then Landlock (when `ruleset`), then no capabilities, then the
/// [`socket_filter`]. The namespace's listener is
/// served by `proxy` as soon as the child passes it.
pub fn arm(
    cmd: &mut Command,
    netns: bool,
    require_netns: bool,
    ruleset: Option<&OwnedFd>,
    proxy: Option<super::super::proxy::Handle>,
) -> io::Result<Armed> {
    let mut armed = Armed {
        child_end: None,
        receiver: None,
    };
    let setup = if netns {
        let (parent_end, child_end) = socketpair()?;
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let setup = NetnsSetup {
            sock: child_end.as_raw_fd(),
            port: proxy.as_ref().map(|p| p.port()),
            uid: MapLine::new(uid),
            gid: MapLine::new(gid),
            require: require_netns,
        };
        armed.child_end = Some(child_end);
        let receiver = std::thread::Builder::new()
            .name("pkgward-sandbox-ns".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let (outcome, listener) = receive(&parent_end);
                let extra = match (listener, &proxy) {
                    (Some(l), Some(p)) => p.serve_extra(l).ok(),
                    _ => None,
                };
                (outcome, extra)
            })?;
        armed.receiver = Some(receiver);
        Some(setup)
    } else {
        None
    };
    let ruleset_fd = ruleset.map(|r| r.as_raw_fd());
    let sockets = socket_filter();
    // SAFETY: the closure makes only async-signal-safe system calls on
    // data prepared above (copied into the closure).
    unsafe {
        cmd.pre_exec(move || {
            if let Some(n) = &setup {
                let e = enter_netns(n);
                if e != 0 {
                    return Err(io::Error::from_raw_os_error(e));
                }
            }
            if let Some(fd) = ruleset_fd {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            drop_capabilities()?;
            let prog = libc::sock_fprog {
                len: sockets.len() as u16,
                filter: sockets.as_ptr() as *mut libc::sock_filter,
            };
            if libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0u32,
                &prog as *const libc::sock_fprog,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(armed)
}
