//! Provenance end to end: the real npm, pip (in a venv) and cargo behind
//! pkgward shims install fixture packages from the loopback registries;
//! the `package` records name what was added, changed and removed with the
//! hashes of the very artifacts the test built (npm's sha512 integrity and
//! the tarball's sha256 the proxy computed, the wheel's sha256, the
//! `.crate`'s sha256); every tarball/wheel/crate download is an `artifact`
//! record; the executables the installs wrote into bin directories are
//! `file-written` records with their sha256.

mod support;

use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;
use support::digest::{base64, sha256_hex, sha512};
use support::guard::{pkgward_bin, text, Guarded};
use support::tools::{real_cargo, real_python, run_ok};
use support::{shared, Crate, NpmPackage, Wheel};

fn policy() -> String {
    let r = shared();
    format!(
        "mode = \"enforce\"\n[registries]\nnpm = [\"{}\"]\npypi = [\"{}\"]\ncargo = [\"{}\"]\n",
        r.npm_url(),
        r.pypi_index_url(),
        r.cargo_index_url().trim_start_matches("sparse+"),
    )
}

/// The records of `kind` written by the last invocation.
fn last(g: &Guarded, kind: &str) -> Vec<Value> {
    let id = g.last_invocation()["invocation_id"].clone();
    g.audit()
        .into_iter()
        .filter(|r| r["invocation_id"] == id && r["kind"] == kind)
        .collect()
}

fn find<'a>(recs: &'a [Value], name: &str) -> &'a Value {
    recs.iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no record for {name} in {recs:#?}"))
}

/// The invocation's records stay together: package records come before
/// its exit record.
fn assert_before_exit(g: &Guarded) {
    let id = g.last_invocation()["invocation_id"].clone();
    let kinds: Vec<String> = g
        .audit()
        .into_iter()
        .filter(|r| r["invocation_id"] == id)
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds.last().map(String::as_str), Some("exit"), "{kinds:?}");
}

// ---- npm ------------------------------------------------------------------

#[test]
fn npm_install_upgrade_and_uninstall() {
    let r = shared();
    let dep = r.publish_npm(&NpmPackage::new("pw-pv-dep", "1.0.0"));
    let cli = "#!/usr/bin/env node\nconsole.log('pv');\n";
    let top = r.publish_npm(
        &NpmPackage::new("pw-pv-top", "1.0.0")
            .dep("pw-pv-dep", "^1.0.0")
            .executable("cli.js", cli)
            .field("bin", serde_json::json!({ "pw-pv-top": "cli.js" })),
    );
    let g = Guarded::new(&policy());
    g.sb.write("package.json", r#"{"name":"pv-app","version":"1.0.0"}"#);
    let out = g.npm(&["install", "pw-pv-top@1.0.0"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let pkgs = last(&g, "package");
    assert_eq!(pkgs.len(), 2, "{pkgs:#?}");
    for (rec, p) in [
        (find(&pkgs, "pw-pv-top"), &top),
        (find(&pkgs, "pw-pv-dep"), &dep),
    ] {
        assert_eq!(rec["change"], "added", "{rec}");
        assert_eq!(rec["ecosystem"], "npm");
        assert_eq!(rec["version"], "1.0.0");
        assert_eq!(rec["purl"], format!("pkg:npm/{}@1.0.0", p.name));
        assert_eq!(rec["source_kind"], "registry");
        assert_eq!(rec["evidence"], "package-lock", "{rec}");
        assert_eq!(
            rec["path"],
            g.sb.work.join("package-lock.json").display().to_string()
        );
        assert_eq!(rec["resolved"], p.tarball_url, "{rec}");
        // The lockfile's integrity is the tarball's sha512 …
        let sri = format!("sha512-{}", base64(&sha512(&p.tarball)));
        assert_eq!(sri, p.integrity);
        assert_eq!(rec["integrity"][0]["algorithm"], "sha512", "{rec}");
        assert_eq!(
            rec["integrity"][0]["value"],
            sri["sha512-".len()..],
            "{rec}"
        );
        // … and the proxy hashed the tarball as it relayed it.
        assert_eq!(rec["sha256"], sha256_hex(&p.tarball), "{rec}");
    }
    let arts = last(&g, "artifact");
    let tgz = arts
        .iter()
        .find(|a| a["url"] == top.tarball_url.as_str())
        .unwrap_or_else(|| panic!("no artifact for the tarball: {arts:#?}"));
    assert_eq!(tgz["size"], top.tarball.len() as u64);
    assert_eq!(tgz["sha256"], sha256_hex(&top.tarball));
    assert_eq!(tgz["status"], 200);
    assert_eq!(tgz["method"], "GET");
    assert!(arts.iter().any(|a| a["url"] == dep.tarball_url.as_str()));
    // The packument, too, is an artifact (plain HTTP, relayed and hashed).
    assert!(arts.iter().all(|a| a["sha256"].is_string()), "{arts:#?}");

    // The bin link npm made, with the sha256 of the script it leads to.
    let written = last(&g, "file-written");
    let link = g.sb.work.join("node_modules/.bin/pw-pv-top");
    let w = written
        .iter()
        .find(|w| w["path"] == link.display().to_string())
        .unwrap_or_else(|| panic!("no record of {}: {written:#?}", link.display()));
    assert_eq!(w["change"], "created");
    assert_eq!(w["sha256"], sha256_hex(cli.as_bytes()), "{w}");
    assert_eq!(w["link_target"], "../pw-pv-top/cli.js", "{w}");
    assert_before_exit(&g);

    // A version bump: `changed`, with the version before.
    let top2 = r.publish_npm(
        &NpmPackage::new("pw-pv-top", "1.1.0")
            .dep("pw-pv-dep", "^1.0.0")
            .executable("cli.js", cli)
            .field("bin", serde_json::json!({ "pw-pv-top": "cli.js" })),
    );
    let out = g.npm(&["install", "pw-pv-top@1.1.0"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pkgs = last(&g, "package");
    assert_eq!(pkgs.len(), 1, "{pkgs:#?}");
    assert_eq!(pkgs[0]["change"], "changed");
    assert_eq!(pkgs[0]["version"], "1.1.0");
    assert_eq!(pkgs[0]["previous_version"], "1.0.0");
    assert_eq!(pkgs[0]["sha256"], sha256_hex(&top2.tarball));

    // Removal: the package and the dependency only it needed.
    let out = g.npm(&["uninstall", "pw-pv-top"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pkgs = last(&g, "package");
    let rows: Vec<(String, String, String)> = pkgs
        .iter()
        .map(|p| {
            (
                p["change"].as_str().unwrap().into(),
                p["name"].as_str().unwrap().into(),
                p["version"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("removed".into(), "pw-pv-dep".into(), "1.0.0".into()),
            ("removed".into(), "pw-pv-top".into(), "1.1.0".into()),
        ]
    );
    assert!(last(&g, "artifact").is_empty());

    // Nothing changes: no package records at all.
    let out = g.npm(&["install"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(last(&g, "package").is_empty());
}

// ---- pip --------------------------------------------------------------------

/// One venv per test binary (with its own pip).
fn venv() -> &'static Path {
    static V: OnceLock<std::path::PathBuf> = OnceLock::new();
    V.get_or_init(|| {
        // In the target's temp directory, made afresh each run: a venv kept
        // in the system temp directory was left behind by every run.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("provenance-venv");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        run_ok(
            std::process::Command::new(real_python())
                .args(["-m", "venv"])
                .arg(dir.join("venv")),
        );
        dir.join("venv")
    })
}

#[test]
fn pip_install_into_a_venv_and_uninstall() {
    let r = shared();
    let wheel = Wheel::new("pw_pv_py", "2.0.0")
        .module("def main():\n    print('pv')\n")
        .dist_info_file(
            "entry_points.txt",
            "[console_scripts]\npw-pv-py = pw_pv_py:main\n",
        );
    let published = r.publish_wheel(&wheel);
    let g = Guarded::new(&policy());
    // The real pip is the venv's, as with an activated venv.
    let venv = venv();
    std::fs::remove_file(g.real.join("pip")).unwrap();
    std::os::unix::fs::symlink(venv.join("bin/pip"), g.real.join("pip")).unwrap();

    let out = g.pip(&["install", "--no-cache-dir", "pw-pv-py==2.0.0"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pkgs = last(&g, "package");
    assert_eq!(pkgs.len(), 1, "{pkgs:#?}");
    let p = &pkgs[0];
    assert_eq!(p["change"], "added");
    assert_eq!(p["ecosystem"], "pypi");
    assert_eq!(p["name"], "pw-pv-py");
    assert_eq!(p["version"], "2.0.0");
    assert_eq!(p["purl"], "pkg:pypi/pw-pv-py@2.0.0");
    assert_eq!(p["evidence"], "dist-info");
    assert!(
        p["path"]
            .as_str()
            .unwrap()
            .ends_with("pw_pv_py-2.0.0.dist-info"),
        "{p}"
    );
    assert!(
        p["path"]
            .as_str()
            .unwrap()
            .starts_with(&venv.display().to_string()),
        "{p}"
    );
    // The wheel's sha256, as the proxy computed it, and where it came from.
    assert_eq!(p["sha256"], published.sha256, "{p}");
    assert_eq!(published.sha256, sha256_hex(&published.bytes));
    assert_eq!(p["resolved"], published.url, "{p}");
    let arts = last(&g, "artifact");
    let a = arts
        .iter()
        .find(|a| a["url"] == published.url.as_str())
        .unwrap_or_else(|| panic!("{arts:#?}"));
    assert_eq!(a["size"], published.bytes.len() as u64);
    // The console script pip wrote into the venv's bin.
    let written = last(&g, "file-written");
    let script = venv.join("bin/pw-pv-py");
    let w = written
        .iter()
        .find(|w| w["path"] == script.display().to_string())
        .unwrap_or_else(|| panic!("{written:#?}"));
    assert_eq!(
        w["sha256"],
        sha256_hex(&std::fs::read(&script).unwrap()),
        "{w}"
    );
    assert_before_exit(&g);

    let out = g.pip(&["uninstall", "-y", "pw-pv-py"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pkgs = last(&g, "package");
    assert_eq!(pkgs.len(), 1, "{pkgs:#?}");
    assert_eq!(pkgs[0]["change"], "removed");
    assert_eq!(pkgs[0]["name"], "pw-pv-py");
}

// ---- cargo ------------------------------------------------------------------

fn cargo_guarded() -> Guarded {
    let g = Guarded::new(&policy());
    std::os::unix::fs::symlink(pkgward_bin(), g.shims.join("cargo")).unwrap();
    let p = g.real.join("cargo");
    std::fs::write(
        &p,
        format!("#!/bin/sh\nexec '{}' \"$@\"\n", real_cargo().display()),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    g.sb.cargo_config(&shared().cargo.config_replacing_crates_io());
    g
}

fn cargo(g: &Guarded, args: &[&str]) -> std::process::Output {
    g.sb.command("cargo", &[g.sb.cargo_env(), g.pkgward_env()])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cargo_build_and_install() {
    let r = shared();
    let leaf = r.publish_crate(&Crate::new("pw-pv-leaf", "1.0.0"));
    let tool = r.publish_crate(
        &Crate::new("pw-pv-tool", "0.3.0")
            .dep("pw-pv-leaf", "^1")
            .file(
                "src/main.rs",
                "fn main() {\n    println!(\"{}\", pw_pv_leaf::fixture_name());\n}\n",
            ),
    );
    let g = cargo_guarded();
    g.sb.write(
        "Cargo.toml",
        "[package]\nname = \"pv-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\npw-pv-leaf = \"1\"\n",
    );
    g.sb.write("src/main.rs", "fn main() {}\n");
    let out = cargo(&g, &["build", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pkgs = last(&g, "package");
    assert_eq!(pkgs.len(), 1, "{pkgs:#?}");
    let p = &pkgs[0];
    assert_eq!(p["change"], "added");
    assert_eq!(p["name"], "pw-pv-leaf");
    assert_eq!(p["purl"], "pkg:cargo/pw-pv-leaf@1.0.0");
    assert_eq!(p["evidence"], "cargo-lock");
    // Cargo.lock's checksum is the .crate's sha256; the proxy agrees.
    assert_eq!(p["sha256"], leaf.cksum, "{p}");
    assert_eq!(leaf.cksum, sha256_hex(&leaf.bytes));
    assert_eq!(p["integrity"][0]["value"], leaf.cksum);
    let arts = last(&g, "artifact");
    let a = arts
        .iter()
        .find(|a| a["url"].as_str().unwrap().ends_with(&leaf.download_path))
        .unwrap_or_else(|| panic!("{arts:#?}"));
    assert_eq!(a["sha256"], leaf.cksum);
    assert_before_exit(&g);

    // `cargo install`: its install registry, the .crate cargo kept, the binary.
    let out = cargo(&g, &["install", "--quiet", "pw-pv-tool"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pkgs = last(&g, "package");
    let p = find(&pkgs, "pw-pv-tool");
    assert_eq!(p["change"], "added");
    assert_eq!(p["evidence"], "cargo-install");
    assert_eq!(p["version"], "0.3.0");
    assert_eq!(p["sha256"], tool.cksum, "{p}");
    let bin = g.sb.cargo_home().join("bin/pw-pv-tool");
    let written = last(&g, "file-written");
    let w = written
        .iter()
        .find(|w| w["path"] == bin.display().to_string())
        .unwrap_or_else(|| panic!("{written:#?}"));
    assert_eq!(w["sha256"], sha256_hex(&std::fs::read(&bin).unwrap()));

    let out = cargo(&g, &["uninstall", "pw-pv-tool"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pkgs = last(&g, "package");
    assert_eq!(pkgs.len(), 1, "{pkgs:#?}");
    assert_eq!(pkgs[0]["change"], "removed");
}
