//! The example policies in `policy/` are valid for pkgward's own parser and
//! for `policy/schema.json`, and the schema rejects what the parser rejects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pkgward::policy::{baseline_policy_text, check_file, check_str, Layer, Mode};
use pkgward::tools::Ecosystem;

fn policy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policy")
}

fn schema() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(policy_dir().join("schema.json")).expect("policy/schema.json");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema.json is JSON");
    jsonschema::meta::validate(&schema).expect("schema.json is a valid JSON Schema");
    jsonschema::draft202012::new(&schema).expect("schema.json compiles")
}

fn to_json(toml_text: &str) -> serde_json::Value {
    let value: toml::Value = toml::from_str(toml_text).expect("valid TOML");
    serde_json::to_value(value).expect("TOML converts to JSON")
}

fn schema_errors(validator: &jsonschema::Validator, toml_text: &str) -> Vec<String> {
    let instance = to_json(toml_text);
    validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(policy_dir())
        .expect("policy/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn examples_exist() {
    let names: Vec<String> = examples()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in ["audit-rollout.toml", "strict-ci.toml", "locked-system.toml"] {
        assert!(
            names.iter().any(|n| n == want),
            "policy/{want} missing: {names:?}"
        );
    }
}

#[test]
fn examples_pass_check_file_and_the_schema() {
    let validator = schema();
    for path in examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        let has_lock = to_json(&text).get("lock").is_some();
        // Every example is a valid system policy; those without `lock` are
        // valid in every layer.
        let layers: &[Layer] = if has_lock {
            &[Layer::System]
        } else {
            &[Layer::System, Layer::User, Layer::Project, Layer::Env]
        };
        for &layer in layers {
            if let Err(errors) = check_file(&path, layer) {
                let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                panic!("{} as {layer}:\n{}", path.display(), shown.join("\n"));
            }
        }
        if has_lock {
            assert!(
                check_file(&path, Layer::Project).is_err(),
                "{}: `lock` must be refused outside the system layer",
                path.display()
            );
        }
        let errors = schema_errors(&validator, &text);
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
}

#[test]
fn examples_name_no_real_registry_host() {
    for path in examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        for token in text.split(|c: char| c == '"' || c.is_whitespace()) {
            if let Some(rest) = token
                .strip_prefix("https://")
                .or_else(|| token.strip_prefix("http://"))
            {
                let host = rest.split(['/', ':']).next().unwrap_or_default();
                assert!(
                    host == "127.0.0.1" || host == "example.com" || host.ends_with(".example.com"),
                    "{}: {token}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn baseline_policy_validates_against_the_schema() {
    let validator = schema();
    let mut regs = BTreeMap::new();
    regs.insert(Ecosystem::Npm, vec!["http://127.0.0.1:4873/".to_string()]);
    regs.insert(Ecosystem::Pypi, vec!["builtin".to_string()]);
    for mode in [Mode::Enforce, Mode::Audit, Mode::Off] {
        let text = baseline_policy_text(&regs, mode);
        assert!(check_str(&text, Path::new("baseline.toml"), Layer::User).is_ok());
        assert_eq!(schema_errors(&validator, &text), Vec::<String>::new());
    }
}

#[test]
fn bad_documents_fail_the_schema_and_the_parser() {
    let validator = schema();
    let bad = [
        ("unknown top-level key", "mode = \"audit\"\nfoo = 1\n"),
        ("unknown ecosystem", "[registries]\nnpmm = [\"builtin\"]\n"),
        ("unknown key in [scripts]", "[scripts]\nalow = []\n"),
        (
            "unknown key in [audit]",
            "[audit]\npath = \"/var/log/a.jsonl\"\n",
        ),
        ("mode of the wrong type", "mode = 3\n"),
        ("mode out of the enum", "mode = \"loose\"\n"),
        ("registry list as a string", "[registries]\nnpm = \"x\"\n"),
        (
            "registry entry not a URL",
            "[registries]\nnpm = [\"npm.example.com\"]\n",
        ),
        (
            "registry URL with credentials",
            "[registries]\nnpm = [\"https://u:p@npm.example.com/\"]\n",
        ),
        (
            "registry URL with a query",
            "[registries]\nnpm = [\"https://npm.example.com/?x=1\"]\n",
        ),
        (
            "registry of another scheme",
            "[registries]\nnpm = [\"ftp://npm.example.com/\"]\n",
        ),
        (
            "scripts.default out of the enum",
            "[scripts]\ndefault = \"maybe\"\n",
        ),
        (
            "allow entry without ecosystem",
            "[scripts]\nallow = [\"esbuild\"]\n",
        ),
        (
            "allow entry with unknown ecosystem",
            "[scripts]\nallow = [\"nmp:esbuild\"]\n",
        ),
        (
            "allow entry with empty range",
            "[scripts]\nallow = [\"npm:esbuild@\"]\n",
        ),
        (
            "allow entry with a space in the name",
            "[scripts]\nallow = [\"npm:es build\"]\n",
        ),
        ("unknown lockable key", "lock = [\"scripts\"]\n"),
        ("empty audit log", "[audit]\nlog = \"\"\n"),
        ("scripts as an array", "scripts = [\"npm:esbuild\"]\n"),
        ("sink without a type", "[[audit.sinks]]\nurl = \"udp://127.0.0.1\"\n"),
        (
            "sink of an unknown type",
            "[[audit.sinks]]\ntype = \"kafka\"\nurl = \"udp://127.0.0.1\"\n",
        ),
        (
            "http sink over plain http to another host",
            "[[audit.sinks]]\ntype = \"http\"\nurl = \"http://siem.example.com/\"\n",
        ),
        (
            "syslog key on an http sink",
            "[[audit.sinks]]\ntype = \"http\"\nurl = \"https://siem.example.com/\"\nfacility = \"auth\"\n",
        ),
        (
            "a token instead of its variable",
            "[[audit.sinks]]\ntype = \"http\"\nurl = \"https://siem.example.com/\"\ntoken_env = \"Bearer x\"\n",
        ),
        ("tiny rotation", "[audit]\nmax_size = 10\n"),
        ("keep zero", "[audit]\nkeep = 0\n"),
        ("sandbox.require as a string", "[sandbox]\nrequire = \"yes\"\n"),
        ("unknown key in [sandbox]", "[sandbox]\nrequired = true\n"),
        (
            "relative sandbox.deny_read path",
            "[sandbox]\ndeny_read = [\".ssh\"]\n",
        ),
        (
            "sandbox.scrub_env pattern with `=`",
            "[sandbox]\nscrub_env = [\"A=B\"]\n",
        ),
        ("sandbox.scrub_env of only `*`", "[sandbox]\nscrub_env = [\"*\"]\n"),
    ];
    for (name, text) in bad {
        assert!(
            !schema_errors(&validator, text).is_empty(),
            "{name}: the schema accepts it"
        );
        assert!(
            check_str(text, Path::new("bad.toml"), Layer::System).is_err(),
            "{name}: the parser accepts it"
        );
    }
    let good = [
        "",
        "mode = \"off\"\n",
        "[registries]\nnpm = []\nwinget = [\"builtin\"]\n",
        "[registries]\npypi = [\"http://[::1]:8080/simple/\"]\n",
        "[scripts]\nallow = [\"npm:@scope/pkg@^1.2\", \"npm:x@>=1.2 <2\", \"maven:org.example:lib@[1.0,2.0)\"]\n",
        "lock = [\"mode\", \"audit\"]\n[audit]\nlog = \"audit.jsonl\"\n",
        "[audit]\nmax_size = \"16MiB\"\nkeep = 4\n[[audit.sinks]]\ntype = \"syslog\"\nurl = \"tcp://127.0.0.1:5514\"\nfacility = \"local4\"\n[[audit.sinks]]\ntype = \"http\"\nname = \"siem\"\nurl = \"https://siem.example.com/ingest\"\ntoken_env = \"SIEM_TOKEN\"\nspool_max = 1048576\nflush_timeout = \"250ms\"\n",
    ];
    for text in good {
        assert_eq!(
            schema_errors(&validator, text),
            Vec::<String>::new(),
            "{text}"
        );
        assert!(
            check_str(text, Path::new("good.toml"), Layer::System).is_ok(),
            "{text}"
        );
    }
}
