use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

use super::{spawn_error, Ended};
use crate::error::{Error, Result};

/// The signals the shim handles itself while the child runs.
const HANDLED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGHUP];

/// The child SIGTERM/SIGHUP are forwarded to (0: none).
static CURRENT: AtomicI32 = AtomicI32::new(0);
/// SIGTERM/SIGHUP received so far (0: none): no further child is started.
static TERMINATED: AtomicI32 = AtomicI32::new(0);
/// A SIGTERM/SIGHUP not yet forwarded: whoever takes it (the handler, or
/// [`run`] right after it learnt the child's pid) forwards it, exactly once.
static PENDING: AtomicI32 = AtomicI32::new(0);
/// Whether the handlers are installed (once per process).
static HANDLERS: OnceLock<()> = OnceLock::new();

/// The handler for [`HANDLED`]: it runs on whichever thread the kernel picks
/// (the proxy's and the tracer's threads included), so the shim never dies
/// of these signals while it supervises. Only async-signal-safe work:
/// atomics and `kill(2)`.
extern "C" fn on_signal(sig: libc::c_int) {
    if sig != libc::SIGTERM && sig != libc::SIGHUP {
        // SIGINT/SIGQUIT: the terminal sent them to the child too (the whole
        // foreground process group); the shim outlives them to record the
        // child's exit.
        return;
    }
    TERMINATED.store(sig, Ordering::SeqCst);
    PENDING.store(sig, Ordering::SeqCst);
    let target = CURRENT.load(Ordering::SeqCst);
    if target > 0 && PENDING.swap(0, Ordering::SeqCst) != 0 {
        // SAFETY: plain kill(2) to our own running child.
        unsafe { libc::kill(target, sig) };
    }
}

/// Installs [`on_signal`] for [`HANDLED`], except for a signal pkgward was
/// started with ignored (`nohup`, a background job): that one stays ignored,
/// so the child inherits it ignored, as it would without the shim. A caught
/// signal is reset to its default action by `exec`, so the child starts with
/// the dispositions it would have had. No thread: the handlers cost one
/// system call each, once.
fn install_handlers() {
    HANDLERS.get_or_init(|| {
        for sig in HANDLED {
            // SAFETY: sigaction with a zeroed (then filled) struct; reading the
            // old action first, installing a plain handler second.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) != 0
                    || old.sa_sigaction == libc::SIG_IGN
                {
                    continue;
                }
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
    });
}

#[cfg(target_os = "linux")]
type Trace<'a> = Option<&'a super::linux::trace::Tracing>;
#[cfg(not(target_os = "linux"))]
type Trace<'a> = Option<&'a ()>;

pub(super) fn run(cmd: Command, trace: Trace<'_>) -> Result<Ended> {
    run_with(cmd, trace, None)
}

/// The pid of the child [`run`] is waiting for (the real tool while it
/// runs), if any.
pub(super) fn foreground() -> Option<i32> {
    match CURRENT.load(Ordering::SeqCst) {
        0 => None,
        p => Some(p),
    }
}

/// [`run`]; `attached` for a child started while the real tool runs (an
/// install script npm asked pkgward to run): SIGTERM/SIGHUP stay forwarded
/// to the tool, which ends its own children; the signals the script's
/// requester forwards reach it through `attached.child`.
pub(super) fn run_with(
    mut cmd: Command,
    trace: Trace<'_>,
    attached: Option<&super::install_code::Attached>,
) -> Result<Ended> {
    let foreground = attached.is_none();
    install_handlers();
    #[cfg(target_os = "linux")]
    let (spawned, mut supervisor) = match trace {
        Some(t) => match super::linux::trace::spawn(&mut cmd, t) {
            Ok(s) => (Ok(s.child), Some((s.done, s.status))),
            Err(e) => (Err(e), None),
        },
        None => (cmd.spawn(), None),
    };
    #[cfg(not(target_os = "linux"))]
    let spawned = {
        let _ = trace;
        cmd.spawn()
    };
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return Err(spawn_error(std::path::Path::new(cmd.get_program()), e)),
    };
    let pid = child.id();
    if foreground {
        CURRENT.store(pid as i32, Ordering::SeqCst);
    }
    if let Some(a) = attached {
        a.child.started(pid as i32);
    }
    // A SIGTERM/SIGHUP that arrived while the child was being started (the
    // handler saw no child yet) is forwarded now.
    let missed = if foreground {
        PENDING.swap(0, Ordering::SeqCst)
    } else {
        0
    };
    if missed != 0 {
        // SAFETY: plain kill(2) to the child just started.
        unsafe { libc::kill(pid as libc::pid_t, missed) };
    }
    // Under ptrace the tracer thread reaps the child and hands its status
    // over (a wait here would take the tracer's stops).
    #[cfg(target_os = "linux")]
    let traced = supervisor.as_mut().and_then(|s| s.1.take());
    #[cfg(not(target_os = "linux"))]
    let traced: Option<std::sync::mpsc::Receiver<std::process::ExitStatus>> = None;
    let status = match traced {
        Some(rx) => {
            let status = rx
                .recv()
                .map_err(|_| std::io::Error::other("the tracer ended without the exit status"));
            if foreground {
                CURRENT.store(0, Ordering::SeqCst);
            }
            if let Some(a) = attached {
                a.child.ended();
            }
            status
        }
        None => {
            // Wait for the child to end without reaping it: while it is a
            // zombie its pid cannot be reused, so a handler that read CURRENT
            // just before the store below still signals the right (dead)
            // process, never a stranger.
            loop {
                // SAFETY: waitid with a zeroed siginfo_t for our own child.
                let rc = unsafe {
                    let mut info: libc::siginfo_t = std::mem::zeroed();
                    libc::waitid(
                        libc::P_PID,
                        pid as libc::id_t,
                        &mut info,
                        libc::WEXITED | libc::WNOWAIT,
                    )
                };
                if rc == 0
                    || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
                {
                    break;
                }
            }
            if foreground {
                CURRENT.store(0, Ordering::SeqCst);
            }
            if let Some(a) = attached {
                a.child.ended();
            }
            child.wait()
        }
    };
    let status = status.map_err(|e| Error::io("waiting for the real tool", e))?;
    // The tracer ends when the last traced process is gone; a daemon left
    // behind keeps it alive, so wait only briefly for the last records.
    #[cfg(target_os = "linux")]
    if let Some((done, _)) = supervisor {
        let _ = done.recv_timeout(std::time::Duration::from_millis(500));
    }
    let (code, signal) = match (status.code(), status.signal()) {
        (Some(c), _) => (c, None),
        (None, Some(s)) => (128 + s, Some(s)),
        (None, None) => (1, None),
    };
    Ok(Ended {
        pid,
        code,
        signal,
        processes: Vec::new(),
    })
}

/// The SIGTERM/SIGHUP pkgward was sent while it supervised a child, if any.
pub(super) fn terminated() -> Option<i32> {
    match TERMINATED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}
