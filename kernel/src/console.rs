//! The serial console: COM1's 16550 through the `uart16550` driver.
//!
//! It starts **polled** (early boot): each output byte waits, bounded, for
//! the transmitter — the seeds' point that back-to-back port writes outrun
//! the device — and input is polled. Once the IRQ core is up,
//! [`enable_interrupts`] switches it to **interrupt-driven** mode, xv6's
//! `uart.c` structure:
//!
//! * the hard-IRQ handler (top half) moves bytes between the chip and two
//!   rings and wakes whoever waits: readers on `RX_READY`, writers on
//!   `TX_SPACE`;
//! * readers sleep until the RX ring has data (the shell no longer spins);
//!   when the ring fills, the driver throttles the chip and the reader
//!   unthrottles as it drains, so fast input waits instead of being lost;
//! * writers append to the TX ring and kick the transmitter; THRE
//!   interrupts refill the FIFO. A writer that finds the ring full sleeps,
//!   or — in interrupt context or with interrupts off, where it must not —
//!   drains the ring itself, polled.
//!
//! The emergency path (panics, fatal exceptions) must work even if the
//! console lock is held by the code that crashed, so it builds a second,
//! lock-free driver instance over the same ports and writes polled.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use hal::irq::IrqReturn;
use hal::pio::PortWindow;
use spin::Once;
use uart16550::{ByteRing, Config, TriggerLevel, Uart16550, UartStats};

use crate::sync::{SpinLockIrq, WaitQueue};

const COM1_BASE: u16 = 0x3f8;
const COM1_PORTS: u16 = 8;
const COM1_ISA_IRQ: u8 = 4;
const RX_RING: usize = 4096;
const TX_RING: usize = 4096;

/// 115200 8N1 with the FIFOs off while polled: enabling them resets them,
/// which can drop input a script already piped in (see
/// `uart16550::Config::fifo`). Interrupt mode turns them on.
const CONSOLE_CONFIG: Config = Config { baud: 115_200, fifo: None };

struct Console {
    uart: Uart16550<PortWindow>,
    rx: ByteRing<RX_RING>,
    tx: ByteRing<TX_RING>,
}

static CONSOLE: SpinLockIrq<Option<Console>> = SpinLockIrq::new(None);
static IRQ_MODE: AtomicBool = AtomicBool::new(false);
static RX_READY: WaitQueue = WaitQueue::new();
static TX_SPACE: WaitQueue = WaitQueue::new();
static IRQ_HANDLE: Once<crate::irq::IrqHandle> = Once::new();

fn com1_window() -> PortWindow {
    // SAFETY: ports 0x3f8..0x400 are COM1 on every PC (and on q35); the
    // console is their only user apart from the emergency path below.
    unsafe { PortWindow::new(COM1_BASE, COM1_PORTS) }
}

/// Probes and programs COM1, polled.
pub fn init() -> Result<(), uart16550::Error> {
    let mut uart = Uart16550::new(com1_window())?;
    uart.init(CONSOLE_CONFIG)?;
    *CONSOLE.lock() = Some(Console { uart, rx: ByteRing::new(), tx: ByteRing::new() });
    Ok(())
}

/// Switches the console to interrupt-driven mode on COM1's IRQ.
pub fn enable_interrupts() -> Result<(), &'static str> {
    let gsi = crate::arch::apic::isa_irq_to_gsi(COM1_ISA_IRQ);
    let handle = crate::irq::request(gsi, "serial", 0, irq_handler).map_err(|_| "COM1 interrupt line unavailable")?;
    {
        let mut guard = CONSOLE.lock();
        let c = guard.as_mut().ok_or("no console")?;
        c.uart.enable_irq_mode(TriggerLevel::Eight).map_err(|_| "COM1 refused interrupt mode")?;
        let Console { uart, rx, .. } = c;
        uart.flush_early_rx(rx);
        IRQ_MODE.store(true, Ordering::Release);
    }
    IRQ_HANDLE.call_once(|| handle);
    log::info!("interrupt-driven on GSI {gsi} (FIFO trigger 8)");
    Ok(())
}

/// The top half: chip ↔ rings, then wake the sleepers.
fn irq_handler() -> IrqReturn {
    let outcome = {
        let mut guard = CONSOLE.lock();
        let Some(Console { uart, rx, tx }) = guard.as_mut() else { return IrqReturn::NotMine };
        match uart.handle_interrupt(rx, tx) {
            Ok(o) => o,
            Err(_) => return IrqReturn::NotMine,
        }
    };
    if outcome.rx_bytes > 0 {
        RX_READY.wake_up_all();
    }
    if outcome.tx_bytes > 0 {
        TX_SPACE.wake_up_all();
    }
    outcome.ret
}

fn can_sleep() -> bool {
    crate::arch::cpu::interrupts_enabled()
        && !crate::percpu::in_interrupt()
        && crate::percpu::this_cpu().preempt_count.load(Ordering::Relaxed) == 0
}

/// Queues `bytes` for the transmitter (interrupt mode).
fn queue_output(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let pushed = {
            let mut guard = CONSOLE.lock();
            let Some(Console { uart, tx, .. }) = guard.as_mut() else { return };
            let n = tx.push_slice(bytes);
            let _ = uart.start_tx(tx);
            if n == 0 && !can_sleep() {
                // Full and we may not sleep: make room by hand, polled.
                while let Some(b) = tx.pop() {
                    if uart.write_byte(b).is_err() {
                        break;
                    }
                }
            }
            n
        };
        bytes = &bytes[pushed..];
        if pushed == 0 && can_sleep() {
            TX_SPACE.wait_event(|| CONSOLE.lock().as_ref().is_none_or(|c| !c.tx.is_full()));
        }
    }
}

fn write_raw(bytes: &[u8]) {
    if IRQ_MODE.load(Ordering::Acquire) {
        queue_output(bytes);
    } else if let Some(c) = CONSOLE.lock().as_mut() {
        let _ = c.uart.write_bytes(bytes);
    }
}

/// Writes formatted text to the console (no-op before `init`).
pub fn print(args: fmt::Arguments) {
    struct Out;
    impl Write for Out {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            write_text(s.as_bytes());
            Ok(())
        }
    }
    let _ = Out.write_fmt(args);
}

/// Writes raw bytes (used by the shell's line editor for echo).
pub fn write_bytes(bytes: &[u8]) {
    write_raw(bytes);
}

/// Writes text, turning `\n` into `\r\n` for the terminal.
pub fn write_text(bytes: &[u8]) {
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        match line.split_last() {
            Some((b'\n', body)) => {
                write_raw(body);
                write_raw(b"\r\n");
            }
            _ => write_raw(line),
        }
    }
}

/// Returns a received byte, if one is waiting.
pub fn try_read_byte() -> Option<u8> {
    let mut guard = CONSOLE.lock();
    let c = guard.as_mut()?;
    if IRQ_MODE.load(Ordering::Acquire) {
        let byte = c.rx.pop();
        if c.rx.free() >= RX_RING / 2 {
            let _ = c.uart.unthrottle_rx();
        }
        byte
    } else {
        c.uart.try_read_byte().ok().flatten()
    }
}

/// Waits for a byte: sleeps in interrupt mode, polls before.
pub fn read_byte() -> u8 {
    loop {
        if let Some(b) = try_read_byte() {
            return b;
        }
        if IRQ_MODE.load(Ordering::Acquire) && can_sleep() {
            RX_READY.wait_event(|| CONSOLE.lock().as_ref().is_some_and(|c| !c.rx.is_empty()));
        } else {
            crate::arch::cpu::pause();
        }
    }
}

/// Waits for a byte until `deadline` (uptime in ns); `None` on timeout.
/// In interrupt mode the wait sleeps, woken by input or by a timer.
pub fn read_byte_until(deadline_ns: u64) -> Option<u8> {
    loop {
        if let Some(b) = try_read_byte() {
            return Some(b);
        }
        let now = crate::time::uptime_ns();
        if now >= deadline_ns {
            return None;
        }
        if IRQ_MODE.load(Ordering::Acquire) && can_sleep() {
            // Wake at the deadline at the latest (one tick granularity).
            let ticks = (deadline_ns - now).div_ceil(1_000_000_000 / crate::time::HZ);
            let alarm = crate::timer::Timer::new(|| {
                RX_READY.wake_up_all();
            });
            if let Ok(t) = &alarm {
                t.start_in(ticks);
            }
            RX_READY.wait_event(|| {
                CONSOLE.lock().as_ref().is_some_and(|c| !c.rx.is_empty()) || crate::time::uptime_ns() >= deadline_ns
            });
        } else {
            crate::arch::cpu::pause();
        }
    }
}

/// Sends everything still queued, polled (before the machine stops).
pub fn flush() {
    if let Some(mut guard) = CONSOLE.try_lock() {
        if let Some(Console { uart, tx, .. }) = guard.as_mut() {
            while let Some(b) = tx.pop() {
                if uart.write_byte(b).is_err() {
                    break;
                }
            }
        }
    }
}

/// Prints without waiting for the console lock: for panics and fatal
/// exceptions, when the lock may be held by the code that failed. Queued
/// output goes first if the lock is free, so the report comes last.
pub fn emergency_print(args: fmt::Arguments) {
    flush();
    if let Ok(mut uart) = Uart16550::new(com1_window()) {
        let _ = uart.write_fmt(args);
    }
}

pub fn stats() -> Option<UartStats> {
    CONSOLE.lock().as_ref().map(|c| c.uart.stats())
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
