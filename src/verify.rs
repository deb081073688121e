//! `pkgward verify`: every lockfile entry resolved outside the approved
//! registries, or without an integrity hash. Pure except for reading the
//! lockfiles and (on demand) asking a tool for its built-in registry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::decide::urls::Prefix;
use crate::lockfiles::{self, EntryKind, Lockfile};
use crate::policy::Policy;
use crate::record::redact::redact_urls;
use crate::tools::Ecosystem;

/// Stable codes of verify findings (also SARIF rule ids).
pub const UNAPPROVED: &str = "unapproved-source";
pub const NO_INTEGRITY: &str = "missing-integrity";
pub const UNREADABLE: &str = "unreadable-lockfile";
pub const MALICIOUS: &str = crate::decide::threats::CODE;

#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub path: PathBuf,
    pub line: usize,
    pub ecosystem: Ecosystem,
    pub package: String,
    pub version: String,
    pub purl: String,
    pub message: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub lockfiles: Vec<PathBuf>,
    pub entries: usize,
    pub findings: Vec<Finding>,
}

/// Resolves `builtin` for an ecosystem (URL prefixes), or nothing when the
/// tool is absent or cannot tell.
pub type Builtin<'a> = dyn FnMut(Ecosystem) -> Vec<String> + 'a;

/// Verifies every lockfile under `root` against `policy`.
pub fn verify(root: &Path, policy: &Policy, builtin: &mut Builtin<'_>) -> Report {
    verify_with(root, policy, builtin, None)
}

/// [`verify`], also reporting entries a threat feed lists as malicious.
pub fn verify_with(
    root: &Path,
    policy: &Policy,
    builtin: &mut Builtin<'_>,
    mut threats: Option<&mut crate::threats::Index>,
) -> Report {
    let mut report = Report::default();
    let mut builtin_cache: BTreeMap<Ecosystem, Vec<Prefix>> = BTreeMap::new();
    for path in lockfiles::find_all(root) {
        report.lockfiles.push(path.clone());
        let Some(format) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(lockfiles::detect)
        else {
            continue;
        };
        let parsed = std::fs::read(&path)
            .map_err(|e| (0, e.to_string()))
            .and_then(|b| String::from_utf8(b).map_err(|_| (0, "not UTF-8".to_string())))
            .and_then(|t| {
                // A pnpm or yarn lockfile in a YAML spelling the reader does
                // not follow (anchors, flow style, quoted fields…) could hide
                // an entry from it: not vouched for.
                if crate::classify::lockfile_in_yaml_form(format, &t) {
                    return Err((
                        1,
                        "it is written in a YAML form pkgward's reader does not follow (anchors, \
                         aliases, flow style, quoted or escaped fields, values on later lines); \
                         the tool would read it, so entries could be hidden from this check: \
                         regenerate it with the tool"
                            .to_string(),
                    ));
                }
                lockfiles::parse(format, &path, &t).map_err(|e| (e.line, e.message))
            });
        match parsed {
            Ok(lock) => {
                if let Some(ix) = threats.as_deref_mut() {
                    check_threats(&lock, ix, &mut report);
                }
                check_lockfile(&lock, policy, builtin, &mut builtin_cache, &mut report)
            }
            Err((line, message)) => report.findings.push(Finding {
                code: UNREADABLE,
                path: path.clone(),
                line,
                ecosystem: format.ecosystem(),
                package: String::new(),
                version: String::new(),
                purl: String::new(),
                message: format!("cannot read this {format}: {message}"),
            }),
        }
    }
    report
}

fn check_threats(lock: &Lockfile, ix: &mut crate::threats::Index, report: &mut Report) {
    for e in &lock.entries {
        if matches!(e.kind, EntryKind::Workspace | EntryKind::Path) {
            continue;
        }
        let message = match ix.check(e.ecosystem, &e.name, Some(&e.version)) {
            Ok(hits) if hits.is_empty() => continue,
            Ok(hits) => format!(
                "{} {}@{} is listed as malicious by {}",
                e.ecosystem,
                e.name,
                e.version,
                hits.iter()
                    .map(|h| h.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(err) => format!(
                "cannot check {}@{} against the threat feed: {err}",
                e.name, e.version
            ),
        };
        report.findings.push(Finding {
            code: MALICIOUS,
            path: lock.path.clone(),
            line: e.line,
            ecosystem: e.ecosystem,
            package: e.name.clone(),
            version: e.version.clone(),
            purl: e.purl.clone(),
            message,
        });
    }
}

fn check_lockfile(
    lock: &Lockfile,
    policy: &Policy,
    builtin: &mut Builtin<'_>,
    cache: &mut BTreeMap<Ecosystem, Vec<Prefix>>,
    report: &mut Report,
) {
    for e in &lock.entries {
        report.entries += 1;
        if matches!(e.kind, EntryKind::Workspace | EntryKind::Path) {
            continue;
        }
        let approved = policy.registries_for(e.ecosystem);
        let explicit: Vec<Prefix> = approved
            .iter()
            .filter(|a| *a != "builtin")
            .filter_map(|a| Prefix::parse(a).ok())
            .collect();
        let builtin_ok = approved.iter().any(|a| a == "builtin");
        let mut covered = |url: &str| -> bool {
            let Ok(c) = Prefix::parse(url) else {
                return false;
            };
            if explicit.iter().any(|p| p.covers(&c)) {
                return true;
            }
            builtin_ok
                && cache
                    .entry(e.ecosystem)
                    .or_insert_with(|| {
                        builtin(e.ecosystem)
                            .iter()
                            .filter_map(|u| Prefix::parse(u).ok())
                            .collect()
                    })
                    .iter()
                    .any(|p| p.covers(&c))
        };
        let finding = |code, message: String| Finding {
            code,
            path: lock.path.clone(),
            line: e.line,
            ecosystem: e.ecosystem,
            package: e.name.clone(),
            version: e.version.clone(),
            purl: e.purl.clone(),
            message,
        };
        // Where the entry is fetched from: its URL, else the registry it names.
        // A git spec without a scheme (`github:user/repo`) is fetched from git
        // all the same; it can never fall under an approved URL prefix.
        let location = match (e.kind, e.resolved.as_deref()) {
            (EntryKind::Git, Some(r)) => Some(r),
            _ => e
                .resolved
                .as_deref()
                .filter(|r| r.contains("://"))
                .or(e.source.as_deref()),
        };
        match (e.kind, location) {
            (EntryKind::Git, Some(loc)) if !covered(strip_git(loc)) => {
                report.findings.push(finding(
                    UNAPPROVED,
                    format!("fetched from git: {}", redact_urls(loc)),
                ));
            }
            (EntryKind::Registry | EntryKind::Url, Some(loc))
                if !covered(strip_registry_prefix(loc)) =>
            {
                report.findings.push(finding(
                    UNAPPROVED,
                    format!(
                        "resolved from {}, not an approved {} registry",
                        redact_urls(loc),
                        e.ecosystem
                    ),
                ));
            }
            _ => {}
        }
        if matches!(e.kind, EntryKind::Registry | EntryKind::Url) && e.integrity.is_empty() {
            report.findings.push(finding(
                NO_INTEGRITY,
                "has no integrity hash in the lockfile".into(),
            ));
        }
    }
}

/// `registry+https://…` / `sparse+https://…` (Cargo) name the registry itself.
fn strip_registry_prefix(s: &str) -> &str {
    s.strip_prefix("registry+").unwrap_or(s)
}

/// `git+https://host/repo#rev` → `https://host/repo`.
fn strip_git(s: &str) -> &str {
    let s = s.strip_prefix("git+").unwrap_or(s);
    s.split('#').next().unwrap_or(s)
}

/// SARIF 2.1.0 for code-scanning UIs.
pub fn sarif(report: &Report, root: &Path) -> serde_json::Value {
    let rules = [
        (
            UNAPPROVED,
            "A lockfile entry is fetched from a registry the policy does not approve.",
        ),
        (
            NO_INTEGRITY,
            "A lockfile entry has no integrity hash, so a changed artifact would go unnoticed.",
        ),
        (UNREADABLE, "A lockfile could not be read."),
        (
            MALICIOUS,
            "A lockfile entry is listed as malicious by a threat feed of the policy.",
        ),
    ];
    let results: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            let uri = f.path.strip_prefix(root).unwrap_or(&f.path).to_string_lossy().replace('\\', "/");
            serde_json::json!({
                "ruleId": f.code,
                "level": "error",
                "message": { "text": format!("{} {}@{}: {}", f.ecosystem, f.package, f.version, f.message) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri },
                        "region": { "startLine": f.line.max(1) }
                    }
                }],
                "properties": { "purl": f.purl }
            })
        })
        .collect();
    serde_json::json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": { "driver": {
                "name": "pkgward",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.iter().map(|(id, text)| serde_json::json!({
                    "id": id,
                    "shortDescription": { "text": text }
                })).collect::<Vec<_>>()
            }},
            "results": results
        }]
    })
}
