//! Known-malicious packages: OSV feeds (the `MAL-` advisories) read into an
//! on-disk index that answers "is NAME@VERSION listed?" with a few reads,
//! however large the feed.
//!
//! The index is built once per feed change (by `pkgward threats sync`, or by
//! the first invocation that finds it missing or stale) under the state
//! directory. Its staleness key is the feeds' paths with the size and
//! modification time of each feed file (of the directory itself for a
//! directory feed: after editing files inside one in place, run
//! `pkgward threats sync`).
//!
//! Index layout: a header line, then one line per listing sorted by key
//! (`ECOSYSTEM \t NAME \t` + JSON of the listing), then a table of the
//! little-endian u64 offsets of those lines, then a footer (u64 count, u64
//! table offset, 8-byte magic). A lookup binary-searches the table.

pub mod osv;

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::tools::Ecosystem;
pub use osv::{Listing, Versions};

const MAGIC: &[u8; 8] = b"PWTHRT01";
const FOOTER: u64 = 24;
/// A listing line longer than this is refused when reading (a corrupt index).
const MAX_LINE: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("threat feed {}: {message}", path.display())]
    Feed { path: PathBuf, message: String },
    #[error("threat index {}: {message}", path.display())]
    Index { path: PathBuf, message: String },
}

fn feed_err(path: &Path, message: impl Into<String>) -> FeedError {
    FeedError::Feed {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn index_err(path: &Path, message: impl std::fmt::Display) -> FeedError {
    FeedError::Index {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Reads every advisory of one feed: a `.zip` (OSV's per-ecosystem
/// exports), a `.jsonl`/`.ndjson` file (one advisory per line), any other
/// file as one JSON advisory or an array, or a directory (its `.json` files,
/// recursively, symbolic links not followed).
pub fn read_feed(path: &Path) -> Result<Vec<Listing>, FeedError> {
    let meta = std::fs::metadata(path).map_err(|e| feed_err(path, e.to_string()))?;
    let mut out = Vec::new();
    if meta.is_dir() {
        read_dir(path, &mut out, 0)?;
        return Ok(out);
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "zip" => read_zip(path, &mut out)?,
        "jsonl" | "ndjson" => {
            let text = read_text(path)?;
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                out.extend(
                    osv::parse(line).map_err(|e| feed_err(path, format!("line {}: {e}", i + 1)))?,
                );
            }
        }
        _ => out.extend(osv::parse(&read_text(path)?).map_err(|e| feed_err(path, e))?),
    }
    Ok(out)
}

fn read_text(path: &Path) -> Result<String, FeedError> {
    let bytes = std::fs::read(path).map_err(|e| feed_err(path, e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| feed_err(path, "not UTF-8"))
}

fn read_dir(dir: &Path, out: &mut Vec<Listing>, depth: usize) -> Result<(), FeedError> {
    if depth > 8 {
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| feed_err(dir, e.to_string()))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(ft) = e.file_type() else { continue };
        let p = e.path();
        if ft.is_dir() {
            read_dir(&p, out, depth + 1)?;
        } else if ft.is_file()
            && p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("json"))
        {
            let text = read_text(&p)?;
            out.extend(osv::parse(&text).map_err(|e| feed_err(&p, e))?);
        }
    }
    Ok(())
}

fn read_zip(path: &Path, out: &mut Vec<Listing>) -> Result<(), FeedError> {
    let file = File::open(path).map_err(|e| feed_err(path, e.to_string()))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| feed_err(path, e.to_string()))?;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| feed_err(path, e.to_string()))?;
        let name = match f.name() {
            Ok(n) => n.to_string(),
            Err(e) => return Err(feed_err(path, format!("entry {i}: {e}"))),
        };
        if !f.is_file() || !name.to_ascii_lowercase().ends_with(".json") {
            continue;
        }
        if f.size() > MAX_LINE as u64 {
            return Err(feed_err(path, format!("{name}: larger than 16 MiB")));
        }
        let mut text = String::new();
        f.read_to_string(&mut text)
            .map_err(|e| feed_err(path, format!("{name}: {e}")))?;
        out.extend(osv::parse(&text).map_err(|e| feed_err(path, format!("{name}: {e}")))?);
    }
    Ok(())
}

/// The staleness key of a set of feeds: their paths, sizes and modification
/// times. A missing feed is an error (a configured feed must be readable).
pub fn feeds_key(feeds: &[PathBuf]) -> Result<String, FeedError> {
    let mut h = Sha256::new();
    h.update(b"pkgward-threat-index-v1\0");
    for f in feeds {
        let m = std::fs::metadata(f).map_err(|e| feed_err(f, e.to_string()))?;
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h.update(f.to_string_lossy().as_bytes());
        h.update(b"\0");
        h.update(m.len().to_le_bytes());
        h.update(mtime.to_le_bytes());
    }
    Ok(hex(&h.finalize()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn key(eco: Ecosystem, name: &str) -> String {
    format!("{}\t{}\t", eco.key(), name)
}

/// Writes the index of `listings` to `out` atomically (a temporary file
/// renamed into place). Returns the number of listings.
pub fn write_index(listings: Vec<Listing>, out: &Path) -> Result<usize, FeedError> {
    let mut lines: Vec<(String, String)> = Vec::with_capacity(listings.len());
    for l in listings {
        // Names with control characters cannot be matched by any tool's
        // argument and would break the line format.
        if l.name.chars().any(char::is_control) {
            continue;
        }
        let json = serde_json::to_string(&l).map_err(|e| index_err(out, e))?;
        lines.push((key(l.ecosystem, &l.name), json));
    }
    lines.sort();
    lines.dedup();
    let dir = out.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| index_err(dir, e))?;
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| index_err(dir, e))?;
    {
        let mut w = BufWriter::new(tmp.as_file());
        let header = b"pkgward threat index v1\n";
        w.write_all(header).map_err(|e| index_err(out, e))?;
        let mut pos = header.len() as u64;
        let mut offsets = Vec::with_capacity(lines.len());
        for (k, json) in &lines {
            offsets.push(pos);
            w.write_all(k.as_bytes())
                .and_then(|_| w.write_all(json.as_bytes()))
                .and_then(|_| w.write_all(b"\n"))
                .map_err(|e| index_err(out, e))?;
            pos += (k.len() + json.len() + 1) as u64;
        }
        let table = pos;
        for o in &offsets {
            w.write_all(&o.to_le_bytes())
                .map_err(|e| index_err(out, e))?;
        }
        w.write_all(&(offsets.len() as u64).to_le_bytes())
            .and_then(|_| w.write_all(&table.to_le_bytes()))
            .and_then(|_| w.write_all(MAGIC))
            .and_then(|_| w.flush())
            .map_err(|e| index_err(out, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| index_err(out, e))?;
    tmp.persist(out).map_err(|e| index_err(out, e.error))?;
    Ok(lines.len())
}

/// An open index.
pub struct Index {
    file: File,
    path: PathBuf,
    count: u64,
    table: u64,
}

impl Index {
    pub fn open(path: &Path) -> Result<Index, FeedError> {
        let mut file = File::open(path).map_err(|e| index_err(path, e))?;
        let len = file.metadata().map_err(|e| index_err(path, e))?.len();
        if len < FOOTER {
            return Err(index_err(path, "truncated (run `pkgward threats sync`)"));
        }
        let mut foot = [0u8; FOOTER as usize];
        file.seek(SeekFrom::Start(len - FOOTER))
            .and_then(|_| file.read_exact(&mut foot))
            .map_err(|e| index_err(path, e))?;
        let count = u64::from_le_bytes(foot[0..8].try_into().unwrap_or_default());
        let table = u64::from_le_bytes(foot[8..16].try_into().unwrap_or_default());
        if &foot[16..24] != MAGIC
            || count
                .checked_mul(8)
                .and_then(|n| n.checked_add(table))
                .and_then(|n| n.checked_add(FOOTER))
                != Some(len)
        {
            return Err(index_err(
                path,
                "not a pkgward threat index, or corrupt (run `pkgward threats sync`)",
            ));
        }
        Ok(Index {
            file,
            path: path.to_path_buf(),
            count,
            table,
        })
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn offset(&mut self, i: u64) -> Result<u64, FeedError> {
        let mut b = [0u8; 8];
        self.file
            .seek(SeekFrom::Start(self.table + i * 8))
            .and_then(|_| self.file.read_exact(&mut b))
            .map_err(|e| index_err(&self.path, e))?;
        let o = u64::from_le_bytes(b);
        if o >= self.table {
            return Err(index_err(&self.path, "corrupt offset table"));
        }
        Ok(o)
    }

    fn line(&mut self, i: u64) -> Result<Vec<u8>, FeedError> {
        let start = self.offset(i)?;
        self.file
            .seek(SeekFrom::Start(start))
            .map_err(|e| index_err(&self.path, e))?;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = self
                .file
                .read(&mut buf)
                .map_err(|e| index_err(&self.path, e))?;
            if n == 0 {
                return Err(index_err(&self.path, "corrupt: unterminated line"));
            }
            if let Some(nl) = buf[..n].iter().position(|&b| b == b'\n') {
                out.extend_from_slice(&buf[..nl]);
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
            if out.len() > MAX_LINE {
                return Err(index_err(&self.path, "corrupt: line too long"));
            }
        }
    }

    /// Every listing of a package (the name as the tool spells it; it is
    /// normalised here).
    pub fn lookup(&mut self, eco: Ecosystem, name: &str) -> Result<Vec<Listing>, FeedError> {
        let want = key(eco, &osv::normalize_name(eco, name));
        let want = want.as_bytes();
        // Lower bound: the first line whose key is not less than `want`.
        let (mut lo, mut hi) = (0u64, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let line = self.line(mid)?;
            let k = &line[..line.len().min(want.len())];
            if k < want {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut out = Vec::new();
        let mut i = lo;
        while i < self.count {
            let line = self.line(i)?;
            if !line.starts_with(want) {
                break;
            }
            let l: Listing = serde_json::from_slice(&line[want.len()..])
                .map_err(|e| index_err(&self.path, format!("corrupt entry: {e}")))?;
            out.push(l);
            i += 1;
        }
        Ok(out)
    }

    /// The listings that cover `name` at `version` (`None`: the invocation
    /// names no version, so only whole-package listings match).
    pub fn check(
        &mut self,
        eco: Ecosystem,
        name: &str,
        version: Option<&str>,
    ) -> Result<Vec<Listing>, FeedError> {
        Ok(self
            .lookup(eco, name)?
            .into_iter()
            .filter(|l| l.versions.contains(eco, version))
            .collect())
    }
}

/// The index for `feeds` under `state_dir`, building it when missing or
/// stale. Returns `None` when no feed is configured.
pub fn ensure_index(feeds: &[PathBuf], state_dir: &Path) -> Result<Option<Index>, FeedError> {
    if feeds.is_empty() {
        return Ok(None);
    }
    let k = feeds_key(feeds)?;
    let path = state_dir.join("threats").join(format!("{}.idx", &k[..32]));
    if let Ok(ix) = Index::open(&path) {
        return Ok(Some(ix));
    }
    build(feeds, &path)?;
    Index::open(&path).map(Some)
}

/// Reads `feeds` and writes the index at `out`; returns the listing count.
pub fn build(feeds: &[PathBuf], out: &Path) -> Result<usize, FeedError> {
    let mut all = Vec::new();
    for f in feeds {
        all.extend(read_feed(f)?);
    }
    write_index(all, out)
}

/// The path `ensure_index` uses for `feeds`.
pub fn index_path(feeds: &[PathBuf], state_dir: &Path) -> Result<PathBuf, FeedError> {
    let k = feeds_key(feeds)?;
    Ok(state_dir.join("threats").join(format!("{}.idx", &k[..32])))
}

#[cfg(test)]
mod tests;
