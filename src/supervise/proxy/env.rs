//! How each tool is pointed at the egress proxy, in one table: the
//! environment variables it honours (which take precedence over its config
//! files), set for the child only. Trust stores are never touched (the proxy
//! tunnels TLS, it does not open it).
//!
//! Every tool gets `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` in both cases and
//! `NO_PROXY`/`no_proxy` emptied (any entry there bypasses the proxy); then
//! per family:
//!
//! | tools | also |
//! |---|---|
//! | npm, npx, pnpm, pnpx | `npm_config_proxy`, `npm_config_https_proxy`, `npm_config_noproxy` = a name that matches nothing (npm ignores an empty value and would fall back to `.npmrc`) |
//! | yarn (1 and berry) | the npm variables (yarn 1) and `YARN_HTTP_PROXY`, `YARN_HTTPS_PROXY` (berry) |
//! | bun, uv, uvx, go, gem, bundle, dotnet, nuget, apt, yum, dnf, choco, winget | the common variables (go keeps `GOPROXY`; Go's HTTP client never proxies loopback destinations) |
//! | pip, pip3, pipenv, poetry, pipx | `PIP_PROXY` |
//! | cargo | `CARGO_HTTP_PROXY` (also used for git dependencies through libgit2) |
//! | mvn, mvnw | `MAVEN_OPTS` += JVM proxy properties |
//! | gradle, gradlew | `GRADLE_OPTS` += JVM proxy properties |
//! | gem | also `--http-proxy URL` on the command line (a `.gemrc` `http_proxy:` — even `:no_proxy` — wins over the environment, the flag wins over both), for the commands that take it (`install`, `fetch`, `sources`…; `pristine`, `contents` reject it) |
//!
//! JVM properties are appended to the user's value, so they win over an
//! earlier `-D` of the same name and keep everything else. npm reads its
//! `npm_config_*` variables in any case: a differently-cased spelling already
//! in the environment gets the same value, so it cannot override ours.

use std::ffi::OsString;

/// Set to the proxy URL for every tool.
const COMMON: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];
/// Emptied for every tool.
const CLEARED: &[&str] = &["NO_PROXY", "no_proxy"];
/// A no-proxy value that matches no host (reserved TLD), for tools that treat
/// an empty value as unset.
pub const MATCHES_NOTHING: &str = "pkgward.invalid";

struct Family {
    tools: &'static [&'static str],
    /// Set to the proxy URL.
    url: &'static [&'static str],
    /// Set to [`MATCHES_NOTHING`].
    no_proxy: &'static [&'static str],
    /// Appended with the JVM proxy properties.
    jvm: &'static [&'static str],
    /// Matched case-insensitively by the tool.
    case_insensitive: bool,
}

const NPM_URL: &[&str] = &["npm_config_proxy", "npm_config_https_proxy"];
const NPM_NO_PROXY: &[&str] = &["npm_config_noproxy"];

const TABLE: &[Family] = &[
    Family {
        tools: &["npm", "npx", "pnpm", "pnpx"],
        url: NPM_URL,
        no_proxy: NPM_NO_PROXY,
        jvm: &[],
        case_insensitive: true,
    },
    Family {
        tools: &["yarn"],
        url: &[
            "npm_config_proxy",
            "npm_config_https_proxy",
            "YARN_HTTP_PROXY",
            "YARN_HTTPS_PROXY",
        ],
        no_proxy: NPM_NO_PROXY,
        jvm: &[],
        case_insensitive: true,
    },
    Family {
        tools: &["pip", "pip3", "pipenv", "poetry", "pipx"],
        url: &["PIP_PROXY"],
        no_proxy: &[],
        jvm: &[],
        case_insensitive: false,
    },
    Family {
        tools: &["cargo"],
        url: &["CARGO_HTTP_PROXY"],
        no_proxy: &[],
        jvm: &[],
        case_insensitive: false,
    },
    Family {
        tools: &["mvn", "mvnw"],
        url: &[],
        no_proxy: &[],
        jvm: &["MAVEN_OPTS"],
        case_insensitive: false,
    },
    Family {
        tools: &["gradle", "gradlew"],
        url: &[],
        no_proxy: &[],
        jvm: &["GRADLE_OPTS"],
        case_insensitive: false,
    },
];

/// The JVM system properties that send HTTP and HTTPS through the proxy
/// (with the JVM's default loopback exemption removed).
pub fn jvm_properties(host: &str, port: u16) -> String {
    format!(
        "-Dhttp.proxyHost={host} -Dhttp.proxyPort={port} -Dhttps.proxyHost={host} \
         -Dhttps.proxyPort={port} -Dhttp.nonProxyHosts={MATCHES_NOTHING} \
         -Daether.connector.http.useSystemProperties=true"
    )
}

/// The variables to set in the child of `tool` so it uses the proxy at
/// `127.0.0.1:port`. `get` reads the current environment, `keys` lists its
/// variable names.
pub fn vars(
    tool: &str,
    port: u16,
    get: &dyn Fn(&str) -> Option<OsString>,
    keys: &[OsString],
) -> Vec<(OsString, OsString)> {
    let url = format!("http://127.0.0.1:{port}");
    let mut out: Vec<(OsString, OsString)> = Vec::new();
    let mut set = |k: &str, v: &str, case_insensitive: bool| {
        out.push((k.into(), v.into()));
        if case_insensitive {
            for existing in keys {
                if let Some(e) = existing.to_str() {
                    if e != k && e.eq_ignore_ascii_case(k) {
                        out.push((existing.clone(), v.into()));
                    }
                }
            }
        }
    };
    for k in COMMON {
        set(k, &url, false);
    }
    for k in CLEARED {
        set(k, "", false);
    }
    if let Some(f) = TABLE.iter().find(|f| f.tools.contains(&tool)) {
        for k in f.url {
            set(k, &url, f.case_insensitive);
        }
        for k in f.no_proxy {
            set(k, MATCHES_NOTHING, f.case_insensitive);
        }
        for k in f.jvm {
            let props = jvm_properties("127.0.0.1", port);
            let v = match get(k).map(|v| v.to_string_lossy().into_owned()) {
                Some(old) if !old.trim().is_empty() => format!("{old} {props}"),
                _ => props,
            };
            set(k, &v, false);
        }
    }
    out
}

/// Arguments to add to the command line, and where: gem's `--http-proxy`
/// (before a `--`, if any) for the commands that take it. `None` when the
/// tool needs none.
pub fn args(tool: &str, port: u16, args: &[OsString]) -> Option<(usize, Vec<OsString>)> {
    if tool != "gem" || args.is_empty() {
        return None;
    }
    let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let words: Vec<String> = args[..at]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if !crate::classify::gem_takes_http_proxy(&words) {
        return None;
    }
    Some((
        at,
        vec![
            "--http-proxy".into(),
            format!("http://127.0.0.1:{port}").into(),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(v: &'a [(OsString, OsString)], k: &str) -> Vec<&'a str> {
        v.iter()
            .filter(|(key, _)| key == k)
            .map(|(_, val)| val.to_str().unwrap())
            .collect()
    }

    #[test]
    fn npm_gets_its_variables_in_every_case_present() {
        let keys: Vec<OsString> = vec!["NPM_CONFIG_PROXY".into(), "npm_config_NoProxy".into()];
        let v = vars("npm", 4000, &|_| None, &keys);
        let url = "http://127.0.0.1:4000";
        assert_eq!(find(&v, "npm_config_proxy"), [url]);
        assert_eq!(find(&v, "NPM_CONFIG_PROXY"), [url]);
        assert_eq!(find(&v, "npm_config_https_proxy"), [url]);
        assert_eq!(find(&v, "npm_config_NoProxy"), [MATCHES_NOTHING]);
        assert_eq!(find(&v, "HTTPS_PROXY"), [url]);
        assert_eq!(find(&v, "no_proxy"), [""]);
        assert_eq!(find(&v, "NO_PROXY"), [""]);
    }

    #[test]
    fn per_tool_variables() {
        let v = vars("pip", 1, &|_| None, &[]);
        assert_eq!(find(&v, "PIP_PROXY"), ["http://127.0.0.1:1"]);
        let v = vars("cargo", 1, &|_| None, &[]);
        assert_eq!(find(&v, "CARGO_HTTP_PROXY"), ["http://127.0.0.1:1"]);
        let v = vars("yarn", 1, &|_| None, &[]);
        assert_eq!(find(&v, "YARN_HTTPS_PROXY"), ["http://127.0.0.1:1"]);
        let v = vars("uv", 1, &|_| None, &[]);
        assert_eq!(find(&v, "https_proxy"), ["http://127.0.0.1:1"]);
        assert!(find(&v, "PIP_PROXY").is_empty());
    }

    #[test]
    fn gem_gets_the_flag_before_a_double_dash() {
        let a: Vec<OsString> = ["install", "rake", "--", "--x"]
            .map(OsString::from)
            .to_vec();
        let (at, add) = args("gem", 9, &a).unwrap();
        assert_eq!(at, 2);
        assert_eq!(
            add,
            [OsString::from("--http-proxy"), "http://127.0.0.1:9".into()]
        );
        let (at, _) = args("gem", 9, &a[..2]).unwrap();
        assert_eq!(at, 2);
        assert!(args("npm", 9, &a).is_none());
        // Only the commands that take it (any other rejects the option).
        let cmd = |w: &[&str]| w.iter().map(OsString::from).collect::<Vec<_>>();
        for ok in [
            &["i", "x"][..],
            &["instal", "x"],
            &["fetch", "x"],
            &["sources", "--list"],
        ] {
            assert!(args("gem", 9, &cmd(ok)).is_some(), "{ok:?}");
        }
        for no in [
            &["pristine", "--no-extensions", "x"][..],
            &["contents", "x"],
            &["build", "x.gemspec"],
            &["--version"],
        ] {
            assert!(args("gem", 9, &cmd(no)).is_none(), "{no:?}");
        }
    }

    #[test]
    fn jvm_options_are_appended() {
        let get =
            |k: &str| (k == "MAVEN_OPTS").then(|| OsString::from("-Xmx1g -Dhttp.proxyHost=x"));
        let v = vars("mvn", 7, &get, &[]);
        let opts = find(&v, "MAVEN_OPTS")[0];
        assert!(opts.starts_with("-Xmx1g -Dhttp.proxyHost=x -Dhttp.proxyHost=127.0.0.1"));
        assert!(opts.contains("-Dhttps.proxyPort=7"));
        let v = vars("gradle", 7, &|_| None, &[]);
        assert!(find(&v, "GRADLE_OPTS")[0].starts_with("-Dhttp.proxyHost=127.0.0.1"));
    }
}
