//! `pkgward approve ECOSYSTEM:NAME[@RANGE]`: adds an entry to `[scripts]
//! allow` of the project policy (`pkgward.toml`). pkgward edits its own
//! policy file only at the user's explicit command, and keeps the file's
//! formatting and comments (toml_edit).

use std::path::{Path, PathBuf};

use toml_edit::{Array, DocumentMut, Item, Table, Value};

use crate::error::{Error, Result};
use crate::policy::{self, AllowEntry, Layer, PROJECT_FILE};

/// The project policy file `approve` edits: the nearest `pkgward.toml` from
/// `cwd` upwards, else `cwd/pkgward.toml`.
pub fn project_file(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .map(|d| d.join(PROJECT_FILE))
        .find(|p| p.is_file())
        .unwrap_or_else(|| cwd.join(PROJECT_FILE))
}

/// What [`add`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    Added,
    AlreadyThere,
}

/// Checks an entry; the error is a message for the user (bad usage).
pub fn validate(entry: &str) -> std::result::Result<(), String> {
    AllowEntry::parse(entry).map(|_| ())
}

/// Adds `entry` to `[scripts] allow` in `file` (created if missing),
/// keeping everything else as written. The result must still be a valid
/// project policy, or nothing is written.
pub fn add(file: &Path, entry: &str) -> Result<Added> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(format!("cannot read {}", file.display()), e)),
    };
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        Error::Config(format!(
            "{}: not valid TOML, not edited: {}",
            file.display(),
            e.message()
        ))
    })?;
    let scripts = doc
        .entry("scripts")
        .or_insert_with(|| Item::Table(Table::new()));
    let Some(scripts) = scripts.as_table_like_mut() else {
        return Err(Error::Config(format!(
            "{}: `scripts` is not a table, not edited",
            file.display()
        )));
    };
    let allow = scripts
        .entry("allow")
        .or_insert(Item::Value(Value::Array(Array::new())));
    let Some(arr) = allow.as_array_mut() else {
        return Err(Error::Config(format!(
            "{}: `scripts.allow` is not an array, not edited",
            file.display()
        )));
    };
    if arr.iter().any(|v| v.as_str() == Some(entry)) {
        return Ok(Added::AlreadyThere);
    }
    arr.push(entry);
    let out = doc.to_string();
    if let Err(errors) = policy::check_str(&out, file, Layer::Project) {
        return Err(Error::PolicyInvalid(errors));
    }
    std::fs::write(file, out)
        .map_err(|e| Error::io(format!("cannot write {}", file.display()), e))?;
    Ok(Added::Added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_comments_and_layout() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("pkgward.toml");
        std::fs::write(
            &f,
            "# top\nmode = \"enforce\" # m\n\n[scripts]\nallow = [\n  \"npm:a\", # why a\n]\n",
        )
        .unwrap();
        assert_eq!(add(&f, "pypi:numpy@>=1.26").unwrap(), Added::Added);
        assert_eq!(add(&f, "pypi:numpy@>=1.26").unwrap(), Added::AlreadyThere);
        let t = std::fs::read_to_string(&f).unwrap();
        assert!(
            t.starts_with("# top\nmode = \"enforce\" # m\n\n[scripts]\n"),
            "{t}"
        );
        assert!(t.contains("# why a"), "{t}");
        assert!(t.contains("\"pypi:numpy@>=1.26\""), "{t}");
    }

    #[test]
    fn creates_the_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("pkgward.toml");
        add(&f, "npm:esbuild").unwrap();
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "[scripts]\nallow = [\"npm:esbuild\"]\n"
        );
    }

    #[test]
    fn invalid_entries_and_files() {
        assert!(validate("npm:x@^^1").is_err());
        assert!(validate("nope:x").is_err());
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("pkgward.toml");
        std::fs::write(&f, "scripts = 3\n").unwrap();
        assert!(add(&f, "npm:a").is_err());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "scripts = 3\n");
    }
}
