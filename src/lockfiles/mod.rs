//! Lockfile readers: what a project's lockfiles say will be installed, and
//! from where.
//!
//! Two features read them: `pkgward verify` (every entry resolved outside the
//! approved registries, or without an integrity hash) and provenance records
//! (which packages an install added, changed or removed — the lockfile before
//! vs after). Both only need the flat list of [`Entry`] values a lockfile
//! names; the dependency graph is not modelled.
//!
//! Everything here is a pure function over text, except [`find_all`], which
//! walks a directory. Lockfiles are hostile input: no input makes a reader
//! panic, recurse without bound, or take more than linear-ish time. A file
//! that is not valid at the syntax level (JSON, TOML) is a [`LockError`]; a
//! line-oriented file (yarn.lock, pnpm-lock.yaml, go.sum, Gemfile.lock) is
//! read as far as it makes sense and what could not be read becomes a
//! warning, because those tools themselves are similarly forgiving.
//!
//! # Conventions shared by every format
//!
//! - [`Entry::resolved`] is what the file records as the place the tool fetches
//!   from: a URL, a git spec (`URL#commit`), or a local path. `None` means
//!   the format does not record one (the tool's configured registry is used).
//! - [`Entry::source`] is the registry or index the entry names, when the
//!   format names one (Cargo `registry+…`/`sparse+…`, uv `source.registry`,
//!   poetry `[package.source]` url, Pipfile.lock `index`, Gemfile.lock
//!   `remote:`). It is filled even when `resolved` is also present.
//! - [`Digest::value`] is kept exactly as the lockfile spells it (base64 for
//!   SRI strings, NuGet `contentHash` and go.sum `h1:`; hex elsewhere), with
//!   [`Digest::algorithm`] lowercased and without its encoding: `sha512`,
//!   `sha384`, `sha256`, `sha1`, `h1`. Yarn berry's `checksum:` hashes
//!   yarn's own zip archive, not the registry tarball, so it is recorded as
//!   `yarn-zip-sha512` with the cache-key prefix kept (`10c0/…`).
//! - [`Entry::purl`] is `pkg:TYPE/NAMESPACE/NAME@VERSION` with components
//!   percent-encoded as the purl spec asks; no qualifiers except
//!   `platform=` for platform-specific gems.
//! - [`EntryKind::Path`] and [`EntryKind::Workspace`] mean "nothing is
//!   fetched from elsewhere": an entry a format calls local whose recorded
//!   location is nonetheless an http(s) or git URL is reported as Url/Git.
//! - The same package can appear more than once (npm nests copies, uv lists
//!   one entry per artifact, Gemfile.lock sections with several remotes list
//!   each); consumers that want one row per package should group by
//!   `(ecosystem, name, version)`.
//!
//! Per-format notes live in each reader module.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::tools::Ecosystem;

mod bun;
mod cargo;
mod gemfile;
mod gosum;
mod jsonutil;
mod npm;
mod npm_fast;
mod nuget;
mod pipfile;
mod pnpm;
mod poetry;
mod uv;
mod yarn;

#[cfg(test)]
mod tests;

/// A lockfile format pkgward can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// npm `package-lock.json` (lockfileVersion 1, 2 and 3).
    PackageLock,
    /// npm `npm-shrinkwrap.json` (same format as `package-lock.json`).
    NpmShrinkwrap,
    /// `yarn.lock`, both yarn v1 and yarn berry (v2+).
    YarnLock,
    /// `pnpm-lock.yaml` (lockfileVersion 5.x, 6.x and 9.x).
    PnpmLock,
    /// bun's text `bun.lock` (not the binary `bun.lockb`).
    BunLock,
    /// `uv.lock`.
    UvLock,
    /// `poetry.lock`.
    PoetryLock,
    /// pipenv's `Pipfile.lock`.
    PipfileLock,
    /// `Cargo.lock` (versions 1 to 4).
    CargoLock,
    /// `go.sum` (and `go.work.sum`).
    GoSum,
    /// Bundler's `Gemfile.lock` (and `gems.locked`).
    GemfileLock,
    /// NuGet `packages.lock.json`.
    NugetPackagesLock,
}

impl Format {
    pub const ALL: [Format; 12] = [
        Format::PackageLock,
        Format::NpmShrinkwrap,
        Format::YarnLock,
        Format::PnpmLock,
        Format::BunLock,
        Format::UvLock,
        Format::PoetryLock,
        Format::PipfileLock,
        Format::CargoLock,
        Format::GoSum,
        Format::GemfileLock,
        Format::NugetPackagesLock,
    ];

    /// The usual file name of this format.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::PackageLock => "package-lock.json",
            Format::NpmShrinkwrap => "npm-shrinkwrap.json",
            Format::YarnLock => "yarn.lock",
            Format::PnpmLock => "pnpm-lock.yaml",
            Format::BunLock => "bun.lock",
            Format::UvLock => "uv.lock",
            Format::PoetryLock => "poetry.lock",
            Format::PipfileLock => "Pipfile.lock",
            Format::CargoLock => "Cargo.lock",
            Format::GoSum => "go.sum",
            Format::GemfileLock => "Gemfile.lock",
            Format::NugetPackagesLock => "packages.lock.json",
        }
    }

    /// The ecosystem whose packages this format lists.
    pub fn ecosystem(self) -> Ecosystem {
        match self {
            Format::PackageLock
            | Format::NpmShrinkwrap
            | Format::YarnLock
            | Format::PnpmLock
            | Format::BunLock => Ecosystem::Npm,
            Format::UvLock | Format::PoetryLock | Format::PipfileLock => Ecosystem::Pypi,
            Format::CargoLock => Ecosystem::Cargo,
            Format::GoSum => Ecosystem::Go,
            Format::GemfileLock => Ecosystem::Rubygems,
            Format::NugetPackagesLock => Ecosystem::Nuget,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

/// Where a locked package comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// From a package registry or index (the URL, when recorded, is in
    /// `resolved`; the registry, when named, in `source`).
    Registry,
    /// From a git repository.
    Git,
    /// From the local file system: a path, `file:`/`link:`/`portal:`
    /// dependency, local archive or npm `link: true` entry.
    Path,
    /// A direct URL to an archive (tarball, wheel, sdist) outside a registry.
    Url,
    /// The project itself or one of its workspace members (the npm root
    /// `""`, Cargo packages without `source`, uv editable/virtual, …).
    Workspace,
}

/// One hash a lockfile records for an entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Digest {
    /// Lowercase algorithm name: `sha512`, `sha384`, `sha256`, `sha1`, `h1`,
    /// `yarn-zip-sha512`, or whatever lowercase name the file uses.
    pub algorithm: String,
    /// The digest as the lockfile spells it (base64 or hex).
    pub value: String,
}

/// One package a lockfile pins.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
    /// URL (or git/path spec) the tool fetches from, if the format records one.
    pub resolved: Option<String>,
    /// The registry/index the entry names (Cargo `registry+…`, Gemfile.lock
    /// `remote:`, Pipfile.lock index URL, uv/poetry source URL).
    pub source: Option<String>,
    pub integrity: Vec<Digest>,
    pub kind: EntryKind,
    /// 1-based line in the lockfile where the entry starts.
    pub line: usize,
    /// Package URL (`pkg:npm/%40scope/name@1.0.0`, …).
    pub purl: String,
}

/// A parsed lockfile.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Lockfile {
    pub format: Format,
    pub path: PathBuf,
    pub entries: Vec<Entry>,
    /// Parts of the file that could not be read (with their line), capped.
    pub warnings: Vec<String>,
}

/// A lockfile that cannot be read at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct LockError {
    pub path: PathBuf,
    /// 1-based line of the problem; 0 when unknown.
    pub line: usize,
    pub message: String,
}

/// Parses `text`, the contents of the lockfile at `path` (used only for
/// messages), as `format`.
pub fn parse(format: Format, path: &Path, text: &str) -> Result<Lockfile, LockError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut cx = Cx::new(format, path);
    let result = match format {
        Format::PackageLock | Format::NpmShrinkwrap => npm::parse(&mut cx, text),
        Format::YarnLock => {
            yarn::parse(&mut cx, text);
            Ok(())
        }
        Format::PnpmLock => {
            pnpm::parse(&mut cx, text);
            Ok(())
        }
        Format::BunLock => bun::parse(&mut cx, text),
        Format::UvLock => uv::parse(&mut cx, text),
        Format::PoetryLock => poetry::parse(&mut cx, text),
        Format::PipfileLock => pipfile::parse(&mut cx, text),
        Format::CargoLock => cargo::parse(&mut cx, text),
        Format::GoSum => {
            gosum::parse(&mut cx, text);
            Ok(())
        }
        Format::GemfileLock => {
            gemfile::parse(&mut cx, text);
            Ok(())
        }
        Format::NugetPackagesLock => nuget::parse(&mut cx, text),
    };
    match result {
        Ok(()) => Ok(cx.finish()),
        Err((line, message)) => Err(LockError {
            path: path.to_path_buf(),
            line,
            message,
        }),
    }
}

/// The format of a file called `file_name` (the last path component), if it
/// is a lockfile pkgward reads. ASCII case is ignored, as on the file
/// systems where the tools themselves ignore it.
pub fn detect(file_name: &str) -> Option<Format> {
    let n = file_name;
    let is = |s: &str| n.eq_ignore_ascii_case(s);
    Some(if is("package-lock.json") {
        Format::PackageLock
    } else if is("npm-shrinkwrap.json") {
        Format::NpmShrinkwrap
    } else if is("yarn.lock") {
        Format::YarnLock
    } else if is("pnpm-lock.yaml") {
        Format::PnpmLock
    } else if is("bun.lock") {
        Format::BunLock
    } else if is("uv.lock") {
        Format::UvLock
    } else if is("poetry.lock") {
        Format::PoetryLock
    } else if is("Pipfile.lock") {
        Format::PipfileLock
    } else if is("Cargo.lock") {
        Format::CargoLock
    } else if is("go.sum") || is("go.work.sum") {
        Format::GoSum
    } else if is("Gemfile.lock") || is("gems.locked") {
        Format::GemfileLock
    } else if is("packages.lock.json") {
        Format::NugetPackagesLock
    } else {
        return None;
    })
}

/// Directories [`find_all`] never enters.
const SKIP_DIRS: [&str; 9] = [
    "node_modules",
    ".git",
    "target",
    "vendor",
    ".venv",
    "venv",
    ".hg",
    ".svn",
    "__pycache__",
];
/// How deep below the root [`find_all`] looks (the root is depth 0).
const FIND_MAX_DEPTH: usize = 6;
/// At most this many directories are read by one [`find_all`].
const FIND_MAX_DIRS: usize = 5_000;
/// At most this many directory entries are looked at by one [`find_all`].
const FIND_MAX_ENTRIES: usize = 200_000;
/// At most this many lockfiles are returned.
const FIND_MAX_FOUND: usize = 1_000;

/// The lockfiles under `root` (or `root` itself, if it is a lockfile),
/// sorted. Symbolic links to directories are not followed; dependency,
/// build and VCS directories ([`SKIP_DIRS`]) are skipped; the walk stops at
/// depth 6, after 5,000 directories or 200,000 directory entries, and at
/// 1,000 lockfiles. Unreadable directories are skipped silently.
pub fn find_all(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(meta) = std::fs::metadata(root) else {
        return found;
    };
    if meta.is_file() {
        if root
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(detect)
            .is_some()
        {
            found.push(root.to_path_buf());
        }
        return found;
    }
    let mut queue: VecDeque<(PathBuf, usize)> = VecDeque::new();
    queue.push_back((root.to_path_buf(), 0));
    let mut dirs = 0usize;
    let mut seen = 0usize;
    'walk: while let Some((dir, depth)) = queue.pop_front() {
        dirs += 1;
        if dirs > FIND_MAX_DIRS {
            break;
        }
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for item in rd {
            seen += 1;
            if seen > FIND_MAX_ENTRIES {
                break 'walk;
            }
            let Ok(item) = item else { continue };
            let Ok(ft) = item.file_type() else { continue };
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            if ft.is_dir() {
                if depth < FIND_MAX_DEPTH && !SKIP_DIRS.contains(&name) {
                    queue.push_back((item.path(), depth + 1));
                }
            } else if detect(name).is_some() {
                // A symbolic link counts when it leads to a file.
                let is_file =
                    ft.is_file() || std::fs::metadata(item.path()).is_ok_and(|m| m.is_file());
                if is_file {
                    found.push(item.path());
                    if found.len() >= FIND_MAX_FOUND {
                        break 'walk;
                    }
                }
            }
        }
    }
    found.sort();
    found
}

// ---------------------------------------------------------------------------
// Shared machinery for the readers.

/// At most this many warnings are kept per lockfile.
const MAX_WARNINGS: usize = 50;

/// What one parse accumulates.
pub(crate) struct Cx {
    format: Format,
    path: PathBuf,
    entries: Vec<Entry>,
    warnings: Vec<String>,
    dropped_warnings: usize,
}

impl Cx {
    fn new(format: Format, path: &Path) -> Cx {
        Cx {
            format,
            path: path.to_path_buf(),
            entries: Vec::new(),
            warnings: Vec::new(),
            dropped_warnings: 0,
        }
    }

    /// Records a warning about `line` (0: the whole file).
    pub(crate) fn warn(&mut self, line: usize, message: impl fmt::Display) {
        if self.warnings.len() >= MAX_WARNINGS {
            self.dropped_warnings += 1;
            return;
        }
        self.warnings.push(if line == 0 {
            message.to_string()
        } else {
            format!("line {line}: {message}")
        });
    }

    /// Where the entries and warnings end now, for [`Cx::reset`].
    pub(crate) fn mark(&self) -> (usize, usize, usize) {
        (
            self.entries.len(),
            self.warnings.len(),
            self.dropped_warnings,
        )
    }

    /// Forgets what was recorded since `mark`.
    pub(crate) fn reset(&mut self, mark: (usize, usize, usize)) {
        self.entries.truncate(mark.0);
        self.warnings.truncate(mark.1);
        self.dropped_warnings = mark.2;
    }

    pub(crate) fn push(&mut self, e: Entry) {
        self.entries.push(e);
    }

    fn finish(mut self) -> Lockfile {
        if self.dropped_warnings > 0 {
            let n = self.dropped_warnings;
            self.warnings.push(format!("… and {n} more warnings"));
        }
        Lockfile {
            format: self.format,
            path: self.path,
            entries: self.entries,
            warnings: self.warnings,
        }
    }
}

/// A parse failure: (1-based line or 0, message).
pub(crate) type Fail = (usize, String);

/// Counts lines up to byte offsets that mostly increase (JSON keys in
/// document order): amortised one pass over the text.
pub(crate) struct LineCounter<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            pos: 0,
            line: 1,
        }
    }

    /// The 1-based line of byte `offset` (clamped to the text).
    pub(crate) fn line_at(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        if offset < self.pos {
            self.pos = 0;
            self.line = 1;
        }
        self.line += count_newlines(&self.text[self.pos..offset]);
        self.pos = offset;
        self.line
    }
}

fn count_newlines(bytes: &[u8]) -> usize {
    // Byte-wide counters over fixed chunks let the compiler use 16 or 32
    // lanes at a time; a `usize` counter per byte does not vectorise well.
    let mut chunks = bytes.chunks_exact(128);
    let mut n = 0usize;
    for chunk in &mut chunks {
        let mut in_chunk = 0u8;
        for &b in chunk {
            in_chunk += u8::from(b == b'\n');
        }
        n += usize::from(in_chunk);
    }
    n + chunks.remainder().iter().filter(|&&b| b == b'\n').count()
}

/// The 1-based line of byte `offset` in `text`, from scratch.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    1 + count_newlines(&text.as_bytes()[..end])
}

/// The byte offset of `part` inside `whole`, when `part` is a sub-slice of
/// it (as strings borrowed by a deserializer are).
pub(crate) fn offset_in(whole: &str, part: &str) -> Option<usize> {
    let start = whole.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    (p >= start && p.checked_add(part.len())? <= start + whole.len()).then(|| p - start)
}

/// Parses a Subresource Integrity string (`sha512-… sha1-…`). Unusable
/// tokens are returned in `bad`.
pub(crate) fn parse_sri<'t>(s: &'t str, out: &mut Vec<Digest>, bad: &mut Option<&'t str>) {
    // Nearly always one token (a valid token has no whitespace).
    if let Some(d) = sri_token(s) {
        out.reserve_exact(1);
        out.push(d);
        return;
    }
    for token in s.split_ascii_whitespace() {
        match sri_token(token) {
            Some(d) => out.push(d),
            None => *bad = Some(token),
        }
    }
}

/// Is `b` made of base64 characters (standard or URL-safe alphabet, with
/// padding)? Written branch-free so it vectorises.
fn is_base64ish(b: &[u8]) -> bool {
    b.iter().fold(true, |ok, &c| {
        let alnum = c.is_ascii_digit() | c.is_ascii_uppercase() | c.is_ascii_lowercase();
        ok & (alnum | (c == b'+') | (c == b'/') | (c == b'=') | (c == b'-') | (c == b'_'))
    })
}

fn sri_token(token: &str) -> Option<Digest> {
    let (algo, rest) = token.split_once('-')?;
    // `sha512-BASE64?opt` — options are not part of the digest.
    // Usually all base64; otherwise cut at `?` and look again.
    let value = if is_base64ish(rest.as_bytes()) {
        rest
    } else {
        rest.split_once('?').map_or(rest, |(v, _)| v)
    };
    // SRI names hash algorithms `sha1`, `sha256`, `sha384`, `sha512` (and
    // npm once wrote `md5`); other `word-word` strings are not digests.
    let algorithm = match algo {
        "sha512" => "sha512".to_string(),
        _ => {
            let a = algo.to_ascii_lowercase();
            let known = a == "md5"
                || (a.len() > 3
                    && a.starts_with("sha")
                    && a.as_bytes()[3..].iter().all(u8::is_ascii_digit));
            if !known {
                return None;
            }
            a
        }
    };
    if value.is_empty() || !is_base64ish(value.as_bytes()) {
        return None;
    }
    Some(Digest {
        algorithm,
        value: value.to_string(),
    })
}

/// Parses `algo:value` (uv, poetry, Pipfile.lock, go.sum) or `algo=value`
/// (Gemfile.lock CHECKSUMS) with the given separator.
pub(crate) fn parse_prefixed(s: &str, sep: char) -> Option<Digest> {
    let (algo, value) = s.trim().split_once(sep)?;
    if algo.is_empty()
        || value.is_empty()
        || !algo.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        || value
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return None;
    }
    Some(Digest {
        algorithm: algo.to_ascii_lowercase(),
        value: value.to_string(),
    })
}

/// Is `s` a hex string of exactly `len` digits?
pub(crate) fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Splits a package spec `name@rest` where `name` may be scoped
/// (`@scope/name@rest`). `None` when there is no `@` after the first byte.
pub(crate) fn split_name_at(spec: &str) -> Option<(&str, &str)> {
    let i = spec.get(1..)?.find('@')? + 1;
    Some((&spec[..i], &spec[i + 1..]))
}

/// Does an npm-style `resolved` spec point at git?
pub(crate) fn is_git_spec(s: &str) -> bool {
    let lower_start =
        |p: &str| s.len() >= p.len() && s.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes());
    [
        "git+",
        "git:",
        "git@",
        "github:",
        "gitlab:",
        "bitbucket:",
        "gist:",
        "ssh://",
    ]
    .iter()
    .any(|p| lower_start(p))
}

/// Is `s` an http(s) URL?
pub(crate) fn is_http(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() >= 7 && b[..7].eq_ignore_ascii_case(b"http://"))
        || (b.len() >= 8 && b[..8].eq_ignore_ascii_case(b"https://"))
}

/// Is `s` a local path spec (`file:`, `link:`, relative or absolute path)?
pub(crate) fn is_path_spec(s: &str) -> bool {
    s.starts_with("file:")
        || s.starts_with("link:")
        || s.starts_with("portal:")
        || s.starts_with('.')
        || s.starts_with('/')
        || s.starts_with('~')
        || (s.len() > 2 && s.as_bytes()[1] == b':' && s.as_bytes()[0].is_ascii_alphabetic())
}

/// The kind of an npm-family entry from its `resolved` spec.
pub(crate) fn npm_kind(resolved: &str) -> EntryKind {
    if is_http(resolved) {
        // Registries serve tarballs at `…/NAME/-/NAME-VERSION.tgz`.
        if has_registry_dash(resolved) {
            EntryKind::Registry
        } else {
            EntryKind::Url
        }
    } else if is_git_spec(resolved) {
        EntryKind::Git
    } else if is_path_spec(resolved) {
        EntryKind::Path
    } else {
        EntryKind::Url
    }
}

/// Does the path of a URL contain a `/-/` segment (before any `?`/`#`)?
fn has_registry_dash(s: &str) -> bool {
    let b = s.as_bytes();
    let dash_at = |i: usize| b[i] == b'-' && b[i - 1] == b'/' && b.get(i + 1) == Some(&b'/');
    // A branch-free check that vectorises: no query or fragment?
    if !b.iter().fold(false, |q, &c| q | (c == b'?') | (c == b'#')) {
        // Usually `…/-/NAME-VERSION.tgz`: the segment before the last.
        if let Some(last) = s.rfind('/') {
            if last >= 2 && dash_at(last - 1) {
                return true;
            }
        }
        return (1..b.len()).any(dash_at);
    }
    for (i, &c) in b.iter().enumerate().skip(1) {
        if c == b'?' || c == b'#' {
            return false;
        }
        if dash_at(i) {
            return true;
        }
    }
    false
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are).
pub(crate) fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

// ---------------------------------------------------------------------------
// Package URLs.

fn purl_unreserved(b: u8) -> bool {
    // `|` rather than `||`: no branches, so loops over it vectorise.
    b.is_ascii_digit()
        | b.is_ascii_uppercase()
        | b.is_ascii_lowercase()
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
}

/// Appends `s` percent-encoded (purl: everything but unreserved characters,
/// and `:` which the spec leaves as it is).
fn purl_push(out: &mut String, s: &str) {
    if s.bytes()
        .fold(true, |ok, b| ok & (purl_unreserved(b) | (b == b':')))
    {
        out.push_str(s);
        return;
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if purl_unreserved(b) || b == b':' {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// `pkg:TYPE/SEG/SEG/NAME@VERSION`, each `/`-separated part of `name`
/// encoded on its own (`@scope/name` → `%40scope/name`).
fn purl_build(ty: &str, name: &str, version: &str, qualifier: Option<(&str, &str)>) -> String {
    let mut out = String::with_capacity(5 + ty.len() + name.len() + version.len() + 8);
    out.push_str("pkg:");
    out.push_str(ty);
    out.push('/');
    let mut first = true;
    for seg in name.split('/').filter(|s| !s.is_empty()) {
        if !first {
            out.push('/');
        }
        first = false;
        purl_push(&mut out, seg);
    }
    if !version.is_empty() {
        out.push('@');
        purl_push(&mut out, version);
    }
    if let Some((k, v)) = qualifier {
        out.push('?');
        out.push_str(k);
        out.push('=');
        purl_push(&mut out, v);
    }
    out
}

/// The package URL of `name@version` in `eco`.
pub(crate) fn purl(eco: Ecosystem, name: &str, version: &str) -> String {
    match eco {
        Ecosystem::Npm => purl_build("npm", name, version, None),
        Ecosystem::Pypi => {
            // purl spec: lowercased, `_` replaced by `-`.
            let norm: String = name
                .chars()
                .map(|c| {
                    if c == '_' {
                        '-'
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
            purl_build("pypi", &norm, version, None)
        }
        Ecosystem::Cargo => purl_build("cargo", name, version, None),
        Ecosystem::Go => purl_build("golang", name, version, None),
        Ecosystem::Rubygems => match gem_platform(version) {
            Some((v, platform)) => purl_build("gem", name, v, Some(("platform", platform))),
            None => purl_build("gem", name, version, None),
        },
        Ecosystem::Nuget => purl_build("nuget", name, version, None),
        other => purl_build(other.key(), name, version, None),
    }
}

/// Splits a Gemfile.lock version like `1.16.0-x86_64-linux` into version
/// and platform, when the suffix names a platform.
fn gem_platform(version: &str) -> Option<(&str, &str)> {
    let (v, platform) = version.split_once('-')?;
    const MARKERS: [&str; 12] = [
        "x86", "x64", "i386", "i686", "arm", "aarch64", "java", "jruby", "mingw", "mswin", "linux",
        "darwin",
    ];
    let p = platform.to_ascii_lowercase();
    (MARKERS.iter().any(|m| p.contains(m)) || p == "universal-darwin").then_some((v, platform))
}

/// Builds an [`Entry`]; the purl is derived from the rest.
#[allow(clippy::too_many_arguments)]
pub(crate) fn entry(
    eco: Ecosystem,
    name: &str,
    version: &str,
    resolved: Option<&str>,
    source: Option<&str>,
    integrity: Vec<Digest>,
    kind: EntryKind,
    line: usize,
) -> Entry {
    // Path and Workspace entries are exempt from URL checks: never give
    // those kinds to an entry whose recorded location is remote, whatever
    // the format claims it is.
    let kind = match (kind, resolved) {
        (EntryKind::Path | EntryKind::Workspace, Some(r)) if is_http(r) => EntryKind::Url,
        (EntryKind::Path | EntryKind::Workspace, Some(r)) if is_git_spec(r) => EntryKind::Git,
        (k, _) => k,
    };
    Entry {
        ecosystem: eco,
        purl: purl(eco, name, version),
        name: name.to_string(),
        version: version.to_string(),
        resolved: resolved.map(str::to_string),
        source: source.map(str::to_string),
        integrity,
        kind,
        line,
    }
}

// ---------------------------------------------------------------------------
// Helpers for the line-oriented, YAML-like formats (yarn, pnpm).

/// Leading spaces of `line`.
pub(crate) fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Removes one level of YAML quoting from a scalar: `"…"` (with `\"` and
/// `\\` escapes) or `'…'` (with `''`). Plain scalars are trimmed.
pub(crate) fn unquote(s: &str) -> Cow<'_, str> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' {
        let inner = &s[1..s.len() - 1];
        if !inner.contains('\\') {
            return Cow::Borrowed(inner);
        }
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    } else if b.len() >= 2 && b[0] == b'\'' && b[b.len() - 1] == b'\'' {
        let inner = &s[1..s.len() - 1];
        if inner.contains("''") {
            Cow::Owned(inner.replace("''", "'"))
        } else {
            Cow::Borrowed(inner)
        }
    } else {
        Cow::Borrowed(s)
    }
}

/// Splits a YAML mapping line (already stripped of indentation) into key
/// and value: `key: value`, `"quoted key": value`, `key:`. The value is
/// returned raw (not unquoted). `None` when the line is not `key:`-shaped.
pub(crate) fn split_yaml_key(line: &str) -> Option<(Cow<'_, str>, &str)> {
    let line = line.trim_end();
    let b = line.as_bytes();
    let first = *b.first()?;
    if first == b'"' || first == b'\'' {
        // Find the closing quote (skipping escapes / doubled quotes).
        let mut i = 1;
        while i < b.len() {
            if first == b'"' && b[i] == b'\\' {
                i += 2;
                continue;
            }
            if b[i] == first {
                if first == b'\'' && b.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                break;
            }
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let key = unquote(&line[..=i]);
        let rest = line[i + 1..].trim_start();
        let rest = rest.strip_prefix(':')?;
        if !rest.is_empty() && !rest.starts_with(' ') {
            return None;
        }
        return Some((key, rest.trim()));
    }
    // Plain key: up to `: ` or a trailing `:`.
    if let Some(k) = line.strip_suffix(':') {
        if !k.contains(": ") {
            return Some((Cow::Borrowed(k.trim_end()), ""));
        }
    }
    let i = line.find(": ")?;
    Some((Cow::Borrowed(line[..i].trim_end()), line[i + 2..].trim()))
}

/// Parses a YAML flow mapping of scalars, `{a: 1, b: 'x'}`, into pairs.
/// `None` when `s` is not one.
pub(crate) fn parse_flow_map(s: &str) -> Option<Vec<(Cow<'_, str>, Cow<'_, str>)>> {
    fn push<'s>(part: &'s str, out: &mut Vec<(Cow<'s, str>, Cow<'s, str>)>) {
        let part = part.trim();
        if let Some((k, v)) = split_yaml_key(part) {
            out.push((k, unquote(v)));
        }
    }
    let inner = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    let b = inner.as_bytes();
    let mut start = 0;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        match (quote, b[i]) {
            (None, q @ (b'"' | b'\'')) => quote = Some(q),
            (Some(b'"'), b'\\') => i += 1,
            (Some(q), c) if c == q => quote = None,
            (None, b',') => {
                push(&inner[start..i], &mut out);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < inner.len() {
        push(&inner[start..], &mut out);
    }
    Some(out)
}

/// A TOML error as a [`Fail`].
pub(crate) fn toml_fail(text: &str, e: toml::de::Error) -> Fail {
    let line = e.span().map_or(0, |s| line_of(text, s.start));
    let msg = e.message().trim().to_string();
    (
        line,
        format!("not valid TOML for this lockfile format: {msg}"),
    )
}
