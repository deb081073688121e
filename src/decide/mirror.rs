//! `[mirrors]`: instead of denying, force the approved mirror through the
//! tool's own environment — never by editing files. What an environment
//! variable cannot override (command-line flags, direct specs, requirement
//! files) is still checked and can still be denied.

use serde::Serialize;

use crate::classify::{Source, SourceKind};
use crate::tools::Tool;

/// An empty list for a pip list option set through the environment (an
/// empty string would be ignored; verified against pip 23).
const PIP_EMPTY: &str = " ";

/// What pkgward did to force a mirror, for the child and for the record.
#[derive(Clone, Debug, Serialize)]
pub struct Forced {
    pub mirror: String,
    /// Variables set in the real tool's environment.
    pub env: Vec<(String, String)>,
    /// The sources those variables replace.
    pub overridden: Vec<Source>,
}

/// Forces `mirror` for `tool`, given what the classifier found. `approved`
/// tells whether a source is already approved (those are left alone, e.g. an
/// approved private scope). Returns `None` for tools pkgward cannot force yet.
pub fn force(
    tool: Tool,
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<(Forced, Vec<Source>)> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut overridden = Vec::new();
    let mut remaining = Vec::new();
    match tool.name {
        "npm" | "npx" => {
            env.push(("npm_config_registry".into(), mirror.into()));
            let mut replace_hosts = false;
            for s in sources {
                let take = s.overridable
                    && match s.kind {
                        SourceKind::Registry => true,
                        SourceKind::ScopeRegistry => !approved(s),
                        SourceKind::Locked => !approved(s),
                        _ => false,
                    };
                if !take {
                    remaining.push(s.clone());
                    continue;
                }
                match s.kind {
                    SourceKind::ScopeRegistry => {
                        env.push((format!("npm_config_{}", s.subject), mirror.into()))
                    }
                    SourceKind::Locked => replace_hosts = true,
                    _ => {}
                }
                overridden.push(s.clone());
            }
            if replace_hosts {
                env.push(("npm_config_replace_registry_host".into(), "always".into()));
            }
        }
        "pip" | "pip3" => {
            env.push(("PIP_INDEX_URL".into(), mirror.into()));
            // Extra indexes are cleared outright: with a mirror there is one
            // index. pip ignores an empty variable but splits a blank one
            // into an empty list, which replaces the config files' value.
            env.push(("PIP_EXTRA_INDEX_URL".into(), PIP_EMPTY.into()));
            let (mut clear_links, mut clear_trusted) = (false, false);
            for s in sources {
                let take = s.overridable
                    && match s.kind {
                        SourceKind::Registry | SourceKind::ExtraIndex => true,
                        SourceKind::FindLinks | SourceKind::Insecure => !approved(s),
                        _ => false,
                    };
                if !take {
                    remaining.push(s.clone());
                    continue;
                }
                match s.kind {
                    SourceKind::FindLinks => clear_links = true,
                    SourceKind::Insecure => clear_trusted = true,
                    _ => {}
                }
                overridden.push(s.clone());
            }
            if clear_links {
                env.push(("PIP_FIND_LINKS".into(), PIP_EMPTY.into()));
                // Local link directories from the same setting are gone too;
                // they were only paths, so nothing needs checking.
                remaining.retain(|s| {
                    !(s.kind == SourceKind::Path && s.subject == "find-links" && s.overridable)
                });
            }
            if clear_trusted {
                env.push(("PIP_TRUSTED_HOST".into(), PIP_EMPTY.into()));
            }
        }
        _ => return None,
    }
    // The mirror itself was checked against the approved registries when
    // the policy was merged (an unapproved mirror is refused there).
    Some((
        Forced {
            mirror: mirror.to_string(),
            env,
            overridden,
        },
        remaining,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Origin;

    #[test]
    fn npm_forcing() {
        let sources = vec![
            Source::new(
                SourceKind::Registry,
                "http://evil.test/",
                Origin::env("npm_config_registry"),
                "registry",
            )
            .overridable(),
            Source::new(
                SourceKind::ScopeRegistry,
                "http://evil.test/",
                Origin::Builtin,
                "@acme:registry",
            )
            .overridable(),
            Source::new(
                SourceKind::ScopeRegistry,
                "http://ok.test/",
                Origin::Builtin,
                "@ok:registry",
            )
            .overridable(),
            Source::new(
                SourceKind::Registry,
                "http://flag.test/",
                Origin::flag("--registry"),
                "registry",
            ),
            Source::new(
                SourceKind::Locked,
                "http://evil.test/a.tgz",
                Origin::Builtin,
                "a",
            )
            .overridable(),
        ];
        let (f, rest) = force(
            Tool::by_name("npm").unwrap(),
            "http://127.0.0.1:4873/",
            &sources,
            &mut |s| s.value.contains("ok.test"),
        )
        .unwrap();
        let env: Vec<(&str, &str)> = f
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            env,
            [
                ("npm_config_registry", "http://127.0.0.1:4873/"),
                ("npm_config_@acme:registry", "http://127.0.0.1:4873/"),
                ("npm_config_replace_registry_host", "always"),
            ]
        );
        assert_eq!(f.overridden.len(), 3);
        // The flag and the approved scope stay.
        assert_eq!(rest.len(), 2);
        assert!(rest.iter().any(|s| s.value == "http://flag.test/"));
    }

    #[test]
    fn pip_forcing_keeps_command_line_sources() {
        let sources = vec![
            Source::new(
                SourceKind::Registry,
                "http://cfg.test/simple",
                Origin::Builtin,
                "index-url",
            )
            .overridable(),
            Source::new(
                SourceKind::ExtraIndex,
                "http://cfg2.test/simple",
                Origin::Builtin,
                "extra-index-url",
            )
            .overridable(),
            Source::new(
                SourceKind::ExtraIndex,
                "http://cli.test/simple",
                Origin::flag("--extra-index-url"),
                "extra-index-url",
            ),
        ];
        let (f, rest) = force(
            Tool::by_name("pip").unwrap(),
            "http://127.0.0.1:1/simple",
            &sources,
            &mut |_| false,
        )
        .unwrap();
        assert!(f
            .env
            .contains(&("PIP_INDEX_URL".into(), "http://127.0.0.1:1/simple".into())));
        assert!(f
            .env
            .contains(&("PIP_EXTRA_INDEX_URL".into(), String::new())));
        assert!(rest.iter().any(|s| s.value == "http://cli.test/simple"));
        assert_eq!(f.overridden.len(), 2);
        assert!(force(
            Tool::by_name("gem").unwrap(),
            "http://x.test/",
            &[],
            &mut |_| true
        )
        .is_none());
    }
}
