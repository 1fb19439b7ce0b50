//! The local APIC, xAPIC mode against a model (`model/xapic.rs`) and x2APIC
//! mode against fake MSRs (`model/msr.rs`).
//!
//! Expected register values are hand-computed from SDM vol. 3A ch. 11.

mod model;

use apic::lapic::ICR_POLL_LIMIT;
use apic::{ApicOps, Error, LapicStats, LapicVersion, LocalApic, TimerDivide, X2Apic};
use hal::sim::{Op, SimWindow};
use model::msr::{FakeMsrs, MsrOp, IA32_APIC_BASE};
use model::xapic::{IcrBusy, Ipi, XApicModel};

type Window = SimWindow<XApicModel>;

fn window(busy: IcrBusy) -> Window {
    SimWindow::new(XApicModel::new(0, busy), 0x1000)
}

fn lapic(w: &Window) -> LocalApic<&Window> {
    LocalApic::new(w).expect("a page is large enough")
}

/// Every write in the window's log as (offset, value), oldest first.
fn writes(w: &Window) -> Vec<(usize, u32)> {
    w.log().iter().filter(|a| a.op == Op::Write).map(|a| (a.offset, a.value as u32)).collect()
}

fn ipis(w: &Window) -> Vec<Ipi> {
    w.with_model(|m| m.ipis.clone())
}

// ---- xAPIC ----

#[test]
fn a_window_smaller_than_the_registers_is_refused() {
    let w = SimWindow::new(XApicModel::new(0, IcrBusy::Reads(0)), 0x3f0);
    assert_eq!(LocalApic::new(&w).err(), Some(Error::WindowTooSmall { size: 0x3f0, need: 0x400 }));
}

#[test]
fn enable_sets_svr_bit_8_and_the_spurious_vector() {
    let w = window(IcrBusy::Reads(0));
    // As if firmware had left EOI-broadcast suppression (bit 12) on.
    w.with_model(|m| {
        m.set_reg(0xf0, 0x10ff);
        m.set_reg(0x80, 0x20);
    });
    let apic = lapic(&w);
    apic.enable(0xff).unwrap();
    assert_eq!(w.with_model(|m| m.reg(0xf0)), 0x1ff, "enabled, vector 0xFF, broadcast suppression off");
    assert_eq!(w.with_model(|m| m.reg(0x80)), 0, "TPR accepts every class");
    apic.enable(0xef).unwrap();
    assert_eq!(w.with_model(|m| m.reg(0xf0)), 0x1ef);
    assert_eq!(apic.enable(0x0f), Err(Error::InvalidVector(0x0f)));
    assert_eq!(w.with_model(|m| m.reg(0xf0)), 0x1ef, "a refused vector changes nothing");
}

#[test]
fn eoi_writes_zero_to_offset_0xb0() {
    let w = window(IcrBusy::Reads(0));
    let apic = lapic(&w);
    apic.eoi().unwrap();
    assert_eq!(writes(&w), [(0xb0, 0)]);
    assert_eq!(w.with_model(|m| m.eoi_writes.clone()), [0]);
    apic.eoi().unwrap();
    assert_eq!(apic.stats().eois, 2);
}

#[test]
fn the_xapic_id_is_bits_31_to_24() {
    let w = SimWindow::new(XApicModel::new(3, IcrBusy::Reads(0)), 0x1000);
    assert_eq!(w.with_model(|m| m.reg(0x20)), 0x0300_0000);
    assert_eq!(lapic(&w).id(), Ok(3));
}

#[test]
fn the_version_register_is_decoded() {
    let w = window(IcrBusy::Reads(0));
    w.with_model(|m| m.set_reg(0x30, 0x0105_0014));
    let version = lapic(&w).version().unwrap();
    assert_eq!(version, LapicVersion { version: 0x14, max_lvt_entry: 5, eoi_broadcast_suppression: true });
    assert_eq!(version.lvt_entries(), 6);
    assert!(!LapicVersion::decode(0x0005_0014).eoi_broadcast_suppression);
}

#[test]
fn an_ipi_writes_icr_high_before_icr_low() {
    let w = window(IcrBusy::Reads(2));
    let apic = lapic(&w);
    apic.send_ipi(3, 0x40).unwrap();
    // Destination 3 in bits 31:24 of ICR high; then fixed, assert, vector 0x40.
    assert_eq!(writes(&w), [(0x310, 0x0300_0000), (0x300, 0x4040)]);
    // The model sends on the low write with whatever high holds then.
    assert_eq!(ipis(&w), [Ipi { high: 0x0300_0000, low: 0x4040 }]);
    assert_eq!(apic.stats(), LapicStats { eois: 0, ipis_sent: 1, ipi_timeouts: 0 });
}

#[test]
fn an_ipi_waits_until_it_is_accepted() {
    let w = window(IcrBusy::Reads(5));
    let apic = lapic(&w);
    apic.send_ipi(1, 0x40).unwrap();
    assert!(!w.with_model(|m| m.send_pending()), "send_ipi returned before the IPI was accepted");
    let icr_reads_after_send =
        w.log().iter().skip_while(|a| !(a.op == Op::Write && a.offset == 0x300)).filter(|a| a.offset == 0x300).count();
    assert_eq!(icr_reads_after_send, 1 + 6, "the write, five busy reads, one idle read");
    // A second IPI right away finds the ICR idle (the model panics otherwise).
    apic.send_ipi(2, 0x41).unwrap();
    assert_eq!(ipis(&w).len(), 2);
}

#[test]
fn an_ipi_times_out_when_delivery_status_never_clears() {
    let w = window(IcrBusy::Forever);
    let apic = lapic(&w);
    assert_eq!(apic.send_ipi(1, 0x40), Err(Error::Timeout));
    let polls = w.with_model(|m| m.icr_reads());
    assert!(polls >= u64::from(ICR_POLL_LIMIT), "gave up after only {polls} polls");
    assert!(polls <= 2 * u64::from(ICR_POLL_LIMIT), "{polls} polls: the wait is not bounded by ICR_POLL_LIMIT");
    // The next IPI must not overwrite the stuck one: it times out before writing.
    assert_eq!(apic.send_init(2), Err(Error::Timeout));
    assert_eq!(ipis(&w).len(), 1);
    assert_eq!(w.count(Op::Write, 0x300), 1);
    assert_eq!(apic.stats(), LapicStats { eois: 0, ipis_sent: 0, ipi_timeouts: 2 });
}

#[test]
fn init_and_startup_ipis_have_the_sdm_encodings() {
    let w = window(IcrBusy::Reads(1));
    let apic = lapic(&w);
    apic.send_init(1).unwrap();
    apic.send_startup(1, 0x08).unwrap();
    assert_eq!(
        ipis(&w),
        [
            // INIT (101), assert, edge: 0x4500; Start-up (110), page 8 (0x8000): 0x4608.
            Ipi { high: 0x0100_0000, low: 0x4500 },
            Ipi { high: 0x0100_0000, low: 0x4608 },
        ]
    );
}

#[test]
fn an_ipi_with_a_bad_destination_or_vector_sends_nothing() {
    let w = window(IcrBusy::Reads(0));
    let apic = lapic(&w);
    assert_eq!(apic.send_ipi(256, 0x40), Err(Error::DestinationOutOfRange(256)));
    assert_eq!(apic.send_ipi(1, 2), Err(Error::InvalidVector(2)));
    assert!(w.log().is_empty());
    assert_eq!(apic.stats().ipis_sent, 0);
}

#[test]
fn a_one_shot_timer_programs_divider_and_lvt_before_the_count() {
    let w = window(IcrBusy::Reads(0));
    let apic = lapic(&w);
    apic.timer_oneshot(0x30, 1000, TimerDivide::By16).unwrap();
    // Divide by 16 = 0b0011; LVT one-shot (bits 18:17 = 00), unmasked, 0x30;
    // the initial count last, because writing it starts the timer.
    assert_eq!(writes(&w), [(0x3e0, 0b0011), (0x320, 0x30), (0x380, 1000)]);
    assert!(w.with_model(|m| m.timer_running()));
    let first = apic.timer_current().unwrap();
    let second = apic.timer_current().unwrap();
    assert!(first < 1000 && second < first, "{first}, {second}: the count runs down");
    while apic.timer_current().unwrap() != 0 {}
    assert!(!w.with_model(|m| m.timer_running()), "a one-shot stops at zero");
}

#[test]
fn a_periodic_timer_sets_lvt_bit_17_and_reloads() {
    let w = window(IcrBusy::Reads(0));
    let apic = lapic(&w);
    apic.timer_periodic(0xec, 300, TimerDivide::By1).unwrap();
    assert_eq!(writes(&w), [(0x3e0, 0b1011), (0x320, 0x2_00ec), (0x380, 300)]);
    for _ in 0..10 {
        apic.timer_current().unwrap();
    }
    assert!(w.with_model(|m| m.timer_running()), "still running after several periods");
}

#[test]
fn timer_stop_masks_the_lvt_and_zeroes_the_count() {
    let w = window(IcrBusy::Reads(0));
    let apic = lapic(&w);
    apic.timer_periodic(0x30, 5000, TimerDivide::By16).unwrap();
    w.clear_log();
    apic.timer_stop().unwrap();
    assert_eq!(writes(&w), [(0x320, 0x3_0030), (0x380, 0)], "masked, mode and vector kept; count 0");
    assert!(!w.with_model(|m| m.timer_running()));
    assert_eq!(apic.timer_current(), Ok(0));
}

#[test]
fn timer_arguments_are_checked() {
    let w = window(IcrBusy::Reads(0));
    let apic = lapic(&w);
    assert_eq!(apic.timer_oneshot(0x30, 0, TimerDivide::By1), Err(Error::ZeroTimerCount));
    assert_eq!(apic.timer_periodic(0x1f, 10, TimerDivide::By1), Err(Error::InvalidVector(0x1f)));
    assert!(w.log().is_empty());
}

#[test]
fn timer_divide_values_match_the_sdm() {
    let table = [
        (TimerDivide::By1, 0b1011, 1),
        (TimerDivide::By2, 0b0000, 2),
        (TimerDivide::By4, 0b0001, 4),
        (TimerDivide::By8, 0b0010, 8),
        (TimerDivide::By16, 0b0011, 16),
        (TimerDivide::By32, 0b1000, 32),
        (TimerDivide::By64, 0b1001, 64),
        (TimerDivide::By128, 0b1010, 128),
    ];
    for (divide, bits, divisor) in table {
        assert_eq!((divide.bits(), divide.divisor()), (bits, divisor), "{divide:?}");
    }
}

#[test]
fn mask_lints_sets_only_bit_16() {
    let w = window(IcrBusy::Reads(0));
    // Firmware's virtual-wire setup: LINT0 = ExtINT, LINT1 = NMI, unmasked.
    w.with_model(|m| {
        m.set_reg(0x350, 0x700);
        m.set_reg(0x360, 0x400);
    });
    lapic(&w).mask_lints().unwrap();
    assert_eq!(w.with_model(|m| (m.reg(0x350), m.reg(0x360))), (0x1_0700, 0x1_0400));
}

#[test]
fn error_status_latches_esr_before_reading_it() {
    let w = window(IcrBusy::Reads(0));
    let apic = lapic(&w);
    w.with_model(|m| m.pending_errors = 0x40); // "send illegal vector"
    assert_eq!(apic.error_status(), Ok(0x40));
    assert_eq!(apic.error_status(), Ok(0), "errors are reported once");
    apic.set_error_vector(0xfe).unwrap();
    assert_eq!(w.with_model(|m| m.reg(0x370)), 0xfe, "LVT error unmasked on vector 0xFE");
}

// ---- x2APIC ----

#[test]
fn x2apic_enable_switches_the_mode_before_touching_x2apic_msrs() {
    let msrs = FakeMsrs::xapic_mode(); // base 0xFEE00000, BSP, enabled
    let apic = X2Apic::new(&msrs);
    assert!(!apic.in_x2apic_mode());
    apic.enable(0xff).unwrap();
    // IA32_APIC_BASE gains EXTD (bit 10), keeping base, BSP and EN; then
    // TPR (0x808) and SVR (0x80F). The fake faults on x2APIC MSRs before EXTD.
    assert_eq!(msrs.writes(), [(IA32_APIC_BASE, 0xfee0_0d00), (0x808, 0), (0x80f, 0x1ff)]);
    assert!(apic.in_x2apic_mode());
    msrs.clear_log();
    apic.enable(0xff).unwrap();
    assert_eq!(msrs.writes(), [(0x808, 0), (0x80f, 0x1ff)], "already in x2APIC mode: the mode is not rewritten");
}

#[test]
fn x2apic_registers_are_msr_0x800_plus_offset_over_16() {
    let msrs = FakeMsrs::x2apic_mode();
    msrs.set(0x835, 0x700);
    msrs.set(0x836, 0x400);
    msrs.set(0x828, 0);
    let apic = X2Apic::new(&msrs);

    apic.eoi().unwrap();
    assert_eq!(msrs.writes(), [(0x80b, 0)]);

    msrs.clear_log();
    apic.set_task_priority(0x20).unwrap();
    apic.timer_oneshot(0x30, 1000, TimerDivide::By16).unwrap();
    apic.timer_current().unwrap();
    apic.set_error_vector(0xfe).unwrap();
    apic.error_status().unwrap();
    apic.mask_lints().unwrap();
    apic.timer_stop().unwrap();
    assert_eq!(
        msrs.log(),
        [
            (MsrOp::Write, 0x808, 0x20),
            (MsrOp::Write, 0x83e, 0b0011),
            (MsrOp::Write, 0x832, 0x30),
            (MsrOp::Write, 0x838, 1000),
            (MsrOp::Read, 0x839, 0),
            (MsrOp::Write, 0x837, 0xfe),
            (MsrOp::Write, 0x828, 0),
            (MsrOp::Read, 0x828, 0),
            (MsrOp::Read, 0x835, 0x700),
            (MsrOp::Write, 0x835, 0x1_0700),
            (MsrOp::Read, 0x836, 0x400),
            (MsrOp::Write, 0x836, 0x1_0400),
            (MsrOp::Read, 0x832, 0x30),
            (MsrOp::Write, 0x832, 0x1_0030),
            (MsrOp::Write, 0x838, 0),
        ]
    );
}

#[test]
fn x2apic_ipis_are_one_64_bit_icr_write() {
    let msrs = FakeMsrs::x2apic_mode();
    let apic = X2Apic::new(&msrs);
    // A 32-bit destination beyond any xAPIC ID, in ICR bits 63:32.
    apic.send_ipi(0x1_0002, 0x40).unwrap();
    apic.send_init(5).unwrap();
    apic.send_startup(5, 0x08).unwrap();
    assert_eq!(
        msrs.log(),
        [
            (MsrOp::Write, 0x830, 0x0001_0002_0000_4040),
            (MsrOp::Write, 0x830, 0x0000_0005_0000_4500),
            (MsrOp::Write, 0x830, 0x0000_0005_0000_4608),
        ],
        "one write each, no ICR high (0x831), no delivery-status polling"
    );
    assert_eq!(apic.stats().ipis_sent, 3);
}

#[test]
fn the_x2apic_id_is_all_32_bits() {
    let msrs = FakeMsrs::x2apic_mode();
    msrs.set(0x802, 0x1234_5678);
    assert_eq!(X2Apic::new(&msrs).id(), Ok(0x1234_5678));
}

#[test]
fn both_modes_work_through_dyn_apic_ops() {
    fn ack(apic: &dyn ApicOps) {
        apic.eoi().unwrap();
    }
    let w = window(IcrBusy::Reads(0));
    let xapic = lapic(&w);
    let msrs = FakeMsrs::x2apic_mode();
    let x2apic = X2Apic::new(&msrs);
    for apic in [&xapic as &dyn ApicOps, &x2apic] {
        ack(apic);
        assert_eq!(apic.stats().eois, 1);
    }
    assert_eq!(writes(&w), [(0xb0, 0)]);
    assert_eq!(msrs.writes(), [(0x80b, 0)]);
}
