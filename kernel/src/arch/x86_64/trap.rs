//! Trap dispatch: CPU exceptions (vectors 0–31) and everything else.
//!
//! Exceptions are either *recoverable* — a breakpoint, or a fault at an
//! instruction listed in the exception table ([`extable`](super::extable)),
//! which resumes at its fixup — or *fatal*: the kernel prints a full report
//! (vector, error code, RIP, CR2 for page faults, all registers) and stops
//! with a failing QEMU exit status. Vectors 32–255 are interrupts and go to
//! the IRQ core (`crate::irq`).

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use super::{cpu, extable};

/// The register state saved by `trap_common` (see `idt.rs`), lowest address first.
#[repr(C)]
#[derive(Debug, Clone)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    // Pushed by the CPU.
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

pub const VECTOR_BREAKPOINT: u64 = 3;
pub const VECTOR_PAGE_FAULT: u64 = 14;

/// Exception names (Intel SDM vol. 3A table 6-1).
pub fn exception_name(vector: u64) -> &'static str {
    const NAMES: [&str; 32] = [
        "divide error",
        "debug",
        "NMI",
        "breakpoint",
        "overflow",
        "BOUND range exceeded",
        "invalid opcode",
        "device not available",
        "double fault",
        "coprocessor segment overrun",
        "invalid TSS",
        "segment not present",
        "stack-segment fault",
        "general protection",
        "page fault",
        "reserved",
        "x87 floating-point error",
        "alignment check",
        "machine check",
        "SIMD floating-point",
        "virtualization",
        "control protection",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "hypervisor injection",
        "VMM communication",
        "security",
        "reserved",
    ];
    NAMES.get(vector as usize).copied().unwrap_or("interrupt")
}

/// Per-vector-class counters, shown by the shell.
pub struct TrapStats {
    pub breakpoints: AtomicU64,
    pub fixups: AtomicU64,
}

pub static STATS: TrapStats = TrapStats { breakpoints: AtomicU64::new(0), fixups: AtomicU64::new(0) };

/// Called by `trap_common` with interrupts disabled (all gates are interrupt gates).
#[no_mangle]
pub extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    match frame.vector {
        VECTOR_BREAKPOINT => {
            STATS.breakpoints.fetch_add(1, Ordering::Relaxed);
            log::info!("breakpoint at {:#x}", frame.rip.wrapping_sub(1));
        }
        v if v < 32 => {
            let fault_addr = if v == VECTOR_PAGE_FAULT { cpu::read_cr2() } else { 0 };
            if extable::fixup(frame, fault_addr) {
                STATS.fixups.fetch_add(1, Ordering::Relaxed);
                return;
            }
            fatal(frame, fault_addr);
        }
        _ => crate::irq::handle(frame),
    }
}

fn fatal(frame: &TrapFrame, cr2: u64) -> ! {
    let report = Report { frame, cr2 };
    crate::console::emergency_print(format_args!("{report}"));
    crate::arch::exit::qemu_exit(crate::arch::exit::ExitCode::Failure)
}

/// The text printed for a fatal exception.
struct Report<'a> {
    frame: &'a TrapFrame,
    cr2: u64,
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.frame;
        writeln!(f, "\nEXCEPTION: {} (vector {}) error code {:#x}", exception_name(t.vector), t.vector, t.error_code)?;
        writeln!(f, "  RIP={:#018x} CS={:#06x} RFLAGS={:#010x}", t.rip, t.cs, t.rflags)?;
        if t.vector == VECTOR_PAGE_FAULT {
            writeln!(f, "  CR2={:#x} ({})", self.cr2, PageFaultCause(t.error_code))?;
        }
        writeln!(f, "  RAX={:#018x} RBX={:#018x} RCX={:#018x} RDX={:#018x}", t.rax, t.rbx, t.rcx, t.rdx)?;
        writeln!(f, "  RSI={:#018x} RDI={:#018x} RBP={:#018x} RSP={:#018x}", t.rsi, t.rdi, t.rbp, t.rsp)?;
        writeln!(f, "  R8 ={:#018x} R9 ={:#018x} R10={:#018x} R11={:#018x}", t.r8, t.r9, t.r10, t.r11)?;
        writeln!(f, "  R12={:#018x} R13={:#018x} R14={:#018x} R15={:#018x}", t.r12, t.r13, t.r14, t.r15)?;
        writeln!(f, "  SS={:#06x} CR3={:#x}", t.ss, cpu::read_cr3())?;
        crate::arch::backtrace::write(f, t.rbp)?;
        write!(f, "kernel stopped.")
    }
}

/// Decodes the page-fault error code (Intel SDM vol. 3A §4.7).
struct PageFaultCause(u64);

impl fmt::Display for PageFaultCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        let what = if e & 1 == 0 { "not present" } else { "protection violation" };
        let access = if e & 0x10 != 0 {
            "instruction fetch"
        } else if e & 2 != 0 {
            "write"
        } else {
            "read"
        };
        let mode = if e & 4 != 0 { "user" } else { "kernel" };
        write!(f, "{what}, {access}, {mode} mode")
    }
}
