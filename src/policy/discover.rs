//! Finding the layer files. Runs on every shim invocation, so it only stats
//! a handful of paths: no directory listing, no reading.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::{Layer, POLICY_ENV, PROJECT_FILE, SYSTEM_POLICY_ENV};

/// Where [`discover()`] looks. [`DiscoveryContext::from_process`] fills it from
/// the process; tests build one by hand.
#[derive(Clone, Debug)]
pub struct DiscoveryContext {
    /// The real system policy path ([`system_policy_path`]).
    pub system: PathBuf,
    /// `PKGWARD_SYSTEM_POLICY`: used as the system layer **only when
    /// `system` does not exist**, so a deployed security-team policy cannot
    /// be replaced from the environment. Meant for tests and for machines
    /// without a managed system policy.
    pub system_override: Option<PathBuf>,
    /// The user's config directory (`dirs::config_dir()`); the user layer is
    /// `<dir>/pkgward/policy.toml`.
    pub user_config_dir: Option<PathBuf>,
    /// Where the search for the project's `pkgward.toml` starts.
    pub cwd: PathBuf,
    /// `PKGWARD_POLICY`: the env layer (must exist when set).
    pub env_policy: Option<PathBuf>,
}

impl DiscoveryContext {
    /// The context of this process: the real system path, the
    /// `PKGWARD_SYSTEM_POLICY` / `PKGWARD_POLICY` variables (empty = unset)
    /// and the user's config directory.
    pub fn from_process(cwd: &Path) -> Self {
        DiscoveryContext {
            system: system_policy_path(),
            system_override: env_path(SYSTEM_POLICY_ENV),
            user_config_dir: dirs::config_dir(),
            cwd: cwd.to_path_buf(),
            env_policy: env_path(POLICY_ENV),
        }
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The layer files found, least specific first.
#[derive(Clone, Debug)]
pub struct Discovery {
    pub layers: Vec<(Layer, PathBuf)>,
}

/// The system policy: `/etc/pkgward/policy.toml` on Unix,
/// `%ProgramData%\pkgward\policy.toml` on Windows (`C:\ProgramData` when the
/// variable is unset).
pub fn system_policy_path() -> PathBuf {
    if cfg!(windows) {
        let base = std::env::var_os("ProgramData")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| OsString::from(r"C:\ProgramData"));
        PathBuf::from(base).join("pkgward").join("policy.toml")
    } else {
        PathBuf::from("/etc/pkgward/policy.toml")
    }
}

/// Finds the layers: the system file (or, only if it does not exist, the
/// override), the user file, the nearest project `pkgward.toml` walking up
/// from `cwd` to the filesystem root, and the env file (listed even when
/// missing: [`load()`](fn@super::load) reports that as an error).
pub fn discover(ctx: &DiscoveryContext) -> Discovery {
    let mut layers = Vec::with_capacity(4);

    match presence(&ctx.system) {
        // Present, or unknown (e.g. permission denied): the real file wins,
        // and load reports it if it cannot be read.
        Presence::Yes | Presence::Unknown => layers.push((Layer::System, ctx.system.clone())),
        Presence::No => {
            if let Some(o) = ctx
                .system_override
                .as_ref()
                .filter(|o| !o.as_os_str().is_empty())
            {
                layers.push((Layer::System, o.clone()));
            }
        }
    }

    if let Some(dir) = &ctx.user_config_dir {
        let p = dir.join("pkgward").join("policy.toml");
        if presence(&p) == Presence::Yes {
            layers.push((Layer::User, p));
        }
    }

    for dir in ctx.cwd.ancestors() {
        let p = dir.join(PROJECT_FILE);
        if presence(&p) == Presence::Yes {
            layers.push((Layer::Project, p));
            break;
        }
    }

    if let Some(p) = ctx
        .env_policy
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty())
    {
        layers.push((Layer::Env, p.clone()));
    }

    Discovery { layers }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Presence {
    Yes,
    No,
    Unknown,
}

/// One `lstat`: a dangling symlink counts as present (load then treats the
/// file as absent); an error other than "not found" is `Unknown`.
fn presence(p: &Path) -> Presence {
    use std::io::ErrorKind;
    match std::fs::symlink_metadata(p) {
        Ok(_) => Presence::Yes,
        // NotADirectory: a path component is a file, so the file cannot exist.
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            Presence::No
        }
        Err(_) => Presence::Unknown,
    }
}
