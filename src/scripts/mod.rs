//! Install-time code: lifecycle scripts, implicit `node-gyp` builds, sdist
//! builds. Default-deny with approvals (`[scripts]` in the policy).
//!
//! The package manager itself is always started with its own switch that
//! disables install-time code ([`prepare`]: `--ignore-scripts`,
//! `npm_config_ignore_scripts=true`, `YARN_ENABLE_SCRIPTS=false`,
//! `--only-binary=:all:`, `UV_NO_BUILD=1`, …). When it has finished, pkgward
//! finds what the install would have run ([`npm::find`]), decides each one
//! ([`decide`]), runs the allowed ones in dependency order with the tool's
//! own mechanism (`npm rebuild <path>`, `npm run-script <event>` for the
//! root project) through [`crate::supervise::install_code`], records every
//! one, and lists the ones it did not run once, each with the command that
//! approves it.
//!
//! npm on Linux is the exception: it runs its scripts itself, each one
//! through pkgward's script shell and decided and run by the shim's broker
//! ([`npm_broker`]), which costs no second npm start. So does `pnpm dlx`
//! (its builds must run before its command; [`pnpm::dlx_setup`]); `bunx`
//! builds nothing, and what it skipped is listed ([`bun`]). `npx` without
//! the broker (elsewhere, or when it cannot start) gets its npx directory
//! installed and built by pkgward before it runs ([`npx`]), as `bunx` on
//! Linux.
//!
//! A `scripts.allow` entry approves fetched packages only; the project's
//! own code (the root project, workspaces, local path dependencies: it goes
//! by the name its own manifest claims) only by `ECO:NAME@local`, so that
//! a cloned repository cannot borrow a registry package's approval by
//! taking its name ([`decide`]'s `local`).
//!
//! Modes: `off` leaves the tool alone; `audit` runs everything (the ones
//! the policy would deny are recorded as `would-deny`); `enforce` runs the
//! approved ones, or all of them under `scripts.default = "allow"` /
//! `"sandbox"`.

pub mod approve;
pub mod bun;
pub mod cargo;
pub mod dotnet;
pub mod exec;
pub mod gem;
pub mod gradle;
pub mod maven;
pub mod npm;
#[cfg(target_os = "linux")]
pub mod npm_broker;
pub mod npx;
pub mod nuget;
pub mod pipenv;
pub mod pnpm;
pub mod poetry;
pub mod python;
pub mod yarn;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::classify::Verb;
use crate::policy::{Mode, Policy, ScriptsDefault};
use crate::record::{self, AuditLog};
use crate::supervise::install_code::{run_install_code, CodeEnded, InstallCode};
use crate::tools::{Ecosystem, Tool};

/// What the policy does with one piece of install-time code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScriptDecision {
    /// A `scripts.allow` entry approves it: it runs.
    Approved,
    /// `scripts.default = "allow"`: it runs.
    Allow,
    /// `scripts.default = "sandbox"`: it runs, supervised.
    Sandbox,
    /// Not approved: it does not run.
    Deny,
    /// Audit mode: the policy would deny it; it runs and is recorded.
    WouldDeny,
    /// The project's own code where it needs no approval (a cargo
    /// workspace member or path dependency): it runs, sandboxed. Elsewhere
    /// the project's own code is decided like any package, and approved
    /// only by `ECO:NAME@local` ([`decide`] with `local`).
    Project,
}

/// Whether code with this decision runs confined: under `scripts.default =
/// "sandbox"`, and approved code too unless the policy says otherwise
/// (approval means "may run", not "may do anything").
pub(crate) fn confines(policy: &Policy, d: ScriptDecision) -> bool {
    d == ScriptDecision::Sandbox
        || (d == ScriptDecision::Approved && policy.sandbox.confine_approved.value)
}

impl ScriptDecision {
    pub fn runs(self) -> bool {
        self != ScriptDecision::Deny
    }
}

/// Decides one package's install-time code; the approval is returned with
/// where it was set. `local`: the package is the project's own code (its
/// root, a workspace, a local path or `file:` dependency: anything not
/// fetched), which only an `ECO:NAME@local` entry approves
/// ([`Policy::approval_for`]); `scripts.default` and audit mode apply to
/// it as to any other.
pub fn decide(
    policy: &Policy,
    mode: Mode,
    eco: Ecosystem,
    name: &str,
    version: &str,
    local: bool,
) -> (ScriptDecision, Option<String>) {
    if let Some(a) = policy.approval_for(eco, name, version, local) {
        let at = match &a.origin {
            Some(o) => format!("{} ({o})", a.value),
            None => a.value.clone(),
        };
        return (ScriptDecision::Approved, Some(at));
    }
    let d = match policy.scripts_default.value {
        ScriptsDefault::Allow => ScriptDecision::Allow,
        ScriptsDefault::Sandbox => ScriptDecision::Sandbox,
        ScriptsDefault::Deny if mode == Mode::Audit => ScriptDecision::WouldDeny,
        ScriptsDefault::Deny => ScriptDecision::Deny,
    };
    (d, None)
}

/// The command that approves `name@version` in `eco`; for the project's
/// own code (`local`), `ECO:NAME@local` (every version).
pub fn approve_command(eco: Ecosystem, name: &str, version: &str, local: bool) -> String {
    if local {
        format!("pkgward approve {eco}:{name}@{}", crate::policy::LOCAL)
    } else if version.is_empty() {
        format!("pkgward approve {eco}:{name}")
    } else {
        format!("pkgward approve {eco}:{name}@{version}")
    }
}

/// Why the project's own code named like an approved package is not
/// approved by that entry (one line), when some entry approves the fetched
/// package of that name: the user then knows which entry to add.
pub fn local_note(policy: &Policy, eco: Ecosystem, name: &str, local: bool) -> Option<String> {
    let a = policy.approves_name(eco, name).filter(|_| local)?;
    Some(format!(
        "`{}` approves the registry package only; this is the project's own code",
        a.value
    ))
}

/// [`approve_command`], followed on its own line by the [`local_note`] if
/// any: what a denial listing shows after `approve: `.
pub fn approve_hint(
    policy: &Policy,
    eco: Ecosystem,
    name: &str,
    version: &str,
    local: bool,
) -> String {
    let cmd = approve_command(eco, name, version, local);
    match local_note(policy, eco, name, local) {
        Some(n) => format!("{cmd}\n    ({n})"),
        None => cmd,
    }
}

/// The policy violations of an invocation about install-time code, before
/// it runs: fetch-and-execute of unapproved packages, and uv asked to build
/// from source while builds are not approved.
pub fn violations(
    policy: &Policy,
    tool: Tool,
    verb: Verb,
    args: &[String],
    cwd: &Path,
) -> Vec<crate::record::Reason> {
    let mut out = Vec::new();
    if policy.mode.value == Mode::Off {
        return out;
    }
    // Every verb: `npm init NAME` (classified "other") fetches and runs create-NAME.
    out.extend(exec::check(policy, tool, args, cwd));
    if matches!(tool.name, "pnpm" | "pnpx") && matches!(verb, Verb::Install | Verb::Execute) {
        out.extend(pnpm::script_overrides(tool.name, args));
    }
    if tool.name == "cargo" && policy.scripts_default.value == ScriptsDefault::Deny {
        if let Some(why) = cargo::unsupported(args) {
            out.push(crate::record::Reason {
                code: cargo::UNCHECKED_CODE.into(),
                message: why,
                origin: None,
            });
        }
    }
    if matches!(tool.name, "gem" | "bundle") && policy.scripts_default.value == ScriptsDefault::Deny
    {
        if let Some(why) = gem::unchecked(tool.name, args) {
            out.push(crate::record::Reason {
                code: gem::UNCHECKED_CODE.into(),
                message: why,
                origin: None,
            });
        }
    }
    if tool.name == "poetry" {
        out.extend(poetry::plugin_violations(policy, args, cwd));
    }
    let wheels_only =
        policy.mode.value == Mode::Enforce && policy.scripts_default.value == ScriptsDefault::Deny;
    if wheels_only && matches!(tool.name, "uv" | "uvx") {
        let env = |k: &str| std::env::var(k).ok();
        let home = dirs::home_dir();
        out.extend(python::uv_violations(args, &env, cwd, home.as_deref()));
    }
    if wheels_only && matches!(tool.name, "pip" | "pip3") {
        let args = command_first(tool.name, args);
        out.extend(python::pip_direct_violations(policy, &args, cwd));
    }
    if wheels_only && tool.name == "pipenv" {
        let env = |k: &str| std::env::var(k).ok();
        let vars: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
            .collect();
        out.extend(pipenv::violations(args, cwd, policy, &env, &vars));
    }
    out
}

/// Whether every reason is one of this module's (the denial message is
/// then about install-time code, not registries).
pub fn all_ours(reasons: &[crate::record::Reason]) -> bool {
    reasons.iter().all(|r| {
        r.code == exec::CODE
            || r.code == python::BUILD_CODE
            || r.code == cargo::UNCHECKED_CODE
            || r.code == gem::UNCHECKED_CODE
            || r.code == pnpm::OVERRIDE_CODE
    })
}

/// The package-manager family whose installed tree pkgward walks afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Npm,
    /// pnpm: its virtual store (`node_modules/.pnpm`) is walked, and the
    /// approved packages run through one `pnpm rebuild NAME…`.
    Pnpm,
    /// yarn: yarn 1 as npm; yarn 2+ from its own install data, the
    /// approved packages through `yarn rebuild` ([`yarn`]).
    Yarn,
    /// `pnpm dlx` / `pnpx`: its builds run inside its run, each through the
    /// broker ([`pnpm::dlx_setup`]); what it did not build is read from
    /// its dlx cache afterwards ([`pnpm::dlx_after`]).
    PnpmDlx,
    /// `bunx` / `bun x`: it builds nothing; pkgward prepares its cache
    /// entry and builds the approved packages there before it runs
    /// ([`bun::x_before`]); what bunx installed itself is read from its
    /// cache afterwards ([`bun::x_after`]).
    BunX,
}

/// Which program runs approved npm-family scripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runner {
    /// The real tool the shim ran (npm).
    SameTool,
    /// The real npm, found on PATH after the shims (for yarn and bun).
    Npm,
}

/// What the shim changes in the real tool's launch, and what it does after.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    pub env: Vec<(String, String)>,
    /// Arguments inserted at `insert_at` (clamped to the argument count).
    pub insert_args: Vec<String>,
    pub insert_at: usize,
    /// After a successful run: find and decide the install-time code.
    pub after: Option<After>,
    /// Whether this invocation resolves or installs Python packages with
    /// sdist builds switched off (recorded by [`record_disabled`]).
    pub disables_builds: bool,
    /// pip / `uv pip install`: approved sdists built before the tool runs
    /// ([`before_run`]), or a failure explained after it.
    pub python: Option<python::Prebuild>,
    /// Install-time code that cannot be switched off in the tool and is
    /// checked around its run instead (cargo, gem).
    pub build: Option<Build>,
    /// npm (Linux): npm runs its lifecycle scripts itself, each through
    /// pkgward's script shell and the shim's broker ([`npm_broker`]), which
    /// decides and runs them; `env`/`insert_args` (scripts off) and `after`
    /// are the fallback when the broker cannot start. The shim applies
    /// one or the other and clears this when it falls back.
    pub in_tool: bool,
    /// npm (Linux): where the broker finds the packages whose scripts npm
    /// asks for, beyond the project (`npx`'s cache, a global install's
    /// prefix), and the user's script shell for `npx`'s own command.
    /// `npx` without the broker: its npx cache, prepared before it runs
    /// ([`npx`]).
    pub broker: Option<npm::BrokerPlan>,
}

/// What is checked around the tool's run ([`before_run`], [`after_run`]).
#[derive(Clone, Debug)]
pub enum Build {
    /// The tool runs `cargo fetch`; the build runs afterwards ([`cargo`]).
    Cargo(cargo::Plan),
    /// `gem install`, `bundle install`: native extensions and plugins are
    /// read from the gems before the tool runs ([`gem`]).
    Gem(gem::Plan),
    /// `mvn`: extensions and plugins read from the project's files
    /// before Maven runs ([`maven`]).
    Maven(maven::Plan),
    /// `dotnet build`…: the tool runs `dotnet restore`; the build runs
    /// afterwards with `--no-restore` ([`dotnet`]).
    Dotnet(dotnet::Plan),
    /// `gradle`: plugins, build-script classpaths, build logic and init
    /// scripts read from the build's files before Gradle runs ([`gradle`]).
    Gradle(gradle::Plan),
    /// `nuget install`/`restore`/`update`: the packages it extracted are
    /// read after it ran; unapproved ones removed again ([`nuget`]).
    Nuget(nuget::Plan),
    /// `poetry`: its builds decided by pkgward's guard in its run; the
    /// lock checked before ([`poetry`]).
    Poetry(poetry::Plan),
    /// pipenv: the sdists a lock or install needs are decided before it
    /// runs; the approved ones build in its run ([`pipenv`]).
    Pipenv(pipenv::Plan),
}

/// Records, before the tool runs, install-time code pkgward switched off as
/// a whole (sdist builds for pip/uv: which ones would have been built is not
/// known in advance): one `script` record with package `*`, decision
/// `deny`, and the switches pkgward applied as its `runner`.
pub fn record_disabled(
    tool: Tool,
    setup: &Setup,
    invocation_id: &str,
    log: Option<&record::LogTarget>,
) {
    if tool.ecosystem != Ecosystem::Pypi || !setup.disables_builds {
        return;
    }
    let Some(mut log) = log.and_then(|t| t.open().ok()) else {
        return;
    };
    let mut runner: Vec<String> = setup.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    runner.extend(setup.insert_args.iter().cloned());
    let rec = ScriptRecord {
        kind: "script",
        invocation_id: invocation_id.to_string(),
        time: record::now_rfc3339(),
        ecosystem: Ecosystem::Pypi,
        package: "*".into(),
        version: String::new(),
        path: ".".into(),
        script: "build".into(),
        command: "building any sdist (setup.py, PEP 517 backends): wheels only".into(),
        decision: ScriptDecision::Deny,
        approved_by: None,
        ran: false,
        runner: Some(runner),
        exit_code: None,
        signal: None,
        duration_ms: None,
        error: None,
        sandbox: None,
    };
    let _ = log.append(&rec);
}

impl Setup {
    /// Applies the variables and arguments to the real tool's launch.
    /// npm's scripts cannot run through the broker after all: they are
    /// switched off in npm ([`Setup::apply`]) and the approved ones run
    /// afterwards, the packages this install adds or replaces.
    pub fn fall_back(&mut self, launch: &mut crate::supervise::Launch) {
        if !self.in_tool {
            return;
        }
        self.in_tool = false;
        if let Some(a) = self.after.as_mut() {
            if !a.rebuild && a.family == Family::Npm {
                a.before = Some(npm::snapshot(&a.root));
            }
        }
        self.apply(launch);
    }

    /// The broker is in force: `pnpm dlx` gets `--allow-build=NAME` for
    /// each approved name ([`pnpm::dlx_setup`]).
    pub fn apply_in_tool(&self, launch: &mut crate::supervise::Launch) {
        if self.pnpm_dlx() {
            self.insert_in_tool(launch, pnpm::dlx_allow_args());
        }
    }

    /// Adds arguments where the tool's own are inserted (`pnpm dlx`: the
    /// `--allow-build=NAME`s found beforehand, [`before_pnpm_dlx`]).
    pub fn insert_in_tool(&self, launch: &mut crate::supervise::Launch, args: Vec<String>) {
        let at = self.insert_at.min(launch.args.len());
        for (i, a) in args.into_iter().enumerate() {
            launch.args.insert(at + i, OsString::from(a));
        }
    }

    fn pnpm_dlx(&self) -> bool {
        self.after
            .as_ref()
            .is_some_and(|a| a.family == Family::PnpmDlx)
    }

    pub fn apply(&self, launch: &mut crate::supervise::Launch) {
        match &self.build {
            Some(Build::Cargo(c)) => c.apply(launch),
            Some(Build::Dotnet(d)) => d.apply(launch),
            _ => {}
        }
        for (k, v) in &self.env {
            launch.env.push((OsString::from(k), OsString::from(v)));
        }
        let at = self.insert_at.min(launch.args.len());
        for (i, a) in self.insert_args.iter().enumerate() {
            launch.args.insert(at + i, OsString::from(a));
        }
    }
}

#[derive(Clone, Debug)]
pub struct After {
    pub family: Family,
    /// Which program runs the approved scripts.
    pub runner: Runner,
    /// The project root (npm's local prefix).
    pub root: PathBuf,
    /// Whether the root project's own install scripts run (npm runs them
    /// for `install`/`ci`/… in the project, not for `rebuild <pkg>`).
    pub with_root: bool,
    /// `rebuild NAMES…`: only these packages.
    pub only: Vec<String>,
    /// The installed packages before the install ([`npm::snapshot`]): only
    /// the ones it added or replaced are considered. `None`: all.
    pub before: Option<std::collections::BTreeMap<String, String>>,
    /// pnpm: the virtual store's packages before the install
    /// ([`pnpm::snapshot`]).
    pub before_store: Option<std::collections::BTreeMap<String, String>>,
    /// `npm rebuild`: what it names runs, whether the install changed it
    /// or not (no [`After::before`]).
    pub rebuild: bool,
}

impl After {
    /// Every package installed under `root` (a fetch-and-execute tool's
    /// install: none of them the project's own, none there before).
    pub(crate) fn all_in(family: Family, runner: Runner, root: PathBuf) -> After {
        After {
            family,
            runner,
            root,
            with_root: false,
            only: Vec::new(),
            before: None,
            before_store: None,
            rebuild: false,
        }
    }
}

/// How the real tool is started so that it runs no install-time code, and
/// what to do after it. `None`: nothing to change (mode `off`, or a command
/// that runs no install-time code).
pub fn prepare(
    tool: Tool,
    verb: Verb,
    args: &[String],
    cwd: &Path,
    policy: &Policy,
) -> Option<Setup> {
    let mode = policy.mode.value;
    if mode == Mode::Off {
        return None;
    }
    // A build from an sdist cannot be run afterwards like a lifecycle
    // script: wheels only, unless the policy lets everything run.
    // A local directory pip builds is still decided (recorded, confined
    // when the decision says so: [`python::local_setup`]).
    if tool.ecosystem == Ecosystem::Pypi
        && (mode != Mode::Enforce || policy.scripts_default.value != ScriptsDefault::Deny)
    {
        return python::local_setup(tool, &command_first(tool.name, args), cwd, policy);
    }
    match tool.name {
        "npm" | "npx" => npm_setup(tool.name, verb, args, cwd),
        "pnpm" | "pnpx" if verb == Verb::Execute => {
            Some(pnpm::dlx_setup(tool.name, policy, args, cwd))
        }
        "pnpm" | "pnpx" if verb == Verb::Install => Some(Setup {
            env: ignore_scripts_env("true"),
            insert_args: vec!["--ignore-scripts".into()],
            insert_at: dashdash(args),
            after: (tool.name == "pnpm")
                .then(|| pnpm_after(args, cwd))
                .flatten(),
            ..Setup::default()
        }),
        "yarn" if matches!(verb, Verb::Install | Verb::Execute) => Some(Setup {
            // yarn 1 reads YARN_IGNORE_SCRIPTS / npm_config_ignore_scripts;
            // yarn 2+ reads YARN_ENABLE_SCRIPTS.
            // yarn 2+ also gets pkgward's plugin ([`yarn`]), which keeps
            // the project's own workspace scripts (run with scripts off)
            // to what the policy approves.
            env: {
                let mut e = ignore_scripts_env("true");
                e.push(("YARN_ENABLE_SCRIPTS".into(), "false".into()));
                e.push(("YARN_IGNORE_SCRIPTS".into(), "true".into()));
                e.extend(yarn::plugin_env());
                if verb == Verb::Execute {
                    // `yarn dlx`: its temporary project is gone afterwards;
                    // it builds what the policy approves, confined.
                    e.push(("PKGWARD_YARN_DLX".into(), "1".into()));
                    e.extend(yarn::dlx_setup(policy, cwd));
                }
                e
            },
            after: Some(After {
                family: Family::Yarn,
                ..other_after(args, cwd, &["install"])
            }),
            ..Setup::default()
        }),
        "bun" | "bunx" if verb == Verb::Execute => Some(bun::x_setup(tool.name == "bunx", cwd)),
        "bun" | "bunx" if verb == Verb::Install => Some(Setup {
            env: ignore_scripts_env("true"),
            insert_args: vec!["--ignore-scripts".into()],
            insert_at: dashdash(args),
            after: Some(other_after(args, cwd, &["install", "i"])),
            ..Setup::default()
        }),
        _ if tool.ecosystem == Ecosystem::Pypi => {
            python::setup(tool, verb, &command_first(tool.name, args), cwd, policy)
        }
        // `cargo publish` builds too (its verification).
        "cargo" if matches!(verb, Verb::Install | Verb::Publish) => {
            cargo::plan(args, cwd).map(|p| Setup {
                build: Some(Build::Cargo(p)),
                ..Setup::default()
            })
        }
        "gem" | "bundle" if verb == Verb::Install => {
            gem::plan(tool.name, args, cwd).map(|p| Setup {
                build: Some(Build::Gem(p)),
                ..Setup::default()
            })
        }
        "dotnet" => dotnet::plan(args, cwd).map(|p| Setup {
            build: Some(Build::Dotnet(p)),
            ..Setup::default()
        }),
        "mvn" => maven::plan(args, cwd).map(|p| Setup {
            build: Some(Build::Maven(p)),
            ..Setup::default()
        }),
        "nuget" => nuget::plan(args, cwd).map(|p| Setup {
            build: Some(Build::Nuget(p)),
            ..Setup::default()
        }),
        "gradle" | "gradlew" => gradle::plan(args, cwd).map(|p| Setup {
            build: Some(Build::Gradle(p)),
            ..Setup::default()
        }),
        _ => None,
    }
}

/// pip's general options may come before its command (`pip --timeout 5
/// install …`), and [`python`] takes the first word for the command: it is
/// given the command line with the command first (pip reads general
/// options after it too; the length, where arguments are inserted, is the
/// same). The same for uv's global options before `pip install` (uv reads
/// them anywhere; a `uv run` target's arguments are not moved).
fn command_first<'a>(tool: &str, args: &'a [String]) -> std::borrow::Cow<'a, [String]> {
    let words: Vec<usize> = match tool {
        "pip" | "pip3" => crate::classify::pip_command_at(args).into_iter().collect(),
        "uv" => match crate::classify::uv_command_at(args) {
            (c, at) if matches!(c.as_str(), "pip" | "build" | "publish") => at,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    if words.iter().enumerate().all(|(i, at)| i == *at) {
        return std::borrow::Cow::Borrowed(args);
    }
    let rest = args
        .iter()
        .enumerate()
        .filter(|(i, _)| !words.contains(i))
        .map(|(_, a)| a);
    words
        .iter()
        .map(|at| &args[*at])
        .chain(rest)
        .cloned()
        .collect::<Vec<_>>()
        .into()
}

/// yarn and bun: the installed `node_modules` (hoisted like npm's) is walked
/// the same way and the approved scripts run through the real npm (`npm
/// rebuild <path>`), as the runner the three share. A plain install (no
/// package named) also runs the project's own scripts.
fn other_after(args: &[String], cwd: &Path, plain: &[&str]) -> After {
    let words: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let plain_install = words.is_empty() || (words.len() == 1 && plain.contains(&words[0]));
    let root = npm::project_root(cwd);
    After {
        family: Family::Npm,
        runner: Runner::Npm,
        before: Some(npm::snapshot(&root)),
        before_store: None,
        root,
        with_root: plain_install,
        only: Vec::new(),
        rebuild: false,
    }
}

/// pnpm: after `install`/`add`/`update`/`rebuild`… (not after removing,
/// `store`, `env` or `fetch`), the approved packages of the virtual store
/// run through `pnpm rebuild` ([`run_after_pnpm`]); a plain install also
/// runs the project's own scripts.
fn pnpm_after(args: &[String], cwd: &Path) -> Option<After> {
    const VALUE: [&str; 8] = [
        "-C",
        "--dir",
        "--filter",
        "-F",
        "--store-dir",
        "--registry",
        "--reporter",
        "--loglevel",
    ];
    let at = dashdash(args);
    let mut words: Vec<&str> = Vec::new();
    let mut dir: Option<&str> = None;
    let mut it = args[..at].iter();
    while let Some(a) = it.next() {
        if a == "-C" || a == "--dir" {
            dir = it.next().map(String::as_str);
        } else if let Some(d) = a.strip_prefix("--dir=") {
            dir = Some(d);
        } else if VALUE.contains(&a.as_str()) {
            it.next();
        } else if !a.starts_with('-') {
            words.push(a);
        }
    }
    let sub = words.first().copied().unwrap_or("install");
    if matches!(
        sub,
        "remove" | "rm" | "uninstall" | "un" | "unlink" | "store" | "env" | "fetch" | "import"
    ) {
        return None;
    }
    let root = npm::project_root(
        &dir.map(|d| cwd.join(d))
            .unwrap_or_else(|| cwd.to_path_buf()),
    );
    let rebuild = matches!(sub, "rebuild" | "rb");
    let plain = words.len() <= 1 && matches!(sub, "install" | "i" | "install-test" | "it");
    Some(After {
        family: Family::Pnpm,
        runner: Runner::SameTool,
        before: (!rebuild).then(|| npm::snapshot(&root)),
        before_store: (!rebuild).then(|| pnpm::snapshot(&root)),
        with_root: plain,
        only: if rebuild {
            words[1..].iter().map(|w| w.to_string()).collect()
        } else {
            Vec::new()
        },
        root,
        rebuild,
    })
}

/// `npm_config_ignore_scripts=VALUE`, and the same for every other spelling
/// of the variable in this environment: npm reads `npm_config_*` in any case,
/// and which of two spellings wins is up to the order of the environment.
fn ignore_scripts_env(value: &str) -> Vec<(String, String)> {
    npm_env_spellings("npm_config_ignore_scripts")
        .into_iter()
        .map(|k| (k, value.to_string()))
        .collect()
}

/// The npm setting an environment variable names (`npm_config_` in any
/// case, then `_` read as `-`, lower-cased: npm's own rule), if any.
pub(crate) fn npm_config_key(var: &str) -> Option<String> {
    const PREFIX: &str = "npm_config_";
    let head = var.get(..PREFIX.len())?;
    if !head.eq_ignore_ascii_case(PREFIX) || var.len() == PREFIX.len() {
        return None;
    }
    let rest = &var[PREFIX.len()..];
    let mut out = String::with_capacity(rest.len());
    for (i, c) in rest.chars().enumerate() {
        out.push(if c == '_' && i > 0 {
            '-'
        } else {
            c.to_ascii_lowercase()
        });
    }
    Some(out)
}

/// `canonical` (an `npm_config_*` variable) and every other variable in
/// this environment npm reads as the same setting: setting them all to
/// one value leaves npm no other to pick.
pub(crate) fn npm_env_spellings(canonical: &str) -> Vec<String> {
    let key = npm_config_key(canonical);
    let mut out = vec![canonical.to_string()];
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str() {
            if k != canonical && key.is_some() && npm_config_key(k) == key {
                out.push(k.to_string());
            }
        }
    }
    out
}

/// Where to insert flags: before a `--` (after it, everything is positional).
fn dashdash(args: &[String]) -> usize {
    args.iter().position(|a| a == "--").unwrap_or(args.len())
}

fn npm_setup(tool: &str, verb: Verb, args: &[String], cwd: &Path) -> Option<Setup> {
    let env = ignore_scripts_env("true");
    let home = dirs::home_dir();
    let at = dashdash(args);
    // The command and its words as npm reads them (past its options'
    // values; aliases and abbreviations resolved).
    let argv = crate::classify::npm_argv::parse(args);
    let words: Vec<&str> = argv.positionals.iter().map(String::as_str).collect();
    let sub = words
        .first()
        .and_then(|w| crate::classify::npm_argv::deref(w))
        .unwrap_or("");
    // `npm init NAME` / `npm create NAME` run `npm exec create-NAME`.
    let init = tool == "npm" && words.len() >= 2 && sub == "init";
    if tool == "npx" || verb == Verb::Execute || init {
        // npm installs the packages into its npx cache with scripts off;
        // on Linux the broker builds the approved ones when npm starts
        // the command through the script shell, which then runs it as npm
        // would ([`npm_broker`]); without the broker, pkgward installs and
        // builds them before npx runs ([`npx`]). The options end at the
        // command (`npx [options] <pkg> [args…]`).
        let end = npx_options_end(tool, args);
        let opts = &args[..end];
        return Some(Setup {
            env,
            // After the user's options (the last one wins), before the
            // command and its arguments.
            insert_at: end,
            in_tool: cfg!(target_os = "linux"),
            broker: Some(npm::BrokerPlan {
                root: npm::project_root(cwd),
                npx_cache: npm::npx_cache(opts, cwd, home.as_deref()),
                global_lib: None,
                exec_shell: Some(
                    npm::setting("script-shell", opts, cwd, home.as_deref()).unwrap_or_default(),
                ),
                fetch: None,
            }),
            ..Setup::default()
        });
    }
    if verb != Verb::Install {
        // `npm pack SPEC`, `npm cache add SPEC`, `npm diff --diff SPEC`,
        // `npm publish SPEC`: a git dependency is made into a tarball by
        // installing its dependencies and running its `prepare`, so their
        // scripts are decided as an install's are (nothing runs after).
        let fetch = crate::classify::npm_fetches(sub);
        let fetches = tool == "npm"
            && fetch.is_some()
            && (words.len() > 1 || argv.options.iter().any(|(k, _)| k == "diff"));
        if !fetches {
            return None;
        }
        let in_tool = cfg!(target_os = "linux");
        return Some(Setup {
            env,
            insert_args: vec!["--ignore-scripts".into()],
            insert_at: at,
            in_tool,
            broker: in_tool.then(|| npm::BrokerPlan {
                root: npm::project_root(cwd),
                fetch,
                ..Default::default()
            }),
            ..Setup::default()
        });
    }
    let global = args[..at].iter().any(|a| {
        matches!(
            a.as_str(),
            "-g" | "--global" | "--location=global" | "--global=true"
        )
    });
    let root = prefix_flag(&args[..at])
        .map(|p| cwd.join(p))
        .unwrap_or_else(|| npm::project_root(cwd));
    let removes = matches!(sub, "uninstall" | "link");
    let rebuild = sub == "rebuild";
    // npm runs the project's own install scripts for a plain `install` and
    // for `ci` / `install-test`, not when adding packages or updating.
    let plain_install = sub == "install" && words.len() == 1;
    let ci_like = matches!(sub, "ci" | "install-test" | "install-ci-test");
    let after = (!global && !removes).then(|| After {
        family: Family::Npm,
        runner: Runner::SameTool,
        // Only what this install adds or replaces runs (as with npm); an
        // explicit rebuild runs what it names, or everything. (Taken below,
        // or in [`Setup::fall_back`] when the broker cannot start.)
        before: None,
        rebuild,
        before_store: None,
        root: root.clone(),
        with_root: !rebuild && (plain_install || ci_like),
        only: if rebuild {
            words[1..].iter().map(|w| w.to_string()).collect()
        } else {
            Vec::new()
        },
    });
    // A global install's scripts run through the broker too (its packages
    // in the global prefix); without it, they stay off.
    let global_lib = (global && !removes)
        .then(|| npm::global_lib(&args[..at], cwd, home.as_deref()))
        .flatten();
    let in_tool = cfg!(target_os = "linux") && (after.is_some() || global_lib.is_some());
    let mut after = after;
    if let Some(a) = after.as_mut().filter(|a| !in_tool && !a.rebuild) {
        a.before = Some(npm::snapshot(&a.root));
    }
    Some(Setup {
        env,
        insert_args: vec!["--ignore-scripts".into()],
        insert_at: at,
        after,
        disables_builds: false,
        python: None,
        build: None,
        in_tool,
        broker: in_tool.then_some(npm::BrokerPlan {
            global_lib,
            root,
            npx_cache: None,
            exec_shell: None,
            fetch: None,
        }),
    })
}

/// Where `npx`'s own options end: at the first positional word (the
/// command), skipping the values of the options that take one. `npm exec`
/// and `npm init` read options anywhere before a `--`.
fn npx_options_end(tool: &str, args: &[String]) -> usize {
    let end = dashdash(args);
    if tool != "npx" {
        return end;
    }
    const VALUE: [&str; 8] = [
        "--package",
        "-p",
        "--call",
        "-c",
        "--registry",
        "--cache",
        "--userconfig",
        "--prefix",
    ];
    let mut i = 0;
    while i < end {
        let a = args[i].as_str();
        if VALUE.contains(&a) {
            i += 2;
        } else if a.starts_with('-') {
            i += 1;
        } else {
            return i;
        }
    }
    end
}

/// npm's `--prefix DIR` / `--prefix=DIR` / `-C DIR`.
fn prefix_flag(args: &[String]) -> Option<&str> {
    let mut found = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix("--prefix=") {
            found = Some(v);
        } else if a == "--prefix" || a == "-C" {
            found = it.next().map(String::as_str);
        }
    }
    found
}

/// One `script` audit record: a piece of install-time code and what
/// happened to it, linked to its invocation.
#[derive(Clone, Debug, Serialize)]
pub struct ScriptRecord {
    pub kind: &'static str,
    pub invocation_id: String,
    pub time: String,
    pub ecosystem: Ecosystem,
    pub package: String,
    pub version: String,
    /// The package directory relative to the project (`.` = the project).
    pub path: String,
    pub script: String,
    pub command: String,
    pub decision: ScriptDecision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    pub ran: bool,
    /// How pkgward ran it (the package's scripts run together, so they share
    /// one exit code and duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner: Option<Vec<String>>,
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Which sandbox layers were in force when it ran (absent: not
    /// sandboxed, e.g. `scripts.default = "allow"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<crate::supervise::sandbox::Report>,
}

/// What the shim passes to [`run_after`].
pub struct Context<'a> {
    pub policy: &'a Policy,
    pub mode: Mode,
    pub invocation_id: &'a str,
    /// The real package manager (npm) to run the approved code with.
    pub program: &'a Path,
    /// The real tool's arguments, as it was (or is about to be) started.
    pub args: &'a [OsString],
    /// Variables for the children (depth, invocation id).
    pub env: &'a [(OsString, OsString)],
    /// Finds a real tool on PATH after the shims (the npm for yarn and bun).
    pub find_tool: &'a dyn Fn(&str) -> Option<PathBuf>,
    /// Linux: the tracer the tool ran under; approved code runs under it too.
    #[cfg(target_os = "linux")]
    pub trace: Option<crate::supervise::linux::trace::Tracing>,
    /// The standard streams npm's approved code runs with (`npx`: npm's
    /// output on the requester's stderr, its stdout being the command's);
    /// `None`: the shim's.
    pub attached: Option<crate::supervise::install_code::Attached>,
}

/// After the real tool ended: when it succeeded and the setup has an
/// [`After`], runs [`run_after`] (with its own handle on the audit log) and
/// replaces the exit code with a failing approved script's.
pub fn after_run(
    setup: &Setup,
    ended: &mut crate::supervise::Ended,
    cx: &Context<'_>,
    log: Option<&record::LogTarget>,
    notice: &mut dyn FnMut(String),
) -> bool {
    if let Some(build) = &setup.build {
        let code = ended.code;
        // cargo's build step follows only a successful fetch.
        if code == 0 || !matches!(build, Build::Cargo(_)) {
            let mut log = log.and_then(|t| t.open().ok());
            let log = &mut log;
            match build {
                Build::Cargo(plan) => match cargo::after(plan, cx, log, notice) {
                    Some(c) => ended.code = c,
                    None => return true,
                },
                Build::Gem(plan) => gem::after(plan, cx, code, log, notice),
                Build::Dotnet(plan) => ended.code = dotnet::after(plan, cx, code, log, notice),
                Build::Maven(plan) => maven::after(plan, cx, code, log, notice),
                Build::Nuget(plan) => ended.code = nuget::after(plan, cx, code, log, notice),
                Build::Gradle(plan) => gradle::after(plan, cx, code, log, notice),
                Build::Poetry(plan) => ended.code = poetry::after(plan, cx, code, log, notice),
                Build::Pipenv(plan) => pipenv::after(plan, cx, code, log, notice),
            }
            return false;
        }
    }
    // `pnpm dlx`, `bunx`, `npx` without the broker: the exit code is the
    // command's; what was built and what was not is recorded and listed
    // either way.
    if npx::applies(setup) {
        let mut log = log.and_then(|t| t.open().ok());
        npx::after(setup, cx, &mut log, notice);
    }
    match setup.after.as_ref().map(|a| a.family) {
        Some(Family::PnpmDlx) => {
            let mut log = log.and_then(|t| t.open().ok());
            pnpm::dlx_after(cx, &mut log, notice);
            return false;
        }
        Some(Family::BunX) => {
            let mut log = log.and_then(|t| t.open().ok());
            bun::x_after(cx, &mut log, notice);
            return false;
        }
        _ => {}
    }
    if ended.code != 0 {
        if let Some(pre) = setup.python.as_ref().filter(|p| !p.approvals) {
            let mut log = log.and_then(|t| t.open().ok());
            let tool = cx.program.file_name().unwrap_or_default().to_string_lossy();
            if let Some(code) = python::explain_failure(pre, &tool, cx, &mut log, notice) {
                ended.code = code;
            }
        }
        return false;
    }
    let Some(after) = &setup.after else {
        return false;
    };
    if setup.in_tool && after.family != Family::PnpmDlx {
        // npm ran them, through the broker (which recorded each one).
        return false;
    }
    let mut log = log.and_then(|t| t.open().ok());
    if let Some(code) = run_after(after, cx, &mut log, notice) {
        ended.code = code;
    }
    false
}

/// The npm broker stopped: what its `npx` builds said, then its list of
/// what it did not run, are shown now, or (`pnpm dlx`) the list together
/// with what pnpm did not build ([`pnpm::dlx_after`]).
#[cfg(target_os = "linux")]
pub fn broker_stopped(
    setup: Option<&Setup>,
    notices: Vec<String>,
    outcomes: Vec<npm_broker::Outcome>,
    notice: &mut dyn FnMut(String),
) {
    for m in notices {
        notice(m);
    }
    let dlx = setup
        .and_then(|s| s.after.as_ref())
        .is_some_and(|a| a.family == Family::PnpmDlx);
    if dlx {
        pnpm::dlx_seen(outcomes);
    } else {
        let plan = setup.and_then(|s| s.broker.as_ref());
        let global = plan.is_some_and(|b| b.global_lib.is_some());
        let rerun = match plan.and_then(|b| b.fetch) {
            Some(command) => Rerun::Fetch(command),
            None => Rerun::Rebuild(if global { "npm -g" } else { "npm" }),
        };
        if let Some(m) = npm_broker::denied_message(&outcomes, rerun) {
            notice(m);
        }
    }
}

/// Runs the real tool: confined as install-time code when its own run
/// builds approved sdists ([`python::confine`]: uv project commands,
/// poetry, pipenv, pip's editable installs) or approved packages (`yarn
/// dlx`), else as usual ([`crate::supervise::run`]).
pub fn run_tool(
    setup: Option<&Setup>,
    launch: &crate::supervise::Launch,
) -> crate::error::Result<crate::supervise::Ended> {
    let run = setup.and_then(|s| match (&s.build, &s.python) {
        (Some(Build::Poetry(p)), _) => Some(&p.confine),
        (Some(Build::Pipenv(p)), _) => Some(&p.confine),
        (_, Some(p)) => Some(&p.confine),
        _ => None,
    });
    // `yarn dlx` building approved packages ([`yarn::dlx_setup`]).
    let dlx = setup
        .and_then(|s| s.after.as_ref())
        .filter(|a| a.family == Family::Yarn)
        .and_then(|_| yarn::dlx_run());
    match run
        .or(dlx.as_ref())
        .and_then(|r| r.wanted().map(|w| (r, w)))
    {
        Some((r, want)) => python::confine::run(launch, r, &want),
        None => crate::supervise::run(launch),
    }
}

/// Before the real tool runs: pip / `uv pip install` with PyPI approvals
/// get the approved sdists they need built, supervised, into a private
/// wheelhouse ([`python::prebuild`]); the returned value holds it and the
/// arguments to add to the tool's launch. `Err`: the invocation is denied
/// (an unapproved sdist-only package) or an approved build failed.
pub fn before_run_python(
    setup: &Setup,
    cx: &Context<'_>,
    log: Option<&record::LogTarget>,
    notice: &mut dyn FnMut(String),
) -> crate::error::Result<Option<python::Prebuilt>> {
    let Some(pre) = setup.python.as_ref().filter(|p| p.approvals) else {
        return Ok(None);
    };
    let mut log = log.and_then(|t| t.open().ok());
    let tool = cx.program.file_name().unwrap_or_default().to_string_lossy();
    python::prebuild(pre, &tool, cx, &mut log, notice)
}

/// Before the real tool runs, with its launch final (mirror, proxy and
/// flags applied): the checks that need the tool's network (`gem`: the gems
/// an install would add are fetched and read). `Err(Denied)`: the tool must
/// not run (what was found is recorded). `Ok(true)`: the tool's own run is
/// not needed (cargo: the fetch is known to have nothing to do).
pub fn before_run(
    setup: &Setup,
    launch: &crate::supervise::Launch,
    policy: &Policy,
    invocation_id: &str,
    log: Option<&record::LogTarget>,
    notice: &mut dyn FnMut(String),
) -> crate::error::Result<bool> {
    match &setup.build {
        Some(Build::Cargo(plan)) => Ok(cargo::nothing_to_fetch(plan, launch, policy)),
        Some(Build::Gem(plan)) => {
            let mut log = log.and_then(|t| t.open().ok());
            gem::before(plan, launch, policy, invocation_id, &mut log, notice).map(|_| false)
        }
        Some(Build::Maven(plan)) => {
            let mut log = log.and_then(|t| t.open().ok());
            maven::before(plan, policy, invocation_id, &mut log, notice).map(|_| false)
        }
        Some(Build::Nuget(plan)) => {
            nuget::before(plan);
            Ok(false)
        }
        Some(Build::Gradle(plan)) => {
            let mut log = log.and_then(|t| t.open().ok());
            gradle::before(plan, launch, policy, invocation_id, &mut log, notice).map(|_| false)
        }
        Some(Build::Poetry(plan)) => {
            let mut log = log.and_then(|t| t.open().ok());
            poetry::before(plan, policy, invocation_id, &mut log, notice).map(|_| false)
        }
        Some(Build::Pipenv(plan)) => {
            let mut log = log.and_then(|t| t.open().ok());
            pipenv::before(plan, launch, policy, invocation_id, &mut log, notice).map(|_| false)
        }
        Some(Build::Dotnet(plan)) if plan.no_restore => {
            let mut log = log.and_then(|t| t.open().ok());
            dotnet::before(plan, policy, invocation_id, &mut log, notice).map(|_| false)
        }
        _ => Ok(false),
    }
}

/// Before `bunx` runs (Unix): its cache entry is prepared and the
/// approved packages in it built ([`bun::x_before`]): an approved build
/// that failed (bunx is not run, this is the exit code), or a dist-tag to
/// replace by the version pkgward prepared.
pub fn before_bunx(
    setup: &Setup,
    cx: &Context<'_>,
    log: Option<&record::LogTarget>,
    notice: &mut dyn FnMut(String),
) -> bun::Prepared {
    if setup.after.as_ref().map(|a| a.family) != Some(Family::BunX) {
        return bun::Prepared::default();
    }
    #[cfg(unix)]
    {
        let mut log = log.and_then(|t| t.open().ok());
        bun::x_before(cx, &mut log, notice)
    }
    #[cfg(not(unix))]
    {
        let _ = (cx, log, notice);
        bun::Prepared::default()
    }
}

/// Before `pnpm dlx` runs with the broker in force (Linux): the arguments
/// that let pnpm start every package's build when the policy lets them all
/// run ([`pnpm::dlx_before`]).
pub fn before_pnpm_dlx(
    setup: &Setup,
    cx: &Context<'_>,
    notice: &mut dyn FnMut(String),
) -> Vec<String> {
    if !setup.in_tool || !setup.pnpm_dlx() {
        return Vec::new();
    }
    #[cfg(target_os = "linux")]
    {
        pnpm::dlx_before(cx, notice)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (cx, notice);
        Vec::new()
    }
}

/// Before `pnpm dlx` / `pnpx` / `pnpm create` runs without the broker:
/// its dlx cache entry is prepared and the approved packages in it built
/// ([`pnpm::dlx_prepare`]). `Some(code)`: an approved build failed; pnpm
/// is not run and this is the exit code.
pub fn before_pnpm_dlx_prepare(
    setup: &Setup,
    cx: &Context<'_>,
    log: Option<&record::LogTarget>,
    notice: &mut dyn FnMut(String),
) -> Option<i32> {
    if setup.in_tool || !setup.pnpm_dlx() {
        return None;
    }
    let mut log = log.and_then(|t| t.open().ok());
    pnpm::dlx_prepare(cx, &mut log, notice)
}

/// Before `npx` / `npm exec` / `npm init NAME` runs without the npm
/// broker: its npx directory is prepared and the approved packages in it
/// built ([`npx::before`]). `Some(code)`: an approved build failed; npx is
/// not run and this is the exit code.
pub fn before_npx(
    setup: &Setup,
    cx: &Context<'_>,
    log: Option<&record::LogTarget>,
    notice: &mut dyn FnMut(String),
) -> Option<i32> {
    if !npx::applies(setup) {
        return None;
    }
    let mut log = log.and_then(|t| t.open().ok());
    npx::before(setup, cx, &mut log, notice)
}

/// The real tool installing for a fetch-and-execute tool before it runs:
/// unconfined (scripts off, no package code runs), under the invocation's
/// tracer, with the `attached` streams.
pub(crate) fn preparing(
    #[cfg_attr(not(target_os = "linux"), allow(unused_variables))] cx: &Context<'_>,
    program: PathBuf,
    args: Vec<OsString>,
    cwd: PathBuf,
    env: Vec<(OsString, OsString)>,
    attached: Option<crate::supervise::install_code::Attached>,
) -> crate::supervise::install_code::InstallCode {
    crate::supervise::install_code::InstallCode {
        program,
        args,
        cwd,
        env,
        sandboxed: false,
        extra_write: Vec::new(),
        #[cfg(target_os = "linux")]
        trace: cx.trace.clone(),
        attached,
        project: None,
    }
}

/// How a preparation step before a fetch-and-execute tool ended
/// ([`prepare_step`]).
pub(crate) enum Step {
    /// It succeeded; later output goes where its did.
    Done(Option<crate::supervise::install_code::Attached>),
    /// A signal stopped pkgward: this is the exit code, nothing more runs.
    Stopped(i32),
    /// It failed (said): the tool installs by itself, unprepared.
    Failed,
}

/// A preparation step before a fetch-and-execute tool `what` (npx, `pnpm
/// dlx`): the real tool (`program`, named `tool` in messages) installs into
/// its own cache with scripts off, unconfined (no package code runs),
/// traced, its output on stderr (stdout is the command's).
#[allow(clippy::too_many_arguments)]
pub(crate) fn prepare_step(
    #[cfg_attr(not(target_os = "linux"), allow(unused_variables))] cx: &Context<'_>,
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    (tool, what): (&str, &str),
    failed: &dyn Fn(String) -> String,
    notice: &mut dyn FnMut(String),
) -> Step {
    let cwd = match std::env::current_dir() {
        Ok(c) => c,
        Err(e) => {
            notice(failed(e.to_string()));
            return Step::Failed;
        }
    };
    let attached = stderr_attached();
    let ran = crate::supervise::install_code::run_install_code(&preparing(
        cx,
        program,
        args,
        cwd,
        env,
        attached.clone(),
    ));
    if let Some(sig) = crate::supervise::terminated() {
        notice(format!("stopped by signal {sig}: {what} was not run"));
        return Step::Stopped(128 + sig);
    }
    if step_succeeded(ran, tool, failed, notice) {
        Step::Done(attached)
    } else {
        Step::Failed
    }
}

/// Whether a step pkgward ran before a fetch-and-execute tool (its own
/// install into the tool's cache) ended with 0; else says so through
/// `failed` (`tool` names the program in the message).
pub(crate) fn step_succeeded(
    ran: crate::error::Result<crate::supervise::install_code::CodeEnded>,
    tool: &str,
    failed: &dyn Fn(String) -> String,
    notice: &mut dyn FnMut(String),
) -> bool {
    match ran {
        Ok(e) if e.exit_code == 0 => true,
        Ok(e) => {
            notice(failed(format!("{tool} exited {}", e.exit_code)));
            false
        }
        Err(e) => {
            notice(failed(e.to_string()));
            false
        }
    }
}

/// Whether the policy lets any npm package's install-time code run: an
/// npm approval, a default other than `deny`, or audit mode (where what
/// would be denied runs and is recorded). Else preparing a
/// fetch-and-execute tool's directory beforehand builds nothing.
pub(crate) fn npm_builds_any(cx: &Context<'_>) -> bool {
    cx.mode == Mode::Audit
        || cx.policy.scripts_default.value != ScriptsDefault::Deny
        || cx
            .policy
            .allow_entries()
            .any(|(e, _)| e.ecosystem == Ecosystem::Npm && !e.local)
}

/// pkgward's stdin, and its stderr twice (as stdout and stderr), for what
/// pkgward runs before a fetch-and-execute tool's command: its stdout is
/// the command's (Windows: the same, through [`crate::supervise::install_code::Attached`]).
pub(crate) fn stderr_attached() -> Option<crate::supervise::install_code::Attached> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let input = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
        let err = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
        Some(crate::supervise::install_code::Attached {
            stdio: std::sync::Arc::new([input, err.try_clone().ok()?, err]),
            child: Default::default(),
        })
    }
    #[cfg(not(unix))]
    Some(crate::supervise::install_code::Attached {
        child: Default::default(),
    })
}

/// The message of an invocation denied only for install-time code.
pub fn denial_message(command: &[String], reasons: &[crate::record::Reason]) -> String {
    let reasons: Vec<String> = reasons.iter().map(|r| r.message.clone()).collect();
    format!(
        "denied: `{}` would run install-time code the policy does not approve:\n  {}\n\
         fix: approve the package (`pkgward approve ECOSYSTEM:NAME`, which adds it to `[scripts] allow`), \
         or change `[scripts]` in the policy (`pkgward policy show`)",
        command.join(" "),
        reasons.join("\n  ")
    )
}

/// After the install: finds the install-time code, runs what the policy
/// allows, records everything and returns `Some(code)` when approved code
/// failed (the install fails with it, as it would have).
pub fn run_after(
    after: &After,
    cx: &Context<'_>,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Option<i32> {
    if after.family == Family::Pnpm {
        return run_after_pnpm(after, cx, log, notice);
    }
    if after.family == Family::Yarn {
        return yarn::run_after(after, cx, log, notice);
    }
    if after.family == Family::PnpmDlx {
        pnpm::dlx_after(cx, log, notice);
        return None;
    }
    if after.family == Family::BunX {
        bun::x_after(cx, log, notice);
        return None;
    }
    let eco = Ecosystem::Npm;
    let program = match after.runner {
        Runner::SameTool => Some(cx.program.to_path_buf()),
        Runner::Npm => (cx.find_tool)("npm"),
    };
    let mut found = npm::find(&after.root, after.with_root);
    if let Some(before) = &after.before {
        let now = npm::snapshot(&after.root);
        found.retain(|p| p.root || before.get(&p.rel) != now.get(&p.rel));
    }
    if !after.only.is_empty() {
        found.retain(|p| {
            after.only.iter().any(|o| {
                let o = o.trim_end_matches('/');
                *o == p.name
                    || *o == p.rel
                    || o.strip_prefix(p.name.as_str())
                        .is_some_and(|v| v.starts_with('@'))
            })
        });
    }
    let decided: Vec<(&npm::Package, ScriptDecision, Option<String>)> = found
        .iter()
        .map(|p| {
            let (d, by) = decide(cx.policy, cx.mode, eco, &p.name, &p.version, p.local);
            (p, d, by)
        })
        .collect();
    // (package rel, event) → how pkgward ran it and how it ended.
    type Outcome = (Vec<String>, std::result::Result<CodeEnded, (String, i32)>);
    let mut outcome: std::collections::BTreeMap<(String, String), Outcome> = Default::default();
    let mut failed = None;
    let deps: Vec<&npm::Package> = decided
        .iter()
        .filter(|(p, d, _)| d.runs() && !p.root)
        .map(|(p, _, _)| *p)
        .collect();
    let root = decided.iter().find(|(p, d, _)| d.runs() && p.root);
    let sandboxed = |p: &npm::Package| {
        decided
            .iter()
            .any(|(q, d, _)| q.rel == p.rel && confines(cx.policy, *d))
    };
    let run = |args: Vec<String>, cwd: PathBuf, sandboxed: bool, program: &Path| -> Outcome {
        let mut env = cx.env.to_vec();
        env.extend(
            ignore_scripts_env("false")
                .into_iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        );
        // A project's .npmrc must not turn an approved script into its
        // own code: npm's default shell, and no `node-options` from
        // config files (NODE_OPTIONS from the environment still applies).
        env.push(("npm_config_script_shell".into(), default_shell()));
        env.push(("npm_config_node_options".into(), neutral_node_options()));
        let code = InstallCode {
            program: program.to_path_buf(),
            args: args.iter().map(OsString::from).collect(),
            cwd,
            env,
            sandboxed,
            extra_write: Vec::new(),
            attached: cx.attached.clone(),
            project: None,
            #[cfg(target_os = "linux")]
            trace: cx.trace.clone(),
        };
        let mut runner = vec!["npm".to_string()];
        runner.extend(args);
        let result = run_install_code(&code).map_err(|e| (e.to_string(), e.exit_code()));
        (runner, result)
    };
    if (!deps.is_empty() || root.is_some()) && program.is_none() {
        notice(
            "cannot run the approved install-time code: npm was not found on PATH \
             (pkgward runs it with `npm rebuild`)"
                .to_string(),
        );
        failed = Some(crate::error::exit::NOT_FOUND);
    }
    // The dependencies: one `npm rebuild <path>…` per batch of packages
    // that do not depend on each other (npm runs each one's preinstall,
    // install and postinstall, or the implicit node-gyp build, and nothing
    // else), the batches in dependency order. `./`: a bare
    // `node_modules/x` would be read as a GitHub `user/repo` spec.
    'batches: for batch in npm::batches(&deps) {
        for chunk in batch.chunks(100) {
            let Some(program) = program.as_deref().filter(|_| failed.is_none()) else {
                break 'batches;
            };
            if let Some(sig) = crate::supervise::terminated() {
                notice(format!(
                    "stopped by signal {sig}: the remaining install-time code was not run"
                ));
                failed = Some(128 + sig);
                break 'batches;
            }
            let mut args = vec!["rebuild".to_string()];
            args.extend(chunk.iter().map(|p| format!("./{}", p.rel)));
            args.push("--ignore-scripts=false".into());
            args.push("--foreground-scripts".into());
            let o = run(
                args,
                after.root.clone(),
                chunk.iter().any(|p| sandboxed(p)),
                program,
            );
            let names: Vec<String> = chunk
                .iter()
                .map(|p| format!("npm:{}@{}", p.name, p.version))
                .collect();
            match &o.1 {
                Ok(e) if e.exit_code == 0 => {}
                Ok(e) => {
                    notice(format!(
                        "install-time code of {} failed (exit code {}): `{}`",
                        names.join(", "),
                        e.exit_code,
                        o.0.join(" ")
                    ));
                    failed = Some(e.exit_code);
                }
                Err((err, code)) => {
                    notice(format!(
                        "cannot run the install-time code of {}: {err}",
                        names.join(", ")
                    ));
                    failed = Some(*code);
                }
            }
            for p in chunk {
                for (event, _) in &p.scripts {
                    outcome.insert((p.rel.clone(), event.clone()), o.clone());
                }
            }
        }
    }
    // The root's scripts one by one (`npm run-script EVENT
    // --ignore-scripts` runs exactly that one), last.
    if let (Some((p, _, _)), Some(program)) = (root, program.as_deref()) {
        for (event, _) in &p.scripts {
            if failed.is_some() {
                break;
            }
            if let Some(sig) = crate::supervise::terminated() {
                notice(format!(
                    "stopped by signal {sig}: the remaining install-time code was not run"
                ));
                failed = Some(128 + sig);
                break;
            }
            let args = vec![
                "run-script".into(),
                event.clone(),
                "--ignore-scripts".into(),
            ];
            let o = run(args, p.dir.clone(), sandboxed(p), program);
            match &o.1 {
                Ok(e) if e.exit_code == 0 => {}
                Ok(e) => {
                    notice(format!(
                        "install-time code of npm:{}@{} failed (exit code {}): `{}`",
                        p.name,
                        p.version,
                        e.exit_code,
                        o.0.join(" ")
                    ));
                    failed = Some(e.exit_code);
                }
                Err((err, code)) => {
                    notice(format!(
                        "cannot run the install-time code of npm:{}@{}: {err}",
                        p.name, p.version
                    ));
                    failed = Some(*code);
                }
            }
            outcome.insert((p.rel.clone(), event.clone()), o);
        }
    }
    // The records, in dependency order.
    let mut denied: Vec<(&npm::Package, String)> = Vec::new();
    for (p, decision, approved_by) in &decided {
        for (event, command) in &p.scripts {
            let mut r = ScriptRecord {
                kind: "script",
                invocation_id: cx.invocation_id.to_string(),
                time: record::now_rfc3339(),
                ecosystem: eco,
                package: p.name.clone(),
                version: p.version.clone(),
                path: p.rel.clone(),
                script: event.to_string(),
                command: record::redact::redact_urls(command).into_owned(),
                decision: *decision,
                approved_by: approved_by.clone(),
                ran: false,
                runner: None,
                exit_code: None,
                signal: None,
                duration_ms: None,
                error: None,
                sandbox: None,
            };
            match outcome.get(&(p.rel.clone(), event.clone())) {
                Some((runner, result)) => {
                    r.runner = Some(runner.clone());
                    match result {
                        Ok(e) => {
                            r.ran = true;
                            r.exit_code = Some(e.exit_code);
                            r.signal = e.signal;
                            r.duration_ms = Some((e.duration.as_secs_f64() * 1e6).round() / 1e3);
                            r.sandbox = e.sandbox.clone();
                        }
                        Err((err, _)) => r.error = Some(err.clone()),
                    }
                }
                // npm stops at the first failing script; so does pkgward.
                None if decision.runs() => {
                    r.error = Some("not run: earlier install-time code failed".into());
                }
                None => {}
            }
            append(log, &r, notice);
        }
        if !decision.runs() {
            denied.push((
                p,
                approve_hint(cx.policy, eco, &p.name, &p.version, p.local),
            ));
        }
    }
    if !denied.is_empty() {
        let npx_key = after
            .root
            .parent()
            .filter(|p| p.file_name().is_some_and(|n| n == "_npx"))
            .and_then(|_| after.root.file_name())
            .map(|k| k.to_string_lossy().into_owned());
        let rerun = match &npx_key {
            Some(k) => Rerun::Npx(k),
            None => Rerun::Rebuild("npm"),
        };
        notice(denied_message(&denied, rerun));
    }
    failed
}

/// pnpm: the approved packages of the virtual store that the install
/// added or replaced (or that `rebuild` names) run through one `pnpm
/// rebuild NAME…` (pnpm orders them by their dependencies) with
/// `PNPM_CONFIG_ALLOW_BUILDS` naming exactly the approved versions; then
/// the project's own scripts (and a `node-linker=hoisted` tree's packages)
/// the npm way ([`run_after`] with the real npm).
fn run_after_pnpm(
    after: &After,
    cx: &Context<'_>,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Option<i32> {
    let eco = Ecosystem::Npm;
    let mut found = pnpm::find(&after.root);
    if let Some(before) = &after.before_store {
        let now = pnpm::snapshot(&after.root);
        found.retain(|p| before.get(&p.rel) != now.get(&p.rel));
    }
    if !after.only.is_empty() {
        found.retain(|p| {
            after.only.iter().any(|o| {
                *o == p.name
                    || o.strip_prefix(p.name.as_str())
                        .is_some_and(|v| v.starts_with('@'))
            })
        });
    }
    let decided: Vec<(&npm::Package, ScriptDecision, Option<String>)> = found
        .iter()
        .map(|p| {
            let (d, by) = decide(cx.policy, cx.mode, eco, &p.name, &p.version, p.local);
            (p, d, by)
        })
        .collect();
    let rec =
        |p: &npm::Package, d: ScriptDecision, by: &Option<String>, event: &str, command: &str| {
            ScriptRecord {
                kind: "script",
                invocation_id: cx.invocation_id.to_string(),
                time: record::now_rfc3339(),
                ecosystem: eco,
                package: p.name.clone(),
                version: p.version.clone(),
                path: p.rel.clone(),
                script: event.to_string(),
                command: record::redact::redact_urls(command).into_owned(),
                decision: d,
                approved_by: by.clone(),
                ran: false,
                runner: None,
                exit_code: None,
                signal: None,
                duration_ms: None,
                error: None,
                sandbox: None,
            }
        };
    let mut denied: Vec<(&npm::Package, String)> = Vec::new();
    let mut run: Vec<&npm::Package> = Vec::new();
    for (p, d, by) in &decided {
        if d.runs() {
            run.push(p);
        } else {
            for (event, command) in &p.scripts {
                append(log, &rec(p, *d, by, event, command), notice);
            }
            denied.push((
                p,
                approve_hint(cx.policy, eco, &p.name, &p.version, p.local),
            ));
        }
    }
    let mut failed = None;
    if !run.is_empty() {
        let not_run: Vec<&npm::Package> = denied.iter().map(|(p, _)| *p).collect();
        let mut names: Vec<String> = run.iter().map(|p| p.name.clone()).collect();
        names.sort();
        names.dedup();
        let mut args = vec!["rebuild".to_string()];
        args.extend(names.iter().cloned());
        let mut env = cx.env.to_vec();
        for (k, v) in ignore_scripts_env("false") {
            env.push((k.into(), v.into()));
        }
        env.push(("PNPM_CONFIG_IGNORE_SCRIPTS".into(), "false".into()));
        env.push((
            "PNPM_CONFIG_ALLOW_BUILDS".into(),
            pnpm::allow_builds(&run, &not_run).into(),
        ));
        env.push((
            "PNPM_CONFIG_DANGEROUSLY_ALLOW_ALL_BUILDS".into(),
            "false".into(),
        ));
        // A project's config must not turn an approved script into its own code.
        env.push(("PNPM_CONFIG_SCRIPT_SHELL".into(), default_shell()));
        env.push(("npm_config_script_shell".into(), default_shell()));
        let code = InstallCode {
            program: cx.program.to_path_buf(),
            args: args.iter().map(OsString::from).collect(),
            cwd: after.root.clone(),
            env,
            sandboxed: decided.iter().any(|(_, d, _)| confines(cx.policy, *d)),
            extra_write: Vec::new(),
            attached: cx.attached.clone(),
            project: None,
            #[cfg(target_os = "linux")]
            trace: cx.trace.clone(),
        };
        let mut runner = vec!["pnpm".to_string()];
        runner.extend(args.iter().cloned());
        let result = if let Some(sig) = crate::supervise::terminated() {
            notice(format!(
                "stopped by signal {sig}: the remaining install-time code was not run"
            ));
            failed = Some(128 + sig);
            None
        } else {
            Some(run_install_code(&code))
        };
        if let Some(result) = result {
            for (p, d, by) in decided.iter().filter(|(_, d, _)| d.runs()) {
                for (event, command) in &p.scripts {
                    let mut r = rec(p, *d, by, event, command);
                    r.ran = result.is_ok();
                    r.runner = Some(runner.clone());
                    match &result {
                        Ok(e) => {
                            r.exit_code = Some(e.exit_code);
                            r.signal = e.signal;
                            r.duration_ms = Some((e.duration.as_secs_f64() * 1e6).round() / 1e3);
                            r.sandbox = e.sandbox.clone();
                        }
                        Err(err) => r.error = Some(err.to_string()),
                    }
                    append(log, &r, notice);
                }
            }
            match result {
                Ok(e) if e.exit_code == 0 => {}
                Ok(e) => {
                    notice(format!(
                        "install-time code failed (exit code {}): `{}`",
                        e.exit_code,
                        runner.join(" ")
                    ));
                    failed = Some(e.exit_code);
                }
                Err(err) => {
                    notice(format!("cannot run the approved install-time code: {err}"));
                    failed = Some(err.exit_code());
                }
            }
        }
    }
    if !denied.is_empty() {
        let entry = after
            .root
            .parent()
            .filter(|_| pnpm::is_dlx_entry(&after.root));
        let rerun = match entry {
            Some(e) => Rerun::DlxEntry(e),
            None => Rerun::Rebuild("pnpm"),
        };
        notice(denied_message(&denied, rerun));
    }
    if failed.is_some() {
        return failed;
    }
    // The project's own scripts, and a hoisted (`node-linker=hoisted`)
    // tree's packages, the npm way.
    let rest = After {
        family: Family::Npm,
        runner: Runner::Npm,
        before_store: None,
        ..after.clone()
    };
    run_after(&rest, cx, log, notice)
}

/// npm's `node-options` for the scripts it runs, so that a project's
/// `.npmrc` cannot make an approved script load its code: the
/// environment's NODE_OPTIONS (which applies anyway), else a neutral value
/// (npm ignores an empty one, so V8's default).
pub(crate) fn neutral_node_options() -> OsString {
    std::env::var_os("NODE_OPTIONS")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| OsString::from("--stack-trace-limit=10"))
}

/// npm's default `script-shell`: `sh` on Unix, `%ComSpec%` (or `cmd.exe`) on Windows.
fn default_shell() -> OsString {
    if cfg!(windows) {
        std::env::var_os("ComSpec").unwrap_or_else(|| OsString::from("cmd.exe"))
    } else {
        OsString::from("sh")
    }
}

/// The subdirectories of `dir` written since `start` (a fetch-and-execute
/// tool's cache entries: what this run installed).
pub(crate) fn fresh_dirs(dir: &Path, start: std::time::SystemTime) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            std::fs::symlink_metadata(p)
                .ok()
                .filter(|m| m.is_dir())
                .and_then(|m| m.modified().ok())
                .is_some_and(|t| t >= start)
        })
        .collect()
}

/// A fetch-and-execute tool (`pnpm dlx`, `bunx`) installed `found` without
/// building it: each one is decided and recorded as not run (an approved
/// one with the error `why`). Returns the denied ones and the approved
/// ones (`name@version`), for [`list_unbuilt`].
pub(crate) fn record_unbuilt(
    found: Vec<npm::Package>,
    why: &str,
    cx: &Context<'_>,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> (Vec<npm::Package>, Vec<String>) {
    let mut denied = Vec::new();
    let mut approved = Vec::new();
    for p in found {
        let (d, by) = decide(
            cx.policy,
            cx.mode,
            Ecosystem::Npm,
            &p.name,
            &p.version,
            p.local,
        );
        for (event, command) in &p.scripts {
            let mut r = yarn::record(cx, &p.name, &p.version, &p.rel, event, command, d, &by);
            if d.runs() {
                r.error = Some(why.to_string());
            }
            append(log, &r, notice);
        }
        if d.runs() {
            approved.push(format!("{}@{}", p.name, p.version));
        } else {
            denied.push(p);
        }
    }
    (denied, approved)
}

/// The approved packages a fetch-and-execute tool did not build (`what`:
/// why), then the one list of the denied ones with their approve commands.
pub(crate) fn list_unbuilt(
    denied: &[npm::Package],
    approved: &[String],
    what: &str,
    notice: &mut dyn FnMut(String),
) {
    if !approved.is_empty() {
        notice(format!("{what}: {}", approved.join(", ")));
    }
    if !denied.is_empty() {
        let listed: Vec<(&npm::Package, String)> = denied
            .iter()
            .map(|p| {
                (
                    p,
                    approve_command(Ecosystem::Npm, &p.name, &p.version, p.local),
                )
            })
            .collect();
        notice(denied_message(&listed, Rerun::None));
    }
}

/// [`record_unbuilt`] then [`list_unbuilt`]: `why` for the records, `what`
/// for the list of approved packages not built.
pub(crate) fn report_unbuilt(
    found: Vec<npm::Package>,
    why: &str,
    what: &str,
    cx: &Context<'_>,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) {
    let (denied, approved) = record_unbuilt(found, why, cx, log, notice);
    list_unbuilt(&denied, &approved, what, notice);
}

/// How the denied packages' scripts run once approved: the tool's own
/// command for that (`rebuild`), or its next install.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rerun<'a> {
    /// Nothing to say (the tool runs them anew each time, or cannot).
    None,
    /// `PROGRAM rebuild NAME…` (`npm`, `npm -g`, `pnpm`); the project's own
    /// scripts run on its next install.
    Rebuild(&'a str),
    /// They run on the tool's next install (yarn 2+).
    NextInstall(&'a str),
    /// `npx`: its directory is kept and not built again; removing it from
    /// npm's npx cache (this key) makes the next run install and build anew.
    Npx(&'a str),
    /// `pnpm dlx` without the broker: its cache entry (under this
    /// directory) is kept and not built again; removing the directory
    /// makes the next run install and build anew.
    DlxEntry(&'a Path),
    /// `npm pack`/`cache add`/`diff`/`publish` (this command): packing
    /// what it names runs that package's `prepack`/`prepare`, no install.
    Fetch(&'a str),
}

fn denied_message(denied: &[(&npm::Package, String)], rerun: Rerun<'_>) -> String {
    let what = match rerun {
        Rerun::Fetch(command) => format!(
            "scripts that `npm {command}` runs to pack a package (`prepack`, `prepare`) not run"
        ),
        _ => "install-time code not run".to_string(),
    };
    let mut m = format!(
        "{what} ({} package{} not approved by `[scripts]` in the policy):",
        denied.len(),
        if denied.len() == 1 { "" } else { "s" }
    );
    let mut seen = std::collections::BTreeSet::new();
    for (p, approve) in denied {
        let scripts: Vec<String> = p
            .scripts
            .iter()
            .map(|(e, c)| format!("{e}: {}", shorten(c)))
            .collect();
        m.push_str(&format!(
            "\n  npm:{}@{} ({}) {}",
            p.name,
            p.version,
            p.rel,
            scripts.join("; ")
        ));
        if seen.insert(approve.clone()) {
            m.push_str(&format!("\n    approve: {approve}"));
        }
    }
    if let Rerun::Fetch(command) = rerun {
        m.push_str(&format!(
            "\n(`npm {command}` went on without them: a tarball made now lacks what they build; once approved, `npm {command}` again runs them)"
        ));
        return m;
    }
    m.push_str(
        "\n(the install itself succeeded; a package that needs its script may not work until it is approved)",
    );
    let mut names: Vec<&str> = denied
        .iter()
        .filter(|(p, _)| !p.root)
        .map(|(p, _)| p.name.as_str())
        .collect();
    names.dedup();
    let own = denied.iter().any(|(p, _)| p.root);
    match rerun {
        Rerun::Rebuild(tool) if !names.is_empty() => {
            m.push_str(&format!(
                "\nonce approved, `{tool} rebuild {}` runs {}",
                names.join(" "),
                if names.len() == 1 { "it" } else { "them" }
            ));
            if own {
                m.push_str(" (the project's own scripts: its next install)");
            }
        }
        Rerun::Rebuild(_) if own => m.push_str("\nonce approved, the next install runs them"),
        Rerun::NextInstall(tool) => {
            m.push_str(&format!("\nonce approved, the next `{tool} install` runs them"))
        }
        Rerun::Npx(key) => m.push_str(&format!(
            "\nonce approved, `npm cache npx rm {key}` makes the next run install and build them anew"
        )),
        Rerun::DlxEntry(dir) => m.push_str(&format!(
            "\nonce approved, removing {} makes the next run install and build them anew",
            dir.display()
        )),
        _ => {}
    }
    m
}

fn shorten(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    if s.chars().count() > 80 {
        let cut: String = s.chars().take(77).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn append(log: &mut Option<AuditLog>, rec: &ScriptRecord, notice: &mut dyn FnMut(String)) {
    if let Some(l) = log.as_mut() {
        if let Err(e) = l.append(rec) {
            notice(format!("warning: {e}"));
        }
    }
}

/// A variable as the tool sees it: its launch environment (the last
/// setting wins), else pkgward's own.
fn launch_var(env: &[(OsString, OsString)], key: &str) -> Option<OsString> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var_os(key))
}

/// Records approved install-time code that ran inside the tool's own run
/// (gem, bundle, mvn, gradle): `ran`, the tool's exit code, the tool as runner.
fn record_ran(
    records: impl IntoIterator<Item = ScriptRecord>,
    code: i32,
    runner: &str,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) {
    for mut r in records {
        r.ran = true;
        r.exit_code = Some(code);
        r.runner = Some(vec![runner.to_string()]);
        append(log, &r, notice);
    }
}
