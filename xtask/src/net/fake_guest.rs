//! A stand-in for the kernel's network side, for unit tests: smoltcp on a
//! thread behind a UDP socket bound where one NIC's QEMU netdev would be
//! (127.0.0.1:B+o, sending to B+o+1; see [`Nic`]), with the kernel contract's
//! addresses of that NIC and its services: ARP, ICMP echo, UDP echo on 7, UDP
//! discard on 9 (counted), TCP echo on 7.
//!
//! It lets the peer, the generator and the TCP client be tested end to end
//! against an independent stack without QEMU.

use super::{Nic, DISCARD_PORT, ECHO_PORT};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};
use std::collections::VecDeque;
use std::net::{Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The fake guest stops by itself after this long.
const LIFETIME: Duration = Duration::from_secs(60);

/// Counters the fake guest keeps.
#[derive(Default)]
pub struct GuestCounters {
    pub rx_frames: AtomicU64,
    pub discard_datagrams: AtomicU64,
    pub discard_bytes: AtomicU64,
    pub echo_datagrams: AtomicU64,
}

/// A running fake guest; stops when dropped.
pub struct FakeGuest {
    pub port_base: u16,
    pub counters: Arc<GuestCounters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeGuest {
    /// Binds `nic`'s port in a free port block and starts as the guest's
    /// interface on `nic`; a [`super::peer::Peer::bind`] on `port_base` and
    /// `nic` talks to it.
    pub fn start(nic: &Nic) -> Self {
        let block = crate::ports::PortBlock::reserve(4).expect("free ports");
        let base = block.base();
        drop(block);
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, nic.qemu_port(base).unwrap())).expect("bind fake guest");
        socket.connect((Ipv4Addr::LOCALHOST, nic.peer_port(base).unwrap())).expect("connect fake guest");
        socket.set_read_timeout(Some(Duration::from_millis(2))).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(GuestCounters::default());
        let thread = {
            let (stop, counters) = (Arc::clone(&stop), Arc::clone(&counters));
            let nic = *nic;
            thread::spawn(move || run(socket, &nic, &stop, &counters))
        };
        Self { port_base: base, counters, stop, thread: Some(thread) }
    }
}

impl Drop for FakeGuest {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct SocketDevice {
    socket: UdpSocket,
    rx: VecDeque<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a UdpSocket);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        assert!(!buf.is_empty());
        let _ = self.0.send(&buf);
        r
    }
}

impl Device for SocketDevice {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: SmolInstant) -> Option<(Rx, Tx<'_>)> {
        let f = self.rx.pop_front()?;
        Some((Rx(f), Tx(&self.socket)))
    }

    fn transmit(&mut self, _: SmolInstant) -> Option<Tx<'_>> {
        Some(Tx(&self.socket))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

fn udp_socket(port: u16) -> udp::Socket<'static> {
    let meta = || vec![udp::PacketMetadata::EMPTY; 256];
    let mut s = udp::Socket::new(
        udp::PacketBuffer::new(meta(), vec![0; 512 << 10]),
        udp::PacketBuffer::new(meta(), vec![0; 512 << 10]),
    );
    s.bind(port).unwrap();
    s
}

fn run(socket: UdpSocket, nic: &Nic, stop: &AtomicBool, counters: &GuestCounters) {
    let mut dev = SocketDevice { socket, rx: VecDeque::new() };
    let config = Config::new(EthernetAddress(nic.guest_mac.0).into());
    let mut iface = Interface::new(config, &mut dev, SmolInstant::now());
    iface.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::Ipv4(nic.guest_ip), 24)).unwrap());
    let mut sockets = SocketSet::new(Vec::new());
    let echo = sockets.add(udp_socket(ECHO_PORT));
    let discard = sockets.add(udp_socket(DISCARD_PORT));
    let tcp_echo = sockets
        .add(tcp::Socket::new(tcp::SocketBuffer::new(vec![0; 256 << 10]), tcp::SocketBuffer::new(vec![0; 256 << 10])));
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 65536];
    let born = Instant::now();

    while !stop.load(Ordering::Relaxed) && born.elapsed() < LIFETIME {
        // Take what arrived (the socket's read timeout bounds the wait).
        if let Ok(n) = dev.socket.recv(&mut buf) {
            dev.rx.push_back(buf[..n].to_vec());
            counters.rx_frames.fetch_add(1, Ordering::Relaxed);
            let _ = dev.socket.set_nonblocking(true);
            while dev.rx.len() < 512 {
                match dev.socket.recv(&mut buf) {
                    Ok(n) => {
                        dev.rx.push_back(buf[..n].to_vec());
                        counters.rx_frames.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => break,
                }
            }
            let _ = dev.socket.set_nonblocking(false);
        }
        iface.poll(SmolInstant::now(), &mut dev, &mut sockets);

        let s = sockets.get_mut::<udp::Socket>(echo);
        while let Ok((data, meta)) = s.recv() {
            let (data, endpoint) = (data.to_vec(), meta.endpoint);
            counters.echo_datagrams.fetch_add(1, Ordering::Relaxed);
            let _ = s.send_slice(&data, endpoint);
        }
        let s = sockets.get_mut::<udp::Socket>(discard);
        while let Ok((data, _)) = s.recv() {
            counters.discard_datagrams.fetch_add(1, Ordering::Relaxed);
            counters.discard_bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        let s = sockets.get_mut::<tcp::Socket>(tcp_echo);
        if !s.is_open() {
            pending.clear();
            s.listen(ECHO_PORT).unwrap();
        }
        if pending.len() < (64 << 10) && s.can_recv() {
            let _ = s.recv(|b| {
                pending.extend_from_slice(b);
                (b.len(), ())
            });
        }
        if !pending.is_empty() && s.can_send() {
            if let Ok(n) = s.send_slice(&pending) {
                pending.drain(..n);
            }
        }
        if pending.is_empty() && !s.may_recv() && s.state() == tcp::State::CloseWait {
            s.close();
        }
        iface.poll(SmolInstant::now(), &mut dev, &mut sockets);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::frame::{self, Body, MalformedStream, L4, MALFORMED_MARKER};
    use crate::net::gen::{self, EchoOptions, Size};
    use crate::net::peer::Peer;
    use crate::net::tcp::{self, TcpOptions};
    use crate::net::{E1000, NICS, VIRTIO};

    /// The TCP echoes run one at a time: two smoltcp pairs pushing a
    /// megabyte each over loopback on a loaded 2-core host once stalled one
    /// of them past its 15 s no-progress limit.
    static TCP_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn pair() -> (FakeGuest, Peer) {
        pair_on(&E1000)
    }

    fn pair_on(nic: &Nic) -> (FakeGuest, Peer) {
        let guest = FakeGuest::start(nic);
        let mut peer = Peer::bind(guest.port_base, nic).unwrap();
        assert_eq!(peer.resolve(Duration::from_secs(5)).unwrap(), nic.guest_mac);
        (guest, peer)
    }

    /// The whole host side on eth1's ports and addresses (base+2/base+3,
    /// 192.0.2.3, the virtio-net's MAC, the second station MAC).
    #[test]
    fn everything_works_on_the_virtio_wire() {
        let _one_at_a_time = TCP_TESTS.lock();
        let (guest, mut peer) = pair_on(&VIRTIO);
        assert!(peer.describe().ends_with(&format!("-> 127.0.0.1:{}", guest.port_base + 2)), "{}", peer.describe());
        let opts = EchoOptions::default();
        assert_eq!(gen::ping(&mut peer, 3, &opts).unwrap().rtts.len(), 3);
        let r = gen::udp_echo_latency(&mut peer, 50, Size::Uniform { min: 1, max: 1400, seed: 5 }, &opts).unwrap();
        assert_eq!(r.rtts.len(), 50);
        let data = gen::payload(3, 3, 64 << 10);
        let t = tcp::tcp_echo(&mut peer, ECHO_PORT, &data, &TcpOptions::default()).unwrap();
        assert_eq!(t.fnv_sent, t.fnv_received);
        assert_eq!(guest.counters.echo_datagrams.load(Ordering::Relaxed), 50);
    }

    /// A station on one wire hears nothing from a guest on the other.
    #[test]
    fn the_wires_are_separate() {
        let guest = FakeGuest::start(&VIRTIO);
        let mut wrong = Peer::bind(guest.port_base, &E1000).unwrap();
        assert!(wrong.resolve(Duration::from_millis(300)).is_err());
        for nic in NICS {
            assert_ne!(nic.peer_port(guest.port_base).unwrap(), VIRTIO.qemu_port(guest.port_base).unwrap());
        }
    }

    #[test]
    fn ping_and_udp_echo_against_smoltcp() {
        let (_guest, mut peer) = pair();
        let opts = EchoOptions::default();
        let r = gen::ping(&mut peer, 10, &opts).unwrap();
        assert_eq!(r.rtts.len(), 10);
        let sizes = Size::Uniform { min: 1, max: 1400, seed: 5 };
        let r = gen::udp_echo_latency(&mut peer, 500, sizes, &opts).unwrap();
        assert_eq!(r.rtts.len(), 500);
        assert!(r.bytes > 500);
        let t = gen::udp_echo_throughput(&mut peer, 32, 3000, 64, &opts).unwrap();
        assert_eq!(t.replies + t.lost, 3000);
        assert!(t.replies > 2500, "{t:?}");
        assert!(t.replies_per_s > 0.0);
    }

    #[test]
    fn the_guest_asks_for_the_peer_and_gets_an_answer() {
        // smoltcp must resolve 192.0.2.1 before answering a ping from a MAC it
        // has not cached; a fresh peer that never sent ARP still gets replies
        // once the responder answers.
        let guest = FakeGuest::start(&E1000);
        let mut peer = Peer::bind(guest.port_base, &E1000).unwrap();
        peer.resolve(Duration::from_secs(5)).unwrap();
        let r = gen::ping(&mut peer, 3, &EchoOptions::default()).unwrap();
        assert_eq!(r.rtts.len(), 3);
    }

    #[test]
    fn flood_reaches_the_discard_port() {
        let (guest, mut peer) = pair();
        let r = gen::udp_flood(&mut peer, Some(10_000.0), Duration::from_millis(200), 64).unwrap();
        assert!(r.sent > 600 && r.sent <= 2001, "{r:?}");
        // Loose: a busy test machine may preempt the sender (the pacing math
        // itself is tested exactly in gen.rs).
        assert!((r.achieved_pps - 10_000.0).abs() < 4_000.0, "{r:?}");
        let deadline = Instant::now() + Duration::from_secs(3);
        let delivered = || guest.counters.discard_datagrams.load(Ordering::Relaxed);
        while delivered() < r.sent && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        // Loopback may drop under load, but most get there, each 64 bytes.
        assert!(delivered() * 2 >= r.sent && delivered() <= r.sent, "{} of {}", delivered(), r.sent);
        assert_eq!(guest.counters.discard_bytes.load(Ordering::Relaxed), delivered() * 64);
    }

    #[test]
    fn tcp_echo_one_mib_against_smoltcp() {
        let _one_at_a_time = TCP_TESTS.lock();
        let (_guest, mut peer) = pair();
        let data = gen::payload(1, 1, 1 << 20);
        let r = tcp::tcp_echo(&mut peer, ECHO_PORT, &data, &TcpOptions::default()).unwrap();
        assert_eq!(r.bytes, 1 << 20);
        assert_eq!(r.fnv_sent, r.fnv_received);
        assert!(r.frames_out > 700 && r.frames_in > 700, "{r:?}");
    }

    #[test]
    fn tcp_to_a_closed_port_fails_with_a_sentence() {
        let (_guest, mut peer) = pair();
        let opts = TcpOptions { deadline: Duration::from_secs(5), ..Default::default() };
        let e = tcp::tcp_echo(&mut peer, 1234, b"x", &opts).unwrap_err().to_string();
        assert!(e.contains("closed before the echo completed"), "{e}");
    }

    /// smoltcp, an independent stack, answers none of the malformed frames,
    /// and still echoes correctly afterwards.
    #[test]
    fn malformed_seed_0x5eed_frames_are_not_answered_by_smoltcp() {
        let (guest, mut peer) = pair();
        let ep = peer.endpoints().unwrap();
        let mut answered = Vec::new();
        for (i, (kind, f)) in MalformedStream::new(0x5eed, ep).take(2000).enumerate() {
            peer.send(&f).unwrap();
            if i % 50 == 0 {
                while let Some(reply) = peer.recv(Duration::from_millis(5)).unwrap() {
                    answered.push((kind, reply));
                }
            }
        }
        while let Some(reply) = peer.recv(Duration::from_millis(200)).unwrap() {
            answered.push((Malformed::RandomBytes, reply));
        }
        let echoed: Vec<_> = answered
            .iter()
            .filter(|(_, r)| match frame::parse(r).map(|f| f.body) {
                Ok(Body::Ipv4(ip)) => match ip.l4 {
                    L4::Udp { payload, .. } | L4::IcmpEcho { data: payload, .. } => {
                        payload.starts_with(MALFORMED_MARKER)
                    }
                    _ => false,
                },
                _ => false,
            })
            .collect();
        assert!(echoed.is_empty(), "smoltcp echoed {} malformed frame(s), e.g. {:?}", echoed.len(), echoed[0].0);
        assert!(guest.counters.rx_frames.load(Ordering::Relaxed) > 1000);
        let r = gen::udp_echo_latency(&mut peer, 100, Size::Fixed(100), &EchoOptions::default()).unwrap();
        assert_eq!(r.rtts.len(), 100);
    }

    use crate::net::frame::Malformed;
}
