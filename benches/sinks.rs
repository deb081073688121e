//! What an `[audit] sinks` entry costs one invocation: the shim running a
//! fake tool (`/bin/true`) with no sink, with an HTTP sink whose loopback
//! collector is up, with one that is down (connection refused; after the
//! first failure the shim backs off), and with one that is down and tried by
//! every invocation (the back-off cleared before each run: the worst case of
//! a refused connection). Ratios are median(variant) / median(no sink).
//!
//! ```text
//! cargo bench --bench sinks                   # print the table
//! cargo bench --bench sinks -- --write-doc    # also rewrite docs/PERFORMANCE.md
//! ```
//!
//! `BENCH_RUNS` sets the runs per variant (default 200), `PKGWARD_BIN` the
//! binary, `PKGWARD_REPO` where `docs/PERFORMANCE.md` is.

#![cfg_attr(test, allow(dead_code))]

fn main() {
    #[cfg(unix)]
    unix::main();
    #[cfg(not(unix))]
    eprintln!("sinks bench: Unix only");
}

#[cfg(unix)]
mod unix {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    const BEGIN: &str = "<!-- sinks:begin -->";
    const END: &str = "<!-- sinks:end -->";

    struct Sandbox {
        _tmp: tempfile::TempDir,
        root: PathBuf,
        shim: PathBuf,
    }

    fn sandbox(bin: &Path, policy: &str) -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        for d in ["shims", "real", "state", "home", "etc"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy("/bin/true", root.join("real/gem")).unwrap();
        let shim = root.join("shims/gem");
        std::os::unix::fs::symlink(bin, &shim).unwrap();
        std::fs::write(root.join("etc/policy.toml"), policy).unwrap();
        Sandbox {
            _tmp: tmp,
            root,
            shim,
        }
    }

    fn run(sb: &Sandbox, program: &Path) -> Duration {
        let r = &sb.root;
        let t = Instant::now();
        let st = Command::new(program)
            .arg("--version")
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:{}:/usr/bin:/bin",
                    r.join("shims").display(),
                    r.join("real").display()
                ),
            )
            .env("HOME", r.join("home"))
            .env("PKGWARD_STATE_DIR", r.join("state"))
            .env("PKGWARD_SHIM_DIR", r.join("shims"))
            .env("PKGWARD_SYSTEM_POLICY", r.join("etc/policy.toml"))
            .env("SIEM_TOKEN", "t")
            .current_dir(r.join("home"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        let d = t.elapsed();
        assert!(st.success());
        d
    }

    fn collector() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let mut r = BufReader::new(c);
                let mut len = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                let _ = r.into_inner().write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        port
    }

    fn median(v: &mut [Duration]) -> f64 {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e3
    }

    pub fn main() {
        let args: Vec<String> = std::env::args().collect();
        let write_doc = args.iter().any(|a| a == "--write-doc");
        let quick = !args.iter().any(|a| a == "--bench");
        let runs: usize = std::env::var("BENCH_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if quick { 5 } else { 200 });
        let bin = std::env::var_os("PKGWARD_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_pkgward")));
        let up = collector();
        let down = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let sink = |port: u16| {
            format!(
                "mode = \"enforce\"\n[[audit.sinks]]\ntype = \"http\"\nname = \"siem\"\n\
                 url = \"http://127.0.0.1:{port}/ingest\"\ntoken_env = \"SIEM_TOKEN\"\n"
            )
        };
        let variants: Vec<(&str, Sandbox, bool)> = vec![
            ("no sink", sandbox(&bin, "mode = \"enforce\"\n"), false),
            ("http sink, collector up", sandbox(&bin, &sink(up)), false),
            (
                "http sink, collector down (backing off)",
                sandbox(&bin, &sink(down)),
                false,
            ),
            (
                "http sink, collector down, tried every run",
                sandbox(&bin, &sink(down)),
                true,
            ),
        ];
        let bare = sandbox(&bin, "");
        let bare_tool = bare.root.join("real/gem");
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len() + 1];
        // Warm up (page cache, the tool-hash cache, the first back-off).
        for (_, sb, _) in &variants {
            run(sb, &sb.shim);
        }
        for i in 0..runs {
            // Rotate the order every round so drift hits every variant alike.
            for k in 0..=variants.len() {
                let j = (i + k) % (variants.len() + 1);
                if j == variants.len() {
                    times[j].push(run(&bare, &bare_tool));
                    continue;
                }
                let (_, sb, clear) = &variants[j];
                if *clear {
                    let _ = std::fs::remove_file(sb.root.join("state/spool/siem/state.json"));
                }
                times[j].push(run(sb, &sb.shim));
            }
        }
        let bare_ms = median(&mut times[variants.len()]);
        let none_ms = median(&mut times[0]);
        let mut table = String::new();
        table.push_str(&format!(
            "Median of {runs} runs per variant; bare `/bin/true`: {bare_ms:.2} ms.\n\n\
             | variant | median ms | vs no sink | vs bare tool |\n|---|---|---|---|\n"
        ));
        for (j, (name, _, _)) in variants.iter().enumerate() {
            let m = median(&mut times[j]);
            table.push_str(&format!(
                "| {name} | {m:.2} | {:.2}× | {:.2}× |\n",
                m / none_ms,
                m / bare_ms
            ));
        }
        print!("{table}");
        if write_doc {
            let repo = std::env::var_os("PKGWARD_REPO")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
            let doc = repo.join("docs/PERFORMANCE.md");
            let text = std::fs::read_to_string(&doc).unwrap();
            let (Some(a), Some(b)) = (text.find(BEGIN), text.find(END)) else {
                eprintln!("{}: no {BEGIN} … {END} markers", doc.display());
                std::process::exit(1);
            };
            let new = format!("{}{BEGIN}\n{table}{}", &text[..a], &text[b..]);
            std::fs::write(&doc, new).unwrap();
        }
    }
}
