//! Small wrappers around privileged x86 instructions: time stamp counter,
//! control registers, halting, and interrupt-flag control.

use core::arch::asm;

/// Reads the time stamp counter (Intel SDM vol. 2B, RDTSC).
#[inline]
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: RDTSC has no side effects; CR4.TSD is clear so it is allowed.
    unsafe { asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// CR2 holds the linear address of the last page fault.
#[inline]
pub fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

#[inline]
pub fn read_cr3() -> u64 {
    let v: u64;
    // SAFETY: reading CR3 has no side effects.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Switches to the page tables rooted at physical address `pml4`.
///
/// # Safety
/// The new tables must map the running code, its stack and all data in use.
#[inline]
pub unsafe fn write_cr3(pml4: u64) {
    // SAFETY: the caller guarantees the new address space maps everything live.
    unsafe { asm!("mov cr3, {}", in(reg) pml4, options(nostack, preserves_flags)) };
}

/// Invalidates the TLB entry for one virtual address.
#[inline]
pub fn invlpg(addr: u64) {
    // SAFETY: INVLPG only drops a cached translation.
    unsafe { asm!("invlpg [{}]", in(reg) addr, options(nostack, preserves_flags)) };
}

/// Busy-wait hint for spin loops (also tells TCG/KVM we are spinning).
#[inline]
pub fn pause() {
    core::hint::spin_loop();
}

/// Stops the CPU for good: interrupts off, halt forever.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: cli; hlt only stops this CPU.
        unsafe { asm!("cli; hlt", options(nomem, nostack)) };
    }
}

/// Returns true if RFLAGS.IF is set.
#[inline]
pub fn interrupts_enabled() -> bool {
    let flags: u64;
    // SAFETY: reading RFLAGS has no side effects.
    unsafe { asm!("pushfq; pop {}", out(reg) flags, options(nomem, preserves_flags)) };
    flags & (1 << 9) != 0
}

/// Executes `int3`; the breakpoint handler logs it and returns.
#[inline]
pub fn breakpoint() {
    // SAFETY: the IDT has a breakpoint handler that returns to the next instruction.
    unsafe { asm!("int3", options(nomem, nostack)) };
}

/// Disables interrupts and returns whether they were enabled before.
#[inline]
pub fn save_and_disable_interrupts() -> bool {
    let was = interrupts_enabled();
    // SAFETY: cli only masks maskable interrupts on this CPU.
    unsafe { asm!("cli", options(nomem, nostack)) };
    was
}

/// Re-enables interrupts if `was_enabled` (the value from
/// [`save_and_disable_interrupts`]).
#[inline]
pub fn restore_interrupts(was_enabled: bool) {
    if was_enabled {
        enable_interrupts();
    }
}

#[inline]
pub fn enable_interrupts() {
    // SAFETY: the IDT is loaded and every vector has a handler.
    unsafe { asm!("sti", options(nomem, nostack)) };
}

#[inline]
pub fn disable_interrupts() {
    // SAFETY: cli only masks maskable interrupts on this CPU.
    unsafe { asm!("cli", options(nomem, nostack)) };
}

/// Enables interrupts and halts until the next one, atomically (the `sti`
/// shadow covers the `hlt`, so a wake-up cannot slip in between).
#[inline]
pub fn enable_interrupts_and_halt() {
    // SAFETY: as for `enable_interrupts`; hlt waits for an interrupt.
    unsafe { asm!("sti; hlt", options(nomem, nostack)) };
}

/// # Safety
/// Writing an MSR can change any CPU behaviour; the caller knows what `msr` does.
#[inline]
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: forwarded to the caller.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack, preserves_flags))
    };
}

/// # Safety
/// `msr` must exist on this CPU (else #GP).
#[inline]
pub unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: forwarded to the caller.
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

pub const MSR_GS_BASE: u32 = 0xc000_0101;
