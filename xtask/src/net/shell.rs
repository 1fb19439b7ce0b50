//! The kernel's network commands as the host reads them (docs/testing.md,
//! "Network"), and the counter accounting of `net_counters_add_up`.
//!
//! Every parser takes the interface it is about (`eth0`, `eth1`): the
//! kernel prints one block per interface.
//!
//! - `ifconfig`: a section starting with a line `<iface>: …` (indented lines
//!   after it belong to it) holding `name=<n>` pairs, among them
//!   `rx_packets=` and `tx_packets=`; other words are ignored.
//! - `netstat`: per interface, a line `udp discard: datagrams=<n> bytes=<n>`
//!   (see [`parse_netstat_discard`] for which one is the interface's).
//! - `ethtool -S <iface>`: lines `name: <n>`; others (a heading) are ignored.
//!   Which names appear depends on the NIC: the counters every NIC has are
//!   read with [`counter`] / [`Snapshot::delta`], the ones only some have
//!   (the e1000's `rx_missed`) with [`Snapshot::delta_opt`] or
//!   [`Snapshot::delta_or_zero`].
//! - `net mode <iface> <mode>`: a line `<iface> mode <mode>`.

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

/// Finds `iface`'s `udp discard: datagrams=<n> bytes=<n>` line. The kernel
/// prints, per interface, its socket lines prefixed `<iface>: ` and then its
/// unprefixed counter lines, so `iface`'s discard line is, in this order:
///
/// 1. a line `<iface>: udp discard: …` (the prefix on the counter line itself);
/// 2. the first `udp discard:` line after the first line prefixed `<iface>: `,
///    up to the next line prefixed by another interface (its block);
/// 3. when no line names an interface at all, the only `udp discard:` line.
pub fn parse_netstat_discard(out: &str, iface: &str) -> Result<Discard> {
    const LABEL: &str = "udp discard:";
    let prefix = format!("{iface}:");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    let prefixed = lines.iter().find_map(|l| l.strip_prefix(&prefix)?.trim_start().strip_prefix(LABEL));
    let in_block = || {
        let start = lines.iter().position(|l| l.starts_with(&prefix))?;
        lines[start + 1..]
            .iter()
            .take_while(|l| l.starts_with(&prefix) || interface_prefix(l).is_none())
            .find_map(|l| l.strip_prefix(LABEL))
    };
    let only = || {
        if lines.iter().any(|l| interface_prefix(l).is_some()) {
            return None;
        }
        let mut all = lines.iter().filter_map(|l| l.strip_prefix(LABEL));
        let first = all.next()?;
        all.next().is_none().then_some(first)
    };
    let line = prefixed.or_else(in_block).or_else(only).with_context(|| {
        format!(
            "no `udp discard: datagrams=<n> bytes=<n>` line for {iface} in netstat (none after its `{prefix}` lines)"
        )
    })?;
    let field = |name: &str| -> Result<u64> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
            .with_context(|| format!("`udp discard:` line has no `{name}=<n>`: {line:?}"))?
            .parse()
            .with_context(|| format!("`{name}=` is not a number in {line:?}"))
    };
    Ok(Discard { datagrams: field("datagrams")?, bytes: field("bytes")? })
}

/// The interface name a netstat line starts with (`eth1: udp …` → `eth1`):
/// a word of letters then digits before the first `:`. Counter lines
/// (`udp discard: …`, `stack: …`) have none.
fn interface_prefix(line: &str) -> Option<&str> {
    let (word, _) = line.split_once(':')?;
    let digits = word.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let ok = !digits.is_empty() && digits.len() < word.len() && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(word)
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
        counter(&self.ethtool, name, "ethtool -S")
    }

    /// `name`'s increase from `before` (an error if it went down).
    pub fn delta(&self, before: &Snapshot, name: &str) -> Result<u64> {
        let (b, a) = (before.get(name)?, self.get(name)?);
        ensure!(a >= b, "`{name}` went down from {b} to {a}");
        Ok(a - b)
    }

    /// Like [`Self::delta`] for a counter only some NICs have: `None` when
    /// neither reading has it (a counter present in only one reading is an
    /// error, as for [`Self::delta`]).
    pub fn delta_opt(&self, before: &Snapshot, name: &str) -> Result<Option<u64>> {
        if self.ethtool.contains_key(name) || before.ethtool.contains_key(name) {
            self.delta(before, name).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Like [`Self::delta_opt`], 0 when the counter does not exist.
    pub fn delta_or_zero(&self, before: &Snapshot, name: &str) -> Result<u64> {
        Ok(self.delta_opt(before, name)?.unwrap_or(0))
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
    /// Δ`rx_missed` (`None`: the NIC has no such counter, as the virtio-net):
    /// frames the NIC had no descriptor for; not in `rx_packets`.
    pub rx_missed: Option<u64>,
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
    let missed = after.delta_opt(before, "rx_missed")?;
    let rx_missed = missed.unwrap_or(0);
    ensure!(
        after.discard.datagrams >= before.discard.datagrams && after.discard.bytes >= before.discard.bytes,
        "the discard counters went down: {:?} then {:?}",
        before.discard,
        after.discard
    );
    let delivered = after.discard.datagrams - before.discard.datagrams;
    let bytes = after.discard.bytes - before.discard.bytes;
    let sent = flood_sent + other_sent;
    let mut a = Accounting {
        flood_sent,
        other_sent,
        rx_packets,
        delivered,
        rx_dropped,
        rx_missed: missed,
        ..Default::default()
    };
    let summary = format!(
        "host sent {flood_sent} flood datagrams + {other_sent} other frames; Δrx_packets {rx_packets}, \
         Δdiscard datagrams {delivered} (bytes {bytes}), Δrx_dropped {rx_dropped}, Δrx_missed {}",
        missed.map_or("n/a".to_string(), |m| m.to_string())
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
        assert_eq!(parse_netstat_discard(out, "eth0").unwrap(), Discard { datagrams: 1000, bytes: 64000 });
        // No interface named anywhere: the one discard line is every interface's.
        assert_eq!(parse_netstat_discard(out, "eth1").unwrap().datagrams, 1000);
        assert!(parse_netstat_discard("udp echo: datagrams=5 bytes=10", "eth0").is_err());
        let e = parse_netstat_discard("udp discard: datagrams=x bytes=1", "eth0").unwrap_err().to_string();
        assert!(e.contains("number"), "{e}");
        let e = parse_netstat_discard("udp discard: datagrams=1", "eth0").unwrap_err().to_string();
        assert!(e.contains("bytes"), "{e}");
    }

    /// The kernel's netstat with two stacks: each block starts with its
    /// socket lines prefixed by the interface.
    const NETSTAT_TWO: &str = "eth0: tcp  192.0.2.2:7  state Listen  remote -\n\
        eth0: udp  192.0.2.2:7  echo\neth0: udp  192.0.2.2:9  discard\n\
        udp discard: datagrams=10 bytes=640\nudp echo: datagrams=3\ntcp echo: bytes=0 connections_closed=0\n\
        stack: frames_in=20 malformed_dropped=0 socket_full_dropped=0\n\
        eth1: tcp  192.0.2.3:7  state Listen  remote -\neth1: udp  192.0.2.3:7  echo\n\
        eth1: udp  192.0.2.3:9  discard\nudp discard: datagrams=7 bytes=448\nudp echo: datagrams=0\n";

    #[test]
    fn netstat_discard_line_per_interface() {
        assert_eq!(parse_netstat_discard(NETSTAT_TWO, "eth0").unwrap(), Discard { datagrams: 10, bytes: 640 });
        assert_eq!(parse_netstat_discard(NETSTAT_TWO, "eth1").unwrap(), Discard { datagrams: 7, bytes: 448 });
        // Two discard lines and no block for eth2: which one is unknowable.
        let e = parse_netstat_discard(NETSTAT_TWO, "eth2").unwrap_err().to_string();
        assert!(e.contains("for eth2"), "{e}");
        // eth1's block without a discard line does not borrow eth0's, nor
        // does eth0's block run into eth1's.
        let no_eth1 = NETSTAT_TWO.replace("udp discard: datagrams=7 bytes=448\n", "");
        assert!(parse_netstat_discard(&no_eth1, "eth1").is_err());
        assert_eq!(parse_netstat_discard(&no_eth1, "eth0").unwrap().datagrams, 10);
        let swapped = "eth0: udp 192.0.2.2:9 discard\neth1: udp 192.0.2.3:9 discard\n\
                       udp discard: datagrams=1 bytes=64\nudp discard: datagrams=2 bytes=128\n";
        assert!(parse_netstat_discard(swapped, "eth0").is_err());
        // A prefixed counter line wins.
        let prefixed = "udp discard: datagrams=1 bytes=64\neth1: udp discard: datagrams=5 bytes=320\n\
                        eth0: udp discard: datagrams=4 bytes=256\n";
        assert_eq!(parse_netstat_discard(prefixed, "eth1").unwrap(), Discard { datagrams: 5, bytes: 320 });
        assert_eq!(parse_netstat_discard(prefixed, "eth0").unwrap().datagrams, 4);
        assert_eq!(interface_prefix("eth1: udp"), Some("eth1"));
        assert_eq!(interface_prefix("eth10:"), Some("eth10"));
        for line in ["udp discard: x", "stack: frames_in=1", "tcp echo: bytes=0", "eth: x", "1: x", "no colon"] {
            assert_eq!(interface_prefix(line), None, "{line}");
        }
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

    /// `ethtool -S eth1` of the virtio-net: no e1000-only counters, yet the
    /// accounting and the deltas work.
    #[test]
    fn virtio_ethtool_without_e1000_counters() {
        let out = |rx: u64, dropped: u64| {
            format!(
                "NIC statistics for eth1:\n     rx_packets: {rx}\n     rx_bytes: 0\n     rx_dropped: {dropped}\n\
                 tx_packets: 1\n     tx_timeouts: 0\n     interrupts: 4\n     polls: 2\n     rx_doorbells: 3\n\
                 tx_doorbells: 1\n     notifies_suppressed: 9\n     register_writes: 4\n     napi_rounds: 2\n"
            )
        };
        let snap = |rx, dropped, datagrams| Snapshot {
            ethtool: parse_ethtool(&out(rx, dropped)).unwrap(),
            discard: Discard { datagrams, bytes: datagrams * 64 },
        };
        let (before, after) = (snap(10, 1, 5), snap(110, 3, 100));
        assert_eq!(after.delta_opt(&before, "rx_missed").unwrap(), None);
        assert_eq!(after.delta_or_zero(&before, "rx_missed").unwrap(), 0);
        assert_eq!(after.delta_opt(&before, "rx_packets").unwrap(), Some(100));
        assert!(after.delta(&before, "rx_missed").unwrap_err().to_string().contains("no `rx_missed`"));
        let a = account(&before, &after, 100, 64, 3).unwrap();
        assert_eq!(
            (a.delivered, a.rx_dropped, a.answered_otherwise, a.rx_missed, a.lost_before_nic),
            (95, 2, 3, None, 3)
        );
    }

    #[test]
    fn net_mode_reply() {
        assert!(check_net_mode("eth1 mode poll\n", "eth1", "poll").is_ok());
        assert!(check_net_mode("eth0 mode poll\n", "eth1", "poll").is_err());
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
        assert_eq!((a.rx_packets, a.delivered, a.rx_dropped, a.rx_missed), (950, 900, 48, Some(10)));
        assert_eq!((a.answered_otherwise, a.lost_before_nic), (2, 42));
        // Without rx_missed on either side it counts as 0.
        let a = account(&snap(0, 0, None, 0, 64), &snap(10, 0, None, 10, 64), 10, 64, 0).unwrap();
        assert_eq!((a.rx_missed, a.answered_otherwise, a.lost_before_nic), (None, 0, 0));
        // The virtio-net has no rx_missed: its frames lost before the NIC are
        // all of sent − Δrx_packets.
        let a = account(&snap(0, 0, None, 0, 64), &snap(90, 5, None, 85, 64), 100, 64, 0).unwrap();
        assert_eq!((a.rx_missed, a.delivered, a.rx_dropped, a.lost_before_nic), (None, 85, 5, 10));
        // A counter that appears or disappears between the readings is an error.
        let e = account(&snap(0, 0, None, 0, 64), &snap(10, 0, Some(1), 10, 64), 10, 64, 0).unwrap_err().to_string();
        assert!(e.contains("rx_missed"), "{e}");
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
