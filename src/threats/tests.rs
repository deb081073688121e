use super::*;

fn mal(id: &str, eco: &str, name: &str, extra: &str) -> String {
    format!(
        r#"{{"id":"{id}","summary":"Malicious code in {name}","affected":[{{"package":{{"ecosystem":"{eco}","name":"{name}"}}{extra}}}]}}"#
    )
}

#[test]
fn osv_versions() {
    use Ecosystem::*;
    let all = osv::parse(&mal(
        "MAL-1",
        "npm",
        "Evil-Pkg",
        r#","ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]"#,
    ))
    .unwrap();
    assert_eq!(all[0].name, "evil-pkg");
    assert_eq!(all[0].versions, Versions::All);
    assert!(all[0].versions.contains(Npm, None));

    let bare = osv::parse(&mal("MAL-2", "PyPI", "Evil_Pkg.x", "")).unwrap();
    assert_eq!(bare[0].name, "evil-pkg-x");
    assert_eq!(bare[0].versions, Versions::All);

    let some = osv::parse(&mal(
        "MAL-3",
        "npm",
        "ok-pkg",
        r#","versions":["1.2.3","v1.2.4"],"ranges":[{"type":"SEMVER","events":[{"introduced":"2.0.0"},{"fixed":"2.1.0"},{"introduced":"3.0.0"},{"last_affected":"3.0.2"}]}]"#,
    ))
    .unwrap();
    let v = &some[0].versions;
    for (ver, want) in [
        (Some("1.2.3"), true),
        (Some("1.2.4"), true),
        (Some("v1.2.3"), true),
        (Some("1.2.5"), false),
        (Some("2.0.0"), true),
        (Some("2.0.9"), true),
        (Some("2.1.0"), false),
        (Some("3.0.2"), true),
        (Some("3.0.3"), false),
        (None, false),
    ] {
        assert_eq!(v.contains(Npm, ver), want, "{ver:?}");
    }
    // ECOSYSTEM ranges with PyPI-style versions.
    let py = osv::parse(&mal(
        "MAL-4",
        "PyPI",
        "p",
        r#","ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"1.0"},{"fixed":"1.0.5"}]}]"#,
    ))
    .unwrap();
    assert!(py[0].versions.contains(Pypi, Some("1.0.4")));
    assert!(py[0].versions.contains(Pypi, Some("1.0")));
    assert!(!py[0].versions.contains(Pypi, Some("1.0.5")));
    assert!(!py[0].versions.contains(Pypi, Some("0.9")));
}

#[test]
fn osv_skips_withdrawn_and_foreign_ecosystems_and_rejects_garbage() {
    let w = r#"{"id":"MAL-9","withdrawn":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"x"}}]}"#;
    assert!(osv::parse(w).unwrap().is_empty());
    let deb = mal("DSA-1", "Debian:12", "x", "");
    assert!(osv::parse(&deb).unwrap().is_empty());
    assert!(osv::parse("{").is_err());
    assert!(osv::parse(r#"{"no":"id"}"#).is_err());
    let arr = format!(
        "[{},{}]",
        mal("MAL-5", "crates.io", "Evil_Crate", ""),
        mal("MAL-6", "Go", "example.com/m", "")
    );
    let l = osv::parse(&arr).unwrap();
    assert_eq!(l[0].name, "evil-crate");
    assert_eq!(l[1].name, "example.com/m");
}

#[test]
fn index_round_trip_and_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed");
    std::fs::create_dir_all(feed.join("npm")).unwrap();
    for i in 0..500 {
        std::fs::write(
            feed.join("npm").join(format!("MAL-{i}.json")),
            mal(&format!("MAL-{i}"), "npm", &format!("pkg-{i:04}"), ""),
        )
        .unwrap();
    }
    // Two advisories for one package, one of them version-bound.
    std::fs::write(
        feed.join("extra.json"),
        format!(
            "[{},{}]",
            mal("MAL-A", "npm", "shared", r#","versions":["1.0.0"]"#),
            mal("MAL-B", "PyPI", "Shared", "")
        ),
    )
    .unwrap();
    std::fs::write(feed.join("not-json.txt"), "ignored").unwrap();
    let state = dir.path().join("state");
    let mut ix = ensure_index(std::slice::from_ref(&feed), &state)
        .unwrap()
        .unwrap();
    assert_eq!(ix.len(), 502);
    for i in [0, 1, 250, 499] {
        let hits = ix
            .check(Ecosystem::Npm, &format!("PKG-{i:04}"), Some("9.9.9"))
            .unwrap();
        assert_eq!(hits.len(), 1, "{i}");
        assert_eq!(hits[0].id, format!("MAL-{i}"));
    }
    assert!(ix
        .check(Ecosystem::Npm, "pkg-0500", None)
        .unwrap()
        .is_empty());
    assert!(ix.check(Ecosystem::Npm, "pkg-", None).unwrap().is_empty());
    assert!(ix.check(Ecosystem::Npm, "", None).unwrap().is_empty());
    assert!(ix
        .check(Ecosystem::Pypi, "pkg-0001", None)
        .unwrap()
        .is_empty());
    assert_eq!(
        ix.check(Ecosystem::Npm, "shared", Some("1.0.0"))
            .unwrap()
            .len(),
        1
    );
    assert!(ix
        .check(Ecosystem::Npm, "shared", Some("1.0.1"))
        .unwrap()
        .is_empty());
    assert!(ix.check(Ecosystem::Npm, "shared", None).unwrap().is_empty());
    assert_eq!(
        ix.check(Ecosystem::Pypi, "shared", None).unwrap()[0].id,
        "MAL-B"
    );

    // The same feeds reuse the index; a changed feed file makes a new one.
    let p1 = index_path(std::slice::from_ref(&feed), &state).unwrap();
    let single = dir.path().join("one.jsonl");
    std::fs::write(
        &single,
        format!(
            "{}\n\n{}\n",
            mal("MAL-X", "RubyGems", "g", ""),
            mal("MAL-Y", "NuGet", "N.Pkg", "")
        ),
    )
    .unwrap();
    let both = vec![feed.clone(), single.clone()];
    let mut ix2 = ensure_index(&both, &state).unwrap().unwrap();
    assert_ne!(p1, index_path(&both, &state).unwrap());
    assert_eq!(
        ix2.check(Ecosystem::Nuget, "n.pkg", None).unwrap()[0].id,
        "MAL-Y"
    );
    assert_eq!(
        ix2.check(Ecosystem::Rubygems, "g", None).unwrap()[0].id,
        "MAL-X"
    );
}

#[test]
fn zip_feed() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let z = dir.path().join("all.zip");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&z).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file("MAL-Z.json", opts).unwrap();
    w.write_all(mal("MAL-Z", "Maven", "org.example:evil", "").as_bytes())
        .unwrap();
    w.finish().unwrap();
    let l = read_feed(&z).unwrap();
    assert_eq!(l[0].id, "MAL-Z");
    assert_eq!(l[0].name, "org.example:evil");
}

#[test]
fn broken_feeds_and_indexes_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    assert!(ensure_index(&[missing], dir.path()).is_err());
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{not json").unwrap();
    let e = ensure_index(std::slice::from_ref(&bad), dir.path())
        .err()
        .unwrap();
    assert!(e.to_string().contains("bad.json"), "{e}");
    let badzip = dir.path().join("bad.zip");
    std::fs::write(&badzip, "PK garbage").unwrap();
    assert!(read_feed(&badzip).is_err());
    for junk in [&b""[..], b"short", &[0u8; 64][..]] {
        let p = dir.path().join("junk.idx");
        std::fs::write(&p, junk).unwrap();
        assert!(Index::open(&p).is_err());
    }
    // A valid footer whose table points past the lines.
    let p = dir.path().join("forged.idx");
    let mut b = b"pkgward threat index v1\n".to_vec();
    let table = b.len() as u64;
    b.extend_from_slice(&999u64.to_le_bytes());
    b.extend_from_slice(&1u64.to_le_bytes());
    b.extend_from_slice(&table.to_le_bytes());
    b.extend_from_slice(MAGIC);
    std::fs::write(&p, b).unwrap();
    let mut ix = Index::open(&p).unwrap();
    assert!(ix.check(Ecosystem::Npm, "x", None).is_err());
}

proptest::proptest! {
    #[test]
    fn compare_is_a_total_order_and_never_panics(a in "[0-9a-z.\\-+_v]{0,12}", b in "[0-9a-z.\\-+_v]{0,12}") {
        let x = osv::compare(&a, &b);
        let y = osv::compare(&b, &a);
        proptest::prop_assert_eq!(x, y.reverse());
    }
}
