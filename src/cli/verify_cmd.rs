//! `pkgward verify [PATH]`: lockfile entries outside the approved registries
//! or without integrity hashes; human, JSON or SARIF; exit 1 on findings.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::tools::{Ecosystem, Tool};
use crate::verify;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Sarif,
}

/// Exit code when verify finds something (a CI gate fails on it).
pub const FINDINGS: i32 = 1;

pub fn run(path: Option<PathBuf>, format: Format, output: Option<PathBuf>) -> Result<i32> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))?;
    let root = path.unwrap_or_else(|| cwd.clone());
    if !root.exists() {
        return Err(Error::Config(format!(
            "{}: no such file or directory",
            root.display()
        )));
    }
    let loaded = crate::policy::load(&crate::policy::discover(
        &crate::policy::DiscoveryContext::from_process(&cwd),
    ));
    if !loaded.errors.is_empty() {
        return Err(Error::PolicyInvalid(loaded.errors));
    }
    let mut builtin = |eco: Ecosystem| builtin_for(eco, &cwd);
    let feeds: Vec<PathBuf> = loaded
        .policy
        .threat_feeds
        .iter()
        .map(|f| f.value.clone())
        .collect();
    let mut index = match crate::paths::state_dir() {
        Some(state) => crate::threats::ensure_index(&feeds, &state)
            .map_err(|e| Error::Config(e.to_string()))?,
        None if feeds.is_empty() => None,
        None => {
            return Err(Error::Config(
                "threat feeds need a state directory for their index (set PKGWARD_STATE_DIR)"
                    .into(),
            ))
        }
    };
    let report = verify::verify_with(&root, &loaded.policy, &mut builtin, index.as_mut());
    let text = match format {
        Format::Human => human(&report, &root),
        Format::Json => {
            serde_json::to_string_pretty(&report).map_err(|e| Error::Internal(e.to_string()))?
                + "\n"
        }
        Format::Sarif => {
            serde_json::to_string_pretty(&verify::sarif(&report, &root))
                .map_err(|e| Error::Internal(e.to_string()))?
                + "\n"
        }
    };
    match output {
        Some(f) => std::fs::write(&f, text)
            .map_err(|e| Error::io(format!("cannot write {}", f.display()), e))?,
        None => print!("{text}"),
    }
    Ok(if report.findings.is_empty() {
        0
    } else {
        FINDINGS
    })
}

fn human(r: &verify::Report, root: &Path) -> String {
    let mut s = String::new();
    for f in &r.findings {
        let p = f.path.strip_prefix(root).unwrap_or(&f.path);
        s.push_str(&format!(
            "{}:{}: [{}] {} {}@{}: {}\n",
            p.display(),
            f.line,
            f.code,
            f.ecosystem,
            f.package,
            f.version,
            f.message
        ));
    }
    s.push_str(&format!(
        "{} lockfile(s), {} entries, {} finding(s)\n",
        r.lockfiles.len(),
        r.entries,
        r.findings.len()
    ));
    s
}

/// The default registries of an ecosystem's tools (each asked of the real
/// tool found on PATH after the shims), together: a lockfile may have been
/// written by any of them (yarn's default differs from npm's).
fn builtin_for(eco: Ecosystem, cwd: &Path) -> Vec<String> {
    let exe = std::env::current_exe().ok();
    let shim_dirs: Vec<PathBuf> = crate::paths::default_shim_dir().into_iter().collect();
    let skip = crate::supervise::resolve::Skip::new(&shim_dirs, exe.as_deref());
    let path = std::env::var_os("PATH");
    let cache = crate::paths::state_dir().map(|d| d.join("cache").join("builtin"));
    let mut urls = Vec::new();
    for tool in Tool::shims().filter(|t| t.ecosystem == eco) {
        if let (Some(real), _) =
            crate::supervise::resolve::find_real_tool(tool.name, path.as_deref(), cwd, &skip)
        {
            for u in crate::builtin::resolve(tool, &real, cache.as_deref()).urls {
                if !urls.contains(&u) {
                    urls.push(u);
                }
            }
        }
    }
    urls
}
