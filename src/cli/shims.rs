//! `pkgward shims install|list|remove`.

use std::path::{Path, PathBuf};

use super::ShimsCmd;
use crate::error::{exit, Error, Result};
use crate::paths;
use crate::supervise::resolve::FileId;
use crate::tools::Tool;

pub fn run(cmd: ShimsCmd) -> Result<i32> {
    match cmd {
        ShimsCmd::Install {
            dir,
            tools,
            force,
            copy,
            modify_path,
        } => {
            let dir = shim_dir(dir)?;
            let code = install(&dir, &select(&tools)?, force, copy)?;
            if modify_path {
                apply_path(&dir)?;
            }
            Ok(code)
        }
        ShimsCmd::List { dir } => list(&shim_dir(dir)?),
        ShimsCmd::Remove { dir, tools } => remove(&shim_dir(dir)?, &select(&tools)?),
    }
}

fn shim_dir(dir: Option<PathBuf>) -> Result<PathBuf> {
    dir.or_else(paths::default_shim_dir).ok_or_else(|| {
        Error::Config("no default shim directory on this system: pass --dir DIR".into())
    })
}

fn select(names: &[String]) -> Result<Vec<Tool>> {
    if names.is_empty() {
        return Ok(Tool::shims().collect());
    }
    names
        .iter()
        .map(|n| {
            Tool::by_name(n).filter(|t| t.shim).ok_or_else(|| {
                Error::Config(format!(
                    "`{n}` is not a tool pkgward shims; known: {}",
                    Tool::shims().map(|t| t.name).collect::<Vec<_>>().join(", ")
                ))
            })
        })
        .collect()
}

fn current_exe() -> Result<PathBuf> {
    let exe =
        std::env::current_exe().map_err(|e| Error::io("cannot locate the pkgward binary", e))?;
    exe.canonicalize()
        .map_err(|e| Error::io(format!("cannot resolve {}", exe.display()), e))
}

/// The file a shim for `tool` has in `dir`.
pub fn shim_path(dir: &Path, tool: &str) -> PathBuf {
    if cfg!(windows) {
        dir.join(format!("{tool}.exe"))
    } else {
        dir.join(tool)
    }
}

/// What is at a shim's place.
#[derive(Debug, PartialEq, Eq)]
pub enum Slot {
    Missing,
    /// A shim of this pkgward binary: a link to it, or a byte-for-byte copy.
    Ours,
    /// An old install: a symlink to a pkgward binary that no longer exists,
    /// or a copy of another pkgward build (refreshed on upgrade).
    Stale,
    /// Something else: never replaced without --force.
    Foreign,
}

/// Bytes every pkgward build carries (they are this constant): how a copy
/// left by an older or newer pkgward is told from a foreign program.
pub const BINARY_MARKER: &[u8] = b"pkgward multi-call binary: shims are links or copies of it";

/// Files larger than this are not read looking for [`BINARY_MARKER`].
const MARKER_SCAN_LIMIT: u64 = 512 << 20;

pub fn slot(path: &Path, exe: &Path) -> Slot {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Slot::Missing;
    };
    if let (Some(a), Some(b)) = (FileId::of(path), FileId::of(exe)) {
        if a == b {
            return Slot::Ours;
        }
    }
    if meta.file_type().is_symlink() {
        if std::fs::metadata(path).is_err() {
            if let Ok(target) = std::fs::read_link(path) {
                if target.file_stem().is_some_and(|s| s == "pkgward") {
                    return Slot::Stale;
                }
            }
        }
        return Slot::Foreign;
    }
    if meta.is_file() && meta.len() <= MARKER_SCAN_LIMIT {
        let exe_len = std::fs::metadata(exe).map(|m| m.len()).ok();
        if exe_len == Some(meta.len()) && same_bytes(path, exe) {
            return Slot::Ours;
        }
        if std::fs::read(path)
            .is_ok_and(|bytes| memchr::memmem::find(&bytes, BINARY_MARKER).is_some())
        {
            return Slot::Stale;
        }
    }
    Slot::Foreign
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    use crate::record::hash::sha256_file;
    matches!((sha256_file(a), sha256_file(b)), (Ok(x), Ok(y)) if x == y)
}

fn link(exe: &Path, dest: &Path, copy: bool) -> std::io::Result<()> {
    if copy {
        return std::fs::copy(exe, dest).map(|_| ());
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(exe, dest)
    }
    #[cfg(not(unix))]
    {
        std::fs::hard_link(exe, dest).or_else(|_| std::fs::copy(exe, dest).map(|_| ()))
    }
}

/// Removes an old shim. A Windows executable that is running cannot be
/// deleted but can be renamed: it is moved aside (and deleted next time).
fn remove_old(dest: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(dest) {
        Ok(()) => Ok(()),
        Err(e) if cfg!(windows) => {
            let mut aside = dest.as_os_str().to_os_string();
            aside.push(format!(".old-{}", std::process::id()));
            std::fs::rename(dest, &aside).map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

/// Deletes shims moved aside by earlier upgrades (no longer running).
fn sweep_moved_aside(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.contains(".exe.old-") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn install(dir: &Path, tools: &[Tool], force: bool, copy: bool) -> Result<i32> {
    let exe = current_exe()?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    sweep_moved_aside(dir);
    let mut conflicts = Vec::new();
    let (mut created, mut kept, mut refreshed) = (0, 0, 0);
    for tool in tools {
        let dest = shim_path(dir, tool.name);
        match slot(&dest, &exe) {
            Slot::Ours => {
                kept += 1;
                continue;
            }
            Slot::Foreign if !force => {
                conflicts.push(dest);
                continue;
            }
            Slot::Missing => created += 1,
            Slot::Stale | Slot::Foreign => {
                remove_old(&dest)
                    .map_err(|e| Error::io(format!("cannot replace {}", dest.display()), e))?;
                refreshed += 1;
            }
        }
        link(&exe, &dest, copy)
            .map_err(|e| Error::io(format!("cannot create {}", dest.display()), e))?;
    }
    println!(
        "pkgward: {created} shim(s) created, {refreshed} refreshed, {kept} already in place, in {}",
        dir.display()
    );
    if !conflicts.is_empty() {
        for c in &conflicts {
            eprintln!(
                "pkgward: {} exists and is not a pkgward shim; left alone (use --force to replace it)",
                c.display()
            );
        }
    }
    print_path_hint(dir);
    Ok(if conflicts.is_empty() {
        0
    } else {
        exit::CONFIG
    })
}

/// Prints the line that puts `dir` first on PATH for the user's shell.
fn print_path_hint(dir: &Path) {
    if path_position(dir) == Some(0) {
        println!("pkgward: {} is already first on PATH", dir.display());
        return;
    }
    let d = dir.display();
    if cfg!(windows) {
        println!("pkgward: put the shims first on PATH (or run again with --modify-path):");
        println!("  PowerShell, current user:");
        println!(
            "  [Environment]::SetEnvironmentVariable('Path', '{d};' + [Environment]::GetEnvironmentVariable('Path', 'User'), 'User')"
        );
        return;
    }
    let shell = std::env::var("SHELL").unwrap_or_default();
    let shell = shell.rsplit('/').next().unwrap_or("");
    println!(
        "pkgward: put the shims first on PATH by adding this line to your shell's startup file:"
    );
    match shell {
        "fish" => println!("  fish_add_path --prepend '{d}'    # ~/.config/fish/config.fish"),
        "zsh" => println!("  export PATH=\"{d}:$PATH\"    # ~/.zshrc"),
        "bash" => println!("  export PATH=\"{d}:$PATH\"    # ~/.bashrc"),
        _ => println!("  export PATH=\"{d}:$PATH\"    # ~/.profile"),
    }
}

/// Puts `dir` first on the user's PATH. Windows: the `Path` value of
/// `HKEY_CURRENT_USER\Environment` (kept as REG_EXPAND_SZ, an existing entry
/// for `dir` moved to the front, nothing else touched), then a
/// WM_SETTINGCHANGE broadcast so new terminals see it. Elsewhere: the line to
/// add was printed above; startup files are not edited.
fn apply_path(dir: &Path) -> Result<()> {
    #[cfg(windows)]
    {
        let old = winpath::user_path().unwrap_or_default();
        let new = prepend_path_entry(&old, &dir.to_string_lossy());
        if new == old {
            println!(
                "pkgward: {} is already first on the user PATH",
                dir.display()
            );
            return Ok(());
        }
        winpath::set_user_path(&new)
            .map_err(|e| Error::io("cannot change the user PATH in the registry", e))?;
        println!(
            "pkgward: put {} first on the user PATH (new terminals see it)",
            dir.display()
        );
        Ok(())
    }
    #[cfg(not(windows))]
    {
        Err(Error::Config(format!(
            "--modify-path changes the user PATH on Windows only; here, add {} to PATH in your shell's startup file (the line is printed above)",
            dir.display()
        )))
    }
}

/// `entry` first in a `;`-separated PATH value, any other copy of it removed
/// (compared case-insensitively, trailing separators and quotes ignored).
#[cfg_attr(not(windows), allow(dead_code))]
pub fn prepend_path_entry(path: &str, entry: &str) -> String {
    let norm = |s: &str| {
        s.trim()
            .trim_matches('"')
            .trim_end_matches(['\\', '/'])
            .to_lowercase()
    };
    let want = norm(entry);
    let mut parts = vec![entry.to_string()];
    parts.extend(
        path.split(';')
            .filter(|p| !p.trim().is_empty() && norm(p) != want)
            .map(str::to_string),
    );
    parts.join(";")
}

#[cfg(windows)]
mod winpath {
    use windows_sys::Win32::Foundation::ERROR_SUCCESS;
    use windows_sys::Win32::System::Registry::{
        RegCloseKey, RegOpenKeyExW, RegQueryValueExW, RegSetValueExW, HKEY, HKEY_CURRENT_USER,
        KEY_QUERY_VALUE, KEY_SET_VALUE, REG_EXPAND_SZ,
    };

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(Some(0)).collect()
    }

    fn open(access: u32) -> std::io::Result<HKEY> {
        let mut key: HKEY = std::ptr::null_mut();
        // SAFETY: valid key name and out-pointer.
        let rc = unsafe {
            RegOpenKeyExW(
                HKEY_CURRENT_USER,
                wide("Environment").as_ptr(),
                0,
                access,
                &mut key,
            )
        };
        if rc != ERROR_SUCCESS {
            return Err(std::io::Error::from_raw_os_error(rc as i32));
        }
        Ok(key)
    }

    pub fn user_path() -> Option<String> {
        let key = open(KEY_QUERY_VALUE).ok()?;
        let name = wide("Path");
        let mut len = 0u32;
        // SAFETY: size query, then a read into a buffer of that size.
        let out = unsafe {
            let mut out = None;
            if RegQueryValueExW(
                key,
                name.as_ptr(),
                std::ptr::null(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut len,
            ) == ERROR_SUCCESS
            {
                let mut buf = vec![0u16; (len as usize).div_ceil(2)];
                if RegQueryValueExW(
                    key,
                    name.as_ptr(),
                    std::ptr::null(),
                    std::ptr::null_mut(),
                    buf.as_mut_ptr() as *mut u8,
                    &mut len,
                ) == ERROR_SUCCESS
                {
                    buf.truncate(len as usize / 2);
                    while buf.last() == Some(&0) {
                        buf.pop();
                    }
                    out = Some(String::from_utf16_lossy(&buf));
                }
            }
            RegCloseKey(key);
            out
        };
        out
    }

    pub fn set_user_path(value: &str) -> std::io::Result<()> {
        let key = open(KEY_SET_VALUE)?;
        let data = wide(value);
        // SAFETY: the data buffer and its size in bytes.
        let rc = unsafe {
            let rc = RegSetValueExW(
                key,
                wide("Path").as_ptr(),
                0,
                REG_EXPAND_SZ,
                data.as_ptr() as *const u8,
                (data.len() * 2) as u32,
            );
            RegCloseKey(key);
            rc
        };
        if rc != ERROR_SUCCESS {
            return Err(std::io::Error::from_raw_os_error(rc as i32));
        }
        broadcast_environment_change();
        Ok(())
    }

    /// Tells Explorer (and so new terminals) that the environment changed.
    /// user32 is loaded only here, not by every shim start.
    fn broadcast_environment_change() {
        use windows_sys::Win32::System::LibraryLoader::{GetProcAddress, LoadLibraryW};
        type SendMessageTimeoutW =
            unsafe extern "system" fn(isize, u32, usize, isize, u32, u32, *mut usize) -> isize;
        const HWND_BROADCAST: isize = 0xffff;
        const WM_SETTINGCHANGE: u32 = 0x001A;
        const SMTO_ABORTIFHUNG: u32 = 0x0002;
        // SAFETY: the function pointer has SendMessageTimeoutW's signature;
        // lParam points at a NUL-terminated UTF-16 string that outlives the call.
        unsafe {
            let user32 = LoadLibraryW(wide("user32.dll").as_ptr());
            if user32.is_null() {
                return;
            }
            let Some(f) = GetProcAddress(user32, c"SendMessageTimeoutW".as_ptr() as *const u8)
            else {
                return;
            };
            let f: SendMessageTimeoutW = std::mem::transmute(f);
            let env = wide("Environment");
            let mut result = 0usize;
            f(
                HWND_BROADCAST,
                WM_SETTINGCHANGE,
                0,
                env.as_ptr() as isize,
                SMTO_ABORTIFHUNG,
                5000,
                &mut result,
            );
        }
    }
}

/// The index of `dir` among PATH entries (by identity), if present.
pub fn path_position(dir: &Path) -> Option<usize> {
    let want = FileId::of(dir)?;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).position(|p| FileId::of(&p).as_ref() == Some(&want))
}

fn list(dir: &Path) -> Result<i32> {
    let exe = current_exe()?;
    let cwd =
        std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))?;
    println!("shim directory: {}", dir.display());
    for tool in Tool::shims() {
        let dest = shim_path(dir, tool.name);
        let state = match slot(&dest, &exe) {
            Slot::Missing => "missing",
            Slot::Ours => "installed",
            Slot::Stale => "stale",
            Slot::Foreign => "foreign",
        };
        let real = super::doctor::real_tool(
            tool.name,
            std::slice::from_ref(&dir.to_path_buf()),
            &exe,
            &cwd,
        )
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "-".into());
        println!(
            "{:<8} {:<10} {:<9} {}",
            tool.name,
            tool.ecosystem.key(),
            state,
            real
        );
    }
    Ok(0)
}

fn remove(dir: &Path, tools: &[Tool]) -> Result<i32> {
    let exe = current_exe()?;
    let mut removed = 0;
    for tool in tools {
        let dest = shim_path(dir, tool.name);
        match slot(&dest, &exe) {
            Slot::Ours | Slot::Stale => {
                remove_old(&dest)
                    .map_err(|e| Error::io(format!("cannot remove {}", dest.display()), e))?;
                removed += 1;
            }
            Slot::Foreign => eprintln!(
                "pkgward: {} is not a pkgward shim; left alone",
                dest.display()
            ),
            Slot::Missing => {}
        }
    }
    println!("pkgward: {removed} shim(s) removed from {}", dir.display());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_moves_an_existing_entry_to_the_front() {
        assert_eq!(prepend_path_entry("", r"C:\s"), r"C:\s");
        assert_eq!(
            prepend_path_entry(r"C:\a;c:\S\;;C:\b", r"C:\s"),
            r"C:\s;C:\a;C:\b"
        );
        assert_eq!(
            prepend_path_entry(r#"%USERPROFILE%\x;"C:\s""#, r"C:\s"),
            r"C:\s;%USERPROFILE%\x"
        );
    }

    #[test]
    fn copies_are_ours_or_stale_by_content() {
        let t = tempfile::tempdir().unwrap();
        let exe = t.path().join("pkgward");
        let mut body = b"MZ...".to_vec();
        body.extend_from_slice(BINARY_MARKER);
        std::fs::write(&exe, &body).unwrap();
        let copy = t.path().join("npm");
        std::fs::write(&copy, &body).unwrap();
        assert_eq!(slot(&copy, &exe), Slot::Ours);
        // Another pkgward build: refreshed without --force.
        body.extend_from_slice(b"v2");
        std::fs::write(&copy, &body).unwrap();
        assert_eq!(slot(&copy, &exe), Slot::Stale);
        // A same-sized foreign program is not ours.
        std::fs::write(
            &copy,
            vec![b'x'; std::fs::metadata(&exe).unwrap().len() as usize],
        )
        .unwrap();
        assert_eq!(slot(&copy, &exe), Slot::Foreign);
        assert_eq!(slot(&t.path().join("none"), &exe), Slot::Missing);
    }
}
