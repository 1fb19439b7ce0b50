//! The environment variables xtask understands, parsed and validated in one place.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `IOXIDE_SMP` | `2` | vCPUs of the standard machine |
//! | `IOXIDE_MEM` | `512M` | guest memory, QEMU `-m` syntax (`512M`, `1G`; no suffix = MiB) |
//! | `IOXIDE_NET_PORT_BASE` | `40000` | first of the loopback UDP ports `run` uses: four, six with `--profile bridges` (tests pick free ones) |
//! | `IOXIDE_ACCEL` | `tcg` | `kvm` opts into KVM with `-cpu host,-arch-capabilities` |
//! | `IOXIDE_TEST_TIMEOUT` | `120` | seconds the in-kernel test run may take |
//! | `IOXIDE_QEMU` | `qemu-system-x86_64` | the QEMU binary (a name on `PATH` or a path) |
//!
//! A malformed value is an error naming the variable, never a silent default.

use anyhow::{bail, Context, Result};
use std::time::Duration;

/// The QEMU binary used unless `IOXIDE_QEMU` says otherwise.
pub const DEFAULT_QEMU: &str = "qemu-system-x86_64";

/// How QEMU executes guest code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Software emulation: the default everywhere (see DESIGN.md, "Use TCG").
    Tcg,
    /// Hardware virtualization; opt-in only.
    Kvm,
}

/// A guest memory size as given to QEMU's `-m`, with its value in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemSize {
    text: String,
    bytes: u64,
}

impl MemSize {
    /// Parses QEMU's `-m` syntax: a positive integer with an optional `K`, `M`, `G` or `T`
    /// suffix (case-insensitive); without a suffix QEMU means MiB.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let n: u64 = digits.parse().with_context(|| format!("memory size {text:?} does not start with a number"))?;
        let shift = match unit.to_ascii_uppercase().as_str() {
            "K" => 10,
            "" | "M" => 20,
            "G" => 30,
            "T" => 40,
            _ => bail!("memory size {text:?}: unknown unit {unit:?} (use K, M, G or T)"),
        };
        if n == 0 {
            bail!("memory size {text:?} is zero");
        }
        let bytes = n.checked_mul(1u64 << shift).with_context(|| format!("memory size {text:?} is too large"))?;
        Ok(Self { text: text.to_string(), bytes })
    }

    /// The size as QEMU is told it.
    pub fn as_qemu_arg(&self) -> &str {
        &self.text
    }

    /// The size in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Every knob read from the environment.
#[derive(Clone, Debug)]
pub struct Settings {
    pub smp: u32,
    pub mem: MemSize,
    pub net_port_base: u16,
    pub accel: Accel,
    pub test_timeout: Duration,
    pub qemu: String,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a table in tests).
    /// Unset and empty variables take their defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let smp = match get("IOXIDE_SMP") {
            None => 2,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n @ 1..=255) => n,
                _ => bail!("IOXIDE_SMP={v:?}: expected a vCPU count from 1 to 255"),
            },
        };
        let mem = match get("IOXIDE_MEM") {
            None => MemSize::parse("512M")?,
            Some(v) => MemSize::parse(&v).context("IOXIDE_MEM")?,
        };
        let net_port_base = match get("IOXIDE_NET_PORT_BASE") {
            None => 40000,
            Some(v) => match v.trim().parse::<u16>() {
                Ok(p) if (1024..=65532).contains(&p) => p,
                _ => bail!("IOXIDE_NET_PORT_BASE={v:?}: expected a port from 1024 to 65532"),
            },
        };
        let accel = match get("IOXIDE_ACCEL").map(|v| v.trim().to_ascii_lowercase()) {
            None => Accel::Tcg,
            Some(v) if v == "tcg" => Accel::Tcg,
            Some(v) if v == "kvm" => Accel::Kvm,
            Some(v) => bail!("IOXIDE_ACCEL={v:?}: expected `tcg` or `kvm`"),
        };
        let test_timeout = match get("IOXIDE_TEST_TIMEOUT") {
            None => Duration::from_secs(120),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(s) if s > 0 => Duration::from_secs(s),
                _ => bail!("IOXIDE_TEST_TIMEOUT={v:?}: expected a positive number of seconds"),
            },
        };
        let qemu = get("IOXIDE_QEMU").unwrap_or_else(|| DEFAULT_QEMU.to_string());
        Ok(Self { smp, mem, net_port_base, accel, test_timeout, qemu })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Settings> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_are_the_standard_machine() {
        let s = with(&[]).unwrap();
        assert_eq!(s.smp, 2);
        assert_eq!(s.mem.as_qemu_arg(), "512M");
        assert_eq!(s.mem.bytes(), 512 << 20);
        assert_eq!(s.net_port_base, 40000);
        assert_eq!(s.accel, Accel::Tcg);
        assert_eq!(s.test_timeout, Duration::from_secs(120));
        assert_eq!(s.qemu, DEFAULT_QEMU);
    }

    #[test]
    fn overrides_are_parsed() {
        let s = with(&[
            ("IOXIDE_SMP", "1"),
            ("IOXIDE_MEM", "1G"),
            ("IOXIDE_NET_PORT_BASE", "41000"),
            ("IOXIDE_ACCEL", "KVM"),
            ("IOXIDE_TEST_TIMEOUT", "30"),
            ("IOXIDE_QEMU", "/opt/qemu/bin/qemu-system-x86_64"),
        ])
        .unwrap();
        assert_eq!(s.smp, 1);
        assert_eq!(s.mem.bytes(), 1 << 30);
        assert_eq!(s.net_port_base, 41000);
        assert_eq!(s.accel, Accel::Kvm);
        assert_eq!(s.test_timeout, Duration::from_secs(30));
        assert_eq!(s.qemu, "/opt/qemu/bin/qemu-system-x86_64");
    }

    #[test]
    fn empty_values_mean_default() {
        let s = with(&[("IOXIDE_SMP", ""), ("IOXIDE_ACCEL", " ")]).unwrap();
        assert_eq!(s.smp, 2);
        assert_eq!(s.accel, Accel::Tcg);
    }

    #[test]
    fn bad_values_are_errors_naming_the_variable() {
        for (var, val) in [
            ("IOXIDE_SMP", "0"),
            ("IOXIDE_SMP", "two"),
            ("IOXIDE_MEM", "lots"),
            ("IOXIDE_MEM", "512Q"),
            ("IOXIDE_MEM", "0M"),
            ("IOXIDE_NET_PORT_BASE", "65535"),
            ("IOXIDE_NET_PORT_BASE", "80"),
            ("IOXIDE_ACCEL", "hvf"),
            ("IOXIDE_TEST_TIMEOUT", "-1"),
        ] {
            let err = with(&[(var, val)]).unwrap_err();
            assert!(format!("{err:#}").contains(var), "{var}={val}: {err:#}");
        }
    }

    #[test]
    fn memory_sizes_follow_qemu_syntax() {
        assert_eq!(MemSize::parse("512").unwrap().bytes(), 512 << 20);
        assert_eq!(MemSize::parse("2048k").unwrap().bytes(), 2 << 20);
        assert_eq!(MemSize::parse("1T").unwrap().bytes(), 1 << 40);
        assert!(MemSize::parse("99999999999999999999G").is_err());
        assert!(MemSize::parse("").is_err());
    }
}
