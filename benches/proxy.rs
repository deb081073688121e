//! Egress-proxy benchmark: what pkgward's in-process proxy costs.
//!
//! * **start-up**: `Proxy::start` (bind an ephemeral port, one thread) plus
//!   computing the child's proxy variables, then `stop`; the median over many
//!   runs — the price every fetching invocation pays;
//! * **throughput**: a 100 MB download from a loopback HTTP server by the real
//!   `curl`, direct and through the proxy (plain HTTP, absolute-form, and
//!   HTTPS-style through a `CONNECT` tunnel with `--proxytunnel`), interleaved
//!   and rotating over rounds; the ratio is median(proxied MB/s) /
//!   median(direct MB/s). Two servers: unthrottled (loopback, CPU-bound: it
//!   shows the proxy's cost per byte) and paced at a link rate
//!   (`BENCH_LINK_MBPS`, default 100 MB/s ≈ 800 Mbit/s: whether the proxy
//!   keeps up with a fast network). The goal, ≥ 0.95, is checked on the paced
//!   server.
//!
//! ```text
//! benches/proxy.sh                      # build, measure, rewrite docs/PERFORMANCE.md
//! cargo bench --bench proxy             # print only
//! cargo bench --bench proxy -- --check  # exit 1 when the throughput goal is missed
//! ```
//! Knobs: `BENCH_MB` (download size, default 100), `BENCH_ROUNDS` (default
//! 9), `--write-doc` (replace the `<!-- proxy:begin -->`…`<!-- proxy:end -->`
//! part of docs/PERFORMANCE.md; `PKGWARD_REPO` is the repository). Without
//! cargo's `--bench` flag (e.g. `cargo test --all-targets`) it does a quick
//! smoke run.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use pkgward::supervise::proxy::{env, Config, Proxy, Rule, Rules};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    let quick = !(has("--bench") || has("--full"));
    let num = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let mb = num("BENCH_MB", if quick { 8 } else { 100 });
    let rounds = num("BENCH_ROUNDS", if quick { 1 } else { 9 });
    let starts = if quick { 20 } else { 2000 };

    // The server runs unthrottled (loopback: CPU-bound, every byte costs
    // the kernel one more copy through the proxy) and paced at a link rate.
    let rate = num("BENCH_LINK_MBPS", 100);
    let server = serve(mb * 1_000_000, None);
    let paced = serve(mb * 1_000_000, Some(rate));
    let rules = Rules::new(
        [server, paced]
            .iter()
            .map(|p| Rule::parse_allow(&format!("127.0.0.1:{p}"), "network.allow").unwrap())
            .collect(),
    );
    let config = |rules: Rules| Config {
        rules,
        enforce: true,
        invocation_id: "bench".into(),
        ecosystem: "npm".into(),
        sink: Arc::new(|_| {}),
        artifacts: None,
    };

    // Start-up.
    let keys: Vec<std::ffi::OsString> = std::env::vars_os().map(|(k, _)| k).collect();
    let mut start_us = Vec::with_capacity(starts);
    let mut stop_us = Vec::with_capacity(starts);
    for _ in 0..starts {
        let t = Instant::now();
        let p = Proxy::start(config(rules.clone())).expect("start");
        let vars = env::vars("npm", p.addr().port(), &|k| std::env::var_os(k), &keys);
        std::hint::black_box(vars);
        start_us.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        p.stop();
        stop_us.push(t.elapsed().as_secs_f64() * 1e6);
    }

    // Throughput.
    let proxy = Proxy::start(config(rules)).expect("start");
    let purl = proxy.url();
    let mut table = String::new();
    table.push_str(&format!(
        "Measured {} on {}: {mb} MB downloads by `curl` from a loopback server, {rounds} rounds, \
         interleaved and rotating.\n\n",
        today(),
        machine()
    ));
    table.push_str(
        "| server | variant | median MB/s | min–max MB/s | ratio to direct |\n|---|---|---|---|---|\n",
    );
    let mut worst_paced: f64 = f64::INFINITY;
    for (label, port) in [
        ("unthrottled loopback".to_string(), server),
        (format!("paced at {rate} MB/s"), paced),
    ] {
        let url = format!("http://127.0.0.1:{port}/blob");
        let variants: [(&str, Vec<String>); 3] = [
            ("direct", vec![]),
            ("proxy, plain HTTP", vec!["-x".into(), purl.clone()]),
            (
                "proxy, CONNECT tunnel",
                vec!["-x".into(), purl.clone(), "--proxytunnel".into()],
            ),
        ];
        let mut speeds: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
        for (_, extra) in &variants {
            let _ = curl(&url, extra, mb);
        }
        for round in 0..rounds {
            for i in 0..variants.len() {
                let v = (i + round) % variants.len();
                match curl(&url, &variants[v].1, mb) {
                    Some(s) => speeds[v].push(s),
                    None => {
                        eprintln!("proxy bench: curl failed ({})", variants[v].0);
                        std::process::exit(2);
                    }
                }
            }
        }
        let direct = median(&speeds[0]);
        for (i, (name, _)) in variants.iter().enumerate() {
            let m = median(&speeds[i]);
            let ratio = m / direct;
            if i > 0 && port == paced {
                worst_paced = worst_paced.min(ratio);
            }
            let (lo, hi) = min_max(&speeds[i]);
            table.push_str(&format!(
                "| {label} | {name} | {m:.0} | {lo:.0}–{hi:.0} | {} |\n",
                if i == 0 {
                    "1".to_string()
                } else {
                    format!("{ratio:.3}")
                }
            ));
        }
    }
    proxy.stop();
    table.push_str(&format!(
        "\nStart-up (`Proxy::start` + the child's proxy variables), {starts} runs: median {:.0} µs \
         (p90 {:.0} µs); `stop`: median {:.0} µs.\n",
        median(&start_us),
        percentile(&start_us, 0.9),
        median(&stop_us)
    ));
    println!("{table}");
    if has("--write-doc") && !quick {
        write_doc(&table);
    }
    if has("--check") && worst_paced < 0.95 {
        eprintln!("proxy bench: throughput goal missed: {worst_paced:.3} < 0.95");
        std::process::exit(1);
    }
}

/// A loopback server answering every GET with `size` bytes, at most `rate`
/// MB/s when given; returns its port.
fn serve(size: usize, rate: Option<usize>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let chunk: Arc<Vec<u8>> = Arc::new(vec![b'x'; 1 << 20]);
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let chunk = chunk.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut b = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut b) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&b[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
                );
                if c.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let started = Instant::now();
                let mut left = size;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if c.write_all(&chunk[..n]).is_err() {
                        return;
                    }
                    left -= n;
                    if let Some(r) = rate {
                        let due = (size - left) as f64 / (r as f64 * 1e6);
                        let now = started.elapsed().as_secs_f64();
                        if due > now {
                            std::thread::sleep(std::time::Duration::from_secs_f64(due - now));
                        }
                    }
                }
            });
        }
    });
    port
}

/// MB/s of one curl download (checking the size).
fn curl(url: &str, extra: &[String], mb: usize) -> Option<f64> {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "--noproxy",
            "",
            "-w",
            "%{size_download} %{time_total}",
        ])
        .args(extra)
        .arg(url)
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    let mut it = s.split_whitespace();
    let size: f64 = it.next()?.parse().ok()?;
    let secs: f64 = it.next()?.parse().ok()?;
    if !out.status.success() || size as usize != mb * 1_000_000 || secs <= 0.0 {
        return None;
    }
    Some(size / 1e6 / secs)
}

fn median(v: &[f64]) -> f64 {
    percentile(v, 0.5)
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() {
        return f64::NAN;
    }
    s[((s.len() - 1) as f64 * p).round() as usize]
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        })
}

fn today() -> String {
    let d = jiff::Timestamp::now();
    format!("{d:.0}")[..10].to_string()
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    format!("{cpus} vCPU, Linux {kernel}")
}

fn write_doc(table: &str) {
    let repo = std::env::var("PKGWARD_REPO").unwrap_or_else(|_| ".".into());
    let path = std::path::Path::new(&repo).join("docs/PERFORMANCE.md");
    let Ok(doc) = std::fs::read_to_string(&path) else {
        eprintln!("proxy bench: cannot read {}", path.display());
        return;
    };
    let (b, e) = ("<!-- proxy:begin -->", "<!-- proxy:end -->");
    let (Some(i), Some(j)) = (doc.find(b), doc.find(e)) else {
        eprintln!("proxy bench: no {b}/{e} markers in {}", path.display());
        return;
    };
    let new = format!("{}{b}\n{table}{}", &doc[..i], &doc[j..]);
    if std::fs::write(&path, new).is_ok() {
        eprintln!("proxy bench: wrote {}", path.display());
    }
}
