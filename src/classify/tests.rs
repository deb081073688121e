//! Table tests of the source adapters, on in-memory environments and files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::source::fake::{FakeEnv, FakeFiles};
use super::*;

struct Case {
    tool: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    files: &'static [(&'static str, &'static str)],
    /// (kind, value, origin as displayed) that must be among the sources.
    want: &'static [(SourceKind, &'static str, &'static str)],
}

fn run(c: &Case) -> Vec<Source> {
    let env = FakeEnv(
        c.env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let files = FakeFiles(
        c.files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect::<BTreeMap<_, _>>(),
    );
    let args: Vec<String> = c.args.iter().map(|s| s.to_string()).collect();
    let req = Request {
        tool: Tool::by_name(c.tool).unwrap(),
        args: &args,
        env: &env,
        files: &files,
        cwd: Path::new("/w/proj/sub"),
        home: Some(Path::new("/home/u")),
        real_tool: Some(Path::new("/usr/lib/node_modules/npm/bin/npm-cli.js")),
    };
    classify(&req).sources
}

fn check(cases: &[Case]) {
    for c in cases {
        let got = run(c);
        for (kind, value, origin) in c.want {
            assert!(
                got.iter().any(|s| s.kind == *kind
                    && s.value == *value
                    && s.origin.to_string() == *origin),
                "{} {:?}: want {kind:?} {value} from {origin}\n got {got:#?}",
                c.tool,
                c.args
            );
        }
    }
}

use SourceKind::*;

/// `node-gyp` naming another program is a tool override; npm's own
/// node-gyp (what npm puts in every script's `npm_config_node_gyp`, so a
/// nested npm inherits it) is not.
#[test]
fn npm_node_gyp_setting() {
    let own = run(&Case {
        tool: "npm",
        args: &["install"],
        env: &[(
            "npm_config_node_gyp",
            "/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js",
        )],
        files: &[],
        want: &[],
    });
    assert!(!own.iter().any(|s| s.kind == Executable), "{own:#?}");
    check(&[Case {
        tool: "npm",
        args: &["install"],
        env: &[("npm_config_node_gyp", "/tmp/build.sh")],
        files: &[],
        want: &[(
            Executable,
            "/tmp/build.sh",
            "the environment variable npm_config_node_gyp",
        )],
    }]);
}

#[test]
fn npm_sources() {
    check(&[
        Case {
            tool: "npm",
            args: &["install"],
            env: &[],
            files: &[],
            want: &[(Registry, "builtin", "the tool's built-in default")],
        },
        Case {
            tool: "npm",
            args: &["install", "--registry", "http://a.test/"],
            env: &[("npm_config_registry", "http://b.test/")],
            files: &[],
            want: &[(Registry, "http://a.test/", "the command-line flag --registry")],
        },
        Case {
            tool: "npm",
            args: &["i", "--reg=http://a.test/"],
            env: &[],
            files: &[],
            want: &[(Registry, "http://a.test/", "the command-line flag --reg")],
        },
        Case {
            tool: "npm",
            args: &["i", "-regi=http://a.test/"],
            env: &[],
            files: &[],
            want: &[(Registry, "http://a.test/", "the command-line flag --regi")],
        },
        Case {
            tool: "npm",
            args: &["ci"],
            env: &[("NPM_CONFIG_REGISTRY", "http://b.test/")],
            files: &[("/w/proj/.npmrc", "registry=http://c.test/\n")],
            want: &[(Registry, "http://b.test/", "the environment variable NPM_CONFIG_REGISTRY")],
        },
        Case {
            // The project .npmrc sits at the nearest package.json, above cwd.
            tool: "npm",
            args: &["ci"],
            env: &[],
            files: &[
                ("/w/proj/package.json", "{}"),
                ("/w/proj/.npmrc", "; x\nregistry = http://c.test/\n@acme:registry=http://d.test/\n"),
                ("/home/u/.npmrc", "registry=http://e.test/\n@acme:registry=http://f.test/\n@other:registry=http://g.test/\n"),
            ],
            want: &[
                (Registry, "http://c.test/", "/w/proj/.npmrc:2"),
                (ScopeRegistry, "http://d.test/", "/w/proj/.npmrc:3"),
                (ScopeRegistry, "http://g.test/", "/home/u/.npmrc:3"),
            ],
        },
        Case {
            tool: "npm",
            args: &["install"],
            env: &[("npm_config_userconfig", "/etc/custom-npmrc"), ("EVIL", "http://h.test/")],
            files: &[("/etc/custom-npmrc", "registry=${EVIL}\n")],
            want: &[(Registry, "http://h.test/", "/etc/custom-npmrc:1")],
        },
        Case {
            // Global npmrc under the prefix npm is installed in, and npm's builtin npmrc.
            tool: "npm",
            args: &["install"],
            env: &[],
            files: &[("/usr/etc/npmrc", "@g:registry=http://i.test/\n"), ("/usr/lib/node_modules/npm/npmrc", "registry=http://j.test/\n")],
            want: &[(ScopeRegistry, "http://i.test/", "/usr/etc/npmrc:1"), (Registry, "http://j.test/", "/usr/lib/node_modules/npm/npmrc:1")],
        },
        Case {
            tool: "npm",
            args: &["install", "--@acme:registry=http://k.test/", "left-pad", "https://l.test/x.tgz", "github:u/r", "u/r", "./local", "x@git+ssh://git@m.test/r.git", "@s/p@1.0.0"],
            env: &[],
            files: &[],
            want: &[
                (ScopeRegistry, "http://k.test/", "the command-line flag --@acme:registry"),
                (Direct, "https://l.test/x.tgz", "the command-line argument `https://l.test/x.tgz`"),
                (Git, "github:u/r", "the command-line argument `github:u/r`"),
                (Git, "u/r", "the command-line argument `u/r`"),
                (Path, "./local", "the command-line argument `./local`"),
                (Git, "git+ssh://git@m.test/r.git", "the command-line argument `x@git+ssh://git@m.test/r.git`"),
            ],
        },
        Case {
            tool: "npx",
            args: &["--yes", "https://n.test/tool.tgz", "--", "http://not-a-spec.test/"],
            env: &[],
            files: &[],
            want: &[(Direct, "https://n.test/tool.tgz", "the command-line argument `https://n.test/tool.tgz`")],
        },
        Case {
            tool: "npm",
            args: &["ci"],
            env: &[],
            files: &[
                ("/w/proj/package.json", "{}"),
                ("/w/proj/package-lock.json", "{\n  \"lockfileVersion\": 3,\n  \"packages\": {\n    \"\": {},\n    \"node_modules/a\": {\n      \"resolved\": \"http://o.test/a/-/a-1.0.0.tgz\"\n    }\n  }\n}\n"),
            ],
            want: &[(Locked, "http://o.test/a/-/a-1.0.0.tgz", "/w/proj/package-lock.json:6")],
        },
        // A field of an unexpected type does not hide the other entries
        // (the fast typed reader gives way to the general one).
        Case {
            tool: "npm",
            args: &["ci"],
            env: &[],
            files: &[
                ("/w/proj/package.json", "{}"),
                ("/w/proj/package-lock.json", "{\n  \"lockfileVersion\": 3,\n  \"packages\": {\n    \"\": {},\n    \"node_modules/b\": {\"resolved\": 42, \"link\": \"yes\"},\n    \"node_modules/a\": {\n      \"resolved\": \"http://evil.test/a/-/a-1.0.0.tgz\"\n    }\n  }\n}\n"),
            ],
            want: &[(Locked, "http://evil.test/a/-/a-1.0.0.tgz", "/w/proj/package-lock.json:7")],
        },
        // Upper-case schemes are URLs too.
        Case {
            tool: "npm",
            args: &["ci"],
            env: &[],
            files: &[
                ("/w/proj/package.json", "{}"),
                ("/w/proj/package-lock.json", "{\"packages\": {\"node_modules/a\": {\"resolved\": \"HTTP://evil.test/a.tgz\"},\n\"node_modules/g\": {\"resolved\": \"git+ssh://git@evil.test/g.git#abc\"}}}"),
            ],
            want: &[(Locked, "HTTP://evil.test/a.tgz", "/w/proj/package-lock.json:1"), (Git, "git+ssh://git@evil.test/g.git#abc", "/w/proj/package-lock.json:2")],
        },
    ]);
}

#[test]
fn npm_values_of_other_flags_are_not_specs() {
    let c = Case {
        tool: "npm",
        args: &[
            "install",
            "--proxy",
            "http://proxy.test:3128/",
            "--tag",
            "beta",
            "x",
        ],
        env: &[],
        files: &[],
        want: &[],
    };
    let got = run(&c);
    assert!(got.iter().all(|s| s.kind != Direct), "{got:?}");
}

#[test]
fn pip_sources() {
    check(&[
        Case {
            tool: "pip",
            args: &["install", "six"],
            env: &[],
            files: &[],
            want: &[(Registry, "builtin", "the tool's built-in default")],
        },
        Case {
            tool: "pip",
            args: &["install", "-i", "http://a.test/simple", "--extra-index-url=http://b.test/simple", "-fhttp://c.test/links", "--trusted-host", "a.test", "six"],
            env: &[],
            files: &[],
            want: &[
                (Registry, "http://a.test/simple", "the command-line flag -i"),
                (ExtraIndex, "http://b.test/simple", "the command-line flag --extra-index-url"),
                (FindLinks, "http://c.test/links", "the command-line flag -f"),
                (Insecure, "a.test", "the command-line flag --trusted-host"),
            ],
        },
        Case {
            tool: "pip3",
            args: &["install", "--ext", "http://b.test/simple", "--ind", "http://a.test/simple", "x"],
            env: &[],
            files: &[],
            want: &[
                (ExtraIndex, "http://b.test/simple", "the command-line flag --ext"),
                (Registry, "http://a.test/simple", "the command-line flag --ind"),
            ],
        },
        Case {
            tool: "pip",
            args: &["install", "-r", "req.txt"],
            env: &[("IDX", "http://e.test/simple")],
            files: &[
                ("/w/proj/sub/req.txt", "# comment\n-i ${IDX}\n--extra-index-url http://f.test/simple  # trailing\n-r nested/more.txt\nsix==1.0\npkg @ https://g.test/pkg-1.0.whl\n"),
                ("/w/proj/sub/nested/more.txt", "git+https://h.test/r.git#egg=r\n-c ../cons.txt\n./localpkg\n"),
                ("/w/proj/sub/cons.txt", "--find-links=http://i.test/links\n"),
            ],
            want: &[
                (Registry, "http://e.test/simple", "/w/proj/sub/req.txt:2"),
                (ExtraIndex, "http://f.test/simple", "/w/proj/sub/req.txt:3"),
                (Direct, "https://g.test/pkg-1.0.whl", "/w/proj/sub/req.txt:6"),
                (Git, "git+https://h.test/r.git#egg=r", "/w/proj/sub/nested/more.txt:1"),
                (FindLinks, "http://i.test/links", "/w/proj/sub/cons.txt:1"),
                (Path, "./localpkg", "/w/proj/sub/nested/more.txt:3"),
            ],
        },
        Case {
            tool: "pip",
            args: &["install", "x"],
            env: &[("PIP_EXTRA_INDEX_URL", "http://j.test/simple http://k.test/simple")],
            files: &[("/home/u/.config/pip/pip.conf", "[global]\nindex-url = http://l.test/simple\nextra-index-url =\n    http://m.test/simple\n[install]\ntrusted-host = l.test\n")],
            want: &[
                (Registry, "http://l.test/simple", "/home/u/.config/pip/pip.conf:2"),
                (ExtraIndex, "http://j.test/simple", "the environment variable PIP_EXTRA_INDEX_URL"),
                (ExtraIndex, "http://k.test/simple", "the environment variable PIP_EXTRA_INDEX_URL"),
                (Insecure, "l.test", "/home/u/.config/pip/pip.conf:6"),
            ],
        },
        Case {
            tool: "pip",
            args: &["install", "x"],
            env: &[("PIP_CONFIG_FILE", "/opt/pip.conf"), ("PIP_INDEX_URL", "http://n.test/simple")],
            files: &[("/opt/pip.conf", "[global]\nfind-links = http://o.test/\n")],
            want: &[
                (Registry, "http://n.test/simple", "the environment variable PIP_INDEX_URL"),
                (FindLinks, "http://o.test/", "/opt/pip.conf:2"),
            ],
        },
        Case {
            tool: "pip",
            args: &["install", "pkg @ https://p.test/p.whl", "git+https://q.test/r", "./dist/x-1.0.tar.gz"],
            env: &[],
            files: &[],
            want: &[
                (Direct, "https://p.test/p.whl", "the command-line argument `pkg @ https://p.test/p.whl`"),
                (Git, "git+https://q.test/r", "the command-line argument `git+https://q.test/r`"),
                (Path, "./dist/x-1.0.tar.gz", "the command-line argument `./dist/x-1.0.tar.gz`"),
            ],
        },
        // General options before the command: its requirements and its
        // config section are still read.
        Case {
            tool: "pip",
            args: &["--timeout", "5", "--cache", "/c", "install", "git+https://q.test/r"],
            env: &[],
            files: &[("/home/u/.config/pip/pip.conf", "[install]\nindex-url = http://r.test/simple\n")],
            want: &[
                (Registry, "http://r.test/simple", "/home/u/.config/pip/pip.conf:2"),
                (Git, "git+https://q.test/r", "the command-line argument `git+https://q.test/r`"),
            ],
        },
    ]);
}

#[test]
fn pip_extra_index_in_config_is_dropped_when_env_sets_it() {
    let c = Case {
        tool: "pip",
        args: &["install", "x"],
        env: &[("PIP_EXTRA_INDEX_URL", "http://j.test/simple")],
        files: &[(
            "/home/u/.config/pip/pip.conf",
            "[global]\nextra-index-url = http://m.test/simple\n",
        )],
        want: &[],
    };
    let got = run(&c);
    assert!(
        !got.iter().any(|s| s.value == "http://m.test/simple"),
        "{got:?}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Any argv, for every tool, classifies and plans without a panic:
    /// short options glued to multibyte characters, stray `=`, lone dashes.
    #[test]
    fn every_adapter_takes_any_argv(
        args in proptest::collection::vec("(-{0,2}[a-zA-Z]{0,3}[=\u{e9}\u{1F600} ./:@]{0,3}[a-z0-9]{0,4})", 0..6),
        mirror in "(https?://[a-z.]{1,8}/[a-z/]{0,6}|x|)",
    ) {
        let env = FakeEnv(Default::default());
        let files = FakeFiles(BTreeMap::new());
        let tools = crate::tools::TOOL_TABLE.iter().filter_map(|(n, _, _)| Tool::by_name(n));
        for tool in tools {
            let req = Request {
                tool,
                args: &args,
                env: &env,
                files: &files,
                cwd: Path::new("/w/proj"),
                home: Some(Path::new("/home/u")),
                real_tool: None,
            };
            let c = classify(&req);
            let _ = force_mirror(tool, &args, &mirror, &c.sources, &mut |_| false);
        }
    }
}
