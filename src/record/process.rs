//! Records of what ran under an invocation and what it left in watched
//! execution paths.

use serde::Serialize;

use crate::supervise::watch::Written;
use crate::supervise::ProcessSeen;

/// One process of the supervised tree (`kind: "process"`).
#[derive(Clone, Debug, Serialize)]
pub struct ProcessRecord<'a> {
    pub kind: &'static str,
    pub invocation_id: &'a str,
    #[serde(flatten)]
    pub process: &'a ProcessSeen,
}

/// An executable or DLL created or changed in a watched execution path
/// during the invocation (`kind: "file-written"`).
#[derive(Clone, Debug, Serialize)]
pub struct FileWrittenRecord<'a> {
    pub kind: &'static str,
    pub invocation_id: &'a str,
    #[serde(flatten)]
    pub file: &'a Written,
}

/// A watched-path scan that hit its budget (`kind: "watch-truncated"`): the
/// file-written records of this invocation may be incomplete.
#[derive(Clone, Debug, Serialize)]
pub struct WatchTruncatedRecord<'a> {
    pub kind: &'static str,
    pub invocation_id: &'a str,
    pub entry_budget: usize,
}

/// Any of the above, serialised as itself.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum TreeRecord<'a> {
    Process(ProcessRecord<'a>),
    FileWritten(FileWrittenRecord<'a>),
    WatchTruncated(WatchTruncatedRecord<'a>),
}

/// A process of the supervised tree written as soon as it is learned
/// (`kind: "process"`, Windows: from the Job Object's messages), its exit in
/// a later [`ProcessExitRecord`].
#[derive(Clone, Debug, Serialize)]
pub struct ProcessStartRecord<'a> {
    pub kind: &'static str,
    pub invocation_id: &'a str,
    pub time: String,
    #[serde(flatten)]
    pub process: &'a ProcessSeen,
}

/// How a process of the tree ended (`kind: "process-exit"`): its exit code,
/// or none with a note when it was still running as the real tool ended.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessExitRecord<'a> {
    pub kind: &'static str,
    pub invocation_id: &'a str,
    pub time: String,
    pub pid: u32,
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'a str>,
}
