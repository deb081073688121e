//! The ptrace tracer, for where seccomp user notification is unavailable:
//! the child installs the same filter with `SECCOMP_RET_TRACE` after the
//! supervisor thread `PTRACE_SEIZE`d it (with `TRACESECCOMP`, `TRACEFORK`,
//! `TRACEVFORK`, `TRACECLONE`, `TRACEEXEC` and `EXITKILL`), so the tree stops
//! only on the supervised syscalls and every new process is traced from its
//! first instruction. A deny rewrites the syscall number to -1 (skipped) and
//! sets its result to `-EACCES`. Exit codes come from the wait statuses
//! the tracer gets for every tracee.
//!
//! The supervisor thread is the tracer: it alone may wait for the tracees,
//! so it also reaps the root (whose real parent is another thread of this
//! process) and hands its status to the caller ([`super::trace::Spawned`]).

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::mpsc::Sender;

use super::state::State;

const EVENT_FORK: i32 = 1;
const EVENT_VFORK: i32 = 2;
const EVENT_CLONE: i32 = 3;
const EVENT_EXEC: i32 = 4;
const EVENT_SECCOMP: i32 = 7;
const EVENT_STOP: i32 = 128;

const O_TRACEFORK: libc::c_int = 0x02;
const O_TRACEVFORK: libc::c_int = 0x04;
const O_TRACECLONE: libc::c_int = 0x08;
const O_TRACEEXEC: libc::c_int = 0x10;
const O_TRACESECCOMP: libc::c_int = 0x80;
const O_EXITKILL: libc::c_int = 0x10_0000;

const SEIZE: libc::c_int = 0x4206;
const LISTEN: libc::c_int = 0x4208;

fn ptrace(req: libc::c_int, pid: u32, addr: usize, data: usize) -> libc::c_long {
    // SAFETY: the callers pass pointers to live locals (or plain numbers) as
    // `addr`/`data`, as each request expects.
    unsafe {
        libc::ptrace(
            req as _,
            pid as libc::pid_t,
            addr as *mut libc::c_void,
            data as *mut libc::c_void,
        )
    }
}

/// Attaches to `pid` (which waits in its `pre_exec` for us).
pub(super) fn seize(pid: u32) -> io::Result<()> {
    let opts =
        O_TRACESECCOMP | O_TRACEFORK | O_TRACEVFORK | O_TRACECLONE | O_TRACEEXEC | O_EXITKILL;
    if ptrace(SEIZE, pid, 0, opts as usize) != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn cont(tid: u32, sig: i32) {
    ptrace(libc::PTRACE_CONT as _, tid, 0, sig as usize);
}

/// Follows the tree until no tracee is left. The root's wait status goes
/// to `status`.
pub(super) fn run(root: u32, state: &mut State, status: Sender<ExitStatus>) {
    loop {
        let mut st: libc::c_int = 0;
        // SAFETY: waitpid into a local; __WNOTHREAD: only this thread's
        // tracees (other threads' children are theirs to wait for).
        let tid = unsafe { libc::waitpid(-1, &mut st, libc::__WALL | libc::__WNOTHREAD) };
        if tid < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break; // ECHILD: every tracee is gone
        }
        let tid = tid as u32;
        if libc::WIFEXITED(st) || libc::WIFSIGNALED(st) {
            let (code, sig) = if libc::WIFEXITED(st) {
                (Some(libc::WEXITSTATUS(st)), None)
            } else {
                (None, Some(libc::WTERMSIG(st)))
            };
            state.gone(tid, code, sig, None);
            if tid == root {
                let _ = status.send(ExitStatus::from_raw(st));
            }
            continue;
        }
        if !libc::WIFSTOPPED(st) {
            continue;
        }
        let sig = libc::WSTOPSIG(st);
        match st >> 16 {
            EVENT_SECCOMP => {
                if let Some((nr, args)) = regs::get(tid) {
                    if let Err(errno) = super::trace::handle(state, tid, nr, args) {
                        regs::deny(tid, errno);
                    }
                }
                cont(tid, 0);
            }
            EVENT_FORK | EVENT_VFORK | EVENT_CLONE | EVENT_EXEC => cont(tid, 0),
            EVENT_STOP => {
                if matches!(
                    sig,
                    libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
                ) {
                    // A group stop: stay stopped, but let the next event in.
                    ptrace(LISTEN, tid, 0, 0);
                } else {
                    // A new tracee's first stop.
                    cont(tid, 0);
                }
            }
            0 => cont(tid, sig), // a signal on its way: deliver it
            _ => cont(tid, 0),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod regs {
    use super::ptrace;

    fn read(tid: u32) -> Option<libc::user_regs_struct> {
        // SAFETY: plain data filled by PTRACE_GETREGS.
        let mut r: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        (ptrace(libc::PTRACE_GETREGS as _, tid, 0, &mut r as *mut _ as usize) == 0).then_some(r)
    }

    pub fn get(tid: u32) -> Option<(i64, [u64; 6])> {
        let r = read(tid)?;
        Some((r.orig_rax as i64, [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9]))
    }

    /// Skips the syscall; it returns `-errno`.
    pub fn deny(tid: u32, errno: i32) {
        if let Some(mut r) = read(tid) {
            r.orig_rax = u64::MAX;
            r.rax = (-(errno as i64)) as u64;
            ptrace(libc::PTRACE_SETREGS as _, tid, 0, &r as *const _ as usize);
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod regs {
    use super::ptrace;

    const NT_PRSTATUS: usize = 1;
    const NT_ARM_SYSTEM_CALL: usize = 0x404;

    fn read(tid: u32) -> Option<libc::user_regs_struct> {
        // SAFETY: plain data filled by PTRACE_GETREGSET.
        let mut r: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: (&mut r as *mut libc::user_regs_struct).cast(),
            iov_len: std::mem::size_of::<libc::user_regs_struct>(),
        };
        (ptrace(
            libc::PTRACE_GETREGSET as _,
            tid,
            NT_PRSTATUS,
            &mut iov as *mut _ as usize,
        ) == 0)
            .then_some(r)
    }

    pub fn get(tid: u32) -> Option<(i64, [u64; 6])> {
        let r = read(tid)?;
        Some((
            r.regs[8] as i64,
            [
                r.regs[0], r.regs[1], r.regs[2], r.regs[3], r.regs[4], r.regs[5],
            ],
        ))
    }

    pub fn deny(tid: u32, errno: i32) {
        let mut nr: libc::c_int = -1;
        let mut iov = libc::iovec {
            iov_base: (&mut nr as *mut libc::c_int).cast(),
            iov_len: std::mem::size_of::<libc::c_int>(),
        };
        ptrace(
            libc::PTRACE_SETREGSET as _,
            tid,
            NT_ARM_SYSTEM_CALL,
            &mut iov as *mut _ as usize,
        );
        if let Some(mut r) = read(tid) {
            r.regs[0] = (-(errno as i64)) as u64;
            let mut iov = libc::iovec {
                iov_base: (&mut r as *mut libc::user_regs_struct).cast(),
                iov_len: std::mem::size_of::<libc::user_regs_struct>(),
            };
            ptrace(
                libc::PTRACE_SETREGSET as _,
                tid,
                NT_PRSTATUS,
                &mut iov as *mut _ as usize,
            );
        }
    }
}
