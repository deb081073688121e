//! Go module proxy fixtures (GOPROXY protocol): `<module>/@v/list`,
//! `<v>.info`, `<v>.mod`, `<v>.zip`, `@latest`, written to a directory for
//! `GOPROXY=file:///…` or served over HTTP under a prefix.
//!
//! UNTESTED against a real `go` toolchain (there is none on this machine);
//! the layout and `h1:` hashes follow the go command's documentation. Use
//! with `GOSUMDB=off` (or the `go_sum_lines` in a go.sum), `GOFLAGS=-mod=mod`,
//! `GONOSUMDB`/`GOPRIVATE` as needed, and `GOPROXY` set explicitly.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::json;

use super::archive::{zip, Entry};
use super::digest::{base64, sha256, sha256_hex};
use super::registry::ServerHandle;
use super::{default_published, rfc3339_secs};

/// Case-encodes a module path or version: `A` → `!a`.
pub fn escape(path: &str) -> String {
    let mut out = String::new();
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// dirhash "h1:" over (name, contents) pairs.
pub fn hash1(files: &[(String, Vec<u8>)]) -> String {
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut summary = String::new();
    for (name, data) in sorted {
        summary.push_str(&format!("{}  {}\n", sha256_hex(data), name));
    }
    format!("h1:{}", base64(&sha256(summary.as_bytes())))
}

/// One version of a module.
#[derive(Clone, Debug)]
pub struct GoModule {
    pub path: String,
    pub version: String,
    files: Vec<Entry>,
    requires: Vec<(String, String)>,
    go_version: String,
    time: SystemTime,
}

impl GoModule {
    /// `path` like `example.com/fixture/a`, `version` like `v1.0.0`.
    pub fn new(path: &str, version: &str) -> GoModule {
        let pkg = path
            .rsplit('/')
            .next()
            .unwrap_or("fixture")
            .replace(['-', '.'], "_");
        GoModule {
            path: path.to_string(),
            version: version.to_string(),
            files: vec![Entry::file(
                &format!("{pkg}.go"),
                format!("package {pkg}\n\nfunc FixtureName() string {{ return \"{path}@{version}\" }}\n"),
            )],
            requires: Vec::new(),
            go_version: "1.21".to_string(),
            time: default_published(),
        }
    }

    /// A file in the module (replaces the default `<last>.go` if same name).
    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.retain(|e| e.path != path);
        self.files.push(Entry::file(path, contents));
        self
    }

    pub fn require(mut self, module: &str, version: &str) -> Self {
        self.requires
            .push((module.to_string(), version.to_string()));
        self
    }

    pub fn published_at(mut self, t: SystemTime) -> Self {
        self.time = t;
        self
    }

    pub fn go_mod(&self) -> String {
        let mut m = format!("module {}\n\ngo {}\n", self.path, self.go_version);
        if !self.requires.is_empty() {
            m.push_str("\nrequire (\n");
            for (p, v) in &self.requires {
                m.push_str(&format!("\t{p} {v}\n"));
            }
            m.push_str(")\n");
        }
        m
    }

    fn zip_files(&self) -> Vec<(String, Vec<u8>)> {
        let root = format!("{}@{}", self.path, self.version);
        let mut v = vec![(format!("{root}/go.mod"), self.go_mod().into_bytes())];
        for e in &self.files {
            if e.path != "go.mod" {
                v.push((format!("{root}/{}", e.path), e.data.clone()));
            }
        }
        v
    }

    pub fn zip(&self) -> Vec<u8> {
        let entries: Vec<Entry> = self
            .zip_files()
            .into_iter()
            .map(|(p, d)| Entry::file(&p, d))
            .collect();
        zip(&entries)
    }

    pub fn info(&self) -> String {
        json!({"Version": self.version, "Time": rfc3339_secs(self.time)}).to_string()
    }

    /// The two go.sum lines for this version.
    pub fn go_sum_lines(&self) -> String {
        let h_zip = hash1(&self.zip_files());
        let h_mod = hash1(&[("go.mod".to_string(), self.go_mod().into_bytes())]);
        format!(
            "{p} {v} {h_zip}\n{p} {v}/go.mod {h_mod}\n",
            p = self.path,
            v = self.version
        )
    }
}

/// A set of module versions, laid out as a proxy.
#[derive(Default)]
pub struct GoProxy {
    modules: BTreeMap<String, Vec<GoModule>>,
}

impl GoProxy {
    pub fn new() -> GoProxy {
        GoProxy::default()
    }

    pub fn add(&mut self, m: GoModule) -> &mut Self {
        let list = self.modules.entry(m.path.clone()).or_default();
        list.retain(|x| x.version != m.version);
        list.push(m);
        self
    }

    /// (relative path, bytes) of every proxy file.
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for (path, versions) in &self.modules {
            let base = format!("{}/@v", escape(path));
            let list: String = versions
                .iter()
                .map(|m| format!("{}\n", m.version))
                .collect();
            out.push((format!("{base}/list"), list.into_bytes()));
            for m in versions {
                let v = escape(&m.version);
                out.push((format!("{base}/{v}.info"), m.info().into_bytes()));
                out.push((format!("{base}/{v}.mod"), m.go_mod().into_bytes()));
                out.push((format!("{base}/{v}.zip"), m.zip()));
            }
            if let Some(last) = versions.last() {
                out.push((
                    format!("{}/@latest", escape(path)),
                    last.info().into_bytes(),
                ));
            }
        }
        out
    }

    /// Writes the layout under `dir`; returns `file:///…` for GOPROXY.
    pub fn write_to(&self, dir: &Path) -> String {
        for (rel, data) in self.files() {
            let p: PathBuf = dir.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, data).unwrap();
        }
        format!("file://{}", dir.display())
    }

    /// Serves the layout under `prefix` (e.g. `/go`); returns the GOPROXY URL.
    pub fn serve(&self, server: &ServerHandle, prefix: &str) -> String {
        let prefix = prefix.trim_end_matches('/');
        for (rel, data) in self.files() {
            let ct = if rel.ends_with(".zip") {
                "application/zip"
            } else if rel.ends_with(".info") || rel.ends_with("@latest") {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            server.serve(&format!("{prefix}/{rel}"), ct, data);
        }
        server.url(prefix)
    }
}
