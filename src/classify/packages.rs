//! The packages an install or execute command line names, with the exact
//! version when it pins one: what the threat feed is checked against before
//! the tool runs. Pure: argv in, names out.
//!
//! Erring on the side of naming too much is deliberate: a word taken for a
//! package that is not one can only match a listed name, and registry, path,
//! URL and git specs are never names.

use crate::classify::Verb;
use crate::tools::{Ecosystem, Tool};

/// A package named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    pub ecosystem: Ecosystem,
    pub name: String,
    /// Set when the spec pins one version (`x@1.2.3`, `x==1.2.3`, `-v 1.2.3`).
    pub version: Option<String>,
    /// The argument it came from.
    pub arg: String,
}

/// The packages `args` names, for install and execute verbs.
pub fn named(tool: Tool, args: &[String], verb: Verb) -> Vec<Named> {
    if !matches!(verb, Verb::Install | Verb::Execute) {
        return Vec::new();
    }
    let eco = tool.ecosystem;
    let mut out = Vec::new();
    let mut push = |name: String, version: Option<String>, arg: &str| {
        if !name.is_empty()
            && !out
                .iter()
                .any(|n: &Named| n.name == name && n.version == version)
        {
            out.push(Named {
                ecosystem: eco,
                name,
                version,
                arg: arg.to_string(),
            });
        }
    };
    match tool.name {
        "npm" | "npx" | "yarn" | "pnpm" | "pnpx" | "bun" | "bunx" => {
            let w = words(args, NPM_VALUE_OPTS);
            for p in &w.values_of(&["-p", "--package"]) {
                if let Some((n, v)) = npm_spec(p) {
                    push(n, v, p);
                }
            }
            let mut pos: &[String] = &w.positional;
            let direct_exec = matches!(tool.name, "npx" | "pnpx" | "bunx");
            if !direct_exec {
                // Drop the subcommand (and yarn's `global`, `workspace NAME`).
                while let Some(first) = pos.first() {
                    if matches!(first.as_str(), "global" | "g") {
                        pos = &pos[1..];
                    } else if first == "workspace" && pos.len() > 1 {
                        pos = &pos[2..];
                    } else {
                        break;
                    }
                }
                pos = pos.get(1..).unwrap_or(&[]);
            }
            if verb == Verb::Execute || direct_exec {
                // Only the package run; the rest are its own arguments.
                if w.values_of(&["-p", "--package"]).is_empty() {
                    pos = &pos[..pos.len().min(1)];
                } else {
                    pos = &[];
                }
            }
            for s in pos {
                if let Some((n, v)) = npm_spec(s) {
                    push(n, v, s);
                }
            }
        }
        "pip" | "pip3" | "uv" | "uvx" | "pipenv" | "pipx" | "poetry" => {
            let w = words(args, PY_VALUE_OPTS);
            for f in w.values_of(&["--from", "--with", "-w"]) {
                if let Some((n, v)) = py_spec(&f) {
                    push(n, v, &f);
                }
            }
            let mut pos: &[String] = &w.positional;
            // `uv pip install`, `uv tool install`, `uv add`, `pip install`, `pipx run`.
            let skip = match (tool.name, pos.first().map(String::as_str)) {
                ("uvx", _) => 0,
                ("uv", Some("pip" | "tool")) => 2,
                _ => 1,
            };
            pos = pos.get(skip..).unwrap_or(&[]);
            if verb == Verb::Execute {
                pos = &pos[..pos.len().min(1)];
            }
            for s in pos {
                if let Some((n, v)) = py_spec(s) {
                    push(n, v, s);
                }
            }
        }
        "cargo" => {
            let w = words(args, CARGO_VALUE_OPTS);
            if w.has(&["--git", "--path"]) {
                return out;
            }
            let version = w
                .values_of(&["--version", "--vers"])
                .into_iter()
                .next()
                .and_then(|v| exact_semver(&v));
            for s in w.positional.iter().skip(1) {
                let (n, v) = match s.split_once('@') {
                    Some((n, v)) => (n, exact_semver(v)),
                    None => (s.as_str(), version.clone()),
                };
                if is_plain_name(n) {
                    push(n.to_string(), v, s);
                }
            }
        }
        "go" => {
            let w = words(args, GO_VALUE_OPTS);
            for s in w.positional.iter().skip(1) {
                let (path, v) = match s.split_once('@') {
                    Some((p, v)) => (p, exact_semver(v).map(|x| format!("v{x}"))),
                    None => (s.as_str(), None),
                };
                if path.starts_with(['.', '/']) || path.contains("://") || !path.contains('.') {
                    continue;
                }
                // A package path names its module by a prefix.
                let parts: Vec<&str> = path.split('/').collect();
                for i in (1..=parts.len()).rev() {
                    push(parts[..i].join("/"), v.clone(), s);
                }
            }
        }
        "gem" | "bundle" => {
            let w = words(args, GEM_VALUE_OPTS);
            let version = w
                .values_of(&["-v", "--version"])
                .into_iter()
                .next()
                .and_then(|v| exact_plain(&v));
            for s in w.positional.iter().skip(1) {
                let (n, v) = match s.split_once(':') {
                    Some((n, v)) => (n, exact_plain(v)),
                    None => (s.as_str(), version.clone()),
                };
                if is_plain_name(n) && !n.ends_with(".gem") {
                    push(n.to_string(), v, s);
                }
            }
        }
        "nuget" | "dotnet" => {
            let w = words(args, NUGET_VALUE_OPTS);
            let version = w
                .values_of(&["-v", "--version", "-version", "-Version"])
                .into_iter()
                .next()
                .and_then(|v| exact_plain(&v));
            let pos = &w.positional;
            let names: Vec<&String> = match (tool.name, pos.first().map(String::as_str)) {
                ("nuget", Some("install")) => pos.get(1).into_iter().collect(),
                ("dotnet", Some("add")) => {
                    // `dotnet add [PROJECT] package NAME`
                    pos.iter()
                        .position(|p| p == "package")
                        .and_then(|i| pos.get(i + 1))
                        .into_iter()
                        .collect()
                }
                ("dotnet", Some("tool")) => pos.get(2).into_iter().collect(),
                _ => Vec::new(),
            };
            for s in names {
                if is_plain_name(s) && !s.ends_with(".config") {
                    push(s.to_string(), version.clone(), s);
                }
            }
        }
        "mvn" => {
            for a in args {
                if let Some(coords) = a.strip_prefix("-Dartifact=") {
                    let parts: Vec<&str> = coords.split(':').collect();
                    if parts.len() >= 3 {
                        push(
                            format!("{}:{}", parts[0], parts[1]),
                            exact_plain(parts[parts.len() - 1]),
                            a,
                        );
                    }
                }
            }
        }
        _ => {}
    }
    out
}

const NPM_VALUE_OPTS: &[&str] = &[
    "--registry",
    "--tag",
    "--prefix",
    "-C",
    "--dir",
    "--workspace",
    "-w",
    "--filter",
    "-F",
    "--cwd",
    "--cache",
    "--cache-dir",
    "--userconfig",
    "--globalconfig",
    "--save-prefix",
    "--omit",
    "--include",
    "--install-strategy",
    "--loglevel",
    "--otp",
    "--scope",
    "--before",
    "--network-concurrency",
    "--modules-folder",
    "--lockfile-dir",
    "--config",
    "--call",
    "-c",
    "--package",
    "-p",
    "--virtual-store-dir",
    "--store-dir",
    "--reporter",
    "--mode",
    "--network-timeout",
    "--mutex",
    "--cafile",
    "--proxy",
    "--https-proxy",
    "--backend",
    "--trust",
    "--concurrent-scripts",
];
const PY_VALUE_OPTS: &[&str] = &[
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-e",
    "--editable",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--index",
    "--default-index",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--python",
    "-p",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--src",
    "--upgrade-strategy",
    "--cache-dir",
    "--log",
    "--proxy",
    "--retries",
    "--timeout",
    "--exists-action",
    "--trusted-host",
    "--cert",
    "--client-cert",
    "--progress-bar",
    "--root-user-action",
    "--report",
    "--config-settings",
    "-C",
    "--global-option",
    "--no-binary",
    "--only-binary",
    "--from",
    "--with",
    "-w",
    "--directory",
    "--project",
    "--group",
    "--extra",
    "--source",
    "--optional",
    "--index-strategy",
    "--keyring-provider",
    "--resolution",
    "--prerelease",
    "--exclude-newer",
    "--config-file",
    "--color",
    "--cache",
    "--venv",
    "--spec",
    "--pip-args",
    "--suffix",
    "--package",
    "--python-preference",
    "--with-requirements",
    "--refresh-package",
    "--reinstall-package",
    "--upgrade-package",
    "-P",
    "--no-build-package",
    "--no-binary-package",
    "--only-binary-package",
    "--dev-dependency",
    "-G",
    "--categories",
];
const CARGO_VALUE_OPTS: &[&str] = &[
    "--version",
    "--vers",
    "--git",
    "--branch",
    "--tag",
    "--rev",
    "--path",
    "--root",
    "--index",
    "--registry",
    "--bin",
    "--example",
    "--features",
    "-F",
    "--target",
    "--target-dir",
    "--profile",
    "-j",
    "--jobs",
    "--config",
    "-Z",
    "-C",
    "--manifest-path",
    "-p",
    "--package",
    "--rename",
    "--color",
    "--lockfile-path",
];
const GO_VALUE_OPTS: &[&str] = &[
    "-C",
    "-p",
    "-tags",
    "-ldflags",
    "-gcflags",
    "-asmflags",
    "-mod",
    "-modfile",
    "-o",
    "-overlay",
    "-pkgdir",
    "-buildmode",
    "-compiler",
    "-gccgoflags",
    "-installsuffix",
    "-pgo",
    "-toolexec",
];
const GEM_VALUE_OPTS: &[&str] = &[
    "-v",
    "--version",
    "-s",
    "--source",
    "--platform",
    "-i",
    "--install-dir",
    "-n",
    "--bindir",
    "--document",
    "--build-root",
    "-P",
    "--trust-policy",
    "-g",
    "--file",
    "--config-file",
    "--group",
    "--require",
    "--path",
    "--git",
    "--branch",
    "--ref",
    "--glob",
    "--github",
    "--gemfile",
    "-p",
    "--http-proxy",
    "--jobs",
    "-j",
    "--retry",
    "--without",
    "--with",
    "--clear-sources",
];
const NUGET_VALUE_OPTS: &[&str] = &[
    "-v",
    "--version",
    "-version",
    "-Version",
    "-s",
    "--source",
    "-Source",
    "-o",
    "-OutputDirectory",
    "--output",
    "-f",
    "--framework",
    "--package-directory",
    "--configfile",
    "-ConfigFile",
    "-Framework",
    "-FallbackSource",
    "--tool-path",
    "--verbosity",
    "-Verbosity",
    "-c",
    "--configuration",
    "--arch",
    "-a",
    "--add-source",
];

struct Words {
    positional: Vec<String>,
    /// (option, value) pairs of the options in the value list.
    values: Vec<(String, String)>,
    flags: Vec<String>,
}

impl Words {
    fn values_of(&self, names: &[&str]) -> Vec<String> {
        self.values
            .iter()
            .filter(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn has(&self, names: &[&str]) -> bool {
        self.flags.iter().any(|f| names.contains(&f.as_str()))
            || self.values.iter().any(|(k, _)| names.contains(&k.as_str()))
    }
}

/// Splits argv into positional words and options; options listed in
/// `value_opts` take the next word unless written `--opt=value`. Everything
/// after `--` is positional.
fn words(args: &[String], value_opts: &[&str]) -> Words {
    let mut w = Words {
        positional: Vec::new(),
        values: Vec::new(),
        flags: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            w.positional.extend(args[i..].iter().cloned());
            break;
        }
        if a.starts_with('-') && a.len() > 1 {
            if let Some((k, v)) = a.split_once('=') {
                w.values.push((k.to_string(), v.to_string()));
            } else if value_opts.contains(&a.as_str()) {
                if let Some(v) = args.get(i) {
                    w.values.push((a.clone(), v.clone()));
                    i += 1;
                }
            } else {
                w.flags.push(a.clone());
            }
        } else {
            w.positional.push(a.clone());
        }
    }
    w
}

fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && !s.contains("://")
        && !s.starts_with(['.', '/', '~', '\\'])
        && !s.contains(['/', '\\'])
}

/// `x@1.2.3`, `@scope/x@=1.2.3`, `alias@npm:real@1.0.0` → the registry name
/// and the exact version, if one.
fn npm_spec(s: &str) -> Option<(String, Option<String>)> {
    npm_spec_at(s, 0)
}

fn npm_spec_at(s: &str, depth: usize) -> Option<(String, Option<String>)> {
    let s = s.trim();
    if depth > 2
        || s.is_empty()
        || s.contains("://")
        || s.starts_with(['.', '/', '~', '\\'])
        || [
            "git+",
            "git:",
            "file:",
            "link:",
            "github:",
            "gitlab:",
            "bitbucket:",
            "gist:",
            "http:",
            "https:",
            "workspace:",
            "portal:",
            "patch:",
            "exec:",
        ]
        .iter()
        .any(|p| s.starts_with(p))
        || s.ends_with(".tgz")
        || s.ends_with(".tar.gz")
        || s.ends_with(".tar")
    {
        return None;
    }
    let at = if let Some(rest) = s.strip_prefix('@') {
        rest.find('@').map(|i| i + 1)
    } else {
        s.find('@')
    };
    let (name, range) = match at {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if let Some(real) = range.and_then(|r| r.strip_prefix("npm:")) {
        return npm_spec_at(real, depth + 1);
    }
    let scoped = name.starts_with('@') && name.matches('/').count() == 1;
    if name.contains(['\\', ':']) || (!scoped && name.contains('/')) || name == "@" {
        return None;
    }
    Some((name.to_string(), range.and_then(exact_semver)))
}

/// A PEP 508 requirement (or poetry's `name@1.0`): the name and the version
/// when pinned with `==`/`===` (or poetry's bare `@1.0`).
fn py_spec(s: &str) -> Option<(String, Option<String>)> {
    let s = s.trim();
    if s.contains("://")
        || s.starts_with(['.', '/', '~', '\\', '-'])
        || [".whl", ".tar.gz", ".zip", ".tar.bz2"]
            .iter()
            .any(|e| s.ends_with(e))
        || s.starts_with("git+")
    {
        return None;
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .unwrap_or(s.len());
    let name = &s[..end];
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    let mut rest = s[end..].trim_start();
    if rest.starts_with('[') {
        rest = rest.find(']').map_or("", |i| &rest[i + 1..]).trim_start();
    }
    if rest.starts_with('@') && rest[1..].trim_start().contains(':') {
        // `name @ https://…`: a direct URL, not the index.
        return None;
    }
    let pin = rest
        .strip_prefix("===")
        .or_else(|| rest.strip_prefix("=="))
        .or_else(|| rest.strip_prefix('@'))
        .map(|v| {
            v.split([',', ';', ' '])
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .filter(|v| !v.is_empty() && !v.contains(['*', '^', '~', '<', '>', '!', '=']));
    Some((name.to_string(), pin))
}

/// `1.2.3`, `=1.2.3`, `v1.2.3` → `1.2.3`; ranges and tags → `None`.
fn exact_semver(v: &str) -> Option<String> {
    let v = v.trim().trim_start_matches('=').trim_start_matches('v');
    semver::Version::parse(v).ok().map(|x| x.to_string())
}

/// A version written without range operators.
fn exact_plain(v: &str) -> Option<String> {
    let v = v.trim().trim_start_matches('=').trim();
    (!v.is_empty()
        && v.starts_with(|c: char| c.is_ascii_digit())
        && !v.contains(['*', '^', '~', '<', '>', '!', ',', ' ', '[', '(', '=']))
    .then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(tool: &str, args: &[&str], verb: Verb) -> Vec<(String, Option<String>)> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        named(Tool::by_name(tool).unwrap(), &args, verb)
            .into_iter()
            .map(|n| (n.name, n.version))
            .collect()
    }

    fn s(name: &str, v: Option<&str>) -> (String, Option<String>) {
        (name.to_string(), v.map(str::to_string))
    }

    #[test]
    fn table() {
        use Verb::*;
        type Case<'a> = (&'a str, Vec<&'a str>, Verb, Vec<(String, Option<String>)>);
        let cases: Vec<Case> = vec![
            (
                "npm",
                vec![
                    "install",
                    "evil",
                    "ok@1.2.3",
                    "@s/x@^1",
                    "--registry",
                    "http://r.test/",
                    "./local",
                    "a/b",
                    "git+https://x.test/r.git",
                    "al@npm:real@=2.0.0",
                ],
                Install,
                vec![
                    s("evil", None),
                    s("ok", Some("1.2.3")),
                    s("@s/x", None),
                    s("real", Some("2.0.0")),
                ],
            ),
            (
                "npm",
                vec!["i", "--tag", "latest", "x"],
                Install,
                vec![s("x", None)],
            ),
            ("npm", vec!["ci"], Install, vec![]),
            ("npm", vec!["run", "evil"], Other, vec![]),
            (
                "npx",
                vec!["evil@1.0.0", "arg", "other"],
                Execute,
                vec![s("evil", Some("1.0.0"))],
            ),
            (
                "npx",
                vec!["-p", "evil", "cmd", "x"],
                Execute,
                vec![s("evil", None)],
            ),
            (
                "npm",
                vec!["exec", "--", "evil", "x"],
                Execute,
                vec![s("evil", None)],
            ),
            (
                "yarn",
                vec!["global", "add", "evil"],
                Install,
                vec![s("evil", None)],
            ),
            (
                "yarn",
                vec!["workspace", "w", "add", "evil"],
                Install,
                vec![s("evil", None)],
            ),
            (
                "pnpm",
                vec!["add", "-D", "evil@1.0.0", "--filter", "app"],
                Install,
                vec![s("evil", Some("1.0.0"))],
            ),
            (
                "pip",
                vec![
                    "install",
                    "Evil_Pkg==1.0",
                    "ok>=2",
                    "x[extra]===3.0",
                    "-r",
                    "req.txt",
                    "./dir",
                    "pkg @ https://x.test/p.whl",
                    "w-1.0-py3-none-any.whl",
                ],
                Install,
                vec![
                    s("Evil_Pkg", Some("1.0")),
                    s("ok", None),
                    s("x", Some("3.0")),
                ],
            ),
            (
                "pip",
                vec!["install", "a==1.*"],
                Install,
                vec![s("a", None)],
            ),
            (
                "uv",
                vec!["pip", "install", "evil==1.0"],
                Install,
                vec![s("evil", Some("1.0"))],
            ),
            (
                "uv",
                vec!["add", "evil", "--index", "http://x.test/"],
                Install,
                vec![s("evil", None)],
            ),
            (
                "uvx",
                vec!["evil@1.0", "arg"],
                Execute,
                vec![s("evil", Some("1.0"))],
            ),
            (
                "uvx",
                vec!["--from", "evil==2", "cmd"],
                Execute,
                vec![s("evil", Some("2")), s("cmd", None)],
            ),
            (
                "poetry",
                vec!["add", "evil@^1.0", "ok@1.0.0"],
                Install,
                vec![s("evil", None), s("ok", Some("1.0.0"))],
            ),
            (
                "cargo",
                vec!["install", "evil", "--version", "1.2.3"],
                Install,
                vec![s("evil", Some("1.2.3"))],
            ),
            (
                "cargo",
                vec!["add", "evil@1.0.0", "ok"],
                Install,
                vec![s("evil", Some("1.0.0")), s("ok", None)],
            ),
            (
                "cargo",
                vec!["install", "--git", "https://x.test/r", "evil"],
                Install,
                vec![],
            ),
            (
                "go",
                vec!["get", "example.com/evil/pkg/sub@v1.2.3"],
                Install,
                vec![
                    s("example.com/evil/pkg/sub", Some("v1.2.3")),
                    s("example.com/evil/pkg", Some("v1.2.3")),
                    s("example.com/evil", Some("v1.2.3")),
                    s("example.com", Some("v1.2.3")),
                ],
            ),
            (
                "go",
                vec!["install", "example.com/t@latest", "./..."],
                Install,
                vec![s("example.com/t", None), s("example.com", None)],
            ),
            (
                "gem",
                vec!["install", "evil", "-v", "1.0.0"],
                Install,
                vec![s("evil", Some("1.0.0"))],
            ),
            (
                "gem",
                vec!["install", "evil:2.0", "local.gem"],
                Install,
                vec![s("evil", Some("2.0"))],
            ),
            (
                "dotnet",
                vec![
                    "add",
                    "app.csproj",
                    "package",
                    "Evil.Pkg",
                    "--version",
                    "1.0.0",
                ],
                Install,
                vec![s("Evil.Pkg", Some("1.0.0"))],
            ),
            (
                "nuget",
                vec!["install", "Evil", "-Version", "2.0.0"],
                Install,
                vec![s("Evil", Some("2.0.0"))],
            ),
            (
                "mvn",
                vec!["dependency:get", "-Dartifact=org.example:evil:1.0"],
                Install,
                vec![s("org.example:evil", Some("1.0"))],
            ),
        ];
        for (tool, args, verb, want) in cases {
            assert_eq!(n(tool, &args, verb), want, "{tool} {args:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(args in proptest::collection::vec("[-=@:/a-z0-9.\u{e9}\\[\\] ]{0,12}", 0..6)) {
            for t in ["npm", "npx", "yarn", "pip", "uv", "uvx", "cargo", "go", "gem", "dotnet", "nuget", "mvn", "poetry"] {
                let tool = Tool::by_name(t).unwrap();
                for verb in [Verb::Install, Verb::Execute] {
                    let _ = named(tool, &args, verb);
                }
            }
        }
    }
}
