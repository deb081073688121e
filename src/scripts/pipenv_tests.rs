use super::*;

fn a(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn command_lines() {
    type Case<'a> = (&'a [&'a str], Option<(&'a str, &'a [&'a str])>);
    let cases: &[Case<'_>] = &[
        (&["install"], Some(("install", &[]))),
        (&["--python", "3.11", "sync"], Some(("sync", &[]))),
        (
            &["--pypi-mirror=http://m.test/s", "lock"],
            Some(("lock", &[])),
        ),
        (
            &["install", "requests>=2", "-d"],
            Some(("install", &["requests>=2"])),
        ),
        // A value is not a package; `--` makes the rest packages.
        (
            &["install", "-i", "http://i.test/s", "x"],
            Some(("install", &["x"])),
        ),
        (&["install", "--", "-odd"], Some(("install", &["-odd"]))),
        (&["run", "pip", "install", "x"], None),
        (&["--where"], None),
        (&["--", "install"], None),
        (&[], None),
    ];
    for (args, want) in cases {
        let got = parse_cli(&a(args));
        match want {
            None => assert_eq!(got, None, "{args:?}"),
            Some((sub, pkgs)) => {
                let c = got.unwrap_or_else(|| panic!("{args:?}"));
                assert_eq!(c.sub, *sub, "{args:?}");
                assert_eq!(c.packages, a(pkgs), "{args:?}");
            }
        }
    }
    let c = parse_cli(&a(&[
        "install",
        "--extra-pip-args",
        "--pre",
        "--dev",
        "--deploy",
        "--categories=docs, tests",
        "--res=pure-python",
        "--backend",
        "pip",
        "-ihttp://a.test/s",
        "--index=http://b.test/s",
        "--pypi-mirror",
        "http://m.test/s",
        "--ignore",
    ]))
    .unwrap();
    assert_eq!(c.extra_pip_args.as_deref(), Some("--pre"));
    assert!(c.dev && c.deploy && c.ignore_pipfile && !c.pre);
    assert_eq!(c.categories, a(&["docs", "tests"]));
    assert_eq!(c.resolvers, a(&["pure-python", "pip"]));
    assert_eq!(c.indexes, a(&["http://a.test/s", "http://b.test/s"]));
    assert_eq!(c.pypi_mirror.as_deref(), Some("http://m.test/s"));
    // argparse's abbreviations: unique prefixes only.
    assert_eq!(long_option("--extra-p"), Some(("--extra-pip-args", true)));
    assert_eq!(long_option("--extra"), None);
    assert_eq!(long_option("--dev"), Some(("--dev", false)));
    assert_eq!(long_option("--d"), None);
}

#[test]
fn files_pkgward_writes() {
    let c = config_text(&[], &[]);
    assert!(c.starts_with("[global]\nonly-binary = :all:\nno-binary = :none:\n"));
    assert!(c.contains("[install]\nonly-binary = :all:\nno-binary = :none:\n"));
    let c = config_text(&[], &a(&["x", "y-z"]));
    assert!(c.contains("[install]\nonly-binary = :all:\nno-binary = x,y-z\n"));
    assert_eq!(requirements_text(&[]), "--only-binary :all:\n");
    assert_eq!(
        requirements_text(&a(&["x"])),
        "--only-binary :all:\n--no-binary x\n"
    );
    let f = Path::new("/s/only-binary.txt");
    assert_eq!(merged_extra(None, Some(f)), "-r /s/only-binary.txt");
    assert_eq!(
        merged_extra(Some("  --pre   --timeout 5 "), Some(f)),
        "--pre --timeout 5 -r /s/only-binary.txt"
    );
    assert_eq!(
        merged_extra(Some("--pre"), None),
        "--pre --only-binary=:all:"
    );
}

#[test]
fn refused_pip_arguments_and_variables() {
    for (value, bad) in [
        ("--no-binary x", vec!["--no-binary"]),
        ("--no-binary=:all: --pre", vec!["--no-binary=:all:"]),
        ("--only-binary=:none:", vec!["--only-binary=:none:"]),
        ("-r more.txt -cc.txt", vec!["-r", "-cc.txt"]),
        (
            "--requirement=x --constraint y",
            vec!["--requirement=x", "--constraint"],
        ),
        ("--isolated", vec!["--isolated"]),
        ("--pre --timeout 5 --no-build-isolation", vec![]),
    ] {
        assert_eq!(extra_args_problems(value), a(&bad), "{value}");
    }
    let vars: Vec<(String, String)> = [
        ("PIP_NO_BINARY", "x"),
        ("PIP_ONLY_BINARY", ":none:"),
        ("PIP_only_binary", ":none:"),
        ("PIP_No-Binary", ":all:"),
        ("PIP_NO_BINARY_X", "x"),
        ("pip_no_binary", "x"),
        ("PIP_ONLY-BINARY", " "),
        ("PIP_INDEX_URL", "http://i.test/s"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        env_problems(&vars),
        a(&["PIP_NO_BINARY", "PIP_only_binary", "PIP_No-Binary"])
    );
}

#[test]
fn what_a_pipfile_may_not_say() {
    let approved = |n: &str| n == "ok";
    let problems = |text: &str, approvals: bool| pipfile_problems(text, &approved, approvals);
    assert!(problems(
        "[[source]]\nurl = \"http://i.test/s\"\n[packages]\nx = \"*\"\nok = {version = \"*\", no_binary = true}\n",
        true
    )
    .is_empty());
    type Case<'a> = (&'a str, bool, &'a str);
    let cases: &[Case<'_>] = &[
        (
            "[packages]\nx = {version = \"*\", no_binary = true}\n",
            false,
            "no_binary",
        ),
        ("[docs]\nx = {no_binary = \"yes\"}\n", false, "no_binary"),
        (
            "[packages]\nx = \"*\\n--no-binary :all:\"\n",
            false,
            "spans lines",
        ),
        (
            "[packages]\nx = {markers = \"a\\r\"}\n",
            false,
            "spans lines",
        ),
        (
            "[[source]]\nurl = \"http://i.test/s --no-binary :all:\"\n",
            false,
            "whitespace",
        ),
        ("[pipenv]\nresolver = \"pure-python\"\n", false, "resolver"),
        ("[pipenv]\nresolver_backend = \"uv\"\n", false, "resolver"),
        ("[build-system]\nrequires = [\"x\"]\n", true, "build-system"),
    ];
    for (text, approvals, want) in cases {
        let p = problems(text, *approvals);
        assert_eq!(p.len(), 1, "{text}: {p:?}");
        assert!(p[0].contains(want), "{text}: {p:?}");
    }
    // Without approvals, the environment keeps [build-system] wheels only.
    assert!(problems("[build-system]\nrequires = [\"x\"]\n", false).is_empty());
    assert!(problems("[pipenv]\nresolver = \"pip\"\n", false).is_empty());
    // Not TOML: pipenv says so itself.
    assert!(problems("[[[", true).is_empty());
}

const LOCK: &str = r#"{
    "_meta": {
        "hash": {"sha256": "x"},
        "sources": [
            {"name": "local", "url": "http://127.0.0.1:1/simple", "verify_ssl": false},
            {"name": "other", "url": "https://o.test/simple", "verify_ssl": true}
        ]
    },
    "default": {
        "ok": {"hashes": ["sha256:aa"], "index": "local", "version": "==1.0.0"},
        "marked": {"version": "==2.0", "markers": "python_version >= '3.8'"},
        "proj": {"editable": true, "path": "."},
        "vcs": {"git": "https://g.test/x.git", "ref": "abc"}
    },
    "develop": {
        "dev-tool": {"version": "==3.1"}
    }
}"#;

#[test]
fn lock_pins_and_sources() {
    let (reqs, sources) = lock_reqs(LOCK, &a(&["default"]));
    let lines: Vec<&str> = reqs.iter().map(|r| r.line.as_str()).collect();
    assert_eq!(lines, ["marked==2.0; python_version >= '3.8'", "ok==1.0.0"]);
    assert_eq!(reqs[1].version, "1.0.0");
    assert_eq!(
        index_args(&sources),
        a(&[
            "--index-url",
            "http://127.0.0.1:1/simple",
            "--trusted-host",
            "127.0.0.1:1",
            "--extra-index-url",
            "https://o.test/simple"
        ])
    );
    let (reqs, _) = lock_reqs(LOCK, &a(&["default", "develop"]));
    assert_eq!(reqs.len(), 3);
    assert_eq!(lock_reqs("not json", &a(&["default"])).0, Vec::new());
    assert_eq!(locked_version(LOCK, "OK").as_deref(), Some("1.0.0"));
    assert_eq!(locked_version(LOCK, "Dev_Tool").as_deref(), Some("3.1"));
    assert_eq!(locked_version(LOCK, "proj"), None);
    // What the lock may not say.
    let approved = |n: &str| n == "ok";
    assert!(lock_problems(LOCK, &approved).is_empty());
    let marked = LOCK.replace(
        "\"version\": \"==3.1\"",
        "\"version\": \"==3.1\", \"no_binary\": true",
    );
    let p = lock_problems(&marked, &approved);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("dev-tool"), "{p:?}");
    let ok_marked = LOCK.replace("\"==1.0.0\"", "\"==1.0.0\", \"no_binary\": true");
    assert!(lock_problems(&ok_marked, &approved).is_empty());
    let injected = LOCK.replace("==2.0", "==2.0\\n--no-binary :all:");
    assert_eq!(lock_problems(&injected, &approved).len(), 1);
    let url = LOCK.replace(
        "https://o.test/simple",
        "https://o.test/simple --no-binary x",
    );
    assert_eq!(lock_problems(&url, &approved).len(), 1);
}

#[test]
fn pipfile_requirements() {
    let (reqs, sources) = pipfile_reqs(
        "[[source]]\nurl = \"http://127.0.0.1:1/simple\"\nverify_ssl = true\nname = \"l\"\n\
         [packages]\nany = \"*\"\nranged = \">=1,<2\"\nextra = {version = \"==1.0\", extras = [\"a\", \"b c\"], markers = \"os_name == 'posix'\"}\n\
         proj = {path = \".\", editable = true}\nvcs = {git = \"https://g.test/x.git\"}\n\
         [dev-packages]\ndev = \"*\"\n[scripts]\nnot = \"a package\"\n[requires]\npython_version = \"3.11\"\n",
    );
    let lines: Vec<&str> = reqs.iter().map(|r| r.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "dev",
            "any",
            "extra[a]==1.0; os_name == 'posix'",
            "ranged>=1,<2"
        ]
    );
    assert_eq!(
        index_args(&sources),
        a(&["--index-url", "http://127.0.0.1:1/simple"])
    );
    assert_eq!(cli_req("requests[socks]>=2").unwrap().name, "requests");
    for bad in [
        "./local",
        "x @ https://h.test/x.whl",
        "git+https://g.test/x",
        "-e",
        "",
    ] {
        assert_eq!(cli_req(bad), None, "{bad}");
    }
    assert_eq!(exact_version("==1.2.3").as_deref(), Some("1.2.3"));
    assert_eq!(exact_version(" == 1.0 ").as_deref(), Some("1.0"));
    for not in ["==1.*", ">=1", "==1,<2", "", "*"] {
        assert_eq!(exact_version(not), None, "{not}");
    }
}

#[test]
fn denials_name_the_approve_command() {
    let m = denial("sync", "x", "1.0.0", true, None);
    assert!(m.contains("`pipenv sync` needs to build x 1.0.0"), "{m}");
    assert!(m.contains("approve: pkgward approve pypi:x@1.0.0\n"), "{m}");
    let m = denial("lock", "x", "1.0.0", false, None);
    assert!(m.contains("approve: pkgward approve pypi:x\n"), "{m}");
    assert!(m.contains("pkgward approve pypi:x@1.0.0"), "{m}");
    let m = denial("lock", "x", "", false, Some("pypi:x@>=1"));
    assert!(
        m.contains("`pypi:x@>=1` approves some versions only"),
        "{m}"
    );
    assert!(m.contains("pkgward approve pypi:x@VERSION"), "{m}");
}

#[test]
fn pipfile_discovery() {
    let d = tempfile::tempdir().unwrap();
    let deep = d.path().join("a/b/c/d");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(d.path().join("a/Pipfile"), "").unwrap();
    let none = |_: &str| None;
    let b = d.path().join("a/b");
    assert_eq!(pipfile_path(&b, &none), Some(d.path().join("a/Pipfile")));
    // Too far up (pipenv looks in the directory and its parent).
    assert_eq!(pipfile_path(&d.path().join("a/b/c"), &none), None);
    let deeper = |k: &str| (k == "PIPENV_MAX_DEPTH").then(|| "5".to_string());
    assert_eq!(
        pipfile_path(&deep, &deeper),
        Some(d.path().join("a/Pipfile"))
    );
    let named = |k: &str| (k == "PIPENV_PIPFILE").then(|| "elsewhere/Pipfile".to_string());
    assert_eq!(
        pipfile_path(&deep, &named),
        Some(deep.join("elsewhere/Pipfile"))
    );
}

#[test]
fn dotenv_variables() {
    let text = "# comment\nPIP_INDEX_URL=http://i.test/s\nexport PIP_ONLY_BINARY=:none:\n\
                'PIP_no-binary'=x\nPIP_CONFIG_FILE=\nUV_NO_BUILD=0\nPIPENV_RESOLVER = pure-python\n\
                SECRET=\"PIP_NO_BINARY=x\"\nnot a line\n";
    assert_eq!(
        dotenv_problems(text),
        a(&[
            "PIP_ONLY_BINARY",
            "PIP_no-binary",
            "PIP_CONFIG_FILE",
            "UV_NO_BUILD",
            "PIPENV_RESOLVER"
        ])
    );
    assert!(dotenv_problems("PIP_TIMEOUT=5\nPIPENV_VENV_IN_PROJECT=1\n").is_empty());
}

/// pipenv's own `calculate_hash` of these files (pipenv 2026.10.3).
const HASHED: &str = r#"[[source]]
url = "http://127.0.0.1:1/simple"
verify_ssl = false
name = "local"

[packages]
Requests_X = "*"
"zope.interface" = {version = ">=1", extras = ["a", "b"], markers = "os_name == 'posix'"}
caf = {version = "==1.0", index = "local"}

[dev-packages]
pytest = "*"

[docs]
Sphinx = "==7"

[requires]
python_version = "3.11"

[scripts]
t = "pytest"

[pipenv]
allow_prereleases = false
"#;

#[test]
fn the_lock_hash_is_pipenvs() {
    assert_eq!(
        pipfile_hash(HASHED).as_deref(),
        Some("a8c5702a8f7305eb094d203719c4e64fa9f5883071f08c9484a3f23f6f306201")
    );
    let odd = "[[source]]\nurl = \"x\"\nname = \"n\"\nverify_ssl = true\n[packages]\n\
               name = \"\u{fc}n\u{ef}\\\"\\t\\u0001\u{1f600}~\"\n";
    assert_eq!(
        pipfile_hash(odd).as_deref(),
        Some("4ee80ceec080e721d3b079a63f200c02ec8985154af68c1d325badb80a58a4ec")
    );
    // Not reproduced: no [[source]] (pipenv adds its default), floats.
    assert_eq!(pipfile_hash("[packages]\nx = \"*\"\n"), None);
    assert_eq!(
        pipfile_hash("[[source]]\nurl = \"x\"\n[packages]\nx = {v = 1.5}\n"),
        None
    );
    let lock = |h: &str| format!("{{\"_meta\": {{\"hash\": {{\"sha256\": \"{h}\"}}}}}}");
    assert!(lock_is_current(
        HASHED,
        &lock("a8c5702a8f7305eb094d203719c4e64fa9f5883071f08c9484a3f23f6f306201")
    ));
    assert!(!lock_is_current(HASHED, &lock("00")));
    assert!(!lock_is_current(HASHED, "not json"));
    assert_eq!(canonicalize("Zope__.Interface"), "zope-interface");
    assert_eq!(canonicalize("_x_"), "-x-");
}

#[test]
fn what_pip_builds_whatever_it_is_told() {
    let entry = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(x, _)| *x == k)
                .map(|(_, v)| v.to_string())
        }
    };
    assert!(built_from_source(&entry(&[("git", "https://g.test/x.git")])).is_some());
    assert!(built_from_source(&entry(&[("file", "https://h.test/x-1.0.tar.gz")])).is_some());
    assert!(
        built_from_source(&entry(&[("file", "https://h.test/x-1.0-py3-none-any.whl")])).is_none()
    );
    assert!(built_from_source(&entry(&[("path", "vendor/x-1.0.zip")])).is_some());
    assert!(built_from_source(&entry(&[("path", "."), ("editable", "true")])).is_none());
    assert!(built_from_source(&entry(&[("version", "==1")])).is_none());
    assert_eq!(
        pipfile_entries(
            "[packages]\na = {git = \"https://g.test/a.git\"}\nb = \"*\"\nc = {path = \".\"}\n\
             [tools]\nd = {file = \"http://h.test/d.tgz\"}\n"
        )
        .into_iter()
        .map(|(n, ..)| n)
        .collect::<Vec<_>>(),
        ["a", "d"]
    );
    assert_eq!(
        lock_entries(LOCK)
            .into_iter()
            .map(|(n, ..)| n)
            .collect::<Vec<_>>(),
        ["vcs"]
    );
    type Case<'a> = (&'a str, Option<Option<&'a str>>);
    let cases: &[Case<'_>] = &[
        ("requests", None),
        ("requests>=2", None),
        (".", None),
        ("./libs/x", None),
        ("https://h.test/x-1.0-py3-none-any.whl", None),
        ("x @ https://h.test/x-1.0.tar.gz", Some(Some("x"))),
        ("x@https://h.test/x-1.0.tar.gz", Some(Some("x"))),
        ("https://h.test/x-1.0.tar.gz", Some(None)),
        ("git+https://g.test/x.git#egg=xx", Some(Some("xx"))),
        ("git+https://g.test/x.git", Some(None)),
        ("./dist/x-1.0.tar.gz", Some(None)),
    ];
    for (spec, want) in cases {
        let got = cli_source_build(spec).map(|(n, _)| n);
        assert_eq!(got, want.map(|n| n.map(str::to_string)), "{spec}");
    }
}

/// The user's pip settings survive in pkgward's config file (pip stops
/// reading the user's own once `PIP_CONFIG_FILE` is set), without their
/// format keys, one section and one key each (pip refuses duplicates).
#[test]
fn the_users_pip_config_is_kept() {
    let legacy = "[global]\ntimeout = 5\nindex-url = http://a.test/simple\n".to_string();
    let user = "# mine\n[global]\nindex_url = http://b.test/simple\nno_binary = :all:\n\
                extra-index-url =\n    http://c.test/simple\n    http://d.test/simple\n\
                [install]\nOnly-Binary: :none:\nno-compile = yes\n[freeze]\nall = true\n"
        .to_string();
    let c = config_text(&[legacy, user], &a(&["x"]));
    assert_eq!(
        c,
        "[global]\ntimeout = 5\nindex_url = http://b.test/simple\nextra-index-url =\n    \
         http://c.test/simple\n    http://d.test/simple\nonly-binary = :all:\nno-binary = x\n\
         [install]\nno-compile = yes\nonly-binary = :all:\nno-binary = x\n\
         [freeze]\nall = true\n\
         [download]\nonly-binary = :all:\nno-binary = x\n\
         [wheel]\nonly-binary = :all:\nno-binary = x\n\
         [lock]\nonly-binary = :all:\nno-binary = x\n"
    );
    // Which files: the user's PIP_CONFIG_FILE when it exists, else the
    // user files in pip's order.
    let d = tempfile::tempdir().unwrap();
    let h = d.path();
    std::fs::create_dir_all(h.join(".pip")).unwrap();
    std::fs::create_dir_all(h.join(".config/pip")).unwrap();
    std::fs::write(h.join(".pip/pip.conf"), "[global]\na = 1\n").unwrap();
    std::fs::write(h.join(".config/pip/pip.conf"), "[global]\nb = 2\n").unwrap();
    std::fs::write(h.join("mine.conf"), "[global]\nc = 3\n").unwrap();
    let none = |_: &str| None;
    assert_eq!(
        user_pip_config(&none, Some(h)),
        a(&["[global]\na = 1\n", "[global]\nb = 2\n"])
    );
    let mine = h.join("mine.conf").to_string_lossy().into_owned();
    let set = |k: &str| (k == "PIP_CONFIG_FILE").then(|| mine.clone());
    assert_eq!(user_pip_config(&set, Some(h)), a(&["[global]\nc = 3\n"]));
    let null = |k: &str| (k == "PIP_CONFIG_FILE").then(|| "/dev/null".to_string());
    assert!(user_pip_config(&null, Some(h)).is_empty());
}
