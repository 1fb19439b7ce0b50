//! The kernel command line (QEMU `-append`): space-separated words.
//!
//! | word | effect |
//! |---|---|
//! | `ktest` | run every in-kernel test, then exit (docs/testing.md) |
//! | `ktest=<substring>` | run only tests whose name contains it |
//! | `loglevel=error\|warn\|info\|debug\|trace` | console/dmesg verbosity (default info) |
//!
//! Unknown words are logged (see [`unknown_words`]) and otherwise ignored.

use log::LevelFilter;

pub struct Args<'a> {
    /// `Some("")` runs all tests.
    pub ktest: Option<&'a str>,
    pub log_level: LevelFilter,
}

const KNOWN_KEYS: [&str; 2] = ["ktest", "loglevel"];

/// Words of the command line this kernel does not understand.
pub fn unknown_words(line: &str) -> impl Iterator<Item = &str> {
    line.split_ascii_whitespace().filter(|w| !KNOWN_KEYS.contains(&w.split_once('=').map_or(*w, |(k, _)| k)))
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
            _ => {} // reported by `unknown_words` once logging is up
        }
    }
    args
}

mod ktests {
    use super::{parse, unknown_words};
    use crate::{check, check_eq, ktest};
    use log::LevelFilter;

    ktest! {
        fn parses_ktest_filter_and_loglevel() {
            let a = parse("loglevel=debug ktest=mm:: quiet");
            check_eq!(a.ktest, Some("mm::"));
            check_eq!(a.log_level, LevelFilter::Debug);
            check_eq!(parse("ktest").ktest, Some(""));
            check_eq!(parse("").ktest, None);
            check_eq!(parse("loglevel=bogus").log_level, LevelFilter::Info);
            let unknown: alloc::vec::Vec<&str> = unknown_words("quiet ktest loglevel=warn foo=1").collect();
            check_eq!(unknown, alloc::vec!["quiet", "foo=1"]);
            check!(unknown_words("ktest=x").next().is_none());
        }
    }
}
