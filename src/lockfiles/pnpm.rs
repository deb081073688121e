//! `pnpm-lock.yaml`, read line by line (no YAML parser).
//!
//! The subset read is what pnpm writes (lockfileVersion 5.x, 6.x, 9.x):
//! - Top-level keys start in column 0; only the `packages:` map is read.
//!   `snapshots:` (v9: per-peer-set copies of `packages`), `importers:`,
//!   `settings:` etc. are skipped. A `---` line starts a new document (pnpm
//!   10 may put config dependencies in a document of their own).
//! - Under `packages:`, each package is a key one indentation step in
//!   (two spaces), ending in `:` — plain, `'single'` or `"double"` quoted:
//!   `/left-pad@1.3.0:` (v6), `'@s/b@2.0.0':` (v9), `/left-pad/1.3.0:` (v5).
//! - Its fields are one step further in. Read: `resolution:` as a flow map
//!   (`{integrity: sha512-…, tarball: URL}`) or as a block map on the
//!   following deeper lines; `name:` and `version:` (pnpm writes them for
//!   non-registry packages). Other fields and deeper lines are ignored.
//! - Scalars: plain, single- or double-quoted on one line. Anchors, aliases,
//!   tags, multi-line scalars and flow sequences are not part of the subset;
//!   lines that do not fit are skipped (with a warning when they are where a
//!   package key or field was expected).
//!
//! Name and version come from the key (`name@version`, peer suffixes like
//! `(react@18.2.0)` or v5's `_react@18.2.0` removed), overridden by `name:`
//! and `version:` fields. v6 lists a package once per peer set; identical
//! copies are listed once.
//!
//! kind: `type: git` / `repo` + `commit` → Git (`resolved` = `repo#commit`);
//! `type: directory` / `directory` → Path; `tarball` → Url (or Path for
//! `file:` tarballs), except a tarball next to an `integrity` on a key with a
//! plain version, which is a registry tarball pnpm recorded because the
//! registry is not the default one → Registry; only `integrity` → Registry
//! with no `resolved` (pnpm uses its configured registry).

use std::borrow::Cow;
use std::collections::HashSet;

use super::{
    entry, indent_of, parse_flow_map, parse_sri, split_name_at, split_yaml_key, unquote, Cx,
    EntryKind,
};
use crate::tools::Ecosystem;

#[derive(Default)]
struct Pkg<'t> {
    line: usize,
    key: Cow<'t, str>,
    name: Option<Cow<'t, str>>,
    version: Option<Cow<'t, str>>,
    res: Vec<(Cow<'t, str>, Cow<'t, str>)>,
}

#[derive(PartialEq)]
enum Section {
    Packages,
    Other,
}

pub(super) fn parse(cx: &mut Cx, text: &str) {
    let mut section = Section::Other;
    let mut key_indent: Option<usize> = None;
    let mut field_indent: Option<usize> = None;
    let mut in_resolution_block = false;
    let mut pkg: Option<Pkg<'_>> = None;
    let mut seen: HashSet<(String, String, Option<String>, Vec<String>)> = HashSet::new();
    let mut saw_packages = false;

    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if raw.starts_with('\t') {
            cx.warn(line_no, "tab indentation is not read");
            continue;
        }
        let indent = indent_of(raw);
        if indent == 0 {
            if let Some(p) = pkg.take() {
                finish(cx, p, &mut seen);
            }
            key_indent = None;
            section = if trimmed == "packages:" || trimmed.starts_with("packages: ") {
                saw_packages = true;
                Section::Packages
            } else {
                Section::Other
            };
            continue;
        }
        if section != Section::Packages {
            continue;
        }
        let ki = *key_indent.get_or_insert(indent);
        if indent < ki {
            cx.warn(line_no, "line indented less than the package keys");
            continue;
        }
        if indent == ki {
            if let Some(p) = pkg.take() {
                finish(cx, p, &mut seen);
            }
            field_indent = None;
            in_resolution_block = false;
            match split_yaml_key(trimmed) {
                Some((key, rest)) => {
                    let mut p = Pkg {
                        line: line_no,
                        key,
                        ..Pkg::default()
                    };
                    if rest.starts_with('{') {
                        // `key: {resolution: {...}}` is not pnpm's style, but
                        // an inline map of scalars is cheap to accept.
                        if let Some(map) = parse_flow_map(rest) {
                            for (k, v) in map {
                                set_field(&mut p, k, v);
                            }
                        }
                    }
                    pkg = Some(p);
                }
                None => cx.warn(line_no, "expected a package key"),
            }
            continue;
        }
        let Some(p) = pkg.as_mut() else { continue };
        let fi = *field_indent.get_or_insert(indent);
        if indent == fi {
            in_resolution_block = false;
            let Some((k, v)) = split_yaml_key(trimmed) else {
                cx.warn(line_no, "expected a `key: value` field");
                continue;
            };
            match k.as_ref() {
                "resolution" if v.is_empty() => in_resolution_block = true,
                "resolution" => match parse_flow_map(v) {
                    Some(map) => p.res = map,
                    None => cx.warn(line_no, "unreadable resolution"),
                },
                _ => set_field(p, k, unquote(v)),
            }
        } else if indent > fi && in_resolution_block {
            if let Some((k, v)) = split_yaml_key(trimmed) {
                p.res.push((k, unquote(v)));
            }
        }
    }
    if let Some(p) = pkg.take() {
        finish(cx, p, &mut seen);
    }
    if !saw_packages && !text.trim().is_empty() && !text.contains("lockfileVersion") {
        cx.warn(
            0,
            "no `lockfileVersion` and no `packages:`: not a pnpm lockfile?",
        );
    }
}

fn set_field<'t>(p: &mut Pkg<'t>, k: Cow<'t, str>, v: Cow<'t, str>) {
    match k.as_ref() {
        "name" => p.name = Some(v),
        "version" => p.version = Some(v),
        _ => {}
    }
}

/// Name and version from a package key: `/name@1.0.0(peer@1)` (v6),
/// `name@1.0.0(peer@1)` (v9), `/name/1.0.0_peer@1` (v5); scoped names too.
fn split_key(key: &str) -> (&str, &str) {
    let k = key.strip_prefix('/').unwrap_or(key);
    let scope_end = if k.starts_with('@') {
        k.find('/').map_or(0, |i| i + 1)
    } else {
        0
    };
    let rest = &k[scope_end..];
    let head = &rest[..rest.find(['@', '(']).unwrap_or(rest.len())];
    if let Some(slash) = head.find('/') {
        // v5: the name (after its scope) has no `/`, the version no `_`.
        let name = &k[..scope_end + slash];
        let version = &rest[slash + 1..];
        let version = version.split('_').next().unwrap_or(version);
        return (name, version);
    }
    let k = match k.find('(') {
        Some(i) if i > 0 => &k[..i],
        _ => k,
    };
    split_name_at(k).unwrap_or((k, ""))
}

fn finish(
    cx: &mut Cx,
    p: Pkg<'_>,
    seen: &mut HashSet<(String, String, Option<String>, Vec<String>)>,
) {
    let (key_name, key_version) = split_key(&p.key);
    let name = p.name.as_deref().unwrap_or(key_name);
    let version = p.version.as_deref().unwrap_or(key_version);
    let get = |k: &str| {
        p.res
            .iter()
            .find(|(kk, _)| kk == k)
            .map(|(_, v)| v.as_ref())
    };
    let integrity_s = get("integrity");
    let tarball = get("tarball");
    let ty = get("type");
    let mut integrity = Vec::new();
    if let Some(i) = integrity_s {
        let mut bad = None;
        parse_sri(i, &mut integrity, &mut bad);
        if let Some(bad) = bad {
            cx.warn(p.line, format_args!("unusable integrity value {bad:?}"));
        }
    }
    let (kind, resolved): (EntryKind, Option<String>) =
        if ty == Some("git") || get("repo").is_some() {
            let repo = get("repo").unwrap_or("");
            let resolved = match get("commit") {
                Some(c) => format!("{repo}#{c}"),
                None => repo.to_string(),
            };
            (EntryKind::Git, Some(resolved))
        } else if ty == Some("directory") || get("directory").is_some() {
            (EntryKind::Path, get("directory").map(str::to_string))
        } else if let Some(t) = tarball {
            let plain_version = key_version
                .as_bytes()
                .first()
                .is_some_and(u8::is_ascii_digit);
            let kind = if t.starts_with("file:") {
                EntryKind::Path
            } else if integrity_s.is_some() && plain_version {
                EntryKind::Registry
            } else {
                EntryKind::Url
            };
            (kind, Some(t.to_string()))
        } else {
            if p.res.is_empty() {
                cx.warn(p.line, format_args!("{}: no resolution", p.key));
            }
            (EntryKind::Registry, None)
        };
    let fingerprint = (
        name.to_string(),
        version.to_string(),
        resolved.clone(),
        integrity
            .iter()
            .map(|d| d.value.clone())
            .collect::<Vec<_>>(),
    );
    if !seen.insert(fingerprint) {
        return;
    }
    let e = entry(
        Ecosystem::Npm,
        name,
        version,
        resolved.as_deref(),
        None,
        integrity,
        kind,
        p.line,
    );
    cx.push(e);
}
