//! Before vs after: which packages were added, changed or removed. Pure.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::lockfiles::{Digest, EntryKind};
use crate::record::package::Change;
use crate::tools::Ecosystem;

/// One package as a source (lockfile, metadata) states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkg {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
    pub purl: String,
    pub kind: EntryKind,
    pub resolved: Option<String>,
    pub integrity: Vec<Digest>,
    /// Hex sha256 of the artifact, when the source states one.
    pub sha256: Option<String>,
    /// `package-lock`, `dist-info`, `cargo-install`, …
    pub evidence: String,
    pub path: Option<PathBuf>,
}

impl Pkg {
    /// A package as a lockfile entry states it.
    pub fn from_entry(e: crate::lockfiles::Entry, evidence: &str, path: &std::path::Path) -> Pkg {
        let sha256 = e
            .integrity
            .iter()
            .find(|d| d.algorithm == "sha256" && d.value.len() == 64)
            .map(|d| d.value.to_ascii_lowercase());
        Pkg {
            ecosystem: e.ecosystem,
            name: e.name,
            version: e.version,
            purl: e.purl,
            kind: e.kind,
            resolved: e.resolved,
            integrity: e.integrity,
            sha256,
            evidence: evidence.to_string(),
            path: Some(path.to_path_buf()),
        }
    }

    /// The same package but another artifact: both state where it came
    /// from or a hash, and they differ.
    fn other_artifact(&self, o: &Pkg) -> bool {
        let differ =
            |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(x), Some(y)) if x != y);
        let digests = !self.integrity.is_empty()
            && !o.integrity.is_empty()
            && !self.integrity.iter().any(|d| o.integrity.contains(d));
        digests || differ(&self.sha256, &o.sha256) || differ(&self.resolved, &o.resolved)
    }
}

/// A package that changed, with the state it was left in (`removed`: the
/// state it had).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delta {
    pub change: Change,
    pub pkg: Pkg,
    pub previous_version: Option<String>,
}

/// Compares two states of one source. Packages are matched by ecosystem and
/// name; a name may be present in several versions (npm nests copies).
/// Versions only before and only after are paired in order as `changed`
/// (an upgrade or downgrade); the rest are `added` or `removed`. A version
/// present on both sides with another artifact (hash or URL) is `changed`.
/// The result is sorted by name, then version.
pub fn diff(before: &[Pkg], after: &[Pkg]) -> Vec<Delta> {
    type Versions<'a> = BTreeMap<&'a str, &'a Pkg>;
    let mut names: BTreeMap<(Ecosystem, &str), (Versions<'_>, Versions<'_>)> = BTreeMap::new();
    for p in before {
        let e = names.entry((p.ecosystem, p.name.as_str())).or_default();
        e.0.entry(p.version.as_str()).or_insert(p);
    }
    for p in after {
        let e = names.entry((p.ecosystem, p.name.as_str())).or_default();
        e.1.entry(p.version.as_str()).or_insert(p);
    }
    let mut out = Vec::new();
    for (_, (b, a)) in names {
        let gone: Vec<&Pkg> = b
            .iter()
            .filter(|(v, _)| !a.contains_key(*v))
            .map(|(_, p)| *p)
            .collect();
        let new: Vec<&Pkg> = a
            .iter()
            .filter(|(v, _)| !b.contains_key(*v))
            .map(|(_, p)| *p)
            .collect();
        for (v, p) in &a {
            if let Some(old) = b.get(v) {
                if old.other_artifact(p) {
                    out.push(Delta {
                        change: Change::Changed,
                        pkg: (*p).clone(),
                        previous_version: Some(old.version.clone()),
                    });
                }
            }
        }
        let paired = gone.len().min(new.len());
        for (old, p) in gone.iter().zip(&new) {
            out.push(Delta {
                change: Change::Changed,
                pkg: (*p).clone(),
                previous_version: Some(old.version.clone()),
            });
        }
        for p in &new[paired..] {
            out.push(Delta {
                change: Change::Added,
                pkg: (*p).clone(),
                previous_version: None,
            });
        }
        for p in &gone[paired..] {
            out.push(Delta {
                change: Change::Removed,
                pkg: (*p).clone(),
                previous_version: None,
            });
        }
    }
    out.sort_by(|x, y| {
        (x.pkg.ecosystem, &x.pkg.name, &x.pkg.version, x.change).cmp(&(
            y.pkg.ecosystem,
            &y.pkg.name,
            &y.pkg.version,
            y.change,
        ))
    });
    out
}

/// Merges the deltas of several sources that describe the same packages
/// (a project's `package-lock.json` and `node_modules/.package-lock.json`):
/// the first source's delta for a package wins, filled in with what later
/// ones know (URL, hashes).
pub fn merge(sources: Vec<Vec<Delta>>) -> Vec<Delta> {
    let mut out: Vec<Delta> = Vec::new();
    let mut at: BTreeMap<(Ecosystem, String, String, Change), usize> = BTreeMap::new();
    for deltas in sources {
        for d in deltas {
            let key = (
                d.pkg.ecosystem,
                d.pkg.name.clone(),
                d.pkg.version.clone(),
                d.change,
            );
            match at.get(&key) {
                Some(&i) => {
                    let p = &mut out[i].pkg;
                    if p.resolved.is_none() {
                        p.resolved = d.pkg.resolved;
                    }
                    if p.integrity.is_empty() {
                        p.integrity = d.pkg.integrity;
                    }
                    if p.sha256.is_none() {
                        p.sha256 = d.pkg.sha256;
                    }
                }
                None => {
                    at.insert(key, out.len());
                    out.push(d);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str, integrity: Option<&str>) -> Pkg {
        Pkg {
            ecosystem: Ecosystem::Npm,
            name: name.into(),
            version: version.into(),
            purl: format!("pkg:npm/{name}@{version}"),
            kind: EntryKind::Registry,
            resolved: None,
            integrity: integrity
                .map(|v| Digest {
                    algorithm: "sha512".into(),
                    value: v.into(),
                })
                .into_iter()
                .collect(),
            sha256: None,
            evidence: "package-lock".into(),
            path: None,
        }
    }

    fn rows(d: &[Delta]) -> Vec<(Change, String, String, Option<String>)> {
        d.iter()
            .map(|d| {
                (
                    d.change,
                    d.pkg.name.clone(),
                    d.pkg.version.clone(),
                    d.previous_version.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn table() {
        use Change::*;
        type Row = (Change, &'static str, &'static str, Option<&'static str>);
        let cases: Vec<(Vec<Pkg>, Vec<Pkg>, Vec<Row>)> = vec![
            // Nothing before: all added.
            (
                vec![],
                vec![pkg("a", "1.0.0", None), pkg("b", "2.0.0", None)],
                vec![(Added, "a", "1.0.0", None), (Added, "b", "2.0.0", None)],
            ),
            // Unchanged: nothing.
            (
                vec![pkg("a", "1.0.0", Some("x"))],
                vec![pkg("a", "1.0.0", Some("x"))],
                vec![],
            ),
            // Upgrade, removal, addition.
            (
                vec![pkg("a", "1.0.0", None), pkg("gone", "1.0.0", None)],
                vec![pkg("a", "1.1.0", None), pkg("new", "0.1.0", None)],
                vec![
                    (Changed, "a", "1.1.0", Some("1.0.0")),
                    (Removed, "gone", "1.0.0", None),
                    (Added, "new", "0.1.0", None),
                ],
            ),
            // Same version, another artifact.
            (
                vec![pkg("a", "1.0.0", Some("x"))],
                vec![pkg("a", "1.0.0", Some("y"))],
                vec![(Changed, "a", "1.0.0", Some("1.0.0"))],
            ),
            // A hash only on one side is not a change.
            (
                vec![pkg("a", "1.0.0", None)],
                vec![pkg("a", "1.0.0", Some("y"))],
                vec![],
            ),
            // Nested copies: a second version appears next to the first.
            (
                vec![pkg("a", "1.0.0", None)],
                vec![pkg("a", "1.0.0", None), pkg("a", "2.0.0", None)],
                vec![(Added, "a", "2.0.0", None)],
            ),
            // Duplicates on one side count once.
            (
                vec![pkg("a", "1.0.0", None), pkg("a", "1.0.0", None)],
                vec![],
                vec![(Removed, "a", "1.0.0", None)],
            ),
            // Two versions replaced by one: one change, one removal.
            (
                vec![pkg("a", "1.0.0", None), pkg("a", "2.0.0", None)],
                vec![pkg("a", "3.0.0", None)],
                vec![
                    (Removed, "a", "2.0.0", None),
                    (Changed, "a", "3.0.0", Some("1.0.0")),
                ],
            ),
        ];
        for (i, (b, a, want)) in cases.into_iter().enumerate() {
            let want: Vec<_> = want
                .into_iter()
                .map(|(c, n, v, p)| (c, n.to_string(), v.to_string(), p.map(String::from)))
                .collect();
            assert_eq!(rows(&diff(&b, &a)), want, "case {i}");
        }
    }

    #[test]
    fn ecosystems_do_not_mix() {
        let mut p = pkg("a", "1.0.0", None);
        p.ecosystem = Ecosystem::Pypi;
        let d = diff(&[pkg("a", "1.0.0", None)], &[p]);
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn merge_fills_in_and_deduplicates() {
        let mut hidden = pkg("a", "1.0.0", Some("x"));
        hidden.resolved = Some("http://r.test/a.tgz".into());
        hidden.evidence = "hidden".into();
        let first = diff(&[], &[pkg("a", "1.0.0", None)]);
        let second = diff(&[], &[hidden, pkg("b", "1.0.0", None)]);
        let m = merge(vec![first, second]);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].pkg.evidence, "package-lock");
        assert_eq!(m[0].pkg.resolved.as_deref(), Some("http://r.test/a.tgz"));
        assert_eq!(m[0].pkg.integrity.len(), 1);
        assert_eq!(m[1].pkg.name, "b");
    }
}
