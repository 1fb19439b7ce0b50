//! virtio's numbers, named once (DESIGN.md, rule 3).
//!
//! Source: *Virtual I/O Device (VIRTIO) Version 1.2*, OASIS Committee
//! Specification 01, cited as `virtio 1.2 §N`. Everything here is
//! little-endian on the wire and in memory (§1.4: "le16", "le32", "le64").
//!
//! A modern virtio PCI device has no fixed register map. Its registers live in
//! a few *structures* that vendor-specific PCI capabilities point at
//! ([`cap`], parsed in [`crate::pci`]): the common configuration
//! ([`common`]), the notification area, the ISR byte ([`isr`]) and the
//! device-specific configuration ([`net`], [`blk`]). The offsets below are
//! relative to the start of their structure, not to the BAR.

/// PCI vendor ID of every virtio device (Red Hat, Inc.) [virtio 1.2 §4.1.2].
pub const PCI_VENDOR_ID: u16 = 0x1af4;
/// Modern PCI device IDs are `0x1040 + virtio device ID` [virtio 1.2 §4.1.2].
pub const PCI_DEVICE_ID_MODERN_BASE: u16 = 0x1040;
/// virtio device ID of a network card [virtio 1.2 §5].
pub const DEVICE_ID_NET: u16 = 1;
/// virtio device ID of a block device [virtio 1.2 §5].
pub const DEVICE_ID_BLK: u16 = 2;
/// Transitional (legacy-capable) PCI device ID of virtio-net; QEMU uses it
/// unless `disable-legacy=on`. It still has the modern capabilities.
pub const PCI_DEVICE_ID_NET_TRANSITIONAL: u16 = 0x1000;
/// Transitional PCI device ID of virtio-blk.
pub const PCI_DEVICE_ID_BLK_TRANSITIONAL: u16 = 0x1001;

/// "No MSI-X vector": written to a vector register to ask for none, and
/// read back when the device refused the vector asked for [virtio 1.2 §4.1.4.3].
pub const NO_VECTOR: u16 = 0xffff;

/// Device status bits [virtio 1.2 §2.1]. The driver sets them in this order
/// during initialisation (§3.1.1); writing 0 resets the device.
pub mod status {
    /// The guest OS has noticed the device.
    pub const ACKNOWLEDGE: u8 = 1;
    /// The guest OS knows how to drive the device.
    pub const DRIVER: u8 = 2;
    /// The driver is set up and ready to drive the device.
    pub const DRIVER_OK: u8 = 4;
    /// The driver has acknowledged the features it understands; the device
    /// clears it again on re-read if it cannot work with that subset.
    pub const FEATURES_OK: u8 = 8;
    /// The device hit an error it cannot recover from without a reset.
    pub const DEVICE_NEEDS_RESET: u8 = 0x40;
    /// Something went wrong in the guest and it has given up on the device.
    pub const FAILED: u8 = 0x80;
}

/// Feature bits that belong to the transport and ring, not to one device
/// type [virtio 1.2 §6]. Each constant is a mask for the 64-bit feature word.
pub mod features {
    /// Descriptors may point at a table of descriptors (§2.7.5.3).
    pub const INDIRECT_DESC: u64 = 1 << 28;
    /// `used_event` / `avail_event` notification suppression (§2.7.10).
    pub const EVENT_IDX: u64 = 1 << 29;
    /// Compliance with virtio 1.x (not the legacy 0.9 interface). A modern
    /// driver requires it.
    pub const VERSION_1: u64 = 1 << 32;
    /// The device's DMA goes through the platform's IOMMU/DMA translation:
    /// it must be given bus addresses from the DMA API, which is all this
    /// driver ever does.
    pub const ACCESS_PLATFORM: u64 = 1 << 33;
    /// The packed ring layout (§2.8); this driver only speaks split rings.
    pub const RING_PACKED: u64 = 1 << 34;
    /// Buffers are used in the order they were made available.
    pub const IN_ORDER: u64 = 1 << 35;
    /// Extra data in notifications (§2.9); not used.
    pub const NOTIFICATION_DATA: u64 = 1 << 38;
}

/// The vendor-specific PCI capability that locates a virtio structure
/// (`struct virtio_pci_cap`) [virtio 1.2 §4.1.4].
pub mod cap {
    /// PCI capability ID "vendor specific".
    pub const VNDR: u8 = 0x09;
    /// Byte offsets inside the capability, starting at its `cap_vndr` byte.
    pub const CAP_LEN: usize = 2;
    /// `cfg_type`: which structure this capability locates.
    pub const CFG_TYPE: usize = 3;
    /// `bar`: which BAR (0..=5) holds the structure.
    pub const BAR: usize = 4;
    /// `offset` (le32): the structure's offset inside the BAR.
    pub const OFFSET: usize = 8;
    /// `length` (le32): the structure's length in bytes.
    pub const LENGTH: usize = 12;
    /// `notify_off_multiplier` (le32), only in the notification capability
    /// (`struct virtio_pci_notify_cap`, §4.1.4.4).
    pub const NOTIFY_OFF_MULTIPLIER: usize = 16;
    /// Length of `struct virtio_pci_cap`.
    pub const LEN: usize = 16;
    /// Length of `struct virtio_pci_notify_cap`.
    pub const NOTIFY_LEN: usize = 20;
    /// The highest BAR number; other `bar` values are reserved.
    pub const MAX_BAR: u8 = 5;

    /// `cfg_type` values.
    pub const COMMON_CFG: u8 = 1;
    /// Notifications (doorbells).
    pub const NOTIFY_CFG: u8 = 2;
    /// The ISR status byte.
    pub const ISR_CFG: u8 = 3;
    /// Device-specific configuration.
    pub const DEVICE_CFG: u8 = 4;
    /// A window into the other structures through PCI config space (for
    /// firmware that cannot map BARs); ignored here.
    pub const PCI_CFG: u8 = 5;
    /// Shared memory regions (§4.1.4.7); ignored here.
    pub const SHARED_MEMORY_CFG: u8 = 8;
    /// Vendor data (§4.1.4.8); ignored here.
    pub const VENDOR_CFG: u8 = 9;
}

/// The common configuration structure (`struct virtio_pci_common_cfg`)
/// [virtio 1.2 §4.1.4.3]: offsets from its start.
///
/// Fields before `queue_select` are about the device; the ones after are
/// about the queue that `queue_select` names. `*_feature` show 32 of the 64
/// feature bits, the half chosen by `*_feature_select`. 64-bit fields are
/// written as two 32-bit halves, low first (§4.1.3.1).
pub mod common {
    /// le32 RW: which 32 bits `DEVICE_FEATURE` shows (0 = bits 0..31, 1 = 32..63).
    pub const DEVICE_FEATURE_SELECT: usize = 0x00;
    /// le32 RO: the device's feature bits, the selected half.
    pub const DEVICE_FEATURE: usize = 0x04;
    /// le32 RW: which 32 bits `DRIVER_FEATURE` sets.
    pub const DRIVER_FEATURE_SELECT: usize = 0x08;
    /// le32 RW: the features the driver accepts, the selected half.
    pub const DRIVER_FEATURE: usize = 0x0c;
    /// le16 RW: MSI-X vector for configuration-change interrupts.
    pub const CONFIG_MSIX_VECTOR: usize = 0x10;
    /// le16 RO: how many virtqueues the device has.
    pub const NUM_QUEUES: usize = 0x12;
    /// u8 RW: device status ([`super::status`]); 0 resets.
    pub const DEVICE_STATUS: usize = 0x14;
    /// u8 RO: changes whenever the device configuration changes (§2.5.1).
    pub const CONFIG_GENERATION: usize = 0x15;
    /// le16 RW: the queue the fields below refer to.
    pub const QUEUE_SELECT: usize = 0x16;
    /// le16 RW: reads the maximum size (0 = no such queue); the driver may
    /// write a smaller one.
    pub const QUEUE_SIZE: usize = 0x18;
    /// le16 RW: MSI-X vector for this queue's used-buffer notifications.
    pub const QUEUE_MSIX_VECTOR: usize = 0x1a;
    /// le16 RW: write 1 to start using the queue (never 0, §4.1.4.3.2).
    pub const QUEUE_ENABLE: usize = 0x1c;
    /// le16 RO: this queue's doorbell, in units of `notify_off_multiplier`.
    pub const QUEUE_NOTIFY_OFF: usize = 0x1e;
    /// le64 RW: bus address of the descriptor table.
    pub const QUEUE_DESC: usize = 0x20;
    /// le64 RW: bus address of the driver (available) ring.
    pub const QUEUE_DRIVER: usize = 0x28;
    /// le64 RW: bus address of the device (used) ring.
    pub const QUEUE_DEVICE: usize = 0x30;
    /// The structure's length up to here: what a virtio 1.0 device provides.
    pub const LEN: usize = 0x38;
}

/// The ISR status byte [virtio 1.2 §4.1.4.5]. Reading it returns these bits
/// **and clears them, de-asserting the INTx line**.
pub mod isr {
    /// A used buffer notification: some queue has new used entries.
    pub const QUEUE: u8 = 1 << 0;
    /// The device configuration changed.
    pub const CONFIG: u8 = 1 << 1;
}

/// Split virtqueue layout and flags [virtio 1.2 §2.7].
pub mod ring {
    /// The largest queue size [virtio 1.2 §2.7]: indices are 16 bits.
    pub const MAX_QUEUE_SIZE: u16 = 32768;

    /// `struct virtq_desc` is 16 bytes: le64 addr, le32 len, le16 flags, le16 next.
    pub const DESC_SIZE: usize = 16;
    /// Offset of `addr` in a descriptor.
    pub const DESC_ADDR: usize = 0;
    /// Offset of `len`.
    pub const DESC_LEN: usize = 8;
    /// Offset of `flags`.
    pub const DESC_FLAGS: usize = 12;
    /// Offset of `next`.
    pub const DESC_NEXT: usize = 14;
    /// The chain continues at `next`.
    pub const DESC_F_NEXT: u16 = 1;
    /// The device writes this buffer (otherwise it only reads it).
    pub const DESC_F_WRITE: u16 = 2;
    /// `addr`/`len` is a table of descriptors (§2.7.5.3).
    pub const DESC_F_INDIRECT: u16 = 4;

    /// Both rings start with le16 `flags` then le16 `idx`, then the entries.
    pub const RING_FLAGS: usize = 0;
    /// Offset of `idx`: the free-running count of entries ever added.
    pub const RING_IDX: usize = 2;
    /// Offset of the first entry.
    pub const RING_ENTRIES: usize = 4;
    /// An available-ring entry is a le16 descriptor id.
    pub const AVAIL_ELEM_SIZE: usize = 2;
    /// A used-ring entry (`struct virtq_used_elem`) is le32 id, le32 len.
    pub const USED_ELEM_SIZE: usize = 8;
    /// Offset of `len` in a used entry.
    pub const USED_ELEM_LEN: usize = 4;
    /// Avail flag: "don't interrupt me" (only without EVENT_IDX, §2.7.7).
    pub const AVAIL_F_NO_INTERRUPT: u16 = 1;
    /// Used flag: "don't notify me" (only without EVENT_IDX, §2.7.10).
    pub const USED_F_NO_NOTIFY: u16 = 1;

    /// Alignment of the descriptor table (§2.7, table "Virtqueue Part Alignment").
    pub const DESC_ALIGN: usize = 16;
    /// Alignment of the available ring.
    pub const AVAIL_ALIGN: usize = 2;
    /// Alignment of the used ring.
    pub const USED_ALIGN: usize = 4;
}

/// virtio-net [virtio 1.2 §5.1].
pub mod net {
    /// Queue 0 is `receiveq1` (§5.1.2).
    pub const RECEIVEQ: u16 = 0;
    /// Queue 1 is `transmitq1`.
    pub const TRANSMITQ: u16 = 1;

    /// Feature bits [virtio 1.2 §5.1.3].
    /// The device checksums partial packets the driver sends.
    pub const F_CSUM: u64 = 1 << 0;
    /// The driver handles packets with partial checksums.
    pub const F_GUEST_CSUM: u64 = 1 << 1;
    /// `mtu` in the config is valid.
    pub const F_MTU: u64 = 1 << 3;
    /// `mac` in the config is valid: the device has an address.
    pub const F_MAC: u64 = 1 << 5;
    /// Receive buffers may be merged (`num_buffers` > 1); not used here.
    pub const F_MRG_RXBUF: u64 = 1 << 15;
    /// `status` in the config is valid (link up/down).
    pub const F_STATUS: u64 = 1 << 16;
    /// A control virtqueue exists; not used here.
    pub const F_CTRL_VQ: u64 = 1 << 17;
    /// Multiple queue pairs; not used here.
    pub const F_MQ: u64 = 1 << 22;

    /// Device configuration layout (`struct virtio_net_config`, §5.1.4).
    /// `mac[6]`.
    pub const CFG_MAC: usize = 0;
    /// le16 `status`, bits below.
    pub const CFG_STATUS: usize = 6;
    /// le16 `max_virtqueue_pairs`.
    pub const CFG_MAX_VIRTQUEUE_PAIRS: usize = 8;
    /// le16 `mtu`.
    pub const CFG_MTU: usize = 10;
    /// `status`: the link is up.
    pub const S_LINK_UP: u16 = 1;
    /// `status`: the driver should announce itself (gratuitous ARP).
    pub const S_ANNOUNCE: u16 = 2;

    /// `struct virtio_net_hdr` precedes every packet in both directions
    /// (§5.1.6). With VERSION_1 it always has `num_buffers`: 12 bytes.
    pub const HDR_LEN: usize = 12;
    /// u8 `flags` (NEEDS_CSUM, DATA_VALID…): 0 = nothing to do.
    pub const HDR_FLAGS: usize = 0;
    /// u8 `gso_type`: 0 = `VIRTIO_NET_HDR_GSO_NONE`.
    pub const HDR_GSO_TYPE: usize = 1;
    /// le16 `num_buffers`: buffers this received packet spans (1 without
    /// MRG_RXBUF); the driver leaves it 0 on transmit.
    pub const HDR_NUM_BUFFERS: usize = 10;
}

/// virtio-blk [virtio 1.2 §5.2].
pub mod blk {
    /// Queue 0 is `requestq1` (§5.2.2).
    pub const REQUESTQ: u16 = 0;

    /// Feature bits [virtio 1.2 §5.2.3].
    /// `size_max`: the largest single segment.
    pub const F_SIZE_MAX: u64 = 1 << 1;
    /// `seg_max`: the most data segments in one request.
    pub const F_SEG_MAX: u64 = 1 << 2;
    /// `geometry` is valid.
    pub const F_GEOMETRY: u64 = 1 << 4;
    /// The device is read-only.
    pub const F_RO: u64 = 1 << 5;
    /// `blk_size` (the optimal/logical block size) is valid.
    pub const F_BLK_SIZE: u64 = 1 << 6;
    /// Cache flush command (`VIRTIO_BLK_T_FLUSH`) supported.
    pub const F_FLUSH: u64 = 1 << 9;
    /// Topology information is valid.
    pub const F_TOPOLOGY: u64 = 1 << 10;
    /// Multiple request queues.
    pub const F_MQ: u64 = 1 << 12;
    /// Discard command.
    pub const F_DISCARD: u64 = 1 << 13;
    /// Write-zeroes command.
    pub const F_WRITE_ZEROES: u64 = 1 << 14;

    /// Device configuration layout (`struct virtio_blk_config`, §5.2.4).
    /// le64 `capacity`, in 512-byte sectors whatever `blk_size` says.
    pub const CFG_CAPACITY: usize = 0;
    /// le32 `size_max`.
    pub const CFG_SIZE_MAX: usize = 8;
    /// le32 `seg_max`.
    pub const CFG_SEG_MAX: usize = 12;
    /// le32 `blk_size`.
    pub const CFG_BLK_SIZE: usize = 20;

    /// The unit of `capacity` and of a request's `sector` (§5.2.4).
    pub const SECTOR_SIZE: usize = 512;

    /// Request header (`struct virtio_blk_req` up to `data`, §5.2.6):
    /// le32 type, le32 reserved, le64 sector. Device-readable.
    pub const REQ_HDR_LEN: usize = 16;
    /// Offset of `type` in the header.
    pub const REQ_TYPE: usize = 0;
    /// Offset of `reserved`.
    pub const REQ_RESERVED: usize = 4;
    /// Offset of `sector`.
    pub const REQ_SECTOR: usize = 8;

    /// Request types.
    /// Read (`VIRTIO_BLK_T_IN`): the device writes the data segments.
    pub const T_IN: u32 = 0;
    /// Write (`VIRTIO_BLK_T_OUT`): the device reads the data segments.
    pub const T_OUT: u32 = 1;
    /// Flush the device's write cache.
    pub const T_FLUSH: u32 = 4;
    /// Read the device ID string (20 bytes, not NUL-terminated if full).
    pub const T_GET_ID: u32 = 8;
    /// Length of the ID string `T_GET_ID` returns.
    pub const ID_BYTES: usize = 20;

    /// The status byte the device writes last (device-writable).
    pub const S_OK: u8 = 0;
    /// The request failed (an I/O error).
    pub const S_IOERR: u8 = 1;
    /// The request type is not supported.
    pub const S_UNSUPP: u8 = 2;
}
