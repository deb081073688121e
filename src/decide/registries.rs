//! Approved registries: every source a classifier found must fall under a
//! registry the policy approves for the ecosystem.

use crate::builtin::Resolved;
use crate::classify::{Source, SourceKind};
use crate::decide::urls::{literal_covers, Prefix, UrlError};
use crate::record::redact::redact_urls;
use crate::record::Reason;

/// At most this many lockfile findings are listed one by one.
const MAX_LOCKED_LISTED: usize = 5;

/// Checks `sources` against `approved` (policy entries: URL prefixes and/or
/// `builtin`). `builtin` resolves the tool's own default registry URL(s) on
/// demand (it may run the tool once; the result is cached by the caller).
pub fn check(
    sources: &[Source],
    approved: &[String],
    builtin: &mut dyn FnMut() -> Resolved,
) -> Vec<Reason> {
    let builtin_approved = approved.iter().any(|a| a == "builtin");
    let prefixes: Vec<Prefix> = approved
        .iter()
        .filter(|a| *a != "builtin")
        .filter_map(|a| Prefix::parse(a).ok())
        .collect();
    let mut builtin_prefixes: Option<Vec<Prefix>> = None;
    let builtin_problem: std::cell::RefCell<Option<String>> = Default::default();
    let literals: Vec<String> = prefixes.iter().filter_map(Prefix::literal).collect();
    let mut builtin_literals: Option<Vec<String>> = None;
    let mut covered = |value: &str| -> Result<bool, UrlError> {
        if literals.iter().any(|l| literal_covers(l, value)) {
            return Ok(true);
        }
        if builtin_approved {
            if let Some(bl) = &builtin_literals {
                if bl.iter().any(|l| literal_covers(l, value)) {
                    return Ok(true);
                }
            }
        }
        let candidate = Prefix::parse(value)?;
        if prefixes.iter().any(|p| p.covers(&candidate)) {
            return Ok(true);
        }
        if builtin_approved {
            let b = builtin_prefixes.get_or_insert_with(|| {
                let r = builtin();
                *builtin_problem.borrow_mut() = r.problem;
                r.urls
                    .iter()
                    .filter_map(|u| Prefix::parse(u).ok())
                    .collect()
            });
            if builtin_literals.is_none() {
                builtin_literals = Some(b.iter().filter_map(Prefix::literal).collect());
            }
            return Ok(b.iter().any(|p| p.covers(&candidate)));
        }
        Ok(false)
    };

    let mut reasons = Vec::new();
    let mut locked_over = 0usize;
    for s in sources {
        let shown = || redact_urls(&s.value);
        let problem: Option<(&str, String)> = match s.kind {
            SourceKind::Path => None,
            SourceKind::Insecure if s.subject == crate::classify::source::UNREADABLE => Some((
                "unreadable-config",
                format!(
                    "{}: pkgward cannot parse this file ({}), so it cannot tell which registries it sets; fix or remove it",
                    s.origin,
                    shown()
                ),
            )),
            SourceKind::Insecure => Some((
                "insecure-setting",
                format!("{} sets {} = {}, which weakens verification", s.origin, s.subject, shown()),
            )),
            SourceKind::Executable => Some((
                "tool-override",
                format!("{} sets {} = {}, which runs other code in place of the tool", s.origin, s.subject, shown()),
            )),
            _ if s.is_builtin() => (!builtin_approved).then(|| {
                (
                    "unapproved-registry",
                    format!("the tool's built-in default registry is used ({}) and `builtin` is not approved", s.subject),
                )
            }),
            kind => {
                let why = match covered(&s.value) {
                    Ok(true) => None,
                    Ok(false) => Some(match builtin_problem.borrow().as_deref() {
                        Some(p) => format!(" (`builtin` is approved, but {p})"),
                        None => String::new(),
                    }),
                    Err(UrlError::HasUserinfo) => Some(" (a URL with a user name or password never matches)".into()),
                    Err(UrlError::Invalid(_)) => Some(" (not a URL pkgward can verify)".into()),
                };
                why.map(|why| {
                    let shown = shown();
                    let (code, what) = match kind {
                        SourceKind::Registry => ("unapproved-registry", format!("sets {} = {shown}", s.subject)),
                        SourceKind::ScopeRegistry => ("unapproved-registry", format!("sets {} = {shown}", s.subject)),
                        SourceKind::ExtraIndex => ("unapproved-extra-index", format!("adds the index {shown}")),
                        SourceKind::FindLinks => ("unapproved-find-links", format!("adds the link source {shown}")),
                        SourceKind::Git if manifest_dependency(s) => (
                            "unapproved-git",
                            format!(
                                "declares the dependency `{}` from git: {shown}, which the install clones and runs the `prepare` of",
                                s.subject
                            ),
                        ),
                        SourceKind::Direct if manifest_dependency(s) => (
                            "unapproved-direct-url",
                            format!("declares the dependency `{}` as {shown}, fetched directly", s.subject),
                        ),
                        SourceKind::Direct => ("unapproved-direct-url", format!("fetches {shown} directly")),
                        SourceKind::Git => ("unapproved-git", format!("fetches from git: {shown}")),
                        SourceKind::Locked => ("unapproved-lockfile-url", format!("resolves {} from {shown}", s.subject)),
                        _ => ("unapproved-source", format!("uses {shown}")),
                    };
                    let fix = if manifest_dependency(s) {
                        " (fix: depend on a registry version instead, or approve the host as a URL prefix)"
                    } else {
                        ""
                    };
                    (code, format!("{} {what}{why}{fix}", s.origin))
                })
            }
        };
        if let Some((code, message)) = problem {
            if s.kind == SourceKind::Locked {
                locked_over += 1;
                if locked_over > MAX_LOCKED_LISTED {
                    continue;
                }
            }
            reasons.push(Reason {
                code: code.to_string(),
                message,
                origin: Some(s.origin.to_string()),
            });
        }
    }
    if locked_over > MAX_LOCKED_LISTED {
        reasons.push(Reason {
            code: "unapproved-lockfile-url".into(),
            message: format!(
                "…and {} more lockfile entries resolved outside the approved registries (`pkgward verify` lists them all)",
                locked_over - MAX_LOCKED_LISTED
            ),
            origin: None,
        });
    }
    reasons
}

/// A dependency a JavaScript manifest (`package.json`) declares.
fn manifest_dependency(s: &Source) -> bool {
    !s.subject.is_empty()
        && matches!(&s.origin, crate::classify::Origin::File { path, .. }
            if path.file_name().is_some_and(|n| n == "package.json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Origin;

    fn src(kind: SourceKind, v: &str) -> Source {
        Source::new(kind, v, Origin::env("X"), "registry")
    }

    #[test]
    fn table() {
        let approved = vec!["builtin".to_string(), "http://127.0.0.1:4873/".to_string()];
        let mut builtin = || Resolved {
            urls: vec!["https://registry.example.com/".to_string()],
            problem: None,
        };
        let cases: Vec<(Source, bool)> = vec![
            (
                Source::new(SourceKind::Registry, "builtin", Origin::Builtin, "registry"),
                true,
            ),
            (src(SourceKind::Registry, "http://127.0.0.1:4873/"), true),
            (
                src(SourceKind::Registry, "https://registry.example.com/"),
                true,
            ),
            (
                src(
                    SourceKind::Registry,
                    "https://registry.example.com.evil.test/",
                ),
                false,
            ),
            (
                src(SourceKind::ScopeRegistry, "http://127.0.0.1:9999/"),
                false,
            ),
            (
                src(SourceKind::Direct, "http://127.0.0.1:4873/x/-/x-1.0.0.tgz"),
                true,
            ),
            (
                src(SourceKind::Git, "git+https://git.example.com/a/b"),
                false,
            ),
            (src(SourceKind::Path, "./local"), true),
            (src(SourceKind::Insecure, "pypi.example.com"), false),
            (
                src(SourceKind::Registry, "https://u:p@registry.example.com/"),
                false,
            ),
            (src(SourceKind::Registry, "garbage"), false),
        ];
        for (s, ok) in cases {
            let r = check(std::slice::from_ref(&s), &approved, &mut builtin);
            assert_eq!(r.is_empty(), ok, "{s:?} → {r:?}");
        }
        // builtin not approved: the default registry is refused.
        let only_loopback = vec!["http://127.0.0.1:4873/".to_string()];
        let r = check(
            &[Source::new(
                SourceKind::Registry,
                "builtin",
                Origin::Builtin,
                "registry",
            )],
            &only_loopback,
            &mut builtin,
        );
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn lockfile_findings_are_capped() {
        let sources: Vec<Source> = (0..20)
            .map(|i| {
                Source::new(
                    SourceKind::Locked,
                    format!("http://evil.test/{i}.tgz"),
                    Origin::Builtin,
                    "x",
                )
            })
            .collect();
        let r = check(&sources, &["builtin".into()], &mut Resolved::default);
        assert_eq!(r.len(), MAX_LOCKED_LISTED + 1);
        assert!(r.last().unwrap().message.contains("15 more"));
    }

    #[test]
    fn an_unresolved_builtin_denies_and_says_why() {
        let mut b = || Resolved::failed("yarn did not answer within 30 s");
        let r = check(
            &[src(SourceKind::Registry, "https://registry.example.com/")],
            &["builtin".into()],
            &mut b,
        );
        assert_eq!(r.len(), 1);
        assert!(
            r[0].message
                .contains("`builtin` is approved, but yarn did not answer"),
            "{r:?}"
        );
        // The tool's untouched default needs no resolution.
        let r = check(
            &[Source::new(
                SourceKind::Registry,
                "builtin",
                Origin::Builtin,
                "registry",
            )],
            &["builtin".into()],
            &mut b,
        );
        assert!(r.is_empty());
    }

    #[test]
    fn builtin_is_resolved_only_when_needed() {
        let mut calls = 0;
        let mut b = || {
            calls += 1;
            Resolved::default()
        };
        check(
            &[src(SourceKind::Registry, "http://127.0.0.1:4873/")],
            &["builtin".into(), "http://127.0.0.1:4873/".into()],
            &mut b,
        );
        assert_eq!(calls, 0);
    }
}
