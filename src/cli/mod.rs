//! The management CLI: `pkgward shims|run|doctor|policy|log|completions|man`.
//! This is the user interface, so it prints; the work is done by the library.

mod audit_cmd;
mod doctor;
mod export_cmd;
mod fleet_cmd;
mod log_cmd;
mod policy_cmd;
mod scripts_cmd;
mod shims;
mod threats_cmd;
mod verify_cmd;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::error::{exit, Error};
use crate::record::Via;
use crate::tools::Tool;

#[derive(Parser, Debug)]
#[command(
    name = "pkgward",
    version,
    about = "A guard between people, CI jobs and their package managers",
    long_about = "pkgward is installed as shims named after package managers (npm, pip, cargo, …) \
                  placed first on PATH. Each shim checks the policy, records the invocation in the \
                  audit log, then runs the real tool transparently.\n\n\
                  Exit codes: the real tool's own when it ran (128+N if killed by signal N); \
                  77 denied by policy; 78 policy or configuration error; 74 audit log cannot be \
                  written; 127 real tool not found; 70 internal error; 2 bad usage; \
                  75 `audit flush` left records spooled.",
    after_help = "Run a tool through pkgward explicitly with `pkgward run -- TOOL ARGS…`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Install, list or remove the shims.
    #[command(subcommand)]
    Shims(ShimsCmd),
    /// Run a package manager through pkgward when it is not reached through
    /// PATH (`./gradlew`, `./mvnw`, an absolute path).
    Run {
        /// The tool (a name looked up on PATH after the shims, or a path) and its arguments.
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "TOOL ARGS"
        )]
        command: Vec<OsString>,
    },
    /// Check the installation: PATH order, shadowing, real tools, policy, audit log.
    Doctor {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Check, show or create policy files.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Show recent invocations from the audit log.
    Log {
        /// Only invocations of this tool.
        #[arg(long, value_name = "TOOL")]
        tool: Option<String>,
        /// Only invocations that were denied (or would have been, in audit mode).
        #[arg(long)]
        denied: bool,
        /// Only invocations newer than this (e.g. 30m, 2h, 7d), or `job`: since
        /// the CI job started (PKGWARD_JOB_START, set by the CI integrations,
        /// or GitLab's CI_JOB_STARTED_AT).
        #[arg(long, value_name = "DUR|job")]
        since: Option<String>,
        /// A Markdown summary (for a CI step summary) instead of one line per invocation.
        #[arg(long, conflicts_with = "json")]
        summary: bool,
        /// One JSON object per invocation (its invocation record with an `exit` field).
        #[arg(long)]
        json: bool,
        /// Only invocations that added, changed or removed this package, ran
        /// its install-time code, or named it on their command line.
        #[arg(long, value_name = "NAME")]
        package: Option<String>,
        /// Only invocations that connected to (or fetched from) this host
        /// (HOST or HOST:PORT).
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// Show one invocation (its id, or a unique prefix of 8 or more
        /// characters) with everything under it: processes, connections,
        /// scripts, packages, files written, its exit, and the invocations it
        /// started. With --json: every record of that tree, one per line.
        #[arg(long, value_name = "ID", conflicts_with_all = ["summary", "tool", "denied", "since", "package", "host"])]
        invocation: Option<String>,
        /// Read this log instead of the policy's.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Export the audit log for a SIEM or an attestation store: OCSF 1.5.0
    /// events or ECS documents (NDJSON, one event per line), or in-toto
    /// Statements v1 with a SLSA Provenance v1 predicate (JSON Lines, one
    /// statement per invocation that installed something with a digest).
    Export {
        #[arg(long, value_enum)]
        format: export_cmd::Format,
        /// Only invocations newer than this (e.g. 30m, 2h, 7d), or `job`.
        #[arg(long, value_name = "DUR|job")]
        since: Option<String>,
        /// Only this invocation (id or unique prefix) and the invocations it started.
        #[arg(long, value_name = "ID")]
        invocation: Option<String>,
        /// Write to FILE (replaced once complete) instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Read this log instead of the policy's.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Check lockfiles: every entry resolved outside the approved registries
    /// or without an integrity hash (exit 1 when there are findings).
    Verify {
        /// A project directory or a lockfile (default: the current directory).
        path: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: verify_cmd::Format,
        /// Same as --format json.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// Same as --format sarif.
        #[arg(long, conflicts_with_all = ["format", "json"])]
        sarif: bool,
        /// Write the report to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// The remote policy the system layer names (`[fleet]`): fetch it now, or
    /// show which copy is in force.
    #[command(subcommand)]
    Fleet(FleetCmd),
    /// Threat feeds of known-malicious packages (OSV): rebuild the index, look
    /// a package up.
    #[command(subcommand)]
    Threats(ThreatsCmd),
    /// The sinks of `[audit] sinks`: ship what is spooled now, or show the
    /// spools.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Approve a package's install-time code: adds ECOSYSTEM:NAME[@RANGE]
    /// (e.g. npm:esbuild, npm:@scope/pkg@^1.2, pypi:numpy@>=1.26), or
    /// ECOSYSTEM:NAME@local for the project's own code (its root,
    /// workspaces, path dependencies), to `[scripts] allow` in the
    /// project's pkgward.toml, keeping its comments.
    Approve {
        #[arg(value_name = "ECOSYSTEM:NAME[@RANGE|@local]")]
        entry: String,
        /// Edit this policy file instead of the nearest pkgward.toml.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// List the install-time code a project would run (installed npm
    /// packages with lifecycle scripts, the project's own) and what the
    /// policy does with each.
    Scripts {
        /// The project directory (default: the current directory).
        path: Option<PathBuf>,
        /// One JSON object per script.
        #[arg(long)]
        json: bool,
    },
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into DIR.
    Man {
        #[arg(long, value_name = "DIR")]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ShimsCmd {
    /// Create a shim per tool name (symlinks on Unix, .exe links or copies on Windows).
    Install {
        /// Shim directory (default: the per-user data directory's pkgward/shims).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Only these tools (comma-separated or repeated).
        #[arg(long, value_delimiter = ',', value_name = "TOOL")]
        tools: Vec<String>,
        /// Replace existing files of the same name that are not pkgward shims.
        #[arg(long)]
        force: bool,
        /// Copy the binary instead of linking it (Windows falls back to copies
        /// by itself where hard links are impossible, e.g. across volumes).
        #[arg(long)]
        copy: bool,
        /// Also put the shim directory first on the user's PATH (Windows: the
        /// user environment in the registry; elsewhere the line to add is
        /// printed, shell startup files are not edited).
        #[arg(long)]
        modify_path: bool,
    },
    /// List the shims and what each resolves to.
    List {
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Remove the shims (only files that are pkgward; others are left alone).
    Remove {
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        #[arg(long, value_delimiter = ',', value_name = "TOOL")]
        tools: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum FleetCmd {
    /// Fetch, verify and cache the remote policy (exit 78 when it cannot be).
    Sync {
        /// Give up after this long (default 30s).
        #[arg(long, value_name = "DUR", default_value = "30s")]
        timeout: String,
        /// Started by a shim: print nothing, record the outcome for the next
        /// invocation, bounded by the policy's `timeout`.
        #[arg(long, hide = true)]
        background: bool,
    },
    /// Show the remote policy's configuration and the copy in force.
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Ship everything spooled now, ignoring any back-off; waits for a
    /// flush in progress. Exit 0 when every spool is empty afterwards, 75
    /// when records remain (a collector failed or time ran out), 78 on a
    /// configuration error.
    Flush {
        /// Only this sink (its `name`; default: the type).
        #[arg(long, value_name = "NAME")]
        sink: Option<String>,
        /// Give up after this long (e.g. 30s, 5m).
        #[arg(long, value_name = "DUR", default_value = "5m")]
        timeout: String,
        #[arg(long)]
        json: bool,
    },
    /// Per sink: what is spooled, what was sent and dropped, the last error
    /// and when a shim tries again.
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ThreatsCmd {
    /// Read the policy's `[threats] feeds` and (re)build their index.
    Sync,
    /// Look packages up: `ECOSYSTEM:NAME[@VERSION]` (exit 1 when one is listed).
    Check {
        #[arg(required = true, value_name = "ECOSYSTEM:NAME[@VERSION]")]
        packages: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// Validate a policy file (default: every layer in effect here).
    Check { file: Option<PathBuf> },
    /// Show the effective policy, each value with the file:line it came from.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Write a baseline policy approving the registries each installed tool is
    /// configured with right now.
    Init {
        /// Where to write (default: the user layer, <config dir>/pkgward/policy.toml).
        #[arg(long, value_name = "FILE")]
        path: Option<PathBuf>,
        /// Start in audit mode instead of enforce.
        #[arg(long)]
        audit: bool,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// Runs the CLI with the arguments after argv[0]; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    // The management CLI writes to stdout: like other Unix tools it ends
    // quietly when its reader goes away (`pkgward log | head`). Only this
    // path does so; a shim never writes to stdout.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let argv = std::iter::once(OsString::from("pkgward")).chain(args);
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::USAGE } else { 0 };
        }
    };
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprint_error(&e);
            e.exit_code()
        }
    }
}

fn dispatch(cmd: Command) -> crate::error::Result<i32> {
    match cmd {
        Command::Shims(c) => shims::run(c),
        Command::Run { command } => run_tool(command),
        Command::Doctor { json } => doctor::run(json),
        Command::Policy(c) => policy_cmd::run(c),
        Command::Threats(c) => threats_cmd::run(c),
        Command::Fleet(c) => fleet_cmd::run(c),
        Command::Audit(c) => audit_cmd::run(c),
        Command::Log {
            tool,
            denied,
            since,
            summary,
            json,
            package,
            host,
            invocation,
            file,
        } => log_cmd::run(log_cmd::Args {
            tool,
            denied,
            since,
            package,
            host,
            invocation,
            json,
            summary,
            file,
        }),
        Command::Export {
            format,
            since,
            invocation,
            output,
            file,
        } => export_cmd::run(format, since, invocation, output, file),
        Command::Verify {
            path,
            format,
            json,
            sarif,
            output,
        } => {
            let format = match (json, sarif) {
                (true, _) => verify_cmd::Format::Json,
                (_, true) => verify_cmd::Format::Sarif,
                _ => format,
            };
            verify_cmd::run(path, format, output)
        }
        Command::Approve { entry, file } => scripts_cmd::approve(entry, file),
        Command::Scripts { path, json } => scripts_cmd::list(path, json),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "pkgward", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man { output } => man(output),
    }
}

fn run_tool(mut command: Vec<OsString>) -> crate::error::Result<i32> {
    let invoked_as = command.remove(0);
    let name = invoked_as.to_string_lossy().into_owned();
    let tool = Tool::from_invocation_name(&name).ok_or_else(|| {
        Error::Config(format!(
            "`{name}` is not a package manager pkgward knows (see shims/tools.toml); \
             known: {}",
            crate::tools::TOOL_TABLE
                .iter()
                .map(|(n, _, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let call = crate::shim::Call {
        tool,
        invoked_as,
        args: command,
        via: Via::Run,
    };
    crate::shim::run(call, &mut |m| eprint_lines(&m))
}

fn man(output: Option<PathBuf>) -> crate::error::Result<i32> {
    let cmd = Cli::command();
    match output {
        None => {
            clap_mangen::Man::new(cmd)
                .render(&mut std::io::stdout())
                .map_err(|e| Error::io("cannot write the man page", e))?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
            clap_mangen::generate_to(cmd, &dir).map_err(|e| {
                Error::io(format!("cannot write man pages into {}", dir.display()), e)
            })?;
        }
    }
    Ok(0)
}

pub fn eprint_lines(message: &str) {
    let mut err = std::io::stderr().lock();
    for line in message.lines() {
        let _ = writeln!(err, "pkgward: {line}");
    }
}

pub fn eprint_error(e: &Error) {
    let text = e.to_string();
    let mut err = std::io::stderr().lock();
    for (i, line) in text.lines().enumerate() {
        let _ = if i == 0 && !matches!(e, Error::Denied { .. }) {
            writeln!(err, "pkgward: error: {line}")
        } else {
            writeln!(err, "pkgward: {line}")
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
