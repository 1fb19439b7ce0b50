//! The IOAPIC: routes interrupt *wires* to CPUs.
//!
//! # Pins, GSIs and redirection entries
//!
//! An IOAPIC has a row of input pins (24 on the 82093AA and on QEMU's q35) to
//! which interrupt wires are connected: the ISA devices' IRQ lines and the PCI
//! INTx lines. A machine may have several IOAPICs, so ACPI's MADT numbers all
//! their pins in one space, the **global system interrupts**: an IOAPIC whose
//! MADT entry says "GSI base 24" owns GSIs 24, 25, …, one per pin. An
//! [`IoApic`] is created with its GSI base and answers only for its own GSIs
//! ([`IoApic::handles`]); asking it about another is an error, not a write to
//! some unrelated pin.
//!
//! Each pin has a 64-bit **redirection entry** ([`RedirectionEntry`]) saying
//! what an assertion of the pin turns into: the **vector** (which IDT entry
//! the CPU runs), the destination CPU (an APIC ID — changing it moves the
//! interrupt to another CPU, which is what IRQ affinity is), the delivery
//! mode, how the wire signals (edge or level, active high or low), and a mask
//! bit. ISA interrupts are edge-triggered and active high; PCI INTx lines are
//! level-triggered and active low, because several devices share one
//! open-drain wire and each holds it low until its driver services it. MADT
//! "interrupt source overrides" say where that default does not hold (q35:
//! IRQ 0 is GSI 2; IRQs 5, 9, 10, 11 are level, active high).
//!
//! # Programming an entry: high half first
//!
//! The entry is written through the 32-bit IOWIN in two halves, and the
//! IOAPIC acts on each write at once. The low half holds the mask bit, so
//! writing it is what arms the pin. [`IoApic::program`] therefore writes the
//! high half (the destination) first and the low half (vector, mode, mask)
//! last: the pin is armed only once the whole entry is in place, never with a
//! new vector aimed at the old CPU. If the pin is live (unmasked) when it is
//! reprogrammed, it is masked first, so no interrupt goes out while the two
//! halves disagree in either order. [`IoApic::set_destination`] changes only
//! the high half, and a single 32-bit write is atomic, so moving a live
//! interrupt to another CPU needs no masking.
//!
//! # End of interrupt
//!
//! An edge-triggered pin needs nothing from the IOAPIC after delivery. A
//! level-triggered pin does: when a local APIC accepts its message the IOAPIC
//! sets the entry's **Remote IRR** bit and sends nothing more from that pin
//! until Remote IRR is cleared — otherwise a line that stays asserted while
//! the handler runs would interrupt endlessly. Remote IRR is cleared by an EOI
//! for the entry's vector, which arrives in one of two ways:
//!
//! - **Broadcast** (every IOAPIC version): the handler writes its local APIC's
//!   EOI register; for a vector that arrived level-triggered the local APIC
//!   passes the EOI on to all IOAPICs. Nothing IOAPIC-specific is needed.
//!   If the device still holds the line (the driver did not clear the
//!   device's interrupt cause — the bug Hermit #1680 and xv6 PR #10 shipped),
//!   the pin fires again at once.
//! - **Directed** (version 0x20 and later): software writes the vector into
//!   the IOAPIC's own EOI register at offset 0x40. This exists for kernels
//!   that turn the broadcast off (SVR bit 12, "suppress EOI broadcast") to
//!   save bus traffic with many IOAPICs. The 82093AA (version 0x11) has no
//!   such register; a kernel suppressing the broadcast there must re-arm the
//!   pin by flipping it to edge-triggered and back.
//!
//! ioxide never suppresses the broadcast ([`LocalApic::enable`] clears SVR
//! bit 12), so the local APIC EOI is always enough and no masking trick is
//! ever needed. [`IoApic::eoi`] writes the EOI register where there is one (a
//! harmless second EOI) and does nothing on version 0x11. Both versions occur
//! under QEMU: its own IOAPIC model, which TCG uses, reports 0x20; KVM's
//! in-kernel IOAPIC reports 0x11.
//!
//! [`LocalApic::enable`]: crate::ApicOps::enable

pub mod regs;

use core::ops::Range;
use core::sync::atomic::{AtomicU64, Ordering};

use hal::RegisterWindow;

use crate::{check_vector, DeliveryMode, DestinationMode, Error, Polarity, Trigger};
use regs::rte;

/// One pin's redirection entry `[82093AA §3.2.4]`, without its two read-only
/// status bits (see [`IoApic::remote_irr`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RedirectionEntry {
    /// The IDT vector the CPU runs. Must be 32 or above for fixed and
    /// lowest-priority delivery; ignored by the other modes.
    pub vector: u8,
    /// How the message is delivered.
    pub delivery_mode: DeliveryMode,
    /// Whether [`destination`](Self::destination) is an APIC ID or a logical set.
    pub destination_mode: DestinationMode,
    /// Which pin level means "asserted".
    pub polarity: Polarity,
    /// Edge- or level-triggered.
    pub trigger: Trigger,
    /// Masked pins send nothing.
    pub masked: bool,
    /// The destination APIC ID (physical mode) or CPU set (logical mode).
    pub destination: u8,
}

impl RedirectionEntry {
    /// An unmasked entry delivering `vector` to the CPU with APIC ID
    /// `destination` (fixed delivery, physical destination).
    pub const fn fixed(vector: u8, destination: u8, trigger: Trigger, polarity: Polarity) -> Self {
        RedirectionEntry {
            vector,
            delivery_mode: DeliveryMode::Fixed,
            destination_mode: DestinationMode::Physical,
            polarity,
            trigger,
            masked: false,
            destination,
        }
    }

    /// The 64-bit register value (read-only and reserved bits zero).
    pub const fn encode(&self) -> u64 {
        let mut raw = self.vector as u64 & rte::VECTOR_MASK;
        raw |= (self.delivery_mode.bits() as u64) << rte::DELIVERY_MODE_SHIFT;
        if let DestinationMode::Logical = self.destination_mode {
            raw |= rte::DESTINATION_LOGICAL;
        }
        if let Polarity::ActiveLow = self.polarity {
            raw |= rte::ACTIVE_LOW;
        }
        if let Trigger::Level = self.trigger {
            raw |= rte::LEVEL;
        }
        if self.masked {
            raw |= rte::MASKED;
        }
        raw | ((self.destination as u64 & rte::DESTINATION_MASK) << rte::DESTINATION_SHIFT)
    }

    /// Decodes a 64-bit register value; read-only and reserved bits are
    /// ignored. Fails only on a reserved delivery mode.
    pub fn decode(raw: u64) -> Result<Self, Error> {
        let delivery_mode = DeliveryMode::from_bits((raw >> rte::DELIVERY_MODE_SHIFT) as u8)?;
        Ok(RedirectionEntry {
            vector: (raw & rte::VECTOR_MASK) as u8,
            delivery_mode,
            destination_mode: if raw & rte::DESTINATION_LOGICAL != 0 {
                DestinationMode::Logical
            } else {
                DestinationMode::Physical
            },
            polarity: if raw & rte::ACTIVE_LOW != 0 { Polarity::ActiveLow } else { Polarity::ActiveHigh },
            trigger: if raw & rte::LEVEL != 0 { Trigger::Level } else { Trigger::Edge },
            masked: raw & rte::MASKED != 0,
            destination: ((raw >> rte::DESTINATION_SHIFT) & rte::DESTINATION_MASK) as u8,
        })
    }
}

/// The low (IOREDTBL even register) half of an entry.
const fn low_half(raw: u64) -> u32 {
    raw as u32
}

/// The high (odd register) half of an entry.
const fn high_half(raw: u64) -> u32 {
    (raw >> rte::HIGH_HALF_SHIFT) as u32
}

/// The mask bit as it sits in the low half.
const LOW_MASKED: u32 = low_half(rte::MASKED);
/// The destination field as it sits in the high half.
const HIGH_DESTINATION_SHIFT: u32 = rte::DESTINATION_SHIFT - rte::HIGH_HALF_SHIFT;
const HIGH_DESTINATION_MASK: u32 = high_half(rte::DESTINATION_MASK << rte::DESTINATION_SHIFT);

/// One IOAPIC behind its register window.
///
/// Methods that touch the indirect registers take `&mut self` because the
/// IOREGSEL/IOWIN pair must not interleave with another CPU's (see
/// [`regs`]). [`eoi`](Self::eoi) uses a direct register and takes `&self`.
#[derive(Debug)]
pub struct IoApic<W> {
    window: W,
    gsi_base: u32,
    version: u8,
    pins: u32,
    directed_eois: AtomicU64,
}

impl<W: RegisterWindow> IoApic<W> {
    /// Takes over the IOAPIC behind `window` whose first pin is GSI
    /// `gsi_base` (from its MADT entry), reading its version and pin count.
    ///
    /// The window must cover [`regs::WINDOW_SIZE`] bytes, and
    /// [`regs::WINDOW_SIZE_WITH_EOI`] for [`eoi`](Self::eoi) on a version
    /// 0x20 IOAPIC (mapping the whole 4 KiB page covers both).
    pub fn new(window: W, gsi_base: u32) -> Result<Self, Error> {
        let size = window.size();
        if size < regs::WINDOW_SIZE {
            return Err(Error::WindowTooSmall { size, need: regs::WINDOW_SIZE });
        }
        window.write_u32(regs::IOREGSEL, regs::IOAPICVER)?;
        let ver = window.read_u32(regs::IOWIN)?;
        if ver == regs::ver::FLOATING_BUS {
            return Err(Error::NotPresent);
        }
        let version = (ver & regs::ver::VERSION_MASK) as u8;
        let max_entry = (ver >> regs::ver::MAX_REDIRECTION_SHIFT) & regs::ver::MAX_REDIRECTION_MASK;
        Ok(IoApic { window, gsi_base, version, pins: max_entry + 1, directed_eois: AtomicU64::new(0) })
    }

    /// The implementation version from IOAPICVER (0x11: 82093AA/KVM, 0x20: ICH/QEMU).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The number of input pins (redirection entries).
    pub fn pins(&self) -> u32 {
        self.pins
    }

    /// The GSI of pin 0.
    pub fn gsi_base(&self) -> u32 {
        self.gsi_base
    }

    /// The GSIs this IOAPIC handles.
    pub fn gsis(&self) -> Range<u32> {
        self.gsi_base..self.gsi_base.saturating_add(self.pins)
    }

    /// Whether `gsi` is one of this IOAPIC's pins.
    pub fn handles(&self, gsi: u32) -> bool {
        self.gsis().contains(&gsi)
    }

    /// Whether this IOAPIC has the directed-EOI register (version 0x20+).
    pub fn has_eoi_register(&self) -> bool {
        self.version >= regs::ver::FIRST_WITH_EOI_REGISTER
    }

    /// The IOAPIC's own APIC ID (IOAPICID bits 27:24).
    pub fn id(&mut self) -> Result<u8, Error> {
        let raw = self.read_indirect(regs::IOAPICID)?;
        Ok(((raw >> regs::id::SHIFT) & regs::id::MASK) as u8)
    }

    /// Writes `entry` into `gsi`'s redirection entry: high half first, low
    /// half (which arms or masks the pin as `entry.masked` says) last. A live
    /// pin is masked before either half changes (see the module docs).
    pub fn program(&mut self, gsi: u32, entry: RedirectionEntry) -> Result<(), Error> {
        let pin = self.pin(gsi)?;
        if entry.delivery_mode.uses_vector() {
            check_vector(entry.vector)?;
        }
        let current = self.read_indirect(regs::redtbl_low(pin))?;
        if current & LOW_MASKED == 0 {
            self.write_indirect(regs::redtbl_low(pin), current | LOW_MASKED)?;
        }
        let raw = entry.encode();
        self.write_indirect(regs::redtbl_high(pin), high_half(raw))?;
        self.write_indirect(regs::redtbl_low(pin), low_half(raw))
    }

    /// Reads `gsi`'s redirection entry.
    pub fn entry(&mut self, gsi: u32) -> Result<RedirectionEntry, Error> {
        let raw = self.read_raw(self.pin(gsi)?)?;
        RedirectionEntry::decode(raw)
    }

    /// Masks `gsi`: sets bit 16 and leaves the rest of the entry alone.
    pub fn mask(&mut self, gsi: u32) -> Result<(), Error> {
        let pin = self.pin(gsi)?;
        self.update_low(pin, |low| low | LOW_MASKED)
    }

    /// Unmasks `gsi`: clears bit 16 and leaves the rest of the entry alone.
    pub fn unmask(&mut self, gsi: u32) -> Result<(), Error> {
        let pin = self.pin(gsi)?;
        self.update_low(pin, |low| low & !LOW_MASKED)
    }

    /// Sends `gsi` to the CPU with APIC ID `apic_id` from now on (IRQ
    /// affinity). Writes only the high half, so it is safe on a live pin.
    pub fn set_destination(&mut self, gsi: u32, apic_id: u8) -> Result<(), Error> {
        let pin = self.pin(gsi)?;
        let high = self.read_indirect(regs::redtbl_high(pin))?;
        let high = (high & !HIGH_DESTINATION_MASK) | (u32::from(apic_id) << HIGH_DESTINATION_SHIFT);
        self.write_indirect(regs::redtbl_high(pin), high)
    }

    /// Masks every pin, leaving the rest of each entry as it was (firmware's
    /// settings stay readable). Pins already masked are not written.
    pub fn mask_all(&mut self) -> Result<(), Error> {
        for pin in 0..self.pins {
            let low = self.read_indirect(regs::redtbl_low(pin))?;
            if low & LOW_MASKED == 0 {
                self.write_indirect(regs::redtbl_low(pin), low | LOW_MASKED)?;
            }
        }
        Ok(())
    }

    /// Whether `gsi`'s Remote IRR bit is set: a level-triggered interrupt
    /// was accepted and its EOI has not arrived. Stuck at `true`, the pin is
    /// silent for good — the first thing to check when a device "stops
    /// interrupting".
    pub fn remote_irr(&mut self, gsi: u32) -> Result<bool, Error> {
        let pin = self.pin(gsi)?;
        Ok(u64::from(self.read_indirect(regs::redtbl_low(pin))?) & rte::REMOTE_IRR != 0)
    }

    /// Directed EOI for `vector`: on a version 0x20+ IOAPIC writes the EOI
    /// register (clearing Remote IRR of level-triggered entries with this
    /// vector) and returns `true`; on older IOAPICs does nothing and returns
    /// `false`, the local APIC's EOI broadcast being what re-arms their pins
    /// (see the module docs). Never a substitute for the local APIC EOI.
    pub fn eoi(&self, vector: u8) -> Result<bool, Error> {
        if !self.has_eoi_register() {
            return Ok(false);
        }
        self.window.write_u32(regs::EOI, u32::from(vector))?;
        self.directed_eois.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// How many directed EOIs [`eoi`](Self::eoi) has written.
    pub fn directed_eois(&self) -> u64 {
        self.directed_eois.load(Ordering::Relaxed)
    }

    /// The register window (e.g. for its access counters).
    pub fn window(&self) -> &W {
        &self.window
    }

    /// The pin number of `gsi`, if this IOAPIC has it.
    fn pin(&self, gsi: u32) -> Result<u32, Error> {
        if self.handles(gsi) {
            Ok(gsi - self.gsi_base)
        } else {
            Err(Error::GsiOutOfRange { gsi, base: self.gsi_base, pins: self.pins })
        }
    }

    fn read_raw(&mut self, pin: u32) -> Result<u64, Error> {
        let low = self.read_indirect(regs::redtbl_low(pin))?;
        let high = self.read_indirect(regs::redtbl_high(pin))?;
        Ok(u64::from(high) << rte::HIGH_HALF_SHIFT | u64::from(low))
    }

    fn update_low(&mut self, pin: u32, f: impl FnOnce(u32) -> u32) -> Result<(), Error> {
        let low = self.read_indirect(regs::redtbl_low(pin))?;
        self.write_indirect(regs::redtbl_low(pin), f(low))
    }

    fn read_indirect(&mut self, index: u32) -> Result<u32, Error> {
        self.window.write_u32(regs::IOREGSEL, index)?;
        Ok(self.window.read_u32(regs::IOWIN)?)
    }

    fn write_indirect(&mut self, index: u32, value: u32) -> Result<(), Error> {
        self.window.write_u32(regs::IOREGSEL, index)?;
        Ok(self.window.write_u32(regs::IOWIN, value)?)
    }
}
