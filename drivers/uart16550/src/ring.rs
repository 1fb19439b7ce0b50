//! A fixed-size byte ring: the producer–consumer buffer between the interrupt
//! handler and whoever reads or writes the serial port.
//!
//! xv6 calls these `cons.buf` (input) and `uart_tx_buf` (output), each an array
//! with a read and a write index (seed: "producer/consumer buffer"). Received
//! bytes are produced by the interrupt handler and consumed by `read()`; bytes
//! to send are produced by `write()` and consumed by the interrupt handler. The
//! ring decouples the two rates: input can arrive while nobody reads, and a
//! writer can queue more than the chip's 16-byte FIFO holds and go on.
//!
//! The capacity is a const generic and the storage an array, so a ring can
//! live in a `static` and the interrupt handler never allocates (DESIGN.md,
//! rule 5). A push into a full ring does not wait — an interrupt handler must
//! not — and does not panic: it refuses the byte and counts an overflow.
//!
//! The ring is not synchronised itself. The kernel keeps the UART and both
//! rings under one `SpinLockIrq`, as xv6 keeps `uart_tx_buf` under
//! `uart_tx_lock`: the lock disables local interrupts, so the handler cannot
//! interrupt a writer half-way through a push on the same CPU.

/// A first-in first-out queue of at most `N` bytes, in an array.
#[derive(Clone, Debug)]
pub struct ByteRing<const N: usize> {
    buf: [u8; N],
    /// Index of the oldest byte.
    head: usize,
    len: usize,
    overflows: u64,
}

impl<const N: usize> ByteRing<N> {
    /// How many bytes the ring holds.
    pub const CAPACITY: usize = N;

    /// An empty ring. `const`, so a ring can initialise a `static`.
    pub const fn new() -> Self {
        const { assert!(N > 0, "a ByteRing needs room for at least one byte") };
        ByteRing { buf: [0; N], head: 0, len: 0, overflows: 0 }
    }

    /// Appends `byte`. Returns `false` — and counts an overflow — if the ring
    /// is full; the byte is then not stored.
    #[must_use = "a full ring refuses the byte"]
    pub fn push(&mut self, byte: u8) -> bool {
        if self.is_full() {
            self.overflows += 1;
            return false;
        }
        self.buf[wrap::<N>(self.head + self.len)] = byte;
        self.len += 1;
        true
    }

    /// Appends as many of `bytes` as fit, in order, and returns how many: a
    /// short count like `write(2)`'s, for a writer that waits for room and
    /// retries. Not an overflow: nothing is refused that the caller does not
    /// see.
    pub fn push_slice(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        for &byte in &bytes[..n] {
            self.buf[wrap::<N>(self.head + self.len)] = byte;
            self.len += 1;
        }
        n
    }

    /// Removes and returns the oldest byte.
    pub fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        let byte = self.buf[self.head];
        self.head = wrap::<N>(self.head + 1);
        self.len -= 1;
        Some(byte)
    }

    /// Moves up to `out.len()` of the oldest bytes into `out` and returns how
    /// many (what a `read()` does).
    pub fn pop_slice(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        for slot in &mut out[..n] {
            *slot = self.buf[self.head];
            self.head = wrap::<N>(self.head + 1);
        }
        self.len -= n;
        n
    }

    /// Bytes queued.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Room left, in bytes.
    pub const fn free(&self) -> usize {
        N - self.len
    }

    /// Whether no byte is queued.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a push would be refused.
    pub const fn is_full(&self) -> bool {
        self.len == N
    }

    /// Pushes refused because the ring was full (counter, DESIGN.md rule 6).
    pub const fn overflows(&self) -> u64 {
        self.overflows
    }

    /// Forgets every queued byte (the overflow counter keeps counting).
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

impl<const N: usize> Default for ByteRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// `index % N` for `index < 2 * N`, without a division (N need not be a power
/// of two).
const fn wrap<const N: usize>(index: usize) -> usize {
    if index >= N {
        index - N
    } else {
        index
    }
}
