//! Provenance benchmark: what collecting provenance (lockfile snapshot and
//! diff, `package` records, hashing of every response body the egress proxy
//! relays, the bin/PATH scan) adds to `npm install` of ~100 packages from a
//! loopback registry.
//!
//! ```text
//! cargo bench --bench provenance                # BENCH_RUNS=7 rounds by default
//! ```
//!
//! Method: one sandbox (tests/support: the loopback npm registry with 100
//! fixture packages, a project depending on all of them); each round runs,
//! in rotating order, (a) the bare npm, (b) npm through the pkgward shim
//! with provenance, (c) the same with provenance switched off
//! (`[audit] provenance = false`). Every sample
//! starts from no `node_modules`, no lockfile and an empty npm cache, so
//! each install fetches all 100 tarballs (through the proxy for b and c)
//! and provenance records 100 added packages and ~200 artifacts. The cost
//! of provenance is median(b) / median(c); median(b) / median(a) is the
//! whole shim. As a precise cross-check the library's snapshot + diff is
//! also timed alone on the installed project.
//!
//! Without `--bench` (e.g. under `cargo test --all-targets`) it runs one
//! quick round with 10 packages.

#[cfg(unix)]
#[path = "../tests/support/mod.rs"]
mod support;

#[cfg(unix)]
use std::path::Path;
#[cfg(unix)]
use std::process::Command;
#[cfg(unix)]
use std::time::{Duration, Instant};

#[cfg(unix)]
use support::guard::Guarded;
#[cfg(unix)]
use support::tools::find_in_path;
#[cfg(unix)]
use support::{NpmPackage, Registries};

fn main() {
    #[cfg(unix)]
    run();
    #[cfg(not(unix))]
    eprintln!("provenance bench: Unix only (the test support it uses is)");
}

#[cfg(unix)]
fn run() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (packages, rounds) = if bench {
        let runs = std::env::var("BENCH_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(7);
        (100, runs)
    } else {
        (10, 1)
    };
    let Some(npm) = find_in_path("npm") else {
        eprintln!("provenance bench: no npm on PATH; skipped");
        return;
    };
    let reg = Registries::start();
    let mut deps = serde_json::Map::new();
    for i in 0..packages {
        let name = format!("pw-bench-{i:03}");
        let mut p = NpmPackage::new(&name, "1.0.0")
            .file("index.js", format!("module.exports = {i};\n"))
            .file("README.md", "x".repeat(2000 + i * 37));
        if i % 10 == 0 {
            p = p
                .executable("cli.js", "#!/usr/bin/env node\nconsole.log(1);\n")
                .field("bin", serde_json::json!({ name.clone(): "cli.js" }));
        }
        reg.publish_npm(&p);
        deps.insert(name, serde_json::json!("^1.0.0"));
    }
    let policy = format!(
        "mode = \"enforce\"\n[registries]\nnpm = [\"{}\"]\n",
        reg.npm_url()
    );
    let g = Guarded::new(&policy);
    // The same policy with provenance switched off.
    let no_prov = g.sb.root().join("policy-no-provenance.toml");
    std::fs::write(&no_prov, format!("{policy}[audit]\nprovenance = false\n")).unwrap();
    let manifest =
        serde_json::json!({"name": "bench-app", "version": "1.0.0", "dependencies": deps});
    g.sb.write("package.json", manifest.to_string());
    let npm_env = g.sb.npm_env(&reg.npm_url());
    let args = ["install", "--no-audit", "--no-fund", "--loglevel=error"];

    let clean = |g: &Guarded| {
        for p in ["node_modules", "package-lock.json"] {
            let p = g.sb.work.join(p);
            let _ = std::fs::remove_dir_all(&p);
            let _ = std::fs::remove_file(&p);
        }
        let _ = std::fs::remove_dir_all(g.sb.root().join("npm-cache"));
    };
    let time = |cmd: &mut Command| {
        let t = Instant::now();
        let out = cmd.output().expect("spawn");
        let d = t.elapsed();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        d
    };
    let variants = ["bare npm", "shim, provenance on", "shim, provenance off"];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); 3];
    // One warm-up of each (page cache, node's compile cache).
    for round in 0..=rounds {
        for k in 0..3 {
            let v = (k + round) % 3;
            clean(&g);
            let d = match v {
                0 => time(
                    g.sb.command(&npm, std::slice::from_ref(&npm_env))
                        .args(args),
                ),
                1 => time(
                    g.sb.command("npm", &[npm_env.clone(), g.pkgward_env()])
                        .args(args),
                ),
                _ => time(
                    g.sb.command(
                        "npm",
                        &[
                            npm_env.clone(),
                            g.pkgward_env(),
                            vec![("PKGWARD_POLICY".into(), no_prov.clone().into())],
                        ],
                    )
                    .args(args),
                ),
            };
            if round > 0 {
                samples[v].push(d);
            }
        }
    }
    // The records were written: the last "on" install recorded every package.
    let audit = g.audit();
    let added = audit
        .iter()
        .filter(|r| r["kind"] == "package" && r["change"] == "added")
        .count();
    let artifacts = audit.iter().filter(|r| r["kind"] == "artifact").count();
    assert!(
        added >= packages * rounds,
        "expected {packages} added packages per provenance run, got {added} in total"
    );

    let med: Vec<f64> = samples.iter_mut().map(|s| median_ms(s)).collect();
    println!("provenance bench: npm install of {packages} packages, {rounds} rounds (cold npm cache each run)");
    for (i, v) in variants.iter().enumerate() {
        let spread: Vec<String> = samples[i]
            .iter()
            .map(|d| format!("{:.0}", d.as_secs_f64() * 1e3))
            .collect();
        println!(
            "  {v:<22} median {:>8.1} ms   [{}]",
            med[i],
            spread.join(" ")
        );
    }
    println!(
        "  provenance on / off: {:.3}x ({:+.1} ms); shim (on) / bare: {:.3}x",
        med[1] / med[2],
        med[1] - med[2],
        med[1] / med[0]
    );
    println!("  records: {added} added packages, {artifacts} artifacts over all provenance runs");

    // The library's part alone, on the installed project: the snapshot
    // before (no lockfile yet) and the diff after (100 added).
    snapshot_cost(&g, &npm, &npm_env, &args, clean, bench);
}

#[cfg(unix)]
fn median_ms(s: &mut [Duration]) -> f64 {
    s.sort();
    let n = s.len();
    let m = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2
    };
    m.as_secs_f64() * 1e3
}

#[cfg(unix)]
fn snapshot_cost(
    g: &Guarded,
    npm: &Path,
    npm_env: &support::tools::EnvList,
    args: &[&str],
    clean: impl Fn(&Guarded),
    bench: bool,
) {
    use pkgward::provenance;
    clean(g);
    let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env = |k: &str| std::env::var_os(k);
    let home = g.sb.home.clone();
    let tool = pkgward::tools::Tool::by_name("npm").unwrap();
    let cx = provenance::Ctx {
        tool,
        args: &a,
        cwd: &g.sb.work,
        real: npm,
        home: Some(&home),
        env: &env,
    };
    let t = Instant::now();
    let before = provenance::before(&cx);
    let t_before = t.elapsed();
    let out =
        g.sb.command(npm, std::slice::from_ref(npm_env))
            .args(args)
            .output()
            .unwrap();
    assert!(out.status.success());
    let t = Instant::now();
    let recs = provenance::after(&before, "bench", &[]);
    let t_after = t.elapsed();
    // And again with nothing changed (the stat shortcut).
    let before2 = provenance::before(&cx);
    let t = Instant::now();
    let none = provenance::after(&before2, "bench", &[]);
    let t_same = t.elapsed();
    println!(
        "  library alone: snapshot before {:.2} ms, diff after {:.2} ms ({} records), unchanged {:.3} ms ({} records)",
        t_before.as_secs_f64() * 1e3,
        t_after.as_secs_f64() * 1e3,
        recs.len(),
        t_same.as_secs_f64() * 1e3,
        none.len()
    );
    if bench {
        assert!(recs.len() >= 100);
    }
    assert!(none.is_empty());
}
