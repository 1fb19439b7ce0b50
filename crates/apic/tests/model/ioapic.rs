//! An IOAPIC: IOREGSEL/IOWIN indirection, IOAPICID, IOAPICVER, the
//! redirection table with its read-only status bits, level-triggered Remote
//! IRR, and (version 0x20+) the EOI register at 0x40 [82093AA §3; ICH
//! datasheets for the EOI register].

use hal::sim::{DeviceModel, Width};

const IOREGSEL: usize = 0x00;
const IOWIN: usize = 0x10;
const EOI: usize = 0x40;

const REG_ID: u32 = 0x00;
const REG_VER: u32 = 0x01;
const REG_ARB: u32 = 0x02;
const REG_REDTBL: u32 = 0x10;

/// Redirection entry bits the model acts on.
pub const RTE_DELIVERY_STATUS: u64 = 1 << 12;
pub const RTE_REMOTE_IRR: u64 = 1 << 14;
pub const RTE_LEVEL: u64 = 1 << 15;
pub const RTE_MASKED: u64 = 1 << 16;
const RTE_READ_ONLY: u64 = RTE_DELIVERY_STATUS | RTE_REMOTE_IRR;

pub struct IoApicModel {
    version: u8,
    id: u8,
    regsel: u32,
    entries: Vec<u64>,
    /// Every write through IOWIN, as (indirect index, value), oldest first.
    pub indirect_writes: Vec<(u32, u32)>,
    /// Every value written to the EOI register.
    pub eoi_writes: Vec<u32>,
    /// Writes the model has no register for (e.g. offset 0x40 on a 0x11).
    pub stray_writes: Vec<(usize, u64)>,
}

impl IoApicModel {
    /// An IOAPIC of `version` with `pins` pins, all entries at their reset
    /// value (masked, everything else zero).
    pub fn new(version: u8, pins: u32) -> Self {
        assert!((1..=256).contains(&pins));
        IoApicModel {
            version,
            id: 0,
            regsel: 0,
            entries: vec![RTE_MASKED; pins as usize],
            indirect_writes: Vec::new(),
            eoi_writes: Vec::new(),
            stray_writes: Vec::new(),
        }
    }

    pub fn with_id(mut self, id: u8) -> Self {
        self.id = id;
        self
    }

    /// The raw 64-bit entry of `pin`, status bits included.
    pub fn entry(&self, pin: u32) -> u64 {
        self.entries[pin as usize]
    }

    /// Presets `pin`'s entry (as firmware, or the hardware for status bits, would).
    pub fn set_entry(&mut self, pin: u32, raw: u64) {
        self.entries[pin as usize] = raw;
    }

    /// The device drives `pin` to its asserted level. A level-triggered,
    /// unmasked pin whose Remote IRR is clear sends its message and sets
    /// Remote IRR. Returns whether a message went out.
    pub fn assert_level(&mut self, pin: u32) -> bool {
        let e = &mut self.entries[pin as usize];
        if *e & RTE_MASKED != 0 || *e & RTE_REMOTE_IRR != 0 {
            return false;
        }
        if *e & RTE_LEVEL != 0 {
            *e |= RTE_REMOTE_IRR;
        }
        true
    }

    fn read_indirect(&self, index: u32) -> u32 {
        let pins = self.entries.len() as u32;
        match index {
            REG_ID => u32::from(self.id) << 24,
            REG_VER => u32::from(self.version) | (pins - 1) << 16,
            REG_ARB => 0,
            i if (REG_REDTBL..REG_REDTBL + 2 * pins).contains(&i) => {
                let raw = self.entries[((i - REG_REDTBL) / 2) as usize];
                if (i - REG_REDTBL).is_multiple_of(2) {
                    raw as u32
                } else {
                    (raw >> 32) as u32
                }
            }
            _ => 0,
        }
    }

    fn write_indirect(&mut self, index: u32, value: u32) {
        self.indirect_writes.push((index, value));
        let pins = self.entries.len() as u32;
        match index {
            REG_ID => self.id = ((value >> 24) & 0xf) as u8,
            i if (REG_REDTBL..REG_REDTBL + 2 * pins).contains(&i) => {
                let e = &mut self.entries[((i - REG_REDTBL) / 2) as usize];
                if (i - REG_REDTBL).is_multiple_of(2) {
                    // The status bits belong to the IOAPIC: writes leave them.
                    let low = (u64::from(value) & !RTE_READ_ONLY) | (*e & RTE_READ_ONLY);
                    *e = (*e & !0xffff_ffff) | low;
                } else {
                    *e = (*e & 0xffff_ffff) | u64::from(value) << 32;
                }
            }
            _ => {} // VER and ARB are read-only
        }
    }
}

impl DeviceModel for IoApicModel {
    fn read(&mut self, offset: usize, width: Width) -> u64 {
        assert_eq!(width, Width::U32, "IOAPIC registers must be accessed as 32-bit words");
        match offset {
            IOREGSEL => u64::from(self.regsel),
            IOWIN => u64::from(self.read_indirect(self.regsel)),
            _ => 0,
        }
    }

    fn write(&mut self, offset: usize, width: Width, value: u64) {
        assert_eq!(width, Width::U32, "IOAPIC registers must be accessed as 32-bit words");
        let value32 = value as u32;
        match offset {
            IOREGSEL => self.regsel = value32 & 0xff,
            IOWIN => self.write_indirect(self.regsel, value32),
            EOI if self.version >= 0x20 => {
                self.eoi_writes.push(value32);
                let vector = u64::from(value32 & 0xff);
                for e in &mut self.entries {
                    if *e & 0xff == vector {
                        *e &= !RTE_REMOTE_IRR;
                    }
                }
            }
            _ => self.stray_writes.push((offset, value)),
        }
    }
}
