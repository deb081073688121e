use super::*;

fn s(a: &[&str]) -> Vec<String> {
    a.iter().map(|x| x.to_string()).collect()
}

fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    d
}

#[test]
fn subcommand_position() {
    let cases: &[(&[&str], Option<usize>)] = &[
        (&["build"], Some(0)),
        (&["+nightly", "b"], Some(1)),
        (&["--config", "net.retry=0", "-v", "test"], Some(3)),
        (&["--config=a=1", "check"], Some(1)),
        (&["-Z", "unstable-options", "-C", "dir", "build"], Some(4)),
        (&["-Zunstable-options", "build"], Some(1)),
        (&["--color", "never", "run"], Some(2)),
        (&["--version"], None),
        (&["--", "build"], None),
        (&[], None),
    ];
    for (args, want) in cases {
        assert_eq!(sub_at(&s(args)), *want, "{args:?}");
    }
}

#[test]
fn which_commands_are_split() {
    let p = project();
    let outside = tempfile::tempdir().unwrap();
    // (args, in a project?, split?, include_dev)
    let cases: &[(&[&str], bool, bool, bool)] = &[
        (&["build"], true, true, false),
        (&["b", "--release"], true, true, false),
        (&["check", "--all-targets"], true, true, true),
        (&["build", "--tests"], true, true, true),
        (&["build", "--example", "x"], true, true, true),
        (&["run", "--example=x"], true, true, true),
        (&["test"], true, true, true),
        (&["t", "name"], true, true, true),
        (&["bench"], true, true, true),
        (&["clippy"], true, true, false),
        (&["doc"], true, true, false),
        (&["fix"], true, true, true),
        (&["rustc", "--", "-Zx"], true, true, false),
        (&["install", "--path", "."], true, true, false),
        (&["install", "--list"], true, false, false),
        (&["install"], true, false, false),
        (
            &["install", "--index", "https://r.test/i", "x"],
            true,
            false,
            false,
        ),
        (&["build", "--help"], true, false, false),
        (&["fetch"], true, false, false),
        (&["update"], true, false, false),
        (&["fmt"], true, false, false),
        (&["clean"], true, false, false),
        (&["metadata"], true, false, false),
        // `publish` verifies by building, unless told not to.
        (&["publish", "--dry-run"], true, true, false),
        (&["publish", "--no-verify"], true, false, false),
        (&["tree"], true, false, false),
        // An external subcommand or alias: split in a project only.
        (&["nextest", "run"], true, true, true),
        (&["audit"], false, false, false),
        (&["build"], false, true, false),
    ];
    for (args, inside, split, dev) in cases {
        let cwd = if *inside { p.path() } else { outside.path() };
        let got = plan(&s(args), cwd);
        assert_eq!(got.is_some(), *split, "{args:?}");
        if let Some(got) = got {
            assert_eq!(got.include_dev, *dev, "{args:?}");
        }
    }
}

#[test]
fn features_and_targets_reach_metadata() {
    let p = project();
    let got = plan(
        &s(&[
            "build",
            "--features",
            "a b",
            "-Fc",
            "--no-default-features",
            "--target",
            "x86_64-pc-windows-gnu",
        ]),
        p.path(),
    )
    .unwrap();
    assert_eq!(
        got.features,
        s(&[
            "--features",
            "a b",
            "--features",
            "c",
            "--no-default-features"
        ])
    );
    assert!(got.cross);
    let got = plan(&s(&["build", "--all-features"]), p.path()).unwrap();
    assert_eq!(got.features, s(&["--all-features"]));
    assert!(!got.cross);
    assert!(
        plan(&s(&["--config", "build.target=\"x\"", "build"]), p.path())
            .unwrap()
            .cross
    );
}

#[test]
fn fetch_arguments_keep_manifest_lockfile_and_global_options() {
    let p = project();
    let args = s(&[
        "+stable",
        "--config",
        "/tmp/m.toml",
        "build",
        "--release",
        "--manifest-path",
        "sub/Cargo.toml",
        "--locked",
        "-p",
        "x",
        "--config=net.retry=0",
        "-Zbuild-std",
        "--",
        "--locked-not",
    ]);
    let plan = plan(&args, p.path()).unwrap();
    let mut launch = crate::supervise::Launch {
        program: "cargo".into(),
        arg0: None,
        args: args.iter().map(OsString::from).collect(),
        env: Vec::new(),
        #[cfg(target_os = "linux")]
        trace: None,
    };
    plan.apply(&mut launch);
    let got: Vec<String> = launch
        .args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        got,
        s(&[
            "+stable",
            "--config",
            "/tmp/m.toml",
            "fetch",
            "--manifest-path=sub/Cargo.toml",
            "--locked",
            "--config=net.retry=0",
            "-Zbuild-std",
        ])
    );
    assert_eq!(plan.real_args().len(), args.len());
    let off: Vec<String> = offline(plan.real_args())
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert_eq!(&off[..3], &s(&["+stable", "--offline", "--config"])[..]);
}

#[test]
fn install_probe_names_the_crates() {
    let p = project();
    let plan = plan(
        &s(&[
            "install",
            "ripgrep@14.1.0",
            "other",
            "--version",
            "^2",
            "--features",
            "pcre2",
            "--registry",
            "corp",
        ]),
        p.path(),
    )
    .unwrap();
    let probe = plan.probe.as_ref().unwrap();
    let m = std::fs::read_to_string(probe.path().join("Cargo.toml")).unwrap();
    let v: toml::Table = m.parse().unwrap();
    let deps = v["dependencies"].as_table().unwrap();
    assert_eq!(deps["dep0"]["package"].as_str(), Some("ripgrep"));
    assert_eq!(deps["dep0"]["version"].as_str(), Some("=14.1.0"));
    assert_eq!(deps["dep0"]["registry"].as_str(), Some("corp"));
    assert_eq!(deps["dep1"]["package"].as_str(), Some("other"));
    assert_eq!(deps["dep1"]["version"].as_str(), Some("^2"));
    assert_eq!(deps["dep1"]["features"][0].as_str(), Some("pcre2"));
    // A hostile name stays a TOML string.
    let plan2 = super::plan(&s(&["install", "x\"\n[evil]"]), p.path()).unwrap();
    let m =
        std::fs::read_to_string(plan2.probe.as_ref().unwrap().path().join("Cargo.toml")).unwrap();
    let v: toml::Table = m.parse().unwrap();
    assert!(!v.contains_key("evil"));
    // git
    let plan3 = super::plan(
        &s(&[
            "install",
            "--git",
            "https://git.example.com/t.git",
            "--tag",
            "v1",
            "t",
        ]),
        p.path(),
    )
    .unwrap();
    let m =
        std::fs::read_to_string(plan3.probe.as_ref().unwrap().path().join("Cargo.toml")).unwrap();
    let v: toml::Table = m.parse().unwrap();
    assert_eq!(
        v["dependencies"]["dep0"]["git"].as_str(),
        Some("https://git.example.com/t.git")
    );
    assert_eq!(v["dependencies"]["dep0"]["tag"].as_str(), Some("v1"));
    assert!(unsupported(&s(&["install", "--index", "sparse+https://r.test/", "x"])).is_some());
    assert!(unsupported(&s(&["install", "x"])).is_none());
    assert!(unsupported(&s(&["build", "--index", "y"])).is_none());
}

#[test]
fn compile_only_commands() {
    let cases: &[(&[&str], Option<&[&str]>)] = &[
        (&["run"], Some(&["build"])),
        (
            &["r", "--release", "--bin", "x", "a", "b"],
            Some(&["build", "--release", "--bin", "x"]),
        ),
        (
            &["run", "-p", "app", "--", "--release"],
            Some(&["build", "-p", "app"]),
        ),
        (
            &["+n", "run", "--features=f"],
            Some(&["+n", "build", "--features=f"]),
        ),
        (
            &["test", "name", "--", "--nocapture"],
            Some(&["test", "--no-run", "name"]),
        ),
        (&["t"], Some(&["t", "--no-run"])),
        (
            &["bench", "--bench", "b"],
            Some(&["bench", "--no-run", "--bench", "b"]),
        ),
        (
            &[
                "publish",
                "--dry-run",
                "--token",
                "t",
                "--registry",
                "r",
                "--token=u",
            ],
            Some(&["package", "--registry", "r"]),
        ),
        (&["build"], None),
        (&["check"], None),
    ];
    for (args, want) in cases {
        let want = want.map(s);
        assert_eq!(compile_only(&s(args)), want, "{args:?}");
    }
}

fn linux() -> Platform {
    Platform {
        os: "linux",
        family: "unix",
        arch: "x86_64",
        pointer_width: "64",
        endian: "little",
    }
}

#[test]
fn platform_specs() {
    let p = linux();
    let cases: &[(&str, bool)] = &[
        ("cfg(windows)", false),
        ("cfg(unix)", true),
        ("cfg(not(windows))", true),
        ("cfg(target_os = \"windows\")", false),
        ("cfg(target_os = \"linux\")", true),
        ("cfg(target_os = \"macos\")", false),
        ("cfg(all(unix, target_arch = \"aarch64\"))", false),
        ("cfg(any(windows, target_os = \"linux\"))", true),
        ("cfg(any(windows, target_os = \"macos\"))", false),
        ("cfg(target_env = \"msvc\")", true),
        ("cfg(not(target_env = \"msvc\"))", true),
        ("cfg(all(windows, target_env = \"gnu\"))", false),
        ("cfg(target_family = \"wasm\")", false),
        ("cfg(target_pointer_width = \"32\")", false),
        ("cfg(feature = \"x\")", true),
        ("cfg(some_custom)", true),
        ("cfg(not(some_custom))", true),
        ("cfg(broken", true),
        ("cfg(all(unix,))", true),
        ("cfg(not(unix, windows))", true),
        ("x86_64-pc-windows-gnu", false),
        ("x86_64-unknown-linux-gnu", true),
        ("aarch64-unknown-linux-gnu", false),
        ("i686-pc-windows-msvc", false),
        ("aarch64-apple-darwin", false),
        ("wasm32-unknown-unknown", false),
        ("riscv32imc-esp-espidf", true),
        ("", true),
    ];
    for (spec, want) in cases {
        assert_eq!(platform_may_match(spec, &p), *want, "{spec}");
    }
    // Deep nesting does not overflow: it is not understood, so it may match.
    let deep = format!("cfg({}windows{})", "not(".repeat(5000), ")".repeat(5000));
    assert!(platform_may_match(&deep, &p));
}

const META: &str = r#"{
  "packages": [
    {"id": "app", "name": "app", "version": "0.1.0", "source": null,
     "manifest_path": "/w/Cargo.toml",
     "targets": [{"kind": ["bin"], "src_path": "/w/src/main.rs"},
                 {"kind": ["custom-build"], "src_path": "/w/build.rs"}]},
    {"id": "local", "name": "local", "version": "0.1.0", "source": null,
     "manifest_path": "/w/crates/local/Cargo.toml",
     "targets": [{"kind": ["proc-macro"], "src_path": "/w/crates/local/src/lib.rs"}]},
    {"id": "sys", "name": "sys", "version": "1.0.0", "source": "registry+https://r.test/index",
     "manifest_path": "/h/reg/sys-1.0.0/Cargo.toml",
     "targets": [{"kind": ["lib"], "src_path": "/h/reg/sys-1.0.0/src/lib.rs"},
                 {"kind": ["custom-build"], "src_path": "/h/reg/sys-1.0.0/tools/gen.rs"}]},
    {"id": "derive", "name": "derive", "version": "2.0.0", "source": "registry+https://r.test/index",
     "manifest_path": "/h/reg/derive-2.0.0/Cargo.toml",
     "targets": [{"kind": ["proc-macro"], "src_path": "/h/reg/derive-2.0.0/src/lib.rs"}]},
    {"id": "devonly", "name": "devonly", "version": "1.0.0", "source": "registry+https://r.test/index",
     "manifest_path": "/h/reg/devonly-1.0.0/Cargo.toml",
     "targets": [{"kind": ["custom-build"], "src_path": "/h/reg/devonly-1.0.0/build.rs"}]},
    {"id": "win", "name": "win", "version": "1.0.0", "source": "registry+https://r.test/index",
     "manifest_path": "/h/reg/win-1.0.0/Cargo.toml",
     "targets": [{"kind": ["custom-build"], "src_path": "/h/reg/win-1.0.0/build.rs"}]},
    {"id": "plain", "name": "plain", "version": "1.0.0", "source": "registry+https://r.test/index",
     "manifest_path": "/h/reg/plain-1.0.0/Cargo.toml",
     "targets": [{"kind": ["lib"], "src_path": "/h/reg/plain-1.0.0/src/lib.rs"}]},
    {"id": "devdep-of-dep", "name": "devdep-of-dep", "version": "1.0.0", "source": "registry+https://r.test/index",
     "manifest_path": "/h/reg/dd/Cargo.toml",
     "targets": [{"kind": ["custom-build"], "src_path": "/h/reg/dd/build.rs"}]},
    {"id": "unused", "name": "unused", "version": "1.0.0", "source": "registry+https://r.test/index",
     "manifest_path": "/h/reg/unused/Cargo.toml",
     "targets": [{"kind": ["custom-build"], "src_path": "/h/reg/unused/build.rs"}]}
  ],
  "workspace_members": ["app"],
  "workspace_root": "/w",
  "resolve": {"nodes": [
    {"id": "app", "deps": [
      {"pkg": "local", "dep_kinds": [{"kind": null, "target": null}]},
      {"pkg": "plain", "dep_kinds": [{"kind": null, "target": null}]},
      {"pkg": "devonly", "dep_kinds": [{"kind": "dev", "target": null}]},
      {"pkg": "win", "dep_kinds": [{"kind": null, "target": "cfg(windows)"}]}
    ]},
    {"id": "local", "deps": [{"pkg": "derive", "dep_kinds": [{"kind": null, "target": null}]}]},
    {"id": "plain", "deps": [
      {"pkg": "sys", "dep_kinds": [{"kind": "build", "target": null}]},
      {"pkg": "devdep-of-dep", "dep_kinds": [{"kind": "dev", "target": null}]}
    ]},
    {"id": "sys", "deps": []}, {"id": "derive", "deps": []}, {"id": "devonly", "deps": []},
    {"id": "win", "deps": []}, {"id": "devdep-of-dep", "deps": []}, {"id": "unused", "deps": []}
  ]}
}"#;

fn names(f: &[Found]) -> Vec<&str> {
    f.iter().map(|f| f.name.as_str()).collect()
}

#[test]
fn find_follows_what_the_command_builds() {
    let p = linux();
    let got = find(META, false, Some(&p)).unwrap();
    assert_eq!(names(&got), ["app", "derive", "local", "sys"]);
    let app = &got[0];
    assert!(app.local() && app.path == "." && app.build_script.as_deref() == Some("build.rs"));
    let local = &got[2];
    assert!(local.local() && local.proc_macro && local.path == "crates/local");
    let sys = &got[3];
    assert_eq!(sys.build_script.as_deref(), Some("tools/gen.rs"));
    assert!(!sys.local());
    assert_eq!(sys.path, "registry+https://r.test/index");
    // Dev-dependencies of members (not of dependencies) for tests.
    let got = find(META, true, Some(&p)).unwrap();
    assert_eq!(names(&got), ["app", "derive", "devonly", "local", "sys"]);
    // Cross builds: every platform.
    let got = find(META, false, None).unwrap();
    assert_eq!(names(&got), ["app", "derive", "local", "sys", "win"]);
    // Without a resolve: everything.
    let v: serde_json::Value = serde_json::from_str(META).unwrap();
    let mut v2 = v.clone();
    v2["resolve"] = serde_json::Value::Null;
    let got = find(&v2.to_string(), false, Some(&p)).unwrap();
    assert_eq!(got.len(), 8);
    // Garbage is an error, not a panic.
    assert!(find("{", false, None).is_err());
    assert!(find("[]", false, None).is_err());
    assert!(find("{\"packages\": 3}", false, None).is_err());
}

#[test]
fn approve_commands_are_exact() {
    assert_eq!(
        approve_command("ring", "0.17.8"),
        "pkgward approve cargo:ring@=0.17.8"
    );
    let e = crate::policy::AllowEntry::parse("cargo:ring@=0.17.8").unwrap();
    assert!(crate::policy::ranges::satisfies(
        Ecosystem::Cargo,
        e.range.unwrap(),
        "0.17.8"
    ));
    assert!(!crate::policy::ranges::satisfies(
        Ecosystem::Cargo,
        e.range.unwrap(),
        "0.17.9"
    ));
}

#[cfg(unix)]
#[test]
fn a_metadata_started_ahead_and_not_waited_for_is_killed_and_reaped() {
    let child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    drop(EarlyMetadata(Some(child)));
    // Reaped: the pid is no longer ours to signal.
    // SAFETY: kill with signal 0 only checks the pid.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    assert!(!alive, "the early `cargo metadata` outlived its plan");
}

#[test]
fn an_early_metadata_gives_what_cargo_printed_or_its_error() {
    let ok = std::process::Command::new("sh")
        .args(["-c", "printf '{}'"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    if let Ok(c) = ok {
        assert_eq!(EarlyMetadata(Some(c)).wait().as_deref(), Ok("{}"));
    }
    let bad = std::process::Command::new("sh")
        .args(["-c", "echo 'error: lockfile needs update' >&2; exit 101"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    if let Ok(c) = bad {
        assert_eq!(
            EarlyMetadata(Some(c)).wait(),
            Err("error: lockfile needs update".to_string())
        );
    }
}
