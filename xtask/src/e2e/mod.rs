//! Level 3: end-to-end tests, run from the host against the real emulated machine.
//!
//! [`session`] is the `expect`-style driver for one QEMU; [`tests`] holds the
//! registry and [`parse`] the parsers of the `/proc`-style replies; [`net`]
//! holds the network tests, which talk to the guest's e1000 from the host;
//! [`blk`] the block tests, which prepare and read back the disk image. [`run`]
//! starts the tests at most two at a time (CI has two cores and each QEMU gets
//! its own images and ports), prints one line per test as it finishes, and
//! tallies the results.

pub mod blk;
pub mod net;
pub mod parse;
pub mod pci;
pub mod session;
pub mod tests;
pub mod virtio;

use crate::test::summary::LevelResult;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;

/// Concurrent QEMU instances at most.
const MAX_JOBS: usize = 2;

/// Runs every registered test whose name contains `filter`.
pub fn run(filter: Option<&str>) -> LevelResult {
    let selected: Vec<&(&str, tests::TestFn)> =
        tests::TESTS.iter().filter(|(name, _)| filter.is_none_or(|f| name.contains(f))).collect();
    let jobs = thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_JOBS);
    let next = AtomicUsize::new(0);
    let result = Mutex::new(LevelResult::new("end-to-end tests"));

    thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                while let Some((name, test)) = selected.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let ok = report(name, run_one(*test));
                    let mut r = result.lock().unwrap_or_else(|e| e.into_inner());
                    r.record(ok);
                }
            });
        }
    });
    result.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// Runs one test, turning a panic into a failure.
fn run_one(test: tests::TestFn) -> Result<tests::Note, String> {
    match std::panic::catch_unwind(test) {
        Ok(Ok(note)) => Ok(note),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(panic) => Err(format!(
            "panicked: {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)")
        )),
    }
}

/// Prints the test's line; returns whether it passed.
fn report(name: &str, outcome: Result<tests::Note, String>) -> bool {
    let line = match &outcome {
        Ok(None) => format!("e2e: {name} ... ok"),
        Ok(Some(note)) => format!("e2e: {name} ... ok ({note})"),
        Err(reason) => format!("e2e: {name} ... FAILED: {}", reason.trim_end()),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    outcome.is_ok()
}
