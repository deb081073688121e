//! `yarn.lock`, yarn v1 and yarn berry (v2+), read line by line.
//!
//! Both are blocks: an unindented header ending in `:` listing the specs
//! that resolved to the block (`"a@^1", a@^2:` in v1, `"a@npm:^1, a@npm:^2":`
//! in berry), then fields indented by two spaces — v1 writes `key value`,
//! berry `key: value` — and deeper lines (dependency lists) that are not
//! read. Comments and blank lines are skipped; berry's `__metadata` block is
//! skipped.
//!
//! v1: `version`, `resolved "URL#sha1"` (a 40-hex fragment on an http(s)
//! URL becomes a `sha1` digest and is removed from `resolved`; git URLs keep
//! their `#commit`), `integrity` (SRI). Name: the header's first spec, or
//! the real package of an alias (`alias@npm:real@^1`). Kind from `resolved`
//! as for npm; without `resolved`, a `file:`/`link:` spec is Path, anything
//! else Registry.
//!
//! berry: `version`, `resolution: "name@PROTOCOL:…"`, `checksum`. Kind from
//! the resolution protocol: `npm:` Registry (berry records no URL, except
//! `::__archiveUrl=` when the tarball is not where the registry would put
//! it — that URL becomes `resolved`), `workspace:` Workspace, `file:`,
//! `link:`, `portal:`, `exec:` Path, git URLs and `github:` Git, other
//! http(s) URLs Url; `patch:` takes the kind of the package it patches.
//! `checksum` is recorded as `yarn-zip-sha512` (see the module docs).

use std::borrow::Cow;

use super::{
    entry, indent_of, is_git_spec, is_hex, is_http, npm_kind, parse_sri, percent_decode,
    split_name_at, split_yaml_key, unquote, Cx, Digest, EntryKind,
};
use crate::tools::Ecosystem;

#[derive(Default)]
struct Block<'t> {
    line: usize,
    header: &'t str,
    version: Option<Cow<'t, str>>,
    resolved: Option<Cow<'t, str>>,
    integrity: Option<Cow<'t, str>>,
    resolution: Option<Cow<'t, str>>,
    checksum: Option<Cow<'t, str>>,
}

pub(super) fn parse(cx: &mut Cx, text: &str) {
    let mut block: Option<Block<'_>> = None;
    let mut any_header = false;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = indent_of(raw);
        if indent == 0 {
            if let Some(b) = block.take() {
                finish(cx, b);
            }
            let Some(header) = trimmed.strip_suffix(':') else {
                cx.warn(line_no, "expected a block header ending in `:`");
                continue;
            };
            any_header = true;
            if header == "__metadata" {
                continue;
            }
            block = Some(Block {
                line: line_no,
                header,
                ..Block::default()
            });
            continue;
        }
        let Some(b) = block.as_mut() else {
            // Fields of `__metadata`, or of a header that was not understood.
            continue;
        };
        if indent != 2 {
            continue;
        }
        let Some((key, value)) = field(trimmed) else {
            cx.warn(line_no, "unreadable field");
            continue;
        };
        let value = unquote(value);
        match key {
            "version" => b.version = Some(value),
            "resolved" => b.resolved = Some(value),
            "integrity" => b.integrity = Some(value),
            "resolution" => b.resolution = Some(value),
            "checksum" => b.checksum = Some(value),
            _ => {}
        }
    }
    if let Some(b) = block.take() {
        finish(cx, b);
    }
    if !any_header && !text.trim().is_empty() {
        cx.warn(0, "no yarn.lock blocks found");
    }
}

/// A field line: `key "value"` / `key value` (v1) or `key: value` (berry).
fn field(line: &str) -> Option<(&str, &str)> {
    if line.starts_with('"') {
        // A quoted key (berry dependency maps are deeper; rare here).
        let (k, v) = split_yaml_key(line)?;
        return match k {
            Cow::Borrowed(k) => Some((k, v)),
            Cow::Owned(_) => None,
        };
    }
    let end = line.find([' ', ':']).unwrap_or(line.len());
    let key = &line[..end];
    let rest = &line[end..];
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    Some((key, rest.trim()))
}

/// The specs of a header: `"a@^1", a@^2` or `"a@npm:^1, a@npm:^2"`.
fn specs(header: &str) -> impl Iterator<Item = &str> {
    header
        .split(',')
        .map(|s| s.trim().trim_matches('"').trim_matches('\'').trim())
        .filter(|s| !s.is_empty())
}

fn finish(cx: &mut Cx, b: Block<'_>) {
    let first = specs(b.header).next().unwrap_or(b.header);
    if let Some(res) = b.resolution.as_deref() {
        berry(cx, &b, first, res);
    } else {
        v1(cx, &b, first);
    }
}

fn v1(cx: &mut Cx, b: &Block<'_>, spec: &str) {
    let (mut name, range) = split_name_at(spec).unwrap_or((spec, ""));
    if let Some(real) = range.strip_prefix("npm:").and_then(split_name_at) {
        name = real.0;
    }
    let mut integrity = Vec::new();
    let mut resolved = b.resolved.as_deref();
    if let Some(r) = resolved {
        if is_http(r) {
            if let Some((url, frag)) = r.rsplit_once('#') {
                if is_hex(frag, 40) {
                    integrity.push(Digest {
                        algorithm: "sha1".into(),
                        value: frag.to_string(),
                    });
                    resolved = Some(url);
                }
            }
        }
    }
    if let Some(i) = b.integrity.as_deref() {
        let mut bad = None;
        let mut sri = Vec::new();
        parse_sri(i, &mut sri, &mut bad);
        if let Some(bad) = bad {
            cx.warn(b.line, format_args!("unusable integrity value {bad:?}"));
        }
        // SRI first: it is the stronger hash.
        sri.append(&mut integrity);
        integrity = sri;
    }
    let kind = match resolved {
        Some(r) => npm_kind(r),
        None if specs(b.header).any(|s| {
            split_name_at(s).is_some_and(|(_, r)| r.starts_with("file:") || r.starts_with("link:"))
        }) =>
        {
            EntryKind::Path
        }
        None => EntryKind::Registry,
    };
    let version = b.version.as_deref().unwrap_or_else(|| {
        cx.warn(b.line, format_args!("{name}: no version"));
        ""
    });
    let e = entry(
        Ecosystem::Npm,
        name,
        version,
        resolved,
        None,
        integrity,
        kind,
        b.line,
    );
    cx.push(e);
}

/// What a berry locator (`name@protocol:…`) says about where it comes from.
struct Locator<'s> {
    name: &'s str,
    kind: EntryKind,
    resolved: Option<String>,
}

fn locator(s: &str, depth: u8) -> Option<Locator<'_>> {
    let (name, reference) = split_name_at(s)?;
    // `::key=value&…` bindings follow the reference.
    let (reference, bindings) = match reference.find("::") {
        Some(i) => (&reference[..i], &reference[i + 2..]),
        None => (reference, ""),
    };
    let loc = |kind, resolved: Option<String>| {
        Some(Locator {
            name,
            kind,
            resolved,
        })
    };
    if reference.starts_with("npm:") {
        let archive = bindings
            .split('&')
            .find_map(|kv| kv.strip_prefix("__archiveUrl="))
            .map(|v| percent_decode(v).into_owned());
        return loc(EntryKind::Registry, archive);
    }
    if reference.starts_with("workspace:") {
        return loc(EntryKind::Workspace, None);
    }
    if let Some(inner) = reference.strip_prefix("patch:") {
        // `patch:real@npm%3A1.0.0#./patches/x.patch` — the patched package.
        let inner = inner.split('#').next().unwrap_or(inner);
        let decoded = percent_decode(inner).into_owned();
        if depth < 4 {
            if let Some(l) = locator(&decoded, depth + 1) {
                return loc(l.kind, l.resolved);
            }
        }
        return loc(EntryKind::Url, Some(decoded));
    }
    for p in ["file:", "link:", "portal:", "exec:"] {
        if let Some(rest) = reference.strip_prefix(p) {
            let path = rest.split('#').next().unwrap_or(rest);
            return loc(EntryKind::Path, Some(format!("{p}{path}")));
        }
    }
    if is_git_spec(reference) || reference.contains("#commit=") || reference.contains(".git#") {
        return loc(EntryKind::Git, Some(reference.to_string()));
    }
    if is_http(reference) {
        return loc(npm_kind(reference), Some(reference.to_string()));
    }
    None
}

fn berry(cx: &mut Cx, b: &Block<'_>, first_spec: &str, resolution: &str) {
    let (name, kind, resolved) = match locator(resolution, 0) {
        Some(l) => (l.name, l.kind, l.resolved),
        None => {
            cx.warn(
                b.line,
                format_args!("unrecognized resolution {resolution:?}"),
            );
            let name = split_name_at(resolution).or_else(|| split_name_at(first_spec));
            (
                name.map_or(first_spec, |(n, _)| n),
                EntryKind::Url,
                Some(resolution.to_string()),
            )
        }
    };
    let mut integrity = Vec::new();
    if let Some(c) = b.checksum.as_deref().filter(|c| !c.is_empty()) {
        integrity.push(Digest {
            algorithm: "yarn-zip-sha512".into(),
            value: c.to_string(),
        });
    }
    if let Some(i) = b.integrity.as_deref() {
        let mut bad = None;
        parse_sri(i, &mut integrity, &mut bad);
    }
    let version = b.version.as_deref().unwrap_or("");
    let e = entry(
        Ecosystem::Npm,
        name,
        version,
        resolved.as_deref(),
        None,
        integrity,
        kind,
        b.line,
    );
    cx.push(e);
}
