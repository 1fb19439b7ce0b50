//! `ioremap`: mapping device registers (MMIO) into kernel virtual memory.
//!
//! Device memory is not RAM: a read can have side effects and a write must
//! reach the device, in order, now. So it is never reached through the
//! (cached) direct map; `ioremap` maps it in the vmap area with caching
//! disabled (PCD|PWT = UC under the power-on PAT, Intel SDM vol. 3A
//! §11.12.3), and the returned [`IoMem`] hands drivers a bounds-checked
//! `hal::mmio::MmioWindow`. Dropping it unmaps the range (`iounmap`).
//!
//! Firmware tables outside RAM (ACPI tables in "reserved" memory) use the
//! same area with normal cached attributes ([`vmap_phys`]).
//!
//! Virtual space in the vmap area comes from a first-fit free list with
//! coalescing, so mappings can come and go (driver probe/remove) forever.

use alloc::vec::Vec;
use core::ops::Deref;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::sync::SpinLockIrq;
use hal::io::{IoError, IoStatsSnapshot, RegisterWindow};
use hal::mmio::MmioWindow;

use super::paging::{self, Flags, PageSize};
use super::{align_down, align_up, MmError, PhysAddr, VirtAddr, PAGE_SIZE, VMAP_BASE, VMAP_SIZE};

/// Free virtual ranges (start, len) of the vmap area, sorted by start.
static VMAP_FREE: SpinLockIrq<Vec<(VirtAddr, u64)>> = SpinLockIrq::new(Vec::new());
static VMAP_INIT: spin::Once = spin::Once::new();

pub static LIVE_MAPPINGS: AtomicU64 = AtomicU64::new(0);
pub static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);

fn vmap_alloc(len: u64) -> Result<VirtAddr, MmError> {
    VMAP_INIT.call_once(|| VMAP_FREE.lock().push((VMAP_BASE, VMAP_SIZE)));
    let mut free = VMAP_FREE.lock();
    // One unmapped guard page after each mapping catches overruns.
    let need = len + PAGE_SIZE;
    let i = free.iter().position(|&(_, l)| l >= need).ok_or(MmError::OutOfVirtualSpace)?;
    let (start, l) = free[i];
    if l == need {
        free.remove(i);
    } else {
        free[i] = (start + need, l - need);
    }
    Ok(start)
}

fn vmap_free(start: VirtAddr, len: u64) {
    let mut free = VMAP_FREE.lock();
    let len = len + PAGE_SIZE;
    let i = free.partition_point(|&(s, _)| s < start);
    free.insert(i, (start, len));
    // Merge with the next, then with the previous range.
    if i + 1 < free.len() && free[i].0 + free[i].1 == free[i + 1].0 {
        free[i].1 += free[i + 1].1;
        free.remove(i + 1);
    }
    if i > 0 && free[i - 1].0 + free[i - 1].1 == free[i].0 {
        free[i - 1].1 += free[i].1;
        free.remove(i);
    }
}

/// An uncached mapping of device memory; unmapped on drop.
pub struct IoMem {
    window: MmioWindow,
    virt: VirtAddr,
    len: u64,
}

/// Maps `[phys, phys+len)` into the vmap area with `flags`; returns the
/// virtual address of `phys` (which need not be page aligned).
pub fn vmap_phys(phys: PhysAddr, len: u64, flags: Flags) -> Result<VirtAddr, MmError> {
    if len == 0 {
        return Err(MmError::InvalidArgument("zero-length mapping"));
    }
    let base = align_down(phys, PAGE_SIZE);
    let map_len = align_up(phys + len, PAGE_SIZE) - base;
    let virt = vmap_alloc(map_len)?;
    let mut off = 0;
    while off < map_len {
        if let Err(e) = paging::map(virt + off, base + off, PageSize::Size4K, flags) {
            unmap_pages(virt, off);
            vmap_free(virt, map_len);
            return Err(e);
        }
        off += PAGE_SIZE;
    }
    LIVE_MAPPINGS.fetch_add(1, Ordering::Relaxed);
    LIVE_BYTES.fetch_add(map_len, Ordering::Relaxed);
    Ok(virt + (phys - base))
}

/// Undoes [`vmap_phys`] for the same `(virt, len)`.
pub fn vunmap(virt: VirtAddr, len: u64) {
    let base = align_down(virt, PAGE_SIZE);
    let map_len = align_up(virt + len, PAGE_SIZE) - base;
    unmap_pages(base, map_len);
    vmap_free(base, map_len);
    LIVE_MAPPINGS.fetch_sub(1, Ordering::Relaxed);
    LIVE_BYTES.fetch_sub(map_len, Ordering::Relaxed);
}

/// Maps `len` bytes of device memory at `phys`, uncached.
pub fn ioremap(phys: PhysAddr, len: u64) -> Result<IoMem, MmError> {
    let virt = vmap_phys(phys, len, Flags::DEVICE)?;
    let start = NonNull::new(virt as *mut u8).ok_or(MmError::OutOfVirtualSpace)?;
    // SAFETY: [virt, virt+len) was just mapped uncached to the device and
    // stays mapped until the IoMem (which owns the window) is dropped.
    let window = unsafe { MmioWindow::new(start, len as usize) };
    Ok(IoMem { window, virt, len })
}

fn unmap_pages(virt: VirtAddr, len: u64) {
    let mut off = 0;
    while off < len {
        let _ = paging::unmap(virt + off);
        off += PAGE_SIZE;
    }
}

impl IoMem {
    pub fn virt(&self) -> VirtAddr {
        self.virt
    }
}

/// Drivers take an `IoMem` as their register window: it owns the mapping
/// and delegates every access to the bounds-checked `MmioWindow`.
impl RegisterWindow for IoMem {
    fn size(&self) -> usize {
        self.window.size()
    }
    fn stats(&self) -> IoStatsSnapshot {
        self.window.stats()
    }
    fn read_u8(&self, offset: usize) -> Result<u8, IoError> {
        self.window.read_u8(offset)
    }
    fn read_u16(&self, offset: usize) -> Result<u16, IoError> {
        self.window.read_u16(offset)
    }
    fn read_u32(&self, offset: usize) -> Result<u32, IoError> {
        self.window.read_u32(offset)
    }
    fn read_u64(&self, offset: usize) -> Result<u64, IoError> {
        self.window.read_u64(offset)
    }
    fn write_u8(&self, offset: usize, value: u8) -> Result<(), IoError> {
        self.window.write_u8(offset, value)
    }
    fn write_u16(&self, offset: usize, value: u16) -> Result<(), IoError> {
        self.window.write_u16(offset, value)
    }
    fn write_u32(&self, offset: usize, value: u32) -> Result<(), IoError> {
        self.window.write_u32(offset, value)
    }
    fn write_u64(&self, offset: usize, value: u64) -> Result<(), IoError> {
        self.window.write_u64(offset, value)
    }
}

/// The mapping is used through its bounds-checked register window.
impl Deref for IoMem {
    type Target = MmioWindow;
    fn deref(&self) -> &MmioWindow {
        &self.window
    }
}

impl Drop for IoMem {
    fn drop(&mut self) {
        vunmap(self.virt, self.len);
    }
}
