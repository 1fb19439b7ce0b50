//! The kernel command line (QEMU `-append`): space-separated words.
//!
//! | word | effect |
//! |---|---|
//! | `ktest` | run every in-kernel test, then exit (docs/testing.md) |
//! | `ktest=<substring>` | run only tests whose name contains it |
//! | `loglevel=error\|warn\|info\|debug\|trace` | console/dmesg verbosity (default info) |
//!
//! Unknown words are logged and ignored.

use log::LevelFilter;

pub struct Args<'a> {
    /// `Some("")` runs all tests.
    pub ktest: Option<&'a str>,
    pub log_level: LevelFilter,
}

pub fn parse(line: &str) -> Args<'_> {
    let mut args = Args { ktest: None, log_level: LevelFilter::Info };
    for word in line.split_ascii_whitespace() {
        match word.split_once('=') {
            None if word == "ktest" => args.ktest = Some(""),
            Some(("ktest", filter)) => args.ktest = Some(filter),
            Some(("loglevel", level)) => {
                args.log_level = level.parse().unwrap_or(LevelFilter::Info);
            }
            _ => {} // logged by the caller once logging is up
        }
    }
    args
}
