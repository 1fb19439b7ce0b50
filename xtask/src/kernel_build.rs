//! Building the kernel ELF and knowing where things live.
//!
//! The kernel crate (`ioxide-kernel`) is not a default workspace member, so host
//! `cargo test` never builds it; xtask builds it explicitly for the bare-metal
//! target. The result is an ELF with a PVH note that QEMU boots with `-kernel`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The kernel's package name.
pub const KERNEL_PACKAGE: &str = "ioxide-kernel";
/// The bare-metal target the kernel is built for.
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

/// The workspace root (xtask lives in `<root>/xtask`).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` if set, else `<root>/target`.
pub fn target_dir() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// xtask's own scratch space under the target directory (disk images, test dirs).
pub fn scratch_root() -> PathBuf {
    target_dir().join("ioxide")
}

/// Where the release kernel ELF is produced.
pub fn elf_path() -> PathBuf {
    target_dir().join(KERNEL_TARGET).join("release").join(KERNEL_PACKAGE)
}

/// The cargo that runs us (so the same toolchain builds the kernel).
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Builds the kernel in release mode and returns the ELF's path.
pub fn build() -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.current_dir(workspace_root()).args(["build", "-p", KERNEL_PACKAGE, "--target", KERNEL_TARGET, "--release"]);
    let status = cmd.status().with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!(
            "building the kernel failed ({status}): cargo build -p {KERNEL_PACKAGE} --target {KERNEL_TARGET} --release"
        );
    }
    let elf = elf_path();
    if !elf.is_file() {
        bail!("cargo reported success but {} does not exist", elf.display());
    }
    Ok(elf)
}

/// The already-built kernel ELF, or an error telling how to build it.
pub fn existing_elf() -> Result<PathBuf> {
    let elf = elf_path();
    if !elf.is_file() {
        bail!("kernel ELF {} not found: run `cargo xtask build` first", elf.display());
    }
    Ok(elf)
}
