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
    summary: bool,
    file: Option<PathBuf>,
) -> Result<i32> {
    let since = match since {
        None => None,
        Some(s) if s == "job" => Some(job_start(&|k| std::env::var(k).ok())?),
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
    if summary {
        let _ = write!(out, "{}", markdown_summary(&entries));
    }
    for e in entries.iter().filter(|_| !summary) {
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

/// When the CI job started: `PKGWARD_JOB_START` (RFC 3339 or Unix seconds,
/// written by the CI integrations when they install pkgward), else GitLab's
/// `CI_JOB_STARTED_AT`.
pub fn job_start(env: &dyn Fn(&str) -> Option<String>) -> Result<jiff::Timestamp> {
    for var in ["PKGWARD_JOB_START", "CI_JOB_STARTED_AT"] {
        let Some(v) = env(var).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let v = v.trim();
        let t = match v.parse::<i64>() {
            Ok(secs) => jiff::Timestamp::from_second(secs).ok(),
            Err(_) => v.parse::<jiff::Timestamp>().ok(),
        };
        return t.ok_or_else(|| {
            Error::Config(format!(
                "--since job: {var} = {v:?} is neither RFC 3339 nor Unix seconds"
            ))
        });
    }
    Err(Error::Config(
        "--since job: the job's start is not known (set PKGWARD_JOB_START, as the pkgward CI \
         integrations do, or use a duration such as --since 2h)"
            .into(),
    ))
}

/// A Markdown summary of `entries` for a CI step summary: totals per tool,
/// then every denial (or would-deny) with its reasons.
pub fn markdown_summary(entries: &[Entry]) -> String {
    use std::collections::BTreeMap;
    let mut per_tool: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for e in entries {
        let row = per_tool.entry(e.str_field("tool")).or_default();
        row[0] += 1;
        match e.action() {
            "deny" => row[2] += 1,
            "would-deny" => row[3] += 1,
            _ => row[1] += 1,
        }
        // A denial after the tool ran (a listed package the install resolved).
        if e.action() != "deny"
            && e.exit
                .as_ref()
                .and_then(|x| x.get("findings"))
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty())
        {
            row[2] += 1;
            row[1] = row[1].saturating_sub(1);
        }
    }
    let mut m = String::from("## pkgward\n\n");
    if entries.is_empty() {
        m.push_str("No package-manager invocations went through pkgward in this period.\n");
        return m;
    }
    let denied: usize = per_tool.values().map(|r| r[2]).sum();
    let would: usize = per_tool.values().map(|r| r[3]).sum();
    m.push_str(&format!(
        "{} invocation(s); {} denied; {} would have been denied (audit mode).\n\n",
        entries.len(),
        denied,
        would
    ));
    m.push_str(
        "| tool | invocations | allowed | denied | would deny |\n|---|---:|---:|---:|---:|\n",
    );
    for (tool, r) in &per_tool {
        m.push_str(&format!(
            "| {tool} | {} | {} | {} | {} |\n",
            r[0], r[1], r[2], r[3]
        ));
    }
    let flagged: Vec<&Entry> = entries
        .iter()
        .filter(|e| {
            e.denied()
                || e.exit
                    .as_ref()
                    .and_then(|x| x.get("findings"))
                    .and_then(Value::as_array)
                    .is_some_and(|f| !f.is_empty())
        })
        .collect();
    if !flagged.is_empty() {
        m.push_str("\n### Denied\n\n");
        for e in flagged {
            let argv: Vec<&str> = e
                .invocation
                .get("argv")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            m.push_str(&format!(
                "- `{}` — {} ({})\n",
                md_code(&argv.join(" ")),
                e.action(),
                e.str_field("time")
            ));
            let reasons = e
                .invocation
                .pointer("/decision/reasons")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .chain(
                    e.exit
                        .as_ref()
                        .and_then(|x| x.get("findings"))
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten(),
                );
            for r in reasons {
                if let Some(msg) = r.get("message").and_then(Value::as_str) {
                    m.push_str(&format!("  - {}\n", md_text(msg)));
                }
            }
        }
    }
    m
}

/// Text inside a Markdown code span: backticks would end it.
fn md_code(s: &str) -> String {
    s.replace('`', "'").replace(['\n', '\r'], " ")
}

/// Plain text in a Markdown list item: no HTML, no line breaks.
fn md_text(s: &str) -> String {
    s.replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tool: &str, action: &str, findings: bool) -> Entry {
        Entry {
            invocation: serde_json::json!({
                "tool": tool, "time": "2026-11-26T10:00:00Z", "argv": [tool, "install", "x`y"],
                "decision": {"action": action, "reasons": if action == "allow" { serde_json::json!([]) } else { serde_json::json!([{"message": "npm package <x> is listed"}]) }}
            }),
            exit: Some(if findings {
                serde_json::json!({"findings": [{"message": "resolved y"}]})
            } else {
                serde_json::json!({})
            }),
        }
    }

    #[test]
    fn summary_counts_and_lists_denials() {
        let m = markdown_summary(&[
            entry("npm", "allow", false),
            entry("npm", "deny", false),
            entry("pip", "would-deny", false),
            entry("npm", "allow", true),
        ]);
        assert!(
            m.contains("4 invocation(s); 2 denied; 1 would have been denied"),
            "{m}"
        );
        assert!(m.contains("| npm | 3 | 1 | 2 | 0 |"), "{m}");
        assert!(m.contains("| pip | 1 | 0 | 0 | 1 |"), "{m}");
        assert!(m.contains("- `npm install x'y` — deny"), "{m}");
        assert!(m.contains("  - npm package &lt;x&gt; is listed"), "{m}");
        assert!(m.contains("  - resolved y"), "{m}");
        assert!(markdown_summary(&[]).contains("No package-manager invocations"));
    }

    #[test]
    fn job_start_sources() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let t = job_start(&env(&[("PKGWARD_JOB_START", "1700000000")])).unwrap();
        assert_eq!(t.as_second(), 1_700_000_000);
        let t = job_start(&env(&[("CI_JOB_STARTED_AT", "2026-11-26T10:00:00Z")])).unwrap();
        assert_eq!(t.to_string(), "2026-11-26T10:00:00Z");
        assert!(job_start(&env(&[("PKGWARD_JOB_START", "yesterday")])).is_err());
        assert!(job_start(&env(&[])).is_err());
    }
}
