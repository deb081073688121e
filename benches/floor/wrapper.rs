//! The benchmark floor: a process that only starts the program it is given
//! (std's `Command`, as pkgward does), waits for it and exits with its code.
//! `installers/build-release.sh --floor` builds it exactly as the shipped
//! binary is built (same target, libc and static linking; the libc's own allocator), so
//! `benches/overhead.rs` can split a shim's added time into "one more
//! process, linked like pkgward" and "pkgward's own work".
use std::process::Command;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(program) = args.next() else {
        eprintln!("floor: usage: floor PROGRAM [ARGS...]");
        std::process::exit(2);
    };
    match Command::new(&program).args(args).status() {
        Ok(s) => std::process::exit(s.code().unwrap_or(1)),
        Err(e) => {
            eprintln!("floor: cannot start {}: {e}", program.to_string_lossy());
            std::process::exit(127);
        }
    }
}
