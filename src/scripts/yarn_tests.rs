use super::*;

#[test]
fn locators_name_what_yarn_resolved() {
    let id = |i: &str, r: &str, v: &str| {
        let (n, ver) = identity(i, r, v);
        format!("{n}@{ver}")
    };
    assert_eq!(id("a", "npm:1.2.3", "9.9.9"), "a@1.2.3");
    assert_eq!(id("@s/a", "npm:1.0.0-rc.1", ""), "@s/a@1.0.0-rc.1");
    // An alias is the package it points to.
    assert_eq!(id("x", "npm:other@2.0.0", "9"), "other@2.0.0");
    assert_eq!(id("x", "npm:@s/other@2.0.0", "9"), "@s/other@2.0.0");
    assert_eq!(id("a", "virtual:abc123#npm:1.0.0", ""), "a@1.0.0");
    // A patch is the package it patches.
    assert_eq!(
        id(
            "a",
            "patch:a@npm%3A1.0.0#./p.patch::version=1.0.0&hash=x",
            "1.0.0"
        ),
        "a@1.0.0"
    );
    // Anything else: the ident, the manifest's version.
    assert_eq!(
        id("a", "file:../a.tgz#../a.tgz::hash=1", "3.0.0"),
        "a@3.0.0"
    );
    assert_eq!(devirtualize("virtual:1#npm:1.0.0"), "npm:1.0.0");
    assert_eq!(devirtualize("npm:1.0.0"), "npm:1.0.0");
}

#[test]
fn the_projects_own_locators_are_local() {
    for l in [
        "app@workspace:.",
        "@s/ws@workspace:packages/ws",
        "a@file:../a.tgz#../a.tgz::hash=1",
        "a@portal:../a::locator=app%40workspace%3A.",
        "a@link:../a::locator=app%40workspace%3A.",
        "a@virtual:abc#file:../a::locator=app%40workspace%3A.",
        "a@patch:a@file%3A../a#./p.patch::version=1.0.0&hash=x",
    ] {
        assert!(is_local(l), "{l}");
    }
    for l in [
        "a@npm:1.0.0",
        "@s/a@npm:1.0.0",
        "a@virtual:abc#npm:1.0.0",
        "a@patch:a@npm%3A1.0.0#./p.patch::version=1.0.0&hash=x",
        "a@https://h.test/a.tgz",
        "a@https://github.com/o/a.git#commit=abc",
        "nonsense",
    ] {
        assert!(!is_local(l), "{l}");
    }
}

#[test]
fn the_runtime_state_is_read_from_pnp_cjs() {
    let js = "#!/usr/bin/env node\nconst RAW_RUNTIME_STATE =\n'{\\\n  \"a\": \"it\\'s\",\\\n  \"b\": \"x\\\\\\\\y\"\\\n}';\nfunction f() {}\n";
    let t = raw_runtime_state(js).unwrap();
    let v: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(v["a"], "it's");
    assert_eq!(v["b"], "x\\y");
    assert_eq!(raw_runtime_state("nothing"), None);
    assert_eq!(raw_runtime_state("RAW_RUNTIME_STATE = 'unterminated"), None);
}

#[test]
fn yarn_build_scripts_and_the_implicit_gyp() {
    let m: Value =
        serde_json::from_str(r#"{"scripts":{"postinstall":"x","preinstall":"p","test":"t"}}"#)
            .unwrap();
    assert_eq!(
        build_scripts(&m, true),
        vec![
            ("preinstall".to_string(), "p".to_string()),
            ("postinstall".into(), "x".into()),
            ("install".into(), "node-gyp rebuild".into())
        ]
    );
    let m: Value = serde_json::from_str(r#"{"scripts":{"install":"i"}}"#).unwrap();
    assert_eq!(build_scripts(&m, true).len(), 1);
    assert!(build_scripts(&serde_json::json!({}), false).is_empty());
}

#[test]
fn the_linker_comes_from_the_environment_then_yarnrc() {
    let d = tempfile::tempdir().unwrap();
    let none = |_: &str| None;
    std::fs::write(
        d.path().join(".yarnrc.yml"),
        "nodeLinker: \"node-modules\"\n",
    )
    .unwrap();
    assert_eq!(linker(d.path(), &none), Linker::NodeModules);
    let pnpm = |k: &str| (k == "YARN_NODE_LINKER").then(|| "pnpm".to_string());
    assert_eq!(linker(d.path(), &pnpm), Linker::Pnpm);
    std::fs::write(d.path().join(".yarnrc.yml"), "enableScripts: false\n").unwrap();
    let sub = d.path().join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    // Nothing sets it (the home's rc aside): berry's default.
    if dirs::home_dir().is_none_or(|h| !h.join(".yarnrc.yml").exists()) {
        assert_eq!(linker(&sub, &none), Linker::Pnp);
    }
}

#[test]
fn packages_are_read_from_the_zip_and_decided_by_locator() {
    use std::io::Write;
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    std::fs::create_dir_all(root.join(".yarn/cache")).unwrap();
    let zip_at = |file: &str, entries: &[(&str, &str)]| {
        let f = std::fs::File::create(root.join(".yarn/cache").join(file)).unwrap();
        let mut z = zip::ZipWriter::new(f);
        for (n, body) in entries {
            z.start_file(*n, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(body.as_bytes()).unwrap();
        }
        z.finish().unwrap();
    };
    // Claims an approved name in its own manifest.
    zip_at(
        "spoof.zip",
        &[(
            "node_modules/spoof/package.json",
            r#"{"name":"good","version":"1.0.0","scripts":{"postinstall":"evil"}}"#,
        )],
    );
    zip_at(
        "gyp.zip",
        &[
            (
                "node_modules/@s/gyp/package.json",
                r#"{"name":"@s/gyp","version":"2.0.0"}"#,
            ),
            ("node_modules/@s/gyp/binding.gyp", "{}"),
        ],
    );
    zip_at(
        "plain.zip",
        &[(
            "node_modules/plain/package.json",
            r#"{"name":"plain","version":"1.0.0"}"#,
        )],
    );
    let data = serde_json::json!({
        "packageRegistryData": [
            [null, [[null, {"packageLocation": "./", "linkType": "SOFT"}]]],
            ["app", [["workspace:.", {"packageLocation": "./", "linkType": "SOFT"}]]],
            ["spoof", [["npm:1.0.0", {"packageLocation": "./.yarn/cache/spoof.zip/node_modules/spoof/", "linkType": "HARD"}]]],
            ["@s/gyp", [
                ["npm:2.0.0", {"packageLocation": "./.yarn/cache/gyp.zip/node_modules/@s/gyp/", "linkType": "HARD"}],
                ["virtual:ab#npm:2.0.0", {"packageLocation": "./.yarn/cache/gyp.zip/node_modules/@s/gyp/", "linkType": "HARD"}]
            ]],
            ["plain", [["npm:1.0.0", {"packageLocation": "./.yarn/cache/plain.zip/node_modules/plain/", "linkType": "HARD"}]]],
            ["missing", [["npm:1.0.0", {"packageLocation": "./.yarn/cache/none.zip/node_modules/missing/", "linkType": "HARD"}]]]
        ]
    });
    std::fs::write(root.join(".pnp.data.json"), data.to_string()).unwrap();
    let found = find_pnp(root);
    let names: Vec<String> = found
        .iter()
        .map(|f| format!("{}@{} {}", f.name, f.version, f.locator))
        .collect();
    assert_eq!(
        names,
        vec![
            "spoof@1.0.0 spoof@npm:1.0.0".to_string(),
            "@s/gyp@2.0.0 @s/gyp@npm:2.0.0".to_string()
        ]
    );
    assert_eq!(
        found[0].scripts,
        vec![("postinstall".to_string(), "evil".to_string())]
    );
    assert_eq!(
        found[0].location,
        ".yarn/cache/spoof.zip/node_modules/spoof"
    );
    assert_eq!(
        found[1].scripts,
        vec![("install".to_string(), "node-gyp rebuild".to_string())]
    );
}

#[test]
fn the_yarnrc_copy_has_no_credentials() {
    let rc = "npmRegistryServer: \"http://127.0.0.1:1\"\nnpmAuthToken: s3cret\nnpmScopes:\n  acme:\n    npmAuthIdent: \"u:p\"\n    npmRegistryServer: \"http://127.0.0.1:2\"\n\"npmAlwaysAuth\": true\nenableTelemetry: false\n";
    let s = scrub_yarnrc(rc);
    assert!(
        !s.contains("s3cret") && !s.contains("u:p") && !s.contains("AlwaysAuth"),
        "{s}"
    );
    assert!(
        s.contains("npmScopes:\n  acme:\n    npmRegistryServer"),
        "{s}"
    );
    assert!(s.contains("enableTelemetry: false"));
}

#[test]
fn a_users_own_skip_build_is_kept() {
    let d = tempfile::tempdir().unwrap();
    let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(skips_builds(
        &a(&["install", "--mode=skip-build"]),
        d.path()
    ));
    assert!(skips_builds(
        &a(&["install", "--mode", "update-lockfile"]),
        d.path()
    ));
    if std::env::vars().any(|(k, _)| k.eq_ignore_ascii_case("YARN_ENABLE_SCRIPTS")) {
        return;
    }
    std::fs::write(d.path().join(".yarnrc.yml"), "enableScripts: false\n").unwrap();
    assert!(skips_builds(&a(&["install"]), d.path()));
    std::fs::write(d.path().join(".yarnrc.yml"), "enableScripts: true\n").unwrap();
    assert!(!skips_builds(&a(&["install"]), d.path()));
}

#[test]
fn berry_files_are_read() {
    // berry's slugifyLocator: ident, protocol, version, locator hash.
    assert!(cache_slug("pw-yb-dep", "npm:1.0.0").starts_with("pw-yb-dep-npm-1.0.0-e6820a8a08-"));
    assert_eq!(
        cache_slug("@pwyb/three", "npm:2.1.0"),
        "@pwyb-three-npm-2.1.0-5f74465e54-"
    );
    assert_eq!(split_locator("@s/x@npm:1.0.0"), Some(("@s/x", "npm:1.0.0")));
    assert_eq!(split_locator("x@workspace:."), Some(("x", "workspace:.")));
    let lock = "__metadata:\n  version: 8\n  cacheKey: 10c0\n\n\"a@npm:^1.0.0\":\n  version: 1.0.0\n  resolution: \"a@npm:1.0.0\"\n  checksum: 10c0/x\n  languageName: node\n  linkType: hard\n\n\"app@workspace:.\":\n  version: 0.0.0-use.local\n  resolution: \"app@workspace:.\"\n  languageName: unknown\n  linkType: soft\n";
    assert_eq!(
        lockfile_resolutions(lock),
        vec![
            ("a@npm:1.0.0".to_string(), true),
            ("app@workspace:.".to_string(), false)
        ]
    );
    let state = "# Warning: generated\n\n__metadata:\n  version: 1\n  nmMode: classic\n\n\"app@workspace:.\":\n  locations:\n    - \"\"\n\n\"a@npm:1.0.0\":\n  locations:\n    - \"node_modules/a\"\n    - \"node_modules/b/node_modules/a\"\n";
    assert_eq!(
        yarn_state(state),
        vec![
            ("app@workspace:.".to_string(), String::new()),
            ("a@npm:1.0.0".to_string(), "node_modules/a".to_string())
        ]
    );
    let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(is_exec(&a(&["dlx", "-p", "x", "y"])));
    assert!(is_exec(&a(&["--cwd", "dlx", "create", "x"])));
    assert!(!is_exec(&a(&["add", "dlx"])));
}
