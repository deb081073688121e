use super::*;

#[test]
fn env_patterns() {
    assert!(env_pattern_matches("AWS_*", "aws_secret_access_key"));
    assert!(env_pattern_matches("*_TOKEN", "GITHUB_TOKEN"));
    assert!(!env_pattern_matches("*_TOKEN", "TOKENIZER"));
    assert!(env_pattern_matches(
        "NPM_CONFIG_*AUTH*",
        "npm_config_//127.0.0.1:4873/:_authToken"
    ));
    assert!(env_pattern_matches("a*b*c", "aXXbYYc"));
    assert!(!env_pattern_matches("a*b*c", "aXXbYY"));
}

#[test]
fn default_scrub_list_keeps_what_tools_need() {
    let keep = [
        "PATH",
        "HOME",
        "npm_config_ignore_scripts",
        "npm_config_script_shell",
        "npm_config_node_options",
        "npm_config_cache",
        "npm_config_userconfig",
        "npm_config_registry",
        "HTTP_PROXY",
        "https_proxy",
        "npm_config_https_proxy",
        "NO_PROXY",
        "PKGWARD_INVOCATION_ID",
        "CARGO_HOME",
        "PIP_INDEX_URL",
        "LANG",
        "TMPDIR",
    ];
    for k in keep {
        assert!(!scrubbed_name(k, &[]), "{k} would be scrubbed");
    }
    let gone = [
        "NPM_TOKEN",
        "NODE_AUTH_TOKEN",
        "npm_config__authToken",
        "NPM_CONFIG_//registry.example.com/:_password",
        "UV_INDEX_PRIVATE_PASSWORD",
        "CARGO_REGISTRY_TOKEN",
        "CARGO_REGISTRIES_MINE_TOKEN",
        "GEM_HOST_API_KEY",
        "NUGET_API_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SESSION_TOKEN",
        "AZURE_CLIENT_SECRET",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "CI_JOB_TOKEN",
        "SSH_AUTH_SOCK",
        "MY_SERVICE_SECRET",
        "DB_PASSWORD",
    ];
    for k in gone {
        assert!(scrubbed_name(k, &[]), "{k} kept");
    }
    assert!(scrubbed_name("CUSTOM_THING", &["custom_*".to_string()]));
}

#[test]
fn userinfo_is_stripped_from_urls() {
    assert_eq!(
        strip_userinfo("https://user:pw@example.com/simple/").as_deref(),
        Some("https://example.com/simple/")
    );
    assert_eq!(
        strip_userinfo("https://a@x.test https://b:c@y.test:8080/p?q").as_deref(),
        Some("https://x.test https://y.test:8080/p?q")
    );
    assert_eq!(strip_userinfo("https://example.com/a@b"), None);
    assert_eq!(strip_userinfo("git@example.com:org/repo"), None);
    assert_eq!(strip_userinfo("plain"), None);
}

#[test]
fn scrub_env_reports_names_only() {
    let vars: Vec<(OsString, OsString)> = vec![
        ("NPM_TOKEN".into(), "s3cret".into()),
        (
            "PIP_INDEX_URL".into(),
            "https://u:p@example.com/simple".into(),
        ),
        ("PATH".into(), "/usr/bin".into()),
    ];
    let (remove, set, names) = scrub_env(&vars, &[]);
    assert_eq!(remove, vec![OsString::from("NPM_TOKEN")]);
    assert_eq!(
        set,
        vec![(
            OsString::from("PIP_INDEX_URL"),
            OsString::from("https://example.com/simple")
        )]
    );
    assert_eq!(names, vec!["NPM_TOKEN", "PIP_INDEX_URL"]);
    assert!(!format!("{names:?}").contains("s3cret"));
}

#[test]
fn npmrc_loses_its_credentials() {
    let text = "registry=http://127.0.0.1:4873/\n\
                //127.0.0.1:4873/:_authToken=abc\n\
                _auth=Zm9vOmJhcg==\n\
                //r.example.com/:_password=cHc=\n\
                //r.example.com/:username=me\n\
                email=me@example.com\n\
                save-exact=true\n\
                @scope:registry=http://127.0.0.1:4873/\n";
    let out = scrub_npmrc(text);
    assert_eq!(
        out,
        "registry=http://127.0.0.1:4873/\nsave-exact=true\n@scope:registry=http://127.0.0.1:4873/\n"
    );
}

/// Every path of a tree with many entries next to the denied ones is
/// either under a grant or under a denied path, never both; nothing denied
/// lies under a grant. Denied paths share first names (`a/x`, `a/y/z`), one
/// denied entry holds another denied path, and some are missing.
#[test]
fn cover_grants_everything_but_the_denied_paths_in_a_crowded_tree() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().canonicalize().unwrap();
    let mut all = Vec::new();
    for i in 0..300 {
        let f = root.join(format!("f{i}"));
        std::fs::write(&f, "").unwrap();
        all.push(f);
    }
    for d in ["a/x", "a/y/z", "a/y/w", "a/keep", "b/c/d", "e"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
        all.push(root.join(d).join("file"));
        std::fs::write(root.join(d).join("file"), "").unwrap();
    }
    let denied: Vec<PathBuf> = ["a/x", "a/y/z", "b", "b/c", "gone/away", "f7"]
        .iter()
        .map(|d| resolved(&root.join(d)))
        .collect();
    let mut out = Vec::new();
    cover(&root, &denied, &mut out);
    let is_denied = |p: &Path| denied.iter().any(|d| p.starts_with(d));
    for p in &all {
        let granted = out.iter().any(|g| p.starts_with(g));
        assert_eq!(granted, !is_denied(p), "{}: granted {granted}", p.display());
    }
    for g in &out {
        assert!(!is_denied(g), "{} is denied", g.display());
        assert!(
            !denied.iter().any(|d| d.starts_with(g)),
            "{} holds a denied path",
            g.display()
        );
    }
    assert!(out.contains(&root.join("a/keep")));
    assert!(out.contains(&root.join("a/y/w")));
    assert!(out.contains(&root.join("e")));
}

#[test]
fn cover_leaves_out_denied_paths_and_links_to_them() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().canonicalize().unwrap();
    let home = root.join("home");
    for d in ["home/.ssh", "home/.cargo/registry", "home/proj", "other"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(home.join(".ssh/id_rsa"), "k").unwrap();
    std::fs::write(home.join(".cargo/credentials.toml"), "k").unwrap();
    std::fs::write(home.join(".bashrc"), "").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(home.join(".ssh"), home.join("ssh-link")).unwrap();
        std::os::unix::fs::symlink(&home, home.join("proj/home-link")).unwrap();
        std::os::unix::fs::symlink(&root, home.join("root-link")).unwrap();
    }
    let denied = vec![
        resolved(&home.join(".ssh")),
        resolved(&home.join(".cargo/credentials.toml")),
        resolved(&home.join(".aws")),
    ];
    let mut out = Vec::new();
    cover(&root, &denied, &mut out);
    for d in &denied {
        for granted in &out {
            assert!(
                !d.starts_with(granted),
                "{} is covered by {}",
                d.display(),
                granted.display()
            );
        }
    }
    for want in [
        root.join("other"),
        home.join(".bashrc"),
        home.join(".cargo/registry"),
    ] {
        assert!(
            out.contains(&want),
            "{} missing from {out:?}",
            want.display()
        );
    }
    // proj holds a link back to home: proj is an ancestor of nothing
    // denied by its real path, so it is granted whole; the link inside it
    // resolves outside proj at open time and Landlock checks the target.
    assert!(out.contains(&home.join("proj")));
}

#[test]
fn deny_lists_expand_for_every_home() {
    let homes = vec![PathBuf::from("/h/a"), PathBuf::from("/h/b")];
    let d = deny_read_paths(&["~/.secret".to_string(), "/etc/x".to_string()], &homes);
    assert!(d.contains(&PathBuf::from("/h/a/.ssh")));
    assert!(d.contains(&PathBuf::from("/h/b/.ssh")));
    assert!(d.contains(&PathBuf::from("/h/b/.secret")));
    assert!(d.contains(&PathBuf::from("/etc/x")));
    let w = deny_write_paths(&d, &homes);
    assert!(w.contains(&PathBuf::from("/h/a/.bashrc")));
}

#[test]
fn caches_follow_the_tools_settings() {
    let vars: Vec<(OsString, OsString)> = vec![
        ("NPM_CONFIG_CACHE".into(), "/c/npm".into()),
        ("CARGO_HOME".into(), "/c/cargo".into()),
        ("CARGO_TARGET_DIR".into(), "/c/target".into()),
    ];
    let env = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let home = Path::new("/home/u");
    let npm = cache_dirs("/usr/bin/npm", &env, &vars, Some(home));
    assert!(npm.contains(&PathBuf::from("/c/npm")), "{npm:?}");
    assert!(
        npm.contains(&PathBuf::from("/home/u/.cache/node-gyp")),
        "{npm:?}"
    );
    let cargo = cache_dirs("cargo", &env, &vars, Some(home));
    assert_eq!(
        cargo,
        vec![
            PathBuf::from("/c/cargo/registry"),
            PathBuf::from("/c/cargo/git"),
            PathBuf::from("/c/target")
        ]
    );
    let pip = cache_dirs("pip3", &env, &vars, Some(home));
    assert!(
        pip.contains(&PathBuf::from("/home/u/.cache/pip")),
        "{pip:?}"
    );
    assert!(cache_dirs("unknown", &env, &vars, Some(home)).is_empty());
}

#[test]
fn seatbelt_profile_confines_network_writes_and_credentials() {
    let plan = Plan {
        write: vec![PathBuf::from("/work/proj"), PathBuf::from("/tmp/pkgward-x")],
        deny_read: vec![
            PathBuf::from("/Users/u/.ssh"),
            PathBuf::from("/Users/u/.npm\"rc"),
        ],
        deny_write: vec![PathBuf::from("/Users/u/.zshrc")],
        proxy_port: Some(4242),
        ..Plan::default()
    };
    let p = seatbelt::profile(&plan);
    assert!(
        p.starts_with("(version 1)\n(allow default)\n(deny network*)\n"),
        "{p}"
    );
    assert!(
        p.contains("(allow network-outbound (remote ip \"localhost:4242\"))"),
        "{p}"
    );
    let deny_w = p.find("(deny file-write*)").unwrap();
    let allow_w = p.find("(allow file-write*").unwrap();
    assert!(deny_w < allow_w, "{p}");
    assert!(p.contains("(subpath \"/work/proj\")"), "{p}");
    assert!(p.contains("(literal \"/dev/null\")"), "{p}");
    // Credential denials come last, so they win over the allows.
    let deny_r = p.find("(deny file-read*").unwrap();
    assert!(deny_r > allow_w, "{p}");
    assert!(p.contains("(subpath \"/Users/u/.ssh\")"), "{p}");
    assert!(p.contains("(subpath \"/Users/u/.npm\\\"rc\")"), "{p}");
    let dw = p.find("(deny file-write*\n").unwrap();
    assert!(dw > allow_w && p[dw..].contains("/Users/u/.zshrc"), "{p}");
    // Balanced parentheses outside strings.
    let mut depth = 0i32;
    let mut in_str = false;
    let mut esc = false;
    for c in p.chars() {
        match (in_str, esc, c) {
            (true, true, _) => esc = false,
            (true, false, '\\') => esc = true,
            (true, false, '"') => in_str = false,
            (false, _, '"') => in_str = true,
            (false, _, '(') => depth += 1,
            (false, _, ')') => depth -= 1,
            _ => {}
        }
        assert!(depth >= 0);
    }
    assert_eq!(depth, 0, "{p}");
    // No proxy: no network at all.
    let none = seatbelt::profile(&Plan::default());
    assert!(!none.contains("allow network"), "{none}");
    let args = seatbelt::command_args(&plan, Path::new("/usr/bin/npm"), &["rebuild".into()]);
    assert_eq!(args[0], "-p");
    assert_eq!(args[2], "/usr/bin/npm");
    assert_eq!(args[3], "rebuild");
}

#[cfg(target_os = "linux")]
mod linux_tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    fn python() -> Option<&'static str> {
        ["/usr/bin/python3", "/usr/local/bin/python3"]
            .into_iter()
            .find(|p| Path::new(p).exists())
    }

    /// A plan over a temp tree: `proj` writable, `home/.ssh` denied.
    fn fixture() -> (tempfile::TempDir, PathBuf, PathBuf, Plan) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        let home = root.join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::create_dir_all(root.join("proj")).unwrap();
        std::fs::write(home.join(".ssh/id_rsa"), "PRIVATE").unwrap();
        std::fs::write(home.join("notes"), "public").unwrap();
        let deny_read = vec![resolved(&home.join(".ssh"))];
        let mut read = Vec::new();
        let mut d = deny_read.clone();
        d.push(PathBuf::from("/dev"));
        cover(Path::new("/"), &d, &mut read);
        let mut write = Vec::new();
        cover(&root.join("proj"), &deny_read, &mut write);
        let plan = Plan {
            read,
            write,
            deny_read,
            ..Plan::default()
        };
        (t, home, root.join("proj"), plan)
    }

    #[test]
    fn landlock_denies_credentials_and_writes_outside() {
        let abi = linux::landlock_abi();
        let Some(py) = python() else { return };
        if abi == 0 {
            return;
        }
        let (_t, home, proj, plan) = fixture();
        let rules = linux::ruleset(&plan, abi).unwrap();
        let code = format!(
            "import os\n\
             def tryit(f):\n    try:\n        f(); return 'ok'\n    except OSError as e: return 'err%d' % e.errno\n\
             print('ssh', tryit(lambda: open({ssh:?}).read()))\n\
             print('notes', tryit(lambda: open({notes:?}).read()))\n\
             print('proj', tryit(lambda: open({pw:?}, 'w').write('x')))\n\
             print('home', tryit(lambda: open({hw:?}, 'w').write('x')))\n\
             print('null', tryit(lambda: open('/dev/null', 'w').write('x')))\n",
            ssh = home.join(".ssh/id_rsa").display().to_string(),
            notes = home.join("notes").display().to_string(),
            pw = proj.join("f").display().to_string(),
            hw = home.join("outside").display().to_string(),
        );
        let mut cmd = Command::new(py);
        cmd.args(["-c", &code]).stdout(Stdio::piped());
        let armed = linux::arm(&mut cmd, false, false, rules.as_ref(), None).unwrap();
        let out = cmd.output().unwrap();
        drop(armed);
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.contains("ssh err13"), "{s}");
        assert!(s.contains("notes ok"), "{s}");
        assert!(s.contains("proj ok"), "{s}");
        assert!(s.contains("home err13"), "{s}");
        assert!(s.contains("null ok"), "{s}");
        assert!(!home.join("outside").exists());
    }

    #[test]
    fn netns_has_no_route_out_and_reports_itself() {
        let Some(py) = python() else { return };
        if linux::probe_user_netns().is_err() {
            return;
        }
        let mut cmd = Command::new(py);
        cmd.args([
            "-c",
            "import socket\n\
             try:\n    socket.create_connection(('192.0.2.1', 80), timeout=3); print('out')\n\
             except OSError as e: print('blocked', e.errno)\n\
             print(open('/proc/self/net/dev').read().count(':'))\n",
        ])
        .stdout(Stdio::piped());
        let armed = linux::arm(&mut cmd, true, false, None, None).unwrap();
        let out = cmd.output().unwrap();
        let outcome = armed.finish();
        let s = String::from_utf8_lossy(&out.stdout);
        assert_eq!(outcome, linux::NetnsOutcome::InForce, "{s}");
        // ENETUNREACH (101): no route at all.
        assert!(s.contains("blocked 101"), "{s}");
        // Only lo.
        assert!(s.trim_end().ends_with('1'), "{s}");
    }

    /// A seccomp filter like Docker's default profile: unshare and clone
    /// with namespace flags fail with EPERM, clone3 with ENOSYS.
    pub(crate) fn docker_like_filter() -> Vec<libc::sock_filter> {
        let ld = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
        let ret = (libc::BPF_RET | libc::BPF_K) as u16;
        let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt,
            jf,
            k,
        };
        let jset = |k: u32, jt: u8, jf: u8| libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16,
            jt,
            jf,
            k,
        };
        let st = |code: u16, k: u32| libc::sock_filter {
            code,
            jt: 0,
            jf: 0,
            k,
        };
        let ns = (libc::CLONE_NEWUSER
            | libc::CLONE_NEWNET
            | libc::CLONE_NEWNS
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWCGROUP) as u32;
        vec![
            st(ld, 0),
            jeq(libc::SYS_clone3 as u32, 0, 1),
            st(ret, 0x0005_0000 | libc::ENOSYS as u32),
            jeq(libc::SYS_unshare as u32, 1, 0),
            jeq(libc::SYS_clone as u32, 0, 3),
            st(ld, 16),
            jset(ns, 0, 1),
            st(ret, 0x0005_0000 | libc::EPERM as u32),
            st(ret, 0x7fff_0000),
        ]
    }

    #[test]
    fn under_a_docker_like_filter_netns_degrades() {
        let Some(py) = python() else { return };
        let prog = docker_like_filter();
        let mut cmd = Command::new(py);
        cmd.args(["-c", "print('ran')"]).stdout(Stdio::piped());
        // SAFETY: prctl and seccomp only, on a program built before fork.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                let f = libc::sock_fprog {
                    len: prog.len() as u16,
                    filter: prog.as_ptr() as *mut libc::sock_filter,
                };
                if libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &f) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let armed = linux::arm(&mut cmd, true, false, None, None).unwrap();
        let out = cmd.output().unwrap();
        let outcome = armed.finish();
        assert!(String::from_utf8_lossy(&out.stdout).contains("ran"));
        assert_eq!(
            outcome,
            linux::NetnsOutcome::Failed {
                stage: "unshare(CLONE_NEWUSER|CLONE_NEWNET)",
                errno: libc::EPERM
            }
        );
        // Required: the child does not run.
        let prog = docker_like_filter();
        let mut cmd = Command::new(py);
        cmd.args(["-c", "print('ran')"]).stdout(Stdio::piped());
        // SAFETY: as above.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                let f = libc::sock_fprog {
                    len: prog.len() as u16,
                    filter: prog.as_ptr() as *mut libc::sock_filter,
                };
                libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &f);
                Ok(())
            });
        }
        let armed = linux::arm(&mut cmd, true, true, None, None).unwrap();
        let out = cmd.output();
        armed.finish();
        assert!(out.is_err(), "{out:?}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn socket_filter_allows_tcp_and_refuses_udp_unix_and_fast_open() {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let Some(py) = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        return;
    };
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let code = format!(
        "import socket\n\
         def t(name, f):\n    try:\n        f(); print(name, 'ok')\n    except OSError as e: print(name, 'err', e.errno)\n\
         t('tcp', lambda: socket.create_connection(('127.0.0.1', {port})).close())\n\
         t('udp', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))\n\
         t('udp6', lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC))\n\
         t('raw', lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, 1))\n\
         t('unix', lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))\n\
         t('pair', lambda: socket.socketpair())\n\
         s = socket.socket()\n\
         t('tfo', lambda: s.sendto(b'x', 0x20000000, ('127.0.0.1', {port})))\n"
    );
    let prog = linux::socket_filter();
    let mut cmd = Command::new(py);
    cmd.args(["-c", &code]).stdout(Stdio::piped());
    // SAFETY: prctl and seccomp on a program built before fork.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            let f = libc::sock_fprog {
                len: prog.len() as u16,
                filter: prog.as_ptr() as *mut libc::sock_filter,
            };
            if libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &f) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    for want in [
        "tcp ok",
        "udp err 13",
        "udp6 err 13",
        "raw err 13",
        "unix err 13",
        "pair ok",
        "tfo err 13",
    ] {
        assert!(s.contains(want), "{want}: {s}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn run_install_code_confines_in_enforce_mode_and_only_records_in_audit_mode() {
    use crate::supervise::install_code::{run_install_code, InstallCode};
    if linux::landlock_abi() < 4 {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let root = t.path().canonicalize().unwrap();
    let proj = root.join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    let outside = root.join("outside");
    let code = |sandboxed: bool| {
        InstallCode {
        program: PathBuf::from("/bin/sh"),
        args: vec![
            "-c".into(),
            format!(
                "echo x > '{}'; echo y > inside; grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status > caps; test -z \"$GITHUB_TOKEN\"",
                outside.display()
            )
            .into(),
        ],
        cwd: proj.clone(),
        env: vec![("GITHUB_TOKEN".into(), "ghs_s3cret".into())],
        sandboxed,
        extra_write: Vec::new(),
        attached: None,
        project: None,
        trace: None,
    }
    };
    // No context entered: the built-in defaults, enforce.
    let e = run_install_code(&code(true)).unwrap();
    let r = e.sandbox.unwrap();
    assert!(r.layers.contains(&"landlock-fs"), "{r:?}");
    assert!(r.layers.contains(&"socket-filter"), "{r:?}");
    assert!(r.missing.iter().any(|m| m.starts_with("seccomp")), "{r:?}");
    assert!(
        r.scrubbed_env.contains(&"GITHUB_TOKEN".to_string()),
        "{r:?}"
    );
    assert_eq!(e.exit_code, 0, "the token was visible");
    assert!(!outside.exists());
    assert!(proj.join("inside").exists());
    let caps = std::fs::read_to_string(proj.join("caps")).unwrap();
    assert_eq!(caps.matches("\t0000000000000000").count(), 3, "{caps}");
    assert!(r.layers.contains(&"no-capabilities"), "{r:?}");
    // Audit mode: runs unconfined, and says so.
    let guard = enter(Context {
        mode: Mode::Audit,
        policy: SandboxPolicy::default(),
        tool: "npm",
        proxy: None,
        prepared: Default::default(),
    });
    let e = run_install_code(&code(true)).unwrap();
    drop(guard);
    let r = e.sandbox.unwrap();
    assert!(r.layers.is_empty(), "{r:?}");
    assert!(r.note.unwrap().contains("audit mode"));
    assert!(outside.exists());
    // Not to be sandboxed: no report.
    assert!(run_install_code(&code(false)).unwrap().sandbox.is_none());
}
