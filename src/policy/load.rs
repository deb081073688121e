//! Reading the discovered layers: bytes → hashes and digest → parsed layers →
//! the merged [`Policy`].

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::parse::{parse_bytes, parse_layer, RawLayer};
use super::{merge, Discovery, Layer, LayerSource, Policy, PolicyError, POLICY_ENV};

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

    let mut policy = merge::merge(&raws, system_failed);
    policy.sources = sources;
    policy.digest = format!("sha256:{}", hex(&digest.finalize()));
    Loaded { policy, errors }
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
