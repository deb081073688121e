//! The local audit log: JSON Lines, one complete object per line, appended
//! under an exclusive file lock so concurrent shims never interleave or tear
//! records, and written with a single `write` per record.
//!
//! Rotation by size: the writer that finds the file full (holding its lock)
//! renames it to `<log>.1` (shifting `.1` → `.2` … up to `keep`) and goes on
//! in a new file. A writer that opened the old file notices, after taking
//! the lock, that the path no longer names its file and reopens: no record
//! lands in a file that is about to be shifted out, none is lost or torn.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub struct AuditLog {
    path: PathBuf,
    file: File,
    rotation: Option<Rotation>,
    /// Spools of the configured sinks: every line appended to the log is
    /// appended to each of these too (after the log itself).
    tees: Vec<AuditLog>,
    /// Spools that could not be opened, with why.
    dead_tees: Vec<(PathBuf, String)>,
    tee_errors: Vec<Error>,
}

/// Where an invocation's records go: the log (with its rotation) and the
/// spool files its sinks ship from. Cheap to clone; each writer (the shim,
/// the proxy, the tracer, script runs) opens its own handle with [`open`].
///
/// [`open`]: Target::open
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub path: PathBuf,
    pub rotation: Option<Rotation>,
    /// Spool files (one per sink), appended to after the log.
    pub tees: Vec<PathBuf>,
}

impl Target {
    /// A log at `path` with the default rotation and no sinks.
    pub fn new(path: PathBuf) -> Target {
        Target {
            path,
            rotation: Some(Rotation::default()),
            tees: Vec::new(),
        }
    }

    /// Opens the log and the sinks' spools.
    pub fn open(&self) -> Result<AuditLog> {
        let mut log = AuditLog::open(&self.path)?.with_rotation(self.rotation);
        for t in &self.tees {
            match AuditLog::open(t) {
                Ok(l) => log.tees.push(l.with_rotation(None)),
                // A spool that cannot be opened misses every record this
                // handle appends; each miss is recorded (see `append`).
                Err(e) => log.dead_tees.push((t.clone(), e.to_string())),
            }
        }
        Ok(log)
    }
}

/// When to rotate, and how many rotated files to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    pub max_bytes: u64,
    pub keep: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_bytes: 64 << 20,
            keep: 9,
        }
    }
}

impl AuditLog {
    /// Opens (creating it and its directory if needed) the log for appending.
    /// A new log is created readable by its owner only: it holds command lines.
    pub fn open(path: &Path) -> Result<AuditLog> {
        let fail = |source| Error::Audit {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                fs::create_dir_all(dir).map_err(fail)?;
            }
        }
        let mut opts = OpenOptions::new();
        opts.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(path).map_err(fail)?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file,
            rotation: Some(Rotation::default()),
            tees: Vec::new(),
            dead_tees: Vec::new(),
            tee_errors: Vec::new(),
        })
    }

    /// Sets (or, with `None`, turns off) size-based rotation.
    pub fn with_rotation(mut self, rotation: Option<Rotation>) -> Self {
        self.rotation = rotation;
        self
    }

    fn reopen(&mut self) -> std::io::Result<()> {
        let mut opts = OpenOptions::new();
        opts.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        self.file = opts.open(&self.path)?;
        Ok(())
    }

    /// Whether the path still names the file this writer holds: its size
    /// when it does (for the rotation check, from the same `fstat`).
    fn current(&self) -> std::io::Result<Option<u64>> {
        // Unix: a `stat` of the path and an `fstat` of ours (same_file
        // would open the path and duplicate our descriptor: 6 calls more
        // per record).
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let on_path = match fs::metadata(&self.path) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let mine = self.file.metadata()?;
            Ok((on_path.dev() == mine.dev() && on_path.ino() == mine.ino()).then_some(mine.len()))
        }
        #[cfg(not(unix))]
        match self.current_by_handle()? {
            true => Ok(Some(self.file.metadata()?.len())),
            false => Ok(None),
        }
    }

    #[cfg(not(unix))]
    fn current_by_handle(&self) -> std::io::Result<bool> {
        let on_path = match same_file::Handle::from_path(&self.path) {
            Ok(h) => h,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let mine = same_file::Handle::from_file(self.file.try_clone()?)?;
        Ok(on_path == mine)
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    /// Shifts `<log>.k-1` → `<log>.k` down to `<log>` → `<log>.1`. Called
    /// with the lock held.
    fn rotate(&self, keep: u32) -> std::io::Result<()> {
        let keep = keep.max(1);
        for n in (1..keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        fs::rename(&self.path, self.rotated(1))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one line. The line is fully serialised first, then
    /// written while holding an exclusive lock on the file.
    pub fn append<T: serde::Serialize>(&mut self, record: &T) -> Result<()> {
        let mut line = serde_json::to_vec(record)
            .map_err(|e| Error::Internal(format!("cannot serialise an audit record: {e}")))?;
        line.push(b'\n');
        self.append_line(&line)?;
        // The log holds the record, so the append succeeds: a spool that
        // cannot take it does not stop the tool (the log is what enforce
        // mode guarantees). The miss is written to the log as a
        // `spool-error` record and kept for the caller to report.
        let mut missed_by: Vec<(PathBuf, String)> = self.dead_tees.clone();
        for t in &mut self.tees {
            if let Err(e) = t.append_line(&line) {
                missed_by.push((t.path.clone(), e.to_string()));
                self.tee_errors.push(e);
            }
        }
        if !missed_by.is_empty() {
            let missed: serde_json::Value =
                serde_json::from_slice(&line).unwrap_or(serde_json::Value::Null);
            for (spool, error) in missed_by {
                let mut gap = serde_json::to_vec(&serde_json::json!({
                    "kind": "spool-error",
                    "invocation_id": missed.get("invocation_id"),
                    "time": super::now_rfc3339(),
                    "spool": spool,
                    "missed_kind": missed.get("kind"),
                    "error": error,
                }))
                .unwrap_or_default();
                gap.push(b'\n');
                let _ = self.append_line(&gap);
            }
        }
        Ok(())
    }

    /// The spool failures since the last call (see [`AuditLog::append`]),
    /// spools that could not be opened included.
    pub fn take_tee_errors(&mut self) -> Vec<Error> {
        let mut out = std::mem::take(&mut self.tee_errors);
        for (p, e) in &self.dead_tees {
            out.push(Error::Audit {
                path: p.clone(),
                source: std::io::Error::other(e.clone()),
            });
        }
        out
    }

    fn append_line(&mut self, line: &[u8]) -> Result<()> {
        let log_path = self.path.clone();
        let fail = |source| Error::Audit {
            path: log_path.clone(),
            source,
        };
        // A rotation moves the file at most a few times while we wait;
        // bounded so a pathological directory cannot spin us forever.
        for _ in 0..64 {
            lock::exclusive(&self.file).map_err(fail)?;
            let len = match self.current() {
                Ok(Some(len)) => len,
                Ok(None) => {
                    let _ = lock::unlock(&self.file);
                    self.reopen().map_err(fail)?;
                    continue;
                }
                Err(e) => {
                    let _ = lock::unlock(&self.file);
                    return Err(fail(e));
                }
            };
            if let Some(r) = self.rotation {
                if len > 0 && len + line.len() as u64 > r.max_bytes {
                    let rotated = self.rotate(r.keep);
                    let _ = lock::unlock(&self.file);
                    rotated.map_err(fail)?;
                    self.reopen().map_err(fail)?;
                    continue;
                }
            }
            let written = self.file.write_all(line);
            let unlocked = lock::unlock(&self.file);
            written.map_err(fail)?;
            unlocked.map_err(fail)?;
            return Ok(());
        }
        Err(fail(std::io::Error::other(
            "the log kept being rotated or replaced while waiting to append",
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 16 writers (threads, each with its own handle, as separate shims
    /// would have) appending across many rotations: every record is in
    /// exactly one file, whole.
    #[test]
    fn rotation_under_concurrent_writers_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let rotation = Rotation {
            max_bytes: 4096,
            keep: 10_000,
        };
        let writers: Vec<_> = (0..16)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let mut log = AuditLog::open(&path).unwrap().with_rotation(Some(rotation));
                        log.append(&serde_json::json!({"w": w, "i": i, "pad": "x".repeat(i % 97)}))
                            .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut files = 0;
        for e in fs::read_dir(dir.path()).unwrap() {
            let p = e.unwrap().path();
            files += 1;
            let text = fs::read_to_string(&p).unwrap();
            assert!(
                text.len() as u64 <= 4096 + 200,
                "{}: {}",
                p.display(),
                text.len()
            );
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert!(seen.insert((v["w"].as_u64().unwrap(), v["i"].as_u64().unwrap())));
            }
        }
        assert_eq!(seen.len(), 16 * 200);
        assert!(files > 20, "{files} files: the test must rotate many times");
    }

    #[test]
    fn keeps_at_most_keep_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let mut log = AuditLog::open(&path).unwrap().with_rotation(Some(Rotation {
            max_bytes: 100,
            keep: 3,
        }));
        for i in 0..50 {
            log.append(&serde_json::json!({"i": i, "pad": "y".repeat(40)}))
                .unwrap();
        }
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a.jsonl", "a.jsonl.1", "a.jsonl.2", "a.jsonl.3"]);
        // The newest record is in the live file, the order is kept across files.
        let live = fs::read_to_string(&path).unwrap();
        assert!(live.contains("\"i\":49"));
    }
}

#[cfg(not(windows))]
pub(crate) mod lock {
    use std::fs::File;
    pub fn exclusive(f: &File) -> std::io::Result<()> {
        f.lock()
    }
    pub fn unlock(f: &File) -> std::io::Result<()> {
        f.unlock()
    }
}

/// Windows: one exclusive byte-range lock over the whole file, released with
/// exactly one `UnlockFileEx`. (The standard library's `File::unlock` unlocks
/// twice in case a shared lock is also held, and treats anything but
/// ERROR_NOT_LOCKED from the second call as failure; Wine answers
/// ERROR_LOCK_VIOLATION there, so every second append failed under Wine.)
#[cfg(windows)]
pub(crate) mod lock {
    use std::fs::File;
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Storage::FileSystem::{
        LockFileEx, UnlockFileEx, LOCKFILE_EXCLUSIVE_LOCK,
    };
    use windows_sys::Win32::System::IO::OVERLAPPED;

    pub fn exclusive(f: &File) -> std::io::Result<()> {
        // SAFETY: a valid file handle and a zeroed OVERLAPPED (offset 0).
        let ok = unsafe {
            let mut ov: OVERLAPPED = std::mem::zeroed();
            LockFileEx(
                f.as_raw_handle() as _,
                LOCKFILE_EXCLUSIVE_LOCK,
                0,
                u32::MAX,
                u32::MAX,
                &mut ov,
            )
        };
        if ok == 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    pub fn unlock(f: &File) -> std::io::Result<()> {
        // SAFETY: as above; the same range as the lock.
        let ok = unsafe {
            let mut ov: OVERLAPPED = std::mem::zeroed();
            UnlockFileEx(f.as_raw_handle() as _, 0, u32::MAX, u32::MAX, &mut ov)
        };
        if ok == 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}
