//! The virtio-net device (virtio 1.2 §5.1), as QEMU's `hw/net/virtio-net.c`
//! behaves without offloads or mergeable buffers: queue 0 receives, queue 1
//! transmits; transmitted frames can loop back into the receive queue (the
//! "wire" of a loopback test), and the test can inject frames. A frame that
//! finds no receive buffer waits in a backlog (QEMU holds it in the netdev
//! queue until buffers are added), and is delivered when the driver adds
//! buffers and notifies.

use std::collections::VecDeque;

use hal::dma::sim::PhysMemory;

use super::ring::DeviceRing;
use super::*;

pub const HDR_LEN: usize = 12;
pub const F_MAC: u64 = 1 << 5;
pub const F_MRG_RXBUF: u64 = 1 << 15;
pub const F_STATUS: u64 = 1 << 16;
pub const F_CTRL_VQ: u64 = 1 << 17;
pub const S_LINK_UP: u16 = 1;

/// The MAC of the standard test machine's virtio-net (DESIGN.md).
pub const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x57];

#[derive(Debug, Default)]
pub struct NetDevice {
    /// Transmitted frames (without the header), in order.
    pub transmitted: Vec<Vec<u8>>,
    /// Transmit headers that were not all zero.
    pub bad_tx_headers: u32,
    /// Transmitted frames go back into the receive queue.
    pub loopback: bool,
    /// Frames waiting for a receive buffer.
    pub backlog: VecDeque<Vec<u8>>,
    /// The used length of the next received frame, instead of the true one.
    pub next_rx_len: Option<u32>,
    /// Frames delivered into receive buffers.
    pub received: u32,
}

impl NetDevice {
    pub fn reset(&mut self) {
        self.backlog.clear();
    }
}

/// A virtio-net model: offered features, config (MAC, link up), three
/// queues (receive, transmit, control — as QEMU with CTRL_VQ offered; the
/// driver does not accept it and must not care).
pub fn model(memory: PhysMemory, features: u64, queue_size: u16) -> VirtioModel {
    let mut config = vec![0; 12];
    config[0..6].copy_from_slice(&MAC);
    config[6..8].copy_from_slice(&S_LINK_UP.to_le_bytes());
    config[8..10].copy_from_slice(&1u16.to_le_bytes());
    config[10..12].copy_from_slice(&1500u16.to_le_bytes());
    VirtioModel::new(memory, Kind::Net(NetDevice::default()), features, config, &[queue_size, queue_size, 64])
}

/// What QEMU 7.2 offers a `virtio-net-pci` with default properties, minus
/// offloads: VERSION_1, EVENT_IDX, INDIRECT_DESC, MAC, STATUS, MRG_RXBUF, CTRL_VQ.
pub const QEMU_FEATURES: u64 = F_VERSION_1 | F_EVENT_IDX | F_INDIRECT_DESC | F_MAC | F_STATUS | F_MRG_RXBUF | F_CTRL_VQ;

pub fn set_link(m: &mut VirtioModel, up: bool) {
    let s: u16 = if up { S_LINK_UP } else { 0 };
    m.config[6..8].copy_from_slice(&s.to_le_bytes());
    m.config_changed();
}

/// The test plays the wire: a frame arrives.
pub fn receive(m: &mut VirtioModel, frame: &[u8]) {
    m.net().backlog.push_back(frame.to_vec());
    deliver_backlog(m);
}

pub fn process(m: &mut VirtioModel, q: u16) {
    match q {
        0 => deliver_backlog(m),
        1 => transmit(m),
        _ => m.violation(format!("net: notify for queue {q}")),
    }
}

fn transmit(m: &mut VirtioModel) {
    let memory = m.memory.clone();
    let mut any = false;
    loop {
        let chain = match m.ring(1).pop(&memory) {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                m.violation(format!("net tx: {e}"));
                break;
            }
        };
        if !chain.writable.is_empty() {
            m.violation("net tx: writable buffer in a transmit chain");
        }
        let bytes = DeviceRing::gather(&memory, &chain.readable);
        if bytes.len() < HDR_LEN {
            m.violation("net tx: chain shorter than the header");
        } else {
            let (hdr, frame) = bytes.split_at(HDR_LEN);
            let dev = m.net();
            if hdr.iter().any(|&b| b != 0) {
                dev.bad_tx_headers += 1;
            }
            dev.transmitted.push(frame.to_vec());
            if dev.loopback {
                dev.backlog.push_back(frame.to_vec());
            }
        }
        m.ring(1).push(&memory, chain.head.into(), 0);
        any = true;
    }
    if any {
        m.interrupt_if_needed(1);
    }
    deliver_backlog(m);
}

fn deliver_backlog(m: &mut VirtioModel) {
    if !m.driver_ok() || m.queues[0].ring.is_none() {
        return;
    }
    let memory = m.memory.clone();
    let mut any = false;
    while let Some(frame) = m.net().backlog.front().cloned() {
        let chain = match m.ring(0).pop(&memory) {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                m.violation(format!("net rx: {e}"));
                break;
            }
        };
        m.net().backlog.pop_front();
        if !chain.readable.is_empty() {
            m.violation("net rx: readable buffer in a receive chain");
        }
        let mut bytes = vec![0; HDR_LEN];
        bytes[10] = 1; // num_buffers = 1 without MRG_RXBUF (§5.1.6.3.2)
        bytes.extend_from_slice(&frame);
        let written = DeviceRing::scatter(&memory, &chain.writable, &bytes);
        if written < bytes.len() {
            m.violation(format!("net rx: {}-byte frame did not fit a receive buffer", frame.len()));
        }
        let len = m.net().next_rx_len.take().unwrap_or(written as u32);
        m.ring(0).push(&memory, chain.head.into(), len);
        m.net().received += 1;
        any = true;
    }
    if any {
        m.interrupt_if_needed(0);
    }
}
