//! Fleet benchmarks (docs/PERFORMANCE.md, "Threat feed lookups" and
//! "Remote policy refresh"):
//!
//! 1. a threat feed of 200,000 OSV listings: how long building the index
//!    takes, and what one invocation pays to open it and look packages up;
//! 2. what the remote policy costs a wrapped call: the shim in front of a
//!    trivial tool with no remote policy, with a fresh cached copy, and with
//!    a copy due for refresh while the policy server accepts the connection
//!    and never answers (the refresh is bounded by `timeout`).
//!
//! `cargo bench --bench fleet` (release profile). `BENCH_ENTRIES`,
//! `BENCH_RUNS` change the sizes; `--quick` (also what `cargo test
//! --all-targets` runs) uses small ones.

#![cfg_attr(test, allow(dead_code))]

use std::time::{Duration, Instant};

fn main() {
    let quick =
        std::env::args().any(|a| a == "--quick") || !std::env::args().any(|a| a == "--bench");
    let entries: usize = env_num("BENCH_ENTRIES", if quick { 2_000 } else { 200_000 });
    let runs: usize = env_num("BENCH_RUNS", if quick { 5 } else { 200 });
    lookups(entries, runs);
    #[cfg(unix)]
    refresh(if quick { 3 } else { 30 });
}

fn env_num(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn lookups(entries: usize, runs: usize) {
    use pkgward::threats;
    use pkgward::tools::Ecosystem;
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.jsonl");
    let mut text = String::with_capacity(entries * 200);
    let ecos = [
        "npm",
        "PyPI",
        "crates.io",
        "Go",
        "RubyGems",
        "NuGet",
        "Maven",
    ];
    for i in 0..entries {
        let eco = ecos[i % ecos.len()];
        let name = match eco {
            "Go" => format!("example.com/mal/pkg{i}"),
            "Maven" => format!("org.example:mal{i}"),
            _ => format!("mal-pkg-{i}"),
        };
        let versions = if i % 3 == 0 {
            r#","versions":["1.0.0","1.0.1"]"#
        } else {
            ""
        };
        text.push_str(&format!(
            r#"{{"id":"MAL-2026-{i}","summary":"Malicious code in {name}","affected":[{{"package":{{"ecosystem":"{eco}","name":"{name}"}}{versions}}}]}}"#
        ));
        text.push('\n');
    }
    std::fs::write(&feed, &text).unwrap();
    let state = dir.path().join("state");
    let t = Instant::now();
    let ix = threats::ensure_index(std::slice::from_ref(&feed), &state)
        .unwrap()
        .unwrap();
    let build = t.elapsed();
    let n = ix.len();
    drop(ix);
    let size = std::fs::metadata(threats::index_path(std::slice::from_ref(&feed), &state).unwrap())
        .unwrap()
        .len();

    // What a shim does: open the index (staleness check included) and look
    // up the packages of one command line (here 3: two unlisted, one listed).
    let mut per_call = Vec::with_capacity(runs);
    let mut per_lookup = Vec::with_capacity(runs);
    for r in 0..runs {
        let t = Instant::now();
        let mut ix = threats::ensure_index(std::slice::from_ref(&feed), &state)
            .unwrap()
            .unwrap();
        let opened = t.elapsed();
        let hit = format!("mal-pkg-{}", (r * 7919) % entries / 7 * 7);
        let t2 = Instant::now();
        assert!(ix
            .check(Ecosystem::Npm, "left-pad-not-listed", None)
            .unwrap()
            .is_empty());
        assert!(ix
            .check(Ecosystem::Pypi, "requests-not-listed", Some("2.0"))
            .unwrap()
            .is_empty());
        let _ = ix.check(Ecosystem::Npm, &hit, Some("9.9.9")).unwrap();
        per_lookup.push(t2.elapsed() / 3);
        per_call.push(opened + t2.elapsed());
    }
    println!("## Threat feed lookups\n");
    println!("| feed | index build (once per feed change) | index size | per invocation (open + 3 lookups), median | per lookup, median |");
    println!("|---|---|---|---|---|");
    println!(
        "| {n} listings | {:.2} s | {:.1} MiB | {:.0} µs | {:.1} µs |",
        build.as_secs_f64(),
        size as f64 / (1 << 20) as f64,
        median(per_call).as_secs_f64() * 1e6,
        median(per_lookup).as_secs_f64() * 1e6
    );
    println!();
}

#[cfg(unix)]
fn refresh(runs: usize) {
    use std::os::unix::fs::symlink;
    use std::process::{Command, Stdio};

    let Some(bin) = std::env::var_os("PKGWARD_BIN")
        .map(std::path::PathBuf::from)
        .or_else(|| option_env!("CARGO_BIN_EXE_pkgward").map(Into::into))
        .filter(|p| p.is_file())
    else {
        println!("(remote policy refresh: no pkgward binary; set PKGWARD_BIN)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in ["shims", "real", "state", "home", "work"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    symlink(&bin, root.join("shims/gem")).unwrap();
    std::fs::copy("/bin/true", root.join("real/gem")).unwrap();
    // A server that accepts and never answers.
    let stall = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = stall.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in stall.incoming() {
            held.push(c);
        }
    });
    let body = "mode = \"enforce\"\n";
    let pin: String = {
        use sha2::Digest;
        sha2::Sha256::digest(body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let url = format!("http://127.0.0.1:{port}/policy.toml");
    // A verified copy in the cache, as `pkgward fleet sync` leaves it.
    let cache = {
        use sha2::Digest;
        let h: String = sha2::Sha256::digest(url.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        root.join("state/fleet").join(&h[..16])
    };
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("policy.toml"), body).unwrap();
    let meta = |age: u64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        std::fs::write(
            cache.join("meta.json"),
            format!(
                r#"{{"url":"{url}","sha256":"{pin}","fetched_at":{}}}"#,
                now - age
            ),
        )
        .unwrap();
    };
    let system = root.join("system.toml");
    std::fs::write(&system, "mode = \"enforce\"\n").unwrap();
    let fleet_system = root.join("system-fleet.toml");
    std::fs::write(
        &fleet_system,
        format!("[fleet]\npolicy_url = \"{url}\"\nsha256 = \"{pin}\"\nrefresh = \"1h\"\ntimeout = \"1s\"\n"),
    )
    .unwrap();
    let run = |program: &std::path::Path, sys: &std::path::Path| {
        let t = Instant::now();
        let st = Command::new(program)
            .arg("--version")
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:{}:/usr/bin:/bin",
                    root.join("shims").display(),
                    root.join("real").display()
                ),
            )
            .env("HOME", root.join("home"))
            .env("PKGWARD_STATE_DIR", root.join("state"))
            .env("PKGWARD_SHIM_DIR", root.join("shims"))
            .env("PKGWARD_SYSTEM_POLICY", sys)
            .current_dir(root.join("work"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        t.elapsed()
    };
    let bare_p = root.join("real/gem");
    let shim_p = root.join("shims/gem");
    let (mut bare, mut none, mut fresh, mut due) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        bare.push(run(&bare_p, &system));
        none.push(run(&shim_p, &system));
        meta(60);
        fresh.push(run(&shim_p, &fleet_system));
        meta(2 * 3600);
        due.push(run(&shim_p, &fleet_system));
    }
    println!("## Remote policy refresh\n");
    println!("Trivial tool (`/bin/true` as `gem`), {runs} runs each, medians; the policy server accepts and never answers; `timeout = \"1s\"`.\n");
    println!("| variant | median wall time |");
    println!("|---|---|");
    for (name, v) in [
        ("bare tool", bare),
        ("shim, no remote policy", none),
        ("shim, fresh cached copy", fresh),
        ("shim, copy due for refresh, server stalled", due),
    ] {
        println!("| {name} | {:.1} ms |", median(v).as_secs_f64() * 1e3);
    }
    println!();
}
