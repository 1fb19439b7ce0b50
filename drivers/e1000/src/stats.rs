//! Counters: the driver's own, and the clear-on-read hardware statistics
//! registers accumulated into totals.

#[cfg(doc)]
use crate::TxError;
use hal::dma::DmaAllocator;
use hal::RegisterWindow;

use crate::regs;
use crate::E1000;

/// The driver's counters (DESIGN.md, rule 6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames delivered to the stack.
    pub rx_packets: u64,
    /// Bytes delivered to the stack.
    pub rx_bytes: u64,
    /// Frames the device flagged with errors (dropped).
    pub rx_errors: u64,
    /// Frames dropped by the driver for any reason: errors, too long, or
    /// still unprocessed in the ring when it was reset.
    pub rx_dropped: u64,
    /// Frames longer than one receive buffer (spanning descriptors; dropped).
    pub rx_too_long: u64,
    /// Frames whose descriptors were reclaimed after transmission.
    pub tx_packets: u64,
    /// Bytes of those frames (without the FCS the device appends).
    pub tx_bytes: u64,
    /// [`E1000::transmit`] calls refused with [`TxError::RingFull`].
    pub tx_ring_full: u64,
    /// Frames queued for transmission and dropped by
    /// [`E1000::reset_and_recover`] before the device completed them.
    pub tx_timeouts: u64,
    /// Device resets (the one in [`E1000::new`] included).
    pub resets: u64,
    /// Interrupts that were ours (ICR non-zero).
    pub interrupts: u64,
    /// Handler calls that found ICR zero (or all ones): a shared line's
    /// other device, or a spurious interrupt.
    pub not_mine: u64,
    /// Interrupts that reported a link change.
    pub link_changes: u64,
    /// Interrupts that reported a receiver overrun.
    pub rx_overruns: u64,
    /// [`E1000::poll_rx`] calls.
    pub polls: u64,
    /// RDT writes made by [`E1000::poll_rx`].
    pub rx_doorbells: u64,
    /// TDT writes made by [`E1000::flush_tx`].
    pub tx_doorbells: u64,
    /// Register reads through the window, all of them.
    pub register_reads: u64,
    /// Register writes through the window, all of them.
    pub register_writes: u64,
}

/// Hardware statistics registers [E1000 13.7], accumulated by the driver
/// since [`E1000::new`]: the device clears them when read (or saturates
/// them), so each read adds to these totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HwStats {
    /// CRCERRS: frames received with a bad CRC.
    pub crc_errors: u64,
    /// MPC: frames missed because no receive descriptor was free.
    pub missed_packets: u64,
    /// GPRC: good frames received.
    pub good_packets_received: u64,
    /// GPTC: good frames transmitted.
    pub good_packets_transmitted: u64,
    /// GORC: octets of good frames received, FCS included.
    pub good_octets_received: u64,
    /// GOTC: octets of good frames transmitted, FCS included.
    pub good_octets_transmitted: u64,
}

/// How a statistics register behaves when read. The manual makes every one
/// clear on read; QEMU clears GPRC, GPTC and the octet counters but not
/// CRCERRS..MPC, which it only ever increments (saturating). The driver
/// finds out per register instead of trusting either source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum ReadBehaviour {
    /// Not known yet.
    #[default]
    Unknown,
    /// Each read returns the events since the previous read.
    Clears,
    /// Each read returns the running total.
    Sticky,
}

/// The accumulation state of one statistics register whose read behaviour
/// is unknown.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ProbedCounter {
    behaviour: ReadBehaviour,
    /// The last value read (meaningful for a sticky register).
    last: u32,
}

impl ProbedCounter {
    /// The events since the previous call, reading the register through
    /// `read` (once when the behaviour is known, twice until then).
    ///
    /// Until known, two back-to-back reads tell: a sticky register never
    /// goes down (it saturates), so a second read below the first — or a
    /// first read below the last running total — proves clear-on-read; a
    /// non-zero value read twice is a running total (a clearing register
    /// would need as many new events within two register reads). A zero
    /// register proves nothing and is read again next time.
    fn events(&mut self, mut read: impl FnMut() -> u32) -> u64 {
        match self.behaviour {
            ReadBehaviour::Clears => read().into(),
            ReadBehaviour::Sticky => {
                let value = read();
                // Below the last total only if the device was really reset.
                let events = value.checked_sub(self.last).unwrap_or(value);
                self.last = value;
                events.into()
            }
            ReadBehaviour::Unknown => {
                let first = read();
                let second = read();
                if first < self.last || second < first {
                    self.behaviour = ReadBehaviour::Clears;
                    return u64::from(first) + u64::from(second);
                }
                if first != 0 && second == first {
                    self.behaviour = ReadBehaviour::Sticky;
                }
                // Undecided (events arrived between the reads) or sticky:
                // treat it as a running total, QEMU's behaviour.
                let events = second - self.last;
                self.last = second;
                events.into()
            }
        }
    }
}

impl<W: RegisterWindow, A: DmaAllocator> E1000<W, A> {
    /// The driver's counters, with the window's register access counts.
    pub fn stats(&self) -> Stats {
        let io = self.regs.stats();
        Stats { register_reads: io.reads, register_writes: io.writes, ..self.stats }
    }

    /// Reads the hardware statistics registers (which clears them) and
    /// returns the totals accumulated since [`new`](Self::new).
    pub fn hw_stats(&mut self) -> HwStats {
        let regs = &self.regs;
        let read = |reg| regs.read_u32(reg).unwrap_or(0);
        self.hw.crc_errors += self.crc_errors.events(|| read(regs::CRCERRS));
        self.hw.missed_packets += self.missed.events(|| read(regs::MPC));
        self.hw.good_packets_received += u64::from(read(regs::GPRC));
        self.hw.good_packets_transmitted += u64::from(read(regs::GPTC));
        // Low half first: reading the high half clears both.
        for (low, high, total) in [
            (regs::GORCL, regs::GORCH, &mut self.hw.good_octets_received),
            (regs::GOTCL, regs::GOTCH, &mut self.hw.good_octets_transmitted),
        ] {
            let low = u64::from(read(low));
            *total += u64::from(read(high)) << 32 | low;
        }
        self.hw
    }
}
