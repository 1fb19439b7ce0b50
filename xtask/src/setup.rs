//! `cargo xtask setup`: make sure the host has what building and booting need.
//!
//! Three things: QEMU (Debian package `qemu-system-x86`, version 7.2 or newer for
//! `-netdev dgram`), the Rust target `x86_64-unknown-none`, and the partitioning
//! tools the block e2e tests write disk images with (`sfdisk` from Debian's
//! `fdisk`, `sgdisk` from `gdisk`). The checks are cheap, so `run`, `test` and
//! `bench` call [`ensure`] first; when nothing is missing it prints a single
//! line. Installing is idempotent and says what it runs.

use crate::kernel_build::{workspace_root, KERNEL_TARGET};
use crate::settings::{Settings, DEFAULT_QEMU};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian package providing `qemu-system-x86_64`.
const QEMU_PACKAGE: &str = "qemu-system-x86";
/// `-netdev dgram` appeared in QEMU 7.2.
const MIN_QEMU: (u32, u32) = (7, 2);
/// Host programs the e2e tests run, and the Debian package providing each.
pub const HOST_TOOLS: &[(&str, &str)] = &[("sfdisk", "fdisk"), ("sgdisk", "gdisk")];
/// Where Debian puts administration programs, which a non-root `PATH` may lack.
const SBIN_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/local/sbin"];

/// How much [`ensure`] says when nothing needs doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// Every check on its own line (`cargo xtask setup`).
    Verbose,
    /// One summary line (before `run`, `test`, `bench`).
    Quiet,
}

/// Checks and, where needed, installs QEMU and the kernel's Rust target.
pub fn ensure(verbosity: Verbosity) -> Result<()> {
    let settings = Settings::from_env()?;
    let say = |msg: String| {
        if verbosity == Verbosity::Verbose {
            eprintln!("setup: {msg}");
        }
    };

    let qemu = ensure_qemu(&settings.qemu, &say)?;
    let version = qemu_version(&qemu)?;
    say(format!("{}: {} (QEMU {version})", settings.qemu, qemu.display()));

    ensure_target(&say)?;
    say(format!("rust target {KERNEL_TARGET}: installed"));

    ensure_host_tools(&say)?;

    let tools = HOST_TOOLS.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", ");
    match verbosity {
        Verbosity::Verbose => eprintln!("setup: ok"),
        Verbosity::Quiet => {
            eprintln!("setup: {} {version}, target {KERNEL_TARGET}, {tools}: ok", display_name(&settings.qemu))
        }
    }
    Ok(())
}

/// The program's file name, for the summary line.
fn display_name(qemu: &str) -> &str {
    Path::new(qemu).file_name().and_then(|n| n.to_str()).unwrap_or(qemu)
}

/// Finds QEMU, installing the Debian package if the default binary is missing.
fn ensure_qemu(qemu: &str, say: &dyn Fn(String)) -> Result<PathBuf> {
    if let Some(path) = find_program(qemu) {
        return Ok(path);
    }
    if qemu != DEFAULT_QEMU {
        bail!("IOXIDE_QEMU={qemu:?}: no such executable");
    }
    eprintln!("setup: {qemu} not found on PATH; installing Debian package {QEMU_PACKAGE}");
    run_privileged(&["apt-get", "update"])?;
    run_privileged(&["apt-get", "install", "-y", QEMU_PACKAGE])?;
    let path =
        find_program(qemu).with_context(|| format!("{qemu} still not on PATH after installing {QEMU_PACKAGE}"))?;
    say(format!("installed {QEMU_PACKAGE}"));
    Ok(path)
}

/// Installs the Debian packages of any missing [`HOST_TOOLS`] (one
/// `apt-get install` for all of them).
fn ensure_host_tools(say: &dyn Fn(String)) -> Result<()> {
    let missing: Vec<&(&str, &str)> = HOST_TOOLS.iter().filter(|(p, _)| find_tool(p).is_none()).collect();
    if !missing.is_empty() {
        let packages: Vec<&str> = missing.iter().map(|(_, pkg)| *pkg).collect();
        for (program, package) in &missing {
            eprintln!("setup: {program} not found; installing Debian package {package}");
        }
        run_privileged(&["apt-get", "update"])?;
        let mut install = vec!["apt-get", "install", "-y"];
        install.extend(&packages);
        run_privileged(&install)?;
        say(format!("installed {}", packages.join(", ")));
    }
    for (program, package) in HOST_TOOLS {
        let path =
            find_tool(program).with_context(|| format!("{program} still not found after installing {package}"))?;
        say(format!("{program}: {}", path.display()));
    }
    Ok(())
}

/// Finds a host tool on `PATH` or in the sbin directories (Debian installs
/// `sfdisk` and `sgdisk` there, and a non-root `PATH` may not include them).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    find_program(name).or_else(|| SBIN_DIRS.iter().map(|d| Path::new(d).join(name)).find(|p| is_executable(p)))
}

/// Runs QEMU's `--version` and checks it is new enough.
fn qemu_version(qemu: &Path) -> Result<String> {
    let out = Command::new(qemu)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", qemu.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(version) = parse_qemu_version(&text) else {
        bail!("{} --version printed no version: {:?}", qemu.display(), text.trim());
    };
    if version_tuple(version) < Some(MIN_QEMU) {
        bail!(
            "{} is QEMU {version}; ioxide needs {}.{} or newer (-netdev dgram)",
            qemu.display(),
            MIN_QEMU.0,
            MIN_QEMU.1
        );
    }
    Ok(version.to_string())
}

/// Extracts `7.2.22` from `QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7)`.
pub fn parse_qemu_version(text: &str) -> Option<&str> {
    let rest = text.split("version ").nth(1)?;
    let version = rest.split(|c: char| c.is_whitespace()).next()?;
    version_tuple(version).map(|_| version)
}

/// `(major, minor)` of a dotted version.
fn version_tuple(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Makes sure the standard library for the kernel target is installed.
fn ensure_target(say: &dyn Fn(String)) -> Result<()> {
    if find_program("rustup").is_none() {
        // Without rustup, the toolchain must already ship the target.
        if target_libdir_exists()? {
            return Ok(());
        }
        bail!("target {KERNEL_TARGET} is not installed and rustup is not available to add it");
    }
    let out =
        rustup().args(["target", "list", "--installed"]).output().context("running rustup target list --installed")?;
    if !out.status.success() {
        bail!("rustup target list --installed failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let installed = String::from_utf8_lossy(&out.stdout);
    if installed.lines().any(|l| l.trim() == KERNEL_TARGET) {
        return Ok(());
    }
    eprintln!("setup: rust target {KERNEL_TARGET} missing; running rustup target add {KERNEL_TARGET}");
    let status = rustup().args(["target", "add", KERNEL_TARGET]).status().context("running rustup target add")?;
    if !status.success() {
        bail!("rustup target add {KERNEL_TARGET} failed ({status})");
    }
    say(format!("added rust target {KERNEL_TARGET}"));
    Ok(())
}

/// rustup, run in the workspace so `rust-toolchain.toml` picks the toolchain.
fn rustup() -> Command {
    let mut cmd = Command::new("rustup");
    cmd.current_dir(workspace_root());
    cmd
}

fn target_libdir_exists() -> Result<bool> {
    let out = Command::new("rustc")
        .current_dir(workspace_root())
        .args(["--print", "target-libdir", "--target", KERNEL_TARGET])
        .output()
        .context("running rustc --print target-libdir")?;
    let dir = String::from_utf8_lossy(&out.stdout);
    Ok(out.status.success() && Path::new(dir.trim()).is_dir())
}

/// Runs a command as root: directly if we are root, through `sudo` otherwise.
fn run_privileged(args: &[&str]) -> Result<()> {
    let mut cmd = if is_root() {
        let mut c = Command::new(args[0]);
        c.args(&args[1..]);
        c
    } else if find_program("sudo").is_some() {
        let mut c = Command::new("sudo");
        c.args(args);
        c
    } else {
        bail!("`{}` needs root: run `cargo xtask setup` as root, or install sudo", args.join(" "));
    };
    cmd.env("DEBIAN_FRONTEND", "noninteractive");
    eprintln!("setup: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("could not start `{}`", args.join(" ")))?;
    if !status.success() {
        bail!("`{}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Whether we run with effective uid 0 (read from /proc, no libc needed).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Resolves a program name like a shell would: a path is taken as is, a bare name
/// is searched on `PATH`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_versions_are_parsed() {
        let debian = "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n";
        assert_eq!(parse_qemu_version(debian), Some("7.2.22"));
        assert_eq!(parse_qemu_version("QEMU emulator version 8.0.0\n"), Some("8.0.0"));
        assert_eq!(parse_qemu_version("no version here"), None);
        assert_eq!(parse_qemu_version("QEMU emulator version x.y"), None);
        assert!(version_tuple("7.1.0") < Some(MIN_QEMU));
        assert!(version_tuple("7.2.0") >= Some(MIN_QEMU));
        assert!(version_tuple("10.0.0") >= Some(MIN_QEMU));
    }

    #[test]
    fn programs_are_found_on_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("/bin/sh").is_some());
        assert!(find_program("ioxide-no-such-program").is_none());
        assert_eq!(display_name("/opt/q/qemu-system-x86_64"), "qemu-system-x86_64");
        assert!(find_tool("sh").is_some());
        assert!(find_tool("ioxide-no-such-program").is_none());
    }

    #[test]
    fn host_tools_name_their_debian_packages() {
        assert_eq!(HOST_TOOLS, &[("sfdisk", "fdisk"), ("sgdisk", "gdisk")]);
    }
}
