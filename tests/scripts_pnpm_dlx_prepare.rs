//! `pnpm dlx` / `pnpx` / `pnpm create` without the npm broker (as on macOS
//! and Windows; here the broker cannot listen: pkgward's temp directory
//! has a path too long for a Unix socket). pnpm then runs with
//! `--ignore-scripts`, so pkgward prepares the dlx cache entry before it
//! runs — the real pnpm installs into it with scripts off and no command,
//! the approved packages are built there through `pnpm rebuild`, confined,
//! the others recorded and listed — and the user's run finds the entry and
//! runs its command from it, without installing again.

mod support;

use std::path::PathBuf;
use std::sync::OnceLock;

use support::guard::{text, to_env, Guarded};
use support::{shared, NpmPackage};

fn fixtures() {
    support::pnpm_dlx_fixtures();
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        // What `pnpm create pw-dlxp` runs: it needs its dependency built.
        shared().publish_npm(
            &NpmPackage::new("create-pw-dlxp", "1.0.0")
                .dep("pw-dlx-native", "^1.0.0")
                .field("bin", serde_json::json!({"create-pw-dlxp": "init.js"}))
                .executable(
                    "init.js",
                    "#!/usr/bin/env node\n\
                     const fs = require('fs'), path = require('path');\n\
                     const dir = path.dirname(require.resolve('pw-dlx-native/package.json'));\n\
                     console.log('create says ' + fs.readFileSync(path.join(dir, 'built.txt'), 'utf8').trim());\n",
                ),
        );
    });
}

struct T {
    g: Guarded,
    /// pkgward's temp directory: too long a path for the broker's socket.
    tmp: String,
}

fn setup(allow: &[&str]) -> T {
    fixtures();
    let reg = shared().npm_url();
    let allow: Vec<String> = allow.iter().map(|a| format!("\"npm:{a}\"")).collect();
    let g = Guarded::new(&format!(
        "mode = \"enforce\"\n[registries]\nnpm = [\"{reg}\"]\n[scripts]\nallow = [{}]\n",
        allow.join(", ")
    ));
    for tool in ["pnpm", "pnpx"] {
        std::os::unix::fs::symlink(support::guard::pkgward_bin(), g.shims.join(tool)).unwrap();
    }
    let home = &g.sb.home;
    // pnpm reads the registry from its config files.
    std::fs::write(home.join(".npmrc"), format!("registry={reg}\n")).unwrap();
    std::fs::write(home.join(".bashrc"), "# rc\n").unwrap();
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_rsa"), "FAKE-PRIVATE-KEY\n").unwrap();
    let tmp = g.sb.root().join("t".repeat(120));
    std::fs::create_dir_all(&tmp).unwrap();
    let tmp = tmp.to_str().unwrap().to_string();
    T { g, tmp }
}

impl T {
    fn run(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let g = &self.g;
        let store = g.sb.root().join("pnpm-store");
        let env = [
            ("npm_config_store_dir", store.to_str().unwrap()),
            ("PNPM_CONFIG_UPDATE_NOTIFIER", "false"),
            ("TMPDIR", self.tmp.as_str()),
        ];
        g.sb.command(
            g.shims.join(tool),
            &[
                g.sb.npm_env(&shared().npm_url()),
                g.pkgward_env(),
                to_env(&env),
            ],
        )
        .args(args)
        .output()
        .unwrap()
    }

    fn scripts(&self) -> Vec<serde_json::Value> {
        self.g
            .audit()
            .into_iter()
            .filter(|r| r["kind"] == "script")
            .collect()
    }

    /// pnpm's dlx cache entries (not the `pkg` links) in its default cache.
    fn entries(&self) -> Vec<PathBuf> {
        entries_in(&self.g.sb.home.join(".cache/pnpm"))
    }

    fn bashrc(&self) -> String {
        std::fs::read_to_string(self.g.sb.home.join(".bashrc")).unwrap()
    }
}

/// The dlx cache entries under the pnpm cache `cache`.
fn entries_in(cache: &std::path::Path) -> Vec<PathBuf> {
    let dlx = cache.join("dlx");
    let mut out = Vec::new();
    for h in std::fs::read_dir(dlx).into_iter().flatten().flatten() {
        for e in std::fs::read_dir(h.path()).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                out.push(e.path());
            }
        }
    }
    out
}

/// `pnpm dlx` and `pnpx`: the approved dependency is built in the entry
/// before the command runs, confined (it cannot read the key or write the
/// home), and recorded with its exit code, duration and sandbox; the
/// unapproved one's malicious postinstall does nothing, is listed with its
/// approve command and recorded as denied, once. A second run reuses the
/// entry: nothing installed, built, listed or recorded again.
#[test]
fn pnpm_dlx_builds_the_approved_dependency_before_its_command() {
    for (tool, args) in [
        ("pnpm", &["dlx", "pw-dlx-cli"][..]),
        ("pnpx", &["pw-dlx-cli"][..]),
    ] {
        let t = setup(&["pw-dlx-cli", "pw-dlx-native@^1.0.0"]);
        let o = t.run(tool, args);
        let err = text(&o.stderr);
        assert!(o.status.success(), "{tool}: {err}");
        // The bin found what the postinstall built; stdout is the bin's
        // alone (pnpm's and the build's output went to stderr).
        assert_eq!(text(&o.stdout), "native ok\n", "{tool}: {err}");
        assert_eq!(
            t.g.sb.marker("dlx-native").as_deref(),
            Some("key:unreadable bashrc:refused\n"),
            "{tool}: {err}"
        );
        assert_eq!(t.g.sb.marker("dlx-sneak"), None, "{tool}: {err}");
        assert_eq!(t.g.sb.marker("dlx-esbuild"), None, "{tool}: {err}");
        assert_eq!(t.bashrc(), "# rc\n");
        assert!(
            err.contains("approve: pkgward approve npm:pw-dlx-sneak@1.0.0"),
            "{tool}: {err}"
        );
        assert!(
            err.contains("pkgward approve npm:esbuild@0.99.0"),
            "{tool}: {err}"
        );
        assert!(!err.contains("approve npm:pw-dlx-native"), "{tool}: {err}");
        assert_eq!(err.matches("install-time code not run").count(), 1, "{err}");
        // How to have them built once approved: the entry's directory.
        let hint = format!(
            "once approved, removing {}/.cache/pnpm/dlx/",
            t.g.sb.home.display()
        );
        assert!(err.contains(&hint), "{tool}: {err}");
        // pnpm reused the prepared entry: nothing it installed itself.
        assert!(!err.contains("pnpm dlx did not build"), "{tool}: {err}");
        assert_eq!(t.entries().len(), 1, "{tool}: {:?}", t.entries());
        let inv = t.g.last_invocation();
        let recs = t.scripts();
        assert_eq!(recs.len(), 3, "{tool}: {recs:#?}");
        let native = recs
            .iter()
            .find(|r| r["package"] == "pw-dlx-native")
            .unwrap_or_else(|| panic!("{tool}: {recs:#?}"));
        assert_eq!(native["invocation_id"], inv["invocation_id"]);
        assert_eq!(native["decision"], "approved", "{native:#}");
        assert_eq!(native["ran"], true, "{native:#}");
        assert_eq!(native["version"], "1.0.0", "{native:#}");
        assert_eq!(native["exit_code"], 0, "{native:#}");
        assert!(native["duration_ms"].as_f64().is_some(), "{native:#}");
        assert!(native["sandbox"]["layers"].is_array(), "{native:#}");
        assert_eq!(native["runner"][0], "pnpm", "{native:#}");
        assert_eq!(native["runner"][1], "rebuild", "{native:#}");
        assert_eq!(
            native["path"],
            "node_modules/.pnpm/pw-dlx-native@1.0.0/node_modules/pw-dlx-native"
        );
        for p in ["pw-dlx-sneak", "esbuild"] {
            let r = recs
                .iter()
                .find(|r| r["package"] == p)
                .unwrap_or_else(|| panic!("{tool}: {p}: {recs:#?}"));
            assert_eq!(r["decision"], "deny", "{r:#}");
            assert_eq!(r["ran"], false, "{r:#}");
        }
        // Again: pnpm's entry as it is, nothing built, listed or recorded.
        let o = t.run(tool, args);
        let err = text(&o.stderr);
        assert!(o.status.success(), "{tool}: {err}");
        assert_eq!(text(&o.stdout), "native ok\n", "{tool}: {err}");
        assert!(!err.contains("install-time code not run"), "{tool}: {err}");
        assert_eq!(t.entries().len(), 1, "{tool}: {:?}", t.entries());
        assert_eq!(t.scripts().len(), 3, "{tool}: {err}");
        assert_eq!(t.bashrc(), "# rc\n");
    }
}

/// `pnpm create NAME` runs `create-NAME`: its approved dependency is built
/// before it runs.
#[test]
fn pnpm_create_builds_the_initializers_approved_dependency() {
    let t = setup(&["create-pw-dlxp", "pw-dlx-native"]);
    let o = t.run("pnpm", &["create", "pw-dlxp"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(text(&o.stdout), "create says native\n", "{err}");
    let recs = t.scripts();
    let r = recs
        .iter()
        .find(|r| r["package"] == "pw-dlx-native")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    assert_eq!(r["ran"], true, "{r:#}");
    assert_eq!(r["exit_code"], 0, "{r:#}");
    assert_eq!(t.entries().len(), 1, "{:?}", t.entries());
}

/// A failing approved build is the exit code (`pnpm rebuild`'s): the
/// entry is removed (not reused half built) and the command does not run.
#[test]
fn a_failing_approved_build_fails_pnpm_dlx_before_its_command() {
    let t = setup(&["pw-dlx-failcli", "pw-dlx-fails"]);
    let o = t.run("pnpm", &["dlx", "pw-dlx-failcli"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("exit status: 7"), "{err}");
    assert_eq!(text(&o.stdout), "", "{err}");
    assert!(t.entries().is_empty(), "{:?}", t.entries());
    let recs = t.scripts();
    let r = recs
        .iter()
        .find(|r| r["package"] == "pw-dlx-fails")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    assert_eq!(r["ran"], true, "{r:#}");
    assert_eq!(r["exit_code"], 1, "{r:#}");
}

/// A command line pkgward does not prepare (here `--cpu`, another tree):
/// pnpm installs the entry itself, with scripts off, and what it did not
/// build is listed and recorded after its run, as before.
#[test]
fn an_entry_pnpm_installs_itself_is_listed_after_its_run() {
    let t = setup(&["pw-dlx-cli", "pw-dlx-native"]);
    let o = t.run("pnpm", &["dlx", "--cpu=x64", "pw-dlx-cli"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert_eq!(text(&o.stdout), "native missing\n", "{err}");
    assert_eq!(t.g.sb.marker("dlx-native-ran"), None, "{err}");
    assert_eq!(t.g.sb.marker("dlx-sneak"), None, "{err}");
    assert!(err.contains("pnpm dlx did not build"), "{err}");
    assert!(
        err.contains("pkgward approve npm:pw-dlx-sneak@1.0.0"),
        "{err}"
    );
    let recs = t.scripts();
    let r = recs
        .iter()
        .find(|r| r["package"] == "pw-dlx-native")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    assert_eq!(r["ran"], false, "{r:#}");
    assert_eq!(t.entries().len(), 1, "{:?}", t.entries());
}

/// The user's own options cannot turn pnpm's scripts back on (pnpm reads
/// `--config.ignore-scripts=false` over pkgward's `--ignore-scripts`, and
/// `--allow-build` would then run the package it names): such a command
/// line is denied before pnpm runs.
#[test]
fn options_that_switch_the_scripts_back_on_are_denied() {
    let t = setup(&["pw-dlx-cli", "pw-dlx-native"]);
    for opt in [
        "--config.ignore-scripts=false",
        "--config.ignoreScripts=false",
        "--ignore-scripts=false",
        "--no-ignore-scripts",
    ] {
        let o = t.run(
            "pnpm",
            &[
                "dlx",
                "--cpu=x64",
                "--allow-build=pw-dlx-sneak",
                opt,
                "pw-dlx-cli",
            ],
        );
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(77), "{opt}: {err}");
        assert!(
            err.contains("would run every package's install scripts"),
            "{opt}: {err}"
        );
        assert_eq!(t.g.sb.marker("dlx-sneak"), None, "{opt}: {err}");
        assert_eq!(t.g.sb.marker("dlx-native-ran"), None, "{opt}: {err}");
    }
    // After the command, the option is the command's.
    let o = t.run("pnpm", &["dlx", "pw-dlx-cli", "--ignore-scripts=false"]);
    assert_ne!(o.status.code(), Some(77), "{}", text(&o.stderr));
}

/// pnpm 12 takes its cache from `cacheDir` in the project's
/// `pnpm-workspace.yaml` (not from `.npmrc`): the entry pkgward prepares
/// and builds is the one there, which the user's run then reuses.
#[test]
fn the_entry_is_prepared_in_the_cache_the_workspace_file_names() {
    let t = setup(&["pw-dlx-cli", "pw-dlx-native"]);
    let cache = t.g.sb.root().join("ws-cache");
    std::fs::write(
        t.g.sb.work.join("pnpm-workspace.yaml"),
        format!("cacheDir: {}\n", cache.display()),
    )
    .unwrap();
    let o = t.run("pnpm", &["dlx", "pw-dlx-cli"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(text(&o.stdout), "native ok\n", "{err}");
    assert_eq!(
        t.g.sb.marker("dlx-native").as_deref(),
        Some("key:unreadable bashrc:refused\n"),
        "{err}"
    );
    assert_eq!(t.g.sb.marker("dlx-sneak"), None, "{err}");
    assert!(
        err.contains("pkgward approve npm:pw-dlx-sneak@1.0.0"),
        "{err}"
    );
    assert_eq!(entries_in(&cache).len(), 1, "{err}");
    assert!(t.entries().is_empty(), "{:?}", t.entries());
}
