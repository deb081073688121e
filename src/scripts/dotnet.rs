//! dotnet: a NuGet package's `build/`, `buildTransitive/` and
//! `buildMultiTargeting/` `.props`/`.targets` are imported into every
//! build of a project that references it (MSBuild code: tasks, `Exec`),
//! and `tools/init.ps1` / `tools/install.ps1` run in Visual Studio's
//! package manager. NuGet's restore does not import them
//! (`ExcludeRestorePackageImports`), so a building command is split like
//! cargo's:
//!
//! 1. **restore** — the shim runs `dotnet restore` with the user's project
//!    and restore options instead of the command (network, approved
//!    sources, through the egress proxy);
//! 2. **decide** — every `obj/project.assets.json` under the project lists
//!    the restored packages and their files ([`from_assets`]); each package
//!    with build files or PowerShell scripts is decided as
//!    `nuget:NAME@VERSION` (an exact version); in enforce mode an
//!    unapproved one denies the command (exit 77) before anything is built;
//! 3. **build** — the user's command with `--no-restore` through
//!    [`crate::supervise::install_code::run_install_code`]: `build`,
//!    `publish`, `pack` sandboxed; `run`, `test`, `watch` (the user's own
//!    program and tests) unsandboxed.
//!
//! A command that says `--no-restore` itself is checked the same way
//! against what an earlier restore left, before it runs.
//! The `nuget` CLI (`packages.config`) is checked by [`super::nuget`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::policy::{Mode, Policy, ScriptsDefault};
use crate::record::{self, AuditLog};
use crate::supervise::install_code::{run_install_code, InstallCode};
use crate::tools::Ecosystem;

use super::{ScriptDecision, ScriptRecord};

const BUILDING: &[&str] = &["build", "run", "test", "publish", "pack", "watch"];

/// dotnet options that take a value (of the building subcommands).
const VALUE: &[&str] = &[
    "-c",
    "--configuration",
    "-f",
    "--framework",
    "-r",
    "--runtime",
    "-o",
    "--output",
    "-s",
    "--source",
    "--configfile",
    "--packages",
    "-v",
    "--verbosity",
    "--project",
    "-a",
    "--arch",
    "--os",
    "--version-suffix",
    "-l",
    "--logger",
    "--filter",
    "--settings",
    "--launch-profile",
    "--property",
];

#[derive(Clone, Debug)]
pub struct Plan {
    pub sub: String,
    /// The user said `--no-restore`: checked before the command runs.
    pub no_restore: bool,
    /// Where the projects are (the project file's directory, or the cwd).
    pub dir: PathBuf,
    real_args: OnceLock<Vec<OsString>>,
}

/// A restored package with install-time code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    pub version: String,
    /// The package's files that run: `build/x.targets`, `tools/install.ps1`…
    pub files: Vec<String>,
}

/// The subcommand index, skipping dotnet's own options before it.
fn sub_at(args: &[String]) -> Option<usize> {
    args.iter().position(|a| !a.starts_with('-'))
}

pub fn plan(args: &[String], cwd: &Path) -> Option<Plan> {
    let at = sub_at(args)?;
    let sub = args[at].as_str();
    if !BUILDING.contains(&sub) {
        return None;
    }
    let rest = &args[at + 1..];
    let end = rest.iter().position(|a| a == "--").unwrap_or(rest.len());
    let rest = &rest[..end];
    if rest.iter().any(|a| a == "-h" || a == "--help" || a == "-?") {
        return None;
    }
    let no_restore = rest.iter().any(|a| a.eq_ignore_ascii_case("--no-restore"));
    let mut dir = cwd.to_path_buf();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let value = if inline.is_none() && VALUE.contains(&name) {
            it.next().cloned()
        } else {
            inline
        };
        let target = if name == "--project" {
            value
        } else if !a.starts_with('-') {
            Some(a.clone())
        } else {
            None
        };
        if let Some(t) = target {
            let p = cwd.join(t);
            dir = if p.is_dir() {
                p
            } else {
                p.parent().map(Path::to_path_buf).unwrap_or(dir)
            };
            break;
        }
    }
    Some(Plan {
        sub: sub.to_string(),
        no_restore,
        dir,
        real_args: OnceLock::new(),
    })
}

impl Plan {
    /// The restore in place of the user's command (kept for afterwards).
    pub fn apply(&self, launch: &mut crate::supervise::Launch) {
        let _ = self.real_args.set(launch.args.clone());
        if self.no_restore {
            return;
        }
        let args: Vec<String> = launch
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let Some(at) = sub_at(&args) else {
            return;
        };
        let mut out: Vec<OsString> = launch.args[..at].to_vec();
        out.push("restore".into());
        let rest = &args[at + 1..];
        let end = rest.iter().position(|a| a == "--").unwrap_or(rest.len());
        let mut it = rest[..end].iter();
        while let Some(a) = it.next() {
            let lower = a.to_ascii_lowercase();
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v)),
                _ => (a.clone(), None),
            };
            let takes = inline.is_none() && VALUE.contains(&name.as_str());
            let value = if takes { it.next().cloned() } else { None };
            let keep = matches!(
                name.as_str(),
                "-s" | "--source"
                    | "--configfile"
                    | "--packages"
                    | "-r"
                    | "--runtime"
                    | "-v"
                    | "--verbosity"
                    | "--no-cache"
                    | "--locked-mode"
                    | "--force-evaluate"
                    | "--disable-parallel"
                    | "--interactive"
                    | "--use-lock-file"
                    | "--property"
            ) || lower.starts_with("-p:")
                || lower.starts_with("/p:")
                || lower.starts_with("--property:");
            if name == "--project" {
                out.extend(value.map(OsString::from));
            } else if !a.starts_with('-') {
                out.push(a.into());
            } else if keep {
                out.push(a.into());
                out.extend(value.map(OsString::from));
            }
        }
        launch.args = out;
    }
}

/// The packages of one `project.assets.json` with install-time code.
pub fn from_assets(json: &str) -> std::result::Result<Vec<Found>, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("cannot read project.assets.json: {e}"))?;
    let libs = v
        .get("libraries")
        .and_then(|l| l.as_object())
        .ok_or("project.assets.json has no `libraries`")?;
    let mut out = Vec::new();
    for (key, lib) in libs {
        if lib.get("type").and_then(|t| t.as_str()) != Some("package") {
            continue;
        }
        let Some((name, version)) = key.split_once('/') else {
            continue;
        };
        let files: Vec<String> = lib
            .get("files")
            .and_then(|f| f.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str())
                    .filter(|f| runs(f))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if !files.is_empty() {
            out.push(Found {
                name: name.to_string(),
                version: version.to_string(),
                files,
            });
        }
    }
    Ok(out)
}

/// Whether a package file is imported into builds or run by tooling.
pub fn runs(file: &str) -> bool {
    let f = file.replace('\\', "/").to_ascii_lowercase();
    let build = [
        "build/",
        "buildtransitive/",
        "buildmultitargeting/",
        "buildcrossTargeting/",
    ]
    .iter()
    .any(|d| f.starts_with(&d.to_ascii_lowercase()))
        && (f.ends_with(".props") || f.ends_with(".targets"));
    let ps = f.starts_with("tools/")
        && (f.ends_with("/init.ps1")
            || f.ends_with("/install.ps1")
            || f == "tools/init.ps1"
            || f == "tools/install.ps1");
    build || ps
}

/// Every `obj/project.assets.json` below `dir` (bounded walk).
fn assets_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    let mut visited = 0;
    while let Some((d, depth)) = stack.pop() {
        visited += 1;
        if visited > 5000 {
            break;
        }
        let a = d.join("obj").join("project.assets.json");
        if a.is_file() {
            out.push(a);
        }
        if depth >= 6 {
            continue;
        }
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let n = name.to_string_lossy();
            if n.starts_with('.') || matches!(n.as_ref(), "bin" | "obj" | "node_modules") {
                continue;
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push((e.path(), depth + 1));
            }
        }
    }
    out.sort();
    out
}

fn find(dir: &Path) -> std::result::Result<Vec<Found>, String> {
    let mut out = Vec::new();
    for a in assets_files(dir) {
        let text =
            std::fs::read_to_string(&a).map_err(|e| format!("cannot read {}: {e}", a.display()))?;
        out.extend(from_assets(&text).map_err(|e| format!("{}: {e}", a.display()))?);
    }
    out.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    out.dedup();
    Ok(out)
}

/// The packages with install-time code that the `obj/project.assets.json`
/// files below `dir` list (for the `nuget` CLI's restore).
pub(crate) fn find_assets(dir: &Path) -> std::result::Result<Vec<Found>, String> {
    find(dir)
}

/// The `script` record of one file of a package.
pub(crate) fn record(
    invocation_id: &str,
    f: &Found,
    file: &str,
    d: ScriptDecision,
    by: &Option<String>,
) -> ScriptRecord {
    rec(invocation_id, f, file, d, by)
}

fn rec(
    invocation_id: &str,
    f: &Found,
    file: &str,
    d: ScriptDecision,
    by: &Option<String>,
) -> ScriptRecord {
    ScriptRecord {
        kind: "script",
        invocation_id: invocation_id.to_string(),
        time: record::now_rfc3339(),
        ecosystem: Ecosystem::Nuget,
        package: f.name.clone(),
        version: f.version.clone(),
        path: format!("{}/{}", f.name.to_ascii_lowercase(), f.version),
        script: if file.ends_with(".ps1") {
            "powershell".into()
        } else {
            "msbuild-import".into()
        },
        command: file.to_string(),
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
}

type Decided = Vec<(Found, ScriptDecision, Option<String>)>;

/// Finds and decides; `Err(message)` when the command must not run.
fn check(
    dir: &Path,
    policy: &Policy,
    mode: Mode,
    invocation_id: &str,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> std::result::Result<Decided, String> {
    let found = match find(dir) {
        Ok(f) => f,
        Err(e) if mode == Mode::Enforce => {
            return Err(format!(
                "denied: cannot tell which package build files the build would import: {e}"
            ))
        }
        Err(e) => {
            notice(format!("warning: {e}; the build runs anyway (audit mode)"));
            Vec::new()
        }
    };
    let decided: Decided = found
        .into_iter()
        .map(|f| {
            let (d, by) = super::decide(policy, mode, Ecosystem::Nuget, &f.name, &f.version, false);
            (f, d, by)
        })
        .collect();
    let denied: Vec<&(Found, ScriptDecision, Option<String>)> =
        decided.iter().filter(|(_, d, _)| !d.runs()).collect();
    if denied.is_empty() {
        return Ok(decided);
    }
    for (f, d, by) in &decided {
        for file in &f.files {
            super::append(log, &rec(invocation_id, f, file, *d, by), notice);
        }
    }
    let mut m = format!(
        "denied: the build would import install-time code of {} NuGet package{} not approved by `[scripts]` \
         in the policy (nothing was built):",
        denied.len(),
        if denied.len() == 1 { "" } else { "s" }
    );
    for (f, _, _) in &denied {
        m.push_str(&format!(
            "\n  nuget:{}@{} ({})\n    approve: {}",
            f.name,
            f.version,
            f.files.join(", "),
            super::approve_command(Ecosystem::Nuget, &f.name, &f.version, false)
        ));
    }
    Err(m)
}

fn record_ran(
    invocation_id: &str,
    decided: &Decided,
    runner: &[String],
    result: &Result<crate::supervise::install_code::CodeEnded>,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) {
    for (f, d, by) in decided {
        for file in &f.files {
            let mut r = rec(invocation_id, f, file, *d, by);
            r.runner = Some(runner.to_vec());
            match result {
                Ok(e) => {
                    r.ran = true;
                    r.exit_code = Some(e.exit_code);
                    r.signal = e.signal;
                    r.duration_ms = Some((e.duration.as_secs_f64() * 1e6).round() / 1e3);
                    r.sandbox = e.sandbox.clone();
                }
                Err(err) => r.error = Some(err.to_string()),
            }
            super::append(log, &r, notice);
        }
    }
}

/// `--no-restore` given by the user: checked before the command runs.
pub fn before(
    plan: &Plan,
    policy: &Policy,
    invocation_id: &str,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Result<()> {
    if !plan.no_restore {
        return Ok(());
    }
    check(
        &plan.dir,
        policy,
        policy.mode.value,
        invocation_id,
        log,
        notice,
    )
    .map(|_| ())
    .map_err(|message| Error::Denied { message })
}

/// After the restore: decide, then build with `--no-restore`.
pub fn after(
    plan: &Plan,
    cx: &super::Context<'_>,
    code: i32,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> i32 {
    if plan.no_restore || code != 0 {
        return code;
    }
    let decided = match check(&plan.dir, cx.policy, cx.mode, cx.invocation_id, log, notice) {
        Ok(d) => d,
        Err(m) => {
            notice(m);
            return crate::error::exit::DENIED;
        }
    };
    let mut args = plan.real_args.get().cloned().unwrap_or_default();
    let s: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if sub_at(&s).is_none() {
        return code;
    }
    // Before a `--` (what follows it is the program's or test runner's).
    let end = s.iter().position(|a| a == "--").unwrap_or(s.len());
    args.insert(end, "--no-restore".into());
    let sandboxed = cx.mode == Mode::Enforce
        && cx.policy.scripts_default.value != ScriptsDefault::Allow
        && matches!(plan.sub.as_str(), "build" | "publish" | "pack");
    let runner: Vec<String> = std::iter::once("dotnet".to_string())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect();
    let result = run_install_code(&InstallCode {
        program: cx.program.to_path_buf(),
        args,
        cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        env: cx.env.to_vec(),
        sandboxed,
        extra_write: Vec::new(),
        attached: None,
        project: None,
        #[cfg(target_os = "linux")]
        trace: cx.trace.clone(),
    });
    record_ran(cx.invocation_id, &decided, &runner, &result, log, notice);
    match result {
        Ok(e) => e.exit_code,
        Err(err) => {
            notice(format!("cannot run dotnet: {err}"));
            err.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(a: &[&str]) -> Vec<String> {
        a.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn package_files_that_run() {
        for (f, want) in [
            ("build/X.targets", true),
            ("build/net8.0/X.props", true),
            ("buildTransitive/X.targets", true),
            ("buildMultiTargeting/X.targets", true),
            ("build\\X.targets", true),
            ("tools/install.ps1", true),
            ("tools/net45/init.ps1", true),
            ("build/readme.txt", false),
            ("lib/net8.0/X.dll", false),
            ("content/build/X.targets", false),
            ("tools/helper.ps1", false),
        ] {
            assert_eq!(runs(f), want, "{f}");
        }
    }

    #[test]
    fn assets() {
        let json = r#"{"version": 3, "libraries": {
            "Evil.Build/1.0.0": {"type": "package", "path": "evil.build/1.0.0",
               "files": ["build/Evil.Build.targets", "lib/net8.0/E.dll", "evil.build.nuspec"]},
            "Plain/2.0.0": {"type": "package", "files": ["lib/net8.0/P.dll"]},
            "Local/1.0.0": {"type": "project", "path": "../Local/Local.csproj"},
            "Ps/3.0.0": {"type": "package", "files": ["tools/install.ps1"]}
        }}"#;
        let got = from_assets(json).unwrap();
        let names: Vec<(&str, &str)> = got
            .iter()
            .map(|f| (f.name.as_str(), f.version.as_str()))
            .collect();
        assert_eq!(names, [("Evil.Build", "1.0.0"), ("Ps", "3.0.0")]);
        assert_eq!(got[0].files, ["build/Evil.Build.targets"]);
        assert!(from_assets("{").is_err());
        assert!(from_assets("{}").is_err());
        assert!(from_assets(r#"{"libraries": {"x": 1}}"#)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn which_commands_are_split_and_the_restore() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("app")).unwrap();
        std::fs::write(d.path().join("app/app.csproj"), "<Project/>").unwrap();
        assert!(plan(&s(&["restore"]), d.path()).is_none());
        assert!(plan(&s(&["--info"]), d.path()).is_none());
        assert!(plan(&s(&["build", "--help"]), d.path()).is_none());
        let p = plan(&s(&["build", "app/app.csproj", "-c", "Release"]), d.path()).unwrap();
        assert_eq!(p.dir, d.path().join("app"));
        assert!(!p.no_restore);
        let p = plan(&s(&["run", "--project", "app", "--", "x"]), d.path()).unwrap();
        assert_eq!(p.dir, d.path().join("app"));
        assert!(
            plan(&s(&["test", "--no-restore"]), d.path())
                .unwrap()
                .no_restore
        );
        let args = s(&[
            "build",
            "app/app.csproj",
            "-c",
            "Release",
            "--source",
            "https://n.test/v3/index.json",
            "-p:Foo=1",
            "--no-cache",
            "-o",
            "out",
        ]);
        let p = plan(&args, d.path()).unwrap();
        let mut launch = crate::supervise::Launch {
            program: "dotnet".into(),
            arg0: None,
            args: args.iter().map(OsString::from).collect(),
            env: Vec::new(),
            #[cfg(target_os = "linux")]
            trace: None,
        };
        p.apply(&mut launch);
        let got: Vec<String> = launch
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            got,
            s(&[
                "restore",
                "app/app.csproj",
                "--source",
                "https://n.test/v3/index.json",
                "-p:Foo=1",
                "--no-cache"
            ])
        );
    }
}
