//! npm's own reading of its command line: which word is the command, as
//! npm's option parser (nopt, with npm 11's config definitions) and its
//! command lookup (aliases, unique abbreviations, camelCase) find it. A
//! word right after an option that takes a value is that value, not the
//! command (`npm --loglevel warn install` installs); an option npm does
//! not know takes no value unless written `--name=value`.

/// npm's config keys and how nopt reads the word after each: `B` a
/// boolean (it takes `true`/`false`, and with `S` any word not starting
/// with a single `-`, with `N` a number, with `Z` `null`, and the listed
/// literals), `T` a string (any word not looking like an option), `V`
/// any other value (any word but `--`).
const KEYS: &[(&str, &str, &[&str])] = &[
    ("_auth", "V", &[]),
    ("access", "V", &[]),
    ("all", "B", &[]),
    ("allow-directory", "V", &[]),
    ("allow-file", "V", &[]),
    ("allow-git", "V", &[]),
    ("allow-remote", "V", &[]),
    ("allow-same-version", "B", &[]),
    ("allow-scripts", "V", &[]),
    ("allow-scripts-pending", "B", &[]),
    ("allow-scripts-pin", "B", &[]),
    ("also", "V", &[]),
    ("audit", "B", &[]),
    ("audit-level", "V", &[]),
    ("auth-type", "V", &[]),
    ("before", "V", &[]),
    ("bin-links", "B", &[]),
    ("browser", "BSZ", &[]),
    ("bypass-2fa", "B", &[]),
    ("ca", "V", &[]),
    ("cache", "V", &[]),
    ("cache-max", "V", &[]),
    ("cache-min", "V", &[]),
    ("cafile", "V", &[]),
    ("call", "T", &[]),
    ("cert", "V", &[]),
    ("cidr", "V", &[]),
    ("color", "B", &["always"]),
    ("commit-hooks", "B", &[]),
    ("cpu", "V", &[]),
    ("dangerously-allow-all-scripts", "B", &[]),
    ("depth", "V", &[]),
    ("description", "B", &[]),
    ("dev", "B", &[]),
    ("diff", "V", &[]),
    ("diff-dst-prefix", "T", &[]),
    ("diff-ignore-all-space", "B", &[]),
    ("diff-name-only", "B", &[]),
    ("diff-no-prefix", "B", &[]),
    ("diff-src-prefix", "T", &[]),
    ("diff-text", "B", &[]),
    ("diff-unified", "V", &[]),
    ("dry-run", "B", &[]),
    ("editor", "T", &[]),
    ("engine-strict", "B", &[]),
    ("expect-result-count", "V", &[]),
    ("expect-results", "BZ", &[]),
    ("expires", "V", &[]),
    ("fetch-retries", "V", &[]),
    ("fetch-retry-factor", "V", &[]),
    ("fetch-retry-maxtimeout", "V", &[]),
    ("fetch-retry-mintimeout", "V", &[]),
    ("fetch-timeout", "V", &[]),
    ("force", "B", &[]),
    ("foreground-scripts", "B", &[]),
    ("format-package-lock", "B", &[]),
    ("fund", "B", &[]),
    ("git", "T", &[]),
    ("git-tag-version", "B", &[]),
    ("global", "B", &[]),
    ("global-style", "B", &[]),
    ("globalconfig", "V", &[]),
    ("heading", "T", &[]),
    ("https-proxy", "V", &[]),
    ("if-present", "B", &[]),
    ("ignore-scripts", "B", &[]),
    ("include", "V", &[]),
    ("include-attestations", "B", &[]),
    ("include-staged", "B", &[]),
    ("include-workspace-root", "B", &[]),
    ("init-author-email", "T", &[]),
    ("init-author-name", "T", &[]),
    ("init-author-url", "V", &[]),
    ("init-license", "T", &[]),
    ("init-module", "V", &[]),
    ("init-private", "B", &[]),
    ("init-type", "T", &[]),
    ("init-version", "V", &[]),
    ("init.author.email", "T", &[]),
    ("init.author.name", "T", &[]),
    ("init.author.url", "V", &[]),
    ("init.license", "T", &[]),
    ("init.module", "V", &[]),
    ("init.version", "V", &[]),
    ("install-links", "B", &[]),
    ("install-strategy", "V", &[]),
    ("json", "B", &[]),
    ("key", "V", &[]),
    ("legacy-bundling", "B", &[]),
    ("legacy-peer-deps", "B", &[]),
    ("libc", "V", &[]),
    ("link", "B", &[]),
    ("local-address", "V", &[]),
    ("location", "V", &[]),
    ("lockfile-version", "V", &[]),
    ("loglevel", "V", &[]),
    ("logs-dir", "V", &[]),
    ("logs-max", "V", &[]),
    ("long", "B", &[]),
    ("maxsockets", "V", &[]),
    ("message", "T", &[]),
    ("min-release-age", "V", &[]),
    ("min-release-age-exclude", "V", &[]),
    ("name", "V", &[]),
    ("node-gyp", "V", &[]),
    ("node-options", "V", &[]),
    ("noproxy", "V", &[]),
    ("offline", "B", &[]),
    ("omit", "V", &[]),
    ("omit-lockfile-registry-resolved", "B", &[]),
    ("only", "V", &[]),
    ("optional", "BZ", &[]),
    ("orgs", "V", &[]),
    ("orgs-permission", "V", &[]),
    ("os", "V", &[]),
    ("otp", "V", &[]),
    ("pack-destination", "T", &[]),
    ("package", "V", &[]),
    ("package-lock", "B", &[]),
    ("package-lock-only", "B", &[]),
    ("packages", "V", &[]),
    ("packages-all", "B", &[]),
    ("packages-and-scopes-permission", "V", &[]),
    ("parseable", "B", &[]),
    ("password", "V", &[]),
    ("prefer-dedupe", "B", &[]),
    ("prefer-offline", "B", &[]),
    ("prefer-online", "B", &[]),
    ("prefix", "V", &[]),
    ("preid", "T", &[]),
    ("production", "BZ", &[]),
    ("progress", "B", &[]),
    ("provenance", "B", &[]),
    ("provenance-file", "V", &[]),
    ("proxy", "V", &[]),
    ("read-only", "B", &[]),
    ("rebuild-bundle", "B", &[]),
    ("registry", "V", &[]),
    ("replace-registry-host", "V", &[]),
    ("save", "B", &[]),
    ("save-bundle", "B", &[]),
    ("save-dev", "B", &[]),
    ("save-exact", "B", &[]),
    ("save-optional", "B", &[]),
    ("save-peer", "B", &[]),
    ("save-prefix", "T", &[]),
    ("save-prod", "B", &[]),
    ("sbom-format", "V", &[]),
    ("sbom-type", "V", &[]),
    ("scope", "T", &[]),
    ("scopes", "V", &[]),
    ("script-shell", "V", &[]),
    ("searchexclude", "T", &[]),
    ("searchlimit", "V", &[]),
    ("searchopts", "T", &[]),
    ("searchstaleness", "V", &[]),
    ("shell", "T", &[]),
    ("shrinkwrap", "B", &[]),
    ("sign-git-commit", "B", &[]),
    ("sign-git-tag", "B", &[]),
    ("strict-allow-scripts", "B", &[]),
    ("strict-peer-deps", "B", &[]),
    ("strict-ssl", "B", &[]),
    ("tag", "T", &[]),
    ("tag-version-prefix", "T", &[]),
    ("timing", "B", &[]),
    ("token-description", "V", &[]),
    ("umask", "V", &[]),
    ("unicode", "B", &[]),
    ("update-notifier", "B", &[]),
    ("usage", "B", &[]),
    ("user-agent", "T", &[]),
    ("userconfig", "V", &[]),
    ("version", "B", &[]),
    ("versions", "B", &[]),
    ("viewer", "T", &[]),
    ("which", "V", &[]),
    ("workspace", "V", &[]),
    ("workspaces", "BZ", &[]),
    ("workspaces-update", "B", &[]),
    ("yes", "BZ", &[]),
];

/// npm's shorthands (`-C DIR` is `--prefix DIR`, `-q` is `--loglevel warn`).
const SHORTHANDS: &[(&str, &[&str])] = &[
    ("enjoy-by", &["--before"]),
    ("d", &["--loglevel", "info"]),
    ("dd", &["--loglevel", "verbose"]),
    ("ddd", &["--loglevel", "silly"]),
    ("quiet", &["--loglevel", "warn"]),
    ("q", &["--loglevel", "warn"]),
    ("s", &["--loglevel", "silent"]),
    ("silent", &["--loglevel", "silent"]),
    ("verbose", &["--loglevel", "verbose"]),
    ("desc", &["--description"]),
    ("help", &["--usage"]),
    ("local", &["--no-global"]),
    ("n", &["--no-yes"]),
    ("no", &["--no-yes"]),
    ("porcelain", &["--parseable"]),
    ("readonly", &["--read-only"]),
    ("reg", &["--registry"]),
    ("iwr", &["--include-workspace-root"]),
    ("ws", &["--workspaces"]),
    ("a", &["--all"]),
    ("c", &["--call"]),
    ("f", &["--force"]),
    ("g", &["--global"]),
    ("L", &["--location"]),
    ("l", &["--long"]),
    ("m", &["--message"]),
    ("p", &["--parseable"]),
    ("C", &["--prefix"]),
    ("S", &["--save"]),
    ("B", &["--save-bundle"]),
    ("D", &["--save-dev"]),
    ("E", &["--save-exact"]),
    ("O", &["--save-optional"]),
    ("P", &["--save-prod"]),
    ("?", &["--usage"]),
    ("H", &["--usage"]),
    ("h", &["--usage"]),
    ("v", &["--version"]),
    ("w", &["--workspace"]),
    ("y", &["--yes"]),
];

/// npm's commands.
const COMMANDS: &[&str] = &[
    "access",
    "adduser",
    "approve-scripts",
    "audit",
    "bugs",
    "cache",
    "ci",
    "completion",
    "config",
    "dedupe",
    "deny-scripts",
    "deprecate",
    "diff",
    "dist-tag",
    "docs",
    "doctor",
    "edit",
    "exec",
    "explain",
    "explore",
    "find-dupes",
    "fund",
    "get",
    "help",
    "help-search",
    "init",
    "install",
    "install-ci-test",
    "install-scripts",
    "install-test",
    "link",
    "ll",
    "login",
    "logout",
    "ls",
    "org",
    "outdated",
    "owner",
    "pack",
    "ping",
    "pkg",
    "prefix",
    "profile",
    "prune",
    "publish",
    "query",
    "rebuild",
    "repo",
    "restart",
    "root",
    "run",
    "sbom",
    "search",
    "set",
    "shrinkwrap",
    "stage",
    "star",
    "stars",
    "start",
    "stop",
    "team",
    "test",
    "token",
    "trust",
    "undeprecate",
    "uninstall",
    "unpublish",
    "unstar",
    "update",
    "version",
    "view",
    "whoami",
];

/// npm's command aliases.
const ALIASES: &[(&str, &str)] = &[
    ("author", "owner"),
    ("home", "docs"),
    ("issues", "bugs"),
    ("info", "view"),
    ("show", "view"),
    ("find", "search"),
    ("add", "install"),
    ("unlink", "uninstall"),
    ("remove", "uninstall"),
    ("rm", "uninstall"),
    ("r", "uninstall"),
    ("un", "uninstall"),
    ("rb", "rebuild"),
    ("list", "ls"),
    ("ln", "link"),
    ("create", "init"),
    ("i", "install"),
    ("it", "install-test"),
    ("cit", "install-ci-test"),
    ("u", "update"),
    ("up", "update"),
    ("c", "config"),
    ("s", "search"),
    ("se", "search"),
    ("tst", "test"),
    ("t", "test"),
    ("ddp", "dedupe"),
    ("v", "view"),
    ("run-script", "run"),
    ("clean-install", "ci"),
    ("clean-install-test", "install-ci-test"),
    ("x", "exec"),
    ("why", "explain"),
    ("la", "ll"),
    ("verison", "version"),
    ("ic", "ci"),
    ("innit", "init"),
    ("in", "install"),
    ("ins", "install"),
    ("inst", "install"),
    ("insta", "install"),
    ("instal", "install"),
    ("isnt", "install"),
    ("isnta", "install"),
    ("isntal", "install"),
    ("isntall", "install"),
    ("install-clean", "ci"),
    ("isntall-clean", "ci"),
    ("hlep", "help"),
    ("dist-tags", "dist-tag"),
    ("upgrade", "update"),
    ("udpate", "update"),
    ("rum", "run"),
    ("sit", "install-ci-test"),
    ("urn", "run"),
    ("ogr", "org"),
    ("add-user", "adduser"),
];

fn key(name: &str) -> Option<&'static (&'static str, &'static str, &'static [&'static str])> {
    KEYS.iter().find(|k| k.0 == name)
}

/// Whether `name` (exactly) is one of npm's config keys that take no value
/// of their own (a `Boolean` in their type): npx's "switches".
pub(crate) fn is_switch(name: &str) -> bool {
    key(name).is_some_and(|k| k.1.starts_with('B'))
}

/// Whether nopt reads option `arg` (`--name`, `-x`, without `=value`)
/// from npm's definitions: a config key or a unique abbreviation of one
/// (after `no-`), or a shorthand. Another is a switch to npm 11, but a later
/// npm may read a value after it.
pub(crate) fn knows(arg: &str) -> bool {
    if resolve_short(arg).is_some() {
        return true;
    }
    let mut name = arg.trim_start_matches('-');
    while name.len() >= 3 && name.is_char_boundary(3) && name[..3].eq_ignore_ascii_case("no-") {
        name = &name[3..];
    }
    config_key(name).is_some()
}

/// What the `abbrev` package makes of `word` among `words`: the word
/// itself, else the one word it is a prefix of.
fn abbrev<'a>(words: impl Iterator<Item = &'a str>, word: &str) -> Option<&'a str> {
    if word.is_empty() {
        return None;
    }
    let mut found = None;
    for w in words {
        if w == word {
            return Some(w);
        }
        if w.starts_with(word) {
            if found.is_some() {
                found = Some("");
            } else {
                found = Some(w);
            }
        }
    }
    found.filter(|w| !w.is_empty())
}

fn config_key(word: &str) -> Option<&'static str> {
    abbrev(KEYS.iter().map(|k| k.0), word)
}

pub(crate) fn shorthand(word: &str) -> Option<&'static [&'static str]> {
    SHORTHANDS.iter().find(|s| s.0 == word).map(|s| s.1)
}

/// nopt's `resolveShort`: what a shorthand (or a run of one-letter ones,
/// or a unique abbreviation of one) stands for.
fn resolve_short(arg: &str) -> Option<Vec<&'static str>> {
    let a = arg.trim_start_matches('-');
    if config_key(a) == Some(a) {
        return None;
    }
    if let Some(s) = shorthand(a) {
        return Some(s.to_vec());
    }
    let singles = |c: char| {
        SHORTHANDS
            .iter()
            .find(|s| s.0.chars().count() == 1 && s.0.starts_with(c))
    };
    if a.chars().all(|c| singles(c).is_some()) {
        return Some(
            a.chars()
                .flat_map(|c| singles(c).unwrap().1.iter().copied())
                .collect(),
        );
    }
    if config_key(a).is_some() {
        return None;
    }
    abbrev(SHORTHANDS.iter().map(|s| s.0), a)
        .and_then(shorthand)
        .map(<[&str]>::to_vec)
}

/// An npm command line as npm reads it: its positional words (the command
/// first; after a `--`, every word) and the options given, by npm's key.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Argv {
    pub positionals: Vec<String>,
    /// How many of the positionals come before a `--` (all: none).
    pub before_dashdash: usize,
    pub options: Vec<(String, String)>,
}

/// nopt's `parse` over npm's definitions.
pub(crate) fn parse(args: &[String]) -> Argv {
    let mut a: Vec<String> = args.to_vec();
    let mut out = Argv::default();
    let mut i = 0;
    // A shorthand never expands to itself; bound the rereads anyway.
    let mut rereads = 0usize;
    while i < a.len() {
        let mut arg = a[i].clone();
        if arg.len() >= 2 && arg.bytes().all(|b| b == b'-') {
            out.before_dashdash = out.positionals.len();
            out.positionals.extend(a[i + 1..].iter().cloned());
            return out;
        }
        if !(arg.starts_with('-') && arg.len() > 1) {
            out.positionals.push(arg);
            i += 1;
            continue;
        }
        let mut had_eq = false;
        if let Some(at) = arg.find('=') {
            had_eq = true;
            let value = arg[at + 1..].to_string();
            arg.truncate(at);
            a.splice(i..=i, [arg.clone(), value]);
        }
        if let Some(expanded) = resolve_short(&arg) {
            let first = expanded.first().copied();
            a.splice(i..=i, expanded.into_iter().map(String::from));
            rereads += 1;
            if first != Some(arg.as_str()) && rereads < 10_000 {
                continue;
            }
        }
        let mut name = arg.trim_start_matches('-');
        let mut no = false;
        while name.len() >= 3 && name.is_char_boundary(3) && name[..3].eq_ignore_ascii_case("no-") {
            no = true;
            name = &name[3..];
        }
        let name = config_key(name).unwrap_or(name).to_string();
        let k = key(&name);
        let next = a.get(i + 1).cloned();
        let is_bool = no
            || k.is_some_and(|k| k.1.starts_with('B'))
            || (k.is_none() && !had_eq)
            || next.as_deref() == Some("false");
        if is_bool {
            let mut next = next;
            if matches!(next.as_deref(), Some("true" | "false")) {
                i += 1;
                next = None;
            }
            if let (Some((_, kind, lits)), Some(n)) = (k, next) {
                let array = kind.len() > 1 || !lits.is_empty();
                let option_like = n.len() >= 2 && n.starts_with('-') && !n[1..].starts_with('-');
                if array
                    && (lits.contains(&n.as_str())
                        || (n == "null" && kind.contains('Z'))
                        || (kind.contains('S') && !option_like))
                {
                    out.options.push((name, n));
                    i += 1;
                }
            }
            i += 1;
            continue;
        }
        let consumed = match next {
            None => false,
            Some(ref n) if n.len() >= 2 && n.bytes().all(|b| b == b'-') => false,
            Some(ref n) if k.is_some_and(|k| k.1 == "T") => {
                let body = n.strip_prefix("--").or_else(|| n.strip_prefix('-'));
                body.is_none_or(|b| b.chars().next().is_none_or(|c| c == '-'))
            }
            Some(_) => true,
        };
        if consumed {
            out.options.push((name, next.unwrap_or_default()));
            i += 2;
        } else {
            i += 1;
        }
    }
    out.before_dashdash = out.positionals.len();
    out
}

/// The command npm runs for `word` (its aliases, camelCase spellings and
/// unique abbreviations resolved), if any.
pub(crate) fn deref(word: &str) -> Option<&'static str> {
    let mut c = String::with_capacity(word.len());
    for ch in word.chars() {
        if ch.is_ascii_uppercase() {
            c.push('-');
            c.push(ch.to_ascii_lowercase());
        } else {
            c.push(ch);
        }
    }
    if let Some(found) = COMMANDS.iter().find(|k| **k == c) {
        return Some(found);
    }
    let alias = |w: &str| ALIASES.iter().find(|a| a.0 == w).map(|a| a.1);
    if let Some(target) = alias(&c) {
        return Some(target);
    }
    let mut a = abbrev(
        COMMANDS.iter().copied().chain(ALIASES.iter().map(|a| a.0)),
        &c,
    )?;
    while let Some(target) = alias(a) {
        a = target;
    }
    Some(a)
}

/// The command an npm command line runs, by npm's own name.
pub(crate) fn command(args: &[String]) -> Option<&'static str> {
    deref(parse(args).positionals.first()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_command_is_found_as_npm_finds_it() {
        let cases: &[(&[&str], Option<&str>)] = &[
            (&["install"], Some("install")),
            (&["--loglevel", "warn", "install"], Some("install")),
            (&["--cache", "/tmp/c", "i", "x"], Some("install")),
            (&["-C", "sub", "ci"], Some("ci")),
            (&["-q", "install"], Some("install")),
            (&["--reg", "http://127.0.0.1/", "prune"], Some("prune")),
            (&["-reg", "http://127.0.0.1/", "prune"], Some("prune")),
            (&["--regis", "http://127.0.0.1/", "pack"], Some("pack")),
            (&["-gC", "/p", "install"], Some("install")),
            (&["--color", "always", "install"], Some("install")),
            (&["--yes", "null", "install"], Some("install")),
            (&["--browser", "firefox", "install"], Some("install")),
            (&["--unknown-opt", "install"], Some("install")),
            (&["--unknown-opt=x", "install"], Some("install")),
            (&["--no-cache", "true", "install"], Some("install")),
            (&["--tag", "--foo", "install"], Some("install")),
            (&["--cache", "--foo", "install"], Some("install")),
            (&["--", "install", "x"], Some("install")),
            (&["installTest"], Some("install-test")),
            (&["pru"], Some("prune")),
            (&["lin"], Some("link")),
            (&["sit"], Some("install-ci-test")),
            (&["install-cl"], Some("ci")),
            (&["run", "install"], Some("run")),
            (&["--prefix=/x", "exec", "y"], Some("exec")),
            (&["pr"], None),
            (&[], None),
        ];
        for (args, want) in cases {
            assert_eq!(command(&v(args)), *want, "{args:?}");
        }
    }

    #[test]
    fn option_values_are_read() {
        let a = parse(&v(&[
            "diff",
            "--diff",
            "git+https://x.test/a",
            "--diff=b@1",
        ]));
        assert_eq!(a.positionals, v(&["diff"]));
        assert_eq!(
            a.options,
            vec![
                ("diff".into(), "git+https://x.test/a".into()),
                ("diff".into(), "b@1".into())
            ]
        );
    }
}
