//! Block devices from the shell: `lsblk`, `blk read|write|verify|flush|
//! stress|sched|bench`, `blkstat` and `bcache`. Data written by the shell
//! is `block::pattern` data, which the host regenerates to check disk
//! images; reads print an FNV-1a digest the host can compare.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use ::block::pattern::{self, Fnv1a64};
use ::block::stress::{Sequence, StressOp};
use ::block::SECTOR_SIZE;

use super::commands::{no_args, parse_number};
use crate::block::{self, bcache, bench, io, Disk};
use crate::println;

/// The pattern `blk write` and `blk verify` use when no seed is given.
const DEFAULT_SEED: u64 = 1;
/// Largest single shell transfer (sectors): 4 MiB.
const MAX_SECTORS: u64 = 8192;

fn disk(name: &str) -> Result<Arc<Disk>, String> {
    block::by_name(name).ok_or_else(|| alloc::format!("error: no block device '{name}' (see lsblk)"))
}

fn human(sectors: u64) -> String {
    let bytes = sectors * SECTOR_SIZE as u64;
    if bytes >= 1 << 30 {
        alloc::format!("{}GiB", bytes >> 30)
    } else if bytes >= 1 << 20 {
        alloc::format!("{}MiB", bytes >> 20)
    } else {
        alloc::format!("{}KiB", bytes >> 10)
    }
}

pub fn lsblk(args: &[&str]) -> Result<(), String> {
    no_args(args)?;
    println!(
        "{:<8} {:<4} {:>10} {:>8} {:<6} {:<8} {:<10} SIZE",
        "NAME", "TYPE", "SECTORS", "START", "PARENT", "SCHED", "DRIVER"
    );
    for d in block::all() {
        let (kind, start, parent) = match d.partition_info() {
            Some((parent, start, _)) => ("part", start, String::from(parent)),
            None => ("disk", 0, String::from("-")),
        };
        let driver = if kind == "disk" { d.driver().driver_name() } else { "-" };
        println!(
            "{:<8} {:<4} {:>10} {:>8} {:<6} {:<8} {:<10} {}",
            d.name,
            kind,
            d.sectors(),
            start,
            parent,
            d.scheduler_name(),
            driver,
            human(d.sectors())
        );
    }
    Ok(())
}

/// `<dev> <sector> <count>` → the disk and a checked range.
fn range(dev: &str, sector: &str, count: &str) -> Result<(Arc<Disk>, u64, u64), String> {
    let d = disk(dev)?;
    let sector = parse_number(sector).map_err(|e| alloc::format!("error: {e}"))?;
    let count = parse_number(count).map_err(|e| alloc::format!("error: {e}"))?;
    if count == 0 || count > MAX_SECTORS {
        return Err(alloc::format!("error: count must be 1..={MAX_SECTORS} sectors"));
    }
    Ok((d, sector, count))
}

/// The pattern seed of `blk write|verify` (default 1).
fn parse_seed(seed: &[&str]) -> Result<u64, String> {
    seed.first().map_or(Ok(DEFAULT_SEED), |s| parse_number(s).map_err(|e| alloc::format!("error: {e}")))
}

fn io_err(d: &Disk, e: block::IoError) -> String {
    alloc::format!("{}: error: {e}", d.name)
}

pub fn blk(args: &[&str]) -> Result<(), String> {
    match args {
        ["read", dev, sector, count] => {
            let (d, sector, count) = range(dev, sector, count)?;
            let mut data = alloc::vec![0u8; (count as usize) * SECTOR_SIZE];
            io::read(&d, sector, &mut data).map_err(|e| io_err(&d, e))?;
            println!(
                "blk read {} {sector}+{count}: {} bytes fnv1a64={:016x}",
                d.name,
                data.len(),
                pattern::fnv1a64(&data)
            );
            Ok(())
        }
        ["write", dev, sector, count, seed @ ..] if seed.len() <= 1 => {
            let (d, sector, count) = range(dev, sector, count)?;
            let seed = parse_seed(seed)?;
            let mut data = alloc::vec![0u8; (count as usize) * SECTOR_SIZE];
            pattern::fill(seed, sector, &mut data);
            io::write(&d, sector, &data, false).map_err(|e| io_err(&d, e))?;
            println!("blk write {} {sector}+{count}: {} bytes ok", d.name, data.len());
            Ok(())
        }
        ["verify", dev, sector, count, seed @ ..] if seed.len() <= 1 => {
            let (d, sector, count) = range(dev, sector, count)?;
            let seed = parse_seed(seed)?;
            let mut data = alloc::vec![0u8; (count as usize) * SECTOR_SIZE];
            io::read(&d, sector, &mut data).map_err(|e| io_err(&d, e))?;
            match pattern::check(seed, sector, &data) {
                Ok(()) => println!("blk verify {} {sector}+{count}: ok", d.name),
                Err(m) => println!(
                    "blk verify {} {sector}+{count}: mismatch at sector {} offset {}",
                    d.name, m.sector, m.offset
                ),
            }
            Ok(())
        }
        ["flush", dev] => {
            let d = disk(dev)?;
            io::flush(&d).map_err(|e| io_err(&d, e))?;
            println!("blk flush {}: ok", d.name);
            Ok(())
        }
        ["stress", dev, ops, seed, max] => stress(dev, ops, seed, max),
        ["sched", dev] => {
            let d = disk(dev)?;
            let current = d.scheduler_name();
            let names: Vec<String> = ::block::sched::NAMES
                .iter()
                .map(|n| if *n == current { alloc::format!("[{n}]") } else { String::from(*n) })
                .collect();
            println!("{}: {}", d.name, names.join(" "));
            Ok(())
        }
        ["sched", dev, name] => {
            let d = disk(dev)?;
            d.set_scheduler(name).map_err(|e| alloc::format!("{}: error: {e}", d.name))?;
            println!("{}: scheduler {name}", d.name);
            Ok(())
        }
        ["bench", dev, kind, qd, bs, ms] => {
            let d = disk(dev)?;
            let kind = bench::Kind::parse(kind).ok_or("error: kind is randread, seqread or seqwrite")?;
            let qd = parse_number(qd).map_err(|e| alloc::format!("error: {e}"))? as usize;
            let bs = parse_number(bs).map_err(|e| alloc::format!("error: {e}"))? as usize;
            let ms = parse_number(ms).map_err(|e| alloc::format!("error: {e}"))?;
            if !(1..=256).contains(&qd)
                || bs == 0
                || !bs.is_multiple_of(SECTOR_SIZE)
                || bs > 4 << 20
                || ms == 0
                || ms > 60_000
            {
                return Err("error: need 1 <= qd <= 256, bs a multiple of 512 up to 4 MiB, 1 <= ms <= 60000".into());
            }
            let o = bench::run(&d, kind, qd, bs, ms).map_err(|e| alloc::format!("error: {e}"))?;
            let us = (o.elapsed_ns / 1000).max(1);
            let iops = o.ops * 1_000_000 / us;
            let centi_mbps = o.bytes * 100 / us; // bytes/µs = MB/s
            println!(
                "blk bench {} {} qd={qd} bs={bs}: ops={} bytes={} us={us} iops={iops} mbps={}.{:02}",
                d.name,
                args[2],
                o.ops,
                o.bytes,
                centi_mbps / 100,
                centi_mbps % 100
            );
            Ok(())
        }
        _ => Err("error: unknown or incomplete subcommand".into()),
    }
}

/// Runs the shared random sequence against a disk, one operation at a
/// time; the host replays it against its model of the disk.
fn stress(dev: &str, ops: &str, seed: &str, max: &str) -> Result<(), String> {
    let d = disk(dev)?;
    let ops = parse_number(ops).map_err(|e| alloc::format!("error: {e}"))?;
    let seed = parse_number(seed).map_err(|e| alloc::format!("error: {e}"))?;
    let max = parse_number(max).map_err(|e| alloc::format!("error: {e}"))?;
    if max == 0 || max > 256 {
        return Err("error: max_sectors must be 1..=256".into());
    }
    let (mut reads, mut writes, mut errors) = (0u64, 0u64, 0u64);
    let mut digest = Fnv1a64::new();
    let mut data = Vec::new();
    for op in Sequence::new(seed, d.sectors(), max as u32).take(ops as usize) {
        let result = match op {
            StressOp::Read { sector, sectors } => {
                data.resize(sectors as usize * SECTOR_SIZE, 0);
                reads += 1;
                io::read(&d, sector, &mut data).map(|()| digest.update(&data))
            }
            StressOp::Write { sector, sectors, seed } => {
                data.resize(sectors as usize * SECTOR_SIZE, 0);
                pattern::fill(seed, sector, &mut data);
                writes += 1;
                io::write(&d, sector, &data, false)
            }
        };
        if let Err(e) = result {
            errors += 1;
            if errors <= 3 {
                println!("{}: error: {e}", d.name);
            }
        }
    }
    println!(
        "blk stress {}: {ops} ops {reads} reads {writes} writes digest={:016x} errors={errors}",
        d.name,
        digest.finish()
    );
    Ok(())
}

pub fn blkstat(args: &[&str]) -> Result<(), String> {
    no_args(args)?;
    for d in block::all() {
        let Some(s) = d.stats() else { continue };
        println!(
            "{}: requests={} bios={} merges={} reads={} writes={} flushes={} errors={} in_flight={} max_in_flight={}",
            d.name,
            s.requests,
            s.bios,
            s.merges,
            s.reads,
            s.writes,
            s.flushes,
            s.errors,
            d.in_flight(),
            s.max_in_flight
        );
        let mut line = alloc::format!("{} latency_us:", d.name);
        let mut below = 0;
        for (upper, count) in s.latency.buckets() {
            if upper == u64::MAX {
                line.push_str(&alloc::format!(" >{below}:{count}"));
            } else {
                line.push_str(&alloc::format!(" <={upper}:{count}"));
            }
            below = upper;
        }
        println!("{line} p50={} p99={}", s.latency.percentile(50.0), s.latency.percentile(99.0));
        let driver = d.driver().stats();
        if !driver.is_empty() {
            let mut line = alloc::format!("{} driver:", d.name);
            for (k, v) in driver {
                line.push_str(&alloc::format!(" {k}={v}"));
            }
            println!("{line}");
        }
    }
    Ok(())
}

pub fn bcache_cmd(args: &[&str]) -> Result<(), String> {
    match args {
        ["read", dev, block] => {
            let d = disk(dev)?;
            let block = parse_number(block).map_err(|e| alloc::format!("error: {e}"))?;
            let mut data = alloc::vec![0u8; bcache::BLOCK_SIZE];
            bcache::with(&d, |cache, io| cache.read(io, block, &mut data))
                .map_err(|e| alloc::format!("{}: error: {e}", d.name))?;
            println!("bcache read {} {block}: fnv1a64={:016x}", d.name, pattern::fnv1a64(&data));
            Ok(())
        }
        ["write", dev, block, seed] => {
            let d = disk(dev)?;
            let block = parse_number(block).map_err(|e| alloc::format!("error: {e}"))?;
            let seed = parse_number(seed).map_err(|e| alloc::format!("error: {e}"))?;
            let mut data = alloc::vec![0u8; bcache::BLOCK_SIZE];
            pattern::fill(seed, block * (bcache::BLOCK_SIZE / SECTOR_SIZE) as u64, &mut data);
            bcache::with(&d, |cache, io| cache.write(io, block, &data))
                .map_err(|e| alloc::format!("{}: error: {e}", d.name))?;
            println!("bcache write {} {block}: ok (dirty)", d.name);
            Ok(())
        }
        ["sync"] => {
            let n = bcache::sync().map_err(|e| alloc::format!("error: {e}"))?;
            println!("bcache sync: {n} blocks written");
            Ok(())
        }
        ["stats"] => {
            let all = bcache::stats();
            if all.is_empty() {
                println!("bcache: hits=0 misses=0 dirty=0 writebacks=0 evictions=0 cached=0");
            }
            for (name, s) in all {
                println!(
                    "bcache: dev={name} hits={} misses={} dirty={} writebacks={} evictions={} cached={}",
                    s.hits, s.misses, s.dirty, s.writebacks, s.evictions, s.cached
                );
            }
            Ok(())
        }
        _ => Err("error: unknown or incomplete subcommand".into()),
    }
}
