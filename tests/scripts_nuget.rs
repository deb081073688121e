//! The `nuget` CLI's packages.config installs through the pkgward shim,
//! with a stand-in `nuget` (no nuget.exe/mono on the test machines) that
//! records its argv and extracts two packages as nuget does
//! (`NAME.VERSION/` with the `.nuspec`): `Evil.Build` carrying
//! `build/Evil.Build.targets` and `tools/install.ps1`, and a plain one.
//! Unapproved: the command fails with 77, the evil package is removed again
//! (no build can import it), the plain one stays; approved: both stay, the
//! tool's exit code is kept, recorded.

mod support;

use std::path::Path;
use std::process::Output;

use support::guard::{pkgward_bin, text, Guarded};

fn guarded(mode: &str, allow: &[&str]) -> Guarded {
    let allow: Vec<String> = allow.iter().map(|a| format!("{a:?}")).collect();
    let g = Guarded::new(&format!(
        "mode = \"{mode}\"\n[registries]\nnuget = [\"builtin\"]\n[scripts]\nallow = [{}]\n",
        allow.join(", ")
    ));
    std::os::unix::fs::symlink(pkgward_bin(), g.shims.join("nuget")).unwrap();
    let fake = g.real.join("nuget");
    // The packages folder: -OutputDirectory / -PackagesDirectory, else
    // `packages` (restore) or the working directory (install).
    std::fs::write(
        &fake,
        "#!/bin/sh\n\
         [ -n \"$PKGWARD_PROBE\" ] && exit 0\n\
         printf '%s\\n' \"$*\" >> \"$FIXTURE_MARKER_DIR/argv\"\n\
         sub=$1; out=.; [ \"$sub\" = restore ] && out=packages\n\
         while [ $# -gt 0 ]; do\n\
           case \"$1\" in -OutputDirectory|-PackagesDirectory) out=$2; shift ;; esac\n\
           shift\n\
         done\n\
         pkg() {\n\
           d=\"$out/$1.$2\"; mkdir -p \"$d/lib/net48\"\n\
           printf '<package><metadata><id>%s</id><version>%s</version></metadata></package>' \"$1\" \"$2\" > \"$d/$1.nuspec\"\n\
           : > \"$d/$1.$2.nupkg\"; : > \"$d/lib/net48/$1.dll\"\n\
         }\n\
         pkg Evil.Build 1.0.0\n\
         mkdir -p \"$out/Evil.Build.1.0.0/build\" \"$out/Evil.Build.1.0.0/tools\"\n\
         echo '<Project><Target Name=\"X\" BeforeTargets=\"Build\"><Exec Command=\"touch pwned\"/></Target></Project>' > \"$out/Evil.Build.1.0.0/build/Evil.Build.targets\"\n\
         : > \"$out/Evil.Build.1.0.0/tools/install.ps1\"\n\
         pkg Plain 2.0.0\n\
         exit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    g.sb.write(
        "packages.config",
        "<?xml version=\"1.0\"?>\n<packages>\n  <package id=\"Evil.Build\" version=\"1.0.0\" />\n  <package id=\"Plain\" version=\"2.0.0\" />\n</packages>\n",
    );
    g
}

fn nuget(g: &Guarded, args: &[&str]) -> Output {
    g.sb.command("nuget", &[g.pkgward_env()])
        .args(args)
        .output()
        .unwrap()
}

fn scripts(g: &Guarded) -> Vec<serde_json::Value> {
    g.audit()
        .into_iter()
        .filter(|r| r["kind"] == "script")
        .collect()
}

fn pkg(dir: &Path, name: &str) -> bool {
    dir.join(name).is_dir()
}

#[test]
fn unapproved_build_targets_are_removed_and_the_install_fails() {
    let g = guarded("enforce", &[]);
    let out = nuget(
        &g,
        &["install", "packages.config", "-OutputDirectory", "packages"],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("pkgward approve nuget:Evil.Build@1.0.0"),
        "{err}"
    );
    assert!(err.contains("build/Evil.Build.targets"), "{err}");
    assert!(g.sb.marker("argv").is_some(), "nuget did not run");
    let packages = g.sb.work.join("packages");
    assert!(!pkg(&packages, "Evil.Build.1.0.0"), "the package was left");
    assert!(
        pkg(&packages, "Plain.2.0.0"),
        "the plain package was removed"
    );
    let recs = scripts(&g);
    let evil: Vec<&serde_json::Value> = recs
        .iter()
        .filter(|r| r["package"] == "Evil.Build")
        .collect();
    assert_eq!(evil.len(), 2, "{recs:#?}");
    for r in &evil {
        assert_eq!(r["decision"], "deny");
        assert_eq!(r["ecosystem"], "nuget");
        assert_eq!(r["ran"], false);
    }
    assert!(evil.iter().any(|r| r["script"] == "powershell"));
    assert!(evil
        .iter()
        .any(|r| r["command"] == "build/Evil.Build.targets"));
    assert!(!recs.iter().any(|r| r["package"] == "Plain"));
}

#[test]
fn restore_into_the_default_packages_folder_is_checked_too() {
    let g = guarded("enforce", &[]);
    g.sb.write("app.sln", "");
    let out = nuget(&g, &["restore", "app.sln"]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out.stderr));
    let packages = g.sb.work.join("packages");
    assert!(!pkg(&packages, "Evil.Build.1.0.0"));
    assert!(pkg(&packages, "Plain.2.0.0"));
}

#[test]
fn approved_packages_stay_and_are_recorded() {
    let g = guarded("enforce", &["nuget:Evil.Build@1.0.0"]);
    let out = nuget(&g, &["install", "Evil.Build", "-Version", "1.0.0"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(pkg(&g.sb.work, "Evil.Build.1.0.0"));
    let recs = scripts(&g);
    let r = recs
        .iter()
        .find(|r| r["package"] == "Evil.Build")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    assert_eq!(r["decision"], "approved");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["runner"][0], "nuget");
    // A second install extracts nothing new: nothing to decide again.
    let n = scripts(&g).len();
    let out = nuget(&g, &["install", "Evil.Build", "-Version", "1.0.0"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(scripts(&g).len(), n);
}

#[test]
fn audit_mode_keeps_everything_and_records_would_deny() {
    let g = guarded("audit", &[]);
    let out = nuget(&g, &["install", "packages.config"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(pkg(&g.sb.work, "Evil.Build.1.0.0"));
    let recs = scripts(&g);
    let r = recs.iter().find(|r| r["package"] == "Evil.Build").unwrap();
    assert_eq!(r["decision"], "would-deny");
}
