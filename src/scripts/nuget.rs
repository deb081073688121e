//! The `nuget` CLI (`install`, `restore`, `update`): packages.config-style
//! installs extract each package into a packages folder, where its
//! `build/`, `buildTransitive/`, `buildMultiTargeting/` `.props`/`.targets`
//! are imported by the project's next build (MSBuild code) and
//! `tools/init.ps1` / `tools/install.ps1` run in Visual Studio's package
//! manager. nuget itself runs none of them, so pkgward checks **after** it
//! ran and before anything else could ([`after`]):
//!
//! * the packages folder is listed before the command ([`before`]) and
//!   after it; every package it added — and every one a `packages.config`
//!   named on the command line lists — is read where nuget extracted it
//!   (its `.nuspec` for the id and version, its files with
//!   [`super::dotnet::runs`]);
//! * `nuget restore` of PackageReference projects also leaves
//!   `obj/project.assets.json`: read like `dotnet`'s;
//! * each package with such files is decided as `nuget:NAME@VERSION` (an
//!   exact version). In enforce mode an unapproved one makes the command
//!   fail with exit 77 and the approve commands, and the packages this
//!   command extracted are removed again, so no build imports their code.
//!
//! The packages folder: `-OutputDirectory` (install), `-PackagesDirectory`
//! or `-SolutionDirectory`/packages (restore), `-RepositoryPath` (update),
//! else the nearest `NuGet.Config`'s `repositoryPath`, else the working
//! directory (install) or `packages` beside the solution or
//! `packages.config` (restore, update). Records say `ran: false`: nuget
//! never runs this code; the build that imports it does (`dotnet build` is
//! checked by [`super::dotnet`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::classify::maven::xml;
use crate::policy::Mode;
use crate::record::AuditLog;
use crate::tools::Ecosystem;

use super::dotnet::{self, Found};
use super::ScriptDecision;

#[derive(Clone, Debug)]
pub struct Plan {
    pub sub: String,
    /// Where nuget extracts the packages.
    pub out_dir: PathBuf,
    /// Other folders watched for new packages (the working directory,
    /// `packages` beside the target), in case the options or a
    /// configuration put them there after all.
    pub also: Vec<PathBuf>,
    /// A `packages.config` named on the command line.
    pub config: Option<PathBuf>,
    /// Where PackageReference projects' `obj/` are (restore).
    pub project_dir: Option<PathBuf>,
    /// Each watched folder's entries before the command.
    before: Arc<Mutex<Vec<BTreeSet<String>>>>,
}

/// nuget.exe switches (lower case, without `-`/`/`): nuget accepts any
/// unambiguous prefix of one.
const FLAGS: &[&str] = &[
    "excludeversion",
    "x",
    "prerelease",
    "nocache",
    "directdownload",
    "disableparallelprocessing",
    "noninteractive",
    "requireconsent",
    "force",
    "recursive",
    "safe",
    "self",
    "forceenglishoutput",
    "noservicecheck",
    "lockedmode",
    "uselockfile",
    "forceevaluate",
];

/// nuget.exe options that take a value.
const VALUE: &[&str] = &[
    "outputdirectory",
    "packagesdirectory",
    "solutiondirectory",
    "repositorypath",
    "source",
    "fallbacksource",
    "version",
    "configfile",
    "framework",
    "verbosity",
    "msbuildpath",
    "msbuildversion",
    "project2projecttimeout",
    "dependencyversion",
    "packagesavemode",
    "id",
    "fileconflictaction",
    "apikey",
];

/// The option an argument names (its full lower-case name when it is an
/// unambiguous prefix of a known one, else as written).
fn opt_name(a: &str) -> Option<String> {
    let n = a.strip_prefix('-').or_else(|| a.strip_prefix('/'))?;
    let n = n.strip_prefix('-').unwrap_or(n).to_ascii_lowercase();
    if n.is_empty() || VALUE.contains(&n.as_str()) || FLAGS.contains(&n.as_str()) {
        return Some(n);
    }
    let mut hits = VALUE
        .iter()
        .chain(FLAGS.iter())
        .filter(|o| o.starts_with(n.as_str()));
    match (hits.next(), hits.next()) {
        (Some(one), None) => Some(one.to_string()),
        _ => Some(n),
    }
}

/// The plan for a `nuget` command that extracts packages.
pub fn plan(args: &[String], cwd: &Path) -> Option<Plan> {
    let mut sub = None;
    let mut target = None;
    let mut opts: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if let Some(n) = opt_name(a) {
            if matches!(n.as_str(), "?" | "help" | "h") {
                return None;
            }
            if VALUE.contains(&n.as_str()) {
                if let Some(v) = args.get(i) {
                    opts.push((n, v.clone()));
                }
                i += 1;
            }
        } else if sub.is_none() {
            sub = Some(a.to_ascii_lowercase());
        } else if target.is_none() {
            target = Some(a.clone());
        }
    }
    let sub = sub?;
    if !matches!(sub.as_str(), "install" | "restore" | "update") {
        return None;
    }
    let config_file = opts
        .iter()
        .rev()
        .find(|(k, _)| k == "configfile")
        .map(|(_, v)| cwd.join(v));
    let opt = |n: &[&str]| {
        opts.iter()
            .rev()
            .find(|(k, _)| n.contains(&k.as_str()))
            .map(|(_, v)| cwd.join(v))
    };
    let target_path = target.as_ref().map(|t| cwd.join(t));
    let config = target_path.clone().filter(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case("packages.config"))
    });
    // The directory of the solution, project or packages.config named.
    let target_dir = target_path
        .as_ref()
        .map(|p| {
            if p.is_dir() {
                p.clone()
            } else {
                p.parent()
                    .map(Path::to_path_buf)
                    .unwrap_or(cwd.to_path_buf())
            }
        })
        .unwrap_or_else(|| cwd.to_path_buf());
    let explicit = match sub.as_str() {
        "install" => opt(&["outputdirectory"]),
        "restore" => opt(&["packagesdirectory"])
            .or_else(|| opt(&["solutiondirectory"]).map(|d| d.join("packages"))),
        _ => opt(&["repositorypath"]),
    };
    let out_dir = explicit
        .or_else(|| config_file.as_deref().and_then(repository_path_in))
        .or_else(|| repository_path(&target_dir))
        .unwrap_or_else(|| match sub.as_str() {
            "install" => cwd.to_path_buf(),
            _ => {
                // `packages` beside the solution: the nearest folder above
                // that has one, else the target's own.
                target_dir
                    .ancestors()
                    .take(16)
                    .map(|d| d.join("packages"))
                    .find(|p| p.is_dir())
                    .unwrap_or_else(|| target_dir.join("packages"))
            }
        });
    let mut also = vec![
        cwd.to_path_buf(),
        cwd.join("packages"),
        target_dir.join("packages"),
    ];
    also.retain(|d| *d != out_dir);
    also.dedup();
    Some(Plan {
        also,
        project_dir: (sub == "restore").then(|| target_dir.clone()),
        sub,
        out_dir,
        config,
        before: Arc::default(),
    })
}

/// `repositoryPath` of the nearest `NuGet.Config` (any letter case) at or
/// above `dir`, relative to that file.
fn repository_path(dir: &Path) -> Option<PathBuf> {
    for d in dir.ancestors().take(64) {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        let file = rd.flatten().map(|e| e.path()).find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case("nuget.config"))
        });
        let Some(file) = file else {
            continue;
        };
        return repository_path_in(&file);
    }
    None
}

/// `repositoryPath` of one NuGet.Config, relative to its directory.
fn repository_path_in(file: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(file).ok()?;
    let root = xml::parse(&text)?;
    let dir = file.parent().unwrap_or(Path::new("."));
    root.path(&["config", "add"])
        .into_iter()
        .find(|a| {
            a.attr("key")
                .is_some_and(|k| k.eq_ignore_ascii_case("repositoryPath"))
        })
        .and_then(|a| a.attr("value"))
        .map(|v| dir.join(v.replace('\\', "/")))
}

/// The packages a `packages.config` lists: (id, version).
pub fn from_packages_config(text: &str) -> Vec<(String, String)> {
    let Some(root) = xml::parse(text) else {
        return Vec::new();
    };
    root.all("package")
        .filter_map(|p| Some((p.attr("id")?.to_string(), p.attr("version")?.to_string())))
        .collect()
}

/// The id and version a package's `.nuspec` declares.
pub fn from_nuspec(text: &str) -> Option<(String, String)> {
    let root = xml::parse(text)?;
    let m = root.child("metadata")?;
    Some((
        m.text_of("id")?.to_string(),
        m.text_of("version")?.to_string(),
    ))
}

/// The files (relative, `/`-separated) below a package folder (bounded).
fn files_of(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            if out.len() >= 20_000 {
                return out;
            }
            let p = e.path();
            let Ok(t) = e.file_type() else {
                continue;
            };
            if t.is_dir() {
                if depth < 12 {
                    stack.push((p, depth + 1));
                }
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// One extracted package folder: its id and version (from its `.nuspec`;
/// without a readable one, the folder's name and no version) and its
/// files that run.
pub fn inspect(dir: &Path) -> Found {
    let files = files_of(dir);
    let spec = files
        .iter()
        .find(|f| !f.contains('/') && f.to_ascii_lowercase().ends_with(".nuspec"))
        .and_then(|n| std::fs::read_to_string(dir.join(n)).ok())
        .and_then(|t| from_nuspec(&t));
    let (name, version) = spec.unwrap_or_else(|| {
        let n = dir.file_name().unwrap_or_default().to_string_lossy();
        (n.into_owned(), String::new())
    });
    Found {
        name,
        version,
        files: files.into_iter().filter(|f| dotnet::runs(f)).collect(),
    }
}

fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .take(100_000)
                .collect()
        })
        .unwrap_or_default()
}

impl Plan {
    fn watched(&self) -> impl Iterator<Item = &PathBuf> + '_ {
        std::iter::once(&self.out_dir).chain(self.also.iter())
    }
}

/// Before nuget runs: the packages folders as they are.
pub fn before(plan: &Plan) {
    if let Ok(mut b) = plan.before.lock() {
        *b = plan.watched().map(|d| entries(d)).collect();
    }
}

/// After nuget ran: reads, decides and records what it extracted; in
/// enforce mode an unapproved package is removed again and the command
/// fails with exit 77. Returns the exit code.
pub fn after(
    plan: &Plan,
    cx: &super::Context<'_>,
    code: i32,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> i32 {
    let before = plan.before.lock().map(|b| b.clone()).unwrap_or_default();
    // (folder, added by this command)
    let mut dirs: Vec<(PathBuf, bool)> = Vec::new();
    for (k, dir) in plan.watched().enumerate() {
        let was = before.get(k).cloned().unwrap_or_default();
        for n in entries(dir).iter().filter(|n| !was.contains(*n)) {
            let p = dir.join(n);
            if !dirs.iter().any(|(d, _)| *d == p) {
                dirs.push((p, true));
            }
        }
    }
    let now = entries(&plan.out_dir);
    if let Some(cfg) = &plan.config {
        if let Ok(text) = std::fs::read_to_string(cfg) {
            for (id, v) in from_packages_config(&text) {
                for n in [format!("{id}.{v}"), id.clone()] {
                    if let Some(hit) = now.iter().find(|e| e.eq_ignore_ascii_case(&n)) {
                        let p = plan.out_dir.join(hit);
                        if !dirs.iter().any(|(d, _)| *d == p) {
                            dirs.push((p, false));
                        }
                    }
                }
            }
        }
    }
    let mut found: Vec<(Found, Option<PathBuf>)> = Vec::new();
    for (d, added) in dirs {
        let f = inspect(&d);
        if !f.files.is_empty() {
            found.push((f, added.then_some(d)));
        }
    }
    // PackageReference projects restored by `nuget restore`.
    if let Some(dir) = &plan.project_dir {
        match dotnet::find_assets(dir) {
            Ok(v) => found.extend(v.into_iter().map(|f| (f, None))),
            Err(e) if cx.mode == Mode::Enforce => {
                notice(format!(
                    "denied: cannot tell which packages the restore brought: {e}"
                ));
                return crate::error::exit::DENIED;
            }
            Err(e) => notice(format!("warning: {e}")),
        }
    }
    found.sort_by(|a, b| (&a.0.name, &a.0.version).cmp(&(&b.0.name, &b.0.version)));
    found.dedup_by(|a, b| a.0 == b.0);
    let decided: Vec<(Found, Option<PathBuf>, ScriptDecision, Option<String>)> = found
        .into_iter()
        .map(|(f, d)| {
            let (dec, by) = super::decide(
                cx.policy,
                cx.mode,
                Ecosystem::Nuget,
                &f.name,
                &f.version,
                false,
            );
            (f, d, dec, by)
        })
        .collect();
    let denied: Vec<&(Found, Option<PathBuf>, ScriptDecision, Option<String>)> =
        decided.iter().filter(|(_, _, d, _)| !d.runs()).collect();
    for (f, dir, d, by) in &decided {
        for file in &f.files {
            let mut r = dotnet::record(cx.invocation_id, f, file, *d, by);
            r.runner = Some(vec!["nuget".into(), plan.sub.clone()]);
            r.exit_code = Some(code);
            if !d.runs() {
                r.error = Some(match dir {
                    Some(p) => format!("removed from {}", p.display()),
                    None => "not removed (it was there before this command)".into(),
                });
            }
            super::append(log, &r, notice);
        }
    }
    if denied.is_empty() {
        return code;
    }
    let mut m = format!(
        "denied: nuget {} brought {} package{} with install-time code not approved by `[scripts]` in the policy \
         (build files a build would import, or PowerShell scripts):",
        plan.sub,
        denied.len(),
        if denied.len() == 1 { "" } else { "s" }
    );
    for (f, dir, _, _) in &denied {
        let removed = match dir {
            Some(p) => match std::fs::remove_dir_all(p) {
                Ok(()) => format!("removed {}", p.display()),
                Err(e) => format!("could not remove {}: {e}", p.display()),
            },
            None => "already there before this command: not removed".into(),
        };
        m.push_str(&format!(
            "\n  nuget:{}@{} ({}; {removed})\n    approve: {}",
            f.name,
            f.version,
            f.files.join(", "),
            super::approve_command(Ecosystem::Nuget, &f.name, &f.version, false)
        ));
    }
    notice(m);
    crate::error::exit::DENIED
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(a: &[&str]) -> Vec<String> {
        a.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn which_commands_and_where_the_packages_go() {
        let d = tempfile::tempdir().unwrap();
        let cwd = d.path();
        std::fs::create_dir_all(cwd.join("src/app")).unwrap();
        std::fs::write(cwd.join("src/app/packages.config"), "<packages/>").unwrap();
        for (args, out) in [
            (&["install", "Evil"][..], cwd.to_path_buf()),
            (
                &["install", "Evil", "-OutputDirectory", "pk"][..],
                cwd.join("pk"),
            ),
            (
                &["Install", "Evil", "/outputdirectory", "pk"][..],
                cwd.join("pk"),
            ),
            (&["restore", "x.sln"][..], cwd.join("packages")),
            (
                &[
                    "restore",
                    "src/app/packages.config",
                    "-PackagesDirectory",
                    "p2",
                ][..],
                cwd.join("p2"),
            ),
            (
                &["restore", "-SolutionDirectory", "sol"][..],
                cwd.join("sol/packages"),
            ),
            (
                &["update", "src/app/packages.config", "-RepositoryPath", "r"][..],
                cwd.join("r"),
            ),
        ] {
            let p = plan(&s(args), cwd).unwrap_or_else(|| panic!("{args:?}"));
            assert_eq!(p.out_dir, out, "{args:?}");
        }
        let p = plan(
            &s(&[
                "restore",
                "src/app/packages.config",
                "-PackagesDirectory",
                "p",
            ]),
            cwd,
        )
        .unwrap();
        assert_eq!(p.config, Some(cwd.join("src/app/packages.config")));
        // Unambiguous prefixes, as nuget accepts them.
        assert_eq!(
            plan(&s(&["install", "x", "-Out", "o2", "-Pre"]), cwd)
                .unwrap()
                .out_dir,
            cwd.join("o2")
        );
        assert_eq!(opt_name("-pre").as_deref(), Some("prerelease"));
        // Ambiguous: as written.
        assert_eq!(opt_name("-p").as_deref(), Some("p"));
        for args in [&["list"][..], &["push", "x.nupkg"], &["install", "-?"], &[]] {
            assert!(plan(&s(args), cwd).is_none(), "{args:?}");
        }
        // A NuGet.Config's repositoryPath.
        std::fs::write(
            cwd.join("NuGet.Config"),
            "<configuration><config><add key=\"repositoryPath\" value=\"lib\\pkgs\" /></config></configuration>",
        )
        .unwrap();
        assert_eq!(
            plan(&s(&["restore"]), &cwd.join("src/app"))
                .unwrap()
                .out_dir,
            cwd.join("lib/pkgs")
        );
        std::fs::write(
            cwd.join("other.config"),
            "<configuration><config><add key=\"repositoryPath\" value=\"cfg-pkgs\" /></config></configuration>",
        )
        .unwrap();
        let p = plan(&s(&["install", "x", "-ConfigFile", "other.config"]), cwd).unwrap();
        assert_eq!(p.out_dir, cwd.join("cfg-pkgs"));
        assert!(p.also.contains(&cwd.to_path_buf()));
    }

    #[test]
    fn package_files() {
        assert_eq!(
            from_packages_config(
                "<?xml version=\"1.0\"?><packages><package id=\"Evil.Build\" version=\"1.0.0\" targetFramework=\"net48\" /><package id=\"Plain\" version=\"2.0\"/><package version=\"x\"/></packages>"
            ),
            [
                ("Evil.Build".to_string(), "1.0.0".to_string()),
                ("Plain".to_string(), "2.0".to_string())
            ]
        );
        assert!(from_packages_config("not xml <").is_empty());
        assert_eq!(
            from_nuspec("<package xmlns=\"http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd\"><metadata><id>Evil.Build</id><version>1.0.0</version></metadata></package>"),
            Some(("Evil.Build".to_string(), "1.0.0".to_string()))
        );
        assert_eq!(from_nuspec("<package/>"), None);
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("Evil.Build.1.0.0");
        for (f, t) in [
            ("Evil.Build.nuspec", "<package><metadata><id>Evil.Build</id><version>1.0.0</version></metadata></package>"),
            ("build/Evil.Build.targets", "<Project/>"),
            ("tools/install.ps1", "x"),
            ("lib/net48/Evil.dll", "x"),
        ] {
            std::fs::create_dir_all(p.join(f).parent().unwrap()).unwrap();
            std::fs::write(p.join(f), t).unwrap();
        }
        let f = inspect(&p);
        assert_eq!(f.name, "Evil.Build");
        assert_eq!(f.version, "1.0.0");
        assert_eq!(f.files, ["build/Evil.Build.targets", "tools/install.ps1"]);
        // Without its .nuspec: the folder's name, still read.
        std::fs::remove_file(p.join("Evil.Build.nuspec")).unwrap();
        let f = inspect(&p);
        assert_eq!(
            (f.name.as_str(), f.version.as_str()),
            ("Evil.Build.1.0.0", "")
        );
        assert_eq!(f.files.len(), 2);
    }
}
