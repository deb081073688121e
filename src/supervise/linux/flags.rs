//! Which programs started by install-time code deserve a look: shells,
//! download and relay tools, interpreters given code on the command line,
//! and binaries written during the invocation.

use std::path::Path;
use std::time::SystemTime;

const SHELLS: [&str; 11] = [
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "busybox",
];
const NETWORK_TOOLS: [&str; 9] = [
    "curl", "wget", "nc", "ncat", "netcat", "socat", "telnet", "ftp", "tftp",
];
const POWERSHELL: [&str; 2] = ["pwsh", "powershell"];

/// The flag for a program started by install-time code (`None`: nothing
/// notable). `argv` as passed to exec; `name` the file name of the program.
pub fn flag(name: &str, argv: &[String]) -> Option<String> {
    let name = name.to_ascii_lowercase();
    let name = name.strip_suffix(".exe").unwrap_or(&name);
    let args = argv.get(1..).unwrap_or(&[]);
    let has = |opts: &[&str]| {
        args.iter().any(|a| {
            opts.iter()
                .any(|o| a == o || (o.starts_with("--") && a.starts_with(&format!("{o}="))))
        })
    };
    if SHELLS.contains(&name) {
        return Some(format!("shell {name} started by install-time code"));
    }
    if NETWORK_TOOLS.contains(&name) {
        return Some(format!("{name} started by install-time code"));
    }
    if POWERSHELL.contains(&name) {
        return Some(format!("PowerShell ({name}) started by install-time code"));
    }
    let versioned = |base: &str| {
        name.strip_prefix(base)
            .is_some_and(|v| v.bytes().all(|c| c.is_ascii_digit() || c == b'.'))
    };
    // `-c` may be combined with other short options (`python -Ic code`).
    let short_c = args
        .iter()
        .any(|a| a.starts_with('-') && !a.starts_with("--") && a.len() > 1 && a[1..].contains('c'));
    if (versioned("python") || versioned("pypy")) && short_c {
        return Some(format!("{name} -c started by install-time code"));
    }
    if (name == "node" || name == "nodejs" || name == "bun" || name == "deno")
        && has(&["-e", "--eval", "-p", "--print"])
    {
        return Some(format!("{name} --eval started by install-time code"));
    }
    if (versioned("perl") || versioned("ruby") || name == "php") && has(&["-e", "-E", "-r"]) {
        return Some(format!("{name} -e started by install-time code"));
    }
    None
}

/// Why the executable at `path` counts as written during the invocation:
/// created or changed since `since`, kept in memory only (memfd, deleted),
/// or under a temporary directory.
pub fn written(path: &Path, shown: &str, since: SystemTime) -> Option<String> {
    if shown.starts_with("/memfd:") || shown.ends_with(" (deleted)") {
        return Some(format!("binary {shown} has no file on disk"));
    }
    let changed = std::fs::metadata(path).ok().and_then(|m| {
        use std::os::unix::fs::MetadataExt;
        let ctime = std::time::UNIX_EPOCH
            + std::time::Duration::new(m.ctime().max(0) as u64, m.ctime_nsec() as u32);
        m.modified().ok().into_iter().chain([ctime]).max()
    });
    if changed.is_some_and(|c| c >= since) {
        return Some(format!("binary {shown} written during the invocation"));
    }
    temp_dirs()
        .into_iter()
        .find(|t| Path::new(shown).starts_with(t))
        .map(|t| format!("binary under the temporary directory {}", t.display()))
}

fn temp_dirs() -> Vec<std::path::PathBuf> {
    let mut v: Vec<std::path::PathBuf> = ["/tmp", "/var/tmp", "/dev/shm"]
        .iter()
        .map(Into::into)
        .collect();
    if let Some(t) = std::env::var_os("TMPDIR").filter(|t| !t.is_empty()) {
        let t = std::path::PathBuf::from(t);
        if t.is_absolute() && t != Path::new("/") {
            v.push(t);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flagged_programs() {
        let yes: &[(&str, &[&str])] = &[
            ("sh", &["sh", "-c", "x"]),
            ("bash", &["bash"]),
            ("dash", &["dash"]),
            ("zsh", &["zsh"]),
            ("curl", &["curl", "http://127.0.0.1/x"]),
            ("wget", &["wget", "x"]),
            ("python3", &["python3", "-c", "print(1)"]),
            ("python3.12", &["python3.12", "-Ic", "print(1)"]),
            ("node", &["node", "-e", "1"]),
            ("node", &["node", "--eval=1"]),
            ("node", &["node", "--eval", "1"]),
            ("pwsh", &["pwsh", "-Command", "x"]),
            ("nc", &["nc", "h", "1"]),
            ("ncat", &["ncat"]),
            ("socat", &["socat"]),
            ("perl", &["perl", "-e", "1"]),
        ];
        for (n, a) in yes {
            assert!(flag(n, &v(a)).is_some(), "{n} {a:?}");
        }
        let no: &[(&str, &[&str])] = &[
            ("node", &["node", "hook.js"]),
            ("python3", &["python3", "setup.py", "build"]),
            ("python3", &["python3", "--version"]),
            ("pythonista", &["pythonista", "-c", "x"]),
            ("git", &["git", "clone"]),
            ("cc", &["cc", "-c", "x.c"]),
            ("npm", &["npm", "run", "x"]),
        ];
        for (n, a) in no {
            assert!(flag(n, &v(a)).is_none(), "{n} {a:?}");
        }
    }

    #[test]
    fn written_binaries() {
        let d = tempfile::tempdir().unwrap();
        let since = SystemTime::now() - std::time::Duration::from_secs(1);
        let f = d.path().join("flag-written");
        std::fs::write(&f, "x").unwrap();
        let shown = f.to_string_lossy().into_owned();
        assert!(written(&f, &shown, since).is_some());
        assert!(written(&f, &shown, since)
            .unwrap()
            .contains("during the invocation"));
        // Older than the invocation, but under a temporary directory.
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert!(written(&f, &shown, later)
            .unwrap()
            .contains("temporary directory"));
        assert!(written(Path::new("/x"), "/tmp/evil", SystemTime::now()).is_some());
        assert!(written(Path::new("/x"), "/memfd:a (deleted)", SystemTime::now()).is_some());
        assert!(written(Path::new("/bin/sh"), "/bin/sh", SystemTime::now()).is_none());
    }
}
