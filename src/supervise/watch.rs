//! Execution paths watched during an invocation: the places where package
//! managers put programs that later run (AN0021 on Windows: `%AppData%\npm`,
//! `%UserProfile%\.cargo\bin`, `.nuget\packages`, `.gradle`, `.m2`, temp build
//! directories). A bounded scan before and after the tool runs finds the
//! executables and DLLs it created or changed there; each is recorded with
//! its sha256.
//!
//! On Unix the watched roots are the directories programs run from — PATH
//! and the package managers' bin directories (see
//! [`crate::provenance::bin_roots`]) — and what is recorded is an executable
//! file (any execute bit) or a script (`#!`); a symbolic link (npm's
//! `node_modules/.bin`) is recorded with the file it leads to and that
//! file's sha256.
//!
//! Bounded: each root has a depth limit and the whole scan stops after
//! [`ENTRY_BUDGET`] directory entries (the record then says the scan was
//! cut short), so a huge Maven repository costs at most that many `stat`s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Directory entries looked at per scan, over all roots.
pub const ENTRY_BUDGET: usize = 20_000;

/// Extensions of files that run or are loaded as code on Windows.
pub const EXECUTABLE_EXTENSIONS: [&str; 10] = [
    "exe", "dll", "com", "scr", "sys", "cpl", "ocx", "msi", "cmd", "bat",
];

/// A watched root and how deep below it to look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    pub path: PathBuf,
    pub depth: usize,
}

/// The AN0021 execution paths for this user, from the environment (Windows
/// variable names; empty where they are unset, e.g. on Unix).
pub fn default_roots(env: &dyn Fn(&str) -> Option<PathBuf>) -> Vec<Root> {
    let mut roots = Vec::new();
    let mut add = |p: Option<PathBuf>, depth: usize| {
        if let Some(path) = p.filter(|p| p.is_absolute()) {
            if !roots.iter().any(|r: &Root| r.path == path) {
                roots.push(Root { path, depth });
            }
        }
    };
    let profile = env("USERPROFILE");
    let under = |rel: &str| profile.as_ref().map(|p| p.join(rel));
    add(env("APPDATA").map(|p| p.join("npm")), 3);
    add(under(".cargo\\bin"), 1);
    add(under(".nuget\\packages"), 6);
    add(under(".gradle"), 6);
    add(under(".m2"), 8);
    // Temp build directories: packages build native code under %TEMP%
    // (last and shallow: it is often the largest).
    add(env("TEMP").or_else(|| env("TMP")), 2);
    roots
}

/// The roots watched on this platform: the AN0021 list on Windows; none
/// elsewhere (Linux supervision traces processes instead).
pub fn roots() -> Vec<Root> {
    if cfg!(windows) {
        default_roots(&|k| std::env::var_os(k).map(PathBuf::from))
    } else {
        Vec::new()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    /// Unix: device, inode, mtime, ctime and size (a ctime cannot be set
    /// back); of the link itself too for a symbolic link.
    fingerprint: Fingerprint,
}

/// [`Stamp::fingerprint`]: the file's, and the link's own for a symbolic
/// link (numbers: a scan of `/usr/bin` makes a thousand of them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Fingerprint {
    file: [i64; 7],
    link: Option<[i64; 7]>,
}

fn fingerprint_of(m: &std::fs::Metadata) -> [i64; 7] {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        [
            m.dev() as i64,
            m.ino() as i64,
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
            m.size() as i64,
        ]
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        [0; 7]
    }
}

/// What the watched roots held.
#[derive(Debug, Default)]
pub struct Snapshot {
    files: HashMap<PathBuf, Stamp, foldhash::fast::RandomState>,
    /// The entry budget ran out: the scan is incomplete.
    pub truncated: bool,
}

/// An executable or DLL created or changed in a watched root.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Written {
    pub path: PathBuf,
    /// "created" or "modified".
    pub change: &'static str,
    pub size: u64,
    /// null when the file could not be read (gone again, locked).
    pub sha256: Option<String>,
    pub root: PathBuf,
    /// A symbolic link: where it leads (size and sha256 are that file's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_target: Option<PathBuf>,
}

fn is_watched_file(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| EXECUTABLE_EXTENSIONS.contains(&e.as_str()))
}

/// Scans the roots (missing ones are simply empty).
pub fn snapshot(roots: &[Root]) -> Snapshot {
    let mut snap = Snapshot::default();
    let mut budget = ENTRY_BUDGET;
    for root in roots {
        scan(&root.path, root.depth, &mut budget, &mut snap);
    }
    snap
}

fn scan(dir: &Path, depth: usize, budget: &mut usize, snap: &mut Snapshot) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if *budget == 0 {
            snap.truncated = true;
            return;
        }
        *budget -= 1;
        let Ok(ft) = e.file_type() else { continue };
        let path = e.path();
        if ft.is_dir() {
            // Symlinked/junction directories are not followed (loops).
            if depth > 1 {
                scan(&path, depth - 1, budget, snap);
            }
        } else if cfg!(unix) && (ft.is_file() || ft.is_symlink()) {
            // What it leads to must be a file (not a directory). A regular
            // file's own status is read relative to the listed directory
            // (no walk of its whole path: thousands of entries in /usr/bin).
            let m = if ft.is_symlink() {
                std::fs::metadata(&path)
            } else {
                e.metadata()
            };
            let Ok(m) = m else {
                continue;
            };
            if !m.is_file() {
                continue;
            }
            let fingerprint = Fingerprint {
                file: fingerprint_of(&m),
                link: ft
                    .is_symlink()
                    .then(|| e.metadata().ok().map(|l| fingerprint_of(&l)))
                    .flatten(),
            };
            snap.files.insert(
                path,
                Stamp {
                    len: m.len(),
                    modified: m.modified().ok(),
                    fingerprint,
                },
            );
        } else if ft.is_file() && is_watched_file(&path) {
            if let Ok(m) = e.metadata() {
                snap.files.insert(
                    path,
                    Stamp {
                        len: m.len(),
                        modified: m.modified().ok(),
                        fingerprint: Fingerprint::default(),
                    },
                );
            }
        }
    }
}

/// The watched files that are new or changed in `after`, hashed, in path order.
pub fn changes(roots: &[Root], before: &Snapshot, after: &Snapshot) -> Vec<Written> {
    let mut out: Vec<Written> = after
        .files
        .iter()
        .filter_map(|(path, stamp)| {
            let change = match before.files.get(path) {
                None => "created",
                Some(old) if old != stamp => "modified",
                Some(_) => return None,
            };
            if cfg!(unix) && !runnable(path) {
                return None;
            }
            let link_target = std::fs::symlink_metadata(path)
                .ok()
                .filter(|m| m.file_type().is_symlink())
                .and_then(|_| std::fs::read_link(path).ok());
            let root = roots
                .iter()
                .filter(|r| path.starts_with(&r.path))
                .max_by_key(|r| r.path.as_os_str().len())
                .map(|r| r.path.clone())
                .unwrap_or_default();
            Some(Written {
                path: path.clone(),
                change,
                size: stamp.len,
                sha256: crate::record::hash::sha256_file(path).ok(),
                root,
                link_target,
            })
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Unix: an executable file (any execute bit) or a script (`#!`), after
/// symbolic links.
fn runnable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0) {
            return true;
        }
    }
    let mut head = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && &head == b"#!"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_roots_follow_the_environment() {
        let env = |k: &str| match k {
            "APPDATA" => Some(PathBuf::from("/u/AppData/Roaming")),
            "USERPROFILE" => Some(PathBuf::from("/u")),
            "TEMP" => Some(PathBuf::from("/u/tmp")),
            _ => None,
        };
        let roots = default_roots(&env);
        let paths: Vec<_> = roots.iter().map(|r| r.path.clone()).collect();
        assert_eq!(paths[0], PathBuf::from("/u/AppData/Roaming/npm"));
        assert_eq!(paths.len(), 6);
        // Relative or missing variables add nothing.
        let env = |k: &str| (k == "APPDATA").then(|| PathBuf::from("rel"));
        assert!(default_roots(&env).is_empty());
    }

    #[test]
    fn new_and_changed_executables_are_found_with_their_hash() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("npm");
        std::fs::create_dir_all(root.join("node_modules/x")).unwrap();
        std::fs::write(root.join("old.exe"), "old").unwrap();
        std::fs::write(root.join("same.dll"), "same").unwrap();
        let roots = [Root {
            path: root.clone(),
            depth: 3,
        }];
        let before = snapshot(&roots);
        std::fs::write(root.join("old.exe"), "changed!").unwrap();
        std::fs::write(root.join("node_modules/x/evil.DLL"), "evil").unwrap();
        std::fs::write(root.join("readme.txt"), "text").unwrap();
        #[cfg(unix)]
        for f in ["old.exe", "node_modules/x/evil.DLL"] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(root.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let after = snapshot(&roots);
        let got = changes(&roots, &before, &after);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].path, root.join("node_modules/x/evil.DLL"));
        assert_eq!(got[0].change, "created");
        assert_eq!(
            got[0].sha256.as_deref(),
            Some(crate::record::hash::sha256_bytes(b"evil").as_str())
        );
        assert_eq!(got[0].root, root);
        assert_eq!(got[1].path, root.join("old.exe"));
        assert_eq!(got[1].change, "modified");
    }

    #[test]
    fn depth_and_budget_bound_the_scan() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::fs::write(t.path().join("a/b/deep.exe"), "x").unwrap();
        std::fs::write(t.path().join("top.exe"), "x").unwrap();
        let shallow = [Root {
            path: t.path().to_path_buf(),
            depth: 2,
        }];
        let s = snapshot(&shallow);
        assert_eq!(s.files.len(), 1);
        assert!(!s.truncated);
        let deep = [Root {
            path: t.path().to_path_buf(),
            depth: 3,
        }];
        assert_eq!(snapshot(&deep).files.len(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn unix_programs_scripts_and_links() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let t = tempfile::tempdir().unwrap();
        let bin = t.path().join("node_modules/.bin");
        let pkg = t.path().join("node_modules/tool");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(bin.join("kept"), "#!/bin/sh\n").unwrap();
        let roots = [Root {
            path: bin.clone(),
            depth: 1,
        }];
        let before = snapshot(&roots);
        std::fs::write(pkg.join("cli.js"), "#!/usr/bin/env node\nrun()\n").unwrap();
        symlink("../tool/cli.js", bin.join("tool")).unwrap();
        std::fs::write(bin.join("data.txt"), "not a program").unwrap();
        std::fs::write(bin.join("elf"), "\x7fELF").unwrap();
        std::fs::set_permissions(bin.join("elf"), std::fs::Permissions::from_mode(0o700)).unwrap();
        symlink("../tool", bin.join("dirlink")).unwrap();
        let after = snapshot(&roots);
        let got = changes(&roots, &before, &after);
        let names: Vec<_> = got
            .iter()
            .map(|w| w.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["elf", "tool"], "{got:?}");
        assert_eq!(
            got[1].link_target.as_deref(),
            Some(Path::new("../tool/cli.js"))
        );
        assert_eq!(
            got[1].sha256.as_deref(),
            Some(crate::record::hash::sha256_bytes(b"#!/usr/bin/env node\nrun()\n").as_str())
        );
        // The file behind an unchanged link changes: the link is recorded again.
        let before = after;
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(pkg.join("cli.js"), "#!/usr/bin/env node\nevil()\n").unwrap();
        let got = changes(&roots, &before, &snapshot(&roots));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].change, "modified");
    }
}
