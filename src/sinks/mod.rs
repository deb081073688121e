//! Shipping the audit record to the collectors named in `[audit] sinks`
//! (syslog, HTTP), without loss and without delaying the wrapped tool.
//!
//! # The spool
//!
//! Every writer appends each record to the audit log and then to each
//! sink's spool file `<state dir>/spool/<sink>/live.jsonl` (the log
//! target's tees, see [`crate::record::LogTarget`]), under the same
//! exclusive lock discipline as the log. A flusher:
//!
//! 1. takes the sink's flush lock without waiting (another flusher running:
//!    it does nothing);
//! 2. seals the live file: renames it to `seg-<time>-<pid>.jsonl` while
//!    holding its append lock (a writer that opened it reopens a new live
//!    file, see `record::log`), so sealed segments never change;
//! 3. keeps the spool under `spool_max`: the oldest unsent records are
//!    dropped and counted; the count is shipped as a `sink-dropped` record
//!    ahead of the next batch and shown by `pkgward audit status`;
//! 4. unless a previous failure set a back-off that has not expired, ships
//!    the segments oldest first in batches; after each acknowledged batch
//!    the position is written to `state.json` (write-then-rename), and a
//!    fully sent segment is deleted. A crash resends at most one batch, with
//!    the same `Idempotency-Key` for HTTP.
//!
//! A failed flush records the error and a back-off (exponential from 10 s,
//! capped at 10 min) so that a collector that is down costs the following
//! invocations nothing; `pkgward audit flush` ignores the back-off.
//!
//! # Failures while spooling
//!
//! The audit log is the record of truth: enforce mode refuses to run a tool
//! whose invocation cannot be logged, but a spool that cannot take a record
//! does not stop the tool. The append succeeds (the log has the record),
//! the log gets a `spool-error` record naming the spool and the missed
//! record, and the shim warns on stderr. The spool lives in the user's own
//! state directory, so it is a delivery mechanism, not a tamper-proof one.

pub mod config;
pub mod http;
pub mod syslog;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use config::{SinkConfig, SinkKind};

/// Records per batch.
const BATCH_RECORDS: usize = 500;
/// Bytes per batch (a batch always holds at least one record).
const BATCH_BYTES: usize = 1 << 20;
/// Attempts per batch in the shim's flush at exit.
const EXIT_ATTEMPTS: u32 = 2;
const BACKOFF_BASE: Duration = Duration::from_secs(10);
const BACKOFF_CAP: Duration = Duration::from_secs(600);

/// The spool directory of a sink.
pub fn spool_dir(state: &Path, name: &str) -> PathBuf {
    state.join("spool").join(name)
}

/// The file writers append to (a tee of the audit log).
pub fn live_path(state: &Path, name: &str) -> PathBuf {
    spool_dir(state, name).join("live.jsonl")
}

/// What a sink's `state.json` keeps between flushes.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SinkState {
    /// How far the oldest segment has been shipped.
    #[serde(default)]
    pub cursor: Option<Cursor>,
    /// Failed flushes in a row.
    #[serde(default)]
    pub failures: u32,
    /// Unix milliseconds before which a shim does not try again.
    #[serde(default)]
    pub next_attempt_ms: Option<u64>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_error_ms: Option<u64>,
    #[serde(default)]
    pub last_success_ms: Option<u64>,
    /// Records acknowledged since the spool was created.
    #[serde(default)]
    pub sent_total: u64,
    /// Records dropped by the spool bound since the spool was created.
    #[serde(default)]
    pub dropped_total: u64,
    /// Dropped records not yet reported to the collector.
    #[serde(default)]
    pub dropped_pending: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cursor {
    pub segment: String,
    /// Bytes of the segment already acknowledged.
    pub offset: u64,
    /// The segment's length when the cursor was written: a segment trimmed
    /// by the spool bound since has another length and is read from 0.
    pub len: u64,
}

/// How a flush is run.
#[derive(Clone, Copy, Debug)]
pub struct FlushOpts {
    pub deadline: Instant,
    /// Try even when a back-off is in force (`pkgward audit flush`).
    pub ignore_backoff: bool,
    /// Wait for the flush lock instead of skipping.
    pub wait_lock: bool,
    /// Attempts per batch (the shim: 2, `pkgward audit flush`: 4).
    pub attempts: u32,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct FlushReport {
    pub sink: String,
    /// Records acknowledged by this flush (a `sink-dropped` marker included).
    pub sent: u64,
    /// Records dropped by the spool bound during this flush.
    pub dropped: u64,
    /// Records still spooled afterwards (filled by `pkgward audit flush`).
    pub remaining: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn read_state(dir: &Path) -> SinkState {
    fs::read(dir.join("state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_state(dir: &Path, st: &SinkState) -> std::io::Result<()> {
    let tmp = dir.join(format!(".state.{}.tmp", std::process::id()));
    let bytes = serde_json::to_vec(st).map_err(std::io::Error::other)?;
    // Write-then-rename: a crash of any process leaves the old or the new
    // state, whole. Not synced to disk (that would cost every invocation a
    // disk flush): after a power loss an older position means a batch sent
    // twice, with the same Idempotency-Key.
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, dir.join("state.json"))
}

/// The sealed segments, oldest first.
fn segments(dir: &Path) -> std::io::Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in rd {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("seg-") && name.ends_with(".jsonl") {
            out.push((name, e.metadata()?.len()));
        }
    }
    out.sort();
    Ok(out)
}

/// Where shipping of `seg` resumes.
fn start_of(st: &SinkState, seg: &str, len: u64) -> u64 {
    match &st.cursor {
        Some(c) if c.segment == seg && c.len == len && c.offset <= len => c.offset,
        _ => 0,
    }
}

/// Renames the live file to a new segment, holding its append lock.
fn seal(dir: &Path) -> std::io::Result<()> {
    let live = dir.join("live.jsonl");
    let f = match OpenOptions::new().append(true).open(&live) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    crate::record::log::lock::exclusive(&f)?;
    let result = (|| {
        let on_path = same_file::Handle::from_path(&live)?;
        if on_path != same_file::Handle::from_file(f.try_clone()?)? || f.metadata()?.len() == 0 {
            return Ok(());
        }
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut name = format!("seg-{nanos:024}-{}.jsonl", std::process::id());
        let mut n = 0;
        while dir.join(&name).exists() {
            n += 1;
            name = format!("seg-{nanos:024}-{}-{n}.jsonl", std::process::id());
        }
        fs::rename(&live, dir.join(name))
    })();
    let _ = crate::record::log::lock::unlock(&f);
    result
}

fn count_lines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// Drops the oldest unsent records until at most `max` unsent bytes remain;
/// returns how many were dropped.
fn enforce_bound(dir: &Path, max: u64, st: &mut SinkState) -> std::io::Result<u64> {
    let segs = segments(dir)?;
    let unsent = |st: &SinkState, name: &str, len: u64| len - start_of(st, name, len);
    let mut total: u64 = segs.iter().map(|(n, l)| unsent(st, n, *l)).sum();
    let mut dropped = 0;
    for (name, len) in segs {
        if total <= max {
            break;
        }
        let path = dir.join(&name);
        let start = start_of(st, &name, len);
        let excess = total - max;
        let mut bytes = Vec::new();
        let mut f = File::open(&path)?;
        f.seek(SeekFrom::Start(start))?;
        f.read_to_end(&mut bytes)?;
        if (bytes.len() as u64) <= excess {
            dropped += count_lines(&bytes);
            total -= bytes.len() as u64;
            fs::remove_file(&path)?;
            continue;
        }
        // Keep the tail: cut at the first line end at or after `excess`.
        let cut = memchr::memchr(b'\n', &bytes[excess as usize - 1..])
            .map_or(bytes.len(), |i| excess as usize + i);
        dropped += count_lines(&bytes[..cut]);
        let kept = &bytes[cut..];
        let tmp = dir.join(format!(".{name}.tmp"));
        {
            let mut t = File::create(&tmp)?;
            t.write_all(kept)?;
            t.sync_data()?;
        }
        fs::rename(&tmp, &path)?;
        total -= cut as u64;
        st.cursor = Some(Cursor {
            segment: name,
            offset: 0,
            len: kept.len() as u64,
        });
    }
    if dropped > 0 {
        st.dropped_total += dropped;
        st.dropped_pending += dropped;
    }
    Ok(dropped)
}

/// Records and bytes not yet shipped (sealed segments and the live file).
pub fn pending(state: &Path, name: &str) -> (u64, u64) {
    let dir = spool_dir(state, name);
    let st = read_state(&dir);
    let mut records = 0;
    let mut bytes = 0;
    let mut files: Vec<(String, u64)> = segments(&dir).unwrap_or_default();
    if let Ok(m) = fs::metadata(dir.join("live.jsonl")) {
        files.push(("live.jsonl".into(), m.len()));
    }
    for (n, len) in files {
        let start = if n == "live.jsonl" {
            0
        } else {
            start_of(&st, &n, len)
        };
        if let Ok(mut f) = File::open(dir.join(&n)) {
            let mut b = Vec::new();
            if f.seek(SeekFrom::Start(start)).is_ok() && f.read_to_end(&mut b).is_ok() {
                records += count_lines(&b);
                bytes += b.len() as u64;
            }
        }
    }
    (records, bytes)
}

/// A connected destination.
enum Shipper {
    Syslog {
        cfg: config::SyslogConfig,
        host: String,
    },
    Http(Box<http::Client>, Duration),
}

impl Shipper {
    fn new(sink: &SinkConfig) -> Result<Shipper, String> {
        Ok(match &sink.kind {
            SinkKind::Syslog(s) => Shipper::Syslog {
                cfg: s.clone(),
                host: crate::record::context::host(),
            },
            SinkKind::Http(h) => Shipper::Http(Box::new(http::Client::new(h)?), h.timeout),
        })
    }

    fn send(&self, lines: &[&[u8]], key: &str, deadline: Instant) -> Result<(), String> {
        match self {
            Shipper::Syslog { cfg, host } => {
                let msgs: Vec<Vec<u8>> =
                    lines.iter().map(|l| syslog::format(cfg, host, l)).collect();
                syslog::send(&cfg.transport, &msgs, deadline)
                    .map_err(|e| format!("{}: {e}", cfg.url))
            }
            Shipper::Http(c, timeout) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err("the flush ran out of time".into());
                }
                let mut body = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
                for l in lines {
                    body.extend_from_slice(l);
                    if !l.ends_with(b"\n") {
                        body.push(b'\n');
                    }
                }
                c.post(body, key, left.min(*timeout))
            }
        }
    }
}

/// Sends one batch, retrying with a short back-off while time remains.
fn send_with_retries(
    shipper: &Shipper,
    lines: &[&[u8]],
    key: &str,
    deadline: Instant,
    max_attempts: u32,
) -> Result<(), String> {
    let mut pause = Duration::from_millis(25);
    let mut attempts = 0;
    loop {
        attempts += 1;
        match shipper.send(lines, key, deadline) {
            Ok(()) => return Ok(()),
            Err(e) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left <= pause || attempts >= max_attempts {
                    return Err(e);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}

fn marker(sink: &str, dropped: u64) -> Vec<u8> {
    let mut v = serde_json::to_vec(&serde_json::json!({
        "kind": "sink-dropped",
        "time": crate::record::now_rfc3339(),
        "host": crate::record::context::host(),
        "sink": sink,
        "dropped": dropped,
        "reason": "the spool reached spool_max while the collector could not be reached; the oldest records were dropped",
    }))
    .unwrap_or_default();
    v.push(b'\n');
    v
}

fn batch_key(sink: &str, seg: &str, start: u64, end: u64, marker: u64) -> String {
    let h = Sha256::digest(format!("{sink}\0{seg}\0{start}\0{end}\0{marker}").as_bytes());
    crate::fleet::hex(&h[..16])
}

/// One flush of one sink (see the module docs).
pub fn flush(sink: &SinkConfig, state: &Path, opts: FlushOpts) -> FlushReport {
    let mut report = FlushReport {
        sink: sink.name.clone(),
        ..FlushReport::default()
    };
    let dir = spool_dir(state, &sink.name);
    if let Err(e) = fs::create_dir_all(&dir) {
        report.error = Some(format!("cannot create {}: {e}", dir.display()));
        return report;
    }
    let lock = match OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("flush.lock"))
    {
        Ok(f) => f,
        Err(e) => {
            report.error = Some(format!("cannot open the flush lock: {e}"));
            return report;
        }
    };
    if opts.wait_lock {
        if let Err(e) = lock.lock() {
            report.error = Some(format!("cannot take the flush lock: {e}"));
            return report;
        }
    } else if lock.try_lock().is_err() {
        report.skipped = Some("another flush is running");
        return report;
    }
    let mut st = read_state(&dir);
    let before = st.clone();
    let outcome = flush_locked(sink, &dir, &mut st, opts, &mut report);
    match outcome {
        Ok(()) => {}
        Err(e) => {
            st.failures = st.failures.saturating_add(1);
            let backoff = BACKOFF_BASE
                .saturating_mul(1 << st.failures.saturating_sub(1).min(10))
                .min(BACKOFF_CAP);
            st.next_attempt_ms = Some(now_ms() + backoff.as_millis() as u64);
            st.last_error = Some(e.clone());
            st.last_error_ms = Some(now_ms());
            report.error = Some(e);
        }
    }
    if st != before {
        if let Err(e) = write_state(&dir, &st) {
            report
                .error
                .get_or_insert(format!("cannot write the spool state: {e}"));
        }
    }
    drop(lock);
    report
}

fn flush_locked(
    sink: &SinkConfig,
    dir: &Path,
    st: &mut SinkState,
    opts: FlushOpts,
    report: &mut FlushReport,
) -> Result<(), String> {
    let io = |what: &str, e: std::io::Error| format!("{what} in {}: {e}", dir.display());
    let backing_off = !opts.ignore_backoff && st.next_attempt_ms.is_some_and(|n| now_ms() < n);
    if backing_off {
        // Nothing is shipped; the live file keeps growing (one segment for
        // the whole outage, shipped in full batches later) unless the spool
        // is over its bound.
        let live = fs::metadata(dir.join("live.jsonl")).map_or(0, |m| m.len());
        let sealed: u64 = segments(dir)
            .map_err(|e| io("cannot list the spool", e))?
            .iter()
            .map(|(n, l)| l - start_of(st, n, *l))
            .sum();
        if sealed + live > sink.spool_max {
            seal(dir).map_err(|e| io("cannot seal the spool", e))?;
            report.dropped = enforce_bound(dir, sink.spool_max, st)
                .map_err(|e| io("cannot trim the spool", e))?;
        }
        report.skipped = Some("backing off after a failure");
        return Ok(());
    }
    seal(dir).map_err(|e| io("cannot seal the spool", e))?;
    report.dropped =
        enforce_bound(dir, sink.spool_max, st).map_err(|e| io("cannot trim the spool", e))?;
    let segs = segments(dir).map_err(|e| io("cannot list the spool", e))?;
    if segs.is_empty() && st.dropped_pending == 0 {
        st.failures = 0;
        st.next_attempt_ms = None;
        return Ok(());
    }
    let shipper = Shipper::new(sink)?;
    let mut pending_marker =
        (st.dropped_pending > 0).then(|| marker(&sink.name, st.dropped_pending));
    for (name, len) in segs {
        let path = dir.join(&name);
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| io("cannot read the spool", e))?;
        let len = len.min(bytes.len() as u64);
        let mut pos = start_of(st, &name, len) as usize;
        // Only whole lines: a writer that died mid-line left no record.
        let end = memchr::memrchr(b'\n', &bytes).map_or(0, |i| i + 1);
        while pos < end {
            if Instant::now() >= opts.deadline {
                return Ok(());
            }
            let mut lines: Vec<&[u8]> = Vec::new();
            let marker_count = if pending_marker.is_some() {
                st.dropped_pending
            } else {
                0
            };
            if let Some(m) = &pending_marker {
                lines.push(m);
            }
            let start = pos;
            let mut size = 0;
            while pos < end && lines.len() < BATCH_RECORDS {
                let nl = memchr::memchr(b'\n', &bytes[pos..end]).map_or(end, |i| pos + i + 1);
                if !lines.is_empty() && size + (nl - pos) > BATCH_BYTES {
                    break;
                }
                size += nl - pos;
                if nl - pos > 1 {
                    lines.push(&bytes[pos..nl]);
                }
                pos = nl;
            }
            let key = batch_key(&sink.name, &name, start as u64, pos as u64, marker_count);
            send_with_retries(&shipper, &lines, &key, opts.deadline, opts.attempts)?;
            report.sent += lines.len() as u64;
            st.sent_total += lines.len() as u64;
            if pending_marker.take().is_some() {
                st.dropped_pending = 0;
            }
            st.cursor = Some(Cursor {
                segment: name.clone(),
                offset: pos as u64,
                len,
            });
            st.failures = 0;
            st.next_attempt_ms = None;
            st.last_success_ms = Some(now_ms());
            write_state(dir, st).map_err(|e| io("cannot write the spool state", e))?;
        }
        fs::remove_file(&path).map_err(|e| io("cannot remove a shipped segment", e))?;
    }
    if let Some(m) = pending_marker {
        // Nothing else to send: the marker goes alone.
        let key = batch_key(&sink.name, "", 0, 0, st.dropped_pending);
        send_with_retries(&shipper, &[&m], &key, opts.deadline, opts.attempts)?;
        report.sent += 1;
        st.sent_total += 1;
        st.dropped_pending = 0;
    }
    st.failures = 0;
    st.next_attempt_ms = None;
    st.last_success_ms = Some(now_ms());
    Ok(())
}

/// The shim's flush at exit: every sink at once, each bounded by its
/// `flush_timeout`; returns when all are done or the longest bound (plus a
/// small grace) has passed. What is not sent stays in the spool.
pub fn flush_at_exit(sinks: &[SinkConfig], state: &Path) -> Vec<FlushReport> {
    if sinks.is_empty() {
        return Vec::new();
    }
    let start = Instant::now();
    let bound = sinks
        .iter()
        .map(|s| s.flush_timeout)
        .max()
        .unwrap_or_default();
    if sinks.len() == 1 {
        let opts = FlushOpts {
            deadline: start + sinks[0].flush_timeout,
            ignore_backoff: false,
            wait_lock: false,
            attempts: EXIT_ATTEMPTS,
        };
        return vec![flush(&sinks[0], state, opts)];
    }
    let (tx, rx) = std::sync::mpsc::channel();
    for s in sinks {
        let tx = tx.clone();
        let s = s.clone();
        let state = state.to_path_buf();
        let opts = FlushOpts {
            deadline: start + s.flush_timeout,
            ignore_backoff: false,
            wait_lock: false,
            attempts: EXIT_ATTEMPTS,
        };
        std::thread::spawn(move || {
            let _ = tx.send(flush(&s, &state, opts));
        });
    }
    drop(tx);
    let give_up = start + bound + Duration::from_millis(100);
    let mut out = Vec::new();
    while out.len() < sinks.len() {
        let left = give_up.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(r) => out.push(r),
            Err(_) => break,
        }
    }
    out
}

/// Spool directories under the state directory that no configured sink
/// names (left by a sink since removed from the policy).
pub fn orphans(state: &Path, sinks: &[SinkConfig]) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(state.join("spool"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !sinks.iter().any(|s| &s.name == n))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests;
