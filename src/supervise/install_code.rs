//! The one place approved install-time code is started: lifecycle scripts
//! (through the package manager's own mechanism, e.g. `npm rebuild <path>`),
//! sdist builds, build scripts. Everything pkgward decided to run goes
//! through [`run_install_code`]: it runs with the invocation's egress-proxy
//! environment and (Linux) its tracer, and — when `sandboxed` and the mode
//! is enforce — confined by [`super::sandbox`] (Landlock, a network
//! namespace, a scrubbed environment; Seatbelt on macOS).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::policy::Mode;

/// One piece of install-time code to run.
#[derive(Clone, Debug)]
pub struct InstallCode {
    /// The program (the real package manager, never a shim).
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// Variables set for the child (the rest is inherited).
    pub env: Vec<(OsString, OsString)>,
    /// Whether the code runs confined ([`super::sandbox`]): approved code
    /// (unless `[sandbox] confine_approved = false`) and everything under
    /// `scripts.default = "sandbox"`. The invocation's sandbox context
    /// ([`super::sandbox::enter`]) gives the mode, the policy and the proxy;
    /// without one, the built-in defaults apply (enforce, no proxy).
    pub sandboxed: bool,
    /// Confined code: paths it may write besides the project, the tool's
    /// caches and its temp dir — what the user's command itself asks for
    /// (`cargo install`: the install root's `bin/` and its records).
    pub extra_write: Vec<PathBuf>,
    /// Linux: the invocation's tracer (exec and connect records, non-loopback
    /// connects refused in enforce mode), when the tool itself ran under it.
    #[cfg(target_os = "linux")]
    pub trace: Option<super::linux::trace::Tracing>,
    /// Started on another process's behalf while the real tool runs (npm
    /// asking for one of its install scripts, [`crate::scripts::npm_broker`]):
    /// its standard streams are that process's, and it is not the child
    /// SIGTERM/SIGHUP are forwarded to (the tool is). `None`: pkgward's own
    /// streams, in the foreground.
    pub attached: Option<Attached>,
    /// Confined code: the project directory (writable, with what is below
    /// it), when it is not `cwd` (npm runs a dependency's script in the
    /// package's own directory). `None`: `cwd`.
    pub project: Option<PathBuf>,
}

/// Another process's standard input, output and error, for
/// [`InstallCode::attached`]. On Windows: the shim's stdin and stderr,
/// with stdout going to stderr too.
#[derive(Clone, Debug)]
pub struct Attached {
    #[cfg(unix)]
    pub stdio: std::sync::Arc<[std::os::fd::OwnedFd; 3]>,
    /// The started child, for signals its requester forwards.
    pub child: std::sync::Arc<ChildSlot>,
}

/// The pid of an attached child while it runs, and a signal that arrived
/// before it started. A signal is delivered once: by [`ChildSlot::signal`]
/// when the child is running, else by [`ChildSlot::started`].
#[derive(Debug, Default)]
pub struct ChildSlot {
    pid: std::sync::atomic::AtomicI32,
    pending: std::sync::atomic::AtomicI32,
}

impl ChildSlot {
    /// Sends `sig` to the child (now, or as soon as it starts; nothing once
    /// it has ended).
    pub fn signal(&self, sig: i32) {
        use std::sync::atomic::Ordering::SeqCst;
        self.pending.store(sig, SeqCst);
        let pid = self.pid.load(SeqCst);
        if pid > 0 {
            let sig = self.pending.swap(0, SeqCst);
            if sig != 0 {
                kill(pid, sig);
            }
        }
    }

    /// The child started.
    pub fn started(&self, pid: i32) {
        use std::sync::atomic::Ordering::SeqCst;
        self.pid.store(pid, SeqCst);
        let sig = self.pending.swap(0, SeqCst);
        if sig != 0 {
            kill(pid, sig);
        }
    }

    /// The child ended (called before it is reaped, so that its pid cannot
    /// have been reused by a stranger when a signal races this).
    pub fn ended(&self) {
        self.pid.store(-1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn kill(pid: i32, sig: i32) {
    #[cfg(unix)]
    // SAFETY: kill(2) with plain integers, to our own child.
    unsafe {
        libc::kill(pid, sig);
    }
    #[cfg(not(unix))]
    let _ = (pid, sig);
}

impl Attached {
    /// Gives `cmd` these streams; on Linux the child also gets SIGTERM
    /// when the thread that started it goes (the shim exiting while npm's
    /// script still runs, e.g. after npm was killed).
    pub fn apply(&self, cmd: &mut std::process::Command) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            cmd.stdin(self.stdio[0].try_clone()?)
                .stdout(self.stdio[1].try_clone()?)
                .stderr(self.stdio[2].try_clone()?);
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe and touches no memory.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
                    Ok(())
                });
            }
        }
        #[cfg(not(unix))]
        let _ = cmd;
        Ok(())
    }
}

/// How it ended.
#[derive(Clone, Debug)]
pub struct CodeEnded {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub duration: Duration,
    /// What confined it (`None`: it was not to be sandboxed).
    pub sandbox: Option<super::sandbox::Report>,
}

/// Runs one piece of approved install-time code, inheriting stdin, stdout
/// and stderr (its output is the package manager's usual output), and waits
/// for it. Signals and exit codes are handled like the real tool's.
pub fn run_install_code(code: &InstallCode) -> Result<CodeEnded> {
    let started = Instant::now();
    if code.sandboxed {
        let cx = super::sandbox::current().unwrap_or_else(|| {
            std::sync::Arc::new(super::sandbox::Context {
                mode: Mode::Enforce,
                policy: crate::policy::SandboxPolicy::default(),
                tool: "",
                prepared: Default::default(),
                proxy: None,
            })
        });
        if cx.mode == Mode::Enforce {
            let (ended, report) = super::sandbox::run(code, &cx)?;
            return Ok(CodeEnded {
                exit_code: ended.code,
                signal: ended.signal,
                duration: started.elapsed(),
                sandbox: Some(report),
            });
        }
        let ended = plain(code)?;
        return Ok(CodeEnded {
            exit_code: ended.code,
            signal: ended.signal,
            duration: started.elapsed(),
            sandbox: Some(super::sandbox::Report {
                note: Some(format!(
                    "{} mode: recorded, not confined (the sandbox is enforcement)",
                    cx.mode
                )),
                ..Default::default()
            }),
        });
    }
    let ended = plain(code)?;
    Ok(CodeEnded {
        exit_code: ended.code,
        signal: ended.signal,
        duration: started.elapsed(),
        sandbox: None,
    })
}

fn plain(code: &InstallCode) -> Result<super::Ended> {
    #[cfg(unix)]
    if let Some(a) = &code.attached {
        let mut cmd = std::process::Command::new(&code.program);
        cmd.args(&code.args).current_dir(&code.cwd);
        for (k, v) in &code.env {
            cmd.env(k, v);
        }
        a.apply(&mut cmd)
            .map_err(|e| crate::error::Error::io("cannot pass the script its streams", e))?;
        #[cfg(target_os = "linux")]
        let trace = code.trace.as_ref();
        #[cfg(not(target_os = "linux"))]
        let trace = None::<&()>;
        return super::unix::run_with(cmd, trace, Some(a));
    }
    let launch = super::Launch {
        program: code.program.clone(),
        arg0: None,
        args: code.args.clone(),
        env: code.env.clone(),
        #[cfg(target_os = "linux")]
        trace: code.trace.clone(),
    };
    run_launch(&launch, code)
}

/// Runs `launch` in `code`'s directory through the usual supervision; on
/// Windows an attached run's output goes to pkgward's stderr (its stdout
/// is the requester's command's, [`Attached`]).
pub(crate) fn run_launch(launch: &super::Launch, code: &InstallCode) -> Result<super::Ended> {
    #[cfg_attr(not(windows), allow(unused_mut))]
    let mut cmd = super::command(launch, Some(&code.cwd))?;
    #[cfg(windows)]
    if code.attached.is_some() {
        cmd.stdout(std::process::Stdio::from(std::io::stderr()));
    }
    super::run_command(launch, cmd)
}
