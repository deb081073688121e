//! Shim-overhead benchmark: what a pkgward shim adds to one invocation of the
//! tool it guards, in wall time and in peak memory.
//!
//! Run it with `benches/run.sh` (builds the release binary, runs this with
//! `--write-doc`), or by hand:
//!
//! ```text
//! cargo build --release
//! cargo bench --bench overhead                 # print the table
//! cargo bench --bench overhead -- --write-doc  # also rewrite docs/PERFORMANCE.md
//! ```
//!
//! Method (docs/PERFORMANCE.md explains it at length):
//!
//! * a temporary sandbox holds a shim directory (`gem`, `npm`, `bundle`:
//!   symlinks to the pkgward binary), a `real/` directory with the fake real
//!   tools (`gem` = a copy of `/bin/true`), a state directory, a home and the
//!   policy files; every process runs with a cleared environment pointing
//!   only into the sandbox, so the machine's own policy, audit log and caches
//!   play no part (except `/etc/pkgward/policy.toml`, reported if present);
//! * for each tool the bare tool, the shim in `audit` mode and the shim in
//!   `enforce` mode are run interleaved, rotating the order every round, so
//!   drift (frequency scaling, page cache, the growing audit log, other load)
//!   hits all of them alike;
//! * one sample = `spawn` + `wait4` of one process, timed with `Instant`;
//!   the added time is median(shim) − median(bare), with a 95 % bootstrap
//!   interval; the ratio is median(shim) / median(bare);
//! * peak RSS comes from `wait4`'s `ru_maxrss` (the child's peak, which on
//!   Linux is also at least the peak of whatever the child waited for and of
//!   the spawning process' memory at exec time) and, as a cross-check, from
//!   the shim's own `VmHWM` read by the real tool (`bundle`, a shell script)
//!   while the shim waits for it;
//! * afterwards the audit log is read back: every shim run must have written
//!   its invocation and exit lines, in the intended mode, with no policy error.
//!
//! Knobs: `--write-doc` (or `BENCH_WRITE_DOC=1`), `--check` (exit 1 when a
//! goal is missed), `--quick` (few runs; also what happens when this target
//! is run without cargo's `--bench` flag, e.g. by `cargo test --all-targets`),
//! `BENCH_RUNS` / `BENCH_NPM_RUNS` (runs per variant), `PKGWARD_BIN` (the
//! binary to measure), `BENCH_FLOOR_BIN` (the floor wrapper, built like that
//! binary by `installers/build-release.sh --floor`; default: this bench binary
//! with `--exec-wrapper`), `PKGWARD_REPO` (where `docs/PERFORMANCE.md` is).

// Under a `harness = true` target (cargo's default for benches/*.rs) `main`
// is unused; keep that warning-free until the `[[bench]] harness = false`
// section is in Cargo.toml.
#![cfg_attr(test, allow(dead_code))]

fn main() {
    #[cfg(unix)]
    unix::main();
    #[cfg(not(unix))]
    eprintln!("overhead bench: Unix only for now (it measures with wait4 and /proc)");
}

#[cfg(unix)]
mod unix {
    use std::ffi::CStr;
    use std::fmt::Write as _;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    const BEGIN: &str = "<!-- overhead:begin -->";
    const END: &str = "<!-- overhead:end -->";
    /// Goal: at most this much wall time added per invocation (median).
    const GOAL_ADDED_MS: f64 = 1.0;
    /// Goal: peak RSS of the shim process, KiB (8 MiB).
    const GOAL_RSS_KB: i64 = 8 * 1024;

    const MODES: [&str; 2] = ["audit", "enforce"];
    /// The pseudo-mode of the minimal-wrapper reference row.
    const WRAPPER: &str = "floor: minimal wrapper";

    // ---------------------------------------------------------------------------
    // Configuration

    struct Opts {
        write_doc: bool,
        check: bool,
        quick: bool,
        runs: usize,
        npm_runs: usize,
        /// `BENCH_FLOOR_BIN`: the floor wrapper linked like the measured
        /// binary (`installers/build-release.sh --floor`); else this bench
        /// binary's own `--exec-wrapper`.
        floor: Option<PathBuf>,
    }

    fn opts() -> Opts {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let has = |f: &str| args.iter().any(|a| a == f);
        let env_on = |k: &str| {
            std::env::var(k)
                .map(|v| !v.is_empty() && v != "0")
                .unwrap_or(false)
        };
        // cargo bench passes --bench; anything else (cargo test --all-targets, a
        // bare run) gets the quick smoke run unless asked otherwise.
        let quick = has("--quick") || !(has("--bench") || has("--full"));
        let num = |k: &str, d: usize| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|&n: &usize| n > 0)
                .unwrap_or(d)
        };
        Opts {
            write_doc: !quick && (has("--write-doc") || env_on("BENCH_WRITE_DOC")),
            check: has("--check"),
            quick,
            runs: num("BENCH_RUNS", if quick { 30 } else { 1000 }),
            npm_runs: num("BENCH_NPM_RUNS", if quick { 2 } else { 40 }),
            floor: std::env::var_os("BENCH_FLOOR_BIN")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .inspect(|p| {
                    if !p.is_file() {
                        die(&format!("BENCH_FLOOR_BIN={} is not a file", p.display()));
                    }
                }),
        }
    }

    fn repo_dir() -> PathBuf {
        std::env::var_os("PKGWARD_REPO")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
    }

    /// The binary to measure: `PKGWARD_BIN`, else `release/pkgward` in
    /// `CARGO_TARGET_DIR` or the repo's `target/`, else the one cargo built for
    /// this bench target.
    fn pkgward_bin() -> PathBuf {
        let mut tried = Vec::new();
        if let Some(p) = std::env::var_os("PKGWARD_BIN").filter(|v| !v.is_empty()) {
            let p = PathBuf::from(p);
            if p.is_file() {
                return p;
            }
            die(&format!("PKGWARD_BIN={} is not a file", p.display()));
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .filter(|v| !v.is_empty())
            .map(|t| {
                let t = PathBuf::from(t);
                if t.is_absolute() {
                    t
                } else {
                    repo_dir().join(t)
                }
            })
            .unwrap_or_else(|| repo_dir().join("target"));
        let release = target.join("release").join("pkgward");
        if release.is_file() {
            return release;
        }
        tried.push(release);
        if let Some(p) = option_env!("CARGO_BIN_EXE_pkgward").map(PathBuf::from) {
            if p.is_file() {
                return p;
            }
            tried.push(p);
        }
        die(&format!(
            "no pkgward binary (looked at {}).\n\
             Build it first: `cargo build --release` (or run benches/run.sh, which does), \
             or point PKGWARD_BIN at one.",
            tried
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }

    fn die(msg: &str) -> ! {
        eprintln!("overhead bench: {msg}");
        std::process::exit(2)
    }

    // ---------------------------------------------------------------------------
    // The sandbox

    struct Sandbox {
        _tmp: tempfile::TempDir,
        root: PathBuf,
        shims: PathBuf,
        real: PathBuf,
        state: PathBuf,
        work: PathBuf,
    }

    impl Sandbox {
        fn new(bin: &Path) -> Sandbox {
            let tmp = tempfile::Builder::new()
                .prefix("pkgward-bench-")
                .tempdir()
                .unwrap_or_else(|e| die(&format!("cannot create a temp dir: {e}")));
            let root = tmp.path().to_path_buf();
            let d = |n: &str| {
                let p = root.join(n);
                fs::create_dir_all(&p).unwrap();
                p
            };
            let (shims, real, state, work) = (d("shims"), d("real"), d("state"), d("work/project"));
            for n in ["home", "config", "data", "xdg-state", "cache", "tmp"] {
                d(n);
            }
            for name in ["gem", "npm", "bundle"] {
                symlink(bin, shims.join(name)).unwrap();
            }
            // The trivial real tool: /bin/true under a name pkgward shims.
            let truebin = ["/bin/true", "/usr/bin/true"]
                .iter()
                .map(Path::new)
                .find(|p| p.is_file())
                .unwrap_or_else(|| die("no /bin/true"));
            fs::copy(truebin, real.join("gem")).unwrap();
            // The memory probe: reports its parent's (the shim's) VmHWM/VmRSS.
            let probe = real.join("bundle");
            fs::write(
                &probe,
                "#!/bin/sh\nexec grep -E '^(VmHWM|VmRSS):' /proc/$PPID/status\n",
            )
            .unwrap();
            for p in [real.join("gem"), probe] {
                fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            }
            for mode in MODES {
                // A small but complete policy: parsed, validated and merged on
                // every invocation like a real one.
                fs::write(
                    root.join(format!("policy-{mode}.toml")),
                    format!(
                        "mode = \"{mode}\"\n\n[registries]\nnpm = [\"builtin\"]\npypi = [\"builtin\"]\n\
                         rubygems = [\"builtin\"]\n\n[scripts]\ndefault = \"deny\"\n\
                         allow = [\"npm:esbuild\", \"pypi:numpy\"]\n"
                    ),
                )
                .unwrap();
            }
            Sandbox {
                _tmp: tmp,
                root,
                shims,
                real,
                state,
                work,
            }
        }

        /// A command with a cleared environment pointing into the sandbox.
        /// `mode` selects the policy file (None: no PKGWARD_POLICY, for bare runs
        /// — which ignore it anyway, but the environments stay the same size).
        fn command(&self, program: &Path, args: &[&str], mode: &str) -> Command {
            let mut c = Command::new(program);
            c.args(args)
                .current_dir(&self.work)
                .env_clear()
                .env(
                    "PATH",
                    std::env::join_paths([
                        self.shims.as_path(),
                        self.real.as_path(),
                        Path::new("/usr/local/bin"),
                        Path::new("/usr/bin"),
                        Path::new("/bin"),
                    ])
                    .unwrap(),
                )
                .env("HOME", self.root.join("home"))
                // A login shell always has these; without them the shim
                // falls back to the password database (NSS) for the user.
                .env("USER", "bench")
                .env("LOGNAME", "bench")
                .env("XDG_CONFIG_HOME", self.root.join("config"))
                .env("XDG_DATA_HOME", self.root.join("data"))
                .env("XDG_STATE_HOME", self.root.join("xdg-state"))
                .env("XDG_CACHE_HOME", self.root.join("cache"))
                .env("TMPDIR", self.root.join("tmp"))
                .env("PKGWARD_STATE_DIR", &self.state)
                .env("PKGWARD_SHIM_DIR", &self.shims)
                .env(
                    "PKGWARD_POLICY",
                    self.root.join(format!("policy-{mode}.toml")),
                )
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            c
        }

        fn audit_log(&self) -> PathBuf {
            self.state.join("audit.jsonl")
        }
    }

    // ---------------------------------------------------------------------------
    // Measuring

    #[derive(Clone, Copy)]
    struct Sample {
        wall_ns: u64,
        /// ru_maxrss of the waited-for process, KiB.
        maxrss_kb: i64,
        /// user + system CPU of the process and the children it waited for, µs.
        cpu_us: i64,
    }

    /// `time_t`, `suseconds_t` and `c_long` are `i64` here but narrower on
    /// 32-bit targets.
    fn wide(x: impl Into<i64>) -> i64 {
        x.into()
    }

    /// Spawns the command and waits for it with `wait4`, which hands back the
    /// child's resource usage along with its status.
    fn run_once(cmd: &mut Command, what: &str) -> Sample {
        let t0 = Instant::now();
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| die(&format!("cannot start {what}: {e}")));
        let pid = child.id() as libc::pid_t;
        let mut status: libc::c_int = 0;
        // SAFETY: zeroed rusage is a valid value for wait4 to fill.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: valid pointers; `pid` is our own unreaped child.
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
            if r == pid {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                die(&format!("wait4 for {what}: {err}"));
            }
        }
        let wall = t0.elapsed();
        // Reaped by wait4: the Child handle must not be waited on again.
        drop(child);
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            die(&format!(
                "{what} failed (wait status {status:#x}); rerun it by hand in the sandbox to see why"
            ));
        }
        let tv = |t: libc::timeval| wide(t.tv_sec) * 1_000_000 + wide(t.tv_usec);
        Sample {
            wall_ns: wall.as_nanos() as u64,
            maxrss_kb: wide(ru.ru_maxrss),
            cpu_us: tv(ru.ru_utime) + tv(ru.ru_stime),
        }
    }

    struct Variant {
        label: String,
        /// Shim mode, or None for the bare tool.
        mode: Option<&'static str>,
        cmd: Command,
        samples: Vec<Sample>,
    }

    /// Runs every variant `warmup` times, then `runs` rounds of one run each,
    /// rotating which variant goes first in each round.
    fn measure(variants: &mut [Variant], warmup: usize, runs: usize, what: &str) {
        let k = variants.len();
        for v in variants.iter_mut() {
            for _ in 0..warmup {
                let label = v.label.clone();
                run_once(&mut v.cmd, &label);
            }
        }
        let t0 = Instant::now();
        for round in 0..runs {
            for j in 0..k {
                let v = &mut variants[(round + j) % k];
                let s = run_once(&mut v.cmd, &v.label);
                v.samples.push(s);
            }
            if (round + 1) % (runs / 4).max(1) == 0 {
                eprintln!(
                    "  {what}: {}/{runs} rounds ({:.1} s)",
                    round + 1,
                    t0.elapsed().as_secs_f64()
                );
            }
        }
    }

    // ---------------------------------------------------------------------------
    // Statistics

    fn sorted_ms(samples: &[Sample]) -> Vec<f64> {
        let mut v: Vec<f64> = samples.iter().map(|s| s.wall_ns as f64 / 1e6).collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// Quantile of sorted data, linear interpolation between closest ranks.
    fn quantile(sorted: &[f64], q: f64) -> f64 {
        if sorted.is_empty() {
            return f64::NAN;
        }
        let pos = q * (sorted.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
    }

    fn median_of(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        quantile(&v, 0.5)
    }

    /// xorshift64*: enough randomness for resampling, no dependency.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
        }
    }

    /// 95 % percentile-bootstrap interval of median(b) − median(a).
    fn bootstrap_diff(a: &[f64], b: &[f64], rounds: usize) -> (f64, f64) {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut diffs = Vec::with_capacity(rounds);
        let mut ra = vec![0.0; a.len()];
        let mut rb = vec![0.0; b.len()];
        for _ in 0..rounds {
            for x in ra.iter_mut() {
                *x = a[rng.below(a.len())];
            }
            for x in rb.iter_mut() {
                *x = b[rng.below(b.len())];
            }
            diffs.push(median_of(rb.clone()) - median_of(ra.clone()));
        }
        diffs.sort_by(f64::total_cmp);
        (quantile(&diffs, 0.025), quantile(&diffs, 0.975))
    }

    struct Row {
        tool: String,
        mode: &'static str,
        runs: usize,
        bare_med: f64,
        bare_p90: f64,
        shim_med: f64,
        shim_p90: f64,
        added: f64,
        added_ci: (f64, f64),
        ratio: f64,
        cpu_added_ms: f64,
        bare_rss_kb: i64,
        shim_rss_kb: i64,
        /// Whether the shim's ru_maxrss is the shim's own peak (not the tool's).
        rss_is_shim: bool,
    }

    fn rows_for(tool: &str, variants: &[Variant], rss_is_shim: bool) -> Vec<Row> {
        let bare = variants.iter().find(|v| v.mode.is_none()).unwrap();
        let b = sorted_ms(&bare.samples);
        let b_cpu = median_of(bare.samples.iter().map(|s| s.cpu_us as f64 / 1e3).collect());
        let b_rss = bare.samples.iter().map(|s| s.maxrss_kb).max().unwrap_or(0);
        variants
            .iter()
            .filter_map(|v| v.mode.map(|m| (v, m)))
            .map(|(v, mode)| {
                let s = sorted_ms(&v.samples);
                let (bm, sm) = (quantile(&b, 0.5), quantile(&s, 0.5));
                Row {
                    tool: tool.to_string(),
                    mode,
                    runs: v.samples.len(),
                    bare_med: bm,
                    bare_p90: quantile(&b, 0.9),
                    shim_med: sm,
                    shim_p90: quantile(&s, 0.9),
                    added: sm - bm,
                    added_ci: bootstrap_diff(&b, &s, 1000),
                    ratio: sm / bm,
                    cpu_added_ms: median_of(
                        v.samples.iter().map(|s| s.cpu_us as f64 / 1e3).collect(),
                    ) - b_cpu,
                    bare_rss_kb: b_rss,
                    shim_rss_kb: v.samples.iter().map(|s| s.maxrss_kb).max().unwrap_or(0),
                    rss_is_shim,
                }
            })
            .collect()
    }

    // ---------------------------------------------------------------------------
    // Cross-checks

    /// The shim's own VmHWM/VmRSS (KiB) as read by the real tool while the shim
    /// waits for it: the most over `n` runs.
    fn probe_hwm(sb: &Sandbox, mode: &'static str, n: usize) -> (i64, i64) {
        let (mut hwm, mut rss) = (0, 0);
        for _ in 0..n {
            let mut c = sb.command(&sb.shims.join("bundle"), &[], mode);
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
            let out = c.output().unwrap_or_else(|e| die(&format!("probe: {e}")));
            if !out.status.success() {
                die(&format!(
                    "the memory probe failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let kb = |l: &str| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|n| n.parse::<i64>().ok())
                        .unwrap_or(0)
                };
                if line.starts_with("VmHWM:") {
                    hwm = hwm.max(kb(line));
                } else if line.starts_with("VmRSS:") {
                    rss = rss.max(kb(line));
                }
            }
        }
        (hwm, rss)
    }

    struct LogCheck {
        invocations: usize,
        exits: usize,
        bytes: u64,
        /// Median of the exit records' `duration_ms` (shim-internal time, from the
        /// start of the shim logic to the exit record) per (tool, mode).
        internal_ms: Vec<(String, String, f64)>,
        problems: Vec<String>,
        layers: Vec<String>,
    }

    /// Reads the audit log back and checks that every shim run recorded itself.
    fn check_log(sb: &Sandbox, expected: &[(String, &'static str, usize)]) -> LogCheck {
        let path = sb.audit_log();
        let text = fs::read_to_string(&path).unwrap_or_else(|e| {
            die(&format!(
                "cannot read the audit log {}: {e}",
                path.display()
            ))
        });
        let mut c = LogCheck {
            invocations: 0,
            exits: 0,
            bytes: text.len() as u64,
            internal_ms: Vec::new(),
            problems: Vec::new(),
            layers: Vec::new(),
        };
        let mut by_id: std::collections::HashMap<String, (String, String)> = Default::default();
        let mut counts: std::collections::BTreeMap<(String, String), usize> = Default::default();
        let mut durations: std::collections::BTreeMap<(String, String), Vec<f64>> =
            Default::default();
        for (i, line) in text.lines().enumerate() {
            let v: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    c.problems.push(format!("line {}: not JSON: {e}", i + 1));
                    continue;
                }
            };
            let id = v["invocation_id"].as_str().unwrap_or("").to_string();
            match v["kind"].as_str() {
                Some("invocation") => {
                    c.invocations += 1;
                    let tool = v["tool"].as_str().unwrap_or("?").to_string();
                    let mode = v["policy"]["mode"].as_str().unwrap_or("?").to_string();
                    let errs = v["policy"]["errors"].as_array().map_or(0, |a| a.len());
                    if errs > 0 {
                        c.problems
                            .push(format!("line {}: {errs} policy error(s)", i + 1));
                    }
                    if v["real_tool"]["sha256"].as_str().is_none() {
                        c.problems
                            .push(format!("line {}: no real tool sha256", i + 1));
                    }
                    if c.layers.is_empty() {
                        if let Some(src) = v["policy"]["sources"].as_array() {
                            c.layers = src
                                .iter()
                                .map(|s| s["layer"].as_str().unwrap_or("?").to_string())
                                .collect();
                        }
                    }
                    *counts.entry((tool.clone(), mode.clone())).or_default() += 1;
                    by_id.insert(id, (tool, mode));
                }
                Some("exit") => {
                    c.exits += 1;
                    if v["ran"].as_bool() != Some(true) || v["exit_code"].as_i64() != Some(0) {
                        c.problems.push(format!(
                            "line {}: exit record says it did not run cleanly",
                            i + 1
                        ));
                    }
                    match by_id.get(&id) {
                        Some(key) => {
                            if let Some(d) = v["duration_ms"].as_f64() {
                                durations.entry(key.clone()).or_default().push(d);
                            }
                        }
                        None => c
                            .problems
                            .push(format!("line {}: exit without invocation", i + 1)),
                    }
                }
                // What ran under the tool (npm starts a shell and node), the
                // connections and scripts of an invocation: part of it.
                Some(
                    "process" | "process-exit" | "tracer" | "dns" | "connection" | "script"
                    | "file-written" | "watch-truncated",
                ) => {}
                other => c
                    .problems
                    .push(format!("line {}: unknown kind {other:?}", i + 1)),
            }
        }
        for (tool, mode, n) in expected {
            let got = counts
                .get(&(tool.clone(), mode.to_string()))
                .copied()
                .unwrap_or(0);
            if got != *n {
                c.problems.push(format!(
                    "{tool} in {mode} mode: {got} invocation records, expected {n}"
                ));
            }
        }
        if c.invocations != c.exits {
            c.problems.push(format!(
                "{} invocation records but {} exit records",
                c.invocations, c.exits
            ));
        }
        c.internal_ms = durations
            .into_iter()
            .map(|((t, m), d)| (t, m, median_of(d)))
            .collect();
        c
    }

    // ---------------------------------------------------------------------------
    // The machine

    fn utc_date() -> String {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs() as i64;
        // Howard Hinnant's civil_from_days.
        let z = secs.div_euclid(86_400) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!("{y:04}-{m:02}-{d:02}")
    }

    fn uname() -> String {
        // SAFETY: uname fills a zeroed utsname with NUL-terminated strings.
        unsafe {
            let mut u: libc::utsname = std::mem::zeroed();
            if libc::uname(&mut u) != 0 {
                return "unknown kernel".into();
            }
            let s = |f: &[libc::c_char]| CStr::from_ptr(f.as_ptr()).to_string_lossy().into_owned();
            format!("{} {} {}", s(&u.sysname), s(&u.release), s(&u.machine))
        }
    }

    fn cpu_model() -> String {
        fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into())
    }

    fn command_line(program: &str, args: &[&str], dir: Option<&Path>) -> Option<String> {
        let mut c = Command::new(program);
        c.args(args).stdin(Stdio::null()).stderr(Stdio::null());
        if let Some(d) = dir {
            c.current_dir(d);
        }
        let out = c.output().ok()?;
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !s.is_empty()).then_some(s)
    }

    fn self_maxrss_kb() -> i64 {
        // SAFETY: getrusage fills a zeroed rusage.
        unsafe {
            let mut ru: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut ru);
            wide(ru.ru_maxrss)
        }
    }

    // ---------------------------------------------------------------------------
    // Output

    fn fmt_ms(x: f64) -> String {
        format!("{x:.3}")
    }

    fn mib(kb: i64) -> String {
        format!("{:.1} MiB", kb as f64 / 1024.0)
    }

    struct Report {
        rows: Vec<Row>,
        probe: Vec<(&'static str, i64, i64)>,
        log: LogCheck,
        /// ru_maxrss of the benchmark process before the first sample / at the end.
        bench_rss_kb: (i64, i64),
        npm_note: Option<String>,
        header: String,
        /// What the floor row ran.
        floor: String,
    }

    fn is_ref(r: &Row) -> bool {
        r.mode == WRAPPER
    }

    impl Report {
        fn goal_added(r: &Row) -> bool {
            r.added <= GOAL_ADDED_MS
        }
        fn goal_rss(&self, r: &Row) -> bool {
            self.shim_rss(r) <= GOAL_RSS_KB
        }
        /// The shim's own peak: ru_maxrss where that is the shim's, else the
        /// probe's VmHWM for the mode.
        fn shim_rss(&self, r: &Row) -> i64 {
            let probed = self
                .probe
                .iter()
                .find(|(m, _, _)| *m == r.mode)
                .map_or(0, |p| p.1);
            if r.rss_is_shim {
                r.shim_rss_kb.max(probed)
            } else {
                probed
            }
        }
        fn all_met(&self) -> bool {
            self.rows
                .iter()
                .filter(|r| !is_ref(r))
                .all(|r| Self::goal_added(r) && self.goal_rss(r))
                && self.log.problems.is_empty()
        }

        fn markdown(&self) -> String {
            let mut s = String::new();
            let _ = writeln!(s, "{}\n", self.header);
            s.push_str(
                "| tool | through | runs | bare median | bare p90 | through median | through p90 \
                 | added (median, 95 % CI) | ratio | CPU added | peak RSS | ≤ 1 ms | ≤ 8 MiB |\n\
                 |---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|:-:|\n",
            );
            for r in &self.rows {
                let ok = |b: bool| {
                    if is_ref(r) {
                        "—"
                    } else if b {
                        "yes"
                    } else {
                        "**no**"
                    }
                };
                let through = if is_ref(r) {
                    format!("*{}*", r.mode)
                } else {
                    format!("shim, {}", r.mode)
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} ms | {} ms | {} ms | {} ms | **{} ms** [{}, {}] | {:.2}× | {} ms | {} | {} | {} |",
                    r.tool,
                    through,
                    r.runs,
                    fmt_ms(r.bare_med),
                    fmt_ms(r.bare_p90),
                    fmt_ms(r.shim_med),
                    fmt_ms(r.shim_p90),
                    fmt_ms(r.added),
                    fmt_ms(r.added_ci.0),
                    fmt_ms(r.added_ci.1),
                    r.ratio,
                    fmt_ms(r.cpu_added_ms),
                    mib(self.shim_rss(r)),
                    ok(Self::goal_added(r)),
                    ok(self.goal_rss(r)),
                );
            }
            s.push('\n');
            // Split the trivial tool's added time into floor + pkgward's own work.
            let floor = self.rows.iter().find(|r| is_ref(r));
            if let Some(f) = floor {
                let parts: Vec<String> = self
                    .rows
                    .iter()
                    .filter(|r| !is_ref(r) && r.tool == f.tool)
                    .map(|r| {
                        format!(
                            "{}: {} ms = {} ms floor + {} ms pkgward",
                            r.mode,
                            fmt_ms(r.added),
                            fmt_ms(f.added),
                            fmt_ms(r.added - f.added)
                        )
                    })
                    .collect();
                let _ = writeln!(
                    s,
                    "Split of the added time for `{}` — the floor is a do-nothing Rust wrapper \
                     (spawn the tool with `std::process::Command`, wait, exit; {}), i.e. the cost \
                     of one more process in the chain; the rest is pkgward's own work: {}.\n",
                    f.tool,
                    self.floor,
                    parts.join("; ")
                );
            }
            s.push_str("Peak memory:\n\n");
            for r in &self.rows {
                let _ = writeln!(
                    s,
                    "- {} / {}: `ru_maxrss` bare {} KiB, through {} KiB{}",
                    r.tool,
                    r.mode,
                    r.bare_rss_kb,
                    r.shim_rss_kb,
                    if r.rss_is_shim {
                        ""
                    } else {
                        " (the real tool's own peak dominates; the shim's is its VmHWM below)"
                    }
                );
            }
            for (mode, hwm, rss) in &self.probe {
                let _ = writeln!(
                    s,
                    "- the shim's own VmHWM, read by the real tool while the shim waits for it \
                     ({mode}): {hwm} KiB (VmRSS {rss} KiB)"
                );
            }
            let _ = writeln!(
                s,
                "- the benchmark process: {} KiB before the first sample, {} KiB at the end \
                 (`ru_maxrss` of a child it spawns is at least its size at that moment: the child \
                 starts as a vfork of it)\n",
                self.bench_rss_kb.0, self.bench_rss_kb.1
            );
            let l = &self.log;
            let _ = writeln!(
                s,
                "Audit log check: {} invocation + {} exit records ({:.0} KiB by the end), policy \
                 layers used: {}; {}.",
                l.invocations,
                l.exits,
                l.bytes as f64 / 1024.0,
                if l.layers.is_empty() {
                    "none".to_string()
                } else {
                    l.layers.join(" + ")
                },
                if l.problems.is_empty() {
                    "every shim run recorded itself, ran the tool, exited 0, no policy error"
                        .to_string()
                } else {
                    format!("**problems**: {}", l.problems.join("; "))
                }
            );
            let internal: Vec<String> = l
                .internal_ms
                .iter()
                .filter(|(t, _, _)| t != "bundle")
                .map(|(t, m, d)| format!("{t}/{m} {d:.3} ms"))
                .collect();
            if !internal.is_empty() {
                let _ = writeln!(
                    s,
                    "Shim-internal time (median `duration_ms` of the exit records: from the start \
                     of the shim logic, after process start-up, to the exit record, real tool \
                     included): {}.",
                    internal.join(", ")
                );
            }
            if let Some(n) = &self.npm_note {
                let _ = writeln!(s, "\n{n}");
            }
            let _ = writeln!(
                s,
                "\nVerdict: {}",
                if self.all_met() {
                    "all goals met."
                } else {
                    "**at least one goal missed** (see the table)."
                }
            );
            s
        }
    }

    fn write_doc(block: &str) {
        let path = repo_dir().join("docs").join("PERFORMANCE.md");
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| die(&format!("--write-doc: cannot read {}: {e}", path.display())));
        let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
            die(&format!(
                "--write-doc: {} lacks the markers {BEGIN} … {END}",
                path.display()
            ))
        };
        if e < b {
            die(&format!(
                "--write-doc: markers out of order in {}",
                path.display()
            ));
        }
        let new = format!(
            "{}{BEGIN}\n{}\n{END}{}",
            &text[..b],
            block.trim_end(),
            &text[e + END.len()..]
        );
        fs::write(&path, new).unwrap_or_else(|e| {
            die(&format!(
                "--write-doc: cannot write {}: {e}",
                path.display()
            ))
        });
        eprintln!("wrote the results into {}", path.display());
    }

    // ---------------------------------------------------------------------------

    /// `overhead --exec-wrapper PROGRAM ARGS…`: the floor any shim pays — a
    /// process that only spawns the real tool (std's `Command`, like pkgward) and
    /// waits for it. Measured next to the shim to split the added time into
    /// "one more process in the chain" and "pkgward's own work".
    fn exec_wrapper(args: &[String]) -> ! {
        let Some((program, rest)) = args.split_first() else {
            die("--exec-wrapper needs a program")
        };
        let status = Command::new(program)
            .args(rest)
            .status()
            .unwrap_or_else(|e| die(&format!("--exec-wrapper: cannot start {program}: {e}")));
        std::process::exit(status.code().unwrap_or(1))
    }

    fn loadavg() -> String {
        fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| "?".into())
    }

    pub fn main() {
        let argv: Vec<String> = std::env::args().collect();
        if argv.get(1).map(String::as_str) == Some("--exec-wrapper") {
            exec_wrapper(&argv[2..]);
        }
        let o = opts();
        let load_before = loadavg();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        if let Some(l1) = load_before
            .split_whitespace()
            .next()
            .and_then(|l| l.parse::<f64>().ok())
        {
            if l1 > 0.5 * cpus as f64 {
                eprintln!(
                    "warning: the machine is busy (load average {load_before}); \
                     the numbers will be inflated and noisy"
                );
            }
        }
        let bin = pkgward_bin();
        let started = Instant::now();
        let sb = Sandbox::new(&bin);
        eprintln!(
            "overhead bench: {} ({} runs per variant, npm {}){}",
            bin.display(),
            o.runs,
            o.npm_runs,
            if o.quick { ", quick smoke run" } else { "" }
        );
        if Path::new("/etc/pkgward/policy.toml").exists() {
            eprintln!("note: /etc/pkgward/policy.toml exists and is part of every shim run");
        }

        let mut expected: Vec<(String, &'static str, usize)> = Vec::new();
        let mut rows = Vec::new();

        // 1. The trivial tool: /bin/true named `gem`.
        let warm = if o.quick { 3 } else { 20 };
        let bench_rss_before = self_maxrss_kb();
        let me = std::env::current_exe().unwrap_or_else(|e| die(&format!("current_exe: {e}")));
        let real_gem = sb.real.join("gem");
        let mut gem: Vec<Variant> = vec![
            Variant {
                label: "bare gem (/bin/true)".into(),
                mode: None,
                cmd: sb.command(&real_gem, &[], "audit"),
                samples: Vec::new(),
            },
            Variant {
                label: "minimal wrapper → gem".into(),
                mode: Some(WRAPPER),
                cmd: match &o.floor {
                    Some(floor) => sb.command(floor, &[&real_gem.to_string_lossy()], "audit"),
                    None => sb.command(
                        &me,
                        &["--exec-wrapper", &real_gem.to_string_lossy()],
                        "audit",
                    ),
                },
                samples: Vec::new(),
            },
        ];
        gem.extend(MODES.iter().map(|&m| Variant {
            label: format!("gem shim ({m})"),
            mode: Some(m),
            cmd: sb.command(&sb.shims.join("gem"), &[], m),
            samples: Vec::new(),
        }));
        measure(&mut gem, warm, o.runs, "gem (/bin/true)");
        for m in MODES {
            expected.push(("gem".into(), m, warm + o.runs));
        }
        rows.extend(rows_for("gem → /bin/true", &gem, true));
        drop(gem);

        // 2. npm --version, the real thing.
        let npm = ["/usr/bin/npm", "/usr/local/bin/npm"]
            .iter()
            .map(Path::new)
            .find(|p| p.exists());
        let npm_note = if let Some(npm) = npm {
            let warm = if o.quick { 1 } else { 3 };
            let mut v: Vec<Variant> = std::iter::once(Variant {
                label: format!("bare {} --version", npm.display()),
                mode: None,
                cmd: sb.command(npm, &["--version"], "audit"),
                samples: Vec::new(),
            })
            .chain(MODES.iter().map(|&m| Variant {
                label: format!("npm shim ({m}) --version"),
                mode: Some(m),
                cmd: sb.command(&sb.shims.join("npm"), &["--version"], m),
                samples: Vec::new(),
            }))
            .collect();
            measure(&mut v, warm, o.npm_runs, "npm --version");
            for m in MODES {
                expected.push(("npm".into(), m, warm + o.npm_runs));
            }
            rows.extend(rows_for("npm --version", &v, false));
            let node = command_line("node", &["--version"], None).unwrap_or_else(|| "?".into());
            let npmv = command_line(&npm.display().to_string(), &["--version"], None)
                .unwrap_or_else(|| "?".into());
            Some(format!(
                "npm {npmv} on node {node} ({}). Its run-to-run spread is several ms, so its \
                 `added` is the noisy confirmation; the `/bin/true` rows are the precise measure.",
                npm.display()
            ))
        } else {
            eprintln!("note: no npm found; skipping the npm rows");
            Some("npm is not installed: its rows were skipped.".into())
        };

        // 3. Memory probe and the audit log.
        let probe_n = if o.quick { 2 } else { 10 };
        let probe: Vec<(&'static str, i64, i64)> = MODES
            .iter()
            .map(|&m| {
                let (h, r) = probe_hwm(&sb, m, probe_n);
                (m, h, r)
            })
            .collect();
        for m in MODES {
            expected.push(("bundle".into(), m, probe_n));
        }
        let log = check_log(&sb, &expected);

        // PKGWARD_COMMIT: what the measured binary was built from, when that
        // is not the work tree (e.g. a clean export of a commit).
        let commit = std::env::var("PKGWARD_COMMIT")
            .ok()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| {
                command_line("git", &["rev-parse", "--short", "HEAD"], Some(&repo_dir()))
                    .map(|c| {
                        let dirty = command_line(
                            "git",
                            &["status", "--porcelain", "--untracked-files=no"],
                            Some(&repo_dir()),
                        )
                        .is_some();
                        format!("commit {c}{}", if dirty { " + local changes" } else { "" })
                    })
                    .unwrap_or_else(|| "no commit yet".into())
            });
        // Through a link named `pkgward`: the binary dispatches on its name.
        let cli = sb.root.join("pkgward");
        let version = symlink(&bin, &cli)
            .ok()
            .and_then(|()| command_line(&cli.display().to_string(), &["--version"], None))
            .unwrap_or_else(|| "pkgward ?".into());
        let header = format!(
            "Measured {} (UTC) by `benches/overhead.rs`{} — {version} ({commit}), binary `{}` ({:.1} MiB); \
             machine: {cpus} CPUs ({}), {}; load average {load_before} before, {} after. \
             Bench wall time {:.0} s.",
            utc_date(),
            if o.quick {
                " in **quick mode** (too few runs to trust)"
            } else {
                ""
            },
            std::env::var("PKGWARD_BIN_LABEL")
                .ok()
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| bin
                    .strip_prefix(repo_dir())
                    .unwrap_or(&bin)
                    .display()
                    .to_string()),
            fs::metadata(&bin).map_or(0.0, |m| m.len() as f64 / 1048576.0),
            cpu_model(),
            uname(),
            loadavg(),
            started.elapsed().as_secs_f64(),
        );
        let report = Report {
            rows,
            probe,
            log,
            bench_rss_kb: (bench_rss_before, self_maxrss_kb()),
            npm_note,
            header,
            floor: match &o.floor {
                Some(p) => format!(
                    "`{}`, built like the measured binary (`installers/build-release.sh --floor`)",
                    p.file_name().unwrap_or_default().to_string_lossy()
                ),
                None => "this benchmark binary with `--exec-wrapper`".into(),
            },
        };
        let md = report.markdown();
        println!("{md}");
        if o.write_doc {
            write_doc(&md);
        }
        if !report.log.problems.is_empty() {
            die("the audit log check failed (see above)");
        }
        if o.check && !report.all_met() {
            std::process::exit(1);
        }
    }
}
