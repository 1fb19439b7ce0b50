//! Partition tables: MBR (with extended/logical chains) and GPT.
//!
//! # Where a disk says how it is divided
//!
//! When a disk appears, Linux's `add_disk` reads its first sectors and
//! creates one block device per partition (`sda1`, `sda2`, …; LDD3 ch. 16,
//! "Partition handling"). [`parse`] is that scan. It reads sectors through a
//! callback, so the same code runs against a disk image on the host and a
//! real device in the kernel, and it trusts nothing it reads: every offset
//! is range-checked, every chain bounded, every checksum verified.
//!
//! ## MBR (the PC's original table; Linux `block/partitions/msdos.c`)
//!
//! ```text
//!  LBA 0:  [ boot code 0..446 ][ 4 × 16-byte entries 446..510 ][ 0x55 0xAA ]
//!  entry:  [ status ][ CHS first ×3 ][ type ][ CHS last ×3 ][ LBA start u32 ][ sectors u32 ]
//! ```
//!
//! - No `0x55AA` signature at byte 510 means **no partition table**
//!   ([`Table::None`]): the disk is used whole. So does a status byte other
//!   than `0x00`/`0x80` — that sector is a file system's boot sector (FAT
//!   has the signature too), not an MBR, as Linux also decides.
//! - Entries of type 0 (or with 0 sectors) are empty slots and skipped; the
//!   others are primaries numbered 1–4 by slot.
//! - Type `0x05`/`0x0F`/`0x85` is an **extended partition**: a container
//!   holding a linked list of Extended Boot Records. Each EBR (at its own
//!   LBA, with the `0x55AA` signature) has entry 0 = one **logical
//!   partition**, start relative to that EBR, and entry 1 = the link to the
//!   next EBR, start relative to the *extended partition's* start. Logical
//!   partitions are numbered 5, 6, … in chain order. A corrupt chain can
//!   loop, so the walk remembers every EBR it visited and stops at
//!   [`MAX_LOGICAL`]; either case is an error. The container itself is not
//!   reported as a partition (Linux shows it as a 1 KiB stub device).
//! - A **protective MBR** — an entry of type `0xEE` — means the disk is GPT.
//!
//! ## GPT (UEFI spec §5.3; Linux `block/partitions/efi.c`)
//!
//! ```text
//!  LBA 0: protective MBR   LBA 1: header "EFI PART"   LBA 2..: entry array   … data …   backup entries, backup header
//!  header: signature 0, revision 8, header_size 12, header_crc32 16, my_lba 24, alternate_lba 32,
//!          first_usable 40, last_usable 48, disk_guid 56, entries_lba 72, num_entries 80,
//!          entry_size 84, entries_crc32 88
//!  entry:  type_guid 0, unique_guid 16, first_lba 32, last_lba 40 (inclusive), attributes 48, name 56 (UTF-16LE ×36)
//! ```
//!
//! Checked, each failure a distinct [`PartError`]: the signature; a header
//! size between 92 and one sector; the header CRC-32 ([`crate::crc32`]),
//! computed over `header_size` bytes with the CRC field itself zeroed;
//! `my_lba == 1`; `first_usable <= last_usable < capacity`; an entry size
//! of at least 128 and a multiple of 8; an entry array inside the disk and
//! outside the usable range; the CRC-32 of the entry array; every used
//! entry (non-zero type GUID) inside the usable range. Partitions are
//! numbered by slot + 1, as Linux does. The backup header at the end of
//! the disk is not consulted: a damaged primary is reported, not repaired.
//!
//! ## Both
//!
//! Every partition must lie inside the disk and no two may overlap;
//! otherwise the table is refused as a whole ([`PartError::OutsideDisk`],
//! [`PartError::Overlap`]) rather than guessed at.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::crc32::crc32;
use crate::SECTOR_SIZE;

/// On-disk layout: offsets and codes, named once.
pub mod layout {
    /// Offset of the `0x55 0xAA` boot signature (MBR and EBR).
    pub const MBR_SIGNATURE: usize = 510;
    /// Offset of the four 16-byte partition entries.
    pub const MBR_ENTRIES: usize = 446;
    /// Size of one MBR entry.
    pub const MBR_ENTRY_SIZE: usize = 16;
    /// MBR entry: status (0x00 or 0x80 = bootable).
    pub const MBR_E_STATUS: usize = 0;
    /// MBR entry: partition type.
    pub const MBR_E_TYPE: usize = 4;
    /// MBR entry: first LBA (u32 LE).
    pub const MBR_E_START: usize = 8;
    /// MBR entry: sector count (u32 LE).
    pub const MBR_E_SECTORS: usize = 12;
    /// Type of an empty slot.
    pub const TYPE_EMPTY: u8 = 0x00;
    /// Extended partition types (DOS CHS, Windows LBA, Linux).
    pub const TYPE_EXTENDED: [u8; 3] = [0x05, 0x0f, 0x85];
    /// Protective MBR type: the disk is GPT.
    pub const TYPE_GPT_PROTECTIVE: u8 = 0xee;

    /// The GPT header signature.
    pub const GPT_SIGNATURE: &[u8; 8] = b"EFI PART";
    /// GPT header: header size (u32).
    pub const GPT_HEADER_SIZE: usize = 12;
    /// GPT header: header CRC-32 (u32).
    pub const GPT_HEADER_CRC: usize = 16;
    /// GPT header: LBA of this header (u64).
    pub const GPT_MY_LBA: usize = 24;
    /// GPT header: first usable LBA (u64).
    pub const GPT_FIRST_USABLE: usize = 40;
    /// GPT header: last usable LBA (u64, inclusive).
    pub const GPT_LAST_USABLE: usize = 48;
    /// GPT header: disk GUID.
    pub const GPT_DISK_GUID: usize = 56;
    /// GPT header: first LBA of the entry array (u64).
    pub const GPT_ENTRIES_LBA: usize = 72;
    /// GPT header: number of entries (u32).
    pub const GPT_NUM_ENTRIES: usize = 80;
    /// GPT header: size of one entry (u32).
    pub const GPT_ENTRY_SIZE: usize = 84;
    /// GPT header: CRC-32 of the entry array (u32).
    pub const GPT_ENTRIES_CRC: usize = 88;
    /// Smallest valid header (UEFI 2.x: 92 bytes).
    pub const GPT_MIN_HEADER: u32 = 92;
    /// Smallest valid entry.
    pub const GPT_MIN_ENTRY: u32 = 128;
    /// GPT entry: partition type GUID.
    pub const GPT_E_TYPE: usize = 0;
    /// GPT entry: first LBA (u64).
    pub const GPT_E_FIRST: usize = 32;
    /// GPT entry: last LBA (u64, inclusive).
    pub const GPT_E_LAST: usize = 40;
    /// GPT entry: name, 36 UTF-16LE code units.
    pub const GPT_E_NAME: usize = 56;
    /// GPT entry name length in bytes.
    pub const GPT_E_NAME_LEN: usize = 72;
}

use layout::*;

/// Most logical partitions followed in one extended partition.
pub const MAX_LOGICAL: u32 = 124;
/// Largest GPT entry array read (bytes); 128 × 128 is the usual 16 KiB.
pub const MAX_GPT_ENTRY_BYTES: u64 = 1 << 20;

/// The Linux filesystem data partition type GUID
/// (0FC63DAF-8483-4772-8E79-3D69D8477DE4), in on-disk byte order.
pub const GUID_LINUX_DATA: [u8; 16] =
    [0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4];

/// What kind of partition, per table format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartKind {
    /// An MBR partition and its one-byte type (0x83 Linux, 0x0c FAT32 …).
    Mbr {
        /// The system ID byte.
        r#type: u8,
    },
    /// A GPT partition.
    Gpt {
        /// Partition type GUID, on-disk byte order.
        type_guid: [u8; 16],
        /// The partition's name.
        name: String,
    },
}

/// One partition: a range of the disk's sectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Partition number, 1-based (MBR: 1–4 primary, 5… logical; GPT: slot + 1).
    pub index: u32,
    /// First sector.
    pub start: u64,
    /// Length in sectors.
    pub sectors: u64,
    /// Format-specific details.
    pub kind: PartKind,
}

impl Partition {
    /// First sector after the partition (saturating).
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.sectors)
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{} start {} sectors {} ", self.index, self.start, self.sectors)?;
        match &self.kind {
            PartKind::Mbr { r#type } => write!(f, "type {type:#04x}"),
            PartKind::Gpt { type_guid, name } => {
                write!(f, "type ")?;
                fmt_guid(f, type_guid)?;
                write!(f, " name {name:?}")
            }
        }
    }
}

/// Writes a GUID in its canonical text form (the first three fields are
/// little-endian on disk).
pub fn fmt_guid(f: &mut dyn fmt::Write, g: &[u8; 16]) -> fmt::Result {
    write!(
        f,
        "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-",
        g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9]
    )?;
    for b in &g[10..] {
        write!(f, "{b:02X}")?;
    }
    Ok(())
}

/// The result of a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Table {
    /// No partition table: the disk is used whole.
    None,
    /// An MBR, with primaries and logical partitions (sorted by index).
    Mbr(Vec<Partition>),
    /// A GPT (sorted by index).
    Gpt(Vec<Partition>),
}

impl Table {
    /// The partitions (empty for [`Table::None`]).
    pub fn partitions(&self) -> &[Partition] {
        match self {
            Table::None => &[],
            Table::Mbr(p) | Table::Gpt(p) => p,
        }
    }

    /// `"none"`, `"mbr"` or `"gpt"`.
    pub fn name(&self) -> &'static str {
        match self {
            Table::None => "none",
            Table::Mbr(_) => "mbr",
            Table::Gpt(_) => "gpt",
        }
    }
}

/// Why a partition table was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartError {
    /// Reading this sector failed.
    Io {
        /// The sector.
        lba: u64,
    },
    /// A table structure points at a sector beyond the disk.
    BeyondDisk {
        /// The sector pointed at.
        lba: u64,
    },
    /// An EBR lacks the `0x55AA` signature.
    BadEbrSignature {
        /// The EBR's sector.
        lba: u64,
    },
    /// The EBR chain comes back to an EBR already visited.
    EbrLoop {
        /// The EBR visited twice.
        lba: u64,
    },
    /// More than [`MAX_LOGICAL`] logical partitions.
    TooManyPartitions,
    /// A logical partition (or EBR) outside its extended partition.
    OutsideExtended {
        /// The partition number (0 for an EBR link).
        index: u32,
    },
    /// Protective MBR, but no `"EFI PART"` at LBA 1.
    BadGptSignature,
    /// GPT header size outside 92..=512.
    BadHeaderSize(u32),
    /// GPT header CRC mismatch.
    BadHeaderCrc {
        /// CRC in the header.
        stored: u32,
        /// CRC computed.
        computed: u32,
    },
    /// The header's own LBA field is not 1.
    BadHeaderLba(u64),
    /// `first_usable > last_usable` or `last_usable` beyond the disk.
    BadUsableRange {
        /// First usable LBA.
        first: u64,
        /// Last usable LBA.
        last: u64,
    },
    /// GPT entry size below 128 or not a multiple of 8.
    BadEntrySize(u32),
    /// GPT entry array larger than [`MAX_GPT_ENTRY_BYTES`].
    TooManyEntries(u32),
    /// GPT entry array outside the disk or inside the usable range.
    BadEntriesLocation {
        /// Its first LBA.
        lba: u64,
    },
    /// GPT entry array CRC mismatch.
    BadEntriesCrc {
        /// CRC in the header.
        stored: u32,
        /// CRC computed.
        computed: u32,
    },
    /// A GPT entry with `first_lba > last_lba`.
    BadEntry {
        /// The partition number.
        index: u32,
    },
    /// A GPT partition outside the usable range.
    OutsideUsable {
        /// The partition number.
        index: u32,
    },
    /// A partition that does not fit in the disk.
    OutsideDisk {
        /// The partition number.
        index: u32,
        /// Its first sector.
        start: u64,
        /// Its length.
        sectors: u64,
        /// The disk's size.
        capacity: u64,
    },
    /// Two partitions share sectors.
    Overlap {
        /// One partition number.
        a: u32,
        /// The other.
        b: u32,
    },
}

impl fmt::Display for PartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartError::Io { lba } => write!(f, "read error at sector {lba}"),
            PartError::BeyondDisk { lba } => {
                write!(f, "table points at sector {lba}, beyond the disk")
            }
            PartError::BadEbrSignature { lba } => write!(f, "bad EBR signature at sector {lba}"),
            PartError::EbrLoop { lba } => write!(f, "EBR chain loops back to sector {lba}"),
            PartError::TooManyPartitions => {
                write!(f, "more than {MAX_LOGICAL} logical partitions")
            }
            PartError::OutsideExtended { index } => {
                write!(f, "logical partition {index} outside its extended partition")
            }
            PartError::BadGptSignature => f.write_str("protective MBR but no GPT signature"),
            PartError::BadHeaderSize(s) => write!(f, "bad GPT header size {s}"),
            PartError::BadHeaderCrc { stored, computed } => {
                write!(f, "bad GPT header CRC: stored {stored:#010x}, computed {computed:#010x}")
            }
            PartError::BadHeaderLba(l) => write!(f, "GPT header claims to be at sector {l}"),
            PartError::BadUsableRange { first, last } => {
                write!(f, "bad GPT usable range {first}..={last}")
            }
            PartError::BadEntrySize(s) => write!(f, "bad GPT entry size {s}"),
            PartError::TooManyEntries(n) => write!(f, "GPT entry array too large ({n} entries)"),
            PartError::BadEntriesLocation { lba } => {
                write!(f, "GPT entry array at sector {lba} misplaced")
            }
            PartError::BadEntriesCrc { stored, computed } => {
                write!(f, "bad GPT entries CRC: stored {stored:#010x}, computed {computed:#010x}")
            }
            PartError::BadEntry { index } => write!(f, "GPT partition {index} ends before it starts"),
            PartError::OutsideUsable { index } => {
                write!(f, "GPT partition {index} outside the usable range")
            }
            PartError::OutsideDisk { index, start, sectors, capacity } => {
                write!(f, "partition {index} ({start}+{sectors}) outside the disk ({capacity} sectors)")
            }
            PartError::Overlap { a, b } => write!(f, "partitions {a} and {b} overlap"),
        }
    }
}

/// The sector reader [`parse`] uses: fill the 512-byte buffer with a sector.
pub type ReadSector<'a> = dyn FnMut(u64, &mut [u8]) -> Result<(), ()> + 'a;

type Sector = [u8; SECTOR_SIZE];

fn read_sector(read: &mut ReadSector<'_>, lba: u64, capacity: u64) -> Result<Sector, PartError> {
    if lba >= capacity {
        return Err(PartError::BeyondDisk { lba });
    }
    let mut s = [0u8; SECTOR_SIZE];
    read(lba, &mut s).map_err(|()| PartError::Io { lba })?;
    Ok(s)
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Scans a disk of `capacity` sectors, reading sectors through `read`.
pub fn parse(read: &mut ReadSector<'_>, capacity: u64) -> Result<Table, PartError> {
    if capacity == 0 {
        return Ok(Table::None);
    }
    let mbr = read_sector(read, 0, capacity)?;
    if !has_signature(&mbr) {
        return Ok(Table::None);
    }
    let entries = mbr_entries(&mbr);
    if entries.iter().any(|e| e.status != 0 && e.status != 0x80) {
        return Ok(Table::None);
    }
    if entries.iter().any(|e| e.ty == TYPE_GPT_PROTECTIVE) {
        let mut parts = gpt(read, capacity)?;
        check_layout(&mut parts, capacity)?;
        return Ok(Table::Gpt(parts));
    }
    let mut parts = mbr_partitions(read, &entries, capacity)?;
    check_layout(&mut parts, capacity)?;
    Ok(Table::Mbr(parts))
}

fn has_signature(s: &Sector) -> bool {
    s[MBR_SIGNATURE] == 0x55 && s[MBR_SIGNATURE + 1] == 0xaa
}

#[derive(Debug, Clone, Copy)]
struct MbrEntry {
    status: u8,
    ty: u8,
    start: u64,
    sectors: u64,
}

impl MbrEntry {
    fn is_empty(&self) -> bool {
        self.ty == TYPE_EMPTY || self.sectors == 0
    }

    fn is_extended(&self) -> bool {
        TYPE_EXTENDED.contains(&self.ty)
    }
}

fn mbr_entries(s: &Sector) -> [MbrEntry; 4] {
    core::array::from_fn(|i| {
        let e = &s[MBR_ENTRIES + i * MBR_ENTRY_SIZE..][..MBR_ENTRY_SIZE];
        MbrEntry {
            status: e[MBR_E_STATUS],
            ty: e[MBR_E_TYPE],
            start: le32(e, MBR_E_START) as u64,
            sectors: le32(e, MBR_E_SECTORS) as u64,
        }
    })
}

fn mbr_partitions(
    read: &mut ReadSector<'_>,
    entries: &[MbrEntry; 4],
    capacity: u64,
) -> Result<Vec<Partition>, PartError> {
    let mut parts = Vec::new();
    // Extended containers take part in the overlap check as index 0.
    let mut containers = Vec::new();
    for (slot, e) in entries.iter().enumerate() {
        if e.is_empty() {
            continue;
        }
        if e.is_extended() {
            containers.push((slot as u32 + 1, e.start, e.sectors));
        } else {
            parts.push(Partition {
                index: slot as u32 + 1,
                start: e.start,
                sectors: e.sectors,
                kind: PartKind::Mbr { r#type: e.ty },
            });
        }
    }
    // Containers must fit and not overlap primaries; checked as
    // placeholders, removed again below.
    let mut with_containers = parts.clone();
    for &(index, start, sectors) in &containers {
        with_containers.push(Partition { index, start, sectors, kind: PartKind::Mbr { r#type: 0x05 } });
    }
    check_layout(&mut with_containers, capacity)?;

    let mut next = 5;
    for &(_, ext_start, ext_sectors) in &containers {
        walk_ebr_chain(read, ext_start, ext_sectors, capacity, &mut next, &mut parts)?;
    }
    Ok(parts)
}

/// Follows one extended partition's EBR chain, appending logical
/// partitions numbered from `*next`.
fn walk_ebr_chain(
    read: &mut ReadSector<'_>,
    ext_start: u64,
    ext_sectors: u64,
    capacity: u64,
    next: &mut u32,
    parts: &mut Vec<Partition>,
) -> Result<(), PartError> {
    let ext_end = ext_start.saturating_add(ext_sectors);
    let inside =
        |start: u64, sectors: u64| start >= ext_start && start.checked_add(sectors).is_some_and(|e| e <= ext_end);
    let mut visited: Vec<u64> = Vec::new();
    let mut ebr = ext_start;
    let mut logical = 0u32;
    loop {
        if visited.contains(&ebr) {
            return Err(PartError::EbrLoop { lba: ebr });
        }
        if visited.len() as u32 > MAX_LOGICAL {
            return Err(PartError::TooManyPartitions);
        }
        visited.push(ebr);
        if !inside(ebr, 1) {
            return Err(PartError::OutsideExtended { index: 0 });
        }
        let s = read_sector(read, ebr, capacity)?;
        if !has_signature(&s) {
            return Err(PartError::BadEbrSignature { lba: ebr });
        }
        let [data, link, ..] = mbr_entries(&s);
        if !data.is_empty() {
            logical += 1;
            if logical > MAX_LOGICAL {
                return Err(PartError::TooManyPartitions);
            }
            let index = *next;
            let start = ebr.checked_add(data.start).ok_or(PartError::OutsideExtended { index })?;
            if !inside(start, data.sectors) {
                return Err(PartError::OutsideExtended { index });
            }
            parts.push(Partition { index, start, sectors: data.sectors, kind: PartKind::Mbr { r#type: data.ty } });
            *next += 1;
        }
        if link.is_empty() || !link.is_extended() {
            return Ok(());
        }
        ebr = ext_start.checked_add(link.start).ok_or(PartError::OutsideExtended { index: 0 })?;
    }
}

fn gpt(read: &mut ReadSector<'_>, capacity: u64) -> Result<Vec<Partition>, PartError> {
    let h = read_sector(read, 1, capacity).map_err(|e| match e {
        PartError::BeyondDisk { .. } => PartError::BadGptSignature,
        e => e,
    })?;
    if &h[..8] != GPT_SIGNATURE {
        return Err(PartError::BadGptSignature);
    }
    let header_size = le32(&h, GPT_HEADER_SIZE);
    if header_size < GPT_MIN_HEADER || header_size as usize > SECTOR_SIZE {
        return Err(PartError::BadHeaderSize(header_size));
    }
    let stored = le32(&h, GPT_HEADER_CRC);
    let mut copy = h;
    copy[GPT_HEADER_CRC..GPT_HEADER_CRC + 4].fill(0);
    let computed = crc32(&copy[..header_size as usize]);
    if stored != computed {
        return Err(PartError::BadHeaderCrc { stored, computed });
    }
    let my_lba = le64(&h, GPT_MY_LBA);
    if my_lba != 1 {
        return Err(PartError::BadHeaderLba(my_lba));
    }
    let first_usable = le64(&h, GPT_FIRST_USABLE);
    let last_usable = le64(&h, GPT_LAST_USABLE);
    if first_usable > last_usable || last_usable >= capacity {
        return Err(PartError::BadUsableRange { first: first_usable, last: last_usable });
    }
    let entries_lba = le64(&h, GPT_ENTRIES_LBA);
    let num = le32(&h, GPT_NUM_ENTRIES);
    let esize = le32(&h, GPT_ENTRY_SIZE);
    if esize < GPT_MIN_ENTRY || !esize.is_multiple_of(8) {
        return Err(PartError::BadEntrySize(esize));
    }
    let total = num as u64 * esize as u64;
    if total > MAX_GPT_ENTRY_BYTES {
        return Err(PartError::TooManyEntries(num));
    }
    let nsectors = total.div_ceil(SECTOR_SIZE as u64);
    let entries_end = entries_lba.saturating_add(nsectors);
    let in_disk = entries_lba >= 2 && entries_end <= capacity;
    let clear_of_usable = entries_end <= first_usable || entries_lba > last_usable;
    if !in_disk || !clear_of_usable {
        return Err(PartError::BadEntriesLocation { lba: entries_lba });
    }
    let mut buf = vec![0u8; (nsectors as usize) * SECTOR_SIZE];
    for (i, chunk) in buf.chunks_exact_mut(SECTOR_SIZE).enumerate() {
        chunk.copy_from_slice(&read_sector(read, entries_lba + i as u64, capacity)?);
    }
    let stored = le32(&h, GPT_ENTRIES_CRC);
    let computed = crc32(&buf[..total as usize]);
    if stored != computed {
        return Err(PartError::BadEntriesCrc { stored, computed });
    }
    let mut parts = Vec::new();
    for (slot, e) in buf[..total as usize].chunks_exact(esize as usize).enumerate() {
        let mut type_guid = [0u8; 16];
        type_guid.copy_from_slice(&e[GPT_E_TYPE..GPT_E_TYPE + 16]);
        if type_guid == [0; 16] {
            continue;
        }
        let index = slot as u32 + 1;
        let first = le64(e, GPT_E_FIRST);
        let last = le64(e, GPT_E_LAST);
        if first > last {
            return Err(PartError::BadEntry { index });
        }
        if first < first_usable || last > last_usable {
            return Err(PartError::OutsideUsable { index });
        }
        let name_units = (0..GPT_E_NAME_LEN / 2).map(|i| le16(e, GPT_E_NAME + 2 * i)).take_while(|&u| u != 0);
        let name = char::decode_utf16(name_units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect();
        parts.push(Partition {
            index,
            start: first,
            // last < capacity, so this cannot overflow.
            sectors: last - first + 1,
            kind: PartKind::Gpt { type_guid, name },
        });
    }
    Ok(parts)
}

/// Every partition inside the disk, no two overlapping; leaves `parts`
/// sorted by index.
fn check_layout(parts: &mut [Partition], capacity: u64) -> Result<(), PartError> {
    for p in parts.iter() {
        if p.start.checked_add(p.sectors).is_none_or(|e| e > capacity) {
            return Err(PartError::OutsideDisk { index: p.index, start: p.start, sectors: p.sectors, capacity });
        }
    }
    parts.sort_by_key(|p| (p.start, p.index));
    for w in parts.windows(2) {
        if w[1].start < w[0].end() {
            return Err(PartError::Overlap { a: w[0].index, b: w[1].index });
        }
    }
    parts.sort_by_key(|p| p.index);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    /// A disk image and a reader over it.
    struct Disk(Vec<u8>);

    impl Disk {
        fn new(sectors: u64) -> Self {
            Disk(vec![0; sectors as usize * SECTOR_SIZE])
        }
        fn sectors(&self) -> u64 {
            (self.0.len() / SECTOR_SIZE) as u64
        }
        fn sector(&mut self, lba: u64) -> &mut [u8] {
            &mut self.0[lba as usize * SECTOR_SIZE..][..SECTOR_SIZE]
        }
        fn parse(&self) -> Result<Table, PartError> {
            let img = &self.0;
            let mut read = |lba: u64, buf: &mut [u8]| {
                let off = lba as usize * SECTOR_SIZE;
                buf.copy_from_slice(img.get(off..off + SECTOR_SIZE).ok_or(())?);
                Ok(())
            };
            parse(&mut read, self.sectors())
        }
        /// Writes MBR-style entry `slot` (and the signature) at `lba`.
        fn entry(&mut self, lba: u64, slot: usize, ty: u8, start: u32, sectors: u32) {
            let s = self.sector(lba);
            let e = &mut s[MBR_ENTRIES + slot * MBR_ENTRY_SIZE..][..MBR_ENTRY_SIZE];
            e[MBR_E_TYPE] = ty;
            e[MBR_E_START..MBR_E_START + 4].copy_from_slice(&start.to_le_bytes());
            e[MBR_E_SECTORS..MBR_E_SECTORS + 4].copy_from_slice(&sectors.to_le_bytes());
            s[MBR_SIGNATURE] = 0x55;
            s[MBR_SIGNATURE + 1] = 0xaa;
        }
    }

    fn mbr(index: u32, start: u64, sectors: u64, ty: u8) -> Partition {
        Partition { index, start, sectors, kind: PartKind::Mbr { r#type: ty } }
    }

    #[test]
    fn no_signature_means_no_table() {
        let d = Disk::new(100);
        assert_eq!(d.parse(), Ok(Table::None));
        let mut d = Disk::new(100);
        d.entry(0, 0, 0x83, 1, 10);
        d.sector(0)[511] = 0xab;
        assert_eq!(d.parse(), Ok(Table::None));
        // A boot sector with the signature but garbage status bytes.
        let mut d = Disk::new(100);
        d.entry(0, 0, 0x83, 1, 10);
        d.sector(0)[MBR_ENTRIES] = 0x12;
        assert_eq!(d.parse(), Ok(Table::None));
        let empty = Disk::new(0);
        assert_eq!(empty.parse(), Ok(Table::None));
    }

    #[test]
    fn primaries_skip_empty_slots() {
        let mut d = Disk::new(1000);
        d.entry(0, 0, 0x83, 2048 / 4, 100);
        d.entry(0, 2, 0x0c, 700, 300);
        d.entry(0, 3, 0x83, 900, 0); // zero size: empty
        let t = d.parse().unwrap();
        assert_eq!(t, Table::Mbr(vec![mbr(1, 512, 100, 0x83), mbr(3, 700, 300, 0x0c)]));
        assert_eq!(t.name(), "mbr");
        assert_eq!(t.partitions()[1].to_string(), "p3 start 700 sectors 300 type 0x0c");
    }

    #[test]
    fn extended_chain_gives_logicals_from_5() {
        let mut d = Disk::new(1000);
        d.entry(0, 0, 0x83, 1, 99);
        d.entry(0, 1, 0x05, 100, 900);
        // EBR at 100: logical at 100+1, 49 sectors; next EBR at 100+200.
        d.entry(100, 0, 0x83, 1, 49);
        d.entry(100, 1, 0x05, 200, 100);
        // EBR at 300: logical at 300+10, 90 sectors; empty link ends it.
        d.entry(300, 0, 0x82, 10, 90);
        let t = d.parse().unwrap();
        assert_eq!(t, Table::Mbr(vec![mbr(1, 1, 99, 0x83), mbr(5, 101, 49, 0x83), mbr(6, 310, 90, 0x82)]));
    }

    #[test]
    fn ebr_loop_is_an_error() {
        let mut d = Disk::new(1000);
        d.entry(0, 0, 0x0f, 100, 900);
        d.entry(100, 0, 0x83, 1, 10);
        d.entry(100, 1, 0x05, 100, 100);
        d.entry(200, 0, 0x83, 1, 10);
        d.entry(200, 1, 0x05, 0, 100); // back to the first EBR
        assert_eq!(d.parse(), Err(PartError::EbrLoop { lba: 100 }));
        // An EBR linking to itself.
        let mut d = Disk::new(1000);
        d.entry(0, 0, 0x05, 100, 900);
        d.entry(100, 1, 0x05, 0, 100);
        assert_eq!(d.parse(), Err(PartError::EbrLoop { lba: 100 }));
    }

    #[test]
    fn bad_ebrs() {
        let mut d = Disk::new(1000);
        d.entry(0, 0, 0x05, 100, 900);
        assert_eq!(d.parse(), Err(PartError::BadEbrSignature { lba: 100 }));
        let mut d = Disk::new(1000);
        d.entry(0, 0, 0x05, 100, 100);
        d.entry(100, 0, 0x83, 50, 100); // 150..250, container ends at 200
        assert_eq!(d.parse(), Err(PartError::OutsideExtended { index: 5 }));
        let mut d = Disk::new(1000);
        d.entry(0, 0, 0x05, 100, 100);
        d.entry(100, 1, 0x05, 500, 10); // link outside the container
        assert_eq!(d.parse(), Err(PartError::OutsideExtended { index: 0 }));
    }

    #[test]
    fn outside_disk_and_overlap() {
        let mut d = Disk::new(1000);
        d.entry(0, 0, 0x83, 900, 200);
        assert!(matches!(d.parse(), Err(PartError::OutsideDisk { index: 1, .. })));
        let mut d = Disk::new(1000);
        d.entry(0, 0, 0x83, 100, 200);
        d.entry(0, 1, 0x83, 250, 100);
        assert_eq!(d.parse(), Err(PartError::Overlap { a: 1, b: 2 }));
        // u32::MAX start + size does not overflow anything.
        let mut d = Disk::new(10);
        d.entry(0, 0, 0x83, u32::MAX, u32::MAX);
        assert!(matches!(d.parse(), Err(PartError::OutsideDisk { .. })));
        let e = PartError::Overlap { a: 1, b: 2 };
        assert_eq!(e.to_string(), "partitions 1 and 2 overlap");
    }

    #[test]
    fn read_errors_are_reported() {
        let mut read = |lba: u64, _: &mut [u8]| if lba == 0 { Err(()) } else { Ok(()) };
        assert_eq!(parse(&mut read, 10), Err(PartError::Io { lba: 0 }));
    }

    // ---- GPT ----

    const NUM: u32 = 128;
    const ESIZE: u32 = 128;
    const ENTRIES_LBA: u64 = 2;
    const FIRST_USABLE: u64 = 34;

    fn put(s: &mut [u8], at: usize, v: &[u8]) {
        s[at..at + v.len()].copy_from_slice(v);
    }

    /// Builds protective MBR + primary header + entries for `parts`
    /// (slot, type, first, last, name).
    fn gpt_disk(cap: u64, parts: &[(usize, [u8; 16], u64, u64, &str)]) -> Disk {
        let mut d = Disk::new(cap);
        d.entry(0, 0, TYPE_GPT_PROTECTIVE, 1, (cap - 1) as u32);
        let mut entries = vec![0u8; (NUM * ESIZE) as usize];
        for &(slot, ty, first, last, name) in parts {
            let e = &mut entries[slot * ESIZE as usize..][..ESIZE as usize];
            put(e, GPT_E_TYPE, &ty);
            put(e, 16, &[slot as u8 + 1; 16]);
            put(e, GPT_E_FIRST, &first.to_le_bytes());
            put(e, GPT_E_LAST, &last.to_le_bytes());
            for (i, u) in name.encode_utf16().enumerate() {
                put(e, GPT_E_NAME + 2 * i, &u.to_le_bytes());
            }
        }
        d.0[ENTRIES_LBA as usize * SECTOR_SIZE..][..entries.len()].copy_from_slice(&entries);
        let ecrc = crc32(&entries);
        let h = d.sector(1);
        put(h, 0, GPT_SIGNATURE);
        put(h, 8, &0x0001_0000u32.to_le_bytes());
        put(h, GPT_HEADER_SIZE, &92u32.to_le_bytes());
        put(h, GPT_MY_LBA, &1u64.to_le_bytes());
        put(h, 32, &(cap - 1).to_le_bytes());
        put(h, GPT_FIRST_USABLE, &FIRST_USABLE.to_le_bytes());
        put(h, GPT_LAST_USABLE, &(cap - 34).to_le_bytes());
        put(h, GPT_DISK_GUID, &[0x42; 16]);
        put(h, GPT_ENTRIES_LBA, &ENTRIES_LBA.to_le_bytes());
        put(h, GPT_NUM_ENTRIES, &NUM.to_le_bytes());
        put(h, GPT_ENTRY_SIZE, &ESIZE.to_le_bytes());
        put(h, GPT_ENTRIES_CRC, &ecrc.to_le_bytes());
        reseal(&mut d);
        d
    }

    /// Recomputes the header CRC after a test edits the header.
    fn reseal(d: &mut Disk) {
        let h = d.sector(1);
        let size = le32(h, GPT_HEADER_SIZE).min(512) as usize;
        put(h, GPT_HEADER_CRC, &[0; 4]);
        let crc = crc32(&h[..size]);
        put(h, GPT_HEADER_CRC, &crc.to_le_bytes());
    }

    const ESP: [u8; 16] =
        [0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b];

    #[test]
    fn gpt_partitions_and_names() {
        let d = gpt_disk(4096, &[(0, ESP, 34, 233, "EFI system"), (2, GUID_LINUX_DATA, 2048, 4000, "root ✓ 🦀")]);
        let t = d.parse().unwrap();
        assert_eq!(t.name(), "gpt");
        let p = t.partitions();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].index, p[0].start, p[0].sectors), (1, 34, 200));
        assert_eq!((p[1].index, p[1].start, p[1].sectors), (3, 2048, 1953));
        assert_eq!(p[1].kind, PartKind::Gpt { type_guid: GUID_LINUX_DATA, name: "root ✓ 🦀".into() });
        assert_eq!(
            p[1].to_string(),
            "p3 start 2048 sectors 1953 type 0FC63DAF-8483-4772-8E79-3D69D8477DE4 name \"root ✓ 🦀\""
        );
    }

    #[test]
    fn gpt_corrupt_header_crc() {
        let mut d = gpt_disk(4096, &[(0, ESP, 34, 233, "a")]);
        d.sector(1)[GPT_FIRST_USABLE] ^= 1; // not resealed
        assert!(matches!(d.parse(), Err(PartError::BadHeaderCrc { .. })));
    }

    #[test]
    fn gpt_corrupt_entries_crc() {
        let mut d = gpt_disk(4096, &[(0, ESP, 34, 233, "a")]);
        d.sector(2)[GPT_E_NAME] = b'b';
        assert!(matches!(d.parse(), Err(PartError::BadEntriesCrc { .. })));
    }

    #[test]
    fn gpt_bad_signature_and_header_fields() {
        let mut d = gpt_disk(4096, &[]);
        d.sector(1)[0] = b'X';
        assert_eq!(d.parse(), Err(PartError::BadGptSignature));

        let mut d = gpt_disk(4096, &[]);
        put(d.sector(1), GPT_HEADER_SIZE, &600u32.to_le_bytes());
        assert_eq!(d.parse(), Err(PartError::BadHeaderSize(600)));
        put(d.sector(1), GPT_HEADER_SIZE, &91u32.to_le_bytes());
        assert_eq!(d.parse(), Err(PartError::BadHeaderSize(91)));

        let mut d = gpt_disk(4096, &[]);
        put(d.sector(1), GPT_ENTRY_SIZE, &64u32.to_le_bytes());
        reseal(&mut d);
        assert_eq!(d.parse(), Err(PartError::BadEntrySize(64)));

        let mut d = gpt_disk(4096, &[]);
        put(d.sector(1), GPT_NUM_ENTRIES, &u32::MAX.to_le_bytes());
        reseal(&mut d);
        assert_eq!(d.parse(), Err(PartError::TooManyEntries(u32::MAX)));

        let mut d = gpt_disk(4096, &[]);
        put(d.sector(1), GPT_LAST_USABLE, &5000u64.to_le_bytes());
        reseal(&mut d);
        assert!(matches!(d.parse(), Err(PartError::BadUsableRange { .. })));

        let mut d = gpt_disk(4096, &[]);
        put(d.sector(1), GPT_ENTRIES_LBA, &10u64.to_le_bytes());
        reseal(&mut d);
        assert_eq!(d.parse(), Err(PartError::BadEntriesLocation { lba: 10 }));

        let mut d = gpt_disk(4096, &[]);
        put(d.sector(1), GPT_MY_LBA, &7u64.to_le_bytes());
        reseal(&mut d);
        assert_eq!(d.parse(), Err(PartError::BadHeaderLba(7)));
    }

    #[test]
    fn gpt_partitions_outside_or_overlapping() {
        let d = gpt_disk(4096, &[(0, ESP, 34, 5000, "big")]);
        assert_eq!(d.parse(), Err(PartError::OutsideUsable { index: 1 }));
        let d = gpt_disk(4096, &[(0, ESP, 10, 100, "early")]);
        assert_eq!(d.parse(), Err(PartError::OutsideUsable { index: 1 }));
        let d = gpt_disk(4096, &[(0, ESP, 300, 200, "backwards")]);
        assert_eq!(d.parse(), Err(PartError::BadEntry { index: 1 }));
        let d = gpt_disk(4096, &[(0, ESP, 34, 500, "a"), (1, GUID_LINUX_DATA, 500, 600, "b")]);
        assert_eq!(d.parse(), Err(PartError::Overlap { a: 1, b: 2 }));
    }

    #[test]
    fn gpt_on_tiny_disk() {
        // A protective MBR on a one-sector disk: no header to read.
        let mut d = Disk::new(1);
        d.entry(0, 0, TYPE_GPT_PROTECTIVE, 1, 0xffff_ffff);
        assert_eq!(d.parse(), Err(PartError::BadGptSignature));
    }
}
