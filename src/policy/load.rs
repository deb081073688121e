//! Reading the discovered layers: bytes → hashes and digest → parsed layers →
//! the merged [`Policy`].

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::parse::{parse_bytes, parse_layer, RawLayer};
use super::{
    merge, Discovery, FleetState, FleetStatus, Layer, LayerSource, Policy, PolicyError, POLICY_ENV,
};

/// A policy file larger than this is refused (it is certainly not a policy,
/// and `PKGWARD_POLICY=/dev/zero` must not hang the shim).
const MAX_POLICY_BYTES: u64 = 1 << 20;

pub struct Loaded {
    pub policy: Policy,
    /// Errors of the layers that were skipped (invalid or unreadable). The
    /// caller decides what they mean (in enforce mode: refuse to run).
    pub errors: Vec<PolicyError>,
}

/// Reads, validates and merges the discovered layers. An invalid or
/// unreadable layer is skipped and its errors are collected; a missing file is
/// skipped silently except for the [`Layer::Env`] layer (`PKGWARD_POLICY`
/// names a file that must exist). A system layer that exists but cannot be
/// used locks every lockable key at its default (fail closed).
pub fn load(d: &Discovery) -> Loaded {
    load_in(
        d,
        crate::paths::state_dir().as_deref(),
        std::time::SystemTime::now(),
    )
}

/// [`load`] with the state directory (where the remote policy is cached)
/// and the time given.
pub fn load_in(d: &Discovery, state: Option<&Path>, now: std::time::SystemTime) -> Loaded {
    let mut order: Vec<&(Layer, std::path::PathBuf)> = d.layers.iter().collect();
    order.sort_by_key(|(layer, _)| *layer);

    let mut errors = Vec::new();
    let mut raws: Vec<RawLayer> = Vec::with_capacity(order.len());
    let mut sources = Vec::with_capacity(order.len());
    let mut digest = Sha256::new();
    let mut system_failed = false;

    for (layer, path) in order {
        let bytes = match read_policy(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && *layer != Layer::Env => continue,
            Err(e) => {
                errors.push(read_error(path, *layer, &e));
                system_failed |= *layer == Layer::System;
                continue;
            }
        };
        sources.push(LayerSource {
            layer: *layer,
            path: path.clone(),
            sha256: hex(&Sha256::digest(&bytes)),
        });
        digest.update(layer.as_str().as_bytes());
        digest.update([0u8]);
        let p = path.as_os_str().as_encoded_bytes();
        digest.update((p.len() as u64).to_le_bytes());
        digest.update(p);
        digest.update((bytes.len() as u64).to_le_bytes());
        digest.update(&bytes);

        match parse_bytes(&bytes, path, *layer) {
            Ok(raw) => raws.push(raw),
            Err(es) => {
                errors.extend(es);
                system_failed |= *layer == Layer::System;
            }
        }
    }

    // The remote policy the system layer names: its verified cached copy
    // is a second system layer.
    let fleet_cfg = raws
        .iter()
        .find(|r| r.layer == Layer::System)
        .and_then(|r| r.fleet.clone());
    let mut fleet_state = None;
    if let Some(cfg) = fleet_cfg {
        let (state_rec, copy) = fleet_layer(&cfg.value, state, now);
        let fleet_error = |message: String| PolicyError {
            path: cfg.origin.path.clone(),
            line: cfg.origin.line,
            col: cfg.origin.col,
            key: Some("fleet".into()),
            message,
        };
        match copy {
            Some(c) => {
                if state_rec.status == FleetStatus::Stale
                    && cfg.value.on_stale == crate::fleet::OnStale::Deny
                {
                    errors.push(fleet_error(format!(
                        "the remote policy {} was last fetched {} ago, longer than max_age, and on_stale = \"deny\"; \
                         run `pkgward fleet sync` when the policy server is reachable",
                        cfg.value.policy_url,
                        human_secs(c.age.as_secs())
                    )));
                    system_failed = true;
                }
                sources.push(LayerSource {
                    layer: Layer::System,
                    path: c.path.clone(),
                    sha256: hex(&Sha256::digest(&c.bytes)),
                });
                digest.update(b"fleet\0");
                digest.update((c.bytes.len() as u64).to_le_bytes());
                digest.update(&c.bytes);
                match parse_bytes(&c.bytes, &c.path, Layer::System) {
                    Ok(raw) if raw.fleet.is_some() => {
                        errors.push(fleet_error(format!(
                            "the remote policy {} names another remote policy; that is not allowed",
                            cfg.value.policy_url
                        )));
                        system_failed = true;
                    }
                    Ok(raw) => {
                        let at = raws.iter().take_while(|r| r.layer == Layer::System).count();
                        raws.insert(at, raw);
                    }
                    Err(es) => {
                        errors.extend(es);
                        system_failed = true;
                    }
                }
            }
            None => {
                errors.push(fleet_error(format!(
                    "the remote policy {} is not available: {}; run `pkgward fleet sync` when the policy \
                     server is reachable",
                    cfg.value.policy_url,
                    state_rec.problem.as_deref().unwrap_or("no verified copy")
                )));
                system_failed = true;
            }
        }
        fleet_state = Some(state_rec);
    }

    let mut policy = merge::merge(&raws, system_failed);
    // The threat feed fetched with the remote policy.
    if let (Some(f), Some(state)) = (&fleet_state, state) {
        match crate::fleet::cached_feed(&f.config, state) {
            Some(path) => policy.threat_feeds.push(super::Sourced {
                value: path,
                origin: None,
            }),
            None if f.copy_in_force() => {
                if let Some(url) = &f.config.feed_url {
                    errors.push(PolicyError {
                        path: PathBuf::from(&f.config.policy_url),
                        line: 0,
                        col: 0,
                        key: Some("fleet.feed_url".into()),
                        message: format!(
                            "the threat feed {url} has no verified copy yet; run `pkgward fleet sync` \
                             when it is reachable"
                        ),
                    });
                }
            }
            None => {}
        }
    }
    policy.fleet = fleet_state;
    policy.sources = sources;
    policy.digest = format!("sha256:{}", hex(&digest.finalize()));
    Loaded { policy, errors }
}

/// The state of the remote policy and its verified cached copy, if any.
fn fleet_layer(
    cfg: &crate::fleet::FleetConfig,
    state: Option<&Path>,
    now: std::time::SystemTime,
) -> (FleetState, Option<crate::fleet::Cached>) {
    let mut st = FleetState {
        config: cfg.clone(),
        status: FleetStatus::Unavailable,
        sha256: None,
        fetched_at: None,
        age_secs: None,
        problem: None,
        refresh: None,
    };
    let Some(state) = state else {
        st.problem = Some("no state directory to cache it in (set PKGWARD_STATE_DIR)".into());
        return (st, None);
    };
    match crate::fleet::cached(cfg, state, now) {
        Ok(c) => {
            st.status = if c.age > cfg.max_age {
                FleetStatus::Stale
            } else if c.age > cfg.refresh {
                FleetStatus::Due
            } else {
                FleetStatus::Fresh
            };
            st.sha256 = Some(c.meta.sha256.clone());
            st.problem = crate::fleet::last_refresh(cfg, state).filter(|r| r.contains("failed"));
            st.fetched_at = Some(c.meta.fetched_at);
            st.age_secs = Some(c.age.as_secs());
            (st, Some(c))
        }
        Err(why) => {
            st.problem = Some(why);
            (st, None)
        }
    }
}

fn human_secs(s: u64) -> String {
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Checks the bytes of a fetched remote policy: a valid system layer that
/// names no further remote policy. The message is for the user.
pub fn check_remote(bytes: &[u8], path: &Path) -> Result<(), String> {
    match parse_bytes(bytes, path, Layer::System) {
        Ok(raw) if raw.fleet.is_some() => Err("it names another remote policy ([fleet])".into()),
        Ok(_) => Ok(()),
        Err(es) => Err(es
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

/// Checks one policy file as the given layer would read it (`pkgward policy
/// check FILE`): every error found, sorted by position.
pub fn check_file(path: &Path, layer: Layer) -> Result<(), Vec<PolicyError>> {
    let bytes = read_policy(path).map_err(|e| {
        vec![PolicyError {
            path: path.to_path_buf(),
            line: 0,
            col: 0,
            key: None,
            message: format!("cannot read the policy file: {e}"),
        }]
    })?;
    parse_bytes(&bytes, path, layer).map(|_| ())
}

/// Checks policy text (e.g. a file about to be written); `path` is only used
/// in the errors and to resolve a relative `audit.log`.
pub fn check_str(text: &str, path: &Path, layer: Layer) -> Result<(), Vec<PolicyError>> {
    parse_layer(text, path, layer).map(|_| ())
}

fn read_policy(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::with_capacity(1024);
    file.take(MAX_POLICY_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_POLICY_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} KiB", MAX_POLICY_BYTES / 1024),
        ));
    }
    Ok(bytes)
}

fn read_error(path: &Path, layer: Layer, e: &std::io::Error) -> PolicyError {
    let message = if layer == Layer::Env && e.kind() == std::io::ErrorKind::NotFound {
        format!("{POLICY_ENV} names a policy file that does not exist")
    } else {
        format!("cannot read the {layer} policy file: {e}")
    };
    PolicyError {
        path: path.to_path_buf(),
        line: 0,
        col: 0,
        key: None,
        message,
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}
