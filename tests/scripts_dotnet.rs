//! dotnet's install-time code (a NuGet package's `build/*.targets`) through
//! the pkgward shim, with a stand-in `dotnet` (no .NET SDK on the test
//! machines): its `restore` writes `obj/project.assets.json` naming a
//! package with `build/Evil.Build.targets`, its build leaves a marker and
//! records its argv. Unapproved: the restore runs, the build never does;
//! approved: the build runs with `--no-restore`, recorded.

mod support;

use std::process::Output;

use support::guard::{pkgward_bin, text, Guarded};

const ASSETS: &str = r#"{"version": 3, "libraries": {
  "Evil.Build/1.0.0": {"type": "package", "path": "evil.build/1.0.0",
    "files": ["build/Evil.Build.targets", "lib/net8.0/Evil.dll"]},
  "Plain/2.0.0": {"type": "package", "path": "plain/2.0.0", "files": ["lib/net8.0/Plain.dll"]}
}}"#;

fn guarded(mode: &str, allow: &[&str]) -> Guarded {
    let allow: Vec<String> = allow.iter().map(|a| format!("{a:?}")).collect();
    let g = Guarded::new(&format!(
        "mode = \"{mode}\"\n[registries]\nnuget = [\"builtin\"]\n\
         [scripts]\nallow = [{}]\n",
        allow.join(", ")
    ));
    std::os::unix::fs::symlink(pkgward_bin(), g.shims.join("dotnet")).unwrap();
    let fake = g.real.join("dotnet");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\n\
             [ -n \"$PKGWARD_PROBE\" ] && exit 0\n\
             printf '%s\\n' \"$*\" >> \"$FIXTURE_MARKER_DIR/argv\"\n\
             case \"$1\" in\n\
               restore) mkdir -p obj && cat > obj/project.assets.json <<'EOF'\n{ASSETS}\nEOF\n ;;\n\
               *) : > \"$FIXTURE_MARKER_DIR/built\"; exit 5 ;;\n\
             esac\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    g.sb.write(
        "app.csproj",
        "<Project Sdk=\"Microsoft.NET.Sdk\"></Project>\n",
    );
    g
}

fn dotnet(g: &Guarded, args: &[&str]) -> Output {
    g.sb.command("dotnet", &[g.pkgward_env()])
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

#[test]
fn unapproved_build_targets_deny_the_build_after_the_restore() {
    let g = guarded("enforce", &[]);
    let out = dotnet(&g, &["build", "-c", "Release"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("pkgward approve nuget:Evil.Build@1.0.0"),
        "{err}"
    );
    assert!(g.sb.marker("built").is_none(), "the build ran");
    assert_eq!(g.sb.marker("argv").unwrap(), "restore\n");
    let recs = scripts(&g);
    let r = recs.iter().find(|r| r["package"] == "Evil.Build").unwrap();
    assert_eq!(r["decision"], "deny");
    assert_eq!(r["command"], "build/Evil.Build.targets");
    assert_eq!(r["ecosystem"], "nuget");
    assert!(!recs.iter().any(|r| r["package"] == "Plain"));
    // `--no-restore` is checked against what the restore left, before it runs.
    let out = dotnet(&g, &["build", "--no-restore"]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out.stderr));
    assert!(g.sb.marker("built").is_none());
}

#[test]
fn approved_build_targets_build_with_no_restore() {
    let g = guarded("enforce", &["nuget:Evil.Build@1.0.0"]);
    let out = dotnet(&g, &["build", "-c", "Release"]);
    // The stand-in's build exits 5: the user gets the build's exit code.
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(g.sb.marker("built").is_some());
    assert_eq!(
        g.sb.marker("argv").unwrap(),
        "restore\nbuild -c Release --no-restore\n"
    );
    let recs = scripts(&g);
    let r = recs.iter().find(|r| r["package"] == "Evil.Build").unwrap();
    assert_eq!(r["decision"], "approved");
    assert_eq!(r["ran"], true);
    assert_eq!(r["exit_code"], 5);
}
