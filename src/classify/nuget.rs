//! nuget, dotnet.
//!
//! Where a restore takes its feeds from, most specific first:
//! - the command line: `--source`/`-s` (dotnet, repeatable), `-Source`
//!   (nuget.exe, `;` lists, case-insensitive, unique prefixes), MSBuild
//!   `-p:RestoreSources=` (also `/p:`, `-property:`, response files and
//!   the nearest `Directory.Build.rsp`);
//! - MSBuild properties: `<RestoreSources>` in the nearest
//!   `Directory.Build.props`/`.targets` and the project files, then the
//!   environment (MSBuild reads every variable as a property);
//! - otherwise NuGet.Config's `<packageSources>`: the files from the project
//!   directory up to the root, then the user file and the machine-wide
//!   `*.config` files (only the machine-wide ones with `--configfile` /
//!   `-ConfigFile` / `RestoreConfigFile`); a `<clear/>` drops what less
//!   specific files add; `<disabledPackageSources>` are skipped; a key names a
//!   source for `-Source name`; `%VAR%` is expanded; relative values are
//!   folders next to the file.
//! - `RestoreAdditionalProjectSources`, `-FallbackSource` and `--add-source`
//!   add feeds; `allowInsecureConnections="true"` is `Insecure`.
//!
//! With no feed at all, NuGet writes its default one: `builtin`.
//! `packages.lock.json` holds no URLs. `<packageSourceMapping>` only narrows
//! which of these feeds a package comes from, so it adds nothing.
//!
//! `dotnet build/run/test/publish/pack` restore first unless `--no-restore`.
//! Forcing: `--source MIRROR` (restore, build, publish, pack, add package,
//! workload), `--property:RestoreSources=MIRROR` (run, test, msbuild),
//! `-Source MIRROR` (nuget.exe): the restore's `RestoreSources` global
//! property, which replaces every NuGet.Config feed and beats project and
//! environment values (dotnet's own `--source` is forwarded as exactly that
//! property; not verified against a real dotnet, which is not installed here).

use std::path::{Path, PathBuf};

use super::maven::xml;
use super::source::{Origin, Source, SourceKind};
use super::{Plan, Request, Verb};

/// dotnet's command and subcommand words, and the index just past them.
fn dotnet_command(args: &[String]) -> (Vec<String>, usize) {
    let mut words = Vec::new();
    let mut end = 0;
    let mut i = 0;
    while i < args.len() && words.len() < 3 {
        let a = &args[i];
        i += 1;
        if a == "--" {
            break;
        }
        if a.starts_with('-') {
            if words.is_empty() {
                continue;
            }
            break;
        }
        let lower = a.to_ascii_lowercase();
        let first = words.first().map(String::as_str);
        let takes_sub = match first {
            None => true,
            Some("tool" | "new" | "workload" | "nuget" | "package" | "reference") => {
                words.len() < 2
            }
            Some("add" | "remove" | "list") => {
                // `dotnet add [PROJECT] package NAME`
                words.len() < 3 && !words.iter().any(|w| w == "package" || w == "reference")
            }
            _ => false,
        };
        if !takes_sub {
            break;
        }
        words.push(lower);
        end = i;
    }
    // `dotnet add PROJECT package`: drop the project from the words.
    if words.first().map(String::as_str) == Some("add") && words.len() == 3 {
        words.remove(1);
    }
    (words, end)
}

fn nuget_command(args: &[String]) -> Option<(usize, String)> {
    args.iter()
        .position(|a| !a.starts_with('-') && !a.starts_with('/'))
        .map(|i| (i, args[i].to_ascii_lowercase()))
}

fn no_restore(args: &[String]) -> bool {
    args.iter().any(|a| a == "--no-restore")
}

pub(super) fn verb(tool: &str, args: &[String]) -> Verb {
    if tool == "nuget" {
        return match nuget_command(args).map(|(_, c)| c).as_deref() {
            Some("install" | "restore" | "update") => Verb::Install,
            Some("push" | "delete") => Verb::Publish,
            _ => Verb::Other,
        };
    }
    let (words, _) = dotnet_command(args);
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["restore", ..] => Verb::Install,
        ["build" | "run" | "test" | "publish" | "pack" | "vstest" | "watch", ..] => {
            if no_restore(args) {
                Verb::Other
            } else {
                Verb::Install
            }
        }
        ["msbuild", ..] => {
            if args.iter().any(|a| {
                let l = a.to_ascii_lowercase();
                l == "-restore" || l == "/restore" || l == "-r" || l.contains(":restore")
            }) {
                Verb::Install
            } else {
                Verb::Other
            }
        }
        ["add", "package", ..] | ["package", "add", ..] | ["package", "update", ..] => {
            Verb::Install
        }
        ["tool", "install" | "update" | "restore", ..] => Verb::Install,
        ["tool", "run" | "exec", ..] | ["dnx", ..] => Verb::Execute,
        ["new", "install" | "update", ..] => Verb::Install,
        ["workload", "install" | "update" | "restore" | "repair", ..] => Verb::Install,
        ["nuget", "push" | "delete", ..] => Verb::Publish,
        _ => Verb::Other,
    }
}

/// How the command can be forced, if at all.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ForceWith {
    SourceFlag,
    Property,
    MsbuildProperty,
    NugetSource,
}

fn force_with(tool: &str, args: &[String]) -> Option<(ForceWith, usize)> {
    if tool == "nuget" {
        let (i, c) = nuget_command(args)?;
        return matches!(c.as_str(), "install" | "restore" | "update")
            .then_some((ForceWith::NugetSource, i + 1));
    }
    let (words, end) = dotnet_command(args);
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let how = match w.as_slice() {
        ["restore" | "build" | "publish" | "pack", ..] => ForceWith::SourceFlag,
        ["add", "package", ..] | ["package", "add", ..] => ForceWith::SourceFlag,
        ["workload", "install" | "update" | "restore" | "repair", ..] => ForceWith::SourceFlag,
        ["run" | "test", ..] => ForceWith::Property,
        ["msbuild", ..] => ForceWith::MsbuildProperty,
        _ => return None,
    };
    // Right after the command words (`dotnet add PROJECT package`: after `package`).
    let at = if w.first() == Some(&"add") {
        args.iter()
            .position(|a| a.eq_ignore_ascii_case("package"))
            .map_or(end, |p| p + 1)
    } else {
        end
    };
    Some((how, at))
}

/// A source value as given: a URL, a folder, or the key of a configured feed.
fn kind_of(v: &str) -> SourceKind {
    let l = v.to_ascii_lowercase();
    if l.contains("://") && !l.starts_with("file://") {
        SourceKind::Registry
    } else {
        SourceKind::Path
    }
}

/// `%VAR%` expansion as NuGet does for config values.
fn expand_vars(s: &str, req: &Request<'_>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(a) = rest.find('%') {
        let Some(b) = rest[a + 1..].find('%') else {
            break;
        };
        let name = &rest[a + 1..a + 1 + b];
        out.push_str(&rest[..a]);
        match req.env.get(name).filter(|_| !name.is_empty()) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[a..a + 2 + b]),
        }
        rest = &rest[a + 2 + b..];
    }
    out.push_str(rest);
    out
}

#[derive(Clone)]
struct Feed {
    key: String,
    value: String,
    origin: Origin,
    insecure: bool,
    base: PathBuf,
}

struct ConfigFile {
    feeds: Vec<Feed>,
    cleared: bool,
    disabled: Vec<String>,
    push: Option<(String, Origin)>,
}

fn read_config(req: &Request<'_>, path: &Path) -> Option<ConfigFile> {
    let text = req.files.read(path)?;
    let root = xml::parse(&text)?;
    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut c = ConfigFile {
        feeds: Vec::new(),
        cleared: false,
        disabled: Vec::new(),
        push: None,
    };
    for ps in root.all("packageSources") {
        for e in &ps.children {
            match e.name.as_str() {
                "clear" => {
                    c.feeds.clear();
                    c.cleared = true;
                }
                "add" => {
                    let (Some(k), Some(v)) = (e.attr("key"), e.attr("value")) else {
                        continue;
                    };
                    c.feeds.retain(|f| !f.key.eq_ignore_ascii_case(k));
                    c.feeds.push(Feed {
                        key: k.to_string(),
                        value: expand_vars(v, req),
                        origin: Origin::file(path, e.line),
                        insecure: e
                            .attr("allowInsecureConnections")
                            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
                        base: base.clone(),
                    });
                }
                "remove" => {
                    if let Some(k) = e.attr("key") {
                        c.feeds.retain(|f| !f.key.eq_ignore_ascii_case(k));
                    }
                }
                _ => {}
            }
        }
    }
    for d in root.path(&["disabledPackageSources", "add"]) {
        if let (Some(k), Some(v)) = (d.attr("key"), d.attr("value")) {
            if v.trim().eq_ignore_ascii_case("true") {
                c.disabled.push(k.to_string());
            }
        }
    }
    for a in root.path(&["config", "add"]) {
        if a.attr("key")
            .is_some_and(|k| k.eq_ignore_ascii_case("defaultPushSource"))
        {
            if let Some(v) = a.attr("value") {
                c.push = Some((expand_vars(v, req), Origin::file(path, a.line)));
            }
        }
    }
    Some(c)
}

const CONFIG_NAMES: &[&str] = &["nuget.config", "NuGet.config", "NuGet.Config"];

/// The NuGet.Config files of a restore, most specific first.
fn config_files(
    req: &Request<'_>,
    start: &Path,
    explicit: Option<PathBuf>,
    windows: bool,
) -> Vec<PathBuf> {
    let mut files = Vec::new();
    match explicit {
        Some(f) => files.push(f),
        None => {
            for d in start.ancestors().take(64) {
                if let Some(p) = CONFIG_NAMES
                    .iter()
                    .map(|n| d.join(n))
                    .find(|p| req.files.read(p).is_some())
                {
                    files.push(p);
                }
            }
            // User-wide.
            if windows {
                if let Some(a) = req.env.get("APPDATA") {
                    let d = PathBuf::from(a).join("NuGet");
                    files.push(d.join("NuGet.Config"));
                    files.extend(config_dir(&d.join("config")));
                }
            } else if let Some(h) = req.home {
                let d = h.join(".nuget").join("NuGet");
                files.push(d.join("NuGet.Config"));
                files.extend(config_dir(&h.join(".nuget").join("config")));
            }
        }
    }
    // Machine-wide.
    let machine = if windows {
        req.env
            .get("ProgramFiles(x86)")
            .or_else(|| req.env.get("ProgramFiles"))
            .map(|p| PathBuf::from(p).join("NuGet").join("Config"))
    } else {
        Some(
            req.env
                .get("NUGET_COMMON_APPLICATION_DATA")
                .map(|p| PathBuf::from(p).join("NuGet").join("Config"))
                .unwrap_or_else(|| PathBuf::from("/etc/opt/NuGet/Config")),
        )
    };
    if let Some(m) = machine {
        files.extend(config_dir(&m));
    }
    files
}

fn config_dir(d: &Path) -> Vec<PathBuf> {
    super::apt::list_dir(d)
        .into_iter()
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("config"))
        })
        .collect()
}

/// One MSBuild property assignment found on a command line or in a file.
struct Prop {
    name: String,
    values: Vec<String>,
    origin: Origin,
}

/// `Name=a;b;Other=c` (the text after `-p:`).
fn msbuild_props(s: &str, origin: &Origin, out: &mut Vec<Prop>) {
    for tok in s.split(';') {
        let tok = tok.trim().trim_matches('"');
        match tok.split_once('=') {
            Some((n, v))
                if !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '-') =>
            {
                out.push(Prop {
                    name: n.to_string(),
                    values: split_sources(v),
                    origin: origin.clone(),
                });
            }
            _ => {
                if let Some(last) = out.last_mut() {
                    last.values.extend(split_sources(tok));
                }
            }
        }
    }
}

fn split_sources(v: &str) -> Vec<String> {
    v.split(';')
        .flat_map(|s| s.split("%3B").flat_map(|t| t.split("%3b")))
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty() && !s.starts_with("$("))
        .collect()
}

/// Options as dotnet / msbuild / nuget.exe spell them.
#[derive(Default)]
struct Args {
    sources: Vec<(String, Origin)>,
    extra: Vec<(String, Origin)>,
    configfile: Option<String>,
    props: Vec<Prop>,
    project: Option<String>,
    insecure: Vec<(String, Origin)>,
    add_source: Vec<(String, Origin)>,
}

fn nuget_exe_opt(name: &str) -> Option<&'static str> {
    const OPTS: &[&str] = &[
        "source",
        "fallbacksource",
        "configfile",
        "solutiondirectory",
        "outputdirectory",
        "packagesdirectory",
        "version",
        "verbosity",
        "msbuildversion",
        "msbuildpath",
        "framework",
        "dependencyversion",
        "packagesavemode",
        "project2projecttimeout",
        "lockfilepath",
        "apikey",
        "symbolsource",
        "symbolapikey",
        "timeout",
    ];
    let n = name.to_ascii_lowercase();
    if let Some(e) = OPTS.iter().find(|o| **o == n) {
        return Some(e);
    }
    let found: Vec<&&str> = OPTS.iter().filter(|o| o.starts_with(&n)).collect();
    match found.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

fn parse_args(
    req: &Request<'_>,
    words: &[(String, Origin)],
    nuget_exe: bool,
    command: &[String],
    a: &mut Args,
    depth: usize,
) {
    let short_source = matches!(
        command.first().map(String::as_str),
        Some("restore" | "add" | "package" | "nuget" | "workload")
    );
    let mut i = 0;
    while i < words.len() {
        let (w, origin) = (&words[i].0, &words[i].1);
        i += 1;
        if w == "--" {
            break;
        }
        let from_flag = |name: &str| match origin {
            Origin::Flag { .. } => Origin::flag(name),
            o => o.clone(),
        };
        if let Some(file) = w.strip_prefix('@') {
            // An MSBuild response file.
            if depth < 4 {
                let p = req.cwd.join(file);
                if let Some(t) = req.files.read(&p) {
                    let ws = words_in(&t, &p);
                    parse_args(req, &ws, nuget_exe, command, a, depth + 1);
                }
            }
            continue;
        }
        if nuget_exe {
            let Some(body) = w.strip_prefix('-').or_else(|| w.strip_prefix('/')) else {
                if a.project.is_none() && i > 1 {
                    a.project = Some(w.clone());
                }
                continue;
            };
            let Some(opt) = nuget_exe_opt(body) else {
                continue;
            };
            let Some(v) = words.get(i).map(|(v, _)| v.clone()) else {
                continue;
            };
            i += 1;
            let o = from_flag(w);
            match opt {
                "source" => a
                    .sources
                    .extend(split_sources(&v).into_iter().map(|s| (s, o.clone()))),
                "fallbacksource" => a
                    .extra
                    .extend(split_sources(&v).into_iter().map(|s| (s, o.clone()))),
                "configfile" => a.configfile = Some(v),
                "solutiondirectory" => a.project = Some(v),
                _ => {}
            }
            continue;
        }
        let lower = w.to_ascii_lowercase();
        // MSBuild properties: -p:, /p:, -property:, /property:, --property:.
        let prop_body = [
            "--property:",
            "-property:",
            "/property:",
            "-p:",
            "/p:",
            "--p:",
        ]
        .iter()
        .find_map(|p| lower.starts_with(p).then(|| &w[p.len()..]));
        if let Some(body) = prop_body {
            msbuild_props(
                body,
                &from_flag(&w[..w.len() - body.len() - 1]),
                &mut a.props,
            );
            continue;
        }
        if matches!(lower.as_str(), "--property" | "-p")
            && command.first().map(String::as_str) != Some("run")
        {
            if let Some((v, _)) = words.get(i) {
                i += 1;
                msbuild_props(v, &from_flag(w), &mut a.props);
            }
            continue;
        }
        let (name, inline) = match w.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (w.clone(), None),
        };
        let value = |i: &mut usize| -> Option<String> {
            if let Some(v) = &inline {
                return Some(v.clone());
            }
            *i += 1;
            words.get(*i - 1).map(|(v, _)| v.clone())
        };
        match name.as_str() {
            "--source" => {
                if let Some(v) = value(&mut i) {
                    a.sources.push((v, from_flag(&name)));
                }
            }
            "-s" if short_source => {
                if let Some(v) = value(&mut i) {
                    a.sources.push((v, from_flag(&name)));
                }
            }
            "--add-source" => {
                if let Some(v) = value(&mut i) {
                    a.add_source.push((v, from_flag(&name)));
                }
            }
            "--configfile" => a.configfile = value(&mut i),
            "--allow-insecure-connections" => a.insecure.push((name.clone(), from_flag(&name))),
            "--project" => a.project = value(&mut i),
            _ if !w.starts_with('-') && a.project.is_none() && looks_like_project(w) => {
                a.project = Some(w.clone());
            }
            _ => {}
        }
    }
}

fn looks_like_project(w: &str) -> bool {
    let l = w.to_ascii_lowercase();
    [
        ".csproj", ".fsproj", ".vbproj", ".proj", ".sln", ".slnx", ".slnf",
    ]
    .iter()
    .any(|e| l.ends_with(e))
        || l.ends_with('/')
        || l.ends_with('\\')
        || l == "."
}

fn words_in(text: &str, path: &Path) -> Vec<(String, Origin)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('#') {
            continue;
        }
        for w in l.split_whitespace() {
            out.push((w.trim_matches('"').to_string(), Origin::file(path, i + 1)));
        }
    }
    out
}

/// `<RestoreSources>` & co in an MSBuild file.
fn file_props(req: &Request<'_>, path: &Path, out: &mut Vec<Prop>) {
    let Some(text) = req.files.read(path) else {
        return;
    };
    let Some(root) = xml::parse(&text) else {
        return;
    };
    for pg in root.all("PropertyGroup") {
        for c in &pg.children {
            if matches!(
                c.name.as_str(),
                "RestoreSources" | "RestoreAdditionalProjectSources" | "RestoreConfigFile"
            ) {
                out.push(Prop {
                    name: c.name.clone(),
                    values: split_sources(c.text.trim()),
                    origin: Origin::file(path, c.line),
                });
            }
        }
    }
}

fn nearest(req: &Request<'_>, start: &Path, name: &str) -> Option<PathBuf> {
    start
        .ancestors()
        .take(64)
        .map(|d| d.join(name))
        .find(|p| req.files.read(p).is_some())
}

pub(super) fn sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let mut out = sources_of(req, verb, cfg!(windows));
    super::source::network_paths(&mut out, cfg!(windows));
    out
}

/// [`sources`] for a tool running on Windows (`windows`) or not: where the
/// user-wide and machine-wide NuGet.Config files are.
fn sources_of(req: &Request<'_>, verb: Verb, windows: bool) -> Vec<Source> {
    let nuget_exe = req.tool.name == "nuget";
    let args = req.args;
    let (command, cmd_end): (Vec<String>, usize) = if nuget_exe {
        match nuget_command(args) {
            Some((i, c)) => (vec![c], i + 1),
            None => (Vec::new(), 0),
        }
    } else {
        dotnet_command(args)
    };
    let words: Vec<(String, Origin)> = args
        .iter()
        .enumerate()
        .filter(|(i, _)| *i >= cmd_end || args[*i].starts_with('-'))
        .map(|(_, w)| (w.clone(), Origin::flag(w.clone())))
        .collect();
    let mut a = Args::default();
    parse_args(req, &words, nuget_exe, &command, &mut a, 0);
    let mut out: Vec<Source> = Vec::new();
    for (v, o) in &a.insecure {
        out.push(Source::new(
            SourceKind::Insecure,
            v.clone(),
            o.clone(),
            "allowInsecureConnections",
        ));
    }
    let cmd: Vec<&str> = command.iter().map(String::as_str).collect();
    // Configuring a feed persists it: report what is added.
    if matches!(
        cmd.as_slice(),
        ["nuget", "add" | "update", ..] | ["sources", ..]
    ) {
        if nuget_exe {
            for (v, o) in &a.sources {
                out.push(Source::new(kind_of(v), v.clone(), o.clone(), "sources add"));
            }
        } else if let Some(v) = args
            .iter()
            .skip(cmd_end)
            .find(|w| !w.starts_with('-') && !w.eq_ignore_ascii_case("source"))
        {
            if cmd.get(1) == Some(&"add") {
                out.push(Source::new(
                    kind_of(v),
                    v.clone(),
                    Origin::arg(v.clone()),
                    "nuget add source",
                ));
            }
        }
        return out;
    }
    if verb == Verb::Other {
        return out;
    }
    let forceable = force_with(req.tool.name, args).is_some();
    let mark = |s: Source| if forceable { s.overridable() } else { s };
    let start = match &a.project {
        Some(p) => {
            let p = req.cwd.join(p);
            if looks_like_project(&p.to_string_lossy())
                && !p.to_string_lossy().ends_with(['/', '\\'])
                && p.extension().is_some()
            {
                p.parent().unwrap_or(req.cwd).to_path_buf()
            } else {
                p
            }
        }
        None => req.cwd.to_path_buf(),
    };
    // MSBuild properties: files (props, projects, targets), then the command
    // line; the environment below both.
    let mut props: Vec<Prop> = Vec::new();
    if !nuget_exe {
        if let Some(rsp) = nearest(req, &start, "Directory.Build.rsp") {
            if let Some(t) = req.files.read(&rsp) {
                let ws = words_in(&t, &rsp);
                let mut b = Args::default();
                parse_args(req, &ws, false, &command, &mut b, 1);
                a.props.splice(0..0, b.props);
                a.sources.extend(b.sources);
            }
        }
    }
    let mut file_level: Vec<Prop> = Vec::new();
    if let Some(p) = nearest(req, &start, "Directory.Build.props") {
        file_props(req, &p, &mut file_level);
    }
    match &a.project {
        Some(p)
            if req
                .cwd
                .join(p)
                .extension()
                .is_some_and(|e| e.to_string_lossy().ends_with("proj")) =>
        {
            file_props(req, &req.cwd.join(p), &mut file_level);
        }
        _ => {
            for p in super::apt::list_dir(&start) {
                if p.extension()
                    .is_some_and(|e| e.to_string_lossy().ends_with("proj"))
                {
                    file_props(req, &p, &mut file_level);
                }
            }
        }
    }
    if let Some(p) = nearest(req, &start, "Directory.Build.targets") {
        file_props(req, &p, &mut file_level);
    }
    let mut env_level: Vec<Prop> = Vec::new();
    for (k, v) in req.env.vars() {
        for name in [
            "RestoreSources",
            "RestoreAdditionalProjectSources",
            "RestoreConfigFile",
        ] {
            if k.eq_ignore_ascii_case(name) {
                env_level.push(Prop {
                    name: name.to_string(),
                    values: split_sources(&v),
                    origin: Origin::env(k.clone()),
                });
            }
        }
    }
    props.extend(env_level);
    props.extend(file_level);
    let cli_props: Vec<Prop> = a.props;
    let last = |list: &[Prop], name: &str| -> Option<usize> {
        list.iter().rposition(|p| p.name.eq_ignore_ascii_case(name))
    };
    // Config files.
    let explicit = a
        .configfile
        .clone()
        .map(|c| req.cwd.join(c))
        .or_else(|| {
            last(&cli_props, "RestoreConfigFile")
                .and_then(|i| cli_props[i].values.first().map(|v| req.cwd.join(v)))
        })
        .or_else(|| {
            last(&props, "RestoreConfigFile")
                .and_then(|i| props[i].values.first().map(|v| start.join(v)))
        });
    let mut feeds: Vec<Feed> = Vec::new();
    let mut disabled: Vec<String> = Vec::new();
    let mut push: Option<(String, Origin)> = None;
    for f in config_files(req, &start, explicit, windows) {
        let Some(c) = read_config(req, &f) else {
            continue;
        };
        for feed in c.feeds {
            if !feeds.iter().any(|x| x.key.eq_ignore_ascii_case(&feed.key)) {
                feeds.push(feed);
            }
        }
        disabled.extend(c.disabled);
        if push.is_none() {
            push = c.push;
        }
        if c.cleared {
            break;
        }
    }
    feeds.retain(|f| !disabled.iter().any(|d| d.eq_ignore_ascii_case(&f.key)));
    let by_key =
        |v: &str| -> Option<&Feed> { feeds.iter().find(|f| f.key.eq_ignore_ascii_case(v)) };
    let feed_source = |f: &Feed| -> Source {
        let v = f.value.clone();
        let kind = kind_of(&v);
        // A relative folder is next to the file (a URL or a UNC path is not
        // a folder name to join).
        let value = if kind == SourceKind::Path
            && !v.contains("://")
            && super::source::network_path(&v, windows).is_none()
        {
            f.base.join(&v).display().to_string()
        } else {
            v
        };
        Source::new(
            kind,
            value,
            f.origin.clone(),
            format!("packageSource {}", f.key),
        )
    };
    for f in &feeds {
        if f.insecure {
            out.push(Source::new(
                SourceKind::Insecure,
                f.value.clone(),
                f.origin.clone(),
                format!("allowInsecureConnections ({})", f.key),
            ));
        }
    }
    if verb == Verb::Publish {
        match a.sources.first() {
            Some((v, o)) => {
                let s = match by_key(v) {
                    Some(f) => Source {
                        origin: o.clone(),
                        ..feed_source(f)
                    },
                    None => Source::new(kind_of(v), v.clone(), o.clone(), "push source"),
                };
                out.push(s);
            }
            None => match push {
                Some((v, o)) => out.push(Source::new(kind_of(&v), v, o, "defaultPushSource")),
                None => out.push(Source::new(
                    SourceKind::Registry,
                    "builtin",
                    Origin::Builtin,
                    "push source",
                )),
            },
        }
        return out;
    }
    // The feeds of the restore.
    let cli_restore = last(&cli_props, "RestoreSources");
    if !a.sources.is_empty() || cli_restore.is_some() {
        let mut given: Vec<(String, Origin)> = a.sources.clone();
        if let Some(i) = cli_restore {
            given.extend(
                cli_props[i]
                    .values
                    .iter()
                    .map(|v| (v.clone(), cli_props[i].origin.clone())),
            );
        }
        for (v, o) in given {
            let s = match by_key(&v) {
                Some(f) => Source {
                    origin: o,
                    ..feed_source(f)
                },
                None => Source::new(kind_of(&v), v.clone(), o, "source"),
            };
            out.push(s);
        }
    } else if let Some(i) = last(&props, "RestoreSources") {
        for v in &props[i].values {
            out.push(mark(Source::new(
                kind_of(v),
                v.clone(),
                props[i].origin.clone(),
                "RestoreSources",
            )));
        }
    } else if feeds.is_empty() {
        out.push(mark(Source::new(
            SourceKind::Registry,
            "builtin",
            Origin::Builtin,
            "packageSources",
        )));
    } else {
        for f in &feeds {
            out.push(mark(feed_source(f)));
        }
    }
    // Feeds added on top.
    for list in [&props, &cli_props] {
        for p in list.iter().filter(|p| {
            p.name
                .eq_ignore_ascii_case("RestoreAdditionalProjectSources")
        }) {
            for v in &p.values {
                out.push(Source::new(
                    kind_of(v),
                    v.clone(),
                    p.origin.clone(),
                    "RestoreAdditionalProjectSources",
                ));
            }
        }
    }
    for (v, o) in a.extra.iter().chain(&a.add_source) {
        let s = match by_key(v) {
            Some(f) => Source {
                origin: o.clone(),
                ..feed_source(f)
            },
            None => Source::new(kind_of(v), v.clone(), o.clone(), "additional source"),
        };
        out.push(if s.kind == SourceKind::Registry {
            Source {
                kind: SourceKind::ExtraIndex,
                ..s
            }
        } else {
            s
        });
    }
    out
}

pub(super) fn force(
    tool: &str,
    args: &[String],
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    let _ = approved;
    let (how, at) = force_with(tool, args)?;
    let mut overridden = Vec::new();
    let mut remaining = Vec::new();
    for s in sources {
        if s.overridable && matches!(s.kind, SourceKind::Registry | SourceKind::Path) {
            overridden.push(s.clone());
        } else {
            remaining.push(s.clone());
        }
    }
    let insert_args = match how {
        ForceWith::SourceFlag => vec!["--source".to_string(), mirror.to_string()],
        ForceWith::Property => vec![format!("--property:RestoreSources={mirror}")],
        ForceWith::MsbuildProperty => vec![format!("-property:RestoreSources={mirror}")],
        ForceWith::NugetSource => vec!["-Source".to_string(), mirror.to_string()],
    };
    Some(Plan {
        insert_args,
        insert_at: at,
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
            cwd: Path::new("/nonexistent-w/sln/app"),
            home: Some(Path::new("/nonexistent-home")),
            real_tool: None,
        };
        sources(&req, verb(tool, &args))
    }

    fn has(got: &[Source], kind: SourceKind, value: &str, origin: &str) -> bool {
        got.iter()
            .any(|s| s.kind == kind && s.value == value && s.origin.to_string() == origin)
    }

    #[test]
    fn verbs() {
        let cases: &[(&str, &[&str], Verb)] = &[
            ("dotnet", &["restore"], Verb::Install),
            ("dotnet", &["build", "-c", "Release"], Verb::Install),
            ("dotnet", &["build", "--no-restore"], Verb::Other),
            (
                "dotnet",
                &["add", "app.csproj", "package", "X"],
                Verb::Install,
            ),
            ("dotnet", &["add", "package", "X"], Verb::Install),
            ("dotnet", &["add", "reference", "../x"], Verb::Other),
            ("dotnet", &["tool", "install", "-g", "x"], Verb::Install),
            ("dotnet", &["tool", "run", "x"], Verb::Execute),
            ("dotnet", &["nuget", "push", "x.nupkg"], Verb::Publish),
            ("dotnet", &["--info"], Verb::Other),
            ("dotnet", &["app.dll"], Verb::Other),
            ("nuget", &["Restore", "x.sln"], Verb::Install),
            ("nuget", &["push", "x.nupkg"], Verb::Publish),
        ];
        for (tool, args, want) in cases {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert_eq!(verb(tool, &args), *want, "{tool} {args:?}");
        }
    }

    const SLN_CFG: &str = "<?xml version=\"1.0\"?>\n<configuration>\n  <packageSources>\n    <add key=\"corp\" value=\"https://corp.test/v3/index.json\" />\n    <add key=\"local\" value=\"./feed\" />\n    <add key=\"plain\" value=\"http://plain.test/\" allowInsecureConnections=\"true\" />\n  </packageSources>\n</configuration>\n";
    const USER_CFG: &str = "<configuration><packageSources><add key=\"user\" value=\"https://user.test/\"/><add key=\"corp\" value=\"https://other.test/\"/></packageSources><disabledPackageSources><add key=\"off\" value=\"true\"/></disabledPackageSources></configuration>";

    #[test]
    fn config_hierarchy_clear_and_flags() {
        let files = [
            ("/nonexistent-w/sln/nuget.config", SLN_CFG),
            ("/nonexistent-home/.nuget/NuGet/NuGet.Config", USER_CFG),
        ];
        let got = run("dotnet", &["restore"], &[], &files);
        let f = "/nonexistent-w/sln/nuget.config";
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "https://corp.test/v3/index.json",
                &format!("{f}:4")
            ),
            "{got:#?}"
        );
        assert!(has(
            &got,
            SourceKind::Path,
            "/nonexistent-w/sln/./feed",
            &format!("{f}:5")
        ));
        assert!(has(
            &got,
            SourceKind::Insecure,
            "http://plain.test/",
            &format!("{f}:6")
        ));
        assert!(got.iter().any(|s| s.value == "https://user.test/"));
        assert!(!got.iter().any(|s| s.value == "https://other.test/"));
        assert!(got
            .iter()
            .filter(|s| s.kind == SourceKind::Registry)
            .all(|s| s.overridable));
        // <clear/> in the solution file drops the user file's feeds.
        let cleared = SLN_CFG.replace("<packageSources>", "<packageSources>\n<clear/>");
        let got = run(
            "dotnet",
            &["build"],
            &[],
            &[("/nonexistent-w/sln/nuget.config", &cleared), files[1]],
        );
        assert!(
            !got.iter().any(|s| s.value == "https://user.test/"),
            "{got:#?}"
        );
        // No config: builtin.
        let got = run("dotnet", &["restore"], &[], &[]);
        assert!(has(
            &got,
            SourceKind::Registry,
            "builtin",
            "the tool's built-in default"
        ));
        // --source replaces the config feeds; a key names a feed.
        let got = run(
            "dotnet",
            &[
                "restore",
                "-s",
                "http://s.test/v3/index.json",
                "--source",
                "corp",
            ],
            &[],
            &files,
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "http://s.test/v3/index.json",
            "the command-line flag -s"
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://corp.test/v3/index.json",
            "the command-line flag --source"
        ));
        assert!(!got.iter().any(|s| s.value == "https://user.test/"));
        assert!(got
            .iter()
            .filter(|s| s.kind == SourceKind::Registry)
            .all(|s| !s.overridable));
        // dotnet test -s is --settings, not a source.
        let got = run("dotnet", &["test", "-s", "x.runsettings"], &[], &[]);
        assert!(!got.iter().any(|s| s.value == "x.runsettings"));
        // --configfile: that file (and machine-wide) only.
        let got = run(
            "dotnet",
            &["restore", "--configfile", "/c/alt.config"],
            &[],
            &[files[0], files[1], ("/c/alt.config", USER_CFG)],
        );
        assert!(got.iter().any(|s| s.value == "https://other.test/"));
        assert!(!got
            .iter()
            .any(|s| s.value == "https://corp.test/v3/index.json"));
    }

    #[test]
    fn msbuild_properties() {
        let got = run("dotnet", &["build", "-p:RestoreSources=https://a.test/v3/index.json%3Bhttps://b.test/;Configuration=Release", "/p:RestoreAdditionalProjectSources=https://c.test/"], &[], &[]);
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "https://a.test/v3/index.json",
                "the command-line flag -p"
            ),
            "{got:#?}"
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://b.test/",
            "the command-line flag -p"
        ));
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://c.test/",
            "the command-line flag /p"
        ));
        let props = "<Project>\n  <PropertyGroup>\n    <RestoreSources>$(RestoreSources);https://d.test/</RestoreSources>\n  </PropertyGroup>\n</Project>";
        let got = run(
            "dotnet",
            &["restore"],
            &[("RestoreAdditionalProjectSources", "https://e.test/")],
            &[
                ("/nonexistent-w/Directory.Build.props", props),
                ("/nonexistent-w/sln/nuget.config", SLN_CFG),
            ],
        );
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "https://d.test/",
                "/nonexistent-w/Directory.Build.props:3"
            ),
            "{got:#?}"
        );
        assert!(!got
            .iter()
            .any(|s| s.value == "https://corp.test/v3/index.json"));
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://e.test/",
            "the environment variable RestoreAdditionalProjectSources"
        ));
        let rsp = run(
            "dotnet",
            &["build"],
            &[],
            &[(
                "/nonexistent-w/sln/Directory.Build.rsp",
                "# flags\n-p:RestoreSources=https://rsp.test/\n",
            )],
        );
        assert!(
            has(
                &rsp,
                SourceKind::Registry,
                "https://rsp.test/",
                "/nonexistent-w/sln/Directory.Build.rsp:2"
            ),
            "{rsp:#?}"
        );
    }

    #[test]
    fn nuget_exe_and_publish() {
        let got = run(
            "nuget",
            &[
                "install",
                "X",
                "-Sou",
                "https://a.test/;https://b.test/",
                "/FallbackSource",
                "https://c.test/",
            ],
            &[],
            &[],
        );
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "https://a.test/",
                "the command-line flag -Sou"
            ),
            "{got:#?}"
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://b.test/",
            "the command-line flag -Sou"
        ));
        assert!(has(
            &got,
            SourceKind::ExtraIndex,
            "https://c.test/",
            "the command-line flag /FallbackSource"
        ));
        let got = run(
            "dotnet",
            &["nuget", "push", "x.nupkg", "-s", "https://push.test/"],
            &[],
            &[],
        );
        assert!(has(
            &got,
            SourceKind::Registry,
            "https://push.test/",
            "the command-line flag -s"
        ));
        let got = run("dotnet", &["nuget", "push", "x.nupkg"], &[], &[]);
        assert!(got.iter().any(|s| s.value == "builtin"));
        let got = run(
            "dotnet",
            &[
                "nuget",
                "add",
                "source",
                "https://new.test/",
                "-n",
                "x",
                "--allow-insecure-connections",
            ],
            &[],
            &[],
        );
        assert!(
            got.iter().any(|s| s.value == "https://new.test/")
                && got.iter().any(|s| s.kind == SourceKind::Insecure)
        );
        let got = run(
            "dotnet",
            &[
                "tool",
                "install",
                "-g",
                "x",
                "--add-source",
                "https://tool.test/",
            ],
            &[],
            &[],
        );
        assert!(has(
            &got,
            SourceKind::ExtraIndex,
            "https://tool.test/",
            "the command-line flag --add-source"
        ));
        assert!(got.iter().all(|s| !s.overridable));
    }

    #[test]
    fn forcing() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let src =
            vec![Source::new(SourceKind::Registry, "builtin", Origin::Builtin, "x").overridable()];
        let p = force(
            "dotnet",
            &a(&["restore", "x.sln"]),
            "http://m/",
            &src,
            &mut |_| false,
        )
        .unwrap();
        assert_eq!(
            (p.insert_at, p.insert_args.clone()),
            (1, a(&["--source", "http://m/"]))
        );
        let p = force(
            "dotnet",
            &a(&["add", "app.csproj", "package", "X"]),
            "http://m/",
            &src,
            &mut |_| false,
        )
        .unwrap();
        assert_eq!(p.insert_at, 3);
        let p = force("dotnet", &a(&["test"]), "http://m/", &src, &mut |_| false).unwrap();
        assert_eq!(p.insert_args, ["--property:RestoreSources=http://m/"]);
        let p = force("nuget", &a(&["restore"]), "http://m/", &src, &mut |_| false).unwrap();
        assert_eq!(
            (p.insert_at, p.insert_args.clone()),
            (1, a(&["-Source", "http://m/"]))
        );
        assert!(force(
            "dotnet",
            &a(&["tool", "install", "x"]),
            "http://m/",
            &src,
            &mut |_| false
        )
        .is_none());
    }

    /// As the Windows build classifies: `%APPDATA%\NuGet\NuGet.Config`
    /// instead of the home directory's; network paths are registries.
    fn run_windows(args: &[&str], env: &[(&str, &str)], files: &[(&str, &str)]) -> Vec<Source> {
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
            tool: Tool::by_name("nuget").unwrap(),
            args: &args,
            env: &env,
            files: &files,
            cwd: Path::new("/c/src/app"),
            home: Some(Path::new("/c/Users/u")),
            real_tool: None,
        };
        let mut out = sources_of(&req, verb("nuget", &args), true);
        crate::classify::source::network_paths(&mut out, true);
        out
    }

    #[test]
    fn windows_locations_and_network_paths() {
        let env = [
            ("APPDATA", "/c/Users/u/AppData/Roaming"),
            ("ProgramFiles(x86)", "/c/pf86"),
        ];
        let user = "/c/Users/u/AppData/Roaming/NuGet/NuGet.Config";
        let home = "/c/Users/u/.nuget/NuGet/NuGet.Config";
        let cfg = |sources: &str| {
            format!(
                "<configuration>\n<packageSources>\n{sources}\n</packageSources>\n</configuration>"
            )
        };
        let user_cfg = cfg(r#"<add key="share" value="\\evil.test\share\feed" />"#);
        let home_cfg = cfg(r#"<add key="home" value="https://home.test/" />"#);
        let files = [(user, user_cfg.as_str()), (home, home_cfg.as_str())];
        let got = run_windows(&["restore"], &env, &files);
        // The UNC feed of %APPDATA%'s file is a registry at file://host/.
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "file://evil.test/share/feed",
                &format!("{user}:3")
            ),
            "{got:#?}"
        );
        // The home directory's file is not NuGet's on Windows.
        assert!(
            !got.iter().any(|s| s.value.contains("home.test")),
            "{got:#?}"
        );

        // A project file found walking up from the cwd, any spelling NuGet
        // looks for, with <clear/>, a disabled feed, a file:// share and a
        // package source mapping (which adds no feed).
        let proj = cfg(concat!(
            "<clear />\n",
            r#"<add key="local" value="..\feeds" />"#,
            "\n",
            r#"<add key="off" value="https://off.test/" />"#,
            "\n",
            r#"<add key="dav" value="file://evil.test/dav/feed" />"#,
        ))
        .replace(
            "</configuration>",
            concat!(
                r#"<disabledPackageSources><add key="OFF" value="true" /></disabledPackageSources>"#,
                r#"<packageSourceMapping><packageSource key="mapped"><package pattern="*" /></packageSource></packageSourceMapping>"#,
                "</configuration>"
            ),
        );
        let files2 = [
            (user, user_cfg.as_str()),
            ("/c/src/NuGet.config", proj.as_str()),
        ];
        let got = run_windows(&["restore", "x.sln"], &env, &files2);
        assert!(
            !got.iter().any(|s| s.value.contains("share")),
            "cleared: {got:#?}"
        );
        assert!(
            !got.iter().any(|s| s.value.contains("off.test")),
            "disabled: {got:#?}"
        );
        assert!(
            !got.iter().any(|s| s.subject.contains("mapped")),
            "{got:#?}"
        );
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "file://evil.test/dav/feed",
                "/c/src/NuGet.config:6"
            ),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|s| s.kind == SourceKind::Path && s.value.ends_with("feeds")),
            "{got:#?}"
        );

        // The command line: a UNC -Source is a registry, a drive folder a path;
        // `/Source` (nuget.exe's other spelling) too.
        let got = run_windows(&["install", "x", "-Source", r"\\evil.test\pkgs"], &env, &[]);
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "file://evil.test/pkgs",
                "the command-line flag -Source"
            ),
            "{got:#?}"
        );
        let got = run_windows(
            &["install", "x", "/source", r"//evil.test/pkgs;C:\feeds"],
            &env,
            &[],
        );
        assert!(
            has(
                &got,
                SourceKind::Registry,
                "file://evil.test/pkgs",
                "the command-line flag /source"
            ),
            "{got:#?}"
        );
        assert!(got
            .iter()
            .any(|s| s.kind == SourceKind::Path && s.value == r"C:\feeds"));
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        for j in [
            "<",
            "<configuration><packageSources><add key=",
            "%%%",
            "<Project><PropertyGroup><RestoreSources>;;;",
            "@@",
            "\u{0}",
        ] {
            for p in [
                "/nonexistent-w/sln/nuget.config",
                "/nonexistent-w/Directory.Build.props",
                "/nonexistent-w/sln/Directory.Build.rsp",
                "/nonexistent-w/sln/app/r.rsp",
            ] {
                let _ = run(
                    "dotnet",
                    &["build", "@r.rsp", "-p:", "--source"],
                    &[("RestoreSources", j)],
                    &[(p, j)],
                );
                let _ = run("nuget", &["restore", "-Source"], &[], &[(p, j)]);
            }
        }
    }
}
