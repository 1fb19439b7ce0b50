//! Address encodings and dword-derived accessors. Expected values are
//! hand-computed from PCIe §7.2.2 (ECAM) and PCI 3.0 §3.2.2.3.2 (CF8).

use pci::config::{ecam_offset, legacy_address, update_command, Bdf, ConfigAccess, Counting};
use pci::sim::{SimFunction, SimPci};

#[test]
fn ecam_offset_places_bus_device_function_and_register() {
    assert_eq!(ecam_offset(0, 0, 0, 0), 0);
    // bus << 20 | device << 15 | function << 12 | register
    assert_eq!(ecam_offset(0, 2, 0, 0), 0x1_0000);
    assert_eq!(ecam_offset(0, 0, 1, 0), 0x1000);
    assert_eq!(ecam_offset(1, 0, 0, 0), 0x10_0000);
    assert_eq!(ecam_offset(0x12, 0x1f, 7, 0xffc), 0x12f_fffc);
    assert_eq!(ecam_offset(0xff, 31, 7, 0xfff), 0x0fff_ffff, "256 buses span 256 MiB");
    // q35's ECAM base 0xb000_0000 + edu at 00:03.0, register 0x34.
    assert_eq!(0xb000_0000 + ecam_offset(0, 3, 0, 0x34), 0xb001_8034);
}

#[test]
fn ecam_offset_masks_out_of_range_fields_instead_of_reaching_another_bus() {
    // Device 32 would carry into the bus field; masked, it stays on bus 0.
    assert!(ecam_offset(0, 32, 0, 0) < 1 << 20);
    assert!(ecam_offset(0, 0, 8, 0) < 1 << 15);
    assert!(ecam_offset(0, 0, 0, 0x1000) < 1 << 12);
    assert!(!Bdf::new(0, 0, 32, 0).is_valid());
    assert!(!Bdf::new(0, 0, 0, 8).is_valid());
    assert!(Bdf::new(0, 255, 31, 7).is_valid());
}

#[test]
fn legacy_address_sets_enable_bus_device_function_and_dword() {
    let bdf = Bdf::new(0, 0, 0, 0);
    assert_eq!(legacy_address(bdf, 0), 0x8000_0000, "bit 31 enables the configuration cycle");
    // 00:1f.3 register 0x20: 0x80000000 | 31 << 11 | 3 << 8 | 0x20
    assert_eq!(legacy_address(Bdf::new(0, 0, 31, 3), 0x20), 0x8000_fb20);
    // bus 2, device 1, function 0, register 0x3c
    assert_eq!(legacy_address(Bdf::new(0, 2, 1, 0), 0x3c), 0x8002_083c);
    // Bits 1:0 are zero: the byte is selected with port 0xCFC + (offset & 3).
    assert_eq!(legacy_address(Bdf::new(0, 0, 1, 0), 0x3e), 0x8000_083c);
    assert_eq!(legacy_address(Bdf::new(0, 0xff, 31, 7), 0xff), 0x80ff_fffc);
}

#[test]
fn bdf_prints_like_linux() {
    assert_eq!(Bdf::new(0, 0, 2, 0).to_string(), "0000:00:02.0");
    assert_eq!(Bdf::new(1, 0x1a, 0x1f, 7).to_string(), "0001:1a:1f.7");
    assert_eq!(Bdf::new(0, 3, 0, 0).short().to_string(), "03:00.0");
    assert_eq!(Bdf::new(0, 0, 0x1f, 3).devfn(), 0xfb);
}

fn one_device() -> (SimPci, Bdf) {
    let f = SimFunction::endpoint(0x8086, 0x100e)
        .class(0x02, 0x00, 0x00)
        .revision(0x03)
        // Received master abort (bit 13, RW1C) latched.
        .status_bits(1 << 13)
        .command(0x0006);
    (SimPci::new().device(1, 0, f), Bdf::new(0, 0, 1, 0))
}

#[test]
fn narrow_reads_pick_the_right_lanes() {
    let (pci, bdf) = one_device();
    assert_eq!(pci.read16(bdf, 0x00), 0x8086);
    assert_eq!(pci.read16(bdf, 0x02), 0x100e);
    assert_eq!(pci.read8(bdf, 0x08), 0x03);
    assert_eq!(pci.read8(bdf, 0x0b), 0x02);
    assert_eq!(pci.read8(bdf, 0x01), 0x80);
    assert_eq!(pci.read16(bdf, 0x06), 1 << 13);
}

#[test]
fn writing_command_does_not_clear_latched_status_bits() {
    let (pci, bdf) = one_device();
    pci.write16(bdf, 0x04, 0x0007);
    assert_eq!(pci.read16(bdf, 0x04), 0x0007);
    assert_eq!(pci.read16(bdf, 0x06), 1 << 13, "a careless read-modify-write would have written the 1 back");
    pci.write8(bdf, 0x04, 0x02);
    assert_eq!(pci.read16(bdf, 0x04), 0x0002);
    assert_eq!(pci.read16(bdf, 0x06), 1 << 13);
    // The write that reached the device had zero in the status half.
    let last = *pci.writes().last().unwrap();
    assert_eq!((last.offset, last.value >> 16), (0x04, 0));
}

#[test]
fn writing_status_clears_only_the_targeted_bit_and_keeps_command() {
    let f = SimFunction::endpoint(0x1234, 0x11e8).command(0x0002).status_bits(1 << 13 | 1 << 15);
    let pci = SimPci::new().device(0, 0, f);
    let bdf = Bdf::new(0, 0, 0, 0);
    pci.write16(bdf, 0x06, 1 << 13);
    assert_eq!(pci.read16(bdf, 0x06), 1 << 15);
    assert_eq!(pci.read16(bdf, 0x04), 0x0002);
}

#[test]
fn narrow_writes_elsewhere_keep_the_neighbouring_bytes() {
    let (pci, bdf) = one_device();
    // Interrupt line (0x3c) shares its dword with the read-only pin, and
    // cache line size (0x0c) with the latency timer.
    pci.write8(bdf, 0x0d, 0x40);
    pci.write8(bdf, 0x0c, 0x10);
    assert_eq!(pci.read16(bdf, 0x0c), 0x4010);
    pci.write8(bdf, 0x3c, 11);
    assert_eq!(pci.read8(bdf, 0x3c), 11);
}

#[test]
fn update_command_sets_and_clears_and_skips_no_op_writes() {
    let (pci, bdf) = one_device();
    assert_eq!(update_command(&pci, bdf, 0x0004, 0x0002), 0x0006);
    assert_eq!(pci.read16(bdf, 0x04), 0x0004);
    pci.clear_writes();
    update_command(&pci, bdf, 0x0004, 0);
    assert!(pci.writes().is_empty(), "nothing to change, nothing written");
}

#[test]
fn absent_functions_read_all_ones_and_are_counted() {
    let (pci, _) = one_device();
    assert_eq!(pci.read32(Bdf::new(0, 0, 5, 0), 0), 0xffff_ffff);
    assert_eq!(pci.read32(Bdf::new(0, 9, 0, 0), 0), 0xffff_ffff, "no bridge routes bus 9");
    assert_eq!(pci.read32(Bdf::new(1, 0, 1, 0), 0), 0xffff_ffff, "another segment");
    assert!(!pci::config::is_present(&pci, Bdf::new(0, 0, 5, 0)));
    assert!(pci::config::is_present(&pci, Bdf::new(0, 0, 1, 0)));
    assert_eq!(pci.stats().master_aborts, 4);
}

#[test]
fn counting_wrapper_counts_dwords() {
    let (pci, bdf) = one_device();
    let counting = Counting::new(&pci);
    counting.read16(bdf, 0);
    counting.write16(bdf, 0x04, 0);
    assert_eq!((counting.reads(), counting.writes()), (2, 1), "a 16-bit write is a read and a write");
}
