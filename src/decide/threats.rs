//! The threat-feed check: packages named on the command line, or pinned in
//! the project's lockfile for the tool's ecosystem, that a feed lists as
//! malicious.

use std::path::Path;

use crate::classify::packages::Named;
use crate::lockfiles::{self, Entry, EntryKind};
use crate::record::Reason;
use crate::threats::{FeedError, Index, Listing};
use crate::tools::Ecosystem;

pub const CODE: &str = "listed-malicious";

fn reason(
    eco: Ecosystem,
    name: &str,
    version: Option<&str>,
    hits: &[Listing],
    origin: String,
) -> Reason {
    let what = match version {
        Some(v) => format!("{name}@{v}"),
        None => name.to_string(),
    };
    let ids: Vec<String> = hits
        .iter()
        .map(|l| {
            if l.summary.is_empty() {
                l.id.clone()
            } else {
                format!("{} ({})", l.id, l.summary)
            }
        })
        .collect();
    Reason {
        code: CODE.into(),
        message: format!(
            "{eco} package `{what}` is listed as malicious by {}",
            ids.join(", ")
        ),
        origin: Some(origin),
    }
}

/// Checks the packages an invocation names.
pub fn check_named(index: &mut Index, named: &[Named]) -> Result<Vec<Reason>, FeedError> {
    let mut out = Vec::new();
    for n in named {
        let hits = index.check(n.ecosystem, &n.name, n.version.as_deref())?;
        if !hits.is_empty() {
            out.push(reason(
                n.ecosystem,
                &n.name,
                n.version.as_deref(),
                &hits,
                format!("argument `{}`", n.arg),
            ));
        }
    }
    Ok(out)
}

/// Checks lockfile entries (registry entries only: a path or workspace
/// package is the project's own code).
pub fn check_locked(
    index: &mut Index,
    entries: &[(String, Entry)],
) -> Result<Vec<Reason>, FeedError> {
    let mut out = Vec::new();
    for (file, e) in entries {
        if matches!(e.kind, EntryKind::Path | EntryKind::Workspace) {
            continue;
        }
        let hits = index.check(e.ecosystem, &e.name, Some(&e.version))?;
        if !hits.is_empty() {
            out.push(reason(
                e.ecosystem,
                &e.name,
                Some(&e.version),
                &hits,
                format!("{file}:{}", e.line),
            ));
        }
    }
    Ok(out)
}

/// The entries of the lockfiles of ecosystem `eco` in `dir` (not below it),
/// with the file's path as displayed. Unreadable lockfiles are skipped: the
/// registry check and `pkgward verify` report those.
pub fn project_lock_entries(dir: &Path, eco: Ecosystem) -> Vec<(String, Entry)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut files: Vec<_> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let f = lockfiles::detect(&name)?;
            (f.ecosystem() == eco && e.file_type().ok()?.is_file()).then_some((e.path(), f))
        })
        .collect();
    files.sort();
    for (path, format) in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if let Ok(lock) = lockfiles::parse(format, &path, &text) {
            let shown = path.display().to_string();
            out.extend(lock.entries.into_iter().map(|e| (shown.clone(), e)));
        }
    }
    out
}
