//! `Cargo.lock` (TOML, versions 1 to 4).
//!
//! One entry per `[[package]]`:
//! - `source = "registry+URL"` / `"sparse+URL"` → Registry, `source` = that
//!   string as written (the URL matcher sets the `registry+`/`sparse+`
//!   prefix aside), no `resolved` (cargo derives download URLs from the
//!   index);
//! - `source = "git+URL?branch=…#commit"` → Git, `resolved` = that string;
//! - no `source` → Workspace: a workspace member or a path dependency
//!   (Cargo.lock does not tell them apart);
//! - anything else → Url, `resolved` = the string, with a warning.
//!
//! `checksum` (sha256, hex) is the digest; version 1 files keep checksums
//! in `[metadata]` as `"checksum NAME VERSION (SOURCE)" = "hex"`, which are
//! used when the package has none (`<none>` means none).

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::{entry, line_of, toml_fail, Cx, Digest, EntryKind, Fail};
use crate::tools::Ecosystem;

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<Spanned<Package>>,
    metadata: Option<BTreeMap<String, toml::Value>>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
}

pub(super) fn parse(cx: &mut Cx, text: &str) -> Result<(), Fail> {
    let lock: Lock = toml::from_str(text).map_err(|e| toml_fail(text, e))?;
    for pkg in &lock.package {
        let line = line_of(text, pkg.span().start);
        let p = pkg.get_ref();
        let (kind, resolved, source) = match p.source.as_deref() {
            None => (EntryKind::Workspace, None, None),
            Some(s) if s.starts_with("registry+") || s.starts_with("sparse+") => {
                (EntryKind::Registry, None, Some(s))
            }
            Some(s) if s.starts_with("git+") => (EntryKind::Git, Some(s), None),
            Some(s) => {
                cx.warn(line, format_args!("{}: unknown source kind {s:?}", p.name));
                (EntryKind::Url, Some(s), None)
            }
        };
        let checksum = p.checksum.clone().or_else(|| {
            let src = p.source.as_deref()?;
            let key = format!("checksum {} {} ({src})", p.name, p.version);
            match lock.metadata.as_ref()?.get(&key)? {
                toml::Value::String(s) if s != "<none>" => Some(s.clone()),
                _ => None,
            }
        });
        let mut integrity = Vec::new();
        if let Some(c) = checksum {
            if super::is_hex(&c, 64) {
                integrity.push(Digest {
                    algorithm: "sha256".into(),
                    value: c,
                });
            } else {
                cx.warn(
                    line,
                    format_args!("{}: checksum is not a sha256: {c:?}", p.name),
                );
            }
        }
        let e = entry(
            Ecosystem::Cargo,
            &p.name,
            &p.version,
            resolved,
            source,
            integrity,
            kind,
            line,
        );
        cx.push(e);
    }
    Ok(())
}
