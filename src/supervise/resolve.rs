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
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
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

/// What is skipped while walking PATH.
pub struct Skip {
    /// Shim directories (compared by identity, so `..` and symlinks don't fool it).
    pub dirs: Vec<FileId>,
    /// The running binary.
    pub exe: Option<FileId>,
}

impl Skip {
    pub fn new(shim_dirs: &[PathBuf], exe: Option<&Path>) -> Skip {
        Skip {
            dirs: shim_dirs.iter().filter_map(|d| FileId::of(d)).collect(),
            exe: exe.and_then(FileId::of),
        }
    }
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
    let Ok(candidates) = which::which_in_all(name, Some(&path_var), cwd) else {
        return (None, skipped);
    };
    for cand in candidates {
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
        if let (Some(exe), Some(id)) = (&skip.exe, FileId::of(&cand)) {
            if *exe == id {
                skipped.push(Skipped {
                    path: cand,
                    reason: "is pkgward itself",
                });
                continue;
            }
        }
        return (Some(cand), skipped);
    }
    (None, skipped)
}

/// Reads the nesting depth from the environment (absent or garbage = 0).
pub fn current_depth(value: Option<&OsStr>) -> u32 {
    value
        .and_then(|v| v.to_str())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
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
        symlink(&me, shims.join("npm")).unwrap();
        // A symlink to pkgward outside the shim dir: skipped by identity.
        symlink(&me, other.join("npm")).unwrap();
        std::fs::write(noexec.join("npm"), "x").unwrap();
        exe(&real.join("npm"));
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
    }

    #[test]
    fn depth_parsing() {
        assert_eq!(current_depth(None), 0);
        assert_eq!(current_depth(Some(OsStr::new("3"))), 3);
        assert_eq!(current_depth(Some(OsStr::new("x"))), 0);
    }
}
