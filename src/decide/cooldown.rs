//! The release-age cooldown (`[registries] min_release_age`): versions
//! published more recently than the cooldown are not installed. pkgward has
//! each tool enforce it with its own filter, which reads the publish times
//! the registry reports in its metadata — npm's `before`, uv's
//! `exclude-newer`, bun's `--minimum-release-age`, pip's
//! `--uploaded-prior-to` (pip 25.3+). A tool without such a filter, or a
//! project that exempts packages from it, cannot honour the policy: in
//! enforce mode the invocation is denied (fail closed) rather than run
//! unfiltered.

use std::path::Path;
use std::time::Duration;

use crate::classify::{Plan, Verb};
use crate::tools::Tool;

/// The reason code of a cooldown the tool cannot apply.
pub const CODE: &str = "release-age-unenforceable";

/// How the cooldown reaches the tool.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    pub min_release_age_secs: u64,
    /// Versions published after this instant are filtered out.
    pub before: String,
    /// The setting that carries it (`npm_config_before`, …).
    pub via: String,
}

/// What the planner may ask about the real tool (answers are cached by the
/// caller): does its help text mention `flag`?
pub type Supports<'a> = dyn Fn(&[&str], &str) -> bool + 'a;

/// The plan enforcing `age` for this invocation, or why the tool cannot.
/// `files` reads project configuration (uv's per-package exemptions).
/// What the planner may look at besides the command line.
pub struct Ctx<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub cwd: &'a Path,
    pub supports: &'a Supports<'a>,
}

pub fn plan(
    tool: Tool,
    args: &[String],
    verb: Verb,
    age: Duration,
    now: jiff::Timestamp,
    cx: &Ctx<'_>,
) -> Result<Option<(Plan, Applied)>, String> {
    let (env, cwd, supports) = (cx.env, cx.cwd, cx.supports);
    if !matches!(verb, Verb::Install | Verb::Execute) {
        return Ok(None);
    }
    let secs = age.as_secs();
    let before = now
        .checked_sub(jiff::SignedDuration::from_secs(secs as i64))
        .map_err(|e| e.to_string())?
        .round(jiff::Unit::Second)
        .map_err(|e| e.to_string())?
        .to_string();
    let mut plan = Plan::default();
    let applied = |via: &str| Applied {
        min_release_age_secs: secs,
        before: before.clone(),
        via: via.to_string(),
    };
    let flag_in_args = |names: &[&str]| {
        args.iter()
            .take_while(|a| *a != "--")
            .find(|a| {
                names
                    .iter()
                    .any(|n| *a == n || a.starts_with(&format!("{n}=")))
            })
            .cloned()
    };
    match tool.name {
        "npm" | "npx" => {
            if let Some(a) = flag_in_args(&["--before"]) {
                return Err(format!(
                    "the command line sets `{a}`, which would replace the cooldown's date"
                ));
            }
            // The environment comes after the command line and before every
            // npmrc in npm's precedence.
            plan.env.push(("npm_config_before".into(), before.clone()));
            plan.env.push(("NPM_CONFIG_BEFORE".into(), before.clone()));
            Ok(Some((plan, applied("npm_config_before"))))
        }
        "uv" | "uvx" => {
            if let Some(a) = flag_in_args(&["--exclude-newer", "--exclude-newer-package"]) {
                return Err(format!(
                    "the command line sets `{a}`, which would replace the cooldown's date"
                ));
            }
            if env("UV_EXCLUDE_NEWER_PACKAGE").is_some() {
                return Err("UV_EXCLUDE_NEWER_PACKAGE exempts packages from the cooldown".into());
            }
            if let Some(f) = uv_exemptions(cwd, env) {
                return Err(format!(
                    "{} sets `exclude-newer-package`, which exempts packages from the cooldown",
                    f.display()
                ));
            }
            plan.env.push(("UV_EXCLUDE_NEWER".into(), before.clone()));
            Ok(Some((plan, applied("UV_EXCLUDE_NEWER"))))
        }
        "bun" | "bunx" => {
            if let Some(a) =
                flag_in_args(&["--minimum-release-age", "--minimum-release-age-excludes"])
            {
                return Err(format!("the command line sets `{a}`"));
            }
            let sub = args.iter().position(|a| !a.starts_with('-'));
            let fetch_and_run = tool.name == "bunx"
                || sub.is_some_and(|i| matches!(args[i].as_str(), "x" | "create" | "c"));
            // Asked of the real tool's help. Never `bunx install --help`:
            // bunx would fetch and run a package named `install`.
            let (probe, flag): (&[&str], _) = match (tool.name, fetch_and_run) {
                ("bunx", _) => (&["--help"], "--minimum-release-age"),
                (_, true) => (&["x", "--help"], "--minimum-release-age"),
                _ => (&["install", "--help"], "--minimum-release-age-excludes"),
            };
            if !supports(probe, flag) {
                return Err(
                    "this bun has no `--minimum-release-age` filter (bun 1.3 or later has)".into(),
                );
            }
            // After the subcommand (`bunx`: before the package, whose own
            // arguments follow it).
            let at = if tool.name == "bunx" {
                0
            } else {
                sub.map_or(0, |i| i + 1)
            };
            plan.insert_at = at.min(args.len());
            plan.insert_args = vec![format!("--minimum-release-age={secs}")];
            if fetch_and_run {
                // bunx takes no exemption list on its command line (it
                // refuses `--minimum-release-age-excludes`), so one in a
                // bunfig would exempt packages from the cooldown.
                if let Some(f) = bun_exemptions(cwd, env) {
                    return Err(format!(
                        "{} sets `minimumReleaseAgeExcludes`, which exempts packages from the cooldown",
                        f.display()
                    ));
                }
            } else {
                // The excludes flag replaces any list in bunfig.toml with a
                // name no package has.
                plan.insert_args
                    .push("--minimum-release-age-excludes=pkgward-no-exemptions".into());
            }
            Ok(Some((plan, applied("--minimum-release-age"))))
        }
        "pip" | "pip3" => {
            if let Some(a) = flag_in_args(&["--uploaded-prior-to"]) {
                return Err(format!("the command line sets `{a}`"));
            }
            if !supports(&["install", "--help"], "--uploaded-prior-to") {
                return Err(
                    "this pip has no `--uploaded-prior-to` filter (pip 25.3 or later has; uv has `exclude-newer`)"
                        .into(),
                );
            }
            plan.env
                .push(("PIP_UPLOADED_PRIOR_TO".into(), before.clone()));
            Ok(Some((plan, applied("PIP_UPLOADED_PRIOR_TO"))))
        }
        other => Err(format!(
            "{other} has no filter by publish time that pkgward can set"
        )),
    }
}

/// The first uv configuration file (from `cwd` up, then the user's) that
/// names per-package exemptions.
fn uv_exemptions(cwd: &Path, env: &dyn Fn(&str) -> Option<String>) -> Option<std::path::PathBuf> {
    let mut files = Vec::new();
    for dir in cwd.ancestors().take(64) {
        files.push(dir.join("uv.toml"));
        files.push(dir.join("pyproject.toml"));
    }
    if let Some(c) = env("UV_CONFIG_FILE") {
        files.push(c.into());
    }
    let config = env("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".config")));
    if let Some(c) = config {
        files.push(c.join("uv").join("uv.toml"));
    }
    files.push("/etc/uv/uv.toml".into());
    first_mentioning(files, "exclude-newer-package")
}

/// The first of `files` whose text holds `key`.
fn first_mentioning(files: Vec<std::path::PathBuf>, key: &str) -> Option<std::path::PathBuf> {
    files.into_iter().find(|f| {
        std::fs::read_to_string(f)
            .map(|t| t.contains(key))
            .unwrap_or(false)
    })
}

/// A bunfig that lists packages exempt from bun's release-age filter: the
/// project's (`bunfig.toml` in the directory or an ancestor) or the
/// global one (`$XDG_CONFIG_HOME/.bunfig.toml`, `~/.bunfig.toml`).
fn bun_exemptions(cwd: &Path, env: &dyn Fn(&str) -> Option<String>) -> Option<std::path::PathBuf> {
    let mut files: Vec<std::path::PathBuf> = cwd
        .ancestors()
        .take(64)
        .map(|d| d.join("bunfig.toml"))
        .collect();
    files.extend(env("XDG_CONFIG_HOME").map(|c| Path::new(&c).join(".bunfig.toml")));
    files.extend(env("HOME").map(|h| Path::new(&h).join(".bunfig.toml")));
    first_mentioning(files, "minimumReleaseAgeExcludes")
}

/// Human form of a cooldown: `48h`, `7d`, `90m`.
pub fn human(age: Duration) -> String {
    let s = age.as_secs();
    if s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tool: &str, args: &[&str], supports: bool) -> Result<Option<(Plan, Applied)>, String> {
        run_in(
            tool,
            args,
            &Ctx {
                env: &|_| None,
                cwd: Path::new("/nonexistent/pkgward-test"),
                supports: &|_, _| supports,
            },
        )
    }

    /// A 48-hour cooldown for `tool args`.
    fn run_in(tool: &str, args: &[&str], cx: &Ctx) -> Result<Option<(Plan, Applied)>, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        plan(
            Tool::by_name(tool).unwrap(),
            &args,
            Verb::Install,
            Duration::from_secs(48 * 3600),
            "2026-11-26T12:00:00Z".parse().unwrap(),
            cx,
        )
    }

    #[test]
    fn per_tool() {
        let (p, a) = run("npm", &["install", "x"], false).unwrap().unwrap();
        assert_eq!(a.before, "2026-11-24T12:00:00Z");
        assert!(p
            .env
            .contains(&("npm_config_before".into(), a.before.clone())));
        let (p, _) = run("uv", &["pip", "install", "x"], false).unwrap().unwrap();
        assert_eq!(p.env[0].0, "UV_EXCLUDE_NEWER");
        let (p, _) = run("bun", &["add", "x"], true).unwrap().unwrap();
        assert_eq!(p.insert_at, 1);
        assert_eq!(p.insert_args[0], "--minimum-release-age=172800");
        assert_eq!(p.insert_args.len(), 2);
        // What the help probe asks: bunx is never asked `install --help`
        // (it would fetch and run a package named `install`).
        let asked = std::cell::RefCell::new(Vec::new());
        let cx = Ctx {
            env: &|_| None,
            cwd: Path::new("/nonexistent/pkgward-test"),
            supports: &|args, flag| {
                asked.borrow_mut().push((args.join(" "), flag.to_string()));
                true
            },
        };
        run_in("bunx", &["pkg"], &cx).unwrap().unwrap();
        assert_eq!(
            *asked.borrow(),
            [("--help".to_string(), "--minimum-release-age".to_string())]
        );
        // bunx and `bun x`/`bun create` take the age before the package
        // (after it, it would be the package's own argument) and refuse the
        // excludes flag.
        for (tool, args, at) in [
            ("bunx", &["pkg", "--flag"][..], 0),
            ("bun", &["x", "pkg", "--flag"][..], 1),
            ("bun", &["--bun", "x", "pkg"][..], 2),
            ("bun", &["create", "app"][..], 1),
        ] {
            let (p, _) = run(tool, args, true).unwrap().unwrap();
            assert_eq!(p.insert_at, at, "{tool} {args:?}");
            assert_eq!(
                p.insert_args,
                ["--minimum-release-age=172800"],
                "{tool} {args:?}"
            );
        }
        assert!(run("bun", &["add", "x"], false)
            .unwrap_err()
            .contains("bun 1.3"));
        assert!(run("pip", &["install", "x"], false)
            .unwrap_err()
            .contains("--uploaded-prior-to"));
        assert!(run("pip", &["install", "x"], true).is_ok());
        assert!(run("cargo", &["build"], true)
            .unwrap_err()
            .contains("no filter"));
        assert!(run("npm", &["i", "--before=2099-01-01", "x"], false).is_err());
        assert!(run("npm", &["i", "--before", "2099-01-01", "x"], false).is_err());
        assert!(run(
            "uv",
            &["add", "--exclude-newer-package", "x=2099-01-01", "x"],
            false
        )
        .is_err());
        // Arguments after `--` belong to the command npx runs.
        assert!(run("npx", &["x", "--", "--before=1"], false).is_ok());
        let other = plan(
            Tool::by_name("npm").unwrap(),
            &["ls".to_string()],
            Verb::Other,
            Duration::from_secs(1),
            "2026-11-26T12:00:00Z".parse().unwrap(),
            &Ctx {
                env: &|_| None,
                cwd: Path::new("/"),
                supports: &|_, _| false,
            },
        );
        assert!(matches!(other, Ok(None)));
    }

    #[test]
    fn uv_project_exemptions_are_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("pyproject.toml"),
            "[tool.uv]\nexclude-newer-package = { evil = \"2099-01-01T00:00:00Z\" }\n",
        )
        .unwrap();
        let sub = d.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let r = plan(
            Tool::by_name("uv").unwrap(),
            &["sync".to_string()],
            Verb::Install,
            Duration::from_secs(3600),
            "2026-11-26T12:00:00Z".parse().unwrap(),
            &Ctx {
                env: &|_| None,
                cwd: &sub,
                supports: &|_, _| false,
            },
        );
        assert!(r.unwrap_err().contains("exclude-newer-package"));
    }

    #[test]
    fn human_forms() {
        assert_eq!(human(Duration::from_secs(172_800)), "2d");
        assert_eq!(human(Duration::from_secs(7200)), "2h");
        assert_eq!(human(Duration::from_secs(90)), "90s");
    }

    /// bunx cannot be given an empty exemption list: a bunfig with one
    /// refuses the run (a project's or the global one).
    #[test]
    fn bunx_refuses_a_bunfig_with_exemptions() {
        let t = tempfile::tempdir().unwrap();
        let project = t.path().join("p");
        std::fs::create_dir_all(&project).unwrap();
        let go = |home: &str| {
            let home = home.to_string();
            run_in(
                "bunx",
                &["pkg"],
                &Ctx {
                    env: &move |k| (k == "HOME").then(|| home.clone()),
                    cwd: &project,
                    supports: &|_, _| true,
                },
            )
        };
        let home = t.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        assert!(go(home.to_str().unwrap()).unwrap().is_some());
        std::fs::write(
            home.join(".bunfig.toml"),
            "[install]\nminimumReleaseAgeExcludes = [\"x\"]\n",
        )
        .unwrap();
        let e = go(home.to_str().unwrap()).unwrap_err();
        assert!(e.contains(".bunfig.toml") && e.contains("exempts"), "{e}");
        std::fs::remove_file(home.join(".bunfig.toml")).unwrap();
        std::fs::write(
            t.path().join("bunfig.toml"),
            "[install]\nminimumReleaseAgeExcludes = [\"x\"]\n",
        )
        .unwrap();
        assert!(go(home.to_str().unwrap()).is_err());
    }
}
