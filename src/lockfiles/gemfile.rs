//! Bundler's `Gemfile.lock` / `gems.locked`, read line by line.
//!
//! Sections start with an unindented name. Source sections (`GEM`, `GIT`,
//! `PATH`, `PLUGIN SOURCE`) have two-space `key: value` lines (`remote:`,
//! `revision:`, …) and a `specs:` list: gems at four spaces,
//! `name (version)`, and their dependencies at six (not read). `CHECKSUMS`
//! (Bundler 2.5+) has `  name (version) sha256=HEX[,algo=…]` lines whose
//! digests are attached to the matching entries. Other sections
//! (`PLATFORMS`, `DEPENDENCIES`, `RUBY VERSION`, `BUNDLED WITH`) are
//! skipped.
//!
//! - `GEM` → Registry, `source` = `remote:`. Old lockfiles may list several
//!   remotes in one `GEM` section, any of which Bundler may fetch a gem
//!   from: each gem is then listed once per remote (for the first 16
//!   remotes; further remotes are listed once each, with a warning).
//! - `GIT` → Git, `resolved` = `remote#revision`.
//! - `PATH` → Path (`resolved` = `remote:`), Workspace when the remote is
//!   `.` (the gem being developed).
//! - `PLUGIN SOURCE` → Url, `resolved` = `remote:`.
//!
//! Versions are kept as written, platform included (`1.16.0-x86_64-linux`:
//! platform gems are distinct artifacts); the purl carries the platform as
//! a `platform=` qualifier.

use std::collections::HashMap;

use super::{entry, indent_of, parse_prefixed, Cx, Digest, EntryKind};
use crate::tools::Ecosystem;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Gem,
    Git,
    Path,
    Plugin,
    Checksums,
    Other,
}

struct Section<'t> {
    kind: Kind,
    line: usize,
    remotes: Vec<&'t str>,
    revision: Option<&'t str>,
    specs: Vec<(&'t str, &'t str, usize)>,
}

pub(super) fn parse(cx: &mut Cx, text: &str) {
    let mut section: Option<Section<'_>> = None;
    let mut checksums: HashMap<(&str, &str), Vec<Digest>> = HashMap::new();
    let mut in_specs = false;
    let mut any_section = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let indent = indent_of(raw);
        let body = raw.trim();
        if indent == 0 {
            if let Some(s) = section.take() {
                finish(cx, s);
            }
            any_section = true;
            in_specs = false;
            let kind = match body {
                "GEM" => Kind::Gem,
                "GIT" => Kind::Git,
                "PATH" => Kind::Path,
                "PLUGIN SOURCE" => Kind::Plugin,
                "CHECKSUMS" => Kind::Checksums,
                _ => Kind::Other,
            };
            section = Some(Section {
                kind,
                line,
                remotes: Vec::new(),
                revision: None,
                specs: Vec::new(),
            });
            continue;
        }
        let Some(s) = section.as_mut() else {
            cx.warn(line, "indented line before any section");
            continue;
        };
        match s.kind {
            Kind::Other => {}
            Kind::Checksums => {
                if indent != 2 {
                    continue;
                }
                let Some((name, version, rest)) = name_version(body) else {
                    cx.warn(line, "expected `name (version) algo=hash`");
                    continue;
                };
                let mut digests = Vec::new();
                for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    match parse_prefixed(part, '=') {
                        Some(d) => digests.push(d),
                        None => cx.warn(line, format_args!("{name}: unusable checksum {part:?}")),
                    }
                }
                checksums
                    .entry((name, version))
                    .or_default()
                    .extend(digests);
            }
            _ => match indent {
                2 => {
                    in_specs = body == "specs:";
                    if let Some(v) = body.strip_prefix("remote:") {
                        s.remotes.push(v.trim());
                    } else if let Some(v) = body.strip_prefix("revision:") {
                        s.revision = Some(v.trim());
                    }
                }
                4 if in_specs => match name_version(body) {
                    Some((name, version, "")) => s.specs.push((name, version, line)),
                    _ => cx.warn(line, "expected `name (version)`"),
                },
                _ => {}
            },
        }
    }
    if let Some(s) = section.take() {
        finish(cx, s);
    }
    if !any_section && !text.trim().is_empty() {
        cx.warn(0, "no Gemfile.lock sections found");
    }
    if !checksums.is_empty() {
        for e in &mut cx.entries {
            if let Some(d) = checksums.get(&(e.name.as_str(), e.version.as_str())) {
                e.integrity.extend(d.iter().cloned());
            }
        }
    }
}

/// `name (version) rest` → (name, version, rest).
fn name_version(body: &str) -> Option<(&str, &str, &str)> {
    let open = body.find(" (")?;
    let name = &body[..open];
    let after = &body[open + 2..];
    let close = after.find(')')?;
    let version = &after[..close];
    if name.is_empty() || version.is_empty() || name.contains(' ') {
        return None;
    }
    Some((name, version, after[close + 1..].trim()))
}

/// Remotes per section whose gems are each listed (see [`finish`]).
const MAX_REMOTES: usize = 16;

fn finish(cx: &mut Cx, s: Section<'_>) {
    let (kind, base) = match s.kind {
        Kind::Gem => (EntryKind::Registry, None),
        Kind::Git => {
            let remote = s.remotes.first().copied().unwrap_or("");
            (
                EntryKind::Git,
                Some(match s.revision {
                    Some(r) => format!("{remote}#{r}"),
                    None => remote.to_string(),
                }),
            )
        }
        Kind::Path => {
            let remote = s.remotes.first().copied().unwrap_or("");
            let kind = if matches!(remote, "." | "./") {
                EntryKind::Workspace
            } else {
                EntryKind::Path
            };
            (kind, Some(remote.to_string()))
        }
        Kind::Plugin => (EntryKind::Url, s.remotes.first().map(|r| r.to_string())),
        Kind::Checksums | Kind::Other => return,
    };
    if s.remotes.is_empty() && !s.specs.is_empty() {
        cx.warn(s.line, "source section without `remote:`");
    }
    // Each gem once per remote, for the first MAX_REMOTES remotes; any
    // further remote is listed once (with the section's first gem), so
    // every URL is still seen without output growing as remotes × gems.
    if kind == EntryKind::Registry && s.remotes.len() > MAX_REMOTES {
        cx.warn(
            s.line,
            format_args!(
                "{} remotes in one section; gems are listed for the first {MAX_REMOTES}",
                s.remotes.len()
            ),
        );
        if let Some(&(name, version, line)) = s.specs.first() {
            for remote in &s.remotes[MAX_REMOTES..] {
                let e = entry(
                    Ecosystem::Rubygems,
                    name,
                    version,
                    None,
                    Some(remote),
                    Vec::new(),
                    kind,
                    line,
                );
                cx.push(e);
            }
        }
    }
    for &(name, version, line) in &s.specs {
        if kind == EntryKind::Registry && s.remotes.len() > 1 {
            for remote in s.remotes.iter().take(MAX_REMOTES) {
                let e = entry(
                    Ecosystem::Rubygems,
                    name,
                    version,
                    None,
                    Some(remote),
                    Vec::new(),
                    kind,
                    line,
                );
                cx.push(e);
            }
        } else {
            let source = if kind == EntryKind::Registry {
                s.remotes.first().copied()
            } else {
                None
            };
            let e = entry(
                Ecosystem::Rubygems,
                name,
                version,
                base.as_deref(),
                source,
                Vec::new(),
                kind,
                line,
            );
            cx.push(e);
        }
    }
}
