//! pipenv's `Pipfile.lock` (JSON).
//!
//! Entries come from `default` then `develop` (a package in both is listed
//! twice). `version` is written `==1.0`; the `==` is removed. `hashes`
//! (`sha256:…`) are the digests.
//!
//! - `index = NAME` → Registry, `source` = the URL of that name in
//!   `_meta.sources`; without `index`, pipenv uses the first source, whose
//!   URL becomes `source`. An `index` naming no source is a warning.
//! - `git` (+ `ref`) → Git, `resolved` = `URL#ref`;
//! - `path` → Path, or Workspace for an editable `"."`;
//! - `file` → Url for http(s), Path otherwise; `resolved` = the value.

use std::collections::HashMap;

use serde::Deserialize;

use super::jsonutil::{json_fail, key_offset, Ordered, Str};
use super::{entry, is_http, parse_prefixed, Cx, EntryKind, Fail, LineCounter};
use crate::tools::Ecosystem;

#[derive(Deserialize)]
struct Lock<'a> {
    #[serde(rename = "_meta", borrow)]
    meta: Option<Meta<'a>>,
    #[serde(borrow)]
    default: Option<Ordered<'a, Dep<'a>>>,
    #[serde(borrow)]
    develop: Option<Ordered<'a, Dep<'a>>>,
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(borrow)]
    sources: Option<Vec<SourceDef<'a>>>,
}

#[derive(Deserialize)]
struct SourceDef<'a> {
    #[serde(borrow)]
    name: Option<Str<'a>>,
    #[serde(borrow)]
    url: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct Dep<'a> {
    #[serde(borrow)]
    version: Option<Str<'a>>,
    #[serde(borrow)]
    hashes: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    index: Option<Str<'a>>,
    #[serde(borrow)]
    git: Option<Str<'a>>,
    #[serde(rename = "ref", borrow)]
    reference: Option<Str<'a>>,
    #[serde(borrow)]
    path: Option<Str<'a>>,
    #[serde(borrow)]
    file: Option<Str<'a>>,
    editable: Option<bool>,
}

pub(super) fn parse(cx: &mut Cx, text: &str) -> Result<(), Fail> {
    let lock: Lock<'_> = serde_json::from_str(text).map_err(json_fail)?;
    let mut lines = LineCounter::new(text);
    let list: Vec<(&str, &str)> = lock
        .meta
        .as_ref()
        .and_then(|m| m.sources.as_ref())
        .map(|s| {
            s.iter()
                .map(|d| {
                    (
                        d.name.as_ref().map_or("", Str::as_str),
                        d.url.as_ref().map_or("", Str::as_str),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    // By name (the first of a name wins, as pipenv looks them up in order).
    let mut sources: HashMap<&str, &str> = HashMap::with_capacity(list.len());
    for (n, u) in &list {
        sources.entry(n).or_insert(u);
    }
    for group in [&lock.default, &lock.develop].into_iter().flatten() {
        for (key, d) in &group.0 {
            let line = key_offset(text, key, &[d.version.as_ref()]).map_or(0, |o| lines.line_at(o));
            let name = key.as_str();
            let version = d.version.as_ref().map_or("", |v| {
                let v = v.as_str();
                v.strip_prefix("===")
                    .or_else(|| v.strip_prefix("=="))
                    .unwrap_or(v)
            });
            let mut integrity = Vec::new();
            for h in d.hashes.iter().flatten() {
                match parse_prefixed(h.as_str(), ':') {
                    Some(dg) => integrity.push(dg),
                    None => cx.warn(line, format_args!("{name}: unusable hash {:?}", h.as_str())),
                }
            }
            let mut resolved: Option<String> = None;
            let mut source: Option<&str> = None;
            let kind = if let Some(g) = &d.git {
                resolved = Some(match &d.reference {
                    Some(r) => format!("{}#{}", g.as_str(), r.as_str()),
                    None => g.as_str().to_string(),
                });
                EntryKind::Git
            } else if let Some(p) = &d.path {
                resolved = Some(p.as_str().to_string());
                if d.editable == Some(true) && matches!(p.as_str(), "." | "./") {
                    EntryKind::Workspace
                } else {
                    EntryKind::Path
                }
            } else if let Some(f) = &d.file {
                resolved = Some(f.as_str().to_string());
                if is_http(f.as_str()) {
                    EntryKind::Url
                } else {
                    EntryKind::Path
                }
            } else {
                match &d.index {
                    Some(ix) => match sources.get(ix.as_str()) {
                        Some(url) => source = Some(*url).filter(|u| !u.is_empty()),
                        None => cx.warn(
                            line,
                            format_args!("{name}: index {:?} is not in _meta.sources", ix.as_str()),
                        ),
                    },
                    None => source = list.first().map(|(_, u)| *u).filter(|u| !u.is_empty()),
                }
                EntryKind::Registry
            };
            let e = entry(
                Ecosystem::Pypi,
                name,
                version,
                resolved.as_deref(),
                source,
                integrity,
                kind,
                line,
            );
            cx.push(e);
        }
    }
    Ok(())
}
