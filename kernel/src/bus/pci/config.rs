//! Configuration-space access, the two ways a PC offers it.
//!
//! * **ECAM** (PCIe Base Spec §7.2.2; the MCFG table gives its base): every
//!   function's 4 KiB configuration space is memory-mapped at
//!   `base + (bus << 20 | device << 15 | function << 12)`. We map one bus
//!   (1 MiB) at a time, on first use, uncached.
//! * **Configuration mechanism #1** (PCI Local Bus 3.0 §3.2.2.3.2): write
//!   the address (enable bit, bus, device, function, register) to port
//!   0xCF8, then read or write the data at 0xCFC. Only the first 256 bytes
//!   are reachable, and the two accesses must not be interleaved between
//!   CPUs, hence the lock. It is the fallback when there is no MCFG.

use alloc::collections::BTreeMap;

use hal::io::RegisterWindow;
use hal::pio::PortWindow;
use pci::config::{ecam_offset, legacy_address, Bdf, ConfigAccess};

use crate::mm::ioremap::{ioremap, IoMem};
use crate::sync::SpinLockIrq;

const ECAM_BUS_SIZE: u64 = 1 << 20;
const CF8_ADDRESS: usize = 0;
const CFC_DATA: usize = 4;
/// What a read of a function that does not exist returns.
const ABSENT: u32 = 0xffff_ffff;

pub struct Ecam {
    base: u64,
    segment: u16,
    bus_start: u8,
    bus_end: u8,
    buses: SpinLockIrq<BTreeMap<u8, IoMem>>,
}

impl Ecam {
    pub fn new(base: u64, segment: u16, bus_start: u8, bus_end: u8) -> Ecam {
        Ecam { base, segment, bus_start, bus_end, buses: SpinLockIrq::new(BTreeMap::new()) }
    }

    fn with_bus<R>(&self, bus: u8, f: impl FnOnce(&IoMem) -> R) -> Option<R> {
        if bus < self.bus_start || bus > self.bus_end {
            return None;
        }
        let mut buses = self.buses.lock();
        if let alloc::collections::btree_map::Entry::Vacant(slot) = buses.entry(bus) {
            let phys = self.base + u64::from(bus - self.bus_start) * ECAM_BUS_SIZE;
            match ioremap(phys, ECAM_BUS_SIZE) {
                Ok(m) => {
                    slot.insert(m);
                }
                Err(e) => {
                    log::error!("pci: cannot map ECAM for bus {bus}: {e}");
                    return None;
                }
            }
        }
        buses.get(&bus).map(f)
    }
}

impl ConfigAccess for Ecam {
    fn read32(&self, addr: Bdf, offset: u16) -> u32 {
        if addr.segment != self.segment {
            return ABSENT;
        }
        let at = ecam_offset(0, addr.device, addr.function, offset) as usize;
        self.with_bus(addr.bus, |m| m.read_u32(at).unwrap_or(ABSENT)).unwrap_or(ABSENT)
    }

    fn write32(&self, addr: Bdf, offset: u16, value: u32) {
        if addr.segment != self.segment {
            return;
        }
        let at = ecam_offset(0, addr.device, addr.function, offset) as usize;
        self.with_bus(addr.bus, |m| m.write_u32(at, value));
    }
}

pub struct Legacy {
    ports: SpinLockIrq<PortWindow>,
}

impl Legacy {
    pub fn new() -> Legacy {
        // SAFETY: 0xCF8–0xCFF are the configuration mechanism #1 ports on
        // every PC; only this object touches them.
        Legacy { ports: SpinLockIrq::new(unsafe { PortWindow::new(0xcf8, 8) }) }
    }
}

impl ConfigAccess for Legacy {
    fn read32(&self, addr: Bdf, offset: u16) -> u32 {
        if offset >= 256 || addr.segment != 0 {
            return ABSENT;
        }
        let ports = self.ports.lock();
        let _ = ports.write_u32(CF8_ADDRESS, legacy_address(addr, offset));
        ports.read_u32(CFC_DATA).unwrap_or(ABSENT)
    }

    fn write32(&self, addr: Bdf, offset: u16, value: u32) {
        if offset >= 256 || addr.segment != 0 {
            return;
        }
        let ports = self.ports.lock();
        let _ = ports.write_u32(CF8_ADDRESS, legacy_address(addr, offset));
        let _ = ports.write_u32(CFC_DATA, value);
    }
}
