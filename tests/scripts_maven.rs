//! Maven build extensions and plugins, read from the project's files before
//! Maven runs: the real `mvn` (behind a wrapper that leaves a marker when
//! it starts) through the pkgward shim. Unapproved: Maven never starts;
//! approved: it runs and keeps its exit code. Skipped where Maven is not
//! installed.

mod support;

use std::process::Output;

use support::guard::{pkgward_bin, text, Guarded};
use support::tools::find_in_path;

fn guarded(mode: &str, allow: &[&str]) -> Option<Guarded> {
    let mvn = find_in_path("mvn")?;
    let allow: Vec<String> = allow.iter().map(|a| format!("{a:?}")).collect();
    let g = Guarded::new(&format!(
        "mode = \"{mode}\"\n[registries]\nmaven = [\"builtin\"]\n[scripts]\nallow = [{}]\n",
        allow.join(", ")
    ));
    std::os::unix::fs::symlink(pkgward_bin(), g.shims.join("mvn")).unwrap();
    let w = g.real.join("mvn");
    std::fs::write(
        &w,
        format!(
            "#!/bin/sh\n# (pkgward asks Maven for its default repository with PKGWARD_PROBE set)\n\
             [ -z \"$PKGWARD_PROBE\" ] && : > \"$FIXTURE_MARKER_DIR/mvn-started\"\nexec '{}' \"$@\"\n",
            mvn.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&w, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    g.sb.write(
        "pom.xml",
        "<project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n  <modelVersion>4.0.0</modelVersion>\n  \
         <groupId>t</groupId><artifactId>app</artifactId><version>1</version>\n  \
         <build><plugins><plugin><groupId>io.example</groupId><artifactId>gen-plugin</artifactId><version>2.0</version></plugin></plugins></build>\n\
         </project>\n",
    );
    g.sb.write(
        ".mvn/extensions.xml",
        "<extensions><extension><groupId>io.example</groupId><artifactId>core-ext</artifactId><version>1.0</version></extension></extensions>\n",
    );
    Some(g)
}

fn mvn(g: &Guarded) -> Output {
    mvn_with(
        g,
        "MAVEN_OPTS",
        &format!("-Duser.home={}", g.sb.home.display()),
    )
}

/// `mvn validate`, offline, with the variable `var` set to `value`.
fn mvn_with(g: &Guarded, var: &str, value: &str) -> Output {
    let repo = g.sb.root().join("m2repo");
    g.sb.command("mvn", &[g.pkgward_env()])
        .env(var, value)
        .args([
            "-B",
            "-o",
            &format!("-Dmaven.repo.local={}", repo.display()),
            "validate",
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
fn unapproved_extension_and_plugin_deny_the_build_before_maven_starts() {
    let Some(g) = guarded("enforce", &["maven:io.example:gen-plugin@2.0"]) else {
        eprintln!("skipped: mvn is not installed");
        return;
    };
    let out = mvn(&g);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("pkgward approve maven:io.example:core-ext@1.0"),
        "{err}"
    );
    assert!(
        !err.contains("approve maven:io.example:gen-plugin"),
        "{err}"
    );
    assert!(g.sb.marker("mvn-started").is_none(), "Maven started");
    let recs = scripts(&g);
    let ext = recs
        .iter()
        .find(|r| r["package"] == "io.example:core-ext")
        .unwrap();
    assert_eq!(ext["decision"], "deny");
    assert_eq!(ext["script"], "extension");
    assert_eq!(ext["ecosystem"], "maven");
    let plugin = recs
        .iter()
        .find(|r| r["package"] == "io.example:gen-plugin")
        .unwrap();
    assert_eq!(plugin["decision"], "approved");
    assert_eq!(plugin["ran"], false);
}

/// The fixture project's plugin and extension, both approved.
const BOTH_APPROVED: &[&str] = &[
    "maven:io.example:gen-plugin@2.0",
    "maven:io.example:core-ext",
];

#[test]
fn approved_ones_let_maven_run_with_its_own_exit_code() {
    let Some(g) = guarded("enforce", BOTH_APPROVED) else {
        eprintln!("skipped: mvn is not installed");
        return;
    };
    let out = mvn(&g);
    // Offline, the extension is not in the local repository: Maven fails
    // on its own, and that is the exit code the user gets.
    assert!(
        g.sb.marker("mvn-started").is_some(),
        "{}",
        text(&out.stderr)
    );
    let code = out.status.code().unwrap();
    assert_ne!(code, 77);
    let recs = scripts(&g);
    let ext = recs
        .iter()
        .find(|r| r["package"] == "io.example:core-ext")
        .unwrap();
    assert_eq!(ext["decision"], "approved");
    assert_eq!(ext["ran"], true);
    assert_eq!(ext["exit_code"], code);
}

/// A project's `.mvn/jvm.config` loading a Java agent (or core extensions
/// through `maven.ext.class.path`) runs its code in Maven's own JVM,
/// outside any decision on extensions and plugins: denied before Maven
/// starts, as is the same in `MAVEN_OPTS`.
#[test]
fn jvm_options_that_load_code_into_maven_are_denied() {
    let Some(g) = guarded("enforce", BOTH_APPROVED) else {
        eprintln!("skipped: mvn is not installed");
        return;
    };
    let jar = g.sb.root().join("agent.jar");
    for line in [
        format!("-Xmx512m -javaagent:{}", jar.display()),
        format!("-Dmaven.ext.class.path={}", jar.display()),
    ] {
        g.sb.write(".mvn/jvm.config", format!("{line}\n"));
        let out = mvn(&g);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(77), "{line}: {err}");
        assert!(err.contains("jvm.config:1"), "{err}");
        assert!(
            g.sb.marker("mvn-started").is_none(),
            "{line}: Maven started"
        );
    }
    std::fs::remove_file(g.sb.work.join(".mvn/jvm.config")).unwrap();
    let out = mvn_with(&g, "MAVEN_OPTS", &format!("-agentpath:{}", jar.display()));
    assert_eq!(out.status.code(), Some(77), "{}", text(&out.stderr));
    assert!(g.sb.marker("mvn-started").is_none(), "Maven started");
    // The variables every JVM reads, and an `@argfile` named there.
    g.sb.write(
        "jvm-args.txt",
        format!("-Xss4m\n-javaagent:{}\n", jar.display()),
    );
    for (var, value, names) in [
        (
            "JAVA_TOOL_OPTIONS",
            format!("-javaagent:{}", jar.display()),
            "JAVA_TOOL_OPTIONS",
        ),
        (
            "JDK_JAVA_OPTIONS",
            "@jvm-args.txt".to_string(),
            "jvm-args.txt:2",
        ),
        (
            "MAVEN_OPTS",
            "-Xmx256m @jvm-args.txt".to_string(),
            "jvm-args.txt:2",
        ),
    ] {
        let out = mvn_with(&g, var, &value);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(77), "{var}: {err}");
        assert!(err.contains(names), "{var}: {err}");
        assert!(g.sb.marker("mvn-started").is_none(), "{var}: Maven started");
    }
}
