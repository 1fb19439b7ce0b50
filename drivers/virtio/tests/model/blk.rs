//! The virtio-blk device (virtio 1.2 §5.2), as QEMU's
//! `hw/block/virtio-blk.c` behaves: a disk in a `Vec<u8>`, requests of
//! header + data + status, IOERR injectable per sector, UNSUPP for unknown
//! request types. With [`BlkDevice::hold`] requests wait until the test
//! calls `process` (a slow disk, to fill the queue).

use std::collections::BTreeSet;

use hal::dma::sim::PhysMemory;

use super::ring::DeviceRing;
use super::*;

pub const F_SIZE_MAX: u64 = 1 << 1;
pub const F_SEG_MAX: u64 = 1 << 2;
pub const F_RO: u64 = 1 << 5;
pub const F_BLK_SIZE: u64 = 1 << 6;
pub const F_FLUSH: u64 = 1 << 9;

pub const T_IN: u32 = 0;
pub const T_OUT: u32 = 1;
pub const T_FLUSH: u32 = 4;
pub const T_GET_ID: u32 = 8;
pub const S_OK: u8 = 0;
pub const S_IOERR: u8 = 1;
pub const S_UNSUPP: u8 = 2;

pub const SERIAL: &[u8; 20] = b"ioxide-virtio-disk-0";

/// A request as the device saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub kind: u32,
    pub sector: u64,
    pub data_len: usize,
    pub segments: usize,
    pub indirect: bool,
    pub ring_descs: u16,
}

#[derive(Debug, Default)]
pub struct BlkDevice {
    pub disk: Vec<u8>,
    pub ioerr_sectors: BTreeSet<u64>,
    pub seen: Vec<Seen>,
    pub flushes: u32,
    /// Leave notified requests in the ring until the test processes them.
    pub hold: bool,
    /// Complete requests without writing the status byte.
    pub skip_status: bool,
    /// Answer every request UNSUPP (as for an unknown type).
    pub unsupported: bool,
}

/// A virtio-blk model with a `sectors`-sector disk (filled with a pattern)
/// and one request queue.
pub fn model(memory: PhysMemory, features: u64, sectors: u64, queue_size: u16, seg_max: u32) -> VirtioModel {
    let mut config = vec![0; 24];
    config[0..8].copy_from_slice(&sectors.to_le_bytes());
    config[8..12].copy_from_slice(&(1u32 << 20).to_le_bytes()); // size_max 1 MiB
    config[12..16].copy_from_slice(&seg_max.to_le_bytes());
    config[20..24].copy_from_slice(&512u32.to_le_bytes());
    let disk = (0..sectors as usize * 512).map(|i| (i / 512) as u8 ^ (i % 251) as u8).collect();
    let dev = BlkDevice { disk, ..BlkDevice::default() };
    VirtioModel::new(memory, Kind::Blk(dev), features, config, &[queue_size])
}

/// QEMU 7.2's default virtio-blk-pci features (the ones this driver knows).
pub const QEMU_FEATURES: u64 = F_VERSION_1 | F_EVENT_IDX | F_INDIRECT_DESC | F_SEG_MAX | F_BLK_SIZE | F_FLUSH;

pub fn process(m: &mut VirtioModel, q: u16) {
    if q != 0 {
        m.violation(format!("blk: notify for queue {q}"));
        return;
    }
    if m.blk().hold {
        return;
    }
    run(m);
}

/// Completes every request in the ring.
pub fn run(m: &mut VirtioModel) {
    let memory = m.memory.clone();
    let mut any = false;
    loop {
        let chain = match m.ring(0).pop(&memory) {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                m.violation(format!("blk: {e}"));
                break;
            }
        };
        let len = request(m, &memory, &chain);
        m.ring(0).push(&memory, chain.head.into(), len);
        any = true;
    }
    if any {
        m.interrupt_if_needed(0);
    }
}

/// Performs one request; returns the used length (bytes written).
fn request(m: &mut VirtioModel, memory: &PhysMemory, chain: &Chain) -> u32 {
    let readable = DeviceRing::gather(memory, &chain.readable);
    let Some((status_seg, data_out)) = chain.writable.split_last() else {
        m.violation("blk: request without a status byte");
        return 0;
    };
    let status_addr = status_seg.addr + u64::from(status_seg.len) - 1;
    if readable.len() < 16 {
        m.violation("blk: header shorter than 16 bytes");
        return 0;
    }
    let kind = u32::from_le_bytes(readable[0..4].try_into().unwrap());
    let sector = u64::from_le_bytes(readable[8..16].try_into().unwrap());
    let data_in = &readable[16..];
    // Data descriptors: readable after the header, writable before status
    // (plus the status descriptor's own bytes but the last).
    let mut out_segs: Vec<Seg> = data_out.to_vec();
    if status_seg.len > 1 {
        out_segs.push(Seg { addr: status_seg.addr, len: status_seg.len - 1 });
    }
    let out_len: usize = out_segs.iter().map(|s| s.len as usize).sum();
    let segments = chain.readable.len() + chain.writable.len() - 2;
    let dev = m.blk();
    let data_len = if kind == T_OUT { data_in.len() } else { out_len };
    dev.seen.push(Seen { kind, sector, data_len, segments, indirect: chain.indirect, ring_descs: chain.ring_descs });

    let sectors = (data_len as u64).div_ceil(512);
    let range = sector..sector + sectors;
    let in_disk = (sector + sectors) * 512 <= dev.disk.len() as u64;
    let failing = dev.ioerr_sectors.iter().any(|s| range.contains(s));
    let (status, written) = match kind {
        _ if dev.unsupported => (S_UNSUPP, 0),
        T_IN | T_OUT if !in_disk || failing => (S_IOERR, 0),
        T_IN => {
            let at = sector as usize * 512;
            let data = dev.disk[at..at + out_len].to_vec();
            (S_OK, DeviceRing::scatter(memory, &out_segs, &data))
        }
        T_OUT => {
            let at = sector as usize * 512;
            dev.disk[at..at + data_in.len()].copy_from_slice(data_in);
            (S_OK, 0)
        }
        T_FLUSH => {
            dev.flushes += 1;
            (S_OK, 0)
        }
        T_GET_ID => (S_OK, DeviceRing::scatter(memory, &out_segs, SERIAL)),
        _ => (S_UNSUPP, 0),
    };
    if !dev.skip_status {
        memory.write(hal::dma::BusAddr(status_addr), &[status]).unwrap();
    }
    written as u32 + 1
}
