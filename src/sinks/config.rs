//! `[audit] sinks`: the checked configuration of one sink, and the value
//! parsers the policy parser uses for its keys (sizes, short durations,
//! syslog URLs and facilities).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// Default bound of a sink's spool.
pub const DEFAULT_SPOOL_MAX: u64 = 64 << 20;
/// Default bound of the shim's flush at exit.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_millis(300);
/// Default bound of one HTTP request made by `pkgward audit flush`.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Smallest accepted `spool_max` and `max_size`.
pub const MIN_SIZE: u64 = 4096;
/// The default syslog facility: `authpriv` (security messages, which
/// common syslog configurations keep in a file only administrators read).
pub const DEFAULT_FACILITY: Facility = Facility(10);
pub const DEFAULT_APP_NAME: &str = "pkgward";

/// The keys a sink table may have.
pub const SINK_KEYS: [&str; 10] = [
    "type",
    "name",
    "url",
    "spool_max",
    "flush_timeout",
    "facility",
    "app_name",
    "token_env",
    "ca_file",
    "timeout",
];
pub const SYSLOG_ONLY: [&str; 2] = ["facility", "app_name"];
pub const HTTP_ONLY: [&str; 3] = ["token_env", "ca_file", "timeout"];
pub const TYPES: [&str; 2] = ["syslog", "http"];

/// One `[[audit.sinks]]` entry, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SinkConfig {
    /// Unique among the sinks; names the spool directory
    /// (`<state dir>/spool/<name>/`). Default: the type.
    pub name: String,
    #[serde(flatten)]
    pub kind: SinkKind,
    /// Bound of the spool (bytes not yet shipped); the oldest records are
    /// dropped beyond it.
    pub spool_max: u64,
    /// Bound of the shim's flush at exit.
    #[serde(serialize_with = "ser_ms")]
    pub flush_timeout: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SinkKind {
    Syslog(SyslogConfig),
    Http(HttpConfig),
}

impl SinkKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            SinkKind::Syslog(_) => "syslog",
            SinkKind::Http(_) => "http",
        }
    }

    pub fn url(&self) -> &str {
        match self {
            SinkKind::Syslog(s) => &s.url,
            SinkKind::Http(h) => &h.url,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SyslogConfig {
    pub url: String,
    #[serde(skip)]
    pub transport: Transport,
    pub facility: Facility,
    pub app_name: String,
}

/// Where syslog messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `udp://host:port`: one datagram per message (RFC 5426).
    Udp(String),
    /// `tcp://host:port`: octet-counting framing (RFC 6587 3.4.1).
    Tcp(String),
    /// `unix:///dev/log`: a datagram socket, else a stream socket with
    /// one message per line.
    Unix(PathBuf),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HttpConfig {
    pub url: String,
    /// The environment variable holding the bearer token (never the token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// Trust anchors (PEM) for the collector, instead of the system's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Bound of one request (`pkgward audit flush`; the shim's flush is
    /// bounded by `flush_timeout` as well).
    #[serde(serialize_with = "ser_ms")]
    pub timeout: Duration,
}

/// A syslog facility (its code, 0–23).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facility(pub u8);

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

impl Facility {
    /// The names accepted in the policy (codes 12–15 are not offered).
    pub const NAMES: [&str; 20] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
        "local7",
    ];

    pub fn from_name(s: &str) -> Option<Facility> {
        if !Self::NAMES.contains(&s) {
            return None;
        }
        FACILITIES
            .iter()
            .position(|f| *f == s)
            .map(|i| Facility(i as u8))
    }

    pub fn name(self) -> &'static str {
        FACILITIES.get(self.0 as usize).copied().unwrap_or("user")
    }
}

impl Serialize for Facility {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// A size: an integer (bytes) or a string such as "64MiB", "512KiB", "10MB",
/// "4096". KiB/MiB/GiB are powers of 1024, KB/MB/GB of 1000.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(format!(
            "`{s}`: expected a size such as 4096, \"512KiB\", \"64MiB\" or \"1GB\""
        ));
    }
    let n: u64 = num.parse().map_err(|_| format!("`{s}`: too large"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        u => {
            return Err(format!(
                "`{s}`: unknown unit `{u}` (use B, KiB, MiB, GiB, KB, MB or GB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}`: too large"))
}

/// A short duration: "250ms", "2s", "1.5s", "1m". At most one hour.
pub fn parse_short_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let shape = || format!("`{s}`: expected a duration such as \"250ms\", \"2s\" or \"1.5s\"");
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(shape)?;
    let (num, unit) = t.split_at(split);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(shape());
    }
    let n: f64 = num.parse().map_err(|_| shape())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(shape()),
    };
    if !(0.0..=3600.0).contains(&secs) {
        return Err(format!("`{s}`: at most one hour"));
    }
    let d = Duration::from_secs_f64(secs);
    if d.is_zero() {
        return Err(format!("`{s}`: must be more than zero"));
    }
    Ok(d)
}

/// `udp://host:port`, `tcp://host:port` (port default 514) or
/// `unix:///path`.
pub fn parse_syslog_url(s: &str) -> Result<Transport, String> {
    let t = s.trim();
    if let Some(path) = t.strip_prefix("unix://") {
        if !path.starts_with('/') {
            return Err(format!(
                "`{s}`: a unix socket URL names an absolute path, e.g. unix:///dev/log"
            ));
        }
        if path.contains('\0') {
            return Err("must not contain a NUL character".into());
        }
        if cfg!(windows) {
            return Err("unix sockets are not available on Windows: use udp:// or tcp://".into());
        }
        return Ok(Transport::Unix(PathBuf::from(path)));
    }
    let u = url::Url::parse(t).map_err(|e| {
        format!("`{s}`: not a URL ({e}); expected udp://HOST:PORT, tcp://HOST:PORT or unix:///PATH")
    })?;
    let host = match u.host() {
        Some(url::Host::Ipv6(a)) => format!("[{a}]"),
        Some(h) => h.to_string(),
        None => return Err(format!("`{s}`: the URL has no host")),
    };
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!("`{s}`: must not contain credentials"));
    }
    if !(u.path().is_empty() || u.path() == "/") || u.query().is_some() || u.fragment().is_some() {
        return Err(format!(
            "`{s}`: a syslog URL has no path, query or fragment"
        ));
    }
    let port = u.port().unwrap_or(514);
    let addr = format!("{host}:{port}");
    match u.scheme() {
        "udp" => Ok(Transport::Udp(addr)),
        "tcp" => Ok(Transport::Tcp(addr)),
        other => Err(format!(
            "`{s}`: unsupported scheme `{other}`; expected udp://, tcp:// or unix://"
        )),
    }
}

/// An RFC 5424 APP-NAME: 1–48 printable US-ASCII characters, no space.
pub fn check_app_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 48 || !s.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(format!(
            "`{s}`: an app_name is 1 to 48 printable ASCII characters without spaces"
        ));
    }
    Ok(())
}

/// A sink name: 1–64 of `A-Z a-z 0-9 _ -` (it names a directory).
pub fn check_name(s: &str) -> Result<(), String> {
    if s.is_empty()
        || s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        || s.starts_with('-')
    {
        return Err(format!(
            "`{s}`: a sink name is 1 to 64 letters, digits, `_` or `-` (not starting with `-`)"
        ));
    }
    Ok(())
}

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn check_env_name(s: &str) -> Result<(), String> {
    let ok = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        return Err(format!(
            "`{s}`: the name of an environment variable (letters, digits, `_`), not the token itself"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
        assert!(parse_size("-1").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_short_duration("250ms"),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(
            parse_short_duration("1.5s"),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(parse_short_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "5", "0ms", "1h", "s", ".5s", "2 s", "61m"] {
            assert!(parse_short_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn syslog_urls() {
        assert_eq!(
            parse_syslog_url("udp://127.0.0.1:5514"),
            Ok(Transport::Udp("127.0.0.1:5514".into()))
        );
        assert_eq!(
            parse_syslog_url("tcp://[::1]"),
            Ok(Transport::Tcp("[::1]:514".into()))
        );
        #[cfg(unix)]
        assert_eq!(
            parse_syslog_url("unix:///dev/log"),
            Ok(Transport::Unix("/dev/log".into()))
        );
        for bad in [
            "http://127.0.0.1:514",
            "udp://127.0.0.1:514/x",
            "unix://dev/log",
            "tcp://u:p@127.0.0.1",
            "127.0.0.1:514",
        ] {
            assert!(parse_syslog_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn facilities() {
        assert_eq!(Facility::from_name("authpriv"), Some(Facility(10)));
        assert_eq!(Facility::from_name("local7"), Some(Facility(23)));
        assert_eq!(Facility::from_name("ntp"), None);
        assert_eq!(DEFAULT_FACILITY.name(), "authpriv");
    }

    #[test]
    fn names() {
        assert!(check_name("siem-1").is_ok());
        for bad in ["", "../x", "a b", "-x", "x/y"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_env_name("PKGWARD_SINK_TOKEN").is_ok());
        assert!(check_env_name("Bearer abc").is_err());
        assert!(check_env_name("1X").is_err());
    }
}
