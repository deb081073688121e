//! Linux supervision of the real tool's process tree (first slice): a
//! seccomp filter with user notification on `execve`, `execveat`, `connect`,
//! `sendto` (with an address), `sendmsg` and `sendmmsg`; `io_uring_setup`
//! refused (it would bypass the connect check); foreign syscall ABIs (x32,
//! i386 on x86_64) refused. See `trace`.

pub mod trace;
