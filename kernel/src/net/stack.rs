//! The TCP/IP stack: smoltcp on each interface, plus ioxide's services
//! (UDP echo and discard, TCP echo) as applications in their own thread.
//!
//! Where protocol work happens follows the receive mode: frames enter the
//! stack ([`Stack::ingest`]) from the hard IRQ handler (`irq` mode), from
//! the NET_RX softirq (`napi`) or from a polling thread (`poll`). The
//! *applications* — the services — always run in a kernel thread, woken
//! when data arrived. That split is what makes receive livelock visible:
//! with one interrupt per packet and all protocol work in the handler, the
//! CPU can spend all its time queueing datagrams the application thread
//! never gets to read; with NAPI the softirq budget and ksoftirqd leave the
//! thread its share.

use alloc::sync::Arc;
use alloc::vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::{icmp, tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address};

use super::device::NetDevice;
use crate::sync::{Completion, SpinLockIrq};

pub const ECHO_PORT: u16 = 7;
pub const DISCARD_PORT: u16 = 9;
const MAX_FRAME: usize = 1514;

fn now() -> Instant {
    Instant::from_micros((crate::time::uptime_ns() / 1000) as i64)
}

/// smoltcp's view of the device for one `poll`: at most one received frame
/// (the one being ingested) and transmit tokens straight to the driver.
struct Phy<'a> {
    dev: &'a NetDevice,
    rx: Option<&'a [u8]>,
}

struct Rx<'a>(&'a [u8]);
struct Tx<'a>(&'a NetDevice);

impl RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = [0u8; MAX_FRAME];
        let len = len.min(MAX_FRAME);
        let r = f(&mut frame[..len]);
        // Errors (ring full after a retry) are counted by the device layer;
        // TCP retransmits, UDP is best effort.
        let _ = self.0.transmit(&frame[..len]);
        r
    }
}

impl Device for Phy<'_> {
    type RxToken<'b>
        = Rx<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = Tx<'b>
    where
        Self: 'b;

    fn receive(&mut self, _: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        let frame = self.rx.take()?;
        Some((Rx(frame), Tx(self.dev)))
    }

    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx(self.dev))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        caps
    }
}

pub struct ServiceStats {
    pub frames_in: AtomicU64,
    /// Frames refused before the stack: truncated, bad IPv4 header or checksum.
    pub malformed: AtomicU64,
    /// Datagrams for a service whose socket buffer was full (the
    /// application fell behind): dropped by the stack, counted here.
    pub socket_full: AtomicU64,
    pub discard_datagrams: AtomicU64,
    pub discard_bytes: AtomicU64,
    pub echo_datagrams: AtomicU64,
    pub tcp_echo_bytes: AtomicU64,
    pub tcp_connections: AtomicU64,
}

struct Inner {
    iface: Interface,
    sockets: SocketSet<'static>,
    udp_echo: SocketHandle,
    udp_discard: SocketHandle,
    tcp_echo: SocketHandle,
    icmp: SocketHandle,
}

pub struct Stack {
    pub dev: Arc<NetDevice>,
    pub addr: Ipv4Address,
    inner: SpinLockIrq<Inner>,
    /// Signalled whenever frames went in: the service thread wakes.
    work: Arc<Completion>,
    /// Set by [`detach`]: the service thread returns.
    stopped: AtomicBool,
    pub stats: ServiceStats,
}

fn udp_socket(packets: usize, bytes: usize, port: u16) -> udp::Socket<'static> {
    let rx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; packets], vec![0; bytes]);
    let tx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; packets], vec![0; bytes]);
    let mut s = udp::Socket::new(rx, tx);
    let _ = s.bind(port);
    s
}

impl Stack {
    pub fn new(dev: Arc<NetDevice>, addr: Ipv4Address, prefix: u8) -> Arc<Stack> {
        let mac = dev.driver.mac();
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        config.random_seed = crate::arch::cpu::rdtsc();
        let mut phy = Phy { dev: &dev, rx: None };
        let mut iface = Interface::new(config, &mut phy, now());
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(addr), prefix));
        });
        let mut sockets = SocketSet::new(vec![]);
        let udp_echo = sockets.add(udp_socket(128, 128 * 1024, ECHO_PORT));
        let udp_discard = sockets.add(udp_socket(256, 256 * 1024, DISCARD_PORT));
        let mut tcp = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; 65536]), tcp::SocketBuffer::new(vec![0; 65536]));
        let _ = tcp.listen(ECHO_PORT);
        let tcp_echo = sockets.add(tcp);
        let icmp = sockets.add(icmp::Socket::new(
            icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 8], vec![0; 4096]),
            icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 8], vec![0; 4096]),
        ));
        let zero = || AtomicU64::new(0);
        Arc::new(Stack {
            dev: dev.clone(),
            addr,
            inner: SpinLockIrq::new(Inner { iface, sockets, udp_echo, udp_discard, tcp_echo, icmp }),
            work: Arc::new(Completion::new()),
            stopped: AtomicBool::new(false),
            stats: ServiceStats {
                frames_in: zero(),
                malformed: zero(),
                socket_full: zero(),
                discard_datagrams: zero(),
                discard_bytes: zero(),
                echo_datagrams: zero(),
                tcp_echo_bytes: zero(),
                tcp_connections: zero(),
            },
        })
    }

    /// Runs one received frame through the stack (any context). Frames
    /// whose Ethernet or IPv4 header is broken are counted and dropped here
    /// (smoltcp would drop them silently).
    pub fn ingest(&self, frame: &[u8]) {
        self.dev.stats.rx_packets.fetch_add(1, Ordering::Relaxed);
        self.dev.stats.rx_bytes.fetch_add(frame.len() as u64, Ordering::Relaxed);
        if !well_formed(frame) {
            self.stats.malformed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        {
            let mut inner = self.inner.lock();
            let Inner { iface, sockets, udp_echo, udp_discard, .. } = &mut *inner;
            // A datagram for one of our UDP services must land in its socket;
            // if the queue did not grow, the buffer was full.
            let service = match udp_dst_port(frame) {
                Some(ECHO_PORT) => Some(*udp_echo),
                Some(DISCARD_PORT) => Some(*udp_discard),
                _ => None,
            };
            let before = service.map(|h| sockets.get::<udp::Socket>(h).recv_queue());
            let mut phy = Phy { dev: &self.dev, rx: Some(frame) };
            iface.poll(now(), &mut phy, sockets);
            if let (Some(h), Some(before)) = (service, before) {
                if sockets.get::<udp::Socket>(h).recv_queue() <= before {
                    self.stats.socket_full.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.stats.frames_in.fetch_add(1, Ordering::Relaxed);
    }

    /// Rings the transmit doorbell and wakes the applications: after a batch.
    pub fn end_of_batch(&self) {
        self.dev.driver.flush_tx();
        self.work.complete();
    }

    /// The service thread's body: serve the sockets, egress, sleep.
    /// The service thread's body: until [`detach`].
    pub fn serve_forever(self: Arc<Self>) {
        while !self.stopped.load(Ordering::Acquire) {
            self.serve_once();
            self.work.wait_timeout(1);
            self.dev.driver.clean_tx();
        }
    }

    fn serve_once(&self) {
        let mut buf = [0u8; 2048];
        let mut inner = self.inner.lock();
        let Inner { iface, sockets, udp_echo, udp_discard, tcp_echo, .. } = &mut *inner;
        {
            let s = sockets.get_mut::<udp::Socket>(*udp_discard);
            while let Ok((n, _)) = s.recv_slice(&mut buf) {
                self.stats.discard_datagrams.fetch_add(1, Ordering::Relaxed);
                self.stats.discard_bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
        {
            let s = sockets.get_mut::<udp::Socket>(*udp_echo);
            while s.can_send() {
                let Ok((n, meta)) = s.recv_slice(&mut buf) else { break };
                if s.send_slice(&buf[..n], meta.endpoint).is_ok() {
                    self.stats.echo_datagrams.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        {
            let s = sockets.get_mut::<tcp::Socket>(*tcp_echo);
            if !s.is_open() {
                let _ = s.listen(ECHO_PORT);
            }
            if s.may_recv() && s.can_send() {
                let room = s.send_capacity() - s.send_queue();
                let want = room.min(buf.len());
                if let Ok(n) = s.recv_slice(&mut buf[..want]) {
                    if n > 0 {
                        let _ = s.send_slice(&buf[..n]);
                        self.stats.tcp_echo_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            } else if s.may_send() && !s.may_recv() {
                // The peer closed its side: close ours once everything went out.
                if s.send_queue() == 0 {
                    s.close();
                    self.stats.tcp_connections.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let mut phy = Phy { dev: &self.dev, rx: None };
        iface.poll(now(), &mut phy, sockets);
        drop(inner);
        self.dev.driver.flush_tx();
    }

    /// Sends ICMP echo requests to `target`; returns (answered, rtt_us of each).
    pub fn ping(&self, target: Ipv4Address, count: u16, timeout_ms: u64) -> (u16, alloc::vec::Vec<u64>) {
        let ident = 0x1d0e;
        {
            let mut inner = self.inner.lock();
            let h = inner.icmp;
            let s = inner.sockets.get_mut::<icmp::Socket>(h);
            if !s.is_open() {
                let _ = s.bind(icmp::Endpoint::Ident(ident));
            }
        }
        let mut rtts = alloc::vec::Vec::new();
        for seq in 0..count {
            let sent = crate::time::uptime_ns();
            {
                let mut inner = self.inner.lock();
                let Inner { iface, sockets, icmp: h, .. } = &mut *inner;
                let repr = smoltcp::wire::Icmpv4Repr::EchoRequest { ident, seq_no: seq, data: b"ioxide ping" };
                let s = sockets.get_mut::<icmp::Socket>(*h);
                if let Ok(buf) = s.send(repr.buffer_len(), IpAddress::Ipv4(target)) {
                    let mut packet = smoltcp::wire::Icmpv4Packet::new_unchecked(buf);
                    repr.emit(&mut packet, &smoltcp::phy::ChecksumCapabilities::default());
                }
                let mut phy = Phy { dev: &self.dev, rx: None };
                iface.poll(now(), &mut phy, sockets);
            }
            self.dev.driver.flush_tx();
            let deadline = sent + timeout_ms * 1_000_000;
            while crate::time::uptime_ns() < deadline {
                let got = {
                    let mut inner = self.inner.lock();
                    let h = inner.icmp;
                    let s = inner.sockets.get_mut::<icmp::Socket>(h);
                    let mut buf = [0u8; 256];
                    let mut got = false;
                    while let Ok((n, _)) = s.recv_slice(&mut buf) {
                        if let Ok(p) = smoltcp::wire::Icmpv4Packet::new_checked(&buf[..n]) {
                            got |= p.echo_ident() == ident && p.echo_seq_no() == seq;
                        }
                    }
                    got
                };
                if got {
                    rtts.push((crate::time::uptime_ns() - sent) / 1000);
                    break;
                }
                // ARP resolution and egress of the queued request.
                {
                    let mut inner = self.inner.lock();
                    let Inner { iface, sockets, .. } = &mut *inner;
                    let mut phy = Phy { dev: &self.dev, rx: None };
                    iface.poll(now(), &mut phy, sockets);
                }
                self.dev.driver.flush_tx();
                crate::sched::sleep_ticks(1);
            }
        }
        (rtts.len() as u16, rtts)
    }

    /// Socket lines for `netstat`.
    pub fn sockets_summary(&self) -> alloc::vec::Vec<alloc::string::String> {
        let inner = self.inner.lock();
        let mut out = alloc::vec::Vec::new();
        let tcp = inner.sockets.get::<tcp::Socket>(inner.tcp_echo);
        let remote =
            tcp.remote_endpoint().map_or(alloc::string::String::from("-"), |e: IpEndpoint| alloc::format!("{e}"));
        out.push(alloc::format!("tcp  {}:{}  state {}  remote {remote}", self.addr, ECHO_PORT, tcp.state()));
        out.push(alloc::format!("udp  {}:{}  echo", self.addr, ECHO_PORT));
        out.push(alloc::format!("udp  {}:{}  discard", self.addr, DISCARD_PORT));
        out
    }
}

/// The UDP destination port of a well-formed IPv4/UDP frame with a
/// non-empty payload (an empty one would not grow the socket's queue).
fn udp_dst_port(frame: &[u8]) -> Option<u16> {
    use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, UdpPacket};
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.next_header() != IpProtocol::Udp {
        return None;
    }
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    (!udp.payload().is_empty()).then(|| udp.dst_port())
}

/// Ethernet header present; for IPv4: a complete header with a valid
/// checksum and a total length that fits the frame (RFC 791).
fn well_formed(frame: &[u8]) -> bool {
    use smoltcp::wire::{EthernetFrame, EthernetProtocol, Ipv4Packet};
    let Ok(eth) = EthernetFrame::new_checked(frame) else { return false };
    match eth.ethertype() {
        EthernetProtocol::Ipv4 => Ipv4Packet::new_checked(eth.payload()).is_ok_and(|ip| ip.verify_checksum()),
        _ => true,
    }
}

static STACKS: crate::sync::SpinLock<alloc::vec::Vec<Arc<Stack>>> = crate::sync::SpinLock::new(alloc::vec::Vec::new());

/// Brings up the stack and service thread on `dev`.
pub fn attach(dev: Arc<NetDevice>, addr: Ipv4Address, prefix: u8) -> Arc<Stack> {
    let stack = Stack::new(dev.clone(), addr, prefix);
    STACKS.lock().push(stack.clone());
    let s = stack.clone();
    if let Err(e) = crate::sched::spawn_on(0, &alloc::format!("net/{}", dev.name), move || s.serve_forever()) {
        log::error!("{}: no service thread: {e}", dev.name);
    }
    stack
}

/// Takes the stack off its interface: it leaves the list and its service
/// thread ends (the NIC is being unbound).
pub fn detach(stack: &Arc<Stack>) {
    STACKS.lock().retain(|s| !Arc::ptr_eq(s, stack));
    stack.stopped.store(true, Ordering::Release);
    stack.work.complete();
}

pub fn for_device(name: &str) -> Option<Arc<Stack>> {
    STACKS.lock().iter().find(|s| s.dev.name == name).cloned()
}

pub fn all() -> alloc::vec::Vec<Arc<Stack>> {
    STACKS.lock().clone()
}
