//! INTx routing: which IOAPIC input a PCI interrupt wire ends up on, on q35.
//!
//! # Pins, the swizzle, and the root bus
//!
//! A conventional PCI slot has four interrupt wires, INTA#–INTD#; a
//! function's Interrupt Pin register says which one it drives (most use
//! INTA). The wires are level-triggered, active low and shared.
//!
//! Behind a PCI-to-PCI bridge, the bridge spec (PPB 1.2 §9.1, table 9-1)
//! rotates ("swizzles") the wires so that the many single-function devices
//! that all use INTA are spread over the four lines of the bridge's own
//! slot: device *d*'s pin *p* becomes the bridge's pin
//!
//! ```text
//!     ((p − 1) + d) mod 4 + 1          (pins numbered 1–4 = A–D)
//! ```
//!
//! ([`swizzle`]). PCIe root and switch ports follow the same rule for the
//! virtual wires they carry as messages, and QEMU's bridges use it too
//! (`hw/pci/pci_bridge.c` installs `pci_swizzle_map_irq_fn` on every
//! secondary bus). Applying it at each bridge on the way up
//! ([`route_to_root`]) gives a (device, pin) pair on the root bus, which is
//! where the chipset's routing takes over.
//!
//! # q35: PIRQ A–H and GSIs 16–23
//!
//! On q35 the ICH9 LPC bridge (device 31 function 0) owns eight interrupt
//! routers, PIRQA–PIRQH. Which PIRQ a root-bus (device, pin) drives is
//! decided by QEMU in `hw/isa/lpc_ich9.c`:
//!
//! - `ich9_cc_init()` sets, for every slot, pin *i* (0–3 for A–D) → PIRQ
//!   `(slot + i) mod 4 + 4`, i.e. only PIRQE–H, "avoid pirq A-D because they
//!   are used for pci express port";
//! - `ich9_cc_update()` then overrides slots 25–29 and 31 from the chipset's
//!   D25IR–D31IR registers, whose reset value (`ICH9_CC_DIR_DEFAULT` =
//!   0x3210 in `include/hw/southbridge/ich9.h`, one nibble per pin) maps
//!   INTA–INTD to PIRQA–PIRQD; slot 30 (the DMI-to-PCI bridge) is fixed at
//!   pin *i* → PIRQ `i + 4` (E–H);
//! - in APIC mode `ich9_pirq_to_gsi()` is `pirq + 16`: PIRQA–H are IOAPIC
//!   inputs (GSIs) 16–23, one each, never shared with ISA interrupts.
//!
//! QEMU's ACPI tables (`_PRT`) describe the same mapping, so [`q35_gsi`]
//! agrees with what Linux computes from ACPI. It holds as long as firmware
//! leaves the D*IR registers at their reset values (SeaBIOS and qboot do).
//! Examples: the edu device in slot 3 asserts INTA → PIRQ (3 + 0) mod 4 + 4
//! = 7 (H) → GSI 23. An NVMe controller (device 0) behind a root port in
//! slot 1 asserts INTA → swizzle(0, A) = INTA at the port → PIRQ
//! (1 + 0) mod 4 + 4 = 5 (F) → GSI 21.
//!
//! The same PIRQs can alternatively be steered to the 8259 (PIRQx_ROUT
//! registers, GSIs 10/11 under SeaBIOS, see DESIGN.md); ioxide uses the
//! IOAPIC route.

use crate::enumerate::Topology;
use crate::header::IntxPin;

/// The first GSI of the PIRQs in APIC mode (`ICH9_LPC_PIC_NUM_PINS`).
pub const Q35_PIRQ_GSI_BASE: u32 = 16;
/// Number of PIRQ routers (`ICH9_LPC_NB_PIRQS`): A–H.
pub const Q35_PIRQS: u8 = 8;
/// Slots whose routing comes from the D25IR–D31IR registers
/// (`ich9_cc_update()`), except [`Q35_D30_SLOT`].
pub const Q35_DIR_SLOTS: core::ops::RangeInclusive<u8> = 25..=31;
/// The DMI-to-PCI bridge's slot, hardwired to PIRQE–H.
pub const Q35_D30_SLOT: u8 = 30;
/// D25IR–D31IR reset value: nibble *i* is the PIRQ of pin *i*
/// (`ICH9_CC_DIR_DEFAULT`).
pub const Q35_DIR_DEFAULT: u16 = 0x3210;
/// D*IR fields are 4 bits apart (`ICH9_CC_DIR_SHIFT`)…
pub const Q35_DIR_SHIFT: u32 = 4;
/// …and 3 bits wide (`ICH9_CC_DIR_MASK`).
pub const Q35_DIR_MASK: u16 = 0x7;
/// Slots outside D25–D31 use PIRQE–H (`ich9_cc_init()`).
pub const Q35_SLOT_PIRQ_BASE: u8 = 4;

/// The pin a bridge sees on its primary side when device `device_slot` on
/// its secondary bus asserts `pin` (PPB 1.2 §9.1, table 9-1).
pub const fn swizzle(device_slot: u8, pin: IntxPin) -> IntxPin {
    IntxPin::from_index((pin.index() + device_slot % 4) % 4)
}

/// The PIRQ (0–7 = A–H) that root-bus device `root_device` drives with
/// `pin` on a q35 machine with the chipset's default routing (module docs).
pub const fn q35_pirq(root_device: u8, pin: IntxPin) -> u8 {
    let slot = root_device % 32;
    let intx = pin.index();
    if slot == Q35_D30_SLOT {
        intx + Q35_SLOT_PIRQ_BASE
    } else if slot >= *Q35_DIR_SLOTS.start() {
        ((Q35_DIR_DEFAULT >> (intx as u32 * Q35_DIR_SHIFT)) & Q35_DIR_MASK) as u8
    } else {
        (slot + intx) % 4 + Q35_SLOT_PIRQ_BASE
    }
}

/// The GSI (IOAPIC input) that root-bus device `root_bus_device`'s pin
/// `pin_at_root` reaches on q35: `16 + PIRQ` (module docs).
pub const fn q35_gsi(root_bus_device: u8, pin_at_root: IntxPin) -> u32 {
    Q35_PIRQ_GSI_BASE + q35_pirq(root_bus_device, pin_at_root) as u32
}

/// Where the interrupt of function `function` (an index into
/// [`Topology::functions`]) arrives on the root bus: the device number of
/// its root-bus ancestor and the pin after swizzling through every bridge on
/// the way up. `None` if the function has no interrupt pin.
///
/// Bounded by the topology's depth (each step moves to a parent bridge,
/// whose index is smaller).
pub fn route_to_root(topology: &Topology, function: usize) -> Option<(u8, IntxPin)> {
    let f = topology.functions.get(function)?;
    let mut pin = f.info.interrupt_pin?;
    let mut device = f.info.bdf.device;
    let mut parent = f.parent;
    let mut steps = 0;
    while let Some(b) = parent {
        let bridge = topology.bridges.get(b)?;
        if steps > topology.bridges.len() {
            // A corrupt topology with a parent cycle; cannot happen for one
            // built by `scan`.
            return None;
        }
        steps += 1;
        pin = swizzle(device, pin);
        device = bridge.bdf.device;
        parent = bridge.parent;
    }
    Some((device, pin))
}

/// The q35 GSI of function `function`'s INTx ([`route_to_root`] then
/// [`q35_gsi`]), or `None` if it has no interrupt pin.
pub fn q35_gsi_for(topology: &Topology, function: usize) -> Option<u32> {
    route_to_root(topology, function).map(|(device, pin)| q35_gsi(device, pin))
}
