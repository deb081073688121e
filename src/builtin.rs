//! `builtin` in a policy stands for the tool's own default registry. pkgward
//! never hard-codes those URLs: it asks the real tool, once, and caches the
//! answer.
//!
//! Every probe runs the real tool (or, where the tool cannot tell, the tool
//! it defers to — see [`ask`]) with its settings removed from the
//! environment, from a fresh empty directory, and, for tools that read a
//! user config from the home directory, with an empty home. A probe refuses
//! to run when a config file the tools read from parent directories lies
//! above its directory (a planted `/tmp/.yarnrc.yml` would otherwise become
//! "the default"). Each probe is bounded in time ([`PROBE_TIMEOUT`]); a tool
//! that does not answer, answers nonsense or is missing makes the resolution
//! fail: the URLs stay unapproved and the reason is given ([`Resolved::problem`]).
//!
//! The cache entry is keyed by the tool name and path and holds the
//! fingerprints (inode, times, size) of the tool's file, of its canonical
//! file, and of the files the answer came from (pip's `index.py`, the yarn
//! release that answered): an upgrade of any of them re-resolves. Entries
//! older than [`CACHE_TTL`] are re-resolved too, for upgrades that touch
//! none of those files (a toolchain behind a `rustup` or `pyenv` proxy).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::record::hash;
use crate::tools::Tool;

/// A probe that has not exited after this long is killed and counts as a failure.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// A cached answer older than this is asked again.
pub const CACHE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The answer for one tool: its default registry URL(s), and why some could
/// not be resolved (then URLs that only `builtin` could approve stay unapproved).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    pub urls: Vec<String>,
    pub problem: Option<String>,
}

impl Resolved {
    pub fn failed(why: impl Into<String>) -> Resolved {
        Resolved {
            urls: Vec::new(),
            problem: Some(why.into()),
        }
    }
}

/// What a probe found: URLs, and the files whose change must re-resolve.
#[derive(Default)]
struct Probe {
    urls: Vec<String>,
    witnesses: Vec<PathBuf>,
    /// A part that could not be resolved (the rest is still usable).
    partial: Option<String>,
}

impl Probe {
    fn add(&mut self, url: String) {
        if !self.urls.contains(&url) {
            self.urls.push(url);
        }
    }
}

/// The default registry URL(s) of `tool`, asked of the real tool at `real`
/// (or read from the cache under `cache_dir`).
pub fn resolve(tool: Tool, real: &Path, cache_dir: Option<&Path>) -> Resolved {
    let Some(fps) = fingerprints(real) else {
        return Resolved::failed(format!(
            "pkgward could not read the real {} at {}",
            tool.name,
            real.display()
        ));
    };
    let entry: Option<PathBuf> = cache_dir.map(|d| {
        let key = hash::sha256_bytes(format!("{}\0{}", tool.name, real.display()).as_bytes());
        d.join(&key[..32])
    });
    if let Some(urls) = entry.as_deref().and_then(|e| read_cache(e, &fps)) {
        return Resolved {
            urls,
            problem: None,
        };
    }
    match ask(tool, real) {
        Ok(p) if p.urls.is_empty() => Resolved::failed(format!(
            "{} did not report a default registry{}",
            tool.name,
            p.partial.map(|w| format!(" ({w})")).unwrap_or_default()
        )),
        Ok(p) => {
            if let (Some(e), None) = (&entry, &p.partial) {
                write_cache(e, &fps, &p);
            }
            Resolved {
                urls: p.urls,
                problem: p.partial,
            }
        }
        Err(why) => Resolved::failed(why),
    }
}

const CACHE_MAGIC: &str = "pkgward-builtin 2";

/// Fingerprints of the tool's path and of its canonical file.
fn fingerprints(real: &Path) -> Option<Vec<String>> {
    let mut fps = vec![hash::fingerprint(&std::fs::metadata(real).ok()?)];
    if let Ok(canon) = std::fs::canonicalize(real) {
        if let Ok(m) = std::fs::metadata(&canon) {
            fps.push(format!("{} {}", hash::fingerprint(&m), canon.display()));
        }
    }
    Some(fps)
}

fn witness_line(p: &Path) -> Option<String> {
    let m = std::fs::metadata(p).ok()?;
    Some(format!("{}\t{}", hash::fingerprint(&m), p.display()))
}

fn read_cache(entry: &Path, fps: &[String]) -> Option<Vec<String>> {
    let meta = std::fs::metadata(entry).ok()?;
    let age = SystemTime::now()
        .duration_since(meta.modified().ok()?)
        .unwrap_or(Duration::MAX);
    if age > CACHE_TTL {
        return None;
    }
    let text = std::fs::read_to_string(entry).ok()?;
    let mut lines = text.lines();
    if lines.next() != Some(CACHE_MAGIC) {
        return None;
    }
    let mut seen_fps = Vec::new();
    let mut urls = Vec::new();
    for line in lines {
        let (kind, rest) = line.split_once(' ')?;
        match kind {
            "fp" => seen_fps.push(rest.to_string()),
            "witness" => {
                let (_, path) = rest.split_once('\t')?;
                if witness_line(Path::new(path)).as_deref() != Some(rest) {
                    return None;
                }
            }
            "url" => urls.push(rest.to_string()),
            _ => return None,
        }
    }
    (seen_fps == fps && !urls.is_empty()).then_some(urls)
}

fn write_cache(entry: &Path, fps: &[String], p: &Probe) {
    let mut text = format!("{CACHE_MAGIC}\n");
    for f in fps {
        text.push_str(&format!("fp {f}\n"));
    }
    for w in &p.witnesses {
        match witness_line(w) {
            Some(l) if !l.contains('\n') => text.push_str(&format!("witness {l}\n")),
            _ => return,
        }
    }
    for u in &p.urls {
        text.push_str(&format!("url {u}\n"));
    }
    if let Some(dir) = entry.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, entry).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Asks the tool (or the tool it defers to) for its default registry.
fn ask(tool: Tool, real: &Path) -> Result<Probe, String> {
    let mut p = Probe::default();
    match tool.name {
        "npm" | "npx" => {
            // npx has no `config`: ask the npm beside it.
            let npm = sibling(real, "npm").ok_or("no npm was found beside npx")?;
            p.add(npm_default(&npm)?);
        }
        "yarn" => {
            yarn_default(real, &mut p)?;
            npm_family_extra(real, &mut p);
        }
        "pnpm" | "pnpx" => {
            let pnpm = sibling(real, "pnpm").ok_or("no pnpm was found beside pnpx")?;
            p.add(pnpm_default(&pnpm)?);
            npm_family_extra(real, &mut p);
        }
        "bun" | "bunx" => {
            // bun has no command that prints its default registry; it is
            // documented to be npm's default, so the npm beside bun (or on
            // PATH) answers.
            let npm = sibling(real, "npm").ok_or(
                "bun cannot report its default registry and pkgward takes npm's, but no npm was found beside bun or on PATH",
            )?;
            p.add(npm_default(&npm)?);
        }
        "pip" | "pip3" => {
            p.add(pip_default(real)?);
            pypi_files(real, &mut p);
        }
        "uv" | "uvx" => {
            let uv = sibling(real, "uv").ok_or("no uv was found beside uvx")?;
            p.add(uv_default(&uv)?);
            pypi_files(real, &mut p);
        }
        "poetry" | "pipenv" | "pipx" => {
            // They use PyPI, as the pip of their own interpreter knows it.
            let python = python_for(real).ok_or_else(|| {
                format!("{} cannot report its default index and no Python with pip was found beside it or on PATH", tool.name)
            })?;
            let (index, files, witness) = python_pypi(&python)?;
            p.add(index);
            p.add(files);
            p.witnesses.push(witness);
        }
        "cargo" => p.add(cargo_default(real)?),
        "go" => {
            for u in go_default(real)? {
                p.add(u);
            }
        }
        "gem" | "bundle" => {
            let gem = sibling(real, "gem").ok_or("no gem was found beside bundle")?;
            for u in gem_default(&gem)? {
                p.add(u);
            }
        }
        "mvn" => {
            for u in mvn_default(real)? {
                p.add(u);
            }
        }
        "dotnet" | "nuget" => {
            for u in nuget_default(tool.name, real)? {
                p.add(u);
            }
        }
        "choco" => {
            for u in choco_default(real)? {
                p.add(u);
            }
        }
        other => {
            return Err(format!(
                "{other} has no single default registry pkgward can ask it for; approve its registry URLs explicitly"
            ))
        }
    }
    Ok(p)
}

/// For yarn and pnpm: npm's default registry too (they install npm's
/// packages and lockfiles written by npm name it). Optional.
fn npm_family_extra(real: &Path, p: &mut Probe) {
    if let Some(npm) = sibling(real, "npm") {
        if let Ok(u) = npm_default(&npm) {
            p.add(u);
        }
    }
}

/// `name` beside `real` (as given, then after symlinks), or on PATH outside
/// pkgward's shim directory. `real` itself when it already is `name`.
fn sibling(real: &Path, name: &str) -> Option<PathBuf> {
    let stem = real.file_stem()?.to_string_lossy().to_ascii_lowercase();
    if stem == name {
        return Some(real.to_path_buf());
    }
    let exts: &[&str] = if cfg!(windows) {
        &[".exe", ".cmd", ".bat", ""]
    } else {
        &[""]
    };
    let mut dirs: Vec<PathBuf> = real.parent().map(Path::to_path_buf).into_iter().collect();
    if let Some(d) = std::fs::canonicalize(real)
        .ok()
        .and_then(|c| c.parent().map(Path::to_path_buf))
    {
        dirs.push(d);
    }
    let exe = std::env::current_exe().ok();
    let me = exe
        .as_deref()
        .and_then(crate::supervise::resolve::FileId::of);
    for d in &dirs {
        for ext in exts {
            let c = d.join(format!("{name}{ext}"));
            if c.is_file() && (me.is_none() || crate::supervise::resolve::FileId::of(&c) != me) {
                return Some(c);
            }
        }
    }
    let shim_dirs: Vec<PathBuf> = crate::paths::default_shim_dir().into_iter().collect();
    let skip = crate::supervise::resolve::Skip::new(&shim_dirs, exe.as_deref());
    let path = std::env::var_os("PATH");
    let cwd = std::env::temp_dir();
    crate::supervise::resolve::find_real_tool(name, path.as_deref(), &cwd, &skip).0
}

/// Files the package managers read from the directories above a project:
/// one of them above the probe directory would bend the answer.
const UPWARD_CONFIG: &[&str] = &[
    ".npmrc",
    ".yarnrc",
    ".yarnrc.yml",
    "package.json",
    "pnpm-workspace.yaml",
    "bunfig.toml",
    ".gemrc",
    "Gemfile",
    ".mvn",
    "pom.xml",
    "nuget.config",
    "NuGet.Config",
    "uv.toml",
    "pyproject.toml",
    "pip.conf",
    "Cargo.toml",
    ".cargo",
    "go.mod",
    "go.work",
];

/// A fresh private directory (`work/` is the probe's cwd, `home/` an empty
/// home), removed when dropped.
struct ProbeDir {
    root: PathBuf,
}

impl ProbeDir {
    fn new(tag: &str) -> Result<ProbeDir, String> {
        let base = std::env::temp_dir();
        for dir in base.ancestors() {
            for name in UPWARD_CONFIG {
                let p = dir.join(name);
                if std::fs::symlink_metadata(&p).is_ok() {
                    return Err(format!(
                        "{} exists above pkgward's probe directory and would change the answer; remove it or set TMPDIR elsewhere",
                        p.display()
                    ));
                }
            }
        }
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let root = base.join(format!(
            "pkgward-builtin-{tag}-{}-{nanos}",
            std::process::id()
        ));
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&root)
            .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        let d = ProbeDir { root };
        for sub in ["work", "home"] {
            std::fs::create_dir(d.root.join(sub))
                .map_err(|e| format!("cannot create a probe directory: {e}"))?;
        }
        Ok(d)
    }
    fn work(&self) -> PathBuf {
        self.root.join("work")
    }
    fn home(&self) -> PathBuf {
        self.root.join("home")
    }
}

impl Drop for ProbeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A command for `program` with every pkgward variable and every variable
/// starting with one of `prefixes` (lowercase) removed, run in `dir/work`.
fn isolated(program: &Path, prefixes: &[&str], dir: &ProbeDir) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars_os() {
        let key = k.to_string_lossy().to_ascii_lowercase();
        if key.starts_with("pkgward_") || prefixes.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(&k);
        }
    }
    // Marks the run as a probe (wrappers and test stand-ins can tell).
    cmd.current_dir(dir.work()).env("PKGWARD_PROBE", "builtin");
    cmd
}

/// Also points every home and config directory variable at the empty home.
/// Corepack keeps its own cache (and may not download).
fn clean_home(cmd: &mut Command, dir: &ProbeDir) {
    let home = dir.home();
    if std::env::var_os("COREPACK_HOME").is_none() {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(dirs::cache_dir);
        if let Some(c) = cache {
            cmd.env("COREPACK_HOME", c.join("node").join("corepack"));
        }
    }
    cmd.env("COREPACK_ENABLE_NETWORK", "0")
        .env("COREPACK_ENABLE_DOWNLOAD_PROMPT", "0")
        .env("HOME", &home)
        .env("USERPROFILE", &home)
        .env("APPDATA", home.join("AppData").join("Roaming"))
        .env("LOCALAPPDATA", home.join("AppData").join("Local"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local").join("share"))
        .env("XDG_STATE_HOME", home.join(".local").join("state"))
        .env("XDG_CACHE_HOME", home.join(".cache"));
}

/// Runs `cmd` for at most [`PROBE_TIMEOUT`]; its stdout when it succeeds.
fn run(mut cmd: Command, what: &str) -> Result<String, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("`{what}` could not be started: {e}"))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.by_ref().take(4 << 20).read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    let deadline = std::time::Instant::now() + PROBE_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            _ => {
                kill_tree(&mut child);
                return Err(format!(
                    "`{what}` did not answer within {} s",
                    PROBE_TIMEOUT.as_secs()
                ));
            }
        }
    };
    // A leftover grandchild may keep the pipe open: wait a little, not forever.
    let out = rx
        .recv_timeout(Duration::from_secs(2))
        .map_err(|_| format!("`{what}` left a process holding its output"))?;
    if !status.success() {
        return Err(format!("`{what}` failed ({status})"));
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn kill_tree(child: &mut std::process::Child) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: signals the process group the probe leads (created above).
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A well-formed http(s) URL, as written by a tool.
fn checked_url(s: &str, what: &str) -> Result<String, String> {
    let s = s.trim().trim_start_matches('<').trim_end_matches('>');
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => Ok(s.to_string()),
        _ => Err(format!(
            "{what} answered {s:?}, which is not an http(s) URL"
        )),
    }
}

fn null_file() -> &'static str {
    if cfg!(windows) {
        "NUL"
    } else {
        "/dev/null"
    }
}

/// `npm config get registry` with no config files and no `npm_config_*`.
fn npm_default(npm: &Path) -> Result<String, String> {
    let dir = ProbeDir::new("npm")?;
    let mut cmd = isolated(npm, &["npm_config_"], &dir);
    clean_home(&mut cmd, &dir);
    // Files that do not exist: npm refuses one file for both roles.
    cmd.arg("config").arg("get").arg("registry");
    cmd.arg("--userconfig").arg(dir.home().join("user-npmrc"));
    cmd.arg("--globalconfig")
        .arg(dir.home().join("global-npmrc"));
    let out = run(cmd, "npm config get registry")?;
    checked_url(&out, "npm config get registry")
}

/// yarn 1: `yarn config get registry --no-default-rc`; yarn 2+ (berry):
/// `yarn config get npmRegistryServer`; both with an empty home.
fn yarn_default(yarn: &Path, p: &mut Probe) -> Result<(), String> {
    let dir = ProbeDir::new("yarn")?;
    let mut v = isolated(yarn, &["yarn_", "npm_config_"], &dir);
    clean_home(&mut v, &dir);
    v.arg("--version");
    let version = run(v, "yarn --version")?;
    let mut cmd = isolated(yarn, &["yarn_", "npm_config_"], &dir);
    clean_home(&mut cmd, &dir);
    let what = if version.trim().starts_with("1.") {
        cmd.args(["config", "get", "registry", "--no-default-rc"]);
        "yarn config get registry"
    } else {
        cmd.args(["config", "get", "npmRegistryServer"]);
        "yarn config get npmRegistryServer"
    };
    let out = run(cmd, what)?;
    p.add(checked_url(&out, what)?);
    if let Ok(c) = std::fs::canonicalize(yarn) {
        p.witnesses.push(c);
    }
    Ok(())
}

/// `pnpm config get registry` with an empty home and no npmrc.
fn pnpm_default(pnpm: &Path) -> Result<String, String> {
    let dir = ProbeDir::new("pnpm")?;
    let mut cmd = isolated(pnpm, &["npm_config_", "pnpm_"], &dir);
    clean_home(&mut cmd, &dir);
    cmd.args(["config", "get", "registry"]);
    let out = run(cmd, "pnpm config get registry")?;
    checked_url(&out, "pnpm config get registry")
}

/// pip documents its default index in `pip install --help`:
/// `-i, --index-url <url>  Base URL … (default <URL>)`.
fn pip_default(pip: &Path) -> Result<String, String> {
    let dir = ProbeDir::new("pip")?;
    let mut cmd = isolated(pip, &["pip_"], &dir);
    cmd.env("PIP_CONFIG_FILE", null_file())
        .args(["--isolated", "install", "--help"]);
    let out = run(cmd, "pip install --help")?;
    let url = parse_pip_help(&out)
        .ok_or("`pip install --help` does not state the default index any more")?;
    checked_url(&url, "pip install --help")
}

/// uv states its default index in `uv pip install --help`:
/// `--default-index … (by default: <URL>)`.
fn uv_default(uv: &Path) -> Result<String, String> {
    let dir = ProbeDir::new("uv")?;
    let mut cmd = isolated(uv, &["uv_"], &dir);
    cmd.env("UV_NO_CONFIG", "1")
        .env("NO_COLOR", "1")
        .args(["pip", "install", "--help"]);
    let out = run(cmd, "uv pip install --help")?;
    let url = parse_uv_help(&out)
        .ok_or("`uv pip install --help` does not state the default index any more")?;
    checked_url(&url, "uv pip install --help")
}

/// PyPI serves its files from a second host, which only the installed pip
/// names (`PyPI.file_storage_domain`): pip and uv download from it, and
/// uv.lock and poetry.lock list its URLs. Asked of the Python beside the
/// tool or on PATH; a failure leaves the index approved and the file URLs not.
fn pypi_files(real: &Path, p: &mut Probe) {
    match python_for(real)
        .ok_or_else(|| "no Python with pip was found".to_string())
        .and_then(|py| python_pypi(&py))
    {
        Ok((_, files, witness)) => {
            p.add(files);
            p.witnesses.push(witness);
        }
        Err(why) => p.partial = Some(format!("PyPI's file host could not be resolved: {why}")),
    }
}

/// A Python interpreter beside the tool (a venv, a pyenv shim directory) or on PATH.
fn python_for(real: &Path) -> Option<PathBuf> {
    ["python3", "python"].iter().find_map(|n| sibling(real, n))
}

/// (simple index URL, file host URL, pip's index.py) from the pip the
/// interpreter imports (`-I`: no user site, no PYTHON* variables).
fn python_pypi(python: &Path) -> Result<(String, String, PathBuf), String> {
    let dir = ProbeDir::new("python")?;
    let mut cmd = isolated(python, &["pip_", "python"], &dir);
    cmd.args([
        "-I",
        "-c",
        "from pip._internal.models import index as m\n\
         print(m.PyPI.simple_url)\n\
         print('https://' + m.PyPI.file_storage_domain + '/')\n\
         print(m.__file__)",
    ]);
    let what = "python -c 'pip._internal.models.index.PyPI'";
    let out = run(cmd, what)?;
    let mut lines = out.lines();
    let (Some(index), Some(files), Some(file)) = (lines.next(), lines.next(), lines.next()) else {
        return Err(format!("`{what}` answered {out:?}"));
    };
    Ok((
        checked_url(index, what)?,
        checked_url(files, what)?,
        PathBuf::from(file.trim()),
    ))
}

/// crates-io's identity as cargo writes it: a throwaway package with one
/// dependency, `cargo metadata --no-deps --offline` (no network).
fn cargo_default(cargo: &Path) -> Result<String, String> {
    let dir = ProbeDir::new("cargo")?;
    let work = dir.work();
    let io = |e: std::io::Error| format!("cannot write the cargo probe: {e}");
    std::fs::create_dir_all(work.join("src")).map_err(io)?;
    std::fs::write(
        work.join("Cargo.toml"),
        "[package]\nname = \"pkgward-probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[dependencies]\nprobe = \"1\"\n",
    )
    .map_err(io)?;
    std::fs::write(work.join("src/lib.rs"), "").map_err(io)?;
    let mut cmd = isolated(cargo, &["cargo_"], &dir);
    cmd.env("CARGO_HOME", dir.home()).args([
        "metadata",
        "--no-deps",
        "--offline",
        "--format-version",
        "1",
    ]);
    let what = "cargo metadata";
    let out = run(cmd, what)?;
    let v: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| format!("`{what}` answered no JSON: {e}"))?;
    let src = v["packages"][0]["dependencies"][0]["source"]
        .as_str()
        .ok_or("`cargo metadata` named no source for a crates-io dependency")?;
    let url = src.strip_prefix("sparse+").unwrap_or(src);
    let url = url.strip_prefix("registry+").unwrap_or(url);
    checked_url(url, what)?;
    Ok(src.to_string())
}

/// `go env GOPROXY` with no GOENV file and no GO* settings: the proxy URLs
/// of the toolchain's default list.
fn go_default(go: &Path) -> Result<Vec<String>, String> {
    let dir = ProbeDir::new("go")?;
    let mut cmd = isolated(go, &["go"], &dir);
    cmd.env("GOENV", "off")
        .env("GOTOOLCHAIN", "local")
        .args(["env", "GOPROXY"]);
    let out = run(cmd, "go env GOPROXY")?;
    let urls: Vec<String> = out
        .trim()
        .split([',', '|'])
        .map(str::trim)
        .filter(|e| e.contains("://"))
        .map(|u| checked_url(u, "go env GOPROXY"))
        .collect::<Result<_, _>>()?;
    if urls.is_empty() {
        return Err(format!(
            "`go env GOPROXY` names no proxy ({:?})",
            out.trim()
        ));
    }
    Ok(urls)
}

/// `gem sources --norc` (no gemrc of any kind, no GEM* variables).
fn gem_default(gem: &Path) -> Result<Vec<String>, String> {
    let dir = ProbeDir::new("gem")?;
    let mut cmd = isolated(gem, &["gem", "bundle", "ruby"], &dir);
    clean_home(&mut cmd, &dir);
    cmd.args(["sources", "--norc"]);
    let what = "gem sources --norc";
    let out = run(cmd, what)?;
    let urls = parse_gem_sources(&out)
        .into_iter()
        .map(|u| checked_url(&u, what))
        .collect::<Result<Vec<_>, _>>()?;
    if urls.is_empty() {
        return Err(format!("`{what}` lists no source"));
    }
    Ok(urls)
}

/// Maven states the repositories of a project in its debug output: an
/// empty project, empty settings files, an empty local repository, offline.
fn mvn_default(mvn: &Path) -> Result<Vec<String>, String> {
    let dir = ProbeDir::new("mvn")?;
    let work = dir.work();
    let io = |e: std::io::Error| format!("cannot write the maven probe: {e}");
    std::fs::write(
        work.join("pom.xml"),
        "<project><modelVersion>4.0.0</modelVersion><groupId>pkgward.probe</groupId>\
         <artifactId>probe</artifactId><version>0</version></project>\n",
    )
    .map_err(io)?;
    let settings = dir.home().join("settings.xml");
    std::fs::write(&settings, "<settings/>\n").map_err(io)?;
    let mut cmd = isolated(mvn, &["maven", "mvn", "m2_"], &dir);
    clean_home(&mut cmd, &dir);
    cmd.args(["-o", "-B", "-X", "-N", "-s"])
        .arg(&settings)
        .arg("-gs")
        .arg(&settings)
        .arg(format!(
            "-Dmaven.repo.local={}",
            dir.home().join("repo").display()
        ))
        .arg("validate");
    let what = "mvn -o -X validate";
    let out = run(cmd, what)?;
    let urls = parse_mvn_debug(&out)
        .into_iter()
        .map(|u| checked_url(&u, what))
        .collect::<Result<Vec<_>, _>>()?;
    if urls.is_empty() {
        return Err(format!("`{what}` lists no repository"));
    }
    Ok(urls)
}

/// `dotnet nuget list source` / `nuget sources list` with an empty home:
/// the sources NuGet puts in a fresh user config. The machine-wide config
/// (an administrator's) is read as it is.
fn nuget_default(name: &str, tool: &Path) -> Result<Vec<String>, String> {
    let dir = ProbeDir::new("nuget")?;
    let mut cmd = isolated(tool, &["nuget_"], &dir);
    clean_home(&mut cmd, &dir);
    cmd.env("DOTNET_CLI_HOME", dir.home())
        .env("DOTNET_NOLOGO", "1")
        .env("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
        .env("DOTNET_SKIP_FIRST_TIME_EXPERIENCE", "1");
    let what = if name == "dotnet" {
        cmd.args(["nuget", "list", "source"]);
        "dotnet nuget list source"
    } else {
        cmd.args(["sources", "list", "-NonInteractive"]);
        "nuget sources list"
    };
    let out = run(cmd, what)?;
    let urls = parse_nuget_sources(&out)
        .into_iter()
        .map(|u| checked_url(&u, what))
        .collect::<Result<Vec<_>, _>>()?;
    if urls.is_empty() {
        return Err(format!("`{what}` lists no enabled source"));
    }
    Ok(urls)
}

/// `choco source list --limit-output`: `name|url|disabled|…` lines. Choco's
/// configuration is machine-wide (an administrator's), read as it is.
fn choco_default(choco: &Path) -> Result<Vec<String>, String> {
    let dir = ProbeDir::new("choco")?;
    let mut cmd = isolated(choco, &["choco"], &dir);
    cmd.args(["source", "list", "--limit-output"]);
    let what = "choco source list";
    let out = run(cmd, what)?;
    let urls = out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split('|').collect();
            (f.len() >= 3 && f[1].contains("://") && !f[2].eq_ignore_ascii_case("true"))
                .then(|| f[1].to_string())
        })
        .map(|u| checked_url(&u, what))
        .collect::<Result<Vec<_>, _>>()?;
    if urls.is_empty() {
        return Err(format!("`{what}` lists no enabled source"));
    }
    Ok(urls)
}

pub(crate) fn parse_pip_help(help: &str) -> Option<String> {
    let at = help.find("--index-url")?;
    let rest = &help[at..];
    let d = rest.find("(default")?;
    let rest = &rest[d + "(default".len()..];
    let end = rest.find(')')?;
    let url: String = rest[..end].split_whitespace().collect();
    url.contains("://").then_some(url)
}

/// `--default-index <…>  The default package index (by default: <URL>)`.
pub(crate) fn parse_uv_help(help: &str) -> Option<String> {
    let at = help.find("--default-index")?;
    // Help text wraps anywhere: compare with single spaces.
    let rest: String = help[at..].split_whitespace().collect::<Vec<_>>().join(" ");
    let d = rest.find("by default:")?;
    let rest = &rest[d + "by default:".len()..];
    let end = rest.find([')', ']'])?;
    let url: String = rest[..end].split_whitespace().collect();
    let url = url
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string();
    url.contains("://").then_some(url)
}

/// The URLs under `*** CURRENT SOURCES ***`.
pub(crate) fn parse_gem_sources(out: &str) -> Vec<String> {
    let Some(at) = out.find("CURRENT SOURCES") else {
        return Vec::new();
    };
    out[at..]
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| l.contains("://") && !l.contains(char::is_whitespace))
        .map(str::to_string)
        .collect()
}

/// `Repositories (dependencies): [central (URL, default, releases), …]` and
/// the `(plugins)` line.
pub(crate) fn parse_mvn_debug(out: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for line in out.lines() {
        let Some(at) = line.find("Repositories (") else {
            continue;
        };
        let Some(list) = line[at..].split_once(": [").map(|(_, l)| l) else {
            continue;
        };
        for item in list.split(" (").skip(1) {
            if let Some(u) = item.split([',', ')']).next() {
                let u = u.trim().to_string();
                if u.contains("://") && !urls.contains(&u) {
                    urls.push(u);
                }
            }
        }
    }
    urls
}

/// `  1.  name [Enabled]` followed by the URL line.
pub(crate) fn parse_nuget_sources(out: &str) -> Vec<String> {
    let mut urls = Vec::new();
    let mut enabled = false;
    for line in out.lines().map(str::trim) {
        if line.ends_with("[Enabled]") {
            enabled = true;
        } else if line.ends_with("[Disabled]") {
            enabled = false;
        } else if enabled && line.contains("://") {
            urls.push(line.to_string());
            enabled = false;
        }
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_help() {
        let help = "  -i, --index-url <url>       Base URL of the Python Package Index (default\n                              https://pypi.example.com/simple). This should\n";
        assert_eq!(
            parse_pip_help(help).as_deref(),
            Some("https://pypi.example.com/simple")
        );
        assert_eq!(parse_pip_help("nothing"), None);
    }

    #[test]
    fn uv_help() {
        let help = "      --default-index <DEFAULT_INDEX>\n          The default package index (by default: <https://pypi.example.com/simple>) [env: UV_DEFAULT_INDEX]\n  -i, --index-url <INDEX_URL>\n          (Deprecated) (by\n          default: <https://other.example.com/simple>)\n";
        assert_eq!(
            parse_uv_help(help).as_deref(),
            Some("https://pypi.example.com/simple")
        );
        // Wrapped over lines.
        let help = "--default-index <X>\n  The default package index (by\n  default: <https://pypi.example.com/simple>)\n";
        assert_eq!(
            parse_uv_help(help).as_deref(),
            Some("https://pypi.example.com/simple")
        );
        assert_eq!(parse_uv_help("--default-index <X> none"), None);
    }

    #[test]
    fn gem_sources() {
        let out =
            "*** CURRENT SOURCES ***\n\nhttps://gems.example.com/\nhttps://two.example.com/\n";
        assert_eq!(
            parse_gem_sources(out),
            vec!["https://gems.example.com/", "https://two.example.com/"]
        );
        assert!(parse_gem_sources("https://x.example.com/").is_empty());
    }

    #[test]
    fn mvn_debug() {
        let out = "[DEBUG] Using local repository at /x\n[DEBUG] Repositories (dependencies): [central (https://repo.example.com/maven2, default, releases)]\n[DEBUG] Repositories (plugins)     : [central (https://repo.example.com/maven2, default, releases), other (https://plugins.example.com/m2, default, releases+snapshots)]\n";
        assert_eq!(
            parse_mvn_debug(out),
            vec![
                "https://repo.example.com/maven2",
                "https://plugins.example.com/m2"
            ]
        );
    }

    #[test]
    fn nuget_sources() {
        let out = "Registered Sources:\n  1.  feed [Enabled]\n      https://nuget.example.com/v3/index.json\n  2.  off [Disabled]\n      https://off.example.com/v3/index.json\n";
        assert_eq!(
            parse_nuget_sources(out),
            vec!["https://nuget.example.com/v3/index.json"]
        );
    }

    #[test]
    fn urls_are_checked() {
        assert!(checked_url(" https://r.example.com/ \n", "t").is_ok());
        assert!(checked_url("<https://r.example.com/simple>", "t").is_ok());
        assert!(checked_url("undefined", "t").is_err());
        assert!(checked_url("file:///etc", "t").is_err());
        assert!(checked_url("", "t").is_err());
    }
}
