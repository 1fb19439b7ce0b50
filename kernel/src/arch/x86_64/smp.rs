//! Bringing up the other CPUs (application processors, APs).
//!
//! An AP starts in 16-bit real mode at a page-aligned address below 1 MiB
//! given by the STARTUP IPI (Intel SDM vol. 3A §8.4.4, "MP initialization
//! example"; the INIT–SIPI–SIPI sequence with its 10 ms and 200 µs waits).
//! The trampoline below is copied to `TRAMPOLINE` (0x8000), identity-mapped
//! for the moment of the switch, and walks the AP through protected mode to
//! long mode on the kernel's own page tables, then calls `ap_entry` on a
//! fresh stack. APs start one at a time: the trampoline's parameter block
//! (CR3, stack, entry, CPU index) is shared.

use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, Ordering};

use super::{apic, cpu, gdt, idt};
use crate::acpi::{self, MadtInfo};
use crate::mm::frame::Pages;
use crate::mm::paging::{self, Flags, PageSize};
use crate::mm::phys_to_virt;
use crate::percpu;

const TRAMPOLINE: u64 = 0x8000;
/// Offsets of the parameter block at the end of the trampoline page.
const PARAM_CR3: u64 = 0xfe0;
const PARAM_STACK: u64 = 0xfe8;
const PARAM_ENTRY: u64 = 0xff0;
const PARAM_CPU: u64 = 0xff8;
const AP_STACK_ORDER: usize = 2;
const INIT_DELAY_US: u64 = 1_000;

global_asm!(
    r#"
    .section .rodata.ap_trampoline, "a"
    .global ap_trampoline_start
    .global ap_trampoline_end
ap_trampoline_start:
    .code16
    cli
    cld
    xor ax, ax
    mov ds, ax
    .byte 0x0f, 0x01, 0x16                          /* lgdt [disp16] (hand-encoded: */
    .word ap_gdt_ptr - ap_trampoline_start + 0x8000 /* one symbol per operand) */
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    .byte 0x66, 0xea                                /* ljmp 0x08:ap_pm32 (32-bit offset) */
    .long ap_pm32 - ap_trampoline_start + 0x8000
    .word 0x08

    .code32
ap_pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, cr4
    or eax, 1 << 5                                  /* PAE */
    mov cr4, eax
    mov eax, [0x8000 + 0xfe0]                       /* PARAM_CR3 */
    mov cr3, eax
    mov ecx, 0xC0000080
    rdmsr
    or eax, (1 << 8) | (1 << 11)                    /* EFER.LME | NXE */
    wrmsr
    mov eax, cr0
    or eax, (1 << 31) | (1 << 16)                   /* PG | WP */
    mov cr0, eax
    .byte 0xea                                      /* ljmp 0x18:ap_lm64 */
    .long ap_lm64 - ap_trampoline_start + 0x8000
    .word 0x18

    .code64
ap_lm64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov rsp, [0x8000 + 0xfe8]                       /* PARAM_STACK */
    mov rax, [0x8000 + 0xff0]                       /* PARAM_ENTRY */
    mov edi, [0x8000 + 0xff8]                       /* PARAM_CPU */
    xor ebp, ebp
    call rax
1:  hlt
    jmp 1b

    .p2align 3
ap_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff                        /* 0x08: 32-bit code */
    .quad 0x00cf92000000ffff                        /* 0x10: data */
    .quad 0x00209a0000000000                        /* 0x18: 64-bit code */
ap_gdt_ptr:
    .word ap_gdt_ptr - ap_gdt - 1
    .long ap_gdt - ap_trampoline_start + 0x8000
ap_trampoline_end:
    "#
);

extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_end: u8;
}

static AP_READY: AtomicBool = AtomicBool::new(false);

/// The APs of the MADT: (cpu index, APIC ID), boot CPU excluded.
fn application_processors(boot_apic_id: u32) -> impl Iterator<Item = (usize, u32)> {
    acpi::info()
        .into_iter()
        .flat_map(|info| info.madt.iter())
        .filter_map(|e| match e {
            MadtInfo::LocalApic { apic_id, enabled: true, .. } => Some(*apic_id),
            _ => None,
        })
        .filter(move |&id| id != boot_apic_id)
        .enumerate()
        .map(|(i, id)| (i + 1, id))
        .filter(|&(cpu, _)| cpu < percpu::MAX_CPUS)
}

fn write_param(offset: u64, value: u64) {
    // SAFETY: the trampoline page is ours (below 1 MiB, reserved from the
    // allocators) and direct-mapped.
    unsafe { ((phys_to_virt(TRAMPOLINE) + offset) as *mut u64).write_volatile(value) };
}

/// Starts every AP listed in the MADT; returns how many came up.
pub fn boot_aps() -> usize {
    let boot_apic_id = percpu::this_cpu().apic_id.load(Ordering::Relaxed);
    let code = {
        let start = core::ptr::addr_of!(ap_trampoline_start);
        let end = core::ptr::addr_of!(ap_trampoline_end);
        // SAFETY: the linker-placed trampoline bytes between the two labels.
        unsafe { core::slice::from_raw_parts(start, end as usize - start as usize) }
    };
    // SAFETY: as in `write_param`; the code fits well before the parameters.
    unsafe {
        core::ptr::copy_nonoverlapping(code.as_ptr(), phys_to_virt(TRAMPOLINE) as *mut u8, code.len());
    }
    if paging::map(
        TRAMPOLINE,
        TRAMPOLINE,
        PageSize::Size4K,
        Flags(Flags::KERNEL_TEXT.0 | crate::mm::paging::pte::WRITABLE),
    )
    .is_err()
    {
        log::error!("smp: cannot identity-map the trampoline");
        return 0;
    }
    let mut started = 0;
    for (cpu_index, apic_id) in application_processors(boot_apic_id) {
        if start_ap(cpu_index, apic_id) {
            started += 1;
        } else {
            log::error!("smp: CPU {cpu_index} (APIC {apic_id}) did not come up");
        }
    }
    let _ = paging::unmap(TRAMPOLINE);
    started
}

fn start_ap(cpu_index: usize, apic_id: u32) -> bool {
    let Ok(stack) = Pages::alloc_zeroed(AP_STACK_ORDER) else { return false };
    let stack_top = crate::mm::phys_to_virt(stack.phys()) + stack.len();
    // The AP's startup stack becomes its idle thread's stack for good.
    core::mem::forget(stack);
    if let Some(c) = percpu::cpu(cpu_index) {
        c.apic_id.store(apic_id, Ordering::Relaxed);
    }
    write_param(PARAM_CR3, cpu::read_cr3());
    write_param(PARAM_STACK, stack_top);
    write_param(PARAM_ENTRY, ap_entry as extern "C" fn(u32) -> ! as usize as u64);
    write_param(PARAM_CPU, cpu_index as u64);
    AP_READY.store(false, Ordering::Release);
    let l = apic::lapic();
    if l.send_init(apic_id).is_err() {
        return false;
    }
    // The SDM's 10 ms after INIT dates from external APICs; Linux skips it
    // on modern CPUs (smpboot.c, `init_udelay`). 1 ms is ample for QEMU.
    crate::time::udelay(INIT_DELAY_US);
    for _ in 0..2 {
        if l.send_startup(apic_id, (TRAMPOLINE >> 12) as u8).is_err() {
            return false;
        }
        crate::time::udelay(200);
        if AP_READY.load(Ordering::Acquire) {
            break;
        }
    }
    // Bounded wait: 100 ms is ages for a CPU to reach Rust.
    for _ in 0..1000 {
        if AP_READY.load(Ordering::Acquire) {
            return true;
        }
        crate::time::udelay(100);
    }
    false
}

/// First Rust code on an AP, on its startup stack.
extern "C" fn ap_entry(cpu_index: u32) -> ! {
    let cpu_index = cpu_index as usize;
    let apic_id = percpu::cpu(cpu_index).map_or(0, |c| c.apic_id.load(Ordering::Relaxed));
    percpu::init_cpu(cpu_index, apic_id);
    gdt::init_cpu(cpu_index);
    idt::init_cpu();
    if let Err(e) = apic::init_local() {
        log::error!("cpu {cpu_index}: local APIC: {e}");
    }
    crate::sched::init_cpu(&alloc::format!("idle/{cpu_index}"));
    percpu::set_online();
    crate::irq::softirq::start_ksoftirqd();
    if let Err(e) = apic::start_tick(crate::time::HZ) {
        log::error!("cpu {cpu_index}: no timer tick: {e}");
    }
    log::info!("cpu {cpu_index} online (APIC {apic_id})");
    AP_READY.store(true, Ordering::Release);
    cpu::enable_interrupts();
    crate::sched::idle_loop()
}
