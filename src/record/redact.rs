//! Secret redaction for anything pkgward writes down (argv, URLs).
//!
//! Redaction errs on the side of hiding: a value that merely looks like a
//! secret is replaced by `***`. What is redacted:
//! - userinfo in any URL inside any argument (`https://user:pass@host` →
//!   `https://***@host`, also inside `--index-url=…`, `git+https://tok@…`,
//!   `name @ https://…`);
//! - the value of any long flag whose name contains password, passwd, token,
//!   secret, apikey, credential or privatekey, or is `auth`, `otp`, `key`
//!   (`--password X`, `--token=X`, `--_authToken=X`, NuGet's `-ApiKey X`);
//! - `KEY=VALUE` arguments whose key looks like a secret (`//host/:_authToken=X`);
//! - a secret-looking config key followed by its value
//!   (`npm config set //host/:_authToken X`, `poetry config pypi-token.repo X`,
//!   `poetry config http-basic.repo USER PASS`);
//! - short `-p`/`-k` forms for the tools where they carry a password or an API
//!   key (poetry, uv, uvx, dotnet, nuget, choco): `-p X`, `-pX`.

use std::borrow::Cow;

pub const MASK: &str = "***";

/// Tools whose `-p` is a password and `-k` an API key.
const SHORT_SECRET_TOOLS: &[&str] = &["poetry", "uv", "uvx", "dotnet", "nuget", "choco"];

fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(|c| c.to_lowercase())
        .collect()
}

/// Is this (flag or config key) name one whose value is a secret?
pub fn is_secret_name(name: &str) -> bool {
    // For config keys like `//host/:_authToken` or `http-basic.repo`, the
    // meaningful part is after the last ':' or '.'.
    let tail = name.rsplit([':', '.']).next().unwrap_or(name);
    let n = normalise(tail);
    let whole = normalise(name);
    const PARTS: &[&str] = &[
        "password",
        "passwd",
        "token",
        "secret",
        "apikey",
        "credential",
        "privatekey",
    ];
    PARTS.iter().any(|p| n.contains(p) || whole.contains(p))
        || matches!(n.as_str(), "auth" | "otp" | "key" | "pat")
}

/// Replaces the userinfo of every URL in `s` with `***`.
pub fn redact_urls(s: &str) -> Cow<'_, str> {
    if !s.contains("://") {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut changed = false;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(['/', '?', '#', ' ', '\t', '\n', '"', '\''])
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        if let Some(at) = authority.rfind('@') {
            out.push_str(MASK);
            out.push_str(&authority[at..]);
            changed = true;
        } else {
            out.push_str(authority);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(s)
    }
}

/// Redacts an argument vector (without argv[0]) of `tool`.
pub fn redact_args(tool: &str, args: &[String]) -> Vec<String> {
    let short_secrets = SHORT_SECRET_TOOLS.contains(&tool);
    let mut out = Vec::with_capacity(args.len());
    // How many following arguments to mask.
    let mut mask_next = 0usize;
    for arg in args {
        if mask_next > 0 {
            mask_next -= 1;
            // A following flag is not a value: stop masking.
            if !(arg.starts_with('-') && arg.len() > 1) {
                out.push(MASK.to_string());
                continue;
            }
            mask_next = 0;
        }
        out.push(redact_one(arg, short_secrets, &mut mask_next));
    }
    out
}

fn redact_one(arg: &str, short_secrets: bool, mask_next: &mut usize) -> String {
    let arg = redact_urls(arg);
    if let Some(flag) = arg.strip_prefix('-') {
        let long = flag.strip_prefix('-').unwrap_or(flag);
        // `--name=value`
        if let Some((name, _)) = long.split_once('=') {
            if is_secret_name(name) {
                return format!("{}={MASK}", &arg[..arg.len() - long.len() + name.len()]);
            }
            return arg.into_owned();
        }
        if long.len() > 1 && is_secret_name(long) {
            *mask_next = 1;
            return arg.into_owned();
        }
        if short_secrets && !flag.starts_with('-') {
            if flag == "p" || flag == "k" {
                *mask_next = 1;
                return arg.into_owned();
            }
            if (flag.starts_with('p') || flag.starts_with('k')) && flag.len() > 1 {
                return format!("-{}{MASK}", &flag[..1]);
            }
        }
        return arg.into_owned();
    }
    if let Some((key, _)) = arg.split_once('=') {
        if is_secret_name(key) {
            return format!("{key}={MASK}");
        }
        return arg.into_owned();
    }
    // A bare config key: `npm config set //h/:_authToken VALUE`,
    // `poetry config pypi-token.x VALUE`, `poetry config http-basic.x USER PASS`.
    let lower = arg.to_ascii_lowercase();
    if lower.starts_with("http-basic.") {
        *mask_next = 2;
    } else if (arg.contains(':') || arg.contains('.')) && is_secret_name(&arg) {
        *mask_next = 1;
    }
    arg.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(tool: &str, args: &[&str]) -> Vec<String> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        redact_args(tool, &v)
    }

    #[test]
    fn table() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("npm", &["install", "left-pad"], &["install", "left-pad"]),
            (
                "npm",
                &["--registry=https://u:p@reg.example.com/npm/"],
                &["--registry=https://***@reg.example.com/npm/"],
            ),
            (
                "pip",
                &["install", "-i", "https://tok@pypi.example.com/simple", "x"],
                &["install", "-i", "https://***@pypi.example.com/simple", "x"],
            ),
            (
                "pip",
                &["install", "pkg @ git+https://ghp_abc@git.example.com/a/b"],
                &["install", "pkg @ git+https://***@git.example.com/a/b"],
            ),
            (
                "npm",
                &["login", "--password", "hunter2"],
                &["login", "--password", "***"],
            ),
            ("npm", &["--password=hunter2"], &["--password=***"]),
            ("npm", &["--token", "abc", "ls"], &["--token", "***", "ls"]),
            ("npm", &["--_authToken=abc"], &["--_authToken=***"]),
            (
                "npm",
                &["--//reg.example.com/:_authToken=abc"],
                &["--//reg.example.com/:_authToken=***"],
            ),
            (
                "npm",
                &["config", "set", "//reg.example.com/:_authToken", "abc"],
                &["config", "set", "//reg.example.com/:_authToken", "***"],
            ),
            (
                "npm",
                &["//reg.example.com/:_authToken=abc"],
                &["//reg.example.com/:_authToken=***"],
            ),
            ("npm", &["-p", "ls"], &["-p", "ls"]),
            (
                "cargo",
                &["build", "-p", "mycrate"],
                &["build", "-p", "mycrate"],
            ),
            (
                "poetry",
                &["publish", "-u", "me", "-p", "s3cret"],
                &["publish", "-u", "me", "-p", "***"],
            ),
            ("uv", &["publish", "-ps3cret"], &["publish", "-p***"]),
            (
                "dotnet",
                &["nuget", "push", "x.nupkg", "-k", "KEY"],
                &["nuget", "push", "x.nupkg", "-k", "***"],
            ),
            (
                "nuget",
                &["push", "x.nupkg", "-ApiKey", "KEY"],
                &["push", "x.nupkg", "-ApiKey", "***"],
            ),
            (
                "poetry",
                &["config", "pypi-token.repo", "tok"],
                &["config", "pypi-token.repo", "***"],
            ),
            (
                "poetry",
                &["config", "http-basic.repo", "user", "pass"],
                &["config", "http-basic.repo", "***", "***"],
            ),
            ("npm", &["--otp", "123456"], &["--otp", "***"]),
            (
                "pip",
                &["install", "NPM_TOKEN=abc"],
                &["install", "NPM_TOKEN=***"],
            ),
            // A flag after a secret flag is not its value.
            ("npm", &["--token", "--verbose"], &["--token", "--verbose"]),
        ];
        for (tool, args, want) in cases {
            assert_eq!(r(tool, args), *want, "{tool} {args:?}");
        }
    }

    #[test]
    fn urls_without_userinfo_are_unchanged() {
        assert!(matches!(
            redact_urls("https://example.com/a@b"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            redact_urls("x https://a:b@h.test/ y https://c@i.test"),
            "x https://***@h.test/ y https://***@i.test"
        );
    }
}
