//! Known-malicious packages (issue: fleet, threat data), end to end: an OSV
//! feed named by the policy, the real npm and pip behind the shims against
//! the loopback registries, and fixture packages the feed lists.

mod support;

use std::process::Command;
use std::sync::OnceLock;

use support::guard::{pkgward_bin, text, Guarded};
use support::{shared, NpmPackage, Wheel};

fn fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let r = shared();
        r.publish_npm(
            &NpmPackage::new("pw-thr-evil", "1.0.0").file("index.js", "module.exports = 'evil';\n"),
        );
        r.publish_npm(
            &NpmPackage::new("pw-thr-audit", "1.0.0").file("index.js", "module.exports = 1;\n"),
        );
        r.publish_npm(
            &NpmPackage::new("pw-thr-ok", "1.0.0").file("index.js", "module.exports = 'ok';\n"),
        );
        // 1.0.0 is clean, 1.0.1 is listed: a range resolves to the listed one.
        for v in ["1.0.0", "1.0.1"] {
            r.publish_npm(
                &NpmPackage::new("pw-thr-bad", v).file("index.js", "module.exports = 1;\n"),
            );
        }
        r.publish_npm(
            &NpmPackage::new("pw-thr-app", "1.0.0")
                .dep("pw-thr-bad", "^1.0.0")
                .file("index.js", "module.exports = require('pw-thr-bad');\n"),
        );
        r.publish_wheel(&Wheel::new("pw-thr-evil-py", "1.0.0").module("X = 1\n"));
        for v in ["1.0.0", "2.0.0"] {
            r.publish_wheel(&Wheel::new("pw-thr-some-py", v).module("X = 1\n"));
        }
    });
}

const FEED: &str = r#"[
 {"id": "MAL-TEST-0001", "summary": "Malicious code in pw-thr-evil (npm)",
  "affected": [{"package": {"ecosystem": "npm", "name": "pw-thr-evil"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}]},
 {"id": "MAL-TEST-0002", "summary": "Malicious code in pw-thr-bad (npm)",
  "affected": [{"package": {"ecosystem": "npm", "name": "pw-thr-bad"}, "versions": ["1.0.1"]}]},
 {"id": "MAL-TEST-0003",
  "affected": [{"package": {"ecosystem": "PyPI", "name": "PW_Thr.Evil-Py"}}]},
 {"id": "MAL-TEST-0004",
  "affected": [{"package": {"ecosystem": "PyPI", "name": "pw-thr-some-py"}, "versions": ["2.0.0"]}]},
 {"id": "MAL-TEST-0006",
  "affected": [{"package": {"ecosystem": "npm", "name": "pw-thr-audit"}}]},
 {"id": "MAL-TEST-0005", "withdrawn": "2024-01-01T00:00:00Z",
  "affected": [{"package": {"ecosystem": "npm", "name": "pw-thr-ok"}}]}
]"#;

/// A sandbox whose policy names the feed (written beside the policy).
fn guarded(mode: &str) -> Guarded {
    fixtures();
    let policy = format!(
        "mode = \"{mode}\"\n[registries]\nnpm = [\"{}\"]\npypi = [\"{}\"]\n[threats]\nfeeds = [\"osv/feed.json\"]\n",
        shared().npm_url(),
        shared().pypi_index_url()
    );
    let g = Guarded::new(&policy);
    std::fs::create_dir_all(g.sb.root().join("osv")).unwrap();
    std::fs::write(g.sb.root().join("osv/feed.json"), FEED).unwrap();
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    g
}

fn fetched(pkg: &str) -> bool {
    shared()
        .hits()
        .iter()
        .any(|h| h.path.contains(&format!("/{pkg}/-/")) || h.path.ends_with(&format!("/{pkg}")))
}

fn exit_record(g: &Guarded) -> serde_json::Value {
    g.audit()
        .into_iter()
        .rev()
        .find(|r| r["kind"] == "exit")
        .unwrap()
}

#[test]
fn npm_install_of_a_listed_package_is_denied_before_npm_runs() {
    let g = guarded("enforce");
    let out = g.npm(&["install", "pw-thr-evil"], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("MAL-TEST-0001"), "{err}");
    assert!(err.contains("pw-thr-evil"), "{err}");
    assert!(!g.sb.work.join("node_modules/pw-thr-evil").exists());
    assert!(
        !fetched("pw-thr-evil"),
        "npm reached the registry for the listed package"
    );
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "deny");
    assert_eq!(inv["decision"]["reasons"][0]["code"], "listed-malicious");
    assert_eq!(
        inv["decision"]["reasons"][0]["origin"],
        "argument `pw-thr-evil`"
    );
    assert_eq!(exit_record(&g)["ran"], false);

    // The same package under another spelling and through an alias.
    for spec in ["PW-THR-EVIL@1.0.0", "x@npm:pw-thr-evil@^1"] {
        let out = g.npm(&["install", spec], &[]);
        assert_eq!(out.status.code(), Some(77), "{spec}: {}", text(&out.stderr));
    }
    // npx runs it: denied as well.
    let out = g.npm_tool("npx", &["--yes", "pw-thr-evil"]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out.stderr));

    // A package the feed does not list (and one whose listing was
    // withdrawn) installs as usual.
    let ok = g.npm(&["install", "pw-thr-ok"], &[]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert_eq!(g.last_invocation()["decision"]["action"], "allow");
}

#[test]
fn npm_install_that_resolves_a_listed_version_fails_and_npm_ci_of_that_lock_is_denied() {
    let g = guarded("enforce");
    // pw-thr-app depends on pw-thr-bad ^1.0.0, which resolves to the
    // listed 1.0.1: only the resolution reveals it.
    let out = g.npm(&["install", "pw-thr-app"], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("MAL-TEST-0002"), "{err}");
    assert!(err.contains("pw-thr-bad@1.0.1"), "{err}");
    assert!(err.contains("package-lock.json:"), "{err}");
    let exit = exit_record(&g);
    assert_eq!(exit["ran"], true);
    assert_eq!(exit["exit_code"], 77);
    assert_eq!(exit["findings"][0]["code"], "listed-malicious");

    // Now the lockfile pins it: `npm ci` is denied before npm runs.
    std::fs::remove_dir_all(g.sb.work.join("node_modules")).unwrap();
    let ci = g.npm(&["ci"], &[]);
    let err = text(&ci.stderr);
    assert_eq!(ci.status.code(), Some(77), "{err}");
    assert!(err.contains("MAL-TEST-0002"), "{err}");
    assert!(!g.sb.work.join("node_modules").exists());
    assert_eq!(exit_record(&g)["ran"], false);

    // verify reports the same entry, and `threats check` agrees.
    let v = Command::new(pkgward_bin())
        .args(["verify", "--json"])
        .current_dir(&g.sb.work)
        .envs(g.pkgward_env())
        .output()
        .unwrap();
    assert_eq!(v.status.code(), Some(1), "{}", text(&v.stderr));
    let report: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "listed-malicious")
        .expect("a listed-malicious finding");
    assert_eq!(f["package"], "pw-thr-bad");
    assert_eq!(f["version"], "1.0.1");
    let c = Command::new(pkgward_bin())
        .args([
            "threats",
            "check",
            "npm:pw-thr-bad@1.0.1",
            "npm:pw-thr-bad@1.0.0",
        ])
        .envs(g.pkgward_env())
        .output()
        .unwrap();
    let o = text(&c.stdout);
    assert_eq!(c.status.code(), Some(1), "{o}{}", text(&c.stderr));
    assert!(
        o.contains("npm:pw-thr-bad@1.0.1: listed by MAL-TEST-0002"),
        "{o}"
    );
    assert!(o.contains("npm:pw-thr-bad@1.0.0: not listed"), "{o}");
}

#[test]
fn pip_install_of_a_listed_package_is_denied_with_the_advisory() {
    let g = guarded("enforce");
    let target = g.sb.root().join("site");
    let t = target.to_str().unwrap();
    // Listed under another normalisation of its name.
    let out = g.pip(&["install", "--target", t, "pw_thr.EVIL-py==1.0.0"], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("MAL-TEST-0003"), "{err}");
    assert!(!target.exists());
    // A listed version is denied; another version of the package installs.
    let bad = g.pip(&["install", "--target", t, "pw-thr-some-py==2.0.0"], &[]);
    assert_eq!(bad.status.code(), Some(77), "{}", text(&bad.stderr));
    let good = g.pip(&["install", "--target", t, "pw-thr-some-py==1.0.0"], &[]);
    assert!(good.status.success(), "{}", text(&good.stderr));
    assert!(target.join("pw_thr_some_py/__init__.py").is_file());
}

#[test]
fn audit_mode_records_and_lets_the_install_through() {
    let g = guarded("audit");
    let out = g.npm(&["install", "pw-thr-audit"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(g.sb.work.join("node_modules/pw-thr-audit").is_dir());
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "would-deny");
    assert_eq!(inv["decision"]["reasons"][0]["code"], "listed-malicious");
}

#[test]
fn an_unreadable_feed_fails_closed_in_enforce_and_warns_in_audit() {
    for (mode, want) in [("enforce", Some(78)), ("audit", Some(0))] {
        let g = guarded(mode);
        std::fs::write(g.sb.root().join("osv/feed.json"), "{ not json").unwrap();
        let out = g.npm(&["install", "pw-thr-ok"], &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), want, "{mode}: {err}");
        assert!(err.contains("feed.json"), "{mode}: {err}");
        assert_eq!(
            g.sb.work.join("node_modules/pw-thr-ok").is_dir(),
            mode == "audit",
            "{mode}"
        );
    }
    // Commands that fetch nothing do not need the feed.
    let g = guarded("enforce");
    std::fs::remove_file(g.sb.root().join("osv/feed.json")).unwrap();
    let out = g.npm(&["--version"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
