//! What an interrupt handler tells the dispatcher.
//!
//! Interrupt lines can be shared: a level-triggered PCI INTx line may be wired to
//! several devices, so when it fires the kernel calls every handler registered on
//! it, and each handler must check its own device's status register to see
//! whether the interrupt was its device's doing. [`IrqReturn`] is that answer —
//! Linux's `IRQ_HANDLED` / `IRQ_NONE`. The dispatcher counts both per line; a
//! line on which nobody ever says [`Handled`](IrqReturn::Handled) is a stuck or
//! misrouted interrupt (Linux disables such a line as "nobody cared").

/// A hard interrupt handler's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the dispatcher needs to know whether the interrupt was handled"]
pub enum IrqReturn {
    /// The device had raised the interrupt and the handler dealt with it
    /// (acknowledged it at the device, and did or scheduled the work).
    Handled,
    /// The device had nothing pending: the interrupt belongs to someone else.
    NotMine,
}

impl IrqReturn {
    /// `Handled` if `handled`, else `NotMine` (Linux's `IRQ_RETVAL(x)`).
    pub const fn from_handled(handled: bool) -> Self {
        if handled {
            IrqReturn::Handled
        } else {
            IrqReturn::NotMine
        }
    }

    /// Whether the interrupt was handled.
    pub const fn is_handled(self) -> bool {
        matches!(self, IrqReturn::Handled)
    }
}

#[cfg(test)]
mod tests {
    use super::IrqReturn;

    #[test]
    fn converts_from_and_to_bool() {
        assert_eq!(IrqReturn::from_handled(true), IrqReturn::Handled);
        assert_eq!(IrqReturn::from_handled(false), IrqReturn::NotMine);
        assert!(IrqReturn::Handled.is_handled());
        assert!(!IrqReturn::NotMine.is_handled());
    }
}
