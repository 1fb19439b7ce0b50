//! Kernel log: a `log` backend that timestamps each record with the TSC,
//! prints it on the console and keeps it in the `dmesg` ring buffer.
//!
//! The ring holds whole lines; when it is full the oldest lines are
//! dropped (and counted), like Linux's printk buffer. Lines are formatted
//! once, into a fixed buffer on the stack — logging never allocates, so it
//! is usable before the heap exists and from exception handlers.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::sync::SpinLockIrq;
use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::time;

const RING_SIZE: usize = 64 * 1024;
const LINE_MAX: usize = 256;

struct Ring {
    buf: [u8; RING_SIZE],
    /// Index of the oldest byte.
    start: usize,
    len: usize,
}

impl Ring {
    fn byte(&self, i: usize) -> u8 {
        self.buf[(self.start + i) % RING_SIZE]
    }

    /// Drops whole lines from the front until `need` bytes are free.
    fn make_room(&mut self, need: usize) -> u64 {
        let mut dropped = 0;
        while RING_SIZE - self.len < need && self.len > 0 {
            let line = (0..self.len).find(|&i| self.byte(i) == b'\n').map_or(self.len, |i| i + 1);
            self.start = (self.start + line) % RING_SIZE;
            self.len -= line;
            dropped += 1;
        }
        dropped
    }

    fn push(&mut self, line: &[u8]) -> u64 {
        let dropped = self.make_room(line.len());
        for &b in line {
            self.buf[(self.start + self.len) % RING_SIZE] = b;
            self.len += 1;
        }
        dropped
    }
}

static RING: SpinLockIrq<Ring> = SpinLockIrq::new(Ring { buf: [0; RING_SIZE], start: 0, len: 0 });

pub struct LogStats {
    pub lines: AtomicU64,
    pub dropped_lines: AtomicU64,
    pub truncated: AtomicU64,
}

pub static STATS: LogStats =
    LogStats { lines: AtomicU64::new(0), dropped_lines: AtomicU64::new(0), truncated: AtomicU64::new(0) };

/// A fixed-size line buffer; text beyond its end is cut.
struct Line {
    buf: [u8; LINE_MAX],
    len: usize,
    truncated: bool,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = LINE_MAX - 1 - self.len; // keep one byte for '\n'
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        self.truncated |= n < s.len();
        Ok(())
    }
}

/// Formats `[seconds.micros]` for a number of nanoseconds.
pub struct Timestamp(pub u64);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:5}.{:06}]", self.0 / 1_000_000_000, (self.0 / 1000) % 1_000_000)
    }
}

struct KernelLog;

static LOGGER: KernelLog = KernelLog;

impl Log for KernelLog {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = Line { buf: [0; LINE_MAX], len: 0, truncated: false };
        let level = match record.level() {
            Level::Error => "ERROR",
            Level::Warn => "WARN ",
            Level::Info => "INFO ",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        };
        let target = match record.target() {
            "ioxide_kernel" => "init",
            t => t.trim_start_matches("ioxide_kernel::"),
        };
        let _ = write!(line, "{} {level} {target}: {}", Timestamp(time::uptime_ns()), record.args());
        line.buf[line.len] = b'\n';
        let text = &line.buf[..=line.len];
        if line.truncated {
            STATS.truncated.fetch_add(1, Ordering::Relaxed);
        }
        STATS.lines.fetch_add(1, Ordering::Relaxed);
        let dropped = RING.lock().push(text);
        STATS.dropped_lines.fetch_add(dropped, Ordering::Relaxed);
        crate::console::write_text(text);
    }

    fn flush(&self) {}
}

/// Installs the logger; `level` comes from the `loglevel=` boot option.
pub fn init(level: LevelFilter) {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

/// Calls `f` with each line of the ring, oldest first (without the '\n').
pub fn for_each_line(mut f: impl FnMut(&[u8])) {
    let ring = RING.lock();
    let mut line = [0u8; LINE_MAX];
    let mut n = 0;
    for i in 0..ring.len {
        let b = ring.byte(i);
        if b == b'\n' {
            f(&line[..n]);
            n = 0;
        } else if n < LINE_MAX {
            line[n] = b;
            n += 1;
        }
    }
    if n > 0 {
        f(&line[..n]);
    }
}

mod ktests {
    use super::{Ring, RING_SIZE};
    use crate::{check, check_eq, ktest};

    ktest! {
        fn dmesg_ring_drops_whole_oldest_lines() {
            // A private ring (the global one holds the boot log).
            let mut ring = alloc::boxed::Box::new(Ring { buf: [0; RING_SIZE], start: 0, len: 0 });
            let line = [b'x'; 100];
            let mut dropped = 0;
            for i in 0..(RING_SIZE / 100 + 10) {
                let mut l = line;
                l[0] = b'0' + (i % 10) as u8;
                l[99] = b'\n';
                dropped += ring.push(&l);
            }
            check_eq!(dropped, 10);
            check!(ring.len <= RING_SIZE);
            // 655 lines of 100 bytes fit; the 10 oldest went, whole: the front
            // is the start of line 10.
            check_eq!(ring.len, 655 * 100);
            check_eq!(ring.byte(0), b'0');
            check_eq!(ring.byte(1), b'x');
            check_eq!(ring.byte(ring.len - 1), b'\n');
        }
    }
}
