//! poetry's sdist builds, end to end with the real poetry behind the
//! pkgward shim against the loopback index (a `[[tool.poetry.source]]`,
//! primary): an sdist whose build writes a marker, sends a fake token read
//! from `$HOME` to a loopback listener through urllib, drops an executable
//! into `~/bin` and appends to `~/.bashrc`. Its metadata does not list its
//! requirements (Metadata-Version 2.1, no `Requires-Dist`), so poetry builds
//! it already while resolving. Unapproved, none of that happens — not in
//! `poetry lock`, not in `poetry install` with or without a lock, whatever
//! poetry's no-binary settings say — and the invocation is denied (77) with
//! the approve command; approved, poetry builds it in its traced run and
//! each build is recorded. Wheels still install.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;
use std::sync::OnceLock;

use support::guard::{pkgward_bin, text, to_env, Guarded};
use support::registry::Listener;
use support::tools::{real_python, EnvList};
use support::{shared, Sdist, Wheel};

fn evil_build() -> String {
    support::py_evil_build("sdist-built")
}

fn fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let r = shared();
        r.publish_sdist(
            &Sdist::new("pw-po-sdist", "1.0.0")
                .module("VALUE = 'built'\n")
                .build_code(&evil_build()),
        );
        r.publish_wheel(&Wheel::new("pw-po-wheel", "1.0.0").module("VALUE = 'wheel'\n"));
        r.publish_sdist(
            &Sdist::new("pw-po-confined", "1.0.0")
                .module("VALUE = 'confined'\n")
                .build_code(&support::py_confined_build("confined-built")),
        );
        // An sdist whose unpacked PKG-INFO claims to be the approved one.
        r.publish_sdist(
            &Sdist::new("pw-po-liar", "1.0.0")
                .module("VALUE = 'liar'\n")
                .file(
                    "PKG-INFO",
                    "Metadata-Version: 2.1\nName: pw-po-sdist\nVersion: 1.0.0\n",
                )
                .build_code(&evil_build()),
        );
        // A wheel and an sdist: wheels only takes the wheel.
        r.publish_wheel(&Wheel::new("pw-po-both", "1.0.0").module("VALUE = 'wheel'\n"));
        r.publish_sdist(
            &Sdist::new("pw-po-both", "1.0.0")
                .module("VALUE = 'built'\n")
                .build_code(&evil_build()),
        );
    });
}

struct T {
    g: Guarded,
    exfil: Listener,
}

fn setup(policy_extra: &str) -> T {
    fixtures();
    let exfil = Listener::start();
    // The egress proxy lets the listener through: these tests are about
    // which code runs, whichever way it connects.
    let host = exfil
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let policy = format!(
        "mode = \"enforce\"\n[registries]\npypi = [\"{}\"]\n[network]\nallow = [\"{host}\"]\n{policy_extra}",
        shared().pypi_index_url()
    );
    let g = Guarded::new(&policy);
    std::os::unix::fs::symlink(pkgward_bin(), g.shims.join("poetry")).unwrap();
    // poetry as this machine's Python runs it (a pyenv shim would need the
    // real HOME).
    let p = g.real.join("poetry");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nexec '{}' -m poetry \"$@\"\n",
            real_python().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    let h = &g.sb.home;
    std::fs::write(h.join(".fake-token"), "tok-s3cret\n").unwrap();
    std::fs::write(h.join(".bashrc"), "# rc\n").unwrap();
    std::fs::write(h.join(".exfil-url"), exfil.base_url()).unwrap();
    T { g, exfil }
}

fn poetry_env(t: &T) -> EnvList {
    let r = t.g.sb.root();
    vec![
        ("POETRY_CACHE_DIR".into(), r.join("poetry-cache").into()),
        ("POETRY_CONFIG_DIR".into(), r.join("poetry-config").into()),
        ("POETRY_DATA_DIR".into(), r.join("poetry-data").into()),
        ("POETRY_VIRTUALENVS_IN_PROJECT".into(), "true".into()),
        ("POETRY_VIRTUALENVS_USE_POETRY_PYTHON".into(), "true".into()),
        ("POETRY_NO_INTERACTION".into(), "1".into()),
        ("POETRY_KEYRING_ENABLED".into(), "false".into()),
        (
            "PYTHON_KEYRING_BACKEND".into(),
            "keyring.backends.null.Keyring".into(),
        ),
        ("PYTHONNOUSERSITE".into(), "1".into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ("PIP_CONFIG_FILE".into(), "/dev/null".into()),
    ]
}

fn poetry(t: &T, args: &[&str], extra: &[(&str, &str)]) -> Output {
    t.g.sb
        .command("poetry", &[poetry_env(t), t.g.pkgward_env(), to_env(extra)])
        .args(args)
        .output()
        .unwrap()
}

fn project(t: &T, deps: &[&str], lock: Option<&str>) {
    let deps: Vec<String> = deps.iter().map(|d| format!("{d:?}")).collect();
    t.g.sb.write(
        "pyproject.toml",
        format!(
            "[project]\nname = \"pw-po-proj\"\nversion = \"0.1.0\"\n\
             requires-python = \">=3.8\"\ndependencies = [{}]\n\n\
             [tool.poetry]\npackage-mode = false\n\n\
             [[tool.poetry.source]]\nname = \"loopback\"\nurl = \"{}\"\npriority = \"primary\"\n",
            deps.join(", "),
            shared().pypi_index_url()
        ),
    );
    match lock {
        Some(l) => {
            t.g.sb.write("poetry.lock", l);
        }
        None => {
            let _ = std::fs::remove_file(t.g.sb.work.join("poetry.lock"));
        }
    }
}

fn no_effects(t: &T, what: &str) {
    assert_eq!(
        t.g.sb.marker("sdist-built"),
        None,
        "{what}: the sdist was built"
    );
    assert_eq!(
        t.exfil.connections().len(),
        0,
        "{what}: the listener was reached"
    );
    assert_eq!(
        std::fs::read_to_string(t.g.sb.home.join(".bashrc")).unwrap(),
        "# rc\n",
        "{what}"
    );
    assert!(!t.g.sb.home.join("bin/ls").exists(), "{what}");
}

fn script_records(t: &T) -> Vec<serde_json::Value> {
    t.g.audit()
        .into_iter()
        .filter(|r| r["kind"] == "script" && r["package"] != "*")
        .collect()
}

/// Whether the project environment has `module` installed.
fn in_venv(t: &T, module: &str) -> bool {
    let lib = t.g.sb.work.join(".venv/lib");
    std::fs::read_dir(&lib).is_ok_and(|d| {
        d.flatten()
            .any(|py| py.path().join("site-packages").join(module).exists())
    })
}

fn assert_denied(t: &T, o: &Output, what: &str) {
    assert_eq!(o.status.code(), Some(77), "{what}: {}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("pkgward approve pypi:pw-po-sdist@1.0.0"),
        "{what}: {}",
        text(&o.stderr)
    );
    no_effects(t, what);
    let recs = script_records(t);
    let last = recs.last().expect("a script record");
    assert_eq!(last["package"], "pw-po-sdist", "{what}");
    assert_eq!(last["version"], "1.0.0", "{what}");
    assert_eq!(last["decision"], "deny", "{what}");
    assert_eq!(last["ran"], false, "{what}");
    assert_eq!(
        last["invocation_id"],
        t.g.last_invocation()["invocation_id"],
        "{what}"
    );
    assert!(!in_venv(t, "pw_po_sdist"), "{what}");
}

const APPROVED: &str =
    "[scripts]\nallow = [\"pypi:PW_po.sdist@>=1,<2\"]\n[sandbox]\nconfine_approved = false\n";

/// A `poetry.lock` of the sdist project, made through pkgward with the
/// sdist approved (in a sandbox of its own); the approved build while
/// resolving is checked on the way.
fn approved_lock() -> String {
    static LOCK: OnceLock<String> = OnceLock::new();
    LOCK.get_or_init(|| {
        let t = setup(APPROVED);
        project(&t, &["pw-po-sdist", "pw-po-wheel"], None);
        let o = poetry(&t, &["lock"], &[]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        // Resolving built the sdist's metadata: its code ran, approved.
        assert_eq!(t.g.sb.marker("sdist-built").as_deref(), Some("ran\n"));
        let recs = script_records(&t);
        let last = recs.last().expect("a script record");
        assert_eq!(last["package"], "pw-po-sdist");
        assert_eq!(last["version"], "1.0.0");
        assert_eq!(last["decision"], "approved");
        assert_eq!(last["ran"], true);
        assert_eq!(last["exit_code"], 0);
        assert!(last["approved_by"]
            .as_str()
            .unwrap()
            .starts_with("pypi:PW_po.sdist@>=1,<2"));
        std::fs::read_to_string(t.g.sb.work.join("poetry.lock")).unwrap()
    })
    .clone()
}

/// Unapproved: resolving (`poetry lock`, `poetry install` without a lock)
/// stops before the sdist's metadata build; installing from the lock is
/// denied before poetry runs, whatever no-binary setting asks for the
/// sdist; each time with exit 77, the approve command and a deny record.
#[test]
fn an_unapproved_sdist_never_builds() {
    let lock = approved_lock();
    for extra in ["", "[scripts]\nallow = [\"pypi:someone-else\"]\n"] {
        let t = setup(extra);
        project(&t, &["pw-po-sdist", "pw-po-wheel"], None);
        let o = poetry(&t, &["lock"], &[]);
        assert_denied(&t, &o, "poetry lock");
        assert!(!t.g.sb.work.join("poetry.lock").exists());
        if !extra.is_empty() {
            continue;
        }
        // The user's no-binary settings make no difference.
        let o = poetry(
            &t,
            &["install"],
            &[("POETRY_INSTALLER_NO_BINARY", "pw-po-sdist")],
        );
        assert_denied(&t, &o, "poetry install without a lock");
        project(&t, &["pw-po-sdist", "pw-po-wheel"], Some(&lock));
        t.g.sb.write(
            "poetry.toml",
            "[installer]\nno-binary = [\"pw-po-sdist\"]\n",
        );
        for (what, env) in [
            ("poetry install", vec![]),
            (
                "POETRY_INSTALLER_ONLY_BINARY=:none:",
                vec![("POETRY_INSTALLER_ONLY_BINARY", ":none:")],
            ),
        ] {
            let o = poetry(&t, &["install"], &env);
            assert_denied(&t, &o, what);
        }
        let o = poetry(&t, &["sync"], &[]);
        assert_denied(&t, &o, "poetry sync");
    }
}

/// An approval whose range does not cover the version is no approval:
/// from the lock (decided before poetry runs) and while resolving (decided
/// by the guard, at the version poetry builds).
#[test]
fn an_approval_outside_its_range_builds_nothing() {
    let lock = approved_lock();
    let t = setup("[scripts]\nallow = [\"pypi:pw-po-sdist@<1\"]\n");
    project(&t, &["pw-po-sdist", "pw-po-wheel"], Some(&lock));
    let o = poetry(&t, &["install"], &[]);
    assert_denied(&t, &o, "range outside, from the lock");
    project(&t, &["pw-po-sdist", "pw-po-wheel"], None);
    let o = poetry(&t, &["lock"], &[]);
    assert_denied(&t, &o, "range outside, resolving");
}

/// Wheels install wheels-only, with no build — also for a package that
/// has an sdist too, even when poetry's settings ask for its sdist.
#[test]
fn wheels_still_install() {
    let t = setup("");
    project(&t, &["pw-po-wheel", "pw-po-both"], None);
    t.g.sb
        .write("poetry.toml", "[installer]\nno-binary = [\"pw-po-both\"]\n");
    let o = poetry(&t, &["install"], &[("POETRY_INSTALLER_NO_BINARY", ":all:")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(in_venv(&t, "pw_po_wheel"));
    assert!(in_venv(&t, "pw_po_both"));
    no_effects(&t, "wheels");
    assert!(script_records(&t).is_empty());
    let lib = t.g.sb.work.join(".venv/lib");
    let py = std::fs::read_dir(&lib)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let v = std::fs::read_to_string(py.join("site-packages/pw_po_both/__init__.py")).unwrap();
    assert!(v.contains("wheel"), "{v}");
}

/// Approved: poetry builds the sdist in its traced run (while resolving and
/// while installing from the lock), and each build is an approved `script`
/// record with its exit code and duration.
#[test]
fn an_approved_sdist_builds_and_is_recorded() {
    let lock = approved_lock();
    let t = setup(APPROVED);
    project(&t, &["pw-po-sdist", "pw-po-wheel"], Some(&lock));
    let o = poetry(&t, &["install"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(in_venv(&t, "pw_po_sdist"));
    assert!(in_venv(&t, "pw_po_wheel"));
    assert_eq!(t.g.sb.marker("sdist-built").as_deref(), Some("ran\n"));
    let recs = script_records(&t);
    let last = recs.last().expect("a script record");
    assert_eq!(last["package"], "pw-po-sdist");
    assert_eq!(last["version"], "1.0.0");
    assert_eq!(last["script"], "build");
    assert_eq!(last["decision"], "approved");
    assert_eq!(last["ran"], true);
    assert_eq!(last["exit_code"], 0);
    assert!(last["duration_ms"].as_f64().is_some());
    assert!(last["command"].as_str().unwrap().contains("build_wheel"));
    assert_eq!(
        last["invocation_id"],
        t.g.last_invocation()["invocation_id"]
    );
    // The installer ran wheels-only for every locked package but the
    // approved one (an exact list: "wheels only, except"), no-binary off.
    let switched =
        t.g.audit()
            .into_iter()
            .rev()
            .find(|r| r["kind"] == "script" && r["package"] == "*")
            .unwrap();
    let runner = switched["runner"].to_string();
    assert!(
        runner.contains("POETRY_INSTALLER_ONLY_BINARY=pw-po-wheel\""),
        "{runner}"
    );
    assert!(
        runner.contains("POETRY_INSTALLER_NO_BINARY=:none:"),
        "{runner}"
    );
    // `poetry add` resolves and installs in one run: the installer is not
    // held to wheels only there; the guard decides each build.
    let t = setup(APPROVED);
    project(&t, &["pw-po-wheel"], None);
    let o = poetry(&t, &["add", "pw-po-sdist"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(in_venv(&t, "pw_po_sdist"));
    let recs = script_records(&t);
    assert!(!recs.is_empty());
    assert!(recs.iter().all(|r| r["package"] == "pw-po-sdist"
        && r["decision"] == "approved"
        && r["exit_code"] == 0));
    assert!(recs
        .iter()
        .any(|r| r["command"].as_str().unwrap().contains("build_wheel")));
}

/// The control: with `scripts.default = "allow"` the same resolution runs
/// the sdist's build code (all of it), so the tests above prove pkgward
/// stopped it.
#[test]
fn control_poetry_lock_runs_the_build_when_the_policy_allows_it() {
    let t = setup("[scripts]\ndefault = \"allow\"\n");
    project(&t, &["pw-po-sdist"], None);
    let o = poetry(&t, &["lock"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(t.g.sb.marker("sdist-built").as_deref(), Some("ran\n"));
    assert!(!t.exfil.connections().is_empty());
}

/// An approval names a package; an sdist that claims that name in its own
/// metadata but is another package on the index is not approved by it.
#[test]
fn an_sdist_cannot_borrow_another_packages_approval() {
    let t = setup(APPROVED);
    project(&t, &["pw-po-liar"], None);
    let o = poetry(&t, &["lock"], &[]);
    assert_eq!(o.status.code(), Some(77), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("pkgward approve pypi:pw_po_liar@1.0.0"),
        "{}",
        text(&o.stderr)
    );
    no_effects(&t, "impersonation");
    let recs = script_records(&t);
    assert_eq!(recs.last().unwrap()["decision"], "deny");
}

/// Approved builds run inside poetry's run, which is then confined as a
/// whole: the build's attempts to read a fake SSH key, reach a loopback
/// listener (straight or through the proxy), write outside the project or
/// append to `~/.bashrc` fail, while poetry still resolves, locks and
/// installs (the package imports) and the records name the layers in force
/// — also where `[sandbox] require = true`.
#[test]
fn approved_builds_run_in_a_confined_poetry_run() {
    let evil = Listener::start();
    for require in [false, true] {
        let what = if require {
            "sandbox required"
        } else {
            "default"
        };
        let t = setup("[scripts]\nallow = [\"pypi:pw-po-confined\"]\n");
        if require {
            let mut p = std::fs::read_to_string(&t.g.policy).unwrap();
            assert!(p.trim_end().ends_with(']'), "{p}");
            p.push_str("require = true\n");
            std::fs::write(&t.g.policy, p).unwrap();
        }
        support::py_confined_home(&t.g.sb.home, &evil);
        project(&t, &["pw-po-confined", "pw-po-wheel"], None);
        // Resolving builds its metadata; installing from the lock, its wheel.
        for args in [vec!["lock"], vec!["install"]] {
            let _ = std::fs::remove_file(t.g.sb.markers.join("confined-built"));
            let o = poetry(&t, &args, &[]);
            assert!(o.status.success(), "{what} {args:?}: {}", text(&o.stderr));
            let rec = script_records(&t).pop().expect("a script record");
            assert_eq!(rec["package"], "pw-po-confined", "{what}");
            assert_eq!(rec["decision"], "approved", "{what}");
            assert_eq!(rec["exit_code"], 0, "{what}");
            assert!(rec["sandbox"]["missing"].is_null(), "{what}: {rec}");
            support::assert_py_confined(
                &format!("poetry {args:?} ({what})"),
                t.g.sb.marker("confined-built"),
                &evil,
                &t.g.sb.home,
                &rec,
            );
        }
        assert!(in_venv(&t, "pw_po_confined"), "{what}");
        assert!(in_venv(&t, "pw_po_wheel"), "{what}");
        let o = std::process::Command::new(t.g.sb.work.join(".venv/bin/python"))
            .args(["-c", "import pw_po_confined as m; print(m.VALUE)"])
            .output()
            .unwrap();
        assert_eq!(text(&o.stdout).trim(), "confined", "{}", text(&o.stderr));
    }
}

/// A project's required plugins are code poetry installs and runs in its
/// own process on every command: unapproved, no poetry command runs
/// (exit 77, the approve command), except with `--no-plugins`.
#[test]
fn unapproved_project_plugins_are_refused() {
    let t = setup("");
    project(&t, &["pw-po-wheel"], None);
    let text_ = std::fs::read_to_string(t.g.sb.work.join("pyproject.toml")).unwrap();
    t.g.sb.write(
        "pyproject.toml",
        format!("{text_}\n[tool.poetry.requires-plugins]\npw-po-plugin = \">=1\"\n"),
    );
    for args in [vec!["lock"], vec!["run", "python", "-c", "print(1)"]] {
        let o = poetry(&t, &args, &[]);
        assert_eq!(o.status.code(), Some(77), "{args:?}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("pkgward approve pypi:pw-po-plugin"),
            "{}",
            text(&o.stderr)
        );
        assert!(!t.g.sb.work.join(".poetry").exists());
    }
    let inv = t.g.last_invocation();
    assert_eq!(inv["decision"]["reasons"][0]["code"], "exec-not-approved");
    let o = poetry(&t, &["lock", "--no-plugins"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!t.g.sb.work.join(".poetry").exists());
}

/// A path dependency (here a directory outside the project) is read by
/// running its backend too: decided by its name, as the project's own code
/// (`pypi:NAME@local`): the approval of the index package of that name
/// does not approve it.
#[test]
fn a_path_dependency_is_decided_as_the_projects_own_code() {
    let tgz = Sdist::new("pw-po-local", "1.0.0")
        .module("VALUE = 'local'\n")
        .build_code(&evil_build())
        .bytes();
    for extra in ["", "[scripts]\nallow = [\"pypi:pw-po-local\"]\n"] {
        let t = setup(extra);
        let dest = t.g.sb.root().join("deps");
        std::fs::create_dir_all(&dest).unwrap();
        let mut tar = std::process::Command::new("tar")
            .args(["xzf", "-", "-C"])
            .arg(&dest)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        tar.stdin.take().unwrap().write_all(&tgz).unwrap();
        assert!(tar.wait().unwrap().success());
        let dir = dest.join("pw_po_local-1.0.0");
        assert!(dir.join("pyproject.toml").exists());
        let dep = format!("pw-po-local @ file://{}", dir.display());
        project(&t, &[&dep], None);
        let o = poetry(&t, &["lock"], &[]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(77), "{extra}: {err}");
        assert!(
            err.contains("pkgward approve pypi:pw-po-local@local"),
            "{extra}: {err}"
        );
        if !extra.is_empty() {
            assert!(
                err.contains("`pypi:pw-po-local` approves the registry package only"),
                "{err}"
            );
        }
        no_effects(&t, "path dependency");
        let recs = script_records(&t);
        assert_eq!(recs.last().unwrap()["package"], "pw-po-local");
        assert_eq!(recs.last().unwrap()["decision"], "deny");
    }
}

/// The lock check decides what the install installs: an unapproved
/// sdist-only package in an optional group the install does not select
/// (or one it leaves out) does not stop it; selecting the group does.
#[test]
fn the_lock_check_covers_the_selected_groups_only() {
    let pyproject = format!(
        "[project]\nname = \"pw-po-proj\"\nversion = \"0.1.0\"\n\
         requires-python = \">=3.8\"\ndependencies = [\"pw-po-wheel\"]\n\n\
         [tool.poetry]\npackage-mode = false\n\n\
         [tool.poetry.group.docs]\noptional = true\n\n\
         [tool.poetry.group.docs.dependencies]\npw-po-sdist = \"*\"\n\n\
         [[tool.poetry.source]]\nname = \"loopback\"\nurl = \"{}\"\npriority = \"primary\"\n",
        shared().pypi_index_url()
    );
    // The lock, made with the sdist approved (in a sandbox of its own).
    let t = setup(APPROVED);
    t.g.sb.write("pyproject.toml", &pyproject);
    let o = poetry(&t, &["lock"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let lock = std::fs::read_to_string(t.g.sb.work.join("poetry.lock")).unwrap();
    assert!(lock.contains("groups = [\"docs\"]"), "{lock}");

    let t = setup("");
    t.g.sb.write("pyproject.toml", &pyproject);
    t.g.sb.write("poetry.lock", &lock);
    for args in [vec!["install"], vec!["install", "--without", "docs"]] {
        let o = poetry(&t, &args, &[]);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
        assert!(in_venv(&t, "pw_po_wheel"), "{args:?}");
        no_effects(&t, &format!("{args:?}"));
    }
    let o = poetry(&t, &["install", "--with", "docs"], &[]);
    assert_denied(&t, &o, "--with docs");
}

/// With the virtualenv outside the project (poetry's default: under
/// `virtualenvs.path`) and not created yet, the confined run may write
/// that one virtualenv only: the approved build cannot write into another
/// project's virtualenv next to it, while poetry still locks and installs
/// into its own.
#[test]
fn a_confined_poetry_run_writes_only_its_own_virtualenv() {
    let evil = Listener::start();
    let t = setup("[scripts]\nallow = [\"pypi:pw-po-confined\"]\n");
    support::py_confined_home(&t.g.sb.home, &evil);
    let venvs = t.g.sb.root().join("poetry-cache/virtualenvs");
    let victim = venvs.join("other-project-AbCdEfGh-py3");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(t.g.sb.home.join(".victim-dir"), victim.to_str().unwrap()).unwrap();
    project(&t, &["pw-po-confined", "pw-po-wheel"], None);
    let out_of_project = [("POETRY_VIRTUALENVS_IN_PROJECT", "false")];
    for args in [vec!["lock"], vec!["install"]] {
        let _ = std::fs::remove_file(t.g.sb.markers.join("confined-built"));
        let o = poetry(&t, &args, &out_of_project);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
        let rec = script_records(&t).pop().expect("a script record");
        assert_eq!(rec["package"], "pw-po-confined", "{args:?}");
        support::assert_py_confined(
            &format!("poetry {args:?}"),
            t.g.sb.marker("confined-built"),
            &evil,
            &t.g.sb.home,
            &rec,
        );
        assert!(!victim.join("pwned").exists(), "{args:?}");
    }
    assert!(!t.g.sb.work.join(".venv").exists());
    let own: Vec<PathBuf> = std::fs::read_dir(&venvs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| *p != victim)
        .collect();
    assert_eq!(own.len(), 1, "{own:?}");
    let o = std::process::Command::new(own[0].join("bin/python"))
        .args(["-c", "import pw_po_confined as m; print(m.VALUE)"])
        .output()
        .unwrap();
    assert_eq!(text(&o.stdout).trim(), "confined", "{}", text(&o.stderr));
}

/// A source that needs credentials (poetry's `http-basic.<source>`, in
/// `POETRY_HTTP_BASIC_<SOURCE>_*` or its `auth.toml`): the confined run
/// still locks and installs through it (pkgward's proxy adds the
/// credentials to its plain-HTTP requests), while the approved build finds
/// the secret nowhere (its environment, the command lines and environments
/// above it, `auth.toml`) and reaches no listener.
/// A test whose project's source is `gate`'s index (approved), with
/// `pw-po-confined` approved.
fn gate_setup(gate: &support::AuthGate, evil: &Listener) -> T {
    let t = setup("[scripts]\nallow = [\"pypi:pw-po-confined\"]\n");
    let p = std::fs::read_to_string(&t.g.policy).unwrap();
    let p = p.replacen("pypi = [", &format!("pypi = [\"{}\", ", gate.index()), 1);
    std::fs::write(&t.g.policy, p).unwrap();
    support::py_confined_home(&t.g.sb.home, evil);
    project(&t, &["pw-po-confined", "pw-po-wheel"], None);
    let py = std::fs::read_to_string(t.g.sb.work.join("pyproject.toml")).unwrap();
    t.g.sb.write(
        "pyproject.toml",
        py.replace(&shared().pypi_index_url(), &gate.index()),
    );
    t
}

#[test]
fn a_confined_poetry_run_authenticates_without_holding_the_secret() {
    let gate = support::AuthGate::start();
    let evil = Listener::start();
    for what in ["environment", "auth.toml"] {
        let t = gate_setup(&gate, &evil);
        let auth = t.g.sb.root().join("poetry-config/auth.toml");
        std::fs::write(
            t.g.sb.home.join(".secret-paths"),
            format!("{}\n", auth.display()),
        )
        .unwrap();
        let mut extra = vec![];
        if what == "auth.toml" {
            std::fs::create_dir_all(auth.parent().unwrap()).unwrap();
            std::fs::write(
                &auth,
                format!(
                    "[http-basic.loopback]\nusername = \"{}\"\npassword = \"{}\"\n",
                    support::INDEX_USER,
                    support::INDEX_SECRET
                ),
            )
            .unwrap();
        } else {
            extra.push(("POETRY_HTTP_BASIC_LOOPBACK_USERNAME", support::INDEX_USER));
            extra.push(("POETRY_HTTP_BASIC_LOOPBACK_PASSWORD", support::INDEX_SECRET));
        }
        let o = poetry(&t, &["install"], &extra);
        assert!(o.status.success(), "{what}: {}", text(&o.stderr));
        confined_without_secret(what, &t, &evil);
    }
}

/// The approved `pw-po-confined` was built confined, without the index's
/// secret, and installed into the project's virtualenv; its record.
fn confined_without_secret(what: &str, t: &T, evil: &Listener) -> serde_json::Value {
    let rec = support::assert_py_build_confined(
        what,
        script_records(t),
        "pw-po-confined",
        t.g.sb.marker("confined-built"),
        evil,
        &t.g.sb.home,
    );
    support::assert_secret_unseen(what, t.g.sb.marker("confined-built"));
    assert!(in_venv(t, "pw_po_confined"), "{what}");
    rec
}

/// The same source over TLS (its CA in `REQUESTS_CA_BUNDLE`, or as the
/// source's own `certificates.<source>.cert`): poetry's lock file records
/// the source's URL, so the egress proxy serves the index gateway at that
/// origin — the run trusts the invocation's ephemeral CA besides the
/// roots it had, pkgward fetches with the credentials — and the approved
/// build still finds no secret; nothing is missing from its record.
#[test]
fn a_confined_poetry_run_reaches_a_tls_source_at_its_own_url() {
    let gate = support::AuthGate::start_tls("/pypi");
    let evil = Listener::start();
    for what in ["REQUESTS_CA_BUNDLE", "certificates"] {
        let t = gate_setup(&gate, &evil);
        let ca = t.g.sb.root().join("test-ca.pem");
        std::fs::write(&ca, gate.ca_pem()).unwrap();
        let ca = ca.to_string_lossy().into_owned();
        let cert_var = if what == "certificates" {
            "POETRY_CERTIFICATES_LOOPBACK_CERT"
        } else {
            "REQUESTS_CA_BUNDLE"
        };
        let extra = [
            (cert_var, ca.as_str()),
            ("POETRY_HTTP_BASIC_LOOPBACK_USERNAME", support::INDEX_USER),
            ("POETRY_HTTP_BASIC_LOOPBACK_PASSWORD", support::INDEX_SECRET),
        ];
        let before = gate.passed.load(std::sync::atomic::Ordering::SeqCst);
        let o = poetry(&t, &["install"], &extra);
        assert!(o.status.success(), "{what}: {}", text(&o.stderr));
        let rec = confined_without_secret(what, &t, &evil);
        assert!(rec["sandbox"]["missing"].is_null(), "{what}: {rec}");
        assert!(gate.passed.load(std::sync::atomic::Ordering::SeqCst) > before);
        let served = t.g.audit().into_iter().any(|r| {
            r["kind"] == "connection"
                && r["via"] == "gateway"
                && r["url"]
                    .as_str()
                    .is_some_and(|u| u.ends_with("pw_po_confined-1.0.0.tar.gz"))
        });
        assert!(
            served,
            "{what}: the sdist was not fetched through the gateway"
        );
    }
}
