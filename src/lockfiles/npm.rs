//! npm `package-lock.json` / `npm-shrinkwrap.json`.
//!
//! - lockfileVersion 2 and 3: the `packages` map. A key's package name is
//!   what follows its last `node_modules/` (`node_modules/a/node_modules/@s/b`
//!   → `@s/b`), unless the entry has its own `name` (npm aliases: the real
//!   package). `""` is the root project (Workspace); other keys without
//!   `node_modules/` are workspace members or `file:` folders (Workspace,
//!   or Path when outside the project: `../x`, absolute) — unless they name
//!   a remote `resolved`, which then decides the kind as below; `link: true`
//!   entries are Path with the link target in `resolved`.
//! - lockfileVersion 1: the nested `dependencies` tree, depth first. Git,
//!   path and alias dependencies keep their spec in `version` there
//!   (`github:u/r#sha`, `file:../x`, `npm:real@1.0.0`): aliases are read as
//!   the real package; for git/path/URL specs without `resolved`, the spec
//!   becomes `resolved`.
//! - Version 2 files carry both; only `packages` is read.
//! - Entries bundled inside another package's tarball (`inBundle` /
//!   `bundled`) without a `resolved` of their own are not listed: nothing is
//!   fetched for them, and their content is covered by the parent's
//!   integrity. With a `resolved` they are listed like any other entry.
//! - kind: git specs → Git; `file:`/paths → Path; http(s) URLs of the
//!   registry shape `…/-/…` → Registry; other http(s) URLs → Url; no
//!   `resolved` → Registry (npm uses its configured registry).
//! - Unusable `integrity` tokens are warnings (and are not digests).
//!
//! Speed (this runs in the shim on every `npm ci`): the usual v2/v3 file is
//! read by a strict one-pass scanner ([`super::npm_fast`]) that borrows
//! strings, counts lines as it goes and calls the same [`v2_entry`]. It
//! gives up on anything unusual (escapes in the strings it reads, type
//! surprises, duplicate fields, `dependencies` before `packages`, invalid
//! JSON) and the serde_json reader here — the reference — reads the file
//! instead, so both accept and produce exactly the same (a property test
//! checks it). The serde reader also borrows strings and skips unknown
//! fields without building values; its lines come from where each
//! borrowed key sits in the text.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::jsonutil::{json_fail, key_offset, Ordered, Str};
use super::{entry, is_git_spec, is_http, npm_kind, parse_sri, Cx, EntryKind, Fail, LineCounter};
use crate::tools::Ecosystem;

#[derive(serde::Deserialize, Default)]
pub(super) struct PkgV2<'a> {
    #[serde(borrow)]
    pub(super) name: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) version: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) resolved: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) integrity: Option<Str<'a>>,
    pub(super) link: Option<bool>,
    #[serde(rename = "inBundle")]
    pub(super) in_bundle: Option<bool>,
}

#[derive(serde::Deserialize)]
struct DepV1<'a> {
    #[serde(borrow)]
    version: Option<Str<'a>>,
    #[serde(borrow)]
    resolved: Option<Str<'a>>,
    #[serde(borrow)]
    integrity: Option<Str<'a>>,
    bundled: Option<bool>,
    #[serde(borrow)]
    dependencies: Option<Ordered<'a, DepV1<'a>>>,
}

/// Reads the top-level object, handing each `packages` entry to
/// [`v2_entry`] as soon as it is parsed (no intermediate list).
struct TopSeed<'c, 't> {
    cx: &'c mut Cx,
    text: &'t str,
    lines: &'c mut LineCounter<'t>,
}

/// What the top level says besides the streamed `packages` entries.
struct Top<'t> {
    version: Option<u64>,
    saw_packages: bool,
    dependencies: Option<Ordered<'t, DepV1<'t>>>,
}

impl<'de, 'c> DeserializeSeed<'de> for TopSeed<'c, 'de> {
    type Value = Top<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Top<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'c> Visitor<'de> for TopSeed<'c, 'de> {
    type Value = Top<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a package-lock.json object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
        let mut top = Top {
            version: None,
            saw_packages: false,
            dependencies: None,
        };
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match key.as_str() {
                "lockfileVersion" => {
                    top.version = match map.next_value::<serde_json::Value>()? {
                        serde_json::Value::Number(n) => n.as_u64(),
                        _ => None,
                    };
                }
                "packages" => {
                    top.saw_packages = true;
                    map.next_value_seed(PackagesSeed {
                        cx: &mut *self.cx,
                        text: self.text,
                        lines: &mut *self.lines,
                    })?;
                }
                // Version 2 repeats everything in the old shape: skip it
                // without building it when `packages` came first (as npm
                // writes it).
                "dependencies" if top.saw_packages => {
                    map.next_value::<IgnoredAny>()?;
                }
                "dependencies" => top.dependencies = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(top)
    }
}

struct PackagesSeed<'c, 't> {
    cx: &'c mut Cx,
    text: &'t str,
    lines: &'c mut LineCounter<'t>,
}

impl<'de, 'c> DeserializeSeed<'de> for PackagesSeed<'c, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'c> Visitor<'de> for PackagesSeed<'c, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of packages")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Str<'de>>()? {
            let p: PkgV2<'de> = map.next_value()?;
            let line = key_offset(self.text, &key, &[p.version.as_ref(), p.resolved.as_ref()])
                .map_or(0, |off| self.lines.line_at(off));
            v2_entry(self.cx, line, key.as_str(), &p);
        }
        Ok(())
    }
}

pub(super) fn parse(cx: &mut Cx, text: &str) -> Result<(), Fail> {
    // The fast path reads the usual file in one pass; on anything it is not
    // sure about it gives up, and the serde reader below (the reference)
    // reads the file instead.
    let mark = cx.mark();
    if super::npm_fast::parse(cx, text).is_some() {
        return Ok(());
    }
    cx.reset(mark);
    parse_serde(cx, text)
}

/// The reference reader (serde_json), also used for lockfileVersion 1 and
/// for whatever the fast path leaves.
pub(super) fn parse_serde(cx: &mut Cx, text: &str) -> Result<(), Fail> {
    let mut lines = LineCounter::new(text);
    let mut de = serde_json::Deserializer::from_str(text);
    let top = TopSeed {
        cx: &mut *cx,
        text,
        lines: &mut lines,
    }
    .deserialize(&mut de)
    .and_then(|top| de.end().map(|()| top))
    .map_err(json_fail)?;
    version_warning(cx, top.version);
    if top.saw_packages {
        // Read as they came.
    } else if let Some(deps) = top.dependencies {
        v1_entries(cx, text, &mut lines, &deps);
    } else {
        cx.warn(0, "neither `packages` nor `dependencies`: no entries");
    }
    Ok(())
}

pub(super) fn version_warning(cx: &mut Cx, version: Option<u64>) {
    match version {
        Some(1..=3) | None => {}
        Some(v) => cx.warn(
            0,
            format_args!("unknown lockfileVersion {v}; read like version 3"),
        ),
    }
}

/// One `packages` entry, keyed `k`, whose key is on `line`.
pub(super) fn v2_entry(cx: &mut Cx, line: usize, k: &str, p: &PkgV2<'_>) {
    let resolved = p.resolved.as_ref().map(Str::as_str);
    if p.in_bundle == Some(true) && resolved.is_none() {
        return;
    }
    let own_name = p.name.as_ref().map(Str::as_str).filter(|n| !n.is_empty());
    let (name, mut kind) = if k.is_empty() {
        (own_name.unwrap_or(""), EntryKind::Workspace)
    } else if let Some(i) = last_node_modules(k) {
        let from_key = &k[i + NODE_MODULES.len()..];
        (own_name.unwrap_or(from_key), EntryKind::Registry)
    } else {
        let outside = k.starts_with("..") || k.starts_with('/') || k.contains(':');
        let last = k.rsplit('/').next().unwrap_or(k);
        (
            own_name.unwrap_or(last),
            if outside {
                EntryKind::Path
            } else {
                EntryKind::Workspace
            },
        )
    };
    if p.link == Some(true) {
        kind = EntryKind::Path;
    } else if let Some(r) = resolved {
        // A root/workspace key that names a remote `resolved` anyway is
        // classified by that URL, so it is not exempt from URL checks.
        if kind == EntryKind::Registry || is_http(r) || is_git_spec(r) {
            kind = npm_kind(r);
        }
    }
    if name.is_empty() && kind != EntryKind::Workspace {
        cx.warn(line, format_args!("entry {k:?} has no package name"));
    }
    let integrity = digests(cx, line, p.integrity.as_ref());
    let version = p.version.as_ref().map_or("", Str::as_str);
    let e = entry(
        Ecosystem::Npm,
        name,
        version,
        resolved,
        None,
        integrity,
        kind,
        line,
    );
    cx.push(e);
}

const NODE_MODULES: &[u8] = b"node_modules/";

/// Where the last `node_modules/` in `key` starts.
fn last_node_modules(key: &str) -> Option<usize> {
    key.as_bytes()
        .windows(NODE_MODULES.len())
        .rposition(|w| w == NODE_MODULES)
}

fn digests(cx: &mut Cx, line: usize, integrity: Option<&Str<'_>>) -> Vec<super::Digest> {
    let mut out = Vec::new();
    if let Some(i) = integrity {
        let mut bad = None;
        parse_sri(i.as_str(), &mut out, &mut bad);
        if let Some(bad) = bad {
            cx.warn(line, format_args!("unusable integrity value {bad:?}"));
        }
    }
    out
}

fn v1_entries(cx: &mut Cx, text: &str, lines: &mut LineCounter<'_>, root: &Ordered<'_, DepV1<'_>>) {
    // Depth first, in document order, without recursion.
    let mut stack: Vec<std::slice::Iter<'_, (Str<'_>, DepV1<'_>)>> = vec![root.0.iter()];
    while let Some(top) = stack.last_mut() {
        let Some((key, d)) = top.next() else {
            stack.pop();
            continue;
        };
        v1_entry(cx, text, lines, key, d);
        if let Some(sub) = &d.dependencies {
            stack.push(sub.0.iter());
        }
    }
}

fn v1_entry(cx: &mut Cx, text: &str, lines: &mut LineCounter<'_>, key: &Str<'_>, d: &DepV1<'_>) {
    let mut resolved = d.resolved.as_ref().map(Str::as_str);
    if d.bundled == Some(true) && resolved.is_none() {
        return;
    }
    let line = key_offset(text, key, &[d.version.as_ref(), d.resolved.as_ref()])
        .map_or(0, |off| lines.line_at(off));
    let mut name = key.as_str();
    let mut version = d.version.as_ref().map_or("", Str::as_str);
    if let Some(alias) = version.strip_prefix("npm:") {
        if let Some((real, v)) = super::split_name_at(alias) {
            name = real;
            version = v;
        }
    }
    let kind = match resolved {
        Some(r) => npm_kind(r),
        None if !version.is_empty() && !version.as_bytes()[0].is_ascii_digit() => {
            // A git/path/URL spec in `version`.
            resolved = Some(version);
            npm_kind(version)
        }
        None => EntryKind::Registry,
    };
    let integrity = digests(cx, line, d.integrity.as_ref());
    let e = entry(
        Ecosystem::Npm,
        name,
        version,
        resolved,
        None,
        integrity,
        kind,
        line,
    );
    cx.push(e);
}
