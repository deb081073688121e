use std::process::Command;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
    SetInformationJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JOB_OBJECT_LIMIT_BREAKAWAY_OK,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows_sys::Win32::System::Threading::GetCurrentProcess;

use super::{spawn_error, Ended};
use crate::error::{Error, Result};

/// A Job Object that kills its processes when the last handle closes (when
/// pkgward exits, however it exits).
struct Job(HANDLE);

impl Job {
    fn new() -> Option<Job> {
        // SAFETY: plain Win32 calls with valid (null/zeroed) arguments.
        unsafe {
            let h = CreateJobObjectW(std::ptr::null(), std::ptr::null());
            if h.is_null() {
                return None;
            }
            let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
            info.BasicLimitInformation.LimitFlags =
                JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_BREAKAWAY_OK;
            let ok = SetInformationJobObject(
                h,
                JobObjectExtendedLimitInformation,
                &info as *const _ as *const _,
                std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            );
            if ok == 0 {
                CloseHandle(h);
                return None;
            }
            Some(Job(h))
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // SAFETY: the handle is owned by this value.
        unsafe { CloseHandle(self.0) };
    }
}

pub(super) fn run(mut cmd: Command) -> Result<Ended> {
    // pkgward joins the job itself before spawning, so the child is in it from
    // its first instruction (no window in which it could escape the job).
    let job = Job::new();
    if let Some(job) = &job {
        // SAFETY: valid job handle and the pseudo-handle of this process.
        unsafe { AssignProcessToJobObject(job.0, GetCurrentProcess()) };
    }
    // Ctrl-C / Ctrl-Break go to the whole console: leave them to the child.
    // SAFETY: a null handler with TRUE makes this process ignore Ctrl-C.
    unsafe { SetConsoleCtrlHandler(None, 1) };
    let mut child = cmd
        .spawn()
        .map_err(|e| spawn_error(std::path::Path::new(cmd.get_program()), e))?;
    let pid = child.id();
    let status = child
        .wait()
        .map_err(|e| Error::io("waiting for the real tool", e))?;
    // Keep the job open until pkgward exits: pkgward is in it too, and closing
    // the last handle would end pkgward before it records the exit.
    std::mem::forget(job);
    Ok(Ended {
        pid,
        code: status.code().unwrap_or(1),
        signal: None,
    })
}
