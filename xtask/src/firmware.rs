//! Finding firmware images among QEMU's own data files.
//!
//! The `qboot` profile boots with `-bios <qboot.rom>`. Where that file lives
//! depends on how QEMU was installed (Debian: `/usr/share/qemu`, from the
//! `qemu-system-data` package; a source build: `<prefix>/share/qemu`), so the
//! QEMU that will run is asked: `qemu-system-x86_64 -L help` prints its data
//! directories, one per line. The usual install locations are searched after
//! them, in case a wrapper script does not understand `-L help`.

use crate::setup::find_program;
use anyhow::{bail, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// qboot's image as QEMU ships it.
pub const QBOOT: &str = "qboot.rom";
/// How long `qemu -L help` may take (it prints and exits at once).
const ASK_TIMEOUT: Duration = Duration::from_secs(10);

/// The path of firmware `name` for `qemu`, or an error listing where it looked.
pub fn find(qemu: &str, name: &str) -> Result<PathBuf> {
    let dirs = search_dirs(qemu);
    if let Some(path) = find_in(&dirs, name) {
        return Ok(path);
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    bail!(
        "firmware {name} not found in QEMU's data directories ({}); install QEMU's firmware \
         (Debian: apt-get install qemu-system-data)",
        looked.join(", ")
    )
}

/// The first `dirs/<name>` that is a file, without `..` (QEMU reports
/// `/usr/bin/../share/qemu`).
pub fn find_in(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    let path = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file())?;
    Some(path.canonicalize().unwrap_or(path))
}

/// QEMU's data directories as it reports them, then the usual install places.
fn search_dirs(qemu: &str) -> Vec<PathBuf> {
    let mut dirs = ask_data_dirs(qemu).unwrap_or_default();
    if let Some(bin) = find_program(qemu).and_then(|p| p.canonicalize().ok()) {
        if let Some(prefix) = bin.parent().and_then(Path::parent) {
            dirs.push(prefix.join("share/qemu"));
        }
    }
    dirs.push(PathBuf::from("/usr/share/qemu"));
    dirs.push(PathBuf::from("/usr/local/share/qemu"));
    let mut unique = Vec::new();
    for d in dirs {
        if !unique.contains(&d) {
            unique.push(d);
        }
    }
    unique
}

/// Runs `qemu -L help` (bounded) and parses its answer.
fn ask_data_dirs(qemu: &str) -> Option<Vec<PathBuf>> {
    let mut child = Command::new(qemu)
        .args(["-L", "help"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    let reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + ASK_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    // QEMU has exited, so its stdout is closed and the reader is finishing.
    reader.join().ok().map(|text| parse_data_dirs(&text))
}

/// The directories in `-L help`'s output: one absolute path per line.
pub fn parse_data_dirs(text: &str) -> Vec<PathBuf> {
    text.lines().map(str::trim).filter(|l| l.starts_with('/')).map(PathBuf::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::ScratchDir;

    #[test]
    fn data_dirs_are_parsed() {
        let text = "/usr/bin/../share/qemu\n/usr/bin/../share/seabios\n/usr/bin/../lib/ipxe/qemu\n";
        assert_eq!(
            parse_data_dirs(text),
            [
                PathBuf::from("/usr/bin/../share/qemu"),
                PathBuf::from("/usr/bin/../share/seabios"),
                PathBuf::from("/usr/bin/../lib/ipxe/qemu")
            ]
        );
        assert!(parse_data_dirs("qemu-system-x86_64: -L: unknown option\n").is_empty());
    }

    #[test]
    fn the_first_directory_holding_the_file_wins() {
        let a = ScratchDir::temporary("unit-fw-a").unwrap();
        let b = ScratchDir::temporary("unit-fw-b").unwrap();
        std::fs::write(b.path().join(QBOOT), b"rom").unwrap();
        let dirs = [a.path().to_path_buf(), b.path().join("..").join(b.path().file_name().unwrap())];
        let canonical = |d: &ScratchDir| d.path().join(QBOOT).canonicalize().unwrap();
        assert_eq!(find_in(&dirs, QBOOT), Some(canonical(&b)));
        std::fs::write(a.path().join(QBOOT), b"rom").unwrap();
        assert_eq!(find_in(&dirs, QBOOT), Some(canonical(&a)));
        assert_eq!(find_in(&dirs, "missing.rom"), None);
    }

    #[test]
    fn a_missing_image_is_a_clear_error() {
        let err = find("/nonexistent/qemu", "no-such-firmware.rom").unwrap_err().to_string();
        assert!(err.contains("no-such-firmware.rom not found"), "{err}");
        assert!(err.contains("/usr/share/qemu"), "{err}");
    }
}
