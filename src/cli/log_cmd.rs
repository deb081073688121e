//! `pkgward log`: recent invocations from the audit log.

use std::path::PathBuf;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::record::query::{self, Entry, Filter};

pub fn run(
    tool: Option<String>,
    denied: bool,
    since: Option<String>,
    json: bool,
    file: Option<PathBuf>,
) -> Result<i32> {
    let since = match since {
        None => None,
        Some(s) => {
            let d =
                query::parse_duration(&s).map_err(|e| Error::Config(format!("--since: {e}")))?;
            let d = jiff::SignedDuration::try_from(d)
                .map_err(|e| Error::Config(format!("--since: {e}")))?;
            Some(
                jiff::Timestamp::now()
                    .checked_sub(d)
                    .map_err(|e| Error::Config(format!("--since: {e}")))?,
            )
        }
    };
    let path = match file {
        Some(f) => f,
        None => {
            let cwd = std::env::current_dir()
                .map_err(|e| Error::io("cannot read the current directory", e))?;
            let loaded = crate::policy::load(&crate::policy::discover(
                &crate::policy::DiscoveryContext::from_process(&cwd),
            ));
            crate::shim::audit_log_path(&loaded.policy).ok_or_else(|| {
                Error::Config("no audit log configured and no state directory".into())
            })?
        }
    };
    let filter = Filter {
        tool,
        denied,
        since,
    };
    let (entries, bad) = query::read(&path, &filter)?;
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    for e in &entries {
        let _ = if json {
            let mut v = e.invocation.clone();
            if let Value::Object(m) = &mut v {
                m.insert("exit".into(), e.exit.clone().unwrap_or(Value::Null));
            }
            writeln!(out, "{v}")
        } else {
            writeln!(out, "{}", human(e))
        };
    }
    if bad > 0 {
        eprintln!(
            "pkgward: {bad} line(s) of {} are not valid JSON and were skipped",
            path.display()
        );
    }
    Ok(0)
}

fn human(e: &Entry) -> String {
    let time = e.str_field("time");
    let time = time.get(..19).unwrap_or(time).replace('T', " ");
    let (exit, dur) = match &e.exit {
        None => ("running?".to_string(), String::new()),
        Some(x) => {
            let code = x.get("exit_code").and_then(Value::as_i64).unwrap_or(-1);
            let exit = match x.get("signal").and_then(Value::as_i64) {
                Some(s) => format!("signal {s}"),
                None => format!("exit {code}"),
            };
            let dur = x
                .get("duration_ms")
                .and_then(Value::as_f64)
                .map(|d| format!("{:.0}ms", d))
                .unwrap_or_default();
            (exit, dur)
        }
    };
    let argv: Vec<&str> = e
        .invocation
        .get("argv")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut line = format!(
        "{time}  {:<7} {:<10} {:<9} {:>7}  {}",
        e.str_field("tool"),
        e.action(),
        exit,
        dur,
        argv.join(" ")
    );
    if e.denied() {
        if let Some(reasons) = e
            .invocation
            .pointer("/decision/reasons")
            .and_then(Value::as_array)
        {
            for r in reasons {
                if let Some(m) = r.get("message").and_then(Value::as_str) {
                    line.push_str(&format!("\n    reason: {m}"));
                }
            }
        }
    }
    line
}
