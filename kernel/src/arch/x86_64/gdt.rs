//! Global descriptor table and task-state segment, one pair per CPU.
//!
//! Long mode ignores segmentation for addressing, but the CPU still needs a
//! code segment to know it runs 64-bit ring-0 code, and a TSS for the
//! interrupt stack table (IST): NMI, double fault and machine check switch to
//! known-good stacks, so a kernel-stack overflow (which page-faults and then
//! double-faults) can still be reported (Intel SDM vol. 3A §6.14.5).

use spin::Once;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

pub const MAX_CPUS: usize = 8;

/// IST slots (1-based in the IDT, 0-based in the TSS array).
pub const IST_NMI: u16 = 1;
pub const IST_DOUBLE_FAULT: u16 = 2;
pub const IST_MACHINE_CHECK: u16 = 3;
const IST_COUNT: usize = 3;
const IST_STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct IstStacks([[u8; IST_STACK_SIZE]; IST_COUNT]);

static mut IST_STACKS: [IstStacks; MAX_CPUS] = [const { IstStacks([[0; IST_STACK_SIZE]; IST_COUNT]) }; MAX_CPUS];

struct CpuTables {
    gdt: GlobalDescriptorTable,
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static TSS: [Once<TaskStateSegment>; MAX_CPUS] = [const { Once::new() }; MAX_CPUS];
static TABLES: [Once<CpuTables>; MAX_CPUS] = [const { Once::new() }; MAX_CPUS];

/// Loads this CPU's GDT and TSS and reloads the segment registers.
pub fn init_cpu(cpu: usize) {
    let tss = TSS[cpu].call_once(|| {
        let mut tss = TaskStateSegment::new();
        for slot in 0..IST_COUNT {
            // SAFETY: each CPU touches only its own row of IST_STACKS, once, here;
            // we take the address without creating a reference.
            let stack = unsafe { core::ptr::addr_of_mut!(IST_STACKS[cpu].0[slot]) };
            let top = stack as u64 + IST_STACK_SIZE as u64;
            tss.interrupt_stack_table[slot] = VirtAddr::new(top);
        }
        tss
    });
    let tables = TABLES[cpu].call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        CpuTables { gdt, code, data, tss }
    });
    tables.gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded.
    unsafe {
        CS::set_reg(tables.code);
        DS::set_reg(tables.data);
        ES::set_reg(tables.data);
        SS::set_reg(tables.data);
        load_tss(tables.tss);
    }
}

/// The kernel code selector (the same in every CPU's GDT).
pub fn kernel_code_selector() -> u16 {
    TABLES[0].get().map_or(0x08, |t| t.code.0)
}
