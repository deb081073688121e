//! Where pkgward keeps its state and where shims live by default.
//!
//! Linux: `$XDG_STATE_HOME/pkgward` (else `~/.local/state/pkgward`);
//! macOS: `~/Library/Application Support/pkgward`; Windows: `%LocalAppData%\pkgward`.
//! `PKGWARD_STATE_DIR` overrides (containers, tests).

use std::path::PathBuf;

/// The directory holding the default audit log and caches.
pub fn state_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PKGWARD_STATE_DIR").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|d| d.join("pkgward"))
}

/// The default audit log: `<state dir>/audit.jsonl`.
pub fn default_audit_log() -> Option<PathBuf> {
    state_dir().map(|d| d.join("audit.jsonl"))
}

/// The default shim directory for a per-user install: `<data dir>/pkgward/shims`
/// (`~/.local/share/pkgward/shims` on Linux). `PKGWARD_SHIM_DIR` overrides; the
/// shims themselves also recognise the directory they were started from.
pub fn default_shim_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PKGWARD_SHIM_DIR").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    dirs::data_local_dir().map(|d| d.join("pkgward").join("shims"))
}
