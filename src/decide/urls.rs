//! Hardened matching of a registry URL a tool would use against the URL
//! prefixes a policy approves.
//!
//! Both sides are parsed with the `url` crate (WHATWG rules) and compared
//! component by component, never as strings:
//! - scheme: equal (`http` never matches an `https` approval); cargo's
//!   `sparse+` and `registry+` prefixes are set aside on both sides;
//! - userinfo: a candidate carrying a user name or password never matches
//!   (`https://approved.example.com@evil.test/` is a URL *of evil.test* with
//!   userinfo — it fails on both counts);
//! - host: lowercased, IDNA (punycode), one trailing dot removed; domains
//!   match domains, IP literals match only the same address (the `url` crate
//!   also normalises `0x7f.1` or `2130706433` to `127.0.0.1`, so those are the
//!   same address — and nothing else);
//! - port: explicit or the scheme's default, equal;
//! - path: percent-encoding normalised (unreserved characters decoded, hex
//!   upper-cased), dot segments resolved, then a prefix on a segment boundary:
//!   `/npm` approves `/npm`, `/npm/` and `/npm/x`, never `/npm-evil`.
//!   An encoded slash (`%2F`) is not a boundary.
//!
//! Query and fragment are ignored.

use url::{Host, Url};

/// A parsed, normalised URL prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefix {
    scheme: String,
    host: NormHost,
    port: Option<u16>,
    path: String,
}

/// A host as pkgward compares it: a lowercased IDNA domain without its
/// trailing dot, or an IP address (IPv4-mapped IPv6 as IPv4).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NormHost {
    Domain(String),
    Ip(std::net::IpAddr),
    /// Schemes without a host (`file:`).
    None,
}

impl NormHost {
    /// Normalises a host parsed by the `url` crate (which already applied
    /// IDNA, lowercasing, percent-decoding and IPv4 number forms).
    pub fn from_host(host: Host<&str>) -> NormHost {
        match host {
            Host::Domain(d) => {
                NormHost::Domain(d.strip_suffix('.').unwrap_or(d).to_ascii_lowercase())
            }
            Host::Ipv4(ip) => NormHost::Ip(ip.into()),
            Host::Ipv6(ip) => NormHost::Ip(match ip.to_ipv4_mapped() {
                Some(v4) => v4.into(),
                None => ip.into(),
            }),
        }
    }

    /// Parses a bare host (`example.com`, `127.0.0.1`, `[::1]`) with the
    /// same rules as a URL's host.
    pub fn parse(s: &str) -> Result<NormHost, UrlError> {
        if s.is_empty() {
            return Err(UrlError::Invalid("empty host".into()));
        }
        let h = Host::parse(s).map_err(|e| UrlError::Invalid(e.to_string()))?;
        let n = match h {
            Host::Domain(d) => NormHost::from_host(Host::Domain(d.as_str())),
            Host::Ipv4(ip) => NormHost::Ip(ip.into()),
            Host::Ipv6(ip) => NormHost::from_host(Host::Ipv6(ip)),
        };
        match &n {
            NormHost::Domain(d) if d.is_empty() || d.starts_with('.') || d.contains("..") => {
                Err(UrlError::Invalid(format!("invalid host name `{d}`")))
            }
            _ => Ok(n),
        }
    }
}

impl std::fmt::Display for NormHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NormHost::Domain(d) => f.write_str(d),
            NormHost::Ip(std::net::IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            NormHost::Ip(ip) => write!(f, "{ip}"),
            NormHost::None => Ok(()),
        }
    }
}

/// Why a URL could not be used as a prefix or candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    Invalid(String),
    HasUserinfo,
}

impl std::fmt::Display for UrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlError::Invalid(e) => write!(f, "not a valid URL ({e})"),
            UrlError::HasUserinfo => f.write_str("carries a user name or password"),
        }
    }
}

fn strip_cargo_prefix(s: &str) -> &str {
    s.strip_prefix("sparse+")
        .or_else(|| s.strip_prefix("registry+"))
        .unwrap_or(s)
}

impl Prefix {
    pub fn parse(s: &str) -> Result<Prefix, UrlError> {
        let url = Url::parse(strip_cargo_prefix(s.trim()))
            .map_err(|e| UrlError::Invalid(e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::HasUserinfo);
        }
        let host = url.host().map_or(NormHost::None, NormHost::from_host);
        Ok(Prefix {
            scheme: url.scheme().to_string(),
            host,
            port: url.port_or_known_default(),
            path: normalise_path(url.path()),
        })
    }

    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    pub fn host(&self) -> &NormHost {
        &self.host
    }

    /// The explicit port, or the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The prefix as text a candidate can be compared with literally
    /// ([`literal_covers`]): `scheme://host[:port]/path`, for http(s)
    /// prefixes with a domain host and a path of plain characters only.
    pub fn literal(&self) -> Option<String> {
        let host = match &self.host {
            NormHost::Domain(d) => d.clone(),
            NormHost::Ip(std::net::IpAddr::V4(ip)) => ip.to_string(),
            _ => return None,
        };
        if !matches!(self.scheme.as_str(), "http" | "https")
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            || !self.path.starts_with('/')
            || !self.path.bytes().all(plain_path_byte)
            || self.path.contains("/.")
        {
            return None;
        }
        let default = if self.scheme == "https" { 443 } else { 80 };
        let port = match self.port {
            Some(p) if p != default => format!(":{p}"),
            _ => String::new(),
        };
        Some(format!("{}://{host}{port}{}", self.scheme, self.path))
    }

    /// Does `candidate` fall under this prefix?
    pub fn covers(&self, candidate: &Prefix) -> bool {
        if self.scheme != candidate.scheme
            || self.host != candidate.host
            || self.port != candidate.port
        {
            return false;
        }
        path_covers(&self.path, &candidate.path)
    }
}

/// Is `candidate` (a URL a tool would fetch from) approved by `approved`
/// (a policy entry)? Unparseable input and userinfo never match.
pub fn matches(approved: &str, candidate: &str) -> bool {
    match (Prefix::parse(approved), Prefix::parse(candidate)) {
        (Ok(a), Ok(c)) => a.covers(&c),
        _ => false,
    }
}

/// Bytes that mean the same to every URL parser in a path: no `%`
/// (decoding), `\\` (a separator in http URLs), `@` (userinfo), `?`/`#`,
/// whitespace or controls (which parsers drop).
fn plain_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'/' | b'-'
                | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
        )
}

/// A fast path for lockfiles (thousands of URLs under one prefix): does
/// `candidate` start with `literal` (from [`Prefix::literal`]) and continue
/// with plain path characters only, no dot segment? Then it parses to a URL
/// `literal`'s prefix covers. `false` means "not decided here": parse it.
pub fn literal_covers(literal: &str, candidate: &str) -> bool {
    let candidate = strip_cargo_prefix(candidate);
    let Some(rest) = candidate.strip_prefix(literal) else {
        return false;
    };
    if !literal.ends_with('/') && !rest.is_empty() && !rest.starts_with('/') {
        return false;
    }
    rest.bytes().all(plain_path_byte) && !rest.starts_with('.') && !rest.contains("/.")
}

fn path_covers(approved: &str, candidate: &str) -> bool {
    if approved.ends_with('/') {
        return candidate.starts_with(approved) || candidate == &approved[..approved.len() - 1];
    }
    candidate == approved
        || (candidate.starts_with(approved)
            && candidate.as_bytes().get(approved.len()) == Some(&b'/'))
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Decodes percent-encoded unreserved characters and upper-cases the hex of
/// the remaining escapes, so equivalent spellings compare equal.
fn normalise_path(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < b.len() {
        // `url` hands over an ASCII (percent-encoded) path.
        if let (b'%', Some(hex)) = (b[i], path.get(i + 1..i + 3)) {
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                if is_unreserved(v) {
                    out.push(v as char);
                } else {
                    out.push('%');
                    out.push_str(&hex.to_ascii_uppercase());
                }
                i += 3;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    // A decoded '.' can form new dot segments: resolve them once more.
    if out.contains("/.") {
        if let Ok(u) = Url::parse(&format!("http://x{out}")) {
            return u.path().to_string();
        }
    }
    out
}

/// Replaces the userinfo of a URL for logging (`https://***@host/`).
pub fn redact(s: &str) -> String {
    crate::record::redact::redact_urls(s).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn literal_fast_path() {
        use super::{literal_covers, Prefix};
        let l = Prefix::parse("https://R.example.com:443/npm/")
            .unwrap()
            .literal()
            .unwrap();
        assert_eq!(l, "https://r.example.com/npm/");
        assert!(literal_covers(&l, "https://r.example.com/npm/a/-/a-1.tgz"));
        for no in [
            "https://r.example.com/npm/../evil/a.tgz",
            "https://r.example.com/npm/%2e%2e/evil",
            "https://r.example.com/npm/..\\evil",
            "https://r.example.com/npm/\t../evil",
            "https://r.example.com/npm-evil/",
            "https://r.example.com/npm",
            "https://r.example.com/npm/a?x",
            "https://r.example.com/npm/./a",
        ] {
            assert!(!literal_covers(&l, no), "{no}");
        }
        let l = Prefix::parse("https://r.example.com/simple")
            .unwrap()
            .literal()
            .unwrap();
        assert!(literal_covers(&l, "https://r.example.com/simple"));
        assert!(literal_covers(&l, "https://r.example.com/simple/six/"));
        assert!(!literal_covers(&l, "https://r.example.com/simple-evil/"));
        let ip = Prefix::parse("http://127.0.0.1:4873/")
            .unwrap()
            .literal()
            .unwrap();
        assert!(literal_covers(&ip, "http://127.0.0.1:4873/a/-/a-1.tgz"));
        assert!(!literal_covers(&ip, "http://127.0.0.1:48731/a"));
        assert!(Prefix::parse("http://[::1]:4873/")
            .unwrap()
            .literal()
            .is_none());
        let c = Prefix::parse("sparse+https://index.example.com/")
            .unwrap()
            .literal()
            .unwrap();
        assert!(literal_covers(&c, "sparse+https://index.example.com/"));
    }

    use super::*;

    #[test]
    fn table() {
        let approved = "https://registry.example.com/npm/";
        let cases: &[(&str, &str, bool)] = &[
            (approved, "https://registry.example.com/npm/", true),
            (approved, "https://registry.example.com/npm", true),
            (
                approved,
                "https://registry.example.com/npm/left-pad/-/left-pad-1.3.0.tgz",
                true,
            ),
            (approved, "https://REGISTRY.Example.COM/npm/x", true),
            (approved, "https://registry.example.com./npm/x", true),
            (approved, "https://registry.example.com:443/npm/x", true),
            (approved, "https://registry.example.com/%6Epm/x", true),
            (approved, "https://registry.example.com/npm/a/../b", true),
            (approved, "https://registry.example.com/npm/../evil", false),
            (
                approved,
                "https://registry.example.com/npm/%2e%2e/evil",
                false,
            ),
            (approved, "https://registry.example.com/npm-evil/", false),
            (approved, "https://registry.example.com/npmx", false),
            (approved, "https://registry.example.com/", false),
            (approved, "http://registry.example.com/npm/", false),
            (approved, "https://registry.example.com:8443/npm/", false),
            (
                approved,
                "https://registry.example.com.evil.test/npm/",
                false,
            ),
            (
                approved,
                "https://registry.example.com@evil.test/npm/",
                false,
            ),
            (approved, "https://user:pw@registry.example.com/npm/", false),
            (
                approved,
                "https://evil.test/registry.example.com/npm/",
                false,
            ),
            (
                approved,
                "https://registry.example.com%2F@evil.test/npm/",
                false,
            ),
            (approved, "not a url", false),
            (approved, "", false),
            // IDN look-alike (Cyrillic 'е') is a different punycode domain.
            (approved, "https://registry.\u{0435}xample.com/npm/", false),
            (
                "https://b\u{00FC}cher.example/",
                "https://xn--bcher-kva.example/x",
                true,
            ),
            (
                "https://npm.example.com/npm",
                "https://npm.example.com/npm/x",
                true,
            ),
            (
                "https://npm.example.com/npm",
                "https://npm.example.com/npm%2Fx",
                false,
            ),
            ("http://127.0.0.1:4873/", "http://127.0.0.1:4873/pkg", true),
            ("http://127.0.0.1:4873/", "http://2130706433:4873/pkg", true),
            ("http://127.0.0.1:4873/", "http://localhost:4873/pkg", false),
            ("http://localhost:4873/", "http://127.0.0.1:4873/pkg", false),
            ("http://127.0.0.1:4873/", "http://127.0.0.2:4873/pkg", false),
            ("http://[::1]:4873/", "http://[::1]:4873/x", true),
            (
                "http://127.0.0.1:4873/",
                "http://[::ffff:127.0.0.1]:4873/x",
                true,
            ),
            ("http://127.0.0.1:4873/", "https://127.0.0.1:4873/", false),
            (
                "sparse+http://127.0.0.1:8080/index/",
                "sparse+http://127.0.0.1:8080/index/",
                true,
            ),
            (
                "http://127.0.0.1:8080/index/",
                "sparse+http://127.0.0.1:8080/index/",
                true,
            ),
            (
                "https://npm.example.com/",
                "https://npm.example.com/?x=/evil",
                true,
            ),
        ];
        for (a, c, want) in cases {
            assert_eq!(matches(a, c), *want, "approved {a:?} candidate {c:?}");
        }
    }

    #[test]
    fn approvals_with_userinfo_are_rejected() {
        assert_eq!(
            Prefix::parse("https://u:p@example.com/"),
            Err(UrlError::HasUserinfo)
        );
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn host() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}\\.(test|example)",
            Just("127.0.0.1".to_string()),
            Just("[::1]".to_string()),
        ]
    }

    fn path() -> impl Strategy<Value = String> {
        "(/[a-z0-9_~-][a-z0-9._~-]{0,5}){0,3}/?"
    }

    fn url() -> impl Strategy<Value = String> {
        (
            prop_oneof![Just("http"), Just("https")],
            host(),
            proptest::option::of(1u16..65535),
            path(),
        )
            .prop_map(|(s, h, p, path)| match p {
                Some(p) => format!("{s}://{h}:{p}{path}"),
                None => format!("{s}://{h}{path}"),
            })
    }

    proptest! {
        /// The literal fast path never approves what the parsing path refuses,
        /// whatever follows the prefix (dot segments, escapes, separators…).
        #[test]
        fn literal_fast_path_agrees_with_parsing(a in url(), tail in "[a-zA-Z0-9./%@\\\\?#:;=&+ \t\n_~-]{0,12}") {
            let p = Prefix::parse(&a).unwrap();
            if let Some(l) = p.literal() {
                let c = format!("{l}{tail}");
                if literal_covers(&l, &c) {
                    prop_assert!(matches(&a, &c), "{a} {c}");
                }
                let sub = if l.ends_with('/') { format!("{l}x/y.tgz") } else { format!("{l}/x/y.tgz") };
                prop_assert!(literal_covers(&l, &sub));
            }
        }

        #[test]
        fn a_url_covers_itself_and_its_subpaths(a in url(), tail in "[a-z0-9]{1,6}") {
            prop_assert!(matches(&a, &a));
            let sub = if a.ends_with('/') { format!("{a}{tail}") } else { format!("{a}/{tail}") };
            prop_assert!(matches(&a, &sub));
        }

        #[test]
        fn userinfo_never_matches(a in url(), user in "[a-z]{1,5}", pw in proptest::option::of("[a-z]{1,5}")) {
            let (scheme, rest) = a.split_once("://").unwrap();
            let info = match pw { Some(p) => format!("{user}:{p}"), None => user };
            let c = format!("{scheme}://{info}@{rest}");
            prop_assert!(!matches(&a, &c));
        }

        #[test]
        fn approved_host_as_userinfo_or_subdomain_never_matches(a in url(), evil in "[a-z]{1,8}\\.test") {
            let (scheme, rest) = a.split_once("://").unwrap();
            let host_port = rest.split('/').next().unwrap();
            let as_userinfo = format!("{scheme}://{host_port}@{evil}/");
            let as_subdomain = format!("{scheme}://{host_port}.{evil}/");
            prop_assert!(!matches(&a, &as_userinfo));
            prop_assert!(!matches(&a, &as_subdomain));
        }

        #[test]
        fn http_never_matches_an_https_approval(a in url()) {
            if let Some(rest) = a.strip_prefix("https://") {
                let downgraded = format!("http://{rest}");
                prop_assert!(!matches(&a, &downgraded));
            }
        }

        #[test]
        fn sibling_paths_never_match(a in url(), suffix in "[a-z0-9-]{1,5}") {
            if !a.ends_with('/') && a.matches('/').count() > 2 {
                let sibling = format!("{a}{suffix}");
                prop_assert!(!matches(&a, &sibling));
            }
        }

        #[test]
        fn never_panics(a in ".{0,40}", c in ".{0,60}") {
            let _ = matches(&a, &c);
        }
    }
}
