//! `go.sum` / `go.work.sum`: `MODULE VERSION h1:BASE64` lines.
//!
//! One entry per module version that has a hash of its module zip (the
//! line without `/go.mod`), with that `h1` digest. Lines for
//! `VERSION/go.mod` hash only the module's go.mod file: Go fetches them to
//! build the module graph but never fetches the code unless a zip hash is
//! also listed (without one, `go` refuses to build with it), so they are not
//! entries. Two zip hashes for one module version are both kept (and
//! warned about: `go` would refuse the file).
//!
//! go.sum names no URL or proxy: entries are Registry with neither
//! `resolved` nor `source` (GOPROXY/GOPRIVATE decide at fetch time).

use std::collections::HashMap;

use super::{entry, parse_prefixed, Cx, EntryKind};
use crate::tools::Ecosystem;

pub(super) fn parse(cx: &mut Cx, text: &str) {
    // (module, version) → index in cx.entries.
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with("//") {
            continue;
        }
        let mut fields = trimmed.split_ascii_whitespace();
        let (Some(module), Some(version), Some(hash), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            cx.warn(line, "expected `MODULE VERSION HASH`");
            continue;
        };
        if version.ends_with("/go.mod") {
            continue;
        }
        let Some(digest) = parse_prefixed(hash, ':') else {
            cx.warn(
                line,
                format_args!("{module} {version}: unusable hash {hash:?}"),
            );
            continue;
        };
        match index.get(&(module, version)) {
            Some(&at) => {
                if !cx.entries[at].integrity.contains(&digest) {
                    cx.warn(
                        line,
                        format_args!("{module} {version}: a second, different hash"),
                    );
                    cx.entries[at].integrity.push(digest);
                }
            }
            None => {
                index.insert((module, version), cx.entries.len());
                let e = entry(
                    Ecosystem::Go,
                    module,
                    version,
                    None,
                    None,
                    vec![digest],
                    EntryKind::Registry,
                    line,
                );
                cx.push(e);
            }
        }
    }
}
