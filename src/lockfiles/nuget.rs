//! NuGet `packages.lock.json`.
//!
//! `dependencies` maps each target framework (`net8.0`, `net8.0/win-x64`)
//! to packages: `{type, requested, resolved, contentHash, dependencies}`.
//! NuGet's `resolved` is the resolved *version*, not a URL: it becomes
//! [`Entry::version`](super::Entry::version); `resolved` stays `None`, and
//! so does `source` (feeds come from nuget.config, not the lockfile).
//!
//! - `type: Project` → Workspace; `Direct`, `Transitive`,
//!   `CentralTransitive` (and anything else) → Registry.
//! - `contentHash` is the base64 SHA-512 of the `.nupkg` → `sha512`.
//! - A package locked identically for several frameworks is listed once (at
//!   its first occurrence); different versions or hashes are each listed.

use std::collections::HashSet;

use serde::Deserialize;

use super::jsonutil::{json_fail, key_offset, Ordered, Str};
use super::{entry, Cx, Digest, EntryKind, Fail, LineCounter};
use crate::tools::Ecosystem;

#[derive(Deserialize)]
struct Lock<'a> {
    #[serde(borrow)]
    dependencies: Option<Ordered<'a, Ordered<'a, Dep<'a>>>>,
}

#[derive(Deserialize)]
struct Dep<'a> {
    #[serde(rename = "type", borrow)]
    type_: Option<Str<'a>>,
    #[serde(borrow)]
    resolved: Option<Str<'a>>,
    #[serde(rename = "contentHash", borrow)]
    content_hash: Option<Str<'a>>,
}

pub(super) fn parse(cx: &mut Cx, text: &str) -> Result<(), Fail> {
    let lock: Lock<'_> = serde_json::from_str(text).map_err(json_fail)?;
    let mut lines = LineCounter::new(text);
    let Some(tfms) = lock.dependencies else {
        cx.warn(0, "no `dependencies`: no entries");
        return Ok(());
    };
    let mut seen: HashSet<(&str, &str, &str)> = HashSet::new();
    for (_, packages) in &tfms.0 {
        for (key, d) in &packages.0 {
            let name = key.as_str();
            let version = d.resolved.as_ref().map_or("", Str::as_str);
            let hash = d.content_hash.as_ref().map_or("", Str::as_str);
            if !seen.insert((name, version, hash)) {
                continue;
            }
            let line =
                key_offset(text, key, &[d.resolved.as_ref()]).map_or(0, |o| lines.line_at(o));
            let kind = match d.type_.as_ref().map(Str::as_str) {
                Some("Project") => EntryKind::Workspace,
                _ => EntryKind::Registry,
            };
            let mut integrity = Vec::new();
            if !hash.is_empty() {
                integrity.push(Digest {
                    algorithm: "sha512".into(),
                    value: hash.to_string(),
                });
            }
            let e = entry(
                Ecosystem::Nuget,
                name,
                version,
                None,
                None,
                integrity,
                kind,
                line,
            );
            cx.push(e);
        }
    }
    Ok(())
}
