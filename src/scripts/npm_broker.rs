//! npm runs the install scripts itself, each one through pkgward (Linux).
//!
//! For `npm install`/`ci`/`update`/`rebuild` pkgward does not switch npm's
//! scripts off and run the approved ones afterwards with a second npm
//! (`npm rebuild`, one npm start and one load of the installed tree per
//! dependency level); it makes itself npm's `script-shell` instead. npm
//! then starts `pkgward -c <script>` for every lifecycle script, in its own
//! order and at its own time, exactly as it would start `sh -c <script>`.
//! That process ([`client`]) only hands the request — the script, npm's
//! working directory for it (the package), npm's environment for it, and
//! its standard streams (`SCM_RIGHTS`) — to the shim over a private Unix
//! socket, and waits. The shim ([`Broker`]) decides the package
//! ([`super::npm::identity`], [`super::decide`]): a denied script does
//! not run (the client exits 0, as npm's `--ignore-scripts` would skip
//! it) and is listed at the end with the command that approves it; an
//! approved one runs with `/bin/sh -c` through
//! [`crate::supervise::install_code`] — traced, through the egress proxy,
//! confined — attached to npm's streams, and its exit status goes back to
//! npm, which fails the install when it fails, as it would have. Each one
//! is recorded (`script` records) when it ends.
//!
//! Only requests from processes npm (the real tool the shim waits for)
//! started are served: the peer's parent chain must reach the tool before
//! it reaches the shim, so install code pkgward started (a child of the
//! shim, never of npm) cannot ask for more.
//!
//! The signals npm (or anyone) sends the client — SIGTERM, SIGHUP, SIGINT,
//! SIGQUIT, as npm forwards them to its scripts — are passed on to the
//! script ([`FORWARDED`]); a script ended by a signal ends the client with
//! the same signal, as a shell would.
//!
//! Scripts npm starts while pkgward's `script-shell` is in force cannot run
//! anywhere but through the broker: when the socket is gone, the client
//! fails (exit 70) and npm fails the install.
//!
//! A global install's scripts run confined to their package's tree under
//! the global prefix ([`place`]). `npx`/`npm exec` install into npm's npx
//! cache with scripts off (npm does not give that install its script
//! shell); when npm then runs the command through the script shell (the
//! `npx` event), the client first has the broker build that directory
//! ([`build_npx`]) and then becomes the user's own script shell
//! ([`run_command`]). Without the broker, pkgward prepares that directory
//! before npx runs ([`super::npx`]).

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::npm::installed_at;
pub use super::npm::npx_state;
use super::{confines, decide, npm, ScriptDecision, ScriptRecord};
use crate::policy::{Mode, Policy};
use crate::record::{self, LogTarget};
use crate::supervise::install_code::{run_install_code, Attached, ChildSlot, InstallCode};
use crate::tools::Ecosystem;

/// The socket of the shim's broker, for the client.
pub const SOCKET_VAR: &str = "PKGWARD_NPM_SCRIPT_BROKER";
/// `npx`/`npm exec`: the user's own script shell (empty: npm's default),
/// for the command npm runs ([`run_command`]).
pub const EXEC_SHELL_VAR: &str = "PKGWARD_NPM_EXEC_SHELL";
/// `npx`: the variables pkgward set for npm and the user's values (a line
/// `K=V`, or `K` when unset), for the command ([`run_command`]).
const EXEC_RESTORE_VAR: &str = "PKGWARD_NPM_EXEC_RESTORE";
/// npm's `npm_lifecycle_event` for the command `npx` runs.
const EXEC_EVENT: &str = "npx";
/// A request larger than this is refused.
const MAX_REQUEST: usize = 8 << 20;
/// The shell the approved scripts run with (npm's default on Unix).
const SHELL: &str = "/bin/sh";
/// The signals the client passes on to the script it asked for.
const FORWARDED: [i32; 4] = [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGQUIT];
/// A forwarded signal on the socket: this, then the signal (i32, LE).
const SIGNAL_FRAME: &[u8; 4] = b"PKSG";

/// Whether this process was started by npm as pkgward's script shell.
pub fn invoked_as_script_shell(args: &[OsString]) -> bool {
    args.first().is_some_and(|a| a == "-c") && std::env::var_os(SOCKET_VAR).is_some()
}

/// The client: `pkgward -c <script>` started by npm. Returns the exit code;
/// a script killed by a signal ends this process with that signal.
pub fn client(args: &[OsString]) -> i32 {
    let exec = std::env::var_os("npm_lifecycle_event").is_some_and(|e| e == EXEC_EVENT);
    match ask(args) {
        // `npx`'s packages are built: the command runs.
        Ok((0, 0)) if exec => run_command(args),
        Ok((code, 0)) => code,
        Ok((_, sig)) => {
            // SAFETY: restoring the default action and raising a signal in
            // our own process.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                libc::raise(sig);
            }
            128 + sig
        }
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "pkgward: install script not run: {e} (npm runs its scripts through pkgward's shim; \
                 run the install again through the `npm` shim)"
            );
            crate::error::exit::INTERNAL
        }
    }
}

/// The command `npx`/`npm exec` runs (npm runs it through its script shell
/// as the script of an `npx` event): the user's, not install-time code. It
/// runs as without pkgward: this process becomes the user's script shell
/// (their `script-shell`, else npm's `sh`), with the same terminal, signals
/// and exit status, unconfined, not recorded as a script; npm's variables
/// name the user's script shell again. With no command (interactive
/// `npx`), npm runs its script shell as the script: the user's shell
/// starts. The client asks the broker first ([`build_npx`]), which serves
/// only processes npm started: a process that sets
/// `npm_lifecycle_event=npx` itself is refused like any other request, and
/// the command it names never runs (npm's own command, unconfined, could
/// only have the approved packages of this run's npx directory built
/// again, confined).
fn run_command(args: &[OsString]) -> i32 {
    use std::os::unix::process::CommandExt;
    let [c, script] = args else {
        let _ = writeln!(
            std::io::stderr(),
            "pkgward: npm's script shell was started without `-c SCRIPT`"
        );
        return crate::error::exit::INTERNAL;
    };
    let user = std::env::var_os(EXEC_SHELL_VAR).filter(|s| !s.is_empty());
    let shell = user.clone().unwrap_or_else(|| OsString::from("sh"));
    let me = std::env::current_exe().ok();
    let script = if me.as_deref().is_some_and(|m| m.as_os_str() == script) {
        shell.clone()
    } else {
        script.clone()
    };
    let mut cmd = std::process::Command::new(&shell);
    cmd.arg(c).arg(&script);
    cmd.env_remove(SOCKET_VAR)
        .env_remove(EXEC_SHELL_VAR)
        .env_remove(EXEC_RESTORE_VAR);
    let restore = std::env::var(EXEC_RESTORE_VAR).unwrap_or_default();
    for line in restore.lines() {
        match line.split_once('=') {
            Some((k, v)) => cmd.env(k, v),
            None => cmd.env_remove(line),
        };
    }
    for (k, _) in std::env::vars_os().filter(|(k, _)| is_script_shell_var(k)) {
        match &user {
            Some(u) => cmd.env(&k, u),
            None => cmd.env_remove(&k),
        };
    }
    let e = cmd.exec();
    let _ = writeln!(
        std::io::stderr(),
        "pkgward: cannot start the script shell `{}`: {e}",
        shell.to_string_lossy()
    );
    127
}

fn ask(args: &[OsString]) -> std::io::Result<(i32, i32)> {
    let path = std::env::var_os(SOCKET_VAR).unwrap_or_default();
    let stream = UnixStream::connect(&path).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot reach the shim's broker: {e}"))
    })?;
    let cwd = std::env::current_dir()?;
    let vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let payload = encode(&cwd, args, &vars);
    let mut head = [0u8; 8];
    head[..4].copy_from_slice(b"PKWN");
    head[4..].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    send_with_fds(&stream, &head, &[0, 1, 2])?;
    (&stream).write_all(&payload)?;
    forward_signals(&stream);
    let mut reply = [0u8; 12];
    (&stream).read_exact(&mut reply)?;
    let word = |i: usize| [reply[i], reply[i + 1], reply[i + 2], reply[i + 3]];
    let code = i32::from_le_bytes(word(0));
    let sig = i32::from_le_bytes(word(4));
    let len = (u32::from_le_bytes(word(8)) as usize).min(64 << 10);
    if len > 0 {
        let mut msg = vec![0u8; len];
        (&stream).read_exact(&mut msg)?;
        let _ = writeln!(
            std::io::stderr(),
            "pkgward: {}",
            String::from_utf8_lossy(&msg)
        );
    }
    Ok((code, sig))
}

/// From now on the [`FORWARDED`] signals do not end the client: a thread
/// takes them (`sigwait`) and sends each one to the broker, which signals
/// the script. (Blocked before the thread starts, so every thread inherits
/// the mask and none of them takes a signal the default way.)
fn forward_signals(stream: &UnixStream) {
    let Ok(out) = stream.try_clone() else {
        return;
    };
    // SAFETY: a zeroed sigset_t filled by sigemptyset/sigaddset, then
    // installed as this thread's mask.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let spawned = std::thread::Builder::new()
        .name("pkgward-signals".into())
        .stack_size(64 << 10)
        .spawn(move || loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: sigwait on a valid set into a local.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                return;
            }
            let mut frame = [0u8; 8];
            frame[..4].copy_from_slice(SIGNAL_FRAME);
            frame[4..].copy_from_slice(&sig.to_le_bytes());
            if (&out).write_all(&frame).is_err() {
                return;
            }
        });
    if spawned.is_err() {
        // No thread to take them: the signals end the client as before.
        // SAFETY: restoring the mask blocked above.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    }
}

/// The broker's side of [`forward_signals`]: until the answer is sent (the
/// socket's reading side is then shut down) or the client goes, each signal
/// frame reaches the script.
fn pass_signals(stream: &UnixStream, child: Arc<ChildSlot>) -> Option<JoinHandle<()>> {
    let input = stream.try_clone().ok()?;
    std::thread::Builder::new()
        .name("pkgward-npm-signals".into())
        .stack_size(64 << 10)
        .spawn(move || {
            let mut frame = [0u8; 8];
            while (&input).read_exact(&mut frame).is_ok() {
                let sig = i32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
                if &frame[..4] != SIGNAL_FRAME || !FORWARDED.contains(&sig) {
                    return;
                }
                child.signal(sig);
            }
        })
        .ok()
}

/// `cwd\0 argc\0 args…\0 K=V\0…` (none of them can hold a NUL).
fn encode(cwd: &Path, args: &[OsString], vars: &[(OsString, OsString)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut put = |b: &[u8]| {
        out.extend_from_slice(b);
        out.push(0);
    };
    put(cwd.as_os_str().as_bytes());
    put(args.len().to_string().as_bytes());
    for a in args {
        put(a.as_bytes());
    }
    for (k, v) in vars {
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        put(&kv);
    }
    out
}

/// A decoded request.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub cwd: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
}

impl Request {
    fn var(&self, k: &str) -> Option<&OsStr> {
        self.env
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_os_str())
    }
}

pub fn decode(bytes: &[u8]) -> Option<Request> {
    let mut parts = bytes.split(|b| *b == 0);
    let cwd = PathBuf::from(OsStr::from_bytes(parts.next()?));
    let argc: usize = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let mut args = Vec::new();
    for _ in 0..argc {
        args.push(OsStr::from_bytes(parts.next()?).to_os_string());
    }
    let mut env = Vec::new();
    for p in parts {
        if p.is_empty() {
            continue;
        }
        let at = p.iter().position(|b| *b == b'=')?;
        env.push((
            OsString::from_vec(p[..at].to_vec()),
            OsString::from_vec(p[at + 1..].to_vec()),
        ));
    }
    Some(Request { cwd, args, env })
}

#[repr(C, align(8))]
struct CmsgBuf([u8; 128]);

fn send_with_fds(stream: &UnixStream, data: &[u8], fds: &[RawFd]) -> std::io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let mut cbuf = CmsgBuf([0; 128]);
    let size = std::mem::size_of_val(fds);
    // SAFETY: a msghdr over local buffers large enough for three fds.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(size as u32) as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() {
            return Err(std::io::Error::other("no room for the descriptors"));
        }
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(size as u32) as _;
        std::ptr::copy_nonoverlapping(fds.as_ptr().cast::<u8>(), libc::CMSG_DATA(c), size);
        loop {
            let n = libc::sendmsg(stream.as_raw_fd(), &msg, libc::MSG_NOSIGNAL);
            if n == data.len() as isize {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            if n < 0 && e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(if n < 0 {
                e
            } else {
                std::io::Error::other("short send")
            });
        }
    }
}

/// Receives the 8-byte head and exactly three descriptors.
fn recv_with_fds(stream: &UnixStream) -> std::io::Result<([u8; 8], [OwnedFd; 3])> {
    let mut head = [0u8; 8];
    let mut iov = libc::iovec {
        iov_base: head.as_mut_ptr().cast(),
        iov_len: 8,
    };
    let mut cbuf = CmsgBuf([0; 128]);
    // SAFETY: a msghdr over local buffers; every received descriptor is
    // taken into an OwnedFd (closed if the message is not as expected).
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = cbuf.0.len() as _;
        let n = loop {
            let n = libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            break n;
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut fds: Vec<OwnedFd> = Vec::new();
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let count = len / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    let mut fd: RawFd = -1;
                    std::ptr::copy_nonoverlapping(
                        libc::CMSG_DATA(c).add(i * std::mem::size_of::<RawFd>()),
                        (&mut fd as *mut RawFd).cast::<u8>(),
                        std::mem::size_of::<RawFd>(),
                    );
                    if fd >= 0 {
                        fds.push(OwnedFd::from_raw_fd(fd));
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        if n != 8 || &head[..4] != b"PKWN" || msg.msg_flags & libc::MSG_CTRUNC != 0 {
            return Err(std::io::Error::other("malformed request"));
        }
        let three: [OwnedFd; 3] = fds
            .try_into()
            .map_err(|_| std::io::Error::other("a request needs three descriptors"))?;
        Ok((head, three))
    }
}

// ---- the shim's side -------------------------------------------------------

/// What the broker needs from the invocation.
pub struct Config {
    pub policy: Policy,
    pub mode: Mode,
    pub invocation_id: String,
    pub log: Option<LogTarget>,
    /// npm's local prefix, and where `npx`'s and a global install's
    /// packages are ([`place`]).
    pub plan: npm::BrokerPlan,
    /// `pnpm dlx` / `pnpx` (pnpm reads `--config.script-shell`, and each
    /// script's project is the dlx install it is in, [`install_root`]).
    pub pnpm_dlx: bool,
    pub trace: Option<crate::supervise::linux::trace::Tracing>,
    /// `npx`: the tool's environment (proxy, invocation) for the `npm
    /// rebuild` of its packages, the real npm that runs it, and the npx
    /// directories as they were before the tool ran ([`npx_state`]).
    pub env: Vec<(OsString, OsString)>,
    pub npm: Option<PathBuf>,
    pub npx_before: std::collections::BTreeMap<PathBuf, Option<std::time::SystemTime>>,
}

/// One script npm asked for and how it was decided (how it ended is in
/// its `script` record).
#[derive(Clone, Debug)]
pub struct Outcome {
    pub package: npm::Identity,
    pub event: String,
    pub command: String,
    pub decision: ScriptDecision,
    pub approve: String,
}

struct Shared {
    cfg: Config,
    /// What the `npx` builds said (the list of packages not run, failures),
    /// for the shim to print at the end.
    notices: Mutex<Vec<String>>,
    root: PathBuf,
    global_lib: Option<PathBuf>,
    shim: i32,
    outcomes: Mutex<Vec<Outcome>>,
    stop: AtomicBool,
}

/// The running broker.
pub struct Broker {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    listener: Arc<UnixListener>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Broker {
    /// Listens on a socket in a new private directory.
    pub fn start(cfg: Config) -> std::io::Result<Broker> {
        let dir = tempfile::Builder::new().prefix("pkgward-npm-").tempdir()?;
        let socket = dir.path().join("broker");
        let listener = Arc::new(UnixListener::bind(&socket)?);
        let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        let root = canon(&cfg.plan.root);
        let global_lib = cfg.plan.global_lib.as_deref().map(canon);
        let shared = Arc::new(Shared {
            cfg,
            root,
            global_lib,
            shim: std::process::id() as i32,
            outcomes: Mutex::new(Vec::new()),
            notices: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let (l, s) = (listener.clone(), shared.clone());
        let thread = std::thread::Builder::new()
            .name("pkgward-npm-broker".into())
            .stack_size(256 * 1024)
            .spawn(move || accept_loop(&l, &s))?;
        Ok(Broker {
            _dir: dir,
            socket,
            listener,
            shared,
            thread: Some(thread),
        })
    }

    /// npm's settings: pkgward as its script shell, and the socket.
    /// Returned as variables for every spelling npm reads (and the
    /// command-line flag, which beats a project's `.npmrc` and any user
    /// setting).
    pub fn apply(&self, launch: &mut crate::supervise::Launch, insert_at: usize) {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("pkgward"));
        for k in super::npm_env_spellings("npm_config_script_shell") {
            launch.env.push((k.into(), exe.clone().into_os_string()));
        }
        let exec = self.shared.cfg.plan.exec_shell.as_ref();
        // (`npx`: no script runs in npm with its `node-options`; the
        // command keeps the user's.)
        for k in super::npm_env_spellings("npm_config_node_options") {
            if exec.is_none() {
                launch.env.push((k.into(), super::neutral_node_options()));
            }
        }
        launch
            .env
            .push((SOCKET_VAR.into(), self.socket.clone().into_os_string()));
        if let Some(shell) = exec {
            launch.env.push((EXEC_SHELL_VAR.into(), shell.into()));
            // npm installs `npx`'s packages with its scripts off (it does
            // not give them its script shell); [`build_npx`] runs them.
            // The command gets the user's values back ([`run_command`]).
            let off = super::ignore_scripts_env("true");
            let restore: Vec<String> = off
                .iter()
                .map(|(k, _)| match std::env::var(k) {
                    Ok(v) if !v.contains('\n') => format!("{k}={v}"),
                    _ => k.clone(),
                })
                .collect();
            launch
                .env
                .push((EXEC_RESTORE_VAR.into(), restore.join("\n").into()));
            for (k, v) in off {
                launch.env.push((k.into(), v.into()));
            }
        }
        let mut flag = OsString::from("--script-shell=");
        if self.shared.cfg.pnpm_dlx {
            launch
                .env
                .push(("PNPM_CONFIG_SCRIPT_SHELL".into(), exe.clone().into()));
            flag = OsString::from("--config.script-shell=");
        }
        flag.push(&exe);
        let at = insert_at.min(launch.args.len());
        launch.args.insert(at, flag);
    }

    /// Stops accepting and returns what the `npx` builds said and the
    /// scripts asked for (the ones not run: [`denied_message`]).
    pub fn stop(self) -> (Vec<String>, Vec<Outcome>) {
        let shared = self.shared.clone();
        let outcomes = self.stop_outcomes();
        let notices = shared.notices.lock().map(|n| n.clone()).unwrap_or_default();
        (notices, outcomes)
    }

    /// Stops accepting and returns what was asked for so far.
    fn stop_outcomes(mut self) -> Vec<Outcome> {
        self.shared.stop.store(true, Ordering::SeqCst);
        // SAFETY: shutdown on a socket we keep open wakes a blocked accept.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared
            .outcomes
            .lock()
            .map(|o| o.clone())
            .unwrap_or_default()
    }
}

fn accept_loop(listener: &UnixListener, shared: &Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = conn else {
            std::thread::sleep(std::time::Duration::from_millis(5));
            continue;
        };
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("pkgward-npm-script".into())
            .stack_size(512 * 1024)
            .spawn(move || serve(stream, &s));
        if spawned.is_err() {
            // The client sees the connection closed and fails the script.
            continue;
        }
    }
}

/// The answer: exit code, signal (0: none), and a message for the client
/// to print (the shim's messages reach the user through the process npm
/// started, on npm's stderr).
fn reply(stream: &UnixStream, a: &Answer) {
    let msg = a.message.as_deref().unwrap_or("").as_bytes();
    let mut out = Vec::with_capacity(12 + msg.len());
    out.extend_from_slice(&a.code.to_le_bytes());
    out.extend_from_slice(&a.signal.to_le_bytes());
    out.extend_from_slice(&(msg.len() as u32).to_le_bytes());
    out.extend_from_slice(msg);
    let _ = (&*stream).write_all(&out);
}

struct Answer {
    code: i32,
    signal: i32,
    message: Option<String>,
}

impl Answer {
    fn exit(code: i32) -> Answer {
        Answer {
            code,
            signal: 0,
            message: None,
        }
    }

    fn fail(code: i32, message: String) -> Answer {
        Answer {
            code,
            signal: 0,
            message: Some(message),
        }
    }
}

/// The peer's pid and uid.
fn peer(stream: &UnixStream) -> Option<(i32, u32)> {
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt into a local ucred of the right size.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some((cred.pid, cred.uid))
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` descends from the real tool (not from the shim by
/// another way, e.g. install code pkgward started).
fn started_by_tool(pid: i32, tool: Option<i32>, shim: i32) -> bool {
    let Some(tool) = tool else {
        return false;
    };
    let mut p = pid;
    for _ in 0..256 {
        if p == tool {
            return true;
        }
        if p <= 1 || p == shim {
            return false;
        }
        match parent_of(p) {
            Some(q) => p = q,
            None => return false,
        }
    }
    false
}

fn serve(stream: UnixStream, shared: &Shared) {
    let Some((pid, uid)) = peer(&stream) else {
        return;
    };
    // SAFETY: getuid cannot fail.
    if uid != unsafe { libc::getuid() }
        || !started_by_tool(pid, crate::supervise::foreground_pid(), shared.shim)
    {
        // Not npm's: no answer (the client reports the closed socket).
        return;
    }
    let Ok((head, stdio)) = recv_with_fds(&stream) else {
        return;
    };
    let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
    if len > MAX_REQUEST {
        return;
    }
    let mut payload = vec![0u8; len];
    if (&stream).read_exact(&mut payload).is_err() {
        return;
    }
    let Some(req) = decode(&payload) else {
        return;
    };
    let child = Arc::new(ChildSlot::default());
    let signals = pass_signals(&stream, child.clone());
    let exec = req.var("npm_lifecycle_event") == Some(OsStr::new(EXEC_EVENT));
    let answer = match req.args.as_slice() {
        [c, _] if c == "-c" && exec => build_npx(shared, &req, stdio, pid, child),
        [c, script] if c == "-c" => handle(shared, &req, script, stdio, pid, child),
        _ => Answer::fail(
            crate::error::exit::INTERNAL,
            "npm's script shell was started without `-c SCRIPT`".into(),
        ),
    };
    reply(&stream, &answer);
    let _ = stream.shutdown(std::net::Shutdown::Read);
    if let Some(t) = signals {
        let _ = t.join();
    }
}

fn handle(
    shared: &Shared,
    req: &Request,
    script: &OsStr,
    stdio: [OwnedFd; 3],
    client: i32,
    child: Arc<ChildSlot>,
) -> Answer {
    let cfg = &shared.cfg;
    let cwd = req.cwd.canonicalize().unwrap_or_else(|_| req.cwd.clone());
    let resolved = req
        .var("npm_package_resolved")
        .and_then(OsStr::to_str)
        .filter(|v| !v.is_empty());
    let place = if cfg.pnpm_dlx {
        install_root(&cwd).map(|r| Place {
            root: r.clone(),
            writable: r,
        })
    } else {
        place(&shared.root, shared.global_lib.as_deref(), &cwd)
    };
    let id = npm::identity(
        place.as_ref().map_or(&shared.root, |p| &p.root),
        &cwd,
        resolved,
    );
    let event = req
        .var("npm_lifecycle_event")
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default();
    let command = script.to_string_lossy().into_owned();
    let (decision, approved_by) = decide(
        &cfg.policy,
        cfg.mode,
        Ecosystem::Npm,
        &id.name,
        &id.version,
        id.local,
    );
    let approve = super::approve_hint(&cfg.policy, Ecosystem::Npm, &id.name, &id.version, id.local);
    let mut rec = ScriptRecord {
        kind: "script",
        invocation_id: cfg.invocation_id.clone(),
        time: record::now_rfc3339(),
        ecosystem: Ecosystem::Npm,
        package: id.name.clone(),
        version: id.version.clone(),
        path: id.rel.clone(),
        script: event.clone(),
        command: record::redact::redact_urls(&command).into_owned(),
        decision,
        approved_by,
        ran: false,
        runner: None,
        exit_code: None,
        signal: None,
        duration_ms: None,
        error: None,
        sandbox: None,
    };
    let outcome = Outcome {
        package: id.clone(),
        event,
        command,
        decision,
        approve,
    };
    // The record is written whatever happens; in enforce mode a log that
    // cannot be opened means the code does not run.
    let mut log = match cfg.log.as_ref().map(|t| t.open()) {
        Some(Ok(l)) => Some(l),
        Some(Err(e)) if cfg.mode == Mode::Enforce && decision.runs() => {
            push(shared, outcome);
            return Answer::fail(
                e.exit_code(),
                format!(
                    "install script of npm:{}@{} not run: {e}",
                    id.name, id.version
                ),
            );
        }
        _ => None,
    };
    let result = match place {
        None if decision.runs() => {
            // Not in this invocation's project, npx cache or global
            // prefix: no writable place to give it.
            let why = format!(
                "install script of npm:{}@{} not run: npm runs it in {}, outside this \
                 invocation's project, npx cache and global prefix",
                id.name,
                id.version,
                cwd.display()
            );
            rec.error = Some(why.clone());
            Answer::fail(crate::error::exit::DENIED, why)
        }
        None => Answer::exit(0),
        Some(place) => run(
            shared, req, script, stdio, client, child, decision, &place, &mut rec,
        ),
    };
    if let Some(l) = log.as_mut() {
        let _ = l.append(&rec);
    }
    push(shared, outcome);
    result
}

/// npm is about to run `npx`'s command (the `npx` event): the packages it
/// installed for it in this run, into `<cache>/_npx/<hash>` (named by the
/// command's PATH, accepted only below this invocation's npx cache and
/// only when npm installed into it since the tool started), are built
/// like an install's: the approved ones through `npm rebuild`, confined to
/// that directory, the others recorded and listed at the end. A failing
/// approved script fails `npx` before its command runs, as npm would.
fn build_npx(
    shared: &Shared,
    req: &Request,
    stdio: [OwnedFd; 3],
    client: i32,
    child: Arc<ChildSlot>,
) -> Answer {
    let cfg = &shared.cfg;
    let Some(cache) = cfg
        .plan
        .npx_cache
        .as_deref()
        .and_then(|c| c.canonicalize().ok())
    else {
        return Answer::exit(0);
    };
    let path = req.var("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(path)
        .filter(|p| p.ends_with("node_modules/.bin"))
        .filter_map(|p| p.parent()?.parent()?.canonicalize().ok())
        .filter(|d| d.parent() == Some(cache.as_path()))
        .filter(|d| cfg.npx_before.get(d).is_none_or(|t| *t != installed_at(d)))
        .collect();
    dirs.dedup();
    let mut notices = Vec::new();
    let mut log = cfg.log.as_ref().and_then(|t| t.open().ok());
    let npm = cfg.npm.clone();
    let find = |name: &str| (name == "npm").then(|| npm.clone()).flatten();
    let program = cfg.npm.clone().unwrap_or_default();
    // npm's output (banners, "rebuilt dependencies") to the requester's
    // stderr: its stdout is the command's.
    let [input, _, err] = stdio;
    let attached = err.try_clone().ok().map(|out| Attached {
        stdio: Arc::new([input, out, err]),
        child,
    });
    let mut failed = None;
    for root in dirs {
        let after = super::After::all_in(super::Family::Npm, super::Runner::Npm, root);
        let cx = super::Context {
            policy: &cfg.policy,
            mode: cfg.mode,
            invocation_id: &cfg.invocation_id,
            program: &program,
            args: &[],
            env: &cfg.env,
            find_tool: &find,
            trace: cfg
                .trace
                .clone()
                .map(|t| as_child_of(t, shared.shim, client)),
            attached: attached.clone(),
        };
        failed = super::run_after(&after, &cx, &mut log, &mut |m| notices.push(m));
        if failed.is_some() {
            break;
        }
    }
    if let Ok(mut n) = shared.notices.lock() {
        n.extend(notices);
    }
    Answer::exit(failed.unwrap_or(0))
}

/// Where a script npm asks for belongs: the tree its package is
/// identified in, and what it may write.
struct Place {
    root: PathBuf,
    writable: PathBuf,
}

/// The place of a script run in `cwd` (canonical): in the global prefix
/// (`<prefix>/lib/node_modules/<pkg>/…`: that package's directory, the tree
/// a global install of it writes), else in the project (all of it, as
/// npm's scripts may write). The directory is derived from where npm runs
/// the script and only accepted when it is one of this invocation's: a
/// request cannot name the place it gets.
fn place(project: &Path, global_lib: Option<&Path>, cwd: &Path) -> Option<Place> {
    let parts: Vec<_> = cwd.components().collect();
    let nm = parts.iter().position(|c| c.as_os_str() == "node_modules");
    if let Some(i) = nm {
        let base: PathBuf = parts[..i].iter().collect();
        if global_lib == Some(base.as_path()) {
            let name = parts.get(i + 1)?;
            let mut pkg = base.join("node_modules").join(name);
            if name.as_os_str().as_bytes().starts_with(b"@") {
                pkg.push(parts.get(i + 2)?);
            }
            return Some(Place {
                root: base,
                writable: pkg,
            });
        }
    }
    cwd.starts_with(project).then(|| Place {
        root: project.to_path_buf(),
        writable: project.to_path_buf(),
    })
}

/// Runs an approved script, confined to its place, attached to npm's
/// streams; fills its record.
#[allow(clippy::too_many_arguments)]
fn run(
    shared: &Shared,
    req: &Request,
    script: &OsStr,
    stdio: [OwnedFd; 3],
    client: i32,
    child: Arc<ChildSlot>,
    decision: ScriptDecision,
    place: &Place,
    rec: &mut ScriptRecord,
) -> Answer {
    let cfg = &shared.cfg;
    if decision.runs() {
        let mut env: Vec<(OsString, OsString)> = req
            .env
            .iter()
            .filter(|(k, _)| {
                k != SOCKET_VAR
                    && k != EXEC_SHELL_VAR
                    && k != EXEC_RESTORE_VAR
                    && !is_script_shell_var(k)
            })
            .cloned()
            .collect();
        // A script's own `npm run …` uses npm's default shell again.
        for k in super::npm_env_spellings("npm_config_script_shell") {
            env.push((k.into(), SHELL.into()));
        }
        let code = InstallCode {
            program: PathBuf::from(SHELL),
            args: vec!["-c".into(), script.to_os_string()],
            cwd: req.cwd.clone(),
            env,
            sandboxed: confines(&cfg.policy, decision),
            extra_write: Vec::new(),
            attached: Some(Attached {
                stdio: Arc::new(stdio),
                child,
            }),
            // Writable as when npm runs it: the whole project (node_modules
            // included), not only the package; npx's directory; a global
            // package's tree; a `pnpm dlx` install ([`place`]).
            project: Some(place.writable.clone()),
            trace: cfg
                .trace
                .clone()
                .map(|t| as_child_of(t, shared.shim, client)),
        };
        rec.runner = Some(vec![SHELL.into(), "-c".into(), "(the script)".into()]);
        match run_install_code(&code) {
            Ok(e) => {
                rec.ran = true;
                rec.exit_code = Some(e.exit_code);
                rec.signal = e.signal;
                rec.duration_ms = Some((e.duration.as_secs_f64() * 1e6).round() / 1e3);
                rec.sandbox = e.sandbox.clone();
                match e.signal {
                    Some(sig) => Answer {
                        code: 128 + sig,
                        signal: sig,
                        message: None,
                    },
                    None => Answer::exit(e.exit_code),
                }
            }
            Err(e) => {
                rec.error = Some(e.to_string());
                Answer::fail(
                    e.exit_code(),
                    format!(
                        "cannot run the install script of npm:{}@{}: {e}",
                        rec.package, rec.version
                    ),
                )
            }
        }
    } else {
        Answer::exit(0)
    }
}

/// The script is the shim's child, but npm asked for it: its process
/// record names the client npm started (itself recorded as npm's child) as
/// its parent, so the lineage leads back to npm. Only the script's own
/// process has the shim as its real parent within its traced tree.
fn as_child_of(
    mut t: crate::supervise::linux::trace::Tracing,
    shim: i32,
    client: i32,
) -> crate::supervise::linux::trace::Tracing {
    use crate::supervise::linux::trace::Event;
    let inner = t.sink.clone();
    let (shim, client) = (shim as u32, client as u32);
    t.sink = Arc::new(move |e| {
        inner(match e {
            Event::Process(mut p) if p.ppid == Some(shim) => {
                p.ppid = Some(client);
                p.note.get_or_insert_with(|| {
                    format!(
                        "npm's install script, started by pkgward for pid {client} (npm's script shell)"
                    )
                });
                Event::Process(p)
            }
            e => e,
        })
    });
    t
}

fn push(shared: &Shared, o: Outcome) {
    if let Ok(mut v) = shared.outcomes.lock() {
        v.push(o);
    }
}

fn is_script_shell_var(k: &OsStr) -> bool {
    k.to_str().is_some_and(|k| {
        super::npm_config_key(k).as_deref() == Some("script-shell")
            || k.eq_ignore_ascii_case("PNPM_CONFIG_SCRIPT_SHELL")
    })
}

/// The install a package directory is in: the directory above its first
/// `node_modules` (for `pnpm dlx`, the dlx cache entry pnpm installed
/// into; the package itself is in its virtual store there).
pub fn install_root(dir: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in dir.components() {
        if c.as_os_str() == "node_modules" {
            return (out.parent().is_some()).then_some(out);
        }
        out.push(c);
    }
    None
}

/// The list of scripts not run, once, with the commands that approve
/// them; `None` when every script npm asked for ran.
pub fn denied_message(outcomes: &[Outcome], rerun: super::Rerun<'_>) -> Option<String> {
    let mut denied: Vec<(npm::Package, String)> = Vec::new();
    for o in outcomes
        .iter()
        .filter(|o| o.decision == ScriptDecision::Deny)
    {
        match denied.iter_mut().find(|(p, _)| p.rel == o.package.rel) {
            Some((p, _)) => p.scripts.push((o.event.clone(), o.command.clone())),
            None => denied.push((
                npm::Package {
                    name: o.package.name.clone(),
                    version: o.package.version.clone(),
                    dir: PathBuf::new(),
                    rel: o.package.rel.clone(),
                    root: o.package.root,
                    local: o.package.local,
                    scripts: vec![(o.event.clone(), o.command.clone())],
                    needs: Vec::new(),
                },
                o.approve.clone(),
            )),
        }
    }
    if denied.is_empty() {
        return None;
    }
    let refs: Vec<(&npm::Package, String)> = denied.iter().map(|(p, a)| (p, a.clone())).collect();
    Some(super::denied_message(&refs, rerun))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_install_a_dlx_package_is_in() {
        assert_eq!(
            install_root(Path::new(
                "/c/pnpm/dlx/h/e/node_modules/.pnpm/a@1.0.0/node_modules/a"
            )),
            Some(PathBuf::from("/c/pnpm/dlx/h/e"))
        );
        assert_eq!(install_root(Path::new("/node_modules/a")), None);
        assert_eq!(install_root(Path::new("/c/project")), None);
    }

    #[test]
    fn requests_round_trip() {
        let args: Vec<OsString> = vec!["-c".into(), "node install.js && echo 'a=b'".into()];
        let env: Vec<(OsString, OsString)> = vec![
            ("PATH".into(), "/a:/b".into()),
            ("EQ".into(), "x=y=z".into()),
            ("EMPTY".into(), "".into()),
            (
                OsString::from_vec(b"K\xff".to_vec()),
                OsString::from_vec(b"\xfe".to_vec()),
            ),
        ];
        let bytes = encode(Path::new("/p/node_modules/x"), &args, &env);
        let req = decode(&bytes).unwrap();
        assert_eq!(req.cwd, Path::new("/p/node_modules/x"));
        assert_eq!(req.args, args);
        assert_eq!(req.env, env);
        assert_eq!(req.var("EQ"), Some(OsStr::new("x=y=z")));
    }

    #[test]
    fn malformed_requests_are_refused() {
        assert!(decode(b"").is_none());
        assert!(decode(b"/p\0x\0").is_none());
        assert!(decode(b"/p\x003\0-c\0").is_none());
        assert!(decode(b"/p\x000\0NOEQUALS\0").is_none());
        assert!(decode(b"/p\x000\0").is_some());
    }

    #[test]
    fn a_script_is_placed_in_the_project_or_its_global_package_only() {
        let (p, lib) = (Path::new("/p"), Path::new("/g/lib"));
        let at = |cwd: &str| place(p, Some(lib), Path::new(cwd)).map(|x| (x.root, x.writable));
        let pair = |a: &str, b: &str| Some((PathBuf::from(a), PathBuf::from(b)));
        assert_eq!(at("/p"), pair("/p", "/p"));
        assert_eq!(at("/p/node_modules/x"), pair("/p", "/p"));
        assert_eq!(
            at("/g/lib/node_modules/x/node_modules/y"),
            pair("/g/lib", "/g/lib/node_modules/x")
        );
        assert_eq!(
            at("/g/lib/node_modules/@s/x"),
            pair("/g/lib", "/g/lib/node_modules/@s/x")
        );
        // Anywhere else: no place (a request cannot choose its own).
        assert_eq!(at("/g/node_modules/x"), None);
        assert_eq!(at("/elsewhere/node_modules/x"), None);
        assert_eq!(at("/g/lib/node_modules"), None);
        assert_eq!(
            place(p, None, Path::new("/g/lib/node_modules/x")).map(|x| x.root),
            None
        );
    }

    #[test]
    fn a_process_not_under_the_tool_is_refused() {
        let me = std::process::id() as i32;
        let parent = parent_of(me).unwrap();
        // This process descends from its parent…
        assert!(started_by_tool(me, Some(parent), -1));
        assert!(started_by_tool(me, Some(me), -1));
        // …but not when the shim (here: the parent) comes first, nor
        // without a tool, nor from an unrelated process.
        assert!(!started_by_tool(me, Some(1234567), parent));
        assert!(!started_by_tool(me, None, -1));
        assert!(!started_by_tool(parent, Some(me), -1));
    }
}
