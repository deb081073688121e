//! `builtin`: each tool's default registry is asked of the real tool (the
//! ones `.ci/run` installs: npm, yarn 1 and berry, pnpm, bun, pip, uv, gem,
//! mvn, cargo, go), and the answer is what the tool itself uses: compared
//! with the tool's own output in a clean environment, or — for bun, which
//! cannot print it — with the host bun connects to through a loopback proxy
//! that refuses every tunnel (nothing leaves the machine). Then `builtin` in
//! a policy approves an invocation whose config is untouched, and lockfiles
//! written against the default registry, through the real classify and
//! decide layers. Tools this machine lacks (dotnet, nuget, choco) are fakes
//! that print what the real tool prints.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pkgward::builtin::{resolve, Resolved};
use pkgward::classify::source::RealFiles;
use pkgward::classify::{self, Env, Request};
use pkgward::decide::registries::check;
use pkgward::tools::Tool;

fn real(name: &str) -> PathBuf {
    // Debian's python3-pip installs only `pip3` on some releases.
    let alt = if name == "pip" { "pip3" } else { name };
    which::which(name)
        .or_else(|_| which::which(alt))
        .unwrap_or_else(|_| {
            panic!(
            "{name} is not installed; .ci/run installs it (see its `tools the tests need` section)"
        )
        })
}

fn berry() -> PathBuf {
    let js = PathBuf::from("/opt/yarn-berry/node_modules/@yarnpkg/cli-dist/bin/yarn.js");
    assert!(
        js.is_file(),
        "yarn berry is not installed (`npm install --prefix /opt/yarn-berry @yarnpkg/cli-dist`, see .ci/run)"
    );
    js
}

fn tool(name: &str) -> Tool {
    Tool::by_name(name).unwrap()
}

/// Resolves and checks the answer is complete and made of http(s) URLs.
fn resolved(name: &str, path: &Path) -> Vec<String> {
    let r = resolve(tool(name), path, None);
    assert_eq!(r.problem, None, "{name}: {r:?}");
    assert!(!r.urls.is_empty(), "{name}: no URL");
    for u in &r.urls {
        let parsed = url::Url::parse(u.strip_prefix("registry+").unwrap_or(u))
            .unwrap_or_else(|e| panic!("{name}: {u:?} is not a URL: {e}"));
        assert_eq!(parsed.scheme(), "https", "{name}: {u}");
        assert!(
            parsed.host_str().is_some_and(|h| h.contains('.')),
            "{name}: {u}"
        );
    }
    r.urls
}

/// The tool's own output in a clean environment: an empty home, an empty
/// directory, no settings variables.
fn own_output(program: &Path, args: &[&str], pre: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars() {
        let l = k.to_ascii_lowercase();
        if l.starts_with("npm_config_") || l.starts_with("yarn_") || l.starts_with("pnpm_") {
            cmd.env_remove(&k);
        }
    }
    let out = cmd
        .args(pre)
        .args(args)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join(".config"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{program:?} {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

#[test]
fn npm_answers_like_npm() {
    let npm = real("npm");
    let urls = resolved("npm", &npm);
    assert_eq!(
        urls,
        vec![own_output(&npm, &["config", "get", "registry"], &[])]
    );
    // npx asks the npm beside it.
    assert_eq!(resolved("npx", &real("npx")), urls);
}

#[test]
fn yarn_classic_answers_like_yarn() {
    let yarn = real("yarn");
    let urls = resolved("yarn", &yarn);
    let own = own_output(&yarn, &["config", "get", "registry"], &[]);
    assert!(same_url(&urls[0], &own), "{urls:?} vs {own}");
    // npm's default registry is part of yarn's builtin (lockfiles name it).
    let npm = resolved("npm", &real("npm"));
    assert!(urls.contains(&npm[0]), "{urls:?}");
}

#[test]
fn yarn_berry_answers_like_berry() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("yarn");
    std::os::unix::fs::symlink(berry(), &link).unwrap();
    let urls = resolved("yarn", &link);
    let own = own_output(
        Path::new("node"),
        &["config", "get", "npmRegistryServer"],
        &[berry().to_str().unwrap()],
    );
    assert!(same_url(&urls[0], &own), "{urls:?} vs {own}");
}

#[test]
fn pnpm_answers_like_pnpm() {
    let pnpm = real("pnpm");
    let urls = resolved("pnpm", &pnpm);
    let own = own_output(&pnpm, &["config", "get", "registry"], &[]);
    assert!(same_url(&urls[0], &own), "{urls:?} vs {own}");
}

/// Runs `cmd` with a loopback HTTPS proxy that refuses every tunnel; the
/// host the tool asked to connect to.
fn connect_host(mut cmd: Command) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    for v in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
    ] {
        cmd.env(v, &proxy);
    }
    cmd.env_remove("NO_PROXY").env_remove("no_proxy");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 4096];
    let n = conn.read(&mut buf).unwrap();
    let _ = conn.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    drop(conn);
    let _ = child.kill();
    let _ = child.wait();
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    let target = head
        .strip_prefix("CONNECT ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("not a CONNECT: {head:?}"));
    target
        .rsplit_once(':')
        .map_or(target, |(h, _)| h)
        .to_string()
}

#[test]
fn bun_answers_with_the_registry_bun_connects_to() {
    let bun = real("bun");
    let urls = resolved("bun", &bun);
    assert_eq!(urls, resolved("npm", &real("npm")));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("package.json"),
        r#"{"name":"probe","dependencies":{"pkgward-probe":"1"}}"#,
    )
    .unwrap();
    let mut cmd = Command::new(&bun);
    cmd.args(["install", "--no-cache"])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env_remove("BUN_CONFIG_REGISTRY")
        .env_remove("NPM_CONFIG_REGISTRY")
        .env_remove("npm_config_registry");
    let host = connect_host(cmd);
    assert_eq!(
        url::Url::parse(&urls[0]).unwrap().host_str(),
        Some(host.as_str())
    );
}

#[test]
fn pip_answers_its_index_and_file_host() {
    let pip = real("pip");
    let urls = resolved("pip", &pip);
    assert_eq!(urls.len(), 2, "{urls:?}");
    // The index is the one pip connects to.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(&pip);
    cmd.args(["--isolated", "download", "--no-deps", "-d"])
        .arg(dir.path())
        .arg("pkgward-probe")
        .args(["--retries", "0"])
        .env("PIP_CONFIG_FILE", "/dev/null");
    let host = connect_host(cmd);
    assert_eq!(
        url::Url::parse(&urls[0]).unwrap().host_str(),
        Some(host.as_str())
    );
    // The file host comes from pip's own PyPI model.
    let py = Command::new("python3")
        .args([
            "-c",
            "from pip._internal.models.index import PyPI; print(PyPI.file_storage_domain)",
        ])
        .output()
        .unwrap();
    let files = String::from_utf8(py.stdout).unwrap();
    assert_eq!(
        url::Url::parse(&urls[1]).unwrap().host_str(),
        Some(files.trim())
    );
}

fn uv_bin() -> PathBuf {
    which::which("uv").unwrap_or_else(|_| {
        let out = Command::new("python3")
            .args(["-c", "import uv; print(uv.find_uv_bin())"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "uv is not installed (.ci/run installs it)"
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

#[test]
fn uv_answers_the_index_it_connects_to() {
    let uv = uv_bin();
    let urls = resolved("uv", &uv);
    let pip = resolved("pip", &real("pip"));
    assert!(same_url(&urls[0], &pip[0]), "{urls:?} vs {pip:?}");
    assert!(urls.contains(&pip[1]), "PyPI's file host: {urls:?}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("req.txt"), "pkgward-probe\n").unwrap();
    let mut cmd2 = Command::new(&uv);
    cmd2.args(["pip", "compile", "--no-config", "--no-cache", "req.txt"])
        .current_dir(dir.path())
        .env("UV_HTTP_RETRIES", "0");
    for k in [
        "UV_DEFAULT_INDEX",
        "UV_INDEX_URL",
        "UV_INDEX",
        "UV_EXTRA_INDEX_URL",
    ] {
        cmd2.env_remove(k);
    }
    let host = connect_host(cmd2);
    assert_eq!(
        url::Url::parse(&urls[0]).unwrap().host_str(),
        Some(host.as_str())
    );
}

#[test]
fn gem_and_bundle_answer_like_gem() {
    let gem = real("gem");
    let urls = resolved("gem", &gem);
    let own = own_output(&gem, &["sources"], &[]);
    let listed: Vec<&str> = own.lines().filter(|l| l.contains("://")).collect();
    assert_eq!(urls, listed);
    assert_eq!(resolved("bundle", &real("bundle")), urls);
}

#[test]
fn mvn_answers_central_offline() {
    let mvn = real("mvn");
    let urls = resolved("mvn", &mvn);
    // The same repository `mvn help:effective-pom`-free debug output names
    // for a project in a clean home (what maven uses to download).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pom.xml"),
        "<project><modelVersion>4.0.0</modelVersion><groupId>t</groupId><artifactId>t</artifactId><version>0</version></project>",
    )
    .unwrap();
    let out = Command::new(&mvn)
        .args(["-o", "-B", "-X", "validate"])
        .arg(format!(
            "-Dmaven.repo.local={}",
            dir.path().join("repo").display()
        ))
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env_remove("MAVEN_OPTS")
        .env_remove("MAVEN_ARGS")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Repositories (dependencies)"))
        .expect("maven's debug output names its repositories");
    assert!(
        line.contains(&format!("({},", urls[0])),
        "{urls:?} vs {line}"
    );
}

#[test]
fn cargo_and_go_answer() {
    let cargo = resolved("cargo", &real("cargo"));
    assert!(cargo[0].starts_with("registry+https://") || cargo[0].starts_with("sparse+https://"));
    let go = resolved("go", &real("go"));
    let own = Command::new(real("go"))
        .args(["env", "GOPROXY"])
        .env("GOENV", "off")
        .env_remove("GOPROXY")
        .env_remove("GOFLAGS")
        .output()
        .unwrap();
    let own = String::from_utf8(own.stdout).unwrap();
    assert!(own.contains(&go[0]), "{go:?} vs {own}");
}

/// A fake tool: a shell script printing `out` (and recording its argv and
/// HOME, to prove the probe did not see the user's).
fn fake(dir: &Path, name: &str, out: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\necho \"$@\" >> \"{log}\"\necho \"HOME=$HOME\" >> \"{log}\"\ncat <<'EOF'\n{out}\nEOF\n",
            log = dir.join(format!("{name}.log")).display()
        ),
    )
    .unwrap();
    let mut perm = std::fs::metadata(&p).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&p, perm).unwrap();
    p
}

#[test]
fn dotnet_nuget_and_choco_fakes() {
    let dir = tempfile::tempdir().unwrap();
    let listing = "Registered Sources:\n  1.  feed [Enabled]\n      https://nuget.example.com/v3/index.json\n  2.  old [Disabled]\n      https://old.example.com/v3/index.json";
    let dotnet = fake(dir.path(), "dotnet", listing);
    assert_eq!(
        resolved("dotnet", &dotnet),
        vec!["https://nuget.example.com/v3/index.json"]
    );
    let log = std::fs::read_to_string(dir.path().join("dotnet.log")).unwrap();
    assert!(log.contains("nuget list source"), "{log}");
    assert!(
        !log.contains(&format!("HOME={}\n", std::env::var("HOME").unwrap())),
        "{log}"
    );
    let nuget = fake(dir.path(), "nuget", listing);
    assert_eq!(
        resolved("nuget", &nuget),
        vec!["https://nuget.example.com/v3/index.json"]
    );
    let choco = fake(
        dir.path(),
        "choco",
        "community|https://choco.example.com/api/v2/|False|||0|False|False|False\noff|https://off.example.com/|True|||0|False|False|False",
    );
    assert_eq!(
        resolved("choco", &choco),
        vec!["https://choco.example.com/api/v2/"]
    );
}

#[test]
fn a_tool_that_answers_nonsense_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let bad = fake(
        dir.path(),
        "dotnet",
        "Registered Sources:\n  1.  x [Enabled]\n      javascript://alert",
    );
    let r = resolve(tool("dotnet"), &bad, None);
    assert!(r.urls.is_empty() && r.problem.is_some(), "{r:?}");
    let none = fake(dir.path(), "choco", "");
    let r = resolve(tool("choco"), &none, None);
    assert!(r.problem.unwrap().contains("no enabled source"));
    let r = resolve(tool("npm"), &dir.path().join("missing"), None);
    assert!(r.problem.is_some());
    // gradle has no default repository.
    let r = resolve(tool("gradle"), &none, None);
    assert!(r
        .problem
        .unwrap()
        .contains("approve its registry URLs explicitly"));
}

#[test]
fn the_cache_answers_until_the_tool_changes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let choco = fake(dir.path(), "choco", "a|https://one.example.com/|False");
    let first = resolve(tool("choco"), &choco, Some(&cache));
    assert_eq!(first.urls, vec!["https://one.example.com/"]);
    // The same file: the cached answer (the fake is not run again).
    let log = dir.path().join("choco.log");
    std::fs::remove_file(&log).unwrap();
    assert_eq!(resolve(tool("choco"), &choco, Some(&cache)), first);
    assert!(!log.exists());
    // An upgrade (a new file in its place): asked again.
    std::fs::remove_file(&choco).unwrap();
    let choco = fake(dir.path(), "choco", "a|https://two.example.com/|False");
    assert_eq!(
        resolve(tool("choco"), &choco, Some(&cache)).urls,
        vec!["https://two.example.com/"]
    );
    // A failure is not cached.
    std::fs::remove_file(&choco).unwrap();
    let choco = fake(dir.path(), "choco", "");
    assert!(resolve(tool("choco"), &choco, Some(&cache))
        .problem
        .is_some());
}

struct NoEnv;
impl Env for NoEnv {
    fn get(&self, _: &str) -> Option<String> {
        None
    }
    fn vars(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Classifies `args` for `name` in `project` with no settings anywhere and
/// decides them against `["builtin"]`, resolved from the real tool.
fn decide(name: &str, real_path: &Path, args: &[&str], project: &Path) -> Vec<String> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let home = project.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let canonical = std::fs::canonicalize(real_path).ok();
    let req = Request {
        tool: tool(name),
        args: &args,
        env: &NoEnv,
        files: &RealFiles,
        cwd: project,
        home: Some(&home),
        real_tool: canonical.as_deref(),
    };
    let c = classify::classify(&req);
    assert!(!c.sources.is_empty(), "{name}: no source classified");
    let mut b = || -> Resolved { resolve(tool(name), real_path, None) };
    let reasons = check(&c.sources, &["builtin".to_string()], &mut b);
    reasons.into_iter().map(|r| r.message).collect()
}

#[test]
fn builtin_approves_untouched_installs_and_default_registry_lockfiles() {
    // npm: an untouched install, then a package-lock.json from the default registry.
    let npm = real("npm");
    let reg = resolved("npm", &npm)[0].clone();
    let p = tempfile::tempdir().unwrap();
    std::fs::write(
        p.path().join("package.json"),
        r#"{"name":"app","version":"1.0.0"}"#,
    )
    .unwrap();
    assert_eq!(
        decide("npm", &npm, &["install", "left-pad"], p.path()),
        Vec::<String>::new()
    );
    let lock = |url: &str| {
        format!(
            r#"{{"name":"app","lockfileVersion":3,"packages":{{"":{{"name":"app"}},"node_modules/left-pad":{{"version":"1.3.0","resolved":"{url}","integrity":"sha512-AAAA"}}}}}}"#
        )
    };
    let tgz = format!(
        "{}/left-pad/-/left-pad-1.3.0.tgz",
        reg.trim_end_matches('/')
    );
    std::fs::write(p.path().join("package-lock.json"), lock(&tgz)).unwrap();
    assert_eq!(decide("npm", &npm, &["ci"], p.path()), Vec::<String>::new());
    std::fs::write(
        p.path().join("package-lock.json"),
        lock("https://registry.example.test/left-pad/-/left-pad-1.3.0.tgz"),
    )
    .unwrap();
    assert_eq!(decide("npm", &npm, &["ci"], p.path()).len(), 1);

    // yarn 1: a yarn.lock from yarn's default registry.
    let yarn = real("yarn");
    let yreg = resolved("yarn", &yarn)[0].clone();
    let p = tempfile::tempdir().unwrap();
    std::fs::write(
        p.path().join("package.json"),
        r#"{"name":"app","version":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(
        p.path().join("yarn.lock"),
        format!(
            "# yarn lockfile v1\n\n\nleft-pad@^1.3.0:\n  version \"1.3.0\"\n  resolved \"{}/left-pad/-/left-pad-1.3.0.tgz#abc\"\n  integrity sha512-AAAA\n",
            yreg.trim_end_matches('/')
        ),
    )
    .unwrap();
    assert_eq!(
        decide("yarn", &yarn, &["install"], p.path()),
        Vec::<String>::new()
    );

    // pnpm and bun: untouched installs.
    let p = tempfile::tempdir().unwrap();
    std::fs::write(
        p.path().join("package.json"),
        r#"{"name":"app","version":"1.0.0"}"#,
    )
    .unwrap();
    assert_eq!(
        decide("pnpm", &real("pnpm"), &["add", "left-pad"], p.path()),
        Vec::<String>::new()
    );
    assert_eq!(
        decide("bun", &real("bun"), &["add", "left-pad"], p.path()),
        Vec::<String>::new()
    );

    // pip: an untouched install.
    assert_eq!(
        decide("pip", &real("pip"), &["install", "six"], p.path()),
        Vec::<String>::new()
    );
}

#[test]
fn builtin_approves_a_uv_lock_from_pypi_files_host() {
    let uv = uv_bin();
    let urls = resolved("uv", &uv);
    let (index, files) = (urls[0].clone(), urls[1].clone());
    let p = tempfile::tempdir().unwrap();
    std::fs::write(
        p.path().join("pyproject.toml"),
        "[project]\nname = \"app\"\nversion = \"0.1\"\ndependencies = [\"six\"]\n",
    )
    .unwrap();
    let lock = |file_host: &str| {
        format!(
            "version = 1\nrequires-python = \">=3.8\"\n\n[[package]]\nname = \"six\"\nversion = \"1.16.0\"\nsource = {{ registry = \"{index}\" }}\nsdist = {{ url = \"{f}packages/source/s/six/six-1.16.0.tar.gz\", hash = \"sha256:00\" }}\nwheels = [\n    {{ url = \"{f}packages/py2.py3/s/six/six-1.16.0-py2.py3-none-any.whl\", hash = \"sha256:00\" }},\n]\n\n[[package]]\nname = \"app\"\nversion = \"0.1\"\nsource = {{ editable = \".\" }}\n",
            f = file_host
        )
    };
    std::fs::write(p.path().join("uv.lock"), lock(&files)).unwrap();
    assert_eq!(decide("uv", &uv, &["sync"], p.path()), Vec::<String>::new());
    std::fs::write(
        p.path().join("uv.lock"),
        lock("https://files.example.test/"),
    )
    .unwrap();
    let denied = decide("uv", &uv, &["sync"], p.path());
    assert!(
        !denied.is_empty() && denied.iter().all(|m| m.contains("files.example.test")),
        "{denied:?}"
    );
}
