//! CRC-32 (IEEE 802.3), the checksum GPT protects its structures with.
//!
//! # How a table-driven CRC works
//!
//! A CRC is the remainder of the message, seen as a polynomial over GF(2),
//! divided by a generator polynomial — here 0x04C11DB7, processed
//! bit-reversed ("reflected", 0xEDB88320) because the bytes are consumed
//! least-significant bit first. Dividing a byte at a time means XOR-ing in
//! the remainder of that byte's contribution, which depends only on 8 bits:
//! a 256-entry table, computed here at compile time by a `const fn`. The
//! register starts at all ones and is inverted at the end (so leading and
//! trailing zero bytes change the result). `crc32(b"123456789") ==
//! 0xCBF43926`, the standard check value; UEFI §4.2 and Linux's `efi_crc32`
//! use exactly this variant.

const POLY: u32 = 0xEDB8_8320;

const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static TABLE: [u32; 256] = make_table();

/// A CRC-32 being computed over data that arrives in pieces.
#[derive(Debug, Clone, Copy)]
pub struct Crc32(u32);

impl Crc32 {
    /// Starts a CRC.
    pub fn new() -> Self {
        Crc32(!0)
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        let mut c = self.0;
        for &b in data {
            c = TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }

    /// The CRC of everything fed so far.
    pub fn finish(&self) -> u32 {
        !self.0
    }
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

/// CRC-32 of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(data);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
        let mut c = Crc32::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.finish(), 0xCBF4_3926);
    }
}
