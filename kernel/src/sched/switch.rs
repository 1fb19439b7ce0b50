//! The context switch: save callee-saved registers on the old thread's
//! stack, swap stack pointers, restore the new thread's registers, return
//! on its stack. Everything else (caller-saved registers, RIP, flags) is
//! already on the stack because both sides got here through a call.

use core::arch::global_asm;

global_asm!(
    r#"
    .section .text.switch, "ax"
    .global ioxide_switch_to
    /* rdi = where to save the old RSP, rsi = the new RSP */
ioxide_switch_to:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov [rdi], rsp
    mov rsp, rsi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret
    "#
);

extern "C" {
    fn ioxide_switch_to(save_rsp: *mut u64, new_rsp: u64);
}

/// Number of registers `ioxide_switch_to` pushes.
const SAVED_REGISTERS: usize = 6;

/// Switches from the running context to the one saved at `new_rsp`.
///
/// # Safety
/// Interrupts are off; `save_rsp` stays valid until another switch resumes
/// this context; `new_rsp` was produced by a previous switch away from a
/// context (or by [`initial_stack`]) and that context is not running.
pub unsafe fn switch_to(save_rsp: *mut u64, new_rsp: u64) {
    // SAFETY: forwarded to the caller.
    unsafe { ioxide_switch_to(save_rsp, new_rsp) }
}

/// Prepares a fresh stack so that the first switch to it "returns" into
/// `entry` with the stack aligned as after a call. Returns the initial RSP.
pub fn initial_stack(stack: &mut [u8], entry: extern "C" fn() -> !) -> u64 {
    let top = (stack.as_mut_ptr() as u64 + stack.len() as u64) & !0xf;
    let words = [0u64; SAVED_REGISTERS].into_iter().chain([entry as usize as u64, 0]);
    let frame: alloc::vec::Vec<u64> = words.collect();
    let rsp = top - (frame.len() * 8) as u64;
    let offset = (rsp - stack.as_ptr() as u64) as usize;
    for (i, word) in frame.iter().enumerate() {
        stack[offset + i * 8..offset + i * 8 + 8].copy_from_slice(&word.to_le_bytes());
    }
    rsp
}
