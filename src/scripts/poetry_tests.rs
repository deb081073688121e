use super::*;

fn a(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const LOCK: &str = r#"
[[package]]
name = "Wheel_Only"
version = "1.0.0"
files = [
    {file = "wheel_only-1.0.0-py3-none-any.whl", hash = "sha256:00"},
    {file = "wheel_only-1.0.0.tar.gz", hash = "sha256:01"},
]

[[package]]
name = "sdist-only"
version = "2.0"
files = [{file = "sdist_only-2.0.tar.gz", hash = "sha256:02"}]

[[package]]
name = "corp-tool"
version = "2.1.0"
files = []

[package.source]
type = "legacy"
url = "http://127.0.0.1/simple"
reference = "corp"

[[package]]
name = "from-git"
version = "0.1.0"
files = []

[package.source]
type = "git"
url = "https://git.example.test/x.git"
reference = "main"

[[package]]
name = "a-wheel-url"
version = "1.0"
files = []

[package.source]
type = "url"
url = "https://example.test/a_wheel_url-1.0-py3-none-any.whl"

[[package]]
name = "an-sdist-url"
version = "1.0"
files = []

[package.source]
type = "url"
url = "https://example.test/an-sdist-url-1.0.tar.gz"

[[package]]
name = "local"
version = "0.1.0"
files = []
develop = true

[package.source]
type = "directory"
url = "../local"
"#;

#[test]
fn lock_packages_that_need_a_build() {
    let l = parse_lock(LOCK);
    assert_eq!(l.len(), 7);
    let needs: Vec<&str> = l
        .iter()
        .filter(|p| p.needs_build())
        .map(|p| p.name.as_str())
        .collect();
    // A registry package with no files listed (old locks) is left to the guard.
    assert_eq!(needs, ["sdist-only", "from-git", "an-sdist-url", "local"]);
    assert_eq!(l[1].version, "2.0");
    assert!(parse_lock("not toml [[").is_empty());
    assert!(parse_lock("[[package]]\nversion = \"1\"\n").is_empty());
    assert!(parse_lock("package = 3\n").is_empty());
}

#[test]
fn subcommands_and_project_dirs() {
    type Case<'a> = (&'a [&'a str], Option<&'a str>);
    let cases: &[Case<'_>] = &[
        (&["install"], Some("install")),
        (&["-C", "sub", "lock"], Some("lock")),
        (&["--directory=sub", "-v", "add", "x"], Some("add")),
        (&["-P", "p", "self", "add", "x"], Some("self")),
        (&["--no-ansi"], None),
        (&[], None),
        (&["--", "sync"], Some("sync")),
    ];
    for (args, want) in cases {
        assert_eq!(subcommand(&a(args)), *want, "{args:?}");
    }
    let exists = |p: &Path| {
        [
            "/w/pyproject.toml",
            "/w/sub/pyproject.toml",
            "/o/pyproject.toml",
        ]
        .iter()
        .any(|x| Path::new(x) == p)
    };
    let cwd = Path::new("/w/deep/er");
    type Dir<'a> = (&'a [&'a str], Option<&'a str>);
    let dirs: &[Dir<'_>] = &[
        (&["install"], Some("/w")),
        (&["-C", "/w/sub", "install"], Some("/w/sub")),
        (&["--directory=/w/sub/x", "lock"], Some("/w/sub")),
        (&["-C", "/o", "-P", "a/b", "lock"], Some("/o")),
        (&["--project", "/w/sub", "lock"], Some("/w/sub")),
        (&["-C", "/nowhere", "lock"], None),
        // A value option's value is not a directory option.
        (&["--with", "-C", "install"], Some("/w")),
    ];
    for (args, want) in dirs {
        assert_eq!(
            project_dir(&a(args), cwd, &exists).as_deref(),
            want.map(Path::new),
            "{args:?}"
        );
    }
}

#[test]
fn the_installers_only_binary_setting() {
    let l = parse_lock(LOCK);
    let none = |_: &str, _: &str| false;
    // No approvals: wheels only, whatever the lock.
    assert_eq!(
        only_binary(Some(&l), false, &none).as_deref(),
        Some(":all:")
    );
    assert_eq!(only_binary(None, false, &none).as_deref(), Some(":all:"));
    // Approvals and resolving: the guard decides.
    assert_eq!(only_binary(None, true, &none), None);
    // Approvals and a lock: every locked package but the approved ones, by
    // exact (normalised) name.
    let sdist_ok = |n: &str, v: &str| n == "sdist-only" && v == "2.0";
    let v = only_binary(Some(&l), true, &sdist_ok).unwrap();
    assert_eq!(
        v,
        "a-wheel-url,an-sdist-url,corp-tool,from-git,local,wheel-only"
    );
    let all = |_: &str, _: &str| true;
    assert_eq!(only_binary(Some(&l), true, &all).as_deref(), Some(":none:"));
}

#[test]
fn the_guards_report() {
    let text = "{\"event\":\"guard\",\"argv0\":\"poetry\",\"pid\":1}\n\
        {\"event\":\"build\",\"name\":\"Pw_X\",\"version\":\"1.0\",\"hook\":\"get_requires_for_build_wheel\",\"approved_by\":\"pypi:pw-x\",\"ok\":true,\"ms\":1.5}\n\
        not json\n\
        {\"event\":\"build\",\"name\":\"pw-x\",\"version\":\"1.0\",\"hook\":\"build_wheel\",\"approved_by\":\"pypi:pw-x\",\"ok\":false,\"ms\":2}\n\
        {\"event\":\"build\",\"name\":\"pw-x\",\"version\":\"2.0\",\"hook\":\"build_wheel\",\"ok\":true,\"ms\":1}\n\
        {\"event\":\"deny\",\"name\":\"evil\",\"version\":\"0.1\",\"hook\":\"build_wheel\"}\n\
        {\"event\":\"deny\",\"name\":\"evil\",\"version\":\"0.1\",\"hook\":\"build_wheel\"}\n";
    let s = summarize(&parse_report(text));
    assert!(s.loaded);
    assert_eq!(s.built.len(), 2);
    assert_eq!(
        s.built[0].hooks,
        ["get_requires_for_build_wheel", "build_wheel"]
    );
    assert!(!s.built[0].ok);
    assert!((s.built[0].ms - 3.5).abs() < 1e-9);
    assert_eq!(s.built[0].approved_by.as_deref(), Some("pypi:pw-x"));
    assert_eq!(s.denied, [("evil".to_string(), "0.1".to_string(), false)]);
    assert!(s.unconfinable.is_empty());
    assert_eq!(s.unsupported, None);
    let s = summarize(&parse_report(
        "{\"event\":\"unsupported\",\"version\":\"1.8.3\"}\n",
    ));
    assert_eq!(s.unsupported.as_deref(), Some("1.8.3"));
    let s = summarize(&parse_report(""));
    assert!(!s.loaded && s.built.is_empty() && s.denied.is_empty());
}

#[test]
fn the_denial_names_each_approve_command() {
    let m = denial(
        &crate::policy::Policy::default(),
        "install",
        &[
            ("a".into(), "1.0".into(), false),
            ("b".into(), "2".into(), false),
            ("c".into(), "0.1".into(), true),
        ],
    );
    assert!(m.contains("pkgward approve pypi:a@1.0"), "{m}");
    assert!(m.contains("pkgward approve pypi:b@2"), "{m}");
    assert!(m.contains("pkgward approve pypi:c@local"), "{m}");
    assert!(m.starts_with("`poetry install`"), "{m}");
}

#[test]
fn the_guard_is_python_that_reads_its_config() {
    assert!(GUARD.contains("PKGWARD_POETRY_GUARD"));
    assert!(GUARD.contains("_call_hook"));
    assert!(GUARD.contains("os._exit(77)"));
}

#[test]
fn required_plugins_are_read() {
    let p = "[tool.poetry]\nname = \"x\"\n[tool.poetry.requires-plugins]\n\
             poetry-plugin-x = \">=1\"\nother = { version = \"*\", extras = [\"a\"] }\n";
    assert_eq!(required_plugins(p), ["other", "poetry-plugin-x"]);
    assert!(required_plugins("[tool.poetry]\nname = \"x\"\n").is_empty());
    assert!(required_plugins("[tool.poetry.requires-plugins]\nx = [").is_empty());
    assert!(required_plugins("[tool.poetry]\nrequires-plugins = 3\n").is_empty());
}

/// The lock check covers the groups the install selects only.
#[test]
fn groups_an_install_selects() {
    let py = "[tool.poetry.group.docs]\noptional = true\n[tool.poetry.group.dev.dependencies]\nx = \"*\"\n";
    let g = |args: &[&str]| Groups::parse(&a(args), py);
    let main = a(&["main"]);
    let dev = a(&["dev"]);
    let docs = a(&["docs"]);
    let plain = g(&["install"]);
    assert!(plain.installs(&main) && plain.installs(&dev) && !plain.installs(&docs));
    assert!(plain.installs(&[]), "a package whose groups are not said");
    assert!(plain.installs(&a(&["docs", "main"])));
    let w = g(&["install", "--with", "docs", "--without=dev"]);
    assert!(w.installs(&docs) && !w.installs(&dev) && w.installs(&main));
    let o = g(&["install", "--only", "Docs,dev"]);
    assert!(o.installs(&docs) && o.installs(&dev) && !o.installs(&main));
    let all = g(&["sync", "--all-groups"]);
    assert!(all.installs(&docs));
    // After `--`: not poetry's options.
    let after = g(&["install", "--", "--only", "docs"]);
    assert!(after.installs(&main));
    let lock = "[[package]]\nname = \"a\"\nversion = \"1\"\ngroups = [\"docs\"]\nfiles = []\n";
    assert_eq!(parse_lock(lock)[0].groups, docs);
}
