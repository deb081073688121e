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

// ---- reading the command line as the tool does --------------------------
//
// Which package runs is told by where the tool's own parser finds it, so an
// option's value must never be taken for the package (`npx --tag APPROVED
// EVIL` runs EVIL) nor the package for an option's value. npm's command
// line is read as npm reads it ([`crate::classify::npm_argv`]: nopt over
// npm 11's config definitions), npx's as its own pre-parser does first
// ([`npx_reading`]); the others' options are listed with what they take
// (uv 0.13's, pnpm 12's, yarn 4's, bun 1.4's and pipx's). An option
// pkgward does not know may take the next word or not (another version of
// the tool): both readings are checked, so every package either one would
// run must be approved.

/// The options of one command line (see above).
struct Grammar {
    /// Options whose value is a package the tool fetches and runs the
    /// command from (the command is then one of its binaries).
    package: &'static [&'static str],
    /// Options whose value is a package fetched besides the command's own
    /// (uv's `--with`).
    extra: &'static [&'static str],
    /// Options that take a value (the next word when not `--opt=value`).
    value: &'static [&'static str],
    /// Options that take none.
    switch: &'static [&'static str],
    /// Other options that take a value, as a classifier knows them.
    takes: Option<fn(&str) -> bool>,
}

/// `pnpm [global options] dlx|create …` / `pnpx …`.
const PNPM: Grammar = Grammar {
    package: &["--package"],
    extra: &[],
    value: &[
        "--dir",
        "-C",
        "--filter",
        "-F",
        "--filter-prod",
        "--test-pattern",
        "--changed-files-ignore-pattern",
        "--reporter",
        "--loglevel",
        "--registry",
        "--allow-build",
        "--cpu",
        "--os",
        "--libc",
        "--store-dir",
        "--cache-dir",
        "--virtual-store-dir",
        "--global-dir",
        "--workspace-concurrency",
        "--env-file",
    ],
    switch: &[
        "--shell-mode",
        "-c",
        "--silent",
        "-s",
        "--workspace-root",
        "-w",
        "--recursive",
        "-r",
        "--stream",
        "--aggregate-output",
        "--use-stderr",
        "--color",
        "--no-color",
        "--help",
        "-h",
        "--version",
        "-v",
        "--parallel",
        "--ignore-scripts",
        "--offline",
        "--prefer-offline",
    ],
    takes: None,
};

/// `yarn [--cwd DIR] dlx|create …` (yarn 4).
const YARN: Grammar = Grammar {
    package: &["--package", "-p"],
    extra: &[],
    value: &["--cwd"],
    switch: &["--quiet", "-q", "--help", "-h", "--version", "-v"],
    takes: None,
};

/// `bunx …` / `bun [options] x|create …` (bun 1.4).
const BUN: Grammar = Grammar {
    package: &["--package", "-p"],
    extra: &[],
    value: &[
        "--registry",
        "--cwd",
        "--minimum-release-age",
        "--env-file",
        "--ca",
        "--cafile",
        "--config",
        "-c",
    ],
    switch: &[
        "--bun",
        "-b",
        "--verbose",
        "--silent",
        "--no-install",
        "--trust",
        "--ignore-scripts",
        "--no-env-file",
        "--help",
        "-h",
        "--version",
        "-v",
    ],
    takes: None,
};

/// `uvx …` / `uv [global options] tool run …` (uv 0.13).
const UV: Grammar = Grammar {
    package: &["--from"],
    extra: &["--with", "-w"],
    // The other options that take a value: uv's own table
    // ([`crate::classify::uv`]).
    value: &["--with-requirements", "--with-editable"],
    switch: &[
        "--isolated",
        "--no-env-file",
        "--lfs",
        "--version",
        "-V",
        "--no-index",
        "--upgrade",
        "-U",
        "--no-sources",
        "--reinstall",
        "--compile-bytecode",
        "--no-build-isolation",
        "--no-build",
        "--no-binary",
        "--require-build-hashes",
        "--no-require-build-hashes",
        "--no-cache",
        "-n",
        "--refresh",
        "--managed-python",
        "--no-managed-python",
        "--no-python-downloads",
        "--quiet",
        "-q",
        "--verbose",
        "-v",
        "--system-certs",
        "--offline",
        "--no-progress",
        "--no-config",
        "--help",
        "-h",
        "--native-tls",
        "--preview",
        "--no-preview",
    ],
    takes: Some(crate::classify::uv::tool_run_takes_value),
};

/// `pipx [options] run …`.
const PIPX: Grammar = Grammar {
    package: &["--spec"],
    extra: &[],
    value: &["--python", "--index-url", "-i", "--pip-args", "--backend"],
    switch: &[
        "--no-cache",
        "--pypackages",
        "--path",
        "--verbose",
        "-v",
        "--quiet",
        "-q",
        "--help",
        "-h",
        "--version",
        "--fetch-missing-python",
        "--system-site-packages",
    ],
    takes: None,
};

/// One way the tool can read the words before `--`: the positional words
/// in order, and the values of package options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Reading {
    words: Vec<String>,
    packages: Vec<String>,
    extra: Vec<String>,
}

/// More readings than this: the command line is refused as unreadable.
const MAX_READINGS: usize = 64;

/// Every reading of `opts` under `g` (see above); `None`: too many.
fn readings(g: &Grammar, opts: &[String]) -> Option<Vec<Reading>> {
    // Each reading with where it is in `opts`; every step moves it on.
    let mut todo = vec![(Reading::default(), 0usize)];
    let mut done: Vec<Reading> = Vec::new();
    while let Some((mut r, pos)) = todo.pop() {
        let Some(a) = opts.get(pos) else {
            done.push(r);
            continue;
        };
        let next = opts.get(pos + 1);
        let mut step = 1;
        if !a.starts_with('-') || a == "-" {
            r.words.push(a.clone());
        } else if let Some((k, v)) = a.split_once('=') {
            if g.package.contains(&k) {
                r.packages.push(v.to_string());
            } else if g.extra.contains(&k) {
                r.extra.push(v.to_string());
            }
        } else if g.package.contains(&a.as_str()) || g.extra.contains(&a.as_str()) {
            if let Some(v) = next {
                if g.package.contains(&a.as_str()) {
                    r.packages.push(v.clone());
                } else {
                    r.extra.push(v.clone());
                }
            }
            step = 2;
        } else if g.value.contains(&a.as_str()) || g.takes.is_some_and(|t| t(a)) {
            step = 2;
        } else if !g.switch.contains(&a.as_str()) && next.is_some_and(|w| !w.starts_with('-')) {
            // Not known: with the next word as its value, and without.
            todo.push((r.clone(), pos + 2));
        }
        todo.push((r, pos + step));
        if todo.len() + done.len() > MAX_READINGS {
            return None;
        }
    }
    done.sort_by(|a, b| (&a.words, &a.packages, &a.extra).cmp(&(&b.words, &b.packages, &b.extra)));
    done.dedup();
    Some(done)
}

/// npx's reading: its own pre-parser (npm's `bin/npx-cli.js`) finds the
/// command first — the first word that is not an option or an option's
/// value, where every option but npm's switches (and `--no-install`,
/// `--quiet`, `--version`, `--help`) takes the next word unless it starts
/// with `-` (`--package`, `-p`, `--call`, `-c`, `--cache`, `--userconfig`,
/// `--shell` take it always); shorthands (`-y`: `--yes`, `-w`:
/// `--workspace`) are expanded first. `-p`/`--package` name the packages.
fn npx_reading(opts: &[String]) -> Reading {
    use crate::classify::npm_argv;
    const SWITCHES: &[&str] = &[
        "always-spawn",
        "ignore-existing",
        "shell-auto-fallback",
        "no-install",
        "quiet",
        "q",
        "version",
        "v",
        "help",
        "h",
    ];
    const VALUES: &[&str] = &[
        "npm",
        "node-arg",
        "n",
        "package",
        "p",
        "cache",
        "userconfig",
        "call",
        "c",
        "shell",
    ];
    let mut args: Vec<String> = opts.to_vec();
    let mut r = Reading::default();
    let mut i = 0;
    let mut rereads = 0;
    while i < args.len() {
        let arg = args[i].clone();
        if !arg.starts_with('-') {
            r.words.push(arg);
            r.words.extend(args[i + 1..].iter().cloned());
            return r;
        }
        let body = arg.trim_start_matches('-');
        let (key, value) = match body.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (body, None),
        };
        if !matches!(key, "p" | "shell" | "no-install") {
            if let Some(exp) = npm_argv::shorthand(key).filter(|_| rereads < 1000) {
                let mut exp: Vec<String> = exp.iter().map(|s| s.to_string()).collect();
                if let Some(v) = value {
                    exp.push(v.to_string());
                }
                args.splice(i..=i, exp);
                rereads += 1;
                continue;
            }
        }
        let next = args.get(i + 1);
        if matches!(key, "p" | "package") {
            match value {
                Some(v) => r.packages.push(v.to_string()),
                None => r.packages.extend(next.cloned()),
            }
        }
        let switch = npm_argv::is_switch(key) || SWITCHES.contains(&key);
        if value.is_none()
            && !switch
            && (VALUES.contains(&key) || next.is_some_and(|n| !n.starts_with('-')))
        {
            i += 1;
        }
        i += 1;
    }
    r
}

/// `npm …`'s readings: as npm reads it ([`crate::classify::npm_argv`]),
/// and, for each option npm 11 does not know (a switch to it), also with
/// the next word as its value (a later npm's option). `None`: more than
/// [`MAX_READINGS`].
fn npm_readings(opts: &[String]) -> Option<Vec<Reading>> {
    use crate::classify::npm_argv;
    let unknown: Vec<usize> = opts
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            a.starts_with('-')
                && a.len() > 1
                && !a.contains('=')
                && !a.bytes().all(|b| b == b'-')
                && !npm_argv::knows(a)
                && opts.get(i + 1).is_some_and(|n| !n.starts_with('-'))
        })
        .map(|(i, _)| i)
        .collect();
    if 1usize.checked_shl(unknown.len() as u32)? > MAX_READINGS {
        return None;
    }
    let mut out = Vec::new();
    for mask in 0..1usize << unknown.len() {
        let mut args: Vec<String> = Vec::with_capacity(opts.len());
        let mut skip = false;
        for (i, a) in opts.iter().enumerate() {
            if skip {
                skip = false;
                continue;
            }
            match unknown.iter().position(|u| *u == i) {
                Some(n) if mask & (1 << n) != 0 => {
                    args.push(format!("{a}={}", opts[i + 1]));
                    skip = true;
                }
                _ => args.push(a.clone()),
            }
        }
        let argv = npm_argv::parse(&args);
        let mut words = argv.positionals;
        // The subcommand by npm's own name (`exe`, `x` → `exec`).
        if let Some(first) = words.first_mut() {
            if let Some(c) = npm_argv::deref(first) {
                *first = c.to_string();
            }
        }
        out.push(Reading {
            words,
            packages: argv
                .options
                .iter()
                .filter(|(k, _)| k == "package")
                .map(|(_, v)| v.clone())
                .collect(),
            extra: Vec::new(),
        });
    }
    out.sort_by(|a, b| (&a.words, &a.packages).cmp(&(&b.words, &b.packages)));
    out.dedup();
    Some(out)
}

/// The target of a command line pkgward cannot read ([`targets`]).
const UNREADABLE: &str = "(a package pkgward cannot tell from the command line)";

/// The packages an invocation fetches and executes (empty: none). A
/// command line whose options cannot be read is taken as executing an
/// unknown package ([`UNREADABLE`]), which no approval matches.
pub fn targets(tool: Tool, args: &[String], cwd: &Path) -> Vec<String> {
    let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let (opts, rest) = (&args[..at], &args[at..]);
    let reads = match tool.name {
        "npx" => Some(vec![npx_reading(opts)]),
        "npm" => npm_readings(opts),
        "pnpx" | "pnpm" => readings(&PNPM, opts),
        "yarn" => readings(&YARN, opts),
        "bunx" | "bun" => readings(&BUN, opts),
        "uvx" | "uv" => readings(&UV, opts),
        "pipx" => readings(&PIPX, opts),
        _ => return Vec::new(),
    };
    let Some(reads) = reads else {
        return vec![UNREADABLE.to_string()];
    };
    let mut out: Vec<String> = Vec::new();
    for r in reads {
        let words: Vec<&str> = r.words.iter().map(String::as_str).collect();
        let Some((sub, cmd_at)) = subcommand(tool.name, &words) else {
            continue;
        };
        let cmd = words
            .get(cmd_at)
            .copied()
            .or_else(|| rest.get(1).map(String::as_str));
        // `npm init NAME`, `npm|yarn|pnpm|bun create NAME` run create-NAME.
        if sub == Sub::Init {
            if let Some(name) = words.get(cmd_at) {
                out.push(initializer(tool, name));
            }
            continue;
        }
        out.extend(r.extra.iter().cloned());
        // With explicit packages the command is one of their binaries.
        if !r.packages.is_empty() {
            out.extend(r.packages.iter().cloned());
            continue;
        }
        if let Some(c) = cmd {
            if tool.ecosystem == Ecosystem::Npm && local_bin(cwd, c) {
                continue;
            }
            out.push(c.to_string());
        }
    }
    let mut out: Vec<String> = out
        .into_iter()
        .map(|s| package_name(tool.ecosystem, &s))
        .filter(|s| !s.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sub {
    /// Fetches and runs the command's package.
    Exec,
    /// Fetches and runs `create-NAME` ([`initializer`]).
    Init,
}

/// What the first words make of `tool`'s command line, and where the
/// command (or initializer name) is; `None`: it executes nothing fetched.
fn subcommand(tool: &str, words: &[&str]) -> Option<(Sub, usize)> {
    let first = words.first().copied().unwrap_or("");
    match tool {
        "npx" | "pnpx" | "bunx" | "uvx" => Some((Sub::Exec, 0)),
        // (npm's words come deref'd: [`npm_readings`].)
        "npm" if first == "exec" => Some((Sub::Exec, 1)),
        "npm" if first == "init" => Some((Sub::Init, 1)),
        "pnpm" | "yarn" if first == "dlx" => Some((Sub::Exec, 1)),
        "pnpm" | "yarn" if first == "create" => Some((Sub::Init, 1)),
        "bun" if first == "x" => Some((Sub::Exec, 1)),
        "bun" if matches!(first, "create" | "c") => Some((Sub::Init, 1)),
        "uv" if words.starts_with(&["tool", "run"]) => Some((Sub::Exec, 2)),
        "pipx" if first == "run" => Some((Sub::Exec, 1)),
        _ => None,
    }
}

/// `npm init NAME` / `npm create NAME` (and `yarn create`, `pnpm create`,
/// `bun create`) fetch and run the package `create-NAME` (`@s` →
/// `@s/create`, `@s/x` → `@s/create-x`).
fn initializer(tool: Tool, name: &str) -> String {
    if name.contains("://") || name.starts_with(['.', '/']) {
        return name.to_string();
    }
    let bare = package_name(Ecosystem::Npm, name);
    match bare.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, pkg)) => format!("@{scope}/create-{pkg}"),
            None => format!("@{scoped}/create"),
        },
        None if bare.starts_with("create-") && tool.name == "bun" => bare,
        None => format!("create-{bare}"),
    }
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
            message: if t == UNREADABLE {
                format!(
                    "`{}`'s options cannot be read unambiguously, so pkgward cannot tell which \
                     package it fetches and executes (`scripts.exec = \"deny\"`, {set_at}); \
                     write options that take a value as `--name=value`",
                    tool.name
                )
            } else if is_name(eco, &t) {
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

    /// An option's value is never taken for the package, nor the package
    /// for a value: every package a reading of the tool would run is a
    /// target.
    #[test]
    fn options_are_read_as_the_tool_reads_them() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            // npx: npm's options that take a value, its own pre-parser (an
            // option it does not know takes the next word).
            ("npx", &["--tag", "ok", "evil"], &["evil"]),
            ("npx", &["--loglevel", "warn", "evil"], &["evil"]),
            ("npx", &["--prefix", "/x", "evil"], &["evil"]),
            ("npx", &["-w", "ws", "evil"], &["evil"]),
            ("npx", &["--made-up", "ok", "evil"], &["evil"]),
            ("npx", &["--yes", "ok", "arg"], &["ok"]),
            ("npx", &["-y", "--quiet", "ok", "arg"], &["ok"]),
            ("npx", &["--yes", "true", "evil"], &["true"]),
            // npm exec / x / init: npm's parser; an unknown option either way.
            ("npm", &["--prefix", "/x", "exec", "evil"], &["evil"]),
            ("npm", &["--loglevel", "warn", "x", "evil"], &["evil"]),
            ("npm", &["exec", "--tag", "ok", "evil"], &["evil"]),
            ("npm", &["exe", "evil"], &["evil"]),
            ("npm", &["exec", "--yes", "true", "evil"], &["evil"]),
            ("npm", &["exec", "--made-up", "ok", "evil"], &["evil", "ok"]),
            ("npm", &["--made-up", "exec", "evil"], &["evil"]),
            ("npm", &["--prefix", "/x", "init", "evil"], &["create-evil"]),
            ("npm", &["cre", "evil"], &["create-evil"]),
            ("npm", &["--prefix", "/x", "install", "evil"], &[]),
            // pnpm, yarn, bun: their global options before the command.
            ("pnpm", &["-C", "/x", "dlx", "evil"], &["evil"]),
            ("pnpm", &["--dir", "dlx", "dlx", "evil"], &["evil"]),
            (
                "pnpm",
                &["--filter", "a", "create", "evil"],
                &["create-evil"],
            ),
            ("pnpm", &["dlx", "--allow-build", "ok", "evil"], &["evil"]),
            ("pnpx", &["--reporter", "ok", "evil"], &["evil"]),
            ("yarn", &["--cwd", "/x", "dlx", "evil"], &["evil"]),
            ("bun", &["--cwd", "/x", "x", "evil"], &["evil"]),
            ("bunx", &["--config", "ok", "evil"], &["evil"]),
            ("bunx", &["--made-up", "ok", "evil"], &["evil", "ok"]),
            // uv: every option that takes a value; `-w` is `--with`.
            ("uvx", &["--cache-dir", "ok", "evil"], &["evil"]),
            ("uvx", &["-w", "ok", "evil"], &["evil", "ok"]),
            ("uvx", &["--with=ok", "evil"], &["evil", "ok"]),
            ("uvx", &["--with", "a", "--from", "b", "cmd"], &["a", "b"]),
            (
                "uv",
                &["--directory", "/x", "tool", "run", "evil"],
                &["evil"],
            ),
            (
                "uv",
                &["--project", "tool", "tool", "run", "evil"],
                &["evil"],
            ),
            ("uv", &["--directory", "/x", "pip", "install", "x"], &[]),
            ("pipx", &["--python", "3", "run", "evil"], &["evil"]),
            ("pipx", &["run", "--pip-args", "ok", "evil"], &["evil"]),
        ];
        for (tool, args, want) in cases {
            let mut got = t(tool, args);
            got.sort();
            let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            want.sort();
            assert_eq!(got, want, "{tool} {args:?}");
        }
        // A command line with too many readings is not guessed at.
        let many: Vec<&str> = (0..8).flat_map(|_| ["--made-up", "w"]).collect();
        assert_eq!(t("bunx", &many), [UNREADABLE]);
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
