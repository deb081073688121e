//! `npx` / `npm exec` / `npm init NAME` where npm's scripts do not run
//! through the shim's broker ([`super::npm_broker`]: on macOS and Windows,
//! and on Linux when the broker cannot start, [`super::Setup::fall_back`]).
//! npm then installs the packages into its npx cache (`<cache>/_npx/<key>`,
//! the key a hash of the package specs) with scripts off, and runs the
//! command right after: nothing can run in between.
//!
//! So when the policy lets any npm package's install-time code run,
//! pkgward prepares that directory before the user's command line runs
//! ([`before`]): the real npm (or npx) runs the same command line, with
//! `--ignore-scripts` and pkgward itself as its `script-shell`, where it
//! does nothing ([`is_prepare_shell`]): npm resolves, keys and installs
//! exactly what the user's run would, and the user's command does not run.
//! The directory it installed into (the one whose hidden lockfile changed)
//! is then built like an install's ([`super::run_after`] with the directory
//! as the project: approved packages through `npm rebuild`, confined to
//! it; denied ones recorded and listed with their approve command). npm's
//! and the builds' output goes to stderr (stdout is the command's). A failing approved build is the exit code: the directory is
//! removed and the command does not run. Then the user's command line runs
//! and npm finds its packages installed in the directory: it does not
//! install them again (a name, a version or a tag resolving to what is
//! there), or re-reads a range without changing what is installed.
//!
//! Whatever npx installs itself in its run (a directory pkgward did not
//! prepare, or a package that changed in it since) is read after it
//! ([`after`]): every package with install-time code is decided, recorded
//! as not run, and the denied ones are listed. An npx directory npm reuses
//! from an earlier run is not built again (as with the broker): `npm cache
//! npx rm KEY` makes the next run install and build it anew.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::{npm, After, Context, Family, Runner, Setup};
use crate::record::AuditLog;

/// Set (to `1`) for the npm that prepares the npx directory: its script
/// shell, pkgward, then runs nothing ([`is_prepare_shell`]).
pub const PREPARE_VAR: &str = "PKGWARD_NPX_PREPARE";

/// npx's directories as they were when its run started (after pkgward's
/// preparation), and the packages of the ones pkgward prepared.
struct State {
    cache: PathBuf,
    dirs: BTreeMap<PathBuf, Option<SystemTime>>,
    prepared: BTreeMap<PathBuf, BTreeMap<String, String>>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// Whether this process is pkgward started by npm as the script shell of
/// the npm that prepares an npx directory, for the command (`-c SCRIPT`,
/// npm's `npx` event): it exits 0 without running anything. (Nothing but
/// that run sets the variable; set elsewhere, it only makes npx's command
/// not run.)
pub fn is_prepare_shell(args: &[OsString]) -> bool {
    args.len() == 2
        && args[0] == "-c"
        && std::env::var_os(PREPARE_VAR).is_some_and(|v| v == "1")
        && std::env::var_os("npm_lifecycle_event").is_some_and(|e| e == "npx")
}

/// Whether this is an `npx`/`npm exec`/`npm init NAME` whose scripts do
/// not run through the broker (with an npx cache).
pub fn applies(setup: &Setup) -> bool {
    plan(setup).is_some()
}

/// Its npx cache.
fn plan(setup: &Setup) -> Option<&Path> {
    if setup.in_tool {
        return None;
    }
    setup
        .broker
        .as_ref()
        .filter(|b| b.exec_shell.is_some())?
        .npx_cache
        .as_deref()
}

/// The command line of the preparing npm: the user's, with `--ignore-scripts`
/// and `--script-shell=<pkgward>` at `at`, after npm's own options (before
/// npx's command, or before a `--`: [`Setup::insert_at`]), where they are
/// the last ones npm reads.
fn prepare_args(args: &[OsString], at: usize, exe: &Path) -> Vec<OsString> {
    let at = at.min(args.len());
    let mut shell = OsString::from("--script-shell=");
    shell.push(exe);
    let mut out = args[..at].to_vec();
    out.push("--ignore-scripts".into());
    out.push(shell);
    out.extend_from_slice(&args[at..]);
    out
}

/// Before the user's npx runs (see the module docs). `Some(code)`: an
/// approved build failed; npx is not run and this is the exit code.
pub fn before(
    setup: &Setup,
    cx: &Context<'_>,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Option<i32> {
    let cache = plan(setup)?;
    let mut state = State {
        cache: cache.to_path_buf(),
        dirs: npm::npx_state(cache),
        prepared: BTreeMap::new(),
    };
    let failed = prepare(&mut state, setup.insert_at, cx, log, notice);
    if failed.is_none() {
        // What npx installs from now on is read after it ([`after`]).
        state.dirs = npm::npx_state(&state.cache);
        *STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some(state);
    }
    failed
}

fn prepare(
    state: &mut State,
    at: usize,
    cx: &Context<'_>,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Option<i32> {
    if !super::npm_builds_any(cx) {
        return None;
    }
    let unprepared = |why: String| {
        format!("npx: preparing its directory failed ({why}): npx installs its packages itself and builds nothing")
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            notice(unprepared(e.to_string()));
            return None;
        }
    };
    let mut env = cx.env.to_vec();
    env.push((PREPARE_VAR.into(), "1".into()));
    let step = super::prepare_step(
        cx,
        cx.program.to_path_buf(),
        prepare_args(cx.args, at, &exe),
        env,
        ("npm", "npx"),
        &unprepared,
        notice,
    );
    let attached = match step {
        super::Step::Done(a) => a,
        super::Step::Stopped(code) => return Some(code),
        super::Step::Failed => return None,
    };
    let now = npm::npx_state(&state.cache);
    let installed: Vec<PathBuf> = now
        .iter()
        .filter(|(d, t)| state.dirs.get(*d) != Some(*t))
        .map(|(d, _)| d.clone())
        .collect();
    let cx = Context {
        attached,
        #[cfg(target_os = "linux")]
        trace: cx.trace.clone(),
        ..*cx
    };
    for dir in installed {
        let after = After::all_in(Family::Npm, Runner::Npm, dir.clone());
        if let Some(code) = super::run_after(&after, &cx, log, notice) {
            // Not left half built for the next run to reuse.
            let _ = std::fs::remove_dir_all(&dir);
            return Some(code);
        }
        let packages = npm::snapshot(&dir);
        state.prepared.insert(dir, packages);
    }
    None
}

/// After the user's npx (whatever its exit code): see the module docs.
pub fn after(
    setup: &Setup,
    cx: &Context<'_>,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) {
    if plan(setup).is_none() {
        return;
    }
    let Some(state) = STATE.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    let mut found = Vec::new();
    for (dir, t) in npm::npx_state(&state.cache) {
        if state.dirs.get(&dir) == Some(&t) {
            continue;
        }
        let mut here = npm::find(&dir, false);
        if let Some(before) = state.prepared.get(&dir) {
            let now = npm::snapshot(&dir);
            here.retain(|p| before.get(&p.rel) != now.get(&p.rel));
        }
        found.extend(here);
    }
    super::report_unbuilt(
        found,
        "not run: npx installed it itself, with scripts off",
        "npx did not build these approved packages (it installed them itself, \
         with scripts off, and ran the command right after)",
        cx,
        log,
        notice,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_preparing_command_line_is_the_users_with_npms_options_last() {
        let exe = Path::new("/p/pkgward");
        let user = |tool: &str, a: &[&str]| {
            let words: Vec<String> = a.iter().map(|s| s.to_string()).collect();
            prepare_args(&os(a), super::super::npx_options_end(tool, &words), exe)
        };
        let ours = ["--ignore-scripts", "--script-shell=/p/pkgward"];
        let with = |before: &[&str], after: &[&str]| {
            let mut v = before.to_vec();
            v.extend(ours);
            v.extend(after);
            os(&v)
        };
        // npx: before the command (its arguments are the command's).
        assert_eq!(
            user("npx", &["--yes", "-p", "a", "cmd", "--x", "y"]),
            with(&["--yes", "-p", "a"], &["cmd", "--x", "y"])
        );
        assert_eq!(
            user("npx", &["--cache", "c", "a@1"]),
            with(&["--cache", "c"], &["a@1"])
        );
        // npm exec / npm init: npm reads options anywhere before a `--`.
        assert_eq!(
            user("npm", &["exec", "--yes", "a", "--", "b", "--c"]),
            with(&["exec", "--yes", "a"], &["--", "b", "--c"])
        );
        assert_eq!(user("npm", &["init", "x"]), with(&["init", "x"], &[]));
        // An index past the end (arguments the shim removed): at the end.
        assert_eq!(prepare_args(&os(&["x"]), 5, exe), with(&["x"], &[]));
    }
}
