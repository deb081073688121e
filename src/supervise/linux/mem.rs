//! Reading a traced process: its memory (`process_vm_readv`), its
//! descriptors (`pidfd_getfd`) and what `/proc` says about it. Everything
//! here is best effort: a process may be gone by the time it is read, and
//! every reader returns `None` then instead of failing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub(super) fn read_mem(pid: u32, addr: u64, buf: &mut [u8]) -> Option<usize> {
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

/// Up to `max` bytes at `addr`, reading page by page so a buffer that ends
/// near an unmapped page is still read.
pub(super) fn read_bytes(pid: u32, addr: u64, len: u64, max: usize) -> Option<Vec<u8>> {
    let want = (len as usize).min(max);
    let mut out = Vec::with_capacity(want);
    let mut at = addr;
    while out.len() < want {
        let room = 4096 - (at % 4096) as usize;
        let mut buf = vec![0u8; room.min(want - out.len())];
        let n = read_mem(pid, at, &mut buf)?;
        out.extend_from_slice(&buf[..n]);
        at += n as u64;
    }
    Some(out)
}

pub(super) fn read_cstr(pid: u32, addr: u64) -> Option<String> {
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < MAX_CSTR {
        // Read up to the end of the page, so a string near an unmapped page
        // is still read.
        let room = CHUNK - (at % CHUNK as u64) as usize;
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

pub(super) fn read_u64(pid: u32, addr: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    (read_mem(pid, addr, &mut b)? == 8).then(|| u64::from_ne_bytes(b))
}

/// The longest string read from a process (longer ones are cut).
const MAX_CSTR: usize = 4096;
/// What [`Pages`] reads at once: 4 KiB, aligned. Mappings are made of whole
/// pages of at least this size, so an aligned chunk holding one readable
/// byte is readable whole.
const CHUNK: usize = 4096;
/// At most this many chunks kept by one [`Pages`] (256 KiB).
const MAX_CHUNKS: usize = 64;

/// A stopped process's memory read a 4 KiB chunk at a time, each chunk read
/// once: an exec's path, its argv pointers and their strings usually lie
/// on a few pages, so a command line of 50 arguments costs a few reads
/// instead of two per argument.
pub(super) struct Pages {
    pid: u32,
    chunks: Vec<(u64, Box<[u8]>)>,
    /// Chunks read so far.
    reads: usize,
}

impl Pages {
    pub fn new(pid: u32) -> Pages {
        Pages {
            pid,
            chunks: Vec::new(),
            reads: 0,
        }
    }

    /// The chunk at `base` (aligned); `None` when it cannot be read whole.
    fn chunk(&mut self, base: u64) -> Option<&[u8]> {
        let i = match self.chunks.iter().position(|(b, _)| *b == base) {
            Some(i) => i,
            None => {
                let mut buf = vec![0u8; CHUNK].into_boxed_slice();
                self.reads += 1;
                if read_mem(self.pid, base, &mut buf)? != CHUNK {
                    return None;
                }
                if self.chunks.len() == MAX_CHUNKS {
                    self.chunks.remove(0);
                }
                self.chunks.push((base, buf));
                self.chunks.len() - 1
            }
        };
        Some(&self.chunks[i].1)
    }

    /// The bytes at `addr` up to the end of its chunk.
    fn tail(&mut self, addr: u64) -> Option<&[u8]> {
        let off = (addr % CHUNK as u64) as usize;
        self.chunk(addr - off as u64).map(|c| &c[off..])
    }

    pub fn u64(&mut self, addr: u64) -> Option<u64> {
        if addr == 0 {
            return None;
        }
        match self.tail(addr) {
            Some(t) if t.len() >= 8 => t[..8].try_into().ok().map(u64::from_ne_bytes),
            // Across two chunks, or a mapping read whole refused.
            _ => read_u64(self.pid, addr),
        }
    }

    /// The NUL-terminated string at `addr` (at most 4 KiB of it).
    pub fn cstr(&mut self, addr: u64) -> Option<String> {
        if addr == 0 {
            return None;
        }
        let mut out = Vec::new();
        let mut at = addr;
        while out.len() < MAX_CSTR {
            let Some(t) = self.tail(at) else {
                // A mapping that cannot be read a chunk at a time: the
                // string as the plain reader gets it.
                return read_cstr(self.pid, addr);
            };
            if let Some(z) = t.iter().position(|&b| b == 0) {
                out.extend_from_slice(&t[..z]);
                break;
            }
            out.extend_from_slice(t);
            at += t.len() as u64;
        }
        out.truncate(MAX_CSTR);
        Some(String::from_utf8_lossy(&out).into_owned())
    }

    /// The strings of a NULL-terminated `char *[]` (at most 256).
    pub fn argv(&mut self, argv: u64) -> Vec<String> {
        let mut out = Vec::new();
        for i in 0..256u64 {
            match self.u64(argv + i * 8) {
                Some(0) | None => break,
                Some(p) => out.push(self.cstr(p).unwrap_or_default()),
            }
        }
        out
    }
}

/// A socket address as the process passed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    Ip(SocketAddr),
    /// `AF_UNIX`: a path, or `@name` for the abstract namespace.
    Unix(String),
    /// Another family (netlink, …), or none.
    Other,
}

pub(super) fn read_sockaddr(pid: u32, addr: u64, len: u64) -> Option<Addr> {
    let len = (len as usize).min(128);
    if len < 2 || addr == 0 {
        return None;
    }
    let mut b = vec![0u8; len];
    let n = read_mem(pid, addr, &mut b)?;
    Some(parse_addr(&b[..n]))
}

/// An IPv4/IPv6 `sockaddr`; `None` for other families (unix, netlink…).
pub fn parse_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    match parse_addr(b) {
        Addr::Ip(a) => Some(a),
        _ => None,
    }
}

pub(super) fn parse_addr(b: &[u8]) -> Addr {
    let Some(family) = b.get(..2).map(|f| u16::from_ne_bytes([f[0], f[1]]) as i32) else {
        return Addr::Other;
    };
    match family {
        libc::AF_INET if b.len() >= 8 => {
            let port = u16::from_be_bytes([b[2], b[3]]);
            let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            Addr::Ip(SocketAddr::new(ip.into(), port))
        }
        libc::AF_INET6 if b.len() >= 24 => {
            let port = u16::from_be_bytes([b[2], b[3]]);
            let mut o = [0u8; 16];
            o.copy_from_slice(&b[8..24]);
            let v6 = Ipv6Addr::from(o);
            // An IPv4-mapped destination is that IPv4 destination.
            let ip = match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            };
            Addr::Ip(SocketAddr::new(ip, port))
        }
        libc::AF_UNIX => {
            let p = &b[2..];
            match p.first() {
                None => Addr::Other,
                Some(0) => {
                    let name = &p[1..];
                    Addr::Unix(format!("@{}", String::from_utf8_lossy(name)))
                }
                Some(_) => {
                    let end = p.iter().position(|&c| c == 0).unwrap_or(p.len());
                    Addr::Unix(String::from_utf8_lossy(&p[..end]).into_owned())
                }
            }
        }
        _ => Addr::Other,
    }
}

/// `struct msghdr` fields: (name, namelen, iov, iovlen).
pub(super) fn read_msghdr(pid: u32, msghdr: u64) -> Option<(u64, u32, u64, u64)> {
    let mut b = [0u8; 32];
    if read_mem(pid, msghdr, &mut b)? < 32 {
        return None;
    }
    let u = |i: usize| u64::from_ne_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
    Some((u(0), u(8) as u32, u(16), u(24)))
}

/// The first `max` bytes of an iovec array's data.
pub(super) fn read_iov(pid: u32, iov: u64, iovlen: u64, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..iovlen.min(64) {
        if out.len() >= max {
            break;
        }
        let (Some(base), Some(len)) =
            (read_u64(pid, iov + i * 16), read_u64(pid, iov + i * 16 + 8))
        else {
            break;
        };
        if len == 0 {
            continue;
        }
        match read_bytes(pid, base, len, max - out.len()) {
            Some(b) => out.extend_from_slice(&b),
            None => break,
        }
    }
    out
}

pub(super) fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: plain system call; the result is checked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a fresh descriptor we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

pub(super) fn pidfd_getfd(pidfd: &OwnedFd, fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: plain system call; the result is checked.
    let l = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    // SAFETY: a fresh descriptor we own.
    (l >= 0).then(|| unsafe { OwnedFd::from_raw_fd(l as RawFd) })
}

/// A copy of descriptor `fd` of thread `tid`'s process.
pub(super) fn steal_fd(tid: u32, fd: u64) -> Option<OwnedFd> {
    let fd = RawFd::try_from(fd).ok()?;
    let pidfd = pidfd_open(tid).or_else(|| pidfd_open(status(tid)?.tgid))?;
    pidfd_getfd(&pidfd, fd)
}

/// The socket's type (`SOCK_STREAM`, `SOCK_DGRAM`, …); `None`: not a socket.
pub(super) fn sock_type(fd: &OwnedFd) -> Option<i32> {
    let mut v: libc::c_int = 0;
    let mut l = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt into a local int.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut v as *mut libc::c_int).cast(),
            &mut l,
        )
    };
    (r == 0).then_some(v)
}

/// Where a connected socket is connected to.
pub(super) fn peer(fd: &OwnedFd) -> Option<Addr> {
    // SAFETY: sockaddr_storage is plain data; getpeername fills it.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut l = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: a buffer of the stated size.
    let r = unsafe {
        libc::getpeername(
            fd.as_raw_fd(),
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            &mut l,
        )
    };
    if r != 0 {
        return None;
    }
    // SAFETY: `l` bytes of `ss` are initialised.
    let b = unsafe {
        std::slice::from_raw_parts(
            (&ss as *const libc::sockaddr_storage).cast::<u8>(),
            l as usize,
        )
    };
    Some(parse_addr(b))
}

/// What `/proc/<tid>/status` says.
pub(super) struct Status {
    pub tgid: u32,
    pub tracer: u32,
}

/// A small `/proc` file read into `buf` (open, read, close: no `statx` for
/// a size that `/proc` does not know anyway).
fn read_proc<'b>(path: &str, buf: &'b mut [u8]) -> Option<&'b str> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    std::str::from_utf8(&buf[..n]).ok()
}

pub(super) fn status(tid: u32) -> Option<Status> {
    let mut buf = [0u8; 4096];
    let s = read_proc(&format!("/proc/{tid}/status"), &mut buf)?;
    let field = |name: &str| -> Option<u32> {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
    };
    Some(Status {
        tgid: field("Tgid:")?,
        tracer: field("TracerPid:").unwrap_or(0),
    })
}

/// What `/proc/<pid>/stat` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stat {
    pub state: char,
    /// The parent's process id.
    pub ppid: u32,
    /// When the task started, in clock ticks since boot (with the pid, what
    /// tells one process from a later one given the same pid).
    pub start: u64,
    /// A zombie's wait status.
    pub exit: Option<i32>,
}

pub(super) fn stat(pid: u32) -> Option<Stat> {
    let mut buf = [0u8; 1024];
    let s = read_proc(&format!("/proc/{pid}/stat"), &mut buf)?;
    parse_stat(s)
}

fn parse_stat(s: &str) -> Option<Stat> {
    // pid (comm) state …; comm may contain spaces and parentheses.
    let rest = s.get(s.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split(' ').collect();
    // Field numbers from proc(5), minus 3 (pid, comm and the 1-based start).
    Some(Stat {
        state: f.first()?.chars().next()?,
        ppid: f.get(4 - 3)?.parse().ok()?,
        start: f.get(22 - 3)?.parse().ok()?,
        exit: f.get(52 - 3).and_then(|v| v.trim().parse().ok()),
    })
}

/// Whether the process behind `pidfd` has ended (its pidfd is readable).
pub(super) fn pidfd_ended(pidfd: &OwnedFd) -> bool {
    let mut p = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r != 0
}

/// A process start time (ticks since boot) as RFC 3339.
pub(super) fn start_time(ticks: u64) -> Option<String> {
    static BOOT: std::sync::OnceLock<Option<i64>> = std::sync::OnceLock::new();
    let boot = (*BOOT.get_or_init(|| {
        let s = std::fs::read_to_string("/proc/stat").ok()?;
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    }))?;
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let nanos = boot as i128 * 1_000_000_000 + (ticks as i128 * 1_000_000_000 / hz as i128);
    let t = jiff::Timestamp::from_nanosecond(nanos).ok()?;
    Some(format!("{t:.3}"))
}

pub(super) fn cwd(tid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{tid}/cwd"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

pub(super) fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|a| !a.is_empty())
                .take(256)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn exe(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// The socket inodes bound to `port` (listening TCP, bound UDP) in `pid`'s
/// network namespace.
pub(super) fn bound_inodes(pid: u32, port: u16) -> Vec<u64> {
    let mut out = Vec::new();
    for (file, state) in [("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")] {
        let Ok(t) = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")) else {
            continue;
        };
        for line in t.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(st), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                continue;
            };
            let p = local
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if p == Some(port) && *st == state {
                if let Ok(i) = inode.parse() {
                    out.push(i);
                }
            }
        }
    }
    out
}

/// Whether process `pid` holds one of the socket `inodes`.
pub(super) fn holds_socket(pid: u32, inodes: &[u64]) -> bool {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    dir.flatten().take(65_536).any(|e| {
        std::fs::read_link(e.path()).is_ok_and(|t| {
            t.to_str()
                .and_then(|s| s.strip_prefix("socket:["))
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|i| inodes.contains(&i))
        })
    })
}

/// The `nameserver` addresses of `/etc/resolv.conf`.
pub fn resolvers() -> Vec<IpAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .map(|t| parse_resolv_conf(&t))
        .unwrap_or_default()
}

pub fn parse_resolv_conf(t: &str) -> Vec<IpAddr> {
    t.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|v| v.split_whitespace().next()?.split('%').next()?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddrs() {
        let mut v4 = vec![0u8; 16];
        v4[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&443u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[10, 0, 0, 1]);
        assert_eq!(parse_sockaddr(&v4), Some("10.0.0.1:443".parse().unwrap()));
        assert_eq!(parse_sockaddr(&v4[..6]), None);
        let mut un = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        un.extend_from_slice(b"/run/x\0\0\0");
        assert_eq!(parse_addr(&un), Addr::Unix("/run/x".into()));
        let mut abs = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        abs.extend_from_slice(b"\0name");
        assert_eq!(parse_addr(&abs), Addr::Unix("@name".into()));
        let mut v6 = vec![0u8; 28];
        v6[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        v6[2..4].copy_from_slice(&53u16.to_be_bytes());
        v6[18..20].copy_from_slice(&[0xff, 0xff]);
        v6[20..24].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(parse_sockaddr(&v6), Some("127.0.0.1:53".parse().unwrap()));
        assert_eq!(parse_addr(&[]), Addr::Other);
    }

    #[test]
    fn resolv_conf() {
        let r = parse_resolv_conf(
            "# x\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\nsearch a.test\nnameserver bad\n",
        );
        assert_eq!(
            r,
            vec![
                "127.0.0.53".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
    }

    #[test]
    fn argv_and_strings_are_read_a_page_at_a_time() {
        // 50 arguments as a program passes them to exec: a pointer array and
        // strings on the heap, one of them across a page boundary, one
        // longer than what is kept.
        let mut heap = vec![0u8; 3 * CHUNK];
        let base = heap.as_ptr() as u64;
        let mut at = (CHUNK - (base % CHUNK as u64) as usize) % CHUNK; // page-aligned
        let mut want = Vec::new();
        let mut ptrs = Vec::new();
        for i in 0..50 {
            let a = format!("--arg-{i}={}", "v".repeat(i));
            if i == 30 {
                // Across the next page boundary.
                at = (at / CHUNK + 1) * CHUNK - 5;
            }
            heap[at..at + a.len()].copy_from_slice(a.as_bytes());
            ptrs.push(base + at as u64);
            at += a.len() + 1;
            want.push(a);
        }
        ptrs.push(0);
        let mut long = "L".repeat(2 * MAX_CSTR).into_bytes();
        long.push(0);
        let me = std::process::id();
        let mut m = Pages::new(me);
        assert_eq!(m.argv(ptrs.as_ptr() as u64), want);
        assert!(m.reads <= 4, "{} chunk reads for 50 arguments", m.reads);
        let mut m = Pages::new(me);
        let l = m.cstr(long.as_ptr() as u64).unwrap();
        assert_eq!(l.len(), MAX_CSTR);
        assert!(l.bytes().all(|c| c == b'L'));
        assert_eq!(m.cstr(0), None);
        assert!(m.argv(0).is_empty());
        // Unmapped: nothing, as the plain reader says.
        assert_eq!(m.cstr(8), None);
        drop(heap);
    }

    #[test]
    fn stat_lines() {
        let s = "42 (a (b) c) S 7 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 12345 \
                 1000 100 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 256\n";
        let st = parse_stat(s).unwrap();
        assert_eq!((st.state, st.ppid, st.start), ('S', 7, 12345), "{st:?}");
        assert_eq!(st.exit, Some(256));
        assert_eq!(parse_stat("42 (x) Z"), None);
    }

    #[test]
    fn own_process() {
        let me = std::process::id();
        let s = status(me).unwrap();
        assert_eq!(s.tgid, me);
        let st = stat(me).unwrap();
        assert!(st.state == 'R' || st.state == 'S', "{st:?}");
        assert_eq!(st.ppid, std::os::unix::process::parent_id());
        assert!(start_time(st.start).is_some());
        assert!(!cmdline(me).is_empty());
    }
}
