//! `pkgward policy check|show|init`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::PolicyCmd;
use crate::error::{exit, Error, Result};
use crate::policy::{self, Layer, Mode, Origin, Policy};
use crate::tools::{Ecosystem, Tool};

pub fn run(cmd: PolicyCmd) -> Result<i32> {
    match cmd {
        PolicyCmd::Check { file } => check(file.as_deref()),
        PolicyCmd::Show { json } => show(json),
        PolicyCmd::Init { path, audit, force } => init(path, audit, force),
    }
}

fn cwd() -> Result<PathBuf> {
    std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))
}

fn check(file: Option<&Path>) -> Result<i32> {
    if let Some(file) = file {
        return match policy::check_file(file, Layer::System) {
            Ok(()) => {
                println!("{}: ok", file.display());
                Ok(0)
            }
            Err(errors) => Err(Error::PolicyInvalid(errors)),
        };
    }
    let discovery = policy::discover(&policy::DiscoveryContext::from_process(&cwd()?));
    let loaded = policy::load(&discovery);
    if discovery.layers.is_empty() {
        println!("no policy files in effect here: built-in defaults apply (mode enforce)");
    }
    for (layer, path) in &discovery.layers {
        let bad = loaded.errors.iter().any(|e| e.path == *path);
        println!(
            "{:<8} {}: {}",
            layer_label(*layer),
            path.display(),
            if bad { "INVALID" } else { "ok" }
        );
    }
    for r in &loaded.policy.refused {
        println!("refused  {}: `{}` {}", r.origin, r.key, r.reason);
    }
    if loaded.errors.is_empty() {
        Ok(0)
    } else {
        Err(Error::PolicyInvalid(loaded.errors))
    }
}

fn layer_label(l: Layer) -> &'static str {
    match l {
        Layer::System => "system",
        Layer::User => "user",
        Layer::Project => "project",
        Layer::Env => "env",
    }
}

fn origin(o: &Option<Origin>) -> String {
    match o {
        Some(o) => o.to_string(),
        None => "built-in default".into(),
    }
}

fn show(json: bool) -> Result<i32> {
    let loaded = policy::load(&policy::discover(&policy::DiscoveryContext::from_process(
        &cwd()?,
    )));
    let p: &Policy = &loaded.policy;
    let log = crate::shim::audit_log_path(p);
    if json {
        let mut v = serde_json::to_value(p).map_err(|e| Error::Internal(e.to_string()))?;
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("effective_audit_log".into(), serde_json::json!(log));
            m.insert(
                "errors".into(),
                serde_json::to_value(&loaded.errors).map_err(|e| Error::Internal(e.to_string()))?,
            );
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| Error::Internal(e.to_string()))?
        );
    } else {
        let w = 46;
        let line = |k: String, o: String| println!("{k:<w$} # {o}");
        println!("# effective policy, digest {}", p.digest);
        for s in &p.sources {
            println!(
                "# layer {}: {} (sha256 {})",
                layer_label(s.layer),
                s.path.display(),
                s.sha256
            );
        }
        line(
            format!("mode = {:?}", mode_str(p.mode.value)),
            origin(&p.mode.origin),
        );
        if !p.locked.is_empty() {
            for l in &p.locked {
                line(format!("lock += {:?}", l.value), origin(&l.origin));
            }
        }
        println!("[registries]");
        for eco in Ecosystem::ALL {
            match p.registries.get(&eco) {
                Some(s) => line(format!("{} = {:?}", eco.key(), s.value), origin(&s.origin)),
                None => line(
                    format!("{} = [\"builtin\"]", eco.key()),
                    "built-in default".into(),
                ),
            }
        }
        if !p.mirrors.is_empty() {
            println!("[mirrors]");
            for (eco, m) in &p.mirrors {
                line(format!("{} = {:?}", eco.key(), m.value), origin(&m.origin));
            }
        }
        println!("[scripts]");
        line(
            format!(
                "default = {:?}",
                format!("{:?}", p.scripts_default.value).to_lowercase()
            ),
            origin(&p.scripts_default.origin),
        );
        for a in &p.scripts_allow {
            let local = policy::AllowEntry::parse(&a.value).is_ok_and(|e| e.local);
            let what = if local {
                "  (the project's own code only)"
            } else {
                ""
            };
            line(format!("allow += {:?}{what}", a.value), origin(&a.origin));
        }
        if !p.network_allow.is_empty() {
            println!("[network]");
            for a in &p.network_allow {
                line(format!("allow += {:?}", a.value), origin(&a.origin));
            }
        }
        println!("[audit]");
        match (&p.audit_log, &log) {
            (Some(s), _) => line(
                format!("log = {:?}", s.value.display().to_string()),
                origin(&s.origin),
            ),
            (None, Some(l)) => line(
                format!("log = {:?}", l.display().to_string()),
                "built-in default".into(),
            ),
            (None, None) => line("log = (none)".into(), "no state directory".into()),
        }
        match &p.audit_max_size {
            Some(m) => line(format!("max_size = {}", m.value), origin(&m.origin)),
            None => line("max_size = 67108864".into(), "built-in default".into()),
        }
        match &p.audit_keep {
            Some(k) => line(format!("keep = {}", k.value), origin(&k.origin)),
            None => line("keep = 9".into(), "built-in default".into()),
        }
        for s in &p.sinks {
            line(
                format!(
                    "sinks += {{ name = {:?}, type = {:?}, url = {:?} }}",
                    s.value.name,
                    s.value.kind.type_name(),
                    s.value.kind.url()
                ),
                origin(&s.origin),
            );
        }
        if !p.threat_feeds.is_empty() {
            println!("[threats]");
            for f in &p.threat_feeds {
                line(
                    format!("feeds += {:?}", f.value.display().to_string()),
                    origin(&f.origin),
                );
            }
        }
        for r in &p.refused {
            println!(
                "# refused by a lock: {}: `{}` {}",
                r.origin, r.key, r.reason
            );
        }
        for e in &loaded.errors {
            println!("# ERROR (layer skipped): {e}");
        }
    }
    Ok(if loaded.errors.is_empty() {
        0
    } else {
        exit::CONFIG
    })
}

fn mode_str(m: Mode) -> &'static str {
    match m {
        Mode::Off => "off",
        Mode::Audit => "audit",
        Mode::Enforce => "enforce",
    }
}

fn init(path: Option<PathBuf>, audit: bool, force: bool) -> Result<i32> {
    let path = match path {
        Some(p) => p,
        None => dirs::config_dir()
            .map(|d| d.join("pkgward").join("policy.toml"))
            .ok_or_else(|| Error::Config("no user config directory: pass --path FILE".into()))?,
    };
    if path.exists() && !force {
        return Err(Error::Config(format!(
            "{} exists; not overwriting it (use --force)",
            path.display()
        )));
    }
    let registries = detect_registries(&cwd()?);
    let mode = if audit { Mode::Audit } else { Mode::Enforce };
    let text = policy::baseline_policy_text(&registries, mode);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    }
    std::fs::write(&path, text)
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    println!("pkgward: wrote {}", path.display());
    for (eco, regs) in &registries {
        println!("  {eco}: {}", regs.join(", "));
    }
    Ok(0)
}

/// The registries each installed tool is configured with right now, asked of
/// the tools themselves (through PATH, after the shims). A tool configured
/// with its own default registry gets `builtin`.
fn detect_registries(cwd: &Path) -> BTreeMap<Ecosystem, Vec<String>> {
    let exe = std::env::current_exe().ok();
    let shim_dirs: Vec<PathBuf> = crate::paths::default_shim_dir().into_iter().collect();
    let skip = crate::supervise::resolve::Skip::new(&shim_dirs, exe.as_deref());
    let path = std::env::var_os("PATH");
    let find =
        |name: &str| crate::supervise::resolve::find_real_tool(name, path.as_deref(), cwd, &skip).0;
    let mut out = BTreeMap::new();
    for tool in Tool::shims() {
        if out.contains_key(&tool.ecosystem) {
            continue;
        }
        let Some(real) = find(tool.name) else {
            continue;
        };
        let regs = match tool.name {
            "npm" => npm_registries(&real, cwd),
            "pip" | "pip3" => pip_registries(&real),
            _ => vec!["builtin".to_string()],
        };
        out.insert(tool.ecosystem, regs);
    }
    out
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn npm_registries(npm: &Path, cwd: &Path) -> Vec<String> {
    let configured = output(
        Command::new(npm)
            .args(["config", "get", "registry"])
            .current_dir(cwd),
    );
    let builtin =
        crate::builtin::resolve(Tool::by_name("npm").expect("npm is a tool"), npm, None).urls;
    match configured {
        Some(c) if !c.is_empty() && !builtin.contains(&c) => vec![c],
        _ => vec!["builtin".into()],
    }
}

fn pip_registries(pip: &Path) -> Vec<String> {
    let mut regs = Vec::new();
    if let Some(list) = output(Command::new(pip).args(["config", "list"])) {
        for line in list.lines() {
            if let Some((key, value)) = line.split_once('=') {
                if key.ends_with(".index-url") || key.ends_with(".extra-index-url") {
                    for v in value
                        .trim_matches(|c| c == '\'' || c == '"')
                        .split_whitespace()
                    {
                        regs.push(v.to_string());
                    }
                }
            }
        }
    }
    if let Ok(v) = std::env::var("PIP_INDEX_URL") {
        regs.push(v);
    }
    if regs.is_empty() {
        regs.push("builtin".into());
    }
    regs
}
