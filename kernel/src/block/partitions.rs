//! Partition scanning (Linux's `block/partitions/`): when a disk is added
//! its first sectors are read through the block layer and parsed as an MBR
//! or GPT (`block::partition`); every partition becomes a disk of its own
//! (`vda1`, `vda2`, …) whose bios are shifted by its start sector and
//! checked against its own size, so a partition cannot reach outside itself.

use alloc::sync::Arc;

use ::block::partition::{self, Table};
use ::block::SECTOR_SIZE;

use super::{add_partition, io, Disk};

pub fn scan(disk: &Arc<Disk>) {
    let mut read = |lba: u64, buf: &mut [u8]| -> Result<(), ()> {
        let len = buf.len() - buf.len() % SECTOR_SIZE;
        io::read(disk, lba, &mut buf[..len]).map_err(|e| log::warn!("{}: reading sector {lba}: {e}", disk.name))
    };
    match partition::parse(&mut read, disk.sectors()) {
        Ok(Table::None) => {}
        Ok(Table::Mbr(parts)) | Ok(Table::Gpt(parts)) => {
            for p in &parts {
                add_partition(disk, p.index, p.start, p.sectors);
            }
            log::info!("{}: {} partition(s)", disk.name, parts.len());
        }
        Err(e) => log::warn!("{}: partition table ignored: {e}", disk.name),
    }
}
