//! The host's side of the loopback network: frames, a peer, a load generator
//! and a TCP client, used by the end-to-end tests and `cargo xtask bench net`.
//!
//! Each NIC of the standard machine is a QEMU `-netdev dgram`: QEMU binds
//! 127.0.0.1:B+o (B = the machine's port base, o = the NIC's [`Nic::port_offset`]:
//! 0 for the e1000, 2 for the virtio-net) and sends every frame the guest
//! transmits on that NIC, as one UDP datagram, to 127.0.0.1:B+o+1; every
//! datagram it receives on B+o is a frame on that NIC's wire. The host end is
//! [`peer::Peer`], which binds B+o+1: it *is* the other station on that wire
//! (192.0.2.1, with the [`Nic::peer_mac`] of that wire), answers the guest's
//! ARP requests and resolves the guest's address on that NIC
//! ([`Nic::guest_ip`]) before sending IP traffic. [`Nic`] ([`E1000`],
//! [`VIRTIO`]) is the one place these per-NIC numbers live.
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

use anyhow::{bail, Context, Result};
use frame::Mac;
use std::net::Ipv4Addr;

/// One NIC of the standard machine as the host sees it: the guest's interface
/// on it, and the host station on its wire (DESIGN.md, "The standard test
/// machine"). Both NICs sit on 192.0.2.0/24 but on separate wires (separate
/// dgram netdevs, separate UDP port pairs), so each has a host station of its
/// own; both stations are 192.0.2.1, with MACs of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nic {
    /// The NIC's short name: test-name suffix, `--nic` value, JSON key.
    pub name: &'static str,
    /// The QEMU model, for messages.
    pub model: &'static str,
    /// The guest's interface (`ifconfig`, `ethtool -S`, `net mode`).
    pub iface: &'static str,
    pub guest_ip: Ipv4Addr,
    pub guest_mac: Mac,
    /// QEMU binds the machine's port base plus this; the host station binds
    /// one above.
    pub port_offset: u16,
    /// The host station on this NIC's wire.
    pub peer_ip: Ipv4Addr,
    pub peer_mac: Mac,
}

/// The e1000, the guest's eth0.
pub const E1000: Nic = Nic {
    name: "e1000",
    model: "e1000",
    iface: "eth0",
    guest_ip: Ipv4Addr::new(192, 0, 2, 2),
    guest_mac: Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
    port_offset: 0,
    peer_ip: PEER_IP,
    // A locally administered unicast MAC.
    peer_mac: Mac([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]),
};

/// The virtio-net, the guest's eth1.
pub const VIRTIO: Nic = Nic {
    name: "virtio",
    model: "virtio-net-pci",
    iface: "eth1",
    guest_ip: Ipv4Addr::new(192, 0, 2, 3),
    guest_mac: Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x57]),
    port_offset: 2,
    peer_ip: PEER_IP,
    // Not eth0's station's MAC: a frame the guest addresses with what it
    // learned on the other wire is not taken for its own by the host's TCP.
    peer_mac: Mac([0x02, 0x00, 0x00, 0x00, 0x00, 0x02]),
};

/// The standard machine's NICs, in the order of their interfaces.
pub const NICS: [Nic; 2] = [E1000, VIRTIO];

/// The host station's address on every wire.
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

impl Nic {
    /// The port QEMU binds for this NIC on a machine whose ports start at `base`.
    pub fn qemu_port(&self, base: u16) -> Result<u16> {
        base.checked_add(self.port_offset).with_context(|| format!("port base {base} too high for {}", self.iface))
    }

    /// The port the host station binds (QEMU sends the guest's frames there).
    pub fn peer_port(&self, base: u16) -> Result<u16> {
        match self.qemu_port(base)?.checked_add(1) {
            Some(p) => Ok(p),
            None => bail!("port base {base} too high for {}", self.iface),
        }
    }

    /// `eth1 (virtio-net-pci, 192.0.2.3)`, for messages.
    pub fn describe(&self) -> String {
        format!("{} ({}, {})", self.iface, self.model, self.guest_ip)
    }
}

/// The kernel's services on every interface's address (docs/testing.md, "Network").
pub const ECHO_PORT: u16 = 7;
pub const DISCARD_PORT: u16 = 9;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nics_follow_the_standard_machine() {
        assert_eq!(
            (E1000.iface, E1000.guest_ip, E1000.guest_mac.to_string()),
            ("eth0", Ipv4Addr::new(192, 0, 2, 2), "52:54:00:12:34:56".into())
        );
        assert_eq!(
            (VIRTIO.iface, VIRTIO.guest_ip, VIRTIO.guest_mac.to_string()),
            ("eth1", Ipv4Addr::new(192, 0, 2, 3), "52:54:00:12:34:57".into())
        );
        // DESIGN.md: e1000 at base/base+1, virtio-net at base+2/base+3.
        assert_eq!((E1000.qemu_port(40_000).unwrap(), E1000.peer_port(40_000).unwrap()), (40_000, 40_001));
        assert_eq!((VIRTIO.qemu_port(40_000).unwrap(), VIRTIO.peer_port(40_000).unwrap()), (40_002, 40_003));
        assert!(VIRTIO.qemu_port(65_534).is_err());
        assert!(VIRTIO.peer_port(65_533).is_err());
        assert_eq!(E1000.peer_port(65_534).unwrap(), 65_535);
        // One host station address, a MAC per wire.
        assert_eq!((E1000.peer_ip, VIRTIO.peer_ip), (PEER_IP, PEER_IP));
        assert_ne!(E1000.peer_mac, VIRTIO.peer_mac);
        assert!(!VIRTIO.peer_mac.is_multicast());
        let names: Vec<&str> = NICS.iter().map(|n| n.name).collect();
        assert_eq!(names, ["e1000", "virtio"]);
        assert_eq!(VIRTIO.describe(), "eth1 (virtio-net-pci, 192.0.2.3)");
    }

    /// The machine QEMU runs has each NIC where the host station looks for it.
    #[test]
    fn nics_match_the_machine_definition() {
        use crate::machine::{Machine, Profile};
        let settings = crate::settings::Settings::from_lookup(|_| None).unwrap();
        let args = Machine::new(Profile::Standard, "/k/kernel", &settings)
            .scratch_dir("/s")
            .net_port_base(41_000)
            .args()
            .unwrap();
        let after =
            |flag: &str| -> Vec<String> { args.windows(2).filter(|w| w[0] == flag).map(|w| w[1].clone()).collect() };
        let (netdevs, devices) = (after("-netdev"), after("-device"));
        for nic in NICS {
            let (local, remote) = (nic.qemu_port(41_000).unwrap(), nic.peer_port(41_000).unwrap());
            let netdev = netdevs
                .iter()
                .find(|n| n.contains(&format!("local.port={local},")))
                .unwrap_or_else(|| panic!("no netdev binds {local} for {}: {netdevs:?}", nic.iface));
            assert!(netdev.ends_with(&format!("remote.port={remote}")), "{netdev}");
            let id = netdev.split(',').find_map(|w| w.strip_prefix("id=")).unwrap();
            let device = devices.iter().find(|d| d.contains(&format!("netdev={id},"))).unwrap();
            assert!(device.starts_with(nic.model), "{device}");
            assert!(device.contains(&format!("mac={}", nic.guest_mac)), "{device}");
        }
    }
}
