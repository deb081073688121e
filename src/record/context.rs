//! Who, where and under what automation an invocation ran.

use serde::Serialize;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Ci {
    /// `github-actions`, `gitlab`, `jenkins`, `azure-pipelines`, `circleci`,
    /// `buildkite`, `generic`, or null when not under CI.
    pub provider: Option<&'static str>,
    /// A CI job id/URL where the provider exposes one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Interactive: not under CI and stdin is a terminal.
    pub interactive: bool,
}

/// Detects the CI provider from the environment (`get` reads a variable).
pub fn detect_ci(get: &dyn Fn(&str) -> Option<String>, stdin_tty: bool) -> Ci {
    let set = |k: &str| get(k).is_some_and(|v| !v.is_empty());
    let truthy = |k: &str| {
        get(k).is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v == "true" || v == "1" || v == "yes"
        })
    };
    let (provider, job) = if truthy("GITHUB_ACTIONS") {
        let job = match (get("GITHUB_REPOSITORY"), get("GITHUB_RUN_ID")) {
            (Some(r), Some(id)) => Some(format!("{r}/actions/runs/{id}")),
            _ => None,
        };
        (Some("github-actions"), job)
    } else if set("GITLAB_CI") {
        (
            Some("gitlab"),
            get("CI_JOB_URL").or_else(|| get("CI_JOB_ID")),
        )
    } else if set("JENKINS_URL") {
        (
            Some("jenkins"),
            get("BUILD_URL").or_else(|| get("BUILD_TAG")),
        )
    } else if set("TF_BUILD") {
        (Some("azure-pipelines"), get("BUILD_BUILDID"))
    } else if truthy("CIRCLECI") {
        (Some("circleci"), get("CIRCLE_BUILD_URL"))
    } else if truthy("BUILDKITE") {
        (Some("buildkite"), get("BUILDKITE_BUILD_URL"))
    } else if truthy("CI") {
        (Some("generic"), None)
    } else {
        (None, None)
    };
    Ci {
        provider,
        job,
        interactive: provider.is_none() && stdin_tty,
    }
}

pub fn stdin_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal()
}

/// The user name (from the environment, else the numeric uid).
pub fn user() -> String {
    for k in ["USER", "USERNAME", "LOGNAME"] {
        if let Some(v) = std::env::var_os(k).filter(|v| !v.is_empty()) {
            return v.to_string_lossy().into_owned();
        }
    }
    #[cfg(unix)]
    if let Some(name) = passwd_name() {
        return name;
    }
    uid().map(|u| u.to_string()).unwrap_or_default()
}

/// The login name of the real uid, from the password database.
#[cfg(unix)]
fn passwd_name() -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: all pointers are valid for the sizes given; on success
    // `result` points into `pwd`, whose strings live in `buf`.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            libc::getuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(pwd.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

pub fn uid() -> Option<u32> {
    #[cfg(unix)]
    {
        // SAFETY: getuid cannot fail.
        Some(unsafe { libc::getuid() })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

pub fn host() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
        // on success when the name fits.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
        String::new()
    }
    #[cfg(not(unix))]
    {
        std::env::var("COMPUTERNAME").unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn ci(vars: &[(&str, &str)], tty: bool) -> Ci {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        detect_ci(&|k| m.get(k).cloned(), tty)
    }

    #[test]
    fn providers() {
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let table: &[(Vars, Option<&str>)] = &[
            (
                &[("GITHUB_ACTIONS", "true"), ("CI", "true")],
                Some("github-actions"),
            ),
            (&[("GITLAB_CI", "true"), ("CI", "true")], Some("gitlab")),
            (
                &[("JENKINS_URL", "http://ci.example.com/")],
                Some("jenkins"),
            ),
            (&[("TF_BUILD", "True")], Some("azure-pipelines")),
            (&[("CIRCLECI", "true")], Some("circleci")),
            (&[("BUILDKITE", "true")], Some("buildkite")),
            (&[("CI", "true")], Some("generic")),
            (&[("CI", "1")], Some("generic")),
            (&[("CI", "false")], None),
            (&[], None),
        ];
        for (vars, want) in table {
            assert_eq!(ci(vars, false).provider, *want, "{vars:?}");
        }
    }

    #[test]
    fn interactive_only_outside_ci_on_a_tty() {
        assert!(ci(&[], true).interactive);
        assert!(!ci(&[], false).interactive);
        assert!(!ci(&[("CI", "true")], true).interactive);
    }

    #[test]
    fn github_job_url() {
        let c = ci(
            &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_REPOSITORY", "o/r"),
                ("GITHUB_RUN_ID", "42"),
            ],
            false,
        );
        assert_eq!(c.job.as_deref(), Some("o/r/actions/runs/42"));
    }
}
