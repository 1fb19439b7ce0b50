//! `ifconfig`, `ethtool -S <if>`, `ping <ip> [count]`, `netstat`,
//! `net mode <if> irq|napi|poll`, `net watchdog-test <if>`.

use alloc::string::String;
use core::sync::atomic::Ordering;

use smoltcp::wire::Ipv4Address;

use super::commands::{no_args, parse_number};
use crate::net::device::{self, RxMode};
use crate::net::stack;
use crate::println;

fn mac_text(m: [u8; 6]) -> String {
    alloc::format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}

pub fn ifconfig(args: &[&str]) -> Result<(), String> {
    no_args(args)?;
    for dev in device::all() {
        let s = &dev.stats;
        let addr = stack::for_device(&dev.name).map_or(String::from("-"), |st| alloc::format!("{}", st.addr));
        println!(
            "{}: ether {} inet {} mtu {} link {} mode {}{}",
            dev.name,
            mac_text(dev.driver.mac()),
            addr,
            dev.driver.mtu(),
            if dev.driver.link_up() { "up" } else { "down" },
            dev.mode().name(),
            if dev.queue_stopped() { " (tx queue stopped)" } else { "" }
        );
        let driver = dev.driver.stats();
        let get = |k: &str| driver.iter().find(|(n, _)| *n == k).map_or(0, |(_, v)| *v);
        let malformed = stack::for_device(&dev.name).map_or(0, |st| st.stats.malformed.load(Ordering::Relaxed));
        println!(
            "    rx_packets={} rx_bytes={} rx_errors={} rx_dropped={} rx_malformed_dropped={} tx_packets={} tx_bytes={} tx_errors={} queue_stops={}",
            s.rx_packets.load(Ordering::Relaxed),
            s.rx_bytes.load(Ordering::Relaxed),
            get("rx_errors"),
            get("rx_dropped"),
            malformed,
            s.tx_packets.load(Ordering::Relaxed),
            s.tx_bytes.load(Ordering::Relaxed),
            s.tx_errors.load(Ordering::Relaxed),
            s.queue_stops.load(Ordering::Relaxed)
        );
    }
    Ok(())
}

pub fn ethtool(args: &[&str]) -> Result<(), String> {
    let ["-S", name] = args else { return Err("expected: -S <interface>".into()) };
    let dev = device::by_name(name).ok_or_else(|| alloc::format!("no interface {name}"))?;
    println!("NIC statistics for {name}:");
    // rx_dropped covers every frame the driver received that no application
    // got: the driver's own drops plus the stack's (malformed, socket full).
    let stack_drops = stack::for_device(name)
        .map_or(0, |st| st.stats.malformed.load(Ordering::Relaxed) + st.stats.socket_full.load(Ordering::Relaxed));
    for (k, v) in dev.driver.stats() {
        let v = if k == "rx_dropped" { v + stack_drops } else { v };
        println!("     {k}: {v}");
    }
    if let Some(st) = stack::for_device(name) {
        println!("     stack_malformed: {}", st.stats.malformed.load(Ordering::Relaxed));
        println!("     stack_socket_full: {}", st.stats.socket_full.load(Ordering::Relaxed));
    }
    let napi = &crate::net::napi::STATS;
    println!("     napi_rounds: {}", napi.rounds.load(Ordering::Relaxed));
    println!("     napi_round_budget_hits: {}", napi.round_budget_hits.load(Ordering::Relaxed));
    println!("     napi_round_time_hits: {}", napi.round_time_hits.load(Ordering::Relaxed));
    Ok(())
}

fn parse_ipv4(s: &str) -> Result<Ipv4Address, String> {
    let parts: alloc::vec::Vec<u8> = s.split('.').filter_map(|p| p.parse().ok()).collect();
    match parts[..] {
        [a, b, c, d] if s.split('.').count() == 4 => Ok(Ipv4Address::new(a, b, c, d)),
        _ => Err(alloc::format!("'{s}' is not an IPv4 address")),
    }
}

pub fn ping(args: &[&str]) -> Result<(), String> {
    let (target, count) = match args {
        [ip] => (parse_ipv4(ip)?, 4),
        [ip, n] => (parse_ipv4(ip)?, parse_number(n)? as u16),
        _ => return Err("expected: <ip> [count]".into()),
    };
    let st = stack::all().into_iter().next().ok_or("no network interface")?;
    let (answered, rtts) = st.ping(target, count, 1000);
    for (i, us) in rtts.iter().enumerate() {
        println!("reply from {target}: seq={i} time={}.{:03} ms", us / 1000, us % 1000);
    }
    println!("ping {target}: {count} sent, {answered} received");
    Ok(())
}

pub fn netstat(args: &[&str]) -> Result<(), String> {
    no_args(args)?;
    for st in stack::all() {
        for line in st.sockets_summary() {
            println!("{}: {line}", st.dev.name);
        }
        let s = &st.stats;
        println!(
            "udp discard: datagrams={} bytes={}",
            s.discard_datagrams.load(Ordering::Relaxed),
            s.discard_bytes.load(Ordering::Relaxed)
        );
        println!("udp echo: datagrams={}", s.echo_datagrams.load(Ordering::Relaxed));
        println!(
            "tcp echo: bytes={} connections_closed={}",
            s.tcp_echo_bytes.load(Ordering::Relaxed),
            s.tcp_connections.load(Ordering::Relaxed)
        );
        println!(
            "stack: frames_in={} malformed_dropped={} socket_full_dropped={}",
            s.frames_in.load(Ordering::Relaxed),
            s.malformed.load(Ordering::Relaxed),
            s.socket_full.load(Ordering::Relaxed)
        );
    }
    Ok(())
}

pub fn net(args: &[&str]) -> Result<(), String> {
    match args {
        ["mode", name, mode] => {
            let dev = device::by_name(name).ok_or_else(|| alloc::format!("no interface {name}"))?;
            let mode = RxMode::parse(mode).ok_or("mode is irq, napi or poll")?;
            dev.set_mode(mode);
            println!("{name} mode {}", mode.name());
            Ok(())
        }
        ["watchdog-test", name] => {
            let dev = device::by_name(name).ok_or_else(|| alloc::format!("no interface {name}"))?;
            if dev.driver.inject_tx_stall() {
                println!("{name}: transmitter stalled; the watchdog will reset it");
                Ok(())
            } else {
                Err("this driver has no stall hook".into())
            }
        }
        _ => Err("expected: mode <if> irq|napi|poll | watchdog-test <if>".into()),
    }
}
