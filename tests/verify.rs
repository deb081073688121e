//! `pkgward verify`: lockfile entries outside the approved registries or
//! without integrity, in human, JSON and SARIF form, as a CI gate.

mod common;

use common::*;

const NPM_LOCK: &str = r#"{
  "name": "app",
  "lockfileVersion": 3,
  "packages": {
    "": { "name": "app" },
    "node_modules/good": {
      "version": "1.0.0",
      "resolved": "http://127.0.0.1:4873/good/-/good-1.0.0.tgz",
      "integrity": "sha512-AAAA"
    },
    "node_modules/@evil/pkg": {
      "version": "6.6.6",
      "resolved": "https://registry.evil.test/@evil/pkg/-/pkg-6.6.6.tgz",
      "integrity": "sha512-BBBB"
    },
    "node_modules/nohash": {
      "version": "2.0.0",
      "resolved": "http://127.0.0.1:4873/nohash/-/nohash-2.0.0.tgz"
    },
    "node_modules/linked": { "resolved": "../linked", "link": true }
  }
}
"#;

const CARGO_LOCK: &str = r#"version = 4

[[package]]
name = "app"
version = "0.1.0"

[[package]]
name = "good"
version = "1.0.0"
source = "sparse+http://127.0.0.1:8080/index/"
checksum = "0000000000000000000000000000000000000000000000000000000000000000"

[[package]]
name = "sneaky"
version = "0.3.0"
source = "git+https://git.evil.test/sneaky.git#0123456789abcdef"
"#;

fn project(w: &World) -> std::path::PathBuf {
    w.write("work/app/package-lock.json", NPM_LOCK);
    w.write("work/app/rs/Cargo.lock", CARGO_LOCK);
    // Not read: dependency directories are skipped.
    w.write("work/app/node_modules/x/package-lock.json", "{ not json");
    w.write(
        "work/pkgward.toml",
        "[registries]\nnpm = [\"http://127.0.0.1:4873/\"]\ncargo = [\"http://127.0.0.1:8080/index/\"]\n",
    );
    w.work.join("app")
}

#[test]
fn verify_reports_each_finding_with_file_and_line() {
    let w = World::new();
    let dir = project(&w);
    let out = w.pkgward(&["verify", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("package-lock.json:11: [unapproved-source] npm @evil/pkg@6.6.6"),
        "{text}"
    );
    assert!(
        text.contains("package-lock.json:16: [missing-integrity] npm nohash@2.0.0"),
        "{text}"
    );
    assert!(
        text.contains("Cargo.lock:13: [unapproved-source] cargo sneaky@0.3.0: fetched from git"),
        "{text}"
    );
    assert!(!text.contains(" good@"), "{text}");
    assert!(!text.contains("linked"), "{text}");
    assert!(text.contains("2 lockfile(s)"), "{text}");
    assert!(text.contains("3 finding(s)"), "{text}");
}

#[test]
fn verify_json_and_sarif() {
    let w = World::new();
    let dir = project(&w);
    let out = w.pkgward(&["verify", "--json", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 3);
    assert_eq!(v["findings"][0]["purl"], "pkg:npm/%40evil/pkg@6.6.6");

    let sarif_path = w.root().join("out.sarif");
    let out = w.pkgward(&[
        "verify",
        "--sarif",
        "--output",
        sarif_path.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif_path).unwrap()).unwrap();
    assert_eq!(s["version"], "2.1.0");
    let results = s["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let rule_ids: Vec<&str> = s["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for r in results {
        assert!(rule_ids.contains(&r["ruleId"].as_str().unwrap()));
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(
            loc["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with(".lock")
                || loc["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap()
                    .ends_with(".json")
        );
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn verify_is_clean_when_everything_is_approved() {
    let w = World::new();
    w.write(
        "work/ok/package-lock.json",
        "{\"lockfileVersion\":3,\"packages\":{\"\":{},\"node_modules/good\":{\"version\":\"1.0.0\",\"resolved\":\"http://127.0.0.1:4873/good/-/good-1.0.0.tgz\",\"integrity\":\"sha512-AAAA\"}}}",
    );
    w.write(
        "work/pkgward.toml",
        "[registries]\nnpm = [\"http://127.0.0.1:4873/\"]\n",
    );
    let out = w.pkgward(&["verify", "ok"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("0 finding(s)"));
}

#[test]
fn verify_reports_unreadable_lockfiles_and_bad_paths() {
    let w = World::new();
    w.write("work/bad/package-lock.json", "{ \"packages\": [");
    let out = w.pkgward(&["verify", "bad"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("[unreadable-lockfile]"),
        "{}",
        stdout(&out)
    );
    let out = w.pkgward(&["verify", "no-such-dir"]);
    assert_eq!(out.status.code(), Some(78));
}

/// A pnpm or yarn lockfile in a YAML spelling the reader does not follow
/// (here an alias carrying the tarball URL) is not vouched for; the layout
/// the tools write is read as before.
#[test]
fn verify_refuses_lockfiles_in_yaml_forms_it_does_not_follow() {
    let w = World::new();
    w.write(
        "work/p/pnpm-lock.yaml",
        "lockfileVersion: '9.0'\nsettings:\n  r: &r {tarball: https://evil.test/x.tgz}\npackages:\n  x@1.0.0:\n    resolution: *r\n",
    );
    w.write(
        "work/y/yarn.lock",
        "__metadata:\n  version: 8\n\n\"x@https://evil.test/x.tgz\": {resolution: \"x@https://evil.test/x.tgz\"}\n",
    );
    w.write(
        "work/ok/pnpm-lock.yaml",
        "lockfileVersion: '9.0'\n\npackages:\n\n  x@1.0.0:\n    resolution: {integrity: sha512-AA==}\n    engines: {node: '>=18'}\n",
    );
    for dir in ["p", "y"] {
        let out = w.pkgward(&["verify", dir]);
        assert_eq!(out.status.code(), Some(1), "{dir}: {}", stdout(&out));
        assert!(
            stdout(&out).contains("[unreadable-lockfile]"),
            "{dir}: {}",
            stdout(&out)
        );
        assert!(
            stdout(&out).contains("YAML form"),
            "{dir}: {}",
            stdout(&out)
        );
    }
    let out = w.pkgward(&["verify", "ok"]);
    assert!(!stdout(&out).contains("unreadable"), "{}", stdout(&out));
}
