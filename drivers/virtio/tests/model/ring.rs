//! The device's side of a split virtqueue, as QEMU's `hw/virtio/virtio.c`
//! plays it: pop chains from the available ring (following `NEXT` links and
//! indirect tables), push used entries, and decide whether to interrupt —
//! all by DMA through the fake physical memory, at the bus addresses the
//! driver programmed.
//!
//! Layout constants are written out from virtio 1.2 §2.7 rather than taken
//! from the driver, so a wrong constant in the driver is not mirrored here.

use hal::dma::sim::PhysMemory;
use hal::dma::BusAddr;

pub const DESC_F_NEXT: u16 = 1;
pub const DESC_F_WRITE: u16 = 2;
pub const DESC_F_INDIRECT: u16 = 4;
pub const AVAIL_F_NO_INTERRUPT: u16 = 1;
pub const USED_F_NO_NOTIFY: u16 = 1;

/// One buffer of a chain, as the device sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seg {
    pub addr: u64,
    pub len: u32,
}

/// A chain popped from the available ring.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chain {
    pub head: u16,
    pub readable: Vec<Seg>,
    pub writable: Vec<Seg>,
    /// The chain came through an indirect table.
    pub indirect: bool,
    /// Ring descriptors it used.
    pub ring_descs: u16,
}

pub fn read_u16(mem: &PhysMemory, addr: u64) -> u16 {
    let mut b = [0; 2];
    mem.read(BusAddr(addr), &mut b).expect("ring DMA inside memory");
    u16::from_le_bytes(b)
}

pub fn read_u32(mem: &PhysMemory, addr: u64) -> u32 {
    let mut b = [0; 4];
    mem.read(BusAddr(addr), &mut b).expect("ring DMA inside memory");
    u32::from_le_bytes(b)
}

pub fn read_u64(mem: &PhysMemory, addr: u64) -> u64 {
    let mut b = [0; 8];
    mem.read(BusAddr(addr), &mut b).expect("ring DMA inside memory");
    u64::from_le_bytes(b)
}

pub fn write_u16(mem: &PhysMemory, addr: u64, v: u16) {
    mem.write(BusAddr(addr), &v.to_le_bytes()).expect("ring DMA inside memory");
}

pub fn write_u32(mem: &PhysMemory, addr: u64, v: u32) {
    mem.write(BusAddr(addr), &v.to_le_bytes()).expect("ring DMA inside memory");
}

/// `vring_need_event` from the spec (§2.7.10), written out independently.
pub fn need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

/// A raw descriptor.
#[derive(Clone, Copy, Debug)]
struct Desc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

fn read_desc(mem: &PhysMemory, table: u64, i: u16) -> Desc {
    let at = table + 16 * u64::from(i);
    Desc {
        addr: read_u64(mem, at),
        len: read_u32(mem, at + 8),
        flags: read_u16(mem, at + 12),
        next: read_u16(mem, at + 14),
    }
}

/// The device's view of one queue.
#[derive(Clone, Debug)]
pub struct DeviceRing {
    pub size: u16,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
    pub event_idx: bool,
    pub indirect_allowed: bool,
    /// Next available-ring index to consume.
    pub last_avail: u16,
    /// The device's used index.
    pub used_idx: u16,
    /// After each pop, publish `avail_event = last_avail` (QEMU does this
    /// with event-idx: "notify me for anything beyond what I have taken").
    pub auto_avail_event: bool,
    /// QEMU's `signalled_used`: the used index at the last interrupt decision.
    signalled_used: u16,
    signalled_valid: bool,
}

impl DeviceRing {
    pub fn new(size: u16, desc: u64, avail: u64, used: u64, event_idx: bool, indirect_allowed: bool) -> Self {
        DeviceRing {
            size,
            desc,
            avail,
            used,
            event_idx,
            indirect_allowed,
            last_avail: 0,
            used_idx: 0,
            auto_avail_event: true,
            signalled_used: 0,
            signalled_valid: false,
        }
    }

    pub fn avail_idx(&self, mem: &PhysMemory) -> u16 {
        read_u16(mem, self.avail + 2)
    }

    pub fn avail_flags(&self, mem: &PhysMemory) -> u16 {
        read_u16(mem, self.avail)
    }

    /// `used_event`, at the end of the available ring.
    pub fn used_event(&self, mem: &PhysMemory) -> u16 {
        read_u16(mem, self.avail + 4 + 2 * u64::from(self.size))
    }

    /// `avail_event`, at the end of the used ring.
    pub fn avail_event_addr(&self) -> u64 {
        self.used + 4 + 8 * u64::from(self.size)
    }

    pub fn set_avail_event(&self, mem: &PhysMemory, v: u16) {
        write_u16(mem, self.avail_event_addr(), v);
    }

    pub fn set_used_flags(&self, mem: &PhysMemory, flags: u16) {
        write_u16(mem, self.used, flags);
    }

    /// Chains the driver published and the device has not taken.
    pub fn pending(&self, mem: &PhysMemory) -> u16 {
        self.avail_idx(mem).wrapping_sub(self.last_avail)
    }

    /// Takes the next available chain, following links and an indirect
    /// table. `Err` describes a malformed chain (it is consumed anyway).
    pub fn pop(&mut self, mem: &PhysMemory) -> Result<Option<Chain>, String> {
        if self.pending(mem) == 0 {
            return Ok(None);
        }
        if self.pending(mem) > self.size {
            return Err(format!("avail.idx moved {} past the device's, queue size {}", self.pending(mem), self.size));
        }
        let slot = self.last_avail % self.size;
        let head = read_u16(mem, self.avail + 4 + 2 * u64::from(slot));
        self.last_avail = self.last_avail.wrapping_add(1);
        if self.event_idx && self.auto_avail_event {
            self.set_avail_event(mem, self.last_avail);
        }
        if head >= self.size {
            return Err(format!("avail ring names descriptor {head} of {}", self.size));
        }
        let mut chain = Chain { head, ..Chain::default() };
        let mut table = self.desc;
        let mut table_len = self.size;
        let mut i = head;
        let mut steps = 0;
        loop {
            steps += 1;
            if steps > table_len {
                return Err("descriptor chain loops or is longer than its table".into());
            }
            if table == self.desc {
                chain.ring_descs += 1;
            }
            let d = read_desc(mem, table, i);
            if d.flags & DESC_F_INDIRECT != 0 {
                if table != self.desc {
                    return Err("INDIRECT inside an indirect table".into());
                }
                if !self.indirect_allowed {
                    return Err("INDIRECT without VIRTIO_F_INDIRECT_DESC".into());
                }
                if d.flags & DESC_F_NEXT != 0 {
                    return Err("INDIRECT together with NEXT".into());
                }
                if d.len == 0 || !d.len.is_multiple_of(16) {
                    return Err(format!("indirect table length {}", d.len));
                }
                chain.indirect = true;
                table = d.addr;
                table_len = (d.len / 16) as u16;
                i = 0;
                steps = 0;
                continue;
            }
            if d.len == 0 {
                return Err("zero-length descriptor".into());
            }
            let seg = Seg { addr: d.addr, len: d.len };
            if d.flags & DESC_F_WRITE != 0 {
                chain.writable.push(seg);
            } else if !chain.writable.is_empty() {
                return Err("readable descriptor after a writable one".into());
            } else {
                chain.readable.push(seg);
            }
            if d.flags & DESC_F_NEXT == 0 {
                break;
            }
            if d.next >= table_len {
                return Err(format!("next {} outside a table of {table_len}", d.next));
            }
            i = d.next;
        }
        Ok(Some(chain))
    }

    /// Writes a used entry and publishes the new used index.
    pub fn push(&mut self, mem: &PhysMemory, id: u32, len: u32) {
        let slot = self.used_idx % self.size;
        let at = self.used + 4 + 8 * u64::from(slot);
        write_u32(mem, at, id);
        write_u32(mem, at + 4, len);
        self.used_idx = self.used_idx.wrapping_add(1);
        write_u16(mem, self.used + 2, self.used_idx);
    }

    /// QEMU's `virtio_split_should_notify`: interrupt the driver for the
    /// entries pushed since the last decision?
    pub fn should_interrupt(&mut self, mem: &PhysMemory) -> bool {
        if !self.event_idx {
            return self.avail_flags(mem) & AVAIL_F_NO_INTERRUPT == 0;
        }
        let valid = self.signalled_valid;
        let old = self.signalled_used;
        self.signalled_valid = true;
        self.signalled_used = self.used_idx;
        !valid || need_event(self.used_event(mem), self.used_idx, old)
    }

    /// Copies bytes gathered from the readable buffers.
    pub fn gather(mem: &PhysMemory, segs: &[Seg]) -> Vec<u8> {
        let mut out = Vec::new();
        for s in segs {
            let mut b = vec![0; s.len as usize];
            mem.read(BusAddr(s.addr), &mut b).expect("buffer inside memory");
            out.extend_from_slice(&b);
        }
        out
    }

    /// Scatters `data` over the writable buffers; returns bytes written.
    pub fn scatter(mem: &PhysMemory, segs: &[Seg], data: &[u8]) -> usize {
        let mut done = 0;
        for s in segs {
            if done == data.len() {
                break;
            }
            let n = (s.len as usize).min(data.len() - done);
            mem.write(BusAddr(s.addr), &data[done..done + n]).expect("buffer inside memory");
            done += n;
        }
        done
    }
}
