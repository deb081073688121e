//! A small reader for Python `configparser` files (pip.conf): `[section]`,
//! `key = value` or `key: value`, `#`/`;` comment lines, and continuation
//! lines (indented lines extend the previous value, as pip's multi-line
//! `extra-index-url` lists use).

/// One value with the section it is in and its (first) line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub section: String,
    pub key: String,
    pub value: String,
    pub line: usize,
}

pub fn parse(text: &str) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    let mut section = String::new();
    let mut last_open = false;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = raw.starts_with(' ') || raw.starts_with('\t');
        if indented && last_open {
            if let Some(e) = out.last_mut() {
                e.value.push('\n');
                e.value.push_str(trimmed);
                continue;
            }
        }
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            section = trimmed[1..trimmed.len() - 1].trim().to_ascii_lowercase();
            last_open = false;
            continue;
        }
        let split = trimmed.find(['=', ':']);
        let Some(at) = split else {
            last_open = false;
            continue;
        };
        out.push(Entry {
            section: section.clone(),
            key: trimmed[..at].trim().to_ascii_lowercase().replace('_', "-"),
            value: trimmed[at + 1..].trim().to_string(),
            line: i + 1,
        });
        last_open = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_continuations() {
        let t = "[global]\nindex-url = https://a.example.com/simple\nextra-index-url =\n    https://b.example.com/simple\n    https://c.example.com/simple\n# c\n[install]\ntrusted_host: b.example.com\n";
        let e = parse(t);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].section, "global");
        assert_eq!(
            e[1].value,
            "\nhttps://b.example.com/simple\nhttps://c.example.com/simple"
        );
        assert_eq!(
            (e[2].section.as_str(), e[2].key.as_str(), e[2].line),
            ("install", "trusted-host", 8)
        );
    }
}
