//! Machines for the tests, built on `pci::sim`.
//!
//! `q35_like` is shaped like the standard test machine under QEMU's q35:
//! host bridge, e1000, two PCIe root ports (one leading to a PCI-PCI bridge
//! with two devices behind it, one to an NVMe controller), and the ICH9
//! multi-function device at slot 31. BAR sizes follow what QEMU gives those
//! devices, plus a 16 MiB prefetchable BAR so that alignment padding matters.
//!
//! Expected values in the tests are written out by hand from the specs; the
//! model only supplies a machine.

// Each test file uses only some of the helpers.
#![allow(dead_code)]

use pci::sim::{SimBar, SimFunction, SimPci};
use pci::IntxPin;

pub const HOST_BRIDGE: (u16, u16) = (0x8086, 0x29c0);
pub const E1000: (u16, u16) = (0x8086, 0x100e);
pub const ROOT_PORT: (u16, u16) = (0x1b36, 0x000c);
pub const PCI_BRIDGE: (u16, u16) = (0x1b36, 0x0001);
pub const VIRTIO_BLK: (u16, u16) = (0x1af4, 0x1001);
pub const EDU: (u16, u16) = (0x1234, 0x11e8);
pub const NVME: (u16, u16) = (0x1b36, 0x0010);
pub const VGA: (u16, u16) = (0x1234, 0x1111);
pub const LPC: (u16, u16) = (0x8086, 0x2918);
pub const AHCI: (u16, u16) = (0x8086, 0x2922);
pub const SMBUS: (u16, u16) = (0x8086, 0x2930);

pub fn host_bridge() -> SimFunction {
    SimFunction::endpoint(HOST_BRIDGE.0, HOST_BRIDGE.1).class(0x06, 0x00, 0x00)
}

pub fn e1000() -> SimFunction {
    SimFunction::endpoint(E1000.0, E1000.1)
        .class(0x02, 0x00, 0x00)
        .revision(0x03)
        .subsystem(0x1af4, 0x1100)
        .interrupt_pin(IntxPin::A)
        .bar(0, SimBar::mem32(0x2_0000))
        .bar(1, SimBar::io(0x40))
}

pub fn virtio_blk() -> SimFunction {
    SimFunction::endpoint(VIRTIO_BLK.0, VIRTIO_BLK.1)
        .class(0x01, 0x00, 0x00)
        .subsystem(0x1af4, 0x0002)
        .interrupt_pin(IntxPin::A)
        .bar(0, SimBar::io(0x80))
        .bar(1, SimBar::mem32(0x1000))
        .bar(4, SimBar::mem64_prefetchable(0x4000))
        .msix(2, 1, 0, 1, 0x800)
}

pub fn edu() -> SimFunction {
    SimFunction::endpoint(EDU.0, EDU.1)
        .class(0x00, 0xff, 0x00)
        .revision(0x10)
        .interrupt_pin(IntxPin::A)
        .bar(0, SimBar::mem32(0x10_0000))
        .msi(0, false, false)
}

pub fn vga() -> SimFunction {
    SimFunction::endpoint(VGA.0, VGA.1)
        .class(0x03, 0x00, 0x00)
        .revision(0x02)
        .bar(0, SimBar::mem32_prefetchable(0x100_0000))
        .bar(2, SimBar::mem32(0x1000))
}

pub fn nvme() -> SimFunction {
    SimFunction::endpoint(NVME.0, NVME.1)
        .class(0x01, 0x08, 0x02)
        .revision(0x02)
        .interrupt_pin(IntxPin::A)
        .bar(0, SimBar::mem64(0x4000))
        .pcie(0x0)
        .msix(64, 0, 0x2000, 0, 0x3000)
        .ext_capability(0x0001, 2, 0x48)
}

pub fn lpc() -> SimFunction {
    SimFunction::endpoint(LPC.0, LPC.1).class(0x06, 0x01, 0x00).revision(0x02).multi_function()
}

pub fn ahci() -> SimFunction {
    SimFunction::endpoint(AHCI.0, AHCI.1)
        .class(0x01, 0x06, 0x01)
        .revision(0x02)
        .interrupt_pin(IntxPin::A)
        .bar(4, SimBar::io(0x20))
        .bar(5, SimBar::mem32(0x1000))
        .msi(0, true, false)
}

pub fn smbus() -> SimFunction {
    SimFunction::endpoint(SMBUS.0, SMBUS.1)
        .class(0x0c, 0x05, 0x00)
        .revision(0x02)
        .interrupt_pin(IntxPin::A)
        .bar(4, SimBar::io(0x40))
}

/// The q35-like machine. With `firmware`, the bridges carry the bus numbers
/// SeaBIOS would give them (root port 02.0: 0/1/2, the PCI bridge behind it:
/// 1/2/2, root port 03.0: 0/3/3); without, everything is 0/0/0 as qboot
/// leaves it. BARs are never assigned (qboot).
///
/// ```text
/// bus 0: 00.0 host bridge   01.0 e1000   02.0 root port ─┐   03.0 root port ─┐   1f.0 LPC  1f.2 AHCI  1f.3 SMBus
/// bus 1:  00.0 PCI bridge ─┐                           ◀─┘                   │
/// bus 2:   01.0 virtio-blk  02.0 edu  03.0 VGA       ◀─┘                     │
/// bus 3:  00.0 NVMe                                                        ◀─┘
/// ```
pub fn q35_like(firmware: bool) -> SimPci {
    let numbers = |p, s, o| if firmware { (p, s, o) } else { (0, 0, 0) };
    let (p, s, o) = numbers(0, 1, 2);
    let rp1 = SimFunction::pcie_root_port().bus_numbers(p, s, o).interrupt_pin(IntxPin::A);
    let (p, s, o) = numbers(1, 2, 2);
    // Probing empty slots behind a bridge latches "received master abort"
    // (bit 13) in its Secondary Status; writes of the dword at 0x1c must
    // not clear it.
    let br = SimFunction::qemu_pci_bridge().bus_numbers(p, s, o).interrupt_pin(IntxPin::A).poke8(0x1f, 0x20);
    let (p, s, o) = numbers(0, 3, 3);
    let rp2 = SimFunction::pcie_root_port().bus_numbers(p, s, o).interrupt_pin(IntxPin::A);
    SimPci::new()
        .device(0, 0, host_bridge())
        .device(1, 0, e1000())
        .bridge(2, 0, rp1, |bus| {
            bus.bridge(0, 0, br, |bus| bus.device(1, 0, virtio_blk()).device(2, 0, edu()).device(3, 0, vga()))
        })
        .bridge(3, 0, rp2, |bus| bus.device(0, 0, nvme()))
        .device(31, 0, lpc())
        .device(31, 2, ahci())
        .device(31, 3, smbus())
}
