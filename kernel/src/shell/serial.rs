//! `serial sink <bytes> [busy]`: swallow exactly that many raw bytes from
//! the console and report their count and FNV-1a hash, so the host can
//! check that nothing was lost or changed on the way in — optionally while
//! a CPU-bound thread competes for this CPU.

use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, Ordering};

use ::block::pattern::Fnv1a64;

use super::commands::parse_number;
use crate::println;

/// A bounded wait: the whole transfer must finish within this.
const TIMEOUT_NS: u64 = 60_000_000_000;

pub fn serial(args: &[&str]) -> Result<(), String> {
    let (count, busy) = match args {
        ["sink", n] => (parse_number(n)?, false),
        ["sink", n, "busy"] => (parse_number(n)?, true),
        ["stats"] => return stats(),
        _ => return Err("expected: sink <bytes> [busy] | stats".into()),
    };
    let stop = Arc::new(AtomicBool::new(false));
    if busy {
        let stop = stop.clone();
        crate::sched::spawn("busy", move || {
            while !stop.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        })
        .map_err(|e| alloc::format!("cannot start the busy thread: {e}"))?;
    }
    println!("serial sink: ready for {count} bytes");
    let deadline = crate::time::uptime_ns() + TIMEOUT_NS;
    // FNV-1a 64, the digest the host and the block tests use too.
    let (mut received, mut hash) = (0u64, Fnv1a64::new());
    while received < count {
        match crate::console::read_byte_until(deadline) {
            Some(b) => {
                hash.update(&[b]);
                received += 1;
            }
            None => break,
        }
    }
    stop.store(true, Ordering::Relaxed);
    if received < count {
        println!("serial sink: timeout after {received} bytes");
    } else {
        println!("serial sink: received {received} bytes fnv1a64 {:#018x}", hash.finish());
    }
    Ok(())
}

fn stats() -> Result<(), String> {
    let s = crate::console::stats().ok_or("no console")?;
    println!("COM1 16550: rx {} bytes, tx {} bytes", s.rx_bytes, s.tx_bytes);
    println!(
        "  interrupts {} (not mine {}, THRE {}), rx throttles {}, stuck loops {}",
        s.interrupts, s.not_mine, s.thre_interrupts, s.rx_throttles, s.stuck_loops
    );
    println!(
        "  line errors: overrun {} parity {} framing {} break {}; tx timeouts {}",
        s.overruns, s.parity_errors, s.framing_errors, s.breaks, s.tx_timeouts
    );
    Ok(())
}
