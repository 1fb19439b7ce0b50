//! Reset and programming: global reset, the station address from RAL/RAH or
//! the EEPROM, writing every register from the driver's state, and recovery
//! by reset with the memory already allocated.

#[cfg(doc)]
use crate::Stats;
use hal::barrier;
use hal::dma::{DmaAllocator, DmaRegion};
use hal::RegisterWindow;

use crate::regs::{self, ctrl, eerd, irq, rctl, rxd, tctl, txd};
use crate::tx::TxWatch;
use crate::{split, Error, E1000};

/// Whether `mac` can be this station's address: not zero, not multicast
/// (which also rules out the all-ones of an absent EEPROM).
fn valid_station_mac(mac: [u8; 6]) -> bool {
    mac != [0; 6] && mac[0] & 1 == 0
}

/// Global reset (CTRL.RST, [E1000 13.4.1]): stop the DMA engines, mask interrupts, set
/// CTRL.RST, wait (bounded) for it to self-clear, mask again and discard
/// causes raised before the reset.
pub(crate) fn global_reset(regs: &impl RegisterWindow, poll_limit: u32) -> Result<(), Error> {
    regs.write_u32(regs::IMC, irq::ALL)?;
    regs.write_u32(regs::RCTL, 0)?;
    regs.write_u32(regs::TCTL, 0)?;
    let ctrl_value = regs.read_u32(regs::CTRL)?;
    regs.write_u32(regs::CTRL, ctrl_value | ctrl::RST)?;
    let mut done = false;
    for _ in 0..poll_limit {
        if regs.read_u32(regs::CTRL)? & ctrl::RST == 0 {
            done = true;
            break;
        }
        core::hint::spin_loop();
    }
    if !done {
        return Err(Error::ResetTimeout);
    }
    regs.write_u32(regs::IMC, irq::ALL)?;
    let _stale = regs.read_u32(regs::ICR)?;
    Ok(())
}

/// Reads one EEPROM word through EERD [E1000 13.4.4], bounded.
pub(crate) fn read_eeprom(regs: &impl RegisterWindow, word: u32, poll_limit: u32) -> Result<u16, Error> {
    regs.write_u32(regs::EERD, eerd::START | word << eerd::ADDR_SHIFT)?;
    for _ in 0..poll_limit {
        let value = regs.read_u32(regs::EERD)?;
        if value & eerd::DONE != 0 {
            return Ok((value >> eerd::DATA_SHIFT) as u16);
        }
        core::hint::spin_loop();
    }
    Err(Error::EepromTimeout { word })
}

/// The station address: RAL0/RAH0 if valid (the device loads them from the
/// EEPROM at reset), otherwise EEPROM words 0..2 read directly.
pub(crate) fn read_mac(regs: &impl RegisterWindow, poll_limit: u32) -> Result<[u8; 6], Error> {
    let low = regs.read_u32(regs::ral(0))?.to_le_bytes();
    let high = regs.read_u32(regs::rah(0))?;
    if high & regs::rah::AV != 0 {
        let h = high.to_le_bytes();
        let mac = [low[0], low[1], low[2], low[3], h[0], h[1]];
        if valid_station_mac(mac) {
            return Ok(mac);
        }
    }
    let mut mac = [0; 6];
    for (i, word) in eerd::MAC_WORDS.into_iter().enumerate() {
        let [lo, hi] = read_eeprom(regs, word, poll_limit)?.to_le_bytes();
        mac[2 * i] = lo;
        mac[2 * i + 1] = hi;
    }
    if valid_station_mac(mac) {
        Ok(mac)
    } else {
        Err(Error::InvalidMac(mac))
    }
}

impl<W: RegisterWindow, A: DmaAllocator> E1000<W, A> {
    /// Resets the device and re-initialises it with the memory already
    /// allocated: same rings, same buffers, same MAC, filters and
    /// configuration; interrupts unmasked again if they were. Frames queued
    /// for transmission are dropped and counted in [`Stats::tx_timeouts`];
    /// received frames not yet polled in [`Stats::rx_dropped`]. The hardware
    /// counters are harvested first, so the reset loses none of them.
    pub fn reset_and_recover(&mut self) -> Result<(), Error> {
        let _ = self.hw_stats();
        let was_enabled = self.irqs_enabled;
        self.stats.tx_timeouts += self.tx_in_use() as u64;
        self.stats.rx_dropped += self.rx_unpolled() as u64;
        self.stats.resets += 1;
        self.irqs_enabled = false;
        global_reset(&self.regs, self.poll_limit)?;
        self.program()?;
        self.watch.set(TxWatch::default());
        if was_enabled {
            self.enable_interrupts();
        }
        Ok(())
    }

    /// RCTL for the current configuration [E1000 14.4]: receiver on,
    /// broadcasts accepted, CRC stripped, buffer size, promiscuity.
    pub(crate) fn rctl_value(&self) -> u32 {
        let size = rctl::buffer_size_bits(self.config.rx_buffer).unwrap_or(0);
        let promiscuous = if self.config.promiscuous { rctl::UPE | rctl::MPE } else { 0 };
        rctl::EN | rctl::BAM | rctl::SECRC | rctl::RDMTS_HALF | rctl::MO_47_36 | size | promiscuous
    }

    /// Programs a freshly reset device from the driver's state; allocates
    /// nothing. [E1000 14.3] general configuration, [E1000 14.4] receive and
    /// [E1000 14.5] transmit initialisation. Every register that matters is
    /// written, because QEMU's CTRL.RST resets none of them.
    pub(crate) fn program(&mut self) -> Result<(), Error> {
        let regs = &self.regs;
        // Link: let the MAC bring the link up at the speed the PHY found;
        // no link or PHY reset, no inverted loss-of-signal, no flow control,
        // no VLANs.
        let clear = ctrl::LRST | ctrl::PHY_RST | ctrl::ILOS | ctrl::VME | ctrl::RFCE | ctrl::TFCE;
        let ctrl_value = regs.read_u32(regs::CTRL)?;
        regs.write_u32(regs::CTRL, (ctrl_value | ctrl::SLU | ctrl::ASDE) & !clear)?;

        // Address filters: ours in entry 0, the rest invalid; the multicast
        // table as the driver knows it (all zero after `new`).
        let m = self.mac;
        regs.write_u32(regs::ral(0), u32::from_le_bytes([m[0], m[1], m[2], m[3]]))?;
        regs.write_u32(regs::rah(0), u32::from_le_bytes([m[4], m[5], 0, 0]) | regs::rah::AV)?;
        for n in 1..regs::RA_ENTRIES {
            regs.write_u32(regs::rah(n), 0)?;
        }
        for (word, value) in self.mta.iter().enumerate() {
            regs.write_u32(regs::mta(word), *value)?;
        }

        // Receive ring: every descriptor owns its pool buffer, status clear;
        // all but one handed to the device.
        let rx_n = self.rx.bufs.len();
        for i in 0..rx_n {
            self.recycle_rx_checked(i)?;
        }
        let (low, high) = split(self.rx.descs.bus_addr());
        regs.write_u32(regs::RDBAL, low)?;
        regs.write_u32(regs::RDBAH, high)?;
        regs.write_u32(regs::RDLEN, (rx_n * rxd::SIZE) as u32)?;
        regs.write_u32(regs::RDH, 0)?;
        regs.write_u32(regs::RDTR, 0)?;
        regs.write_u32(regs::RADV, 0)?;
        barrier::wmb();
        regs.write_u32(regs::RDT, (rx_n - 1) as u32)?;
        self.rx.next = 0;
        self.rx.unreturned = 0;
        self.rx.discarding = false;

        // Transmit ring: empty.
        let tx_n = self.tx.bufs.len();
        for i in 0..tx_n {
            self.tx.descs.write_u64(i * txd::SIZE + txd::ADDR, 0)?;
            self.tx.descs.write_u64(i * txd::SIZE + txd::LOWER, 0)?;
        }
        let (low, high) = split(self.tx.descs.bus_addr());
        regs.write_u32(regs::TDBAL, low)?;
        regs.write_u32(regs::TDBAH, high)?;
        regs.write_u32(regs::TDLEN, (tx_n * txd::SIZE) as u32)?;
        regs.write_u32(regs::TDH, 0)?;
        regs.write_u32(regs::TDT, 0)?;
        self.tx.tail = 0;
        self.tx.hw_tail = 0;
        self.tx.clean = 0;
        regs.write_u32(regs::TIPG, regs::tipg::DEFAULT)?;
        let tctl_value =
            tctl::EN | tctl::PSP | tctl::CT_DEFAULT << tctl::CT_SHIFT | tctl::COLD_FULL_DUPLEX << tctl::COLD_SHIFT;
        regs.write_u32(regs::TCTL, tctl_value)?;

        regs.write_u32(regs::ITR, self.config.itr.into())?;
        // The receiver last, once everything it uses is in place.
        regs.write_u32(regs::RCTL, self.rctl)?;
        Ok(())
    }
}
