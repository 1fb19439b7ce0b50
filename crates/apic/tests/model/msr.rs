//! Fake MSRs for the x2APIC [SDM 3A §11.12]: IA32_APIC_BASE and the x2APIC
//! register MSRs of table 11-6, with the faults real hardware raises — any
//! x2APIC MSR while not in x2APIC mode, MSRs that do not exist (such as
//! 0x831, the xAPIC's ICR high), reads of write-only and writes of read-only
//! registers, and non-zero EOI or ESR writes — turned into panics.

use std::cell::RefCell;
use std::collections::BTreeMap;

use apic::MsrAccess;

pub const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_BSP: u64 = 1 << 8;
const APIC_BASE_EXTD: u64 = 1 << 10;
const APIC_BASE_EN: u64 = 1 << 11;
const APIC_BASE_DEFAULT: u64 = 0xfee0_0000;

const READ_ONLY: &[u32] = &[0x802, 0x803, 0x80a, 0x80d, 0x839];
const WRITE_ONLY: &[u32] = &[0x80b, 0x83f];
const READ_WRITE: &[u32] = &[0x808, 0x80f, 0x828, 0x82f, 0x830, 0x832, 0x833, 0x834, 0x835, 0x836, 0x837, 0x838, 0x83e];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsrOp {
    Read,
    Write,
}

#[derive(Default)]
struct State {
    values: BTreeMap<u32, u64>,
    log: Vec<(MsrOp, u32, u64)>,
}

pub struct FakeMsrs {
    state: RefCell<State>,
}

impl FakeMsrs {
    /// A BSP whose APIC firmware left enabled in xAPIC mode.
    pub fn xapic_mode() -> Self {
        let msrs = FakeMsrs { state: RefCell::new(State::default()) };
        msrs.set(IA32_APIC_BASE, APIC_BASE_DEFAULT | APIC_BASE_BSP | APIC_BASE_EN);
        msrs
    }

    /// A BSP already in x2APIC mode (as firmware leaves some machines).
    pub fn x2apic_mode() -> Self {
        let msrs = Self::xapic_mode();
        msrs.set(IA32_APIC_BASE, APIC_BASE_DEFAULT | APIC_BASE_BSP | APIC_BASE_EN | APIC_BASE_EXTD);
        msrs
    }

    /// Presets an MSR (not logged).
    pub fn set(&self, msr: u32, value: u64) {
        self.state.borrow_mut().values.insert(msr, value);
    }

    /// An MSR's current value (not logged).
    pub fn get(&self, msr: u32) -> u64 {
        self.state.borrow().values.get(&msr).copied().unwrap_or(0)
    }

    /// Every access, oldest first.
    pub fn log(&self) -> Vec<(MsrOp, u32, u64)> {
        self.state.borrow().log.clone()
    }

    /// Every write as (msr, value), oldest first.
    pub fn writes(&self) -> Vec<(u32, u64)> {
        self.log().into_iter().filter(|(op, _, _)| *op == MsrOp::Write).map(|(_, m, v)| (m, v)).collect()
    }

    pub fn clear_log(&self) {
        self.state.borrow_mut().log.clear();
    }

    fn in_x2apic_mode(&self) -> bool {
        let mode = APIC_BASE_EN | APIC_BASE_EXTD;
        self.get(IA32_APIC_BASE) & mode == mode
    }

    fn check_x2apic(&self, msr: u32) {
        assert!(self.in_x2apic_mode(), "#GP: x2APIC MSR {msr:#x} accessed outside x2APIC mode");
    }
}

impl MsrAccess for FakeMsrs {
    fn read(&self, msr: u32) -> u64 {
        if msr != IA32_APIC_BASE {
            self.check_x2apic(msr);
            assert!(!WRITE_ONLY.contains(&msr), "#GP: read of write-only MSR {msr:#x}");
            assert!(READ_ONLY.contains(&msr) || READ_WRITE.contains(&msr), "#GP: no MSR {msr:#x}");
        }
        let value = self.get(msr);
        self.state.borrow_mut().log.push((MsrOp::Read, msr, value));
        value
    }

    fn write(&self, msr: u32, value: u64) {
        if msr != IA32_APIC_BASE {
            self.check_x2apic(msr);
            assert!(!READ_ONLY.contains(&msr), "#GP: write to read-only MSR {msr:#x}");
            assert!(WRITE_ONLY.contains(&msr) || READ_WRITE.contains(&msr), "#GP: no MSR {msr:#x}");
            if msr == 0x80b || msr == 0x828 {
                assert_eq!(value, 0, "#GP: non-zero write to MSR {msr:#x}");
            }
        }
        self.set(msr, value);
        self.state.borrow_mut().log.push((MsrOp::Write, msr, value));
    }
}
