//! `pkgward audit flush` and `pkgward audit status`: the sinks of
//! `[audit] sinks` and their spools.

use std::time::{Duration, Instant};

use super::AuditCmd;
use crate::error::{exit, Error, Result};
use crate::policy;
use crate::sinks::{self, SinkConfig};

pub fn run(cmd: AuditCmd) -> Result<i32> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))?;
    let discovery = policy::discover(&policy::DiscoveryContext::from_process(&cwd));
    let loaded = policy::load(&discovery);
    let all: Vec<SinkConfig> = loaded
        .policy
        .sinks
        .iter()
        .map(|s| s.value.clone())
        .collect();
    let state = crate::paths::state_dir().ok_or_else(|| {
        Error::Config("no state directory holds the spools (set PKGWARD_STATE_DIR)".into())
    })?;
    match cmd {
        AuditCmd::Flush {
            sink,
            timeout,
            json,
        } => {
            let timeout = crate::record::query::parse_duration(&timeout).map_err(Error::Config)?;
            let chosen: Vec<SinkConfig> = match &sink {
                Some(n) => match all.iter().find(|s| &s.name == n) {
                    Some(s) => vec![s.clone()],
                    None => {
                        return Err(Error::Config(format!(
                            "no sink named `{n}` in the policy (sinks: {})",
                            names(&all)
                        )))
                    }
                },
                None => all.clone(),
            };
            if chosen.is_empty() {
                if !json {
                    println!("no sinks in the policy ([[audit.sinks]]): nothing to flush");
                }
                return Ok(0);
            }
            let deadline = Instant::now() + timeout.max(Duration::from_secs(1));
            let mut pending = false;
            let mut reports = Vec::new();
            for s in &chosen {
                let mut r = sinks::flush(
                    s,
                    &state,
                    sinks::FlushOpts {
                        deadline,
                        ignore_backoff: true,
                        wait_lock: true,
                        attempts: 4,
                    },
                );
                r.remaining = sinks::pending(&state, &s.name).0;
                pending |= r.remaining > 0 || r.error.is_some();
                if !json {
                    let mut line = format!(
                        "{}: sent {}, {} left in the spool",
                        r.sink, r.sent, r.remaining
                    );
                    if r.dropped > 0 {
                        line.push_str(&format!(", {} dropped by spool_max", r.dropped));
                    }
                    if let Some(e) = &r.error {
                        line.push_str(&format!(" — error: {e}"));
                    }
                    println!("{line}");
                }
                reports.push(r);
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&reports).unwrap_or_default()
                );
            }
            Ok(if pending { exit::SINK_PENDING } else { 0 })
        }
        AuditCmd::Status { json } => {
            let now = sinks_now_ms();
            let mut rows = Vec::new();
            for s in &all {
                let dir = sinks::spool_dir(&state, &s.name);
                let st = sinks::read_state(&dir);
                let (records, bytes) = sinks::pending(&state, &s.name);
                rows.push(serde_json::json!({
                    "name": s.name,
                    "type": s.kind.type_name(),
                    "url": s.kind.url(),
                    "spool": dir,
                    "spooled_records": records,
                    "spooled_bytes": bytes,
                    "spool_max": s.spool_max,
                    "sent_total": st.sent_total,
                    "dropped_total": st.dropped_total,
                    "failures": st.failures,
                    "last_error": st.last_error,
                    "last_error_ms": st.last_error_ms,
                    "last_success_ms": st.last_success_ms,
                    "next_attempt_ms": st.next_attempt_ms.filter(|n| *n > now),
                }));
            }
            let orphans = sinks::orphans(&state, &all);
            if json {
                let v = serde_json::json!({"sinks": rows, "orphaned_spools": orphans});
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                return Ok(0);
            }
            if rows.is_empty() {
                println!("no sinks in the policy ([[audit.sinks]])");
            }
            for r in &rows {
                println!(
                    "{} ({} {})",
                    r["name"].as_str().unwrap_or(""),
                    r["type"].as_str().unwrap_or(""),
                    r["url"].as_str().unwrap_or("")
                );
                println!(
                    "  spooled: {} records, {} bytes (bound {})",
                    r["spooled_records"], r["spooled_bytes"], r["spool_max"]
                );
                println!(
                    "  sent: {}; dropped by the bound: {}",
                    r["sent_total"], r["dropped_total"]
                );
                if let Some(e) = r["last_error"].as_str() {
                    println!("  last error ({} failure(s) in a row): {e}", r["failures"]);
                }
                match r["next_attempt_ms"].as_u64() {
                    Some(n) => println!(
                        "  next attempt by a shim: in {}s (`pkgward audit flush` tries now)",
                        n.saturating_sub(now).div_ceil(1000)
                    ),
                    None => println!("  next attempt: at the next invocation"),
                }
            }
            for o in &orphans {
                println!(
                    "orphaned spool: {} (no sink of that name in the policy)",
                    sinks::spool_dir(&state, o).display()
                );
            }
            Ok(0)
        }
    }
}

fn names(all: &[SinkConfig]) -> String {
    if all.is_empty() {
        return "none".into();
    }
    all.iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn sinks_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
