//! Frame-pointer backtrace for fatal reports (the kernel is built with
//! `-C force-frame-pointers=yes`). Each frame is checked with the fault-safe
//! probe, so a corrupt chain ends the walk instead of faulting again.

use core::fmt;

use super::extable::probe_read_u64;

const MAX_FRAMES: usize = 16;

pub fn write(f: &mut fmt::Formatter<'_>, mut rbp: u64) -> fmt::Result {
    write!(f, "  backtrace:")?;
    for _ in 0..MAX_FRAMES {
        if rbp == 0 || !rbp.is_multiple_of(8) {
            break;
        }
        let (Ok(next), Ok(ret)) = (probe_read_u64(rbp), probe_read_u64(rbp + 8)) else {
            break;
        };
        if ret == 0 {
            break;
        }
        write!(f, " {ret:#x}")?;
        if next <= rbp {
            break;
        }
        rbp = next;
    }
    writeln!(f)
}
