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

mod error;
mod interrupt;
pub mod regs;
mod rx;
mod setup;
mod stats;
mod tx;

pub use error::{Error, TxError};
pub use interrupt::IrqEvent;
pub use rx::RX_RETURN_BATCH;
pub use stats::{HwStats, Stats};
pub use tx::{MAX_TX_FRAME, MIN_TX_FRAME};

use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt;

use hal::dma::{BusAddr, DmaAllocator, DmaRegion};
#[cfg(doc)]
use hal::IrqReturn;
use hal::RegisterWindow;

use error::Mac;
use regs::{rctl, rxd, txd};
use rx::RxRing;
use setup::{global_reset, read_mac};
use stats::ProbedCounter;
use tx::{TxRing, TxWatch};

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

/// An 82540EM behind its BAR0 window, with its rings and buffers.
pub struct E1000<W: RegisterWindow, A: DmaAllocator> {
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

impl<W: RegisterWindow, A: DmaAllocator> fmt::Debug for E1000<W, A> {
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

/// Splits a 64-bit bus address into the low and high register halves.
fn split(addr: BusAddr) -> (u32, u32) {
    (addr.as_u64() as u32, (addr.as_u64() >> 32) as u32)
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

/// Stops the device before its rings and buffers are freed: a global reset
/// halts both DMA engines, so nothing is written into memory that is no
/// longer the driver's (the kernel drops the driver when a device is unbound).
impl<W: RegisterWindow, A: DmaAllocator> Drop for E1000<W, A> {
    fn drop(&mut self) {
        let _ = setup::global_reset(&self.regs, self.poll_limit);
    }
}
