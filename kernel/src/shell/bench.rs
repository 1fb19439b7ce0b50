//! `bench irq <count>`: interrupt latency figures as one JSON line for
//! `cargo xtask bench irq`.

use alloc::string::String;

use super::commands::parse_number;
use crate::bench::Summary;
use crate::println;

fn json(s: &Summary, scale: impl Fn(i64) -> i64) -> String {
    alloc::format!(
        "{{\"min\":{},\"p50\":{},\"p99\":{},\"max\":{}}}",
        scale(s.min),
        scale(s.p50),
        scale(s.p99),
        scale(s.max)
    )
}

pub fn bench(args: &[&str]) -> Result<(), String> {
    let ["irq", count] = args else { return Err("expected: irq <count>".into()) };
    let count = parse_number(count)? as usize;
    if !(1..=1_000_000).contains(&count) {
        return Err("count must be 1..=1000000".into());
    }
    println!("bench irq: {count} timer interrupts and {count} self-IPIs on cpu{}", crate::percpu::this_cpu().cpu());
    let r = crate::bench::irq(count).map_err(String::from)?;
    let hz = crate::time::tsc_hz() as i128;
    let to_ns = move |c: i64| (i128::from(c) * 1_000_000_000 / hz) as i64;
    println!(
        "bench-json: {{\"bench\":\"irq\",\"cpus\":{},\"tsc_hz\":{},\"samples\":{},\"lost\":{},\"timer_latency_cycles\":{},\"timer_latency_ns\":{},\"self_ipi_cycles\":{},\"self_ipi_ns\":{}}}",
        crate::percpu::online_cpus(),
        hz,
        r.samples,
        r.lost,
        json(&r.timer_cycles, |c| c),
        json(&r.timer_cycles, to_ns),
        json(&r.ipi_cycles, |c| c),
        json(&r.ipi_cycles, to_ns)
    );
    Ok(())
}
