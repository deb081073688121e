//! The manifests an install of a JavaScript project resolves dependencies
//! from, for npm, yarn, pnpm and bun: the project's `package.json`, those of
//! its workspaces (`workspaces` of the root manifest, as an array or as
//! `{packages: […]}`; `packages` of `pnpm-workspace.yaml`) and those of the
//! local directories it depends on (`file:`, `link:`, `portal:`, a relative
//! path), whose dependencies the install resolves too. A git or URL
//! dependency in any of them is fetched (a git one cloned, its
//! dependencies installed and its `prepare` run) before any lockfile or
//! script decision sees it, so each is a source like a spec on the command
//! line ([`super::yarn::manifest_sources`]).
//!
//! Workspace globs are expanded over-inclusively: `*`/`?` match within a
//! segment, `**` any depth, any other pattern syntax (`[…]`, `{…}`) matches
//! every directory, exclusions (`!…`) are not applied. Reading one manifest
//! too many can only add a finding; missing one would let a dependency
//! through. `node_modules` is never entered (installed packages are not
//! workspaces).

use std::path::{Component, Path, PathBuf};

use super::source::{Source, SourceKind};
use super::yarn::yaml;
use super::Request;

/// At most this many manifests are read for one install.
const MAX_MANIFESTS: usize = 1024;
/// At most this many directories are listed while expanding globs.
const MAX_LISTED: usize = 20_000;
/// `**` descends at most this deep.
const MAX_DEPTH: usize = 12;

/// The dependency sources of the manifests an install of the project at
/// `root` reads (see the module documentation). `resolutions`: whether the
/// root's `resolutions` field is read (yarn, bun).
pub(super) fn manifest_sources(req: &Request<'_>, root: &Path, resolutions: bool) -> Vec<Source> {
    let mut todo: Vec<(PathBuf, bool)> = vec![(normal(root), resolutions)];
    todo.extend(
        workspace_dirs(req, root)
            .into_iter()
            .rev()
            .map(|d| (d, false)),
    );
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut out = Vec::new();
    while let Some((dir, res)) = todo.pop() {
        if seen.len() >= MAX_MANIFESTS || seen.contains(&dir) {
            continue;
        }
        seen.push(dir.clone());
        let found = super::yarn::manifest_sources(req, &dir, res);
        for s in &found {
            if s.kind == SourceKind::Path {
                if let Some(d) = local_dir(&dir, &s.value) {
                    todo.push((d, false));
                }
            }
        }
        out.extend(found);
    }
    out
}

/// The nearest directory at or above `dir` whose workspaces include `dir`
/// (npm, yarn and bun run an install from a workspace for the whole
/// project), else `dir`.
pub(super) fn project_root(req: &Request<'_>, dir: &Path) -> PathBuf {
    let dir = normal(dir);
    dir.ancestors()
        .skip(1)
        .find(|a| {
            req.files.exists(&a.join("package.json")) && workspace_dirs(req, a).contains(&dir)
        })
        .map(Path::to_path_buf)
        .unwrap_or(dir)
}

/// The workspace directories of the project at `root` that hold a
/// `package.json`.
fn workspace_dirs(req: &Request<'_>, root: &Path) -> Vec<PathBuf> {
    let mut patterns: Vec<String> = Vec::new();
    if let Some(v) = req
        .files
        .read(&root.join("package.json"))
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    {
        let ws = v.get("workspaces");
        let list = ws
            .and_then(|w| w.get("packages"))
            .or(ws)
            .and_then(|l| l.as_array());
        patterns.extend(
            list.into_iter()
                .flatten()
                .filter_map(|p| p.as_str())
                .map(String::from),
        );
    }
    if let Some(text) = req.files.read(&root.join("pnpm-workspace.yaml")) {
        let doc = yaml::parse(&text);
        for (n, l) in doc.get_all("packages") {
            patterns.extend(yaml::scalars(n, l).into_iter().map(|(p, _)| p));
        }
    }
    let mut budget = MAX_LISTED;
    let mut out: Vec<PathBuf> = Vec::new();
    for p in &patterns {
        for d in expand(req, root, p, &mut budget) {
            if !out.contains(&d) && req.files.exists(&d.join("package.json")) {
                out.push(d);
            }
        }
    }
    out
}

/// The directories under `base` a workspace pattern can name (see the
/// module documentation).
fn expand(req: &Request<'_>, base: &Path, pattern: &str, budget: &mut usize) -> Vec<PathBuf> {
    let pattern = pattern.trim();
    if pattern.is_empty() || pattern.starts_with('!') {
        return Vec::new();
    }
    let mut current = vec![normal(base)];
    for seg in pattern
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != ".")
    {
        let mut next: Vec<PathBuf> = Vec::new();
        for dir in &current {
            if seg == "**" {
                let mut stack = vec![(dir.clone(), 0usize)];
                while let Some((d, depth)) = stack.pop() {
                    if depth < MAX_DEPTH {
                        for name in listed(req, &d, budget) {
                            if !name.starts_with('.') {
                                stack.push((d.join(name), depth + 1));
                            }
                        }
                    }
                    next.push(d);
                }
            } else if seg.contains(['*', '?', '[', '{']) {
                for name in listed(req, dir, budget) {
                    if matches(seg, &name) {
                        next.push(dir.join(name));
                    }
                }
            } else {
                next.push(normal(&dir.join(seg)));
            }
        }
        next.sort();
        next.dedup();
        current = next;
    }
    current
}

/// The subdirectories of `dir` other than `node_modules`, within `budget`.
fn listed(req: &Request<'_>, dir: &Path, budget: &mut usize) -> Vec<String> {
    if *budget == 0 {
        return Vec::new();
    }
    let mut names = req.files.subdirs(dir);
    names.retain(|n| n != "node_modules");
    names.truncate(*budget);
    *budget -= names.len();
    names
}

/// Whether a segment pattern matches `name`: `*` and `?` as in a glob; a
/// pattern with `[` or `{` matches everything (over-inclusive).
fn matches(pattern: &str, name: &str) -> bool {
    if pattern.contains(['[', '{']) {
        return true;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Classic wildcard matching with backtracking to the last `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// The directory a local dependency spec names, relative to the manifest's
/// directory (`file:../x`, `link:x`, `portal:x`, `../x`, `/abs`), or `None`
/// for a tarball file or a home-relative path.
fn local_dir(dir: &Path, spec: &str) -> Option<PathBuf> {
    let mut v = spec;
    for p in ["file:", "link:", "portal:"] {
        if v.len() >= p.len() && v[..p.len()].eq_ignore_ascii_case(p) {
            v = &v[p.len()..];
        }
    }
    let lower = v.to_ascii_lowercase();
    if v.is_empty() || v.starts_with('~') || lower.ends_with(".tgz") || lower.ends_with(".tar.gz") {
        return None;
    }
    Some(normal(&dir.join(v)))
}

/// `p` with `.` and `..` resolved lexically.
fn normal(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::source::fake::{FakeEnv, FakeFiles};
    use crate::classify::{Origin, Tool};

    fn files(list: &[(&str, &str)]) -> FakeFiles {
        FakeFiles(
            list.iter()
                .map(|(p, t)| (PathBuf::from(p), t.to_string()))
                .collect(),
        )
    }

    fn with<T>(list: &[(&str, &str)], f: impl FnOnce(&Request<'_>) -> T) -> T {
        let files = files(list);
        let env = FakeEnv::default();
        let args: Vec<String> = Vec::new();
        let req = Request {
            tool: Tool::by_name("npm").unwrap(),
            args: &args,
            env: &env,
            files: &files,
            cwd: Path::new("/p"),
            home: None,
            real_tool: None,
        };
        f(&req)
    }

    #[test]
    fn globs() {
        for (p, n, want) in [
            ("*", "a", true),
            ("pkg-*", "pkg-a", true),
            ("pkg-*", "app", false),
            ("a?c", "abc", true),
            ("*-x-*", "1-x-2", true),
            ("{a,b}", "zz", true),
            ("abc", "abd", false),
        ] {
            assert_eq!(matches(p, n), want, "{p} {n}");
        }
    }

    #[test]
    fn workspaces_and_local_directories_are_read() {
        let git = |name: &str, spec: &str| {
            format!(r#"{{"name":"{name}","dependencies":{{"{name}-dep":"{spec}"}}}}"#)
        };
        let root = r#"{"name":"root","workspaces":["packages/*","apps/**","!packages/skip"],"dependencies":{"l":"file:./libs/l"}}"#;
        let a = git("a", "github:u/a");
        let skip = git("skip", "u/skip");
        let deep = git("deep", "git+ssh://git@h.test/u/deep.git");
        let l = git("l", "link:../m");
        let m = git("m", "gitlab:u/m");
        let nm = git("nm", "bitbucket:u/nm");
        let list = [
            ("/p/package.json", root),
            ("/p/packages/a/package.json", a.as_str()),
            ("/p/packages/skip/package.json", skip.as_str()),
            ("/p/apps/x/y/deep/package.json", deep.as_str()),
            ("/p/libs/l/package.json", l.as_str()),
            ("/p/libs/m/package.json", m.as_str()),
            ("/p/packages/a/node_modules/nm/package.json", nm.as_str()),
        ];
        let got = with(&list, |req| manifest_sources(req, Path::new("/p"), false));
        let mut values: Vec<&str> = got
            .iter()
            .filter(|s| s.kind == SourceKind::Git)
            .map(|s| s.value.as_str())
            .collect();
        values.sort();
        // Exclusions are not applied (over-inclusive); node_modules is not
        // a workspace.
        assert_eq!(
            values,
            [
                "git+ssh://git@h.test/u/deep.git",
                "github:u/a",
                "gitlab:u/m",
                "u/skip"
            ]
        );
        let a = got.iter().find(|s| s.value == "github:u/a").unwrap();
        assert_eq!(a.subject, "a-dep");
        assert_eq!(
            a.origin,
            Origin::file(Path::new("/p/packages/a/package.json"), 1)
        );
        // From a workspace, the project is the workspace root.
        with(&list, |req| {
            assert_eq!(
                project_root(req, Path::new("/p/packages/a")),
                PathBuf::from("/p")
            );
            assert_eq!(
                project_root(req, Path::new("/p/libs/l")),
                PathBuf::from("/p/libs/l")
            );
        });
    }

    #[test]
    fn pnpm_workspace_yaml_and_object_form() {
        let list = [
            ("/p/package.json", r#"{"workspaces":{"packages":["w/*"]}}"#),
            ("/p/pnpm-workspace.yaml", "packages:\n  - 'pk/*'\n"),
            (
                "/p/w/one/package.json",
                r#"{"dependencies":{"x":"gist:11081aaa281"}}"#,
            ),
            (
                "/p/pk/two/package.json",
                r#"{"devDependencies":{"y":"git://h.test/y.git"}}"#,
            ),
        ];
        let got = with(&list, |req| manifest_sources(req, Path::new("/p"), false));
        assert!(got.iter().any(|s| s.value == "gist:11081aaa281"), "{got:?}");
        assert!(
            got.iter().any(|s| s.value == "git://h.test/y.git"),
            "{got:?}"
        );
    }

    #[test]
    fn cycles_and_hostile_patterns_end() {
        let list = [
            (
                "/p/package.json",
                r#"{"workspaces":["../../**","/**"],"dependencies":{"b":"file:../q"}}"#,
            ),
            (
                "/q/package.json",
                r#"{"dependencies":{"a":"file:../p","z":"github:u/z"}}"#,
            ),
        ];
        let got = with(&list, |req| manifest_sources(req, Path::new("/p"), false));
        assert_eq!(got.iter().filter(|s| s.value == "github:u/z").count(), 1);
    }
}
