//! The host's side of the loopback network: frames, a peer, a load generator
//! and a TCP client, used by the end-to-end tests and `cargo xtask bench net`.
//!
//! Each NIC of the standard machine is a QEMU `-netdev dgram`: QEMU binds
//! 127.0.0.1:B (B = the machine's port base, +2 for the virtio-net) and sends
//! every frame the guest transmits, as one UDP datagram, to 127.0.0.1:B+1;
//! every datagram it receives on B is a frame on the guest's wire. The host
//! end is [`peer::Peer`], which binds B+1: it *is* the other station on the
//! guest's Ethernet (192.0.2.1, MAC 02:00:00:00:00:01), answers the guest's
//! ARP requests and resolves the guest before sending IP traffic.
//!
//! - [`frame`]: build and parse Ethernet/ARP/IPv4/ICMP/UDP/TCP; malformed frames.
//! - [`peer`]: the socket, the ARP responder, the guest's MAC.
//! - [`gen`]: ping, UDP echo (latency and windowed throughput), UDP flood;
//!   percentiles.
//! - [`tcp`]: a TCP client (smoltcp on the host) talking through the peer.
//! - [`shell`]: parsers for the kernel's `ifconfig`, `netstat`, `ethtool -S`
//!   and `net mode` replies, and the counter accounting of docs/testing.md.
//!
//! Rules (DESIGN.md): traffic stays on 127.0.0.1; every loop is bounded in
//! count and time; **no zero-length datagram is ever sent** (one stops QEMU
//! 7.2's dgram netdev from reading for good), which [`peer::Peer::send`]
//! enforces.

pub mod frame;
pub mod gen;
pub mod peer;
pub mod shell;
pub mod tcp;

#[cfg(test)]
pub mod fake_guest;

use frame::Mac;
use std::net::Ipv4Addr;

/// The guest's eth0 (the e1000): address and MAC (DESIGN.md, "The standard test machine").
pub const GUEST_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const GUEST_MAC: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
/// The host peer on the guest's wire.
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// A locally administered unicast MAC for the peer.
pub const PEER_MAC: Mac = Mac([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);

/// The kernel's services on eth0 (docs/testing.md, "Network").
pub const ECHO_PORT: u16 = 7;
pub const DISCARD_PORT: u16 = 9;

/// Offset of the e1000's QEMU-side port from the machine's port base (the
/// peer listens one above it).
pub const E1000_PORT_OFFSET: u16 = 0;
