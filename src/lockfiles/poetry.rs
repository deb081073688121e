//! `poetry.lock` (TOML).
//!
//! One entry per `[[package]]`; `files = [{file, hash}]` name artifacts but
//! not their URLs, so every `hash` is a digest of the entry and `resolved`
//! is only set for non-index sources. Lock files of Poetry 1.x (lock-version
//! 1.x) keep the hashes in `[metadata.files]`, keyed by package name; they
//! are used when the package has no `files`.
//!
//! `[package.source]`:
//! - absent → Registry, no `source` (the default index, PyPI unless
//!   configured otherwise);
//! - `type = "legacy"` (a named index) → Registry, `source` = its `url`;
//! - `type = "git"` → Git, `resolved` = `url#resolved_reference` (or
//!   `#reference`);
//! - `type = "url"` → Url; `type = "file"` / `"directory"` → Path
//!   (`resolved` = `url`). Other types → Url with a warning.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::{entry, line_of, parse_prefixed, toml_fail, Cx, Digest, EntryKind, Fail};
use crate::tools::Ecosystem;

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<Spanned<Package>>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    files: Option<BTreeMap<String, Vec<File>>>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: Option<String>,
    files: Option<Vec<File>>,
    source: Option<Source>,
}

#[derive(Deserialize)]
struct File {
    hash: Option<String>,
}

#[derive(Deserialize)]
struct Source {
    #[serde(rename = "type")]
    type_: Option<String>,
    url: Option<String>,
    reference: Option<String>,
    resolved_reference: Option<String>,
}

/// PEP 503 name normalisation, for matching `[metadata.files]` keys.
fn normalize(name: &str) -> String {
    crate::tools::pep503(name)
}

pub(super) fn parse(cx: &mut Cx, text: &str) -> Result<(), Fail> {
    let lock: Lock = toml::from_str(text).map_err(|e| toml_fail(text, e))?;
    let legacy_files: BTreeMap<String, &Vec<File>> = lock
        .metadata
        .as_ref()
        .and_then(|m| m.files.as_ref())
        .map(|f| f.iter().map(|(k, v)| (normalize(k), v)).collect())
        .unwrap_or_default();
    for pkg in &lock.package {
        let line = line_of(text, pkg.span().start);
        let p = pkg.get_ref();
        let name = p.name.as_str();
        let version = p.version.as_deref().unwrap_or("");
        let files = p
            .files
            .as_ref()
            .filter(|f| !f.is_empty())
            .or_else(|| legacy_files.get(&normalize(name)).copied());
        let mut integrity: Vec<Digest> = Vec::new();
        for f in files.into_iter().flatten() {
            if let Some(h) = &f.hash {
                match parse_prefixed(h, ':') {
                    Some(d) => integrity.push(d),
                    None => cx.warn(line, format_args!("{name}: unusable hash {h:?}")),
                }
            }
        }
        let (kind, resolved, source) = match &p.source {
            None => (EntryKind::Registry, None, None),
            Some(s) => {
                let url = s.url.as_deref();
                match s.type_.as_deref() {
                    Some("legacy") | Some("pypi") | Some("explicit") | Some("supplemental") => {
                        (EntryKind::Registry, None, url.map(str::to_string))
                    }
                    Some("git") => {
                        let rev = s.resolved_reference.as_deref().or(s.reference.as_deref());
                        let r = match (url, rev) {
                            (Some(u), Some(r)) if !r.is_empty() => Some(format!("{u}#{r}")),
                            (Some(u), _) => Some(u.to_string()),
                            (None, _) => None,
                        };
                        (EntryKind::Git, r, None)
                    }
                    Some("url") => (EntryKind::Url, url.map(str::to_string), None),
                    Some("file") | Some("directory") => {
                        (EntryKind::Path, url.map(str::to_string), None)
                    }
                    other => {
                        cx.warn(line, format_args!("{name}: unknown source type {other:?}"));
                        (EntryKind::Url, url.map(str::to_string), None)
                    }
                }
            }
        };
        let e = entry(
            Ecosystem::Pypi,
            name,
            version,
            resolved.as_deref(),
            source.as_deref(),
            integrity,
            kind,
            line,
        );
        cx.push(e);
    }
    Ok(())
}
