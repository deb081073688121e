//! The one place approved install-time code is started: lifecycle scripts
//! (through the package manager's own mechanism, e.g. `npm rebuild <path>`),
//! sdist builds, build scripts. Everything pkgward decided to run goes
//! through [`run_install_code`]: it runs with the invocation's egress-proxy
//! environment and (Linux) its tracer; file-system confinement (Landlock,
//! namespaces) is still to come, here, for all of it at once.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::Result;

/// One piece of install-time code to run.
#[derive(Clone, Debug)]
pub struct InstallCode {
    /// The program (the real package manager, never a shim).
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// Variables set for the child (the rest is inherited).
    pub env: Vec<(OsString, OsString)>,
    /// Whether the code runs under the policy's sandbox (`scripts.default =
    /// "sandbox"`); confinement itself is the supervision issue's work.
    pub sandboxed: bool,
    /// Linux: the invocation's tracer (exec and connect records, non-loopback
    /// connects refused in enforce mode), when the tool itself ran under it.
    #[cfg(target_os = "linux")]
    pub trace: Option<super::linux::trace::Tracing>,
}

/// How it ended.
#[derive(Clone, Copy, Debug)]
pub struct CodeEnded {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub duration: Duration,
}

/// Runs one piece of approved install-time code, inheriting stdin, stdout
/// and stderr (its output is the package manager's usual output), and waits
/// for it. Signals and exit codes are handled like the real tool's.
pub fn run_install_code(code: &InstallCode) -> Result<CodeEnded> {
    let started = Instant::now();
    let launch = super::Launch {
        program: code.program.clone(),
        arg0: None,
        args: code.args.clone(),
        env: code.env.clone(),
        #[cfg(target_os = "linux")]
        trace: code.trace.clone(),
    };
    let ended = super::run_in(&launch, Some(&code.cwd))?;
    Ok(CodeEnded {
        exit_code: ended.code,
        signal: ended.signal,
        duration: started.elapsed(),
    })
}
