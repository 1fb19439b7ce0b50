//! Where the three parts of a split virtqueue sit in its one DMA region.
//!
//! virtio 1.2 §2.7 gives each part its own alignment ("Virtqueue Part
//! Alignment") and, for a modern device, its own bus address: the driver
//! tells the device all three (`queue_desc`, `queue_driver`,
//! `queue_device`), so they need not be contiguous. Putting them in one
//! region anyway means one allocation per queue:
//!
//! ```text
//! 0                 descriptor table   16 × size bytes         (16-aligned)
//! avail             available ring     flags, idx, ring[size], used_event
//! used              used ring          flags, idx, ring[size] × 8, avail_event (4-aligned)
//! ```
//!
//! The trailing `used_event` / `avail_event` words exist only with
//! VIRTIO_F_EVENT_IDX, but they are always allocated: two bytes each is
//! cheaper than a second layout.

use crate::regs::ring;

/// Byte offsets of a split virtqueue's parts inside its region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RingLayout {
    /// Queue size (entries per ring, descriptors in the table).
    pub size: usize,
    /// Start of the available (driver) ring.
    pub avail: usize,
    /// Start of the used (device) ring.
    pub used: usize,
    /// Bytes the whole queue needs.
    pub total: usize,
}

impl RingLayout {
    pub const fn new(size: u16) -> Self {
        let size = size as usize;
        let desc_len = ring::DESC_SIZE * size;
        // The table's length is a multiple of 16, so the avail ring is
        // already 2-aligned.
        let avail = desc_len;
        let avail_len = ring::RING_ENTRIES + ring::AVAIL_ELEM_SIZE * size + 2;
        let used = (avail + avail_len).next_multiple_of(ring::USED_ALIGN);
        let used_len = ring::RING_ENTRIES + ring::USED_ELEM_SIZE * size + 2;
        RingLayout { size, avail, used, total: used + used_len }
    }

    /// Offset of descriptor `id`.
    pub const fn desc(&self, id: u16) -> usize {
        ring::DESC_SIZE * id as usize
    }

    /// Offset of the available ring's entry for free-running index `idx`.
    pub const fn avail_entry(&self, idx: u16) -> usize {
        self.avail + ring::RING_ENTRIES + ring::AVAIL_ELEM_SIZE * (idx as usize % self.size)
    }

    /// Offset of `used_event`, after the available ring's entries (§2.7.6).
    pub const fn used_event(&self) -> usize {
        self.avail + ring::RING_ENTRIES + ring::AVAIL_ELEM_SIZE * self.size
    }

    /// Offset of the used ring's entry for free-running index `idx`.
    pub const fn used_entry(&self, idx: u16) -> usize {
        self.used + ring::RING_ENTRIES + ring::USED_ELEM_SIZE * (idx as usize % self.size)
    }

    /// Offset of `avail_event`, after the used ring's entries (§2.7.8).
    pub const fn avail_event(&self) -> usize {
        self.used + ring::RING_ENTRIES + ring::USED_ELEM_SIZE * self.size
    }
}

#[cfg(test)]
mod tests {
    use super::RingLayout;

    #[test]
    fn parts_are_aligned_and_do_not_overlap() {
        for size in [1u16, 2, 4, 8, 256, 32768] {
            let l = RingLayout::new(size);
            let s = usize::from(size);
            assert_eq!(l.avail, 16 * s);
            assert_eq!(l.avail % 2, 0);
            assert_eq!(l.used % 4, 0);
            assert!(l.used >= l.used_event() + 2, "used ring after used_event");
            assert_eq!(l.total, l.avail_event() + 2);
        }
        // Size 1: avail = 16, avail ring 4 + 2 + 2 = 8 bytes → used at 24.
        assert_eq!(RingLayout::new(1).used, 24);
        // Size 2: avail ring 4 + 4 + 2 = 10 → 42, rounded to 44.
        assert_eq!(RingLayout::new(2).used, 44);
    }

    #[test]
    fn entries_wrap_modulo_the_size() {
        let l = RingLayout::new(4);
        assert_eq!(l.avail_entry(0), l.avail_entry(4));
        assert_eq!(l.used_entry(65535), l.used_entry(3));
        assert_eq!(l.desc(3), 48);
    }
}
