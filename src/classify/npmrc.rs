//! `.npmrc` (ini) parsing, as npm reads it: `key = value` lines, `;`/`#`
//! comments, optional quotes, `${VAR}` expanded from the environment.

use super::source::Env;

/// One `key = value` line (1-based line number).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

pub fn parse(text: &str, env: &dyn Env) -> Vec<Entry> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty()
            || line.starts_with(';')
            || line.starts_with('#')
            || line.starts_with('[')
        {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            // `key` alone means `key = true`.
            continue;
        };
        let key = expand(k.trim(), env);
        let mut value = v.trim();
        if value.len() >= 2
            && ((value.starts_with('"') && value.ends_with('"'))
                || (value.starts_with('\'') && value.ends_with('\'')))
        {
            value = &value[1..value.len() - 1];
        }
        out.push(Entry {
            key,
            value: expand(value, env),
            line: i + 1,
        });
    }
    out
}

/// Expands `${VAR}` (and `${VAR?}`) the way npm does; an unset variable
/// expands to nothing.
pub fn expand(s: &str, env: &dyn Env) -> String {
    if !s.contains("${") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        // `\${` is a literal.
        if start > 0 && rest.as_bytes()[start - 1] == b'\\' {
            out.push_str(&rest[..start - 1]);
            out.push_str("${");
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = after[..end].trim_end_matches('?');
                out.push_str(&env.get(name).unwrap_or_default());
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::super::source::fake::FakeEnv;
    use super::*;

    #[test]
    fn parses_like_npm() {
        let mut env = FakeEnv::default();
        env.0.insert("HOST".into(), "evil.test".into());
        let text = "; comment\n# comment\nregistry = \"http://${HOST}/\"\n@acme:registry=https://npm.example.com/\nbare\n//npm.example.com/:_authToken=${TOKEN}\n";
        let e = parse(text, &env);
        assert_eq!(e.len(), 3);
        assert_eq!(
            (e[0].key.as_str(), e[0].value.as_str(), e[0].line),
            ("registry", "http://evil.test/", 3)
        );
        assert_eq!((e[1].key.as_str(), e[1].line), ("@acme:registry", 4));
        assert_eq!(e[2].value, "");
        assert_eq!(expand(r"a\${B}c", &env), "a${B}c");
    }
}
