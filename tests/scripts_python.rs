//! Install-time code of the Python tools, end to end with the real pip and
//! uv behind the pkgward shims against the loopback index: an sdist whose
//! build (its PEP 517 backend) writes a marker, sends a fake token read from
//! `$HOME` to a loopback listener through urllib, drops an executable into
//! a PATH directory and appends to `~/.bashrc`. Under the default policy
//! pip and uv get wheels only, so none of that happens — also while
//! resolving, in dry runs and downloads, and whatever the user's flags,
//! environment or requirement files say; wheels still install.

mod support;

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;
use std::sync::OnceLock;

use support::guard::{pkgward_bin, text, to_env, Guarded};
use support::registry::Listener;
use support::tools::{find_in_path, real_python, EnvList};
use support::{py_marker, shared, Sdist, Wheel};

fn evil_build() -> String {
    support::py_evil_build("sdist-built")
}

fn fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let r = shared();
        r.publish_sdist(
            &Sdist::new("pw-scr-sdist", "1.0.0")
                .module("VALUE = 'built'\n")
                .build_code(&evil_build()),
        );
        r.publish_wheel(&Wheel::new("pw-scr-wheel", "1.0.0").module("VALUE = 'wheel'\n"));
        r.publish_sdist(
            &Sdist::new("pw-scr-confined", "1.0.0")
                .module("VALUE = 'confined'\n")
                .build_code(&support::py_confined_build("confined-built")),
        );
        for v in ["1.0.0", "2.0.0"] {
            r.publish_sdist(
                &Sdist::new("pw-scr-multi", v)
                    .module(&format!("VALUE = '{v}'\n"))
                    .build_code(&evil_build()),
            );
        }
        r.publish_wheel(
            &Wheel::new("pw-scr-app", "1.0.0")
                .module("VALUE = 'app'\n")
                .dep("pw-scr-sdist>=1")
                .dep("pw-scr-wheel"),
        );
    });
}

/// The real uv: on PATH, or the one the `uv` Python package ships.
fn real_uv() -> PathBuf {
    find_in_path("uv")
        .or_else(|| {
            let out = std::process::Command::new(real_python())
                .args(["-c", "import uv; print(uv.find_uv_bin())"])
                .output()
                .ok()?;
            let p = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
            p.is_file().then_some(p)
        })
        .expect("uv not found: `pip install uv` (these tests run the real uv)")
        .canonicalize()
        .unwrap()
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
    std::os::unix::fs::symlink(pkgward_bin(), g.shims.join("uv")).unwrap();
    let p = g.real.join("uv");
    std::fs::write(
        &p,
        format!("#!/bin/sh\nexec '{}' \"$@\"\n", real_uv().display()),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    let h = &g.sb.home;
    std::fs::write(h.join(".fake-token"), "tok-s3cret\n").unwrap();
    std::fs::write(h.join(".bashrc"), "# rc\n").unwrap();
    std::fs::write(h.join(".exfil-url"), exfil.base_url()).unwrap();
    T { g, exfil }
}

fn uv_env(t: &T) -> EnvList {
    let r = t.g.sb.root();
    vec![
        ("UV_CACHE_DIR".into(), r.join("uv-cache").into()),
        ("UV_PYTHON".into(), real_python().into()),
        ("UV_PYTHON_DOWNLOADS".into(), "never".into()),
        ("UV_NO_PROGRESS".into(), "1".into()),
        ("UV_LINK_MODE".into(), "copy".into()),
        (
            "UV_DEFAULT_INDEX".into(),
            OsString::from(shared().pypi_index_url()),
        ),
        ("XDG_CONFIG_DIRS".into(), r.join("etc/xdg").into()),
    ]
}

fn uv(t: &T, args: &[&str], extra: &[(&str, &str)]) -> Output {
    uv_in(t, &t.g.sb.work, args, extra)
}

/// uv behind the shim, in directory `dir`.
fn uv_in(t: &T, dir: &std::path::Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
    t.g.sb
        .command("uv", &[uv_env(t), t.g.pkgward_env(), to_env(extra)])
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn pip(t: &T, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut e: Vec<(&str, &str)> = vec![("PIP_NO_CACHE_DIR", "1")];
    e.extend_from_slice(extra);
    t.g.pip(args, &e)
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

fn target(t: &T) -> String {
    t.g.sb.root().join("site").to_string_lossy().into_owned()
}

/// Adds `require = true` to the policy's `[sandbox]` (its last section).
fn require_sandbox(t: &T) {
    let mut p = std::fs::read_to_string(&t.g.policy).unwrap();
    assert!(p.trim_end().ends_with(']'), "{p}");
    p.push_str("require = true\n");
    std::fs::write(&t.g.policy, p).unwrap();
}

/// Unpacks sdist `archive` into `dir`: its source tree.
fn unpack(archive: &std::path::Path, dir: &std::path::Path) -> PathBuf {
    let st = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap()
}

/// (what, arguments, extra environment)
type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>);

#[test]
fn pip_builds_no_sdist_whatever_the_command_says() {
    let t = setup("");
    let site = target(&t);
    let req =
        t.g.sb
            .write("req.txt", "--no-binary pw-scr-sdist\npw-scr-sdist\n");
    let cases: Vec<Case<'_>> = vec![
        (
            "install",
            vec!["install", "--target", &site, "pw-scr-sdist"],
            vec![],
        ),
        (
            "dry run",
            vec!["install", "--dry-run", "pw-scr-sdist"],
            vec![],
        ),
        (
            "download",
            vec!["download", "-d", &site, "pw-scr-sdist"],
            vec![],
        ),
        ("wheel", vec!["wheel", "-w", &site, "pw-scr-sdist"], vec![]),
        (
            "--no-binary flag",
            vec![
                "install",
                "--target",
                &site,
                "--no-binary",
                "pw-scr-sdist",
                "pw-scr-sdist",
            ],
            vec![],
        ),
        (
            "--only-binary=:none:",
            vec![
                "install",
                "--target",
                &site,
                "--only-binary=:none:",
                "pw-scr-sdist",
            ],
            vec![],
        ),
        (
            "PIP_NO_BINARY",
            vec!["install", "--target", &site, "pw-scr-sdist"],
            vec![("PIP_NO_BINARY", ":all:")],
        ),
        (
            "requirements file --no-binary",
            vec!["install", "--target", &site, "-r", req.to_str().unwrap()],
            vec![],
        ),
        // pip's general options before its command, with values (one an
        // abbreviation pip accepts): the command is still what pip runs.
        (
            "options before the command",
            vec![
                "--timeout",
                "30",
                "--time",
                "30",
                "install",
                "--target",
                &site,
                "--no-binary",
                "pw-scr-sdist",
                "pw-scr-sdist",
            ],
            vec![],
        ),
        (
            "options before download",
            vec!["--retries", "1", "download", "-d", &site, "pw-scr-sdist"],
            vec![],
        ),
    ];
    for (what, args, env) in cases {
        let o = pip(&t, &args, &env);
        assert!(
            !o.status.success(),
            "{what}: pip succeeded: {}",
            text(&o.stderr)
        );
        no_effects(&t, what);
    }
    // Recorded: builds were switched off for these invocations.
    let recs: Vec<serde_json::Value> =
        t.g.audit()
            .into_iter()
            .filter(|r| r["kind"] == "script" && r["package"] == "*")
            .collect();
    assert!(!recs.is_empty());
    let inv = t.g.last_invocation();
    let last = recs.last().unwrap();
    assert_eq!(last["invocation_id"], inv["invocation_id"]);
    assert_eq!(last["ecosystem"], "pypi");
    assert_eq!(last["decision"], "deny");
    assert_eq!(last["ran"], false);
    assert!(last["runner"].to_string().contains("--only-binary=:all:"));
    // Wheels still install.
    let o = pip(&t, &["install", "--target", &site, "pw-scr-wheel"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(t.g.sb.root().join("site/pw_scr_wheel").exists());
}

#[test]
fn uv_builds_no_sdist() {
    let t = setup("");
    let site = target(&t);
    let req =
        t.g.sb
            .write("req.txt", "--no-binary pw-scr-sdist\npw-scr-sdist\n")
            .to_string_lossy()
            .into_owned();
    let cache =
        t.g.sb
            .root()
            .join("uv-cache")
            .to_string_lossy()
            .into_owned();
    for (what, args) in [
        (
            "uv pip install",
            vec!["pip", "install", "--target", &site, "pw-scr-sdist"],
        ),
        ("uv pip compile", vec!["pip", "compile", "-"]),
        (
            "uv pip install --no-binary",
            vec![
                "pip",
                "install",
                "--target",
                &site,
                "--no-binary",
                "pw-scr-sdist",
                "pw-scr-sdist",
            ],
        ),
        (
            "uv pip install -r with --no-binary",
            vec!["pip", "install", "--target", &site, "-r", &req],
        ),
        // uv's global options before its command, with a value.
        (
            "uv --cache-dir DIR pip install",
            vec![
                "--cache-dir",
                &cache,
                "pip",
                "install",
                "--target",
                &site,
                "pw-scr-sdist",
            ],
        ),
    ] {
        let o = if what == "uv pip compile" {
            let mut c = t.g.sb.command("uv", &[uv_env(&t), t.g.pkgward_env()]);
            c.args(&args).stdin(std::process::Stdio::piped());
            let mut child = c
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"pw-scr-sdist\n")
                .unwrap();
            child.wait_with_output().unwrap()
        } else {
            uv(&t, &args, &[])
        };
        assert!(
            !o.status.success(),
            "{what}: uv succeeded: {}",
            text(&o.stderr)
        );
        no_effects(&t, what);
    }
    let o = uv(
        &t,
        &["pip", "install", "--target", &site, "pw-scr-wheel"],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    // Marking the package no-binary anywhere uv reads it is refused before uv runs.
    std::fs::write(
        t.g.sb.work.join("uv.toml"),
        "no-binary-package = [\"pw-scr-sdist\"]\n",
    )
    .unwrap();
    let o = uv(
        &t,
        &["pip", "install", "--target", &site, "pw-scr-sdist"],
        &[],
    );
    assert_eq!(o.status.code(), Some(77), "{}", text(&o.stderr));
    no_effects(&t, "uv.toml no-binary-package");
    std::fs::remove_file(t.g.sb.work.join("uv.toml")).unwrap();
    let o = uv(
        &t,
        &["pip", "install", "--target", &site, "pw-scr-sdist"],
        &[("UV_NO_BINARY_PACKAGE", "pw-scr-sdist")],
    );
    assert_eq!(o.status.code(), Some(77), "{}", text(&o.stderr));
    let inv = t.g.last_invocation();
    assert_eq!(inv["decision"]["reasons"][0]["code"], "build-not-approved");
    assert!(
        text(&o.stderr).contains("would run install-time code the policy does not approve"),
        "{}",
        text(&o.stderr)
    );
    no_effects(&t, "UV_NO_BINARY_PACKAGE");
}

/// The control: with `scripts.default = "allow"` the same install builds
/// the sdist (and its code does all it does), so the tests above prove
/// pkgward stopped it.
#[test]
fn control_builds_run_when_the_policy_allows_them() {
    let t = setup("[scripts]\ndefault = \"allow\"\n");
    let site = target(&t);
    let o = pip(&t, &["install", "--target", &site, "pw-scr-sdist"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(t.g.sb.marker("sdist-built").as_deref(), Some("ran\n"));
    assert!(!t.exfil.connections().is_empty());
}

fn script_records(t: &T) -> Vec<serde_json::Value> {
    t.g.audit()
        .into_iter()
        .filter(|r| r["kind"] == "script" && r["package"] != "*")
        .collect()
}

/// Unapproved: pip and uv fail with pkgward's message naming the exact
/// approve command, the denial is recorded, nothing of the build runs —
/// with no PyPI approval at all (the failure is explained afterwards) and
/// with another package approved (decided before the tool runs).
#[test]
fn an_unapproved_sdist_is_denied_with_the_approve_command() {
    for extra in ["", "[scripts]\nallow = [\"pypi:someone-else\"]\n"] {
        let t = setup(extra);
        let site = target(&t);
        let o = pip(&t, &["install", "--target", &site, "pw-scr-app"], &[]);
        assert_eq!(o.status.code(), Some(77), "{extra}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("pkgward approve pypi:pw-scr-sdist@1.0.0"),
            "{extra}: {}",
            text(&o.stderr)
        );
        no_effects(&t, "unapproved pip");
        let recs = script_records(&t);
        let last = recs.last().expect("a script record");
        assert_eq!(last["package"], "pw-scr-sdist");
        assert_eq!(last["version"], "1.0.0");
        assert_eq!(last["decision"], "deny");
        assert_eq!(last["ran"], false);
        assert_eq!(
            last["invocation_id"],
            t.g.last_invocation()["invocation_id"]
        );
        let o = uv(
            &t,
            &["pip", "install", "--target", &site, "pw-scr-app"],
            &[],
        );
        assert_eq!(o.status.code(), Some(77), "{extra}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("pkgward approve pypi:pw-scr-sdist@1.0.0"),
            "{extra}: {}",
            text(&o.stderr)
        );
        no_effects(&t, "unapproved uv");
        // A dry run builds nothing either.
        let o = pip(&t, &["install", "--dry-run", "pw-scr-app"], &[]);
        assert!(!o.status.success());
        no_effects(&t, "unapproved dry run");
        // Wheel-only packages still install.
        let o = pip(&t, &["install", "--target", &site, "pw-scr-wheel"], &[]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(t.g.sb.root().join("site/pw_scr_wheel").exists());
    }
}

/// An approved version range that does not cover the version to build is
/// no approval.
#[test]
fn an_approval_outside_its_range_builds_nothing() {
    let t = setup("[scripts]\nallow = [\"pypi:pw-scr-sdist@<1\"]\n");
    let site = target(&t);
    let o = pip(&t, &["install", "--target", &site, "pw-scr-sdist"], &[]);
    assert_eq!(o.status.code(), Some(77), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("pkgward approve pypi:pw-scr-sdist@1.0.0"));
    no_effects(&t, "approval out of range");
}

fn assert_built(t: &T, what: &str) {
    assert_eq!(
        t.g.sb.marker("sdist-built").as_deref(),
        Some("ran\n"),
        "{what}: the approved build did not run"
    );
    let recs = script_records(t);
    let last = recs.last().expect("a script record");
    assert_eq!(last["package"], "pw-scr-sdist", "{what}");
    assert_eq!(last["version"], "1.0.0");
    assert_eq!(last["decision"], "approved");
    assert_eq!(last["ran"], true);
    assert_eq!(last["exit_code"], 0);
    assert!(last["approved_by"].as_str().unwrap().starts_with("pypi:"));
    let runner = last["runner"].to_string();
    assert!(
        runner.contains("\"wheel\"") && runner.contains("--no-deps"),
        "{runner}"
    );
    assert_eq!(
        last["invocation_id"],
        t.g.last_invocation()["invocation_id"]
    );
}

/// Approved: pkgward builds the approved sdist (and only it) through its
/// supervised install-code runner into a private wheelhouse; pip then
/// installs it, wheels-only, with the wheel-only packages around it.
#[test]
// The approved fixture drops a program into ~/bin, which confinement
// (tests/sandbox.rs) forbids: these tests check the approval mechanism, so
// they let approved code run unconfined.
fn pip_builds_an_approved_sdist_supervised() {
    let t = setup(
        "[scripts]\nallow = [\"pypi:PW_scr.sdist@>=1,<2\"]\n[sandbox]\nconfine_approved = false\n",
    );
    let site = target(&t);
    let o = pip(&t, &["install", "--target", &site, "pw-scr-app"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(t.g.sb.root().join("site/pw_scr_sdist").exists());
    assert!(t.g.sb.root().join("site/pw_scr_app").exists());
    assert!(t.g.sb.root().join("site/pw_scr_wheel").exists());
    assert_built(&t, "pip install");
    // The build ran as a child of the invocation, not inside pip.
    let recs = script_records(&t);
    assert_eq!(recs.len(), 1, "{recs:?}");
}

#[test]
fn pip_download_wheel_and_requirement_files_use_approved_builds() {
    let t =
        setup("[scripts]\nallow = [\"pypi:pw-scr-sdist\"]\n[sandbox]\nconfine_approved = false\n");
    let dl = t.g.sb.root().join("dl");
    let o = pip(
        &t,
        &["download", "-d", dl.to_str().unwrap(), "pw-scr-app"],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_built(&t, "pip download");
    let names: Vec<String> = std::fs::read_dir(&dl)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("pw_scr_sdist-1.0.0-") && n.ends_with(".whl")),
        "{names:?}"
    );
    let req = t.g.sb.write("req.txt", "pw-scr-app\n");
    let wh = t.g.sb.root().join("wh");
    let o = pip(
        &t,
        &[
            "wheel",
            "-w",
            wh.to_str().unwrap(),
            "-r",
            req.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_built(&t, "pip wheel -r");
    assert!(std::fs::read_dir(&wh).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("pw_scr_sdist-")));
}

/// uv: the approved sdist is built the same way (uv's index settings given
/// to the builder) and `uv pip install` picks the built wheel.
#[test]
fn uv_pip_install_uses_an_approved_build() {
    let t =
        setup("[scripts]\nallow = [\"pypi:pw-scr-sdist\"]\n[sandbox]\nconfine_approved = false\n");
    let site = target(&t);
    let o = uv(
        &t,
        &["pip", "install", "--target", &site, "pw-scr-app"],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(t.g.sb.root().join("site/pw_scr_sdist").exists());
    assert_built(&t, "uv pip install");
}

// ---------------------------------------------------------------------------
// uv projects: `uv lock` and `uv sync` build only approved sdists, with uv
// itself (a lockfile pins the artifacts' hashes).

const PROJECT: &str = "[project]\nname = \"pw-scr-proj\"\nversion = \"0.1.0\"\n\
                       requires-python = \">=3.8\"\n\
                       dependencies = [\"pw-scr-sdist\", \"pw-scr-wheel\"]\n";

fn project(t: &T, lock: Option<&str>) {
    t.g.sb.write("pyproject.toml", PROJECT);
    if let Some(l) = lock {
        t.g.sb.write("uv.lock", l);
    }
}

/// Whether the project environment has `module` installed.
fn in_venv(t: &T, module: &str) -> bool {
    let lib = t.g.sb.work.join(".venv/lib");
    std::fs::read_dir(&lib).is_ok_and(|d| {
        d.flatten()
            .any(|py| py.path().join("site-packages").join(module).exists())
    })
}

/// A `uv.lock` of [`PROJECT`], made through pkgward with the sdist approved
/// (in a sandbox of its own).
fn approved_lock() -> String {
    static LOCK: OnceLock<String> = OnceLock::new();
    LOCK.get_or_init(|| {
        let t = setup(
            "[scripts]\nallow = [\"pypi:pw-scr-sdist\"]\n[sandbox]\nconfine_approved = false\n",
        );
        project(&t, None);
        let o = uv(&t, &["lock"], &[]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        std::fs::read_to_string(t.g.sb.work.join("uv.lock")).unwrap()
    })
    .clone()
}

fn assert_denied(t: &T, o: &Output, what: &str, approve: &str) {
    assert_eq!(o.status.code(), Some(77), "{what}: {}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(approve),
        "{what}: no `{approve}` in {}",
        text(&o.stderr)
    );
    no_effects(t, what);
    let recs = script_records(t);
    let last = recs.last().expect("a script record");
    assert_eq!(last["package"], "pw-scr-sdist", "{what}");
    assert_eq!(last["decision"], "deny", "{what}");
    assert_eq!(last["ran"], false, "{what}");
    assert_eq!(
        last["invocation_id"],
        t.g.last_invocation()["invocation_id"],
        "{what}"
    );
    assert!(!in_venv(t, "pw_scr_sdist"), "{what}");
}

/// Unapproved: `uv lock` (resolving) and `uv sync` (from a lockfile, and
/// resolving without one) build nothing — whatever the user's environment,
/// flags or project settings say — and are denied with the approve command.
#[test]
fn uv_project_unapproved_sdist_is_denied() {
    let lock = approved_lock();
    for extra in ["", "[scripts]\nallow = [\"pypi:someone-else\"]\n"] {
        let t = setup(extra);
        project(&t, None);
        let o = uv(&t, &["lock"], &[]);
        assert_denied(&t, &o, "uv lock", "pkgward approve pypi:pw-scr-sdist");
        let o = uv(&t, &["sync"], &[]);
        assert_denied(
            &t,
            &o,
            "uv sync without a lock",
            "pkgward approve pypi:pw-scr-sdist",
        );
        project(&t, Some(&lock));
        for (what, args, env) in [
            ("uv sync", vec!["sync"], vec![]),
            ("uv sync --dry-run", vec!["sync", "--dry-run"], vec![]),
            ("uv sync --frozen", vec!["sync", "--frozen"], vec![]),
            ("UV_NO_BUILD=0", vec!["sync"], vec![("UV_NO_BUILD", "0")]),
        ] {
            let o = uv(&t, &args, &env);
            assert_denied(&t, &o, what, "pkgward approve pypi:pw-scr-sdist@1.0.0");
        }
        // `--build` against pkgward's UV_NO_BUILD: uv refuses the conflict.
        let o = uv(&t, &["sync", "--build"], &[]);
        assert!(!o.status.success(), "{}", text(&o.stderr));
        no_effects(&t, "--build");
        // The project's own uv settings cannot turn builds back on.
        std::fs::write(
            t.g.sb.work.join("pyproject.toml"),
            format!("{PROJECT}\n[tool.uv]\nno-build = false\n"),
        )
        .unwrap();
        let o = uv(&t, &["sync"], &[]);
        assert_denied(
            &t,
            &o,
            "[tool.uv] no-build = false",
            "pypi:pw-scr-sdist@1.0.0",
        );
        std::fs::write(
            t.g.sb.work.join("pyproject.toml"),
            format!("{PROJECT}\n[tool.uv]\nno-binary-package = [\"pw-scr-sdist\"]\n"),
        )
        .unwrap();
        let o = uv(&t, &["sync"], &[]);
        assert_eq!(o.status.code(), Some(77), "{}", text(&o.stderr));
        no_effects(&t, "[tool.uv] no-binary-package");
    }
}

/// Approved: `uv lock` builds the sdist (uv builds it, only it, during its
/// traced run) and `uv sync` installs it from the lockfile, each leaving an
/// approved `script` record with the run's exit code and duration.
#[test]
fn uv_lock_and_sync_build_an_approved_sdist() {
    let t =
        setup("[scripts]\nallow = [\"pypi:pw-scr-sdist\"]\n[sandbox]\nconfine_approved = false\n");
    project(&t, None);
    let o = uv(&t, &["lock"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let lock = std::fs::read_to_string(t.g.sb.work.join("uv.lock")).unwrap();
    assert!(
        lock.contains("name = \"pw-scr-sdist\"\nversion = \"1.0.0\""),
        "{lock}"
    );
    let check = |what: &str, flag: Option<&str>| {
        assert_eq!(
            t.g.sb.marker("sdist-built").as_deref(),
            Some("ran\n"),
            "{what}: the approved build did not run"
        );
        let recs = script_records(&t);
        let last = recs.last().expect("a script record");
        assert_eq!(last["package"], "pw-scr-sdist", "{what}");
        assert_eq!(last["version"], "1.0.0", "{what}");
        assert_eq!(last["decision"], "approved", "{what}");
        assert_eq!(last["ran"], true, "{what}");
        assert_eq!(last["exit_code"], 0, "{what}");
        assert!(last["duration_ms"].as_f64().is_some(), "{what}");
        assert!(
            last["approved_by"]
                .as_str()
                .unwrap()
                .starts_with("pypi:pw-scr-sdist"),
            "{what}"
        );
        let runner = last["runner"].to_string();
        assert!(runner.contains("--no-binary-package"), "{runner}");
        if let Some(f) = flag {
            assert!(runner.contains(f), "{runner}");
        }
        assert_eq!(
            last["invocation_id"],
            t.g.last_invocation()["invocation_id"],
            "{what}"
        );
    };
    check("uv lock", None);
    let o = uv(&t, &["sync"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(in_venv(&t, "pw_scr_sdist"));
    assert!(in_venv(&t, "pw_scr_wheel"));
    check("uv sync", Some("--locked"));
}

/// uv builds an approved sdist inside its own run: that whole run is
/// confined as install-time code. The approved build's attempts to read a
/// fake SSH key, reach a loopback listener (straight or through the proxy),
/// write outside the project or append to `~/.bashrc` fail, while uv still
/// fetches through the proxy, builds, installs (the package imports) and
/// records the layers in force — also where `[sandbox] require = true`.
#[test]
fn uv_runs_that_build_approved_sdists_are_confined() {
    let evil = Listener::start();
    for (what, args, require) in [
        ("uv sync", vec!["sync"], false),
        ("uv sync, sandbox required", vec!["sync"], true),
        ("uv lock, then uv run", vec!["lock"], false),
    ] {
        let t = setup("[scripts]\nallow = [\"pypi:pw-scr-confined\"]\n");
        if require {
            require_sandbox(&t);
        }
        support::py_confined_home(&t.g.sb.home, &evil);
        t.g.sb.write(
            "pyproject.toml",
            "[project]\nname = \"pw-scr-proj\"\nversion = \"0.1.0\"\n\
             requires-python = \">=3.8\"\ndependencies = [\"pw-scr-confined\", \"pw-scr-wheel\"]\n",
        );
        let o = uv(&t, &args, &[]);
        assert!(o.status.success(), "{what}: {}", text(&o.stderr));
        let rec = script_records(&t).pop().expect("a script record");
        assert_eq!(rec["package"], "pw-scr-confined", "{what}");
        assert_eq!(rec["decision"], "approved", "{what}");
        assert_eq!(rec["ran"], true, "{what}");
        support::assert_py_confined(
            what,
            t.g.sb.marker("confined-built"),
            &evil,
            &t.g.sb.home,
            &rec,
        );
        assert!(
            rec["sandbox"]["missing"].is_null(),
            "{what}: missing layers: {rec}"
        );
        if args == ["lock"] {
            std::fs::remove_file(t.g.sb.markers.join("confined-built")).unwrap();
            let o = uv(
                &t,
                &[
                    "run",
                    "python",
                    "-c",
                    "import pw_scr_confined as m; print(m.VALUE)",
                ],
                &[],
            );
            assert!(o.status.success(), "{what}: {}", text(&o.stderr));
            assert_eq!(text(&o.stdout).trim(), "confined", "{what}");
            let rec = script_records(&t).pop().unwrap();
            support::assert_py_confined(
                "uv run",
                t.g.sb.marker("confined-built"),
                &evil,
                &t.g.sb.home,
                &rec,
            );
        } else {
            assert!(in_venv(&t, "pw_scr_confined"), "{what}");
            assert!(in_venv(&t, "pw_scr_wheel"), "{what}");
        }
    }
}

/// A version-range approval counts for the version the lockfile pins: one
/// that does not cover it builds nothing; one that does lets `uv sync`
/// build it (with `--locked`, so no other version can be built), while
/// resolving again (`uv lock --upgrade`), which could build any version,
/// needs every version approved.
#[test]
fn uv_sync_follows_the_locked_version() {
    let lock = approved_lock();
    let t = setup("[scripts]\nallow = [\"pypi:pw-scr-sdist@<1\"]\n");
    project(&t, Some(&lock));
    let o = uv(&t, &["sync"], &[]);
    assert_denied(
        &t,
        &o,
        "range not covering",
        "pkgward approve pypi:pw-scr-sdist@1.0.0",
    );
    let t = setup(
        "[scripts]\nallow = [\"pypi:pw-scr-sdist@>=1,<2\"]\n[sandbox]\nconfine_approved = false\n",
    );
    project(&t, Some(&lock));
    let o = uv(&t, &["lock", "--upgrade"], &[]);
    assert_denied(
        &t,
        &o,
        "uv lock with a range",
        "pkgward approve pypi:pw-scr-sdist\n",
    );
    let o = uv(&t, &["sync"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(in_venv(&t, "pw_scr_sdist"));
    assert_eq!(t.g.sb.marker("sdist-built").as_deref(), Some("ran\n"));
    let recs = script_records(&t);
    let last = recs.last().unwrap();
    assert_eq!(last["decision"], "approved");
    assert_eq!(last["exit_code"], 0);
}

/// `uv run` syncs the project first: the same decisions, with pkgward's
/// options placed before the command.
#[test]
fn uv_run_syncs_approved_sdists_only() {
    let lock = approved_lock();
    let run = [
        "run",
        "--frozen",
        "python",
        "-c",
        "import sys, pw_scr_sdist; sys.exit(0 if pw_scr_sdist.VALUE == 'built' else 3)",
    ];
    let t = setup("");
    project(&t, Some(&lock));
    let o = uv(&t, &run, &[]);
    assert_denied(&t, &o, "uv run", "pkgward approve pypi:pw-scr-sdist@1.0.0");
    let t = setup("[scripts]\nallow = [\"pypi:someone-else\"]\n");
    project(&t, Some(&lock));
    let o = uv(&t, &run, &[]);
    assert_denied(&t, &o, "uv run", "pkgward approve pypi:pw-scr-sdist@1.0.0");
    let t = setup(
        "[scripts]\nallow = [\"pypi:pw-scr-sdist@==1.0.0\"]\n[sandbox]\nconfine_approved = false\n",
    );
    project(&t, Some(&lock));
    let o = uv(&t, &run, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(t.g.sb.marker("sdist-built").as_deref(), Some("ran\n"));
    let recs = script_records(&t);
    let last = recs.last().unwrap();
    assert_eq!(last["decision"], "approved");
    assert_eq!(last["exit_code"], 0);
    let runner: Vec<String> = serde_json::from_value(last["runner"].clone()).unwrap();
    let at = |w: &str| runner.iter().position(|a| a == w).unwrap();
    assert!(at("--no-binary-package") < at("python"), "{runner:?}");
}

/// Several versions, all sdists: resolving may build any of them, so `uv
/// lock` needs every version approved (and records the version it locked);
/// `uv sync` then needs the locked one approved.
#[test]
fn uv_lock_needs_every_version_approved() {
    let multi = "[project]\nname = \"pw-scr-proj\"\nversion = \"0.1.0\"\n\
                 requires-python = \">=3.8\"\ndependencies = [\"pw-scr-multi\"]\n";
    let t = setup("[scripts]\nallow = [\"pypi:pw-scr-multi@<2\"]\n");
    t.g.sb.write("pyproject.toml", multi);
    let o = uv(&t, &["lock"], &[]);
    assert_eq!(o.status.code(), Some(77), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("pkgward approve pypi:pw-scr-multi\n"),
        "{}",
        text(&o.stderr)
    );
    no_effects(&t, "uv lock, range approval");
    assert!(!t.g.sb.work.join("uv.lock").exists());
    let t =
        setup("[scripts]\nallow = [\"pypi:pw-scr-multi\"]\n[sandbox]\nconfine_approved = false\n");
    t.g.sb.write("pyproject.toml", multi);
    let o = uv(&t, &["lock"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(t.g.sb.marker("sdist-built").as_deref(), Some("ran\n"));
    let recs = script_records(&t);
    let last = recs.last().unwrap();
    assert_eq!(last["package"], "pw-scr-multi");
    assert_eq!(last["version"], "2.0.0");
    assert_eq!(last["decision"], "approved");
    let lock = std::fs::read_to_string(t.g.sb.work.join("uv.lock")).unwrap();
    let t = setup("[scripts]\nallow = [\"pypi:pw-scr-multi@<2\"]\n");
    t.g.sb.write("pyproject.toml", multi);
    t.g.sb.write("uv.lock", &lock);
    let o = uv(&t, &["sync"], &[]);
    assert_eq!(o.status.code(), Some(77), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("pkgward approve pypi:pw-scr-multi@2.0.0"),
        "{}",
        text(&o.stderr)
    );
    no_effects(&t, "uv sync, locked version outside the range");
}

// ---------------------------------------------------------------------------
// `uv add` / `uv remove`: what they would build is found on a private copy
// of the project before uv edits it.

const WHEEL_PROJECT: &str = "[project]\nname = \"pw-scr-proj\"\nversion = \"0.1.0\"\n\
                             requires-python = \">=3.8\"\ndependencies = [\"pw-scr-wheel\"]\n";

/// `pyproject.toml` and `uv.lock` as they are (bytes and modification time).
fn project_state(t: &T) -> Vec<(Vec<u8>, std::time::SystemTime)> {
    ["pyproject.toml", "uv.lock"]
        .iter()
        .map(|f| {
            let p = t.g.sb.work.join(f);
            (
                std::fs::read(&p).unwrap(),
                std::fs::metadata(&p).unwrap().modified().unwrap(),
            )
        })
        .collect()
}

/// A wheel-only project, locked (no build involved).
fn wheel_project(t: &T) -> Vec<(Vec<u8>, std::time::SystemTime)> {
    t.g.sb.write("pyproject.toml", WHEEL_PROJECT);
    let o = uv(t, &["lock"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    project_state(t)
}

/// Unapproved (no PyPI approval, another package approved, a range): `uv
/// add` of an sdist — directly, through a wheel's dependency, into a group
/// or an extra, without syncing, from another directory — and of a local
/// source tree is denied before uv runs: `pyproject.toml` and `uv.lock`
/// untouched, nothing built, the denial recorded with the approve command.
/// Wheels are still added.
#[test]
fn uv_add_unapproved_sdist_is_denied_before_uv_edits_the_project() {
    for extra in [
        "",
        "[scripts]\nallow = [\"pypi:someone-else\"]\n",
        "[scripts]\nallow = [\"pypi:pw-scr-sdist@>=1\"]\n",
    ] {
        let t = setup(extra);
        let before = wheel_project(&t);
        std::fs::create_dir_all(t.g.sb.work.join("sub")).unwrap();
        for (what, args) in [
            ("uv add", vec!["add", "pw-scr-sdist"]),
            ("uv add (a dependency)", vec!["add", "pw-scr-app"]),
            ("uv add --dev", vec!["add", "--dev", "pw-scr-sdist"]),
            (
                "uv add --optional",
                vec!["add", "--optional", "e", "pw-scr-sdist"],
            ),
            ("uv add --no-sync", vec!["add", "--no-sync", "pw-scr-sdist"]),
            (
                "uv --directory sub add --project ..",
                vec![
                    "--directory",
                    "sub",
                    "add",
                    "--project",
                    "..",
                    "pw-scr-sdist",
                ],
            ),
        ] {
            let o = uv(&t, &args, &[]);
            assert_denied(&t, &o, what, "pkgward approve pypi:pw-scr-sdist\n");
            assert!(
                project_state(&t) == before,
                "{extra} {what}: the project changed"
            );
        }
        // The sdist file itself, outside the project (a direct reference:
        // uv reads its metadata, with builds off, on the copy).
        let sd = Sdist::new("pw-scr-sdist", "1.0.0")
            .module("VALUE = 'built'\n")
            .build_code(&evil_build());
        let dl = t.g.sb.root().join("dl");
        std::fs::create_dir_all(&dl).unwrap();
        std::fs::write(dl.join(sd.filename()), sd.bytes()).unwrap();
        let file = format!("../dl/{}", sd.filename());
        let o = uv(&t, &["add", &file], &[]);
        // A file on the disk: the project's own code.
        assert_denied(
            &t,
            &o,
            "uv add FILE",
            "pkgward approve pypi:pw-scr-sdist@local\n",
        );
        assert!(
            project_state(&t) == before,
            "{extra} FILE: the project changed"
        );
        // A requirements file.
        t.g.sb.write("req/sd.txt", "pw-scr-sdist\n");
        let o = uv(&t, &["add", "-r", "req/sd.txt"], &[]);
        assert_denied(&t, &o, "uv add -r", "pkgward approve pypi:pw-scr-sdist\n");
        assert!(
            project_state(&t) == before,
            "{extra} -r: the project changed"
        );
        // A script's inline metadata: uv resolves it, on a copy first.
        let script = t.g.sb.write("s.py", "print(1)\n");
        let o = uv(&t, &["add", "--script", "s.py", "pw-scr-sdist"], &[]);
        assert_denied(
            &t,
            &o,
            "uv add --script",
            "pkgward approve pypi:pw-scr-sdist\n",
        );
        assert_eq!(std::fs::read_to_string(&script).unwrap(), "print(1)\n");
        // A local source tree's build is install-time code as well: the
        // add's sync would build it.
        let local = t.g.sb.root().join("evil-local");
        std::fs::create_dir_all(&local).unwrap();
        std::fs::write(
            local.join("pyproject.toml"),
            "[project]\nname = \"pw-evil-local\"\nversion = \"0.1.0\"\n\
             [build-system]\nrequires = []\nbuild-backend = \"be\"\nbackend-path = [\".\"]\n",
        )
        .unwrap();
        std::fs::write(
            local.join("be.py"),
            format!(
                "{}\ndef get_requires_for_build_wheel(c=None):\n    return []\n\
                 def build_wheel(d, c=None, m=None):\n    raise SystemExit(3)\n",
                py_marker("local-built")
            ),
        )
        .unwrap();
        let o = uv(&t, &["add", "../evil-local"], &[]);
        assert_eq!(o.status.code(), Some(77), "{extra}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("pkgward approve pypi:pw-evil-local@local"),
            "{}",
            text(&o.stderr)
        );
        assert_eq!(t.g.sb.marker("local-built"), None);
        assert!(project_state(&t) == before, "{extra}: the project changed");
        // `--frozen` neither locks nor syncs: nothing to build.
        let o = uv(&t, &["add", "--frozen", "pw-scr-app"], &[]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        no_effects(&t, "uv add --frozen");
        // A wheel is added as before.
        t.g.sb.write("pyproject.toml", WHEEL_PROJECT);
        let o = uv(&t, &["add", "pw-scr-wheel==1.0.0"], &[]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(in_venv(&t, "pw_scr_wheel"));
        no_effects(&t, "wheel added");
    }
}

/// Approved for every version: uv adds and builds the sdist itself (only
/// it gets `--no-binary-package`), and the build is recorded with the
/// version uv locked.
#[test]
fn uv_add_builds_an_approved_sdist() {
    let t =
        setup("[scripts]\nallow = [\"pypi:pw-scr-sdist\"]\n[sandbox]\nconfine_approved = false\n");
    wheel_project(&t);
    let o = uv(&t, &["add", "pw-scr-app"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(t.g.sb.marker("sdist-built").as_deref(), Some("ran\n"));
    assert!(in_venv(&t, "pw_scr_sdist"));
    assert!(in_venv(&t, "pw_scr_app"));
    let py = std::fs::read_to_string(t.g.sb.work.join("pyproject.toml")).unwrap();
    assert!(py.contains("pw-scr-app"), "{py}");
    let lock = std::fs::read_to_string(t.g.sb.work.join("uv.lock")).unwrap();
    assert!(
        lock.contains("name = \"pw-scr-sdist\"\nversion = \"1.0.0\""),
        "{lock}"
    );
    let recs = script_records(&t);
    assert_eq!(recs.len(), 1, "{recs:?}");
    let last = &recs[0];
    assert_eq!(last["package"], "pw-scr-sdist");
    assert_eq!(last["version"], "1.0.0");
    assert_eq!(last["decision"], "approved");
    assert_eq!(last["ran"], true);
    assert_eq!(last["exit_code"], 0);
    assert!(last["approved_by"]
        .as_str()
        .unwrap()
        .starts_with("pypi:pw-scr-sdist ("));
    let runner: Vec<String> = serde_json::from_value(last["runner"].clone()).unwrap();
    let at = runner
        .iter()
        .position(|a| a == "--no-binary-package")
        .unwrap();
    assert_eq!(runner[at + 1], "pw-scr-sdist", "{runner:?}");
    assert_eq!(
        runner
            .iter()
            .filter(|a| *a == "--no-binary-package")
            .count(),
        1,
        "{runner:?}"
    );
    assert_eq!(
        last["invocation_id"],
        t.g.last_invocation()["invocation_id"]
    );
}

/// `uv remove` locks again: with an unapproved sdist left in the project it
/// is denied before uv edits anything; removing the sdist itself builds
/// nothing.
#[test]
fn uv_remove_builds_no_unapproved_sdist() {
    let lock = approved_lock();
    let t = setup("");
    project(&t, Some(&lock));
    let before = project_state(&t);
    let o = uv(&t, &["remove", "pw-scr-wheel"], &[]);
    assert_denied(&t, &o, "uv remove", "pkgward approve pypi:pw-scr-sdist\n");
    assert!(project_state(&t) == before, "the project changed");
    let o = uv(&t, &["remove", "pw-scr-sdist"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    no_effects(&t, "uv remove of the sdist");
    assert!(in_venv(&t, "pw_scr_wheel"));
    assert!(!in_venv(&t, "pw_scr_sdist"));
    let py = std::fs::read_to_string(t.g.sb.work.join("pyproject.toml")).unwrap();
    assert!(!py.contains("pw-scr-sdist"), "{py}");
}

/// A workspace: the member's and the root's files are copied; adding to a
/// member (`--package`, or from its directory) is decided the same way.
#[test]
fn uv_add_to_a_workspace_member() {
    let write_ws = |t: &T| {
        t.g.sb.write(
            "pyproject.toml",
            "[project]\nname = \"pw-ws\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\n\
             dependencies = [\"pw-scr-wheel\"]\n[tool.uv.workspace]\nmembers = [\"packages/*\"]\n",
        );
        t.g.sb.write(
            "packages/app/pyproject.toml",
            "[project]\nname = \"pw-app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\n\
             dependencies = []\n",
        );
        let o = uv(t, &["lock"], &[]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    };
    let files = ["pyproject.toml", "uv.lock", "packages/app/pyproject.toml"];
    let state = |t: &T| -> Vec<Vec<u8>> {
        files
            .iter()
            .map(|f| std::fs::read(t.g.sb.work.join(f)).unwrap())
            .collect()
    };
    let t = setup("[scripts]\nallow = [\"pypi:someone-else\"]\n");
    write_ws(&t);
    let before = state(&t);
    for (what, args) in [
        (
            "--package",
            vec!["add", "--package", "pw-app", "pw-scr-sdist"],
        ),
        (
            "--directory member",
            vec!["--directory", "packages/app", "add", "pw-scr-sdist"],
        ),
    ] {
        let o = uv(&t, &args, &[]);
        assert_denied(&t, &o, what, "pkgward approve pypi:pw-scr-sdist\n");
        assert!(state(&t) == before, "{what}: the workspace changed");
    }
    let t =
        setup("[scripts]\nallow = [\"pypi:pw-scr-sdist\"]\n[sandbox]\nconfine_approved = false\n");
    write_ws(&t);
    let o = uv(&t, &["add", "--package", "pw-app", "pw-scr-sdist"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(t.g.sb.marker("sdist-built").as_deref(), Some("ran\n"));
    let member = std::fs::read_to_string(t.g.sb.work.join("packages/app/pyproject.toml")).unwrap();
    assert!(member.contains("pw-scr-sdist"), "{member}");
    let recs = script_records(&t);
    let last = recs.last().expect("a script record");
    assert_eq!(last["package"], "pw-scr-sdist");
    assert_eq!(last["decision"], "approved");
    assert_eq!(last["exit_code"], 0);
}

/// pip builds a direct reference (an sdist archive by path or URL, a VCS
/// checkout, an editable source tree) whatever `--only-binary` says, and
/// reading its metadata already runs its build code: each one needs an
/// approval of every version, or the invocation is denied before pip runs.
#[test]
fn pip_direct_sdist_references_are_decided_before_pip_runs() {
    let t = setup("");
    let sd = Sdist::new("pw-scr-direct", "1.0.0")
        .module("VALUE = 'direct'\n")
        .build_code(&evil_build());
    // On the approved index's host, so the registry policy lets it through.
    let published = shared().publish_sdist(&sd);
    let archive = t.g.sb.work.join(&published.filename);
    std::fs::write(&archive, published.bytes.as_slice()).unwrap();
    let archive = archive.to_string_lossy().into_owned();
    let named = format!("pw-scr-direct @ {}", published.url);
    let req =
        t.g.sb
            .write("req-direct.txt", format!("# direct\n{named}\n"));
    let req = req.to_string_lossy().into_owned();
    let site = target(&t);
    let trees = t.g.sb.root().join("trees");
    std::fs::create_dir_all(&trees).unwrap();
    let editable = format!(
        "file://{}#egg=pw-scr-direct",
        unpack(std::path::Path::new(&archive), &trees).display()
    );
    let cases: Vec<Vec<&str>> = vec![
        vec!["install", "--target", &site, "-e", &editable],
        vec!["install", "--target", &site, &archive],
        vec!["install", "--dry-run", &named],
        vec!["download", "-d", &site, &published.url],
        vec!["install", "--target", &site, "-r", &req],
        vec!["wheel", "-w", &site, "--requirement", &req],
        // pip's general options before the command (one abbreviated).
        vec!["--time", "30", "install", "--target", &site, &archive],
    ];
    for args in &cases {
        let o = pip(&t, args, &[]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(77), "{args:?}: {err}");
        assert!(err.contains("from source"), "{args:?}: {err}");
        no_effects(&t, &format!("{args:?}"));
    }
    // An editable one names the approval it needs: on the local disk, it
    // is the project's own code (`@local`).
    let o = pip(&t, &cases[0], &[]);
    assert!(
        text(&o.stderr).contains("`pkgward approve pypi:pw-scr-direct@local`"),
        "{}",
        text(&o.stderr)
    );
}

/// `pypi:NAME` approves the index package NAME only: a direct reference on
/// the local disk (a cloned project's source tree or archive, by `file:`
/// URL) that takes its name is the project's own code, denied under the
/// default deny with `pkgward approve pypi:NAME@local` and why the
/// registry approval does not count; approved so (in the user's policy),
/// it is built.
#[test]
fn a_local_direct_reference_needs_a_local_approval() {
    let sd = Sdist::new("pw-scr-lname", "1.0.0")
        .module("VALUE = 'lname'\n")
        .build_code(&py_marker("lname-built"));
    let t = setup("");
    let user = t.g.sb.home.join(".config/pkgward/policy.toml");
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(&user, "[scripts]\nallow = [\"pypi:pw-scr-lname\"]\n").unwrap();
    let dl = t.g.sb.root().join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    let archive = dl.join(sd.filename());
    std::fs::write(&archive, sd.bytes()).unwrap();
    let tree = unpack(&archive, &dl);
    let site = target(&t);
    let dir_spec = format!("pw-scr-lname @ file://{}", tree.display());
    let archive_spec = format!("pw-scr-lname @ file://{}", archive.display());
    for spec in [&dir_spec, &archive_spec] {
        let o = pip(&t, &["install", "--target", &site, spec], &[]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(77), "{spec}: {err}");
        assert!(
            err.contains("`pkgward approve pypi:pw-scr-lname@local`"),
            "{spec}: {err}"
        );
        assert!(
            err.contains(
                "`pypi:pw-scr-lname` approves the registry package only; this is the project's own code"
            ),
            "{spec}: {err}"
        );
        assert_eq!(t.g.sb.marker("lname-built"), None, "{spec}: {err}");
    }
    std::fs::write(&user, "[scripts]\nallow = [\"pypi:pw-scr-lname@local\"]\n").unwrap();
    let o = pip(&t, &["install", "--target", &site, &dir_spec], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(t.g.sb.marker("lname-built").as_deref(), Some("ran\n"));
    let rec = script_records(&t).pop().expect("a script record");
    assert_eq!(rec["package"], "pw-scr-lname", "{rec}");
    assert_eq!(rec["decision"], "approved", "{rec}");
    assert!(
        rec["approved_by"]
            .as_str()
            .unwrap()
            .starts_with("pypi:pw-scr-lname@local"),
        "{rec}"
    );
}

/// Approved for every version, a direct reference — an sdist archive by
/// `file:` URL, on the command line or in a requirement file, a local source directory, for `pip install` and `pip
/// download` — is built by pkgward first, confined like an approved index
/// sdist (its attempts to read a fake SSH key, reach a loopback listener,
/// write outside fail), and pip installs the built wheel; also where
/// `[sandbox] require = true`.
#[test]
fn pip_approved_direct_references_are_built_confined() {
    let sd = Sdist::new("pw-scr-dconf", "1.0.0")
        .module("VALUE = 'dconf'\n")
        .build_code(&support::py_confined_build("direct-built"));
    let published = shared().publish_sdist(&sd);
    let evil = Listener::start();
    let cases: [(&str, &str, bool); 5] = [
        ("file: URL", "file", false),
        ("requirement file", "req", false),
        ("pip download", "download", false),
        ("local source directory", "dir", false),
        ("file: URL, sandbox required", "file", true),
    ];
    for (what, form, require) in cases {
        // On the local disk: the project's own code (`@local`).
        let t = setup("[scripts]\nallow = [\"pypi:pw-scr-dconf@local\"]\n");
        if require {
            require_sandbox(&t);
        }
        support::py_confined_home(&t.g.sb.home, &evil);
        let dl = t.g.sb.root().join("dl");
        std::fs::create_dir_all(&dl).unwrap();
        let archive = dl.join(&published.filename);
        std::fs::write(&archive, published.bytes.as_slice()).unwrap();
        let site = target(&t);
        let spec = match form {
            "dir" => format!("pw-scr-dconf @ file://{}", unpack(&archive, &dl).display()),
            _ => format!("pw-scr-dconf @ file://{}", archive.display()),
        };
        let req =
            t.g.sb
                .write("reqs/direct.txt", format!("# direct\n{spec}  # approved\n"));
        let req = req.to_string_lossy().into_owned();
        let args: Vec<&str> = match form {
            "req" => vec!["install", "--target", &site, "-r", &req],
            "download" => vec!["download", "-d", &site, &spec],
            _ => vec!["install", "--target", &site, &spec],
        };
        let o = pip(&t, &args, &[]);
        assert!(o.status.success(), "{what}: {}", text(&o.stderr));
        let rec = script_records(&t).pop().expect("a script record");
        assert_eq!(rec["package"], "pw-scr-dconf", "{what}: {rec}");
        assert_eq!(rec["version"], "1.0.0", "{what}: {rec}");
        assert_eq!(rec["decision"], "approved", "{what}: {rec}");
        assert_eq!(rec["ran"], true, "{what}: {rec}");
        assert_eq!(rec["exit_code"], 0, "{what}: {rec}");
        assert_eq!(rec["invocation_id"], t.g.last_invocation()["invocation_id"]);
        assert!(
            rec["sandbox"]["missing"].is_null(),
            "{what}: missing layers: {rec}"
        );
        support::assert_py_confined(
            what,
            t.g.sb.marker("direct-built"),
            &evil,
            &t.g.sb.home,
            &rec,
        );
        // Built once, by pkgward: pip installed (downloaded) its wheel.
        std::fs::remove_file(t.g.sb.markers.join("direct-built")).unwrap();
        if form == "download" {
            let got: Vec<String> = std::fs::read_dir(&site)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert!(got.iter().any(|f| f.ends_with(".whl")), "{what}: {got:?}");
        } else {
            let o = std::process::Command::new(real_python())
                .args(["-c", "import pw_scr_dconf as m; print(m.VALUE)"])
                .env("PYTHONPATH", &site)
                .output()
                .unwrap();
            assert_eq!(
                text(&o.stdout).trim(),
                "dconf",
                "{what}: {}",
                text(&o.stderr)
            );
        }
        assert!(
            std::fs::read_to_string(&req).unwrap().contains(&spec),
            "{what}: the requirement file changed"
        );
    }
}

/// An approved editable direct reference (`-e file:///…#egg=NAME`, also
/// `--editable=` and a requirement file's `-e` line) is built by pip in its
/// own run (PEP 660: the editable wheel points back at the source tree, it
/// is not one pkgward could build and hand over): that run, and pkgward's
/// resolution pass before it (which already prepares the editable's
/// metadata), are confined — the build's attempts to read a fake SSH key,
/// reach a loopback listener, write outside fail — and the package installs
/// editable and imports from its source tree; the record has pip's exit
/// code, the duration and the layers in force. Also where `[sandbox]
/// require = true` (which refused it while it was not confined).
#[test]
fn pip_approved_editable_installs_build_confined() {
    let sd = Sdist::new("pw-scr-edit", "1.0.0")
        .module("VALUE = 'edit'\n")
        .build_code(&support::py_confined_build("edit-built"));
    let evil = Listener::start();
    for (what, form, require) in [
        ("-e argument", "-e", false),
        ("--editable=", "--editable=", false),
        ("requirement file -e line", "req", false),
        ("-e argument, sandbox required", "-e", true),
        ("-e argument, into a virtualenv", "venv", false),
    ] {
        let t = setup("[scripts]\nallow = [\"pypi:pw-scr-edit@local\"]\n");
        if require {
            require_sandbox(&t);
        }
        support::py_confined_home(&t.g.sb.home, &evil);
        let src = t.g.sb.root().join("src");
        std::fs::create_dir_all(&src).unwrap();
        let archive = src.join(sd.filename());
        std::fs::write(&archive, sd.bytes()).unwrap();
        let tree = unpack(&archive, &src);
        let url = format!("file://{}#egg=pw-scr-edit", tree.display());
        let req = t.g.sb.write("reqs/edit.txt", format!("-e {url}\n"));
        let req = req.to_string_lossy().into_owned();
        let mut site = target(&t);
        let mut python = real_python();
        if form == "venv" {
            // A virtualenv that sees this machine's pip, and pip run from it
            // the way its entry-point script does (`#!…/python`): pip
            // installs into the virtualenv, which the confined run may
            // write (and nothing else of the interpreter's).
            let venv = t.g.sb.root().join("venv");
            let st = std::process::Command::new(real_python())
                .args(["-m", "venv", "--without-pip", "--system-site-packages"])
                .arg(&venv)
                .status()
                .unwrap();
            assert!(st.success());
            python = venv.join("bin/python");
            std::fs::write(
                t.g.real.join("pip"),
                format!(
                    "#!{}\nimport sys\nfrom pip._internal.cli.main import main\nsys.exit(main())\n",
                    python.display()
                ),
            )
            .unwrap();
            let o = std::process::Command::new(&python)
                .args([
                    "-c",
                    "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                ])
                .output()
                .unwrap();
            site = text(&o.stdout).trim().to_string();
        }
        let flag = format!("--editable={url}");
        let args: Vec<&str> = match form {
            "req" => vec!["install", "--target", &site, "-r", &req],
            "--editable=" => vec!["install", "--target", &site, &flag],
            "venv" => vec!["install", "-e", &url],
            _ => vec!["install", "--target", &site, "-e", &url],
        };
        let o = pip(&t, &args, &[]);
        assert!(o.status.success(), "{what}: {}", text(&o.stderr));
        let rec = script_records(&t).pop().expect("a script record");
        assert_eq!(rec["package"], "pw-scr-edit", "{what}: {rec}");
        assert_eq!(rec["version"], "1.0.0", "{what}: {rec}");
        assert_eq!(rec["decision"], "approved", "{what}: {rec}");
        assert_eq!(rec["ran"], true, "{what}: {rec}");
        assert_eq!(rec["exit_code"], 0, "{what}: {rec}");
        assert!(rec["duration_ms"].is_number(), "{what}: {rec}");
        assert_eq!(rec["invocation_id"], t.g.last_invocation()["invocation_id"]);
        assert!(
            rec["sandbox"]["missing"].is_null(),
            "{what}: missing layers: {rec}"
        );
        support::assert_py_confined(what, t.g.sb.marker("edit-built"), &evil, &t.g.sb.home, &rec);
        // Installed editable (in the target, the virtualenv): imported from
        // the source tree.
        assert!(
            std::path::Path::new(&site)
                .join("__editable__.pw_scr_edit.pth")
                .is_file(),
            "{what}"
        );
        let o = std::process::Command::new(&python)
            .args([
                "-c",
                "import site, sys; site.addsitedir(sys.argv[1]); import pw_scr_edit as m; \
                 print(m.VALUE, m.__file__)",
                &site,
            ])
            .output()
            .unwrap();
        assert_eq!(
            text(&o.stdout).trim(),
            format!("edit {}", tree.join("pw_scr_edit/__init__.py").display()),
            "{what}: {}",
            text(&o.stderr)
        );
    }
}

// ---------------------------------------------------------------------------
// A local directory pip builds (`pip install .`, `-e ./pkg`, a requirement
// file's `./pkg` line): the project's own code, decided as `pypi:NAME@local`.

/// A local project `work/DIR` (the fixture's `pyproject.toml` names no
/// project: pkgward goes by the directory's name, `DIR` normalised) of
/// package `name`, whose build runs `code` and then writes `in-tree-marker`
/// into its own tree; returns its directory.
fn local_project(t: &T, dir: &str, name: &str, code: &str) -> PathBuf {
    let sd = Sdist::new(name, "1.0.0")
        .module("VALUE = 'local'\n")
        .build_code(&format!("{code}\nopen('in-tree-marker', 'w').write('x')\n"));
    let tmp = t.g.sb.root().join(format!("unpack-{dir}"));
    std::fs::create_dir_all(&tmp).unwrap();
    let archive = tmp.join(sd.filename());
    std::fs::write(&archive, sd.bytes()).unwrap();
    let tree = t.g.sb.work.join(dir);
    std::fs::rename(unpack(&archive, &tmp), &tree).unwrap();
    tree
}

/// pip behind the shim, in directory `dir`.
fn pip_in(t: &T, dir: &std::path::Path, args: &[&str]) -> Output {
    let idx = shared().pypi_index_url();
    t.g.sb
        .command(
            "pip",
            &[
                t.g.sb.pip_env(&idx),
                t.g.pkgward_env(),
                to_env(&[("PIP_NO_CACHE_DIR", "1")]),
            ],
        )
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Under the default deny, every way pip builds a local directory — `.`,
/// `./dir`, `-e .`, `'./dir[extra]'`, a requirement file's `./dir` or `-e
/// ./dir` line, an unnamed `file:` URL, `pip wheel`, `pip download`, a dry
/// run — is denied before pip runs (exit 77), naming the directory and
/// `pkgward approve pypi:NAME@local`: its `setup.py` / backend ran nothing
/// (no marker, no token sent, `~/.bashrc` unchanged, nothing written in its
/// tree). A registry approval of that name does not approve it (and the
/// denial says so). Audit mode runs it and records `would-deny`.
#[test]
fn pip_local_directories_are_denied_unless_approved_local() {
    let t = setup("");
    let tree = local_project(&t, "pw_scr_ldir", "pw-scr-ldir", &evil_build());
    let work = t.g.sb.work.clone();
    let site = target(&t);
    let req = t.g.sb.write("reqs/dir.txt", "# local\n./pw_scr_ldir\n");
    let req_e =
        t.g.sb
            .write("reqs/edit.txt", "-e ./pw_scr_ldir  # editable\n");
    let (req, req_e) = (req.to_string_lossy(), req_e.to_string_lossy());
    let url = format!("file://{}", tree.display());
    let cases: Vec<(&std::path::Path, Vec<&str>)> = vec![
        (&tree, vec!["install", "--target", &site, "."]),
        (&tree, vec!["install", "--target", &site, "-e", "."]),
        (&work, vec!["install", "--target", &site, "./pw_scr_ldir"]),
        (
            &work,
            vec!["install", "--target", &site, "./pw_scr_ldir[dev]"],
        ),
        (
            &work,
            vec!["install", "--target", &site, "--editable=./pw_scr_ldir"],
        ),
        (&work, vec!["install", "--target", &site, "-r", &req]),
        (&work, vec!["install", "--target", &site, "-r", &req_e]),
        (&work, vec!["install", "--dry-run", &url]),
        (&work, vec!["wheel", "-w", &site, "./pw_scr_ldir"]),
        (&work, vec!["download", "-d", &site, "./pw_scr_ldir"]),
    ];
    for (cwd, args) in &cases {
        let o = pip_in(&t, cwd, args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(77), "{args:?}: {err}");
        assert!(
            err.contains("pkgward approve pypi:pw-scr-ldir@local"),
            "{args:?}: {err}"
        );
        assert!(err.contains(&tree.display().to_string()), "{args:?}: {err}");
        no_effects(&t, &format!("{args:?}"));
        assert!(!tree.join("in-tree-marker").exists(), "{args:?}");
    }
    // Named only in pip's variables or config file (here one a project
    // could ship, `PIP_CONFIG_FILE` pointing at it).
    let conf =
        t.g.sb
            .write("reqs/pip.conf", format!("[install]\nrequirement = {req}\n"));
    let conf = conf.to_string_lossy().into_owned();
    for env in [
        ("PIP_EDITABLE", "./pw_scr_ldir"),
        ("PIP_REQUIREMENT", &*req_e),
        ("PIP_CONFIG_FILE", &*conf),
    ] {
        let o = pip(&t, &["install", "--target", &site], &[env]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(77), "{env:?}: {err}");
        assert!(
            err.contains("pkgward approve pypi:pw-scr-ldir@local"),
            "{env:?}: {err}"
        );
        no_effects(&t, &format!("{env:?}"));
        assert!(!tree.join("in-tree-marker").exists(), "{env:?}");
    }
    let rec = script_records(&t).pop().expect("a script record");
    assert_eq!(rec["package"], "pw-scr-ldir", "{rec}");
    assert_eq!(rec["decision"], "deny", "{rec}");
    assert_eq!(rec["ran"], false, "{rec}");
    // The registry package's approval does not approve the local project.
    let user = t.g.sb.home.join(".config/pkgward/policy.toml");
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(&user, "[scripts]\nallow = [\"pypi:pw-scr-ldir\"]\n").unwrap();
    let o = pip_in(&t, &tree, &["install", "--target", &site, "."]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(77), "{err}");
    assert!(
        err.contains(
            "`pypi:pw-scr-ldir` approves the registry package only; this is the project's own code"
        ),
        "{err}"
    );
    no_effects(&t, "registry approval");
    // Audit mode: pip runs as it would without pkgward; recorded.
    let p = std::fs::read_to_string(&t.g.policy).unwrap();
    std::fs::write(
        &t.g.policy,
        p.replace("mode = \"enforce\"", "mode = \"audit\""),
    )
    .unwrap();
    let o = pip_in(&t, &tree, &["install", "--target", &site, "."]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(tree.join("in-tree-marker").exists());
    let rec = script_records(&t).pop().expect("a script record");
    assert_eq!(rec["package"], "pw-scr-ldir", "{rec}");
    assert_eq!(rec["decision"], "would-deny", "{rec}");
    assert_eq!(rec["version"], "1.0.0", "{rec}");
    assert_eq!(rec["exit_code"], 0, "{rec}");
    assert_eq!(rec["invocation_id"], t.g.last_invocation()["invocation_id"]);
}

/// Approved by `pypi:NAME@local` (or under `scripts.default = "sandbox"`),
/// a local directory builds in pip's own run, which is confined as a whole
/// (and so is pkgward's resolution pass before it): the build writes in its
/// own tree, its attempts to read a fake SSH key, reach a loopback
/// listener, write into `$HOME` or append to `~/.bashrc` fail; the package
/// installs; the record has the version, the decision, pip's exit code and
/// the layers — for `.`, `-e .` and a requirement file's `-e ./dir` line.
#[test]
fn pip_approved_local_directories_build_confined() {
    let evil = Listener::start();
    for (what, form, policy, decision) in [
        (
            ".",
            ".",
            "allow = [\"pypi:pw-scr-lconf@local\"]",
            "approved",
        ),
        (
            "-e .",
            "-e",
            "allow = [\"pypi:pw-scr-lconf@local\"]",
            "approved",
        ),
        (
            "requirement file -e line",
            "req",
            "allow = [\"pypi:pw-scr-lconf@local\"]",
            "approved",
        ),
        ("sandbox default", ".", "default = \"sandbox\"", "sandbox"),
    ] {
        let t = setup(&format!("[scripts]\n{policy}\n"));
        support::py_confined_home(&t.g.sb.home, &evil);
        let tree = local_project(
            &t,
            "pw_scr_lconf",
            "pw-scr-lconf",
            &support::py_confined_build("lconf-built"),
        );
        let site = target(&t);
        let req = t.g.sb.write("reqs/edit.txt", "-e ./pw_scr_lconf\n");
        let req = req.to_string_lossy().into_owned();
        let o = match form {
            "-e" => pip_in(&t, &tree, &["install", "--target", &site, "-e", "."]),
            "req" => pip_in(
                &t,
                &t.g.sb.work,
                &["install", "--target", &site, "-r", &req],
            ),
            _ => pip_in(&t, &tree, &["install", "--target", &site, "."]),
        };
        assert!(o.status.success(), "{what}: {}", text(&o.stderr));
        assert!(
            tree.join("in-tree-marker").exists(),
            "{what}: no in-tree write"
        );
        let rec = script_records(&t).pop().expect("a script record");
        assert_eq!(rec["package"], "pw-scr-lconf", "{what}: {rec}");
        assert_eq!(rec["version"], "1.0.0", "{what}: {rec}");
        assert_eq!(rec["decision"], decision, "{what}: {rec}");
        assert_eq!(rec["ran"], true, "{what}: {rec}");
        assert_eq!(rec["exit_code"], 0, "{what}: {rec}");
        assert_eq!(rec["invocation_id"], t.g.last_invocation()["invocation_id"]);
        support::assert_py_confined(
            what,
            t.g.sb.marker("lconf-built"),
            &evil,
            &t.g.sb.home,
            &rec,
        );
        let o = std::process::Command::new(real_python())
            .args([
                "-c",
                "import site, sys; site.addsitedir(sys.argv[1]); import pw_scr_lconf as m; print(m.VALUE)",
                &site,
            ])
            .output()
            .unwrap();
        assert_eq!(
            text(&o.stdout).trim(),
            "local",
            "{what}: {}",
            text(&o.stderr)
        );
    }
}

/// `uv pip install` of a local directory (`.`, `-e .`, a requirement
/// file's `-e ./dir` line) the same way: denied before uv runs under the
/// default deny (uv's `--no-build` would only fail it), naming `pkgward
/// approve pypi:NAME@local`; approved, uv builds just that project (its
/// other packages stay wheels-only) in its own run, confined as a whole.
#[test]
fn uv_pip_install_of_a_local_directory_is_decided() {
    let t = setup("");
    let tree = local_project(&t, "pw_scr_luv", "pw-scr-luv", &evil_build());
    let site = target(&t);
    let req = t.g.sb.write("reqs/edit.txt", "-e ./pw_scr_luv\n");
    let req = req.to_string_lossy().into_owned();
    let work = t.g.sb.work.clone();
    let cases: Vec<(&std::path::Path, Vec<&str>)> = vec![
        (&tree, vec!["pip", "install", "--target", &site, "."]),
        (&tree, vec!["pip", "install", "--target", &site, "-e", "."]),
        (&work, vec!["pip", "install", "--target", &site, "-r", &req]),
    ];
    for (cwd, args) in &cases {
        let o = uv_in(&t, cwd, args, &[]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(77), "{args:?}: {err}");
        assert!(
            err.contains("pkgward approve pypi:pw-scr-luv@local"),
            "{args:?}: {err}"
        );
        no_effects(&t, &format!("{args:?}"));
        assert!(!tree.join("in-tree-marker").exists(), "{args:?}");
    }
    let evil = Listener::start();
    let t = setup("[scripts]\nallow = [\"pypi:pw-scr-luv@local\"]\n");
    support::py_confined_home(&t.g.sb.home, &evil);
    let tree = local_project(
        &t,
        "pw_scr_luv",
        "pw-scr-luv",
        &support::py_confined_build("luv-built"),
    );
    let site = target(&t);
    let o = uv_in(
        &t,
        &tree,
        &["pip", "install", "--target", &site, ".", "pw-scr-wheel"],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(tree.join("in-tree-marker").exists(), "no in-tree write");
    let rec = script_records(&t).pop().expect("a script record");
    assert_eq!(rec["package"], "pw-scr-luv", "{rec}");
    assert_eq!(rec["version"], "1.0.0", "{rec}");
    assert_eq!(rec["decision"], "approved", "{rec}");
    assert_eq!(rec["exit_code"], 0, "{rec}");
    assert_eq!(rec["invocation_id"], t.g.last_invocation()["invocation_id"]);
    support::assert_py_confined("uv", t.g.sb.marker("luv-built"), &evil, &t.g.sb.home, &rec);
    for m in ["pw_scr_luv", "pw_scr_wheel"] {
        assert!(
            std::path::Path::new(&site).join(m).is_dir(),
            "{m} not installed"
        );
    }
}

// ---------------------------------------------------------------------------
// A private index that needs credentials: confined builds still fetch from
// it (pkgward's proxy adds the credentials), never holding the secret.

/// A test whose index is `gate` (approved in the policy next to the shared
/// one), `pypi:pw-scr-confined` approved, its confined build's targets set.
fn auth_setup(gate: &support::AuthGate, evil: &Listener) -> T {
    let t = setup("[scripts]\nallow = [\"pypi:pw-scr-confined\"]\n");
    let p = std::fs::read_to_string(&t.g.policy).unwrap();
    let p = p.replacen("pypi = [", &format!("pypi = [\"{}\", ", gate.index()), 1);
    std::fs::write(&t.g.policy, p).unwrap();
    support::py_confined_home(&t.g.sb.home, evil);
    t
}

/// The TLS index's confined build (`what`): recorded with exit 0 and
/// every layer, confined, no secret seen, its setuptools from that index.
fn tls_build_confined(what: &str, t: &T, evil: &Listener) {
    let rec = support::assert_py_build_confined(
        what,
        script_records(t),
        "pw-tls-confined",
        t.g.sb.marker("confined-built"),
        evil,
        &t.g.sb.home,
    );
    assert!(rec["sandbox"]["missing"].is_null(), "{what}: {rec}");
    assert_no_secret(what, t);
    assert_eq!(
        t.g.sb.marker("tls-setuptools").as_deref(),
        Some("from-the-tls-index"),
        "{what}: the build requirement did not come from the TLS index"
    );
}

/// What the confined build saw must not hold the secret.
fn assert_no_secret(what: &str, t: &T) {
    let report = t.g.sb.marker("confined-built").expect("the build ran");
    assert!(
        !report.contains(support::INDEX_SECRET),
        "{what}: the build saw the secret: {report}"
    );
}

/// pip: the approved sdist is built by pkgward, confined, with the index's
/// credentials in `~/.netrc` (URL userinfo is refused by the registry
/// policy):
/// the build step's own fetches through the gate succeed (the proxy adds
/// the credentials) while the build code finds no secret anywhere (its
/// environment, the command lines above it, `~/.netrc`) and reaches no
/// listener.
#[test]
fn confined_pip_builds_authenticate_without_holding_the_secret() {
    let gate = support::AuthGate::start();
    let evil = Listener::start();
    let netrc = support::auth_netrc();
    {
        let what = "netrc";
        let t = auth_setup(&gate, &evil);
        let site = target(&t);
        let url = gate.index();
        std::fs::write(t.g.sb.home.join(".netrc"), &netrc).unwrap();
        let args = ["install", "--target", site.as_str(), "pw-scr-confined"];
        let extra = [("PIP_INDEX_URL", url.as_str())];
        let before = gate.passed.load(std::sync::atomic::Ordering::SeqCst);
        let o = pip(&t, &args, &extra);
        assert!(o.status.success(), "{what}: {}", text(&o.stderr));
        let rec = script_records(&t).pop().expect("a script record");
        assert_eq!(rec["package"], "pw-scr-confined", "{what}");
        assert_eq!(rec["exit_code"], 0, "{what}: {rec}");
        assert!(rec["sandbox"]["missing"].is_null(), "{what}: {rec}");
        support::assert_py_confined(
            what,
            t.g.sb.marker("confined-built"),
            &evil,
            &t.g.sb.home,
            &rec,
        );
        assert_no_secret(what, &t);
        assert!(
            gate.passed.load(std::sync::atomic::Ordering::SeqCst) > before,
            "{what}: nothing went through the gate"
        );
    }
}

/// The TLS index behind [`support::AuthGate::start_tls`] (under `/tlspypi/`
/// on the shared server): `pw-tls-confined`, an sdist whose build needs
/// `setuptools` and records which one it got (marker `tls-setuptools`), and
/// that `setuptools`: a fixture wheel only this index serves.
fn tls_index() -> &'static support::PypiIndex {
    static INDEX: OnceLock<support::PypiIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let idx = support::PypiIndex::new(shared().server.handle(), "/tlspypi");
        idx.publish_wheel(
            &Wheel::new("setuptools", "99.0.0").module("FIXTURE = 'from-the-tls-index'\n"),
        );
        let probe = format!(
            "import os as _o1, setuptools as _st\n\
             with open(_o1.path.join(_o1.environ.get({env}) or _o1.path.expanduser('~'), \
             'tls-setuptools'), 'w') as _f1:\n    _f1.write(getattr(_st, 'FIXTURE', 'another'))\n",
            env = serde_json::json!(support::MARKER_DIR_ENV)
        );
        idx.publish_sdist(
            &Sdist::new("pw-tls-confined", "1.0.0")
                .module("VALUE = 'tls'\n")
                .build_requires("setuptools>=40.8.0")
                .build_code(&format!(
                    "{probe}{}",
                    support::py_confined_build("confined-built")
                )),
        );
        idx
    })
}

/// pip against a private TLS index whose credentials are in `~/.netrc`: the
/// approved sdist is built by pkgward, confined, and its build (the sdist
/// itself, and `setuptools` for its isolated build environment, both from
/// that index) goes through pkgward's index gateway — pkgward is the TLS
/// client, with pip's `PIP_CERT` — never through TLS interception; the
/// build code finds no secret anywhere and reaches no listener, and the
/// record has no missing layer or credentials.
/// A test against [`tls_index`] behind a TLS gate: `pw-tls-confined`
/// approved, the gate's index approved, its credentials in `~/.netrc`; the
/// test CA's file. Without the credentials the index refuses (checked):
/// nothing passes by accident.
fn tls_setup(gate: &support::AuthGate, evil: &Listener) -> (T, String) {
    tls_index();
    let t = setup("[scripts]\nallow = [\"pypi:pw-tls-confined\"]\n");
    let p = std::fs::read_to_string(&t.g.policy).unwrap();
    let p = p.replacen("pypi = [", &format!("pypi = [\"{}\", ", gate.index()), 1);
    std::fs::write(&t.g.policy, p).unwrap();
    support::py_confined_home(&t.g.sb.home, evil);
    let ca = t.g.sb.root().join("test-ca.pem");
    std::fs::write(&ca, gate.ca_pem()).unwrap();
    let ca = ca.to_string_lossy().into_owned();
    let url = gate.index();
    let probe = |auth: bool| {
        let o = std::process::Command::new(real_python())
            .args([
                "-c",
                "import base64, ssl, sys, urllib.request as u\n\
                 r = u.Request(sys.argv[1])\n\
                 if sys.argv[3]: r.add_header('Authorization', 'Basic ' + base64.b64encode(sys.argv[3].encode()).decode())\n\
                 try:\n    print(u.urlopen(r, context=ssl.create_default_context(cafile=sys.argv[2])).status)\n\
                 except u.HTTPError as e:\n    print(e.code)",
                &url,
                &ca,
                &if auth {
                    format!("{}:{}", support::INDEX_USER, support::INDEX_SECRET)
                } else {
                    String::new()
                },
            ])
            .output()
            .unwrap();
        text(&o.stdout).trim().to_string()
    };
    assert_eq!(probe(false), "401");
    assert_eq!(probe(true), "200");
    std::fs::write(t.g.sb.home.join(".netrc"), support::auth_netrc()).unwrap();
    (t, ca)
}

/// The build's fetches through the gateway (`via: "gateway"` requests,
/// each to the gate's `https://` URL): `files` among them.
fn gateway_fetches(t: &T, gate: &support::AuthGate, files: &[&str]) {
    let fetched: Vec<String> = t
        .g
        .audit()
        .into_iter()
        .filter(|r| r["kind"] == "connection" && r["via"] == "gateway" && r["method"] != "CONNECT")
        .inspect(|r| {
            assert_eq!(r["host"], "127.0.0.1", "{r}");
            assert_eq!(r["port"], gate.port, "{r}");
            assert!(r["bytes_down"].as_u64().unwrap() > 0, "{r}");
        })
        .map(|r| r["url"].as_str().unwrap_or("").to_string())
        .collect();
    for file in files {
        assert!(
            fetched.iter().any(|u| u.ends_with(file)),
            "{file} not fetched through the gateway: {fetched:?}"
        );
    }
    assert!(
        fetched
            .iter()
            .all(|u| u.starts_with(&format!("https://127.0.0.1:{}/", gate.port))),
        "{fetched:?}"
    );
}

#[test]
fn confined_pip_builds_reach_a_tls_index_through_the_gateway() {
    let gate = support::AuthGate::start_tls("/tlspypi");
    let evil = Listener::start();
    let (t, ca) = tls_setup(&gate, &evil);
    let url = gate.index();
    let site = target(&t);
    let args = ["install", "--target", site.as_str(), "pw-tls-confined"];
    let extra = [("PIP_INDEX_URL", url.as_str()), ("PIP_CERT", ca.as_str())];
    let before = gate.passed.load(std::sync::atomic::Ordering::SeqCst);
    let o = pip(&t, &args, &extra);
    assert!(o.status.success(), "{}", text(&o.stderr));
    tls_build_confined("tls", &t, &evil);
    assert!(gate.passed.load(std::sync::atomic::Ordering::SeqCst) > before);
    // The build's fetches: through the gateway, each recorded.
    gateway_fetches(
        &t,
        &gate,
        &[
            "pw_tls_confined-1.0.0.tar.gz",
            "setuptools-99.0.0-py3-none-any.whl",
        ],
    );
}

/// uv against the same private TLS index (credentials in `~/.netrc`, the
/// index's CA in `SSL_CERT_FILE`): uv's whole run is confined to build the
/// approved sdist, and its lock file would name the index's own URL, so
/// the egress proxy serves the index gateway at that origin — the run
/// trusts the invocation's ephemeral CA besides its own roots, pkgward
/// fetches with the credentials — while the build finds no secret, and
/// the record says nothing is missing.
#[test]
fn confined_uv_runs_reach_a_tls_index_at_its_own_url() {
    let gate = support::AuthGate::start_tls("/tlspypi");
    let evil = Listener::start();
    let (t, ca) = tls_setup(&gate, &evil);
    t.g.sb.write(
        "pyproject.toml",
        "[project]\nname = \"pw-scr-proj\"\nversion = \"0.1.0\"\n\
         requires-python = \">=3.8\"\ndependencies = [\"pw-tls-confined\"]\n",
    );
    let url = gate.index();
    let extra = [
        ("UV_DEFAULT_INDEX", url.as_str()),
        ("SSL_CERT_FILE", ca.as_str()),
    ];
    let before = gate.passed.load(std::sync::atomic::Ordering::SeqCst);
    let o = uv(&t, &["sync"], &extra);
    assert!(o.status.success(), "{}", text(&o.stderr));
    tls_build_confined("uv tls", &t, &evil);
    assert!(in_venv(&t, "pw_tls_confined"));
    assert!(gate.passed.load(std::sync::atomic::Ordering::SeqCst) > before);
    gateway_fetches(
        &t,
        &gate,
        &[
            "pw_tls_confined-1.0.0.tar.gz",
            "setuptools-99.0.0-py3-none-any.whl",
        ],
    );
    let lock = std::fs::read_to_string(t.g.sb.work.join("uv.lock")).unwrap();
    assert!(lock.contains(&url), "{lock}");
}

/// uv: a confined `uv sync` against the index that needs credentials (in
/// `UV_INDEX_<NAME>_USERNAME` / `_PASSWORD`, or `~/.netrc`) resolves, builds the
/// approved sdist and installs, while the build finds no secret.
#[test]
fn confined_uv_runs_authenticate_without_holding_the_secret() {
    let gate = support::AuthGate::start();
    let evil = Listener::start();
    for what in ["named index", "netrc"] {
        let t = auth_setup(&gate, &evil);
        if what == "netrc" {
            std::fs::write(t.g.sb.home.join(".netrc"), support::auth_netrc()).unwrap();
        }
        t.g.sb.write(
            "pyproject.toml",
            "[project]\nname = \"pw-scr-proj\"\nversion = \"0.1.0\"\n\
             requires-python = \">=3.8\"\ndependencies = [\"pw-scr-confined\", \"pw-scr-wheel\"]\n",
        );
        let url = gate.index();
        let named = format!("priv={url}");
        let mut extra = vec![("UV_DEFAULT_INDEX", url.as_str())];
        if what == "named index" {
            extra.extend([
                ("UV_INDEX", named.as_str()),
                ("UV_INDEX_PRIV_USERNAME", support::INDEX_USER),
                ("UV_INDEX_PRIV_PASSWORD", support::INDEX_SECRET),
            ]);
        }
        let o = uv(&t, &["sync"], &extra);
        assert!(o.status.success(), "{what}: {}", text(&o.stderr));
        let rec = script_records(&t).pop().expect("a script record");
        assert_eq!(rec["package"], "pw-scr-confined", "{what}");
        assert_eq!(rec["exit_code"], 0, "{what}: {rec}");
        support::assert_py_confined(
            what,
            t.g.sb.marker("confined-built"),
            &evil,
            &t.g.sb.home,
            &rec,
        );
        assert_no_secret(what, &t);
        assert!(in_venv(&t, "pw_scr_confined"), "{what}");
    }
}
