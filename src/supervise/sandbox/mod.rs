//! The sandbox for install-time code: everything pkgward decides to run goes
//! through [`super::install_code::run_install_code`], and the runs it marks
//! `sandboxed` (approved code, and everything under `scripts.default =
//! "sandbox"`) are confined here, in enforce mode, with every layer the
//! machine offers:
//!
//! | layer | what it does |
//! |---|---|
//! | `env-scrub` | registry tokens, cloud credentials, CI tokens and agent sockets removed from the environment ([`SCRUB_ENV_DEFAULT`] + `[sandbox] scrub_env`); URL userinfo stripped from any variable; recorded by name only |
//! | `private-tmp` | a private temp directory per run (`TMPDIR`, `TEMP`, `TMP`), removed afterwards |
//! | `landlock-fs` | Linux Landlock: read and execute anywhere except the credential locations ([`DENY_READ_DEFAULT`] + `[sandbox] deny_read`); write only to the project, the tool's caches ([`cache_dirs`]), the private temp dir and a few devices |
//! | `landlock-net` | Landlock (ABI ≥ 4): TCP connect only to the egress proxy's port, TCP bind nowhere |
//! | `landlock-scope` | Landlock (ABI ≥ 6): no signals to, no abstract UNIX sockets of, processes outside the sandbox |
//! | `netns` | a new user + network namespace with only `lo`: the proxy is reachable through a listener pkgward accepts on from inside it; nothing else is (UDP and DNS included) |
//! | `seccomp` | the invocation's seccomp tracer (exec and connect records, non-loopback destinations refused) |
//! | `no-capabilities` | Linux: the bounding, ambient, permitted and effective capability sets emptied (root's code keeps its uid, not its privileges) |
//! | `socket-filter` | a seccomp filter: `socket(2)` makes only TCP (and netlink) sockets, so no UDP (DNS), raw or UNIX-domain sockets (an agent, a Docker or resolver socket) |
//! | `seatbelt` | macOS: `sandbox-exec` with the profile of [`seatbelt::profile`] |
//!
//! Credential reads are denied by construction, not by a path check at open
//! time: Landlock only allows what is granted, and the grants are computed
//! so that no granted directory contains a credential path ([`cover`]).
//! npm still needs its user config: it gets a copy of `~/.npmrc` without the
//! auth lines (`npm_config_userconfig`).
//!
//! Where a layer is missing (no Landlock, user namespaces refused as under
//! Docker's default seccomp profile) the run degrades to what is there, and
//! its record says which layers were in force; `[sandbox] require = true`
//! turns any missing layer into a refusal to run.

#[cfg(target_os = "linux")]
pub(crate) mod linux;
pub mod seatbelt;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::policy::{Mode, SandboxPolicy};

/// Credential locations no sandboxed code may read (`~/` = each home
/// directory: `$HOME`, the account's home from the password database,
/// `/root` and every `/home/*`). `[sandbox] deny_read` adds to it.
pub const DENY_READ_DEFAULT: &[&str] = &[
    "~/.ssh",
    "~/.aws",
    "~/.gnupg",
    "~/.docker/config.json",
    "~/.git-credentials",
    "~/.config/git/credentials",
    "~/.netrc",
    "~/.pypirc",
    "~/.config/pypoetry/auth.toml",
    "~/Library/Application Support/pypoetry/auth.toml",
    "~/.npmrc",
    "~/.yarnrc",
    "~/.yarnrc.yml",
    "~/.cargo/credentials",
    "~/.cargo/credentials.toml",
    "~/.gem/credentials",
    "~/.local/share/gem/credentials",
    "~/.nuget/NuGet/NuGet.Config",
    "~/.m2/settings.xml",
    "~/.m2/settings-security.xml",
    "~/.gradle/gradle.properties",
    "~/.config/gh",
    "~/.config/hub",
    "~/.kube",
    "~/.azure",
    "~/.config/gcloud",
    "~/.oci",
    "~/.config/doctl",
    "~/.config/hcloud",
    "~/.config/rclone",
    "~/.config/op",
    "~/.terraform.d/credentials.tfrc.json",
    "~/.pulumi/credentials.json",
    "~/.vault-token",
    "~/.password-store",
    "~/.local/share/keyrings",
    "~/.pgpass",
    "~/.my.cnf",
    "~/.s3cfg",
    "~/.boto",
    "~/.mozilla",
    "~/.config/google-chrome",
    "~/.config/chromium",
    "~/.bash_history",
    "~/.zsh_history",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/ssh",
    "/run/secrets",
    "/var/run/secrets",
];

/// Files in a home directory that run code later (shell start-up files):
/// never writable, even when the project is the home directory itself.
pub const DENY_WRITE_DEFAULT: &[&str] = &[
    "~/.bashrc",
    "~/.bash_profile",
    "~/.bash_login",
    "~/.profile",
    "~/.zshrc",
    "~/.zshenv",
    "~/.zprofile",
    "~/.config/fish",
    "~/.config/autostart",
    "~/.config/systemd",
];

/// Environment variables removed from install-time code's environment
/// (names, `*` matches any run of characters, case-insensitive).
/// `[sandbox] scrub_env` adds to it.
pub const SCRUB_ENV_DEFAULT: &[&str] = &[
    // Registry tokens.
    "NPM_TOKEN",
    "NODE_AUTH_TOKEN",
    "NPM_CONFIG_*AUTH*",
    "NPM_CONFIG_*TOKEN*",
    "NPM_CONFIG_*PASSWORD*",
    "NPM_CONFIG_//*",
    "YARN_NPM_AUTH*",
    "YARN_*AUTH_TOKEN*",
    "UV_*PASSWORD*",
    "UV_PUBLISH_*",
    "PIP_*PASSWORD*",
    "TWINE_*",
    "POETRY_HTTP_BASIC_*",
    "POETRY_PYPI_TOKEN_*",
    "CARGO_REGISTRY_TOKEN",
    "CARGO_REGISTRIES_*_TOKEN",
    "GEM_HOST_API_KEY",
    "NUGET_*KEY*",
    "NUGET_*TOKEN*",
    "NUGET_*PASSWORD*",
    "VSS_NUGET_*",
    // Cloud credentials.
    "AWS_*",
    "AZURE_*",
    "ARM_CLIENT_SECRET",
    "ARM_*TOKEN*",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_*CREDENTIALS*",
    "CLOUDSDK_AUTH_*",
    "DIGITALOCEAN_*",
    "HCLOUD_TOKEN",
    "ALIBABA_CLOUD_*",
    "OS_PASSWORD",
    "OS_AUTH_TOKEN",
    // CI tokens.
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_*",
    "CI_JOB_TOKEN",
    "CI_JOB_JWT*",
    "CI_REGISTRY_PASSWORD",
    "CI_DEPLOY_PASSWORD",
    "GITLAB_TOKEN",
    "BITBUCKET_*TOKEN*",
    "CIRCLE_TOKEN",
    "CIRCLE_OIDC_TOKEN*",
    "BUILDKITE_AGENT_ACCESS_TOKEN",
    "SYSTEM_ACCESSTOKEN",
    "VAULT_TOKEN",
    "DOCKER_PASSWORD",
    "DOCKER_AUTH_CONFIG",
    // Agents that hold keys.
    "SSH_AUTH_SOCK",
    "GPG_AGENT_INFO",
    // Anything named like a secret.
    "*_TOKEN",
    "*_TOKEN_*",
    "*SECRET*",
    "*PASSWORD*",
    "*PASSWD*",
    "*_API_KEY",
    "*_APIKEY",
    "*_ACCESS_KEY",
    "*_ACCESS_KEY_ID",
    "*_PRIVATE_KEY",
    "*_CREDENTIALS",
];

/// What one sandboxed run had in force, for its `script` records.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The layers in force (see the module docs), in a fixed order.
    pub layers: Vec<&'static str>,
    /// Layers wanted but not in force, each with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landlock_abi: Option<u32>,
    /// Names of the variables removed or rewritten (never their values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scrubbed_env: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The invocation's sandbox settings, set by the shim for the time its
/// install-time code can run ([`enter`]).
#[derive(Clone)]
pub struct Context {
    pub mode: Mode,
    pub policy: SandboxPolicy,
    /// The invocation's tool (its caches are writable).
    pub tool: &'static str,
    /// The egress proxy: its port is the one TCP destination allowed.
    pub proxy: Option<super::proxy::Handle>,
    /// What confined runs of this invocation share ([`Prepared`]).
    pub prepared: Prepared,
}

/// The part of a confined run that does not depend on the run itself —
/// the private temp directory, the file-system plan and (Linux) the
/// Landlock ruleset — made once per invocation for each program, working
/// directory and set of writable roots, and shared by the runs that have
/// the same: npm's scripts each run on their own (through the shim's
/// broker), and listing the directories above the credential paths and
/// opening a rule for each entry costs tens of milliseconds where a large
/// `/tmp` holds the home. Gone (the temp directory removed) with the
/// invocation's [`Context`].
#[derive(Clone, Default)]
pub struct Prepared(Arc<Mutex<Vec<Arc<Ready>>>>, Arc<Mutex<()>>);

/// One prepared confinement ([`Prepared`]).
pub struct Ready {
    key: Vec<PathBuf>,
    tmp: tempfile::TempDir,
    /// The plan without the run's environment.
    plan: Plan,
    #[cfg(target_os = "linux")]
    rules: Option<std::os::fd::OwnedFd>,
}

impl Prepared {
    fn get(&self, key: &[PathBuf]) -> Option<Arc<Ready>> {
        let v = self.0.lock().ok()?;
        v.iter().find(|r| r.key == key).cloned()
    }

    fn put(&self, r: Arc<Ready>) {
        if let Ok(mut v) = self.0.lock() {
            v.push(r);
        }
    }
}

static CURRENT: Mutex<Option<Arc<Context>>> = Mutex::new(None);

/// Keeps the context in force until dropped.
pub struct Entered(());

impl Drop for Entered {
    fn drop(&mut self) {
        if let Ok(mut c) = CURRENT.lock() {
            *c = None;
        }
    }
}

/// Makes `cx` the sandbox context of this process's install-time code
/// (one invocation per shim process) until the guard is dropped.
pub fn enter(cx: Context) -> Entered {
    if let Ok(mut c) = CURRENT.lock() {
        *c = Some(Arc::new(cx));
    }
    Entered(())
}

pub(crate) fn current() -> Option<Arc<Context>> {
    CURRENT.lock().ok().and_then(|c| c.clone())
}

/// Whether `name` matches the pattern (`*` = any run, ASCII
/// case-insensitive).
pub fn env_pattern_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n
                .split_first()
                .is_some_and(|(d, nrest)| c.eq_ignore_ascii_case(d) && go(rest, nrest)),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// Whether a variable of this name is scrubbed.
pub fn scrubbed_name(name: &str, extra: &[String]) -> bool {
    SCRUB_ENV_DEFAULT
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .any(|p| env_pattern_matches(p, name))
}

/// The value with the userinfo of every `scheme://user:pass@host` URL in it
/// removed (`None`: nothing to remove).
pub fn strip_userinfo(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut changed = false;
    let mut rest = value;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                changed = true;
                out.push_str(&authority[at + 1..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// The environment changes for sandboxed code: `(remove, set)`, given the
/// variables it would otherwise see. Names only are reported.
pub fn scrub_env(
    vars: &[(OsString, OsString)],
    extra: &[String],
) -> (Vec<OsString>, Vec<(OsString, OsString)>, Vec<String>) {
    let mut remove = Vec::new();
    let mut set = Vec::new();
    let mut names = Vec::new();
    for (k, v) in vars {
        let name = k.to_string_lossy();
        if scrubbed_name(&name, extra) {
            remove.push(k.clone());
            names.push(name.into_owned());
        } else if let Some(stripped) = v.to_str().and_then(strip_userinfo) {
            set.push((k.clone(), OsString::from(stripped)));
            names.push(name.into_owned());
        }
    }
    names.sort();
    names.dedup();
    (remove, set, names)
}

/// An npmrc without its credentials: lines whose key names an auth
/// setting (`_auth`, `_authToken`, `_password`, `username`, `password`,
/// `email`, `certfile`, `keyfile`, any `token`), wherever scoped.
pub fn scrub_npmrc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let key = line
            .split_once('=')
            .map(|(k, _)| k)
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        // `//host/path/:_authToken` → `_authtoken`
        let last = key.rsplit(':').next().unwrap_or("");
        let secret = [
            "_auth", "password", "username", "email", "certfile", "keyfile",
        ]
        .iter()
        .any(|s| last.contains(s))
            || last.contains("token");
        if !secret {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The home directories whose credential paths are denied.
pub fn homes() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut add = |p: PathBuf| {
        if p.is_absolute() && !out.contains(&p) {
            out.push(p);
        }
    };
    if let Some(h) = std::env::var_os("HOME") {
        add(PathBuf::from(h));
    }
    if let Some(h) = passwd_home() {
        add(h);
    }
    #[cfg(unix)]
    {
        add(PathBuf::from("/root"));
        for base in ["/home", "/Users"] {
            if let Ok(rd) = std::fs::read_dir(base) {
                for e in rd.flatten().take(1000) {
                    add(e.path());
                }
            }
        }
    }
    out
}

#[cfg(unix)]
fn passwd_home() -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: getpwuid_r fills `pwd` with pointers into `buf`, read before
    // `buf` goes out of scope.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let mut buf = vec![0 as libc::c_char; 16 * 1024];
        let rc = libc::getpwuid_r(
            libc::getuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
            return None;
        }
        let dir = std::ffi::CStr::from_ptr(pwd.pw_dir);
        Some(PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes())))
    }
}

#[cfg(not(unix))]
fn passwd_home() -> Option<PathBuf> {
    None
}

/// Expands a policy path (`~/x` for every home, else absolute) to the
/// paths it names.
pub fn expand(entry: &str, homes: &[PathBuf]) -> Vec<PathBuf> {
    match entry.strip_prefix("~/") {
        Some(rel) => homes.iter().map(|h| h.join(rel)).collect(),
        None => vec![PathBuf::from(entry)],
    }
}

/// The paths denied for reading: the defaults and the policy's additions,
/// for every home.
pub fn deny_read_paths(extra: &[String], homes: &[PathBuf]) -> Vec<PathBuf> {
    DENY_READ_DEFAULT
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .flat_map(|e| expand(e, homes))
        .collect()
}

/// The paths denied for writing even inside a writable directory: the
/// read-denied ones and the shell start-up files.
pub fn deny_write_paths(deny_read: &[PathBuf], homes: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = deny_read.to_vec();
    out.extend(DENY_WRITE_DEFAULT.iter().flat_map(|e| expand(e, homes)));
    out
}

/// The path as the kernel sees it: canonical when it exists, else its
/// longest existing ancestor made canonical plus the rest.
pub fn resolved(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let mut rest = Vec::new();
    let mut cur = p;
    while let Some(parent) = cur.parent() {
        if let Some(name) = cur.file_name() {
            rest.push(name.to_os_string());
        }
        if let Ok(c) = parent.canonicalize() {
            let mut out = c;
            for n in rest.iter().rev() {
                out.push(n);
            }
            return out;
        }
        cur = parent;
    }
    p.to_path_buf()
}

/// The directories and files to grant so that everything under `root` is
/// covered except the `denied` paths (resolved with [`resolved`]): `root`
/// itself when it holds no denied path, else (recursively) each of its
/// entries. Symbolic links are followed to what they name, so a link to a
/// denied path (or to one of its ancestors) grants nothing more.
pub fn cover(root: &Path, denied: &[PathBuf], out: &mut Vec<PathBuf>) {
    // What `out` holds, for the duplicate check: a directory with thousands
    // of entries (a shared `/tmp` above a denied path) made a linear
    // `contains` per entry quadratic — seconds per sandboxed run.
    let have: HashSet<PathBuf> = out.iter().cloned().collect();
    let mut cover = Cover {
        denied,
        out,
        have,
        seen: BTreeSet::new(),
    };
    if let Ok(c) = root.canonicalize() {
        cover.path(c, 0);
    }
}

/// [`cover`]'s walk.
struct Cover<'a> {
    denied: &'a [PathBuf],
    out: &'a mut Vec<PathBuf>,
    have: HashSet<PathBuf>,
    /// The ancestors listed so far (each once; a link back to one adds
    /// nothing).
    seen: BTreeSet<PathBuf>,
}

impl Cover<'_> {
    fn grant(&mut self, p: PathBuf) {
        if self.have.insert(p.clone()) {
            self.out.push(p);
        }
    }

    /// `c` is canonical. The entries of a listed directory are canonical
    /// by construction unless they are symbolic links, so only links are
    /// resolved (`realpath` costs a `readlink` per component: with a
    /// crowded `/tmp` above the home, thousands of them for every confined
    /// invocation).
    fn path(&mut self, c: PathBuf, depth: usize) {
        if self.denied.iter().any(|d| c.starts_with(d)) {
            return;
        }
        if self.denied.iter().any(|d| d.starts_with(&c) && *d != c) {
            self.entries(c, depth);
        } else {
            self.grant(c);
        }
    }

    /// The entries of `c`, an ancestor of a denied path, one by one. An
    /// entry that is not a link is decided by its name alone: the denied
    /// paths below `c` are grouped by their first name under it, so a
    /// directory of thousands of entries costs a lookup each, not a path
    /// comparison with every denied path (which was most of a confined
    /// build's set-up with a crowded `/tmp` above the home).
    fn entries(&mut self, c: PathBuf, depth: usize) {
        if depth > 64 || !self.seen.insert(c.clone()) {
            return;
        }
        // First name under `c` → whether a denied path is that entry
        // itself (else it only holds one).
        let mut below: HashMap<OsString, bool> = HashMap::new();
        for d in self.denied {
            if let Ok(rest) = d.strip_prefix(&c) {
                let mut names = rest.components();
                if let Some(first) = names.next() {
                    *below.entry(first.as_os_str().to_owned()).or_default() |=
                        names.next().is_none();
                }
            }
        }
        let Ok(rd) = std::fs::read_dir(&c) else {
            return;
        };
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_symlink()).unwrap_or(true) {
                // A link may name anything: its target is decided in full
                // (a dangling link grants nothing).
                if let Ok(target) = e.path().canonicalize() {
                    self.path(target, depth + 1);
                }
                continue;
            }
            let name = e.file_name();
            match below.get(&name) {
                None => self.grant(c.join(&name)),
                Some(true) => {}
                Some(false) => self.entries(c.join(&name), depth + 1),
            }
        }
    }
}

/// The caches a tool writes to (derived from its settings in the
/// environment, else its default location), for the tool name or program
/// file name:
///
/// | tool | writable |
/// |---|---|
/// | npm, npx, node, yarn, pnpm, bun | `npm_config_cache` (any case) or `~/.npm`; node-gyp's `npm_config_devdir` or `$XDG_CACHE_HOME/node-gyp` (`~/.cache/node-gyp`), `~/.node-gyp`; pnpm: its store's lock directory (the store: [`pnpm_stores`]) |
/// | pip, python, uv, poetry, pipenv, pipx | `PIP_CACHE_DIR` or `$XDG_CACHE_HOME/pip`; `UV_CACHE_DIR` or `$XDG_CACHE_HOME/uv` |
/// | cargo, rustc | `$CARGO_HOME` (or `~/.cargo`) `registry/` and `git/`; `CARGO_TARGET_DIR`; the lock files of [`cache_files`] |
pub fn cache_dirs(
    tool: &str,
    env: &dyn Fn(&str) -> Option<OsString>,
    vars: &[(OsString, OsString)],
    home: Option<&Path>,
) -> Vec<PathBuf> {
    let name = tool
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(tool)
        .trim_end_matches(".exe")
        .to_ascii_lowercase();
    let xdg_cache = env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".cache")));
    let any_case = |key: &str| {
        vars.iter()
            .rev()
            .find(|(k, _)| k.to_str().is_some_and(|k| k.eq_ignore_ascii_case(key)))
            .map(|(_, v)| PathBuf::from(v))
    };
    let mut out = Vec::new();
    let family = |names: &[&str]| names.iter().any(|n| name.starts_with(n));
    if family(&["npm", "npx", "node", "yarn", "pnpm", "bun"]) {
        out.extend(any_case("npm_config_cache").or_else(|| home.map(|h| h.join(".npm"))));
        out.extend(
            any_case("npm_config_devdir")
                .or_else(|| xdg_cache.as_ref().map(|c| c.join("node-gyp"))),
        );
        out.extend(home.map(|h| h.join(".node-gyp")));
    }
    if family(&["pnpm"]) {
        // The directory of pnpm's store locks (under the system temp dir,
        // whatever TMPDIR says); the store itself: [`pnpm_stores`].
        #[cfg(unix)]
        // SAFETY: getuid cannot fail.
        out.push(PathBuf::from(format!(
            "/tmp/pnpm-store-operation-locks-{}",
            unsafe { libc::getuid() }
        )));
    }
    if family(&["pip", "python", "uv", "poetry", "pipenv", "pipx"]) {
        out.extend(
            env("PIP_CACHE_DIR")
                .map(PathBuf::from)
                .or_else(|| xdg_cache.as_ref().map(|c| c.join("pip"))),
        );
        out.extend(
            env("UV_CACHE_DIR")
                .map(PathBuf::from)
                .or_else(|| xdg_cache.as_ref().map(|c| c.join("uv"))),
        );
    }
    if family(&["cargo", "rustc"]) {
        let cargo_home = env("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(".cargo")));
        if let Some(c) = cargo_home {
            out.push(c.join("registry"));
            out.push(c.join("git"));
        }
        out.extend(env("CARGO_TARGET_DIR").map(PathBuf::from));
    }
    out.retain(|p| p.is_absolute());
    out
}

/// Lock files a tool takes in its home (cargo: `$CARGO_HOME/.package-cache`
/// and `.package-cache-mutate`), made before the run so that they can be
/// granted without granting the directory (whose `bin/` is on PATH).
pub fn cache_files(
    tool: &str,
    env: &dyn Fn(&str) -> Option<OsString>,
    home: Option<&Path>,
) -> Vec<PathBuf> {
    let name = tool
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(tool)
        .to_ascii_lowercase();
    if !(name.starts_with("cargo") || name.starts_with("rustc")) {
        return Vec::new();
    }
    env("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".cargo")))
        .filter(|c| c.is_absolute() && c.is_dir())
        .map(|c| vec![c.join(".package-cache"), c.join(".package-cache-mutate")])
        .unwrap_or_default()
}

/// The devices sandboxed code may open (read and write); no other file
/// under `/dev` can be opened (a block device would bypass every rule).
pub const DEVICES_RW: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/tty"];
/// Readable devices.
pub const DEVICES_R: &[&str] = &["/dev/random", "/dev/urandom", "/dev/fd", "/dev/stdin"];

/// Everything a sandboxed run needs decided before it starts
/// (platform-independent: Landlock and Seatbelt are built from it).
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Readable (and executable) trees.
    pub read: Vec<PathBuf>,
    /// Writable trees (also readable).
    pub write: Vec<PathBuf>,
    /// Denied for reading (resolved), for profiles that deny by path.
    pub deny_read: Vec<PathBuf>,
    /// Denied for writing (resolved).
    pub deny_write: Vec<PathBuf>,
    /// The only TCP port that may be connected to (the proxy's).
    pub proxy_port: Option<u16>,
    pub env_remove: Vec<OsString>,
    pub env_set: Vec<(OsString, OsString)>,
    pub scrubbed_env: Vec<String>,
}

/// Computes the plan for one run: `cwd` is the project (writable), `tmp` the
/// private temp directory, `vars` the environment it would see.
pub fn plan(
    cx: &Context,
    program: &Path,
    cwd: &Path,
    tmp: &Path,
    vars: &[(OsString, OsString)],
) -> Plan {
    let homes = homes();
    let deny_read: Vec<PathBuf> = deny_read_paths(&cx.policy.deny_read_values(), &homes)
        .iter()
        .map(|p| resolved(p))
        .collect();
    let deny_write: Vec<PathBuf> = deny_write_paths(&deny_read, &homes)
        .iter()
        .map(|p| resolved(p))
        .collect();

    let mut roots: Vec<PathBuf> = vec![cwd.to_path_buf(), tmp.to_path_buf()];
    roots.extend(tool_roots(cx, program, cwd, vars));
    let mut write = Vec::new();
    for r in &roots {
        cover(r, &deny_write, &mut write);
    }
    let mut read = Vec::new();
    // `/dev` only through DEVICES_*.
    let mut deny_for_read = deny_read.clone();
    deny_for_read.push(PathBuf::from("/dev"));
    cover(Path::new("/"), &deny_for_read, &mut read);

    let (env_remove, mut env_set, scrubbed_env) = scrub_env(vars, &cx.policy.scrub_env_values());
    for k in ["TMPDIR", "TEMP", "TMP"] {
        env_set.push((k.into(), tmp.as_os_str().to_owned()));
    }
    Plan {
        read,
        write,
        deny_read,
        deny_write,
        proxy_port: cx.proxy.as_ref().map(|p| p.port()),
        env_remove,
        env_set,
        scrubbed_env,
    }
}

/// pnpm's content-addressable store for a project in `project`, as
/// each pnpm generation finds it (`crate::classify::pnpm_store_dirs`: a
/// `storeDir` of the project's `pnpm-workspace.yaml` included), when the
/// tool is pnpm.
fn pnpm_stores(
    tool: &str,
    project: &Path,
    vars: &[(OsString, OsString)],
    home: Option<&Path>,
) -> Vec<PathBuf> {
    let name = tool.rsplit(['/', '\\']).next().unwrap_or(tool);
    let Some(pnpm) = crate::tools::Tool::by_name("pnpm") else {
        return Vec::new();
    };
    if !name.to_ascii_lowercase().starts_with("pnpm") {
        return Vec::new();
    }
    crate::classify::pnpm_store_dirs(&crate::classify::Request {
        tool: pnpm,
        args: &[],
        env: &crate::classify::source::VarsEnv(vars),
        files: &crate::classify::source::RealFiles,
        cwd: project,
        home,
        real_tool: None,
    })
}

/// The tool's caches (created now, so that they can be granted) and the
/// policy's `allow_write`: writable besides the project and the temp dir.
fn tool_roots(
    cx: &Context,
    program: &Path,
    project: &Path,
    vars: &[(OsString, OsString)],
) -> Vec<PathBuf> {
    let env = |k: &str| {
        vars.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let home = env("HOME").map(PathBuf::from);
    let mut roots = Vec::new();
    for tool in [cx.tool.to_string(), program.to_string_lossy().into_owned()] {
        let stores = pnpm_stores(&tool, project, vars, home.as_deref());

        for c in cache_dirs(&tool, &env, vars, home.as_deref())
            .into_iter()
            .chain(stores)
        {
            // A cache the tool would create: made now, so it can be granted.
            let _ = std::fs::create_dir_all(&c);
            roots.push(c);
        }
        for f in cache_files(&tool, &env, home.as_deref()) {
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&f);
            roots.push(f);
        }
    }
    roots.extend(
        cx.policy
            .allow_write_values()
            .into_iter()
            .map(PathBuf::from),
    );
    roots
}

/// npm's user config for sandboxed code: a copy without credentials in the
/// private temp dir (`npm_config_userconfig`), so npm keeps its settings
/// while `~/.npmrc` itself stays unreadable. `None` when the program is not
/// of the npm family.
pub fn npm_userconfig(
    program: &Path,
    tool: &str,
    tmp: &Path,
    vars: &[(OsString, OsString)],
) -> Option<(OsString, OsString)> {
    let name = program
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let npmish = |n: &str| {
        ["npm", "npx", "yarn", "bun", "pnpm"]
            .iter()
            .any(|p| n.starts_with(p))
    };
    if !npmish(&name) && !npmish(tool) {
        return None;
    }
    let from = vars
        .iter()
        .rev()
        .find(|(k, _)| {
            k.to_str()
                .is_some_and(|k| k.eq_ignore_ascii_case("npm_config_userconfig"))
        })
        .map(|(_, v)| PathBuf::from(v))
        .or_else(|| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == "HOME")
                .map(|(_, h)| Path::new(h).join(".npmrc"))
        });
    let text = from
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let copy = tmp.join("npmrc");
    let scrubbed = scrub_npmrc(&text);
    // The temp dir is shared by the invocation's runs ([`Prepared`]), which
    // may be running: replaced whole (write, then rename), never truncated
    // under a reader.
    if std::fs::read_to_string(&copy).ok().as_deref() != Some(scrubbed.as_str()) {
        let part = tmp.join(format!(
            "npmrc.{}.{:?}.tmp",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&part, scrubbed).ok()?;
        std::fs::rename(&part, &copy).ok()?;
    }
    Some(("npm_config_userconfig".into(), copy.into_os_string()))
}

/// What this machine offers, for `pkgward doctor`.
#[derive(Clone, Debug, Serialize)]
pub struct Offered {
    /// Landlock ABI version (0: none).
    pub landlock_abi: u32,
    /// Unprivileged user + network namespaces.
    pub user_netns: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_netns_error: Option<String>,
    /// seccomp user notification.
    pub seccomp_notify: bool,
    /// macOS `sandbox-exec`.
    pub seatbelt: bool,
    /// The layers a sandboxed run would have here.
    pub layers: Vec<&'static str>,
}

/// Probes the machine (forks one short-lived child on Linux).
pub fn offered() -> Offered {
    #[cfg(target_os = "linux")]
    {
        linux::offered()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let seatbelt = cfg!(target_os = "macos") && Path::new(seatbelt::SANDBOX_EXEC).exists();
        let mut layers = vec!["env-scrub", "private-tmp"];
        if seatbelt {
            layers.push("seatbelt");
        }
        Offered {
            landlock_abi: 0,
            user_netns: false,
            user_netns_error: None,
            seccomp_notify: false,
            seatbelt,
            layers,
        }
    }
}

/// The environment the child would see: inherited, then `set` over it.
pub fn effective_env(set: &[(OsString, OsString)]) -> Vec<(OsString, OsString)> {
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    for (k, v) in set {
        vars.retain(|(n, _)| n != k);
        vars.push((k.clone(), v.clone()));
    }
    vars
}

/// Variables a project's `.npmrc` refers to (`${NAME}`): npm fails on a
/// reference to an unset variable, so a scrubbed one is set empty instead.
fn npmrc_refs(cwd: &Path) -> String {
    let mut text = String::new();
    for d in cwd.ancestors().take(2) {
        if let Ok(t) = std::fs::read_to_string(d.join(".npmrc")) {
            text.push_str(&t);
        }
    }
    text
}

/// The refusal under `[sandbox] require = true`.
fn refusal(missing: &[String]) -> crate::error::Error {
    crate::error::Error::Config(format!(
        "install-time code not run: the policy requires the sandbox (`[sandbox] require = true`) \
         and this machine lacks: {} (`pkgward doctor` shows what it offers)",
        missing.join("; ")
    ))
}

/// Runs one piece of install-time code confined (enforce mode), with every
/// layer this machine offers; returns how it ended and what was in force.
pub fn run(
    code: &super::install_code::InstallCode,
    cx: &Context,
) -> crate::error::Result<(super::Ended, Report)> {
    #[cfg(target_os = "linux")]
    use crate::error::Error;
    let require = cx.policy.require.value;
    let vars = effective_env(&code.env);
    #[cfg(target_os = "linux")]
    let abi = linux::landlock_abi();
    #[cfg(not(target_os = "linux"))]
    let abi = 0;
    let project = code.project.as_ref().unwrap_or(&code.cwd);
    let ready = ready(code, cx, &vars, abi)?;
    let tmp = ready.tmp.path();
    let mut plan = ready.plan.clone();
    // This run's environment: scrubbed, its temp directory.
    let (env_remove, mut env_set, scrubbed_env) = scrub_env(&vars, &cx.policy.scrub_env_values());
    for k in ["TMPDIR", "TEMP", "TMP"] {
        env_set.push((k.into(), tmp.as_os_str().to_owned()));
    }
    plan.env_remove = env_remove;
    plan.env_set = env_set;
    plan.scrubbed_env = scrubbed_env;
    if let Some((k, v)) = npm_userconfig(&code.program, cx.tool, tmp, &vars) {
        for (n, _) in &vars {
            if n.to_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("npm_config_userconfig"))
            {
                plan.env_remove.push(n.clone());
            }
        }
        plan.env_set.push((k, v));
    }
    let refs = npmrc_refs(project);
    let referenced = |k: &OsString| {
        k.to_str()
            .is_some_and(|k| refs.contains(&format!("${{{k}}}")))
    };
    let mut report = Report {
        layers: vec!["env-scrub", "private-tmp"],
        scrubbed_env: plan.scrubbed_env.clone(),
        ..Report::default()
    };
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    let build = |program: &Path, args: &[OsString]| {
        let mut cmd = std::process::Command::new(program);
        cmd.args(args).current_dir(&code.cwd);
        for (k, v) in &code.env {
            cmd.env(k, v);
        }
        for k in &plan.env_remove {
            if referenced(k) {
                cmd.env(k, "");
            } else {
                cmd.env_remove(k);
            }
        }
        for (k, v) in &plan.env_set {
            cmd.env(k, v);
        }
        if let Some(a) = &code.attached {
            // (A failure shows as the child's missing streams; the
            // descriptors are ours and open, so dup cannot fail but for
            // EMFILE.)
            let _ = a.apply(&mut cmd);
        }
        cmd
    };
    #[cfg(target_os = "linux")]
    {
        report.landlock_abi = Some(abi);
        let mut missing = Vec::new();
        if abi < 1 {
            missing.push("landlock-fs (no Landlock in this kernel)".to_string());
        }
        if abi < 4 {
            missing.push(format!(
                "landlock-net (Landlock ABI {abi}; TCP rules need 4)"
            ));
        }
        if code.trace.is_none() {
            missing.push("seccomp (the invocation's tracer is not running)".to_string());
        }
        if require && !missing.is_empty() {
            return Err(refusal(&missing));
        }
        let rules = ready.rules.as_ref();
        if rules.is_some() {
            report.layers.extend(linux::landlock_layers(abi));
        }
        let mut netns = true;
        loop {
            let mut cmd = build(&code.program, &code.args);
            let armed = linux::arm(&mut cmd, netns, require, rules, cx.proxy.clone())
                .map_err(|e| Error::io("cannot prepare the sandbox", e))?;
            if code.attached.is_some() {
                // Again after the namespace: entering a user namespace
                // changes the credentials, which clears the parent-death
                // signal `Attached::apply` set.
                use std::os::unix::process::CommandExt;
                // SAFETY: prctl is async-signal-safe and touches no memory.
                unsafe {
                    cmd.pre_exec(|| {
                        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
                        Ok(())
                    });
                }
            }
            let result = super::unix::run_with(cmd, code.trace.as_ref(), code.attached.as_ref());
            let outcome = if netns {
                armed.finish()
            } else {
                drop(armed);
                linux::NetnsOutcome::Unknown
            };
            match (&result, &outcome) {
                (Err(_), linux::NetnsOutcome::Failed { .. }) if netns => {
                    let why = format!("netns ({})", outcome.describe());
                    if require {
                        missing.push(why);
                        return Err(refusal(&missing));
                    }
                    // Half made: run again without it.
                    netns = false;
                    report.note = Some(format!("retried without the network namespace: {why}"));
                    continue;
                }
                _ => {}
            }
            let ended = result?;
            match outcome {
                linux::NetnsOutcome::InForce => report.layers.push("netns"),
                linux::NetnsOutcome::Failed { .. } => {
                    missing.push(format!("netns ({})", outcome.describe()))
                }
                linux::NetnsOutcome::Unknown => missing.push("netns".to_string()),
            }
            report.layers.push("socket-filter");
            report.layers.push("no-capabilities");
            if code.trace.is_some() {
                report.layers.push("seccomp");
            }
            report.missing = missing;
            return Ok((ended, report));
        }
    }
    #[cfg(target_os = "macos")]
    {
        if !Path::new(seatbelt::SANDBOX_EXEC).exists() {
            let missing = vec![format!("seatbelt ({} not found)", seatbelt::SANDBOX_EXEC)];
            if require {
                return Err(refusal(&missing));
            }
            report.missing = missing;
            let ended = super::unix::run_with(
                build(&code.program, &code.args),
                None,
                code.attached.as_ref(),
            )?;
            return Ok((ended, report));
        }
        let args = seatbelt::command_args(&plan, &code.program, &code.args);
        let ended = super::unix::run_with(
            build(Path::new(seatbelt::SANDBOX_EXEC), &args),
            None,
            code.attached.as_ref(),
        )?;
        report.layers.push("seatbelt");
        return Ok((ended, report));
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let missing = vec![
            "file-system and network confinement (not available on this platform)".to_string(),
        ];
        if require {
            return Err(refusal(&missing));
        }
        report.missing = missing;
        // Through the usual launch (Job Object, process records): a launch
        // only sets variables, so the scrubbed ones are emptied (or, when a
        // project .npmrc refers to them, likewise empty).
        let mut env = code.env.clone();
        for k in &plan.env_remove {
            let _ = referenced(k);
            env.push((k.clone(), OsString::new()));
        }
        env.extend(plan.env_set.iter().cloned());
        let launch = super::Launch {
            program: code.program.clone(),
            arg0: None,
            args: code.args.clone(),
            env,
        };
        let ended = super::install_code::run_launch(&launch, code)?;
        Ok((ended, report))
    }
}

/// Prepares, ahead of [`run`], the part of a confined run that does not
/// depend on the run itself ([`Prepared`]), for the invocation's sandbox
/// context in enforce mode (nothing otherwise): a caller that knows what it
/// will confine (cargo's offline build) does it while it waits for
/// something else. `run` with the same program, project, writable paths and
/// tool caches then finds it ready.
pub fn prepare(code: &super::install_code::InstallCode) {
    let Some(cx) = current().filter(|c| c.mode == Mode::Enforce) else {
        return;
    };
    let vars = effective_env(&code.env);
    #[cfg(target_os = "linux")]
    let abi = linux::landlock_abi();
    #[cfg(not(target_os = "linux"))]
    let abi = 0;
    let _ = ready(code, &cx, &vars, abi);
}

/// The [`Ready`] part of a confined run: the invocation's, or made now.
fn ready(
    code: &super::install_code::InstallCode,
    cx: &Context,
    vars: &[(OsString, OsString)],
    #[cfg_attr(not(target_os = "linux"), allow(unused_variables))] abi: u32,
) -> crate::error::Result<Arc<Ready>> {
    use crate::error::Error;
    // The part that does not depend on this run's environment, shared by
    // the invocation's runs with the same program, directory and roots.
    let project = code.project.as_ref().unwrap_or(&code.cwd);
    let mut key = vec![code.program.clone(), project.clone()];
    key.extend(code.extra_write.iter().cloned());
    key.extend(tool_roots(cx, &code.program, project, vars));
    // One maker at a time: a run waits for the preparation under way
    // rather than make a second one.
    let _making = cx.prepared.1.lock();
    match cx.prepared.get(&key) {
        Some(r) => Ok(r),
        None => {
            let tmp = tempfile::Builder::new()
                .prefix("pkgward-sandbox-")
                .tempdir()
                .map_err(|e| Error::io("cannot create the sandbox's temp directory", e))?;
            let mut plan = plan(cx, &code.program, project, tmp.path(), vars);
            // What the command itself writes by design (created now so that they
            // can be granted; never a credential path).
            for p in &code.extra_write {
                if p.extension().is_some() {
                    if let Some(d) = p.parent() {
                        let _ = std::fs::create_dir_all(d);
                    }
                    let _ = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(p);
                } else {
                    let _ = std::fs::create_dir_all(p);
                }
                let deny = plan.deny_write.clone();
                cover(&resolved(p), &deny, &mut plan.write);
            }
            #[cfg(target_os = "linux")]
            let rules = linux::ruleset(&plan, abi).map_err(Error::Config)?;
            let r = Arc::new(Ready {
                key,
                tmp,
                plan,
                #[cfg(target_os = "linux")]
                rules,
            });
            cx.prepared.put(r.clone());
            Ok(r)
        }
    }
}

#[cfg(test)]
mod tests;
