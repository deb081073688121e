//! The commented baseline policy `pkgward policy init` writes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::parse::quoted;
use super::{validate_registry_entry, Mode, LOCKABLE};
use crate::tools::Ecosystem;

/// A commented baseline policy file: `mode`, the given approved registries
/// (every ecosystem not listed stays at `["builtin"]`), install-time scripts
/// denied with no approvals, and the audit log at its default. The text
/// always parses as a valid policy: a registry entry that is not valid (see
/// [`validate_registry_entry`]) is left out with a comment saying why.
pub fn baseline_policy_text(registries: &BTreeMap<Ecosystem, Vec<String>>, mode: Mode) -> String {
    let mut s = String::with_capacity(2048);
    s.push_str(
        "# pkgward policy\n\
         #\n\
         # Written by `pkgward policy init`; check it with `pkgward policy check FILE`\n\
         # and see the effective policy with `pkgward policy show`.\n\
         #\n\
         # pkgward reads up to four layers, least specific first, and a later one\n\
         # overrides an earlier one key by key:\n\
         #   system   /etc/pkgward/policy.toml (Windows: %ProgramData%\\pkgward\\policy.toml)\n\
         #   user     <config dir>/pkgward/policy.toml\n\
         #   project  pkgward.toml in the working directory or the nearest parent\n\
         #   env      the file named by PKGWARD_POLICY\n\
         # The system layer can lock keys; the other layers can then only tighten them.\n\
         \n\
         # What pkgward does with an invocation that breaks the policy:\n\
         #   \"enforce\"  refuse to run it\n\
         #   \"audit\"    run it, and record the violation in the audit log\n\
         #   \"off\"      no policy checks\n",
    );
    let _ = writeln!(s, "mode = {}", quoted(mode.as_str()));
    let _ = write!(
        s,
        "\n\
         # Only in the system policy: keys the other layers may tighten but never\n\
         # loosen (raise mode, narrow registries, make scripts stricter).\n\
         # lock = [{}]\n",
        LOCKABLE
            .iter()
            .map(|k| quoted(k))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s.push_str(
        "\n\
         # Approved registries, per ecosystem: the URL prefixes a package manager may\n\
         # fetch from. \"builtin\" stands for the tool's own default registry. A URL\n\
         # approves itself and everything below it on a path-segment boundary, and\n\
         # must be http(s) without credentials. An ecosystem that is not listed is\n\
         # limited to [\"builtin\"]; an empty list approves nothing.\n\
         # Keys: ",
    );
    s.push_str(&Ecosystem::ALL.map(Ecosystem::key).join(", "));
    s.push_str(".\n[registries]\n");
    if registries.is_empty() {
        s.push_str(
            "# npm = [\"https://npm.example.com/\"]\n\
             # pypi = [\"builtin\"]\n",
        );
    }
    for (eco, list) in registries {
        let mut items: Vec<String> = Vec::with_capacity(list.len());
        for entry in list {
            match validate_registry_entry(entry) {
                Ok(()) if items.contains(&quoted(entry)) => {}
                Ok(()) => items.push(quoted(entry)),
                // Left out, so the file stays valid; the reason never echoes
                // credentials.
                Err(why) => {
                    let _ = writeln!(s, "# left out for {eco}: {}", why.replace('\n', " "));
                }
            }
        }
        if items.is_empty() && !list.is_empty() {
            // Nothing usable was given: leave the ecosystem at its default
            // rather than approving nothing.
            continue;
        }
        let _ = writeln!(s, "{} = [{}]", eco.key(), items.join(", "));
    }
    s.push_str(
        "\n\
         # Install-time code (npm lifecycle scripts, Python builds, build scripts…):\n\
         #   \"deny\"     do not run it (packages that need it fail to install)\n\
         #   \"sandbox\"  run it under supervision\n\
         #   \"allow\"    run it\n\
         # `allow` approves single packages: \"ECOSYSTEM:NAME\" or \"ECOSYSTEM:NAME@RANGE\",\n\
         # e.g. \"npm:esbuild\", \"pypi:numpy\", \"npm:@scope/pkg@^1.2\" (fetched packages only);\n\
         # the project's own code (its root, workspaces, path dependencies): \"npm:myapp@local\".\n\
         [scripts]\n\
         default = \"deny\"\n\
         allow = []\n\
         \n\
         # The audit log (JSON lines). Default: <state dir>/pkgward/audit.jsonl.\n\
         # A relative path is resolved against this file's directory; a project's\n\
         # pkgward.toml cannot set it.\n\
         # [audit]\n\
         # log = \"/var/log/pkgward/audit.jsonl\"\n",
    );
    s
}
