use super::*;

fn s(a: &[&str]) -> Vec<String> {
    a.iter().map(|x| x.to_string()).collect()
}

/// (kind, name, version) of what one script declares.
fn decls(text: &str) -> Vec<(&'static str, String, String)> {
    scan(text)
        .decls
        .into_iter()
        .map(|(k, n, v, _)| (k, n, v))
        .collect()
}

fn d(k: &'static str, n: &str, v: &str) -> (&'static str, String, String) {
    (k, n.to_string(), v.to_string())
}

#[test]
fn which_commands_are_checked() {
    let cwd = Path::new("/p");
    let p = plan(&s(&["build"]), cwd).unwrap();
    assert_eq!(p.project_dir, Path::new("/p"));
    // No task: Gradle still configures the build (`help`).
    assert!(plan(&s(&[]), cwd).is_some());
    for info in ["-v", "--version", "--help", "--stop", "--status"] {
        assert!(plan(&s(&[info]), cwd).is_none(), "{info}");
    }
    let p = plan(
        &s(&[
            "-I",
            "a.gradle",
            "--init-script=b.gradle",
            "-Ic.gradle",
            "-p",
            "sub",
            "-b",
            "x/build.gradle",
            "--settings-file",
            "s.gradle",
            "--include-build",
            "../lib",
            "-g",
            "/gh",
            "-x",
            "test",
            "assemble",
        ]),
        cwd,
    )
    .unwrap();
    assert_eq!(
        p.init_scripts,
        [
            Path::new("/p/a.gradle"),
            Path::new("/p/b.gradle"),
            Path::new("/p/c.gradle")
        ]
    );
    assert_eq!(p.project_dir, Path::new("/p/sub"));
    assert_eq!(
        p.build_file.as_deref(),
        Some(Path::new("/p/x/build.gradle"))
    );
    assert_eq!(p.settings_file.as_deref(), Some(Path::new("/p/s.gradle")));
    assert_eq!(p.include_builds, [Path::new("/p/../lib")]);
    assert_eq!(p.user_home.as_deref(), Some(Path::new("/gh")));
    let p = plan(&s(&["-Dgradle.user.home=/h2", "build"]), cwd).unwrap();
    assert_eq!(p.user_home.as_deref(), Some(Path::new("/h2")));
    let p = plan(&s(&["--system-prop", "gradle.user.home=/h3", "build"]), cwd).unwrap();
    assert_eq!(p.user_home.as_deref(), Some(Path::new("/h3")));
    // Bad input never panics.
    assert!(plan(&s(&["-é", "-Ié", "--=", "-"]), cwd).is_some());
    // After `--`: not options.
    let p = plan(&s(&["run", "--", "-I", "x"]), cwd).unwrap();
    assert!(p.init_scripts.is_empty());
}

#[test]
fn plugins_blocks() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str, &'a str)]);
    let cases: &[Case] = &[
        // Groovy DSL.
        (
            "plugins {\n  id 'java'\n  id 'com.github.johnrengelman.shadow' version '8.1.1'\n  id \"org.example.x\" version \"1.0\" apply false\n}\n",
            &[
                ("plugin", "com.github.johnrengelman.shadow", "8.1.1"),
                ("plugin", "org.example.x", "1.0"),
            ],
        ),
        // Kotlin DSL, kotlin(), backtick and core plugins.
        (
            "plugins {\n    `java-library`\n    application\n    id(\"org.gradle.java\")\n    kotlin(\"jvm\") version \"1.9.22\"\n    id(\"io.example.gen\").version(\"2.0\").apply(false)\n}\n",
            &[
                ("plugin", "org.jetbrains.kotlin.jvm", "1.9.22"),
                ("plugin", "io.example.gen", "2.0"),
            ],
        ),
        // Settings plugins and pluginManagement.
        (
            "pluginManagement {\n  repositories { gradlePluginPortal() }\n  plugins { id 'io.example.managed' version '3' }\n  resolutionStrategy { eachPlugin { if (requested.id.id == 'x') { useModule('io.example:x-plugin:4.0') } } }\n}\nplugins { id 'com.gradle.develocity' version '3.17' }\nrootProject.name = 'app'\n",
            &[
                ("plugin", "io.example.managed", "3"),
                ("classpath", "io.example:x-plugin", "4.0"),
                ("plugin", "com.gradle.develocity", "3.17"),
            ],
        ),
        // A version from a variable: decided by name.
        (
            "plugins { id 'io.example.v' version \"$v\" }",
            &[("plugin", "io.example.v", "")],
        ),
        // Comments and strings do not count.
        (
            "// plugins { id 'io.example.commented' version '1' }\n/* plugins { id 'io.example.block' } */\nprintln \"plugins { id 'io.example.str' }\"\n",
            &[],
        ),
        // `id` outside a plugins block is not a plugin.
        ("dependencies { id 'io.example.no' }\ntask id { }", &[]),
    ];
    for (text, want) in cases {
        let want: Vec<_> = want.iter().map(|(k, n, v)| d(k, n, v)).collect();
        assert_eq!(decls(text), want, "{text}");
    }
}

#[test]
fn buildscript_classpath_and_apply() {
    let text = r#"
buildscript {
    repositories { mavenCentral() }
    dependencies {
        classpath 'com.android.tools.build:gradle:8.2.0'
        classpath("org.jetbrains.kotlin:kotlin-gradle-plugin:$kotlinVersion")
        classpath group: 'io.example', name: 'mapped', version: '1.1'
        classpath(group = "io.example", name = "named", version = "1.2")
        classpath files('libs/local.jar')
        classpath(kotlin("serialization", version = "1.9"))
    }
}
apply plugin: 'com.android.application'
apply plugin: 'java'
apply(plugin = "io.example.kts")
pluginManager.apply("io.example.manager")
apply plugin: MyPlugin
apply from: 'https://scripts.example.com/setup.gradle'
apply from: "$rootDir/gradle/common.gradle"
apply { plugin("io.example.block") }
apply(from = uri("https://scripts.example.com/kts.gradle.kts"))
buildscript { dependencies { add("classpath", "io.example:added:7") } }
dependencies { implementation 'io.example:lib:1.0' }
"#;
    assert_eq!(
        decls(text),
        [
            d("classpath", "com.android.tools.build:gradle", "8.2.0"),
            d("classpath", "org.jetbrains.kotlin:kotlin-gradle-plugin", ""),
            d("classpath", "io.example:mapped", "1.1"),
            d("classpath", "io.example:named", "1.2"),
            d("classpath", "org.jetbrains.kotlin:kotlin-serialization", ""),
            d("plugin", "com.android.application", ""),
            d("plugin", "io.example.kts", ""),
            d("plugin", "io.example.manager", ""),
            d(
                "script-plugin",
                "https://scripts.example.com/setup.gradle",
                ""
            ),
            d("plugin", "io.example.block", ""),
            d(
                "script-plugin",
                "https://scripts.example.com/kts.gradle.kts",
                ""
            ),
            d("classpath", "io.example:added", "7"),
            // Recorded only where the script makes build logic.
            d("build-logic", "io.example:lib", "1.0"),
        ]
    );
    let sc = scan(text);
    assert_eq!(sc.apply_from.len(), 1);
    assert_eq!(sc.apply_from[0].0, "$rootDir/gradle/common.gradle");
    assert!(!sc.build_logic);
    assert!(sc.unknown.is_empty(), "{:?}", sc.unknown);
    // The line of each declaration.
    assert_eq!(scan(text).decls[0].3, 5);
}

#[test]
fn init_scripts_build_logic_and_includes() {
    let init = "initscript {\n  dependencies { classpath 'io.example:init-plugin:1' }\n}\nallprojects { apply plugin: io.example.InitPlugin }\n";
    assert_eq!(decls(init), [d("classpath", "io.example:init-plugin", "1")]);
    let logic = "plugins { `kotlin-dsl` }\ndependencies {\n  implementation(\"io.example:conv:2\")\n  implementation(libs.example.lib)\n  testImplementation(\"io.example:test-only:1\")\n  implementation(project(\":core\"))\n  implementation(gradleApi())\n}\n";
    let sc = scan(logic);
    assert!(sc.build_logic);
    assert_eq!(
        sc.decls
            .iter()
            .map(|(k, n, v, _)| d(k, n, v))
            .collect::<Vec<_>>(),
        [d("build-logic", "io.example:conv", "2")]
    );
    assert_eq!(
        sc.refs,
        [("build-logic", "libs.example.lib".to_string(), 4)]
    );
    assert!(scan("plugins { id 'java-gradle-plugin' }").build_logic);
    let settings = "pluginManagement { includeBuild('build-logic') }\ninclude ':app'\nincludeBuild(\"../shared\")\n";
    let sc = scan(settings);
    assert_eq!(
        sc.include_builds,
        [
            ("build-logic".to_string(), true),
            ("../shared".to_string(), false)
        ]
    );
    assert_eq!(sc.includes, ["app"]);
    let sc = scan("include ':a', ':b:c'\ninclude(\"d\")\nrootProject.name = 'x'\n");
    assert_eq!(sc.includes, ["a", "b/c", "d"]);
}

#[test]
fn what_cannot_be_named_is_unknown() {
    for text in [
        "plugins { id(pluginId) version \"1\" }",
        "plugins { id \"io.$name\" }",
        "buildscript { dependencies { classpath(someCoordinate) } }",
        "buildscript { dependencies { classpath \"$group:x:1\" } }",
        "apply plugin: \"io.${x}\"",
        "apply(plugin = pluginId)",
        "apply from: project.property('scriptUrl')",
        "includeBuild(dir)",
    ] {
        let sc = scan(text);
        assert_eq!(sc.unknown.len(), 1, "{text}: {sc:?}");
        assert!(sc.decls.is_empty(), "{text}: {sc:?}");
    }
    // Catalog references are resolved later, not unknown.
    let sc = scan("plugins { alias(libs.plugins.shadow) }\nbuildscript { dependencies { classpath(libs.agp) } }");
    assert!(sc.unknown.is_empty());
    assert_eq!(
        sc.refs,
        [
            ("plugin", "libs.plugins.shadow".to_string(), 1),
            ("classpath", "libs.agp".to_string(), 2)
        ]
    );
    // Bad input never panics.
    for text in [
        "plugins {",
        "plugins { id",
        "plugins { id(",
        "}}}{{(",
        "apply plugin:",
        "\"unterminated",
        "buildscript { dependencies { classpath group: } }",
    ] {
        let _ = scan(text);
    }
}

#[test]
fn core_plugins() {
    for (id, core) in [
        ("java", true),
        ("java-library", true),
        ("org.gradle.java", true),
        ("org.gradle.toolchains.foojay-resolver-convention", false),
        ("com.github.johnrengelman.shadow", false),
    ] {
        assert_eq!(core_plugin(id), core, "{id}");
    }
}

#[test]
fn version_catalog() {
    let c = Catalog::parse(
        r#"
[versions]
kotlin = "1.9.22"
agp = "8.2.0"
[libraries]
agp = { module = "com.android.tools.build:gradle", version.ref = "agp" }
example-lib = { group = "io.example", name = "lib", version = "3.0" }
short = "io.example:short:4.0"
[plugins]
kotlin-jvm = { id = "org.jetbrains.kotlin.jvm", version.ref = "kotlin" }
shadow = "com.github.johnrengelman.shadow:8.1.1"
strict = { id = "io.example.strict", version = { strictly = "1.2" } }
"#,
    )
    .unwrap();
    let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
    assert_eq!(
        c.plugin("libs.plugins.kotlin.jvm"),
        pair("org.jetbrains.kotlin.jvm", "1.9.22")
    );
    assert_eq!(
        c.plugin("libs.plugins.shadow"),
        pair("com.github.johnrengelman.shadow", "8.1.1")
    );
    assert_eq!(
        c.plugin("libs.plugins.strict"),
        pair("io.example.strict", "1.2")
    );
    assert_eq!(c.plugin("libs.plugins.none"), None);
    assert_eq!(
        c.library("libs.agp"),
        pair("com.android.tools.build:gradle", "8.2.0")
    );
    assert_eq!(c.library("libs.example.lib"), pair("io.example:lib", "3.0"));
    assert_eq!(c.library("libs.short"), pair("io.example:short", "4.0"));
    assert_eq!(c.library("libs.plugins.shadow"), None);
    assert_eq!(c.version_ref("libs.versions.kotlin"), Some("1.9.22".into()));
    assert!(Catalog::parse("[plugins\n").is_err());
}

#[test]
fn a_build_tree() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().canonicalize().unwrap();
    let w = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w(
        "settings.gradle.kts",
        "pluginManagement { includeBuild(\"build-logic\") }\nplugins { id(\"com.gradle.develocity\") version \"3.17\" }\ninclude(\":app\", \":build\")\nincludeBuild(\"../outside\")\n",
    );
    w(
        "gradle/libs.versions.toml",
        "[versions]\nshadow = \"8.1.1\"\n[plugins]\nshadow = { id = \"com.github.johnrengelman.shadow\", version.ref = \"shadow\" }\n",
    );
    w(
        "build.gradle.kts",
        "plugins { alias(libs.plugins.shadow) apply false }\n",
    );
    w(
        "app/build.gradle",
        "plugins { id 'com.github.johnrengelman.shadow' }\napply from: \"$rootDir/gradle/extra.gradle\"\ndependencies { implementation(computed) }\n",
    );
    w(
        "gradle/extra.gradle",
        "buildscript { dependencies { classpath 'io.example:extra:1' } }\n",
    );
    w(
        "build-logic/build.gradle.kts",
        "plugins { java }\ndependencies { implementation(\"io.example:conv-dep:2\") }\n",
    );
    w(
        "build/build.gradle",
        "plugins { id 'io.example.in-build-dir' version '6' }\n",
    );
    w(
        "buildSrc/build.gradle",
        "dependencies { implementation 'io.example:buildsrc-dep:3' }\n",
    );
    // Not read: build output and hidden directories.
    w(
        "app/build/tmp/build.gradle",
        "plugins { id 'io.example.ignored' version '1' }\n",
    );
    w(
        ".gradle/x/build.gradle",
        "plugins { id 'io.example.ignored' version '1' }\n",
    );
    let home = root.join("home-gradle");
    w(
        "home-gradle/init.d/corp.gradle",
        "initscript { dependencies { classpath 'io.example:init:1' } }\n",
    );
    let p = plan(&s(&["build"]), &root.join("app")).unwrap();
    let f = find(&p, Some(&home), None).unwrap();
    let mut got: Vec<(&str, String, String)> = f
        .found
        .iter()
        .map(|x| (x.kind, x.name.clone(), x.version.clone()))
        .collect();
    got.sort();
    got.dedup();
    assert_eq!(
        got,
        [
            d("build-logic", "io.example:buildsrc-dep", "3"),
            d("build-logic", "io.example:conv-dep", "2"),
            d("classpath", "io.example:extra", "1"),
            d("classpath", "io.example:init", "1"),
            d(
                "init-script",
                &home.join("init.d/corp.gradle").to_string_lossy(),
                ""
            ),
            d("plugin", "com.github.johnrengelman.shadow", "8.1.1"),
            d("plugin", "com.gradle.develocity", "3.17"),
            d("plugin", "io.example.in-build-dir", "6"),
        ]
    );
    // The app's own computed dependency is not build logic: not unknown.
    assert!(f.unknown.is_empty(), "{:?}", f.unknown);
    // An alias the catalog lacks is.
    w("build.gradle.kts", "plugins { alias(libs.plugins.nope) }\n");
    let f = find(&p, Some(&home), None).unwrap();
    assert_eq!(f.unknown.len(), 1, "{:?}", f.unknown);
    assert!(f.unknown[0].what.contains("libs.plugins.nope"));
    // An unreadable catalog fails closed.
    w("gradle/libs.versions.toml", "[plugins\n");
    assert!(find(&p, Some(&home), None).is_err());
}
