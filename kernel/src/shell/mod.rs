//! The shell on the serial console: a line editor and a command table.
//!
//! The editor handles printable ASCII, backspace (DEL 0x7f and BS 0x08),
//! Ctrl-U (erase line) and Ctrl-C (abandon line); CR, LF and CRLF all end
//! a line, so both a terminal in raw mode and a script piping text work.
//! Input sleeps on the console's receive queue once interrupts are on.

mod bench;
mod block;
mod commands;
mod edu;
mod irq;
mod mem;
mod net;
mod pci;
mod resources;
mod sched;
mod serial;
mod virtio;

use crate::console;

pub const PROMPT: &str = "ioxide> ";
const LINE_MAX: usize = 256;

/// Reads one line with editing; returns its length in `buf`.
fn read_line(buf: &mut [u8; LINE_MAX]) -> usize {
    let mut len = 0;
    let mut last_was_cr = false;
    loop {
        let byte = console::read_byte();
        let after_cr = core::mem::replace(&mut last_was_cr, byte == b'\r');
        match byte {
            b'\n' if after_cr => {} // the LF of a CRLF
            b'\r' | b'\n' => {
                console::write_bytes(b"\r\n");
                return len;
            }
            0x7f | 0x08 if len > 0 => {
                len -= 1;
                console::write_bytes(b"\x08 \x08");
            }
            0x15 => {
                // Ctrl-U
                while len > 0 {
                    len -= 1;
                    console::write_bytes(b"\x08 \x08");
                }
            }
            0x03 => {
                // Ctrl-C
                console::write_bytes(b"^C\r\n");
                return 0;
            }
            0x20..=0x7e if len < LINE_MAX => {
                buf[len] = byte;
                len += 1;
                console::write_bytes(&[byte]);
            }
            _ => {} // other control bytes and overlong lines are dropped
        }
    }
}

/// The shell's main loop; never returns (`poweroff` ends the machine).
pub fn run() -> ! {
    let mut buf = [0u8; LINE_MAX];
    loop {
        crate::print!("{PROMPT}");
        let len = read_line(&mut buf);
        let line = core::str::from_utf8(&buf[..len]).unwrap_or("");
        commands::execute(line);
    }
}
