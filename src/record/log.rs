//! The local audit log: JSON Lines, one complete object per line, appended
//! under an exclusive file lock so concurrent shims never interleave or tear
//! records, and written with a single `write` per record.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub struct AuditLog {
    path: PathBuf,
    file: File,
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
        })
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
        self.append_line(&line)
    }

    fn append_line(&mut self, line: &[u8]) -> Result<()> {
        let fail = |source| Error::Audit {
            path: self.path.clone(),
            source,
        };
        lock::exclusive(&self.file).map_err(fail)?;
        let written = self.file.write_all(line);
        let unlocked = lock::unlock(&self.file);
        written.map_err(fail)?;
        unlocked.map_err(fail)?;
        Ok(())
    }
}

#[cfg(not(windows))]
mod lock {
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
mod lock {
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
