//! Gradle plugins, build-script classpaths and init scripts, read from the
//! build's files before Gradle runs, through the pkgward shim. Gradle is not
//! installed on the test machines: a stand-in `gradle` records its argv and
//! leaves a marker when it starts (what is tested here is whether pkgward
//! lets it start, and with which arguments). Unapproved: Gradle never
//! starts; approved: it runs with the user's arguments and keeps its exit
//! code, recorded.

mod support;

use std::process::Output;

use support::guard::{pkgward_bin, text, Guarded};

fn guarded(mode: &str, allow: &[&str]) -> Guarded {
    let allow: Vec<String> = allow.iter().map(|a| format!("{a:?}")).collect();
    let g = Guarded::new(&format!(
        "mode = \"{mode}\"\n[registries]\nmaven = [\"builtin\"]\n[scripts]\nallow = [{}]\n",
        allow.join(", ")
    ));
    std::os::unix::fs::symlink(pkgward_bin(), g.shims.join("gradle")).unwrap();
    let fake = g.real.join("gradle");
    std::fs::write(
        &fake,
        "#!/bin/sh\n\
         [ -n \"$PKGWARD_PROBE\" ] && exit 0\n\
         : > \"$FIXTURE_MARKER_DIR/gradle-started\"\n\
         printf '%s\\n' \"$*\" >> \"$FIXTURE_MARKER_DIR/argv\"\n\
         exit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    g.sb.write(
        "settings.gradle.kts",
        "plugins {\n    id(\"com.example.settings-plugin\") version \"3.17\"\n}\n\
         rootProject.name = \"app\"\ninclude(\":lib\")\n",
    );
    g.sb.write(
        "build.gradle.kts",
        "plugins {\n    `java-library`\n    id(\"io.example.codegen\") version \"2.0\"\n}\n",
    );
    g.sb.write(
        "lib/build.gradle",
        "buildscript {\n  dependencies {\n    classpath 'io.example:build-helper:1.4'\n  }\n}\n\
         apply plugin: 'java'\n",
    );
    g
}

fn gradle(g: &Guarded, args: &[&str]) -> Output {
    g.sb.command("gradle", &[g.pkgward_env()])
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

fn find<'a>(recs: &'a [serde_json::Value], package: &str) -> &'a serde_json::Value {
    recs.iter()
        .find(|r| r["package"] == package)
        .unwrap_or_else(|| panic!("no record of {package}: {recs:#?}"))
}

#[test]
fn unapproved_plugins_deny_the_build_before_gradle_starts() {
    let g = guarded("enforce", &["maven:io.example.codegen@2.0"]);
    let out = gradle(&g, &["build"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("pkgward approve maven:com.example.settings-plugin@3.17"),
        "{err}"
    );
    assert!(
        err.contains("pkgward approve maven:io.example:build-helper@1.4"),
        "{err}"
    );
    assert!(!err.contains("approve maven:io.example.codegen"), "{err}");
    assert!(g.sb.marker("gradle-started").is_none(), "Gradle started");
    let recs = scripts(&g);
    let r = find(&recs, "com.example.settings-plugin");
    assert_eq!(r["decision"], "deny");
    assert_eq!(r["script"], "plugin");
    assert_eq!(r["ecosystem"], "maven");
    assert_eq!(r["version"], "3.17");
    assert!(
        r["path"]
            .as_str()
            .unwrap()
            .ends_with("settings.gradle.kts:2"),
        "{r}"
    );
    let r = find(&recs, "io.example:build-helper");
    assert_eq!(r["decision"], "deny");
    assert_eq!(r["script"], "classpath");
    let r = find(&recs, "io.example.codegen");
    assert_eq!(r["decision"], "approved");
    assert_eq!(r["ran"], false);
    // Gradle's own plugins are part of the tool.
    assert!(
        !recs
            .iter()
            .any(|r| r["package"] == "java-library" || r["package"] == "java"),
        "{recs:#?}"
    );
}

#[test]
fn approved_ones_let_gradle_run_with_its_own_arguments_and_exit_code() {
    let g = guarded(
        "enforce",
        &[
            "maven:io.example.codegen@2.0",
            "maven:com.example.settings-plugin",
            "maven:io.example:build-helper@1.4",
        ],
    );
    let out = gradle(&g, &["build", "-x", "test"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(g.sb.marker("gradle-started").is_some());
    let argv = g.sb.marker("argv").unwrap();
    assert!(argv.ends_with("build -x test\n"), "{argv}");
    let recs = scripts(&g);
    for p in [
        "io.example.codegen",
        "com.example.settings-plugin",
        "io.example:build-helper",
    ] {
        let r = find(&recs, p);
        assert_eq!(r["decision"], "approved", "{r}");
        assert_eq!(r["ran"], true, "{r}");
        assert_eq!(r["exit_code"], 3, "{r}");
    }
}

/// JVM options that load code into Gradle's JVMs (its client or daemon),
/// from the project's `gradle.properties`, the Gradle user home's, the
/// command line, gradle's variables and every JVM's (`@argfile`s read):
/// denied before Gradle starts, with everything else approved; options
/// that load nothing let it run.
#[test]
fn jvm_options_that_load_code_into_gradle_are_denied() {
    type Vars = Vec<(&'static str, String)>;
    let g = guarded(
        "enforce",
        &[
            "maven:io.example.codegen@2.0",
            "maven:com.example.settings-plugin",
            "maven:io.example:build-helper@1.4",
        ],
    );
    let jar = g.sb.root().join("agent.jar");
    let jar = jar.display();
    g.sb.write("jvm-args.txt", format!("-Xss4m\n-javaagent:{jar}\n"));
    let user_home = g.sb.root().join("gradle-home");
    std::fs::create_dir_all(&user_home).unwrap();
    // (case, variables, arguments, what the denial names)
    let cases: Vec<(&str, Vars, Vec<String>, &str)> = vec![
        (
            "project gradle.properties",
            vec![],
            vec![],
            "gradle.properties:2",
        ),
        (
            "GRADLE_USER_HOME gradle.properties",
            vec![("GRADLE_USER_HOME", user_home.display().to_string())],
            vec![],
            "gradle-home/gradle.properties:1",
        ),
        (
            "-Dorg.gradle.jvmargs",
            vec![],
            vec![format!("-Dorg.gradle.jvmargs=-Xmx1g -agentpath:{jar}")],
            "the command-line flag -D",
        ),
        (
            "GRADLE_OPTS",
            vec![("GRADLE_OPTS", format!("-javaagent:{jar}"))],
            vec![],
            "GRADLE_OPTS",
        ),
        (
            "JAVA_OPTS",
            vec![("JAVA_OPTS", format!("-Xbootclasspath/a:{jar}"))],
            vec![],
            "JAVA_OPTS",
        ),
        (
            "JAVA_TOOL_OPTIONS",
            vec![("JAVA_TOOL_OPTIONS", format!("-javaagent:{jar}"))],
            vec![],
            "JAVA_TOOL_OPTIONS",
        ),
        (
            "JDK_JAVA_OPTIONS @argfile",
            vec![("JDK_JAVA_OPTIONS", "@jvm-args.txt".into())],
            vec![],
            "jvm-args.txt:2",
        ),
    ];
    for (name, env, args, names) in &cases {
        // Only the first two cases have the files that set the options.
        let props = if *name == "project gradle.properties" {
            format!("org.gradle.caching=true\norg.gradle.jvmargs=-Xmx1g -javaagent\\:{jar}\n")
        } else {
            "org.gradle.caching=true\n".into()
        };
        g.sb.write("gradle.properties", props);
        std::fs::write(
            user_home.join("gradle.properties"),
            format!("org.gradle.jvmargs=-javaagent:{jar}\n"),
        )
        .unwrap();
        let mut cmd = g.sb.command("gradle", &[g.pkgward_env()]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut argv: Vec<String> = vec!["build".into()];
        argv.extend(args.iter().cloned());
        if !env.iter().any(|(k, _)| *k == "GRADLE_USER_HOME") {
            // The user home's file is read only where it is the user home.
            cmd.env("GRADLE_USER_HOME", g.sb.root().join("other-home"));
        }
        let out = cmd.args(&argv).output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(77), "{name}: {err}");
        assert!(err.contains(names), "{name}: wanted {names} in {err}");
        assert!(
            g.sb.marker("gradle-started").is_none(),
            "{name}: Gradle started"
        );
    }
    // Options that load nothing: Gradle runs.
    g.sb.write(
        "gradle.properties",
        "org.gradle.jvmargs=-Xmx2g -XX:+EnableDynamicAgentLoading -Dfile.encoding=UTF-8\n",
    );
    let out =
        g.sb.command("gradle", &[g.pkgward_env()])
            .env("GRADLE_USER_HOME", g.sb.root().join("other-home"))
            .env("JAVA_TOOL_OPTIONS", "-Djava.security.manager=allow")
            .arg("build")
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(g.sb.marker("gradle-started").is_some());
}

#[test]
fn init_scripts_and_their_classpath_are_read() {
    let g = guarded(
        "enforce",
        &[
            "maven:io.example.codegen@2.0",
            "maven:com.example.settings-plugin",
            "maven:io.example:build-helper@1.4",
        ],
    );
    // One in the Gradle user home's init.d, one on the command line.
    let home_init = g.sb.home.join(".gradle/init.d/corp.gradle");
    std::fs::create_dir_all(home_init.parent().unwrap()).unwrap();
    std::fs::write(
        &home_init,
        "initscript { dependencies { classpath 'io.example:init-plugin:5' } }\n",
    )
    .unwrap();
    g.sb.write(
        "ci.init.gradle.kts",
        "allprojects { apply(plugin = \"io.example.ci\") }\n",
    );
    let out = gradle(&g, &["-I", "ci.init.gradle.kts", "build"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("pkgward approve maven:io.example:init-plugin@5"),
        "{err}"
    );
    assert!(err.contains("pkgward approve maven:io.example.ci"), "{err}");
    assert!(g.sb.marker("gradle-started").is_none());
    let recs = scripts(&g);
    let inits: Vec<&serde_json::Value> = recs
        .iter()
        .filter(|r| r["script"] == "init-script")
        .collect();
    assert_eq!(inits.len(), 2, "{recs:#?}");
    assert!(inits.iter().all(|r| r["decision"] == "project"));
}

#[test]
fn a_plugin_pkgward_cannot_name_denies_under_default_deny() {
    let g = guarded("enforce", &["maven:io.example.codegen@2.0"]);
    g.sb.write("settings.gradle.kts", "rootProject.name = \"app\"\n");
    g.sb.write("lib/build.gradle", "");
    g.sb.write(
        "build.gradle.kts",
        "val id = System.getenv(\"P\")\nplugins { id(\"io.example.codegen\") version \"2.0\" }\napply(plugin = id)\n",
    );
    let out = gradle(&g, &["build"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("build.gradle.kts:3"), "{err}");
    assert!(err.contains("cannot name"), "{err}");
    assert!(g.sb.marker("gradle-started").is_none());
    // Audit mode: a warning, and Gradle runs.
    let g = guarded("audit", &[]);
    let out = gradle(&g, &["build"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let recs = scripts(&g);
    assert_eq!(
        find(&recs, "io.example:build-helper")["decision"],
        "would-deny"
    );
}

#[test]
fn version_and_help_run_without_a_check() {
    let g = guarded("enforce", &[]);
    let out = gradle(&g, &["--version"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(scripts(&g).is_empty());
}
