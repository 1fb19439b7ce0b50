//! The kernel command line (QEMU `-append`): space-separated words.
//!
//! | word | effect |
//! |---|---|
//! | `ktest` | run every in-kernel test, then exit (docs/testing.md) |
//! | `ktest=<substring>` | run only tests whose name contains it |
//! | `loglevel=error\|warn\|info\|debug\|trace` | console/dmesg verbosity (default info) |
//! | `ip.<if>=a.b.c.d/p` | address of a network interface (default eth0 192.0.2.2/24, eth1 192.0.2.3/24) |
//! | `net.mode=irq\|napi\|poll` | receive mode of every interface at boot (default napi; `net mode` changes it later) |
//! | `virtio.irq=intx` | virtio devices use their INTx line instead of MSI-X |
//! | `ramdisk=<MiB>` | size of the RAM disk `ram0` (default 16; 0 = none) |
//!
//! Unknown words are logged (see [`unknown_words`]) and otherwise ignored.

use log::LevelFilter;

pub struct Args<'a> {
    /// `Some("")` runs all tests.
    pub ktest: Option<&'a str>,
    pub log_level: LevelFilter,
}

const KNOWN_KEYS: [&str; 2] = ["ktest", "loglevel"];

/// The command line, kept for subsystems that read their options late.
static LINE: spin::Once<alloc::string::String> = spin::Once::new();

pub fn keep(line: &str) {
    LINE.call_once(|| alloc::string::String::from(line));
}

/// The value of `key=value` on the command line, if given.
pub fn value(key: &str) -> Option<&'static str> {
    LINE.get()?.split_ascii_whitespace().find_map(|w| w.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
}

/// The receive mode asked for with `net.mode=`, if any.
pub fn net_mode() -> Option<crate::net::device::RxMode> {
    value("net.mode").and_then(crate::net::device::RxMode::parse)
}

/// An interface's IPv4 address and prefix: `ip.<if>=` or the default.
pub fn ipv4_for(interface: &str) -> (smoltcp::wire::Ipv4Address, u8) {
    let key = alloc::format!("ip.{interface}");
    let given = LINE.get().and_then(|line| {
        line.split_ascii_whitespace().find_map(|w| {
            let (k, v) = w.split_once('=')?;
            (k == key).then(|| parse_cidr(v)).flatten()
        })
    });
    given.unwrap_or_else(|| {
        let host = 2 + interface.trim_start_matches("eth").parse::<u8>().unwrap_or(0);
        (smoltcp::wire::Ipv4Address::new(192, 0, 2, host), 24)
    })
}

fn parse_cidr(v: &str) -> Option<(smoltcp::wire::Ipv4Address, u8)> {
    let (ip, prefix) = v.split_once('/').unwrap_or((v, "24"));
    let octets: alloc::vec::Vec<u8> = ip.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
    match octets[..] {
        [a, b, c, d] => Some((smoltcp::wire::Ipv4Address::new(a, b, c, d), prefix)),
        _ => None,
    }
}

/// Words of the command line this kernel does not understand.
pub fn unknown_words(line: &str) -> impl Iterator<Item = &str> {
    line.split_ascii_whitespace().filter(|w| {
        let key = w.split_once('=').map_or(*w, |(k, _)| k);
        !KNOWN_KEYS.contains(&key)
            && !key.starts_with("ip.")
            && key != "net.mode"
            && key != "ramdisk"
            && key != "virtio.irq"
    })
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
