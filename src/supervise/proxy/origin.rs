//! The index gateway at the index's own origin, for a confined run that
//! cannot be pointed at [`super::gateway`]'s prefix (uv, poetry and pipenv
//! record the index URL in their lock files).
//!
//! [`super::Handle::serve_at_origin`] registers credentials for a TLS
//! index host and port (`None`: any port the rules approve the host on as
//! a registry or mirror, as netrc's apply to the whole host) while a
//! confined run goes on (dropping the returned [`ServedAtOrigin`] ends
//! it). A `CONNECT` to such a host and port, that the invocation's rules
//! allow, is not tunnelled: the
//! proxy answers the TLS handshake itself, with a leaf certificate for the
//! host name issued by an ephemeral CA made for this invocation (its key
//! only ever in memory; [`super::Handle::origin_ca_pem`] is what the
//! confined run is told to trust, besides its usual roots), and serves the
//! HTTP/1.1 requests inside the session exactly as the gateway does
//! ([`super::gateway::serve`]): `GET`/`HEAD` only, origin-form targets on
//! that host, pkgward fetching from the real index with the credentials and
//! the trust the tool would use, the client's own `Authorization` and
//! cookies dropped, nothing rewritten (same origin). The `CONNECT` is one
//! `connection` record (`via: "gateway"`, its TLS bytes), and so is each
//! request in it. Any other `CONNECT` stays an untouched tunnel.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::gateway::{serve, Gateway, Served, Trust};
use super::{http, ConnectionRecord, Next, Shared};
use crate::decide::urls::NormHost;

/// The ephemeral CA and the server configurations made with it, per host.
pub(super) struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
    leaves: Mutex<Vec<(NormHost, Arc<rustls::ServerConfig>)>>,
}

impl Ca {
    fn new() -> Result<Ca, String> {
        let e = |e: rcgen::Error| format!("cannot make the gateway's CA: {e}");
        let key = rcgen::KeyPair::generate().map_err(e)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(e)?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "pkgward index gateway (ephemeral, one invocation)",
        );
        let now = std::time::SystemTime::now();
        let day = std::time::Duration::from_secs(86_400);
        params.not_before = (now - day).into();
        params.not_after = (now + 7 * day).into();
        let cert = params.self_signed(&key).map_err(e)?;
        Ok(Ca {
            issuer: rcgen::Issuer::new(params, key),
            pem: cert.pem(),
            leaves: Mutex::new(Vec::new()),
        })
    }

    /// The TLS server configuration for `host` (a leaf certificate for
    /// its name or address; HTTP/1.1 only).
    fn server_config(&self, host: &NormHost) -> Result<Arc<rustls::ServerConfig>, String> {
        let mut leaves = self.leaves.lock().map_err(|_| "poisoned".to_string())?;
        if let Some((_, c)) = leaves.iter().find(|(h, _)| h == host) {
            return Ok(c.clone());
        }
        let e = |e: rcgen::Error| format!("cannot make a certificate for {host}: {e}");
        let key = rcgen::KeyPair::generate().map_err(e)?;
        let san = match host {
            NormHost::Ip(ip) => rcgen::SanType::IpAddress(*ip),
            NormHost::Domain(d) => rcgen::SanType::DnsName(d.clone().try_into().map_err(e)?),
            NormHost::None => return Err("no host".into()),
        };
        let mut params = rcgen::CertificateParams::default();
        params.subject_alt_names = vec![san];
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let now = std::time::SystemTime::now();
        let day = std::time::Duration::from_secs(86_400);
        params.not_before = (now - day).into();
        params.not_after = (now + 7 * day).into();
        let cert = params.signed_by(&key, &self.issuer).map_err(e)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| format!("the key for {host}: {e}"))?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], der)
            .map_err(|e| format!("the certificate for {host}: {e}"))?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let cfg = Arc::new(cfg);
        leaves.push((host.clone(), cfg.clone()));
        Ok(cfg)
    }
}

/// One host's credentials served at its origin.
pub(super) struct Registration {
    id: u64,
    host: NormHost,
    port: Option<u16>,
    auth: String,
    trust: Trust,
    /// The gateways made for it, one per port connected to.
    gateways: Mutex<Vec<Arc<Gateway>>>,
}

/// A gateway served at its origin, with the CA that signs its certificate.
type AtOrigin = (Arc<Gateway>, Arc<Ca>);

/// What [`Shared`] keeps: the CA (made at the first registration) and the
/// registrations in force.
#[derive(Default)]
pub(super) struct Origins {
    ca: Option<Arc<Ca>>,
    regs: Vec<Arc<Registration>>,
    next: u64,
}

/// Registrations in force until dropped ([`super::Handle::serve_at_origin`]).
#[must_use = "the registration ends when this is dropped"]
pub struct ServedAtOrigin {
    shared: Arc<Shared>,
    ids: Vec<u64>,
}

impl std::fmt::Debug for ServedAtOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedAtOrigin")
            .field("ids", &self.ids)
            .finish()
    }
}

impl ServedAtOrigin {
    /// No registration (yet).
    pub(super) fn empty(shared: Arc<Shared>) -> ServedAtOrigin {
        ServedAtOrigin {
            shared,
            ids: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Takes `other`'s registrations too (they end with this one).
    pub fn merge(&mut self, mut other: ServedAtOrigin) {
        self.ids.append(&mut other.ids);
    }
}

impl Drop for ServedAtOrigin {
    fn drop(&mut self) {
        if let Ok(mut o) = self.shared.origins.lock() {
            o.regs.retain(|r| !self.ids.contains(&r.id));
        }
    }
}

impl Shared {
    /// Registers `auth` for `host` (`port`: `None`, any) at its origin.
    pub(super) fn serve_at_origin(
        self: &Arc<Self>,
        host: &str,
        port: Option<u16>,
        auth: String,
        trust: &Trust,
    ) -> Result<ServedAtOrigin, String> {
        let host = NormHost::parse(host).map_err(|e| format!("{host}: {e}"))?;
        let approved = match port {
            Some(p) => self.cfg.rules.find(&host, p).is_some(),
            None => registry_rule(&self.cfg.rules, &host, None),
        };
        if !approved {
            let shown = port.map_or(host.to_string(), |p| format!("{host}:{p}"));
            return Err(format!("{shown} is not an approved destination"));
        }
        let mut o = self.origins.lock().map_err(|_| "poisoned".to_string())?;
        if o.ca.is_none() {
            o.ca = Some(Arc::new(Ca::new()?));
        }
        o.next += 1;
        let id = o.next;
        o.regs.push(Arc::new(Registration {
            id,
            host,
            port,
            auth,
            trust: trust.clone(),
            gateways: Mutex::new(Vec::new()),
        }));
        Ok(ServedAtOrigin {
            shared: self.clone(),
            ids: vec![id],
        })
    }

    /// The CA's certificate (PEM), once a registration made it.
    pub(super) fn origin_ca_pem(&self) -> Option<String> {
        let o = self.origins.lock().ok()?;
        o.ca.as_ref().map(|c| c.pem.clone())
    }

    /// The gateway that serves a `CONNECT` to `host`:`port` at its origin,
    /// if one is registered (a registration for that port wins over a
    /// host-wide one, the latest over earlier ones); `Err`: there is one,
    /// but it cannot be served.
    fn origin_for(&self, host: &NormHost, port: u16) -> Option<Result<AtOrigin, String>> {
        let (reg, ca) = {
            let o = self.origins.lock().ok()?;
            let reg = o
                .regs
                .iter()
                .rev()
                .filter(|r| {
                    r.host == *host
                        && match r.port {
                            Some(p) => p == port,
                            None => registry_rule(&self.cfg.rules, host, Some(port)),
                        }
                })
                .max_by_key(|r| r.port.is_some())
                .cloned()?;
            (reg, o.ca.clone()?)
        };
        let mut gws = match reg.gateways.lock() {
            Ok(g) => g,
            Err(_) => return Some(Err("poisoned".into())),
        };
        if let Some(g) = gws.iter().find(|g| g.port == port) {
            return Some(Ok((g.clone(), ca)));
        }
        let made = self.new_gateway(
            String::new(),
            host.clone(),
            port,
            reg.auth.clone(),
            &reg.trust,
        );
        Some(made.map(|g| {
            let g = Arc::new(g);
            gws.push(g.clone());
            (g, ca)
        }))
    }
}

/// Whether a rule approves `host` (on `port`; `None`: on some port) as a
/// registry or its mirror: a host-wide registration (netrc's credentials)
/// serves only those, not every host `[network] allow` lets through.
fn registry_rule(rules: &super::Rules, host: &NormHost, port: Option<u16>) -> bool {
    rules.iter().any(|r| {
        !r.source.starts_with("network.")
            && match port {
                Some(p) => r.allows(host, p),
                None => r.matches_host(host),
            }
    })
}

/// The client socket with the bytes already read from it first, counting
/// what passes both ways.
struct Counted {
    pre: Vec<u8>,
    sock: TcpStream,
    up: u64,
    down: u64,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = if self.pre.is_empty() {
            self.sock.read(buf)?
        } else {
            let n = buf.len().min(self.pre.len());
            buf[..n].copy_from_slice(&self.pre[..n]);
            self.pre.drain(..n);
            n
        };
        self.up += n as u64;
        Ok(n)
    }
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.sock.write(buf)?;
        self.down += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

impl super::Conn<'_> {
    /// A `CONNECT` the rules allow (`rec`): served at the index's origin
    /// when a registration names its host and port (`None`: not, to be
    /// tunnelled).
    pub(super) fn at_origin(
        &mut self,
        rec: &mut ConnectionRecord,
        host: &NormHost,
        port: u16,
        rest: &[u8],
    ) -> Option<Next> {
        let (gw, ca) = match self.shared.origin_for(host, port)? {
            Ok(x) => x,
            Err(why) => {
                let why = format!("the index gateway cannot serve {host}:{port}: {why}");
                return Some(self.refuse(rec, 502, why));
            }
        };
        rec.via = "gateway";
        let cfg = match ca.server_config(host) {
            Ok(c) => c,
            Err(why) => return Some(self.refuse(rec, 502, why)),
        };
        let tls = rustls::ServerConnection::new(cfg).map_err(|e| e.to_string());
        let sock = self.client.try_clone().map_err(|e| e.to_string());
        let (tls, sock) = match (tls, sock) {
            (Ok(t), Ok(s)) => (t, s),
            (Err(why), _) | (_, Err(why)) => return Some(self.refuse(rec, 502, why)),
        };
        rec.status = 200;
        if let Err(e) = (&self.client).write_all(super::ESTABLISHED) {
            rec.reason = Some(format!("writing to the client: {e}"));
            return Some(Next::Close);
        }
        rec.bytes_down = super::ESTABLISHED.len() as u64;
        let _ = self.client.set_read_timeout(Some(super::HEAD_TIMEOUT));
        let mut s = rustls::StreamOwned::new(
            tls,
            Counted {
                pre: rest.to_vec(),
                sock,
                up: 0,
                down: 0,
            },
        );
        let handshake = loop {
            if !s.conn.is_handshaking() {
                break Ok(());
            }
            if let Err(e) = s.conn.complete_io(&mut s.sock) {
                break Err(e);
            }
        };
        match handshake {
            Ok(()) => self.origin_requests(rec, &gw, &mut s),
            Err(e) => {
                rec.reason = Some(format!(
                    "the TLS session with the client failed (a client that does not trust \
                     the gateway's CA?): {e}"
                ));
            }
        }
        s.conn.send_close_notify();
        let _ = s.conn.complete_io(&mut s.sock);
        rec.bytes_up += s.sock.up;
        rec.bytes_down += s.sock.down;
        Some(Next::Close)
    }

    /// The requests inside one TLS session, each recorded on its own
    /// (numbered after the `CONNECT`'s record `rec`).
    fn origin_requests(
        &mut self,
        rec: &ConnectionRecord,
        gw: &Gateway,
        s: &mut rustls::StreamOwned<rustls::ServerConnection, Counted>,
    ) {
        let shared = self.shared;
        let mut buf: Vec<u8> = Vec::new();
        let mut seq = rec.seq;
        loop {
            if shared.stop.load(std::sync::atomic::Ordering::SeqCst)
                || seq >= rec.seq + super::MAX_REQUESTS
            {
                return;
            }
            let _ = s.sock.sock.set_read_timeout(Some(super::IDLE_TIMEOUT));
            let before = std::mem::take(&mut buf);
            let read = http::read_head(&mut before.as_slice().chain(&mut *s));
            let (time, started) = (crate::record::now_rfc3339(), Instant::now());
            seq += 1;
            let mut r = shared.record(time);
            r.conn = self.id;
            r.seq = seq;
            r.via = "gateway";
            let refuse = |r: &mut ConnectionRecord, s: &mut dyn Write, status, why: String| {
                r.status = status;
                let body = format!("pkgward: the index gateway refused the request: {why}\n");
                let msg = super::error_response(status, super::reason_phrase(status), &body);
                let _ = s.write_all(msg.as_bytes()).and_then(|()| s.flush());
                r.reason = Some(why);
            };
            let (head_bytes, rest) = match read {
                Ok(x) => x,
                Err(http::HeadError::Closed | http::HeadError::Io(_)) if before.is_empty() => {
                    return;
                }
                Err(e) => {
                    let status = if matches!(e, http::HeadError::TooLarge) {
                        431
                    } else {
                        400
                    };
                    refuse(&mut r, s, status, e.to_string());
                    super::finish(shared, r, started);
                    return;
                }
            };
            r.bytes_up = head_bytes.len() as u64;
            let head = match http::parse_head(&head_bytes) {
                Ok(h) => h,
                Err(e) => {
                    refuse(&mut r, s, 400, e.to_string());
                    super::finish(shared, r, started);
                    return;
                }
            };
            r.method = Some(head.method.clone());
            let host_ok = head
                .all("host")
                .all(|h| super::same_authority(h, &gw.host, gw.port, 443));
            let served = if !head.target.starts_with('/') {
                Served::Refuse(
                    400,
                    "a request to the index gateway names a path only".into(),
                )
            } else if !host_ok {
                Served::Refuse(
                    400,
                    format!("the Host header does not name {}:{}", gw.host, gw.port),
                )
            } else {
                buf = rest;
                serve(shared, s, &mut r, &head, gw, &head.target, None)
            };
            let next = match served {
                Served::Keep => Next::Keep,
                Served::Close => Next::Close,
                Served::Refuse(status, why) => {
                    refuse(&mut r, s, status, why);
                    Next::Close
                }
            };
            super::finish(shared, r, started);
            if next == Next::Close {
                return;
            }
        }
    }
}
