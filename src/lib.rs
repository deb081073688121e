//! pkgward: a guard between people, CI jobs and their package managers.
//!
//! The modules follow the pipeline of one shim invocation:
//!
//! argv → [`classify`] (one adapter per ecosystem, pure) → [`decide`] (policy)
//! → [`supervise`] (find the real tool, spawn, wait) → [`record`] (audit log).
//!
//! [`shim`] drives that pipeline; [`cli`] is the management CLI (`pkgward …`),
//! the only module besides `main` that prints. Elsewhere errors are
//! [`error::Error`] values that map to documented exit codes, and notices are
//! handed back to the caller.

/// musl builds (static, the cheapest to start) allocate through mimalloc:
/// musl's own allocator makes the lockfile parsers 2–2.5× slower
/// (docs/PERFORMANCE.md, "Shim overhead"). Built without its huge-page
/// advice, it neither faults in huge pages at start-up nor changes the
/// process's THP setting, which the real tool would inherit.
#[cfg(all(target_os = "linux", target_env = "musl"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod builtin;
pub mod classify;
pub mod cli;
pub mod decide;
pub mod error;
pub mod export;
pub mod fleet;
pub mod lockfiles;
pub mod paths;
pub mod policy;
pub mod provenance;
pub mod record;
pub mod scripts;
pub mod shim;
pub mod sinks;
pub mod supervise;
pub mod threats;
pub mod tools;
pub mod verify;
