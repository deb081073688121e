//! A remote policy named by the system layer (`[fleet]`): fetched over HTTPS,
//! accepted only when its bytes match a pinned sha256 or carry a valid
//! minisign signature by the configured key, cached under the state
//! directory with its fetch time and ETag, and re-verified every time it is
//! read (the cache is in the user's own directory, so it is never trusted
//! as such).
//!
//! The cached copy is merged as a second system layer right after the local
//! system file (see `policy::load`). Fetching happens only in
//! `pkgward fleet sync` and in the shim (in the background while the tool
//! runs, or up front within `timeout` when no usable copy exists).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What the policy does when no fresh-enough verified copy is available.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnStale {
    /// Keep enforcing the last verified copy, however old (recorded as stale).
    EnforceCached,
    /// Refuse to run the tool until a fresh copy is fetched.
    Deny,
}

impl OnStale {
    pub const NAMES: [&'static str; 2] = ["enforce-cached", "deny"];
    pub fn from_name(s: &str) -> Option<OnStale> {
        match s {
            "enforce-cached" => Some(OnStale::EnforceCached),
            "deny" => Some(OnStale::Deny),
            _ => None,
        }
    }
}

/// `[fleet]` of the system layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FleetConfig {
    pub policy_url: String,
    /// Lowercase hex sha256 the policy bytes must have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// A minisign public key (`RW…`, the second line of a `.pub` file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Where the detached signature is (default: `policy_url` + `.minisig`).
    pub signature_url: String,
    #[serde(with = "secs")]
    pub refresh: Duration,
    #[serde(with = "secs")]
    pub max_age: Duration,
    pub on_stale: OnStale,
    /// Bound on a fetch made by the shim.
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// Extra trust anchors (PEM) for the policy server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A threat feed (OSV) served beside the policy, signed with the same
    /// key (signature at `feed_url` + `.minisig`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feed_url: Option<String>,
    /// A pin of the feed file (instead of, or besides, its signature).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feed_sha256: Option<String>,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 86_400);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1500);
/// A remote policy larger than this is refused.
const MAX_BYTES: u64 = 1 << 20;
/// A threat feed larger than this is refused.
const MAX_FEED_BYTES: u64 = 512 << 20;

/// The cache entry's metadata.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Meta {
    pub url: String,
    pub sha256: String,
    #[serde(default)]
    pub etag: Option<String>,
    /// Unix seconds of the last successful fetch (a 304 counts).
    pub fetched_at: u64,
    #[serde(default)]
    pub feed: Option<FeedMeta>,
}

/// The cached threat feed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FeedMeta {
    pub url: String,
    /// The file name under the cache directory (`feed.zip`, `feed.json`…).
    pub file: String,
    pub sha256: String,
    #[serde(default)]
    pub etag: Option<String>,
    pub fetched_at: u64,
}

/// The verified threat feed fetched with the policy, if any (verified when
/// fetched: re-hashing a large feed on every invocation would cost more
/// than the check is worth, and the index is keyed by its size and time).
pub fn cached_feed(cfg: &FleetConfig, state: &Path) -> Option<PathBuf> {
    let url = cfg.feed_url.as_ref()?;
    let dir = cache_dir(state, &cfg.policy_url);
    let meta: Meta = serde_json::from_slice(&std::fs::read(dir.join("meta.json")).ok()?).ok()?;
    let feed = meta.feed.filter(|f| &f.url == url)?;
    if feed.file.contains(['/', '\\']) || feed.file.starts_with('.') {
        return None;
    }
    let p = dir.join(&feed.file);
    p.is_file().then_some(p)
}

/// A verified copy read from the cache.
#[derive(Clone, Debug)]
pub struct Cached {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub meta: Meta,
    pub age: Duration,
}

/// The cache directory of a policy URL.
pub fn cache_dir(state: &Path, url: &str) -> PathBuf {
    let h = hex(&Sha256::digest(url.as_bytes()));
    state.join("fleet").join(&h[..16])
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Checks `bytes` against the configuration: the pin, and the signature
/// when a key is configured (both when both are).
pub fn verify(cfg: &FleetConfig, bytes: &[u8], signature: Option<&[u8]>) -> Result<(), String> {
    if let Some(pin) = &cfg.sha256 {
        let got = hex(&Sha256::digest(bytes));
        if !got.eq_ignore_ascii_case(pin) {
            return Err(format!(
                "its sha256 is {got}, not the pinned {pin} (tampered, or the pin was not updated)"
            ));
        }
    }
    if let Some(key) = &cfg.public_key {
        let pk = minisign_verify::PublicKey::from_base64(key.trim())
            .map_err(|e| format!("the configured public_key is not a minisign key: {e}"))?;
        let sig = signature.ok_or("it has no signature")?;
        let sig = std::str::from_utf8(sig).map_err(|_| "its signature is not text".to_string())?;
        let sig = minisign_verify::Signature::decode(sig)
            .map_err(|e| format!("its signature cannot be read: {e}"))?;
        pk.verify(bytes, &sig, false)
            .map_err(|e| format!("its signature does not verify with the configured key: {e}"))?;
    }
    if cfg.sha256.is_none() && cfg.public_key.is_none() {
        return Err("neither `sha256` nor `public_key` is configured".into());
    }
    Ok(())
}

/// Reads and verifies the cached copy. `Err` says why there is none.
pub fn cached(cfg: &FleetConfig, state: &Path, now: SystemTime) -> Result<Cached, String> {
    let dir = cache_dir(state, &cfg.policy_url);
    let meta: Meta = std::fs::read(dir.join("meta.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("no cached copy")?;
    if meta.url != cfg.policy_url {
        return Err("the cached copy is of another URL".into());
    }
    let path = dir.join("policy.toml");
    let bytes = read_capped(&path).map_err(|e| format!("the cached copy cannot be read: {e}"))?;
    let sig = std::fs::read(dir.join("policy.toml.minisig")).ok();
    verify(cfg, &bytes, sig.as_deref()).map_err(|e| format!("the cached copy is refused: {e}"))?;
    let fetched = SystemTime::UNIX_EPOCH + Duration::from_secs(meta.fetched_at);
    let age = now.duration_since(fetched).unwrap_or(Duration::ZERO);
    Ok(Cached {
        path,
        bytes,
        meta,
        age,
    })
}

fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut b = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_BYTES + 1)
        .read_to_end(&mut b)?;
    if b.len() as u64 > MAX_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "larger than 1 MiB",
        ));
    }
    Ok(b)
}

/// Claims the right to start a background refresh: false when one was
/// started within the last minute (many shims starting at once start one).
pub fn claim_refresh(cfg: &FleetConfig, state: &Path) -> bool {
    let dir = cache_dir(state, &cfg.policy_url);
    if std::fs::create_dir_all(&dir).is_err() {
        return false;
    }
    let mark = dir.join("refresh.started");
    let recent = std::fs::metadata(&mark)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < Duration::from_secs(60).max(cfg.timeout * 4));
    if recent {
        return false;
    }
    std::fs::write(&mark, unix_now().to_string()).is_ok()
}

/// Records the outcome of a background refresh where the next invocation
/// reads it (`policy.fleet.refresh`).
pub fn record_refresh(cfg: &FleetConfig, state: &Path, outcome: &str) {
    let dir = cache_dir(state, &cfg.policy_url);
    let _ = std::fs::create_dir_all(&dir);
    let v = serde_json::json!({"time": unix_now(), "outcome": outcome});
    let _ = write_atomic(&dir, "last-refresh.json", v.to_string().as_bytes());
}

/// The outcome of the last background refresh, if one was recorded.
pub fn last_refresh(cfg: &FleetConfig, state: &Path) -> Option<String> {
    let dir = cache_dir(state, &cfg.policy_url);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("last-refresh.json")).ok()?).ok()?;
    Some(format!(
        "last background refresh (at {}): {}",
        v.get("time")?.as_u64()?,
        v.get("outcome")?.as_str()?
    ))
}

/// The result of a fetch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fetched {
    /// A new verified copy was stored.
    Updated { sha256: String },
    /// The server said 304 (ETag): the cached copy is current.
    NotModified,
}

/// Fetches the policy (and its signature), verifies it and stores it. A copy
/// that fails verification is never stored: the last verified one stays.
pub fn fetch(cfg: &FleetConfig, state: &Path, timeout: Duration) -> Result<Fetched, String> {
    let dir = cache_dir(state, &cfg.policy_url);
    let prev = cached(cfg, state, SystemTime::now()).ok();
    let client = client(cfg, timeout)?;
    let mut req = client.get(&cfg.policy_url);
    if let Some(etag) = prev.as_ref().and_then(|c| c.meta.etag.clone()) {
        req = req.header(reqwest::header::IF_NONE_MATCH, etag);
    }
    let resp = req
        .send()
        .map_err(|e| format!("cannot fetch {}: {}", cfg.policy_url, error_chain(&e)))?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_MODIFIED {
        if let Some(mut c) = prev {
            c.meta.fetched_at = unix_now();
            write_meta(&dir, &c.meta)?;
            fetch_feed(cfg, &client, &dir, &mut c.meta)?;
            return Ok(Fetched::NotModified);
        }
        return Err(format!("{}: 304 without a cached copy", cfg.policy_url));
    }
    if !status.is_success() {
        return Err(format!("{}: HTTP {status}", cfg.policy_url));
    }
    let etag = resp
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = body(resp, &cfg.policy_url)?;
    let sig = if cfg.public_key.is_some() {
        let r = client
            .get(&cfg.signature_url)
            .send()
            .map_err(|e| format!("cannot fetch {}: {}", cfg.signature_url, error_chain(&e)))?;
        if !r.status().is_success() {
            return Err(format!("{}: HTTP {}", cfg.signature_url, r.status()));
        }
        Some(body(r, &cfg.signature_url)?)
    } else {
        None
    };
    verify(cfg, &bytes, sig.as_deref())
        .map_err(|e| format!("the policy served at {} is refused: {e}", cfg.policy_url))?;
    // It must also be a valid policy: an unparsable copy would fail closed
    // on every later run, so the last good one is kept instead.
    crate::policy::check_remote(&bytes, &dir.join("policy.toml"))
        .map_err(|e| format!("the policy served at {} is invalid: {e}", cfg.policy_url))?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write_atomic(&dir, "policy.toml", &bytes)?;
    match &sig {
        Some(s) => write_atomic(&dir, "policy.toml.minisig", s)?,
        None => {
            let _ = std::fs::remove_file(dir.join("policy.toml.minisig"));
        }
    }
    let sha256 = hex(&Sha256::digest(&bytes));
    let prev_feed = prev.as_ref().and_then(|c| c.meta.feed.clone());
    let mut meta = Meta {
        url: cfg.policy_url.clone(),
        sha256: sha256.clone(),
        etag,
        fetched_at: unix_now(),
        feed: prev_feed,
    };
    write_meta(&dir, &meta)?;
    fetch_feed(cfg, &client, &dir, &mut meta)?;
    Ok(Fetched::Updated { sha256 })
}

/// Fetches the threat feed named by `feed_url` into the cache directory,
/// verified with the policy's key; a refused feed leaves the previous one.
fn fetch_feed(
    cfg: &FleetConfig,
    client: &reqwest::blocking::Client,
    dir: &Path,
    meta: &mut Meta,
) -> Result<(), String> {
    let Some(url) = &cfg.feed_url else {
        return Ok(());
    };
    let mut req = client.get(url);
    if let Some(etag) = meta
        .feed
        .as_ref()
        .filter(|f| &f.url == url)
        .and_then(|f| f.etag.clone())
    {
        req = req.header(reqwest::header::IF_NONE_MATCH, etag);
    }
    let resp = req
        .send()
        .map_err(|e| format!("cannot fetch {url}: {}", error_chain(&e)))?;
    if resp.status() == reqwest::StatusCode::NOT_MODIFIED && meta.feed.is_some() {
        if let Some(f) = meta.feed.as_mut() {
            f.fetched_at = unix_now();
        }
        return write_meta(dir, meta);
    }
    if !resp.status().is_success() {
        return Err(format!("{url}: HTTP {}", resp.status()));
    }
    let etag = resp
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = body_capped(resp, url, MAX_FEED_BYTES)?;
    // The feed's own pin and/or the policy's key (its signature beside it).
    let sig = if cfg.public_key.is_some() {
        let sig_url = format!("{url}.minisig");
        let r = client
            .get(&sig_url)
            .send()
            .map_err(|e| format!("cannot fetch {sig_url}: {}", error_chain(&e)))?;
        if !r.status().is_success() {
            return Err(format!("{sig_url}: HTTP {}", r.status()));
        }
        Some(body(r, &sig_url)?)
    } else {
        None
    };
    let feed_cfg = FleetConfig {
        sha256: cfg.feed_sha256.clone(),
        ..cfg.clone()
    };
    verify(&feed_cfg, &bytes, sig.as_deref())
        .map_err(|e| format!("the threat feed served at {url} is refused: {e}"))?;
    let ext = url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let p = u.path().to_ascii_lowercase();
            [".zip", ".jsonl", ".ndjson", ".json"]
                .into_iter()
                .find(|e| p.ends_with(e))
                .map(str::to_string)
        })
        .unwrap_or_else(|| ".json".into());
    let file = format!("feed{ext}");
    write_atomic(dir, &file, &bytes)?;
    meta.feed = Some(FeedMeta {
        url: url.clone(),
        file,
        sha256: hex(&Sha256::digest(&bytes)),
        etag,
        fetched_at: unix_now(),
    });
    write_meta(dir, meta)
}

fn body(resp: reqwest::blocking::Response, url: &str) -> Result<Vec<u8>, String> {
    body_capped(resp, url, MAX_BYTES)
}

fn body_capped(resp: reqwest::blocking::Response, url: &str, cap: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut b = Vec::new();
    resp.take(cap + 1)
        .read_to_end(&mut b)
        .map_err(|e| format!("{url}: {e}"))?;
    if b.len() as u64 > cap {
        return Err(format!("{url}: larger than {} MiB", cap >> 20));
    }
    Ok(b)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn write_meta(dir: &Path, meta: &Meta) -> Result<(), String> {
    let b = serde_json::to_vec(meta).map_err(|e| e.to_string())?;
    write_atomic(dir, "meta.json", &b)
}

fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let err = |e: std::io::Error| format!("cannot write {}: {e}", dir.join(name).display());
    let mut t = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    t.write_all(bytes).map_err(err)?;
    t.as_file().sync_all().map_err(err)?;
    t.persist(dir.join(name)).map_err(|e| err(e.error))?;
    Ok(())
}

/// An HTTPS client with the ring provider, the platform's roots plus
/// `ca_file`, no proxy from the environment (a user's `HTTPS_PROXY` must
/// not sit between pkgward and its policy) and the given timeout.
fn client(cfg: &FleetConfig, timeout: Duration) -> Result<reqwest::blocking::Client, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for c in native.certs {
        let _ = roots.add(c);
    }
    if let Some(ca) = &cfg.ca_file {
        let pem =
            std::fs::read(ca).map_err(|e| format!("cannot read ca_file {}: {e}", ca.display()))?;
        let mut n = 0;
        for c in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
            let c: rustls::pki_types::CertificateDer =
                c.map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
            roots
                .add(c)
                .map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
            n += 1;
        }
        if n == 0 {
            return Err(format!("ca_file {}: no certificate", ca.display()));
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("pkgward/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| error_chain(&e))
}
