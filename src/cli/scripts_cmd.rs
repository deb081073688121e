//! `pkgward approve` and `pkgward scripts`.

use std::path::PathBuf;

use crate::error::{exit, Error, Result};
use crate::policy;
use crate::scripts::{self, approve};
use crate::tools::Ecosystem;

pub fn approve(entry: String, file: Option<PathBuf>) -> Result<i32> {
    if let Err(why) = approve::validate(&entry) {
        eprintln!("pkgward: error: {why}");
        return Ok(exit::USAGE);
    }
    let cwd =
        std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))?;
    let file = file.unwrap_or_else(|| approve::project_file(&cwd));
    match approve::add(&file, &entry)? {
        approve::Added::Added => println!("approved {entry} in {}", file.display()),
        approve::Added::AlreadyThere => {
            println!("{entry} is already approved in {}", file.display())
        }
    }
    // Say so when the effective policy will not honour it.
    let loaded = policy::load(&policy::discover(&policy::DiscoveryContext::from_process(
        &cwd,
    )));
    for r in loaded
        .policy
        .refused
        .iter()
        .filter(|r| r.key == "scripts.allow" && r.origin.path == file)
    {
        eprintln!("pkgward: warning: {}", r.reason);
    }
    Ok(0)
}

pub fn list(path: Option<PathBuf>, json: bool) -> Result<i32> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))?;
    let dir = path.map(|p| cwd.join(p)).unwrap_or(cwd);
    let loaded = policy::load(&policy::discover(&policy::DiscoveryContext::from_process(
        &dir,
    )));
    let pol = loaded.policy;
    // A yarn 2+ project is read from yarn's own files (PnP data, its
    // install state, yarn.lock and the cache): who each package is comes
    // from yarn's locator, as the yarn shim decides it.
    let env = |k: &str| std::env::var(k).ok();
    let berry_root = scripts::yarn::project_root(&dir);
    let (root, found) = match scripts::yarn::find_project(&berry_root, &env) {
        Some(found) => (
            berry_root,
            found
                .iter()
                .map(|f| {
                    let local = scripts::yarn::is_local(&f.locator);
                    scripts::yarn::package(&f.name, &f.version, &f.location, &f.scripts, local)
                })
                .collect(),
        ),
        None => {
            let root = scripts::npm::project_root(&dir);
            let found = scripts::npm::find(&root, true);
            (root, found)
        }
    };
    let mut rows = Vec::new();
    for p in &found {
        let (name, version, path) = (&p.name, &p.version, &p.rel);
        let (decision, approved_by) =
            scripts::decide(&pol, pol.mode.value, Ecosystem::Npm, name, version, p.local);
        let note =
            scripts::local_note(&pol, Ecosystem::Npm, name, p.local).filter(|_| !decision.runs());
        for (event, command) in &p.scripts {
            rows.push(serde_json::json!({
                "ecosystem": "npm",
                "package": name,
                "version": version,
                "path": path,
                "script": event,
                "command": command,
                "decision": decision,
                "approved_by": approved_by,
                "local": p.local,
                "approve": (!decision.runs()).then(|| scripts::approve_command(Ecosystem::Npm, name, version, p.local)),
                "note": note,
            }));
        }
    }
    if json {
        for r in &rows {
            println!("{r}");
        }
    } else if rows.is_empty() {
        println!("no install-time code found under {}", root.display());
    } else {
        for r in &rows {
            println!(
                "{:<10} npm:{}@{} ({}) {}: {}",
                r["decision"].as_str().unwrap_or_default(),
                r["package"].as_str().unwrap_or_default(),
                r["version"].as_str().unwrap_or_default(),
                r["path"].as_str().unwrap_or_default(),
                r["script"].as_str().unwrap_or_default(),
                r["command"].as_str().unwrap_or_default(),
            );
            if let Some(a) = r["approve"].as_str() {
                println!("           approve: {a}");
            }
            if let Some(n) = r["note"].as_str() {
                println!("           ({n})");
            }
        }
    }
    Ok(0)
}
