//! The tool names pkgward answers to (compiled in from `shims/tools.toml`)
//! and the ecosystems they belong to.

use std::fmt;

include!(concat!(env!("OUT_DIR"), "/tools.rs"));

/// A package ecosystem: the unit the policy approves registries for.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    Npm,
    Pypi,
    Cargo,
    Go,
    Rubygems,
    Nuget,
    Maven,
    Apt,
    Rpm,
    Choco,
    Winget,
}

impl Ecosystem {
    pub const ALL: [Ecosystem; 11] = [
        Ecosystem::Npm,
        Ecosystem::Pypi,
        Ecosystem::Cargo,
        Ecosystem::Go,
        Ecosystem::Rubygems,
        Ecosystem::Nuget,
        Ecosystem::Maven,
        Ecosystem::Apt,
        Ecosystem::Rpm,
        Ecosystem::Choco,
        Ecosystem::Winget,
    ];

    /// The key used in the policy file (`[registries] npm = …`).
    pub fn key(self) -> &'static str {
        match self {
            Ecosystem::Npm => "npm",
            Ecosystem::Pypi => "pypi",
            Ecosystem::Cargo => "cargo",
            Ecosystem::Go => "go",
            Ecosystem::Rubygems => "rubygems",
            Ecosystem::Nuget => "nuget",
            Ecosystem::Maven => "maven",
            Ecosystem::Apt => "apt",
            Ecosystem::Rpm => "rpm",
            Ecosystem::Choco => "choco",
            Ecosystem::Winget => "winget",
        }
    }

    pub fn from_key(key: &str) -> Option<Ecosystem> {
        Ecosystem::ALL.into_iter().find(|e| e.key() == key)
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A PyPI project name as PyPI compares names (PEP 503): lowercase, every
/// run of `-`, `_` and `.` one `-`.
pub fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// A tool pkgward knows: its canonical (lowercase) name and ecosystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tool {
    pub name: &'static str,
    pub ecosystem: Ecosystem,
    /// Installed as a shim on PATH (false for project wrappers like `gradlew`).
    pub shim: bool,
}

impl Tool {
    /// Looks a tool up by its exact canonical name.
    pub fn by_name(name: &str) -> Option<Tool> {
        TOOL_TABLE
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|&(name, eco, shim)| Tool {
                name,
                ecosystem: Ecosystem::from_key(eco).expect("ecosystem keys in shims/tools.toml"),
                shim,
            })
    }

    /// Every tool that is installed as a shim, in table order.
    pub fn shims() -> impl Iterator<Item = Tool> {
        TOOL_TABLE
            .iter()
            .filter(|(_, _, shim)| *shim)
            .filter_map(|(n, _, _)| Tool::by_name(n))
    }

    /// Identifies the tool an invocation name stands for: the file stem of
    /// `argv[0]` (or of `pkgward run`'s TOOL). On Windows the match is
    /// case-insensitive and an `.exe`/`.cmd`/`.bat`/`.ps1` extension is dropped.
    pub fn from_invocation_name(arg0: &str) -> Option<Tool> {
        let stem = invocation_stem(arg0);
        Tool::by_name(&stem)
    }
}

/// The file stem of an invocation name, as used for dispatch.
pub fn invocation_stem(arg0: &str) -> String {
    // Both separators: a Windows argv[0] may use either.
    let file = arg0.rsplit(['/', '\\']).next().unwrap_or(arg0);
    if !cfg!(windows) {
        return file.to_string();
    }
    let file = file.to_ascii_lowercase();
    for ext in [".exe", ".cmd", ".bat", ".ps1", ".com"] {
        if let Some(stem) = file.strip_suffix(ext) {
            return stem.to_string();
        }
    }
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_issue_tool_is_a_shim() {
        let want = [
            ("npm", "npm"),
            ("npx", "npm"),
            ("yarn", "npm"),
            ("pnpm", "npm"),
            ("pnpx", "npm"),
            ("bun", "npm"),
            ("bunx", "npm"),
            ("pip", "pypi"),
            ("pip3", "pypi"),
            ("uv", "pypi"),
            ("uvx", "pypi"),
            ("poetry", "pypi"),
            ("pipenv", "pypi"),
            ("pipx", "pypi"),
            ("cargo", "cargo"),
            ("go", "go"),
            ("gem", "rubygems"),
            ("bundle", "rubygems"),
            ("nuget", "nuget"),
            ("dotnet", "nuget"),
            ("mvn", "maven"),
            ("gradle", "maven"),
            ("apt", "apt"),
            ("apt-get", "apt"),
            ("yum", "rpm"),
            ("dnf", "rpm"),
            ("choco", "choco"),
            ("winget", "winget"),
        ];
        for (name, eco) in want {
            let tool = Tool::by_name(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(tool.ecosystem.key(), eco, "{name}");
            assert!(tool.shim, "{name} must be a shim");
        }
        assert_eq!(Tool::shims().count(), want.len());
    }

    #[test]
    fn wrappers_are_known_but_not_shims() {
        let t = Tool::by_name("gradlew").unwrap();
        assert_eq!(t.ecosystem, Ecosystem::Maven);
        assert!(!t.shim);
    }

    #[test]
    fn dispatch_uses_the_file_stem() {
        assert_eq!(
            Tool::from_invocation_name("/usr/bin/npm").unwrap().name,
            "npm"
        );
        assert_eq!(Tool::from_invocation_name("pip3").unwrap().name, "pip3");
        assert!(Tool::from_invocation_name("pkgward").is_none());
        assert!(Tool::from_invocation_name("/x/npm-evil").is_none());
        if cfg!(windows) {
            assert_eq!(
                Tool::from_invocation_name(r"C:\x\NPM.EXE").unwrap().name,
                "npm"
            );
        } else {
            // Unix names are case-sensitive, like the real tools.
            assert!(Tool::from_invocation_name("/usr/bin/NPM").is_none());
        }
    }
}
