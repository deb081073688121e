//! The foundation: multi-call dispatch, finding the real tool, transparency
//! (exit codes, signals, stdin, TTY), policy layering, the audit log.

mod common;

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn exit_codes_0_to_255_pass_through() {
    let w = World::new();
    w.fake_tool("gem", r#"exit "$1""#);
    w.shim("gem");
    // One shim process per code, in parallel batches to keep the test quick.
    for chunk in (0..=255).collect::<Vec<i32>>().chunks(32) {
        let children: Vec<_> = chunk
            .iter()
            .map(|code| {
                let child = w
                    .command("gem")
                    .arg(code.to_string())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                (*code, child)
            })
            .collect();
        for (code, child) in children {
            let out = child.wait_with_output().unwrap();
            assert_eq!(out.status.code(), Some(code), "stderr: {}", stderr(&out));
            assert!(out.stderr.is_empty(), "shim printed: {}", stderr(&out));
        }
    }
    let recs = w.audit();
    assert_eq!(kinds(&recs, "invocation").len(), 256);
    assert_eq!(kinds(&recs, "exit").len(), 256);
}

#[test]
fn signal_deaths_give_128_plus_n() {
    let w = World::new();
    w.fake_tool("gem", r#"kill -s "$1" $$; sleep 5"#);
    for (sig, n) in [
        ("TERM", 15),
        ("KILL", 9),
        ("SEGV", 11),
        ("USR1", 10),
        ("ABRT", 6),
    ] {
        let out = w.run("gem", &[sig]);
        assert_eq!(
            out.status.code(),
            Some(128 + n),
            "SIG{sig}: {}",
            stderr(&out)
        );
    }
    let exits = w.audit();
    let exits = kinds(&exits, "exit");
    assert_eq!(exits[0]["signal"], 15);
    assert_eq!(exits[0]["exit_code"], 143);
}

fn wait_for_file(path: &std::path::Path) {
    let t = Instant::now();
    while !path.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_and_sighup_are_forwarded_sigint_is_left_to_the_child() {
    let w = World::new();
    let ready = w.root().join("ready");
    let got = w.root().join("got");
    w.fake_tool(
        "gem",
        &format!(
            r#"trap 'echo TERM > {got}; exit 7' TERM
trap 'echo HUP > {got}; exit 8' HUP
touch {ready}
i=0; while [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done
exit 3"#,
            got = got.display(),
            ready = ready.display()
        ),
    );
    w.shim("gem");
    for (sig, want_code, want_text) in [(libc::SIGTERM, 7, "TERM"), (libc::SIGHUP, 8, "HUP")] {
        let _ = std::fs::remove_file(&ready);
        let _ = std::fs::remove_file(&got);
        let child = w.command("gem").spawn().unwrap();
        wait_for_file(&ready);
        unsafe { libc::kill(child.id() as i32, sig) };
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(want_code));
        assert_eq!(std::fs::read_to_string(&got).unwrap().trim(), want_text);
    }
    // SIGINT sent to the shim alone: the shim does not die of it and does not
    // pass it on (a terminal's Ctrl-C reaches the child itself, through the
    // process group); the child finishes and its code comes back.
    w.fake_tool(
        "gem",
        &format!("touch {}; sleep 0.5; exit 5", ready.display()),
    );
    let _ = std::fs::remove_file(&ready);
    let child = w.command("gem").spawn().unwrap();
    wait_for_file(&ready);
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    unsafe { libc::kill(child.id() as i32, libc::SIGQUIT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5));
}

/// The dispositions a terminal's shell gives a foreground command: the
/// test harness itself may run with SIGINT/SIGQUIT ignored (a background job
/// of a non-interactive shell), which the shim would rightly pass on.
fn as_from_a_terminal(cmd: &mut std::process::Command) {
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, || {
            for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGHUP, libc::SIGTERM] {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
}

#[test]
fn ctrl_c_to_the_process_group_reaches_the_child_and_is_recorded() {
    let w = World::new();
    let ready = w.root().join("ready");
    w.fake_tool(
        "gem",
        &format!("touch {}; sleep 5; exit 0", ready.display()),
    );
    w.shim("gem");
    let mut cmd = w.command("gem");
    as_from_a_terminal(&mut cmd);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().unwrap();
    wait_for_file(&ready);
    // What a terminal does on Ctrl-C: SIGINT to the whole foreground group.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let recs = w.audit();
    assert_eq!(kinds(&recs, "exit")[0]["signal"], 2);
}

#[test]
fn ctrl_c_while_the_proxy_runs_does_not_kill_the_shim() {
    // An install starts the egress proxy (a thread) before the tool: a
    // process-directed SIGINT may land on that thread. The shim must still
    // outlive it, let the child die of it and record the exit.
    let w = World::new();
    std::fs::write(
        w.root().join("etc/pkgward/policy.toml"),
        "mode = \"enforce\"\n[registries]\nnpm = [\"http://127.0.0.1:9/\"]\n",
    )
    .unwrap();
    let ready = w.root().join("ready");
    w.fake_tool(
        "npm",
        &format!(
            "ls /proc/$PPID/task | wc -l > {r}.tmp; mv {r}.tmp {r}; sleep 5; exit 0",
            r = ready.display()
        ),
    );
    w.shim("npm");
    let mut cmd = w.command("npm");
    cmd.args(["install", "--registry", "http://127.0.0.1:9/"]);
    as_from_a_terminal(&mut cmd);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().unwrap();
    wait_for_file(&ready);
    let threads: u32 = std::fs::read_to_string(&ready)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(threads > 1, "the shim ran no other thread: {threads}");
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "stderr: {}", stderr(&out));
    let recs = w.audit();
    assert_eq!(kinds(&recs, "exit")[0]["signal"], 2);
}

#[test]
fn a_signal_ignored_by_the_caller_stays_ignored_in_the_child() {
    // `nohup`, or a background job of a non-interactive shell: SIGINT and
    // SIGHUP ignored. Without the shim the tool would inherit that; with it,
    // too.
    let w = World::new();
    let out_file = w.root().join("sigign");
    w.fake_tool(
        "gem",
        &format!("grep '^SigIgn' /proc/self/status > {}", out_file.display()),
    );
    w.shim("gem");
    let mut cmd = w.command("gem");
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let line = std::fs::read_to_string(&out_file).unwrap();
    let mask = u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_ne!(
        mask & (1 << (libc::SIGINT - 1)),
        0,
        "SIGINT not ignored: {line}"
    );
    assert_ne!(
        mask & (1 << (libc::SIGHUP - 1)),
        0,
        "SIGHUP not ignored: {line}"
    );
    // And not ignored where the caller did not ignore it.
    let mut cmd = w.command("gem");
    as_from_a_terminal(&mut cmd);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let line = std::fs::read_to_string(&out_file).unwrap();
    let mask = u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_eq!(
        mask & (1 << (libc::SIGINT - 1)),
        0,
        "SIGINT ignored: {line}"
    );
    assert_eq!(
        mask & (1 << (libc::SIGTERM - 1)),
        0,
        "SIGTERM ignored: {line}"
    );
}

#[test]
fn stdin_stdout_stderr_are_the_childs() {
    let w = World::new();
    w.fake_tool("gem", "cat; echo to-stderr >&2");
    w.shim("gem");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut child = w
        .command("gem")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data2 = data.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&data2).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, data, "stdout must be byte-identical");
    assert_eq!(stderr(&out), "to-stderr\n");
}

#[test]
fn the_child_sees_a_terminal() {
    let w = World::new();
    w.fake_tool(
        "gem",
        r#"if [ -t 0 ] && [ -t 1 ] && [ -t 2 ]; then echo "TTY:$(stty size)"; else echo NOTTY; fi"#,
    );
    w.shim("gem");
    let (mut master, mut slave) = (0, 0);
    let ws = libc::winsize {
        ws_row: 33,
        ws_col: 101,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &ws,
        )
    };
    assert_eq!(rc, 0, "openpty");
    use std::os::fd::FromRawFd;
    let slave_file = unsafe { std::fs::File::from_raw_fd(slave) };
    let mut cmd = w.command("gem");
    cmd.stdin(slave_file.try_clone().unwrap())
        .stdout(slave_file.try_clone().unwrap())
        .stderr(slave_file);
    let mut child = cmd.spawn().unwrap();
    let status = child.wait().unwrap();
    drop(cmd);
    let mut master = unsafe { std::fs::File::from_raw_fd(master) };
    let mut buf = vec![0u8; 4096];
    let n = master.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(status.success());
    assert!(text.contains("TTY:33 101"), "child output: {text:?}");
}

#[test]
fn recursion_is_stopped_with_a_clear_error() {
    // Two *modified copies* of pkgward named npm (other files with other
    // bytes and sizes, so neither the same-file nor the same-content guard
    // sees them), each finding the other: only the depth counter can stop
    // this.
    let mut w = World::new();
    let (a, b) = (w.root().join("a"), w.root().join("b"));
    for (d, tail) in [(&a, &b"\0a"[..]), (&b, &b"\0bb"[..])] {
        std::fs::create_dir(d).unwrap();
        let mut bytes = std::fs::read(pkgward_bin()).unwrap();
        bytes.extend_from_slice(tail);
        std::fs::write(d.join("npm"), &bytes).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("npm"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    w.prepend_path(b.clone());
    w.prepend_path(a.clone());
    // No configured shim dir: the copies are not in it.
    w.set_env("PKGWARD_SHIM_DIR", w.root().join("nowhere"));
    let started = Instant::now();
    let out = w.command("npm").arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(78), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("recursion"), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("pkgward: error:"));
    // A loop would never end; the bound is generous for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[test]
fn missing_real_tool_is_127_with_one_message() {
    // winget exists only on Windows: never on this PATH.
    let w = World::new();
    let out = w.run("winget", &["install", "x"]);
    assert_eq!(out.status.code(), Some(127));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("winget: the real tool was not found on PATH"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let recs = w.audit();
    assert_eq!(kinds(&recs, "exit")[0]["exit_code"], 127);
    assert_eq!(kinds(&recs, "exit")[0]["ran"], false);
}

#[test]
fn unknown_invocation_name_is_a_config_error() {
    let w = World::new();
    let p = w.shims.join("not-a-tool");
    std::os::unix::fs::symlink(pkgward_bin(), &p).unwrap();
    let out = w.command(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("not a tool pkgward guards"));
}

#[test]
fn nested_invocation_is_linked_to_its_parent() {
    let w = World::new();
    w.shim("pip");
    w.fake_tool("pip", "echo pip-ran");
    // An "install script" of the outer tool calls pip through PATH (not
    // when pkgward asks the stand-in which gems it would install).
    w.fake_tool(
        "gem",
        "case \"$*\" in *--explain*) exit 0;; esac\npip install something",
    );
    let out = w.run("gem", &["install", "x"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "pip-ran\n");
    let recs = w.audit();
    let inv = kinds(&recs, "invocation");
    assert_eq!(inv.len(), 2);
    let outer = inv.iter().find(|r| r["tool"] == "gem").unwrap();
    let inner = inv.iter().find(|r| r["tool"] == "pip").unwrap();
    assert_eq!(outer["parent_id"], serde_json::Value::Null);
    assert_eq!(inner["parent_id"], outer["invocation_id"]);
    assert_eq!(inner["depth"], 1);
}

#[test]
fn invocation_line_is_written_before_the_tool_starts() {
    let w = World::new();
    let seen = w.root().join("seen");
    // The tool copies the log as it is when the tool starts.
    w.fake_tool(
        "gem",
        &format!("cp {} {}", w.audit_path().display(), seen.display()),
    );
    let out = w.run("gem", &["--version"]);
    assert!(out.status.success());
    let at_start = read_jsonl(&seen);
    assert_eq!(at_start.len(), 1);
    let r = &at_start[0];
    assert_eq!(r["kind"], "invocation");
    for key in [
        "invocation_id",
        "parent_id",
        "time",
        "tool",
        "real_tool",
        "argv",
        "cwd",
        "user",
        "host",
        "ci",
        "policy",
        "decision",
    ] {
        assert!(r.get(key).is_some(), "missing {key} in {r}");
    }
    assert_eq!(
        r["real_tool"]["path"],
        w.real.join("gem").display().to_string()
    );
    assert_eq!(r["real_tool"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(r["argv"], serde_json::json!(["gem", "--version"]));
    assert_eq!(r["ci"]["provider"], serde_json::Value::Null);
    assert_eq!(r["user"], "tester");
}

#[test]
fn ci_provider_is_recorded() {
    let mut w = World::new();
    w.fake_tool("gem", "true");
    w.set_env("GITHUB_ACTIONS", "true");
    w.set_env("CI", "true");
    w.run("gem", &[]);
    assert_eq!(w.audit()[0]["ci"]["provider"], "github-actions");
    assert_eq!(w.audit()[0]["ci"]["interactive"], false);
}

#[test]
fn secrets_are_redacted_in_the_log() {
    let w = World::new();
    w.fake_tool("npm", "true");
    let out = w.run(
        "npm",
        &[
            "install",
            "--registry=https://alice:hunter2@registry.example.com/",
            "--password",
            "pa55word",
            "--//registry.example.com/:_authToken=npm_SECRET",
            "--token=tok_SECRET",
        ],
    );
    // A registry URL with credentials is never an approved one: denied, and
    // neither the message nor the log repeats the secrets.
    assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
    let text = std::fs::read_to_string(w.audit_path()).unwrap();
    for secret in ["hunter2", "alice", "pa55word", "npm_SECRET", "tok_SECRET"] {
        assert!(
            !stderr(&out).contains(secret),
            "{secret} leaked into the message"
        );
        assert!(
            !text.contains(secret),
            "{secret} leaked into the log: {text}"
        );
    }
    assert!(text.contains("https://***@registry.example.com/"));
}

#[test]
fn sixteen_concurrent_writers_lose_and_tear_nothing() {
    let w = World::new();
    w.fake_tool("gem", "true");
    w.shim("gem");
    // Arguments large enough that one record exceeds PIPE_BUF (4 KiB).
    let big = "x".repeat(6000);
    let per = 12;
    let children: Vec<_> = (0..16)
        .map(|i| {
            let script = format!("for j in $(seq 1 {per}); do gem w{i} $j {big} || exit 1; done",);
            w.command("sh").args(["-c", &script]).spawn().unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let recs = w.audit(); // panics on any torn (non-JSON) line
    let inv = kinds(&recs, "invocation");
    let exits = kinds(&recs, "exit");
    assert_eq!(inv.len(), 16 * per);
    assert_eq!(exits.len(), 16 * per);
    let ids: std::collections::HashSet<_> = inv
        .iter()
        .map(|r| r["invocation_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 16 * per, "invocation ids must be unique");
    for e in exits {
        assert!(ids.contains(e["invocation_id"].as_str().unwrap()));
    }
}

#[test]
fn unwritable_audit_log_stops_the_tool_in_enforce_mode() {
    let mut w = World::new();
    let marker = w.root().join("ran");
    w.fake_tool("gem", &format!("touch {}", marker.display()));
    // A directory where the log file should be: cannot be opened for append.
    std::fs::create_dir_all(w.state.join("audit.jsonl")).unwrap();
    let out = w.run("gem", &["install", "x"]);
    assert_eq!(out.status.code(), Some(74), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot write the audit log"));
    assert!(!marker.exists(), "the real tool must not run");
    // Audit mode: the tool runs, with one warning.
    let pol = w.write("audit.toml", "mode = \"audit\"\n");
    w.set_env("PKGWARD_POLICY", &pol);
    let out = w.run("gem", &["install", "x"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(marker.exists());
    assert!(
        stderr(&out).starts_with("pkgward: warning:"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn invalid_policy_stops_the_tool_and_names_file_line_col() {
    let w = World::new();
    let marker = w.root().join("ran");
    w.fake_tool("gem", &format!("touch {}", marker.display()));
    w.write(
        "work/pkgward.toml",
        "mode = \"enforce\"\n[registries]\nnpmm = [\"builtin\"]\n",
    );
    let out = w.run("gem", &["install", "x"]);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("pkgward.toml:3:1"), "{err}");
    assert!(err.contains("npmm"), "{err}");
    assert!(!marker.exists());
    assert!(out.stdout.is_empty());
    // The refusal is on record too.
    let recs = w.audit();
    assert_eq!(kinds(&recs, "exit")[0]["exit_code"], 78);
}

#[test]
fn invalid_policy_in_audit_mode_warns_and_runs() {
    let w = World::new();
    let marker = w.root().join("ran");
    w.fake_tool("gem", &format!("touch {}", marker.display()));
    w.write("etc/pkgward/policy.toml", "mode = \"audit\"\n");
    w.write("work/pkgward.toml", "mode = 3\n");
    let out = w.run("gem", &["install", "x"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(marker.exists());
    assert!(stderr(&out).contains("pkgward.toml:1:"), "{}", stderr(&out));
}

#[test]
fn a_project_file_cannot_loosen_a_locked_system_value() {
    let w = World::new();
    w.fake_tool("gem", "true");
    std::fs::write(
        &w.system_policy,
        "mode = \"enforce\"\nlock = [\"mode\", \"registries\"]\n[registries]\nnpm = [\"https://npm.example.com/\"]\n",
    )
    .unwrap();
    w.write(
        "work/pkgward.toml",
        "mode = \"audit\"\n[registries]\nnpm = [\"https://evil.example.net/\", \"https://npm.example.com/team/\"]\n",
    );
    let out = w.pkgward(&["policy", "show", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mode"]["value"], "enforce");
    assert_eq!(
        v["registries"]["npm"]["value"],
        serde_json::json!(["https://npm.example.com/team/"])
    );
    let refused = v["refused"].as_array().unwrap();
    assert!(refused.len() >= 2, "{refused:?}");
    // The shim runs under the locked policy and records the refusal.
    let out = w.run("gem", &["list"]);
    assert!(out.status.success());
    let inv = &w.audit()[0];
    assert_eq!(inv["policy"]["mode"], "enforce");
    assert!(!inv["policy"]["refused"].as_array().unwrap().is_empty());
    assert_eq!(inv["policy"]["sources"].as_array().unwrap().len(), 2);
}

#[test]
fn policy_layers_override_in_order() {
    let mut w = World::new();
    std::fs::write(&w.system_policy, "mode = \"audit\"\n").unwrap();
    w.write(
        "home/.config/pkgward/policy.toml",
        "[scripts]\ndefault = \"sandbox\"\n",
    );
    w.write(
        "work/pkgward.toml",
        "[registries]\npypi = [\"https://pypi.example.com/simple/\"]\n",
    );
    let env_pol = w.write("env.toml", "mode = \"enforce\"\n");
    w.set_env("PKGWARD_POLICY", &env_pol);
    let out = w.pkgward(&["policy", "show"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("mode = \"enforce\""), "{text}");
    assert!(
        text.contains(&format!("{}:1:", env_pol.display())),
        "{text}"
    );
    assert!(text.contains("default = \"sandbox\""), "{text}");
    assert!(text.contains("pkgward.toml:2:"), "{text}");
}

#[test]
fn real_npm_and_pip_versions_through_the_shims() {
    for (tool, real) in [("npm", "/usr/bin/npm"), ("pip", "")] {
        let real = if real.is_empty() {
            which::which(tool).expect("pip on PATH")
        } else {
            std::path::PathBuf::from(real)
        };
        let w = World::new();
        w.link_real(tool, &real);
        let direct = w
            .command(w.real.join(tool))
            .arg("--version")
            .output()
            .unwrap();
        let shimmed = w.run(tool, &["--version"]);
        assert!(direct.status.success(), "{}", stderr(&direct));
        assert_eq!(shimmed.status.code(), direct.status.code());
        assert_eq!(stdout(&shimmed), stdout(&direct));
        assert_eq!(stderr(&shimmed), stderr(&direct));
        let recs = w.audit();
        assert_eq!(kinds(&recs, "invocation")[0]["tool"], tool);
    }
}

#[test]
fn run_subcommand_handles_project_wrappers() {
    let w = World::new();
    let gradlew = w.work.join("gradlew");
    write_exec(&gradlew, "#!/bin/sh\necho \"wrapper $*\"\nexit 9\n");
    let out = w.pkgward(&["run", "--", "./gradlew", "build", "--offline"]);
    assert_eq!(out.status.code(), Some(9));
    assert_eq!(stdout(&out), "wrapper build --offline\n");
    let inv = &w.audit()[0];
    assert_eq!(inv["tool"], "gradlew");
    assert_eq!(inv["ecosystem"], "maven");
    assert_eq!(inv["via"], "run");
    let out = w.pkgward(&["run", "--", "make"]);
    assert_eq!(out.status.code(), Some(78));
}

#[test]
fn doctor_reports_a_shadowing_directory() {
    let mut w = World::new();
    w.shim("npm");
    w.fake_tool("npm", "true");
    // A virtualenv-like bin directory before the shims, holding its own npm.
    let venv_bin = w.root().join("venv/bin");
    std::fs::create_dir_all(&venv_bin).unwrap();
    std::fs::write(w.root().join("venv/pyvenv.cfg"), "home = /usr\n").unwrap();
    write_exec(&venv_bin.join("npm"), "#!/bin/sh\n");
    w.prepend_path(venv_bin.clone());
    let out = w.pkgward(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let npm = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool"] == "npm")
        .unwrap();
    assert_eq!(npm["guarded"], false);
    assert_eq!(npm["shadowed_by"]["kind"], "python virtualenv");
    // The shim walks PATH from the start too, so it would delegate to the venv's npm.
    assert_eq!(npm["real_tool"], venv_bin.join("npm").display().to_string());
    assert!(v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p.as_str().unwrap().contains("npm")));
    let human = w.pkgward(&["doctor"]);
    assert!(stdout(&human).contains("SHADOWED"), "{}", stdout(&human));
}

#[test]
fn doctor_is_happy_when_shims_come_first() {
    let w = World::new();
    w.shim("npm");
    w.fake_tool("npm", "true");
    let out = w.pkgward(&["doctor", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(v["shim_dirs"][0]["path_index"], 0);
    assert_eq!(v["audit"]["writable"], true);
}

#[test]
fn shims_install_list_remove() {
    let w = World::new();
    let dir = w.root().join("newshims");
    let out = w.pkgward(&["shims", "install", "--dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("export PATH=\"{}:$PATH\"", dir.display())),
        "{}",
        stdout(&out)
    );
    for t in ["npm", "pip", "cargo", "apt-get", "winget"] {
        assert_eq!(
            std::fs::canonicalize(dir.join(t)).unwrap(),
            std::fs::canonicalize(pkgward_bin()).unwrap()
        );
    }
    // Idempotent.
    let again = w.pkgward(&["shims", "install", "--dir", dir.to_str().unwrap()]);
    assert!(again.status.success());
    assert!(stdout(&again).contains("0 shim(s) created"));
    // A foreign file is never replaced without --force.
    std::fs::remove_file(dir.join("go")).unwrap();
    write_exec(&dir.join("go"), "#!/bin/sh\necho mine\n");
    let c = w.pkgward(&["shims", "install", "--dir", dir.to_str().unwrap()]);
    assert_eq!(c.status.code(), Some(78));
    assert_eq!(
        std::fs::read_to_string(dir.join("go")).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    let list = w.pkgward(&["shims", "list", "--dir", dir.to_str().unwrap()]);
    assert!(stdout(&list).contains("foreign"));
    let rm = w.pkgward(&["shims", "remove", "--dir", dir.to_str().unwrap()]);
    assert!(rm.status.success());
    assert!(!dir.join("npm").exists());
    assert!(
        dir.join("go").exists(),
        "remove must leave foreign files alone"
    );
}

#[test]
fn log_filters_and_json() {
    let w = World::new();
    w.fake_tool("gem", "exit 0");
    w.fake_tool("pip", "exit 3");
    w.run("gem", &["list"]);
    w.run("pip", &["--version"]);
    let out = w.pkgward(&["log", "--tool", "pip", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["exit"]["exit_code"], 3);
    let human = w.pkgward(&["log", "--since", "1h"]);
    assert_eq!(stdout(&human).lines().count(), 2, "{}", stdout(&human));
    let none = w.pkgward(&["log", "--denied"]);
    assert_eq!(stdout(&none), "");
    let bad = w.pkgward(&["log", "--since", "soon"]);
    assert_eq!(bad.status.code(), Some(78));
}

#[test]
fn completions_and_man_page() {
    let w = World::new();
    let out = w.pkgward(&["completions", "bash"]);
    assert!(out.status.success() && stdout(&out).contains("pkgward"));
    let man = w.pkgward(&["man"]);
    assert!(man.status.success() && stdout(&man).contains(".TH pkgward"));
    let bad = w.pkgward(&["no-such-command"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn cli_output_into_a_closed_pipe_ends_quietly() {
    let w = World::new();
    let script = format!(
        "{} completions bash | head -1 >/dev/null",
        pkgward_bin().display()
    );
    let out = w.command("sh").args(["-c", &script]).output().unwrap();
    assert!(out.status.success());
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}
