//! The syslog sink: each audit record becomes one RFC 5424 message
//!
//! `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [pkgward@32473 invocation_id="…"] BOM{json}`
//!
//! PRI is the configured facility with severity info (warning for a denied
//! invocation, notice for a would-deny); TIMESTAMP is the record's `time`;
//! PROCID its `pid` when it has one; MSGID its `kind`. 32473 is the
//! enterprise number reserved for documentation (RFC 5612): the SD-ID is
//! private to pkgward. The MSG is the JSON line, UTF-8 with a BOM.
//!
//! Transports: UDP (one datagram per message, RFC 5426; no delivery
//! guarantee), TCP with octet-counting framing (RFC 6587 3.4.1; a batch is
//! confirmed when the collector has read it to the end: we half-close and
//! wait for its close), and a Unix socket (datagram, else stream with one
//! message per line).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use super::config::{SyslogConfig, Transport};

/// The largest UDP payload over IPv4; a longer message is cut there.
const UDP_MAX: usize = 65_507;

/// Formats one record (a JSON line, with or without its newline).
pub fn format(cfg: &SyslogConfig, host: &str, line: &[u8]) -> Vec<u8> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let v: Option<serde_json::Value> = serde_json::from_slice(line).ok();
    let field = |k: &str| v.as_ref().and_then(|v| v.get(k));
    let severity = match field("decision")
        .and_then(|d| d.get("action"))
        .and_then(|a| a.as_str())
    {
        Some("deny") => 4,
        Some("would-deny") => 5,
        _ => 6,
    };
    let pri = u32::from(cfg.facility.0) * 8 + severity;
    let time = field("time")
        .and_then(|t| t.as_str())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .unwrap_or_else(jiff::Timestamp::now);
    let procid = field("pid")
        .and_then(|p| p.as_u64())
        .map_or_else(|| "-".to_string(), |p| p.to_string());
    let msgid = token(field("kind").and_then(|k| k.as_str()).unwrap_or(""), 32);
    let mut sd = String::from("[pkgward@32473");
    if let Some(id) = field("invocation_id").and_then(|i| i.as_str()) {
        sd.push_str(" invocation_id=\"");
        sd.push_str(&param_value(id));
        sd.push('"');
    }
    sd.push(']');
    let head = format!(
        "<{pri}>1 {time:.3} {} {} {procid} {msgid} {sd} ",
        token(host, 255),
        token(&cfg.app_name, 48),
    );
    let mut out = Vec::with_capacity(head.len() + 3 + line.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice("\u{feff}".as_bytes());
    out.extend_from_slice(line);
    out
}

/// A header field: printable US-ASCII without spaces, at most `max`
/// characters, `-` when empty.
fn token(s: &str, max: usize) -> String {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if t.is_empty() {
        "-".into()
    } else {
        t
    }
}

/// An SD-PARAM value: `"`, `\` and `]` escaped (RFC 5424 6.3.3).
fn param_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Sends a batch of formatted messages; returns when the transport has
/// taken them (TCP: when the collector has read them all).
pub fn send(t: &Transport, msgs: &[Vec<u8>], deadline: Instant) -> std::io::Result<()> {
    match t {
        Transport::Udp(addr) => {
            let target = resolve(addr)?;
            let bind = if target.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let sock = UdpSocket::bind(bind)?;
            sock.connect(target)?;
            sock.set_write_timeout(Some(remaining(deadline)?))?;
            for m in msgs {
                sock.send(&m[..m.len().min(UDP_MAX)])?;
            }
            Ok(())
        }
        Transport::Tcp(addr) => {
            let target = resolve(addr)?;
            let mut s = TcpStream::connect_timeout(&target, remaining(deadline)?)?;
            s.set_nodelay(true)?;
            let mut buf = Vec::new();
            for m in msgs {
                buf.extend_from_slice(format!("{} ", m.len()).as_bytes());
                buf.extend_from_slice(m);
            }
            s.set_write_timeout(Some(remaining(deadline)?))?;
            s.write_all(&buf)?;
            s.flush()?;
            // Half-close, then wait for the collector to close: it has
            // read everything we sent.
            s.shutdown(std::net::Shutdown::Write)?;
            drain_until_closed(&mut s, deadline)
        }
        #[cfg(unix)]
        Transport::Unix(path) => unix::send(path, msgs, deadline),
        #[cfg(not(unix))]
        Transport::Unix(_) => Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "unix sockets are not available on this platform",
        )),
    }
}

fn drain_until_closed(s: &mut impl ReadTimeout, deadline: Instant) -> std::io::Result<()> {
    let mut sink = [0u8; 512];
    loop {
        s.set_timeout(remaining(deadline)?)?;
        match s.read(&mut sink) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

trait ReadTimeout: Read {
    fn set_timeout(&self, d: Duration) -> std::io::Result<()>;
}

impl ReadTimeout for TcpStream {
    fn set_timeout(&self, d: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(d))
    }
}

fn remaining(deadline: Instant) -> std::io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left < Duration::from_millis(1) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the flush ran out of time",
        ));
    }
    Ok(left)
}

fn resolve(addr: &str) -> std::io::Result<std::net::SocketAddr> {
    addr.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, format!("{addr}: no address"))
    })
}

#[cfg(unix)]
mod unix {
    use std::io::Write;
    use std::os::unix::net::{UnixDatagram, UnixStream};
    use std::path::Path;
    use std::time::Instant;

    use super::remaining;

    pub fn send(path: &Path, msgs: &[Vec<u8>], deadline: Instant) -> std::io::Result<()> {
        let d = UnixDatagram::unbound()?;
        match d.connect(path) {
            Ok(()) => {
                d.set_write_timeout(Some(remaining(deadline)?))?;
                for m in msgs {
                    d.send(m)?;
                }
                Ok(())
            }
            // A stream socket (e.g. syslog-ng's unix-stream): one message
            // per line (a JSON line never holds a raw newline).
            Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
                let mut s = UnixStream::connect(path)?;
                s.set_write_timeout(Some(remaining(deadline)?))?;
                let mut buf = Vec::new();
                for m in msgs {
                    buf.extend_from_slice(m);
                    buf.push(b'\n');
                }
                s.write_all(&buf)?;
                s.flush()
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::{Facility, SyslogConfig, Transport};
    use super::*;

    fn cfg() -> SyslogConfig {
        SyslogConfig {
            url: "udp://127.0.0.1:514".into(),
            transport: Transport::Udp("127.0.0.1:514".into()),
            facility: Facility(10),
            app_name: "pkgward".into(),
        }
    }

    #[test]
    fn formats_rfc5424() {
        let line = br#"{"kind":"invocation","invocation_id":"0190-a\"]","time":"2024-05-01T10:00:00.123Z","pid":42,"decision":{"action":"deny"}}
"#;
        let m = format(&cfg(), "host one", line);
        let s = String::from_utf8(m).unwrap();
        assert_eq!(
            s,
            format!(
                "<84>1 2024-05-01T10:00:00.123Z hostone pkgward 42 invocation [pkgward@32473 invocation_id=\"0190-a\\\"\\]\"] \u{feff}{}",
                std::str::from_utf8(&line[..line.len() - 1]).unwrap()
            )
        );
        // Not JSON: still a valid message, with nil fields.
        let s = String::from_utf8(format(&cfg(), "", b"garbage")).unwrap();
        assert!(s.starts_with("<86>1 "), "{s}");
        assert!(
            s.contains(" - pkgward - - [pkgward@32473] \u{feff}garbage"),
            "{s}"
        );
    }
}
