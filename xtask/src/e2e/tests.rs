//! The end-to-end tests: each boots a machine (the standard one unless the test
//! is about another profile) and checks the kernel from outside, through the
//! serial console, QEMU's exit status and, for the PCI oracle, QMP.
//!
//! A test is a plain `fn() -> Result<Note>` in [`TESTS`]; an `Ok` may carry a
//! note printed after `ok` (informational, never asserted). The checks on the
//! shell's replies are separate pure functions so their logic is unit-tested
//! without QEMU.

use super::blk;
use super::net;
use super::parse::{self, PCI_DUMP_END};
use super::pci;
use super::session::{
    reply_text, require, strip_echo, tail_lines, Session, SessionOptions, COMMAND_TIMEOUT, TAIL_LINES,
};
use super::virtio;
use crate::machine::{IsolatedMachine, Profile, QemuExit};
use crate::qmp::QmpPciFunction;
use crate::run::{self, Console, PROMPT};
use anyhow::{anyhow, bail, ensure, Context, Result};
use std::collections::BTreeSet;
use std::io::{Cursor, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An informational note shown after `ok`.
pub type Note = Option<String>;
/// An end-to-end test.
pub type TestFn = fn() -> Result<Note>;

/// The registry, in the order they are started.
pub const TESTS: &[(&str, TestFn)] = &[
    ("boot_to_prompt", boot_to_prompt),
    ("help_lists_commands", help_lists_commands),
    ("meminfo_reports_allocators", meminfo_reports_allocators),
    ("acpi_lists_tables", acpi_lists_tables),
    ("dmesg_has_timestamps", dmesg_has_timestamps),
    ("unknown_command_is_an_error", unknown_command_is_an_error),
    ("backspace_edits_line", backspace_edits_line),
    ("poweroff_exits_cleanly", poweroff_exits_cleanly),
    ("page_fault_is_reported", page_fault_is_reported),
    ("panic_is_reported", panic_is_reported),
    ("piped_run_answers", piped_run_answers),
    ("serial_64k_input_is_lossless", serial_64k_input_is_lossless),
    ("interrupts_show_timer_on_every_cpu", interrupts_show_timer_on_every_cpu),
    ("serial_irq_line_counts", serial_irq_line_counts),
    ("ps_lists_kernel_threads", ps_lists_kernel_threads),
    ("softirqs_table", softirqs_table),
    ("uptime_advances", uptime_advances),
    ("irq_affinity_rejects_bad_arguments", irq_affinity_rejects_bad_arguments),
    ("irq_affinity_moves_the_serial_line", irq_affinity_moves_the_serial_line),
    ("edu_works_on_every_profile", edu_works_on_every_profile),
    ("bridges_profile_has_its_topology", bridges_profile_has_its_topology),
    ("pci_enumeration_matches_qmp_standard", pci_enumeration_matches_qmp_standard),
    ("pci_enumeration_matches_qmp_bridges", pci_enumeration_matches_qmp_bridges),
    ("pci_enumeration_matches_qmp_qboot", pci_enumeration_matches_qmp_qboot),
    ("blk_host_pattern_checksum", blk::blk_host_pattern_checksum),
    ("blk_kernel_write_survives_poweroff", blk::blk_kernel_write_survives_poweroff),
    ("blk_stress_10k_matches_host_model", blk::blk_stress_10k_matches_host_model),
    ("blk_errors_are_errors", blk::blk_errors_are_errors),
    ("blk_resize_is_seen_through_the_config_interrupt", blk::blk_resize_is_seen_through_the_config_interrupt),
    ("blk_partitions_mbr", blk::blk_partitions_mbr),
    ("blk_partitions_gpt", blk::blk_partitions_gpt),
    ("blk_ramdisk_and_schedulers", blk::blk_ramdisk_and_schedulers),
    ("bcache_write_back_reaches_disk", blk::bcache_write_back_reaches_disk),
    ("virtio_intx_fallback_deasserts", virtio::virtio_intx_fallback_deasserts),
    ("net_host_harness_via_slirp", net::net_host_harness_via_slirp),
    // Every network test once per NIC: eth0 (e1000) and eth1 (virtio-net).
    ("net_arp_and_ping_e1000", || net::net_arp_and_ping(&net::E1000)),
    ("net_arp_and_ping_virtio", || net::net_arp_and_ping(&net::VIRTIO)),
    ("net_udp_echo_10k_exact_e1000", || net::net_udp_echo_10k_exact(&net::E1000)),
    ("net_udp_echo_10k_exact_virtio", || net::net_udp_echo_10k_exact(&net::VIRTIO)),
    ("net_tcp_echo_1mib_e1000", || net::net_tcp_echo_1mib(&net::E1000)),
    ("net_tcp_echo_1mib_virtio", || net::net_tcp_echo_1mib(&net::VIRTIO)),
    ("net_malformed_frames_crash_nothing_e1000", || net::net_malformed_frames_crash_nothing(&net::E1000)),
    ("net_malformed_frames_crash_nothing_virtio", || net::net_malformed_frames_crash_nothing(&net::VIRTIO)),
    ("net_counters_add_up_e1000", || net::net_counters_add_up(&net::E1000)),
    ("net_counters_add_up_virtio", || net::net_counters_add_up(&net::VIRTIO)),
    ("net_tx_timeout_recovers_e1000", || net::net_tx_timeout_recovers(&net::E1000)),
    ("net_tx_timeout_recovers_virtio", || net::net_tx_timeout_recovers(&net::VIRTIO)),
];

/// The commands `help` must mention.
const SHELL_COMMANDS: &[&str] = &["help", "meminfo", "dmesg", "acpi", "poweroff"];
/// How long the kernel may take to exit after `poweroff` or a crash.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// The page size `meminfo` counts in.
const PAGE_SIZE: u64 = 4096;
/// Bytes the serial-sink test types.
const SINK_BYTES: usize = 64 << 10;
/// Bytes per `write` into QEMU's stdin.
const SINK_CHUNK: usize = 4096;
/// Seed of the serial-sink payload (any value; fixed so a failure reproduces).
const SINK_SEED: u64 = 0x0105_e1de;
/// How long the sink may take from its ready line to its result (the kernel
/// gives up after 60 s and says so).
const SINK_TIMEOUT: Duration = Duration::from_secs(90);
/// How long to keep asking for a state that appears with the next timer tick
/// (a tick is 10 ms; this only bounds a wait, nothing is timed).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between two such questions.
const SETTLE_STEP: Duration = Duration::from_millis(200);

/// Boots the standard machine to its first prompt.
fn shell() -> Result<Session> {
    let mut s = Session::boot(Profile::Standard, "")?;
    s.expect_prompt()?;
    Ok(s)
}

fn boot_to_prompt() -> Result<Note> {
    let s = shell()?;
    Ok(Some(format!("prompt after {:.2} s", s.since_spawn().as_secs_f64())))
}

fn help_lists_commands() -> Result<Note> {
    let mut s = shell()?;
    let out = s.command("help")?;
    check_help(&out)?;
    Ok(None)
}

fn meminfo_reports_allocators() -> Result<Note> {
    let mut s = shell()?;
    let out = s.command("meminfo")?;
    check_meminfo(&out, s.machine().mem_bytes()).map_err(|e| with_output(e, "meminfo", &out))?;
    Ok(None)
}

fn acpi_lists_tables() -> Result<Note> {
    let mut s = shell()?;
    let out = s.command("acpi")?;
    check_acpi(&out, s.machine().smp()).map_err(|e| with_output(e, "acpi", &out))?;
    Ok(None)
}

fn dmesg_has_timestamps() -> Result<Note> {
    let mut s = shell()?;
    let out = s.command("dmesg")?;
    let lines = check_dmesg(&out).map_err(|e| with_output(e, "dmesg", &out))?;
    Ok(Some(format!("{lines} lines")))
}

fn unknown_command_is_an_error() -> Result<Note> {
    let mut s = shell()?;
    let out = s.command("frobnicate")?;
    require(&out, "unknown command", "reply to `frobnicate`")?;
    let help = s.command("help")?;
    check_help(&help).context("`help` after an unknown command")?;
    Ok(None)
}

fn backspace_edits_line() -> Result<Note> {
    let mut s = shell()?;
    for (what, keys) in [("DEL", &b"helq\x7fp\n"[..]), ("BS", &b"helq\x08p\n"[..])] {
        s.send_raw(keys)?;
        let out = reply_text(&s.expect_prompt()?);
        check_help(&out).with_context(|| format!("`helq` {what} `p` should run `help`"))?;
    }
    Ok(None)
}

fn poweroff_exits_cleanly() -> Result<Note> {
    let mut s = shell()?;
    s.send_raw(b"poweroff\n")?;
    let code = s.wait_exit(EXIT_TIMEOUT)?;
    expect_exit(&s, code, QemuExit::PowerOff)?;
    Ok(None)
}

fn page_fault_is_reported() -> Result<Note> {
    let mut s = shell()?;
    s.send_raw(b"crash pagefault\n")?;
    expect_crash(&mut s, "crash: reading unmapped address 0x")?;
    let digits = s.expect("\n", COMMAND_TIMEOUT)?;
    let Some(address) = hex_prefix(&digits) else {
        return Err(s.fail(format!("no hex address after `crash: reading unmapped address 0x`: {digits:?}")));
    };
    let mut report = s.expect("EXCEPTION: page fault", COMMAND_TIMEOUT)?;
    let code = s.wait_exit(EXIT_TIMEOUT)?;
    report.push_str(&s.rest());
    let report = &report[report.rfind("EXCEPTION:").unwrap_or(0)..];
    match hex_after(report, "CR2=0x") {
        Some(cr2) if cr2 == address => {}
        Some(cr2) => return Err(s.fail(format!("CR2=0x{cr2:x} but the kernel said it would read 0x{address:x}"))),
        None => return Err(s.fail("the exception report has no `CR2=0x…`".into())),
    }
    expect_exit(&s, code, QemuExit::Failure)?;
    Ok(Some(format!("CR2=0x{address:x}")))
}

fn panic_is_reported() -> Result<Note> {
    let mut s = shell()?;
    s.send_raw(b"crash panic\n")?;
    expect_crash(&mut s, "KERNEL PANIC:")?;
    let code = s.wait_exit(EXIT_TIMEOUT)?;
    expect_exit(&s, code, QemuExit::Failure)?;
    Ok(None)
}

/// `cargo xtask run`'s own code path with piped stdin, as a script would use it.
fn piped_run_answers() -> Result<Note> {
    let mut isolated = IsolatedMachine::new(Profile::Standard, "", "piped-run")?;
    isolated.release_ports();
    let output = SharedBuffer::default();
    let console = Console::Piped {
        input: Box::new(Cursor::new(b"meminfo\npoweroff\n".to_vec())),
        output: Box::new(output.clone()),
    };
    let result = run::run_machine(&isolated.machine, console, Some(Duration::from_secs(60)));
    let text = output.text();
    let fail = |msg: String| anyhow!("{msg}\n{}", tail_lines(&text, TAIL_LINES));
    let exit = result.map_err(|e| fail(format!("{e:#}")))?;
    let mut problems = Vec::new();
    if exit != QemuExit::PowerOff {
        problems.push(format!("{}, expected poweroff (0)", exit.describe()));
    }
    if !text.contains("free pages:") {
        problems.push("no `free pages:` in the output".into());
    }
    if !problems.is_empty() {
        return Err(fail(problems.join("; ")));
    }
    Ok(None)
}

/// Types 64 KiB of pseudo-random printable text into `serial sink 65536 busy`
/// (a CPU-bound thread competes with the reader) and compares the byte count and
/// FNV-1a hash the kernel reports with the host's.
fn serial_64k_input_is_lossless() -> Result<Note> {
    let mut s = shell()?;
    let payload = parse::sink_payload(SINK_BYTES, SINK_SEED);
    let want = parse::fnv1a64(&payload);
    s.send_raw(format!("serial sink {SINK_BYTES} busy\n").as_bytes())?;
    let ready = parse::sink_ready_line(SINK_BYTES);
    let (which, _) = s.expect_one_of(&[&ready, PROMPT], COMMAND_TIMEOUT)?;
    if which != 0 {
        return Err(s.fail(format!("the shell prompted again instead of printing {ready:?}")));
    }
    s.expect("\n", COMMAND_TIMEOUT)?;

    let started = Instant::now();
    let writer = s.start_writing(payload, SINK_CHUNK)?;
    let ends = ["serial sink: received ", "serial sink: timeout "];
    let result = s.expect_one_of(&ends, SINK_TIMEOUT);
    let elapsed = started.elapsed();
    let written = writer.written();
    let (which, _) = result.with_context(|| format!("{written} of {SINK_BYTES} bytes had been written to QEMU"))?;
    let line = format!("{}{}", ends[which], s.expect("\n", COMMAND_TIMEOUT)?);
    s.finish_writing(writer, COMMAND_TIMEOUT)?;
    s.expect(PROMPT, COMMAND_TIMEOUT)?;
    let got = match parse::parse_sink_result(&line) {
        Ok(r) => r,
        Err(e) => return Err(s.fail(format!("{e:#}"))),
    };
    match got {
        parse::SinkResult::Received { bytes, fnv1a64 } if bytes == SINK_BYTES as u64 && fnv1a64 == want => {}
        parse::SinkResult::Received { bytes, fnv1a64 } => {
            return Err(s.fail(format!(
                "the kernel received {bytes} bytes with FNV-1a 0x{fnv1a64:016x}; \
                 the host sent {SINK_BYTES} bytes with FNV-1a 0x{want:016x}"
            )))
        }
        parse::SinkResult::Timeout { bytes } => {
            return Err(s.fail(format!("the kernel timed out after {bytes} of {SINK_BYTES} bytes")))
        }
    }
    let help = s.command("help")?;
    check_help(&help).context("`help` after the serial sink")?;
    let rate = SINK_BYTES as f64 / elapsed.as_secs_f64().max(1e-6) / 1024.0;
    Ok(Some(format!("{:.2} s, {rate:.0} KiB/s", elapsed.as_secs_f64())))
}

/// Asks `interrupts` until every CPU's `LOC:` count is nonzero (the APs'
/// timers start last); checks the table's shape every time.
fn interrupts_show_timer_on_every_cpu() -> Result<Note> {
    let mut s = shell()?;
    let smp = s.machine().smp();
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let out = s.command("interrupts")?;
        let table = parse::check_interrupts(&out, smp).map_err(|e| with_output(e, "interrupts", &out))?;
        let idle = parse::idle_timer_cpus(&table);
        if idle.is_empty() {
            let loc = table.require("LOC")?;
            return Ok(Some(format!("LOC {:?}", loc.counts)));
        }
        if Instant::now() >= deadline {
            let e = anyhow!("`LOC:` is still 0 on CPU(s) {idle:?} after {:.0} s", SETTLE_TIMEOUT.as_secs_f64());
            return Err(with_output(e, "interrupts", &out));
        }
        std::thread::sleep(SETTLE_STEP);
    }
}

/// After a few typed commands, the serial port's IRQ line has counted them.
fn serial_irq_line_counts() -> Result<Note> {
    let mut s = shell()?;
    for cmd in ["help", "uptime", "help"] {
        s.command(cmd)?;
    }
    let out = s.command("interrupts")?;
    let table = parse::check_interrupts(&out, s.machine().smp()).map_err(|e| with_output(e, "interrupts", &out))?;
    let rows = parse::serial_rows(&table);
    let Some(row) = rows.iter().find(|r| r.total() > 0) else {
        let e = if rows.is_empty() {
            anyhow!("no IRQ row names the `serial` handler")
        } else {
            anyhow!("the `serial` IRQ row counts 0 interrupts after typing four commands")
        };
        return Err(with_output(e, "interrupts", &out));
    };
    Ok(Some(format!("GSI {} counted {}", row.label, row.total())))
}

fn ps_lists_kernel_threads() -> Result<Note> {
    let mut s = shell()?;
    let out = s.command("ps")?;
    let threads = parse::check_ps(&out, s.machine().smp()).map_err(|e| with_output(e, "ps", &out))?;
    Ok(Some(format!("{} threads", threads.len())))
}

/// `softirqs` has one count per CPU in every row, TIMER and TASKLET among them.
/// Counts are not required to be nonzero: the tick raises TIMER only when a
/// kernel timer is due.
fn softirqs_table() -> Result<Note> {
    let mut s = shell()?;
    let smp = s.machine().smp();
    let out = s.command("uptime")?;
    parse::parse_uptime(&out).map_err(|e| with_output(e, "uptime", &out))?;
    let out = s.command("softirqs")?;
    let table = parse::check_softirqs(&out, smp).map_err(|e| with_output(e, "softirqs", &out))?;
    let timer = table.require("TIMER")?.total();
    Ok(Some(format!("{} vectors, TIMER total {timer}", table.rows.len())))
}

/// Two `uptime`s: the second shows more jiffies (asked again, bounded, if the
/// two answers fell within one tick) and no less time; `<k> CPUs online`
/// matches the machine.
fn uptime_advances() -> Result<Note> {
    let mut s = shell()?;
    let smp = s.machine().smp();
    let uptime = |s: &mut Session| -> Result<parse::Uptime> {
        let out = s.command("uptime")?;
        parse::parse_uptime(&out).map_err(|e| with_output(e, "uptime", &out))
    };
    let first = uptime(&mut s)?;
    if first.cpus != smp {
        return Err(s.fail(format!("uptime says {} CPUs online; the machine has {smp}", first.cpus)));
    }
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        std::thread::sleep(SETTLE_STEP);
        let second = uptime(&mut s)?;
        if second.millis < first.millis || second.jiffies < first.jiffies {
            return Err(s.fail(format!("uptime went backwards: {first:?} then {second:?}")));
        }
        if second.jiffies > first.jiffies {
            return Ok(Some(format!("jiffies {} -> {}", first.jiffies, second.jiffies)));
        }
        if Instant::now() >= deadline {
            return Err(s.fail(format!(
                "jiffies stayed at {} for {:.0} s of host time",
                first.jiffies,
                SETTLE_TIMEOUT.as_secs_f64()
            )));
        }
    }
}

fn irq_affinity_rejects_bad_arguments() -> Result<Note> {
    let mut s = shell()?;
    for line in ["irq affinity", "irq affinity x 1", "irq affinity 4 99"] {
        let out = s.command(line)?;
        parse::check_usage_error(&out).map_err(|e| with_output(e, line, &out))?;
    }
    let help = s.command("help")?;
    check_help(&help).context("`help` after rejected `irq affinity` arguments")?;
    Ok(None)
}

/// `irq affinity <serial gsi> 1` routes COM1's interrupts to CPU1: typing
/// afterwards raises CPU1's count on that row and leaves CPU0's unchanged.
fn irq_affinity_moves_the_serial_line() -> Result<Note> {
    let mut s = shell()?;
    if s.machine().smp() < 2 {
        return Ok(Some("skipped: needs 2 vCPUs".into()));
    }
    let serial_row = |s: &mut Session| -> Result<parse::CpuRow> {
        let out = s.command("interrupts")?;
        let table = parse::check_interrupts(&out, s.machine().smp()).map_err(|e| with_output(e, "interrupts", &out))?;
        let row = parse::serial_rows(&table).first().map(|r| (*r).clone());
        row.ok_or_else(|| with_output(anyhow!("no `serial` row"), "interrupts", &out))
    };
    let gsi = serial_row(&mut s)?.label;
    let cmd = format!("irq affinity {gsi} 1");
    let out = s.command(&cmd)?;
    if !out.contains(&format!("irq {gsi} -> cpu 1")) {
        return Err(with_output(anyhow!("affinity not confirmed"), &cmd, &out));
    }
    // Output queued before the change may still be draining on CPU0: let it
    // finish, then count from a snapshot taken after the change.
    s.command("help")?;
    let before = serial_row(&mut s)?;
    for cmd in ["help", "uptime", "help"] {
        s.command(cmd)?;
    }
    let after = serial_row(&mut s)?;
    let (cpu0, cpu1) =
        (after.counts[0].saturating_sub(before.counts[0]), after.counts[1].saturating_sub(before.counts[1]));
    if cpu1 == 0 || cpu0 != 0 {
        return Err(anyhow!("after `{cmd}` CPU0 took {cpu0} and CPU1 {cpu1} serial interrupts; expected only CPU1"));
    }
    Ok(Some(format!("CPU0 +{cpu0}, CPU1 +{cpu1}")))
}

/// QEMU's own view of the `bridges` profile has the documented shape. This
/// checks xtask's machine definition and QMP client against the real QEMU; it
/// does not depend on the kernel's PCI code.
fn bridges_profile_has_its_topology() -> Result<Note> {
    let mut s = Session::boot_with(Profile::Bridges, "", SessionOptions::qmp())?;
    let mut qmp = s.qmp()?;
    s.expect_prompt()?;
    let functions = qmp.query_pci().map_err(|e| s.fail(format!("query-pci: {e:#}")))?;
    let note = check_bridges_topology(&functions).map_err(|e| s.fail(format!("{e:#}")))?;
    Ok(Some(note))
}

fn pci_enumeration_matches_qmp_standard() -> Result<Note> {
    pci_enumeration_matches_qmp(Profile::Standard)
}

/// Functions behind two root ports and a PCIe-to-PCI bridge.
fn pci_enumeration_matches_qmp_bridges() -> Result<Note> {
    pci_enumeration_matches_qmp(Profile::Bridges)
}

/// qboot assigns no BARs: the kernel's own assignment is what QEMU reports.
fn pci_enumeration_matches_qmp_qboot() -> Result<Note> {
    pci_enumeration_matches_qmp(Profile::Qboot)
}

/// The edu device computes and DMAs through the whole stack on every
/// machine: firmware-assigned BARs (standard), behind a PCIe root port
/// (bridges: the second edu), and BARs assigned by the kernel (qboot) —
/// with MSI and with INTx.
fn edu_works_on_every_profile() -> Result<Note> {
    let mut notes = Vec::new();
    for profile in [Profile::Standard, Profile::Bridges, Profile::Qboot] {
        let mut s = Session::boot(profile, "")?;
        s.expect_prompt()?;
        for mode in ["msi", "intx"] {
            let out = s.command(&format!("edu mode {mode}"))?;
            if !out.contains("interrupts via") {
                return Err(with_output(anyhow!("{profile:?}: mode {mode} refused"), "edu mode", &out));
            }
            let fact = s.command("edu fact 12")?;
            // The bridges machine has a second edu behind a PCIe root port.
            let want = if profile == Profile::Bridges { 2 } else { 1 };
            if fact.matches("12! = 479001600").count() != want || fact.contains("WRONG") {
                return Err(with_output(
                    anyhow!("{profile:?}/{mode}: wrong factorial on some edu"),
                    "edu fact 12",
                    &fact,
                ));
            }
            let dma = s.command("edu dma 4000")?;
            if dma.matches("4000 bytes verified").count() != want {
                return Err(with_output(anyhow!("{profile:?}/{mode}: DMA not verified"), "edu dma 4000", &dma));
            }
        }
        notes.push(format!("{profile:?}"));
    }
    Ok(Some(format!("{} ok in MSI and INTx mode", notes.join(", "))))
}

/// Boots `profile` with QMP, runs `pci dump`, then asks QEMU (`query-pci`) and
/// compares everything (see [`pci`]); the failure lists every mismatch.
fn pci_enumeration_matches_qmp(profile: Profile) -> Result<Note> {
    let mut s = Session::boot_with(profile, "", SessionOptions::qmp())?;
    let mut qmp = s.qmp()?;
    s.expect_prompt()?;
    let out = pci_dump(&mut s)?;
    let kernel = parse::parse_pci_dump(&out).map_err(|e| with_output(e, "pci dump", &out))?;
    // Asked only now: QEMU reports the BARs as it decodes them at this moment,
    // which under qboot is what the kernel has programmed.
    let qemu = qmp.query_pci().map_err(|e| s.fail(format!("query-pci: {e:#}")))?;
    let comparison = pci::compare(&kernel, &qemu);
    if !comparison.mismatches.is_empty() {
        let list: Vec<String> = comparison.mismatches.iter().map(|m| format!("  - {m}")).collect();
        let e = anyhow!(
            "{} mismatch(es) between `pci dump` and QEMU's query-pci ({} profile):\n{}",
            comparison.mismatches.len(),
            profile.name(),
            list.join("\n")
        );
        return Err(with_output(e, "pci dump", &out));
    }
    Ok(Some(comparison.summary()))
}

/// Types `pci dump` and returns its output (without the echo) through the
/// `pci dump: end` line; fails at once if the shell prompts before that line.
fn pci_dump(s: &mut Session) -> Result<String> {
    const CMD: &str = "pci dump";
    s.send_raw(format!("{CMD}\n").as_bytes())?;
    let (which, text) = s.expect_one_of(&[PCI_DUMP_END, PROMPT], COMMAND_TIMEOUT)?;
    let out = strip_echo(&reply_text(&text), CMD);
    if which != 0 {
        return Err(with_output(anyhow!("the shell prompted again before printing {PCI_DUMP_END:?}"), CMD, &out));
    }
    s.expect(PROMPT, COMMAND_TIMEOUT)?;
    Ok(format!("{out}\n"))
}

/// Waits for `needle`, failing at once if the shell prompts again instead.
fn expect_crash(s: &mut Session, needle: &str) -> Result<()> {
    let (which, _) = s.expect_one_of(&[needle, PROMPT], COMMAND_TIMEOUT)?;
    if which != 0 {
        return Err(s.fail(format!("the shell prompted again instead of printing {needle:?}")));
    }
    Ok(())
}

/// Appends a command's output to a failed check.
fn with_output(e: anyhow::Error, command: &str, out: &str) -> anyhow::Error {
    anyhow!("{e:#}\n--- `{command}` output ---\n{}", tail_lines(out, TAIL_LINES))
}

fn expect_exit(s: &Session, code: i32, want: QemuExit) -> Result<()> {
    let got = QemuExit::from_code(Some(code));
    if got != want {
        return Err(s.fail(format!("{}; expected status {}", got.describe(), want.code().unwrap_or(-1))));
    }
    Ok(())
}

/// A `Write` whose bytes can be read back from another handle.
#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ---- checks on the shell's replies (pure, unit-tested) ----

fn check_help(out: &str) -> Result<()> {
    for cmd in SHELL_COMMANDS {
        require(out, cmd, "`help` output")?;
    }
    Ok(())
}

fn check_meminfo(out: &str, mem_bytes: u64) -> Result<()> {
    for word in ["buddy", "heap", "slab", "mempool"] {
        require(out, word, "`meminfo` output")?;
    }
    let total = labeled_number(out, "total pages:").context("no `total pages: <n>` line")?;
    let free = labeled_number(out, "free pages:").context("no `free pages: <n>` line")?;
    if free == 0 || free > total {
        bail!("free pages {free} should be positive and at most total pages {total}");
    }
    // The guest cannot own more than its RAM, and firmware/holes take well under
    // a quarter of it (400 of 512 MiB on the standard machine).
    let total_bytes = total.saturating_mul(PAGE_SIZE);
    let floor = mem_bytes / 32 * 25;
    if total_bytes > mem_bytes || total_bytes <= floor {
        bail!(
            "total pages {total} = {} MiB; expected more than {} MiB and at most {} MiB",
            total_bytes >> 20,
            floor >> 20,
            mem_bytes >> 20
        );
    }
    Ok(())
}

fn check_acpi(out: &str, smp: u32) -> Result<()> {
    for table in ["MADT", "MCFG", "HPET", "FACP"] {
        require(out, table, "`acpi` output")?;
    }
    let lines: Vec<String> = out.lines().map(str::to_ascii_lowercase).collect();
    let raw: Vec<&str> = out.lines().collect();
    let mcfg = sections(out, "MCFG");
    if !mcfg.iter().any(|l| l.to_ascii_lowercase().contains("0xb0000000")) {
        bail!("no MCFG line mentions the ECAM base 0xb0000000");
    }
    let lapics = raw.iter().filter(|l| has_word(l, "LocalApic")).count();
    if lapics != smp as usize {
        bail!("{lapics} `LocalApic` lines in the MADT; expected one per vCPU ({smp})");
    }
    if !raw.iter().zip(&lines).any(|(r, l)| has_word(r, "IoApic") && l.contains("0xfec00000")) {
        bail!("no `IoApic` line at 0xfec00000");
    }
    Ok(())
}

/// rp1 and rp2 are bridges on bus 0; pb1 is a bridge on rp2's secondary bus;
/// an edu sits on rp1's secondary bus and an e1000 on pb1's; the standard
/// devices stay on bus 0. Returns a description of the buses.
fn check_bridges_topology(functions: &[QmpPciFunction]) -> Result<String> {
    let by_id = |id: &str| -> Result<&QmpPciFunction> {
        let f = functions.iter().find(|f| f.qdev_id.as_deref() == Some(id));
        let f = f.with_context(|| format!("query-pci has no function with -device id={id}"))?;
        ensure!(f.header_type == 1, "{id} at {:02x}:{:02x}.{} is not a bridge", f.bus, f.slot, f.function);
        f.secondary_bus.with_context(|| format!("{id} has no secondary bus"))?;
        Ok(f)
    };
    let (rp1, rp2, pb1) = (by_id("rp1")?, by_id("rp2")?, by_id("pb1")?);
    ensure!(rp1.bus == 0 && rp2.bus == 0, "the root ports are not on bus 0");
    ensure!(pb1.bus != 0 && Some(pb1.bus) == rp2.secondary_bus, "pb1 is on bus {}, not behind rp2", pb1.bus);
    let on_bus = |vendor: u16, device: u16, bus: Option<u8>| {
        functions.iter().any(|f| (f.vendor_id, f.device_id) == (vendor, device) && Some(f.bus) == bus)
    };
    const EDU: (u16, u16) = (0x1234, 0x11e8);
    const E1000: (u16, u16) = (0x8086, 0x100e);
    ensure!(on_bus(EDU.0, EDU.1, rp1.secondary_bus), "no edu behind rp1");
    ensure!(on_bus(E1000.0, E1000.1, pb1.secondary_bus), "no e1000 behind pb1");
    ensure!(on_bus(EDU.0, EDU.1, Some(0)) && on_bus(E1000.0, E1000.1, Some(0)), "the standard edu or e1000 left bus 0");
    let buses: BTreeSet<u8> = functions.iter().map(|f| f.bus).collect();
    Ok(format!("{} functions on buses {buses:?}", functions.len()))
}

/// The lines mentioning `name`, each with the indented lines that follow it (a
/// `MCFG:` heading owns its `  ECAM 0xb0000000 …` entries).
fn sections<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut inside = false;
    for line in out.lines() {
        let indented = line.starts_with([' ', '\t']);
        if line.contains(name) {
            inside = !indented;
            found.push(line);
        } else if inside && indented {
            found.push(line);
        } else {
            inside = false;
        }
    }
    found
}

/// Checks every line is `[seconds.micros] …` with non-decreasing timestamps;
/// returns the number of lines.
fn check_dmesg(out: &str) -> Result<usize> {
    let mut last = None;
    let mut count = 0;
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let Some(ts) = dmesg_timestamp(line) else {
            bail!("dmesg line without a `[seconds.micros]` timestamp: {line:?}");
        };
        if let Some(prev) = last {
            if ts < prev {
                bail!("dmesg timestamps go backwards at {line:?}");
            }
        }
        last = Some(ts);
        count += 1;
    }
    if count < 5 {
        bail!("dmesg printed {count} lines; expected at least 5");
    }
    Ok(count)
}

/// `[   12.000345] text` → `(12, 345)`; the microseconds are exactly six digits.
fn dmesg_timestamp(line: &str) -> Option<(u64, u32)> {
    let inner = line.strip_prefix('[')?.split_once(']')?.0.trim();
    let (secs, micros) = inner.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(secs) || !digits(micros) || micros.len() != 6 {
        return None;
    }
    Some((secs.parse().ok()?, micros.parse().ok()?))
}

/// The number after `label` on the first line containing it.
fn labeled_number(text: &str, label: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.contains(label))?;
    let after = line.split_once(label)?.1.trim_start();
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The hex number right after `marker` (which includes any `0x`).
fn hex_after(text: &str, marker: &str) -> Option<u64> {
    hex_prefix(text.split_once(marker)?.1)
}

/// The leading hex digits of `text` as a number.
fn hex_prefix(text: &str) -> Option<u64> {
    let digits: String = text.chars().take_while(char::is_ascii_hexdigit).collect();
    u64::from_str_radix(&digits, 16).ok()
}

/// Whether `word` occurs in `line` not followed or preceded by an identifier
/// character (`LocalApic` but not `LocalApicNmi`).
fn has_word(line: &str, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn registry_names_are_unique() {
        let mut names: Vec<_> = TESTS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TESTS.len());
    }

    #[test]
    fn bridges_topology_check() {
        let reply: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/query-pci-bridges.json")).unwrap();
        let functions = crate::qmp::flatten_query_pci(&reply["return"]).unwrap();
        let note = check_bridges_topology(&functions).unwrap();
        assert_eq!(note, "14 functions on buses {0, 1, 2, 3}");
        // The e1000 moved next to the edu: not behind pb1 any more.
        let mut moved = functions.clone();
        moved.iter_mut().filter(|f| f.bus == 3).for_each(|f| f.bus = 1);
        assert!(check_bridges_topology(&moved).unwrap_err().to_string().contains("no e1000 behind pb1"));
        let standard: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/query-pci-standard.json")).unwrap();
        let functions = crate::qmp::flatten_query_pci(&standard["return"]).unwrap();
        assert!(check_bridges_topology(&functions).unwrap_err().to_string().contains("id=rp1"));
    }

    #[test]
    fn help_check() {
        assert!(check_help("help meminfo dmesg acpi poweroff crash").is_ok());
        assert!(check_help("help meminfo dmesg acpi").is_err());
    }

    #[test]
    fn meminfo_check() {
        let good = "buddy: order 0..10\nheap: 1 MiB\nslab caches: 4\nmempool: 2\n\
                    total pages: 126000\nfree pages: 120000\n";
        assert!(check_meminfo(good, 512 * MIB).is_ok());
        let err = |text: &str| check_meminfo(text, 512 * MIB).unwrap_err().to_string();
        assert!(err("heap slab mempool total pages: 1 free pages: 1").contains("buddy"));
        let counts = |t: u64, f: u64| format!("buddy heap slab mempool\ntotal pages: {t}\nfree pages: {f}\n");
        assert!(check_meminfo(&counts(126000, 0), 512 * MIB).is_err());
        assert!(check_meminfo(&counts(126000, 126001), 512 * MIB).is_err());
        // 513 MiB of pages is more than the machine has; 400 MiB is too few.
        assert!(check_meminfo(&counts(513 * 256, 1), 512 * MIB).is_err());
        assert!(check_meminfo(&counts(400 * 256, 1), 512 * MIB).is_err());
        assert!(check_meminfo(&counts(401 * 256, 1), 512 * MIB).is_ok());
        assert!(check_meminfo(&counts(512 * 256, 1), 512 * MIB).is_ok());
        assert!(check_meminfo("buddy heap slab mempool\nfree pages: 3", 512 * MIB).is_err());
    }

    #[test]
    fn acpi_check() {
        let good = "RSDP at 0xf52d0\nFACP  len 244\nMADT  len 120\n  LocalApic id=0\n  \
                    LocalApic id=1\n  LocalApicNmi lint=1\n  IoApic id=0 addr=0xFEC00000 gsi=0\n\
                    HPET  at 0xfed00000\nMCFG  ecam=0xb0000000 buses 0-255\n";
        check_acpi(good, 2).unwrap();
        assert!(check_acpi(good, 1).unwrap_err().to_string().contains("LocalApic"));
        assert!(check_acpi(&good.replace("0xb0000000", "0xe0000000"), 2).is_err());
        assert!(check_acpi(&good.replace("FEC00000", "FEC01000"), 2).is_err());
        assert!(check_acpi(&good.replace("HPET", "HPTT"), 2).is_err());
    }

    #[test]
    fn acpi_check_accepts_sections() {
        let kernel = "tables:\n  APIC at 0x1ffe2238 length 128\n  MCFG at 0x1ffe22f0 length 60\n\
                      MADT: local APIC at 0xfee00000\n  LocalApic processor 0 apic id 0 enabled\n  \
                      LocalApic processor 1 apic id 1 enabled\n  IoApic id 0 at 0xfec00000 gsi base 0\n  \
                      LocalApicNmi processor 0xff LINT1\nMCFG:\n  ECAM 0xb0000000 segment 0 buses 0-255\n\
                      HPET: at 0xfed00000\n  FACP at 0x1ffe2144\n";
        check_acpi(kernel, 2).unwrap();
        // The ECAM base in another table's section does not count.
        let elsewhere = kernel.replace("  ECAM 0xb0000000", "  ECAM 0xe0000000") + "HPET:\n  0xb0000000\n";
        assert!(check_acpi(&elsewhere, 2).is_err());
        assert_eq!(sections("X\nMCFG:\n  a\n  b\nY\n  c\n", "MCFG"), ["MCFG:", "  a", "  b"]);
    }

    #[test]
    fn dmesg_check() {
        let good = "[    0.000000] boot\n[    0.000120] mm\n[    0.001000] acpi\n\
                    [    0.001000] pci\n[   12.000001] shell\n";
        assert_eq!(check_dmesg(good).unwrap(), 5);
        assert!(check_dmesg("[0.000001] a\n[0.000002] b\n").is_err());
        let backwards = good.replace("12.000001", "0.000999");
        assert!(check_dmesg(&backwards).unwrap_err().to_string().contains("backwards"));
        let untimed = format!("{good}continuation line\n");
        assert!(check_dmesg(&untimed).is_err());
        assert_eq!(dmesg_timestamp("[1.5] x"), None);
        assert_eq!(dmesg_timestamp("[a.000000] x"), None);
        assert_eq!(dmesg_timestamp("1.000000 x"), None);
        assert_eq!(dmesg_timestamp("[  3.000004]x"), Some((3, 4)));
    }

    #[test]
    fn numbers_are_found() {
        assert_eq!(labeled_number("x\ntotal pages: 42 (168 MiB)\n", "total pages:"), Some(42));
        assert_eq!(labeled_number("total pages: n/a", "total pages:"), None);
        assert_eq!(labeled_number("", "total pages:"), None);
        assert_eq!(hex_after("RIP=0x10 CR2=0xDEAD0000 err=2", "CR2=0x"), Some(0xdead_0000));
        assert_eq!(hex_after("CR2=0x", "CR2=0x"), None);
        assert_eq!(hex_prefix("00000000deadbeef\r\n"), Some(0xdead_beef));
        assert_eq!(hex_prefix("ffffffffffffffffff"), None);
    }

    #[test]
    fn words_are_whole() {
        assert!(has_word("  LocalApic id=0", "LocalApic"));
        assert!(has_word("LocalApic", "LocalApic"));
        assert!(!has_word("LocalApicNmi", "LocalApic"));
        assert!(!has_word("X2LocalApic", "LocalApic"));
        assert!(has_word("LocalApicNmi, LocalApic(1)", "LocalApic"));
    }

    #[test]
    fn shared_buffer_reads_back() {
        let b = SharedBuffer::default();
        let mut w = b.clone();
        w.write_all(b"free pages: 1").unwrap();
        assert_eq!(b.text(), "free pages: 1");
    }
}
