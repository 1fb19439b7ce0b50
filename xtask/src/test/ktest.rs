//! Level 2: in-kernel tests. The kernel, booted with `ktest` on its command line,
//! runs its test registry and reports on the serial console (docs/testing.md):
//!
//! ```text
//! ktest: mm::buddy::coalesce ... ok
//! ktest: mm::paging::translate ... FAILED (expected 0x1000, got 0x2000)
//! ktest: done, 41 passed, 1 failed
//! ```
//!
//! then exits through isa-debug-exit: status 33 when everything passed, 35 when
//! something failed. Each test line counts. On top of those, one failure each for:
//! no `done` line (crash, hang, timeout: QEMU is killed and the console tail is
//! shown), a `done` line whose numbers disagree with the lines seen, and an exit
//! status that does not match the outcome.

use super::summary::LevelResult;
use crate::e2e::session::Session;
use crate::machine::{Profile, QemuExit};
use crate::settings::Settings;
use anyhow::Result;
use std::time::{Duration, Instant};

/// How long QEMU may take to exit after the `done` line.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// One recognised line of in-kernel test output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KtestLine<'a> {
    Passed {
        name: &'a str,
    },
    Failed {
        name: &'a str,
        reason: &'a str,
    },
    Done {
        passed: usize,
        failed: usize,
    },
    /// Starts with `ktest: ` but follows no known shape.
    Malformed,
}

/// Classifies a console line; `None` if it is not a `ktest: ` line at all.
pub fn parse_line(line: &str) -> Option<KtestLine<'_>> {
    let rest = line.strip_prefix("ktest: ")?.trim_end();
    Some(parse_rest(rest).unwrap_or(KtestLine::Malformed))
}

fn parse_rest(rest: &str) -> Option<KtestLine<'_>> {
    if let Some(counts) = rest.strip_prefix("done, ") {
        let (p, f) = counts.split_once(", ")?;
        let passed = p.strip_suffix(" passed")?.parse().ok()?;
        let failed = f.strip_suffix(" failed")?.parse().ok()?;
        return Some(KtestLine::Done { passed, failed });
    }
    let (name, verdict) = rest.split_once(" ... ")?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    if verdict == "ok" {
        return Some(KtestLine::Passed { name });
    }
    let reason = verdict.strip_prefix("FAILED")?.trim();
    let reason = reason.strip_prefix('(').and_then(|r| r.strip_suffix(')')).unwrap_or(reason);
    Some(KtestLine::Failed { name, reason })
}

/// Accumulates a run's lines and judges it.
#[derive(Debug, Default)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    /// The counts of the `done` line, once seen.
    pub done: Option<(usize, usize)>,
    /// Problems beyond individual test failures, each counting as one failure.
    pub problems: Vec<String>,
}

impl Tally {
    /// Feeds one console line; returns it parsed if it was a ktest line.
    pub fn feed<'a>(&mut self, line: &'a str) -> Option<KtestLine<'a>> {
        let parsed = parse_line(line)?;
        match &parsed {
            KtestLine::Passed { .. } => self.passed += 1,
            KtestLine::Failed { .. } => self.failed += 1,
            KtestLine::Done { passed, failed } => {
                if self.done.is_none() {
                    self.done = Some((*passed, *failed));
                }
            }
            KtestLine::Malformed => {}
        }
        Some(parsed)
    }

    /// Judges the run once it is over. `exit` is QEMU's status if it exited by itself;
    /// `missing_done` explains why the `done` line never came, if it did not.
    pub fn finish(&mut self, exit: Option<QemuExit>, missing_done: Option<String>) {
        let Some((passed, failed)) = self.done else {
            let why = missing_done.unwrap_or_else(|| "output ended".into());
            self.problems.push(format!("no `ktest: done` line: {why}"));
            return;
        };
        if (passed, failed) != (self.passed, self.failed) {
            self.problems.push(format!(
                "`done` says {passed} passed, {failed} failed but {} passed and {} failed lines were printed",
                self.passed, self.failed
            ));
        }
        let want = if failed == 0 && self.failed == 0 { QemuExit::Success } else { QemuExit::Failure };
        match exit {
            Some(got) if got == want => {}
            Some(got) => {
                self.problems.push(format!("{}; expected status {}", got.describe(), want.code().unwrap_or(-1)))
            }
            None => self.problems.push("QEMU did not exit after the `done` line".into()),
        }
    }

    /// The level's result: every test line plus one failure per problem.
    pub fn result(&self) -> LevelResult {
        LevelResult {
            passed: self.passed,
            failed: self.failed + self.problems.len(),
            ..LevelResult::new("in-kernel tests")
        }
    }
}

/// Boots the kernel with `ktest` (or `ktest=<filter>`) and tallies its report.
pub fn run(filter: Option<&str>) -> LevelResult {
    let mut tally = Tally::default();
    if let Err(e) = run_into(filter, &mut tally) {
        tally.problems.push(format!("{e:#}"));
    }
    for p in &tally.problems {
        println!("ktest: FAILED: {}", p.trim_end());
    }
    tally.result()
}

fn run_into(filter: Option<&str>, tally: &mut Tally) -> Result<()> {
    let timeout = Settings::from_env()?.test_timeout;
    let cmdline = match filter {
        Some(f) => format!("ktest={f}"),
        None => "ktest".to_string(),
    };
    let mut session = Session::boot(Profile::Standard, &cmdline)?;
    let deadline = Instant::now() + timeout;
    let mut missing_done = None;
    while tally.done.is_none() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match session.expect("\n", remaining) {
            Ok(line) => feed_and_echo(tally, &line),
            Err(e) => {
                // QEMU may have exited right after an unterminated last line.
                for line in session.rest().lines() {
                    feed_and_echo(tally, line);
                }
                if tally.done.is_none() {
                    let why = match session.exited() {
                        Some(exit) => exit.describe(),
                        None if Instant::now() >= deadline => {
                            format!("timed out after {} s (IOXIDE_TEST_TIMEOUT)", timeout.as_secs())
                        }
                        None => e.to_string().lines().next().unwrap_or_default().to_string(),
                    };
                    missing_done = Some(format!("{:#}", session.fail(why)));
                }
                break;
            }
        }
    }
    let exit = if tally.done.is_some() {
        match session.wait_exit(EXIT_TIMEOUT) {
            Ok(code) => Some(QemuExit::from_code(Some(code))),
            Err(e) => {
                println!("ktest: {e:#}");
                None
            }
        }
    } else {
        None
    };
    tally.finish(exit, missing_done);
    Ok(())
}

/// Tallies a console line and shows it if it is a ktest line.
fn feed_and_echo(tally: &mut Tally, line: &str) {
    let line = line.trim_end_matches(['\r', '\n']);
    match tally.feed(line) {
        Some(KtestLine::Malformed) => println!("ktest: warning: unrecognised line {line:?}"),
        Some(_) => println!("{line}"),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_lines_parse() {
        assert_eq!(
            parse_line("ktest: mm::buddy::coalesce ... ok"),
            Some(KtestLine::Passed { name: "mm::buddy::coalesce" })
        );
        assert_eq!(
            parse_line("ktest: mm::paging::translate ... FAILED (expected 0x1000, got 0x2000)\r"),
            Some(KtestLine::Failed { name: "mm::paging::translate", reason: "expected 0x1000, got 0x2000" })
        );
        assert_eq!(parse_line("ktest: a ... FAILED"), Some(KtestLine::Failed { name: "a", reason: "" }));
        assert_eq!(parse_line("ktest: done, 41 passed, 1 failed"), Some(KtestLine::Done { passed: 41, failed: 1 }));
    }

    #[test]
    fn malformed_and_foreign_lines() {
        for line in [
            "ktest: running 42 tests",
            "ktest: done, many passed, 0 failed",
            "ktest: done, 1 passed",
            "ktest: done,1 passed, 0 failed",
            "ktest: a b ... ok",
            "ktest:  ... ok",
            "ktest: x ... okay",
            "ktest: x ... FAIL",
            "ktest: ",
        ] {
            assert_eq!(parse_line(line), Some(KtestLine::Malformed), "{line:?}");
        }
        for line in ["", "[0.000001] ktest: x ... ok", "ktest:x ... ok", "boot"] {
            assert_eq!(parse_line(line), None, "{line:?}");
        }
    }

    fn tally(lines: &[&str]) -> Tally {
        let mut t = Tally::default();
        for l in lines {
            t.feed(l);
        }
        t
    }

    #[test]
    fn a_clean_run_passes() {
        let mut t = tally(&["boot", "ktest: a ... ok", "ktest: b ... ok", "ktest: done, 2 passed, 0 failed"]);
        t.finish(Some(QemuExit::Success), None);
        assert_eq!(t.result().passed, 2);
        assert_eq!(t.result().failed, 0);
    }

    #[test]
    fn failures_need_status_35() {
        let lines = ["ktest: a ... ok", "ktest: b ... FAILED (x)", "ktest: done, 1 passed, 1 failed"];
        let mut t = tally(&lines);
        t.finish(Some(QemuExit::Failure), None);
        assert_eq!((t.result().passed, t.result().failed), (1, 1));

        let mut t = tally(&lines);
        t.finish(Some(QemuExit::Success), None);
        assert_eq!(t.result().failed, 2, "{:?}", t.problems);
    }

    #[test]
    fn success_needs_status_33() {
        for exit in [Some(QemuExit::PowerOff), Some(QemuExit::Failure), Some(QemuExit::Other(1)), None] {
            let mut t = tally(&["ktest: a ... ok", "ktest: done, 1 passed, 0 failed"]);
            t.finish(exit, None);
            assert_eq!(t.result().failed, 1, "{exit:?}");
        }
    }

    #[test]
    fn a_missing_done_line_is_one_more_failure() {
        let mut t = tally(&["ktest: a ... ok", "ktest: b ... FAILED (x)", "KERNEL PANIC: oops"]);
        t.finish(Some(QemuExit::Failure), Some("timed out".into()));
        assert_eq!((t.result().passed, t.result().failed), (1, 2));
        assert!(t.problems[0].contains("timed out"));
    }

    #[test]
    fn disagreeing_counts_are_a_failure() {
        let mut t = tally(&["ktest: a ... ok", "ktest: done, 2 passed, 0 failed"]);
        t.finish(Some(QemuExit::Success), None);
        assert_eq!(t.result().failed, 1);
        assert!(t.problems[0].contains("done"));
    }

    #[test]
    fn malformed_lines_are_not_counted() {
        let mut t = tally(&["ktest: a ... maybe", "ktest: done, 0 passed, 0 failed"]);
        t.finish(Some(QemuExit::Success), None);
        assert_eq!((t.result().passed, t.result().failed), (0, 0));
    }
}
