//! virtio's INTx fallback, end to end. With `virtio.irq=intx` both virtio
//! devices share level-triggered IOAPIC lines instead of MSI-X vectors, and
//! each handler must read the device's ISR register to de-assert its line
//! (virtio 1.2 §4.1.4.5). A driver that forgot would see its line fire
//! again at once, forever: the kernel's "nobody cared" guard would disable
//! it and I/O would stop. So the test does real disk and network I/O and
//! checks that it completes, that the lines are IOAPIC lines, and that the
//! devices took a bounded number of interrupts for it.

use super::blk::{parse_blk_bench, parse_blk_verify, parse_blk_write, parse_blkstat, Verify};
use super::net::{NetSession, VIRTIO};
use super::parse::{parse_cpu_table, CpuTable};
use super::tests::Note;
use crate::net::gen::{self, EchoOptions, Size};
use anyhow::{bail, ensure, Context, Result};

const ECHOES: u64 = 500;

/// The `interrupts` row of `name`: its total and whether it is an IOAPIC line.
pub fn line_of(table: &CpuTable, name: &str) -> Result<(u64, bool)> {
    let row = table
        .rows
        .iter()
        .find(|r| r.rest.split_whitespace().last() == Some(name))
        .with_context(|| format!("no `interrupts` row for {name}"))?;
    Ok((row.total(), row.rest.contains("IO-APIC")))
}

/// Checks the `virtio` command's listing: both devices, interrupting by
/// `kind`, with the features the drivers rely on negotiated.
pub fn check_virtio_listing(out: &str, kind: &str) -> Result<()> {
    for (dev, needed) in [
        ("virtio-blk vda", &["VERSION_1", "INDIRECT_DESC", "EVENT_IDX", "FLUSH"][..]),
        ("virtio-net eth1", &["VERSION_1", "EVENT_IDX", "MAC"][..]),
    ] {
        let mut lines = out.lines().skip_while(|l| !l.starts_with(dev));
        let head = lines.next().with_context(|| format!("`virtio` does not list {dev}"))?;
        ensure!(head.contains(&format!(": {kind},")), "{dev} does not interrupt by {kind}: {head:?}");
        let features = lines.next().and_then(|l| l.trim().strip_prefix("features: ")).unwrap_or("");
        let have: Vec<&str> = features.split_whitespace().collect();
        for f in needed {
            ensure!(have.contains(f), "{dev} did not negotiate {f}: {features:?}");
        }
    }
    Ok(())
}

pub fn virtio_intx_fallback_deasserts() -> Result<Note> {
    let mut ns = NetSession::boot_with(&VIRTIO, "virtio.irq=intx")?;
    let out = ns.command("virtio")?;
    check_virtio_listing(&out, "Intx").map_err(|e| ns.fail(format!("{e:#}")))?;
    let opts = EchoOptions::default();
    let echo = gen::udp_echo_latency(&mut ns.peer, ECHOES, Size::Uniform { min: 1, max: 1400, seed: 9 }, &opts);
    let echo = ns.check(echo, "UDP echo over INTx")?;
    ensure!(echo.rtts.len() as u64 == ECHOES, "{} of {ECHOES} echoes came back", echo.rtts.len());

    let out = ns.command("blk write vda 2048 64 77")?;
    parse_blk_write(&out, "vda", 2048, 64).map_err(|e| ns.fail(format!("{e:#}")))?;
    let out = ns.command("blk verify vda 2048 64 77")?;
    if parse_blk_verify(&out, "vda", 2048, 64).map_err(|e| ns.fail(format!("{e:#}")))? != Verify::Ok {
        bail!(ns.fail(format!("data written over INTx did not read back: {out}")));
    }
    let out = ns.command("blk bench vda randread 8 4096 300")?;
    let bench = parse_blk_bench(&out, "vda", "randread").map_err(|e| ns.fail(format!("{e:#}")))?;

    let out = ns.command("interrupts")?;
    let table = parse_cpu_table(&out).map_err(|e| ns.fail(format!("{e:#}: {out}")))?;
    let (blk_irqs, blk_intx) = line_of(&table, "virtio-blk").map_err(|e| ns.fail(format!("{e:#}")))?;
    let (net_irqs, net_intx) = line_of(&table, "virtio-net").map_err(|e| ns.fail(format!("{e:#}")))?;
    ensure!(blk_intx && net_intx, "virtio lines are not IOAPIC lines under virtio.irq=intx:\n{out}");
    let out = ns.command("blkstat")?;
    let stats = parse_blkstat(&out).map_err(|e| ns.fail(format!("{e:#}: {out}")))?;
    let (bios, requests) = stats.get("vda").map_or((0, 0), |s| (s.get("bios"), s.get("requests")));
    // Adjacent random reads may merge, so count bios against the bench.
    ensure!(bios >= bench.ops, "blkstat counts {bios} bios, the bench alone did {}", bench.ops);
    // Without the ISR read a level line re-fires without end: far more
    // interrupts than completions, then the line is disabled.
    ensure!(blk_irqs > 0 && blk_irqs <= requests + 16, "virtio-blk took {blk_irqs} interrupts for {requests} requests");
    let packets = 2 * ECHOES;
    ensure!(net_irqs > 0 && net_irqs <= packets + 64, "virtio-net took {net_irqs} interrupts for {packets} frames");
    Ok(Some(format!(
        "INTx: {ECHOES} echoes, {} random reads; virtio-blk {blk_irqs} interrupts for {requests} requests, \
         virtio-net {net_irqs} for {packets} frames",
        bench.ops
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_virtio_listing_is_checked() {
        let out = "virtio-blk vda: Intx, 1 vector(s)\n  features: SEG_MAX FLUSH INDIRECT_DESC EVENT_IDX VERSION_1\n  \
                   requestq: added=1\nvirtio-net eth1: Intx, 1 vector(s)\n  features: MAC STATUS EVENT_IDX VERSION_1\n";
        check_virtio_listing(out, "Intx").unwrap();
        assert!(check_virtio_listing(out, "MsiX").is_err());
        assert!(check_virtio_listing(&out.replace(" INDIRECT_DESC", ""), "Intx").is_err());
        assert!(check_virtio_listing(&out.replace("virtio-net eth1", "virtio-net eth9"), "Intx").is_err());
    }

    #[test]
    fn finds_a_line_by_its_last_word() {
        let t = parse_cpu_table(
            "            CPU0       CPU1\n  21:         5          2   IO-APIC  21-level vec 0x34 -> cpu0  virtio-net\n  \
             27:          9          0   PCI-MSI  27-edge  vec 0x35 -> cpu0  virtio-blk\n",
        )
        .unwrap();
        assert_eq!(line_of(&t, "virtio-net").unwrap(), (7, true));
        assert_eq!(line_of(&t, "virtio-blk").unwrap(), (9, false));
        assert!(line_of(&t, "e1000").is_err());
    }
}
