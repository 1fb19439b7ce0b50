//! Interrupt descriptor table: 256 assembly entry stubs feeding one Rust
//! dispatcher.
//!
//! Every vector gets a 16-byte stub. Vectors for which the CPU pushes no
//! error code push a zero, so every [`TrapFrame`](super::trap::TrapFrame) has
//! the same shape; then the stub pushes its vector number and jumps to
//! `trap_common`, which saves all general-purpose registers, passes a pointer
//! to the frame to [`trap_dispatch`](super::trap::trap_dispatch), restores the
//! registers (possibly modified, e.g. RIP by an exception-table fixup) and
//! returns with `iretq`. `extern "x86-interrupt"` is unstable, hence assembly.
//!
//! Stack alignment: the CPU aligns RSP to 16 before pushing its 5-word frame;
//! error code + vector + 15 registers make 17 more words, 22 in all, so RSP
//! is 16-byte aligned again at the `call`.

use core::arch::global_asm;
use core::mem::size_of;

use spin::Once;
use x86_64::instructions::tables::lidt;
use x86_64::structures::DescriptorTablePointer;
use x86_64::VirtAddr;

use super::gdt;

const STUB_SIZE: u64 = 16;

global_asm!(
    r#"
    .section .text.trap, "ax"
    .p2align 4
    .global trap_stubs
trap_stubs:
    .set vec, 0
    .rept 256
    .p2align 4
    /* error code pushed by the CPU (Intel SDM vol. 3A §6.13): 8 10-14 17 21 29 30 */
    .set ec, (vec == 8) + (vec == 10) + (vec == 11) + (vec == 12) + (vec == 13) + (vec == 14) + (vec == 17) + (vec == 21) + (vec == 29) + (vec == 30)
    .if ec == 0
    .byte 0x6a, 0x00            /* push 0: fake error code */
    .endif
    .byte 0x68                  /* push imm32: the vector */
    .long vec
    .byte 0xe9                  /* jmp rel32 trap_common: fixed size, so */
    .long trap_common - . - 4   /* every stub fits its 16-byte slot (max 12) */
    .set vec, vec + 1
    .endr

    .p2align 4
trap_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rdi, rsp
    cld
    call {dispatch}
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16                 /* vector and error code */
    iretq
    "#,
    dispatch = sym super::trap::trap_dispatch,
);

extern "C" {
    static trap_stubs: [u8; 256 * 16];
}

/// A 64-bit interrupt gate (Intel SDM vol. 3A §6.14.1, figure 6-8).
#[repr(C)]
#[derive(Clone, Copy)]
struct Gate {
    offset_low: u16,
    selector: u16,
    /// Bits 0–2: IST index (0 = none).
    ist: u8,
    /// Present, DPL 0, type 0xE (interrupt gate: IF is cleared on entry).
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

const INTERRUPT_GATE_PRESENT: u8 = 0x8e;

impl Gate {
    fn new(handler: u64, selector: u16, ist: u16) -> Gate {
        Gate {
            offset_low: handler as u16,
            selector,
            ist: ist as u8,
            type_attr: INTERRUPT_GATE_PRESENT,
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

static IDT: Once<Idt> = Once::new();

fn build() -> Idt {
    let base = core::ptr::addr_of!(trap_stubs) as u64;
    let selector = gdt::kernel_code_selector();
    Idt(core::array::from_fn(|vector| {
        let ist = match vector {
            2 => gdt::IST_NMI,
            8 => gdt::IST_DOUBLE_FAULT,
            18 => gdt::IST_MACHINE_CHECK,
            _ => 0,
        };
        Gate::new(base + vector as u64 * STUB_SIZE, selector, ist)
    }))
}

/// Loads the IDT on this CPU (built once, shared by all CPUs).
pub fn init_cpu() {
    let idt = IDT.call_once(build);
    let pointer = DescriptorTablePointer { limit: (size_of::<Idt>() - 1) as u16, base: VirtAddr::from_ptr(idt) };
    // SAFETY: the IDT is a static that lives forever and every gate points
    // at a stub that saves a full TrapFrame and returns with iretq.
    unsafe { lidt(&pointer) };
}
