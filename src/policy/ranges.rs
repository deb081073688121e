//! `scripts.allow` version ranges, each in its ecosystem's own syntax, and
//! package-name comparison with each ecosystem's own folding (PyPI's
//! PEP 503, cargo's `_`/`-` and case, NuGet's case).
//!
//! * npm: node-semver ranges (`^1.2`, `1.x`, `>=1.2.0 <2 || 3.0.0`);
//! * pypi: PEP 440 specifiers (`>=1.26,<2`, `==1.2.*`, `~=2.1`);
//! * cargo: Cargo requirements (`^0.17`, `>=1, <2`);
//! * every other ecosystem: an exact version.

use std::str::FromStr;

use crate::tools::Ecosystem;

/// Why `range` is not a valid range for `eco` (a message for the user), or `None`.
pub fn range_error(eco: Ecosystem, range: &str) -> Option<String> {
    // Some parsers draw a caret diagram under the input: keep the first line.
    range_error_full(eco, range).map(|m| {
        m.lines()
            .next()
            .unwrap_or_default()
            .trim_end()
            .trim_end_matches(':')
            .to_string()
    })
}

fn range_error_full(eco: Ecosystem, range: &str) -> Option<String> {
    match eco {
        Ecosystem::Npm => node_semver::Range::parse(range)
            .err()
            .map(|e| format!("not an npm (node-semver) version range: {e}")),
        Ecosystem::Pypi => pep440_rs::VersionSpecifiers::from_str(range)
            .err()
            .map(|e| format!("not a PEP 440 version specifier: {e}")),
        Ecosystem::Cargo => semver::VersionReq::parse(range)
            .err()
            .map(|e| format!("not a Cargo version requirement: {e}")),
        _ => None,
    }
}

/// Whether `version` satisfies `range` in `eco`'s syntax. A version or range
/// that does not parse satisfies nothing (fail closed).
pub fn satisfies(eco: Ecosystem, range: &str, version: &str) -> bool {
    match eco {
        Ecosystem::Npm => match (
            node_semver::Range::parse(range),
            node_semver::Version::parse(version),
        ) {
            (Ok(r), Ok(v)) => r.satisfies(&v),
            _ => false,
        },
        Ecosystem::Pypi => match (
            pep440_rs::VersionSpecifiers::from_str(range),
            pep440_rs::Version::from_str(version),
        ) {
            (Ok(r), Ok(v)) => r.contains(&v),
            _ => false,
        },
        Ecosystem::Cargo => match (
            semver::VersionReq::parse(range),
            semver::Version::parse(version),
        ) {
            (Ok(r), Ok(v)) => r.matches(&v),
            _ => false,
        },
        _ => range == version,
    }
}

/// A package name as the ecosystem compares names: PyPI names are
/// normalised (PEP 503: lowercase, runs of `-_.` are one `-`), crate names
/// fold `_` to `-` and case; npm names are compared as written.
pub fn normalize_name(eco: Ecosystem, name: &str) -> String {
    match eco {
        Ecosystem::Pypi => crate::tools::pep503(name),
        Ecosystem::Cargo => name.to_ascii_lowercase().replace('_', "-"),
        // NuGet package ids are case-insensitive.
        Ecosystem::Nuget => name.to_ascii_lowercase(),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_per_ecosystem() {
        let cases: &[(Ecosystem, &str, &str, bool)] = &[
            (Ecosystem::Npm, "^1.2", "1.4.0", true),
            (Ecosystem::Npm, "^1.2", "2.0.0", false),
            (Ecosystem::Npm, "1.x || >=3.0.0 <3.1", "3.0.5", true),
            (Ecosystem::Npm, "~0.19.0", "0.19.12", true),
            (Ecosystem::Npm, "~0.19.0", "0.20.0", false),
            (Ecosystem::Npm, "^1.2", "not-a-version", false),
            (Ecosystem::Pypi, ">=1.26,<2", "1.26.4", true),
            (Ecosystem::Pypi, ">=1.26,<2", "2.0", false),
            (Ecosystem::Pypi, "==1.2.*", "1.2.9", true),
            (Ecosystem::Cargo, "^0.17", "0.17.8", true),
            (Ecosystem::Cargo, "^0.17", "0.18.0", false),
            (Ecosystem::Rubygems, "1.2.3", "1.2.3", true),
            (Ecosystem::Rubygems, "1.2.3", "1.2.4", false),
        ];
        for (eco, range, version, want) in cases {
            assert_eq!(range_error(*eco, range), None, "{eco} {range}");
            assert_eq!(
                satisfies(*eco, range, version),
                *want,
                "{eco} {range} {version}"
            );
        }
        assert!(range_error(Ecosystem::Npm, "^^1").is_some());
        assert!(range_error(Ecosystem::Pypi, ">>1").is_some());
        assert!(range_error(Ecosystem::Cargo, "1.2.3.4.5").is_some());
    }

    #[test]
    fn names_fold_like_the_ecosystem() {
        assert_eq!(
            normalize_name(Ecosystem::Pypi, "Foo__Bar.baz"),
            "foo-bar-baz"
        );
        assert_eq!(normalize_name(Ecosystem::Cargo, "Ring_X"), "ring-x");
        assert_eq!(normalize_name(Ecosystem::Npm, "@Scope/Pkg"), "@Scope/Pkg");
        assert_eq!(normalize_name(Ecosystem::Nuget, "Evil.Build"), "evil.build");
    }
}
