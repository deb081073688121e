//! `pkgward threats sync` and `pkgward threats check`.

use std::path::PathBuf;

use super::ThreatsCmd;
use crate::error::{Error, Result};
use crate::threats;
use crate::tools::Ecosystem;

/// Exit code of `check` when a package is listed.
pub const LISTED: i32 = 1;

pub fn run(cmd: ThreatsCmd) -> Result<i32> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))?;
    let loaded = crate::policy::load(&crate::policy::discover(
        &crate::policy::DiscoveryContext::from_process(&cwd),
    ));
    if !loaded.errors.is_empty() {
        return Err(Error::PolicyInvalid(loaded.errors));
    }
    let feeds: Vec<PathBuf> = loaded
        .policy
        .threat_feeds
        .iter()
        .map(|f| f.value.clone())
        .collect();
    if feeds.is_empty() {
        return Err(Error::Config(
            "no threat feed: name one in the policy, e.g. `[threats] feeds = [\"/etc/pkgward/osv\"]`"
                .into(),
        ));
    }
    let state = crate::paths::state_dir().ok_or_else(|| {
        Error::Config("no state directory for the index (set PKGWARD_STATE_DIR)".into())
    })?;
    let cfg = |e: threats::FeedError| Error::Config(e.to_string());
    match cmd {
        ThreatsCmd::Sync => {
            let out = threats::index_path(&feeds, &state).map_err(cfg)?;
            let n = threats::build(&feeds, &out).map_err(cfg)?;
            for f in &loaded.policy.threat_feeds {
                println!("feed {} (from {})", f.value.display(), origin(&f.origin));
            }
            println!("{n} listings indexed in {}", out.display());
            Ok(0)
        }
        ThreatsCmd::Check { packages } => {
            let mut ix = threats::ensure_index(&feeds, &state)
                .map_err(cfg)?
                .ok_or_else(|| Error::Internal("no index".into()))?;
            let mut listed = false;
            for p in packages {
                let (eco, name, version) = parse_spec(&p)?;
                let hits = ix.check(eco, name, version).map_err(cfg)?;
                if hits.is_empty() {
                    println!("{p}: not listed");
                } else {
                    listed = true;
                    for h in hits {
                        println!("{p}: listed by {} {}", h.id, h.summary);
                    }
                }
            }
            Ok(if listed { LISTED } else { 0 })
        }
    }
}

fn origin(o: &Option<crate::policy::Origin>) -> String {
    o.as_ref()
        .map(|o| o.to_string())
        .unwrap_or_else(|| "built in".into())
}

/// `npm:@scope/name@1.0.0`, `pypi:name`, `go:example.com/m@v1.2.3`.
fn parse_spec(s: &str) -> Result<(Ecosystem, &str, Option<&str>)> {
    let bad = || {
        Error::Config(format!(
            "`{s}`: expected ECOSYSTEM:NAME[@VERSION], e.g. npm:left-pad@1.3.0 (ecosystems: {})",
            Ecosystem::ALL.map(|e| e.key()).join(", ")
        ))
    };
    let (eco, rest) = s.split_once(':').ok_or_else(bad)?;
    let eco = Ecosystem::from_key(eco).ok_or_else(bad)?;
    let at = rest
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '@')
        .map(|(i, _)| i);
    let (name, version) = match at {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    if name.is_empty() || version == Some("") {
        return Err(bad());
    }
    Ok((eco, name, version))
}
