//! macOS: a Seatbelt profile for `sandbox-exec -p PROFILE PROGRAM ARGS…`,
//! generated from the same [`Plan`] as Linux's Landlock rules. A pure
//! function (tested everywhere); it is applied only on macOS.
//!
//! The profile allows what it does not deny (`(allow default)`, so the
//! tool's own reads, execs and IPC keep working), then, later rules winning:
//! no network but TCP to the egress proxy's port on localhost; no file
//! writes but the plan's writable trees and the harmless devices; no
//! reads (or writes) of the credential paths. Not tested here (no macOS
//! machine): the profile's effect under `sandbox-exec`.

use std::path::Path;

use super::{Plan, DEVICES_RW};

/// Where macOS keeps `sandbox-exec`.
pub const SANDBOX_EXEC: &str = "/usr/bin/sandbox-exec";

/// A string literal in the profile language.
fn quote(p: &Path) -> String {
    let s = p.to_string_lossy();
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The profile for a plan.
pub fn profile(plan: &Plan) -> String {
    let mut p = String::from("(version 1)\n(allow default)\n");
    p.push_str("(deny network*)\n");
    if let Some(port) = plan.proxy_port {
        p.push_str(&format!(
            "(allow network-outbound (remote ip \"localhost:{port}\"))\n"
        ));
    }
    p.push_str("(deny file-write*)\n(allow file-write*\n");
    for w in &plan.write {
        p.push_str(&format!("  (subpath {})\n", quote(w)));
    }
    for d in DEVICES_RW {
        p.push_str(&format!("  (literal {})\n", quote(Path::new(d))));
    }
    p.push_str(")\n");
    if !plan.deny_write.is_empty() {
        p.push_str("(deny file-write*\n");
        for d in &plan.deny_write {
            p.push_str(&format!("  (subpath {})\n", quote(d)));
        }
        p.push_str(")\n");
    }
    if !plan.deny_read.is_empty() {
        p.push_str("(deny file-read*\n");
        for d in &plan.deny_read {
            p.push_str(&format!("  (subpath {})\n", quote(d)));
        }
        p.push_str(")\n");
    }
    p
}

/// The `sandbox-exec` command line: `-p PROFILE PROGRAM ARGS…`.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub fn command_args(
    plan: &Plan,
    program: &Path,
    args: &[std::ffi::OsString],
) -> Vec<std::ffi::OsString> {
    let mut out: Vec<std::ffi::OsString> = vec!["-p".into(), profile(plan).into()];
    out.push(program.as_os_str().to_owned());
    out.extend(args.iter().cloned());
    out
}
