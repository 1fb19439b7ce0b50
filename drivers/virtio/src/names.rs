//! Human names of feature bits, for a shell that shows what was negotiated
//! (`virtio` in ioxide). The bits themselves are in [`crate::regs`].

use crate::regs::{blk, features, net, DEVICE_ID_BLK, DEVICE_ID_NET};

/// Device-independent bits (virtio 1.2 §6).
const COMMON: &[(u64, &str)] = &[
    (features::INDIRECT_DESC, "INDIRECT_DESC"),
    (features::EVENT_IDX, "EVENT_IDX"),
    (features::VERSION_1, "VERSION_1"),
    (features::ACCESS_PLATFORM, "ACCESS_PLATFORM"),
    (features::RING_PACKED, "RING_PACKED"),
    (features::IN_ORDER, "IN_ORDER"),
    (features::NOTIFICATION_DATA, "NOTIFICATION_DATA"),
];

/// virtio-net bits (§5.1.3).
const NET: &[(u64, &str)] = &[
    (net::F_CSUM, "CSUM"),
    (net::F_GUEST_CSUM, "GUEST_CSUM"),
    (net::F_MTU, "MTU"),
    (net::F_MAC, "MAC"),
    (net::F_MRG_RXBUF, "MRG_RXBUF"),
    (net::F_STATUS, "STATUS"),
    (net::F_CTRL_VQ, "CTRL_VQ"),
    (net::F_MQ, "MQ"),
];

/// virtio-blk bits (§5.2.3).
const BLK: &[(u64, &str)] = &[
    (blk::F_SIZE_MAX, "SIZE_MAX"),
    (blk::F_SEG_MAX, "SEG_MAX"),
    (blk::F_GEOMETRY, "GEOMETRY"),
    (blk::F_RO, "RO"),
    (blk::F_BLK_SIZE, "BLK_SIZE"),
    (blk::F_FLUSH, "FLUSH"),
    (blk::F_TOPOLOGY, "TOPOLOGY"),
    (blk::F_MQ, "MQ"),
    (blk::F_DISCARD, "DISCARD"),
    (blk::F_WRITE_ZEROES, "WRITE_ZEROES"),
];

/// The names of the bits set in `bits` for a device of type `device_id`
/// (1 = net, 2 = blk), device-specific ones first; unnamed bits as `bit<N>`.
pub fn feature_names(bits: u64, device_id: u16) -> alloc::vec::Vec<alloc::borrow::Cow<'static, str>> {
    let specific: &[(u64, &str)] = match device_id {
        DEVICE_ID_NET => NET,
        DEVICE_ID_BLK => BLK,
        _ => &[],
    };
    let mut names = alloc::vec::Vec::new();
    let mut left = bits;
    for &(bit, name) in specific.iter().chain(COMMON) {
        if bits & bit != 0 {
            names.push(alloc::borrow::Cow::Borrowed(name));
            left &= !bit;
        }
    }
    while left != 0 {
        let bit = left.trailing_zeros();
        names.push(alloc::borrow::Cow::Owned(alloc::format!("bit{bit}")));
        left &= left - 1;
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_and_unknown_bits() {
        let bits = features::VERSION_1 | features::EVENT_IDX | net::F_MAC | (1 << 63);
        let names = feature_names(bits, DEVICE_ID_NET);
        assert_eq!(names, ["MAC", "EVENT_IDX", "VERSION_1", "bit63"]);
        // The same bit means different things on different devices.
        assert_eq!(feature_names(1 << 5, DEVICE_ID_BLK), ["RO"]);
        assert_eq!(feature_names(1 << 5, DEVICE_ID_NET), ["MAC"]);
        assert!(feature_names(0, DEVICE_ID_BLK).is_empty());
    }
}
