//! mvn: build extensions and plugins are code Maven downloads and runs in
//! the build (an extension is loaded into Maven's core before the
//! project's build starts). pkgward reads what the project declares from
//! its files **before** Maven runs — without running Maven ([`find`]):
//!
//! * `.mvn/extensions.xml` (the nearest `.mvn` directory at or above the
//!   project): `extensions/extension`;
//! * the POM (`pom.xml`, or `-f FILE`) and its modules (recursively, up to
//!   [`MAX_POMS`]): `build/extensions/extension`, `build/plugins/plugin`
//!   (an `<extensions>true</extensions>` plugin is an extension), and the
//!   same in every `profiles/profile` (profiles count whether active or
//!   not).
//!
//! Each is decided as `maven:GROUP:ARTIFACT[@VERSION]` (an exact version).
//! Apache Maven's own plugins (`org.apache.maven.plugins`, the groupId a
//! plugin without one has) are part of the tool: not decided. What Maven
//! learns only while it runs is not seen: plugins inherited from a parent
//! POM fetched from a repository, and the default lifecycle's plugins.
//! In enforce mode one unapproved extension or plugin denies the command
//! before Maven starts (exit 77); approved ones are recorded after Maven
//! ran, with its exit code. Gradle's plugins are read by [`super::gradle`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::classify::maven::xml;
use crate::error::{Error, Result};
use crate::policy::{Mode, Policy};
use crate::record::{self, AuditLog};
use crate::tools::Ecosystem;

use super::{ScriptDecision, ScriptRecord};

/// POMs read at most (modules of modules…).
pub const MAX_POMS: usize = 256;

/// Apache Maven's own plugins: part of the tool.
const TOOL_GROUP: &str = "org.apache.maven.plugins";

#[derive(Clone, Debug)]
pub struct Plan {
    /// The POM Maven reads.
    pub pom: PathBuf,
    approved: Arc<Mutex<Approved>>,
}

type Approved = Vec<(Found, ScriptDecision, Option<String>)>;

/// One declared extension or plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub group: String,
    pub artifact: String,
    pub version: String,
    /// `extension` (loaded into Maven's core) or `plugin`.
    pub kind: &'static str,
    /// The file that declares it.
    pub file: PathBuf,
}

impl Found {
    pub fn name(&self) -> String {
        format!("{}:{}", self.group, self.artifact)
    }
}

/// mvn options that take a value.
const VALUE: &[&str] = &[
    "-f",
    "--file",
    "-s",
    "--settings",
    "-gs",
    "--global-settings",
    "-t",
    "--toolchains",
    "-P",
    "--activate-profiles",
    "-pl",
    "--projects",
    "-rf",
    "--resume-from",
    "-D",
    "-T",
    "--threads",
    "-l",
    "--log-file",
    "-b",
    "--builder",
    "-e",
];

/// The plan for an mvn command line that runs a build (any goal or phase).
pub fn plan(args: &[String], cwd: &Path) -> Option<Plan> {
    let mut file = None;
    let mut goals = 0;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-v" || a == "--version" || a == "-h" || a == "--help" {
            return None;
        }
        if let Some(f) = a.strip_prefix("--file=") {
            file = Some(f.to_string());
        } else if a == "-f" || a == "--file" {
            file = it.next().cloned();
        } else if a.starts_with('-') {
            if VALUE.contains(&a.as_str()) && a != "-e" {
                it.next();
            }
        } else {
            goals += 1;
        }
    }
    if goals == 0 {
        return None;
    }
    let pom = match file {
        Some(f) => {
            let p = cwd.join(f);
            if p.is_dir() {
                p.join("pom.xml")
            } else {
                p
            }
        }
        None => cwd.join("pom.xml"),
    };
    Some(Plan {
        pom,
        approved: Arc::default(),
    })
}

/// `${name}` references replaced from the POM's `<properties>` (and
/// `project.version`); what cannot be resolved here is left as written.
fn resolve(s: &str, props: &[(String, String)]) -> String {
    let mut out = s.to_string();
    for _ in 0..8 {
        let Some(start) = out.find("${") else {
            break;
        };
        let Some(len) = out[start..].find('}') else {
            break;
        };
        let key = &out[start + 2..start + len];
        let Some((_, v)) = props.iter().find(|(k, _)| k == key) else {
            break;
        };
        out = format!("{}{}{}", &out[..start], v, &out[start + len + 1..]);
    }
    out
}

fn properties(root: &xml::Element) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = root
        .path(&["properties"])
        .into_iter()
        .flat_map(|p| p.children.iter())
        .map(|c| (c.name.clone(), c.text.trim().to_string()))
        .collect();
    if let Some(v) = root.text_of("version") {
        out.push(("project.version".into(), v.to_string()));
    }
    out
}

fn coords(e: &xml::Element, props: &[(String, String)]) -> (String, String, String) {
    let t = |n: &str| resolve(e.text_of(n).unwrap_or(""), props);
    let mut group = t("groupId");
    if group.is_empty() && e.name == "plugin" {
        group = TOOL_GROUP.into();
    }
    (group, t("artifactId"), t("version"))
}

/// The extensions and plugins one POM declares (its modules' paths too).
pub fn from_pom(text: &str, file: &Path) -> (Vec<Found>, Vec<String>) {
    let mut out = Vec::new();
    let Some(root) = xml::parse(text) else {
        return (out, Vec::new());
    };
    let props = properties(&root);
    let mut builds: Vec<&xml::Element> = root.path(&["build"]);
    builds.extend(root.path(&["profiles", "profile", "build"]));
    for b in builds {
        for e in b.path(&["extensions", "extension"]) {
            let (group, artifact, version) = coords(e, &props);
            out.push(Found {
                group,
                artifact,
                version,
                kind: "extension",
                file: file.to_path_buf(),
            });
        }
        for p in b.path(&["plugins", "plugin"]) {
            let (group, artifact, version) = coords(p, &props);
            let ext = p.text_of("extensions") == Some("true");
            if group == TOOL_GROUP && !ext {
                continue;
            }
            out.push(Found {
                group,
                artifact,
                version,
                kind: if ext { "extension" } else { "plugin" },
                file: file.to_path_buf(),
            });
        }
    }
    let mut modules: Vec<String> = root
        .path(&["modules", "module"])
        .into_iter()
        .map(|m| m.text.trim().to_string())
        .collect();
    modules.extend(
        root.path(&["profiles", "profile", "modules", "module"])
            .into_iter()
            .map(|m| m.text.trim().to_string()),
    );
    (out, modules)
}

/// The extensions `.mvn/extensions.xml` declares.
pub fn from_extensions_xml(text: &str, file: &Path) -> Vec<Found> {
    let Some(root) = xml::parse(text) else {
        return Vec::new();
    };
    root.path(&["extension"])
        .into_iter()
        .map(|e| {
            let (group, artifact, version) = coords(e, &[]);
            Found {
                group,
                artifact,
                version,
                kind: "extension",
                file: file.to_path_buf(),
            }
        })
        .collect()
}

/// Everything the project at `pom` declares; `Err` when a file that
/// exists cannot be read or parsed (fail closed).
pub fn find(pom: &Path) -> std::result::Result<Vec<Found>, String> {
    let mut out = Vec::new();
    let dir = pom.parent().unwrap_or(Path::new("."));
    if let Some(mvn) = dir.ancestors().map(|d| d.join(".mvn")).find(|d| d.is_dir()) {
        let f = mvn.join("extensions.xml");
        if f.is_file() {
            let text = std::fs::read_to_string(&f)
                .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
            if xml::parse(&text).is_none() {
                return Err(format!("cannot parse {}", f.display()));
            }
            out.extend(from_extensions_xml(&text, &f));
        }
    }
    let mut queue = vec![pom.to_path_buf()];
    let mut seen = std::collections::HashSet::new();
    while let Some(p) = queue.pop() {
        if seen.len() >= MAX_POMS {
            return Err(format!("more than {MAX_POMS} POMs below {}", dir.display()));
        }
        let key = p.canonicalize().unwrap_or_else(|_| p.clone());
        if !seen.insert(key) {
            continue;
        }
        if !p.is_file() {
            continue;
        }
        let text =
            std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        if xml::parse(&text).is_none() {
            return Err(format!("cannot parse {}", p.display()));
        }
        let (found, modules) = from_pom(&text, &p);
        out.extend(found);
        let base = p.parent().unwrap_or(Path::new("."));
        for m in modules {
            let m = base.join(m);
            queue.push(if m.is_dir() { m.join("pom.xml") } else { m });
        }
    }
    out.dedup();
    Ok(out)
}

fn rec(invocation_id: &str, f: &Found, d: ScriptDecision, by: &Option<String>) -> ScriptRecord {
    ScriptRecord {
        kind: "script",
        invocation_id: invocation_id.to_string(),
        time: record::now_rfc3339(),
        ecosystem: Ecosystem::Maven,
        package: f.name(),
        version: f.version.clone(),
        path: f.file.to_string_lossy().into_owned(),
        script: f.kind.to_string(),
        command: format!("{}:{}", f.name(), f.version),
        decision: d,
        approved_by: by.clone(),
        ran: false,
        runner: None,
        exit_code: None,
        signal: None,
        duration_ms: None,
        error: None,
        sandbox: None,
    }
}

/// Before Maven runs: find, decide, record; `Err(Denied)` for an unapproved
/// extension or plugin in enforce mode.
pub fn before(
    plan: &Plan,
    policy: &Policy,
    invocation_id: &str,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) -> Result<()> {
    let mode = policy.mode.value;
    let found = match find(&plan.pom) {
        Ok(f) => f,
        Err(e) if mode == Mode::Enforce => {
            return Err(Error::Denied {
                message: format!(
                "denied: cannot tell which Maven extensions and plugins the build would run: {e}"
            ),
            })
        }
        Err(e) => {
            notice(format!("warning: {e}; Maven runs anyway (audit mode)"));
            return Ok(());
        }
    };
    let mut denied = Vec::new();
    let mut approved = Vec::new();
    for mut f in found {
        // A version from a property pkgward cannot resolve (a parent's):
        // decided by name only.
        if f.version.contains("${") {
            f.version.clear();
        }
        let (d, by) = super::decide(policy, mode, Ecosystem::Maven, &f.name(), &f.version, false);
        if d.runs() {
            approved.push((f, d, by));
        } else {
            denied.push((f, d, by));
        }
    }
    if !denied.is_empty() {
        for (f, d, by) in denied.iter().chain(approved.iter()) {
            super::append(log, &rec(invocation_id, f, *d, by), notice);
        }
        let mut m = format!(
            "denied: the build would run {} Maven extension{}/plugin{} not approved by `[scripts]` in the policy \
             (Maven did not run):",
            denied.len(),
            if denied.len() == 1 { "" } else { "s" },
            if denied.len() == 1 { "" } else { "s" },
        );
        for (f, _, _) in &denied {
            m.push_str(&format!(
                "\n  maven:{}@{} ({}, {})\n    approve: {}",
                f.name(),
                f.version,
                f.kind,
                f.file.display(),
                super::approve_command(Ecosystem::Maven, &f.name(), &f.version, false)
            ));
        }
        return Err(Error::Denied { message: m });
    }
    if let Ok(mut a) = plan.approved.lock() {
        *a = approved;
    }
    Ok(())
}

/// After Maven ran: the approved extensions and plugins, with its exit code.
pub fn after(
    plan: &Plan,
    cx: &super::Context<'_>,
    code: i32,
    log: &mut Option<AuditLog>,
    notice: &mut dyn FnMut(String),
) {
    let approved = plan.approved.lock().map(|a| a.clone()).unwrap_or_default();
    let records = approved
        .iter()
        .map(|(f, d, by)| rec(cx.invocation_id, f, *d, by));
    super::record_ran(records, code, "mvn", log, notice);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(a: &[&str]) -> Vec<String> {
        a.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn which_commands_are_checked() {
        let cwd = Path::new("/p");
        assert_eq!(
            plan(&s(&["package"]), cwd).unwrap().pom,
            Path::new("/p/pom.xml")
        );
        assert_eq!(
            plan(&s(&["-f", "sub/pom.xml", "-DskipTests", "verify"]), cwd)
                .unwrap()
                .pom,
            Path::new("/p/sub/pom.xml")
        );
        assert_eq!(
            plan(&s(&["--file=x.xml", "-P", "ci", "install"]), cwd)
                .unwrap()
                .pom,
            Path::new("/p/x.xml")
        );
        assert!(plan(&s(&["-v"]), cwd).is_none());
        assert!(plan(&s(&["-P", "ci"]), cwd).is_none());
        assert!(plan(&s(&[]), cwd).is_none());
    }

    const POM: &str = r#"<?xml version="1.0"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modules><module>a</module></modules>
  <build>
    <extensions>
      <extension><groupId>kr.motd.maven</groupId><artifactId>os-maven-plugin</artifactId><version>1.7.1</version></extension>
    </extensions>
    <plugins>
      <plugin><artifactId>maven-compiler-plugin</artifactId><version>3.11.0</version></plugin>
      <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-surefire-plugin</artifactId></plugin>
      <plugin><groupId>org.codehaus.mojo</groupId><artifactId>exec-maven-plugin</artifactId><version>3.1.0</version></plugin>
      <plugin><groupId>io.example</groupId><artifactId>ext-plugin</artifactId><version>1</version><extensions>true</extensions></plugin>
    </plugins>
    <pluginManagement><plugins>
      <plugin><groupId>io.example</groupId><artifactId>managed-only</artifactId><version>1</version></plugin>
    </plugins></pluginManagement>
  </build>
  <profiles><profile><id>x</id><build><plugins>
    <plugin><groupId>io.example</groupId><artifactId>in-profile</artifactId><version>2</version></plugin>
  </plugins></build></profile></profiles>
</project>"#;

    #[test]
    fn pom_declarations() {
        let (found, modules) = from_pom(POM, Path::new("pom.xml"));
        let got: Vec<(String, &str, &str)> = found
            .iter()
            .map(|f| (f.name(), f.version.as_str(), f.kind))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "kr.motd.maven:os-maven-plugin".to_string(),
                    "1.7.1",
                    "extension"
                ),
                (
                    "org.codehaus.mojo:exec-maven-plugin".to_string(),
                    "3.1.0",
                    "plugin"
                ),
                ("io.example:ext-plugin".to_string(), "1", "extension"),
                ("io.example:in-profile".to_string(), "2", "plugin"),
            ]
        );
        assert_eq!(modules, ["a"]);
        assert!(from_pom("not xml <", Path::new("p")).0.is_empty());
        let ext = from_extensions_xml(
            "<extensions><extension><groupId>g</groupId><artifactId>a</artifactId><version>1</version></extension></extensions>",
            Path::new(".mvn/extensions.xml"),
        );
        assert_eq!(ext.len(), 1);
        assert_eq!(ext[0].name(), "g:a");
    }

    #[test]
    fn versions_from_properties() {
        let pom = "<project><version>3.1</version><properties><x.v>1.2</x.v></properties><build><extensions>\
                   <extension><groupId>g</groupId><artifactId>a</artifactId><version>${x.v}</version></extension>\
                   <extension><groupId>g</groupId><artifactId>b</artifactId><version>${project.version}</version></extension>\
                   <extension><groupId>g</groupId><artifactId>c</artifactId><version>${from.parent}</version></extension>\
                   </extensions></build></project>";
        let (found, _) = from_pom(pom, Path::new("pom.xml"));
        let v: Vec<&str> = found.iter().map(|f| f.version.as_str()).collect();
        assert_eq!(v, ["1.2", "3.1", "${from.parent}"]);
    }

    #[test]
    fn a_project_tree() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join(".mvn")).unwrap();
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join(".mvn/extensions.xml"), "<extensions><extension><groupId>g</groupId><artifactId>core-ext</artifactId><version>1</version></extension></extensions>").unwrap();
        std::fs::write(root.join("pom.xml"), POM).unwrap();
        // A module that names its parent as a module: visited once.
        std::fs::write(
            root.join("a/pom.xml"),
            "<project><modules><module>..</module></modules><build><plugins><plugin><groupId>m</groupId><artifactId>p</artifactId><version>9</version></plugin></plugins></build></project>",
        )
        .unwrap();
        let found = find(&root.join("pom.xml")).unwrap();
        let names: Vec<String> = found.iter().map(Found::name).collect();
        assert!(names.contains(&"g:core-ext".to_string()), "{names:?}");
        assert!(names.contains(&"m:p".to_string()), "{names:?}");
        assert_eq!(names.len(), 6, "{names:?}");
        // An unparsable POM fails closed.
        std::fs::write(root.join("a/pom.xml"), "no xml here").unwrap();
        assert!(find(&root.join("pom.xml")).is_err());
        // No POM: nothing to read (Maven says so itself).
        assert!(find(&root.join("none/pom.xml")).unwrap().len() == 1);
    }
}
