//! A gate on a traced tree's execs: a launch can start before what decides
//! whether it may run has been worked out, and nothing it would start runs
//! until then.
//!
//! While the gate is closed, every exec of the tree waits in its stop (the
//! tracer's thread waits with it) except the launch's own (the tool's root
//! process becoming the tool: a wrapper script, rustup's proxy) and cargo's
//! rustc probes ([`probe`]), which compile nothing and load no crate. [`Gate::open`] lets the waiting
//! exec and the rest go on as usual; [`Gate::deny`] kills the tree's root
//! at once, and every exec still waiting or still to come fails and its
//! process is killed: nothing the launch would have started runs. Only a
//! launch under pkgward's own tracer can be gated (seccomp or ptrace): a
//! gated launch under an outer tracer, with none, or `proxy-only` is
//! refused when it would start ([`super::trace::spawn`]).
//!
//! cargo's first build of a graph uses it ([`crate::scripts::cargo`]): the
//! build starts while `cargo metadata` tells which crates have build scripts
//! or proc-macros, so cargo's start-up (reading the manifests and the
//! lockfile, probing rustc) runs alongside; its first compile waits for the
//! decision.

use std::sync::{Condvar, Mutex};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed,
    Open,
    Denied,
}

/// See the module docs.
#[derive(Debug)]
pub struct Gate {
    state: Mutex<State>,
    changed: Condvar,
    /// The tree's root, once started (0: not yet).
    root: std::sync::atomic::AtomicU32,
}

impl Default for Gate {
    fn default() -> Gate {
        Gate {
            state: Mutex::new(State::Closed),
            changed: Condvar::new(),
            root: std::sync::atomic::AtomicU32::new(0),
        }
    }
}

impl Gate {
    fn set(&self, s: State) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if *st == State::Closed {
            *st = s;
            if s == State::Denied {
                // Before a waiting exec learns it: the root must not see
                // that exec fail and go on.
                self.kill_root();
            }
        }
        self.changed.notify_all();
    }

    fn get(&self) -> State {
        *self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets the tree's execs go on.
    pub fn open(&self) {
        self.set(State::Open);
    }

    /// Stops the tree: its root is killed now, the rest at its next exec.
    /// (Once open or denied, a gate stays so.)
    pub fn deny(&self) {
        self.set(State::Denied);
    }

    /// Whether [`Gate::deny`] was called (and not [`Gate::open`] before).
    pub fn denied(&self) -> bool {
        self.get() == State::Denied
    }

    /// Whether pkgward's own tracer took the launch (else it did not
    /// start: [`super::trace::ungated`]).
    pub fn held(&self) -> bool {
        self.root.load(std::sync::atomic::Ordering::SeqCst) != 0
    }

    /// The tracer took the launch, whose root is `pid` (killed now if the
    /// gate is denied already).
    pub(super) fn started(&self, pid: u32) {
        self.root.store(pid, std::sync::atomic::Ordering::SeqCst);
        if self.denied() {
            self.kill_root();
        }
    }

    fn kill_root(&self) {
        let pid = self.root.load(std::sync::atomic::Ordering::SeqCst);
        if pid > 1 {
            // SAFETY: kill with plain integer arguments.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }

    /// The tracer, at an exec stop of `program` (its names: as resolved,
    /// as passed) with `argv`: whether it may go on, waiting while the gate
    /// is closed unless it is a [`probe`].
    pub(super) fn pass(&self, program: &[&str], argv: &[String]) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if *st == State::Closed && program.iter().any(|p| probe(p, argv)) {
            return true;
        }
        while *st == State::Closed {
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        *st == State::Open
    }
}

/// Whether an exec is one of cargo's rustc probes: `rustc -vV`, or `rustc -
/// --crate-name ___ --print=…` (what the target supports, read from an
/// empty input): `rustc` by name (the toolchain's, or rustup's proxy, which
/// runs it with the same arguments), no `--extern` (no crate loaded). The
/// user's own `RUSTFLAGS` may follow; a wrapper (`RUSTC_WRAPPER`) is not a
/// probe and waits.
pub fn probe(program: &str, argv: &[String]) -> bool {
    let name = std::path::Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    if name != "rustc" {
        return false;
    }
    let args = argv.get(1..).unwrap_or_default();
    if args == ["-vV"] {
        return true;
    }
    let named = args
        .windows(2)
        .any(|w| w[0] == "--crate-name" && w[1] == "___");
    let prints = args.iter().any(|a| a.starts_with("--print"));
    let stdin = args.first().is_some_and(|a| a == "-");
    let loads = args.iter().any(|a| a.starts_with("--extern"));
    named && prints && stdin && !loads
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn only_rustc_probes_pass_a_closed_gate() {
        let print = "rustc - --crate-name ___ --print=file-names --crate-type bin \
                     --crate-type proc-macro --print=sysroot --print=cfg -Wwarnings";
        for (program, argv, want) in [
            ("/t/bin/rustc", "rustc -vV", true),
            ("/home/u/.cargo/bin/rustc", "rustc -vV", true),
            ("/t/bin/rustc", print, true),
            (
                "/t/bin/rustc",
                &format!("{print} -C target-cpu=native --cfg x"),
                true,
            ),
            // A compile, a build script, a wrapper, a linker.
            (
                "/t/bin/rustc",
                "rustc --crate-name foo --edition=2021 src/lib.rs --crate-type lib",
                false,
            ),
            (
                "/t/bin/rustc",
                &format!("{print} --extern evil=/t/libevil.so"),
                false,
            ),
            (
                "/t/bin/rustc",
                "rustc - --crate-name foo --print=cfg",
                false,
            ),
            ("/t/bin/rustc", "rustc src/main.rs --print=cfg", false),
            ("/t/bin/rustc", "rustc -V", false),
            (
                "/p/target/debug/build/x-1/build-script-build",
                "build-script-build",
                false,
            ),
            ("/usr/bin/sccache", "sccache /t/bin/rustc -vV", false),
            ("/usr/bin/cc", "cc -m64 a.o", false),
            ("/t/bin/rustc-evil", "rustc -vV", false),
        ] {
            assert_eq!(probe(program, &v(argv)), want, "{program} {argv}");
        }
    }

    #[test]
    fn a_gate_opens_or_denies_once() {
        let g = Gate::default();
        assert!(g.pass(&["/t/rustc"], &v("rustc -vV")));
        let waiter = std::thread::scope(|s| {
            let h = s.spawn(|| g.pass(&["/bin/sh"], &v("sh -c true")));
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(!h.is_finished(), "a closed gate holds an exec");
            g.open();
            h.join().unwrap()
        });
        assert!(waiter);
        g.deny();
        assert!(!g.denied(), "an open gate stays open");
        let d = Gate::default();
        d.deny();
        assert!(d.denied());
        assert!(
            !d.pass(&["/t/rustc"], &v("rustc -vV")),
            "a denied gate lets nothing by"
        );
        d.open();
        assert!(d.denied());
    }
}
