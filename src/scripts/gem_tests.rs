use super::*;

const SPEC: &str = "--- !ruby/object:Gem::Specification
name: nokogiri
version: !ruby/object:Gem::Version
  version: 1.16.0
platform: ruby
authors:
- x
files:
- lib/nokogiri.rb
- lib/rubygems_plugin.rb
- ext/nokogiri/extconf.rb
- 'ext/other/README'
extensions:
- ext/nokogiri/extconf.rb
- \"ext/rust/Cargo.toml\"
executables: []
require_paths:
- lib
";

#[test]
fn gemspec_code() {
    let c = code_of_spec(SPEC);
    assert_eq!(
        c.extensions,
        ["ext/nokogiri/extconf.rb", "ext/rust/Cargo.toml"]
    );
    assert_eq!(c.plugins, ["lib/rubygems_plugin.rb"]);
    // Indented list items, a flow list, none at all.
    let c = code_of_spec("files:\n  - a.rb\nextensions:\n  - ext/Rakefile\n");
    assert_eq!(c.extensions, ["ext/Rakefile"]);
    let c = code_of_spec("extensions: [ext/CMakeLists.txt, 'ext/b/extconf.rb']\n");
    assert_eq!(c.extensions, ["ext/CMakeLists.txt", "ext/b/extconf.rb"]);
    assert!(code_of_spec("extensions: []\nfiles: []\n").is_empty());
    assert!(code_of_spec("").is_empty());
    // A nested list under another key does not count.
    let c = code_of_spec("metadata:\n  extensions:\n    - not/this.rb\n");
    assert!(c.is_empty());
}

fn gem_bytes(metadata: Option<&str>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    if let Some(m) = metadata {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, m.as_bytes()).unwrap();
        add("metadata.gz", &gz.finish().unwrap());
    }
    add("data.tar.gz", b"x");
    b.into_inner().unwrap()
}

#[test]
fn reading_a_gem() {
    let c = inspect(&gem_bytes(Some(SPEC))).unwrap();
    assert_eq!(c.extensions.len(), 2);
    assert!(inspect(&gem_bytes(None)).is_err());
    assert!(inspect(b"not a tar").is_err());
    assert!(inspect(&[]).is_err());
    // metadata.gz that is not gzip.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_cksum();
    b.append_data(&mut h, "metadata.gz", &b"abc"[..]).unwrap();
    assert!(inspect(&b.into_inner().unwrap()).is_err());
}

#[test]
fn gem_names() {
    type Case<'a> = (&'a str, Option<(&'a str, &'a str, &'a str)>);
    let cases: &[Case<'_>] = &[
        ("rake-13.0.6", Some(("rake", "13.0.6", ""))),
        ("pw-scr-ext-1.0.0", Some(("pw-scr-ext", "1.0.0", ""))),
        (
            "nokogiri-1.16.0-x86_64-linux",
            Some(("nokogiri", "1.16.0", "x86_64-linux")),
        ),
        (
            "google-protobuf-3.25.1-x86_64-linux-gnu",
            Some(("google-protobuf", "3.25.1", "x86_64-linux-gnu")),
        ),
        ("rails-7.1.0.rc1", Some(("rails", "7.1.0.rc1", ""))),
        ("nope", None),
        ("", None),
    ];
    for (s, want) in cases {
        let got = parse_full_name(s).map(|g| (g.name, g.version, g.platform));
        let want = want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
        assert_eq!(got, want, "{s}");
    }
    let out = "Gems to install:\n  pw-dep-2.0.0\n  pw-ext-1.0.0\n";
    let g = parse_explain(out);
    assert_eq!(g.len(), 2);
    assert_eq!(g[1].name, "pw-ext");
    assert!(parse_explain("ERROR: nothing\n").is_empty());
}

#[test]
fn gemfile_lock() {
    let lock = "GIT\n  remote: https://git.example.com/x.git\n  revision: abc\n  specs:\n    gx (0.1.0)\n\n\
                PATH\n  remote: vendor/p\n  specs:\n    gp (0.2.0)\n\n\
                GEM\n  remote: https://gems.example.com/\n  specs:\n    nokogiri (1.16.0-x86_64-linux)\n      racc (~> 1.4)\n    racc (1.7.3)\n\n\
                GEM\n  remote: http://127.0.0.1:9/\n  specs:\n    other (2.0)\n\n\
                PLATFORMS\n  ruby\n  x86_64-linux\n\nDEPENDENCIES\n  nokogiri\n\nBUNDLED WITH\n   2.5.0\n";
    let (gems, local) = parse_lock(lock);
    let names: Vec<(&str, &str, &str, &str)> = gems
        .iter()
        .map(|g| {
            (
                g.name.as_str(),
                g.version.as_str(),
                g.platform.as_str(),
                g.remote.as_str(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            (
                "nokogiri",
                "1.16.0",
                "x86_64-linux",
                "https://gems.example.com/"
            ),
            ("racc", "1.7.3", "", "https://gems.example.com/"),
            ("other", "2.0", "", "http://127.0.0.1:9/"),
        ]
    );
    assert_eq!(local.len(), 2);
    assert!(parse_lock("").0.is_empty());
}

#[test]
fn which_commands_are_checked() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("local-1.0.0.gem"), gem_bytes(Some(SPEC))).unwrap();
    let s = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let cases: &[(&str, &[&str], bool)] = &[
        ("gem", &["install", "x"], true),
        ("gem", &["i", "x", "-v", "1.0"], true),
        (
            "gem",
            &["install", "--source", "https://s.test/", "x"],
            true,
        ),
        ("gem", &["install", "x", "--explain"], false),
        ("gem", &["install", "-g", "gem.deps.rb"], false),
        ("gem", &["list"], false),
        ("gem", &["fetch", "x"], false),
        ("gem", &["install", "--help"], false),
        ("bundle", &[], true),
        ("bundle", &["install"], true),
        ("bundle", &["update", "rails"], true),
        ("bundle", &["exec", "rake"], false),
        ("bundle", &["lock"], false),
    ];
    for (tool, args, want) in cases {
        assert_eq!(
            plan(tool, &s(args), cwd.path()).is_some(),
            *want,
            "{tool} {args:?}"
        );
    }
    let p = plan("gem", &s(&["install", "./local-1.0.0.gem"]), cwd.path()).unwrap();
    assert_eq!(p.local.len(), 1);
    assert!(plan("bundle", &s(&["update"]), cwd.path()).unwrap().update);
    // Where the sources come from.
    let a: Vec<OsString> = [
        "install",
        "--source=https://s.test/",
        "-p",
        "http://127.0.0.1:1",
        "--clear-sources",
        "-v",
        "1",
        "x",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let got: Vec<String> = source_options(&a)
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        got,
        [
            "--source",
            "https://s.test/",
            "-p",
            "http://127.0.0.1:1",
            "--clear-sources"
        ]
    );
}

#[test]
fn cache_names_are_safe() {
    let g = |n: &str, v: &str| Gem {
        name: n.into(),
        version: v.into(),
        platform: String::new(),
        remote: String::new(),
        local: false,
    };
    let base = Path::new("/state");
    assert!(cache_path_in(base, &g("../../etc", "1")).is_none());
    assert!(cache_path_in(base, &g("a/b", "1")).is_none());
    assert!(cache_path_in(base, &g(".hidden", "1")).is_none());
    assert_eq!(
        cache_path_in(base, &g("ok", "1.0")).unwrap(),
        Path::new("/state/scripts/gem/ok-1.0.json")
    );
}

fn s(a: &[&str]) -> Vec<String> {
    a.iter().map(|x| x.to_string()).collect()
}

#[test]
fn bundle_add_lines() {
    let cases: &[(&[&str], Option<&[&str]>)] = &[
        (&["rails"], Some(&["gem 'rails'"])),
        (
            &["nokogiri", "-v", "~> 1.16, < 2", "--group", "dev"],
            Some(&["gem 'nokogiri', '~> 1.16', '< 2'"]),
        ),
        (
            &["--version=1.0", "a", "b", "--source", "http://127.0.0.1:1/"],
            Some(&[
                "gem 'a', '1.0', source: 'http://127.0.0.1:1/'",
                "gem 'b', '1.0', source: 'http://127.0.0.1:1/'",
            ]),
        ),
        // Quotes cannot end the Ruby string.
        (&["x'); system('id"], Some(&["gem 'x\\'); system(\\'id'"])),
        (&["a", "--skip-install"], None),
        (&["a", "--git", "https://g.test/a.git"], None),
        (&["a", "--path=../a"], None),
        (&["a", "--github", "o/a"], None),
    ];
    for (args, want) in cases {
        let got = add_lines(&s(args));
        let want: Option<Vec<String>> = want.map(|w| w.iter().map(|x| x.to_string()).collect());
        assert_eq!(got, want, "{args:?}");
    }
    let cwd = tempfile::tempdir().unwrap();
    let p = plan("bundle", &s(&["add", "x", "-v", "2"]), cwd.path()).unwrap();
    assert_eq!(p.add, ["gem 'x', '2'"]);
    assert!(plan("bundle", &s(&["add", "x", "--skip-install"]), cwd.path()).is_none());
    let p = plan(
        "bundle",
        &s(&["install", "--gemfile", "sub/Gemfile"]),
        cwd.path(),
    )
    .unwrap();
    assert_eq!(p.gemfile, Some(cwd.path().join("sub/Gemfile")));
    assert_eq!(
        lock_of(Path::new("/p/Gemfile")),
        Path::new("/p/Gemfile.lock")
    );
    assert_eq!(
        lock_of(Path::new("/p/gems.rb")),
        Path::new("/p/gems.locked")
    );
}

#[test]
fn the_add_gemfile_evaluates_the_project_s() {
    let d = tempfile::tempdir().unwrap();
    let g = d.path().join("Gemfile");
    std::fs::write(&g, "source 'http://127.0.0.1:1/'\n").unwrap();
    std::fs::write(d.path().join("Gemfile.lock"), "GEM\n").unwrap();
    let lock;
    {
        let a = add_gemfile(&g, &["gem 'x'".to_string()]).unwrap();
        let text = std::fs::read_to_string(a.file.path()).unwrap();
        assert_eq!(text, format!("eval_gemfile '{}'\ngem 'x'\n", g.display()));
        lock = a.lock.clone();
        assert_eq!(std::fs::read_to_string(&lock).unwrap(), "GEM\n");
    }
    // Both gone once dropped.
    assert!(!lock.exists());
    let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().flatten().collect();
    assert_eq!(left.len(), 2, "{left:?}");
}
