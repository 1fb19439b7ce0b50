//! virtio-net (`1af4:1041`, transitional `1af4:1000`) bound to the
//! `virtio` driver crate and registered as a network device (`eth1` on the
//! standard machine) through the shared NIC glue (`net::nic`): the same
//! modes, NAPI, stack and TX watchdog as the e1000.
//!
//! What is virtio-specific: with MSI-X the receive queue has its own
//! vector (configuration changes another; transmit completions are
//! reclaimed by polling, so the transmit queue never interrupts); with INTx
//! one shared line, which the handler de-asserts by reading the ISR
//! register. NAPI suppresses receive-queue interrupts through the ring
//! (event-idx: `used_event` moved out of reach), not a device register, so
//! re-enabling them can find used entries that arrived meanwhile without
//! an interrupt: the glue then polls again at once.

use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use hal::io::RegisterWindow;
use hal::irq::IrqReturn;
use pci::id::PciDeviceId;
use spin::Once;
use virtio::net::{NetConfig, NetTxError, VirtioNet};

use super::virtio::{self as vpci, VectorUse};
use super::Bound;
use crate::bus::pci::driver::{self, Instance, PciDriver};
use crate::bus::pci::irq::IrqKind;
use crate::bus::pci::{PciDevice, PciError};
use crate::dma::KernelDma;
use crate::mm::ioremap::IoMem;
use crate::net::device::{RxMode, TxError};
use crate::net::nic::{Nic, NicHw};

const IDS: &[PciDeviceId] = &[PciDeviceId::device(0x1af4, 0x1041), PciDeviceId::device(0x1af4, 0x1000)];
static DRIVER: PciDriver =
    PciDriver { name: "virtio-net", id_table: IDS, probe, remove: Some(super::remove_nic::<VirtioNetHw>) };
const QUEUE_SIZE: u16 = 256;
/// Queues: receiveq (0) and transmitq (1).
const QUEUES: usize = 2;
const RX_QUEUE: u16 = 0;

/// The driver crate's instance and how its vectors are laid out.
pub struct VirtioNetHw {
    /// `virtio-net eth1`, for the `virtio` command.
    name: String,
    dev: VirtioNet<IoMem, KernelDma>,
    irq_kind: IrqKind,
    irq_count: usize,
}

pub fn register() {
    driver::register(&DRIVER);
}

fn probe(pci: &Arc<PciDevice>) -> Result<Instance, PciError> {
    let (transport, claim) = vpci::transport(pci, "virtio-net")?;
    // The vectors are programmed while the device is set up, so they are
    // allocated first; the handler finds the NIC once it exists.
    let slot: Arc<Once<Weak<Nic<VirtioNetHw>>>> = Arc::new(Once::new());
    let for_handler = slot.clone();
    let irqs = vpci::alloc_irqs(pci, QUEUES, "virtio-net", move |i| {
        for_handler.get().and_then(Weak::upgrade).map_or(IrqReturn::NotMine, |nic| nic.interrupt(i))
    })?;
    let vectors = vpci::vectors(&irqs, QUEUES);
    let dev = VirtioNet::new(transport, KernelDma, NetConfig { queue_size: QUEUE_SIZE }, &vectors)
        .map_err(|e| PciError::Map(alloc::format!("virtio-net: {e}")))?;
    let hw = VirtioNetHw { name: String::new(), dev, irq_kind: irqs.kind(), irq_count: irqs.count() };
    let nic = Nic::new(alloc::format!("virtio-net {} ({:?})", pci.bdf(), irqs.kind()), hw);
    slot.call_once(|| Arc::downgrade(&nic));
    let dev = nic.attach();
    nic.hw.lock().name = alloc::format!("virtio-net {}", dev.name);
    let described: Arc<dyn vpci::Describe> = nic.clone();
    vpci::announce(Arc::downgrade(&described));
    Ok(alloc::boxed::Box::new(Bound { dev: nic, irqs, bar: claim }))
}

impl vpci::Describe for Nic<VirtioNetHw> {
    fn report(&self) -> vpci::Report {
        let hw = self.hw.lock();
        let (rx, tx) = hw.dev.queue_stats();
        vpci::Report {
            name: hw.name.clone(),
            device_id: virtio::regs::DEVICE_ID_NET,
            features: hw.dev.features(),
            interrupts: hw.irq_kind,
            vectors: hw.irq_count,
            queues: alloc::vec![("receiveq", rx), ("transmitq", tx)],
        }
    }
}

impl NicHw for VirtioNetHw {
    fn mac(&self) -> [u8; 6] {
        self.dev.mac()
    }

    fn link_up(&self) -> bool {
        self.dev.link_up()
    }

    fn ack_interrupt(&mut self, vector: usize) -> Option<bool> {
        match vpci::vector_use(self.irq_kind, self.irq_count, QUEUES, vector) {
            VectorUse::Shared => {
                // Reading ISR de-asserts the line; zero means another device's.
                let isr = self.dev.handle_intx();
                isr.is_mine().then_some(isr.queue)
            }
            VectorUse::Config if self.irq_count > QUEUES => {
                self.dev.count_config_interrupt();
                Some(false)
            }
            VectorUse::Config => {
                self.dev.count_interrupt();
                // With a single vector it serves the queues too.
                Some(self.irq_count <= QUEUES)
            }
            VectorUse::Queue(q) => {
                self.dev.count_interrupt();
                Some(q == RX_QUEUE)
            }
        }
    }

    fn enable_rx_irq(&mut self, _mode: RxMode) -> bool {
        self.dev.enable_rx_interrupts()
    }

    fn disable_rx_irq(&mut self) {
        self.dev.disable_rx_interrupts();
    }

    fn mask_for_napi(&mut self) {
        self.dev.disable_rx_interrupts();
    }

    fn poll_rx(&mut self, max: usize, sink: &mut dyn FnMut(&[u8])) -> usize {
        self.dev.poll_rx(max, sink)
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), TxError> {
        self.dev.transmit(frame).map_err(|e| match e {
            NetTxError::RingFull => TxError::RingFull,
            _ => TxError::TooLong,
        })
    }

    fn flush_tx(&mut self) {
        self.dev.flush_tx();
    }

    fn clean_tx(&mut self) -> usize {
        self.dev.clean_tx()
    }

    fn tx_stalled(&self, now_ticks: u64, timeout_ticks: u64) -> bool {
        self.dev.tx_stalled(now_ticks, timeout_ticks)
    }

    fn reset_and_recover(&mut self) -> Result<(), String> {
        self.dev.reset_and_recover().map_err(|e| alloc::format!("{e}"))
    }

    fn inject_tx_stall(&mut self) -> bool {
        // Stop telling the device about new frames: they stay queued and
        // never complete, which is what the watchdog is for.
        self.dev.inject_tx_stall();
        true
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        let s = self.dev.stats();
        let io = self.dev.transport().window().stats();
        alloc::vec![
            ("rx_packets", s.rx_packets),
            ("rx_bytes", s.rx_bytes),
            ("rx_dropped", s.rx_dropped),
            ("tx_packets", s.tx_packets),
            ("tx_bytes", s.tx_bytes),
            ("tx_ring_full", s.tx_ring_full),
            ("tx_timeouts", s.tx_timeouts),
            ("resets", s.resets),
            ("interrupts", s.interrupts),
            ("not_mine", s.not_mine),
            ("config_changes", s.config_changes),
            ("rx_doorbells", s.rx_notifies),
            ("tx_doorbells", s.tx_notifies),
            ("notifies_suppressed", s.notifies_suppressed),
            ("register_reads", io.reads),
            ("register_writes", io.writes),
        ]
    }
}
