//! End-to-end network tests: the host is the other station on one NIC's wire.
//!
//! Every test runs once per NIC of the standard machine ([`crate::net::Nic`]:
//! the e1000 as eth0, the virtio-net as eth1) and is registered once per NIC
//! (`net_<test>_e1000`, `net_<test>_virtio`). Each boots the standard machine,
//! binds that NIC's peer socket (port base + offset + 1: base+1 for eth0,
//! base+3 for eth1) right after QEMU starts, waits for the prompt and resolves
//! the guest's address on that NIC over ARP; then it talks to the kernel's
//! services on that address (ICMP echo, UDP echo 7, UDP discard 9, TCP echo
//! 7) through [`crate::net`] and reads that interface's counters from the
//! shell. The other NIC's wire has no station during the test. Every failure
//! ends with the console tail. What each test relies on is in
//! docs/testing.md, "Network".

use super::session::{tail_lines, Session, TAIL_LINES};
use super::tests::Note;
use crate::machine::Profile;
use crate::net::frame::{self, Body, Malformed, MalformedStream, L4, MALFORMED_MARKER};
use crate::net::gen::{self, EchoOptions, EchoReport, Size, Summary};
use crate::net::peer::Peer;
use crate::net::shell::{self, Counters, Snapshot};
use crate::net::tcp::{self, TcpOptions};
use crate::net::{Nic, ECHO_PORT};

pub use crate::net::{E1000, VIRTIO};
use anyhow::{anyhow, Context, Result};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long the guest may take to answer ARP after its prompt.
const ARP_TIMEOUT: Duration = Duration::from_secs(10);
/// Seeds, printed in failure messages so a run reproduces.
const ECHO_SEED: u64 = 0x10_000;
const MALFORMED_SEED: u64 = 0x5eed;
const TCP_SEED: u64 = 0x1000_07c9;
/// Malformed frames sent between two looks at what came back.
const MALFORMED_BATCH: usize = 50;
/// The flood of `net_counters_add_up`.
const FLOOD_PPS: f64 = 20_000.0;
const FLOOD_TIME: Duration = Duration::from_secs(2);
const FLOOD_SIZE: usize = 64;
/// How long the counters may take to stop moving after traffic stops.
const QUIESCE_TIMEOUT: Duration = Duration::from_secs(15);
const QUIESCE_STEP: Duration = Duration::from_millis(300);
/// How long the NIC may take to come back after `net watchdog-test`.
const WATCHDOG_RECOVERY: Duration = Duration::from_secs(30);

/// A booted standard machine and the host station on one NIC's wire.
pub struct NetSession {
    pub s: Session,
    pub peer: Peer,
    /// The NIC under test.
    pub nic: Nic,
}

impl NetSession {
    /// Boots, binds `nic`'s peer, waits for the prompt and resolves the
    /// guest's address on `nic`.
    pub fn boot(nic: &Nic) -> Result<Self> {
        Self::boot_with(nic, "")
    }

    /// [`boot`](Self::boot) with extra kernel command-line words.
    pub fn boot_with(nic: &Nic, cmdline: &str) -> Result<Self> {
        let s = Session::boot(Profile::Standard, cmdline)?;
        // Bind at once: the port is free only since QEMU was spawned.
        let peer = Peer::bind(s.machine().first_net_port(), nic).map_err(|e| s.fail(format!("{e:#}")))?;
        let mut ns = Self { s, peer, nic: *nic };
        ns.s.expect_prompt()?;
        let mac = ns.peer.resolve(ARP_TIMEOUT);
        let mac = ns.check(mac, "resolving the guest")?;
        if mac != nic.guest_mac {
            return Err(ns.s.fail(format!(
                "the guest answered ARP for {} on {} with MAC {mac}, expected {}",
                nic.guest_ip, nic.iface, nic.guest_mac
            )));
        }
        Ok(ns)
    }

    /// `r`, with the NIC, the console tail and the peer's statistics on failure.
    pub fn check<T>(&self, r: Result<T>, what: &str) -> Result<T> {
        r.map_err(|e| {
            self.s.fail(format!(
                "{}: {what}: {e:#} (peer {}: {:?})",
                self.nic.describe(),
                self.peer.describe(),
                self.peer.stats()
            ))
        })
    }

    /// An error about the NIC under test, with the console tail.
    pub fn fail(&self, msg: impl std::fmt::Display) -> anyhow::Error {
        self.s.fail(format!("{}: {msg}", self.nic.describe()))
    }

    /// Runs a shell command; answers the guest's ARP that queued up meanwhile.
    pub fn command(&mut self, line: &str) -> Result<String> {
        let out = self.s.command(line)?;
        let drained = self.peer.drain();
        self.check(drained, "answering ARP")?;
        Ok(out)
    }

    /// The NIC's section of `ifconfig`.
    pub fn ifconfig(&mut self) -> Result<Counters> {
        let out = self.command("ifconfig")?;
        shell::parse_ifconfig(&out, self.nic.iface).map_err(|e| with_output(e, "ifconfig", &out))
    }

    /// `ethtool -S <iface>`.
    pub fn ethtool(&mut self) -> Result<Counters> {
        let line = self.ethtool_command();
        let out = self.command(&line)?;
        shell::parse_ethtool(&out).map_err(|e| with_output(e, &line, &out))
    }

    /// `ethtool -S <iface>`, the command line (for messages too).
    pub fn ethtool_command(&self) -> String {
        format!("ethtool -S {}", self.nic.iface)
    }

    /// `counters[name]` of `ethtool -S <iface>`, or an error naming the NIC.
    pub fn counter(&self, counters: &Counters, name: &str) -> Result<u64> {
        shell::counter(counters, name, &self.ethtool_command()).map_err(|e| self.fail(format!("{e:#}")))
    }

    /// The interface's discard line of `netstat`.
    pub fn netstat_discard(&mut self) -> Result<shell::Discard> {
        let out = self.command("netstat")?;
        shell::parse_netstat_discard(&out, self.nic.iface).map_err(|e| with_output(e, "netstat", &out))
    }

    /// `net mode <iface> <mode>`, checking the reply.
    pub fn set_mode(&mut self, mode: &str) -> Result<()> {
        let iface = self.nic.iface;
        let line = format!("net mode {iface} {mode}");
        let out = self.command(&line)?;
        shell::check_net_mode(&out, iface, mode).map_err(|e| with_output(e, &line, &out))
    }

    /// Waits until `ethtool -S <iface>`'s `rx_packets` stops changing (the
    /// guest has drained what was sent); returns the last reading.
    pub fn quiesce(&mut self) -> Result<Counters> {
        let deadline = Instant::now() + QUIESCE_TIMEOUT;
        let mut last = self.ethtool()?;
        loop {
            std::thread::sleep(QUIESCE_STEP);
            let now = self.ethtool()?;
            let rx = |c: &Counters| self.counter(c, "rx_packets");
            if rx(&now)? == rx(&last)? {
                return Ok(now);
            }
            if Instant::now() >= deadline {
                return Err(self.fail(format!(
                    "rx_packets still moving {:.0} s after the traffic stopped ({} -> {})",
                    QUIESCE_TIMEOUT.as_secs_f64(),
                    rx(&last)?,
                    rx(&now)?
                )));
            }
            last = now;
        }
    }

    /// The kernel's counters once quiet: ethtool's and netstat's discard line.
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        let ethtool = self.quiesce()?;
        let discard = self.netstat_discard()?;
        Ok(Snapshot { ethtool, discard })
    }
}

fn with_output(e: anyhow::Error, command: &str, out: &str) -> anyhow::Error {
    anyhow!("{e:#}\n--- `{command}` output ---\n{}", tail_lines(out, TAIL_LINES))
}

fn rtt_note(r: &EchoReport) -> String {
    match Summary::of_durations(&r.rtts) {
        Some(s) => format!("RTT p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs", s.p50, s.p99, s.max),
        None => "no RTT".into(),
    }
}

/// The guest answers ARP for the NIC's address with the NIC's MAC, and 10 pings.
pub fn net_arp_and_ping(nic: &Nic) -> Result<Note> {
    let mut ns = NetSession::boot(nic)?;
    let r = gen::ping(&mut ns.peer, 10, &EchoOptions::default());
    let r = ns.check(r, "ping")?;
    Ok(Some(format!("{}; {} retransmit(s)", rtt_note(&r), r.retransmits)))
}

/// 10 000 UDP echoes of 1–1400 bytes, one at a time, each byte for byte; the
/// interface counters grew by at least as many frames each way.
pub fn net_udp_echo_10k_exact(nic: &Nic) -> Result<Note> {
    const COUNT: u64 = 10_000;
    let mut ns = NetSession::boot(nic)?;
    let before = ns.ifconfig()?;
    let opts = EchoOptions { seed: ECHO_SEED, deadline: Duration::from_secs(300), ..Default::default() };
    let sizes = Size::Uniform { min: 1, max: 1400, seed: ECHO_SEED };
    let r = gen::udp_echo_latency(&mut ns.peer, COUNT, sizes, &opts);
    let r = ns.check(r, &format!("UDP echo (seed {ECHO_SEED:#x})"))?;
    let after = ns.ifconfig()?;
    for name in ["rx_packets", "tx_packets"] {
        let grew = after[name].saturating_sub(before[name]);
        if grew < COUNT {
            return Err(ns.fail(format!("ifconfig {} {name} grew by {grew} over {COUNT} echoes", nic.iface)));
        }
    }
    Ok(Some(format!(
        "{} bytes in {:.1} s, {}; {} retransmit(s), {} stale",
        r.bytes,
        r.elapsed.as_secs_f64(),
        rtt_note(&r),
        r.retransmits,
        r.stale
    )))
}

/// 1 MiB through the TCP echo service, compared byte for byte and by FNV-1a.
pub fn net_tcp_echo_1mib(nic: &Nic) -> Result<Note> {
    let mut ns = NetSession::boot(nic)?;
    let data = gen::payload(TCP_SEED, 0, 1 << 20);
    let opts = TcpOptions { seed: TCP_SEED, deadline: Duration::from_secs(180), stall: Duration::from_secs(20) };
    let r = tcp::tcp_echo(&mut ns.peer, ECHO_PORT, &data, &opts);
    let r = ns.check(r, "TCP echo of 1 MiB")?;
    if r.fnv_sent != r.fnv_received {
        return Err(ns.fail(format!("FNV-1a sent {:#018x}, echoed {:#018x}", r.fnv_sent, r.fnv_received)));
    }
    let mib_s = r.bytes as f64 / r.elapsed.as_secs_f64().max(1e-9) / f64::from(1 << 20);
    Ok(Some(format!(
        "{mib_s:.2} MiB/s, connected in {:.1} ms, fnv1a64 {:#018x}, {} closed",
        r.connect.as_secs_f64() * 1e3,
        r.fnv_received,
        if r.closed_cleanly { "cleanly" } else { "not cleanly (informational)" }
    )))
}

/// Collects the guest's frames for `wait`; returns the problems they show: an
/// echo of a malformed frame, or a frame the kernel built wrong.
fn look_for_answers(ns: &mut NetSession, wait: Duration, problems: &mut Vec<String>) -> Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let got = ns.peer.recv(left);
        let Some(bytes) = ns.check(got, "receiving")? else { return Ok(()) };
        match frame::parse(&bytes) {
            Err(e) => problems.push(format!("the guest sent a malformed frame ({e}): {}", frame::hex(&bytes, 48))),
            Ok(f) => {
                if let Body::Ipv4(ip) = f.body {
                    if let L4::Udp { payload: p, .. } | L4::IcmpEcho { data: p, .. } = ip.l4 {
                        if let Some(rest) = p.strip_prefix(MALFORMED_MARKER) {
                            let kind = rest.first().and_then(|k| Malformed::ALL.get(usize::from(k.wrapping_sub(b'a'))));
                            problems.push(format!("the guest echoed a malformed frame of kind {kind:?}"));
                        }
                    }
                }
            }
        }
        if problems.len() >= 20 || left.is_zero() {
            return Ok(());
        }
    }
}

/// 10 000 malformed frames of every kind; nothing answers them, nothing
/// crashes, 100 echoes still work and the error/drop counters grew.
pub fn net_malformed_frames_crash_nothing(nic: &Nic) -> Result<Note> {
    const COUNT: usize = 10_000;
    let mut ns = NetSession::boot(nic)?;
    let before = ns.ifconfig()?;
    let ep = ns.check(ns.peer.endpoints(), "addresses")?;
    let mut problems = Vec::new();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for (i, (kind, f)) in MalformedStream::new(MALFORMED_SEED, ep).take(COUNT).enumerate() {
        let sent = ns.peer.send(&f);
        ns.check(sent, &format!("sending malformed frame #{i} ({kind:?}, seed {MALFORMED_SEED:#x})"))?;
        *kinds.entry(format!("{kind:?}")).or_default() += 1;
        if i % MALFORMED_BATCH == MALFORMED_BATCH - 1 {
            look_for_answers(&mut ns, Duration::from_millis(1), &mut problems)?;
        }
    }
    look_for_answers(&mut ns, Duration::from_millis(500), &mut problems)?;
    if !problems.is_empty() {
        return Err(
            ns.fail(format!("after {COUNT} malformed frames (seed {MALFORMED_SEED:#x}):\n  {}", problems.join("\n  ")))
        );
    }
    let r =
        gen::udp_echo_latency(&mut ns.peer, 100, Size::Uniform { min: 1, max: 1400, seed: 7 }, &EchoOptions::default());
    ns.check(r, &format!("100 UDP echoes after {COUNT} malformed frames (seed {MALFORMED_SEED:#x})"))?;
    let after = ns.ifconfig()?;
    let (errs_before, errs_after) = (shell::errors_and_drops(&before), shell::errors_and_drops(&after));
    let rx = after["rx_packets"].saturating_sub(before["rx_packets"]);
    if errs_after <= errs_before {
        return Err(ns.fail(format!(
            "the {} error/drop counters of ifconfig did not grow over {COUNT} malformed frames \
             (sum of counters named *err*/*drop*: {errs_before} -> {errs_after}; rx_packets +{rx}); \
             before: {before:?}; after: {after:?}",
            nic.iface
        )));
    }
    Ok(Some(format!(
        "{COUNT} frames of {} kinds (seed {MALFORMED_SEED:#x}): rx_packets +{rx}, errors/drops +{}",
        kinds.len(),
        errs_after - errs_before
    )))
}

/// After a flood to the discard port, every frame the driver received is
/// delivered, counted as dropped, or one of the few other frames the host
/// sent (docs/testing.md, "The counters add up").
pub fn net_counters_add_up(nic: &Nic) -> Result<Note> {
    let mut ns = NetSession::boot(nic)?;
    let before = ns.snapshot()?;
    let sent_before = ns.peer.stats().sent;
    let flood = gen::udp_flood(&mut ns.peer, Some(FLOOD_PPS), FLOOD_TIME, FLOOD_SIZE);
    let flood = ns.check(flood, "flooding the discard port")?;
    let after = ns.snapshot()?;
    let other_sent = ns.peer.stats().sent - sent_before - flood.sent;
    let a = shell::account(&before, &after, flood.sent, FLOOD_SIZE, other_sent)
        .map_err(|e| ns.fail(format!("{e:#}\nbefore: {before:?}\nafter: {after:?}")))?;
    Ok(Some(format!(
        "{} sent at {:.0} pps: {} received = {} delivered + {} dropped + {} other; {} lost before the NIC",
        a.flood_sent,
        flood.achieved_pps,
        a.rx_packets,
        a.delivered,
        a.rx_dropped,
        a.answered_otherwise,
        match a.rx_missed {
            Some(missed) => format!("{missed} missed (no descriptor), {}", a.lost_before_nic),
            None => a.lost_before_nic.to_string(),
        }
    )))
}

/// `net watchdog-test <iface>` stops the NIC's transmitter; the TX watchdog
/// resets it and echoes work again.
pub fn net_tx_timeout_recovers(nic: &Nic) -> Result<Note> {
    let cmd = format!("net watchdog-test {}", nic.iface);
    let cmd = cmd.as_str();
    let mut ns = NetSession::boot(nic)?;
    let baseline = gen::udp_echo_latency(&mut ns.peer, 10, Size::Fixed(64), &EchoOptions::default());
    ns.check(baseline, "10 UDP echoes before the watchdog test")?;
    let before = ns.ethtool()?;
    let timeouts_before = ns.counter(&before, "tx_timeouts")?;

    let out = ns.command(cmd)?;
    if out.contains("unknown command") || out.lines().any(|l| l.trim_start().starts_with("usage:")) {
        return Err(with_output(anyhow!("`{cmd}` was rejected"), cmd, &out));
    }
    let started = Instant::now();
    // Probes use ports of their own: a probe's reply that the restarted NIC
    // sends late must not be taken for a wrong reply to the echoes after.
    let probe = EchoOptions {
        attempt_timeout: Duration::from_millis(500),
        attempts: 1,
        src_port_base: 50_000,
        ..Default::default()
    };
    loop {
        if gen::udp_echo_latency(&mut ns.peer, 1, Size::Fixed(64), &probe).is_ok() {
            break;
        }
        if started.elapsed() >= WATCHDOG_RECOVERY {
            return Err(
                ns.fail(format!("no UDP echo came back within {:.0} s of `{cmd}`", WATCHDOG_RECOVERY.as_secs_f64()))
            );
        }
    }
    let recovered = started.elapsed();
    let r =
        gen::udp_echo_latency(&mut ns.peer, 100, Size::Uniform { min: 1, max: 1400, seed: 9 }, &EchoOptions::default());
    let r = ns.check(r, &format!("100 UDP echoes after `{cmd}`"))?;
    let after = ns.ethtool()?;
    let timeouts = ns.counter(&after, "tx_timeouts")?;
    if timeouts <= timeouts_before {
        return Err(ns.fail(format!(
            "echoes work, but ethtool's tx_timeouts stayed at {timeouts_before}: the watchdog never fired"
        )));
    }
    Ok(Some(format!(
        "echoing again {:.1} s after `{cmd}`; tx_timeouts +{}; {}",
        recovered.as_secs_f64(),
        timeouts - timeouts_before,
        rtt_note(&r)
    )))
}

/// The host side alone, through QEMU's dgram netdev but without the kernel:
/// QEMU's user-mode network (slirp, addressed 192.0.2.2) sits on a hub with
/// the dgram netdev and stands in for the guest. Slirp answers ARP and ping
/// itself and relays UDP/TCP for 192.0.2.2:P to 127.0.0.1:P, where this test
/// runs an echo server. When the kernel's network tests fail and this one
/// passes, the host side is not the problem. Only loopback is involved.
pub fn net_host_harness_via_slirp() -> Result<Note> {
    let settings = crate::settings::Settings::from_env()?;
    let block = crate::ports::PortBlock::reserve(2)?;
    let base = block.base();
    let scratch = crate::machine::ScratchDir::temporary("slirp")?;
    let log = scratch.path().join("qemu.stderr");
    let netdev = format!(
        "dgram,id=d0,local.type=inet,local.host=127.0.0.1,local.port={base},\
         remote.type=inet,remote.host=127.0.0.1,remote.port={}",
        base + 1
    );
    let mut cmd = std::process::Command::new(&settings.qemu);
    cmd.args(["-machine", "none", "-nodefaults", "-display", "none", "-monitor", "none"])
        .args(["-netdev", "user,id=u0,net=192.0.2.0/24,host=192.0.2.2", "-netdev", "hubport,id=h0,hubid=0,netdev=u0"])
        .args(["-netdev", &netdev, "-netdev", "hubport,id=h1,hubid=0,netdev=d0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log)?);
    drop(block);
    let child = cmd.spawn().with_context(|| format!("starting {}", settings.qemu))?;
    let mut qemu = KillOnDrop(child);
    let stderr = || std::fs::read_to_string(&log).unwrap_or_default();
    let fail = |what: String| anyhow!("{what}\n--- QEMU's stderr ---\n{}", tail_lines(&stderr(), TAIL_LINES));

    // Wait until QEMU holds its port: a datagram sent before would come back
    // as "connection refused" on the peer's connected socket.
    let bound_by = Instant::now() + Duration::from_secs(10);
    while std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, base)).is_ok() {
        if let Ok(Some(status)) = qemu.0.try_wait() {
            return Err(fail(format!("QEMU exited with {status} before binding 127.0.0.1:{base}")));
        }
        if Instant::now() >= bound_by {
            return Err(fail(format!("QEMU did not bind 127.0.0.1:{base} within 10 s")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let servers = HostEcho::start()?;
    // Slirp stands at the e1000's guest address (192.0.2.2), so the e1000's
    // station addresses fit; the port base is this test's own.
    let mut peer = Peer::bind(base, &E1000)?;
    let run = |peer: &mut Peer| -> Result<String> {
        let mac = peer.resolve(ARP_TIMEOUT)?;
        let ping = gen::ping(peer, 5, &EchoOptions::default())?;
        let opts = EchoOptions { port: servers.udp_port, ..Default::default() };
        let echo = gen::udp_echo_latency(peer, 200, Size::Uniform { min: 1, max: 1400, seed: 11 }, &opts)?;
        let window = gen::udp_echo_throughput(peer, 32, 2000, 64, &opts)?;
        let data = gen::payload(12, 0, 256 << 10);
        let tcp = tcp::tcp_echo(peer, servers.tcp_port, &data, &TcpOptions::default())?;
        Ok(format!(
            "slirp {mac}: ping {}; UDP echo {}; window 32: {:.0}/s; TCP 256 KiB in {:.0} ms",
            rtt_note(&ping),
            rtt_note(&echo),
            window.replies_per_s,
            tcp.elapsed.as_secs_f64() * 1e3
        ))
    };
    let note = run(&mut peer).map_err(|e| fail(format!("{e:#} (peer {}: {:?})", peer.describe(), peer.stats())))?;
    Ok(Some(note))
}

/// A child process killed when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// UDP and TCP echo servers on 127.0.0.1 (ephemeral ports), stopped when
/// dropped and after [`HostEcho::LIFETIME`] in any case.
struct HostEcho {
    udp_port: u16,
    tcp_port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl HostEcho {
    const LIFETIME: Duration = Duration::from_secs(120);
    const POLL: Duration = Duration::from_millis(20);

    fn start() -> Result<Self> {
        use std::io::{ErrorKind, Read, Write};
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let until = Instant::now() + Self::LIFETIME;
        let udp = std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
        udp.set_read_timeout(Some(Self::POLL))?;
        let tcp = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
        tcp.set_nonblocking(true)?;
        let (udp_port, tcp_port) = (udp.local_addr()?.port(), tcp.local_addr()?.port());
        let running = {
            let stop = std::sync::Arc::clone(&stop);
            move || !stop.load(Ordering::Relaxed) && Instant::now() < until
        };
        let udp_running = running.clone();
        let udp_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while udp_running() {
                if let Ok((n, from)) = udp.recv_from(&mut buf) {
                    let _ = udp.send_to(&buf[..n], from);
                }
            }
        });
        let tcp_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while running() {
                let mut conn = match tcp.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(Self::POLL);
                        continue;
                    }
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Self::POLL));
                while running() {
                    match conn.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(_) => break,
                    }
                }
            }
        });
        Ok(Self { udp_port, tcp_port, stop, threads: vec![udp_thread, tcp_thread] })
    }
}

impl Drop for HostEcho {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
