//! Interrupt-driven mode: the chip interrupts, a handler moves bytes between
//! its FIFOs and two rings, and readers and writers only touch the rings.
//!
//! Polled mode (the crate's default) costs a CPU that spins on LSR while the
//! line moves 11 520 bytes a second at best — and a console that nobody types
//! into would have to be polled forever. Interrupts turn it around: the UART
//! raises its line when it needs attention, and the CPU is free meanwhile
//! (seed: "when device needs driver attention, device raises an interrupt").
//! The structure is xv6's `uart.c`.
//!
//! # Two halves and two rings
//!
//! ```text
//!  writer ──push──▶ tx: ByteRing ──handle_interrupt (THRE)──▶ THR / TX FIFO ──▶ wire
//!  reader ◀──pop─── rx: ByteRing ◀──handle_interrupt (RX)──── RBR / RX FIFO ◀── wire
//! ```
//!
//! [`Uart16550::handle_interrupt`] is the part that runs in interrupt context:
//! it empties the RX FIFO into the receive ring and refills the TX FIFO from
//! the transmit ring, then returns. It never waits for the device and never
//! allocates (DESIGN.md, rule 5); the rings are fixed arrays
//! ([`ByteRing`]). Everything else — a `read()` taking bytes
//! out of the receive ring, a `write()` putting bytes into the transmit ring
//! and calling [`Uart16550::start_tx`], echoing, line editing, waking sleepers
//! — happens outside the handler, in process context or deferred work.
//!
//! Names differ by tradition. The xv6 lecture (seed: "typical device driver
//! structure") calls the `read()`/`write()` side the *top half* and the
//! interrupt handler the *bottom half*; Linux and this kernel call the hard
//! interrupt handler the *top half* and the work it defers (softirq, tasklet,
//! workqueue) the *bottom half*. Either way the split is the same:
//! producer–consumer buffers between a part driven by the device and a part
//! driven by programs, each side running at its own pace.
//!
//! Both sides touch the same rings and the same chip, possibly on different
//! CPUs, so the kernel keeps the `Uart16550` and both rings under one
//! `SpinLockIrq` (xv6's `uart_tx_lock`), taken by the handler and by every
//! reader and writer. `try_read_byte` and the polled `write_*` methods bypass
//! the rings: in interrupt mode they are for a panic path only.
//!
//! # Why the handler loops on IIR
//!
//! The 16550 has one interrupt output for four sources. IIR names only the
//! highest-priority one pending `[PC16550D §8.6]`: line status, then received
//! data (or character timeout), then THR empty, then modem status. Serving one
//! source leaves the others pending, and the output stays asserted. With an
//! edge-triggered input (the PC's ISA IRQ 4 through the 8259 or IOAPIC) no new
//! edge comes for a line that never dropped, so a handler that serves a single
//! source and returns can leave the UART silent for good. So the handler reads
//! IIR, serves what it names, and reads again until IIR says "no interrupt
//! pending" — then the output is low and the next event makes a fresh edge.
//!
//! The loop is bounded by [`IRQ_LOOP_LIMIT`] rounds (Linux's 8250 driver has
//! `PASS_LIMIT` for the same reason): a broken or absent chip whose IIR never
//! clears must cost the CPU a bounded time, not hang it in interrupt context
//! (DESIGN.md, rule 4). Hitting the limit is counted in
//! [`UartStats::stuck_loops`](crate::UartStats::stuck_loops).
//!
//! # Whose interrupt is it?
//!
//! An interrupt is only a hint; the truth is in the device's status register.
//! On a shared line the kernel calls every handler registered on it, and each
//! must say whether its device was the one asking. The first IIR read does
//! that: bit 0 set means "nothing pending here", and the handler returns
//! [`IrqReturn::NotMine`] having touched nothing else. A bus where nothing
//! answers reads `0xff`, which also has bit 0 set: an absent UART never claims
//! an interrupt.
//!
//! # Transmit: THRE enabled only while there is something to send
//!
//! "THR empty" is a *condition*, true whenever the transmitter is idle —
//! which is most of the time. As an interrupt source the 16550 raises it when
//! the TX FIFO runs empty, and clears it when IIR is read reporting it, or
//! THR is written `[PC16550D §8.6]`. So reading IIR *is* the
//! acknowledgement: the handler that sees THRE has already cleared it, whether
//! or not it writes a byte. A handler that skips the IIR read (checking LSR
//! instead) never acknowledges it and the output stays asserted: a
//! level-triggered input interrupts forever, an edge-triggered one never sees
//! another edge (the never-de-asserted bugs listed in DESIGN.md).
//! Turning IER.THRE on while the transmitter is already idle raises it again
//! at once: the datasheet does not spell this out, but real 16550s do it
//! (Linux's 8250 driver probes for clones that do not, `UART_BUG_THRE`) and
//! QEMU models it.
//!
//! The driver keeps IER.THRE on only while the transmit ring holds data:
//!
//! * [`Uart16550::start_tx`], called by a writer after pushing, writes the
//!   first FIFO-full straight to THR if the transmitter is idle (no interrupt
//!   would come to start it: the FIFO is already empty), and enables THRE only
//!   if bytes remain, so the next FIFO-full goes out when this one drains.
//! * On each THRE interrupt the handler refills the FIFO from the ring; when
//!   the ring runs dry it clears IER.THRE.
//!
//! Left on with nothing to send, THRE costs a useless interrupt every time the
//! FIFO empties; on UARTs whose TX interrupt is a level ("FIFO at or below
//! threshold", as on the PL011 and SiFive UARTs) nothing acknowledges it,
//! and the line interrupts forever. Keeping
//! it tied to "data is waiting" makes the driver right on both, and makes
//! "IER.THRE set" mean "a transmission is in flight", which `start_tx` relies
//! on to leave a running transmission alone.
//!
//! # Receive: trigger level and character timeout
//!
//! With FIFOs on, "received data available" fires when the RX FIFO reaches
//! the trigger level (1, 4, 8 or 14 bytes, [`TriggerLevel`]), not per byte: a
//! burst of pasted text costs one interrupt per 8 bytes at level 8. But a
//! single keystroke never reaches level 8. For those the chip raises a
//! *character timeout* interrupt when bytes sit below the level and nothing was
//! received or read for four character times (about 350 µs at 115200 baud),
//! so input is delayed a little, never stranded. Both are served alike: read
//! RBR while LSR.DR. A higher level means fewer interrupts but less slack
//! (16 − level bytes) before an overrun while the interrupt waits.
//!
//! If the receive ring is full, the handler *throttles* instead of throwing
//! input away: it leaves the bytes in the chip's FIFO and switches the
//! receive interrupt off (IER.ERBFI), which also lowers the line — no
//! livelock. With the FIFO full the sender has to wait (a real line would
//! overrun unless RTS/CTS flow control stopped the other end; QEMU simply
//! holds its input back). Once a reader has made room it calls
//! [`Uart16550::unthrottle_rx`], the interrupt comes back and the waiting
//! bytes flow in order. Counted in
//! [`UartStats::rx_throttles`](crate::UartStats::rx_throttles).
//!
//! Line errors (overrun, parity, framing, break) have their own,
//! highest-priority source; reading LSR clears it, and every LSR read is
//! counted in [`UartStats`](crate::UartStats) as in polled mode.
//!
//! # OUT2
//!
//! On a PC the UART's interrupt output does not go straight to the interrupt
//! controller: the board routes it through a tri-state driver enabled by the
//! chip's own OUT2 modem-control output, so that two ports wired to one ISA
//! IRQ (COM1 and COM3 on IRQ 4) could leave the line to one of them. With
//! MCR.OUT2 clear the chip can assert its interrupt all it likes and no IRQ
//! ever arrives. QEMU's model raises the IRQ regardless of OUT2, so a driver
//! that forgets it works in QEMU and is deaf on hardware. [`Uart16550::init`]
//! sets it; [`Uart16550::enable_irq_mode`] makes sure.
//!
//! # Switching modes
//!
//! Enabling the FIFOs (FCR.FE going from 0 to 1) resets both of them
//! (`Config::fifo`). `enable_irq_mode` therefore first lets THR finish
//! the byte it holds, then saves whatever is in the RX FIFO into the driver's
//! early-input buffer, as `init` does; the handler (or
//! [`Uart16550::flush_early_rx`]) hands those bytes to the receive ring ahead
//! of any later ones. If the FIFOs were already on, only the trigger level
//! changes and nothing is reset.

use hal::{IrqReturn, RegisterWindow};

use crate::regs::{self, fcr, ier, iir, lsr, mcr};
use crate::{ByteRing, Error, InterruptEnable, InterruptId, TriggerLevel, Uart16550};

/// How many IIR rounds one [`Uart16550::handle_interrupt`] call serves at most.
///
/// A working chip needs a handful: each round clears one source, and there are
/// four, plus RX refilling at line rate (one byte per ~87 µs at 115200 baud,
/// while a round takes a few µs). 64 rounds is far beyond that, and still
/// bounded: each round makes at most ~35 register accesses (16 bytes × LSR +
/// RBR), so a stuck chip costs at most ~2 300 accesses, about 2 ms on an ISA
/// port, before the handler gives up and counts it.
pub const IRQ_LOOP_LIMIT: usize = 64;

/// What one [`Uart16550::handle_interrupt`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the dispatcher needs `ret`, and readers/writers may need waking"]
pub struct IrqOutcome {
    /// [`IrqReturn::Handled`] if the UART had an interrupt pending when the
    /// handler first read IIR, [`IrqReturn::NotMine`] if not.
    pub ret: IrqReturn,
    /// Bytes placed in the receive ring: if non-zero, wake readers.
    pub rx_bytes: usize,
    /// Bytes moved from the transmit ring to the chip: if non-zero, wake
    /// writers waiting for room.
    pub tx_bytes: usize,
    /// The handler stopped after [`IRQ_LOOP_LIMIT`] rounds without IIR ever
    /// reporting "no interrupt pending" (counted in `stuck_loops`). Worth a
    /// log line; if it keeps happening, the line should be masked.
    pub loop_limit_hit: bool,
}

/// The IER sources interrupt mode keeps on all the time. THRE comes and goes
/// with the transmit ring; modem status is not used by a console.
const RX_SOURCES: u8 = ier::RX_AVAILABLE | ier::LINE_STATUS;

impl<W: RegisterWindow> Uart16550<W> {
    /// Switches from polled to interrupt-driven operation.
    ///
    /// Turns the FIFOs on with the RX interrupt `trigger` level (saving waiting
    /// input first, see the [module docs](self#switching-modes)), makes sure
    /// MCR.OUT2 lets the interrupt reach the controller, and enables the
    /// received-data and line-status interrupts. THRE stays off until
    /// [`start_tx`](Self::start_tx) has something to send.
    ///
    /// Call it after [`init`](Self::init), with the handler already
    /// registered (the chip may interrupt as soon as IER is written), and
    /// then [`flush_early_rx`](Self::flush_early_rx) to hand saved input to
    /// the receive ring. Fails with [`Error::Timeout`] if the FIFOs were off
    /// and the transmitter did not finish its byte within
    /// [`POLL_LIMIT`](crate::POLL_LIMIT) polls.
    pub fn enable_irq_mode(&mut self, trigger: TriggerLevel) -> Result<(), Error> {
        // Quiet while reprogramming; this also makes sure the IIR read below
        // cannot swallow a THRE interrupt.
        self.write_ier(InterruptEnable::NONE.bits())?;
        // `init` sets a burst of FIFO_DEPTH only once it has seen FIFOs on.
        let fifos_were_on = self.tx_burst == regs::FIFO_DEPTH;
        if !fifos_were_on {
            // FE is about to go 0 -> 1, which empties the TX FIFO: let THR's
            // byte move on into the shift register first.
            self.wait_for_thr_empty()?;
        }
        // Save input and write FCR back to back, as `init` does. No CLEAR_TX
        // or CLEAR_RX: console output may still be draining from the FIFO.
        self.save_early_rx()?;
        self.write(regs::FCR, fcr::ENABLE | trigger.fcr_bits())?;
        if !fifos_were_on {
            // With IER = 0 this read acknowledges nothing.
            let fifos_work = self.read(regs::IIR)? & iir::FIFOS_ENABLED == iir::FIFOS_ENABLED;
            self.tx_burst = if fifos_work { regs::FIFO_DEPTH } else { 1 };
        }
        let modem_control = self.read(regs::MCR)?;
        if modem_control & mcr::OUT2 == 0 {
            self.write(regs::MCR, modem_control | mcr::OUT2)?;
        }
        self.irq_mode = true;
        self.write_ier(RX_SOURCES)
    }

    /// The interrupt handler: serves every source the UART reports, moving
    /// received bytes into `rx` and bytes to send out of `tx`.
    ///
    /// Reads IIR until it reports nothing pending, at most
    /// [`IRQ_LOOP_LIMIT`] times, and serves each source it names:
    ///
    /// * received data, character timeout: reads RBR while LSR.DR (at most a
    ///   FIFO-full per round) into `rx`; bytes that do not fit are discarded
    ///   and counted in [`UartStats::rx_throttles`](crate::UartStats::rx_throttles);
    /// * line status: reads LSR (counting the errors), then drains any data;
    /// * THR empty: writes up to a FIFO-full from `tx`, and disables the THRE
    ///   interrupt once `tx` is empty;
    /// * modem status: reads MSR.
    ///
    /// Bytes saved by [`enable_irq_mode`](Self::enable_irq_mode) go into `rx`
    /// first (no register access). If the first IIR read reports nothing
    /// pending, that read is the only access and the result is
    /// [`IrqReturn::NotMine`]. Never waits, never allocates.
    ///
    /// Errors: the window refused an access, or IIR held a code the 16550
    /// does not define ([`Error::UnknownInterrupt`]); bytes moved before the
    /// error are in the rings and in [`stats`](Self::stats).
    pub fn handle_interrupt<const N: usize, const M: usize>(
        &mut self,
        rx: &mut ByteRing<N>,
        tx: &mut ByteRing<M>,
    ) -> Result<IrqOutcome, Error> {
        let mut outcome = IrqOutcome {
            ret: IrqReturn::NotMine,
            rx_bytes: self.flush_early_rx(rx),
            tx_bytes: 0,
            loop_limit_hit: false,
        };
        for round in 0..IRQ_LOOP_LIMIT {
            // This read also acknowledges a THRE interrupt it reports.
            let id = self.interrupt_id()?;
            if round == 0 {
                let mine = id != InterruptId::None;
                outcome.ret = IrqReturn::from_handled(mine);
                let counter = if mine { &mut self.stats.interrupts } else { &mut self.stats.not_mine };
                *counter += 1;
            }
            match id {
                InterruptId::None => return Ok(outcome),
                InterruptId::LineStatus => {
                    if self.read_lsr()? & lsr::DR != 0 {
                        outcome.rx_bytes += self.drain_rx(rx)?;
                    }
                }
                InterruptId::RxAvailable | InterruptId::RxTimeout => outcome.rx_bytes += self.drain_rx(rx)?,
                InterruptId::ThrEmpty => {
                    self.stats.thre_interrupts += 1;
                    outcome.tx_bytes += self.fill_tx_fifo(tx)?;
                    if tx.is_empty() {
                        self.write_ier(self.ier & !ier::THR_EMPTY)?;
                    }
                }
                InterruptId::ModemStatus => {
                    // Reading MSR clears the delta bits, and the interrupt.
                    self.read(regs::MSR)?;
                }
            }
        }
        self.stats.stuck_loops += 1;
        outcome.loop_limit_hit = true;
        Ok(outcome)
    }

    /// Starts transmitting what a writer has just pushed into `tx`.
    ///
    /// If a transmission is already running (IER.THRE on) the next THRE
    /// interrupt will pick the bytes up, and nothing is touched. Otherwise, if
    /// the transmitter is idle (LSR.THRE), the first FIFO-full is written
    /// straight away — an idle transmitter raises no interrupt to start it —
    /// and if bytes remain, the THRE interrupt is enabled so that the rest
    /// flows from [`handle_interrupt`](Self::handle_interrupt). Never waits.
    pub fn start_tx<const M: usize>(&mut self, tx: &mut ByteRing<M>) -> Result<(), Error> {
        if tx.is_empty() || self.ier & ier::THR_EMPTY != 0 {
            return Ok(());
        }
        if self.read_lsr()? & lsr::THRE != 0 {
            self.fill_tx_fifo(tx)?;
        }
        if !tx.is_empty() {
            // If the FIFO drained since the LSR read, enabling THRE raises
            // the interrupt at once (module docs): no wake-up is lost.
            self.write_ier(self.ier | ier::THR_EMPTY)?;
        }
        Ok(())
    }

    /// Moves input saved by [`init`](Self::init) or
    /// [`enable_irq_mode`](Self::enable_irq_mode) into `rx`, as much as fits,
    /// and returns how many bytes moved. No register access.
    ///
    /// `handle_interrupt` does this first on every call; call it right after
    /// `enable_irq_mode` so saved input does not wait for the next interrupt.
    /// What does not fit stays saved, so it still comes before newer input.
    pub fn flush_early_rx<const N: usize>(&mut self, rx: &mut ByteRing<N>) -> usize {
        let mut moved = 0;
        while !rx.is_full() {
            let Some(byte) = self.pop_early_rx() else { break };
            let stored = rx.push(byte);
            debug_assert!(stored, "checked for room");
            moved += 1;
        }
        moved
    }

    /// Reads RBR while LSR.DR, at most a FIFO-full, into `rx`; returns how
    /// many bytes it moved. When `rx` is full it throttles (see the module
    /// docs) rather than drop anything.
    fn drain_rx<const N: usize>(&mut self, rx: &mut ByteRing<N>) -> Result<usize, Error> {
        let mut stored = 0;
        // Bounded: a chip (or floating bus) reporting DR forever must not
        // keep one round going; more data waiting shows in the next IIR read.
        for _ in 0..regs::FIFO_DEPTH {
            if self.read_lsr()? & lsr::DR == 0 {
                break;
            }
            if rx.is_full() {
                self.throttle_rx()?;
                break;
            }
            let byte = self.read(regs::RBR)?;
            self.stats.rx_bytes += 1;
            // Cannot fail: checked `is_full` just above.
            let _ = rx.push(byte);
            stored += 1;
        }
        Ok(stored)
    }

    /// Stops receive interrupts: the bytes wait in the chip.
    fn throttle_rx(&mut self) -> Result<(), Error> {
        if self.ier & ier::RX_AVAILABLE != 0 {
            self.stats.rx_throttles += 1;
            self.write_ier(self.ier & !ier::RX_AVAILABLE)?;
        }
        Ok(())
    }

    /// Re-enables receive interrupts after a reader emptied part of the
    /// ring; a no-op unless the handler throttled. Bytes left in the chip
    /// raise the interrupt again at once.
    pub fn unthrottle_rx(&mut self) -> Result<(), Error> {
        if self.irq_mode && self.ier & ier::RX_AVAILABLE == 0 {
            self.write_ier(self.ier | ier::RX_AVAILABLE)?;
        }
        Ok(())
    }

    /// True while receive interrupts are off because the ring was full.
    pub fn rx_throttled(&self) -> bool {
        self.irq_mode && self.ier & ier::RX_AVAILABLE == 0
    }

    /// Writes up to one FIFO-full from `tx` to THR; the caller has seen THRE.
    fn fill_tx_fifo<const M: usize>(&mut self, tx: &mut ByteRing<M>) -> Result<usize, Error> {
        let mut sent = 0;
        while sent < self.tx_burst {
            let Some(byte) = tx.pop() else { break };
            self.send(byte)?;
            sent += 1;
        }
        Ok(sent)
    }
}
