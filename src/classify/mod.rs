//! Classification: what an invocation asks the real tool to do. One adapter
//! per ecosystem; every adapter is a pure function of (tool, argv, env, files)
//! and is table-tested.

mod ini;
mod npm;
mod npmrc;
mod pypi;
pub mod source;
#[cfg(test)]
mod tests;

use std::path::Path;

use serde::Serialize;

use crate::tools::{Ecosystem, Tool};

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
    let (verb, sources) = match req.tool.ecosystem {
        Ecosystem::Npm => {
            let verb = npm::verb(req.tool.name, req.args);
            // yarn, pnpm and bun read other files: their adapters come later;
            // npm and npx are covered.
            let sources = if matches!(req.tool.name, "npm" | "npx") {
                npm::sources(req, verb)
            } else {
                Vec::new()
            };
            (verb, sources)
        }
        Ecosystem::Pypi => {
            let verb = pypi::verb(req.tool.name, req.args);
            let sources = if matches!(req.tool.name, "pip" | "pip3") {
                pypi::sources(req, verb)
            } else {
                Vec::new()
            };
            (verb, sources)
        }
        _ => (generic_verb(req.args), Vec::new()),
    };
    Classification { verb, sources }
}

/// The first argument that is not an option.
pub(crate) fn first_positional(args: &[String]) -> Option<&str> {
    args.iter()
        .map(String::as_str)
        .find(|a| !a.starts_with('-'))
}

fn generic_verb(args: &[String]) -> Verb {
    match first_positional(args) {
        Some(
            "install" | "add" | "update" | "upgrade" | "get" | "restore" | "remove" | "uninstall",
        ) => Verb::Install,
        Some("publish" | "push") => Verb::Publish,
        _ => Verb::Other,
    }
}
