//! Driver for QEMU's educational PCI device `edu` (`1234:11e8`).
//!
//! `edu` exists to be driven: written for the Linux-driver lectures at Masaryk
//! University, it has a little of everything a real device has — an
//! identification register, a self-test, a slow operation to wait for, an
//! interrupt with status and acknowledge registers, and a DMA engine with a
//! limited address range — and nothing else. Its spec is QEMU's
//! `docs/specs/edu.rst`; the register map is in [`regs`].
//!
//! The driver speaks [`RegisterWindow`] over BAR0 (1 MiB of MMIO) and
//! [`DmaRegion`] for memory, so the kernel binds it to the real device and
//! `cargo test` binds it to a model (`tests/model/`).
//!
//! # Is it there? ([`Edu::new`])
//!
//! The identification register reads `0xRRrr00ed` (major, minor version); the
//! driver accepts major version 1 with any minor. Then the *liveness check*:
//! edu stores the bitwise inverse of what is written to register `0x04`. A
//! plain memory (or a stuck register) reads back what was written, an absent
//! device reads all ones; only live edu logic inverts, so two patterns that
//! exercise every bit both ways are written and checked.
//!
//! # A slow operation: factorial
//!
//! Writing `n` to the factorial register starts computing `n!` in a separate
//! QEMU thread ("so that students are forced to wait for the status register",
//! edu.c): status bit 0 stays set until the result has replaced `n` in the
//! register. The arithmetic is 32-bit and wraps, so `13!` reads
//! `6227020800 mod 2^32 = 1932053504`; the driver reports what the device
//! computed. The driver either polls ([`Edu::factorial_polled`], at most
//! [`POLL_LIMIT`] status reads, then [`Error::Timeout`]) or asks for an
//! interrupt (status bit 7) and reads the result with [`Edu::factorial_done`]
//! once [`Edu::handle_interrupt`] reports it.
//!
//! # DMA
//!
//! edu has a 4 KiB buffer, addressed as `0x40000..0x41000` in the device's own
//! DMA address space. A transfer copies between that buffer and RAM at a bus
//! address: program source, destination and count, then write the command with
//! START (and direction, and "interrupt when done"). QEMU runs the copy from a
//! timer 100 ms of virtual time later; START reads back set until then, and the
//! device ignores writes to its DMA registers meanwhile, so the driver refuses
//! to program a busy engine ([`Error::Busy`]).
//!
//! Two things edu does *not* check, so the driver must:
//!
//! - **Length.** A transfer longer than the buffer runs past it inside QEMU
//!   (older versions abort QEMU, newer ones log and copy anyway), so the
//!   driver rejects `len > regs::MAX_DMA_LEN` (4095: QEMU 7.2 stops on a
//!   full 4096-byte transfer) with [`Error::TooLong`].
//! - **Address width.** edu masks bus addresses to 28 bits (256 MiB): a
//!   region at `0x1000_0000` would be read from or written to `0x0` — someone
//!   else's memory. The kernel allocates edu's memory with
//!   `addr_limit` = [`regs::DMA_ADDR_LIMIT`] ([`Edu::dma_addr_limit`]), and the driver
//!   rejects a region that does not lie wholly below it with
//!   [`Error::AddressLimit`].
//!
//! Both checks, and the region's own length, are made before any register is
//! touched. Memory ordering follows `Documentation/memory-barriers.txt`: a
//! write barrier before the command write (the CPU's writes to the region reach
//! memory before the device reads it), a read barrier after seeing the transfer
//! finish (the CPU reads the device's data, not something older).
//!
//! The region must stay allocated until the transfer is over: the kernel keeps
//! it alive until [`Edu::dma_busy`] says `false` or the DMA interrupt arrives.
//!
//! # Interrupts
//!
//! edu has one interrupt, raised whenever the interrupt status register becomes
//! non-zero. The device raises `0x1` ([`regs::irq::FACTORIAL`]) when a
//! factorial finishes and `0x100` ([`regs::irq::DMA`]) when a transfer does —
//! values fixed by the device (edu.c) and distinct, so one status read tells
//! which events happened; software can raise any value through the raise
//! register ([`Edu::raise_interrupt`]), and the handler reports bits outside
//! those two in [`IrqOutcome::other`].
//!
//! [`Edu::handle_interrupt`] reads the status register once. Zero means "not
//! mine" — edu's INTx line is a shared PCI line, so the kernel calls every
//! handler on it — and the handler returns [`IrqReturn::NotMine`] having
//! touched nothing else. Otherwise it writes exactly the bits it saw to the
//! acknowledge register: with INTx the line is a *level* that stays asserted
//! while any status bit is set, so a handler that does not acknowledge
//! interrupts forever (the never-de-asserted bugs in DESIGN.md). Acknowledging
//! only the bits seen, never "all", means an event that lands between the read
//! and the write keeps its bit, keeps the line up, and is handled next time
//! instead of lost.
//!
//! INTx or MSI is the kernel's choice (PCI config space), and the handler is
//! the same for both. With MSI, edu (edu.c) sends a message on every raise,
//! whatever the status already holds, and the acknowledge register lowers
//! nothing — there is no line. The status register works as with INTx,
//! though, and bits not acknowledged would linger and be reported again by
//! the next interrupt, so the handler acknowledges in both modes (the spec:
//! "Even if the driver disabled INTx and only uses MSI, it still needs to
//! update the acknowledge register").
//!
//! The handler is two register accesses and a few additions: it never waits,
//! allocates or sleeps (DESIGN.md, rule 5). Waking whoever waits for the
//! factorial or the DMA is the caller's business, guided by the outcome.
//!
//! # Locking
//!
//! Methods that start work take `&mut self`: the kernel keeps the `Edu` under
//! a `SpinLockIrq` shared with the handler.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod regs;

use core::fmt;

use hal::barrier;
use hal::dma::{BusAddr, DmaError, DmaRegion};
use hal::{IoError, IrqReturn, RegisterWindow};
use regs::{dma_cmd, id, status};

/// How many times a polled wait reads the device before giving up with
/// [`Error::Timeout`] (the default; see [`Edu::set_poll_limit`]).
///
/// A count, not a time: the driver needs no clock. The slowest thing edu does
/// is a DMA transfer, which QEMU starts from a timer 100 ms (virtual time)
/// after the command; a factorial takes a thread wake-up. One MMIO read under
/// TCG costs very roughly 0.1–1 µs, so 10 000 000 reads cover the 100 ms with
/// a wide margin and still bound a dead device to seconds, not forever.
pub const POLL_LIMIT: u32 = 10_000_000;

/// Values written to the liveness register by [`Edu::new`]; each must read
/// back inverted. Every bit is 0 in one and 1 in the other, and neither is
/// `0`, whose inverse is what an absent device reads (all ones).
pub const LIVENESS_PATTERNS: [u32; 2] = [0xa5a5_5a5a, 0x5a5a_a5a5];

/// What can go wrong talking to edu. Errors leave the device as it was,
/// except [`Error::Timeout`] (the operation may still finish later).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The register window refused an access.
    Io(IoError),
    /// A DMA region refused an access, or is shorter than the transfer.
    Dma(DmaError),
    /// The window does not cover the registers.
    WindowTooSmall {
        /// The window's size in bytes.
        size: usize,
    },
    /// The identification register does not read `0x01rr00ed`.
    BadIdentification(u32),
    /// The liveness register did not invert what was written.
    LivenessCheckFailed {
        /// The value written.
        wrote: u32,
        /// The value read back (should have been `!wrote`).
        read: u32,
    },
    /// A polled wait gave up after the poll limit.
    Timeout,
    /// A factorial or DMA transfer is still running; edu would ignore the
    /// new request.
    Busy,
    /// A DMA transfer longer than edu's buffer ([`regs::DMA_BUFFER_SIZE`]).
    TooLong {
        /// The requested length.
        len: usize,
    },
    /// A DMA region edu cannot reach: it does not lie wholly below
    /// [`regs::DMA_ADDR_LIMIT`].
    AddressLimit {
        /// The region's bus address.
        addr: BusAddr,
        /// The transfer length.
        len: usize,
    },
}

impl From<IoError> for Error {
    fn from(e: IoError) -> Self {
        Error::Io(e)
    }
}

impl From<DmaError> for Error {
    fn from(e: DmaError) -> Self {
        Error::Dma(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Io(e) => write!(f, "edu: {e}"),
            Error::Dma(e) => write!(f, "edu: {e}"),
            Error::WindowTooSmall { size } => {
                write!(f, "edu: register window of {size:#x} bytes, need {:#x}", regs::MIN_WINDOW_SIZE)
            }
            Error::BadIdentification(value) => {
                write!(f, "edu: identification register reads {value:#010x}, expected 0x01rr00ed")
            }
            Error::LivenessCheckFailed { wrote, read } => {
                write!(f, "edu: liveness check wrote {wrote:#010x}, read {read:#010x} (expected {:#010x})", !wrote)
            }
            Error::Timeout => write!(f, "edu: device did not finish within the poll limit"),
            Error::Busy => write!(f, "edu: device busy"),
            Error::TooLong { len } => {
                write!(f, "edu: DMA of {len} bytes exceeds the {}-byte limit", regs::MAX_DMA_LEN)
            }
            Error::AddressLimit { addr, len } => write!(
                f,
                "edu: DMA of {len} bytes at {addr} is not below the device's limit {:#x}",
                regs::DMA_ADDR_LIMIT
            ),
        }
    }
}

impl core::error::Error for Error {}

/// The driver's counters (DESIGN.md, rule 6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EduStats {
    /// Factorial computations started.
    pub factorials: u64,
    /// DMA transfers started from RAM to the device.
    pub dma_to: u64,
    /// DMA transfers started from the device to RAM.
    pub dma_from: u64,
    /// Interrupts that were edu's (status non-zero).
    pub interrupts: u64,
    /// Of those, how many reported a finished factorial.
    pub factorial_irqs: u64,
    /// Of those, how many reported a finished DMA transfer.
    pub dma_irqs: u64,
    /// Handler calls that found nothing pending: another device's interrupt
    /// on the shared line, or a spurious one.
    pub not_mine: u64,
    /// Polled waits that hit the poll limit.
    pub timeouts: u64,
}

/// What one [`Edu::handle_interrupt`] call found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the dispatcher needs `ret`, and waiters may need waking"]
pub struct IrqOutcome {
    /// [`IrqReturn::Handled`] if edu's interrupt status was non-zero.
    pub ret: IrqReturn,
    /// A factorial finished: read it with [`Edu::factorial_done`].
    pub factorial_done: bool,
    /// A DMA transfer finished: its memory may be read (or freed).
    pub dma_done: bool,
    /// Status bits other than edu's own two, raised through
    /// [`Edu::raise_interrupt`] (acknowledged like the rest).
    pub other: u32,
}

impl IrqOutcome {
    const NOT_MINE: IrqOutcome =
        IrqOutcome { ret: IrqReturn::NotMine, factorial_done: false, dma_done: false, other: 0 };
}

/// Which way a DMA transfer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    ToDevice,
    FromDevice,
}

/// An edu device behind its BAR0 window.
#[derive(Debug)]
pub struct Edu<W> {
    regs: W,
    version: (u8, u8),
    stats: EduStats,
    poll_limit: u32,
}

impl<W: RegisterWindow> Edu<W> {
    /// Checks that `bar0` is an edu — identification and liveness check — and
    /// takes it over. Writes nothing but the liveness register.
    pub fn new(bar0: W) -> Result<Self, Error> {
        let size = bar0.size();
        if size < regs::MIN_WINDOW_SIZE {
            return Err(Error::WindowTooSmall { size });
        }
        let ident = bar0.read_u32(regs::ID)?;
        let major = (ident >> id::MAJOR_SHIFT) as u8;
        let minor = (ident >> id::MINOR_SHIFT) as u8;
        if ident & id::MAGIC_MASK != id::MAGIC || major != id::MAJOR_SUPPORTED {
            return Err(Error::BadIdentification(ident));
        }
        for wrote in LIVENESS_PATTERNS {
            bar0.write_u32(regs::LIVENESS, wrote)?;
            let read = bar0.read_u32(regs::LIVENESS)?;
            if read != !wrote {
                return Err(Error::LivenessCheckFailed { wrote, read });
            }
        }
        Ok(Edu { regs: bar0, version: (major, minor), stats: EduStats::default(), poll_limit: POLL_LIMIT })
    }

    /// The device's (major, minor) version from the identification register.
    pub fn version(&self) -> (u8, u8) {
        self.version
    }

    /// Changes how many reads a polled wait makes before [`Error::Timeout`]
    /// (default [`POLL_LIMIT`]); at least 1.
    pub fn set_poll_limit(&mut self, polls: u32) {
        self.poll_limit = polls.max(1);
    }

    /// The current poll limit.
    pub fn poll_limit(&self) -> u32 {
        self.poll_limit
    }

    /// One more than the highest bus address edu can reach: pass it as
    /// `addr_limit` to [`hal::dma::DmaAllocator::alloc_coherent`].
    pub const fn dma_addr_limit() -> u64 {
        regs::DMA_ADDR_LIMIT
    }

    /// Starts computing `n!`, with an interrupt when done if `interrupt`.
    ///
    /// Fails with [`Error::Busy`] if a computation is running (edu would
    /// ignore `n`).
    pub fn start_factorial(&mut self, n: u32, interrupt: bool) -> Result<(), Error> {
        if self.read(regs::STATUS)? & status::COMPUTING != 0 {
            return Err(Error::Busy);
        }
        // Interrupt choice first: the computation may finish as soon as the
        // factorial register is written, and edu looks at this bit then.
        let irq = if interrupt { status::IRQ_ON_FACTORIAL } else { 0 };
        self.write(regs::STATUS, irq)?;
        self.write(regs::FACTORIAL, n)?;
        self.stats.factorials += 1;
        Ok(())
    }

    /// The result of the last factorial, or `None` while it is being computed.
    pub fn factorial_done(&self) -> Result<Option<u32>, Error> {
        if self.read(regs::STATUS)? & status::COMPUTING != 0 {
            return Ok(None);
        }
        Ok(Some(self.read(regs::FACTORIAL)?))
    }

    /// Computes `n!` without interrupts, polling the status register at most
    /// [`poll_limit`](Self::poll_limit) times.
    pub fn factorial_polled(&mut self, n: u32) -> Result<u32, Error> {
        self.start_factorial(n, false)?;
        for _ in 0..self.poll_limit {
            if let Some(result) = self.factorial_done()? {
                return Ok(result);
            }
            core::hint::spin_loop();
        }
        self.stats.timeouts += 1;
        Err(Error::Timeout)
    }

    /// Starts copying the first `len` bytes of `src` into edu's buffer, with
    /// an interrupt when done if `interrupt`. `src` must stay allocated (and
    /// unchanged) until the transfer is over.
    pub fn dma_to_device(&mut self, src: &impl DmaRegion, len: usize, interrupt: bool) -> Result<(), Error> {
        self.start_dma(Direction::ToDevice, src, len, interrupt)
    }

    /// Starts copying `len` bytes of edu's buffer into the start of `dst`,
    /// with an interrupt when done if `interrupt`. Read `dst` only after the
    /// transfer is over.
    pub fn dma_from_device(&mut self, dst: &impl DmaRegion, len: usize, interrupt: bool) -> Result<(), Error> {
        self.start_dma(Direction::FromDevice, dst, len, interrupt)
    }

    /// Whether a DMA transfer is running. When it returns `false` after a
    /// transfer, the transfer's data is visible to the CPU.
    pub fn dma_busy(&self) -> Result<bool, Error> {
        let busy = self.read(regs::DMA_CMD)? & dma_cmd::START != 0;
        if !busy {
            // The CPU's later reads of the region must not see data older
            // than the "done" just read.
            barrier::rmb();
        }
        Ok(busy)
    }

    /// [`dma_to_device`](Self::dma_to_device) without interrupt, then polls
    /// (bounded) until the transfer is over.
    pub fn dma_to_device_polled(&mut self, src: &impl DmaRegion, len: usize) -> Result<(), Error> {
        self.dma_to_device(src, len, false)?;
        self.wait_dma()
    }

    /// [`dma_from_device`](Self::dma_from_device) without interrupt, then
    /// polls (bounded) until the transfer is over and `dst` holds the data.
    pub fn dma_from_device_polled(&mut self, dst: &impl DmaRegion, len: usize) -> Result<(), Error> {
        self.dma_from_device(dst, len, false)?;
        self.wait_dma()
    }

    /// Raises an interrupt by software: ORs `bits` into the interrupt status
    /// (the spec's interrupt raise register). For testing the interrupt path;
    /// use bits other than [`regs::irq::DEVICE`] so they are not mistaken for
    /// device events.
    pub fn raise_interrupt(&mut self, bits: u32) -> Result<(), Error> {
        self.write(regs::IRQ_RAISE, bits)
    }

    /// The interrupt handler (see the [crate docs](crate#interrupts)): reads
    /// the interrupt status; if it is non-zero, acknowledges exactly those
    /// bits and reports what they mean. Never waits, allocates or sleeps.
    pub fn handle_interrupt(&mut self) -> IrqOutcome {
        // `new` checked the window covers the registers, and every offset is
        // aligned, so these accesses cannot be refused; if a window did refuse
        // one, "not mine" is the answer that does no harm.
        let pending = self.read(regs::IRQ_STATUS).unwrap_or(0);
        // All ones: the read hit a floating bus (device unplugged or its
        // memory decode turned off) — nothing to acknowledge there.
        if pending == 0 || pending == u32::MAX {
            self.stats.not_mine += 1;
            return IrqOutcome::NOT_MINE;
        }
        let _ = self.write(regs::IRQ_ACK, pending);
        let outcome = IrqOutcome {
            ret: IrqReturn::Handled,
            factorial_done: pending & regs::irq::FACTORIAL != 0,
            dma_done: pending & regs::irq::DMA != 0,
            other: pending & !regs::irq::DEVICE,
        };
        self.stats.interrupts += 1;
        self.stats.factorial_irqs += u64::from(outcome.factorial_done);
        self.stats.dma_irqs += u64::from(outcome.dma_done);
        if outcome.dma_done {
            // As in `dma_busy`: the transfer's data after its "done".
            barrier::rmb();
        }
        outcome
    }

    /// The driver's counters.
    pub fn stats(&self) -> EduStats {
        self.stats
    }

    /// The register window (e.g. for its access counters).
    pub fn window(&self) -> &W {
        &self.regs
    }

    /// Checks a transfer, then programs and starts it. Everything that can be
    /// checked without the device is checked before the first register access.
    fn start_dma(
        &mut self,
        direction: Direction,
        region: &impl DmaRegion,
        len: usize,
        interrupt: bool,
    ) -> Result<(), Error> {
        if len > regs::MAX_DMA_LEN {
            return Err(Error::TooLong { len });
        }
        if len > region.len() {
            return Err(Error::Dma(DmaError::OutOfRange { offset: 0, len, size: region.len() }));
        }
        let addr = region.bus_addr();
        if !addr.fits_below(len, regs::DMA_ADDR_LIMIT) {
            return Err(Error::AddressLimit { addr, len });
        }
        if self.read(regs::DMA_CMD)? & dma_cmd::START != 0 {
            return Err(Error::Busy);
        }
        let (src, dst, dir) = match direction {
            Direction::ToDevice => (addr.as_u64(), regs::DMA_BUFFER, 0),
            Direction::FromDevice => (regs::DMA_BUFFER, addr.as_u64(), dma_cmd::TO_RAM),
        };
        let irq = if interrupt { dma_cmd::IRQ } else { 0 };
        self.regs.write_u64(regs::DMA_SRC, src)?;
        self.regs.write_u64(regs::DMA_DST, dst)?;
        // `len <= MAX_DMA_LEN`, checked above.
        self.write(regs::DMA_COUNT, len as u32)?;
        // The CPU's writes to the region must reach memory before the device
        // starts reading it.
        barrier::wmb();
        self.write(regs::DMA_CMD, dma_cmd::START | dir | irq)?;
        match direction {
            Direction::ToDevice => self.stats.dma_to += 1,
            Direction::FromDevice => self.stats.dma_from += 1,
        }
        Ok(())
    }

    fn wait_dma(&mut self) -> Result<(), Error> {
        for _ in 0..self.poll_limit {
            if !self.dma_busy()? {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        self.stats.timeouts += 1;
        Err(Error::Timeout)
    }

    fn read(&self, reg: usize) -> Result<u32, Error> {
        Ok(self.regs.read_u32(reg)?)
    }

    fn write(&self, reg: usize, value: u32) -> Result<(), Error> {
        Ok(self.regs.write_u32(reg, value)?)
    }
}
