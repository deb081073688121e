//! The multi-call entry point: invoked as `pkgward` it is the management CLI;
//! invoked under a tool's name (the file stem of argv[0]) it is that tool's shim.

use std::ffi::OsString;

use pkgward::error::{exit, Error};
use pkgward::record::Via;
use pkgward::tools::{invocation_stem, Tool, TOOL_TABLE};
use pkgward::{cli, shim};

fn main() {
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| OsString::from("pkgward"));
    let rest: Vec<OsString> = args.collect();
    let stem = invocation_stem(&arg0.to_string_lossy());
    if stem == "pkgward" && pkgward::scripts::npx::is_prepare_shell(&rest) {
        // The npm preparing an npx directory, starting its command: none.
        std::process::exit(0);
    }
    #[cfg(target_os = "linux")]
    if stem == "pkgward" && pkgward::scripts::npm_broker::invoked_as_script_shell(&rest) {
        // npm starting an install script through the shim's broker.
        std::process::exit(pkgward::scripts::npm_broker::client(&rest));
    }
    let code = if stem == "pkgward" {
        cli::main(rest)
    } else if let Some(tool) = Tool::from_invocation_name(&stem) {
        let call = shim::Call {
            tool,
            invoked_as: arg0,
            args: rest,
            via: Via::Shim,
        };
        report(shim::run(call, &mut |m| cli::eprint_lines(&m)))
    } else {
        let names: Vec<&str> = TOOL_TABLE
            .iter()
            .filter(|(_, _, shim)| *shim)
            .map(|(n, _, _)| *n)
            .collect();
        cli::eprint_error(&Error::Config(format!(
            "invoked as `{stem}`, which is not a tool pkgward guards; \
             name a shim after one of: {}; or run `pkgward --help`",
            names.join(", ")
        )));
        exit::CONFIG
    };
    std::process::exit(code)
}

/// Maps a shim result to the exit code, printing the error if there is one.
fn report(result: pkgward::error::Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        Err(e) => {
            cli::eprint_error(&e);
            e.exit_code()
        }
    }
}
