//! virtio-net (`1af4:1041`) bound to the `virtio` driver crate and
//! registered as a network device (`eth1` on the standard machine) with
//! the same NAPI, modes, stack and shell as the e1000.
//!
//! Interrupts: with MSI-X the receive queue has its own vector (config
//! changes another, and transmit completions are reclaimed by polling, so
//! the transmit queue's interrupts stay suppressed); with INTx one shared
//! line, de-asserted by reading the ISR register. In `napi` mode the hard
//! handler suppresses receive-queue interrupts (`VIRTQ_AVAIL_F_NO_INTERRUPT`
//! or event-idx) and schedules NAPI; when a poll comes up short the driver
//! re-enables them — and polls once more if used entries slipped in
//! meanwhile, the race virtio's `enable_cb` has to close.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use hal::io::RegisterWindow;
use hal::irq::IrqReturn;
use pci::id::PciDeviceId;
use spin::Once;
use virtio::net::{NetConfig, NetTxError, VirtioNet};

use super::virtio::{self as vpci, VectorUse};
use crate::bus::pci::driver::{self, Instance, PciDriver};
use crate::bus::pci::irq::{IrqKind, PciIrqs};
use crate::bus::pci::{PciDevice, PciError};
use crate::dma::KernelDma;
use crate::mm::ioremap::IoMem;
use crate::net::device::{self as netdev, NetDriver, RxMode, TxError};
use crate::net::napi::{Napi, Poll};
use crate::net::rx::{self, mac_text, RxBatch};
use crate::net::stack::{self, Stack};
use crate::resource::Claim;
use crate::sync::{SpinLock, SpinLockIrq};

const IDS: &[PciDeviceId] = &[PciDeviceId::device(0x1af4, 0x1041), PciDeviceId::device(0x1af4, 0x1000)];
static DRIVER: PciDriver = PciDriver { name: "virtio-net", id_table: IDS, probe, remove: None };
const QUEUE_SIZE: u16 = 256;
/// Queues: receiveq (0) and transmitq (1).
const QUEUES: usize = 2;
const RX_QUEUE: u16 = 0;
/// The TX watchdog fires if nothing completes for this long.
const TX_TIMEOUT_TICKS: u64 = crate::time::HZ;

pub struct VirtioNetDev {
    pci: Arc<PciDevice>,
    nic: SpinLockIrq<VirtioNet<IoMem, KernelDma>>,
    batch: RxBatch,
    irqs: SpinLock<Option<PciIrqs>>,
    irq_layout: Once<(IrqKind, usize)>,
    napi: Once<Arc<Napi>>,
    stack: Once<Arc<Stack>>,
    mode: AtomicU8,
    watchdog: Once<crate::timer::Timer>,
    watchdog_resets: AtomicU64,
    me: Once<Weak<VirtioNetDev>>,
    _bar: Claim,
}

pub fn register() {
    driver::register(&DRIVER);
}

fn probe(pci: &Arc<PciDevice>) -> Result<Instance, PciError> {
    let (transport, claim) = vpci::transport(pci, "virtio-net")?;
    let dev_slot: Arc<Once<Weak<VirtioNetDev>>> = Arc::new(Once::new());
    let weak_slot = dev_slot.clone();
    let irqs = vpci::alloc_irqs(pci, QUEUES, "virtio-net", move |i| {
        weak_slot.get().and_then(Weak::upgrade).map_or(IrqReturn::NotMine, |d| d.interrupt(i))
    })?;
    let vectors = vpci::vectors(&irqs, QUEUES);
    let nic = VirtioNet::new(transport, KernelDma, NetConfig { queue_size: QUEUE_SIZE }, &vectors)
        .map_err(|e| PciError::Map(alloc::format!("virtio-net: {e}")))?;
    let dev = Arc::new(VirtioNetDev {
        pci: pci.clone(),
        nic: SpinLockIrq::new(nic),
        batch: RxBatch::new(),
        irqs: SpinLock::new(None),
        irq_layout: Once::new(),
        napi: Once::new(),
        stack: Once::new(),
        mode: AtomicU8::new(RxMode::Napi as u8),
        watchdog: Once::new(),
        watchdog_resets: AtomicU64::new(0),
        me: Once::new(),
        _bar: claim,
    });
    dev.irq_layout.call_once(|| (irqs.kind(), irqs.count()));
    *dev.irqs.lock() = Some(irqs);
    dev.me.call_once(|| Arc::downgrade(&dev));
    dev.napi.call_once(|| Napi::new(Arc::new(NapiHook(Arc::downgrade(&dev))) as Arc<dyn Poll>));
    dev_slot.call_once(|| Arc::downgrade(&dev));
    let netdev = netdev::register(dev.clone() as Arc<dyn NetDriver>);
    let (addr, prefix) = crate::cmdline::ipv4_for(&netdev.name);
    dev.stack.call_once(|| stack::attach(netdev.clone(), addr, prefix));
    let weak = Arc::downgrade(&dev);
    if let Ok(t) = crate::timer::Timer::periodic(crate::time::HZ / 2, move || {
        if let Some(d) = weak.upgrade() {
            d.watchdog_tick();
        }
    }) {
        t.start_in(crate::time::HZ / 2);
        dev.watchdog.call_once(|| t);
    }
    if let Some(mode) = crate::cmdline::net_mode() {
        netdev.set_mode(mode);
    } else {
        dev.nic.lock().enable_rx_interrupts();
    }
    let (mac, link) = (dev.mac(), dev.link_up());
    log::info!(
        "{}: virtio-net {} link {}, {:?} interrupts",
        netdev.name,
        mac_text(mac),
        if link { "up" } else { "down" },
        dev.irq_layout.get().map(|l| l.0)
    );
    Ok(alloc::boxed::Box::new(dev))
}

struct NapiHook(Weak<VirtioNetDev>);

impl Poll for NapiHook {
    fn poll(&self, budget: usize) -> usize {
        self.0.upgrade().map_or(0, |d| d.receive(budget))
    }
    fn complete(&self) {
        if let Some(d) = self.0.upgrade() {
            // Used entries that arrived between the last poll and the
            // re-enable raise no interrupt: poll again for them.
            if d.nic.lock().enable_rx_interrupts() {
                d.nic.lock().disable_rx_interrupts();
                if let Some(napi) = d.napi.get() {
                    napi.schedule();
                }
            }
        }
    }
}

impl VirtioNetDev {
    fn rx_mode(&self) -> RxMode {
        match self.mode.load(Ordering::Relaxed) {
            0 => RxMode::Irq,
            2 => RxMode::Poll,
            _ => RxMode::Napi,
        }
    }

    /// The hard-IRQ handler for vector `vector`.
    fn interrupt(&self, vector: usize) -> IrqReturn {
        let Some(&(kind, count)) = self.irq_layout.get() else { return IrqReturn::NotMine };
        let rx_work = match vpci::vector_use(kind, count, QUEUES, vector) {
            VectorUse::Shared => {
                let isr = self.nic.lock().handle_intx();
                if !isr.is_mine() {
                    return IrqReturn::NotMine;
                }
                isr.queue
            }
            VectorUse::Config => {
                self.nic.lock().count_interrupt();
                // A single shared MSI-X vector serves the queues too.
                count <= QUEUES
            }
            VectorUse::Queue(q) => {
                self.nic.lock().count_interrupt();
                q == RX_QUEUE
            }
        };
        if !rx_work {
            return IrqReturn::Handled;
        }
        match self.rx_mode() {
            RxMode::Napi => {
                self.nic.lock().disable_rx_interrupts();
                if let Some(napi) = self.napi.get() {
                    napi.schedule();
                }
            }
            RxMode::Irq => {
                // All the protocol work at interrupt level, as the e1000's
                // irq mode does: the receive-livelock demonstration.
                self.receive(usize::MAX);
            }
            RxMode::Poll => {}
        }
        IrqReturn::Handled
    }

    fn receive(&self, budget: usize) -> usize {
        let Some(stack) = self.stack.get() else { return 0 };
        let done = self.batch.receive(stack, budget, |want, sink| self.nic.lock().poll_rx(want, sink));
        self.nic.lock().clean_tx();
        done
    }

    fn watchdog_tick(&self) {
        let mut nic = self.nic.lock();
        if nic.tx_stalled(crate::time::jiffies(), TX_TIMEOUT_TICKS) {
            log::warn!("virtio-net {}: transmit timeout, resetting", self.pci.bdf());
            match nic.reset_and_recover() {
                Ok(()) => {
                    self.watchdog_resets.fetch_add(1, Ordering::Relaxed);
                    if self.rx_mode() != RxMode::Poll {
                        nic.enable_rx_interrupts();
                    }
                }
                Err(e) => log::error!("virtio-net {}: reset failed: {e}", self.pci.bdf()),
            }
        }
    }

    fn poll_thread(self: Arc<Self>) {
        rx::poll_loop(|| self.rx_mode(), |budget| self.receive(budget));
    }
}

impl NetDriver for VirtioNetDev {
    fn mac(&self) -> [u8; 6] {
        self.nic.lock().mac()
    }

    fn link_up(&self) -> bool {
        self.nic.lock().link_up()
    }

    fn transmit(&self, frame: &[u8]) -> Result<(), TxError> {
        self.nic.lock().transmit(frame).map_err(|e| match e {
            NetTxError::RingFull => TxError::RingFull,
            _ => TxError::TooLong,
        })
    }

    fn flush_tx(&self) {
        self.nic.lock().flush_tx();
    }

    fn clean_tx(&self) -> usize {
        self.nic.lock().clean_tx()
    }

    fn set_mode(&self, mode: RxMode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
        let mut nic = self.nic.lock();
        match mode {
            RxMode::Irq | RxMode::Napi => {
                if nic.enable_rx_interrupts() {
                    drop(nic);
                    self.receive(usize::MAX);
                }
            }
            RxMode::Poll => {
                nic.disable_rx_interrupts();
                drop(nic);
                if let Some(me) = self.me.get().and_then(Weak::upgrade) {
                    let _ = crate::sched::spawn_on(0, "virtio-net-poll", move || me.poll_thread());
                }
            }
        }
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        let nic = self.nic.lock();
        let s = nic.stats();
        let io = nic.transport().window().stats();
        let napi = self.napi.get();
        alloc::vec![
            ("rx_packets", s.rx_packets),
            ("rx_bytes", s.rx_bytes),
            ("rx_dropped", s.rx_dropped),
            ("tx_packets", s.tx_packets),
            ("tx_bytes", s.tx_bytes),
            ("tx_ring_full", s.tx_ring_full),
            ("tx_timeouts", s.tx_timeouts),
            ("resets", s.resets),
            ("watchdog_resets", self.watchdog_resets.load(Ordering::Relaxed)),
            ("interrupts", s.interrupts),
            ("not_mine", s.not_mine),
            ("config_changes", s.config_changes),
            ("polls", napi.map_or(0, |n| n.polls.load(Ordering::Relaxed))),
            ("napi_packets", napi.map_or(0, |n| n.packets.load(Ordering::Relaxed))),
            ("napi_completions", napi.map_or(0, |n| n.completions.load(Ordering::Relaxed))),
            ("rx_doorbells", s.rx_notifies),
            ("tx_doorbells", s.tx_notifies),
            ("notifies_suppressed", s.notifies_suppressed),
            ("register_reads", io.reads),
            ("register_writes", io.writes),
        ]
    }

    fn inject_tx_stall(&self) -> bool {
        // Stop telling the device about new frames: they stay queued and
        // never complete, which is what the watchdog is for.
        self.nic.lock().inject_tx_stall();
        true
    }
}
