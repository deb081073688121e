//! Shared by the end-to-end benchmarks that time whole invocations of real
//! tools (`benches/supervised.rs`): interleaved, rotating rounds of
//! variants, their statistics, and what to say about the machine.

// Each bench binary uses only part of this module.
#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

/// One way of running a workload.
pub struct Variant<'a> {
    pub label: String,
    /// Untimed: puts the workload back in its starting state.
    pub reset: Box<dyn Fn() + 'a>,
    /// The timed command.
    pub cmd: Box<dyn Fn() -> Command + 'a>,
}

/// One timed run: wall time, and the CPU time (user + system) of the whole
/// process tree that was waited for.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub wall: Duration,
    pub cpu: Duration,
}

/// Runs every variant once per round, the order rotating each round (A B C,
/// B C A, …) so drift hits them alike; round 0 is a warm-up and is not kept.
/// A failing command panics with its output.
pub fn interleave(variants: &[Variant<'_>], rounds: usize) -> Vec<Vec<Sample>> {
    let n = variants.len();
    let mut samples = vec![Vec::with_capacity(rounds); n];
    for round in 0..=rounds {
        for k in 0..n {
            let v = (k + round) % n;
            (variants[v].reset)();
            let cpu0 = children_cpu();
            let wall = time(&mut (variants[v].cmd)());
            let cpu = children_cpu().saturating_sub(cpu0);
            if round > 0 {
                samples[v].push(Sample { wall, cpu });
            }
        }
    }
    samples
}

/// User + system CPU time of this process's waited-for descendants
/// (`getrusage(RUSAGE_CHILDREN)`): a run's share is the difference around
/// it. Much less sensitive to other load on the machine than wall time.
pub fn children_cpu() -> Duration {
    #[cfg(unix)]
    {
        // SAFETY: getrusage fills a zeroed struct.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pointer to a rusage.
        if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
            return Duration::ZERO;
        }
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
    #[cfg(not(unix))]
    Duration::ZERO
}

/// Wall time of one complete run of `cmd` (spawn to exit), which must succeed.
pub fn time(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let d = t.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

/// Median, minimum and maximum in milliseconds.
pub fn stats_ms(s: &[Duration]) -> (f64, f64, f64) {
    let mut v: Vec<f64> = s.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let med = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (med, v[0], v[n - 1])
}

/// `/proc/loadavg`'s three load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// CPU count and model, kernel.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    format!(
        "{cpus} CPUs ({model}), Linux {kernel} {}",
        std::env::consts::ARCH
    )
}
