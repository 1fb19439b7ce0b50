//! Tallies per level and the closing `N passed, N failed` line.
//!
//! The closing line is read by CI and by people, so it is the very last line
//! `cargo xtask test` prints; the per-level lines before it are phrased so they
//! cannot be mistaken for it.

use std::fmt::Write;

/// What one level (or one stage, like the kernel build) contributed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LevelResult {
    pub name: &'static str,
    pub passed: usize,
    pub failed: usize,
    /// Why the level did not run, if it did not.
    pub skipped: Option<String>,
}

impl LevelResult {
    /// An empty tally.
    pub fn new(name: &'static str) -> Self {
        Self { name, passed: 0, failed: 0, skipped: None }
    }

    /// A level that did not run.
    pub fn skipped(name: &'static str, why: impl Into<String>) -> Self {
        Self { skipped: Some(why.into()), ..Self::new(name) }
    }

    /// A stage that failed once (setup, kernel build).
    pub fn failure(name: &'static str) -> Self {
        Self { failed: 1, ..Self::new(name) }
    }

    /// Counts one test.
    pub fn record(&mut self, passed: bool) {
        if passed {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
    }
}

/// The per-level summary followed by the closing line.
pub fn render(levels: &[LevelResult]) -> String {
    let mut out = String::from("== summary ==\n");
    for l in levels {
        let _ = match &l.skipped {
            Some(why) => writeln!(out, "  {:<18} skipped ({why})", l.name),
            None => writeln!(out, "  {:<18} {} passed, {} failed", l.name, l.passed, l.failed),
        };
    }
    let (passed, failed) = totals(levels);
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    out
}

/// Sums of passed and failed over all levels.
pub fn totals(levels: &[LevelResult]) -> (usize, usize) {
    levels.iter().fold((0, 0), |(p, f), l| (p + l.passed, f + l.failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_line_sums_every_level_and_comes_last() {
        let mut e2e = LevelResult::new("end-to-end tests");
        e2e.record(true);
        e2e.record(false);
        let levels = [
            LevelResult { passed: 10, ..LevelResult::new("host unit tests") },
            LevelResult::failure("kernel build"),
            LevelResult::skipped("in-kernel tests", "kernel did not build"),
            e2e,
        ];
        let text = render(&levels);
        assert_eq!(text.lines().last(), Some("11 passed, 2 failed"));
        assert!(text.contains("in-kernel tests    skipped (kernel did not build)"));
        assert!(text.contains("host unit tests    10 passed, 0 failed"));
        assert_eq!(totals(&levels), (11, 2));
    }

    #[test]
    fn per_level_lines_are_not_closing_lines() {
        // A closing line is `N passed, N failed`, optionally after one `word:`.
        let text = render(&[LevelResult::new("host unit tests")]);
        let closing = |l: &str| {
            let l = l.trim();
            let l = l.split_once(": ").map_or(l, |(w, rest)| if w.contains(' ') { l } else { rest });
            l.split(' ').count() == 4 && l.contains(" passed, ") && l.ends_with(" failed")
        };
        assert_eq!(text.lines().filter(|l| closing(l)).count(), 1);
    }
}
