//! The tracer's cost per stop: a shell that starts `/bin/true` N times
//! (N exec stops and N exit stops, as a build's compiler and linker runs
//! are), and a `cargo build --offline` of a project with 5 path
//! dependencies that have a build script each; bare and under the seccomp
//! tracer with its records going to a real audit log, interleaved rounds.
//!
//! ```text
//! cargo bench --bench tracer            # BENCH_RUNS=15 rounds of BENCH_EXECS=500
//! ```
//!
//! Per variant: the median wall time of a round, the CPU time of the traced
//! tree (`RUSAGE_CHILDREN`) and of this process (`RUSAGE_SELF`: the
//! supervisor thread, which answers the stops and writes the records; the
//! main thread only waits). Per stop: (traced − bare) / stops. Two shells:
//! `/bin/true` with no arguments, and with 40 arguments of 60 bytes (a
//! compiler's command line is of that size).
//!
//! Without `--bench` (e.g. under `cargo test --all-targets`) it runs one
//! quick round of 20 execs and no build.

#[cfg(target_os = "linux")]
mod common;

fn main() {
    #[cfg(target_os = "linux")]
    linux::run();
    #[cfg(not(target_os = "linux"))]
    eprintln!("tracer bench: Linux only (the tracer it measures is)");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::path::Path;
    use std::process::Command;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant, SystemTime};

    use pkgward::record::LogTarget as Target;
    use pkgward::supervise::linux::records;
    use pkgward::supervise::linux::trace::{self, Net, Tracer};

    use super::common;

    fn self_cpu() -> Duration {
        // SAFETY: getrusage fills a zeroed struct.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pointer to a rusage.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
            return Duration::ZERO;
        }
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }

    #[derive(Clone, Copy)]
    struct Sample {
        wall: Duration,
        tree: Duration,
        own: Duration,
    }

    fn script(n: usize, args: usize) -> Command {
        let arg = "x".repeat(60);
        let args = vec![arg.as_str(); args].join(" ");
        let mut c = Command::new("/bin/sh");
        c.args([
            "-c",
            &format!("i=0; while [ $i -lt {n} ]; do /bin/true {args}; i=$((i+1)); done"),
        ]);
        c
    }

    fn one(mut cmd: Command, traced: Option<&trace::Tracing>) -> Sample {
        let (tree0, own0) = (common::children_cpu(), self_cpu());
        let t = Instant::now();
        let status = match traced {
            None => cmd.status().expect("spawn /bin/sh"),
            Some(tr) => {
                let mut s = trace::spawn(&mut cmd, tr).expect("spawn /bin/sh traced");
                let st = s.wait().expect("wait");
                let _ = s.done.recv();
                st
            }
        };
        let wall = t.elapsed();
        assert!(status.success(), "{status}");
        Sample {
            wall,
            tree: common::children_cpu().saturating_sub(tree0),
            own: self_cpu().saturating_sub(own0),
        }
    }

    /// A project with `n` path dependencies, each with a build script.
    fn project(dir: &Path, n: usize) {
        let w = |p: &Path, t: &str| {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        };
        let mut deps = String::new();
        let mut uses = String::new();
        for i in 0..n {
            let d = dir.join(format!("dep{i}"));
            w(
                &d.join("Cargo.toml"),
                &format!("[package]\nname = \"dep{i}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
            );
            w(
                &d.join("build.rs"),
                "fn main() {\n    println!(\"cargo:rerun-if-changed=build.rs\");\n    \
                 println!(\"cargo:rustc-env=DEP_ANSWER=42\");\n}\n",
            );
            w(
                &d.join("src/lib.rs"),
                &format!(
                    "pub fn v() -> u32 {{ env!(\"DEP_ANSWER\").parse::<u32>().unwrap() + {i} }}\n"
                ),
            );
            deps.push_str(&format!("dep{i} = {{ path = \"dep{i}\" }}\n"));
            uses.push_str(&format!(" + dep{i}::v()"));
        }
        w(
            &dir.join("Cargo.toml"),
            &format!(
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [workspace]\n\n[dependencies]\n{deps}"
            ),
        );
        w(
            &dir.join("src/main.rs"),
            &format!("fn main() {{ println!(\"{{}}\", 0{uses}); }}\n"),
        );
    }

    fn cargo_build(dir: &Path, target: &Path) -> Command {
        let mut c = Command::new("cargo");
        c.args(["build", "--offline", "--quiet"])
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", target)
            .env_remove("RUSTFLAGS")
            .stdout(std::process::Stdio::null());
        c
    }

    fn med_us(v: impl Iterator<Item = Duration>) -> f64 {
        let v: Vec<Duration> = v.collect();
        common::stats_ms(&v).0 * 1e3
    }

    pub fn run() {
        let bench = std::env::args().any(|a| a == "--bench");
        let env = |k: &str, d: usize| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        let (rounds, n) = if bench {
            (env("BENCH_RUNS", 15), env("BENCH_EXECS", 500))
        } else {
            (1, 20)
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let target = Target::new(dir.path().join("audit.jsonl"));
        let log = Arc::new(Mutex::new(Some(target.open().expect("open the audit log"))));
        let tracing = records::tracing(
            true,
            Tracer::Seccomp,
            Net::default(),
            SystemTime::now(),
            "bench",
            log,
        );
        println!(
            "tracer bench: {rounds} rounds of {n} execs, {}; load {}",
            common::machine(),
            common::loadavg()
        );
        // The stops of one run: the shell's own exec and exit, and N of each.
        let stops = (2 * n + 2) as f64;
        for args in [0, 40] {
            let mut bare = Vec::new();
            let mut traced = Vec::new();
            for round in 0..=rounds {
                let order: [bool; 2] = if round % 2 == 0 {
                    [false, true]
                } else {
                    [true, false]
                };
                for t in order {
                    let s = one(script(n, args), t.then_some(&tracing));
                    if round > 0 {
                        if t { &mut traced } else { &mut bare }.push(s);
                    }
                }
            }
            let m = |v: &[Sample], f: fn(&Sample) -> Duration| med_us(v.iter().map(f));
            let (bw, tw) = (m(&bare, |s| s.wall), m(&traced, |s| s.wall));
            let (bt, tt) = (m(&bare, |s| s.tree), m(&traced, |s| s.tree));
            let (bo, to) = (m(&bare, |s| s.own), m(&traced, |s| s.own));
            println!(
                "/bin/true with {args} args: wall bare {:.1} ms, traced {:.1} ms → +{:.1} µs \
                 per stop; tree CPU +{:.1} µs per stop; supervisor CPU {:.1} µs per stop",
                bw / 1e3,
                tw / 1e3,
                (tw - bw) / stops,
                (tt - bt) / stops,
                (to - bo) / stops,
            );
        }
        let records = || {
            std::fs::read_to_string(dir.path().join("audit.jsonl"))
                .map(|t| t.lines().count())
                .unwrap_or(0)
        };
        let lines = records();
        assert!(lines > n, "the tracer recorded {lines} records");
        if !bench {
            return;
        }
        // A cargo build: rustc, the linker, the build scripts.
        let proj = dir.path().join("proj");
        project(&proj, 5);
        let target = dir.path().join("target");
        let (mut bare, mut traced, mut stops) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..=rounds {
            for t in [round % 2 == 1, round % 2 == 0] {
                let _ = std::fs::remove_dir_all(&target);
                let before = records();
                let s = one(cargo_build(&proj, &target), t.then_some(&tracing));
                if round > 0 {
                    if t {
                        traced.push(s);
                        // One record per stop (process, process-exit) but the tracer's own.
                        stops.push(records() - before - 1);
                    } else {
                        bare.push(s);
                    }
                }
            }
        }
        stops.sort_unstable();
        let stops = stops[stops.len() / 2] as f64;
        let m = |v: &[Sample], f: fn(&Sample) -> Duration| med_us(v.iter().map(f));
        let (bw, tw) = (m(&bare, |s| s.wall), m(&traced, |s| s.wall));
        let (bt, tt) = (m(&bare, |s| s.tree), m(&traced, |s| s.tree));
        let (bo, to) = (m(&bare, |s| s.own), m(&traced, |s| s.own));
        println!(
            "cargo build, 5 path dependencies with build scripts ({stops} stops): wall bare \
             {:.1} ms, traced {:.1} ms ({:.3}×); CPU bare {:.1} ms, traced {:.1} ms ({:.3}×); \
             supervisor CPU {:.1} µs per stop",
            bw / 1e3,
            tw / 1e3,
            tw / bw,
            (bt + bo) / 1e3,
            (tt + to) / 1e3,
            (tt + to) / (bt + bo),
            (to - bo) / stops,
        );
    }
}
