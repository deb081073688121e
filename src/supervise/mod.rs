//! Starting the real tool and waiting for it, transparently: the child
//! inherits stdin/stdout/stderr and the terminal; its exit code comes back
//! unchanged (128+N for a death by signal N).
//!
//! Unix: SIGINT and SIGQUIT are left to the child (the terminal delivers them
//! to the whole foreground process group, so the shim just does not die of
//! them); SIGTERM and SIGHUP sent to the shim are forwarded to the child.
//! Windows: the child tree runs in a Job Object that is killed when the shim
//! goes away; Ctrl-C/Ctrl-Break are left to the child.

#[cfg(target_os = "linux")]
pub mod linux;
pub mod proxy;
pub mod resolve;

#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use crate::error::{Error, Result};

/// What to start.
pub struct Launch {
    pub program: PathBuf,
    /// argv[0] the child should see (Unix); `None` = the program path.
    pub arg0: Option<OsString>,
    pub args: Vec<OsString>,
    /// Variables to set in the child's environment (the rest is inherited).
    pub env: Vec<(OsString, OsString)>,
    /// Linux: trace the child's process tree (exec, connect) — set by the
    /// egress proxy for the invocations it serves.
    #[cfg(target_os = "linux")]
    pub trace: Option<linux::trace::Tracing>,
}

/// How the child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ended {
    pub pid: u32,
    /// The exit code pkgward returns: the child's, or 128+N for signal N.
    pub code: i32,
    pub signal: Option<i32>,
}

/// Starts the program and waits for it, forwarding signals as described above.
pub fn run(launch: &Launch) -> Result<Ended> {
    let mut cmd = Command::new(&launch.program);
    cmd.args(&launch.args);
    for (k, v) in &launch.env {
        cmd.env(k, v);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        if let Some(a0) = &launch.arg0 {
            cmd.arg0(a0);
        }
        #[cfg(target_os = "linux")]
        let trace = launch.trace.as_ref();
        #[cfg(not(target_os = "linux"))]
        let trace = None::<&()>;
        unix::run(cmd, trace)
    }
    #[cfg(windows)]
    {
        windows::run(cmd)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let mut child = cmd.spawn().map_err(|e| spawn_error(&launch.program, e))?;
        let status = child
            .wait()
            .map_err(|e| Error::io("waiting for the real tool", e))?;
        Ok(Ended {
            pid: child.id(),
            code: status.code().unwrap_or(1),
            signal: None,
        })
    }
}

pub(crate) fn spawn_error(program: &std::path::Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound {
            tool: program.display().to_string(),
            detail: format!(" (it vanished or its interpreter is missing: {e})"),
        }
    } else {
        Error::io(format!("cannot start {}", program.display()), e)
    }
}
