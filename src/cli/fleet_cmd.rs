//! `pkgward fleet sync` and `pkgward fleet status`.

use super::FleetCmd;
use crate::error::{Error, Result};
use crate::policy;

pub fn run(cmd: FleetCmd) -> Result<i32> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))?;
    let discovery = policy::discover(&policy::DiscoveryContext::from_process(&cwd));
    let loaded = policy::load(&discovery);
    let Some(fleet) = loaded.policy.fleet.clone() else {
        return Err(Error::Config(
            "the system policy names no remote policy (`[fleet] policy_url`)".into(),
        ));
    };
    match cmd {
        FleetCmd::Sync {
            timeout,
            background,
        } => {
            let timeout = crate::record::query::parse_duration(&timeout).map_err(Error::Config)?;
            if background {
                let Some(state) = crate::paths::state_dir() else {
                    return Ok(crate::error::exit::CONFIG);
                };
                // Two requests (policy and signature) and the feed, each
                // bounded by the policy's timeout.
                let r = crate::fleet::fetch(&fleet.config, &state, fleet.config.timeout);
                let outcome = match &r {
                    Ok(crate::fleet::Fetched::Updated { sha256 }) => {
                        format!("updated (sha256 {sha256})")
                    }
                    Ok(crate::fleet::Fetched::NotModified) => "not modified".into(),
                    Err(e) => format!("failed: {e}"),
                };
                crate::fleet::record_refresh(&fleet.config, &state, &outcome);
                return Ok(if r.is_ok() {
                    0
                } else {
                    crate::error::exit::CONFIG
                });
            }
            let state = crate::paths::state_dir().ok_or_else(|| {
                Error::Config(
                    "no state directory to cache the policy in (set PKGWARD_STATE_DIR)".into(),
                )
            })?;
            match crate::fleet::fetch(&fleet.config, &state, timeout) {
                Ok(crate::fleet::Fetched::Updated { sha256 }) => {
                    println!("{}: updated (sha256 {sha256})", fleet.config.policy_url);
                }
                Ok(crate::fleet::Fetched::NotModified) => {
                    println!("{}: not modified", fleet.config.policy_url);
                }
                Err(e) => {
                    return Err(Error::Config(format!(
                        "{e}\nthe last verified copy (if any) stays in force"
                    )))
                }
            }
            let after = policy::load(&discovery);
            if !after.errors.is_empty() {
                return Err(Error::PolicyInvalid(after.errors));
            }
            Ok(0)
        }
        FleetCmd::Status { json } => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&fleet)
                        .map_err(|e| Error::Internal(e.to_string()))?
                );
            } else {
                println!("policy_url  {}", fleet.config.policy_url);
                println!(
                    "verified by {}",
                    match (&fleet.config.sha256, &fleet.config.public_key) {
                        (Some(p), Some(_)) => format!("pin {p} and minisign signature"),
                        (Some(p), None) => format!("pin {p}"),
                        _ => format!("minisign signature ({})", fleet.config.signature_url),
                    }
                );
                println!("status      {:?}", fleet.status);
                if let Some(s) = &fleet.sha256 {
                    println!("in force    sha256 {s}");
                }
                if let Some(a) = fleet.age_secs {
                    println!("fetched     {a}s ago");
                }
                if let Some(p) = &fleet.problem {
                    println!("problem     {p}");
                }
            }
            Ok(if loaded.errors.is_empty() {
                0
            } else {
                crate::error::exit::CONFIG
            })
        }
    }
}
