//! `cargo xtask bench …`: level 4 of docs/testing.md — numbers, never verdicts.
//!
//! A benchmark is a kernel shell command that measures something inside the
//! guest and ends its output with exactly one line `bench-json: {…}`. xtask
//! boots the standard machine (with the environment's overrides: `IOXIDE_SMP`,
//! `IOXIDE_MEM`, `IOXIDE_ACCEL`, …), types the command, parses that line, and
//! repeats the whole thing for every run.
//!
//! **Each run is a fresh boot.** Under TCG a boot costs ~0.2 s, and a fresh
//! machine makes the runs independent samples of the same experiment: the
//! first measurement after boot (cold translation cache, empty timer wheel,
//! nothing else queued) is what every run sees, instead of run 1 being the odd
//! one out of a single long-lived guest. DESIGN.md asks for the median of
//! several runs; [`median`] is taken across runs of each run's own percentiles.
//!
//! Results go to `<target>/ioxide/bench/<bench>.json`: every run's report as
//! the kernel printed it, the medians, and the machine it ran on. Nothing here
//! asserts a number; a bench fails only when it cannot produce one (no boot,
//! no `bench-json:` line, malformed JSON, a hang past a generous bound).
//!
//! A bench is one module and one [`Bench`] variant. Most type a kernel
//! command and parse its `bench-json:` line; `net` measures from the host
//! instead (the load comes from outside the guest), reading the kernel's
//! counters from the shell, and draws its plot with [`plot`].

pub mod blk;
pub mod irq;
pub mod net;
pub mod plot;

use crate::e2e::session::{reply_text, Session};
use crate::kernel_build::{self, workspace_root};
use crate::machine::{self, Profile};
use crate::settings::{Accel, Settings};
use crate::setup;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::fs::{self, OpenOptions};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The prefix of the one line carrying a bench's JSON report.
pub const JSON_PREFIX: &str = "bench-json: ";

/// The benchmarks.
#[derive(clap::Subcommand)]
pub enum Bench {
    /// Interrupt latency: LAPIC-timer handler entry vs. its TSC deadline, and a self-IPI round trip.
    Irq(irq::IrqArgs),
    /// eth0 (e1000) and eth1 (virtio-net) from the host: echo RTT and throughput, the receive-livelock sweep.
    Net(net::NetArgs),
    /// Block devices (vda, ram0): 4 KiB random read at qd 1 and 32, 1 MiB sequential read and write.
    Blk(blk::BlkArgs),
}

/// `cargo xtask bench <bench>`: setup, kernel build, then the bench's runs.
pub fn run(bench: &Bench) -> Result<()> {
    setup::ensure(setup::Verbosity::Quiet)?;
    let settings = Settings::from_env()?;
    preflight(&settings)?;
    let elf = kernel_build::build()?;
    println!("kernel: {}", elf.display());
    machine::remove_stale_scratch_dirs();
    match bench {
        Bench::Irq(args) => irq::run(args, &settings),
        Bench::Net(args) => net::run(args, &settings),
        Bench::Blk(args) => blk::run(args, &settings),
    }
}

/// Fails early, with a sentence, where QEMU would fail obscurely.
fn preflight(settings: &Settings) -> Result<()> {
    if settings.accel == Accel::Kvm {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .context("IOXIDE_ACCEL=kvm but /dev/kvm cannot be opened (unset IOXIDE_ACCEL to use TCG)")?;
    }
    Ok(())
}

/// Boots a fresh standard machine, waits for the prompt, types `command` and
/// returns its output (up to the next prompt) once it finishes within `timeout`.
/// The machine is killed afterwards.
pub fn run_in_fresh_machine(command: &str, timeout: Duration) -> Result<String> {
    let mut session = Session::boot(Profile::Standard, "")?;
    session.expect_prompt()?;
    session.command_within(command, timeout)
}

/// The JSON text of the single `bench-json: ` line in `output`.
pub fn json_line(output: &str) -> Result<&str> {
    let mut found = output.lines().map(|l| l.trim_end_matches('\r')).filter_map(|l| l.strip_prefix(JSON_PREFIX));
    let Some(json) = found.next() else {
        bail!("the kernel printed no `{}` line", JSON_PREFIX.trim_end());
    };
    if found.next().is_some() {
        bail!("the kernel printed more than one `{}` line", JSON_PREFIX.trim_end());
    }
    Ok(json.trim())
}

/// [`json_line`] on raw console text, with the output quoted on failure.
pub fn json_line_of_console(raw: &str) -> Result<String> {
    let text = reply_text(raw);
    json_line(&text)
        .map(str::to_string)
        .map_err(|e| anyhow::anyhow!("{e:#}\n--- output ---\n{}", crate::e2e::session::tail_lines(&text, 40)))
}

/// The median of `values` (the mean of the middle two for an even count);
/// `None` for no values.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The machine a bench ran on, recorded next to its numbers.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MachineInfo {
    pub profile: &'static str,
    pub smp: u32,
    pub mem: String,
    pub accel: &'static str,
    pub qemu: String,
}

impl MachineInfo {
    pub fn new(settings: &Settings) -> Self {
        Self {
            profile: "standard",
            smp: settings.smp,
            mem: settings.mem.as_qemu_arg().to_string(),
            accel: match settings.accel {
                Accel::Tcg => "tcg",
                Accel::Kvm => "kvm",
            },
            qemu: settings.qemu.clone(),
        }
    }
}

/// Where bench results go: `<target>/ioxide/bench`.
pub fn output_dir() -> PathBuf {
    kernel_build::scratch_root().join("bench")
}

/// Writes `value` as pretty JSON to `<output_dir>/<name>.json`; returns the path.
pub fn write_json(name: &str, value: &impl Serialize) -> Result<PathBuf> {
    let dir = output_dir();
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{name}.json"));
    let mut text = serde_json::to_string_pretty(value).context("serializing the results")?;
    text.push('\n');
    fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_time() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The source's commit, `+dirty` when the tree has changes; `None` outside git.
pub fn git_revision() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).current_dir(workspace_root()).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "HEAD"])?;
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}+dirty") } else { head })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5.0]), Some(5.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.0, 7.0]), Some(7.0));
    }

    #[test]
    fn the_json_line_is_found_once() {
        let out = "bench irq: 5000/10000\r\nbench-json: {\"bench\":\"irq\"}\r\n";
        assert_eq!(json_line(out).unwrap(), "{\"bench\":\"irq\"}");
        assert!(json_line("bench irq: done\n").unwrap_err().to_string().contains("no `bench-json:`"));
        let twice = "bench-json: {}\nbench-json: {}\n";
        assert!(json_line(twice).unwrap_err().to_string().contains("more than one"));
        // Only at the start of a line.
        assert!(json_line("echo bench-json: {}\n").is_err());
        let raw = "progress\r\nbench-json: {\"a\":1}\r\nioxide> ";
        assert_eq!(json_line_of_console(raw).unwrap(), "{\"a\":1}");
        assert!(json_line_of_console("bench: unknown command\r\nioxide> ")
            .unwrap_err()
            .to_string()
            .contains("| bench"));
    }

    #[test]
    fn machine_info_follows_settings() {
        let s = Settings::from_lookup(|k| match k {
            "IOXIDE_SMP" => Some("1".into()),
            "IOXIDE_ACCEL" => Some("kvm".into()),
            _ => None,
        })
        .unwrap();
        let info = MachineInfo::new(&s);
        assert_eq!((info.smp, info.accel, info.mem.as_str()), (1, "kvm", "512M"));
    }
}
