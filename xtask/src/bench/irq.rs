//! `cargo xtask bench irq`: interrupt latency on the standard machine.
//!
//! The kernel's `bench irq <samples>` measures two things in TSC cycles and
//! reports min/p50/p99/max of each, in cycles and in nanoseconds:
//!
//! - **timer latency**: the TSC read at the first instruction of the LAPIC-timer
//!   handler minus the TSC deadline that was programmed — how late the
//!   interrupt is delivered (under TCG, mostly the emulator's cost of taking it);
//! - **self-IPI round trip**: sending a null IPI to the own CPU until its
//!   handler has run.
//!
//! Each run boots a fresh machine (see [`super`]); the file records every run's
//! report verbatim and, per metric, the median across runs of p50 and p99.

use super::{median, MachineInfo};
use crate::settings::Settings;
use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The bench's name: the kernel command's argument and the JSON file's stem.
const NAME: &str = "irq";

/// Options of `cargo xtask bench irq`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Each run boots a fresh machine. Results: target/ioxide/bench/irq.json. \
                        Comparisons with Linux use IOXIDE_SMP=1 (as the Linux anchor does); \
                        IOXIDE_ACCEL=kvm measures under KVM instead of TCG.")]
pub struct IrqArgs {
    /// Runs (each a fresh boot); the summary is the median across them.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Samples per run (`bench irq <samples>` in the guest).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub samples: u32,
}

/// min/p50/p99/max of one metric, as the kernel reports them.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
pub struct Stats {
    pub min: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// The kernel's `bench-json:` object for `bench irq`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct IrqReport {
    pub bench: String,
    pub cpus: u32,
    pub tsc_hz: u64,
    pub samples: u64,
    pub timer_latency_cycles: Stats,
    pub timer_latency_ns: Stats,
    pub self_ipi_cycles: Stats,
    pub self_ipi_ns: Stats,
}

impl IrqReport {
    /// The metrics by their JSON key.
    fn metrics(&self) -> [(&'static str, &Stats); 4] {
        [
            ("timer_latency_cycles", &self.timer_latency_cycles),
            ("timer_latency_ns", &self.timer_latency_ns),
            ("self_ipi_cycles", &self.self_ipi_cycles),
            ("self_ipi_ns", &self.self_ipi_ns),
        ]
    }
}

/// Parses and checks one `bench-json:` object; returns it typed and verbatim
/// (the verbatim copy keeps any keys a newer kernel adds).
pub fn parse_report(json: &str) -> Result<(IrqReport, serde_json::Value)> {
    let value: serde_json::Value = serde_json::from_str(json).context("the bench-json line is not valid JSON")?;
    let report: IrqReport =
        serde_json::from_value(value.clone()).context("the bench-json object is not a `bench irq` report")?;
    ensure!(report.bench == NAME, "the report is for bench {:?}, not {NAME:?}", report.bench);
    ensure!(report.samples > 0, "the report has no samples");
    ensure!(report.cpus > 0, "the report says 0 CPUs");
    ensure!(report.tsc_hz > 0, "the report says the TSC runs at 0 Hz");
    for (name, s) in report.metrics() {
        ensure!(s.min >= 0.0, "{name}.min is negative ({})", s.min);
        ensure!(
            s.min <= s.p50 && s.p50 <= s.p99 && s.p99 <= s.max,
            "{name} is not ordered min <= p50 <= p99 <= max: {s:?}"
        );
    }
    Ok((report, value))
}

/// Medians across runs of one metric's percentiles.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct MedianStats {
    pub p50: f64,
    pub p99: f64,
}

/// Medians across runs of every metric.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Medians {
    pub timer_latency_cycles: MedianStats,
    pub timer_latency_ns: MedianStats,
    pub self_ipi_cycles: MedianStats,
    pub self_ipi_ns: MedianStats,
}

/// The median across `reports` of each metric's p50 and p99.
pub fn medians(reports: &[IrqReport]) -> Result<Medians> {
    if reports.is_empty() {
        bail!("no runs to summarize");
    }
    let of = |pick: fn(&IrqReport) -> &Stats| -> Result<MedianStats> {
        let p50: Vec<f64> = reports.iter().map(|r| pick(r).p50).collect();
        let p99: Vec<f64> = reports.iter().map(|r| pick(r).p99).collect();
        Ok(MedianStats { p50: median(&p50).context("no p50")?, p99: median(&p99).context("no p99")? })
    };
    Ok(Medians {
        timer_latency_cycles: of(|r| &r.timer_latency_cycles)?,
        timer_latency_ns: of(|r| &r.timer_latency_ns)?,
        self_ipi_cycles: of(|r| &r.self_ipi_cycles)?,
        self_ipi_ns: of(|r| &r.self_ipi_ns)?,
    })
}

/// `target/ioxide/bench/irq.json`.
#[derive(Debug, Serialize)]
pub struct IrqResults {
    pub bench: &'static str,
    /// The guest command each run typed.
    pub command: String,
    pub machine: MachineInfo,
    /// Each run boots a fresh machine.
    pub fresh_boot_per_run: bool,
    pub git: Option<String>,
    pub unix_time: u64,
    /// Every run's `bench-json:` object, as the kernel printed it.
    pub runs: Vec<serde_json::Value>,
    /// Per metric, the median across runs of p50 and p99.
    pub median: Medians,
}

/// How long one `bench irq <samples>` may take before it counts as hung: a
/// generous bound (a sample costs microseconds even under TCG), not a verdict.
pub fn command_timeout(samples: u32) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(5) * samples
}

/// `cargo xtask bench irq`.
pub fn run(args: &IrqArgs, settings: &Settings) -> Result<()> {
    let command = format!("bench {NAME} {}", args.samples);
    let info = MachineInfo::new(settings);
    println!(
        "bench {NAME}: {} run(s) of `{command}` on the standard machine ({} vCPU(s), {}, {})",
        args.runs, info.smp, info.mem, info.accel
    );
    let mut reports = Vec::new();
    let mut raw = Vec::new();
    for i in 1..=args.runs {
        let output = super::run_in_fresh_machine(&command, command_timeout(args.samples))
            .with_context(|| format!("run {i}/{}", args.runs))?;
        let json = super::json_line_of_console(&output).with_context(|| format!("run {i}/{}", args.runs))?;
        let (report, value) = parse_report(&json).with_context(|| format!("run {i}/{}: {json}", args.runs))?;
        println!(
            "run {i}/{}: timer latency p50 {} ns, self-IPI p50 {} ns",
            args.runs,
            number(report.timer_latency_ns.p50),
            number(report.self_ipi_ns.p50)
        );
        for note in notes(&report, args.samples, info.smp) {
            println!("run {i}/{}: note: {note}", args.runs);
        }
        reports.push(report);
        raw.push(value);
    }
    let median = medians(&reports)?;
    let results = IrqResults {
        bench: NAME,
        command,
        machine: info,
        fresh_boot_per_run: true,
        git: super::git_revision(),
        unix_time: super::unix_time(),
        runs: raw,
        median,
    };
    let path = super::write_json(NAME, &results)?;
    print!("{}", render_table(&reports, &median));
    println!("results: {}", path.display());
    Ok(())
}

/// Differences between what was asked and what the kernel reports (informational).
fn notes(report: &IrqReport, samples: u32, smp: u32) -> Vec<String> {
    let mut notes = Vec::new();
    if report.samples != u64::from(samples) {
        notes.push(format!("asked for {samples} samples, the kernel took {}", report.samples));
    }
    if report.cpus != smp {
        notes.push(format!("the machine has {smp} vCPU(s), the kernel reports {} CPU(s)", report.cpus));
    }
    notes
}

/// A number for the table: integers without decimals, others with one.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// Width of a number column in the table.
const COLUMN: usize = 12;

/// The table printed at the end: every run in ns, then the medians in ns and cycles.
pub fn render_table(reports: &[IrqReport], m: &Medians) -> String {
    let tsc = reports.first().map_or(0.0, |r| r.tsc_hz as f64 / 1e9);
    let cpus = reports.first().map_or(0, |r| r.cpus);
    let cell = |x: Option<f64>| format!("{:>COLUMN$}", x.map(number).unwrap_or_default());
    let mut lines = vec![
        String::new(),
        format!("bench irq: {} run(s), {cpus} CPU(s), TSC {tsc:.3} GHz", reports.len()),
        format!("{:<16}{:^w$}{:^w$}", "", "timer latency", "self-IPI round trip", w = 4 * COLUMN),
        format!(
            "{:<16}{}",
            "",
            ["min", "p50", "p99", "max"].repeat(2).iter().map(|h| format!("{h:>COLUMN$}")).collect::<String>()
        ),
    ];
    for (i, r) in reports.iter().enumerate() {
        let mut line = format!("{:<16}", format!("run {} (ns)", i + 1));
        for s in [&r.timer_latency_ns, &r.self_ipi_ns] {
            for x in [s.min, s.p50, s.p99, s.max] {
                line.push_str(&cell(Some(x)));
            }
        }
        lines.push(line);
    }
    for (label, timer, ipi) in [
        ("median (ns)", m.timer_latency_ns, m.self_ipi_ns),
        ("median (cycles)", m.timer_latency_cycles, m.self_ipi_cycles),
    ] {
        let mut line = format!("{label:<16}");
        for s in [timer, ipi] {
            for x in [None, Some(s.p50), Some(s.p99), None] {
                line.push_str(&cell(x));
            }
        }
        lines.push(line);
    }
    lines.iter().map(|l| format!("{}\n", l.trim_end())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(p50: u64, ipi_p50: u64) -> String {
        format!(
            r#"{{"bench":"irq","cpus":2,"tsc_hz":2450000000,"samples":10000,
            "timer_latency_cycles":{{"min":100,"p50":{c},"p99":{c99},"max":90000}},
            "timer_latency_ns":{{"min":41,"p50":{p50},"p99":{p99},"max":36734}},
            "self_ipi_cycles":{{"min":50,"p50":{ic},"p99":{ic99},"max":80000}},
            "self_ipi_ns":{{"min":20,"p50":{ipi_p50},"p99":{ip99},"max":32653}},"extra":true}}"#,
            c = p50 * 245 / 100,
            c99 = p50 * 245 / 100 * 3,
            p99 = p50 * 3,
            ic = ipi_p50 * 245 / 100,
            ic99 = ipi_p50 * 245 / 100 * 2,
            ip99 = ipi_p50 * 2,
        )
        .replace('\n', "")
    }

    #[test]
    fn reports_parse_and_keep_extra_keys() {
        let (r, v) = parse_report(&json(1000, 400)).unwrap();
        assert_eq!((r.cpus, r.tsc_hz, r.samples), (2, 2_450_000_000, 10_000));
        assert_eq!(r.timer_latency_ns, Stats { min: 41.0, p50: 1000.0, p99: 3000.0, max: 36734.0 });
        assert_eq!(r.self_ipi_cycles.p50, 980.0);
        assert_eq!(v["extra"], serde_json::Value::Bool(true));
        assert_eq!(v["timer_latency_ns"]["p50"], 1000);
        // Fractional numbers are accepted too.
        let frac = json(1000, 400).replace(r#""p50":1000,"#, r#""p50":1000.5,"#);
        assert_eq!(parse_report(&frac).unwrap().0.timer_latency_ns.p50, 1000.5);
    }

    #[test]
    fn malformed_reports_are_errors() {
        let err = |text: &str| format!("{:#}", parse_report(text).unwrap_err());
        assert!(err("{not json").contains("not valid JSON"));
        assert!(err("[1,2]").contains("not a `bench irq` report"));
        assert!(err(&json(1000, 400).replace(r#""bench":"irq""#, r#""bench":"net""#)).contains("\"net\""));
        assert!(err(&json(1000, 400).replace(r#""self_ipi_ns""#, r#""ipi_ns""#)).contains("not a `bench irq`"));
        assert!(err(&json(1000, 400).replace(r#""samples":10000"#, r#""samples":0"#)).contains("no samples"));
        assert!(err(&json(1000, 400).replace(r#""samples":10000"#, r#""samples":-1"#)).contains("report"));
        assert!(err(&json(1000, 400).replace(r#""tsc_hz":2450000000"#, r#""tsc_hz":0"#)).contains("0 Hz"));
        assert!(err(&json(1000, 400).replace(r#""min":41"#, r#""min":-41"#)).contains("negative"));
        assert!(err(&json(1000, 400).replace(r#""max":36734"#, r#""max":10"#)).contains("not ordered"));
        assert!(err(&json(1000, 400).replace("10000", "\"many\"")).contains("report"));
        assert!(err("").contains("JSON"));
    }

    #[test]
    fn medians_are_per_metric_across_runs() {
        let reports: Vec<IrqReport> = [(1000, 400), (3000, 100), (2000, 900)]
            .iter()
            .map(|&(t, i)| parse_report(&json(t, i)).unwrap().0)
            .collect();
        let m = medians(&reports).unwrap();
        assert_eq!(m.timer_latency_ns, MedianStats { p50: 2000.0, p99: 6000.0 });
        assert_eq!(m.self_ipi_ns, MedianStats { p50: 400.0, p99: 800.0 });
        assert_eq!(m.timer_latency_cycles.p50, 4900.0);
        let two = medians(&reports[..2]).unwrap();
        assert_eq!(two.timer_latency_ns.p50, 2000.0);
        assert_eq!(two.self_ipi_ns.p50, 250.0);
        assert!(medians(&[]).is_err());

        let table = render_table(&reports, &m);
        assert!(table.contains("3 run(s), 2 CPU(s), TSC 2.450 GHz"), "{table}");
        let median_ns = table.lines().find(|l| l.starts_with("median (ns)")).unwrap();
        let words: Vec<&str> = median_ns.split_whitespace().collect();
        assert_eq!(words, ["median", "(ns)", "2000", "6000", "400", "800"]);
        assert_eq!(table.lines().filter(|l| l.starts_with("run ")).count(), 3);
    }

    #[test]
    fn results_file_shape() {
        let (r, v) = parse_report(&json(1000, 400)).unwrap();
        let settings = Settings::from_lookup(|_| None).unwrap();
        let results = IrqResults {
            bench: NAME,
            command: "bench irq 10000".into(),
            machine: MachineInfo::new(&settings),
            fresh_boot_per_run: true,
            git: None,
            unix_time: 0,
            runs: vec![v],
            median: medians(&[r]).unwrap(),
        };
        let out: serde_json::Value = serde_json::to_value(&results).unwrap();
        assert_eq!(out["runs"][0]["timer_latency_ns"]["p50"], 1000);
        assert_eq!(out["median"]["self_ipi_ns"]["p99"], 800.0);
        assert_eq!(out["machine"]["smp"], 2);
        assert_eq!(out["machine"]["accel"], "tcg");
    }

    #[test]
    fn notes_and_numbers() {
        let (r, _) = parse_report(&json(1000, 400)).unwrap();
        assert!(notes(&r, 10_000, 2).is_empty());
        assert_eq!(notes(&r, 5, 1).len(), 2);
        assert_eq!(number(12.0), "12");
        assert_eq!(number(12.26), "12.3");
        assert_eq!(command_timeout(10_000), Duration::from_secs(110));
    }
}
