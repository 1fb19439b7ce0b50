//! The common header: who a function is.
//!
//! # What the first 64 bytes say
//!
//! Reading a handful of registers tells software everything it needs to pick
//! a driver (PCI 3.0 §6.2.1, §6.2.4):
//!
//! - **Vendor and Device ID** name the chip. 0xffff as vendor means nobody
//!   answered: the function does not exist.
//! - **Subsystem Vendor and Subsystem ID** name the board built around it
//!   (virtio devices put the virtio device type in the subsystem ID).
//! - **Class code** (base class, sub-class, programming interface) says what
//!   kind of function it is, independently of who made it: 0x02/0x00 is an
//!   Ethernet controller, 0x01/0x08/0x02 an NVMe controller. Class drivers
//!   match on it ([`id`](crate::id)).
//! - **Header Type** says how the rest of the header is laid out (type 0
//!   endpoint, type 1 PCI-to-PCI bridge, type 2 CardBus bridge) and, in bit
//!   7, whether the *device* has further functions — so enumeration must
//!   probe functions 1–7 only when function 0 sets it.
//! - **Interrupt Pin** says which INTx wire (A–D) the function drives, and
//!   **Interrupt Line** is a scratch byte where firmware records which IRQ
//!   that wire reaches (the hardware ignores it; see [`intx`](crate::intx)).
//!
//! [`read_function`] turns these into a [`FunctionInfo`], and [`names`]
//! gives the strings `lspci` prints for the devices QEMU's q35 offers
//! ([`FunctionInfo::lspci`]).

pub mod names;

use core::fmt;

use crate::caps;
use crate::config::regs;
use crate::config::{Bdf, ConfigAccess};

/// A 24-bit class code `[PCI 3.0 §6.2.1, appendix D]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ClassCode {
    /// Base class (byte 0x0b): 0x01 storage, 0x02 network, 0x06 bridge…
    pub base: u8,
    /// Sub-class (byte 0x0a).
    pub sub: u8,
    /// Programming interface (byte 0x09): the register-level interface, e.g.
    /// 0x01/0x06/0x01 is a SATA controller speaking AHCI.
    pub prog_if: u8,
}

impl ClassCode {
    /// The class code from its 24-bit form `0xBBSSPP`.
    pub const fn from_u32(code: u32) -> Self {
        ClassCode { base: (code >> 16) as u8, sub: (code >> 8) as u8, prog_if: code as u8 }
    }

    /// The 24-bit form `0xBBSSPP` (what Linux's `pci_device_id.class` holds).
    pub const fn as_u32(&self) -> u32 {
        (self.base as u32) << 16 | (self.sub as u32) << 8 | self.prog_if as u32
    }

    /// Base class and sub-class as `0xBBSS` (what `lspci -nn` prints).
    pub const fn base_sub(&self) -> u16 {
        (self.base as u16) << 8 | self.sub as u16
    }

    /// The `lspci` name of the class ([`names::class_name`]).
    pub fn name(&self) -> &'static str {
        names::class_name(*self)
    }
}

/// The header layout, from Header Type bits 6:0 `[PCI 3.0 §6.2.1]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderType {
    /// Type 0: an ordinary function with six BARs.
    Endpoint,
    /// Type 1: a PCI-to-PCI bridge (also PCIe root and switch ports), with
    /// bus numbers and address windows `[PPB 1.2 §3.2]`.
    PciBridge,
    /// Type 2: a CardBus bridge.
    CardBus,
    /// A reserved layout; nothing past byte 0x0f can be interpreted.
    Unknown(u8),
}

impl HeaderType {
    /// Decodes Header Type bits 6:0 (bit 7, multi-function, is ignored).
    pub const fn from_register(raw: u8) -> Self {
        match raw & regs::header_type::LAYOUT_MASK {
            regs::header_type::ENDPOINT => HeaderType::Endpoint,
            regs::header_type::PCI_BRIDGE => HeaderType::PciBridge,
            regs::header_type::CARDBUS_BRIDGE => HeaderType::CardBus,
            other => HeaderType::Unknown(other),
        }
    }

    /// How many BARs this layout has: 6, 2, 1, or 0 for an unknown layout.
    pub const fn bar_count(self) -> usize {
        match self {
            HeaderType::Endpoint => regs::TYPE0_BAR_COUNT,
            HeaderType::PciBridge => regs::TYPE1_BAR_COUNT,
            HeaderType::CardBus => regs::cardbus::BAR_COUNT,
            HeaderType::Unknown(_) => 0,
        }
    }
}

/// One of the four INTx wires of a PCI slot `[PCI 3.0 §2.2.6]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IntxPin {
    /// INTA#: what every single-function device uses.
    A,
    /// INTB#.
    B,
    /// INTC#.
    C,
    /// INTD#.
    D,
}

impl IntxPin {
    /// All four, in order.
    pub const ALL: [IntxPin; 4] = [IntxPin::A, IntxPin::B, IntxPin::C, IntxPin::D];

    /// Decodes the Interrupt Pin register: 1–4 are INTA–INTD; 0 means the
    /// function uses no INTx pin, and 5–255 are reserved (also `None`).
    pub const fn from_register(raw: u8) -> Option<Self> {
        match raw {
            1 => Some(IntxPin::A),
            2 => Some(IntxPin::B),
            3 => Some(IntxPin::C),
            4 => Some(IntxPin::D),
            _ => None,
        }
    }

    /// The register encoding, 1–4.
    pub const fn number(self) -> u8 {
        self.index() + 1
    }

    /// 0–3 for A–D (what QEMU calls `intx`).
    pub const fn index(self) -> u8 {
        match self {
            IntxPin::A => 0,
            IntxPin::B => 1,
            IntxPin::C => 2,
            IntxPin::D => 3,
        }
    }

    /// The pin with index `index % 4`.
    pub const fn from_index(index: u8) -> Self {
        Self::ALL[(index % 4) as usize]
    }
}

impl fmt::Display for IntxPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = match self {
            IntxPin::A => 'A',
            IntxPin::B => 'B',
            IntxPin::C => 'C',
            IntxPin::D => 'D',
        };
        write!(f, "INT{c}")
    }
}

/// What the header says about one function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FunctionInfo {
    /// Where it is.
    pub bdf: Bdf,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Subsystem Vendor ID: from the type 0 header, the CardBus header, or a
    /// type 1 header's Bridge Subsystem Vendor ID capability; 0 if none.
    pub subsystem_vendor: u16,
    /// Subsystem ID (same sources).
    pub subsystem_device: u16,
    /// Revision ID.
    pub revision: u8,
    /// Class code.
    pub class: ClassCode,
    /// Header layout.
    pub header_type: HeaderType,
    /// Header Type bit 7 (meaningful in function 0).
    pub multi_function: bool,
    /// The INTx pin the function drives, if any.
    pub interrupt_pin: Option<IntxPin>,
    /// The Interrupt Line byte (firmware's note of the IRQ; 0xff = unknown).
    pub interrupt_line: u8,
}

impl FunctionInfo {
    /// Whether the function is a PCI-to-PCI bridge (type 1 header).
    pub const fn is_bridge(&self) -> bool {
        matches!(self.header_type, HeaderType::PciBridge)
    }

    /// The vendor's name, if [`names`] knows it.
    pub fn vendor_name(&self) -> Option<&'static str> {
        names::vendor_name(self.vendor)
    }

    /// The device's name, if [`names`] knows it.
    pub fn device_name(&self) -> Option<&'static str> {
        names::device_name(self.vendor, self.device)
    }

    /// A line in the style of `lspci -nn`:
    /// `00:02.0 Ethernet controller [0200]: Intel Corporation 82540EM Gigabit
    /// Ethernet Controller [8086:100e] (rev 03)`. The segment is printed
    /// only when it is not 0, as `lspci` does.
    pub fn lspci(&self) -> Lspci<'_> {
        Lspci(self)
    }
}

/// [`FunctionInfo::lspci`]'s display adapter.
pub struct Lspci<'a>(&'a FunctionInfo);

impl fmt::Display for Lspci<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.0;
        if info.bdf.segment != 0 {
            write!(f, "{:04x}:", info.bdf.segment)?;
        }
        write!(f, "{} {} [{:04x}]: ", info.bdf.short(), info.class.name(), info.class.base_sub())?;
        match info.vendor_name() {
            Some(v) => write!(f, "{v} ")?,
            None => write!(f, "Vendor {:04x} ", info.vendor)?,
        }
        match info.device_name() {
            Some(d) => write!(f, "{d} ")?,
            None => write!(f, "Device {:04x} ", info.device)?,
        }
        write!(f, "[{:04x}:{:04x}]", info.vendor, info.device)?;
        if info.revision != 0 {
            write!(f, " (rev {:02x})", info.revision)?;
        }
        Ok(())
    }
}

/// Reads the header of the function at `bdf`, or `None` if no function
/// answers there.
///
/// Reads five dwords (vendor/device, class/revision, header type, interrupt,
/// subsystem) and, for a type 1 header, walks the capability list for the
/// Bridge Subsystem Vendor ID capability (a broken list just leaves the
/// subsystem at 0). No writes.
pub fn read_function(access: &dyn ConfigAccess, bdf: Bdf) -> Option<FunctionInfo> {
    let id = access.read32(bdf, regs::VENDOR_ID);
    let vendor = id as u16;
    if matches!(vendor, 0xffff | 0x0000) {
        return None;
    }
    let class_rev = access.read32(bdf, regs::REVISION_ID);
    let raw_type = access.read8(bdf, regs::HEADER_TYPE);
    let header_type = HeaderType::from_register(raw_type);
    let interrupt = access.read16(bdf, regs::INTERRUPT_LINE);
    let (subsystem_vendor, subsystem_device) = match header_type {
        HeaderType::Endpoint => {
            let s = access.read32(bdf, regs::SUBSYSTEM_VENDOR_ID);
            (s as u16, (s >> 16) as u16)
        }
        HeaderType::CardBus => {
            let s = access.read32(bdf, regs::cardbus::SUBSYSTEM_VENDOR_ID);
            (s as u16, (s >> 16) as u16)
        }
        HeaderType::PciBridge => match caps::find(access, bdf, caps::regs::id::BRIDGE_SUBSYSTEM_VENDOR) {
            Ok(Some(cap)) => {
                let s = access.read32(bdf, cap + caps::regs::SSVID_OFFSET);
                (s as u16, (s >> 16) as u16)
            }
            _ => (0, 0),
        },
        HeaderType::Unknown(_) => (0, 0),
    };
    Some(FunctionInfo {
        bdf,
        vendor,
        device: (id >> 16) as u16,
        subsystem_vendor,
        subsystem_device,
        revision: class_rev as u8,
        class: ClassCode::from_u32(class_rev >> 8),
        header_type,
        multi_function: raw_type & regs::header_type::MULTI_FUNCTION != 0,
        interrupt_pin: IntxPin::from_register((interrupt >> 8) as u8),
        interrupt_line: interrupt as u8,
    })
}
