//! `pkgward export`: the audit log as OCSF or ECS events (NDJSON) or in-toto
//! Statements (JSON Lines), for a SIEM or an attestation store.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::export::{self, Index, Producer, Selection};
use crate::record::query;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// OCSF 1.5.0 events, one JSON object per line.
    Ocsf,
    /// Elastic Common Schema documents, one JSON object per line.
    Ecs,
    /// in-toto Statements v1 with a SLSA Provenance v1 predicate, one per
    /// invocation that installed something with a digest, one per line.
    InToto,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Ocsf => "OCSF",
            Format::Ecs => "ECS",
            Format::InToto => "in-toto",
        }
    }
}

pub fn run(
    format: Format,
    since: Option<String>,
    invocation: Option<String>,
    output: Option<PathBuf>,
    file: Option<PathBuf>,
) -> Result<i32> {
    let since = since
        .map(|s| super::log_cmd::since_timestamp(&s))
        .transpose()?;
    let path = super::log_cmd::log_path(file)?;

    // Pass 1: every invocation and exit, so that the other records (which
    // carry only the invocation id) can be given their host, user, times.
    let mut idx = Index::default();
    let bad = query::for_each_record(&path, &mut |v| idx.add(&v))?;
    let invocations = match invocation {
        None => None,
        Some(id) => {
            let id = idx
                .resolve(&id)
                .map_err(|e| Error::Config(format!("--invocation: {e}")))?;
            Some(idx.tree(&id))
        }
    };
    let selection = Selection { since, invocations };

    let mut sink = Sink::open(output)?;
    let producer = Producer::this();
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut without_subject = 0usize;
    let mut write_err: Option<std::io::Error> = None;
    match format {
        Format::Ocsf | Format::Ecs => {
            // Pass 2: one event per record, streamed.
            query::for_each_record(&path, &mut |v| {
                if write_err.is_some() || !selection.accepts(&idx, &v) {
                    return;
                }
                let ev = match format {
                    Format::Ocsf => export::ocsf::event(&v, &idx, &producer),
                    _ => export::ecs::document(&v, &idx, &producer),
                };
                match ev {
                    Some(ev) => {
                        if let Err(e) = sink.line(&ev) {
                            write_err = Some(e);
                        }
                    }
                    None => {
                        *skipped
                            .entry(export::record_kind(&v).to_string())
                            .or_default() += 1
                    }
                }
            })?;
        }
        Format::InToto => {
            // Pass 2: the records a statement is made of (the full
            // invocation and exit records among them), by invocation.
            let mut related: HashMap<String, Vec<Value>> = HashMap::new();
            let mut full: HashMap<String, Value> = HashMap::new();
            let mut exits: HashMap<String, Value> = HashMap::new();
            query::for_each_record(&path, &mut |v| {
                let kind = export::record_kind(&v);
                if !matches!(
                    kind,
                    "invocation" | "exit" | "package" | "artifact" | "file-written" | "script"
                ) || !selection.accepts(&idx, &v)
                {
                    return;
                }
                let Some(id) = v.get("invocation_id").and_then(Value::as_str) else {
                    return;
                };
                let id = id.to_string();
                match kind {
                    "invocation" => {
                        full.entry(id).or_insert(v);
                    }
                    "exit" => {
                        exits.insert(id, v);
                    }
                    _ => related.entry(id).or_default().push(v),
                }
            })?;
            for id in idx.ids() {
                let Some(inv) = full.get(id) else {
                    continue;
                };
                let recs = related.remove(id).unwrap_or_default();
                match export::intoto::statement(inv, exits.get(id), &recs, &producer) {
                    Some(s) => {
                        if let Err(e) = sink.line(&s) {
                            write_err = Some(e);
                            break;
                        }
                    }
                    None => without_subject += 1,
                }
            }
        }
    }
    if let Some(e) = write_err {
        return Err(sink.error(e));
    }
    sink.finish()?;

    if bad > 0 {
        eprintln!(
            "pkgward: {bad} line(s) of {} (or its rotated files) are not valid JSON and were skipped",
            path.display()
        );
    }
    for (kind, n) in &skipped {
        eprintln!(
            "pkgward: {n} `{kind}` record(s) have no {} mapping and were skipped",
            format.name()
        );
    }
    if without_subject > 0 {
        eprintln!(
            "pkgward: {without_subject} invocation(s) installed nothing with a digest: no statement \
             (an in-toto statement needs a subject)"
        );
    }
    Ok(0)
}

/// Where the lines go: stdout, or a file written beside its destination
/// and renamed over it when complete (a reader never sees half an export).
enum Sink {
    Stdout(std::io::BufWriter<std::io::StdoutLock<'static>>),
    File {
        tmp: tempfile::NamedTempFile,
        out: std::io::BufWriter<std::fs::File>,
        dest: PathBuf,
    },
}

impl Sink {
    fn open(output: Option<PathBuf>) -> Result<Sink> {
        let Some(dest) = output.filter(|p| p.as_os_str() != "-") else {
            return Ok(Sink::Stdout(std::io::BufWriter::new(
                std::io::stdout().lock(),
            )));
        };
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".pkgward-export")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(format!("cannot write into {}", dir.display()), e))?;
        let out = std::io::BufWriter::new(
            tmp.as_file()
                .try_clone()
                .map_err(|e| Error::io(format!("cannot write {}", dest.display()), e))?,
        );
        Ok(Sink::File { tmp, out, dest })
    }

    fn line(&mut self, v: &Value) -> std::io::Result<()> {
        let w: &mut dyn Write = match self {
            Sink::Stdout(w) => w,
            Sink::File { out, .. } => out,
        };
        serde_json::to_writer(&mut *w, v)?;
        w.write_all(b"\n")
    }

    fn error(&self, e: std::io::Error) -> Error {
        match self {
            Sink::Stdout(_) => Error::io("cannot write to stdout", e),
            Sink::File { dest, .. } => Error::io(format!("cannot write {}", dest.display()), e),
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            Sink::Stdout(mut w) => w
                .flush()
                .map_err(|e| Error::io("cannot write to stdout", e)),
            Sink::File { tmp, mut out, dest } => {
                let fail = |e| Error::io(format!("cannot write {}", dest.display()), e);
                out.flush().map_err(fail)?;
                drop(out);
                tmp.as_file().sync_all().map_err(fail)?;
                tmp.persist(&dest).map_err(|e| fail(e.error))?;
                Ok(())
            }
        }
    }
}
