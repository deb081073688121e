//! Which destinations the egress proxy lets through: exact hosts (from the
//! approved registries of the invocation's ecosystem, `builtin` resolved, and
//! its mirror) and `[network] allow` entries (`host`, `host:port`,
//! `*.example.com`, `*.example.com:8443`, `10.0.0.5:8080`, `[::1]:8080`).
//!
//! Hosts are compared after the hardened normalisation of
//! [`crate::decide::urls`]: lowercase, IDNA, percent-decoding, one trailing
//! dot removed, IPv4 number forms and IPv4-mapped IPv6 folded. A domain rule
//! never matches an IP literal and the reverse; `*.example.com` matches
//! subdomains at any depth, never `example.com` itself. A rule without a port
//! allows ports 80 and 443.

use std::fmt;

use crate::decide::urls::{NormHost, Prefix};

/// One destination rule, with the policy key it comes from (for records and
/// for the message a denied tool shows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pattern: Pattern,
    ports: Ports,
    /// e.g. `registries.npm` or `network.allow`.
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    Exact(NormHost),
    /// `*.example.com` kept as `.example.com`.
    Suffix(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ports {
    One(u16),
    /// 80 and 443 (an entry written without a port).
    Web,
}

impl Rule {
    /// The host and port of an approved registry URL (`builtin` already
    /// resolved). `None` for what is not an http(s) URL with a host.
    pub fn from_registry_url(url: &str, source: &str) -> Option<Rule> {
        let p = Prefix::parse(url).ok()?;
        if !matches!(p.scheme(), "http" | "https") {
            return None;
        }
        match p.host() {
            NormHost::None => None,
            h => Some(Rule {
                pattern: Pattern::Exact(h.clone()),
                ports: Ports::One(p.port()?),
                source: source.to_string(),
            }),
        }
    }

    /// Parses a `[network] allow` entry; the error is a message for the user.
    pub fn parse_allow(entry: &str, source: &str) -> Result<Rule, String> {
        let shape = "expected \"host\", \"host:port\", \"*.domain\" or \"*.domain:port\" \
                     (an IPv6 address in brackets)";
        if entry.trim() != entry || entry.is_empty() {
            return Err(format!("{entry:?}: {shape}"));
        }
        if entry.contains("://") {
            return Err(format!(
                "{entry:?}: write the host (and port) without a scheme or path; {shape}"
            ));
        }
        if entry.contains(['/', '?', '#', '@', '\\', '%']) || entry.chars().any(char::is_whitespace)
        {
            return Err(format!(
                "{entry:?}: only a host and an optional port are allowed; {shape}"
            ));
        }
        let (host, port) = split_host_port(entry).map_err(|e| format!("{entry:?}: {e}"))?;
        let ports = match port {
            Some(p) => Ports::One(p),
            None => Ports::Web,
        };
        let pattern = if let Some(rest) = host.strip_prefix("*.") {
            match NormHost::parse(rest) {
                Ok(NormHost::Domain(d)) if d.contains('.') => Pattern::Suffix(format!(".{d}")),
                Ok(NormHost::Domain(_)) => {
                    return Err(format!(
                        "{entry:?}: too broad: a wildcard needs a domain of at least two labels (`*.example.com`)"
                    ))
                }
                Ok(_) => {
                    return Err(format!(
                        "{entry:?}: a wildcard applies to a domain name, not to an IP address"
                    ))
                }
                Err(e) => return Err(format!("{entry:?}: {e}")),
            }
        } else if host.contains('*') {
            return Err(format!(
                "{entry:?}: `*` is only allowed as the whole first label (`*.example.com`)"
            ));
        } else {
            Pattern::Exact(NormHost::parse(host).map_err(|e| format!("{entry:?}: {e}"))?)
        };
        Ok(Rule {
            pattern,
            ports,
            source: source.to_string(),
        })
    }

    /// Whether this rule names `host` (any port): a DNS query for it is
    /// approved.
    pub fn matches_host(&self, host: &NormHost) -> bool {
        match (&self.pattern, host) {
            (Pattern::Exact(h), c) => h == c,
            (Pattern::Suffix(s), NormHost::Domain(d)) => d.len() > s.len() && d.ends_with(s),
            (Pattern::Suffix(_), _) => false,
        }
    }

    /// Whether this rule lets a connection to `host`:`port` through.
    pub fn allows(&self, host: &NormHost, port: u16) -> bool {
        let port_ok = match self.ports {
            Ports::One(p) => p == port,
            Ports::Web => port == 80 || port == 443,
        };
        port_ok
            && match (&self.pattern, host) {
                (Pattern::Exact(h), c) => h == c,
                (Pattern::Suffix(s), NormHost::Domain(d)) => d.len() > s.len() && d.ends_with(s),
                (Pattern::Suffix(_), _) => false,
            }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pattern {
            Pattern::Exact(h) => write!(f, "{h}")?,
            Pattern::Suffix(s) => write!(f, "*{s}")?,
        }
        match self.ports {
            Ports::One(p) => write!(f, ":{p}"),
            Ports::Web => f.write_str(":80/443"),
        }
    }
}

/// Splits `host[:port]` / `[v6][:port]`. The port, when present, must be
/// 1–65535 in plain decimal.
pub fn split_host_port(s: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if s.starts_with('[') {
        let end = s
            .find(']')
            .ok_or_else(|| "unclosed `[` in an IPv6 address".to_string())?;
        let rest = &s[end + 1..];
        let port = match rest {
            "" => None,
            r => Some(
                r.strip_prefix(':')
                    .ok_or_else(|| format!("unexpected `{r}` after the IPv6 address"))?,
            ),
        };
        (&s[..=end], port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    let port = match port {
        None => None,
        Some(p) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("invalid port `{p}`"));
            }
            match p.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err(format!("invalid port `{p}`")),
            }
        }
    };
    Ok((host, port))
}

/// The rule set of one invocation.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    pub fn new(rules: Vec<Rule>) -> Rules {
        let mut out: Vec<Rule> = Vec::with_capacity(rules.len());
        for r in rules {
            if !out
                .iter()
                .any(|o| o.pattern == r.pattern && o.ports == r.ports)
            {
                out.push(r);
            }
        }
        Rules { rules: out }
    }

    /// The first rule allowing `host`:`port`.
    pub fn find(&self, host: &NormHost, port: u16) -> Option<&Rule> {
        self.rules.iter().find(|r| r.allows(host, port))
    }

    /// The first rule naming `host` (any port).
    pub fn find_host(&self, host: &NormHost) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches_host(host))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> NormHost {
        NormHost::parse(s).unwrap()
    }

    #[test]
    fn allow_entries() {
        let cases: &[(&str, &str, u16, bool)] = &[
            ("example.com", "example.com", 443, true),
            ("example.com", "example.com", 80, true),
            ("example.com", "example.com", 8443, false),
            ("example.com", "EXAMPLE.com.", 443, true),
            ("example.com", "sub.example.com", 443, false),
            ("example.com:8443", "example.com", 8443, true),
            ("example.com:8443", "example.com", 443, false),
            ("*.example.com", "a.example.com", 443, true),
            ("*.example.com", "a.b.example.com", 443, true),
            ("*.example.com", "example.com", 443, false),
            ("*.example.com", "evilexample.com", 443, false),
            ("*.example.com", "example.com.evil.test", 443, false),
            ("*.Example.COM:8080", "x.example.com", 8080, true),
            ("10.0.0.5:8080", "10.0.0.5", 8080, true),
            ("10.0.0.5:8080", "167772165", 8080, true),
            ("10.0.0.5:8080", "10.0.0.6", 8080, false),
            ("[::1]:8080", "[::1]", 8080, true),
            ("[::ffff:10.0.0.5]:8080", "10.0.0.5", 8080, true),
            ("b\u{fc}cher.example", "xn--bcher-kva.example", 443, true),
        ];
        for (entry, host, port, want) in cases {
            let r = Rule::parse_allow(entry, "network.allow").unwrap();
            assert_eq!(r.allows(&h(host), *port), *want, "{entry} vs {host}:{port}");
        }
    }

    #[test]
    fn bad_allow_entries() {
        for e in [
            "",
            " example.com",
            "https://example.com",
            "example.com/x",
            "user@example.com",
            "example.com:0",
            "example.com:65536",
            "example.com:+80",
            "example.com:",
            "*",
            "*:443",
            "*.10.0.0.1",
            "*.com",
            "a.*.example.com",
            "ex*ample.com",
            "[::1",
            "[::1]x",
            "ex%61mple.com",
            "exa mple.com",
        ] {
            assert!(Rule::parse_allow(e, "network.allow").is_err(), "{e:?}");
        }
    }

    #[test]
    fn registry_urls() {
        let r = Rule::from_registry_url("http://127.0.0.1:4873/npm/", "registries.npm").unwrap();
        assert!(r.allows(&h("127.0.0.1"), 4873));
        assert!(!r.allows(&h("127.0.0.1"), 4874));
        assert!(!r.allows(&h("localhost"), 4873));
        let r = Rule::from_registry_url("sparse+https://Reg.Example.com/x/", "x").unwrap();
        assert!(r.allows(&h("reg.example.com"), 443));
        assert!(Rule::from_registry_url("builtin", "x").is_none());
        assert!(Rule::from_registry_url("file:///x", "x").is_none());
    }
}
