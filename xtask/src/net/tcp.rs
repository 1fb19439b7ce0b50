//! A TCP client on the host, speaking through the [`Peer`]: smoltcp's TCP over
//! a `phy::Device` whose frames are the peer's datagrams.
//!
//! Writing a TCP from raw frames would test the test; smoltcp is a complete,
//! independent implementation (retransmission, windows, MSS), so a failure
//! here points at the guest. The interface uses the peer's addresses
//! (192.0.2.1 and the MAC of the peer's wire, see [`super::Nic`]), connects to
//! the peer's guest address and resolves it with its own ARP; the peer still
//! answers the guest's ARP requests before frames reach it. smoltcp drops
//! frames not addressed to its MAC, so a guest that addresses the other
//! wire's station is caught here.

use super::peer::Peer;
use anyhow::{anyhow, bail, Result};
use block::pattern::{fnv1a64, Fnv1a64};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The MTU of the guest's wire (Ethernet header included, as smoltcp counts it).
const ETHERNET_MTU: usize = 1514;
/// Socket buffer sizes: large enough to keep the guest's window full.
const BUFFER: usize = 256 << 10;
/// Longest wait for a frame between two polls of the stack.
const MAX_POLL_WAIT: Duration = Duration::from_millis(10);

/// Bounds of a TCP exchange.
#[derive(Clone, Copy, Debug)]
pub struct TcpOptions {
    /// The whole exchange, connection to close.
    pub deadline: Duration,
    /// Longest time without a byte sent or received.
    pub stall: Duration,
    /// Seeds smoltcp (initial sequence number, local port).
    pub seed: u64,
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self { deadline: Duration::from_secs(120), stall: Duration::from_secs(15), seed: 0x7c9 }
    }
}

/// What an echo exchange did.
#[derive(Clone, Debug, PartialEq)]
pub struct TcpReport {
    pub bytes: usize,
    /// From the SYN to the last echoed byte.
    pub elapsed: Duration,
    pub connect: Duration,
    pub fnv_sent: u64,
    pub fnv_received: u64,
    /// Whether the guest completed the close handshake in time (informational).
    pub closed_cleanly: bool,
    pub frames_out: u64,
    pub frames_in: u64,
}

/// The peer as a smoltcp device: frames received are queued by the caller.
struct PeerDevice<'p> {
    peer: &'p mut Peer,
    rx: VecDeque<Vec<u8>>,
    error: Option<anyhow::Error>,
    frames_out: u64,
}

struct RxToken(Vec<u8>);

struct TxToken<'a> {
    peer: &'a mut Peer,
    error: &'a mut Option<anyhow::Error>,
    frames_out: &'a mut u64,
}

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        match self.peer.send(&buf) {
            Ok(()) => *self.frames_out += 1,
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        r
    }
}

impl Device for PeerDevice<'_> {
    type RxToken<'a>
        = RxToken
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, _now: SmolInstant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let frame = self.rx.pop_front()?;
        let tx = TxToken { peer: self.peer, error: &mut self.error, frames_out: &mut self.frames_out };
        Some((RxToken(frame), tx))
    }

    fn transmit(&mut self, _now: SmolInstant) -> Option<Self::TxToken<'_>> {
        Some(TxToken { peer: self.peer, error: &mut self.error, frames_out: &mut self.frames_out })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = ETHERNET_MTU;
        caps
    }
}

/// Connects to the guest's TCP `port`, sends `data`, reads the same number of
/// bytes back, checks them byte for byte, and closes.
pub fn tcp_echo(peer: &mut Peer, port: u16, data: &[u8], opts: &TcpOptions) -> Result<TcpReport> {
    let started = Instant::now();
    let deadline = started + opts.deadline;
    let mut config = Config::new(EthernetAddress(peer.mac().0).into());
    config.random_seed = opts.seed;
    let (peer_ip, guest_ip) = (peer.ip(), peer.guest_ip());
    let mut dev = PeerDevice { peer, rx: VecDeque::new(), error: None, frames_out: 0 };
    let mut iface = Interface::new(config, &mut dev, SmolInstant::now());
    iface.update_ip_addrs(|addrs| {
        addrs.push(IpCidr::new(IpAddress::Ipv4(peer_ip), 24)).expect("one address fits");
    });
    let mut socket = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; BUFFER]), tcp::SocketBuffer::new(vec![0; BUFFER]));
    socket.set_ack_delay(None);
    socket.set_nagle_enabled(false);
    let mut sockets = SocketSet::new(Vec::new());
    let handle = sockets.add(socket);
    let local_port = 49152 + (opts.seed % 16000) as u16;
    sockets
        .get_mut::<tcp::Socket>(handle)
        .connect(iface.context(), (IpAddress::Ipv4(guest_ip), port), local_port)
        .map_err(|e| anyhow!("smoltcp refused to connect: {e}"))?;

    let mut sent = 0usize;
    let mut received = 0usize;
    let mut frames_in = 0u64;
    let mut connected: Option<Duration> = None;
    let mut last_progress = Instant::now();
    let mut closing: Option<Instant> = None;
    let mut echoed_at = None;
    let mut chunk = vec![0u8; 64 << 10];
    let mut fnv_received = Fnv1a64::new();
    let state = |s: tcp::State, sent: usize, received: usize| {
        format!("state {s}, {sent} of {} bytes sent, {received} echoed", data.len())
    };

    loop {
        let now = Instant::now();
        iface.poll(SmolInstant::now(), &mut dev, &mut sockets);
        if let Some(e) = dev.error.take() {
            return Err(e.context("sending a TCP segment"));
        }
        let s = sockets.get_mut::<tcp::Socket>(handle);
        if connected.is_none() && s.may_send() {
            connected = Some(started.elapsed());
        }
        if sent < data.len() && s.can_send() {
            let n = s.send_slice(&data[sent..]).map_err(|e| anyhow!("TCP send: {e}"))?;
            if n > 0 {
                sent += n;
                last_progress = now;
            }
        }
        while s.can_recv() {
            let n = s.recv_slice(&mut chunk).map_err(|e| anyhow!("TCP receive: {e}"))?;
            if n == 0 {
                break;
            }
            if received + n > sent {
                bail!("the guest echoed {} bytes but only {sent} were sent", received + n);
            }
            if chunk[..n] != data[received..received + n] {
                let at = chunk[..n].iter().zip(&data[received..]).position(|(a, b)| a != b).unwrap_or(0);
                bail!(
                    "TCP echo differs at byte {} of {}: sent 0x{:02x}, got 0x{:02x} ({})",
                    received + at,
                    data.len(),
                    data[received + at],
                    chunk[at],
                    state(s.state(), sent, received)
                );
            }
            fnv_received.update(&chunk[..n]);
            received += n;
            last_progress = now;
        }
        if received == data.len() && closing.is_none() {
            echoed_at = Some(started.elapsed());
            s.close();
            closing = Some(now);
        }
        if let Some(since) = closing {
            let done = matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait);
            if done || now.duration_since(since) > Duration::from_secs(3) {
                let elapsed = echoed_at.unwrap_or_else(|| started.elapsed());
                return Ok(TcpReport {
                    bytes: data.len(),
                    elapsed,
                    connect: connected.unwrap_or(elapsed),
                    fnv_sent: fnv1a64(data),
                    fnv_received: fnv_received.finish(),
                    closed_cleanly: done,
                    frames_out: dev.frames_out,
                    frames_in,
                });
            }
        } else if s.state() == tcp::State::Closed {
            bail!(
                "the connection to {guest_ip}:{port} closed before the echo completed (reset or refused; {})",
                state(s.state(), sent, received)
            );
        }
        if now >= deadline {
            bail!(
                "TCP echo did not finish in {:.0} s ({})",
                opts.deadline.as_secs_f64(),
                state(s.state(), sent, received)
            );
        }
        if now.duration_since(last_progress) > opts.stall {
            bail!(
                "TCP echo made no progress for {:.0} s ({}; connected: {})",
                opts.stall.as_secs_f64(),
                state(s.state(), sent, received),
                connected.map_or("no".to_string(), |d| format!("after {:.3} s", d.as_secs_f64()))
            );
        }

        let wait = iface
            .poll_delay(SmolInstant::now(), &sockets)
            .map_or(MAX_POLL_WAIT, |d| Duration::from_micros(d.total_micros()))
            .min(MAX_POLL_WAIT);
        if let Some(frame) = dev.peer.recv(wait)? {
            dev.rx.push_back(frame);
            frames_in += 1;
            while dev.rx.len() < 256 {
                let Some(more) = dev.peer.recv(Duration::ZERO)? else { break };
                dev.rx.push_back(more);
                frames_in += 1;
            }
        }
    }
}
