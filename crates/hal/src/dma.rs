//! DMA: memory that a device reads and writes on its own.
//!
//! With direct memory access a device moves data between itself and RAM
//! without the CPU (seed: "DMA"): the driver puts a *bus address* and a length
//! into device registers, and the device's bus-master engine does the loads and
//! stores. This module is the small vocabulary a driver needs for that; the
//! kernel's DMA mapper (`kernel/src/dma/`, and later an IOMMU behind the same
//! traits) implements it, and `sim` (feature `sim`) fakes it for host tests.
//!
//! # Bus addresses
//!
//! A device does not see the CPU's virtual addresses, and not necessarily its
//! physical ones either: it issues [`BusAddr`]esses, which the platform
//! translates — identically ("direct mapping", what q35 does without an
//! IOMMU) or through an IOMMU's page tables. A driver only ever gives a device
//! the `bus_addr()` of a region it was handed, never an address it computed.
//!
//! # Address limits (the "DMA mask")
//!
//! Many devices cannot drive every address line: QEMU's `edu` only emits 28
//! bits by default, old ISA DMA 24. Linux calls this the device's DMA mask and
//! the driver declares it (`dma_set_mask`). Here the driver passes it to
//! [`DmaAllocator::alloc_coherent`] as `addr_limit`, the highest bus address
//! the device can reach *plus one* (`1 << 28` for edu), and the allocator
//! either finds memory below it or fails with [`DmaError::AddressLimit`]. A
//! driver still checks a region it is handed with [`BusAddr::fits_below`]
//! before programming the device: a device that truncates an address writes
//! somewhere else entirely.
//!
//! # Why regions are accessed through methods
//!
//! A [`DmaRegion`] never hands out a `&[u8]` or `&mut [u8]` to its memory. A
//! Rust reference promises that nobody else changes the memory while it lives
//! (`&`) or that nobody else even reads it (`&mut`), and the compiler
//! optimises on that promise: it may keep a value in a register across a loop
//! that polls for the device's answer, or drop a store it believes nobody will
//! read. A device writing behind the program's back breaks the promise — the
//! aliasing bug Tock fixed in #2637, where DMA buffers were `&'static mut [u8]`.
//! So every access is a method call that copies data in or out (volatile
//! words, or a fenced bulk copy, on the kernel side, see [`DmaMemory`]), and bounds-checked: an offset past the end
//! is a [`DmaError::OutOfRange`], never a write into a neighbour's memory.
//!
//! Multi-byte helpers ([`DmaRegion::read_u32`] and friends) use little-endian
//! byte order, the byte order of PCI and of every device ioxide drives.
//!
//! # Coherent memory
//!
//! [`DmaAllocator::alloc_coherent`] returns *coherent* memory (Linux's
//! `dma_alloc_coherent`): CPU and device see each other's writes without cache
//! maintenance — always true on x86, where DMA snoops the caches. What remains
//! is ordering, the business of [`crate::barrier`]: write the data, then a
//! write barrier, then the register write that starts the device; see the
//! device's "done", then a read barrier, then read the data.

use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{compiler_fence, Ordering};

/// An address as a device on the bus sees it: what goes into its DMA registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BusAddr(pub u64);

impl BusAddr {
    /// The address as a number.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// `self + offset`, or `None` if that overflows 64 bits.
    pub const fn checked_add(self, offset: u64) -> Option<BusAddr> {
        match self.0.checked_add(offset) {
            Some(addr) => Some(BusAddr(addr)),
            None => None,
        }
    }

    /// Whether the `len` bytes starting here all lie below `addr_limit` — the
    /// highest bus address a device can reach plus one, as passed to
    /// [`DmaAllocator::alloc_coherent`]. Overflow counts as "does not fit".
    pub const fn fits_below(self, len: usize, addr_limit: u64) -> bool {
        match self.0.checked_add(len as u64) {
            Some(end) => end <= addr_limit,
            None => false,
        }
    }
}

impl fmt::Display for BusAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bus {:#x}", self.0)
    }
}

/// Why a DMA allocation or access failed. A failed access touched nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaError {
    /// No DMA memory of the requested size is left.
    OutOfMemory,
    /// `offset .. offset + len` does not lie inside the region.
    OutOfRange {
        /// Requested offset from the region's start.
        offset: usize,
        /// Requested length in bytes.
        len: usize,
        /// The region's size in bytes.
        size: usize,
    },
    /// There is memory, but none below the device's address limit.
    AddressLimit,
}

impl fmt::Display for DmaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DmaError::OutOfMemory => write!(f, "out of DMA memory"),
            DmaError::OutOfRange { offset, len, size } => {
                write!(f, "DMA access of {len} bytes at offset {offset:#x} is outside a {size:#x}-byte region")
            }
            DmaError::AddressLimit => write!(f, "no DMA memory below the device's address limit"),
        }
    }
}

impl core::error::Error for DmaError {}

/// Checks that `len` bytes at `offset` fit in a region of `size` bytes.
///
/// Written with `checked_add` so that a huge offset cannot wrap around and pass.
pub fn check_range(offset: usize, len: usize, size: usize) -> Result<(), DmaError> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(DmaError::OutOfRange { offset, len, size }),
    }
}

/// A contiguous piece of memory that a device can reach at [`bus_addr`](Self::bus_addr).
///
/// The CPU side reaches it only through these methods (see the
/// [module docs](self#why-regions-are-accessed-through-methods)). Each access
/// is bounds-checked against [`len`](Self::len) and either completes or
/// returns an error having touched nothing. Methods take `&self`: the device
/// changes the memory regardless, so the CPU side is interior-mutable too.
///
/// Dropping a region frees it, so the owner must keep it alive until the
/// device is done with it (its "done" status or interrupt has been seen).
pub trait DmaRegion: Send {
    /// Where the device sees the region's first byte.
    fn bus_addr(&self) -> BusAddr;

    /// The region's size in bytes.
    fn len(&self) -> usize;

    /// Whether the region is zero bytes long.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `buf.len()` bytes starting at `offset` out of the region.
    fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), DmaError>;

    /// Copies `data` into the region at `offset`.
    fn write(&self, offset: usize, data: &[u8]) -> Result<(), DmaError>;

    /// Reads a byte.
    fn read_u8(&self, offset: usize) -> Result<u8, DmaError> {
        let mut b = [0; 1];
        self.read(offset, &mut b)?;
        Ok(b[0])
    }

    /// Reads a little-endian 16-bit value.
    fn read_u16(&self, offset: usize) -> Result<u16, DmaError> {
        let mut b = [0; 2];
        self.read(offset, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    /// Reads a little-endian 32-bit value. Implementations should make an
    /// aligned one a single access, so a status word the device updates is
    /// never seen half old, half new.
    fn read_u32(&self, offset: usize) -> Result<u32, DmaError> {
        let mut b = [0; 4];
        self.read(offset, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads a little-endian 64-bit value.
    fn read_u64(&self, offset: usize) -> Result<u64, DmaError> {
        let mut b = [0; 8];
        self.read(offset, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes a byte.
    fn write_u8(&self, offset: usize, value: u8) -> Result<(), DmaError> {
        self.write(offset, &[value])
    }

    /// Writes a little-endian 16-bit value.
    fn write_u16(&self, offset: usize, value: u16) -> Result<(), DmaError> {
        self.write(offset, &value.to_le_bytes())
    }

    /// Writes a little-endian 32-bit value (a single access when aligned, as
    /// for [`read_u32`](Self::read_u32)).
    fn write_u32(&self, offset: usize, value: u32) -> Result<(), DmaError> {
        self.write(offset, &value.to_le_bytes())
    }

    /// Writes a little-endian 64-bit value.
    fn write_u64(&self, offset: usize, value: u64) -> Result<(), DmaError> {
        self.write(offset, &value.to_le_bytes())
    }
}

/// Where drivers get DMA memory from: the kernel's DMA mapper, or `sim::FakeDma`.
pub trait DmaAllocator {
    /// The regions this allocator hands out.
    type Region: DmaRegion;

    /// Allocates `len` bytes of zeroed, coherent DMA memory that lies wholly
    /// below bus address `addr_limit` (the highest address the device can
    /// reach plus one: `1 << 28` for a 28-bit device, `u64::MAX` for "any").
    ///
    /// Fails with [`DmaError::AddressLimit`] if memory exists but not below the
    /// limit, [`DmaError::OutOfMemory`] if there is none.
    fn alloc_coherent(&self, len: usize, addr_limit: u64) -> Result<Self::Region, DmaError>;
}

/// Kernel-side access to DMA memory through a CPU mapping: the volatile half
/// that a [`DmaRegion`] implementation is built on.
///
/// It does not own the memory: the kernel's DMA mapper allocates and maps it,
/// wraps a `DmaMemory` in its region type, and frees the memory when that
/// region is dropped. Word accesses (`read_u32`, descriptor fields, status
/// words) are volatile — the device may change them at any time, so the
/// compiler must neither cache, merge nor drop them; bulk `read`/`write` of
/// data the driver owns is one copy between compiler fences. Every access
/// is bounds-checked.
#[derive(Debug)]
pub struct DmaMemory {
    virt: NonNull<u8>,
    bus: BusAddr,
    len: usize,
}

// SAFETY: the struct holds only addresses. `new`'s contract makes `virt` memory
// that no Rust reference covers and that stays mapped while the `DmaMemory`
// lives, so using it from another CPU is just issuing the same volatile loads
// and stores from there.
unsafe impl Send for DmaMemory {}
// SAFETY: as for `Send`; all methods take `&self` and make volatile accesses.
// Concurrent writers race on the *contents* (as the device does), never on
// anything Rust relies on.
unsafe impl Sync for DmaMemory {}

impl DmaMemory {
    /// A view of the `len` bytes at virtual address `virt`, which the device
    /// reaches at `bus`.
    ///
    /// # Safety
    ///
    /// For as long as the `DmaMemory` exists:
    /// - `virt .. virt + len` is mapped, readable and writable RAM (coherent
    ///   for DMA, e.g. write-back RAM on x86) that the caller owns;
    /// - no Rust reference to any of it exists, and nothing else accesses it
    ///   except through this `DmaMemory` and the device.
    pub const unsafe fn new(virt: NonNull<u8>, bus: BusAddr, len: usize) -> Self {
        DmaMemory { virt, bus, len }
    }

    /// The CPU's (virtual) address of the first byte.
    pub fn virt(&self) -> NonNull<u8> {
        self.virt
    }

    /// A pointer to `offset`, once `offset .. offset + len` is known to fit.
    fn at(&self, offset: usize, len: usize) -> Result<*mut u8, DmaError> {
        check_range(offset, len, self.len)?;
        // SAFETY: `offset + len <= self.len` (checked above), and `new`'s
        // contract makes `virt .. virt + self.len` one mapped range, so the
        // pointer stays inside it (or one past its end when `len` is 0).
        Ok(unsafe { self.virt.as_ptr().add(offset) })
    }
}

impl DmaRegion for DmaMemory {
    fn bus_addr(&self) -> BusAddr {
        self.bus
    }

    fn len(&self) -> usize {
        self.len
    }

    fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), DmaError> {
        let src = self.at(offset, buf.len())?;
        // Bulk data is one copy, not a volatile load per byte (under TCG
        // that is the difference between ~300 MB/s and memcpy speed). What
        // volatile protected against — the compiler keeping an old value
        // or moving the access — cannot happen here: no reference to the
        // memory exists, each call copies afresh, and the fences keep the
        // copy after the driver's volatile "done" check and barrier and
        // before whatever it does next. The device does not write these
        // bytes meanwhile: the driver owns them (descriptor protocol).
        compiler_fence(Ordering::SeqCst);
        // `src .. src + buf.len()` is inside the mapping (checked by `at`),
        // which `new`'s contract makes valid RAM for bytes.
        // SAFETY: in-bounds mapped RAM; `buf` is the caller's, no overlap.
        unsafe { core::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) };
        compiler_fence(Ordering::SeqCst);
        Ok(())
    }

    fn write(&self, offset: usize, data: &[u8]) -> Result<(), DmaError> {
        let dst = self.at(offset, data.len())?;
        compiler_fence(Ordering::SeqCst);
        // No Rust reference covers the memory, and the device does not read
        // it until the driver hands it over (after a write barrier, which the
        // fence keeps after this copy).
        // SAFETY: in-bounds mapped RAM (as in `read`); `data` cannot overlap it.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
        compiler_fence(Ordering::SeqCst);
        Ok(())
    }

    fn read_u32(&self, offset: usize) -> Result<u32, DmaError> {
        let src = self.at(offset, 4)?;
        if src.cast::<u32>().is_aligned() {
            // SAFETY: inside the mapping (checked by `at`) and aligned for
            // `u32`: one indivisible load, so a device-updated word is never torn.
            Ok(u32::from_le(unsafe { src.cast::<u32>().read_volatile() }))
        } else {
            let mut b = [0; 4];
            self.read(offset, &mut b)?;
            Ok(u32::from_le_bytes(b))
        }
    }

    fn write_u32(&self, offset: usize, value: u32) -> Result<(), DmaError> {
        let dst = self.at(offset, 4)?;
        if dst.cast::<u32>().is_aligned() {
            // SAFETY: as in `read_u32`.
            unsafe { dst.cast::<u32>().write_volatile(value.to_le()) };
            Ok(())
        } else {
            self.write(offset, &value.to_le_bytes())
        }
    }
}

/// Host fakes: DMA memory as a `Vec<u8>` that a device model reads and writes.
///
/// [`FakeDma`] stands for the kernel's DMA mapper. It owns a stretch of fake
/// "physical memory" at some bus address ([`PhysMemory`]) and hands out
/// page-aligned [`FakeRegion`]s of it. A device model keeps a clone of
/// [`FakeDma::memory`] and performs its DMA through it *by bus address*, as a
/// real device does, so a driver that programs the wrong address moves the
/// wrong bytes — or hits [`DmaError::OutOfRange`] outside the memory — and the
/// test sees it.
#[cfg(any(test, feature = "sim"))]
pub mod sim {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
    use std::vec;
    use std::vec::Vec;

    use super::{check_range, BusAddr, DmaAllocator, DmaError, DmaRegion};

    /// Allocation granularity and alignment: one page, as a kernel allocator's.
    pub const PAGE_SIZE: usize = 4096;

    /// Where [`FakeDma::new`]'s memory starts: 1 MiB, so bus address 0 — what
    /// an unprogrammed DMA register holds — never belongs to any region.
    pub const DEFAULT_BASE: BusAddr = BusAddr(0x10_0000);

    /// Fake physical memory: `size` bytes at bus addresses `base .. base + size`.
    /// Cloning gives another handle to the same bytes.
    #[derive(Clone, Debug)]
    pub struct PhysMemory {
        base: BusAddr,
        bytes: Arc<Mutex<Vec<u8>>>,
    }

    impl PhysMemory {
        fn new(base: BusAddr, size: usize) -> Self {
            PhysMemory { base, bytes: Arc::new(Mutex::new(vec![0; size])) }
        }

        fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
            self.bytes.lock().unwrap_or_else(PoisonError::into_inner)
        }

        /// The bus address of the first byte.
        pub fn base(&self) -> BusAddr {
            self.base
        }

        /// The size in bytes.
        pub fn size(&self) -> usize {
            self.lock().len()
        }

        /// The offset into the bytes of `len` bytes at `addr`, if they are all there.
        fn offset_of(&self, addr: BusAddr, len: usize, size: usize) -> Result<usize, DmaError> {
            let offset = usize::try_from(addr.0.wrapping_sub(self.base.0)).unwrap_or(usize::MAX);
            check_range(offset, len, size)?;
            Ok(offset)
        }

        /// A device read (DMA towards the device): copies `buf.len()` bytes
        /// from bus address `addr`.
        pub fn read(&self, addr: BusAddr, buf: &mut [u8]) -> Result<(), DmaError> {
            let bytes = self.lock();
            let offset = self.offset_of(addr, buf.len(), bytes.len())?;
            buf.copy_from_slice(&bytes[offset..offset + buf.len()]);
            Ok(())
        }

        /// A device write (DMA from the device): copies `data` to bus address `addr`.
        pub fn write(&self, addr: BusAddr, data: &[u8]) -> Result<(), DmaError> {
            let mut bytes = self.lock();
            let offset = self.offset_of(addr, data.len(), bytes.len())?;
            bytes[offset..offset + data.len()].copy_from_slice(data);
            Ok(())
        }
    }

    /// A bump allocator over one [`PhysMemory`]: regions are page-aligned,
    /// zeroed, and never reused (a test allocates a handful).
    #[derive(Debug)]
    pub struct FakeDma {
        memory: PhysMemory,
        /// The next free bus address.
        next: Mutex<u64>,
        allocations: AtomicU64,
        bytes: AtomicU64,
    }

    impl FakeDma {
        /// `size` bytes of memory at [`DEFAULT_BASE`].
        pub fn new(size: usize) -> Self {
            Self::with_base(DEFAULT_BASE, size)
        }

        /// `size` bytes of memory at bus address `base` (rounded up to a page):
        /// e.g. high memory a 28-bit device cannot reach.
        pub fn with_base(base: BusAddr, size: usize) -> Self {
            let base = BusAddr(base.0.next_multiple_of(PAGE_SIZE as u64));
            FakeDma {
                memory: PhysMemory::new(base, size),
                next: Mutex::new(base.0),
                allocations: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
            }
        }

        /// A handle to the memory, for a device model to DMA through.
        pub fn memory(&self) -> PhysMemory {
            self.memory.clone()
        }

        /// Regions handed out so far.
        pub fn allocations(&self) -> u64 {
            self.allocations.load(Ordering::Relaxed)
        }

        /// Bytes handed out so far (whole pages).
        pub fn allocated_bytes(&self) -> u64 {
            self.bytes.load(Ordering::Relaxed)
        }
    }

    impl DmaAllocator for FakeDma {
        type Region = FakeRegion;

        fn alloc_coherent(&self, len: usize, addr_limit: u64) -> Result<FakeRegion, DmaError> {
            let pages = len.div_ceil(PAGE_SIZE).max(1) * PAGE_SIZE;
            let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
            let start = BusAddr(*next);
            let end = self.memory.base.0 + self.memory.size() as u64;
            if !start.fits_below(pages, end) {
                return Err(DmaError::OutOfMemory);
            }
            if !start.fits_below(len, addr_limit) {
                return Err(DmaError::AddressLimit);
            }
            *next += pages as u64;
            // Zeroed, as dma_alloc_coherent's memory is; the bytes may be
            // left over from an earlier test step through `memory()`.
            self.memory.write(start, &vec![0; len])?;
            self.allocations.fetch_add(1, Ordering::Relaxed);
            self.bytes.fetch_add(pages as u64, Ordering::Relaxed);
            Ok(FakeRegion { memory: self.memory.clone(), bus: start, len })
        }
    }

    /// A region handed out by [`FakeDma`].
    #[derive(Debug)]
    pub struct FakeRegion {
        memory: PhysMemory,
        bus: BusAddr,
        len: usize,
    }

    impl DmaRegion for FakeRegion {
        fn bus_addr(&self) -> BusAddr {
            self.bus
        }

        fn len(&self) -> usize {
            self.len
        }

        fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), DmaError> {
            check_range(offset, buf.len(), self.len)?;
            self.memory.read(BusAddr(self.bus.0 + offset as u64), buf)
        }

        fn write(&self, offset: usize, data: &[u8]) -> Result<(), DmaError> {
            check_range(offset, data.len(), self.len)?;
            self.memory.write(BusAddr(self.bus.0 + offset as u64), data)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sim::{FakeDma, PAGE_SIZE};
    use super::*;
    use std::string::ToString;
    use std::vec;

    #[test]
    fn range_checks_accept_what_fits_and_refuse_what_wraps() {
        assert_eq!(check_range(0, 8, 8), Ok(()));
        assert_eq!(check_range(8, 0, 8), Ok(()));
        assert_eq!(check_range(4, 8, 8), Err(DmaError::OutOfRange { offset: 4, len: 8, size: 8 }));
        assert!(check_range(usize::MAX, 2, 8).is_err());
    }

    #[test]
    fn fits_below_is_exclusive_of_the_limit_and_overflow_safe() {
        assert!(BusAddr(0x0fff_f000).fits_below(0x1000, 1 << 28));
        assert!(!BusAddr(0x0fff_f001).fits_below(0x1000, 1 << 28));
        assert!(!BusAddr(u64::MAX).fits_below(2, u64::MAX));
        assert_eq!(BusAddr(u64::MAX).checked_add(1), None);
        assert_eq!(BusAddr(1).checked_add(1), Some(BusAddr(2)));
    }

    #[test]
    fn errors_and_addresses_display() {
        assert_eq!(DmaError::OutOfMemory.to_string(), "out of DMA memory");
        assert_eq!(
            DmaError::OutOfRange { offset: 16, len: 4, size: 16 }.to_string(),
            "DMA access of 4 bytes at offset 0x10 is outside a 0x10-byte region"
        );
        assert_eq!(DmaError::AddressLimit.to_string(), "no DMA memory below the device's address limit");
        assert_eq!(BusAddr(0x40000).to_string(), "bus 0x40000");
    }

    #[test]
    fn dma_memory_reads_back_what_was_written_and_checks_bounds() {
        let mut buffer = vec![0u64; 2];
        let virt = NonNull::new(buffer.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: 16 bytes of live heap memory, not touched by the test while
        // `mem` is used (only after its last use).
        let mem = unsafe { DmaMemory::new(virt, BusAddr(0x1000), 16) };
        assert_eq!(mem.bus_addr(), BusAddr(0x1000));
        assert_eq!(mem.len(), 16);
        mem.write(1, &[1, 2, 3]).unwrap();
        mem.write_u32(4, 0xdead_beef).unwrap();
        mem.write_u32(9, 0x0102_0304).unwrap(); // unaligned: byte by byte
        let mut out = [0; 3];
        mem.read(1, &mut out).unwrap();
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(mem.read_u32(4), Ok(0xdead_beef));
        assert_eq!(mem.read_u8(4), Ok(0xef), "little-endian");
        assert_eq!(mem.read_u32(9), Ok(0x0102_0304));
        assert_eq!(mem.read_u16(12), Ok(0x01));
        assert_eq!(mem.write(14, &[0; 3]), Err(DmaError::OutOfRange { offset: 14, len: 3, size: 16 }));
        assert!(mem.read_u32(13).is_err());
        assert!(mem.read_u64(usize::MAX).is_err());
        assert_eq!(u64::from_le(buffer[0]), 0xdead_beef_0302_0100);
    }

    #[test]
    fn fake_regions_are_page_aligned_zeroed_and_share_the_memory() {
        let dma = FakeDma::new(4 * PAGE_SIZE);
        let a = dma.alloc_coherent(100, u64::MAX).unwrap();
        let b = dma.alloc_coherent(PAGE_SIZE + 1, u64::MAX).unwrap();
        assert_eq!(a.bus_addr(), sim::DEFAULT_BASE);
        assert_eq!(b.bus_addr().0, sim::DEFAULT_BASE.0 + PAGE_SIZE as u64);
        assert_eq!((a.len(), b.len()), (100, PAGE_SIZE + 1));
        assert_eq!(a.read_u64(0), Ok(0));
        a.write_u32(96, 0x1234_5678).unwrap();
        assert!(a.write_u32(97, 0).is_err(), "bounded by the region, not the page");
        // The "device" sees the CPU's write at the bus address, and vice versa.
        let mem = dma.memory();
        let mut word = [0; 4];
        mem.read(BusAddr(a.bus_addr().0 + 96), &mut word).unwrap();
        assert_eq!(word, [0x78, 0x56, 0x34, 0x12]);
        mem.write(b.bus_addr(), b"dev").unwrap();
        let mut got = [0; 3];
        b.read(0, &mut got).unwrap();
        assert_eq!(&got, b"dev");
        assert!(mem.read(BusAddr(0), &mut word).is_err(), "below the memory");
        assert_eq!((dma.allocations(), dma.allocated_bytes()), (2, 3 * PAGE_SIZE as u64));
    }

    #[test]
    fn fake_allocator_honours_limits_and_runs_out() {
        let dma = FakeDma::with_base(BusAddr((1 << 28) - PAGE_SIZE as u64), 3 * PAGE_SIZE);
        let low = dma.alloc_coherent(PAGE_SIZE, 1 << 28).unwrap();
        assert!(low.bus_addr().fits_below(PAGE_SIZE, 1 << 28));
        assert_eq!(dma.alloc_coherent(16, 1 << 28).err(), Some(DmaError::AddressLimit));
        let high = dma.alloc_coherent(2 * PAGE_SIZE, u64::MAX).unwrap();
        assert_eq!(high.bus_addr(), BusAddr(1 << 28));
        assert_eq!(dma.alloc_coherent(1, u64::MAX).err(), Some(DmaError::OutOfMemory));
    }
}
