//! The net-device layer: what a NIC driver provides ([`NetDriver`]), the
//! registry that names devices `eth0`, `eth1`, … (a name is reused once its
//! device is unregistered), and the per-device counters `ifconfig` shows.
//!
//! Transmit has backpressure: when the driver's ring is full, `transmit`
//! fails with `TxError::RingFull` and the device's queue is *stopped*
//! (counted); the stack keeps the packet and retries after the driver has
//! reclaimed descriptors (queue *woken*). Nothing is dropped silently.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use crate::sync::SpinLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxError {
    /// No free descriptor: try again after completions.
    RingFull,
    /// Larger than the device's MTU + header.
    TooLong,
}

/// How received packets reach the stack (`net mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RxMode {
    /// One interrupt per packet, all protocol work in the hard handler:
    /// the 1996 kernel, kept to show receive livelock.
    Irq = 0,
    /// Mask, schedule NAPI, poll under a budget (the default).
    Napi = 1,
    /// A thread polls the device; interrupts stay off.
    Poll = 2,
}

impl RxMode {
    pub fn name(self) -> &'static str {
        match self {
            RxMode::Irq => "irq",
            RxMode::Napi => "napi",
            RxMode::Poll => "poll",
        }
    }
    pub fn parse(s: &str) -> Option<RxMode> {
        match s {
            "irq" => Some(RxMode::Irq),
            "napi" => Some(RxMode::Napi),
            "poll" => Some(RxMode::Poll),
            _ => None,
        }
    }
}

/// What a NIC driver implements for the kernel.
pub trait NetDriver: Send + Sync {
    fn mac(&self) -> [u8; 6];
    fn mtu(&self) -> usize {
        1500
    }
    fn link_up(&self) -> bool;
    /// Queues one frame; the doorbell waits for [`flush_tx`](Self::flush_tx).
    fn transmit(&self, frame: &[u8]) -> Result<(), TxError>;
    /// Rings the doorbell once for everything queued.
    fn flush_tx(&self);
    /// Reclaims completed transmissions; returns how many.
    fn clean_tx(&self) -> usize;
    /// Switches how receive work is triggered.
    fn set_mode(&self, mode: RxMode);
    /// Driver statistics (`ethtool -S`).
    fn stats(&self) -> Vec<(&'static str, u64)>;
    /// Test hook: make the transmitter stop completing (the watchdog test).
    fn inject_tx_stall(&self) -> bool {
        false
    }
}

pub struct DevStats {
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub tx_errors: AtomicU64,
    pub queue_stops: AtomicU64,
    pub queue_wakes: AtomicU64,
}

pub struct NetDevice {
    pub name: String,
    pub driver: Arc<dyn NetDriver>,
    pub stats: DevStats,
    mode: AtomicU8,
    stopped: AtomicBool,
}

impl NetDevice {
    pub fn mode(&self) -> RxMode {
        match self.mode.load(Ordering::Relaxed) {
            0 => RxMode::Irq,
            2 => RxMode::Poll,
            _ => RxMode::Napi,
        }
    }

    pub fn set_mode(&self, mode: RxMode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
        self.driver.set_mode(mode);
    }

    /// Transmits with backpressure (see the module docs).
    pub fn transmit(&self, frame: &[u8]) -> Result<(), TxError> {
        let mut result = self.driver.transmit(frame);
        if result == Err(TxError::RingFull) {
            if !self.stopped.swap(true, Ordering::Relaxed) {
                self.stats.queue_stops.fetch_add(1, Ordering::Relaxed);
            }
            self.driver.flush_tx();
            // Reclaim what completed meanwhile and try once more.
            if self.driver.clean_tx() > 0 {
                result = self.driver.transmit(frame);
            }
        }
        match result {
            Ok(()) => {
                if self.stopped.swap(false, Ordering::Relaxed) {
                    self.stats.queue_wakes.fetch_add(1, Ordering::Relaxed);
                }
                self.stats.tx_packets.fetch_add(1, Ordering::Relaxed);
                self.stats.tx_bytes.fetch_add(frame.len() as u64, Ordering::Relaxed);
            }
            Err(_) => {
                self.stats.tx_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    pub fn queue_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }
}

static DEVICES: SpinLock<Vec<Arc<NetDevice>>> = SpinLock::new(Vec::new());

/// Names the device `eth<N>` (the lowest N free) and returns it.
pub fn register(driver: Arc<dyn NetDriver>) -> Arc<NetDevice> {
    let mut devs = DEVICES.lock();
    let free = (0..).find(|n| !devs.iter().any(|d| d.name == alloc::format!("eth{n}"))).unwrap_or(0);
    let dev = Arc::new(NetDevice {
        name: alloc::format!("eth{free}"),
        driver,
        stats: DevStats {
            rx_packets: AtomicU64::new(0),
            rx_bytes: AtomicU64::new(0),
            tx_packets: AtomicU64::new(0),
            tx_bytes: AtomicU64::new(0),
            tx_errors: AtomicU64::new(0),
            queue_stops: AtomicU64::new(0),
            queue_wakes: AtomicU64::new(0),
        },
        mode: AtomicU8::new(RxMode::Napi as u8),
        stopped: AtomicBool::new(false),
    });
    devs.push(dev.clone());
    dev
}

/// Forgets the device (its driver is being unbound).
pub fn unregister(dev: &Arc<NetDevice>) {
    DEVICES.lock().retain(|d| !Arc::ptr_eq(d, dev));
}

pub fn by_name(name: &str) -> Option<Arc<NetDevice>> {
    DEVICES.lock().iter().find(|d| d.name == name).cloned()
}

pub fn all() -> Vec<Arc<NetDevice>> {
    DEVICES.lock().clone()
}
