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

/// `name` lowercased without `-` and `_`.
fn normalise(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    if name.is_ascii() {
        // The common case (every argument of a traced process passes
        // here), without decoding characters.
        out.extend(
            name.bytes()
                .filter(|b| *b != b'-' && *b != b'_')
                .map(|b| char::from(b.to_ascii_lowercase())),
        );
    } else {
        out.extend(
            name.chars()
                .filter(|c| *c != '-' && *c != '_')
                .flat_map(|c| c.to_lowercase()),
        );
    }
    out
}

/// Is this (flag or config key) name one whose value is a secret?
pub fn is_secret_name(name: &str) -> bool {
    // For config keys like `//host/:_authToken` or `http-basic.repo`, the
    // meaningful part is after the last ':' or '.'.
    let tail = name.rsplit([':', '.']).next().unwrap_or(name);
    let whole = normalise(name);
    // The tail's normal form ends the whole name's: its length is enough.
    let tail_len: usize = tail
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(|c| c.to_lowercase())
        .map(char::len_utf8)
        .sum();
    let n = &whole[whole.len() - tail_len..];
    const PARTS: &[&str] = &[
        "password",
        "passwd",
        "token",
        "secret",
        "apikey",
        "credential",
        "privatekey",
    ];
    PARTS.iter().any(|p| whole.contains(p)) || matches!(n, "auth" | "otp" | "key" | "pat")
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
            // `-k=KEY`, `-p=PASS` (choco takes `=` after short options too).
            let short_secret =
                short_secrets && !flag.starts_with('-') && (name == "p" || name == "k");
            if short_secret || is_secret_name(name) {
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

/// Redacts a command line given as one string (a Windows process's, read
/// from the process): URLs' userinfo anywhere, and each argument as
/// [`redact_args`] would, the rest of the text kept as it was. Arguments are
/// the whitespace-separated words with their quotes taken off, which is
/// also right for the standard library's batch-file form (`cmd.exe /c
/// ""C:\x\npm.cmd" "-k" "KEY""`); a masked value that opens a quote is
/// masked up to where the quote closes. The short `-p`/`-k` secret forms
/// apply when a word names one of the tools that use them.
pub fn redact_command_line(line: &str) -> String {
    let line = redact_urls(line);
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(a)) => {
                spans.push((a, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(a) = start {
        spans.push((a, line.len()));
    }
    let words: Vec<String> = spans
        .iter()
        .map(|&(a, b)| line[a..b].trim_matches('"').to_string())
        .collect();
    let tool = words
        .iter()
        .find_map(|w| {
            let name = w.rsplit(['\\', '/']).next().unwrap_or(w);
            let stem = name.split('.').next().unwrap_or(name).to_ascii_lowercase();
            SHORT_SECRET_TOOLS
                .iter()
                .find(|t| **t == stem)
                .map(|t| t.to_string())
        })
        .unwrap_or_default();
    let red = redact_args(&tool, &words);
    let mut out = String::with_capacity(line.len());
    let mut last = 0;
    let mut i = 0;
    while i < spans.len() {
        let (a, mut b) = spans[i];
        let first = i;
        i += 1;
        if red[first] == words[first] {
            continue;
        }
        let raw = &line[a..b];
        let opens = raw.starts_with('"') && !(raw.len() > 1 && raw.ends_with('"'));
        if red[first] == MASK && opens {
            // `--password "a b c"`: every word up to the closing quote.
            while i < spans.len() && !line[a..b].ends_with('"') {
                b = spans[i].1;
                i += 1;
            }
        }
        let raw = &line[a..b];
        let lead = raw.len() - raw.trim_start_matches('"').len();
        let trail = if lead == raw.len() {
            0
        } else {
            raw.len() - raw.trim_end_matches('"').len()
        };
        out.push_str(&line[last..a]);
        out.push_str(&raw[..lead]);
        out.push_str(&red[first]);
        out.push_str(&raw[raw.len() - trail..]);
        last = b;
    }
    out.push_str(&line[last..]);
    out
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
            // Names that are not ASCII: lowercased character by character,
            // the tail after the last '.' found by its normal form's length.
            ("npm", &["--Ünï-TOKEN=abc"], &["--Ünï-TOKEN=***"]),
            (
                "npm",
                &["config", "café.AUTH", "v"],
                &["config", "café.AUTH", "***"],
            ),
            (
                "npm",
                &["config", "aüth.café", "v"],
                &["config", "aüth.café", "v"],
            ),
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
    fn command_lines() {
        let cases: &[(&str, &str)] = &[
            ("cmd /c exit 3", "cmd /c exit 3"),
            (
                r#"C:\windows\system32\cmd.exe /e:ON /v:OFF /d /c ""Z:\r\nuget.cmd" "push" "x.nupkg" "-ApiKey" "KEY1" "-k" "KEY2"""#,
                r#"C:\windows\system32\cmd.exe /e:ON /v:OFF /d /c ""Z:\r\nuget.cmd" "push" "x.nupkg" "-ApiKey" "***" "-k" "***"""#,
            ),
            (
                r#"node.exe npm-cli.js login --password "two words" --otp 123 --registry https://u:p@r.test/"#,
                r#"node.exe npm-cli.js login --password "***" --otp *** --registry https://***@r.test/"#,
            ),
            (
                "choco.exe push -k=abc --token=x -p pw",
                "choco.exe push -k=*** --token=*** -p ***",
            ),
            // -p is not a secret for tools that do not use it so.
            ("cargo.exe build -p crate", "cargo.exe build -p crate"),
            ("  spaced   out  ", "  spaced   out  "),
            (r#"x --password ""#, r#"x --password "***"#),
            ("", ""),
        ];
        for (line, want) in cases {
            assert_eq!(redact_command_line(line), *want, "{line}");
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
