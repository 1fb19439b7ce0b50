//! Virtqueue set-up, MSI-X vectors and doorbells [virtio 1.2 §4.1.5.1.3,
//! §4.1.4.4, §4.1.5.2].
//!
//! **Set-up.** Queue registers in the common configuration are windowed:
//! write `queue_select`, then `queue_size`, `queue_desc` … refer to that
//! queue. `queue_size` first reads the device's maximum (0: no such queue);
//! the driver may write a smaller power of two. Then the three ring
//! addresses, the MSI-X vector, and finally `queue_enable = 1`, after which
//! the queue's configuration is frozen until the next reset.
//!
//! **MSI-X vectors.** With MSI-X enabled in PCI config space, each queue (and
//! configuration changes) can have its own interrupt: the driver writes an
//! MSI-X *table entry number* into `queue_msix_vector` /
//! `config_msix_vector` and **reads it back**, because a device that cannot
//! map it (too few vectors, MSI-X off) answers [`NO_VECTOR`] instead
//! (§4.1.5.1.2). A driver that skipped the check would wait forever for
//! interrupts the device will never send. Without MSI-X (INTx) the vectors
//! are left at `NO_VECTOR` and all causes arrive on the one line, told apart
//! by the ISR byte ([`super::isr`]).
//!
//! **Doorbells.** An "available buffer notification" is a 16-bit write of
//! the queue's index to its doorbell address: the notification structure's
//! offset plus `queue_notify_off × notify_off_multiplier` (§4.1.4.4). QEMU
//! gives each queue its own 4-byte slot (`queue_notify_off = index`,
//! multiplier 4) so that an `ioeventfd` can be bound to each; a multiplier
//! of 0 means one shared doorbell.

use hal::dma::DmaRegion;
use hal::RegisterWindow;

use super::Transport;
use crate::queue::SplitQueue;
use crate::regs::{common, NO_VECTOR};
use crate::Error;

impl<W: RegisterWindow> Transport<W> {
    /// How many virtqueues the device has.
    pub fn num_queues(&self) -> u16 {
        self.common_read_u16(common::NUM_QUEUES).unwrap_or(0)
    }

    /// The largest size queue `index` may have (0: no such queue).
    pub fn max_queue_size(&self, index: u16) -> u16 {
        if self.common_write_u16(common::QUEUE_SELECT, index).is_err() {
            return 0;
        }
        self.common_read_u16(common::QUEUE_SIZE).unwrap_or(0)
    }

    /// Hands `queue` to the device: size, ring addresses, MSI-X vector
    /// (`None`: no vector, INTx), and `queue_enable = 1`. The queue must not
    /// be larger than [`max_queue_size`](Self::max_queue_size).
    pub fn setup_queue<R: DmaRegion>(&self, queue: &SplitQueue<R>, msix_vector: Option<u16>) -> Result<(), Error> {
        let index = queue.index();
        if index >= self.num_queues() {
            return Err(Error::QueueUnavailable(index));
        }
        let max = self.max_queue_size(index); // selects the queue
        if max == 0 {
            return Err(Error::QueueUnavailable(index));
        }
        if queue.size() > max {
            return Err(Error::BadQueueSize { index, size: queue.size(), max });
        }
        if self.common_read_u16(common::QUEUE_ENABLE)? != 0 {
            return Err(Error::Unsupported("queue already enabled: the device was not reset"));
        }
        self.common_write_u16(common::QUEUE_SIZE, queue.size())?;
        self.common_write_u64(common::QUEUE_DESC, queue.desc_addr().as_u64())?;
        self.common_write_u64(common::QUEUE_DRIVER, queue.avail_addr().as_u64())?;
        self.common_write_u64(common::QUEUE_DEVICE, queue.used_addr().as_u64())?;
        self.program_vector(common::QUEUE_MSIX_VECTOR, msix_vector, Some(index))?;

        let notify_off = self.common_read_u16(common::QUEUE_NOTIFY_OFF)?;
        let offset = usize::from(notify_off) * self.layout.notify_off_multiplier as usize;
        let at = Self::at("notification", self.layout.notify, offset, 2)?;
        let mut table = self.notify_at.take();
        if table.len() <= usize::from(index) {
            table.resize(usize::from(index) + 1, None);
        }
        table[usize::from(index)] = Some(at);
        self.notify_at.set(table);

        self.common_write_u16(common::QUEUE_ENABLE, 1)
    }

    /// Programs the configuration-change MSI-X vector (`None`: none).
    pub fn set_config_vector(&self, vector: Option<u16>) -> Result<(), Error> {
        self.program_vector(common::CONFIG_MSIX_VECTOR, vector, None)
    }

    /// Writes a vector register and checks the device accepted it.
    fn program_vector(&self, register: usize, vector: Option<u16>, queue: Option<u16>) -> Result<(), Error> {
        self.common_write_u16(register, vector.unwrap_or(NO_VECTOR))?;
        if let Some(vector) = vector {
            if self.common_read_u16(register)? != vector {
                return Err(Error::VectorRejected { queue, vector });
            }
        }
        Ok(())
    }

    /// Rings queue `queue_index`'s doorbell: "there are new available
    /// buffers" (§4.1.5.2). Only after [`setup_queue`](Self::setup_queue).
    pub fn notify(&self, queue_index: u16) -> Result<(), Error> {
        let table = self.notify_at.take();
        let at = table.get(usize::from(queue_index)).copied().flatten();
        self.notify_at.set(table);
        let at = at.ok_or(Error::QueueNotReady(queue_index))?;
        Ok(self.bar.write_u16(at, queue_index)?)
    }
}
