//! Level 1: host unit tests, i.e. `cargo test` on every host crate.
//!
//! The output streams through unchanged; every libtest summary line
//! (`test result: ok. 12 passed; 0 failed; …`, one per test binary and one per
//! doc-test run) is added up. A cargo failure that produced no failing test
//! (a compile error, say) counts as one failure.

use super::summary::LevelResult;
use crate::kernel_build::{self, KERNEL_PACKAGE};
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

/// Passed and failed counts of one `test result:` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestResultLine {
    pub passed: usize,
    pub failed: usize,
}

/// Parses libtest's summary line; anything else (including a garbled one) is `None`.
pub fn parse_test_result(line: &str) -> Option<TestResultLine> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let (_status, counts) = rest.split_once(". ")?;
    let mut passed = None;
    let mut failed = None;
    for item in counts.split(';') {
        let mut words = item.split_whitespace();
        let (Some(n), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        match what {
            "passed" => passed = n.parse().ok(),
            "failed" => failed = n.parse().ok(),
            _ => {}
        }
    }
    Some(TestResultLine { passed: passed?, failed: failed? })
}

/// Runs the host tests (names containing `filter`, if given).
pub fn run(filter: Option<&str>) -> LevelResult {
    let mut result = LevelResult::new("host unit tests");
    match run_cargo_test(filter, &mut result) {
        Ok(true) => {}
        Ok(false) if result.failed == 0 => {
            println!("host: cargo test failed without reporting a failed test (build error?)");
            result.failed = 1;
        }
        Ok(false) => {}
        Err(e) => {
            println!("host: {e:#}");
            result.failed += 1;
        }
    }
    result
}

/// Streams `cargo test` and tallies into `result`; returns cargo's success.
fn run_cargo_test(filter: Option<&str>, result: &mut LevelResult) -> Result<bool> {
    let mut cmd = kernel_build::cargo();
    cmd.current_dir(kernel_build::workspace_root())
        .args(["test", "--workspace", "--exclude", KERNEL_PACKAGE, "--no-fail-fast"])
        .stdout(Stdio::piped());
    if let Some(f) = filter {
        cmd.args(["--", f]);
    }
    let mut child = cmd.spawn().with_context(|| format!("could not start {cmd:?}"))?;
    let stdout = child.stdout.take().context("cargo test stdout not piped")?;
    let mut out = std::io::stdout();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let _ = writeln!(out, "{line}");
        if let Some(r) = parse_test_result(&line) {
            result.passed += r.passed;
            result.failed += r.failed;
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    Ok(status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_and_failed_lines_parse() {
        assert_eq!(
            parse_test_result(
                "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s"
            ),
            Some(TestResultLine { passed: 12, failed: 0 })
        );
        assert_eq!(
            parse_test_result(
                "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.20s"
            ),
            Some(TestResultLine { passed: 3, failed: 2 })
        );
        // Older libtest without timing; leading whitespace.
        assert_eq!(
            parse_test_result("  test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out"),
            Some(TestResultLine { passed: 0, failed: 0 })
        );
    }

    #[test]
    fn other_lines_do_not_parse() {
        for line in [
            "",
            "running 3 tests",
            "test foo ... ok",
            "test result: ok.",
            "test result: ok. many passed; 0 failed;",
            "test result: ok. 3 passed",
            "   Doc-tests hal",
            "error[E0425]: cannot find value `x` in this scope",
        ] {
            assert_eq!(parse_test_result(line), None, "{line:?}");
        }
    }
}
