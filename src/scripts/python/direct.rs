//! pip's approved direct references (an sdist archive by path or URL, a
//! source directory or VCS checkout by `NAME @ URL`): pip would build them
//! inside its own run, unconfined, whatever its format options say. pkgward
//! builds each one first, as install-time code (`pip wheel --no-deps`,
//! confined like an approved index sdist), and pip gets the built wheel in
//! its place: on the command line the argument is replaced by `NAME[extras]
//! @ file:///…/NAME-VERSION-….whl` (markers kept); a requirement file
//! naming one is given to pip as a private copy with that line replaced
//! (nested `-r` files copied the same way, `-c` and relative `-f` paths
//! made absolute; a line with `--hash` gets the built wheel's hash). The
//! user's files are never changed. Editable references (`-e`) stay pip's
//! own builds (an editable install is not a wheel pkgward could hand
//! over): pip's whole run is confined instead ([`super::confine`]).

use std::path::{Path, PathBuf};

/// What a pip argument is, for the direct references.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ArgKind {
    /// A requirement (positional, or after `--`).
    Spec,
    /// The value of `-e` / `--editable`.
    Editable,
    /// The value of `-r` / `--requirement`.
    File,
}

/// One argument of a pip command that names requirements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PipArg {
    /// Its position in the arguments.
    pub index: usize,
    /// What precedes the value in that argument (`-r`, `--requirement=`),
    /// empty when the value is an argument of its own.
    pub prefix: String,
    pub kind: ArgKind,
    pub value: String,
}

/// pip's subcommand and the arguments that name requirements.
pub(super) fn pip_args(args: &[String]) -> (Option<&str>, Vec<PipArg>) {
    let value_opts = crate::classify::pypi_value_opts();
    let mut out = Vec::new();
    let mut sub: Option<&str> = None;
    let mut i = 0;
    let push = |out: &mut Vec<PipArg>, index: usize, prefix: &str, kind, value: &str| {
        out.push(PipArg {
            index,
            prefix: prefix.to_string(),
            kind,
            value: value.to_string(),
        })
    };
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            for (j, v) in args.iter().enumerate().skip(i + 1) {
                push(&mut out, j, "", ArgKind::Spec, v);
            }
            break;
        }
        let (flag, attached, prefix) = if let Some(rest) = a.strip_prefix("--") {
            match rest.split_once('=') {
                Some((k, v)) => (format!("--{k}"), Some(v), format!("--{k}=")),
                None => (a.clone(), None, String::new()),
            }
        } else if a.starts_with('-') && a.len() > 1 && a.is_char_boundary(2) {
            let f = a[..2].to_string();
            let rest = (a.len() > 2).then(|| &a[2..]);
            (f.clone(), rest, f)
        } else {
            match sub {
                None => sub = Some(a.as_str()),
                Some(_) => push(&mut out, i, "", ArgKind::Spec, a),
            }
            i += 1;
            continue;
        };
        let takes = value_opts.contains(&flag.as_str());
        let kind = match flag.as_str() {
            "-e" | "--editable" => Some(ArgKind::Editable),
            "-r" | "--requirement" => Some(ArgKind::File),
            _ => None,
        };
        if takes && attached.is_none() {
            if let (Some(k), Some(v)) = (kind, args.get(i + 1)) {
                push(&mut out, i + 1, "", k, v);
            }
            i += 2;
            continue;
        }
        if let (Some(k), Some(v)) = (kind, attached.filter(|_| takes)) {
            push(&mut out, i, &prefix, k, v);
        }
        i += 1;
    }
    (sub, out)
}

/// A direct reference pkgward built: the requirement as written and the
/// wheel pip gets instead.
#[derive(Clone, Debug)]
pub(super) struct Built {
    pub spec: String,
    pub name: String,
    pub wheel: PathBuf,
}

/// The local source directory a direct reference names (`file:` URL or
/// path), if it is one.
pub(super) fn source_dir(target: &str, cwd: &Path) -> Option<PathBuf> {
    let t = target.split(['#', '?']).next().unwrap_or("").trim();
    let t = t.split(" ;").next().unwrap_or(t).trim();
    let p = match url::Url::parse(t) {
        Ok(u) if u.scheme() == "file" => u.to_file_path().ok()?,
        Ok(_) => return None,
        Err(_) => cwd.join(t),
    };
    p.is_dir().then_some(p)
}

/// The version in a wheel's file name (`NAME-VERSION-…whl`).
pub(super) fn wheel_version(wheel: &Path) -> Option<String> {
    let f = wheel.file_name()?.to_str()?.strip_suffix(".whl")?;
    f.split('-').nth(1).map(str::to_string)
}

/// The one `.whl` in `dir`.
pub(super) fn the_wheel(dir: &Path) -> Option<PathBuf> {
    let mut found = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"));
    let w = found.next()?;
    found.next().is_none().then_some(w)
}

/// The requirement that installs `b`'s wheel in place of its spec: the
/// name with its extras, the wheel's `file:` URL, the spec's marker.
pub(super) fn replacement(b: &Built) -> String {
    let s = b.spec.trim();
    let (head, target) = match s.split_once('@') {
        Some((n, t)) if !n.contains(['/', ':', '\\']) && !n.trim().is_empty() => (n.trim(), t),
        _ => (b.name.as_str(), s),
    };
    let url = url::Url::from_file_path(&b.wheel)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| b.wheel.to_string_lossy().into_owned());
    let marker = target
        .find(" ;")
        .or_else(|| target.find("; "))
        .map(|i| target[i..].trim_start().trim_start_matches(';').trim());
    match marker.filter(|m| !m.is_empty()) {
        Some(m) => format!("{head} @ {url} ; {m}"),
        None => format!("{head} @ {url}"),
    }
}

/// The requirement part of a requirement file line (before its options,
/// ` --hash=…` and the like).
pub(super) fn line_requirement(line: &str) -> &str {
    match line.find(" -").or_else(|| line.find("\t-")) {
        Some(i) => line[..i].trim(),
        None => line.trim(),
    }
}

/// The hex SHA-256 of a file.
fn sha256_file(p: &Path) -> Option<String> {
    use sha2::Digest;
    let bytes = std::fs::read(p).ok()?;
    Some(
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// The replacements of pip's arguments (position, new value) that make it
/// install the wheels in `built` instead of building: requirement
/// arguments replaced, requirement files given as private copies written
/// into `tmp`.
pub(super) fn substitute(
    args: &[String],
    cwd: &Path,
    built: &[Built],
    tmp: &Path,
) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let (_, found) = pip_args(args);
    let mut n = 0usize;
    for a in found {
        match a.kind {
            ArgKind::Spec => {
                if let Some(b) = built.iter().find(|b| b.spec == a.value) {
                    out.push((a.index, format!("{}{}", a.prefix, replacement(b))));
                }
            }
            ArgKind::File => {
                let mut seen = Vec::new();
                if let Some(copy) =
                    copy_requirements(&cwd.join(&a.value), tmp, built, &mut seen, &mut n)
                {
                    out.push((a.index, format!("{}{}", a.prefix, copy.display())));
                }
            }
            ArgKind::Editable => {}
        }
    }
    out
}

/// A private copy of requirement file `path` in `tmp` with the lines of
/// `built` replaced (see the module docs); `None`: it names none of them
/// (nor do the files it includes), pip reads it as it is.
fn copy_requirements(
    path: &Path,
    tmp: &Path,
    built: &[Built],
    seen: &mut Vec<PathBuf>,
    n: &mut usize,
) -> Option<PathBuf> {
    if seen.len() > 8 || seen.iter().any(|p| p == path) {
        return None;
    }
    seen.push(path.to_path_buf());
    let text = super::read_requirement_file(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let abs = |v: &str| -> String { dir.join(v).to_string_lossy().into_owned() };
    let mut changed = false;
    let mut lines = Vec::new();
    for raw in text.lines() {
        let line = super::requirement_line(raw);
        if let Some(f) = super::line_option(line, &["--requirement", "-r"]) {
            let nested = dir.join(&f);
            match copy_requirements(&nested, tmp, built, seen, n) {
                Some(c) => {
                    changed = true;
                    lines.push(format!("-r {}", c.display()));
                }
                None => lines.push(format!("-r {}", abs(&f))),
            }
        } else if let Some(f) = super::line_option(line, &["--constraint", "-c"]) {
            lines.push(format!("-c {}", abs(&f)));
        } else if let Some(f) = super::line_option(line, &["--find-links", "-f"]) {
            // pip reads a relative path that exists next to the file there.
            if !f.contains("://") && dir.join(&f).exists() {
                lines.push(format!("--find-links {}", abs(&f)));
            } else {
                lines.push(line.to_string());
            }
        } else if let Some(b) = (!line.starts_with('-'))
            .then(|| built.iter().find(|b| b.spec == line))
            .flatten()
        {
            changed = true;
            let mut l = replacement(b);
            if line.contains("--hash") {
                if let Some(h) = sha256_file(&b.wheel) {
                    l.push_str(&format!(" --hash=sha256:{h}"));
                }
            }
            lines.push(l);
        } else {
            lines.push(raw.to_string());
        }
    }
    if !changed {
        return None;
    }
    *n += 1;
    let copy = tmp.join(format!("requirements-{n}.txt"));
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&copy, text).ok()?;
    Some(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn requirement_arguments_are_found_with_their_positions() {
        let a = s(&[
            "install",
            "--target",
            "t",
            "./x.tar.gz",
            "-rreq.txt",
            "--requirement=r2.txt",
            "-e",
            "git+https://h.test/x#egg=x",
            "--",
            "y @ file:///y",
        ]);
        let (sub, found) = pip_args(&a);
        assert_eq!(sub, Some("install"));
        let got: Vec<(usize, &str, ArgKind, &str)> = found
            .iter()
            .map(|p| (p.index, p.prefix.as_str(), p.kind, p.value.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, "", ArgKind::Spec, "./x.tar.gz"),
                (4, "-r", ArgKind::File, "req.txt"),
                (5, "--requirement=", ArgKind::File, "r2.txt"),
                (7, "", ArgKind::Editable, "git+https://h.test/x#egg=x"),
                (9, "", ArgKind::Spec, "y @ file:///y"),
            ]
        );
    }

    #[test]
    fn replacements_keep_extras_and_markers() {
        let b = |spec: &str| Built {
            spec: spec.into(),
            name: "pw-x".into(),
            wheel: PathBuf::from("/w/pw_x-1.0-py3-none-any.whl"),
        };
        assert_eq!(
            replacement(&b(
                "pw-x[a,b] @ https://h.test/pw-x-1.0.tar.gz ; python_version > '3'"
            )),
            "pw-x[a,b] @ file:///w/pw_x-1.0-py3-none-any.whl ; python_version > '3'"
        );
        assert_eq!(
            replacement(&b("./dl/pw-x-1.0.tar.gz")),
            "pw-x @ file:///w/pw_x-1.0-py3-none-any.whl"
        );
        assert_eq!(
            replacement(&b("https://h.test/pw-x-1.0.tar.gz#egg=pw-x")),
            "pw-x @ file:///w/pw_x-1.0-py3-none-any.whl"
        );
        assert_eq!(
            wheel_version(Path::new("/w/pw_x-1.0-py3-none-any.whl")).as_deref(),
            Some("1.0")
        );
        assert_eq!(
            line_requirement("x @ file:///x --hash=sha256:00"),
            "x @ file:///x"
        );
    }

    #[test]
    fn requirement_files_are_copied_with_the_built_lines_replaced() {
        let d = tempfile::tempdir().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("links")).unwrap();
        std::fs::write(d.path().join("c.txt"), "pw-y<2\n").unwrap();
        std::fs::write(d.path().join("plain.txt"), "pw-y\n").unwrap();
        std::fs::write(
            d.path().join("inner.txt"),
            "# x\npw-x @ https://h.test/pw-x-1.0.tar.gz  # direct\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("req.txt"),
            "-r inner.txt\n-r plain.txt\n-c c.txt\n--find-links links\npw-y\n",
        )
        .unwrap();
        let wheel = tmp.path().join("pw_x-1.0-py3-none-any.whl");
        std::fs::write(&wheel, b"w").unwrap();
        let built = [Built {
            spec: "pw-x @ https://h.test/pw-x-1.0.tar.gz".into(),
            name: "pw-x".into(),
            wheel: wheel.clone(),
        }];
        let args = s(&["install", "-r", "req.txt", "-r", "plain.txt"]);
        let r = substitute(&args, d.path(), &built, tmp.path());
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].0, 2);
        let top = std::fs::read_to_string(&r[0].1).unwrap();
        let dp = d.path().display();
        assert!(top.contains(&format!("-r {dp}/plain.txt\n")), "{top}");
        assert!(top.contains(&format!("-c {dp}/c.txt\n")), "{top}");
        assert!(top.contains(&format!("--find-links {dp}/links\n")), "{top}");
        let inner = top.lines().next().unwrap().strip_prefix("-r ").unwrap();
        let inner = std::fs::read_to_string(inner).unwrap();
        assert!(
            inner.contains(&format!("pw-x @ file://{}\n", wheel.display())),
            "{inner}"
        );
        assert!(!inner.contains("h.test"), "{inner}");
    }
}
