//! Cargo fixtures: `.crate` files built in memory, and a sparse registry
//! (`config.json`, index files, downloads) under a prefix.
//!
//! Two ways to point cargo at it: replace crates-io with it
//! ([`CargoRegistry::config_replacing_crates_io`], the default manifest
//! style: dependencies inside fixture crates are plain `name = "req"`), or
//! use it as a named registry ([`CargoRegistry::config_named`], after
//! [`CargoRegistry::named_manifests`] so dependencies inside fixture crates
//! carry `registry-index` and do not fall back to crates-io).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::{json, Value};

use super::archive::{tar_gz, Entry};
use super::digest::sha256_hex;
use super::registry::{Response, ServerHandle};
use super::{default_published, rfc3339_secs};

#[derive(Clone, Debug)]
pub struct CrateDep {
    pub name: String,
    pub req: String,
    /// `normal`, `build` or `dev`.
    pub kind: String,
    pub optional: bool,
    pub features: Vec<String>,
}

/// A crate to build: `<name>-<version>/Cargo.toml`, `src/lib.rs`,
/// optional `build.rs`, any other files.
#[derive(Clone, Debug)]
pub struct Crate {
    pub name: String,
    pub version: String,
    lib: String,
    build_rs: Option<String>,
    files: Vec<Entry>,
    deps: Vec<CrateDep>,
    features: BTreeMap<String, Vec<String>>,
    links: Option<String>,
    yanked: bool,
    published: SystemTime,
    proc_macro: bool,
}

impl Crate {
    /// A crate whose `src/lib.rs` has `pub fn fixture_name() -> &'static str`.
    pub fn new(name: &str, version: &str) -> Crate {
        Crate {
            name: name.to_string(),
            version: version.to_string(),
            lib: format!(
                "pub fn fixture_name() -> &'static str {{\n    \"{name}-{version}\"\n}}\n"
            ),
            build_rs: None,
            files: Vec::new(),
            deps: Vec::new(),
            features: BTreeMap::new(),
            links: None,
            yanked: false,
            published: default_published(),
            proc_macro: false,
        }
    }

    /// Makes the library a proc-macro crate (`[lib] proc-macro = true`).
    pub fn proc_macro(mut self) -> Self {
        self.proc_macro = true;
        self
    }

    /// Replaces `src/lib.rs`.
    pub fn lib(mut self, code: &str) -> Self {
        self.lib = code.to_string();
        self
    }

    /// Adds a `build.rs` (see [`super::rs_build_marker`]).
    pub fn build_script(mut self, code: &str) -> Self {
        self.build_rs = Some(code.to_string());
        self
    }

    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.retain(|e| e.path != path);
        self.files.push(Entry::file(path, contents));
        self
    }

    pub fn dep(self, name: &str, req: &str) -> Self {
        self.dep_of_kind(name, req, "normal")
    }

    pub fn build_dep(self, name: &str, req: &str) -> Self {
        self.dep_of_kind(name, req, "build")
    }

    pub fn dep_of_kind(mut self, name: &str, req: &str, kind: &str) -> Self {
        self.deps.push(CrateDep {
            name: name.to_string(),
            req: req.to_string(),
            kind: kind.to_string(),
            optional: false,
            features: Vec::new(),
        });
        self
    }

    pub fn feature(mut self, name: &str, enables: &[&str]) -> Self {
        self.features.insert(
            name.to_string(),
            enables.iter().map(|s| s.to_string()).collect(),
        );
        self
    }

    pub fn links(mut self, name: &str) -> Self {
        self.links = Some(name.to_string());
        self
    }

    pub fn yanked(mut self) -> Self {
        self.yanked = true;
        self
    }

    /// Publish time (the index line's `pubtime`).
    pub fn published_at(mut self, t: SystemTime) -> Self {
        self.published = t;
        self
    }

    /// The normalized `Cargo.toml` inside the `.crate`. With
    /// `registry_index`, dependencies name that index explicitly.
    pub fn manifest(&self, registry_index: Option<&str>) -> String {
        let q = |s: &str| json!(s).to_string();
        let mut m = format!(
            "[package]\nedition = \"2021\"\nname = {}\nversion = {}\ndescription = \"pkgward test fixture\"\nlicense = \"MIT\"\n",
            q(&self.name),
            q(&self.version)
        );
        m.push_str(if self.build_rs.is_some() {
            "build = \"build.rs\"\n"
        } else {
            "build = false\n"
        });
        if let Some(l) = &self.links {
            m.push_str(&format!("links = {}\n", q(l)));
        }
        m.push_str("\n[lib]\npath = \"src/lib.rs\"\n");
        if self.proc_macro {
            m.push_str("proc-macro = true\n");
        }
        for d in &self.deps {
            let table = match d.kind.as_str() {
                "build" => "build-dependencies",
                "dev" => "dev-dependencies",
                _ => "dependencies",
            };
            m.push_str(&format!(
                "\n[{table}.{}]\nversion = {}\n",
                q(&d.name),
                q(&d.req)
            ));
            if d.optional {
                m.push_str("optional = true\n");
            }
            if !d.features.is_empty() {
                m.push_str(&format!("features = {}\n", json!(d.features)));
            }
            if let Some(idx) = registry_index {
                m.push_str(&format!("registry-index = {}\n", q(idx)));
            }
        }
        if !self.features.is_empty() {
            m.push_str("\n[features]\n");
            for (k, v) in &self.features {
                m.push_str(&format!("{} = {}\n", q(k), json!(v)));
            }
        }
        m
    }

    /// The `.crate` bytes (a `.tar.gz` under `<name>-<version>/`).
    pub fn bytes(&self, registry_index: Option<&str>) -> Vec<u8> {
        let root = format!("{}-{}", self.name, self.version);
        let mut entries = vec![
            Entry::file("Cargo.toml", self.manifest(registry_index)),
            Entry::file("src/lib.rs", self.lib.clone()),
        ];
        if let Some(b) = &self.build_rs {
            entries.push(Entry::file("build.rs", b.clone()));
        }
        entries.extend(self.files.iter().cloned());
        for e in &mut entries {
            e.path = format!("{root}/{}", e.path);
        }
        tar_gz(&entries)
    }

    /// The sparse-index line for this version.
    pub fn index_line(&self, cksum: &str) -> Value {
        let deps: Vec<Value> = self
            .deps
            .iter()
            .map(|d| {
                json!({
                    "name": d.name,
                    "req": d.req,
                    "features": d.features,
                    "optional": d.optional,
                    "default_features": true,
                    "target": null,
                    "kind": d.kind,
                })
            })
            .collect();
        json!({
            "name": self.name,
            "vers": self.version,
            "deps": deps,
            "cksum": cksum,
            "features": self.features,
            "yanked": self.yanked,
            "links": self.links,
            "pubtime": rfc3339_secs(self.published),
        })
    }
}

/// The sparse-index path of a crate, relative to the index root:
/// `1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd…` (lowercased).
pub fn index_rel_path(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    match n.len() {
        0 => panic!("empty crate name"),
        1 => format!("1/{n}"),
        2 => format!("2/{n}"),
        3 => format!("3/{}/{n}", &n[..1]),
        _ => format!("{}/{}/{n}", &n[..2], &n[2..4]),
    }
}

/// What publishing produced.
#[derive(Clone, Debug)]
pub struct CratePublished {
    pub name: String,
    pub version: String,
    /// sha256 hex of the `.crate`.
    pub cksum: String,
    /// Server path of the download, e.g. `/cargo/api/v1/crates/foo/1.0.0/download`.
    pub download_path: String,
    /// Server path of the index file, e.g. `/cargo/fo/o-/foo-bar`.
    pub index_path: String,
    pub bytes: Arc<Vec<u8>>,
}

/// A sparse registry under `prefix` (e.g. `/cargo`).
pub struct CargoRegistry {
    server: ServerHandle,
    prefix: String,
    named: Mutex<bool>,
    lines: Mutex<BTreeMap<String, Vec<(String, String)>>>,
}

impl CargoRegistry {
    pub fn new(server: ServerHandle, prefix: &str) -> CargoRegistry {
        let r = CargoRegistry {
            server,
            prefix: prefix.trim_end_matches('/').to_string(),
            named: Mutex::new(false),
            lines: Mutex::new(BTreeMap::new()),
        };
        let config = json!({
            "dl": r.server.url(&format!("{}/api/v1/crates", r.prefix)),
            "api": r.server.url(&r.prefix),
        });
        r.server.respond(
            &format!("{}/config.json", r.prefix),
            Response::json(&config),
        );
        r
    }

    /// `sparse+http://127.0.0.1:PORT/cargo/`
    pub fn index_url(&self) -> String {
        format!("sparse+{}", self.server.url(&format!("{}/", self.prefix)))
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// From now on, dependencies inside published crates name this index
    /// (`registry-index`), for use as a named registry.
    pub fn named_manifests(&self, on: bool) {
        *self.named.lock().unwrap() = on;
    }

    /// Server path of a crate's index file.
    pub fn index_path(&self, name: &str) -> String {
        format!("{}/{}", self.prefix, index_rel_path(name))
    }

    pub fn download_path(&self, name: &str, version: &str) -> String {
        format!("{}/api/v1/crates/{name}/{version}/download", self.prefix)
    }

    pub fn publish(&self, c: &Crate) -> CratePublished {
        let idx = (*self.named.lock().unwrap()).then(|| self.index_url());
        let bytes = Arc::new(c.bytes(idx.as_deref()));
        let cksum = sha256_hex(&bytes);
        let download_path = self.download_path(&c.name, &c.version);
        self.server.respond(
            &download_path,
            Response {
                status: 200,
                content_type: "application/x-tar".into(),
                headers: Vec::new(),
                body: bytes.clone(),
            },
        );
        let line = c.index_line(&cksum).to_string();
        let index_path = self.index_path(&c.name);
        let mut all = self.lines.lock().unwrap();
        let lines = all.entry(c.name.to_ascii_lowercase()).or_default();
        lines.retain(|(v, _)| *v != c.version);
        lines.push((c.version.clone(), line));
        let mut body = String::new();
        for (_, l) in lines.iter() {
            body.push_str(l);
            body.push('\n');
        }
        self.server.serve(&index_path, "text/plain", body);
        CratePublished {
            name: c.name.clone(),
            version: c.version.clone(),
            cksum,
            download_path,
            index_path,
            bytes,
        }
    }

    /// A cargo `config.toml` that replaces crates-io with this registry.
    pub fn config_replacing_crates_io(&self) -> String {
        format!(
            "[source.crates-io]\nreplace-with = \"pkgward-fixture\"\n\n[source.pkgward-fixture]\nregistry = \"{}\"\n\n[net]\nretry = 0\n",
            self.index_url()
        )
    }

    /// A cargo `config.toml` declaring this registry as `registries.<name>`.
    pub fn config_named(&self, name: &str) -> String {
        format!(
            "[registries.{name}]\nindex = \"{}\"\n\n[net]\nretry = 0\n",
            self.index_url()
        )
    }
}
