//! A strict one-pass reader for the usual package-lock.json (v2/v3), the
//! hot path of a shim in front of `npm ci`.
//!
//! It validates the whole file as JSON (RFC 8259: structure, string escapes
//! and control characters, number grammar, literals, nothing after the
//! value), skips what it does not need without building anything, counts
//! lines while skipping whitespace (a raw newline can only be whitespace in
//! valid JSON), borrows the strings it reads, and hands each `packages`
//! entry to [`npm::v2_entry`](super::npm::v2_entry) — the same function the
//! serde reader uses.
//!
//! It is deliberately narrow: it returns `None` — and the serde reader, the
//! reference, reads the file instead — on anything outside the usual shape:
//! escapes in a key or in a field it reads, a field of an unexpected type,
//! a duplicate field in an entry, `dependencies` before `packages`, no
//! `packages` (lockfileVersion 1), a non-object, or any JSON error (so
//! error messages always come from serde_json). It never accepts a file
//! the serde reader rejects, and when it accepts one the result is the same
//! (a property test in `tests.rs` checks both).

use std::borrow::Cow;

use super::jsonutil::Str;
use super::npm::{v2_entry, version_warning, PkgV2};
use super::Cx;

pub(super) fn parse(cx: &mut Cx, text: &str) -> Option<()> {
    let mut sc = Scan {
        s: text,
        b: text.as_bytes(),
        i: 0,
        line: 1,
        stack: Vec::new(),
    };
    let mut version: Option<u64> = None;
    let mut saw_packages = false;
    sc.ws();
    sc.eat(b'{')?;
    sc.ws();
    if sc.peek()? == b'}' {
        // `{}`: the serde reader warns about it.
        return None;
    }
    loop {
        let key = sc.plain_string()?;
        sc.ws();
        sc.eat(b':')?;
        sc.ws();
        match key {
            "packages" => {
                saw_packages = true;
                sc.packages(cx)?;
            }
            "lockfileVersion" => version = sc.version()?,
            "dependencies" if saw_packages => sc.skip_value()?,
            "dependencies" => return None,
            _ => sc.skip_value()?,
        }
        sc.ws();
        match sc.next()? {
            b',' => sc.ws(),
            b'}' => break,
            _ => return None,
        }
    }
    sc.ws();
    if sc.i != sc.b.len() || !saw_packages {
        return None;
    }
    version_warning(cx, version);
    Some(())
}

struct Scan<'t> {
    s: &'t str,
    b: &'t [u8],
    i: usize,
    /// The 1-based line of `i`.
    line: usize,
    /// Open containers while skipping a value (`}` or `]`), reused.
    stack: Vec<u8>,
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The index of the first `"`, `\` or control character at or after `i`
/// (or the end), eight bytes at a time.
fn find_special(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let w = u64::from_le_bytes(bytes);
        let q = w ^ (LO * u64::from(b'"'));
        let bs = w ^ (LO * u64::from(b'\\'));
        // A zero byte in `q`/`bs`, or a byte below 0x20 in `w`. The lowest
        // flagged byte is always a real match.
        let m = ((q.wrapping_sub(LO) & !q)
            | (bs.wrapping_sub(LO) & !bs)
            | (w.wrapping_sub(LO * 0x20) & !w))
            & HI;
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return i;
        }
        i += 1;
    }
    b.len()
}

impl<'t> Scan<'t> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    /// Skips JSON whitespace, counting newlines.
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'\n' => {
                    self.line += 1;
                    self.i += 1;
                    // Indentation: eight spaces at a time.
                    while self.b.get(self.i..self.i + 8) == Some(b"        ") {
                        self.i += 8;
                    }
                }
                b' ' | b'\t' | b'\r' => self.i += 1,
                _ => return,
            }
        }
    }

    /// A string without escapes, borrowed (at its opening quote).
    fn plain_string(&mut self) -> Option<&'t str> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let end = find_special(self.b, start);
        if self.b.get(end) != Some(&b'"') {
            return None;
        }
        self.i = end + 1;
        self.s.get(start..end)
    }

    /// Skips a string, checking its escapes (at its opening quote).
    fn skip_string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            let at = find_special(self.b, self.i);
            match self.b.get(at)? {
                b'"' => {
                    self.i = at + 1;
                    return Some(());
                }
                b'\\' => match self.b.get(at + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i = at + 2,
                    b'u' => {
                        let hex = self.b.get(at + 2..at + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        self.i = at + 6;
                    }
                    _ => return None,
                },
                // A control character.
                _ => return None,
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }

    /// Skips a number, checking its grammar.
    fn number(&mut self) -> Option<()> {
        if self.peek()? == b'-' {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? != word {
            return None;
        }
        self.i += word.len();
        Some(())
    }

    /// A key and its colon inside an object being skipped.
    fn skip_key(&mut self) -> Option<()> {
        self.skip_string()?;
        self.ws();
        self.eat(b':')?;
        self.ws();
        Some(())
    }

    /// Skips any value (after whitespace), without recursion.
    fn skip_value(&mut self) -> Option<()> {
        let base = self.stack.len();
        loop {
            match self.peek()? {
                b'{' => {
                    self.i += 1;
                    self.ws();
                    if self.peek()? == b'}' {
                        self.i += 1;
                    } else {
                        self.stack.push(b'}');
                        self.skip_key()?;
                        continue;
                    }
                }
                b'[' => {
                    self.i += 1;
                    self.ws();
                    if self.peek()? == b']' {
                        self.i += 1;
                    } else {
                        self.stack.push(b']');
                        continue;
                    }
                }
                b'"' => self.skip_string()?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            // After a value: a comma, or closing brackets.
            loop {
                let Some(&close) = self.stack.last().filter(|_| self.stack.len() > base) else {
                    return Some(());
                };
                self.ws();
                match self.next()? {
                    b',' => {
                        self.ws();
                        if close == b'}' {
                            self.skip_key()?;
                        }
                        break;
                    }
                    c if c == close => {
                        self.stack.pop();
                    }
                    _ => return None,
                }
            }
        }
    }

    /// `lockfileVersion`: an unsigned integer as serde_json's `as_u64`
    /// reads it, `None` for other numbers; anything else gives up.
    fn version(&mut self) -> Option<Option<u64>> {
        let start = self.i;
        if !self.peek()?.is_ascii_digit() {
            return None;
        }
        self.number()?;
        let lit = self.s.get(start..self.i)?;
        Some(if lit.bytes().all(|c| c.is_ascii_digit()) {
            lit.parse().ok()
        } else {
            None
        })
    }

    fn str_or_null(&mut self) -> Option<Option<Str<'t>>> {
        match self.peek()? {
            b'"' => Some(Some(Str(Cow::Borrowed(self.plain_string()?)))),
            b'n' => self.literal(b"null").map(|()| None),
            _ => None,
        }
    }

    fn bool_or_null(&mut self) -> Option<Option<bool>> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| Some(true)),
            b'f' => self.literal(b"false").map(|()| Some(false)),
            b'n' => self.literal(b"null").map(|()| None),
            _ => None,
        }
    }

    /// The `packages` object, entry by entry.
    fn packages(&mut self, cx: &mut Cx) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let line = self.line;
            let key = self.plain_string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            let p = self.package()?;
            v2_entry(cx, line, key, &p);
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// One entry's object.
    fn package(&mut self) -> Option<PkgV2<'t>> {
        self.eat(b'{')?;
        self.ws();
        let mut p = PkgV2::default();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(p);
        }
        let mut seen = 0u8;
        let mut once = |bit: u8| -> Option<()> {
            let dup = seen & bit != 0;
            seen |= bit;
            (!dup).then_some(())
        };
        loop {
            let key = self.plain_string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            match key {
                "name" => {
                    once(1)?;
                    p.name = self.str_or_null()?;
                }
                "version" => {
                    once(2)?;
                    p.version = self.str_or_null()?;
                }
                "resolved" => {
                    once(4)?;
                    p.resolved = self.str_or_null()?;
                }
                "integrity" => {
                    once(8)?;
                    p.integrity = self.str_or_null()?;
                }
                "link" => {
                    once(16)?;
                    p.link = self.bool_or_null()?;
                }
                "inBundle" => {
                    once(32)?;
                    p.in_bundle = self.bool_or_null()?;
                }
                _ => self.skip_value()?,
            }
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b'}' => return Some(p),
                _ => return None,
            }
        }
    }
}
