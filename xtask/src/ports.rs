//! Free loopback UDP ports for a machine's dgram netdevs.
//!
//! Each NIC of the standard machine is a `-netdev dgram` pair of UDP ports on
//! 127.0.0.1 (QEMU binds one, a host-side peer may bind the other), so a machine
//! needs two consecutive ports per NIC: four for the standard machine, six for
//! the `bridges` profile. `run` uses a fixed base; every test instance reserves
//! a block that is free right now by binding all of its ports, and holds the
//! sockets until just before QEMU starts.
//!
//! Blocks come from below Linux's ephemeral range (32768–60999) so the kernel
//! never hands them to some other program's outgoing socket, and the search
//! starts at a per-process pseudo-random offset so parallel `cargo xtask test`
//! runs rarely even try the same block.

use anyhow::{bail, Result};
use std::net::{Ipv4Addr, UdpSocket};
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// Where test port blocks come from.
const SEARCH: Range<u16> = 20000..32000;

/// A block of consecutive free UDP ports on 127.0.0.1, held open until dropped.
#[derive(Debug)]
pub struct PortBlock {
    base: u16,
    _sockets: Vec<UdpSocket>,
}

impl PortBlock {
    /// Reserves `count` consecutive free ports from the test range.
    pub fn reserve(count: u16) -> Result<Self> {
        Self::reserve_in(SEARCH, count)
    }

    /// Reserves `count` consecutive free ports, the base aligned to `count`, within `range`.
    /// Each call starts its search one slot further on, so two threads that release
    /// their blocks before QEMU binds them still get different ones.
    pub fn reserve_in(range: Range<u16>, count: u16) -> Result<Self> {
        let count = count.max(1);
        let slots = u32::from(range.end.saturating_sub(range.start) / count);
        if slots == 0 {
            bail!("port range {range:?} cannot hold {count} ports");
        }
        let first = next_slot();
        for i in 0..slots {
            let slot = first.wrapping_add(i) % slots;
            let base = range.start + (slot as u16) * count;
            if let Some(sockets) = bind_all(base, count) {
                return Ok(Self { base, _sockets: sockets });
            }
        }
        bail!("no {count} consecutive free UDP ports on 127.0.0.1 in {range:?}")
    }

    /// The first port of the block.
    pub fn base(&self) -> u16 {
        self.base
    }
}

/// Binds every port in `base..base+count`, or returns `None` if any is taken.
fn bind_all(base: u16, count: u16) -> Option<Vec<UdpSocket>> {
    (0..count)
        .map(|i| {
            let port = base.checked_add(i)?;
            UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).ok()
        })
        .collect()
}

/// A process-wide cursor over slots, seeded from the pid and the clock.
fn next_slot() -> u32 {
    static CURSOR: OnceLock<AtomicU32> = OnceLock::new();
    CURSOR
        .get_or_init(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            AtomicU32::new(std::process::id().wrapping_mul(2_654_435_761) ^ nanos)
        })
        .fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_four_bound_ports() {
        let block = PortBlock::reserve(4).unwrap();
        assert!(SEARCH.contains(&block.base()));
        assert_eq!(block.base() % 4, 0);
        // While held, nobody else can bind them.
        for p in block.base()..block.base() + 4 {
            assert!(UdpSocket::bind((Ipv4Addr::LOCALHOST, p)).is_err());
        }
    }

    #[test]
    fn concurrent_reservations_differ() {
        let a = PortBlock::reserve(4).unwrap();
        let b = PortBlock::reserve(4).unwrap();
        assert_ne!(a.base(), b.base());
    }

    #[test]
    fn busy_ports_are_skipped() {
        // A range of exactly two slots: occupy one port of one slot and the
        // reservation must land on the other.
        let probe = PortBlock::reserve(8).unwrap();
        let start = probe.base();
        drop(probe);
        let busy = UdpSocket::bind((Ipv4Addr::LOCALHOST, start + 2)).unwrap();
        let block = PortBlock::reserve_in(start..start + 8, 4).unwrap();
        assert_eq!(block.base(), start + 4);
        drop(busy);
    }

    #[test]
    fn a_full_range_is_an_error() {
        let held = PortBlock::reserve(4).unwrap();
        let base = held.base();
        let err = PortBlock::reserve_in(base..base + 4, 4).unwrap_err();
        assert!(err.to_string().contains("no 4 consecutive free UDP ports"));
        assert!(PortBlock::reserve_in(base..base + 2, 4).is_err());
    }
}
