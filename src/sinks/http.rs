//! The HTTP(S) sink: batches of records POSTed as NDJSON
//! (`Content-Type: application/x-ndjson`), each batch with an
//! `Idempotency-Key` that stays the same when the batch is sent again (after
//! a failure, or a crash before its acknowledgement was recorded), so a
//! collector that honours it stores every record once. Any 2xx acknowledges
//! the batch; anything else leaves it in the spool.

use std::time::Duration;

use super::config::HttpConfig;

pub struct Client {
    inner: reqwest::blocking::Client,
    url: String,
    token: Option<String>,
}

impl Client {
    pub fn new(cfg: &HttpConfig) -> Result<Client, String> {
        let token = match &cfg.token_env {
            Some(var) => match std::env::var(var) {
                Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
                _ => {
                    return Err(format!(
                        "the environment variable {var} (token_env) is not set: the records stay spooled"
                    ))
                }
            },
            None => None,
        };
        let b = reqwest::blocking::Client::builder()
            .no_proxy()
            .connect_timeout(cfg.timeout)
            .timeout(cfg.timeout)
            // A redirect could carry the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("pkgward/", env!("CARGO_PKG_VERSION")));
        // reqwest needs a TLS configuration even for plain http (loopback):
        // one without trust anchors then, which skips reading the system's.
        let b = b.tls_backend_preconfigured(tls(cfg, cfg.url.starts_with("https:"))?);
        let inner = b.build().map_err(|e| chain(&e))?;
        Ok(Client {
            inner,
            url: cfg.url.clone(),
            token,
        })
    }

    /// POSTs one batch; `Ok` only on a 2xx answer.
    pub fn post(&self, body: Vec<u8>, key: &str, timeout: Duration) -> Result<(), String> {
        let mut req = self
            .inner
            .post(&self.url)
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .header("Idempotency-Key", key)
            .body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .map_err(|e| format!("{}: {}", self.url, chain(&e)))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("{}: HTTP {status}", self.url))
        }
    }
}

/// The collector's trust anchors: `ca_file` when set (only those), else
/// the system's.
fn tls(cfg: &HttpConfig, https: bool) -> Result<rustls::ClientConfig, String> {
    if !https {
        return client_tls(None, false, "");
    }
    client_tls(cfg.ca_file.as_deref(), true, "ca_file ")
}

/// A TLS client configuration (ring provider) trusting only the
/// certificates of the PEM file `ca_file` when given (`label` prefixes its
/// errors), else the platform's roots when `native`, else none.
pub(crate) fn client_tls(
    ca_file: Option<&std::path::Path>,
    native: bool,
    label: &str,
) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(ca) => {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("cannot read {label}{}: {e}", ca.display()))?;
            for c in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
                let c: rustls::pki_types::CertificateDer =
                    c.map_err(|e| format!("{label}{}: {e}", ca.display()))?;
                roots
                    .add(c)
                    .map_err(|e| format!("{label}{}: {e}", ca.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("{label}{}: no certificate", ca.display()));
            }
        }
        None if native => {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
        }
        None => {}
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}
