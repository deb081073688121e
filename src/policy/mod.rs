//! Policy: TOML layers (system → user → project → `PKGWARD_POLICY`), parsed
//! with spans and validated into a trusted [`Policy`] the rest of pkgward uses.
//!
//! # The file
//!
//! ```toml
//! mode = "enforce"                  # enforce | audit | off
//! lock = ["mode", "registries"]     # system layer only
//! [registries]                      # approved URL prefixes per ecosystem
//! npm = ["http://127.0.0.1:4873/"]  # "builtin" = the tool's own default
//! pypi = ["builtin"]
//! [scripts]
//! default = "deny"                  # deny | sandbox | allow
//! allow = ["npm:esbuild", "pypi:numpy", "npm:@scope/pkg@^1.2",
//!          "npm:myapp@local"]       # @local: the project's own code named myapp
//! exec = "deny"                     # npx/uvx/pipx run/dlx of unapproved packages: deny | allow
//! project_approvals = true          # system layer only: may pkgward.toml approve?
//! [audit]
//! log = "/path/to/audit.jsonl"      # default: <state dir>/pkgward/audit.jsonl
//! max_size = "64MiB"                # rotate past this size; keep = 9 rotated files
//! [[audit.sinks]]                   # ship every record (syslog or http), see crate::sinks
//! type = "syslog"
//! url = "tcp://127.0.0.1:514"
//! [network]
//! allow = ["files.example.com", "*.cdn.example.com:8443"]  # egress besides the registries
//! [sandbox]                         # confinement of install-time code
//! require = false                   # true: refuse to run it when a layer is missing
//! confine_approved = true           # approved code is confined too
//! deny_read = ["~/.config/secret"]  # credential paths besides the built-in list
//! scrub_env = ["MY_*_KEY"]          # variables removed besides the built-in list
//! allow_write = ["/srv/cache"]      # writable besides project, caches, temp (not in a project file)
//! ```
//!
//! Unknown keys, wrong types and invalid values are [`PolicyError`]s that name
//! the file, the 1-based line and column of the offending key or value, and
//! the dotted key. A relative `audit.log` is resolved against the directory of
//! the file that sets it.
//!
//! # Layers
//!
//! [`discover()`](fn@discover) finds up to four layers, least specific first:
//!
//! 1. [`Layer::System`]: `/etc/pkgward/policy.toml` (Unix) or
//!    `%ProgramData%\pkgward\policy.toml` (Windows). `PKGWARD_SYSTEM_POLICY`
//!    names a replacement **only when the real system file does not exist**,
//!    so a deployed security-team policy cannot be swapped out from the
//!    environment (the variable exists for tests and unmanaged machines).
//! 2. [`Layer::User`]: `<config dir>/pkgward/policy.toml`.
//! 3. [`Layer::Project`]: the nearest `pkgward.toml` in the working directory
//!    or one of its parents.
//! 4. [`Layer::Env`]: the file named by `PKGWARD_POLICY`; unlike the others,
//!    naming a file that does not exist is an error.
//!
//! # Merging and locks
//!
//! Without locks a later layer overrides an earlier one key by key
//! (`registries` per ecosystem; `scripts.allow` and `network.allow` lists are
//! concatenated). The
//! system layer may `lock` keys; a locked key can then only be tightened by
//! the lower layers, measured against the system layer's value:
//!
//! * `mode`: may be raised (off < audit < enforce), never lowered;
//! * `registries`: an entry is kept only when an entry the system layer
//!   approves for that ecosystem covers it (equal, or a prefix ending on a
//!   path-segment boundary; the system default is `["builtin"]`);
//! * `scripts.default`: may only become stricter (allow < sandbox < deny);
//! * `scripts.allow`: lower layers cannot add approvals;
//! * `scripts.exec`: may only become stricter (allow < deny);
//! * `audit`: lower layers cannot change `audit.log`, `max_size`, `keep`
//!   or the sinks;
//! * `network`: lower layers cannot add `network.allow` entries;
//! * `sandbox`: lower layers may set `require = true` and add `deny_read`
//!   and `scrub_env` entries, nothing else (a project file never loosens
//!   the sandbox, locked or not).
//!
//! `scripts.project_approvals = false` (a system-layer-only key) refuses
//! the approvals of the project layer alone, so a cloned repository cannot
//! approve its own dependencies' install-time code while the user's own
//! approvals still count.
//!
//! A project file can never set any `[audit]` key (`log`, `max_size`,
//! `keep`, `sinks`), locked or not: a cloned repository must not be able to
//! redirect, shrink or ship elsewhere the record of what it runs. What a lock or
//! that rule refuses is not an error: it is left out of the effective policy
//! and listed in [`Policy::refused`].
//!
//! If the system layer exists but is unreadable or invalid, pkgward fails
//! closed: every lockable key is treated as locked at its built-in default
//! (the error is reported in [`Loaded::errors`] as well).

mod baseline;
mod discover;
mod load;
mod merge;
mod parse;
pub mod ranges;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::tools::Ecosystem;

pub use baseline::baseline_policy_text;
pub use discover::{discover, system_policy_path, Discovery, DiscoveryContext};
pub use load::{check_file, check_remote, check_str, load, load_in, Loaded};
pub use merge::registry_covers;
pub use parse::{validate_registry_entry, AllowEntry, LOCAL};

/// The keys the system layer may `lock`.
pub const LOCKABLE: [&str; 9] = [
    "mode",
    "registries",
    "scripts.default",
    "scripts.allow",
    "scripts.exec",
    "audit",
    "network",
    "sandbox",
    "supervise",
];

/// The registry entry that stands for the tool's own default registry.
pub const BUILTIN: &str = "builtin";

/// The project layer's file name, looked for in the working directory and its parents.
pub const PROJECT_FILE: &str = "pkgward.toml";

/// Names the env layer's policy file.
pub const POLICY_ENV: &str = "PKGWARD_POLICY";

/// Names a system policy to use when the real system file does not exist.
pub const SYSTEM_POLICY_ENV: &str = "PKGWARD_SYSTEM_POLICY";

/// The digest of a policy built from no layer: sha256 of the empty sequence.
pub const EMPTY_DIGEST: &str =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Off,
    Audit,
    Enforce,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Enforce, Mode::Audit, Mode::Off];

    /// The name used in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Audit => "audit",
            Mode::Enforce => "enforce",
        }
    }

    pub fn from_name(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[supervise] tracer`: how the real tool's process tree is traced on
/// Linux. `auto`: seccomp user notification, else ptrace; `seccomp` /
/// `ptrace`: only that one; `proxy-only`: no tracer, the egress proxy alone
/// (system layer only: a lower layer cannot weaken tracing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tracer {
    Auto,
    Seccomp,
    Ptrace,
    ProxyOnly,
}

impl Tracer {
    pub const ALL: [Tracer; 4] = [
        Tracer::Auto,
        Tracer::Seccomp,
        Tracer::Ptrace,
        Tracer::ProxyOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tracer::Auto => "auto",
            Tracer::Seccomp => "seccomp",
            Tracer::Ptrace => "ptrace",
            Tracer::ProxyOnly => "proxy-only",
        }
    }

    pub fn from_name(name: &str) -> Option<Tracer> {
        Tracer::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// What happens to `npx`/`uvx`/`pipx run`/`yarn dlx`/… that fetch a package
/// and execute it, when `scripts.allow` does not approve the package.
/// Ordered by strictness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScriptsExec {
    Allow,
    Deny,
}

impl ScriptsExec {
    pub const ALL: [ScriptsExec; 2] = [ScriptsExec::Deny, ScriptsExec::Allow];

    /// The name used in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptsExec::Allow => "allow",
            ScriptsExec::Deny => "deny",
        }
    }

    pub fn from_name(name: &str) -> Option<ScriptsExec> {
        ScriptsExec::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl fmt::Display for ScriptsExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to install-time code (lifecycle scripts, build scripts) of a
/// package that `scripts.allow` does not approve. Ordered by strictness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScriptsDefault {
    Allow,
    Sandbox,
    Deny,
}

impl ScriptsDefault {
    pub const ALL: [ScriptsDefault; 3] = [
        ScriptsDefault::Deny,
        ScriptsDefault::Sandbox,
        ScriptsDefault::Allow,
    ];

    /// The name used in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptsDefault::Allow => "allow",
            ScriptsDefault::Sandbox => "sandbox",
            ScriptsDefault::Deny => "deny",
        }
    }

    pub fn from_name(name: &str) -> Option<ScriptsDefault> {
        ScriptsDefault::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl fmt::Display for ScriptsDefault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    System,
    User,
    Project,
    Env,
}

impl Layer {
    pub const ALL: [Layer; 4] = [Layer::System, Layer::User, Layer::Project, Layer::Env];

    pub fn as_str(self) -> &'static str {
        match self {
            Layer::System => "system",
            Layer::User => "user",
            Layer::Project => "project",
            Layer::Env => "env",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Origin {
    pub path: PathBuf,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.col)
    }
}

/// An effective value and where it was set (`origin: None`: built-in default).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Sourced<T> {
    pub value: T,
    pub origin: Option<Origin>,
}

impl<T> Sourced<T> {
    /// A built-in default.
    pub fn builtin(value: T) -> Self {
        Sourced {
            value,
            origin: None,
        }
    }

    pub fn at(value: T, origin: Origin) -> Self {
        Sourced {
            value,
            origin: Some(origin),
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerSource {
    pub layer: Layer,
    pub path: PathBuf,
    pub sha256: String,
}

/// A setting a lower layer made that a lock (or the project rule for
/// `audit.log`) refused: left out of the effective policy.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Refused {
    /// The dotted key, e.g. `mode`, `registries.npm`, `scripts.allow`, `audit.log`.
    pub key: String,
    /// Where the refused value was set.
    pub origin: Origin,
    pub reason: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Policy {
    pub mode: Sourced<Mode>,
    /// Ecosystems some layer set; absent ones are `["builtin"]`
    /// (see [`Policy::registries_for`]).
    pub registries: BTreeMap<Ecosystem, Sourced<Vec<String>>>,
    /// `[mirrors]`: per ecosystem, the approved registry pkgward forces the
    /// tool to use (through its environment or arguments). A mirror that the
    /// effective registries do not approve is refused.
    pub mirrors: BTreeMap<Ecosystem, Sourced<String>>,
    pub scripts_default: Sourced<ScriptsDefault>,
    pub scripts_allow: Vec<Sourced<String>>,
    /// `scripts.exec`: fetch-and-execute of a package `scripts.allow` does
    /// not approve.
    pub scripts_exec: Sourced<ScriptsExec>,
    /// `scripts.project_approvals` (system layer only): whether a project's
    /// `pkgward.toml` may approve install-time code.
    pub project_approvals: Sourced<bool>,
    /// `None`: the caller's default (`<state dir>/pkgward/audit.jsonl`).
    pub audit_log: Option<Sourced<PathBuf>>,
    /// `[audit] max_size`: the log is rotated past this many bytes
    /// (`None`: 64 MiB).
    pub audit_max_size: Option<Sourced<u64>>,
    /// `[audit] keep`: rotated files kept (`None`: 9).
    pub audit_keep: Option<Sourced<u32>>,
    /// `[audit] provenance`: record the packages, artifacts and bin files an
    /// install changes (default true).
    pub audit_provenance: Sourced<bool>,
    /// `[[audit.sinks]]`: collectors the records are shipped to (by name: a
    /// later layer's sink of the same name replaces an earlier one).
    pub sinks: Vec<Sourced<crate::sinks::SinkConfig>>,
    /// `[threats] feeds` of every layer (a layer adds feeds, never removes one).
    pub threat_feeds: Vec<Sourced<PathBuf>>,
    /// `[registries] min_release_age`: the default (`None` key) and
    /// per-ecosystem cooldowns.
    #[serde(serialize_with = "ser_release_age")]
    pub min_release_age: BTreeMap<Option<Ecosystem>, Sourced<std::time::Duration>>,
    /// The remote policy the system layer names, and how its copy stands.
    pub fleet: Option<FleetState>,
    /// `[network] allow`: destinations (`host`, `host:port`, `*.domain`)
    /// the egress proxy lets through besides the approved registries.
    pub network_allow: Vec<Sourced<String>>,
    /// `[sandbox]`: how install-time code is confined.
    pub sandbox: SandboxPolicy,
    /// `[supervise] tracer`.
    pub supervise_tracer: Sourced<Tracer>,
    /// The keys the system layer locked (origin `None`: locked because the
    /// system layer is invalid, see the module docs).
    pub locked: Vec<Sourced<String>>,
    /// The layers that were read, in merge order (an invalid one included).
    pub sources: Vec<LayerSource>,
    /// `sha256:<hex>` over (layer, path, bytes) of every layer read.
    pub digest: String,
    pub refused: Vec<Refused>,
}

/// `[sandbox]`: the confinement of install-time code
/// (`crate::supervise::sandbox`). Every layer may tighten it (`require =
/// true`, more `deny_read` and `scrub_env` entries); loosening (`require =
/// false` over `true`, `confine_approved = false`, `allow_write`) is refused
/// from a project's `pkgward.toml` and, when the system layer locks
/// `sandbox`, from every lower layer.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SandboxPolicy {
    /// Refuse to run install-time code when a layer is missing here.
    pub require: Sourced<bool>,
    /// Confine approved code too (default true; `false` runs approved code
    /// with the tracer and proxy only).
    pub confine_approved: Sourced<bool>,
    /// Credential paths denied besides the built-in list (`~/…` or absolute).
    pub deny_read: Vec<Sourced<String>>,
    /// Environment variable name patterns scrubbed besides the built-in list.
    pub scrub_env: Vec<Sourced<String>>,
    /// Directories writable besides the project, caches and temp dir.
    pub allow_write: Vec<Sourced<String>>,
}

impl Default for SandboxPolicy {
    fn default() -> Self {
        SandboxPolicy {
            require: Sourced::builtin(false),
            confine_approved: Sourced::builtin(true),
            deny_read: Vec::new(),
            scrub_env: Vec::new(),
            allow_write: Vec::new(),
        }
    }
}

impl SandboxPolicy {
    pub fn deny_read_values(&self) -> Vec<String> {
        self.deny_read.iter().map(|s| s.value.clone()).collect()
    }

    pub fn scrub_env_values(&self) -> Vec<String> {
        self.scrub_env.iter().map(|s| s.value.clone()).collect()
    }

    pub fn allow_write_values(&self) -> Vec<String> {
        self.allow_write.iter().map(|s| s.value.clone()).collect()
    }
}

/// How the remote policy's cached copy stands at load time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FleetStatus {
    /// Younger than `refresh`.
    Fresh,
    /// Older than `refresh`: in force, and refreshed in the background.
    Due,
    /// Older than `max_age`: `on_stale` decides.
    Stale,
    /// No verified copy (never fetched, or the cached one is refused).
    Unavailable,
}

/// The remote policy: configuration, the copy in force, what went wrong.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FleetState {
    pub config: crate::fleet::FleetConfig,
    pub status: FleetStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Unix seconds of the last successful fetch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_secs: Option<u64>,
    /// Why no copy is in force, or why the last fetch failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The outcome of a fetch made by this invocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh: Option<String>,
}

/// `{"default": {"value": 172800, "origin": …}, "npm": …}` (seconds).
fn ser_release_age<S: serde::Serializer>(
    m: &BTreeMap<Option<Ecosystem>, Sourced<std::time::Duration>>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut out = s.serialize_map(Some(m.len()))?;
    for (k, v) in m {
        out.serialize_entry(
            k.map_or("default", Ecosystem::key),
            &Sourced {
                value: v.value.as_secs(),
                origin: v.origin.clone(),
            },
        )?;
    }
    out.end()
}

impl FleetState {
    /// Whether a verified copy of the remote policy is in force.
    pub fn copy_in_force(&self) -> bool {
        self.status != FleetStatus::Unavailable
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            mode: Sourced::builtin(Mode::Enforce),
            registries: BTreeMap::new(),
            mirrors: BTreeMap::new(),
            scripts_default: Sourced::builtin(ScriptsDefault::Deny),
            scripts_allow: Vec::new(),
            scripts_exec: Sourced::builtin(ScriptsExec::Deny),
            project_approvals: Sourced::builtin(true),
            audit_log: None,
            audit_max_size: None,
            audit_keep: None,
            audit_provenance: Sourced::builtin(true),
            sinks: Vec::new(),
            threat_feeds: Vec::new(),
            min_release_age: BTreeMap::new(),
            fleet: None,
            network_allow: Vec::new(),
            sandbox: SandboxPolicy::default(),
            supervise_tracer: Sourced::builtin(Tracer::Auto),
            locked: Vec::new(),
            sources: Vec::new(),
            digest: EMPTY_DIGEST.to_string(),
            refused: Vec::new(),
        }
    }
}

impl Policy {
    /// The approved registry URL prefixes for an ecosystem (`["builtin"]`
    /// unless a layer set them). An empty list approves nothing.
    pub fn registries_for(&self, eco: Ecosystem) -> Vec<String> {
        match self.registries.get(&eco) {
            Some(s) => s.value.clone(),
            None => vec![BUILTIN.to_string()],
        }
    }

    /// The release-age cooldown for an ecosystem (its own value, else the
    /// default); `None` when none is set or it is zero.
    pub fn release_age_for(&self, eco: Ecosystem) -> Option<&Sourced<std::time::Duration>> {
        self.min_release_age
            .get(&Some(eco))
            .or_else(|| self.min_release_age.get(&None))
            .filter(|s| !s.value.is_zero())
    }

    /// Where the registries of an ecosystem were set (`None`: built-in default).
    pub fn registries_origin(&self, eco: Ecosystem) -> Option<&Origin> {
        self.registries.get(&eco).and_then(|s| s.origin.as_ref())
    }

    /// Whether `candidate` (a registry URL a tool is about to use, or
    /// `"builtin"`) is covered by an approved entry for `eco`.
    pub fn registry_approved(&self, eco: Ecosystem, candidate: &str) -> bool {
        match self.registries.get(&eco) {
            Some(s) => s.value.iter().any(|a| registry_covers(a, candidate)),
            None => registry_covers(BUILTIN, candidate),
        }
    }

    /// The mirror forced for an ecosystem, if any.
    pub fn mirror_for(&self, eco: Ecosystem) -> Option<&Sourced<String>> {
        self.mirrors.get(&eco)
    }

    /// Whether the system layer locked `key` (one of [`LOCKABLE`]).
    pub fn is_locked(&self, key: &str) -> bool {
        self.locked.iter().any(|l| l.value == key)
    }

    /// The first `scripts.allow` entry approving the install-time code of
    /// `name` at `version` in `eco` (a name without a range approves every
    /// version), with where it was set. `local`: the code is the project's
    /// own (its root, a workspace, a local path dependency), which only an
    /// `ECO:NAME@local` entry approves; a fetched package is approved only
    /// by an entry without it, so a cloned repository cannot take an
    /// approved package's name for its own code.
    pub fn approval_for(
        &self,
        eco: Ecosystem,
        name: &str,
        version: &str,
        local: bool,
    ) -> Option<&Sourced<String>> {
        let want = ranges::normalize_name(eco, name);
        self.scripts_allow.iter().find(|s| {
            AllowEntry::parse(&s.value).is_ok_and(|e| {
                e.ecosystem == eco
                    && e.local == local
                    && ranges::normalize_name(eco, e.name) == want
                    && e.range.is_none_or(|r| ranges::satisfies(eco, r, version))
            })
        })
    }

    /// Whether some `scripts.allow` entry names the fetched package `name`
    /// in `eco`, whatever its range (for fetch-and-execute, where the
    /// version is not known yet); `@local` entries do not count.
    pub fn approves_name(&self, eco: Ecosystem, name: &str) -> Option<&Sourced<String>> {
        let want = ranges::normalize_name(eco, name);
        self.scripts_allow.iter().find(|s| {
            AllowEntry::parse(&s.value).is_ok_and(|e| {
                e.ecosystem == eco && !e.local && ranges::normalize_name(eco, e.name) == want
            })
        })
    }

    /// The entry approving every version of `name` in `eco` (one without a
    /// range; `local`: the `@local` one, for the project's own code), as a
    /// record's `approved_by` says it (with where it was set): for builds
    /// whose version is not known before they run.
    pub fn approves_every_version(
        &self,
        eco: Ecosystem,
        name: &str,
        local: bool,
    ) -> Option<String> {
        let want = ranges::normalize_name(eco, name);
        self.scripts_allow.iter().find_map(|s| {
            let e = AllowEntry::parse(&s.value).ok()?;
            (e.ecosystem == eco
                && e.local == local
                && e.range.is_none()
                && ranges::normalize_name(eco, e.name) == want)
                .then(|| match &s.origin {
                    Some(o) => format!("{} ({o})", s.value),
                    None => s.value.clone(),
                })
        })
    }

    /// The `scripts.allow` entries, parsed (entries are validated on load,
    /// so none is skipped in practice).
    pub fn allow_entries(&self) -> impl Iterator<Item = (AllowEntry<'_>, Option<&Origin>)> + '_ {
        self.scripts_allow.iter().filter_map(|s| {
            AllowEntry::parse(&s.value)
                .ok()
                .map(|e| (e, s.origin.as_ref()))
        })
    }
}

#[derive(Clone, Debug, thiserror::Error, serde::Serialize)]
#[error("{}", self.render())]
pub struct PolicyError {
    pub path: PathBuf,
    /// 1-based; 0 when the error has no position (e.g. an unreadable file).
    pub line: usize,
    pub col: usize,
    pub key: Option<String>,
    pub message: String,
}

impl PolicyError {
    fn render(&self) -> String {
        let mut s = format!("{}", self.path.display());
        if self.line > 0 {
            s.push_str(&format!(":{}:{}", self.line, self.col));
        }
        if let Some(k) = &self.key {
            s.push_str(&format!(": `{k}`"));
        }
        s.push_str(&format!(": {}", self.message));
        s
    }
}
