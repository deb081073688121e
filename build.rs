//! Compiles `shims/tools.toml` into a static table (`$OUT_DIR/tools.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    tools: Vec<String>,
    #[serde(default)]
    wrappers: Vec<String>,
}

fn main() {
    let path = "shims/tools.toml";
    println!("cargo:rerun-if-changed={path}");
    let text = std::fs::read_to_string(path).expect("read shims/tools.toml");
    let groups: BTreeMap<String, Group> = toml::from_str(&text).expect("parse shims/tools.toml");
    let mut out = String::from(
        "/// (tool name, ecosystem key, is a shim installed on PATH) — generated from shims/tools.toml.\n\
         pub static TOOL_TABLE: &[(&str, &str, bool)] = &[\n",
    );
    let mut seen = std::collections::BTreeSet::new();
    for (eco, group) in &groups {
        for (names, shim) in [(&group.tools, true), (&group.wrappers, false)] {
            for name in names {
                assert!(
                    seen.insert(name.clone()),
                    "tool {name} listed twice in {path}"
                );
                assert!(
                    name.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                    "tool name {name:?} in {path} must be lowercase ASCII"
                );
                writeln!(out, "    ({name:?}, {eco:?}, {shim}),").unwrap();
            }
        }
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("tools.rs");
    std::fs::write(dest, out).expect("write tools.rs");
}
