//! Test harness: a private world for the built pkgward binary — a shim
//! directory, a directory of real (or fake) tools, HOME, state and config —
//! with a clean environment, so tests never touch the machine's own setup.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn pkgward_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pkgward"))
}

pub struct World {
    pub tmp: tempfile::TempDir,
    pub shims: PathBuf,
    pub real: PathBuf,
    pub home: PathBuf,
    pub state: PathBuf,
    pub work: PathBuf,
    /// Stands in for /etc/pkgward/policy.toml (PKGWARD_SYSTEM_POLICY).
    pub system_policy: PathBuf,
    extra_path: Vec<PathBuf>,
    env: Vec<(String, String)>,
}

impl World {
    pub fn new() -> World {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        let d = |n: &str| {
            let p = root.join(n);
            fs::create_dir_all(&p).unwrap();
            p
        };
        let w = World {
            shims: d("shims"),
            real: d("real"),
            home: d("home"),
            state: d("state"),
            work: d("work"),
            system_policy: root.join("etc/pkgward/policy.toml"),
            extra_path: Vec::new(),
            env: Vec::new(),
            tmp,
        };
        fs::create_dir_all(w.system_policy.parent().unwrap()).unwrap();
        w
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// Installs a shim for `tool` (a symlink to the built binary).
    pub fn shim(&self, tool: &str) -> PathBuf {
        let p = self.shims.join(tool);
        if fs::symlink_metadata(&p).is_err() {
            #[cfg(unix)]
            match std::os::unix::fs::symlink(pkgward_bin(), &p) {
                // Another thread of the same test made it first.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                r => r.unwrap(),
            }
        }
        p
    }

    /// Writes an executable shell script named `name` into the real-tool dir.
    pub fn fake_tool(&self, name: &str, body: &str) -> PathBuf {
        let p = self.real.join(name);
        write_exec(&p, &format!("#!/bin/sh\n{body}\n"));
        p
    }

    /// Links a real tool from the machine into the real-tool dir.
    pub fn link_real(&self, name: &str, target: &Path) {
        #[cfg(unix)]
        std::os::unix::fs::symlink(target, self.real.join(name)).unwrap();
    }

    pub fn prepend_path(&mut self, dir: PathBuf) {
        self.extra_path.push(dir);
    }

    pub fn set_env(&mut self, k: &str, v: impl AsRef<OsStr>) {
        self.env
            .push((k.to_string(), v.as_ref().to_string_lossy().into_owned()));
    }

    pub fn path_var(&self) -> String {
        let mut parts: Vec<PathBuf> = self.extra_path.clone();
        parts.push(self.shims.clone());
        parts.push(self.real.clone());
        parts.push("/usr/local/bin".into());
        parts.push("/usr/bin".into());
        parts.push("/bin".into());
        std::env::join_paths(parts)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    /// A command with this world's environment (nothing inherited).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", self.path_var())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("XDG_STATE_HOME", self.home.join(".local/state"))
            .env("PKGWARD_STATE_DIR", &self.state)
            .env("PKGWARD_SHIM_DIR", &self.shims)
            .env("PKGWARD_SYSTEM_POLICY", &self.system_policy)
            .env("USER", "tester")
            .env("LANG", "C.UTF-8")
            .current_dir(&self.work)
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs a tool through its shim (by name, through PATH, as a shell would).
    pub fn run(&self, tool: &str, args: &[&str]) -> Output {
        self.shim(tool);
        self.command(tool).args(args).output().expect("spawn shim")
    }

    pub fn pkgward(&self, args: &[&str]) -> Output {
        self.command(pkgward_bin())
            .args(args)
            .output()
            .expect("spawn pkgward")
    }

    pub fn audit_path(&self) -> PathBuf {
        self.state.join("audit.jsonl")
    }

    /// Every audit line, parsed; panics on a line that is not JSON.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        read_jsonl(&self.audit_path())
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.root().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p
    }
}

pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}:{}: not JSON ({e}): {l}", path.display(), i + 1))
        })
        .collect()
}

pub fn write_exec(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn kinds<'a>(records: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    records.iter().filter(|r| r["kind"] == kind).collect()
}
