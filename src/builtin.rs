//! `builtin` in a policy stands for the tool's own default registry. pkgward
//! never hard-codes those URLs: it asks the real tool, once, and caches the
//! answer keyed by the tool's path and file fingerprint.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::record::hash;
use crate::tools::Tool;

/// The default registry URL(s) of `tool`, asked of the real tool at `real`.
/// Empty when the tool cannot tell (the caller then treats only explicit
/// URLs as approved).
pub fn resolve(tool: Tool, real: &Path, cache_dir: Option<&Path>) -> Vec<String> {
    let Ok(meta) = std::fs::metadata(real) else {
        return Vec::new();
    };
    let fp = hash::fingerprint(&meta);
    let entry: Option<PathBuf> = cache_dir.map(|d| {
        let key = hash::sha256_bytes(format!("{}\0{}", tool.name, real.display()).as_bytes());
        d.join(&key[..32])
    });
    if let Some(e) = &entry {
        if let Ok(text) = std::fs::read_to_string(e) {
            let mut lines = text.lines();
            if lines.next() == Some(fp.as_str()) {
                return lines
                    .map(str::to_string)
                    .filter(|l| !l.is_empty())
                    .collect();
            }
        }
    }
    let urls = ask(tool, real);
    if let (Some(e), false) = (&entry, urls.is_empty()) {
        if let Some(dir) = e.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = e.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, format!("{fp}\n{}\n", urls.join("\n"))).is_ok() {
            let _ = std::fs::rename(&tmp, e);
        }
    }
    urls
}

fn ask(tool: Tool, real: &Path) -> Vec<String> {
    match tool.name {
        "npm" | "npx" => {
            // npx has no `config`: ask the npm beside it.
            let npm = if tool.name == "npx" {
                real.with_file_name(if cfg!(windows) { "npm.cmd" } else { "npm" })
            } else {
                real.to_path_buf()
            };
            npm_default(&npm).into_iter().collect()
        }
        "pip" | "pip3" => pip_default(real).into_iter().collect(),
        "cargo" => cargo_default(real).into_iter().collect(),
        "go" => go_default(real),
        _ => Vec::new(),
    }
}

fn null_file() -> &'static str {
    if cfg!(windows) {
        "NUL"
    } else {
        "/dev/null"
    }
}

/// A command for the real tool with every pkgward and tool setting removed
/// from its environment, run from an empty directory.
fn isolated(program: &Path, prefixes: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars_os() {
        let key = k.to_string_lossy().to_ascii_lowercase();
        if key.starts_with("pkgward_") || prefixes.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(&k);
        }
    }
    cmd.current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn run(mut cmd: Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `npm config get registry` with no config files and no `npm_config_*`.
fn npm_default(npm: &Path) -> Option<String> {
    let mut cmd = isolated(npm, &["npm_config_"]);
    // Files that do not exist: npm refuses one file for both roles.
    let none = std::env::temp_dir().join("pkgward-no-such-dir");
    cmd.arg("config").arg("get").arg("registry");
    cmd.arg("--userconfig").arg(none.join("user-npmrc"));
    cmd.arg("--globalconfig").arg(none.join("global-npmrc"));
    let out = run(cmd)?;
    let url = out.trim();
    url.contains("://").then(|| url.to_string())
}

/// pip documents its default index in `pip install --help`:
/// `-i, --index-url <url>  Base URL … (default <URL>)`.
fn pip_default(pip: &Path) -> Option<String> {
    let mut cmd = isolated(pip, &["pip_"]);
    cmd.env("PIP_CONFIG_FILE", null_file())
        .args(["install", "--help"]);
    let out = run(cmd)?;
    parse_pip_help(&out)
}

/// crates-io's identity as cargo writes it: a throwaway package with one
/// dependency, `cargo metadata --no-deps --offline` (no network).
fn cargo_default(cargo: &Path) -> Option<String> {
    let dir = std::env::temp_dir().join(format!("pkgward-cargo-builtin-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).ok()?;
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"pkgward-probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[dependencies]\nprobe = \"1\"\n",
    )
    .ok()?;
    std::fs::write(dir.join("src/lib.rs"), "").ok()?;
    let mut cmd = isolated(cargo, &["cargo_"]);
    cmd.current_dir(&dir)
        .env("CARGO_HOME", dir.join("home"))
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ]);
    let out = run(cmd);
    let _ = std::fs::remove_dir_all(&dir);
    let v: serde_json::Value = serde_json::from_str(&out?).ok()?;
    let src = v["packages"][0]["dependencies"][0]["source"].as_str()?;
    src.contains("://").then(|| src.to_string())
}

/// `go env GOPROXY` with no GOENV file and no GO* settings: the proxy URLs
/// of the toolchain's default list.
fn go_default(go: &Path) -> Vec<String> {
    let mut cmd = isolated(go, &["go"]);
    cmd.env("GOENV", "off")
        .env("GOTOOLCHAIN", "local")
        .args(["env", "GOPROXY"]);
    run(cmd)
        .map(|o| {
            o.trim()
                .split([',', '|'])
                .map(str::trim)
                .filter(|e| e.contains("://"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn parse_pip_help(help: &str) -> Option<String> {
    let at = help.find("--index-url")?;
    let rest = &help[at..];
    let d = rest.find("(default")?;
    let rest = &rest[d + "(default".len()..];
    let end = rest.find(')')?;
    let url: String = rest[..end].split_whitespace().collect();
    url.contains("://").then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_help() {
        let help = "  -i, --index-url <url>       Base URL of the Python Package Index (default\n                              https://pypi.example.com/simple). This should\n";
        assert_eq!(
            parse_pip_help(help).as_deref(),
            Some("https://pypi.example.com/simple")
        );
        assert_eq!(parse_pip_help("nothing"), None);
    }
}
