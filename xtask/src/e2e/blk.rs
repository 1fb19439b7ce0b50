//! End-to-end block tests: the host is on the other side of the disk.
//!
//! Each test boots the standard machine with its own `vblk0.img` (the
//! virtio-blk disk, `vda` in the guest). The host prepares the image before
//! boot — a test pattern, an MBR or GPT partition table made by `sfdisk` or
//! `sgdisk` — drives the kernel's `lsblk`, `blk`, `blkstat` and `bcache`
//! commands, and after `poweroff` reads the image back and compares it, byte
//! for byte, with what it expects. The data and the digests come from the
//! same code the kernel runs: `block::pattern` (sector contents derived from a
//! seed and the sector number, FNV-1a 64) and `block::stress` (the seeded
//! random workload and the model disk it is replayed on).
//!
//! One test boots a second machine whose disk fails reads of one sector
//! (QEMU's blkdebug, see [`crate::machine::InjectError`]): the kernel must
//! report the error and keep going.
//!
//! The parsers below state exactly which replies the tests rely on; they are
//! pure functions with unit tests.

use super::session::{tail_lines, Session, SessionOptions, TAIL_LINES};
use super::tests::Note;
use crate::machine::{InjectError, IsolatedMachine, Profile, QemuExit, IMAGE_SIZE, SECTOR_SIZE, VBLK_DISK};
use crate::setup;
use anyhow::{anyhow, bail, ensure, Context, Result};
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Bytes per sector.
pub const SECTOR: usize = SECTOR_SIZE as usize;
/// `vda`'s capacity in sectors: the scratch image's size.
pub const VDA_SECTORS: u64 = IMAGE_SIZE / SECTOR_SIZE;
/// `ram0`'s capacity in sectors (16 MiB).
pub const RAM0_SECTORS: u64 = 16 << 11;
/// Sectors per buffer-cache block (4 KiB).
pub const BCACHE_BLOCK_SECTORS: u64 = 8;
/// How long QEMU may take to exit after `poweroff` (the kernel flushes first).
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);
/// `blk stress vda 10000 …` under TCG: a few seconds; generous for slow CI.
const STRESS_TIMEOUT: Duration = Duration::from_secs(120);
/// A `blk bench` command: its own duration plus this.
const BENCH_SLACK: Duration = Duration::from_secs(20);
/// How long `sfdisk`/`sgdisk` may take on a 64 MiB image.
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// Seeds (any values; fixed so a failure reproduces).
const HOST_SEED: u64 = 0xb10c_0001;
const KERNEL_SEED: u64 = 0xb10c_0002;
const BACKGROUND_SEED: u64 = 0xb10c_0003;
const STRESS_SEED: u64 = 0x5_7e55;
const STRESS_OPS: u64 = 10_000;
const STRESS_MAX_SECTORS: u32 = 16;
/// The sectors the blkdebug machine fails reads and writes of: far from the
/// partition tables the kernel scans at boot (sector 0, GPT's 1..33 and the
/// last 33).
const BAD_SECTOR: u64 = 40_000;
const BAD_WRITE_SECTOR: u64 = 50_000;

// ---- the block crate, as the host uses it ----

/// `sectors` sectors of the test pattern of `seed`, starting at `first_sector`.
pub fn pattern(seed: u64, first_sector: u64, sectors: u64) -> Vec<u8> {
    let mut buf = vec![0u8; sectors as usize * SECTOR];
    block::pattern::fill(seed, first_sector, &mut buf);
    buf
}

/// FNV-1a 64 of `bytes`, as `blk read` reports it.
pub use block::pattern::fnv1a64;

/// What `blk stress <dev> <ops> <seed> <max_sectors>` must report on a disk
/// whose contents were `image`, and the image afterwards.
#[derive(Debug)]
pub struct ModelRun {
    pub reads: u64,
    pub writes: u64,
    pub digest: u64,
    pub image: Vec<u8>,
}

/// Replays the kernel's stress workload on `block::stress::DiskModel`.
pub fn stress_model(image: Vec<u8>, ops: u64, seed: u64, max_sectors: u32) -> ModelRun {
    use block::stress::{DiskModel, Sequence};
    let capacity = (image.len() / SECTOR) as u64;
    let mut model = DiskModel::new(image);
    for op in Sequence::new(seed, capacity, max_sectors).take(ops as usize) {
        model.apply(&op);
    }
    // The sequence stays inside the disk it was made for.
    debug_assert_eq!(model.rejected, 0);
    ModelRun { reads: model.reads, writes: model.writes, digest: model.reads_digest(), image: model.into_image() }
}

/// Fails unless `data` holds the pattern of `seed` from `first_sector`,
/// naming the first wrong byte.
pub fn check_pattern(seed: u64, first_sector: u64, data: &[u8], what: &str) -> Result<()> {
    block::pattern::check(seed, first_sector, data).map_err(|m| anyhow!("{what}: not the pattern of seed {seed}: {m}"))
}

// ---- the image file ----

/// Writes `data` at `sector` of the image at `path`.
pub fn write_image_at(path: &Path, sector: u64, data: &[u8]) -> Result<()> {
    let file = OpenOptions::new().write(true).open(path).with_context(|| format!("opening {}", path.display()))?;
    file.write_all_at(data, sector * SECTOR_SIZE).with_context(|| format!("writing {}", path.display()))
}

/// Reads `sectors` sectors at `sector` of the image at `path`.
pub fn read_image_at(path: &Path, sector: u64, sectors: u64) -> Result<Vec<u8>> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut buf = vec![0u8; sectors as usize * SECTOR];
    file.read_exact_at(&mut buf, sector * SECTOR_SIZE).with_context(|| format!("reading {}", path.display()))?;
    Ok(buf)
}

/// The first sector where `got` differs from `want`, with the byte offset in
/// it; a length difference counts at the shorter one's end.
pub fn first_difference(want: &[u8], got: &[u8]) -> Option<(u64, usize)> {
    let at = want.iter().zip(got).position(|(a, b)| a != b);
    let at = at.or((want.len() != got.len()).then(|| want.len().min(got.len())))?;
    Some(((at / SECTOR) as u64, at % SECTOR))
}

/// Fails with the first differing sector and how many differ in total.
pub fn compare_images(want: &[u8], got: &[u8], what: &str) -> Result<()> {
    let Some((sector, offset)) = first_difference(want, got) else {
        return Ok(());
    };
    let differing = want.chunks(SECTOR).zip(got.chunks(SECTOR)).filter(|(a, b)| a != b).count();
    bail!(
        "{what}: the image differs from the host's expectation first at sector {sector} byte {offset} \
         ({differing} sector(s) differ; sizes {} and {} bytes)",
        want.len(),
        got.len()
    )
}

/// Puts `data` at `sector` of `image` (a host-side model of a write).
fn splice(image: &mut [u8], sector: u64, data: &[u8]) {
    let at = sector as usize * SECTOR;
    image[at..at + data.len()].copy_from_slice(data);
}

// ---- replies of the kernel's shell (pure, unit-tested) ----

/// The first line of `out` that reports an error (`… error: …`).
pub fn error_line(out: &str) -> Option<&str> {
    out.lines().map(str::trim).find(|l| l.contains("error:"))
}

/// Fails if `out` reports an error.
fn no_error(out: &str) -> Result<()> {
    match error_line(out) {
        Some(line) => bail!("the kernel reported an error: {line:?}"),
        None => Ok(()),
    }
}

/// The text after `prefix` on the first line starting with it.
fn line_after<'a>(out: &'a str, prefix: &str) -> Result<&'a str> {
    no_error(out)?;
    let line = out.lines().map(str::trim).find(|l| l.starts_with(prefix));
    line.map(|l| l[prefix.len()..].trim()).with_context(|| format!("no line starting with {prefix:?}"))
}

/// `key=value` words of `text` (a trailing `:` on a value is dropped).
pub fn key_values(text: &str) -> BTreeMap<String, String> {
    text.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_end_matches(':').to_string()))
        .collect()
}

fn number<T: std::str::FromStr>(map: &BTreeMap<String, String>, key: &str) -> Result<T> {
    let v = map.get(key).with_context(|| format!("no `{key}=`"))?;
    v.parse().map_err(|_| anyhow!("`{key}={v}` is not a number"))
}

/// A 16-digit lowercase hex digest.
pub fn parse_digest(text: &str) -> Result<u64> {
    ensure!(
        text.len() == 16 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "digest {text:?} is not 16 lowercase hex digits"
    );
    Ok(u64::from_str_radix(text, 16)?)
}

/// One row of `lsblk`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlkDev {
    pub name: String,
    /// `disk` or `part`.
    pub kind: String,
    pub sectors: u64,
    /// First sector on the parent (0 for a disk).
    pub start: u64,
    pub parent: Option<String>,
    pub sched: Option<String>,
    pub driver: Option<String>,
    /// Human text (`64MiB`).
    pub size: String,
}

/// `lsblk`'s columns.
pub const LSBLK_HEADER: [&str; 8] = ["NAME", "TYPE", "SECTORS", "START", "PARENT", "SCHED", "DRIVER", "SIZE"];

/// Parses `lsblk`: the header, then one row per device (unique names).
pub fn parse_lsblk(out: &str) -> Result<Vec<BlkDev>> {
    no_error(out)?;
    let mut lines = out.lines().map(str::trim).filter(|l| !l.is_empty());
    let header = lines.next().context("`lsblk` printed nothing")?;
    ensure!(
        header.split_whitespace().eq(LSBLK_HEADER),
        "the header is {header:?}, expected {:?}",
        LSBLK_HEADER.join(" ")
    );
    let dash = |w: &str| (w != "-").then(|| w.to_string());
    let mut devs: Vec<BlkDev> = Vec::new();
    for line in lines {
        let w: Vec<&str> = line.split_whitespace().collect();
        ensure!(w.len() >= LSBLK_HEADER.len(), "row {line:?} has {} columns, expected {}", w.len(), LSBLK_HEADER.len());
        let num = |i: usize| {
            w[i].parse::<u64>().map_err(|_| anyhow!("{} {:?} is not a number in {line:?}", LSBLK_HEADER[i], w[i]))
        };
        let dev = BlkDev {
            name: w[0].to_string(),
            kind: w[1].to_string(),
            sectors: num(2)?,
            start: num(3)?,
            parent: dash(w[4]),
            sched: dash(w[5]),
            driver: dash(w[6]),
            size: w[7..].join(" "),
        };
        ensure!(["disk", "part"].contains(&dev.kind.as_str()), "TYPE {:?} in {line:?} is not disk or part", dev.kind);
        ensure!(
            (dev.kind == "part") == dev.parent.is_some(),
            "{line:?}: a partition, and only a partition, has a PARENT"
        );
        ensure!(!devs.iter().any(|d| d.name == dev.name), "{} is listed twice", dev.name);
        devs.push(dev);
    }
    for d in devs.iter().filter(|d| d.parent.is_some()) {
        let parent = d.parent.as_deref().unwrap_or_default();
        let Some(p) = devs.iter().find(|p| p.name == parent) else {
            bail!("{}'s parent {parent} is not listed", d.name);
        };
        ensure!(
            d.start.checked_add(d.sectors).is_some_and(|end| end <= p.sectors),
            "{} ({}+{}) does not fit in {parent} ({} sectors)",
            d.name,
            d.start,
            d.sectors,
            p.sectors
        );
    }
    Ok(devs)
}

/// The row named `name`.
pub fn find_dev<'a>(devs: &'a [BlkDev], name: &str) -> Result<&'a BlkDev> {
    devs.iter().find(|d| d.name == name).with_context(|| format!("lsblk lists no {name}"))
}

/// `blk read <dev> <sector> <count>` → the FNV-1a 64 of the data.
pub fn parse_blk_read(out: &str, dev: &str, sector: u64, count: u64) -> Result<u64> {
    let rest = line_after(out, &format!("blk read {dev} {sector}+{count}:"))?;
    let w: Vec<&str> = rest.split_whitespace().collect();
    let bytes = count * SECTOR_SIZE;
    ensure!(w.len() == 3 && w[1] == "bytes", "expected `<bytes> bytes fnv1a64=<hex>`, got {rest:?}");
    ensure!(w[0] == bytes.to_string(), "read {} bytes, expected {bytes}", w[0]);
    let digest = w[2].strip_prefix("fnv1a64=").with_context(|| format!("no `fnv1a64=` in {rest:?}"))?;
    parse_digest(digest)
}

/// `blk write <dev> <sector> <count> <seed>` succeeded.
pub fn parse_blk_write(out: &str, dev: &str, sector: u64, count: u64) -> Result<()> {
    let rest = line_after(out, &format!("blk write {dev} {sector}+{count}:"))?;
    let want = format!("{} bytes ok", count * SECTOR_SIZE);
    ensure!(rest == want, "expected {want:?}, got {rest:?}");
    Ok(())
}

/// The result of `blk verify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verify {
    Ok,
    /// The first wrong byte: its sector (on the device) and offset in that sector.
    Mismatch {
        sector: u64,
        offset: u64,
    },
}

/// `blk verify <dev> <sector> <count> <seed>`.
pub fn parse_blk_verify(out: &str, dev: &str, sector: u64, count: u64) -> Result<Verify> {
    let rest = line_after(out, &format!("blk verify {dev} {sector}+{count}:"))?;
    if rest == "ok" {
        return Ok(Verify::Ok);
    }
    let w: Vec<&str> = rest.split_whitespace().collect();
    match w.as_slice() {
        ["mismatch", "at", "sector", s, "offset", o] => {
            let (s, o) = (s.parse()?, o.parse()?);
            ensure!((sector..sector + count).contains(&s), "mismatch at sector {s}, outside {sector}+{count}");
            ensure!(o < SECTOR_SIZE, "mismatch offset {o} is not within a sector");
            Ok(Verify::Mismatch { sector: s, offset: o })
        }
        _ => bail!("expected `ok` or `mismatch at sector <s> offset <o>`, got {rest:?}"),
    }
}

/// `blk flush <dev>` succeeded.
pub fn parse_blk_flush(out: &str, dev: &str) -> Result<()> {
    let rest = line_after(out, &format!("blk flush {dev}:"))?;
    ensure!(rest == "ok", "expected `ok`, got {rest:?}");
    Ok(())
}

/// `blk stress`'s summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StressReply {
    pub ops: u64,
    pub reads: u64,
    pub writes: u64,
    pub digest: u64,
    pub errors: u64,
}

/// `blk stress <dev> <ops> <seed> <max_sectors>`.
pub fn parse_blk_stress(out: &str, dev: &str) -> Result<StressReply> {
    let rest = line_after(out, &format!("blk stress {dev}:"))?;
    let w: Vec<&str> = rest.split_whitespace().collect();
    let shape = "`<n> ops <n> reads <n> writes digest=<hex> errors=<n>`";
    ensure!(w.len() == 8 && [w[1], w[3], w[5]] == ["ops", "reads", "writes"], "expected {shape}, got {rest:?}");
    let kv = key_values(rest);
    let n = |i: usize| w[i].parse::<u64>().map_err(|_| anyhow!("{:?} is not a number in {rest:?}", w[i]));
    let reply = StressReply {
        ops: n(0)?,
        reads: n(2)?,
        writes: n(4)?,
        digest: parse_digest(kv.get("digest").with_context(|| format!("no `digest=` in {rest:?}"))?)?,
        errors: number(&kv, "errors")?,
    };
    ensure!(
        reply.reads + reply.writes == reply.ops,
        "{} reads + {} writes != {} ops",
        reply.reads,
        reply.writes,
        reply.ops
    );
    Ok(reply)
}

/// `blk sched <dev>`: the current scheduler and all of them (`vda: [deadline] noop`).
pub fn parse_sched_list(out: &str, dev: &str) -> Result<(String, Vec<String>)> {
    let rest = line_after(out, &format!("{dev}:"))?;
    let mut current = None;
    let mut all = Vec::new();
    for w in rest.split_whitespace() {
        if let Some(name) = w.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
            ensure!(current.is_none(), "two schedulers in brackets in {rest:?}");
            current = Some(name.to_string());
            all.push(name.to_string());
        } else {
            all.push(w.to_string());
        }
    }
    let current = current.with_context(|| format!("no scheduler in brackets in {rest:?}"))?;
    Ok((current, all))
}

/// `blk sched <dev> <name>` switched.
pub fn parse_sched_set(out: &str, dev: &str, name: &str) -> Result<()> {
    let rest = line_after(out, &format!("{dev}:"))?;
    let want = format!("scheduler {name}");
    ensure!(rest == want, "expected {want:?}, got {rest:?}");
    Ok(())
}

/// `blk bench`'s result.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct BenchReply {
    pub qd: u32,
    pub bs: u64,
    pub ops: u64,
    pub bytes: u64,
    pub us: u64,
    pub iops: f64,
    pub mbps: f64,
}

/// `blk bench <dev> <kind> <qd> <block_bytes> <ms>`.
pub fn parse_blk_bench(out: &str, dev: &str, kind: &str) -> Result<BenchReply> {
    let rest = line_after(out, &format!("blk bench {dev} {kind} "))?;
    let kv = key_values(rest);
    let r = BenchReply {
        qd: number(&kv, "qd")?,
        bs: number(&kv, "bs")?,
        ops: number(&kv, "ops")?,
        bytes: number(&kv, "bytes")?,
        us: number(&kv, "us")?,
        iops: number(&kv, "iops")?,
        mbps: number(&kv, "mbps")?,
    };
    ensure!(r.us > 0, "the bench ran for 0 µs");
    ensure!(r.bytes == r.ops * r.bs, "{} ops of {} bytes is not {} bytes", r.ops, r.bs, r.bytes);
    Ok(r)
}

/// One device's `blkstat`: its counters and its latency histogram.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DevStat {
    pub counters: BTreeMap<String, u64>,
    /// `(upper bound in µs, count)` per log2 bucket, in order.
    pub latency_buckets: Vec<(u64, u64)>,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    /// The driver's own numeric counters (`<dev> driver: k=v …`), if it prints any.
    pub driver: BTreeMap<String, u64>,
}

impl DevStat {
    /// A counter every device has (see [`BLKSTAT_COUNTERS`]).
    pub fn get(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    /// Requests completed, per the histogram.
    pub fn latency_samples(&self) -> u64 {
        self.latency_buckets.iter().map(|b| b.1).sum()
    }
}

/// The counters on every device's `blkstat` line.
pub const BLKSTAT_COUNTERS: [&str; 9] =
    ["requests", "bios", "merges", "reads", "writes", "flushes", "errors", "in_flight", "max_in_flight"];

/// Parses `blkstat`: `<dev>: requests=N …`, `<dev> latency_us: <=1:0 … p50=N p99=N`
/// and, optionally, `<dev> driver: k=v …`.
pub fn parse_blkstat(out: &str) -> Result<BTreeMap<String, DevStat>> {
    no_error(out)?;
    let mut devs: BTreeMap<String, DevStat> = BTreeMap::new();
    for line in out.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some((dev, rest)) = line.split_once(" driver:") {
            let stat = devs.get_mut(dev).with_context(|| format!("driver line before the counters of {dev}"))?;
            stat.driver = key_values(rest).into_iter().filter_map(|(k, v)| Some((k, v.parse().ok()?))).collect();
        } else if let Some((dev, rest)) = line.split_once(" latency_us:") {
            let stat = devs.get_mut(dev).with_context(|| format!("latency line before the counters of {dev}"))?;
            for w in rest.split_whitespace() {
                if let Some(b) = w.strip_prefix("<=") {
                    let (le, count) = b.split_once(':').with_context(|| format!("bucket {w:?} in {line:?}"))?;
                    let (le, count) = (le.parse::<u64>(), count.parse::<u64>());
                    let (Ok(le), Ok(count)) = (le, count) else { bail!("bucket {w:?} in {line:?}") };
                    if let Some(&(prev, _)) = stat.latency_buckets.last() {
                        ensure!(le > prev, "buckets out of order at {w:?} in {line:?}");
                    }
                    stat.latency_buckets.push((le, count));
                }
            }
            let kv = key_values(rest);
            stat.p50_us = Some(number(&kv, "p50")?);
            stat.p99_us = Some(number(&kv, "p99")?);
        } else if let Some((dev, rest)) = line.split_once(':').filter(|(d, _)| !d.contains(char::is_whitespace)) {
            let counters: BTreeMap<String, u64> = key_values(rest)
                .into_iter()
                .map(|(k, v)| v.parse().map(|v| (k.clone(), v)).map_err(|_| anyhow!("`{k}={v}` in {line:?}")))
                .collect::<Result<_>>()?;
            for c in BLKSTAT_COUNTERS {
                ensure!(counters.contains_key(c), "{dev}: no `{c}=` in {line:?}");
            }
            ensure!(!devs.contains_key(dev), "{dev} is listed twice");
            devs.insert(dev.to_string(), DevStat { counters, ..Default::default() });
        }
    }
    ensure!(!devs.is_empty(), "no device lines");
    Ok(devs)
}

/// The counters of `bcache stats`.
pub const BCACHE_COUNTERS: [&str; 6] = ["hits", "misses", "dirty", "writebacks", "evictions", "cached"];

/// `bcache stats` → `dev`'s counters. The kernel prints one
/// `bcache: dev=<name> hits=N …` line per device with a cache, or a single
/// line without `dev=` (all zero) when no device has one yet; a device
/// without a line has all-zero counters.
pub fn parse_bcache_stats(out: &str, dev: &str) -> Result<BTreeMap<String, u64>> {
    no_error(out)?;
    let lines: Vec<BTreeMap<String, String>> =
        out.lines().filter_map(|l| l.trim().strip_prefix("bcache:")).map(key_values).collect();
    ensure!(!lines.is_empty(), "no `bcache:` line");
    let mut counters = BTreeMap::new();
    for kv in &lines {
        for name in BCACHE_COUNTERS {
            number::<u64>(kv, name)?;
        }
    }
    let line = lines.iter().find(|kv| kv.get("dev").map(String::as_str) == Some(dev));
    for name in BCACHE_COUNTERS {
        counters.insert(name.to_string(), line.map_or(Ok(0), |kv| number(kv, name))?);
    }
    Ok(counters)
}

/// `bcache read <dev> <block>` → the FNV-1a 64 of the block.
pub fn parse_bcache_read(out: &str, dev: &str, block: u64) -> Result<u64> {
    let rest = line_after(out, &format!("bcache read {dev} {block}:"))?;
    let digest = rest.strip_prefix("fnv1a64=").with_context(|| format!("expected `fnv1a64=<hex>`, got {rest:?}"))?;
    parse_digest(digest)
}

/// `bcache sync` → the number of blocks written.
pub fn parse_bcache_sync(out: &str) -> Result<u64> {
    let rest = line_after(out, "bcache sync:")?;
    let n =
        rest.strip_suffix(" blocks written").with_context(|| format!("expected `<n> blocks written`, got {rest:?}"))?;
    n.parse().map_err(|_| anyhow!("{n:?} is not a number"))
}

// ---- partition tables made on the host ----

/// A partition as the host tool made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPartition {
    /// Linux's number: `vda<number>`.
    pub number: u32,
    pub start: u64,
    pub sectors: u64,
    /// MBR type byte (hex) or GPT type GUID.
    pub kind: String,
}

impl HostPartition {
    /// An MBR extended partition: a container, not a data partition.
    pub fn is_extended(&self) -> bool {
        ["5", "f", "85"].contains(&self.kind.to_ascii_lowercase().as_str())
    }
}

/// Parses `sfdisk --json <image>`.
pub fn parse_sfdisk_json(text: &str) -> Result<Vec<HostPartition>> {
    let v: serde_json::Value = serde_json::from_str(text).context("sfdisk --json printed no JSON")?;
    let table = &v["partitiontable"];
    let device = table["device"].as_str().context("no partitiontable.device")?;
    let parts = table["partitions"].as_array().context("no partitiontable.partitions")?;
    parts
        .iter()
        .map(|p| {
            let node = p["node"].as_str().context("a partition without `node`")?;
            let suffix = node.strip_prefix(device).with_context(|| format!("node {node} is not on {device}"))?;
            let number = suffix.trim_start_matches('p').parse().with_context(|| format!("node {node}"))?;
            Ok(HostPartition {
                number,
                start: p["start"].as_u64().with_context(|| format!("{node}: no start"))?,
                sectors: p["size"].as_u64().with_context(|| format!("{node}: no size"))?,
                kind: p["type"].as_str().unwrap_or_default().to_string(),
            })
        })
        .collect()
}

/// Parses `sgdisk -i <n> <image>`: `(first sector, last sector, type GUID)`.
pub fn parse_sgdisk_info(text: &str) -> Result<(u64, u64, String)> {
    let field = |label: &str| -> Result<&str> {
        let line = text.lines().find_map(|l| l.trim().strip_prefix(label));
        line.map(str::trim).with_context(|| format!("no `{label}` line"))
    };
    let sector = |label: &str| -> Result<u64> {
        let v = field(label)?;
        let digits = v.split_whitespace().next().unwrap_or_default();
        digits.parse().map_err(|_| anyhow!("`{label} {v}` has no sector number"))
    };
    let guid = field("Partition GUID code:")?.split_whitespace().next().unwrap_or_default().to_string();
    let (first, last) = (sector("First sector:")?, sector("Last sector:")?);
    ensure!(last >= first, "last sector {last} before first sector {first}");
    Ok((first, last, guid))
}

/// Runs a host tool (found by [`setup::find_tool`]) with `stdin`; returns stdout.
fn tool(name: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    let path =
        setup::find_tool(name).with_context(|| format!("{name} is not installed (cargo xtask setup installs it)"))?;
    let mut child = Command::new(&path)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", path.display()))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes()).with_context(|| format!("writing to {name}"))?;
    }
    let deadline = std::time::Instant::now() + TOOL_TIMEOUT;
    while child.try_wait()?.is_none() {
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{name} {} did not finish within {} s", args.join(" "), TOOL_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "{name} {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The MBR of `blk_partitions_mbr`: two primaries, an extended partition
/// holding two logical ones (Linux numbers logicals from 5).
pub const MBR_SCRIPT: &str = "label: dos\nunit: sectors\n\n\
    start=2048, size=2048, type=83\n\
    start=4096, size=8192, type=83\n\
    start=16384, size=32768, type=5\n\
    start=18432, size=4096, type=83\n\
    start=24576, size=8192, type=83\n";

/// `(number, first sector, size in sectors)` of `blk_partitions_gpt`'s table.
pub const GPT_LAYOUT: [(u32, u64, u64); 3] = [(1, 2048, 2048), (2, 4096, 8192), (3, 16384, 16384)];

fn make_mbr(image: &Path) -> Result<Vec<HostPartition>> {
    let path = image.to_str().context("image path is not UTF-8")?;
    tool("sfdisk", &["--no-reread", "--no-tell-kernel", "--quiet", path], Some(MBR_SCRIPT))?;
    parse_sfdisk_json(&tool("sfdisk", &["--json", path], None)?)
}

fn make_gpt(image: &Path) -> Result<Vec<HostPartition>> {
    let path = image.to_str().context("image path is not UTF-8")?;
    let mut args = vec!["-o".to_string()];
    for (n, first, sectors) in GPT_LAYOUT {
        args.push(format!("--new={n}:{first}:{}", first + sectors - 1));
        args.push(format!("--change-name={n}:ioxide{n}"));
    }
    args.push(path.to_string());
    tool("sgdisk", &args.iter().map(String::as_str).collect::<Vec<_>>(), None)?;
    GPT_LAYOUT
        .iter()
        .map(|&(n, _, _)| {
            let (first, last, kind) = parse_sgdisk_info(&tool("sgdisk", &["-i", &n.to_string(), path], None)?)?;
            Ok(HostPartition { number: n, start: first, sectors: last - first + 1, kind })
        })
        .collect()
}

/// Every data partition of `host` is listed as `vda<n>` with its exact start
/// and size; an MBR extended container, if listed, has its start.
pub fn check_partitions(devs: &[BlkDev], host: &[HostPartition]) -> Result<()> {
    let mut problems = Vec::new();
    for p in host {
        let name = format!("vda{}", p.number);
        let row = devs.iter().find(|d| d.name == name);
        match (row, p.is_extended()) {
            (None, true) => {}
            (None, false) => problems.push(format!("{name} ({}+{}) is not listed", p.start, p.sectors)),
            (Some(d), extended) => {
                if d.kind != "part" || d.parent.as_deref() != Some("vda") {
                    problems.push(format!("{name} is a {} with parent {:?}, not a part of vda", d.kind, d.parent));
                }
                if d.start != p.start {
                    problems.push(format!("{name} START {} but the table says {}", d.start, p.start));
                }
                if !extended && d.sectors != p.sectors {
                    problems.push(format!("{name} SECTORS {} but the table says {}", d.sectors, p.sectors));
                }
            }
        }
    }
    let known: Vec<String> = host.iter().map(|p| format!("vda{}", p.number)).collect();
    for d in devs.iter().filter(|d| d.parent.as_deref() == Some("vda") && !known.contains(&d.name)) {
        problems.push(format!("{} ({}+{}) is not in the table", d.name, d.start, d.sectors));
    }
    ensure!(problems.is_empty(), "{}", problems.join("; "));
    Ok(())
}

// ---- a booted machine with a disk image ----

/// A booted standard machine whose `vblk0.img` the test prepared.
pub struct BlkSession {
    pub s: Session,
    image: PathBuf,
}

impl BlkSession {
    /// Boots after `prepare` has written the (zeroed, 64 MiB) image; errors
    /// injected per `faults`.
    pub fn boot(faults: &[InjectError], prepare: impl FnOnce(&Path) -> Result<()>) -> Result<Self> {
        Self::boot_with(faults, SessionOptions::default(), prepare)
    }

    /// [`Self::boot`] with session options (a QMP socket).
    pub fn boot_with(
        faults: &[InjectError],
        options: SessionOptions,
        prepare: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<Self> {
        let mut isolated = IsolatedMachine::new(Profile::Standard, "", "blk")?;
        if !faults.is_empty() {
            isolated.inject_errors(VBLK_DISK, faults)?;
        }
        let image = isolated.machine.disk_image(VBLK_DISK)?;
        prepare(&image).with_context(|| format!("preparing {}", image.display()))?;
        let mut s = Session::boot_isolated(isolated, options)?;
        s.expect_prompt()?;
        Ok(Self { s, image })
    }

    /// The image file behind `vda`.
    pub fn image(&self) -> &Path {
        &self.image
    }

    /// Runs `line` and parses its output; a parse failure quotes the output.
    pub fn run<T>(&mut self, line: &str, parse: impl FnOnce(&str) -> Result<T>) -> Result<T> {
        self.run_within(line, super::session::COMMAND_TIMEOUT, parse)
    }

    /// [`Self::run`] for a command allowed to take `timeout`.
    pub fn run_within<T>(&mut self, line: &str, timeout: Duration, parse: impl FnOnce(&str) -> Result<T>) -> Result<T> {
        let out = self.s.command_within(line, timeout)?;
        parse(&out).map_err(|e| with_output(e, line, &out))
    }

    /// Runs `line`, which must fail: returns the `error:` line.
    pub fn expect_error(&mut self, line: &str) -> Result<String> {
        let out = self.s.command(line)?;
        match error_line(&out) {
            Some(l) => Ok(l.to_string()),
            None => Err(with_output(anyhow!("expected a line with `error:`"), line, &out)),
        }
    }

    pub fn lsblk(&mut self) -> Result<Vec<BlkDev>> {
        self.run("lsblk", parse_lsblk)
    }

    pub fn read(&mut self, dev: &str, sector: u64, count: u64) -> Result<u64> {
        self.run(&format!("blk read {dev} {sector} {count}"), |o| parse_blk_read(o, dev, sector, count))
    }

    pub fn write(&mut self, dev: &str, sector: u64, count: u64, seed: u64) -> Result<()> {
        self.run(&format!("blk write {dev} {sector} {count} {seed}"), |o| parse_blk_write(o, dev, sector, count))
    }

    pub fn verify(&mut self, dev: &str, sector: u64, count: u64, seed: u64) -> Result<Verify> {
        self.run(&format!("blk verify {dev} {sector} {count} {seed}"), |o| parse_blk_verify(o, dev, sector, count))
    }

    /// `blk verify` that must say `ok`.
    pub fn verify_ok(&mut self, dev: &str, sector: u64, count: u64, seed: u64) -> Result<()> {
        match self.verify(dev, sector, count, seed)? {
            Verify::Ok => Ok(()),
            m => Err(self.s.fail(format!("blk verify {dev} {sector} {count} {seed}: {m:?}, expected ok"))),
        }
    }

    pub fn flush(&mut self, dev: &str) -> Result<()> {
        self.run(&format!("blk flush {dev}"), |o| parse_blk_flush(o, dev))
    }

    pub fn blkstat(&mut self) -> Result<BTreeMap<String, DevStat>> {
        self.run("blkstat", parse_blkstat)
    }

    /// One device's `blkstat`.
    pub fn blkstat_of(&mut self, dev: &str) -> Result<DevStat> {
        let mut all = self.blkstat()?;
        all.remove(dev).ok_or_else(|| self.s.fail(format!("blkstat has no {dev}")))
    }

    /// `bcache stats` for `vda`.
    pub fn bcache_stats(&mut self) -> Result<BTreeMap<String, u64>> {
        self.run("bcache stats", |o| parse_bcache_stats(o, "vda"))
    }

    /// `blk bench …`, allowed its duration plus some slack.
    pub fn bench(&mut self, dev: &str, kind: &str, qd: u32, bs: u64, ms: u64) -> Result<BenchReply> {
        let line = format!("blk bench {dev} {kind} {qd} {bs} {ms}");
        self.run_within(&line, Duration::from_millis(ms) + BENCH_SLACK, |o| parse_blk_bench(o, dev, kind))
    }

    /// The shell still answers (after an error).
    pub fn alive(&mut self) -> Result<()> {
        self.lsblk().map(|_| ()).context("the shell after an error")
    }

    /// `poweroff`; QEMU must exit with status 0. Returns the whole image.
    pub fn poweroff(mut self) -> Result<Vec<u8>> {
        self.s.send_raw(b"poweroff\n")?;
        let code = self.s.wait_exit(EXIT_TIMEOUT)?;
        let exit = QemuExit::from_code(Some(code));
        if exit != QemuExit::PowerOff {
            return Err(self.s.fail(format!("{} after `poweroff`; expected status 0", exit.describe())));
        }
        fs::read(&self.image).with_context(|| format!("reading {}", self.image.display()))
    }

    /// `r`, with the console tail on failure.
    pub fn check<T>(&self, r: Result<T>) -> Result<T> {
        r.map_err(|e| self.s.fail(format!("{e:#}")))
    }
}

fn with_output(e: anyhow::Error, command: &str, out: &str) -> anyhow::Error {
    anyhow!("`{command}`: {e:#}\n--- `{command}` output ---\n{}", tail_lines(out, TAIL_LINES))
}

/// A zeroed image of `vda`'s size.
fn zero_image() -> Vec<u8> {
    vec![0u8; IMAGE_SIZE as usize]
}

// ---- the tests ----

/// The host writes a pattern before boot (and damages one byte); `blk read`
/// reports the host's FNV-1a, `blk verify` finds exactly the damaged byte.
pub fn blk_host_pattern_checksum() -> Result<Note> {
    const FIRST: u64 = 100;
    const COUNT: u64 = 64;
    const BAD: (u64, usize) = (130, 77);
    let mut data = pattern(HOST_SEED, FIRST, COUNT);
    let at = (BAD.0 - FIRST) as usize * SECTOR + BAD.1;
    data[at] ^= 0x5a;
    let host_fnv = fnv1a64(&data);
    let mut b = BlkSession::boot(&[], |img| write_image_at(img, FIRST, &data))?;

    let devs = b.lsblk()?;
    let vda = b.check(find_dev(&devs, "vda").cloned())?;
    if (vda.kind.as_str(), vda.sectors, vda.driver.as_deref()) != ("disk", VDA_SECTORS, Some("virtio-blk")) {
        return Err(b.s.fail(format!("lsblk: {vda:?}; expected a virtio-blk disk of {VDA_SECTORS} sectors")));
    }
    let fnv = b.read("vda", FIRST, COUNT)?;
    if fnv != host_fnv {
        return Err(b
            .s
            .fail(format!("blk read vda {FIRST} {COUNT}: fnv1a64={fnv:016x}, the host wrote {host_fnv:016x}")));
    }
    // Reads of other lengths and alignments cover the same bytes.
    let odd = b.read("vda", FIRST + 3, 5)?;
    let want = fnv1a64(&data[3 * SECTOR..8 * SECTOR]);
    if odd != want {
        return Err(b.s.fail(format!("blk read vda {} 5: fnv1a64={odd:016x}, expected {want:016x}", FIRST + 3)));
    }
    b.verify_ok("vda", FIRST, BAD.0 - FIRST, HOST_SEED)?;
    let got = b.verify("vda", FIRST, COUNT, HOST_SEED)?;
    let want = Verify::Mismatch { sector: BAD.0, offset: BAD.1 as u64 };
    if got != want {
        return Err(b.s.fail(format!("blk verify vda {FIRST} {COUNT}: {got:?}; the host damaged {want:?}")));
    }
    let wrong_seed = b.verify("vda", FIRST, 8, HOST_SEED + 1)?;
    if wrong_seed == Verify::Ok {
        return Err(b.s.fail("blk verify with the wrong seed says ok".into()));
    }
    Ok(Some(format!("fnv1a64 {host_fnv:016x} over {COUNT} sectors")))
}

/// The kernel writes an unaligned range between host-written neighbours and
/// flushes; after poweroff the image is the host's expectation, byte for byte.
pub fn blk_kernel_write_survives_poweroff() -> Result<Note> {
    const AROUND: (u64, u64) = (1000, 100);
    const FIRST: u64 = 1027;
    const COUNT: u64 = 37;
    let neighbours = pattern(BACKGROUND_SEED, AROUND.0, AROUND.1);
    let mut want = zero_image();
    splice(&mut want, AROUND.0, &neighbours);
    let mut b = BlkSession::boot(&[], |img| write_image_at(img, AROUND.0, &neighbours))?;
    b.write("vda", FIRST, COUNT, KERNEL_SEED)?;
    b.verify_ok("vda", FIRST, COUNT, KERNEL_SEED)?;
    b.flush("vda")?;
    let written = pattern(KERNEL_SEED, FIRST, COUNT);
    splice(&mut want, FIRST, &written);
    let fnv = b.read("vda", AROUND.0, AROUND.1)?;
    let expected = fnv1a64(&want[AROUND.0 as usize * SECTOR..(AROUND.0 + AROUND.1) as usize * SECTOR]);
    if fnv != expected {
        return Err(b.s.fail(format!("reading back around the write: fnv1a64={fnv:016x}, expected {expected:016x}")));
    }
    let image = b.poweroff()?;
    compare_images(&want, &image, &format!("after `blk write vda {FIRST} {COUNT}` and poweroff"))?;
    Ok(Some(format!("{} bytes at sector {FIRST}, neighbours intact", COUNT * SECTOR_SIZE)))
}

/// The disk grows under the running guest (QMP `block_resize`, what
/// `virsh blockresize` does): virtio-blk raises its configuration-change
/// interrupt, the kernel re-reads the capacity, `lsblk` shows the new size,
/// and a write beyond the old end reaches the image.
pub fn blk_resize_is_seen_through_the_config_interrupt() -> Result<Note> {
    const RESIZE_WAIT: Duration = Duration::from_secs(10);
    let mut b = BlkSession::boot_with(&[], SessionOptions::qmp(), |_| Ok(()))?;
    let before = find_dev(&b.lsblk()?, "vda")?.sectors;
    ensure!(before == VDA_SECTORS, "vda has {before} sectors before the resize, expected {VDA_SECTORS}");
    let beyond = VDA_SECTORS + 1000;
    b.expect_error(&format!("blk write vda {beyond} 8 {KERNEL_SEED}"))?;
    let mut qmp = b.s.qmp()?;
    let size = 2 * IMAGE_SIZE;
    b.check(qmp.execute("block_resize", Some(serde_json::json!({"device": VBLK_DISK, "size": size})), RESIZE_WAIT))?;
    // The kernel logs the resize from its interrupt's bottom half, with no
    // command typed: wait for that line, then ask.
    b.s.expect("vda: resized from", RESIZE_WAIT)?;
    b.s.expect("\n", RESIZE_WAIT)?;
    let after = find_dev(&b.lsblk()?, "vda")?.sectors;
    if after != 2 * VDA_SECTORS {
        return Err(b.s.fail(format!("after block_resize to {size} bytes lsblk shows vda with {after} sectors")));
    }
    b.write("vda", beyond, 8, KERNEL_SEED)?;
    b.verify_ok("vda", beyond, 8, KERNEL_SEED)?;
    b.flush("vda")?;
    let image = b.poweroff()?;
    ensure!(image.len() as u64 == size, "the image has {} bytes after the resize, expected {size}", image.len());
    let at = beyond as usize * SECTOR;
    check_pattern(KERNEL_SEED, beyond, &image[at..at + 8 * SECTOR], "the write beyond the old end")?;
    Ok(Some(format!("vda {before} -> {after} sectors; a write at sector {beyond} reached the image")))
}

/// 10 000 random reads and writes (seeded) against a pattern-filled disk: the
/// kernel's digest of everything it read equals the model's replay, and so
/// does the whole image after poweroff.
pub fn blk_stress_10k_matches_host_model() -> Result<Note> {
    let initial = pattern(BACKGROUND_SEED, 0, VDA_SECTORS);
    let model = stress_model(initial.clone(), STRESS_OPS, STRESS_SEED, STRESS_MAX_SECTORS);
    let mut b = BlkSession::boot(&[], |img| write_image_at(img, 0, &initial))?;
    drop(initial);
    let line = format!("blk stress vda {STRESS_OPS} {STRESS_SEED} {STRESS_MAX_SECTORS}");
    let started = std::time::Instant::now();
    let got = b.run_within(&line, STRESS_TIMEOUT, |o| parse_blk_stress(o, "vda"))?;
    let elapsed = started.elapsed();
    let want =
        StressReply { ops: STRESS_OPS, reads: model.reads, writes: model.writes, digest: model.digest, errors: 0 };
    if got != want {
        return Err(b.s.fail(format!("`{line}`: the kernel reports {got:?}; the host model {want:?}")));
    }
    let image = b.poweroff()?;
    compare_images(&model.image, &image, &format!("after `{line}` and poweroff"))?;
    Ok(Some(format!(
        "{} reads, {} writes in {:.1} s, digest {:016x}",
        model.reads,
        model.writes,
        elapsed.as_secs_f64(),
        model.digest
    )))
}

/// Out-of-range I/O, bad arguments and a disk that fails reads: each an
/// `error:` line, the shell goes on, other I/O still works.
pub fn blk_errors_are_errors() -> Result<Note> {
    let mut b = BlkSession::boot(&[], |_| Ok(()))?;
    let vda = b.lsblk().and_then(|d| find_dev(&d, "vda").cloned())?;
    let cap = vda.sectors;
    for line in [
        format!("blk read vda {} 8", cap - 4),
        format!("blk write vda {} 8 1", cap - 4),
        format!("blk read vda {cap} 1"),
        "blk read nosuchdev 0 1".to_string(),
        "blk read vda x 1".to_string(),
        "blk write vda 0 x 1".to_string(),
    ] {
        b.expect_error(&line)?;
        b.alive()?;
    }
    // The last sectors themselves are fine.
    b.read("vda", cap - 4, 4)?;
    b.write("vda", cap - 4, 4, KERNEL_SEED)?;
    b.verify_ok("vda", cap - 4, 4, KERNEL_SEED)?;
    drop(b);

    // A disk whose sector BAD_SECTOR cannot be read and BAD_WRITE_SECTOR not written.
    let data = pattern(HOST_SEED, 0, 64);
    let faults = [InjectError::read_eio(BAD_SECTOR), InjectError::write_eio(BAD_WRITE_SECTOR)];
    let mut b = BlkSession::boot(&faults, |img| write_image_at(img, 0, &data))?;
    let line = format!("blk read vda {} 8", BAD_SECTOR - 3);
    let error = b.expect_error(&line)?;
    if !error.contains("I/O error") {
        return Err(b.s.fail(format!("`{line}` printed {error:?}; expected it to say `I/O error`")));
    }
    b.alive()?;
    let fnv = b.read("vda", 0, 64)?;
    if fnv != fnv1a64(&data) {
        return Err(b.s.fail(format!(
            "blk read vda 0 64 after the I/O error: fnv1a64={fnv:016x}, expected {:016x}",
            fnv1a64(&data)
        )));
    }
    // Right next to the bad sector is fine; the bad sector still fails.
    b.read("vda", BAD_SECTOR + 1, 8)?;
    b.expect_error(&format!("blk read vda {BAD_SECTOR} 1"))?;
    // The same for writes; the sector that cannot be written can be read.
    let line = format!("blk write vda {} 4 {KERNEL_SEED}", BAD_WRITE_SECTOR - 1);
    let write_error = b.expect_error(&line)?;
    if !write_error.contains("I/O error") {
        return Err(b.s.fail(format!("`{line}` printed {write_error:?}; expected it to say `I/O error`")));
    }
    b.alive()?;
    b.write("vda", BAD_WRITE_SECTOR + 1, 8, KERNEL_SEED)?;
    b.verify_ok("vda", BAD_WRITE_SECTOR + 1, 8, KERNEL_SEED)?;
    b.read("vda", BAD_WRITE_SECTOR, 1)?;
    let stat = b.blkstat_of("vda")?;
    if stat.get("errors") < 3 {
        return Err(b
            .s
            .fail(format!("blkstat vda counts fewer than 3 errors after three failed requests: {:?}", stat.counters)));
    }
    Ok(Some(format!("{error:?}; blkstat errors={}", stat.get("errors"))))
}

/// A partition table made by the host: `lsblk` shows it exactly, and a write
/// to a partition lands at its start in the image.
fn partitions(make: fn(&Path) -> Result<Vec<HostPartition>>, targets: &[u32]) -> Result<Note> {
    let mut host = Vec::new();
    let mut b = BlkSession::boot(&[], |img| {
        host = make(img)?;
        Ok(())
    })?;
    let before = fs::read(b.image()).with_context(|| format!("reading {}", b.image().display()))?;
    let devs = b.lsblk()?;
    b.check(check_partitions(&devs, &host))?;
    let mut want = before;
    for (i, &n) in targets.iter().enumerate() {
        let p = host.iter().find(|p| p.number == n).with_context(|| format!("the table has no partition {n}"))?;
        let dev = format!("vda{n}");
        let seed = KERNEL_SEED + i as u64;
        b.write(&dev, 0, 8, seed)?;
        b.verify_ok(&dev, 0, 8, seed)?;
        // The block layer checks bounds per partition: the next one is safe.
        b.expect_error(&format!("blk write {dev} {} 8 {seed}", p.sectors - 4))?;
        // The pattern is addressed by the partition's sectors (the command's argument).
        splice(&mut want, p.start, &pattern(seed, 0, 8));
        let fnv = b.read("vda", p.start, 8)?;
        let expected = fnv1a64(&pattern(seed, 0, 8));
        if fnv != expected {
            return Err(b.s.fail(format!(
                "blk read vda {} 8 after writing {dev} 0: {fnv:016x}, expected {expected:016x}",
                p.start
            )));
        }
    }
    b.flush("vda")?;
    let image = b.poweroff()?;
    compare_images(&want, &image, "after the partition writes and poweroff")?;
    let list: Vec<String> = host.iter().map(|p| format!("vda{} {}+{}", p.number, p.start, p.sectors)).collect();
    Ok(Some(list.join(", ")))
}

/// MBR by `sfdisk`: two primaries, an extended partition with two logicals.
pub fn blk_partitions_mbr() -> Result<Note> {
    partitions(make_mbr, &[2, 5])
}

/// GPT by `sgdisk`: three partitions.
pub fn blk_partitions_gpt() -> Result<Note> {
    partitions(make_gpt, &[2, 3])
}

/// `ram0` is a disk that keeps data; `vda` works under either scheduler; a
/// sequential bench shows merged requests in `blkstat`.
pub fn blk_ramdisk_and_schedulers() -> Result<Note> {
    let mut b = BlkSession::boot(&[], |_| Ok(()))?;
    let devs = b.lsblk()?;
    let ram0 = b.check(find_dev(&devs, "ram0").cloned())?;
    if (ram0.kind.as_str(), ram0.sectors, ram0.driver.as_deref()) != ("disk", RAM0_SECTORS, Some("ramdisk")) {
        return Err(b.s.fail(format!("lsblk: {ram0:?}; expected a ramdisk of {RAM0_SECTORS} sectors")));
    }
    b.write("ram0", 100, 16, KERNEL_SEED)?;
    b.verify_ok("ram0", 100, 16, KERNEL_SEED)?;
    let fnv = b.read("ram0", 100, 16)?;
    let want = fnv1a64(&pattern(KERNEL_SEED, 100, 16));
    if fnv != want {
        return Err(b.s.fail(format!("blk read ram0 100 16: {fnv:016x}, expected {want:016x}")));
    }
    b.expect_error(&format!("blk read ram0 {} 8", RAM0_SECTORS - 4))?;

    let before = b.blkstat_of("vda")?;
    let (initial, all) = b.run("blk sched vda", |o| parse_sched_list(o, "vda"))?;
    for name in ["noop", "deadline"] {
        if !all.iter().any(|s| s == name) {
            return Err(b.s.fail(format!("blk sched vda lists {all:?}, no {name}")));
        }
    }
    for (i, name) in ["noop", "deadline"].into_iter().enumerate() {
        b.run(&format!("blk sched vda {name}"), |o| parse_sched_set(o, "vda", name))?;
        let (current, _) = b.run("blk sched vda", |o| parse_sched_list(o, "vda"))?;
        if current != name {
            return Err(b.s.fail(format!("blk sched vda shows [{current}] after switching to {name}")));
        }
        let (sector, seed) = (5000 + 100 * i as u64, KERNEL_SEED + i as u64);
        b.write("vda", sector, 24, seed)?;
        b.verify_ok("vda", sector, 24, seed)?;
    }
    b.expect_error("blk sched vda nosuchsched")?;
    let middle = b.blkstat_of("vda")?;
    for c in ["requests", "bios", "reads", "writes"] {
        if middle.get(c) <= before.get(c) {
            return Err(b.s.fail(format!(
                "blkstat vda {c} did not grow over the I/O: {} -> {}",
                before.get(c),
                middle.get(c)
            )));
        }
    }
    let bench = b.bench("vda", "seqwrite", 32, 4096, 200)?;
    let after = b.blkstat_of("vda")?;
    let merges = after.get("merges") - middle.get("merges").min(after.get("merges"));
    if merges == 0 {
        return Err(b.s.fail(format!(
            "no merges counted over a sequential 4 KiB write bench at qd 32 ({} ops): {:?}",
            bench.ops, after.counters
        )));
    }
    if after.latency_samples() == 0 || after.get("in_flight") != 0 {
        return Err(b.s.fail(format!("blkstat vda after the bench: {after:?}")));
    }
    Ok(Some(format!(
        "initially [{initial}]; seqwrite qd 32: {} ops, {merges} merges, max_in_flight {}, p50 {:?} µs",
        bench.ops,
        after.get("max_in_flight"),
        after.p50_us
    )))
}

/// A buffer-cache write stays in memory until `bcache sync` writes it back; a
/// dirty block left at `poweroff` is written back too.
pub fn bcache_write_back_reaches_disk() -> Result<Note> {
    const BLOCK: u64 = 10;
    const SEED: u64 = 7;
    const LATE_BLOCK: u64 = 20;
    const LATE_SEED: u64 = 9;
    let mut b = BlkSession::boot(&[], |_| Ok(()))?;
    let stat = |b: &mut BlkSession, name: &str, s: &BTreeMap<String, u64>| -> Result<u64> {
        s.get(name).copied().ok_or_else(|| b.s.fail(format!("bcache stats has no {name}")))
    };
    let start = b.bcache_stats()?;
    b.run(&format!("bcache write vda {BLOCK} {SEED}"), no_error)?;
    let dirty = b.bcache_stats()?;
    if stat(&mut b, "dirty", &dirty)? != stat(&mut b, "dirty", &start)? + 1 {
        return Err(b
            .s
            .fail(format!("bcache stats after one write: {dirty:?}; expected one more dirty block than {start:?}")));
    }
    let sector = BLOCK * BCACHE_BLOCK_SECTORS;
    let on_disk = read_image_at(b.image(), sector, BCACHE_BLOCK_SECTORS)?;
    if on_disk.iter().any(|&x| x != 0) {
        return Err(b
            .s
            .fail(format!("block {BLOCK} reached the image before `bcache sync` (write-through, not write-back)")));
    }
    let fnv = b.run(&format!("bcache read vda {BLOCK}"), |o| parse_bcache_read(o, "vda", BLOCK))?;
    let want = fnv1a64(&pattern(SEED, sector, BCACHE_BLOCK_SECTORS));
    if fnv != want {
        return Err(b
            .s
            .fail(format!("bcache read vda {BLOCK}: fnv1a64={fnv:016x}, the block written has {want:016x}")));
    }
    let hit = b.bcache_stats()?;
    if stat(&mut b, "hits", &hit)? <= stat(&mut b, "hits", &dirty)? {
        return Err(b.s.fail(format!("reading the cached block counted no hit: {dirty:?} -> {hit:?}")));
    }
    let written = b.run("bcache sync", parse_bcache_sync)?;
    if written != 1 {
        return Err(b.s.fail(format!("bcache sync wrote {written} blocks; one was dirty")));
    }
    let synced = b.bcache_stats()?;
    if stat(&mut b, "dirty", &synced)? != 0 || stat(&mut b, "writebacks", &synced)? <= stat(&mut b, "writebacks", &hit)?
    {
        return Err(b.s.fail(format!("bcache stats after sync: {synced:?}")));
    }
    let on_disk = read_image_at(b.image(), sector, BCACHE_BLOCK_SECTORS)?;
    b.check(check_pattern(SEED, sector, &on_disk, &format!("block {BLOCK} in the image after `bcache sync`")))?;
    let want_block = pattern(SEED, sector, BCACHE_BLOCK_SECTORS);

    // Left dirty: poweroff must write it back.
    b.run(&format!("bcache write vda {LATE_BLOCK} {LATE_SEED}"), no_error)?;
    let image = b.poweroff()?;
    let mut want = zero_image();
    splice(&mut want, sector, &want_block);
    let late = LATE_BLOCK * BCACHE_BLOCK_SECTORS;
    splice(&mut want, late, &pattern(LATE_SEED, late, BCACHE_BLOCK_SECTORS));
    compare_images(&want, &image, "after `bcache sync`, a dirty block and poweroff")?;
    Ok(Some(format!(
        "hits {} misses {} writebacks {}",
        synced.get("hits").copied().unwrap_or(0),
        synced.get("misses").copied().unwrap_or(0),
        synced.get("writebacks").copied().unwrap_or(0)
    )))
}

#[cfg(test)]
mod unit {
    use super::*;

    const LSBLK: &str = "NAME TYPE SECTORS START PARENT SCHED DRIVER SIZE\n\
        vda  disk 131072 0 - deadline virtio-blk 64MiB\n\
        vda1 part 2048 2048 vda - - 1MiB\n\
        ram0 disk 32768 0 - noop ramdisk 16MiB\n";

    #[test]
    fn lsblk_rows() {
        let devs = parse_lsblk(LSBLK).unwrap();
        assert_eq!(devs.len(), 3);
        assert_eq!(
            devs[0],
            BlkDev {
                name: "vda".into(),
                kind: "disk".into(),
                sectors: 131_072,
                start: 0,
                parent: None,
                sched: Some("deadline".into()),
                driver: Some("virtio-blk".into()),
                size: "64MiB".into(),
            }
        );
        assert_eq!((devs[1].parent.as_deref(), devs[1].start, devs[1].sched.as_deref()), (Some("vda"), 2048, None));
        assert_eq!(find_dev(&devs, "ram0").unwrap().driver.as_deref(), Some("ramdisk"));
        assert!(find_dev(&devs, "vdb").is_err());
        // A size with a space is one column.
        assert_eq!(parse_lsblk(&LSBLK.replace("16MiB", "16 MiB")).unwrap()[2].size, "16 MiB");
        let err = |t: &str| parse_lsblk(t).unwrap_err().to_string();
        assert!(err("").contains("nothing"));
        assert!(err(&LSBLK.replace("SCHED", "SCHEDULER")).contains("header"));
        assert!(err(&LSBLK.replace("2048 2048", "x 2048")).contains("SECTORS"));
        assert!(err(&LSBLK.replace("vda1 part 2048 2048 vda", "vda1 part 2048 131000 vda")).contains("does not fit"));
        assert!(err(&LSBLK.replace("2048 vda", "2048 vdb")).contains("parent vdb"));
        assert!(err(&LSBLK.replace("disk 32768 0 -", "disk 32768 0 vda")).contains("PARENT"));
        assert!(err(&format!("{LSBLK}vda disk 8 0 - - - 4KiB\n")).contains("twice"));
        assert!(err(&format!("{LSBLK}vdb tape 8 0 - - - 4KiB\n")).contains("tape"));
        assert!(err("lsblk: error: no block layer").contains("error:"));
    }

    #[test]
    fn blk_read_write_verify_flush() {
        let r = "blk read vda 100+64: 32768 bytes fnv1a64=00ab00cd00ef0012\n";
        assert_eq!(parse_blk_read(r, "vda", 100, 64).unwrap(), 0x00ab_00cd_00ef_0012);
        assert!(parse_blk_read(r, "vda", 100, 63).is_err());
        assert!(parse_blk_read(r, "vdb", 100, 64).is_err());
        assert!(parse_blk_read(&r.replace("32768", "32767"), "vda", 100, 64).is_err());
        assert!(parse_blk_read(&r.replace("00ab", "00AB"), "vda", 100, 64)
            .unwrap_err()
            .to_string()
            .contains("lowercase"));
        assert!(parse_blk_read(&r.replace("fnv1a64=", "crc="), "vda", 100, 64).is_err());
        let e = "blk: vda: error: sectors 131070+8 outside the device (131072 sectors)\n";
        assert!(parse_blk_read(e, "vda", 131_070, 8).unwrap_err().to_string().contains("outside the device"));
        assert_eq!(error_line(e), Some(e.trim()));
        assert_eq!(error_line(r), None);

        assert!(parse_blk_write("blk write vda 1027+37: 18944 bytes ok\n", "vda", 1027, 37).is_ok());
        assert!(parse_blk_write("blk write vda 1027+37: 18944 bytes\n", "vda", 1027, 37).is_err());

        assert_eq!(parse_blk_verify("blk verify vda2 0+8: ok", "vda2", 0, 8).unwrap(), Verify::Ok);
        assert_eq!(
            parse_blk_verify("blk verify vda 100+64: mismatch at sector 130 offset 77\n", "vda", 100, 64).unwrap(),
            Verify::Mismatch { sector: 130, offset: 77 }
        );
        assert!(parse_blk_verify("blk verify vda 100+64: mismatch at sector 99 offset 0", "vda", 100, 64).is_err());
        assert!(parse_blk_verify("blk verify vda 100+64: mismatch at sector 100 offset 512", "vda", 100, 64).is_err());
        assert!(parse_blk_verify("blk verify vda 100+64: bad", "vda", 100, 64).is_err());

        assert!(parse_blk_flush("blk flush vda: ok\n", "vda").is_ok());
        assert!(parse_blk_flush("blk: vda: error: device I/O error\n", "vda").is_err());
    }

    #[test]
    fn blk_stress_reply() {
        let out = "blk stress vda: 10000 ops 5012 reads 4988 writes digest=0123456789abcdef errors=0\n";
        assert_eq!(
            parse_blk_stress(out, "vda").unwrap(),
            StressReply { ops: 10_000, reads: 5012, writes: 4988, digest: 0x0123_4567_89ab_cdef, errors: 0 }
        );
        assert!(parse_blk_stress(&out.replace("5012", "5013"), "vda").unwrap_err().to_string().contains("!="));
        assert!(parse_blk_stress(&out.replace(" errors=0", ""), "vda").is_err());
        assert!(parse_blk_stress(&out.replace("reads", "rds"), "vda").is_err());
    }

    #[test]
    fn sched_replies() {
        assert_eq!(
            parse_sched_list("vda: [deadline] noop\n", "vda").unwrap(),
            ("deadline".to_string(), vec!["deadline".to_string(), "noop".to_string()])
        );
        assert_eq!(parse_sched_list("vda: deadline [noop]", "vda").unwrap().0, "noop");
        assert!(parse_sched_list("vda: deadline noop", "vda").is_err());
        assert!(parse_sched_list("vda: [deadline] [noop]", "vda").is_err());
        assert!(parse_sched_set("vda: scheduler noop\n", "vda", "noop").is_ok());
        assert!(parse_sched_set("vda: scheduler deadline\n", "vda", "noop").is_err());
        assert!(parse_sched_set("blk: vda: error: no scheduler frob\n", "vda", "frob").is_err());
    }

    #[test]
    fn blk_bench_reply() {
        let out = "blk bench vda seqwrite qd=32 bs=4096: ops=1000 bytes=4096000 us=200100 iops=4997 mbps=20.47\n";
        let r = parse_blk_bench(out, "vda", "seqwrite").unwrap();
        assert_eq!((r.qd, r.bs, r.ops, r.bytes, r.us), (32, 4096, 1000, 4_096_000, 200_100));
        assert_eq!((r.iops, r.mbps), (4997.0, 20.47));
        assert!(parse_blk_bench(out, "vda", "seqread").is_err());
        assert!(parse_blk_bench(&out.replace("bytes=4096000", "bytes=1"), "vda", "seqwrite").is_err());
        assert!(parse_blk_bench(&out.replace("us=200100", "us=0"), "vda", "seqwrite").is_err());
        assert!(parse_blk_bench(&out.replace("iops=4997", "iops=4997.5"), "vda", "seqwrite").is_ok());
    }

    const BLKSTAT: &str =
        "vda: requests=120 bios=300 merges=180 reads=40 writes=80 flushes=2 errors=0 in_flight=0 max_in_flight=32\n\
        vda latency_us: <=1:0 <=2:0 <=4:3 <=8:10 <=16:107 p50=16 p99=16\n\
        ram0: requests=4 bios=4 merges=0 reads=2 writes=2 flushes=0 errors=0 in_flight=0 max_in_flight=1\n\
        ram0 latency_us: <=1:4 p50=1 p99=1\n";

    #[test]
    fn blkstat_lines() {
        let s = parse_blkstat(BLKSTAT).unwrap();
        assert_eq!(s.len(), 2);
        let vda = &s["vda"];
        assert_eq!((vda.get("merges"), vda.get("max_in_flight"), vda.get("nosuch")), (180, 32, 0));
        assert_eq!(vda.latency_buckets, [(1, 0), (2, 0), (4, 3), (8, 10), (16, 107)]);
        assert_eq!((vda.p50_us, vda.p99_us, vda.latency_samples()), (Some(16), Some(16), 120));
        assert_eq!(s["ram0"].latency_buckets, [(1, 4)]);
        let with_driver = format!("{BLKSTAT}vda driver: notifies=40 interrupts=38 mode=msix\n");
        let d = &parse_blkstat(&with_driver).unwrap()["vda"].driver;
        assert_eq!((d.get("interrupts"), d.get("mode"), d.len()), (Some(&38), None, 2));
        assert!(parse_blkstat("vdb driver: x=1\n").is_err());
        let err = |t: &str| parse_blkstat(t).unwrap_err().to_string();
        assert!(err(&BLKSTAT.replace(" flushes=2", "")).contains("flushes"));
        assert!(err(&BLKSTAT.replace("<=8:10 <=16", "<=16:10 <=8")).contains("order"));
        assert!(err(&BLKSTAT.replace("requests=120", "requests=x")).contains("requests=x"));
        assert!(err(&BLKSTAT.replace(" p99=16", "")).contains("p99"));
        assert!(err("vda latency_us: <=1:0 p50=1 p99=1\n").contains("before the counters"));
        assert!(err("").contains("no device"));
    }

    #[test]
    fn bcache_replies() {
        let two = "bcache: dev=ram0 hits=9 misses=9 dirty=9 writebacks=9 evictions=9 cached=9\n\
                   bcache: dev=vda hits=3 misses=1 dirty=1 writebacks=0 evictions=0 cached=1\n";
        let s = parse_bcache_stats(two, "vda").unwrap();
        assert_eq!((s["hits"], s["dirty"], s["cached"]), (3, 1, 1));
        let none = "bcache: hits=0 misses=0 dirty=0 writebacks=0 evictions=0 cached=0\n";
        assert!(parse_bcache_stats(none, "vda").unwrap().values().all(|&v| v == 0));
        assert_eq!(parse_bcache_stats(&two[..two.find('\n').unwrap()], "vda").unwrap()["hits"], 0);
        assert!(parse_bcache_stats("bcache: dev=vda hits=3 misses=1\n", "vda").is_err());
        assert!(parse_bcache_stats("", "vda").is_err());
        assert_eq!(parse_bcache_read("bcache read vda 10: fnv1a64=00000000000000ff\n", "vda", 10).unwrap(), 255);
        assert!(parse_bcache_read("bcache read vda 10: ok\n", "vda", 10).is_err());
        assert!(parse_bcache_read("bcache read vda 11: fnv1a64=00000000000000ff\n", "vda", 10).is_err());
        assert_eq!(parse_bcache_sync("bcache sync: 1 blocks written\n").unwrap(), 1);
        assert!(parse_bcache_sync("bcache sync: done\n").is_err());
    }

    #[test]
    fn sfdisk_json_and_sgdisk_info() {
        let json = r#"{"partitiontable": {"label": "dos", "device": "/t/vblk0.img", "unit": "sectors",
            "partitions": [
              {"node": "/t/vblk0.img1", "start": 2048, "size": 2048, "type": "83"},
              {"node": "/t/vblk0.img3", "start": 16384, "size": 32768, "type": "5"},
              {"node": "/t/vblk0.img5", "start": 18432, "size": 4096, "type": "83"}]}}"#;
        let parts = parse_sfdisk_json(json).unwrap();
        assert_eq!(parts[0], HostPartition { number: 1, start: 2048, sectors: 2048, kind: "83".into() });
        assert_eq!((parts[1].number, parts[1].is_extended(), parts[2].number), (3, true, 5));
        // A device name ending in a digit gets a `p` before the number.
        let p = parse_sfdisk_json(
            r#"{"partitiontable": {"device": "/dev/loop0", "partitions": [{"node": "/dev/loop0p2", "start": 1, "size": 2, "type": "83"}]}}"#,
        )
        .unwrap();
        assert_eq!(p[0].number, 2);
        assert!(parse_sfdisk_json("{}").is_err());

        let info = "Partition GUID code: 0FC63DAF-8483-4772-8E79-3D69D8477DE4 (Linux filesystem)\n\
            Partition unique GUID: 0BF7E73C-401A-4B9A-B572-3DA184D0C25F\n\
            First sector: 4096 (at 2.0 MiB)\nLast sector: 12287 (at 6.0 MiB)\n\
            Partition size: 8192 sectors (4.0 MiB)\n";
        let (first, last, guid) = parse_sgdisk_info(info).unwrap();
        assert_eq!((first, last, guid.as_str()), (4096, 12287, "0FC63DAF-8483-4772-8E79-3D69D8477DE4"));
        assert!(parse_sgdisk_info("Partition #9 does not exist.\n").is_err());
    }

    #[test]
    fn partitions_are_checked_exactly() {
        let host = [
            HostPartition { number: 1, start: 2048, sectors: 2048, kind: "83".into() },
            HostPartition { number: 3, start: 16384, sectors: 32768, kind: "5".into() },
            HostPartition { number: 5, start: 18432, sectors: 4096, kind: "83".into() },
        ];
        let devs = |rows: &str| {
            parse_lsblk(&format!("NAME TYPE SECTORS START PARENT SCHED DRIVER SIZE\nvda disk 131072 0 - deadline virtio-blk 64MiB\n{rows}")).unwrap()
        };
        let good = devs("vda1 part 2048 2048 vda - - 1MiB\nvda5 part 4096 18432 vda - - 2MiB\n");
        check_partitions(&good, &host).unwrap();
        // The extended container may be listed (Linux shows it with 2 sectors).
        let ext = devs(
            "vda1 part 2048 2048 vda - - 1MiB\nvda3 part 2 16384 vda - - 1KiB\nvda5 part 4096 18432 vda - - 2MiB\n",
        );
        check_partitions(&ext, &host).unwrap();
        let e = check_partitions(&devs("vda1 part 2048 2049 vda - - 1MiB\n"), &host).unwrap_err().to_string();
        assert!(e.contains("vda1 START 2049") && e.contains("vda5 (18432+4096) is not listed"), "{e}");
        let e = check_partitions(&devs("vda1 part 2047 2048 vda - - 1MiB\nvda5 part 4096 18432 vda - - 2MiB\nvda6 part 8 100000 vda - - 4KiB\n"), &host)
            .unwrap_err()
            .to_string();
        assert!(e.contains("vda1 SECTORS 2047") && e.contains("vda6 (100000+8) is not in the table"), "{e}");
    }

    #[test]
    fn images_compare_by_sector() {
        let a = vec![0u8; 4 * SECTOR];
        let mut b = a.clone();
        assert_eq!(first_difference(&a, &b), None);
        b[2 * SECTOR + 7] = 1;
        b[3 * SECTOR] = 1;
        assert_eq!(first_difference(&a, &b), Some((2, 7)));
        let e = compare_images(&a, &b, "x").unwrap_err().to_string();
        assert!(e.contains("sector 2 byte 7") && e.contains("2 sector(s) differ"), "{e}");
        assert_eq!(first_difference(&a, &a[..SECTOR + 3]), Some((1, 3)));
        let mut img = a.clone();
        splice(&mut img, 1, &[9; SECTOR]);
        assert_eq!(first_difference(&a, &img), Some((1, 0)));
    }

    #[test]
    fn image_files_are_read_and_written_by_sector() {
        let dir = crate::machine::ScratchDir::temporary("unit-blk").unwrap();
        let path = dir.path().join("img");
        fs::write(&path, vec![0u8; 8 * SECTOR]).unwrap();
        write_image_at(&path, 3, &[7u8; 2 * SECTOR]).unwrap();
        assert_eq!(read_image_at(&path, 3, 2).unwrap(), vec![7u8; 2 * SECTOR]);
        assert_eq!(read_image_at(&path, 5, 1).unwrap(), vec![0u8; SECTOR]);
        assert!(read_image_at(&path, 8, 1).is_err());
    }

    #[test]
    fn host_patterns_come_from_the_block_crate() {
        let a = pattern(1, 100, 2);
        assert_eq!(a.len(), 2 * SECTOR);
        // The pattern depends on the sector: the second sector of a run from
        // 100 is the first of a run from 101.
        assert_eq!(&a[SECTOR..], &pattern(1, 101, 1)[..]);
        assert_ne!(a, pattern(2, 100, 2));
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn patterns_are_checked_to_the_byte() {
        let mut data = pattern(5, 80, 8);
        check_pattern(5, 80, &data, "block").unwrap();
        data[3 * SECTOR + 9] ^= 1;
        let e = check_pattern(5, 80, &data, "block 10").unwrap_err().to_string();
        assert!(e.starts_with("block 10: not the pattern of seed 5: sector 83 offset 9"), "{e}");
    }

    #[test]
    fn stress_model_counts_its_ops() {
        let image = pattern(3, 0, 256);
        let a = stress_model(image.clone(), 500, 42, 16);
        assert_eq!(a.reads + a.writes, 500);
        assert!(a.reads > 0 && a.writes > 0);
        assert_eq!(a.image.len(), image.len());
        assert_ne!(a.image, image);
        let b = stress_model(image, 500, 42, 16);
        assert_eq!((a.digest, a.reads), (b.digest, b.reads));
    }

    #[test]
    fn the_partition_layouts_fit_the_disk() {
        for (_, first, sectors) in GPT_LAYOUT {
            assert!(first >= 34 && first + sectors <= VDA_SECTORS - 33);
        }
        assert!(MBR_SCRIPT.contains("type=5"));
    }
}
