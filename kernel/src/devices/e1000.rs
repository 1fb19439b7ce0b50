//! The Intel 82540EM (8086:100e) bound to the `e1000` driver crate and
//! registered as a network device (`eth0`) through the shared NIC glue
//! (`net::nic`: modes, NAPI, stack, TX watchdog).
//!
//! What is e1000-specific: reading ICR acknowledges the interrupt and masks
//! every cause until the driver unmasks (IMS), so NAPI needs nothing more
//! in the hard handler; interrupt throttling (ITR) is ~100 µs in `napi`
//! mode and off in `irq` mode, where each interrupt takes one frame and
//! sets the cause again (ICS) while frames remain — one interrupt per
//! packet, as a NIC without mitigation behaves.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use e1000::{Config, TxError as NicTxError, E1000};
use hal::io::RegisterWindow;
use hal::irq::IrqReturn;
use pci::id::PciDeviceId;

use super::Bound;
use crate::bus::pci::driver::{self, Instance, PciDriver};
use crate::bus::pci::irq::IrqKind;
use crate::bus::pci::{PciDevice, PciError};
use crate::dma::KernelDma;
use crate::mm::ioremap::IoMem;
use crate::net::device::{RxMode, TxError};
use crate::net::nic::{Nic, NicHw};

const IDS: &[PciDeviceId] = &[PciDeviceId::device(0x8086, 0x100e)];
static DRIVER: PciDriver =
    PciDriver { name: "e1000", id_table: IDS, probe, remove: Some(super::remove_nic::<E1000Hw>) };

/// NAPI-mode interrupt throttling: at most one interrupt per ~100 µs (in
/// 256 ns units), as Linux's default InterruptThrottleRate does.
const NAPI_ITR: u16 = 390;

/// The driver crate's instance as the NIC glue drives it.
pub struct E1000Hw(E1000<IoMem, KernelDma>);

pub fn register() {
    driver::register(&DRIVER);
}

fn probe(pci: &Arc<PciDevice>) -> Result<Instance, PciError> {
    let (mem, claim) = pci.map_bar(0, "e1000")?.into_parts();
    pci.enable(true, false);
    pci.set_bus_master(true);
    let config = Config { itr: NAPI_ITR, ..Config::default() };
    let hw = E1000::new(mem, KernelDma, config).map_err(|e| PciError::Map(alloc::format!("{e}")))?;
    let nic = Nic::new(alloc::format!("e1000 {}", pci.bdf()), E1000Hw(hw));
    let weak = Arc::downgrade(&nic);
    let irqs = pci.alloc_irq_vectors(1, 1, &[IrqKind::MsiX, IrqKind::Msi, IrqKind::Intx], "e1000", move |i| {
        weak.upgrade().map_or(IrqReturn::NotMine, |nic| nic.interrupt(i))
    })?;
    nic.attach();
    Ok(alloc::boxed::Box::new(Bound { dev: nic, irqs, bar: claim }))
}

impl NicHw for E1000Hw {
    fn mac(&self) -> [u8; 6] {
        self.0.mac()
    }

    fn link_up(&self) -> bool {
        self.0.link_up()
    }

    fn ack_interrupt(&mut self, _vector: usize) -> Option<bool> {
        // Reading ICR acknowledges and masks; any cause means "look at the ring".
        (self.0.handle_interrupt().ret == IrqReturn::Handled).then_some(true)
    }

    fn enable_rx_irq(&mut self, mode: RxMode) -> bool {
        let itr = if mode == RxMode::Irq { 0 } else { NAPI_ITR };
        if self.0.config().itr != itr {
            self.0.set_itr(itr);
        }
        self.0.enable_interrupts();
        false // the e1000 interrupts for frames that arrived while masked
    }

    fn disable_rx_irq(&mut self) {
        self.0.disable_interrupts();
    }

    fn mask_for_napi(&mut self) {
        // Reading ICR in the hard handler already masked every cause.
    }

    fn irq_mode_budget(&self) -> usize {
        1
    }

    fn irq_mode_done(&mut self, got: usize) {
        self.0.clean_tx();
        self.0.enable_interrupts();
        if got > 0 {
            // More may wait: interrupt again for the next one.
            let _ = self.0.window().write_u32(e1000::regs::ICS, e1000::regs::irq::RXT0);
        }
    }

    fn poll_rx(&mut self, max: usize, sink: &mut dyn FnMut(&[u8])) -> usize {
        self.0.poll_rx(max, sink)
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), TxError> {
        self.0.transmit(frame).map_err(|e| match e {
            NicTxError::RingFull => TxError::RingFull,
            _ => TxError::TooLong,
        })
    }

    fn flush_tx(&mut self) {
        self.0.flush_tx();
    }

    fn clean_tx(&mut self) -> usize {
        self.0.clean_tx()
    }

    fn tx_stalled(&self, now_ticks: u64, timeout_ticks: u64) -> bool {
        self.0.tx_stalled(now_ticks, timeout_ticks)
    }

    fn reset_and_recover(&mut self) -> Result<(), String> {
        self.0.reset_and_recover().map_err(|e| alloc::format!("{e}"))
    }

    fn inject_tx_stall(&mut self) -> bool {
        // Switch the transmitter off behind the driver's back: queued frames
        // never complete, which is what the watchdog is for.
        let w = self.0.window();
        let tctl = w.read_u32(e1000::regs::TCTL).unwrap_or(0);
        w.write_u32(e1000::regs::TCTL, tctl & !e1000::regs::tctl::EN).is_ok()
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        let s = self.0.stats();
        alloc::vec![
            ("rx_packets", s.rx_packets),
            ("rx_bytes", s.rx_bytes),
            ("rx_errors", s.rx_errors),
            ("rx_dropped", s.rx_dropped),
            ("rx_too_long", s.rx_too_long),
            ("rx_overruns", s.rx_overruns),
            ("tx_packets", s.tx_packets),
            ("tx_bytes", s.tx_bytes),
            ("tx_ring_full", s.tx_ring_full),
            ("tx_timeouts", s.tx_timeouts),
            ("resets", s.resets),
            ("interrupts", s.interrupts),
            ("not_mine", s.not_mine),
            ("link_changes", s.link_changes),
            ("rx_doorbells", s.rx_doorbells),
            ("tx_doorbells", s.tx_doorbells),
            ("register_reads", s.register_reads),
            ("register_writes", s.register_writes),
        ]
    }
}
