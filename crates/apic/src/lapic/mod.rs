//! The local APIC: each CPU's own interrupt controller.
//!
//! Every CPU has a local APIC. It receives interrupt messages (from IOAPICs,
//! from MSI writes, from other CPUs' local APICs), queues them by **vector**,
//! and interrupts its CPU with the most urgent one. It also has local sources
//! of its own, each configured by an entry of the *local vector table* (LVT):
//! a timer, two pins LINT0/LINT1 (on PCs wired to the legacy 8259A PIC and to
//! NMI), and an error interrupt.
//!
//! # Vectors, priority and EOI
//!
//! A vector's upper four bits are its **priority class**: vector 0x41 is class
//! 4 and is held back while the CPU services anything in class 5 or above, or
//! while the task-priority register (TPR) says class 4 is blocked. When the
//! CPU takes a vector the APIC sets its bit in the in-service register (ISR);
//! it stays set — blocking that class and below — until the handler writes
//! the **EOI** register ([`ApicOps::eoi`]). That write is the "APIC
//! acknowledgement" of the seed lecture and the one thing every hard-IRQ
//! handler must do (DESIGN.md rule 5). For a level-triggered vector the APIC
//! also broadcasts the EOI to the IOAPICs to re-arm the pin (see
//! [`ioapic`](crate::ioapic)); [`ApicOps::enable`] keeps that broadcast on.
//!
//! The **spurious vector** is different: the APIC delivers it when an
//! interrupt vanished between being signalled and the CPU acknowledging it
//! (e.g. it was masked meanwhile). Its handler must *not* write EOI, because
//! no ISR bit was set for it `[SDM 3A §11.9]`.
//!
//! # Inter-processor interrupts
//!
//! Writing the **interrupt command register** (ICR) sends a message to other
//! CPUs: a plain vector ([`ApicOps::send_ipi`], e.g. "flush your TLB" or
//! "reschedule"), or the startup sequence for an application processor that
//! has not run yet: INIT ([`ApicOps::send_init`]), wait 10 ms, then
//! Start-up ([`ApicOps::send_startup`]) naming the 4 KiB page below 1 MiB where
//! the CPU starts in real mode, and — per Intel's MP protocol — a second
//! Start-up 200 µs later. The waits are the caller's: this crate has no clock.
//!
//! In xAPIC mode the ICR is two 32-bit registers: the destination goes in the
//! high one, and writing the low one *sends*, so the high one is written
//! first. The APIC then shows "send pending" in the low one's delivery-status
//! bit until the message is accepted. [`LocalApic`] waits for it to clear —
//! before writing (an earlier IPI may still be pending) and after — and gives
//! up after [`ICR_POLL_LIMIT`] reads with [`Error::Timeout`] (rule 4). The
//! two-write sequence must not be interrupted by another IPI sent from an
//! interrupt handler on the same CPU, so the caller sends with local
//! interrupts disabled.
//!
//! # The timer
//!
//! The APIC timer counts a register down from an initial count at the bus (or
//! crystal) clock divided by 1–128 ([`TimerDivide`]) and raises its LVT vector
//! at zero: once (**one-shot**) or reloading each time (**periodic**). Writing
//! the initial count is what starts it, so the divider and LVT entry are
//! programmed first; writing 0 stops it `[SDM 3A §11.5.4]`. The rate is not
//! architectural: the kernel calibrates it against a known clock (PIT, HPET).
//!
//! # xAPIC and x2APIC
//!
//! [`LocalApic`] drives the memory-mapped **xAPIC** through a register window;
//! [`X2Apic`] drives **x2APIC** mode, where the registers are MSRs reached
//! through [`MsrAccess`] (the kernel implements it with `rdmsr`/`wrmsr`). The
//! x2APIC has 32-bit APIC IDs (for machines beyond 255 CPUs) and a single
//! 64-bit ICR: one `wrmsr` sends an IPI atomically and nothing needs polling.
//! Both implement [`ApicOps`], so the kernel's interrupt code is written once.
//! Under a hypervisor each EOI write is a VM exit in either mode unless the
//! host virtualizes the APIC — Asterinas #1634 found `wrmsr(EOI)` dominating a
//! virtio-net benchmark — so [`LapicStats::eois`] is worth watching.

pub mod regs;

use core::sync::atomic::Ordering;

use hal::RegisterWindow;

use crate::regs::delivery_mode;
use crate::{check_vector, Error};

/// How many times the xAPIC ICR is read, waiting for "send pending" to
/// clear, before [`Error::Timeout`].
///
/// A count, not a time (no clock is calibrated when the first IPIs go out).
/// Accepting an IPI takes well under a microsecond; one local APIC register
/// read costs tens of nanoseconds on hardware and around a microsecond under
/// emulation, so 100 000 reads allow at least a few milliseconds — thousands
/// of times the normal wait — and at most a fraction of a second.
pub const ICR_POLL_LIMIT: u32 = 100_000;

/// Access to model-specific registers, implemented by the kernel with
/// `rdmsr`/`wrmsr` (which are privileged, hence not in this crate) and by
/// host tests with a fake.
pub trait MsrAccess {
    /// Reads MSR `msr`.
    fn read(&self, msr: u32) -> u64;
    /// Writes `value` to MSR `msr`.
    fn write(&self, msr: u32, value: u64);
}

impl<M: MsrAccess + ?Sized> MsrAccess for &M {
    fn read(&self, msr: u32) -> u64 {
        (**self).read(msr)
    }
    fn write(&self, msr: u32, value: u64) {
        (**self).write(msr, value)
    }
}

/// The timer's clock divider `[SDM 3A §11.5.4]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerDivide {
    /// Count at the full clock rate.
    By1,
    /// Count at 1/2 of the clock.
    By2,
    /// Count at 1/4 of the clock.
    By4,
    /// Count at 1/8 of the clock.
    By8,
    /// Count at 1/16 of the clock (a common choice).
    By16,
    /// Count at 1/32 of the clock.
    By32,
    /// Count at 1/64 of the clock.
    By64,
    /// Count at 1/128 of the clock.
    By128,
}

impl TimerDivide {
    /// The divide configuration register value.
    pub const fn bits(self) -> u32 {
        use regs::divide;
        match self {
            TimerDivide::By1 => divide::BY_1,
            TimerDivide::By2 => divide::BY_2,
            TimerDivide::By4 => divide::BY_4,
            TimerDivide::By8 => divide::BY_8,
            TimerDivide::By16 => divide::BY_16,
            TimerDivide::By32 => divide::BY_32,
            TimerDivide::By64 => divide::BY_64,
            TimerDivide::By128 => divide::BY_128,
        }
    }

    /// The divisor, 1 to 128.
    pub const fn divisor(self) -> u32 {
        match self {
            TimerDivide::By1 => 1,
            TimerDivide::By2 => 2,
            TimerDivide::By4 => 4,
            TimerDivide::By8 => 8,
            TimerDivide::By16 => 16,
            TimerDivide::By32 => 32,
            TimerDivide::By64 => 64,
            TimerDivide::By128 => 128,
        }
    }
}

/// The version register, decoded `[SDM 3A §11.4.8]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LapicVersion {
    /// 0x1X for an integrated local APIC (QEMU: 0x14; hardware: 0x15).
    pub version: u8,
    /// The index of the last LVT entry (entries − 1).
    pub max_lvt_entry: u8,
    /// Whether EOI broadcast to the IOAPICs can be suppressed.
    pub eoi_broadcast_suppression: bool,
}

impl LapicVersion {
    /// Decodes the register.
    pub const fn decode(raw: u32) -> Self {
        use regs::version as v;
        LapicVersion {
            version: (raw & v::VERSION_MASK) as u8,
            max_lvt_entry: ((raw >> v::MAX_LVT_SHIFT) & v::MAX_LVT_MASK) as u8,
            eoi_broadcast_suppression: raw & v::EOI_BROADCAST_SUPPRESSION != 0,
        }
    }

    /// How many LVT entries the APIC has.
    pub const fn lvt_entries(&self) -> u32 {
        self.max_lvt_entry as u32 + 1
    }
}

/// A local APIC's counters (DESIGN.md, rule 6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LapicStats {
    /// EOI writes.
    pub eois: u64,
    /// IPIs sent (INIT and Start-up included).
    pub ipis_sent: u64,
    /// IPIs that failed with [`Error::Timeout`].
    pub ipi_timeouts: u64,
}

mod sealed {
    use core::sync::atomic::AtomicU64;

    use crate::Error;

    /// Counters kept by both local APIC types. Relaxed atomics: independent
    /// tallies, bumped from interrupt handlers through `&self`.
    #[derive(Debug, Default)]
    pub struct Counters {
        pub eois: AtomicU64,
        pub ipis_sent: AtomicU64,
        pub ipi_timeouts: AtomicU64,
    }

    /// What differs between xAPIC and x2APIC; [`super::ApicOps`] is written
    /// on top of it. Sealed: only this crate's two types implement it.
    pub trait Registers {
        /// Reads the register at xAPIC offset `offset`.
        fn read_reg(&self, offset: usize) -> Result<u32, Error>;
        /// Writes the register at xAPIC offset `offset`.
        fn write_reg(&self, offset: usize, value: u32) -> Result<(), Error>;
        /// Sends the IPI whose ICR low half is `low` to APIC ID `destination`.
        fn send_icr(&self, destination: u32, low: u32) -> Result<(), Error>;
        /// Extracts the APIC ID from the ID register.
        fn decode_id(&self, raw: u32) -> u32;
        /// Puts the APIC in this type's mode (a no-op for the xAPIC).
        fn enter_mode(&self) -> Result<(), Error>;
        /// The counters.
        fn counters(&self) -> &Counters;
    }
}

use sealed::{Counters, Registers};

/// The local APIC operations the kernel uses, for both [`LocalApic`] (xAPIC)
/// and [`X2Apic`]. Every method acts on the *calling* CPU's local APIC.
///
/// Object-safe: the kernel can pick the mode at boot (CPUID) and keep a
/// `&'static dyn ApicOps`. Sealed: only this crate's two types implement it.
pub trait ApicOps: Registers {
    /// Software-enables the APIC: TPR 0 (accept every priority class), then
    /// SVR = enable bit 8 | `spurious_vector`, with EOI-broadcast suppression
    /// (SVR bit 12) cleared so level-triggered EOIs reach the IOAPICs. For
    /// the x2APIC, first switches IA32_APIC_BASE to x2APIC mode.
    fn enable(&self, spurious_vector: u8) -> Result<(), Error> {
        check_vector(spurious_vector)?;
        self.enter_mode()?;
        self.write_reg(regs::TPR, regs::TPR_ACCEPT_ALL)?;
        self.write_reg(regs::SVR, regs::svr::APIC_ENABLE | u32::from(spurious_vector))
    }

    /// This CPU's APIC ID (8 bits in xAPIC mode, 32 in x2APIC mode).
    fn id(&self) -> Result<u32, Error> {
        Ok(self.decode_id(self.read_reg(regs::ID)?))
    }

    /// The version register.
    fn version(&self) -> Result<LapicVersion, Error> {
        Ok(LapicVersion::decode(self.read_reg(regs::VERSION)?))
    }

    /// Signals end of interrupt for the highest-priority in-service vector:
    /// writes 0 to the EOI register. Not for the spurious vector.
    fn eoi(&self) -> Result<(), Error> {
        self.write_reg(regs::EOI, regs::EOI_VALUE)?;
        self.counters().eois.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Sets the task priority: priority classes at or below `priority >> 4`
    /// are held back.
    fn set_task_priority(&self, priority: u8) -> Result<(), Error> {
        self.write_reg(regs::TPR, u32::from(priority))
    }

    /// Sends `vector` to the CPU with APIC ID `destination` (fixed delivery,
    /// physical destination, edge). Call with local interrupts disabled.
    fn send_ipi(&self, destination: u32, vector: u8) -> Result<(), Error> {
        check_vector(vector)?;
        send(self, destination, icr_low(delivery_mode::FIXED, vector))
    }

    /// Sends INIT to `destination`: the first step of starting an
    /// application processor (then wait 10 ms).
    fn send_init(&self, destination: u32) -> Result<(), Error> {
        send(self, destination, icr_low(delivery_mode::INIT, 0))
    }

    /// Sends a Start-up IPI to `destination`: the CPU begins in real mode at
    /// physical address `page << 12` (a 4 KiB page below 1 MiB).
    fn send_startup(&self, destination: u32, page: u8) -> Result<(), Error> {
        send(self, destination, icr_low(delivery_mode::STARTUP, page))
    }

    /// Arms the timer to raise `vector` once, after `count` ticks of the clock
    /// divided by `divide`.
    fn timer_oneshot(&self, vector: u8, count: u32, divide: TimerDivide) -> Result<(), Error> {
        start_timer(self, vector, count, divide, regs::lvt::TIMER_ONESHOT)
    }

    /// Starts the timer raising `vector` every `count` ticks of the clock
    /// divided by `divide`.
    fn timer_periodic(&self, vector: u8, count: u32, divide: TimerDivide) -> Result<(), Error> {
        start_timer(self, vector, count, divide, regs::lvt::TIMER_PERIODIC)
    }

    /// Stops the timer: masks its LVT entry (keeping its vector and mode) and
    /// writes 0 to the initial count.
    fn timer_stop(&self) -> Result<(), Error> {
        let lvt = self.read_reg(regs::LVT_TIMER)?;
        self.write_reg(regs::LVT_TIMER, lvt | regs::lvt::MASKED)?;
        self.write_reg(regs::TIMER_INITIAL_COUNT, regs::TIMER_STOP_COUNT)
    }

    /// The timer's current count (0 once a one-shot has fired or when stopped).
    fn timer_current(&self) -> Result<u32, Error> {
        self.read_reg(regs::TIMER_CURRENT_COUNT)
    }

    /// Masks LINT0 and LINT1, keeping the rest of their LVT entries (so the
    /// firmware's ExtINT/NMI wiring stays visible). With the IOAPIC in charge
    /// of device interrupts, the legacy PIC's path through LINT0 must be shut.
    fn mask_lints(&self) -> Result<(), Error> {
        for lint in [regs::LVT_LINT0, regs::LVT_LINT1] {
            let lvt = self.read_reg(lint)?;
            self.write_reg(lint, lvt | regs::lvt::MASKED)?;
        }
        Ok(())
    }

    /// Unmasks the error interrupt on `vector`: raised when the APIC records
    /// an error (an illegal vector sent or received, a failed IPI) in ESR.
    fn set_error_vector(&self, vector: u8) -> Result<(), Error> {
        check_vector(vector)?;
        self.write_reg(regs::LVT_ERROR, u32::from(vector))
    }

    /// The errors recorded since the last call: ESR only updates when
    /// written, so this writes 0 and then reads `[SDM 3A §11.5.3]`.
    fn error_status(&self) -> Result<u32, Error> {
        self.write_reg(regs::ESR, regs::ESR_LATCH)?;
        self.read_reg(regs::ESR)
    }

    /// The counters.
    fn stats(&self) -> LapicStats {
        let c = self.counters();
        LapicStats {
            eois: c.eois.load(Ordering::Relaxed),
            ipis_sent: c.ipis_sent.load(Ordering::Relaxed),
            ipi_timeouts: c.ipi_timeouts.load(Ordering::Relaxed),
        }
    }
}

/// An ICR low half: physical destination, edge-triggered, level "assert"
/// (required for every mode but the obsolete INIT de-assert, `[SDM 3A §11.6.1]`).
fn icr_low(mode: u8, vector: u8) -> u32 {
    u32::from(vector) | u32::from(mode) << regs::icr::DELIVERY_MODE_SHIFT | regs::icr::LEVEL_ASSERT
}

fn send<A: ApicOps + ?Sized>(apic: &A, destination: u32, low: u32) -> Result<(), Error> {
    let result = apic.send_icr(destination, low);
    let counters = apic.counters();
    match result {
        Ok(()) => counters.ipis_sent.fetch_add(1, Ordering::Relaxed),
        Err(Error::Timeout) => counters.ipi_timeouts.fetch_add(1, Ordering::Relaxed),
        Err(_) => 0,
    };
    result
}

/// Programs divider, then LVT entry, then initial count: the last write
/// starts the countdown, so everything it depends on must be in place.
fn start_timer<A: ApicOps + ?Sized>(
    apic: &A,
    vector: u8,
    count: u32,
    divide: TimerDivide,
    mode: u32,
) -> Result<(), Error> {
    check_vector(vector)?;
    if count == regs::TIMER_STOP_COUNT {
        return Err(Error::ZeroTimerCount);
    }
    apic.write_reg(regs::TIMER_DIVIDE, divide.bits())?;
    apic.write_reg(regs::LVT_TIMER, mode | u32::from(vector))?;
    apic.write_reg(regs::TIMER_INITIAL_COUNT, count)
}

/// A local APIC in xAPIC mode, behind its memory-mapped register window.
///
/// Methods take `&self` so an interrupt handler can EOI through a shared
/// reference; see the module docs for the one sequence (ICR) that needs
/// interrupts disabled.
#[derive(Debug)]
pub struct LocalApic<W> {
    window: W,
    counters: Counters,
}

impl<W: RegisterWindow> LocalApic<W> {
    /// Takes over the local APIC behind `window`, without touching it. The
    /// window must cover [`regs::WINDOW_SIZE`] bytes.
    pub fn new(window: W) -> Result<Self, Error> {
        let size = window.size();
        if size < regs::WINDOW_SIZE {
            return Err(Error::WindowTooSmall { size, need: regs::WINDOW_SIZE });
        }
        Ok(LocalApic { window, counters: Counters::default() })
    }

    /// The register window (e.g. for its access counters).
    pub fn window(&self) -> &W {
        &self.window
    }

    /// Polls the ICR until no IPI is pending, at most [`ICR_POLL_LIMIT`] times.
    fn wait_icr_idle(&self) -> Result<(), Error> {
        for _ in 0..ICR_POLL_LIMIT {
            if self.window.read_u32(regs::ICR_LOW)? & regs::icr::SEND_PENDING == 0 {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(Error::Timeout)
    }
}

impl<W: RegisterWindow> Registers for LocalApic<W> {
    fn read_reg(&self, offset: usize) -> Result<u32, Error> {
        Ok(self.window.read_u32(offset)?)
    }

    fn write_reg(&self, offset: usize, value: u32) -> Result<(), Error> {
        Ok(self.window.write_u32(offset, value)?)
    }

    /// Waits for the ICR to be idle, writes the destination (high), then the
    /// command (low, which sends), then waits for acceptance.
    fn send_icr(&self, destination: u32, low: u32) -> Result<(), Error> {
        if destination > regs::icr::XAPIC_DESTINATION_MAX {
            return Err(Error::DestinationOutOfRange(destination));
        }
        self.wait_icr_idle()?;
        self.window.write_u32(regs::ICR_HIGH, destination << regs::icr::XAPIC_DESTINATION_SHIFT)?;
        self.window.write_u32(regs::ICR_LOW, low)?;
        self.wait_icr_idle()
    }

    fn decode_id(&self, raw: u32) -> u32 {
        (raw >> regs::id::XAPIC_SHIFT) & regs::id::XAPIC_MASK
    }

    fn enter_mode(&self) -> Result<(), Error> {
        // Firmware hands over the xAPIC globally enabled in xAPIC mode; the
        // IA32_APIC_BASE MSR is not reachable through a register window.
        Ok(())
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }
}

impl<W: RegisterWindow> ApicOps for LocalApic<W> {}

/// A local APIC in x2APIC mode, reached through MSRs.
///
/// Whether the CPU has an x2APIC (CPUID.01H:ECX bit 21) is the caller's
/// check; [`ApicOps::enable`] then switches it into x2APIC mode.
#[derive(Debug)]
pub struct X2Apic<M> {
    msrs: M,
    counters: Counters,
}

impl<M: MsrAccess> X2Apic<M> {
    /// Drives the local APIC through `msrs`, without touching it.
    pub fn new(msrs: M) -> Self {
        X2Apic { msrs, counters: Counters::default() }
    }

    /// Whether IA32_APIC_BASE says the APIC is enabled in x2APIC mode.
    pub fn in_x2apic_mode(&self) -> bool {
        let mode = regs::x2apic::APIC_BASE_ENABLE | regs::x2apic::APIC_BASE_X2APIC;
        self.msrs.read(regs::x2apic::IA32_APIC_BASE) & mode == mode
    }

    /// The MSR accessor.
    pub fn msrs(&self) -> &M {
        &self.msrs
    }
}

impl<M: MsrAccess> Registers for X2Apic<M> {
    fn read_reg(&self, offset: usize) -> Result<u32, Error> {
        // x2APIC registers other than the ICR are 32 bits; the MSR's upper
        // half is reserved.
        Ok(self.msrs.read(regs::x2apic::msr(offset)) as u32)
    }

    fn write_reg(&self, offset: usize, value: u32) -> Result<(), Error> {
        self.msrs.write(regs::x2apic::msr(offset), u64::from(value));
        Ok(())
    }

    /// One 64-bit write: destination in bits 63:32, command in 31:0.
    fn send_icr(&self, destination: u32, low: u32) -> Result<(), Error> {
        // A `wrmsr` to an x2APIC register is not serializing [SDM 3A
        // §11.12.3]: without a fence the target CPU could take the IPI before
        // this CPU's earlier stores (the data the IPI is about) are visible.
        // `mfence` drains the stores; `lfence` keeps the `wrmsr` from
        // starting before the `mfence` completes (Linux's weak_wrmsr_fence).
        hal::barrier::mb();
        hal::barrier::rmb();
        let icr = u64::from(destination) << regs::icr::X2APIC_DESTINATION_SHIFT | u64::from(low);
        self.msrs.write(regs::x2apic::ICR, icr);
        Ok(())
    }

    fn decode_id(&self, raw: u32) -> u32 {
        raw
    }

    fn enter_mode(&self) -> Result<(), Error> {
        // From xAPIC mode or from disabled, setting EN and EXTD together is a
        // legal transition [SDM 3A §11.12.5]; the base address is kept.
        let mode = regs::x2apic::APIC_BASE_ENABLE | regs::x2apic::APIC_BASE_X2APIC;
        let base = self.msrs.read(regs::x2apic::IA32_APIC_BASE);
        if base & mode != mode {
            self.msrs.write(regs::x2apic::IA32_APIC_BASE, base | mode);
        }
        Ok(())
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }
}

impl<M: MsrAccess> ApicOps for X2Apic<M> {}
