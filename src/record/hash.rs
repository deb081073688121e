//! sha256 of the real tool's executable, cached by path + size + mtime (+ ctime
//! and inode on Unix, which a user cannot set back) so the cost is paid once
//! per binary, not per invocation.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// The fingerprint that invalidates a cache entry when the file changes.
pub fn fingerprint(meta: &fs::Metadata) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        format!(
            "{} {} {}.{} {}.{} {}",
            meta.dev(),
            meta.ino(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
            meta.size()
        )
    }
    #[cfg(not(unix))]
    {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("{} {}", mtime, meta.len())
    }
}

/// sha256 of `path` (following symlinks), using a cache directory when one is
/// given. Cache failures never fail the hash.
pub fn cached_sha256(path: &Path, cache_dir: Option<&Path>) -> std::io::Result<String> {
    let meta = fs::metadata(path)?;
    let fp = fingerprint(&meta);
    let entry: Option<PathBuf> = cache_dir.map(|d| {
        let key = sha256_bytes(path.as_os_str().to_string_lossy().as_bytes());
        d.join(&key[..32])
    });
    if let Some(entry) = &entry {
        if let Ok(text) = fs::read_to_string(entry) {
            if let Some((cached_fp, digest)) = text.trim_end().rsplit_once(' ') {
                if cached_fp == fp && digest.len() == 64 {
                    return Ok(digest.to_string());
                }
            }
        }
    }
    let digest = sha256_file(path)?;
    if let Some(entry) = entry {
        let _ = write_atomic(&entry, format!("{fp} {digest}\n").as_bytes());
    }
    Ok(digest)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("tmp"),
        std::process::id()
    ));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_hit_and_invalidation() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tool");
        fs::write(&f, b"abc").unwrap();
        let cache = dir.path().join("cache");
        let want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(cached_sha256(&f, Some(&cache)).unwrap(), want);
        assert_eq!(cached_sha256(&f, Some(&cache)).unwrap(), want);
        assert_eq!(fs::read_dir(&cache).unwrap().count(), 1);
        // Same size, new content: the fingerprint (mtime/ctime) changes.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&f, b"abd").unwrap();
        assert_ne!(cached_sha256(&f, Some(&cache)).unwrap(), want);
    }
}
