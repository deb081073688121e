//! uv, uvx: indexes from the command line, the `UV_*` environment, the
//! discovered `uv.toml` / `pyproject.toml [tool.uv]` (project, then user,
//! then system), requirement files, the project's `pyproject.toml`
//! (`[tool.uv.sources]`, direct references), PEP 723 script metadata and
//! `uv.lock` / `pylock.toml`.
//!
//! Also home of the small readers the other Python adapters share
//! ([`scan_toml`], [`spec_source`], [`ReqReader`]).
//!
//! Facts checked against uv 0.13 (loopback indexes, hit counts):
//! - `UV_DEFAULT_INDEX` beats `UV_INDEX_URL`, a `uv.toml` / `[tool.uv]`
//!   `index-url` or `[[index]] default = true`, `[pip] index-url`, a
//!   requirements file's `-i`, a PEP 723 script's index — and even the
//!   command line's `-i/--index-url` (only `--default-index` on the command
//!   line beats it).
//! - Non-default indexes, `extra-index-url`, `find-links` and
//!   `allow-insecure-host` are lists *concatenated* across command line,
//!   environment and every config file: an environment value cannot remove
//!   a config file's entries (`UV_INDEX=""` leaves them), so those stay to be
//!   checked. `UV_NO_CONFIG` would drop them, but also every other setting
//!   of the user's config, so pkgward does not use it.
//! - Config discovery: `--config-file`/`UV_CONFIG_FILE` is the only file
//!   read; `--no-config`/`UV_NO_CONFIG` (and `--isolated` for `uv pip`)
//!   reads none; `uv tool`/`uvx` read only the user and system files;
//!   otherwise the nearest `uv.toml` or `pyproject.toml` with `[tool.uv]`
//!   from the project directory (`--directory`, `UV_WORKING_DIR[ECTORY]`,
//!   `--project`, `UV_PROJECT`) upward — from the workspace root when the
//!   project is a workspace member — then `$XDG_CONFIG_HOME/uv/uv.toml`,
//!   then the first of `$XDG_CONFIG_DIRS/uv/uv.toml`, `/etc/uv/uv.toml`.
//! - `[pip]` settings apply to `uv pip` only.
//! - `uv sync/run` re-resolve a lockfile whose registry is not the
//!   configured index, so a forced index replaces the lockfile's URLs —
//!   except with `--frozen`/`UV_FROZEN`, where `uv.lock`'s artifact URLs are
//!   fetched as written (even when its `registry` is the configured index).
//! - `UV_FIND_LINKS` is comma-separated; `UV_INDEX` whitespace-separated,
//!   `UV_EXTRA_INDEX_URL` and `UV_INSECURE_HOST` space-separated; an empty
//!   value is an empty list. No long-option abbreviations.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::npmrc::expand;
use super::source::{Origin, Source, SourceKind};
use super::{Plan, Request, Verb};

// ---------------------------------------------------------------------------
// A TOML event scanner: every scalar with its full key path and offset, in
// one pass, without building a document. Fast enough for a 1,000-package
// lockfile on every invocation, and exact about TOML's quoting, dotted keys,
// inline tables and arrays of tables, so a hostile file cannot hide a URL by
// spelling it unusually. Malformed lines are skipped (uv would refuse the
// file anyway); nothing panics, nesting is bounded.

/// One segment of a value's key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Seg<'a> {
    Key(Cow<'a, str>),
    Idx(usize),
}

impl Seg<'_> {
    pub(super) fn key(&self) -> Option<&str> {
        match self {
            Seg::Key(k) => Some(k),
            Seg::Idx(_) => None,
        }
    }
    pub(super) fn idx(&self) -> Option<usize> {
        match self {
            Seg::Idx(i) => Some(*i),
            Seg::Key(_) => None,
        }
    }
}

/// A scalar value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Scalar<'a> {
    Str(Cow<'a, str>),
    Bool(bool),
    Other,
}

impl Scalar<'_> {
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Maps byte offsets to 1-based line numbers, counting lazily (offsets are
/// mostly asked for in increasing order).
pub(super) struct Lines<'t> {
    text: &'t [u8],
    at: std::cell::Cell<(usize, usize)>,
}

impl<'t> Lines<'t> {
    pub(super) fn new(text: &'t str) -> Lines<'t> {
        Lines {
            text: text.as_bytes(),
            at: std::cell::Cell::new((0, 1)),
        }
    }
    pub(super) fn line(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        let (mut from, mut line) = self.at.get();
        if offset < from {
            (from, line) = (0, 1);
        }
        line += self.text[from..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.at.set((offset, line));
        line
    }
}

const MAX_DEPTH: usize = 64;

/// Bytes allowed in a bare key.
static BARE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        c += 1;
    }
    t
};

/// The first position of `a`, `b` or `c` in `h`, eight bytes at a time.
fn find_any(h: &[u8], a: u8, b: u8, c: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let (ra, rb, rc) = (LO * u64::from(a), LO * u64::from(b), LO * u64::from(c));
    let mut i = 0;
    while i + 8 <= h.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&h[i..i + 8]);
        let w = u64::from_le_bytes(word);
        if zero(w ^ ra) | zero(w ^ rb) | zero(w ^ rc) != 0 {
            break;
        }
        i += 8;
    }
    h[i..]
        .iter()
        .position(|&x| x == a || x == b || x == c)
        .map(|p| p + i)
}

struct Scanner<'a, 'f> {
    t: &'a str,
    s: &'a [u8],
    i: usize,
    path: Vec<Seg<'a>>,
    aot: HashMap<String, usize, foldhash::fast::RandomState>,
    id: String,
    visit: &'f mut dyn FnMut(&[Seg<'a>], Scalar<'a>, usize),
}

type Fail = ();

impl<'a> Scanner<'a, '_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn at(&self, lit: &str) -> bool {
        self.s[self.i.min(self.s.len())..].starts_with(lit.as_bytes())
    }
    fn skip_ws(&mut self) {
        let n = self.s[self.i.min(self.s.len())..]
            .iter()
            .take_while(|&&c| c == b' ' || c == b'\t')
            .count();
        self.i += n;
    }
    /// Whitespace, newlines and comments (inside arrays and, leniently,
    /// inline tables).
    fn skip_all(&mut self) {
        loop {
            self.i += self.s[self.i.min(self.s.len())..]
                .iter()
                .take_while(|&&c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
                .count();
            if self.peek() != Some(b'#') {
                return;
            }
            self.skip_line();
        }
    }
    fn skip_line(&mut self) {
        let rest = &self.s[self.i.min(self.s.len())..];
        self.i += rest
            .iter()
            .position(|&c| c == b'\n')
            .map_or(rest.len(), |p| p + 1);
    }

    fn run(&mut self) {
        let mut table_len = 0usize;
        loop {
            self.skip_all();
            if self.i >= self.s.len() {
                return;
            }
            let start = self.i;
            let ok = if self.peek() == Some(b'[') {
                self.header().map(|n| table_len = n)
            } else {
                self.path.truncate(table_len);
                self.keyval(0)
            };
            match ok {
                Ok(()) => {
                    // Only a comment may follow on the line.
                    self.skip_ws();
                    match self.peek() {
                        None | Some(b'\n' | b'\r' | b'#') => {}
                        Some(_) => self.skip_line(),
                    }
                }
                Err(()) => {
                    if self.i <= start {
                        self.i = start + 1;
                    }
                    self.skip_line();
                }
            }
        }
    }

    /// `[a.b]` or `[[a.b]]`: sets the current table path; returns its length.
    fn header(&mut self) -> Result<usize, Fail> {
        let double = self.at("[[");
        self.i += if double { 2 } else { 1 };
        self.path.clear();
        self.dotted_key()?;
        self.skip_ws();
        let close = if double { "]]" } else { "]" };
        if !self.at(close) {
            return Err(());
        }
        self.i += close.len();
        let keys = std::mem::take(&mut self.path);
        let n = keys.len();
        self.id.clear();
        for (k, key) in keys.into_iter().enumerate() {
            if let Seg::Key(key) = &key {
                self.id.push_str(key);
            }
            self.id.push('\u{1f}');
            self.path.push(key);
            let count = if double && k + 1 == n {
                match self.aot.get_mut(&self.id) {
                    Some(c) => {
                        *c += 1;
                        Some(*c)
                    }
                    None => {
                        self.aot.insert(self.id.clone(), 1);
                        Some(1)
                    }
                }
            } else {
                self.aot.get(&self.id).copied()
            };
            if let Some(c) = count {
                self.path.push(Seg::Idx(c - 1));
                use std::fmt::Write;
                let _ = write!(self.id, "{}\u{1f}", c - 1);
            }
        }
        Ok(self.path.len())
    }

    /// Parses a dotted key, pushing its parts onto the current path.
    fn dotted_key(&mut self) -> Result<(), Fail> {
        loop {
            self.skip_ws();
            let k = match self.peek() {
                Some(b'"') => {
                    if self.at("\"\"\"") {
                        return Err(());
                    }
                    self.basic()?
                }
                Some(b'\'') => {
                    if self.at("'''") {
                        return Err(());
                    }
                    self.literal()?
                }
                _ => {
                    let st = self.i;
                    let n = self.s[st..]
                        .iter()
                        .take_while(|&&c| BARE[c as usize])
                        .count();
                    if n == 0 {
                        return Err(());
                    }
                    self.i = st + n;
                    Cow::Borrowed(&self.t[st..self.i])
                }
            };
            self.path.push(Seg::Key(k));
            self.skip_ws();
            if self.peek() == Some(b'.') {
                self.i += 1;
                continue;
            }
            return Ok(());
        }
    }

    fn keyval(&mut self, depth: usize) -> Result<(), Fail> {
        let n = self.path.len();
        let r = self.keyval_inner(depth);
        self.path.truncate(n);
        r
    }

    fn keyval_inner(&mut self, depth: usize) -> Result<(), Fail> {
        self.dotted_key()?;
        self.skip_ws();
        if self.peek() != Some(b'=') {
            return Err(());
        }
        self.i += 1;
        self.skip_ws();
        self.value(depth)
    }

    fn value(&mut self, depth: usize) -> Result<(), Fail> {
        if depth > MAX_DEPTH {
            return Err(());
        }
        let off = self.i;
        match self.peek() {
            Some(b'"') => {
                let v = if self.at("\"\"\"") {
                    self.ml_basic()?
                } else {
                    self.basic()?
                };
                (self.visit)(&self.path, Scalar::Str(v), off);
            }
            Some(b'\'') => {
                let v = if self.at("'''") {
                    self.ml_literal()?
                } else {
                    self.literal()?
                };
                (self.visit)(&self.path, Scalar::Str(v), off);
            }
            Some(b'{') => {
                self.i += 1;
                loop {
                    self.skip_all();
                    match self.peek() {
                        Some(b'}') => {
                            self.i += 1;
                            break;
                        }
                        None => return Err(()),
                        _ => {}
                    }
                    self.keyval(depth + 1)?;
                    self.skip_all();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            break;
                        }
                        _ => return Err(()),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut idx = 0usize;
                loop {
                    self.skip_all();
                    match self.peek() {
                        Some(b']') => {
                            self.i += 1;
                            break;
                        }
                        None => return Err(()),
                        _ => {}
                    }
                    self.path.push(Seg::Idx(idx));
                    let r = self.value(depth + 1);
                    self.path.pop();
                    r?;
                    idx += 1;
                    self.skip_all();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            break;
                        }
                        _ => return Err(()),
                    }
                }
            }
            Some(_) => {
                let st = self.i;
                self.i += self.s[st..]
                    .iter()
                    .take_while(|&&c| !matches!(c, b',' | b']' | b'}' | b'\n' | b'\r' | b'#'))
                    .count();
                let raw = self.t.get(st..self.i).unwrap_or("").trim();
                if raw.is_empty() {
                    return Err(());
                }
                let v = match raw {
                    "true" => Scalar::Bool(true),
                    "false" => Scalar::Bool(false),
                    _ => Scalar::Other,
                };
                (self.visit)(&self.path, v, off);
            }
            None => return Err(()),
        }
        Ok(())
    }

    /// `"…"` with escapes; borrowed when there are none.
    fn basic(&mut self) -> Result<Cow<'a, str>, Fail> {
        self.i += 1;
        let st = self.i;
        // Fast path: no escapes before the closing quote.
        if let Some(q) = find_any(&self.s[st..], b'"', b'\\', b'\n') {
            if self.s[st + q] == b'"' {
                self.i = st + q + 1;
                return Ok(Cow::Borrowed(&self.t[st..st + q]));
            }
        }
        while let Some(c) = self.peek() {
            match c {
                b'"' => {
                    let v = &self.t[st..self.i];
                    self.i += 1;
                    return Ok(Cow::Borrowed(v));
                }
                b'\\' => break,
                b'\n' => return Err(()),
                _ => self.i += 1,
            }
        }
        if self.i >= self.s.len() {
            return Err(());
        }
        let mut out = String::from(&self.t[st..self.i]);
        loop {
            match self.peek() {
                None | Some(b'\n') => return Err(()),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => self.escape(&mut out)?,
                Some(_) => self.push_char(&mut out),
            }
        }
    }

    fn push_char(&mut self, out: &mut String) {
        let ch = self.t[self.i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        self.i += ch.len_utf8().max(1);
    }

    fn escape(&mut self, out: &mut String) -> Result<(), Fail> {
        self.i += 1;
        let c = self.peek().ok_or(())?;
        self.i += 1;
        let hex = |me: &mut Self, n: usize| -> Result<char, Fail> {
            let h = me.t.get(me.i..me.i + n).ok_or(())?;
            me.i += n;
            let v = u32::from_str_radix(h, 16).map_err(|_| ())?;
            char::from_u32(v).ok_or(())
        };
        match c {
            b'b' => out.push('\u{8}'),
            b't' => out.push('\t'),
            b'n' => out.push('\n'),
            b'f' => out.push('\u{c}'),
            b'r' => out.push('\r'),
            b'e' => out.push('\u{1b}'),
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'x' => out.push(hex(self, 2)?),
            b'u' => out.push(hex(self, 4)?),
            b'U' => out.push(hex(self, 8)?),
            _ => return Err(()),
        }
        Ok(())
    }

    fn literal(&mut self) -> Result<Cow<'a, str>, Fail> {
        self.i += 1;
        let st = self.i;
        if let Some(q) = find_any(&self.s[st..], b'\'', b'\n', b'\n') {
            if self.s[st + q] == b'\'' {
                self.i = st + q + 1;
                return Ok(Cow::Borrowed(&self.t[st..st + q]));
            }
            return Err(());
        }
        while let Some(c) = self.peek() {
            match c {
                b'\'' => {
                    let v = &self.t[st..self.i];
                    self.i += 1;
                    return Ok(Cow::Borrowed(v));
                }
                b'\n' => return Err(()),
                _ => self.i += 1,
            }
        }
        Err(())
    }

    fn skip_first_newline(&mut self) {
        if self.at("\r\n") {
            self.i += 2;
        } else if self.at("\n") {
            self.i += 1;
        }
    }

    /// Where a multi-line string closing with `q` (repeated three times)
    /// ends: up to two extra quotes belong to the content.
    fn ml_end(&self, q: u8) -> Option<usize> {
        let mut run = 0;
        while self.s.get(self.i + run) == Some(&q) {
            run += 1;
        }
        (run >= 3).then(|| run.min(5) - 3)
    }

    fn ml_literal(&mut self) -> Result<Cow<'a, str>, Fail> {
        self.i += 3;
        self.skip_first_newline();
        let st = self.i;
        while self.i < self.s.len() {
            if self.s[self.i] == b'\'' {
                if let Some(extra) = self.ml_end(b'\'') {
                    let v = &self.t[st..self.i + extra];
                    self.i += extra + 3;
                    return Ok(Cow::Borrowed(v));
                }
            }
            self.i += 1;
        }
        Err(())
    }

    fn ml_basic(&mut self) -> Result<Cow<'a, str>, Fail> {
        self.i += 3;
        self.skip_first_newline();
        let mut out = String::new();
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'"' => {
                    if let Some(extra) = self.ml_end(b'"') {
                        out.extend(std::iter::repeat_n('"', extra));
                        self.i += extra + 3;
                        return Ok(Cow::Owned(out));
                    }
                    out.push('"');
                    self.i += 1;
                }
                b'\\' => {
                    // A line-ending backslash trims the following whitespace.
                    let mut j = self.i + 1;
                    while matches!(self.s.get(j), Some(b' ' | b'\t')) {
                        j += 1;
                    }
                    if matches!(self.s.get(j), Some(b'\n' | b'\r')) {
                        self.i = j;
                        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
                            self.i += 1;
                        }
                    } else {
                        self.escape(&mut out)?;
                    }
                }
                _ => self.push_char(&mut out),
            }
        }
        Err(())
    }
}

/// Calls `visit(path, value, offset)` for every scalar of the TOML `text`.
pub(super) fn scan_toml<'a>(text: &'a str, visit: &mut dyn FnMut(&[Seg<'a>], Scalar<'a>, usize)) {
    let mut sc = Scanner {
        t: text,
        s: text.as_bytes(),
        i: 0,
        path: Vec::new(),
        aot: HashMap::default(),
        id: String::new(),
        visit,
    };
    if text.starts_with('\u{feff}') {
        sc.i = 3;
    }
    sc.run();
}

/// One scalar of a small TOML file, owned (config files and manifests).
#[derive(Clone, Debug)]
pub(super) struct Item {
    pub path: Vec<Seg<'static>>,
    pub value: Scalar<'static>,
    pub line: usize,
}

impl Item {
    /// Whether the path, from `from`, is exactly `want` (`"*"` matches any
    /// key, `"#"` any index).
    pub(super) fn at(&self, from: usize, want: &[&str]) -> bool {
        let Some(rest) = self.path.get(from..) else {
            return false;
        };
        rest.len() == want.len()
            && rest.iter().zip(want).all(|(s, w)| match (s, *w) {
                (Seg::Idx(_), "#") => true,
                (Seg::Key(_), "*") => true,
                (Seg::Key(k), w) => k == w,
                _ => false,
            })
    }
    pub(super) fn str(&self) -> Option<&str> {
        self.value.as_str()
    }
    pub(super) fn key(&self, i: usize) -> Option<&str> {
        self.path.get(i).and_then(Seg::key)
    }
    pub(super) fn idx(&self, i: usize) -> Option<usize> {
        self.path.get(i).and_then(Seg::idx)
    }
}

fn owned_seg(s: &Seg<'_>) -> Seg<'static> {
    match s {
        Seg::Key(k) => Seg::Key(Cow::Owned(k.to_string())),
        Seg::Idx(i) => Seg::Idx(*i),
    }
}

/// Every scalar of a small TOML file, with its line.
pub(super) fn toml_items(text: &str) -> Vec<Item> {
    let lines = Lines::new(text);
    let mut out = Vec::new();
    scan_toml(text, &mut |path, v, off| {
        out.push(Item {
            path: path.iter().map(owned_seg).collect(),
            value: match v {
                Scalar::Str(s) => Scalar::Str(Cow::Owned(s.into_owned())),
                Scalar::Bool(b) => Scalar::Bool(b),
                Scalar::Other => Scalar::Other,
            },
            line: lines.line(off),
        })
    });
    out
}

/// Whether the file has any key under `prefix` (e.g. `tool.uv`).
pub(super) fn has_table(items: &[Item], prefix: &[&str]) -> bool {
    items.iter().any(|it| {
        it.path.len() > prefix.len() && it.path.iter().zip(prefix).all(|(s, p)| s.key() == Some(*p))
    })
}

// ---------------------------------------------------------------------------
// Package specs and requirement files, shared by the Python adapters.

/// A requirement that is not a plain index package: `name @ URL`, a bare URL,
/// a VCS URL, or a local path/archive. `name@1.0` (uvx) is a version.
pub(super) fn spec_source(spec: &str, origin: Origin) -> Option<Source> {
    let spec = spec.trim();
    // Options after a requirement (`--hash=…`) and markers (`; …`).
    let spec = spec.split(" --").next().unwrap_or(spec);
    let spec = spec.split(" ;").next().unwrap_or(spec);
    let spec = spec.split("; ").next().unwrap_or(spec).trim();
    if spec.is_empty() {
        return None;
    }
    let (name, target) = match spec.split_once('@') {
        Some((n, t))
            if {
                let t = t.trim_start().to_ascii_lowercase();
                t.contains("://") || t.starts_with("file:")
            } && !n.contains("://")
                && !n.contains('/') =>
        {
            (n.trim(), t.trim())
        }
        _ => ("", spec),
    };
    let kind = target_kind(target)?;
    Some(Source::new(kind, target, origin, name))
}

/// What a URL or path names, or `None` for a plain name/version.
pub(super) fn target_kind(target: &str) -> Option<SourceKind> {
    // Case-insensitive without a lowercased copy (called once per lockfile
    // artifact).
    let t = target.trim().as_bytes();
    let starts = |p: &str| t.len() >= p.len() && t[..p.len()].eq_ignore_ascii_case(p.as_bytes());
    let ends =
        |p: &str| t.len() >= p.len() && t[t.len() - p.len()..].eq_ignore_ascii_case(p.as_bytes());
    Some(if starts("git+file:") || starts("file:") {
        SourceKind::Path
    } else if ["git+", "hg+", "svn+", "bzr+", "git@", "git://"]
        .iter()
        .any(|p| starts(p))
    {
        SourceKind::Git
    } else if t.windows(3).any(|w| w == b"://") {
        SourceKind::Direct
    } else if starts(".")
        || starts("/")
        || starts("~")
        || starts("\\")
        || ends(".whl")
        || ends(".tar.gz")
        || ends(".zip")
        || ends(".tgz")
        || (t.len() > 2 && t[1] == b':' && t[0].is_ascii_alphabetic())
    {
        SourceKind::Path
    } else {
        return None;
    })
}

/// An index location: a URL, or a local directory (`Path`).
pub(super) fn index_kind(value: &str, url_kind: SourceKind) -> SourceKind {
    let v = value.trim();
    let file = v.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("file:"));
    if v.contains("://") && !file {
        url_kind
    } else {
        SourceKind::Path
    }
}

pub(super) use super::pypi::{logical_lines, normalize};

/// Reads requirement files (pip's format as pip and uv accept it): index
/// options, nested `-r`/`-c`, `${VAR}` references, and specs.
pub(super) struct ReqReader<'r, 'a> {
    pub req: &'r Request<'a>,
    pub out: Vec<Source>,
    visited: Vec<PathBuf>,
    /// Whether the file's `-i/--index-url` yields to an index pkgward sets
    /// (uv: yes; pip: no).
    index_overridable: bool,
}

impl<'r, 'a> ReqReader<'r, 'a> {
    pub(super) fn new(req: &'r Request<'a>, index_overridable: bool) -> Self {
        ReqReader {
            req,
            out: Vec::new(),
            visited: Vec::new(),
            index_overridable,
        }
    }

    /// Reads the file at `path` (relative to `base`), named by `via`.
    pub(super) fn file(&mut self, path: &str, base: &Path, via: Origin) {
        if path.contains("://") {
            // A requirements file fetched from a URL is a fetch too.
            self.out
                .push(Source::new(SourceKind::Direct, path, via, "requirements"));
            return;
        }
        let full = normalize(&base.join(path));
        if self.visited.contains(&full) || self.visited.len() > 64 {
            return;
        }
        self.visited.push(full.clone());
        let Some(text) = self.req.files.read(&full) else {
            return;
        };
        let name = full.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "pyproject.toml" {
            let items = toml_items(&text);
            self.out.extend(project_specs(&items, &full, true));
            return;
        }
        if name.starts_with("pylock.") && name.ends_with(".toml") {
            self.out.extend(pylock_sources(&text, &full));
            return;
        }
        let dir = full.parent().unwrap_or(Path::new("")).to_path_buf();
        for (line_no, line) in logical_lines(&text) {
            let line = expand(&line, self.req.env);
            let origin = Origin::file(&full, line_no);
            let t = line.trim();
            if t.starts_with('-') {
                self.option(t, origin, &dir);
            } else if let Some(s) = spec_source(t, origin) {
                self.out.push(s);
            }
        }
    }

    fn option(&mut self, t: &str, origin: Origin, dir: &Path) {
        let (name, value) = match t.find(|c: char| c == '=' || c.is_whitespace()) {
            Some(at) => (&t[..at], t[at + 1..].trim_start_matches('=').trim()),
            None if !t.starts_with("--") && t.len() > 2 && t.is_char_boundary(2) => {
                (&t[..2], &t[2..])
            }
            None => (t, ""),
        };
        let value = value.split_whitespace().next().unwrap_or("");
        let name = match name {
            "-i" => "--index-url",
            "-f" => "--find-links",
            "-r" => "--requirement",
            "-c" => "--constraint",
            "-e" => "--editable",
            n => n,
        };
        // pip accepts unambiguous prefixes of its long options.
        let long = [
            ("--index-url", 5),
            ("--extra-index-url", 4),
            ("--find-links", 4),
            ("--trusted-host", 4),
            ("--requirement", 5),
            ("--constraint", 6),
            ("--editable", 4),
        ]
        .iter()
        .find(|(l, min)| l.starts_with(name) && name.len() >= *min)
        .map(|(l, _)| *l);
        let Some(long) = long else { return };
        if value.is_empty() {
            return;
        }
        match long {
            "--index-url" => {
                let s = Source::new(
                    index_kind(value, SourceKind::Registry),
                    value,
                    origin,
                    "index-url",
                );
                self.out.push(if self.index_overridable {
                    s.overridable()
                } else {
                    s
                });
            }
            "--extra-index-url" => self.out.push(Source::new(
                index_kind(value, SourceKind::ExtraIndex),
                value,
                origin,
                "extra-index-url",
            )),
            "--find-links" => self.out.push(Source::new(
                index_kind(value, SourceKind::FindLinks),
                value,
                origin,
                "find-links",
            )),
            "--trusted-host" => self.out.push(Source::new(
                SourceKind::Insecure,
                value,
                origin,
                "trusted-host",
            )),
            "--requirement" | "--constraint" => self.file(value, dir, origin),
            "--editable" => {
                if let Some(s) = spec_source(value, origin) {
                    self.out.push(s);
                }
            }
            _ => {}
        }
    }
}

/// Direct references among a `pyproject.toml`'s dependencies (`[project]`,
/// `[dependency-groups]`, uv's dependency lists) and, with `sources`,
/// `[tool.uv.sources]` git/url/path entries.
pub(super) fn project_specs(items: &[Item], path: &Path, sources: bool) -> Vec<Source> {
    let mut out = Vec::new();
    for it in items {
        let Some(v) = it.str() else { continue };
        let dep = it.at(0, &["project", "dependencies", "#"])
            || it.at(0, &["project", "optional-dependencies", "*", "#"])
            || it.at(0, &["dependency-groups", "*", "#"])
            || it.at(0, &["build-system", "requires", "#"])
            || [
                "dev-dependencies",
                "constraint-dependencies",
                "override-dependencies",
                "build-constraint-dependencies",
            ]
            .iter()
            .any(|k| it.at(0, &["tool", "uv", k, "#"]));
        if dep {
            out.extend(spec_source(v, Origin::file(path, it.line)));
            continue;
        }
        // tool.uv.sources.<name>.<key> or tool.uv.sources.<name>[i].<key>
        if !sources
            || it.key(0) != Some("tool")
            || it.key(1) != Some("uv")
            || it.key(2) != Some("sources")
        {
            continue;
        }
        let name = it.key(3).unwrap_or("");
        let key = it.path.last().and_then(Seg::key).unwrap_or("");
        let depth_ok = it.path.len() == 5 || (it.path.len() == 6 && it.idx(4).is_some());
        if !depth_ok {
            continue;
        }
        let origin = Origin::file(path, it.line);
        match key {
            "git" => out.push(Source::new(SourceKind::Git, v, origin, name)),
            "url" => out.push(Source::new(
                target_kind(v).unwrap_or(SourceKind::Direct),
                v,
                origin,
                name,
            )),
            "path" => out.push(Source::new(SourceKind::Path, v, origin, name)),
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Lockfiles: uv.lock and pylock.toml.

/// `scheme://host[:port]/parent/` of an index URL: files an index serves
/// under its own parent path (`…/simple/` → `…/packages/…`) are the index's.
pub(super) fn index_home(index: &str) -> Option<String> {
    let (scheme, rest) = index.split_once("://")?;
    let (host, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    if host.is_empty() || host.contains('@') {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let trimmed = path.trim_end_matches('/');
    let parent = match trimmed.rfind('/') {
        Some(at) => &trimmed[..=at],
        None => "/",
    };
    Some(format!(
        "{}://{}{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase(),
        parent
    ))
}

/// Whether `url` is served from under `home` (see [`index_home`]), with no
/// dot segments or backslashes that could climb out of it.
pub(super) fn under_home(url: &str, home: &str) -> bool {
    let Some(head) = url.get(..home.len()) else {
        return false;
    };
    // `scheme://host[:port]` ends at the first `/` after `://`.
    let hb = home.as_bytes();
    let host_start = hb.windows(3).position(|w| w == b"://").map_or(0, |a| a + 3);
    let Some(path_start) = hb[host_start..]
        .iter()
        .position(|&c| c == b'/')
        .map(|at| at + host_start)
    else {
        return false;
    };
    let prefixed = match (head.get(..path_start), head.get(path_start..)) {
        (Some(host), Some(path)) => {
            host.eq_ignore_ascii_case(&home[..path_start]) && path == &home[path_start..]
        }
        _ => false,
    };
    // The prefix first (cheap, and false for most URLs outside the home).
    prefixed && !climbs(url)
}

/// Whether a URL has a dot segment (`/./`, `/..`), an encoded dot or a
/// backslash: anything that could lead out of a path prefix.
fn climbs(url: &str) -> bool {
    let b = url.as_bytes();
    let mut from = 0;
    while let Some(p) = find_any(&b[from..], b'/', b'%', b'\\') {
        let i = from + p;
        match b[i] {
            b'\\' => return true,
            b'%' if b.get(i + 1) == Some(&b'2') && matches!(b.get(i + 2), Some(b'e' | b'E')) => {
                return true
            }
            b'/' if b.get(i + 1) == Some(&b'.') => {
                let mut j = i + 2;
                if b.get(j) == Some(&b'.') {
                    j += 1;
                }
                if matches!(b.get(j), None | Some(b'/' | b'?' | b'#')) {
                    return true;
                }
            }
            _ => {}
        }
        from = i + 1;
    }
    false
}

#[derive(Default)]
pub(super) struct LockPkg<'a> {
    pub name: Option<Cow<'a, str>>,
    /// (source key, value, offset)
    pub source: Vec<(&'a str, Cow<'a, str>, usize)>,
    /// (url or path, value, offset)
    pub artifacts: Vec<(bool, Cow<'a, str>, usize)>,
    /// pylock `index`
    pub index: Option<(Cow<'a, str>, usize)>,
}

/// Emits the sources of locked packages: the registry each names (once per
/// registry), git/URL sources, and artifact URLs that are not under their
/// registry's home.
pub(super) fn lock_sources(
    pkgs: &[LockPkg<'_>],
    path: &Path,
    lines: &Lines,
    overridable: bool,
) -> Vec<Source> {
    let mut out = Vec::new();
    let mut seen_registry: Vec<String> = Vec::new();
    let mut homes: Vec<(String, Option<String>)> = Vec::new();
    let mark = |s: Source| if overridable { s.overridable() } else { s };
    for p in pkgs {
        let name = p.name.as_deref().unwrap_or("");
        let mut registry: Option<&str> = None;
        let mut is_url = false;
        let mut local = false;
        for (key, value, off) in &p.source {
            let origin = || Origin::file(path, lines.line(*off));
            match *key {
                "registry" => {
                    registry = Some(value);
                    if index_kind(value, SourceKind::Locked) == SourceKind::Path {
                        local = true;
                    } else if !seen_registry.iter().any(|r| r == value.as_ref()) {
                        seen_registry.push(value.to_string());
                        out.push(mark(Source::new(
                            SourceKind::Locked,
                            value.as_ref(),
                            origin(),
                            name,
                        )));
                    }
                }
                "git" => out.push(Source::new(SourceKind::Git, value.as_ref(), origin(), name)),
                "url" => {
                    is_url = true;
                    let kind = match target_kind(value) {
                        Some(SourceKind::Path) => SourceKind::Path,
                        _ => SourceKind::Locked,
                    };
                    out.push(mark(Source::new(kind, value.as_ref(), origin(), name)));
                }
                _ => local = true,
            }
        }
        if let Some((idx, off)) = &p.index {
            registry = Some(idx);
            if !seen_registry.iter().any(|r| r == idx.as_ref()) {
                seen_registry.push(idx.to_string());
                let origin = Origin::file(path, lines.line(*off));
                out.push(mark(Source::new(
                    SourceKind::Locked,
                    idx.as_ref(),
                    origin,
                    name,
                )));
            }
        }
        let home_at = registry.map(|r| match homes.iter().position(|(k, _)| k == r) {
            Some(i) => i,
            None => {
                homes.push((r.to_string(), index_home(r)));
                homes.len() - 1
            }
        });
        let home = home_at.and_then(|i| homes[i].1.as_deref());
        for (is_url_key, value, off) in &p.artifacts {
            if !*is_url_key {
                continue; // a local `path`
            }
            let covered = match home {
                Some(h) => under_home(value, h),
                None => is_url && p.source.iter().any(|(_, v, _)| v == value),
            };
            if covered || (local && registry.is_none() && !is_url) {
                continue;
            }
            let origin = Origin::file(path, lines.line(*off));
            let kind = match target_kind(value) {
                Some(SourceKind::Path) => SourceKind::Path,
                _ => SourceKind::Locked,
            };
            out.push(mark(Source::new(kind, value.as_ref(), origin, name)));
        }
    }
    out
}

/// `uv.lock`: `[[package]]` `source = { registry | git | url | … }`, `sdist`
/// and `wheels` URLs.
fn uv_lock_sources(text: &str, path: &Path, overridable: bool) -> Vec<Source> {
    let lines = Lines::new(text);
    let mut pkgs: Vec<LockPkg<'_>> = Vec::new();
    // Artifacts under their registry's home are the index's own files: they
    // are dropped as they are read (when the registry came first, as uv
    // writes it) instead of being kept for `lock_sources` to drop.
    let mut homes: Vec<(String, Option<String>)> = Vec::new();
    let mut pkg_home: Vec<Option<usize>> = Vec::new();
    scan_toml(text, &mut |p, v, off| {
        if p.len() < 3 || p[0].key() != Some("package") {
            return;
        }
        let Some(i) = p[1].idx() else { return };
        if i >= pkgs.len() {
            pkgs.resize_with(i + 1, LockPkg::default);
            pkg_home.resize(i + 1, None);
        }
        let pkg = &mut pkgs[i];
        let Scalar::Str(s) = v else { return };
        let k2 = p[2].key().unwrap_or("");
        match (k2, p.len()) {
            ("name", 3) => pkg.name = Some(s),
            ("source", 4) => {
                if let Some(k) = p[3].key() {
                    let k: &str = match k {
                        "registry" => "registry",
                        "git" => "git",
                        "url" => "url",
                        "path" | "directory" | "editable" | "virtual" => "path",
                        _ => return,
                    };
                    if k == "registry" && pkg.source.is_empty() {
                        let at = match homes.iter().position(|(r, _)| r == s.as_ref()) {
                            Some(h) => h,
                            None => {
                                homes.push((s.to_string(), index_home(&s)));
                                homes.len() - 1
                            }
                        };
                        pkg_home[i] = Some(at);
                    } else {
                        // Another source key: the early drop no longer applies.
                        pkg_home[i] = None;
                    }
                    pkg.source.push((k, s, off));
                }
            }
            ("sdist", 4) => lock_artifact(pkg, p[3].key(), s, off, pkg_home[i], &homes),
            ("wheels", 5) if p[3].idx().is_some() => {
                lock_artifact(pkg, p[4].key(), s, off, pkg_home[i], &homes)
            }
            _ => {}
        }
    });
    lock_sources(&pkgs, path, &lines, overridable)
}

/// Keeps an artifact of a locked package unless it is under the home of the
/// package's registry (known when the registry was read first).
fn lock_artifact<'a>(
    pkg: &mut LockPkg<'a>,
    key: Option<&str>,
    s: Cow<'a, str>,
    off: usize,
    home: Option<usize>,
    homes: &[(String, Option<String>)],
) {
    match key {
        Some("url") => {
            let known = home
                .and_then(|h| homes.get(h))
                .and_then(|(_, h)| h.as_deref())
                .is_some_and(|h| under_home(&s, h));
            if !known {
                pkg.artifacts.push((true, s, off));
            }
        }
        Some("path") => pkg.artifacts.push((false, s, off)),
        _ => {}
    }
}

/// PEP 751 `pylock.toml`: `[[packages]]` `index`, `vcs.url`, `archive.url`,
/// `sdist.url`, `wheels[].url`.
pub(super) fn pylock_sources(text: &str, path: &Path) -> Vec<Source> {
    let lines = Lines::new(text);
    let mut pkgs: Vec<LockPkg<'_>> = Vec::new();
    scan_toml(text, &mut |p, v, off| {
        if p.len() < 3 || p[0].key() != Some("packages") {
            return;
        }
        let Some(i) = p[1].idx() else { return };
        if i >= pkgs.len() {
            pkgs.resize_with(i + 1, LockPkg::default);
        }
        let pkg = &mut pkgs[i];
        let Scalar::Str(s) = v else { return };
        match (
            p[2].key().unwrap_or(""),
            p.len(),
            p.last().and_then(Seg::key),
        ) {
            ("name", 3, _) => pkg.name = Some(s),
            ("index", 3, _) => pkg.index = Some((s, off)),
            ("vcs", 4, Some("url")) => pkg.source.push(("git", s, off)),
            ("archive", 4, Some("url")) => pkg.source.push(("url", s, off)),
            ("sdist", 4, Some("url")) => pkg.artifacts.push((true, s, off)),
            ("wheels", 5, Some("url")) => pkg.artifacts.push((true, s, off)),
            ("directory" | "archive" | "sdist", 4, Some("path")) => {
                pkg.source.push(("path", s, off))
            }
            _ => {}
        }
    });
    lock_sources(&pkgs, path, &lines, false)
}

// ---------------------------------------------------------------------------
// uv's command line.

/// uv long options that take a value (from `uv help <command>` for every
/// command), except the context-dependent ones handled in [`long_value`].
const UV_VALUE_OPTS: &[&str] = &[
    "--allow-insecure-host",
    "--annotation-style",
    "--author-from",
    "--bounds",
    "--branch",
    "--build-backend",
    "--build-constraints",
    "--build-constraint",
    "--cache-dir",
    "--cert",
    "--check-url",
    "--color",
    "--config-file",
    "--config-setting",
    "--config-setting-package",
    "--config-settings-package",
    "--constraints",
    "--constraint",
    "--custom-compile-command",
    "--default-index",
    "--depth",
    "--description",
    "--directory",
    "--env-file",
    "--exclude",
    "--exclude-newer",
    "--exclude-newer-package",
    "--excludes",
    "--extra",
    "--extra-index-url",
    "--find-links",
    "--fork-strategy",
    "--format",
    "--from",
    "--graalpy-mirror",
    "--group",
    "--ignore",
    "--ignore-until-fixed",
    "--index",
    "--index-strategy",
    "--index-url",
    "--install-dir",
    "--keyring-provider",
    "--link-mode",
    "--marker",
    "--mirror",
    "--name",
    "--no-binary",
    "--no-binary-package",
    "--no-build-isolation-package",
    "--no-build-package",
    "--no-editable-package",
    "--no-emit-package",
    "--no-extra",
    "--no-group",
    "--no-install-package",
    "--no-sources-package",
    "--only-binary",
    "--only-group",
    "--optional",
    "--out-dir",
    "--output-file",
    "--output-format",
    "--overrides",
    "--override",
    "--package",
    "--password",
    "--path",
    "--prefix",
    "--prerelease",
    "--prerelease-package",
    "--project",
    "--prompt",
    "--prune",
    "--publish-url",
    "--pyodide-mirror",
    "--pypy-mirror",
    "--python",
    "--python-downloads-json-url",
    "--python-platform",
    "--python-version",
    "--refresh-package",
    "--reinstall-package",
    "--requirements",
    "--requirement",
    "--resolution",
    "--rev",
    "--service-format",
    "--service-url",
    "--tag",
    "--target",
    "--token",
    "--torch-backend",
    "--trusted-host",
    "--trusted-publishing",
    "--ty-version",
    "--upgrade-group",
    "--upgrade-package",
    "--username",
    "--vcs",
    "--with",
    "--with-editable",
    "--with-executables-from",
    "--with-requirements",
];

/// Whether long option `name` takes a value in command `cmd`/`sub`.
fn long_value(name: &str, cmd: &str) -> bool {
    match name {
        // `uv pip install -e PATH`; a flag for `uv add`/`uv tool install`.
        "--editable" => cmd == "pip",
        // `uv run --script` is a flag; `uv add/lock/sync… --script FILE`.
        "--script" => !(cmd == "run" || cmd.is_empty()),
        _ => UV_VALUE_OPTS.contains(&name),
    }
}

/// Whether option `arg` (`--name` or `-x`, without `=value`) takes a value
/// in `uvx` / `uv tool run` (and uv's global options).
pub(crate) fn tool_run_takes_value(arg: &str) -> bool {
    match arg.strip_prefix("--") {
        Some(_) => long_value(arg, "tool"),
        None => {
            let mut c = arg.chars().skip(1);
            match (c.next(), c.next()) {
                (Some(c), None) => short_opt(c, "tool", "run").is_some(),
                _ => false,
            }
        }
    }
}

/// Whether short option `c` takes a value in command `cmd`/`sub`, and its
/// long name.
fn short_opt(c: char, cmd: &str, sub: &str) -> Option<&'static str> {
    Some(match c {
        'i' if cmd == "python" => "--install-dir",
        'i' => "--index-url",
        'f' if cmd == "python" => return None,
        'f' => "--find-links",
        'r' if cmd == "python" => return None,
        'r' => "--requirements",
        'e' if cmd == "pip" => "--editable",
        'm' if cmd == "add" => "--marker",
        'c' => "--constraints",
        'b' => "--build-constraints",
        'p' if cmd == "publish" => "--password",
        'p' => "--python",
        'o' => "--output-file",
        't' if cmd == "publish" => "--token",
        't' => "--target",
        'w' => "--with",
        'C' => "--config-setting",
        'P' => "--upgrade-package",
        'u' => "--username",
        'd' if cmd == "tree" => "--depth",
        _ => {
            let _ = sub;
            return None;
        }
    })
}

/// The command line as uv parses it.
#[derive(Default)]
struct Cli {
    /// Positional words before a run target (command, subcommand, specs).
    positionals: Vec<String>,
    /// Where each of [`Cli::positionals`] is in the arguments.
    positions: Vec<usize>,
    /// `uv run`/`uvx`/`uv tool run`: the target and its arguments.
    target: Option<String>,
    /// (long name as canonical, value, as written)
    opts: Vec<(String, Option<String>, String)>,
}

impl Cli {
    fn parse(uvx: bool, args: &[String]) -> Cli {
        let mut cli = Cli::default();
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            let cmd = cli.command(uvx).to_string();
            let sub = cli.sub(uvx).to_string();
            if a == "--" {
                for (at, rest) in args.iter().enumerate().skip(i) {
                    if cli.runs_target(uvx) {
                        cli.target = Some(rest.clone());
                        break;
                    }
                    cli.positionals.push(rest.clone());
                    cli.positions.push(at);
                }
                break;
            }
            if let Some(body) = a.strip_prefix("--").filter(|b| !b.is_empty()) {
                let (name, inline) = match body.split_once('=') {
                    Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
                    None => (format!("--{body}"), None),
                };
                let value = match inline {
                    Some(v) => Some(v),
                    None if long_value(&name, &cmd) => {
                        i += 1;
                        args.get(i - 1).cloned()
                    }
                    None => None,
                };
                cli.opts.push((name.clone(), value, name));
                continue;
            }
            if a.len() > 1 && a.starts_with('-') {
                let chars: Vec<(usize, char)> = a.char_indices().skip(1).collect();
                for (at, c) in chars {
                    if let Some(long) = short_opt(c, &cmd, &sub) {
                        let rest = &a[at + c.len_utf8()..];
                        let rest = rest.strip_prefix('=').unwrap_or(rest);
                        let value = if rest.is_empty() {
                            i += 1;
                            args.get(i - 1).cloned()
                        } else {
                            Some(rest.to_string())
                        };
                        cli.opts.push((long.to_string(), value, format!("-{c}")));
                        break;
                    }
                    cli.opts.push((format!("-{c}"), None, format!("-{c}")));
                }
                continue;
            }
            if cli.runs_target(uvx) {
                cli.target = Some(a.clone());
                break;
            }
            cli.positionals.push(a.clone());
            cli.positions.push(i - 1);
        }
        cli
    }

    fn command(&self, uvx: bool) -> &str {
        if uvx {
            return "tool";
        }
        self.positionals.first().map_or("", String::as_str)
    }

    fn sub(&self, uvx: bool) -> &str {
        if uvx {
            return "run";
        }
        self.positionals.get(1).map_or("", String::as_str)
    }

    /// Whether the next positional is a run target (`uv run CMD`, `uvx PKG`).
    fn runs_target(&self, uvx: bool) -> bool {
        if uvx {
            return true;
        }
        match self.positionals.first().map(String::as_str) {
            Some("run") => self.positionals.len() == 1,
            Some("tool") => {
                self.positionals.len() == 2 && matches!(self.positionals[1].as_str(), "run" | "uvx")
            }
            _ => false,
        }
    }

    fn flag(&self, name: &str) -> bool {
        self.opts.iter().any(|(n, _, _)| n == name)
    }

    fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = (&'s str, &'s str)> + 's {
        self.opts
            .iter()
            .filter(move |(n, v, _)| n == name && v.is_some())
            .map(|(_, v, w)| (v.as_deref().unwrap_or(""), w.as_str()))
    }

    fn last<'s>(&'s self, name: &'s str) -> Option<&'s str> {
        self.values(name).last().map(|(v, _)| v)
    }
}

fn truthy(v: Option<String>) -> bool {
    v.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on" | "y" | "t"
        )
    })
}

fn falsy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "" | "0" | "false" | "no" | "off" | "n" | "f"
    )
}

/// Requirement specifiers (`true`: editable) and requirement files.
pub(crate) type PipRequirements = (Vec<(String, bool)>, Vec<String>);

/// `uv pip install`'s requirements: its requirement arguments and
/// `-e`/`--editable` values (`true`: editable), and its `-r` files as
/// written; `None` for another command.
pub(crate) fn pip_install_requirements(args: &[String]) -> Option<PipRequirements> {
    let cli = Cli::parse(false, args);
    if cli.command(false) != "pip" || cli.sub(false) != "install" {
        return None;
    }
    let mut specs: Vec<(String, bool)> = cli
        .positionals
        .iter()
        .skip(2)
        .map(|s| (s.clone(), false))
        .collect();
    specs.extend(cli.values("--editable").map(|(v, _)| (v.to_string(), true)));
    let mut files: Vec<String> = cli
        .values("--requirements")
        .map(|(v, _)| v.to_string())
        .collect();
    files.extend(cli.values("--requirement").map(|(v, _)| v.to_string()));
    Some((specs, files))
}

/// Where uv's command and subcommand words are in its arguments (past the
/// global options before them and their values: `uv --cache-dir DIR pip
/// install`), and the command.
pub(super) fn command_at(args: &[String]) -> (String, Vec<usize>) {
    let cli = Cli::parse(false, args);
    let words = cli.positions.iter().take(2).copied().collect();
    (cli.command(false).to_string(), words)
}

pub(super) fn verb(tool: &str, args: &[String]) -> Verb {
    let uvx = tool == "uvx";
    if uvx {
        return Verb::Execute;
    }
    let cli = Cli::parse(false, args);
    let cmd = cli.command(false);
    let sub = cli.sub(false);
    match cmd {
        "run" | "format" => Verb::Execute,
        "tool" => match sub {
            "run" | "uvx" => Verb::Execute,
            "install" | "upgrade" => Verb::Install,
            _ => Verb::Other,
        },
        "pip" => match sub {
            "install" | "sync" | "compile" | "uninstall" => Verb::Install,
            _ => Verb::Other,
        },
        "add" | "remove" | "sync" | "lock" | "venv" | "build" | "export" | "tree" | "version" => {
            Verb::Install
        }
        "python" => match sub {
            "install" | "upgrade" => Verb::Install,
            _ => Verb::Other,
        },
        "self" => match sub {
            "update" => Verb::Install,
            _ => Verb::Other,
        },
        "publish" => Verb::Publish,
        _ => Verb::Other,
    }
}

// ---------------------------------------------------------------------------
// Sources.

/// Collects sources, dropping exact duplicates (the same file can be both
/// the discovered config and the project manifest).
#[derive(Default)]
struct Out(
    Vec<Source>,
    std::collections::HashSet<u64, foldhash::fast::RandomState>,
);

impl Out {
    /// Exact duplicates are found by hash first (a lockfile brings
    /// thousands of sources: a linear scan per push is quadratic).
    fn push(&mut self, s: Source) {
        // The origin's path is left out of the hash (hashing a path walks
        // its components); equal hashes are compared in full.
        let line = match &s.origin {
            Origin::File { line, .. } => *line,
            _ => usize::MAX,
        };
        // The set's own (per-process random) hasher: fast, and a crafted
        // lockfile cannot aim for collisions.
        let key =
            std::hash::BuildHasher::hash_one(self.1.hasher(), (s.kind, &s.value, line, &s.subject));
        if self.1.insert(key)
            || !self.0.iter().any(|o| {
                o.kind == s.kind
                    && o.value == s.value
                    && o.origin == s.origin
                    && o.subject == s.subject
            })
        {
            self.0.push(s);
        }
    }
    fn extend(&mut self, it: impl IntoIterator<Item = Source>) {
        for s in it {
            self.push(s);
        }
    }
}

/// `name=url` index syntax: the URL part.
fn index_value(v: &str) -> &str {
    match v.split_once('=') {
        Some((n, u))
            if !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) =>
        {
            u
        }
        _ => v,
    }
}

fn env_path(req: &Request<'_>, var: &str) -> Option<String> {
    req.env.get(var).filter(|v| !v.is_empty())
}

/// uv settings of one config file (`uv.toml`: `prefix` = 0; a
/// `pyproject.toml`: `prefix` = 2, under `tool.uv`).
fn config_sources(
    items: &[Item],
    prefix: usize,
    path: &Path,
    pip: bool,
    publish: bool,
) -> Vec<Source> {
    let mut out = Vec::new();
    // [[index]] entries: gather fields first.
    struct Idx {
        url: Option<(String, usize)>,
        default: bool,
        flat: bool,
        publish_url: Option<(String, usize)>,
    }
    let mut indexes: Vec<(usize, bool, Idx)> = Vec::new();
    let f = |line| Origin::file(path, line);
    for it in items {
        if prefix == 2 && (it.key(0) != Some("tool") || it.key(1) != Some("uv")) {
            continue;
        }
        let (section_pip, base) = if it.key(prefix) == Some("pip") {
            (true, prefix + 1)
        } else {
            (false, prefix)
        };
        if section_pip && !pip {
            continue;
        }
        let v = it.str();
        if it.at(base, &["index-url"]) {
            if let Some(v) = v {
                out.push(
                    Source::new(
                        index_kind(v, SourceKind::Registry),
                        v,
                        f(it.line),
                        "index-url",
                    )
                    .overridable(),
                );
            }
        } else if it.at(base, &["extra-index-url", "#"]) {
            if let Some(v) = v {
                out.push(Source::new(
                    index_kind(v, SourceKind::ExtraIndex),
                    v,
                    f(it.line),
                    "extra-index-url",
                ));
            }
        } else if it.at(base, &["find-links", "#"]) {
            if let Some(v) = v {
                out.push(Source::new(
                    index_kind(v, SourceKind::FindLinks),
                    v,
                    f(it.line),
                    "find-links",
                ));
            }
        } else if it.at(base, &["allow-insecure-host", "#"]) {
            if let Some(v) = v {
                out.push(Source::new(
                    SourceKind::Insecure,
                    v,
                    f(it.line),
                    "allow-insecure-host",
                ));
            }
        } else if !section_pip
            && (it.at(base, &["python-install-mirror"])
                || it.at(base, &["pypy-install-mirror"])
                || it.at(base, &["python-downloads-json-url"]))
        {
            if let Some(v) = v {
                let key = it.key(base).unwrap_or("").to_string();
                out.push(Source::new(
                    index_kind(v, SourceKind::Direct),
                    v,
                    f(it.line),
                    key,
                ));
            }
        } else if !section_pip
            && publish
            && (it.at(base, &["publish-url"]) || it.at(base, &["check-url"]))
        {
            if let Some(v) = v {
                let key = it.key(base).unwrap_or("").to_string();
                out.push(Source::new(SourceKind::Registry, v, f(it.line), key));
            }
        } else if it.path.len() == base + 3
            && it.key(base) == Some("index")
            && it.idx(base + 1).is_some()
        {
            let n = it.idx(base + 1).unwrap_or(0);
            let pos = match indexes
                .iter()
                .position(|(k, p, _)| *k == n && *p == section_pip)
            {
                Some(p) => p,
                None => {
                    indexes.push((
                        n,
                        section_pip,
                        Idx {
                            url: None,
                            default: false,
                            flat: false,
                            publish_url: None,
                        },
                    ));
                    indexes.len() - 1
                }
            };
            let e = &mut indexes[pos].2;
            match (it.key(base + 2), &it.value) {
                (Some("url"), Scalar::Str(s)) => e.url = Some((s.to_string(), it.line)),
                (Some("default"), Scalar::Bool(b)) => e.default = *b,
                (Some("format"), Scalar::Str(s)) => e.flat = s == "flat",
                (Some("publish-url"), Scalar::Str(s)) => {
                    e.publish_url = Some((s.to_string(), it.line))
                }
                _ => {}
            }
        }
    }
    for (_, _, e) in indexes {
        if let Some((url, line)) = e.url {
            let s = if e.flat {
                Source::new(
                    index_kind(&url, SourceKind::FindLinks),
                    url,
                    f(line),
                    "index",
                )
            } else if e.default {
                Source::new(
                    index_kind(&url, SourceKind::Registry),
                    url,
                    f(line),
                    "index",
                )
                .overridable()
            } else {
                Source::new(
                    index_kind(&url, SourceKind::ExtraIndex),
                    url,
                    f(line),
                    "index",
                )
            };
            out.push(s);
        }
        if let (true, Some((url, line))) = (publish, e.publish_url) {
            out.push(Source::new(
                SourceKind::Registry,
                url,
                f(line),
                "publish-url",
            ));
        }
    }
    out
}

/// A `pyproject.toml` or `uv.toml` read once.
struct Manifest {
    path: PathBuf,
    items: Vec<Item>,
}

fn read_manifest(req: &Request<'_>, path: PathBuf) -> Option<Manifest> {
    let text = req.files.read(&path)?;
    Some(Manifest {
        items: toml_items(&text),
        path,
    })
}

/// The first directory from `start` upward holding `uv.toml` or a
/// `pyproject.toml` with `[tool.uv]`: the settings file uv uses.
fn find_settings(req: &Request<'_>, start: &Path, cache: &mut Vec<Manifest>) -> Option<usize> {
    for dir in start.ancestors() {
        let uv_toml = dir.join("uv.toml");
        if req.files.exists(&uv_toml) {
            if let Some(m) = read_manifest(req, uv_toml) {
                cache.push(m);
                return Some(cache.len() - 1);
            }
        }
        let py = dir.join("pyproject.toml");
        if req.files.exists(&py) {
            if let Some(m) = read_manifest(req, py) {
                let has = has_table(&m.items, &["tool", "uv"]);
                cache.push(m);
                if has {
                    return Some(cache.len() - 1);
                }
            }
        }
    }
    None
}

/// PEP 723 metadata of a script (`# /// script` … `# ///`), as TOML text.
fn script_metadata(text: &str) -> Option<(String, usize)> {
    let mut lines = text.lines().enumerate();
    let start = lines.find(|(_, l)| l.trim_end() == "# /// script")?.0;
    let mut body = String::new();
    for (_, l) in lines {
        if l.trim_end() == "# ///" {
            return Some((body, start + 1));
        }
        let content = l
            .strip_prefix("# ")
            .or_else(|| (l.trim_end() == "#").then_some(""))?;
        body.push_str(content);
        body.push('\n');
    }
    None
}

/// Sources of a PEP 723 script: its dependencies and `[tool.uv]` settings.
/// Whether the script has such metadata (uv then runs it outside the project).
fn script_sources(req: &Request<'_>, path: &Path, pip: bool, out: &mut Out) -> bool {
    let Some(text) = req.files.read(path) else {
        return false;
    };
    let Some((toml, first)) = script_metadata(&text) else {
        return false;
    };
    let mut items = toml_items(&toml);
    for it in &mut items {
        it.line += first;
    }
    for it in &items {
        if it.at(0, &["dependencies", "#"]) {
            if let Some(v) = it.str() {
                out.extend(spec_source(v, Origin::file(path, it.line)));
            }
        }
    }
    out.extend(config_sources(&items, 2, path, pip, false));
    // `[tool.uv]` dependency lists and `[tool.uv.sources]` of the script.
    out.extend(project_specs(&items, path, true));
    true
}

/// Every registry source a uv/uvx invocation can use.
pub(super) fn sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let uvx = req.tool.name == "uvx";
    let cli = Cli::parse(uvx, req.args);
    let cmd = cli.command(uvx).to_string();
    let sub = cli.sub(uvx).to_string();
    let pip = cmd == "pip";
    let tool_cmd = cmd == "tool" || cmd == "self";
    let publish = verb == Verb::Publish;
    let mut out = Out::default();

    // Where uv runs and which project it discovers.
    let dir = cli
        .last("--directory")
        .map(str::to_string)
        .or_else(|| env_path(req, "UV_WORKING_DIRECTORY"))
        .or_else(|| env_path(req, "UV_WORKING_DIR"));
    let cwd = match dir {
        Some(d) => normalize(&req.cwd.join(d)),
        None => req.cwd.to_path_buf(),
    };
    let project_dir = match cli
        .last("--project")
        .map(str::to_string)
        .or_else(|| env_path(req, "UV_PROJECT"))
    {
        Some(p) => {
            let p = normalize(&cwd.join(p));
            if p.file_name().is_some_and(|n| n == "pyproject.toml") {
                p.parent().map(Path::to_path_buf).unwrap_or(p)
            } else {
                p
            }
        }
        None => cwd.clone(),
    };

    // 1. Config files.
    let config_file = cli
        .last("--config-file")
        .map(str::to_string)
        .or_else(|| env_path(req, "UV_CONFIG_FILE"));
    let no_config = cli.flag("--no-config")
        || truthy(req.env.get("UV_NO_CONFIG"))
        || (pip && cli.flag("--isolated"));
    let mut manifests: Vec<Manifest> = Vec::new();
    let mut settings: Vec<(usize, usize)> = Vec::new(); // (manifest, prefix)
    if let Some(cf) = config_file {
        if let Some(m) = read_manifest(req, normalize(&cwd.join(cf))) {
            manifests.push(m);
            settings.push((manifests.len() - 1, 0));
        }
    } else if !no_config {
        if !(tool_cmd || uvx) {
            let mut starts = vec![project_dir.clone()];
            // A workspace member's settings come from the workspace root.
            if let Some(root) = workspace_root(req, &project_dir) {
                starts.push(root);
            }
            for st in starts {
                if let Some(i) = find_settings(req, &st, &mut manifests) {
                    let prefix = if manifests[i].path.ends_with("uv.toml") {
                        0
                    } else {
                        2
                    };
                    if !settings.contains(&(i, prefix))
                        && !settings
                            .iter()
                            .any(|(j, _)| manifests[*j].path == manifests[i].path)
                    {
                        settings.push((i, prefix));
                    }
                }
            }
        }
        for file in user_system_files(req) {
            if let Some(m) = read_manifest(req, file) {
                manifests.push(m);
                settings.push((manifests.len() - 1, 0));
            }
        }
    }
    for (i, prefix) in &settings {
        let m = &manifests[*i];
        out.extend(config_sources(&m.items, *prefix, &m.path, pip, publish));
    }

    // 2. Environment.
    let env_list = |var: &str, kind: SourceKind, subject: &str, sep: &dyn Fn(char) -> bool| {
        req.env
            .get(var)
            .map(|v| {
                v.split(sep)
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let p = index_value(p);
                        Source::new(
                            if kind == SourceKind::Insecure {
                                kind
                            } else {
                                index_kind(p, kind)
                            },
                            p,
                            Origin::env(var),
                            subject,
                        )
                        .overridable()
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let ws = |c: char| c.is_whitespace();
    let space = |c: char| c == ' ';
    let comma = |c: char| c == ',';
    out.extend(env_list(
        "UV_DEFAULT_INDEX",
        SourceKind::Registry,
        "default-index",
        &|_| false,
    ));
    out.extend(env_list(
        "UV_INDEX_URL",
        SourceKind::Registry,
        "index-url",
        &|_| false,
    ));
    out.extend(env_list("UV_INDEX", SourceKind::ExtraIndex, "index", &ws));
    out.extend(env_list(
        "UV_EXTRA_INDEX_URL",
        SourceKind::ExtraIndex,
        "extra-index-url",
        &space,
    ));
    out.extend(env_list(
        "UV_FIND_LINKS",
        SourceKind::FindLinks,
        "find-links",
        &comma,
    ));
    out.extend(env_list(
        "UV_INSECURE_HOST",
        SourceKind::Insecure,
        "allow-insecure-host",
        &space,
    ));
    for var in [
        "UV_PYTHON_INSTALL_MIRROR",
        "UV_PYPY_INSTALL_MIRROR",
        "UV_PYTHON_DOWNLOADS_JSON_URL",
    ] {
        if let Some(v) = env_path(req, var) {
            out.push(Source::new(
                index_kind(&v, SourceKind::Direct),
                v,
                Origin::env(var),
                var,
            ));
        }
    }
    if publish {
        for var in ["UV_PUBLISH_URL", "UV_PUBLISH_CHECK_URL"] {
            if let Some(v) = env_path(req, var) {
                out.push(Source::new(
                    SourceKind::Registry,
                    v,
                    Origin::env(var),
                    "publish-url",
                ));
            }
        }
    }

    // 3. The command line.
    let mut reqs = ReqReader::new(req, true);
    for (name, value, written) in &cli.opts {
        let Some(v) = value.as_deref() else { continue };
        let origin = Origin::flag(written.clone());
        match name.as_str() {
            "--default-index" => out.push(Source::new(
                index_kind(index_value(v), SourceKind::Registry),
                index_value(v),
                origin,
                "default-index",
            )),
            // UV_DEFAULT_INDEX beats `-i/--index-url` (verified).
            "--index-url" => out.push(
                Source::new(index_kind(v, SourceKind::Registry), v, origin, "index-url")
                    .overridable(),
            ),
            "--index" => {
                for p in v.split_whitespace() {
                    let p = index_value(p);
                    // `--index NAME` names a configured index (listed above).
                    if p.contains("://")
                        || p.contains('/')
                        || p.contains('\\')
                        || p.starts_with('.')
                    {
                        out.push(Source::new(
                            index_kind(p, SourceKind::ExtraIndex),
                            p,
                            origin.clone(),
                            "index",
                        ));
                    }
                }
            }
            "--extra-index-url" => out.push(Source::new(
                index_kind(v, SourceKind::ExtraIndex),
                v,
                origin,
                "extra-index-url",
            )),
            "--find-links" => out.push(Source::new(
                index_kind(v, SourceKind::FindLinks),
                v,
                origin,
                "find-links",
            )),
            "--allow-insecure-host" | "--trusted-host" => out.push(Source::new(
                SourceKind::Insecure,
                v,
                origin,
                "allow-insecure-host",
            )),
            "--mirror"
            | "--pypy-mirror"
            | "--python-downloads-json-url"
            | "--graalpy-mirror"
            | "--pyodide-mirror" => out.push(Source::new(
                index_kind(v, SourceKind::Direct),
                v,
                origin,
                name.trim_start_matches('-'),
            )),
            "--publish-url" | "--check-url" if publish => {
                out.push(Source::new(SourceKind::Registry, v, origin, "publish-url"))
            }
            "--requirements"
            | "--requirement"
            | "--constraints"
            | "--constraint"
            | "--overrides"
            | "--override"
            | "--build-constraints"
            | "--build-constraint"
            | "--with-requirements"
            | "--excludes" => reqs.file(v, &cwd, origin),
            "--editable" | "--with-editable" | "--from" => out.extend(spec_source(v, origin)),
            "--with" => {
                for p in v.split(',') {
                    out.extend(spec_source(p, origin.clone()));
                }
            }
            _ => {}
        }
    }
    for var in [
        "UV_CONSTRAINT",
        "UV_OVERRIDE",
        "UV_BUILD_CONSTRAINT",
        "UV_EXCLUDE",
    ] {
        if let Some(v) = env_path(req, var) {
            for p in v.split_whitespace() {
                reqs.file(p, &cwd, Origin::env(var));
            }
        }
    }

    // Positionals: specs (`uv pip install`, `uv add`, `uv tool install`),
    // requirement files (`uv pip sync/compile`), the run target.
    let specs: &[String] = if uvx { &[] } else { &cli.positionals[..] };
    let skip = match (cmd.as_str(), sub.as_str()) {
        ("pip", "install" | "uninstall") | ("tool", "install" | "upgrade") => 2,
        ("add", _) => 1,
        _ => usize::MAX,
    };
    if matches!(verb, Verb::Install | Verb::Execute) && skip != usize::MAX {
        for s in specs.iter().skip(skip) {
            out.extend(spec_source(s, Origin::arg(s.as_str())));
            // `uv pip install DIR` builds that project with its dependencies.
            if pip && target_kind(s) == Some(SourceKind::Path) {
                reqs.file(
                    &format!("{s}/pyproject.toml"),
                    &cwd,
                    Origin::arg(s.as_str()),
                );
            }
        }
    }
    if pip && matches!(sub.as_str(), "sync" | "compile") {
        for s in specs.iter().skip(2) {
            reqs.file(s, &cwd, Origin::arg(s.as_str()));
        }
    }
    let mut script: Option<PathBuf> = None;
    if let Some(t) = &cli.target {
        let origin = Origin::arg(t.as_str());
        if cmd == "run" {
            let lower = t.to_ascii_lowercase();
            if lower.starts_with("http://") || lower.starts_with("https://") {
                // `uv run https://…/script.py` downloads and runs it.
                out.push(Source::new(
                    SourceKind::Direct,
                    t.as_str(),
                    origin,
                    "script",
                ));
            } else if lower.ends_with(".py")
                || lower.ends_with(".pyw")
                || cli.flag("--script")
                || cli.flag("-s")
            {
                script = Some(normalize(&cwd.join(t)));
            }
        } else if cli.last("--from").is_none() {
            // uvx PKG / uv tool run PKG
            out.extend(spec_source(t, origin));
        }
    }
    if let Some(s) = cli.last("--script").filter(|_| cmd != "run") {
        script = Some(normalize(&cwd.join(s)));
    }
    // A script with inline metadata runs outside the project.
    let script_mode = match &script {
        Some(s) => script_sources(req, s, pip, &mut out),
        None => false,
    };
    out.extend(std::mem::take(&mut reqs.out));

    // 4. The project: its manifest and lockfile.
    let project_cmd = matches!(
        cmd.as_str(),
        "run" | "sync" | "lock" | "add" | "remove" | "export" | "tree" | "version" | "build"
    );
    if project_cmd && !cli.flag("--no-project") && !script_mode {
        let frozen = cli.flag("--frozen") || req.env.get("UV_FROZEN").is_some_and(|v| !falsy(&v));
        let mut roots: Vec<PathBuf> = Vec::new();
        if let Some(p) = project_dir
            .ancestors()
            .find(|d| req.files.exists(&d.join("pyproject.toml")))
        {
            roots.push(p.to_path_buf());
        }
        if let Some(r) = workspace_root(req, &project_dir) {
            if !roots.contains(&r) {
                roots.push(r);
            }
        }
        for root in &roots {
            let path = root.join("pyproject.toml");
            if !manifests.iter().any(|m| m.path == path) {
                match read_manifest(req, path.clone()) {
                    Some(m) => manifests.push(m),
                    None => continue,
                }
            }
            let Some(m) = manifests.iter().find(|m| m.path == path) else {
                continue;
            };
            out.extend(project_specs(&m.items, &m.path, true));
            // Indexes a workspace pyproject names are used for its
            // `[tool.uv.sources]` even where a `uv.toml` masks its settings.
            out.extend(
                config_sources(&m.items, 2, &m.path, false, publish)
                    .into_iter()
                    .filter(|s| s.subject == "index"),
            );
            if verb != Verb::Publish {
                let lock = root.join("uv.lock");
                if let Some(text) = req.files.read(&lock) {
                    out.extend(uv_lock_sources(&text, &lock, !frozen));
                }
            }
        }
    }

    // 5. The default index, unless something names one; --no-index drops indexes.
    let mut v = out.0;
    if cli.flag("--no-index") {
        v.retain(|s| {
            !matches!(s.kind, SourceKind::Registry | SourceKind::ExtraIndex)
                || s.subject.starts_with("publish")
        });
    } else if !v.iter().any(names_default_index) {
        v.insert(
            0,
            Source::new(
                SourceKind::Registry,
                "builtin",
                Origin::Builtin,
                "default-index",
            )
            .overridable(),
        );
    }
    if publish && !v.iter().any(|s| s.subject.starts_with("publish")) {
        v.push(Source::new(
            SourceKind::Registry,
            "builtin",
            Origin::Builtin,
            "publish-url",
        ));
    }
    v
}

/// Whether `s` sets the default index (so the built-in one is not used).
fn names_default_index(s: &Source) -> bool {
    match s.kind {
        SourceKind::Registry => !s.subject.starts_with("publish"),
        SourceKind::Path => matches!(s.subject.as_str(), "index-url" | "default-index"),
        _ => false,
    }
}

/// The nearest ancestor of `start` whose `pyproject.toml` has
/// `[tool.uv.workspace]`.
fn workspace_root(req: &Request<'_>, start: &Path) -> Option<PathBuf> {
    for dir in start.ancestors() {
        let py = dir.join("pyproject.toml");
        if !req.files.exists(&py) {
            continue;
        }
        let text = req.files.read(&py)?;
        if text.contains("workspace") && has_table(&toml_items(&text), &["tool", "uv", "workspace"])
        {
            return Some(dir.to_path_buf());
        }
    }
    None
}

/// The user config file, then the first system config file found.
fn user_system_files(req: &Request<'_>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if cfg!(windows) {
        if let Some(appdata) = req.env.get("APPDATA") {
            files.push(PathBuf::from(appdata).join("uv").join("uv.toml"));
        }
        let sys = req
            .env
            .get("SYSTEMDRIVE")
            .map(|d| PathBuf::from(format!("{d}\\")))
            .unwrap_or_else(|| PathBuf::from("C:\\"));
        files.push(sys.join("ProgramData").join("uv").join("uv.toml"));
        return files;
    }
    let xdg = req
        .env
        .get("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| req.home.map(|h| h.join(".config")));
    if let Some(x) = xdg {
        files.push(x.join("uv").join("uv.toml"));
    }
    let dirs = req
        .env
        .get("XDG_CONFIG_DIRS")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "/etc/xdg".into());
    let system = dirs
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join("uv").join("uv.toml"))
        .chain(std::iter::once(PathBuf::from("/etc/uv/uv.toml")))
        .find(|p| req.files.exists(p));
    files.extend(system);
    files
}

// ---------------------------------------------------------------------------
// Forcing.

/// Whether two index URLs name the same index (trailing slash, case of the
/// scheme and host aside).
pub(super) fn same_index(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        let s = s.trim().trim_end_matches('/');
        match s.split_once("://") {
            Some((sch, rest)) => {
                let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                format!(
                    "{}://{}{}",
                    sch.to_ascii_lowercase(),
                    host.to_ascii_lowercase(),
                    path
                )
            }
            None => s.to_string(),
        }
    };
    norm(a) == norm(b)
}

/// `[mirrors] pypi` for uv: `UV_DEFAULT_INDEX` (beats every other default
/// index: config, `UV_INDEX_URL`, requirement files, scripts and even
/// `--index-url`); unapproved `UV_INDEX` / `UV_EXTRA_INDEX_URL` /
/// `UV_FIND_LINKS` / `UV_INSECURE_HOST` values are emptied. A lockfile made
/// against another index is re-resolved against the mirror — unless
/// `--frozen`. Config files' extra indexes cannot be removed from the
/// environment: they stay to be checked.
pub(super) fn force(
    args: &[String],
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    let _ = args;
    let mut env: Vec<(String, String)> = vec![("UV_DEFAULT_INDEX".into(), mirror.into())];
    let mut overridden = Vec::new();
    let mut remaining = Vec::new();
    // A lockfile resolved against the mirror itself is used as written.
    let lock_fresh = sources
        .iter()
        .any(|s| s.kind == SourceKind::Locked && same_index(&s.value, mirror));
    let mut clear: Vec<&str> = Vec::new();
    for s in sources {
        let var = match &s.origin {
            Origin::Env { var } => Some(var.as_str()),
            _ => None,
        };
        let take = s.overridable
            && match s.kind {
                SourceKind::Registry => true,
                SourceKind::Path => matches!(s.subject.as_str(), "index-url" | "default-index"),
                SourceKind::ExtraIndex | SourceKind::FindLinks | SourceKind::Insecure => {
                    var.is_some() && !approved(s)
                }
                SourceKind::Locked => !lock_fresh && !approved(s),
                _ => false,
            };
        if !take {
            remaining.push(s.clone());
            continue;
        }
        if let Some(v) = var {
            if matches!(
                s.kind,
                SourceKind::ExtraIndex | SourceKind::FindLinks | SourceKind::Insecure
            ) && !clear.contains(&v)
            {
                clear.push(v);
            }
        }
        overridden.push(s.clone());
    }
    for v in clear {
        env.push((v.to_string(), String::new()));
    }
    Some(Plan {
        env,
        overridden,
        remaining,
        ..Plan::default()
    })
}

/// Table-test helpers shared with the poetry/pipenv/pipx tests.
#[cfg(test)]
pub(super) mod testing {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use crate::classify::source::fake::{FakeEnv, FakeFiles};
    use crate::classify::{classify, force_mirror, Plan, Request, Source, SourceKind};
    use crate::tools::Tool;

    pub struct Case {
        pub tool: &'static str,
        pub args: &'static [&'static str],
        pub env: &'static [(&'static str, &'static str)],
        pub files: &'static [(&'static str, &'static str)],
        /// (kind, value, origin as displayed, overridable) that must be found.
        pub want: &'static [(SourceKind, &'static str, &'static str, bool)],
        /// Values that must not be among the sources.
        pub not: &'static [&'static str],
    }

    pub const CWD: &str = "/w/proj/sub";

    pub fn run(
        tool: &str,
        args: &[&str],
        env: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> Vec<Source> {
        let env = FakeEnv(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let files = FakeFiles(
            files
                .iter()
                .map(|(p, t)| (PathBuf::from(p), t.to_string()))
                .collect::<BTreeMap<_, _>>(),
        );
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let req = Request {
            tool: Tool::by_name(tool).unwrap(),
            args: &args,
            env: &env,
            files: &files,
            cwd: Path::new(CWD),
            home: Some(Path::new("/home/u")),
            real_tool: None,
        };
        classify(&req).sources
    }

    pub fn check(cases: &[Case]) {
        for c in cases {
            let got = run(c.tool, c.args, c.env, c.files);
            for (kind, value, origin, ov) in c.want {
                assert!(
                    got.iter().any(|s| s.kind == *kind
                        && s.value == *value
                        && s.origin.to_string() == *origin
                        && s.overridable == *ov),
                    "{} {:?}: want {kind:?} {value} from {origin} (overridable {ov})\n got {got:#?}",
                    c.tool,
                    c.args
                );
            }
            for v in c.not {
                assert!(
                    !got.iter().any(|s| s.value == *v),
                    "{} {:?}: {v} must not be a source\n got {got:#?}",
                    c.tool,
                    c.args
                );
            }
        }
    }

    /// Forces `mirror` with nothing approved except URLs containing `ok.test`.
    pub fn force(tool: &str, args: &[&str], sources: &[Source], mirror: &str) -> Option<Plan> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        force_mirror(
            Tool::by_name(tool).unwrap(),
            &args,
            mirror,
            sources,
            &mut |s: &Source| s.value.contains("ok.test"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{check, force, run, Case};
    use super::*;
    use SourceKind::*;

    #[test]
    fn uv_pip_install_requirements_as_uv_reads_them() {
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let w = |specs: &[(&str, bool)], files: &[&str]| -> Option<PipRequirements> {
            Some((
                specs.iter().map(|(a, e)| (a.to_string(), *e)).collect(),
                files.iter().map(|f| f.to_string()).collect(),
            ))
        };
        let cases: Vec<(Vec<&str>, Option<PipRequirements>)> = vec![
            (
                vec!["pip", "install", "--python", "py", ".", "-e", "./a"],
                w(&[(".", false), ("./a", true)], &[]),
            ),
            (
                vec![
                    "--cache-dir",
                    "c",
                    "pip",
                    "install",
                    "-e./b",
                    "--editable=c",
                    "x[y]",
                ],
                w(&[("x[y]", false), ("./b", true), ("c", true)], &[]),
            ),
            (
                vec![
                    "pip",
                    "install",
                    "-r",
                    "r.txt",
                    "--requirements=s.txt",
                    "-i",
                    "u",
                    "z",
                ],
                w(&[("z", false)], &["r.txt", "s.txt"]),
            ),
            (vec!["pip", "sync", "r.txt"], None),
            (vec!["add", "."], None),
        ];
        for (args, want) in cases {
            assert_eq!(pip_install_requirements(&s(&args)), want, "{args:?}");
        }
    }

    fn items(t: &str) -> Vec<(String, String, usize)> {
        toml_items(t)
            .into_iter()
            .map(|it| {
                let p: Vec<String> = it
                    .path
                    .iter()
                    .map(|s| match s {
                        Seg::Key(k) => k.to_string(),
                        Seg::Idx(i) => format!("[{i}]"),
                    })
                    .collect();
                let v = match &it.value {
                    Scalar::Str(s) => s.to_string(),
                    Scalar::Bool(b) => b.to_string(),
                    Scalar::Other => "?".into(),
                };
                (p.join("."), v, it.line)
            })
            .collect()
    }

    #[test]
    fn toml_scanner_paths() {
        let t = "# c\nname = \"x\" # trailing\n[tool.uv]\nindex-url = 'http://a.test/'\n\"extra-index-url\" = [\n  \"http://b.test/\", # c\n  'http://c.test/',\n]\n[[tool.uv.index]]\nurl = \"http://d\\u002etest/\"\ndefault = true\n[[tool.uv.index]]\nurl = \"\"\"\nhttp://e.test/\"\"\"\n[tool.uv.sources]\nx = { git = \"https://f.test/r\", rev = \"1\" }\ny = [{ url = 'http://g.test/y.whl', marker = \"sys_platform == 'linux'\" }]\n[[package]]\nsource.registry = \"http://h.test/\"\n[package.metadata]\nn = 1979-05-27 07:32:00Z\n[[package]]\nwheels = [{ url = \"http://i.test/w.whl\" }]\n";
        let got = items(t);
        let want = [
            ("name", "x", 2),
            ("tool.uv.index-url", "http://a.test/", 4),
            ("tool.uv.extra-index-url.[0]", "http://b.test/", 6),
            ("tool.uv.extra-index-url.[1]", "http://c.test/", 7),
            ("tool.uv.index.[0].url", "http://d.test/", 10),
            ("tool.uv.index.[0].default", "true", 11),
            ("tool.uv.index.[1].url", "http://e.test/", 13),
            ("tool.uv.sources.x.git", "https://f.test/r", 16),
            ("tool.uv.sources.y.[0].url", "http://g.test/y.whl", 17),
            ("package.[0].source.registry", "http://h.test/", 19),
            ("package.[0].metadata.n", "?", 21),
            ("package.[1].wheels.[0].url", "http://i.test/w.whl", 23),
        ];
        for (p, v, l) in want {
            assert!(
                got.iter()
                    .any(|(gp, gv, gl)| gp == p && gv == v && *gl == l),
                "{p} = {v} at {l}\n{got:#?}"
            );
        }
    }

    #[test]
    fn toml_scanner_survives_garbage() {
        // Deep nesting, unterminated strings, bad escapes, random bytes.
        let deep = format!(
            "a = {}1{}\nb = \"ok\"\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(items(&deep).iter().any(|(p, v, _)| p == "b" && v == "ok"));
        for t in [
            "a = \"unterminated\nb = 'x'\n",
            "a = \"\\q\"\nb = 'x'\n",
            "[[\n]]]\n[a.\nb = 'x'\n",
            "a = \"\"\"never closed\n",
            "a = '''x''''' \nb = 'x'\n",
            "= = =\n\"\\u\" = 1\nb = 'x'\n",
            "a = { b = { c = [ { d = \nb = 'x'\n",
            "\u{feff}b = 'x'\n",
            "a = \"\\U0011FFFF\"\nb = 'x'\n",
        ] {
            let got = items(t);
            assert!(
                got.iter().any(|(p, v, _)| p == "b" && v == "x") || t.contains("never"),
                "{t:?}: {got:?}"
            );
        }
        // A cheap deterministic fuzz: no input panics.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet = b"[]{}=\"'.,#\\\n \tabcuU0123456789-_:/";
        for _ in 0..3000 {
            let len = (seed % 64) as usize;
            let mut s = String::new();
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize] as char);
            }
            let _ = items(&s);
            let _ = uv_lock_sources(&s, std::path::Path::new("/x/uv.lock"), true);
        }
    }

    #[test]
    fn verbs() {
        let cases: &[(&str, &[&str], Verb)] = &[
            ("uvx", &["ruff"], Verb::Execute),
            ("uv", &["pip", "install", "x"], Verb::Install),
            ("uv", &["--directory", "d", "sync"], Verb::Install),
            ("uv", &["--color", "never", "run", "x"], Verb::Execute),
            ("uv", &["tool", "run", "x"], Verb::Execute),
            ("uv", &["tool", "install", "x"], Verb::Install),
            ("uv", &["tool", "list"], Verb::Other),
            ("uv", &["add", "x"], Verb::Install),
            ("uv", &["lock"], Verb::Install),
            ("uv", &["venv"], Verb::Install),
            ("uv", &["publish"], Verb::Publish),
            ("uv", &["pip", "list"], Verb::Other),
            ("uv", &["--version"], Verb::Other),
            ("uv", &["cache", "clean"], Verb::Other),
        ];
        for (tool, args, want) in cases {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert_eq!(verb(tool, &args), *want, "{tool} {args:?}");
        }
    }

    const B: &str = "the tool's built-in default";

    #[test]
    fn the_command_words_are_found_past_global_options() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            command_at(&v(&["--cache-dir", "/c", "-q", "pip", "install", "x"])),
            ("pip".to_string(), vec![3, 4])
        );
        assert_eq!(
            command_at(&v(&["--directory=/d", "sync"])),
            ("sync".to_string(), vec![1])
        );
        assert_eq!(command_at(&v(&["--version"])), (String::new(), vec![]));
    }

    #[test]
    fn command_line_and_environment() {
        check(&[
            Case {
                tool: "uv",
                args: &["pip", "install", "six"],
                env: &[],
                files: &[],
                want: &[(Registry, "builtin", B, true)],
                not: &[],
            },
            Case {
                tool: "uv",
                args: &[
                    "pip",
                    "install",
                    "-i",
                    "http://a.test/simple",
                    "--extra-index-url=http://b.test/simple",
                    "-fhttp://c.test/links",
                    "--trusted-host",
                    "a.test",
                    "--index",
                    "corp=http://d.test/simple",
                    "--default-index",
                    "http://e.test/simple",
                    "six",
                ],
                env: &[],
                files: &[],
                want: &[
                    // UV_DEFAULT_INDEX beats -i (verified): overridable.
                    (
                        Registry,
                        "http://a.test/simple",
                        "the command-line flag -i",
                        true,
                    ),
                    (
                        ExtraIndex,
                        "http://b.test/simple",
                        "the command-line flag --extra-index-url",
                        false,
                    ),
                    (
                        FindLinks,
                        "http://c.test/links",
                        "the command-line flag -f",
                        false,
                    ),
                    (
                        Insecure,
                        "a.test",
                        "the command-line flag --trusted-host",
                        false,
                    ),
                    (
                        ExtraIndex,
                        "http://d.test/simple",
                        "the command-line flag --index",
                        false,
                    ),
                    (
                        Registry,
                        "http://e.test/simple",
                        "the command-line flag --default-index",
                        false,
                    ),
                ],
                not: &["builtin"],
            },
            Case {
                tool: "uv",
                args: &[
                    "pip",
                    "compile",
                    "-i=http://a.test/simple",
                    "--allow-insecure-host=h.test",
                    "in.txt",
                ],
                env: &[],
                files: &[],
                want: &[
                    (
                        Registry,
                        "http://a.test/simple",
                        "the command-line flag -i",
                        true,
                    ),
                    (
                        Insecure,
                        "h.test",
                        "the command-line flag --allow-insecure-host",
                        false,
                    ),
                ],
                not: &[],
            },
            Case {
                tool: "uv",
                args: &["sync"],
                env: &[
                    ("UV_DEFAULT_INDEX", "http://a.test/simple"),
                    ("UV_INDEX_URL", "http://b.test/simple"),
                    ("UV_INDEX", "x=http://c.test/simple  http://d.test/simple"),
                    (
                        "UV_EXTRA_INDEX_URL",
                        "http://e.test/simple http://f.test/simple",
                    ),
                    ("UV_FIND_LINKS", "http://g.test/,/local/wheels"),
                    ("UV_INSECURE_HOST", "h.test i.test"),
                    ("UV_PYTHON_INSTALL_MIRROR", "http://j.test/python"),
                ],
                files: &[],
                want: &[
                    (
                        Registry,
                        "http://a.test/simple",
                        "the environment variable UV_DEFAULT_INDEX",
                        true,
                    ),
                    (
                        Registry,
                        "http://b.test/simple",
                        "the environment variable UV_INDEX_URL",
                        true,
                    ),
                    (
                        ExtraIndex,
                        "http://c.test/simple",
                        "the environment variable UV_INDEX",
                        true,
                    ),
                    (
                        ExtraIndex,
                        "http://d.test/simple",
                        "the environment variable UV_INDEX",
                        true,
                    ),
                    (
                        ExtraIndex,
                        "http://f.test/simple",
                        "the environment variable UV_EXTRA_INDEX_URL",
                        true,
                    ),
                    (
                        FindLinks,
                        "http://g.test/",
                        "the environment variable UV_FIND_LINKS",
                        true,
                    ),
                    (
                        Path,
                        "/local/wheels",
                        "the environment variable UV_FIND_LINKS",
                        true,
                    ),
                    (
                        Insecure,
                        "i.test",
                        "the environment variable UV_INSECURE_HOST",
                        true,
                    ),
                    (
                        Direct,
                        "http://j.test/python",
                        "the environment variable UV_PYTHON_INSTALL_MIRROR",
                        false,
                    ),
                ],
                not: &["builtin"],
            },
            Case {
                // Specs: uv add / uv pip install / uv tool install.
                tool: "uv",
                args: &[
                    "add",
                    "git+https://a.test/r.git",
                    "x @ https://b.test/x.whl",
                    "./local",
                    "y>=1",
                    "--marker",
                    "python_version > '3'",
                    "--branch",
                    "main",
                ],
                env: &[],
                files: &[],
                want: &[
                    (
                        Git,
                        "git+https://a.test/r.git",
                        "the command-line argument `git+https://a.test/r.git`",
                        false,
                    ),
                    (
                        Direct,
                        "https://b.test/x.whl",
                        "the command-line argument `x @ https://b.test/x.whl`",
                        false,
                    ),
                    (
                        Path,
                        "./local",
                        "the command-line argument `./local`",
                        false,
                    ),
                ],
                not: &["main"],
            },
            Case {
                // uvx: the first positional is the package; what follows is its arguments.
                tool: "uvx",
                args: &[
                    "--with",
                    "a @ https://a.test/a.whl,b",
                    "--python",
                    "3.12",
                    "git+https://b.test/tool",
                    "https://not-a-source.test/",
                ],
                env: &[],
                files: &[],
                want: &[
                    (
                        Direct,
                        "https://a.test/a.whl",
                        "the command-line flag --with",
                        false,
                    ),
                    (
                        Git,
                        "git+https://b.test/tool",
                        "the command-line argument `git+https://b.test/tool`",
                        false,
                    ),
                ],
                not: &["https://not-a-source.test/"],
            },
            Case {
                tool: "uv",
                args: &[
                    "tool",
                    "run",
                    "--from",
                    "git+https://a.test/t",
                    "tool",
                    "--index-url",
                    "http://arg.test/",
                ],
                env: &[],
                files: &[],
                want: &[(
                    Git,
                    "git+https://a.test/t",
                    "the command-line flag --from",
                    false,
                )],
                not: &["http://arg.test/"],
            },
            Case {
                // uv run: the target's own arguments are not uv's.
                tool: "uv",
                args: &[
                    "run",
                    "--with",
                    "x @ https://a.test/x.whl",
                    "pip",
                    "install",
                    "--index-url",
                    "http://arg.test/",
                    "git+https://arg.test/r",
                ],
                env: &[],
                files: &[],
                want: &[(
                    Direct,
                    "https://a.test/x.whl",
                    "the command-line flag --with",
                    false,
                )],
                not: &["http://arg.test/", "git+https://arg.test/r"],
            },
            Case {
                tool: "uv",
                args: &["run", "https://a.test/script.py"],
                env: &[],
                files: &[],
                want: &[(
                    Direct,
                    "https://a.test/script.py",
                    "the command-line argument `https://a.test/script.py`",
                    false,
                )],
                not: &[],
            },
            Case {
                // --no-index: no index is used.
                tool: "uv",
                args: &[
                    "pip",
                    "install",
                    "--no-index",
                    "-f",
                    "./wheels",
                    "-i",
                    "http://a.test/",
                    "x",
                ],
                env: &[("UV_INDEX", "http://b.test/")],
                files: &[],
                want: &[(Path, "./wheels", "the command-line flag -f", false)],
                not: &["builtin", "http://a.test/", "http://b.test/"],
            },
        ]);
    }

    #[test]
    fn config_files() {
        const UV_TOML: &str = "index-url = \"http://a.test/simple\"\nextra-index-url = [\"http://b.test/simple\"]\nfind-links = [\"http://c.test/links\"]\nallow-insecure-host = [\"c.test\"]\n[[index]]\nname = \"corp\"\nurl = \"http://d.test/simple\"\nexplicit = true\n[[index]]\nurl = \"http://e.test/simple\"\ndefault = true\n[[index]]\nurl = \"http://f.test/flat/\"\nformat = \"flat\"\n[pip]\nindex-url = \"http://g.test/simple\"\n";
        check(&[
            Case {
                // Found from a parent of the working directory.
                tool: "uv",
                args: &["lock"],
                env: &[],
                files: &[("/w/uv.toml", UV_TOML)],
                want: &[
                    (Registry, "http://a.test/simple", "/w/uv.toml:1", true),
                    (ExtraIndex, "http://b.test/simple", "/w/uv.toml:2", false),
                    (FindLinks, "http://c.test/links", "/w/uv.toml:3", false),
                    (Insecure, "c.test", "/w/uv.toml:4", false),
                    (ExtraIndex, "http://d.test/simple", "/w/uv.toml:7", false),
                    (Registry, "http://e.test/simple", "/w/uv.toml:10", true),
                    (FindLinks, "http://f.test/flat/", "/w/uv.toml:13", false),
                ],
                // [pip] is for `uv pip` only.
                not: &["http://g.test/simple", "builtin"],
            },
            Case {
                tool: "uv",
                args: &["pip", "install", "x"],
                env: &[],
                files: &[("/w/uv.toml", UV_TOML)],
                want: &[(Registry, "http://g.test/simple", "/w/uv.toml:16", true)],
                not: &[],
            },
            Case {
                // The nearest settings file wins: uv.toml in /w/proj stops the walk;
                // user and system files add to it.
                tool: "uv",
                args: &["sync"],
                env: &[("XDG_CONFIG_DIRS", "/opt/xdg")],
                files: &[
                    ("/w/proj/uv.toml", "[[index]]\nurl = \"http://a.test/\"\n"),
                    ("/w/uv.toml", "[[index]]\nurl = \"http://b.test/\"\n"),
                    ("/home/u/.config/uv/uv.toml", "[[index]]\nurl = \"http://c.test/\"\n"),
                    ("/opt/xdg/uv/uv.toml", "[[index]]\nurl = \"http://d.test/\"\n"),
                    ("/etc/uv/uv.toml", "[[index]]\nurl = \"http://e.test/\"\n"),
                ],
                want: &[
                    (ExtraIndex, "http://a.test/", "/w/proj/uv.toml:2", false),
                    (ExtraIndex, "http://c.test/", "/home/u/.config/uv/uv.toml:2", false),
                    (ExtraIndex, "http://d.test/", "/opt/xdg/uv/uv.toml:2", false),
                    (Registry, "builtin", B, true),
                ],
                not: &["http://b.test/", "http://e.test/"],
            },
            Case {
                // pyproject.toml [tool.uv]; a pyproject without it does not stop the walk.
                tool: "uv",
                args: &["pip", "install", "x"],
                env: &[],
                files: &[
                    ("/w/proj/sub/pyproject.toml", "[project]\nname = \"x\"\n"),
                    ("/w/proj/pyproject.toml", "[project]\nname = \"y\"\n\n[tool.uv]\nextra-index-url = [\"http://a.test/\"]\n[tool.uv.pip]\nextra-index-url = [\"http://b.test/\"]\n"),
                ],
                want: &[
                    (ExtraIndex, "http://a.test/", "/w/proj/pyproject.toml:5", false),
                    (ExtraIndex, "http://b.test/", "/w/proj/pyproject.toml:7", false),
                ],
                not: &[],
            },
            Case {
                // --config-file (or UV_CONFIG_FILE) is the only file read.
                tool: "uv",
                args: &["pip", "install", "--config-file", "../alt.toml", "x"],
                env: &[],
                files: &[
                    ("/w/proj/alt.toml", "index-url = \"http://a.test/\"\n"),
                    ("/w/uv.toml", "index-url = \"http://b.test/\"\n"),
                    ("/home/u/.config/uv/uv.toml", "index-url = \"http://c.test/\"\n"),
                ],
                want: &[(Registry, "http://a.test/", "/w/proj/alt.toml:1", true)],
                not: &["http://b.test/", "http://c.test/"],
            },
            Case {
                tool: "uv",
                args: &["pip", "install", "x"],
                env: &[("UV_CONFIG_FILE", "/etc/alt.toml")],
                files: &[("/etc/alt.toml", "[pip]\nfind-links = [\"http://a.test/\"]\n"), ("/w/uv.toml", "index-url = \"http://b.test/\"\n")],
                want: &[(FindLinks, "http://a.test/", "/etc/alt.toml:2", false)],
                not: &["http://b.test/"],
            },
            Case {
                // --no-config, UV_NO_CONFIG, `uv pip --isolated`: no files.
                tool: "uv",
                args: &["pip", "install", "--isolated", "x"],
                env: &[],
                files: &[("/w/uv.toml", "index-url = \"http://b.test/\"\n")],
                want: &[(Registry, "builtin", B, true)],
                not: &["http://b.test/"],
            },
            Case {
                tool: "uv",
                args: &["sync"],
                env: &[("UV_NO_CONFIG", "yes")],
                files: &[("/home/u/.config/uv/uv.toml", "index-url = \"http://b.test/\"\n")],
                want: &[(Registry, "builtin", B, true)],
                not: &["http://b.test/"],
            },
            Case {
                // A value uv does not take as true leaves config discovery on.
                tool: "uv",
                args: &["sync"],
                env: &[("UV_NO_CONFIG", "0")],
                files: &[("/home/u/.config/uv/uv.toml", "index-url = \"http://b.test/\"\n")],
                want: &[(Registry, "http://b.test/", "/home/u/.config/uv/uv.toml:1", true)],
                not: &[],
            },
            Case {
                // uvx and uv tool read only the user and system files.
                tool: "uvx",
                args: &["ruff"],
                env: &[],
                files: &[("/w/proj/sub/uv.toml", "index-url = \"http://a.test/\"\n"), ("/home/u/.config/uv/uv.toml", "extra-index-url = [\"http://c.test/\"]\n")],
                want: &[(ExtraIndex, "http://c.test/", "/home/u/.config/uv/uv.toml:1", false)],
                not: &["http://a.test/"],
            },
            Case {
                // --directory and --project move discovery.
                tool: "uv",
                args: &["--directory", "/elsewhere/a", "pip", "install", "x"],
                env: &[],
                files: &[("/elsewhere/uv.toml", "index-url = \"http://a.test/\"\n"), ("/w/uv.toml", "index-url = \"http://b.test/\"\n")],
                want: &[(Registry, "http://a.test/", "/elsewhere/uv.toml:1", true)],
                not: &["http://b.test/"],
            },
            Case {
                tool: "uv",
                args: &["sync"],
                env: &[("UV_PROJECT", "/elsewhere/p/pyproject.toml")],
                files: &[("/elsewhere/p/pyproject.toml", "[tool.uv]\nindex-url = \"http://a.test/\"\n")],
                want: &[(Registry, "http://a.test/", "/elsewhere/p/pyproject.toml:2", true)],
                not: &[],
            },
            Case {
                // A workspace member: the root's settings apply too.
                tool: "uv",
                args: &["lock"],
                env: &[],
                files: &[
                    ("/w/proj/sub/pyproject.toml", "[project]\nname = \"a\"\n[tool.uv]\ndev-dependencies = []\n"),
                    ("/w/pyproject.toml", "[project]\nname = \"root\"\n[tool.uv.workspace]\nmembers = [\"proj/sub\"]\n[[tool.uv.index]]\nurl = \"http://a.test/\"\ndefault = true\n"),
                ],
                want: &[(Registry, "http://a.test/", "/w/pyproject.toml:6", true)],
                not: &[],
            },
        ]);
    }

    #[test]
    fn project_requirements_scripts() {
        check(&[
            Case {
                tool: "uv",
                args: &["sync"],
                env: &[],
                files: &[(
                    "/w/proj/pyproject.toml",
                    "[project]\nname = \"app\"\ndependencies = [\n  \"a @ https://a.test/a.whl\",\n  \"b>=1\",\n]\n[project.optional-dependencies]\nx = [\"c @ git+https://c.test/c\"]\n[dependency-groups]\ndev = [\"d @ file:///tmp/d.whl\", {include-group = \"x\"}]\n[tool.uv.sources]\ne = { git = \"https://e.test/e.git\", tag = \"v1\" }\nf = [{ url = \"https://f.test/f.tar.gz\", marker = \"os_name == 'nt'\" }, { path = \"../f\" }]\ng = { index = \"corp\" }\n[[tool.uv.index]]\nname = \"corp\"\nurl = \"https://g.test/simple\"\nexplicit = true\n",
                )],
                want: &[
                    (Direct, "https://a.test/a.whl", "/w/proj/pyproject.toml:4", false),
                    (Git, "git+https://c.test/c", "/w/proj/pyproject.toml:8", false),
                    (Path, "file:///tmp/d.whl", "/w/proj/pyproject.toml:10", false),
                    (Git, "https://e.test/e.git", "/w/proj/pyproject.toml:12", false),
                    (Direct, "https://f.test/f.tar.gz", "/w/proj/pyproject.toml:13", false),
                    (Path, "../f", "/w/proj/pyproject.toml:13", false),
                    (ExtraIndex, "https://g.test/simple", "/w/proj/pyproject.toml:17", false),
                ],
                not: &[],
            },
            Case {
                // Requirement files: nested, ${VAR}, -i overridable (uv reads it below config/env).
                tool: "uv",
                args: &["pip", "install", "-r", "req.txt", "-c", "/abs/cons.txt"],
                env: &[("IDX", "http://a.test/simple")],
                files: &[
                    ("/w/proj/sub/req.txt", "# c\n-i ${IDX}\n--extra-index-url=http://b.test/simple  # x\n-r nested/more.txt\nsix==1.0 --hash=sha256:00\npkg @ https://c.test/p.whl\n"),
                    ("/w/proj/sub/nested/more.txt", "git+https://d.test/r.git#egg=r\n-e ../../loc\n--find-links \\\n  http://e.test/links\n"),
                    ("/abs/cons.txt", "x @ https://f.test/x.whl\n-r https://g.test/remote.txt\n"),
                ],
                want: &[
                    (Registry, "http://a.test/simple", "/w/proj/sub/req.txt:2", true),
                    (ExtraIndex, "http://b.test/simple", "/w/proj/sub/req.txt:3", false),
                    (Direct, "https://c.test/p.whl", "/w/proj/sub/req.txt:6", false),
                    (Git, "git+https://d.test/r.git#egg=r", "/w/proj/sub/nested/more.txt:1", false),
                    (Path, "../../loc", "/w/proj/sub/nested/more.txt:2", false),
                    (FindLinks, "http://e.test/links", "/w/proj/sub/nested/more.txt:3", false),
                    (Direct, "https://f.test/x.whl", "/abs/cons.txt:1", false),
                    (Direct, "https://g.test/remote.txt", "/abs/cons.txt:2", false),
                ],
                not: &["builtin"],
            },
            Case {
                // uv pip sync/compile take requirement files as arguments; UV_CONSTRAINT too.
                tool: "uv",
                args: &["pip", "compile", "pyproject.toml", "extra.in"],
                env: &[("UV_CONSTRAINT", "/abs/c.txt")],
                files: &[
                    ("/w/proj/sub/pyproject.toml", "[project]\ndependencies = [\"a @ https://a.test/a.whl\"]\n"),
                    ("/w/proj/sub/extra.in", "--index-url http://b.test/\n"),
                    ("/abs/c.txt", "--extra-index-url http://c.test/\n"),
                ],
                want: &[
                    (Direct, "https://a.test/a.whl", "/w/proj/sub/pyproject.toml:2", false),
                    (Registry, "http://b.test/", "/w/proj/sub/extra.in:1", true),
                    (ExtraIndex, "http://c.test/", "/abs/c.txt:1", false),
                ],
                not: &[],
            },
            Case {
                // A PEP 723 script: its dependencies and [tool.uv] settings; the project is not used.
                tool: "uv",
                args: &["run", "tools/s.py", "--index-url", "http://arg.test/"],
                env: &[],
                files: &[
                    ("/w/proj/sub/tools/s.py", "#!/usr/bin/env python\n# /// script\n# dependencies = [\n#   \"a @ https://a.test/a.whl\",\n# ]\n# [tool.uv]\n# index-url = \"http://b.test/simple\"\n# [[tool.uv.index]]\n# url = \"http://c.test/simple\"\n# ///\nprint(1)\n"),
                    ("/w/proj/pyproject.toml", "[project]\ndependencies = [\"p @ https://p.test/p.whl\"]\n"),
                ],
                want: &[
                    (Direct, "https://a.test/a.whl", "/w/proj/sub/tools/s.py:4", false),
                    (Registry, "http://b.test/simple", "/w/proj/sub/tools/s.py:7", true),
                    (ExtraIndex, "http://c.test/simple", "/w/proj/sub/tools/s.py:9", false),
                ],
                not: &["http://arg.test/", "https://p.test/p.whl"],
            },
        ]);
    }

    const LOCK: &str = r#"version = 1
revision = 3
requires-python = ">=3.11"

[[package]]
name = "a"
version = "1.0"
source = { registry = "http://idx.test/pypi/simple" }
sdist = { url = "http://idx.test/pypi/packages/a-1.0.tar.gz", hash = "sha256:00" }
wheels = [
    { url = "http://idx.test/pypi/packages/a-1.0-py3-none-any.whl", hash = "sha256:00" },
    { url = "http://evil.test/a-1.0-py3-none-any.whl", hash = "sha256:00" },
]

[[package]]
name = "b"
version = "1.0"
source = { registry = "http://idx.test/pypi/simple" }
wheels = [
    { url = "http://idx.test/pypi/../../evil/b.whl", hash = "sha256:00" },
]

[[package]]
name = "c"
version = "0.1"
source = { git = "https://git.test/c?rev=main#abc" }

[[package]]
name = "d"
version = "0.1"
source = { url = "https://d.test/d-0.1.tar.gz" }
sdist = { url = "https://d.test/d-0.1.tar.gz", hash = "sha256:00" }

[[package]]
name = "app"
version = "0.1"
source = { editable = "." }

[package.metadata]
requires-dist = [{ name = "x", url = "https://meta-only.test/x.whl" }]
"#;

    #[test]
    fn lockfiles() {
        check(&[
            Case {
                tool: "uv",
                args: &["sync"],
                env: &[],
                files: &[("/w/proj/pyproject.toml", "[project]\nname = \"app\"\n"), ("/w/proj/uv.lock", LOCK)],
                want: &[
                    (Locked, "http://idx.test/pypi/simple", "/w/proj/uv.lock:8", true),
                    (Locked, "http://evil.test/a-1.0-py3-none-any.whl", "/w/proj/uv.lock:12", true),
                    (Locked, "http://idx.test/pypi/../../evil/b.whl", "/w/proj/uv.lock:20", true),
                    (Git, "https://git.test/c?rev=main#abc", "/w/proj/uv.lock:26", false),
                    (Locked, "https://d.test/d-0.1.tar.gz", "/w/proj/uv.lock:31", true),
                ],
                not: &[
                    "http://idx.test/pypi/packages/a-1.0.tar.gz",
                    "http://idx.test/pypi/packages/a-1.0-py3-none-any.whl",
                    "https://meta-only.test/x.whl",
                ],
            },
            Case {
                // --frozen installs the lock as written: nothing overrides it.
                tool: "uv",
                args: &["sync", "--frozen"],
                env: &[],
                files: &[("/w/proj/pyproject.toml", "[project]\nname = \"app\"\n"), ("/w/proj/uv.lock", LOCK)],
                want: &[(Locked, "http://evil.test/a-1.0-py3-none-any.whl", "/w/proj/uv.lock:12", false)],
                not: &[],
            },
            Case {
                tool: "uv",
                args: &["run", "python", "-c", "1"],
                env: &[("UV_FROZEN", "1")],
                files: &[("/w/proj/pyproject.toml", "[project]\nname = \"app\"\n"), ("/w/proj/uv.lock", LOCK)],
                want: &[(Locked, "http://idx.test/pypi/simple", "/w/proj/uv.lock:8", false)],
                not: &[],
            },
            Case {
                // pylock.toml as a requirements file.
                tool: "uv",
                args: &["pip", "install", "-r", "pylock.toml"],
                env: &[],
                files: &[("/w/proj/sub/pylock.toml", "lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nindex = \"http://idx.test/simple\"\nwheels = [{ url = \"http://idx.test/packages/a.whl\" }, { url = \"http://evil.test/a.whl\" }]\n[[packages]]\nname = \"b\"\nvcs = { type = \"git\", url = \"https://git.test/b\" }\n")],
                want: &[
                    (Locked, "http://idx.test/simple", "/w/proj/sub/pylock.toml:4", false),
                    (Locked, "http://evil.test/a.whl", "/w/proj/sub/pylock.toml:5", false),
                    (Git, "https://git.test/b", "/w/proj/sub/pylock.toml:8", false),
                ],
                not: &["http://idx.test/packages/a.whl"],
            },
        ]);
    }

    #[test]
    fn index_home_rule() {
        let h = index_home("http://Idx.test:8080/pypi/simple/").unwrap();
        assert_eq!(h, "http://idx.test:8080/pypi/");
        assert!(under_home("http://idx.test:8080/pypi/packages/a.whl", &h));
        assert!(under_home("HTTP://IDX.TEST:8080/pypi/packages/a.whl", &h));
        assert!(!under_home("http://idx.test:80800/pypi/a.whl", &h));
        assert!(!under_home("http://idx.test:8080@evil.test/pypi/a.whl", &h));
        assert!(!under_home("http://idx.test:8080/pypi/%2E%2E/x.whl", &h));
        assert!(!under_home("http://idx.test:8080/PYPI/a.whl", &h));
        assert!(!under_home("http://idx.test:8080/pypi\\..\\x", &h));
        assert_eq!(index_home("https://h.test").unwrap(), "https://h.test/");
        assert!(index_home("http://u:p@h.test/simple").is_none());
    }

    #[test]
    fn forcing() {
        let files: &[(&str, &str)] = &[
            ("/w/proj/uv.toml", "index-url = \"http://cfg.test/\"\nextra-index-url = [\"http://cfgx.test/\"]\n[[index]]\nurl = \"http://cfgd.test/\"\ndefault = true\n"),
            ("/w/proj/pyproject.toml", "[project]\nname = \"app\"\n"),
            ("/w/proj/uv.lock", LOCK),
        ];
        let env = [
            ("UV_INDEX", "http://envx.test/ http://ok.test/x"),
            ("UV_FIND_LINKS", "http://ok.test/links"),
            ("UV_INSECURE_HOST", "h.test"),
        ];
        let args = ["sync", "-i", "http://cli.test/"];
        let sources = run("uv", &args, &env, files);
        let plan = force("uv", &args, &sources, "http://127.0.0.1:1/simple/").unwrap();
        let env: Vec<(&str, &str)> = plan
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            env,
            [
                ("UV_DEFAULT_INDEX", "http://127.0.0.1:1/simple/"),
                ("UV_INDEX", ""),
                ("UV_INSECURE_HOST", ""),
            ]
        );
        let over: Vec<&str> = plan.overridden.iter().map(|s| s.value.as_str()).collect();
        for v in [
            "http://cfg.test/",
            "http://cfgd.test/",
            "http://cli.test/",
            "http://envx.test/",
            "h.test",
            "http://idx.test/pypi/simple",
            "http://evil.test/a-1.0-py3-none-any.whl",
        ] {
            assert!(over.contains(&v), "{v} not overridden: {over:?}");
        }
        let rem: Vec<&str> = plan.remaining.iter().map(|s| s.value.as_str()).collect();
        // Config extras cannot be removed; approved env values are left alone; git stays.
        for v in [
            "http://cfgx.test/",
            "http://ok.test/x",
            "http://ok.test/links",
            "https://git.test/c?rev=main#abc",
        ] {
            assert!(rem.contains(&v), "{v} not remaining: {rem:?}");
        }
        // A lock resolved against the mirror is used as written: its URLs stay checked.
        let lock = LOCK.replace("http://idx.test/pypi/simple", "http://127.0.0.1:1/simple");
        let files2: Vec<(&str, &str)> = vec![
            ("/w/proj/pyproject.toml", "[project]\nname = \"app\"\n"),
            ("/w/proj/uv.lock", &lock),
        ];
        let sources = run("uv", &["sync"], &[], &files2);
        let plan = force("uv", &["sync"], &sources, "http://127.0.0.1:1/simple/").unwrap();
        assert!(plan
            .remaining
            .iter()
            .any(|s| s.value == "http://evil.test/a-1.0-py3-none-any.whl"));
        // --frozen: the lock is not overridden.
        let sources = run("uv", &["sync", "--frozen"], &[], files);
        let plan = force(
            "uv",
            &["sync", "--frozen"],
            &sources,
            "http://127.0.0.1:1/simple/",
        )
        .unwrap();
        assert!(plan
            .remaining
            .iter()
            .any(|s| s.value == "http://idx.test/pypi/simple"));
        // --default-index on the command line beats UV_DEFAULT_INDEX: it stays checked.
        let sources = run(
            "uv",
            &["pip", "install", "--default-index", "http://cli.test/", "x"],
            &[],
            &[],
        );
        let plan = force("uv", &[], &sources, "http://127.0.0.1:1/simple/").unwrap();
        assert!(plan.remaining.iter().any(|s| s.value == "http://cli.test/"));
    }

    #[test]
    fn hostile_inputs_never_panic() {
        // Arguments, variables and files built from fragments that stress the
        // parsers (quotes, escapes, multibyte characters, dangling options).
        let frag = [
            "-",
            "--",
            "-é",
            "-i",
            "-iе",
            "--index",
            "=",
            "é",
            "\"",
            "'",
            "\\",
            "[",
            "]",
            "{",
            "}",
            "#",
            "\n",
            " ",
            "\t",
            "@",
            "://",
            "git+",
            "file:",
            "${X}",
            "$X",
            "%2e",
            "..",
            "/",
            "run",
            "pip",
            "install",
            "tool",
            "add",
            "sync",
            ",",
            "http://a.test/",
            "x @ ",
            "\u{1F600}",
            "\r\n",
            "[[index]]",
            "url = ",
            "[tool.uv]",
            "[[tool.poetry.source]]",
            "[[source]]",
            "[[package]]",
            "# /// script",
            "# ///",
            "--pip-args",
            "--extra-pip-args",
            "--spec",
            "-C",
            "--directory",
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut pick = |len: usize| -> String {
            let mut s = String::new();
            for _ in 0..len {
                s.push_str(frag[next(frag.len())]);
            }
            s
        };
        for round in 0..400 {
            let args: Vec<String> = (0..(round % 7)).map(|_| pick(2)).collect();
            let text = pick(30);
            let files: Vec<(&str, &str)> = [
                "/w/proj/sub/uv.toml",
                "/w/proj/pyproject.toml",
                "/w/proj/uv.lock",
                "/w/proj/sub/req.txt",
                "/w/proj/sub/Pipfile",
                "/w/proj/sub/Pipfile.lock",
                "/w/proj/poetry.lock",
                "/home/u/.config/pip/pip.conf",
                "/w/proj/sub/s.py",
            ]
            .into_iter()
            .map(|p| (p, text.as_str()))
            .collect();
            let env_val = pick(3);
            let env = [
                ("UV_INDEX", env_val.as_str()),
                ("UV_FIND_LINKS", env_val.as_str()),
                ("PIP_EXTRA_INDEX_URL", env_val.as_str()),
                ("UV_WORKING_DIR", env_val.as_str()),
                ("PIPENV_PIPFILE", env_val.as_str()),
                ("UV_CONFIG_FILE", "/w/proj/sub/uv.toml"),
            ];
            for tool in ["uv", "uvx", "poetry", "pipenv", "pipx"] {
                let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
                if round % 3 == 0 {
                    a.insert(0, "-r");
                    a.insert(1, "req.txt");
                }
                let s = run(tool, &a, &env, &files);
                let _ = force(tool, &a, &s, "http://127.0.0.1:1/simple/");
            }
        }
    }

    #[test]
    fn large_lockfile_folds_to_one_source() {
        let mut lock = String::from("version = 1\nrevision = 3\n");
        for i in 0..1000 {
            lock.push_str(&format!(
                "\n[[package]]\nname = \"pkg{i}\"\nversion = \"1.0.{i}\"\nsource = {{ registry = \"https://idx.test/pypi/simple\" }}\ndependencies = [\n    {{ name = \"dep{i}\" }},\n]\nsdist = {{ url = \"https://idx.test/pypi/packages/pkg{i}-1.0.tar.gz\", hash = \"sha256:{h}\", size = 1234, upload-time = \"2024-01-01T00:00:00Z\" }}\nwheels = [\n    {{ url = \"https://idx.test/pypi/packages/pkg{i}-1.0-py3-none-any.whl\", hash = \"sha256:{h}\", size = 1234, upload-time = \"2024-01-01T00:00:00Z\" }},\n    {{ url = \"https://idx.test/pypi/packages/pkg{i}-1.0-cp311-manylinux.whl\", hash = \"sha256:{h}\", size = 1234, upload-time = \"2024-01-01T00:00:00Z\" }},\n]\n",
                h = "ab".repeat(32)
            ));
        }
        let files: Vec<(&str, &str)> = vec![("/w/proj/pyproject.toml", "[project]\nname = \"app\"\ndependencies = [\"pkg0\"]\n[tool.uv]\nindex-url = \"https://idx.test/pypi/simple\"\n"), ("/w/proj/uv.lock", &lock)];
        // Per-lock URLs are folded into one source per distinct index, so a
        // thousand-package lock yields one locked source, not thousands.
        let s = run("uv", &["sync"], &[], &files);
        assert_eq!(s.iter().filter(|s| s.kind == Locked).count(), 1);
    }
}
