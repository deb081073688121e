use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::parse::{parse_bytes, parse_layer};
use super::*;
use crate::tools::Ecosystem;

const P: &str = "/policies/policy.toml";

fn errors_of(text: &str, layer: Layer) -> Vec<PolicyError> {
    match parse_layer(text, Path::new(P), layer) {
        Ok(_) => Vec::new(),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------- parsing

struct Bad {
    name: &'static str,
    layer: Layer,
    text: &'static str,
    line: usize,
    col: usize,
    key: Option<&'static str>,
    message: &'static str,
}

#[test]
fn policy_malformed_files_name_file_line_col_and_key() {
    use Layer::*;
    let cases = [
        Bad {
            name: "unknown top-level key",
            layer: User,
            text: "mode = \"audit\"\nmdoe = \"off\"\n",
            line: 2,
            col: 1,
            key: Some("mdoe"),
            message: "unknown key `mdoe` at the top level (did you mean `mode`?)",
        },
        Bad {
            name: "unknown ecosystem key in [registries]",
            layer: User,
            text: "[registries]\nnpm = [\"builtin\"]\nnpmm = [\"builtin\"]\n",
            line: 3,
            col: 1,
            key: Some("registries.npmm"),
            message: "unknown key `npmm` in [registries] (did you mean `npm`?)",
        },
        Bad {
            name: "unknown key via a dotted key",
            layer: User,
            text: "mode = \"audit\"\nregistries.npmm = []\n",
            line: 2,
            col: 12,
            key: Some("registries.npmm"),
            message: "unknown key `npmm` in [registries]",
        },
        Bad {
            name: "unknown key in [scripts]",
            layer: Project,
            text: "[scripts]\ndefault = \"deny\"\nalow = []\n",
            line: 3,
            col: 1,
            key: Some("scripts.alow"),
            message: "unknown key `alow` in [scripts] (did you mean `allow`?)",
        },
        Bad {
            name: "unknown key in an inline table",
            layer: User,
            text: "scripts = { default = \"deny\", sandbox = true }\n",
            line: 1,
            col: 31,
            key: Some("scripts.sandbox"),
            message: "unknown key `sandbox` in [scripts]",
        },
        Bad {
            name: "unknown key in [audit]",
            layer: User,
            text: "[audit]\npath = \"/var/log/pkgward.jsonl\"\n",
            line: 2,
            col: 1,
            key: Some("audit.path"),
            message: "unknown key `path` in [audit]",
        },
        Bad {
            name: "wrong type: integer mode",
            layer: User,
            text: "mode = 3\n",
            line: 1,
            col: 8,
            key: Some("mode"),
            message: "expected a string (\"enforce\", \"audit\" or \"off\"), found integer",
        },
        Bad {
            name: "wrong type: string instead of array",
            layer: User,
            text: "[registries]\nnpm = \"x\"\n",
            line: 2,
            col: 7,
            key: Some("registries.npm"),
            message: "expected an array of strings, found string",
        },
        Bad {
            name: "wrong type: integer in an array",
            layer: User,
            text: "[registries]\npypi = [\"builtin\", 3]\n",
            line: 2,
            col: 20,
            key: Some("registries.pypi"),
            message: "expected a string (in an array of strings), found integer",
        },
        Bad {
            name: "wrong type: registries is not a table",
            layer: User,
            text: "registries = [\"builtin\"]\n",
            line: 1,
            col: 14,
            key: Some("registries"),
            message: "expected a table, found array",
        },
        Bad {
            name: "wrong type: array of tables",
            layer: User,
            text: "[[scripts]]\ndefault = \"deny\"\n",
            line: 1,
            col: 1,
            key: Some("scripts"),
            message: "expected a table, found array",
        },
        Bad {
            name: "wrong type: audit.log",
            layer: User,
            text: "[audit]\nlog = false\n",
            line: 2,
            col: 7,
            key: Some("audit.log"),
            message: "expected a string (a file path), found boolean",
        },
        Bad {
            name: "bad enum value for mode",
            layer: User,
            text: "# rollout\nmode = \"loose\"\n",
            line: 2,
            col: 8,
            key: Some("mode"),
            message: "invalid value \"loose\": expected \"enforce\", \"audit\" or \"off\"",
        },
        Bad {
            name: "bad enum value for scripts.default",
            layer: User,
            text: "[scripts]\ndefault = \"sandboxed\"\n",
            line: 2,
            col: 11,
            key: Some("scripts.default"),
            message: "(did you mean \"sandbox\"?)",
        },
        Bad {
            name: "invalid TOML syntax",
            layer: User,
            text: "mode = \"audit\"\n[registries\nnpm = []\n",
            line: 2,
            col: 12,
            key: None,
            message: "invalid TOML",
        },
        Bad {
            name: "duplicate key",
            layer: User,
            text: "mode = \"audit\"\nmode = \"off\"\n",
            line: 2,
            col: 1,
            key: None,
            message: "invalid TOML",
        },
        Bad {
            name: "bad allow entry: unknown ecosystem",
            layer: User,
            text: "[scripts]\nallow = [\"npm:esbuild\", \"nmp:left-pad\"]\n",
            line: 2,
            col: 25,
            key: Some("scripts.allow"),
            message: "unknown ecosystem `nmp`",
        },
        Bad {
            name: "bad allow entry: no ecosystem",
            layer: User,
            text: "[scripts]\nallow = [\"esbuild\"]\n",
            line: 2,
            col: 10,
            key: Some("scripts.allow"),
            message: "expected ECOSYSTEM:NAME",
        },
        Bad {
            name: "bad allow entry: empty range; columns count characters",
            layer: User,
            text: "[scripts]\nallow = [\"npm:ü\", \"npm:left-pad@\"]\n",
            line: 2,
            col: 19,
            key: Some("scripts.allow"),
            message: "the version range after `@` is empty",
        },
        Bad {
            name: "bad network.allow entry: a URL",
            layer: User,
            text: "[network]\nallow = [\"files.example.com\", \"https://x.example.com/\"]\n",
            line: 2,
            col: 31,
            key: Some("network.allow"),
            message: "without a scheme or path",
        },
        Bad {
            name: "bad network.allow entry: a wildcard too broad",
            layer: User,
            text: "[network]\nallow = [\"*.com\"]\n",
            line: 2,
            col: 10,
            key: Some("network.allow"),
            message: "too broad",
        },
        Bad {
            name: "unknown key in [network]",
            layer: User,
            text: "[network]\nalow = []\n",
            line: 2,
            col: 1,
            key: Some("network.alow"),
            message: "unknown key `alow` in [network] (did you mean `allow`?)",
        },
        Bad {
            name: "lock outside the system layer",
            layer: Project,
            text: "mode = \"enforce\"\nlock = [\"mode\"]\n",
            line: 2,
            col: 1,
            key: Some("lock"),
            message: "`lock` is only allowed in the system policy, not in the project layer",
        },
        Bad {
            name: "lock in the env layer",
            layer: Env,
            text: "lock = []\n",
            line: 1,
            col: 1,
            key: Some("lock"),
            message: "only allowed in the system policy",
        },
        Bad {
            name: "unknown lockable key",
            layer: System,
            text: "lock = [\"mode\", \"scripts\"]\n",
            line: 1,
            col: 17,
            key: Some("lock"),
            message: "\"scripts\" cannot be locked",
        },
        Bad {
            name: "registry URL with credentials",
            layer: User,
            text: "[registries]\nnpm = [\"https://ci:s3cret@npm.example.com/\"]\n",
            line: 2,
            col: 8,
            key: Some("registries.npm"),
            message: "must not contain credentials",
        },
        Bad {
            name: "registry URL with another scheme",
            layer: User,
            text: "[registries]\ngo = [\"ftp://mirror.example.com/go/\"]\n",
            line: 2,
            col: 7,
            key: Some("registries.go"),
            message: "unsupported scheme `ftp`",
        },
        Bad {
            name: "registry entry that is not a URL",
            layer: User,
            text: "[registries]\ncargo = [\"npm.example.com\"]\n",
            line: 2,
            col: 10,
            key: Some("registries.cargo"),
            message: "is not an absolute URL",
        },
        Bad {
            name: "registry URL with a query",
            layer: User,
            text: "[registries]\nnuget = [\"https://nuget.example.com/v3/index.json?x=1\"]\n",
            line: 2,
            col: 10,
            key: Some("registries.nuget"),
            message: "cannot have a query",
        },
        Bad {
            name: "empty audit.log",
            layer: User,
            text: "[audit]\nlog = \"\"\n",
            line: 2,
            col: 7,
            key: Some("audit.log"),
            message: "must not be empty",
        },
    ];
    for c in cases {
        let errors = errors_of(c.text, c.layer);
        assert!(!errors.is_empty(), "{}: expected an error", c.name);
        let e = &errors[0];
        assert_eq!(e.path, PathBuf::from(P), "{}", c.name);
        assert_eq!((e.line, e.col), (c.line, c.col), "{}: {e}", c.name);
        assert_eq!(e.key.as_deref(), c.key, "{}: {e}", c.name);
        assert!(
            e.message.contains(c.message),
            "{}: message {:?} lacks {:?}",
            c.name,
            e.message,
            c.message
        );
    }
}

#[test]
fn policy_all_errors_of_a_file_are_reported_in_order() {
    let text = "mode = \"loose\"\nfoo = 1\n[registries]\nnpmm = []\npypi = \"x\"\n[scripts]\nallow = [\"bad\"]\n";
    let errors = errors_of(text, Layer::User);
    let got: Vec<(usize, Option<&str>)> =
        errors.iter().map(|e| (e.line, e.key.as_deref())).collect();
    assert_eq!(
        got,
        vec![
            (1, Some("mode")),
            (2, Some("foo")),
            (4, Some("registries.npmm")),
            (5, Some("registries.pypi")),
            (7, Some("scripts.allow")),
        ]
    );
}

#[test]
fn policy_error_display() {
    let errors = errors_of("mode = \"audit\"\nfoo = 1\n", Layer::User);
    assert_eq!(
        errors[0].to_string(),
        format!(
            "{P}:2:1: `foo`: unknown key `foo` at the top level; expected one of: mode, lock, registries, mirrors, scripts, audit, threats, fleet, network, sandbox, supervise"
        )
    );
    let e = PolicyError {
        path: PathBuf::from(P),
        line: 0,
        col: 0,
        key: None,
        message: "cannot read".into(),
    };
    assert_eq!(e.to_string(), format!("{P}: cannot read"));
}

#[test]
fn policy_non_utf8_file_is_an_error_at_the_bad_byte() {
    let errors = parse_bytes(b"mode = \"audit\"\n# \xff\n", Path::new(P), Layer::User).unwrap_err();
    assert_eq!((errors[0].line, errors[0].col), (2, 3));
    assert!(errors[0].message.contains("UTF-8"));
}

#[test]
fn policy_valid_file_parses_every_key() {
    let text = r#"
mode = "audit"
lock = ["mode", "registries", "scripts.default", "scripts.allow", "audit"]
[registries]
npm = ["http://127.0.0.1:4873/", "builtin"]
pypi = ["https://pypi.example.com/simple/"]
winget = []
[scripts]
default = "sandbox"
allow = ["npm:esbuild", "pypi:numpy", "npm:@scope/pkg@^1.2", "maven:org.example:lib@[1.0,2.0)", "npm:x@>=1.2 <2"]
[audit]
log = "logs/audit.jsonl"
"#;
    let raw = parse_layer(text, Path::new(P), Layer::System).unwrap();
    let mode = raw.mode.unwrap();
    assert_eq!(mode.value, Mode::Audit);
    assert_eq!((mode.origin.line, mode.origin.col), (2, 1));
    assert_eq!(raw.lock.len(), 5);
    assert_eq!(raw.registries.len(), 3);
    assert_eq!(raw.scripts_default.unwrap().value, ScriptsDefault::Sandbox);
    assert_eq!(raw.scripts_allow.len(), 5);
    assert_eq!(raw.scripts_allow[2].origin.line, 10);
    // Relative to the file's directory.
    assert_eq!(
        raw.audit_log.unwrap().value,
        Path::new("/policies").join("logs/audit.jsonl")
    );
}

#[test]
fn policy_allow_entries() {
    let ok: [(&str, Ecosystem, &str, Option<&str>); 6] = [
        ("npm:esbuild", Ecosystem::Npm, "esbuild", None),
        ("pypi:numpy", Ecosystem::Pypi, "numpy", None),
        (
            "npm:@scope/pkg@^1.2",
            Ecosystem::Npm,
            "@scope/pkg",
            Some("^1.2"),
        ),
        ("npm:@scope/pkg", Ecosystem::Npm, "@scope/pkg", None),
        ("cargo:ring@0.17", Ecosystem::Cargo, "ring", Some("0.17")),
        (
            "maven:org.example:lib",
            Ecosystem::Maven,
            "org.example:lib",
            None,
        ),
    ];
    for (s, eco, name, range) in ok {
        let e = AllowEntry::parse(s).unwrap_or_else(|m| panic!("{s}: {m}"));
        assert_eq!((e.ecosystem, e.name, e.range), (eco, name, range), "{s}");
    }
    for bad in [
        "", "npm", "npm:", "npm:@", "npm:@@1", "npm:a b", "npm:x@", "npm:x@ 1", "NPM:x", "nmp:x",
        ":x",
    ] {
        assert!(
            AllowEntry::parse(bad).is_err(),
            "{bad:?} should be rejected"
        );
    }
}

#[test]
fn policy_registry_entries() {
    for ok in [
        "builtin",
        "https://npm.example.com/",
        "http://127.0.0.1:4873/",
        "https://npm.example.com/team",
        "http://[::1]:8080/simple/",
        "file://corp-share/nuget/",
    ] {
        assert!(validate_registry_entry(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "Builtin",
        " builtin",
        "npm.example.com",
        "/srv/mirror",
        "file:///srv/mirror",
        "https://user@npm.example.com/",
        "https://u:p@npm.example.com/",
        "https://npm.example.com/#x",
        "https://npm.example.com/?a=b",
        "mailto:x@example.com",
    ] {
        assert!(validate_registry_entry(bad).is_err(), "{bad:?}");
    }
    let msg = validate_registry_entry("https://ci:s3cret@npm.example.com/").unwrap_err();
    assert!(!msg.contains("s3cret"), "{msg}");
}

#[test]
fn policy_registry_coverage() {
    let cases = [
        ("builtin", "builtin", true),
        ("builtin", "https://npm.example.com/", false),
        ("https://npm.example.com/", "builtin", false),
        ("https://npm.example.com/", "https://npm.example.com/", true),
        (
            "https://npm.example.com/",
            "https://npm.example.com/team/x",
            true,
        ),
        (
            "https://npm.example.com",
            "https://npm.example.com/team/",
            true,
        ),
        (
            "https://npm.example.com/team",
            "https://npm.example.com/team",
            true,
        ),
        (
            "https://npm.example.com/team",
            "https://npm.example.com/team/",
            true,
        ),
        (
            "https://npm.example.com/team",
            "https://npm.example.com/team/a",
            true,
        ),
        (
            "https://npm.example.com/team",
            "https://npm.example.com/teamx",
            false,
        ),
        // The directory itself, spelled without its trailing slash, is the
        // same registry (tools append `/` before adding package paths).
        (
            "https://npm.example.com/team/",
            "https://npm.example.com/team",
            true,
        ),
        (
            "https://npm.example.com/team/",
            "https://npm.example.com/teamx/",
            false,
        ),
        (
            "https://npm.example.com/team/",
            "https://npm.example.com/team/../x",
            false,
        ),
        ("https://npm.example.com/", "http://npm.example.com/", false),
        (
            "https://npm.example.com/",
            "https://npm.example.com:8443/",
            false,
        ),
        (
            "https://npm.example.com/",
            "https://npm.example.com:443/a",
            true,
        ),
        (
            "https://NPM.example.com/",
            "https://npm.example.com/a",
            true,
        ),
        (
            "https://npm.example.com/",
            "https://npm.example.com.evil.example/",
            false,
        ),
        ("http://127.0.0.1:4873/", "http://127.0.0.1:4873/pkg", true),
        ("http://127.0.0.1:4873/", "http://127.0.0.1:4874/pkg", false),
        ("https://npm.example.com/", "not a url", false),
    ];
    for (a, c, want) in cases {
        assert_eq!(registry_covers(a, c), want, "{a} covers {c}?");
    }
}

// ---------------------------------------------------------------- loading

struct Files {
    dir: tempfile::TempDir,
    layers: Vec<(Layer, PathBuf)>,
}

impl Files {
    fn new(files: &[(Layer, &str)]) -> Files {
        let dir = tempfile::tempdir().unwrap();
        let mut layers = Vec::new();
        for (i, (layer, text)) in files.iter().enumerate() {
            let p = dir.path().join(format!("{i}-{layer}.toml"));
            std::fs::write(&p, text).unwrap();
            layers.push((*layer, p));
        }
        Files { dir, layers }
    }

    fn load(&self) -> Loaded {
        load(&Discovery {
            layers: self.layers.clone(),
        })
    }

    fn path(&self, i: usize) -> &Path {
        &self.layers[i].1
    }
}

fn origin_of<T>(s: &Sourced<T>) -> Option<(PathBuf, usize)> {
    s.origin.as_ref().map(|o| (o.path.clone(), o.line))
}

fn loaded_ok(files: &Files) -> Policy {
    let l = files.load();
    assert!(l.errors.is_empty(), "{:?}", l.errors);
    l.policy
}

#[test]
fn policy_defaults_without_layers() {
    let l = load(&Discovery { layers: Vec::new() });
    assert!(l.errors.is_empty());
    let p = l.policy;
    assert_eq!(p.mode.value, Mode::Enforce);
    assert!(p.mode.origin.is_none());
    assert_eq!(p.scripts_default.value, ScriptsDefault::Deny);
    assert!(p.audit_log.is_none());
    assert_eq!(
        p.registries_for(Ecosystem::Npm),
        vec!["builtin".to_string()]
    );
    assert!(p.registry_approved(Ecosystem::Npm, "builtin"));
    assert!(!p.registry_approved(Ecosystem::Npm, "https://npm.example.com/"));
    assert_eq!(p.digest, EMPTY_DIGEST);
    assert_eq!(Policy::default().digest, EMPTY_DIGEST);
}

#[test]
fn policy_layering_without_locks() {
    let f = Files::new(&[
        (
            Layer::System,
            "mode = \"audit\"\n[registries]\nnpm = [\"https://npm.example.com/\"]\npypi = [\"https://pypi.example.com/simple/\"]\n[scripts]\nallow = [\"npm:esbuild\"]\n[audit]\nlog = \"/var/log/pkgward/audit.jsonl\"\n",
        ),
        (
            Layer::User,
            "mode = \"off\"\n[registries]\nnpm = [\"http://127.0.0.1:4873/\"]\n[scripts]\ndefault = \"allow\"\nallow = [\"pypi:numpy\"]\n[audit]\nlog = \"/home/u/audit.jsonl\"\n",
        ),
        (
            Layer::Project,
            "mode = \"enforce\"\n[scripts]\ndefault = \"sandbox\"\nallow = [\"npm:@scope/pkg@^1.2\"]\n",
        ),
        (Layer::Env, "[registries]\ncargo = []\n"),
    ]);
    let p = loaded_ok(&f);
    assert_eq!(p.mode.value, Mode::Enforce);
    assert_eq!(origin_of(&p.mode), Some((f.path(2).to_path_buf(), 1)));
    assert_eq!(
        p.registries_for(Ecosystem::Npm),
        vec!["http://127.0.0.1:4873/"]
    );
    assert_eq!(
        origin_of(&p.registries[&Ecosystem::Npm]),
        Some((f.path(1).to_path_buf(), 3))
    );
    assert_eq!(
        p.registries_for(Ecosystem::Pypi),
        vec!["https://pypi.example.com/simple/"]
    );
    assert_eq!(
        origin_of(&p.registries[&Ecosystem::Pypi]),
        Some((f.path(0).to_path_buf(), 4))
    );
    assert!(p.registries_for(Ecosystem::Cargo).is_empty());
    assert_eq!(p.registries_for(Ecosystem::Go), vec!["builtin"]);
    assert_eq!(p.scripts_default.value, ScriptsDefault::Sandbox);
    let allow: Vec<&str> = p.scripts_allow.iter().map(|s| s.value.as_str()).collect();
    assert_eq!(allow, ["npm:esbuild", "pypi:numpy", "npm:@scope/pkg@^1.2"]);
    assert_eq!(
        p.audit_log.as_ref().unwrap().value,
        PathBuf::from("/home/u/audit.jsonl")
    );
    assert!(p.refused.is_empty());
    assert!(p.locked.is_empty());
    let layers: Vec<Layer> = p.sources.iter().map(|s| s.layer).collect();
    assert_eq!(layers, Layer::ALL);
    assert_eq!(p.allow_entries().count(), 3);
}

/// One locked-key scenario: a system policy, a project policy, what is expected.
struct LockCase {
    name: &'static str,
    system: &'static str,
    project: &'static str,
    check: fn(&Policy),
    /// (key, line in the project file) of every refusal, in order.
    refused: &'static [(&'static str, usize)],
}

#[test]
fn policy_locked_keys_can_only_be_tightened() {
    let cases = [
        LockCase {
            name: "mode cannot be lowered",
            system: "lock = [\"mode\"]\nmode = \"audit\"\n",
            project: "mode = \"off\"\n",
            check: |p| {
                assert_eq!(p.mode.value, Mode::Audit);
                assert_eq!(p.mode.origin.as_ref().unwrap().line, 2);
            },
            refused: &[("mode", 1)],
        },
        LockCase {
            name: "mode can be raised",
            system: "lock = [\"mode\"]\nmode = \"audit\"\n",
            project: "mode = \"enforce\"\n",
            check: |p| assert_eq!(p.mode.value, Mode::Enforce),
            refused: &[],
        },
        LockCase {
            name: "a locked mode left at its default is enforce",
            system: "lock = [\"mode\"]\n",
            project: "mode = \"audit\"\n",
            check: |p| {
                assert_eq!(p.mode.value, Mode::Enforce);
                assert!(p.mode.origin.is_none());
            },
            refused: &[("mode", 1)],
        },
        LockCase {
            name: "registries: narrowed to a sub-path, an added host dropped",
            system: "lock = [\"registries\"]\n[registries]\nnpm = [\"https://npm.example.com/\"]\n",
            project: "[registries]\nnpm = [\n  \"https://npm.example.com/team/\",\n  \"https://other.example.com/\",\n]\n",
            check: |p| {
                assert_eq!(
                    p.registries_for(Ecosystem::Npm),
                    vec!["https://npm.example.com/team/"]
                );
                assert_eq!(p.registries_origin(Ecosystem::Npm).unwrap().line, 2);
            },
            refused: &[("registries.npm", 4)],
        },
        LockCase {
            name: "registries: an ecosystem the system does not list stays builtin",
            system: "lock = [\"registries\"]\n",
            project: "[registries]\npypi = [\"https://pypi.example.com/simple/\"]\ncargo = [\"builtin\"]\n",
            check: |p| {
                assert_eq!(p.registries_for(Ecosystem::Pypi), vec!["builtin"]);
                assert!(p.registries_origin(Ecosystem::Pypi).is_none());
                assert_eq!(p.registries_for(Ecosystem::Cargo), vec!["builtin"]);
                assert_eq!(p.registries_origin(Ecosystem::Cargo).unwrap().line, 3);
            },
            refused: &[("registries.pypi", 2)],
        },
        LockCase {
            name: "registries: prefixes end on a path-segment boundary",
            system: "lock = [\"registries\"]\n[registries]\nnpm = [\"https://npm.example.com/team\"]\n",
            project: "[registries]\nnpm = [\"https://npm.example.com/teamx/\"]\n",
            check: |p| {
                assert_eq!(
                    p.registries_for(Ecosystem::Npm),
                    vec!["https://npm.example.com/team"]
                );
            },
            refused: &[("registries.npm", 2)],
        },
        LockCase {
            name: "registries: an empty list narrows to nothing",
            system: "lock = [\"registries\"]\n[registries]\nnpm = [\"https://npm.example.com/\"]\n",
            project: "[registries]\nnpm = []\n",
            check: |p| assert!(p.registries_for(Ecosystem::Npm).is_empty()),
            refused: &[],
        },
        LockCase {
            name: "scripts.default cannot be loosened",
            system: "lock = [\"scripts.default\"]\n[scripts]\ndefault = \"sandbox\"\n",
            project: "[scripts]\ndefault = \"allow\"\n",
            check: |p| assert_eq!(p.scripts_default.value, ScriptsDefault::Sandbox),
            refused: &[("scripts.default", 2)],
        },
        LockCase {
            name: "scripts.default can be made stricter",
            system: "lock = [\"scripts.default\"]\n[scripts]\ndefault = \"sandbox\"\n",
            project: "[scripts]\ndefault = \"deny\"\n",
            check: |p| assert_eq!(p.scripts_default.value, ScriptsDefault::Deny),
            refused: &[],
        },
        LockCase {
            name: "scripts.allow: no approvals from lower layers",
            system: "lock = [\"scripts.allow\"]\n[scripts]\nallow = [\"npm:esbuild\"]\n",
            project: "[scripts]\ndefault = \"allow\"\nallow = [\"npm:left-pad\", \"pypi:numpy\"]\n",
            check: |p| {
                let allow: Vec<&str> = p.scripts_allow.iter().map(|s| s.value.as_str()).collect();
                assert_eq!(allow, ["npm:esbuild"]);
                // scripts.default is not locked here.
                assert_eq!(p.scripts_default.value, ScriptsDefault::Allow);
            },
            refused: &[("scripts.allow", 3), ("scripts.allow", 3)],
        },
        LockCase {
            name: "scripts.exec cannot be loosened",
            system: "lock = [\"scripts.exec\"]\n[scripts]\nexec = \"deny\"\n",
            project: "[scripts]\nexec = \"allow\"\n",
            check: |p| assert_eq!(p.scripts_exec.value, crate::policy::ScriptsExec::Deny),
            refused: &[("scripts.exec", 2)],
        },
        LockCase {
            name: "network: no destinations from lower layers",
            system: "lock = [\"network\"]\n[network]\nallow = [\"files.example.com\"]\n",
            project: "[network]\nallow = [\"evil.test:443\"]\n",
            check: |p| {
                let allow: Vec<&str> = p.network_allow.iter().map(|s| s.value.as_str()).collect();
                assert_eq!(allow, ["files.example.com"]);
            },
            refused: &[("network.allow", 2)],
        },
        LockCase {
            name: "network.allow lists add up without a lock",
            system: "[network]\nallow = [\"files.example.com\"]\n",
            project: "[network]\nallow = [\"*.cdn.example.com:8443\"]\n",
            check: |p| {
                let allow: Vec<&str> = p.network_allow.iter().map(|s| s.value.as_str()).collect();
                assert_eq!(allow, ["files.example.com", "*.cdn.example.com:8443"]);
            },
            refused: &[],
        },
        LockCase {
            name: "a locked key the project does not touch is not refused",
            system: "lock = [\"mode\", \"registries\", \"scripts.default\", \"scripts.allow\", \"audit\"]\n",
            project: "\n",
            check: |p| assert_eq!(p.locked.len(), 5),
            refused: &[],
        },
    ];
    for c in cases {
        let f = Files::new(&[(Layer::System, c.system), (Layer::Project, c.project)]);
        let p = loaded_ok(&f);
        (c.check)(&p);
        let got: Vec<(&str, usize)> = p
            .refused
            .iter()
            .map(|r| (r.key.as_str(), r.origin.line))
            .collect();
        assert_eq!(got, c.refused, "{}: {:#?}", c.name, p.refused);
        for r in &p.refused {
            assert_eq!(r.origin.path, f.path(1), "{}", c.name);
            assert!(
                r.reason.contains("locked by the system policy ("),
                "{}: {}",
                c.name,
                r.reason
            );
        }
    }
}

#[test]
fn policy_locked_audit_log_cannot_change() {
    let f = Files::new(&[
        (
            Layer::System,
            "lock = [\"audit\"]\n[audit]\nlog = \"/var/log/pkgward/audit.jsonl\"\n",
        ),
        (Layer::User, "[audit]\nlog = \"/tmp/mine.jsonl\"\n"),
        (
            Layer::Env,
            "[audit]\nlog = \"/var/log/pkgward/audit.jsonl\"\n",
        ),
    ]);
    let p = loaded_ok(&f);
    let log = p.audit_log.as_ref().unwrap();
    assert_eq!(log.value, PathBuf::from("/var/log/pkgward/audit.jsonl"));
    assert_eq!(p.refused.len(), 1, "{:?}", p.refused);
    assert_eq!(p.refused[0].key, "audit.log");
    assert_eq!(p.refused[0].origin.path, f.path(1));
    assert_eq!((p.refused[0].origin.line, p.refused[0].origin.col), (2, 1));
    assert!(p.is_locked("audit"));
    assert!(!p.is_locked("mode"));
    assert_eq!(p.locked[0].origin.as_ref().unwrap().line, 1);
}

#[test]
fn policy_project_can_never_set_audit_log() {
    let f = Files::new(&[
        (Layer::User, "[audit]\nlog = \"/home/u/audit.jsonl\"\n"),
        (
            Layer::Project,
            "mode = \"audit\"\n[audit]\nlog = \"/dev/null\"\n",
        ),
    ]);
    let p = loaded_ok(&f);
    assert_eq!(
        p.audit_log.as_ref().unwrap().value,
        PathBuf::from("/home/u/audit.jsonl")
    );
    // The rest of the project layer applies.
    assert_eq!(p.mode.value, Mode::Audit);
    assert_eq!(p.refused.len(), 1);
    assert_eq!(p.refused[0].key, "audit.log");
    assert_eq!(p.refused[0].origin.line, 3);
    assert!(p.refused[0].reason.contains("project"));

    // Also when nothing else sets it, and it is no error for `policy check`.
    let f = Files::new(&[(Layer::Project, "[audit]\nlog = \"/dev/null\"\n")]);
    let p = loaded_ok(&f);
    assert!(p.audit_log.is_none());
    assert_eq!(p.refused.len(), 1);
    assert!(check_file(f.path(0), Layer::Project).is_ok());
}

#[test]
fn policy_lock_outside_system_is_an_error_and_the_layer_is_skipped() {
    let f = Files::new(&[
        (Layer::User, "mode = \"audit\"\n"),
        (Layer::Project, "mode = \"off\"\nlock = [\"mode\"]\n"),
    ]);
    let l = f.load();
    assert_eq!(l.errors.len(), 1);
    assert_eq!(l.errors[0].key.as_deref(), Some("lock"));
    assert_eq!(l.errors[0].path, f.path(1));
    assert_eq!(l.policy.mode.value, Mode::Audit);
    // Its bytes were still read: it counts in sources and the digest.
    assert_eq!(l.policy.sources.len(), 2);
}

#[test]
fn policy_invalid_system_layer_fails_closed() {
    let f = Files::new(&[
        (Layer::System, "lock = [\"mode\"]\nmode = \"audit\"\nbogus = 1\n"),
        (
            Layer::User,
            "mode = \"off\"\n[scripts]\ndefault = \"allow\"\nallow = [\"npm:x\"]\n[registries]\nnpm = [\"https://npm.example.com/\"]\n",
        ),
    ]);
    let l = f.load();
    assert_eq!(l.errors.len(), 1);
    assert_eq!(l.errors[0].key.as_deref(), Some("bogus"));
    let p = l.policy;
    assert_eq!(p.mode.value, Mode::Enforce);
    assert_eq!(p.scripts_default.value, ScriptsDefault::Deny);
    assert!(p.scripts_allow.is_empty());
    assert_eq!(p.registries_for(Ecosystem::Npm), vec!["builtin"]);
    assert_eq!(p.locked.len(), LOCKABLE.len());
    assert!(p.locked.iter().all(|l| l.origin.is_none()));
    let keys: Vec<&str> = p.refused.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        keys,
        ["mode", "registries.npm", "scripts.default", "scripts.allow"]
    );
    assert!(p.refused[0].reason.contains("invalid or unreadable"));
}

#[test]
fn policy_unreadable_and_missing_layers() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    // Missing system/user/project files are normal.
    let l = load(&Discovery {
        layers: vec![
            (Layer::System, missing.clone()),
            (Layer::User, missing.clone()),
            (Layer::Project, missing.clone()),
        ],
    });
    assert!(l.errors.is_empty());
    assert!(l.policy.sources.is_empty());
    assert!(l.policy.locked.is_empty());
    // A missing PKGWARD_POLICY file is an error.
    let l = load(&Discovery {
        layers: vec![(Layer::Env, missing.clone())],
    });
    assert_eq!(l.errors.len(), 1);
    assert_eq!(l.errors[0].line, 0);
    assert!(
        l.errors[0].message.contains("PKGWARD_POLICY"),
        "{}",
        l.errors[0]
    );
    // A directory cannot be read: an error without a position.
    let l = load(&Discovery {
        layers: vec![(Layer::User, dir.path().to_path_buf())],
    });
    assert_eq!(l.errors.len(), 1);
    assert_eq!(l.errors[0].line, 0);
    assert!(!l.errors[0].to_string().contains(":0:"));
    assert!(check_file(&missing, Layer::User).is_err());
}

#[test]
fn policy_digest_and_sources() {
    let f = Files::new(&[
        (Layer::System, "mode = \"audit\"\n"),
        (Layer::User, "[scripts]\ndefault = \"deny\"\n"),
    ]);
    let a = loaded_ok(&f);
    let b = loaded_ok(&f);
    assert_eq!(a.digest, b.digest);
    assert!(a.digest.starts_with("sha256:"));
    assert_eq!(a.digest.len(), "sha256:".len() + 64);
    assert_ne!(a.digest, EMPTY_DIGEST);
    use sha2::Digest as _;
    let bytes = std::fs::read(f.path(0)).unwrap();
    assert_eq!(
        a.sources[0].sha256,
        load::hex(&sha2::Sha256::digest(&bytes))
    );
    assert_eq!(a.sources[0].path, f.path(0));

    // Changing one layer (even in a comment) changes the digest.
    std::fs::write(f.path(1), "[scripts]\ndefault = \"deny\" # x\n").unwrap();
    let c = loaded_ok(&f);
    assert_ne!(a.digest, c.digest);
    assert_eq!(a.sources[0].sha256, c.sources[0].sha256);
    assert_ne!(a.sources[1].sha256, c.sources[1].sha256);

    // The same bytes as another layer or at another path differ too.
    let moved = Files::new(&[
        (Layer::User, "mode = \"audit\"\n"),
        (Layer::Project, "[scripts]\ndefault = \"deny\"\n"),
    ]);
    assert_ne!(loaded_ok(&moved).digest, a.digest);
    drop(f.dir);
}

// ---------------------------------------------------------------- discovery

fn ctx(root: &Path) -> DiscoveryContext {
    DiscoveryContext {
        system: root.join("etc/pkgward/policy.toml"),
        system_override: None,
        user_config_dir: Some(root.join("config")),
        cwd: root.join("work/repo/src/deep"),
        env_policy: None,
    }
}

fn touch(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn policy_discovery_finds_nothing_in_an_empty_tree() {
    let dir = tempfile::tempdir().unwrap();
    let c = ctx(dir.path());
    std::fs::create_dir_all(&c.cwd).unwrap();
    // Walks to the filesystem root; a pkgward.toml above the tempdir would
    // be found, so only look at the layers below it.
    let d = discover(&c);
    assert!(d.layers.iter().all(|(_, p)| !p.starts_with(dir.path())));
}

#[test]
fn policy_system_override_only_when_the_real_file_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let override_path = root.join("override.toml");
    touch(&override_path, "mode = \"off\"\n");
    let mut c = ctx(root);
    c.system_override = Some(override_path.clone());

    let d = discover(&c);
    assert_eq!(d.layers[0], (Layer::System, override_path.clone()));

    touch(&c.system, "mode = \"enforce\"\nlock = [\"mode\"]\n");
    let d = discover(&c);
    assert_eq!(d.layers[0], (Layer::System, c.system.clone()));
    assert!(d.layers.iter().all(|(_, p)| *p != override_path));
    let l = load(&d);
    assert_eq!(l.policy.mode.value, Mode::Enforce);

    // An empty override is unset.
    std::fs::remove_file(&c.system).unwrap();
    c.system_override = Some(PathBuf::new());
    assert!(discover(&c).layers.iter().all(|(l, _)| *l != Layer::System));
}

#[test]
fn policy_discovery_user_project_env() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut c = ctx(root);
    std::fs::create_dir_all(&c.cwd).unwrap();
    let user = root.join("config/pkgward/policy.toml");
    touch(&user, "");
    touch(&root.join("work/pkgward.toml"), "");
    let nearest = root.join("work/repo/pkgward.toml");
    touch(&nearest, "");
    let env = root.join("env.toml");
    c.env_policy = Some(env.clone());

    let d = discover(&c);
    assert_eq!(
        d.layers,
        vec![
            (Layer::User, user.clone()),
            (Layer::Project, nearest.clone()),
            // Listed although missing: load reports it.
            (Layer::Env, env.clone()),
        ]
    );
    assert_eq!(load(&d).errors.len(), 1);

    // In the directory itself.
    c.cwd = root.join("work/repo");
    assert_eq!(discover(&c).layers[1], (Layer::Project, nearest));
    // A further-up file when the nearer one is gone.
    std::fs::remove_file(root.join("work/repo/pkgward.toml")).unwrap();
    c.cwd = root.join("work/repo/src/deep");
    assert_eq!(
        discover(&c).layers[1],
        (Layer::Project, root.join("work/pkgward.toml"))
    );
    // Empty PKGWARD_POLICY is unset.
    c.env_policy = Some(PathBuf::new());
    assert!(discover(&c).layers.iter().all(|(l, _)| *l != Layer::Env));
}

#[test]
fn policy_from_process_uses_the_real_system_path() {
    let c = DiscoveryContext::from_process(Path::new("/"));
    assert_eq!(c.system, system_policy_path());
    if cfg!(unix) {
        assert_eq!(c.system, PathBuf::from("/etc/pkgward/policy.toml"));
    }
}

// ---------------------------------------------------------------- baseline

#[test]
fn policy_baseline_round_trips() {
    let mut regs = BTreeMap::new();
    regs.insert(
        Ecosystem::Npm,
        vec!["http://127.0.0.1:4873/".to_string(), "builtin".to_string()],
    );
    regs.insert(Ecosystem::Pypi, vec!["builtin".to_string()]);
    regs.insert(Ecosystem::Cargo, Vec::new());
    for mode in Mode::ALL {
        for regs in [&regs, &BTreeMap::new()] {
            let text = baseline_policy_text(regs, mode);
            assert!(text.contains("# "));
            for layer in [Layer::System, Layer::User, Layer::Env] {
                let raw = parse_layer(&text, Path::new(P), layer)
                    .unwrap_or_else(|e| panic!("{e:?}\n{text}"));
                assert_eq!(raw.mode.as_ref().unwrap().value, mode);
                assert_eq!(
                    raw.scripts_default.as_ref().unwrap().value,
                    ScriptsDefault::Deny
                );
                assert!(raw.scripts_allow.is_empty());
                assert!(raw.lock.is_empty());
                assert!(raw.audit_log.is_none());
                let got: BTreeMap<Ecosystem, Vec<String>> = raw
                    .registries
                    .iter()
                    .map(|r| (r.eco, r.entries.iter().map(|e| e.value.clone()).collect()))
                    .collect();
                assert_eq!(&got, regs);
            }
        }
    }
    // The commented-out lock line, uncommented, is valid in the system layer.
    let text = baseline_policy_text(&regs, Mode::Audit).replace("# lock = ", "lock = ");
    let raw = parse_layer(&text, Path::new(P), Layer::System).unwrap();
    assert_eq!(raw.lock.len(), LOCKABLE.len());
}

#[test]
fn policy_never_panics_on_odd_input() {
    let inputs: [&[u8]; 12] = [
        b"",
        b"\n\n\n",
        b"=",
        b"[",
        b"mode = \"",
        b"\xef\xbb\xbfmode = \"audit\"",
        b"registries = { npm = [[]] }",
        b"scripts.allow = [\"npm:@\", 1, {a = 1}]",
        b"a.b.c.d = 1\n\"\xc3\xa9\" = 2",
        b"[audit]\nlog = \"\\u0000\"",
        b"mode = 1979-05-27T07:32:00Z",
        b"\r\nmode = 'off'\r\nfoo = 1\r\n",
    ];
    for input in inputs {
        let _ = parse_bytes(input, Path::new(P), Layer::User);
        let _ = parse_bytes(input, Path::new(P), Layer::System);
    }
    let e = errors_of("\r\nmode = 'off'\r\nfoo = 1\r\n", Layer::User);
    assert_eq!((e[0].line, e[0].col), (3, 1));
}

#[test]
fn policy_baseline_leaves_out_invalid_registries() {
    let mut regs = BTreeMap::new();
    regs.insert(
        Ecosystem::Npm,
        vec![
            "https://ci:s3cret@npm.example.com/".to_string(),
            "http://127.0.0.1:4873/".to_string(),
            "http://127.0.0.1:4873/".to_string(),
        ],
    );
    regs.insert(
        Ecosystem::Pypi,
        vec!["not a url\nmode = \"off\"".to_string()],
    );
    let text = baseline_policy_text(&regs, Mode::Enforce);
    assert!(!text.contains("s3cret"), "{text}");
    let raw =
        parse_layer(&text, Path::new(P), Layer::User).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    assert_eq!(raw.mode.unwrap().value, Mode::Enforce);
    let got: Vec<(Ecosystem, Vec<String>)> = raw
        .registries
        .iter()
        .map(|r| (r.eco, r.entries.iter().map(|e| e.value.clone()).collect()))
        .collect();
    assert_eq!(
        got,
        vec![(Ecosystem::Npm, vec!["http://127.0.0.1:4873/".to_string()])]
    );
}

#[test]
fn policy_mirrors_must_be_approved_registries() {
    let f = Files::new(&[
        (
            Layer::System,
            "lock = [\"registries\"]\n[registries]\nnpm = [\"http://127.0.0.1:4873/\"]\npypi = [\"https://pypi.example.com/simple/\"]\n[mirrors]\nnpm = \"http://127.0.0.1:4873/\"\n",
        ),
        // A project tries to redirect pip to a mirror nobody approved.
        (Layer::Project, "[mirrors]\npypi = \"https://evil.example.net/simple/\"\n"),
    ]);
    let p = loaded_ok(&f);
    assert_eq!(
        p.mirror_for(Ecosystem::Npm).map(|m| m.value.as_str()),
        Some("http://127.0.0.1:4873/")
    );
    assert!(p.mirror_for(Ecosystem::Pypi).is_none());
    let r = p.refused.iter().find(|r| r.key == "mirrors.pypi").unwrap();
    assert_eq!(r.origin.line, 2);
    assert!(r.reason.contains("not among the approved pypi registries"));
}

#[test]
fn policy_bad_mirrors_are_errors() {
    for (text, line, col) in [
        ("[mirrors]\nnpm = \"builtin\"\n", 2, 7),
        ("[mirrors]\nnpm = [\"http://127.0.0.1:1/\"]\n", 2, 7),
        ("[mirrors]\nnpmm = \"http://127.0.0.1:1/\"\n", 2, 1),
        ("[mirrors]\nnpm = \"http://u:p@127.0.0.1:1/\"\n", 2, 7),
        // A network share can be approved, not forced.
        ("[mirrors]\nnuget = \"file://corp-share/nuget/\"\n", 2, 9),
    ] {
        let e = errors_of(text, Layer::User);
        assert_eq!(e.len(), 1, "{text}: {e:?}");
        assert_eq!((e[0].line, e[0].col), (line, col), "{text}: {e:?}");
    }
}

#[test]
fn policy_threat_feeds_resolve_relative_paths_and_report_bad_values() {
    let raw = parse_layer(
        "[threats]\nfeeds = [\"osv\", \"/abs/feed.zip\"]\n",
        Path::new(P),
        Layer::Project,
    )
    .unwrap();
    let feeds: Vec<PathBuf> = raw.threat_feeds.iter().map(|f| f.value.clone()).collect();
    assert_eq!(
        feeds,
        [
            PathBuf::from("/policies/osv"),
            PathBuf::from("/abs/feed.zip")
        ]
    );
    assert_eq!(raw.threat_feeds[0].origin.line, 2);
    for (text, key) in [
        ("[threats]\nfeeds = \"osv\"\n", "threats.feeds"),
        ("[threats]\nfeeds = [\"\"]\n", "threats.feeds"),
        ("[threats]\nfeed = [\"x\"]\n", "threats.feed"),
        ("threats = 1\n", "threats"),
    ] {
        let e = errors_of(text, Layer::User);
        assert_eq!(e.len(), 1, "{text}: {e:?}");
        assert_eq!(e[0].key.as_deref(), Some(key), "{text}: {e:?}");
    }
}

#[test]
fn policy_fleet_is_system_only_and_needs_a_verification() {
    let ok = "[fleet]\npolicy_url = \"https://policy.example.com/p.toml\"\nsha256 = \"ABab000000000000000000000000000000000000000000000000000000000000\"\nrefresh = \"30m\"\nmax_age = \"2d\"\non_stale = \"deny\"\n";
    let raw = parse_layer(ok, Path::new(P), Layer::System).unwrap();
    let f = raw.fleet.unwrap().value;
    assert_eq!(f.signature_url, "https://policy.example.com/p.toml.minisig");
    assert_eq!(
        f.sha256.as_deref(),
        Some("abab000000000000000000000000000000000000000000000000000000000000")
    );
    assert_eq!(f.refresh, std::time::Duration::from_secs(1800));
    assert_eq!(f.on_stale, crate::fleet::OnStale::Deny);
    for (text, layer, needle) in [
        (ok, Layer::User, "only allowed in the system policy"),
        (ok, Layer::Project, "only allowed in the system policy"),
        ("[fleet]\npolicy_url = \"https://p.example.com/p.toml\"\n", Layer::System, "needs `sha256`"),
        ("[fleet]\nsha256 = \"00\"\n", Layer::System, "64 hexadecimal"),
        ("[fleet]\npolicy_url = \"http://p.example.com/p.toml\"\npublic_key = \"x\"\n", Layer::System, "https"),
        ("[fleet]\npolicy_url = \"https://u:p@p.example.com/p\"\n", Layer::System, "credentials"),
        ("[fleet]\npolicy_url = \"https://p.example.com/p\"\npublic_key = \"not a key\"\n", Layer::System, "minisign"),
        ("[fleet]\npolicy_url = \"https://p.example.com/p\"\nsha256 = \"00\"\nrefresh = \"0s\"\n", Layer::System, "more than zero"),
        ("[fleet]\npolicy_url = \"https://p.example.com/p\"\non_stale = \"open\"\n", Layer::System, "enforce-cached"),
    ] {
        let e = errors_of(text, layer);
        assert!(e.iter().any(|e| e.message.contains(needle)), "{text}: {e:?}");
    }
}

#[test]
fn policy_project_approvals_switch() {
    // Only the system layer may set it.
    let e = errors_of("[scripts]\nproject_approvals = false\n", Layer::Project);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].key.as_deref(), Some("scripts.project_approvals"));
    let e = errors_of("[scripts]\nproject_approvals = \"no\"\n", Layer::System);
    assert!(e[0].message.contains("boolean"), "{}", e[0].message);
    // false: the project's approvals are refused, the user's still count.
    let f = Files::new(&[
        (Layer::System, "[scripts]\nproject_approvals = false\n"),
        (Layer::User, "[scripts]\nallow = [\"npm:esbuild\"]\n"),
        (Layer::Project, "[scripts]\nallow = [\"npm:evil\"]\n"),
    ]);
    let p = loaded_ok(&f);
    let allow: Vec<&str> = p.scripts_allow.iter().map(|s| s.value.as_str()).collect();
    assert_eq!(allow, ["npm:esbuild"]);
    assert_eq!(p.refused.len(), 1);
    assert_eq!(p.refused[0].key, "scripts.allow");
    assert!(p.refused[0].reason.contains("project_approvals"));
    // Default: projects may approve.
    let f = Files::new(&[(Layer::Project, "[scripts]\nallow = [\"npm:evil@^1\"]\n")]);
    let p = loaded_ok(&f);
    assert!(p
        .approval_for(Ecosystem::Npm, "evil", "1.2.0", false)
        .is_some());
    assert!(p
        .approval_for(Ecosystem::Npm, "evil", "2.0.0", false)
        .is_none());
    assert!(p
        .approval_for(Ecosystem::Npm, "evi", "1.0.0", false)
        .is_none());
}

/// `ECO:NAME@local` is a qualifier, not a range: it approves the project's
/// own code of that name (every version) and nothing fetched; an entry
/// without it approves only fetched packages, never local code named like
/// them.
#[test]
fn policy_allow_local_entries() {
    for (s, eco, name) in [
        ("npm:myapp@local", Ecosystem::Npm, "myapp"),
        ("npm:@scope/app@local", Ecosystem::Npm, "@scope/app"),
        ("pypi:My_Proj@local", Ecosystem::Pypi, "My_Proj"),
        ("rubygems:mygem@local", Ecosystem::Rubygems, "mygem"),
    ] {
        let e = AllowEntry::parse(s).unwrap_or_else(|m| panic!("{s}: {m}"));
        assert_eq!(
            (e.ecosystem, e.name, e.range, e.local),
            (eco, name, None, true),
            "{s}"
        );
    }
    let e = AllowEntry::parse("npm:esbuild@^0.20").unwrap();
    assert!(!e.local && e.range == Some("^0.20"));
    // Only the exact qualifier; `local` is no range (npm and PyPI refuse it).
    for s in ["npm:x@Local", "npm:x@local ", "pypi:x@locals"] {
        assert!(
            AllowEntry::parse(s).map_or(true, |e| !e.local),
            "{s:?} is not the qualifier"
        );
    }
    let bad = AllowEntry::parse("npm:x@").unwrap_err();
    assert!(bad.contains("ECOSYSTEM:NAME@local"), "{bad}");
    let f = Files::new(&[(
        Layer::User,
        "[scripts]\nallow = [\"npm:esbuild\", \"npm:myapp@local\", \"pypi:my-proj@local\"]\n",
    )]);
    let p = loaded_ok(&f);
    let by = |eco, name: &str, local| {
        p.approval_for(eco, name, "1.0.0", local)
            .map(|s| s.value.as_str())
    };
    assert_eq!(by(Ecosystem::Npm, "esbuild", false), Some("npm:esbuild"));
    assert_eq!(by(Ecosystem::Npm, "esbuild", true), None);
    assert_eq!(by(Ecosystem::Npm, "myapp", true), Some("npm:myapp@local"));
    assert_eq!(by(Ecosystem::Npm, "myapp", false), None);
    assert_eq!(
        by(Ecosystem::Pypi, "My_Proj", true),
        Some("pypi:my-proj@local")
    );
    // Fetch-and-execute and every-version approvals keep them apart too.
    assert!(p.approves_name(Ecosystem::Npm, "myapp").is_none());
    assert!(p.approves_name(Ecosystem::Npm, "esbuild").is_some());
    assert_eq!(
        p.approves_every_version(Ecosystem::Pypi, "my_proj", true)
            .as_deref()
            .map(|s| s.split(' ').next()),
        Some(Some("pypi:my-proj@local"))
    );
    assert!(p
        .approves_every_version(Ecosystem::Pypi, "my-proj", false)
        .is_none());
}

#[test]
fn policy_allow_ranges_use_each_ecosystems_syntax() {
    for ok in [
        "npm:a@^1.2 || 2.x",
        "pypi:numpy@>=1.26,<2",
        "cargo:ring@^0.17",
        "rubygems:nokogiri@1.16.0",
    ] {
        assert!(
            errors_of(&format!("[scripts]\nallow = [\"{ok}\"]\n"), Layer::Project).is_empty(),
            "{ok}"
        );
    }
    for bad in ["npm:a@^^1", "pypi:numpy@>>1", "cargo:ring@~>1"] {
        let e = errors_of(&format!("[scripts]\nallow = [\"{bad}\"]\n"), Layer::Project);
        assert_eq!(e.len(), 1, "{bad}");
        assert_eq!(e[0].key.as_deref(), Some("scripts.allow"));
        assert_eq!((e[0].line, e[0].col), (2, 10), "{bad}");
    }
}

#[test]
fn policy_audit_sinks_parse_with_defaults() {
    let text = "[audit]\nmax_size = \"1MiB\"\nkeep = 3\n\
        [[audit.sinks]]\ntype = \"syslog\"\nurl = \"tcp://127.0.0.1:5514\"\nfacility = \"local3\"\n\
        [[audit.sinks]]\ntype = \"http\"\nname = \"siem\"\nurl = \"https://siem.example.com/ingest\"\n\
        token_env = \"SIEM_TOKEN\"\nspool_max = 65536\nflush_timeout = \"250ms\"\nca_file = \"ca.pem\"\n";
    let raw = parse_layer(text, Path::new("/etc/pkgward/policy.toml"), Layer::System).unwrap();
    assert_eq!(raw.audit_max_size.unwrap().value, 1 << 20);
    assert_eq!(raw.audit_keep.unwrap().value, 3);
    assert_eq!(raw.sinks.len(), 2);
    let s = &raw.sinks[0].value;
    assert_eq!(s.name, "syslog");
    assert_eq!(s.spool_max, crate::sinks::config::DEFAULT_SPOOL_MAX);
    match &s.kind {
        crate::sinks::SinkKind::Syslog(c) => {
            assert_eq!(c.facility.name(), "local3");
            assert_eq!(c.app_name, "pkgward");
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(raw.sinks[0].origin.line, 4);
    let h = &raw.sinks[1].value;
    assert_eq!(h.name, "siem");
    assert_eq!(h.spool_max, 65536);
    assert_eq!(h.flush_timeout, std::time::Duration::from_millis(250));
    match &h.kind {
        crate::sinks::SinkKind::Http(c) => {
            assert_eq!(c.token_env.as_deref(), Some("SIEM_TOKEN"));
            assert_eq!(c.ca_file.as_deref(), Some(Path::new("/etc/pkgward/ca.pem")));
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn policy_audit_sink_errors_are_located() {
    let cases: &[(&str, (usize, usize), &str, &str)] = &[
        ("[[audit.sinks]]\nurl = \"udp://127.0.0.1\"\n", (1, 1), "audit.sinks", "needs `type`"),
        ("[[audit.sinks]]\ntype = \"kafka\"\n", (2, 8), "audit.sinks.type", "expected"),
        ("[[audit.sinks]]\ntype = \"syslog\"\n", (1, 1), "audit.sinks.url", "needs `url`"),
        (
            "[[audit.sinks]]\ntype = \"syslog\"\nurl = \"http://127.0.0.1\"\n",
            (3, 7),
            "audit.sinks.url",
            "unsupported scheme",
        ),
        (
            "[[audit.sinks]]\ntype = \"http\"\nurl = \"http://collector.example.com/\"\n",
            (3, 7),
            "audit.sinks.url",
            "https",
        ),
        (
            "[[audit.sinks]]\ntype = \"http\"\nurl = \"https://a.example.com/\"\nfacility = \"auth\"\n",
            (4, 1),
            "audit.sinks.facility",
            "does not apply",
        ),
        (
            "[[audit.sinks]]\ntype = \"http\"\nurl = \"https://a.example.com/\"\ntoken_env = \"Bearer abc\"\n",
            (4, 13),
            "audit.sinks.token_env",
            "environment variable",
        ),
        (
            "[[audit.sinks]]\ntype = \"syslog\"\nurl = \"udp://127.0.0.1\"\nfacility = \"authpriv2\"\n",
            (4, 12),
            "audit.sinks.facility",
            "did you mean \"authpriv\"",
        ),
        (
            "[[audit.sinks]]\ntype = \"syslog\"\nurl = \"udp://127.0.0.1\"\nspool_max = 10\n",
            (4, 13),
            "audit.sinks.spool_max",
            "at least",
        ),
        (
            "[[audit.sinks]]\ntype = \"syslog\"\nurl = \"udp://127.0.0.1\"\nflush_timeout = \"5\"\n",
            (4, 17),
            "audit.sinks.flush_timeout",
            "duration",
        ),
        (
            "[[audit.sinks]]\ntype = \"syslog\"\nurl = \"udp://127.0.0.1\"\nname = \"../x\"\n",
            (4, 8),
            "audit.sinks.name",
            "sink name",
        ),
        (
            "[[audit.sinks]]\ntype = \"syslog\"\nurl = \"udp://127.0.0.1\"\nurll = 1\n",
            (4, 1),
            "audit.sinks.urll",
            "did you mean `url`",
        ),
        (
            "[[audit.sinks]]\ntype = \"syslog\"\nurl = \"udp://127.0.0.1\"\n[[audit.sinks]]\ntype = \"syslog\"\nurl = \"tcp://127.0.0.1\"\n",
            (4, 1),
            "audit.sinks.name",
            "two sinks",
        ),
        ("[audit]\nsinks = \"syslog\"\n", (2, 9), "audit.sinks", "array"),
        ("[audit]\nmax_size = \"12 parsecs\"\n", (2, 12), "audit.max_size", "unknown unit"),
        ("[audit]\nmax_size = true\n", (2, 12), "audit.max_size", "size"),
        ("[audit]\nkeep = 0\n", (2, 8), "audit.keep", "between"),
    ];
    for (text, (line, col), key, needle) in cases {
        let errors = errors_of(text, Layer::System);
        assert_eq!(errors.len(), 1, "{text}: {errors:?}");
        let e = &errors[0];
        assert_eq!(
            (e.line, e.col, e.key.as_deref()),
            (*line, *col, Some(*key)),
            "{text}: {e}"
        );
        assert!(e.message.contains(needle), "{text}: {}", e.message);
    }
}

#[test]
fn policy_project_can_never_add_sinks_or_change_rotation() {
    let sink = "[[audit.sinks]]\ntype = \"http\"\nurl = \"https://evil.example.com/\"\n";
    let f = Files::new(&[
        (Layer::User, "[audit]\nmax_size = \"1MiB\"\n"),
        (
            Layer::Project,
            &format!("mode = \"audit\"\n[audit]\nmax_size = 4096\nkeep = 1\n{sink}"),
        ),
    ]);
    let p = loaded_ok(&f);
    assert!(p.sinks.is_empty());
    assert_eq!(p.audit_max_size.as_ref().unwrap().value, 1 << 20);
    assert!(p.audit_keep.is_none());
    assert_eq!(p.mode.value, Mode::Audit);
    let keys: Vec<&str> = p.refused.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["audit.max_size", "audit.keep", "audit.sinks"]);
    assert!(p.refused.iter().all(|r| r.reason.contains("project")));
    assert_eq!(p.refused[2].origin.line, 5);
}

#[test]
fn policy_sinks_merge_by_name_and_lock() {
    let sys = "[[audit.sinks]]\ntype = \"syslog\"\nname = \"soc\"\nurl = \"tcp://127.0.0.1:514\"\n";
    let user = "[[audit.sinks]]\ntype = \"syslog\"\nname = \"soc\"\nurl = \"udp://127.0.0.1:9\"\n\
                [[audit.sinks]]\ntype = \"http\"\nname = \"mine\"\nurl = \"http://127.0.0.1:8080/\"\n";
    // Unlocked: a later layer replaces a sink of the same name and adds others.
    let f = Files::new(&[(Layer::System, sys), (Layer::User, user)]);
    let p = loaded_ok(&f);
    let names: Vec<(&str, &str)> = p
        .sinks
        .iter()
        .map(|s| (s.value.name.as_str(), s.value.kind.url()))
        .collect();
    assert_eq!(
        names,
        [
            ("soc", "udp://127.0.0.1:9"),
            ("mine", "http://127.0.0.1:8080/")
        ]
    );
    // Locked: the system's sinks and rotation stand.
    let locked = format!("lock = [\"audit\"]\n[audit]\nkeep = 5\n{sys}");
    let f = Files::new(&[
        (Layer::System, &locked),
        (Layer::User, &format!("[audit]\nkeep = 1\n{user}")),
        (Layer::Env, "[audit]\nkeep = 5\n"),
    ]);
    let p = loaded_ok(&f);
    assert_eq!(p.sinks.len(), 1);
    assert_eq!(p.sinks[0].value.kind.url(), "tcp://127.0.0.1:514");
    assert_eq!(p.audit_keep.as_ref().unwrap().value, 5);
    let keys: Vec<&str> = p.refused.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["audit.keep", "audit.sinks", "audit.sinks"]);
}

#[test]
fn policy_provenance_switch_is_not_a_projects_or_a_locked_lower_layers() {
    // On by default.
    let p = loaded_ok(&Files::new(&[]));
    assert!(p.audit_provenance.value);
    // A user may switch it off; a project may not, either way.
    let f = Files::new(&[
        (Layer::User, "[audit]\nprovenance = false\n"),
        (Layer::Project, "[audit]\nprovenance = true\n"),
    ]);
    let p = loaded_ok(&f);
    assert!(!p.audit_provenance.value);
    let f = Files::new(&[(Layer::Project, "[audit]\nprovenance = false\n")]);
    let p = loaded_ok(&f);
    assert!(p.audit_provenance.value);
    assert_eq!(p.refused[0].key, "audit.provenance");
    // Under a lock on `audit`, a lower layer cannot switch it off.
    let f = Files::new(&[
        (Layer::System, "lock = [\"audit\"]\n"),
        (Layer::User, "[audit]\nprovenance = false\n"),
    ]);
    let p = loaded_ok(&f);
    assert!(p.audit_provenance.value);
    assert_eq!(p.refused[0].key, "audit.provenance");
    // A wrong type is an error at the value.
    let f = Files::new(&[(Layer::User, "[audit]\nprovenance = \"no\"\n")]);
    let errs = f.load().errors;
    assert_eq!(errs[0].key.as_deref(), Some("audit.provenance"), "{errs:?}");
}

// ---------------------------------------------------------------- sandbox

#[test]
fn policy_sandbox_section_parses_with_positions() {
    let text = "[sandbox]\nrequire = true\nconfine_approved = false\n\
                deny_read = [\"~/.config/secret\", \"/etc/app/key\"]\n\
                scrub_env = [\"MY_*_KEY\"]\nallow_write = [\"/srv/cache\"]\n";
    let f = Files::new(&[(Layer::User, text)]);
    let p = loaded_ok(&f);
    let s = &p.sandbox;
    assert!(s.require.value);
    assert_eq!(origin_of(&s.require), Some((f.path(0).to_path_buf(), 2)));
    assert!(!s.confine_approved.value);
    assert_eq!(s.deny_read_values(), ["~/.config/secret", "/etc/app/key"]);
    assert_eq!(s.scrub_env_values(), ["MY_*_KEY"]);
    assert_eq!(s.allow_write_values(), ["/srv/cache"]);
    // Defaults.
    let d = loaded_ok(&Files::new(&[]));
    assert!(!d.sandbox.require.value);
    assert!(d.sandbox.confine_approved.value);

    let cases: [(&str, usize, usize, &str, &str); 6] = [
        (
            "[sandbox]\nrequire = 1\n",
            2,
            11,
            "sandbox.require",
            "boolean",
        ),
        (
            "[sandbox]\nrequired = true\n",
            2,
            1,
            "sandbox.required",
            "did you mean `require`",
        ),
        (
            "[sandbox]\ndeny_read = [\".ssh\"]\n",
            2,
            14,
            "sandbox.deny_read",
            "neither absolute",
        ),
        (
            "[sandbox]\nallow_write = [\"/a/../b\"]\n",
            2,
            16,
            "sandbox.allow_write",
            "`..`",
        ),
        (
            "[sandbox]\nscrub_env = [\"A B\"]\n",
            2,
            14,
            "sandbox.scrub_env",
            "variable name",
        ),
        (
            "[sandbox]\nscrub_env = [\"**\"]\n",
            2,
            14,
            "sandbox.scrub_env",
            "PATH and HOME",
        ),
    ];
    for (text, line, col, key, msg) in cases {
        let e = errors_of(text, Layer::User);
        assert_eq!(e.len(), 1, "{text}: {e:?}");
        assert_eq!((e[0].line, e[0].col), (line, col), "{text}: {e:?}");
        assert_eq!(e[0].key.as_deref(), Some(key), "{text}");
        assert!(e[0].message.contains(msg), "{text}: {}", e[0].message);
    }
}

#[test]
fn policy_sandbox_is_tighten_only_for_projects_and_under_a_lock() {
    // A project may tighten, never loosen.
    let f = Files::new(&[
        (Layer::User, "[sandbox]\nrequire = true\n"),
        (
            Layer::Project,
            "[sandbox]\nrequire = false\nconfine_approved = false\nallow_write = [\"/\"]\n\
             deny_read = [\"~/.extra\"]\nscrub_env = [\"X_*\"]\n",
        ),
    ]);
    let l = f.load();
    // "/" is an error (a whole tree), so use a valid path for the refusal case.
    assert!(!l.errors.is_empty());
    let f = Files::new(&[
        (Layer::User, "[sandbox]\nrequire = true\n"),
        (
            Layer::Project,
            "[sandbox]\nrequire = false\nconfine_approved = false\nallow_write = [\"/srv\"]\n\
             deny_read = [\"~/.extra\"]\nscrub_env = [\"X_*\"]\n",
        ),
    ]);
    let p = loaded_ok(&f);
    assert!(p.sandbox.require.value);
    assert!(p.sandbox.confine_approved.value);
    assert!(p.sandbox.allow_write.is_empty());
    assert_eq!(p.sandbox.deny_read_values(), ["~/.extra"]);
    assert_eq!(p.sandbox.scrub_env_values(), ["X_*"]);
    let keys: Vec<&str> = p.refused.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "sandbox.require",
            "sandbox.confine_approved",
            "sandbox.allow_write"
        ]
    );
    // The user layer may loosen what it set itself (no lock)...
    let p = loaded_ok(&Files::new(&[
        (Layer::User, "[sandbox]\nrequire = true\n"),
        (
            Layer::Env,
            "[sandbox]\nrequire = false\nallow_write = [\"/srv\"]\n",
        ),
    ]));
    assert!(!p.sandbox.require.value);
    assert_eq!(p.sandbox.allow_write_values(), ["/srv"]);
    // ...but not what a locked system layer set.
    let p = loaded_ok(&Files::new(&[
        (
            Layer::System,
            "lock = [\"sandbox\"]\n[sandbox]\nrequire = true\n",
        ),
        (
            Layer::User,
            "[sandbox]\nrequire = false\nconfine_approved = false\nallow_write = [\"/srv\"]\nscrub_env = [\"Y\"]\n",
        ),
    ]));
    assert!(p.sandbox.require.value);
    assert!(p.sandbox.confine_approved.value);
    assert!(p.sandbox.allow_write.is_empty());
    assert_eq!(p.sandbox.scrub_env_values(), ["Y"]);
    assert_eq!(p.refused.len(), 3, "{:?}", p.refused);
    assert!(p.refused[0].reason.contains("locked"), "{:?}", p.refused);
}

#[test]
fn policy_tracer_choice_cannot_be_weakened_below_the_system_layer() {
    use crate::policy::Tracer;
    let p = loaded_ok(&Files::new(&[]));
    assert_eq!(p.supervise_tracer.value, Tracer::Auto);
    // A user (or PKGWARD_POLICY) layer may force one tracer or the other.
    let p = loaded_ok(&Files::new(&[(
        Layer::User,
        "[supervise]\ntracer = \"ptrace\"\n",
    )]));
    assert_eq!(p.supervise_tracer.value, Tracer::Ptrace);
    // Only the system layer may turn tracing off.
    let f = Files::new(&[(Layer::User, "[supervise]\ntracer = \"proxy-only\"\n")]);
    let p = loaded_ok(&f);
    assert_eq!(p.supervise_tracer.value, Tracer::Auto);
    assert_eq!(p.refused[0].key, "supervise.tracer");
    let p = loaded_ok(&Files::new(&[(
        Layer::System,
        "[supervise]\ntracer = \"proxy-only\"\n",
    )]));
    assert_eq!(p.supervise_tracer.value, Tracer::ProxyOnly);
    // A project never chooses.
    let f = Files::new(&[(Layer::Project, "[supervise]\ntracer = \"seccomp\"\n")]);
    let p = loaded_ok(&f);
    assert_eq!(p.supervise_tracer.value, Tracer::Auto);
    assert_eq!(p.refused[0].key, "supervise.tracer");
    // A lock keeps the system's choice.
    let f = Files::new(&[
        (
            Layer::System,
            "lock = [\"supervise\"]\n[supervise]\ntracer = \"seccomp\"\n",
        ),
        (Layer::User, "[supervise]\ntracer = \"ptrace\"\n"),
    ]);
    let p = loaded_ok(&f);
    assert_eq!(p.supervise_tracer.value, Tracer::Seccomp);
    assert_eq!(p.refused[0].key, "supervise.tracer");
    // Bad values and keys are errors.
    let errs = Files::new(&[(Layer::User, "[supervise]\ntracer = \"strace\"\n")])
        .load()
        .errors;
    assert_eq!(errs[0].key.as_deref(), Some("supervise.tracer"), "{errs:?}");
    let errs = Files::new(&[(Layer::User, "[supervise]\ntracr = \"auto\"\n")])
        .load()
        .errors;
    assert_eq!(errs[0].key.as_deref(), Some("supervise.tracr"), "{errs:?}");
}
