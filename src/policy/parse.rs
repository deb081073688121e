//! One layer file → [`RawLayer`]: TOML parsed into a spanned document
//! ([`toml::de::DeTable`]) and walked by hand, so every error and every value
//! carries the position of the key or value it is about.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

use super::{Layer, Mode, Origin, PolicyError, ScriptsDefault, ScriptsExec, BUILTIN, LOCKABLE};
use crate::tools::Ecosystem;

/// A value as written in one layer, with its position.
#[derive(Clone, Debug)]
pub(crate) struct Located<T> {
    pub value: T,
    pub origin: Origin,
}

#[derive(Clone, Debug)]
pub(crate) struct RawRegistry {
    pub eco: Ecosystem,
    /// The position of the ecosystem key.
    pub origin: Origin,
    pub entries: Vec<Located<String>>,
}

/// One layer as written: only the keys it sets.
#[derive(Clone, Debug)]
pub(crate) struct RawLayer {
    pub layer: Layer,
    pub mode: Option<Located<Mode>>,
    pub lock: Vec<Located<&'static str>>,
    pub registries: Vec<RawRegistry>,
    /// `[mirrors]`: the URL a tool is forced to use, per ecosystem.
    pub mirrors: Vec<(Ecosystem, Located<String>)>,
    pub scripts_default: Option<Located<ScriptsDefault>>,
    pub scripts_allow: Vec<Located<String>>,
    pub scripts_exec: Option<Located<ScriptsExec>>,
    /// System layer only.
    pub project_approvals: Option<Located<bool>>,
    pub audit_log: Option<Located<PathBuf>>,
    /// `[audit] max_size`: rotate the log past this many bytes.
    pub audit_max_size: Option<Located<u64>>,
    /// `[audit] keep`: rotated files kept.
    pub audit_keep: Option<Located<u32>>,
    /// `[audit] provenance`: package, artifact and bin-file records.
    pub audit_provenance: Option<Located<bool>>,
    /// `[[audit.sinks]]`: where records are shipped.
    pub sinks: Vec<Located<crate::sinks::SinkConfig>>,
    /// `[threats] feeds`: OSV files or directories of known-malicious packages.
    pub threat_feeds: Vec<Located<PathBuf>>,
    /// `[registries] min_release_age`: (ecosystem or `None` for the
    /// default, the age).
    pub min_release_age: Vec<(Option<Ecosystem>, Located<std::time::Duration>)>,
    /// `[fleet]` (system layer only): the remote policy.
    pub fleet: Option<Located<crate::fleet::FleetConfig>>,
    /// `[network] allow`: destinations the egress proxy lets through.
    pub network_allow: Vec<Located<String>>,
    pub sandbox_require: Option<Located<bool>>,
    pub sandbox_confine_approved: Option<Located<bool>>,
    pub sandbox_deny_read: Vec<Located<String>>,
    pub sandbox_scrub_env: Vec<Located<String>>,
    pub sandbox_allow_write: Vec<Located<String>>,
    /// `[supervise] tracer`.
    pub supervise_tracer: Option<Located<super::Tracer>>,
}

/// Parses the bytes of one layer file. All errors found are returned, sorted
/// by position.
pub(crate) fn parse_bytes(
    bytes: &[u8],
    path: &Path,
    layer: Layer,
) -> Result<RawLayer, Vec<PolicyError>> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_layer(text, path, layer),
        Err(e) => {
            // Position of the first invalid byte, computed on the valid prefix.
            let valid = &bytes[..e.valid_up_to()];
            let prefix = std::str::from_utf8(valid).unwrap_or_default();
            let lines = Lines::new(prefix);
            let (line, col) = lines.pos(prefix.len());
            Err(vec![PolicyError {
                path: path.to_path_buf(),
                line,
                col,
                key: None,
                message: "the file is not valid UTF-8".to_string(),
            }])
        }
    }
}

/// Parses the text of one layer file.
pub(crate) fn parse_layer(
    text: &str,
    path: &Path,
    layer: Layer,
) -> Result<RawLayer, Vec<PolicyError>> {
    let mut cx = Cx {
        path,
        lines: Lines::new(text),
        layer,
        errors: Vec::new(),
    };
    let (root, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in syntax {
            let (line, col) = match e.span() {
                Some(span) => cx.lines.pos(span.start),
                None => (0, 0),
            };
            cx.errors.push(PolicyError {
                path: path.to_path_buf(),
                line,
                col,
                key: None,
                message: format!("invalid TOML: {}", e.message().trim_end()),
            });
        }
        return Err(cx.finish_errors());
    }
    let raw = cx.document(root.get_ref());
    if cx.errors.is_empty() {
        Ok(raw)
    } else {
        Err(cx.finish_errors())
    }
}

struct Cx<'a> {
    path: &'a Path,
    lines: Lines<'a>,
    layer: Layer,
    errors: Vec<PolicyError>,
}

const TOP_KEYS: [&str; 11] = [
    "mode",
    "lock",
    "registries",
    "mirrors",
    "scripts",
    "audit",
    "threats",
    "fleet",
    "network",
    "sandbox",
    "supervise",
];
const SANDBOX_KEYS: [&str; 5] = [
    "require",
    "confine_approved",
    "deny_read",
    "scrub_env",
    "allow_write",
];
const SUPERVISE_KEYS: [&str; 1] = ["tracer"];
const SCRIPTS_KEYS: [&str; 4] = ["default", "allow", "exec", "project_approvals"];
const AUDIT_KEYS: [&str; 5] = ["log", "max_size", "keep", "sinks", "provenance"];
const NETWORK_KEYS: [&str; 1] = ["allow"];
const THREATS_KEYS: [&str; 1] = ["feeds"];
const FLEET_KEYS: [&str; 11] = [
    "policy_url",
    "feed_url",
    "feed_sha256",
    "sha256",
    "public_key",
    "signature_url",
    "refresh",
    "max_age",
    "on_stale",
    "timeout",
    "ca_file",
];

impl Cx<'_> {
    fn finish_errors(&mut self) -> Vec<PolicyError> {
        let mut errors = std::mem::take(&mut self.errors);
        errors.sort_by_key(|e| (e.line, e.col));
        errors
    }

    fn origin(&self, span: &Range<usize>) -> Origin {
        let (line, col) = self.lines.pos(span.start);
        Origin {
            path: self.path.to_path_buf(),
            line,
            col,
        }
    }

    fn error(&mut self, span: &Range<usize>, key: String, message: String) {
        let (line, col) = self.lines.pos(span.start);
        self.errors.push(PolicyError {
            path: self.path.to_path_buf(),
            line,
            col,
            key: Some(key),
            message,
        });
    }

    fn unknown_key(&mut self, span: &Range<usize>, table: &[&str], name: &str, expected: &[&str]) {
        let mut key_path: Vec<&str> = table.to_vec();
        key_path.push(name);
        let place = if table.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in [{}]", dotted(table))
        };
        let mut message = format!("unknown key `{name}` {place}");
        if let Some(s) = suggest(name, expected) {
            message.push_str(&format!(" (did you mean `{s}`?)"));
        }
        message.push_str(&format!("; expected one of: {}", expected.join(", ")));
        self.error(span, dotted(&key_path), message);
    }

    fn wrong_type(&mut self, v: &Spanned<DeValue<'_>>, key: &[&str], expected: &str) {
        let found = v.get_ref().type_str();
        self.error(
            &v.span(),
            dotted(key),
            format!("expected {expected}, found {found}"),
        );
    }

    fn document(&mut self, root: &DeTable<'_>) -> RawLayer {
        let mut raw = RawLayer {
            layer: self.layer,
            mode: None,
            lock: Vec::new(),
            registries: Vec::new(),
            mirrors: Vec::new(),
            scripts_default: None,
            scripts_allow: Vec::new(),
            scripts_exec: None,
            project_approvals: None,
            audit_log: None,
            audit_max_size: None,
            audit_keep: None,
            audit_provenance: None,
            sinks: Vec::new(),
            threat_feeds: Vec::new(),
            min_release_age: Vec::new(),
            fleet: None,
            network_allow: Vec::new(),
            sandbox_require: None,
            sandbox_confine_approved: None,
            sandbox_deny_read: Vec::new(),
            sandbox_scrub_env: Vec::new(),
            sandbox_allow_write: Vec::new(),
            supervise_tracer: None,
        };
        for (k, v) in root.iter() {
            let name: &str = k.get_ref();
            match name {
                "mode" => {
                    raw.mode = self
                        .enum_value(k, v, &["mode"], &Mode::ALL.map(Mode::as_str))
                        .and_then(|l| l.map_opt(Mode::from_name));
                }
                "lock" => self.lock(k, v, &mut raw),
                "registries" => self.registries(v, &mut raw),
                "mirrors" => self.mirrors(v, &mut raw),
                "scripts" => self.scripts(v, &mut raw),
                "audit" => self.audit(v, &mut raw),
                "threats" => self.threats(v, &mut raw),
                "fleet" => self.fleet(k, v, &mut raw),
                "network" => self.network(v, &mut raw),
                "sandbox" => self.sandbox(v, &mut raw),
                "supervise" => self.supervise(v, &mut raw),
                _ => self.unknown_key(&k.span(), &[], name, &TOP_KEYS),
            }
        }
        raw
    }

    /// A string that must be one of `allowed`; located at the key.
    fn enum_value<'v>(
        &mut self,
        k: &Spanned<DeString<'_>>,
        v: &'v Spanned<DeValue<'_>>,
        key: &[&str],
        allowed: &[&str],
    ) -> Option<Located<&'v str>> {
        let expected = one_of(allowed);
        let Some(s) = v.get_ref().as_str() else {
            self.wrong_type(v, key, &format!("a string ({expected})"));
            return None;
        };
        if !allowed.contains(&s) {
            let mut message = format!("invalid value {}: expected {expected}", quoted(s));
            if let Some(hint) = suggest(s, allowed) {
                message.push_str(&format!(" (did you mean \"{hint}\"?)"));
            }
            self.error(&v.span(), dotted(key), message);
            return None;
        }
        // Effective values are located at their key: `mode = …` is on that line.
        Some(Located {
            value: s,
            origin: self.origin(&k.span()),
        })
    }

    /// The elements of an array of strings, each with its span; `None` (and
    /// an error) if `v` is not an array or an element is not a string.
    fn string_array<'v>(
        &mut self,
        v: &'v Spanned<DeValue<'_>>,
        key: &[&str],
    ) -> Option<Vec<(&'v str, Range<usize>)>> {
        let Some(items) = v.get_ref().as_array() else {
            self.wrong_type(v, key, "an array of strings");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items.iter() {
            match item.get_ref().as_str() {
                Some(s) => out.push((s, item.span())),
                None => {
                    self.wrong_type(item, key, "a string (in an array of strings)");
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn table<'v, 'i>(
        &mut self,
        v: &'v Spanned<DeValue<'i>>,
        key: &[&str],
    ) -> Option<&'v DeTable<'i>> {
        match v.get_ref().as_table() {
            Some(t) => Some(t),
            None => {
                self.wrong_type(v, key, "a table");
                None
            }
        }
    }

    fn lock(&mut self, k: &Spanned<DeString<'_>>, v: &Spanned<DeValue<'_>>, raw: &mut RawLayer) {
        if self.layer != Layer::System {
            self.error(
                &k.span(),
                "lock".to_string(),
                format!(
                    "`lock` is only allowed in the system policy, not in the {} layer",
                    self.layer
                ),
            );
            return;
        }
        let Some(items) = self.string_array(v, &["lock"]) else {
            return;
        };
        for (s, span) in items {
            match LOCKABLE.iter().find(|l| **l == s) {
                Some(l) => {
                    if !raw.lock.iter().any(|x| x.value == *l) {
                        raw.lock.push(Located {
                            value: l,
                            origin: self.origin(&span),
                        });
                    }
                }
                None => {
                    let mut message = format!(
                        "{} cannot be locked: expected {}",
                        quoted(s),
                        one_of(&LOCKABLE)
                    );
                    if let Some(hint) = suggest(s, &LOCKABLE) {
                        message.push_str(&format!(" (did you mean \"{hint}\"?)"));
                    }
                    self.error(&span, "lock".to_string(), message);
                }
            }
        }
    }

    fn registries(&mut self, v: &Spanned<DeValue<'_>>, raw: &mut RawLayer) {
        let Some(table) = self.table(v, &["registries"]) else {
            return;
        };
        for (k, v) in table.iter() {
            let name: &str = k.get_ref();
            if name == "min_release_age" {
                self.min_release_age(k, v, raw);
                continue;
            }
            let Some(eco) = Ecosystem::from_key(name) else {
                let mut keys: Vec<&str> = Ecosystem::ALL.map(Ecosystem::key).to_vec();
                keys.push("min_release_age");
                self.unknown_key(&k.span(), &["registries"], name, &keys);
                continue;
            };
            let key = ["registries", name];
            let Some(items) = self.string_array(v, &key) else {
                continue;
            };
            let mut entries = Vec::with_capacity(items.len());
            for (s, span) in items {
                match validate_registry_entry(s) {
                    Ok(()) => entries.push(Located {
                        value: s.to_string(),
                        origin: self.origin(&span),
                    }),
                    Err(why) => self.error(&span, dotted(&key), why),
                }
            }
            raw.registries.push(RawRegistry {
                eco,
                origin: self.origin(&k.span()),
                entries,
            });
        }
    }

    /// `min_release_age = "48h"`, or a table `{ default = "48h", npm = "7d",
    /// cargo = "0s" }` (an ecosystem's own value over the default; `0s`
    /// turns the cooldown off for it).
    fn min_release_age(
        &mut self,
        k: &Spanned<DeString<'_>>,
        v: &Spanned<DeValue<'_>>,
        raw: &mut RawLayer,
    ) {
        let mut one = |cx: &mut Self,
                       eco: Option<Ecosystem>,
                       name: &str,
                       v: &Spanned<DeValue<'_>>,
                       at: &Range<usize>| {
            let key = match eco {
                Some(e) => format!("registries.min_release_age.{}", e.key()),
                None if name == "default" => "registries.min_release_age.default".to_string(),
                None => "registries.min_release_age".to_string(),
            };
            let Some(s) = v.get_ref().as_str() else {
                cx.error(
                    &v.span(),
                    key,
                    format!(
                        "expected a duration such as \"48h\" or \"7d\", found {}",
                        v.get_ref().type_str()
                    ),
                );
                return;
            };
            match crate::record::query::parse_duration(s) {
                Ok(d) => raw.min_release_age.push((
                    eco,
                    Located {
                        value: d,
                        origin: cx.origin(at),
                    },
                )),
                Err(e) => cx.error(&v.span(), key, e),
            }
        };
        if let Some(table) = v.get_ref().as_table() {
            for (ek, ev) in table.iter() {
                let name: &str = ek.get_ref();
                if name == "default" {
                    one(self, None, name, ev, &ek.span());
                } else if let Some(eco) = Ecosystem::from_key(name) {
                    one(self, Some(eco), name, ev, &ek.span());
                } else {
                    let mut keys: Vec<&str> = vec!["default"];
                    keys.extend(Ecosystem::ALL.map(Ecosystem::key));
                    self.unknown_key(&ek.span(), &["registries", "min_release_age"], name, &keys);
                }
            }
        } else {
            one(self, None, "", v, &k.span());
        }
    }

    fn mirrors(&mut self, v: &Spanned<DeValue<'_>>, raw: &mut RawLayer) {
        let Some(table) = self.table(v, &["mirrors"]) else {
            return;
        };
        for (k, v) in table.iter() {
            let name: &str = k.get_ref();
            let Some(eco) = Ecosystem::from_key(name) else {
                let keys = Ecosystem::ALL.map(Ecosystem::key);
                self.unknown_key(&k.span(), &["mirrors"], name, &keys);
                continue;
            };
            let key = ["mirrors", name];
            let Some(url) = v.get_ref().as_str() else {
                self.wrong_type(v, &key, "a string (the mirror's URL)");
                continue;
            };
            if url == BUILTIN {
                self.error(
                    &v.span(),
                    dotted(&key),
                    "a mirror must be a URL (`builtin` is the tool's own default, which needs no forcing)".into(),
                );
                continue;
            }
            if url.to_ascii_lowercase().starts_with("file:") {
                self.error(
                    &v.span(),
                    dotted(&key),
                    "a mirror must be an http(s) URL (a network share can be approved, not forced)"
                        .into(),
                );
                continue;
            }
            match validate_registry_entry(url) {
                Ok(()) => raw.mirrors.push((
                    eco,
                    Located {
                        value: url.to_string(),
                        origin: self.origin(&v.span()),
                    },
                )),
                Err(why) => self.error(&v.span(), dotted(&key), why),
            }
        }
    }

    fn scripts(&mut self, v: &Spanned<DeValue<'_>>, raw: &mut RawLayer) {
        let Some(table) = self.table(v, &["scripts"]) else {
            return;
        };
        for (k, v) in table.iter() {
            let name: &str = k.get_ref();
            match name {
                "default" => {
                    raw.scripts_default = self
                        .enum_value(
                            k,
                            v,
                            &["scripts", "default"],
                            &ScriptsDefault::ALL.map(ScriptsDefault::as_str),
                        )
                        .and_then(|l| l.map_opt(ScriptsDefault::from_name));
                }
                "allow" => {
                    let Some(items) = self.string_array(v, &["scripts", "allow"]) else {
                        continue;
                    };
                    for (s, span) in items {
                        match AllowEntry::parse(s) {
                            Ok(_) => raw.scripts_allow.push(Located {
                                value: s.to_string(),
                                origin: self.origin(&span),
                            }),
                            Err(why) => self.error(&span, "scripts.allow".to_string(), why),
                        }
                    }
                }
                "exec" => {
                    raw.scripts_exec = self
                        .enum_value(
                            k,
                            v,
                            &["scripts", "exec"],
                            &ScriptsExec::ALL.map(ScriptsExec::as_str),
                        )
                        .and_then(|l| l.map_opt(ScriptsExec::from_name));
                }
                "project_approvals" => {
                    if self.layer != Layer::System {
                        self.error(
                            &k.span(),
                            "scripts.project_approvals".to_string(),
                            format!(
                                "`scripts.project_approvals` is only allowed in the system policy, not in the {} layer",
                                self.layer
                            ),
                        );
                        continue;
                    }
                    match v.get_ref().as_bool() {
                        Some(b) => {
                            raw.project_approvals = Some(Located {
                                value: b,
                                origin: self.origin(&k.span()),
                            })
                        }
                        None => self.wrong_type(
                            v,
                            &["scripts", "project_approvals"],
                            "a boolean (true or false)",
                        ),
                    }
                }
                _ => self.unknown_key(&k.span(), &["scripts"], name, &SCRIPTS_KEYS),
            }
        }
    }

    fn supervise(&mut self, v: &Spanned<DeValue<'_>>, raw: &mut RawLayer) {
        let Some(table) = self.table(v, &["supervise"]) else {
            return;
        };
        for (k, v) in table.iter() {
            let name: &str = k.get_ref();
            if name != "tracer" {
                self.unknown_key(&k.span(), &["supervise"], name, &SUPERVISE_KEYS);
                continue;
            }
            raw.supervise_tracer = self
                .enum_value(
                    k,
                    v,
                    &["supervise", "tracer"],
                    &super::Tracer::ALL.map(super::Tracer::as_str),
                )
                .and_then(|l| l.map_opt(super::Tracer::from_name));
        }
    }

    fn network(&mut self, v: &Spanned<DeValue<'_>>, raw: &mut RawLayer) {
        let Some(table) = self.table(v, &["network"]) else {
            return;
        };
        for (k, v) in table.iter() {
            let name: &str = k.get_ref();
            if name != "allow" {
                self.unknown_key(&k.span(), &["network"], name, &NETWORK_KEYS);
                continue;
            }
            let Some(items) = self.string_array(v, &["network", "allow"]) else {
                continue;
            };
            for (s, span) in items {
                match crate::supervise::proxy::Rule::parse_allow(s, "network.allow") {
                    Ok(_) => raw.network_allow.push(Located {
                        value: s.to_string(),
                        origin: self.origin(&span),
                    }),
                    Err(why) => self.error(&span, "network.allow".to_string(), why),
                }
            }
        }
    }

    fn sandbox(&mut self, v: &Spanned<DeValue<'_>>, raw: &mut RawLayer) {
        let Some(table) = self.table(v, &["sandbox"]) else {
            return;
        };
        for (k, v) in table.iter() {
            let name: &str = k.get_ref();
            match name {
                "require" | "confine_approved" => match v.get_ref().as_bool() {
                    Some(b) => {
                        let l = Some(Located {
                            value: b,
                            origin: self.origin(&k.span()),
                        });
                        if name == "require" {
                            raw.sandbox_require = l;
                        } else {
                            raw.sandbox_confine_approved = l;
                        }
                    }
                    None => self.wrong_type(v, &["sandbox", name], "a boolean (true or false)"),
                },
                "deny_read" | "allow_write" | "scrub_env" => {
                    let Some(items) = self.string_array(v, &["sandbox", name]) else {
                        continue;
                    };
                    for (s, span) in items {
                        let check = if name == "scrub_env" {
                            validate_env_pattern(s)
                        } else {
                            validate_sandbox_path(s)
                        };
                        match check {
                            Ok(()) => {
                                let l = Located {
                                    value: s.to_string(),
                                    origin: self.origin(&span),
                                };
                                match name {
                                    "deny_read" => raw.sandbox_deny_read.push(l),
                                    "allow_write" => raw.sandbox_allow_write.push(l),
                                    _ => raw.sandbox_scrub_env.push(l),
                                }
                            }
                            Err(why) => self.error(&span, format!("sandbox.{name}"), why),
                        }
                    }
                }
                _ => self.unknown_key(&k.span(), &["sandbox"], name, &SANDBOX_KEYS),
            }
        }
    }

    fn audit(&mut self, v: &Spanned<DeValue<'_>>, raw: &mut RawLayer) {
        let Some(table) = self.table(v, &["audit"]) else {
            return;
        };
        for (k, v) in table.iter() {
            let name: &str = k.get_ref();
            match name {
                "log" => {}
                "max_size" => {
                    if let Some(n) = self.size(v, "audit.max_size") {
                        raw.audit_max_size = Some(Located {
                            value: n,
                            origin: self.origin(&k.span()),
                        });
                    }
                    continue;
                }
                "keep" => {
                    match int_value(v) {
                        Some(n) if (1..=100_000).contains(&n) => {
                            raw.audit_keep = Some(Located {
                                value: n as u32,
                                origin: self.origin(&k.span()),
                            })
                        }
                        Some(_) => self.error(
                            &v.span(),
                            "audit.keep".into(),
                            "must be between 1 and 100000 (rotated files kept)".into(),
                        ),
                        None => self.wrong_type(v, &["audit", "keep"], "an integer"),
                    }
                    continue;
                }
                "sinks" => {
                    self.sinks(v, raw);
                    continue;
                }
                "provenance" => {
                    match v.get_ref().as_bool() {
                        Some(b) => {
                            raw.audit_provenance = Some(Located {
                                value: b,
                                origin: self.origin(&k.span()),
                            })
                        }
                        None => self.wrong_type(
                            v,
                            &["audit", "provenance"],
                            "a boolean (true or false)",
                        ),
                    }
                    continue;
                }
                _ => {
                    self.unknown_key(&k.span(), &["audit"], name, &AUDIT_KEYS);
                    continue;
                }
            }
            let Some(s) = v.get_ref().as_str() else {
                self.wrong_type(v, &["audit", "log"], "a string (a file path)");
                continue;
            };
            if s.trim().is_empty() {
                self.error(
                    &v.span(),
                    "audit.log".to_string(),
                    "must not be empty: name the audit log file, or leave `log` out for the default"
                        .to_string(),
                );
                continue;
            }
            if s.contains('\0') {
                self.error(
                    &v.span(),
                    "audit.log".to_string(),
                    "must not contain a NUL character".to_string(),
                );
                continue;
            }
            let mut log = PathBuf::from(s);
            // Relative to this file's directory; a Windows root-relative path
            // (`\logs\a.jsonl`) is kept as written.
            if log.is_relative() && !log.has_root() {
                if let Some(dir) = self.path.parent() {
                    log = dir.join(log);
                }
            }
            raw.audit_log = Some(Located {
                value: log,
                origin: self.origin(&k.span()),
            });
        }
    }
}

/// A `[sandbox]` path: `~/…` (in every home directory) or absolute, without
/// `..`.
fn validate_sandbox_path(s: &str) -> Result<(), String> {
    if s.contains('\0') {
        return Err("must not contain a NUL character".into());
    }
    let rel = s.strip_prefix("~/");
    let absolute = s.starts_with('/') || Path::new(s).is_absolute();
    if rel.is_none() && !absolute {
        return Err(format!(
            "{} is neither absolute nor `~/…` (a path in the home directory)",
            quoted(s)
        ));
    }
    if rel.is_some_and(|r| r.is_empty()) || s == "/" {
        return Err(format!("{} names a whole tree, not a location", quoted(s)));
    }
    if s.split(['/', '\\']).any(|c| c == "..") {
        return Err(format!("{} must not contain `..`", quoted(s)));
    }
    Ok(())
}

/// A `[sandbox] scrub_env` pattern: a variable name, `*` matching any run.
fn validate_env_pattern(s: &str) -> Result<(), String> {
    if s.is_empty() || s.chars().all(|c| c == '*') {
        return Err(
            "must name variables (a pattern of only `*` would remove PATH and HOME too)".into(),
        );
    }
    if s.contains(['=', '\0']) || s.chars().any(char::is_whitespace) {
        return Err(format!(
            "{} is not a variable name pattern (no `=`, spaces or NUL)",
            quoted(s)
        ));
    }
    Ok(())
}

/// An integer value (any radix TOML allows, underscores removed).
fn int_value(v: &Spanned<DeValue<'_>>) -> Option<i64> {
    let i = v.get_ref().as_integer()?;
    i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok()
}

impl Cx<'_> {
    /// A size in bytes: an integer, or a string such as "64MiB"; at least
    /// [`crate::sinks::config::MIN_SIZE`].
    fn size(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<u64> {
        let n = if let Some(s) = v.get_ref().as_str() {
            crate::sinks::config::parse_size(s)
        } else if v.get_ref().as_integer().is_some() {
            match int_value(v) {
                Some(n) if n >= 0 => Ok(n as u64),
                _ => Err("expected a positive number of bytes".to_string()),
            }
        } else {
            let parts: Vec<&str> = key.split('.').collect();
            self.wrong_type(
                v,
                &parts,
                "a size (bytes as an integer, or a string such as \"64MiB\")",
            );
            return None;
        };
        match n {
            Ok(n) if n >= crate::sinks::config::MIN_SIZE => Some(n),
            Ok(_) => {
                self.error(
                    &v.span(),
                    key.to_string(),
                    format!(
                        "must be at least {} bytes (4KiB)",
                        crate::sinks::config::MIN_SIZE
                    ),
                );
                None
            }
            Err(e) => {
                self.error(&v.span(), key.to_string(), e);
                None
            }
        }
    }

    /// `[[audit.sinks]]`: an array of tables, each one sink.
    fn sinks(&mut self, v: &Spanned<DeValue<'_>>, raw: &mut RawLayer) {
        use crate::sinks::config::{self as sc, SinkConfig, SinkKind};
        let Some(items) = v.get_ref().as_array() else {
            self.wrong_type(
                v,
                &["audit", "sinks"],
                "an array of tables ([[audit.sinks]])",
            );
            return;
        };
        for item in items.iter() {
            let Some(table) = item.get_ref().as_table() else {
                self.wrong_type(item, &["audit", "sinks"], "a table (one sink)");
                continue;
            };
            let errors_before = self.errors.len();
            // The type first: it decides which keys belong.
            let kind = table.iter().find(|(k, _)| k.get_ref() == "type");
            let kind_name = match kind {
                None => {
                    self.error(
                        &item.span(),
                        "audit.sinks".into(),
                        format!("a sink needs `type`: {}", one_of(&sc::TYPES)),
                    );
                    continue;
                }
                Some((k, tv)) => {
                    match self.enum_value(k, tv, &["audit", "sinks", "type"], &sc::TYPES) {
                        Some(l) => l.value,
                        None => continue,
                    }
                }
            };
            let mut name = kind_name.to_string();
            let mut url: Option<(String, Range<usize>)> = None;
            let mut spool_max = sc::DEFAULT_SPOOL_MAX;
            let mut flush_timeout = sc::DEFAULT_FLUSH_TIMEOUT;
            let mut facility = sc::DEFAULT_FACILITY;
            let mut app_name = sc::DEFAULT_APP_NAME.to_string();
            let mut token_env = None;
            let mut ca_file = None;
            let mut timeout = sc::DEFAULT_HTTP_TIMEOUT;
            for (k, val) in table.iter() {
                let key: &str = k.get_ref();
                let dotted_key = format!("audit.sinks.{key}");
                if !sc::SINK_KEYS.contains(&key) {
                    self.unknown_key(&k.span(), &["audit", "sinks"], key, &sc::SINK_KEYS);
                    continue;
                }
                let wrong_kind = match kind_name {
                    "syslog" => sc::HTTP_ONLY.contains(&key),
                    _ => sc::SYSLOG_ONLY.contains(&key),
                };
                if wrong_kind {
                    self.error(
                        &k.span(),
                        dotted_key,
                        format!("`{key}` does not apply to a {kind_name} sink"),
                    );
                    continue;
                }
                if key == "type" {
                    continue;
                }
                if key == "spool_max" {
                    if let Some(n) = self.size(val, "audit.sinks.spool_max") {
                        spool_max = n;
                    }
                    continue;
                }
                let Some(text) = val.get_ref().as_str() else {
                    self.wrong_type(val, &["audit", "sinks", key], "a string");
                    continue;
                };
                let result: Result<(), String> = match key {
                    "name" => sc::check_name(text).map(|()| name = text.to_string()),
                    "url" => {
                        let checked = if kind_name == "syslog" {
                            sc::parse_syslog_url(text).map(|_| text.trim().to_string())
                        } else {
                            fleet_url(text)
                        };
                        checked.map(|u| url = Some((u, val.span())))
                    }
                    "flush_timeout" => sc::parse_short_duration(text).map(|d| flush_timeout = d),
                    "timeout" => sc::parse_short_duration(text).map(|d| timeout = d),
                    "facility" => match sc::Facility::from_name(text) {
                        Some(f) => {
                            facility = f;
                            Ok(())
                        }
                        None => {
                            let mut m = format!(
                                "invalid value {}: expected one of {}",
                                quoted(text),
                                sc::Facility::NAMES.join(", ")
                            );
                            if let Some(h) = suggest(text, &sc::Facility::NAMES) {
                                m.push_str(&format!(" (did you mean \"{h}\"?)"));
                            }
                            Err(m)
                        }
                    },
                    "app_name" => sc::check_app_name(text).map(|()| app_name = text.to_string()),
                    "token_env" => {
                        sc::check_env_name(text).map(|()| token_env = Some(text.to_string()))
                    }
                    _ => {
                        // ca_file
                        if text.trim().is_empty() || text.contains('\0') {
                            Err("must name a PEM file".to_string())
                        } else {
                            let mut p = PathBuf::from(text);
                            if p.is_relative() && !p.has_root() {
                                if let Some(dir) = self.path.parent() {
                                    p = dir.join(p);
                                }
                            }
                            ca_file = Some(p);
                            Ok(())
                        }
                    }
                };
                if let Err(message) = result {
                    self.error(&val.span(), dotted_key, message);
                }
            }
            if self.errors.len() > errors_before {
                continue;
            }
            let Some((url, _)) = url else {
                self.error(
                    &item.span(),
                    "audit.sinks.url".into(),
                    format!("a {kind_name} sink needs `url`"),
                );
                continue;
            };
            let kind = if kind_name == "syslog" {
                let Ok(transport) = sc::parse_syslog_url(&url) else {
                    continue;
                };
                SinkKind::Syslog(sc::SyslogConfig {
                    url,
                    transport,
                    facility,
                    app_name,
                })
            } else {
                SinkKind::Http(sc::HttpConfig {
                    url,
                    token_env,
                    ca_file,
                    timeout,
                })
            };
            if raw.sinks.iter().any(|s| s.value.name == name) {
                self.error(
                    &item.span(),
                    "audit.sinks.name".into(),
                    format!(
                        "two sinks are named `{name}` in this file: give each its own `name` (it names its spool)"
                    ),
                );
                continue;
            }
            raw.sinks.push(Located {
                value: SinkConfig {
                    name,
                    kind,
                    spool_max,
                    flush_timeout,
                },
                origin: self.origin(&item.span()),
            });
        }
    }
}

impl Cx<'_> {
    /// `[threats] feeds = ["PATH", …]`: OSV advisories (a `.json` file, a
    /// `.jsonl` file, a `.zip` like the OSV exports, or a directory of
    /// `.json` files), relative to this file's directory.
    fn threats(&mut self, v: &Spanned<DeValue<'_>>, raw: &mut RawLayer) {
        let Some(table) = self.table(v, &["threats"]) else {
            return;
        };
        for (k, v) in table.iter() {
            let name: &str = k.get_ref();
            if name != "feeds" {
                self.unknown_key(&k.span(), &["threats"], name, &THREATS_KEYS);
                continue;
            }
            let Some(items) = self.string_array(v, &["threats", "feeds"]) else {
                continue;
            };
            for (s, span) in items {
                if s.trim().is_empty() || s.contains('\0') {
                    self.error(
                        &span,
                        "threats.feeds".to_string(),
                        "must name a file or directory of OSV advisories".to_string(),
                    );
                    continue;
                }
                let mut path = PathBuf::from(s);
                if path.is_relative() && !path.has_root() {
                    if let Some(dir) = self.path.parent() {
                        path = dir.join(path);
                    }
                }
                raw.threat_feeds.push(Located {
                    value: path,
                    origin: self.origin(&span),
                });
            }
        }
    }
}

impl Cx<'_> {
    /// `[fleet]`: the remote policy (system layer only).
    fn fleet(&mut self, k: &Spanned<DeString<'_>>, v: &Spanned<DeValue<'_>>, raw: &mut RawLayer) {
        if self.layer != Layer::System {
            self.error(
                &k.span(),
                "fleet".to_string(),
                format!(
                    "`[fleet]` is only allowed in the system policy, not in the {} layer: \
                     only the machine's owner may name the remote policy",
                    self.layer
                ),
            );
            return;
        }
        let Some(table) = self.table(v, &["fleet"]) else {
            return;
        };
        let mut cfg = crate::fleet::FleetConfig {
            policy_url: String::new(),
            sha256: None,
            public_key: None,
            signature_url: String::new(),
            refresh: crate::fleet::DEFAULT_REFRESH,
            max_age: crate::fleet::DEFAULT_MAX_AGE,
            on_stale: crate::fleet::OnStale::EnforceCached,
            timeout: crate::fleet::DEFAULT_TIMEOUT,
            ca_file: None,
            feed_url: None,
            feed_sha256: None,
        };
        let errors_before = self.errors.len();
        for (key, val) in table.iter() {
            let name: &str = key.get_ref();
            let dotted_key = format!("fleet.{name}");
            if !FLEET_KEYS.contains(&name) {
                self.unknown_key(&key.span(), &["fleet"], name, &FLEET_KEYS);
                continue;
            }
            let Some(text) = val.get_ref().as_str() else {
                self.wrong_type(val, &["fleet", name], "a string");
                continue;
            };
            let result: Result<(), String> = match name {
                "policy_url" => fleet_url(text).map(|u| cfg.policy_url = u),
                "signature_url" => fleet_url(text).map(|u| cfg.signature_url = u),
                "feed_url" => fleet_url(text).map(|u| cfg.feed_url = Some(u)),
                "feed_sha256" => {
                    sha256_hex(text, "the feed file's").map(|t| cfg.feed_sha256 = Some(t))
                }
                "sha256" => sha256_hex(text, "the policy file's").map(|t| cfg.sha256 = Some(t)),
                "public_key" => minisign_verify::PublicKey::from_base64(text.trim())
                    .map(|_| cfg.public_key = Some(text.trim().to_string()))
                    .map_err(|e| {
                        format!("not a minisign public key (the `RW…` line of a .pub file): {e}")
                    }),
                "refresh" | "max_age" | "timeout" => crate::record::query::parse_duration(text)
                    .and_then(|d| {
                        if d.is_zero() {
                            return Err("must be more than zero".into());
                        }
                        match name {
                            "refresh" => cfg.refresh = d,
                            "max_age" => cfg.max_age = d,
                            _ => cfg.timeout = d,
                        }
                        Ok(())
                    }),
                "on_stale" => match crate::fleet::OnStale::from_name(text) {
                    Some(o) => {
                        cfg.on_stale = o;
                        Ok(())
                    }
                    None => Err(format!(
                        "invalid value {}: expected {}",
                        quoted(text),
                        one_of(&crate::fleet::OnStale::NAMES)
                    )),
                },
                _ => {
                    let mut p = PathBuf::from(text);
                    if p.is_relative() && !p.has_root() {
                        if let Some(dir) = self.path.parent() {
                            p = dir.join(p);
                        }
                    }
                    cfg.ca_file = Some(p);
                    Ok(())
                }
            };
            if let Err(message) = result {
                self.error(&val.span(), dotted_key, message);
            }
        }
        if self.errors.len() > errors_before {
            return;
        }
        if cfg.policy_url.is_empty() {
            self.error(
                &k.span(),
                "fleet.policy_url".into(),
                "`[fleet]` needs `policy_url`".into(),
            );
            return;
        }
        if cfg.sha256.is_none() && cfg.public_key.is_none() {
            self.error(
                &k.span(),
                "fleet".into(),
                "`[fleet]` needs `sha256` (a pin) or `public_key` (a minisign key): an unverified \
                 remote policy is never used"
                    .into(),
            );
            return;
        }
        if cfg.feed_url.is_some() && cfg.public_key.is_none() && cfg.feed_sha256.is_none() {
            self.error(
                &k.span(),
                "fleet.feed_url".into(),
                "`feed_url` needs `public_key` (the feed is then signed at feed_url + \".minisig\") or \
                 `feed_sha256` (a pin of the feed file): an unverified feed is never used"
                    .into(),
            );
            return;
        }
        if cfg.signature_url.is_empty() {
            cfg.signature_url = format!("{}.minisig", cfg.policy_url);
        }
        raw.fleet = Some(Located {
            value: cfg,
            origin: self.origin(&k.span()),
        });
    }
}

/// A sha256 written as 64 hexadecimal digits (any case), lowercased.
fn sha256_hex(text: &str, whose: &str) -> Result<String, String> {
    let t = text.trim().to_ascii_lowercase();
    if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(t)
    } else {
        Err(format!("expected 64 hexadecimal digits ({whose} sha256)"))
    }
}

/// A fleet URL: https, or http to a loopback address only.
fn fleet_url(text: &str) -> Result<String, String> {
    let u = url::Url::parse(text.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err("must not contain credentials".into());
    }
    let loopback = match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match u.scheme() {
        "https" => Ok(u.to_string()),
        "http" if loopback => Ok(u.to_string()),
        _ => Err("must be an https URL (plain http only to a loopback address)".into()),
    }
}

impl Located<&str> {
    fn map_opt<U>(self, f: impl FnOnce(&str) -> Option<U>) -> Option<Located<U>> {
        f(self.value).map(|value| Located {
            value,
            origin: self.origin,
        })
    }
}

/// Checks one `[registries]` entry: `"builtin"` or an absolute http(s) URL
/// without credentials, query or fragment. The error is a message for the user.
pub fn validate_registry_entry(s: &str) -> Result<(), String> {
    if s == BUILTIN {
        return Ok(());
    }
    if s.trim() != s {
        return Err(format!("{}: remove the surrounding whitespace", quoted(s)));
    }
    if s.eq_ignore_ascii_case(BUILTIN) {
        return Err(format!("{}: write \"builtin\" in lowercase", quoted(s)));
    }
    let url = url::Url::parse(s).map_err(|e| {
        format!(
            "{} is not an absolute URL ({e}); expected \"builtin\" or an http(s) URL",
            quoted(s)
        )
    })?;
    // `file://host/share/`: a network share (UNC path) a Windows tool can
    // read packages from (NuGet and choco feeds); it needs a host (below).
    if url.scheme() != "http" && url.scheme() != "https" && url.scheme() != "file" {
        return Err(format!(
            "{}: unsupported scheme `{}`; expected \"builtin\", an http(s) URL or a \
             network share as file://host/share/",
            quoted(s),
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{}: an approved registry URL must not contain credentials (user:password@); \
             keep them in the tool's own configuration",
            redact_userinfo(s)
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{}: the URL has no host", quoted(s)));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{}: an approved registry URL is a prefix and cannot have a query (?…) or fragment (#…)",
            quoted(s)
        ));
    }
    Ok(())
}

/// Replaces the userinfo of a URL-ish string so a password is never echoed.
fn redact_userinfo(s: &str) -> String {
    let Some(scheme_end) = s.find("://") else {
        return quoted(s);
    };
    let rest = &s[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => quoted(&format!("{}://***@{}", &s[..scheme_end], &rest[at + 1..])),
        None => quoted(s),
    }
}

/// A `scripts.allow` entry: `ECOSYSTEM:NAME[@RANGE]`, e.g. `npm:esbuild`,
/// `pypi:numpy`, `npm:@scope/pkg@^1.2`, or `ECOSYSTEM:NAME@local` for the
/// project's own code of that name. A leading `@` belongs to the name (npm
/// scopes); the version range is whatever follows the next `@`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllowEntry<'a> {
    pub ecosystem: Ecosystem,
    pub name: &'a str,
    pub range: Option<&'a str>,
    /// `ECO:NAME@local`: approves the project's own local code of that
    /// name (the root project, a workspace, a `file:`/path dependency),
    /// and nothing fetched; an entry without it approves only what is
    /// fetched (a registry, git, a remote tarball), never local code.
    pub local: bool,
}

impl<'a> AllowEntry<'a> {
    /// Parses an entry; the error is a message for the user.
    pub fn parse(s: &'a str) -> Result<AllowEntry<'a>, String> {
        let shape = "expected ECOSYSTEM:NAME, ECOSYSTEM:NAME@RANGE or ECOSYSTEM:NAME@local, \
                     e.g. \"npm:esbuild\"";
        let Some((eco, rest)) = s.split_once(':') else {
            return Err(format!("{}: {shape}", quoted(s)));
        };
        let Some(ecosystem) = Ecosystem::from_key(eco) else {
            let keys = Ecosystem::ALL.map(Ecosystem::key);
            let mut message = format!("{}: unknown ecosystem `{eco}`", quoted(s));
            if let Some(hint) = suggest(eco, &keys) {
                message.push_str(&format!(" (did you mean `{hint}`?)"));
            }
            message.push_str(&format!("; expected one of: {}", keys.join(", ")));
            return Err(message);
        };
        // A scoped npm name starts with '@'; the range starts at the next '@'.
        let search_from = usize::from(rest.starts_with('@'));
        let (name, range) = match rest[search_from..].find('@') {
            Some(i) => (&rest[..search_from + i], Some(&rest[search_from + i + 1..])),
            None => (rest, None),
        };
        let bare = &name[search_from..];
        if bare.is_empty() {
            return Err(format!("{}: the package name is empty; {shape}", quoted(s)));
        }
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "{}: the package name must not contain whitespace",
                quoted(s)
            ));
        }
        // `@local` is a qualifier, not a range (the project's own code).
        let local = range == Some(LOCAL);
        let range = range.filter(|_| !local);
        if let Some(r) = range {
            if r.is_empty() {
                return Err(format!(
                    "{}: the version range after `@` is empty; {shape}",
                    quoted(s)
                ));
            }
            if r.trim() != r || r.chars().any(char::is_control) {
                return Err(format!(
                    "{}: the version range must not start or end with whitespace or contain control characters",
                    quoted(s)
                ));
            }
            if let Some(why) = super::ranges::range_error(ecosystem, r) {
                return Err(format!("{}: {why}", quoted(s)));
            }
        }
        Ok(AllowEntry {
            ecosystem,
            name,
            range,
            local,
        })
    }
}

/// The reserved qualifier of a `scripts.allow` entry that approves the
/// project's own local code (`npm:myapp@local`).
pub const LOCAL: &str = "local";

/// Byte offsets → 1-based (line, column in characters).
pub(crate) struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut starts = Vec::with_capacity(text.len() / 32 + 1);
        starts.push(0);
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Lines { text, starts }
    }

    pub(crate) fn pos(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let col = self.text[start..offset].chars().count() + 1;
        (line, col)
    }
}

/// A dotted key path, quoting the parts that are not bare keys.
pub(crate) fn dotted(parts: &[&str]) -> String {
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        let bare = !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if bare {
            out.push_str(p);
        } else {
            out.push_str(&quoted(p));
        }
    }
    out
}

/// A string in double quotes, escaped like a TOML basic string.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn one_of(allowed: &[&str]) -> String {
    let quoted: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

/// The closest candidate within a small edit distance, for "did you mean".
fn suggest<'c>(input: &str, candidates: &[&'c str]) -> Option<&'c str> {
    if input.chars().count() > 64 {
        return None;
    }
    candidates
        .iter()
        .map(|c| (edit_distance(input, c), *c))
        .filter(|&(d, c)| d > 0 && d <= (c.len() / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Optimal-string-alignment distance: edits plus adjacent transpositions.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 0..a.len() {
        cur[0] = i + 1;
        for j in 0..b.len() {
            let mut d = (prev[j] + usize::from(a[i] != b[j]))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                d = d.min(before[j - 1] + 1);
            }
            cur[j + 1] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}
