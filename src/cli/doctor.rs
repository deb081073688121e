//! `pkgward doctor`: is the installation doing its job here?

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::shims::{shim_path, slot, Slot};
use crate::error::{exit, Error, Result};
use crate::policy::{self, Mode};
use crate::record::AuditLog;
use crate::supervise::resolve::{self, FileId, Skip};
use crate::tools::Tool;

#[derive(Serialize)]
struct Report {
    version: &'static str,
    binary: PathBuf,
    /// Shim directories: the configured one and every PATH entry holding shims.
    shim_dirs: Vec<ShimDir>,
    tools: Vec<ToolReport>,
    policy: PolicyReport,
    audit: AuditReport,
    /// `[audit] sinks` and their spools.
    sinks: Vec<SinkReport>,
    /// The sandbox layers this machine offers install-time code.
    sandbox: crate::supervise::sandbox::Offered,
    problems: Vec<String>,
}

#[derive(Serialize)]
struct SinkReport {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
    spooled_records: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    /// Unix milliseconds before which a shim does not try again.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_attempt_ms: Option<u64>,
}

#[derive(Serialize)]
struct ShimDir {
    path: PathBuf,
    /// Position on PATH (0 = first), null when not on PATH.
    path_index: Option<usize>,
}

#[derive(Serialize)]
struct ToolReport {
    tool: &'static str,
    ecosystem: &'static str,
    /// What the shell runs for this name today.
    resolves_to: Option<PathBuf>,
    /// True when that is a pkgward shim.
    guarded: bool,
    /// When not guarded but a shim exists later on PATH: what shadows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    shadowed_by: Option<Shadow>,
    /// The real tool the shim delegates to.
    real_tool: Option<PathBuf>,
}

#[derive(Serialize)]
struct Shadow {
    path: PathBuf,
    kind: &'static str,
}

#[derive(Serialize)]
struct PolicyReport {
    mode: Mode,
    digest: String,
    layers: Vec<policy::LayerSource>,
    errors: Vec<String>,
    refused: Vec<String>,
}

#[derive(Serialize)]
struct AuditReport {
    path: Option<PathBuf>,
    writable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Names what put a directory on PATH ahead of the shims.
pub fn shadow_kind(dir: &Path) -> &'static str {
    let s = dir.to_string_lossy().replace('\\', "/");
    let has = |needle: &str| s.contains(needle);
    if dir.parent().is_some_and(|p| p.join("pyvenv.cfg").is_file())
        || has("/.venv/")
        || has("/venv/")
    {
        "python virtualenv"
    } else if has("/.nvm/") {
        "nvm"
    } else if has("/.volta/") {
        "volta"
    } else if has("/.asdf/") {
        "asdf"
    } else if has("/mise/") || has("/.local/share/rtx/") {
        "mise"
    } else if has("/.pyenv/") {
        "pyenv"
    } else if has("/.rbenv/") {
        "rbenv"
    } else if has("/fnm") {
        "fnm"
    } else if has("/.sdkman/") {
        "sdkman"
    } else if has("conda") {
        "conda"
    } else if has("node_modules/.bin") {
        "node_modules/.bin"
    } else if has("/.cargo/bin") {
        "cargo bin"
    } else {
        "directory earlier on PATH"
    }
}

/// The real tool a shim for `name` would delegate to.
pub fn real_tool(name: &str, shim_dirs: &[PathBuf], exe: &Path, cwd: &Path) -> Option<PathBuf> {
    let skip = Skip::new(shim_dirs, Some(exe));
    let path = std::env::var_os("PATH");
    resolve::find_real_tool(name, path.as_deref(), cwd, &skip).0
}

pub fn run(json: bool) -> Result<i32> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| Error::io("cannot locate the pkgward binary", e))?;
    let cwd =
        std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))?;
    let exe_id = FileId::of(&exe);
    let path_entries: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let mut problems = Vec::new();

    // Shim directories: configured + any PATH entry holding a shim of ours.
    let mut dirs: Vec<PathBuf> = crate::paths::default_shim_dir().into_iter().collect();
    for p in &path_entries {
        let holds_ours = Tool::shims().any(|t| slot(&shim_path(p, t.name), &exe) == Slot::Ours);
        if holds_ours && !dirs.iter().any(|d| FileId::of(d) == FileId::of(p)) {
            dirs.push(p.clone());
        }
    }
    let index_of = |d: &Path| {
        let id = FileId::of(d)?;
        path_entries
            .iter()
            .position(|p| FileId::of(p).as_ref() == Some(&id))
    };
    let shim_dirs: Vec<ShimDir> = dirs
        .iter()
        .map(|d| ShimDir {
            path: d.clone(),
            path_index: index_of(d),
        })
        .collect();
    if shim_dirs.iter().all(|d| d.path_index.is_none()) {
        problems.push("no shim directory is on PATH: the package managers are not guarded".into());
    }

    // Per tool: what does the shell pick, and is it us?
    let which_path = std::env::var_os("PATH").unwrap_or_default();
    let mut tools = Vec::new();
    for tool in Tool::shims() {
        let first = which::which_in(tool.name, Some(&which_path), &cwd).ok();
        let guarded = first
            .as_ref()
            .is_some_and(|p| FileId::of(p).is_some() && FileId::of(p) == exe_id);
        let real = real_tool(tool.name, &dirs, &exe, &cwd);
        let installed_somewhere = dirs
            .iter()
            .any(|d| slot(&shim_path(d, tool.name), &exe) == Slot::Ours);
        let shadowed_by = match (&first, guarded, installed_somewhere) {
            (Some(p), false, true) => {
                let dir = p.parent().unwrap_or(Path::new("")).to_path_buf();
                let kind = shadow_kind(&dir);
                problems.push(format!(
                    "{} resolves to {} ({kind}), ahead of the pkgward shim: it is not guarded",
                    tool.name,
                    p.display()
                ));
                Some(Shadow {
                    path: p.clone(),
                    kind,
                })
            }
            _ => None,
        };
        // A shim without a real tool behind it is normal (images keep every
        // shim so a tool installed later is guarded from its first run): the
        // report shows it, it is not a problem.
        tools.push(ToolReport {
            tool: tool.name,
            ecosystem: tool.ecosystem.key(),
            resolves_to: first,
            guarded,
            shadowed_by,
            real_tool: real,
        });
    }

    // Policy.
    let loaded = policy::load(&policy::discover(&policy::DiscoveryContext::from_process(
        &cwd,
    )));
    for e in &loaded.errors {
        problems.push(format!("policy: {e}"));
    }
    let pol = PolicyReport {
        mode: loaded.policy.mode.value,
        digest: loaded.policy.digest.clone(),
        layers: loaded.policy.sources.clone(),
        errors: loaded.errors.iter().map(|e| e.to_string()).collect(),
        refused: loaded
            .policy
            .refused
            .iter()
            .map(|r| format!("{}: `{}` {}", r.origin, r.key, r.reason))
            .collect(),
    };

    // Audit log.
    let log_path = crate::shim::audit_log_path(&loaded.policy);
    let audit = match &log_path {
        None => AuditReport {
            path: None,
            writable: false,
            error: Some("no state directory".into()),
        },
        Some(p) => match AuditLog::open(p) {
            Ok(_) => AuditReport {
                path: Some(p.clone()),
                writable: true,
                error: None,
            },
            Err(e) => AuditReport {
                path: Some(p.clone()),
                writable: false,
                error: Some(e.to_string()),
            },
        },
    };
    if !audit.writable {
        problems.push(format!(
            "the audit log cannot be written ({}): in enforce mode every tool is refused",
            audit.error.as_deref().unwrap_or("")
        ));
    }

    let state = crate::paths::state_dir();
    let sinks = loaded
        .policy
        .sinks
        .iter()
        .map(|s| {
            let s = &s.value;
            let (spooled, st) = match &state {
                Some(d) => (
                    crate::sinks::pending(d, &s.name).0,
                    crate::sinks::read_state(&crate::sinks::spool_dir(d, &s.name)),
                ),
                None => (0, Default::default()),
            };
            SinkReport {
                name: s.name.clone(),
                kind: s.kind.type_name(),
                url: s.kind.url().to_string(),
                spooled_records: spooled,
                last_error: st.last_error.filter(|_| st.failures > 0),
                next_attempt_ms: st.next_attempt_ms,
            }
        })
        .collect();

    let sandbox = crate::supervise::sandbox::offered();
    if loaded.policy.sandbox.require.value {
        let wanted: &[&str] = if cfg!(target_os = "linux") {
            &["landlock-fs", "landlock-net", "netns", "seccomp"]
        } else if cfg!(target_os = "macos") {
            &["seatbelt"]
        } else {
            &["landlock-fs"]
        };
        let lacking: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|l| !sandbox.layers.contains(l))
            .collect();
        if !lacking.is_empty() {
            problems.push(format!(
                "`[sandbox] require = true` but this machine lacks {}: install-time code will be refused",
                lacking.join(", ")
            ));
        }
    }

    let report = Report {
        version: env!("CARGO_PKG_VERSION"),
        binary: exe,
        shim_dirs,
        tools,
        policy: pol,
        audit,
        sinks,
        sandbox,
        problems,
    };
    if json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| Error::Internal(e.to_string()))?;
        println!("{text}");
    } else {
        print_human(&report);
    }
    Ok(if report.problems.is_empty() {
        0
    } else {
        exit::CONFIG
    })
}

fn print_human(r: &Report) {
    println!("pkgward {} ({})", r.version, r.binary.display());
    println!("\nshim directories:");
    for d in &r.shim_dirs {
        match d.path_index {
            Some(0) => println!("  {}  (first on PATH)", d.path.display()),
            Some(i) => println!("  {}  (PATH entry #{})", d.path.display(), i + 1),
            None => println!("  {}  (not on PATH)", d.path.display()),
        }
    }
    println!("\ntools:");
    for t in &r.tools {
        let status = if t.guarded {
            "guarded".to_string()
        } else if let Some(s) = &t.shadowed_by {
            format!("SHADOWED by {} ({})", s.path.display(), s.kind)
        } else if t.resolves_to.is_some() {
            "not guarded (no shim)".into()
        } else {
            "not installed".into()
        };
        let real = t
            .real_tool
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "-".into());
        println!("  {:<8} {:<34} real: {}", t.tool, status, real);
    }
    println!(
        "\npolicy: mode {:?}, digest {}",
        r.policy.mode, r.policy.digest
    );
    if r.policy.layers.is_empty() {
        println!("  no policy files: built-in defaults (enforce)");
    }
    for l in &r.policy.layers {
        println!("  {:?}: {}", l.layer, l.path.display());
    }
    for e in &r.policy.errors {
        println!("  ERROR {e}");
    }
    for e in &r.policy.refused {
        println!("  refused by a lock: {e}");
    }
    match (&r.audit.path, r.audit.writable) {
        (Some(p), true) => println!("\naudit log: {} (writable)", p.display()),
        (Some(p), false) => println!(
            "\naudit log: {} (NOT writable: {})",
            p.display(),
            r.audit.error.as_deref().unwrap_or("")
        ),
        (None, _) => println!("\naudit log: none (no state directory)"),
    }
    for s in &r.sinks {
        println!(
            "  sink {} ({} {}): {} record(s) spooled{}",
            s.name,
            s.kind,
            s.url,
            s.spooled_records,
            match &s.last_error {
                Some(e) => format!("; last flush failed: {e} (`pkgward audit status`)"),
                None => String::new(),
            }
        );
    }
    let sb = &r.sandbox;
    println!("\nsandbox for install-time code: {}", sb.layers.join(", "));
    if cfg!(target_os = "linux") {
        println!(
            "  Landlock: {}",
            match sb.landlock_abi {
                0 => "not available".to_string(),
                n => format!("ABI {n}"),
            }
        );
        println!(
            "  user + network namespaces: {}",
            match (&sb.user_netns, &sb.user_netns_error) {
                (true, _) => "yes".to_string(),
                (false, Some(e)) => format!("refused ({e}): degrades to Landlock + seccomp"),
                (false, None) => "no".to_string(),
            }
        );
        println!(
            "  seccomp user notification: {}",
            if sb.seccomp_notify { "yes" } else { "no" }
        );
    }
    if cfg!(target_os = "macos") {
        println!(
            "  sandbox-exec: {}",
            if sb.seatbelt { "yes" } else { "not found" }
        );
    }
    if r.problems.is_empty() {
        println!("\nno problems found");
    } else {
        println!("\nproblems:");
        for p in &r.problems {
            println!("  - {p}");
        }
    }
}
