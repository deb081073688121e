//! The Unix installer, `installers/install.sh`, run for real into temporary
//! prefixes with the already-built binary (`--binary`, so no second build),
//! and then used: a tool reached through the installed shims runs, and is
//! recorded in the audit log.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn script() -> PathBuf {
    repo().join("installers/install.sh")
}

fn built() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pkgward"))
}

/// A private HOME, config, data and state directory under a tempdir.
struct Sandbox {
    tmp: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let s = Sandbox {
            tmp: tempfile::tempdir().expect("tempdir"),
        };
        for d in ["home", "state", "tmp", "work", "fake"] {
            fs::create_dir_all(s.root().join(d)).unwrap();
        }
        s
    }
    fn root(&self) -> &Path {
        self.tmp.path()
    }
    fn home(&self) -> PathBuf {
        self.root().join("home")
    }
    fn state(&self) -> PathBuf {
        self.root().join("state")
    }
    fn config(&self) -> PathBuf {
        self.home().join(".config")
    }
    fn fake(&self) -> PathBuf {
        self.root().join("fake")
    }

    /// A command with only this sandbox's environment and the given PATH.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>, path: &str) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", path)
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.config())
            .env("XDG_DATA_HOME", self.home().join(".local/share"))
            .env("XDG_STATE_HOME", self.home().join(".local/state"))
            .env("PKGWARD_STATE_DIR", self.state())
            .env("TMPDIR", self.root().join("tmp"))
            .env("USER", "tester")
            .env("LANG", "C.UTF-8")
            .current_dir(self.root().join("work"))
            .stdin(Stdio::null());
        c
    }

    /// Runs install.sh with `args` and a clean PATH.
    fn install(&self, args: &[&str]) -> Output {
        self.command("/bin/sh", "/usr/bin:/bin")
            .arg(script())
            .args(args)
            .output()
            .expect("run install.sh")
    }

    /// Runs `sh -c SCRIPT` with the given PATH.
    fn sh(&self, script: &str, path: &str) -> Output {
        self.command("/bin/sh", path)
            .arg("-c")
            .arg(script)
            .output()
            .expect("run sh")
    }

    /// A fake `npm` that prints its arguments (one bracketed each) and exits 3.
    fn fake_npm(&self) {
        let p = self.fake().join("npm");
        fs::write(
            &p,
            "#!/bin/sh\nprintf 'fake npm got:'\nfor a in \"$@\"; do printf ' [%s]' \"$a\"; done\n\
             echo\necho 'fake npm stderr' >&2\nexit 3\n",
        )
        .unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn audit(&self) -> Vec<serde_json::Value> {
        let text = fs::read_to_string(self.state().join("audit.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad audit line {l}: {e}")))
            .collect()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Everything under `dir`: kind, symlink target, content and mtime, so two
/// snapshots are equal only if nothing was created, removed or rewritten.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let desc = if m.file_type().is_symlink() {
                format!("link -> {}", fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                walk(&p, out);
                "dir".to_string()
            } else {
                let content = fs::read(&p).unwrap();
                let sum: u64 = content.iter().fold(0xcbf29ce484222325u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
                });
                format!(
                    "file {} bytes fnv {sum:x} mode {:o} mtime {}.{}",
                    content.len(),
                    m.mode(),
                    m.mtime(),
                    m.mtime_nsec()
                )
            };
            out.insert(p, desc);
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    out
}

fn path_line(shims: &Path) -> String {
    format!("export PATH=\"{}:$PATH\"", shims.display())
}

/// Asserts that `dir` holds an npm shim and that every entry is a symlink
/// resolving to `binary`.
#[track_caller]
fn assert_shims(dir: &Path, binary: &Path) {
    let binary = binary.canonicalize().unwrap();
    let mut names = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        assert!(
            fs::symlink_metadata(&p).unwrap().file_type().is_symlink(),
            "{} is not a symlink",
            p.display()
        );
        assert_eq!(
            p.canonicalize().unwrap(),
            binary,
            "{} resolves elsewhere",
            p.display()
        );
        names.push(p.file_name().unwrap().to_string_lossy().into_owned());
    }
    for want in ["npm", "pip", "cargo"] {
        assert!(
            names.iter().any(|n| n == want),
            "no {want} shim in {names:?}"
        );
    }
}

/// The invocation records for `tool` whose argv (after argv[0]) is `args`,
/// each with its exit record.
fn recorded(
    log: &[serde_json::Value],
    tool: &str,
    args: &[&str],
) -> Vec<(serde_json::Value, Option<serde_json::Value>)> {
    log.iter()
        .filter(|r| r["kind"] == "invocation" && r["tool"] == tool)
        .filter(|r| {
            let argv: Vec<&str> = r["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            argv.get(1..) == Some(args)
        })
        .map(|inv| {
            let exit = log
                .iter()
                .find(|r| r["kind"] == "exit" && r["invocation_id"] == inv["invocation_id"])
                .cloned();
            (inv.clone(), exit)
        })
        .collect()
}

#[test]
fn per_user_install_is_complete_idempotent_and_works() {
    let s = Sandbox::new();
    let prefix = s.root().join("prefix");
    let bin = prefix.join("bin/pkgward");
    let shims = prefix.join("share/pkgward/shims");
    let policy = s.config().join("pkgward/policy.toml");
    let binary = built();
    let args = [
        "--prefix",
        prefix.to_str().unwrap(),
        "--binary",
        binary.to_str().unwrap(),
    ];

    let out = ok(&s.install(&args));
    assert!(
        out.lines().any(|l| l == path_line(&shims)),
        "no PATH line `{}` in:\n{out}",
        path_line(&shims)
    );

    // What was installed.
    assert_eq!(
        fs::read(&bin).unwrap(),
        fs::read(&binary).unwrap(),
        "binary differs"
    );
    assert_ne!(
        fs::metadata(&bin).unwrap().mode() & 0o111,
        0,
        "binary not executable"
    );
    assert_shims(&shims, &bin);
    let comp = |p: &str| fs::read_to_string(prefix.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert!(comp("share/bash-completion/completions/pkgward").contains("pkgward"));
    assert!(comp("share/zsh/site-functions/_pkgward").starts_with("#compdef pkgward"));
    assert!(comp("share/fish/vendor_completions.d/pkgward.fish").contains("complete -c pkgward"));
    assert!(comp("share/man/man1/pkgward.1").contains(".TH pkgward"));
    assert!(prefix
        .join("share/man/man1/pkgward-shims-install.1")
        .is_file());
    assert!(prefix.join("share/pkgward/env.sh").is_file());
    let policy_text = fs::read_to_string(&policy).expect("user policy written");
    assert!(policy_text.contains("mode = \"enforce\""), "{policy_text}");
    let check = s
        .command(&bin, "/usr/bin:/bin")
        .args(["policy", "check"])
        .arg(&policy)
        .output()
        .unwrap();
    ok(&check);

    // A second run changes nothing.
    let before = (snapshot(&prefix), snapshot(&s.config()));
    let out = ok(&s.install(&args));
    assert!(out.contains("nothing changed"), "{out}");
    assert!(out.contains("kept the existing policy"), "{out}");
    assert_eq!(
        before,
        (snapshot(&prefix), snapshot(&s.config())),
        "second run changed files"
    );

    // Use it: a fake npm behind the shims; output and exit code pass through.
    s.fake_npm();
    let path = format!("{}:{}:/usr/bin:/bin", shims.display(), s.fake().display());
    let out = s.sh("npm hello 'two words'", &path);
    assert_eq!(
        text(&out.stdout),
        "fake npm got: [hello] [two words]\n",
        "stderr: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("fake npm stderr"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    let log = s.audit();
    let rec = recorded(&log, "npm", &["hello", "two words"]);
    assert_eq!(rec.len(), 1, "audit log: {log:#?}");
    let (inv, exit) = &rec[0];
    assert_eq!(inv["argv"][0], "npm");
    let exit = exit.as_ref().expect("exit record");
    assert_eq!(exit["exit_code"], 3);
    assert_eq!(exit["ran"], true);

    // A real npm, if the machine has one: the same answer as without pkgward.
    if Path::new("/usr/bin/npm").exists() {
        let direct = s.sh("npm --version", "/usr/bin:/bin");
        let guarded = s.sh(
            "npm --version",
            &format!("{}:/usr/bin:/bin", shims.display()),
        );
        assert_eq!(
            (guarded.status.code(), text(&guarded.stdout)),
            (direct.status.code(), text(&direct.stdout)),
            "stderr through the shim: {}",
            text(&guarded.stderr)
        );
        let rec = recorded(&s.audit(), "npm", &["--version"]);
        assert_eq!(rec.len(), 1);
        assert_eq!(
            rec[0].1.as_ref().expect("exit record")["exit_code"],
            direct.status.code().unwrap()
        );
    }
}

#[test]
fn system_install_under_a_prefix() {
    let s = Sandbox::new();
    let prefix = s.root().join("sys");
    let bin = prefix.join("bin/pkgward");
    let shims = prefix.join("lib/pkgward/shims");
    let snippet = prefix.join("etc/profile.d/pkgward.sh");
    let etc_policy = prefix.join("etc/pkgward/policy.toml");
    let binary = built();
    let args = [
        "--system",
        "--prefix",
        prefix.to_str().unwrap(),
        "--binary",
        binary.to_str().unwrap(),
        "--mode",
        "audit",
    ];

    let out = ok(&s.install(&args));
    assert!(out.lines().any(|l| l == path_line(&shims)), "{out}");
    assert_shims(&shims, &bin);
    assert!(snippet.is_file());
    let policy_text = fs::read_to_string(&etc_policy).expect("system policy written");
    assert!(policy_text.contains("mode = \"audit\""), "{policy_text}");
    assert!(prefix
        .join("share/bash-completion/completions/pkgward")
        .is_file());
    assert!(prefix.join("share/man/man1/pkgward.1").is_file());
    assert!(
        !s.config().join("pkgward").exists(),
        "--system wrote a user policy"
    );
    assert!(
        !prefix.join("share/pkgward").exists(),
        "--system used the per-user layout"
    );

    // Sourcing the snippet twice: the shim dir first, exactly once, even when
    // PATH already held it further back.
    let start = format!("/usr/bin:{}:/bin", shims.display());
    let q = snippet.display();
    let out = s.sh(
        &format!(". '{q}'; . '{q}'; printf '%s\\n' \"$PATH\" \"$PKGWARD_SHIM_DIR\" \"$PKGWARD_SYSTEM_POLICY\""),
        &start,
    );
    let out = ok(&out);
    let lines: Vec<&str> = out.lines().collect();
    let entries: Vec<&str> = lines[0].split(':').collect();
    assert_eq!(entries[0], shims.to_str().unwrap(), "{out}");
    assert_eq!(
        entries
            .iter()
            .filter(|e| **e == shims.to_str().unwrap())
            .count(),
        1,
        "{out}"
    );
    assert_eq!(entries[1..], ["/usr/bin", "/bin"], "{out}");
    assert_eq!(lines[1], shims.to_str().unwrap());
    assert_eq!(lines[2], etc_policy.to_str().unwrap());

    // A login-like shell with the snippet reaches the fake npm through the shims.
    s.fake_npm();
    let out = s.sh(
        &format!(". '{q}'; npm hello"),
        &format!("{}:/usr/bin:/bin", s.fake().display()),
    );
    assert_eq!(
        text(&out.stdout),
        "fake npm got: [hello]\n",
        "{}",
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(3));
    let rec = recorded(&s.audit(), "npm", &["hello"]);
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].1.as_ref().expect("exit record")["exit_code"], 3);
    if !Path::new("/etc/pkgward/policy.toml").exists() {
        // The snippet names the prefix's policy as the system layer.
        let out = ok(&s.sh(
            &format!(". '{q}'; '{}' policy show", bin.display()),
            "/usr/bin:/bin",
        ));
        assert!(
            out.contains(&format!("layer system: {}", etc_policy.display())),
            "{out}"
        );
    }

    // Idempotent.
    let before = snapshot(&prefix);
    let out = ok(&s.install(&args));
    assert!(out.contains("nothing changed"), "{out}");
    assert_eq!(before, snapshot(&prefix), "second run changed files");

    // Uninstall: everything but the policy goes.
    let out = ok(&s.install(&[
        "--system",
        "--prefix",
        prefix.to_str().unwrap(),
        "--uninstall",
    ]));
    assert!(out.contains("kept the policy"), "{out}");
    assert!(
        !bin.exists() && !shims.exists() && !snippet.exists(),
        "{out}"
    );
    assert!(!prefix.join("share/man/man1/pkgward.1").exists());
    assert!(!prefix
        .join("share/bash-completion/completions/pkgward")
        .exists());
    assert!(etc_policy.is_file());
}

#[test]
fn modify_path_adds_one_line_and_uninstall_takes_it_back() {
    let s = Sandbox::new();
    let prefix = s.root().join("prefix");
    let shims = prefix.join("share/pkgward/shims");
    let bashrc = s.home().join(".bashrc");
    let profile = s.home().join(".profile");
    fs::write(&bashrc, "# my bashrc\nalias ll='ls -l'\n").unwrap();
    fs::write(&profile, "# my profile").unwrap(); // no final newline
    let binary = built();
    let args = [
        "--prefix",
        prefix.to_str().unwrap(),
        "--binary",
        binary.to_str().unwrap(),
        "--modify-path",
    ];

    for _ in 0..2 {
        ok(&s.install(&args));
        for rc in [&bashrc, &profile] {
            let t = fs::read_to_string(rc).unwrap();
            assert_eq!(
                t.matches("# added by pkgward-install").count(),
                1,
                "{}:\n{t}",
                rc.display()
            );
        }
        assert!(!s.home().join(".zshrc").exists(), "created a .zshrc");
    }
    assert!(fs::read_to_string(&profile)
        .unwrap()
        .starts_with("# my profile\n"));

    // A login shell reading ~/.profile twice has the shims first, once.
    let out = ok(&s.sh(
        ". ~/.profile; . ~/.profile; printf '%s' \"$PATH\"",
        "/usr/bin:/bin",
    ));
    assert_eq!(out, format!("{}:/usr/bin:/bin", shims.display()));

    let out = ok(&s.install(&["--prefix", prefix.to_str().unwrap(), "--uninstall"]));
    assert!(
        out.contains("kept the policy") && out.contains("kept the audit log"),
        "{out}"
    );
    assert_eq!(
        fs::read_to_string(&bashrc).unwrap(),
        "# my bashrc\nalias ll='ls -l'\n"
    );
    assert_eq!(fs::read_to_string(&profile).unwrap(), "# my profile\n");
    assert!(!prefix.join("bin/pkgward").exists());
    assert!(!shims.exists());
    assert!(s.config().join("pkgward/policy.toml").is_file());
}

#[test]
fn foreign_files_in_the_shim_dir_are_kept_unless_forced() {
    let s = Sandbox::new();
    let prefix = s.root().join("prefix");
    let shims = prefix.join("share/pkgward/shims");
    fs::create_dir_all(&shims).unwrap();
    fs::write(shims.join("npm"), "#!/bin/sh\necho mine\n").unwrap();
    let binary = built();
    let mut args = vec![
        "--prefix",
        prefix.to_str().unwrap(),
        "--binary",
        binary.to_str().unwrap(),
    ];

    let out = s.install(&args);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("pkgward-install: error:") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(shims.join("npm")).unwrap(),
        "#!/bin/sh\necho mine\n"
    );

    args.push("--force");
    ok(&s.install(&args));
    assert_shims(&shims, &prefix.join("bin/pkgward"));
}

#[test]
fn bad_usage_fails_with_a_clear_message() {
    let s = Sandbox::new();
    let prefix = s.root().join("prefix");
    let p = prefix.to_str().unwrap();
    let impostor = s.fake().join("pkgward");
    fs::write(&impostor, "#!/bin/sh\necho 'impostor 1.0'\n").unwrap();
    fs::set_permissions(&impostor, fs::Permissions::from_mode(0o755)).unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--prefix", p, "--mode", "lenient"],
            "--mode must be enforce or audit",
        ),
        (
            &["--prefix", p, "--binary", "/nonexistent/pkgward"],
            "is not an executable file",
        ),
        (
            &["--prefix", p, "--binary", impostor.to_str().unwrap()],
            "is not pkgward",
        ),
        (&["--frobnicate"], "unknown option"),
    ];
    for (args, want) in cases {
        let out = s.install(args);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            err.starts_with("pkgward-install: error: ") && err.contains(want),
            "{args:?}: {err}"
        );
    }
    assert!(!prefix.exists(), "a failed run left files behind");

    // Without --binary it builds, which needs cargo: a PATH without it fails clearly.
    let out = s.install(&["--prefix", p]);
    if !Path::new("/usr/bin/cargo").exists() && !Path::new("/bin/cargo").exists() {
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("cargo not found"),
            "{}",
            text(&out.stderr)
        );
    }

    let help = ok(&s.install(&["--help"]));
    for opt in [
        "--prefix",
        "--system",
        "--binary",
        "--mode",
        "--modify-path",
        "--uninstall",
    ] {
        assert!(help.contains(opt), "--help lacks {opt}");
    }
}

#[test]
fn install_script_is_shellcheck_clean() {
    let Ok(out) = Command::new("shellcheck").arg(script()).output() else {
        eprintln!("shellcheck not installed; skipped");
        return;
    };
    assert!(out.status.success(), "{}", text(&out.stdout));
}
