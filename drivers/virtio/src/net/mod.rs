//! virtio-net [virtio 1.2 §5.1]: a network card made of two virtqueues.
//!
//! Queue 0 (`receiveq1`) carries empty buffers to the device and frames back;
//! queue 1 (`transmitq1`) carries frames to the device and empty buffers
//! back. Every frame, both ways, is preceded by a `virtio_net_hdr` describing
//! offloads (checksum, segmentation); this driver negotiates none, so the
//! header is all zeroes on transmit and ignored on receive. With VERSION_1 the
//! header is always 12 bytes: it includes `num_buffers` even without
//! MRG_RXBUF (§5.1.6).
//!
//! Features: VERSION_1 (required), MAC (the device has an address), STATUS
//! (link state in the config), EVENT_IDX (finer notification suppression),
//! ACCESS_PLATFORM (DMA through the platform's translation, which our bus
//! addresses always are). No MRG_RXBUF, no control queue, no multiqueue, no
//! offloads.
//!
//! # Buffers: allocated once, recycled forever
//!
//! Without MRG_RXBUF (and without guest TSO) every receive buffer must hold
//! a whole frame plus header: at least 1526 bytes (§5.1.6.3.1). The driver
//! carves 2048-byte buffers out of one coherent region per direction, one per
//! queue entry. A received frame is copied out to the caller, and the same
//! buffer goes straight back into the receive queue; [`VirtioNet::poll_rx`]
//! publishes all the buffers it recycled at once and notifies the device at
//! most once per call (module `rx`). Transmit copies the frame behind a zeroed
//! header into a free slot's buffer (module `tx`); [`VirtioNet::flush_tx`]
//! publishes a batch with one doorbell (if the device wants one at all), and
//! completed slots are reclaimed lazily — in [`VirtioNet::clean_tx`] from the
//! poll, and by [`VirtioNet::transmit`] when it finds the ring full. TX
//! interrupts are therefore switched off at start-up, as Linux's virtio-net
//! does without `napi_tx`.
//!
//! # Interrupts and NAPI
//!
//! The receive queue's used-buffer notifications are the NIC's interrupt.
//! Under INTx the handler calls [`VirtioNet::handle_intx`] (reads the ISR:
//! acknowledges and de-asserts); under MSI-X it calls
//! [`VirtioNet::count_interrupt`]. Then, NAPI-style:
//! [`disable_rx_interrupts`](VirtioNet::disable_rx_interrupts), poll with a
//! budget, and when a poll comes back under budget,
//! [`enable_rx_interrupts`](VirtioNet::enable_rx_interrupts) — and if that
//! returns `true`, frames arrived during the switch: poll again
//! ([`crate::queue::notify`] explains the race).
//!
//! # Watchdog
//!
//! A device can stop completing transmissions (a wedged backend, a lost
//! doorbell). The kernel calls [`VirtioNet::tx_stalled`] from a timer; when
//! frames have been with the device for the timeout without any completing,
//! it calls [`VirtioNet::reset_and_recover`]: reset, renegotiate, and set the
//! queues up again in the memory already allocated, dropping (and counting)
//! what was in flight.

mod interrupt;
mod rx;
mod tx;
mod watchdog;

use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;

use hal::dma::DmaAllocator;
use hal::RegisterWindow;

use crate::queue::{QueueStats, SplitQueue};
use crate::regs::{features, net};
use crate::transport::{IrqCounts, Transport};
pub use crate::vectors::Vectors;
use crate::{alloc_dma, Error};
pub use tx::NetTxError;

/// Bytes per receive and transmit buffer: header + 1514-byte frame fits.
pub const BUFFER_SIZE: usize = 2048;
/// The longest frame [`VirtioNet::transmit`] accepts (Ethernet header + 1500;
/// the FCS is the device's business).
pub const MAX_FRAME: usize = 1514;
/// The shortest: an Ethernet header. Never send an empty frame: QEMU 7.2's
/// dgram netdev stops reading its socket after a zero-length datagram.
pub const MIN_FRAME: usize = 14;
/// The address used when the device offers no MAC feature: locally
/// administered (bit 1 of the first byte), unicast. The spec asks the
/// driver to pick one (§5.1.5); without a random source, this one.
pub const FALLBACK_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];

/// Features this driver understands.
const WANTED: u64 = features::VERSION_1 | features::ACCESS_PLATFORM | features::EVENT_IDX | net::F_MAC | net::F_STATUS;

/// Driver configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// Most entries per queue (rounded down to a power of two); the device's
    /// maximum wins if smaller.
    pub queue_size: u16,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig { queue_size: 256 }
    }
}

/// The driver's counters (DESIGN.md, rule 6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Frames delivered.
    pub rx_packets: u64,
    /// Bytes delivered (frames without the virtio header).
    pub rx_bytes: u64,
    /// Received buffers dropped as malformed (used length shorter than the
    /// header or longer than the buffer).
    pub rx_dropped: u64,
    /// Transmitted frames reclaimed.
    pub tx_packets: u64,
    /// Bytes of those frames.
    pub tx_bytes: u64,
    /// [`VirtioNet::transmit`] calls refused with [`NetTxError::RingFull`].
    pub tx_ring_full: u64,
    /// Frames dropped by [`VirtioNet::reset_and_recover`] before the device
    /// completed them.
    pub tx_timeouts: u64,
    /// Device resets that set the device up (the one in `new` included).
    pub resets: u64,
    /// Interrupts that were ours (ISR non-zero, or counted on MSI-X).
    pub interrupts: u64,
    /// INTx handler calls that found the ISR zero.
    pub not_mine: u64,
    /// Configuration-change interrupts.
    pub config_changes: u64,
    /// Receive-queue doorbells written.
    pub rx_notifies: u64,
    /// Transmit-queue doorbells written.
    pub tx_notifies: u64,
    /// Publishes that needed no doorbell (both queues).
    pub notifies_suppressed: u64,
    /// Used entries the device got wrong (bad id; nothing to recycle).
    pub device_errors: u64,
    /// Register reads through the window, all of them.
    pub register_reads: u64,
    /// Register writes through the window, all of them.
    pub register_writes: u64,
}

/// A virtio-net device with its two queues and their buffers.
pub struct VirtioNet<W: RegisterWindow, A: DmaAllocator> {
    transport: Transport<W>,
    dma: A,
    features: u64,
    mac: [u8; 6],
    rx: SplitQueue<A::Region>,
    tx: SplitQueue<A::Region>,
    /// Receive buffers: slot `i` at `i * BUFFER_SIZE`.
    rx_bufs: A::Region,
    /// Transmit buffers, likewise.
    tx_bufs: A::Region,
    /// Receive-queue head id → buffer slot.
    rx_slot: Vec<u16>,
    /// Transmit-queue head id → buffer slot.
    tx_slot: Vec<u16>,
    /// Free transmit slots.
    tx_free: Vec<u16>,
    /// Frame length in each transmit slot (for the byte counter).
    tx_len: Vec<u16>,
    /// Where a received frame is copied before the caller sees it.
    scratch: Vec<u8>,
    /// The MSI-X entries programmed (again after a recovery).
    vectors: Vectors,
    stats: NetStats,
    /// Counted through `&self` by [`VirtioNet::count_interrupt`].
    irqs: IrqCounts,
    /// The watchdog's memory of when transmit progress was last seen.
    watch: Cell<watchdog::TxWatch>,
    /// Fault injection: `flush_tx` tells the device nothing.
    tx_stall_injected: bool,
    /// Initialisation failed: after the reset in `drop`, set FAILED.
    failed: bool,
}

/// An error before any queue was given to the device: tell it we gave up.
fn give_up<W: RegisterWindow>(t: &Transport<W>, e: Error) -> Error {
    t.fail();
    e
}

/// An error after queues were given to the device: stop it (reset) before
/// the caller frees their memory, then tell it we gave up.
pub(crate) fn abandon<W: RegisterWindow>(t: &Transport<W>, e: Error) -> Error {
    let _ = t.reset();
    t.fail();
    e
}

/// The queue size to use: the smaller of the device's maximum and `cap`,
/// rounded down to a power of two.
pub(crate) fn queue_size<W: RegisterWindow>(t: &Transport<W>, index: u16, cap: u16) -> Result<u16, Error> {
    if cap == 0 {
        return Err(Error::InvalidConfig("queue_size"));
    }
    let max = t.max_queue_size(index);
    if max == 0 {
        return Err(Error::QueueUnavailable(index));
    }
    let n = max.min(cap);
    Ok(1 << (15 - n.leading_zeros()))
}

impl<W: RegisterWindow, A: DmaAllocator> VirtioNet<W, A> {
    /// Initialises the device (§3.1.1, §5.1.5): negotiates features, reads
    /// the MAC, allocates and sets up both queues with `vectors`, fills the
    /// receive queue, sets DRIVER_OK, and notifies the device of the
    /// receive buffers. All DMA memory the driver uses is allocated here.
    pub fn new(transport: Transport<W>, dma: A, config: NetConfig, vectors: &Vectors) -> Result<Self, Error> {
        let features = transport.negotiate(WANTED, features::VERSION_1)?;
        let event_idx = features & features::EVENT_IDX != 0;
        if transport.num_queues() < 2 {
            return Err(give_up(&transport, Error::Unsupported("virtio-net without a receive and a transmit queue")));
        }
        let rx_size = queue_size(&transport, net::RECEIVEQ, config.queue_size).map_err(|e| give_up(&transport, e))?;
        let tx_size = queue_size(&transport, net::TRANSMITQ, config.queue_size).map_err(|e| give_up(&transport, e))?;
        let mac = if features & net::F_MAC != 0 {
            read_mac(&transport).map_err(|e| give_up(&transport, e))?
        } else {
            FALLBACK_MAC
        };

        let allocate = || -> Result<_, Error> {
            let rx = SplitQueue::new(&dma, net::RECEIVEQ, rx_size, event_idx)?;
            let tx = SplitQueue::new(&dma, net::TRANSMITQ, tx_size, event_idx)?;
            let rx_bufs = alloc_dma(&dma, usize::from(rx_size) * BUFFER_SIZE, 1)?;
            let tx_bufs = alloc_dma(&dma, usize::from(tx_size) * BUFFER_SIZE, 1)?;
            Ok((rx, tx, rx_bufs, tx_bufs))
        };
        let (rx, tx, rx_bufs, tx_bufs) = allocate().map_err(|e| give_up(&transport, e))?;

        let mut nic = VirtioNet {
            transport,
            dma,
            features,
            mac,
            rx,
            tx,
            rx_bufs,
            tx_bufs,
            rx_slot: vec![0; usize::from(rx_size)],
            tx_slot: vec![0; usize::from(tx_size)],
            tx_free: (0..tx_size).rev().collect(),
            tx_len: vec![0; usize::from(tx_size)],
            scratch: vec![0; BUFFER_SIZE],
            vectors: vectors.clone(),
            stats: NetStats { resets: 1, ..NetStats::default() },
            irqs: IrqCounts::default(),
            watch: Cell::new(watchdog::TxWatch::default()),
            tx_stall_injected: false,
            failed: false,
        };
        // From here on the device may know our memory: on failure, `nic`
        // is dropped, whose Drop resets the device before the memory goes
        // (and then sets FAILED).
        if let Err(e) = nic.start() {
            nic.failed = true;
            return Err(e);
        }
        Ok(nic)
    }

    /// Steps 7–8 of §3.1.1 on a device that has negotiated features and
    /// has empty queues: vectors, queue set-up, receive buffers, DRIVER_OK,
    /// and the first receive doorbell.
    fn start(&mut self) -> Result<(), Error> {
        self.transport.set_config_vector(self.vectors.config)?;
        self.transport.setup_queue(&self.rx, self.vectors.queue(net::RECEIVEQ))?;
        self.transport.setup_queue(&self.tx, self.vectors.queue(net::TRANSMITQ))?;
        for slot in 0..self.rx.size() {
            self.give_rx_buffer(slot)?;
        }
        // Transmit completions are reclaimed lazily (module docs).
        self.tx.disable_interrupts();
        // Populating queues before DRIVER_OK is allowed (§3.1.1 step 7);
        // notifying is not (§3.1.1: no notifications before DRIVER_OK).
        let notify = self.rx.publish();
        self.transport.driver_ok();
        if notify {
            self.transport.notify(net::RECEIVEQ)?;
            self.stats.rx_notifies += 1;
        }
        Ok(())
    }

    /// The station's Ethernet address: the device's (MAC feature), else
    /// [`FALLBACK_MAC`].
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Whether the link is up: the config's `status & LINK_UP` with the
    /// STATUS feature; always up without it (§5.1.4).
    pub fn link_up(&self) -> bool {
        if self.features & net::F_STATUS == 0 {
            return true;
        }
        self.transport.read_config_u16(net::CFG_STATUS).is_ok_and(|s| s & net::S_LINK_UP != 0)
    }

    /// The negotiated feature bits.
    pub fn features(&self) -> u64 {
        self.features
    }

    /// The transport (register window, status, …).
    pub fn transport(&self) -> &Transport<W> {
        &self.transport
    }

    /// The DMA allocator the queues and buffers came from.
    pub fn allocator(&self) -> &A {
        &self.dma
    }

    /// Entries in the receive and transmit queues.
    pub fn queue_sizes(&self) -> (u16, u16) {
        (self.rx.size(), self.tx.size())
    }

    /// The receive and transmit queues' own counters.
    pub fn queue_stats(&self) -> (QueueStats, QueueStats) {
        (self.rx.stats(), self.tx.stats())
    }

    /// The driver's counters, with the queues' and the window's.
    pub fn stats(&self) -> NetStats {
        let io = self.transport.window().stats();
        NetStats {
            interrupts: self.irqs.interrupts(),
            not_mine: self.irqs.not_mine(),
            config_changes: self.irqs.config_changes(),
            notifies_suppressed: self.rx.stats().notifications_suppressed + self.tx.stats().notifications_suppressed,
            register_reads: io.reads,
            register_writes: io.writes,
            ..self.stats
        }
    }
}

/// Reads the 6-byte MAC under the generation check (§2.5.1, §5.1.4).
fn read_mac<W: RegisterWindow>(t: &Transport<W>) -> Result<[u8; 6], Error> {
    t.read_config_consistent(|t| {
        let mut mac = [0; 6];
        for (i, byte) in mac.iter_mut().enumerate() {
            *byte = t.read_config_u8(net::CFG_MAC + i)?;
        }
        Ok(mac)
    })
}

/// Stops the device before its queues and buffers are freed.
impl<W: RegisterWindow, A: DmaAllocator> Drop for VirtioNet<W, A> {
    fn drop(&mut self) {
        let _ = self.transport.reset();
        if self.failed {
            self.transport.fail();
        }
    }
}
