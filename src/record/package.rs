//! Provenance records: which packages an invocation added, changed or
//! removed, and which artifacts it fetched.
//!
//! `package` records come from comparing what the project (or environment)
//! held before and after the tool ran: lockfiles, and where the tool keeps
//! no lockfile, its own metadata (an environment's `*.dist-info`, cargo's
//! install registry). `artifact` records come from the egress proxy: every
//! response body it relayed in the clear, with its size and sha256 (a
//! tunnelled HTTPS download is a `connection` record only; its digest is the
//! one the lockfile or the tool's metadata states).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::lockfiles::{Digest, EntryKind};
use crate::tools::Ecosystem;

/// What happened to a package during the invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    /// Same package, another version or another artifact (digest, URL).
    Changed,
    Removed,
}

/// One package an invocation added, changed or removed (`kind: "package"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PackageRecord {
    pub kind: &'static str,
    pub invocation_id: String,
    pub time: String,
    pub change: Change,
    pub ecosystem: Ecosystem,
    pub name: String,
    /// The version now installed (for `removed`: the version that was).
    pub version: String,
    /// `changed`: the version before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<String>,
    /// Package URL, `pkg:npm/left-pad@1.3.0`.
    pub purl: String,
    pub source_kind: EntryKind,
    /// Where the artifact was fetched from (credentials and query redacted),
    /// when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    /// Hashes as the lockfile or metadata states them (`sha512` SRI base64
    /// for npm, hex `sha256` for Cargo and PyPI, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub integrity: Vec<Digest>,
    /// Hex sha256 of the fetched artifact, when known: stated by the
    /// lockfile or metadata, or computed by the egress proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// What the record was read from: a lockfile format (`package-lock`,
    /// `cargo-lock`, …) or tool metadata (`dist-info`, `pip-report`,
    /// `cargo-install`).
    pub evidence: String,
    /// The file the evidence was read from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

/// One response body relayed in the clear by the egress proxy
/// (`kind: "artifact"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArtifactRecord {
    pub kind: &'static str,
    pub invocation_id: String,
    pub time: String,
    /// The request URL without its query, credentials redacted.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub method: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Bytes of the body as received (after any transfer coding was undone).
    pub size: u64,
    /// Hex sha256 of those bytes; `null` when the body was not complete
    /// (the connection ended early).
    pub sha256: Option<String>,
}
