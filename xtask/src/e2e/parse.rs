//! Parsers and checks for the shell's `/proc`-style replies (docs/testing.md,
//! "What the end-to-end tests rely on"): `interrupts`, `softirqs`, `ps`,
//! `uptime`, `serial sink`, `pci dump` and the `usage:` convention, plus the
//! host's side of the serial-sink test (the payload and its FNV-1a hash).
//!
//! Everything here is pure and unit-tested; malformed input is an error that
//! quotes the offending line, never a panic.

use anyhow::{bail, ensure, Context, Result};
use std::collections::HashSet;
use std::fmt;

// ---- per-CPU tables: `interrupts` and `softirqs` ----

/// A `/proc/interrupts`-style table: a header of `CPU0 CPU1 …` columns, then
/// rows `LABEL: <count per CPU> [description…]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuTable {
    /// Number of CPU columns in the header.
    pub cpus: usize,
    pub rows: Vec<CpuRow>,
}

/// One row of a [`CpuTable`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuRow {
    /// The label without its colon: `4`, `LOC`, `TIMER`.
    pub label: String,
    /// The leading numeric columns, at most one per CPU (Linux prints a single
    /// total for `ERR:` and `MIS:`, so fewer are allowed here).
    pub counts: Vec<u64>,
    /// The words after the counts, joined by single spaces
    /// (`IO-APIC 4-edge serial`).
    pub rest: String,
}

impl CpuRow {
    /// The sum of the counts.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.saturating_add(c))
    }

    /// The description's words.
    fn words(&self) -> Vec<&str> {
        self.rest.split_whitespace().collect()
    }
}

impl CpuTable {
    /// The row labelled `label` (without the colon).
    pub fn row(&self, label: &str) -> Option<&CpuRow> {
        self.rows.iter().find(|r| r.label == label)
    }

    /// The row labelled `label`, or an error naming it.
    pub fn require(&self, label: &str) -> Result<&CpuRow> {
        self.row(label).with_context(|| format!("no `{label}:` row"))
    }
}

/// Whether `line` is a header of `CPU<n>` columns; returns the column count.
fn cpu_header(line: &str) -> Option<Result<usize>> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let is_cpu =
        |w: &&str| w.strip_prefix("CPU").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if words.is_empty() || !words.iter().all(is_cpu) {
        return None;
    }
    for (i, w) in words.iter().enumerate() {
        if *w != format!("CPU{i}") {
            return Some(Err(anyhow::anyhow!("header columns should be CPU0, CPU1, … in order: {line:?}")));
        }
    }
    Some(Ok(words.len()))
}

/// Parses a per-CPU table. Lines before the header (there should be none) are
/// ignored; after it every non-blank line must be a `LABEL:` row.
pub fn parse_cpu_table(text: &str) -> Result<CpuTable> {
    let mut lines = text.lines();
    let cpus = loop {
        let line = lines.next().context("no header line of `CPU0 CPU1 …` columns")?;
        if let Some(cpus) = cpu_header(line) {
            break cpus?;
        }
    };
    let mut rows: Vec<CpuRow> = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        let label = match first.strip_suffix(':') {
            Some(label) if !label.is_empty() => label.to_string(),
            _ => bail!("row without a `LABEL:` first column: {line:?}"),
        };
        let words: Vec<&str> = words.collect();
        let numeric = words.iter().take(cpus).take_while(|w| w.bytes().all(|b| b.is_ascii_digit())).count();
        let counts = words[..numeric]
            .iter()
            .map(|w| w.parse::<u64>().with_context(|| format!("count {w:?} out of range in {line:?}")))
            .collect::<Result<Vec<_>>>()?;
        if rows.iter().any(|r| r.label == label) {
            bail!("row `{label}:` appears twice");
        }
        rows.push(CpuRow { label, counts, rest: words[numeric..].join(" ") });
    }
    Ok(CpuTable { cpus, rows })
}

/// The rows `interrupts` always prints besides its IRQ lines.
pub const FIXED_IRQ_ROWS: &[&str] = &["LOC", "RES", "CAL", "ERR", "SPU"];

/// Parses `interrupts` and checks its shape: one CPU column per vCPU, the
/// fixed rows, a per-CPU `LOC:` row, and IO-APIC rows of the form
/// `<gsi>: <counts> IO-APIC <gsi>-edge|level <handlers>`.
pub fn check_interrupts(text: &str, smp: u32) -> Result<CpuTable> {
    let table = parse_cpu_table(text)?;
    ensure!(table.cpus == smp as usize, "{} CPU columns; expected one per vCPU ({smp})", table.cpus);
    for label in FIXED_IRQ_ROWS {
        table.require(label)?;
    }
    let loc = table.require("LOC")?;
    ensure!(
        loc.counts.len() == table.cpus,
        "`LOC:` has {} counts; expected one per CPU ({})",
        loc.counts.len(),
        table.cpus
    );
    for row in &table.rows {
        let words = row.words();
        if words.first() != Some(&"IO-APIC") {
            continue;
        }
        let gsi: u32 =
            row.label.parse().with_context(|| format!("IO-APIC row labelled `{}:`, not a GSI", row.label))?;
        ensure!(
            row.counts.len() == table.cpus,
            "IO-APIC row `{gsi}:` has {} counts; expected {}",
            row.counts.len(),
            table.cpus
        );
        let trigger = words.get(1).copied().unwrap_or_default();
        ensure!(
            trigger == format!("{gsi}-edge") || trigger == format!("{gsi}-level"),
            "IO-APIC row `{gsi}:` should say `{gsi}-edge` or `{gsi}-level`, not {trigger:?}"
        );
    }
    Ok(table)
}

/// The CPUs whose `LOC:` (local timer) count is zero.
pub fn idle_timer_cpus(table: &CpuTable) -> Vec<usize> {
    table
        .row("LOC")
        .map_or_else(Vec::new, |r| r.counts.iter().enumerate().filter(|(_, &c)| c == 0).map(|(cpu, _)| cpu).collect())
}

/// The IRQ rows whose handler names include `serial`.
pub fn serial_rows(table: &CpuTable) -> Vec<&CpuRow> {
    table.rows.iter().filter(|r| r.words().iter().skip(2).any(|w| w.trim_matches(',') == "serial")).collect()
}

/// Rows `softirqs` must print (among others: NET_TX, NET_RX, BLOCK, SCHED, …).
pub const REQUIRED_SOFTIRQS: &[&str] = &["TIMER", "TASKLET"];

/// Whether a `softirqs` row is a vector's: an upper-case name like Linux's
/// (`TIMER`, `NET_RX`); other lines (per-CPU summaries such as `cpu0: …`) may follow.
pub fn is_vector_label(label: &str) -> bool {
    label.starts_with(|c: char| c.is_ascii_uppercase())
        && label.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Parses `softirqs` and checks its shape: one CPU column per vCPU and, in every
/// vector row, exactly one count per CPU and nothing else. Returns the table
/// with the vector rows only.
pub fn check_softirqs(text: &str, smp: u32) -> Result<CpuTable> {
    let mut table = parse_cpu_table(text)?;
    table.rows.retain(|r| is_vector_label(&r.label));
    ensure!(table.cpus == smp as usize, "{} CPU columns; expected one per vCPU ({smp})", table.cpus);
    for label in REQUIRED_SOFTIRQS {
        table.require(label)?;
    }
    for row in &table.rows {
        ensure!(
            row.counts.len() == table.cpus && row.rest.is_empty(),
            "row `{}:` should be {} counts and nothing else; got counts {:?} then {:?}",
            row.label,
            table.cpus,
            row.counts,
            row.rest
        );
    }
    Ok(table)
}

// ---- ps ----

/// The `ps` header, word by word.
pub const PS_HEADER: &[&str] = &["TID", "CPU", "STATE", "SWITCHES", "NAME"];
/// The states a thread may be in.
pub const THREAD_STATES: &[&str] = &["running", "runnable", "sleeping"];

/// One line of `ps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thread {
    pub tid: u64,
    pub cpu: u32,
    pub state: String,
    pub switches: u64,
    pub name: String,
}

/// Parses `ps`: the header, then one thread per non-blank line.
pub fn parse_ps(text: &str) -> Result<Vec<Thread>> {
    let mut lines = text.lines().skip_while(|l| l.split_whitespace().ne(PS_HEADER.iter().copied()));
    lines.next().with_context(|| format!("no header line `{}`", PS_HEADER.join(" ")))?;
    let mut threads = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [tid, cpu, state, switches, name @ ..] = words.as_slice() else {
            bail!("ps line with fewer than 5 columns: {line:?}");
        };
        ensure!(!name.is_empty(), "ps line without a name: {line:?}");
        let number = |what: &str, w: &str| -> Result<u64> {
            w.parse().with_context(|| format!("{what} {w:?} is not a number in {line:?}"))
        };
        threads.push(Thread {
            tid: number("TID", tid)?,
            cpu: u32::try_from(number("CPU", cpu)?).with_context(|| format!("CPU out of range in {line:?}"))?,
            state: state.to_string(),
            switches: number("SWITCHES", switches)?,
            name: name.join(" "),
        });
    }
    Ok(threads)
}

/// Checks `ps`: `init` and, per CPU, `idle/<n>` and `ksoftirqd/<n>` are listed;
/// every thread is in a known state on an existing CPU; TIDs are unique.
pub fn check_ps(text: &str, smp: u32) -> Result<Vec<Thread>> {
    let threads = parse_ps(text)?;
    let mut required = vec!["init".to_string()];
    for cpu in 0..smp {
        required.push(format!("idle/{cpu}"));
        required.push(format!("ksoftirqd/{cpu}"));
    }
    for name in &required {
        ensure!(threads.iter().any(|t| &t.name == name), "no thread named `{name}`");
    }
    let mut tids = HashSet::new();
    for t in &threads {
        ensure!(
            THREAD_STATES.contains(&t.state.as_str()),
            "thread `{}` is {:?}; expected one of {THREAD_STATES:?}",
            t.name,
            t.state
        );
        ensure!(t.cpu < smp, "thread `{}` is on CPU {} but there are {smp}", t.name, t.cpu);
        ensure!(tids.insert(t.tid), "TID {} appears twice", t.tid);
    }
    Ok(threads)
}

// ---- uptime ----

/// `up <secs>.<millis> s, jiffies <n>, <k> CPUs online`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uptime {
    pub millis: u64,
    pub jiffies: u64,
    pub cpus: u32,
}

/// Parses the `up …` line of `uptime`.
pub fn parse_uptime(text: &str) -> Result<Uptime> {
    let line = text.lines().map(str::trim).find(|l| l.starts_with("up ")).context("no line starting with `up `")?;
    let parse = || -> Option<Uptime> {
        let rest = line.strip_prefix("up ")?;
        let (time, rest) = rest.split_once(" s, jiffies ")?;
        let (secs, millis) = time.split_once('.')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(secs) || !digits(millis) || millis.len() != 3 {
            return None;
        }
        let (jiffies, rest) = rest.split_once(", ")?;
        let (cpus, tail) = rest.split_once(' ')?;
        if !digits(jiffies) || !digits(cpus) || !matches!(tail, "CPUs online" | "CPU online") {
            return None;
        }
        let millis = secs.parse::<u64>().ok()?.checked_mul(1000)?.checked_add(millis.parse().ok()?)?;
        Some(Uptime { millis, jiffies: jiffies.parse().ok()?, cpus: cpus.parse().ok()? })
    };
    parse().with_context(|| format!("expected `up <secs>.<millis> s, jiffies <n>, <k> CPUs online`, got {line:?}"))
}

// ---- serial sink ----

/// The line `serial sink <bytes>` prints before it starts reading.
pub fn sink_ready_line(bytes: usize) -> String {
    format!("serial sink: ready for {bytes} bytes")
}

/// What `serial sink` reported at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkResult {
    /// `serial sink: received <n> bytes fnv1a64 0x<16 hex digits>`.
    Received { bytes: u64, fnv1a64: u64 },
    /// `serial sink: timeout after <n> bytes`.
    Timeout { bytes: u64 },
}

/// Parses the last `serial sink: received …` or `serial sink: timeout …` line.
pub fn parse_sink_result(text: &str) -> Result<SinkResult> {
    let line = text
        .lines()
        .map(str::trim)
        .rfind(|l| l.starts_with("serial sink: received ") || l.starts_with("serial sink: timeout "))
        .context("no `serial sink: received …` or `serial sink: timeout …` line")?;
    let number = |s: &str| -> Option<u64> { s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse().ok()).flatten() };
    let parsed = if let Some(rest) = line.strip_prefix("serial sink: timeout after ") {
        rest.strip_suffix(" bytes").and_then(number).map(|bytes| SinkResult::Timeout { bytes })
    } else {
        line.strip_prefix("serial sink: received ").and_then(|rest| {
            let (n, hash) = rest.split_once(" bytes fnv1a64 0x")?;
            let lower_hex = hash.len() == 16 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            let fnv1a64 = if lower_hex { u64::from_str_radix(hash, 16).ok()? } else { return None };
            Some(SinkResult::Received { bytes: number(n)?, fnv1a64 })
        })
    };
    parsed.with_context(|| format!("malformed serial-sink result line {line:?}"))
}

/// FNV-1a, 64-bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3):
/// the one digest the kernel and the host share, from the `block` crate.
pub use block::pattern::fnv1a64;

/// `len` deterministic pseudo-random bytes for the serial sink: printable ASCII
/// (0x20..=0x7e) with a `\n` about every 64 bytes, from xorshift64* seeded with `seed`.
pub fn sink_payload(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
            if r.is_multiple_of(64) {
                b'\n'
            } else {
                // 0x20 + 0..95 stays within 0x20..=0x7e.
                0x20 + (r % 95) as u8
            }
        })
        .collect()
}

// ---- pci dump ----

/// The line that ends `pci dump`'s output.
pub const PCI_DUMP_END: &str = "pci dump: end";

/// A PCI function's address: segment, bus, device, function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bdf {
    pub segment: u16,
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl fmt::Display for Bdf {
    /// `0000:00:03.0`, as Linux writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:02x}:{:02x}.{:x}", self.segment, self.bus, self.device, self.function)
    }
}

/// What a BAR decodes: I/O ports or memory, 32 or 64 bits wide, prefetchable or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BarKind {
    Io,
    Mem32,
    Mem32Prefetch,
    Mem64,
    Mem64Prefetch,
}

impl BarKind {
    const ALL: [Self; 5] = [Self::Io, Self::Mem32, Self::Mem32Prefetch, Self::Mem64, Self::Mem64Prefetch];

    /// The kind as `pci dump` writes it.
    pub fn token(self) -> &'static str {
        match self {
            Self::Io => "io",
            Self::Mem32 => "mem32",
            Self::Mem32Prefetch => "mem32p",
            Self::Mem64 => "mem64",
            Self::Mem64Prefetch => "mem64p",
        }
    }

    /// The kind of a memory BAR with these attributes.
    pub fn memory(is_64: bool, prefetch: bool) -> Self {
        match (is_64, prefetch) {
            (false, false) => Self::Mem32,
            (false, true) => Self::Mem32Prefetch,
            (true, false) => Self::Mem64,
            (true, true) => Self::Mem64Prefetch,
        }
    }

    /// A 64-bit BAR takes two BAR registers.
    pub fn is_64(self) -> bool {
        matches!(self, Self::Mem64 | Self::Mem64Prefetch)
    }

    pub fn is_io(self) -> bool {
        self == Self::Io
    }
}

impl fmt::Display for BarKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

/// One implemented BAR of a `pcifn` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciBar {
    /// 0–5 (0–1 on a bridge); a 64-bit BAR is reported at its first register.
    pub index: u8,
    pub kind: BarKind,
    pub address: u64,
    pub size: u64,
}

impl PciBar {
    /// The last address the BAR decodes.
    pub fn end(&self) -> u64 {
        // The parser guarantees this fits; saturate for hand-made values.
        self.address.saturating_add(self.size.saturating_sub(1))
    }
}

/// One `pcifn` line of `pci dump`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciFunction {
    pub bdf: Bdf,
    pub vendor: u16,
    pub device: u16,
    /// Base class, subclass and programming interface: `0x020000`.
    pub class: u32,
    /// 0 for an endpoint, 1 for a PCI-to-PCI bridge, 2 for CardBus.
    pub header: u8,
    /// 0 for none, 1–4 for INTA–INTD.
    pub pin: u8,
    /// In ascending index order.
    pub bars: Vec<PciBar>,
}

/// Parses a whole `pci dump` reply: every `pcifn` line, up to the
/// `pci dump: end` line, which must be there. Other lines (log messages) are
/// skipped; a malformed `pcifn` line or a BDF listed twice is an error.
pub fn parse_pci_dump(text: &str) -> Result<Vec<PciFunction>> {
    let mut functions: Vec<PciFunction> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line == PCI_DUMP_END {
            return Ok(functions);
        }
        if line.split_whitespace().next() != Some("pcifn") {
            continue;
        }
        let f = parse_pcifn(line)?;
        ensure!(!functions.iter().any(|g| g.bdf == f.bdf), "{} is listed twice: {line:?}", f.bdf);
        functions.push(f);
    }
    bail!("no `{PCI_DUMP_END}` line")
}

/// Parses `pcifn <seg:bus:dev.fn> vendor=<4 hex> device=<4 hex> class=<6 hex>
/// header=<n> pin=<0-4> [barN=<kind>:0x<addr>/0x<size> …]` (docs/testing.md).
pub fn parse_pcifn(line: &str) -> Result<PciFunction> {
    parse_pcifn_fields(line.trim()).with_context(|| format!("malformed pcifn line {:?}", line.trim()))
}

fn parse_pcifn_fields(line: &str) -> Result<PciFunction> {
    let mut words = line.split_whitespace();
    ensure!(words.next() == Some("pcifn"), "it does not start with `pcifn`");
    let bdf = parse_bdf(words.next().context("no BDF")?)?;
    let mut field = |key: &str| -> Result<&str> {
        let word = words.next().with_context(|| format!("no `{key}=`"))?;
        word.strip_prefix(key)
            .and_then(|w| w.strip_prefix('='))
            .with_context(|| format!("expected `{key}=…`, found {word:?}"))
    };
    let vendor = hex_field("vendor", field("vendor")?, 4, true)? as u16;
    let device = hex_field("device", field("device")?, 4, true)? as u16;
    let class = hex_field("class", field("class")?, 6, false)? as u32;
    let header = match field("header")? {
        h @ ("0" | "1" | "2") => h.parse::<u8>()?,
        h => bail!("header={h:?}: expected 0 (endpoint), 1 (bridge) or 2 (CardBus), multifunction bit masked off"),
    };
    let pin = match field("pin")? {
        p @ ("0" | "1" | "2" | "3" | "4") => p.parse::<u8>()?,
        p => bail!("pin={p:?}: expected 0 (none) or 1-4 (INTA-INTD)"),
    };
    // Type 0 headers have six BAR registers, bridges two, CardBus one.
    let registers: u8 = [6, 2, 1][usize::from(header)];
    let mut bars: Vec<PciBar> = Vec::new();
    for word in words {
        let bar = parse_bar(word)?;
        let width = if bar.kind.is_64() { 2 } else { 1 };
        ensure!(
            bar.index + width <= registers,
            "{word:?}: a header-{header} function has BAR registers 0-{} only",
            registers - 1
        );
        if let Some(prev) = bars.last() {
            let next_free = prev.index + if prev.kind.is_64() { 2 } else { 1 };
            ensure!(
                bar.index >= next_free,
                "bar{} comes after bar{} ({}); BARs go in ascending order and a 64-bit BAR takes two registers",
                bar.index,
                prev.index,
                prev.kind
            );
        }
        bars.push(bar);
    }
    Ok(PciFunction { bdf, vendor, device, class, header, pin, bars })
}

/// `ssss:bb:dd.f` in hex, zero-padded.
fn parse_bdf(word: &str) -> Result<Bdf> {
    let parse = || -> Option<Bdf> {
        let (segment, rest) = word.split_once(':')?;
        let (bus, rest) = rest.split_once(':')?;
        let (device, function) = rest.split_once('.')?;
        let hex = |s: &str, n: usize| -> Option<u32> {
            let ok = s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
            ok.then(|| u32::from_str_radix(s, 16).ok()).flatten()
        };
        Some(Bdf {
            segment: u16::try_from(hex(segment, 4)?).ok()?,
            bus: u8::try_from(hex(bus, 2)?).ok()?,
            device: u8::try_from(hex(device, 2)?).ok().filter(|&d| d < 32)?,
            function: u8::try_from(hex(function, 1)?).ok().filter(|&f| f < 8)?,
        })
    };
    parse().with_context(|| format!("BDF {word:?}: expected ssss:bb:dd.f (hex, device < 32, function < 8)"))
}

/// Exactly `digits` hex digits (lowercase if `lower`).
fn hex_field(name: &str, text: &str, digits: usize, lower: bool) -> Result<u64> {
    let ok = text.len() == digits
        && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || (!lower && b.is_ascii_hexdigit()));
    ensure!(ok, "{name}={text:?}: expected {digits}{} hex digits", if lower { " lowercase" } else { "" });
    Ok(u64::from_str_radix(text, 16)?)
}

/// `0x` and 1–16 lowercase hex digits.
fn hex_number(text: &str) -> Option<u64> {
    let digits = text.strip_prefix("0x")?;
    let ok =
        (1..=16).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    ok.then(|| u64::from_str_radix(digits, 16).ok()).flatten()
}

/// `barN=<kind>:0x<addr>/0x<size>`.
fn parse_bar(word: &str) -> Result<PciBar> {
    let bad = || format!("{word:?}: expected barN=<io|mem32|mem32p|mem64|mem64p>:0x<address>/0x<size>");
    let (key, value) = word.split_once('=').with_context(bad)?;
    let index = key
        .strip_prefix("bar")
        .filter(|n| n.len() == 1)
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|&n| n < 6)
        .with_context(|| format!("{word:?}: expected a BAR index bar0-bar5"))?;
    let (kind, range) = value.split_once(':').with_context(bad)?;
    let kind = BarKind::ALL.into_iter().find(|k| k.token() == kind).with_context(bad)?;
    let (address, size) = range.split_once('/').with_context(bad)?;
    let (address, size) = (hex_number(address).with_context(bad)?, hex_number(size).with_context(bad)?);
    ensure!(size.is_power_of_two(), "{word:?}: size 0x{size:x} is not a power of two");
    let end = address.checked_add(size - 1).with_context(|| format!("{word:?}: the range wraps around"))?;
    ensure!(kind.is_64() || end <= u64::from(u32::MAX), "{word:?}: a {kind} BAR cannot reach beyond 4 GiB");
    Ok(PciBar { index, kind, address, size })
}

// ---- argument errors ----

/// Checks that a command refused its arguments the shell's way: a `usage:` line.
pub fn check_usage_error(out: &str) -> Result<()> {
    ensure!(out.lines().any(|l| l.trim_start().starts_with("usage:")), "no `usage:` line");
    ensure!(!out.contains("unknown command"), "the shell does not know the command");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERRUPTS: &str = "           CPU0       CPU1\n\
          2:          0          0   IO-APIC   2-edge      timer\n\
          4:         12          0   IO-APIC   4-edge      serial\n\
         11:          3          1   IO-APIC  11-level     e1000, virtio-net\n\
        LOC:       1234       1200   Local timer interrupts\n\
        RES:          5          7   Rescheduling interrupts\n\
        CAL:          0          0   Function call interrupts\n\
        ERR:          0\n\
        SPU:          0          0   Spurious interrupts\n";

    #[test]
    fn interrupts_table_parses() {
        let t = check_interrupts(INTERRUPTS, 2).unwrap();
        assert_eq!(t.cpus, 2);
        assert_eq!(t.rows.len(), 8);
        let four = t.require("4").unwrap();
        assert_eq!(four.counts, [12, 0]);
        assert_eq!(four.rest, "IO-APIC 4-edge serial");
        assert_eq!(t.require("ERR").unwrap().counts, [0]);
        assert_eq!(t.require("LOC").unwrap().total(), 2434);
        assert!(idle_timer_cpus(&t).is_empty());
        let serial: Vec<&str> = serial_rows(&t).iter().map(|r| r.label.as_str()).collect();
        assert_eq!(serial, ["4"]);
        assert!(t.row("NMI").is_none());
    }

    #[test]
    fn interrupts_table_errors() {
        let err = |text: &str, smp: u32| format!("{:#}", check_interrupts(text, smp).unwrap_err());
        assert!(err(INTERRUPTS, 1).contains("2 CPU columns"));
        assert!(err(&INTERRUPTS.replace("CAL:", "XYZ:"), 2).contains("`CAL:`"));
        assert!(err(&INTERRUPTS.replace("  4-edge", "  5-edge"), 2).contains("`4-edge`"));
        assert!(err(&INTERRUPTS.replace("LOC:       1234       1200", "LOC: 1234 x"), 2).contains("LOC"));
        assert!(err(&INTERRUPTS.replace("CPU1", "CPU2"), 2).contains("in order"));
        assert!(err("LOC: 1 2\n", 2).contains("header"));
        assert!(err(&format!("{INTERRUPTS}no colon here\n"), 2).contains("LABEL"));
        assert!(err(&format!("{INTERRUPTS}LOC: 1 1\n"), 2).contains("twice"));
        assert!(err(&INTERRUPTS.replace("\n11:", "\nxx:"), 2).contains("GSI"));
        let huge = INTERRUPTS.replace("1234", "99999999999999999999999");
        assert!(err(&huge, 2).contains("out of range"));
    }

    #[test]
    fn idle_timers_and_missing_serial() {
        let t = check_interrupts(&INTERRUPTS.replace("1200", "0").replace("serial", "uart"), 2).unwrap();
        assert_eq!(idle_timer_cpus(&t), [1]);
        assert!(serial_rows(&t).is_empty());
        // The word must be a handler name, not part of the chip or trigger.
        let t = parse_cpu_table("CPU0\n 9: 1 serial-chip 9-edge acpi\n").unwrap();
        assert!(serial_rows(&t).is_empty());
    }

    const SOFTIRQS: &str = "                CPU0       CPU1\n\
                  HI:          0          0\n\
               TIMER:         17          9\n\
              NET_TX:          0          0\n\
              NET_RX:          0          0\n\
               BLOCK:          0          0\n\
             TASKLET:          2          0\n\
               SCHED:          0          0\n";

    #[test]
    fn softirqs_table() {
        let t = check_softirqs(SOFTIRQS, 2).unwrap();
        assert_eq!(t.require("TIMER").unwrap().total(), 26);
        assert_eq!(t.rows.len(), 7);
        let err = |text: &str, smp: u32| format!("{:#}", check_softirqs(text, smp).unwrap_err());
        assert!(err(SOFTIRQS, 1).contains("CPU columns"));
        assert!(err(&SOFTIRQS.replace("TASKLET", "TASKLIT"), 2).contains("TASKLET"));
        assert!(err(&SOFTIRQS.replace("17          9", "17"), 2).contains("`TIMER:`"));
        assert!(err(&SOFTIRQS.replace("SCHED:          0          0", "SCHED: 0 0 extra"), 2).contains("extra"));
        // Lines that are not vectors may follow the table.
        let summary = format!("{SOFTIRQS}cpu0: 0 runs, 0 restarts\ncpu1: 3 runs, 0 restarts\n");
        assert_eq!(check_softirqs(&summary, 2).unwrap().rows.len(), 7);
        assert!(is_vector_label("NET_RX") && is_vector_label("HRTIMER") && is_vector_label("X2"));
        assert!(!is_vector_label("cpu0") && !is_vector_label("2") && !is_vector_label("_A") && !is_vector_label(""));
    }

    const PS: &str = "TID CPU STATE    SWITCHES NAME\n\
                        1   0 running        42 init\n\
                        2   0 runnable     1000 idle/0\n\
                        3   1 running       900 idle/1\n\
                        4   0 sleeping        3 ksoftirqd/0\n\
                        5   1 sleeping        2 ksoftirqd/1\n\
                        6   1 sleeping        0 kworker/1:0 events\n";

    #[test]
    fn ps_parses_and_checks() {
        let threads = check_ps(PS, 2).unwrap();
        assert_eq!(threads.len(), 6);
        assert_eq!(threads[0], Thread { tid: 1, cpu: 0, state: "running".into(), switches: 42, name: "init".into() });
        assert_eq!(threads[5].name, "kworker/1:0 events");
        // One CPU needs only idle/0 and ksoftirqd/0, and CPU 1 no longer exists.
        let one = PS.lines().filter(|l| !l.contains("/1")).collect::<Vec<_>>().join("\n");
        check_ps(&one, 1).unwrap();
        assert!(format!("{:#}", check_ps(PS, 1).unwrap_err()).contains("CPU 1"));
    }

    #[test]
    fn ps_errors() {
        let err = |text: &str| format!("{:#}", check_ps(text, 2).unwrap_err());
        assert!(err(&PS.replace("ksoftirqd/1", "ksoftirqd/2")).contains("ksoftirqd/1"));
        assert!(err(&PS.replace("1 sleeping        2", "1 zombie        2")).contains("zombie"));
        assert!(err(&PS.replace("\n6   1", "\n5   1")).contains("twice"));
        assert!(err(&PS.replace("SWITCHES", "SW")).contains("header"));
        assert!(err(&PS.replace("1000", "many")).contains("SWITCHES"));
        assert!(err(&format!("{PS}7 0 running\n")).contains("fewer than 5"));
        assert!(err(&PS.replace("\n3   1", "\n3   x")).contains("CPU"));
    }

    #[test]
    fn uptime_parses() {
        let u = parse_uptime("up 12.034 s, jiffies 1203, 2 CPUs online\n").unwrap();
        assert_eq!(u, Uptime { millis: 12_034, jiffies: 1203, cpus: 2 });
        assert_eq!(parse_uptime("up 0.000 s, jiffies 0, 1 CPU online").unwrap().cpus, 1);
        for bad in [
            "up 12.34 s, jiffies 1203, 2 CPUs online",
            "up 12.034 s, jiffies -1, 2 CPUs online",
            "up 12.034 s, jiffies 1203, two CPUs online",
            "up 12.034s, jiffies 1203, 2 CPUs online",
            "up 12.034 s, jiffies 1203, 2 CPUs",
            "uptime: unknown command",
            "",
        ] {
            assert!(parse_uptime(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sink_results_parse() {
        let ok = "serial sink: received 65536 bytes fnv1a64 0x0123456789abcdef\r";
        assert_eq!(
            parse_sink_result(ok).unwrap(),
            SinkResult::Received { bytes: 65536, fnv1a64: 0x0123_4567_89ab_cdef }
        );
        assert_eq!(
            parse_sink_result("serial sink: timeout after 17 bytes\n").unwrap(),
            SinkResult::Timeout { bytes: 17 }
        );
        for bad in [
            "serial sink: received 65536 bytes fnv1a64 0x0123456789ABCDEF",
            "serial sink: received 65536 bytes fnv1a64 0x0123456789abcde",
            "serial sink: received 65536 bytes fnv1a64 0x0123456789abcdef0",
            "serial sink: received many bytes fnv1a64 0x0123456789abcdef",
            "serial sink: received 65536 bytes crc32 0x01234567",
            "serial sink: timeout after -1 bytes",
            "serial sink: ready for 65536 bytes",
        ] {
            assert!(parse_sink_result(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fnv1a64_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn payload_is_deterministic_and_printable() {
        let a = sink_payload(65536, 7);
        assert_eq!(a.len(), 65536);
        assert_eq!(a, sink_payload(65536, 7));
        assert_ne!(a, sink_payload(65536, 8));
        assert!(a.iter().all(|&b| b == b'\n' || (0x20..=0x7e).contains(&b)));
        let newlines = a.iter().filter(|&&b| b == b'\n').count();
        assert!((500..2000).contains(&newlines), "{newlines} newlines");
        let distinct: HashSet<u8> = a.iter().copied().collect();
        assert_eq!(distinct.len(), 96, "every printable byte and \\n occur");
        assert_eq!(sink_ready_line(65536), "serial sink: ready for 65536 bytes");
    }

    const PCIFN: &str = "pcifn 0000:00:03.0 vendor=8086 device=100e class=020000 header=0 pin=1 \
                         bar0=mem32:0xfebc0000/0x20000 bar1=io:0xc000/0x40 bar4=mem64p:0xfe000000/0x4000";

    #[test]
    fn pcifn_line_parses() {
        let f = parse_pcifn(PCIFN).unwrap();
        assert_eq!(f.bdf, Bdf { segment: 0, bus: 0, device: 3, function: 0 });
        assert_eq!(f.bdf.to_string(), "0000:00:03.0");
        assert_eq!((f.vendor, f.device, f.class, f.header, f.pin), (0x8086, 0x100e, 0x020000, 0, 1));
        assert_eq!(
            f.bars,
            [
                PciBar { index: 0, kind: BarKind::Mem32, address: 0xfebc_0000, size: 0x20000 },
                PciBar { index: 1, kind: BarKind::Io, address: 0xc000, size: 0x40 },
                PciBar { index: 4, kind: BarKind::Mem64Prefetch, address: 0xfe00_0000, size: 0x4000 },
            ]
        );
        assert_eq!(f.bars[1].end(), 0xc03f);
        // A bridge with its BAR0, a function without BARs, a 64-bit BAR above 4 GiB.
        let bridge = parse_pcifn(
            "pcifn 0000:00:06.0 vendor=1b36 device=000c class=060400 header=1 pin=1 bar0=mem32:0xfe5a6000/0x1000",
        )
        .unwrap();
        assert_eq!((bridge.header, bridge.bars.len()), (1, 1));
        let host = parse_pcifn("  pcifn 0001:ff:1f.7 vendor=8086 device=29c0 class=060000 header=0 pin=0\r").unwrap();
        assert_eq!(host.bdf, Bdf { segment: 1, bus: 0xff, device: 0x1f, function: 7 });
        assert!(host.bars.is_empty());
        let high = parse_pcifn(
            "pcifn 0000:00:02.0 vendor=1af4 device=1001 class=010000 header=0 pin=1 bar4=mem64:0x800000000/0x4000",
        )
        .unwrap();
        assert_eq!(high.bars[0].address, 0x8_0000_0000);
        for kind in BarKind::ALL {
            let line = format!(
                "pcifn 0000:00:02.0 vendor=1af4 device=1001 class=010000 header=0 pin=1 bar4={kind}:0x1000/0x1000"
            );
            assert_eq!(parse_pcifn(&line).unwrap().bars[0].kind, kind);
        }
    }

    #[test]
    fn malformed_pcifn_lines_are_errors() {
        let base = "pcifn 0000:00:03.0 vendor=8086 device=100e class=020000 header=0 pin=1";
        let cases: &[(&str, &str)] = &[
            ("pcifn", "no BDF"),
            ("pcifm 0000:00:03.0", "`pcifn`"),
            ("pcifn 00:03.0 vendor=8086", "BDF"),
            ("pcifn 0000:00:20.0 vendor=8086", "BDF"),
            ("pcifn 0000:00:03.8 vendor=8086", "BDF"),
            ("pcifn 0000:0:03.0 vendor=8086", "BDF"),
            ("pcifn 0000:00:03.0 vendor=8086", "no `device=`"),
            ("pcifn 0000:00:03.0 device=100e vendor=8086", "expected `vendor=…`"),
            ("pcifn 0000:00:03.0 vendor=8086 device=100E class=020000 header=0 pin=1", "lowercase"),
            ("pcifn 0000:00:03.0 vendor=808 device=100e class=020000 header=0 pin=1", "4 lowercase hex"),
            ("pcifn 0000:00:03.0 vendor=8086 device=100e class=0200 header=0 pin=1", "6 hex"),
            ("pcifn 0000:00:03.0 vendor=8086 device=100e class=020000 header=128 pin=1", "multifunction"),
            ("pcifn 0000:00:03.0 vendor=8086 device=100e class=020000 header=0 pin=5", "INTA-INTD"),
            ("pcifn 0000:00:03.0 vendor=8086 device=100e class=020000 header=0 pin=-1", "pin"),
        ];
        for (line, why) in cases {
            let e = format!("{:#}", parse_pcifn(line).unwrap_err());
            assert!(e.contains(why), "{line:?}: {e}");
            assert!(e.contains("malformed pcifn line"), "{e}");
        }
        let bars: &[(&str, &str)] = &[
            ("bar6=io:0x1000/0x10", "bar0-bar5"),
            ("barx=io:0x1000/0x10", "bar0-bar5"),
            ("bar00=io:0x1000/0x10", "bar0-bar5"),
            ("bar0=rom:0x1000/0x10", "expected barN="),
            ("bar0=io:1000/0x10", "expected barN="),
            ("bar0=io:0x1000", "expected barN="),
            ("bar0=io:0x1000/0x", "expected barN="),
            ("bar0=io:0xABC0/0x10", "expected barN="),
            ("bar0=io:0x1000/0x0", "power of two"),
            ("bar0=io:0x1000/0x30", "power of two"),
            ("bar0=mem32:0xfffff000/0x2000", "beyond 4 GiB"),
            ("bar0=mem64:0xfffffffffffff000/0x2000", "wraps"),
            ("bar0=mem64:0x10000000000000000/0x1000", "expected barN="),
            ("bar5=mem64:0x1000/0x1000", "registers 0-5"),
            ("bar1=io:0x1000/0x10 bar0=io:0x2000/0x10", "ascending"),
            ("bar0=io:0x1000/0x10 bar0=io:0x2000/0x10", "ascending"),
            ("bar0=mem64:0x1000/0x1000 bar1=io:0x2000/0x10", "two registers"),
            ("stray", "expected barN="),
        ];
        for (tail, why) in bars {
            let line = format!("{base} {tail}");
            let e = format!("{:#}", parse_pcifn(&line).unwrap_err());
            assert!(e.contains(why), "{line:?}: {e}");
        }
        let bridge = "pcifn 0000:00:06.0 vendor=1b36 device=000c class=060400 header=1 pin=1 bar2=mem32:0x1000/0x1000";
        assert!(format!("{:#}", parse_pcifn(bridge).unwrap_err()).contains("header-1 function has BAR registers 0-1"));
    }

    #[test]
    fn damaged_pcifn_lines_never_panic() {
        let chars: Vec<char> = PCIFN.chars().collect();
        for cut in 0..chars.len() {
            let _ = parse_pcifn(&chars[..cut].iter().collect::<String>());
        }
        for i in 0..chars.len() {
            for c in ['0', 'f', 'x', ':', '/', '=', ' ', '.', 'Z', '\u{e9}'] {
                let mut v = chars.clone();
                v[i] = c;
                let _ = parse_pcifn(&v.iter().collect::<String>());
            }
        }
    }

    #[test]
    fn pci_dump_parses() {
        let text = format!(
            "pci dump\n{PCIFN}\n[    1.000000] INFO  pci: a log line in between\n\
             pcifn 0000:00:01.0 vendor=1234 device=11e8 class=00ff00 header=0 pin=1 bar0=mem32:0xfea00000/0x100000\n\
             pci dump: end\n"
        );
        let fns = parse_pci_dump(&text).unwrap();
        assert_eq!(fns.len(), 2);
        assert_eq!(fns[1].class, 0x00ff00);
        assert_eq!(parse_pci_dump("pci dump: end").unwrap(), []);
        let e = |t: &str| format!("{:#}", parse_pci_dump(t).unwrap_err());
        assert!(e(&format!("{PCIFN}\n")).contains("no `pci dump: end`"));
        assert!(e(&format!("{PCIFN}\n{PCIFN}\npci dump: end\n")).contains("0000:00:03.0 is listed twice"));
        assert!(e("pcifn 0000:00:03.0 vendor=8086\npci dump: end\n").contains("malformed pcifn line"));
        // Lines after the end line are not part of the dump.
        assert_eq!(parse_pci_dump(&format!("pci dump: end\n{PCIFN}\n")).unwrap(), []);
    }

    #[test]
    fn usage_errors() {
        check_usage_error("irq: expected <gsi> <cpu>\nusage: irq affinity <gsi> <cpu>\n").unwrap();
        assert!(check_usage_error("irq 4 -> cpu 1\n").is_err());
        assert!(check_usage_error("irq: unknown command (try 'help')\nusage: help\n").is_err());
    }
}
