//! MSI and MSI-X programming (PCI 3.0 §6.8). Offsets are hand-computed from
//! the capability layouts in §6.8.1 and §6.8.2.

use pci::msi::{self, MsiCap, MsiError, MsixCap, MsixTable};
use pci::sim::{SimBar, SimFunction, SimMsixTable, SimPba, SimPci};
use pci::{Bdf, ConfigAccess};

const DEV: Bdf = Bdf::new(0, 0, 3, 0);
// PM takes 0x40..0x48, so MSI starts at 0x48.
const MSI_AT: u16 = 0x48;

fn msi_device(vectors_log2: u8, is_64: bool, pvm: bool) -> (SimPci, MsiCap) {
    let f = SimFunction::endpoint(0x1234, 0x11e8).power_management().msi(vectors_log2, is_64, pvm);
    let pci = SimPci::new().device(3, 0, f);
    let cap = MsiCap::find(&pci, DEV).unwrap().unwrap();
    (pci, cap)
}

/// Writes after the capability lookup, as (offset, value).
fn writes(pci: &SimPci) -> Vec<(u16, u32)> {
    pci.writes().iter().map(|w| (w.offset, w.value)).collect()
}

#[test]
fn msi_capability_fields_are_parsed() {
    let (_, cap) = msi_device(3, true, true);
    assert_eq!(cap, MsiCap { offset: MSI_AT, multiple_message_capable: 3, is_64bit: true, per_vector_masking: true });
    assert_eq!(cap.max_vectors(), 8);
    assert_eq!((cap.data_offset(), cap.mask_offset(), cap.pending_offset()), (0x54, Some(0x58), Some(0x5c)));
    let (_, cap) = msi_device(0, false, false);
    assert_eq!((cap.data_offset(), cap.mask_offset()), (0x50, None));
    let (_, cap) = msi_device(0, false, true);
    assert_eq!((cap.mask_offset(), cap.pending_offset()), (Some(0x54), Some(0x58)));
}

#[test]
fn configure_32_bit_writes_address_data_then_enable() {
    let (pci, cap) = msi_device(0, false, false);
    msi::configure(&pci, DEV, &cap, 0xfee0_1000, 0x0041, 0).unwrap();
    assert_eq!(
        writes(&pci),
        [
            (0x4c, 0xfee0_1000), // Message Address
            (0x50, 0x0000_0041), // Message Data (upper half reserved, 0)
            (0x48, 0x0000_0005), // control: MME = 0, id 5 (read-only, ignored)
            (0x48, 0x0001_0005), // control: enable
        ]
    );
    assert_eq!(pci.read32(DEV, 0x4c), 0xfee0_1000);
    assert_eq!(pci.read16(DEV, 0x50), 0x41);
    assert!(cap.is_enabled(&pci, DEV));
}

#[test]
fn configure_64_bit_with_multiple_messages() {
    let (pci, cap) = msi_device(3, true, false);
    msi::configure(&pci, DEV, &cap, 0x1_fee0_0000, 0x0050, 2).unwrap();
    let w = writes(&pci);
    assert_eq!(w[0], (0x4c, 0xfee0_0000), "address low");
    assert_eq!(w[1], (0x50, 0x0000_0001), "address high");
    assert_eq!(w[2], (0x54, 0x0000_0050), "data in the 64-bit layout");
    // Control: MMC = 3 (bits 3:1) and 64-bit (bit 7) are read-only; MME = 2
    // in bits 6:4 before enable, then enable.
    assert_eq!(w[3], (0x48, (0x0020 | 0x0086) << 16 | 0x05));
    assert_eq!(w[4], (0x48, (0x0021 | 0x0086) << 16 | 0x05));
    assert_eq!(w.len(), 5);
    assert_eq!(pci.read16(DEV, MSI_AT + 2), 0x00a7, "enabled, MME 2, MMC 3, 64-bit");
}

#[test]
fn reconfiguring_turns_msi_off_first() {
    let (pci, cap) = msi_device(0, false, false);
    msi::configure(&pci, DEV, &cap, 0xfee0_0000, 0x30, 0).unwrap();
    pci.clear_writes();
    msi::configure(&pci, DEV, &cap, 0xfee0_1000, 0x31, 0).unwrap();
    assert_eq!(writes(&pci)[0], (0x48, 0x0000_0005), "disable before touching address or data");
    msi::disable(&pci, DEV, &cap);
    assert!(!cap.is_enabled(&pci, DEV));
}

#[test]
fn configure_refuses_bad_requests_without_writing() {
    let (pci, cap) = msi_device(1, false, false);
    assert_eq!(
        msi::configure(&pci, DEV, &cap, 0xfee0_0000, 0x40, 2),
        Err(MsiError::TooManyVectors { requested_log2: 2, capable_log2: 1 })
    );
    assert_eq!(msi::configure(&pci, DEV, &cap, 0x1_0000_0000, 0x40, 0), Err(MsiError::AddressTooWide(0x1_0000_0000)));
    assert_eq!(msi::configure(&pci, DEV, &cap, 0xfee0_0002, 0x40, 0), Err(MsiError::AddressMisaligned(0xfee0_0002)));
    assert_eq!(
        msi::configure(&pci, DEV, &cap, 0xfee0_0000, 0x41, 1),
        Err(MsiError::DataMisaligned { data: 0x41, count_log2: 1 })
    );
    assert!(pci.writes().is_empty());
}

#[test]
fn per_vector_masking() {
    let (pci, cap) = msi_device(2, true, true);
    msi::set_mask(&pci, DEV, &cap, 2, true).unwrap();
    assert_eq!(pci.read32(DEV, 0x58), 0b0100);
    assert_eq!(msi::is_masked(&pci, DEV, &cap, 2), Ok(true));
    msi::set_mask(&pci, DEV, &cap, 0, true).unwrap();
    msi::set_mask(&pci, DEV, &cap, 2, false).unwrap();
    assert_eq!(pci.read32(DEV, 0x58), 0b0001);
    assert_eq!(msi::is_pending(&pci, DEV, &cap, 0), Ok(false));
    assert_eq!(msi::set_mask(&pci, DEV, &cap, 4, true), Err(MsiError::VectorOutOfRange { vector: 4, count: 4 }));
    let (pci, cap) = msi_device(2, true, false);
    assert_eq!(msi::set_mask(&pci, DEV, &cap, 0, true), Err(MsiError::NoPerVectorMasking));
}

#[test]
fn wrong_capability_is_refused() {
    let (pci, _) = msi_device(0, false, false);
    assert_eq!(MsiCap::read(&pci, DEV, 0x40), Err(MsiError::WrongCapability { offset: 0x40, id: 0x01 }));
    assert_eq!(MsixCap::find(&pci, DEV), Ok(None));
}

fn msix_device() -> (SimPci, MsixCap) {
    let f = SimFunction::endpoint(0x1b36, 0x0010)
        .bar(0, SimBar::mem64(0x4000))
        .msix(64, 0, 0x2000, 0, 0x3000)
        .msix(8, 2, 0x800, 4, 0x10); // a second one, to show find() takes the first
    let pci = SimPci::new().device(3, 0, f);
    let cap = MsixCap::find(&pci, DEV).unwrap().unwrap();
    (pci, cap)
}

#[test]
fn msix_capability_fields_are_parsed() {
    let (_, cap) = msix_device();
    assert_eq!(
        cap,
        MsixCap { offset: 0x40, table_size: 64, table_bar: 0, table_offset: 0x2000, pba_bar: 0, pba_offset: 0x3000 }
    );
    assert_eq!((cap.table_bytes(), cap.pba_bytes()), (1024, 8));
    let f = SimFunction::endpoint(1, 2).msix(2048, 2, 0x800, 4, 0x10);
    let pci = SimPci::new().device(3, 0, f);
    let cap = MsixCap::find(&pci, DEV).unwrap().unwrap();
    assert_eq!(
        (cap.table_size, cap.table_bar, cap.table_offset, cap.pba_bar, cap.pba_offset),
        (2048, 2, 0x800, 4, 0x10)
    );
    assert_eq!(cap.pba_bytes(), 256);
    let f = SimFunction::endpoint(1, 2).msix(4, 6, 0, 0, 0x100);
    let pci = SimPci::new().device(3, 0, f);
    assert_eq!(MsixCap::find(&pci, DEV), Err(MsiError::ReservedBir(6)));
}

#[test]
fn msix_enable_and_function_mask_bits() {
    let (pci, cap) = msix_device();
    cap.set_function_mask(&pci, DEV, true);
    cap.enable(&pci, DEV);
    assert_eq!(pci.read16(DEV, 0x42), 0xc000 | 63, "enable (15), function mask (14), table size - 1");
    assert!(cap.is_enabled(&pci, DEV) && cap.is_function_masked(&pci, DEV));
    cap.set_function_mask(&pci, DEV, false);
    assert_eq!(pci.read16(DEV, 0x42), 0x8000 | 63);
    cap.disable(&pci, DEV);
    assert!(!cap.is_enabled(&pci, DEV));
}

#[test]
fn msix_entry_is_written_while_masked_then_unmasked() {
    let (_, cap) = msix_device();
    let table = SimMsixTable::new(64);
    cap.write_entry(&table, 3, 0xfee0_2000, 0x4061).unwrap();
    // Entry 3 is at 3 * 16 = 0x30. It starts masked (reset value), so the
    // first write is the address.
    assert_eq!(table.writes(), [(0x30, 0xfee0_2000), (0x34, 0), (0x38, 0x4061), (0x3c, 0)]);
    assert_eq!(table.unsafe_updates(), 0);
    assert_eq!(cap.read_entry(&table, 3), Ok((0xfee0_2000, 0x4061)));
    assert_eq!(cap.is_masked(&table, 3), Ok(false));

    // Rewriting a live (unmasked) entry masks it first.
    let before = table.writes().len();
    cap.write_entry(&table, 3, 0x1_fee0_3000, 0x4062).unwrap();
    assert_eq!(&table.writes()[before..], [(0x3c, 1), (0x30, 0xfee0_3000), (0x34, 1), (0x38, 0x4062), (0x3c, 0)]);
    assert_eq!(table.unsafe_updates(), 0, "address and data never changed while unmasked");
    assert_eq!(table.out_of_range(), 0);
}

#[test]
fn msix_mask_unmask_pending_and_bounds() {
    let (_, cap) = msix_device();
    let table = SimMsixTable::new(64);
    assert_eq!(cap.is_masked(&table, 63), Ok(true), "entries reset masked");
    cap.unmask(&table, 63).unwrap();
    assert_eq!(table.read32(63 * 16 + 12), 0);
    cap.mask(&table, 63).unwrap();
    assert_eq!(table.read32(63 * 16 + 12), 1);
    assert_eq!(cap.mask(&table, 64), Err(MsiError::VectorOutOfRange { vector: 64, count: 64 }));
    assert_eq!(cap.write_entry(&table, 1, 0xfee0_0001, 0), Err(MsiError::AddressMisaligned(0xfee0_0001)));
    assert_eq!(table.out_of_range(), 0);

    let pba = SimPba::new(64);
    pba.set_pending(33, true);
    assert_eq!(cap.pending(&pba, 33), Ok(true));
    assert_eq!(cap.pending(&pba, 32), Ok(false));
    assert_eq!(cap.pending(&pba, 1), Ok(false));
    pba.set_pending(1, true);
    assert_eq!(cap.pending(&pba, 1), Ok(true));
    assert_eq!(cap.pending(&pba, 64), Err(MsiError::VectorOutOfRange { vector: 64, count: 64 }));
}
