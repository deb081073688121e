//! Fuzzes the registry URL matcher: it must never panic, must never approve
//! a candidate carrying userinfo, and must be consistent with itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pkgward::decide::urls::{matches, Prefix};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (approved, candidate) = text.split_once('\n').unwrap_or((text, text));
    let m = matches(approved, candidate);
    if m {
        // A match implies both parse, and the candidate has no userinfo.
        let c = Prefix::parse(candidate).expect("a matching candidate parses");
        let a = Prefix::parse(approved).expect("a matching approval parses");
        assert!(a.covers(&c));
        if let Ok(u) = url::Url::parse(candidate.trim().trim_start_matches("sparse+").trim_start_matches("registry+")) {
            assert!(u.username().is_empty() && u.password().is_none(), "userinfo matched: {candidate}");
        }
    }
    // Matching is deterministic.
    assert_eq!(m, matches(approved, candidate));
});
