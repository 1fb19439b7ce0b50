//! The driver against a model of the chip (`model/mod.rs`).
//!
//! Each test keeps the `SimWindow`, lends the driver `&window`, and inspects or
//! pokes the model through `window.with_model`.

mod model;

use std::fmt::Write as _;

use hal::sim::{FloatingBus, Op, RegisterFile, SimWindow};
use hal::RegisterWindow;
use model::{LineError, Uart16550Model};
use uart16550::{
    regs, Config, Error, InterruptEnable, InterruptId, TriggerLevel, Uart16550, POLL_LIMIT, SELF_TEST_PATTERNS,
};

type Window = SimWindow<Uart16550Model>;

fn window(model: Uart16550Model) -> Window {
    SimWindow::new(model, regs::WINDOW_SIZE)
}

/// A 16550A on a line that moves one character per three register reads.
fn slow_line() -> Window {
    window(Uart16550Model::new().ticking_every(3))
}

fn initialised(window: &Window, config: Config) -> Uart16550<&Window> {
    let mut uart = Uart16550::new(window).expect("window is large enough");
    uart.init(config).expect("init succeeds on a working UART");
    uart
}

/// `initialised`, then the line stops: nothing queued will ever drain.
fn initialised_then_stalled(window: &Window) -> Uart16550<&Window> {
    let uart = initialised(window, Config::default());
    window.with_model(|m| m.stop_clock());
    window.clear_log();
    uart
}

fn lsr_reads(window: &Window) -> usize {
    window.count(Op::Read, regs::LSR)
}

/// Reads until the driver says nothing is waiting. Bounded, so that a driver
/// that never returns `None` fails the test instead of hanging it.
fn read_available(uart: &mut Uart16550<&Window>) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Some(byte) = uart.try_read_byte().unwrap() {
        bytes.push(byte);
        assert!(bytes.len() <= 64, "try_read_byte never returned None");
    }
    bytes
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 1) as u8).collect()
}

// --- construction and init ---------------------------------------------------

#[test]
fn new_rejects_a_window_smaller_than_the_register_file() {
    let small = SimWindow::new(Uart16550Model::new(), 7);
    assert_eq!(Uart16550::new(&small).err(), Some(Error::WindowTooSmall { size: 7 }));
}

#[test]
fn init_programs_divisor_8n1_fifos_and_modem_lines() {
    let w = slow_line();
    // Whatever firmware left behind must not survive init.
    w.with_model(|m| {
        m.ier = 0x0f;
        m.mcr = 0x00;
    });
    let config = Config { baud: 9600, fifo: Some(TriggerLevel::Fourteen) };
    let uart = initialised(&w, config);
    w.with_model(|m| {
        assert_eq!(m.divisor(), 12, "115200 / 9600");
        assert_eq!(m.lcr, 0x03, "8 data bits, no parity, 1 stop bit, DLAB clear");
        assert!(m.fifo_enabled);
        assert_eq!(m.rx_trigger, 14);
        assert_eq!(m.ier, 0, "polled mode: no interrupts");
        assert_eq!(m.mcr, 0x0b, "DTR | RTS | OUT2, loopback left");
        assert!(m.transmitted.is_empty(), "the self-test byte stayed in loopback");
        assert_eq!(m.rx_fifo_len(), 0, "the echoed byte was consumed");
    });
    assert_eq!(uart.tx_burst(), regs::FIFO_DEPTH);
    assert_eq!(uart.stats().tx_bytes, 0, "self-test traffic is not counted");
    assert_eq!(uart.stats().rx_bytes, 0);
}

#[test]
fn init_keeps_input_that_arrived_before_it() {
    let w = slow_line();
    // Firmware enabled the FIFOs and a script piped text in before the kernel
    // got here: enabling and clearing the FIFOs must not lose it.
    w.with_model(|m| {
        m.fifo_enabled = true;
        m.receive_all(b"help\n");
    });
    let mut uart = initialised(&w, Config::default());
    assert_eq!(read_available(&mut uart), b"help\n");
    assert_eq!(uart.try_read_byte(), Ok(None));
    assert_eq!(uart.stats().rx_bytes, 5);
}

#[test]
fn bytes_after_init_follow_the_saved_ones_in_order() {
    let w = slow_line();
    w.with_model(|m| m.receive(b'a'));
    let mut uart = initialised(&w, Config::default());
    w.with_model(|m| m.receive_all(b"bc"));
    assert_eq!(read_available(&mut uart), b"abc");
}

#[test]
fn init_writes_both_divisor_bytes_for_each_rate() {
    for (baud, divisor) in [(115_200, 1), (38_400, 3), (9600, 12), (300, 384), (2, 57_600)] {
        let w = slow_line();
        initialised(&w, Config { baud, ..Config::default() });
        assert_eq!(w.with_model(|m| m.divisor()), divisor, "{baud} baud");
    }
}

#[test]
fn bad_baud_rates_are_rejected_before_touching_the_device() {
    for baud in [0, 7, 1000, 230_400, 1] {
        let w = slow_line();
        let mut uart = Uart16550::new(&w).unwrap();
        let config = Config { baud, ..Config::default() };
        assert_eq!(uart.init(config), Err(Error::InvalidBaud(baud)));
        assert!(w.log().is_empty(), "{baud} baud: no register was touched");
    }
}

#[test]
fn self_test_fails_when_no_uart_answers() {
    // Nothing decodes the addresses: every read floats to 0xff.
    let w = SimWindow::new(FloatingBus, regs::WINDOW_SIZE);
    let mut uart = Uart16550::new(&w).unwrap();
    assert_eq!(
        uart.init(Config::default()),
        Err(Error::SelfTestFailed { sent: SELF_TEST_PATTERNS[0], received: Some(0xff) })
    );
    assert_eq!(uart.tx_burst(), 1, "a failed init enables no FIFO bursts");
}

#[test]
fn self_test_fails_when_the_scratch_register_forgets() {
    let w = slow_line();
    let mut uart = Uart16550::new(&w).unwrap();
    // A device at the address that is not a 16550: SCR reads back zero.
    w.with_model(|m| m.scr_broken = true);
    assert_eq!(
        uart.init(Config::default()),
        Err(Error::SelfTestFailed { sent: SELF_TEST_PATTERNS[0], received: Some(0) })
    );
}

#[test]
fn self_test_does_not_touch_the_data_path() {
    let w = slow_line();
    let mut uart = initialised(&w, Config::default());
    w.with_model(|m| assert_eq!(m.tx_fifo_len(), 0, "nothing was transmitted"));
    assert_eq!(uart.try_read_byte(), Ok(None), "nothing was received");
    assert_eq!(uart.stats().tx_bytes, 0);
}

// --- transmit ------------------------------------------------------------------

#[test]
fn write_bytes_waits_for_thre_and_never_overflows() {
    let w = slow_line();
    let mut uart = initialised(&w, Config::default());
    let data = pattern(200);
    assert_eq!(uart.write_bytes(&data), Ok(200));
    w.with_model(|m| {
        m.drain();
        assert_eq!(m.tx_overflows, 0);
        assert_eq!(m.transmitted, data);
    });
    assert_eq!(uart.stats().tx_bytes, 200);
    assert!(uart.window().stats().writes >= 200);
}

#[test]
fn write_byte_waits_for_thre_and_never_overflows() {
    let w = slow_line();
    let mut uart = initialised(&w, Config::default());
    let data = pattern(40);
    for &b in &data {
        uart.write_byte(b).unwrap();
    }
    w.with_model(|m| {
        m.drain();
        assert_eq!(m.tx_overflows, 0);
        assert_eq!(m.transmitted, data);
    });
    assert_eq!(uart.stats().tx_bytes, 40);
}

/// The model would catch a driver that does not wait: this is what such a
/// driver does, straight through the window.
#[test]
fn writing_back_to_back_without_waiting_loses_bytes() {
    let w = slow_line();
    initialised(&w, Config::default());
    let data = pattern(40);
    for &b in &data {
        w.write_u8(regs::THR, b).unwrap();
    }
    w.with_model(|m| {
        m.drain();
        assert_eq!(m.tx_overflows, 40 - 16, "everything past a full FIFO is lost");
        assert_eq!(m.transmitted, data[..16]);
    });
}

#[test]
fn write_bytes_fills_the_whole_fifo_per_thre_wait() {
    let w = slow_line();
    let mut uart = initialised_then_stalled(&w);
    assert_eq!(uart.write_bytes(&pattern(16)), Ok(16));
    assert_eq!(lsr_reads(&w), 1, "one THRE check for sixteen bytes");
    w.with_model(|m| {
        assert_eq!(m.tx_fifo_len(), 16);
        assert_eq!(m.tx_overflows, 0);
    });
}

#[test]
fn a_16450_without_fifos_gets_one_byte_per_wait() {
    let w = window(Uart16550Model::new_16450().ticking_every(3));
    let mut uart = initialised(&w, Config::default());
    assert_eq!(uart.tx_burst(), 1);
    let data = pattern(50);
    assert_eq!(uart.write_bytes(&data), Ok(50));
    w.with_model(|m| {
        m.drain();
        assert_eq!(m.tx_overflows, 0);
        assert_eq!(m.transmitted, data);
    });
}

#[test]
fn write_times_out_when_the_line_never_drains() {
    let w = slow_line();
    let mut uart = initialised_then_stalled(&w);
    uart.write_byte(b'a').unwrap(); // the FIFO was empty
    w.clear_log();
    assert_eq!(uart.write_byte(b'b'), Err(Error::Timeout));
    assert_eq!(lsr_reads(&w), POLL_LIMIT as usize, "polled exactly POLL_LIMIT times");
    assert_eq!(uart.stats().tx_timeouts, 1);
    assert_eq!(uart.stats().tx_bytes, 1);
    w.with_model(|m| {
        assert_eq!(m.tx_fifo_len(), 1, "b was not written");
        assert_eq!(m.tx_overflows, 0);
    });
}

#[test]
fn write_bytes_returns_a_short_count_when_the_line_stalls() {
    let w = slow_line();
    let mut uart = initialised_then_stalled(&w);
    assert_eq!(uart.write_bytes(&pattern(20)), Ok(16));
    assert_eq!(uart.stats().tx_timeouts, 1);
    assert_eq!(uart.write_bytes(b"x"), Err(Error::Timeout));
    assert_eq!(uart.stats().tx_timeouts, 2);
    assert_eq!(uart.stats().tx_bytes, 16);
    assert_eq!(w.with_model(|m| m.tx_overflows), 0);
}

#[test]
fn newline_is_sent_as_crlf() {
    let w = slow_line();
    let mut uart = initialised(&w, Config::default());
    write!(uart, "one\ntwo {}\n\nend", 2).unwrap();
    let expected = b"one\r\ntwo 2\r\n\r\nend";
    w.with_model(|m| {
        m.drain();
        assert_eq!(m.transmitted, expected);
    });
    assert_eq!(uart.stats().tx_bytes, expected.len() as u64);
}

#[test]
fn formatted_output_fails_instead_of_hanging_when_the_line_stalls() {
    let w = slow_line();
    let mut uart = initialised_then_stalled(&w);
    assert!(write!(uart, "{}", "x".repeat(20)).is_err());
    assert_eq!(uart.stats().tx_timeouts, 1);
}

// --- receive ---------------------------------------------------------------------

#[test]
fn read_returns_none_when_nothing_arrived() {
    let w = slow_line();
    let mut uart = initialised(&w, Config::default());
    w.clear_log();
    assert_eq!(uart.try_read_byte(), Ok(None));
    assert_eq!(w.count(Op::Read, regs::RBR), 0, "RBR is only read when DR says so");
    assert_eq!(uart.stats().rx_bytes, 0);
}

#[test]
fn received_bytes_come_out_in_order() {
    let w = slow_line();
    let mut uart = initialised(&w, Config::default());
    w.with_model(|m| m.receive_all(b"hello"));
    let received = read_available(&mut uart);
    assert_eq!(received, b"hello");
    assert_eq!(uart.try_read_byte(), Ok(None));
    assert_eq!(uart.stats().rx_bytes, 5);
}

#[test]
fn an_overrun_is_counted_and_the_excess_lost() {
    let w = slow_line();
    let mut uart = initialised(&w, Config::default());
    let data = pattern(20);
    w.with_model(|m| m.receive_all(&data));
    assert_eq!(w.with_model(|m| m.rx_overruns), 4);
    let received = read_available(&mut uart);
    assert_eq!(received, data[..16], "the FIFO kept the first sixteen");
    assert_eq!(uart.stats().overruns, 1, "one LSR report of the overrun");
}

#[test]
fn line_errors_are_counted_and_the_bytes_still_delivered() {
    let w = slow_line();
    let mut uart = initialised(&w, Config::default());
    w.with_model(|m| {
        m.receive_with_error(b'p', LineError::Parity);
        m.receive(b'-');
        m.receive_with_error(b'f', LineError::Framing);
        m.receive_with_error(b'?', LineError::Break);
    });
    let received = read_available(&mut uart);
    assert_eq!(received, b"p-f\0", "a break arrives as a zero byte");
    let stats = uart.stats();
    assert_eq!((stats.parity_errors, stats.framing_errors, stats.breaks, stats.overruns), (1, 1, 1, 0));
}

#[test]
fn errors_seen_while_waiting_to_transmit_are_counted() {
    let w = slow_line();
    let mut uart = initialised(&w, Config::default());
    w.with_model(|m| m.receive_all(&pattern(17)));
    // This LSR read (polling for THRE) clears OE in the chip.
    uart.write_byte(b'x').unwrap();
    assert_eq!(uart.stats().overruns, 1);
    read_available(&mut uart);
    assert_eq!(uart.stats().overruns, 1, "counted once");
}

// --- interrupts -----------------------------------------------------------------

#[test]
fn set_interrupts_programs_ier() {
    let w = slow_line();
    let mut uart = initialised(&w, Config::default());
    let all = InterruptEnable { rx_available: true, thr_empty: true, line_status: true, modem_status: true };
    uart.set_interrupts(all).unwrap();
    assert_eq!(w.with_model(|m| m.ier), 0x0f);
    let rx_only = InterruptEnable { rx_available: true, ..InterruptEnable::NONE };
    uart.set_interrupts(rx_only).unwrap();
    assert_eq!(w.with_model(|m| m.ier), 0x01);
    uart.set_interrupts(InterruptEnable::NONE).unwrap();
    assert_eq!(w.with_model(|m| m.ier), 0x00);
}

#[test]
fn interrupt_id_reports_sources_in_priority_order() {
    let w = slow_line();
    let config = Config { fifo: Some(TriggerLevel::One), ..Config::default() };
    let mut uart = initialised(&w, config);
    assert_eq!(uart.interrupt_id(), Ok(InterruptId::None), "IER = 0");
    let all = InterruptEnable { rx_available: true, thr_empty: true, line_status: true, modem_status: true };
    uart.set_interrupts(all).unwrap();
    // Enabling the THRE interrupt with an empty FIFO raises it; reading IIR acks it.
    assert_eq!(uart.interrupt_id(), Ok(InterruptId::ThrEmpty));
    assert_eq!(uart.interrupt_id(), Ok(InterruptId::None));

    w.with_model(|m| {
        m.stop_clock();
        m.modem_input_change();
        m.receive_all(&pattern(17)); // data, and an overrun
    });
    assert_eq!(uart.interrupt_id(), Ok(InterruptId::LineStatus));
    w.read_u8(regs::LSR).unwrap(); // clears the line status source
    assert_eq!(uart.interrupt_id(), Ok(InterruptId::RxAvailable));
    read_available(&mut uart);
    assert_eq!(uart.interrupt_id(), Ok(InterruptId::ModemStatus));
    w.read_u8(regs::MSR).unwrap(); // clears the modem status source
    assert_eq!(uart.interrupt_id(), Ok(InterruptId::None));
}

#[test]
fn interrupt_id_reports_a_character_timeout() {
    let w = slow_line();
    let mut uart = initialised(&w, Config::default()); // trigger level 8
    let rx = InterruptEnable { rx_available: true, ..InterruptEnable::NONE };
    uart.set_interrupts(rx).unwrap();
    w.with_model(|m| m.receive(b'k'));
    assert_eq!(uart.interrupt_id(), Ok(InterruptId::None), "below the trigger");
    w.with_model(|m| m.character_timeout());
    assert_eq!(uart.interrupt_id(), Ok(InterruptId::RxTimeout));
    assert_eq!(uart.try_read_byte(), Ok(Some(b'k')));
    assert_eq!(uart.interrupt_id(), Ok(InterruptId::None));
}

#[test]
fn interrupt_id_decodes_every_iir_value() {
    let cases = [
        (0x01, Ok(InterruptId::None)),
        (0xc1, Ok(InterruptId::None)),
        (0xc6, Ok(InterruptId::LineStatus)),
        (0xc4, Ok(InterruptId::RxAvailable)),
        (0xcc, Ok(InterruptId::RxTimeout)),
        (0x02, Ok(InterruptId::ThrEmpty)),
        (0xc0, Ok(InterruptId::ModemStatus)),
        (0x08, Err(Error::UnknownInterrupt(0x08))),
        (0xce, Err(Error::UnknownInterrupt(0xce))),
    ];
    for (iir, expected) in cases {
        let mut registers = RegisterFile::new(regs::WINDOW_SIZE);
        registers.bytes[regs::IIR] = iir;
        let w = SimWindow::new(registers, regs::WINDOW_SIZE);
        let uart = Uart16550::new(&w).unwrap();
        assert_eq!(uart.interrupt_id(), expected, "IIR {iir:#04x}");
    }
}

#[test]
fn errors_explain_themselves() {
    let e = Error::SelfTestFailed { sent: 0xae, received: Some(0xff) };
    assert_eq!(e.to_string(), "uart16550: loopback self-test sent 0xae, got 0xff");
    assert_eq!(Error::InvalidBaud(7).to_string(), "uart16550: 7 baud is not 115200 divided by a 16-bit divisor");
}

#[test]
fn fifos_off_leaves_the_chip_in_16450_mode() {
    let w = slow_line();
    w.with_model(|m| m.receive(b'x'));
    let config = Config { fifo: None, ..Config::default() };
    let mut uart = initialised(&w, config);
    w.with_model(|m| assert!(!m.fifo_enabled, "FIFOs stay off"));
    assert_eq!(uart.tx_burst(), 1, "one byte per THRE wait without a FIFO");
    assert_eq!(read_available(&mut uart), b"x", "the waiting byte survived init");
}
