//! PVH entry: from QEMU's 32-bit protected mode to 64-bit long mode.
//!
//! QEMU's `-kernel` loader finds the entry point in the `.note.Xen` ELF note
//! (type 18, `XEN_ELFNOTE_PHYS32_ENTRY`) and jumps there in 32-bit protected
//! mode, paging off, with `ebx` holding the physical address of the
//! `hvm_start_info` structure (Xen's `arch-x86/hvm/start_info.h`).
//!
//! The trampoline below does the minimum to reach Rust:
//! 1. zero `.bss` (it holds the boot stack and the boot page tables);
//! 2. build boot page tables that map the first 4 GiB twice, with 2 MiB pages:
//!    identity (the kernel runs at its load address) and at `PAGE_OFFSET`
//!    (the direct map, so Rust can use `phys_to_virt` from its first line);
//! 3. enable PAE, long mode and NX in EFER, then paging;
//! 4. load a temporary 64-bit GDT and far-jump into 64-bit code, which calls
//!    `kernel_entry(start_info_phys)`.
//!
//! `mm::paging` replaces these tables with the kernel's own as soon as the
//! early allocator is up; `arch::gdt` replaces the GDT.

use core::arch::global_asm;

/// Boot stack: the kernel's first thread runs on it for the rest of its life.
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

global_asm!(
    r#"
    .section .note.Xen, "a"
    .p2align 2
    .long 4                 /* name size: "Xen\0" */
    .long 8                 /* descriptor size */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .p2align 2
    .quad pvh_start

    .section .bss.boot, "aw", @nobits
    .p2align 12
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
boot_pd:    .skip 4096 * 4
    .p2align 12
    .global boot_stack_bottom
boot_stack_bottom:
    .skip {stack_size}
boot_stack_top:

    .section .rodata.boot, "a"
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00209a0000000000    /* 0x08: 64-bit code, present, DPL 0 */
    .quad 0x0000920000000000    /* 0x10: data */
boot_gdt_end:
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .quad boot_gdt

    .section .text.boot, "ax"
    .code32
    .global pvh_start
pvh_start:
    cli
    cld
    mov esi, ebx                        /* keep start_info across the setup */

    /* 1. zero .bss */
    mov edi, offset __bss_start
    mov ecx, offset __bss_end
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd

    mov esp, offset boot_stack_top

    /* 2. four page directories of 2 MiB pages: 0..4 GiB */
    mov edi, offset boot_pd
    mov eax, 0x83                       /* present | writable | huge */
    xor edx, edx                        /* high half of the physical address */
    mov ecx, 2048
1:  mov [edi], eax
    mov [edi + 4], edx
    add eax, 0x200000
    adc edx, 0
    add edi, 8
    loop 1b

    /* PDPT[0..4] -> the four page directories */
    mov edi, offset boot_pdpt
    mov eax, offset boot_pd
    or eax, 0x3
    mov ecx, 4
2:  mov [edi], eax
    add eax, 4096
    add edi, 8
    loop 2b

    /* PML4[0] (identity) and PML4[{pml4_direct}] (direct map) -> the same PDPT */
    mov eax, offset boot_pdpt
    or eax, 0x3
    mov [boot_pml4], eax
    mov [boot_pml4 + {pml4_direct} * 8], eax

    /* 3. CR4.PAE, CR3, EFER.LME|NXE, CR0.PG|WP */
    mov eax, cr4
    or eax, 1 << 5
    mov cr4, eax
    mov eax, offset boot_pml4
    mov cr3, eax
    mov ecx, 0xC0000080
    rdmsr
    or eax, (1 << 8) | (1 << 11)
    wrmsr
    mov eax, cr0
    or eax, (1 << 31) | (1 << 16) | 1
    mov cr0, eax

    /* 4. 64-bit code segment */
    lgdt [boot_gdt_ptr]
    .byte 0xea                          /* ljmp ptr16:32 (hand-encoded: the */
    .long long_mode_entry               /* assembler's 32-bit far-jump forms */
    .word 0x08                          /* vary between syntaxes) */

    .code64
long_mode_entry:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor ax, ax
    mov fs, ax
    mov gs, ax
    mov edi, esi                        /* arg 0: start_info physical address */
    xor ebp, ebp                        /* end of the frame-pointer chain */
    call {entry}
3:  cli
    hlt
    jmp 3b
    "#,
    stack_size = const BOOT_STACK_SIZE,
    pml4_direct = const crate::mm::PAGE_OFFSET_PML4_INDEX,
    entry = sym crate::kernel_entry,
);
