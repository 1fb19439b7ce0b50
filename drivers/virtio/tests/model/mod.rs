//! A behavioural model of a modern virtio PCI device, as QEMU 7.2's
//! `hw/virtio/virtio-pci.c` and `virtio.c` present it, for host tests.
//!
//! - **The BAR** (QEMU's BAR 4 layout): common configuration at `0x0000`,
//!   ISR at `0x1000`, device configuration at `0x2000`, notifications at
//!   `0x3000` with `notify_off_multiplier` 4 and `queue_notify_off = index`.
//!   [`caps`] gives the matching vendor-specific capabilities as config-space
//!   bytes.
//! - **Common configuration**: `*_feature_select` windows over 64 feature
//!   bits; status with reset-on-0 (optionally slow: [`VirtioModel::reset_delay`]),
//!   FEATURES_OK refused when asked ([`VirtioModel::reject_features_ok`]) or
//!   when the driver accepts a bit that was not offered; `queue_select`
//!   windows over per-queue registers; MSI-X vector registers that read back
//!   `NO_VECTOR` for entries beyond [`VirtioModel::msix_vectors`].
//! - **ISR**: set with the INTx [`line`](VirtioModel::line) when an
//!   interrupt is due and no vector is programmed; **reading it returns and
//!   clears it and drops the line** ([`VirtioModel::isr_reads`]).
//! - **Notifications**: a 16-bit write of the queue index; with
//!   [`auto_process`](VirtioModel::auto_process) the device processes the
//!   queue at once (QEMU does it in the write, or in a bottom half soon after).
//! - **Devices** ([`net`], [`blk`]): walk the available ring through the fake
//!   DMA memory ([`ring`]), do the work, push used entries, interrupt if the
//!   driver's suppression state allows (event-idx or NO_INTERRUPT).
//! - **Discipline**: anything the spec forbids the driver — wrong access
//!   widths, undefined registers, clearing status bits without reset,
//!   notifying before DRIVER_OK, writing `queue_enable = 0`, changing an
//!   enabled queue, malformed chains — is recorded in
//!   [`violations`](VirtioModel::violations); [`assert_clean`] checks none.
//!
//! Offsets and bits are written out from the spec here rather than imported
//! from the driver's `regs`, so a wrong constant there is not mirrored.

#![allow(dead_code)]

pub mod blk;
pub mod net;
pub mod ring;

use hal::dma::sim::{FakeDma, PhysMemory, PAGE_SIZE};
use hal::sim::{DeviceModel, SimWindow, Width};
use virtio::pci::{CapInfo, Layout};
use virtio::transport::Transport;

pub use ring::{Chain, DeviceRing, Seg};

// BAR layout (QEMU: virtio_pci_modern_regions_init).
pub const BAR: u8 = 4;
pub const BAR_SIZE: usize = 0x4000;
pub const COMMON: usize = 0x0000;
pub const ISR: usize = 0x1000;
pub const DEVICE: usize = 0x2000;
pub const NOTIFY: usize = 0x3000;
pub const REGION_LEN: usize = 0x1000;
pub const NOTIFY_MULTIPLIER: u32 = 4;

// Common configuration (virtio 1.2 §4.1.4.3).
pub const DFSELECT: usize = 0x00;
pub const DF: usize = 0x04;
pub const GFSELECT: usize = 0x08;
pub const GF: usize = 0x0c;
pub const MSIX_CONFIG: usize = 0x10;
pub const NUM_QUEUES: usize = 0x12;
pub const STATUS: usize = 0x14;
pub const CFG_GENERATION: usize = 0x15;
pub const Q_SELECT: usize = 0x16;
pub const Q_SIZE: usize = 0x18;
pub const Q_MSIX: usize = 0x1a;
pub const Q_ENABLE: usize = 0x1c;
pub const Q_NOFF: usize = 0x1e;
pub const Q_DESCLO: usize = 0x20;
pub const Q_DESCHI: usize = 0x24;
pub const Q_AVAILLO: usize = 0x28;
pub const Q_AVAILHI: usize = 0x2c;
pub const Q_USEDLO: usize = 0x30;
pub const Q_USEDHI: usize = 0x34;

// Status bits (§2.1).
pub const ACKNOWLEDGE: u8 = 1;
pub const DRIVER: u8 = 2;
pub const DRIVER_OK: u8 = 4;
pub const FEATURES_OK: u8 = 8;
pub const FAILED: u8 = 0x80;

// Feature bits (§6).
pub const F_INDIRECT_DESC: u64 = 1 << 28;
pub const F_EVENT_IDX: u64 = 1 << 29;
pub const F_VERSION_1: u64 = 1 << 32;
pub const F_ACCESS_PLATFORM: u64 = 1 << 33;
pub const F_RING_PACKED: u64 = 1 << 34;

pub const NO_VECTOR: u16 = 0xffff;

/// Per-queue registers.
#[derive(Clone, Debug)]
pub struct QueueRegs {
    pub max_size: u16,
    pub size: u16,
    pub msix: u16,
    pub enabled: bool,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
    /// The device's ring state, from `queue_enable = 1` on.
    pub ring: Option<DeviceRing>,
}

impl QueueRegs {
    fn new(max_size: u16) -> Self {
        QueueRegs { max_size, size: max_size, msix: NO_VECTOR, enabled: false, desc: 0, avail: 0, used: 0, ring: None }
    }
}

/// What kind of device sits behind the transport.
#[derive(Debug)]
pub enum Kind {
    Net(net::NetDevice),
    Blk(blk::BlkDevice),
}

/// The virtio device.
#[derive(Debug)]
pub struct VirtioModel {
    pub memory: PhysMemory,
    pub kind: Kind,
    pub device_features: u64,
    pub driver_features: u64,
    dfselect: u32,
    gfselect: u32,
    pub status: u8,
    /// Every value written to the status register, in order.
    pub status_writes: Vec<u8>,
    /// Refuse FEATURES_OK whatever the driver accepted.
    pub reject_features_ok: bool,
    pub generation: u8,
    /// The next this-many generation reads each bump the counter first: a
    /// configuration changing under the driver's feet.
    pub generation_bumps: u32,
    /// Device-specific configuration bytes.
    pub config: Vec<u8>,
    pub config_msix: u16,
    queue_select: u16,
    pub queues: Vec<QueueRegs>,
    /// MSI-X table entries; vectors at or beyond this read back NO_VECTOR
    /// (0: MSI-X disabled, as with INTx).
    pub msix_vectors: u16,
    pub isr: u8,
    /// The INTx line (level).
    pub line: bool,
    /// Rising edges of the line.
    pub line_raised: u32,
    pub isr_reads: u32,
    /// MSI-X messages sent, by vector.
    pub msi: Vec<u16>,
    /// Doorbell writes, by queue.
    pub notifies: Vec<u16>,
    /// Resets (status writes of 0).
    pub resets: u32,
    /// After a reset, this many status reads still return the old status.
    pub reset_delay: u32,
    stale_reads: u32,
    stale_status: u8,
    /// Process a queue as soon as it is notified.
    pub auto_process: bool,
    pub violations: Vec<String>,
}

impl VirtioModel {
    pub fn new(memory: PhysMemory, kind: Kind, device_features: u64, config: Vec<u8>, queue_sizes: &[u16]) -> Self {
        let mut config = config;
        config.resize(REGION_LEN, 0);
        VirtioModel {
            memory,
            kind,
            device_features,
            driver_features: 0,
            dfselect: 0,
            gfselect: 0,
            status: 0,
            status_writes: Vec::new(),
            reject_features_ok: false,
            generation: 0,
            generation_bumps: 0,
            config,
            config_msix: NO_VECTOR,
            queue_select: 0,
            queues: queue_sizes.iter().map(|&s| QueueRegs::new(s)).collect(),
            msix_vectors: 0,
            isr: 0,
            line: false,
            line_raised: 0,
            isr_reads: 0,
            msi: Vec::new(),
            notifies: Vec::new(),
            resets: 0,
            reset_delay: 0,
            stale_reads: 0,
            stale_status: 0,
            auto_process: true,
            violations: Vec::new(),
        }
    }

    pub fn violation(&mut self, what: impl Into<String>) {
        self.violations.push(what.into());
    }

    /// The queue's device ring (after enable).
    pub fn ring(&mut self, q: u16) -> &mut DeviceRing {
        self.queues[usize::from(q)].ring.as_mut().expect("queue enabled")
    }

    fn reset(&mut self) {
        self.stale_status = self.status;
        self.stale_reads = self.reset_delay;
        self.status = 0;
        self.driver_features = 0;
        self.dfselect = 0;
        self.gfselect = 0;
        self.queue_select = 0;
        self.config_msix = NO_VECTOR;
        for q in &mut self.queues {
            *q = QueueRegs::new(q.max_size);
        }
        self.isr = 0;
        self.line = false;
        self.resets += 1;
        match &mut self.kind {
            Kind::Net(n) => n.reset(),
            Kind::Blk(_) => {}
        }
    }

    /// A device config change (§2.5.1): bump the generation and interrupt.
    pub fn config_changed(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.config_msix != NO_VECTOR {
            self.msi.push(self.config_msix);
        } else {
            self.raise_isr(2);
        }
    }

    fn raise_isr(&mut self, bits: u8) {
        self.isr |= bits;
        if !self.line {
            self.line_raised += 1;
        }
        self.line = true;
    }

    /// Sends a used-buffer notification for queue `q` if the driver's
    /// suppression state allows it.
    pub fn interrupt_if_needed(&mut self, q: u16) {
        let memory = self.memory.clone();
        if !self.ring(q).should_interrupt(&memory) {
            return;
        }
        let vector = self.queues[usize::from(q)].msix;
        if vector != NO_VECTOR {
            self.msi.push(vector);
        } else {
            self.raise_isr(1);
        }
    }

    pub fn driver_ok(&self) -> bool {
        self.status & DRIVER_OK != 0
    }

    /// Lets the device work on queue `q` (what a notify triggers).
    pub fn process(&mut self, q: u16) {
        if !self.driver_ok() || self.queues.get(usize::from(q)).is_none_or(|r| r.ring.is_none()) {
            return;
        }
        match self.kind {
            Kind::Net(_) => net::process(self, q),
            Kind::Blk(_) => blk::process(self, q),
        }
    }

    pub fn net(&mut self) -> &mut net::NetDevice {
        match &mut self.kind {
            Kind::Net(n) => n,
            Kind::Blk(_) => panic!("not a net device"),
        }
    }

    pub fn blk(&mut self) -> &mut blk::BlkDevice {
        match &mut self.kind {
            Kind::Blk(b) => b,
            Kind::Net(_) => panic!("not a blk device"),
        }
    }

    fn selected(&mut self) -> Option<&mut QueueRegs> {
        self.queues.get_mut(usize::from(self.queue_select))
    }

    fn common_width(offset: usize) -> Option<Width> {
        Some(match offset {
            DFSELECT | DF | GFSELECT | GF => Width::U32,
            Q_DESCLO | Q_DESCHI | Q_AVAILLO | Q_AVAILHI | Q_USEDLO | Q_USEDHI => Width::U32,
            MSIX_CONFIG | NUM_QUEUES | Q_SELECT | Q_SIZE | Q_MSIX | Q_ENABLE | Q_NOFF => Width::U16,
            STATUS | CFG_GENERATION => Width::U8,
            _ => return None,
        })
    }

    fn check_common(&mut self, offset: usize, width: Width) -> bool {
        match Self::common_width(offset) {
            Some(w) if w == width => true,
            Some(w) => {
                self.violation(format!("common config {offset:#x}: {width:?} access to a {w:?} field"));
                false
            }
            None => {
                self.violation(format!("common config {offset:#x}: no such field"));
                false
            }
        }
    }

    fn read_common(&mut self, offset: usize, width: Width) -> u64 {
        if !self.check_common(offset, width) {
            return 0;
        }
        let q = self.selected().cloned();
        match offset {
            DFSELECT => self.dfselect.into(),
            DF => match self.dfselect {
                0 => self.device_features & 0xffff_ffff,
                1 => self.device_features >> 32,
                _ => 0,
            },
            GFSELECT => self.gfselect.into(),
            GF => match self.gfselect {
                0 => self.driver_features & 0xffff_ffff,
                1 => self.driver_features >> 32,
                _ => 0,
            },
            MSIX_CONFIG => self.config_msix.into(),
            NUM_QUEUES => self.queues.len() as u64,
            STATUS => {
                if self.stale_reads > 0 {
                    self.stale_reads -= 1;
                    return self.stale_status.max(1).into();
                }
                self.status.into()
            }
            CFG_GENERATION => {
                if self.generation_bumps > 0 {
                    self.generation_bumps -= 1;
                    self.generation = self.generation.wrapping_add(1);
                }
                self.generation.into()
            }
            Q_SELECT => self.queue_select.into(),
            // QEMU: a queue that does not exist reads size 0.
            Q_SIZE => q.map_or(0, |q| q.size.into()),
            Q_MSIX => q.map_or(NO_VECTOR.into(), |q| q.msix.into()),
            Q_ENABLE => q.map_or(0, |q| q.enabled.into()),
            Q_NOFF => self.queue_select.into(),
            Q_DESCLO => q.map_or(0, |q| q.desc & 0xffff_ffff),
            Q_DESCHI => q.map_or(0, |q| q.desc >> 32),
            Q_AVAILLO => q.map_or(0, |q| q.avail & 0xffff_ffff),
            Q_AVAILHI => q.map_or(0, |q| q.avail >> 32),
            Q_USEDLO => q.map_or(0, |q| q.used & 0xffff_ffff),
            Q_USEDHI => q.map_or(0, |q| q.used >> 32),
            _ => 0,
        }
    }

    fn write_status(&mut self, value: u8) {
        self.status_writes.push(value);
        if value == 0 {
            self.reset();
            return;
        }
        if self.status & !value != 0 {
            self.violation(format!("status {:#x} → {value:#x} clears bits without a reset", self.status));
        }
        let mut value = value;
        let newly = value & !self.status;
        if newly & FEATURES_OK != 0 {
            let unoffered = self.driver_features & !self.device_features;
            if unoffered != 0 {
                self.violation(format!("driver accepted features {unoffered:#x} that were not offered"));
            }
            if self.reject_features_ok || unoffered != 0 {
                value &= !FEATURES_OK;
            }
        }
        if newly & DRIVER_OK != 0 && value & FEATURES_OK == 0 {
            self.violation("DRIVER_OK without FEATURES_OK");
        }
        self.status = value;
    }

    fn write_queue_reg(&mut self, offset: usize, value: u64) {
        let msix_vectors = self.msix_vectors;
        let event_idx = self.driver_features & F_EVENT_IDX != 0;
        let indirect = self.driver_features & F_INDIRECT_DESC != 0;
        let select = self.queue_select;
        let Some(q) = self.selected() else {
            self.violation(format!("queue register {offset:#x} written with queue_select {select} (no such queue)"));
            return;
        };
        if q.enabled && offset != Q_MSIX {
            self.violation(format!("queue {select}: register {offset:#x} written after queue_enable"));
            return;
        }
        let lo = |old: u64| old & !0xffff_ffff | value;
        let hi = |old: u64| old & 0xffff_ffff | value << 32;
        let mut bad = None;
        match offset {
            Q_SIZE => {
                let size = value as u16;
                if !size.is_power_of_two() || size > q.max_size {
                    bad = Some(format!("queue {select}: size {size} (max {})", q.max_size));
                }
                q.size = size;
            }
            Q_MSIX => {
                let v = value as u16;
                q.msix = if v != NO_VECTOR && v >= msix_vectors { NO_VECTOR } else { v };
            }
            Q_ENABLE => {
                if value != 1 {
                    bad = Some(format!("queue {select}: queue_enable = {value} (only 1 may be written)"));
                } else {
                    if q.desc % 16 != 0 || q.avail % 2 != 0 || q.used % 4 != 0 {
                        bad = Some(format!("queue {select}: misaligned rings"));
                    }
                    q.enabled = true;
                    q.ring = Some(DeviceRing::new(q.size, q.desc, q.avail, q.used, event_idx, indirect));
                }
            }
            Q_DESCLO => q.desc = lo(q.desc),
            Q_DESCHI => q.desc = hi(q.desc),
            Q_AVAILLO => q.avail = lo(q.avail),
            Q_AVAILHI => q.avail = hi(q.avail),
            Q_USEDLO => q.used = lo(q.used),
            Q_USEDHI => q.used = hi(q.used),
            _ => bad = Some(format!("queue register {offset:#x} is read-only")),
        }
        if let Some(bad) = bad {
            self.violation(bad);
        }
    }

    fn write_common(&mut self, offset: usize, width: Width, value: u64) {
        if !self.check_common(offset, width) {
            return;
        }
        match offset {
            DFSELECT => self.dfselect = value as u32,
            GFSELECT => self.gfselect = value as u32,
            GF => {
                if self.status & FEATURES_OK != 0 {
                    self.violation("driver features written after FEATURES_OK");
                    return;
                }
                match self.gfselect {
                    0 => self.driver_features = self.driver_features & !0xffff_ffff | value,
                    1 => self.driver_features = self.driver_features & 0xffff_ffff | value << 32,
                    s => self.violation(format!("driver_feature_select {s}")),
                }
            }
            MSIX_CONFIG => {
                let v = value as u16;
                self.config_msix = if v != NO_VECTOR && v >= self.msix_vectors { NO_VECTOR } else { v };
            }
            STATUS => self.write_status(value as u8),
            Q_SELECT => self.queue_select = value as u16,
            Q_SIZE | Q_MSIX | Q_ENABLE | Q_DESCLO | Q_DESCHI | Q_AVAILLO | Q_AVAILHI | Q_USEDLO | Q_USEDHI => {
                self.write_queue_reg(offset, value)
            }
            _ => self.violation(format!("common config {offset:#x} is read-only")),
        }
    }

    fn write_notify(&mut self, offset: usize, width: Width, value: u64) {
        let q = (offset / NOTIFY_MULTIPLIER as usize) as u16;
        if width != Width::U16 || !offset.is_multiple_of(NOTIFY_MULTIPLIER as usize) {
            self.violation(format!("notify {offset:#x}: {width:?} access"));
            return;
        }
        if value != u64::from(q) {
            self.violation(format!("notify for queue {q} carries {value}"));
        }
        if !self.driver_ok() {
            self.violation(format!("queue {q} notified before DRIVER_OK"));
        }
        if self.queues.get(usize::from(q)).is_none_or(|r| !r.enabled) {
            self.violation(format!("queue {q} notified but not enabled"));
            return;
        }
        self.notifies.push(q);
        if self.auto_process {
            self.process(q);
        }
    }
}

impl DeviceModel for VirtioModel {
    fn read(&mut self, offset: usize, width: Width) -> u64 {
        match offset {
            COMMON..ISR => self.read_common(offset - COMMON, width),
            ISR..DEVICE => {
                if width != Width::U8 || offset != ISR {
                    self.violation(format!("ISR read {offset:#x} {width:?}"));
                    return 0;
                }
                // Read-to-clear: the read is the acknowledgement, the line drops.
                self.isr_reads += 1;
                self.line = false;
                std::mem::take(&mut self.isr).into()
            }
            DEVICE..NOTIFY => {
                if width == Width::U64 {
                    self.violation("64-bit device config access");
                    return 0;
                }
                let at = offset - DEVICE;
                let mut le = [0u8; 8];
                le[..width.bytes()].copy_from_slice(&self.config[at..at + width.bytes()]);
                u64::from_le_bytes(le)
            }
            _ => {
                self.violation(format!("read of notify region {offset:#x}"));
                0
            }
        }
    }

    fn write(&mut self, offset: usize, width: Width, value: u64) {
        match offset {
            COMMON..ISR => self.write_common(offset - COMMON, width, value),
            NOTIFY..BAR_SIZE => self.write_notify(offset - NOTIFY, width, value),
            _ => self.violation(format!("write to read-only {offset:#x}")),
        }
    }
}

/// The vendor-specific capabilities QEMU builds for this layout, as
/// config-space bytes from `cap_vndr` on (plus a PCI-config-access cap,
/// which drivers must ignore).
pub fn caps() -> Vec<Vec<u8>> {
    let cap = |cfg_type: u8, offset: usize, len: usize, extra: Option<u32>| {
        let cap_len = if extra.is_some() { 20 } else { 16 };
        let mut c = vec![0x09, 0x00, cap_len, cfg_type, BAR, 0, 0, 0];
        c.extend_from_slice(&(offset as u32).to_le_bytes());
        c.extend_from_slice(&(len as u32).to_le_bytes());
        if let Some(m) = extra {
            c.extend_from_slice(&m.to_le_bytes());
        }
        c
    };
    vec![
        cap(1, COMMON, REGION_LEN, None),
        cap(3, ISR, REGION_LEN, None),
        cap(4, DEVICE, REGION_LEN, None),
        cap(2, NOTIFY, REGION_LEN, Some(NOTIFY_MULTIPLIER)),
        // VIRTIO_PCI_CAP_PCI_CFG: bar 0, offset/length 0, then a 4-byte window.
        {
            let mut c = cap(5, 0, 0, None);
            c[2] = 20;
            c.extend_from_slice(&[0; 4]);
            c
        },
    ]
}

/// The layout the driver derives from [`caps`].
pub fn layout() -> Layout {
    let caps: Vec<CapInfo> = caps().iter().filter_map(|c| CapInfo::parse(c)).collect();
    Layout::from_caps(&caps).expect("QEMU's layout is valid")
}

pub type Window = SimWindow<VirtioModel>;

/// Fake DMA memory of `pages` pages.
pub fn dma(pages: usize) -> FakeDma {
    FakeDma::new(pages * PAGE_SIZE)
}

/// A transport over the model.
pub fn transport(w: &Window) -> Transport<&Window> {
    Transport::new(w, layout()).expect("the model's BAR holds its structures")
}

/// The model broke no rule and the driver broke none of the spec's.
pub fn assert_clean(w: &Window) {
    let v = w.with_model(|m| m.violations.clone());
    assert!(v.is_empty(), "spec violations: {v:#?}");
}
