//! The index gateway: a credential-adding reader of one TLS (`https://`)
//! package index, served on the egress proxy's own port — no TLS
//! interception: pkgward itself is the TLS client, with the trust the
//! tool would use ([`Trust`]).
//!
//! [`super::Handle::add_gateway`] registers `https://host:port` with the
//! credentials and returns `http://127.0.0.1:PORT/pkgward-<random>`: a
//! request for that prefix — in origin form, or in absolute form through
//! the proxy itself, as a client configured with the proxy sends it — is
//! fetched from `https://host:port/<rest>` with `Authorization: Basic` and
//! relayed back. Only `GET`/`HEAD`, only that host and port (any path, as
//! the tool's own netrc credentials apply to the whole host), never
//! following a redirect itself (a `Location` on the same host is rewritten
//! to the gateway, any other is left to the client, which follows it
//! through the proxy's rules). Only a destination the invocation's rules
//! allow gets a gateway. The credentials never reach the client: the
//! client's own `Authorization`, cookies and `WWW-Authenticate` do not
//! pass. Simple-API pages (HTML and PEP 691 JSON, up to [`MAX_PAGE`]) have
//! their absolute links to the same host rewritten to the gateway; other
//! bodies stream through unbuffered. Each request is one `connection`
//! record (`via: "gateway"`) and, when the proxy hashes bodies, one
//! `artifact` record.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{http, Conn, ConnectionRecord, Next, Shared, BUF};
use crate::decide::urls::NormHost;
use crate::record::Action;

/// A simple-API page larger than this is refused (`502`), not rewritten.
pub const MAX_PAGE: usize = 64 << 20;
/// How long one upstream operation (the response head, one read) may take.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The trust anchors the gateway verifies the index with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// The platform's (`SSL_CERT_FILE` / `SSL_CERT_DIR` of pkgward's own
    /// environment honoured, as for any TLS client using them).
    Native,
    /// Only the certificates of this PEM bundle (pip's `--cert`,
    /// `REQUESTS_CA_BUNDLE`, …).
    Bundle(PathBuf),
}

/// One index served.
pub(super) struct Gateway {
    /// `pkgward-<32 hex>` (empty: served at the index's own origin, [`super::origin`])
    prefix: String,
    pub(super) host: NormHost,
    /// The host as written in URLs (`[::1]` for IPv6).
    authority_host: String,
    pub(super) port: u16,
    trust: Trust,
    auth: Mutex<String>,
    client: reqwest::blocking::Client,
    rule: String,
}

impl Shared {
    /// The gateway a request head is for, and the path (with its query)
    /// after its prefix (starting with `/`).
    pub(super) fn gateway_for(&self, head: &http::Head) -> Option<(Arc<Gateway>, String)> {
        let t = head.target.as_str();
        let path = if t.starts_with('/') {
            t.to_string()
        } else {
            let lower = t.get(..7)?.to_ascii_lowercase();
            if lower != "http://" {
                return None;
            }
            let url = url::Url::parse(t).ok()?;
            let host = NormHost::from_host(url.host()?);
            let own = matches!(host, NormHost::Ip(ip) if ip == self.addr.ip());
            if !own || url.port_or_known_default() != Some(self.addr.port()) {
                return None;
            }
            url[url::Position::BeforePath..url::Position::AfterQuery].to_string()
        };
        let first = path[1..].split(['/', '?']).next()?;
        if !first.starts_with("pkgward-") {
            return None;
        }
        let gw = self
            .gateways
            .lock()
            .ok()?
            .iter()
            .find(|g| g.prefix == first)
            .cloned()?;
        let rest = &path[1 + first.len()..];
        let rest = if rest.starts_with('/') {
            rest.to_string()
        } else {
            format!("/{rest}")
        };
        Some((gw, rest))
    }

    /// Registers a gateway (or updates the credentials of the one for the
    /// same host, port and trust); returns its base URL.
    pub(super) fn add_gateway(
        &self,
        host: &str,
        port: u16,
        auth: String,
        trust: &Trust,
    ) -> Result<String, String> {
        let norm = NormHost::parse(host).map_err(|e| format!("{host}: {e}"))?;
        let mut gws = self.gateways.lock().map_err(|_| "poisoned".to_string())?;
        if let Some(g) = gws
            .iter()
            .find(|g| g.host == norm && g.port == port && g.trust == *trust)
        {
            if let Ok(mut a) = g.auth.lock() {
                *a = auth;
            }
            return Ok(self.gateway_base(&g.prefix));
        }
        let prefix = format!("pkgward-{}", random_hex()?);
        gws.push(Arc::new(self.new_gateway(
            prefix.clone(),
            norm,
            port,
            auth,
            trust,
        )?));
        Ok(self.gateway_base(&prefix))
    }

    /// A gateway for `host`:`port` (a destination the rules allow), with
    /// its HTTPS client.
    pub(super) fn new_gateway(
        &self,
        prefix: String,
        host: NormHost,
        port: u16,
        auth: String,
        trust: &Trust,
    ) -> Result<Gateway, String> {
        let rule = self
            .cfg
            .rules
            .find(&host, port)
            .map(|r| format!("{}: {r}", r.source))
            .ok_or_else(|| format!("{host}:{port} is not an approved destination"))?;
        let authority_host = match &host {
            NormHost::Ip(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
            h => h.to_string(),
        };
        Ok(Gateway {
            prefix,
            host,
            authority_host,
            port,
            trust: trust.clone(),
            auth: Mutex::new(auth),
            client: client(trust)?,
            rule,
        })
    }

    fn gateway_base(&self, prefix: &str) -> String {
        format!("http://127.0.0.1:{}/{prefix}", self.addr.port())
    }
}

/// 16 random bytes, in hex.
pub(super) fn random_hex() -> Result<String, String> {
    let mut b = [0u8; 16];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut b)
        .map_err(|_| "no randomness for the gateway's prefix".to_string())?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The gateway's HTTPS client: `trust`'s roots, no proxy (pkgward's own
/// environment's proxy must not sit between it and the index), no
/// redirects followed, no decompression.
fn client(trust: &Trust) -> Result<reqwest::blocking::Client, String> {
    let ca = match trust {
        Trust::Native => None,
        Trust::Bundle(p) => Some(p.as_path()),
    };
    let tls = crate::sinks::http::client_tls(ca, true, "the CA bundle ")?;
    reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .connect_timeout(super::CONNECT_TIMEOUT)
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| crate::sinks::http::chain(&e))
}

/// Request headers passed on to the index (the rest — `Authorization`,
/// cookies, proxy and hop-by-hop headers, `Accept-Encoding` — is not).
const REQUEST_HEADERS: &[&str] = &[
    "accept",
    "accept-language",
    "user-agent",
    "cache-control",
    "pragma",
    "if-none-match",
    "if-modified-since",
    "range",
    "if-range",
];

/// Response headers not passed back: hop-by-hop, framing (the gateway
/// frames the body itself), and what would tell the client to
/// authenticate or keep state.
const DROPPED_RESPONSE_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "www-authenticate",
    "set-cookie",
    "set-cookie2",
    "strict-transport-security",
    "alt-svc",
];

/// Absolute `https://` links to `host:port` in `text` (also JSON-escaped:
/// `https:\/\/host\/…`) pointed at `base` instead.
pub fn rewrite_links(text: &[u8], host: &NormHost, port: u16, base: &str) -> Vec<u8> {
    let escaped_base = base.replace('/', "\\/");
    let mut out = Vec::with_capacity(text.len() + text.len() / 8);
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let scheme = rest.len() >= 6 && rest[..6].eq_ignore_ascii_case(b"https:");
        let slashes = if !scheme {
            0
        } else if rest[6..].starts_with(b"//") {
            2
        } else if rest[6..].starts_with(b"\\/\\/") {
            4
        } else {
            0
        };
        if slashes == 0 {
            out.push(text[i]);
            i += 1;
            continue;
        }
        let start = i + 6 + slashes;
        let end = text[start..]
            .iter()
            .position(|b| {
                matches!(
                    b,
                    b'/' | b'\\' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'&'
                ) || b.is_ascii_whitespace()
            })
            .map_or(text.len(), |n| start + n);
        let same = std::str::from_utf8(&text[start..end])
            .ok()
            .filter(|a| !a.contains('@'))
            .and_then(|a| super::rules::split_host_port(a).ok())
            .is_some_and(|(h, p)| {
                p.unwrap_or(443) == port && NormHost::parse(h).is_ok_and(|h| h == *host)
            });
        if same {
            out.extend_from_slice(if slashes == 4 {
                escaped_base.as_bytes()
            } else {
                base.as_bytes()
            });
        } else {
            out.extend_from_slice(&text[i..end]);
        }
        i = end;
    }
    out
}

/// Whether a response of this type is a simple-API page to rewrite.
fn is_page(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        t.contains("html") || t.contains("json")
    })
}

impl Conn<'_> {
    /// Serves one request for gateway `gw` (`path`: after its prefix) on
    /// the proxy's client connection.
    pub(super) fn gateway(
        &mut self,
        rec: &mut ConnectionRecord,
        head: &http::Head,
        gw: &Gateway,
        path: &str,
        rest: Vec<u8>,
    ) -> Next {
        self.buf = rest;
        let _ = self.client.set_read_timeout(None);
        let base = self.shared.gateway_base(&gw.prefix);
        let mut out = &self.client;
        match serve(self.shared, &mut out, rec, head, gw, path, Some(&base)) {
            Served::Keep => Next::Keep,
            Served::Close => Next::Close,
            Served::Refuse(status, why) => self.refuse(rec, status, why),
        }
    }
}

/// How a gateway request ended.
pub(super) enum Served {
    /// Answered; the client connection may carry another request.
    Keep,
    /// Answered (or failed after the answer began, `rec.reason` says
    /// why); the connection ends.
    Close,
    /// Nothing sent yet: to be refused with this status and reason.
    Refuse(u16, String),
}

/// Serves one request for gateway `gw` (`path`: the path and query to
/// fetch from the index), writing the response to `out`. `base`: the
/// gateway's base URL that links to the index are rewritten to (`None`:
/// served at the index's own origin, nothing rewritten).
pub(super) fn serve(
    shared: &Shared,
    out: &mut dyn Write,
    rec: &mut ConnectionRecord,
    head: &http::Head,
    gw: &Gateway,
    path: &str,
    base: Option<&str>,
) -> Served {
    {
        rec.via = "gateway";
        rec.host = Some(gw.host.to_string());
        rec.port = Some(gw.port);
        rec.action = Action::Allow;
        rec.rule = Some(gw.rule.clone());
        let origin = format!("https://{}:{}", gw.authority_host, gw.port);
        let url = match url::Url::parse(&format!("{origin}{path}")) {
            Ok(u)
                if u.host().map(NormHost::from_host).as_ref() == Some(&gw.host)
                    && u.port_or_known_default() == Some(gw.port)
                    && !path.contains('\\') =>
            {
                u
            }
            _ => return Served::Refuse(400, "an invalid path for the index gateway".into()),
        };
        let mut shown = url.clone();
        shown.set_query(None);
        rec.url = Some(shown.to_string());
        let method = match head.method.as_str() {
            "GET" => reqwest::Method::GET,
            "HEAD" => reqwest::Method::HEAD,
            _ => {
                rec.action = Action::Deny;
                return Served::Refuse(
                    405,
                    format!("the index gateway only reads ({} refused)", head.method),
                );
            }
        };
        if super::request_framing(head) != Ok(super::body::Framing::Empty) {
            return Served::Refuse(400, "a request body to the index gateway".into());
        }
        let mut req = gw.client.request(method.clone(), url.clone());
        for (k, v) in &head.headers {
            if REQUEST_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                req = req.header(k.as_str(), v.as_str());
            }
        }
        let auth = gw.auth.lock().map(|a| a.clone()).unwrap_or_default();
        let mut value = match reqwest::header::HeaderValue::from_str(&auth) {
            Ok(v) => v,
            Err(_) => return Served::Refuse(502, "unusable index credentials".into()),
        };
        value.set_sensitive(true);
        req = req.header(reqwest::header::AUTHORIZATION, value);
        let mut resp = match req.send() {
            Ok(r) => r,
            Err(e) => {
                let why = format!(
                    "the index gateway cannot fetch {shown}: {}",
                    crate::sinks::http::chain(&e)
                );
                return Served::Refuse(502, why);
            }
        };
        let status = resp.status();
        rec.response_status = Some(status.as_u16());
        rec.status = 200;
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let encoded = resp
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.eq_ignore_ascii_case("identity"));
        let no_body = method == reqwest::Method::HEAD
            || status.is_informational()
            || status == reqwest::StatusCode::NO_CONTENT
            || status == reqwest::StatusCode::NOT_MODIFIED;
        let mut keep = super::persistent(&head.version, head.all("connection"));
        let mut bytes = format!(
            "HTTP/1.1 {} {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .into_bytes();
        for (k, v) in resp.headers() {
            let name = k.as_str();
            if DROPPED_RESPONSE_HEADERS.contains(&name) {
                continue;
            }
            let mut v = v.as_bytes().to_vec();
            if let (Some(base), "location") = (base, name) {
                v = rewrite_links(&v, &gw.host, gw.port, base);
            }
            bytes.extend_from_slice(name.as_bytes());
            bytes.extend_from_slice(b": ");
            bytes.extend_from_slice(&v);
            bytes.extend_from_slice(b"\r\n");
        }
        let mut hasher = shared.cfg.artifacts.as_ref().map(|_| Sha256::new());
        let mut size = 0u64;
        // The body: a page read whole and rewritten, else streamed.
        let page = match base {
            Some(base) if !no_body && !encoded && is_page(content_type.as_deref()) => {
                let mut body = Vec::new();
                let read = (&mut resp).take(MAX_PAGE as u64 + 1).read_to_end(&mut body);
                match read {
                    Ok(n) if n <= MAX_PAGE => {}
                    Ok(_) => {
                        return Served::Refuse(
                            502,
                            format!("the index page {shown} is larger than {MAX_PAGE} bytes"),
                        )
                    }
                    Err(e) => {
                        return Served::Refuse(502, format!("reading {shown} from the index: {e}"))
                    }
                }
                size = body.len() as u64;
                if let Some(h) = hasher.as_mut() {
                    h.update(&body);
                }
                Some(rewrite_links(&body, &gw.host, gw.port, base))
            }
            _ => None,
        };
        let length = if no_body {
            None
        } else if let Some(p) = &page {
            Some(p.len() as u64)
        } else {
            resp.content_length()
        };
        let chunked = !no_body && length.is_none() && head.version == "HTTP/1.1";
        if no_body {
            // HEAD: the length the index gave.
            if let Some(l) = resp.headers().get(reqwest::header::CONTENT_LENGTH) {
                bytes.extend_from_slice(b"content-length: ");
                bytes.extend_from_slice(l.as_bytes());
                bytes.extend_from_slice(b"\r\n");
            }
        } else if let Some(l) = length {
            bytes.extend_from_slice(format!("content-length: {l}\r\n").as_bytes());
        } else if chunked {
            bytes.extend_from_slice(b"transfer-encoding: chunked\r\n");
        } else {
            keep = false;
        }
        bytes.extend_from_slice(match (keep, head.version == "HTTP/1.1") {
            (false, _) => b"Connection: close\r\n\r\n".as_slice(),
            (true, true) => b"\r\n",
            (true, false) => b"Connection: keep-alive\r\n\r\n",
        });
        let streamed = page.is_none() && !no_body;
        if let Some(p) = page {
            bytes.extend_from_slice(&p);
        }
        let result = match send(out, &bytes, rec) {
            Ok(()) if streamed => {
                stream(out, &mut resp, length, chunked, rec, &mut hasher, &mut size)
            }
            r => r,
        };
        if !no_body {
            shared.artifact(
                super::body::Relayed {
                    method: head.method.clone(),
                    url: shown.to_string(),
                    status: status.as_u16(),
                    content_type,
                    size,
                    sha256: match (&result, hasher) {
                        (Ok(()), Some(h)) => Some(format!("{:x}", h.finalize())),
                        _ => None,
                    },
                },
                &gw.host.to_string(),
                gw.port,
            );
        }
        let result = result.and_then(|()| {
            out.flush()
                .map_err(|e| format!("writing to the client: {e}"))
        });
        match result {
            Ok(()) if keep => Served::Keep,
            Ok(()) => Served::Close,
            Err(e) => {
                rec.reason = Some(e);
                Served::Close
            }
        }
    }
}

/// Writes to the client, counting.
fn send(out: &mut dyn Write, bytes: &[u8], rec: &mut ConnectionRecord) -> Result<(), String> {
    out.write_all(bytes)
        .map_err(|e| format!("writing to the client: {e}"))?;
    rec.bytes_down += bytes.len() as u64;
    Ok(())
}

/// Streams a response body to the client: exactly `length` bytes,
/// chunked, or up to its end (the connection then closes).
fn stream(
    out: &mut dyn Write,
    from: &mut dyn Read,
    length: Option<u64>,
    chunked: bool,
    rec: &mut ConnectionRecord,
    hasher: &mut Option<Sha256>,
    size: &mut u64,
) -> Result<(), String> {
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading from the index: {e}")),
        };
        if let Some(h) = hasher.as_mut() {
            h.update(&buf[..n]);
        }
        *size += n as u64;
        if chunked {
            send(out, format!("{n:x}\r\n").as_bytes(), rec)?;
            send(out, &buf[..n], rec)?;
            send(out, b"\r\n", rec)?;
        } else {
            send(out, &buf[..n], rec)?;
        }
    }
    if chunked {
        send(out, b"0\r\n\r\n", rec)?;
    }
    match length {
        Some(l) if l != *size => Err(format!("the index sent {size} of {l} bytes")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_to_the_same_host_are_rewritten() {
        let h = NormHost::parse("idx.test").unwrap();
        let base = "http://127.0.0.1:9/pkgward-ab";
        let page = br#"<a href="https://IDX.test/packages/a.tar.gz#sha256=1">a</a>
<a href="https://idx.test:443/x">b</a> <a href="https://idx.test:8443/y">c</a>
<a href="https://other.test/z">d</a> <a href="https://u@idx.test/w">e</a> https://idx.test"#;
        let out = String::from_utf8(rewrite_links(page, &h, 443, base)).unwrap();
        assert!(out.contains(r#""http://127.0.0.1:9/pkgward-ab/packages/a.tar.gz#sha256=1""#));
        assert!(out.contains(r#""http://127.0.0.1:9/pkgward-ab/x""#));
        assert!(out.contains("https://idx.test:8443/y"));
        assert!(out.contains("https://other.test/z"));
        assert!(out.contains("https://u@idx.test/w"));
        assert!(out.ends_with(" http://127.0.0.1:9/pkgward-ab"));
        let json = br#"{"url": "https:\/\/idx.test\/p\/a.whl", "b": "https://idx.test/q"}"#;
        let out = String::from_utf8(rewrite_links(json, &h, 443, base)).unwrap();
        assert_eq!(
            out,
            r#"{"url": "http:\/\/127.0.0.1:9\/pkgward-ab\/p\/a.whl", "b": "http://127.0.0.1:9/pkgward-ab/q"}"#
        );
        assert!(is_page(Some("application/vnd.pypi.simple.v1+json")));
        assert!(is_page(Some("text/html; charset=utf-8")));
        assert!(!is_page(Some("application/octet-stream")));
    }
}
