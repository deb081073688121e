//! pip, pip3, uv, uvx, poetry, pipenv, pipx.

use super::{first_positional, Verb};

pub(super) fn verb(tool: &str, args: &[String]) -> Verb {
    let first = first_positional(args);
    match tool {
        "uvx" => Verb::Execute,
        "pip" | "pip3" => match first {
            Some("install" | "download" | "wheel" | "uninstall") => Verb::Install,
            _ => Verb::Other,
        },
        "uv" => match first {
            Some("add" | "remove" | "sync" | "lock" | "pip" | "venv") => Verb::Install,
            Some("tool") => match args
                .iter()
                .filter(|a| !a.starts_with('-'))
                .nth(1)
                .map(String::as_str)
            {
                Some("run") => Verb::Execute,
                Some("install" | "upgrade") => Verb::Install,
                _ => Verb::Other,
            },
            Some("run") => Verb::Execute,
            Some("publish") => Verb::Publish,
            _ => Verb::Other,
        },
        "poetry" => match first {
            Some("install" | "add" | "update" | "remove" | "lock" | "sync") => Verb::Install,
            Some("publish") => Verb::Publish,
            _ => Verb::Other,
        },
        "pipenv" => match first {
            Some("install" | "update" | "upgrade" | "sync" | "uninstall" | "lock") => Verb::Install,
            _ => Verb::Other,
        },
        "pipx" => match first {
            Some("run") => Verb::Execute,
            Some(
                "install" | "upgrade" | "upgrade-all" | "inject" | "reinstall" | "reinstall-all",
            ) => Verb::Install,
            _ => Verb::Other,
        },
        _ => Verb::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &[&str], Verb)] = &[
            ("pip", &["install", "six"], Verb::Install),
            ("pip3", &["-q", "download", "six"], Verb::Install),
            ("pip", &["--version"], Verb::Other),
            ("pip", &["list"], Verb::Other),
            ("uv", &["pip", "install", "x"], Verb::Install),
            ("uv", &["tool", "run", "x"], Verb::Execute),
            ("uvx", &["ruff"], Verb::Execute),
            ("poetry", &["add", "x"], Verb::Install),
            ("pipenv", &["install"], Verb::Install),
            ("pipx", &["run", "x"], Verb::Execute),
        ];
        for (tool, args, want) in cases {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert_eq!(verb(tool, &args), *want, "{tool} {args:?}");
        }
    }
}
