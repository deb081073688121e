//! pkgward's Windows build, run under Wine: the Windows behaviour proven on a
//! Linux machine (see `.ci/run`, which installs Debian's `wine64` and the
//! mingw-w64 toolchain).
//!
//! The suite cross-builds `pkgward.exe` (`cargo build --target
//! x86_64-pc-windows-gnu`), prepares one Wine prefix under the target
//! directory (created once, reused), and runs real Windows scenarios: shims
//! that are `.exe` copies, a `.cmd` real tool, the Job Object's process
//! records, watched execution paths, the policy denial. It never skips: when
//! Wine or the mingw compiler is missing, every test fails and says what to
//! install.
//!
//! What Wine cannot show, stated here and in each test concerned, and covered
//! by code review and the `x86_64-pc-windows-gnu` compile check instead:
//! - `%` through a batch file's `%*`: Wine's cmd.exe expands the arguments a
//!   second time, which Windows' cmd.exe does not. The test proves the
//!   rest: the command line pkgward gives cmd.exe (from the process record)
//!   comes out of cmd.exe's own pass byte-exact, and asserts the Wine
//!   difference explicitly (so a fixed Wine is noticed).
//! - PowerShell: Wine ships a stub `powershell.exe` that runs nothing, and no
//!   PowerShell can be installed here (Debian has none; npm's `pwsh` package
//!   downloads it from outside the registries at install time). The test
//!   proves pkgward starts it with the script and each argument as its own
//!   element (from the process record); the script itself cannot run.
//! - Ctrl-Break: Wine's console does not send it to a whole console (process
//!   group 0); asserted as such. Ctrl-C is proven on a pseudo-terminal.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

const TARGET: &str = "x86_64-pc-windows-gnu";
const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc";

struct Wine {
    wine: PathBuf,
    prefix: PathBuf,
    /// The cross-built pkgward.exe.
    exe: PathBuf,
    /// A stand-in for the program a `.cmd` tool starts (node for npm.cmd):
    /// records its arguments as the Microsoft C runtime parses them.
    argdump: PathBuf,
    /// Starts a process with an exact command line read from a file.
    rawexec: PathBuf,
    /// %APPDATA% of the prefix's user, as a Linux path.
    appdata: PathBuf,
}

fn target_dir() -> PathBuf {
    // <target>/debug/deps/windows_wine-HASH
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

fn find_wine() -> PathBuf {
    if let Some(p) = std::env::var_os("PKGWARD_WINE") {
        return PathBuf::from(p);
    }
    for p in ["/usr/lib/wine/wine64", "/usr/bin/wine64", "/usr/bin/wine"] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "Wine is not installed: this suite runs pkgward.exe under Wine and never skips. \
         Install Debian's wine64 (`apt-get install wine64`), as .ci/run does, \
         or point PKGWARD_WINE at a wine64 binary."
    );
}

fn checked(what: &str, out: std::io::Result<Output>) -> Output {
    let out = out.unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn gcc(src: &Path, out: &Path, libs: &[&str], shared: bool) {
    let mut c = Command::new(MINGW_GCC);
    if shared {
        c.arg("-shared");
    }
    c.arg("-O1").arg("-o").arg(out).arg(src).args(libs);
    let r = c.output().unwrap_or_else(|e| {
        panic!(
            "{MINGW_GCC} is needed to build the Wine test helpers ({e}); \
             install gcc-mingw-w64-x86-64 as .ci/run does"
        )
    });
    assert!(
        r.status.success(),
        "{MINGW_GCC} {}: {}",
        src.display(),
        String::from_utf8_lossy(&r.stderr)
    );
}

fn wine() -> &'static Wine {
    static W: OnceLock<Wine> = OnceLock::new();
    W.get_or_init(|| {
        let wine = find_wine();
        let target = target_dir();
        // Always ask cargo: a no-op when pkgward.exe is fresh, a rebuild when
        // the sources changed (a stale .exe would prove nothing).
        checked(
            "cargo build --target x86_64-pc-windows-gnu",
            Command::new(env!("CARGO"))
                .args(["build", "--locked", "--bin", "pkgward", "--target", TARGET])
                .arg("--target-dir")
                .arg(&target)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output(),
        );
        let exe = target.join(TARGET).join("debug").join("pkgward.exe");
        assert!(exe.is_file(), "{} was not built", exe.display());

        let tools = target.join("wine-tools");
        std::fs::create_dir_all(&tools).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wine");
        let argdump = tools.join("argdump.exe");
        gcc(&src.join("argdump.c"), &argdump, &[], false);
        let rawexec = tools.join("rawexec.exe");
        gcc(&src.join("rawexec.c"), &rawexec, &["-municode"], false);
        let dll = tools.join("bcryptprimitives.dll");
        gcc(&src.join("bcryptprimitives.c"), &dll, &["-ladvapi32"], true);

        // One prefix, created once (about 9 s) and reused. A lock file keeps
        // two test processes from creating it at the same time.
        let prefix = target.join("wine-prefix");
        let lock = std::fs::File::create(target.join("wine-prefix.lock")).unwrap();
        lock.lock().unwrap();
        if !prefix.join("system.reg").is_file() {
            let _ = std::fs::remove_dir_all(&prefix);
            let made = Command::new(&wine)
                .args(["cmd", "/c", "exit", "0"])
                .env("WINEPREFIX", &prefix)
                .env("WINEDEBUG", "-all")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("running wine");
            assert!(made.success(), "creating the Wine prefix failed: {made}");
        }
        // Keep one wineserver for the prefix up during the suite (it exits on
        // its own a minute after the last Wine process), with Wine's services
        // started under it here, with no stdio: a wineserver or service
        // started by a scenario would inherit that scenario's output pipes and
        // `output()` would wait for it to go away.
        let server = wine.with_file_name("wineserver");
        let server = if server.is_file() {
            server
        } else {
            wine.with_file_name("wineserver64")
        };
        let quiet = |c: &mut Command| {
            c.env("WINEPREFIX", &prefix)
                .env("WINEDEBUG", "-all")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        };
        let _ = quiet(Command::new(&server).arg("-p60"));
        let _ = quiet(Command::new(&wine).args(["cmd", "/c", "exit", "0"]));
        // Rust's std imports ProcessPrng from bcryptprimitives.dll, which
        // Wine 8 lacks (see tests/wine/bcryptprimitives.c).
        let system32 = prefix.join("drive_c/windows/system32");
        std::fs::copy(&dll, system32.join("bcryptprimitives.dll")).unwrap();
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        let appdata = prefix
            .join("drive_c/users")
            .join(&user)
            .join("AppData/Roaming");
        let appdata = if appdata.is_dir() {
            appdata
        } else {
            // Whatever user directory the prefix has.
            std::fs::read_dir(prefix.join("drive_c/users"))
                .unwrap()
                .flatten()
                .map(|e| e.path().join("AppData/Roaming"))
                .find(|p| p.is_dir())
                .expect("the Wine prefix has a user AppData directory")
        };
        drop(lock);
        Wine {
            wine,
            prefix,
            exe,
            argdump,
            rawexec,
            appdata,
        }
    })
}

/// A Linux path as Wine's Windows programs see it (drive Z: is `/`).
fn win(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

/// One scenario's files: shims, real tools, state, all in a temp directory.
struct Sandbox {
    dir: tempfile::TempDir,
    shims: PathBuf,
    real: PathBuf,
    state: PathBuf,
    path: Vec<PathBuf>,
    env: Vec<(String, String)>,
}

impl Sandbox {
    fn new() -> Sandbox {
        let w = wine();
        let dir = tempfile::tempdir().unwrap();
        let shims = dir.path().join("shims");
        let real = dir.path().join("real");
        let state = dir.path().join("state");
        for d in [&shims, &real, &state] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::copy(&w.argdump, real.join("argdump.exe")).unwrap();
        let policy = dir.path().join("policy.toml");
        std::fs::write(&policy, "mode = \"enforce\"\n").unwrap();
        Sandbox {
            path: vec![shims.clone(), real.clone()],
            env: vec![
                ("PKGWARD_STATE_DIR".into(), win(&state)),
                ("PKGWARD_SHIM_DIR".into(), win(&shims)),
                ("PKGWARD_POLICY".into(), win(&policy)),
                ("ARGDUMP_OUT".into(), win(&dir.path().join("args.bin"))),
            ],
            dir,
            shims,
            real,
            state,
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A copy of pkgward.exe under a tool's name in the shim directory.
    fn shim(&self, tool: &str) -> PathBuf {
        let p = self.shims.join(format!("{tool}.exe"));
        std::fs::copy(&wine().exe, &p).unwrap();
        p
    }

    /// A batch file in the real-tool directory (CRLF line ends).
    fn cmd(&self, name: &str, lines: &[&str]) {
        let body: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
        std::fs::write(self.real.join(name), body).unwrap();
    }

    fn set(&mut self, k: &str, v: &str) {
        self.env.push((k.into(), v.into()));
    }

    /// Runs a Windows program under Wine with this sandbox's PATH and env.
    fn run(&self, program: &Path, args: &[&str]) -> Output {
        self.run_in(self.root(), program, args)
    }

    /// [`Sandbox::run`] in the directory `cwd`.
    fn run_in(&self, cwd: &Path, program: &Path, args: &[&str]) -> Output {
        let w = wine();
        let path: Vec<String> = self.path.iter().map(|p| win(p)).collect();
        let mut c = Command::new(&w.wine);
        c.arg(program)
            .args(args)
            .current_dir(cwd)
            .env("WINEPREFIX", &w.prefix)
            .env("WINEDEBUG", "-all")
            // Wine puts WINEPATH in front of the prefix's own PATH.
            .env("WINEPATH", path.join(";"));
        for (k, v) in &self.env {
            c.env(k, v);
        }
        let out = c.output().expect("running wine");
        // pkgward's management CLI never exits 1 and never fails without a
        // word; exit 1 with no output at all is Wine failing to run it
        // (seen once on a loaded CI machine, never reproduced here). That
        // one case is run again, once, and said on the test's output.
        let cli = program.file_name().is_some_and(|n| n == "pkgward.exe");
        if cli && out.status.code() == Some(1) && out.stdout.is_empty() && out.stderr.is_empty() {
            eprintln!(
                "wine ran {} with no output and exit 1; running it again",
                program.display()
            );
            return c.output().expect("running wine");
        }
        out
    }

    /// [`Sandbox::run`] on a terminal: under `script` (util-linux), which
    /// gives Wine a pseudo-terminal, so the program and everything it starts
    /// share a Windows console (console control events need one). stdout
    /// and stderr are the terminal's, mixed and full of escape sequences.
    fn run_tty(&self, program: &Path, args: &[&str]) -> Output {
        let w = wine();
        let quote = |a: &str| format!("'{}'", a.replace('\'', r"'\''"));
        let mut line = vec![
            quote(&w.wine.to_string_lossy()),
            quote(&program.to_string_lossy()),
        ];
        line.extend(args.iter().map(|a| quote(a)));
        let path: Vec<String> = self.path.iter().map(|p| win(p)).collect();
        let mut c = Command::new("script");
        c.args(["-qec", &line.join(" "), "/dev/null"])
            .current_dir(self.root())
            .env("WINEPREFIX", &w.prefix)
            .env("WINEDEBUG", "-all")
            .env("WINEPATH", path.join(";"));
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.output().unwrap_or_else(|e| {
            panic!("`script` (util-linux, Debian's bsdutils) is needed for the console tests: {e}")
        })
    }

    /// The arguments the stand-in program received, in order.
    fn dumped_args(&self) -> Vec<String> {
        let bytes = std::fs::read(self.root().join("args.bin"))
            .expect("the real tool ran and started its program");
        let mut parts: Vec<String> = bytes
            .split(|b| *b == 0)
            .map(|p| String::from_utf8(p.to_vec()).unwrap())
            .collect();
        parts.pop(); // after the last NUL
        parts.remove(0); // the raw command line
        parts
    }

    fn audit(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.state.join("audit.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("every audit line is JSON"))
            .collect()
    }
}

/// Tests that write into the shared Wine prefix's own NuGet locations
/// (`%AppData%\NuGet`, `%ProgramData%\pkgward`) take turns: Wine sets
/// %AppData% and %ProgramData% itself, so no per-test copy is possible.
static NUGET_PREFIX_FILES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A file in the shared prefix, written now and removed when dropped (also
/// when the test fails), so no later run sees it.
struct PrefixFile(PathBuf);

impl PrefixFile {
    fn write(path: PathBuf, text: &str) -> PrefixFile {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        PrefixFile(path)
    }
}

impl Drop for PrefixFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs a tool through its shim; `Ok(args the fake real tool received)` or
/// `Err(stderr)` for a denial, which must exit 77 with pkgward's message on
/// stderr and without starting the real tool.
fn delegated(s: &Sandbox, cwd: &Path, shim: &Path, args: &[&str]) -> Result<Vec<String>, String> {
    let _ = std::fs::remove_file(s.root().join("args.bin"));
    let out = s.run_in(cwd, shim, args);
    let err = stderr(&out);
    match out.status.code() {
        Some(0) => Ok(s.dumped_args()),
        Some(77) => {
            assert!(err.starts_with("pkgward: "), "{args:?}: {err}");
            assert!(err.contains("denied"), "{args:?}: {err}");
            assert!(
                !s.root().join("args.bin").exists(),
                "{args:?}: denied, yet the real tool ran"
            );
            Err(err)
        }
        other => panic!("{args:?}: exit {other:?}: {err}"),
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn of_kind<'a>(records: &'a [Value], kind: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["kind"] == kind).collect()
}

/// Arguments that break naive batch-file quoting: spaces, quotes, `^`, `&`,
/// `|`, `<`, `>`, `!`, trailing backslashes, empty strings, non-ASCII.
const HOSTILE: &[&str] = &[
    "install",
    "a b",
    "x\"y",
    "\"",
    "\"\"",
    "^",
    "^&",
    "&",
    "a & calc.exe",
    "\" & calc.exe & \"",
    "|<>",
    "!x!",
    "",
    "a\\",
    "c:\\p q\\",
    "a\"b c",
    "é ünïcode",
    "--flag=va lue",
];

#[test]
fn exe_shim_copies_dispatch_on_argv0_and_a_cmd_tool_gets_its_arguments_byte_exact() {
    let mut s = Sandbox::new();
    let npm = s.shim("npm");
    // What npm.cmd does: start its program with `%*`.
    s.cmd("npm.cmd", &["@\"%~dp0argdump.exe\" %*"]);
    s.set("ARGDUMP_EXIT", "42");
    let out = s.run(&npm, HOSTILE);
    assert_eq!(out.status.code(), Some(42), "{}", stderr(&out));
    // pkgward switches npm's own install scripts off (`[scripts]`): the one
    // argument it adds, after the user's, byte-exact.
    let mut want: Vec<&str> = HOSTILE.to_vec();
    want.push("--ignore-scripts");
    assert_eq!(s.dumped_args(), want);

    let audit = s.audit();
    let inv = of_kind(&audit, "invocation")[0];
    assert_eq!(inv["tool"], "npm");
    assert_eq!(inv["via"], "shim");
    let real = inv["real_tool"]["path"].as_str().unwrap();
    assert!(real.ends_with("\\real\\npm.cmd"), "{real}");
    let exit = of_kind(&audit, "exit")[0];
    assert_eq!(exit["exit_code"], 42);

    // The same binary under another name is that tool (argv[0] dispatch),
    // case-insensitively, and under its own name it is the CLI.
    let yarn = s.shims.join("YARN.EXE");
    std::fs::copy(&wine().exe, &yarn).unwrap();
    s.cmd("yarn.cmd", &["@\"%~dp0argdump.exe\" yarn-was-here %*"]);
    let out = s.run(&yarn, &["add", "left pad"]);
    assert_eq!(out.status.code(), Some(42), "{}", stderr(&out));
    assert_eq!(s.dumped_args(), ["yarn-was-here", "add", "left pad"]);
    let out = s.run(&wine().exe, &["--version"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("pkgward "),
        "{}",
        stderr(&out)
    );
}

/// `%` is where batch files are treacherous: cmd.exe expands `%VAR%` in a
/// batch file's arguments, so the standard library writes each `%` as
/// `%%cd:~,%`, which cmd.exe's own command-line pass turns back into one
/// `%`. Under Wine that pass is proven here, on the very command line
/// pkgward started cmd.exe with (from the process record), with the batch
/// file swapped for argdump.exe. What Wine cannot show is the last step:
/// Windows' cmd.exe puts `%*` into the batch file's line without expanding
/// it again, Wine's cmd.exe expands it a second time (a Wine bug: `%*` in
/// an argument even crashes it). That difference is asserted, so a fixed
/// Wine is noticed and the `%` cases can join HOSTILE.
#[test]
fn percent_signs_reach_the_real_tool_exactly() {
    const PCT: &[&str] = &[
        "%PATH%", "100%", "%%", "%cd%", "a%b%c", "%~dp0", "%1", "50% off", "\"%\"", "^%x^%",
        "!x!%", "%PATH",
    ];
    let mut s = Sandbox::new();
    let npm = s.shim("npm");
    // An .exe real tool: no cmd.exe in between, byte-exact.
    std::fs::copy(&wine().argdump, s.real.join("npm.exe")).unwrap();
    let out = s.run(&npm, PCT);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(s.dumped_args(), PCT);

    // A .cmd real tool: the command line pkgward started cmd.exe with.
    std::fs::remove_file(s.real.join("npm.exe")).unwrap();
    s.cmd("npm.cmd", &["@\"%~dp0argdump.exe\" %*"]);
    s.set("ARGDUMP_EXIT", "0");
    let out = s.run(&npm, PCT);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let through_wine_batch = s.dumped_args();
    let audit = s.audit();
    let id = &of_kind(&audit, "invocation").last().unwrap()["invocation_id"];
    let cmd_line = of_kind(&audit, "process")
        .into_iter()
        .find(|p| {
            p["invocation_id"] == *id
                && p["image"]
                    .as_str()
                    .unwrap()
                    .to_ascii_lowercase()
                    .ends_with("\\cmd.exe")
        })
        .unwrap()["command_line"]
        .as_str()
        .unwrap()
        .to_string();
    let batch = format!("{}\\npm.cmd\"", win(&s.real));
    assert!(cmd_line.contains(&batch), "{cmd_line}");
    // cmd.exe's pass over it, the batch file swapped for a program.
    let exe = format!("{}\\argdump.exe\"", win(&s.real));
    std::fs::write(
        s.root().join("cmdline.txt"),
        cmd_line.replacen(&batch, &exe, 1),
    )
    .unwrap();
    std::fs::remove_file(s.root().join("args.bin")).unwrap();
    let out = s.run(&wine().rawexec, &[&win(&s.root().join("cmdline.txt"))]);
    assert_eq!(out.status.code(), Some(0), "{cmd_line}: {}", stderr(&out));
    assert_eq!(s.dumped_args(), PCT, "cmd.exe's pass over {cmd_line}");

    // The batch file's own `%*` under Wine: expanded again.
    eprintln!(
        "NOTE (Wine, not Windows): through npm.cmd's %* the tool received {through_wine_batch:?}: \
         Wine's cmd.exe expands the arguments a second time"
    );
    assert_ne!(
        through_wine_batch, PCT,
        "Wine's cmd.exe now passes % through a batch file: move the % cases into HOSTILE"
    );
}

/// Ctrl-C: the console sends it to every process on it, pkgward included;
/// pkgward's handler swallows it, the tool decides, and its exit code comes
/// back through pkgward (a parent without the handler dies of it). Proven
/// under Wine on a pseudo-terminal. Ctrl-Break to the whole console
/// (process group 0) is not implemented by Wine's console (ERROR_INVALID_HANDLE):
/// asserted as such; pkgward's handler treats both events alike (code review
/// of `on_ctrl` in src/supervise/windows.rs and the cross-build).
#[test]
fn ctrl_c_is_left_to_the_tool_and_pkgward_outlives_it() {
    let mut s = Sandbox::new();
    let npm = s.shim("npm");
    std::fs::copy(&wine().argdump, s.real.join("npm.exe")).unwrap();
    s.set("ARGDUMP_CTRL", "c");
    let out = s.run_tty(&npm, &["view", "x"]);
    let ctrl = std::fs::read_to_string(s.root().join("args.bin.ctrl")).unwrap_or_default();
    assert_eq!(ctrl, "got 0", "the tool saw Ctrl-C (CTRL_C_EVENT = 0)");
    assert_eq!(
        out.status.code(),
        Some(130),
        "the tool's exit code, through a pkgward that outlived Ctrl-C: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let audit = s.audit();
    assert_eq!(of_kind(&audit, "exit")[0]["exit_code"], 130);
    assert_eq!(of_kind(&audit, "process-exit")[0]["exit_code"], 130);

    s.set("ARGDUMP_CTRL", "break");
    let out = s.run_tty(&npm, &["view", "y"]);
    let ctrl = std::fs::read_to_string(s.root().join("args.bin.ctrl")).unwrap_or_default();
    eprintln!("NOTE (Wine, not Windows): Ctrl-Break to the console: {ctrl}");
    assert_eq!(
        ctrl, "generate-failed 6",
        "Wine's console now sends Ctrl-Break to process group 0: assert it like Ctrl-C above"
    );
    assert_eq!(out.status.code(), Some(70), "the tool's own exit code");
}

#[test]
fn exit_codes_pass_through_unchanged() {
    let s = Sandbox::new();
    let pip = s.shim("pip");
    s.cmd("pip.cmd", &["@exit /b %1"]);
    for code in ["0", "1", "3", "77", "255", "1000"] {
        let out = s.run(&pip, &[code]);
        assert_eq!(
            out.status.code(),
            Some(code.parse::<i32>().unwrap() & 0xff),
            "exit {code}: {}",
            stderr(&out)
        );
    }
    // The full 32-bit code is what pkgward exits with: the record has it.
    let exits: Vec<i64> = of_kind(&s.audit(), "exit")
        .iter()
        .map(|e| e["exit_code"].as_i64().unwrap())
        .collect();
    assert_eq!(exits, [0, 1, 3, 77, 255, 1000]);
}

#[test]
fn recursion_is_stopped_copies_of_pkgward_are_skipped() {
    let mut s = Sandbox::new();
    let cargo = s.shim("cargo");
    // A second copy of pkgward named cargo.exe in a directory before the
    // real tool (an old install): not the shim directory, not the same file,
    // but the same bytes — skipped.
    let old = s.root().join("old-install");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::copy(&wine().exe, old.join("cargo.exe")).unwrap();
    s.path = vec![s.shims.clone(), old.clone(), s.real.clone()];
    s.cmd("cargo.cmd", &["@\"%~dp0argdump.exe\" real-cargo %*"]);
    // (`clean`: a build would be split into `cargo fetch` and an offline
    // build, which this stand-in cannot answer.)
    let out = s.run(&cargo, &["clean"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(s.dumped_args(), ["real-cargo", "clean"]);

    // A real tool that calls the tool again by name (reaching the shim):
    // the depth counter stops the loop with a configuration error.
    s.cmd("cargo.cmd", &["@cargo.exe %*"]);
    // Start near the limit so the loop is short under Wine.
    s.set("PKGWARD_DEPTH", "8");
    let out = s.run(&cargo, &["build"]);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(stderr(&out).contains("pkgward:"), "{}", stderr(&out));
    assert!(
        stderr(&out).to_lowercase().contains("recurs")
            || stderr(&out).to_lowercase().contains("loop"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_process_tree_is_recorded_with_parents_and_shells_are_flagged() {
    let s = Sandbox::new();
    let npm = s.shim("npm");
    s.cmd(
        "npm.cmd",
        &[
            "@echo off",
            "\"%~dp0argdump.exe\" grandchild %*",
            // What an install script would do.
            "cmd /c exit 3",
            // Binaries attackers use to fetch or run payloads (Wine ships
            // these two as harmless stubs).
            "rundll32.exe",
            "certutil.exe -hashfile nothing",
            "exit /b 0",
        ],
    );
    let out = s.run(&npm, &["install", "left-pad"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let audit = s.audit();
    let inv = of_kind(&audit, "invocation")[0];
    let pkgward_pid = inv["pid"].as_i64().unwrap();
    let procs = of_kind(&audit, "process");
    assert_eq!(procs.len(), 5, "{procs:#?}");
    // Streamed: each process is written when it is learned (with its time),
    // its exit code in a `process-exit` record later; all before the
    // invocation's exit record.
    let exits = of_kind(&audit, "process-exit");
    assert_eq!(exits.len(), 5, "{exits:#?}");
    let exit_code = |p: &Value| {
        let at = |k: &str, v: &Value| audit.iter().position(|r| r["kind"] == k && r["pid"] == *v);
        let (start, end) = (at("process", &p["pid"]), at("process-exit", &p["pid"]));
        assert!(start < end, "the start is written before the exit: {p}");
        assert!(p["time"].is_string(), "{p}");
        assert!(p.get("exit_code").is_none(), "{p}");
        exits.iter().find(|e| e["pid"] == p["pid"]).unwrap()["exit_code"].clone()
    };
    assert_eq!(audit.last().unwrap()["kind"], "exit");
    let name = |p: &Value| {
        p["image"]
            .as_str()
            .unwrap_or_default()
            .rsplit('\\')
            .next()
            .unwrap()
            .to_ascii_lowercase()
    };
    // The real tool: cmd.exe running npm.cmd, started by pkgward, not flagged.
    let tool = procs[0];
    assert_eq!(name(tool), "cmd.exe");
    assert_eq!(tool["parent_pid"].as_i64(), Some(pkgward_pid));
    assert_eq!(of_kind(&audit, "exit")[0]["child_pid"], tool["pid"]);
    assert!(tool.get("flagged").is_none());
    assert_eq!(exit_code(tool), 0);
    assert!(
        tool["command_line"].as_str().unwrap().contains("npm.cmd"),
        "{tool}"
    );
    // Its child, with its own command line.
    let grandchild = procs[1];
    assert_eq!(name(grandchild), "argdump.exe");
    assert_eq!(grandchild["parent_pid"], tool["pid"]);
    assert_eq!(exit_code(grandchild), 0);
    assert!(
        grandchild["command_line"]
            .as_str()
            .unwrap()
            .ends_with("grandchild install left-pad --ignore-scripts"),
        "{grandchild}"
    );
    // The shell install-time code started: flagged.
    let shell = procs[2];
    assert_eq!(name(shell), "cmd.exe");
    assert_eq!(shell["parent_pid"], tool["pid"]);
    assert_eq!(exit_code(shell), 3);
    assert_eq!(shell["flagged"], "cmd.exe started by install-time code");
    assert_eq!(shell["command_line"], "cmd /c exit 3");
    for (p, program) in procs[3..].iter().zip(["rundll32.exe", "certutil.exe"]) {
        assert_eq!(name(p), program);
        assert_eq!(p["parent_pid"], tool["pid"]);
        assert_eq!(
            p["flagged"],
            format!("{program} started by install-time code").as_str()
        );
        assert_eq!(exit_code(p), 0);
    }
}

#[test]
fn a_shim_killed_mid_run_leaves_the_process_records_so_far_and_the_tree_dies_with_it() {
    // The grandchild waits until its own `process` record is in the audit
    // log (which only a streamed record can satisfy while pkgward runs),
    // then kills pkgward outright (TerminateProcess: no clean-up runs).
    let mut s = Sandbox::new();
    let npm = s.shim("npm");
    s.cmd(
        "npm.cmd",
        &["@echo off", "\"%~dp0argdump.exe\" %*", "exit /b 0"],
    );
    let audit_path = win(&s.state.join("audit.jsonl"));
    s.set("ARGDUMP_KILL_SUPERVISOR", &audit_path);
    let out = s.run(&npm, &["install", "--token", "s3cret"]);
    assert_eq!(
        out.status.code(),
        Some(9),
        "pkgward was killed with 9 (5: the kill failed; 6: argdump outlived it): {}",
        stderr(&out)
    );
    // Every line is one complete JSON record (`audit()` parses each).
    let audit = s.audit();
    let inv = of_kind(&audit, "invocation")[0];
    let procs = of_kind(&audit, "process");
    assert_eq!(procs.len(), 2, "the tool and its child: {procs:#?}");
    assert_eq!(procs[0]["parent_pid"], inv["pid"]);
    assert_eq!(procs[1]["parent_pid"], procs[0]["pid"]);
    assert!(procs[1]["image"]
        .as_str()
        .unwrap()
        .to_ascii_lowercase()
        .ends_with("\\argdump.exe"));
    // Command lines are redacted like argv.
    let cl = procs[1]["command_line"].as_str().unwrap();
    assert!(cl.ends_with("install --token *** --ignore-scripts"), "{cl}");
    assert!(!audit.iter().any(|r| r.to_string().contains("s3cret")));
    assert!(
        of_kind(&audit, "exit").is_empty(),
        "pkgward never got to it"
    );
    // The job (kill-on-close) took the tree down with pkgward.
    assert!(
        !s.root().join("args.bin.survived").exists(),
        "the tool's child outlived the killed pkgward"
    );
}

#[test]
fn an_executable_written_into_a_watched_path_is_recorded_with_its_hash() {
    let s = Sandbox::new();
    let npm = s.shim("npm");
    let name = format!(
        "evil-{}.exe",
        s.root().file_name().unwrap().to_string_lossy()
    );
    let npm_dir = wine().appdata.join("npm");
    std::fs::create_dir_all(&npm_dir).unwrap();
    s.cmd(
        "npm.cmd",
        &[
            "@echo off",
            &format!("copy /y \"%~dp0argdump.exe\" \"%APPDATA%\\npm\\{name}\" >nul"),
            "echo not code> \"%APPDATA%\\npm\\notes-of-%RANDOM%.txt\"",
        ],
    );
    let out = s.run(&npm, &["install", "-g", "evil"]);
    let written = npm_dir.join(&name);
    let bytes = std::fs::read(&written);
    // Clean the shared prefix before asserting.
    let _ = std::fs::remove_file(&written);
    for e in std::fs::read_dir(&npm_dir).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("notes-of-") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bytes = bytes.expect("the fake tool wrote the executable");
    let audit = s.audit();
    let files = of_kind(&audit, "file-written");
    assert_eq!(files.len(), 1, "only the executable: {files:#?}");
    let f = files[0];
    assert!(
        f["path"]
            .as_str()
            .unwrap()
            .ends_with(&format!("\\npm\\{name}")),
        "{f}"
    );
    assert_eq!(f["change"], "created");
    assert_eq!(f["size"].as_u64(), Some(bytes.len() as u64));
    use sha2::Digest;
    let want: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(f["sha256"], want.as_str());
    assert!(f["root"]
        .as_str()
        .unwrap()
        .ends_with("\\AppData\\Roaming\\npm"));
}

/// A policy approving a loopback npm registry (set for npm too) and the
/// scripts of `npm:pw-a` only, with `more` in `[scripts]`.
fn npm_scripts_policy(s: &mut Sandbox, more: &str) {
    let policy = s.root().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "mode = \"enforce\"\n[registries]\nnpm = [\"http://127.0.0.1:9/\"]\n\
             [scripts]\ndefault = \"deny\"\n{more}allow = [\"npm:pw-a\"]\n"
        ),
    )
    .unwrap();
    s.set("PKGWARD_POLICY", &win(&policy));
    s.set("npm_config_registry", "http://127.0.0.1:9/");
}

/// The lines the stand-in tools appended to `calls.log`.
fn calls(s: &Sandbox) -> Vec<String> {
    std::fs::read_to_string(s.real.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// The records of the stand-ins' two packages: `pw-a` approved, built
/// (exit 0, a duration), `pw-b` denied, not run; nothing else; both linked
/// to the invocation.
fn pw_a_built_pw_b_denied(audit: &[Value]) {
    let scripts = of_kind(audit, "script");
    assert_eq!(scripts.len(), 2, "{scripts:?}");
    let of = |p: &str| {
        *scripts
            .iter()
            .find(|r| r["package"] == p)
            .unwrap_or_else(|| panic!("{p} recorded: {scripts:?}"))
    };
    let (a, b) = (of("pw-a"), of("pw-b"));
    assert_eq!(a["decision"], "approved", "{a}");
    assert_eq!(a["ran"], true, "{a}");
    assert_eq!(a["exit_code"], 0, "{a}");
    assert_eq!(a["version"], "1.0.0", "{a}");
    assert!(a["duration_ms"].as_f64().is_some(), "{a}");
    assert_eq!(b["decision"], "deny", "{b}");
    assert_eq!(b["ran"], false, "{b}");
    assert_eq!(b["version"], "2.0.0", "{b}");
    let inv = &of_kind(audit, "invocation")[0];
    for r in [a, b] {
        assert_eq!(r["invocation_id"], inv["invocation_id"], "{r}");
    }
}

/// npm on Windows (no broker): the real npm installs with
/// `--ignore-scripts`; pkgward then walks `node_modules` and runs the
/// approved package's scripts with npm's own `npm rebuild
/// ./node_modules/<name>` (under the Job Object), records both packages and
/// lists the denied one once with its approve command. The stand-in npm
/// (a batch file: no npm runs under Wine here, node's sockets do not work
/// there) installs two packages with a postinstall and logs each call.
#[test]
fn npm_install_on_windows_runs_only_the_approved_scripts_through_npm_rebuild() {
    let mut s = Sandbox::new();
    let npm = s.shim("npm");
    s.cmd(
        "npm.cmd",
        &[
            "@echo off",
            "if \"%~1\"==\"rebuild\" goto rebuild",
            ">>\"%~dp0calls.log\" echo install %*",
            "mkdir node_modules\\pw-a node_modules\\pw-b 2>nul",
            ">node_modules\\pw-a\\package.json echo {\"name\":\"pw-a\",\"version\":\"1.0.0\",\"scripts\":{\"postinstall\":\"node a.js\"}}",
            ">node_modules\\pw-b\\package.json echo {\"name\":\"pw-b\",\"version\":\"2.0.0\",\"scripts\":{\"postinstall\":\"node b.js\"}}",
            "exit /b 0",
            ":rebuild",
            ">>\"%~dp0calls.log\" echo rebuild %*",
            ">rebuilt.txt echo %*",
            "exit /b 0",
        ],
    );
    npm_scripts_policy(&mut s, "");
    let proj = s.root().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join("package.json"),
        "{\"name\":\"proj\",\"version\":\"1.0.0\"}\n",
    )
    .unwrap();
    let out = s.run_in(&proj, &npm, &["install"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let calls = calls(&s);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].starts_with("install") && calls[0].contains("--ignore-scripts"),
        "{calls:?}"
    );
    assert!(calls[1].starts_with("rebuild"), "{calls:?}");
    assert!(
        calls[1].contains("node_modules/pw-a") || calls[1].contains("node_modules\\pw-a"),
        "{calls:?}"
    );
    assert!(!calls[1].contains("pw-b"), "{calls:?}");
    assert!(proj.join("rebuilt.txt").exists(), "{err}");
    assert!(err.contains("pkgward approve npm:pw-b@2.0.0"), "{err}");
    assert!(!err.contains("approve npm:pw-a"), "{err}");
    assert_eq!(err.matches("install-time code not run").count(), 1, "{err}");
    pw_a_built_pw_b_denied(&s.audit());
}

/// `npx` on Windows (no broker): pkgward first has the real npx install
/// the command's packages into npm's default npx cache
/// (`%LOCALAPPDATA%\\npm-cache\\_npx\\<key>`) with `--ignore-scripts` and
/// itself as the script shell, builds the approved package there with `npm
/// rebuild`, lists the denied one, and then runs the user's command line,
/// whose output alone is on stdout. Stand-ins: `npx.cmd` installs (when
/// pkgward prepares) or "runs the command"; `npm.cmd` logs the rebuild.
#[test]
fn npx_on_windows_builds_the_approved_package_in_its_npx_directory_first() {
    let mut s = Sandbox::new();
    let npx = s.shim("npx");
    let key = format!("pkgward-test-{}", std::process::id());
    s.cmd(
        "npx.cmd",
        &[
            "@echo off",
            "if \"%PKGWARD_NPX_PREPARE%\"==\"1\" goto prepare",
            ">>\"%~dp0calls.log\" echo run %*",
            "echo command output",
            "exit /b 0",
            ":prepare",
            ">>\"%~dp0calls.log\" echo prepare %*",
            "set D=%LOCALAPPDATA%\\npm-cache\\_npx\\%PW_KEY%\\node_modules",
            "mkdir \"%D%\\pw-a\" \"%D%\\pw-b\" 2>nul",
            ">\"%D%\\.package-lock.json\" echo {}",
            ">\"%D%\\pw-a\\package.json\" echo {\"name\":\"pw-a\",\"version\":\"1.0.0\",\"bin\":\"a.js\",\"scripts\":{\"postinstall\":\"node a.js\"}}",
            ">\"%D%\\pw-b\\package.json\" echo {\"name\":\"pw-b\",\"version\":\"2.0.0\",\"scripts\":{\"postinstall\":\"node b.js\"}}",
            "echo npm install output",
            "exit /b 0",
        ],
    );
    s.cmd(
        "npm.cmd",
        &[
            "@echo off",
            ">>\"%~dp0calls.log\" echo npm %* in %CD%",
            "exit /b 0",
        ],
    );
    s.set("PW_KEY", &key);
    npm_scripts_policy(&mut s, "exec = \"allow\"\n");
    // npm's default cache on Windows, in the shared prefix: removed after.
    let local = wine().appdata.with_file_name("Local");
    let dir = local.join("npm-cache/_npx").join(&key);
    struct Gone(PathBuf);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _gone = Gone(dir.clone());
    let out = s.run(&npx, &["pw-a"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "command output",
        "{err}"
    );
    assert!(err.contains("npm install output"), "{err}");
    let calls = calls(&s);
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(
        calls[0].starts_with("prepare --ignore-scripts \"--script-shell=")
            && calls[0].contains("npx.exe")
            && calls[0].ends_with(" pw-a"),
        "{calls:?}"
    );
    assert!(calls[1].starts_with("npm rebuild"), "{calls:?}");
    assert!(
        calls[1].contains("pw-a") && !calls[1].contains("pw-b"),
        "{calls:?}"
    );
    assert!(calls[1].to_ascii_lowercase().contains(&key), "{calls:?}");
    assert_eq!(calls[2], "run pw-a", "{calls:?}");
    assert!(err.contains("pkgward approve npm:pw-b@2.0.0"), "{err}");
    pw_a_built_pw_b_denied(&s.audit());
}

#[test]
fn a_policy_denial_exits_77_with_the_message_on_stderr_and_the_tool_never_runs() {
    let mut s = Sandbox::new();
    let npm = s.shim("npm");
    s.cmd("npm.cmd", &["@\"%~dp0argdump.exe\" %*"]);
    let policy = s.root().join("policy.toml");
    std::fs::write(
        &policy,
        "mode = \"enforce\"\n[registries]\nnpm = [\"http://127.0.0.1:9/\"]\n",
    )
    .unwrap();
    s.set("PKGWARD_POLICY", &win(&policy));
    let out = s.run(
        &npm,
        &["install", "left-pad", "--registry", "http://evil.test/"],
    );
    assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with("pkgward: "), "{err}");
    assert!(err.contains("denied"), "{err}");
    assert!(err.contains("evil.test"), "{err}");
    assert!(
        !s.root().join("args.bin").exists(),
        "the real tool must not run"
    );
    let audit = s.audit();
    assert_eq!(
        of_kind(&audit, "invocation")[0]["decision"]["action"],
        "deny"
    );
    assert!(of_kind(&audit, "process").is_empty());
}

#[test]
fn pathext_order_and_ps1_only_tools() {
    let s = Sandbox::new();
    let pnpm = s.shim("pnpm");
    // The first PATH directory has only pnpm.ps1 and a bare `pnpm` (a sh
    // script, as npm installs beside pnpm.cmd); the second has pnpm.cmd.
    // cmd.exe would run pnpm.cmd: so does pkgward.
    let first = s.root().join("first");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::write(first.join("pnpm.ps1"), "exit 9\r\n").unwrap();
    std::fs::write(first.join("pnpm"), "#!/bin/sh\nexit 9\n").unwrap();
    let mut s = s;
    s.path = vec![s.shims.clone(), first.clone(), s.real.clone()];
    s.cmd("pnpm.cmd", &["@\"%~dp0argdump.exe\" from-cmd %*"]);
    let out = s.run(&pnpm, &["add", "x y"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        s.dumped_args(),
        ["from-cmd", "add", "x y", "--ignore-scripts"]
    );

    // Only the .ps1: started through PowerShell, the script and each argument
    // its own element. Wine's powershell.exe is a stub that runs nothing, so
    // the proof is the process record of the PowerShell that pkgward started.
    std::fs::remove_file(s.real.join("pnpm.cmd")).unwrap();
    let out = s.run(&pnpm, &["add", "a b", "$(calc)"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "Wine's powershell stub: {}",
        stderr(&out)
    );
    let audit = s.audit();
    let inv = of_kind(&audit, "invocation");
    let last = inv.last().unwrap();
    assert!(last["real_tool"]["path"]
        .as_str()
        .unwrap()
        .ends_with("\\first\\pnpm.ps1"));
    let id = last["invocation_id"].clone();
    let ps: Vec<&Value> = of_kind(&audit, "process")
        .into_iter()
        .filter(|p| p["invocation_id"] == id)
        .collect();
    let cl = ps[0]["command_line"].as_str().unwrap();
    let image = ps[0]["image"].as_str().unwrap().to_ascii_lowercase();
    assert!(
        image.ends_with("\\windowspowershell\\v1.0\\powershell.exe"),
        "{image}"
    );
    assert!(
        cl.ends_with(&format!(
            "-NoLogo -NoProfile -File {}\\pnpm.ps1 add \"a b\" $(calc) --ignore-scripts",
            win(&first)
        )),
        "{cl}"
    );
}

#[test]
fn shims_install_lays_down_exe_files_refreshes_old_copies_and_sets_the_user_path() {
    let s = Sandbox::new();
    let dir = s.root().join("installed-shims");
    let pkgward = s.root().join("bin").join("pkgward.exe");
    std::fs::create_dir_all(pkgward.parent().unwrap()).unwrap();
    std::fs::copy(&wine().exe, &pkgward).unwrap();
    let out = s.run(
        &pkgward,
        &[
            "shims",
            "install",
            "--dir",
            &win(&dir),
            "--tools",
            "npm,pip,yarn",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {}",
        stderr(&out)
    );
    assert!(stdout.contains("3 shim(s) created"), "{stdout}");
    assert!(stdout.contains("SetEnvironmentVariable"), "{stdout}");
    let exe_bytes = std::fs::read(&pkgward).unwrap();
    for t in ["npm", "pip", "yarn"] {
        assert_eq!(
            std::fs::read(dir.join(format!("{t}.exe"))).unwrap(),
            exe_bytes
        );
    }

    // An older pkgward's copy (other bytes, same marker) is refreshed without
    // --force; a foreign npm.exe never is.
    let mut older = exe_bytes.clone();
    older.extend_from_slice(b"an older build");
    // (Removed first: the shims may be hard links to pkgward.exe.)
    for (t, bytes) in [
        ("npm.exe", &older[..]),
        ("pip.exe", b"MZ someone else's pip"),
    ] {
        std::fs::remove_file(dir.join(t)).unwrap();
        std::fs::write(dir.join(t), bytes).unwrap();
    }
    let out = s.run(
        &pkgward,
        &[
            "shims",
            "install",
            "--dir",
            &win(&dir),
            "--tools",
            "npm,pip,yarn",
            "--copy",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(78),
        "stdout: {stdout}\nstderr: {}",
        stderr(&out)
    );
    assert!(
        stdout.contains("1 refreshed, 1 already in place"),
        "{stdout}"
    );
    assert!(stderr(&out).contains("pip.exe exists and is not a pkgward shim"));
    assert_eq!(std::fs::read(dir.join("npm.exe")).unwrap(), exe_bytes);
    assert_eq!(
        std::fs::read(dir.join("pip.exe")).unwrap(),
        b"MZ someone else's pip"
    );

    // The refreshed copy works as the shim.
    s.cmd("npm.cmd", &["@\"%~dp0argdump.exe\" %*"]);
    let out = s.run(&dir.join("npm.exe"), &["ci"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(s.dumped_args(), ["ci", "--ignore-scripts"]);

    // --modify-path: the shim directory first in HKCU\Environment\Path,
    // once, other entries kept. (The prefix is shared: restore it after.)
    let reg = |args: &[&str]| {
        let w = wine();
        Command::new(&w.wine)
            .arg("reg")
            .args(args)
            .env("WINEPREFIX", &w.prefix)
            .env("WINEDEBUG", "-all")
            .output()
            .unwrap()
    };
    let before = reg(&["query", "HKCU\\Environment", "/v", "Path"]);
    let had = before.status.success();
    let old = String::from_utf8_lossy(&before.stdout).into_owned();
    let keep = r"C:\keep\me";
    reg(&[
        "add",
        "HKCU\\Environment",
        "/v",
        "Path",
        "/t",
        "REG_EXPAND_SZ",
        "/d",
        keep,
        "/f",
    ]);
    for _ in 0..2 {
        let out = s.run(
            &pkgward,
            &[
                "shims",
                "install",
                "--dir",
                &win(&dir),
                "--tools",
                "yarn",
                "--modify-path",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let after = reg(&["query", "HKCU\\Environment", "/v", "Path"]);
    let text = String::from_utf8_lossy(&after.stdout).into_owned();
    if had {
        let value = old
            .lines()
            .find_map(|l| l.split("REG_EXPAND_SZ").nth(1).or(l.split("REG_SZ").nth(1)))
            .map(str::trim)
            .unwrap_or_default()
            .to_string();
        reg(&[
            "add",
            "HKCU\\Environment",
            "/v",
            "Path",
            "/t",
            "REG_EXPAND_SZ",
            "/d",
            &value,
            "/f",
        ]);
    } else {
        reg(&["delete", "HKCU\\Environment", "/v", "Path", "/f"]);
    }
    assert!(
        text.contains(&format!("{};{keep}", win(&dir))),
        "shim directory first, once, the rest kept: {text}"
    );
}

#[test]
fn state_and_audit_default_to_local_appdata() {
    let mut s = Sandbox::new();
    s.env.retain(|(k, _)| k != "PKGWARD_STATE_DIR");
    let npm = s.shim("npm");
    s.cmd("npm.cmd", &["@\"%~dp0argdump.exe\" %*"]);
    let marker = format!("marker-{}", s.root().file_name().unwrap().to_string_lossy());
    let out = s.run(&npm, &["view", &marker]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let local = wine().appdata.parent().unwrap().join("Local");
    let log = std::fs::read_to_string(local.join("pkgward").join("audit.jsonl")).unwrap();
    assert!(
        log.contains(&marker),
        "the invocation is in %LocalAppData%\\pkgward\\audit.jsonl"
    );
}

#[test]
fn no_process_of_the_tree_can_leave_the_job() {
    // CREATE_BREAKAWAY_FROM_JOB would take a process (and everything it
    // starts) out of the job: out of the process records and the
    // kill-on-close. The job does not allow it.
    let mut s = Sandbox::new();
    let npm = s.shim("npm");
    s.cmd("npm.cmd", &["@\"%~dp0argdump.exe\" %*"]);
    s.set("ARGDUMP_BREAKAWAY", "1");
    let out = s.run(&npm, &["install"]);
    assert_eq!(
        out.status.code(),
        Some(99),
        "98 = the breakaway was allowed; {}",
        stderr(&out)
    );
}

#[test]
fn the_system_policy_layer_is_read_from_programdata() {
    // C:\ProgramData\pkgward\policy.toml of the (shared) prefix approves
    // one loopback NuGet feed. Wine sets %ProgramData% itself, so the real
    // location is used; only nuget is named, which no other scenario runs,
    // and the file is removed before asserting.
    let _turn = NUGET_PREFIX_FILES.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = Sandbox::new();
    let nuget = s.shim("nuget");
    s.cmd("nuget.cmd", &["@\"%~dp0argdump.exe\" %*"]);
    let dir = wine().prefix.join("drive_c/ProgramData/pkgward");
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        "[registries]\nnuget = [\"http://127.0.0.1:9/v3/index.json\"]\n",
    )
    .unwrap();
    s.set("ARGDUMP_EXIT", "0");
    let denied = s.run(
        &nuget,
        &["install", "x", "-Source", "http://evil.test/v3/index.json"],
    );
    let allowed = s.run(
        &nuget,
        &[
            "install",
            "x",
            "-Source",
            "http://127.0.0.1:9/v3/index.json",
        ],
    );
    std::fs::remove_file(&policy).unwrap();
    assert_eq!(denied.status.code(), Some(77), "{}", stderr(&denied));
    let err = stderr(&denied);
    assert!(
        err.contains("C:\\ProgramData\\pkgward\\policy.toml"),
        "the denial names the system policy: {err}"
    );
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
    assert_eq!(
        s.dumped_args(),
        [
            "install",
            "x",
            "-Source",
            "http://127.0.0.1:9/v3/index.json"
        ]
    );
}

/// The NuGet.Config files NuGet reads on Windows, found the way pkgward's
/// Windows build finds them: the project's walked up from the working
/// directory (any spelling of the name: Windows file names ignore case),
/// then `%AppData%\NuGet\NuGet.Config`; `<clear/>`, disabled sources and
/// package source mapping; UNC paths as network feeds. Allowed commands
/// reach the fake real tool byte-exact; denied ones exit 77.
#[test]
fn nuget_and_dotnet_on_windows_paths_and_nuget_config_files() {
    let _turn = NUGET_PREFIX_FILES.lock().unwrap_or_else(|e| e.into_inner());
    let s = Sandbox::new();
    let nuget = s.shim("nuget");
    let dotnet = s.shim("dotnet");
    s.cmd("nuget.cmd", &["@\"%~dp0argdump.exe\" %*"]);
    s.cmd("dotnet.cmd", &["@\"%~dp0argdump.exe\" %*"]);
    std::fs::write(
        s.root().join("policy.toml"),
        "mode = \"enforce\"\n[registries]\nnuget = [\"http://127.0.0.1:9/approved/\", \"file://corp-share/feed/\"]\n",
    )
    .unwrap();
    let user = PrefixFile::write(
        wine().appdata.join("NuGet").join("NuGet.Config"),
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<configuration>\r\n  <packageSources>\r\n    <add key=\"user-feed\" value=\"http://evil.test/user/v3/index.json\" />\r\n  </packageSources>\r\n</configuration>\r\n",
    );
    let proj = s.root().join("proj");
    let app = proj.join("src").join("app");
    std::fs::create_dir_all(&app).unwrap();
    let project_config = |clear: &str| {
        format!(
            "<configuration>\r\n<packageSources>\r\n{clear}\
             <add key=\"ok\" value=\"http://127.0.0.1:9/approved/v3/index.json\" />\r\n\
             <add key=\"off\" value=\"http://evil.test/off/v3/index.json\" />\r\n\
             </packageSources>\r\n\
             <disabledPackageSources><add key=\"off\" value=\"true\" /></disabledPackageSources>\r\n\
             <packageSourceMapping><packageSource key=\"evil-mapped\"><package pattern=\"*\" /></packageSource></packageSourceMapping>\r\n\
             </configuration>\r\n"
        )
    };
    // An upper-case name: found all the same, as NuGet on Windows finds it.
    std::fs::write(proj.join("NUGET.CONFIG"), project_config("<clear />\r\n")).unwrap();

    // The project's file clears the user's feed and disables its own evil
    // one; the mapping names a source that does not exist and adds nothing.
    assert_eq!(
        delegated(&s, &app, &nuget, &["restore"]),
        Ok(vec!["restore".to_string()])
    );
    assert_eq!(
        delegated(&s, &app, &dotnet, &["restore", "--verbosity", "q"]),
        Ok(vec!["restore".into(), "--verbosity".into(), "q".into()])
    );
    // Without <clear/>, %AppData%\NuGet\NuGet.Config's feed is used too.
    std::fs::write(proj.join("NUGET.CONFIG"), project_config("")).unwrap();
    let err = delegated(&s, &app, &nuget, &["restore"]).unwrap_err();
    assert!(err.contains("http://evil.test/user/"), "{err}");
    assert!(
        err.to_ascii_lowercase()
            .contains("\\appdata\\roaming\\nuget\\nuget.config"),
        "the denial names %AppData%'s file: {err}"
    );
    assert!(!err.contains("evil.test/off"), "disabled: {err}");
    drop(user);
    // The user file gone: the project's approved feed alone. (`dotnet
    // build` runs as `dotnet restore`, a check of the restored packages'
    // build files, then the build with `--no-restore`: src/scripts/dotnet.rs.)
    assert_eq!(
        delegated(&s, &app, &dotnet, &["build"]),
        Ok(vec!["build".to_string(), "--no-restore".to_string()])
    );

    // Feeds on the command line: a UNC share is a network feed, approved
    // only by its file://host/share/ prefix; a drive folder is local.
    let err = delegated(
        &s,
        s.root(),
        &nuget,
        &["install", "x", "-Source", r"\\evil.test\share\feed"],
    )
    .unwrap_err();
    assert!(err.contains("file://evil.test/share/feed"), "{err}");
    let err = delegated(
        &s,
        s.root(),
        &dotnet,
        &["add", "package", "X", "--source", r"\\?\UNC\evil.test\s"],
    )
    .unwrap_err();
    assert!(err.contains("evil.test"), "{err}");
    for args in [
        &[
            "install",
            "x",
            "-Source",
            r"\\corp-share\feed\v3",
            "-OutputDirectory",
            r"C:\Program Files\a b",
        ][..],
        &[
            "install",
            "x",
            "/source",
            r"C:\local feeds\nuget;http://127.0.0.1:9/approved/v3/index.json",
        ],
    ] {
        let want: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        assert_eq!(delegated(&s, s.root(), &nuget, args), Ok(want));
    }
    let args = [
        "restore",
        r"C:\src\my app\app.csproj",
        "-s",
        "http://127.0.0.1:9/approved/v3/index.json",
        "-p:Configuration=\"Release\"",
    ];
    let want: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    assert_eq!(delegated(&s, s.root(), &dotnet, &args), Ok(want));
    let err = delegated(
        &s,
        s.root(),
        &dotnet,
        &[
            "restore",
            "-p:RestoreSources=http://evil.test/v3/index.json",
        ],
    )
    .unwrap_err();
    assert!(err.contains("http://evil.test/v3/index.json"), "{err}");
}

/// choco: its sources from `%ProgramData%\chocolatey\config\chocolatey.config`
/// (ChocolateyInstall unset), `-s`/`--source` naming URLs, UNC shares or
/// configured source ids.
#[test]
fn choco_sources_from_programdata_and_the_command_line() {
    let s = Sandbox::new();
    let choco = s.shim("choco");
    s.cmd("choco.cmd", &["@\"%~dp0argdump.exe\" %*"]);
    std::fs::write(
        s.root().join("policy.toml"),
        "mode = \"enforce\"\n[registries]\nchoco = [\"http://127.0.0.1:9/approved/\", \"file://corp-share/choco/\"]\n",
    )
    .unwrap();
    let config = |evil_disabled: bool| {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<chocolatey>\r\n  <sources>\r\n\
             <source id=\"corp\" value=\"\\\\corp-share\\choco\\feed\" disabled=\"false\" priority=\"0\" />\r\n\
             <source id=\"evil\" value=\"http://evil.test/api/v2/\" disabled=\"{evil_disabled}\" priority=\"1\" />\r\n\
             </sources>\r\n  <features>\r\n    <feature name=\"checksumFiles\" enabled=\"true\" />\r\n  </features>\r\n</chocolatey>\r\n"
        )
    };
    let file = wine()
        .prefix
        .join("drive_c/ProgramData/chocolatey/config/chocolatey.config");
    let cfg = PrefixFile::write(file, &config(true));
    for args in [
        &["install", "git", "-y"][..],
        &[
            "install",
            "git",
            "-s",
            "corp",
            "--params",
            "\"/GitOnlyOnPath /NoAutoCrlf\"",
        ],
        &[
            "upgrade",
            "all",
            "--source=http://127.0.0.1:9/approved/api/v2/",
            "-y",
        ],
        &["install", "pkg", "-s", r"\\corp-share\choco\other"],
    ] {
        let want: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        assert_eq!(delegated(&s, s.root(), &choco, args), Ok(want));
    }
    let err = delegated(
        &s,
        s.root(),
        &choco,
        &["install", "git", "-s", r"\\evil.test\pkgs"],
    )
    .unwrap_err();
    assert!(err.contains("file://evil.test/pkgs"), "{err}");
    let err = delegated(
        &s,
        s.root(),
        &choco,
        &["install", "git", "--source='http://evil.test/api/v2/'"],
    )
    .unwrap_err();
    assert!(err.contains("http://evil.test/api/v2/"), "{err}");
    // The configured evil source, once enabled, is used by a plain install.
    std::fs::write(&cfg.0, config(false)).unwrap();
    let err = delegated(&s, s.root(), &choco, &["install", "git"]).unwrap_err();
    assert!(
        err.contains("C:\\ProgramData\\chocolatey\\config\\chocolatey.config"),
        "the denial names the config file: {err}"
    );
    assert!(err.contains("http://evil.test/api/v2/"), "{err}");
}

/// winget: sources are names (`winget`/`msstore` are its built-in ones; any
/// other name cannot be approved by URL), `source add` URLs, and the
/// settings and flags that switch its hash and malware checks off.
#[test]
fn winget_sources_and_settings() {
    let s = Sandbox::new();
    let winget = s.shim("winget");
    s.cmd("winget.cmd", &["@\"%~dp0argdump.exe\" %*"]);
    std::fs::write(
        s.root().join("policy.toml"),
        "mode = \"enforce\"\n[registries]\nwinget = [\"builtin\", \"http://127.0.0.1:9/approved/\"]\n",
    )
    .unwrap();
    for args in [
        &[
            "install",
            "--id",
            "Git.Git",
            "-s",
            "winget",
            "--override",
            "/VERYSILENT /DIR=\"C:\\a b\"",
        ][..],
        &["source", "add", "corp", "http://127.0.0.1:9/approved/cache"],
        &["search", "7zip"],
    ] {
        let want: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        assert_eq!(delegated(&s, s.root(), &winget, args), Ok(want));
    }
    let denied: &[(&[&str], &str)] = &[
        (&["install", "x", "--source", "corp"], "corp"),
        (
            &["source", "add", "evil", "https://evil.test/cache"],
            "https://evil.test/cache",
        ),
        (
            &["source", "add", "-n", "evil", "-a", "https://evil.test/c2"],
            "https://evil.test/c2",
        ),
        (
            &["settings", "--enable", "InstallerHashOverride"],
            "InstallerHashOverride",
        ),
        (
            &["install", "x", "--ignore-security-hash"],
            "ignore-security-hash",
        ),
    ];
    for (args, names) in denied {
        let err = delegated(&s, s.root(), &winget, args).unwrap_err();
        assert!(err.contains(names), "{args:?}: {err}");
    }
}
