//! The real tools behind pkgward shims in an isolated [`Sandbox`]: a shim
//! directory first on PATH, a directory for real-tool stand-ins, pkgward's
//! state and a policy file. Shared by the end-to-end test binaries.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use super::tools::{real_python, EnvList};
use super::{shared, Listener, Sandbox};

pub fn pkgward_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pkgward"))
}

/// A listener standing for an attacker's registry, shared by the tests.
pub fn evil() -> &'static Listener {
    static L: OnceLock<Listener> = OnceLock::new();
    L.get_or_init(Listener::start)
}

/// The real tools behind pkgward shims, in an isolated sandbox.
pub struct Guarded {
    pub sb: Sandbox,
    pub shims: PathBuf,
    pub real: PathBuf,
    pub state: PathBuf,
    pub policy: PathBuf,
}

impl Guarded {
    pub fn new(policy: &str) -> Guarded {
        let sb = Sandbox::new();
        let root = sb.root().to_path_buf();
        let (shims, real, state) = (root.join("shims"), root.join("real"), root.join("state"));
        for d in [&shims, &real, &state] {
            std::fs::create_dir_all(d).unwrap();
        }
        for t in ["npm", "npx", "pip", "pip3"] {
            std::os::unix::fs::symlink(pkgward_bin(), shims.join(t)).unwrap();
        }
        // pip as this machine's Python runs it (a pyenv shim would need the real HOME).
        let pip = real.join("pip");
        std::fs::write(
            &pip,
            format!(
                "#!/bin/sh\nexec '{}' -m pip \"$@\"\n",
                real_python().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&pip, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let policy_path = root.join("policy.toml");
        // The fixtures' markers are the tests' own observation channel:
        // sandboxed install-time code may write them (a test that sets
        // `[sandbox]` itself says what it wants).
        let policy = if policy.contains("[sandbox]") {
            policy.to_string()
        } else {
            format!(
                "{policy}\n[sandbox]\nallow_write = [{:?}]\n",
                sb.markers.display().to_string()
            )
        };
        std::fs::write(&policy_path, policy).unwrap();
        Guarded {
            sb,
            shims,
            real,
            state,
            policy: policy_path,
        }
    }

    pub fn pkgward_env(&self) -> EnvList {
        let path = std::env::join_paths([self.shims.clone(), self.real.clone()].into_iter().chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        vec![
            ("PATH".into(), path),
            ("PKGWARD_STATE_DIR".into(), self.state.clone().into()),
            ("PKGWARD_SHIM_DIR".into(), self.shims.clone().into()),
            (
                "PKGWARD_SYSTEM_POLICY".into(),
                self.sb.root().join("no-system-policy").into(),
            ),
            ("PKGWARD_POLICY".into(), self.policy.clone().into()),
        ]
    }

    /// npm through its shim, with the sandbox's npm settings (registry =
    /// the fixture registry) plus `extra`.
    pub fn npm(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let reg = shared().npm_url();
        let mut c = self.sb.command(
            "npm",
            &[self.sb.npm_env(&reg), self.pkgward_env(), to_env(extra)],
        );
        c.args(args).output().unwrap()
    }

    /// Another npm-family shim (`npx`) with the sandbox's npm settings.
    #[allow(dead_code)]
    pub fn npm_tool(&self, tool: &str, args: &[&str]) -> Output {
        let reg = shared().npm_url();
        let mut c = self
            .sb
            .command(tool, &[self.sb.npm_env(&reg), self.pkgward_env()]);
        c.args(args).output().unwrap()
    }

    pub fn pip(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let idx = shared().pypi_index_url();
        let mut c = self.sb.command(
            "pip",
            &[self.sb.pip_env(&idx), self.pkgward_env(), to_env(extra)],
        );
        c.args(args).output().unwrap()
    }

    pub fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state.join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn last_invocation(&self) -> serde_json::Value {
        self.audit()
            .into_iter()
            .rev()
            .find(|r| r["kind"] == "invocation")
            .unwrap()
    }
}

pub fn to_env(pairs: &[(&str, &str)]) -> EnvList {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every file under `dir` (relative path → bytes), for byte-for-byte comparisons.
pub fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                // Byte code embeds the path it was compiled at.
                if !p.ends_with("__pycache__") {
                    stack.push(p);
                }
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}
