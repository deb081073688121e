use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

use super::{spawn_error, Ended};
use crate::error::{Error, Result};

/// The signals the shim handles itself while the child runs.
const HANDLED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGHUP];

fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a plain sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// The child the watcher forwards SIGTERM/SIGHUP to (0: none).
static CURRENT: AtomicI32 = AtomicI32::new(0);
/// SIGTERM/SIGHUP received so far (0: none): no further child is started.
static TERMINATED: AtomicI32 = AtomicI32::new(0);
/// Whether the watcher thread started.
static WATCHER: OnceLock<bool> = OnceLock::new();

#[cfg(target_os = "linux")]
type Trace<'a> = Option<&'a super::linux::trace::Tracing>;
#[cfg(not(target_os = "linux"))]
type Trace<'a> = Option<&'a ()>;

pub(super) fn run(mut cmd: Command, trace: Trace<'_>) -> Result<Ended> {
    // Block the handled signals in this thread before spawning. The standard
    // library gives the child an empty signal mask and default dispositions, so
    // the child is unaffected; the watcher thread inherits the mask and takes
    // the signals with sigwait.
    let set = sigset(&HANDLED);
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to initialised sigsets.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
    if rc != 0 {
        return Err(Error::io(
            "cannot block signals",
            std::io::Error::from_raw_os_error(rc),
        ));
    }
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
        Err(e) => {
            // SAFETY: restores the mask saved above.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
            return Err(spawn_error(std::path::Path::new(cmd.get_program()), e));
        }
    };
    let pid = child.id();
    // One watcher for the process (install-time code runs several children
    // one after the other): it forwards to whichever child runs now.
    CURRENT.store(pid as i32, Ordering::SeqCst);
    WATCHER.get_or_init(|| {
        std::thread::Builder::new()
            .name("pkgward-signals".into())
            .stack_size(64 * 1024)
            .spawn(move || loop {
                let mut sig: libc::c_int = 0;
                // SAFETY: `set` is a valid sigset; `sig` receives the signal number.
                if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                    continue;
                }
                let target = CURRENT.load(Ordering::SeqCst);
                if sig == libc::SIGTERM || sig == libc::SIGHUP {
                    TERMINATED.store(sig, Ordering::SeqCst);
                }
                if target > 0 && (sig == libc::SIGTERM || sig == libc::SIGHUP) {
                    // SAFETY: plain kill(2) to our own running child.
                    unsafe { libc::kill(target as libc::pid_t, sig) };
                }
                // SIGINT/SIGQUIT: the terminal sent them to the child too; the
                // shim outlives them to record the child's exit.
            })
            .is_ok()
    });
    // Under ptrace the tracer thread reaps the child and hands its status
    // over (a wait here would take the tracer's stops).
    #[cfg(target_os = "linux")]
    let status = match supervisor.as_mut().and_then(|s| s.1.take()) {
        Some(rx) => rx
            .recv()
            .map_err(|_| std::io::Error::other("the tracer ended without the exit status")),
        None => child.wait(),
    };
    #[cfg(not(target_os = "linux"))]
    let status = child.wait();
    // The child is reaped: its pid may be reused, never signal it again.
    CURRENT.store(0, Ordering::SeqCst);
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
