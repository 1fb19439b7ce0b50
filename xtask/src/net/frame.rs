//! Ethernet II, ARP, IPv4, ICMP echo, UDP and TCP: building and parsing raw
//! frames, and generating malformed ones.
//!
//! Hand-written rather than borrowed from a wire library because the malformed
//! generators need to break exactly one thing at a time (an IHL, a length, a
//! checksum) while keeping everything else valid, e.g. a header checksum that
//! is *correct* over a header whose IHL is wrong, so the kernel has to check
//! the IHL and cannot get away with checking only the checksum. The unit tests
//! cross-check both directions against `smoltcp::wire`, an independent
//! implementation, and the checksum against published vectors.
//!
//! Every builder returns a complete Ethernet frame (no FCS: QEMU's dgram netdev
//! carries frames without it) and never pads to the 60-byte minimum; the NIC
//! model pads short frames on receive.

use std::fmt;
use std::net::Ipv4Addr;

/// Length of the Ethernet II header (no VLAN tag).
pub const ETH_HEADER: usize = 14;
/// Length of an IPv4 header without options.
pub const IPV4_HEADER: usize = 20;
/// Length of a UDP header.
pub const UDP_HEADER: usize = 8;
/// Length of an ICMP echo header.
pub const ICMP_HEADER: usize = 8;
/// Length of a TCP header without options.
pub const TCP_HEADER: usize = 20;
/// Length of an ARP packet for Ethernet/IPv4.
pub const ARP_LEN: usize = 28;
/// The largest standard frame without FCS: 1500 bytes of payload.
pub const MAX_FRAME: usize = ETH_HEADER + 1500;
/// The largest UDP payload in a standard frame.
pub const MAX_UDP_PAYLOAD: usize = 1500 - IPV4_HEADER - UDP_HEADER;
/// The largest frame the malformed generator makes (a jumbo frame).
pub const MAX_JUMBO: usize = 9000;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const ARP_REQUEST: u16 = 1;
pub const ARP_REPLY: u16 = 2;
pub const ICMP_ECHO_REPLY: u8 = 0;
pub const ICMP_ECHO_REQUEST: u8 = 8;

/// TCP flag bits (RFC 9293 §3.1) the generators use.
pub mod tcp_flags {
    pub const SYN: u8 = 0x02;
    #[cfg(test)]
    pub const PSH: u8 = 0x08;
    #[cfg(test)]
    pub const ACK: u8 = 0x10;
}

/// An Ethernet MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    pub const ZERO: Mac = Mac([0; 6]);

    /// Whether the group bit is set (broadcast and multicast).
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

// ---- checksums ----

/// The ones'-complement sum of `data` as big-endian 16-bit words (an odd last
/// byte is padded with zero), folded to 16 bits, *not* complemented; `initial`
/// continues an earlier sum (RFC 1071).
pub fn ones_complement_sum(initial: u32, data: &[u8]) -> u16 {
    let mut sum = u64::from(initial);
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The Internet checksum of `data` (RFC 1071): the complement of the
/// ones'-complement sum. Data that includes a correct checksum sums to 0.
pub fn internet_checksum(data: &[u8]) -> u16 {
    !ones_complement_sum(0, data)
}

/// The sum of the IPv4 pseudo-header of a TCP or UDP segment (RFC 768, RFC 9293 §3.1).
fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u32 {
    let mut ph = [0u8; 12];
    ph[0..4].copy_from_slice(&src.octets());
    ph[4..8].copy_from_slice(&dst.octets());
    ph[9] = proto;
    ph[10..12].copy_from_slice(&(len as u16).to_be_bytes());
    u32::from(ones_complement_sum(0, &ph))
}

/// The checksum of a TCP or UDP segment with its pseudo-header; UDP's zero
/// (meaning "no checksum") is sent as 0xffff.
pub fn transport_checksum(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, segment: &[u8]) -> u16 {
    let sum = !ones_complement_sum(pseudo_header_sum(src, dst, proto, segment.len()), segment);
    if proto == PROTO_UDP && sum == 0 {
        0xffff
    } else {
        sum
    }
}

// ---- builders ----

/// Who talks to whom: the four addresses every IP frame needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub src_mac: Mac,
    pub dst_mac: Mac,
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
}

impl Endpoints {
    /// An IPv4 packet carrying `payload`, in an Ethernet frame.
    pub fn ipv4_frame(&self, proto: u8, id: u16, payload: &[u8]) -> Vec<u8> {
        ethernet(self.dst_mac, self.src_mac, ETHERTYPE_IPV4, &ipv4(self.src_ip, self.dst_ip, proto, id, payload))
    }

    /// A UDP datagram in a frame.
    pub fn udp_frame(&self, src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
        let segment = udp(self.src_ip, self.dst_ip, src_port, dst_port, payload);
        self.ipv4_frame(PROTO_UDP, 0, &segment)
    }

    /// An ICMP echo request (or reply) in a frame.
    pub fn icmp_echo_frame(&self, kind: u8, ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
        self.ipv4_frame(PROTO_ICMP, seq, &icmp_echo(kind, ident, seq, data))
    }

    /// A TCP segment in a frame.
    pub fn tcp_frame(&self, header: &TcpHeader, payload: &[u8]) -> Vec<u8> {
        let segment = tcp(self.src_ip, self.dst_ip, header, payload);
        self.ipv4_frame(PROTO_TCP, 0, &segment)
    }
}

/// An Ethernet II frame.
pub fn ethernet(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(ETH_HEADER + payload.len());
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An ARP packet for Ethernet/IPv4 (RFC 826).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    pub sender_mac: Mac,
    pub sender_ip: Ipv4Addr,
    pub target_mac: Mac,
    pub target_ip: Ipv4Addr,
}

impl Arp {
    /// The 28 bytes of the packet.
    pub fn to_bytes(self) -> [u8; ARP_LEN] {
        let mut p = [0u8; ARP_LEN];
        p[0..2].copy_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
        p[2..4].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        p[4] = 6;
        p[5] = 4;
        p[6..8].copy_from_slice(&self.op.to_be_bytes());
        p[8..14].copy_from_slice(&self.sender_mac.0);
        p[14..18].copy_from_slice(&self.sender_ip.octets());
        p[18..24].copy_from_slice(&self.target_mac.0);
        p[24..28].copy_from_slice(&self.target_ip.octets());
        p
    }

    /// The packet in a frame: requests are broadcast, replies go to the target.
    pub fn frame(&self) -> Vec<u8> {
        let dst = if self.op == ARP_REQUEST { Mac::BROADCAST } else { self.target_mac };
        ethernet(dst, self.sender_mac, ETHERTYPE_ARP, &self.to_bytes())
    }

    /// "Who has `target_ip`? Tell `sender_ip`."
    pub fn request(sender_mac: Mac, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Self {
        Self { op: ARP_REQUEST, sender_mac, sender_ip, target_mac: Mac::ZERO, target_ip }
    }

    /// The answer to `request`: `mac` has the address it asked for.
    pub fn reply_to(request: &Arp, mac: Mac) -> Self {
        Self {
            op: ARP_REPLY,
            sender_mac: mac,
            sender_ip: request.target_ip,
            target_mac: request.sender_mac,
            target_ip: request.sender_ip,
        }
    }
}

/// An IPv4 packet (no options, DF set, TTL 64) with a correct header checksum.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, id: u16, payload: &[u8]) -> Vec<u8> {
    let total = IPV4_HEADER + payload.len();
    let mut p = Vec::with_capacity(total);
    p.push(0x45); // version 4, IHL 5
    p.push(0); // DSCP/ECN
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&0x4000u16.to_be_bytes()); // DF, offset 0
    p.push(64);
    p.push(proto);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = internet_checksum(&p[..IPV4_HEADER]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// A UDP datagram with its pseudo-header checksum.
pub fn udp(src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let len = UDP_HEADER + payload.len();
    let mut s = Vec::with_capacity(len);
    s.extend_from_slice(&src_port.to_be_bytes());
    s.extend_from_slice(&dst_port.to_be_bytes());
    s.extend_from_slice(&(len as u16).to_be_bytes());
    s.extend_from_slice(&[0, 0]);
    s.extend_from_slice(payload);
    let sum = transport_checksum(src, dst, PROTO_UDP, &s);
    s[6..8].copy_from_slice(&sum.to_be_bytes());
    s
}

/// An ICMP echo request or reply (RFC 792) with its checksum.
pub fn icmp_echo(kind: u8, ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(ICMP_HEADER + data.len());
    m.extend_from_slice(&[kind, 0, 0, 0]);
    m.extend_from_slice(&ident.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    let sum = internet_checksum(&m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    m
}

/// The fields of a TCP header this module sets (no options).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpHeader {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
}

/// A TCP segment with its pseudo-header checksum.
pub fn tcp(src: Ipv4Addr, dst: Ipv4Addr, h: &TcpHeader, payload: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(TCP_HEADER + payload.len());
    s.extend_from_slice(&h.src_port.to_be_bytes());
    s.extend_from_slice(&h.dst_port.to_be_bytes());
    s.extend_from_slice(&h.seq.to_be_bytes());
    s.extend_from_slice(&h.ack.to_be_bytes());
    s.push(((TCP_HEADER / 4) as u8) << 4);
    s.push(h.flags);
    s.extend_from_slice(&h.window.to_be_bytes());
    s.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    s.extend_from_slice(payload);
    let sum = transport_checksum(src, dst, PROTO_TCP, &s);
    s[16..18].copy_from_slice(&sum.to_be_bytes());
    s
}

// ---- parsing ----

/// Why a frame did not parse. Parsing is strict: it is used to check what the
/// kernel sends, so anything a correct stack would not emit is an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    Truncated { what: &'static str, need: usize, have: usize },
    BadArp(&'static str),
    BadIpVersion(u8),
    BadIhl(u8),
    BadTotalLength { total: usize, header: usize, available: usize },
    BadChecksum(&'static str),
    Fragment,
    BadUdpLength { length: usize, available: usize },
    BadTcpOffset(u8),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { what, need, have } => write!(f, "truncated {what}: need {need} bytes, have {have}"),
            Self::BadArp(why) => write!(f, "bad ARP packet: {why}"),
            Self::BadIpVersion(v) => write!(f, "IP version {v}, expected 4"),
            Self::BadIhl(ihl) => write!(f, "IPv4 IHL {ihl} (header of {} bytes)", usize::from(*ihl) * 4),
            Self::BadTotalLength { total, header, available } => {
                write!(f, "IPv4 total length {total} with a {header}-byte header and {available} bytes present")
            }
            Self::BadChecksum(what) => write!(f, "bad {what} checksum"),
            Self::Fragment => write!(f, "IPv4 fragment"),
            Self::BadUdpLength { length, available } => {
                write!(f, "UDP length {length} with {available} bytes of IP payload")
            }
            Self::BadTcpOffset(o) => write!(f, "TCP data offset {o}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// A parsed frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub dst: Mac,
    pub src: Mac,
    pub body: Body<'a>,
}

/// What an Ethernet frame carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    Arp(Arp),
    Ipv4(Ipv4<'a>),
    /// Another ethertype, not looked into.
    Other {
        ethertype: u16,
    },
}

/// An IPv4 packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv4<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub id: u16,
    pub l4: L4<'a>,
}

/// What an IPv4 packet carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum L4<'a> {
    IcmpEcho {
        kind: u8,
        ident: u16,
        seq: u16,
        data: &'a [u8],
    },
    /// Another ICMP message (e.g. port unreachable).
    Icmp {
        kind: u8,
        code: u8,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
        payload: &'a [u8],
    },
    Tcp {
        header: TcpHeader,
        payload: &'a [u8],
    },
    Other {
        proto: u8,
    },
}

fn need(what: &'static str, need: usize, have: usize) -> Result<(), ParseError> {
    if have < need {
        return Err(ParseError::Truncated { what, need, have });
    }
    Ok(())
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn mac_at(b: &[u8], at: usize) -> Mac {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[at..at + 6]);
    Mac(m)
}

fn ip_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

/// Parses a frame, verifying every length and checksum. Bytes after the IPv4
/// total length (Ethernet padding) are ignored.
pub fn parse(frame: &[u8]) -> Result<Frame<'_>, ParseError> {
    need("Ethernet header", ETH_HEADER, frame.len())?;
    let (dst, src) = (mac_at(frame, 0), mac_at(frame, 6));
    let ethertype = be16(frame, 12);
    let rest = &frame[ETH_HEADER..];
    let body = match ethertype {
        ETHERTYPE_ARP => Body::Arp(parse_arp(rest)?),
        ETHERTYPE_IPV4 => Body::Ipv4(parse_ipv4(rest)?),
        other => Body::Other { ethertype: other },
    };
    Ok(Frame { dst, src, body })
}

fn parse_arp(p: &[u8]) -> Result<Arp, ParseError> {
    need("ARP packet", ARP_LEN, p.len())?;
    if be16(p, 0) != 1 || be16(p, 2) != ETHERTYPE_IPV4 || p[4] != 6 || p[5] != 4 {
        return Err(ParseError::BadArp("not Ethernet/IPv4"));
    }
    Ok(Arp {
        op: be16(p, 6),
        sender_mac: mac_at(p, 8),
        sender_ip: ip_at(p, 14),
        target_mac: mac_at(p, 18),
        target_ip: ip_at(p, 24),
    })
}

fn parse_ipv4(p: &[u8]) -> Result<Ipv4<'_>, ParseError> {
    need("IPv4 header", IPV4_HEADER, p.len())?;
    if p[0] >> 4 != 4 {
        return Err(ParseError::BadIpVersion(p[0] >> 4));
    }
    let ihl = p[0] & 0xf;
    let header = usize::from(ihl) * 4;
    if header < IPV4_HEADER || header > p.len() {
        return Err(ParseError::BadIhl(ihl));
    }
    let total = usize::from(be16(p, 2));
    if total < header || total > p.len() {
        return Err(ParseError::BadTotalLength { total, header, available: p.len() });
    }
    if internet_checksum(&p[..header]) != 0 {
        return Err(ParseError::BadChecksum("IPv4 header"));
    }
    let frag = be16(p, 6);
    if frag & 0x2000 != 0 || frag & 0x1fff != 0 {
        return Err(ParseError::Fragment);
    }
    let (src, dst, proto) = (ip_at(p, 12), ip_at(p, 16), p[9]);
    let payload = &p[header..total];
    let l4 = match proto {
        PROTO_ICMP => parse_icmp(payload)?,
        PROTO_UDP => parse_udp(src, dst, payload)?,
        PROTO_TCP => parse_tcp(src, dst, payload)?,
        other => L4::Other { proto: other },
    };
    Ok(Ipv4 { src, dst, ttl: p[8], id: be16(p, 4), l4 })
}

fn parse_icmp(m: &[u8]) -> Result<L4<'_>, ParseError> {
    need("ICMP header", ICMP_HEADER, m.len())?;
    if internet_checksum(m) != 0 {
        return Err(ParseError::BadChecksum("ICMP"));
    }
    let (kind, code) = (m[0], m[1]);
    Ok(match kind {
        ICMP_ECHO_REQUEST | ICMP_ECHO_REPLY if code == 0 => {
            L4::IcmpEcho { kind, ident: be16(m, 4), seq: be16(m, 6), data: &m[ICMP_HEADER..] }
        }
        _ => L4::Icmp { kind, code },
    })
}

fn parse_udp(src: Ipv4Addr, dst: Ipv4Addr, s: &[u8]) -> Result<L4<'_>, ParseError> {
    need("UDP header", UDP_HEADER, s.len())?;
    let length = usize::from(be16(s, 4));
    if length < UDP_HEADER || length > s.len() {
        return Err(ParseError::BadUdpLength { length, available: s.len() });
    }
    let s = &s[..length];
    if be16(s, 6) != 0 && ones_complement_sum(pseudo_header_sum(src, dst, PROTO_UDP, length), s) != 0xffff {
        return Err(ParseError::BadChecksum("UDP"));
    }
    Ok(L4::Udp { src_port: be16(s, 0), dst_port: be16(s, 2), payload: &s[UDP_HEADER..] })
}

fn parse_tcp(src: Ipv4Addr, dst: Ipv4Addr, s: &[u8]) -> Result<L4<'_>, ParseError> {
    need("TCP header", TCP_HEADER, s.len())?;
    let offset = s[12] >> 4;
    let header = usize::from(offset) * 4;
    if header < TCP_HEADER || header > s.len() {
        return Err(ParseError::BadTcpOffset(offset));
    }
    if ones_complement_sum(pseudo_header_sum(src, dst, PROTO_TCP, s.len()), s) != 0xffff {
        return Err(ParseError::BadChecksum("TCP"));
    }
    let header_fields = TcpHeader {
        src_port: be16(s, 0),
        dst_port: be16(s, 2),
        seq: be32(s, 4),
        ack: be32(s, 8),
        flags: s[13],
        window: be16(s, 14),
    };
    Ok(L4::Tcp { header: header_fields, payload: &s[header..] })
}

// ---- deterministic randomness ----

/// SplitMix64: a tiny, fast, well-distributed PRNG. Every generated test input
/// derives from a seed printed with the test, so a failure reproduces exactly.
#[derive(Clone, Debug)]
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        lo + self.next_u64() % (span + 1)
    }

    /// A length in `lo..=hi`.
    pub fn len(&mut self, lo: usize, hi: usize) -> usize {
        self.range(lo as u64, hi as u64) as usize
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.fill(&mut v);
        v
    }
}

// ---- malformed frames ----

/// The kinds of broken frame the robustness tests send. Each breaks one thing;
/// everything else (lengths, checksums over what the header claims) is kept
/// valid where possible, so the receiver must check that one thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Malformed {
    /// 1–13 bytes: not even an Ethernet header.
    TruncatedEthernet,
    /// An Ethernet header for IPv4 followed by 0–19 bytes of IP header.
    TruncatedIpHeader,
    /// IHL 0–4 (a header shorter than 20 bytes); checksum over the 20 bytes.
    IhlTooSmall,
    /// IHL 6–15 reaching past the end of the packet; checksum correct over
    /// the bytes present.
    IhlPastEnd,
    /// Total length larger than the bytes present; header checksum correct.
    TotalLengthTooLong,
    /// Total length smaller than the header; header checksum correct.
    TotalLengthTooShort,
    /// IP version 6 in an IPv4 ethertype; header checksum correct.
    BadIpVersion,
    /// A UDP echo request whose IPv4 header checksum is wrong.
    BadIpChecksum,
    /// A UDP echo request whose UDP checksum is wrong.
    BadUdpChecksum,
    /// A UDP echo request whose UDP length exceeds the IP payload (checksum
    /// computed with that length).
    BadUdpLength,
    /// An ICMP echo request whose ICMP checksum is wrong.
    BadIcmpChecksum,
    /// A TCP SYN to the echo port whose TCP checksum is wrong.
    BadTcpChecksum,
    /// An ARP ethertype with 0–27 bytes of ARP packet.
    TruncatedArp,
    /// An ARP request for the guest with hardware length 7 / protocol length 5.
    BadArpLengths,
    /// 1515–9000 bytes: larger than any standard frame, IPv4 ethertype, random body.
    Oversized,
    /// A valid Ethernet header to the guest (or broadcast), a random ethertype
    /// among IPv4/ARP/other, and random bytes.
    RandomBody,
    /// 1–1514 random bytes, addresses included (mostly filtered by the NIC).
    RandomBytes,
}

impl Malformed {
    pub const ALL: [Malformed; 17] = [
        Self::TruncatedEthernet,
        Self::TruncatedIpHeader,
        Self::IhlTooSmall,
        Self::IhlPastEnd,
        Self::TotalLengthTooLong,
        Self::TotalLengthTooShort,
        Self::BadIpVersion,
        Self::BadIpChecksum,
        Self::BadUdpChecksum,
        Self::BadUdpLength,
        Self::BadIcmpChecksum,
        Self::BadTcpChecksum,
        Self::TruncatedArp,
        Self::BadArpLengths,
        Self::Oversized,
        Self::RandomBody,
        Self::RandomBytes,
    ];

    #[cfg(test)]
    /// Whether the frame carries [`MALFORMED_MARKER`] in a payload a lenient
    /// stack would echo back (so an echo of it proves the frame was accepted).
    pub fn carries_marker(self) -> bool {
        !matches!(
            self,
            Self::TruncatedEthernet
                | Self::TruncatedIpHeader
                | Self::IhlPastEnd
                | Self::BadTcpChecksum
                | Self::TruncatedArp
                | Self::BadArpLengths
                | Self::Oversized
                | Self::RandomBody
                | Self::RandomBytes
        )
    }
}

/// Starts the payload of every malformed UDP/ICMP echo request: an echo that
/// contains it answered a frame that should have been dropped.
pub const MALFORMED_MARKER: &[u8] = b"ioxide-malformed:";
/// The ICMP identifier of malformed echo requests.
pub const MALFORMED_ICMP_IDENT: u16 = 0xbad0;
/// The UDP/TCP source port of malformed segments.
pub const MALFORMED_SRC_PORT: u16 = 0xbad0;

/// A well-formed UDP echo request carrying the marker and `kind`'s index.
fn marked_payload(kind: Malformed, rng: &mut Prng) -> Vec<u8> {
    let index = Malformed::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    let mut p = MALFORMED_MARKER.to_vec();
    p.push(b'a' + index as u8);
    let extra = rng.len(0, 64);
    p.extend(rng.bytes(extra));
    p
}

/// Rewrites the IPv4 header checksum of `frame` over `len` header bytes (as
/// many as are present).
fn fix_ip_checksum(frame: &mut [u8], len: usize) {
    let end = (ETH_HEADER + len).min(frame.len());
    frame[ETH_HEADER + 10] = 0;
    frame[ETH_HEADER + 11] = 0;
    let sum = internet_checksum(&frame[ETH_HEADER..end]);
    frame[ETH_HEADER + 10..ETH_HEADER + 12].copy_from_slice(&sum.to_be_bytes());
}

/// One malformed frame of `kind` from `ep` (the host) to the guest. Never empty.
pub fn malformed(kind: Malformed, ep: &Endpoints, rng: &mut Prng) -> Vec<u8> {
    let udp_echo = |rng: &mut Prng| ep.udp_frame(MALFORMED_SRC_PORT, 7, &marked_payload(kind, rng));
    let ip_hdr = ETH_HEADER; // where the IPv4 header starts
    let frame = match kind {
        Malformed::TruncatedEthernet => {
            let n = rng.len(1, ETH_HEADER - 1);
            let mut f = ethernet(ep.dst_mac, ep.src_mac, ETHERTYPE_IPV4, &[]);
            f.truncate(n);
            f
        }
        Malformed::TruncatedIpHeader => {
            let mut f = udp_echo(rng);
            f.truncate(ETH_HEADER + rng.len(0, IPV4_HEADER - 1));
            f
        }
        Malformed::IhlTooSmall => {
            let mut f = udp_echo(rng);
            f[ip_hdr] = 0x40 | rng.range(0, 4) as u8;
            fix_ip_checksum(&mut f, IPV4_HEADER);
            f
        }
        Malformed::IhlPastEnd => {
            // Cut the packet to its 20-byte header plus 0-3 bytes: any IHL of
            // 6..=15 (24..=60 bytes) then reaches past its end.
            let mut f = udp_echo(rng);
            let keep = rng.len(0, 3);
            f.truncate(ETH_HEADER + IPV4_HEADER + keep);
            let total = (IPV4_HEADER + keep) as u16;
            f[ip_hdr + 2..ip_hdr + 4].copy_from_slice(&total.to_be_bytes());
            f[ip_hdr] = 0x40 | rng.range(6, 15) as u8;
            fix_ip_checksum(&mut f, IPV4_HEADER + keep);
            f
        }
        Malformed::TotalLengthTooLong => {
            let mut f = udp_echo(rng);
            let present = f.len() - ETH_HEADER;
            let total = rng.range(present as u64 + 1, 0xffff) as u16;
            f[ip_hdr + 2..ip_hdr + 4].copy_from_slice(&total.to_be_bytes());
            fix_ip_checksum(&mut f, IPV4_HEADER);
            f
        }
        Malformed::TotalLengthTooShort => {
            let mut f = udp_echo(rng);
            let total = rng.range(0, IPV4_HEADER as u64 - 1) as u16;
            f[ip_hdr + 2..ip_hdr + 4].copy_from_slice(&total.to_be_bytes());
            fix_ip_checksum(&mut f, IPV4_HEADER);
            f
        }
        Malformed::BadIpVersion => {
            let mut f = udp_echo(rng);
            f[ip_hdr] = 0x65;
            fix_ip_checksum(&mut f, IPV4_HEADER);
            f
        }
        Malformed::BadIpChecksum => {
            let mut f = udp_echo(rng);
            let flip = rng.range(1, 0xffff) as u16;
            let sum = be16(&f, ip_hdr + 10) ^ flip;
            f[ip_hdr + 10..ip_hdr + 12].copy_from_slice(&sum.to_be_bytes());
            f
        }
        Malformed::BadUdpChecksum => {
            let mut f = udp_echo(rng);
            let at = ETH_HEADER + IPV4_HEADER + 6;
            let mut sum = be16(&f, at) ^ rng.range(1, 0xffff) as u16;
            if sum == 0 {
                sum = 1; // 0 would mean "no checksum", which is valid
            }
            f[at..at + 2].copy_from_slice(&sum.to_be_bytes());
            f
        }
        Malformed::BadUdpLength => {
            let payload = marked_payload(kind, rng);
            let mut segment = udp(ep.src_ip, ep.dst_ip, MALFORMED_SRC_PORT, 7, &payload);
            let claimed = rng.range(segment.len() as u64 + 1, 0xffff) as u16;
            segment[4..6].copy_from_slice(&claimed.to_be_bytes());
            segment[6..8].copy_from_slice(&[0, 0]);
            let sum =
                !ones_complement_sum(pseudo_header_sum(ep.src_ip, ep.dst_ip, PROTO_UDP, claimed.into()), &segment);
            segment[6..8].copy_from_slice(&sum.to_be_bytes());
            ep.ipv4_frame(PROTO_UDP, 0, &segment)
        }
        Malformed::BadIcmpChecksum => {
            let data = marked_payload(kind, rng);
            let mut f = ep.icmp_echo_frame(ICMP_ECHO_REQUEST, MALFORMED_ICMP_IDENT, rng.next_u64() as u16, &data);
            let at = ETH_HEADER + IPV4_HEADER + 2;
            let sum = be16(&f, at) ^ rng.range(1, 0xffff) as u16;
            f[at..at + 2].copy_from_slice(&sum.to_be_bytes());
            f
        }
        Malformed::BadTcpChecksum => {
            let header = TcpHeader {
                src_port: MALFORMED_SRC_PORT,
                dst_port: 7,
                seq: rng.next_u64() as u32,
                ack: 0,
                flags: tcp_flags::SYN,
                window: 8192,
            };
            let mut f = ep.tcp_frame(&header, &[]);
            let at = ETH_HEADER + IPV4_HEADER + 16;
            let sum = be16(&f, at) ^ rng.range(1, 0xffff) as u16;
            f[at..at + 2].copy_from_slice(&sum.to_be_bytes());
            f
        }
        Malformed::TruncatedArp => {
            let arp = Arp::request(ep.src_mac, ep.src_ip, ep.dst_ip).to_bytes();
            let n = rng.len(0, ARP_LEN - 1);
            ethernet(Mac::BROADCAST, ep.src_mac, ETHERTYPE_ARP, &arp[..n])
        }
        Malformed::BadArpLengths => {
            let mut arp = Arp::request(ep.src_mac, ep.src_ip, ep.dst_ip).to_bytes();
            arp[4] = 7;
            arp[5] = 5;
            ethernet(Mac::BROADCAST, ep.src_mac, ETHERTYPE_ARP, &arp)
        }
        Malformed::Oversized => {
            let n = rng.len(MAX_FRAME + 1, MAX_JUMBO);
            let body = rng.bytes(n - ETH_HEADER);
            ethernet(ep.dst_mac, ep.src_mac, ETHERTYPE_IPV4, &body)
        }
        Malformed::RandomBody => {
            let dst = if rng.range(0, 1) == 0 { ep.dst_mac } else { Mac::BROADCAST };
            let ethertype = match rng.range(0, 2) {
                0 => ETHERTYPE_IPV4,
                1 => ETHERTYPE_ARP,
                _ => rng.next_u64() as u16,
            };
            let n = rng.len(0, MAX_FRAME - ETH_HEADER);
            ethernet(dst, ep.src_mac, ethertype, &rng.bytes(n))
        }
        Malformed::RandomBytes => {
            let n = rng.len(1, MAX_FRAME);
            rng.bytes(n)
        }
    };
    debug_assert!(!frame.is_empty());
    frame
}

/// An endless, deterministic stream of malformed frames cycling through every
/// kind (so any prefix of `n * ALL.len()` frames has `n` of each).
#[derive(Clone, Debug)]
pub struct MalformedStream {
    rng: Prng,
    ep: Endpoints,
    next: usize,
}

impl MalformedStream {
    pub fn new(seed: u64, ep: Endpoints) -> Self {
        Self { rng: Prng::new(seed), ep, next: 0 }
    }
}

impl Iterator for MalformedStream {
    type Item = (Malformed, Vec<u8>);

    fn next(&mut self) -> Option<Self::Item> {
        let kind = Malformed::ALL[self.next % Malformed::ALL.len()];
        self.next += 1;
        Some((kind, malformed(kind, &self.ep, &mut self.rng)))
    }
}

/// Renders up to `max` bytes as hex, for failure messages.
pub fn hex(bytes: &[u8], max: usize) -> String {
    let mut s: String = bytes.iter().take(max).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
    if bytes.len() > max {
        s.push_str(&format!(" … ({} bytes)", bytes.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire as sw;

    const HOST: Mac = Mac([0x02, 0, 0, 0, 0, 1]);
    const GUEST: Mac = Mac([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    const HOST_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const GUEST_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    const EP: Endpoints = Endpoints { src_mac: HOST, dst_mac: GUEST, src_ip: HOST_IP, dst_ip: GUEST_IP };

    fn hexbytes(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn checksum_known_vectors() {
        // RFC 1071 §3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2 (before complement).
        assert_eq!(ones_complement_sum(0, &hexbytes("0001 f203 f4f5 f6f7")), 0xddf2);
        assert_eq!(internet_checksum(&hexbytes("0001 f203 f4f5 f6f7")), !0xddf2);
        // A captured IPv4 header (Wikipedia "IPv4 header checksum"): b861.
        let mut h = hexbytes("4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7");
        assert_eq!(internet_checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&[0xb8, 0x61]);
        assert_eq!(internet_checksum(&h), 0);
        // Odd lengths pad with a zero byte.
        assert_eq!(ones_complement_sum(0, &[0x12]), 0x1200);
        assert_eq!(ones_complement_sum(0, &[]), 0);
        // Carries fold back in.
        assert_eq!(ones_complement_sum(0, &[0xff, 0xff, 0x00, 0x01]), 0x0001);
    }

    #[test]
    fn udp_checksum_known_vector() {
        // 10.0.0.1:12345 -> 10.0.0.2:53, payload "hi". By hand: pseudo-header
        // 0a00+0001+0a00+0002+0011+000a = 141e, header 3039+0035+000a = 3078,
        // data 6869: 141e+3078+6869 = acff, complement 5300.
        let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let seg = udp(src, dst, 12345, 53, b"hi");
        assert_eq!(seg, [0x30, 0x39, 0x00, 0x35, 0x00, 0x0a, 0x53, 0x00, b'h', b'i']);
        // A datagram whose checksum comes out as 0 is sent as 0xffff (0 means
        // "no checksum"): put the complement of the sum into the payload.
        let zero = udp(src, dst, 1, 2, &[0, 0]);
        let seg = udp(src, dst, 1, 2, &zero[6..8]);
        assert_eq!(&seg[6..8], &[0xff, 0xff]);
        assert!(parse_udp(src, dst, &seg).is_ok());
    }

    #[test]
    fn ethernet_and_arp_round_trip() {
        let req = Arp::request(HOST, HOST_IP, GUEST_IP);
        let f = req.frame();
        assert_eq!(f.len(), ETH_HEADER + ARP_LEN);
        let parsed = parse(&f).unwrap();
        assert_eq!((parsed.dst, parsed.src), (Mac::BROADCAST, HOST));
        assert_eq!(parsed.body, Body::Arp(req));
        let reply = Arp::reply_to(&req, GUEST);
        assert_eq!(
            (reply.op, reply.sender_ip, reply.target_ip, reply.target_mac),
            (ARP_REPLY, GUEST_IP, HOST_IP, HOST)
        );
        let f = reply.frame();
        assert_eq!(parse(&f).unwrap().dst, HOST);
        // smoltcp agrees.
        let eth = sw::EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(eth.ethertype(), sw::EthernetProtocol::Arp);
        let arp = sw::ArpRepr::parse(&sw::ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
        match arp {
            sw::ArpRepr::EthernetIpv4 { operation, source_hardware_addr, source_protocol_addr, .. } => {
                assert_eq!(operation, sw::ArpOperation::Reply);
                assert_eq!(source_hardware_addr.0, GUEST.0);
                assert_eq!(source_protocol_addr, GUEST_IP);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(Mac([0x52, 0x54, 0, 0x12, 0x34, 0x56]).to_string(), "52:54:00:12:34:56");
        assert!(Mac::BROADCAST.is_multicast() && !GUEST.is_multicast());
    }

    /// Our UDP/ICMP/TCP frames pass smoltcp's strict parser with checksums verified.
    #[test]
    fn built_frames_pass_smoltcp() {
        let caps = ChecksumCapabilities::default();
        for len in [0usize, 1, 2, 3, 63, 64, 1400, MAX_UDP_PAYLOAD] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let f = EP.udp_frame(40000, 7, &payload);
            let eth = sw::EthernetFrame::new_checked(&f[..]).unwrap();
            let ip = sw::Ipv4Packet::new_checked(eth.payload()).unwrap();
            let ip_repr = sw::Ipv4Repr::parse(&ip, &caps).unwrap();
            assert_eq!((ip_repr.src_addr, ip_repr.dst_addr), (HOST_IP, GUEST_IP));
            let udp = sw::UdpPacket::new_checked(ip.payload()).unwrap();
            let repr = sw::UdpRepr::parse(&udp, &HOST_IP.into(), &GUEST_IP.into(), &caps).unwrap();
            assert_eq!((repr.src_port, repr.dst_port), (40000, 7));
            assert_eq!(udp.payload(), &payload[..]);
        }
        let f = EP.icmp_echo_frame(ICMP_ECHO_REQUEST, 0x1234, 7, b"ping data");
        let eth = sw::EthernetFrame::new_checked(&f[..]).unwrap();
        let ip = sw::Ipv4Packet::new_checked(eth.payload()).unwrap();
        let icmp = sw::Icmpv4Packet::new_checked(ip.payload()).unwrap();
        match sw::Icmpv4Repr::parse(&icmp, &caps).unwrap() {
            sw::Icmpv4Repr::EchoRequest { ident, seq_no, data } => {
                assert_eq!((ident, seq_no, data), (0x1234, 7, &b"ping data"[..]))
            }
            other => panic!("{other:?}"),
        }
        let h = TcpHeader { src_port: 50000, dst_port: 7, seq: 1000, ack: 0, flags: tcp_flags::SYN, window: 4096 };
        let f = EP.tcp_frame(&h, &[]);
        let eth = sw::EthernetFrame::new_checked(&f[..]).unwrap();
        let ip = sw::Ipv4Packet::new_checked(eth.payload()).unwrap();
        let tcp = sw::TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(tcp.verify_checksum(&HOST_IP.into(), &GUEST_IP.into()));
        assert!(tcp.syn() && !tcp.ack());
        assert_eq!((tcp.src_port(), tcp.seq_number(), tcp.window_len()), (50000, sw::TcpSeqNumber(1000), 4096));
    }

    /// smoltcp's frames parse here, field for field.
    #[test]
    fn smoltcp_frames_parse_here() {
        let caps = ChecksumCapabilities::default();
        let payload = b"hello from smoltcp";
        let udp_repr = sw::UdpRepr { src_port: 7, dst_port: 40001 };
        let ip_repr = sw::Ipv4Repr {
            src_addr: GUEST_IP,
            dst_addr: HOST_IP,
            next_header: sw::IpProtocol::Udp,
            payload_len: udp_repr.header_len() + payload.len(),
            hop_limit: 64,
        };
        let mut buf = vec![0u8; ETH_HEADER + ip_repr.buffer_len() + ip_repr.payload_len];
        let mut eth = sw::EthernetFrame::new_unchecked(&mut buf[..]);
        eth.set_dst_addr(sw::EthernetAddress(HOST.0));
        eth.set_src_addr(sw::EthernetAddress(GUEST.0));
        eth.set_ethertype(sw::EthernetProtocol::Ipv4);
        let mut ip = sw::Ipv4Packet::new_unchecked(eth.payload_mut());
        ip_repr.emit(&mut ip, &caps);
        let mut udp = sw::UdpPacket::new_unchecked(ip.payload_mut());
        udp_repr.emit(
            &mut udp,
            &GUEST_IP.into(),
            &HOST_IP.into(),
            payload.len(),
            |b| b.copy_from_slice(payload),
            &caps,
        );
        let parsed = parse(&buf).unwrap();
        assert_eq!((parsed.src, parsed.dst), (GUEST, HOST));
        let Body::Ipv4(ip) = parsed.body else { panic!() };
        assert_eq!((ip.src, ip.dst, ip.ttl), (GUEST_IP, HOST_IP, 64));
        assert_eq!(ip.l4, L4::Udp { src_port: 7, dst_port: 40001, payload: &payload[..] });
        // Ethernet padding after the IP packet is ignored.
        let mut padded = buf.clone();
        padded.resize(60.max(buf.len() + 5), 0);
        assert_eq!(parse(&padded).unwrap(), parse(&buf).unwrap());
    }

    #[test]
    fn parse_round_trips_and_tcp() {
        let f = EP.icmp_echo_frame(ICMP_ECHO_REPLY, 9, 10, b"abc");
        let Body::Ipv4(ip) = parse(&f).unwrap().body else { panic!() };
        assert_eq!(ip.l4, L4::IcmpEcho { kind: ICMP_ECHO_REPLY, ident: 9, seq: 10, data: b"abc" });
        let h =
            TcpHeader { src_port: 1, dst_port: 2, seq: 3, ack: 4, flags: tcp_flags::ACK | tcp_flags::PSH, window: 5 };
        let f = EP.tcp_frame(&h, b"data");
        let Body::Ipv4(ip) = parse(&f).unwrap().body else { panic!() };
        assert_eq!(ip.l4, L4::Tcp { header: h, payload: b"data" });
        assert_eq!(parse(&ethernet(GUEST, HOST, 0x86dd, b"v6")).unwrap().body, Body::Other { ethertype: 0x86dd });
    }

    #[test]
    fn parse_rejects_what_it_should() {
        let good = EP.udp_frame(1, 7, b"payload");
        assert!(parse(&good).is_ok());
        assert!(matches!(parse(&good[..10]), Err(ParseError::Truncated { .. })));
        assert!(matches!(parse(&good[..20]), Err(ParseError::Truncated { .. })));
        let mut bad = good.clone();
        bad[ETH_HEADER + 10] ^= 1;
        assert_eq!(parse(&bad), Err(ParseError::BadChecksum("IPv4 header")));
        let mut bad = good.clone();
        bad[ETH_HEADER + IPV4_HEADER + 6] ^= 1;
        assert_eq!(parse(&bad), Err(ParseError::BadChecksum("UDP")));
        let mut bad = good.clone();
        *bad.last_mut().unwrap() ^= 0x40;
        assert_eq!(parse(&bad), Err(ParseError::BadChecksum("UDP")));
        // A zero UDP checksum means "none" and is accepted.
        let mut none = good.clone();
        none[ETH_HEADER + IPV4_HEADER + 6..ETH_HEADER + IPV4_HEADER + 8].copy_from_slice(&[0, 0]);
        assert!(parse(&none).is_ok());
        let icmp = EP.icmp_echo_frame(ICMP_ECHO_REQUEST, 1, 1, b"x");
        let mut bad = icmp.clone();
        bad[ETH_HEADER + IPV4_HEADER + 8] ^= 1;
        assert_eq!(parse(&bad), Err(ParseError::BadChecksum("ICMP")));
        let mut frag = good.clone();
        frag[ETH_HEADER + 6] = 0x20; // MF
        fix_ip_checksum(&mut frag, IPV4_HEADER);
        assert_eq!(parse(&frag), Err(ParseError::Fragment));
    }

    #[test]
    fn prng_is_deterministic_and_in_range() {
        let mut a = Prng::new(42);
        let mut b = Prng::new(42);
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        // SplitMix64's first output for seed 0 (reference implementation).
        assert_eq!(Prng::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
        let mut r = Prng::new(7);
        for _ in 0..10_000 {
            let x = r.range(3, 9);
            assert!((3..=9).contains(&x));
        }
        assert_eq!(r.range(5, 5), 5);
        let mut all = Prng::new(1);
        let _ = all.range(0, u64::MAX);
        assert_eq!(Prng::new(3).bytes(13).len(), 13);
    }

    /// Every malformed frame is non-empty, has the advertised shape, and is
    /// rejected by this module's strict parser (or is not for the guest at all).
    #[test]
    fn malformed_seed_0x5eed_frames_are_all_rejected() {
        let mut counts = std::collections::HashMap::new();
        for (kind, f) in MalformedStream::new(0x5eed, EP).take(Malformed::ALL.len() * 300) {
            *counts.entry(kind).or_insert(0) += 1;
            assert!(!f.is_empty(), "{kind:?}");
            assert!(f.len() <= MAX_JUMBO, "{kind:?}");
            match kind {
                Malformed::TruncatedEthernet => assert!(f.len() < ETH_HEADER),
                Malformed::Oversized => assert!(f.len() > MAX_FRAME),
                _ => assert!(f.len() <= MAX_FRAME, "{kind:?} {}", f.len()),
            }
            match kind {
                Malformed::RandomBody | Malformed::RandomBytes | Malformed::Oversized => {}
                _ => assert!(parse(&f).is_err(), "{kind:?} parsed: {}", hex(&f, 64)),
            }
            if kind.carries_marker() {
                assert!(find(&f, MALFORMED_MARKER).is_some(), "{kind:?}");
            }
        }
        assert_eq!(counts.len(), Malformed::ALL.len());
        assert!(counts.values().all(|&n| n == 300));
    }

    #[test]
    fn malformed_seed_0x5eed_is_reproducible_and_seeds_differ() {
        let a: Vec<_> = MalformedStream::new(0x5eed, EP).take(100).collect();
        let b: Vec<_> = MalformedStream::new(0x5eed, EP).take(100).collect();
        let c: Vec<_> = MalformedStream::new(0x5eee, EP).take(100).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// The specific breakage of each IP kind, checked through smoltcp too.
    #[test]
    fn malformed_seed_1_kinds_break_what_they_say() {
        let caps = ChecksumCapabilities::default();
        let mut rng = Prng::new(1);
        for _ in 0..200 {
            let f = malformed(Malformed::IhlTooSmall, &EP, &mut rng);
            assert!(f[ETH_HEADER] & 0xf < 5);
            assert_eq!(internet_checksum(&f[ETH_HEADER..ETH_HEADER + IPV4_HEADER]), 0);
            let f = malformed(Malformed::IhlPastEnd, &EP, &mut rng);
            let ihl = usize::from(f[ETH_HEADER] & 0xf) * 4;
            assert!(ihl > f.len() - ETH_HEADER && ihl > IPV4_HEADER);
            assert!(matches!(parse(&f), Err(ParseError::BadIhl(_))));
            for kind in [Malformed::TotalLengthTooLong, Malformed::TotalLengthTooShort] {
                let f = malformed(kind, &EP, &mut rng);
                assert_eq!(internet_checksum(&f[ETH_HEADER..ETH_HEADER + IPV4_HEADER]), 0);
                assert!(matches!(parse(&f), Err(ParseError::BadTotalLength { .. })), "{kind:?}");
                let eth = sw::EthernetFrame::new_checked(&f[..]).unwrap();
                let smol = sw::Ipv4Packet::new_checked(eth.payload()).and_then(|p| sw::Ipv4Repr::parse(&p, &caps));
                assert!(smol.is_err(), "smoltcp accepted {kind:?}");
            }
            let f = malformed(Malformed::BadIpVersion, &EP, &mut rng);
            assert_eq!(parse(&f), Err(ParseError::BadIpVersion(6)));
            let f = malformed(Malformed::BadUdpLength, &EP, &mut rng);
            assert!(matches!(parse(&f), Err(ParseError::BadUdpLength { .. })));
            for (kind, what) in [
                (Malformed::BadIpChecksum, "IPv4 header"),
                (Malformed::BadUdpChecksum, "UDP"),
                (Malformed::BadIcmpChecksum, "ICMP"),
                (Malformed::BadTcpChecksum, "TCP"),
            ] {
                let f = malformed(kind, &EP, &mut rng);
                assert_eq!(parse(&f), Err(ParseError::BadChecksum(what)), "{kind:?}");
            }
            let f = malformed(Malformed::BadArpLengths, &EP, &mut rng);
            assert_eq!(parse(&f), Err(ParseError::BadArp("not Ethernet/IPv4")));
            let f = malformed(Malformed::TruncatedArp, &EP, &mut rng);
            assert!(matches!(parse(&f), Err(ParseError::Truncated { what: "ARP packet", .. })));
        }
    }

    #[test]
    fn hex_rendering() {
        assert_eq!(hex(&[1, 0xab], 8), "01 ab");
        assert_eq!(hex(&[0; 5], 2), "00 00 … (5 bytes)");
    }

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }
}
