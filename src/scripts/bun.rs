//! `bunx` / `bun x`: bun installs the package into its cache
//! (`<cache>/.bunx-<uid>/<name>@<version>`, `latest` when none is given;
//! a hoisted `node_modules`, through `bun add <spec> --no-summary` in that
//! directory) and runs its command in the same step; it reuses an entry
//! whose command is less than a day old (a dist-tag such as `@next` is
//! installed afresh every time). pkgward runs it with scripts off
//! (`npm_config_ignore_scripts=true`, which bun honours for bunx, bun's
//! default trusted-dependencies list included; `BUN_CONFIG_IGNORE_SCRIPTS`
//! is not read by bunx): bunx has no per-package switch (`--trust` runs
//! the scripts of every package, `trustedDependencies` would have to be
//! written into the package.json bunx generates), and nothing can run
//! between its install and its command.
//!
//! So on Linux, when the policy approves npm packages, pkgward prepares
//! the entry before bunx runs ([`x_before`]): the real bun's `add` of the
//! spec into it (scripts off, output on stderr), then the entry's
//! install-time code decided like `bun install`'s ([`super::run_after`]:
//! approved ones run confined through npm with the entry as the project,
//! denied ones recorded and listed). bunx then finds the entry installed
//! and fresh and runs the command without installing again.
//!
//! Where pkgward does not prepare it (elsewhere, no npm approvals, a spec
//! that is not `NAME[@VERSION]`, a dist-tag, an option before the package
//! other than `--bun`), bunx installs as before, and afterwards the cache
//! entry this run installed is read: every package with install-time code
//! is decided, recorded as not run, and the denied ones are listed with
//! their approve command ([`x_after`]). A reused entry installs nothing:
//! nothing to record.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::{npm, After, Context, Family, Runner, Setup};
use crate::record::AuditLog;

/// bunx reuses an entry whose command is younger than this (a day).
#[cfg(target_os = "linux")]
const FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// When this invocation's bunx started (its cache entry is newer).
static START: Mutex<Option<SystemTime>> = Mutex::new(None);

/// This invocation is `bunx` (else `bun x` or `bun create`).
static BUNX: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `bunx` / `bun x` / `bun create`: scripts off, the entry prepared before
/// it ([`x_before`]), what it installed itself listed after ([`x_after`]).
pub fn x_setup(bunx: bool, cwd: &Path) -> Setup {
    *START.lock().unwrap_or_else(|e| e.into_inner()) = Some(SystemTime::now());
    BUNX.store(bunx, std::sync::atomic::Ordering::Relaxed);
    Setup {
        env: super::ignore_scripts_env("true"),
        after: Some(After::all_in(
            Family::BunX,
            Runner::SameTool,
            cwd.to_path_buf(),
        )),
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

/// What `bunx ARGS` (`bunx`) or `bun ARGS` (`bun x …`) installs: `(name,
/// version as bunx names the entry, the command it looks for)`. `None`
/// where pkgward does not prepare the entry: another `bun` command (`bun
/// create`), a flag before the package other than `--bun`, no package, a
/// spec that is not `NAME[@VERSION]` (URLs, `github:`…, paths), and a
/// dist-tag (`NAME@next`: bunx installs it afresh every time).
pub fn x_spec<S: AsRef<std::ffi::OsStr>>(
    bunx: bool,
    args: &[S],
) -> Option<(String, String, String)> {
    let mut first = true;
    let mut spec = None;
    for a in args {
        let a = a.as_ref().to_str()?;
        if a.is_empty() {
            continue;
        }
        if a.starts_with('-') {
            if a != "--bun" {
                return None;
            }
            continue;
        }
        if std::mem::take(&mut first) && !bunx {
            if a != "x" {
                return None;
            }
            continue;
        }
        spec = Some(a);
        break;
    }
    let spec = spec?;
    let at = spec.char_indices().skip(1).find(|(_, c)| *c == '@');
    let (name, version) = match at {
        Some((i, _)) => (&spec[..i], &spec[i + 1..]),
        None => (spec, ""),
    };
    let part = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._~".contains(&b))
    };
    let valid = match name.strip_prefix('@') {
        Some(scoped) => scoped
            .split_once('/')
            .is_some_and(|(s, n)| part(s) && part(n)),
        None => part(name),
    };
    let range = version.is_empty()
        || (version.starts_with(|c: char| c.is_ascii_digit() || "^~<>=*xXv".contains(c))
            && !version.contains([':', '/', '\\']));
    if !valid || !range {
        return None;
    }
    let name = if name == "tsc" { "typescript" } else { name };
    let bin = match name {
        "typescript" => "tsc",
        _ => name.rsplit('/').next().unwrap_or(name),
    };
    let version = if version.is_empty() {
        "latest"
    } else {
        version
    };
    Some((name.to_string(), version.to_string(), bin.to_string()))
}

/// Linux, before bunx (the policy approving npm packages): pkgward installs
/// the package into the cache entry bunx is about to look in (the real
/// bun's `add`, scripts off, as bunx would), then the entry's approved
/// install-time code runs confined with the entry as the project and the
/// denied code is recorded and listed ([`super::run_after`], npm's
/// runner); bunx then finds the entry installed and runs its command. The
/// output goes to stderr. Nothing is done when bunx would not install (an
/// entry it reuses, a command it finds on PATH) or when the spec is not a
/// plain `NAME[@VERSION]` ([`x_spec`]): bunx then installs as before, with
/// scripts off. `Some(code)`: an approved build failed; the entry is
/// removed and bunx is not run.
#[cfg(target_os = "linux")]
pub fn x_before(
    cx: &Context<'_>,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Option<i32> {
    use crate::policy::ScriptsDefault;
    use crate::supervise::install_code::{run_install_code, InstallCode};
    use crate::tools::Ecosystem;
    let approves = cx.policy.scripts_default.value != ScriptsDefault::Deny
        || cx
            .policy
            .allow_entries()
            .any(|(e, _)| e.ecosystem == Ecosystem::Npm);
    if !approves {
        return None;
    }
    let bunx = BUNX.load(std::sync::atomic::Ordering::Relaxed);
    let (name, version, bin) = x_spec(bunx, cx.args)?;
    let cwd = std::env::current_dir().ok()?;
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let cache = cache_dir(cx)?;
    let private = cache.join(format!(".bunx-{uid}"));
    let entry = private.join(format!("{name}@{version}"));
    let fresh = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .map(|age| age <= FRESH_FOR)
    };
    let path = super::launch_var(cx.env, "PATH").unwrap_or_default();
    let local = cwd.ancestors().map(|d| d.join("node_modules/.bin"));
    let on_path = version == "latest"
        && local
            .chain(std::env::split_paths(&path))
            .any(|d| fresh(&d.join(&bin)).is_some());
    let cached = fresh(&entry.join("node_modules/.bin").join(&bin));
    // bun uses `.bunx-<uid>` only while it is the user's own and private
    // (else it installs into a shared temp directory).
    let unusable = std::fs::symlink_metadata(&private).is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        !m.is_dir() || m.uid() != uid || m.mode() & 0o077 != 0
    });
    if on_path
        || unusable
        || cached == Some(true)
        || (cached.is_none() && entry.join("node_modules").join(&name).exists())
    {
        return None;
    }
    let Some(bun) = (cx.find_tool)("bun") else {
        notice("bunx: the real bun was not found: its install builds nothing".into());
        return None;
    };
    // Everything this prints goes to stderr: stdout is the command's.
    let attached = super::stderr_attached();
    let mut args: Vec<std::ffi::OsString> = vec![
        "add".into(),
        format!("{name}@{version}").into(),
        "--no-summary".into(),
    ];
    if version == "latest" {
        // As bunx: the newest version, installed over what is there.
        args.extend(["--no-cache".into(), "--force".into()]);
    }
    if let Err(e) = std::fs::create_dir_all(&cache)
        .and_then(|_| {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&entry)
        })
        .and_then(|_| std::fs::write(entry.join("package.json"), "{}\n"))
    {
        notice(format!(
            "bunx: preparing {name}@{version} failed ({}: {e}): bunx installs it itself and builds nothing",
            entry.display()
        ));
        return None;
    }
    let installed = run_install_code(&InstallCode {
        program: bun,
        args,
        cwd: entry.clone(),
        env: cx.env.to_vec(),
        sandboxed: false,
        extra_write: Vec::new(),
        trace: cx.trace.clone(),
        attached: attached.clone(),
        project: None,
    });
    match installed {
        Ok(e) if e.exit_code == 0 => {}
        Ok(e) => {
            notice(format!(
                "bunx: preparing {name}@{version} failed (bun add exited {}): bunx installs it itself and builds nothing",
                e.exit_code
            ));
            return None;
        }
        Err(e) => {
            notice(format!(
                "bunx: preparing {name}@{version} failed ({e}): bunx installs it itself and builds nothing"
            ));
            return None;
        }
    }
    let after = After::all_in(Family::Npm, Runner::Npm, entry.clone());
    let cx = Context {
        attached,
        trace: cx.trace.clone(),
        ..*cx
    };
    let failed = super::run_after(&after, &cx, log, notice);
    // What bunx installs from now on is recorded after it ([`x_after`]).
    *START.lock().unwrap_or_else(|e| e.into_inner()) = Some(SystemTime::now());
    if failed.is_some() {
        let _ = std::fs::remove_dir_all(&entry);
    }
    failed
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

#[cfg(test)]
mod tests {
    use super::x_spec;

    type Spec = Option<(String, String, String)>;

    fn some(name: &str, version: &str, bin: &str) -> Spec {
        Some((name.into(), version.into(), bin.into()))
    }

    #[test]
    fn specs_bunx_installs_into_a_named_entry() {
        let bunx = |args: &[&str]| x_spec(true, args);
        let bun = |args: &[&str]| x_spec(false, args);
        assert_eq!(bunx(&["cowsay", "hi"]), some("cowsay", "latest", "cowsay"));
        assert_eq!(
            bun(&["x", "cowsay", "hi"]),
            some("cowsay", "latest", "cowsay")
        );
        assert_eq!(bun(&["--bun", "x", "a@1.2.3"]), some("a", "1.2.3", "a"));
        assert_eq!(
            bunx(&["--bun", "a@^1.0.0", "--f"]),
            some("a", "^1.0.0", "a")
        );
        assert_eq!(bunx(&["@s/tool@~2"]), some("@s/tool", "~2", "tool"));
        assert_eq!(bunx(&["@s/tool"]), some("@s/tool", "latest", "tool"));
        assert_eq!(bunx(&["tsc"]), some("typescript", "latest", "tsc"));
        // `bunx x`: the package named x.
        assert_eq!(bunx(&["x"]), some("x", "latest", "x"));
    }

    #[test]
    fn specs_pkgward_leaves_to_bunx() {
        for args in [&["create", "foo"][..], &["cowsay"][..], &["x"][..], &[][..]] {
            assert_eq!(x_spec(false, args), None, "bun {args:?}");
        }
        for args in [
            &[][..],
            &["--package", "a", "b"][..],
            &["-p", "a", "b"][..],
            &["--no-install", "a"][..],
            &["a@latest"][..],
            &["a@next"][..],
            &["github:o/r"][..],
            &["https://example.com/a.tgz"][..],
            &["./local"][..],
            &["../up"][..],
            &["A"][..],
            &["@s"][..],
            &["@s/"][..],
            &["a@1.0.0:x"][..],
            &["a/b"][..],
        ] {
            assert_eq!(x_spec(true, args), None, "bunx {args:?}");
        }
    }
}
