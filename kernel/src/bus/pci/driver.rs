//! The PCI driver model (Linux's `struct pci_driver`): a driver names the
//! functions it can drive with an ID table and provides `probe`; binding
//! happens whenever a driver or a device appears, so the order in which
//! they are registered and found does not matter. Functions no driver
//! claims stay listed, unbound.
//!
//! `probe` returns the driver's per-device state. Everything the driver
//! acquired — BAR mappings and claims, interrupt vectors, DMA buffers — is
//! owned by that state, so unbinding (`remove`) is dropping it: nothing can
//! be forgotten, and the counters prove it (see the probe/remove ktest).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use pci::id::{find_match, PciDeviceId};

use super::{devices, PciDevice, PciError};
use crate::sync::SpinLock;

pub type Instance = Box<dyn Any + Send + Sync>;

pub struct PciDriver {
    pub name: &'static str,
    pub id_table: &'static [PciDeviceId],
    pub probe: fn(&Arc<PciDevice>) -> Result<Instance, PciError>,
    /// Called before the instance is dropped (optional quiescing).
    pub remove: Option<fn(&Arc<PciDevice>, &Instance)>,
}

pub(crate) struct Binding {
    pub driver: &'static PciDriver,
    pub instance: Instance,
}

static DRIVERS: SpinLock<Vec<&'static PciDriver>> = SpinLock::new(Vec::new());

pub struct DriverStats {
    pub probes: AtomicU64,
    pub probe_failures: AtomicU64,
    pub removes: AtomicU64,
}

pub static STATS: DriverStats =
    DriverStats { probes: AtomicU64::new(0), probe_failures: AtomicU64::new(0), removes: AtomicU64::new(0) };

/// Adds a driver and binds it to every matching unbound function.
pub fn register(driver: &'static PciDriver) {
    {
        let mut drivers = DRIVERS.lock();
        if drivers.iter().any(|d| core::ptr::eq(*d, driver)) {
            return;
        }
        drivers.push(driver);
    }
    bind_all();
}

/// Unbinds the driver from its devices and forgets it.
pub fn unregister(driver: &'static PciDriver) {
    for dev in devices() {
        if dev.binding.lock().as_ref().is_some_and(|b| core::ptr::eq(b.driver, driver)) {
            unbind(&dev);
        }
    }
    DRIVERS.lock().retain(|d| !core::ptr::eq(*d, driver));
}

/// Tries every registered driver on every unbound function.
pub fn bind_all() {
    let drivers: Vec<&'static PciDriver> = DRIVERS.lock().clone();
    for dev in devices() {
        if dev.binding.lock().is_some() {
            continue;
        }
        for driver in &drivers {
            if find_match(driver.id_table, &dev.info).is_some() && probe(&dev, driver) {
                break;
            }
        }
    }
}

fn probe(dev: &Arc<PciDevice>, driver: &'static PciDriver) -> bool {
    STATS.probes.fetch_add(1, Ordering::Relaxed);
    match (driver.probe)(dev) {
        Ok(instance) => {
            *dev.binding.lock() = Some(Binding { driver, instance });
            log::info!("pci {}: bound to {}", dev.bdf(), driver.name);
            true
        }
        Err(e) => {
            STATS.probe_failures.fetch_add(1, Ordering::Relaxed);
            log::error!("pci {}: {} probe failed: {e}", dev.bdf(), driver.name);
            false
        }
    }
}

/// Removes the function's driver: `remove`, then the instance (and with it
/// every resource) is dropped, then decoding and bus mastering go off.
pub fn unbind(dev: &Arc<PciDevice>) -> bool {
    let Some(binding) = dev.binding.lock().take() else { return false };
    if let Some(remove) = binding.driver.remove {
        remove(dev, &binding.instance);
    }
    drop(binding);
    dev.disable();
    STATS.removes.fetch_add(1, Ordering::Relaxed);
    true
}

/// The driver instance bound to `dev`, if it is a `T`.
pub fn instance<T: Any + Send + Sync + Clone>(dev: &PciDevice) -> Option<T> {
    dev.binding.lock().as_ref().and_then(|b| b.instance.downcast_ref::<T>().cloned())
}
