//! Provenance: which packages an invocation added, changed or removed, from
//! where and with which hashes — the record stage of the pipeline for
//! verbs that install, update or remove.
//!
//! Before the tool runs, each [`Source`] of the invocation is taken
//! (a lockfile's bytes and stat stamp, a metadata directory's listing);
//! after it ran (and after approved install code ran), each is compared
//! with its state before — a source whose stamp did not move is not read
//! again, and lockfiles are parsed only when they changed. The differences
//! become `package` records ([`crate::record::package::PackageRecord`]);
//! artifacts the egress proxy hashed fill in the sha256 of the packages
//! whose download they were.
//!
//! Sources by tool: the project's lockfiles of the tool's ecosystem
//! (npm's `node_modules/.package-lock.json` included); pip: the target
//! environment's `*.dist-info` (the environment is found from the real pip
//! — a venv's `bin/pip`, or its interpreter's prefix — without starting
//! Python); `npm -g`: the global `node_modules`; `cargo install`:
//! `$CARGO_HOME/.crates2.json` with the `.crate` cargo kept.
//!
//! [`bin_roots`] names the directories where executables the invocation
//! writes are recorded (see [`crate::supervise::watch`]).

pub mod diff;
pub mod sources;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::record::package::{ArtifactRecord, Change, PackageRecord};
use crate::record::redact;
use crate::supervise::watch::Root;
use crate::tools::{Ecosystem, Tool};

pub use diff::{Delta, Pkg};
pub use sources::Source;

/// What the shim knows when it plans the snapshot.
pub struct Ctx<'a> {
    pub tool: Tool,
    pub args: &'a [String],
    pub cwd: &'a Path,
    /// The real tool about to run.
    pub real: &'a Path,
    pub home: Option<&'a Path>,
    pub env: &'a dyn Fn(&str) -> Option<OsString>,
}

/// The sources of one invocation and their state before it ran.
pub struct Before {
    taken: Vec<(Source, sources::Taken)>,
    cargo_home: Option<PathBuf>,
}

/// The sources to snapshot for an invocation.
pub fn sources(cx: &Ctx<'_>) -> Vec<Source> {
    let eco = cx.tool.ecosystem;
    let args: Vec<&str> = cx.args.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    match (cx.tool.name, eco) {
        ("npm", _) if npm_global(&args) => {
            if let Some(p) = npm_prefix(cx, &args) {
                out.push(Source::NpmGlobal {
                    dir: npm_global_modules(&p),
                });
            }
        }
        ("cargo", _) if cargo_sub(&args).is_some_and(|s| s == "install" || s == "uninstall") => {
            if let Some(h) = cargo_home(cx) {
                out.push(Source::CargoInstall { home: h });
            }
        }
        ("pip" | "pip3", _) => {
            for dir in pip_site_dirs(cx, &args) {
                out.push(Source::DistInfo { dir });
            }
        }
        (_, Ecosystem::Pypi) => {
            let dir = sources::project_dir(cx.cwd, eco);
            out.extend(sources::project_lockfiles(&dir, eco));
            let venv = (cx.env)("VIRTUAL_ENV")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .unwrap_or_else(|| dir.join(".venv"));
            out.extend(
                sources::site_dirs(&venv)
                    .into_iter()
                    .map(|dir| Source::DistInfo { dir }),
            );
        }
        _ => {
            let dir = sources::project_dir(cx.cwd, eco);
            out.extend(sources::project_lockfiles(&dir, eco));
        }
    }
    out
}

/// Takes every source before the tool runs.
pub fn before(cx: &Ctx<'_>) -> Before {
    let taken = sources(cx)
        .into_iter()
        .map(|s| {
            let t = s.take();
            (s, t)
        })
        .collect();
    Before {
        taken,
        cargo_home: cargo_home(cx),
    }
}

/// Compares every source with its state before, fills hashes from the
/// proxy's artifacts, and returns the `package` records.
pub fn after(b: &Before, invocation_id: &str, artifacts: &[ArtifactRecord]) -> Vec<PackageRecord> {
    let per_source: Vec<Vec<Delta>> = b.taken.iter().map(|(s, t)| s.changes(t)).collect();
    let mut deltas = diff::merge(per_source);
    for d in &mut deltas {
        if d.change == Change::Removed {
            continue;
        }
        if d.pkg.evidence == "cargo-install" && d.pkg.sha256.is_none() {
            if let Some(f) = b
                .cargo_home
                .as_deref()
                .and_then(|h| sources::cached_crate(h, &d.pkg.name, &d.pkg.version))
            {
                d.pkg.sha256 = crate::record::hash::sha256_file(&f).ok();
            }
        }
        fill_from_artifacts(&mut d.pkg, artifacts);
    }
    let time = crate::record::now_rfc3339();
    deltas
        .into_iter()
        .map(|d| PackageRecord {
            kind: "package",
            invocation_id: invocation_id.to_string(),
            time: time.clone(),
            change: d.change,
            ecosystem: d.pkg.ecosystem,
            name: d.pkg.name,
            version: d.pkg.version,
            previous_version: d.previous_version.filter(|_| d.change == Change::Changed),
            purl: d.pkg.purl,
            source_kind: d.pkg.kind,
            resolved: d.pkg.resolved.map(|r| redact::redact_urls(&r).into_owned()),
            integrity: d.pkg.integrity,
            sha256: d.pkg.sha256,
            evidence: d.pkg.evidence,
            path: d.pkg.path,
        })
        .collect()
}

/// A URL for comparison: no query, fragment or credentials; `sparse+`
/// and `git+` prefixes kept.
fn url_key(u: &str) -> Option<String> {
    let mut url = url::Url::parse(u).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(url.to_string())
}

/// The artifact a package was fetched as: the one at its resolved URL, else
/// one whose file name is the package's (a registry download named after
/// the package and version).
pub fn fill_from_artifacts(p: &mut Pkg, artifacts: &[ArtifactRecord]) {
    let complete = || {
        artifacts
            .iter()
            .filter(|a| a.sha256.is_some() && (200..300).contains(&a.status))
    };
    let key = p.resolved.as_deref().and_then(url_key);
    let exact = key
        .as_ref()
        .and_then(|k| complete().find(|a| url_key(&a.url).as_ref() == Some(k)));
    let found = exact.or_else(|| complete().find(|a| names_package(&a.url, p)));
    let Some(a) = found else { return };
    if p.sha256.is_none() {
        p.sha256 = a.sha256.clone();
    }
    let is_http = p
        .resolved
        .as_deref()
        .is_some_and(|r| r.starts_with("http://") || r.starts_with("https://"));
    if !is_http {
        p.resolved = Some(a.url.clone());
    }
}

/// Whether a download URL's path names `p` (its file name or, for cargo,
/// its `NAME/VERSION/download` path).
fn names_package(url: &str, p: &Pkg) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let path = u.path();
    let segs: Vec<&str> = path.split('/').collect();
    let file = segs.last().copied().unwrap_or("");
    match p.ecosystem {
        Ecosystem::Npm => {
            let base = p.name.rsplit('/').next().unwrap_or(&p.name);
            let scoped_ok = match p.name.split_once('/') {
                Some((scope, _)) => path.contains(scope),
                None => true,
            };
            file == format!("{base}-{}.tgz", p.version) && scoped_ok
        }
        Ecosystem::Pypi => {
            let stem = file
                .strip_suffix(".whl")
                .or_else(|| file.strip_suffix(".tar.gz"))
                .or_else(|| file.strip_suffix(".zip"));
            let Some(stem) = stem else { return false };
            let Some((name, rest)) = stem.split_once('-') else {
                return false;
            };
            let version = rest.split('-').next().unwrap_or("");
            crate::tools::pep503(name) == crate::tools::pep503(&p.name)
                && (version == p.version
                    || matches!(
                        (
                            version.parse::<pep440_rs::Version>(),
                            p.version.parse::<pep440_rs::Version>()
                        ),
                        (Ok(x), Ok(y)) if x == y
                    ))
        }
        Ecosystem::Cargo => {
            file == format!("{}-{}.crate", p.name, p.version)
                || (segs.len() >= 3
                    && file == "download"
                    && segs[segs.len() - 2] == p.version
                    && segs[segs.len() - 3] == p.name)
        }
        _ => false,
    }
}

/// Where the executables an install writes go, for this invocation: the
/// project's `node_modules/.bin`, the environment's `bin`, the npm global
/// prefix's bin, `$CARGO_HOME/bin`, `~/.local/bin`, then every PATH
/// directory (depth 1 each: programs are not nested there). Each
/// directory once, under the first name it is given.
pub fn bin_roots(cx: &Ctx<'_>) -> Vec<Root> {
    let args: Vec<&str> = cx.args.iter().map(String::as_str).collect();
    let mut dirs: Vec<PathBuf> = Vec::new();
    if cx.tool.ecosystem == Ecosystem::Npm {
        let d = sources::project_dir(cx.cwd, Ecosystem::Npm);
        dirs.push(d.join("node_modules").join(".bin"));
        if cx.tool.name == "npm" && npm_global(&args) {
            if let Some(p) = npm_prefix(cx, &args) {
                dirs.push(if cfg!(windows) { p } else { p.join("bin") });
            }
        }
    }
    if matches!(cx.tool.name, "pip" | "pip3") {
        if let Some(prefix) = python_prefix(cx.real) {
            dirs.push(prefix.join(if cfg!(windows) { "Scripts" } else { "bin" }));
        }
    }
    if cx.tool.ecosystem == Ecosystem::Pypi {
        if let Some(v) = (cx.env)("VIRTUAL_ENV").map(PathBuf::from) {
            dirs.push(v.join(if cfg!(windows) { "Scripts" } else { "bin" }));
        }
    }
    if let Some(h) = cargo_home(cx) {
        dirs.push(h.join("bin"));
    }
    if let Some(h) = cx.home {
        dirs.push(h.join(".local").join("bin"));
    }
    if let Some(path) = (cx.env)("PATH") {
        dirs.extend(std::env::split_paths(&path).take(64));
    }
    // One scan per directory: a PATH naming it twice, or under another
    // name (`/bin` → `usr/bin`), adds nothing but a second listing; the
    // first spelling is the one recorded.
    let mut seen = std::collections::HashSet::new();
    let mut roots: Vec<Root> = Vec::new();
    for d in dirs {
        if !d.is_absolute() {
            continue;
        }
        let key = d.canonicalize().unwrap_or_else(|_| d.clone());
        if seen.insert(key) {
            roots.push(Root { path: d, depth: 1 });
        }
    }
    roots
}

/// Commands that only remove packages and that the classifier does not
/// count as installs (nothing is fetched): `cargo uninstall`.
pub fn removes(tool: Tool, args: &[String]) -> bool {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tool.name == "cargo" && cargo_sub(&args) == Some("uninstall")
}

fn npm_global(args: &[&str]) -> bool {
    args.iter().any(|a| {
        matches!(
            *a,
            "-g" | "--global" | "--location=global" | "--global=true"
        )
    }) || args
        .windows(2)
        .any(|w| w[0] == "--location" && w[1] == "global")
}

/// npm's global prefix: `--prefix`, `npm_config_prefix`, `prefix=` in the
/// user's `.npmrc`, else where the real npm is installed
/// (`PREFIX/lib/node_modules/npm`, Windows `PREFIX\node_modules\npm`).
fn npm_prefix(cx: &Ctx<'_>, args: &[&str]) -> Option<PathBuf> {
    let abs = |p: PathBuf| if p.is_absolute() { p } else { cx.cwd.join(p) };
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--prefix=") {
            return Some(abs(PathBuf::from(v)));
        }
        if *a == "--prefix" {
            return args.get(i + 1).map(|v| abs(PathBuf::from(v)));
        }
    }
    for k in ["npm_config_prefix", "NPM_CONFIG_PREFIX"] {
        if let Some(v) = (cx.env)(k).filter(|v| !v.is_empty()) {
            return Some(abs(PathBuf::from(v)));
        }
    }
    let rc = (cx.env)("npm_config_userconfig")
        .or_else(|| (cx.env)("NPM_CONFIG_USERCONFIG"))
        .map(PathBuf::from)
        .or_else(|| cx.home.map(|h| h.join(".npmrc")));
    if let Some(text) = rc.and_then(|p| std::fs::read_to_string(p).ok()) {
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == "prefix" && !v.trim().is_empty() {
                    let v = v.trim().trim_matches('"');
                    let v = match (v.strip_prefix("~/"), cx.home) {
                        (Some(rest), Some(h)) => h.join(rest),
                        _ => PathBuf::from(v),
                    };
                    return Some(abs(v));
                }
            }
        }
    }
    let real = cx.real.canonicalize().ok()?;
    let nm = real
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "node_modules"))?;
    let parent = nm.parent()?;
    Some(
        if parent.file_name().is_some_and(|n| n == "lib") && !cfg!(windows) {
            parent.parent()?.to_path_buf()
        } else {
            parent.to_path_buf()
        },
    )
}

fn npm_global_modules(prefix: &Path) -> PathBuf {
    if cfg!(windows) {
        prefix.join("node_modules")
    } else {
        prefix.join("lib").join("node_modules")
    }
}

/// The cargo subcommand (first argument that is not an option or `+toolchain`).
fn cargo_sub<'a>(args: &[&'a str]) -> Option<&'a str> {
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
            continue;
        }
        if matches!(*a, "--config" | "-Z" | "-C" | "--color") {
            skip = true;
            continue;
        }
        if a.starts_with('-') || a.starts_with('+') {
            continue;
        }
        return Some(a);
    }
    None
}

fn cargo_home(cx: &Ctx<'_>) -> Option<PathBuf> {
    (cx.env)("CARGO_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| cx.home.map(|h| h.join(".cargo")))
}

/// The prefix of the Python environment a pip belongs to: a venv's root
/// when the pip is in its `bin` (`pyvenv.cfg` next to it), else the prefix
/// of the interpreter named in the pip script's `#!` line.
pub fn python_prefix(pip: &Path) -> Option<PathBuf> {
    let venv = |bin: &Path| {
        let root = bin.parent()?;
        root.join("pyvenv.cfg")
            .is_file()
            .then(|| root.to_path_buf())
    };
    if let Some(r) = pip.parent().and_then(venv) {
        return Some(r);
    }
    // The interpreter in the first line (`#!/prefix/bin/python3.11`).
    let mut head = [0u8; 512];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(pip).ok()?;
        f.read(&mut head).ok()?
    };
    let line = head[..n].split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line.strip_prefix(b"#!")?).ok()?.trim();
    let interp = PathBuf::from(line.split_whitespace().next()?);
    let name = interp.file_name()?.to_string_lossy().to_string();
    if !name.starts_with("python") || !interp.is_absolute() {
        return None;
    }
    let bin = interp.parent()?;
    venv(bin).or_else(|| bin.parent().map(Path::to_path_buf))
}

/// The `site-packages` a pip invocation installs into or removes from:
/// `--target`, `--prefix`, else the environment's (and the user site
/// outside a venv).
fn pip_site_dirs(cx: &Ctx<'_>, args: &[&str]) -> Vec<PathBuf> {
    let abs = |p: &str| {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            cx.cwd.join(p)
        }
    };
    for (i, a) in args.iter().enumerate() {
        let val = |flag: &str| {
            a.strip_prefix(&format!("{flag}="))
                .or_else(|| (*a == flag).then(|| args.get(i + 1).copied()).flatten())
        };
        if let Some(t) = val("--target").or_else(|| val("-t")) {
            return vec![abs(t)];
        }
        if let Some(p) = val("--prefix") {
            return sources::site_dirs(&abs(p));
        }
    }
    let prefix = python_prefix(cx.real);
    let mut out = prefix
        .as_deref()
        .map(sources::site_dirs)
        .unwrap_or_default();
    let in_venv = prefix
        .as_ref()
        .is_some_and(|p| p.join("pyvenv.cfg").is_file());
    if !in_venv {
        if let Some(h) = cx.home {
            out.extend(sources::site_dirs(&h.join(".local")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lockfiles::EntryKind;

    fn art(url: &str, sha: &str) -> ArtifactRecord {
        ArtifactRecord {
            kind: "artifact",
            invocation_id: "i".into(),
            time: "t".into(),
            url: url.into(),
            host: "127.0.0.1".into(),
            port: 80,
            method: "GET".into(),
            status: 200,
            content_type: None,
            size: 1,
            sha256: Some(sha.into()),
        }
    }

    fn pkg(eco: Ecosystem, name: &str, version: &str, resolved: Option<&str>) -> Pkg {
        Pkg {
            ecosystem: eco,
            name: name.into(),
            version: version.into(),
            purl: String::new(),
            kind: EntryKind::Registry,
            resolved: resolved.map(String::from),
            integrity: Vec::new(),
            sha256: None,
            evidence: "x".into(),
            path: None,
        }
    }

    #[test]
    fn artifacts_fill_hashes() {
        let arts = [
            art("http://127.0.0.1:1/npm/@s/a/-/a-1.0.0.tgz", "s1"),
            art(
                "http://127.0.0.1:1/pypi/files/Foo_Bar-2.0-py3-none-any.whl",
                "s2",
            ),
            art("http://127.0.0.1:1/cargo/dl/krate/0.1.0/download", "s3"),
            art("http://127.0.0.1:1/npm/b/-/b-1.0.0.tgz", "s4"),
        ];
        let cases = [
            (
                pkg(
                    Ecosystem::Npm,
                    "b",
                    "1.0.0",
                    Some("http://u:p@127.0.0.1:1/npm/b/-/b-1.0.0.tgz?x=1"),
                ),
                Some("s4"),
            ),
            (pkg(Ecosystem::Npm, "@s/a", "1.0.0", None), Some("s1")),
            (pkg(Ecosystem::Npm, "a", "1.0.0", None), Some("s1")),
            (pkg(Ecosystem::Npm, "@t/a", "1.0.0", None), None),
            (pkg(Ecosystem::Npm, "b", "1.0.1", None), None),
            (pkg(Ecosystem::Pypi, "foo-bar", "2.0", None), Some("s2")),
            (pkg(Ecosystem::Pypi, "foo-bar", "2.0.0", None), Some("s2")),
            (pkg(Ecosystem::Pypi, "foo", "2.0", None), None),
            (
                pkg(
                    Ecosystem::Cargo,
                    "krate",
                    "0.1.0",
                    Some("sparse+http://127.0.0.1:1/cargo/"),
                ),
                Some("s3"),
            ),
            (pkg(Ecosystem::Cargo, "krate", "0.1.1", None), None),
        ];
        for (mut p, want) in cases {
            fill_from_artifacts(&mut p, &arts);
            assert_eq!(p.sha256.as_deref(), want, "{p:?}");
        }
        // A body cut short or an error page is not the package.
        let mut p = pkg(Ecosystem::Npm, "b", "1.0.0", None);
        let mut bad = art("http://127.0.0.1:1/npm/b/-/b-1.0.0.tgz", "x");
        bad.status = 404;
        fill_from_artifacts(&mut p, &[bad]);
        assert_eq!(p.sha256, None);
    }

    #[test]
    fn python_prefix_from_venv_or_shebang() {
        let t = tempfile::tempdir().unwrap();
        let venv = t.path().join("venv");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::fs::write(venv.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        std::fs::write(venv.join("bin/pip"), "#!/elsewhere/python\n").unwrap();
        assert_eq!(python_prefix(&venv.join("bin/pip")), Some(venv.clone()));
        let other = t.path().join("wrapper/pip");
        std::fs::create_dir_all(other.parent().unwrap()).unwrap();
        std::fs::write(&other, format!("#!{}/bin/python3 -E\n", venv.display())).unwrap();
        assert_eq!(python_prefix(&other), Some(venv.clone()));
        std::fs::write(&other, "#!/opt/py/bin/python3.12\n").unwrap();
        assert_eq!(python_prefix(&other), Some(PathBuf::from("/opt/py")));
        std::fs::write(&other, "#!/bin/sh\nexec python -m pip\n").unwrap();
        assert_eq!(python_prefix(&other), None);
    }

    #[cfg(unix)]
    #[test]
    fn bin_roots_scan_each_directory_once() {
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("usr/bin");
        std::fs::create_dir_all(&real).unwrap();
        std::os::unix::fs::symlink("usr/bin", t.path().join("bin")).unwrap();
        let path = std::env::join_paths([&real, &t.path().join("bin"), &real]).unwrap();
        let env = move |k: &str| (k == "PATH").then(|| path.clone());
        let a = vec!["ci".to_string()];
        let cx = Ctx {
            tool: crate::tools::Tool::by_name("gem").unwrap(),
            args: &a,
            cwd: t.path(),
            real: Path::new("/nonexistent/gem"),
            home: None,
            env: &env,
        };
        let roots: Vec<PathBuf> = bin_roots(&cx).into_iter().map(|r| r.path).collect();
        assert_eq!(roots, [real]);
    }

    #[test]
    fn plans_by_tool() {
        let t = tempfile::tempdir().unwrap();
        let cwd = t.path().join("proj/sub");
        std::fs::create_dir_all(&cwd).unwrap();
        std::fs::write(t.path().join("proj/package.json"), "{}").unwrap();
        let home = t.path().join("home");
        let env = |k: &str| match k {
            "CARGO_HOME" => Some(OsString::from(t.path().join("ch"))),
            "PATH" => Some(OsString::from("/usr/bin")),
            _ => None,
        };
        let tool = |n: &str| crate::tools::Tool::by_name(n).unwrap();
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = args(&["install", "x"]);
        let cx = Ctx {
            tool: tool("npm"),
            args: &a,
            cwd: &cwd,
            real: Path::new("/nonexistent/npm"),
            home: Some(&home),
            env: &env,
        };
        let s = sources(&cx);
        assert!(s.contains(&Source::Lockfile {
            path: t.path().join("proj/package-lock.json"),
            format: crate::lockfiles::Format::PackageLock
        }));
        assert!(s.contains(&Source::Lockfile {
            path: t.path().join("proj/node_modules/.package-lock.json"),
            format: crate::lockfiles::Format::PackageLock
        }));
        let roots = bin_roots(&cx);
        assert_eq!(roots[0].path, t.path().join("proj/node_modules/.bin"));
        assert!(roots.iter().any(|r| r.path == t.path().join("ch/bin")));
        assert!(roots.iter().any(|r| r.path == home.join(".local/bin")));
        assert!(roots.iter().any(|r| r.path == Path::new("/usr/bin")));

        let a = args(&["install", "-g", "--prefix", "/opt/g", "x"]);
        let cx = Ctx { args: &a, ..cx };
        assert_eq!(
            sources(&cx),
            [Source::NpmGlobal {
                dir: PathBuf::from("/opt/g/lib/node_modules")
            }]
        );
        let a = args(&["+stable", "install", "ripgrep"]);
        let cx = Ctx {
            tool: tool("cargo"),
            args: &a,
            ..cx
        };
        assert_eq!(
            sources(&cx),
            [Source::CargoInstall {
                home: t.path().join("ch")
            }]
        );
        let a = args(&["install", "--target", "vend", "x"]);
        let cx = Ctx {
            tool: tool("pip"),
            args: &a,
            ..cx
        };
        assert_eq!(
            sources(&cx),
            [Source::DistInfo {
                dir: cwd.join("vend")
            }]
        );
    }
}
