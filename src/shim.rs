//! One shim invocation, end to end: classify → decide → record → supervise →
//! record. Nothing here prints; notices go back through a callback.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::classify::{self, Classification};
use crate::decide::{self, Decision};
use crate::error::{exit, Error, Result};
use crate::paths;
use crate::policy::{self, Mode, Policy};
use crate::record::{
    self, context, hash, redact, AuditLog, ExitRecord, InvocationRecord, PolicyRef, RealTool, Via,
};
use crate::supervise::{self, resolve};
use crate::tools::Tool;

/// Environment variable carrying the current invocation id to nested invocations.
pub const INVOCATION_VAR: &str = "PKGWARD_INVOCATION_ID";

/// A request to run a tool through pkgward.
pub struct Call {
    pub tool: Tool,
    /// How the tool was named: argv[0] for a shim, TOOL for `pkgward run`.
    pub invoked_as: OsString,
    pub args: Vec<OsString>,
    pub via: Via,
}

/// Runs the call and returns the exit code to exit with. `notice` receives the
/// messages meant for the user's stderr (without the `pkgward:` prefix).
pub fn run(call: Call, notice: &mut dyn FnMut(String)) -> Result<i32> {
    let started = Instant::now();
    let env = |k: &str| std::env::var_os(k);

    let depth = resolve::current_depth(env(resolve::DEPTH_VAR).as_deref());
    if depth >= resolve::DEPTH_LIMIT {
        return Err(Error::Recursion {
            tool: call.tool.name.to_string(),
            depth,
            limit: resolve::DEPTH_LIMIT,
        });
    }
    let parent_id = env(INVOCATION_VAR)
        .and_then(|v| v.into_string().ok())
        .filter(|v| !v.is_empty());
    let cwd =
        std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))?;

    // Policy.
    let discovery = policy::discover(&policy::DiscoveryContext::from_process(&cwd));
    let loaded = policy::load(&discovery);
    let policy = loaded.policy;
    let policy_errors = loaded.errors;
    let mode = policy.mode.value;
    if !policy_errors.is_empty() && mode != Mode::Enforce {
        for e in &policy_errors {
            notice(format!(
                "warning: {e} (the tool runs anyway: {} mode)",
                mode_name(mode)
            ));
        }
    }

    // Find the real tool, then classify and decide.
    let real = find_program(&call, &cwd);
    let cache = paths::state_dir().map(|d| d.join("cache"));
    let real_tool = real.as_ref().ok().map(|p| RealTool {
        path: p.clone(),
        sha256: hash::cached_sha256(p, cache.as_ref().map(|c| c.join("tool-sha256")).as_deref())
            .ok(),
    });
    let args: Vec<String> = call
        .args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let canonical = real.as_ref().ok().and_then(|p| p.canonicalize().ok());
    let home = dirs::home_dir();
    let classification: Classification = classify::classify(&classify::Request {
        tool: call.tool,
        args: &args,
        env: &classify::source::ProcessEnv,
        files: &classify::source::RealFiles,
        cwd: &cwd,
        home: home.as_deref(),
        real_tool: canonical.as_deref(),
    });
    let (decision, plan) = decide_sources(
        call.tool,
        &args,
        mode,
        &policy,
        &classification,
        real.as_ref().ok().map(PathBuf::as_path),
        cache.as_deref(),
    );

    // Record the invocation before anything runs.
    let invocation_id = record::new_invocation_id();
    let mut argv = vec![call.invoked_as.to_string_lossy().into_owned()];
    argv.extend(redact::redact_args(call.tool.name, &args));
    let inv = InvocationRecord {
        kind: "invocation",
        schema: record::SCHEMA_VERSION,
        invocation_id: invocation_id.clone(),
        parent_id,
        depth,
        time: record::now_rfc3339(),
        pkgward_version: env!("CARGO_PKG_VERSION"),
        tool: call.tool.name.to_string(),
        ecosystem: call.tool.ecosystem.key().to_string(),
        via: call.via,
        real_tool,
        argv,
        cwd: cwd.clone(),
        user: context::user(),
        uid: context::uid(),
        host: context::host(),
        pid: std::process::id(),
        ci: context::detect_ci(&|k| std::env::var(k).ok(), context::stdin_is_tty()),
        policy: policy_ref(&policy, &policy_errors),
        classification: record::ClassificationRef::from(&classification),
        decision: decision.record(),
    };
    let mut log = open_log(&policy, mode, notice)?;
    if let Some(l) = log.as_mut() {
        if let Err(e) = l.append(&inv) {
            if mode == Mode::Enforce {
                return Err(e);
            }
            notice(format!(
                "warning: {e}; the tool runs anyway ({} mode)",
                mode_name(mode)
            ));
            log = None;
        }
    }

    let mut finish =
        |ran: bool, code: i32, signal: Option<i32>, pid: Option<u32>, err: Option<&Error>| {
            if let Some(l) = log.as_mut() {
                let rec = ExitRecord {
                    kind: "exit",
                    invocation_id: invocation_id.clone(),
                    time: record::now_rfc3339(),
                    ran,
                    exit_code: code,
                    signal,
                    child_pid: pid,
                    duration_ms: (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
                    error: err.map(|e| e.to_string()),
                };
                l.append(&rec)
            } else {
                Ok(())
            }
        };

    if !policy_errors.is_empty() && mode == Mode::Enforce {
        let err = Error::PolicyInvalid(policy_errors);
        let _ = finish(false, exit::CONFIG, None, None, Some(&err));
        return Err(err);
    }
    let program = match real {
        Ok(p) => p,
        Err(err) => {
            let _ = finish(false, err.exit_code(), None, None, Some(&err));
            return Err(err);
        }
    };
    if decision.action == record::Action::Deny {
        let err = Error::Denied {
            message: denial_message(&call, &args, &classification, &decision, &policy),
        };
        let _ = finish(false, exit::DENIED, None, None, Some(&err));
        return Err(err);
    }

    let mut launch = supervise::Launch {
        arg0: child_arg0(&call.invoked_as),
        program,
        args: call.args,
        env: vec![
            (
                OsString::from(resolve::DEPTH_VAR),
                OsString::from((depth + 1).to_string()),
            ),
            (
                OsString::from(INVOCATION_VAR),
                OsString::from(&invocation_id),
            ),
        ],
    };
    // A forced mirror reaches the tool through its environment or arguments.
    let plan_dir = match plan
        .as_ref()
        .map(|p| apply_plan(p, &mut launch, &invocation_id))
    {
        Some(Err(err)) => {
            let _ = finish(false, err.exit_code(), None, None, Some(&err));
            return Err(err);
        }
        Some(Ok(dir)) => dir,
        None => None,
    };
    let result = supervise::run(&launch);
    if let Some(dir) = plan_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    match result {
        Ok(ended) => {
            if let Err(e) = finish(true, ended.code, ended.signal, Some(ended.pid), None) {
                notice(format!("warning: {e}"));
            }
            Ok(ended.code)
        }
        Err(err) => {
            let _ = finish(false, err.exit_code(), None, None, Some(&err));
            Err(err)
        }
    }
}

/// Checks the classified sources against the approved registries, forcing
/// the policy's mirror first when it names one.
fn decide_sources(
    tool: Tool,
    args: &[String],
    mode: Mode,
    policy: &Policy,
    classification: &Classification,
    real: Option<&Path>,
    cache: Option<&Path>,
) -> (Decision, Option<classify::Plan>) {
    if mode == Mode::Off {
        return (decide::decide(mode, Vec::new()), None);
    }
    let approved = policy.registries_for(tool.ecosystem);
    let builtin_cache = cache.map(|c| c.join("builtin"));
    let mut builtin = || match real {
        Some(p) => crate::builtin::resolve(tool, p, builtin_cache.as_deref()),
        None => crate::builtin::Resolved::failed(format!("the real {} was not found", tool.name)),
    };
    let mut forced = None;
    let mut plan = None;
    if let Some(mirror) = policy.mirror_for(tool.ecosystem) {
        let mut approved_one = |src: &classify::Source| {
            decide::registries::check(std::slice::from_ref(src), &approved, &mut builtin).is_empty()
        };
        if let Some((f, p)) = decide::mirror::force(
            tool,
            args,
            &mirror.value,
            &classification.sources,
            &mut approved_one,
        ) {
            forced = Some(f);
            plan = Some(p);
        }
    }
    let to_check = plan
        .as_ref()
        .map_or(&classification.sources, |p| &p.remaining);
    let violations = decide::registries::check(to_check, &approved, &mut builtin);
    let mut d = decide::decide(mode, violations);
    d.forced = forced;
    (d, plan)
}

/// Applies a mirror plan to the launch: generated files are written into a
/// private directory (`{dir}`), variables set, arguments inserted.
fn apply_plan(
    plan: &classify::Plan,
    launch: &mut supervise::Launch,
    invocation_id: &str,
) -> Result<Option<PathBuf>> {
    let dir = if plan.files.is_empty() {
        None
    } else {
        let base = paths::state_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("run")
            .join(invocation_id);
        for (rel, text) in &plan.files {
            let p = base.join(rel);
            if let Some(parent) = p.parent() {
                private_dir(parent)?;
            }
            write_private(&p, text)?;
        }
        Some(base)
    };
    let fill = |s: &str| match &dir {
        Some(d) => s.replace("{dir}", &d.to_string_lossy()),
        None => s.to_string(),
    };
    for (k, v) in &plan.env {
        launch
            .env
            .push((OsString::from(k), OsString::from(fill(v))));
    }
    let at = plan.insert_at.min(launch.args.len());
    for (i, a) in plan.insert_args.iter().enumerate() {
        launch.args.insert(at + i, OsString::from(fill(a)));
    }
    Ok(dir)
}

/// A directory only the user can enter: generated settings may carry the
/// user's credentials (a copy of their Maven `<servers>`).
fn private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

/// The one message a denied user sees: what, what is approved, how to fix it.
fn denial_message(
    call: &Call,
    args: &[String],
    classification: &Classification,
    decision: &Decision,
    policy: &Policy,
) -> String {
    let eco = call.tool.ecosystem;
    let command: Vec<String> = std::iter::once(call.tool.name.to_string())
        .chain(redact::redact_args(call.tool.name, args))
        .collect();
    let mut m = format!(
        "denied: `{}` ({}) would use sources the policy does not approve:\n",
        command.join(" "),
        classification.verb.as_str()
    );
    for r in &decision.reasons {
        m.push_str(&format!("  {}\n", r.message));
    }
    let approved = policy.registries_for(eco);
    let from = policy
        .registries
        .get(&eco)
        .and_then(|s| s.origin.as_ref())
        .map(|o| format!(" (set at {o})"))
        .unwrap_or_else(|| " (the default)".into());
    m.push_str(&format!(
        "approved {eco} registries: {}{from}\n",
        approved.join(", ")
    ));
    m.push_str(&format!(
        "fix: remove or change the setting named above, or have the registry added to `[registries] {eco}` \
         in the policy; `pkgward policy show` shows where each approval comes from"
    ));
    m
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Off => "off",
        Mode::Audit => "audit",
        Mode::Enforce => "enforce",
    }
}

fn policy_ref(policy: &Policy, errors: &[policy::PolicyError]) -> PolicyRef {
    PolicyRef {
        digest: policy.digest.clone(),
        mode: policy.mode.value,
        sources: policy.sources.clone(),
        errors: errors.to_vec(),
        refused: policy.refused.clone(),
    }
}

/// The audit log path: the policy's `[audit] log`, else the default under the
/// state directory.
pub fn audit_log_path(policy: &Policy) -> Option<PathBuf> {
    policy
        .audit_log
        .as_ref()
        .map(|s| s.value.clone())
        .or_else(paths::default_audit_log)
}

fn open_log(
    policy: &Policy,
    mode: Mode,
    notice: &mut dyn FnMut(String),
) -> Result<Option<AuditLog>> {
    let opened = match audit_log_path(policy) {
        Some(p) => AuditLog::open(&p),
        None => Err(Error::Audit {
            path: PathBuf::from("<state dir>/audit.jsonl"),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no state directory (set PKGWARD_STATE_DIR or [audit] log)",
            ),
        }),
    };
    match opened {
        Ok(l) => Ok(Some(l)),
        Err(e) if mode == Mode::Enforce => Err(e),
        Err(e) => {
            notice(format!(
                "warning: {e}; the tool runs anyway ({} mode)",
                mode_name(mode)
            ));
            Ok(None)
        }
    }
}

/// The directories whose entries are shims, skipped while looking for the
/// real tool: the configured shim directory and the one argv[0] points into.
fn shim_dirs(invoked_as: &OsStr) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = paths::default_shim_dir().into_iter().collect();
    let p = Path::new(invoked_as);
    if p.components().count() > 1 {
        if let Some(parent) = p.parent() {
            dirs.push(parent.to_path_buf());
        }
    }
    dirs
}

fn find_program(call: &Call, cwd: &Path) -> Result<PathBuf> {
    let named = Path::new(&call.invoked_as);
    // `pkgward run -- ./gradlew …` or an absolute path: no PATH lookup.
    if call.via == Via::Run && named.components().count() > 1 {
        let p = cwd.join(named);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::NotFound {
                tool: named.display().to_string(),
                detail: " (no such file)".into(),
            })
        };
    }
    let exe = std::env::current_exe().ok();
    let skip = resolve::Skip::new(&shim_dirs(&call.invoked_as), exe.as_deref());
    let path_var = std::env::var_os("PATH");
    let (found, skipped) = resolve::find_real_tool(call.tool.name, path_var.as_deref(), cwd, &skip);
    found.ok_or_else(|| Error::NotFound {
        tool: call.tool.name.to_string(),
        detail: if skipped.is_empty() {
            String::new()
        } else {
            format!(
                " after the shims (skipped: {})",
                skipped
                    .iter()
                    .map(|s| format!("{} — {}", s.path.display(), s.reason))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        },
    })
}

/// argv[0] for the child: the name as typed when it was a bare name (what a
/// shell would pass), else the real program's path.
fn child_arg0(invoked_as: &OsStr) -> Option<OsString> {
    (Path::new(invoked_as).components().count() == 1).then(|| invoked_as.to_os_string())
}
