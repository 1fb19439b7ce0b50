//! `cargo xtask test`: every level of docs/testing.md, one closing line.
//!
//! Order: setup, host unit tests, kernel build, in-kernel tests, end-to-end
//! tests. A stage that cannot run (setup or the kernel build failed) counts as
//! one failure and skips the levels that need it; the others still run, so one
//! broken piece never hides the state of the rest. Benchmarks are not a level
//! here: they produce numbers, not verdicts.

pub mod host;
pub mod ktest;
pub mod summary;

use crate::{e2e, kernel_build, machine, setup};
use summary::LevelResult;

/// A test level that can be selected on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Level {
    /// Level 1: `cargo test` on the host crates.
    Host,
    /// Level 2: the kernel's own test registry in QEMU.
    Ktest,
    /// Level 3: the host drives the machine through its console.
    E2e,
}

/// A level that boots the kernel: which, its heading, its summary name, its runner.
type QemuLevel = (Level, &'static str, &'static str, fn(Option<&str>) -> LevelResult);

/// Runs the selected levels (all when `levels` is empty) and prints the summary;
/// returns whether everything passed.
pub fn test(levels: &[Level], filter: Option<&str>) -> bool {
    let want = |l: Level| levels.is_empty() || levels.contains(&l);
    let needs_kernel = want(Level::Ktest) || want(Level::E2e);
    let mut results = Vec::new();
    machine::remove_stale_scratch_dirs();

    // Why the QEMU levels cannot run, if they cannot.
    let mut blocked: Option<&str> = None;
    if let Err(e) = setup::ensure(setup::Verbosity::Quiet) {
        println!("setup: FAILED: {e:#}");
        results.push(LevelResult::failure("setup"));
        blocked = Some("setup failed");
    }

    if want(Level::Host) {
        heading("level 1: host unit tests");
        results.push(host::run(filter));
    }

    if needs_kernel && blocked.is_none() {
        heading("building the kernel");
        match kernel_build::build() {
            Ok(elf) => println!("kernel: {}", elf.display()),
            Err(e) => {
                println!("kernel build: FAILED: {e:#}");
                results.push(LevelResult::failure("kernel build"));
                blocked = Some("kernel did not build");
            }
        }
    }

    let qemu_levels: [QemuLevel; 2] = [
        (Level::Ktest, "level 2: in-kernel tests", "in-kernel tests", ktest::run),
        (Level::E2e, "level 3: end-to-end tests", "end-to-end tests", e2e::run),
    ];
    for (level, title, name, run) in qemu_levels {
        if !want(level) {
            continue;
        }
        heading(title);
        match blocked {
            Some(why) => {
                println!("skipped: {why}");
                results.push(LevelResult::skipped(name, why));
            }
            None => results.push(run(filter)),
        }
    }

    print!("{}", summary::render(&results));
    summary::totals(&results).1 == 0
}

fn heading(title: &str) {
    println!("== {title} ==");
}
