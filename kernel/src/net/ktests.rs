//! In-kernel tests of the NIC glue on the machine's two real NICs:
//! unbinding releases everything the driver held and rebinding brings the
//! interface back under the same name.

use core::sync::atomic::Ordering;

use super::{device, stack};
use crate::bus::pci::{devices, driver};
use crate::{check, check_eq, ktest};

/// Unbinds the function `driver_name` drives, checks that its interface,
/// stack, vectors and DMA memory are gone, rebinds it and checks they are back.
fn unbind_and_rebind(driver_name: &str, iface: &str) -> crate::ktest::TestResult {
    let pci = devices().into_iter().find(|d| d.driver_name() == Some(driver_name)).ok_or("driver not bound")?;
    check!(device::by_name(iface).is_some());
    let dma_live = || crate::dma::STATS.live_mappings.load(Ordering::SeqCst);
    let (dma_before, vectors_before) = (dma_live(), crate::irq::vectors_available());
    check!(driver::unbind(&pci));
    check!(device::by_name(iface).is_none(), "{iface} is still registered");
    check!(stack::for_device(iface).is_none(), "{iface}'s stack is still attached");
    check!(crate::irq::vectors_available() > vectors_before, "{driver_name}: vectors not freed");
    check!(dma_live() < dma_before, "{driver_name}: DMA memory not freed ({} -> {})", dma_before, dma_live());
    driver::bind_all();
    check_eq!(pci.driver_name(), Some(driver_name));
    let dev = device::by_name(iface).ok_or("the interface did not come back under its name")?;
    check!(stack::for_device(iface).is_some());
    check!(dev.driver.link_up());
    check_eq!(crate::irq::vectors_available(), vectors_before);
    check_eq!(dma_live(), dma_before);
    Ok(())
}

ktest! {
    fn virtio_net_unbind_releases_everything_and_rebind_restores_eth1() {
        unbind_and_rebind("virtio-net", "eth1")?;
    }

    fn e1000_unbind_releases_everything_and_rebind_restores_eth0() {
        unbind_and_rebind("e1000", "eth0")?;
    }
}
