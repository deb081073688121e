//! Linux supervision of the real tool's process tree: a seccomp filter with
//! user notification (or, where that is unavailable, ptrace with seccomp
//! `RET_TRACE`) on `execve`, `execveat`, `connect`, `sendto`, `sendmsg`,
//! `sendmmsg` (and `exit_group`); `io_uring_setup` refused (it would bypass
//! the connect check); foreign syscall ABIs (x32, i386 on x86_64) refused.
//! See `trace`.

pub mod dns;
pub mod flags;
pub mod gate;
mod mem;
mod ptrace;
pub mod records;
mod state;
pub mod trace;

pub use mem::{parse_resolv_conf, resolvers};
pub use state::resolver_socket;
