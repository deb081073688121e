//! The CI integration, `installers/ci/setup.sh` (what `action.yml` and the
//! GitLab template run), run for real: GitHub's `GITHUB_PATH`/`GITHUB_ENV`
//! files, the `eval` form, pinned policy downloads from a loopback server,
//! and a later "step" in which the real npm goes through the shim and the
//! job summary lists it.

#![cfg(unix)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

fn setup() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("installers/ci/setup.sh")
}

fn built() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pkgward"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A clean environment: a private HOME and TMPDIR, the system PATH.
fn base(cmd: &mut Command, root: &Path) {
    cmd.env_clear()
        .env("HOME", root.join("home"))
        .env("TMPDIR", root.join("tmp"))
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("PKGWARD_SYSTEM_POLICY", root.join("no-system-policy"))
        .current_dir(root.join("work"));
}

fn sandbox() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for d in ["home", "tmp", "work"] {
        std::fs::create_dir_all(t.path().join(d)).unwrap();
    }
    std::fs::write(
        t.path().join("work/pkgward.ci.toml"),
        "mode = \"audit\"\n[registries]\nnpm = [\"builtin\"]\n",
    )
    .unwrap();
    t
}

fn run_setup(root: &Path, args: &[&str], github: bool) -> Output {
    let mut c = Command::new("sh");
    c.arg(setup()).args(args);
    base(&mut c, root);
    c.env("RUNNER_TEMP", root.join("runner-temp"));
    if github {
        c.env("GITHUB_ENV", root.join("github_env"))
            .env("GITHUB_PATH", root.join("github_path"));
    }
    c.output().unwrap()
}

#[test]
fn github_actions_later_steps_go_through_the_shims_and_get_a_summary() {
    let t = sandbox();
    let root = t.path();
    let out = run_setup(
        root,
        &[
            "--binary",
            built().to_str().unwrap(),
            "--policy",
            "pkgward.ci.toml",
        ],
        true,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let env_file = std::fs::read_to_string(root.join("github_env")).unwrap();
    let path_file = std::fs::read_to_string(root.join("github_path")).unwrap();
    let prefix = root.join("runner-temp/pkgward");
    assert!(
        path_file
            .lines()
            .any(|l| Path::new(l) == prefix.join("shims")),
        "{path_file}"
    );
    for var in [
        "PKGWARD_STATE_DIR",
        "PKGWARD_JOB_START",
        "PKGWARD_POLICY",
        "PKGWARD_SHIM_DIR",
    ] {
        assert!(env_file.contains(&format!("{var}=")), "{var}: {env_file}");
    }
    assert!(prefix.join("shims/npm").exists());

    // A later step, as the runner builds it: GITHUB_PATH lines prepended
    // (each one in front of the previous), GITHUB_ENV variables set.
    let mut path: Vec<PathBuf> = path_file.lines().rev().map(PathBuf::from).collect();
    path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap()));
    let later = |program: &str, args: &[&str]| {
        let mut c = Command::new(program);
        c.args(args);
        base(&mut c, root);
        c.env("PATH", std::env::join_paths(&path).unwrap());
        for line in env_file.lines() {
            let (k, v) = line.split_once('=').unwrap();
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let which = later("sh", &["-c", "command -v npm"]);
    assert_eq!(
        text(&which.stdout).trim(),
        prefix.join("shims/npm").to_str().unwrap()
    );
    let npm = later("npm", &["--version"]);
    assert!(npm.status.success(), "{}", text(&npm.stderr));
    let audit = std::fs::read_to_string(prefix.join("state/audit.jsonl")).unwrap();
    assert!(audit.contains("\"tool\":\"npm\""), "{audit}");
    let summary = later("pkgward", &["log", "--summary", "--since", "job"]);
    let md = text(&summary.stdout);
    assert!(summary.status.success(), "{}", text(&summary.stderr));
    assert!(md.starts_with("## pkgward"), "{md}");
    assert!(md.contains("| npm | 1 | 1 | 0 | 0 |"), "{md}");
}

#[test]
fn eval_form_for_other_ci_systems() {
    let t = sandbox();
    let root = t.path();
    let out = run_setup(root, &["--binary", built().to_str().unwrap()], false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exports = text(&out.stdout);
    let script = format!("{exports}\ncommand -v pip; echo \"$PKGWARD_STATE_DIR\"");
    let mut c = Command::new("sh");
    c.args(["-c", &script]);
    base(&mut c, root);
    let o = c.output().unwrap();
    let lines: Vec<String> = text(&o.stdout).lines().map(str::to_string).collect();
    let prefix = root.join("runner-temp/pkgward");
    assert_eq!(
        lines[0],
        prefix.join("shims/pip").to_str().unwrap(),
        "{exports}"
    );
    assert_eq!(lines[1], prefix.join("state").to_str().unwrap());
}

/// Serves `body` for every request on 127.0.0.1, `n` times.
fn serve(body: &'static str, n: usize) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().take(n) {
            let mut c = conn.unwrap();
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://127.0.0.1:{port}/policy.toml")
}

#[test]
fn policy_urls_must_be_pinned_and_policies_valid() {
    let body = "mode = \"enforce\"\n";
    let pin = Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let url = serve(body, 3);
    let bin = built();
    let b = bin.to_str().unwrap();
    let t = sandbox();
    let root = t.path();

    let unpinned = run_setup(root, &["--binary", b, "--policy", &url], true);
    assert!(!unpinned.status.success());
    assert!(text(&unpinned.stderr).contains("needs --policy-sha256"));

    let wrong = run_setup(
        root,
        &[
            "--binary",
            b,
            "--policy",
            &url,
            "--policy-sha256",
            &"0".repeat(64),
        ],
        true,
    );
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains("not the pinned"),
        "{}",
        text(&wrong.stderr)
    );
    assert!(!std::fs::read_to_string(root.join("github_env"))
        .unwrap_or_default()
        .contains("PKGWARD_POLICY="));

    let ok = run_setup(
        root,
        &[
            "--binary",
            b,
            "--policy",
            &url,
            "--policy-sha256",
            &pin.to_uppercase(),
        ],
        true,
    );
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let env_file = std::fs::read_to_string(root.join("github_env")).unwrap();
    let policy = env_file
        .lines()
        .find_map(|l| l.strip_prefix("PKGWARD_POLICY="))
        .unwrap();
    assert_eq!(std::fs::read_to_string(policy).unwrap(), body);

    std::fs::write(root.join("work/bad.toml"), "mdoe = \"audit\"\n").unwrap();
    let bad = run_setup(root, &["--binary", b, "--policy", "bad.toml"], true);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("mdoe"), "{}", text(&bad.stderr));
}
