//! Which MSI-X table entries a driver should program, per interrupt source.
//!
//! The kernel allocates MSI-X vectors (or does not, and uses INTx) and tells
//! the driver the *table entry number* for each source: configuration
//! changes and each virtqueue. The driver writes them into the device
//! ([`Transport::setup_queue`](crate::transport::Transport::setup_queue),
//! [`Transport::set_config_vector`](crate::transport::Transport::set_config_vector)),
//! which checks that the device accepted each one.

use alloc::vec::Vec;

/// MSI-X table entries to program; `None` means "no vector" (INTx, or this
/// source shares nothing and stays silent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vectors {
    /// Entry for configuration-change interrupts.
    pub config: Option<u16>,
    /// Entry per queue index (missing entries: `None`).
    pub queues: Vec<Option<u16>>,
}

impl Vectors {
    /// No MSI-X at all: everything arrives on INTx, told apart by the ISR.
    pub fn intx() -> Self {
        Vectors::default()
    }

    /// The entry for queue `index`.
    pub fn queue(&self, index: u16) -> Option<u16> {
        self.queues.get(usize::from(index)).copied().flatten()
    }
}
