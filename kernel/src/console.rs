//! The serial console: COM1's 16550 through the `uart16550` driver, polled.
//!
//! Output waits (bounded) for the transmitter before each byte — the seeds'
//! point that back-to-back port writes outrun the device. Input is polled
//! by the shell. The emergency path (panics, fatal exceptions) must work
//! even if the console lock is held by the code that crashed, so it
//! builds a second, lock-free driver instance over the same ports.

use core::fmt::{self, Write};

use crate::sync::SpinLockIrq;
use hal::pio::PortWindow;
use uart16550::{Config, Uart16550};

const COM1_BASE: u16 = 0x3f8;
const COM1_PORTS: u16 = 8;

/// 115200 8N1 with the FIFOs off: enabling them resets them, which can drop
/// input a script already piped in (see `uart16550::Config::fifo`). A
/// polled console gains nothing from the FIFO on input anyway.
const CONSOLE_CONFIG: Config = Config { baud: 115_200, fifo: None };

static CONSOLE: SpinLockIrq<Option<Uart16550<PortWindow>>> = SpinLockIrq::new(None);

fn com1_window() -> PortWindow {
    // SAFETY: ports 0x3f8..0x400 are COM1 on every PC (and on q35); the
    // console is their only user apart from the emergency path below.
    unsafe { PortWindow::new(COM1_BASE, COM1_PORTS) }
}

/// Probes and programs COM1.
pub fn init() -> Result<(), uart16550::Error> {
    let mut uart = Uart16550::new(com1_window())?;
    uart.init(CONSOLE_CONFIG)?;
    *CONSOLE.lock() = Some(uart);
    Ok(())
}

/// Writes formatted text to the console (no-op before `init`).
pub fn print(args: fmt::Arguments) {
    if let Some(uart) = CONSOLE.lock().as_mut() {
        let _ = uart.write_fmt(args);
    }
}

/// Writes raw bytes (used by the shell's line editor for echo).
pub fn write_bytes(bytes: &[u8]) {
    if let Some(uart) = CONSOLE.lock().as_mut() {
        let _ = uart.write_bytes(bytes);
    }
}

/// Writes text, turning `\n` into `\r\n` for the terminal.
pub fn write_text(bytes: &[u8]) {
    if let Some(uart) = CONSOLE.lock().as_mut() {
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            match line.split_last() {
                Some((b'\n', body)) => {
                    let _ = uart.write_bytes(body);
                    let _ = uart.write_bytes(b"\r\n");
                }
                _ => {
                    let _ = uart.write_bytes(line);
                }
            }
        }
    }
}

/// Waits for a byte until `deadline` (uptime in ns); `None` on timeout.
pub fn read_byte_until(deadline_ns: u64) -> Option<u8> {
    loop {
        if let Some(b) = try_read_byte() {
            return Some(b);
        }
        if crate::time::uptime_ns() >= deadline_ns {
            return None;
        }
        crate::arch::cpu::pause();
    }
}

/// Returns a received byte, if one is waiting.
pub fn try_read_byte() -> Option<u8> {
    CONSOLE.lock().as_mut().and_then(|uart| uart.try_read_byte().ok().flatten())
}

/// Prints without taking the console lock: for panics and fatal exceptions,
/// when the lock may be held by the code that failed.
pub fn emergency_print(args: fmt::Arguments) {
    if let Ok(mut uart) = Uart16550::new(com1_window()) {
        let _ = uart.write_fmt(args);
    }
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
