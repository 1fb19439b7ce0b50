//! Driver for the Intel 82540EM gigabit Ethernet controller (`8086:100e`), the
//! NIC QEMU emulates as `-device e1000`.
//!
//! The 82540EM is the classic teaching NIC (xv6, JOS, OSDev): everything a
//! modern NIC does — descriptor rings in host memory, DMA by bus-master,
//! head/tail doorbells, interrupt causes and masks, interrupt throttling,
//! clear-on-read statistics — with none of the queues and offloads that hide
//! it. Register names, bits and sections of Intel's *8254x Software
//! Developer's Manual* are in [`regs`]; where QEMU differs from the manual the
//! driver follows what QEMU really does and says so.
//!
//! The driver speaks [`RegisterWindow`] over BAR0 and [`DmaAllocator`] for
//! memory, so the kernel binds it to the real (emulated) device and `cargo
//! test` binds it to a model (`tests/model/`). The kernel glues it to PCI
//! (it must turn on bus mastering: the device DMAs nothing otherwise), to an
//! interrupt line, to NAPI and to smoltcp.
//!
//! # Descriptor rings: who owns what
//!
//! Packets do not go through registers. Each direction has a *ring* of
//! 16-byte descriptors in host memory ([`regs::rxd`], [`regs::txd`]), each
//! pointing at a packet buffer, and four registers describe it: base address,
//! length, **head** and **tail**. The ring is split in two by the pointers:
//!
//! - descriptors from head up to (not including) tail belong to the
//!   **device** — it may read and write them at any moment, and the driver
//!   must not touch them;
//! - descriptors from tail up to head belong to the **driver**.
//!
//! The device advances head as it consumes descriptors; the driver advances
//! tail as it hands descriptors over. Head is the device's, and the manual
//! says reading it to find finished work is unreliable (the device may have
//! moved it before writing the descriptor back), so the driver never reads
//! it: it learns what is finished from the descriptors themselves.
//!
//! **Receive.** The driver fills every RX descriptor with the bus address of
//! an empty buffer and sets RDT to the last one. When a frame arrives the
//! device writes it into the buffer at RDH, writes the length and status back
//! into the descriptor, and advances RDH. One descriptor always stays unused:
//! `head == tail` means "no descriptor for the device", so a ring of `n`
//! entries holds at most `n - 1` received frames. When the device runs out it
//! drops the frame and counts it in MPC (a *missed packet*, [`HwStats`]).
//!
//! **Transmit.** The driver writes a frame into a buffer, fills the descriptor
//! at its tail, and advances TDT; the device sends everything from TDH to TDT
//! and writes status back into each descriptor whose command asked for it
//! (RS). Again `n - 1` frames at most may be outstanding: if tail caught up
//! with head the ring would look empty, not full.
//!
//! # DD and EOP
//!
//! The device says "done with this descriptor" by setting the **DD**
//! (descriptor done) status bit when it writes the descriptor back. DD is the
//! hand-back: the driver polls DD on the next descriptor it expects, reads the
//! rest only after seeing it (a read barrier between the two, so the length
//! is never older than the status), and clears the status before giving the
//! descriptor back so a stale DD is never mistaken for a new one. A frame
//! larger than one receive buffer spans several descriptors; **EOP** (end of
//! packet) marks its last one. The driver gives every frame one buffer:
//! with the default 2048-byte buffers every frame the hardware accepts (at
//! most 1522 bytes with RCTL.LPE off) fits, so a descriptor without EOP
//! means a frame too long for the configured buffer size. It and its
//! continuation up to EOP are dropped and counted ([`Stats::rx_too_long`]),
//! even when a poll's budget ends in the middle of it. Frames the device
//! flags with errors are dropped and counted too ([`Stats::rx_errors`]).
//!
//! # Doorbells: once per batch
//!
//! Writing RDT or TDT is a *doorbell*: it tells the device there is new work.
//! A register write is the expensive part of talking to a device — an
//! uncached bus transaction on hardware, an exit into the emulator under QEMU
//! (which runs the whole transmit inside the TDT write) — while writing a
//! descriptor is an ordinary memory store. So the driver batches:
//! [`E1000::poll_rx`] recycles every descriptor it processed and then writes
//! RDT **once**; [`E1000::transmit`] only fills descriptors and moves the
//! driver's private tail, and [`E1000::flush_tx`] writes TDT **once** for
//! everything queued since the last flush. Before each doorbell a write
//! barrier makes the descriptors visible to the device before it can see the
//! new tail. [`Stats::rx_doorbells`] and [`Stats::tx_doorbells`] count them,
//! so "packets per doorbell" is measurable.
//!
//! # Interrupts: ICR is read-to-clear, and "not mine" matters
//!
//! Each event sets a *cause* bit in ICR; the device asserts its interrupt
//! while `ICR & IMS` is non-zero (IMS: the enabled causes, set through IMS,
//! cleared through IMC). **Reading ICR returns the causes and clears them
//! all**: the read is the acknowledgement, and the line drops with it. So
//! [`E1000::handle_interrupt`] reads ICR exactly once and works from that
//! value; a second read would return (and lose) only what happened in
//! between.
//!
//! Without MSI the e1000 signals on a PCI INTx line, a level-triggered line
//! that may be shared with other devices: when it fires the kernel calls
//! every handler on it. ICR = 0 means the interrupt was someone else's; the
//! handler then returns [`IrqReturn::NotMine`] having touched nothing else
//! (no mask write, no counter but [`Stats::not_mine`]), so the dispatcher can
//! tell a shared line from a stuck one — a line nobody claims is one Linux
//! disables as "nobody cared". All ones means the device is gone (a read that
//! floated on the bus): also "not mine".
//!
//! # NAPI: mask in the handler, poll under a budget, unmask when done
//!
//! Taking one interrupt per packet melts a CPU at line rate (receive
//! livelock). So the hard interrupt handler is small (DESIGN.md, rule 5): it
//! reads ICR, **masks every cause** (IMC), counts, and reports what it saw in
//! an [`IrqEvent`]; it never allocates, sleeps, or touches a descriptor. The
//! kernel then schedules the NAPI poll, which calls [`E1000::poll_rx`] with a
//! *budget* (at most that many descriptors, so one busy NIC cannot starve
//! everything else — Asterinas #3728 is the bug of having none) and
//! [`E1000::clean_tx`]. While packets keep coming the poll uses its whole
//! budget and is simply scheduled again, with interrupts still masked: the
//! system polls under load and takes interrupts when idle. When a poll
//! finishes under budget, the ring is drained and the kernel calls
//! [`E1000::enable_interrupts`]. Nothing is lost across the switch: an event
//! that arrives while masked still sets its ICR bit, and unmasking with a
//! cause pending asserts the line at once.
//!
//! # ITR: interrupt throttling
//!
//! ITR sets a minimum interval between interrupts, in 256 ns units
//! ([`Config::itr`], [`E1000::set_itr`]); events in between are gathered into
//! the next interrupt. 0 turns throttling off; the manual suggests 651–5580
//! (6000–1500 interrupts/s). It trades latency for CPU time, the same trade
//! NAPI makes in software. QEMU (with its default `mitigation=on`) raises
//! an interrupt at once after a quiet period but then holds the next one
//! back for at least 500 units (128 µs), or ITR if larger — even with ITR 0.
//!
//! # Buffer recycling
//!
//! Every receive buffer is allocated once, in [`E1000::new`]: one coherent
//! DMA buffer per descriptor, the ring's buffer pool. When a frame has been
//! copied out and handed to the stack, the *same* buffer goes straight back
//! into the same descriptor and to the device with the next RDT write — no
//! allocation, no free, no mapping on the packet path. The copy is the
//! price: a frame is copied into the driver's scratch buffer before
//! `deliver` sees it, because the stack would otherwise hold memory the
//! device is about to overwrite. Transmit works the same way with one bounce
//! buffer per TX descriptor. [`E1000::reset_and_recover`] reprograms the
//! rings with the memory already allocated, so even recovery allocates
//! nothing.
//!
//! # Watchdog
//!
//! A transmitter can hang (on hardware; or a bug leaves descriptors the
//! device never completes). The kernel calls [`E1000::tx_stalled`] from a
//! timer; when frames have been pending with no completion for the timeout it
//! calls [`E1000::reset_and_recover`]: a full device reset and
//! re-initialisation that drops (and counts) what was in flight and keeps the
//! MAC address, filters and configuration.
//!
//! # Locking
//!
//! Every method that changes state takes `&mut self`: the kernel keeps the
//! `E1000` under a `SpinLockIrq` shared by the interrupt handler and the NAPI
//! poll.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod regs;

use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt;

use hal::barrier;
use hal::dma::{BusAddr, DmaAllocator, DmaError, DmaRegion};
use hal::{IoError, IrqReturn, RegisterWindow};
use regs::{ctrl, eerd, irq, rctl, rxd, tctl, txd};

/// How many times a polled wait (reset completion, EEPROM read) reads the
/// device before giving up (the default; see [`E1000::set_poll_limit`]).
///
/// A count, not a time: the driver needs no clock. A reset takes
/// microseconds on hardware and nothing under QEMU, an EEPROM word read tens
/// of microseconds; one MMIO read costs very roughly 0.1–1 µs, so 100 000
/// reads are a wide margin that still bounds a dead device to well under a
/// second.
pub const POLL_LIMIT: u32 = 100_000;

/// One more than the highest bus address the 82540EM can reach: its
/// descriptors and base registers carry 64-bit addresses, so any.
pub const DMA_ADDR_LIMIT: u64 = u64::MAX;

/// Fewest descriptors in a ring: RDLEN/TDLEN count in 128-byte units, eight
/// descriptors [E1000 13.4.27].
pub const MIN_RING: u16 = 8;
/// Most descriptors in a ring this driver accepts.
pub const MAX_RING: u16 = 4096;

/// Recycled receive descriptors handed back per RDT write (Linux's
/// `E1000_RX_BUFFER_WRITE`), at most a quarter of the ring so small rings
/// never run dry.
pub const RX_RETURN_BATCH: usize = 16;

const fn rx_return_batch(ring: usize) -> usize {
    let quarter = ring / 4;
    let batch = if quarter < RX_RETURN_BATCH { quarter } else { RX_RETURN_BATCH };
    if batch == 0 {
        1
    } else {
        batch
    }
}

/// The shortest frame [`E1000::transmit`] accepts: an Ethernet header. The
/// device pads short frames to the 64-byte minimum itself (TCTL.PSP).
pub const MIN_TX_FRAME: usize = 14;
/// The longest frame [`E1000::transmit`] accepts: header and 1500 bytes of
/// payload; the device appends the 4-byte FCS (IFCS).
pub const MAX_TX_FRAME: usize = 1514;

/// Driver configuration, fixed at [`E1000::new`] (promiscuity and ITR can
/// change later).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Receive descriptors: a multiple of 8 in `8..=4096`. At most
    /// `rx_ring - 1` frames wait for the driver.
    pub rx_ring: u16,
    /// Transmit descriptors: a multiple of 8 in `8..=4096`. At most
    /// `tx_ring - 1` frames are in flight.
    pub tx_ring: u16,
    /// Bytes per receive buffer: one the hardware can be told about, 256,
    /// 512, 1024, 2048, 4096, 8192 or 16384. Frames longer than this are
    /// dropped and counted.
    pub rx_buffer: usize,
    /// Minimum interval between interrupts in 256 ns units; 0 = no throttling.
    pub itr: u16,
    /// Accept every unicast and multicast frame, not only ours.
    pub promiscuous: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config { rx_ring: 256, tx_ring: 256, rx_buffer: 2048, itr: 0, promiscuous: false }
    }
}

impl Config {
    /// Checks the configuration without touching any device.
    pub fn validate(&self) -> Result<(), Error> {
        for (ring, what) in [(self.rx_ring, "rx_ring"), (self.tx_ring, "tx_ring")] {
            if !(MIN_RING..=MAX_RING).contains(&ring) || ring % 8 != 0 {
                return Err(Error::InvalidConfig(what));
            }
        }
        if rctl::buffer_size_bits(self.rx_buffer).is_none() {
            return Err(Error::InvalidConfig("rx_buffer"));
        }
        Ok(())
    }
}

/// What can go wrong setting up or resetting the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The register window refused an access.
    Io(IoError),
    /// DMA memory could not be allocated or accessed.
    Dma(DmaError),
    /// The window does not cover the registers the driver uses.
    WindowTooSmall {
        /// The window's size in bytes.
        size: usize,
    },
    /// A [`Config`] field is out of range (its name).
    InvalidConfig(&'static str),
    /// CTRL.RST did not clear within the poll limit.
    ResetTimeout,
    /// An EEPROM read did not finish within the poll limit.
    EepromTimeout {
        /// The EEPROM word being read.
        word: u32,
    },
    /// Neither RAL0/RAH0 nor the EEPROM holds a usable (non-zero, unicast)
    /// Ethernet address; the one found.
    InvalidMac([u8; 6]),
    /// The allocator returned a region the device cannot use: shorter than
    /// asked, misaligned, or not below [`DMA_ADDR_LIMIT`].
    BadDmaRegion {
        /// The region's bus address.
        addr: BusAddr,
        /// The length the driver asked for.
        len: usize,
    },
    /// [`E1000::add_multicast`] was given a unicast address.
    NotMulticast([u8; 6]),
}

impl From<IoError> for Error {
    fn from(e: IoError) -> Self {
        Error::Io(e)
    }
}

impl From<DmaError> for Error {
    fn from(e: DmaError) -> Self {
        Error::Dma(e)
    }
}

struct Mac([u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Io(e) => write!(f, "e1000: {e}"),
            Error::Dma(e) => write!(f, "e1000: {e}"),
            Error::WindowTooSmall { size } => {
                write!(f, "e1000: register window of {size:#x} bytes, need {:#x}", regs::MIN_WINDOW_SIZE)
            }
            Error::InvalidConfig(field) => write!(f, "e1000: invalid configuration: {field}"),
            Error::ResetTimeout => write!(f, "e1000: device reset did not complete"),
            Error::EepromTimeout { word } => write!(f, "e1000: EEPROM read of word {word} did not complete"),
            Error::InvalidMac(mac) => write!(f, "e1000: no valid Ethernet address (found {})", Mac(mac)),
            Error::BadDmaRegion { addr, len } => write!(f, "e1000: unusable DMA region of {len} bytes at {addr}"),
            Error::NotMulticast(mac) => write!(f, "e1000: {} is not a multicast address", Mac(mac)),
        }
    }
}

impl core::error::Error for Error {}

/// Why [`E1000::transmit`] refused a frame. Nothing was queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxError {
    /// Every descriptor is in flight: reclaim with [`E1000::clean_tx`] (and
    /// make sure [`E1000::flush_tx`] was called) and retry.
    RingFull,
    /// Longer than [`MAX_TX_FRAME`].
    TooLong,
    /// Shorter than [`MIN_TX_FRAME`].
    TooShort,
}

impl fmt::Display for TxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxError::RingFull => write!(f, "e1000: transmit ring full"),
            TxError::TooLong => write!(f, "e1000: frame longer than {MAX_TX_FRAME} bytes"),
            TxError::TooShort => write!(f, "e1000: frame shorter than {MIN_TX_FRAME} bytes"),
        }
    }
}

impl core::error::Error for TxError {}

/// What one [`E1000::handle_interrupt`] call found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the dispatcher needs `ret`, and NAPI needs scheduling"]
pub struct IrqEvent {
    /// [`IrqReturn::Handled`] if ICR was non-zero (then every cause is now
    /// masked until [`E1000::enable_interrupts`]).
    pub ret: IrqReturn,
    /// The ICR value read (0 if not ours).
    pub icr: u32,
    /// Frames were received (RXT0), or free receive descriptors ran low
    /// (RXDMT0): poll RX.
    pub rx: bool,
    /// Transmit descriptors were written back (TXDW): clean TX.
    pub tx_done: bool,
    /// The link went up or down (LSC): check [`E1000::link_up`].
    pub link_change: bool,
    /// A frame was dropped for lack of a receive descriptor (RXO).
    pub rx_overrun: bool,
}

impl IrqEvent {
    const NOT_MINE: IrqEvent =
        IrqEvent { ret: IrqReturn::NotMine, icr: 0, rx: false, tx_done: false, link_change: false, rx_overrun: false };

    /// Whether the NAPI poll should run: there is receive or transmit work.
    pub fn needs_poll(&self) -> bool {
        self.rx || self.tx_done || self.rx_overrun
    }
}

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
struct ProbedCounter {
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

/// The receive ring: descriptors, the buffer pool, and the driver's position.
struct RxRing<R> {
    descs: R,
    bufs: Vec<R>,
    /// The next descriptor the driver expects the device to complete.
    next: u16,
    /// Descriptors recycled but not yet handed back with an RDT write.
    unreturned: usize,
    /// Inside a frame that spans descriptors: drop up to its EOP.
    discarding: bool,
    /// Where a frame is copied out of its DMA buffer before `deliver`.
    scratch: Vec<u8>,
}

/// The transmit ring: descriptors, bounce buffers, and three positions.
struct TxRing<R> {
    descs: R,
    bufs: Vec<R>,
    /// The next descriptor [`E1000::transmit`] fills (the software tail).
    tail: u16,
    /// The tail the device was last told (TDT).
    hw_tail: u16,
    /// The oldest descriptor not yet reclaimed.
    clean: u16,
}

/// The watchdog's memory of when transmit progress was last seen.
#[derive(Clone, Copy, Debug, Default)]
struct TxWatch {
    armed: bool,
    reclaimed: u64,
    since: u64,
}

/// An 82540EM behind its BAR0 window, with its rings and buffers.
pub struct E1000<W, A: DmaAllocator> {
    regs: W,
    dma: A,
    config: Config,
    mac: [u8; 6],
    /// RCTL as last written (the device's copy is not read back).
    rctl: u32,
    /// The multicast table as programmed, restored after a reset.
    mta: [u32; regs::MTA_WORDS],
    /// Whether interrupts should be unmasked (restored after a reset).
    irqs_enabled: bool,
    rx: RxRing<A::Region>,
    tx: TxRing<A::Region>,
    stats: Stats,
    hw: HwStats,
    crc_errors: ProbedCounter,
    missed: ProbedCounter,
    watch: Cell<TxWatch>,
    poll_limit: u32,
}

impl<W, A: DmaAllocator> fmt::Debug for E1000<W, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("E1000")
            .field("mac", &format_args!("{}", Mac(self.mac)))
            .field("config", &self.config)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Allocates `len` bytes of coherent DMA memory and checks the device can
/// use it: long enough, `align`-aligned, reachable.
fn alloc_region<A: DmaAllocator>(dma: &A, len: usize, align: u64) -> Result<A::Region, Error> {
    let region = dma.alloc_coherent(len, DMA_ADDR_LIMIT)?;
    let addr = region.bus_addr();
    if region.len() < len || addr.as_u64() % align != 0 || !addr.fits_below(len, DMA_ADDR_LIMIT) {
        return Err(Error::BadDmaRegion { addr, len });
    }
    Ok(region)
}

/// Whether `mac` can be this station's address: not zero, not multicast
/// (which also rules out the all-ones of an absent EEPROM).
fn valid_station_mac(mac: [u8; 6]) -> bool {
    mac != [0; 6] && mac[0] & 1 == 0
}

/// Splits a 64-bit bus address into the low and high register halves.
fn split(addr: BusAddr) -> (u32, u32) {
    (addr.as_u64() as u32, (addr.as_u64() >> 32) as u32)
}

/// Global reset (CTRL.RST, [E1000 13.4.1]): stop the DMA engines, mask interrupts, set
/// CTRL.RST, wait (bounded) for it to self-clear, mask again and discard
/// causes raised before the reset.
fn global_reset(regs: &impl RegisterWindow, poll_limit: u32) -> Result<(), Error> {
    regs.write_u32(regs::IMC, irq::ALL)?;
    regs.write_u32(regs::RCTL, 0)?;
    regs.write_u32(regs::TCTL, 0)?;
    let ctrl_value = regs.read_u32(regs::CTRL)?;
    regs.write_u32(regs::CTRL, ctrl_value | ctrl::RST)?;
    let mut done = false;
    for _ in 0..poll_limit {
        if regs.read_u32(regs::CTRL)? & ctrl::RST == 0 {
            done = true;
            break;
        }
        core::hint::spin_loop();
    }
    if !done {
        return Err(Error::ResetTimeout);
    }
    regs.write_u32(regs::IMC, irq::ALL)?;
    let _stale = regs.read_u32(regs::ICR)?;
    Ok(())
}

/// Reads one EEPROM word through EERD [E1000 13.4.4], bounded.
fn read_eeprom(regs: &impl RegisterWindow, word: u32, poll_limit: u32) -> Result<u16, Error> {
    regs.write_u32(regs::EERD, eerd::START | word << eerd::ADDR_SHIFT)?;
    for _ in 0..poll_limit {
        let value = regs.read_u32(regs::EERD)?;
        if value & eerd::DONE != 0 {
            return Ok((value >> eerd::DATA_SHIFT) as u16);
        }
        core::hint::spin_loop();
    }
    Err(Error::EepromTimeout { word })
}

/// The station address: RAL0/RAH0 if valid (the device loads them from the
/// EEPROM at reset), otherwise EEPROM words 0..2 read directly.
fn read_mac(regs: &impl RegisterWindow, poll_limit: u32) -> Result<[u8; 6], Error> {
    let low = regs.read_u32(regs::ral(0))?.to_le_bytes();
    let high = regs.read_u32(regs::rah(0))?;
    if high & regs::rah::AV != 0 {
        let h = high.to_le_bytes();
        let mac = [low[0], low[1], low[2], low[3], h[0], h[1]];
        if valid_station_mac(mac) {
            return Ok(mac);
        }
    }
    let mut mac = [0; 6];
    for (i, word) in eerd::MAC_WORDS.into_iter().enumerate() {
        let [lo, hi] = read_eeprom(regs, word, poll_limit)?.to_le_bytes();
        mac[2 * i] = lo;
        mac[2 * i + 1] = hi;
    }
    if valid_station_mac(mac) {
        Ok(mac)
    } else {
        Err(Error::InvalidMac(mac))
    }
}

impl<W: RegisterWindow, A: DmaAllocator> E1000<W, A> {
    /// Resets the device behind `bar0`, reads its Ethernet address, allocates
    /// and programs both rings and their buffers from `dma`, and enables the
    /// receiver and transmitter with interrupts masked (unmask with
    /// [`enable_interrupts`](Self::enable_interrupts) once a handler is
    /// installed).
    ///
    /// The configuration is checked before the device is touched; all DMA
    /// memory the driver will ever use is allocated here.
    pub fn new(bar0: W, dma: A, config: Config) -> Result<Self, Error> {
        config.validate()?;
        let size = bar0.size();
        if size < regs::MIN_WINDOW_SIZE {
            return Err(Error::WindowTooSmall { size });
        }
        global_reset(&bar0, POLL_LIMIT)?;
        let mac = read_mac(&bar0, POLL_LIMIT)?;

        let rx_n = usize::from(config.rx_ring);
        let tx_n = usize::from(config.tx_ring);
        // Rings: 16-byte aligned base [E1000 13.4.25, 13.4.36]; the buffers
        // need no alignment.
        let rx_descs = alloc_region(&dma, rx_n * rxd::SIZE, 16)?;
        let rx_bufs = (0..rx_n).map(|_| alloc_region(&dma, config.rx_buffer, 1)).collect::<Result<Vec<_>, _>>()?;
        let tx_descs = alloc_region(&dma, tx_n * txd::SIZE, 16)?;
        let tx_bufs = (0..tx_n).map(|_| alloc_region(&dma, MAX_TX_FRAME, 1)).collect::<Result<Vec<_>, _>>()?;

        let mut e1000 = E1000 {
            regs: bar0,
            dma,
            config,
            mac,
            rctl: 0,
            mta: [0; regs::MTA_WORDS],
            irqs_enabled: false,
            rx: RxRing {
                descs: rx_descs,
                bufs: rx_bufs,
                next: 0,
                unreturned: 0,
                discarding: false,
                scratch: alloc::vec![0; config.rx_buffer],
            },
            tx: TxRing { descs: tx_descs, bufs: tx_bufs, tail: 0, hw_tail: 0, clean: 0 },
            stats: Stats { resets: 1, ..Stats::default() },
            hw: HwStats::default(),
            crc_errors: ProbedCounter::default(),
            missed: ProbedCounter::default(),
            watch: Cell::new(TxWatch::default()),
            poll_limit: POLL_LIMIT,
        };
        e1000.rctl = e1000.rctl_value();
        e1000.program()?;
        Ok(e1000)
    }

    /// The station's Ethernet address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Whether the link is up (STATUS.LU). A status of all ones is a read
    /// that floated (the device is gone): down.
    pub fn link_up(&self) -> bool {
        let status = self.read(regs::STATUS);
        status != u32::MAX && status & regs::status::LU != 0
    }

    /// The configuration in force (with the current promiscuity and ITR).
    pub fn config(&self) -> Config {
        self.config
    }

    /// The register window (e.g. for its access counters).
    pub fn window(&self) -> &W {
        &self.regs
    }

    /// The DMA allocator the rings came from (e.g. for its counters).
    pub fn allocator(&self) -> &A {
        &self.dma
    }

    /// Changes how many reads a polled wait makes before timing out
    /// (default [`POLL_LIMIT`]); at least 1. Applies to
    /// [`reset_and_recover`](Self::reset_and_recover).
    pub fn set_poll_limit(&mut self, polls: u32) {
        self.poll_limit = polls.max(1);
    }

    /// Accepts every frame (UPE and MPE) or only ours, broadcasts and
    /// subscribed multicasts. Writes RCTL only if that changes it: QEMU
    /// holds back received frames for a second of virtual time after every
    /// RCTL write.
    pub fn set_promiscuous(&mut self, on: bool) {
        self.config.promiscuous = on;
        let value = self.rctl_value();
        if value != self.rctl {
            self.rctl = value;
            self.write(regs::RCTL, value);
        }
    }

    /// Accepts frames sent to multicast group `mac`: sets its bit in the
    /// multicast table [E1000 13.5.1]. The table is a hash, so groups that
    /// share the bit are accepted too (the stack filters exactly); there is
    /// no removal, as other groups may need the bit.
    pub fn add_multicast(&mut self, mac: [u8; 6]) -> Result<(), Error> {
        if mac[0] & 1 == 0 {
            return Err(Error::NotMulticast(mac));
        }
        let (word, bit) = regs::mta_position(mac);
        self.mta[word] |= 1 << bit;
        self.write(regs::mta(word), self.mta[word]);
        Ok(())
    }

    /// Sets the minimum interval between interrupts, in 256 ns units (0 =
    /// no throttling).
    pub fn set_itr(&mut self, interval: u16) {
        self.config.itr = interval;
        self.write(regs::ITR, interval.into());
    }

    /// Unmasks the interrupt causes the driver handles (IMS = RXT0 | RXO |
    /// RXDMT0 | LSC | TXDW). If one is already pending the device interrupts
    /// at once.
    pub fn enable_interrupts(&mut self) {
        self.irqs_enabled = true;
        self.write(regs::IMS, irq::ENABLED);
    }

    /// Masks every interrupt cause (IMC = all ones).
    pub fn disable_interrupts(&mut self) {
        self.irqs_enabled = false;
        self.write(regs::IMC, irq::ALL);
    }

    /// The hard interrupt handler: reads ICR once (which acknowledges every
    /// cause); if nothing was pending returns "not mine" having touched
    /// nothing else; otherwise masks all causes for the NAPI poll, counts,
    /// and reports the causes seen. Never waits, allocates or sleeps.
    pub fn handle_interrupt(&mut self) -> IrqEvent {
        // `new` checked that the window covers the registers, so the access
        // cannot be refused; if a window did refuse it, "not mine" is the
        // answer that does no harm.
        let icr = self.regs.read_u32(regs::ICR).unwrap_or(0);
        if icr == 0 || icr == u32::MAX {
            self.stats.not_mine += 1;
            return IrqEvent::NOT_MINE;
        }
        self.irqs_enabled = false;
        self.write(regs::IMC, irq::ALL);
        let event = IrqEvent {
            ret: IrqReturn::Handled,
            icr,
            rx: icr & (irq::RXT0 | irq::RXDMT0) != 0,
            tx_done: icr & irq::TXDW != 0,
            link_change: icr & irq::LSC != 0,
            rx_overrun: icr & irq::RXO != 0,
        };
        self.stats.interrupts += 1;
        self.stats.link_changes += u64::from(event.link_change);
        self.stats.rx_overruns += u64::from(event.rx_overrun);
        event
    }

    /// Processes up to `budget` completed receive descriptors in ring order:
    /// good frames are copied out and passed to `deliver`, bad ones dropped
    /// and counted; every buffer goes straight back to its descriptor. Then
    /// one RDT write returns them all to the device (none if nothing was
    /// done). Returns the number of descriptors processed: less than
    /// `budget` means the ring is drained.
    pub fn poll_rx(&mut self, budget: usize, mut deliver: impl FnMut(&[u8])) -> usize {
        self.stats.polls += 1;
        let n = usize::from(self.config.rx_ring);
        let mut done = 0;
        while done < budget {
            let i = usize::from(self.rx.next);
            let at = i * rxd::SIZE;
            // Status and errors in one access, so they belong together.
            let Ok(word) = self.rx.descs.read_u32(at + rxd::STATUS) else { break };
            let (status, errors) = (word as u8, (word >> 8) as u8);
            if status & rxd::STA_DD == 0 {
                break;
            }
            // The length and the data were written before DD: read them
            // only after it.
            barrier::dma_rmb();
            let len = self.rx.descs.read_u16(at + rxd::LENGTH).map_or(0, usize::from);
            self.take_frame(i, status, errors, len, &mut deliver);
            self.recycle_rx(i);
            self.rx.next = ((i + 1) % n) as u16;
            done += 1;
        }
        self.rx.unreturned += done;
        // Hand descriptors back in batches of RX_RETURN_BATCH (Linux's
        // E1000_RX_BUFFER_WRITE): the device still owns all but a few, and
        // the doorbell costs one register write per batch, not per poll.
        if done > 0 && self.rx.unreturned >= rx_return_batch(n) {
            self.rx.unreturned = 0;
            // Every descriptor up to the one before `next` is free again;
            // that one stays back so that head == tail never means "full".
            let tail = (usize::from(self.rx.next) + n - 1) % n;
            // The recycled descriptors must be in memory before the device
            // learns it may use them.
            barrier::wmb();
            self.write(regs::RDT, tail as u32);
            self.stats.rx_doorbells += 1;
        }
        done
    }

    /// Queues `frame` for transmission: copies it into the next slot's
    /// bounce buffer and fills the descriptor (EOP | IFCS | RS). The device
    /// is not told until [`flush_tx`](Self::flush_tx).
    pub fn transmit(&mut self, frame: &[u8]) -> Result<(), TxError> {
        if frame.len() < MIN_TX_FRAME {
            return Err(TxError::TooShort);
        }
        if frame.len() > MAX_TX_FRAME {
            return Err(TxError::TooLong);
        }
        if self.tx_free_slots() == 0 {
            self.stats.tx_ring_full += 1;
            return Err(TxError::RingFull);
        }
        let i = usize::from(self.tx.tail);
        let buf = &self.tx.bufs[i];
        // The only possible failure is a frame that does not fit the buffer.
        buf.write(0, frame).map_err(|_| TxError::TooLong)?;
        let cmd = txd::CMD_EOP | txd::CMD_IFCS | txd::CMD_RS;
        let lower = frame.len() as u64 | u64::from(cmd) << txd::CMD_SHIFT;
        let at = i * txd::SIZE;
        let filled = self
            .tx
            .descs
            .write_u64(at + txd::ADDR, buf.bus_addr().as_u64())
            .and_then(|()| self.tx.descs.write_u64(at + txd::LOWER, lower));
        if filled.is_err() {
            // Cannot happen: the ring region was checked in `new`.
            return Err(TxError::RingFull);
        }
        self.tx.tail = ((i + 1) % usize::from(self.config.tx_ring)) as u16;
        Ok(())
    }

    /// Rings the transmit doorbell: one TDT write for every frame queued
    /// since the last flush (none if nothing was queued).
    pub fn flush_tx(&mut self) {
        if self.tx.tail == self.tx.hw_tail {
            return;
        }
        // Descriptors and frames in memory before the device sees the tail.
        barrier::wmb();
        self.write(regs::TDT, self.tx.tail.into());
        self.tx.hw_tail = self.tx.tail;
        self.stats.tx_doorbells += 1;
    }

    /// How many more frames [`transmit`](Self::transmit) accepts now.
    pub fn tx_free_slots(&self) -> usize {
        let n = usize::from(self.config.tx_ring);
        n - 1 - self.tx_in_use()
    }

    /// Reclaims transmitted descriptors (DD set) in ring order, counting
    /// their frames and bytes; returns how many.
    pub fn clean_tx(&mut self) -> usize {
        let n = usize::from(self.config.tx_ring);
        let mut reclaimed = 0;
        while self.tx.clean != self.tx.hw_tail {
            let i = usize::from(self.tx.clean);
            if !self.tx_done(i) {
                break;
            }
            barrier::dma_rmb();
            let at = i * txd::SIZE;
            let len = self.tx.descs.read_u16(at + txd::LENGTH).unwrap_or(0);
            // Clear length, command and status: a stale DD must never be
            // taken for a new one.
            let _ = self.tx.descs.write_u64(at + txd::LOWER, 0);
            self.stats.tx_packets += 1;
            self.stats.tx_bytes += u64::from(len);
            self.tx.clean = ((i + 1) % n) as u16;
            reclaimed += 1;
        }
        reclaimed
    }

    /// The transmit watchdog: whether frames handed to the device have made
    /// no progress for `timeout_ticks` (in whatever clock `now_ticks` counts).
    ///
    /// Progress is a reclaimed descriptor or a done one waiting to be
    /// reclaimed. The timeout starts at the first call that sees frames
    /// pending without progress, so call it periodically (from a timer).
    pub fn tx_stalled(&self, now_ticks: u64, timeout_ticks: u64) -> bool {
        let pending = self.tx.clean != self.tx.hw_tail;
        if !pending || self.tx_done(self.tx.clean.into()) {
            self.watch.set(TxWatch::default());
            return false;
        }
        let watch = self.watch.get();
        if !watch.armed || watch.reclaimed != self.stats.tx_packets {
            self.watch.set(TxWatch { armed: true, reclaimed: self.stats.tx_packets, since: now_ticks });
            return false;
        }
        now_ticks.wrapping_sub(watch.since) >= timeout_ticks
    }

    /// Resets the device and re-initialises it with the memory already
    /// allocated: same rings, same buffers, same MAC, filters and
    /// configuration; interrupts unmasked again if they were. Frames queued
    /// for transmission are dropped and counted in [`Stats::tx_timeouts`];
    /// received frames not yet polled in [`Stats::rx_dropped`]. The hardware
    /// counters are harvested first, so the reset loses none of them.
    pub fn reset_and_recover(&mut self) -> Result<(), Error> {
        let _ = self.hw_stats();
        let was_enabled = self.irqs_enabled;
        self.stats.tx_timeouts += self.tx_in_use() as u64;
        self.stats.rx_dropped += self.rx_unpolled() as u64;
        self.stats.resets += 1;
        self.irqs_enabled = false;
        global_reset(&self.regs, self.poll_limit)?;
        self.program()?;
        self.watch.set(TxWatch::default());
        if was_enabled {
            self.enable_interrupts();
        }
        Ok(())
    }

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

    /// RCTL for the current configuration [E1000 14.4]: receiver on,
    /// broadcasts accepted, CRC stripped, buffer size, promiscuity.
    fn rctl_value(&self) -> u32 {
        let size = rctl::buffer_size_bits(self.config.rx_buffer).unwrap_or(0);
        let promiscuous = if self.config.promiscuous { rctl::UPE | rctl::MPE } else { 0 };
        rctl::EN | rctl::BAM | rctl::SECRC | rctl::RDMTS_HALF | rctl::MO_47_36 | size | promiscuous
    }

    /// Programs a freshly reset device from the driver's state; allocates
    /// nothing. [E1000 14.3] general configuration, [E1000 14.4] receive and
    /// [E1000 14.5] transmit initialisation. Every register that matters is
    /// written, because QEMU's CTRL.RST resets none of them.
    fn program(&mut self) -> Result<(), Error> {
        let regs = &self.regs;
        // Link: let the MAC bring the link up at the speed the PHY found;
        // no link or PHY reset, no inverted loss-of-signal, no flow control,
        // no VLANs.
        let clear = ctrl::LRST | ctrl::PHY_RST | ctrl::ILOS | ctrl::VME | ctrl::RFCE | ctrl::TFCE;
        let ctrl_value = regs.read_u32(regs::CTRL)?;
        regs.write_u32(regs::CTRL, (ctrl_value | ctrl::SLU | ctrl::ASDE) & !clear)?;

        // Address filters: ours in entry 0, the rest invalid; the multicast
        // table as the driver knows it (all zero after `new`).
        let m = self.mac;
        regs.write_u32(regs::ral(0), u32::from_le_bytes([m[0], m[1], m[2], m[3]]))?;
        regs.write_u32(regs::rah(0), u32::from_le_bytes([m[4], m[5], 0, 0]) | regs::rah::AV)?;
        for n in 1..regs::RA_ENTRIES {
            regs.write_u32(regs::rah(n), 0)?;
        }
        for (word, value) in self.mta.iter().enumerate() {
            regs.write_u32(regs::mta(word), *value)?;
        }

        // Receive ring: every descriptor owns its pool buffer, status clear;
        // all but one handed to the device.
        let rx_n = self.rx.bufs.len();
        for i in 0..rx_n {
            self.recycle_rx_checked(i)?;
        }
        let (low, high) = split(self.rx.descs.bus_addr());
        regs.write_u32(regs::RDBAL, low)?;
        regs.write_u32(regs::RDBAH, high)?;
        regs.write_u32(regs::RDLEN, (rx_n * rxd::SIZE) as u32)?;
        regs.write_u32(regs::RDH, 0)?;
        regs.write_u32(regs::RDTR, 0)?;
        regs.write_u32(regs::RADV, 0)?;
        barrier::wmb();
        regs.write_u32(regs::RDT, (rx_n - 1) as u32)?;
        self.rx.next = 0;
        self.rx.unreturned = 0;
        self.rx.discarding = false;

        // Transmit ring: empty.
        let tx_n = self.tx.bufs.len();
        for i in 0..tx_n {
            self.tx.descs.write_u64(i * txd::SIZE + txd::ADDR, 0)?;
            self.tx.descs.write_u64(i * txd::SIZE + txd::LOWER, 0)?;
        }
        let (low, high) = split(self.tx.descs.bus_addr());
        regs.write_u32(regs::TDBAL, low)?;
        regs.write_u32(regs::TDBAH, high)?;
        regs.write_u32(regs::TDLEN, (tx_n * txd::SIZE) as u32)?;
        regs.write_u32(regs::TDH, 0)?;
        regs.write_u32(regs::TDT, 0)?;
        self.tx.tail = 0;
        self.tx.hw_tail = 0;
        self.tx.clean = 0;
        regs.write_u32(regs::TIPG, regs::tipg::DEFAULT)?;
        let tctl_value =
            tctl::EN | tctl::PSP | tctl::CT_DEFAULT << tctl::CT_SHIFT | tctl::COLD_FULL_DUPLEX << tctl::COLD_SHIFT;
        regs.write_u32(regs::TCTL, tctl_value)?;

        regs.write_u32(regs::ITR, self.config.itr.into())?;
        // The receiver last, once everything it uses is in place.
        regs.write_u32(regs::RCTL, self.rctl)?;
        Ok(())
    }

    /// Handles the frame in descriptor `i` (DD seen): deliver or drop.
    fn take_frame(&mut self, i: usize, status: u8, errors: u8, len: usize, deliver: &mut impl FnMut(&[u8])) {
        if status & rxd::STA_EOP == 0 {
            // A frame longer than one buffer: drop it and everything up to
            // its EOP. Counted once, at its first descriptor.
            if !self.rx.discarding {
                self.rx.discarding = true;
                self.stats.rx_too_long += 1;
                self.stats.rx_dropped += 1;
            }
            return;
        }
        if self.rx.discarding {
            // The last piece of a frame that was too long.
            self.rx.discarding = false;
            return;
        }
        if errors & rxd::ERR_FRAME != 0 || len == 0 || len > self.rx.scratch.len() {
            // Flagged bad by the device, or a length no buffer can hold.
            self.stats.rx_errors += 1;
            self.stats.rx_dropped += 1;
            return;
        }
        let frame = &mut self.rx.scratch[..len];
        if self.rx.bufs[i].read(0, frame).is_err() {
            self.stats.rx_dropped += 1;
            return;
        }
        deliver(frame);
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += len as u64;
    }

    /// Gives descriptor `i` its pool buffer back with a clear status.
    fn recycle_rx(&self, i: usize) {
        // Cannot fail: the ring region was checked in `new`.
        let _ = self.recycle_rx_checked(i);
    }

    fn recycle_rx_checked(&self, i: usize) -> Result<(), Error> {
        let at = i * rxd::SIZE;
        // The address too, in case the device wrote over it.
        self.rx.descs.write_u64(at + rxd::ADDR, self.rx.bufs[i].bus_addr().as_u64())?;
        self.rx.descs.write_u64(at + rxd::LENGTH, 0)?;
        Ok(())
    }

    /// Received frames waiting in the ring (descriptors with DD and EOP).
    fn rx_unpolled(&self) -> usize {
        (0..self.rx.bufs.len())
            .filter(|i| {
                let status = self.rx.descs.read_u8(i * rxd::SIZE + rxd::STATUS).unwrap_or(0);
                status & (rxd::STA_DD | rxd::STA_EOP) == rxd::STA_DD | rxd::STA_EOP
            })
            .count()
    }

    /// Transmit descriptors queued and not yet reclaimed.
    fn tx_in_use(&self) -> usize {
        let n = usize::from(self.config.tx_ring);
        (usize::from(self.tx.tail) + n - usize::from(self.tx.clean)) % n
    }

    /// Whether the device has written transmit descriptor `i` back.
    fn tx_done(&self, i: usize) -> bool {
        let status = self.tx.descs.read_u8(i * txd::SIZE + txd::STATUS).unwrap_or(0);
        status & txd::STA_DD != 0
    }

    /// A register read on a path that cannot report errors. `new` checked
    /// that the window covers every register and all offsets are aligned,
    /// so the window never refuses.
    fn read(&self, reg: usize) -> u32 {
        self.regs.read_u32(reg).unwrap_or(0)
    }

    /// A register write on a path that cannot report errors (see [`Self::read`]).
    fn write(&self, reg: usize, value: u32) {
        let _ = self.regs.write_u32(reg, value);
    }
}
