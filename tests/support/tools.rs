//! Isolated environments for running the real npm, pip and cargo against
//! the loopback registries: a temp HOME, caches and config, and nothing
//! inherited from the machine's own setup (the env is cleared; user and
//! global config files are replaced by files inside the sandbox).

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use super::MARKER_DIR_ENV;

pub type EnvList = Vec<(String, OsString)>;

/// Finds `name` on the test process's PATH.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The real `npm` (a script run by `node`, which must be on PATH).
pub fn real_npm() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| find_in_path("npm").expect("npm not found on PATH"))
        .clone()
}

/// The real Python interpreter (`sys.executable` of `python3` on PATH, so a
/// pyenv shim is resolved once, with the caller's env, and not used after).
pub fn real_python() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("run python3");
        assert!(out.status.success(), "python3 failed: {out:?}");
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
    .clone()
}

/// The cargo running these tests (`$CARGO`), not the rustup proxy.
pub fn real_cargo() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        std::env::var_os("CARGO")
            .map(PathBuf::from)
            .or_else(|| option_env!("CARGO").map(PathBuf::from))
            .filter(|p| p.is_file())
            .or_else(|| find_in_path("cargo"))
            .expect("cargo not found")
    })
    .clone()
}

/// `rustc` beside [`real_cargo`] when there is one (a toolchain dir).
pub fn real_rustc() -> PathBuf {
    let sib = real_cargo().with_file_name("rustc");
    if sib.is_file() {
        sib
    } else {
        find_in_path("rustc").expect("rustc not found")
    }
}

fn rustup_home() -> Option<OsString> {
    std::env::var_os("RUSTUP_HOME").or_else(|| {
        let p = PathBuf::from(std::env::var_os("HOME")?).join(".rustup");
        p.is_dir().then(|| p.into_os_string())
    })
}

/// A temp directory tree for one test: `home/`, `work/` (the current
/// directory of commands), `markers/` (`$FIXTURE_MARKER_DIR`), caches.
pub struct Sandbox {
    pub tmp: tempfile::TempDir,
    pub home: PathBuf,
    pub work: PathBuf,
    pub markers: PathBuf,
    extra: EnvList,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        for d in [
            "home",
            "work",
            "markers",
            "tmp",
            "etc",
            "npm-cache",
            "pip-cache",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::create_dir_all(root.join("cargo-home")).unwrap();
        fs::write(root.join("home/.npmrc"), "").unwrap();
        fs::write(root.join("etc/npmrc"), "").unwrap();
        Sandbox {
            home: root.join("home"),
            work: root.join("work"),
            markers: root.join("markers"),
            extra: Vec::new(),
            tmp,
        }
    }

    /// An extra variable for every command this sandbox makes.
    pub fn set_env(&mut self, key: &str, value: impl Into<OsString>) {
        self.extra.retain(|(k, _)| k != key);
        self.extra.push((key.to_string(), value.into()));
    }

    /// Sends every non-loopback HTTP(S) request of the tools to `proxy_url`
    /// (e.g. a [`super::Listener`]), so a request meant for a public host is
    /// recorded there and fails instead of leaving the machine.
    pub fn trap_proxies(&mut self, proxy_url: &str) {
        for k in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "http_proxy",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            self.set_env(k, proxy_url);
        }
        for k in ["NO_PROXY", "no_proxy"] {
            self.set_env(k, "127.0.0.1,localhost");
        }
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// Writes `rel` under `work/` (creating parents) and returns its path.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.work.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, contents).unwrap();
        p
    }

    /// The contents of marker `name`, if fixture code wrote it.
    pub fn marker(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.markers.join(name)).ok()
    }

    /// PATH, HOME, XDG dirs, TMPDIR, locale, and `$FIXTURE_MARKER_DIR`.
    pub fn base_env(&self) -> EnvList {
        let r = self.root();
        let mut v: EnvList = vec![
            ("PATH".into(), std::env::var_os("PATH").unwrap_or_default()),
            ("HOME".into(), self.home.clone().into()),
            ("XDG_CONFIG_HOME".into(), self.home.join(".config").into()),
            ("XDG_CACHE_HOME".into(), self.home.join(".cache").into()),
            (
                "XDG_DATA_HOME".into(),
                self.home.join(".local/share").into(),
            ),
            ("TMPDIR".into(), r.join("tmp").into()),
            ("USER".into(), "tester".into()),
            ("LANG".into(), "C.UTF-8".into()),
            (MARKER_DIR_ENV.into(), self.markers.clone().into()),
        ];
        if let Some(h) = rustup_home() {
            v.push(("RUSTUP_HOME".into(), h));
        }
        v
    }

    /// npm config through env: user and global config files inside the
    /// sandbox, a sandbox cache and prefix, the registry, no audit/fund/
    /// update check.
    pub fn npm_env(&self, registry_url: &str) -> EnvList {
        let r = self.root();
        vec![
            (
                "npm_config_userconfig".into(),
                self.home.join(".npmrc").into(),
            ),
            ("npm_config_globalconfig".into(), r.join("etc/npmrc").into()),
            ("npm_config_cache".into(), r.join("npm-cache").into()),
            ("npm_config_prefix".into(), r.join("npm-prefix").into()),
            ("npm_config_registry".into(), registry_url.into()),
            ("npm_config_audit".into(), "false".into()),
            ("npm_config_fund".into(), "false".into()),
            ("npm_config_update_notifier".into(), "false".into()),
            ("npm_config_progress".into(), "false".into()),
        ]
    }

    /// Writes the user npmrc (`home/.npmrc`, also `npm_config_userconfig`).
    pub fn write_npmrc(&self, text: &str) {
        fs::write(self.home.join(".npmrc"), text).unwrap();
    }

    /// pip config through env: no config files, a sandbox cache, the index,
    /// no version check, no user site.
    pub fn pip_env(&self, index_url: &str) -> EnvList {
        vec![
            ("PIP_CONFIG_FILE".into(), "/dev/null".into()),
            ("PIP_INDEX_URL".into(), index_url.into()),
            ("PIP_CACHE_DIR".into(), self.root().join("pip-cache").into()),
            ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
            ("PIP_NO_INPUT".into(), "1".into()),
            ("PIP_NO_COLOR".into(), "1".into()),
            ("PYTHONNOUSERSITE".into(), "1".into()),
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ]
    }

    /// `$CARGO_HOME/config.toml` path; write it with [`Sandbox::cargo_config`].
    pub fn cargo_home(&self) -> PathBuf {
        self.root().join("cargo-home")
    }

    /// Writes `$CARGO_HOME/config.toml`, e.g.
    /// `CargoRegistry::config_replacing_crates_io()`.
    pub fn cargo_config(&self, toml: &str) {
        fs::write(self.cargo_home().join("config.toml"), toml).unwrap();
    }

    /// cargo config through env: sandbox CARGO_HOME and target dir, the
    /// toolchain's rustc, no colour.
    pub fn cargo_env(&self) -> EnvList {
        vec![
            ("CARGO_HOME".into(), self.cargo_home().into()),
            (
                "CARGO_TARGET_DIR".into(),
                self.root().join("cargo-target").into(),
            ),
            ("RUSTC".into(), real_rustc().into()),
            ("CARGO_TERM_COLOR".into(), "never".into()),
            ("CARGO_TERM_PROGRESS_WHEN".into(), "never".into()),
            ("CARGO_INCREMENTAL".into(), "0".into()),
        ]
    }

    /// A command with a cleared environment plus `envs`, run in `work/`.
    pub fn command(&self, program: impl AsRef<OsStr>, envs: &[EnvList]) -> Command {
        let mut c = Command::new(program);
        c.env_clear().current_dir(&self.work);
        let all = self
            .base_env()
            .into_iter()
            .chain(envs.iter().flatten().cloned());
        for (k, v) in all.chain(self.extra.iter().cloned()) {
            c.env(k, v);
        }
        c
    }

    /// The real npm, isolated, pointed at `registry_url`.
    pub fn npm(&self, registry_url: &str) -> Command {
        self.command(real_npm(), &[self.npm_env(registry_url)])
    }

    /// `python -m pip`, isolated, pointed at `index_url`.
    pub fn pip(&self, index_url: &str) -> Command {
        let mut c = self.command(real_python(), &[self.pip_env(index_url)]);
        c.args(["-m", "pip"]);
        c
    }

    /// The real cargo, isolated (write its config with
    /// [`Sandbox::cargo_config`] first).
    pub fn cargo(&self) -> Command {
        self.command(real_cargo(), &[self.cargo_env()])
    }
}

/// Runs `cmd`, panicking with its output unless it succeeds.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
