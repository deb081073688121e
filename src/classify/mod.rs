//! Classification: what an invocation asks the real tool to do. One adapter
//! per ecosystem; every adapter is a pure function of (tool, argv, env, files)
//! and is table-tested.

// One adapter per tool family. Each has `verb`, `sources` and `force`
// (see the dispatch below); shared readers are `ini`, `npmrc`.
mod apt;
mod bun;
mod cargo;
mod choco;
mod gem;
mod go;
pub(crate) mod ini;
pub(crate) mod maven;
mod npm;
pub(crate) mod npm_argv;
pub(crate) mod npmrc;
mod nuget;
pub mod packages;
mod pnpm;
mod poetry;
pub(crate) use poetry::POETRY_VALUE_OPTS;
mod pypi;

/// pip's options that take a value.
/// `f` of a request for the tool named `tool` with the shim's own
/// environment, the real files and the user's home (the real tool not
/// known); `None` for a name that is no tool.
pub fn with_own_request<T>(
    tool: &str,
    args: &[String],
    cwd: &std::path::Path,
    f: impl FnOnce(&Request<'_>) -> T,
) -> Option<T> {
    let home = dirs::home_dir();
    Some(f(&Request {
        tool: crate::tools::Tool::by_name(tool)?,
        args,
        env: &source::ProcessEnv,
        files: &source::RealFiles,
        cwd,
        home: home.as_deref(),
        real_tool: None,
    }))
}

/// Where pnpm keeps its cache (`pnpm::cache_dirs`).
pub fn pnpm_cache_dirs(req: &Request<'_>) -> Vec<std::path::PathBuf> {
    pnpm::cache_dirs(req)
}

/// Where pnpm keeps its store (`pnpm::store_dirs`).
pub fn pnpm_store_dirs(req: &Request<'_>) -> Vec<std::path::PathBuf> {
    pnpm::store_dirs(req)
}

/// pip's requirement files and editables from its config and environment
/// (`pypi::pip_configured_requirements`).
pub fn pip_configured_requirements(req: &Request<'_>) -> Vec<(String, bool)> {
    pypi::pip_configured_requirements(req)
}

pub fn pypi_value_opts() -> &'static [&'static str] {
    pypi::PIP_VALUE_OPTS
}
pub mod source;
#[cfg(test)]
mod tests;
pub(crate) mod uv;
mod workspaces;
mod yarn;

#[cfg(unix)]
pub(crate) use bun::bunfig_cache_dir;
pub(crate) use yarn::lockfile_in_yaml_form;

use std::path::Path;

use serde::Serialize;

use crate::tools::Tool;

pub use source::{Env, Files, Origin, Source, SourceKind};

/// The broad kind of operation, as far as policy cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    /// Installs, updates, adds or removes packages (fetches and may run install-time code).
    Install,
    /// Fetches a package and executes it (`npx`, `uvx`, `pnpm dlx`, `pipx run`).
    Execute,
    /// Publishes to a registry.
    Publish,
    /// Anything else (`--version`, `list`, `config get`, running project scripts…).
    Other,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Install => "install",
            Verb::Execute => "execute",
            Verb::Publish => "publish",
            Verb::Other => "other",
        }
    }
}

/// The input of a classifier: everything is passed in, nothing is read from
/// the process, so classifiers stay pure.
pub struct Request<'a> {
    pub tool: Tool,
    pub args: &'a [String],
    pub env: &'a dyn Env,
    pub files: &'a dyn Files,
    pub cwd: &'a Path,
    pub home: Option<&'a Path>,
    /// The real tool's resolved (canonical) path, when known: adapters use it
    /// to find the tool's own config files (npm's builtin npmrc, its prefix).
    pub real_tool: Option<&'a Path>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Classification {
    pub verb: Verb,
    /// Every registry source the invocation can use, with its origin.
    pub sources: Vec<Source>,
}

pub fn classify(req: &Request<'_>) -> Classification {
    let args = req.args;
    let (verb, sources) = match req.tool.name {
        "npm" | "npx" => {
            let v = npm::verb(req.tool.name, args);
            (v, npm::sources(req, v))
        }
        "yarn" => {
            let v = yarn::verb(args);
            (v, yarn::sources(req, v))
        }
        "pnpm" | "pnpx" => {
            let v = pnpm::verb(req.tool.name, args);
            (v, pnpm::sources(req, v))
        }
        "bun" | "bunx" => {
            let v = bun::verb(req.tool.name, args);
            (v, bun::sources(req, v))
        }
        "pip" | "pip3" => {
            let v = pypi::verb(req.tool.name, args);
            (v, pypi::sources(req, v))
        }
        "uv" | "uvx" => {
            let v = uv::verb(req.tool.name, args);
            (v, uv::sources(req, v))
        }
        "poetry" | "pipenv" | "pipx" => {
            let v = poetry::verb(req.tool.name, args);
            (v, poetry::sources(req, v))
        }
        "cargo" => {
            let v = cargo::verb(args);
            (v, cargo::sources(req, v))
        }
        "go" => {
            let v = go::verb(args);
            (v, go::sources(req, v))
        }
        "gem" | "bundle" => {
            let v = gem::verb(req.tool.name, args);
            (v, gem::sources(req, v))
        }
        "nuget" | "dotnet" => {
            let v = nuget::verb(req.tool.name, args);
            (v, nuget::sources(req, v))
        }
        "mvn" | "gradle" | "mvnw" | "gradlew" => {
            let v = maven::verb(req.tool.name, args);
            (v, maven::sources(req, v))
        }
        "apt" | "apt-get" | "yum" | "dnf" => {
            let v = apt::verb(req.tool.name, args);
            (v, apt::sources(req, v))
        }
        "choco" | "winget" => {
            let v = choco::verb(req.tool.name, args);
            (v, choco::sources(req, v))
        }
        _ => (generic_verb(args), Vec::new()),
    };
    Classification { verb, sources }
}

/// How pkgward forces a `[mirrors]` entry on one invocation: variables for
/// the tool's environment, arguments to insert, and which sources that
/// replaces. Whatever is not replaced stays to be checked.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub env: Vec<(String, String)>,
    /// Arguments inserted into the tool's argv at `insert_at` (an index into
    /// the arguments after argv[0]).
    pub insert_args: Vec<String>,
    pub insert_at: usize,
    /// Files pkgward generated for the tool (a settings file, an init script):
    /// (path relative to a private directory pkgward creates, contents). The
    /// token `{dir}` in `env` values and `insert_args` stands for that directory.
    pub files: Vec<(String, String)>,
    pub overridden: Vec<Source>,
    pub remaining: Vec<Source>,
}

/// Builds the plan that forces `mirror` for this tool, or `None` when pkgward
/// cannot force a mirror for it (its sources are then checked as they are).
/// `approved` tells whether a source is already approved (left alone).
pub fn force_mirror(
    tool: Tool,
    args: &[String],
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    match tool.name {
        "npm" | "npx" => npm::force(mirror, sources, approved),
        "yarn" => yarn::force(args, mirror, sources, approved),
        "pnpm" | "pnpx" => pnpm::force(args, mirror, sources, approved),
        "bun" | "bunx" => bun::force(args, mirror, sources, approved),
        "pip" | "pip3" => pypi::force(mirror, sources, approved),
        "uv" | "uvx" => uv::force(args, mirror, sources, approved),
        "poetry" | "pipenv" | "pipx" => poetry::force(tool.name, args, mirror, sources, approved),
        "cargo" => cargo::force(args, mirror, sources, approved),
        "go" => go::force(args, mirror, sources, approved),
        "gem" | "bundle" => gem::force(tool.name, args, mirror, sources, approved),
        "nuget" | "dotnet" => nuget::force(tool.name, args, mirror, sources, approved),
        "mvn" | "gradle" | "mvnw" | "gradlew" => {
            maven::force(tool.name, args, mirror, sources, approved)
        }
        "apt" | "apt-get" | "yum" | "dnf" => apt::force(tool.name, args, mirror, sources, approved),
        "choco" | "winget" => choco::force(tool.name, args, mirror, sources, approved),
        _ => None,
    }
}

/// Where pip's command word is in its arguments (past the general options
/// before it and their values).
pub fn pip_command_at(args: &[String]) -> Option<usize> {
    pypi::pip_command_at(args)
}

/// Where uv's command and subcommand words are in its arguments, and the
/// command ([`uv::command_at`]).
pub fn uv_command_at(args: &[String]) -> (String, Vec<usize>) {
    uv::command_at(args)
}

/// The RubyGems command a `gem` command line runs (aliases and unique
/// prefixes resolved: `gem instal` is `install`).
pub fn gem_command(args: &[String]) -> Option<String> {
    gem::command_name(args)
}

/// Whether a `gem` command line's command takes `--http-proxy` (`gem
/// pristine`, `contents`, `build`… reject it).
pub fn gem_takes_http_proxy(args: &[String]) -> bool {
    gem::takes_http_proxy(args)
}

/// The Bundler command a `bundle` command line runs (bare `bundle` is
/// `install`; unique prefixes resolved: `bundle inst` is `install`).
pub fn bundle_command(args: &[String]) -> String {
    gem::bundle_command_name(args)
}

/// npm's `command` (by npm's own name) when it fetches the packages it
/// names and may prepare them, running their scripts (`pack`, `cache`…).
pub fn npm_fetches(command: &str) -> Option<&'static str> {
    npm::NPM_FETCH.iter().copied().find(|c| *c == command)
}

/// The first argument that is not an option.
pub(crate) fn first_positional(args: &[String]) -> Option<&str> {
    args.iter()
        .map(String::as_str)
        .find(|a| !a.starts_with('-'))
}

pub(super) fn generic_verb(args: &[String]) -> Verb {
    match first_positional(args) {
        Some(
            "install" | "add" | "update" | "upgrade" | "get" | "restore" | "remove" | "uninstall",
        ) => Verb::Install,
        Some("publish" | "push") => Verb::Publish,
        _ => Verb::Other,
    }
}
