//! choco, winget.
//!
//! choco: without `-s`/`--source` (also `-source`, `--source=…`, `-s=…`;
//! a `;`-separated list of URLs, folders, configured source names or an
//! alternative source such as `python`) the enabled `<source>`s of
//! `$ChocolateyInstall/config/chocolatey.config` are used, else the built-in
//! feed; with it, only those (the documented "defaults to default feeds").
//! A `packages.config` argument may give each package a `source`.
//! `--ignore-checksums`, `--allow-empty-checksums(-secure)` and the config
//! features `checksumFiles` off / `allowEmptyChecksums(Secure)` on are
//! `Insecure`; `choco source add -s URL` and `choco push -s URL` are
//! reported. Forcing: `--source=MIRROR` right after the command word (a
//! `--source` the user typed comes later and wins, and stays checked).
//!
//! winget: sources are names (`-s winget`, `-s msstore` are the built-in
//! ones; any other name is reported as written and cannot be approved by
//! URL); `winget source add NAME URL` / `--arg URL`, `winget import`'s
//! `SourceDetails.Argument`, a local `--manifest`'s `InstallerUrl`s, and
//! `--ignore-security-hash` / `--ignore-local-archive-malware-scan`
//! (`Insecure`). winget cannot be pointed at a URL from its command line,
//! so it is not forced.

use std::path::{Path, PathBuf};

use super::maven::xml;
use super::source::{Origin, Source, SourceKind};
use super::{Plan, Request, Verb};

fn command(args: &[String]) -> Option<(usize, String)> {
    args.iter()
        .position(|a| !a.starts_with('-') && !a.starts_with('/'))
        .map(|i| (i, args[i].to_ascii_lowercase()))
}

pub(super) fn verb(tool: &str, args: &[String]) -> Verb {
    let c = command(args).map(|(_, c)| c);
    if tool == "winget" {
        return match c.as_deref() {
            Some(
                "install" | "add" | "upgrade" | "update" | "uninstall" | "remove" | "rm"
                | "download" | "import" | "repair",
            ) => Verb::Install,
            _ => Verb::Other,
        };
    }
    match c.as_deref() {
        Some("install" | "upgrade" | "uninstall" | "download" | "update" | "sync") => Verb::Install,
        Some("push") => Verb::Publish,
        _ => Verb::Other,
    }
}

/// A choco option as typed (`-s`, `--source`, `-source`, `/source`), with an
/// attached `=value`.
fn choco_opt(a: &str) -> Option<(String, Option<String>)> {
    let body = a
        .strip_prefix("--")
        .or_else(|| a.strip_prefix('-'))
        .or_else(|| a.strip_prefix('/'))?;
    let (n, v) = match body.split_once(['=', ':']) {
        Some((n, v)) if !n.is_empty() => (n, Some(v.to_string())),
        _ => (body, None),
    };
    Some((n.to_ascii_lowercase(), v))
}

const CHOCO_VALUE: &[&str] = &[
    "s",
    "source",
    "version",
    "u",
    "user",
    "p",
    "password",
    "cert",
    "cp",
    "certpassword",
    "ia",
    "installargs",
    "installarguments",
    "installargumentsparams",
    "params",
    "parameters",
    "pkgparameters",
    "packageparameters",
    "packageparams",
    "timeout",
    "executiontimeout",
    "cache",
    "cachelocation",
    "n",
    "name",
    "priority",
    "k",
    "key",
    "apikey",
    "api-key",
    "out",
    "outdir",
    "outputdirectory",
    "override",
    "overrideargs",
    "proxy",
    "proxy-user",
    "proxy-password",
    "proxy-bypass-list",
    "log-file",
];

/// `$ChocolateyInstall\config\chocolatey.config`; without the variable,
/// where the installer puts choco: `%ProgramData%\chocolatey` on Windows.
fn choco_config_path(req: &Request<'_>, windows: bool) -> PathBuf {
    let set = |k: &str| req.env.get(k).filter(|v| !v.trim().is_empty());
    let base = match set("ChocolateyInstall") {
        Some(v) => PathBuf::from(v),
        None if windows => {
            let data = set("ProgramData")
                .or_else(|| set("ALLUSERSPROFILE"))
                .unwrap_or_else(|| "C:\\ProgramData".to_string());
            PathBuf::from(data).join("chocolatey")
        }
        None => PathBuf::from("/opt/chocolatey"),
    };
    base.join("config").join("chocolatey.config")
}

fn kind_of(v: &str) -> SourceKind {
    let l = v.to_ascii_lowercase();
    if l.contains("://") && !l.starts_with("file:") {
        SourceKind::Registry
    } else if l.starts_with("file:")
        || l.starts_with('.')
        || l.starts_with('/')
        || l.starts_with('\\')
        || (l.len() > 2 && l.as_bytes()[1] == b':' && l.as_bytes()[0].is_ascii_alphabetic())
    {
        SourceKind::Path
    } else {
        // A source name or an alternative source (`python`, `windowsfeatures`…).
        SourceKind::Registry
    }
}

pub(super) fn sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let mut out = if req.tool.name == "winget" {
        winget_sources(req, verb)
    } else {
        choco_sources(req, verb, cfg!(windows))
    };
    super::source::network_paths(&mut out, cfg!(windows));
    out
}

fn choco_sources(req: &Request<'_>, verb: Verb, windows: bool) -> Vec<Source> {
    let args = req.args;
    let cmd = command(args).map(|(_, c)| c).unwrap_or_default();
    let mut out = Vec::new();
    let mut given: Vec<(String, Origin)> = Vec::new();
    let mut positional: Vec<&String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        let Some((name, inline)) = choco_opt(a) else {
            positional.push(a);
            continue;
        };
        let takes = CHOCO_VALUE.contains(&name.as_str());
        let value = match (&inline, takes) {
            (Some(v), _) => Some(v.clone()),
            (None, true) => {
                i += 1;
                args.get(i - 1).cloned()
            }
            _ => None,
        };
        match name.as_str() {
            "s" | "source" => {
                if let Some(v) = value {
                    // The last --source given wins.
                    given = v
                        .split([';', ','])
                        .map(|s| s.trim().trim_matches(['"', '\'']).to_string())
                        .filter(|s| !s.is_empty())
                        .map(|s| (s, Origin::flag(a.split(['=', ':']).next().unwrap_or(a))))
                        .collect();
                }
            }
            "ignore-checksums"
            | "ignorechecksums"
            | "allow-empty-checksums"
            | "allowemptychecksums"
            | "allow-empty-checksums-secure"
            | "allowemptychecksumssecure" => out.push(Source::new(
                SourceKind::Insecure,
                a.clone(),
                Origin::flag(a.clone()),
                name.clone(),
            )),
            _ => {}
        }
    }
    // The config file: sources and features.
    let cfg = choco_config_path(req, windows);
    let mut configured: Vec<(String, String, Origin)> = Vec::new();
    if let Some(root) = req.files.read(&cfg).and_then(|t| xml::parse(&t)) {
        for s in root.path(&["sources", "source"]) {
            let disabled = s
                .attr("disabled")
                .is_some_and(|d| d.eq_ignore_ascii_case("true"));
            if let (Some(id), Some(v), false) = (s.attr("id"), s.attr("value"), disabled) {
                configured.push((id.to_string(), v.to_string(), Origin::file(&cfg, s.line)));
            }
        }
        for f in root.path(&["features", "feature"]) {
            let name = f.attr("name").unwrap_or("").to_ascii_lowercase();
            let enabled = f
                .attr("enabled")
                .is_some_and(|e| e.eq_ignore_ascii_case("true"));
            let weak = match name.as_str() {
                "checksumfiles" => !enabled,
                "allowemptychecksums" | "allowemptychecksumssecure" => enabled,
                _ => false,
            };
            if weak {
                out.push(Source::new(
                    SourceKind::Insecure,
                    format!("{name} = {enabled}"),
                    Origin::file(&cfg, f.line),
                    format!("feature {name}"),
                ));
            }
        }
    }
    let resolve = |v: &str, o: Origin| -> Source {
        match configured
            .iter()
            .find(|(id, _, _)| id.eq_ignore_ascii_case(v))
        {
            Some((id, url, _)) => Source::new(kind_of(url), url.clone(), o, format!("source {id}")),
            None => Source::new(kind_of(v), v, o, "source"),
        }
    };
    if cmd == "source" || cmd == "sources" {
        // `choco source add -n x -s URL` persists a feed.
        for (v, o) in given {
            out.push(Source::new(kind_of(&v), v, o, "source add"));
        }
        return out;
    }
    if verb == Verb::Publish {
        match given.first() {
            Some((v, o)) => out.push(resolve(v, o.clone())),
            None => out.push(Source::new(
                SourceKind::Registry,
                "builtin",
                Origin::Builtin,
                "push source",
            )),
        }
        return out;
    }
    let remote = verb == Verb::Install
        || matches!(
            cmd.as_str(),
            "search" | "find" | "list" | "info" | "outdated"
        );
    if !remote {
        return out;
    }
    if given.is_empty() {
        if configured.is_empty() {
            out.push(
                Source::new(SourceKind::Registry, "builtin", Origin::Builtin, "source")
                    .overridable(),
            );
        }
        for (id, v, o) in &configured {
            out.push(
                Source::new(kind_of(v), v.clone(), o.clone(), format!("source {id}")).overridable(),
            );
        }
    } else {
        for (v, o) in &given {
            out.push(resolve(v, o.clone()));
        }
    }
    // packages.config arguments: per-package sources.
    for p in positional.iter().skip(1) {
        if p.to_ascii_lowercase().ends_with(".config") {
            let path = req.cwd.join(p.as_str());
            if let Some(root) = req.files.read(&path).and_then(|t| xml::parse(&t)) {
                for pkg in root.all("package") {
                    if let Some(s) = pkg.attr("source") {
                        for v in s.split(';').filter(|v| !v.trim().is_empty()) {
                            out.push(Source::new(
                                kind_of(v),
                                v.trim(),
                                Origin::file(&path, pkg.line),
                                pkg.attr("id").unwrap_or("").to_string(),
                            ));
                        }
                    }
                }
            }
        } else if p.contains("://") {
            out.push(Source::new(
                SourceKind::Direct,
                p.as_str(),
                Origin::arg(p.as_str()),
                "",
            ));
        } else if p.to_ascii_lowercase().ends_with(".nupkg")
            || p.to_ascii_lowercase().ends_with(".nuspec")
        {
            out.push(Source::new(
                SourceKind::Path,
                p.as_str(),
                Origin::arg(p.as_str()),
                "",
            ));
        }
    }
    out
}

fn winget_sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let args = req.args;
    let cmd = command(args).map(|(_, c)| c).unwrap_or_default();
    let mut out = Vec::new();
    let mut source: Option<(String, Origin)> = None;
    let mut manifest: Option<String> = None;
    let mut import: Option<String> = None;
    let mut arg_url: Option<(String, Origin)> = None;
    let mut positional: Vec<&String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if !a.starts_with('-') {
            positional.push(a);
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n.to_ascii_lowercase(), Some(v.to_string())),
            None => (a.to_ascii_lowercase(), None),
        };
        let mut value = || -> Option<String> {
            if let Some(v) = &inline {
                return Some(v.clone());
            }
            i += 1;
            args.get(i - 1).cloned()
        };
        match name.as_str() {
            "-s" | "--source" => source = value().map(|v| (v, Origin::flag(name.clone()))),
            "-m" | "--manifest" => manifest = value(),
            "-i" | "--import-file" => import = value(),
            "-a" | "--arg" => arg_url = value().map(|v| (v, Origin::flag(name.clone()))),
            "--ignore-security-hash" | "--ignore-local-archive-malware-scan" => {
                out.push(Source::new(
                    SourceKind::Insecure,
                    a.clone(),
                    Origin::flag(a.clone()),
                    name.trim_start_matches('-'),
                ))
            }
            "--enable" if cmd == "settings" => {
                if let Some(v) = value() {
                    if matches!(
                        v.to_ascii_lowercase().as_str(),
                        "installerhashoverride"
                            | "bypasscertificatepinningformicrosoftstore"
                            | "localarchivemalwarescanoverride"
                    ) {
                        out.push(Source::new(
                            SourceKind::Insecure,
                            v.clone(),
                            Origin::flag("--enable"),
                            "admin setting",
                        ));
                    }
                }
            }
            "-q"
            | "--query"
            | "--id"
            | "--name"
            | "--moniker"
            | "-v"
            | "--version"
            | "-l"
            | "--location"
            | "-o"
            | "--log"
            | "--override"
            | "--custom"
            | "--scope"
            | "--architecture"
            | "--locale"
            | "--header"
            | "-n"
            | "--type"
            | "-t"
            | "--installer-type"
            | "-d"
            | "--download-directory"
            | "--authentication-mode"
            | "--authentication-account"
            | "--product-code"
            | "-e" => {
                let _ = value();
            }
            _ => {}
        }
    }
    if cmd == "source" {
        // `winget source add NAME URL` / `--arg URL`.
        let url = arg_url.or_else(|| {
            positional
                .iter()
                .skip(2)
                .nth(1)
                .map(|u| (u.to_string(), Origin::arg(u.to_string())))
        });
        if positional
            .get(1)
            .is_some_and(|s| s.eq_ignore_ascii_case("add"))
        {
            if let Some((u, o)) = url {
                out.push(Source::new(kind_of(&u), u, o, "source add"));
            }
        }
        return out;
    }
    if let Some(f) = import {
        let p = req.cwd.join(&f);
        if let Some(t) = req.files.read(&p) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&t) {
                for s in v
                    .get("Sources")
                    .and_then(|s| s.as_array())
                    .into_iter()
                    .flatten()
                {
                    if let Some(u) = s
                        .pointer("/SourceDetails/Argument")
                        .and_then(|u| u.as_str())
                    {
                        let line = t.lines().position(|l| l.contains(u)).map_or(0, |l| l + 1);
                        out.push(Source::new(
                            kind_of(u),
                            u,
                            Origin::file(&p, line),
                            "import source",
                        ));
                    }
                }
            }
        }
    }
    if let Some(m) = manifest {
        let p = req.cwd.join(&m);
        let files: Vec<PathBuf> = if req.files.read(&p).is_some() {
            vec![p.clone()]
        } else {
            super::apt::list_dir(&p)
        };
        for f in files {
            if let Some(t) = req.files.read(&f) {
                manifest_urls(&t, &f, &mut out);
            }
        }
        return out;
    }
    if verb != Verb::Install
        && !matches!(
            cmd.as_str(),
            "search" | "find" | "show" | "view" | "list" | "ls"
        )
    {
        return out;
    }
    match source {
        Some((s, o)) if s.eq_ignore_ascii_case("winget") || s.eq_ignore_ascii_case("msstore") => {
            let _ = o;
            out.push(Source::new(
                SourceKind::Registry,
                "builtin",
                Origin::Builtin,
                format!("source {s}"),
            ));
        }
        Some((s, o)) => out.push(Source::new(kind_of(&s), s, o, "source")),
        None => out.push(Source::new(
            SourceKind::Registry,
            "builtin",
            Origin::Builtin,
            "source",
        )),
    }
    out
}

/// `InstallerUrl:` lines of a winget manifest (YAML).
fn manifest_urls(text: &str, path: &Path, out: &mut Vec<Source>) {
    for (i, line) in text.lines().enumerate() {
        let t = line.trim().trim_start_matches("- ");
        if let Some(v) = t.strip_prefix("InstallerUrl:") {
            let v = v.trim().trim_matches(['"', '\'']);
            if !v.is_empty() {
                out.push(Source::new(
                    SourceKind::Direct,
                    v,
                    Origin::file(path, i + 1),
                    "InstallerUrl",
                ));
            }
        }
    }
}

pub(super) fn force(
    tool: &str,
    args: &[String],
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    let _ = approved;
    if tool == "winget" {
        return None;
    }
    let (at, cmd) = command(args)?;
    if !matches!(
        cmd.as_str(),
        "install"
            | "upgrade"
            | "download"
            | "search"
            | "find"
            | "list"
            | "info"
            | "outdated"
            | "update"
    ) {
        return None;
    }
    let mut overridden = Vec::new();
    let mut remaining = Vec::new();
    for s in sources {
        if s.overridable {
            overridden.push(s.clone());
        } else {
            remaining.push(s.clone());
        }
    }
    Some(Plan {
        insert_args: vec![format!("--source={mirror}")],
        insert_at: at + 1,
        overridden,
        remaining,
        ..Plan::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::source::fake::{FakeEnv, FakeFiles};
    use crate::tools::Tool;
    use std::collections::BTreeMap;

    fn run(tool: &str, args: &[&str], env: &[(&str, &str)], files: &[(&str, &str)]) -> Vec<Source> {
        let env = FakeEnv(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let files = FakeFiles(
            files
                .iter()
                .map(|(p, t)| (PathBuf::from(p), t.to_string()))
                .collect::<BTreeMap<_, _>>(),
        );
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let req = Request {
            tool: Tool::by_name(tool).unwrap(),
            args: &args,
            env: &env,
            files: &files,
            cwd: Path::new("/w"),
            home: Some(Path::new("/home/u")),
            real_tool: None,
        };
        sources(&req, verb(tool, &args))
    }

    fn has(got: &[Source], kind: SourceKind, value: &str, origin: &str) -> bool {
        got.iter()
            .any(|s| s.kind == kind && s.value == value && s.origin.to_string() == origin)
    }

    const CFG: &str = "<?xml version=\"1.0\"?>\n<chocolatey>\n  <sources>\n    <source id=\"chocolatey\" value=\"https://community.test/api/v2/\" disabled=\"false\" />\n    <source id=\"corp\" value=\"https://corp.test/nuget/\" />\n    <source id=\"old\" value=\"https://old.test/\" disabled=\"true\" />\n  </sources>\n  <features>\n    <feature name=\"checksumFiles\" enabled=\"false\" />\n  </features>\n</chocolatey>\n";

    #[test]
    fn choco() {
        let files = [("/cfg/config/chocolatey.config", CFG)];
        let env = [("ChocolateyInstall", "/cfg")];
        let got = run("choco", &["install", "git", "-y"], &env, &files);
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "https://community.test/api/v2/",
                "/cfg/config/chocolatey.config:4"
            ),
            "{got:#?}"
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://corp.test/nuget/",
            "/cfg/config/chocolatey.config:5"
        ));
        assert!(!got.iter().any(|s| s.value.contains("old.test")));
        assert!(has(
            &got,
            SourceKind::Insecure,
            "checksumfiles = false",
            "/cfg/config/chocolatey.config:9"
        ));
        let got = run(
            "choco",
            &[
                "install",
                "git",
                "--source=\"https://a.test/;corp\"",
                "--ignore-checksums",
            ],
            &env,
            &files,
        );
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "https://a.test/",
                "the command-line flag --source"
            ),
            "{got:#?}"
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://corp.test/nuget/",
            "the command-line flag --source"
        ));
        assert!(!got.iter().any(|s| s.value.contains("community.test")));
        assert!(got
            .iter()
            .any(|s| s.kind == SourceKind::Insecure && s.value == "--ignore-checksums"));
        let got = run("choco", &["upgrade", "all", "-s", "python"], &[], &[]);
        assert!(has(
            &got,
            SourceKind::Registry,
            "python",
            "the command-line flag -s"
        ));
        let got = run("choco", &["install", "git"], &[], &[]);
        assert!(got.iter().any(|s| s.value == "builtin" && s.overridable));
        let got = run(
            "choco",
            &["install", "pkgs.config"],
            &[],
            &[(
                "/w/pkgs.config",
                "<packages>\n<package id=\"x\" source=\"https://p.test/\"/>\n</packages>",
            )],
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://p.test/",
            "/w/pkgs.config:2"
        ));
        let got = run(
            "choco",
            &["source", "add", "-n=evil", "-s=https://evil.test/"],
            &[],
            &[],
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://evil.test/",
            "the command-line flag -s"
        ));
        let args: Vec<String> = ["install", "git"].iter().map(|s| s.to_string()).collect();
        let p = force(
            "choco",
            &args,
            "https://m.test/",
            &run("choco", &["install", "git"], &env, &files),
            &mut |_| false,
        )
        .unwrap();
        assert_eq!(
            (p.insert_at, p.insert_args.clone()),
            (1, vec!["--source=https://m.test/".to_string()])
        );
        assert_eq!(p.overridden.len(), 2);
    }

    #[test]
    fn choco_on_windows() {
        let run_windows = |args: &[&str], env: &[(&str, &str)], files: &[(&str, &str)]| {
            let env = FakeEnv(
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
            let files = FakeFiles(
                files
                    .iter()
                    .map(|(p, t)| (PathBuf::from(p), t.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            );
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            let req = Request {
                tool: Tool::by_name("choco").unwrap(),
                args: &args,
                env: &env,
                files: &files,
                cwd: Path::new("/w"),
                home: None,
                real_tool: None,
            };
            let mut out = choco_sources(&req, verb("choco", &args), true);
            crate::classify::source::network_paths(&mut out, true);
            out
        };
        // Without ChocolateyInstall: %ProgramData%\chocolatey\config.
        let cfg = "/pd/chocolatey/config/chocolatey.config";
        let text = CFG.replace(
            "<source id=\"corp\" value=\"https://corp.test/nuget/\" />",
            "<source id=\"corp\" value=\"\\\\corp-share\\choco\" />",
        );
        let got = run_windows(
            &["install", "git"],
            &[("ProgramData", "/pd")],
            &[(cfg, &text)],
        );
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "file://corp-share/choco",
                &format!("{cfg}:5")
            ),
            "{got:#?}"
        );
        assert!(got.iter().all(|s| s.kind != SourceKind::Path), "{got:#?}");
        // Named on the command line: resolved through the same file.
        let got = run_windows(
            &["install", "git", "--source='corp;C:\\pkgs'"],
            &[("ProgramData", "/pd")],
            &[(cfg, &text)],
        );
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "file://corp-share/choco",
                "the command-line flag --source"
            ),
            "{got:#?}"
        );
        assert!(got
            .iter()
            .any(|s| s.kind == SourceKind::Path && s.value == "C:\\pkgs"));
        // A UNC source typed on the command line.
        let got = run_windows(&["install", "git", "-s", "\\\\evil.test\\pkgs"], &[], &[]);
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "file://evil.test/pkgs",
                "the command-line flag -s"
            ),
            "{got:#?}"
        );
        // Without either variable: C:\ProgramData.
        let got = run_windows(&["install", "git"], &[], &[]);
        assert!(got.iter().any(|s| s.is_builtin()));
        let req_env = FakeEnv(Default::default());
        let files = FakeFiles(Default::default());
        let req = Request {
            tool: Tool::by_name("choco").unwrap(),
            args: &[],
            env: &req_env,
            files: &files,
            cwd: Path::new("/w"),
            home: None,
            real_tool: None,
        };
        assert_eq!(
            choco_config_path(&req, true),
            Path::new("C:\\ProgramData")
                .join("chocolatey")
                .join("config")
                .join("chocolatey.config")
        );
    }

    #[test]
    fn winget() {
        let got = run("winget", &["install", "x", "-s", "winget"], &[], &[]);
        assert!(got.iter().any(|s| s.value == "builtin"));
        let got = run(
            "winget",
            &["install", "x", "--source", "corp", "--ignore-security-hash"],
            &[],
            &[],
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "corp",
            "the command-line flag --source"
        ));
        assert!(got.iter().any(|s| s.kind == SourceKind::Insecure));
        let got = run(
            "winget",
            &["source", "add", "corp", "https://corp.test/cache"],
            &[],
            &[],
        );
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "https://corp.test/cache",
                "the command-line argument `https://corp.test/cache`"
            ),
            "{got:#?}"
        );
        let got = run(
            "winget",
            &["install", "--manifest", "m.yaml"],
            &[],
            &[(
                "/w/m.yaml",
                "Installers:\n  - Architecture: x64\n    InstallerUrl: https://dl.test/x.exe\n",
            )],
        );
        assert!(has(
            &got,
            SourceKind::Direct,
            "https://dl.test/x.exe",
            "/w/m.yaml:3"
        ));
        let got = run("winget", &["import", "-i", "p.json"], &[], &[("/w/p.json", "{\"Sources\":[{\"SourceDetails\":{\"Argument\":\"https://imp.test/\",\"Name\":\"x\"},\"Packages\":[]}]}")]);
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://imp.test/",
            "/w/p.json:1"
        ));
        assert!(force("winget", &[], "https://m/", &got, &mut |_| false).is_none());
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        for j in [
            "<",
            "<chocolatey><sources><source id=",
            "{",
            "InstallerUrl:",
            "\u{0}",
        ] {
            for p in [
                "/cfg/config/chocolatey.config",
                "/w/p.json",
                "/w/m.yaml",
                "/w/x.config",
            ] {
                let _ = run(
                    "choco",
                    &["install", "x.config", "-s"],
                    &[("ChocolateyInstall", "/cfg")],
                    &[(p, j)],
                );
                let _ = run(
                    "winget",
                    &["import", "-i", "p.json", "-m", "m.yaml", "-s"],
                    &[],
                    &[(p, j)],
                );
            }
        }
    }
}
