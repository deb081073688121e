//! `pnpm dlx` / `pnpx` and `bunx` against the loopback registry, through
//! the pkgward shims: the fetched tool's approved dependency builds inside
//! the dlx run, confined (it cannot write outside, reach the listener or
//! read the private key), recorded with its exit code and duration; its
//! unapproved sibling's malicious postinstall does nothing and is listed
//! with the command that approves it and recorded as denied. Under
//! `default = "sandbox"` / `"allow"` and in audit mode every dependency of
//! a `pnpm dlx` tool builds in its run (sandbox: confined). bunx: the
//! same, pkgward preparing its cache entry before it runs; where pkgward
//! does not, bunx builds nothing, not even a package on bun's default
//! trusted list.

mod support;

use std::sync::OnceLock;

use support::guard::{text, to_env, Guarded};
use support::registry::Listener;
use support::{shared, NpmPackage};

fn fixtures() {
    support::pnpm_dlx_fixtures();
}

struct T {
    g: Guarded,
    exfil: Listener,
}

fn setup(tool: &str, policy_extra: &str) -> T {
    setup_in(tool, "enforce", policy_extra)
}

fn setup_in(tool: &str, mode: &str, policy_extra: &str) -> T {
    fixtures();
    let exfil = Listener::start();
    let host = exfil
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let reg = shared().npm_url();
    let g = Guarded::new(&format!(
        "mode = \"{mode}\"\n[registries]\nnpm = [\"{reg}\"]\n[network]\nallow = [\"{host}\"]\n{policy_extra}"
    ));
    std::os::unix::fs::symlink(support::guard::pkgward_bin(), g.shims.join(tool)).unwrap();
    let home = &g.sb.home;
    // pnpm and bun read the registry from their config files.
    std::fs::write(home.join(".npmrc"), format!("registry={reg}\n")).unwrap();
    std::fs::create_dir_all(home.join(".config")).unwrap();
    std::fs::write(
        home.join(".config/.bunfig.toml"),
        format!("[install]\nregistry = \"{reg}\"\n"),
    )
    .unwrap();
    std::fs::write(home.join(".bashrc"), "# rc\n").unwrap();
    std::fs::write(home.join(".exfil-url"), exfil.base_url()).unwrap();
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_rsa"), "FAKE-PRIVATE-KEY\n").unwrap();
    T { g, exfil }
}

fn run(t: &T, tool: &str, args: &[&str]) -> std::process::Output {
    run_with(t, tool, args, true)
}

/// `bun_cache`: bun's cache set by `BUN_INSTALL_CACHE_DIR` (`bun-cache`).
fn run_with(t: &T, tool: &str, args: &[&str], bun_cache: bool) -> std::process::Output {
    let g = &t.g;
    let root = g.sb.root().to_path_buf();
    let dir = |n: &str| root.join(n).to_string_lossy().into_owned();
    let env = [
        ("npm_config_store_dir", dir("pnpm-store")),
        ("PNPM_CONFIG_UPDATE_NOTIFIER", "false".into()),
        ("BUN_INSTALL_CACHE_DIR", dir("bun-cache")),
        ("DO_NOT_TRACK", "1".into()),
    ];
    let env: Vec<(&str, &str)> = env
        .iter()
        .filter(|(k, _)| bun_cache || *k != "BUN_INSTALL_CACHE_DIR")
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    g.sb.command(
        tool,
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

fn scripts(g: &Guarded) -> Vec<serde_json::Value> {
    g.audit()
        .into_iter()
        .filter(|r| r["kind"] == "script")
        .collect()
}

fn no_effects_of_sneak(t: &T) {
    assert_eq!(
        t.g.sb.marker("dlx-sneak"),
        None,
        "the sneak postinstall ran"
    );
    assert_eq!(t.exfil.connections().len(), 0, "the listener was reached");
    assert_eq!(
        std::fs::read_to_string(t.g.sb.home.join(".bashrc")).unwrap(),
        "# rc\n"
    );
}

/// `pnpm dlx` and `pnpx`: the approved dependency builds inside the run,
/// confined, and is recorded; the unapproved one is listed and recorded;
/// the tool works and its output and exit code are its own. Without the
/// approval the dependency does not build and the tool fails as it would.
#[test]
fn pnpm_dlx_builds_approved_packages_confined() {
    for (tool, args) in [
        ("pnpm", &["dlx", "pw-dlx-cli"][..]),
        ("pnpx", &["pw-dlx-cli"][..]),
    ] {
        let t = setup(
            tool,
            "[scripts]\nallow = [\"npm:pw-dlx-cli\", \"npm:pw-dlx-native@^1.0.0\"]\n",
        );
        let o = run(&t, tool, args);
        let (out, err) = (text(&o.stdout), text(&o.stderr));
        assert!(o.status.success(), "{tool}: {out}\n{err}");
        assert!(out.contains("native ok"), "{tool}: {out}\n{err}");
        let native = t.g.sb.marker("dlx-native").expect("the approved build ran");
        assert_eq!(native, "key:unreadable bashrc:refused\n", "{tool}: {err}");
        no_effects_of_sneak(&t);
        assert_eq!(t.g.sb.marker("dlx-esbuild"), None, "{tool}: {err}");
        assert!(
            err.contains("pkgward approve npm:pw-dlx-sneak@1.0.0"),
            "{tool}: {err}"
        );
        assert!(
            err.contains("pkgward approve npm:esbuild@0.99.0"),
            "{tool}: {err}"
        );
        assert!(!err.contains("approve npm:pw-dlx-native"), "{tool}: {err}");
        let recs = scripts(&t.g);
        let built = recs
            .iter()
            .find(|r| r["package"] == "pw-dlx-native")
            .unwrap_or_else(|| panic!("{tool}: pw-dlx-native not recorded: {recs:#?}"));
        assert_eq!(built["decision"], "approved", "{built:#}");
        assert_eq!(built["ran"], true, "{built:#}");
        assert_eq!(built["version"], "1.0.0", "{built:#}");
        assert_eq!(built["exit_code"], 0, "{built:#}");
        assert!(built["duration_ms"].is_number(), "{built:#}");
        assert!(built["sandbox"].is_object(), "{built:#}");
        let sneak = recs
            .iter()
            .find(|r| r["package"] == "pw-dlx-sneak")
            .expect("pw-dlx-sneak recorded");
        assert_eq!(sneak["decision"], "deny", "{sneak:#}");
        assert_eq!(sneak["ran"], false, "{sneak:#}");
    }
    // The range does not match the version pnpm installs: not built.
    let t = setup(
        "pnpm",
        "[scripts]\nallow = [\"npm:pw-dlx-cli\", \"npm:pw-dlx-native@^2\"]\n",
    );
    let o = run(&t, "pnpm", &["dlx", "pw-dlx-cli"]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(3), "{out}\n{err}");
    assert!(out.contains("native missing"), "{out}\n{err}");
    assert_eq!(t.g.sb.marker("dlx-native-ran"), None, "{err}");
    assert!(
        err.contains("pkgward approve npm:pw-dlx-native@1.0.0"),
        "{err}"
    );
    no_effects_of_sneak(&t);
}

/// `pnpm dlx` under `default = "sandbox"`: pnpm has no switch that makes
/// dlx start every build, so pkgward resolves the tree first and names each
/// package with install-time code as `--allow-build`; the dependency no
/// `allow` entry names builds inside the run, confined (it writes its own
/// directory, not the home; the listener hears nothing), recorded as
/// `sandbox` with its exit code. A second run reuses pnpm's cache entry
/// (the same `--allow-build` list, the same key): nothing is built again.
#[test]
fn pnpm_dlx_sandbox_default_builds_every_package_confined() {
    let t = setup(
        "pnpm",
        "[scripts]\ndefault = \"sandbox\"\nallow = [\"npm:pw-dlx-boxcli\"]\n",
    );
    let o = run(&t, "pnpm", &["dlx", "pw-dlx-boxcli"]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("boxed ok"), "{out}\n{err}");
    assert!(t.g.sb.marker("dlx-boxed-ran").is_some(), "{err}");
    assert_eq!(
        t.g.sb.marker("dlx-boxed").as_deref(),
        Some("bashrc:refused net:refused\n"),
        "{err}"
    );
    assert_eq!(t.exfil.connections().len(), 0, "the listener was reached");
    assert_eq!(
        std::fs::read_to_string(t.g.sb.home.join(".bashrc")).unwrap(),
        "# rc\n"
    );
    assert!(!err.contains("did not build"), "{err}");
    let recs = scripts(&t.g);
    let boxed: Vec<_> = recs
        .iter()
        .filter(|r| r["package"] == "pw-dlx-boxed")
        .collect();
    assert_eq!(boxed.len(), 1, "{recs:#?}");
    let boxed = boxed[0];
    assert_eq!(boxed["decision"], "sandbox", "{boxed:#}");
    assert_eq!(boxed["ran"], true, "{boxed:#}");
    assert_eq!(boxed["version"], "1.0.0", "{boxed:#}");
    assert_eq!(boxed["exit_code"], 0, "{boxed:#}");
    assert!(boxed["sandbox"].is_object(), "{boxed:#}");
    // pnpm's cache entry again: nothing built or recorded.
    let o = run(&t, "pnpm", &["dlx", "pw-dlx-boxcli"]);
    assert!(text(&o.stdout).contains("boxed ok"), "{}", text(&o.stderr));
    assert_eq!(scripts(&t.g).len(), recs.len(), "{}", text(&o.stderr));
}

/// `pnpx` in audit mode and `pnpm dlx` under `default = "allow"`: the
/// dependency no `allow` entry names builds inside the run and is recorded
/// (`would-deny` / `allow`, with its exit code).
#[test]
fn pnpm_dlx_audit_and_allow_build_every_package() {
    for (tool, args, mode, default, decision) in [
        (
            "pnpx",
            &["pw-dlx-boxcli"][..],
            "audit",
            "deny",
            "would-deny",
        ),
        (
            "pnpm",
            &["dlx", "pw-dlx-boxcli"][..],
            "enforce",
            "allow",
            "allow",
        ),
    ] {
        let t = setup_in(
            tool,
            mode,
            &format!("[scripts]\ndefault = \"{default}\"\nallow = [\"npm:pw-dlx-boxcli\"]\n"),
        );
        let o = run(&t, tool, args);
        let (out, err) = (text(&o.stdout), text(&o.stderr));
        assert!(o.status.success(), "{tool}: {out}\n{err}");
        assert!(out.contains("boxed ok"), "{tool}: {out}\n{err}");
        assert!(t.g.sb.marker("dlx-boxed-ran").is_some(), "{tool}: {err}");
        let recs = scripts(&t.g);
        let boxed = recs
            .iter()
            .find(|r| r["package"] == "pw-dlx-boxed")
            .unwrap_or_else(|| panic!("{tool}: {recs:#?}"));
        assert_eq!(boxed["decision"], decision, "{boxed:#}");
        assert_eq!(boxed["ran"], true, "{boxed:#}");
        assert_eq!(boxed["exit_code"], 0, "{boxed:#}");
    }
}

/// `bunx` / `bun x` with npm approvals: pkgward installs the package into
/// the cache entry bunx looks in, the approved dependency builds there,
/// confined, and is recorded; the unapproved one and `esbuild` (on bun's
/// default trusted list) do not run and are listed and recorded; bunx
/// then runs the command from that entry without installing again: its
/// stdout and exit code are the command's. A second run reuses the entry:
/// nothing is installed, built or recorded.
#[test]
fn bunx_builds_approved_packages_confined() {
    for (tool, args) in [
        ("bunx", &["pw-dlx-cli"][..]),
        ("bun", &["x", "pw-dlx-cli@^1.0.0"][..]),
    ] {
        let t = setup(
            tool,
            "[scripts]\nallow = [\"npm:pw-dlx-cli\", \"npm:pw-dlx-native@^1.0.0\"]\n",
        );
        let o = run(&t, tool, args);
        assert_prepared(&t, &o, "native ok\n");
        let err = text(&o.stderr);
        let native = t.g.sb.marker("dlx-native").unwrap();
        // Also on bun's default trusted list: not run either.
        assert_eq!(t.g.sb.marker("dlx-esbuild"), None, "{tool}: {err}");
        assert!(
            err.contains("pkgward approve npm:esbuild@0.99.0"),
            "{tool}: {err}"
        );
        let recs = scripts(&t.g);
        let built = recs
            .iter()
            .find(|r| r["package"] == "pw-dlx-native")
            .unwrap();
        assert_eq!(built["version"], "1.0.0", "{built:#}");
        let r: Vec<_> = recs.iter().filter(|r| r["package"] == "esbuild").collect();
        assert_eq!(r.len(), 1, "{tool}: {recs:#?}");
        assert_eq!(r[0]["decision"], "deny", "{:#}", r[0]);
        assert_eq!(r[0]["ran"], false, "{:#}", r[0]);
        // The cached entry again: nothing installed, built or recorded.
        let before = recs.len();
        let o = run(&t, tool, args);
        assert_eq!(text(&o.stdout), "native ok\n", "{}", text(&o.stderr));
        assert_eq!(t.g.sb.marker("dlx-native"), Some(native));
        assert_eq!(scripts(&t.g).len(), before, "{tool}: {}", text(&o.stderr));
    }
}

/// `bunx` where pkgward does not prepare the entry: no npm approvals, or an
/// option before the package that pkgward leaves to bunx (`--env-file`). Nothing
/// builds, not even a package on bun's default trusted list (`esbuild`);
/// the tool runs as bun leaves it. What it skipped is recorded (an
/// approved one as not run) and the denied ones are listed with their
/// approve command; a second run reuses bun's cache entry (pkgward does
/// not prepare it again) and records nothing.
#[test]
fn bunx_unprepared_runs_no_install_time_code_and_lists_what_it_skipped() {
    for (tool, args, again, allow) in [
        // Running fetched tools allowed as such: no npm package approved.
        (
            "bunx",
            &["pw-dlx-cli"][..],
            &["pw-dlx-cli"][..],
            "[]\nexec = \"allow\"",
        ),
        (
            "bun",
            &["x", "--env-file=/dev/null", "pw-dlx-cli"][..],
            // The same entry, which pkgward leaves as bunx reuses it.
            &["x", "pw-dlx-cli"][..],
            "[\"npm:pw-dlx-cli\", \"npm:pw-dlx-native\"]",
        ),
    ] {
        let t = setup(tool, &format!("[scripts]\nallow = {allow}\n"));
        let o = run(&t, tool, args);
        let (out, err) = (text(&o.stdout), text(&o.stderr));
        assert_eq!(o.status.code(), Some(3), "{tool}: {out}\n{err}");
        assert!(out.contains("native missing"), "{tool}: {out}\n{err}");
        assert_eq!(t.g.sb.marker("dlx-esbuild"), None, "{tool}: {err}");
        assert_eq!(t.g.sb.marker("dlx-native-ran"), None, "{tool}: {err}");
        no_effects_of_sneak(&t);
        for p in ["pw-dlx-sneak", "esbuild"] {
            assert!(
                err.contains(&format!("pkgward approve npm:{p}@")),
                "{tool}: {err}"
            );
        }
        let recs = scripts(&t.g);
        let native = recs
            .iter()
            .find(|r| r["package"] == "pw-dlx-native")
            .unwrap_or_else(|| panic!("{tool}: {recs:#?}"));
        assert_eq!(native["ran"], false, "{native:#}");
        if allow.starts_with("[]") {
            assert_eq!(native["decision"], "deny", "{native:#}");
        } else {
            assert_eq!(native["decision"], "approved", "{native:#}");
            assert!(
                err.contains("bunx did not build these approved packages")
                    && err.contains("pw-dlx-native@1.0.0"),
                "{tool}: {err}"
            );
        }
        let esbuild = recs
            .iter()
            .find(|r| r["package"] == "esbuild")
            .expect("esbuild recorded");
        assert_eq!(esbuild["decision"], "deny", "{esbuild:#}");
        // The cached entry again: nothing installed, nothing recorded.
        let before = scripts(&t.g).len();
        let o = run(&t, tool, again);
        assert!(text(&o.stdout).contains("native missing"));
        assert_eq!(scripts(&t.g).len(), before, "{tool}: {}", text(&o.stderr));
    }
}

/// `bunx` whose approved build fails: the command does not run, the exit
/// code is the build's failure, the build is recorded with its exit code,
/// and the cache entry is removed (the next run prepares it again).
#[test]
fn bunx_approved_build_failing_fails_the_run() {
    let t = setup(
        "bunx",
        "[scripts]\nallow = [\"npm:pw-dlx-failcli\", \"npm:pw-dlx-fails\"]\n",
    );
    let o = run(&t, "bunx", &["pw-dlx-failcli"]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(!o.status.success(), "{out}\n{err}");
    assert_ne!(o.status.code(), Some(77), "{out}\n{err}");
    assert!(!out.contains("command ran"), "{out}\n{err}");
    let recs = scripts(&t.g);
    let r = recs
        .iter()
        .find(|r| r["package"] == "pw-dlx-fails")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    assert_eq!(r["ran"], true, "{r:#}");
    assert!(r["exit_code"].as_i64().is_some_and(|c| c != 0), "{r:#}");
    let cache = t.g.sb.root().join("bun-cache");
    let left: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".bunx-"))
        .flat_map(|e| std::fs::read_dir(e.path()).unwrap().filter_map(|e| e.ok()))
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

// bunx: dist-tags, bun's cache set in bunfig.toml, `bun create`, `--package`.

fn bunx_fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        fixtures();
        let r = shared();
        let cli = "#!/usr/bin/env node\n\
                   const fs = require('fs'), path = require('path');\n\
                   const dir = path.dirname(require.resolve('pw-dlx-native/package.json'));\n\
                   if (!fs.existsSync(path.join(dir, 'built.txt'))) { console.log('native missing'); process.exit(3); }\n\
                   console.log('native ok', require('./package.json').version, process.argv.slice(2).join(' '));\n";
        let tool = |name: &str, version: &str| {
            NpmPackage::new(name, version)
                .dep("pw-dlx-native", "^1.0.0")
                .dep("pw-dlx-sneak", "^1.0.0")
                .executable("cli.js", cli)
        };
        // `latest` is a version without the dependency, `next` the one with it.
        r.publish_npm(
            &NpmPackage::new("pw-dlx-tagcli", "1.0.0")
                .field("bin", serde_json::json!({"pw-dlx-tagcli": "cli.js"}))
                .executable("cli.js", "#!/usr/bin/env node\nconsole.log('latest ran');\n"),
        );
        r.publish_npm(
            &tool("pw-dlx-tagcli", "2.0.0-beta.1")
                .field("bin", serde_json::json!({"pw-dlx-tagcli": "cli.js"}))
                .tag("next"),
        );
        // What `bun create pw-dlx` runs; a second command for `--package`.
        r.publish_npm(&tool("create-pw-dlx", "1.0.0").field(
            "bin",
            serde_json::json!({"create-pw-dlx": "cli.js", "pw-dlx-other": "cli.js"}),
        ));
    });
}

/// The bunx entries left in `cache` (`.bunx-<uid>/<entry>`).
fn bunx_entries(cache: &std::path::Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(cache)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".bunx-"))
        .flat_map(|e| std::fs::read_dir(e.path()).into_iter().flatten())
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("node_modules").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// The run printed `expected` and built the approved dependency confined
/// (recorded with its exit code, duration and sandbox); the unapproved
/// one did nothing and is listed and recorded as denied.
fn assert_prepared(t: &T, o: &std::process::Output, expected: &str) {
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{out}\n{err}");
    assert_eq!(out, expected, "{err}");
    let native = t.g.sb.marker("dlx-native").expect("the approved build ran");
    assert_eq!(native, "key:unreadable bashrc:refused\n", "{err}");
    no_effects_of_sneak(t);
    assert!(
        err.contains("pkgward approve npm:pw-dlx-sneak@1.0.0"),
        "{err}"
    );
    assert!(!err.contains("approve npm:pw-dlx-native"), "{err}");
    assert!(!err.contains("did not build"), "{err}");
    let recs = scripts(&t.g);
    let built: Vec<_> = recs
        .iter()
        .filter(|r| r["package"] == "pw-dlx-native")
        .collect();
    assert_eq!(built.len(), 1, "{recs:#?}");
    let built = built[0];
    assert_eq!(built["decision"], "approved", "{built:#}");
    assert_eq!(built["ran"], true, "{built:#}");
    assert_eq!(built["exit_code"], 0, "{built:#}");
    assert!(built["duration_ms"].is_number(), "{built:#}");
    assert!(built["sandbox"].is_object(), "{built:#}");
    let sneak: Vec<_> = recs
        .iter()
        .filter(|r| r["package"] == "pw-dlx-sneak")
        .collect();
    assert_eq!(sneak.len(), 1, "{recs:#?}");
    assert_eq!(sneak[0]["decision"], "deny", "{:#}", sneak[0]);
    assert_eq!(sneak[0]["ran"], false, "{:#}", sneak[0]);
}

const BUNX_ALLOW: &str = "[scripts]\nallow = [\"npm:pw-dlx-tagcli\", \"npm:create-pw-dlx\", \"npm:pw-dlx-native@^1.0.0\"]\n";

/// `bunx NAME@TAG` (and an explicit `@latest`): pkgward has the real bun
/// resolve the tag, prepares the entry of that version and runs bunx with
/// `NAME@VERSION`; bunx runs the tagged version's command from it without
/// installing (no `@next` entry); a second run reuses it.
#[test]
fn bunx_dist_tag_is_prepared_as_the_version_it_names() {
    bunx_fixtures();
    let t = setup("bunx", BUNX_ALLOW);
    let o = run(&t, "bunx", &["pw-dlx-tagcli@next", "a", "b"]);
    assert_prepared(&t, &o, "native ok 2.0.0-beta.1 a b\n");
    let cache = t.g.sb.root().join("bun-cache");
    assert_eq!(bunx_entries(&cache), ["pw-dlx-tagcli@2.0.0-beta.1"]);
    let before = scripts(&t.g).len();
    let o = run(&t, "bunx", &["pw-dlx-tagcli@next", "again"]);
    assert_eq!(
        text(&o.stdout),
        "native ok 2.0.0-beta.1 again\n",
        "{}",
        text(&o.stderr)
    );
    assert_eq!(scripts(&t.g).len(), before, "{}", text(&o.stderr));
    // `@latest` named explicitly: the version it names, its own entry.
    let o = run(&t, "bunx", &["pw-dlx-tagcli@latest"]);
    assert_eq!(text(&o.stdout), "latest ran\n", "{}", text(&o.stderr));
    assert_eq!(
        bunx_entries(&cache),
        ["pw-dlx-tagcli@1.0.0", "pw-dlx-tagcli@2.0.0-beta.1"]
    );
}

/// bun's cache directory set only in the global bunfig (relative to it):
/// pkgward prepares the entry there, where bunx looks.
#[test]
fn bunx_entry_is_prepared_in_the_bunfig_cache_dir() {
    bunx_fixtures();
    let t = setup("bunx", BUNX_ALLOW);
    let config = t.g.sb.home.join(".config");
    let bunfig = config.join(".bunfig.toml");
    let mut text_ = std::fs::read_to_string(&bunfig).unwrap();
    text_.push_str("[install.cache]\ndir = \"bunfig-cache\"\n");
    std::fs::write(&bunfig, text_).unwrap();
    let o = run_with(
        &t,
        "bunx",
        &["-p", "create-pw-dlx", "pw-dlx-other", "x"],
        false,
    );
    assert_prepared(&t, &o, "native ok 1.0.0 x\n");
    assert_eq!(
        bunx_entries(&config.join("bunfig-cache")),
        ["create-pw-dlx@latest"]
    );
}

/// `bun create NAME` (bunx of `create-NAME`) and `bunx --package PKG CMD`:
/// the entry bunx uses is prepared.
#[test]
fn bun_create_and_bunx_package_are_prepared() {
    bunx_fixtures();
    for (tool, args, expected) in [
        (
            "bun",
            &["create", "pw-dlx", "dest"][..],
            "native ok 1.0.0 dest\n",
        ),
        (
            "bunx",
            &["--bun", "--package=create-pw-dlx", "pw-dlx-other"][..],
            "native ok 1.0.0 \n",
        ),
    ] {
        let t = setup(tool, BUNX_ALLOW);
        let o = run(&t, tool, args);
        assert_prepared(&t, &o, expected);
        let cache = t.g.sb.root().join("bun-cache");
        assert_eq!(bunx_entries(&cache), ["create-pw-dlx@latest"], "{args:?}");
    }
}

/// An entry bunx would find stale (its `package.json` written more than a
/// day ago, whatever the age of the command) is prepared again: bunx
/// would reinstall it itself, without the build.
#[test]
fn bunx_stale_entry_is_prepared_again() {
    bunx_fixtures();
    let t = setup("bunx", BUNX_ALLOW);
    let o = run(&t, "bunx", &["create-pw-dlx@1.0.0", "one"]);
    assert_prepared(&t, &o, "native ok 1.0.0 one\n");
    let cache = t.g.sb.root().join("bun-cache");
    let private = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with(".bunx-"))
        .unwrap()
        .path();
    let manifest = private.join("create-pw-dlx@1.0.0/package.json");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 24 * 60 * 60);
    std::fs::File::options()
        .write(true)
        .open(&manifest)
        .unwrap()
        .set_modified(old)
        .unwrap();
    std::fs::remove_file(t.g.sb.markers.join("dlx-native")).unwrap();
    let o = run(&t, "bunx", &["create-pw-dlx@1.0.0", "two"]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(out, "native ok 1.0.0 two\n", "{err}");
    assert!(
        t.g.sb.marker("dlx-native").is_some(),
        "not built again: {err}"
    );
}

/// bunx in audit mode, with no npm package approved: pkgward still
/// prepares the entry, and every package's install-time code runs there
/// (what enforce mode would deny is recorded as such), as bun would have
/// run it without pkgward's switch; the command finds what the build made.
#[test]
fn bunx_in_audit_mode_builds_every_package() {
    let t = setup_in("bunx", "audit", "");
    let o = run(&t, "bunx", &["pw-dlx-boxcli"]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{out}\n{err}");
    assert_eq!(out, "boxed ok\n", "{err}");
    assert!(t.g.sb.marker("dlx-boxed-ran").is_some(), "{err}");
    let recs = scripts(&t.g);
    let boxed = recs
        .iter()
        .find(|r| r["package"] == "pw-dlx-boxed")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    assert_eq!(boxed["decision"], "would-deny", "{boxed:#}");
    assert_eq!(boxed["ran"], true, "{boxed:#}");
    assert_eq!(boxed["exit_code"], 0, "{boxed:#}");
}

// bunx: its options before the package.

/// bunx's options before the package, read as bunx reads them: bunx names
/// its entry after some (`--trust`: `+trust`, scripts staying off;
/// `--minimum-release-age`: `+min-age=AGE`; `--registry`:
/// `+registry=HASH`) and passes some to its install (`--verbose`,
/// `--silent`, the age, the registry); `--cwd` is where it looks for the
/// command first. pkgward prepares the entry bunx names, with those
/// options: the approved dependency builds there and bunx runs the command
/// from it, installing no entry of its own. Before that, `--no-install`
/// (bunx installs nothing: pkgward neither) and a `--registry` the policy
/// does not list (refused before anything runs) leave no entry.
#[test]
fn bunx_options_before_the_package_name_the_entry_pkgward_prepares() {
    let reg = shared().npm_url();
    let cases: [(&str, &[&str], &str); 2] = [
        (
            "bunx",
            &["--verbose", "--registry", &reg, "--trust", "pw-dlx-cli"],
            "pw-dlx-cli@latest+trust+registry=",
        ),
        (
            "bun",
            &[
                "x",
                "--silent",
                "--minimum-release-age=0",
                "--cwd=sub",
                "-p",
                "pw-dlx-cli",
                "pw-dlx-cli",
            ],
            "pw-dlx-cli@latest+min-age=0",
        ),
    ];
    for (i, (tool, args, entry)) in cases.into_iter().enumerate() {
        let t = setup(
            tool,
            "[scripts]\nallow = [\"npm:pw-dlx-cli\", \"npm:pw-dlx-native@^1.0.0\"]\n",
        );
        std::fs::create_dir_all(t.g.sb.work.join("sub")).unwrap();
        let cache = t.g.sb.root().join("bun-cache");
        if i == 0 {
            for (args, code) in [
                (&["--no-install", "pw-dlx-cli"][..], 1),
                (&["--registry", "http://127.0.0.1:9/", "pw-dlx-cli"][..], 77),
            ] {
                let o = run(&t, tool, args);
                let err = text(&o.stderr);
                assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
                assert!(bunx_entries(&cache).is_empty(), "{args:?}: {err}");
                assert_eq!(t.g.sb.marker("dlx-native-ran"), None, "{err}");
                assert!(scripts(&t.g).is_empty(), "{args:?}: {err}");
            }
        }
        let o = run(&t, tool, args);
        assert_prepared(&t, &o, "native ok\n");
        let entries = bunx_entries(&cache);
        assert_eq!(entries.len(), 1, "{args:?}: {entries:?}");
        assert!(entries[0].starts_with(entry), "{args:?}: {entries:?}");
    }
}
