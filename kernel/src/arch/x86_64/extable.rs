//! Exception table: instructions that are allowed to fault.
//!
//! Linux's `__ex_table` idea: a few hand-written accessors (here: probing a
//! kernel address, used by tests and the shell's `peek`) list the address of
//! the instruction that may fault and where to continue instead. The trap
//! handler looks the faulting RIP up in the `.extable` section; on a match it
//! records the vector and fault address, sets RIP to the fixup and returns,
//! so the accessor returns an error instead of the kernel dying.

use core::arch::global_asm;

use super::trap::TrapFrame;

#[repr(C)]
struct Entry {
    insn: u64,
    fixup: u64,
}

extern "C" {
    static __extable_start: Entry;
    static __extable_end: Entry;
    fn ioxide_probe_read_u64(addr: u64, out: *mut u64, fault: *mut ProbeFault) -> u64;
}

global_asm!(
    r#"
    .section .text.extable_users, "ax"
    .global ioxide_probe_read_u64
    /* rdi = address, rsi = &mut u64 result, rdx = &mut ProbeFault. Returns 0 or 1 (faulted). */
ioxide_probe_read_u64:
probe_read_insn:
    mov rax, [rdi]
    mov [rsi], rax
    xor eax, eax
    ret
probe_read_fixup:
    /* the trap handler stored vector and address in rcx/r8: hand them back */
    mov [rdx], rcx
    mov [rdx + 8], r8
    mov eax, 1
    ret

    .section .extable, "a"
    .p2align 3
    .quad probe_read_insn, probe_read_fixup
    "#
);

/// What a probe ran into.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeFault {
    pub vector: u64,
    pub address: u64,
}

fn entries() -> &'static [Entry] {
    // SAFETY: the linker script brackets the .extable section with these
    // symbols; the section holds only `Entry` pairs, 8-aligned.
    unsafe {
        let start = core::ptr::addr_of!(__extable_start);
        let end = core::ptr::addr_of!(__extable_end);
        core::slice::from_raw_parts(start, end.offset_from(start) as usize)
    }
}

/// If the faulting instruction has a fixup, redirects the frame to it.
pub fn fixup(frame: &mut TrapFrame, fault_addr: u64) -> bool {
    let Some(entry) = entries().iter().find(|e| e.insn == frame.rip) else {
        return false;
    };
    frame.rip = entry.fixup;
    frame.rcx = frame.vector;
    frame.r8 = fault_addr;
    true
}

/// Reads a u64 from a kernel virtual address that may be unmapped, returning
/// the fault instead of dying (Linux's `copy_from_kernel_nofault`).
pub fn probe_read_u64(addr: u64) -> Result<u64, ProbeFault> {
    let mut value = 0u64;
    let mut fault = ProbeFault::default();
    // SAFETY: the accessor only reads `addr`; a fault is caught by the
    // exception table and reported through `fault`.
    let faulted = unsafe { ioxide_probe_read_u64(addr, &mut value, &mut fault) };
    if faulted == 0 {
        Ok(value)
    } else {
        Err(fault)
    }
}
