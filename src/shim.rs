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
///
/// After the last record (the `exit` record) is written, the policy's sinks
/// get one flush bounded by their `flush_timeout`; what it does not ship
/// stays in their spools for a later invocation.
pub fn run(call: Call, notice: &mut dyn FnMut(String)) -> Result<i32> {
    let mut sinks: Vec<crate::sinks::SinkConfig> = Vec::new();
    let result = run_inner(call, notice, &mut sinks);
    if let (false, Some(state)) = (sinks.is_empty(), paths::state_dir()) {
        crate::sinks::flush_at_exit(&sinks, &state);
    }
    result
}

fn run_inner(
    call: Call,
    notice: &mut dyn FnMut(String),
    ship: &mut Vec<crate::sinks::SinkConfig>,
) -> Result<i32> {
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
    let (loaded, fleet_refresh) = load_policy(&discovery);
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
    let (mut decision, plan) = decide_sources(
        call.tool,
        &args,
        mode,
        &policy,
        &classification,
        real.as_ref().ok().map(PathBuf::as_path),
        cache.as_deref(),
    );

    // Known-malicious packages named on the command line or locked.
    let mut threat_index = None;
    let mut threat_error = None;
    let verb = classification.verb;
    if mode != Mode::Off && !policy.threat_feeds.is_empty() && verb != classify::Verb::Other {
        match threats_before(&policy, call.tool, &args, verb, &cwd) {
            Ok((ix, reasons)) => {
                decide::add(&mut decision, mode, reasons);
                threat_index = ix;
            }
            Err(e) if mode == Mode::Enforce => threat_error = Some(e),
            Err(e) => notice(format!(
                "warning: {e}; the tool runs anyway ({} mode)",
                mode_name(mode)
            )),
        }
    }

    // The release-age cooldown, through the tool's own filter.
    let mut cooldown_plan = None;
    if let (true, Some(age)) = (
        mode != Mode::Off,
        policy.release_age_for(call.tool.ecosystem),
    ) {
        let supports = |args: &[&str], flag: &str| {
            real.as_ref().is_ok_and(|p| {
                probe_help(
                    p,
                    real_tool.as_ref().and_then(|t| t.sha256.as_deref()),
                    cache.as_deref(),
                    args,
                    flag,
                )
            })
        };
        match decide::cooldown::plan(
            call.tool,
            &args,
            verb,
            age.value,
            jiff::Timestamp::now(),
            &decide::cooldown::Ctx {
                env: &|k| std::env::var(k).ok(),
                cwd: &cwd,
                supports: &supports,
            },
        ) {
            Ok(Some((p, applied))) => {
                decision.cooldown = Some(applied);
                cooldown_plan = Some(p);
            }
            Ok(None) => {}
            Err(why) => {
                let origin = age.origin.as_ref().map(|o| o.to_string());
                decide::add(
                    &mut decision,
                    mode,
                    vec![record::Reason {
                        code: decide::cooldown::CODE.into(),
                        message: format!(
                            "a release-age cooldown of {} is in force for {} but {why}",
                            decide::cooldown::human(age.value),
                            call.tool.ecosystem
                        ),
                        origin,
                    }],
                );
            }
        }
    }

    // Install-time code: switched off in the tool, run afterwards if approved.
    let script_violations =
        crate::scripts::violations(&policy, call.tool, classification.verb, &args, &cwd);
    decide::add(&mut decision, mode, script_violations);
    #[allow(unused_mut)]
    let mut scripts = crate::scripts::prepare(call.tool, classification.verb, &args, &cwd, &policy);

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
    if let Some(l) = log.as_mut() {
        for e in l.take_tee_errors() {
            notice(format!(
                "warning: {e}; the audit log has the record but the sink will miss it"
            ));
        }
        ship.extend(policy.sinks.iter().map(|s| s.value.clone()));
    }

    let log_target = log.as_ref().and(audit_target(&policy));
    // The supervised tree's processes go to the log as they are learned.
    supervise::stream_processes(
        log_target
            .clone()
            .map(|t| process_record_sink(t, &invocation_id)),
    );
    // Filled once the tool has run; written just before the exit record.
    let tree: std::cell::Cell<Option<supervise::Tree>> = std::cell::Cell::new(None);
    let packages: std::cell::Cell<Vec<record::package::PackageRecord>> = Default::default();
    let mut finish = |ran: bool,
                      code: i32,
                      signal: Option<i32>,
                      pid: Option<u32>,
                      err: Option<&Error>,
                      findings: Vec<record::Reason>| {
        if let Some(l) = log.as_mut() {
            // What ran under the tool and what it left in watched paths.
            if let Some(t) = tree.take() {
                for rec in t.records(&invocation_id) {
                    l.append(&rec)?;
                }
            }
            // What the install added, changed or removed.
            for rec in packages.take() {
                l.append(&rec)?;
            }
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
                findings,
                fleet_refresh: fleet_refresh.clone(),
            };
            l.append(&rec)
        } else {
            Ok(())
        }
    };

    if !policy_errors.is_empty() && mode == Mode::Enforce {
        let err = Error::PolicyInvalid(policy_errors);
        let _ = finish(false, exit::CONFIG, None, None, Some(&err), Vec::new());
        return Err(err);
    }
    if let Some(err) = threat_error {
        let _ = finish(false, err.exit_code(), None, None, Some(&err), Vec::new());
        return Err(err);
    }
    let program = match real {
        Ok(p) => p,
        Err(err) => {
            let _ = finish(false, err.exit_code(), None, None, Some(&err), Vec::new());
            return Err(err);
        }
    };
    if decision.action == record::Action::Deny {
        let err = Error::Denied {
            message: denial_message(&call, &args, &classification, &decision, &policy),
        };
        let _ = finish(false, exit::DENIED, None, None, Some(&err), Vec::new());
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
        #[cfg(target_os = "linux")]
        trace: None,
    };
    // A forced mirror reaches the tool through its environment or arguments.
    let plan_dir = match plan
        .as_ref()
        .map(|p| apply_plan(p, &mut launch, &invocation_id))
    {
        Some(Err(err)) => {
            let _ = finish(false, err.exit_code(), None, None, Some(&err), Vec::new());
            return Err(err);
        }
        Some(Ok(dir)) => dir,
        None => None,
    };
    if let Some(p) = &cooldown_plan {
        if let Err(err) = apply_plan(p, &mut launch, &invocation_id) {
            let _ = finish(false, err.exit_code(), None, None, Some(&err), Vec::new());
            return Err(err);
        }
    }
    if let Some(s) = scripts.as_ref().filter(|s| !s.in_tool) {
        s.apply(&mut launch);
        crate::scripts::record_disabled(call.tool, s, &invocation_id, log_target.as_ref());
    }
    // Provenance: what the install changes, taken before it runs.
    let provenance_on = provenance_wanted(
        mode,
        policy.audit_provenance.value,
        verb == classify::Verb::Install || crate::provenance::removes(call.tool, &args),
    );
    let prov_cx = crate::provenance::Ctx {
        tool: call.tool,
        args: &args,
        cwd: &cwd,
        real: &launch.program,
        home: home.as_deref(),
        env: &env,
    };
    let mut watched = supervise::watch::roots();
    let prov_before = provenance_on.then(|| {
        for r in crate::provenance::bin_roots(&prov_cx) {
            if !watched.iter().any(|w| w.path == r.path) {
                watched.push(r);
            }
        }
        crate::provenance::before(&prov_cx)
    });
    let before = supervise::watch::snapshot(&watched);
    // Verbs that fetch go through the egress proxy (connections are recorded).
    let proxy = supervise::proxy::for_invocation(&supervise::proxy::Invocation {
        tool: call.tool,
        verb: classification.verb,
        mode,
        policy: &policy,
        real: &launch.program,
        cache: cache.as_deref(),
        invocation_id: &invocation_id,
        log: log_target.clone(),
        artifacts: provenance_on,
        started: std::time::SystemTime::now() - started.elapsed(),
    });
    let proxy = match proxy {
        Ok(p) => p,
        Err(err) if mode == Mode::Enforce => {
            if let Some(dir) = &plan_dir {
                let _ = std::fs::remove_dir_all(dir);
            }
            let _ = finish(false, err.exit_code(), None, None, Some(&err), Vec::new());
            return Err(err);
        }
        Err(err) => {
            notice(format!(
                "warning: {err}; the tool runs without it ({} mode)",
                mode_name(mode)
            ));
            None
        }
    };
    if let Some(p) = &proxy {
        p.apply(&mut launch);
    }
    // The install-time code of this invocation runs confined (see
    // supervise::sandbox) with these settings, until the proxy stops.
    let sandbox = supervise::sandbox::enter(supervise::sandbox::Context {
        mode,
        policy: policy.sandbox.clone(),
        tool: call.tool.name,
        prepared: Default::default(),
        proxy: proxy.as_ref().map(|p| p.proxy.handle()),
    });
    // npm: its scripts run inside its own install, each decided and run
    // by the broker; without a broker, they are switched off and the
    // approved ones run afterwards.
    #[cfg(target_os = "linux")]
    let npm_broker = match scripts.as_mut().filter(|s| s.in_tool) {
        Some(s) => {
            // `npx`: its packages are built with the real npm, from the
            // npx directories npm installs into in this run.
            let npx_cache = s.broker.as_ref().and_then(|b| b.npx_cache.clone());
            let npm = npx_cache.as_ref().and_then(|_| {
                let skip = resolve::Skip::new(
                    &shim_dirs(&call.invoked_as),
                    std::env::current_exe().ok().as_deref(),
                );
                resolve::find_real_tool("npm", std::env::var_os("PATH").as_deref(), &cwd, &skip).0
            });
            let started =
                crate::scripts::npm_broker::Broker::start(crate::scripts::npm_broker::Config {
                    policy: policy.clone(),
                    mode,
                    invocation_id: invocation_id.clone(),
                    log: log_target.clone(),
                    pnpm_dlx: s
                        .after
                        .as_ref()
                        .is_some_and(|a| a.family == crate::scripts::Family::PnpmDlx),
                    plan: s
                        .broker
                        .clone()
                        .unwrap_or_else(|| crate::scripts::npm::BrokerPlan {
                            root: s
                                .after
                                .as_ref()
                                .map(|a| a.root.clone())
                                .unwrap_or_else(|| cwd.clone()),
                            ..Default::default()
                        }),
                    trace: launch.trace.clone(),
                    env: launch.env.clone(),
                    npm,
                    npx_before: npx_cache
                        .as_deref()
                        .map(crate::scripts::npm_broker::npx_state)
                        .unwrap_or_default(),
                });
            match started {
                Ok(b) => {
                    b.apply(&mut launch, s.insert_at);
                    s.apply_in_tool(&mut launch);
                    Some(b)
                }
                Err(_) => {
                    s.fall_back(&mut launch);
                    None
                }
            }
        }
        None => None,
    };
    #[cfg(not(target_os = "linux"))]
    if let Some(s) = scripts.as_mut() {
        s.fall_back(&mut launch);
    }
    // pip / uv with PyPI approvals: the approved sdists are built first,
    // supervised, into a wheelhouse the (wheels-only) tool then reads.
    let mut _wheelhouse = None;
    // (Taken the first time a step looks for another tool: most
    // invocations never do.)
    let skip = std::cell::OnceCell::new();
    let find_tool = |name: &str| {
        let skip = skip.get_or_init(|| {
            resolve::Skip::new(
                &shim_dirs(&call.invoked_as),
                std::env::current_exe().ok().as_deref(),
            )
        });
        resolve::find_real_tool(name, std::env::var_os("PATH").as_deref(), &cwd, skip).0
    };
    if let Some(s) = scripts.as_ref().filter(|s| s.python.is_some()) {
        let cx = scripts_context(&policy, mode, &invocation_id, &launch, &find_tool);
        match crate::scripts::before_run_python(s, &cx, log_target.as_ref(), notice) {
            Ok(built) => _wheelhouse = built,
            Err(err) => {
                let _ = proxy.map(|p| p.proxy.stop());
                if let Some(dir) = &plan_dir {
                    let _ = std::fs::remove_dir_all(dir);
                }
                let _ = finish(false, err.exit_code(), None, None, Some(&err), Vec::new());
                return Err(err);
            }
        }
        if let Some(b) = &_wheelhouse {
            b.apply(&mut launch.args);
        }
    }
    // Install-time code read from the packages before the tool runs (gem,
    // mvn); cargo's fetch is not run when its graph cache says it has
    // nothing to do.
    let mut skip_tool = false;
    // `bunx`, and `npx` without the broker: its cache entry prepared and
    // the approved packages built before it runs
    // ([`crate::scripts::bun::x_before`], [`crate::scripts::npx::before`]);
    // a failed build is the exit code and the tool does not run.
    let mut failed_build = None;
    if let Some(s) = &scripts {
        let cx = scripts_context(&policy, mode, &invocation_id, &launch, &find_tool);
        let prepared = crate::scripts::before_bunx(s, &cx, log_target.as_ref(), notice);
        // `pnpm dlx` where every package's build may run: its tree is
        // resolved first and each package with install-time code named
        // ([`crate::scripts::pnpm::dlx_before`]).
        let more = crate::scripts::before_pnpm_dlx(s, &cx, notice);
        // `npx` without the npm broker: its directory prepared and built
        // first ([`crate::scripts::npx`]).
        // `pnpm dlx` without the broker: its cache entry prepared and
        // built first ([`crate::scripts::pnpm::dlx_prepare`]).
        failed_build = prepared
            .failed
            .or_else(|| crate::scripts::before_npx(s, &cx, log_target.as_ref(), notice))
            .or_else(|| {
                crate::scripts::before_pnpm_dlx_prepare(s, &cx, log_target.as_ref(), notice)
            });
        skip_tool = failed_build.is_some();
        if let Some((at, spec)) = prepared.spec {
            // A dist-tag: the version pkgward prepared the entry for.
            if let Some(a) = launch.args.get_mut(at) {
                *a = spec;
            }
        }
        s.insert_in_tool(&mut launch, more);
    }
    if let Some(s) = scripts.as_ref().filter(|_| !skip_tool) {
        let checked = crate::scripts::before_run(
            s,
            &launch,
            &policy,
            &invocation_id,
            log_target.as_ref(),
            notice,
        );
        match checked {
            Ok(skip) => skip_tool = skip,
            Err(err) => {
                if let Some(p) = proxy {
                    let _ = p.proxy.stop();
                }
                if let Some(dir) = &plan_dir {
                    let _ = std::fs::remove_dir_all(dir);
                }
                let _ = finish(false, err.exit_code(), None, None, Some(&err), Vec::new());
                return Err(err);
            }
        }
    }
    let mut result = if skip_tool {
        Ok(supervise::Ended {
            pid: 0,
            code: failed_build.unwrap_or(0),
            signal: None,
            processes: Vec::new(),
        })
    } else {
        crate::scripts::run_tool(scripts.as_ref(), &launch)
    };
    #[cfg(target_os = "linux")]
    if let Some(b) = npm_broker {
        let (notices, outcomes) = b.stop();
        crate::scripts::broker_stopped(scripts.as_ref(), notices, outcomes, notice);
    }
    if let (Ok(ended), Some(s)) = (&mut result, &scripts) {
        let cx = scripts_context(&policy, mode, &invocation_id, &launch, &find_tool);
        if crate::scripts::after_run(s, ended, &cx, log_target.as_ref(), notice) {
            // cargo: the fetch it skipped is needed after all.
            result = crate::scripts::run_tool(Some(s), &launch);
            if let Ok(ended) = &mut result {
                crate::scripts::after_run(s, ended, &cx, log_target.as_ref(), notice);
            }
        }
    }
    // uv projects: the approved sdists uv built in that run are recorded.
    if let (Ok(ended), Some(b)) = (&result, &_wheelhouse) {
        b.record_after(ended.code, ended.signal, log_target.as_ref(), notice);
    }
    // Approved install code ran above with the tool's environment: through
    // the same proxy and mirror settings, which end only now.
    drop(sandbox);
    let artifacts = proxy.map(|p| p.proxy.stop()).unwrap_or_default();
    if let Some(dir) = plan_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    match result {
        Ok(ended) => {
            let watched_after = supervise::watch::snapshot(&watched);
            tree.set(Some(supervise::Tree {
                written: supervise::watch::changes(&watched, &before, &watched_after),
                truncated: before.truncated || watched_after.truncated,
                processes: ended.processes.iter().map(redacted_process).collect(),
            }));
            if let Some(b) = &prov_before {
                packages.set(crate::provenance::after(b, &invocation_id, &artifacts));
            }
            // What the install resolved: a listed package that only the
            // resolution revealed.
            let after = match threat_index.as_mut() {
                Some(ix) if verb == classify::Verb::Install => {
                    let entries = decide::threats::project_lock_entries(&cwd, call.tool.ecosystem);
                    decide::threats::check_locked(ix, &entries).unwrap_or_default()
                }
                _ => Vec::new(),
            };
            let denied_after = !after.is_empty() && mode == Mode::Enforce;
            let code = if denied_after {
                exit::DENIED
            } else {
                ended.code
            };
            let err = (!after.is_empty()).then(|| Error::Denied {
                message: threat_after_message(&after, mode, &cwd),
            });
            if let Err(e) = finish(
                true,
                code,
                ended.signal,
                Some(ended.pid),
                err.as_ref(),
                after,
            ) {
                notice(format!("warning: {e}"));
            }
            if code != 0 {
                if let Some(c) = &decision.cooldown {
                    notice(format!(
                        "note: a release-age cooldown of {} is in force (versions published after {} are \
                         not installed, through {}); if the tool found no matching version, that is why",
                        decide::cooldown::human(std::time::Duration::from_secs(c.min_release_age_secs)),
                        c.before,
                        c.via
                    ));
                }
            }
            match err {
                Some(e) if denied_after => Err(e),
                Some(e) => {
                    notice(e.to_string());
                    Ok(code)
                }
                None => Ok(code),
            }
        }
        Err(err) => {
            let _ = finish(false, err.exit_code(), None, None, Some(&err), Vec::new());
            Err(err)
        }
    }
}

type ThreatsBefore = (Option<crate::threats::Index>, Vec<record::Reason>);

/// What the scripts steps around the real tool's run get ([`crate::scripts::Context`]).
fn scripts_context<'a>(
    policy: &'a Policy,
    mode: Mode,
    invocation_id: &'a str,
    launch: &'a supervise::Launch,
    find_tool: &'a dyn Fn(&str) -> Option<PathBuf>,
) -> crate::scripts::Context<'a> {
    crate::scripts::Context {
        policy,
        mode,
        invocation_id,
        program: &launch.program,
        args: &launch.args,
        env: &launch.env,
        find_tool,
        #[cfg(target_os = "linux")]
        trace: launch.trace.clone(),
        attached: None,
    }
}

/// Opens (building when stale) the threat index of the policy's feeds and
/// checks the packages the command line names and the project's lockfiles.
fn threats_before(
    policy: &Policy,
    tool: Tool,
    args: &[String],
    verb: classify::Verb,
    cwd: &Path,
) -> Result<ThreatsBefore> {
    let feeds: Vec<PathBuf> = policy
        .threat_feeds
        .iter()
        .map(|f| f.value.clone())
        .collect();
    let state = paths::state_dir().ok_or_else(|| {
        Error::Config(
            "threat feeds need a state directory for their index (set PKGWARD_STATE_DIR)".into(),
        )
    })?;
    let fail = |e: crate::threats::FeedError| {
        Error::Config(format!(
            "{e}\nthe policy names this threat feed, so in enforce mode the tool does not run without it; \
             fix the feed or run `pkgward threats sync`"
        ))
    };
    let Some(mut ix) = crate::threats::ensure_index(&feeds, &state).map_err(fail)? else {
        return Ok((None, Vec::new()));
    };
    let named = classify::packages::named(tool, args, verb);
    let mut reasons = decide::threats::check_named(&mut ix, &named).map_err(fail)?;
    if verb == classify::Verb::Install {
        let entries = decide::threats::project_lock_entries(cwd, tool.ecosystem);
        reasons.extend(decide::threats::check_locked(&mut ix, &entries).map_err(fail)?);
    }
    Ok((Some(ix), reasons))
}

fn threat_after_message(found: &[record::Reason], mode: Mode, cwd: &Path) -> String {
    let mut m = String::from(if mode == Mode::Enforce {
        "denied: the install resolved packages listed as malicious:\n"
    } else {
        "warning: the install resolved packages listed as malicious (audit mode: exit code unchanged):\n"
    });
    for r in found {
        m.push_str(&format!(
            "  {} ({})\n",
            r.message,
            r.origin.as_deref().unwrap_or("")
        ));
    }
    m.push_str(&format!(
        "fix: they are installed in {} now, but install-time code stays subject to the scripts policy; \
         remove them (and whatever depends on them) and re-run the install",
        cwd.display()
    ));
    m
}

/// Starts `pkgward fleet sync --background` detached from this process (at
/// most one per `refresh_guard` period), and says what it did.
fn refresh_in_background(cfg: &crate::fleet::FleetConfig, state: &Path) -> String {
    if !crate::fleet::claim_refresh(cfg, state) {
        return "a background refresh started recently; not started again".into();
    }
    let Ok(exe) = std::env::current_exe() else {
        return "cannot start a background refresh: the running executable is unknown".into();
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["fleet", "sync", "--background"])
        .env("PKGWARD_STATE_DIR", state)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Out of the terminal's process group: a Ctrl-C meant for the tool
        // does not reach it.
        cmd.process_group(0);
    }
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        const DETACHED_PROCESS: u32 = 0x0000_0008;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        cmd.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
    }
    match cmd.spawn() {
        Ok(child) => format!("started in the background (pid {})", child.id()),
        Err(e) => format!("cannot start a background refresh: {e}"),
    }
}

fn describe(r: &std::result::Result<crate::fleet::Fetched, String>) -> String {
    match r {
        Ok(crate::fleet::Fetched::Updated { sha256 }) => format!("updated (sha256 {sha256})"),
        Ok(crate::fleet::Fetched::NotModified) => "not modified".into(),
        Err(e) => format!("failed: {e}"),
    }
}

/// Loads the policy. When the system layer names a remote policy with no
/// usable copy (none, refused, or older than `max_age`), it is fetched first
/// within its `timeout`; when the copy is only due for a refresh, a detached
/// `pkgward fleet sync --background` does it (the wrapped call does not wait).
fn load_policy(discovery: &policy::Discovery) -> (policy::Loaded, Option<String>) {
    let mut loaded = policy::load(discovery);
    let Some(f) = loaded.policy.fleet.clone() else {
        return (loaded, None);
    };
    let Some(state) = paths::state_dir() else {
        return (loaded, None);
    };
    match f.status {
        policy::FleetStatus::Unavailable | policy::FleetStatus::Stale => {
            let r = crate::fleet::fetch(&f.config, &state, f.config.timeout);
            loaded = policy::load(discovery);
            if let Some(fs) = loaded.policy.fleet.as_mut() {
                fs.refresh = Some(describe(&r));
            }
            (loaded, None)
        }
        policy::FleetStatus::Due => {
            // A detached `pkgward fleet sync --background`: the wrapped call
            // does not wait for the policy server at all.
            let note = refresh_in_background(&f.config, &state);
            (loaded, Some(note))
        }
        policy::FleetStatus::Fresh => (loaded, None),
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
    let (threats, rest): (Vec<_>, Vec<_>) = decision
        .reasons
        .iter()
        .partition(|r| r.code == decide::threats::CODE);
    let (cooldown, rest): (Vec<_>, Vec<_>) = rest
        .into_iter()
        .partition(|r| r.code == decide::cooldown::CODE);
    let (script_reasons, sources): (Vec<_>, Vec<_>) = rest
        .into_iter()
        .partition(|r| crate::scripts::all_ours(std::slice::from_ref(*r)));
    let script_reasons: Vec<record::Reason> = script_reasons.into_iter().cloned().collect();
    let mut m = String::new();
    if !script_reasons.is_empty() {
        m.push_str(&crate::scripts::denial_message(&command, &script_reasons));
        if threats.is_empty() && cooldown.is_empty() && sources.is_empty() {
            return m;
        }
        m.push('\n');
    }
    if !cooldown.is_empty() {
        m.push_str(&format!(
            "denied: `{}` ({}) cannot be held to the release-age cooldown:\n",
            command.join(" "),
            classification.verb.as_str()
        ));
        for r in &cooldown {
            m.push_str(&format!("  {}\n", r.message));
            if let Some(o) = &r.origin {
                m.push_str(&format!("  (min_release_age set at {o})\n"));
            }
        }
        if threats.is_empty() && sources.is_empty() {
            m.push_str(&format!(
                "fix: use a tool that filters by publish time (npm, uv, bun, pip 25.3+), drop the exemption \
                 named above, or set `[registries] min_release_age = {{ {eco} = \"0s\" }}` for this ecosystem \
                 in the policy"
            ));
            return m;
        }
    }
    if !threats.is_empty() {
        m.push_str(&format!(
            "denied: `{}` ({}) names packages listed as malicious:\n",
            command.join(" "),
            classification.verb.as_str()
        ));
        for r in &threats {
            m.push_str(&format!(
                "  {} ({})\n",
                r.message,
                r.origin.as_deref().unwrap_or("")
            ));
        }
        if sources.is_empty() {
            m.push_str(
                "fix: do not install these; if a listing is wrong, take it up with the team that \
                 distributes the threat feed (`pkgward policy show` names the feeds)",
            );
            return m;
        }
    }
    m.push_str(&format!(
        "denied: `{}` ({}) would use sources the policy does not approve:\n",
        command.join(" "),
        classification.verb.as_str()
    ));
    for r in &sources {
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

/// Whether the tool's `args` output (its help) mentions `flag`; cached per
/// tool digest under the state directory.
fn probe_help(
    program: &Path,
    sha256: Option<&str>,
    cache: Option<&Path>,
    args: &[&str],
    flag: &str,
) -> bool {
    use sha2::Digest;
    let key = sha256.map(|s| {
        let mut h = sha2::Sha256::new();
        h.update(s.as_bytes());
        for a in args.iter().chain([&flag]) {
            h.update([0]);
            h.update(a.as_bytes());
        }
        h.finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    });
    let file = match (cache, &key) {
        (Some(c), Some(k)) => Some(c.join("probe").join(k)),
        _ => None,
    };
    if let Some(v) = file.as_ref().and_then(|f| std::fs::read(f).ok()) {
        return v == b"1";
    }
    let out = std::process::Command::new(program)
        .args(args)
        .env(resolve::DEPTH_VAR, resolve::DEPTH_LIMIT.to_string())
        .stdin(std::process::Stdio::null())
        .output();
    // Either stream: bunx prints its help on stderr.
    let yes = out.is_ok_and(|o| {
        String::from_utf8_lossy(&o.stdout).contains(flag)
            || String::from_utf8_lossy(&o.stderr).contains(flag)
    });
    if let Some(f) = file {
        if let Some(dir) = f.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(f, if yes { "1" } else { "0" });
    }
    yes
}

/// Whether provenance is collected: commands that install, update or
/// remove packages, under a policy that is not off and has not switched it
/// off (`[audit] provenance = false`, which a project file cannot set: the
/// environment cannot either, so install code cannot hide what a nested
/// install does).
fn provenance_wanted(mode: Mode, enabled: bool, changes_packages: bool) -> bool {
    mode != Mode::Off && changes_packages && enabled
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
        fleet: policy.fleet.clone(),
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

/// Where this invocation's records go: the audit log with its rotation and
/// the spools of the policy's sinks.
/// A process record's command line, redacted like argv.
fn redacted_process(p: &supervise::ProcessSeen) -> supervise::ProcessSeen {
    let mut p = p.clone();
    p.command_line = p.command_line.as_deref().map(redact::redact_command_line);
    p
}

/// Writes the supervised tree's processes to the audit log as the
/// supervisor learns them (Windows: the Job Object's messages), one complete
/// line each through the log's own handle (teed to the sinks' spools), so a
/// pkgward killed mid-run still leaves the records so far. A record that
/// cannot be written has no one to tell from the watcher thread; the
/// invocation's own records report the log.
fn process_record_sink(target: record::LogTarget, invocation_id: &str) -> supervise::ProcessSink {
    use record::process::{ProcessExitRecord, ProcessStartRecord};
    let id = invocation_id.to_string();
    let log: std::sync::Mutex<Option<AuditLog>> = std::sync::Mutex::new(None);
    std::sync::Arc::new(move |e: supervise::TreeEvent<'_>| {
        let Ok(mut guard) = log.lock() else {
            return;
        };
        if guard.is_none() {
            *guard = target.open().ok();
        }
        let Some(l) = guard.as_mut() else {
            return;
        };
        let _ = match e {
            supervise::TreeEvent::Started(p) => {
                // The exit code is the `process-exit` record's, also for a
                // process that had ended by the time it was learned.
                let mut p = redacted_process(p);
                p.exit_code = None;
                l.append(&ProcessStartRecord {
                    kind: "process",
                    invocation_id: &id,
                    time: record::now_rfc3339(),
                    process: &p,
                })
            }
            supervise::TreeEvent::Exited {
                pid,
                exit_code,
                note,
            } => l.append(&ProcessExitRecord {
                kind: "process-exit",
                invocation_id: &id,
                time: record::now_rfc3339(),
                pid,
                exit_code,
                note,
            }),
        };
    })
}

pub fn audit_target(policy: &Policy) -> Option<record::LogTarget> {
    let mut t = record::LogTarget::new(audit_log_path(policy)?);
    let mut rotation = record::log::Rotation::default();
    if let Some(m) = &policy.audit_max_size {
        rotation.max_bytes = m.value;
    }
    if let Some(k) = &policy.audit_keep {
        rotation.keep = k.value;
    }
    t.rotation = Some(rotation);
    if let Some(state) = paths::state_dir() {
        t.tees = policy
            .sinks
            .iter()
            .map(|s| crate::sinks::live_path(&state, &s.value.name))
            .collect();
    }
    Some(t)
}

fn open_log(
    policy: &Policy,
    mode: Mode,
    notice: &mut dyn FnMut(String),
) -> Result<Option<AuditLog>> {
    let opened = match audit_target(policy) {
        Some(t) => t.open(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A process learned only after it ended (a Job Object's message read
    /// late under load) has its exit code in its `process-exit` record
    /// alone, as every other process.
    #[test]
    fn a_process_record_carries_no_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let sink = process_record_sink(record::LogTarget::new(path.clone()), "inv");
        let seen = supervise::ProcessSeen {
            pid: 7,
            exit_code: Some(0),
            ..Default::default()
        };
        sink(supervise::TreeEvent::Started(&seen));
        sink(supervise::TreeEvent::Exited {
            pid: 7,
            exit_code: Some(0),
            note: None,
        });
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["kind"], "process");
        assert!(lines[0].get("exit_code").is_none(), "{}", lines[0]);
        assert_eq!(lines[1]["kind"], "process-exit");
        assert_eq!(lines[1]["exit_code"], 0);
    }
}
