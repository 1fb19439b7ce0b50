//! The driver against a model of edu (`model/mod.rs`): identification,
//! factorial and interrupts. DMA is in `dma.rs`.
//!
//! Each test keeps the `SimWindow`, lends the driver `&window`, and inspects or
//! pokes the model through `window.with_model`.

mod model;

use edu::{regs, Edu, EduStats, Error, IrqOutcome, LIVENESS_PATTERNS, POLL_LIMIT};
use hal::sim::{Access, FloatingBus, Op, RegisterFile, SimWindow, Width};
use hal::IrqReturn;
use model::{EduModel, EDU_ID};

type Window = SimWindow<EduModel>;

fn window(model: EduModel) -> Window {
    SimWindow::new(model, regs::BAR0_SIZE)
}

fn probed(window: &Window) -> Edu<&Window> {
    let edu = Edu::new(window).expect("the model is an edu");
    window.clear_log();
    edu
}

/// `n!` in 32-bit wrapping arithmetic, as edu computes it.
fn wrapping_factorial(n: u32) -> u32 {
    (1..=n).fold(1u32, |acc, k| acc.wrapping_mul(k))
}

#[test]
fn identification_and_liveness_are_accepted() {
    let w = window(EduModel::without_memory());
    let edu = Edu::new(&w).unwrap();
    assert_eq!(edu.version(), (1, 0));
    assert_eq!(edu.poll_limit(), POLL_LIMIT);
    // The probe reads the id, then writes and reads back each pattern: nothing else.
    let mut expected = vec![Access { op: Op::Read, offset: regs::ID, width: Width::U32, value: EDU_ID.into() }];
    for p in LIVENESS_PATTERNS {
        expected.push(Access { op: Op::Write, offset: regs::LIVENESS, width: Width::U32, value: p.into() });
        expected.push(Access { op: Op::Read, offset: regs::LIVENESS, width: Width::U32, value: (!p).into() });
    }
    assert_eq!(w.log(), expected);
    // A later minor version is still spoken.
    let w = window(EduModel::without_memory().with_id(0x0103_00ed));
    assert_eq!(Edu::new(&w).unwrap().version(), (1, 3));
}

#[test]
fn a_wrong_identification_is_rejected() {
    for id in [0x0200_00ed, 0x0100_00ee, 0x0100_01ed, 0] {
        let w = window(EduModel::without_memory().with_id(id));
        assert_eq!(Edu::new(&w).err(), Some(Error::BadIdentification(id)), "id {id:#x}");
        assert_eq!(w.count(Op::Write, regs::LIVENESS), 0, "nothing written to a device that is not edu");
    }
    // No device at all: the bus floats.
    let w = SimWindow::new(FloatingBus, regs::BAR0_SIZE);
    assert_eq!(Edu::new(&w).err(), Some(Error::BadIdentification(u32::MAX)));
}

#[test]
fn a_device_that_does_not_invert_fails_the_liveness_check() {
    // Plain memory with edu's id in it: right id, but no logic behind it.
    let mut file = RegisterFile::new(regs::MIN_WINDOW_SIZE);
    file.bytes[..4].copy_from_slice(&EDU_ID.to_le_bytes());
    let w = SimWindow::new(file, regs::MIN_WINDOW_SIZE);
    let wrote = LIVENESS_PATTERNS[0];
    assert_eq!(Edu::new(&w).err(), Some(Error::LivenessCheckFailed { wrote, read: wrote }));
}

#[test]
fn a_window_smaller_than_the_registers_is_rejected() {
    let w = SimWindow::new(EduModel::without_memory(), 0x80);
    assert_eq!(Edu::new(&w).err(), Some(Error::WindowTooSmall { size: 0x80 }));
    assert!(w.log().is_empty());
}

#[test]
fn factorials_of_0_to_12_are_right() {
    let w = window(EduModel::without_memory());
    let mut edu = probed(&w);
    let mut expected = 1u32;
    for n in 0..=12u32 {
        if n > 0 {
            expected *= n;
        }
        edu.start_factorial(n, false).unwrap();
        assert_eq!(edu.factorial_done(), Ok(None), "{n}! is not ready before the device ran");
        w.with_model(|m| m.tick());
        assert_eq!(edu.factorial_done(), Ok(Some(expected)), "{n}!");
    }
    assert_eq!(edu.stats().factorials, 13);
    assert!(!w.with_model(|m| m.line), "no interrupt was asked for");
    assert_eq!(w.with_model(|m| m.bad_width_accesses), 0);
}

#[test]
fn factorials_wrap_at_32_bits_as_edu_computes_them() {
    let w = window(EduModel::without_memory().ticking_every(3));
    let mut edu = probed(&w);
    // 13! = 6_227_020_800 does not fit; edu's uint32_t arithmetic keeps the low 32 bits.
    assert_eq!(edu.factorial_polled(13), Ok(1_932_053_504));
    assert_eq!(wrapping_factorial(13), 1_932_053_504);
    for n in [12, 20, 34, 100] {
        assert_eq!(edu.factorial_polled(n), Ok(wrapping_factorial(n)), "{n}!");
    }
    assert_eq!(edu.factorial_polled(34), Ok(0), "34! has 32 factors of two");
}

#[test]
fn polled_factorial_polls_only_as_long_as_needed() {
    let w = window(EduModel::without_memory().ticking_every(5));
    let mut edu = probed(&w);
    assert_eq!(edu.factorial_polled(5), Ok(120));
    // One status read to check it is idle, then polls until the 5th read ticked.
    assert!(w.count(Op::Read, regs::STATUS) <= 5);
    // The polled path turned interrupts off.
    assert_eq!(w.with_model(|m| (m.status, m.irq_status, m.line)), (0, 0, false));
}

#[test]
fn polled_factorial_times_out_on_a_device_that_never_finishes() {
    let w = window(EduModel::without_memory().stalled());
    let mut edu = probed(&w);
    edu.set_poll_limit(1000);
    assert_eq!(edu.factorial_polled(5), Err(Error::Timeout));
    assert_eq!(edu.stats().timeouts, 1);
    // The start check, then exactly the limit of polls: bounded.
    assert_eq!(w.count(Op::Read, regs::STATUS), 1 + 1000);
    // The device is still busy: a new request is refused rather than lost.
    assert_eq!(edu.start_factorial(3, false), Err(Error::Busy));
    assert_eq!(edu.factorial_polled(3), Err(Error::Busy));
    assert_eq!(w.with_model(|m| m.fact), 5, "the running computation was not disturbed");
    assert_eq!(edu.stats().factorials, 1);
}

#[test]
fn a_factorial_interrupt_is_handled_acknowledged_and_then_not_mine() {
    let w = window(EduModel::without_memory());
    let mut edu = probed(&w);
    edu.start_factorial(5, true).unwrap();
    assert!(!w.with_model(|m| m.line), "nothing raised before the device finished");
    w.with_model(|m| m.tick());
    assert!(w.with_model(|m| m.line), "the INTx line is asserted");

    let outcome = edu.handle_interrupt();
    assert_eq!(outcome, IrqOutcome { ret: IrqReturn::Handled, factorial_done: true, dma_done: false, other: 0 });
    assert!(!w.with_model(|m| m.line), "the acknowledge de-asserted the line");
    assert_eq!(w.with_model(|m| m.irq_status), 0);
    assert_eq!(edu.factorial_done(), Ok(Some(120)));

    let again = edu.handle_interrupt();
    assert_eq!(again.ret, IrqReturn::NotMine);
    assert!(!again.factorial_done);
    assert_eq!(
        edu.stats(),
        EduStats { factorials: 1, interrupts: 1, factorial_irqs: 1, not_mine: 1, ..EduStats::default() }
    );
}

#[test]
fn a_device_that_finishes_at_once_still_interrupts() {
    // QEMU's factorial thread may finish before the driver's next register
    // write: the interrupt must be asked for before the computation starts.
    let w = window(EduModel::without_memory().instant());
    let mut edu = probed(&w);
    edu.start_factorial(7, true).unwrap();
    assert!(w.with_model(|m| m.line));
    assert!(edu.handle_interrupt().factorial_done);
    assert_eq!(edu.factorial_done(), Ok(Some(5040)));
}

#[test]
fn not_mine_reads_the_status_and_touches_nothing_else() {
    let w = window(EduModel::without_memory());
    let mut edu = probed(&w);
    let outcome = edu.handle_interrupt();
    assert_eq!(outcome.ret, IrqReturn::NotMine);
    assert_eq!(w.log(), [Access { op: Op::Read, offset: regs::IRQ_STATUS, width: Width::U32, value: 0 }]);
    assert_eq!(edu.stats().not_mine, 1);
    assert_eq!(edu.stats().interrupts, 0);
}

#[test]
fn the_handler_acknowledges_exactly_the_bits_it_saw() {
    let w = window(EduModel::without_memory());
    let mut edu = probed(&w);
    edu.raise_interrupt(0x10).unwrap();
    // A DMA completes between the handler's status read and its acknowledge.
    w.with_model(|m| m.raise_after_status_read = 0x100);
    w.clear_log();

    let first = edu.handle_interrupt();
    assert_eq!(first, IrqOutcome { ret: IrqReturn::Handled, factorial_done: false, dma_done: false, other: 0x10 });
    assert_eq!(w.count(Op::Write, regs::IRQ_ACK), 1);
    assert_eq!(w.log()[1], Access { op: Op::Write, offset: regs::IRQ_ACK, width: Width::U32, value: 0x10 });
    // The late event kept its bit, so the line stays up and it is not lost.
    assert_eq!(w.with_model(|m| (m.irq_status, m.line)), (0x100, true));

    let second = edu.handle_interrupt();
    assert_eq!(second, IrqOutcome { ret: IrqReturn::Handled, factorial_done: false, dma_done: true, other: 0 });
    assert_eq!(w.with_model(|m| (m.irq_status, m.line)), (0, false));
    assert_eq!(edu.stats().interrupts, 2);
    assert_eq!(edu.stats().dma_irqs, 1);
}

#[test]
fn msi_mode_needs_no_line_but_is_still_acknowledged() {
    let w = window(EduModel::without_memory().with_msi());
    let mut edu = probed(&w);
    edu.start_factorial(4, true).unwrap();
    w.with_model(|m| m.tick());
    assert_eq!(w.with_model(|m| (m.msi_messages, m.line)), (1, false));
    let outcome = edu.handle_interrupt();
    assert!(outcome.factorial_done);
    assert_eq!(outcome.ret, IrqReturn::Handled);
    // Acknowledged, so the next interrupt does not report this factorial again.
    assert_eq!(w.with_model(|m| m.irq_status), 0);
    assert_eq!(edu.factorial_done(), Ok(Some(24)));

    edu.start_factorial(3, true).unwrap();
    w.with_model(|m| m.tick());
    assert_eq!(w.with_model(|m| m.msi_messages), 2);
    assert!(edu.handle_interrupt().factorial_done);
    assert_eq!(edu.handle_interrupt().ret, IrqReturn::NotMine);
}

#[test]
fn a_floating_interrupt_status_is_not_mine() {
    let w = window(EduModel::without_memory());
    let mut edu = probed(&w);
    edu.raise_interrupt(0x1).unwrap();
    // The device is unplugged (or its memory decode turned off) under the
    // bound driver: reads float to all ones.
    w.with_model(|m| m.unplugged = true);
    w.clear_log();
    assert_eq!(edu.handle_interrupt().ret, IrqReturn::NotMine);
    assert_eq!(w.log().len(), 1, "one status read, nothing acknowledged");
    assert_eq!(edu.stats().not_mine, 1);
}
