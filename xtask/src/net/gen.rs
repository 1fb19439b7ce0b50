//! The load generator: ping, UDP echo (one at a time for latency, a window for
//! throughput) and an open-loop UDP flood, all through a [`Peer`].
//!
//! Every payload is derived from a seed and the request's sequence number, so
//! a reply is checked byte for byte against what was sent, and a failure names
//! the request and the first differing byte. Each request of a window has its
//! own UDP source port; a reply is matched to its request by the port it comes
//! back to. Everything is bounded: a per-attempt timeout, a number of
//! attempts, and an overall deadline.
//!
//! The flood paces itself with a spin/sleep hybrid ([`Pacer`]): it sleeps while
//! the next send is far away and spins for the last stretch, because a sleep
//! overshoots by tens of microseconds. When it falls behind (the host cannot
//! keep up) it does not burst to catch up; it reports the rate it achieved.

use super::frame::{self, hex, Body, Prng, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, L4};
use super::peer::Peer;
use super::{DISCARD_PORT, ECHO_PORT};
use anyhow::{bail, Context, Result};
use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

/// The default first UDP source port of echo requests. One-at-a-time echoes
/// cycle through [`LATENCY_PORTS`] ports from it; windowed echoes use the
/// ports after those (slot `k`: `+ LATENCY_PORTS + k`), so a late reply of one
/// mode is never taken for a corrupt reply of the other.
pub const SRC_PORT_BASE: u16 = 40_000;
/// Ports cycled through by one-at-a-time echoes (a late reply is recognised
/// as stale unless it is this many requests late).
pub const LATENCY_PORTS: u16 = 1000;
/// The largest window (its ports must fit above the base).
pub const MAX_WINDOW: usize = 4096;
/// The UDP source port of flood datagrams.
pub const FLOOD_SRC_PORT: u16 = 39_999;
/// The ICMP identifier of pings.
pub const PING_IDENT: u16 = 0x10e0;
/// Bytes of data in a ping (as `ping`'s default).
pub const PING_DATA: usize = 56;

// ---- statistics ----

/// Microseconds, as a float.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The nearest-rank percentile `p` (0–100) of ascending `sorted` samples:
/// the smallest sample with at least `p`% of the samples at or below it.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

/// min/p50/p99/max/mean of a sample set.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    /// `None` for no samples.
    pub fn of(samples: &[f64]) -> Option<Self> {
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        Some(Self {
            n: v.len(),
            min: *v.first()?,
            p50: percentile(&v, 50.0)?,
            p99: percentile(&v, 99.0)?,
            max: *v.last()?,
            mean: v.iter().sum::<f64>() / v.len() as f64,
        })
    }

    /// Of round-trip times, in microseconds.
    pub fn of_durations(samples: &[Duration]) -> Option<Self> {
        Self::of(&samples.iter().map(|d| micros(*d)).collect::<Vec<_>>())
    }
}

// ---- payloads ----

/// The payload of request `seq`: `len` pseudo-random bytes from `seed` and `seq`.
pub fn payload(seed: u64, seq: u64, len: usize) -> Vec<u8> {
    Prng::new(seed ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15)).bytes(len)
}

/// How big each request's payload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    Fixed(usize),
    /// Uniform in `min..=max`, chosen per sequence number from `seed`.
    Uniform {
        min: usize,
        max: usize,
        seed: u64,
    },
}

impl Size {
    pub fn at(self, seq: u64) -> usize {
        match self {
            Self::Fixed(n) => n,
            Self::Uniform { min, max, seed } => Prng::new(seed.rotate_left(17) ^ seq).len(min, max),
        }
    }

    fn check(self) -> Result<()> {
        let (lo, hi) = match self {
            Self::Fixed(n) => (n, n),
            Self::Uniform { min, max, .. } => (min, max),
        };
        if lo == 0 || lo > hi || hi > frame::MAX_UDP_PAYLOAD {
            bail!("echo payload sizes must be within 1..={} bytes (got {self:?})", frame::MAX_UDP_PAYLOAD);
        }
        Ok(())
    }
}

/// Timeouts and seeds of the echo modes.
#[derive(Clone, Copy, Debug)]
pub struct EchoOptions {
    /// How long one request waits for its reply.
    pub attempt_timeout: Duration,
    /// Sends of the same request before giving up (latency mode and ping).
    pub attempts: u32,
    /// Bound on the whole run.
    pub deadline: Duration,
    /// Seed of the payloads.
    pub seed: u64,
    /// The guest's UDP echo port.
    pub port: u16,
    /// The first UDP source port (see [`SRC_PORT_BASE`]).
    pub src_port_base: u16,
}

impl Default for EchoOptions {
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(1),
            attempts: 3,
            deadline: Duration::from_secs(120),
            seed: 0xec40,
            port: ECHO_PORT,
            src_port_base: SRC_PORT_BASE,
        }
    }
}

/// What a UDP or ICMP exchange produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EchoReport {
    /// One round trip per request, from the send that was answered.
    pub rtts: Vec<Duration>,
    /// Requests sent again after a timeout.
    pub retransmits: u64,
    /// Replies to an earlier request (late or duplicated), ignored.
    pub stale: u64,
    /// Other frames from the guest, ignored.
    pub other: u64,
    pub elapsed: Duration,
    /// Payload bytes echoed.
    pub bytes: u64,
}

/// How a received frame relates to the request being waited for.
enum Match {
    Done,
    Stale,
    Ignore,
}

/// A UDP datagram from the guest's echo port, or `None` for anything else;
/// an unparseable frame from the guest is an error.
fn echo_reply(bytes: &[u8], guest: Ipv4Addr, echo_port: u16) -> Result<Option<(u16, &[u8])>> {
    let f = frame::parse(bytes)
        .map_err(|e| anyhow::anyhow!("the guest sent a malformed frame ({e}): {}", hex(bytes, 64)))?;
    Ok(match f.body {
        Body::Ipv4(ip) if ip.src == guest => match ip.l4 {
            L4::Udp { src_port, dst_port, payload } if src_port == echo_port => Some((dst_port, payload)),
            _ => None,
        },
        _ => None,
    })
}

/// Describes how `got` differs from `want`.
fn mismatch(what: &str, want: &[u8], got: &[u8]) -> String {
    let first = want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(want.len().min(got.len()));
    let from = first.saturating_sub(8);
    format!(
        "{what}: sent {} bytes, got {} back; first difference at byte {first}: sent [{}] got [{}]",
        want.len(),
        got.len(),
        hex(&want[from.min(want.len())..], 24),
        hex(&got[from.min(got.len())..], 24)
    )
}

/// Sends `request` up to `opts.attempts` times, each time waiting
/// `opts.attempt_timeout` for `judge` to say `Done`; returns the round trip.
fn exchange(
    peer: &mut Peer,
    request: &[u8],
    opts: &EchoOptions,
    deadline: Instant,
    report: &mut EchoReport,
    mut judge: impl FnMut(&[u8]) -> Result<Match>,
) -> Result<Option<Duration>> {
    for attempt in 0..opts.attempts {
        if attempt > 0 {
            report.retransmits += 1;
        }
        let sent = Instant::now();
        peer.send(request)?;
        let until = (sent + opts.attempt_timeout).min(deadline);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let Some(reply) = peer.recv(left)? else {
                break;
            };
            match judge(&reply)? {
                Match::Done => return Ok(Some(sent.elapsed())),
                Match::Stale => report.stale += 1,
                Match::Ignore => report.other += 1,
            }
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    Ok(None)
}

// ---- ping ----

/// `count` ICMP echo requests to the guest, one at a time; every reply's data
/// must equal the request's.
pub fn ping(peer: &mut Peer, count: u16, opts: &EchoOptions) -> Result<EchoReport> {
    let ep = peer.endpoints()?;
    let started = Instant::now();
    let deadline = started + opts.deadline;
    let mut report = EchoReport::default();
    for seq in 0..count {
        let data = payload(opts.seed, u64::from(seq), PING_DATA);
        let request = ep.icmp_echo_frame(ICMP_ECHO_REQUEST, PING_IDENT, seq, &data);
        let rtt = exchange(peer, &request, opts, deadline, &mut report, |bytes| {
            let f = frame::parse(bytes)
                .map_err(|e| anyhow::anyhow!("the guest sent a malformed frame ({e}): {}", hex(bytes, 64)))?;
            let Body::Ipv4(ip) = f.body else { return Ok(Match::Ignore) };
            match ip.l4 {
                L4::IcmpEcho { kind: ICMP_ECHO_REPLY, ident: PING_IDENT, seq: s, data: got } if ip.src == ep.dst_ip => {
                    if s != seq {
                        return Ok(Match::Stale);
                    }
                    if got != data {
                        bail!(mismatch(&format!("echo reply to ping seq {seq}"), &data, got));
                    }
                    Ok(Match::Done)
                }
                _ => Ok(Match::Ignore),
            }
        })?;
        let Some(rtt) = rtt else {
            bail!(
                "ping seq {seq} unanswered after {} attempt(s) of {:.1} s ({} of {count} answered)",
                opts.attempts,
                opts.attempt_timeout.as_secs_f64(),
                report.rtts.len()
            );
        };
        report.rtts.push(rtt);
        report.bytes += data.len() as u64;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

// ---- UDP echo, one at a time ----

/// `count` UDP echoes to the guest's port 7, one outstanding at a time;
/// every reply must equal its request byte for byte. A request unanswered
/// after `attempt_timeout` is sent again, `attempts` times at most.
pub fn udp_echo_latency(peer: &mut Peer, count: u64, size: Size, opts: &EchoOptions) -> Result<EchoReport> {
    size.check()?;
    let ep = peer.endpoints()?;
    let started = Instant::now();
    let deadline = started + opts.deadline;
    let mut report = EchoReport::default();
    for seq in 0..count {
        let len = size.at(seq);
        let data = payload(opts.seed, seq, len);
        let port = opts.src_port_base.wrapping_add((seq % u64::from(LATENCY_PORTS)) as u16);
        let request = ep.udp_frame(port, opts.port, &data);
        let rtt = exchange(peer, &request, opts, deadline, &mut report, |bytes| {
            let Some((dst_port, got)) = echo_reply(bytes, ep.dst_ip, opts.port)? else {
                return Ok(Match::Ignore);
            };
            if dst_port != port {
                return Ok(Match::Stale);
            }
            if got != data {
                bail!(mismatch(&format!("echo #{seq} (source port {port})"), &data, got));
            }
            Ok(Match::Done)
        })?;
        let Some(rtt) = rtt else {
            bail!(
                "UDP echo #{seq} ({len} bytes, source port {port}) unanswered after {} attempt(s) of {:.1} s \
                 ({} of {count} done in {:.1} s; {} retransmits)",
                opts.attempts,
                opts.attempt_timeout.as_secs_f64(),
                report.rtts.len(),
                started.elapsed().as_secs_f64(),
                report.retransmits
            );
        };
        report.rtts.push(rtt);
        report.bytes += len as u64;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

// ---- UDP echo, a window of requests ----

/// What a windowed echo run produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct ThroughputReport {
    pub window: usize,
    pub size: usize,
    pub sent: u64,
    /// Replies that matched their request.
    pub replies: u64,
    /// Requests given up after `attempt_timeout` (a new one took the slot).
    pub lost: u64,
    /// Late replies to requests already given up.
    pub stale: u64,
    pub elapsed_s: f64,
    pub replies_per_s: f64,
}

/// One request in flight.
struct Slot {
    seq: Option<u64>,
    /// The slot's previous request, whose late reply is stale, not corrupt.
    prev: Option<u64>,
    sent: Instant,
    data: Vec<u8>,
}

/// `count` UDP echoes with `window` requests outstanding: each reply
/// (checked byte for byte) frees its slot for the next request. A request
/// unanswered after `attempt_timeout` counts as lost and its slot moves on.
pub fn udp_echo_throughput(
    peer: &mut Peer,
    window: usize,
    count: u64,
    size: usize,
    opts: &EchoOptions,
) -> Result<ThroughputReport> {
    Size::Fixed(size).check()?;
    if window == 0 || window > MAX_WINDOW {
        bail!("window {window} out of range (1..={MAX_WINDOW})");
    }
    let first_port = opts.src_port_base.wrapping_add(LATENCY_PORTS);
    let ep = peer.endpoints()?;
    let started = Instant::now();
    let deadline = started + opts.deadline;
    let mut r = ThroughputReport { window, size, ..Default::default() };
    let mut next = 0u64;
    let mut slots: Vec<Slot> =
        (0..window).map(|_| Slot { seq: None, prev: None, sent: started, data: Vec::new() }).collect();

    // Puts the next request into slot `k` (or retires the slot).
    let mut launch = |peer: &mut Peer, slots: &mut [Slot], k: usize, r: &mut ThroughputReport| -> Result<()> {
        let slot = &mut slots[k];
        slot.prev = slot.seq.take().or(slot.prev);
        if next >= count {
            return Ok(());
        }
        slot.data = payload(opts.seed, next, size);
        slot.seq = Some(next);
        slot.sent = Instant::now();
        next += 1;
        peer.send(&ep.udp_frame(first_port.wrapping_add(k as u16), opts.port, &slot.data))?;
        r.sent += 1;
        Ok(())
    };
    for k in 0..window {
        launch(peer, &mut slots, k, &mut r)?;
    }

    while r.replies + r.lost < count {
        let now = Instant::now();
        if now >= deadline {
            bail!(
                "windowed UDP echo did not finish in {:.0} s: {} of {count} answered, {} lost",
                opts.deadline.as_secs_f64(),
                r.replies,
                r.lost
            );
        }
        // Give up on requests past their timeout.
        for k in 0..window {
            if slots[k].seq.is_some() && now.duration_since(slots[k].sent) >= opts.attempt_timeout {
                r.lost += 1;
                launch(peer, &mut slots, k, &mut r)?;
            }
        }
        let oldest = slots.iter().filter(|s| s.seq.is_some()).map(|s| s.sent).min();
        let wait = match oldest {
            Some(t) => (t + opts.attempt_timeout).saturating_duration_since(Instant::now()),
            None => Duration::ZERO,
        };
        let Some(bytes) = peer.recv(wait.min(deadline.saturating_duration_since(Instant::now())))? else {
            continue;
        };
        let Some((port, got)) = echo_reply(&bytes, ep.dst_ip, opts.port)? else {
            continue;
        };
        let k = usize::from(port.wrapping_sub(first_port));
        if k >= window {
            r.stale += 1;
            continue;
        }
        let slot = &slots[k];
        match slot.seq {
            Some(_) if got == slot.data.as_slice() => {
                r.replies += 1;
                launch(peer, &mut slots, k, &mut r)?;
            }
            _ if slot.prev.is_some_and(|p| got == payload(opts.seed, p, size).as_slice()) => r.stale += 1,
            Some(seq) => bail!(mismatch(&format!("windowed echo #{seq} (slot {k})"), &slot.data, got)),
            None => r.stale += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    r.elapsed_s = elapsed;
    r.replies_per_s = r.replies as f64 / elapsed.max(1e-9);
    Ok(r)
}

// ---- flood ----

/// What to do before the next send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// It is due (or overdue): send.
    Now,
    /// Less than [`Pacer::SPIN_BELOW`] to go: spin.
    Spin,
    /// Sleep this long, then ask again.
    Sleep(Duration),
}

/// Open-loop pacing: packet `i` is due `i / rate` after the start, plus any
/// lag forgiven when the sender fell more than [`Pacer::MAX_LAG`] behind.
#[derive(Clone, Debug)]
pub struct Pacer {
    /// Seconds between two packets; `None` sends as fast as possible.
    interval: Option<f64>,
    /// Added to every due time: lag that will not be caught up with a burst.
    forgiven: Duration,
}

impl Pacer {
    /// Closer than this to the due time the sender spins instead of sleeping
    /// (a sleep may overshoot by tens of microseconds).
    pub const SPIN_BELOW: Duration = Duration::from_micros(200);
    /// A sleep ends this much before the due time, to spin the rest.
    pub const SLEEP_MARGIN: Duration = Duration::from_micros(100);
    /// Further behind than this, the schedule moves instead of bursting:
    /// short stalls (a drain of returned frames, a preemption) are caught up
    /// so the average rate holds; a long one is not turned into a burst.
    pub const MAX_LAG: Duration = Duration::from_millis(20);

    /// `rate_pps`: packets per second; `None` (or not positive) means unpaced.
    pub fn new(rate_pps: Option<f64>) -> Self {
        Self { interval: rate_pps.filter(|r| *r > 0.0 && r.is_finite()).map(|r| 1.0 / r), forgiven: Duration::ZERO }
    }

    /// When packet `i` is due, from the start; `None` when unpaced.
    pub fn due(&self, i: u64) -> Option<Duration> {
        self.interval.map(|s| Duration::from_secs_f64(s * i as f64) + self.forgiven)
    }

    /// What to do for packet `i` at `now` (both from the start). Moves the
    /// schedule when the sender is more than [`Self::MAX_LAG`] late.
    pub fn plan(&mut self, i: u64, now: Duration) -> Wait {
        let Some(due) = self.due(i) else {
            return Wait::Now;
        };
        if now >= due {
            let late = now - due;
            if late > Self::MAX_LAG {
                self.forgiven += late;
            }
            return Wait::Now;
        }
        let ahead = due - now;
        if ahead < Self::SPIN_BELOW {
            Wait::Spin
        } else {
            Wait::Sleep(ahead - Self::SLEEP_MARGIN)
        }
    }
}

/// What a flood did.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct FloodReport {
    pub size: usize,
    /// The rate asked for (`None`: as fast as possible).
    pub target_pps: Option<f64>,
    pub sent: u64,
    pub elapsed_s: f64,
    pub achieved_pps: f64,
}

/// Sends `size`-byte UDP datagrams to the guest's discard port at `rate_pps`
/// (`None`: as fast as it can) for `duration`; answers the guest's ARP on the
/// way. Open loop: nothing waits for the guest.
pub fn udp_flood(peer: &mut Peer, rate_pps: Option<f64>, duration: Duration, size: usize) -> Result<FloodReport> {
    Size::Fixed(size).check()?;
    let frame = peer.endpoints()?.udp_frame(FLOOD_SRC_PORT, DISCARD_PORT, &payload(0xf100d, 0, size));
    let mut pacer = Pacer::new(rate_pps);
    let start = Instant::now();
    let mut sent = 0u64;
    loop {
        let now = start.elapsed();
        if now >= duration {
            break;
        }
        match pacer.plan(sent, now) {
            Wait::Now => {
                peer.send(&frame).with_context(|| format!("flood datagram #{sent}"))?;
                sent += 1;
                if sent.is_multiple_of(512) {
                    peer.drain()?;
                }
            }
            Wait::Spin => std::hint::spin_loop(),
            Wait::Sleep(d) => std::thread::sleep(d.min(duration.saturating_sub(now))),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    peer.drain()?;
    Ok(FloodReport {
        size,
        target_pps: pacer.interval.map(|s| 1.0 / s),
        sent,
        elapsed_s: elapsed,
        achieved_pps: sent as f64 / elapsed,
    })
}

/// How fast this host can send `size`-byte flood frames on loopback, measured
/// for `duration` against a socket of its own (nobody reads it; the kernel
/// drops what overflows, which costs the sender nothing extra).
pub fn max_send_rate(size: usize, duration: Duration) -> Result<f64> {
    let sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).context("binding the calibration sink")?;
    let sender = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).context("binding the calibration sender")?;
    sender.connect(sink.local_addr()?).context("connecting the calibration sender")?;
    // Any NIC's addresses: the frame only has to be the size of a real one.
    let nic = super::E1000;
    let ep =
        frame::Endpoints { src_mac: nic.peer_mac, dst_mac: nic.guest_mac, src_ip: nic.peer_ip, dst_ip: nic.guest_ip };
    let frame = ep.udp_frame(FLOOD_SRC_PORT, DISCARD_PORT, &payload(0xf100d, 0, size.max(1)));
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < duration {
        for _ in 0..64 {
            sender.send(&frame).context("calibration send")?;
        }
        sent += 64;
    }
    Ok(sent as f64 / start.elapsed().as_secs_f64())
}

/// `steps` offered rates from `from` to `to`, evenly spaced on a log scale.
pub fn rate_steps(from: f64, to: f64, steps: usize) -> Vec<f64> {
    match steps {
        0 => vec![],
        1 => vec![from],
        _ if to <= from => vec![from],
        _ => (0..steps).map(|i| from * (to / from).powf(i as f64 / (steps - 1) as f64)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&v, 0.5), Some(1.0));
        assert_eq!(percentile(&v, 99.5), Some(100.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&v, 101.0), None);
        // 1000 samples: p99 is the 990th.
        let w: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(percentile(&w, 99.0), Some(990.0));
        // Two samples: the median is the lower one (nearest rank, no interpolation).
        assert_eq!(percentile(&[1.0, 2.0], 50.0), Some(1.0));
    }

    #[test]
    fn summaries() {
        let s = Summary::of(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!((s.n, s.min, s.p50, s.p99, s.max, s.mean), (5, 1.0, 3.0, 5.0, 5.0, 3.0));
        assert_eq!(Summary::of(&[]), None);
        let d = Summary::of_durations(&[Duration::from_micros(10), Duration::from_micros(30)]).unwrap();
        assert_eq!((d.min, d.max, d.mean), (10.0, 30.0, 20.0));
    }

    #[test]
    fn payloads_and_sizes_are_deterministic() {
        assert_eq!(payload(1, 2, 100), payload(1, 2, 100));
        assert_ne!(payload(1, 2, 100), payload(1, 3, 100));
        assert_eq!(payload(1, 2, 0).len(), 0);
        // A shorter payload is a prefix of a longer one of the same request.
        assert_eq!(payload(9, 9, 10), payload(9, 9, 20)[..10]);
        let s = Size::Uniform { min: 1, max: 1400, seed: 3 };
        let sizes: Vec<usize> = (0..10_000).map(|i| s.at(i)).collect();
        assert!(sizes.iter().all(|n| (1..=1400).contains(n)));
        assert!(sizes.contains(&1) && sizes.contains(&1400), "both ends are reached");
        assert_eq!(sizes, (0..10_000).map(|i| s.at(i)).collect::<Vec<_>>());
        assert!(Size::Fixed(0).check().is_err());
        assert!(Size::Fixed(frame::MAX_UDP_PAYLOAD + 1).check().is_err());
        assert!(Size::Uniform { min: 5, max: 4, seed: 0 }.check().is_err());
        assert!(s.check().is_ok());
    }

    #[test]
    fn mismatch_names_the_first_difference() {
        let m = mismatch("echo #3", b"abcdef", b"abcXef");
        assert!(m.contains("first difference at byte 3"), "{m}");
        assert!(mismatch("x", b"abc", b"ab").contains("sent 3 bytes, got 2 back"));
    }

    #[test]
    fn pacing_math() {
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        // 1000 pps: packet i is due at i ms.
        let mut p = Pacer::new(Some(1000.0));
        assert_eq!(p.due(0), Some(Duration::ZERO));
        assert_eq!(p.due(5), Some(ms(5)));
        assert_eq!(p.plan(0, Duration::ZERO), Wait::Now);
        // 1 ms early: sleep until 100 µs before, then spin.
        assert_eq!(p.plan(1, Duration::ZERO), Wait::Sleep(us(900)));
        assert_eq!(p.plan(1, us(850)), Wait::Spin);
        assert_eq!(p.plan(1, ms(1)), Wait::Now);
        // Slightly late: send, keep the schedule (catch up).
        assert_eq!(p.plan(2, ms(3)), Wait::Now);
        assert_eq!(p.due(3), Some(ms(3)));
        // More than MAX_LAG late: send, and move the schedule instead of bursting.
        assert_eq!(p.plan(3, ms(30)), Wait::Now);
        assert_eq!(p.due(3), Some(ms(30)));
        assert_eq!(p.due(4), Some(ms(31)));
        assert_eq!(p.plan(4, ms(30)), Wait::Sleep(us(900)));
        // Unpaced: always now.
        let mut fast = Pacer::new(None);
        assert_eq!((fast.due(7), fast.plan(7, Duration::ZERO)), (None, Wait::Now));
        assert_eq!(Pacer::new(Some(0.0)).due(1), None);
        assert_eq!(Pacer::new(Some(f64::INFINITY)).due(1), None);
        // 250 kpps: 4 µs apart, always within the spin window.
        let mut quick = Pacer::new(Some(250_000.0));
        assert_eq!(quick.plan(1, Duration::ZERO), Wait::Spin);
    }

    #[test]
    fn rate_steps_are_geometric() {
        let s = rate_steps(10_000.0, 1_280_000.0, 8);
        assert_eq!(s.len(), 8);
        for (got, want) in s.iter().zip([10e3, 20e3, 40e3, 80e3, 160e3, 320e3, 640e3, 1280e3]) {
            assert!((got - want).abs() < 1e-6 * want, "{got} vs {want}");
        }
        assert_eq!(rate_steps(10.0, 5.0, 8), vec![10.0]);
        assert_eq!(rate_steps(10.0, 50.0, 1), vec![10.0]);
        assert!(rate_steps(10.0, 50.0, 0).is_empty());
    }

    mod scripted {
        //! The generator against a scripted guest that can drop, corrupt
        //! and duplicate replies.
        use super::super::*;
        use crate::net::frame::Mac;
        use crate::net::frame::{Arp, Endpoints, ARP_REQUEST};
        use crate::net::peer::fake::FakeLink;
        use crate::net::E1000;
        use std::net::Ipv4Addr;

        const GUEST_IP: Ipv4Addr = E1000.guest_ip;
        const GUEST_MAC: Mac = E1000.guest_mac;
        const PEER_IP: Ipv4Addr = E1000.peer_ip;
        const PEER_MAC: Mac = E1000.peer_mac;

        /// What to do with request `n`'s reply: how many copies (0 drops it),
        /// after editing its payload.
        type Policy = Box<dyn FnMut(u64, &mut Vec<u8>) -> usize + Send>;

        fn peer_with(mut policy: Policy) -> Peer {
            let back = Endpoints { src_mac: GUEST_MAC, dst_mac: PEER_MAC, src_ip: GUEST_IP, dst_ip: PEER_IP };
            let mut n = 0u64;
            let script = Box::new(move |bytes: &[u8]| -> Vec<Vec<u8>> {
                let Ok(f) = frame::parse(bytes) else { return vec![] };
                let reply = match f.body {
                    Body::Arp(a) if a.op == ARP_REQUEST && a.target_ip == GUEST_IP => {
                        return vec![Arp::reply_to(&a, GUEST_MAC).frame()]
                    }
                    Body::Ipv4(ip) => match ip.l4 {
                        L4::Udp { src_port, dst_port: ECHO_PORT, payload } => {
                            let mut p = payload.to_vec();
                            let copies = policy(n, &mut p);
                            (copies, back.udp_frame(ECHO_PORT, src_port, &p))
                        }
                        L4::IcmpEcho { kind: ICMP_ECHO_REQUEST, ident, seq, data } => {
                            let mut d = data.to_vec();
                            let copies = policy(n, &mut d);
                            (copies, back.icmp_echo_frame(ICMP_ECHO_REPLY, ident, seq, &d))
                        }
                        _ => return vec![],
                    },
                    _ => return vec![],
                };
                n += 1;
                vec![reply.1; reply.0]
            });
            let (link, _) = FakeLink::new(script);
            let mut peer = Peer::with_link(Box::new(link), &E1000);
            peer.resolve(Duration::from_secs(1)).unwrap();
            peer
        }

        fn fast() -> EchoOptions {
            EchoOptions { attempt_timeout: Duration::from_millis(20), ..Default::default() }
        }

        #[test]
        fn latency_mode_retransmits_a_lost_request() {
            let mut peer = peer_with(Box::new(|n, _| usize::from(n != 3)));
            let r = udp_echo_latency(&mut peer, 5, Size::Fixed(100), &fast()).unwrap();
            assert_eq!((r.rtts.len(), r.retransmits, r.bytes), (5, 1, 500));
        }

        #[test]
        fn latency_mode_catches_a_corrupt_byte() {
            let mut peer = peer_with(Box::new(|n, p| {
                if n == 2 {
                    p[2] ^= 0x40;
                }
                1
            }));
            let e = udp_echo_latency(&mut peer, 5, Size::Fixed(100), &fast()).unwrap_err().to_string();
            assert!(e.contains("echo #2") && e.contains("first difference at byte 2"), "{e}");
        }

        #[test]
        fn latency_mode_catches_a_short_reply() {
            let mut peer = peer_with(Box::new(|n, p| {
                if n == 1 {
                    p.pop();
                }
                1
            }));
            let e = udp_echo_latency(&mut peer, 3, Size::Fixed(10), &fast()).unwrap_err().to_string();
            assert!(e.contains("sent 10 bytes, got 9 back"), "{e}");
        }

        #[test]
        fn duplicates_are_stale_not_errors() {
            let mut peer = peer_with(Box::new(|_, _| 2));
            let r = udp_echo_latency(&mut peer, 20, Size::Uniform { min: 1, max: 1400, seed: 1 }, &fast()).unwrap();
            assert_eq!((r.rtts.len(), r.retransmits), (20, 0));
            assert!(r.stale >= 19, "{r:?}");
        }

        #[test]
        fn an_unanswered_echo_fails_after_its_attempts() {
            let mut peer = peer_with(Box::new(|n, _| usize::from(n < 2)));
            let e = udp_echo_latency(&mut peer, 5, Size::Fixed(8), &fast()).unwrap_err().to_string();
            assert!(e.contains("UDP echo #2") && e.contains("after 3 attempt(s)"), "{e}");
        }

        #[test]
        fn window_mode_counts_losses_and_catches_corruption() {
            let mut peer = peer_with(Box::new(|n, _| usize::from(n != 5)));
            let r = udp_echo_throughput(&mut peer, 4, 50, 64, &fast()).unwrap();
            assert_eq!((r.sent, r.replies, r.lost), (50, 49, 1));
            let mut peer = peer_with(Box::new(|n, p| {
                if n == 10 {
                    p[63] ^= 1;
                }
                1
            }));
            let e = udp_echo_throughput(&mut peer, 4, 50, 64, &fast()).unwrap_err().to_string();
            assert!(e.contains("windowed echo #10") && e.contains("byte 63"), "{e}");
            // Windowed ports sit above the one-at-a-time ones.
            assert!(udp_echo_throughput(&mut peer, MAX_WINDOW + 1, 1, 64, &fast()).is_err());
        }

        #[test]
        fn ping_checks_the_data() {
            let mut peer = peer_with(Box::new(|_, _| 1));
            assert_eq!(ping(&mut peer, 3, &fast()).unwrap().rtts.len(), 3);
            let mut peer = peer_with(Box::new(|n, d| {
                if n == 1 {
                    d[0] ^= 1;
                }
                1
            }));
            let e = ping(&mut peer, 3, &fast()).unwrap_err().to_string();
            assert!(e.contains("ping seq 1"), "{e}");
        }

        #[test]
        fn a_malformed_reply_is_an_error() {
            let (link, shared) = FakeLink::new(Box::new(|_| vec![]));
            let mut peer = Peer::with_link(Box::new(link), &E1000);
            let back = Endpoints { src_mac: GUEST_MAC, dst_mac: PEER_MAC, src_ip: GUEST_IP, dst_ip: PEER_IP };
            let mut bad = back.udp_frame(ECHO_PORT, SRC_PORT_BASE, b"x");
            bad[frame::ETH_HEADER + 10] ^= 1; // IPv4 header checksum
            shared
                .inbox
                .lock()
                .unwrap()
                .push_back(Arp::reply_to(&Arp::request(PEER_MAC, PEER_IP, GUEST_IP), GUEST_MAC).frame());
            peer.resolve(Duration::from_secs(1)).unwrap();
            shared.inbox.lock().unwrap().push_back(bad);
            let e = udp_echo_latency(&mut peer, 1, Size::Fixed(1), &fast()).unwrap_err().to_string();
            assert!(e.contains("malformed frame") && e.contains("IPv4 header"), "{e}");
        }
    }

    #[test]
    fn calibration_measures_something() {
        let rate = max_send_rate(64, Duration::from_millis(50)).unwrap();
        assert!(rate > 1000.0, "{rate}");
    }
}
