//! `cargo xtask bench blk`: the virtio-blk disk and the RAM disk, measured
//! by the kernel's `blk bench`.
//!
//! Each run boots a fresh standard machine (see [`super`]) and runs, on `vda`
//! (virtio-blk over the scratch image; the kernel benches its second half, so
//! nothing the tests wrote is touched) and on `ram0`:
//!
//! | workload | queue depth | block |
//! |---|---|---|
//! | random read | 1 | 4 KiB |
//! | random read | 32 | 4 KiB |
//! | sequential read | 4 | 1 MiB |
//! | sequential write | 4 | 1 MiB |
//!
//! each for [`BlkArgs::ms`] milliseconds (`blk bench <dev> <kind> <qd>
//! <bytes> <ms>`). Around each one xtask reads `blkstat` (device requests,
//! merges, the log2 latency histogram, whose difference gives this
//! workload's own p50/p99) and `interrupts` (rows whose handler names the
//! device), so the table can say what one I/O cost: requests per operation
//! and interrupts per request. Under TCG every guest instruction and every
//! device register access is emulated; the RAM disk shows the block layer's
//! own cost, `vda` adds the virtio queue, the interrupt and QEMU's file I/O.
//!
//! Results: `target/ioxide/bench/blk.json` (every run, and medians across
//! runs), `docs/img/blk.png` (IOPS and MB/s, medians) and a table. No number
//! is judged.

use super::plot::{self, BarChart, BarSeries, PALETTE};
use super::{median, MachineInfo};
use crate::e2e::blk::{BenchReply, BlkSession, DevStat};
use crate::e2e::parse;
use crate::kernel_build::workspace_root;
use crate::settings::Settings;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// The bench's name: the JSON file's stem.
const NAME: &str = "blk";
/// The plot, relative to the workspace root.
const PLOT: &str = "docs/img/blk.png";
/// The devices measured, in order.
pub const DEVICES: [&str; 2] = ["vda", "ram0"];
const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// One `blk bench` configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    pub kind: &'static str,
    pub qd: u32,
    pub bs: u64,
}

/// The workloads, in order.
pub const WORKLOADS: [Workload; 4] = [
    Workload { kind: "randread", qd: 1, bs: 4 * KIB },
    Workload { kind: "randread", qd: 32, bs: 4 * KIB },
    Workload { kind: "seqread", qd: 4, bs: MIB },
    Workload { kind: "seqwrite", qd: 4, bs: MIB },
];

impl Workload {
    /// `randread qd=32 bs=4KiB`.
    pub fn label(&self) -> String {
        label(self.kind, self.qd, self.bs)
    }
}

/// `randread qd=32 bs=4KiB`.
fn label(kind: &str, qd: u32, bs: u64) -> String {
    let bs = if bs.is_multiple_of(MIB) { format!("{}MiB", bs / MIB) } else { format!("{}KiB", bs / KIB) };
    format!("{kind} qd={qd} bs={bs}")
}

/// Options of `cargo xtask bench blk`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Each run boots a fresh machine (about 15 s per run with the default duration). \
                        Results: target/ioxide/bench/blk.json and docs/img/blk.png. Comparisons with Linux \
                        use IOXIDE_SMP=1 (as the Linux anchor does); IOXIDE_ACCEL=kvm measures under KVM.")]
pub struct BlkArgs {
    /// Runs (each a fresh boot); the summary is the median across them.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub runs: u32,
    /// Milliseconds per workload and device.
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub ms: u64,
}

/// One workload on one device in one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measurement {
    pub dev: String,
    pub kind: String,
    pub qd: u32,
    pub bs: u64,
    /// The kernel's reply.
    pub result: BenchReply,
    /// Δ `blkstat` requests and merges (`None` if the device has no line).
    pub requests: Option<u64>,
    pub merges: Option<u64>,
    /// This workload's latency percentiles (µs, bucket upper bounds) from
    /// the Δ of `blkstat`'s histogram.
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    /// Δ interrupts on the rows naming the device (`None`: no such row).
    pub interrupts: Option<u64>,
    pub requests_per_op: Option<f64>,
    pub interrupts_per_request: Option<f64>,
}

/// A measurement's medians across runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MedianMeasurement {
    pub dev: String,
    pub kind: String,
    pub qd: u32,
    pub bs: u64,
    pub iops: f64,
    pub mbps: f64,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub requests_per_op: Option<f64>,
    pub interrupts_per_request: Option<f64>,
}

/// `target/ioxide/bench/blk.json`.
#[derive(Debug, Serialize)]
pub struct BlkResults {
    pub bench: &'static str,
    pub machine: MachineInfo,
    pub fresh_boot_per_run: bool,
    pub git: Option<String>,
    pub unix_time: u64,
    pub ms_per_workload: u64,
    pub runs: Vec<Vec<Measurement>>,
    /// Medians across `runs.len()` runs.
    pub median: Vec<MedianMeasurement>,
    pub plot: String,
}

/// `cargo xtask bench blk`.
pub fn run(args: &BlkArgs, settings: &Settings) -> Result<()> {
    let info = MachineInfo::new(settings);
    println!(
        "bench {NAME}: {} run(s) on the standard machine ({} vCPU(s), {}, {}), {} ms per workload",
        args.runs, info.smp, info.mem, info.accel, args.ms
    );
    let mut runs = Vec::new();
    for i in 1..=args.runs {
        let started = Instant::now();
        let run = one_run(args.ms).with_context(|| format!("run {i}/{}", args.runs))?;
        println!("run {i}/{} ({:.0} s)", args.runs, started.elapsed().as_secs_f64());
        runs.push(run);
    }
    let median = medians(&runs);
    let plot_path = workspace_root().join(PLOT);
    if let Some(dir) = plot_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    plot::write_bars_png(&charts(&median, runs.len(), info.smp), (1000, 480), &plot_path)?;
    let results = BlkResults {
        bench: NAME,
        machine: info,
        fresh_boot_per_run: true,
        git: super::git_revision(),
        unix_time: super::unix_time(),
        ms_per_workload: args.ms,
        runs,
        median,
        plot: plot_path.display().to_string(),
    };
    let path = super::write_json(NAME, &results)?;
    print!("{}", render_table(&results));
    println!("results: {}", path.display());
    println!("plot: {}", plot_path.display());
    Ok(())
}

/// One fresh boot: every workload on every device.
fn one_run(ms: u64) -> Result<Vec<Measurement>> {
    let mut b = BlkSession::boot(&[], |_| Ok(()))?;
    let mut out = Vec::new();
    for dev in DEVICES {
        for w in WORKLOADS {
            let stat_before = b.blkstat()?.remove(dev);
            let irq_before =
                device_interrupts(&mut b, dev)?.or_else(|| stat_before.as_ref().and_then(driver_interrupts));
            let result = b.bench(dev, w.kind, w.qd, w.bs, ms)?;
            let stat_after = b.blkstat()?.remove(dev);
            let irq_after = device_interrupts(&mut b, dev)?.or_else(|| stat_after.as_ref().and_then(driver_interrupts));
            let m =
                measurement(dev, w, result, stat_before.as_ref().zip(stat_after.as_ref()), irq_before.zip(irq_after));
            println!(
                "  {dev:<5} {:<28} {:>9.0} IOPS {:>9.2} MB/s  p50 {:>6} µs  irq/req {}",
                w.label(),
                m.result.iops,
                m.result.mbps,
                opt_u(m.p50_us),
                opt(m.interrupts_per_request, 2)
            );
            out.push(m);
        }
    }
    Ok(out)
}

/// The total of the `interrupts` rows whose handler names `dev` or its
/// driver (`None` when no row does, e.g. the RAM disk).
fn device_interrupts(b: &mut BlkSession, dev: &str) -> Result<Option<u64>> {
    let table = b.run("interrupts", parse::parse_cpu_table)?;
    Ok(interrupts_of(&table, dev))
}

/// See [`device_interrupts`]: a handler word equal to the device's name or,
/// for `vda`, its driver's (`virtio-blk`), or starting with one of those
/// and `-` (`virtio-blk-config`, `vda-req0`).
pub fn interrupts_of(table: &parse::CpuTable, dev: &str) -> Option<u64> {
    let names: &[&str] = if dev == "vda" { &["vda", "virtio-blk", "virtio_blk"] } else { &[dev] };
    let matches = |w: &str| {
        let w = w.trim_matches(',');
        names.iter().any(|n| w == *n || w.strip_prefix(n).is_some_and(|rest| rest.starts_with('-')))
    };
    let rows: Vec<&parse::CpuRow> = table.rows.iter().filter(|r| r.rest.split_whitespace().any(matches)).collect();
    (!rows.is_empty()).then(|| rows.iter().map(|r| r.total()).sum())
}

/// The driver's own interrupt count from its `blkstat` line, if it keeps one
/// (the fallback when no `interrupts` row names the device).
pub fn driver_interrupts(stat: &DevStat) -> Option<u64> {
    ["interrupts", "irqs"].iter().find_map(|k| stat.driver.get(*k).copied())
}

/// The percentile `q` (0..1) of a log2 histogram, as its bucket's upper bound.
pub fn bucket_percentile(buckets: &[(u64, u64)], q: f64) -> Option<u64> {
    let total: u64 = buckets.iter().map(|b| b.1).sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    buckets
        .iter()
        .find(|b| {
            seen += b.1;
            seen >= rank
        })
        .map(|b| b.0)
}

/// The histogram of what happened between two `blkstat`s (buckets matched by bound).
pub fn bucket_delta(before: &DevStat, after: &DevStat) -> Vec<(u64, u64)> {
    after
        .latency_buckets
        .iter()
        .map(|&(le, n)| {
            let was = before.latency_buckets.iter().find(|b| b.0 == le).map_or(0, |b| b.1);
            (le, n.saturating_sub(was))
        })
        .collect()
}

/// A measurement from the bench's reply and the counters around it.
pub fn measurement(
    dev: &str,
    w: Workload,
    result: BenchReply,
    stat: Option<(&DevStat, &DevStat)>,
    irqs: Option<(u64, u64)>,
) -> Measurement {
    let delta = |name: &str| stat.map(|(a, b)| b.get(name).saturating_sub(a.get(name)));
    let requests = delta("requests");
    let hist = stat.map(|(a, b)| bucket_delta(a, b)).unwrap_or_default();
    let interrupts = irqs.map(|(a, b)| b.saturating_sub(a));
    let ratio = |n: Option<u64>, d: Option<u64>| match (n, d) {
        (Some(n), Some(d)) if d > 0 => Some(n as f64 / d as f64),
        _ => None,
    };
    Measurement {
        dev: dev.to_string(),
        kind: w.kind.to_string(),
        qd: w.qd,
        bs: w.bs,
        result,
        requests,
        merges: delta("merges"),
        p50_us: bucket_percentile(&hist, 0.50),
        p99_us: bucket_percentile(&hist, 0.99),
        interrupts,
        requests_per_op: ratio(requests, Some(result.ops)),
        interrupts_per_request: ratio(interrupts, requests),
    }
}

/// Medians across runs, per device and workload (in the order of the first run).
pub fn medians(runs: &[Vec<Measurement>]) -> Vec<MedianMeasurement> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    first
        .iter()
        .map(|m0| {
            let same: Vec<&Measurement> = runs
                .iter()
                .flatten()
                .filter(|m| (&m.dev, &m.kind, m.qd, m.bs) == (&m0.dev, &m0.kind, m0.qd, m0.bs))
                .collect();
            let med = |pick: &dyn Fn(&Measurement) -> Option<f64>| {
                median(&same.iter().filter_map(|m| pick(m)).collect::<Vec<_>>())
            };
            MedianMeasurement {
                dev: m0.dev.clone(),
                kind: m0.kind.clone(),
                qd: m0.qd,
                bs: m0.bs,
                iops: med(&|m| Some(m.result.iops)).unwrap_or(0.0),
                mbps: med(&|m| Some(m.result.mbps)).unwrap_or(0.0),
                p50_us: med(&|m| m.p50_us.map(|v| v as f64)),
                p99_us: med(&|m| m.p99_us.map(|v| v as f64)),
                requests_per_op: med(&|m| m.requests_per_op),
                interrupts_per_request: med(&|m| m.interrupts_per_request),
            }
        })
        .collect()
}

/// The medians of one device and workload.
fn find<'a>(median: &'a [MedianMeasurement], dev: &str, w: &Workload) -> Option<&'a MedianMeasurement> {
    median.iter().find(|m| m.dev == dev && m.kind == w.kind && m.qd == w.qd && m.bs == w.bs)
}

/// Two panels: 4 KiB random-read IOPS at qd 1 and 32; 1 MiB sequential MB/s.
pub fn charts(median: &[MedianMeasurement], runs: usize, smp: u32) -> Vec<BarChart> {
    let panel = |title: String,
                 y_label: &str,
                 workloads: &[Workload],
                 names: &[&str],
                 pick: fn(&MedianMeasurement) -> f64| {
        let series = DEVICES
            .iter()
            .zip([PALETTE[1], PALETTE[2]])
            .map(|(dev, color)| BarSeries {
                label: dev.to_string(),
                values: workloads.iter().map(|w| find(median, dev, w).map_or(0.0, pick)).collect(),
                color,
            })
            .collect();
        BarChart { title, y_label: y_label.into(), categories: names.iter().map(|n| n.to_string()).collect(), series }
    };
    let runs = format!("median of {runs} run(s), {smp} vCPU(s)");
    vec![
        panel(format!("4 KiB random read ({runs})"), "IOPS", &WORKLOADS[..2], &["qd 1", "qd 32"], |m| m.iops),
        panel(format!("1 MiB sequential, qd 4 ({runs})"), "MB/s", &WORKLOADS[2..], &["read", "write"], |m| m.mbps),
    ]
}

fn opt(x: Option<f64>, decimals: usize) -> String {
    x.map_or("-".to_string(), |v| format!("{v:.decimals$}"))
}

fn opt_u(x: Option<u64>) -> String {
    x.map_or("-".to_string(), |v| v.to_string())
}

/// The table printed at the end.
pub fn render_table(r: &BlkResults) -> String {
    let mut lines = vec![
        String::new(),
        format!(
            "bench blk: medians of {} run(s) (each a fresh boot), {} vCPU(s), {}, {}; {} ms per workload",
            r.runs.len(),
            r.machine.smp,
            r.machine.mem,
            r.machine.accel,
            r.ms_per_workload
        ),
        format!(
            "{:<6}{:<30}{:>10}{:>10}{:>9}{:>9}{:>9}{:>9}",
            "dev", "workload", "IOPS", "MB/s", "p50 µs", "p99 µs", "req/op", "irq/req"
        ),
    ];
    let mut by_dev: BTreeMap<&str, Vec<&MedianMeasurement>> = BTreeMap::new();
    for m in &r.median {
        by_dev.entry(m.dev.as_str()).or_default().push(m);
    }
    for dev in DEVICES {
        for m in by_dev.get(dev).into_iter().flatten() {
            lines.push(format!(
                "{:<6}{:<30}{:>10.0}{:>10.2}{:>9}{:>9}{:>9}{:>9}",
                m.dev,
                label(&m.kind, m.qd, m.bs),
                m.iops,
                m.mbps,
                opt(m.p50_us, 0),
                opt(m.p99_us, 0),
                opt(m.requests_per_op, 2),
                opt(m.interrupts_per_request, 2)
            ));
        }
    }
    lines.push(
        "p50/p99: upper bounds of blkstat's log2 latency buckets; req/op: device requests per bench operation; \
         irq/req: interrupts on the device's lines per request"
            .into(),
    );
    lines.iter().map(|l| format!("{}\n", l.trim_end())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(iops: f64, mbps: f64) -> BenchReply {
        BenchReply { qd: 1, bs: 4096, ops: 100, bytes: 409_600, us: 1_000_000, iops, mbps }
    }

    fn stat(requests: u64, merges: u64, buckets: &[(u64, u64)]) -> DevStat {
        let mut s = DevStat::default();
        s.counters.insert("requests".into(), requests);
        s.counters.insert("merges".into(), merges);
        s.latency_buckets = buckets.to_vec();
        s
    }

    #[test]
    fn percentiles_from_buckets() {
        let h = [(1, 0), (2, 50), (4, 45), (8, 5)];
        assert_eq!(bucket_percentile(&h, 0.5), Some(2));
        assert_eq!(bucket_percentile(&h, 0.51), Some(4));
        assert_eq!(bucket_percentile(&h, 0.99), Some(8));
        assert_eq!(bucket_percentile(&h, 0.0), Some(2));
        assert_eq!(bucket_percentile(&[(1, 0)], 0.5), None);
        let before = stat(0, 0, &[(1, 3), (2, 4)]);
        let after = stat(0, 0, &[(1, 3), (2, 10), (4, 1)]);
        assert_eq!(bucket_delta(&before, &after), [(1, 0), (2, 6), (4, 1)]);
    }

    #[test]
    fn a_measurement_relates_ops_requests_and_interrupts() {
        let w = WORKLOADS[1];
        let before = stat(10, 1, &[(8, 10)]);
        let after = stat(60, 21, &[(8, 40), (16, 30)]);
        let m = measurement("vda", w, reply(100.0, 0.4), Some((&before, &after)), Some((5, 30)));
        assert_eq!((m.requests, m.merges, m.interrupts), (Some(50), Some(20), Some(25)));
        assert_eq!((m.requests_per_op, m.interrupts_per_request), (Some(0.5), Some(0.5)));
        assert_eq!((m.p50_us, m.p99_us), (Some(8), Some(16)));
        let bare = measurement("ram0", w, reply(1.0, 0.0), None, None);
        assert_eq!((bare.requests, bare.interrupts_per_request, bare.p50_us), (None, None, None));
        assert_eq!(w.label(), "randread qd=32 bs=4KiB");
        assert_eq!(WORKLOADS[3].label(), "seqwrite qd=4 bs=1MiB");
    }

    #[test]
    fn interrupt_rows_are_found_by_handler_name() {
        let text = "           CPU0       CPU1\n\
            4:          3          0   IO-APIC   4-edge      serial\n\
            24:        10          5   PCI-MSI   virtio-blk-config\n\
            25:       100        200   PCI-MSI   vda\n\
            LOC:      500        400   Local timer interrupts\n";
        let table = parse::parse_cpu_table(text).unwrap();
        assert_eq!(interrupts_of(&table, "vda"), Some(315));
        assert_eq!(interrupts_of(&table, "ram0"), None);
        let mut s = stat(0, 0, &[]);
        assert_eq!(driver_interrupts(&s), None);
        s.driver.insert("irqs".into(), 7);
        assert_eq!(driver_interrupts(&s), Some(7));
    }

    #[test]
    fn medians_table_and_charts() {
        let run = |k: f64| -> Vec<Measurement> {
            DEVICES
                .iter()
                .flat_map(|dev| {
                    WORKLOADS
                        .iter()
                        .map(move |w| measurement(dev, *w, reply(1000.0 * k, 10.0 * k), None, Some((0, 100))))
                })
                .collect()
        };
        let runs = vec![run(1.0), run(3.0), run(2.0)];
        let m = medians(&runs);
        assert_eq!(m.len(), DEVICES.len() * WORKLOADS.len());
        assert_eq!((m[0].dev.as_str(), m[0].iops, m[0].mbps), ("vda", 2000.0, 20.0));
        assert!(medians(&[]).is_empty());
        let charts = charts(&m, 3, 2);
        assert_eq!(charts.len(), 2);
        assert_eq!(charts[0].categories, ["qd 1", "qd 32"]);
        assert_eq!(charts[0].series[1].label, "ram0");
        assert_eq!(charts[1].series[0].values, [20.0, 20.0]);
        assert!(charts[0].title.contains("median of 3 run(s)"));

        let settings = Settings::from_lookup(|_| None).unwrap();
        let results = BlkResults {
            bench: NAME,
            machine: MachineInfo::new(&settings),
            fresh_boot_per_run: true,
            git: None,
            unix_time: 0,
            ms_per_workload: 1500,
            runs,
            median: m,
            plot: PLOT.into(),
        };
        let table = render_table(&results);
        assert!(table.contains("medians of 3 run(s)"), "{table}");
        let row = table.lines().find(|l| l.starts_with("ram0") && l.contains("seqwrite")).unwrap();
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            ["ram0", "seqwrite", "qd=4", "bs=1MiB", "2000", "20.00", "-", "-", "-", "-"]
        );
        let json = serde_json::to_value(&results).unwrap();
        assert_eq!(json["median"][0]["iops"], 2000.0);
        assert_eq!(json["runs"][0][0]["result"]["iops"], 1000.0);
    }
}
