//! `edu fact <n>`, `edu dma <bytes>`, `edu mode intx|msi`, `edu stats`:
//! QEMU's educational device through the whole stack (PCI, interrupts,
//! DMA), each result checked.

use alloc::string::String;

use super::commands::parse_number;
use crate::bus::pci::irq::IrqKind;
use crate::devices::edu;
use crate::{print, println};

/// n! as edu computes it: in 32 bits, wrapping.
fn expected_factorial(n: u32) -> u32 {
    (1..=n).fold(1u32, |acc, k| acc.wrapping_mul(k))
}

/// Runs the command on every bound edu device.
pub fn edu(args: &[&str]) -> Result<(), String> {
    let devs = edu::all();
    if devs.is_empty() {
        return Err("no edu device bound".into());
    }
    for dev in devs {
        print!("{} ", dev.bdf());
        one(&dev, args)?;
    }
    Ok(())
}

fn one(dev: &edu::Handle, args: &[&str]) -> Result<(), String> {
    match args {
        ["fact", n] => {
            let n = parse_number(n)? as u32;
            let got = dev.factorial(n)?;
            let ok = got == expected_factorial(n);
            println!("edu: {n}! = {got} ({:?} interrupt){}", dev.mode(), if ok { "" } else { " WRONG" });
            Ok(())
        }
        ["dma", bytes] => {
            let len = parse_number(bytes)? as usize;
            if !(1..=::edu::regs::MAX_DMA_LEN).contains(&len) {
                return Err(alloc::format!("bytes must be 1..={}", ::edu::regs::MAX_DMA_LEN));
            }
            let data: alloc::vec::Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let back = dev.dma_round_trip(&data)?;
            let verdict = if back == data { "verified" } else { "MISMATCH" };
            println!("edu: DMA round trip of {len} bytes {verdict} ({:?} interrupt)", dev.mode());
            Ok(())
        }
        ["mode", mode] => {
            let kind = match *mode {
                "msi" => IrqKind::Msi,
                "intx" => IrqKind::Intx,
                _ => return Err("mode is intx or msi".into()),
            };
            let got = dev.set_mode(&[kind]).map_err(|e| alloc::format!("{e}"))?;
            println!("edu: interrupts via {got:?} (irq {})", dev.irq().unwrap_or(0));
            Ok(())
        }
        ["stats"] => {
            let s = dev.stats();
            println!(
                "edu: factorials {} dma to/from {}/{} interrupts {} (factorial {}, dma {}) not mine {} timeouts {}",
                s.factorials, s.dma_to, s.dma_from, s.interrupts, s.factorial_irqs, s.dma_irqs, s.not_mine, s.timeouts
            );
            Ok(())
        }
        _ => Err("expected: fact <n> | dma <bytes> | mode intx|msi | stats".into()),
    }
}
