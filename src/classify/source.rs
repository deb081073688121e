//! What a classifier finds: the registry sources an invocation can use, each
//! with where it came from.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

/// Where a setting came from: a flag, an environment variable, a line of a
/// file, or the tool's built-in default.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Origin {
    Flag {
        flag: String,
    },
    /// A positional argument (a package spec).
    Argument {
        arg: String,
    },
    Env {
        var: String,
    },
    File {
        /// Shared: a lockfile yields thousands of origins in one file.
        #[serde(serialize_with = "path_str")]
        path: Arc<Path>,
        line: usize,
    },
    Builtin,
}

impl Origin {
    pub fn flag(f: impl Into<String>) -> Origin {
        Origin::Flag { flag: f.into() }
    }
    pub fn arg(a: impl Into<String>) -> Origin {
        Origin::Argument { arg: a.into() }
    }
    pub fn env(v: impl Into<String>) -> Origin {
        Origin::Env { var: v.into() }
    }
    /// A line of a file. Consecutive origins in the same file share one
    /// copy of its path.
    pub fn file(p: &Path, line: usize) -> Origin {
        thread_local! {
            static LAST: std::cell::RefCell<Option<Arc<Path>>> = const { std::cell::RefCell::new(None) };
        }
        let path = LAST.with(|last| {
            let mut last = last.borrow_mut();
            match last.as_ref() {
                Some(a) if **a == *p => a.clone(),
                _ => {
                    let a: Arc<Path> = Arc::from(p);
                    *last = Some(a.clone());
                    a
                }
            }
        });
        Origin::File { path, line }
    }
}

fn path_str<S: serde::Serializer>(p: &Arc<Path>, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&**p, s)
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag { flag } => write!(f, "the command-line flag {flag}"),
            Origin::Argument { arg } => write!(f, "the command-line argument `{arg}`"),
            Origin::Env { var } => write!(f, "the environment variable {var}"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Builtin => f.write_str("the tool's built-in default"),
        }
    }
}

/// The role a source plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// The primary registry/index.
    Registry,
    /// A registry for one scope (`@scope:registry`).
    ScopeRegistry,
    /// An additional index consulted besides the primary (dependency confusion).
    ExtraIndex,
    /// A page or directory of links to artifacts (`--find-links`).
    FindLinks,
    /// A direct artifact URL (tarball, wheel, crate) named on the command line or in a manifest.
    Direct,
    /// A git repository (`git+https://…`, `github:user/repo`).
    Git,
    /// A local path (`./pkg`, `file:…`): no registry involved; recorded.
    Path,
    /// A URL recorded in a lockfile that the tool will fetch from.
    Locked,
    /// A setting that weakens verification or transport (`--trusted-host`, `GOINSECURE`…).
    Insecure,
    /// A setting that makes the "tool" run other code (`yarnPath`).
    Executable,
}

/// The subject of a [`Source::unreadable`] source.
pub const UNREADABLE: &str = "(unreadable file)";

/// One place the invocation can fetch from (or a dangerous modifier).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Source {
    pub kind: SourceKind,
    /// The URL, spec or value as written (redact before display).
    pub value: String,
    pub origin: Origin,
    /// What it is about: the setting name (`registry`, `@acme:registry`,
    /// `index-url`), or the package a direct spec is for.
    pub subject: String,
    /// Whether a value pkgward sets in the tool's environment takes
    /// precedence over this one (config files, the environment, npm's
    /// lockfile hosts) — so a `[mirrors]` entry can replace it. Command-line
    /// flags, direct specs and requirement files cannot be overridden.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub overridable: bool,
}

impl Source {
    pub fn new(
        kind: SourceKind,
        value: impl Into<String>,
        origin: Origin,
        subject: impl Into<String>,
    ) -> Source {
        Source {
            kind,
            value: value.into(),
            origin,
            subject: subject.into(),
            overridable: false,
        }
    }

    /// Marks the source as one an environment setting overrides.
    pub fn overridable(mut self) -> Source {
        self.overridable = true;
        self
    }

    /// A config file the tool reads but pkgward cannot parse: it may set
    /// anything, so it is denied like a weakening setting.
    pub fn unreadable(path: &Path, line: usize, why: &str) -> Source {
        Source::new(
            SourceKind::Insecure,
            why.chars().take(200).collect::<String>(),
            Origin::file(path, line),
            UNREADABLE,
        )
    }

    /// `(builtin)` sources stand for the tool's own default registry.
    pub fn is_builtin(&self) -> bool {
        self.origin == Origin::Builtin && self.value == "builtin"
    }
}

/// Read access to the environment, injected so classifiers stay pure.
pub trait Env {
    fn get(&self, key: &str) -> Option<String>;
    /// Every variable (for case-insensitive families such as `npm_config_*`).
    fn vars(&self) -> Vec<(String, String)>;
}

/// Read access to files, injected so classifiers stay pure.
pub trait Files {
    fn read(&self, path: &Path) -> Option<String>;
    fn exists(&self, path: &Path) -> bool;
    /// The names of the directories in `dir` (symbolic links to
    /// directories included), in no particular order; empty when it cannot
    /// be listed.
    fn subdirs(&self, _dir: &Path) -> Vec<String> {
        Vec::new()
    }
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
    fn vars(&self) -> Vec<(String, String)> {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect()
    }
}

/// An environment given as a list (a child's), the last setting winning.
pub struct VarsEnv<'a>(pub &'a [(std::ffi::OsString, std::ffi::OsString)]);

impl Env for VarsEnv<'_> {
    fn get(&self, key: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.to_str().map(str::to_string))
    }
    fn vars(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in self.0 {
            let (Some(k), Some(v)) = (k.to_str(), v.to_str()) else {
                continue;
            };
            out.retain(|(n, _)| n != k);
            out.push((k.to_string(), v.to_string()));
        }
        out
    }
}

/// The real file system. Reads are capped so a hostile file cannot make the
/// shim slow or exhaust memory.
pub struct RealFiles;

/// Files larger than this are not read by classifiers (lockfiles included).
pub const MAX_FILE: u64 = 64 * 1024 * 1024;

impl Files for RealFiles {
    fn read(&self, path: &Path) -> Option<String> {
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_file() || meta.len() > MAX_FILE {
            return None;
        }
        std::fs::read_to_string(path).ok()
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn subdirs(&self, dir: &Path) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        rd.filter_map(|e| e.ok())
            .filter(|e| std::fs::metadata(e.path()).is_ok_and(|m| m.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()
    }
}

/// In-memory environment and files for table tests.
/// A location that names a folder on another machine, as the URL the tool
/// fetches it from: a UNC path (`\\host\share\feed`, `\\?\UNC\host\…`,
/// `\\.\UNC\host\…`; on Windows also `//host/share`) or a `file://host/…`
/// URL becomes `file://host/share/feed`. Windows reads such a "folder"
/// over the network (SMB, or WebDAV over HTTPS for `host@SSL@443`), so it is
/// a registry to approve, not a local path: an approval names it as
/// `file://host/share/`. A device path that is neither a drive nor UNC
/// (`\\?\GLOBALROOT\…`) comes back as written, which no approval matches.
/// `None` for local paths (`C:\feed`, `\\?\C:\feed`, `file:///C:/feed`,
/// `file://localhost/…`, relative folders). `windows`: whether `/` separates
/// like `\` (the tool runs on Windows).
pub fn network_path(v: &str, windows: bool) -> Option<String> {
    let t = v.trim().trim_matches('"');
    let lower = t.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("file://") {
        let rest = &t[t.len() - rest.len()..];
        let host = rest.split(['/', '\\']).next().unwrap_or("");
        if host.is_empty() || host.eq_ignore_ascii_case("localhost") {
            return None;
        }
        return Some(format!("file://{}", rest.replace('\\', "/")));
    }
    let sep = |c: u8| c == b'\\' || (windows && c == b'/');
    let b = t.as_bytes();
    if b.len() < 3 || !sep(b[0]) || !sep(b[1]) {
        return None;
    }
    let rest = &t[2..];
    let unc = if rest.starts_with(['?', '.']) && rest.as_bytes().get(1).copied().is_some_and(sep) {
        // A Win32 device path: a drive, `UNC\host\…`, or something else.
        let dev = &rest[2..];
        let d = dev.as_bytes();
        if d.len() >= 2 && d[0].is_ascii_alphabetic() && d[1] == b':' {
            return None;
        }
        if d.len() > 4 && dev[..3].eq_ignore_ascii_case("unc") && sep(d[3]) {
            &dev[4..]
        } else {
            return Some(t.to_string());
        }
    } else {
        rest
    };
    let path: String = unc
        .chars()
        .map(|c| if c == '\\' { '/' } else { c })
        .collect();
    if path.is_empty() || path.starts_with('/') {
        // `\\\\\\x`: no host; not a local path either.
        return Some(t.to_string());
    }
    Some(format!("file://{path}"))
}

/// Turns every source that is a folder on another machine (see
/// [`network_path`]) into the registry it is, with the URL it is checked as.
pub fn network_paths(sources: &mut [Source], windows: bool) {
    for s in sources.iter_mut() {
        if !matches!(
            s.kind,
            SourceKind::Path | SourceKind::Registry | SourceKind::ExtraIndex
        ) {
            continue;
        }
        if let Some(url) = network_path(&s.value, windows) {
            if s.kind == SourceKind::Path {
                s.kind = SourceKind::Registry;
            }
            s.subject = format!("{} (the network path {})", s.subject, s.value);
            s.value = url;
        }
    }
}

#[cfg(test)]
pub mod fake {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    #[derive(Default)]
    pub struct FakeEnv(pub BTreeMap<String, String>);
    impl Env for FakeEnv {
        fn get(&self, key: &str) -> Option<String> {
            self.0.get(key).cloned()
        }
        fn vars(&self) -> Vec<(String, String)> {
            self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        }
    }

    #[derive(Default)]
    pub struct FakeFiles(pub BTreeMap<PathBuf, String>);
    impl Files for FakeFiles {
        fn read(&self, path: &Path) -> Option<String> {
            self.0.get(path).cloned()
        }
        fn exists(&self, path: &Path) -> bool {
            self.0.contains_key(path) || self.0.keys().any(|k| k.starts_with(path))
        }
        fn subdirs(&self, dir: &Path) -> Vec<String> {
            let mut v: Vec<String> = self
                .0
                .keys()
                .filter_map(|k| k.strip_prefix(dir).ok())
                .filter(|rest| rest.components().count() > 1)
                .filter_map(|rest| rest.components().next())
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v.dedup();
            v
        }
    }
}

#[cfg(test)]
mod network_path_tests {
    use super::network_path;

    #[test]
    fn table() {
        let cases: &[(&str, bool, Option<&str>)] = &[
            (
                r"\\evil.test\share\feed",
                false,
                Some("file://evil.test/share/feed"),
            ),
            (
                r"\\evil.test\share\feed",
                true,
                Some("file://evil.test/share/feed"),
            ),
            (r"\\10.0.0.5\nuget", true, Some("file://10.0.0.5/nuget")),
            (
                r"\\evil.test@SSL@443\DavWWWRoot\f",
                true,
                Some("file://evil.test@SSL@443/DavWWWRoot/f"),
            ),
            ("//evil.test/share", true, Some("file://evil.test/share")),
            (r"/\evil.test\share", true, Some("file://evil.test/share")),
            ("//srv/share", false, None),
            (r"\\?\UNC\evil.test\s\f", true, Some("file://evil.test/s/f")),
            (r"\\.\unc\evil.test\s", true, Some("file://evil.test/s")),
            (r"\\?\C:\feeds", true, None),
            (r"\\.\C:\feeds", true, None),
            (
                r"\\?\GLOBALROOT\Device\Mup\evil.test\s",
                true,
                Some(r"\\?\GLOBALROOT\Device\Mup\evil.test\s"),
            ),
            (
                "file://evil.test/share/feed",
                false,
                Some("file://evil.test/share/feed"),
            ),
            (
                r"FILE://evil.test\share",
                true,
                Some("file://evil.test/share"),
            ),
            ("file:///C:/feeds", true, None),
            ("file://localhost/C:/feeds", true, None),
            (r"C:\feeds", true, None),
            (r"..\feeds", true, None),
            ("/srv/feeds", false, None),
            ("https://evil.test/v3/index.json", true, None),
            (r"\\", true, None),
            (r"\\\x", true, Some(r"\\\x")),
            ("", true, None),
            ("\"\\\\evil.test\\s\"", true, Some("file://evil.test/s")),
        ];
        for (v, windows, want) in cases {
            assert_eq!(
                network_path(v, *windows).as_deref(),
                *want,
                "{v} (windows: {windows})"
            );
        }
    }
}
