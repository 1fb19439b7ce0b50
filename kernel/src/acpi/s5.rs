//! Finding the S5 (soft-off) sleep type without an AML interpreter.
//!
//! Powering off through ACPI means writing `SLP_TYPa | SLP_EN` to the PM1a
//! control register (ACPI spec §4.8.3.2.1, §7.4.2), where `SLP_TYPa` comes
//! from the DSDT object `\_S5`, a package of integers. The `aml` crate does
//! not build on stable Rust, and a full interpreter is not this kernel's
//! mission, so we recognise the one shape firmware uses for it:
//!
//! ```text
//! NameOp(0x08) ['\\'] "_S5_" PackageOp(0x12) PkgLength NumElements
//!     (BytePrefix(0x0A) n | ZeroOp(0x00) | OneOp(0x01)) …
//! ```
//! (ACPI spec §20.2.5.1 Namespace Modifier Objects, §20.2.5.4 Data Objects,
//! §20.2.4 PkgLength encoding.)

const NAME_OP: u8 = 0x08;
const PACKAGE_OP: u8 = 0x12;
const ZERO_OP: u8 = 0x00;
const ONE_OP: u8 = 0x01;
const BYTE_PREFIX: u8 = 0x0a;

/// Returns SLP_TYPa of `\_S5`, or `None` if the DSDT does not define it in
/// the simple form.
pub fn find_s5_sleep_type(aml: &[u8]) -> Option<u8> {
    let at = aml.windows(4).position(|w| w == b"_S5_")?;
    // Must be a Name definition: NameOp, optionally followed by a root prefix.
    let before = &aml[..at];
    let is_name = matches!(before, [.., NAME_OP]) || matches!(before, [.., NAME_OP, b'\\']);
    if !is_name {
        return None;
    }
    let rest = aml.get(at + 4..)?;
    if *rest.first()? != PACKAGE_OP {
        return None;
    }
    // PkgLength: the top two bits of the lead byte say how many bytes follow.
    let lead = *rest.get(1)?;
    let pkg_len_bytes = 1 + usize::from(lead >> 6);
    let first_element = 1 + pkg_len_bytes + 1; // PackageOp, PkgLength, NumElements
    match *rest.get(first_element)? {
        ZERO_OP => Some(0),
        ONE_OP => Some(1),
        BYTE_PREFIX => rest.get(first_element + 1).copied(),
        _ => None,
    }
}

mod ktests {
    use super::find_s5_sleep_type;
    use crate::{check_eq, ktest};

    ktest! {
        fn s5_package_forms() {
            // Name(_S5, Package(4) { 0x05, 0, 0, 0 }) with a BytePrefix value.
            check_eq!(find_s5_sleep_type(b"\x10\x08_S5_\x12\x0a\x04\x0a\x05\x00\x00\x00"), Some(5));
            // QEMU's form: ZeroOp elements, root-prefixed name.
            check_eq!(find_s5_sleep_type(b"\x08\\_S5_\x12\x06\x04\x00\x00\x00\x00"), Some(0));
            // OneOp.
            check_eq!(find_s5_sleep_type(b"\x08_S5_\x12\x06\x04\x01\x00\x00\x00"), Some(1));
            // A method call named _S5_, not a Name: not ours to interpret.
            check_eq!(find_s5_sleep_type(b"\x14_S5_\x12\x06\x04\x01"), None);
            // Truncated and absent.
            check_eq!(find_s5_sleep_type(b"\x08_S5_\x12"), None);
            check_eq!(find_s5_sleep_type(b"no sleep states here"), None);
        }

        fn s5_found_in_this_machines_dsdt() {
            let info = crate::acpi::info().ok_or("ACPI not parsed")?;
            check_eq!(info.s5_sleep_type, Some(0));
            check_eq!(info.pm1a_control_port, Some(0x604));
        }
    }
}
