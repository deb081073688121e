//! Install-time code benchmark: `npm install` of ~100 packages, a handful
//! with install scripts (some approved), through the pkgward shim in
//! enforce mode — npm with `--ignore-scripts`, then pkgward runs the
//! approved scripts itself, supervised — against the same plain install
//! with the bare npm (every script on). Goal: ≤ 1.10×.
//!
//! ```text
//! cargo bench --bench scripts                   # BENCH_RUNS=7 rounds by default
//! ```
//!
//! Method: one sandbox (tests/support: the loopback npm registry with 100
//! fixture packages, 10 of them with a `postinstall` that runs node to
//! write a file, 5 of those approved in the policy, two of which depend on
//! each other; a project depending on all 100). Each round runs, in rotating order, (a) the bare npm (all 10
//! scripts run), (b) npm through the shim, enforce mode, the 5 approved
//! scripts run by pkgward, (c) the same shim with no approval (no script
//! runs: the cost of the approved runs is b − c). Every sample starts from
//! no `node_modules`, no lockfile and an empty npm cache. The ratio is
//! median(b) / median(a).
//!
//! Without `--bench` (e.g. under `cargo test --all-targets`) it runs one
//! quick round with 10 packages.

#[cfg(unix)]
#[path = "../tests/support/mod.rs"]
mod support;

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
    eprintln!("scripts bench: Unix only (the test support it uses is)");
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
        eprintln!("scripts bench: no npm on PATH; skipped");
        return;
    };
    let reg = Registries::start();
    let mut deps = serde_json::Map::new();
    let mut approved = Vec::new();
    let mut with_scripts = 0;
    for i in 0..packages {
        let name = format!("pw-sbench-{i:03}");
        let mut p = NpmPackage::new(&name, "1.0.0")
            .file("index.js", format!("module.exports = {i};\n"))
            .file("README.md", "x".repeat(2000 + i * 37));
        // Every tenth package has an install script (10 of 100); five of
        // those are approved (000, 010, 020, 040, 060). Some depend on
        // another one with a script (000 → 010, 020 → 030, …), so the
        // approved ones have an order to keep: 010 before 000.
        if i % 10 == 0 {
            with_scripts += 1;
            p = p.script(
                "postinstall",
                "node -e \"require('fs').writeFileSync('built.txt', 'ok')\"",
            );
            if i % 20 == 0 && i + 10 < packages {
                p = p.dep(&format!("pw-sbench-{:03}", i + 10), "^1.0.0");
            }
            if matches!(i, 0 | 10 | 20 | 40 | 60) {
                approved.push(format!("\"npm:{name}\""));
            }
        }
        reg.publish_npm(&p);
        deps.insert(name, serde_json::json!("^1.0.0"));
    }
    let base = format!(
        "mode = \"enforce\"\n[registries]\nnpm = [\"{}\"]\n",
        reg.npm_url()
    );
    let policy = format!("{base}[scripts]\nallow = [{}]\n", approved.join(", "));
    let g = Guarded::new(&policy);
    let no_approvals = g.sb.root().join("policy-no-approvals.toml");
    std::fs::write(&no_approvals, &base).unwrap();
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
    let built = |g: &Guarded| {
        (0..packages)
            .filter(|i| {
                g.sb.work
                    .join(format!("node_modules/pw-sbench-{i:03}/built.txt"))
                    .exists()
            })
            .count()
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
    let variants = [
        "bare npm (scripts on)",
        "shim, approved run",
        "shim, no approvals",
    ];
    let want_built = [with_scripts, approved.len(), 0];
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
                            vec![("PKGWARD_POLICY".into(), no_approvals.clone().into())],
                        ],
                    )
                    .args(args),
                ),
            };
            assert_eq!(
                built(&g),
                want_built[v],
                "{}: scripts that ran",
                variants[v]
            );
            if round > 0 {
                samples[v].push(d);
            }
        }
    }
    let runs = g
        .audit()
        .iter()
        .filter(|r| r["kind"] == "script" && r["ran"] == true)
        .count();
    assert!(
        runs >= approved.len() * rounds,
        "{runs} script runs recorded"
    );

    let med: Vec<f64> = samples.iter_mut().map(|s| median_ms(s)).collect();
    println!(
        "scripts bench: npm install of {packages} packages ({with_scripts} with a postinstall, {} approved), \
         {rounds} rounds (cold npm cache each run)",
        approved.len()
    );
    for (i, v) in variants.iter().enumerate() {
        let spread: Vec<String> = samples[i]
            .iter()
            .map(|d| format!("{:.0}", d.as_secs_f64() * 1e3))
            .collect();
        println!(
            "  {v:<24} median {:>8.1} ms   [{}]",
            med[i],
            spread.join(" ")
        );
    }
    println!(
        "  shim (approved run) / bare: {:.3}x; the approved runs: {:+.1} ms; load average: {}",
        med[1] / med[0],
        med[1] - med[2],
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
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
