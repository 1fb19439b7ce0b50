//! Interrupt-driven mode against the model (`model/mod.rs`): the model's
//! interrupt output stands in for the IRQ line, and a test "delivers" the
//! interrupt by calling `handle_interrupt` when the line is up, as the kernel's
//! dispatcher would.

mod model;

use hal::sim::{Access, FloatingBus, Op, SimWindow, Width};
use hal::IrqReturn;
use model::{LineError, Uart16550Model};
use uart16550::{
    regs, ByteRing, Config, Error, InterruptEnable, InterruptId, IrqOutcome, TriggerLevel, Uart16550, IRQ_LOOP_LIMIT,
};

type Window = SimWindow<Uart16550Model>;
type Ring = ByteRing<64>;

const IER_RX_AND_LINE: u8 = 0x05;
const IER_THRE: u8 = 0x02;
const MCR_OUT2: u8 = 0x08;

fn window(model: Uart16550Model) -> Window {
    SimWindow::new(model, regs::WINDOW_SIZE)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 1) as u8).collect()
}

/// A UART taken through `init` (FIFOs as `config` says) with the line clock
/// stopped: nothing moves unless the test ticks.
fn polled(w: &Window, config: Config) -> Uart16550<&Window> {
    let mut uart = Uart16550::new(w).unwrap();
    uart.init(config).unwrap();
    w.with_model(|m| m.stop_clock());
    uart
}

/// `polled`, then switched to interrupt mode; the access log starts empty.
fn irq_uart(w: &Window, trigger: TriggerLevel) -> Uart16550<&Window> {
    let mut uart = polled(w, Config::default());
    uart.enable_irq_mode(trigger).unwrap();
    w.clear_log();
    uart
}

/// Whether the interrupt controller sees the UART's line raised.
fn line_up(w: &Window) -> bool {
    w.with_model(|m| m.irq_reaches_pic())
}

/// The dispatcher: runs the handler and insists it was this UART's interrupt
/// and that the line is down afterwards.
fn deliver<const N: usize, const M: usize>(
    uart: &mut Uart16550<&Window>,
    w: &Window,
    rx: &mut ByteRing<N>,
    tx: &mut ByteRing<M>,
) -> IrqOutcome {
    let outcome = uart.handle_interrupt(rx, tx).unwrap();
    assert_eq!(outcome.ret, IrqReturn::Handled);
    assert!(!outcome.loop_limit_hit);
    assert!(!w.with_model(|m| m.irq_asserted()), "the handler left the line asserted");
    outcome
}

/// `deliver`, for a test that only cares about the state afterwards.
fn serve<const N: usize, const M: usize>(
    uart: &mut Uart16550<&Window>,
    w: &Window,
    rx: &mut ByteRing<N>,
    tx: &mut ByteRing<M>,
) {
    let _outcome = deliver(uart, w, rx, tx);
}

fn drain_ring<const N: usize>(ring: &mut ByteRing<N>) -> Vec<u8> {
    std::iter::from_fn(|| ring.pop()).collect()
}

// --- the ring ----------------------------------------------------------------------

#[test]
fn ring_keeps_order_across_the_wrap_and_counts_overflows() {
    let mut ring = ByteRing::<5>::new();
    assert_eq!((ring.len(), ring.free(), ByteRing::<5>::CAPACITY), (0, 5, 5));
    assert!(ring.push(1) && ring.push(2) && ring.push(3));
    assert_eq!((ring.pop(), ring.pop()), (Some(1), Some(2)));
    // The write index wraps past the end of the array here.
    assert_eq!(ring.push_slice(&[4, 5, 6, 7, 8, 9]), 4, "only four fit");
    assert!(ring.is_full());
    assert_eq!(ring.overflows(), 0, "a short push_slice is not an overflow");
    assert!(!ring.push(10), "full: refused");
    assert_eq!(ring.overflows(), 1);
    let mut out = [0; 3];
    assert_eq!(ring.pop_slice(&mut out), 3);
    assert_eq!(out, [3, 4, 5]);
    assert_eq!(drain_ring(&mut ring), [6, 7]);
    assert!(ring.is_empty());
    assert_eq!(ring.pop(), None);
    assert!(ring.push(11));
    ring.clear();
    assert_eq!((ring.len(), ring.overflows()), (0, 1));
}

// --- switching modes ------------------------------------------------------------------

#[test]
fn enable_irq_mode_programs_trigger_ier_and_out2() {
    let w = window(Uart16550Model::new());
    let mut uart = polled(&w, Config { fifo: None, ..Config::default() });
    // Whatever cleared OUT2 since init, interrupt mode needs it.
    w.with_model(|m| m.mcr = 0x03);
    uart.enable_irq_mode(TriggerLevel::Fourteen).unwrap();
    w.with_model(|m| {
        assert!(m.fifo_enabled);
        assert_eq!(m.rx_trigger, 14);
        assert_eq!(m.ier, IER_RX_AND_LINE, "RX data + line status; THRE off while nothing is queued");
        assert_eq!(m.mcr, 0x03 | MCR_OUT2, "OUT2 set, the other modem lines kept");
        m.receive_all(&pattern(13));
        assert!(!m.irq_asserted(), "below the trigger level");
        m.receive(0);
        assert!(m.irq_reaches_pic(), "at the trigger level, through the OUT2 gate");
    });
    assert_eq!(uart.tx_burst(), regs::FIFO_DEPTH, "FIFOs now on: 16-byte bursts");
}

#[test]
fn enable_irq_mode_keeps_a_byte_that_was_pending() {
    for fifo in [None, Some(TriggerLevel::One)] {
        let w = window(Uart16550Model::new());
        let mut uart = polled(&w, Config { fifo, ..Config::default() });
        w.with_model(|m| m.receive(b'x'));
        // With FIFOs off, this turns them on, which empties the RX FIFO.
        uart.enable_irq_mode(TriggerLevel::Eight).unwrap();
        assert_eq!(w.with_model(|m| m.rx_fifo_len()), 0, "{fifo:?}: the byte left the chip");
        // Later input comes after it, through the handler.
        w.with_model(|m| m.receive_all(b"12345678"));
        let (mut rx, mut tx) = (Ring::new(), Ring::new());
        let outcome = deliver(&mut uart, &w, &mut rx, &mut tx);
        assert_eq!(outcome.rx_bytes, 9, "{fifo:?}");
        assert_eq!(drain_ring(&mut rx), b"x12345678", "{fifo:?}");
    }
}

#[test]
fn flush_early_rx_hands_saved_input_over_without_an_interrupt() {
    let w = window(Uart16550Model::new());
    let mut uart = polled(&w, Config::default());
    w.with_model(|m| m.receive_all(b"ls\n"));
    uart.enable_irq_mode(TriggerLevel::Eight).unwrap();
    w.clear_log();
    let mut small = ByteRing::<2>::new();
    assert_eq!(uart.flush_early_rx(&mut small), 2, "as much as fits");
    assert_eq!(drain_ring(&mut small), b"ls");
    assert_eq!(uart.flush_early_rx(&mut small), 1, "the rest was kept, not dropped");
    assert_eq!(drain_ring(&mut small), b"\n");
    assert!(w.log().is_empty(), "no register access");
    assert_eq!(small.overflows(), 0);
}

#[test]
fn enable_irq_mode_lets_queued_output_finish() {
    // FIFOs already on: FCR keeps FE set, so nothing is reset.
    let w = window(Uart16550Model::new());
    let mut uart = polled(&w, Config::default());
    assert_eq!(uart.write_bytes(&pattern(10)), Ok(10));
    uart.enable_irq_mode(TriggerLevel::Eight).unwrap();
    w.with_model(|m| {
        assert_eq!(m.tx_fifo_len(), 10, "console output still queued");
        m.drain();
        assert_eq!(m.transmitted, pattern(10));
    });

    // FIFOs off: turning them on empties the TX FIFO, so the byte in THR
    // must move on first. The line takes 50 register reads per character.
    let w = window(Uart16550Model::new().ticking_every(50));
    let mut uart = Uart16550::new(&w).unwrap();
    uart.init(Config { fifo: None, ..Config::default() }).unwrap();
    uart.write_byte(b'a').unwrap();
    uart.enable_irq_mode(TriggerLevel::Eight).unwrap();
    w.with_model(|m| {
        m.drain();
        assert_eq!(m.transmitted, b"a");
    });
}

// --- receive -----------------------------------------------------------------------------

#[test]
fn rx_at_the_trigger_level_drains_everything_in_order_and_lowers_the_line() {
    let w = window(Uart16550Model::new());
    let mut uart = irq_uart(&w, TriggerLevel::Eight);
    let (mut rx, mut tx) = (Ring::new(), Ring::new());
    w.with_model(|m| m.receive_all(&pattern(7)));
    assert!(!line_up(&w), "seven bytes: below the trigger");
    w.with_model(|m| m.receive_all(&pattern(12)[7..]));
    assert!(line_up(&w));
    let outcome = deliver(&mut uart, &w, &mut rx, &mut tx);
    assert_eq!((outcome.rx_bytes, outcome.tx_bytes), (12, 0));
    assert_eq!(drain_ring(&mut rx), pattern(12), "all of them, not just the trigger level");
    assert_eq!(w.with_model(|m| m.rx_fifo_len()), 0);
    let stats = uart.stats();
    assert_eq!((stats.interrupts, stats.not_mine, stats.rx_bytes, stats.rx_throttles), (1, 0, 12, 0));
}

#[test]
fn rx_below_the_trigger_arrives_with_the_character_timeout() {
    let w = window(Uart16550Model::new());
    let mut uart = irq_uart(&w, TriggerLevel::Eight);
    let (mut rx, mut tx) = (Ring::new(), Ring::new());
    w.with_model(|m| {
        m.receive_all(b"hi");
        m.tick_n(3);
    });
    assert!(!line_up(&w), "three character times: still waiting for more");
    w.with_model(|m| m.tick());
    assert!(line_up(&w), "four: timeout");
    assert_eq!(uart.interrupt_id(), Ok(InterruptId::RxTimeout));
    serve(&mut uart, &w, &mut rx, &mut tx);
    assert_eq!(drain_ring(&mut rx), b"hi");
}

/// Bytes arrive one per character time; the handler runs whenever the line is
/// up. The trigger level sets how many interrupts that costs.
#[test]
fn a_higher_trigger_level_means_fewer_interrupts_for_the_same_input() {
    for (trigger, expected_interrupts) in
        [(TriggerLevel::One, 1000), (TriggerLevel::Eight, 125), (TriggerLevel::Fourteen, 72)]
    {
        let w = window(Uart16550Model::new());
        let mut uart = irq_uart(&w, trigger);
        let (mut rx, mut tx) = (ByteRing::<1024>::new(), Ring::new());
        let data = pattern(1000);
        for &byte in &data {
            w.with_model(|m| {
                m.receive(byte);
                m.tick();
            });
            if line_up(&w) {
                serve(&mut uart, &w, &mut rx, &mut tx);
            }
        }
        // 1000 = 71 × 14 + 6: the last six come with a timeout.
        for _ in 0..4 {
            w.with_model(|m| m.tick());
            if line_up(&w) {
                serve(&mut uart, &w, &mut rx, &mut tx);
            }
        }
        assert_eq!(drain_ring(&mut rx), data, "{trigger:?}");
        assert_eq!(uart.stats().interrupts, expected_interrupts, "{trigger:?}");
        assert_eq!(w.with_model(|m| m.rx_overruns), 0);
    }
}

#[test]
fn a_full_rx_ring_throttles_and_loses_nothing() {
    let w = window(Uart16550Model::new());
    let mut uart = irq_uart(&w, TriggerLevel::Fourteen);
    let (mut rx, mut tx) = (ByteRing::<4>::new(), Ring::new());
    let data = pattern(16);
    w.with_model(|m| m.receive_all(&data));
    let outcome = deliver(&mut uart, &w, &mut rx, &mut tx);
    assert_eq!(outcome.rx_bytes, 4);
    assert!(uart.rx_throttled(), "a full ring switches the receive interrupt off");
    assert_eq!(w.with_model(|m| m.rx_fifo_len()), 12, "the rest waits in the chip");
    assert!(!line_up(&w), "throttled: the line is down, no livelock");
    assert_eq!(uart.stats().rx_throttles, 1);
    assert_eq!(rx.overflows(), 0, "nothing was pushed into a full ring");

    // Readers drain and unthrottle until everything arrived, in order.
    let mut got = drain_ring(&mut rx);
    for _ in 0..8 {
        uart.unthrottle_rx().unwrap();
        // Below the trigger level the rest comes with the character timeout.
        w.with_model(|m| m.tick_n(4));
        if !line_up(&w) {
            break;
        }
        serve(&mut uart, &w, &mut rx, &mut tx);
        got.extend(drain_ring(&mut rx));
    }
    assert_eq!(got, data);
    assert_eq!(uart.stats().rx_bytes, 16);
}

#[test]
fn unthrottle_without_a_throttle_changes_nothing() {
    let w = window(Uart16550Model::new());
    let mut uart = irq_uart(&w, TriggerLevel::Eight);
    uart.unthrottle_rx().unwrap();
    assert!(!uart.rx_throttled());
    assert_eq!(w.count(Op::Write, regs::IER), 0, "no register written");
}

#[test]
fn line_errors_are_counted_and_their_bytes_delivered() {
    let w = window(Uart16550Model::new());
    let mut uart = irq_uart(&w, TriggerLevel::Fourteen);
    let (mut rx, mut tx) = (Ring::new(), Ring::new());
    w.with_model(|m| {
        m.receive_with_error(b'p', LineError::Parity);
        m.receive(b'-');
        m.receive_with_error(b'f', LineError::Framing);
        m.receive_with_error(b'?', LineError::Break);
        m.receive_all(&pattern(14)); // 18 in all: two overrun the FIFO
    });
    assert_eq!(uart.interrupt_id(), Ok(InterruptId::LineStatus), "highest priority; reading IIR clears nothing");
    let outcome = deliver(&mut uart, &w, &mut rx, &mut tx);
    assert_eq!(outcome.rx_bytes, 16);
    let received = drain_ring(&mut rx);
    assert_eq!(received[..4], *b"p-f\0", "a break arrives as a zero byte");
    assert_eq!(received[4..], pattern(12));
    let stats = uart.stats();
    assert_eq!((stats.parity_errors, stats.framing_errors, stats.breaks, stats.overruns), (1, 1, 1, 1));
    assert_eq!(stats.stuck_loops, 0);
}

// --- whose interrupt -----------------------------------------------------------------------

#[test]
fn not_mine_when_nothing_is_pending_and_only_iir_is_read() {
    let w = window(Uart16550Model::new());
    let mut uart = irq_uart(&w, TriggerLevel::Eight);
    let (mut rx, mut tx) = (Ring::new(), Ring::new());
    // Bytes below the trigger, queued output: neither is an interrupt yet.
    w.with_model(|m| m.receive_all(b"abc"));
    assert_eq!(tx.push_slice(b"queued"), 6);
    let outcome = uart.handle_interrupt(&mut rx, &mut tx).unwrap();
    assert_eq!(outcome, IrqOutcome { ret: IrqReturn::NotMine, rx_bytes: 0, tx_bytes: 0, loop_limit_hit: false });
    assert_eq!(w.log(), [Access { op: Op::Read, offset: regs::IIR, width: Width::U8, value: 0xc1 }]);
    assert_eq!((rx.len(), tx.len()), (0, 6));
    assert_eq!(w.with_model(|m| m.rx_fifo_len()), 3, "the chip's bytes were left alone");
    let stats = uart.stats();
    assert_eq!((stats.not_mine, stats.interrupts), (1, 0));
}

#[test]
fn an_absent_uart_never_claims_an_interrupt() {
    // Nothing decodes the ports: IIR floats to 0xff, whose bit 0 says "nothing pending".
    let w = SimWindow::new(FloatingBus, regs::WINDOW_SIZE);
    let mut uart = Uart16550::new(&w).unwrap();
    let outcome = uart.handle_interrupt(&mut Ring::new(), &mut Ring::new()).unwrap();
    assert_eq!(outcome.ret, IrqReturn::NotMine);
    assert_eq!(w.log().len(), 1);
}

#[test]
fn a_stuck_iir_is_bounded_by_the_loop_limit_and_counted() {
    let w = window(Uart16550Model::new());
    let mut uart = irq_uart(&w, TriggerLevel::Eight);
    let (mut rx, mut tx) = (Ring::new(), Ring::new());
    // "Data available" forever, with no data: nothing the handler does clears it.
    w.with_model(|m| m.stuck_iir = Some(0xc4));
    for calls in 1..=2 {
        let outcome = uart.handle_interrupt(&mut rx, &mut tx).unwrap();
        assert_eq!(outcome.ret, IrqReturn::Handled);
        assert!(outcome.loop_limit_hit);
        assert_eq!(uart.stats().stuck_loops, calls);
    }
    assert_eq!(w.count(Op::Read, regs::IIR), 2 * IRQ_LOOP_LIMIT, "exactly the limit per call");
    assert_eq!(w.count(Op::Read, regs::RBR), 0, "LSR.DR was never set");
}

#[test]
fn an_undefined_iir_code_is_an_error_not_a_hang() {
    let w = window(Uart16550Model::new());
    let mut uart = irq_uart(&w, TriggerLevel::Eight);
    w.with_model(|m| m.stuck_iir = Some(0x08));
    assert_eq!(uart.handle_interrupt(&mut Ring::new(), &mut Ring::new()), Err(Error::UnknownInterrupt(0x08)));
    assert_eq!(w.count(Op::Read, regs::IIR), 1);
}

#[test]
fn modem_status_is_acknowledged_by_reading_msr() {
    let w = window(Uart16550Model::new());
    let mut uart = irq_uart(&w, TriggerLevel::Eight);
    let all = InterruptEnable { rx_available: true, line_status: true, modem_status: true, thr_empty: false };
    uart.set_interrupts(all).unwrap();
    w.with_model(|m| m.modem_input_change());
    assert!(line_up(&w));
    serve(&mut uart, &w, &mut Ring::new(), &mut Ring::new());
    assert_eq!(w.count(Op::Read, regs::MSR), 1);
}

// --- transmit ---------------------------------------------------------------------------

#[test]
fn start_tx_kicks_one_fifo_full_and_arms_thre_for_the_rest() {
    let w = window(Uart16550Model::new());
    let mut uart = irq_uart(&w, TriggerLevel::Eight);
    let mut tx = Ring::new();
    assert_eq!(tx.push_slice(&pattern(40)), 40);
    uart.start_tx(&mut tx).unwrap();
    assert_eq!(tx.len(), 24);
    w.with_model(|m| {
        assert_eq!(m.tx_fifo_len(), 16);
        assert_eq!(m.ier, IER_RX_AND_LINE | IER_THRE);
        assert!(!m.irq_asserted(), "the FIFO is full: nothing to ask for yet");
    });
    assert_eq!(uart.stats().tx_bytes, 16);

    // A second writer: a transmission is in flight, the interrupt will come.
    w.clear_log();
    assert_eq!(tx.push_slice(b"more"), 4);
    uart.start_tx(&mut tx).unwrap();
    assert!(w.log().is_empty(), "nothing touched while THRE is armed");
}

#[test]
fn a_short_message_goes_out_without_enabling_thre() {
    let w = window(Uart16550Model::new());
    let mut uart = irq_uart(&w, TriggerLevel::Eight);
    let mut tx = Ring::new();
    assert_eq!(tx.push_slice(b"ok\r\n"), 4);
    uart.start_tx(&mut tx).unwrap();
    assert!(tx.is_empty());
    w.with_model(|m| {
        assert_eq!(m.ier & IER_THRE, 0, "nothing left to send: no THRE interrupt wanted");
        m.drain();
        assert_eq!(m.transmitted, b"ok\r\n");
        assert!(!m.irq_asserted(), "an emptied FIFO stays quiet");
    });
    // An empty ring: nothing to start, nothing touched.
    w.clear_log();
    uart.start_tx(&mut tx).unwrap();
    assert!(w.log().is_empty());
}

#[test]
fn start_tx_while_the_fifo_is_busy_arms_thre_without_writing() {
    let w = window(Uart16550Model::new());
    let mut uart = irq_uart(&w, TriggerLevel::Eight);
    let (mut rx, mut tx) = (Ring::new(), Ring::new());
    assert_eq!(uart.write_bytes(&pattern(10)), Ok(10)); // polled output still draining
    assert_eq!(tx.push_slice(b"tail"), 4);
    uart.start_tx(&mut tx).unwrap();
    w.with_model(|m| {
        assert_eq!(m.tx_fifo_len(), 10, "no byte was pushed into a busy FIFO");
        assert_eq!(m.ier & IER_THRE, IER_THRE);
        m.tick_n(10);
        assert!(m.irq_asserted(), "the FIFO ran empty with THRE enabled");
    });
    let outcome = deliver(&mut uart, &w, &mut rx, &mut tx);
    assert_eq!(outcome.tx_bytes, 4);
    w.with_model(|m| {
        assert_eq!(m.ier & IER_THRE, 0, "the ring is empty: THRE off again");
        m.drain();
        assert_eq!(m.transmitted[10..], *b"tail");
        assert_eq!(m.tx_overflows, 0);
    });
}

/// A writer with 1000 bytes and a 64-byte ring: it pushes what fits and calls
/// `start_tx`; the line moves a character per tick; the "dispatcher" runs the
/// handler whenever the line is up. Run against a 16550 (THRE latched, cleared
/// by the IIR read) and a UART whose THRE interrupt is a level.
#[test]
fn a_thousand_bytes_flow_from_thre_interrupts_in_order() {
    for model in [Uart16550Model::new(), Uart16550Model::new().with_level_thre()] {
        let w = window(model);
        let mut uart = irq_uart(&w, TriggerLevel::Eight);
        let (mut rx, mut tx) = (Ring::new(), Ring::new());
        let data = pattern(1000);
        let mut queued = 0;
        let mut handler_calls = 0;
        for _ in 0..5000 {
            if queued < data.len() {
                queued += tx.push_slice(&data[queued..]);
                uart.start_tx(&mut tx).unwrap();
            }
            w.with_model(|m| m.tick());
            if line_up(&w) {
                let outcome = deliver(&mut uart, &w, &mut rx, &mut tx);
                assert!(outcome.tx_bytes <= regs::FIFO_DEPTH);
                handler_calls += 1;
            }
            if queued == data.len() && tx.is_empty() && w.with_model(|m| m.tx_fifo_len()) == 0 {
                break;
            }
        }
        w.with_model(|m| {
            m.drain();
            assert_eq!(m.transmitted, data);
            assert_eq!(m.tx_overflows, 0, "never wrote into a full FIFO");
            assert_eq!(m.ier & IER_THRE, 0, "THRE disabled once the ring ran dry");
            assert!(!m.irq_asserted(), "and the line stays down");
        });
        let stats = uart.stats();
        assert_eq!(stats.tx_bytes, 1000);
        assert_eq!(stats.thre_interrupts, handler_calls);
        // start_tx kicked the first 16; the other 984 took 61 full refills
        // and one of 8, each on its own THRE interrupt.
        assert_eq!(handler_calls, 62);
        assert_eq!(stats.stuck_loops, 0);
    }
}

/// Why THRE is only enabled while there is data: on a UART whose THRE
/// interrupt is a level, an enabled THRE with nothing to send never goes away.
#[test]
fn thre_left_enabled_with_nothing_to_send_interrupts_forever_on_a_level_uart() {
    let thre_only = InterruptEnable { thr_empty: true, ..InterruptEnable::NONE };

    let w = window(Uart16550Model::new().with_level_thre());
    let mut uart = polled(&w, Config::default());
    uart.set_interrupts(thre_only).unwrap();
    for _ in 0..100 {
        assert_eq!(uart.interrupt_id(), Ok(InterruptId::ThrEmpty));
    }
    assert!(w.with_model(|m| m.irq_asserted()), "still up after 100 acknowledgements");

    // On a 16550 the IIR read acknowledges it: once.
    let w = window(Uart16550Model::new());
    let mut uart = polled(&w, Config::default());
    uart.set_interrupts(thre_only).unwrap();
    assert_eq!(uart.interrupt_id(), Ok(InterruptId::ThrEmpty));
    assert_eq!(uart.interrupt_id(), Ok(InterruptId::None));
}

/// IIR names one source at a time; the handler must loop until none is left.
#[test]
fn receive_and_transmit_pending_together_are_served_in_one_call() {
    let w = window(Uart16550Model::new());
    let mut uart = irq_uart(&w, TriggerLevel::Eight);
    let (mut rx, mut tx) = (Ring::new(), Ring::new());
    assert_eq!(tx.push_slice(&pattern(40)), 40);
    uart.start_tx(&mut tx).unwrap();
    w.with_model(|m| {
        m.tick_n(16); // the first FIFO-full is out: THRE pending
        m.receive_all(b"12345678"); // and data at the trigger level
    });
    assert_eq!(uart.stats().interrupts, 0);
    let outcome = deliver(&mut uart, &w, &mut rx, &mut tx);
    assert_eq!((outcome.rx_bytes, outcome.tx_bytes), (8, 16));
    assert_eq!(w.count(Op::Read, regs::IIR), 3, "RX, then THRE, then the all-clear");
    assert_eq!(uart.stats().interrupts, 1);
    assert_eq!(drain_ring(&mut rx), b"12345678");
}
