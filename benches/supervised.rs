//! Supervised-install benchmark: what process and network supervision (the
//! seccomp tracer, the egress proxy, their records) adds to real installs,
//! side by side in one run against the bare tool, on loopback registries.
//! Goal: supervised ≤ 1.05× bare.
//!
//! ```text
//! cargo bench --bench supervised                # BENCH_RUNS=7 rounds by default
//! BENCH_ONLY=pip,cargo cargo bench --bench supervised
//! ```
//!
//! Three workloads, each in its own sandbox (tests/support: the loopback
//! registries, fixture packages built by the bench, isolated HOME/caches):
//!
//! - **npm ci** of 100 packages (a lockfile made once by the bare npm, which
//!   also warms npm's cache; every sample starts without `node_modules`,
//!   npm's cache warm for every variant);
//! - **pip install** of 20 wheels into a fresh venv (a copy of a venv made
//!   once, so every sample starts from the same empty site-packages) with
//!   `--no-cache-dir`, so every sample fetches the 20 index pages and wheels
//!   from the loopback simple index;
//! - **cargo build** of a 10-crate graph from the loopback cargo registry
//!   (5 crates with a build script, approved in the policy), debug profile,
//!   from an empty target directory, `Cargo.lock` and the registry cache
//!   warm. Through the shim a build is `cargo fetch` + `cargo metadata
//!   --offline` + the offline build, unless the project's decision cache is
//!   valid (the steady state: then only the offline build runs); both are
//!   measured.
//!
//! Variants, interleaved in rotating order, one warm-up round not counted:
//! (a) the bare tool; (b) the tool through the pkgward shim (a symlink named
//! after it) in enforce mode under full supervision — `[supervise] tracer =
//! "auto"` (seccomp user notification on this kernel), the egress proxy,
//! process/connection records; (c) the same with `[supervise] tracer =
//! "proxy-only"` set in a system policy layer (`PKGWARD_SYSTEM_POLICY`; the
//! only layer allowed to), which separates the tracer's cost from the rest
//! of the shim. The audit log is checked afterwards: every shim run of (b)
//! was traced by seccomp and recorded its processes, every run of (c) was not.
//!
//! Without `--bench` (e.g. under `cargo test --all-targets`) it runs one
//! quick round with a few packages of each.

#[cfg(target_os = "linux")]
#[path = "../tests/support/mod.rs"]
mod support;

#[cfg(target_os = "linux")]
mod common;

fn main() {
    #[cfg(target_os = "linux")]
    linux::run();
    #[cfg(not(target_os = "linux"))]
    eprintln!("supervised bench: Linux only (the tracer it measures is)");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;
    use std::process::Command;
    use std::time::Duration;

    use crate::common::{interleave, loadavg, machine, stats_ms, Sample, Variant};
    use crate::support::guard::{pkgward_bin, Guarded};
    use crate::support::tools::{find_in_path, real_cargo, real_python, run_ok, EnvList};
    use crate::support::{Crate, NpmPackage, Registries, Wheel};

    struct Size {
        npm: usize,
        wheels: usize,
        crates: usize,
        rounds: usize,
    }

    /// One workload's results.
    struct Outcome {
        workload: String,
        labels: Vec<String>,
        samples: Vec<Vec<Sample>>,
        load_before: String,
        load_after: String,
        notes: Vec<String>,
    }

    pub fn run() {
        let bench = std::env::args().any(|a| a == "--bench");
        let size = if bench {
            let rounds = std::env::var("BENCH_RUNS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(7);
            Size {
                npm: 100,
                wheels: 20,
                crates: 10,
                rounds,
            }
        } else {
            Size {
                npm: 5,
                wheels: 3,
                crates: 2,
                rounds: 1,
            }
        };
        let only = std::env::var("BENCH_ONLY").unwrap_or_default();
        let want = |w: &str| only.is_empty() || only.split(',').any(|o| o.trim() == w);
        let reg = Registries::start();
        let system_proxy_only = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            system_proxy_only.path(),
            "[supervise]\ntracer = \"proxy-only\"\n",
        )
        .unwrap();
        let sys = system_proxy_only.path();
        let started = std::time::Instant::now();
        let load0 = loadavg();
        let mut out = Vec::new();
        if want("npm") {
            match find_in_path("npm") {
                Some(npm) => out.push(npm_ci(&reg, &npm, sys, &size)),
                None => eprintln!("supervised bench: no npm on PATH; npm skipped"),
            }
        }
        if want("pip") {
            out.push(pip_install(&reg, sys, &size));
        }
        if want("cargo") {
            out.push(cargo_build(&reg, sys, &size, &CargoGraph::TINY));
        }
        if want("cargo-sized") {
            out.push(cargo_build(&reg, sys, &size, &CargoGraph::SIZED));
        }
        report(&out, &size, &load0, started.elapsed());
    }

    fn policy(reg: &Registries, allow: &[String]) -> String {
        let allow: Vec<String> = allow.iter().map(|a| format!("{a:?}")).collect();
        format!(
            "mode = \"enforce\"\n[registries]\nnpm = [\"{}\"]\npypi = [\"{}\"]\ncargo = [\"{}\"]\n\
             [scripts]\nallow = [{}]\n",
            reg.npm_url(),
            reg.pypi_index_url(),
            reg.cargo_index_url().trim_start_matches("sparse+"),
            allow.join(", ")
        )
    }

    /// The shim's environment with the tracer switched off in the system layer.
    fn proxy_only(g: &Guarded, sys: &Path) -> EnvList {
        let mut e = g.pkgward_env();
        e.push(("PKGWARD_SYSTEM_POLICY".into(), sys.into()));
        e
    }

    fn link_shim(g: &Guarded, tool: &str) {
        let p = g.shims.join(tool);
        if !p.exists() {
            std::os::unix::fs::symlink(pkgward_bin(), p).unwrap();
        }
    }

    /// `BENCH_KEEP=1`: leaves the sandbox behind (for replaying a variant
    /// by hand, e.g. under `strace -c -f`) and says where it is.
    fn keep(g: Guarded) {
        if std::env::var_os("BENCH_KEEP").is_some() {
            eprintln!("supervised bench: kept {}", g.sb.root().display());
            std::mem::forget(g);
        }
    }

    fn rm(p: &Path) {
        let _ = std::fs::remove_dir_all(p);
        let _ = std::fs::remove_file(p);
    }

    /// Moves a sample's output (`node_modules`, `target/`) into `trash`
    /// instead of deleting it: deleting hundreds of files right before the
    /// next sample makes that sample's file creation slower by a varying
    /// amount (the file system skips the just-freed inodes), which showed
    /// as ±5 % between identical runs. The trash is emptied after the
    /// rounds ([`rm`]).
    fn set_aside(p: &Path, trash: &Path) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        if std::fs::symlink_metadata(p).is_err() {
            return;
        }
        let _ = std::fs::create_dir_all(trash);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if std::fs::rename(p, trash.join(n.to_string())).is_err() {
            rm(p);
        }
    }

    // ---- npm ci ------------------------------------------------------------

    fn npm_ci(reg: &Registries, npm: &Path, sys: &Path, size: &Size) -> Outcome {
        let mut deps = serde_json::Map::new();
        for i in 0..size.npm {
            let name = format!("pw-supb-{i:03}");
            let mut p = NpmPackage::new(&name, "1.0.0")
                .file("index.js", format!("module.exports = {i};\n"))
                .file("README.md", "x".repeat(2000 + i * 37));
            // A tree, not only a flat list: every fifth depends on the next.
            if i % 5 == 0 && i + 1 < size.npm {
                p = p.dep(&format!("pw-supb-{:03}", i + 1), "^1.0.0");
            }
            reg.publish_npm(&p);
            deps.insert(name, serde_json::json!("^1.0.0"));
        }
        let g = Guarded::new(&policy(reg, &[]));
        let manifest =
            serde_json::json!({"name": "bench-app", "version": "1.0.0", "dependencies": deps});
        g.sb.write("package.json", manifest.to_string());
        let npm_env = g.sb.npm_env(&reg.npm_url());
        // The lockfile, once, by the bare npm (this also fills npm's cache).
        run_ok(g.sb.command(npm, std::slice::from_ref(&npm_env)).args([
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ]));
        assert!(g.sb.work.join("package-lock.json").is_file());
        let args = ["ci", "--no-audit", "--no-fund", "--loglevel=error"];
        let nm = g.sb.work.join("node_modules");
        let trash = g.sb.root().join("trash");
        let reset = || set_aside(&nm, &trash);
        let variants = vec![
            Variant {
                label: "bare npm".into(),
                reset: Box::new(reset),
                cmd: Box::new(|| {
                    let mut c = g.sb.command(npm, std::slice::from_ref(&npm_env));
                    c.args(args);
                    c
                }),
            },
            Variant {
                label: "shim, full supervision".into(),
                reset: Box::new(reset),
                cmd: Box::new(|| {
                    let mut c = g.sb.command("npm", &[npm_env.clone(), g.pkgward_env()]);
                    c.args(args);
                    c
                }),
            },
            Variant {
                label: "shim, proxy-only".into(),
                reset: Box::new(reset),
                cmd: Box::new(|| {
                    let mut c = g.sb.command("npm", &[npm_env.clone(), proxy_only(&g, sys)]);
                    c.args(args);
                    c
                }),
            },
        ];
        let load_before = loadavg();
        let samples = interleave(&variants, size.rounds);
        let load_after = loadavg();
        rm(&trash);
        let installed = std::fs::read_dir(&nm)
            .map(|d| d.filter(|e| e.is_ok()).count())
            .unwrap_or(0);
        assert!(installed >= size.npm, "{installed} packages installed");
        let notes = check_records(&g, size.rounds + 1, &["npm"]);
        let labels = variants.iter().map(|v| v.label.clone()).collect();
        drop(variants);
        keep(g);
        Outcome {
            workload: format!("npm ci, {} packages (cache warm)", size.npm),
            labels,
            samples,
            load_before,
            load_after,
            notes,
        }
    }

    // ---- pip install -------------------------------------------------------

    fn pip_install(reg: &Registries, sys: &Path, size: &Size) -> Outcome {
        let mut names = Vec::new();
        for i in 0..size.wheels {
            let name = format!("pw-supb-wheel-{i:02}");
            let mut w = Wheel::new(&name, "1.0.0").module(&format!(
                "VALUE = {i}\nDOC = {:?}\n",
                "x".repeat(4000 + i * 101)
            ));
            if i % 4 == 0 && i + 1 < size.wheels {
                w = w.dep(&format!("pw-supb-wheel-{:02}", i + 1));
            }
            reg.publish_wheel(&w);
            names.push(name);
        }
        let g = Guarded::new(&policy(reg, &[]));
        let dir = g.sb.work.join("pip");
        std::fs::create_dir_all(&dir).unwrap();
        // A venv made once (with pip); each sample gets a fresh copy of it at
        // the same path, so the scripts' shebangs hold.
        let venv = dir.join("venv");
        let template = g.sb.root().join("venv-template");
        run_ok(Command::new(real_python()).arg("-m").arg("venv").arg(&venv));
        run_ok(Command::new("cp").arg("-a").arg(&venv).arg(&template));
        let pip_env = g.sb.pip_env(&reg.pypi_index_url());
        let venv_bin = venv.join("bin");
        // The shim finds the venv's pip first on PATH after the shims, as in
        // an activated venv.
        let shim_path = |mut e: EnvList| {
            let path = std::env::join_paths([g.shims.clone(), venv_bin.clone()].into_iter().chain(
                std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
            ))
            .unwrap();
            e.push(("PATH".into(), path));
            e.push(("VIRTUAL_ENV".into(), venv.clone().into()));
            e
        };
        let mut args: Vec<String> = ["install", "--no-cache-dir", "-q"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(names.iter().cloned());
        let reset = || {
            rm(&venv);
            run_ok(Command::new("cp").arg("-a").arg(&template).arg(&venv));
        };
        let real_pip = venv_bin.join("pip");
        let variants = vec![
            Variant {
                label: "bare pip".into(),
                reset: Box::new(reset),
                cmd: Box::new(|| {
                    let mut c = g.sb.command(&real_pip, std::slice::from_ref(&pip_env));
                    c.args(&args).current_dir(&dir);
                    c
                }),
            },
            Variant {
                label: "shim, full supervision".into(),
                reset: Box::new(reset),
                cmd: Box::new(|| {
                    let mut c =
                        g.sb.command("pip", &[pip_env.clone(), shim_path(g.pkgward_env())]);
                    c.args(&args).current_dir(&dir);
                    c
                }),
            },
            Variant {
                label: "shim, proxy-only".into(),
                reset: Box::new(reset),
                cmd: Box::new(|| {
                    let mut c =
                        g.sb.command("pip", &[pip_env.clone(), shim_path(proxy_only(&g, sys))]);
                    c.args(&args).current_dir(&dir);
                    c
                }),
            },
        ];
        let load_before = loadavg();
        let samples = interleave(&variants, size.rounds);
        let load_after = loadavg();
        let site = std::fs::read_dir(venv.join("lib"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
            .join("site-packages");
        for n in &names {
            let m = site.join(n.replace('-', "_")).join("__init__.py");
            assert!(m.is_file(), "{} not installed", m.display());
        }
        let notes = check_records(&g, size.rounds + 1, &["pip"]);
        let labels = variants.iter().map(|v| v.label.clone()).collect();
        drop(variants);
        keep(g);
        Outcome {
            workload: format!(
                "pip install, {} wheels into a fresh venv (no pip cache)",
                size.wheels
            ),
            labels,
            samples,
            load_before,
            load_after,
            notes,
        }
    }

    // ---- cargo build -------------------------------------------------------

    /// The crate graph `cargo build` compiles: the same shape (10 crates, 5
    /// build scripts), with crates of next to no code (the shim's fixed
    /// costs against the smallest build) or of some size (what a build of
    /// real crates sees).
    struct CargoGraph {
        /// Crate names: `<prefix>-NN`.
        prefix: &'static str,
        /// Generated functions per crate.
        functions: usize,
        label: &'static str,
    }

    impl CargoGraph {
        const TINY: CargoGraph = CargoGraph {
            prefix: "pw-supb-crate",
            functions: 0,
            label: "",
        };
        const SIZED: CargoGraph = CargoGraph {
            prefix: "pw-supc-crate",
            functions: 12,
            label: ", 12 generated functions each",
        };

        /// Code to compile: functions with loops, closures and generics.
        fn body(&self) -> String {
            (0..self.functions)
                .map(|j| {
                    format!(
                        "pub fn f{j}(x: u64) -> u64 {{\n    let v: Vec<u64> = (0..x).map(|i| i.wrapping_mul({j}) ^ (i >> 3)).collect();\n    let s: std::collections::BTreeMap<u64, String> = v.iter().map(|i| (*i, format!(\"{{i}}-{j}\"))).collect();\n    v.iter().zip(s.values()).fold({j}u64, |a, (b, t)| a.rotate_left(5) ^ b ^ t.len() as u64)\n}}\n"
                    )
                })
                .collect()
        }
    }

    fn cargo_build(reg: &Registries, sys: &Path, size: &Size, graph: &CargoGraph) -> Outcome {
        // Crates 0..n/2 are the project's direct dependencies; crate k of them
        // depends on crate k + n/2. The even ones have a build script.
        let n = size.crates;
        let half = n.div_ceil(2);
        let prefix = graph.prefix;
        let mut approved = Vec::new();
        for i in (0..n).rev() {
            let name = format!("{prefix}-{i:02}");
            let dep = (i < half && i + half < n).then(|| format!("{prefix}-{:02}", i + half));
            let body = match &dep {
                Some(d) => format!(
                    "pub fn fixture_name() -> String {{\n    format!(\"{name}+{{}}\", {}::fixture_name())\n}}\n",
                    d.replace('-', "_")
                ),
                None => format!("pub fn fixture_name() -> String {{\n    \"{name}\".to_string()\n}}\n"),
            };
            let mut c = Crate::new(&name, "1.0.0").lib(&format!("{body}{}", graph.body()));
            if let Some(d) = &dep {
                c = c.dep(d, "1");
            }
            if i % 2 == 0 {
                c = c.build_script(&crate::support::rs_build_marker(&name));
                approved.push(format!("cargo:{name}@^1"));
            }
            reg.publish_crate(&c);
        }
        let g = Guarded::new(&policy(reg, &approved));
        link_shim(&g, "cargo");
        // The shim finds the same cargo binary the bare variant runs.
        std::os::unix::fs::symlink(real_cargo(), g.real.join("cargo")).unwrap();
        g.sb.cargo_config(&reg.cargo.config_replacing_crates_io());
        let deps: String = (0..half)
            .map(|i| format!("{prefix}-{i:02} = \"1\"\n"))
            .collect();
        let calls: String = (0..half)
            .map(|i| {
                format!(
                    "    println!(\"{{}}\", {}_{i:02}::fixture_name());\n",
                    prefix.replace('-', "_")
                )
            })
            .collect();
        g.sb.write(
            "Cargo.toml",
            format!(
                "[package]\nname = \"bench-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{deps}"
            ),
        );
        g.sb.write("src/main.rs", format!("fn main() {{\n{calls}}}\n"));
        let cargo_env = g.sb.cargo_env();
        // Cargo.lock and the registry cache, once, by the bare cargo.
        run_ok(
            g.sb.command(real_cargo(), std::slice::from_ref(&cargo_env))
                .arg("fetch"),
        );
        let target = g.sb.root().join("cargo-target");
        let decisions = g.state.join("scripts").join("cargo");
        let args = ["build", "-q"];
        // A build from an empty target directory changes the project's
        // parent directory, which is part of the key of the shim's decision
        // cache (a new glob member shows there): a clean build always runs
        // fetch + metadata + the offline build. The cache is removed too, so
        // that holds whatever the layout.
        let trash = g.sb.root().join("trash");
        let reset = || {
            set_aside(&target, &trash);
            rm(&decisions);
        };
        let variants = vec![
            Variant {
                label: "bare cargo".into(),
                reset: Box::new(reset),
                cmd: Box::new(|| {
                    let mut c = g.sb.command(real_cargo(), std::slice::from_ref(&cargo_env));
                    c.args(args);
                    c
                }),
            },
            Variant {
                label: "shim, full supervision".into(),
                reset: Box::new(reset),
                cmd: Box::new(|| {
                    let mut c = g.sb.command("cargo", &[cargo_env.clone(), g.pkgward_env()]);
                    c.args(args);
                    c
                }),
            },
            Variant {
                label: "shim, proxy-only".into(),
                reset: Box::new(reset),
                cmd: Box::new(|| {
                    let mut c =
                        g.sb.command("cargo", &[cargo_env.clone(), proxy_only(&g, sys)]);
                    c.args(args);
                    c
                }),
            },
        ];
        let load_before = loadavg();
        let samples = interleave(&variants, size.rounds);
        let load_after = loadavg();
        rm(&trash);
        assert!(target.join("debug/bench-app").is_file());
        let mut notes = check_records(&g, size.rounds + 1, &["cargo"]);
        let ran = g
            .audit()
            .iter()
            .filter(|r| r["kind"] == "script" && r["ran"] == true)
            .count();
        // The steps of the shim's build, each timed once (after the rounds).
        let step = |what: &str, mut c: Command| {
            let d = crate::common::time(&mut c);
            format!("{what} {:.0} ms", d.as_secs_f64() * 1e3)
        };
        let bare = || g.sb.command(real_cargo(), std::slice::from_ref(&cargo_env));
        let shim = || g.sb.command("cargo", &[cargo_env.clone(), g.pkgward_env()]);
        let steps = [
            step("bare `cargo fetch`", {
                let mut c = bare();
                c.args(["fetch", "-q"]);
                c
            }),
            step("shim `cargo fetch` (full supervision)", {
                let mut c = shim();
                c.args(["fetch", "-q"]);
                c
            }),
            step("bare `cargo fetch --offline`", {
                let mut c = bare();
                c.args(["fetch", "-q", "--offline"]);
                c
            }),
            step("bare `cargo metadata --offline`", {
                let mut c = bare();
                c.args(["metadata", "--offline", "--format-version", "1", "-q"]);
                c
            }),
        ];
        notes.push(format!("single timed steps: {}", steps.join("; ")));
        notes.push(format!(
            "{} approved build scripts per build; {ran} `script` records with `ran: true` over all shim builds",
            approved.len()
        ));
        let labels = variants.iter().map(|v| v.label.clone()).collect();
        drop(variants);
        keep(g);
        Outcome {
            workload: format!(
                "cargo build, {n} crates ({} with a build script){}, empty target dir, registry cache warm",
                approved.len(),
                graph.label
            ),
            labels,
            samples,
            load_before,
            load_after,
            notes,
        }
    }

    // ---- checks and report ---------------------------------------------------

    /// Every shim invocation of the workload was traced by seccomp (full
    /// supervision, at least `traced` of them) or not at all (proxy-only):
    /// the numbers are those of shims that did their work. Returns what the
    /// records say per traced invocation.
    fn check_records(g: &Guarded, traced: usize, tools: &[&str]) -> Vec<String> {
        let audit = g.audit();
        let mut tracers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut kinds: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        let mut invocations = BTreeSet::new();
        for r in &audit {
            let Some(id) = r["invocation_id"].as_str() else {
                continue;
            };
            let kind = r["kind"].as_str().unwrap_or("");
            if kind == "invocation" && tools.contains(&r["tool"].as_str().unwrap_or("")) {
                invocations.insert(id.to_string());
            }
            if kind == "tracer" {
                tracers
                    .entry(id.to_string())
                    .or_default()
                    .insert(r["tracer"].as_str().unwrap_or("").to_string());
            }
            *kinds
                .entry(id.to_string())
                .or_default()
                .entry(kind.to_string())
                .or_default() += 1;
        }
        let seccomp: Vec<&String> = invocations
            .iter()
            .filter(|id| tracers.get(*id).is_some_and(|t| t.contains("seccomp")))
            .collect();
        let proxy_only = invocations
            .iter()
            .filter(|id| {
                tracers
                    .get(*id)
                    .is_some_and(|t| t.len() == 1 && t.contains("proxy-only"))
            })
            .count();
        assert!(
            seccomp.len() >= traced,
            "{} invocations traced by seccomp, expected {traced}: {tracers:?}",
            seccomp.len()
        );
        assert!(
            seccomp.len() + proxy_only == invocations.len(),
            "invocations neither fully traced nor proxy-only: {tracers:?}"
        );
        for id in &seccomp {
            let k = &kinds[*id];
            assert!(k.get("process").copied().unwrap_or(0) >= 1, "{id}: {k:?}");
        }
        let per = |kind: &str| {
            let total: usize = seccomp
                .iter()
                .map(|id| kinds[*id].get(kind).copied().unwrap_or(0))
                .sum();
            total as f64 / seccomp.len().max(1) as f64
        };
        vec![format!(
            "{} invocations traced by seccomp, {proxy_only} proxy-only; per traced invocation: \
             {:.1} `process`, {:.1} `process-exit`, {:.1} `connection`, {:.1} `dns` records",
            seccomp.len(),
            per("process"),
            per("process-exit"),
            per("connection"),
            per("dns"),
        )]
    }

    fn report(out: &[Outcome], size: &Size, load0: &str, wall: Duration) {
        let ver = env!("CARGO_PKG_VERSION");
        println!(
            "supervised bench: pkgward {ver}, {}; {} rounds + 1 warm-up, interleaved and rotating; \
             load average {load0} at the start; bench wall time {:.0} s",
            machine(),
            size.rounds,
            wall.as_secs_f64()
        );
        println!();
        println!(
            "| workload | variant | median | min–max | ratio to bare | paired ratio | vs proxy-only | CPU median | CPU ratio to bare | paired CPU ratio | ≤ 1.05× |"
        );
        println!("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|:-:|");
        let walls = |s: &[Sample]| s.iter().map(|x| x.wall).collect::<Vec<_>>();
        let cpus = |s: &[Sample]| s.iter().map(|x| x.cpu).collect::<Vec<_>>();
        for o in out {
            let bare = stats_ms(&walls(&o.samples[0])).0;
            let bare_cpu = stats_ms(&cpus(&o.samples[0])).0;
            let proxy_only = o
                .labels
                .iter()
                .position(|l| l.contains("proxy-only"))
                .map(|i| stats_ms(&walls(&o.samples[i])).0);
            for (i, label) in o.labels.iter().enumerate() {
                let (med, lo, hi) = stats_ms(&walls(&o.samples[i]));
                let cpu = stats_ms(&cpus(&o.samples[i])).0;
                let ratio = med / bare;
                let ok = if i == 0 {
                    "—"
                } else if ratio <= 1.05 {
                    "yes"
                } else {
                    "**no**"
                };
                let vs_po = match proxy_only {
                    Some(p) if label.contains("full") => format!("{:.3}×", med / p),
                    _ => "—".into(),
                };
                // The median of the per-round ratios: each round runs every
                // variant back to back, so a slow stretch of the machine
                // weighs on both sides of a ratio.
                let paired = |of: fn(&Sample) -> Duration| {
                    let mut r: Vec<f64> = o.samples[i]
                        .iter()
                        .zip(&o.samples[0])
                        .map(|(v, b)| of(v).as_secs_f64() / of(b).as_secs_f64().max(1e-9))
                        .collect();
                    r.sort_by(f64::total_cmp);
                    r.get(r.len() / 2).copied().unwrap_or(f64::NAN)
                };
                println!(
                    "| {} | {label} | {med:.0} ms | {lo:.0}–{hi:.0} ms | {ratio:.3}× | {:.3}× | {vs_po} | {cpu:.0} ms | {:.3}× | {:.3}× | {ok} |",
                    o.workload,
                    paired(|x| x.wall),
                    cpu / bare_cpu,
                    paired(|x| x.cpu),
                );
            }
        }
        println!();
        for o in out {
            println!(
                "- {}: load average {} before, {} after",
                o.workload, o.load_before, o.load_after
            );
            for n in &o.notes {
                println!("  - {n}");
            }
            for (i, label) in o.labels.iter().enumerate() {
                let s: Vec<String> = o.samples[i]
                    .iter()
                    .map(|d| {
                        format!(
                            "{:.0} ({:.0})",
                            d.wall.as_secs_f64() * 1e3,
                            d.cpu.as_secs_f64() * 1e3
                        )
                    })
                    .collect();
                println!("  - {label}: wall (CPU) {} ms", s.join(" "));
            }
        }
    }
}
