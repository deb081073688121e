//! Windows supervision without administrator rights.
//!
//! pkgward joins a Job Object (kill-on-close) before it starts the real tool,
//! so the whole tree is in the job from its first instruction and dies with
//! pkgward however pkgward ends. The job is associated with an I/O completion
//! port: Windows posts `JOB_OBJECT_MSG_NEW_PROCESS` for every process that
//! enters the job and `JOB_OBJECT_MSG_EXIT_PROCESS` when one ends. A watcher
//! thread opens each new process at once (holding the handle keeps its pid and
//! exit code valid) and reads its image path, command line and parent.
//!
//! Ctrl-C/Ctrl-Break reach every process on the console; pkgward's handler
//! swallows them so it outlives the tool and records how the tool chose to
//! end. (A *null* handler would be inherited by the child as "ignore Ctrl-C";
//! a handler routine is not inherited.)

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::windows::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::Command;

use windows_sys::Wdk::System::Threading::{
    NtQueryInformationProcess, ProcessBasicInformation, ProcessCommandLineInformation,
};
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE, WAIT_OBJECT_0};
use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
use windows_sys::Win32::System::Diagnostics::Debug::ReadProcessMemory;
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectAssociateCompletionPortInformation,
    JobObjectExtendedLimitInformation, SetInformationJobObject,
    JOBOBJECT_ASSOCIATE_COMPLETION_PORT, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetExitCodeProcess, OpenProcess, QueryFullProcessImageNameW,
    WaitForSingleObject, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE, PROCESS_VM_READ,
};
use windows_sys::Win32::System::IO::{
    CreateIoCompletionPort, GetQueuedCompletionStatus, PostQueuedCompletionStatus, OVERLAPPED,
};

use super::{flag_for, spawn_error, Ended, ProcessSeen, ProcessSink, TreeEvent, MAX_PROCESSES};
use crate::error::{Error, Result};

// Job notification messages (winnt.h).
const JOB_OBJECT_MSG_NEW_PROCESS: u32 = 6;
const JOB_OBJECT_MSG_EXIT_PROCESS: u32 = 7;
const JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS: u32 = 8;
/// The completion key of job messages; anything else is pkgward's own stop.
const JOB_KEY: usize = 1;
const STOP_KEY: usize = 2;
const STILL_ACTIVE: u32 = 259;

struct Owned(HANDLE);

// SAFETY: a kernel handle may be used from any thread.
unsafe impl Send for Owned {}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: the handle is owned by this value.
        unsafe { CloseHandle(self.0) };
    }
}

/// A Job Object that kills its processes when the last handle closes (when
/// pkgward exits, however it exits), with its completion port if one could
/// be associated.
struct Job {
    job: Owned,
    port: Option<Owned>,
}

impl Job {
    fn new() -> Option<Job> {
        // SAFETY: plain Win32 calls with valid (null/zeroed) arguments.
        unsafe {
            let h = CreateJobObjectW(std::ptr::null(), std::ptr::null());
            if h.is_null() {
                return None;
            }
            let job = Owned(h);
            let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
            // No JOB_OBJECT_LIMIT_BREAKAWAY_OK: a process of the tree could
            // otherwise leave the job (CREATE_BREAKAWAY_FROM_JOB), and with
            // it the process records and the kill-on-close.
            info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
            let ok = SetInformationJobObject(
                h,
                JobObjectExtendedLimitInformation,
                &info as *const _ as *const _,
                std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            );
            if ok == 0 {
                return None;
            }
            let port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, std::ptr::null_mut(), 0, 1);
            let port = (!port.is_null()).then(|| Owned(port)).filter(|p| {
                let assoc = JOBOBJECT_ASSOCIATE_COMPLETION_PORT {
                    CompletionKey: JOB_KEY as *mut _,
                    CompletionPort: p.0,
                };
                SetInformationJobObject(
                    h,
                    JobObjectAssociateCompletionPortInformation,
                    &assoc as *const _ as *const _,
                    std::mem::size_of::<JOBOBJECT_ASSOCIATE_COMPLETION_PORT>() as u32,
                ) != 0
            });
            Some(Job { job, port })
        }
    }
}

/// Swallows Ctrl-C/Ctrl-Break (the tool got them too and decides); lets
/// close/logoff/shutdown take their default course (pkgward ends, the job
/// kills the tree).
unsafe extern "system" fn on_ctrl(event: u32) -> windows_sys::core::BOOL {
    // CTRL_C_EVENT = 0, CTRL_BREAK_EVENT = 1.
    (event <= 1) as windows_sys::core::BOOL
}

pub(super) fn run(mut cmd: Command, sink: Option<ProcessSink>) -> Result<Ended> {
    let me = std::process::id();
    let job = Job::new();
    // The watcher starts before anyone joins the job so no message is missed.
    let watcher = job
        .as_ref()
        .and_then(|j| j.port.as_ref())
        .map(|p| Watcher::start(p.0, me, sink));
    if let Some(job) = &job {
        // pkgward joins the job itself before spawning, so the child is in it
        // from its first instruction (no window in which it could escape).
        // SAFETY: valid job handle and the pseudo-handle of this process.
        unsafe { AssignProcessToJobObject(job.job.0, GetCurrentProcess()) };
    }
    // SAFETY: registers a handler routine that lives for the whole program.
    unsafe { SetConsoleCtrlHandler(Some(on_ctrl), 1) };
    let spawned = cmd
        .spawn()
        .map_err(|e| spawn_error(std::path::Path::new(cmd.get_program()), e));
    let status = spawned.and_then(|mut child| {
        let status = child
            .wait()
            .map_err(|e| Error::io("waiting for the real tool", e))?;
        Ok((child.id(), status))
    });
    // Stopped whether or not the tool could be started (the thread would
    // otherwise wait on the port for ever).
    let processes = match (watcher, job.as_ref().and_then(|j| j.port.as_ref())) {
        (Some(w), Some(port)) => w.finish(port.0),
        _ => Vec::new(),
    };
    // Keep the job open until pkgward exits: pkgward is in it too, and closing
    // the last handle would end pkgward before it records the exit (or, when
    // the tool could not be started, reports why). Processes the tool left
    // running die with pkgward.
    std::mem::forget(job);
    let (pid, status) = status?;
    Ok(Ended {
        pid,
        // The exit code is a DWORD; `process::exit` hands the same bits back.
        code: status.code().unwrap_or(1),
        signal: None,
        processes,
    })
}

/// A process seen in the job, with the handle that keeps it inspectable.
struct Tracked {
    seen: ProcessSeen,
    handle: Option<Owned>,
    /// Its `Started` event went out.
    reported: bool,
    /// Its `Exited` event went out.
    ended: bool,
}

struct Watcher {
    thread: std::thread::JoinHandle<Vec<ProcessSeen>>,
}

impl Watcher {
    fn start(port: HANDLE, me: u32, sink: Option<ProcessSink>) -> Watcher {
        let port = port as usize;
        let thread = std::thread::Builder::new()
            .name("pkgward-job".into())
            .spawn(move || Tree::new(me, sink).watch(port as HANDLE))
            .expect("spawning the job watcher thread");
        Watcher { thread }
    }

    /// Stops the watcher after the messages already queued and returns what
    /// it saw (nothing when a sink took the records as they came).
    fn finish(self, port: HANDLE) -> Vec<ProcessSeen> {
        // SAFETY: posting a packet to a port this process owns.
        unsafe { PostQueuedCompletionStatus(port, 0, STOP_KEY, std::ptr::null()) };
        self.thread.join().unwrap_or_default()
    }
}

/// How many times a process whose image or command line is not readable yet
/// is looked at again (every [`RETRY_MS`] while nothing else happens).
const RETRIES: u32 = 2000;
const RETRY_MS: u32 = 1;

const STILL_RUNNING: &str =
    "still running when the real tool ended (the job ends it when pkgward exits)";

/// The processes of one job, reported to the sink as they are learned.
struct Tree {
    me: u32,
    sink: Option<ProcessSink>,
    order: Vec<u32>,
    by_pid: HashMap<u32, Tracked>,
    /// Processes announced before their details were readable: (pid, tries).
    pending: Vec<(u32, u32)>,
    dropped: usize,
}

impl Tree {
    fn new(me: u32, sink: Option<ProcessSink>) -> Tree {
        Tree {
            me,
            sink,
            order: Vec::new(),
            by_pid: HashMap::new(),
            pending: Vec::new(),
            dropped: 0,
        }
    }

    /// Sends a process's `Started` event once (flagged by then: the parent
    /// is known, or unknown and so not pkgward).
    fn report(&mut self, pid: u32) {
        let me = self.me;
        let Some(t) = self.by_pid.get_mut(&pid) else {
            return;
        };
        if t.reported {
            return;
        }
        t.reported = true;
        t.seen.flagged = flag_for(t.seen.image.as_deref(), t.seen.parent_pid == Some(me));
        if let Some(sink) = &self.sink {
            sink(TreeEvent::Started(&t.seen));
        }
    }

    fn exited(&mut self, pid: u32) {
        let Some(t) = self.by_pid.get_mut(&pid) else {
            return;
        };
        if let Some(h) = t.handle.take() {
            fill(&mut t.seen, &h);
            t.seen.exit_code = exit_code(&h);
        }
        self.report(pid);
        let Some(t) = self.by_pid.get_mut(&pid) else {
            return;
        };
        if !t.ended {
            t.ended = true;
            if let Some(sink) = &self.sink {
                sink(TreeEvent::Exited {
                    pid,
                    exit_code: t.seen.exit_code,
                    note: None,
                });
            }
        }
    }

    fn watch(mut self, port: HANDLE) -> Vec<ProcessSeen> {
        loop {
            let (mut msg, mut key, mut ov) = (0u32, 0usize, std::ptr::null_mut::<OVERLAPPED>());
            let wait = if self.pending.is_empty() {
                u32::MAX
            } else {
                RETRY_MS
            };
            // SAFETY: valid out-pointers; a wait on our own port.
            let ok = unsafe { GetQueuedCompletionStatus(port, &mut msg, &mut key, &mut ov, wait) };
            if ok == 0 && ov.is_null() && !self.pending.is_empty() {
                // Timed out: look again at what was not readable yet; report
                // what is complete now or will not become so.
                let mut ready = Vec::new();
                let by_pid = &mut self.by_pid;
                self.pending.retain_mut(|(pid, tries)| {
                    *tries += 1;
                    let Some(t) = by_pid.get_mut(pid) else {
                        return false;
                    };
                    let Some(h) = &t.handle else {
                        ready.push(*pid);
                        return false;
                    };
                    fill(&mut t.seen, h);
                    let again = !complete(&t.seen) && *tries < RETRIES;
                    if !again {
                        ready.push(*pid);
                    }
                    again
                });
                for pid in ready {
                    self.report(pid);
                }
                continue;
            }
            if ok == 0 || key == STOP_KEY {
                break;
            }
            if key != JOB_KEY {
                continue;
            }
            // For job messages the "overlapped" pointer carries the process id.
            let pid = ov as usize as u32;
            match msg {
                JOB_OBJECT_MSG_NEW_PROCESS if pid != self.me => {
                    if self.by_pid.contains_key(&pid) {
                        continue;
                    }
                    if self.order.len() >= MAX_PROCESSES {
                        self.dropped += 1;
                        continue;
                    }
                    self.order.push(pid);
                    let t = inspect(pid);
                    let wait = t.handle.is_some() && !complete(&t.seen);
                    self.by_pid.insert(pid, t);
                    if wait {
                        self.pending.push((pid, 0));
                    } else {
                        self.report(pid);
                    }
                }
                JOB_OBJECT_MSG_EXIT_PROCESS | JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS => {
                    self.pending.retain(|(p, _)| *p != pid);
                    self.exited(pid);
                }
                _ => {}
            }
        }
        // The tool ended: what is still unreported goes out now, and what is
        // still running is said to be.
        let order = std::mem::take(&mut self.order);
        for &pid in &order {
            if let Some(t) = self.by_pid.get_mut(&pid) {
                if let Some(h) = &t.handle {
                    fill(&mut t.seen, h);
                    t.seen.exit_code = exit_code(h);
                }
            }
            self.report(pid);
            let Some(t) = self.by_pid.get_mut(&pid) else {
                continue;
            };
            if t.ended {
                continue;
            }
            if t.seen.exit_code.is_some() || t.handle.is_none() {
                // Ended (or not inspectable), its exit message not read yet.
                self.exited(pid);
            } else if let Some(sink) = &self.sink {
                t.ended = true;
                sink(TreeEvent::Exited {
                    pid,
                    exit_code: None,
                    note: Some(STILL_RUNNING),
                });
            }
        }
        let mut out: Vec<ProcessSeen> = Vec::new();
        if self.dropped > 0 {
            let note = ProcessSeen {
                note: Some(format!(
                    "{} more process(es) not recorded (limit {MAX_PROCESSES})",
                    self.dropped
                )),
                ..ProcessSeen::default()
            };
            match &self.sink {
                Some(sink) => sink(TreeEvent::Started(&note)),
                None => out.push(note),
            }
        }
        if self.sink.is_some() {
            return out;
        }
        let mut all: Vec<ProcessSeen> = order
            .iter()
            .filter_map(|pid| self.by_pid.remove(pid))
            .map(|t| t.seen)
            .collect();
        all.append(&mut out);
        all
    }
}

/// The exit code of an ended process; `None` while it runs. (259 is also
/// STILL_ACTIVE: a process that really exited with it is told apart by
/// waiting on its handle.)
fn exit_code(h: &Owned) -> Option<i64> {
    let mut code = 0u32;
    // SAFETY: a process handle opened with PROCESS_QUERY_LIMITED_INFORMATION.
    let ok = unsafe { GetExitCodeProcess(h.0, &mut code) };
    if ok == 0 {
        return None;
    }
    // SAFETY: a zero-timeout wait on a handle opened with SYNCHRONIZE.
    if code == STILL_ACTIVE && unsafe { WaitForSingleObject(h.0, 0) } != WAIT_OBJECT_0 {
        return None;
    }
    Some(code as i64)
}

fn complete(p: &ProcessSeen) -> bool {
    p.image.is_some() && p.command_line.is_some() && p.parent_pid.is_some()
}

/// Opens a new process and reads what identifies it. A process that already
/// ended (and whose last handle closed) is recorded by pid alone, with a note.
fn inspect(pid: u32) -> Tracked {
    let mut seen = ProcessSeen {
        pid,
        ..ProcessSeen::default()
    };
    // SAFETY: OpenProcess; null on failure. Reading memory is for the
    // command line on systems without ProcessCommandLineInformation; the
    // user's own processes allow it without administrator rights.
    let h = unsafe {
        let h = OpenProcess(
            PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ | PROCESS_SYNCHRONIZE,
            0,
            pid,
        );
        if h.is_null() {
            OpenProcess(
                PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE,
                0,
                pid,
            )
        } else {
            h
        }
    };
    if h.is_null() {
        seen.note = Some(format!(
            "ended before it could be inspected ({})",
            std::io::Error::last_os_error()
        ));
        return Tracked {
            seen,
            handle: None,
            reported: false,
            ended: false,
        };
    }
    let h = Owned(h);
    fill(&mut seen, &h);
    Tracked {
        seen,
        handle: Some(h),
        reported: false,
        ended: false,
    }
}

/// Reads what is still unknown about a process. A process is announced while
/// it is being created; where its image name or command line is not readable
/// yet (Wine sets them once the process starts), a later call fills them.
fn fill(seen: &mut ProcessSeen, h: &Owned) {
    if seen.image.is_none() {
        seen.image = image_path(h);
    }
    if seen.parent_pid.is_none() {
        seen.parent_pid = parent_pid(h);
    }
    if seen.command_line.is_none() {
        seen.command_line = command_line(h);
    }
}

fn image_path(h: &Owned) -> Option<PathBuf> {
    let mut buf = vec![0u16; 32768];
    let mut len = buf.len() as u32;
    // SAFETY: buffer and its length in characters.
    let ok = unsafe { QueryFullProcessImageNameW(h.0, 0, buf.as_mut_ptr(), &mut len) };
    (ok != 0).then(|| PathBuf::from(OsString::from_wide(&buf[..len as usize])))
}

#[repr(C)]
struct UnicodeString {
    length: u16,
    maximum: u16,
    buffer: *const u16,
}

/// The command line read from the process's memory: PEB → ProcessParameters
/// → CommandLine (the x64 layout). For Windows before 8.1 and for Wine, which
/// lack ProcessCommandLineInformation.
fn command_line_from_peb(h: &Owned) -> Option<String> {
    const PEB_PROCESS_PARAMETERS: usize = 0x20;
    const PARAMS_COMMAND_LINE: usize = 0x70;
    fn read<T>(h: &Owned, addr: usize) -> Option<T> {
        let mut v = std::mem::MaybeUninit::<T>::uninit();
        let mut got = 0usize;
        // SAFETY: reads size_of::<T>() bytes into `v`; checked below.
        let ok = unsafe {
            ReadProcessMemory(
                h.0,
                addr as *const _,
                v.as_mut_ptr() as *mut _,
                std::mem::size_of::<T>(),
                &mut got,
            )
        };
        // SAFETY: fully written when the call succeeded for the whole size;
        // only plain integer/pointer types are read this way.
        (ok != 0 && got == std::mem::size_of::<T>()).then(|| unsafe { v.assume_init() })
    }
    let peb = basic_info(h)?.peb;
    if peb == 0 {
        return None;
    }
    let params: usize = read(h, peb + PEB_PROCESS_PARAMETERS)?;
    if params == 0 {
        return None;
    }
    let us: UnicodeString = read(h, params + PARAMS_COMMAND_LINE)?;
    if us.buffer.is_null() || us.length == 0 {
        return None;
    }
    let mut chars = vec![0u16; us.length as usize / 2];
    let mut got = 0usize;
    // SAFETY: reads `length` bytes into a buffer of that size.
    let ok = unsafe {
        ReadProcessMemory(
            h.0,
            us.buffer as *const _,
            chars.as_mut_ptr() as *mut _,
            chars.len() * 2,
            &mut got,
        )
    };
    // A process announced while Wine is still filling its parameters shows
    // NULs: not readable yet (the watcher looks again).
    (ok != 0 && got == chars.len() * 2 && chars[0] != 0).then(|| String::from_utf16_lossy(&chars))
}

/// PROCESS_BASIC_INFORMATION, declared here with plain integer fields.
#[repr(C)]
struct BasicInfo {
    exit_status: i32,
    peb: usize,
    affinity: usize,
    base_priority: i32,
    pid: usize,
    parent: usize,
}

fn basic_info(h: &Owned) -> Option<BasicInfo> {
    // SAFETY: zeroed plain-data struct.
    let mut info: BasicInfo = unsafe { std::mem::zeroed() };
    let mut ret = 0u32;
    // SAFETY: the buffer is a PROCESS_BASIC_INFORMATION-sized struct.
    let status = unsafe {
        NtQueryInformationProcess(
            h.0,
            ProcessBasicInformation,
            &mut info as *mut _ as *mut _,
            std::mem::size_of::<BasicInfo>() as u32,
            &mut ret,
        )
    };
    (status >= 0).then_some(info)
}

fn parent_pid(h: &Owned) -> Option<u32> {
    basic_info(h).map(|i| i.parent as u32)
}

/// The command line through `ProcessCommandLineInformation` (Windows 8.1+,
/// needs only PROCESS_QUERY_LIMITED_INFORMATION): a UNICODE_STRING followed
/// by its characters in the same buffer.
fn command_line(h: &Owned) -> Option<String> {
    let mut buf = vec![0u64; 4096]; // 32 KiB, 8-aligned
    let mut ret = 0u32;
    let size = (buf.len() * 8) as u32;
    // SAFETY: the buffer is `size` bytes, aligned for UNICODE_STRING.
    let status = unsafe {
        NtQueryInformationProcess(
            h.0,
            ProcessCommandLineInformation,
            buf.as_mut_ptr() as *mut _,
            size,
            &mut ret,
        )
    };
    if status < 0 {
        return command_line_from_peb(h);
    }
    // SAFETY: on success the buffer starts with a UNICODE_STRING whose
    // Buffer points into the same allocation, `length` bytes long.
    unsafe {
        let us = &*(buf.as_ptr() as *const UnicodeString);
        let start = buf.as_ptr() as usize;
        let end = start + size as usize;
        let p = us.buffer as usize;
        let bytes = us.length as usize;
        if us.buffer.is_null() || p < start || p + bytes > end {
            return None;
        }
        let chars = std::slice::from_raw_parts(us.buffer, bytes / 2);
        (chars.first() != Some(&0)).then(|| String::from_utf16_lossy(chars))
    }
}
