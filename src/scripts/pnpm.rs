//! pnpm's install-time code. pnpm installs into its virtual store
//! (`node_modules/.pnpm/<name>@<version>/node_modules/<name>`, linked from
//! `node_modules`), so the npm walk does not see it: this module walks the
//! virtual store (real directories only, never a symlink). pnpm itself
//! runs with `--ignore-scripts`; afterwards the approved packages' scripts
//! run through pnpm's own mechanism, one `pnpm rebuild NAME…` for all of
//! them (pnpm orders them by their dependencies), with
//! `PNPM_CONFIG_ALLOW_BUILDS` naming exactly the approved `name@version`s
//! (and every unapproved one with scripts as `false`, so a project's own
//! `allowBuilds` cannot add a version the policy did not approve).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::npm::{self, Package};

/// A walk stops after this many packages.
const MAX_PACKAGES: usize = 100_000;

/// The virtual store directory of the project at `root`: `virtualStoreDir`
/// from `node_modules/.modules.yaml` (JSON, as pnpm writes it) when it is
/// inside the project, else `node_modules/.pnpm`.
pub fn virtual_store(root: &Path) -> PathBuf {
    let nm = root.join("node_modules");
    let from_state = std::fs::read(nm.join(".modules.yaml"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("virtualStoreDir")?.as_str().map(str::to_string))
        .map(|d| nm.join(d));
    match from_state {
        // Only a store inside the project: a shared global virtual store
        // holds other projects' packages too.
        Some(d) if d.starts_with(root) && !d.components().any(|c| c.as_os_str() == "..") => d,
        _ => nm.join(".pnpm"),
    }
}

/// Every package in the virtual store with install-time code (no order:
/// `pnpm rebuild` orders them).
pub fn find(root: &Path) -> Vec<Package> {
    let store = virtual_store(root);
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&store) else {
        return out;
    };
    let mut entries: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect();
    entries.sort();
    for (entry, path) in entries {
        if out.len() >= MAX_PACKAGES {
            break;
        }
        if entry.starts_with('.') || entry == "node_modules" || !npm::is_real_dir(&path) {
            continue;
        }
        let nm = path.join("node_modules");
        for dir in package_dirs(&nm) {
            let Some(m) = npm::read_manifest(&dir) else {
                continue;
            };
            let name = m.get("name").and_then(Value::as_str).unwrap_or_default();
            let version = m.get("version").and_then(Value::as_str).unwrap_or_default();
            if name.is_empty() {
                continue;
            }
            let scripts = npm::dep_scripts(&m, &dir);
            if scripts.is_empty() {
                continue;
            }
            let rel = dir
                .strip_prefix(root)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_else(|_| dir.to_string_lossy().into_owned());
            out.push(Package {
                name: name.to_string(),
                version: version.to_string(),
                dir,
                rel,
                root: false,
                scripts,
                needs: Vec::new(),
            });
        }
    }
    out
}

/// The real package directories in one virtual-store entry's
/// `node_modules` (its dependencies there are symlinks).
fn package_dirs(nm: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(nm) else {
        return out;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let p = e.path();
        if name.starts_with('.') || !npm::is_real_dir(&p) {
            continue;
        }
        if name.starts_with('@') {
            if let Ok(inner) = std::fs::read_dir(&p) {
                for i in inner.filter_map(|e| e.ok()) {
                    let ip = i.path();
                    if !i.file_name().to_string_lossy().starts_with('.') && npm::is_real_dir(&ip) {
                        out.push(ip);
                    }
                }
            }
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The virtual store's packages (relative path → version and identity of
/// its `package.json`), to tell which ones an install added or replaced.
pub fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let store = virtual_store(root);
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(&store) else {
        return out;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let p = e.path();
        if !npm::is_real_dir(&p) {
            continue;
        }
        for dir in package_dirs(&p.join("node_modules")) {
            let id = std::fs::symlink_metadata(dir.join("package.json"))
                .map(|m| npm::file_identity(&m))
                .unwrap_or_default();
            let rel = dir
                .strip_prefix(root)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            out.insert(rel, id);
            if out.len() >= MAX_PACKAGES {
                return out;
            }
        }
    }
    out
}

/// `PNPM_CONFIG_ALLOW_BUILDS`: the approved `name@version`s `true`, every
/// other found one `false`.
pub fn allow_builds(approved: &[&Package], denied: &[&Package]) -> String {
    let mut m = serde_json::Map::new();
    for p in denied {
        m.insert(format!("{}@{}", p.name, p.version), Value::Bool(false));
    }
    for p in approved {
        m.insert(format!("{}@{}", p.name, p.version), Value::Bool(true));
    }
    Value::Object(m).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(dir: &Path, json: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("package.json"), json).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn walks_the_virtual_store_not_its_links() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let store = r.join("node_modules/.pnpm");
        pkg(
            &store.join("a@1.0.0/node_modules/a"),
            r#"{"name":"a","version":"1.0.0","scripts":{"postinstall":"x"}}"#,
        );
        pkg(
            &store.join("@s+b@2.0.0/node_modules/@s/b"),
            r#"{"name":"@s/b","version":"2.0.0","scripts":{"install":"y"}}"#,
        );
        pkg(
            &store.join("c@1.0.0/node_modules/c"),
            r#"{"name":"c","version":"1.0.0"}"#,
        );
        // a's dependency link, and a link out of the project.
        std::os::unix::fs::symlink(
            store.join("@s+b@2.0.0/node_modules/@s"),
            store.join("a@1.0.0/node_modules/@s"),
        )
        .unwrap();
        std::os::unix::fs::symlink("/", store.join("evil@1.0.0")).unwrap();
        let found = find(r);
        let names: Vec<(&str, &str)> = found
            .iter()
            .map(|p| (p.name.as_str(), p.rel.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("@s/b", "node_modules/.pnpm/@s+b@2.0.0/node_modules/@s/b"),
                ("a", "node_modules/.pnpm/a@1.0.0/node_modules/a"),
            ]
        );
        assert_eq!(snapshot(r).len(), 3);
        let a = &found[1];
        let b = &found[0];
        let v: Value = serde_json::from_str(&allow_builds(&[a], &[b])).unwrap();
        assert_eq!(v["a@1.0.0"], true);
        assert_eq!(v["@s/b@2.0.0"], false);
    }

    #[test]
    fn a_store_outside_the_project_is_not_used() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("node_modules")).unwrap();
        std::fs::write(
            r.join("node_modules/.modules.yaml"),
            r#"{"virtualStoreDir":"../../elsewhere"}"#,
        )
        .unwrap();
        assert_eq!(virtual_store(r), r.join("node_modules/.pnpm"));
        std::fs::write(
            r.join("node_modules/.modules.yaml"),
            r#"{"virtualStoreDir":".vs"}"#,
        )
        .unwrap();
        assert_eq!(virtual_store(r), r.join("node_modules/.vs"));
    }
}
