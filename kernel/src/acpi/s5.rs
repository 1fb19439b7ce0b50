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
