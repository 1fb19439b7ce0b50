//! The hard interrupt path: ICR read-to-clear, "not mine" on a shared line,
//! masking for NAPI (IMS/IMC), and interrupt throttling (ITR).

use hal::dma::DmaAllocator;
use hal::{IrqReturn, RegisterWindow};

use crate::regs::{self, irq};
use crate::E1000;

/// What one [`E1000::handle_interrupt`] call found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the dispatcher needs `ret`, and NAPI needs scheduling"]
pub struct IrqEvent {
    /// [`IrqReturn::Handled`] if ICR was non-zero (then every cause is now
    /// masked until [`E1000::enable_interrupts`]).
    pub ret: IrqReturn,
    /// The ICR value read (0 if not ours).
    pub icr: u32,
    /// Frames were received (RXT0), or free receive descriptors ran low
    /// (RXDMT0): poll RX.
    pub rx: bool,
    /// Transmit descriptors were written back (TXDW): clean TX.
    pub tx_done: bool,
    /// The link went up or down (LSC): check [`E1000::link_up`].
    pub link_change: bool,
    /// A frame was dropped for lack of a receive descriptor (RXO).
    pub rx_overrun: bool,
}

impl IrqEvent {
    const NOT_MINE: IrqEvent =
        IrqEvent { ret: IrqReturn::NotMine, icr: 0, rx: false, tx_done: false, link_change: false, rx_overrun: false };

    /// Whether the NAPI poll should run: there is receive or transmit work.
    pub fn needs_poll(&self) -> bool {
        self.rx || self.tx_done || self.rx_overrun
    }
}

impl<W: RegisterWindow, A: DmaAllocator> E1000<W, A> {
    /// Sets the minimum interval between interrupts, in 256 ns units (0 =
    /// no throttling).
    pub fn set_itr(&mut self, interval: u16) {
        self.config.itr = interval;
        self.write(regs::ITR, interval.into());
    }

    /// Unmasks the interrupt causes the driver handles (IMS = RXT0 | RXO |
    /// RXDMT0 | LSC | TXDW). If one is already pending the device interrupts
    /// at once.
    pub fn enable_interrupts(&mut self) {
        self.irqs_enabled = true;
        self.write(regs::IMS, irq::ENABLED);
    }

    /// Masks every interrupt cause (IMC = all ones).
    pub fn disable_interrupts(&mut self) {
        self.irqs_enabled = false;
        self.write(regs::IMC, irq::ALL);
    }

    /// The hard interrupt handler: reads ICR once (which acknowledges every
    /// cause); if nothing was pending returns "not mine" having touched
    /// nothing else; otherwise masks all causes for the NAPI poll, counts,
    /// and reports the causes seen. Never waits, allocates or sleeps.
    pub fn handle_interrupt(&mut self) -> IrqEvent {
        // `new` checked that the window covers the registers, so the access
        // cannot be refused; if a window did refuse it, "not mine" is the
        // answer that does no harm.
        let icr = self.regs.read_u32(regs::ICR).unwrap_or(0);
        if icr == 0 || icr == u32::MAX {
            self.stats.not_mine += 1;
            return IrqEvent::NOT_MINE;
        }
        self.irqs_enabled = false;
        self.write(regs::IMC, irq::ALL);
        let event = IrqEvent {
            ret: IrqReturn::Handled,
            icr,
            rx: icr & (irq::RXT0 | irq::RXDMT0) != 0,
            tx_done: icr & irq::TXDW != 0,
            link_change: icr & irq::LSC != 0,
            rx_overrun: icr & irq::RXO != 0,
        };
        self.stats.interrupts += 1;
        self.stats.link_changes += u64::from(event.link_change);
        self.stats.rx_overruns += u64::from(event.rx_overrun);
        event
    }
}
