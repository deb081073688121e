//! npm fixtures: package tarballs built in memory, and a registry that
//! serves packuments (full and abbreviated) and tarballs under a prefix.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::{json, Map, Value};

use super::archive::{tar_gz, Entry};
use super::digest::{sha1_hex, sri_sha512};
use super::registry::{Response, Route, ServerHandle};
use super::{default_published, rfc3339_millis};

/// npm's abbreviated-metadata ("corgi") media type.
pub const CORGI: &str = "application/vnd.npm.install-v1+json";

/// Scripts that run on install (the registry flags them `hasInstallScript`).
const INSTALL_SCRIPTS: [&str; 3] = ["preinstall", "install", "postinstall"];

/// An npm package to build: `package/package.json` plus any files.
#[derive(Clone, Debug)]
pub struct NpmPackage {
    pub name: String,
    pub version: String,
    scripts: BTreeMap<String, String>,
    deps: BTreeMap<String, String>,
    optional_deps: BTreeMap<String, String>,
    extra: Map<String, Value>,
    files: Vec<Entry>,
    published: SystemTime,
    tag: String,
    deprecated: Option<String>,
}

impl NpmPackage {
    /// A package with an `index.js` exporting its name and version (unless
    /// a test adds its own `index.js`), published [`default_published`].
    pub fn new(name: &str, version: &str) -> NpmPackage {
        NpmPackage {
            name: name.to_string(),
            version: version.to_string(),
            scripts: BTreeMap::new(),
            deps: BTreeMap::new(),
            optional_deps: BTreeMap::new(),
            extra: Map::new(),
            files: Vec::new(),
            published: default_published(),
            tag: "latest".to_string(),
            deprecated: None,
        }
    }

    /// A lifecycle script, e.g. `("postinstall", "node install.js")`.
    pub fn script(mut self, event: &str, command: &str) -> Self {
        self.scripts.insert(event.to_string(), command.to_string());
        self
    }

    pub fn dep(mut self, name: &str, range: &str) -> Self {
        self.deps.insert(name.to_string(), range.to_string());
        self
    }

    pub fn optional_dep(mut self, name: &str, range: &str) -> Self {
        self.optional_deps
            .insert(name.to_string(), range.to_string());
        self
    }

    /// A file under `package/` (e.g. `install.js`, `binding.gyp`, `lib/x.js`).
    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.retain(|e| e.path != path);
        self.files.push(Entry::file(path, contents));
        self
    }

    /// An executable file (mode 0755) under `package/`.
    pub fn executable(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.retain(|e| e.path != path);
        let mut e = Entry::file(path, contents);
        e.mode = 0o755;
        self.files.push(e);
        self
    }

    /// Any other `package.json` field (`bin`, `engines`, `os`, `gypfile`, …).
    pub fn field(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }

    /// Publish time shown in the packument's `time` map.
    pub fn published_at(mut self, t: SystemTime) -> Self {
        self.published = t;
        self
    }

    /// The dist-tag this version is published under (default `latest`).
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = tag.to_string();
        self
    }

    pub fn deprecated(mut self, message: &str) -> Self {
        self.deprecated = Some(message.to_string());
        self
    }

    pub fn published(&self) -> SystemTime {
        self.published
    }

    /// The name without its scope: `@a/b` → `b`.
    pub fn basename(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }

    /// `<basename>-<version>.tgz`, as the public registry names tarballs.
    pub fn tarball_name(&self) -> String {
        format!("{}-{}.tgz", self.basename(), self.version)
    }

    pub fn package_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("version".into(), json!(self.version));
        m.insert(
            "description".into(),
            json!(format!("pkgward test fixture {}", self.name)),
        );
        m.insert("main".into(), json!("index.js"));
        m.insert("license".into(), json!("MIT"));
        if !self.scripts.is_empty() {
            m.insert("scripts".into(), json!(self.scripts));
        }
        if !self.deps.is_empty() {
            m.insert("dependencies".into(), json!(self.deps));
        }
        if !self.optional_deps.is_empty() {
            m.insert("optionalDependencies".into(), json!(self.optional_deps));
        }
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }

    /// The files of the tarball: `package/package.json` first, then the
    /// default `package/index.js` (unless given), then the files.
    pub fn entries(&self) -> Vec<Entry> {
        let json = serde_json::to_string_pretty(&self.package_json()).unwrap() + "\n";
        let mut entries = vec![Entry::file("package/package.json", json)];
        if !self.files.iter().any(|e| e.path == "index.js") {
            entries.push(Entry::file(
                "package/index.js",
                format!(
                    "module.exports = {{ name: {}, version: {} }};\n",
                    json!(self.name),
                    json!(self.version)
                ),
            ));
        }
        for e in &self.files {
            let mut e = e.clone();
            e.path = format!("package/{}", e.path);
            entries.push(e);
        }
        entries
    }

    /// The `.tgz` bytes.
    pub fn tarball(&self) -> Vec<u8> {
        tar_gz(&self.entries())
    }

    pub fn has_install_script(&self) -> bool {
        INSTALL_SCRIPTS
            .iter()
            .any(|s| self.scripts.contains_key(*s))
    }
}

/// What publishing produced.
#[derive(Clone, Debug)]
pub struct NpmPublished {
    pub name: String,
    pub version: String,
    pub tarball_url: String,
    /// Server path of the tarball (decoded), e.g. `/npm/left-pad/-/left-pad-1.3.0.tgz`.
    pub tarball_path: String,
    /// `sha512-…` (SRI).
    pub integrity: String,
    /// Hex sha1 of the tarball.
    pub shasum: String,
    pub tarball: Arc<Vec<u8>>,
}

#[derive(Default)]
struct Packument {
    /// version → (manifest as published, publish time)
    versions: BTreeMap<String, (Value, SystemTime)>,
    /// publish order
    order: Vec<String>,
    tags: BTreeMap<String, String>,
}

/// An npm registry under `prefix` (e.g. `/npm`) on a server.
pub struct NpmRegistry {
    server: ServerHandle,
    prefix: String,
    packages: Mutex<BTreeMap<String, Packument>>,
}

impl NpmRegistry {
    /// `prefix` is a path such as `/npm` (no trailing slash).
    pub fn new(server: ServerHandle, prefix: &str) -> NpmRegistry {
        NpmRegistry {
            server,
            prefix: prefix.trim_end_matches('/').to_string(),
            packages: Mutex::new(BTreeMap::new()),
        }
    }

    /// The value for `--registry`: `http://127.0.0.1:PORT/npm/`.
    pub fn url(&self) -> String {
        self.server.url(&format!("{}/", self.prefix))
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Server path of a package's packument (decoded: `/npm/@s/n`).
    pub fn packument_path(&self, name: &str) -> String {
        format!("{}/{}", self.prefix, name)
    }

    /// Builds the tarball, serves it, and (re)serves the packument.
    pub fn publish(&self, pkg: &NpmPackage) -> NpmPublished {
        let entries = pkg.entries();
        let unpacked: usize = entries.iter().map(|e| e.data.len()).sum();
        let tarball = Arc::new(tar_gz(&entries));
        let tarball_path = format!("{}/{}/-/{}", self.prefix, pkg.name, pkg.tarball_name());
        let tarball_url = self.server.url(&tarball_path);
        let integrity = sri_sha512(&tarball);
        let shasum = sha1_hex(&tarball);
        let tarball_resp = Response {
            status: 200,
            content_type: "application/octet-stream".into(),
            headers: Vec::new(),
            body: tarball.clone(),
        };
        self.server.respond(&tarball_path, tarball_resp);

        let mut manifest = pkg.package_json();
        let m = manifest.as_object_mut().unwrap();
        m.insert("_id".into(), json!(format!("{}@{}", pkg.name, pkg.version)));
        m.insert("_hasShrinkwrap".into(), json!(false));
        if pkg.has_install_script() {
            m.insert("hasInstallScript".into(), json!(true));
        }
        if let Some(d) = &pkg.deprecated {
            m.insert("deprecated".into(), json!(d));
        }
        m.insert(
            "dist".into(),
            json!({
                "tarball": tarball_url,
                "integrity": integrity,
                "shasum": shasum,
                "fileCount": entries.len(),
                "unpackedSize": unpacked,
            }),
        );

        let mut all = self.packages.lock().unwrap();
        let p = all.entry(pkg.name.clone()).or_default();
        if p.versions
            .insert(pkg.version.clone(), (manifest, pkg.published))
            .is_none()
        {
            p.order.push(pkg.version.clone());
        }
        p.tags.insert(pkg.tag.clone(), pkg.version.clone());
        self.serve_packument(&pkg.name, p);

        NpmPublished {
            name: pkg.name.clone(),
            version: pkg.version.clone(),
            tarball_url,
            tarball_path,
            integrity,
            shasum,
            tarball,
        }
    }

    /// Moves a dist-tag (e.g. points `latest` at an older version).
    pub fn set_tag(&self, name: &str, tag: &str, version: &str) {
        let mut all = self.packages.lock().unwrap();
        let p = all.get_mut(name).expect("package not published");
        p.tags.insert(tag.to_string(), version.to_string());
        self.serve_packument(name, p);
    }

    /// The full packument as served (for assertions).
    pub fn packument(&self, name: &str) -> Option<Value> {
        let all = self.packages.lock().unwrap();
        all.get(name).map(|p| full_packument(name, p))
    }

    fn serve_packument(&self, name: &str, p: &Packument) {
        let full = full_packument(name, p);
        let corgi = abbreviated_packument(name, p);
        self.server.route(
            &self.packument_path(name),
            Route::Negotiated(vec![
                Response::json(&full),
                Response::ok(CORGI, serde_json::to_vec(&corgi).unwrap()),
            ]),
        );
    }
}

fn modified(p: &Packument) -> SystemTime {
    p.versions
        .values()
        .map(|(_, t)| *t)
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn full_packument(name: &str, p: &Packument) -> Value {
    let mut time = Map::new();
    let created = p.versions.values().map(|(_, t)| *t).min().unwrap();
    time.insert("created".into(), json!(rfc3339_millis(created)));
    time.insert("modified".into(), json!(rfc3339_millis(modified(p))));
    for v in &p.order {
        time.insert(v.clone(), json!(rfc3339_millis(p.versions[v].1)));
    }
    let versions: Map<String, Value> = p
        .versions
        .iter()
        .map(|(v, (m, _))| (v.clone(), m.clone()))
        .collect();
    json!({
        "_id": name,
        "name": name,
        "dist-tags": p.tags,
        "versions": versions,
        "time": time,
        "license": "MIT",
    })
}

/// The abbreviated document npm asks for with `Accept: application/vnd.npm.install-v1+json`:
/// only install-relevant fields, no `time` map (just `modified`).
fn abbreviated_packument(name: &str, p: &Packument) -> Value {
    const KEEP: [&str; 17] = [
        "name",
        "version",
        "dependencies",
        "optionalDependencies",
        "peerDependencies",
        "peerDependenciesMeta",
        "bundleDependencies",
        "acceptDependencies",
        "bin",
        "directories",
        "engines",
        "os",
        "cpu",
        "dist",
        "deprecated",
        "hasInstallScript",
        "_hasShrinkwrap",
    ];
    let versions: Map<String, Value> = p
        .versions
        .iter()
        .map(|(v, (m, _))| {
            let small: Map<String, Value> = m
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| KEEP.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (v.clone(), Value::Object(small))
        })
        .collect();
    json!({
        "name": name,
        "modified": rfc3339_millis(modified(p)),
        "dist-tags": p.tags,
        "versions": versions,
    })
}
