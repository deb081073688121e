//! Every failure pkgward can report, each mapped to a documented exit code
//! (README, "Exit codes"). The core returns these; only `main` prints them.

use std::path::PathBuf;

/// Exit codes pkgward itself uses. When the real tool ran, its own exit code
/// (or 128+N for a death by signal N) is returned instead.
pub mod exit {
    /// The invocation was denied by policy.
    pub const DENIED: i32 = 77;
    /// The policy or pkgward's configuration is invalid or unreadable.
    pub const CONFIG: i32 = 78;
    /// The audit log cannot be written.
    pub const AUDIT: i32 = 74;
    /// The real tool was not found on PATH.
    pub const NOT_FOUND: i32 = 127;
    /// An internal error (a bug, or the OS refused something unexpected).
    pub const INTERNAL: i32 = 70;
    /// `pkgward audit flush`: records remain spooled (a collector could not
    /// take them, or time ran out); try again later (EX_TEMPFAIL).
    pub const SINK_PENDING: i32 = 75;
    /// Bad command-line usage of `pkgward` itself (clap's convention).
    pub const USAGE: i32 = 2;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    Denied { message: String },

    #[error("{0}")]
    Policy(#[from] crate::policy::PolicyError),

    /// One or more policy layers are invalid and the effective mode is enforce.
    #[error("{}\nthe policy is invalid, so in enforce mode the real tool does not run; fix the file \
             (check it with `pkgward policy check FILE`)", render_errors(.0))]
    PolicyInvalid(Vec<crate::policy::PolicyError>),

    #[error("{0}")]
    Config(String),

    #[error("cannot write the audit log {}: {source}", path.display())]
    Audit {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{tool}: the real tool was not found on PATH{detail}")]
    NotFound { tool: String, detail: String },

    #[error("recursion: {tool} was invoked through pkgward {depth} times in a row (limit {limit}); \
             a shim probably resolves to itself — check that the real {tool} is on PATH after the shim directory \
             and is not another copy of pkgward")]
    Recursion {
        tool: String,
        depth: u32,
        limit: u32,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Denied { .. } => exit::DENIED,
            Error::Policy(_)
            | Error::PolicyInvalid(_)
            | Error::Config(_)
            | Error::Recursion { .. } => exit::CONFIG,
            Error::Audit { .. } => exit::AUDIT,
            Error::NotFound { .. } => exit::NOT_FOUND,
            Error::Io { .. } | Error::Internal(_) => exit::INTERNAL,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

fn render_errors(errors: &[crate::policy::PolicyError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
