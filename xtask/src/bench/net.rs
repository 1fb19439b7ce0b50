//! `cargo xtask bench net`: the NICs measured from the host, eth0 (e1000)
//! and eth1 (virtio-net) (`--nic e1000|virtio|both`, default both).
//!
//! Each run boots a fresh standard machine per NIC (see [`super`]), resolves
//! the guest's address on that NIC and measures, from the host peer on that
//! NIC's loopback netdev (the same measurements for every NIC):
//!
//! 1. **UDP echo latency**: 1000 round trips of a 64-byte payload to port 7,
//!    one outstanding (after 100 unrecorded warm-up echoes); min/p50/p99/max.
//! 2. **Echo throughput**: 32 requests kept outstanding; replies per second.
//! 3. **The livelock sweep**: for each interrupt mode (`net mode <iface> irq`,
//!    then `napi`), an open-loop flood of 64-byte datagrams to the discard
//!    port at offered rates from 10 kpps up to the generator's maximum (8
//!    steps, evenly spaced on a log scale; the last unpaced), 2 s each. Around
//!    each step the kernel's counters are read once the guest is quiet
//!    (`ethtool -S <iface>` stops moving): `netstat`'s discard datagrams give the
//!    delivered rate (over the flood's duration: what the guest still drained
//!    after the flood counts, at most a ring and a socket buffer), and the
//!    deltas of `interrupts`, `polls`, `rx_doorbells`, `tx_doorbells`,
//!    `register_writes` and `rx_packets` give interrupts per packet and RX
//!    doorbell (tail register writes; virtqueue notifications on the
//!    virtio-net) per 32 packets — the cost NAPI and batched refills are
//!    there to cut (the x2APIC EOI lesson of Asterinas #1634: count the
//!    register writes).
//!
//! Runs alternate between the NICs (run 1 on each, then run 2 …), so a drift
//! of the host touches both alike. Results: `target/ioxide/bench/net.json`
//! (per NIC: every run, and medians across runs),
//! `target/ioxide/bench/net-livelock.png` (delivered against offered, one
//! line per NIC and mode, medians) and a table. No number is judged.

use super::plot::{self, Chart, Series, PALETTE};
use super::{median, MachineInfo};
use crate::e2e::net::NetSession;
use crate::net::gen::{self, EchoOptions, Size, Summary, ThroughputReport};
use crate::net::shell::Snapshot;
use crate::net::{Nic, NICS};
use crate::settings::Settings;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The bench's name: the JSON file's stem.
const NAME: &str = "net";
/// The plot's file name.
const PLOT: &str = "net-livelock.png";
/// The payload of every echo and flood datagram.
const PAYLOAD: usize = 64;
const LATENCY_SAMPLES: u64 = 1000;
const WARMUP: u64 = 100;
const WINDOW: usize = 32;
const THROUGHPUT_REQUESTS: u64 = 20_000;
const SWEEP_FROM_PPS: f64 = 10_000.0;
const SWEEP_STEPS: usize = 8;
const STEP_TIME: Duration = Duration::from_secs(2);
/// The modes swept, in order.
const MODES: [&str; 2] = ["irq", "napi"];
/// The ethtool counters each step reads (docs/testing.md, "Network").
const STEP_COUNTERS: [&str; 6] =
    ["rx_packets", "interrupts", "polls", "rx_doorbells", "tx_doorbells", "register_writes"];

/// Options of `cargo xtask bench net`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Each run boots a fresh machine per NIC (about a minute and a half per run and NIC). \
                        Results: target/ioxide/bench/net.json and net-livelock.png. Comparisons with Linux \
                        use IOXIDE_SMP=1 (as the Linux anchor does); IOXIDE_ACCEL=kvm measures under KVM.")]
pub struct NetArgs {
    /// Runs (each a fresh boot per NIC); the summary is the median across them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub runs: u32,
    /// The NICs measured: eth0 (e1000), eth1 (virtio-net), or both.
    #[arg(long, value_enum, default_value_t = NicChoice::Both)]
    pub nic: NicChoice,
}

/// `--nic`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NicChoice {
    /// eth0, the e1000.
    E1000,
    /// eth1, the virtio-net.
    Virtio,
    /// Both, one after the other.
    Both,
}

impl NicChoice {
    /// The NICs chosen, in the order of their interfaces.
    pub fn nics(self) -> Vec<Nic> {
        NICS.into_iter()
            .filter(|n| match self {
                Self::E1000 => *n == crate::net::E1000,
                Self::Virtio => *n == crate::net::VIRTIO,
                Self::Both => true,
            })
            .collect()
    }
}

/// One step of the livelock sweep.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Step {
    pub mode: String,
    /// The rate asked of the generator (`None`: unpaced, as fast as it goes).
    pub target_pps: Option<f64>,
    /// The rate the generator achieved.
    pub offered_pps: f64,
    pub sent: u64,
    pub flood_s: f64,
    /// Δ discard datagrams.
    pub delivered: u64,
    pub delivered_pps: f64,
    /// Seconds from the flood's end until the counters stopped moving.
    pub drain_s: f64,
    pub rx_packets: u64,
    pub rx_dropped: u64,
    pub interrupts: u64,
    pub polls: u64,
    pub rx_doorbells: u64,
    pub tx_doorbells: u64,
    pub register_writes: u64,
    /// `None` when no packet was received.
    pub interrupts_per_packet: Option<f64>,
    pub rx_doorbells_per_32_packets: Option<f64>,
    pub register_writes_per_packet: Option<f64>,
}

impl Step {
    /// A step from the counters around a flood.
    pub fn from_counters(
        mode: &str,
        flood: &gen::FloodReport,
        before: &Snapshot,
        after: &Snapshot,
        drain_s: f64,
    ) -> Result<Self> {
        let d = |name: &str| after.delta(before, name);
        let rx_packets = d("rx_packets")?;
        let per = |n: u64, k: f64| (rx_packets > 0).then(|| n as f64 * k / rx_packets as f64);
        let delivered = after.discard.datagrams.saturating_sub(before.discard.datagrams);
        let (interrupts, rx_doorbells, register_writes) = (d("interrupts")?, d("rx_doorbells")?, d("register_writes")?);
        Ok(Self {
            mode: mode.to_string(),
            target_pps: flood.target_pps,
            offered_pps: flood.achieved_pps,
            sent: flood.sent,
            flood_s: flood.elapsed_s,
            delivered,
            delivered_pps: delivered as f64 / flood.elapsed_s.max(1e-9),
            drain_s,
            rx_packets,
            rx_dropped: after.delta_or_zero(before, "rx_dropped")?,
            interrupts,
            polls: d("polls")?,
            rx_doorbells,
            tx_doorbells: d("tx_doorbells")?,
            register_writes,
            interrupts_per_packet: per(interrupts, 1.0),
            rx_doorbells_per_32_packets: per(rx_doorbells, 32.0),
            register_writes_per_packet: per(register_writes, 1.0),
        })
    }
}

/// One run's numbers.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// UDP echo round trips, microseconds.
    pub latency_us: Summary,
    pub latency_retransmits: u64,
    pub throughput: ThroughputReport,
    pub sweep: Vec<Step>,
}

/// A sweep step's medians across runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MedianStep {
    pub mode: String,
    pub target_pps: Option<f64>,
    pub offered_pps: f64,
    pub delivered_pps: f64,
    pub interrupts_per_packet: Option<f64>,
    pub rx_doorbells_per_32_packets: Option<f64>,
    pub register_writes_per_packet: Option<f64>,
}

/// Medians across runs.
#[derive(Clone, Debug, Serialize)]
pub struct Medians {
    pub latency_p50_us: f64,
    pub latency_p99_us: f64,
    pub throughput_per_s: f64,
    pub sweep: Vec<MedianStep>,
}

/// One NIC's numbers in `net.json`.
#[derive(Clone, Debug, Serialize)]
pub struct NicResults {
    pub iface: &'static str,
    pub model: &'static str,
    pub guest_ip: String,
    pub runs: Vec<RunReport>,
    pub median: Medians,
}

impl NicResults {
    pub fn new(nic: &Nic, runs: Vec<RunReport>) -> Result<Self> {
        let median = medians(&runs)?;
        Ok(Self { iface: nic.iface, model: nic.model, guest_ip: nic.guest_ip.to_string(), runs, median })
    }
}

/// `target/ioxide/bench/net.json`.
#[derive(Debug, Serialize)]
pub struct NetResults {
    pub bench: &'static str,
    pub machine: MachineInfo,
    pub fresh_boot_per_run: bool,
    pub git: Option<String>,
    pub unix_time: u64,
    pub payload_bytes: usize,
    pub latency_samples: u64,
    pub window: usize,
    /// The generator's calibrated maximum send rate on this host.
    pub generator_max_pps: f64,
    pub step_s: f64,
    /// Per NIC measured, by [`Nic::name`] (`e1000`, `virtio`).
    pub nics: BTreeMap<&'static str, NicResults>,
    pub plot: String,
}

/// The median of the values `pick` finds (skipping `None`s).
fn median_of<T>(items: &[T], pick: impl Fn(&T) -> Option<f64>) -> Option<f64> {
    median(&items.iter().filter_map(pick).collect::<Vec<_>>())
}

/// Medians across runs; sweep steps are matched by mode and position.
pub fn medians(runs: &[RunReport]) -> Result<Medians> {
    let first = runs.first().context("no runs to summarize")?;
    let sweep = (0..first.sweep.len())
        .map(|i| {
            let steps: Vec<&Step> = runs.iter().filter_map(|r| r.sweep.get(i)).collect();
            let m = |pick: fn(&Step) -> Option<f64>| median_of(&steps, |s| pick(s));
            MedianStep {
                mode: first.sweep[i].mode.clone(),
                target_pps: first.sweep[i].target_pps,
                offered_pps: m(|s| Some(s.offered_pps)).unwrap_or(0.0),
                delivered_pps: m(|s| Some(s.delivered_pps)).unwrap_or(0.0),
                interrupts_per_packet: m(|s| s.interrupts_per_packet),
                rx_doorbells_per_32_packets: m(|s| s.rx_doorbells_per_32_packets),
                register_writes_per_packet: m(|s| s.register_writes_per_packet),
            }
        })
        .collect();
    Ok(Medians {
        latency_p50_us: median_of(runs, |r| Some(r.latency_us.p50)).unwrap_or(0.0),
        latency_p99_us: median_of(runs, |r| Some(r.latency_us.p99)).unwrap_or(0.0),
        throughput_per_s: median_of(runs, |r| Some(r.throughput.replies_per_s)).unwrap_or(0.0),
        sweep,
    })
}

/// `cargo xtask bench net`.
pub fn run(args: &NetArgs, settings: &Settings) -> Result<()> {
    let info = MachineInfo::new(settings);
    let nics = args.nic.nics();
    let names: Vec<String> = nics.iter().map(Nic::describe).collect();
    println!(
        "bench {NAME}: {} run(s) of {} on the standard machine ({} vCPU(s), {}, {}); compare with Linux at IOXIDE_SMP=1",
        args.runs,
        names.join(" and "),
        info.smp,
        info.mem,
        info.accel
    );
    let max_pps = gen::max_send_rate(PAYLOAD, Duration::from_millis(500)).context("calibrating the generator")?;
    let mut rates: Vec<Option<f64>> =
        gen::rate_steps(SWEEP_FROM_PPS, max_pps, SWEEP_STEPS).into_iter().map(Some).collect();
    if let Some(last) = rates.last_mut() {
        *last = None; // the generator's maximum: unpaced
    }
    println!("generator: up to {:.0} pps of {PAYLOAD}-byte datagrams on this host", max_pps);

    let mut runs: Vec<Vec<RunReport>> = vec![Vec::new(); nics.len()];
    for i in 1..=args.runs {
        for (nic, reports) in nics.iter().zip(&mut runs) {
            let started = Instant::now();
            let report =
                one_run(nic, &rates).with_context(|| format!("run {i}/{} on {}", args.runs, nic.describe()))?;
            println!(
                "run {i}/{} {} ({:.0} s): echo RTT p50 {:.0} µs p99 {:.0} µs, window {WINDOW}: {:.0}/s",
                args.runs,
                nic.name,
                started.elapsed().as_secs_f64(),
                report.latency_us.p50,
                report.latency_us.p99,
                report.throughput.replies_per_s
            );
            reports.push(report);
        }
    }
    let mut per_nic = BTreeMap::new();
    for (nic, reports) in nics.iter().zip(runs) {
        per_nic.insert(nic.name, NicResults::new(nic, reports)?);
    }
    let dir = super::output_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let plot_path = dir.join(PLOT);
    plot::write_png(&livelock_chart(&per_nic, info.smp), (960, 600), &plot_path)?;
    let results = NetResults {
        bench: NAME,
        machine: info,
        fresh_boot_per_run: true,
        git: super::git_revision(),
        unix_time: super::unix_time(),
        payload_bytes: PAYLOAD,
        latency_samples: LATENCY_SAMPLES,
        window: WINDOW,
        generator_max_pps: max_pps,
        step_s: STEP_TIME.as_secs_f64(),
        nics: per_nic,
        plot: plot_path.display().to_string(),
    };
    let path = super::write_json(NAME, &results)?;
    print!("{}", render_table(&results));
    println!("results: {}", path.display());
    println!("plot: {}", plot_path.display());
    Ok(())
}

/// One fresh boot, measuring `nic`: latency, throughput, the sweep.
fn one_run(nic: &Nic, rates: &[Option<f64>]) -> Result<RunReport> {
    let mut ns = NetSession::boot(nic)?;
    let opts = EchoOptions { seed: 0xbe9c4, ..Default::default() };
    let warm = gen::udp_echo_latency(&mut ns.peer, WARMUP, Size::Fixed(PAYLOAD), &opts);
    ns.check(warm, "warm-up echoes")?;
    let lat = gen::udp_echo_latency(&mut ns.peer, LATENCY_SAMPLES, Size::Fixed(PAYLOAD), &opts);
    let lat = ns.check(lat, "UDP echo latency")?;
    let latency_us = Summary::of_durations(&lat.rtts).context("no latency samples")?;
    let tput = gen::udp_echo_throughput(&mut ns.peer, WINDOW, THROUGHPUT_REQUESTS, PAYLOAD, &opts);
    let throughput = ns.check(tput, "windowed UDP echo")?;

    let mut sweep = Vec::new();
    for mode in MODES {
        ns.set_mode(mode)?;
        for &rate in rates {
            let before = ns.snapshot()?;
            require_counters(&ns, &before)?;
            let flood = gen::udp_flood(&mut ns.peer, rate, STEP_TIME, PAYLOAD);
            let flood = ns.check(flood, &format!("flood at {}", rate_label(rate)))?;
            let drained = Instant::now();
            let after = ns.snapshot()?;
            let step = Step::from_counters(mode, &flood, &before, &after, drained.elapsed().as_secs_f64())
                .map_err(|e| ns.fail(format!("{e:#}")))?;
            println!(
                "  {:>6} {mode:>4} {:>12}: offered {:>8.0} pps, delivered {:>8.0} pps, {} interrupts/packet",
                nic.name,
                rate_label(rate),
                step.offered_pps,
                step.delivered_pps,
                opt(step.interrupts_per_packet, 3)
            );
            sweep.push(step);
        }
    }
    Ok(RunReport { latency_us, latency_retransmits: lat.retransmits, throughput, sweep })
}

fn require_counters(ns: &NetSession, s: &Snapshot) -> Result<()> {
    for name in STEP_COUNTERS {
        ns.counter(&s.ethtool, name)?;
    }
    Ok(())
}

fn rate_label(rate: Option<f64>) -> String {
    rate.map_or("max".to_string(), |r| format!("{:.0} pps", r))
}

fn opt(x: Option<f64>, decimals: usize) -> String {
    x.map_or("-".to_string(), |v| format!("{v:.decimals$}"))
}

/// The measured NICs in the order of their interfaces (eth0 first), each
/// with its position in [`NICS`] (which keeps its colours when it is alone).
fn in_order<'a>(nics: &'a BTreeMap<&'static str, NicResults>) -> Vec<(usize, &'static str, &'a NicResults)> {
    let mut v: Vec<_> = nics
        .iter()
        .map(|(name, r)| (NICS.iter().position(|n| n.name == *name).unwrap_or(NICS.len()), *name, r))
        .collect();
    v.sort_by_key(|(i, name, _)| (*i, *name));
    v
}

/// Delivered against offered (kpps), one line per NIC and mode: the e1000's
/// lines in the first two colours (as when it was the only NIC), the
/// virtio-net's in the next two.
pub fn livelock_chart(nics: &BTreeMap<&'static str, NicResults>, smp: u32) -> Chart {
    let mut series = Vec::new();
    for (index, name, results) in in_order(nics) {
        for (k, mode) in MODES.iter().enumerate() {
            let mut points: Vec<(f64, f64)> = results
                .median
                .sweep
                .iter()
                .filter(|s| s.mode == *mode)
                .map(|s| (s.offered_pps / 1e3, s.delivered_pps / 1e3))
                .collect();
            // The "max" step's offered rate is whatever the generator
            // reached, which can be below the last fixed target: draw the
            // line in order of offered rate, not of steps.
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let color = PALETTE[(index * MODES.len() + k) % PALETTE.len()];
            series.push(Series { label: format!("{name} {mode}"), points, color });
        }
    }
    Chart {
        title: format!("receive livelock: UDP discard, {PAYLOAD} B, {smp} vCPU(s)"),
        x_label: "offered (kpps)".into(),
        y_label: "delivered (kpps)".into(),
        series,
        diagonal: true,
    }
}

/// The table printed at the end: per NIC, its echo numbers, its sweep and
/// the overload summary of each mode.
pub fn render_table(r: &NetResults) -> String {
    let runs = r.nics.values().map(|n| n.runs.len()).max().unwrap_or(0);
    let mut lines = vec![
        String::new(),
        format!(
            "bench net: {runs} run(s), {} vCPU(s), {}, {} (medians across runs)",
            r.machine.smp, r.machine.mem, r.machine.accel
        ),
        format!("livelock sweep: {:.0} s per step; generator max {:.0} pps", r.step_s, r.generator_max_pps),
    ];
    for (_, name, n) in in_order(&r.nics) {
        let m = &n.median;
        lines.extend([
            String::new(),
            format!("{name}: {} ({}, {})", n.iface, n.model, n.guest_ip),
            format!(
                "UDP echo RTT ({} B, {} samples): p50 {:.0} µs, p99 {:.0} µs",
                r.payload_bytes, r.latency_samples, m.latency_p50_us, m.latency_p99_us
            ),
            format!("UDP echo, window {}: {:.0} round trips/s", r.window, m.throughput_per_s),
            format!(
                "{:<6}{:>12}{:>12}{:>12}{:>10}{:>12}{:>12}",
                "mode", "target pps", "offered", "delivered", "intr/pkt", "rxdb/32pkt", "regw/pkt"
            ),
        ]);
        for s in &m.sweep {
            lines.push(format!(
                "{:<6}{:>12}{:>12.0}{:>12.0}{:>10}{:>12}{:>12}",
                s.mode,
                s.target_pps.map_or("max".to_string(), |t| format!("{t:.0}")),
                s.offered_pps,
                s.delivered_pps,
                opt(s.interrupts_per_packet, 3),
                opt(s.rx_doorbells_per_32_packets, 2),
                opt(s.register_writes_per_packet, 2)
            ));
        }
        for mode in MODES {
            if let Some(o) = overload(&m.sweep, mode) {
                lines.push(format!(
                    "{name} {mode}: peak {:.0} pps delivered; offered >= 2x that: {:.0}-{:.0} pps delivered \
                     ({:.0}-{:.0} % of peak)",
                    o.peak_pps,
                    o.lowest_pps,
                    o.highest_pps,
                    100.0 * o.lowest_pps / o.peak_pps,
                    100.0 * o.highest_pps / o.peak_pps
                ));
            }
        }
    }
    lines.iter().map(|l| format!("{}\n", l.trim_end())).collect()
}

/// How one mode holds up under overload: its peak delivered rate and what it
/// delivers at the steps offered at least twice that (the livelock test:
/// NAPI should stay near its peak where per-packet interrupts collapse).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Overload {
    pub peak_pps: f64,
    pub lowest_pps: f64,
    pub highest_pps: f64,
}

/// [`Overload`] for `mode`, or `None` if no step offered twice its peak.
pub fn overload(sweep: &[MedianStep], mode: &str) -> Option<Overload> {
    let steps: Vec<&MedianStep> = sweep.iter().filter(|s| s.mode == mode).collect();
    let peak_pps = steps.iter().map(|s| s.delivered_pps).fold(0.0, f64::max);
    let overloaded: Vec<f64> =
        steps.iter().filter(|s| peak_pps > 0.0 && s.offered_pps >= 2.0 * peak_pps).map(|s| s.delivered_pps).collect();
    if overloaded.is_empty() {
        return None;
    }
    Some(Overload {
        peak_pps,
        lowest_pps: overloaded.iter().copied().fold(f64::INFINITY, f64::min),
        highest_pps: overloaded.iter().copied().fold(0.0, f64::max),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::shell::{Counters, Discard};
    use crate::net::{E1000, VIRTIO};

    fn snapshot(rx: u64, intr: u64, polls: u64, rxdb: u64, regw: u64, datagrams: u64) -> Snapshot {
        let mut ethtool = Counters::new();
        for (k, v) in [
            ("rx_packets", rx),
            ("interrupts", intr),
            ("polls", polls),
            ("rx_doorbells", rxdb),
            ("tx_doorbells", 7),
            ("register_writes", regw),
        ] {
            ethtool.insert(k.into(), v);
        }
        Snapshot { ethtool, discard: Discard { datagrams, bytes: datagrams * 64 } }
    }

    fn flood(sent: u64) -> gen::FloodReport {
        gen::FloodReport { size: 64, target_pps: Some(10_000.0), sent, elapsed_s: 2.0, achieved_pps: sent as f64 / 2.0 }
    }

    #[test]
    fn steps_compute_rates_and_ratios() {
        let before = snapshot(100, 50, 10, 4, 1000, 90);
        let after = snapshot(20_100, 5050, 2010, 629, 41_000, 19_090);
        let s = Step::from_counters("napi", &flood(20_000), &before, &after, 0.3).unwrap();
        assert_eq!(
            (s.rx_packets, s.delivered, s.interrupts, s.polls, s.rx_doorbells),
            (20_000, 19_000, 5000, 2000, 625)
        );
        assert_eq!((s.offered_pps, s.delivered_pps), (10_000.0, 9_500.0));
        assert_eq!(s.interrupts_per_packet, Some(0.25));
        assert_eq!(s.rx_doorbells_per_32_packets, Some(1.0));
        assert_eq!(s.register_writes_per_packet, Some(2.0));
        assert_eq!((s.rx_dropped, s.tx_doorbells), (0, 0));
        // Nothing received: no ratios.
        let idle = Step::from_counters("irq", &flood(10), &before, &before, 0.0).unwrap();
        assert_eq!((idle.interrupts_per_packet, idle.delivered_pps), (None, 0.0));
        // A missing counter is an error naming it.
        let mut bare = before.clone();
        bare.ethtool.remove("polls");
        let e = Step::from_counters("irq", &flood(1), &bare, &after, 0.0).unwrap_err().to_string();
        assert!(e.contains("polls"), "{e}");
    }

    fn run_with(p50: f64, tput: f64, delivered: [f64; 2]) -> RunReport {
        let sweep = MODES
            .iter()
            .zip(delivered)
            .map(|(m, d)| Step {
                mode: m.to_string(),
                offered_pps: 10_000.0,
                delivered_pps: d,
                interrupts_per_packet: Some(d / 1e4),
                ..Default::default()
            })
            .collect();
        RunReport {
            latency_us: Summary { n: 1000, min: 1.0, p50, p99: p50 * 2.0, max: 1e4, mean: p50 },
            latency_retransmits: 0,
            throughput: ThroughputReport { replies_per_s: tput, ..Default::default() },
            sweep,
        }
    }

    #[test]
    fn overload_looks_at_steps_offered_twice_the_peak() {
        let step = |mode: &str, offered: f64, delivered: f64| MedianStep {
            mode: mode.into(),
            target_pps: None,
            offered_pps: offered,
            delivered_pps: delivered,
            interrupts_per_packet: None,
            rx_doorbells_per_32_packets: None,
            register_writes_per_packet: None,
        };
        let sweep = [
            step("napi", 50_000.0, 50_000.0),
            step("napi", 100_000.0, 80_000.0),
            step("napi", 159_000.0, 10.0), // below 2 x 80k: not counted
            step("napi", 160_000.0, 76_000.0),
            step("napi", 250_000.0, 72_000.0),
            step("irq", 50_000.0, 40_000.0),
        ];
        let o = overload(&sweep, "napi").unwrap();
        assert_eq!(o, Overload { peak_pps: 80_000.0, lowest_pps: 72_000.0, highest_pps: 76_000.0 });
        assert_eq!(overload(&sweep, "irq"), None);
        assert_eq!(overload(&[], "napi"), None);
    }

    /// One run whose sweep is `steps` (mode, offered, delivered).
    fn run_of(steps: &[(&str, f64, f64)]) -> RunReport {
        let mut r = run_with(100.0, 1000.0, [0.0, 0.0]);
        r.sweep = steps
            .iter()
            .map(|&(mode, offered, delivered)| Step {
                mode: mode.into(),
                offered_pps: offered,
                delivered_pps: delivered,
                ..Default::default()
            })
            .collect();
        r
    }

    #[test]
    fn chart_lines_follow_the_offered_rate_not_the_step_order() {
        // The generator's "max" step came in below the last fixed target.
        let run = run_of(&[("irq", 10_000.0, 10_000.0), ("irq", 200_000.0, 15_000.0), ("irq", 180_000.0, 28_000.0)]);
        let nics = BTreeMap::from([("e1000", NicResults::new(&E1000, vec![run]).unwrap())]);
        let chart = livelock_chart(&nics, 2);
        assert_eq!(chart.series[0].points, vec![(10.0, 10.0), (180.0, 28.0), (200.0, 15.0)]);
        assert!(chart.series[1].points.is_empty());
    }

    #[test]
    fn nic_choice() {
        assert_eq!(NicChoice::Both.nics(), [E1000, VIRTIO]);
        assert_eq!(NicChoice::E1000.nics(), [E1000]);
        assert_eq!(NicChoice::Virtio.nics(), [VIRTIO]);
    }

    #[test]
    fn one_line_per_nic_and_mode() {
        let e1000 = run_of(&[("irq", 10e3, 9e3), ("napi", 10e3, 10e3)]);
        let virtio = run_of(&[("irq", 10e3, 8e3), ("napi", 10e3, 7e3)]);
        let both = BTreeMap::from([
            ("virtio", NicResults::new(&VIRTIO, vec![virtio.clone()]).unwrap()),
            ("e1000", NicResults::new(&E1000, vec![e1000]).unwrap()),
        ]);
        let chart = livelock_chart(&both, 2);
        let labels: Vec<&str> = chart.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["e1000 irq", "e1000 napi", "virtio irq", "virtio napi"]);
        assert_eq!(chart.series[3].points, vec![(10.0, 7.0)]);
        let colors: Vec<_> = chart.series.iter().map(|s| s.color).collect();
        assert_eq!(colors, PALETTE.to_vec());
        // Alone, the virtio-net keeps its colours.
        let alone = BTreeMap::from([("virtio", NicResults::new(&VIRTIO, vec![virtio]).unwrap())]);
        let chart = livelock_chart(&alone, 2);
        assert_eq!((chart.series.len(), chart.series[0].color), (2, PALETTE[2]));
    }

    fn results(nics: BTreeMap<&'static str, NicResults>) -> NetResults {
        let settings = Settings::from_lookup(|_| None).unwrap();
        NetResults {
            bench: NAME,
            machine: MachineInfo::new(&settings),
            fresh_boot_per_run: true,
            git: None,
            unix_time: 0,
            payload_bytes: PAYLOAD,
            latency_samples: LATENCY_SAMPLES,
            window: WINDOW,
            generator_max_pps: 300_000.0,
            step_s: 2.0,
            nics,
            plot: "x.png".into(),
        }
    }

    #[test]
    fn medians_across_runs() {
        let runs = [
            run_with(100.0, 9000.0, [5000.0, 9000.0]),
            run_with(300.0, 7000.0, [3000.0, 9500.0]),
            run_with(200.0, 8000.0, [4000.0, 9900.0]),
        ];
        let m = medians(&runs).unwrap();
        assert_eq!((m.latency_p50_us, m.latency_p99_us, m.throughput_per_s), (200.0, 400.0, 8000.0));
        assert_eq!(m.sweep.len(), 2);
        assert_eq!((m.sweep[0].mode.as_str(), m.sweep[0].delivered_pps), ("irq", 4000.0));
        assert_eq!((m.sweep[1].mode.as_str(), m.sweep[1].delivered_pps), ("napi", 9500.0));
        assert_eq!(m.sweep[1].interrupts_per_packet, Some(0.95));
        assert!(medians(&[]).is_err());
        assert!(NicResults::new(&E1000, vec![]).is_err());

        let nics = BTreeMap::from([("e1000", NicResults::new(&E1000, runs.to_vec()).unwrap())]);
        let chart = livelock_chart(&nics, 1);
        assert_eq!(chart.series.len(), 2);
        assert_eq!(chart.series[0].points, vec![(10.0, 4.0)]);
        assert!(chart.title.contains("1 vCPU"));

        let results = results(nics);
        let table = render_table(&results);
        assert!(table.contains("3 run(s)"), "{table}");
        assert!(table.contains("e1000: eth0 (e1000, 192.0.2.2)"), "{table}");
        assert!(table.contains("p50 200 µs, p99 400 µs"), "{table}");
        assert!(table.contains("window 32: 8000 round trips/s"), "{table}");
        let napi = table.lines().find(|l| l.starts_with("napi")).unwrap();
        assert_eq!(napi.split_whitespace().collect::<Vec<_>>(), ["napi", "max", "10000", "9500", "0.950", "-", "-"]);
        let json = serde_json::to_value(&results).unwrap();
        assert_eq!(json["nics"]["e1000"]["median"]["sweep"][0]["delivered_pps"], 4000.0);
        assert_eq!(json["nics"]["e1000"]["runs"][0]["latency_us"]["p50"], 100.0);
        assert_eq!(json["nics"]["e1000"]["iface"], "eth0");
        assert_eq!(json["machine"]["smp"], 2);
    }

    #[test]
    fn the_table_has_a_block_and_an_overload_line_per_nic_and_mode() {
        // napi holds 80 kpps at 200 kpps offered, irq collapses.
        let steps = [
            ("irq", 40e3, 40e3),
            ("irq", 200e3, 10e3),
            ("napi", 40e3, 40e3),
            ("napi", 100e3, 80e3),
            ("napi", 200e3, 76e3),
        ];
        let nics = BTreeMap::from([
            ("e1000", NicResults::new(&E1000, vec![run_of(&steps)]).unwrap()),
            ("virtio", NicResults::new(&VIRTIO, vec![run_of(&steps)]).unwrap()),
        ]);
        let table = render_table(&results(nics));
        let e1000 = table.find("e1000: eth0 (e1000, 192.0.2.2)").unwrap();
        let virtio = table.find("virtio: eth1 (virtio-net-pci, 192.0.2.3)").unwrap();
        assert!(e1000 < virtio, "{table}");
        for nic in ["e1000", "virtio"] {
            let napi = format!(
                "{nic} napi: peak 80000 pps delivered; offered >= 2x that: 76000-76000 pps delivered (95-95 % of peak)"
            );
            assert!(table.contains(&napi), "{table}");
            assert!(table.contains(&format!("{nic} irq: peak 40000 pps delivered; offered >= 2x that: 10000-10000")));
        }
        assert_eq!(table.lines().filter(|l| l.starts_with("mode")).count(), 2);
    }
}
