//! Reading the audit log back: `pkgward log`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// One invocation with its exit line (if it has one yet).
#[derive(Clone, Debug)]
pub struct Entry {
    pub invocation: Value,
    pub exit: Option<Value>,
}

impl Entry {
    pub fn str_field(&self, key: &str) -> &str {
        self.invocation
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    pub fn action(&self) -> &str {
        self.invocation
            .pointer("/decision/action")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    pub fn denied(&self) -> bool {
        matches!(self.action(), "deny" | "would-deny")
    }
    pub fn time(&self) -> Option<jiff::Timestamp> {
        self.str_field("time").parse().ok()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub tool: Option<String>,
    pub denied: bool,
    pub since: Option<jiff::Timestamp>,
}

impl Filter {
    fn accepts(&self, e: &Entry) -> bool {
        if let Some(t) = &self.tool {
            if e.str_field("tool") != t {
                return false;
            }
        }
        if self.denied && !e.denied() {
            return false;
        }
        if let Some(since) = self.since {
            match e.time() {
                Some(t) if t >= since => {}
                _ => return false,
            }
        }
        true
    }
}

/// Reads every invocation (oldest first) that passes `filter`. Lines that are
/// not valid JSON are counted and skipped, never fatal.
pub fn read(path: &Path, filter: &Filter) -> Result<(Vec<Entry>, usize)> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
    };
    let mut entries: Vec<Entry> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut bad = 0usize;
    for line in BufReader::new(file).split(b'\n') {
        let line = line.map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&line) else {
            bad += 1;
            continue;
        };
        let id = v
            .get("invocation_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match v.get("kind").and_then(Value::as_str) {
            Some("invocation") => {
                index.insert(id, entries.len());
                entries.push(Entry {
                    invocation: v,
                    exit: None,
                });
            }
            Some("exit") => {
                if let Some(&i) = index.get(&id) {
                    entries[i].exit = Some(v);
                }
            }
            _ => {}
        }
    }
    entries.retain(|e| filter.accepts(e));
    Ok((entries, bad))
}

/// Parses a duration like `90s`, `15m`, `2h`, `1h30m`, `7d`, `2w`.
pub fn parse_duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(format!("`{s}`: unknown unit `{c}` (use s, m, h, d or w)")),
        };
        let n: u64 = num
            .parse()
            .map_err(|_| format!("`{s}`: expected a number before `{c}`"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("`{s}`: too large"))?;
        num.clear();
    }
    if !num.is_empty() {
        return Err(format!(
            "`{s}`: missing unit after {num} (use s, m, h, d or w)"
        ));
    }
    Ok(std::time::Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("2d").unwrap().as_secs(), 172_800);
        for bad in ["", "5", "h", "3x", "99999999999999999999w"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pairs_exit_lines_and_skips_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        std::fs::write(
            &p,
            concat!(
                r#"{"kind":"invocation","invocation_id":"a","tool":"npm","time":"2026-01-01T00:00:00Z","decision":{"action":"allow"}}"#,
                "\nnot json\n",
                r#"{"kind":"invocation","invocation_id":"b","tool":"pip","time":"2026-01-02T00:00:00Z","decision":{"action":"deny"}}"#,
                "\n",
                r#"{"kind":"exit","invocation_id":"a","exit_code":0}"#,
                "\n"
            ),
        )
        .unwrap();
        let (all, bad) = read(&p, &Filter::default()).unwrap();
        assert_eq!((all.len(), bad), (2, 1));
        assert!(all[0].exit.is_some() && all[1].exit.is_none());
        let f = Filter {
            denied: true,
            ..Filter::default()
        };
        assert_eq!(read(&p, &f).unwrap().0.len(), 1);
        let f = Filter {
            tool: Some("npm".into()),
            ..Filter::default()
        };
        assert_eq!(read(&p, &f).unwrap().0[0].str_field("invocation_id"), "a");
        let f = Filter {
            since: Some("2026-01-01T12:00:00Z".parse().unwrap()),
            ..Filter::default()
        };
        assert_eq!(read(&p, &f).unwrap().0.len(), 1);
    }
}
