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
        self.file.lock().map_err(fail)?;
        let written = self.file.write_all(line);
        let unlocked = self.file.unlock();
        written.map_err(fail)?;
        unlocked.map_err(fail)?;
        Ok(())
    }
}
