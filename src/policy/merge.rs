//! Layering: valid [`RawLayer`]s, least specific first → the effective
//! [`Policy`], with the system layer's locks applied and refusals recorded.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::parse::{quoted, RawLayer};
use super::{
    Layer, Mode, Origin, Policy, Refused, ScriptsDefault, ScriptsExec, Sourced, BUILTIN, LOCKABLE,
};
use crate::tools::Ecosystem;

/// Whether the approved registry entry `approved` covers `candidate`:
/// `"builtin"` covers only `"builtin"`; a URL covers a URL with the same
/// scheme, host and port whose path equals its path or extends it on a
/// path-segment boundary (`https://h/team` and `https://h/team/` both cover
/// `https://h/team/pkg`, neither covers `https://h/teamx`). The candidate's
/// credentials, query and fragment are ignored; an approved entry carrying
/// any of them covers nothing but itself.
pub fn registry_covers(approved: &str, candidate: &str) -> bool {
    if approved == BUILTIN || candidate == BUILTIN {
        return approved == candidate;
    }
    if approved == candidate {
        return true;
    }
    // The same hardened comparison the registry checks use.
    crate::decide::urls::matches(approved, candidate)
}

/// The system layer's values, against which lower layers of a locked key are
/// measured.
struct Floor {
    mode: Mode,
    registries: BTreeMap<Ecosystem, Vec<String>>,
    scripts_default: ScriptsDefault,
    scripts_exec: ScriptsExec,
    audit_log: Option<PathBuf>,
    audit_max_size: Option<u64>,
    audit_keep: Option<u32>,
    audit_provenance: bool,
    release_age: BTreeMap<Option<Ecosystem>, std::time::Duration>,
}

struct Merger {
    policy: Policy,
    floor: Option<Floor>,
}

/// Merges valid layers. `system_failed`: a system layer exists but could not
/// be used, so every lockable key is locked at its built-in default.
pub(crate) fn merge(layers: &[RawLayer], system_failed: bool) -> Policy {
    let mut order: Vec<&RawLayer> = layers.iter().collect();
    order.sort_by_key(|l| l.layer); // stable: keeps the given order within a layer
    let mut m = Merger {
        policy: Policy::default(),
        floor: None,
    };
    let (system, lower): (Vec<&RawLayer>, Vec<&RawLayer>) =
        order.into_iter().partition(|l| l.layer == Layer::System);

    for raw in &system {
        m.apply(raw);
    }
    if system_failed {
        for key in LOCKABLE {
            if !m.policy.is_locked(key) {
                m.policy.locked.push(Sourced::builtin(key.to_string()));
            }
        }
    } else {
        for raw in &system {
            for l in &raw.lock {
                if !m.policy.is_locked(l.value) {
                    m.policy
                        .locked
                        .push(Sourced::at(l.value.to_string(), l.origin.clone()));
                }
            }
        }
    }
    m.floor = Some(Floor {
        mode: m.policy.mode.value,
        registries: m
            .policy
            .registries
            .iter()
            .map(|(e, s)| (*e, s.value.clone()))
            .collect(),
        scripts_default: m.policy.scripts_default.value,
        scripts_exec: m.policy.scripts_exec.value,
        audit_log: m.policy.audit_log.as_ref().map(|a| a.value.clone()),
        audit_max_size: m.policy.audit_max_size.as_ref().map(|a| a.value),
        audit_keep: m.policy.audit_keep.as_ref().map(|a| a.value),
        audit_provenance: m.policy.audit_provenance.value,
        release_age: m
            .policy
            .min_release_age
            .iter()
            .map(|(e, s)| (*e, s.value))
            .collect(),
    });
    for raw in &lower {
        m.apply(raw);
    }
    m.check_mirrors();
    m.policy
}

impl Merger {
    /// `Some(" by the system policy (file:line:col)")` if `key` is locked.
    fn lock(&self, key: &str) -> Option<String> {
        self.floor.as_ref()?;
        let l = self.policy.locked.iter().find(|l| l.value == key)?;
        Some(match &l.origin {
            Some(o) => format!(" by the system policy ({o})"),
            None => " because the system policy is invalid or unreadable".to_string(),
        })
    }

    fn refuse(&mut self, key: String, origin: &Origin, reason: String) {
        self.policy.refused.push(Refused {
            key,
            origin: origin.clone(),
            reason,
        });
    }

    /// A mirror redirects every fetch of its ecosystem, so it must itself be
    /// an approved registry: otherwise it is refused (whichever layer set it).
    fn check_mirrors(&mut self) {
        let mirrors = std::mem::take(&mut self.policy.mirrors);
        for (eco, m) in mirrors {
            let approved = self.policy.registries_for(eco);
            if approved.iter().any(|a| registry_covers(a, &m.value)) {
                self.policy.mirrors.insert(eco, m);
            } else if let Some(origin) = &m.origin {
                let reason = format!(
                    "the mirror {} is not among the approved {eco} registries ([{}]): a mirror must be an approved registry",
                    quoted(&m.value),
                    approved.iter().map(|a| quoted(a)).collect::<Vec<_>>().join(", ")
                );
                self.refuse(format!("mirrors.{eco}"), origin, reason);
            }
        }
    }

    fn apply(&mut self, raw: &RawLayer) {
        let layer = raw.layer;
        if let Some(m) = &raw.mode {
            match (self.lock("mode"), &self.floor) {
                (Some(by), Some(floor)) if m.value < floor.mode => {
                    let reason = format!(
                        "`mode` is locked{by} at \"{}\": the {layer} layer may raise it but not lower it to \"{}\"",
                        floor.mode, m.value
                    );
                    self.refuse("mode".into(), &m.origin, reason);
                }
                _ => self.policy.mode = Sourced::at(m.value, m.origin.clone()),
            }
        }

        for reg in &raw.registries {
            let key = format!("registries.{}", reg.eco);
            let (Some(by), Some(floor)) = (self.lock("registries"), &self.floor) else {
                let list = reg.entries.iter().map(|e| e.value.clone()).collect();
                self.policy
                    .registries
                    .insert(reg.eco, Sourced::at(list, reg.origin.clone()));
                continue;
            };
            let approved: Vec<String> = floor
                .registries
                .get(&reg.eco)
                .cloned()
                .unwrap_or_else(|| vec![BUILTIN.to_string()]);
            let mut kept = Vec::with_capacity(reg.entries.len());
            let mut refused = Vec::new();
            for e in &reg.entries {
                if approved.iter().any(|a| registry_covers(a, &e.value)) {
                    kept.push(e.value.clone());
                } else {
                    refused.push(e);
                }
            }
            let approved_list = approved
                .iter()
                .map(|a| quoted(a))
                .collect::<Vec<_>>()
                .join(", ");
            for e in &refused {
                let reason = format!(
                    "{} is not covered by the registries the system policy approves for {} ([{approved_list}]); \
                     `registries` is locked{by}: the {layer} layer may narrow them but not add any",
                    quoted(&e.value),
                    reg.eco
                );
                self.refuse(key.clone(), &e.origin, reason);
            }
            // Every entry refused: the setting is dropped as a whole (the
            // previous value stays) rather than becoming "approve nothing".
            if refused.is_empty() || !kept.is_empty() {
                self.policy
                    .registries
                    .insert(reg.eco, Sourced::at(kept, reg.origin.clone()));
            }
        }

        for (eco, age) in &raw.min_release_age {
            let floor = self
                .floor
                .as_ref()
                .and_then(|f| f.release_age.get(eco).or_else(|| f.release_age.get(&None)))
                .copied()
                .unwrap_or_default();
            match self.lock("registries") {
                Some(by) if age.value < floor => {
                    let which = eco.map_or("min_release_age".to_string(), |e| {
                        format!("min_release_age.{}", e.key())
                    });
                    let reason = format!(
                        "`registries` is locked{by}: the {layer} layer may lengthen the release-age cooldown \
                         but not shorten it below {}s",
                        floor.as_secs()
                    );
                    self.refuse(format!("registries.{which}"), &age.origin, reason);
                }
                _ => {
                    self.policy
                        .min_release_age
                        .insert(*eco, Sourced::at(age.value, age.origin.clone()));
                }
            }
        }

        for (eco, m) in &raw.mirrors {
            self.policy
                .mirrors
                .insert(*eco, Sourced::at(m.value.clone(), m.origin.clone()));
        }

        if let Some(s) = &raw.scripts_default {
            match (self.lock("scripts.default"), &self.floor) {
                (Some(by), Some(floor)) if s.value < floor.scripts_default => {
                    let reason = format!(
                        "`scripts.default` is locked{by} at \"{}\": the {layer} layer may make it stricter \
                         (allow < sandbox < deny) but not loosen it to \"{}\"",
                        floor.scripts_default, s.value
                    );
                    self.refuse("scripts.default".into(), &s.origin, reason);
                }
                _ => self.policy.scripts_default = Sourced::at(s.value, s.origin.clone()),
            }
        }

        if let Some(s) = &raw.scripts_exec {
            match (self.lock("scripts.exec"), &self.floor) {
                (Some(by), Some(floor)) if s.value < floor.scripts_exec => {
                    let reason = format!(
                        "`scripts.exec` is locked{by} at \"{}\": the {layer} layer may make it stricter \
                         (allow < deny) but not loosen it to \"{}\"",
                        floor.scripts_exec, s.value
                    );
                    self.refuse("scripts.exec".into(), &s.origin, reason);
                }
                _ => self.policy.scripts_exec = Sourced::at(s.value, s.origin.clone()),
            }
        }
        if let Some(p) = &raw.project_approvals {
            // Parsing accepts the key only in the system layer.
            self.policy.project_approvals = Sourced::at(p.value, p.origin.clone());
        }

        let project_refused = (layer == Layer::Project && !self.policy.project_approvals.value)
            .then(|| match &self.policy.project_approvals.origin {
                Some(o) => format!(" ({o})"),
                None => String::new(),
            });
        match self.lock("scripts.allow") {
            _ if project_refused.is_some() => {
                let at = project_refused.unwrap_or_default();
                for a in &raw.scripts_allow {
                    let reason = format!(
                        "approval {} refused: the system policy sets `scripts.project_approvals = false`{at}; \
                         a project's pkgward.toml cannot approve install-time code",
                        quoted(&a.value)
                    );
                    self.refuse("scripts.allow".into(), &a.origin, reason);
                }
            }
            Some(by) => {
                for a in &raw.scripts_allow {
                    let reason = format!(
                        "approval {} refused: `scripts.allow` is locked{by}; only the system policy can approve install-time code",
                        quoted(&a.value)
                    );
                    self.refuse("scripts.allow".into(), &a.origin, reason);
                }
            }
            None => self.policy.scripts_allow.extend(
                raw.scripts_allow
                    .iter()
                    .map(|a| Sourced::at(a.value.clone(), a.origin.clone())),
            ),
        }

        // Feeds only add denials, so every layer may name one.
        for f in &raw.threat_feeds {
            if !self.policy.threat_feeds.iter().any(|g| g.value == f.value) {
                self.policy
                    .threat_feeds
                    .push(Sourced::at(f.value.clone(), f.origin.clone()));
            }
        }

        match self.lock("network") {
            Some(by) => {
                for a in &raw.network_allow {
                    let reason = format!(
                        "`network.allow` entry {} refused: `network` is locked{by}; only the system policy can allow destinations",
                        quoted(&a.value)
                    );
                    self.refuse("network.allow".into(), &a.origin, reason);
                }
            }
            None => self.policy.network_allow.extend(
                raw.network_allow
                    .iter()
                    .map(|a| Sourced::at(a.value.clone(), a.origin.clone())),
            ),
        }

        if let Some(a) = &raw.audit_log {
            if layer == Layer::Project {
                self.refuse(
                    "audit.log".into(),
                    &a.origin,
                    "a project's pkgward.toml cannot set `audit.log`: a repository must not be able to \
                     redirect the audit record; set it in the user, system or PKGWARD_POLICY layer"
                        .into(),
                );
            } else {
                match (self.lock("audit"), &self.floor) {
                    (Some(by), Some(floor)) if floor.audit_log.as_ref() != Some(&a.value) => {
                        let current = match &floor.audit_log {
                            Some(p) => format!("{}", p.display()),
                            None => "the default".to_string(),
                        };
                        let reason = format!(
                            "`audit` is locked{by}: the {layer} layer cannot change the audit log ({current})"
                        );
                        self.refuse("audit.log".into(), &a.origin, reason);
                    }
                    _ => {
                        self.policy.audit_log = Some(Sourced::at(a.value.clone(), a.origin.clone()))
                    }
                }
            }
        }
        self.audit_rest(raw);
        self.sandbox(raw);
    }
}

impl Merger {
    /// `[sandbox]`: tightening (`require = true`, `confine_approved =
    /// true`, more `deny_read` / `scrub_env`) from any layer; loosening
    /// never from a project file, and not from lower layers when the system
    /// layer locks `sandbox`.
    fn sandbox(&mut self, raw: &RawLayer) {
        let layer = raw.layer;
        let barred = |m: &Merger| -> Option<String> {
            if layer == Layer::Project {
                return Some(
                    ": a project's pkgward.toml may tighten the sandbox, never loosen it".into(),
                );
            }
            m.lock("sandbox")
                .map(|by| format!(": `sandbox` is locked{by}; lower layers may only tighten it"))
        };
        for (key, value, current) in [
            (
                "sandbox.require",
                &raw.sandbox_require,
                self.policy.sandbox.require.value,
            ),
            (
                "sandbox.confine_approved",
                &raw.sandbox_confine_approved,
                self.policy.sandbox.confine_approved.value,
            ),
        ] {
            let Some(v) = value else { continue };
            if !v.value && current {
                if let Some(why) = barred(self) {
                    let reason = format!("`{key} = false` refused{why}");
                    self.refuse(key.into(), &v.origin, reason);
                    continue;
                }
            }
            let s = Sourced::at(v.value, v.origin.clone());
            if key == "sandbox.require" {
                self.policy.sandbox.require = s;
            } else {
                self.policy.sandbox.confine_approved = s;
            }
        }
        for d in &raw.sandbox_deny_read {
            self.policy
                .sandbox
                .deny_read
                .push(Sourced::at(d.value.clone(), d.origin.clone()));
        }
        for d in &raw.sandbox_scrub_env {
            self.policy
                .sandbox
                .scrub_env
                .push(Sourced::at(d.value.clone(), d.origin.clone()));
        }
        for d in &raw.sandbox_allow_write {
            if let Some(why) = barred(self) {
                let reason = format!(
                    "`sandbox.allow_write` entry {} refused{why}",
                    quoted(&d.value)
                );
                self.refuse("sandbox.allow_write".into(), &d.origin, reason);
                continue;
            }
            self.policy
                .sandbox
                .allow_write
                .push(Sourced::at(d.value.clone(), d.origin.clone()));
        }
    }
}

impl Merger {
    /// `[audit] max_size`, `keep` and `sinks`: never from a project file;
    /// under a lock on `audit`, not from any lower layer (for the size and
    /// count: unless equal to the system's value).
    fn audit_rest(&mut self, raw: &RawLayer) {
        let layer = raw.layer;
        let project = |key: &str| {
            format!(
                "a project's pkgward.toml cannot set `{key}`: a repository must not be able to shrink, \
                 redirect or ship elsewhere the audit record; set it in the user, system or PKGWARD_POLICY layer"
            )
        };
        if let Some(m) = &raw.audit_max_size {
            let floor = self.floor.as_ref().and_then(|f| f.audit_max_size);
            if layer == Layer::Project {
                self.refuse(
                    "audit.max_size".into(),
                    &m.origin,
                    project("audit.max_size"),
                );
            } else if let (Some(by), true) = (self.lock("audit"), floor != Some(m.value)) {
                let reason = format!(
                    "`audit` is locked{by}: the {layer} layer cannot change the log's rotation"
                );
                self.refuse("audit.max_size".into(), &m.origin, reason);
            } else {
                self.policy.audit_max_size = Some(Sourced::at(m.value, m.origin.clone()));
            }
        }
        if let Some(k) = &raw.audit_keep {
            let floor = self.floor.as_ref().and_then(|f| f.audit_keep);
            if layer == Layer::Project {
                self.refuse("audit.keep".into(), &k.origin, project("audit.keep"));
            } else if let (Some(by), true) = (self.lock("audit"), floor != Some(k.value)) {
                let reason = format!(
                    "`audit` is locked{by}: the {layer} layer cannot change the log's rotation"
                );
                self.refuse("audit.keep".into(), &k.origin, reason);
            } else {
                self.policy.audit_keep = Some(Sourced::at(k.value, k.origin.clone()));
            }
        }
        if let Some(p) = &raw.audit_provenance {
            let floor = self.floor.as_ref().map(|f| f.audit_provenance);
            if layer == Layer::Project {
                self.refuse(
                    "audit.provenance".into(),
                    &p.origin,
                    project("audit.provenance"),
                );
            } else if let (Some(by), true) = (self.lock("audit"), floor != Some(p.value)) {
                let reason = format!(
                    "`audit` is locked{by}: the {layer} layer cannot change what is recorded"
                );
                self.refuse("audit.provenance".into(), &p.origin, reason);
            } else {
                self.policy.audit_provenance = Sourced::at(p.value, p.origin.clone());
            }
        }
        if let Some(t) = &raw.supervise_tracer {
            let current = self.policy.supervise_tracer.value;
            if layer == Layer::Project {
                self.refuse(
                    "supervise.tracer".into(),
                    &t.origin,
                    "a project's pkgward.toml cannot choose how install-time code is traced; \
                     set it in the user, system or PKGWARD_POLICY layer"
                        .into(),
                );
            } else if let (Some(by), true) = (self.lock("supervise"), t.value != current) {
                let reason = format!(
                    "`supervise` is locked{by}: the {layer} layer cannot change the tracer"
                );
                self.refuse("supervise.tracer".into(), &t.origin, reason);
            } else if t.value == super::Tracer::ProxyOnly && layer != Layer::System {
                self.refuse(
                    "supervise.tracer".into(),
                    &t.origin,
                    format!(
                        "the {layer} layer cannot turn the process tracer off (`proxy-only`): only the \
                         system policy can"
                    ),
                );
            } else {
                self.policy.supervise_tracer = Sourced::at(t.value, t.origin.clone());
            }
        }
        for s in &raw.sinks {
            if layer == Layer::Project {
                let reason = format!(
                    "sink `{}` refused: {}",
                    s.value.name,
                    project("audit.sinks")
                );
                self.refuse("audit.sinks".into(), &s.origin, reason);
                continue;
            }
            if let Some(by) = self.lock("audit") {
                let reason = format!(
                    "sink `{}` refused: `audit` is locked{by}; only the system policy names the sinks",
                    s.value.name
                );
                self.refuse("audit.sinks".into(), &s.origin, reason);
                continue;
            }
            let entry = Sourced::at(s.value.clone(), s.origin.clone());
            match self
                .policy
                .sinks
                .iter_mut()
                .find(|x| x.value.name == s.value.name)
            {
                Some(x) => *x = entry,
                None => self.policy.sinks.push(entry),
            }
        }
    }
}
