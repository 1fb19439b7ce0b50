//! What every NIC's kernel glue shares, written once: the receive mode
//! (`irq`, `napi`, `poll`), the NAPI hook, the receive batch into the
//! stack, the polling thread, the TX watchdog, and the [`NetDriver`] the
//! net-device layer sees. A driver provides [`NicHw`] — how to acknowledge
//! its interrupt, switch its receive interrupts, move frames — and gets a
//! network interface.
//!
//! The modes, as the hard handler runs them after the device acknowledged:
//! * `napi`: the device's receive interrupts go off and NAPI is scheduled;
//!   the NET_RX softirq polls ≤64 frames per turn; a short poll turns them
//!   back on — and if work arrived meanwhile (virtio's used entries can
//!   slip in before the re-enable), NAPI is scheduled again at once;
//! * `irq`: the frames are received and run through the stack right in the
//!   handler, with no budget: the 1996 kernel, kept to show receive livelock;
//! * `poll`: interrupts off, a thread polls.

use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use hal::irq::IrqReturn;
use spin::Once;

use super::device::{self as netdev, NetDevice, NetDriver, RxMode, TxError};
use super::napi::{Napi, Poll};
use super::rx::{self, mac_text, RxBatch};
use super::stack::{self, Stack};
use crate::sync::{SpinLock, SpinLockIrq};

/// The TX watchdog looks every half second and fires after a second
/// without a completion.
const WATCHDOG_PERIOD: u64 = crate::time::HZ / 2;
const TX_TIMEOUT_TICKS: u64 = crate::time::HZ;
/// How long [`Nic::detach`] waits for the last users of the NIC to go.
const DETACH_TICKS: u64 = 2 * crate::time::HZ;

/// A NIC driver instance as the shared glue drives it (under its lock).
pub trait NicHw: Send + 'static {
    fn mac(&self) -> [u8; 6];
    fn link_up(&self) -> bool;
    /// Acknowledges interrupt vector `vector`: `None` if the device did not
    /// raise it (shared line), else whether receive work is signalled.
    fn ack_interrupt(&mut self, vector: usize) -> Option<bool>;
    /// Turns receive interrupts on for `mode` (`irq` or `napi`); returns
    /// whether frames are already waiting that no interrupt will announce.
    fn enable_rx_irq(&mut self, mode: RxMode) -> bool;
    fn disable_rx_irq(&mut self);
    /// NAPI mode, in the hard handler: make sure no further receive
    /// interrupt comes until the poll completes.
    fn mask_for_napi(&mut self);
    /// Frames `irq` mode takes per interrupt.
    fn irq_mode_budget(&self) -> usize {
        usize::MAX
    }
    /// `irq` mode, after the handler received `got` frames.
    fn irq_mode_done(&mut self, _got: usize) {}
    fn poll_rx(&mut self, max: usize, sink: &mut dyn FnMut(&[u8])) -> usize;
    fn transmit(&mut self, frame: &[u8]) -> Result<(), TxError>;
    fn flush_tx(&mut self);
    fn clean_tx(&mut self) -> usize;
    fn tx_stalled(&self, now_ticks: u64, timeout_ticks: u64) -> bool;
    fn reset_and_recover(&mut self) -> Result<(), String>;
    /// Test hook: make the transmitter stop completing.
    fn inject_tx_stall(&mut self) -> bool;
    /// The driver's counters for `ethtool -S`.
    fn stats(&self) -> Vec<(&'static str, u64)>;
}

/// A NIC bound to the network layers.
pub struct Nic<H: NicHw> {
    /// The driver's name and the device's address, for log lines.
    label: String,
    pub hw: SpinLockIrq<H>,
    batch: RxBatch,
    napi: Once<Arc<Napi>>,
    /// Taken away by [`detach`](Self::detach).
    stack: SpinLock<Option<Arc<Stack>>>,
    /// The interface (weak: the interface owns the NIC).
    netdev: Once<Weak<NetDevice>>,
    /// Set by [`detach`](Self::detach): interrupts are acknowledged, nothing more.
    detached: AtomicBool,
    mode: AtomicU8,
    watchdog: Once<crate::timer::Timer>,
    watchdog_resets: AtomicU64,
    me: Once<Weak<Nic<H>>>,
}

impl<H: NicHw> Nic<H> {
    pub fn new(label: String, hw: H) -> Arc<Self> {
        let nic = Arc::new(Nic {
            label,
            hw: SpinLockIrq::new(hw),
            batch: RxBatch::new(),
            napi: Once::new(),
            stack: SpinLock::new(None),
            netdev: Once::new(),
            detached: AtomicBool::new(false),
            mode: AtomicU8::new(RxMode::Napi as u8),
            watchdog: Once::new(),
            watchdog_resets: AtomicU64::new(0),
            me: Once::new(),
        });
        nic.me.call_once(|| Arc::downgrade(&nic));
        nic.napi.call_once(|| Napi::new(Arc::new(NapiHook(Arc::downgrade(&nic))) as Arc<dyn Poll>));
        nic
    }

    /// Registers the interface (`ethN`), attaches the stack at its address,
    /// starts the watchdog and turns receive on in the boot mode.
    pub fn attach(self: &Arc<Self>) -> Arc<NetDevice> {
        let dev = netdev::register(self.clone() as Arc<dyn NetDriver>);
        self.netdev.call_once(|| Arc::downgrade(&dev));
        let (addr, prefix) = crate::cmdline::ipv4_for(&dev.name);
        *self.stack.lock() = Some(stack::attach(dev.clone(), addr, prefix));
        let weak = Arc::downgrade(self);
        match crate::timer::Timer::periodic(WATCHDOG_PERIOD, move || {
            if let Some(nic) = weak.upgrade() {
                nic.watchdog_tick();
            }
        }) {
            Ok(t) => {
                t.start_in(WATCHDOG_PERIOD);
                self.watchdog.call_once(|| t);
            }
            Err(e) => log::warn!("{}: no TX watchdog: {e}", dev.name),
        }
        dev.set_mode(crate::cmdline::net_mode().unwrap_or(RxMode::Napi));
        let (mac, link) = (self.mac(), self.link_up());
        log::info!("{}: {} {} link {}", dev.name, self.label, mac_text(mac), if link { "up" } else { "down" });
        dev
    }

    /// Unbinding (the PCI driver's `remove`): receive interrupts off, the
    /// interface unregistered, its stack and service thread stopped — then
    /// waits (bounded) until nothing but the caller holds the NIC, so the
    /// driver is dropped, and its device reset, before the function is
    /// disabled and its BAR can be handed to a new driver.
    pub fn detach(self: &Arc<Self>) {
        self.detached.store(true, Ordering::Release);
        self.mode.store(RxMode::Irq as u8, Ordering::Relaxed); // ends a poll thread
        self.hw.lock().disable_rx_irq();
        if let Some(dev) = self.netdev.get().and_then(Weak::upgrade) {
            netdev::unregister(&dev);
            log::info!("{}: {} removed", dev.name, self.label);
        }
        let stack = self.stack.lock().take();
        if let Some(stack) = stack {
            stack::detach(&stack);
        }
        let deadline = crate::time::jiffies() + DETACH_TICKS;
        // The caller's (the PCI binding's) reference is the one that stays.
        while Arc::strong_count(self) > 1 && crate::time::jiffies() < deadline {
            crate::sched::sleep_ticks(1);
        }
        if Arc::strong_count(self) > 1 {
            log::warn!("{}: still referenced {} times after removal", self.label, Arc::strong_count(self) - 1);
        }
    }

    fn rx_mode(&self) -> RxMode {
        match self.mode.load(Ordering::Relaxed) {
            0 => RxMode::Irq,
            2 => RxMode::Poll,
            _ => RxMode::Napi,
        }
    }

    /// The hard-IRQ handler for vector `vector`.
    pub fn interrupt(&self, vector: usize) -> IrqReturn {
        let rx_work = match self.hw.lock().ack_interrupt(vector) {
            None => return IrqReturn::NotMine,
            Some(rx_work) => rx_work,
        };
        if rx_work && !self.detached.load(Ordering::Acquire) {
            match self.rx_mode() {
                RxMode::Napi => {
                    self.hw.lock().mask_for_napi();
                    if let Some(napi) = self.napi.get() {
                        napi.schedule();
                    }
                }
                RxMode::Irq => {
                    let budget = self.hw.lock().irq_mode_budget();
                    let got = self.receive(budget);
                    self.hw.lock().irq_mode_done(got);
                }
                RxMode::Poll => {}
            }
        }
        IrqReturn::Handled
    }

    /// Moves up to `budget` frames from the ring through the stack.
    fn receive(&self, budget: usize) -> usize {
        let Some(stack) = self.stack.lock().clone() else { return 0 };
        let done = self.batch.receive(&stack, budget, |want, sink| self.hw.lock().poll_rx(want, sink));
        self.hw.lock().clean_tx();
        done
    }

    fn watchdog_tick(&self) {
        let mut hw = self.hw.lock();
        if !hw.tx_stalled(crate::time::jiffies(), TX_TIMEOUT_TICKS) {
            return;
        }
        log::warn!("{}: transmit timeout, resetting", self.label);
        match hw.reset_and_recover() {
            Ok(()) => {
                self.watchdog_resets.fetch_add(1, Ordering::Relaxed);
                let mode = self.rx_mode();
                if mode != RxMode::Poll {
                    hw.enable_rx_irq(mode);
                }
            }
            Err(e) => log::error!("{}: reset failed: {e}", self.label),
        }
    }
}

struct NapiHook<H: NicHw>(Weak<Nic<H>>);

impl<H: NicHw> Poll for NapiHook<H> {
    fn poll(&self, budget: usize) -> usize {
        self.0.upgrade().map_or(0, |nic| nic.receive(budget))
    }

    fn complete(&self) {
        let Some(nic) = self.0.upgrade() else { return };
        let mut hw = nic.hw.lock();
        if hw.enable_rx_irq(RxMode::Napi) {
            hw.mask_for_napi();
            drop(hw);
            if let Some(napi) = nic.napi.get() {
                napi.schedule();
            }
        }
    }
}

impl<H: NicHw> NetDriver for Nic<H> {
    fn mac(&self) -> [u8; 6] {
        self.hw.lock().mac()
    }

    fn link_up(&self) -> bool {
        self.hw.lock().link_up()
    }

    fn transmit(&self, frame: &[u8]) -> Result<(), TxError> {
        self.hw.lock().transmit(frame)
    }

    fn flush_tx(&self) {
        self.hw.lock().flush_tx();
    }

    fn clean_tx(&self) -> usize {
        self.hw.lock().clean_tx()
    }

    fn set_mode(&self, mode: RxMode) {
        if self.detached.load(Ordering::Acquire) {
            return;
        }
        self.mode.store(mode as u8, Ordering::Relaxed);
        if mode == RxMode::Poll {
            self.hw.lock().disable_rx_irq();
            let me = self.me.get().and_then(Weak::upgrade);
            if let Some(me) = me {
                let name = alloc::format!("{}-poll", self.label.split(' ').next().unwrap_or("nic"));
                let _ = crate::sched::spawn_on(0, &name, move || {
                    rx::poll_loop(|| me.rx_mode(), |budget| me.receive(budget));
                });
            }
        } else if self.hw.lock().enable_rx_irq(mode) {
            self.receive(usize::MAX);
        }
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        let mut stats = self.hw.lock().stats();
        let napi = self.napi.get();
        let count = |f: fn(&Napi) -> &AtomicU64| napi.map_or(0, |n| f(n).load(Ordering::Relaxed));
        stats.extend([
            ("watchdog_resets", self.watchdog_resets.load(Ordering::Relaxed)),
            ("polls", count(|n| &n.polls)),
            ("napi_packets", count(|n| &n.packets)),
            ("napi_completions", count(|n| &n.completions)),
        ]);
        stats
    }

    fn inject_tx_stall(&self) -> bool {
        self.hw.lock().inject_tx_stall()
    }
}
