//! The host station on the guest's wire.
//!
//! [`Peer::bind`] opens the UDP socket one NIC's dgram netdev sends to
//! (127.0.0.1:B+o+1, see [`Nic`]) and connects it to QEMU's own
//! (127.0.0.1:B+o), so it only hears that NIC. Every frame received goes past
//! the ARP responder first: a request for the peer's address (192.0.2.1) is
//! answered with the peer's MAC on that wire and not handed on; ARP and IPv4
//! traffic from the guest's address on that NIC teaches the peer the guest's
//! MAC. [`Peer::resolve`] asks for the guest's
//! MAC explicitly, as a host would before its first IP packet.
//!
//! The socket sits behind the [`Link`] trait so the responder's logic is
//! unit-tested against a scripted fake.

use super::frame::{self, Arp, Body, Endpoints, Mac, ARP_REPLY, ARP_REQUEST};
use super::Nic;
use anyhow::{bail, Context, Result};
use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

/// The largest datagram a UDP socket can carry over IPv4.
pub const MAX_DATAGRAM: usize = 65_507;
/// How often [`Peer::resolve`] repeats its ARP request.
pub const ARP_RETRY: Duration = Duration::from_millis(250);
/// Frames [`Peer::drain`] takes per call at most.
const DRAIN_MAX: usize = 4096;

/// A datagram link carrying one frame per datagram.
pub trait Link: Send {
    /// Sends one frame.
    fn send(&mut self, frame: &[u8]) -> io::Result<()>;
    /// Waits up to `timeout` (zero: only what is already there) for one frame;
    /// `Ok(None)` when none came.
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>>;
    /// Where the frames go, for messages.
    fn describe(&self) -> String;
}

/// A UDP socket on 127.0.0.1 connected to QEMU's end of a dgram netdev.
pub struct UdpLink {
    socket: UdpSocket,
    local: u16,
    remote: u16,
    /// The socket's current mode, so mode switches cost a syscall only when
    /// they change something: `None` nonblocking, `Some(t)` blocking with timeout `t`.
    mode: Option<Option<Duration>>,
}

impl UdpLink {
    /// Binds 127.0.0.1:`local` and connects to 127.0.0.1:`remote`.
    pub fn bind(local: u16, remote: u16) -> Result<Self> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, local))
            .with_context(|| format!("binding the peer's UDP socket 127.0.0.1:{local}"))?;
        socket
            .connect((Ipv4Addr::LOCALHOST, remote))
            .with_context(|| format!("connecting the peer's socket to 127.0.0.1:{remote}"))?;
        Ok(Self { socket, local, remote, mode: None })
    }

    fn set_mode(&mut self, timeout: Duration) -> io::Result<()> {
        let want = if timeout.is_zero() { None } else { Some(timeout) };
        if self.mode != Some(want) {
            match want {
                None => self.socket.set_nonblocking(true)?,
                Some(t) => {
                    self.socket.set_nonblocking(false)?;
                    self.socket.set_read_timeout(Some(t))?;
                }
            }
            self.mode = Some(want);
        }
        Ok(())
    }
}

impl Link for UdpLink {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        // A nonblocking send may fail with WouldBlock when the socket buffer is
        // full; wait a little and retry rather than drop the frame.
        for _ in 0..1000 {
            match self.socket.send(frame) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_micros(50)),
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(ErrorKind::WouldBlock, "the send buffer stayed full for 50 ms"))
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        self.set_mode(timeout)?;
        match self.socket.recv(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn describe(&self) -> String {
        format!("127.0.0.1:{} -> 127.0.0.1:{}", self.local, self.remote)
    }
}

/// What the peer has done, for notes and for the counter accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Frames sent (all of them: test traffic, ARP replies and requests).
    pub sent: u64,
    /// Frames received.
    pub received: u64,
    /// ARP requests for the peer's address answered.
    pub arp_answered: u64,
    /// ARP requests the peer sent for the guest.
    pub arp_requests: u64,
    /// Received frames nobody wanted (while resolving or draining).
    pub discarded: u64,
    /// Times the guest's MAC changed after it was first learned.
    pub guest_mac_changes: u64,
}

/// The host station on one NIC's wire: that NIC's [`Nic::peer_ip`] and
/// [`Nic::peer_mac`], talking to its [`Nic::guest_ip`].
pub struct Peer {
    link: Box<dyn Link>,
    mac: Mac,
    ip: Ipv4Addr,
    guest_ip: Ipv4Addr,
    guest_mac: Option<Mac>,
    stats: PeerStats,
    buf: Vec<u8>,
}

impl Peer {
    /// The peer of `nic` on a machine whose ports start at `port_base`: binds
    /// [`Nic::peer_port`], talks to [`Nic::qemu_port`].
    pub fn bind(port_base: u16, nic: &Nic) -> Result<Self> {
        let (local, qemu) = (nic.peer_port(port_base)?, nic.qemu_port(port_base)?);
        Ok(Self::with_link(Box::new(UdpLink::bind(local, qemu)?), nic))
    }

    /// A peer over any link, with `nic`'s addresses.
    pub fn with_link(link: Box<dyn Link>, nic: &Nic) -> Self {
        Self {
            link,
            mac: nic.peer_mac,
            ip: nic.peer_ip,
            guest_ip: nic.guest_ip,
            guest_mac: None,
            stats: PeerStats::default(),
            buf: vec![0; MAX_DATAGRAM + 1],
        }
    }

    pub fn mac(&self) -> Mac {
        self.mac
    }

    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The guest's address this peer talks to.
    pub fn guest_ip(&self) -> Ipv4Addr {
        self.guest_ip
    }

    /// The guest's MAC, once learned.
    #[cfg(test)]
    pub fn guest_mac(&self) -> Option<Mac> {
        self.guest_mac
    }

    pub fn stats(&self) -> PeerStats {
        self.stats
    }

    /// The link, for messages.
    pub fn describe(&self) -> String {
        self.link.describe()
    }

    /// Addresses for IP traffic to the guest; fails until the guest is resolved.
    pub fn endpoints(&self) -> Result<Endpoints> {
        let Some(dst_mac) = self.guest_mac else {
            bail!("the guest's MAC is unknown: resolve it (ARP) before sending IP traffic");
        };
        Ok(Endpoints { src_mac: self.mac, dst_mac, src_ip: self.ip, dst_ip: self.guest_ip })
    }

    /// Sends one frame. Refuses an empty one (a zero-length datagram stops QEMU
    /// 7.2's dgram netdev for good) and one larger than a UDP datagram.
    pub fn send(&mut self, frame: &[u8]) -> Result<()> {
        if frame.is_empty() {
            bail!("refusing to send an empty frame: a zero-length datagram stops QEMU 7.2's dgram netdev");
        }
        if frame.len() > MAX_DATAGRAM {
            bail!("a {}-byte frame does not fit in one UDP datagram ({MAX_DATAGRAM} at most)", frame.len());
        }
        self.link.send(frame).with_context(|| send_error(&self.link.describe()))?;
        self.stats.sent += 1;
        Ok(())
    }

    /// The next frame within `timeout` that the ARP responder did not consume.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(n) = self.recv_raw(left)? else {
                return Ok(None);
            };
            if !self.observe(n)? {
                return Ok(Some(self.buf[..n].to_vec()));
            }
            if left.is_zero() {
                return Ok(None);
            }
        }
    }

    /// Answers whatever is queued (ARP), discarding other frames; returns how
    /// many frames it took. Never waits.
    pub fn drain(&mut self) -> Result<usize> {
        let mut taken = 0;
        while taken < DRAIN_MAX {
            let Some(n) = self.recv_raw(Duration::ZERO)? else {
                break;
            };
            taken += 1;
            if !self.observe(n)? {
                self.stats.discarded += 1;
            }
        }
        Ok(taken)
    }

    /// Asks for the guest's MAC (ARP request every [`ARP_RETRY`]) until it
    /// answers or `timeout` passes. Other frames meanwhile are discarded.
    pub fn resolve(&mut self, timeout: Duration) -> Result<Mac> {
        let started = Instant::now();
        let deadline = started + timeout;
        let request = Arp::request(self.mac, self.ip, self.guest_ip).frame();
        let mut next_request = started;
        loop {
            let now = Instant::now();
            if now >= next_request {
                self.send(&request)?;
                self.stats.arp_requests += 1;
                next_request = now + ARP_RETRY;
            }
            if now >= deadline {
                bail!(
                    "the guest ({}) did not answer {} ARP request(s) in {:.1} s ({} frame(s) received)",
                    self.guest_ip,
                    self.stats.arp_requests,
                    timeout.as_secs_f64(),
                    self.stats.received
                );
            }
            let wait = next_request.min(deadline).saturating_duration_since(now);
            let Some(n) = self.recv_raw(wait)? else {
                continue;
            };
            let reply = match frame::parse(&self.buf[..n]) {
                Ok(f) => match f.body {
                    Body::Arp(a) if a.op == ARP_REPLY && a.sender_ip == self.guest_ip => Some(a.sender_mac),
                    _ => None,
                },
                Err(_) => None,
            };
            if !self.observe(n)? && reply.is_none() {
                self.stats.discarded += 1;
            }
            if let Some(mac) = reply {
                return Ok(mac);
            }
        }
    }

    fn recv_raw(&mut self, timeout: Duration) -> Result<Option<usize>> {
        let got = self.link.recv(&mut self.buf, timeout).with_context(|| recv_error(&self.link.describe()))?;
        if got.is_some() {
            self.stats.received += 1;
        }
        Ok(got)
    }

    /// The ARP responder and MAC learning on the frame in `self.buf[..n]`.
    /// Returns whether the frame was consumed (an ARP request for the peer,
    /// answered).
    fn observe(&mut self, n: usize) -> Result<bool> {
        let seen = inspect(&self.buf[..n], self.guest_ip, self.ip);
        if let Some(mac) = seen.learn {
            self.learn(mac);
        }
        if let Some(request) = seen.answer {
            let reply = Arp::reply_to(&request, self.mac).frame();
            self.send(&reply)?;
            self.stats.arp_answered += 1;
            return Ok(true);
        }
        Ok(false)
    }

    fn learn(&mut self, mac: Mac) {
        if mac.is_multicast() || mac == Mac::ZERO {
            return;
        }
        match self.guest_mac {
            Some(known) if known != mac => {
                self.stats.guest_mac_changes += 1;
                self.guest_mac = Some(mac);
            }
            Some(_) => {}
            None => self.guest_mac = Some(mac),
        }
    }
}

/// What the responder makes of a frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inspection {
    /// The guest's MAC, if the frame comes from the guest's address.
    pub learn: Option<Mac>,
    /// An ARP request for the peer's address, to be answered.
    pub answer: Option<Arp>,
}

/// Looks at a received frame cheaply: only ARP is parsed in full; for IPv4
/// only the source address is read (this runs on every frame of a flood's
/// return path).
pub fn inspect(bytes: &[u8], guest_ip: Ipv4Addr, peer_ip: Ipv4Addr) -> Inspection {
    let mut seen = Inspection::default();
    if bytes.len() < frame::ETH_HEADER {
        return seen;
    }
    match u16::from_be_bytes([bytes[12], bytes[13]]) {
        frame::ETHERTYPE_ARP => {
            if let Ok(frame::Frame { body: Body::Arp(arp), .. }) = frame::parse(bytes) {
                if arp.sender_ip == guest_ip {
                    seen.learn = Some(arp.sender_mac);
                }
                if arp.op == ARP_REQUEST && arp.target_ip == peer_ip {
                    seen.answer = Some(arp);
                }
            }
        }
        frame::ETHERTYPE_IPV4 if bytes.len() >= frame::ETH_HEADER + frame::IPV4_HEADER => {
            let ip = &bytes[frame::ETH_HEADER..];
            if ip[0] >> 4 == 4 && Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]) == guest_ip {
                let mut src = [0u8; 6];
                src.copy_from_slice(&bytes[6..12]);
                seen.learn = Some(Mac(src));
            }
        }
        _ => {}
    }
    seen
}

fn send_error(link: &str) -> String {
    format!("sending a frame ({link}); connection refused means QEMU's netdev socket is gone")
}

fn recv_error(link: &str) -> String {
    format!("receiving a frame ({link}); connection refused means QEMU's netdev socket is gone")
}

#[cfg(test)]
pub mod fake {
    //! A scripted link: every sent frame goes to `sent` and through `script`,
    //! whose answers are queued for receiving.

    use super::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    pub type Script = Box<dyn FnMut(&[u8]) -> Vec<Vec<u8>> + Send>;

    #[derive(Clone, Default)]
    pub struct Shared {
        pub inbox: Arc<Mutex<VecDeque<Vec<u8>>>>,
        pub sent: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    pub struct FakeLink {
        pub shared: Shared,
        script: Script,
    }

    impl FakeLink {
        pub fn new(script: Script) -> (Self, Shared) {
            let shared = Shared::default();
            (Self { shared: shared.clone(), script }, shared)
        }
    }

    impl Link for FakeLink {
        fn send(&mut self, frame: &[u8]) -> io::Result<()> {
            self.shared.sent.lock().unwrap().push(frame.to_vec());
            let answers = (self.script)(frame);
            self.shared.inbox.lock().unwrap().extend(answers);
            Ok(())
        }

        /// Never waits: an empty inbox is a timeout.
        fn recv(&mut self, buf: &mut [u8], _timeout: Duration) -> io::Result<Option<usize>> {
            Ok(self.shared.inbox.lock().unwrap().pop_front().map(|f| {
                buf[..f.len()].copy_from_slice(&f);
                f.len()
            }))
        }

        fn describe(&self) -> String {
            "fake link".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{FakeLink, Shared};
    use super::*;
    use crate::net::frame::{ETHERTYPE_ARP, ICMP_ECHO_REQUEST};
    use crate::net::{E1000, VIRTIO};

    const GUEST_IP: Ipv4Addr = E1000.guest_ip;
    const GUEST_MAC: Mac = E1000.guest_mac;
    const PEER_IP: Ipv4Addr = E1000.peer_ip;
    const PEER_MAC: Mac = E1000.peer_mac;

    /// A guest that answers ARP requests for its address.
    fn arp_guest(frame: &[u8]) -> Vec<Vec<u8>> {
        match frame::parse(frame).map(|f| f.body) {
            Ok(Body::Arp(a)) if a.op == ARP_REQUEST && a.target_ip == GUEST_IP => {
                vec![Arp::reply_to(&a, GUEST_MAC).frame()]
            }
            _ => vec![],
        }
    }

    fn peer(script: fake::Script) -> (Peer, Shared) {
        let (link, shared) = FakeLink::new(script);
        (Peer::with_link(Box::new(link), &E1000), shared)
    }

    #[test]
    fn empty_and_huge_frames_are_refused() {
        let (mut p, shared) = peer(Box::new(|_| vec![]));
        let e = p.send(&[]).unwrap_err().to_string();
        assert!(e.contains("zero-length"), "{e}");
        assert!(p.send(&vec![0; MAX_DATAGRAM + 1]).is_err());
        assert!(shared.sent.lock().unwrap().is_empty());
        p.send(&[1]).unwrap();
        assert_eq!(p.stats().sent, 1);
    }

    #[test]
    fn resolve_sends_a_request_and_learns_the_reply() {
        let (mut p, shared) = peer(Box::new(arp_guest));
        assert!(p.endpoints().unwrap_err().to_string().contains("resolve"));
        assert_eq!(p.resolve(Duration::from_secs(1)).unwrap(), GUEST_MAC);
        assert_eq!(p.guest_mac(), Some(GUEST_MAC));
        let sent = shared.sent.lock().unwrap();
        let f = frame::parse(&sent[0]).unwrap();
        assert_eq!(f.dst, Mac::BROADCAST);
        assert_eq!(f.body, Body::Arp(Arp::request(PEER_MAC, PEER_IP, GUEST_IP)));
        let ep = p.endpoints().unwrap();
        assert_eq!((ep.src_mac, ep.dst_mac, ep.src_ip, ep.dst_ip), (PEER_MAC, GUEST_MAC, PEER_IP, GUEST_IP));
    }

    #[test]
    fn resolve_times_out_with_a_sentence() {
        let (mut p, _) = peer(Box::new(|_| vec![]));
        let e = p.resolve(Duration::from_millis(30)).unwrap_err().to_string();
        assert!(e.contains("did not answer") && e.contains("192.0.2.2"), "{e}");
    }

    #[test]
    fn guest_arp_requests_for_the_peer_are_answered_and_consumed() {
        let (mut p, shared) = peer(Box::new(|_| vec![]));
        let ask = Arp::request(GUEST_MAC, GUEST_IP, PEER_IP);
        let other = Arp::request(GUEST_MAC, GUEST_IP, Ipv4Addr::new(192, 0, 2, 99));
        let ping = Endpoints { src_mac: GUEST_MAC, dst_mac: PEER_MAC, src_ip: GUEST_IP, dst_ip: PEER_IP }
            .icmp_echo_frame(ICMP_ECHO_REQUEST, 1, 1, b"x");
        shared.inbox.lock().unwrap().extend([ask.frame(), other.frame(), ping.clone()]);
        // The request for the peer is consumed; the one for someone else is not.
        let first = p.recv(Duration::from_millis(10)).unwrap().unwrap();
        assert_eq!(frame::parse(&first).unwrap().body, Body::Arp(other));
        assert_eq!(p.recv(Duration::from_millis(10)).unwrap().unwrap(), ping);
        assert_eq!(p.recv(Duration::from_millis(10)).unwrap(), None);
        let sent = shared.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        let reply = frame::parse(&sent[0]).unwrap();
        assert_eq!(reply.dst, GUEST_MAC);
        assert_eq!(reply.body, Body::Arp(Arp::reply_to(&ask, PEER_MAC)));
        assert_eq!(&sent[0][12..14], &ETHERTYPE_ARP.to_be_bytes());
        assert_eq!(p.guest_mac(), Some(GUEST_MAC));
        assert_eq!(p.stats().arp_answered, 1);
        assert_eq!(p.stats().received, 3);
    }

    #[test]
    fn the_guest_mac_is_learned_from_ip_and_follows_changes() {
        let (mut p, shared) = peer(Box::new(|_| vec![]));
        let from = |mac: Mac| {
            Endpoints { src_mac: mac, dst_mac: PEER_MAC, src_ip: GUEST_IP, dst_ip: PEER_IP }.udp_frame(7, 1, b"x")
        };
        let stranger = Endpoints {
            src_mac: Mac([2, 9, 9, 9, 9, 9]),
            dst_mac: PEER_MAC,
            src_ip: Ipv4Addr::new(192, 0, 2, 77),
            dst_ip: PEER_IP,
        }
        .udp_frame(7, 1, b"x");
        let moved = Mac([0x52, 0x54, 0, 0x12, 0x34, 0x99]);
        shared.inbox.lock().unwrap().extend([stranger, from(GUEST_MAC), from(moved), vec![0xff; 3]]);
        for _ in 0..4 {
            assert!(p.recv(Duration::ZERO).unwrap().is_some());
        }
        assert_eq!(p.guest_mac(), Some(moved));
        assert_eq!(p.stats().guest_mac_changes, 1);
    }

    #[test]
    fn inspection_reads_only_what_it_needs() {
        let ask = Arp::request(GUEST_MAC, GUEST_IP, PEER_IP);
        assert_eq!(inspect(&ask.frame(), GUEST_IP, PEER_IP), Inspection { learn: Some(GUEST_MAC), answer: Some(ask) });
        let reply = Arp::reply_to(&Arp::request(PEER_MAC, PEER_IP, GUEST_IP), GUEST_MAC);
        assert_eq!(inspect(&reply.frame(), GUEST_IP, PEER_IP), Inspection { learn: Some(GUEST_MAC), answer: None });
        let udp = Endpoints { src_mac: GUEST_MAC, dst_mac: PEER_MAC, src_ip: GUEST_IP, dst_ip: PEER_IP }
            .udp_frame(7, 1, b"x");
        assert_eq!(inspect(&udp, GUEST_IP, PEER_IP).learn, Some(GUEST_MAC));
        assert_eq!(inspect(&udp, Ipv4Addr::new(192, 0, 2, 9), PEER_IP), Inspection::default());
        assert_eq!(inspect(&udp[..20], GUEST_IP, PEER_IP), Inspection::default());
        assert_eq!(inspect(&[1, 2, 3], GUEST_IP, PEER_IP), Inspection::default());
    }

    #[test]
    fn drain_answers_arp_and_discards_the_rest() {
        let (mut p, shared) = peer(Box::new(|_| vec![]));
        let ask = Arp::request(GUEST_MAC, GUEST_IP, PEER_IP).frame();
        shared.inbox.lock().unwrap().extend([ask.clone(), vec![1, 2, 3], ask]);
        assert_eq!(p.drain().unwrap(), 3);
        assert_eq!(p.stats().arp_answered, 2);
        assert_eq!(p.stats().discarded, 1);
        assert_eq!(shared.sent.lock().unwrap().len(), 2);
    }

    #[test]
    fn udp_link_talks_over_loopback() {
        for nic in crate::net::NICS {
            let block = crate::ports::PortBlock::reserve(4).unwrap();
            let base = block.base();
            drop(block);
            let (qemu_port, peer_port) = (base + nic.port_offset, base + nic.port_offset + 1);
            let qemu = UdpSocket::bind((Ipv4Addr::LOCALHOST, qemu_port)).unwrap();
            let mut p = Peer::bind(base, &nic).unwrap();
            p.send(b"frame").unwrap();
            let mut buf = [0u8; 16];
            let (n, from) = qemu.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from.port()), (&b"frame"[..], peer_port), "{}", nic.iface);
            assert_eq!(p.recv(Duration::from_millis(20)).unwrap(), None);
            qemu.send_to(b"reply", from).unwrap();
            assert_eq!(p.recv(Duration::from_secs(2)).unwrap().as_deref(), Some(&b"reply"[..]));
            assert_eq!(p.recv(Duration::ZERO).unwrap(), None);
            assert!(p.describe().contains(&format!("127.0.0.1:{peer_port} -> 127.0.0.1:{qemu_port}")));
        }
    }

    /// The station on eth1's wire asks for 192.0.2.3 with its own MAC, learns
    /// the virtio-net's MAC, and ignores frames from eth0's address.
    #[test]
    fn a_virtio_peer_uses_the_virtio_addresses() {
        let script = Box::new(|f: &[u8]| match frame::parse(f).map(|f| f.body) {
            Ok(Body::Arp(a)) if a.op == ARP_REQUEST && a.target_ip == VIRTIO.guest_ip => {
                vec![Arp::reply_to(&a, VIRTIO.guest_mac).frame()]
            }
            _ => vec![],
        });
        let (link, shared) = FakeLink::new(script);
        let mut p = Peer::with_link(Box::new(link), &VIRTIO);
        assert_eq!((p.mac(), p.ip(), p.guest_ip()), (VIRTIO.peer_mac, VIRTIO.peer_ip, VIRTIO.guest_ip));
        // An eth0 frame on this wire teaches nothing.
        let eth0 = Endpoints { src_mac: GUEST_MAC, dst_mac: PEER_MAC, src_ip: GUEST_IP, dst_ip: PEER_IP };
        shared.inbox.lock().unwrap().push_back(eth0.udp_frame(7, 1, b"x"));
        assert!(p.recv(Duration::ZERO).unwrap().is_some());
        assert_eq!(p.guest_mac(), None);
        assert_eq!(p.resolve(Duration::from_secs(1)).unwrap(), VIRTIO.guest_mac);
        let sent = shared.sent.lock().unwrap();
        let request = frame::parse(&sent[0]).unwrap();
        assert_eq!(request.body, Body::Arp(Arp::request(VIRTIO.peer_mac, VIRTIO.peer_ip, VIRTIO.guest_ip)));
        let ep = p.endpoints().unwrap();
        assert_eq!(
            (ep.src_mac, ep.dst_mac, ep.src_ip, ep.dst_ip),
            (VIRTIO.peer_mac, VIRTIO.guest_mac, VIRTIO.peer_ip, VIRTIO.guest_ip)
        );
        // The guest's ARP request for 192.0.2.1 on this wire gets this wire's MAC.
        drop(sent);
        let ask = Arp::request(VIRTIO.guest_mac, VIRTIO.guest_ip, VIRTIO.peer_ip);
        shared.inbox.lock().unwrap().push_back(ask.frame());
        assert_eq!(p.drain().unwrap(), 1);
        let sent = shared.sent.lock().unwrap();
        let reply = frame::parse(sent.last().unwrap()).unwrap();
        assert_eq!(reply.body, Body::Arp(Arp::reply_to(&ask, VIRTIO.peer_mac)));
    }
}
