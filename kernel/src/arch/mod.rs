//! Architecture support. Only x86-64 (QEMU q35) for now; RISC-V `virt` next.

mod x86_64;
pub use self::x86_64::*;
