//! Starting the real tool and waiting for it, transparently: the child
//! inherits stdin/stdout/stderr and the terminal; its exit code comes back
//! unchanged (128+N for a death by signal N).
//!
//! Unix: SIGINT and SIGQUIT are left to the child (the terminal delivers them
//! to the whole foreground process group, so the shim just does not die of
//! them); SIGTERM and SIGHUP sent to the shim are forwarded to the child.
//! Windows: the child tree runs in a Job Object that is killed when the shim
//! goes away; every process entering it is recorded (image, command line,
//! parent); Ctrl-C/Ctrl-Break are left to the child.

pub mod install_code;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod proxy;
pub mod resolve;
pub mod sandbox;
pub mod watch;

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    pub pid: u32,
    /// The exit code pkgward returns: the child's, or 128+N for signal N.
    pub code: i32,
    pub signal: Option<i32>,
    /// The processes of the tool's tree, in the order they started (Windows:
    /// from the Job Object; empty where the platform does not report them).
    pub processes: Vec<ProcessSeen>,
}

/// What an invocation's tree did, for the audit log.
#[derive(Debug, Default)]
pub struct Tree {
    pub processes: Vec<ProcessSeen>,
    pub written: Vec<watch::Written>,
    /// The watched-path scan ran out of budget.
    pub truncated: bool,
}

impl Tree {
    /// The records to append, in order.
    pub fn records<'a>(
        &'a self,
        invocation_id: &'a str,
    ) -> Vec<crate::record::process::TreeRecord<'a>> {
        use crate::record::process::{
            FileWrittenRecord, ProcessRecord, TreeRecord, WatchTruncatedRecord,
        };
        let mut out = Vec::new();
        for p in &self.processes {
            out.push(TreeRecord::Process(ProcessRecord {
                kind: "process",
                invocation_id,
                process: p,
            }));
        }
        for f in &self.written {
            out.push(TreeRecord::FileWritten(FileWrittenRecord {
                kind: "file-written",
                invocation_id,
                file: f,
            }));
        }
        if self.truncated {
            out.push(TreeRecord::WatchTruncated(WatchTruncatedRecord {
                kind: "watch-truncated",
                invocation_id,
                entry_budget: watch::ENTRY_BUDGET,
            }));
        }
        out
    }
}

/// At most this many processes are recorded per invocation (a note says how
/// many more there were).
pub const MAX_PROCESSES: usize = 4096;

/// What the supervisor learns about the tree while it runs (Windows: from
/// the Job Object's completion port, as the messages arrive).
#[derive(Debug)]
pub enum TreeEvent<'a> {
    /// A process entered the tree: identified (image, command line,
    /// parent), or as much of it as could be read. Its `exit_code` is unset.
    Started(&'a ProcessSeen),
    /// A process of the tree ended (`exit_code` from the handle opened when
    /// it started), or was still running when the real tool ended (`None`,
    /// with a note).
    Exited {
        pid: u32,
        exit_code: Option<i64>,
        note: Option<&'a str>,
    },
}

/// Where [`TreeEvent`]s go, called from the supervisor's watcher thread.
pub type ProcessSink = std::sync::Arc<dyn Fn(TreeEvent<'_>) + Send + Sync>;

static PROCESS_SINK: std::sync::Mutex<Option<ProcessSink>> = std::sync::Mutex::new(None);

/// Streams the process records of every tree started from now on to `sink`
/// (the shim sets it once per invocation, so the tool's tree and approved
/// install-time code it runs afterwards are recorded the same way): each
/// process is written as it is learned, so a pkgward killed mid-run still
/// leaves the records so far. Where no sink is set the processes come back
/// in [`Ended::processes`] instead.
pub fn stream_processes(sink: Option<ProcessSink>) {
    if let Ok(mut s) = PROCESS_SINK.lock() {
        *s = sink;
    }
}

#[cfg_attr(not(windows), allow(dead_code))]
fn process_sink() -> Option<ProcessSink> {
    PROCESS_SINK.lock().ok().and_then(|s| s.clone())
}

/// One process of the supervised tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProcessSeen {
    pub pid: u32,
    pub parent_pid: Option<u32>,
    pub image: Option<PathBuf>,
    pub command_line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// Why this process deserves a look (a shell or download/LOLBin tool
    /// started by install-time code), if it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flagged: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Programs that install-time code has no business starting quietly: shells
/// and the Windows binaries attackers use to download or run payloads.
pub const FLAGGED_PROGRAMS: [&str; 9] = [
    "cmd.exe",
    "powershell.exe",
    "pwsh.exe",
    "curl.exe",
    "bitsadmin.exe",
    "certutil.exe",
    "mshta.exe",
    "rundll32.exe",
    "regsvr32.exe",
];

/// The flag for a process of the tree: set when its image is one of
/// [`FLAGGED_PROGRAMS`] (by file name, case-insensitively) and it was started
/// by install-time code — anything but pkgward itself (the real tool, which
/// for a `.cmd` tool is cmd.exe, is not flagged for being started).
pub fn flag_for(image: Option<&std::path::Path>, started_by_pkgward: bool) -> Option<String> {
    if started_by_pkgward {
        return None;
    }
    let name = image?
        .to_string_lossy()
        .rsplit(['\\', '/'])
        .next()?
        .to_ascii_lowercase();
    FLAGGED_PROGRAMS
        .contains(&name.as_str())
        .then(|| format!("{name} started by install-time code"))
}

/// Starts the program and waits for it, forwarding signals as described above.
pub fn run(launch: &Launch) -> Result<Ended> {
    run_in(launch, None)
}

/// A SIGTERM or SIGHUP sent to pkgward while it supervised a child: no
/// further child (e.g. the next install script) should be started.
pub fn terminated() -> Option<i32> {
    #[cfg(unix)]
    {
        unix::terminated()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The pid of the real tool while [`run`] waits for it (Unix), if any.
pub fn foreground_pid() -> Option<i32> {
    #[cfg(unix)]
    {
        unix::foreground()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// [`run`] in the working directory `cwd` (`None`: the current one).
pub fn run_in(launch: &Launch, cwd: Option<&std::path::Path>) -> Result<Ended> {
    run_command(launch, command(launch, cwd)?)
}

/// The command that starts `launch` in `cwd` (a PowerShell script through
/// PowerShell).
pub(crate) fn command(launch: &Launch, cwd: Option<&std::path::Path>) -> Result<Command> {
    let mut cmd = match resolve::launcher(&launch.program) {
        resolve::Launcher::PowerShell if cfg!(windows) => {
            let (ps, args) =
                resolve::powershell_command(&powershell()?, &launch.program, &launch.args);
            let mut c = Command::new(ps);
            c.args(args);
            c
        }
        // `.cmd`/`.bat`: the standard library escapes batch arguments.
        _ => {
            let mut c = Command::new(&launch.program);
            c.args(&launch.args);
            c
        }
    };
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    for (k, v) in &launch.env {
        cmd.env(k, v);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        if let Some(a0) = &launch.arg0 {
            cmd.arg0(a0);
        }
    }
    Ok(cmd)
}

/// Runs `cmd` ([`command`] of `launch`) supervised.
pub(crate) fn run_command(
    #[cfg_attr(not(unix), allow(unused_variables))] launch: &Launch,
    cmd: Command,
) -> Result<Ended> {
    #[cfg(unix)]
    {
        #[cfg(target_os = "linux")]
        let trace = launch.trace.as_ref();
        #[cfg(not(target_os = "linux"))]
        let trace = None::<&()>;
        unix::run(cmd, trace)
    }
    #[cfg(windows)]
    {
        windows::run(cmd, process_sink())
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
            processes: Vec::new(),
        })
    }
}

#[cfg_attr(not(windows), allow(dead_code))]
/// Windows PowerShell from the system directory (not from PATH, which a
/// project could shadow), else `pwsh.exe` on PATH.
fn powershell() -> Result<PathBuf> {
    let root = std::env::var_os("SystemRoot").unwrap_or_else(|| OsString::from(r"C:\Windows"));
    let system = PathBuf::from(root).join(r"System32\WindowsPowerShell\v1.0\powershell.exe");
    if system.is_file() {
        return Ok(system);
    }
    which::which("pwsh").map_err(|_| Error::NotFound {
        tool: "powershell.exe".into(),
        detail: " (the real tool is a PowerShell script and no PowerShell was found)".into(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn flags_for_shells_and_download_tools_started_by_install_time_code() {
        for program in FLAGGED_PROGRAMS {
            let image = format!(r"C:\Windows\System32\{}", program.to_ascii_uppercase());
            assert_eq!(
                flag_for(Some(Path::new(&image)), false).as_deref(),
                Some(format!("{program} started by install-time code").as_str())
            );
            // The real tool itself (cmd.exe for a .cmd tool) is not flagged.
            assert_eq!(flag_for(Some(Path::new(&image)), true), None);
        }
        for other in [
            r"C:\node\node.exe",
            r"C:\x\cmd.exe.bak",
            "/usr/bin/sh",
            r"C:\x\notcmd.exe",
        ] {
            assert_eq!(flag_for(Some(Path::new(other)), false), None, "{other}");
        }
        assert_eq!(flag_for(None, false), None);
    }
}
