//! `uv.lock` (TOML).
//!
//! **One entry per artifact.** uv picks, at install time, the one wheel (or
//! the sdist) that fits the platform, and each artifact has its own URL and
//! hash: an entry per `sdist` and per `wheels` item lets `verify` check
//! every URL that could be fetched and every hash, and point at the exact
//! line. A package without artifacts (git, directory, editable, virtual
//! sources) is one entry. Group by name and version for one row per package.
//!
//! - `source = { registry = URL }` → Registry, `source` = the index URL,
//!   `resolved` = the artifact's `url` (or its `path` for a local flat index,
//!   then Path);
//! - `{ git = "URL?rev=…#commit" }` → Git, `resolved` = that string;
//! - `{ url = URL }` → Url, `resolved` = the artifact's `url`, else that URL;
//! - `{ path = … }` / `{ directory = … }` → Path; `{ editable = … }` /
//!   `{ virtual = … }` → Workspace (the project and its members).
//! - `hash = "sha256:…"` → a `sha256` digest (hex).
//!
//! Note for URL checks: an index and the host serving its files can differ
//! (PyPI's index is `https://pypi.org/simple`, its files are on
//! `https://files.pythonhosted.org/`); `resolved` is where the file comes
//! from, `source` the index that listed it.

use serde::Deserialize;
use toml::Spanned;

use super::{entry, line_of, parse_prefixed, toml_fail, Cx, Digest, EntryKind, Fail};
use crate::tools::Ecosystem;

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<Spanned<Package>>,
}

#[derive(Deserialize)]
struct Package {
    name: Spanned<String>,
    version: Option<String>,
    source: Option<Source>,
    sdist: Option<Spanned<Artifact>>,
    #[serde(default)]
    wheels: Vec<Spanned<Artifact>>,
}

#[derive(Deserialize)]
struct Source {
    registry: Option<String>,
    git: Option<String>,
    url: Option<String>,
    path: Option<String>,
    directory: Option<String>,
    editable: Option<String>,
    #[serde(rename = "virtual")]
    virtual_: Option<String>,
}

#[derive(Deserialize)]
struct Artifact {
    url: Option<String>,
    path: Option<String>,
    hash: Option<String>,
}

pub(super) fn parse(cx: &mut Cx, text: &str) -> Result<(), Fail> {
    let lock: Lock = toml::from_str(text).map_err(|e| toml_fail(text, e))?;
    for pkg in &lock.package {
        let pkg_line = line_of(text, pkg.span().start);
        let p = pkg.get_ref();
        let name = p.name.get_ref().as_str();
        let version = p.version.as_deref().unwrap_or("");
        let (kind, source_resolved, source) = match &p.source {
            Some(s) => {
                if let Some(r) = &s.registry {
                    (EntryKind::Registry, None, Some(r.as_str()))
                } else if let Some(g) = &s.git {
                    (EntryKind::Git, Some(g.as_str()), None)
                } else if let Some(u) = &s.url {
                    (EntryKind::Url, Some(u.as_str()), None)
                } else if let Some(p) = s.path.as_ref().or(s.directory.as_ref()) {
                    (EntryKind::Path, Some(p.as_str()), None)
                } else if let Some(p) = s.editable.as_ref().or(s.virtual_.as_ref()) {
                    (EntryKind::Workspace, Some(p.as_str()), None)
                } else {
                    cx.warn(pkg_line, format_args!("{name}: unknown source kind"));
                    (EntryKind::Url, None, None)
                }
            }
            None => {
                cx.warn(pkg_line, format_args!("{name}: no source"));
                (EntryKind::Registry, None, None)
            }
        };
        let artifacts = p.sdist.iter().chain(p.wheels.iter());
        let mut any = false;
        for a in artifacts {
            any = true;
            let line = line_of(text, a.span().start);
            let art = a.get_ref();
            let (kind, resolved) = match (&art.url, &art.path) {
                (Some(u), _) => (kind, Some(u.as_str())),
                (None, Some(path)) if kind == EntryKind::Registry => {
                    (EntryKind::Path, Some(path.as_str()))
                }
                (None, Some(path)) => (kind, Some(path.as_str())),
                (None, None) => (kind, source_resolved),
            };
            let integrity = hashes(cx, line, art.hash.as_deref());
            let e = entry(
                Ecosystem::Pypi,
                name,
                version,
                resolved,
                source,
                integrity,
                kind,
                line,
            );
            cx.push(e);
        }
        if !any {
            let e = entry(
                Ecosystem::Pypi,
                name,
                version,
                source_resolved,
                source,
                Vec::new(),
                kind,
                pkg_line,
            );
            cx.push(e);
        }
    }
    Ok(())
}

fn hashes(cx: &mut Cx, line: usize, hash: Option<&str>) -> Vec<Digest> {
    match hash {
        None => Vec::new(),
        Some(h) => match parse_prefixed(h, ':') {
            Some(d) => vec![d],
            None => {
                cx.warn(line, format_args!("unusable hash {h:?}"));
                Vec::new()
            }
        },
    }
}
