//! `[mirrors]`: instead of denying, force the approved mirror through the
//! tool's own environment — never by editing files. What an environment
//! variable cannot override (command-line flags, direct specs, requirement
//! files) is still checked and can still be denied.

use serde::Serialize;

use crate::classify::{Plan, Source};
use crate::tools::Tool;

/// What pkgward did to force a mirror, for the child and for the record.
#[derive(Clone, Debug, Serialize)]
pub struct Forced {
    pub mirror: String,
    /// Variables set in the real tool's environment.
    pub env: Vec<(String, String)>,
    /// Arguments inserted into the tool's command line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Files generated for the tool (settings, init scripts).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// The sources those variables replace.
    pub overridden: Vec<Source>,
}

/// Forces `mirror` for `tool`, given what the classifier found. `approved`
/// tells whether a source is already approved (those are left alone, e.g. an
/// approved private scope). Returns `None` for tools pkgward cannot force
/// yet; returns the plan and the sources that are still to be checked.
pub fn force(
    tool: Tool,
    args: &[String],
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<(Forced, Plan)> {
    let plan = crate::classify::force_mirror(tool, args, mirror, sources, approved)?;
    // The mirror itself was checked against the approved registries when
    // the policy was merged (an unapproved mirror is refused there).
    let forced = Forced {
        mirror: mirror.to_string(),
        env: plan.env.clone(),
        args: plan.insert_args.clone(),
        files: plan.files.iter().map(|(p, _)| p.clone()).collect(),
        overridden: plan.overridden.clone(),
    };
    Some((forced, plan))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Origin, SourceKind};

    fn npm() -> Tool {
        Tool::by_name("npm").unwrap()
    }

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
        let (f, plan) = force(npm(), &[], "http://127.0.0.1:4873/", &sources, &mut |s| {
            s.value.contains("ok.test")
        })
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
        // The flag and the approved scope stay to be checked.
        assert_eq!(plan.remaining.len(), 2);
        assert!(plan
            .remaining
            .iter()
            .any(|s| s.value == "http://flag.test/"));
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
        let pip = Tool::by_name("pip").unwrap();
        let (f, plan) = force(pip, &[], "http://127.0.0.1:1/simple", &sources, &mut |_| {
            false
        })
        .unwrap();
        assert!(f
            .env
            .contains(&("PIP_INDEX_URL".into(), "http://127.0.0.1:1/simple".into())));
        assert!(f.env.contains(&("PIP_EXTRA_INDEX_URL".into(), " ".into())));
        assert!(plan
            .remaining
            .iter()
            .any(|s| s.value == "http://cli.test/simple"));
        assert_eq!(f.overridden.len(), 2);
        let apt = Tool::by_name("apt").unwrap();
        assert!(force(apt, &[], "http://x.test/", &[], &mut |_| true).is_none());
    }
}
