//! The Intel 82540EM (8086:100e) bound to the `e1000` driver crate and
//! registered as a network device (`eth0`) with the smoltcp stack on top.
//!
//! Receive work follows the device's mode (`net mode eth0 …`):
//! * `napi` (default): the hard handler reads ICR (acknowledging it), masks
//!   the NIC and schedules NAPI; the NET_RX softirq polls up to 64 frames
//!   per turn and unmasks when a poll comes up short;
//! * `irq`: no interrupt throttling and no budget — the hard handler polls
//!   every frame and runs the stack on it, then unmasks: one interrupt per
//!   packet and all protocol work in interrupt context (receive livelock);
//! * `poll`: interrupts off, a thread polls.
//!
//! Frames reach the stack through the shared receive batch (`net::rx`). A periodic timer runs the TX
//! watchdog: a transmitter that stops completing is reset and recovered
//! with the same DMA memory.

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use e1000::{Config, TxError as NicTxError, E1000};
use hal::io::RegisterWindow;
use hal::irq::IrqReturn;
use pci::id::PciDeviceId;
use spin::Once;

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

const IDS: &[PciDeviceId] = &[PciDeviceId::device(0x8086, 0x100e)];
static DRIVER: PciDriver = PciDriver { name: "e1000", id_table: IDS, probe, remove: None };

/// NAPI-mode interrupt throttling: at most one interrupt per ~100 µs (in
/// 256 ns units), as Linux's default InterruptThrottleRate does.
const NAPI_ITR: u16 = 390;
/// The TX watchdog fires if nothing completes for this long.
const TX_TIMEOUT_TICKS: u64 = crate::time::HZ;

pub struct E1000Dev {
    pci: Arc<PciDevice>,
    nic: SpinLockIrq<E1000<IoMem, KernelDma>>,
    batch: RxBatch,
    irqs: SpinLock<Option<PciIrqs>>,
    napi: Once<Arc<Napi>>,
    stack: Once<Arc<Stack>>,
    mode: AtomicU8,
    watchdog: Once<crate::timer::Timer>,
    watchdog_resets: AtomicU64,
    /// Itself, for starting the poll thread from `set_mode`.
    me: Once<Weak<E1000Dev>>,
    _bar: Claim,
}

pub fn register() {
    driver::register(&DRIVER);
}

fn probe(pci: &Arc<PciDevice>) -> Result<Instance, PciError> {
    let (mem, claim) = pci.map_bar(0, "e1000")?.into_parts();
    pci.enable(true, false);
    pci.set_bus_master(true);
    let config = Config { itr: NAPI_ITR, ..Config::default() };
    let nic = E1000::new(mem, KernelDma, config).map_err(|e| PciError::Map(alloc::format!("{e}")))?;
    let dev = Arc::new(E1000Dev {
        pci: pci.clone(),
        nic: SpinLockIrq::new(nic),
        batch: RxBatch::new(),
        irqs: SpinLock::new(None),
        napi: Once::new(),
        stack: Once::new(),
        mode: AtomicU8::new(RxMode::Napi as u8),
        watchdog: Once::new(),
        watchdog_resets: AtomicU64::new(0),
        me: Once::new(),
        _bar: claim,
    });
    dev.me.call_once(|| Arc::downgrade(&dev));
    dev.napi.call_once(|| Napi::new(Arc::new(NapiHook(Arc::downgrade(&dev))) as Arc<dyn Poll>));
    let weak = Arc::downgrade(&dev);
    let irqs = pci.alloc_irq_vectors(1, 1, &[IrqKind::MsiX, IrqKind::Msi, IrqKind::Intx], "e1000", move |_| {
        weak.upgrade().map_or(IrqReturn::NotMine, |d| d.interrupt())
    })?;
    *dev.irqs.lock() = Some(irqs);
    let netdev = netdev::register(dev.clone() as Arc<dyn NetDriver>);
    let boot_mode = crate::cmdline::net_mode();
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
    dev.nic.lock().enable_interrupts();
    if let Some(mode) = boot_mode {
        netdev.set_mode(mode);
    }
    let (mac, link) = (dev.mac(), dev.link_up());
    log::info!("{}: e1000 {} link {}", netdev.name, mac_text(mac), if link { "up" } else { "down" });
    Ok(Box::new(dev))
}

struct NapiHook(Weak<E1000Dev>);

impl Poll for NapiHook {
    fn poll(&self, budget: usize) -> usize {
        self.0.upgrade().map_or(0, |d| d.receive(budget))
    }
    fn complete(&self) {
        if let Some(d) = self.0.upgrade() {
            d.nic.lock().enable_interrupts();
        }
    }
}

impl E1000Dev {
    fn rx_mode(&self) -> RxMode {
        match self.mode.load(Ordering::Relaxed) {
            0 => RxMode::Irq,
            2 => RxMode::Poll,
            _ => RxMode::Napi,
        }
    }

    /// The hard-IRQ handler.
    fn interrupt(&self) -> IrqReturn {
        let event = self.nic.lock().handle_interrupt();
        if event.ret == IrqReturn::NotMine {
            return IrqReturn::NotMine;
        }
        match self.rx_mode() {
            RxMode::Napi => {
                if let Some(napi) = self.napi.get() {
                    napi.schedule();
                }
            }
            RxMode::Irq => {
                // The 1996 kernel: one interrupt per packet, and all of the
                // protocol work for it here, in the handler. If more frames
                // wait, set the cause again (ICS) so the next one interrupts
                // too, as a NIC without mitigation would.
                let got = self.receive(1);
                let mut nic = self.nic.lock();
                nic.clean_tx();
                nic.enable_interrupts();
                if got > 0 {
                    let _ = nic.window().write_u32(e1000::regs::ICS, e1000::regs::irq::RXT0);
                }
            }
            RxMode::Poll => {}
        }
        IrqReturn::Handled
    }

    /// Moves up to `budget` frames from the ring through the stack.
    fn receive(&self, budget: usize) -> usize {
        let Some(stack) = self.stack.get() else { return 0 };
        let done = self.batch.receive(stack, budget, |want, sink| self.nic.lock().poll_rx(want, sink));
        self.nic.lock().clean_tx();
        done
    }

    fn watchdog_tick(&self) {
        let mut nic = self.nic.lock();
        if nic.tx_stalled(crate::time::jiffies(), TX_TIMEOUT_TICKS) {
            log::warn!("e1000 {}: transmit timeout, resetting", self.pci.bdf());
            match nic.reset_and_recover() {
                Ok(()) => {
                    self.watchdog_resets.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => log::error!("e1000 {}: reset failed: {e}", self.pci.bdf()),
            }
        }
    }

    fn poll_thread(self: Arc<Self>) {
        rx::poll_loop(|| self.rx_mode(), |budget| self.receive(budget));
    }
}

impl NetDriver for E1000Dev {
    fn mac(&self) -> [u8; 6] {
        self.nic.lock().mac()
    }

    fn link_up(&self) -> bool {
        self.nic.lock().link_up()
    }

    fn transmit(&self, frame: &[u8]) -> Result<(), TxError> {
        self.nic.lock().transmit(frame).map_err(|e| match e {
            NicTxError::RingFull => TxError::RingFull,
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
            RxMode::Irq => {
                nic.set_itr(0);
                nic.enable_interrupts();
            }
            RxMode::Napi => {
                nic.set_itr(NAPI_ITR);
                nic.enable_interrupts();
            }
            RxMode::Poll => {
                nic.disable_interrupts();
                drop(nic);
                if let Some(me) = self.me.get().and_then(Weak::upgrade) {
                    let _ = crate::sched::spawn_on(0, "e1000-poll", move || me.poll_thread());
                }
            }
        }
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        let s = self.nic.lock().stats();
        let napi = self.napi.get();
        alloc::vec![
            ("rx_packets", s.rx_packets),
            ("rx_bytes", s.rx_bytes),
            ("rx_errors", s.rx_errors),
            ("rx_dropped", s.rx_dropped),
            ("rx_too_long", s.rx_too_long),
            ("rx_overruns", s.rx_overruns),
            ("tx_packets", s.tx_packets),
            ("tx_bytes", s.tx_bytes),
            ("tx_ring_full", s.tx_ring_full),
            ("tx_timeouts", s.tx_timeouts),
            ("resets", s.resets),
            ("watchdog_resets", self.watchdog_resets.load(Ordering::Relaxed)),
            ("interrupts", s.interrupts),
            ("not_mine", s.not_mine),
            ("link_changes", s.link_changes),
            ("polls", napi.map_or(0, |n| n.polls.load(Ordering::Relaxed))),
            ("napi_packets", napi.map_or(0, |n| n.packets.load(Ordering::Relaxed))),
            ("napi_completions", napi.map_or(0, |n| n.completions.load(Ordering::Relaxed))),
            ("rx_doorbells", s.rx_doorbells),
            ("tx_doorbells", s.tx_doorbells),
            ("register_reads", s.register_reads),
            ("register_writes", s.register_writes),
        ]
    }

    fn inject_tx_stall(&self) -> bool {
        // Switch the transmitter off behind the driver's back: queued frames
        // never complete, which is what the watchdog is for.
        let nic = self.nic.lock();
        let tctl = nic.window().read_u32(e1000::regs::TCTL).unwrap_or(0);
        nic.window().write_u32(e1000::regs::TCTL, tctl & !e1000::regs::tctl::EN).is_ok()
    }
}
