//! Local directories pip and `uv pip install` build: `pip install .`,
//! `./pkg`, `'.[dev]'`, `-e ./pkg`, a requirement file's `./pkg` or `-e
//! ./pkg` line, an unnamed `file:` URL to a directory. Building one runs its
//! `setup.py` / PEP 517 backend (preparing its metadata already does, also
//! for `pip download` and dry runs): the project's own code, decided as
//! `pypi:NAME@local` by the name its own metadata claims ([`project_name`]).
//! A named direct reference (`NAME @ file:///dir`, `#egg=NAME`) and a local
//! sdist archive stay [`super::direct`]'s.

use std::path::{Path, PathBuf};

/// A local directory a command builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Local {
    /// The directory (as pip resolves it: relative to the current directory).
    pub dir: PathBuf,
    /// Its PEP 503-normalised name ([`project_name`]).
    pub name: String,
    /// Whether one of its mentions is editable (`-e`).
    pub editable: bool,
}

/// The local directories among requirement specifiers (`true`: an `-e`
/// value), each once.
pub(super) fn find(specs: &[(String, bool)], cwd: &Path) -> Vec<Local> {
    let mut out: Vec<Local> = Vec::new();
    for (spec, editable) in specs {
        let Some(dir) = local_dir(spec, *editable, cwd) else {
            continue;
        };
        match out.iter_mut().find(|l| l.dir == dir) {
            Some(l) => l.editable |= editable,
            None => out.push(Local {
                name: project_name(&dir),
                dir,
                editable: *editable,
            }),
        }
    }
    out
}

/// The directory requirement `spec` builds, if it is a local directory pip
/// would build: a path (pip takes a positional for a path when it has a
/// separator or starts with `.`; an `-e` value whenever the directory
/// exists) or an unnamed `file:` URL, extras and markers aside, to a
/// directory with a `pyproject.toml` or `setup.py`.
pub(super) fn local_dir(spec: &str, editable: bool, cwd: &Path) -> Option<PathBuf> {
    let s = super::direct::line_requirement(spec);
    let s = s.split(" ;").next().unwrap_or(s).trim();
    let s = s.split("; ").next().unwrap_or(s).trim();
    if s.is_empty() {
        return None;
    }
    // `NAME @ URL`, `…#egg=NAME`: a named direct reference ([`super::direct`]).
    if let Some((Some(_), _)) = super::super::pipenv::cli_source_build(s) {
        return None;
    }
    let dir = match url::Url::parse(s) {
        Ok(u) if u.scheme() == "file" => {
            let mut u = u;
            u.set_fragment(None);
            u.set_query(None);
            u.to_file_path().ok()?
        }
        // A URL of another scheme, or a Windows drive path (`C:\…`).
        Ok(u) if u.scheme().len() > 1 => return None,
        _ => {
            // `path[extras]`
            let path = match s.strip_suffix(']').and_then(|r| r.rsplit_once('[')) {
                Some((p, _)) => p,
                None => s,
            };
            let path_like = path.contains(['/', '\\']) || path.starts_with('.');
            if !(path_like || editable) || path.contains(['<', '>', '=', '!', '~']) {
                return None;
            }
            cwd.join(path)
        }
    };
    let installable = dir.join("pyproject.toml").is_file() || dir.join("setup.py").is_file();
    (dir.is_dir() && installable).then(|| normalize(&dir))
}

/// `dir` without `.` components and with `..` applied where it can be
/// (symbolic links are followed, as a build would).
fn normalize(dir: &Path) -> PathBuf {
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}

/// The name a local project claims, PEP 503-normalised: `[project] name` of
/// its `pyproject.toml`, else `[tool.poetry] name`, else `setup.cfg`'s
/// `[metadata] name`, else the directory's own name.
pub(super) fn project_name(dir: &Path) -> String {
    let from_toml = read_small(&dir.join("pyproject.toml"))
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| {
            let s = |v: Option<&toml::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
            s(t.get("project").and_then(|p| p.get("name"))).or_else(|| {
                s(t.get("tool")
                    .and_then(|p| p.get("poetry"))
                    .and_then(|p| p.get("name")))
            })
        });
    let name = from_toml
        .or_else(|| {
            let text = read_small(&dir.join("setup.cfg"))?;
            crate::classify::ini::parse(&text)
                .into_iter()
                .find(|e| e.section == "metadata" && e.key.eq_ignore_ascii_case("name"))
                .map(|e| e.value)
        })
        .filter(|n| !n.trim().is_empty())
        .or_else(|| {
            normalize(dir)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    crate::tools::pep503(name.trim())
}

fn read_small(p: &Path) -> Option<String> {
    let meta = std::fs::metadata(p).ok()?;
    if !meta.is_file() || meta.len() > 4 << 20 {
        return None;
    }
    std::fs::read_to_string(p).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let w = |p: &str, t: &str| {
            let p = d.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        };
        w("proj/pyproject.toml", "[project]\nname = \"My_Proj\"\n");
        w(
            "poet/pyproject.toml",
            "[tool.poetry]\nname = \"Poet.Pkg\"\n[build-system]\n",
        );
        w(
            "cfg/setup.cfg",
            "[metadata]\nname = cfg__name\nversion = 1\n",
        );
        w("cfg/setup.py", "import setuptools; setuptools.setup()\n");
        w(
            "Bare_Dir/setup.py",
            "import setuptools; setuptools.setup()\n",
        );
        w("notpy/README", "x\n");
        d
    }

    #[test]
    fn names_come_from_the_projects_own_metadata() {
        let d = tree();
        let n = |p: &str| project_name(&d.path().join(p));
        assert_eq!(n("proj"), "my-proj");
        assert_eq!(n("poet"), "poet-pkg");
        assert_eq!(n("cfg"), "cfg-name");
        assert_eq!(n("Bare_Dir"), "bare-dir");
    }

    #[test]
    fn local_directories_are_found_as_pip_reads_them() {
        let d = tree();
        let cwd = d.path().join("proj");
        let root = d.path().canonicalize().unwrap();
        let proj = root.join("proj");
        let url = format!("file://{}", root.join("cfg").display());
        // (spec, editable, the directory built)
        let cases: Vec<(&str, bool, Option<PathBuf>)> = vec![
            (".", false, Some(proj.clone())),
            ("./", false, Some(proj.clone())),
            (".[dev,test]", false, Some(proj.clone())),
            (". ; python_version > '3'", false, Some(proj.clone())),
            ("../cfg", false, Some(root.join("cfg"))),
            ("../Bare_Dir/", true, Some(root.join("Bare_Dir"))),
            (&url, false, Some(root.join("cfg"))),
            (&url, true, Some(root.join("cfg"))),
            // A bare word is a name for pip unless it is an `-e` value.
            ("../notpy", false, None),
            ("../missing", true, None),
            ("requests", false, None),
            ("requests>=1", true, None),
            // Named: a direct reference (`direct`).
            ("x @ file:///nonexistent", false, None),
            ("git+https://h.test/x.git", true, None),
            ("https://h.test/x.tar.gz", false, None),
        ];
        for (spec, editable, want) in cases {
            assert_eq!(local_dir(spec, editable, &cwd), want, "{spec:?} {editable}");
        }
        let cwd = d.path().to_path_buf();
        assert_eq!(local_dir("cfg", true, &cwd), Some(root.join("cfg")));
        assert_eq!(local_dir("cfg", false, &cwd), None);
        let specs: Vec<(String, bool)> = vec![
            ("./proj".into(), false),
            ("proj/.".into(), true),
            ("./cfg".into(), false),
        ];
        let found = find(&specs, &cwd);
        assert_eq!(
            found,
            vec![
                Local {
                    dir: proj,
                    name: "my-proj".into(),
                    editable: true
                },
                Local {
                    dir: root.join("cfg"),
                    name: "cfg-name".into(),
                    editable: false
                },
            ]
        );
    }
}
