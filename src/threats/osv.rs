//! Reading OSV advisories (<https://ossf.github.io/osv-schema/>) into
//! [`Listing`]s: one per (advisory, ecosystem, package). Only what pkgward
//! needs is read: `id`, `withdrawn`, and each `affected[]` entry's package,
//! `versions` and `ranges`.

use serde::Deserialize;

use crate::tools::Ecosystem;

/// Which versions of a package an advisory lists.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Versions {
    /// Every version (a range `introduced: "0"` with no end, or an entry
    /// without versions or ranges: the OSV convention for malicious packages).
    All,
    /// The versions named, plus the ranges (`[introduced, end)` pairs; `end`
    /// exclusive unless `last` is set).
    Some {
        exact: Vec<String>,
        ranges: Vec<Range>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Range {
    /// `SEMVER` or `ECOSYSTEM` (GIT ranges are not about package versions).
    pub semver: bool,
    pub introduced: String,
    /// `fixed` or `limit` (exclusive) or `last_affected` (inclusive).
    pub end: Option<String>,
    pub end_inclusive: bool,
}

/// One package an advisory lists.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Listing {
    pub id: String,
    pub ecosystem: Ecosystem,
    /// Normalised with [`normalize_name`].
    pub name: String,
    pub versions: Versions,
    /// The advisory's `summary`, shortened, for messages.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
}

#[derive(Deserialize)]
struct RawAdvisory {
    id: String,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    affected: Vec<RawAffected>,
}

#[derive(Deserialize)]
struct RawAffected {
    package: Option<RawPackage>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    ranges: Vec<RawRange>,
}

#[derive(Deserialize)]
struct RawPackage {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// The pkgward ecosystem of an OSV ecosystem name (`npm`, `PyPI`,
/// `crates.io`, `Go`, `RubyGems`, `NuGet`, `Maven`; a `:suffix` such as
/// `Debian:12` is ignored). Ecosystems pkgward does not shim give `None`.
pub fn ecosystem(osv: &str) -> Option<Ecosystem> {
    let base = osv.split(':').next().unwrap_or(osv);
    Some(match base {
        "npm" => Ecosystem::Npm,
        "PyPI" => Ecosystem::Pypi,
        "crates.io" => Ecosystem::Cargo,
        "Go" => Ecosystem::Go,
        "RubyGems" => Ecosystem::Rubygems,
        "NuGet" => Ecosystem::Nuget,
        "Maven" => Ecosystem::Maven,
        _ => return None,
    })
}

/// The form a package name is compared in: PyPI names per PEP 503
/// (lowercase, runs of `-_.` as one `-`); crates.io and NuGet names
/// case-insensitively (crates.io also treats `-` and `_` alike); npm, Go,
/// RubyGems and Maven names as written, except that npm names are
/// lowercased (the registry refuses new mixed-case names, and a
/// case-variant of a listed name is worth stopping).
pub fn normalize_name(eco: Ecosystem, name: &str) -> String {
    let name = name.trim();
    match eco {
        Ecosystem::Pypi => crate::tools::pep503(name),
        Ecosystem::Cargo => name.to_ascii_lowercase().replace('_', "-"),
        Ecosystem::Nuget | Ecosystem::Npm => name.to_lowercase(),
        _ => name.to_string(),
    }
}

/// Parses one OSV document: an advisory object, or an array of them.
/// Withdrawn advisories and ecosystems pkgward does not shim are skipped.
pub fn parse(text: &str) -> Result<Vec<Listing>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let mut out = Vec::new();
    match value {
        serde_json::Value::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                advisory(item, &mut out).map_err(|e| format!("item {i}: {e}"))?;
            }
        }
        other => advisory(other, &mut out)?,
    }
    Ok(out)
}

fn advisory(value: serde_json::Value, out: &mut Vec<Listing>) -> Result<(), String> {
    let raw: RawAdvisory =
        serde_json::from_value(value).map_err(|e| format!("not an OSV advisory: {e}"))?;
    if raw.withdrawn.is_some() {
        return Ok(());
    }
    let summary: String = raw.summary.unwrap_or_default().chars().take(160).collect();
    for a in raw.affected {
        let Some(pkg) = a.package else { continue };
        let Some(eco) = ecosystem(&pkg.ecosystem) else {
            continue;
        };
        let name = normalize_name(eco, &pkg.name);
        if name.is_empty() {
            continue;
        }
        out.push(Listing {
            id: raw.id.clone(),
            ecosystem: eco,
            name,
            versions: versions(a.versions, &a.ranges),
            summary: summary.clone(),
        });
    }
    Ok(())
}

fn versions(exact: Vec<String>, raw: &[RawRange]) -> Versions {
    let mut ranges = Vec::new();
    for r in raw {
        let semver = match r.kind.as_str() {
            "SEMVER" => true,
            "ECOSYSTEM" => false,
            _ => continue,
        };
        // Events in order: each `introduced` opens a range, the next
        // `fixed`/`last_affected`/`limit` closes it.
        let mut open: Option<String> = None;
        for ev in &r.events {
            let get = |k: &str| ev.get(k).and_then(|v| v.as_str()).map(str::to_string);
            if let Some(v) = get("introduced") {
                if let Some(start) = open.take() {
                    ranges.push(Range {
                        semver,
                        introduced: start,
                        end: None,
                        end_inclusive: false,
                    });
                }
                open = Some(v);
            } else if let Some((v, inclusive)) = get("fixed")
                .map(|v| (v, false))
                .or_else(|| get("limit").map(|v| (v, false)))
                .or_else(|| get("last_affected").map(|v| (v, true)))
            {
                if let Some(start) = open.take() {
                    ranges.push(Range {
                        semver,
                        introduced: start,
                        end: Some(v),
                        end_inclusive: inclusive,
                    });
                }
            }
        }
        if let Some(start) = open {
            ranges.push(Range {
                semver,
                introduced: start,
                end: None,
                end_inclusive: false,
            });
        }
    }
    let all_range = ranges
        .iter()
        .any(|r| r.end.is_none() && is_zero(&r.introduced));
    if all_range || (exact.is_empty() && ranges.is_empty()) {
        return Versions::All;
    }
    Versions::Some { exact, ranges }
}

fn is_zero(v: &str) -> bool {
    v == "0" || v == "0.0.0" || v == "0.0"
}

impl Versions {
    /// Whether `version` is listed. `None` (the invocation names no version)
    /// matches only a listing of every version.
    pub fn contains(&self, eco: Ecosystem, version: Option<&str>) -> bool {
        match self {
            Versions::All => true,
            Versions::Some { exact, ranges } => {
                let Some(v) = version.map(|v| clean_version(eco, v)) else {
                    return false;
                };
                exact.iter().any(|e| clean_version(eco, e) == v)
                    || ranges.iter().any(|r| r.contains(&v))
            }
        }
    }
}

/// A version as compared: surrounding space and a Go/npm `v`/`=` prefix
/// dropped; PyPI versions lowercased.
fn clean_version(eco: Ecosystem, v: &str) -> String {
    let v = v.trim();
    let v = match eco {
        Ecosystem::Npm | Ecosystem::Go | Ecosystem::Cargo => {
            v.trim_start_matches('=').trim_start_matches('v')
        }
        _ => v,
    };
    match eco {
        Ecosystem::Pypi | Ecosystem::Nuget => v.to_lowercase(),
        _ => v.to_string(),
    }
}

impl Range {
    fn contains(&self, v: &str) -> bool {
        let after_start = is_zero(&self.introduced) || compare(v, &self.introduced).is_ge();
        let before_end = match &self.end {
            None => true,
            Some(end) => {
                let o = compare(v, end);
                if self.end_inclusive {
                    o.is_le()
                } else {
                    o.is_lt()
                }
            }
        };
        after_start && before_end
    }
}

/// Orders two versions: SemVer 2 when both parse, else component-wise
/// (numbers as numbers, text as text, a pre-release tag before the release).
/// Good enough for the ranges OSV writes for the ecosystems here; exact
/// `versions` lists, which OSV also provides, are compared as strings.
pub fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.trim_start_matches('v'), b.trim_start_matches('v'));
    if let (Ok(x), Ok(y)) = (semver::Version::parse(a), semver::Version::parse(b)) {
        return x.cmp(&y);
    }
    let parts = |s: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut digit = None;
        for c in s.chars() {
            if matches!(c, '.' | '-' | '_' | '+') {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                digit = None;
                continue;
            }
            let d = c.is_ascii_digit();
            if digit.is_some_and(|p| p != d) && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            digit = Some(d);
            cur.push(c.to_ascii_lowercase());
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    };
    let (pa, pb) = (parts(a), parts(b));
    for i in 0..pa.len().max(pb.len()) {
        let o = match (pa.get(i), pb.get(i)) {
            (Some(x), Some(y)) => match (x.parse::<u128>(), y.parse::<u128>()) {
                (Ok(m), Ok(n)) => m.cmp(&n),
                (Ok(_), Err(_)) => std::cmp::Ordering::Greater,
                (Err(_), Ok(_)) => std::cmp::Ordering::Less,
                _ => x.cmp(y),
            },
            // `1.0` < `1.0.1`; `1.0` > `1.0rc1` (a text part is a pre-release).
            (Some(x), None) => {
                if x.parse::<u128>().is_ok() {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Less
                }
            }
            (None, Some(y)) => {
                if y.parse::<u128>().is_ok() {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                }
            }
            (None, None) => std::cmp::Ordering::Equal,
        };
        if o.is_ne() {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}
