//! Fetch-and-execute (`npx`, `npm exec`, `pnpx`, `pnpm dlx`, `yarn dlx`,
//! `bunx`, `uvx`, `uv tool run`, `pipx run`): running a package straight
//! from the registry is install-time code and more. Decided by policy: the
//! package must be approved by `scripts.allow` (any version: the version is
//! not known before the fetch), unless `scripts.exec = "allow"`. `npx` of a
//! binary already installed in the project's `node_modules/.bin` fetches
//! nothing and is not restricted.

use std::path::Path;

use crate::policy::{Policy, ScriptsExec};
use crate::record::Reason;
use crate::tools::{Ecosystem, Tool};

/// The reason code of a denied fetch-and-execute.
pub const CODE: &str = "exec-not-approved";

/// bunx's options before the package that take a value (bun 1.4.5): their
/// value is not the package (`bunx --cwd DIR PKG` runs PKG).
const BUNX_VALUE_FLAGS: &[&str] = &[
    "--registry",
    "--cwd",
    "--minimum-release-age",
    "--env-file",
    "--ca",
    "--cafile",
];

/// What `bun` skips with its value before `x`: `--package`, bunx's.
const BUN_X_SKIP: &[&str] = &[
    "--package",
    "-p",
    "--registry",
    "--cwd",
    "--minimum-release-age",
    "--env-file",
    "--ca",
    "--cafile",
];

/// The packages an invocation fetches and executes (empty: none).
pub fn targets(tool: Tool, args: &[String], cwd: &Path) -> Vec<String> {
    let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let (opts, rest) = (&args[..at], &args[at..]);
    if let Some(t) = initializer(tool, opts) {
        return vec![t];
    }
    let package_flags: &[&str];
    let value_flags: &[&str];
    let skip_words: usize;
    match tool.name {
        "npx" => {
            package_flags = &["--package", "-p"];
            value_flags = &[
                "--call",
                "-c",
                "--registry",
                "--cache",
                "--userconfig",
                "--prefix",
            ];
            skip_words = 0;
        }
        "npm" => {
            if !matches!(first_word(opts, &[]), Some("exec" | "x")) {
                return Vec::new();
            }
            package_flags = &["--package", "-p"];
            value_flags = &[
                "--call",
                "-c",
                "--registry",
                "--cache",
                "--userconfig",
                "--prefix",
            ];
            skip_words = 1;
        }
        "pnpx" | "bunx" => {
            package_flags = &["--package", "-p"];
            value_flags = if tool.name == "bunx" {
                BUNX_VALUE_FLAGS
            } else {
                &[]
            };
            skip_words = 0;
        }
        "pnpm" | "yarn" | "bun" => {
            let skip: &[&str] = if tool.name == "bun" {
                BUN_X_SKIP
            } else {
                &["--package", "-p"]
            };
            let w = first_word(opts, skip);
            if !matches!(w, Some("dlx" | "x")) {
                return Vec::new();
            }
            if tool.name == "pnpm" && w == Some("x") {
                return Vec::new();
            }
            package_flags = &["--package", "-p"];
            value_flags = if tool.name == "bun" {
                BUNX_VALUE_FLAGS
            } else {
                &[]
            };
            skip_words = 1;
        }
        "uvx" => {
            package_flags = &["--from", "--with"];
            value_flags = &[
                "--python",
                "-p",
                "--index-url",
                "--index",
                "--default-index",
            ];
            skip_words = 0;
        }
        "uv" => {
            let words: Vec<&str> = opts
                .iter()
                .map(String::as_str)
                .filter(|a| !a.starts_with('-'))
                .take(2)
                .collect();
            if words != ["tool", "run"] {
                return Vec::new();
            }
            package_flags = &["--from", "--with"];
            value_flags = &[
                "--python",
                "-p",
                "--index-url",
                "--index",
                "--default-index",
            ];
            skip_words = 2;
        }
        "pipx" => {
            if first_word(opts, &[]) != Some("run") {
                return Vec::new();
            }
            package_flags = &["--spec"];
            value_flags = &["--python", "--index-url", "-i", "--pip-args"];
            skip_words = 1;
        }
        _ => return Vec::new(),
    }
    let mut out = Vec::new();
    let mut positional = Vec::new();
    let mut it = opts.iter();
    while let Some(a) = it.next() {
        if let Some((k, v)) = a.split_once('=').filter(|_| a.starts_with('-')) {
            if package_flags.contains(&k) {
                out.push(v.to_string());
            }
            continue;
        }
        if package_flags.contains(&a.as_str()) {
            if let Some(v) = it.next() {
                out.push(v.clone());
            }
        } else if value_flags.contains(&a.as_str()) {
            it.next();
        } else if !a.starts_with('-') {
            positional.push(a.as_str());
        }
    }
    let cmd = positional
        .get(skip_words)
        .copied()
        .or_else(|| rest.get(1).map(String::as_str));
    // With explicit packages the command is one of their binaries.
    if out.is_empty() {
        if let Some(c) = cmd {
            let eco = tool.ecosystem;
            if eco == Ecosystem::Npm && local_bin(cwd, c) {
                return Vec::new();
            }
            out.push(c.to_string());
        }
    }
    out.into_iter()
        .map(|s| package_name(tool.ecosystem, &s))
        .filter(|s| !s.is_empty())
        .collect()
}

/// `npm init NAME` / `npm create NAME` (and `yarn create`, `pnpm create`,
/// `bun create`) fetch and run the package `create-NAME` (`@s` →
/// `@s/create`, `@s/x` → `@s/create-x`).
fn initializer(tool: Tool, opts: &[String]) -> Option<String> {
    let words: Vec<&str> = opts
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (verb, name) = (words.first()?, words.get(1)?);
    let is_init = match tool.name {
        "npm" => matches!(*verb, "init" | "create" | "innit"),
        "yarn" | "pnpm" | "bun" => *verb == "create",
        _ => false,
    };
    if !is_init {
        return None;
    }
    if name.contains("://") || name.starts_with(['.', '/']) {
        return Some(name.to_string());
    }
    let bare = package_name(Ecosystem::Npm, name);
    Some(match bare.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, pkg)) => format!("@{scope}/create-{pkg}"),
            None => format!("@{scoped}/create"),
        },
        None if bare.starts_with("create-") && tool.name == "bun" => bare,
        None => format!("create-{bare}"),
    })
}

fn first_word<'a>(args: &'a [String], value_flags: &[&str]) -> Option<&'a str> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if value_flags.contains(&a.as_str()) {
            it.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

/// `node_modules/.bin/NAME` in `cwd` or a parent: a local binary.
fn local_bin(cwd: &Path, name: &str) -> bool {
    if name.contains(['/', '\\', '@']) {
        return false;
    }
    cwd.ancestors()
        .any(|d| d.join("node_modules/.bin").join(name).exists())
}

/// The package name of a spec: `esbuild@0.19` → `esbuild`, `@s/p@1` →
/// `@s/p`, `black==24.1` / `black[d]>=24` / `black@24` → `black`.
pub fn package_name(eco: Ecosystem, spec: &str) -> String {
    if spec.contains("://") || spec.starts_with(['.', '/', '~']) || spec.contains(['\\']) {
        return spec.to_string();
    }
    match eco {
        Ecosystem::Npm => {
            let s = spec.strip_prefix("npm:").unwrap_or(spec);
            let from = usize::from(s.starts_with('@'));
            match s[from..].find('@') {
                Some(i) => s[..from + i].to_string(),
                None => s.to_string(),
            }
        }
        _ => {
            let end = spec
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .unwrap_or(spec.len());
            spec[..end].to_string()
        }
    }
}

/// Whether a target is a plain registry package name (approvable), not a
/// URL, path, tarball or git spec.
fn is_name(eco: Ecosystem, t: &str) -> bool {
    crate::policy::AllowEntry::parse(&format!("{eco}:{t}")).is_ok() && !t.contains(['/', '\\', ':'])
        || (eco == Ecosystem::Npm
            && t.starts_with('@')
            && t.matches('/').count() == 1
            && !t.contains([':', '\\'])
            && !t.ends_with(".tgz"))
}

/// The violations of a fetch-and-execute invocation: one per target the
/// policy does not allow.
pub fn check(policy: &Policy, tool: Tool, args: &[String], cwd: &Path) -> Vec<Reason> {
    if policy.scripts_exec.value == ScriptsExec::Allow {
        return Vec::new();
    }
    let eco = tool.ecosystem;
    let set_at = policy
        .scripts_exec
        .origin
        .as_ref()
        .map(|o| format!("set at {o}"))
        .unwrap_or_else(|| "the default".to_string());
    targets(tool, args, cwd)
        .into_iter()
        .filter(|t| !is_name(eco, t) || policy.approves_name(eco, t).is_none())
        .map(|t| Reason {
            code: CODE.to_string(),
            message: if is_name(eco, &t) {
                format!(
                    "`{}` fetches and executes {eco}:{t}, which `scripts.allow` does not approve \
                     (`scripts.exec = \"deny\"`, {set_at}); approve it with `pkgward approve {eco}:{t}`",
                    tool.name
                )
            } else {
                format!(
                    "`{}` fetches and executes `{}`, which is not a registry package name and so \
                     cannot be approved by name (`scripts.exec = \"deny\"`, {set_at})",
                    tool.name,
                    crate::record::redact::redact_urls(&t)
                )
            },
            origin: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tool: &str, args: &[&str]) -> Vec<String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        targets(
            Tool::by_name(tool).unwrap(),
            &args,
            Path::new("/nonexistent-pkgward-test"),
        )
    }

    #[test]
    fn targets_per_tool() {
        assert_eq!(t("npx", &["cowsay@1.5", "hi"]), ["cowsay"]);
        assert_eq!(t("npx", &["-y", "@s/tool@^2", "x"]), ["@s/tool"]);
        assert_eq!(t("npx", &["--package=a", "-p", "b@1", "cmd"]), ["a", "b"]);
        assert_eq!(t("npm", &["exec", "--", "cowsay"]), ["cowsay"]);
        assert_eq!(t("npm", &["x", "-y", "cowsay"]), ["cowsay"]);
        assert!(t("npm", &["run", "build"]).is_empty());
        assert_eq!(t("pnpm", &["dlx", "create-vite"]), ["create-vite"]);
        assert!(t("pnpm", &["install"]).is_empty());
        assert_eq!(
            t("yarn", &["dlx", "-p", "typescript", "tsc"]),
            ["typescript"]
        );
        assert_eq!(t("bunx", &["cowsay"]), ["cowsay"]);
        // The value of bunx's options is not the package.
        assert_eq!(t("bunx", &["--cwd", "cowsay", "evil"]), ["evil"]);
        assert_eq!(
            t(
                "bun",
                &["x", "--registry", "http://a.test/", "--ca", "C", "evil"]
            ),
            ["evil"]
        );
        assert_eq!(t("bun", &["--cwd", "d", "x", "evil"]), ["evil"]);
        assert_eq!(t("uvx", &["black==24.1", "."]), ["black"]);
        assert_eq!(t("uvx", &["--from", "httpie[socks]", "http"]), ["httpie"]);
        assert_eq!(t("uv", &["tool", "run", "ruff@0.4", "check"]), ["ruff"]);
        assert_eq!(
            t("pipx", &["run", "--spec", "pycowsay==0.1", "pycowsay"]),
            ["pycowsay"]
        );
        assert_eq!(t("pipx", &["run", "pycowsay"]), ["pycowsay"]);
        assert!(t("pipx", &["install", "pycowsay"]).is_empty());
        assert_eq!(t("npm", &["init", "vite@5", "app"]), ["create-vite"]);
        assert_eq!(t("npm", &["create", "@s"]), ["@s/create"]);
        assert_eq!(t("npm", &["init", "@s/app"]), ["@s/create-app"]);
        assert!(t("npm", &["init", "-y"]).is_empty());
        assert_eq!(
            t("yarn", &["create", "react-app", "x"]),
            ["create-react-app"]
        );
        assert_eq!(t("pnpm", &["create", "vite"]), ["create-vite"]);
        assert_eq!(
            t("npx", &["http://127.0.0.1:1/x/-/x-1.0.0.tgz"]),
            ["http://127.0.0.1:1/x/-/x-1.0.0.tgz"]
        );
        assert!(is_name(Ecosystem::Npm, "@s/p"));
        assert!(is_name(Ecosystem::Npm, "cowsay"));
        assert!(!is_name(Ecosystem::Npm, "user/repo"));
        assert!(!is_name(Ecosystem::Npm, "http://127.0.0.1:1/x.tgz"));
        assert!(!is_name(Ecosystem::Pypi, "./dir"));
    }

    #[test]
    fn local_binaries_are_not_fetched() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("node_modules/.bin")).unwrap();
        std::fs::write(d.path().join("node_modules/.bin/tsc"), "").unwrap();
        let sub = d.path().join("src");
        std::fs::create_dir_all(&sub).unwrap();
        let args = vec!["tsc".to_string()];
        assert!(targets(Tool::by_name("npx").unwrap(), &args, &sub).is_empty());
    }
}
