//! Self-test of the loopback registries in `tests/support/`: the real npm,
//! pip and cargo install fixture packages from them (and run their
//! install-time code when nothing guards it), and the hit logs show it.
//! One server and one set of fixtures per test binary.

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use support::tools::run_ok;
use support::*;

struct Fixtures {
    reg: &'static Registries,
    app: NpmPublished,
    dep: NpmPublished,
    evil: NpmPublished,
    wheel_app: PyPublished,
    wheel_util: PyPublished,
    sdist_evil: PyPublished,
    sdist_setup_py: PyPublished,
    /// A second, HTML-only simple index on the same server.
    html_index: PypiIndex,
    crates: Vec<CratePublished>,
    named_crates: Vec<CratePublished>,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let reg = shared();

        // npm: an app with one dependency (an older 0.9 of it too), and a
        // scoped package whose postinstall writes a marker.
        reg.publish_npm(&NpmPackage::new("pw-fixture-dep", "0.9.0"));
        let dep = reg.publish_npm(&NpmPackage::new("pw-fixture-dep", "1.0.1"));
        let app = reg.publish_npm(
            &NpmPackage::new("pw-fixture-app", "1.2.0")
                .dep("pw-fixture-dep", "^1.0.0")
                .file("lib/util.js", "module.exports = 42;\n"),
        );
        let evil = reg.publish_npm(
            &NpmPackage::new("@pw-fixture/evil", "0.1.0")
                .script("postinstall", "node install.js")
                .file("install.js", js_marker("npm-postinstall"))
                .published_at(days_ago(1)),
        );

        // PyPI: a wheel depending on another (whose name needs PEP 503
        // normalization), an sdist whose build writes a marker, and a
        // classic setup.py sdist.
        let wheel_util = reg.publish_wheel(
            &Wheel::new("PW_Fixture.Util", "1.0.0")
                .module("def answer():\n    return 42\n")
                .requires_python(">=3.7"),
        );
        let wheel_app = reg.publish_wheel(
            &Wheel::new("pw-fixture-app", "2.0.0")
                .dep("pw-fixture-util>=1.0")
                .dist_info_file(
                    "entry_points.txt",
                    "[console_scripts]\npw-fixture-app = pw_fixture_app:main\n",
                ),
        );
        let sdist_evil = reg.publish_sdist(
            &Sdist::new("pw-fixture-evil", "0.1.0").build_code(&py_marker("pip-sdist-build")),
        );
        let sdist_setup_py = reg.publish_sdist(
            &Sdist::new("pw-fixture-setuppy", "0.2.0")
                .backend(SdistBackend::SetupPy)
                .build_code(&py_marker("pip-setup-py")),
        );

        let html_index = PypiIndex::new(reg.server.handle(), "/pypi-html").without_json();
        html_index.publish_wheel(&Wheel::new("pw-fixture-html", "3.1.4"));

        // Cargo (crates-io replaced): a crate with a build script and a
        // dependency, and a 3-letter crate (index path 3/p/pwx).
        let leaf = reg.publish_crate(&Crate::new("pw-fixture-leaf", "1.0.0"));
        let built = reg.publish_crate(
            &Crate::new("pw-fixture-build", "0.3.0")
                .dep("pw-fixture-leaf", "^1")
                .build_script(&rs_build_marker("cargo-build-rs"))
                .lib(
                    "#[cfg(fixture_build_ran)]\n\
                     pub fn describe() -> String {\n    \
                     format!(\"built+{}\", pw_fixture_leaf::fixture_name())\n}\n",
                ),
        );
        let short = reg.publish_crate(&Crate::new("pwx", "1.0.0"));

        // Cargo as a named registry: dependencies inside the crates name it.
        reg.cargo.named_manifests(true);
        let nleaf = reg.publish_crate(&Crate::new("pw-named-leaf", "1.0.0"));
        let ntop =
            reg.publish_crate(&Crate::new("pw-named-top", "1.0.0").dep("pw-named-leaf", "1"));
        reg.cargo.named_manifests(false);

        Fixtures {
            reg,
            app,
            dep,
            evil,
            wheel_app,
            wheel_util,
            sdist_evil,
            sdist_setup_py,
            html_index,
            crates: vec![leaf, built, short],
            named_crates: vec![nleaf, ntop],
        }
    })
}

/// A sandbox whose tools send anything non-loopback to a trap listener.
fn sandbox() -> (Sandbox, Listener) {
    let trap = Listener::start();
    let mut sb = Sandbox::new();
    sb.trap_proxies(&trap.base_url());
    (sb, trap)
}

fn hit_paths(f: &Fixtures, prefix: &str) -> BTreeSet<String> {
    f.reg
        .server
        .hits_under(prefix)
        .into_iter()
        .map(|h| h.path)
        .collect()
}

fn assert_hosts_loopback(f: &Fixtures) {
    let want = format!("127.0.0.1:{}", f.reg.server.port());
    for h in f.reg.hits() {
        assert_eq!(h.host.as_deref(), Some(want.as_str()), "{h:?}");
    }
}

#[test]
fn npm_installs_package_with_dependency() {
    let f = fixtures();
    let (sb, trap) = sandbox();
    sb.write(
        "package.json",
        r#"{"name":"selftest","version":"1.0.0","private":true}"#,
    );
    run_ok(
        sb.npm(&f.reg.npm_url())
            .args(["install", "pw-fixture-app", "--no-audit", "--no-fund"]),
    );

    let nm = sb.work.join("node_modules");
    let pj = |p: &str| -> Value {
        serde_json::from_slice(&std::fs::read(nm.join(p).join("package.json")).unwrap()).unwrap()
    };
    assert_eq!(pj("pw-fixture-app")["version"], "1.2.0");
    assert_eq!(pj("pw-fixture-dep")["version"], "1.0.1");
    assert!(nm.join("pw-fixture-app/lib/util.js").is_file());

    let lock: Value =
        serde_json::from_slice(&std::fs::read(sb.work.join("package-lock.json")).unwrap()).unwrap();
    for (key, published) in [
        ("node_modules/pw-fixture-app", &f.app),
        ("node_modules/pw-fixture-dep", &f.dep),
    ] {
        let entry = &lock["packages"][key];
        assert_eq!(entry["resolved"], published.tarball_url.as_str(), "{key}");
        assert_eq!(entry["integrity"], published.integrity.as_str(), "{key}");
        assert!(published.tarball_url.starts_with("http://127.0.0.1:"));
    }

    let paths = hit_paths(f, "/npm/");
    for p in [
        "/npm/pw-fixture-app",
        "/npm/pw-fixture-dep",
        f.app.tarball_path.as_str(),
        f.dep.tarball_path.as_str(),
    ] {
        assert!(paths.contains(p), "{p} not requested; got {paths:?}");
    }
    // npm 11.19 asks for the full packument (`Accept: application/json`,
    // so the `time` map is there); older npm asked for the abbreviated one.
    let packument_hits = f.reg.server.hits_under("/npm/pw-fixture-app");
    assert!(packument_hits
        .iter()
        .any(|h| h.header("pacote-req-type") == Some("packument") && h.header("accept").is_some()));
    assert_hosts_loopback(f);
    trap.assert_untouched();
}

#[test]
fn npm_runs_postinstall_of_scoped_fixture() {
    let f = fixtures();
    let (sb, trap) = sandbox();
    sb.write(
        "package.json",
        r#"{"name":"selftest-evil","version":"1.0.0","private":true}"#,
    );
    run_ok(sb.npm(&f.reg.npm_url()).args([
        "install",
        "@pw-fixture/evil",
        "--no-audit",
        "--no-fund",
    ]));
    assert_eq!(sb.marker("npm-postinstall").as_deref(), Some("ran\n"));
    assert!(sb
        .work
        .join("node_modules/@pw-fixture/evil/install.js")
        .is_file());
    let lock: Value =
        serde_json::from_slice(&std::fs::read(sb.work.join("package-lock.json")).unwrap()).unwrap();
    let entry = &lock["packages"]["node_modules/@pw-fixture/evil"];
    assert_eq!(entry["hasInstallScript"], true);
    assert_eq!(entry["integrity"], f.evil.integrity.as_str());
    // The scoped name arrives as @pw-fixture%2fevil and is routed decoded.
    let hits = f.reg.server.hits_under("/npm/@pw-fixture/evil");
    assert!(hits
        .iter()
        .any(|h| h.target.contains("%2f") || h.target.contains("%2F")));
    assert!(f.reg.server.was_requested(&f.evil.tarball_path));
    trap.assert_untouched();
}

#[test]
fn pip_installs_wheel_with_dependency() {
    let f = fixtures();
    let (sb, trap) = sandbox();
    let target = sb.root().join("site");
    run_ok(
        sb.pip(&f.reg.pypi_index_url())
            .args(["install", "--target"])
            .arg(&target)
            .arg("pw-fixture-app==2.0.0"),
    );
    assert!(target.join("pw_fixture_app/__init__.py").is_file());
    assert!(target.join("pw_fixture_util/__init__.py").is_file());
    assert!(target
        .join("pw_fixture_app-2.0.0.dist-info/METADATA")
        .is_file());
    assert!(target
        .join("pw_fixture_util-1.0.0.dist-info/RECORD")
        .is_file());
    // The module works.
    let out = run_ok(
        sb.command(support::tools::real_python(), &[])
            .env("PYTHONPATH", &target)
            .args([
                "-c",
                "import pw_fixture_util; print(pw_fixture_util.answer())",
            ]),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");

    let paths = hit_paths(f, "/pypi/");
    for p in [
        "/pypi/simple/pw-fixture-app/",
        "/pypi/simple/pw-fixture-util/",
        f.wheel_app.path.as_str(),
        f.wheel_util.path.as_str(),
    ] {
        assert!(paths.contains(p), "{p} not requested; got {paths:?}");
    }
    // pip 23 asks for (and gets) the PEP 691 JSON form.
    let page = f.reg.server.hits_under("/pypi/simple/pw-fixture-app/");
    assert_eq!(page[0].content_type, support::pypi::SIMPLE_JSON);
    assert_hosts_loopback(f);
    trap.assert_untouched();
}

#[test]
fn pip_installs_from_html_only_index() {
    let f = fixtures();
    let (sb, trap) = sandbox();
    let target = sb.root().join("site");
    run_ok(
        sb.pip(&f.html_index.index_url())
            .args(["install", "--target"])
            .arg(&target)
            .arg("PW.Fixture_HTML"),
    );
    assert!(target
        .join("pw_fixture_html-3.1.4.dist-info/METADATA")
        .is_file());
    let page = f
        .reg
        .server
        .hits_under("/pypi-html/simple/pw-fixture-html/");
    assert_eq!(page[0].content_type, support::pypi::SIMPLE_HTML);
    assert!(f.reg.server.was_requested(
        "/pypi-html/packages/pw-fixture-html/pw_fixture_html-3.1.4-py3-none-any.whl"
    ));
    trap.assert_untouched();
}

#[test]
fn pip_builds_sdist_and_runs_its_build_code() {
    let f = fixtures();
    let (sb, trap) = sandbox();
    let target = sb.root().join("site");
    run_ok(
        sb.pip(&f.reg.pypi_index_url())
            .args(["install", "--no-binary", ":all:", "--target"])
            .arg(&target)
            .arg("pw-fixture-evil"),
    );
    assert_eq!(sb.marker("pip-sdist-build").as_deref(), Some("ran\n"));
    assert!(target.join("pw_fixture_evil/__init__.py").is_file());
    assert!(f.reg.server.was_requested(&f.sdist_evil.path));
    trap.assert_untouched();
}

/// A classic setup.py sdist, built with `--no-build-isolation` (with
/// isolation pip would fetch setuptools and wheel from the index). setup.py
/// runs while pip prepares metadata, so the marker appears even where the
/// `wheel` package is missing and the build itself then fails
/// ("invalid command 'bdist_wheel'" with setuptools < 70.1).
#[test]
fn pip_runs_setup_py_of_classic_sdist() {
    let f = fixtures();
    let (sb, trap) = sandbox();
    let can_build = sb
        .command(support::tools::real_python(), &[])
        .args(["-c", "import setuptools, wheel"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let target = sb.root().join("site");
    let out = sb
        .pip(&f.reg.pypi_index_url())
        .args([
            "install",
            "--no-build-isolation",
            "--no-binary",
            ":all:",
            "--target",
        ])
        .arg(&target)
        .arg("pw-fixture-setuppy")
        .output()
        .unwrap();
    assert_eq!(
        sb.marker("pip-setup-py").as_deref(),
        Some("ran\n"),
        "{out:?}"
    );
    if can_build {
        assert!(out.status.success(), "{out:?}");
        assert!(target.join("pw_fixture_setuppy/__init__.py").is_file());
    }
    assert!(f.reg.server.was_requested(&f.sdist_setup_py.path));
    trap.assert_untouched();
}

#[test]
fn cargo_builds_project_with_fixture_crates() {
    let f = fixtures();
    let (sb, trap) = sandbox();
    sb.cargo_config(&f.reg.cargo.config_replacing_crates_io());
    sb.write(
        "Cargo.toml",
        "[package]\nname = \"selftest-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\npw-fixture-build = \"0.3\"\npwx = \"1\"\n",
    );
    sb.write(
        "src/main.rs",
        "fn main() {\n    println!(\"{} {}\", pw_fixture_build::describe(), pwx::fixture_name());\n}\n",
    );
    run_ok(sb.cargo().args(["build", "--quiet"]));
    assert_eq!(sb.marker("cargo-build-rs").as_deref(), Some("ran\n"));
    let out = run_ok(sb.cargo().args(["run", "--quiet"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "built+pw-fixture-leaf-1.0.0 pwx-1.0.0"
    );
    let lock = std::fs::read_to_string(sb.work.join("Cargo.lock")).unwrap();
    for c in &f.crates {
        assert!(
            lock.contains(&format!("checksum = \"{}\"", c.cksum)),
            "{}",
            c.name
        );
    }

    let paths = hit_paths(f, "/cargo/");
    assert!(paths.contains("/cargo/config.json"), "{paths:?}");
    for c in &f.crates {
        assert!(
            paths.contains(&c.index_path),
            "{} not requested; got {paths:?}",
            c.index_path
        );
        assert!(
            paths.contains(&c.download_path),
            "{} not requested; got {paths:?}",
            c.download_path
        );
    }
    assert!(paths.contains("/cargo/3/p/pwx"));
    assert!(paths.contains("/cargo/pw/-f/pw-fixture-build"));
    assert_hosts_loopback(f);
    trap.assert_untouched();
}

#[test]
fn cargo_fetches_from_named_registry() {
    let f = fixtures();
    let (sb, trap) = sandbox();
    sb.cargo_config(&f.reg.cargo.config_named("fixture"));
    sb.write(
        "Cargo.toml",
        "[package]\nname = \"selftest-named\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\npw-named-top = { version = \"1\", registry = \"fixture\" }\n",
    );
    sb.write("src/lib.rs", "pub use pw_named_top::fixture_name;\n");
    run_ok(sb.cargo().args(["fetch", "--quiet"]));
    let lock = std::fs::read_to_string(sb.work.join("Cargo.lock")).unwrap();
    let source = format!("source = \"{}\"", f.reg.cargo_index_url());
    assert_eq!(lock.matches(&source).count(), 2, "{lock}");
    for c in &f.named_crates {
        assert!(f.reg.server.was_requested(&c.download_path), "{}", c.name);
    }
    trap.assert_untouched();
}

// ---- the server itself -------------------------------------------------

fn raw_exchange(port: u16, requests: &str, expect_responses: usize) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(requests.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while String::from_utf8_lossy(&got).matches("HTTP/1.1 ").count() < expect_responses
        || !String::from_utf8_lossy(&got).ends_with("\n")
    {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn server_keep_alive_head_404_and_hit_log() {
    let server = HttpServer::start();
    server.serve("/a/b.txt", "text/plain", "hello\n");
    let port = server.port();
    let out = raw_exchange(
        port,
        "GET /a/b.txt?x=1 HTTP/1.1\r\nHost: fixture.test\r\n\r\n\
         HEAD /a/b.txt HTTP/1.1\r\nHost: fixture.test\r\n\r\n\
         POST /a/%62.txt HTTP/1.1\r\nHost: fixture.test\r\nContent-Length: 3\r\n\r\nabc\
         GET /missing HTTP/1.1\r\nHost: fixture.test\r\nConnection: close\r\n\r\n",
        4,
    );
    let responses: Vec<&str> = out.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(responses.len(), 4, "{out}");
    assert!(responses[0].starts_with("200") && responses[0].ends_with("\r\n\r\nhello\n"));
    assert!(responses[1].starts_with("200") && responses[1].contains("Content-Length: 6"));
    assert!(responses[1].ends_with("\r\n\r\n"), "HEAD has no body");
    assert!(responses[2].starts_with("200") && responses[2].ends_with("hello\n"));
    assert!(responses[3].starts_with("404") && responses[3].contains("Connection: close"));

    let hits = server.hits();
    let summary: Vec<(&str, &str, &str)> = hits
        .iter()
        .map(|h| (h.method.as_str(), h.path.as_str(), h.target.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("GET", "/a/b.txt", "/a/b.txt?x=1"),
            ("HEAD", "/a/b.txt", "/a/b.txt"),
            ("POST", "/a/b.txt", "/a/%62.txt"),
            ("GET", "/missing", "/missing"),
        ]
    );
    assert!(hits
        .iter()
        .all(|h| h.host.as_deref() == Some("fixture.test")));
    assert_eq!(hits[3].status, 404);
    // One connection served all four.
    assert!(hits.iter().all(|h| h.peer == hits[0].peer));

    // Routes can be added while running; Accept picks a variant.
    server.route(
        "/neg",
        Route::Negotiated(vec![
            Response::ok("application/json", "{}"),
            Response::ok(support::npm::CORGI, "corgi"),
        ]),
    );
    let corgi = raw_exchange(
        port,
        "GET /neg HTTP/1.1\r\nHost: x.test\r\nAccept: application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*\r\nConnection: close\r\n\r\n",
        1,
    );
    assert!(corgi.ends_with("corgi"), "{corgi}");
    let plain = raw_exchange(
        port,
        "GET /neg HTTP/1.1\r\nHost: x.test\r\nConnection: close\r\n\r\n",
        1,
    );
    assert!(plain.ends_with("{}"), "{plain}");

    // Dropping the server stops it.
    drop(server);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn listener_records_raw_connections() {
    let quiet = Listener::start();
    let noisy = Listener::start();
    let mut s = TcpStream::connect(("127.0.0.1", noisy.port())).unwrap();
    s.write_all(b"GET /secret HTTP/1.1\r\nHost: mirror.example.com\r\n\r\n")
        .unwrap();
    // The listener closes after the request head; nothing comes back.
    let mut buf = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.read_to_end(&mut buf);
    assert!(buf.is_empty());
    let conns = noisy.connections();
    assert_eq!(conns.len(), 1);
    assert!(conns[0].text().starts_with("GET /secret HTTP/1.1\r\n"));
    quiet.assert_untouched();
}

#[test]
fn registry_documents_are_well_formed() {
    let f = fixtures();
    let doc = f.reg.npm.packument("pw-fixture-dep").unwrap();
    assert_eq!(doc["dist-tags"]["latest"], "1.0.1");
    assert_eq!(doc["time"]["1.0.1"], "2020-01-01T00:00:00.000Z");
    assert_eq!(
        doc["versions"]["1.0.1"]["dist"]["shasum"],
        f.dep.shasum.as_str()
    );
    assert_eq!(
        f.dep.shasum,
        support::digest::sha1_hex(&f.dep.tarball),
        "shasum is sha1 of the tarball"
    );
    let evil = f.reg.npm.packument("@pw-fixture/evil").unwrap();
    assert_eq!(evil["versions"]["0.1.0"]["hasInstallScript"], true);
    assert_eq!(
        f.reg.cargo.index_path("pw-fixture-leaf"),
        "/cargo/pw/-f/pw-fixture-leaf"
    );
    assert_eq!(support::cargo::index_rel_path("a"), "1/a");
    assert_eq!(support::cargo::index_rel_path("ab"), "2/ab");
    assert_eq!(support::cargo::index_rel_path("Abc"), "3/a/abc");
    assert_eq!(
        support::pypi::normalize("PW_Fixture.Util"),
        "pw-fixture-util"
    );
    assert_eq!(support::pypi::escape("PW_Fixture..Util"), "pw_fixture_util");
    assert_eq!(
        f.wheel_util.filename,
        "pw_fixture_util-1.0.0-py3-none-any.whl"
    );
    assert_eq!(f.sdist_evil.filename, "pw_fixture_evil-0.1.0.tar.gz");
}

#[test]
fn digests_and_times() {
    use support::digest::*;
    assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert_eq!(
        sha1_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
    );
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fooba"), "Zm9vYmE=");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64_url_nopad(&[0xfb, 0xff]), "-_8");
    assert_eq!(support::archive::crc32(b"123456789"), 0xCBF4_3926);
    let t = std::time::UNIX_EPOCH + Duration::from_millis(1_709_164_800_123);
    assert_eq!(rfc3339_millis(t), "2024-02-29T00:00:00.123Z");
    assert_eq!(rfc3339_secs(default_published()), "2020-01-01T00:00:00Z");
    assert_eq!(
        rfc3339_micros(default_published()),
        "2020-01-01T00:00:00.000000Z"
    );
}

#[test]
fn go_proxy_layout() {
    use support::gomod::{escape, hash1, GoModule, GoProxy};
    assert_eq!(escape("example.com/Fixture/A"), "example.com/!fixture/!a");
    let mut proxy = GoProxy::new();
    proxy
        .add(GoModule::new("example.com/fixture/a", "v1.0.0"))
        .add(
            GoModule::new("example.com/fixture/a", "v1.1.0")
                .require("example.com/fixture/b", "v0.1.0"),
        )
        .add(GoModule::new("example.com/fixture/b", "v0.1.0"));
    let dir = tempfile::tempdir().unwrap();
    let url = proxy.write_to(dir.path());
    assert!(url.starts_with("file:///"));
    let list = std::fs::read_to_string(dir.path().join("example.com/fixture/a/@v/list")).unwrap();
    assert_eq!(list, "v1.0.0\nv1.1.0\n");
    let info: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("example.com/fixture/a/@latest")).unwrap(),
    )
    .unwrap();
    assert_eq!(info["Version"], "v1.1.0");
    let m =
        std::fs::read_to_string(dir.path().join("example.com/fixture/a/@v/v1.1.0.mod")).unwrap();
    assert!(m.contains("require (\n\texample.com/fixture/b v0.1.0\n)"));
    assert!(dir
        .path()
        .join("example.com/fixture/b/@v/v0.1.0.zip")
        .is_file());
    // h1: is sha256 over "<hex sha256>  <name>\n" lines, base64.
    let h = hash1(&[("go.mod".to_string(), b"module x\n".to_vec())]);
    let line = format!("{}  go.mod\n", support::digest::sha256_hex(b"module x\n"));
    let want = support::digest::base64(&support::digest::sha256(line.as_bytes()));
    assert_eq!(h, format!("h1:{want}"));
}
