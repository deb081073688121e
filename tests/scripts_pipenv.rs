//! Install-time code under pipenv, end to end with the real pipenv behind
//! the pkgward shim against the loopback index (a Pipfile `[[source]]` on
//! 127.0.0.1): an sdist whose build writes a marker, sends a fake token
//! read from `$HOME` to a loopback listener, drops an executable into a
//! PATH directory and appends to `~/.bashrc`. Unapproved: none of it
//! happens — not while locking, not while installing, whatever the pip
//! config files, the environment, `--extra-pip-args` or the Pipfile say —
//! and the invocation is denied with the approve command; wheels still
//! install. Approved: pip builds it inside pipenv's run, recorded.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use support::guard::{pkgward_bin, text, to_env, Guarded};
use support::registry::Listener;
use support::tools::{real_python, EnvList};
use support::{py_marker, shared, Sdist, Wheel};

fn evil_build() -> String {
    support::py_evil_build("pe-evil-built")
}

fn fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let r = shared();
        r.publish_sdist(
            &Sdist::new("pw-pe-evil", "1.0.0")
                .module("VALUE = 'evil'\n")
                .build_code(&evil_build()),
        );
        r.publish_wheel(&Wheel::new("pw-pe-wheel", "1.0.0").module("VALUE = 'wheel'\n"));
        r.publish_sdist(
            &Sdist::new("pw-pe-confined", "1.0.0")
                .module("VALUE = 'confined'\n")
                .build_code(&support::py_confined_build("confined-built")),
        );
        // A wheel and an sdist whose build is malicious: wheels only must
        // pick the wheel whatever the settings say.
        r.publish_wheel(&Wheel::new("pw-pe-both", "1.0.0").module("VALUE = 'wheel'\n"));
        r.publish_sdist(
            &Sdist::new("pw-pe-both", "1.0.0")
                .module("VALUE = 'sdist'\n")
                .build_code(&evil_build()),
        );
        // The package a user approves: its build only writes a marker.
        r.publish_sdist(
            &Sdist::new("pw-pe-ok", "1.0.0")
                .module("VALUE = 'ok'\n")
                .build_code(&py_marker("pe-ok-built")),
        );
    });
}

/// The real pipenv, as this machine's Python runs it.
fn pipenv_module_available() {
    let ok = std::process::Command::new(real_python())
        .args(["-c", "import pipenv"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "pipenv not importable by {}: `python3 -m pip install pipenv` (these tests run the real pipenv)",
        real_python().display()
    );
}

struct T {
    g: Guarded,
    exfil: Listener,
    host: String,
}

fn policy_text(t_host: &str, extra: &str) -> String {
    format!(
        "mode = \"enforce\"\n[registries]\npypi = [\"{}\"]\n[network]\nallow = [\"{t_host}\"]\n{extra}",
        shared().pypi_index_url()
    )
}

fn setup(policy_extra: &str) -> T {
    fixtures();
    pipenv_module_available();
    let exfil = Listener::start();
    let host = exfil
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let g = Guarded::new(&policy_text(&host, policy_extra));
    std::os::unix::fs::symlink(pkgward_bin(), g.shims.join("pipenv")).unwrap();
    let p = g.real.join("pipenv");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nexec '{}' -m pipenv \"$@\"\n",
            real_python().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    let h = &g.sb.home;
    std::fs::write(h.join(".fake-token"), "tok-s3cret\n").unwrap();
    std::fs::write(h.join(".bashrc"), "# rc\n").unwrap();
    std::fs::write(h.join(".exfil-url"), exfil.base_url()).unwrap();
    T { g, exfil, host }
}

/// Replaces the policy's `[scripts]` part.
fn set_policy(t: &T, extra: &str) {
    let text = format!(
        "{}\n[sandbox]\nallow_write = [{:?}]\n",
        policy_text(&t.host, extra),
        t.g.sb.markers.display().to_string()
    );
    std::fs::write(&t.g.policy, text).unwrap();
}

fn pipenv_env(t: &T) -> EnvList {
    let r = t.g.sb.root();
    vec![
        ("PIPENV_VENV_IN_PROJECT".into(), "1".into()),
        ("PIPENV_IGNORE_VIRTUALENVS".into(), "1".into()),
        ("PIPENV_NOSPIN".into(), "1".into()),
        ("PIPENV_YES".into(), "1".into()),
        ("PIPENV_HIDE_EMOJIS".into(), "1".into()),
        ("PIPENV_VERBOSITY".into(), "-1".into()),
        ("PIPENV_PYTHON".into(), real_python().into()),
        ("PIPENV_CACHE_DIR".into(), r.join("pipenv-cache").into()),
        ("WORKON_HOME".into(), r.join("venvs").into()),
        (
            "VIRTUALENV_OVERRIDE_APP_DATA".into(),
            r.join("venv-app-data").into(),
        ),
        ("XDG_CONFIG_DIRS".into(), r.join("etc/xdg").into()),
        ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
    ]
}

/// A project directory with this Pipfile (its source: the loopback index).
fn project(t: &T, name: &str, packages: &str) -> PathBuf {
    let pipfile = format!(
        "[[source]]\nurl = \"{}\"\nverify_ssl = false\nname = \"local\"\n\n[packages]\n{packages}\n",
        shared().pypi_index_url()
    );
    let p = t.g.sb.write(&format!("{name}/Pipfile"), pipfile);
    p.parent().unwrap().to_path_buf()
}

fn pipenv(t: &T, dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
    t.g.sb
        .command("pipenv", &[pipenv_env(t), t.g.pkgward_env(), to_env(extra)])
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn no_effects(t: &T, what: &str) {
    assert_eq!(
        t.g.sb.marker("pe-evil-built"),
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

fn installed(dir: &Path, module: &str) -> bool {
    let Ok(lib) = std::fs::read_dir(dir.join(".venv/lib")) else {
        return false;
    };
    lib.flatten().any(|py| {
        let sp = py.path().join("site-packages");
        sp.join(format!("{module}.py")).exists() || sp.join(module).exists()
    })
}

/// (what, arguments, extra environment, extra Pipfile text)
type Case<'a> = (
    &'a str,
    Vec<&'a str>,
    Vec<(&'a str, &'a str)>,
    Option<&'a str>,
);

#[test]
fn pipenv_builds_no_unapproved_sdist() {
    let t = setup("");
    // Locking a Pipfile that needs an sdist-only package: denied before
    // pipenv runs, with the approve command, recorded.
    let p1 = project(&t, "p1", "pw-pe-evil = \"*\"\npw-pe-wheel = \"*\"");
    let o = pipenv(&t, &p1, &["lock"], &[]);
    assert_eq!(o.status.code(), Some(77), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("pkgward approve pypi:pw-pe-evil@1.0.0"),
        "{err}"
    );
    assert!(err.contains("pkgward approve pypi:pw-pe-evil\n"), "{err}");
    no_effects(&t, "pipenv lock");
    let recs = script_records(&t);
    let last = recs.last().expect("a script record");
    assert_eq!(last["package"], "pw-pe-evil");
    assert_eq!(last["version"], "1.0.0");
    assert_eq!(last["decision"], "deny");
    assert_eq!(last["ran"], false);
    assert_eq!(
        last["invocation_id"],
        t.g.last_invocation()["invocation_id"]
    );
    // Ways of turning builds back on are refused before pipenv runs.
    let cases: Vec<Case<'_>> = vec![
        (
            "PIP_NO_BINARY",
            vec!["lock"],
            vec![("PIP_NO_BINARY", "pw-pe-evil")],
            None,
        ),
        (
            "PIP_only_binary",
            vec!["lock"],
            vec![("PIP_only_binary", ":none:")],
            None,
        ),
        (
            "--extra-pip-args",
            vec!["install", "--extra-pip-args=--no-binary pw-pe-evil"],
            vec![],
            None,
        ),
        (
            "PIPENV_EXTRA_PIP_ARGS",
            vec!["install"],
            vec![("PIPENV_EXTRA_PIP_ARGS", "--only-binary=:none:")],
            None,
        ),
        (
            "--resolver",
            vec!["lock", "--resolver", "pure-python"],
            vec![],
            None,
        ),
        // pipenv loads the project's .env over its environment.
        (".env", vec!["lock"], vec![], None),
        // pip builds these from source whatever it is told.
        (
            "an sdist by URL",
            vec!["lock"],
            vec![],
            Some("[dev-packages]\npw-pe-evil = {file = \"http://127.0.0.1:9/pw_pe_evil-1.0.0.tar.gz\"}\n"),
        ),
        (
            "a VCS reference",
            vec!["install", "git+http://127.0.0.1:9/pw-pe-evil.git#egg=pw-pe-evil"],
            vec![],
            None,
        ),
        (
            "[pipenv] resolver",
            vec!["lock"],
            vec![],
            Some("[pipenv]\nresolver = \"pure-python\"\n"),
        ),
        (
            "no_binary entry",
            vec!["lock"],
            vec![],
            Some("[dev-packages]\npw-pe-both = {version = \"*\", no_binary = true}\n"),
        ),
        (
            "a spec spanning lines",
            vec!["lock"],
            vec![],
            Some("[dev-packages]\npw-pe-wheel = \"*\\n--no-binary :all:\"\n"),
        ),
    ];
    for (what, args, env, pipfile_extra) in cases {
        let dir = project(
            &t,
            "p2",
            &format!("pw-pe-wheel = \"*\"\n{}", pipfile_extra.unwrap_or("")),
        );
        let dotenv = dir.join(".env");
        if what == ".env" {
            std::fs::write(&dotenv, "PIP_ONLY_BINARY=:none:\n").unwrap();
        } else if dotenv.exists() {
            std::fs::remove_file(&dotenv).unwrap();
        }
        let o = pipenv(&t, &dir, &args, &env);
        assert_eq!(o.status.code(), Some(77), "{what}: {}", text(&o.stderr));
        let inv = t.g.last_invocation();
        let reasons = inv["decision"]["reasons"].as_array().unwrap().clone();
        assert!(
            reasons.iter().any(|r| r["code"] == "build-not-approved"),
            "{what}: {reasons:?}"
        );
        no_effects(&t, what);
    }
    // pip config files asking for builds from source do not reach pipenv's
    // pips: the package that has a wheel installs from it, its sdist is not
    // built, while locking or installing.
    let conf = t.g.sb.home.join(".config/pip/pip.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(
        &conf,
        "[global]\nno-binary = :all:\n[install]\nonly-binary = :none:\nno-binary = pw-pe-both\n",
    )
    .unwrap();
    let p3 = project(&t, "p3", "pw-pe-both = \"*\"\npw-pe-wheel = \"*\"");
    let o = pipenv(&t, &p3, &["install"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    no_effects(&t, "pip config no-binary");
    assert!(installed(&p3, "pw_pe_both"), "{}", text(&o.stderr));
    assert!(installed(&p3, "pw_pe_wheel"));
    let lock = std::fs::read_to_string(p3.join("Pipfile.lock")).unwrap();
    assert!(lock.contains("pw-pe-both"), "{lock}");
    // Builds were switched off for the invocation, and said so.
    let off: Vec<serde_json::Value> =
        t.g.audit()
            .into_iter()
            .filter(|r| r["kind"] == "script" && r["package"] == "*")
            .collect();
    let last = off.last().expect("the wheels-only record");
    assert_eq!(
        last["invocation_id"],
        t.g.last_invocation()["invocation_id"]
    );
    let runner = last["runner"].to_string();
    assert!(runner.contains("PIP_ONLY_BINARY=:all:"), "{runner}");
    assert!(runner.contains("--extra-pip-args=-r "), "{runner}");
    // A lock entry marked no_binary: refused too (pipenv would pass pip
    // `--no-binary pw-pe-both`).
    std::fs::remove_dir_all(p3.join(".venv")).unwrap();
    let marked = lock.replacen(
        "\"pw-pe-both\": {",
        "\"pw-pe-both\": {\n            \"no_binary\": true,",
        1,
    );
    assert_ne!(marked, lock);
    std::fs::write(p3.join("Pipfile.lock"), marked).unwrap();
    let o = pipenv(&t, &p3, &["sync"], &[]);
    assert_eq!(o.status.code(), Some(77), "{}", text(&o.stderr));
    no_effects(&t, "lock no_binary");
}

/// The control: with `scripts.default = "allow"` pipenv (with the same pip
/// config file) builds the sdist, so the test above proves pkgward stopped it.
#[test]
fn control_pipenv_builds_when_the_policy_allows_it() {
    let t = setup("[scripts]\ndefault = \"allow\"\n");
    let conf = t.g.sb.home.join(".config/pip/pip.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(
        &conf,
        "[global]\nno-binary = :all:\n[install]\nonly-binary = :none:\nno-binary = pw-pe-both\n",
    )
    .unwrap();
    let p = project(&t, "p", "pw-pe-both = \"*\"");
    let o = pipenv(&t, &p, &["lock"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(t.g.sb.marker("pe-evil-built").as_deref(), Some("ran\n"));
}

fn assert_approved_built(t: &T, what: &str) {
    assert_eq!(
        t.g.sb.marker("pe-ok-built").as_deref(),
        Some("ran\n"),
        "{what}: the approved build did not run"
    );
    let recs = script_records(t);
    let last = recs.last().expect("a script record");
    assert_eq!(last["package"], "pw-pe-ok", "{what}");
    assert_eq!(last["version"], "1.0.0", "{what}");
    assert_eq!(last["script"], "build");
    assert_eq!(last["decision"], "approved", "{what}");
    assert_eq!(last["ran"], true);
    assert_eq!(last["exit_code"], 0);
    assert!(last["duration_ms"].as_f64().is_some(), "{last}");
    assert!(
        last["approved_by"]
            .as_str()
            .unwrap()
            .starts_with("pypi:pw-pe-ok"),
        "{last}"
    );
    assert_eq!(
        last["invocation_id"],
        t.g.last_invocation()["invocation_id"]
    );
}

#[test]
fn pipenv_builds_an_approved_sdist_in_its_run() {
    let t = setup("[scripts]\nallow = [\"pypi:pw-pe-ok\"]\n");
    // Locking (pipenv's resolver builds it to read its metadata) and
    // installing (pip builds it from the locked sdist, hash checked). The
    // others stay wheels only, whatever the user's pip config says.
    let conf = t.g.sb.home.join(".config/pip/pip.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(&conf, "[global]\nno-binary = :all:\n").unwrap();
    let p = project(
        &t,
        "p",
        "pw-pe-ok = \"*\"\npw-pe-wheel = \"*\"\npw-pe-both = \"*\"",
    );
    let o = pipenv(&t, &p, &["install"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(installed(&p, "pw_pe_ok"), "{}", text(&o.stderr));
    assert!(installed(&p, "pw_pe_wheel"));
    assert!(installed(&p, "pw_pe_both"));
    assert_approved_built(&t, "pipenv install");
    no_effects(&t, "approved install");
    // From a current lock (pipenv installs from it), an approval's range
    // is checked against the locked version. (pip would take the wheel it
    // built from its cache: the cache goes too, so that the build runs
    // again.)
    std::fs::remove_dir_all(p.join(".venv")).unwrap();
    std::fs::remove_dir_all(t.g.sb.root().join("pipenv-cache")).unwrap();
    std::fs::remove_file(t.g.sb.markers.join("pe-ok-built")).unwrap();
    set_policy(&t, "[scripts]\nallow = [\"pypi:pw-pe-ok@>=1,<2\"]\n");
    let o = pipenv(&t, &p, &["install"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(installed(&p, "pw_pe_ok"));
    assert_approved_built(&t, "pipenv install from the lock");
    std::fs::remove_dir_all(p.join(".venv")).unwrap();
    std::fs::remove_file(t.g.sb.markers.join("pe-ok-built")).unwrap();
    set_policy(&t, "[scripts]\nallow = [\"pypi:pw-pe-ok@>=2\"]\n");
    let o = pipenv(&t, &p, &["sync"], &[]);
    assert_eq!(o.status.code(), Some(77), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("pkgward approve pypi:pw-pe-ok@1.0.0"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(t.g.sb.marker("pe-ok-built"), None);
    let last = script_records(&t).pop().unwrap();
    assert_eq!(last["decision"], "deny");
    assert_eq!(last["version"], "1.0.0");
    // An unapproved sdist next to the approved one is still denied.
    set_policy(&t, "[scripts]\nallow = [\"pypi:pw-pe-ok\"]\n");
    let q = project(&t, "q", "pw-pe-ok = \"*\"\npw-pe-evil = \"*\"");
    let o = pipenv(&t, &q, &["install"], &[]);
    assert_eq!(o.status.code(), Some(77), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("pkgward approve pypi:pw-pe-evil"));
    no_effects(&t, "approved next to unapproved");
}

/// Approved builds run inside pipenv's run (its resolver, then pip), which
/// is then confined as a whole: the build's attempts to read a fake SSH
/// key, reach a loopback listener (straight or through the proxy), write
/// outside the project or append to `~/.bashrc` fail, while pipenv still
/// locks and installs (the package imports) and the records name the
/// layers in force — also where `[sandbox] require = true`.
#[test]
fn pipenv_runs_that_build_approved_sdists_are_confined() {
    let evil = Listener::start();
    for require in [false, true] {
        let what = if require {
            "sandbox required"
        } else {
            "default"
        };
        let t = setup("");
        set_policy(&t, "[scripts]\nallow = [\"pypi:pw-pe-confined\"]\n");
        if require {
            let mut p = std::fs::read_to_string(&t.g.policy).unwrap();
            p.push_str("require = true\n");
            std::fs::write(&t.g.policy, p).unwrap();
        }
        support::py_confined_home(&t.g.sb.home, &evil);
        let p = project(&t, "c", "pw-pe-confined = \"*\"\npw-pe-wheel = \"*\"");
        let o = pipenv(&t, &p, &["install"], &[]);
        assert!(o.status.success(), "{what}: {}", text(&o.stderr));
        assert!(installed(&p, "pw_pe_confined"), "{what}");
        assert!(installed(&p, "pw_pe_wheel"), "{what}");
        let rec = script_records(&t).pop().expect("a script record");
        assert_eq!(rec["package"], "pw-pe-confined", "{what}");
        assert_eq!(rec["decision"], "approved", "{what}");
        assert_eq!(rec["exit_code"], 0, "{what}");
        assert!(rec["sandbox"]["missing"].is_null(), "{what}: {rec}");
        support::assert_py_confined(
            &format!("pipenv install ({what})"),
            t.g.sb.marker("confined-built"),
            &evil,
            &t.g.sb.home,
            &rec,
        );
        let o = std::process::Command::new(p.join(".venv/bin/python"))
            .args(["-c", "import pw_pe_confined as m; print(m.VALUE)"])
            .output()
            .unwrap();
        assert_eq!(text(&o.stdout).trim(), "confined", "{}", text(&o.stderr));
    }
}

/// With the virtualenv outside the project (pipenv's default: under
/// `WORKON_HOME`) and not created yet, the confined run may write that one
/// virtualenv only: the approved build cannot write into another project's
/// virtualenv next to it, while pipenv still locks and installs into its
/// own.
#[test]
fn a_confined_pipenv_run_writes_only_its_own_virtualenv() {
    let evil = Listener::start();
    let t = setup("");
    set_policy(&t, "[scripts]\nallow = [\"pypi:pw-pe-confined\"]\n");
    support::py_confined_home(&t.g.sb.home, &evil);
    let venvs = t.g.sb.root().join("venvs");
    let victim = venvs.join("other-project-AbCdEfGh");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(t.g.sb.home.join(".victim-dir"), victim.to_str().unwrap()).unwrap();
    let p = project(&t, "c", "pw-pe-confined = \"*\"\npw-pe-wheel = \"*\"");
    let o = pipenv(&t, &p, &["install"], &[("PIPENV_VENV_IN_PROJECT", "0")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    support::assert_py_build_confined(
        "pipenv install, virtualenv in WORKON_HOME",
        script_records(&t),
        "pw-pe-confined",
        t.g.sb.marker("confined-built"),
        &evil,
        &t.g.sb.home,
    );
    assert!(!victim.join("pwned").exists());
    assert!(!p.join(".venv").exists());
    let own: Vec<PathBuf> = std::fs::read_dir(&venvs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|v| *v != victim)
        .collect();
    assert_eq!(own.len(), 1, "{own:?}");
    let o = std::process::Command::new(own[0].join("bin/python"))
        .args(["-c", "import pw_pe_confined as m; print(m.VALUE)"])
        .output()
        .unwrap();
    assert_eq!(text(&o.stdout).trim(), "confined", "{}", text(&o.stderr));
}

/// A Pipfile source that needs credentials (in `~/.netrc`, which pip reads
/// for pipenv; URL userinfo, `${VAR}` included, is refused by the registry
/// policy): the confined run still locks and installs through it (pkgward's
/// proxy adds the credentials), while the approved build cannot read the
/// netrc, finds the secret nowhere else and reaches no listener.
#[test]
fn a_confined_pipenv_run_authenticates_without_holding_the_secret() {
    confined_run_through(&support::AuthGate::start(), None);
}

/// The same source over TLS, verified (`verify_ssl = true`, the user's CA
/// in `PIP_CERT`): pip's resolution and install reach it at its own URL
/// through pkgward's gateway (the run trusts the invocation's CA besides
/// the user's), with the credentials added there; nothing is missing from
/// the build's record.
#[test]
fn a_confined_pipenv_run_reaches_a_tls_source_at_its_own_url() {
    let gate = support::AuthGate::start_tls("/pypi");
    confined_run_through(&gate, Some(gate.ca_pem().to_string()));
}

/// `pipenv install` of an approved sdist from `gate` (netrc credentials;
/// over TLS with `ca` the user's trust): built confined, without the secret.
fn confined_run_through(gate: &support::AuthGate, ca: Option<String>) {
    let evil = Listener::start();
    let t = setup("");
    set_policy(&t, "[scripts]\nallow = [\"pypi:pw-pe-confined\"]\n");
    let p = std::fs::read_to_string(&t.g.policy).unwrap();
    let p = p.replacen("pypi = [", &format!("pypi = [\"{}\", ", gate.index()), 1);
    std::fs::write(&t.g.policy, p).unwrap();
    support::py_confined_home(&t.g.sb.home, &evil);
    std::fs::write(t.g.sb.home.join(".netrc"), support::auth_netrc()).unwrap();
    let p = project(&t, "a", "pw-pe-confined = \"*\"\npw-pe-wheel = \"*\"");
    let pipfile = std::fs::read_to_string(p.join("Pipfile")).unwrap();
    let mut pipfile = pipfile.replace(&shared().pypi_index_url(), &gate.index());
    let mut extra = Vec::new();
    let ca_file = t.g.sb.root().join("test-ca.pem");
    if let Some(ca) = &ca {
        pipfile = pipfile.replace("verify_ssl = false", "verify_ssl = true");
        std::fs::write(&ca_file, ca).unwrap();
        extra.push(("PIP_CERT", ca_file.to_str().unwrap()));
        extra.push(("REQUESTS_CA_BUNDLE", ca_file.to_str().unwrap()));
    }
    std::fs::write(p.join("Pipfile"), pipfile).unwrap();
    let before = gate.passed.load(std::sync::atomic::Ordering::SeqCst);
    let o = pipenv(&t, &p, &["install"], &extra);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(gate.passed.load(std::sync::atomic::Ordering::SeqCst) > before);
    let what = if ca.is_some() {
        "pipenv, TLS source, netrc credentials"
    } else {
        "pipenv, netrc credentials"
    };
    let rec = support::assert_py_build_confined(
        what,
        script_records(&t),
        "pw-pe-confined",
        t.g.sb.marker("confined-built"),
        &evil,
        &t.g.sb.home,
    );
    support::assert_secret_unseen(what, t.g.sb.marker("confined-built"));
    assert!(rec["sandbox"]["missing"].is_null(), "{what}: {rec}");
    assert!(installed(&p, "pw_pe_confined"));
}
