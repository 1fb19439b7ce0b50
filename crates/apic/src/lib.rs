//! x86 interrupt controllers at register level: the IOAPIC, the local APIC
//! (xAPIC and x2APIC), MSI messages, and the vector allocator.
//!
//! # The path of one interrupt
//!
//! The seed lecture ("Interrupt architecture — PIC and APIC") starts from a
//! problem: a CPU has one interrupt input, and a machine has dozens of devices.
//! Something in between must multiplex them, tell the CPU *which* device
//! interrupted, and wait to be told the handler is done. On x86 that job is
//! split over two kinds of chip:
//!
//! ```text
//!  device ──INTx wire──▶ IOAPIC pin (GSI) ──redirection entry──┐
//!                                                              ├─▶ message ─▶ local APIC ─▶ vector ─▶ IDT ─▶ handler
//!  device ──MSI: a memory write to 0xFEEx_xxxx ────────────────┘                 ▲                         │
//!                                                                                └──────── EOI ────────────┘
//! ```
//!
//! 1. A device raises an interrupt, either on a wire or with a message. A
//!    wire ends at an **IOAPIC** input pin; firmware (ACPI's MADT) numbers all
//!    IOAPIC pins in the machine consecutively as **GSIs**, global system
//!    interrupts ([`ioapic`]).
//! 2. Each pin has a **redirection entry**: which **vector** to send, to
//!    which CPU, whether the wire is edge- or level-triggered and active high
//!    or low, and whether the pin is masked. Choosing the CPU is how
//!    interrupts are "load balanced" (the seed's term; Linux's IRQ affinity).
//! 3. The IOAPIC turns an asserted pin into a message to one CPU's **local
//!    APIC** ([`lapic`]). A PCI device with **MSI** skips the IOAPIC: the
//!    kernel gives it an address and a data word ([`msi`]) and the device
//!    raises its interrupt by writing that data to that address, which the
//!    chipset delivers to the local APIC as the same kind of message.
//! 4. The local APIC queues the vector and interrupts its CPU, which indexes
//!    its IDT with the vector (0–255) to find the handler. Vectors are a
//!    per-CPU resource handed out by a [`vector`] allocator.
//! 5. The handler **acknowledges**: it writes the local APIC's EOI register
//!    (end of interrupt). Until then the APIC blocks that vector and every
//!    lower-priority one; for a level-triggered pin the EOI also travels on to
//!    the IOAPIC to re-arm the pin (the seed's "waits for acknowledgement").
//!
//! # What this crate is, and is not
//!
//! Pure logic over [`RegisterWindow`](hal::RegisterWindow)s (and, for the
//! x2APIC, over an [`MsrAccess`] trait): the kernel's arch
//! code ioremaps the windows, implements `rdmsr`/`wrmsr`, and calls this. Every
//! register is named once, with the spec section, in a `regs` module
//! (DESIGN.md rule 3), and every wait on hardware is bounded (rule 4). Host
//! tests drive it against device models in `tests/model/`.
//!
//! Not here: ACPI parsing (which IOAPIC owns which GSI, ISA overrides), the
//! IDT and its entry stubs, `irq::request`, and delays (INIT-SIPI-SIPI needs
//! 10 ms and 200 µs pauses, which the caller must provide).
//!
//! Specifications cited in the `regs` modules:
//! - `[82093AA §x]`: Intel 82093AA I/O Advanced Programmable Interrupt
//!   Controller (IOAPIC) datasheet, order no. 290566.
//! - `[SDM 3A §x]`: Intel 64 and IA-32 Architectures Software Developer's
//!   Manual, volume 3A; chapter 11 is the APIC, §6.2 the vector table.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ioapic;
pub mod lapic;
pub mod msi;
pub mod regs;
pub mod vector;

use core::fmt;

use hal::IoError;

pub use ioapic::{IoApic, RedirectionEntry};
pub use lapic::{ApicOps, LapicStats, LapicVersion, LocalApic, MsrAccess, TimerDivide, X2Apic};
pub use msi::{Msi, MsiMessage};
pub use vector::VectorAllocator;

/// How an interrupt message is delivered to the CPU, as encoded in IOAPIC
/// redirection entries and MSI data words (the same 3-bit field in both, see
/// [`regs::delivery_mode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryMode {
    /// Deliver the vector to the destination CPU(s): the normal case.
    Fixed,
    /// Deliver the vector to the lowest-priority CPU among the destinations.
    LowestPriority,
    /// System management interrupt (the vector is ignored).
    Smi,
    /// Non-maskable interrupt, IDT vector 2 (the vector field is ignored).
    Nmi,
    /// INIT: reset the destination CPU (the vector is ignored).
    Init,
    /// Behave like an 8259A PIC output: the CPU asks the PIC for the vector.
    ExtInt,
}

impl DeliveryMode {
    /// The 3-bit field value.
    pub const fn bits(self) -> u8 {
        use regs::delivery_mode as dm;
        match self {
            DeliveryMode::Fixed => dm::FIXED,
            DeliveryMode::LowestPriority => dm::LOWEST_PRIORITY,
            DeliveryMode::Smi => dm::SMI,
            DeliveryMode::Nmi => dm::NMI,
            DeliveryMode::Init => dm::INIT,
            DeliveryMode::ExtInt => dm::EXTINT,
        }
    }

    /// Decodes the 3-bit field (higher bits of `bits` are ignored). The two
    /// reserved encodings are an error: they would mean a corrupted entry.
    pub fn from_bits(bits: u8) -> Result<Self, Error> {
        use regs::delivery_mode as dm;
        match bits & dm::MASK {
            dm::FIXED => Ok(DeliveryMode::Fixed),
            dm::LOWEST_PRIORITY => Ok(DeliveryMode::LowestPriority),
            dm::SMI => Ok(DeliveryMode::Smi),
            dm::NMI => Ok(DeliveryMode::Nmi),
            dm::INIT => Ok(DeliveryMode::Init),
            dm::EXTINT => Ok(DeliveryMode::ExtInt),
            reserved => Err(Error::ReservedDeliveryMode(reserved)),
        }
    }

    /// Whether the message's vector field means anything: only fixed and
    /// lowest-priority delivery send the vector to the CPU.
    pub const fn uses_vector(self) -> bool {
        matches!(self, DeliveryMode::Fixed | DeliveryMode::LowestPriority)
    }
}

/// How the destination field names CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DestinationMode {
    /// The destination is one local APIC ID.
    Physical,
    /// The destination is a set of CPUs, matched against each local APIC's
    /// logical destination register.
    Logical,
}

/// How an interrupt line signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// One interrupt per transition: ISA devices, and every MSI.
    Edge,
    /// Interrupting for as long as the line is held: PCI INTx. The pin stays
    /// blocked (Remote IRR) until the EOI, so a line still asserted after the
    /// handler re-interrupts instead of being lost.
    Level,
}

/// Which electrical level of an IOAPIC input pin means "asserted".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Polarity {
    /// Asserted when high: ISA interrupts.
    ActiveHigh,
    /// Asserted when low: PCI INTx, which is open-drain and shareable.
    ActiveLow,
}

/// What can go wrong programming the interrupt controllers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The register window refused an access.
    Io(IoError),
    /// The register window is smaller than the controller's registers.
    WindowTooSmall {
        /// The window's size in bytes.
        size: usize,
        /// The size needed.
        need: usize,
    },
    /// The IOAPIC version register read all ones: nothing answers at that
    /// address (the bus floats).
    NotPresent,
    /// The GSI belongs to another IOAPIC (or none).
    GsiOutOfRange {
        /// The GSI asked for.
        gsi: u32,
        /// The first GSI this IOAPIC handles.
        base: u32,
        /// How many GSIs (pins) it handles.
        pins: u32,
    },
    /// The vector is one of the 32 exception vectors (or, for the allocator,
    /// the reserved spurious vector), so it cannot carry a device interrupt.
    InvalidVector(u8),
    /// A delivery-mode field held one of the two reserved encodings.
    ReservedDeliveryMode(u8),
    /// The destination APIC ID does not fit the xAPIC's 8-bit destination.
    DestinationOutOfRange(u32),
    /// The ICR's delivery status stayed "send pending" for
    /// [`lapic::ICR_POLL_LIMIT`] polls: the IPI was not accepted.
    Timeout,
    /// A timer count of zero, which the local APIC treats as "stop".
    ZeroTimerCount,
    /// An MSI address outside the `0xFEEx_xxxx` interrupt window (or in the
    /// interrupt-remapping format, which this crate does not decode).
    NotMsiAddress(u64),
    /// No free vector (or block of `count` vectors) is left.
    NoFreeVectors {
        /// The number of consecutive vectors asked for.
        count: usize,
    },
    /// A vector block size that is not a power of two from 1 to 32.
    InvalidBlockSize(usize),
    /// Freeing a vector that is not allocated: a double free.
    NotAllocated(u8),
    /// Reserving a vector that is already in use.
    VectorInUse(u8),
}

impl From<IoError> for Error {
    fn from(e: IoError) -> Self {
        Error::Io(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Io(e) => write!(f, "apic: {e}"),
            Error::WindowTooSmall { size, need } => {
                write!(f, "apic: register window of {size:#x} bytes, need {need:#x}")
            }
            Error::NotPresent => write!(f, "apic: no IOAPIC answers (version register reads all ones)"),
            Error::GsiOutOfRange { gsi, base, pins } => {
                write!(f, "apic: GSI {gsi} is outside this IOAPIC's GSIs {base}..{}", u64::from(base) + u64::from(pins))
            }
            Error::InvalidVector(v) => write!(f, "apic: vector {v:#04x} cannot carry a device interrupt"),
            Error::ReservedDeliveryMode(m) => write!(f, "apic: reserved delivery mode {m:#05b}"),
            Error::DestinationOutOfRange(d) => write!(f, "apic: APIC ID {d} does not fit an 8-bit xAPIC destination"),
            Error::Timeout => {
                write!(f, "apic: IPI still pending after {} ICR polls", lapic::ICR_POLL_LIMIT)
            }
            Error::ZeroTimerCount => write!(f, "apic: a timer count of 0 would stop the timer"),
            Error::NotMsiAddress(a) => write!(f, "apic: {a:#x} is not a compatibility-format MSI address"),
            Error::NoFreeVectors { count } => write!(f, "apic: no free block of {count} vector(s)"),
            Error::InvalidBlockSize(n) => write!(f, "apic: vector block of {n} is not a power of two up to 32"),
            Error::NotAllocated(v) => write!(f, "apic: vector {v:#04x} freed but not allocated"),
            Error::VectorInUse(v) => write!(f, "apic: vector {v:#04x} is already in use"),
        }
    }
}

impl core::error::Error for Error {}

/// Fails for vectors that cannot carry a device interrupt or IPI: the 32
/// exception vectors (see [`vector`]).
pub(crate) fn check_vector(vector: u8) -> Result<(), Error> {
    if vector < vector::regs::FIRST_ALLOCATABLE {
        Err(Error::InvalidVector(vector))
    } else {
        Ok(())
    }
}
