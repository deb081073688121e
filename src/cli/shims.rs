//! `pkgward shims install|list|remove`.

use std::path::{Path, PathBuf};

use super::ShimsCmd;
use crate::error::{exit, Error, Result};
use crate::paths;
use crate::supervise::resolve::FileId;
use crate::tools::Tool;

pub fn run(cmd: ShimsCmd) -> Result<i32> {
    match cmd {
        ShimsCmd::Install { dir, tools, force } => {
            install(&shim_dir(dir)?, &select(&tools)?, force)
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
    /// A shim of this pkgward binary.
    Ours,
    /// A symlink to a pkgward binary that no longer exists (an old install).
    Stale,
    /// Something else: never replaced without --force.
    Foreign,
}

pub fn slot(path: &Path, exe: &Path) -> Slot {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Slot::Missing;
    };
    if let (Some(a), Some(b)) = (FileId::of(path), FileId::of(exe)) {
        if a == b {
            return Slot::Ours;
        }
    }
    if meta.file_type().is_symlink() && std::fs::metadata(path).is_err() {
        if let Ok(target) = std::fs::read_link(path) {
            if target.file_stem().is_some_and(|s| s == "pkgward") {
                return Slot::Stale;
            }
        }
    }
    Slot::Foreign
}

fn link(exe: &Path, dest: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(exe, dest)
    }
    #[cfg(not(unix))]
    {
        std::fs::hard_link(exe, dest).or_else(|_| std::fs::copy(exe, dest).map(|_| ()))
    }
}

fn install(dir: &Path, tools: &[Tool], force: bool) -> Result<i32> {
    let exe = current_exe()?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let mut conflicts = Vec::new();
    let (mut created, mut kept) = (0, 0);
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
            Slot::Missing => {}
            Slot::Stale | Slot::Foreign => {
                std::fs::remove_file(&dest)
                    .map_err(|e| Error::io(format!("cannot replace {}", dest.display()), e))?;
            }
        }
        link(&exe, &dest).map_err(|e| Error::io(format!("cannot create {}", dest.display()), e))?;
        created += 1;
    }
    println!(
        "pkgward: {created} shim(s) created, {kept} already in place, in {}",
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
        println!("pkgward: put the shims first on PATH (PowerShell, current user):");
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
                std::fs::remove_file(&dest)
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
