//! go.
//!
//! The go command takes every source setting from its environment (checked
//! against go 1.19's `cmd/go/internal/cfg` and `modfetch`, and go 1.19 itself):
//! a variable set to a non-empty value in the process environment wins, else
//! the GOENV file (`go env -w` writes it: `$GOENV`, `off` for none, default
//! `os.UserConfigDir()/go/env`), else `$GOROOT/go.env` (go ≥ 1.21: where the
//! toolchain keeps its defaults, GOPROXY's among them), else the compiled-in
//! default. An *empty* variable counts as unset, so an empty value cannot
//! clear a GOENV-file setting (verified): pkgward clears lists with `,` (a
//! list with no patterns) and GOFLAGS with a blank.
//!
//! - `GOPROXY`: `,`- or `|`-separated; each URL is a proxy (`file://` a local
//!   directory), a bare host gets `https://`, `direct` fetches from version
//!   control (a git source, value `direct`), `off` and `direct` end the list.
//!   Unset (or set only by `$GOROOT/go.env`): the `builtin` default.
//! - `GONOPROXY` (default `GOPRIVATE`): module patterns fetched directly,
//!   bypassing the proxy — one git source per pattern, `https://PATTERN`, so a
//!   policy can approve a private host.
//! - Modifiers (`Insecure`): `GOINSECURE`, an explicit `GONOSUMDB`,
//!   `GOSUMDB=off`, `-insecure` in `GOFLAGS` or on the command line. The
//!   checksum-database bypass that `GOPRIVATE` implies for its own patterns
//!   is not one: private modules cannot be in the public database, and their
//!   direct fetches are checked above.
//! - `go.mod` / `go.work` `replace` directives to local directories (paths).
//!   `go.sum` holds no URLs.
//! - `GOTOOLCHAIN` (go ≥ 1.21): a newer toolchain named there or in go.mod
//!   is downloaded as a toolchain module through GOPROXY, so
//!   it is covered by the GOPROXY sources (and by a forced mirror). `GOVCS`
//!   only narrows which version-control tools direct fetches may use.
//!
//! Forcing a mirror: `GOPROXY=<mirror>` (no `direct`), `GONOPROXY` reduced
//! to the approved patterns (`,` when none: `GOPRIVATE` is kept, so private
//! modules still skip the public checksum database, now fetched through the
//! mirror), `GOINSECURE=,`, `GONOSUMDB=,` (an explicit no-checksum list is
//! dropped; modules that then fail verification fail closed), GOFLAGS
//! without `-insecure`, and `GOSUMDB` emptied when only the process
//! environment turned it off (else the GOENV file's `off` would come back,
//! so that case stays checked).

use std::path::{Path, PathBuf};

use super::source::{Origin, Source, SourceKind};
use super::{Plan, Request, Verb};

/// The go command's arguments after `-C dir` (go ≥ 1.20 accepts it first).
fn command_args(args: &[String]) -> &[String] {
    match args.first().map(String::as_str) {
        Some("-C") => args.get(2..).unwrap_or(&[]),
        Some(a) if a.starts_with("-C=") || a.starts_with("--C=") => &args[1..],
        _ => args,
    }
}

fn positionals(args: &[String]) -> impl Iterator<Item = &str> {
    args.iter()
        .map(String::as_str)
        .take_while(|a| *a != "--")
        .filter(|a| !a.starts_with('-'))
}

pub(super) fn verb(args: &[String]) -> Verb {
    let args = command_args(args);
    let mut pos = positionals(args);
    match pos.next() {
        Some(
            "get" | "install" | "build" | "test" | "list" | "vet" | "generate" | "fix" | "tool",
        ) => Verb::Install,
        // `go run pkg@version` fetches and runs; `go run .` builds locally.
        Some("run") => {
            if pos.next().is_some_and(|p| p.contains('@')) {
                Verb::Execute
            } else {
                Verb::Install
            }
        }
        Some("mod") => match pos.next() {
            Some("download" | "tidy" | "vendor" | "graph" | "why" | "verify") => Verb::Install,
            _ => Verb::Other,
        },
        Some("work") => match pos.next() {
            Some("sync" | "vendor") => Verb::Install,
            _ => Verb::Other,
        },
        _ => Verb::Other,
    }
}

/// Where a setting came from.
#[derive(Clone, Debug)]
struct Setting {
    value: String,
    origin: Origin,
    /// Set by `$GOROOT/go.env` (the toolchain's own default).
    toolchain: bool,
}

/// A parsed `KEY=VALUE` file: its path and (line, key, value) entries.
type EnvFile = (PathBuf, Vec<(usize, String, String)>);

/// The three places go reads a setting from, below the process environment.
struct Settings<'r, 'a> {
    req: &'r Request<'a>,
    /// (path, lines) of the GOENV file.
    user: Option<EnvFile>,
    /// (path, lines) of `$GOROOT/go.env`.
    toolchain: Option<EnvFile>,
}

/// `KEY=VALUE` lines as go's `initEnvCache` reads them: a line must start
/// with an upper-case letter and hold `=`; the value is taken raw.
fn parse_env_file(text: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if !line.as_bytes().first().is_some_and(u8::is_ascii_uppercase) {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.push((i + 1, k.to_string(), v.to_string()));
        }
    }
    out
}

/// `os.UserConfigDir()`.
fn user_config_dir(req: &Request<'_>) -> Option<PathBuf> {
    let home = req
        .env
        .get("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| req.home.map(Path::to_path_buf));
    if cfg!(windows) {
        return req
            .env
            .get("AppData")
            .or_else(|| req.env.get("APPDATA"))
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
    }
    if cfg!(target_os = "macos") {
        return home.map(|h| h.join("Library").join("Application Support"));
    }
    match req.env.get("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => Some(PathBuf::from(x)),
        None => home.map(|h| h.join(".config")),
    }
}

impl<'r, 'a> Settings<'r, 'a> {
    fn new(req: &'r Request<'a>) -> Settings<'r, 'a> {
        let user_path = match req.env.get("GOENV").filter(|v| !v.is_empty()) {
            Some(v) if v == "off" => None,
            Some(v) => Some(req.cwd.join(v)),
            None => user_config_dir(req).map(|d| d.join("go").join("env")),
        };
        let read = |p: PathBuf| {
            let text = req.files.read(&p)?;
            Some((p, parse_env_file(&text)))
        };
        let user = user_path.and_then(read);
        let mut s = Settings {
            req,
            user,
            toolchain: None,
        };
        // GOROOT: the environment, the GOENV file, else where the real go
        // binary lives (`$GOROOT/bin/go`).
        let goroot = req
            .env
            .get("GOROOT")
            .filter(|v| !v.is_empty())
            .or_else(|| s.file_value("GOROOT").map(|v| v.value))
            .map(PathBuf::from)
            .or_else(|| {
                req.real_tool
                    .and_then(Path::parent)
                    .and_then(Path::parent)
                    .map(Path::to_path_buf)
            });
        s.toolchain = goroot.and_then(|g| read(g.join("go.env")));
        s
    }

    fn file_value(&self, key: &str) -> Option<Setting> {
        for (file, toolchain) in [(&self.user, false), (&self.toolchain, true)] {
            let Some((path, lines)) = file else { continue };
            if let Some((line, _, v)) = lines.iter().rev().find(|(_, k, _)| k == key) {
                return Some(Setting {
                    value: v.clone(),
                    origin: Origin::file(path, *line),
                    toolchain,
                });
            }
        }
        None
    }

    /// go's `cfg.Getenv`: a non-empty process variable, else the files (a
    /// GOENV-file line hides go.env's even when empty).
    fn get(&self, key: &str) -> Option<Setting> {
        if let Some(v) = self.req.env.get(key).filter(|v| !v.is_empty()) {
            return Some(Setting {
                value: v,
                origin: Origin::env(key),
                toolchain: false,
            });
        }
        self.file_value(key).filter(|s| !s.value.is_empty())
    }
}

/// One GOPROXY element as go's `proxyList` reads it.
fn proxy_source(element: &str, origin: &Origin) -> Option<Source> {
    let url = element.trim();
    if url.is_empty() || url == "off" {
        return None;
    }
    if url == "direct" {
        return Some(
            Source::new(SourceKind::Git, "direct", origin.clone(), "GOPROXY").overridable(),
        );
    }
    let url = if url.contains(['.', ':', '/']) && !url.contains(":/") && !url.starts_with('/') {
        format!("https://{url}")
    } else {
        url.to_string()
    };
    let kind = if url.to_ascii_lowercase().starts_with("file://") {
        SourceKind::Path
    } else {
        SourceKind::Registry
    };
    Some(Source::new(kind, url, origin.clone(), "GOPROXY").overridable())
}

/// Comma-separated module path patterns (`GONOPROXY`, `GOINSECURE`…).
fn patterns(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|p| !p.is_empty())
}

/// `replace … => ./dir` directives of go.mod / go.work.
fn replace_paths(path: &Path, text: &str, out: &mut Vec<Source>) {
    let mut in_block = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split("//").next().unwrap_or("").trim();
        let body = if in_block {
            if line.starts_with(')') {
                in_block = false;
                continue;
            }
            line
        } else if let Some(rest) = line.strip_prefix("replace") {
            let rest = rest.trim_start();
            if rest.starts_with('(') {
                in_block = true;
                continue;
            }
            rest
        } else {
            continue;
        };
        let Some((from, to)) = body.split_once("=>") else {
            continue;
        };
        let target = to.split_whitespace().next().unwrap_or("").trim_matches('"');
        let local = target.starts_with("./")
            || target.starts_with("../")
            || target.starts_with('/')
            || target.starts_with(".\\")
            || target.starts_with("..\\")
            || (target.len() > 2
                && target.as_bytes()[1] == b':'
                && target.as_bytes()[0].is_ascii_alphabetic());
        if local {
            let module = from.split_whitespace().next().unwrap_or("").to_string();
            out.push(Source::new(
                SourceKind::Path,
                target,
                Origin::file(path, i + 1),
                module,
            ));
        }
    }
}

/// Every source a go invocation can use (for commands that resolve modules).
pub(super) fn sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    if !matches!(verb, Verb::Install | Verb::Execute) {
        return Vec::new();
    }
    let cfg = Settings::new(req);
    let mut out = Vec::new();

    // GOPROXY.
    match cfg.get("GOPROXY").filter(|s| !s.toolchain) {
        None => out.push(
            Source::new(SourceKind::Registry, "builtin", Origin::Builtin, "GOPROXY").overridable(),
        ),
        Some(s) => {
            for element in s.value.split([',', '|']) {
                let t = element.trim();
                if let Some(src) = proxy_source(t, &s.origin) {
                    out.push(src);
                }
                if t == "off" || t == "direct" {
                    break;
                }
            }
        }
    }

    // Modules that bypass the proxy.
    let noproxy = cfg
        .get("GONOPROXY")
        .map(|s| ("GONOPROXY", s))
        .or_else(|| cfg.get("GOPRIVATE").map(|s| ("GOPRIVATE", s)));
    if let Some((var, s)) = noproxy {
        for p in patterns(&s.value) {
            out.push(
                Source::new(
                    SourceKind::Git,
                    format!("https://{p}"),
                    s.origin.clone(),
                    var,
                )
                .overridable(),
            );
        }
    }

    // Modifiers that weaken verification or transport.
    for var in ["GOINSECURE", "GONOSUMDB"] {
        if let Some(s) = cfg.get(var) {
            if patterns(&s.value).next().is_some() {
                out.push(Source::new(SourceKind::Insecure, s.value, s.origin, var).overridable());
            }
        }
    }
    if let Some(s) = cfg.get("GOSUMDB") {
        if s.value.trim() == "off" {
            // An empty GOSUMDB set by pkgward only reaches the default when
            // no file below the process environment says `off` as well.
            let from_env = matches!(s.origin, Origin::Env { .. });
            let below_off = cfg
                .file_value("GOSUMDB")
                .is_some_and(|f| f.value.trim() == "off");
            let src = Source::new(SourceKind::Insecure, "off", s.origin, "GOSUMDB");
            out.push(if from_env && !below_off {
                src.overridable()
            } else {
                src
            });
        }
    }
    if let Some(s) = cfg.get("GOFLAGS") {
        if s.value.split_whitespace().any(is_insecure_flag) {
            out.push(Source::new(SourceKind::Insecure, s.value, s.origin, "GOFLAGS").overridable());
        }
    }
    for a in command_args(req.args).iter().take_while(|a| *a != "--") {
        if is_insecure_flag(a) {
            out.push(Source::new(
                SourceKind::Insecure,
                a.as_str(),
                Origin::flag(a.as_str()),
                "insecure",
            ));
        }
    }

    // Local replacements in go.mod and go.work (each found from the working
    // directory upward; `GOWORK` names the workspace file or turns it off).
    let nearest = |name: &str| {
        req.cwd.ancestors().find_map(|d| {
            let p = d.join(name);
            req.files.read(&p).map(|t| (p, t))
        })
    };
    let work = match req.env.get("GOWORK").filter(|v| !v.is_empty()) {
        Some(v) if v == "off" => None,
        Some(v) => {
            let p = req.cwd.join(v);
            req.files.read(&p).map(|t| (p, t))
        }
        None => nearest("go.work"),
    };
    for (p, text) in work.into_iter().chain(nearest("go.mod")) {
        replace_paths(&p, &text, &mut out);
    }
    out
}

fn is_insecure_flag(flag: &str) -> bool {
    let f = flag.trim_start_matches('-');
    flag.starts_with('-') && (f == "insecure" || f == "insecure=true" || f == "insecure=1")
}

fn set(plan: &mut Plan, key: &str, value: String) {
    plan.env.retain(|(k, _)| k != key);
    plan.env.push((key.to_string(), value));
}

/// A list value go reads as "no patterns" (an empty value would fall back
/// to the GOENV file).
const NO_PATTERNS: &str = ",";

/// `[mirrors] go`: see the module documentation.
pub(super) fn force(
    _args: &[String],
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    let mut plan = Plan::default();
    let mut noproxy_kept: Vec<String> = Vec::new();
    let mut noproxy_forced = false;
    let mut goflags: Option<String> = None;
    for s in sources {
        if !s.overridable {
            plan.remaining.push(s.clone());
            continue;
        }
        match (s.kind, s.subject.as_str()) {
            (_, "GOPROXY") => {}
            (SourceKind::Git, "GONOPROXY" | "GOPRIVATE") => {
                if approved(s) {
                    noproxy_kept.push(s.value.trim_start_matches("https://").to_string());
                    plan.remaining.push(s.clone());
                    continue;
                }
                noproxy_forced = true;
            }
            (SourceKind::Insecure, "GOINSECURE" | "GONOSUMDB") => {
                set(&mut plan, &s.subject, NO_PATTERNS.into());
            }
            (SourceKind::Insecure, "GOSUMDB") => set(&mut plan, "GOSUMDB", String::new()),
            (SourceKind::Insecure, "GOFLAGS") => {
                let kept: Vec<&str> = s
                    .value
                    .split_whitespace()
                    .filter(|f| !is_insecure_flag(f))
                    .collect();
                // A blank GOFLAGS replaces the file's value with no flags.
                goflags = Some(if kept.is_empty() {
                    " ".into()
                } else {
                    kept.join(" ")
                });
            }
            _ => {
                plan.remaining.push(s.clone());
                continue;
            }
        }
        plan.overridden.push(s.clone());
    }
    // GOPROXY is always set: the mirror alone, no `direct` fallback.
    set(&mut plan, "GOPROXY", mirror.trim().to_string());
    if noproxy_forced {
        let v = if noproxy_kept.is_empty() {
            NO_PATTERNS.to_string()
        } else {
            noproxy_kept.join(",")
        };
        set(&mut plan, "GONOPROXY", v);
    }
    if let Some(f) = goflags {
        set(&mut plan, "GOFLAGS", f);
    }
    Some(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn verbs() {
        let cases: &[(&[&str], Verb)] = &[
            (&["get", "example.com/x@v1.0.0"], Verb::Install),
            (&["install", "example.com/cmd@latest"], Verb::Install),
            (&["build", "./..."], Verb::Install),
            (&["-C", "sub", "test"], Verb::Install),
            (&["run", "example.com/cmd@v1"], Verb::Execute),
            (&["run", "."], Verb::Install),
            (&["mod", "download"], Verb::Install),
            (&["mod", "init", "x"], Verb::Other),
            (&["work", "sync"], Verb::Install),
            (&["env", "GOPROXY"], Verb::Other),
            (&["version"], Verb::Other),
            (&["fmt", "./..."], Verb::Other),
        ];
        for (args, want) in cases {
            assert_eq!(verb(&strings(args)), *want, "{args:?}");
        }
    }

    use crate::classify::source::fake::{FakeEnv, FakeFiles};
    use crate::tools::Tool;
    use SourceKind::{Git, Insecure, Path as Dir, Registry};

    fn run(args: &[&str], env: &[(&str, &str)], files: &[(&str, &str)]) -> Vec<Source> {
        let env = FakeEnv(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let files = FakeFiles(
            files
                .iter()
                .map(|(p, t)| (PathBuf::from(p), t.to_string()))
                .collect(),
        );
        let args = strings(args);
        let req = Request {
            tool: Tool::by_name("go").unwrap(),
            args: &args,
            env: &env,
            files: &files,
            cwd: Path::new("/w/mod/sub"),
            home: Some(Path::new("/h")),
            real_tool: Some(Path::new("/usr/lib/go/bin/go")),
        };
        sources(&req, verb(&args))
    }

    type Want<'a> = (SourceKind, &'a str, &'a str, bool);

    fn check(got: &[Source], want: &[Want<'_>]) {
        for (kind, value, origin, ov) in want {
            assert!(
                got.iter().any(|s| s.kind == *kind
                    && s.value == *value
                    && s.origin.to_string() == *origin
                    && s.overridable == *ov),
                "want {kind:?} {value} from {origin} (overridable: {ov})\n got {got:#?}"
            );
        }
    }

    const BUILTIN_SRC: Want<'static> = (Registry, "builtin", "the tool's built-in default", true);

    #[test]
    fn goproxy() {
        check(&run(&["build"], &[], &[]), &[BUILTIN_SRC]);
        // The toolchain's go.env holds the default: still `builtin`.
        check(
            &run(
                &["build"],
                &[],
                &[(
                    "/usr/lib/go/go.env",
                    "GOPROXY=https://proxy.example.com,direct\n",
                )],
            ),
            &[BUILTIN_SRC],
        );
        let got = run(
            &["mod", "download"],
            &[(
                "GOPROXY",
                " http://a.test/p | b.test ,direct,http://never.test/",
            )],
            &[],
        );
        check(
            &got,
            &[
                (
                    Registry,
                    "http://a.test/p",
                    "the environment variable GOPROXY",
                    true,
                ),
                (
                    Registry,
                    "https://b.test",
                    "the environment variable GOPROXY",
                    true,
                ),
                (Git, "direct", "the environment variable GOPROXY", true),
            ],
        );
        assert!(!got.iter().any(|s| s.value.contains("never")), "{got:#?}");
        check(
            &run(
                &["get", "x"],
                &[("GOPROXY", "file:///srv/goproxy,off,http://never.test/")],
                &[],
            ),
            &[(
                Dir,
                "file:///srv/goproxy",
                "the environment variable GOPROXY",
                true,
            )],
        );
        assert!(run(&["get", "x"], &[("GOPROXY", "off")], &[]).is_empty());
        // The GOENV file: default place, XDG_CONFIG_HOME, $GOENV; the
        // environment wins; an empty variable does not.
        let file = [("/h/.config/go/env", "GOPROXY=http://file.test/\n")];
        check(
            &run(&["build"], &[], &file),
            &[(Registry, "http://file.test/", "/h/.config/go/env:1", true)],
        );
        check(
            &run(&["build"], &[("GOPROXY", "")], &file),
            &[(Registry, "http://file.test/", "/h/.config/go/env:1", true)],
        );
        check(
            &run(&["build"], &[("GOPROXY", "http://env.test/")], &file),
            &[(
                Registry,
                "http://env.test/",
                "the environment variable GOPROXY",
                true,
            )],
        );
        check(
            &run(
                &["build"],
                &[("XDG_CONFIG_HOME", "/x")],
                &[("/x/go/env", "X=1\nGOPROXY=http://xdg.test/\n")],
            ),
            &[(Registry, "http://xdg.test/", "/x/go/env:2", true)],
        );
        check(
            &run(
                &["build"],
                &[("GOENV", "/etc/goenv")],
                &[("/etc/goenv", "GOPROXY=http://g.test/\n")],
            ),
            &[(Registry, "http://g.test/", "/etc/goenv:1", true)],
        );
        check(&run(&["build"], &[("GOENV", "off")], &file), &[BUILTIN_SRC]);
        // A GOROOT whose go.env was edited is not the builtin default either
        // when the GOENV file names something else.
        check(
            &run(
                &["build"],
                &[("GOROOT", "/opt/go")],
                &[
                    ("/opt/go/go.env", "GOPROXY=http://root.test/\n"),
                    ("/h/.config/go/env", "GOPROXY=\n"),
                ],
            ),
            &[BUILTIN_SRC],
        );
        // Other commands list nothing.
        assert!(run(&["env"], &[("GOPROXY", "http://e.test/")], &[]).is_empty());
    }

    #[test]
    fn private_and_insecure() {
        let got = run(
            &["get", "-insecure", "x"],
            &[
                ("GOPRIVATE", "corp.example.com/*, *.internal.test"),
                ("GOINSECURE", "old.test"),
                ("GOFLAGS", "-mod=mod -insecure"),
                ("GOSUMDB", "off"),
            ],
            &[("/h/.config/go/env", "GONOSUMDB=nosum.test\n")],
        );
        check(
            &got,
            &[
                (
                    Git,
                    "https://corp.example.com/*",
                    "the environment variable GOPRIVATE",
                    true,
                ),
                (
                    Git,
                    "https://*.internal.test",
                    "the environment variable GOPRIVATE",
                    true,
                ),
                (
                    Insecure,
                    "old.test",
                    "the environment variable GOINSECURE",
                    true,
                ),
                (Insecure, "nosum.test", "/h/.config/go/env:1", true),
                (
                    Insecure,
                    "-mod=mod -insecure",
                    "the environment variable GOFLAGS",
                    true,
                ),
                (Insecure, "off", "the environment variable GOSUMDB", true),
                (
                    Insecure,
                    "-insecure",
                    "the command-line flag -insecure",
                    false,
                ),
            ],
        );
        // GONOPROXY wins over GOPRIVATE; `,` lists nothing.
        let got = run(
            &["build"],
            &[("GOPRIVATE", "p.test"), ("GONOPROXY", ",")],
            &[],
        );
        assert!(!got.iter().any(|s| s.kind == Git), "{got:#?}");
        // GOSUMDB=off in the GOENV file as well: an empty variable cannot fix it.
        check(
            &run(
                &["build"],
                &[("GOSUMDB", "off")],
                &[("/h/.config/go/env", "GOSUMDB=off\n")],
            ),
            &[(Insecure, "off", "the environment variable GOSUMDB", false)],
        );
        check(
            &run(&["build"], &[], &[("/h/.config/go/env", "GOSUMDB=off\n")]),
            &[(Insecure, "off", "/h/.config/go/env:1", false)],
        );
        // go.work above go.mod, and GOWORK.
        let ws = [
            (
                "/w/go.work",
                "go 1.22\nuse ./mod\nreplace a.test/w => ./w\n",
            ),
            ("/w/mod/go.mod", "module m\n"),
            ("/elsewhere/go.work", "replace a.test/e => ../e\n"),
        ];
        check(
            &run(&["build"], &[], &ws),
            &[(Dir, "./w", "/w/go.work:3", false)],
        );
        check(
            &run(&["build"], &[("GOWORK", "/elsewhere/go.work")], &ws),
            &[(Dir, "../e", "/elsewhere/go.work:1", false)],
        );
        // go.mod replacements to local directories.
        check(
            &run(
                &["build"],
                &[],
                &[("/w/mod/go.mod", "module m\nreplace a.test/x => ../x\n")],
            ),
            &[(Dir, "../x", "/w/mod/go.mod:2", false)],
        );
    }

    #[test]
    fn forcing() {
        let got = run(
            &["mod", "download"],
            &[
                ("GOPROXY", "http://evil.test/,direct"),
                ("GONOPROXY", "ok.test,evil.test"),
                ("GOINSECURE", "x.test"),
                ("GONOSUMDB", "y.test"),
                ("GOFLAGS", "-mod=mod -insecure"),
                ("GOSUMDB", "off"),
            ],
            &[],
        );
        let mut approved = |s: &Source| s.value == "https://ok.test";
        let plan = force(&[], "http://m.test/go", &got, &mut approved).unwrap();
        let env: std::collections::BTreeMap<&str, &str> = plan
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(env["GOPROXY"], "http://m.test/go");
        assert_eq!(env["GONOPROXY"], "ok.test");
        assert_eq!(env["GOINSECURE"], ",");
        assert_eq!(env["GONOSUMDB"], ",");
        assert_eq!(env["GOFLAGS"], "-mod=mod");
        assert_eq!(env["GOSUMDB"], "");
        assert_eq!(plan.remaining.len(), 1, "{:#?}", plan.remaining);
        assert_eq!(plan.remaining[0].value, "https://ok.test");
        // A command-line -insecure stays checked.
        let got = run(&["get", "-insecure", "x"], &[], &[]);
        let plan = force(&[], "http://m.test/go", &got, &mut |_| false).unwrap();
        assert!(plan.remaining.iter().any(|s| s.kind == Insecure));
        assert_eq!(
            plan.env,
            [("GOPROXY".to_string(), "http://m.test/go".to_string())]
        );
    }

    #[test]
    fn env_file_lines() {
        let got = parse_env_file("# c\nGOPROXY=a\n\nlower=x\nGOPRIVATE=\nBAD\nGOPROXY=b\r\n");
        assert_eq!(
            got,
            vec![
                (2, "GOPROXY".into(), "a".into()),
                (5, "GOPRIVATE".into(), "".into()),
                (7, "GOPROXY".into(), "b\r".into()),
            ]
        );
    }

    #[test]
    fn replace_directives() {
        let mut out = Vec::new();
        replace_paths(
            Path::new("/w/go.mod"),
            "module x\n\nreplace a.test/b => ../b\nreplace (\n\tc.test/d v1 => ./d // local\n\te.test/f => g.test/f v1.0.0\n)\n",
            &mut out,
        );
        let got: Vec<(String, String)> = out
            .iter()
            .map(|s| (s.value.clone(), s.origin.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("../b".to_string(), "/w/go.mod:3".to_string()),
                ("./d".to_string(), "/w/go.mod:5".to_string()),
            ]
        );
    }
}
