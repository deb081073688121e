//! pnpm, pnpx.
//!
//! pnpm changed where it takes registries from between major versions; the
//! version that runs is the project's `packageManager: pnpm@X` pin (pnpm 10+
//! switches to it), else the real tool's (its package's `package.json`).
//! When neither tells, the sources of both generations are listed, and a
//! source counts as overridable only if it is in both.
//!
//! pnpm ≤ 10 (checked against 10.34): `registries` in `pnpm-workspace.yaml`
//! beats everything, the command line included; then `--registry` (and its
//! abbreviations), `--config.registry`, `--@s:registry`; `npm_config_*`;
//! the project `.npmrc` (nearest `package.json`), the workspace root's, the
//! user's (`npm_config_userconfig`, else `~/.npmrc`), pnpm's global `rc`.
//!
//! pnpm ≥ 11 (checked against 12.21): `--registry`, `--config.registry`,
//! `--config.@s:registry`; `PNPM_CONFIG_REGISTRY`/`pnpm_config_registry`
//! (also from `--env-file` files, which the process environment beats);
//! `pnpm-workspace.yaml` (`registry`, `registries` in both shapes,
//! `namedRegistries`, files it `include`s); the global `config.yaml`; the
//! workspace root's `.npmrc` (the project's when there is no workspace);
//! `auth.ini` / `npmrcAuthFile`; `~/.npmrc`. `npm_config_*` is ignored, and
//! so are `pnpm_config_@s:registry` variables. Scopes can be replaced by
//! `--config.@s:registry` only. `jsr:` and `gh:` specs use pnpm's built-in
//! JSR and GitHub registries unless the config routes them.
//!
//! Also: `pnpm-lock.yaml` tarball and git resolutions (fetched as written),
//! `package.json` and workspace `overrides`, `.pnpmfile.cjs` (code pnpm
//! runs in-process; its `updateConfig` hook can reroute registries; also
//! named by `pnpmfile:`, `--config.pnpmfile`, `pnpm_config_pnpmfile`, and
//! the global one, which runs besides it: `globalPnpmfile:`,
//! `--config.global-pnpmfile`, `pnpm_config_global_pnpmfile`),
//! `strict-ssl=false`.
//!
//! Forcing: `npm_config_registry`, `NPM_CONFIG_REGISTRY`,
//! `pnpm_config_registry` and `PNPM_CONFIG_REGISTRY` (the uppercase beats
//! the lowercase in pnpm 12), and `--config.@s:registry=<mirror>` inserted
//! before the command for every unapproved scope.

use std::path::{Path, PathBuf};

use super::source::{Origin, Source, SourceKind};
use super::yarn::{
    dedupe, env_keys, env_var_too, flag_value, flag_values, node_tls, own_args, package_manager,
    package_root, positionals, publish_config, set_env, spec_source, tool_major, yaml,
};
use super::{npmrc, Plan, Request, Verb};
use crate::lockfiles;

const PNPM_VALUE_FLAGS: &[&str] = &[
    "--registry",
    "--dir",
    "-C",
    "--filter",
    "-F",
    "--filter-prod",
    "--reporter",
    "--store-dir",
    "--virtual-store-dir",
    "--modules-dir",
    "--lockfile-dir",
    "--global-dir",
    "--env-file",
    "--package",
    "--loglevel",
    "--workspace-dir",
    "--test-pattern",
    "--changed-files-ignore-pattern",
    "--tag",
    "--access",
    "--otp",
    "--publish-branch",
    "--node-linker",
    "--resolution-mode",
    "--child-concurrency",
    "--network-concurrency",
    "--hoist-pattern",
    "--public-hoist-pattern",
    "--package-import-method",
    "--allow-build",
    "--trust-policy",
    "--https-proxy",
    "--proxy",
    "--cpu",
    "--os",
    "--libc",
    "--fetch-timeout",
    "--fetch-retries",
    "--shell-mode",
];

pub(super) fn verb(tool: &str, args: &[String]) -> Verb {
    if tool == "pnpx" {
        return Verb::Execute;
    }
    let pos = positionals(args, PNPM_VALUE_FLAGS);
    let w: Vec<&str> = pos.iter().map(|(_, w)| *w).collect();
    match w.first().copied() {
        Some(
            "install" | "i" | "add" | "update" | "up" | "upgrade" | "remove" | "rm" | "uninstall"
            | "un" | "rebuild" | "rb" | "import" | "fetch" | "install-test" | "it" | "dedupe"
            | "deploy" | "link" | "ln" | "self-update",
        ) => Verb::Install,
        Some("store") if w.get(1) == Some(&"add") => Verb::Install,
        Some("env") if matches!(w.get(1).copied(), Some("use" | "add")) => Verb::Install,
        Some("dlx" | "create" | "pnx") => Verb::Execute,
        Some("publish") => Verb::Publish,
        _ => Verb::Other,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Gen {
    /// pnpm ≤ 10.
    Legacy,
    /// pnpm ≥ 11.
    Modern,
    Both,
}

fn generation(req: &Request<'_>, root: &Path) -> Gen {
    let tool = tool_major(req, &["pnpm", "@pnpm/exe"]).map(|(_, m)| m);
    let of = |m: u32| if m <= 10 { Gen::Legacy } else { Gen::Modern };
    match (tool, package_manager(req, root)) {
        // pnpm 9 does not switch to the pinned version.
        (Some(t), _) if t <= 9 => Gen::Legacy,
        (_, Some((name, m))) if name == "pnpm" => of(m),
        (Some(t), _) => of(t),
        _ => Gen::Both,
    }
}

/// One place pnpm reads settings from, in precedence order.
#[derive(Default)]
struct Layer {
    registry: Vec<Source>,
    scopes: Vec<(String, Source)>,
}

impl Layer {
    fn reg(&mut self, value: &str, origin: Origin, subject: &str, overridable: bool) {
        let s = Source::new(SourceKind::Registry, value, origin, subject);
        self.registry
            .push(if overridable { s.overridable() } else { s });
    }
    fn scope(&mut self, scope: &str, value: &str, origin: Origin, overridable: bool) {
        let scope = if scope.starts_with('@') {
            scope.to_string()
        } else {
            format!("@{scope}")
        };
        let s = Source::new(
            SourceKind::ScopeRegistry,
            value,
            origin,
            format!("{scope}:registry"),
        );
        self.scopes
            .push((scope, if overridable { s.overridable() } else { s }));
    }
}

/// The effective default registry (first layer naming one) and, per scope,
/// every value of the first layer naming it.
fn effective(layers: &[Layer], out: &mut Vec<Source>) {
    match layers.iter().find(|l| !l.registry.is_empty()) {
        Some(l) => out.extend(l.registry.iter().cloned()),
        None => out.push(
            Source::new(SourceKind::Registry, "builtin", Origin::Builtin, "registry").overridable(),
        ),
    }
    let mut seen: Vec<String> = Vec::new();
    for l in layers {
        let mut here = Vec::new();
        for (scope, s) in &l.scopes {
            if seen.contains(scope) {
                continue;
            }
            out.push(s.clone());
            here.push(scope.clone());
        }
        seen.extend(here);
    }
}

/// `--registry` and its spellings, `--config.registry`, scope flags.
fn flag_layer(args: &[String], abbreviations: bool, scope_flags: bool) -> Layer {
    let mut l = Layer::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            break;
        }
        let Some(body) = a.strip_prefix("--") else {
            continue;
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let key = name.strip_prefix("config.").unwrap_or(name);
        let is_reg =
            key == "registry" || (abbreviations && name.len() >= 3 && "registry".starts_with(name));
        let scope = key
            .strip_suffix(":registry")
            .filter(|s| s.starts_with('@') && (scope_flags || name.starts_with("config.")));
        if !is_reg && scope.is_none() {
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => match args.get(i) {
                Some(v) if !v.starts_with('-') => {
                    i += 1;
                    v.clone()
                }
                _ => continue,
            },
        };
        let origin = Origin::flag(format!("--{name}"));
        match scope {
            Some(s) => l.scope(s, &value, origin, false),
            None => l.reg(&value, origin, "registry", false),
        }
    }
    l
}

/// `registry` and `@scope:registry` keys of an `.npmrc`.
fn npmrc_layer(req: &Request<'_>, path: &Path, insecure: &mut Vec<Source>) -> Layer {
    let mut l = Layer::default();
    let Some(text) = req.files.read(path) else {
        return l;
    };
    let mut reg: Option<Source> = None;
    let mut scopes: Vec<(String, Source)> = Vec::new();
    for e in npmrc::parse(&text, req.env) {
        let key = e.key.to_ascii_lowercase();
        let origin = Origin::file(path, e.line);
        if key == "registry" {
            reg =
                Some(Source::new(SourceKind::Registry, e.value, origin, "registry").overridable());
        } else if let Some(scope) = key.strip_suffix(":registry").filter(|s| s.starts_with('@')) {
            scopes.retain(|(s, _)| s != scope);
            let src = Source::new(
                SourceKind::ScopeRegistry,
                e.value,
                origin,
                format!("{scope}:registry"),
            )
            .overridable();
            scopes.push((scope.to_string(), src));
        } else if key == "strict-ssl" && e.value.trim().eq_ignore_ascii_case("false") {
            insecure.push(Source::new(
                SourceKind::Insecure,
                e.value,
                origin,
                "strict-ssl",
            ));
        }
    }
    l.registry.extend(reg);
    l.scopes = scopes;
    l
}

/// The settings of a pnpm YAML config file (`pnpm-workspace.yaml`, the
/// global `config.yaml`, an included file) that route packages.
struct YamlConf {
    layer: Layer,
    named: Vec<Source>,
    insecure: Vec<Source>,
    other: Vec<Source>,
    /// `pnpmfile:` settings (the file, where it is set).
    pnpmfiles: Vec<(PathBuf, Origin)>,
}

fn yaml_conf(
    req: &Request<'_>,
    path: &Path,
    modern: bool,
    scope_overridable: bool,
    depth: usize,
) -> YamlConf {
    let mut c = YamlConf {
        layer: Layer::default(),
        named: Vec::new(),
        insecure: Vec::new(),
        other: Vec::new(),
        pnpmfiles: Vec::new(),
    };
    let Some(text) = req.files.read(path) else {
        return c;
    };
    let doc = yaml::parse(&text);
    if let Some((line, why)) = yaml::error(&doc) {
        c.insecure.push(Source::unreadable(path, line, why));
    }
    read_yaml(
        req,
        path,
        &doc,
        modern,
        scope_overridable,
        depth,
        &mut c,
        None,
    );
    c
}

#[allow(clippy::too_many_arguments)]
fn read_yaml(
    req: &Request<'_>,
    path: &Path,
    doc: &yaml::Node,
    modern: bool,
    scope_overridable: bool,
    depth: usize,
    c: &mut YamlConf,
    only: Option<&[String]>,
) {
    let wanted = |k: &str| only.is_none_or(|o| o.iter().any(|x| x == k));
    let reg_overridable = modern;
    if modern && wanted("registry") {
        for (n, l) in doc.get_all("registry") {
            if let Some(v) = yaml::scalar(n) {
                c.layer
                    .reg(v, Origin::file(path, l), "registry", reg_overridable);
            }
        }
    }
    if wanted("registries") {
        for (regs, _) in doc.get_all("registries") {
            for (key, line, val) in regs.map_entries() {
                let origin = Origin::file(path, *line);
                if let Some(url) = yaml::scalar(val) {
                    // The map shape: `default`/`@` → registry, `@scope` → scope.
                    if key == "default" || key == "@" {
                        c.layer
                            .reg(url, origin, "registries.default", reg_overridable);
                    } else if key.starts_with('@') {
                        c.layer.scope(key, url, origin, scope_overridable);
                    }
                    continue;
                }
                // The declaration shape: the URL is the key.
                for (sc, l) in val.get_all("scopes") {
                    for (scope, sl) in yaml::scalars(sc, l) {
                        let o = Origin::file(path, sl);
                        if scope == "@" {
                            c.layer.reg(key, o, "registries", reg_overridable);
                        } else {
                            c.layer.scope(&scope, key, o, scope_overridable);
                        }
                    }
                }
                for (p, l) in val.get_all("prefix") {
                    if let Some(prefix) = yaml::scalar(p) {
                        c.named.push(Source::new(
                            SourceKind::ScopeRegistry,
                            key.as_str(),
                            Origin::file(path, l),
                            format!("namedRegistries.{prefix}"),
                        ));
                    }
                }
            }
        }
    }
    if modern && wanted("namedRegistries") {
        for (named, _) in doc.get_all("namedRegistries") {
            for (name, line, url) in named.map_entries() {
                if let Some(u) = yaml::scalar(url) {
                    c.named.push(Source::new(
                        SourceKind::ScopeRegistry,
                        u,
                        Origin::file(path, *line),
                        format!("namedRegistries.{name}"),
                    ));
                }
            }
        }
    }
    if wanted("strictSsl") {
        for (n, l) in doc.get_all("strictSsl") {
            if yaml::scalar(n).is_some_and(|v| v.eq_ignore_ascii_case("false")) {
                c.insecure.push(Source::new(
                    SourceKind::Insecure,
                    "false",
                    Origin::file(path, l),
                    "strictSsl",
                ));
            }
        }
    }
    // `overrides` and `packageExtensions` can point any dependency anywhere.
    if wanted("overrides") {
        for (o, _) in doc.get_all("overrides") {
            for (name, line, spec) in o.map_entries() {
                if let Some(v) = yaml::scalar(spec) {
                    if let Some(mut s) = spec_source(&format!("x@{v}"), Origin::file(path, *line)) {
                        s.subject = name.clone();
                        c.other.push(s);
                    }
                }
            }
        }
    }
    // Catalog entries are what `catalog:` dependencies resolve to.
    for key in ["catalog", "catalogs"] {
        if !wanted(key) {
            continue;
        }
        for (cat, _) in doc.get_all(key) {
            let lists: Vec<&yaml::Node> = if key == "catalog" {
                vec![cat]
            } else {
                cat.map_entries().map(|(_, _, n)| n).collect()
            };
            for list in lists {
                for (name, line, spec) in list.map_entries() {
                    if let Some(v) = yaml::scalar(spec) {
                        if let Some(mut s) =
                            spec_source(&format!("x@{v}"), Origin::file(path, *line))
                        {
                            s.subject = name.clone();
                            c.other.push(s);
                        }
                    }
                }
            }
        }
    }
    if wanted("pnpmfile") {
        for (n, l) in doc.get_all("pnpmfile") {
            for (v, vl) in yaml::scalars(n, l) {
                let file = path
                    .parent()
                    .map(|d| lexical(&d.join(&v)))
                    .unwrap_or_default();
                c.pnpmfiles.push((file, Origin::file(path, vl)));
            }
        }
    }
    // The global pnpmfile runs besides the project's (checked with pnpm
    // 12: `globalPnpmfile` in pnpm-workspace.yaml is read).
    if wanted("globalPnpmfile") {
        for (n, l) in doc.get_all("globalPnpmfile") {
            for (v, vl) in yaml::scalars(n, l) {
                let file = path
                    .parent()
                    .map(|d| lexical(&d.join(&v)))
                    .unwrap_or_default();
                if req.files.exists(&file) {
                    c.other.push(Source::new(
                        SourceKind::Executable,
                        file.display().to_string(),
                        Origin::file(path, vl),
                        "globalPnpmfile",
                    ));
                }
            }
        }
    }
    if wanted("packageExtensions") {
        for (exts, _) in doc.get_all("packageExtensions") {
            for (_, _, ext) in exts.map_entries() {
                for f in ["dependencies", "optionalDependencies", "peerDependencies"] {
                    for (deps, _) in ext.get_all(f) {
                        for (name, line, spec) in deps.map_entries() {
                            if let Some(v) = yaml::scalar(spec) {
                                if let Some(mut s) =
                                    spec_source(&format!("x@{v}"), Origin::file(path, *line))
                                {
                                    s.subject = name.clone();
                                    c.other.push(s);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    // `include: {./file.yaml: "*" | [settings]}` delegates settings.
    if modern && depth < 4 && only.is_none() {
        for (inc, _) in doc.get_all("include") {
            for (src, _, what) in inc.map_entries() {
                if !(src.starts_with("./") || src.starts_with("../")) {
                    continue;
                }
                let Some(dir) = path.parent() else { continue };
                let file = lexical(&dir.join(src));
                let list: Option<Vec<String>> = match yaml::scalar(what) {
                    Some("*") => None,
                    _ => Some(yaml::scalars(what, 0).into_iter().map(|(s, _)| s).collect()),
                };
                let Some(text) = req.files.read(&file) else {
                    continue;
                };
                let inner = yaml::parse(&text);
                if let Some((line, why)) = yaml::error(&inner) {
                    c.insecure.push(Source::unreadable(&file, line, why));
                }
                read_yaml(
                    req,
                    &file,
                    &inner,
                    modern,
                    scope_overridable,
                    depth + 1,
                    c,
                    list.as_deref(),
                );
            }
        }
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// pnpm's global config directory.
fn config_dir(req: &Request<'_>) -> Option<PathBuf> {
    if cfg!(windows) {
        return req
            .env
            .get("LOCALAPPDATA")
            .map(|d| PathBuf::from(d).join("pnpm").join("config"));
    }
    if let Some(x) = req.env.get("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("pnpm"));
    }
    let home = req.home?;
    Some(if cfg!(target_os = "macos") {
        home.join("Library/Preferences/pnpm")
    } else {
        home.join(".config/pnpm")
    })
}

/// Every directory pnpm may keep its cache in (its `dlx` entries live under
/// `<cache>/dlx`), as each generation reads `cache-dir` ([`dir_setting`]),
/// else the platform's default (`$XDG_CACHE_HOME/pnpm`, `~/.cache/pnpm`,
/// `~/Library/Caches/pnpm`, `%LOCALAPPDATA%\\pnpm-cache`).
pub fn cache_dirs(req: &Request<'_>) -> Vec<PathBuf> {
    dir_setting(req, "cache-dir", "cacheDir", default_cache_dir)
}

/// Every directory pnpm may keep its store in (`store-dir`, as
/// [`dir_setting`] reads it; pnpm adds `v10`/`v11`), else the default:
/// `$PNPM_HOME/store`, `$XDG_DATA_HOME/pnpm/store`,
/// `~/.local/share/pnpm/store` (`~/Library/pnpm/store`,
/// `%LOCALAPPDATA%\\pnpm\\store`). Checked with pnpm 12's `store path`.
pub fn store_dirs(req: &Request<'_>) -> Vec<PathBuf> {
    dir_setting(req, "store-dir", "storeDir", default_store_dir)
}

/// A directory setting (`key` in `.npmrc` and variables, `camel` in YAML)
/// as each pnpm generation reads it; both generations' when the version
/// is not known. pnpm ≥ 11 (checked against 12.21): `--KEY`,
/// `PNPM_CONFIG_KEY` (over `pnpm_config_key`), `camel` in
/// `pnpm-workspace.yaml` (relative to it), the global `config.yaml`'s;
/// `.npmrc` and `npm_config_*` are not read. pnpm ≤ 10: `--KEY`,
/// `npm_config_key`, the workspace file, the project's, the workspace
/// root's and the user's `.npmrc`, the global `rc`. Then `default`.
fn dir_setting(
    req: &Request<'_>,
    key: &str,
    camel: &str,
    default: fn(&Request<'_>) -> Option<PathBuf>,
) -> Vec<PathBuf> {
    let own = pnpm_own_args(req);
    let cwd = flag_value(own, &["--dir", "-C"])
        .map(|(v, _)| req.cwd.join(v))
        .unwrap_or_else(|| req.cwd.to_path_buf());
    let at = |base: &Path, v: &str| lexical(&base.join(super::yarn::expand_home(v, req.home)));
    if let Some((v, _)) =
        flag_value(own, &[format!("--{key}").as_str()]).filter(|(v, _)| !v.is_empty())
    {
        return vec![at(&cwd, &v)];
    }
    let proj = package_root(req, &cwd);
    let ws = workspace_root(req, &proj);
    let root = ws.clone().unwrap_or_else(|| proj.clone());
    let gen = generation(req, &root);
    let env_value = |prefix: &str| {
        let mut keys = env_keys(req, prefix);
        // The uppercase spelling first (it wins in pnpm 12).
        keys.sort_by_key(|(_, _, var)| !var.starts_with(&prefix.to_ascii_uppercase()));
        keys.into_iter()
            .find(|(k, v, _)| k == key && !v.is_empty())
            .map(|(_, v, _)| at(&cwd, &v))
    };
    let yaml_value = |path: &Path| {
        let text = req.files.read(path)?;
        let doc = yaml::parse(&text);
        let v = doc
            .get_all(camel)
            .into_iter()
            .filter_map(|(n, _)| yaml::scalar(n))
            .rfind(|v| !v.is_empty())?
            .to_string();
        Some(at(path.parent()?, &v))
    };
    let npmrc_value = |path: &Path| {
        let text = req.files.read(path)?;
        let v = npmrc::parse(&text, req.env)
            .into_iter()
            .rfind(|e| e.key == key && !e.value.is_empty())?
            .value;
        Some(at(path.parent()?, &v))
    };
    let ws_yaml = ws.as_ref().map(|w| w.join("pnpm-workspace.yaml"));
    let global = config_dir(req);
    let modern = || {
        env_value("pnpm_config_")
            .or_else(|| ws_yaml.as_deref().and_then(yaml_value))
            .or_else(|| {
                global
                    .as_ref()
                    .and_then(|g| yaml_value(&g.join("config.yaml")))
            })
    };
    let legacy = || {
        let mut npmrcs = vec![proj.join(".npmrc")];
        npmrcs.extend(ws.iter().filter(|w| **w != proj).map(|w| w.join(".npmrc")));
        npmrcs.extend(req.home.map(|h| h.join(".npmrc")));
        npmrcs.extend(global.as_ref().map(|g| g.join("rc")));
        env_value("npm_config_")
            .or_else(|| ws_yaml.as_deref().and_then(yaml_value))
            .or_else(|| npmrcs.iter().find_map(|p| npmrc_value(p)))
    };
    let or_default = |v: Option<PathBuf>| v.or_else(|| default(req));
    let mut out: Vec<PathBuf> = match gen {
        Gen::Modern => or_default(modern()).into_iter().collect(),
        Gen::Legacy => or_default(legacy()).into_iter().collect(),
        Gen::Both => or_default(modern())
            .into_iter()
            .chain(or_default(legacy()))
            .collect(),
    };
    out.dedup();
    out
}

/// A variable naming an absolute path.
fn abs_var(req: &Request<'_>, k: &str) -> Option<PathBuf> {
    req.env
        .get(k)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// pnpm's default store directory on this platform.
fn default_store_dir(req: &Request<'_>) -> Option<PathBuf> {
    let var = |k: &str| abs_var(req, k);
    if let Some(h) = var("PNPM_HOME") {
        return Some(h.join("store"));
    }
    if let Some(x) = var("XDG_DATA_HOME") {
        return Some(x.join("pnpm/store"));
    }
    if cfg!(windows) {
        return var("LOCALAPPDATA").map(|l| l.join("pnpm").join("store"));
    }
    let home = req.home?;
    Some(if cfg!(target_os = "macos") {
        home.join("Library/pnpm/store")
    } else {
        home.join(".local/share/pnpm/store")
    })
}

/// pnpm's default cache directory on this platform.
fn default_cache_dir(req: &Request<'_>) -> Option<PathBuf> {
    let var = |k: &str| abs_var(req, k);
    if let Some(x) = var("XDG_CACHE_HOME") {
        return Some(x.join("pnpm"));
    }
    if cfg!(windows) {
        return var("LOCALAPPDATA").map(|l| l.join("pnpm-cache"));
    }
    let home = req.home?;
    Some(if cfg!(target_os = "macos") {
        home.join("Library/Caches/pnpm")
    } else {
        home.join(".cache/pnpm")
    })
}

/// The nearest directory at or above `from` with a `pnpm-workspace.yaml`
/// (or the one the environment names).
fn workspace_root(req: &Request<'_>, from: &Path) -> Option<PathBuf> {
    for var in ["PNPM_CONFIG_WORKSPACE_DIR", "NPM_CONFIG_WORKSPACE_DIR"] {
        if let Some(d) = req.env.get(var).filter(|d| !d.is_empty()) {
            return Some(req.cwd.join(d));
        }
    }
    from.ancestors()
        .find(|d| req.files.exists(&d.join("pnpm-workspace.yaml")))
        .map(Path::to_path_buf)
}

/// `KEY=value` lines of a dotenv file, with lines.
pub(super) fn dotenv(text: &str) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            &v[1..v.len() - 1]
        } else {
            v.split(" #").next().unwrap_or(v).trim()
        };
        out.push((k.trim().to_string(), v.to_string(), i + 1));
    }
    out
}

struct Ctx {
    proj: PathBuf,
    ws: Option<PathBuf>,
}

fn legacy(
    req: &Request<'_>,
    cx: &Ctx,
    out: &mut Vec<Source>,
    pnpmfiles: &mut Vec<(PathBuf, Origin)>,
) {
    let mut insecure = Vec::new();
    let mut layers = Vec::new();
    // pnpm 10 reads `registries` from the workspace file, and nothing beats it.
    if let Some(ws) = &cx.ws {
        let c = yaml_conf(req, &ws.join("pnpm-workspace.yaml"), false, false, 0);
        out.extend(c.insecure);
        out.extend(c.other);
        pnpmfiles.extend(c.pnpmfiles);
        layers.push(c.layer);
    }
    layers.push(flag_layer(req.args, true, true));
    let mut env = Layer::default();
    let keys = env_keys(req, "npm_config_");
    for (k, v, var) in &keys {
        if k == "registry" {
            env.reg(v, Origin::env(var), "registry", true);
        } else if let Some(s) = k.strip_suffix(":registry").filter(|s| s.starts_with('@')) {
            env.scope(s, v, Origin::env(var), true);
        } else if k == "strict-ssl" && v.trim().eq_ignore_ascii_case("false") {
            insecure.push(Source::new(
                SourceKind::Insecure,
                v,
                Origin::env(var),
                "strict-ssl",
            ));
        }
    }
    layers.push(env);
    layers.push(npmrc_layer(req, &cx.proj.join(".npmrc"), &mut insecure));
    if let Some(ws) = cx.ws.as_ref().filter(|w| **w != cx.proj) {
        layers.push(npmrc_layer(req, &ws.join(".npmrc"), &mut insecure));
    }
    let userconfig = keys
        .iter()
        .find(|(k, _, _)| k == "userconfig")
        .map(|(_, v, _)| super::yarn::expand_home(v, req.home))
        .or_else(|| req.home.map(|h| h.join(".npmrc")));
    if let Some(u) = userconfig {
        layers.push(npmrc_layer(req, &u, &mut insecure));
    }
    if let Some(d) = config_dir(req) {
        layers.push(npmrc_layer(req, &d.join("rc"), &mut insecure));
    }
    for p in super::yarn::global_prefix(req, "pnpm") {
        layers.push(npmrc_layer(
            req,
            &p.join("etc").join("npmrc"),
            &mut insecure,
        ));
    }
    effective(&layers, out);
    out.extend(insecure);
}

fn modern(
    req: &Request<'_>,
    cx: &Ctx,
    verb: Verb,
    out: &mut Vec<Source>,
    pnpmfiles: &mut Vec<(PathBuf, Origin)>,
) {
    let mut insecure = Vec::new();
    let mut layers = Vec::new();
    layers.push(flag_layer(req.args, false, false));
    // The environment (pnpm_config_@s:registry is not read).
    let mut env = Layer::default();
    let keys = env_keys(req, "pnpm_config_");
    for (k, v, var) in &keys {
        if k == "registry" {
            env.reg(v, Origin::env(var), "registry", true);
        } else if k == "strict-ssl" && v.trim().eq_ignore_ascii_case("false") {
            insecure.push(Source::new(
                SourceKind::Insecure,
                v,
                Origin::env(var),
                "strictSsl",
            ));
        }
    }
    layers.push(env);
    // --env-file files; the process environment wins over them.
    let mut envfile = Layer::default();
    for (p, _) in flag_values(req.args, &["--env-file"]) {
        let path = req.cwd.join(&p);
        let Some(text) = req.files.read(&path) else {
            continue;
        };
        for (k, v, line) in dotenv(&text) {
            if k.eq_ignore_ascii_case("pnpm_config_registry") {
                envfile.reg(&v, Origin::file(&path, line), "registry", true);
            }
        }
    }
    layers.push(envfile);
    let mut named = Vec::new();
    let mut other = Vec::new();
    if let Some(ws) = &cx.ws {
        let c = yaml_conf(req, &ws.join("pnpm-workspace.yaml"), true, true, 0);
        named.extend(c.named);
        insecure.extend(c.insecure);
        other.extend(c.other);
        pnpmfiles.extend(c.pnpmfiles);
        layers.push(c.layer);
    }
    let dir = config_dir(req);
    let mut auth_file: Option<PathBuf> = keys
        .iter()
        .find(|(k, _, _)| k == "npmrc-auth-file")
        .map(|(_, v, _)| super::yarn::expand_home(v, req.home));
    if let Some(d) = &dir {
        let path = d.join("config.yaml");
        let c = yaml_conf(req, &path, true, true, 0);
        named.extend(c.named);
        insecure.extend(c.insecure);
        layers.push(c.layer);
        if auth_file.is_none() {
            if let Some(text) = req.files.read(&path) {
                auth_file = yaml::parse(&text)
                    .get_all("npmrcAuthFile")
                    .into_iter()
                    .find_map(|(n, _)| {
                        yaml::scalar(n).map(|v| super::yarn::expand_home(v, req.home))
                    });
            }
        }
    }
    let root = cx.ws.clone().unwrap_or_else(|| cx.proj.clone());
    layers.push(npmrc_layer(req, &root.join(".npmrc"), &mut insecure));
    if let Some(f) = auth_file.or_else(|| dir.as_ref().map(|d| d.join("auth.ini"))) {
        layers.push(npmrc_layer(req, &f, &mut insecure));
    }
    if let Some(h) = req.home {
        layers.push(npmrc_layer(req, &h.join(".npmrc"), &mut insecure));
    }
    effective(&layers, out);
    out.extend(named.iter().cloned());
    out.extend(insecure);
    if matches!(verb, Verb::Install) {
        out.extend(other);
    }
    // Specs on pnpm's built-in routes.
    let routed = |subject: &str| out_has(out, subject);
    let mut builtin_routes = Vec::new();
    if matches!(verb, Verb::Install | Verb::Execute) {
        for (spec, origin) in spec_words(req.args, verb) {
            builtin_routes.extend(builtin_route(&spec, origin, &routed));
        }
    }
    if verb == Verb::Install {
        let path = cx.proj.join("package.json");
        if let Some(text) = req.files.read(&path) {
            for (i, line) in text.lines().enumerate() {
                for prefix in ["\"jsr:", "\"gh:"] {
                    if let Some(at) = line.find(prefix) {
                        let spec: String =
                            line[at + 1..].chars().take_while(|c| *c != '"').collect();
                        builtin_routes.extend(builtin_route(
                            &spec,
                            Origin::file(&path, i + 1),
                            &routed,
                        ));
                    }
                }
            }
        }
    }
    out.extend(builtin_routes);
}

fn out_has(out: &[Source], subject: &str) -> bool {
    out.iter().any(|s| s.subject == subject)
}

/// A `jsr:` or `gh:` spec that no setting routes goes to pnpm's built-in
/// registry for it, which is no URL the policy can name: it is reported as
/// such (route the scope or prefix to an approved registry instead).
fn builtin_route(spec: &str, origin: Origin, routed: &dyn Fn(&str) -> bool) -> Option<Source> {
    let lower = spec.to_ascii_lowercase();
    let uses = |p: &str| lower.starts_with(p) || lower.contains(&format!("@{p}"));
    if uses("jsr:") && !routed("@jsr:registry") {
        return Some(Source::new(
            SourceKind::ScopeRegistry,
            "pnpm's built-in JSR registry",
            origin,
            "@jsr:registry",
        ));
    }
    if uses("gh:") && !routed("namedRegistries.gh") {
        return Some(Source::new(
            SourceKind::ScopeRegistry,
            "pnpm's built-in GitHub Packages registry",
            origin,
            "namedRegistries.gh",
        ));
    }
    None
}

/// The package specs of an install or execute command, with origins.
fn spec_words(args: &[String], verb: Verb) -> Vec<(String, Origin)> {
    let pos = positionals(args, PNPM_VALUE_FLAGS);
    let dash = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let words: Vec<(usize, &str)> = pos.into_iter().filter(|(i, _)| *i < dash).collect();
    let mut out: Vec<(String, Origin)> = flag_values(args, &["--package"])
        .into_iter()
        .map(|(v, f)| (v, Origin::flag(f)))
        .collect();
    match words.first().map(|(_, w)| *w) {
        Some("dlx" | "pnx") if out.is_empty() => {
            out.extend(words.get(1).map(|(_, w)| (w.to_string(), Origin::arg(*w))));
        }
        Some("create") => {
            if let Some((_, w)) = words.get(1) {
                let name = if w.starts_with('@') || w.contains(':') || w.contains('/') {
                    w.to_string()
                } else {
                    format!("create-{w}")
                };
                out.push((name, Origin::arg(*w)));
            }
        }
        Some(_) if verb == Verb::Install => {
            out.extend(
                words
                    .iter()
                    .skip(1)
                    .map(|(_, w)| (w.to_string(), Origin::arg(*w))),
            );
        }
        // pnpx PKG ARGS…
        Some(w) if verb == Verb::Execute && out.is_empty() => {
            out.push((w.to_string(), Origin::arg(w)));
        }
        _ => {}
    }
    out
}

/// pnpm's commands; anything else runs a script.
const PNPM_COMMANDS: &[&str] = &[
    "add",
    "approve-builds",
    "audit",
    "bin",
    "cache",
    "cat-file",
    "cat-index",
    "config",
    "create",
    "dedupe",
    "deploy",
    "deprecate",
    "dist-tag",
    "dlx",
    "doctor",
    "env",
    "exec",
    "fetch",
    "find-hash",
    "fund",
    "help",
    "i",
    "ignored-builds",
    "import",
    "init",
    "install",
    "install-test",
    "it",
    "licenses",
    "link",
    "list",
    "ln",
    "login",
    "logout",
    "ls",
    "outdated",
    "owner",
    "pack",
    "patch",
    "patch-commit",
    "patch-remove",
    "pnx",
    "prune",
    "publish",
    "rb",
    "rebuild",
    "remove",
    "rm",
    "root",
    "runtime",
    "self-update",
    "server",
    "setup",
    "shim",
    "stage",
    "store",
    "test",
    "token",
    "un",
    "uninstall",
    "unlink",
    "up",
    "update",
    "upgrade",
    "version",
    "view",
    "whoami",
    "why",
];

/// The arguments pnpm itself reads (not those of the command `exec`/`dlx`
/// runs).
fn pnpm_own_args<'a>(req: &Request<'a>) -> &'a [String] {
    if req.tool.name == "pnpx" {
        own_args(req.args, PNPM_VALUE_FLAGS, &[], &[])
    } else {
        own_args(
            req.args,
            PNPM_VALUE_FLAGS,
            PNPM_COMMANDS,
            &["exec", "dlx", "pnx"],
        )
    }
}

pub(super) fn sources(req: &Request<'_>, verb: Verb) -> Vec<Source> {
    let own = pnpm_own_args(req);
    let req = &Request {
        tool: req.tool,
        args: own,
        env: req.env,
        files: req.files,
        cwd: req.cwd,
        home: req.home,
        real_tool: req.real_tool,
    };
    let cwd = flag_value(req.args, &["--dir", "-C"])
        .map(|(v, _)| req.cwd.join(v))
        .unwrap_or_else(|| req.cwd.to_path_buf());
    let proj = package_root(req, &cwd);
    let ws = workspace_root(req, &proj);
    let cx = Ctx { proj, ws };
    let root = cx.ws.clone().unwrap_or_else(|| cx.proj.clone());
    let gen = generation(req, &root);
    let mut out = Vec::new();
    let mut locked = Vec::new();
    let mut yaml_pnpmfiles = Vec::new();
    match gen {
        Gen::Legacy => legacy(req, &cx, &mut out, &mut yaml_pnpmfiles),
        Gen::Modern => modern(req, &cx, verb, &mut out, &mut yaml_pnpmfiles),
        Gen::Both => {
            legacy(req, &cx, &mut out, &mut yaml_pnpmfiles);
            modern(req, &cx, verb, &mut out, &mut yaml_pnpmfiles);
        }
    }
    out.extend(node_tls(req));
    // pnpmfiles run inside pnpm; `updateConfig` can reroute registries.
    if verb == Verb::Install && !req.args.iter().any(|a| a == "--ignore-pnpmfile") {
        let ignored = env_keys(req, "pnpm_config_")
            .iter()
            .any(|(k, v, _)| k == "ignore-pnpmfile" && super::yarn::truthy(v));
        if !ignored {
            // `--pnpmfile`, else the workspace's `pnpmfile:`, else the default names.
            let setting = |flags: &[&str], keys: &[&str]| -> Vec<(PathBuf, Option<Origin>)> {
                let mut v: Vec<(PathBuf, Option<Origin>)> = flag_values(req.args, flags)
                    .into_iter()
                    .map(|(v, f)| (req.cwd.join(v), Some(Origin::flag(f))))
                    .collect();
                if v.is_empty() {
                    // `pnpm_config_pnpmfile` (checked with pnpm 12).
                    v = env_keys(req, "pnpm_config_")
                        .into_iter()
                        .filter(|(k, ..)| keys.contains(&k.as_str()))
                        .map(|(_, val, var)| (req.cwd.join(val), Some(Origin::env(var))))
                        .collect();
                }
                v
            };
            // The global pnpmfile (`--config.global-pnpmfile`,
            // `pnpm_config_global_pnpmfile`) runs besides the project's.
            let global = setting(
                &[
                    "--global-pnpmfile",
                    "--config.global-pnpmfile",
                    "--config.globalPnpmfile",
                ],
                &["global-pnpmfile", "globalpnpmfile"],
            );
            let mut files = setting(&["--pnpmfile", "--config.pnpmfile"], &["pnpmfile"]);
            if files.is_empty() {
                files = yaml_pnpmfiles
                    .into_iter()
                    .map(|(p, o)| (p, Some(o)))
                    .collect();
            }
            if files.is_empty() {
                files = [".pnpmfile.cjs", ".pnpmfile.mjs"]
                    .iter()
                    .map(|f| (root.join(f), None))
                    .collect();
            }
            for (f, origin) in files.into_iter().chain(global) {
                if req.files.exists(&f) {
                    let origin = origin.unwrap_or_else(|| Origin::file(&f, 1));
                    out.push(Source::new(
                        SourceKind::Executable,
                        f.display().to_string(),
                        origin,
                        "pnpmfile",
                    ));
                }
            }
        }
    }
    if matches!(verb, Verb::Install | Verb::Execute) {
        for (spec, origin) in spec_words(req.args, verb) {
            out.extend(spec_source(&spec, origin));
        }
    }
    if verb == Verb::Install {
        let lock_dir = flag_value(req.args, &["--lockfile-dir"])
            .map(|(v, _)| req.cwd.join(v))
            .unwrap_or_else(|| root.clone());
        locked.extend(super::yarn::lockfile_sources(
            req,
            &lock_dir.join("pnpm-lock.yaml"),
            lockfiles::Format::PnpmLock,
        ));
        // The whole workspace installs (and the project it was run in).
        out.extend(super::workspaces::manifest_sources(req, &root, false));
        if root != cx.proj {
            out.extend(super::workspaces::manifest_sources(req, &cx.proj, false));
        }
    }
    if verb == Verb::Publish {
        out.extend(publish_config(req, &cx.proj));
    }
    let mut out = dedupe(out);
    out.extend(locked);
    out
}

pub(super) fn force(
    args: &[String],
    mirror: &str,
    sources: &[Source],
    approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    let _ = args;
    let mut plan = Plan::default();
    for var in [
        "npm_config_registry",
        "NPM_CONFIG_REGISTRY",
        "pnpm_config_registry",
        "PNPM_CONFIG_REGISTRY",
    ] {
        set_env(&mut plan, var, mirror);
    }
    for s in sources {
        let take = s.overridable
            && match s.kind {
                SourceKind::Registry => true,
                SourceKind::ScopeRegistry if s.subject.starts_with('@') => {
                    if approved(s) {
                        false
                    } else {
                        let arg = format!("--config.{}={mirror}", s.subject);
                        if !plan.insert_args.contains(&arg) {
                            plan.insert_args.push(arg);
                        }
                        true
                    }
                }
                _ => false,
            };
        if take {
            env_var_too(&mut plan, s, mirror);
            plan.overridden.push(s.clone());
        } else {
            plan.remaining.push(s.clone());
        }
    }
    plan.insert_at = 0;
    Some(plan)
}

#[cfg(test)]
mod tests {
    use super::super::yarn::testkit::*;
    use super::*;
    use SourceKind::*;

    const BUILTIN: &str = "the tool's built-in default";

    fn p12<'a>(
        args: &'a [&'a str],
        env: &'a [(&'a str, &'a str)],
        files: &'a [(&'a str, &'a str)],
    ) -> Case<'a> {
        Case {
            tool: "pnpm",
            args,
            env,
            files,
            real: PNPM12_BIN,
        }
    }
    fn p10<'a>(
        args: &'a [&'a str],
        env: &'a [(&'a str, &'a str)],
        files: &'a [(&'a str, &'a str)],
    ) -> Case<'a> {
        Case {
            tool: "pnpm",
            args,
            env,
            files,
            real: PNPM10_BIN,
        }
    }

    /// Each case's directories as `f` finds them.
    fn check_dirs(cases: &[(Case<'_>, &[&str])], f: fn(&Request<'_>) -> Vec<PathBuf>) {
        for (c, want) in cases {
            let got = with_request(c, f);
            let want: Vec<PathBuf> = want.iter().map(PathBuf::from).collect();
            assert_eq!(got, want, "{:?} {:?} {:?}", c.args, c.env, c.files);
        }
    }

    /// Where each generation keeps its cache (the dlx entries pkgward
    /// prepares and lists): checked against `pnpm config get cache-dir` of
    /// the real pnpm 12.
    #[test]
    fn cache_dirs_follow_each_generation() {
        const WS: (&str, &str) = ("/w/proj/pnpm-workspace.yaml", "cacheDir: ../c-ws\n");
        const WS_KEBAB: (&str, &str) = ("/w/proj/pnpm-workspace.yaml", "cache-dir: /c-kebab\n");
        const NPMRC: (&str, &str) = ("/w/proj/.npmrc", "cache-dir=/c-npmrc\n");
        const USER: (&str, &str) = ("/home/u/.npmrc", "cache-dir=~/c-user\n");
        const GLOBAL: (&str, &str) = ("/home/u/.config/pnpm/config.yaml", "cacheDir: /c-global\n");
        const PIN10: (&str, &str) = (
            "/w/proj/package.json",
            r#"{"packageManager":"pnpm@10.34.9"}"#,
        );
        let default = "/home/u/.cache/pnpm";
        let cases: &[(Case<'_>, &[&str])] = &[
            (p12(&["dlx", "x"], &[], &[PNPM12]), &[default]),
            (p12(&["dlx", "x"], &[], &[PNPM12, NPMRC, USER]), &[default]),
            (p12(&["dlx", "x"], &[], &[PNPM12, WS, GLOBAL]), &["/w/c-ws"]),
            (
                p12(&["dlx", "x"], &[], &[PNPM12, WS_KEBAB, GLOBAL]),
                &["/c-global"],
            ),
            (
                p12(
                    &["--cache-dir=/c-arg", "dlx", "x"],
                    &[("PNPM_CONFIG_CACHE_DIR", "/c-env")],
                    &[PNPM12, WS],
                ),
                &["/c-arg"],
            ),
            (
                p12(
                    &["-C", "sub", "dlx", "x", "--cache-dir", "/not-pnpms"],
                    &[],
                    &[PNPM12],
                ),
                &[default],
            ),
            (
                p12(
                    &["dlx", "x"],
                    &[
                        ("pnpm_config_cache_dir", "/c-lower"),
                        ("PNPM_CONFIG_CACHE_DIR", "/c-upper"),
                    ],
                    &[PNPM12, WS],
                ),
                &["/c-upper"],
            ),
            (
                p12(
                    &["dlx", "x"],
                    &[("npm_config_cache_dir", "/c-npm")],
                    &[PNPM12],
                ),
                &[default],
            ),
            (
                p12(&["dlx", "x"], &[("XDG_CACHE_HOME", "/xdg")], &[PNPM12]),
                &["/xdg/pnpm"],
            ),
            (
                p10(&["dlx", "x"], &[], &[PNPM10, NPMRC, USER]),
                &["/c-npmrc"],
            ),
            (
                p10(&["dlx", "x"], &[], &[PNPM10, USER]),
                &["/home/u/c-user"],
            ),
            (
                p10(
                    &["dlx", "x"],
                    &[("npm_config_cache_dir", "/c-npm")],
                    &[PNPM10, NPMRC],
                ),
                &["/c-npm"],
            ),
            // pnpm 12 switching to the pinned pnpm 10.
            (
                p12(&["dlx", "x"], &[], &[PNPM12, PIN10, NPMRC]),
                &["/c-npmrc"],
            ),
            // Version unknown: where either generation would put it.
            (
                Case {
                    tool: "pnpx",
                    args: &["x"],
                    env: &[],
                    files: &[NPMRC, GLOBAL],
                    real: "/nowhere/pnpm",
                },
                &["/c-global", "/c-npmrc"],
            ),
        ];
        check_dirs(cases, cache_dirs);
    }

    /// The store, as `pnpm store path` of the real pnpm 12 finds it (the
    /// confined code's pnpm writes there).
    #[test]
    fn store_dirs_follow_each_generation() {
        const WS: (&str, &str) = ("/w/proj/pnpm-workspace.yaml", "storeDir: /ws-store\n");
        const GLOBAL: (&str, &str) = ("/home/u/.config/pnpm/config.yaml", "storeDir: /g-store\n");
        const NPMRC: (&str, &str) = ("/w/proj/.npmrc", "store-dir=/npmrc-store\n");
        let cases: &[(Case<'_>, &[&str])] = &[
            (
                p12(&["i"], &[], &[PNPM12]),
                &["/home/u/.local/share/pnpm/store"],
            ),
            (
                p12(&["i"], &[("PNPM_HOME", "/ph")], &[PNPM12]),
                &["/ph/store"],
            ),
            (
                p12(&["i"], &[("XDG_DATA_HOME", "/xd")], &[PNPM12]),
                &["/xd/pnpm/store"],
            ),
            (
                p12(&["i"], &[("PNPM_CONFIG_STORE_DIR", "/env")], &[PNPM12, WS]),
                &["/env"],
            ),
            (
                p12(
                    &["i"],
                    &[("npm_config_store_dir", "/npm")],
                    &[PNPM12, NPMRC],
                ),
                &["/home/u/.local/share/pnpm/store"],
            ),
            (p12(&["i"], &[], &[PNPM12, WS, GLOBAL]), &["/ws-store"]),
            (p12(&["i"], &[], &[PNPM12, GLOBAL]), &["/g-store"]),
            (
                p12(&["--store-dir", "/arg", "i"], &[], &[PNPM12, WS]),
                &["/arg"],
            ),
            (
                p10(
                    &["i"],
                    &[("npm_config_store_dir", "/npm")],
                    &[PNPM10, NPMRC],
                ),
                &["/npm"],
            ),
            (p10(&["i"], &[], &[PNPM10, NPMRC]), &["/npmrc-store"]),
        ];
        check_dirs(cases, store_dirs);
    }

    /// Exotic YAML in pnpm-workspace.yaml: the registry must be found or
    /// the file reported as unreadable (denied either way).
    #[test]
    fn hostile_workspace_yaml_forms_are_detected() {
        let cases: &[(&str, &str)] = &[
            ("alias", "x: &r https://evil.test/\nregistry: *r\n"),
            (
                "merge key",
                "d: &d {registry: https://evil.test/}\n<<: *d\n",
            ),
            (
                "flow map over lines",
                "{packages: [\".\"],\n registry:\n  https://evil.test/}\n",
            ),
            ("tag", "registry: !!str https://evil.test/\n"),
            (
                "quoted escaped key",
                "\"re\\x67istry\": https://evil.test/\n",
            ),
            (
                "duplicate key",
                "registry: https://ok.test/\nregistry: https://evil.test/\n",
            ),
            ("block scalar", "registry: >-\n  https://evil.test/\n"),
            (
                "scoped, explicit key",
                "registries:\n  ? \"@s\"\n  : https://evil.test/\n",
            ),
            (
                "syntax error",
                "packages: [\nregistry: https://evil.test/\n",
            ),
        ];
        for (name, text) in cases {
            let files = [
                PNPM12,
                ("/w/proj/package.json", "{}"),
                ("/w/proj/pnpm-workspace.yaml", *text),
            ];
            let got = run(&p12(&["add", "x"], &[], &files));
            let found = got.iter().any(|s| {
                (matches!(s.kind, Registry | ScopeRegistry) && s.value == "https://evil.test/")
                    || (s.kind == Insecure && s.subject == crate::classify::source::UNREADABLE)
            });
            assert!(found, "{name}: {text:?} not detected: {got:#?}");
        }
    }

    #[test]
    fn verbs() {
        let cases: &[(&str, &[&str], Verb)] = &[
            ("pnpm", &["install"], Verb::Install),
            ("pnpm", &["-C", "sub", "add", "x"], Verb::Install),
            ("pnpm", &["--filter", "a", "add", "x"], Verb::Install),
            ("pnpm", &["i"], Verb::Install),
            ("pnpm", &["store", "add", "x"], Verb::Install),
            ("pnpm", &["store", "path"], Verb::Other),
            ("pnpm", &["dlx", "cowsay"], Verb::Execute),
            ("pnpm", &["create", "vite"], Verb::Execute),
            ("pnpm", &["exec", "tsc"], Verb::Other),
            ("pnpm", &["run", "build"], Verb::Other),
            ("pnpm", &["publish"], Verb::Publish),
            ("pnpx", &["cowsay"], Verb::Execute),
        ];
        for (tool, args, want) in cases {
            let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert_eq!(verb(tool, &a), *want, "{tool} {args:?}");
        }
    }

    #[test]
    fn modern_precedence() {
        check(
            &p12(&["add", "x"], &[], &[PNPM12]),
            &[(Registry, "builtin", BUILTIN, true)],
        );
        // npm_config_* is ignored by pnpm 11+.
        let got = run(&p12(
            &["add", "x"],
            &[("npm_config_registry", "http://a.test/")],
            &[PNPM12],
        ));
        absent(&got, "http://a.test/");
        let files = [
            PNPM12,
            ("/w/proj/package.json", "{}"),
            ("/w/proj/.npmrc", "registry=http://b.test/\n@s:registry=http://s1.test/\n"),
            ("/home/u/.npmrc", "registry=http://c.test/\n"),
            ("/home/u/.config/pnpm/auth.ini", "registry=http://d.test/\n"),
            ("/home/u/.config/pnpm/config.yaml", "registry: http://e.test/\n"),
            ("/w/proj/pnpm-workspace.yaml", "packages: [\".\"]\nregistry: http://f.test/\nregistries:\n  \"@s\": http://s2.test/\n"),
        ];
        // Each file beats the ones after it.
        let expect = [
            ("http://f.test/", "/w/proj/pnpm-workspace.yaml:2"),
            ("http://e.test/", "/home/u/.config/pnpm/config.yaml:1"),
            ("http://b.test/", "/w/proj/.npmrc:1"),
            ("http://d.test/", "/home/u/.config/pnpm/auth.ini:1"),
            ("http://c.test/", "/home/u/.npmrc:1"),
        ];
        let order = [6, 5, 2, 4, 3];
        for (n, (value, origin)) in expect.iter().enumerate() {
            let mut fs: Vec<(&str, &str)> = vec![files[0], files[1]];
            fs.extend(order[n..].iter().map(|i| files[*i]));
            let got = check(
                &p12(&["add", "x"], &[], &fs),
                &[(Registry, value, origin, true)],
            );
            for (other, _) in &expect[n + 1..] {
                absent(&got, other);
            }
        }
        // The workspace scope beats the .npmrc one.
        let got = check(
            &p12(&["add", "@s/x"], &[], &files),
            &[(
                ScopeRegistry,
                "http://s2.test/",
                "/w/proj/pnpm-workspace.yaml:4",
                true,
            )],
        );
        absent(&got, "http://s1.test/");
        // The environment beats files; the command line beats the environment.
        check(
            &p12(
                &["add", "x"],
                &[("PNPM_CONFIG_REGISTRY", "http://g.test/")],
                &files,
            ),
            &[(
                Registry,
                "http://g.test/",
                "the environment variable PNPM_CONFIG_REGISTRY",
                true,
            )],
        );
        for flag in [
            "--registry=http://h.test/",
            "--config.registry=http://h.test/",
        ] {
            let got = check(
                &p12(
                    &["add", "x", flag],
                    &[("PNPM_CONFIG_REGISTRY", "http://g.test/")],
                    &files,
                ),
                &[(
                    Registry,
                    "http://h.test/",
                    &format!("the command-line flag {}", flag.split('=').next().unwrap()),
                    false,
                )],
            );
            absent(&got, "http://g.test/");
        }
        check(
            &p12(
                &["--config.@t:registry=http://i.test/", "add", "@t/x"],
                &[],
                &files,
            ),
            &[(
                ScopeRegistry,
                "http://i.test/",
                "the command-line flag --config.@t:registry",
                false,
            )],
        );
    }

    #[test]
    fn modern_workspace_shapes_and_more() {
        let ws = "packages:\n  - \"pkgs/*\"\nregistries:\n  http://a.test/:\n    scopes: [\"@\", \"@acme\"]\n  http://b.test/:\n    prefix: work\nnamedRegistries:\n  corp: http://c.test/\ninclude:\n  ./more.yaml: [registries]\noverrides:\n  left-pad: https://d.test/lp.tgz\nstrictSsl: false\n";
        let more = "registries:\n  \"@inc\": http://e.test/\n";
        let got = check(
            &p12(
                &["install"],
                &[],
                &[
                    PNPM12,
                    ("/w/pnpm-workspace.yaml", ws),
                    ("/w/more.yaml", more),
                    ("/w/proj/package.json", "{\"dependencies\": {\"x\": \"jsr:^1.0.0\"}}"),
                    ("/w/.pnpmfile.cjs", "module.exports = {}"),
                    ("/w/pnpm-lock.yaml", "lockfileVersion: '9.0'\n\npackages:\n\n  x@1.0.0:\n    resolution: {tarball: http://f.test/x-1.0.0.tgz}\n    version: 1.0.0\n"),
                ],
            ),
            &[
                (Registry, "http://a.test/", "/w/pnpm-workspace.yaml:5", true),
                (ScopeRegistry, "http://a.test/", "/w/pnpm-workspace.yaml:5", true),
                (ScopeRegistry, "http://b.test/", "/w/pnpm-workspace.yaml:7", false),
                (ScopeRegistry, "http://c.test/", "/w/pnpm-workspace.yaml:9", false),
                (ScopeRegistry, "http://e.test/", "/w/more.yaml:2", true),
                (Direct, "https://d.test/lp.tgz", "/w/pnpm-workspace.yaml:13", false),
                (Insecure, "false", "/w/pnpm-workspace.yaml:14", false),
                (ScopeRegistry, "pnpm's built-in JSR registry", "/w/proj/package.json:1", false),
                (Executable, "/w/.pnpmfile.cjs", "/w/.pnpmfile.cjs:1", false),
                (Locked, "http://f.test/x-1.0.0.tgz", "/w/pnpm-lock.yaml:5", false),
            ],
        );
        let p = plan("pnpm", &["install"], &got);
        assert!(
            p.insert_args
                .contains(&"--config.@acme:registry=https://mirror.example.com/npm/".to_string()),
            "{:?}",
            p.insert_args
        );
        assert!(p
            .insert_args
            .contains(&"--config.@inc:registry=https://mirror.example.com/npm/".to_string()));
        assert_eq!(p.insert_at, 0);
        for var in [
            "npm_config_registry",
            "PNPM_CONFIG_REGISTRY",
            "pnpm_config_registry",
        ] {
            assert!(p.env.iter().any(|(k, _)| k == var));
        }
        assert!(p.remaining.iter().any(|s| s.value == "http://b.test/"));
        // --ignore-pnpmfile: no pnpmfile source.
        let got = run(&p12(
            &["install", "--ignore-pnpmfile"],
            &[],
            &[
                PNPM12,
                ("/w/proj/package.json", "{}"),
                ("/w/proj/.pnpmfile.cjs", ""),
            ],
        ));
        assert!(!got.iter().any(|s| s.kind == Executable), "{got:#?}");
        // --env-file, beaten by the process environment.
        check(
            &p12(
                &["--env-file", "/etc/e", "add", "x"],
                &[],
                &[
                    PNPM12,
                    ("/etc/e", "# x\nPNPM_CONFIG_REGISTRY=\"http://g.test/\"\n"),
                ],
            ),
            &[(Registry, "http://g.test/", "/etc/e:2", true)],
        );
        // Specs.
        check(
            &p12(
                &["add", "jsr:@std/path", "https://h.test/x.tgz", "github:u/r"],
                &[],
                &[PNPM12],
            ),
            &[
                (
                    ScopeRegistry,
                    "pnpm's built-in JSR registry",
                    "the command-line argument `jsr:@std/path`",
                    false,
                ),
                (
                    Direct,
                    "https://h.test/x.tgz",
                    "the command-line argument `https://h.test/x.tgz`",
                    false,
                ),
                (
                    Git,
                    "github:u/r",
                    "the command-line argument `github:u/r`",
                    false,
                ),
            ],
        );
        let got = run(&p12(
            &["add", "jsr:@std/path"],
            &[],
            &[
                PNPM12,
                (
                    "/w/proj/pnpm-workspace.yaml",
                    "registries:\n  \"@jsr\": http://j.test/\n",
                ),
            ],
        ));
        absent(&got, "pnpm's built-in JSR registry");
        check(
            &Case {
                tool: "pnpx",
                args: &["https://k.test/t.tgz"],
                env: &[],
                files: &[PNPM12],
                real: PNPM12_BIN,
            },
            &[(
                Direct,
                "https://k.test/t.tgz",
                "the command-line argument `https://k.test/t.tgz`",
                false,
            )],
        );
    }

    #[test]
    fn arguments_of_scripts_are_not_pnpms() {
        for args in [
            &["run", "build", "--registry", "http://x.test/"][..],
            &["build", "--registry=http://x.test/"],
            &["exec", "tsc", "--registry", "http://x.test/"],
            &["dlx", "cowsay", "--registry", "http://x.test/"],
        ] {
            let got = run(&p12(args, &[], &[PNPM12]));
            absent(&got, "http://x.test/");
        }
        let got = run(&Case {
            tool: "pnpx",
            args: &["cowsay", "--registry", "http://x.test/"],
            env: &[],
            files: &[PNPM12],
            real: PNPM12_BIN,
        });
        absent(&got, "http://x.test/");
        check(
            &p12(
                &["--registry", "http://x.test/", "dlx", "cowsay"],
                &[],
                &[PNPM12],
            ),
            &[(
                Registry,
                "http://x.test/",
                "the command-line flag --registry",
                false,
            )],
        );
    }

    #[test]
    fn catalogs_and_pnpmfile_setting() {
        let ws = "catalog:\n  a: https://z.test/a.tgz\ncatalogs:\n  react17:\n    b: github:u/b\npnpmfile: hooks/p.cjs\n";
        let got = check(
            &p12(
                &["install"],
                &[],
                &[
                    PNPM12,
                    ("/w/proj/package.json", "{}"),
                    ("/w/proj/pnpm-workspace.yaml", ws),
                    ("/w/proj/hooks/p.cjs", ""),
                    ("/w/proj/.pnpmfile.cjs", ""),
                ],
            ),
            &[
                (
                    Direct,
                    "https://z.test/a.tgz",
                    "/w/proj/pnpm-workspace.yaml:2",
                    false,
                ),
                (Git, "github:u/b", "/w/proj/pnpm-workspace.yaml:5", false),
                (
                    Executable,
                    "/w/proj/hooks/p.cjs",
                    "/w/proj/pnpm-workspace.yaml:6",
                    false,
                ),
            ],
        );
        absent(&got, "/w/proj/.pnpmfile.cjs");
    }

    #[test]
    fn legacy_precedence() {
        let files = [
            PNPM10,
            ("/w/proj/package.json", "{}"),
            ("/w/proj/.npmrc", "registry=http://b.test/\n"),
            (
                "/home/u/.config/pnpm/rc",
                "registry=http://c.test/\n@s:registry=http://s.test/\n",
            ),
        ];
        check(
            &p10(&["add", "x"], &[], &files),
            &[(Registry, "http://b.test/", "/w/proj/.npmrc:1", true)],
        );
        check(
            &p10(&["add", "x"], &[], &[files[0], files[3]]),
            &[(
                Registry,
                "http://c.test/",
                "/home/u/.config/pnpm/rc:1",
                true,
            )],
        );
        let got = check(
            &p10(
                &["add", "x"],
                &[
                    ("npm_config_registry", "http://d.test/"),
                    ("npm_config_@s:registry", "http://t.test/"),
                ],
                &files,
            ),
            &[
                (
                    Registry,
                    "http://d.test/",
                    "the environment variable npm_config_registry",
                    true,
                ),
                (
                    ScopeRegistry,
                    "http://t.test/",
                    "the environment variable npm_config_@s:registry",
                    true,
                ),
            ],
        );
        absent(&got, "http://s.test/");
        // pnpm 10 ignores `registry:` in the workspace file, but its
        // `registries` beat even the command line.
        let ws = ("/w/proj/pnpm-workspace.yaml", "registry: http://e.test/\nregistries:\n  default: http://f.test/\n  \"@w\": http://g.test/\n");
        let got = check(
            &p10(
                &["add", "x", "--reg", "http://h.test/"],
                &[],
                &[files[0], files[1], ws],
            ),
            &[
                (
                    Registry,
                    "http://f.test/",
                    "/w/proj/pnpm-workspace.yaml:3",
                    false,
                ),
                (
                    ScopeRegistry,
                    "http://g.test/",
                    "/w/proj/pnpm-workspace.yaml:4",
                    false,
                ),
            ],
        );
        absent(&got, "http://e.test/");
        let p = plan("pnpm", &["add", "x"], &got);
        assert!(p.remaining.iter().any(|s| s.value == "http://f.test/"));
        assert!(p.insert_args.is_empty());
        check(
            &p10(&["add", "x", "--reg", "http://h.test/"], &[], &files),
            &[(
                Registry,
                "http://h.test/",
                "the command-line flag --reg",
                false,
            )],
        );
    }

    #[test]
    fn unknown_version_lists_both_and_pin_decides() {
        let exe = "/home/u/.local/share/pnpm/pnpm";
        let files = [
            ("/w/proj/package.json", "{}"),
            (
                "/w/proj/pnpm-workspace.yaml",
                "registries:\n  default: http://f.test/\n",
            ),
        ];
        let got = check(
            &Case {
                tool: "pnpm",
                args: &["add", "x"],
                env: &[("npm_config_registry", "http://d.test/")],
                files: &files,
                real: exe,
            },
            &[(
                Registry,
                "http://f.test/",
                "/w/proj/pnpm-workspace.yaml:2",
                false,
            )],
        );
        let _ = got;
        let pinned = [
            (
                "/w/proj/package.json",
                "{\"packageManager\": \"pnpm@12.1.0\"}",
            ),
            files[1],
        ];
        let got = check(
            &Case {
                tool: "pnpm",
                args: &["add", "x"],
                env: &[("npm_config_registry", "http://d.test/")],
                files: &pinned,
                real: PNPM10_BIN,
            },
            &[(
                Registry,
                "http://f.test/",
                "/w/proj/pnpm-workspace.yaml:2",
                true,
            )],
        );
        absent(&got, "http://d.test/");
    }
}
