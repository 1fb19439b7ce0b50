//! Interrupts: ICR read-to-clear, "not mine" on a shared line, the NAPI
//! mask/poll/unmask cycle, against the model's INTx line.

mod model;

use hal::sim::{Access, Op, Width};
use hal::IrqReturn;
use model::*;

const ENABLED: u32 = ICR_RXT0 | ICR_RXO | ICR_RXDMT0 | ICR_LSC | ICR_TXDW;

#[test]
fn icr_zero_is_not_mine_and_only_icr_is_read() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    nic.enable_interrupts();
    w.with_model(|m| m.set_reg(ICR, 0)); // QEMU's TXQE from init, gone
    w.clear_log();
    let event = nic.handle_interrupt();
    assert_eq!(event.ret, IrqReturn::NotMine);
    assert!(!event.needs_poll());
    assert_eq!(w.log(), [Access { op: Op::Read, offset: ICR, width: Width::U32, value: 0 }], "one read, nothing else");
    assert_eq!(w.with_model(|m| m.reg(IMS)), ENABLED, "still unmasked");
    let stats = nic.stats();
    assert_eq!((stats.not_mine, stats.interrupts), (1, 0));
}

#[test]
fn an_unplugged_device_is_not_mine_either() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    w.with_model(|m| m.unplugged = true);
    assert_eq!(nic.handle_interrupt().ret, IrqReturn::NotMine);
    assert_eq!(w.count(Op::Write, IMC), 0);
    assert!(!nic.link_up());
}

#[test]
fn an_rx_interrupt_masks_reports_and_unmasking_loses_nothing() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    nic.enable_interrupts();
    w.with_model(|m| {
        assert_eq!(m.reg(IMS), ENABLED, "exactly the causes the driver handles");
        m.set_reg(ICR, 0);
        m.receive(&to_us(1, 100));
        assert!(m.line, "a received frame asserts the line");
    });
    w.clear_log();

    let event = nic.handle_interrupt();
    assert_eq!(event.ret, IrqReturn::Handled);
    assert!(event.rx && event.needs_poll());
    assert!(!event.tx_done && !event.link_change && !event.rx_overrun);
    assert_eq!(event.icr, ICR_RXT0);
    assert_eq!(w.count(Op::Read, ICR), 1, "ICR read once");
    assert_eq!(w.count(Op::Write, ICR), 0, "the read was the acknowledgement");
    assert_eq!(w.log().last(), Some(&Access { op: Op::Write, offset: IMC, width: Width::U32, value: 0xffff_ffff }));
    w.with_model(|m| {
        assert_eq!(m.reg(IMS), 0, "masked for the poll");
        assert!(!m.line);
        // More traffic while masked: no interrupt.
        m.receive(&to_us(2, 100));
        assert!(!m.line);
    });

    // The NAPI poll: under budget, so the kernel unmasks.
    let (n, _) = poll(&mut nic, 64);
    assert_eq!(n, 2);
    let assertions = w.with_model(|m| m.assertions);
    nic.enable_interrupts();
    w.with_model(|m| {
        assert!(m.line, "the frame that came while masked still has its cause pending");
        assert_eq!(m.assertions, assertions + 1);
    });
    let event = nic.handle_interrupt();
    assert!(event.rx);
    assert_eq!(nic.stats().interrupts, 2);
    assert!(!w.with_model(|m| m.line));
}

#[test]
fn transmit_and_link_causes_are_reported() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    nic.enable_interrupts();
    nic.transmit(&to_us(1, 100)).unwrap();
    nic.flush_tx();
    let event = nic.handle_interrupt();
    assert!(event.tx_done && !event.rx && !event.link_change);
    assert_eq!(nic.clean_tx(), 1);

    nic.enable_interrupts();
    w.with_model(|m| m.set_link(false));
    let event = nic.handle_interrupt();
    assert!(event.link_change);
    assert!(!nic.link_up());
    nic.enable_interrupts();
    w.with_model(|m| m.set_link(true));
    assert!(nic.handle_interrupt().link_change);
    assert!(nic.link_up());
    assert_eq!(nic.stats().link_changes, 2);
}

#[test]
fn an_overrun_is_reported() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    nic.enable_interrupts();
    for i in 0..16 {
        w.with_model(|m| m.receive(&to_us(i, 100)));
    }
    let event = nic.handle_interrupt();
    assert!(event.rx_overrun && event.rx);
    assert_eq!(nic.stats().rx_overruns, 1);
}

#[test]
fn disable_interrupts_masks_everything() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    nic.enable_interrupts();
    nic.disable_interrupts();
    w.with_model(|m| {
        assert_eq!(m.reg(IMS), 0);
        m.receive(&to_us(1, 100));
        assert!(!m.line);
        assert_eq!(m.assertions, 0);
    });
}
