//! In-kernel tests of the PCI core on the standard machine's real devices.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, Ordering};

use hal::irq::IrqReturn;

use super::config::Legacy;
use super::irq::IrqKind;
use super::{access, devices, driver, PciDevice, PciError};
use crate::devices::edu;
use crate::ktest::util::wait_until;
use crate::{check, check_eq, ktest};

fn err(e: impl core::fmt::Display) -> alloc::string::String {
    alloc::format!("{e}")
}

fn find(vendor: u16, device: u16) -> Result<Arc<PciDevice>, alloc::string::String> {
    devices()
        .into_iter()
        .find(|d| d.info.vendor == vendor && d.info.device == device)
        .ok_or_else(|| alloc::format!("no {vendor:04x}:{device:04x} on this machine"))
}

ktest! {
    fn ecam_and_mechanism_1_read_the_same_headers() {
        let legacy = Legacy::new();
        let mut compared = 0;
        for dev in devices() {
            for offset in (0..64u16).step_by(4) {
                let (a, b) = (access().read32(dev.bdf(), offset), pci::config::ConfigAccess::read32(&legacy, dev.bdf(), offset));
                check!(a == b, "{} offset {offset:#x}: ECAM {a:#x} vs CF8 {b:#x}", dev.bdf());
                compared += 1;
            }
        }
        check!(compared >= 16 * 5, "too few functions compared: {compared}");
    }

    fn a_second_driver_cannot_map_a_claimed_bar() {
        let dev = find(0x1234, 0x11e8)?;
        check_eq!(dev.driver_name(), Some("edu"));
        let second = dev.map_bar(0, "intruder");
        check!(matches!(second, Err(PciError::Resource(_))), "second claim of edu's BAR0 accepted");
    }

    fn edu_factorial_and_dma_by_msi_and_by_intx() {
        let dev = edu::first().ok_or("edu not bound")?;
        for kind in [IrqKind::Msi, IrqKind::Intx] {
            check_eq!(dev.set_mode(&[kind]).map_err(err)?, kind);
            let before = dev.stats().interrupts;
            check_eq!(dev.factorial(10)?, 3_628_800);
            check_eq!(dev.factorial(12)?, 479_001_600);
            let data: alloc::vec::Vec<u8> = (0..1000u32).map(|i| (i * 13 + 1) as u8).collect();
            check_eq!(dev.dma_round_trip(&data)?, data);
            check!(dev.stats().interrupts >= before + 4, "{kind:?}: interrupts {} -> {}", before, dev.stats().interrupts);
        }
        dev.set_mode(&[IrqKind::Msi]).map_err(err)?;
    }

    fn probe_remove_reprobe_leaks_nothing() {
        let pci = find(0x1234, 0x11e8)?;
        let snapshot = || {
            (
                crate::mm::ioremap::LIVE_MAPPINGS.load(Ordering::SeqCst),
                crate::dma::STATS.live_mappings.load(Ordering::SeqCst),
                crate::irq::vectors_available(),
            )
        };
        let bound = snapshot();
        check!(driver::unbind(&pci), "edu was not bound");
        let unbound = snapshot();
        check_eq!(pci.driver_name(), None);
        check_eq!(unbound.0, bound.0 - 1); // BAR0 mapping
        check_eq!(unbound.1, bound.1 - 2); // two DMA buffers
        check_eq!(unbound.2, bound.2 + 1); // one vector
        check_eq!(pci.command() & pci::config::regs::command::BUS_MASTER, 0);
        driver::bind_all();
        check_eq!(pci.driver_name(), Some("edu"));
        check_eq!(snapshot(), bound);
        check_eq!(edu::first().ok_or("edu not rebound")?.factorial(5)?, 120);
    }

    fn a_driver_registered_after_enumeration_still_binds() {
        // The NVMe controller has no driver yet: a test driver that appears
        // after the scan must find it, and unregistering must unbind it.
        static PROBED: AtomicU32 = AtomicU32::new(0);
        fn probe(_: &Arc<PciDevice>) -> Result<driver::Instance, PciError> {
            PROBED.fetch_add(1, Ordering::SeqCst);
            Ok(alloc::boxed::Box::new(()))
        }
        static IDS: [pci::id::PciDeviceId; 1] = [pci::id::PciDeviceId::class(0x01_08_02, 0xff_ff_ff)];
        static LATE: driver::PciDriver = driver::PciDriver { name: "late-nvme", id_table: &IDS, probe, remove: None };
        let nvme = find(0x1b36, 0x0010)?;
        check_eq!(nvme.driver_name(), None);
        driver::register(&LATE);
        check_eq!(nvme.driver_name(), Some("late-nvme"));
        check!(PROBED.load(Ordering::SeqCst) >= 1);
        driver::unregister(&LATE);
        check_eq!(nvme.driver_name(), None);
        check!(devices().iter().any(|d| d.bdf() == nvme.bdf()), "an unbound function must stay listed");
    }

    fn msix_vectors_are_programmed_masked_and_unmasked() {
        // The NVMe controller (no driver yet) has an MSI-X table in BAR0.
        let dev = find(0x1b36, 0x0010)?;
        static CALLS: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];
        let free = crate::irq::vectors_available();
        let irqs = dev
            .alloc_irq_vectors(2, 4, &[IrqKind::MsiX], "test-msix", |i| {
                CALLS[i].fetch_add(1, Ordering::SeqCst);
                IrqReturn::Handled
            })
            .map_err(err)?;
        check_eq!(irqs.kind(), IrqKind::MsiX);
        check!(irqs.count() >= 2);
        check_eq!(irqs.is_masked(1), Some(false));
        irqs.mask(1).map_err(err)?;
        check_eq!(irqs.is_masked(1), Some(true));
        check_eq!(irqs.is_masked(0), Some(false));
        irqs.unmask(1).map_err(err)?;
        check_eq!(irqs.is_masked(1), Some(false));
        irqs.raise_for_test(1).map_err(err)?;
        check!(wait_until(1000, || CALLS[1].load(Ordering::SeqCst) == 1), "vector 1 not dispatched to handler 1");
        check_eq!(CALLS[0].load(Ordering::SeqCst), 0);
        let n = irqs.count();
        check_eq!(crate::irq::vectors_available(), free - n);
        drop(irqs);
        check_eq!(crate::irq::vectors_available(), free);
        let cap = pci::msi::MsixCap::find(access(), dev.bdf()).map_err(err)?.ok_or("MSI-X vanished")?;
        check!(!cap.is_enabled(access(), dev.bdf()), "MSI-X still enabled after release");
    }
}
