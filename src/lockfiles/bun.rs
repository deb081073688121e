//! bun's text lockfile, `bun.lock` (JSONC: comments and trailing commas).
//!
//! Comments and trailing commas are blanked out (replaced by spaces, so byte
//! offsets and lines stay as they are) before `serde_json` reads the file.
//! Only the `packages` map is read; each value is an array whose first
//! element is `name@RESOLUTION`:
//! - npm: `["name@1.0.0", REGISTRY, {info}, "sha512-…"]` — REGISTRY is `""`
//!   for the default registry (no `resolved`), otherwise the tarball URL bun
//!   fetched, which becomes `resolved`. Registry.
//! - `name@git+URL` / `name@github:owner/repo#ref`: `[…, {info}, "PIN"]`
//!   (and maybe an integrity) → Git; `resolved` = the spec after `name@`,
//!   `version` = PIN (the commit, or bun's `owner-repo-shortsha` tag for
//!   github), so a new pin reads as a new version.
//! - `name@https://…tgz` → Url (Registry for a registry-shaped `…/-/…`
//!   URL); `name@workspace:path` / `name@root:` →
//!   Workspace; `name@file:…`, `name@link:…`, local tarball paths → Path.
//! - Any element after the first that is an SRI string is a digest.
//!
//! The package name is taken from the first element (the real package, also
//! for aliases), not from the map key (the install path). Non-npm entries
//! other than git have an empty `version` (bun records none).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::jsonutil::{json_fail, key_offset, Item, Items, Ordered, Str};
use super::{
    entry, is_git_spec, is_http, is_path_spec, npm_kind, parse_sri, split_name_at, Cx, EntryKind,
    Fail, LineCounter,
};
use crate::tools::Ecosystem;

struct Top<'a> {
    packages: Option<Ordered<'a, Items<'a>>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Top<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Top<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a bun.lock object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'a>, A::Error> {
                let mut top = Top { packages: None };
                while let Some(key) = map.next_key::<Str<'a>>()? {
                    if key.as_str() == "packages" {
                        top.packages = Some(map.next_value()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(top)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// Blanks out `//` and `/* */` comments and trailing commas, keeping every
/// other byte (and every newline) where it was.
pub(crate) fn strip_jsonc(text: &str) -> String {
    let mut b = text.as_bytes().to_vec();
    let n = b.len();
    // Pass 1: comments.
    let mut i = 0;
    let mut in_str = false;
    while i < n {
        let c = b[i];
        if in_str {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == b'"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'/' if i + 1 < n && b[i + 1] == b'/' => {
                while i < n && b[i] != b'\n' {
                    b[i] = b' ';
                    i += 1;
                }
                continue;
            }
            b'/' if i + 1 < n && b[i + 1] == b'*' => {
                b[i] = b' ';
                b[i + 1] = b' ';
                let mut j = i + 2;
                let mut prev = 0u8;
                while j < n {
                    let c = b[j];
                    if c != b'\n' {
                        b[j] = b' ';
                    }
                    j += 1;
                    if prev == b'*' && c == b'/' {
                        break;
                    }
                    prev = c;
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    // Pass 2: a comma followed (after whitespace) by `}` or `]`.
    let mut i = 0;
    let mut in_str = false;
    while i < n {
        let c = b[i];
        if in_str {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == b'"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        if c == b'"' {
            in_str = true;
        } else if c == b',' {
            let mut j = i + 1;
            while j < n && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if j < n && (b[j] == b'}' || b[j] == b']') {
                b[i] = b' ';
            }
            i = j;
            continue;
        }
        i += 1;
    }
    // Only ASCII bytes were replaced, and only whole comments (whose
    // multi-byte characters were all blanked), so this is still UTF-8.
    String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

pub(super) fn parse(cx: &mut Cx, text: &str) -> Result<(), Fail> {
    let clean = strip_jsonc(text);
    let top: Top<'_> = serde_json::from_str(&clean).map_err(json_fail)?;
    let mut lines = LineCounter::new(&clean);
    let Some(packages) = top.packages else {
        cx.warn(0, "no `packages`: no entries");
        return Ok(());
    };
    for (key, items) in &packages.0 {
        let line = key_offset(&clean, key, &[]).map_or(0, |o| lines.line_at(o));
        let items: &[Item<'_>] = items.0.as_deref().unwrap_or(&[]);
        let Some(Item::Str(ident)) = items.first() else {
            cx.warn(
                line,
                format_args!("{}: not a [\"name@version\", …] array", key.as_str()),
            );
            continue;
        };
        let ident = ident.as_str();
        let Some((name, res)) = split_name_at(ident) else {
            cx.warn(line, format_args!("{ident:?}: no name@version"));
            continue;
        };
        let strings: Vec<&str> = items[1..]
            .iter()
            .filter_map(|i| match i {
                Item::Str(s) => Some(s.as_str()),
                Item::Other => None,
            })
            .collect();
        let mut integrity = Vec::new();
        for s in &strings {
            let mut bad = None;
            let mut d = Vec::new();
            parse_sri(s, &mut d, &mut bad);
            if bad.is_none() && !d.is_empty() {
                integrity.append(&mut d);
            }
        }
        let (kind, version, resolved): (EntryKind, &str, Option<String>) =
            if res.starts_with("workspace:") || res.starts_with("root:") {
                (EntryKind::Workspace, "", Some(res.to_string()))
            } else if is_git_spec(res) {
                // The element after the info object pins the commit (bun writes
                // the full commit for git, an `owner-repo-shortsha` tag for
                // github): it is the version that changes when the pin does.
                let pinned = match (items.get(1), items.get(2)) {
                    (Some(Item::Other), Some(Item::Str(c))) => c.as_str(),
                    _ => "",
                };
                (EntryKind::Git, pinned, Some(res.to_string()))
            } else if is_http(res) {
                (npm_kind(res), "", Some(res.to_string()))
            } else if res.contains("://") {
                (EntryKind::Url, "", Some(res.to_string()))
            } else if is_path_spec(res)
                || (!res.contains("://") && (res.ends_with(".tgz") || res.ends_with(".tar.gz")))
            {
                (EntryKind::Path, "", Some(res.to_string()))
            } else {
                // npm: the second element is "" or the tarball URL.
                let registry = match items.get(1) {
                    Some(Item::Str(r)) if !r.as_str().is_empty() => Some(r.as_str().to_string()),
                    _ => None,
                };
                (EntryKind::Registry, res, registry)
            };
        let e = entry(
            Ecosystem::Npm,
            name,
            version,
            resolved.as_deref(),
            None,
            integrity,
            kind,
            line,
        );
        cx.push(e);
    }
    Ok(())
}
