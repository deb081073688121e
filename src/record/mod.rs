//! Records: what pkgward writes to the audit log.
//!
//! Every line of the log is one JSON object with at least `kind` and
//! `invocation_id`. An `invocation` line is written and flushed before the real
//! tool starts; an `exit` line follows when it ends (or is refused). Later
//! record kinds (scripts, processes, connections, packages) link to their
//! invocation by `invocation_id`.

pub mod context;
pub mod hash;
pub mod log;
pub mod package;
pub mod process;
pub mod query;
pub mod redact;

use std::path::PathBuf;

use serde::Serialize;

use crate::policy::{Layer, LayerSource, Mode, PolicyError, Refused};

pub use context::Ci;
pub use log::{AuditLog, Target as LogTarget};

/// Version of the record layout; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Generates a new invocation id: a UUIDv7 (time-ordered).
pub fn new_invocation_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The current time as RFC 3339 UTC with millisecond precision.
pub fn now_rfc3339() -> String {
    let ts = jiff::Timestamp::now();
    format!("{ts:.3}")
}

#[derive(Clone, Debug, Serialize)]
pub struct RealTool {
    pub path: PathBuf,
    /// sha256 of the executable (hex); null when it could not be read.
    pub sha256: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PolicyRef {
    pub digest: String,
    pub mode: Mode,
    pub sources: Vec<LayerSource>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<PolicyError>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<Refused>,
    /// The remote policy: which copy is in force, and why not when none is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<crate::policy::FleetState>,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The real tool runs.
    Allow,
    /// The real tool does not run (enforce mode).
    Deny,
    /// A deny that audit mode turned into a record: the real tool runs.
    WouldDeny,
}

/// One reason behind a decision, with a stable kebab-case code.
#[derive(Clone, Debug, Serialize)]
pub struct Reason {
    pub code: String,
    pub message: String,
    /// Where the offending setting came from: a flag, an env var name, or file:line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DecisionRef {
    pub action: Action,
    pub reasons: Vec<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced: Option<crate::decide::mirror::Forced>,
    /// The release-age cooldown pkgward had the tool apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<crate::decide::cooldown::Applied>,
}

/// How the shim was reached.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// Through a shim on PATH (argv[0] dispatch).
    Shim,
    /// Through `pkgward run -- TOOL …`.
    Run,
}

#[derive(Clone, Debug, Serialize)]
pub struct InvocationRecord {
    pub kind: &'static str,
    pub schema: u32,
    pub invocation_id: String,
    pub parent_id: Option<String>,
    pub depth: u32,
    pub time: String,
    pub pkgward_version: &'static str,
    pub tool: String,
    pub ecosystem: String,
    pub via: Via,
    pub real_tool: Option<RealTool>,
    /// argv with secrets redacted; argv[0] is the tool name as invoked.
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    pub host: String,
    pub pid: u32,
    pub ci: Ci,
    pub policy: PolicyRef,
    pub classification: ClassificationRef,
    pub decision: DecisionRef,
}

/// What the classifier found, as recorded: the verb, every source with its
/// origin (values redacted), and how many lockfile entries were checked.
#[derive(Clone, Debug, Serialize)]
pub struct ClassificationRef {
    pub verb: crate::classify::Verb,
    pub sources: Vec<crate::classify::Source>,
    pub lockfile_entries: usize,
}

impl From<&crate::classify::Classification> for ClassificationRef {
    fn from(c: &crate::classify::Classification) -> Self {
        use crate::classify::SourceKind;
        let mut sources = Vec::new();
        let mut locked = 0;
        for s in &c.sources {
            if s.kind == SourceKind::Locked {
                locked += 1;
                continue;
            }
            let mut s = s.clone();
            s.value = redact::redact_urls(&s.value).into_owned();
            sources.push(s);
        }
        ClassificationRef {
            verb: c.verb,
            sources,
            lockfile_entries: locked,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ExitRecord {
    pub kind: &'static str,
    pub invocation_id: String,
    pub time: String,
    /// Whether the real tool was started.
    pub ran: bool,
    /// The exit code pkgward returned (the child's own, 128+N for signal N,
    /// or pkgward's code when the tool did not run).
    pub exit_code: i32,
    /// The signal that killed the child, if any.
    pub signal: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_pid: Option<u32>,
    pub duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What a check after the tool ran found (a listed package that the
    /// install resolved).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Reason>,
    /// The outcome of the remote policy's background refresh, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet_refresh: Option<String>,
}

pub fn layer_name(layer: Layer) -> &'static str {
    match layer {
        Layer::System => "system",
        Layer::User => "user",
        Layer::Project => "project",
        Layer::Env => "env",
    }
}
