//! The kernel's network commands as the host reads them (docs/testing.md,
//! "Network"), and the counter accounting of `net_counters_add_up`.
//!
//! - `ifconfig`: a section starting with a line `eth0: …` (indented lines
//!   after it belong to it) holding `name=<n>` pairs, among them
//!   `rx_packets=` and `tx_packets=`; other words are ignored.
//! - `netstat`: a line `udp discard: datagrams=<n> bytes=<n>`.
//! - `ethtool -S eth0`: lines `name: <n>`; others (a heading) are ignored.
//! - `net mode eth0 <mode>`: a line `eth0 mode <mode>`.

use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeMap;

/// Named counters.
pub type Counters = BTreeMap<String, u64>;

/// The `name=<n>` pairs of `iface`'s section of `ifconfig`.
pub fn parse_ifconfig(out: &str, iface: &str) -> Result<Counters> {
    let head = format!("{iface}:");
    let mut lines = out.lines().skip_while(|l| !l.trim_start().starts_with(&head));
    let first = lines.next().with_context(|| format!("no line starting with `{head}`"))?;
    let mut section = vec![first.trim_start()[head.len()..].to_string()];
    section.extend(lines.take_while(|l| l.starts_with([' ', '\t']) && !l.trim().is_empty()).map(str::to_string));
    let mut counters = Counters::new();
    for word in section.iter().flat_map(|l| l.split_whitespace()) {
        if let Some((name, value)) = word.split_once('=') {
            if let Ok(n) = value.trim_end_matches(',').parse::<u64>() {
                counters.insert(name.to_string(), n);
            }
        }
    }
    for required in ["rx_packets", "tx_packets"] {
        ensure!(counters.contains_key(required), "the `{head}` section of ifconfig has no `{required}=<n>`");
    }
    Ok(counters)
}

/// The sum of an interface's error and drop counters: every `ifconfig` counter
/// whose name contains `err` or `drop`.
pub fn errors_and_drops(ifconfig: &Counters) -> u64 {
    ifconfig.iter().filter(|(k, _)| k.contains("err") || k.contains("drop")).map(|(_, v)| *v).sum()
}

/// `netstat`'s discard line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Discard {
    pub datagrams: u64,
    pub bytes: u64,
}

/// Finds `udp discard: datagrams=<n> bytes=<n>`.
pub fn parse_netstat_discard(out: &str) -> Result<Discard> {
    let line = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("udp discard:"))
        .context("no `udp discard: datagrams=<n> bytes=<n>` line in netstat")?;
    let field = |name: &str| -> Result<u64> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
            .with_context(|| format!("`udp discard:` line has no `{name}=<n>`: {line:?}"))?
            .parse()
            .with_context(|| format!("`{name}=` is not a number in {line:?}"))
    };
    Ok(Discard { datagrams: field("datagrams")?, bytes: field("bytes")? })
}

/// The `name: <n>` lines of `ethtool -S`.
pub fn parse_ethtool(out: &str) -> Result<Counters> {
    let mut counters = Counters::new();
    for line in out.lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let name = name.trim();
        if let (false, Ok(n)) = (name.is_empty() || name.contains(' '), value.trim().parse::<u64>()) {
            ensure!(counters.insert(name.to_string(), n).is_none(), "ethtool lists `{name}` twice");
        }
    }
    ensure!(!counters.is_empty(), "no `name: <n>` lines in the ethtool output");
    Ok(counters)
}

/// `name` from a counter set, or an error naming what is missing.
pub fn counter(counters: &Counters, name: &str, source: &str) -> Result<u64> {
    counters.get(name).copied().with_context(|| {
        let have: Vec<&str> = counters.keys().map(String::as_str).collect();
        format!("`{source}` has no `{name}` counter (it has: {})", have.join(", "))
    })
}

/// Checks the reply to `net mode <iface> <mode>`.
pub fn check_net_mode(out: &str, iface: &str, mode: &str) -> Result<()> {
    let want = format!("{iface} mode {mode}");
    ensure!(out.lines().any(|l| l.trim() == want), "expected a line `{want}`");
    Ok(())
}

/// The kernel-side counters around a flood.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub ethtool: Counters,
    pub discard: Discard,
}

impl Snapshot {
    fn get(&self, name: &str) -> Result<u64> {
        counter(&self.ethtool, name, "ethtool -S eth0")
    }

    /// `name`'s increase from `before` (an error if it went down).
    pub fn delta(&self, before: &Snapshot, name: &str) -> Result<u64> {
        let (b, a) = (before.get(name)?, self.get(name)?);
        ensure!(a >= b, "`{name}` went down from {b} to {a}");
        Ok(a - b)
    }

    /// Like [`Self::delta`], 0 when the counter does not exist.
    pub fn delta_or_zero(&self, before: &Snapshot, name: &str) -> Result<u64> {
        if self.ethtool.contains_key(name) || before.ethtool.contains_key(name) {
            self.delta(before, name)
        } else {
            Ok(0)
        }
    }
}

/// Where the frames of a flood went (docs/testing.md, "The counters add up").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Accounting {
    /// Flood datagrams the host sent.
    pub flood_sent: u64,
    /// Other frames the host sent meanwhile (ARP replies to the guest).
    pub other_sent: u64,
    /// Δ`rx_packets`: frames the driver took off its RX ring.
    pub rx_packets: u64,
    /// Δ`datagrams` of `udp discard`.
    pub delivered: u64,
    /// Δ`rx_dropped`: frames counted in `rx_packets` that the kernel dropped.
    pub rx_dropped: u64,
    /// Δ`rx_missed` (0 if absent): frames the NIC had no descriptor for; not in `rx_packets`.
    pub rx_missed: u64,
    /// `rx_packets − delivered − rx_dropped`: frames handled by something else.
    pub answered_otherwise: u64,
    /// Sent but never seen by the guest's NIC (host socket or QEMU queue).
    pub lost_before_nic: u64,
}

/// Checks that every frame the driver received during a flood of
/// `flood_sent` datagrams of `size` bytes to the discard port is accounted for:
///
/// ```text
/// Δrx_packets = Δdatagrams + Δrx_dropped + answered_otherwise,
/// 0 ≤ answered_otherwise ≤ other_sent,
/// Δdatagrams ≤ flood_sent,  Δbytes = Δdatagrams × size,
/// Δrx_packets + Δrx_missed ≤ flood_sent + other_sent.
/// ```
pub fn account(
    before: &Snapshot,
    after: &Snapshot,
    flood_sent: u64,
    size: usize,
    other_sent: u64,
) -> Result<Accounting> {
    let rx_packets = after.delta(before, "rx_packets")?;
    let rx_dropped = after.delta(before, "rx_dropped")?;
    let rx_missed = after.delta_or_zero(before, "rx_missed")?;
    ensure!(
        after.discard.datagrams >= before.discard.datagrams && after.discard.bytes >= before.discard.bytes,
        "the discard counters went down: {:?} then {:?}",
        before.discard,
        after.discard
    );
    let delivered = after.discard.datagrams - before.discard.datagrams;
    let bytes = after.discard.bytes - before.discard.bytes;
    let sent = flood_sent + other_sent;
    let mut a =
        Accounting { flood_sent, other_sent, rx_packets, delivered, rx_dropped, rx_missed, ..Default::default() };
    let summary = format!(
        "host sent {flood_sent} flood datagrams + {other_sent} other frames; Δrx_packets {rx_packets}, \
         Δdiscard datagrams {delivered} (bytes {bytes}), Δrx_dropped {rx_dropped}, Δrx_missed {rx_missed}"
    );
    if delivered == 0 {
        bail!("no flood datagram reached the discard service ({summary})");
    }
    if delivered > flood_sent {
        bail!("the discard service counted more datagrams than were sent ({summary})");
    }
    if bytes != delivered * size as u64 {
        bail!("discard bytes {bytes} != datagrams {delivered} × {size} bytes ({summary})");
    }
    if rx_packets + rx_missed > sent {
        bail!("the NIC counted more frames than the host sent ({summary})");
    }
    let handled = delivered + rx_dropped;
    if handled > rx_packets {
        bail!(
            "delivered + dropped = {handled} exceeds the {rx_packets} frames the driver received: \
             a frame counted twice ({summary})"
        );
    }
    a.answered_otherwise = rx_packets - handled;
    if a.answered_otherwise > other_sent {
        bail!(
            "{} frame(s) the driver received are neither delivered nor counted as dropped \
             (at most {other_sent} non-flood frames were sent) ({summary})",
            a.answered_otherwise
        );
    }
    a.lost_before_nic = sent - rx_packets - rx_missed;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IFCONFIG: &str = "lo: inet=127.0.0.1/8 rx_packets=0 tx_packets=0\n\
        eth0: e1000 mac=52:54:00:12:34:56 inet=192.0.2.2/24 mtu=1500 rx_packets=120 tx_packets=80 \
        rx_bytes=9000 tx_bytes=7000\n    rx_errors=3 rx_dropped=4 tx_errors=0 rx_crc_errors=1 collisions=0\n\
        eth1: virtio rx_packets=5 tx_packets=5 rx_dropped=100\n";

    #[test]
    fn ifconfig_sections() {
        let c = parse_ifconfig(IFCONFIG, "eth0").unwrap();
        assert_eq!((c["rx_packets"], c["tx_packets"], c["mtu"], c["rx_dropped"]), (120, 80, 1500, 4));
        assert!(!c.contains_key("inet"));
        // eth1's counters are not eth0's.
        assert_eq!(errors_and_drops(&c), 3 + 4 + 1);
        assert_eq!(parse_ifconfig(IFCONFIG, "eth1").unwrap()["rx_dropped"], 100);
        assert!(parse_ifconfig(IFCONFIG, "eth2").unwrap_err().to_string().contains("eth2:"));
        let e = parse_ifconfig("eth0: up rx_packets=1\n", "eth0").unwrap_err().to_string();
        assert!(e.contains("tx_packets"), "{e}");
        // One line, Linux-like commas tolerated.
        let one = parse_ifconfig("  eth0: rx_packets=7, tx_packets=9\n", "eth0").unwrap();
        assert_eq!((one["rx_packets"], one["tx_packets"]), (7, 9));
    }

    #[test]
    fn netstat_discard_line() {
        let out = "tcp: listening 7\nudp echo: datagrams=5 bytes=10\nudp discard: datagrams=1000 bytes=64000\n";
        assert_eq!(parse_netstat_discard(out).unwrap(), Discard { datagrams: 1000, bytes: 64000 });
        assert!(parse_netstat_discard("udp echo: datagrams=5 bytes=10").is_err());
        assert!(parse_netstat_discard("udp discard: datagrams=x bytes=1").unwrap_err().to_string().contains("number"));
        assert!(parse_netstat_discard("udp discard: datagrams=1").unwrap_err().to_string().contains("bytes"));
    }

    #[test]
    fn ethtool_lines() {
        let out = "NIC statistics:\n     rx_packets: 10\n     tx_packets: 4\n     interrupts: 3\n     mode: napi\n";
        let c = parse_ethtool(out).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(counter(&c, "interrupts", "ethtool").unwrap(), 3);
        let e = counter(&c, "polls", "ethtool -S eth0").unwrap_err().to_string();
        assert!(e.contains("no `polls`") && e.contains("rx_packets"), "{e}");
        assert!(parse_ethtool("NIC statistics:\n").is_err());
        assert!(parse_ethtool("a: 1\na: 2\n").unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn net_mode_reply() {
        assert!(check_net_mode("eth0 mode napi\n", "eth0", "napi").is_ok());
        assert!(check_net_mode("eth0 mode irq\n", "eth0", "napi").is_err());
        assert!(check_net_mode("net: usage: net mode <iface> irq|napi|poll\n", "eth0", "irq").is_err());
    }

    fn snap(rx: u64, dropped: u64, missed: Option<u64>, datagrams: u64, size: u64) -> Snapshot {
        let mut ethtool = Counters::new();
        ethtool.insert("rx_packets".into(), rx);
        ethtool.insert("rx_dropped".into(), dropped);
        if let Some(m) = missed {
            ethtool.insert("rx_missed".into(), m);
        }
        Snapshot { ethtool, discard: Discard { datagrams, bytes: datagrams * size } }
    }

    #[test]
    fn accounting_balances() {
        let before = snap(100, 2, Some(0), 50, 64);
        // 1000 sent + 2 ARP replies; 950 received: 900 delivered, 48 dropped, 2 ARP.
        let after = snap(1050, 50, Some(10), 950, 64);
        let a = account(&before, &after, 1000, 64, 2).unwrap();
        assert_eq!((a.rx_packets, a.delivered, a.rx_dropped, a.rx_missed), (950, 900, 48, 10));
        assert_eq!((a.answered_otherwise, a.lost_before_nic), (2, 42));
        // Without rx_missed on either side it counts as 0.
        let a = account(&snap(0, 0, None, 0, 64), &snap(10, 0, None, 10, 64), 10, 64, 0).unwrap();
        assert_eq!((a.rx_missed, a.answered_otherwise, a.lost_before_nic), (0, 0, 0));
    }

    #[test]
    fn accounting_finds_the_holes() {
        let err = |after: Snapshot, sent: u64, other: u64| {
            account(&snap(0, 0, Some(0), 0, 64), &after, sent, 64, other).unwrap_err().to_string()
        };
        // 10 frames received, 5 delivered, 0 dropped: 5 vanished.
        assert!(err(snap(10, 0, Some(0), 5, 64), 10, 0).contains("neither delivered nor counted"));
        // Delivered + dropped more than received.
        assert!(err(snap(10, 6, Some(0), 5, 64), 10, 0).contains("counted twice"));
        // More received than sent.
        assert!(err(snap(11, 0, Some(0), 10, 64), 10, 0).contains("more frames than the host sent"));
        assert!(err(snap(10, 0, Some(1), 10, 64), 10, 0).contains("more frames than the host sent"));
        assert!(err(snap(10, 0, Some(0), 0, 64), 10, 0).contains("no flood datagram"));
        let mut wrong_bytes = snap(10, 0, Some(0), 10, 64);
        wrong_bytes.discard.bytes += 1;
        assert!(err(wrong_bytes, 10, 0).contains("bytes"));
        let backwards = account(&snap(10, 0, None, 0, 64), &snap(5, 0, None, 1, 64), 1, 64, 0);
        assert!(backwards.unwrap_err().to_string().contains("went down"));
        let missing = Snapshot { ethtool: Counters::new(), discard: Discard::default() };
        assert!(account(&missing, &missing, 1, 64, 0).unwrap_err().to_string().contains("rx_packets"));
    }
}
