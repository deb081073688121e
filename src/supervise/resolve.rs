//! Finding the real tool behind a shim.
//!
//! Three guards keep a shim from finding itself (after rustup):
//! 1. PATH entries that are a shim directory are skipped;
//! 2. every candidate that is the same file as the running binary (file
//!    identity: device + inode on Unix, file index on Windows — not the name)
//!    is skipped, which covers symlinked and hardlinked shims anywhere on PATH;
//! 3. a depth counter in the environment (`PKGWARD_DEPTH`) stops any loop the
//!    first two cannot see (e.g. a *copy* of pkgward under a tool's name).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Environment variable counting how deeply pkgward invocations are nested.
pub const DEPTH_VAR: &str = "PKGWARD_DEPTH";
/// Nesting beyond this is treated as a loop.
pub const DEPTH_LIMIT: u32 = 10;

/// The identity of a file, for "is this the same file" checks.
#[derive(Debug, PartialEq, Eq)]
pub struct FileId(imp::Id);

impl FileId {
    pub fn of(path: &Path) -> Option<FileId> {
        imp::id(path).map(FileId)
    }
}

#[cfg(unix)]
mod imp {
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;
    pub type Id = (u64, u64);
    pub fn id(path: &Path) -> Option<Id> {
        std::fs::metadata(path).ok().map(|m| of(&m))
    }
    pub fn of(m: &std::fs::Metadata) -> Id {
        (m.dev(), m.ino())
    }
}

#[cfg(windows)]
mod imp {
    use std::path::Path;
    pub type Id = same_file::Handle;
    pub fn id(path: &Path) -> Option<Id> {
        same_file::Handle::from_path(path).ok()
    }
}

/// A candidate's identity and size from one `stat` (Unix; Windows needs a
/// handle for the identity).
fn id_and_len(path: &Path) -> (Option<FileId>, Option<u64>) {
    #[cfg(unix)]
    {
        match std::fs::metadata(path) {
            Ok(m) => (Some(FileId(imp::of(&m))), Some(m.len())),
            Err(_) => (None, None),
        }
    }
    #[cfg(windows)]
    {
        (
            FileId::of(path),
            std::fs::metadata(path).ok().map(|m| m.len()),
        )
    }
}

/// What is skipped while walking PATH.
pub struct Skip {
    /// Shim directories (compared by identity, so `..` and symlinks don't fool it).
    pub dirs: Vec<FileId>,
    /// The running binary.
    pub exe: Option<FileId>,
    /// The running binary's path, for the byte-for-byte check: a *copy* of
    /// pkgward under a tool's name (Windows shims are copies when hard links
    /// are impossible) has another identity but the same content.
    exe_path: Option<PathBuf>,
    exe_len: Option<u64>,
    exe_digest: std::cell::OnceCell<Option<[u8; 32]>>,
}

impl Skip {
    pub fn new(shim_dirs: &[PathBuf], exe: Option<&Path>) -> Skip {
        let (exe_id, exe_len) = exe.map_or((None, None), id_and_len);
        Skip {
            dirs: shim_dirs.iter().filter_map(|d| FileId::of(d)).collect(),
            exe: exe_id,
            exe_path: exe.map(Path::to_path_buf),
            exe_len,
            exe_digest: std::cell::OnceCell::new(),
        }
    }

    /// Whether `cand` (of size `cand_len`) has exactly the running binary's
    /// bytes. Only a file of the same size is read (and the running binary
    /// hashed, once), so an ordinary tool costs nothing more.
    fn is_copy_of_exe(&self, cand: &Path, cand_len: Option<u64>) -> bool {
        let Some(exe) = &self.exe_path else {
            return false;
        };
        let Some(len) = self.exe_len else {
            return false;
        };
        if cand_len != Some(len) {
            return false;
        }
        let Some(digest) = *self.exe_digest.get_or_init(|| sha256_file(exe)) else {
            return false;
        };
        sha256_file(cand).is_some_and(|d| d == digest)
    }
}

fn sha256_file(path: &Path) -> Option<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path).ok()?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).ok()?;
    Some(h.finalize().into())
}

/// A candidate passed over while looking for the real tool, and why.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: &'static str,
}

/// Walks `path_var` in order for an executable named `name` (honouring PATHEXT
/// on Windows), skipping shim directories and the running binary.
pub fn find_real_tool(
    name: &str,
    path_var: Option<&OsStr>,
    cwd: &Path,
    skip: &Skip,
) -> (Option<PathBuf>, Vec<Skipped>) {
    let mut skipped = Vec::new();
    let path_var: OsString = path_var.map(OsStr::to_os_string).unwrap_or_default();
    for cand in candidates(name, &path_var, cwd) {
        let dir = cand.parent().unwrap_or(Path::new(""));
        if !skip.dirs.is_empty() {
            if let Some(d) = FileId::of(dir) {
                if skip.dirs.contains(&d) {
                    skipped.push(Skipped {
                        path: cand,
                        reason: "in the shim directory",
                    });
                    continue;
                }
            }
        }
        let (id, len) = id_and_len(&cand);
        if let (Some(exe), Some(id)) = (&skip.exe, id) {
            if *exe == id {
                skipped.push(Skipped {
                    path: cand,
                    reason: "is pkgward itself",
                });
                continue;
            }
        }
        if skip.is_copy_of_exe(&cand, len) {
            skipped.push(Skipped {
                path: cand,
                reason: "is a copy of pkgward",
            });
            continue;
        }
        return (Some(cand), skipped);
    }
    (None, skipped)
}

/// The executables named `name` on PATH, in order, looked up as they are
/// taken (the walk stops at the real tool).
#[cfg(not(windows))]
// Owned arguments: the returned iterator's type then holds none of the
// caller's lifetimes (borrowed ones would have to be captured).
#[allow(clippy::unnecessary_to_owned)]
fn candidates(name: &str, path_var: &OsStr, cwd: &Path) -> impl Iterator<Item = PathBuf> {
    which::which_in_all(
        name.to_string(),
        Some(path_var.to_os_string()),
        cwd.to_path_buf(),
    )
    .into_iter()
    .flatten()
}

#[cfg(windows)]
fn candidates(name: &str, path_var: &OsStr, cwd: &Path) -> impl Iterator<Item = PathBuf> {
    let pathext = std::env::var("PATHEXT").unwrap_or_default();
    windows_candidates(name, path_var, &pathext, cwd, &|p| p.is_file()).into_iter()
}

/// The default PATHEXT when the variable is unset or empty.
pub const DEFAULT_PATHEXT: &str = ".COM;.EXE;.BAT;.CMD";

/// How Windows finds `name` on PATH, as cmd.exe does (but never in the current
/// directory, which cmd.exe searches first: a repository must not be able to
/// plant `npm.cmd` beside its package.json). PATH entries in order (quotes
/// stripped, empty ones skipped, relative ones against `cwd`); in each, `name`
/// with each PATHEXT extension in order (case-insensitively: the file system
/// is). A name that already carries a listed extension is tried as is. Then
/// a second walk for `name.ps1`, listed after all of those: tools that ship
/// only a PowerShell script (started through PowerShell, see [`launcher`]).
///
/// Pure (the file test is passed in) so it is tested on every platform.
pub fn windows_candidates(
    name: &str,
    path_var: &OsStr,
    pathext: &str,
    cwd: &Path,
    is_file: &dyn Fn(&Path) -> bool,
) -> Vec<PathBuf> {
    let mut exts: Vec<String> = pathext
        .split(';')
        .map(str::trim)
        .filter(|e| e.len() > 1 && e.starts_with('.') && !e.contains(['\\', '/']))
        .map(str::to_ascii_lowercase)
        .collect();
    if exts.is_empty() {
        exts = DEFAULT_PATHEXT
            .split(';')
            .map(str::to_ascii_lowercase)
            .collect();
    }
    let lower = name.to_ascii_lowercase();
    let has_ext = |list: &[String]| list.iter().any(|e| lower.ends_with(e.as_str()));
    let dirs: Vec<PathBuf> = path_var
        .to_string_lossy()
        .split(';')
        .map(|d| d.trim().trim_matches('"'))
        .filter(|d| !d.is_empty())
        .map(|d| cwd.join(d))
        .collect();
    let walk = |names: &[String]| -> Vec<PathBuf> {
        let mut found = Vec::new();
        for dir in &dirs {
            for n in names {
                let p = dir.join(n);
                if is_file(&p) && !found.contains(&p) {
                    found.push(p);
                }
            }
        }
        found
    };
    let names: Vec<String> = if has_ext(&exts) {
        vec![name.to_string()]
    } else {
        exts.iter().map(|e| format!("{name}{e}")).collect()
    };
    let mut found = walk(&names);
    if !has_ext(&exts) {
        // After every PATHEXT candidate (so used only when all of those are
        // skipped or absent), the PowerShell scripts.
        let ps1 = if lower.ends_with(".ps1") {
            name.to_string()
        } else {
            format!("{name}.ps1")
        };
        found.extend(walk(&[ps1]));
    }
    found
}

/// How a real tool found on PATH is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launcher {
    /// An executable, started directly.
    Direct,
    /// A `.cmd`/`.bat` script: started by the standard library, which runs it
    /// through `cmd.exe` with the batch-safe argument escaping it has had since
    /// Rust 1.77 (and refuses arguments it cannot pass safely) — never a
    /// `cmd /C` string pkgward builds.
    Batch,
    /// A `.ps1` script: started as `powershell.exe -NoProfile -File SCRIPT
    /// ARG...`, each argument its own element (PowerShell binds them as
    /// strings, nothing is re-parsed as script).
    PowerShell,
}

/// The launcher for `program`, by its extension (case-insensitively).
pub fn launcher(program: &Path) -> Launcher {
    let ext = program
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("cmd" | "bat") => Launcher::Batch,
        Some("ps1") => Launcher::PowerShell,
        _ => Launcher::Direct,
    }
}

/// The program and arguments that start a `.ps1` script through PowerShell.
pub fn powershell_command(
    powershell: &Path,
    script: &Path,
    args: &[OsString],
) -> (PathBuf, Vec<OsString>) {
    let mut a: Vec<OsString> = ["-NoLogo", "-NoProfile", "-File"]
        .into_iter()
        .map(OsString::from)
        .collect();
    a.push(script.as_os_str().to_os_string());
    a.extend(args.iter().cloned());
    (powershell.to_path_buf(), a)
}

/// Reads the nesting depth from the environment (absent or garbage = 0).
pub fn current_depth(value: Option<&OsStr>) -> u32 {
    value
        .and_then(|v| v.to_str())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod portable_tests {
    use super::*;

    fn files<'a>(list: &'a [&'a str]) -> impl Fn(&Path) -> bool + 'a {
        move |p: &Path| list.iter().any(|f| Path::new(f) == p)
    }

    #[test]
    fn windows_walk_honours_path_order_and_pathext() {
        let cwd = Path::new("/w");
        let path = OsStr::new(r#"/a;"/b c";;rel;/d"#);
        let have = files(&[
            "/a/npm",
            "/b c/npm.CMD",
            "/b c/npm.ps1",
            "/d/npm.exe",
            "/w/rel/npm.bat",
        ]);
        // The bare `npm` (a sh script beside npm.cmd) is never a candidate;
        // extension case follows PATHEXT, the file system being case-blind.
        let got = windows_candidates("npm", path, ".EXE;.CMD;.BAT", cwd, &|p| {
            have(p) || have(&PathBuf::from(p.to_string_lossy().replace(".cmd", ".CMD")))
        });
        assert_eq!(
            got,
            [
                PathBuf::from("/b c/npm.cmd"),
                PathBuf::from("/w/rel/npm.bat"),
                PathBuf::from("/d/npm.exe"),
                PathBuf::from("/b c/npm.ps1")
            ]
        );
        // PATHEXT order decides within one directory.
        let have = files(&["/a/yarn.cmd", "/a/yarn.exe"]);
        let got = windows_candidates("yarn", OsStr::new("/a"), ".CMD;.EXE", cwd, &have);
        assert_eq!(got[0], PathBuf::from("/a/yarn.cmd"));
        // Unset PATHEXT: the default list.
        let got = windows_candidates("yarn", OsStr::new("/a"), "", cwd, &have);
        assert_eq!(got[0], PathBuf::from("/a/yarn.exe"));
    }

    #[test]
    fn ps1_only_when_nothing_else() {
        let cwd = Path::new("/w");
        let have = files(&["/a/pnpm.ps1", "/b/pnpm.cmd"]);
        let got = windows_candidates("pnpm", OsStr::new("/a;/b"), ".CMD", cwd, &have);
        assert_eq!(
            got,
            [PathBuf::from("/b/pnpm.cmd"), PathBuf::from("/a/pnpm.ps1")]
        );
        let have = files(&["/a/pnpm.ps1"]);
        let got = windows_candidates("pnpm", OsStr::new("/a;/b"), ".CMD", cwd, &have);
        assert_eq!(got, [PathBuf::from("/a/pnpm.ps1")]);
        // Never the current directory unless PATH names it.
        let have = files(&["/w/pnpm.cmd"]);
        assert!(windows_candidates("pnpm", OsStr::new("/a"), ".CMD", cwd, &have).is_empty());
    }

    #[test]
    fn launchers_by_extension() {
        assert_eq!(launcher(Path::new(r"C:\n\npm.CMD")), Launcher::Batch);
        assert_eq!(launcher(Path::new("x/yarn.bat")), Launcher::Batch);
        assert_eq!(launcher(Path::new("x/pnpm.Ps1")), Launcher::PowerShell);
        assert_eq!(launcher(Path::new("x/npm.exe")), Launcher::Direct);
        assert_eq!(launcher(Path::new("/usr/bin/npm")), Launcher::Direct);
        let args = [
            OsString::from("a b"),
            OsString::from("-c"),
            OsString::from("$(x)"),
        ];
        let (p, a) = powershell_command(Path::new("ps.exe"), Path::new("s.ps1"), &args);
        assert_eq!(p, Path::new("ps.exe"));
        assert_eq!(
            a,
            [
                "-NoLogo",
                "-NoProfile",
                "-File",
                "s.ps1",
                "a b",
                "-c",
                "$(x)"
            ]
        );
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn exe(path: &Path) {
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn skips_shim_dir_self_and_non_executables() {
        let t = tempfile::tempdir().unwrap();
        let (shims, other, noexec, real) = (
            t.path().join("shims"),
            t.path().join("other"),
            t.path().join("noexec"),
            t.path().join("real"),
        );
        for d in [&shims, &other, &noexec, &real] {
            std::fs::create_dir(d).unwrap();
        }
        let me = t.path().join("pkgward");
        exe(&me);
        std::fs::write(&me, "#!/bin/sh\n#pkgward\n").unwrap();
        symlink(&me, shims.join("npm")).unwrap();
        // A symlink to pkgward outside the shim dir: skipped by identity.
        symlink(&me, other.join("npm")).unwrap();
        std::fs::write(noexec.join("npm"), "x").unwrap();
        exe(&real.join("npm"));
        std::fs::write(real.join("npm"), "#!/bin/sh\n#realnpm\n").unwrap();
        let path = std::env::join_paths([&shims, &other, &noexec, &real]).unwrap();
        let skip = Skip::new(std::slice::from_ref(&shims), Some(&me));
        let (found, skipped) = find_real_tool("npm", Some(&path), t.path(), &skip);
        assert_eq!(found.unwrap(), real.join("npm"));
        let reasons: Vec<_> = skipped.iter().map(|s| s.reason).collect();
        assert_eq!(reasons, ["in the shim directory", "is pkgward itself"]);

        let path = std::env::join_paths([&shims, &other]).unwrap();
        assert!(find_real_tool("npm", Some(&path), t.path(), &skip)
            .0
            .is_none());

        // A byte-for-byte copy of pkgward is skipped too; a same-sized
        // different file is not.
        let copies = t.path().join("copies");
        std::fs::create_dir(&copies).unwrap();
        std::fs::copy(&me, copies.join("npm")).unwrap();
        let path = std::env::join_paths([&copies, &real]).unwrap();
        let (found, skipped) = find_real_tool("npm", Some(&path), t.path(), &skip);
        assert_eq!(found.unwrap(), real.join("npm"));
        assert_eq!(skipped[0].reason, "is a copy of pkgward");
    }

    #[test]
    fn depth_parsing() {
        assert_eq!(current_depth(None), 0);
        assert_eq!(current_depth(Some(OsStr::new("3"))), 3);
        assert_eq!(current_depth(Some(OsStr::new("x"))), 0);
    }
}
