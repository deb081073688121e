//! The little of HTTP/1.x the egress proxy reads: one request head, strictly.
//! Anything unusual (bare LF, obs-fold, control characters, a huge line,
//! duplicate `Host`) is refused rather than interpreted.

use std::io::{self, Read};

/// The most a request head may take (request line + headers).
pub const MAX_HEAD: usize = 32 * 1024;
/// The longest request line.
pub const MAX_LINE: usize = 8 * 1024;
pub const MAX_HEADERS: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub target: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The values of a header (name compared case-insensitively).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
pub enum HeadError {
    /// The client closed the connection before a complete head.
    Closed,
    TooLarge,
    Malformed(&'static str),
    Io(io::Error),
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeadError::Closed => f.write_str("closed before a complete request"),
            HeadError::TooLarge => write!(f, "request head larger than {MAX_HEAD} bytes"),
            HeadError::Malformed(m) => write!(f, "malformed request: {m}"),
            HeadError::Io(e) => write!(f, "reading the request: {e}"),
        }
    }
}

/// Reads up to the end of the head (`\r\n\r\n`). Returns the head's bytes
/// and whatever the client sent after it (a body, or the start of a TLS
/// handshake after CONNECT).
pub fn read_head(r: &mut impl Read) -> Result<(Vec<u8>, Vec<u8>), HeadError> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => return Err(HeadError::Closed),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HeadError::Io(e)),
        };
        let searched_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = find(&buf[searched_from..], b"\r\n\r\n") {
            let end = searched_from + i + 4;
            if end > MAX_HEAD || find(&buf, b"\r\n").is_some_and(|l| l > MAX_LINE) {
                return Err(HeadError::TooLarge);
            }
            let rest = buf.split_off(end);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        // No line break within the first MAX_LINE bytes: the request line
        // alone is too long.
        if buf.len() > MAX_LINE && find(&buf, b"\r\n").is_none() {
            return Err(HeadError::TooLarge);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses a head read by [`read_head`] (ending in `\r\n\r\n`).
pub fn parse_head(bytes: &[u8]) -> Result<Head, HeadError> {
    let bad = HeadError::Malformed;
    let body = bytes
        .strip_suffix(b"\r\n\r\n")
        .ok_or(bad("no end of head"))?;
    // Every line ends in CRLF: a bare CR or LF is refused.
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\r' if body.get(i + 1) == Some(&b'\n') => {
                lines.push(&body[start..i]);
                i += 2;
                start = i;
            }
            b'\r' | b'\n' => return Err(bad("bare CR or LF")),
            0 => return Err(bad("NUL byte")),
            _ => i += 1,
        }
    }
    lines.push(&body[start..]);
    let (first, rest) = lines.split_first().ok_or(bad("empty request"))?;
    if first.len() > MAX_LINE {
        return Err(HeadError::TooLarge);
    }
    let line = std::str::from_utf8(first).map_err(|_| bad("request line is not ASCII"))?;
    if !line.is_ascii() || line.bytes().any(|b| b.is_ascii_control()) {
        return Err(bad("request line has control or non-ASCII characters"));
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("request line is not METHOD TARGET VERSION"));
    };
    if method.is_empty() || method.len() > 20 || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad("invalid method"));
    }
    if target.is_empty() {
        return Err(bad("empty request target"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(bad("unsupported HTTP version"));
    }
    if rest.len() > MAX_HEADERS {
        return Err(HeadError::TooLarge);
    }
    let mut headers = Vec::with_capacity(rest.len());
    for l in rest {
        let colon = l
            .iter()
            .position(|&b| b == b':')
            .ok_or(bad("header line without a colon"))?;
        let (name, value) = (&l[..colon], &l[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(bad("invalid header name (or a folded header line)"));
        }
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(bad("control character in a header value"));
        }
        let value = String::from_utf8_lossy(value)
            .trim_matches([' ', '\t'])
            .to_string();
        headers.push((String::from_utf8_lossy(name).into_owned(), value));
    }
    let head = Head {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        headers,
    };
    if head.all("host").count() > 1 {
        return Err(bad("more than one Host header"));
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Head, HeadError> {
        parse_head(s.as_bytes())
    }

    #[test]
    fn good_heads() {
        let h = parse("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n").unwrap();
        assert_eq!(h.method, "CONNECT");
        assert_eq!(h.target, "a.test:443");
        assert_eq!(h.all("HOST").collect::<Vec<_>>(), ["a.test:443"]);
        let h = parse("GET http://a.test/x?y HTTP/1.0\r\nX:  v \t\r\n\r\n").unwrap();
        assert_eq!(h.headers, [("X".to_string(), "v".to_string())]);
    }

    #[test]
    fn bad_heads() {
        for s in [
            "GET http://a/ HTTP/1.1\n\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\nX: a\rb\r\n\r\n",
            "GET  http://a/ HTTP/1.1\r\n\r\n",
            "GET http://a/ HTTP/2\r\n\r\n",
            "get http://a/ HTTP/1.1\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\n folded\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\nX : y\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
            "GET http://a/\x01 HTTP/1.1\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\nX: \x00\r\n\r\n",
            "\r\n\r\n",
        ] {
            assert!(parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn read_limits() {
        let big = format!(
            "GET http://a/{} HTTP/1.1\r\n\r\n",
            "x".repeat(MAX_LINE + 10)
        );
        assert!(matches!(
            read_head(&mut big.as_bytes()),
            Err(HeadError::TooLarge)
        ));
        let many = format!(
            "GET http://a/ HTTP/1.1\r\n{}\r\n",
            "X: yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n".repeat(2000)
        );
        assert!(matches!(
            read_head(&mut many.as_bytes()),
            Err(HeadError::TooLarge)
        ));
        let (head, rest) =
            read_head(&mut &b"CONNECT a:1 HTTP/1.1\r\n\r\n\x16\x03\x01"[..]).unwrap();
        assert_eq!(rest, b"\x16\x03\x01");
        assert!(parse_head(&head).is_ok());
        assert!(matches!(
            read_head(&mut &b"GET http://a/ HTTP/1.1\r\n"[..]),
            Err(HeadError::Closed)
        ));
    }
}
