//! `bunx` / `bun x`: bun installs the package into its cache
//! (`<cache>/.bunx-<uid>/<spec>`, a hoisted `node_modules`) and runs its
//! command in the same step. pkgward runs it with scripts off
//! (`npm_config_ignore_scripts=true`, which bun honours for bunx, bun's
//! default trusted-dependencies list included; `BUN_CONFIG_IGNORE_SCRIPTS`
//! is not read by bunx). Approved packages are not built: bunx has no
//! per-package switch (`--trust` runs the scripts of every package,
//! `trustedDependencies` would have to be written into the package.json
//! bunx generates), and nothing can run between its install and its
//! command. Afterwards the cache entry this run installed is read: every
//! package with install-time code is decided, recorded as not run, and
//! the denied ones are listed with their approve command ([`x_after`]).
//! A reused entry installs nothing: nothing to record.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::{npm, After, Context, Family, Runner, Setup};
use crate::record::AuditLog;

/// When this invocation's bunx started (its cache entry is newer).
static START: Mutex<Option<SystemTime>> = Mutex::new(None);

/// `bunx` / `bun x` / `bun create`: scripts off, what it skipped listed after.
pub fn x_setup(cwd: &Path) -> Setup {
    *START.lock().unwrap_or_else(|e| e.into_inner()) = Some(SystemTime::now());
    Setup {
        env: super::ignore_scripts_env("true"),
        after: Some(After {
            family: Family::BunX,
            runner: Runner::SameTool,
            root: cwd.to_path_buf(),
            with_root: false,
            only: Vec::new(),
            before: None,
            before_store: None,
            rebuild: false,
        }),
        ..Setup::default()
    }
}

/// bun's install cache (bun's order): `BUN_INSTALL_CACHE_DIR`,
/// `$BUN_INSTALL/install/cache`, `$XDG_CACHE_HOME/.bun/install/cache`,
/// `~/.bun/install/cache`. (A cache directory set in `bunfig.toml` is not
/// read: then nothing is listed.)
fn cache_dir(cx: &Context<'_>) -> Option<PathBuf> {
    let var = |k: &str| {
        super::launch_var(cx.env, k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    var("BUN_INSTALL_CACHE_DIR")
        .or_else(|| var("BUN_INSTALL").map(|b| b.join("install/cache")))
        .or_else(|| var("XDG_CACHE_HOME").map(|x| x.join(".bun/install/cache")))
        .or_else(|| {
            var("HOME")
                .or_else(dirs::home_dir)
                .map(|h| h.join(".bun/install/cache"))
        })
}

/// The bunx entries (`<cache>/.bunx-*/<spec>`) written since `start`.
pub fn entries(cache: &Path, start: SystemTime) -> Vec<PathBuf> {
    let Ok(dirs) = std::fs::read_dir(cache) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = dirs
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".bunx-"))
        .flat_map(|e| super::fresh_dirs(&e.path(), start))
        .collect();
    out.sort();
    out
}

/// After bunx (whatever its exit code): see the module docs.
pub fn x_after(cx: &Context<'_>, log: &mut Option<AuditLog>, notice: &mut dyn FnMut(String)) {
    let start = START.lock().unwrap_or_else(|e| e.into_inner()).take();
    let found: Vec<npm::Package> = match (start, cache_dir(cx)) {
        (Some(t), Some(c)) => entries(&c, t)
            .iter()
            .flat_map(|e| npm::find(e, false))
            .collect(),
        _ => Vec::new(),
    };
    let (denied, approved) = super::record_unbuilt(
        found,
        "not run: bunx runs no install-time code",
        cx,
        log,
        notice,
    );
    super::list_unbuilt(
        &denied,
        &approved,
        "bunx did not build these approved packages (bunx has no per-package switch \
         and runs the command right after its install)",
        notice,
    );
}
