//! Python fixtures: wheels and sdists built in memory, and a PEP 503 simple
//! index (with PEP 691 JSON, PEP 700 upload times) under a prefix.
//!
//! Sdists default to an in-tree PEP 517 backend (`requires = []`) so pip
//! can build them with build isolation and no setuptools/wheel on the
//! index; [`SdistBackend::SetupPy`] / [`SdistBackend::Setuptools`] give the
//! classic layouts (they need setuptools and wheel wherever pip builds).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::{json, Value};

use super::archive::{tar_gz, zip, Entry};
use super::digest::{base64_url_nopad, sha256, sha256_hex};
use super::registry::{Response, Route, ServerHandle};
use super::{default_published, rfc3339_micros};

pub const SIMPLE_JSON: &str = "application/vnd.pypi.simple.v1+json";
pub const SIMPLE_HTML: &str = "application/vnd.pypi.simple.v1+html";

/// PEP 503 normalization: runs of `-_.` become `-`, lowercase.
pub fn normalize(name: &str) -> String {
    collapse(name, '-')
}

/// The escaped form used in wheel and sdist file names and the
/// `.dist-info` directory: runs of `-_.` become `_`, lowercase.
pub fn escape(name: &str) -> String {
    collapse(name, '_')
}

fn collapse(name: &str, sep: char) -> String {
    let mut out = String::new();
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push(sep);
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

/// The importable module name a fixture uses by default: `my-pkg` → `my_pkg`.
pub fn import_name(name: &str) -> String {
    escape(name)
}

#[derive(Clone, Debug)]
struct Common {
    name: String,
    version: String,
    files: Vec<Entry>,
    requires: Vec<String>,
    requires_python: Option<String>,
    uploaded: SystemTime,
    yanked: Option<String>,
}

impl Common {
    fn new(name: &str, version: &str) -> Common {
        Common {
            name: name.to_string(),
            version: version.to_string(),
            files: Vec::new(),
            requires: Vec::new(),
            requires_python: None,
            uploaded: default_published(),
            yanked: None,
        }
    }

    fn set_file(&mut self, path: &str, contents: impl Into<Vec<u8>>) {
        self.files.retain(|e| e.path != path);
        self.files.push(Entry::file(path, contents));
    }

    /// The package files, with a default `<import>/__init__.py` when none.
    fn package_files(&self) -> Vec<Entry> {
        let mut files = self.files.clone();
        if files.is_empty() {
            files.push(Entry::file(
                &format!("{}/__init__.py", import_name(&self.name)),
                format!(
                    "NAME = {}\nVERSION = {}\n",
                    json!(self.name),
                    json!(self.version)
                ),
            ));
        }
        files
    }

    fn metadata(&self) -> String {
        let mut m = format!(
            "Metadata-Version: 2.1\nName: {}\nVersion: {}\nSummary: pkgward test fixture\nLicense: MIT\n",
            self.name, self.version
        );
        if let Some(rp) = &self.requires_python {
            m.push_str(&format!("Requires-Python: {rp}\n"));
        }
        for r in &self.requires {
            m.push_str(&format!("Requires-Dist: {r}\n"));
        }
        m
    }

    fn top_level(&self) -> BTreeSet<String> {
        self.package_files()
            .iter()
            .map(|e| {
                let first = e.path.split('/').next().unwrap_or("");
                first.strip_suffix(".py").unwrap_or(first).to_string()
            })
            .collect()
    }
}

macro_rules! common_builders {
    () => {
        /// A file in the distribution, relative to its root (e.g.
        /// `my_pkg/__init__.py`). Without any, `<import>/__init__.py` is made.
        pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
            self.c.set_file(path, contents);
            self
        }

        /// Sets `<import>/__init__.py`.
        pub fn module(mut self, code: &str) -> Self {
            let path = format!("{}/__init__.py", import_name(&self.c.name));
            self.c.set_file(&path, code);
            self
        }

        /// A `Requires-Dist` line, e.g. `"other>=1.0"`.
        pub fn dep(mut self, requirement: &str) -> Self {
            self.c.requires.push(requirement.to_string());
            self
        }

        /// `Requires-Python` (also served as `data-requires-python`).
        pub fn requires_python(mut self, spec: &str) -> Self {
            self.c.requires_python = Some(spec.to_string());
            self
        }

        /// Upload time (PEP 700 `upload-time` in the JSON index).
        pub fn uploaded_at(mut self, t: SystemTime) -> Self {
            self.c.uploaded = t;
            self
        }

        /// Marks the file yanked (PEP 592) with a reason.
        pub fn yanked(mut self, reason: &str) -> Self {
            self.c.yanked = Some(reason.to_string());
            self
        }

        pub fn name(&self) -> &str {
            &self.c.name
        }

        pub fn version(&self) -> &str {
            &self.c.version
        }
    };
}

/// A pure-Python wheel (`py3-none-any` unless [`Wheel::tag`] says otherwise).
#[derive(Clone, Debug)]
pub struct Wheel {
    c: Common,
    dist_info: Vec<Entry>,
    tag: String,
}

impl Wheel {
    pub fn new(name: &str, version: &str) -> Wheel {
        Wheel {
            c: Common::new(name, version),
            dist_info: Vec::new(),
            tag: "py3-none-any".to_string(),
        }
    }

    common_builders!();

    /// An extra file in `.dist-info/` (e.g. `entry_points.txt`).
    pub fn dist_info_file(mut self, name: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.dist_info.retain(|e| e.path != name);
        self.dist_info.push(Entry::file(name, contents));
        self
    }

    /// The compatibility tag, e.g. `py3-none-any`.
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = tag.to_string();
        self
    }

    pub fn filename(&self) -> String {
        format!(
            "{}-{}-{}.whl",
            escape(&self.c.name),
            self.c.version,
            self.tag
        )
    }

    pub fn dist_info_dir(&self) -> String {
        format!("{}-{}.dist-info", escape(&self.c.name), self.c.version)
    }

    pub fn metadata(&self) -> String {
        self.c.metadata()
    }

    /// The `.whl` bytes, with a RECORD listing sha256 and size of each file.
    pub fn bytes(&self) -> Vec<u8> {
        let di = self.dist_info_dir();
        let mut entries = self.c.package_files();
        let mut top: Vec<String> = self.c.top_level().into_iter().collect();
        top.push(String::new());
        entries.push(Entry::file(&format!("{di}/METADATA"), self.c.metadata()));
        entries.push(Entry::file(
            &format!("{di}/WHEEL"),
            format!(
                "Wheel-Version: 1.0\nGenerator: pkgward-tests\nRoot-Is-Purelib: true\nTag: {}\n",
                self.tag
            ),
        ));
        entries.push(Entry::file(&format!("{di}/top_level.txt"), top.join("\n")));
        for e in &self.dist_info {
            entries.push(Entry::file(&format!("{di}/{}", e.path), e.data.clone()));
        }
        let mut record = String::new();
        for e in &entries {
            record.push_str(&format!(
                "{},sha256={},{}\n",
                e.path,
                base64_url_nopad(&sha256(&e.data)),
                e.data.len()
            ));
        }
        record.push_str(&format!("{di}/RECORD,,\n"));
        entries.push(Entry::file(&format!("{di}/RECORD"), record));
        zip(&entries)
    }
}

/// How an sdist is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdistBackend {
    /// `pyproject.toml` with `requires = []` and an in-tree backend
    /// (`backend-path = ["."]`) that runs the build code, then zips the
    /// package files with the stdlib (an editable build, PEP 660: a `.pth`
    /// naming the source tree instead of the files). Builds anywhere,
    /// isolation or not.
    InTree,
    /// Only a `setup.py` (build code at its top, then `setuptools.setup`).
    SetupPy,
    /// `setup.py` plus `pyproject.toml` naming `setuptools.build_meta`.
    Setuptools,
}

/// A source distribution (`.tar.gz`) whose build runs fixture code.
#[derive(Clone, Debug)]
pub struct Sdist {
    c: Common,
    build_code: String,
    backend: SdistBackend,
    build_requires: Vec<String>,
}

const IN_TREE_BACKEND: &str = r#"
import base64, hashlib, os, runpy, zipfile


def _hook():
    if os.path.exists("fixture_build.py"):
        runpy.run_path("fixture_build.py", run_name="__main__")


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def _wheel(wheel_directory, files):
    name = DIST + "-" + VERSION + "-py3-none-any.whl"
    di = DIST + "-" + VERSION + ".dist-info/"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        def add(arc, data):
            z.writestr(arc, data)
            h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append("%s,sha256=%s,%d" % (arc, h.decode(), len(data)))
        for arc, data in files:
            add(arc, data)
        add(di + "METADATA", METADATA.encode())
        add(di + "WHEEL", ("Wheel-Version: 1.0\nGenerator: pkgward-fixture-backend\n"
                           "Root-Is-Purelib: true\nTag: py3-none-any\n").encode())
        record.append(di + "RECORD,,")
        z.writestr(di + "RECORD", "\n".join(record) + "\n")
    return name


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _hook()
    files = []
    for f in FILES:
        with open(f, "rb") as fh:
            files.append((f, fh.read()))
    return _wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # PEP 660: the wheel points back at this source tree.
    _hook()
    return _wheel(wheel_directory, [("__editable__." + DIST + ".pth", (os.getcwd() + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    raise NotImplementedError("the fixture backend only builds wheels")
"#;

impl Sdist {
    pub fn new(name: &str, version: &str) -> Sdist {
        Sdist {
            c: Common::new(name, version),
            build_code: String::new(),
            backend: SdistBackend::InTree,
            build_requires: Vec::new(),
        }
    }

    common_builders!();

    /// Python run when the sdist is built (in `setup.py` for the setuptools
    /// layouts, from the backend for [`SdistBackend::InTree`]); runs in the
    /// unpacked source tree. See [`super::py_marker`].
    pub fn build_code(mut self, python: &str) -> Self {
        self.build_code = python.to_string();
        self
    }

    /// [`SdistBackend::InTree`]: a build requirement (`[build-system]
    /// requires`), installed into pip's isolated build environment.
    pub fn build_requires(mut self, requirement: &str) -> Self {
        self.build_requires.push(requirement.to_string());
        self
    }

    pub fn backend(mut self, backend: SdistBackend) -> Self {
        self.backend = backend;
        self
    }

    /// `<escaped-name>-<version>.tar.gz` (PEP 625).
    pub fn filename(&self) -> String {
        format!("{}-{}.tar.gz", escape(&self.c.name), self.c.version)
    }

    pub fn bytes(&self) -> Vec<u8> {
        let root = format!("{}-{}", escape(&self.c.name), self.c.version);
        let files = self.c.package_files();
        let mut entries = vec![Entry::file("PKG-INFO", self.c.metadata())];
        let pystr = |s: &str| json!(s).to_string();
        match self.backend {
            SdistBackend::InTree => {
                let list: Vec<&str> = files.iter().map(|e| e.path.as_str()).collect();
                let backend = format!(
                    "NAME = {}\nVERSION = {}\nDIST = {}\nFILES = {}\nMETADATA = {}\n{}",
                    pystr(&self.c.name),
                    pystr(&self.c.version),
                    pystr(&escape(&self.c.name)),
                    json!(list),
                    pystr(&self.c.metadata()),
                    IN_TREE_BACKEND
                );
                entries.push(Entry::file("pkgward_fixture_backend.py", backend));
                entries.push(Entry::file(
                    "pyproject.toml",
                    format!(
                        "[build-system]\nrequires = {}\nbuild-backend = \"pkgward_fixture_backend\"\nbackend-path = [\".\"]\n",
                        json!(self.build_requires)
                    ),
                ));
                if !self.build_code.is_empty() {
                    entries.push(Entry::file("fixture_build.py", self.build_code.clone()));
                }
            }
            SdistBackend::SetupPy | SdistBackend::Setuptools => {
                let packages: Vec<String> = files
                    .iter()
                    .filter_map(|e| e.path.strip_suffix("/__init__.py"))
                    .map(|p| p.replace('/', "."))
                    .collect();
                let modules: Vec<&str> = files
                    .iter()
                    .filter(|e| !e.path.contains('/'))
                    .filter_map(|e| e.path.strip_suffix(".py"))
                    .collect();
                let mut setup = self.build_code.clone();
                setup.push_str(&format!(
                    "\nfrom setuptools import setup\nsetup(name={}, version={}, packages={}, py_modules={}, install_requires={}{})\n",
                    pystr(&self.c.name),
                    pystr(&self.c.version),
                    json!(packages),
                    json!(modules),
                    json!(self.c.requires),
                    self.c
                        .requires_python
                        .as_deref()
                        .map(|r| format!(", python_requires={}", pystr(r)))
                        .unwrap_or_default()
                ));
                entries.push(Entry::file("setup.py", setup));
                if self.backend == SdistBackend::Setuptools {
                    entries.push(Entry::file(
                        "pyproject.toml",
                        "[build-system]\nrequires = [\"setuptools>=40.8.0\"]\nbuild-backend = \"setuptools.build_meta\"\n",
                    ));
                }
            }
        }
        entries.extend(files);
        for e in &mut entries {
            e.path = format!("{root}/{}", e.path);
        }
        tar_gz(&entries)
    }
}

/// A distribution file to publish.
pub enum Dist<'a> {
    Wheel(&'a Wheel),
    Sdist(&'a Sdist),
}

/// What publishing produced.
#[derive(Clone, Debug)]
pub struct PyPublished {
    pub filename: String,
    pub url: String,
    /// Server path of the file.
    pub path: String,
    pub sha256: String,
    pub bytes: Arc<Vec<u8>>,
}

#[derive(Clone, Debug)]
struct PyFile {
    filename: String,
    url: String,
    version: String,
    sha256: String,
    size: usize,
    requires_python: Option<String>,
    uploaded: SystemTime,
    yanked: Option<String>,
}

#[derive(Default)]
struct Project {
    files: Vec<PyFile>,
}

/// A simple index under `prefix` (e.g. `/pypi`): `/pypi/simple/…` pages,
/// files under `/pypi/packages/<normalized>/<filename>`.
pub struct PypiIndex {
    server: ServerHandle,
    prefix: String,
    json: bool,
    projects: Mutex<BTreeMap<String, Project>>,
}

impl PypiIndex {
    pub fn new(server: ServerHandle, prefix: &str) -> PypiIndex {
        let idx = PypiIndex {
            server,
            prefix: prefix.trim_end_matches('/').to_string(),
            json: true,
            projects: Mutex::new(BTreeMap::new()),
        };
        idx.serve_root(&BTreeMap::new());
        idx
    }

    /// Serves only the HTML pages (PEP 503), as older or simpler indexes
    /// do; by default the PEP 691 JSON form is offered too, and pip >= 22.2
    /// prefers it.
    pub fn without_json(mut self) -> PypiIndex {
        self.json = false;
        self.serve_root(&self.projects.lock().unwrap());
        self
    }

    /// The value for `--index-url`: `http://127.0.0.1:PORT/pypi/simple/`.
    pub fn index_url(&self) -> String {
        self.server.url(&self.simple_path())
    }

    /// `/pypi/simple/`
    pub fn simple_path(&self) -> String {
        format!("{}/simple/", self.prefix)
    }

    /// `/pypi/simple/<normalized>/`
    pub fn project_path(&self, name: &str) -> String {
        format!("{}/simple/{}/", self.prefix, normalize(name))
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn publish_wheel(&self, w: &Wheel) -> PyPublished {
        self.publish(Dist::Wheel(w))
    }

    pub fn publish_sdist(&self, s: &Sdist) -> PyPublished {
        self.publish(Dist::Sdist(s))
    }

    pub fn publish(&self, d: Dist<'_>) -> PyPublished {
        let (c, filename, bytes) = match d {
            Dist::Wheel(w) => (&w.c, w.filename(), w.bytes()),
            Dist::Sdist(s) => (&s.c, s.filename(), s.bytes()),
        };
        let norm = normalize(&c.name);
        let path = format!("{}/packages/{}/{}", self.prefix, norm, filename);
        let url = self.server.url(&path);
        let bytes = Arc::new(bytes);
        let sha = sha256_hex(&bytes);
        self.server.respond(
            &path,
            Response {
                status: 200,
                content_type: "application/octet-stream".into(),
                headers: Vec::new(),
                body: bytes.clone(),
            },
        );
        let file = PyFile {
            filename: filename.clone(),
            url: url.clone(),
            version: c.version.clone(),
            sha256: sha.clone(),
            size: bytes.len(),
            requires_python: c.requires_python.clone(),
            uploaded: c.uploaded,
            yanked: c.yanked.clone(),
        };
        let mut all = self.projects.lock().unwrap();
        let p = all.entry(norm.clone()).or_default();
        p.files.retain(|f| f.filename != filename);
        p.files.push(file);
        self.serve_project(&norm, p);
        self.serve_root(&all);
        PyPublished {
            filename,
            url,
            path,
            sha256: sha,
            bytes,
        }
    }

    fn serve_project(&self, norm: &str, p: &Project) {
        let mut html = format!(
            "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Links for {norm}</title></head>\n<body><h1>Links for {norm}</h1>\n"
        );
        for f in &p.files {
            html.push_str(&format!("<a href=\"{}#sha256={}\"", f.url, f.sha256));
            if let Some(rp) = &f.requires_python {
                html.push_str(&format!(" data-requires-python=\"{}\"", html_escape(rp)));
            }
            if let Some(y) = &f.yanked {
                html.push_str(&format!(" data-yanked=\"{}\"", html_escape(y)));
            }
            html.push_str(&format!(">{}</a><br/>\n", f.filename));
        }
        html.push_str("</body></html>\n");
        let versions: BTreeSet<&str> = p.files.iter().map(|f| f.version.as_str()).collect();
        let files: Vec<Value> = p
            .files
            .iter()
            .map(|f| {
                let mut v = json!({
                    "filename": f.filename,
                    "url": f.url,
                    "hashes": {"sha256": f.sha256},
                    "size": f.size,
                    "upload-time": rfc3339_micros(f.uploaded),
                    "yanked": f.yanked.as_ref().map(|y| json!(y)).unwrap_or(json!(false)),
                });
                if let Some(rp) = &f.requires_python {
                    v["requires-python"] = json!(rp);
                }
                v
            })
            .collect();
        let doc = json!({
            "meta": {"api-version": "1.1"},
            "name": norm,
            "versions": versions,
            "files": files,
        });
        let route = self.negotiated(html, &doc);
        let path = format!("{}/simple/{}/", self.prefix, norm);
        self.server.route(&path, route.clone());
        self.server.route(path.trim_end_matches('/'), route);
    }

    fn serve_root(&self, all: &BTreeMap<String, Project>) {
        let mut html = String::from(
            "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Simple index</title></head>\n<body>\n",
        );
        for norm in all.keys() {
            html.push_str(&format!("<a href=\"{norm}/\">{norm}</a><br/>\n"));
        }
        html.push_str("</body></html>\n");
        let projects: Vec<Value> = all.keys().map(|n| json!({"name": n})).collect();
        let doc = json!({"meta": {"api-version": "1.1"}, "projects": projects});
        let route = self.negotiated(html, &doc);
        let path = self.simple_path();
        self.server.route(&path, route.clone());
        self.server.route(path.trim_end_matches('/'), route);
    }
}

impl PypiIndex {
    fn negotiated(&self, html: String, doc: &Value) -> Route {
        let mut list = vec![Response::ok(SIMPLE_HTML, html.clone())];
        if self.json {
            list.push(Response::ok(SIMPLE_JSON, serde_json::to_vec(doc).unwrap()));
        }
        list.push(Response::ok("text/html", html));
        Route::Negotiated(list)
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
