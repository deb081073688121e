//! `bunx` / `bun x` (checked against bun 1.4.5): bun installs the package
//! into its cache (`<cache>/.bunx-<uid>/<name>@<version><suffix>`,
//! `latest` when none is given; a hoisted `node_modules`, through `bun add
//! <spec> --no-summary` in that directory) and runs its command in the
//! same step; it reuses an entry whose `package.json` it wrote less than a
//! day ago, whatever the age of the command (a dist-tag such as `@next`,
//! or an explicit `@latest`, is installed afresh every time). `bunx -p PKG
//! CMD` installs into PKG's entry and runs CMD. The suffix is made of
//! bunx's options before the package, in this order whatever theirs:
//! `+trust` (`--trust`), `+ignore-scripts`, `+min-age=AGE`
//! (`--minimum-release-age`, as written) and `+registry=HASH`
//! (`--registry URL`: bun's Wyhash of the URL as written, hexadecimal,
//! [`wyhash`]). bunx passes `--verbose`, `--silent`, `--trust`, the age,
//! the registry, `--cafile` and `--ca` on to its `add` (and `--no-cache
//! --force` for a tag or no version); `--cwd DIR` is where it runs;
//! `--no-install` installs nothing; it refuses any other option there.
//! `bun create NAME` is bunx of `create-NAME` (`@scope` → `@scope/create`,
//! `@scope/name` → `@scope/create-name`), unless NAME is a local template
//! folder (`$BUN_CREATE_DIR`, `./.bun-create`, `~/.bun-create`), a file, a
//! GitHub `owner/repo` or one of bun's legacy templates; it names the
//! entry without any suffix and passes no `--minimum-release-age` on to
//! its `add`. The cache is `BUN_INSTALL_CACHE_DIR`, else the global
//! bunfig's cache directory (bunx does not read the project's bunfig for
//! it), else bun's defaults ([`cache_dir`]; the same on macOS). pkgward
//! runs bunx with scripts off (`npm_config_ignore_scripts=true`, which bun
//! honours for bunx, bun's default trusted-dependencies list and `--trust`
//! included; `BUN_CONFIG_IGNORE_SCRIPTS` is not read by bunx): bunx has no
//! per-package switch (`--trust` runs the scripts of every package,
//! `trustedDependencies` would have to be written into the package.json
//! bunx generates), and nothing can run between its install and its
//! command.
//!
//! So on Unix (Linux, macOS), when the policy lets npm packages build
//! ([`super::npm_builds_any`]: an npm approval, a default other than
//! `deny`, audit mode), pkgward prepares the entry bunx names before bunx
//! runs ([`x_before`]): the real bun's `add` of the spec into it with
//! bunx's options for it (scripts off, output on stderr), then the entry's
//! install-time code decided like `bun install`'s ([`super::run_after`]:
//! approved ones run confined through npm with the entry as the project,
//! denied ones recorded and listed). bunx then finds the entry installed
//! and fresh and runs the command without installing again. A dist-tag is
//! installed as bunx installs it (`add NAME@TAG --no-cache --force` with
//! its options, a release-age cooldown's `--minimum-release-age` included,
//! so the tag resolves to what bunx would install under that filter) in a
//! work directory of bunx's cache, which then becomes the entry of the
//! version installed (`NAME@VERSION<suffix>`, unless bunx has that one
//! fresh already), and bunx is given `NAME@VERSION` in place of `NAME@TAG`
//! (only that argument changes: the same command, output and exit code;
//! bunx's `npm_lifecycle_script` names the version). Under `bun create`
//! the cooldown's filter is passed to pkgward's `add` (stricter than bun's
//! own, which drops it).
//!
//! Where pkgward does not prepare it, bunx installs as before, and
//! afterwards the cache entry this run installed is read: every package
//! with install-time code is decided, recorded as not run, and the denied
//! ones are listed with their approve command ([`x_after`]). A reused
//! entry installs nothing: nothing to record. Not prepared:
//! - no npm approvals (nothing could build), an entry bunx reuses, a
//!   command it finds on PATH (no version given), a `bun create` template
//!   bun does not take from npm;
//! - `--no-install` (bunx installs nothing: neither does pkgward),
//!   `--ignore-scripts` (the user asks for no install-time code), and
//!   `--env-file` (variables bunx's `add` gets that pkgward's would not);
//!   an option bunx refuses or one given twice;
//! - a spec that is not `NAME[@VERSION|@RANGE|@TAG]`. bun 1.4.5's bunx
//!   cannot install a tarball URL (`unrecognised dependency format`), nor
//!   a `file:` spec or a path (it resolves them from the entry and names
//!   the package `@SPEC`): they install nothing. A `github:` spec goes to
//!   `<repo>@github@<decimal hash>` (Wyhash of the empty name plus that of
//!   the spec), installed from GitHub's API over HTTPS (`GITHUB_API_DOMAIN`)
//!   and reused like any entry: pkgward could fill it the same way, but it
//!   cannot be tested here against a loopback server (HTTPS only), so it is
//!   left to bunx and recorded after it.
//!
//! On Windows bun 1.4.5 keeps the older layout, `<temp>\bunx-<id>-<spec>`
//! (`<id>` bun's `userUniqueId`, a hash of the user name, not a uid;
//! [`windows_entries`]), and runs `node_modules/.bin/NAME.exe`: pkgward does
//! not prepare it there (bun's Windows build runs under Wine, but its
//! install fails there, so nothing could check the preparation); bunx
//! installs with scripts off, and what it installed is recorded and listed
//! after it ([`x_after`]).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::{npm, After, Context, Family, Runner, Setup};
use crate::record::AuditLog;
#[cfg(unix)]
use crate::supervise::install_code::run_install_code;

/// bunx reuses an entry whose package.json is younger than this (a day).
#[cfg(unix)]
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

/// bun's install cache, in bun's order (checked against bun 1.4.5):
/// `BUN_INSTALL_CACHE_DIR`; the cache directory of the global bunfig
/// (`$XDG_CONFIG_HOME/.bunfig.toml` when that variable is set, else
/// `~/.bunfig.toml`: `[install.cache] dir` or `[install] cache`, `~`
/// expanded, relative to the bunfig's directory; bunx does not read the
/// project's `bunfig.toml` for it); `$BUN_INSTALL/install/cache`;
/// `$XDG_CACHE_HOME/.bun/install/cache`; `~/.bun/install/cache`.
#[cfg(unix)]
fn cache_dir(cx: &Context<'_>) -> Option<PathBuf> {
    let var = |k: &str| {
        super::launch_var(cx.env, k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let home = var("HOME").or_else(dirs::home_dir);
    let bunfig = || {
        let file = match super::launch_var(cx.env, "XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(x) => PathBuf::from(x).join(".bunfig.toml"),
            None => home.as_ref()?.join(".bunfig.toml"),
        };
        let text = std::fs::read_to_string(&file).ok()?;
        bunfig_cache(&file, &text, home.as_deref())
    };
    var("BUN_INSTALL_CACHE_DIR")
        .or_else(bunfig)
        .or_else(|| var("BUN_INSTALL").map(|b| b.join("install/cache")))
        .or_else(|| var("XDG_CACHE_HOME").map(|x| x.join(".bun/install/cache")))
        .or_else(|| home.as_ref().map(|h| h.join(".bun/install/cache")))
}

/// The cache directory the bunfig `file` (contents `text`) sets: `~`
/// expanded, relative to the file's directory.
#[cfg(unix)]
fn bunfig_cache(file: &Path, text: &str, home: Option<&Path>) -> Option<PathBuf> {
    let dir = crate::classify::bunfig_cache_dir(text)?;
    let dir = match dir.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            home?.join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(dir),
    };
    Some(file.parent()?.join(dir))
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
        .flat_map(|d| scoped(d, "", start))
        .collect();
    out.sort();
    out
}

/// An entry directory, or for a scoped package (`<prefix>@scope`, no
/// version: bunx's `@scope/name@VERSION` is a path) the entries in it.
fn scoped(dir: PathBuf, prefix: &str, start: SystemTime) -> Vec<PathBuf> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.strip_prefix(prefix) {
        Some(rest) if rest.starts_with('@') && !rest[1..].contains('@') => {
            super::fresh_dirs(&dir, start)
        }
        _ => vec![dir],
    }
}

/// Windows: bunx's entries written since `start`. bun 1.4.5's Windows
/// build names them `<temp>\bunx-<id>-<spec>` (checked under Wine: its
/// `bunx` and `add` cannot install there, so no further): `<temp>` the
/// first of `TMPDIR`, `TMP`, `TEMP`, else `%SYSTEMROOT%\Temp`, and `<id>`
/// bun's `userUniqueId` of the user ([`user_unique_id`]).
#[cfg(any(windows, test))]
fn windows_entries(temp: &Path, id: u32, start: SystemTime) -> Vec<PathBuf> {
    let prefix = format!("bunx-{id}-");
    let mut out: Vec<PathBuf> = super::fresh_dirs(temp, start)
        .into_iter()
        .filter(|d| {
            d.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
        .flat_map(|d| scoped(d, &prefix, start))
        .collect();
    out.sort();
    out
}

/// bun's temp directory on Windows, from the variables `var` reads.
#[cfg(any(windows, test))]
fn windows_temp(var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |k: &str| var(k).filter(|v| !v.is_empty());
    if let Some(d) = set("TMPDIR").or_else(|| set("TMP")).or_else(|| set("TEMP")) {
        let d = match d.strip_suffix('\\') {
            Some(t) if !t.is_empty() => t.to_string(),
            _ => d,
        };
        return Some(PathBuf::from(d));
    }
    set("SYSTEMROOT")
        .or_else(|| set("WINDIR"))
        .map(|w| PathBuf::from(format!("{}\\Temp", w.trim_end_matches('\\'))))
}

/// bun's `userUniqueId` on Windows: its 32-bit hash (the low half of
/// [`wyhash`]) of the user name as `GetUserNameW` returns it — UTF-16LE,
/// its terminating NUL included.
#[cfg(any(windows, test))]
fn user_unique_id(name: &[u16]) -> u32 {
    let bytes: Vec<u8> = name.iter().flat_map(|c| c.to_le_bytes()).collect();
    wyhash(&bytes) as u32
}

/// The user name `GetUserNameW` gives, with its NUL.
#[cfg(windows)]
fn user_name() -> Option<Vec<u16>> {
    use windows_sys::Win32::System::WindowsProgramming::GetUserNameW;
    let mut buf = [0u16; 257];
    let mut size = buf.len() as u32;
    // SAFETY: `buf` holds `size` UTF-16 units; GetUserNameW writes at most
    // that many and sets `size` to the count written, NUL included.
    let ok = unsafe { GetUserNameW(buf.as_mut_ptr(), &mut size) };
    (ok != 0).then(|| buf[..(size as usize).min(buf.len())].to_vec())
}

/// What `bunx ARGS` (`bunx`) or `bun ARGS` (`bun x …`, `bun create …`)
/// installs, as [`x_spec`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XSpec {
    /// The package bunx installs (`create-NAME` for `bun create NAME`).
    pub name: String,
    /// Its version as bunx names the entry: `latest` when none is given,
    /// else as written.
    pub version: String,
    /// The command bunx looks for in the entry.
    pub bin: String,
    /// The version is a dist-tag (`next`, an explicit `latest`), which
    /// bunx installs afresh every time.
    pub tag: bool,
    /// The argument holding the spec, and its text before `@VERSION`
    /// (`NAME`, `--package=NAME`): an exact version replaces a dist-tag
    /// there.
    pub at: usize,
    pub head: String,
    /// `bun create`: the template as written (a local template folder of
    /// that name comes before the npm package).
    pub template: Option<String>,
    /// What bunx appends to the entry's name for its options, in its
    /// order: `+trust`, `+min-age=AGE` (as written), `+registry=HASH`
    /// ([`wyhash`] of the URL as written, hexadecimal).
    pub suffix: String,
    /// The options bunx passes on to its `add`, which pkgward's `add` is
    /// given too: `--verbose`, `--silent`, `--minimum-release-age=AGE`,
    /// `--registry=URL`, `--cafile=FILE`, `--ca=CERT` (not `--trust`:
    /// scripts are off either way).
    pub add: Vec<String>,
    /// `--cwd DIR`: where bunx looks for the command first.
    pub cwd: Option<String>,
}

/// bunx's options before the package (bun 1.4.5, which refuses any other
/// there), as [`x_option`] reads them.
#[derive(Debug, Default)]
struct XOpts {
    trust: bool,
    age: Option<String>,
    registry: Option<String>,
    cwd: Option<String>,
    /// `--verbose`, `--silent`, `--cafile=FILE`, `--ca=CERT`.
    add: Vec<String>,
}

/// Reads bunx's option `a` (`next`: the word after it) into `o`: how many
/// words it takes, `None` where pkgward does not prepare the entry: an
/// option bunx refuses (it then installs nothing), one given twice,
/// `--no-install` (bunx installs nothing), `--ignore-scripts` (nothing is
/// to build: the user's choice) and `--env-file` (variables bunx's `add`
/// gets and pkgward's would not).
fn x_option(o: &mut XOpts, a: &str, next: Option<&str>) -> Option<usize> {
    match a {
        "--bun" | "-b" | "-v" | "--version" | "--revision" => return Some(1),
        "--verbose" | "--silent" => {
            o.add.push(a.into());
            return Some(1);
        }
        "--trust" if !o.trust => {
            o.trust = true;
            return Some(1);
        }
        _ => {}
    }
    // `--option VALUE` or `--option=VALUE`.
    let (flag, value, used) = match a.split_once('=') {
        Some((f, v)) => (f, v, 1),
        None => (a, next?, 2),
    };
    if value.is_empty() {
        return None;
    }
    let slot = match flag {
        "--minimum-release-age" => &mut o.age,
        "--registry" => &mut o.registry,
        "--cwd" => &mut o.cwd,
        "--cafile" | "--ca" => {
            o.add.push(format!("{flag}={value}"));
            return Some(used);
        }
        _ => return None,
    };
    match slot.replace(value.to_string()) {
        Some(_) => None,
        None => Some(used),
    }
}

/// Zig's `std.hash.Wyhash.hash(0, data)` (bun's `bun.hash`), with which
/// bunx names the entry of a `--registry` URL.
fn wyhash(data: &[u8]) -> u64 {
    const S: [u64; 4] = [
        0xa076_1d64_78bd_642f,
        0xe703_7ed1_a0b4_28db,
        0x8ebc_6af0_9c88_c6e3,
        0x5899_65cc_7537_4cc3,
    ];
    let mum = |a: u64, b: u64| {
        let x = u128::from(a) * u128::from(b);
        (x as u64, (x >> 64) as u64)
    };
    let mix = |a: u64, b: u64| {
        let (a, b) = mum(a, b);
        a ^ b
    };
    let r8 = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&data[i..i + 8]);
        u64::from_le_bytes(b)
    };
    let r4 = |i: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&data[i..i + 4]);
        u64::from(u32::from_le_bytes(b))
    };
    let n = data.len();
    let mut st = [mix(S[0], S[1]); 3];
    let (a, b) = if n <= 16 {
        if n >= 4 {
            let (end, q) = (n - 4, (n >> 3) << 2);
            ((r4(0) << 32) | r4(q), (r4(end) << 32) | r4(end - q))
        } else if n > 0 {
            let [first, mid, last] = [data[0], data[n >> 1], data[n - 1]].map(u64::from);
            ((first << 16) | (mid << 8) | last, 0)
        } else {
            (0, 0)
        }
    } else {
        let mut i = 0;
        if n >= 48 {
            while i + 48 < n {
                for (k, s) in st.iter_mut().enumerate() {
                    *s = mix(r8(i + 16 * k) ^ S[k + 1], r8(i + 16 * k + 8) ^ *s);
                }
                i += 48;
            }
            st[0] ^= st[1] ^ st[2];
        }
        while i + 16 < n {
            st[0] = mix(r8(i) ^ S[1], r8(i + 8) ^ st[0]);
            i += 16;
        }
        (r8(n - 16), r8(n - 8))
    };
    let (a, b) = mum(a ^ S[1], b ^ st[0]);
    mix(a ^ S[0] ^ n as u64, b ^ S[1])
}

/// Templates `bun create` takes elsewhere than from `create-NAME` (its
/// legacy templates, and names it refuses).
const CREATE_NOT_NPM: &[&str] = &["elysia", "elysia-buchta", "stric", "react", "next"];

/// What `bunx ARGS` (`bunx`) or `bun ARGS` installs (see [`XSpec`]):
/// `bunx [OPTIONS] SPEC`, `bunx [OPTIONS] -p|--package[=]SPEC [OPTIONS]
/// BIN`, the same after `bun [--bun] x`, and `bun [--bun] create|c
/// [--bun] TEMPLATE` (bunx of `create-TEMPLATE`, `@scope` →
/// `@scope/create`, `@scope/name` → `@scope/create-name`). bunx's options
/// are read as bunx reads them ([`x_option`]); `bun create` takes only
/// `--bun` and the cooldown's `--minimum-release-age=AGE`, which it does
/// not pass on to its install nor name its entry with (pkgward's `add`
/// applies it). `None` where pkgward does not prepare the entry: another
/// `bun` command, an option [`x_option`] leaves to bunx, no package, a
/// spec that is not `NAME[@VERSION]` (URLs, `github:`…, paths), a `bun
/// create` template bun takes from GitHub or its legacy list.
pub fn x_spec<S: AsRef<std::ffi::OsStr>>(bunx: bool, args: &[S]) -> Option<XSpec> {
    let mut i = 0;
    let mut create = false;
    let word = |i: usize| args.get(i).map(|a| a.as_ref().to_str());
    if !bunx {
        loop {
            match word(i)?? {
                "" | "--bun" => {}
                "x" => break,
                "create" | "c" => {
                    create = true;
                    break;
                }
                _ => return None,
            }
            i += 1;
        }
        i += 1;
    }
    let mut o = XOpts::default();
    // (index, text before the name, the spec), and `-p`'s command.
    let mut package: Option<(usize, String, &str)> = None;
    let (at, head, spec, bin) = loop {
        let a = word(i)??;
        if a.is_empty() {
            i += 1;
            continue;
        }
        if !a.starts_with('-') {
            break match package.take() {
                Some((at, head, spec)) => (at, head, spec, Some(a)),
                None => (i, String::new(), a, None),
            };
        }
        if create {
            match a.strip_prefix("--minimum-release-age=") {
                Some(v) if !v.is_empty() && o.age.is_none() => o.age = Some(v.into()),
                _ if a == "--bun" => {}
                _ => return None,
            }
            i += 1;
            continue;
        }
        let p = match a {
            "-p" | "--package" => Some((i + 1, String::new(), word(i + 1)??, 2)),
            _ => ["--package=", "-p="]
                .into_iter()
                .find_map(|f| a.strip_prefix(f).map(|v| (i, f.to_string(), v, 1))),
        };
        match p {
            Some((at, head, v, used)) if package.is_none() && !v.is_empty() => {
                package = Some((at, head, v));
                i += used;
            }
            Some(_) => return None,
            None => i += x_option(&mut o, a, word(i + 1).flatten())?,
        }
    };
    let split = spec.char_indices().skip(1).find(|(_, c)| *c == '@');
    let (typed, version) = match split {
        Some((i, _)) => (&spec[..i], &spec[i + 1..]),
        None => (spec, ""),
    };
    let part = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._~".contains(&b))
    };
    let valid = match typed.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((s, n)) => part(s) && part(n),
            // `bun create @scope`: `@scope/create`.
            None => create && part(scoped),
        },
        None => part(typed),
    };
    let tag = is_tag(version);
    let range = version.is_empty()
        || tag
        || (version.starts_with(|c: char| c.is_ascii_digit() || "^~<>=*xXv".contains(c))
            && !version.contains([':', '/', '\\']));
    if !valid || !range || (create && CREATE_NOT_NPM.contains(&typed)) {
        return None;
    }
    let name = if create {
        match typed.split_once('/') {
            Some((scope, n)) => format!("{scope}/create-{n}"),
            None if typed.starts_with('@') => format!("{typed}/create"),
            None => format!("create-{typed}"),
        }
    } else if typed == "tsc" && bin.is_none() {
        "typescript".into()
    } else {
        typed.to_string()
    };
    let bin = match bin {
        Some(b) if b.contains(['/', '\\']) || b.starts_with('.') => return None,
        Some(b) => b.to_string(),
        None if name == "typescript" => "tsc".into(),
        None => name.rsplit('/').next().unwrap_or(&name).to_string(),
    };
    let version = if version.is_empty() {
        "latest"
    } else {
        version
    };
    let mut suffix = String::new();
    let mut add = o.add;
    if o.trust {
        suffix.push_str("+trust");
    }
    if let Some(age) = &o.age {
        if !create {
            suffix.push_str(&format!("+min-age={age}"));
        }
        add.push(format!("--minimum-release-age={age}"));
    }
    if let Some(url) = &o.registry {
        suffix.push_str(&format!("+registry={:x}", wyhash(url.as_bytes())));
        add.push(format!("--registry={url}"));
    }
    Some(XSpec {
        name,
        version: version.to_string(),
        bin,
        tag,
        at,
        head: format!("{head}{typed}"),
        template: create.then(|| spec.to_string()),
        suffix,
        add,
        cwd: o.cwd,
    })
}

/// A version that bun reads as a dist-tag rather than a range (`next`,
/// `beta`, `latest`; not `x`, `v1`, `1.x`).
fn is_tag(v: &str) -> bool {
    let mut chars = v.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let range_like = v
        .bytes()
        .all(|b| b"xX*.".contains(&b) || b.is_ascii_digit())
        || (first == 'v' && chars.next().is_some_and(|c| c.is_ascii_digit()));
    first.is_ascii_alphabetic()
        && !range_like
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

/// What pkgward did before bunx ([`x_before`]).
#[derive(Debug, Default)]
pub struct Prepared {
    /// An approved build failed: bunx is not run, this is the exit code.
    pub failed: Option<i32>,
    /// The argument to replace (index into bunx's arguments, new text): a
    /// dist-tag replaced by the exact version it names, whose entry
    /// pkgward prepared.
    pub spec: Option<(usize, std::ffi::OsString)>,
}

/// Unix, before bunx (the policy letting npm packages build): pkgward
/// installs the package into the cache entry bunx is about to look in
/// (the real bun's `add`, scripts off, with bunx's options for it), then
/// the entry's approved install-time code runs confined with the entry as
/// the project and the denied code is recorded and listed
/// ([`super::run_after`], npm's runner); bunx then finds the entry
/// installed and runs its command. The output goes to stderr. A dist-tag
/// is installed as bunx would (afresh, with its options: a release-age
/// cooldown's too) in a work directory of bunx's cache, which becomes the
/// entry of the version installed, and bunx is given `NAME@VERSION`
/// instead ([`Prepared::spec`]). Nothing is done when bunx would not
/// install (an entry it reuses, a command it finds on PATH, a local `bun
/// create` template) or where [`x_spec`] leaves the spec to bunx: bunx
/// then installs as before, with scripts off.
#[cfg(unix)]
pub fn x_before(
    cx: &Context<'_>,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Prepared {
    if !super::npm_builds_any(cx) {
        return Prepared::default();
    }
    let bunx = BUNX.load(std::sync::atomic::Ordering::Relaxed);
    let Some(spec) = x_spec(bunx, cx.args) else {
        return Prepared::default();
    };
    prepare(cx, spec, log, notice).unwrap_or_default()
}

/// [`x_before`] for a spec it prepares.
#[cfg(unix)]
fn prepare(
    cx: &Context<'_>,
    spec: XSpec,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Option<Prepared> {
    use std::os::unix::fs::DirBuilderExt;
    // `--cwd DIR`: where bunx looks for the command.
    let cwd = std::env::current_dir().ok()?;
    let cwd = match &spec.cwd {
        Some(d) => cwd.join(d),
        None => cwd,
    };
    let home = super::launch_var(cx.env, "HOME").map(PathBuf::from);
    if let Some(t) = &spec.template {
        // `bun create`'s local templates come first.
        let create_dir = super::launch_var(cx.env, "BUN_CREATE_DIR").map(PathBuf::from);
        let local = [
            create_dir,
            Some(cwd.join(".bun-create")),
            home.map(|h| h.join(".bun-create")),
        ];
        // A file or folder of that name (`bun create ./App.tsx`) is no
        // package either.
        if cwd.join(t).exists() || local.iter().flatten().any(|d| d.join(t).exists()) {
            return None;
        }
    }
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let cache = cache_dir(cx)?;
    let private = cache.join(format!(".bunx-{uid}"));
    // bun uses `.bunx-<uid>` only while it is the user's own and private
    // (else it installs into a shared temp directory).
    let unusable = std::fs::symlink_metadata(&private).is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        !m.is_dir() || m.uid() != uid || m.mode() & 0o077 != 0
    });
    if unusable {
        return None;
    }
    let real_bun = |notice: &mut dyn FnMut(String)| {
        let found = (cx.find_tool)("bun");
        if found.is_none() {
            notice("bunx: the real bun was not found: its install builds nothing".into());
        }
        found
    };
    let failed = |what: String| {
        format!(
            "bunx: preparing {}@{} failed ({what}): bunx installs it itself and builds nothing",
            spec.name, spec.version
        )
    };
    let (name, bin) = (&spec.name, &spec.bin);
    // Everything this prints goes to stderr: stdout is the command's.
    let attached = super::stderr_attached();
    // The real bun's `add` of `NAME@VERSION` into `dir`, as bunx runs it.
    let add = |bun: &Path, dir: &Path, version: &str| {
        let mut args: Vec<std::ffi::OsString> = vec![
            "add".into(),
            format!("{name}@{version}").into(),
            "--no-summary".into(),
        ];
        if version == "latest" || spec.tag {
            // As bunx: the newest version, installed over what is there.
            args.extend(["--no-cache".into(), "--force".into()]);
        }
        args.extend(spec.add.iter().map(Into::into));
        run_install_code(&super::preparing(
            cx,
            bun.to_path_buf(),
            args,
            dir.to_path_buf(),
            cx.env.to_vec(),
            attached.clone(),
        ))
    };
    let private_dir = |d: &Path| {
        std::fs::create_dir_all(&cache).and_then(|_| {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(d)
        })
    };
    // bunx's package.json in a directory to install into.
    let manifest = |d: &Path| std::fs::write(d.join("package.json"), "{}\n");
    let mut version = spec.version.clone();
    let mut rewrite = None;
    // A tag, installed first in a work directory of bunx's cache.
    let mut work = None;
    if spec.tag {
        let bun = real_bun(notice)?;
        let dir = private_dir(&private).and_then(|_| {
            let d = tempfile::Builder::new()
                .prefix(".pkgward-")
                .tempdir_in(&private)?;
            manifest(d.path()).map(|_| d)
        });
        let dir = match dir {
            Ok(d) => d,
            Err(e) => {
                notice(failed(format!("{}: {e}", private.display())));
                return None;
            }
        };
        let ran = add(&bun, dir.path(), &spec.version);
        if !super::step_succeeded(ran, "bun add", &failed, notice) {
            return None;
        }
        version = match installed_version(dir.path(), name) {
            Some(v) => v,
            None => {
                notice(failed(format!("no version of {name} installed")));
                return None;
            }
        };
        rewrite = Some((spec.at, format!("{}@{version}", spec.head).into()));
        work = Some(dir);
    }
    // (Its name must stay one directory of bunx's cache: an option's value
    // in the suffix could hold a path.)
    if [&version, &spec.suffix]
        .iter()
        .any(|p| p.contains(['/', '\\']) || p.contains(".."))
    {
        return None;
    }
    let entry = private.join(format!("{name}@{version}{}", spec.suffix));
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
            .any(|d| fresh(&d.join(bin)).is_some());
    // bunx reuses an entry that has the command and whose package.json it
    // wrote less than a day ago (else it removes it and installs again).
    let has_bin = |d: &Path| d.join("node_modules/.bin").join(bin).is_file();
    let cached = has_bin(&entry) && fresh(&entry.join("package.json")) == Some(true);
    let done = Prepared {
        failed: None,
        spec: rewrite,
    };
    if on_path || cached {
        return Some(done);
    }
    let installed = work.as_ref().map_or(entry.as_path(), |w| w.path());
    if !has_bin(installed) && installed.join("node_modules").join(name).exists() {
        // Installed without that command: bunx reports it.
        return None;
    }
    if let Some(w) = work {
        // The tag's version: its entry.
        let w = w.keep();
        let moved = std::fs::remove_dir_all(&entry)
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            })
            .and_then(|_| private_dir(entry.parent().unwrap_or(&private)))
            .and_then(|_| std::fs::rename(&w, &entry));
        if let Err(e) = moved {
            let _ = std::fs::remove_dir_all(&w);
            notice(failed(format!("{}: {e}", entry.display())));
            return None;
        }
    } else {
        let bun = real_bun(notice)?;
        if let Err(e) = private_dir(&entry).and_then(|_| manifest(&entry)) {
            notice(failed(format!("{}: {e}", entry.display())));
            return None;
        }
        let ran = add(&bun, &entry, &version);
        if !super::step_succeeded(ran, "bun add", &failed, notice) {
            return None;
        }
    }
    let after = After::all_in(Family::Npm, Runner::Npm, entry.clone());
    let cx = Context {
        attached,
        #[cfg(target_os = "linux")]
        trace: cx.trace.clone(),
        ..*cx
    };
    let failed = super::run_after(&after, &cx, log, notice);
    // What bunx installs from now on is recorded after it ([`x_after`]).
    *START.lock().unwrap_or_else(|e| e.into_inner()) = Some(SystemTime::now());
    if failed.is_some() {
        let _ = std::fs::remove_dir_all(&entry);
    }
    Some(Prepared { failed, ..done })
}

/// The version of `name` installed in `dir` (its hoisted `node_modules`).
#[cfg(unix)]
fn installed_version(dir: &Path, name: &str) -> Option<String> {
    let manifest = dir.join("node_modules").join(name).join("package.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest).ok()?).ok()?;
    let v = json.get("version")?.as_str()?;
    semver::Version::parse(v).ok().map(|_| v.to_string())
}

/// After bunx (whatever its exit code): see the module docs.
pub fn x_after(cx: &Context<'_>, log: &mut Option<AuditLog>, notice: &mut dyn FnMut(String)) {
    let start = START.lock().unwrap_or_else(|e| e.into_inner()).take();
    #[cfg(windows)]
    let written = |t| {
        let temp =
            windows_temp(|k| super::launch_var(cx.env, k).map(|v| v.to_string_lossy().into()))?;
        Some(windows_entries(&temp, user_unique_id(&user_name()?), t))
    };
    #[cfg(not(windows))]
    let written = |t| Some(entries(&cache_dir(cx)?, t));
    let found: Vec<npm::Package> = start
        .and_then(written)
        .unwrap_or_default()
        .iter()
        .flat_map(|e| npm::find(e, false))
        .collect();
    super::report_unbuilt(
        found,
        "not run: bunx runs no install-time code",
        "bunx did not build these approved packages (bunx has no per-package switch \
         and runs the command right after its install)",
        cx,
        log,
        notice,
    );
}

#[cfg(test)]
mod tests {
    use super::x_spec;

    /// bun 1.4.5's Windows build, run under Wine as the user `root`, put
    /// `bunx wb-cli@1.0.0` into `C:\\users\\root\\Temp\\bunx-945008005-wb-cli@1.0.0`.
    #[test]
    fn windows_entries_are_named_as_bun_names_them() {
        let root: Vec<u16> = "root\0".encode_utf16().collect();
        assert_eq!(super::user_unique_id(&root), 945008005);
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let temp = |pairs| super::windows_temp(env(pairs)).map(|p| p.display().to_string());
        assert_eq!(
            temp(&[("TEMP", "C:\\T\\"), ("TMP", "C:\\U")]).as_deref(),
            Some("C:\\U")
        );
        assert_eq!(
            temp(&[("TEMP", "C:\\T\\"), ("TMP", "")]).as_deref(),
            Some("C:\\T")
        );
        assert_eq!(
            temp(&[("TMPDIR", "D:\\x"), ("TMP", "C:\\U")]).as_deref(),
            Some("D:\\x")
        );
        assert_eq!(
            temp(&[("SYSTEMROOT", "C:\\Windows\\")]).as_deref(),
            Some("C:\\Windows\\Temp")
        );
        assert_eq!(temp(&[]), None);

        let t = tempfile::tempdir().unwrap();
        let old = t.path().join("bunx-945008005-old@1.0.0");
        std::fs::create_dir(&old).unwrap();
        let start = std::fs::metadata(&old).unwrap().modified().unwrap()
            + std::time::Duration::from_millis(10);
        std::thread::sleep(std::time::Duration::from_millis(30));
        for d in [
            "bunx-945008005-cowsay@latest",
            "bunx-945008005-@scope/tool@2.0.0",
            "bunx-7-other-user@1.0.0",
            "not-bunx",
        ] {
            std::fs::create_dir_all(t.path().join(d)).unwrap();
        }
        std::fs::write(t.path().join("bunx-945008005-x@1.0.0.lock"), "").unwrap();
        let got = super::windows_entries(t.path(), 945008005, start);
        assert_eq!(
            got,
            vec![
                t.path().join("bunx-945008005-@scope/tool@2.0.0"),
                t.path().join("bunx-945008005-cowsay@latest"),
            ]
        );
        // Unix: `<cache>/.bunx-<uid>/@scope/tool@2.0.0` likewise.
        std::fs::create_dir_all(t.path().join("cache/.bunx-1/@scope/tool@2.0.0")).unwrap();
        assert_eq!(
            super::entries(&t.path().join("cache"), start),
            vec![t.path().join("cache/.bunx-1/@scope/tool@2.0.0")]
        );
    }

    /// (name, version, bin, tag, at, head).
    type Spec = Option<(String, String, String, bool, usize, String)>;

    fn spec(bunx: bool, args: &[&str]) -> Spec {
        x_spec(bunx, args).map(|s| (s.name, s.version, s.bin, s.tag, s.at, s.head))
    }

    fn some(name: &str, version: &str, bin: &str, tag: bool, at: usize, head: &str) -> Spec {
        Some((
            name.into(),
            version.into(),
            bin.into(),
            tag,
            at,
            head.into(),
        ))
    }

    #[test]
    fn specs_bunx_installs_into_a_named_entry() {
        let bunx = |args: &[&str]| spec(true, args);
        let bun = |args: &[&str]| spec(false, args);
        let plain = |n: &str, v: &str, b: &str, at| some(n, v, b, false, at, n);
        assert_eq!(
            bunx(&["cowsay", "hi"]),
            plain("cowsay", "latest", "cowsay", 0)
        );
        assert_eq!(
            bun(&["x", "cowsay", "hi"]),
            plain("cowsay", "latest", "cowsay", 1)
        );
        assert_eq!(bun(&["--bun", "x", "a@1.2.3"]), plain("a", "1.2.3", "a", 2));
        // The cooldown's filter, as pkgward inserts it after `x`.
        assert_eq!(
            bun(&["x", "--minimum-release-age=60", "a"]),
            plain("a", "latest", "a", 2)
        );
        assert_eq!(
            bunx(&["--bun", "a@^1.0.0", "--f"]),
            plain("a", "^1.0.0", "a", 1)
        );
        assert_eq!(bunx(&["@s/tool@~2"]), plain("@s/tool", "~2", "tool", 0));
        assert_eq!(bunx(&["@s/tool"]), plain("@s/tool", "latest", "tool", 0));
        assert_eq!(
            bunx(&["tsc"]),
            some("typescript", "latest", "tsc", false, 0, "tsc")
        );
        // `bunx x`: the package named x.
        assert_eq!(bunx(&["x"]), plain("x", "latest", "x", 0));
        // Dist-tags, an explicit `latest` too; ranges that look like words.
        assert_eq!(bunx(&["a@next", "b"]), some("a", "next", "a", true, 0, "a"));
        assert_eq!(bunx(&["a@latest"]), some("a", "latest", "a", true, 0, "a"));
        assert_eq!(
            bun(&["x", "@s/t@beta"]),
            some("@s/t", "beta", "t", true, 1, "@s/t")
        );
        for r in ["x", "1.x", "v1", "*", "X.x"] {
            assert_eq!(bunx(&[&format!("a@{r}")]), plain("a", r, "a", 0), "{r}");
        }
        // `--package`: the package, then the command to run.
        assert_eq!(
            bunx(&["-p", "a", "b", "c"]),
            some("a", "latest", "b", false, 1, "a")
        );
        assert_eq!(
            bunx(&["--bun", "--package", "a@next", "b"]),
            some("a", "next", "b", true, 2, "a")
        );
        assert_eq!(
            bun(&["x", "--package=@s/a@1", "tsc"]),
            some("@s/a", "1", "tsc", false, 1, "--package=@s/a")
        );
    }

    #[test]
    fn specs_bun_create_runs_create_packages() {
        let bun = |args: &[&str]| x_spec(false, args);
        let create = |args: &[&str]| bun(args).map(|s| (s.name, s.version, s.bin, s.at, s.head));
        let some = |n: &str, v: &str, b: &str, at, h: &str| {
            Some((n.into(), v.into(), b.into(), at, h.into()))
        };
        assert_eq!(
            create(&["create", "vite", "app"]),
            some("create-vite", "latest", "create-vite", 1, "vite")
        );
        assert_eq!(
            create(&["--bun", "c", "--bun", "vite@next"]),
            some("create-vite", "next", "create-vite", 3, "vite")
        );
        assert_eq!(
            create(&["create", "@s"]),
            some("@s/create", "latest", "create", 1, "@s")
        );
        assert_eq!(
            create(&["create", "@s@2"]),
            some("@s/create", "2", "create", 1, "@s")
        );
        assert_eq!(
            create(&["create", "@s/app@1.0.0"]),
            some("@s/create-app", "1.0.0", "create-app", 1, "@s/app")
        );
        assert_eq!(
            bun(&["create", "vite@next", "d"]).and_then(|s| s.template),
            Some("vite@next".into())
        );
        for args in [
            &["create"][..],
            &["create", "org/repo"][..],
            &["create", "elysia"][..],
            &["create", "react"][..],
            &["create", "./App.tsx"][..],
            &["create", "/abs/tpl"][..],
            &["create", "-p", "a", "b"][..],
            &["create", "--force", "vite"][..],
        ] {
            assert_eq!(bun(args), None, "bun {args:?}");
        }
    }

    /// The entry's name and the `add`'s options for bunx's options, as bun
    /// 1.4.5 names its entries (`+trust`, `+min-age`, `+registry`, in that
    /// order whatever the order on the command line).
    #[test]
    fn bunx_options_name_the_entry_and_go_to_the_add() {
        let opts = |bunx: bool, args: &[&str]| {
            x_spec(bunx, args).map(|s| (s.name, s.bin, s.at, s.suffix, s.add, s.cwd))
        };
        let add = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            opts(
                true,
                &[
                    "--registry",
                    "http://127.0.0.1:9/",
                    "--verbose",
                    "--minimum-release-age",
                    "60",
                    "-b",
                    "--trust",
                    "--cafile=/c.pem",
                    "--cwd",
                    "sub",
                    "a@1",
                    "--registry=http://x.test/"
                ]
            ),
            Some((
                "a".into(),
                "a".into(),
                10,
                "+trust+min-age=60+registry=be55e3e29ebc2f7a".into(),
                add(&[
                    "--verbose",
                    "--cafile=/c.pem",
                    "--minimum-release-age=60",
                    "--registry=http://127.0.0.1:9/"
                ]),
                Some("sub".into())
            ))
        );
        // After `-p PKG` too; the age as written.
        assert_eq!(
            opts(
                false,
                &[
                    "x",
                    "-p=a",
                    "--silent",
                    "--cwd=d",
                    "--ca",
                    "C",
                    "--minimum-release-age=1e3",
                    "b"
                ]
            ),
            Some((
                "a".into(),
                "b".into(),
                1,
                "+min-age=1e3".into(),
                add(&["--silent", "--ca=C", "--minimum-release-age=1e3"]),
                Some("d".into())
            ))
        );
        // `bun create`: the cooldown's filter goes to pkgward's `add` only.
        assert_eq!(
            opts(false, &["create", "--minimum-release-age=60", "vite"]),
            Some((
                "create-vite".into(),
                "create-vite".into(),
                2,
                String::new(),
                add(&["--minimum-release-age=60"]),
                None
            ))
        );
    }

    /// bun's `bun.hash` (Zig's Wyhash, seed 0), as bunx 1.4.5 names the
    /// entries of these registries (short, medium and long inputs; the
    /// hash in hexadecimal without leading zeros).
    #[test]
    fn wyhash_as_bun_names_registry_entries() {
        for (url, hex) in [
            ("http://127.0.0.1:9/", "be55e3e29ebc2f7a"),
            ("http://127.0.0.1:9", "173ef5be2ea01389"),
            ("http://127.0.0.1:123/", "2234ffae4b2938"),
            (
                "http://127.0.0.1:9/some/long/path/to/a/registry/mirror/npm/v1/",
                "536920b84b645db1",
            ),
        ] {
            assert_eq!(format!("{:x}", super::wyhash(url.as_bytes())), hex, "{url}");
        }
        // bunx's `@github@` entries: hash(name) + hash(spec), in decimal.
        let github = super::wyhash(b"").wrapping_add(super::wyhash(b"github:o/r"));
        assert_eq!(github, 17036005336431718512);
    }

    #[test]
    fn bunfig_cache_dir_as_bun_reads_it() {
        use std::path::{Path, PathBuf};
        let file = Path::new("/x/cfg/.bunfig.toml");
        let home = Some(Path::new("/h"));
        let dir =
            |v: &str| super::bunfig_cache(file, &format!("[install.cache]\ndir = \"{v}\"\n"), home);
        assert_eq!(dir("/abs/c"), Some(PathBuf::from("/abs/c")));
        assert_eq!(dir("rel/c"), Some(PathBuf::from("/x/cfg/rel/c")));
        assert_eq!(dir("~/c"), Some(PathBuf::from("/h/c")));
        assert_eq!(dir("~"), Some(PathBuf::from("/h")));
        assert_eq!(dir("~c"), Some(PathBuf::from("/x/cfg/~c")));
        // bun does not expand variables there.
        assert_eq!(dir("$C"), Some(PathBuf::from("/x/cfg/$C")));
        assert_eq!(
            super::bunfig_cache(file, "[install]\ncache = false\n", home),
            None
        );
    }

    #[test]
    fn specs_pkgward_leaves_to_bunx() {
        for args in [&["init", "foo"][..], &["cowsay"][..], &["x"][..], &[][..]] {
            assert_eq!(x_spec(false, args), None, "bun {args:?}");
        }
        for args in [
            &[][..],
            &["-p", "a"][..],
            &["--package"][..],
            &["-p", "a", "./b"][..],
            &["--no-install", "a"][..],
            &["--ignore-scripts", "a"][..],
            &["--env-file", ".env", "a"][..],
            &["--env-file=.env", "a"][..],
            &["--frob", "a"][..],
            &["--silent=1", "a"][..],
            &["--registry", "a"][..],
            &["--registry=", "a"][..],
            &[
                "--registry=http://a.test/",
                "--registry=http://b.test/",
                "a",
            ][..],
            &["--minimum-release-age-excludes=x", "a"][..],
            &["-p", "a", "-p", "b", "c"][..],
            &["--package=", "c"][..],
            &["github:o/r"][..],
            &["https://example.com/a.tgz"][..],
            &["./local"][..],
            &["../up"][..],
            &["A"][..],
            &["@s"][..],
            &["@s/"][..],
            &["a@1.0.0:x"][..],
            &["a@ne/xt"][..],
            &["a/b"][..],
        ] {
            assert_eq!(x_spec(true, args), None, "bunx {args:?}");
        }
    }
}
