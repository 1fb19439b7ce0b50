//! A local APIC in xAPIC mode [SDM 3A ch. 11]: 32-bit registers on 16-byte
//! boundaries, an EOI register that records what is written, an ICR whose
//! delivery status stays "send pending" for N reads (or forever), a latching
//! ESR, and a timer that counts down as it is read.

use hal::sim::{DeviceModel, Width};

const ID: usize = 0x20;
const VERSION: usize = 0x30;
const EOI: usize = 0xb0;
const ESR: usize = 0x280;
const ICR_LOW: usize = 0x300;
const ICR_HIGH: usize = 0x310;
const LVT_TIMER: usize = 0x320;
const INITIAL_COUNT: usize = 0x380;
const CURRENT_COUNT: usize = 0x390;

const ICR_SEND_PENDING: u32 = 1 << 12;
const LVT_MASKED: u32 = 1 << 16;
const TIMER_PERIODIC: u32 = 1 << 17;

/// More ICR reads than any bounded wait in the crate makes: a driver that
/// gets here is polling without bound, and the model stops the test instead
/// of letting it hang.
pub const ICR_READ_LIMIT: u64 = 1_000_000;

/// An IPI as the APIC sent it: ICR high and low at the moment low was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipi {
    pub high: u32,
    pub low: u32,
}

/// How long the ICR stays busy after a send.
#[derive(Clone, Copy, Debug)]
pub enum IcrBusy {
    /// "Send pending" clears after this many ICR low reads.
    Reads(u32),
    /// "Send pending" never clears: a wedged APIC.
    Forever,
}

pub struct XApicModel {
    regs: [u32; 0x40],
    icr_busy: IcrBusy,
    icr_pending_reads: Option<u32>,
    icr_reads: u64,
    /// IPIs sent, oldest first.
    pub ipis: Vec<Ipi>,
    /// Every value written to EOI.
    pub eoi_writes: Vec<u32>,
    /// Errors the APIC has detected since ESR was last written.
    pub pending_errors: u32,
    latched_errors: u32,
    timer_running: bool,
    /// How much the timer's current count drops per read of it.
    pub timer_step: u32,
}

impl XApicModel {
    /// APIC ID `id`, version 0x14 with 6 LVT entries (QEMU's values), every
    /// LVT entry masked as after reset, ICR busy for `icr_busy`.
    pub fn new(id: u8, icr_busy: IcrBusy) -> Self {
        let mut m = XApicModel {
            regs: [0; 0x40],
            icr_busy,
            icr_pending_reads: None,
            icr_reads: 0,
            ipis: Vec::new(),
            eoi_writes: Vec::new(),
            pending_errors: 0,
            latched_errors: 0,
            timer_running: false,
            timer_step: 100,
        };
        m.regs[ID >> 4] = u32::from(id) << 24;
        m.regs[VERSION >> 4] = 0x0005_0014;
        m.regs[0xf0 >> 4] = 0xff; // SVR reset value: disabled, vector 0xFF
        for lvt in [0x320, 0x330, 0x340, 0x350, 0x360, 0x370] {
            m.regs[lvt >> 4] = LVT_MASKED;
        }
        m
    }

    pub fn reg(&self, offset: usize) -> u32 {
        self.regs[offset >> 4]
    }

    pub fn set_reg(&mut self, offset: usize, value: u32) {
        self.regs[offset >> 4] = value;
    }

    /// Whether the last IPI is still waiting to be accepted.
    pub fn send_pending(&self) -> bool {
        self.icr_pending_reads.is_some()
    }

    pub fn icr_reads(&self) -> u64 {
        self.icr_reads
    }

    pub fn timer_running(&self) -> bool {
        self.timer_running
    }

    fn check(offset: usize, width: Width) {
        assert_eq!(width, Width::U32, "local APIC registers are 32-bit");
        assert_eq!(offset % 16, 0, "local APIC registers sit on 16-byte boundaries");
    }
}

impl DeviceModel for XApicModel {
    fn read(&mut self, offset: usize, width: Width) -> u64 {
        Self::check(offset, width);
        let value = match offset {
            EOI => 0, // write-only
            ESR => self.latched_errors,
            ICR_LOW => {
                self.icr_reads += 1;
                assert!(self.icr_reads < ICR_READ_LIMIT, "the ICR was polled without bound");
                let pending = self.icr_pending_reads.is_some();
                if let Some(left) = self.icr_pending_reads {
                    self.icr_pending_reads = match (self.icr_busy, left) {
                        (IcrBusy::Forever, _) => Some(left),
                        (IcrBusy::Reads(_), 0 | 1) => None,
                        (IcrBusy::Reads(_), n) => Some(n - 1),
                    };
                }
                self.reg(ICR_LOW) | if pending { ICR_SEND_PENDING } else { 0 }
            }
            CURRENT_COUNT => {
                if self.timer_running {
                    let current = self.reg(CURRENT_COUNT).saturating_sub(self.timer_step);
                    self.set_reg(CURRENT_COUNT, current);
                    if current == 0 {
                        if self.reg(LVT_TIMER) & TIMER_PERIODIC != 0 {
                            self.set_reg(CURRENT_COUNT, self.reg(INITIAL_COUNT));
                        } else {
                            self.timer_running = false;
                        }
                    }
                }
                self.reg(CURRENT_COUNT)
            }
            _ => self.reg(offset),
        };
        u64::from(value)
    }

    fn write(&mut self, offset: usize, width: Width, value: u64) {
        Self::check(offset, width);
        let value = value as u32;
        match offset {
            ID | VERSION | CURRENT_COUNT => {} // read-only here
            EOI => self.eoi_writes.push(value),
            ESR => {
                // A write latches the errors seen so far into the readable
                // register and starts collecting afresh [SDM 3A §11.5.3].
                self.latched_errors = std::mem::take(&mut self.pending_errors);
            }
            ICR_LOW => {
                assert!(!self.send_pending(), "ICR written while the previous IPI was still pending");
                self.set_reg(ICR_LOW, value & !ICR_SEND_PENDING);
                self.ipis.push(Ipi { high: self.reg(ICR_HIGH), low: value });
                self.icr_pending_reads = match self.icr_busy {
                    IcrBusy::Reads(0) => None,
                    IcrBusy::Reads(n) => Some(n),
                    IcrBusy::Forever => Some(0),
                };
            }
            INITIAL_COUNT => {
                self.set_reg(INITIAL_COUNT, value);
                self.set_reg(CURRENT_COUNT, value);
                self.timer_running = value != 0;
            }
            _ => self.set_reg(offset, value),
        }
    }
}
