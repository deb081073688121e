//! Where the packages of an install are read from, and how each source is
//! snapshotted cheaply: a lockfile is kept as bytes with its stat stamp and
//! parsed only when the stamp moved; a metadata directory is listed only
//! when its own stamp moved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::diff::{diff, Delta, Pkg};
use crate::lockfiles::{self, EntryKind, Format};
use crate::tools::Ecosystem;

/// The largest file a source reads (a lockfile, `.crates2.json`).
const MAX_FILE: u64 = 64 << 20;
/// At most this many entries of a metadata directory are read.
const MAX_LISTED: usize = 20_000;

/// One place the packages of an invocation are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A lockfile (present or not before the tool ran).
    Lockfile { path: PathBuf, format: Format },
    /// A Python environment's `site-packages` (its `*.dist-info`).
    DistInfo { dir: PathBuf },
    /// npm's global `node_modules` (each package's `package.json`).
    NpmGlobal { dir: PathBuf },
    /// cargo's install registry, `$CARGO_HOME/.crates2.json`.
    CargoInstall { home: PathBuf },
}

/// A file's identity and state: when it is unchanged, so is its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp(String);

pub fn stamp(path: &Path) -> Option<Stamp> {
    std::fs::metadata(path)
        .ok()
        .map(|m| Stamp(crate::record::hash::fingerprint(&m)))
}

/// What a source held.
#[derive(Clone, Debug)]
pub struct Taken {
    stamp: Option<Stamp>,
    state: State,
}

#[derive(Clone, Debug)]
enum State {
    /// The file's bytes (none: absent or too large).
    Bytes(Option<Vec<u8>>),
    /// Packages read from metadata.
    Pkgs(Vec<Pkg>),
}

impl Source {
    fn watched(&self) -> PathBuf {
        match self {
            Source::Lockfile { path, .. } => path.clone(),
            Source::DistInfo { dir } | Source::NpmGlobal { dir } => dir.clone(),
            Source::CargoInstall { home } => home.join(".crates2.json"),
        }
    }

    pub fn take(&self) -> Taken {
        let path = self.watched();
        let stamp = stamp(&path);
        let state = match self {
            Source::Lockfile { .. } | Source::CargoInstall { .. } => {
                State::Bytes(stamp.as_ref().and_then(|_| read_bounded(&path)))
            }
            Source::DistInfo { dir } => State::Pkgs(dist_infos(dir)),
            Source::NpmGlobal { dir } => State::Pkgs(npm_global(dir)),
        };
        Taken { stamp, state }
    }

    /// What changed from `before` to now. A source whose stamp did not move
    /// is not read again.
    pub fn changes(&self, before: &Taken) -> Vec<Delta> {
        let path = self.watched();
        let now = stamp(&path);
        if now == before.stamp {
            // npm's global directory: a package replaced in place keeps the
            // directory's stamp; its package.json shows it.
            if !matches!(self, Source::NpmGlobal { .. }) {
                return Vec::new();
            }
        }
        let after = Taken {
            state: match (&before.state, self) {
                (State::Bytes(_), _) => {
                    State::Bytes(now.as_ref().and_then(|_| read_bounded(&path)))
                }
                (State::Pkgs(_), Source::DistInfo { dir }) => State::Pkgs(dist_infos(dir)),
                (State::Pkgs(_), _) => State::Pkgs(npm_global(&path)),
            },
            stamp: now,
        };
        let (b, a) = (self.pkgs(&before.state), self.pkgs(&after.state));
        let mut deltas = diff(&b, &a);
        if let Source::DistInfo { dir } = self {
            for d in &mut deltas {
                if d.change != crate::record::package::Change::Removed {
                    direct_url(dir, &mut d.pkg);
                }
            }
        }
        deltas
    }

    fn pkgs(&self, state: &State) -> Vec<Pkg> {
        match (self, state) {
            (_, State::Pkgs(p)) => p.clone(),
            (_, State::Bytes(None)) => Vec::new(),
            (Source::Lockfile { path, format }, State::Bytes(Some(b))) => {
                let text = String::from_utf8_lossy(b);
                match lockfiles::parse(*format, path, &text) {
                    Ok(l) => {
                        let evidence = evidence(*format, path);
                        l.entries
                            .into_iter()
                            .filter(|e| e.kind != EntryKind::Workspace)
                            .map(|e| Pkg::from_entry(e, evidence, path))
                            .collect()
                    }
                    Err(_) => Vec::new(),
                }
            }
            (Source::CargoInstall { home }, State::Bytes(Some(b))) => crates2(home, b),
            _ => Vec::new(),
        }
    }
}

/// The evidence name of a lockfile format (`package-lock`, `cargo-lock`).
fn evidence(format: Format, path: &Path) -> &'static str {
    match format {
        Format::PackageLock
            if path
                .parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == "node_modules") =>
        {
            "npm-hidden-lockfile"
        }
        Format::PackageLock => "package-lock",
        Format::NpmShrinkwrap => "npm-shrinkwrap",
        Format::YarnLock => "yarn-lock",
        Format::PnpmLock => "pnpm-lock",
        Format::BunLock => "bun-lock",
        Format::UvLock => "uv-lock",
        Format::PoetryLock => "poetry-lock",
        Format::PipfileLock => "pipfile-lock",
        Format::CargoLock => "cargo-lock",
        Format::GoSum => "go-sum",
        Format::GemfileLock => "gemfile-lock",
        Format::NugetPackagesLock => "nuget-packages-lock",
    }
}

fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    let m = std::fs::metadata(path).ok()?;
    if !m.is_file() || m.len() > MAX_FILE {
        return None;
    }
    std::fs::read(path).ok()
}

/// `NAME-VERSION.dist-info` → (name, version). Wheel names escape `-` in
/// both parts, so the first `-` separates them.
pub fn parse_dist_info(dir_name: &str) -> Option<(String, String)> {
    let stem = dir_name.strip_suffix(".dist-info")?;
    let (name, version) = stem.split_once('-')?;
    (!name.is_empty() && !version.is_empty())
        .then(|| (crate::tools::pep503(name), version.to_string()))
}

/// The distributions installed in a `site-packages` directory (from the
/// `*.dist-info` directory names: one `readdir`, nothing opened).
fn dist_infos(dir: &Path) -> Vec<Pkg> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten().take(MAX_LISTED) {
        let name = e.file_name();
        let Some((n, v)) = name.to_str().and_then(parse_dist_info) else {
            continue;
        };
        out.push(Pkg {
            ecosystem: Ecosystem::Pypi,
            purl: lockfiles::purl(Ecosystem::Pypi, &n, &v),
            name: n,
            version: v,
            kind: EntryKind::Registry,
            resolved: None,
            integrity: Vec::new(),
            sha256: None,
            evidence: "dist-info".into(),
            path: Some(e.path()),
        });
    }
    out
}

/// Fills in what `direct_url.json` (PEP 610) says: the URL of a direct
/// install and its archive hash.
fn direct_url(_site: &Path, p: &mut Pkg) {
    let Some(file) = p.path.as_ref().map(|d| d.join("direct_url.json")) else {
        return;
    };
    let Some(bytes) = read_bounded(&file).filter(|b| b.len() < 1 << 20) else {
        return;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return;
    };
    if let Some(url) = v.get("url").and_then(|u| u.as_str()) {
        p.resolved = Some(url.to_string());
        p.kind = if url.starts_with("file:") {
            EntryKind::Path
        } else if v.get("vcs_info").is_some() {
            EntryKind::Git
        } else {
            EntryKind::Url
        };
    }
    let archive = v.get("archive_info");
    let hash = archive
        .and_then(|a| a.get("hashes"))
        .and_then(|h| h.get("sha256"))
        .and_then(|h| h.as_str())
        .map(str::to_string)
        .or_else(|| {
            archive
                .and_then(|a| a.get("hash"))
                .and_then(|h| h.as_str())
                .and_then(|h| h.strip_prefix("sha256="))
                .map(str::to_string)
        });
    if let Some(h) = hash.filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())) {
        p.sha256 = Some(h.to_ascii_lowercase());
    }
}

/// npm's global packages: `DIR/NAME/package.json` and
/// `DIR/@SCOPE/NAME/package.json`.
fn npm_global(dir: &Path) -> Vec<Pkg> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut dirs = Vec::new();
    for e in rd.flatten().take(MAX_LISTED) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if name.starts_with('@') {
            if let Ok(rd) = std::fs::read_dir(e.path()) {
                dirs.extend(rd.flatten().take(MAX_LISTED).map(|s| s.path()));
            }
        } else {
            dirs.push(e.path());
        }
    }
    dirs.sort();
    for d in dirs.into_iter().take(MAX_LISTED) {
        let pj = d.join("package.json");
        let Some(bytes) = read_bounded(&pj).filter(|b| b.len() < 4 << 20) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        let (Some(name), Some(version)) = (
            v.get("name").and_then(|n| n.as_str()),
            v.get("version").and_then(|n| n.as_str()),
        ) else {
            continue;
        };
        let mut integrity = Vec::new();
        if let Some(i) = v.get("_integrity").and_then(|i| i.as_str()) {
            integrity.extend(i.split_whitespace().filter_map(|sri| {
                let (alg, val) = sri.split_once('-')?;
                Some(lockfiles::Digest {
                    algorithm: alg.to_ascii_lowercase(),
                    value: val.to_string(),
                })
            }));
        }
        out.push(Pkg {
            ecosystem: Ecosystem::Npm,
            purl: lockfiles::purl(Ecosystem::Npm, name, version),
            name: name.to_string(),
            version: version.to_string(),
            kind: EntryKind::Registry,
            resolved: v
                .get("_resolved")
                .and_then(|r| r.as_str())
                .map(str::to_string),
            integrity,
            sha256: None,
            evidence: "npm-global".into(),
            path: Some(pj),
        });
    }
    out
}

/// `.crates2.json`: `installs` keyed `"NAME VERSION (SOURCE)"`. The sha256
/// of a registry crate is that of the `.crate` cargo kept in its cache.
fn crates2(home: &Path, bytes: &[u8]) -> Vec<Pkg> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Vec::new();
    };
    let Some(installs) = v.get("installs").and_then(|i| i.as_object()) else {
        return Vec::new();
    };
    let path = home.join(".crates2.json");
    let mut out = Vec::new();
    for key in installs.keys().take(MAX_LISTED) {
        let mut parts = key.splitn(3, ' ');
        let (Some(name), Some(version)) = (parts.next(), parts.next()) else {
            continue;
        };
        let source = parts
            .next()
            .and_then(|s| s.strip_prefix('('))
            .and_then(|s| s.strip_suffix(')'))
            .map(str::to_string);
        let kind = match source.as_deref() {
            Some(s) if s.starts_with("registry+") || s.starts_with("sparse+") => {
                EntryKind::Registry
            }
            Some(s) if s.starts_with("git+") => EntryKind::Git,
            Some(s) if s.starts_with("path+") => EntryKind::Path,
            _ => EntryKind::Registry,
        };
        out.push(Pkg {
            ecosystem: Ecosystem::Cargo,
            purl: lockfiles::purl(Ecosystem::Cargo, name, version),
            name: name.to_string(),
            version: version.to_string(),
            kind,
            resolved: source,
            integrity: Vec::new(),
            sha256: None,
            evidence: "cargo-install".into(),
            path: Some(path.clone()),
        });
    }
    out
}

/// The `.crate` cargo downloaded for `name`-`version`, in any registry's
/// cache under `$CARGO_HOME/registry/cache`.
pub fn cached_crate(home: &Path, name: &str, version: &str) -> Option<PathBuf> {
    let file = format!("{name}-{version}.crate");
    let rd = std::fs::read_dir(home.join("registry").join("cache")).ok()?;
    rd.flatten()
        .take(100)
        .map(|e| e.path().join(&file))
        .find(|p| p.is_file())
}

/// The lockfiles of `eco` a project directory may hold (present or not).
pub fn project_lockfiles(dir: &Path, eco: Ecosystem) -> Vec<Source> {
    let mut out: Vec<Source> = Format::ALL
        .iter()
        .filter(|f| f.ecosystem() == eco)
        .map(|f| Source::Lockfile {
            path: dir.join(f.file_name()),
            format: *f,
        })
        .collect();
    if eco == Ecosystem::Go {
        out.push(Source::Lockfile {
            path: dir.join("go.work.sum"),
            format: Format::GoSum,
        });
    }
    if eco == Ecosystem::Npm {
        out.push(Source::Lockfile {
            path: dir.join("node_modules").join(".package-lock.json"),
            format: Format::PackageLock,
        });
    }
    out
}

/// The project directory of an invocation in `cwd`: the nearest directory
/// up from `cwd` holding a lockfile or manifest of `eco`, else `cwd`.
pub fn project_dir(cwd: &Path, eco: Ecosystem) -> PathBuf {
    let manifests: &[&str] = match eco {
        Ecosystem::Npm => &["package.json"],
        Ecosystem::Pypi => &["pyproject.toml", "Pipfile"],
        Ecosystem::Cargo => &["Cargo.toml"],
        Ecosystem::Go => &["go.mod"],
        Ecosystem::Rubygems => &["Gemfile", "gems.rb"],
        _ => &[],
    };
    let locks: Vec<&str> = Format::ALL
        .iter()
        .filter(|f| f.ecosystem() == eco)
        .map(|f| f.file_name())
        .collect();
    // A lockfile wins (a workspace root above a member's manifest).
    for d in cwd.ancestors().take(12) {
        if locks.iter().any(|l| d.join(l).is_file()) {
            return d.to_path_buf();
        }
    }
    for d in cwd.ancestors().take(12) {
        if manifests.iter().any(|m| d.join(m).is_file()) {
            return d.to_path_buf();
        }
    }
    cwd.to_path_buf()
}

/// The `site-packages` (and `dist-packages`) directories under a Python
/// prefix: `PREFIX/lib*/python*/{site,dist}-packages`, `PREFIX/Lib/site-packages`.
pub fn site_dirs(prefix: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64", "local/lib"] {
        let Ok(rd) = std::fs::read_dir(prefix.join(lib)) else {
            continue;
        };
        let mut found: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
            .flat_map(|e| {
                [
                    e.path().join("site-packages"),
                    e.path().join("dist-packages"),
                ]
            })
            .filter(|p| p.is_dir())
            .collect();
        found.sort();
        out.extend(found);
    }
    let win = prefix.join("Lib").join("site-packages");
    if win.is_dir() {
        out.push(win);
    }
    let mut seen = BTreeMap::new();
    out.retain(|p| {
        let key = p.canonicalize().unwrap_or_else(|_| p.clone());
        seen.insert(key, ()).is_none()
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dist_info_names() {
        assert_eq!(
            parse_dist_info("Foo_Bar-1.0.post1.dist-info"),
            Some(("foo-bar".into(), "1.0.post1".into()))
        );
        assert_eq!(parse_dist_info("foo.dist-info"), None);
        assert_eq!(parse_dist_info("foo-1.0.egg-info"), None);
        assert_eq!(crate::tools::pep503("A.b__C"), "a-b-c");
    }

    #[test]
    fn lockfile_source_parses_only_when_changed() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("Cargo.lock");
        let src = Source::Lockfile {
            path: p.clone(),
            format: Format::CargoLock,
        };
        let before = src.take();
        assert!(src.changes(&before).is_empty());
        let lock = |v: &str, sum: &str| {
            format!(
                "version = 4\n[[package]]\nname = \"a\"\nversion = \"{v}\"\n\
                 source = \"registry+http://127.0.0.1/index\"\nchecksum = \"{sum}\"\n\
                 [[package]]\nname = \"me\"\nversion = \"0.1.0\"\n"
            )
        };
        std::fs::write(&p, lock("1.0.0", &"a".repeat(64))).unwrap();
        let d = src.changes(&before);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].pkg.name, "a");
        assert_eq!(d[0].pkg.sha256.as_deref(), Some("a".repeat(64).as_str()));
        assert_eq!(d[0].pkg.evidence, "cargo-lock");
        let before = src.take();
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(&p, lock("1.1.0", &"b".repeat(64))).unwrap();
        let d = src.changes(&before);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].previous_version.as_deref(), Some("1.0.0"));
    }

    #[test]
    fn dist_info_and_crates2_sources() {
        let t = tempfile::tempdir().unwrap();
        let site = t.path().join("site");
        std::fs::create_dir_all(site.join("old-1.0.dist-info")).unwrap();
        let src = Source::DistInfo { dir: site.clone() };
        let before = src.take();
        std::fs::remove_dir(site.join("old-1.0.dist-info")).unwrap();
        let new = site.join("New_Pkg-2.0.dist-info");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(
            new.join("direct_url.json"),
            format!(
                r#"{{"url":"http://127.0.0.1/x.whl","archive_info":{{"hashes":{{"sha256":"{}"}}}}}}"#,
                "C".repeat(64)
            ),
        )
        .unwrap();
        let d = src.changes(&before);
        let rows: Vec<_> = d
            .iter()
            .map(|d| (d.change, d.pkg.name.as_str(), d.pkg.sha256.clone()))
            .collect();
        use crate::record::package::Change::*;
        assert_eq!(
            rows,
            [
                (Added, "new-pkg", Some("c".repeat(64))),
                (Removed, "old", None)
            ]
        );
        assert_eq!(d[0].pkg.resolved.as_deref(), Some("http://127.0.0.1/x.whl"));

        let home = t.path().join("cargo");
        std::fs::create_dir_all(home.join("registry/cache/idx")).unwrap();
        let src = Source::CargoInstall { home: home.clone() };
        let before = src.take();
        std::fs::write(
            home.join(".crates2.json"),
            r#"{"installs":{"tool 1.2.3 (sparse+http://127.0.0.1/cargo/)":{"bins":["tool"]}}}"#,
        )
        .unwrap();
        let d = src.changes(&before);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].pkg.purl, "pkg:cargo/tool@1.2.3");
        assert_eq!(
            d[0].pkg.resolved.as_deref(),
            Some("sparse+http://127.0.0.1/cargo/")
        );
        std::fs::write(home.join("registry/cache/idx/tool-1.2.3.crate"), "c").unwrap();
        assert!(cached_crate(&home, "tool", "1.2.3").is_some());
    }
}
