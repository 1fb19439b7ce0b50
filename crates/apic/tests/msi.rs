//! MSI message composition and decoding. Expected values are hand-computed
//! from SDM vol. 3A §11.11.

use apic::{DeliveryMode, DestinationMode, Error, Msi, MsiMessage, Trigger};

#[test]
fn vector_0x41_to_apic_1_edge_is_fee01000_0041() {
    let msg = MsiMessage::compose(0x41, 1, Trigger::Edge, false).unwrap();
    assert_eq!(msg, MsiMessage { address: 0xfee0_1000, data: 0x0041 });
    assert_eq!((msg.address_low(), msg.address_high()), (0xfee0_1000, 0));
}

#[test]
fn level_messages_carry_trigger_and_assert_bits() {
    // Destination 0xFF in address bits 19:12; data bit 15 level, bit 14 assert.
    let assert = MsiMessage::compose(0x30, 0xff, Trigger::Level, true).unwrap();
    assert_eq!(assert, MsiMessage { address: 0xfeef_f000, data: 0xc030 });
    let deassert = MsiMessage::compose(0x30, 0xff, Trigger::Level, false).unwrap();
    assert_eq!(deassert.data, 0x8030);
}

#[test]
fn redirection_hint_logical_mode_and_delivery_mode_land_in_their_bits() {
    let msi = Msi {
        redirection_hint: true,
        destination_mode: DestinationMode::Logical,
        delivery_mode: DeliveryMode::LowestPriority,
        ..Msi::new(0x50, 3, Trigger::Edge, false)
    };
    // RH = bit 3, DM = bit 2; lowest priority = 001 in data bits 10:8.
    assert_eq!(msi.encode(), Ok(MsiMessage { address: 0xfee0_300c, data: 0x0150 }));
    let nmi = Msi { delivery_mode: DeliveryMode::Nmi, ..Msi::new(0, 0, Trigger::Edge, false) };
    assert_eq!(nmi.encode(), Ok(MsiMessage { address: 0xfee0_0000, data: 0x0400 }), "NMI ignores the vector");
}

#[test]
fn exception_vectors_are_refused() {
    for vector in 0..32 {
        assert_eq!(MsiMessage::compose(vector, 0, Trigger::Edge, false), Err(Error::InvalidVector(vector)));
    }
    assert!(MsiMessage::compose(32, 0, Trigger::Edge, false).is_ok());
}

#[test]
fn decode_inverts_encode() {
    let modes = [
        DeliveryMode::Fixed,
        DeliveryMode::LowestPriority,
        DeliveryMode::Smi,
        DeliveryMode::Nmi,
        DeliveryMode::Init,
        DeliveryMode::ExtInt,
    ];
    let mut checked = 0;
    for vector in [0x20, 0x41, 0x9c, 0xff] {
        for destination in [0, 1, 0x5a, 0xff] {
            for delivery_mode in modes {
                for destination_mode in [DestinationMode::Physical, DestinationMode::Logical] {
                    for trigger in [Trigger::Edge, Trigger::Level] {
                        for (assert, redirection_hint) in [(false, false), (true, false), (false, true), (true, true)] {
                            let msi = Msi {
                                vector,
                                destination,
                                destination_mode,
                                redirection_hint,
                                delivery_mode,
                                trigger,
                                assert,
                            };
                            let msg = msi.encode().unwrap();
                            assert_eq!(msg.decode(), Ok(msi), "{msg:x?}");
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 4 * 4 * 6 * 2 * 2 * 4);
}

#[test]
fn decode_ignores_dont_care_bits() {
    let msi = Msi::new(0x41, 1, Trigger::Edge, false);
    // Address bits 1:0 are don't-care; data bits 31:16 and 13:11 are reserved.
    let noisy = MsiMessage { address: 0xfee0_1003, data: 0xffff_3841 };
    assert_eq!(noisy.decode(), Ok(msi));
}

#[test]
fn decode_refuses_what_is_not_an_x86_msi() {
    for address in [0xfec0_0000, 0x1_fee0_1000, 0xfee0_1010, 0] {
        let msg = MsiMessage { address, data: 0x41 };
        assert_eq!(msg.decode(), Err(Error::NotMsiAddress(address)), "{address:#x}");
    }
    let reserved = MsiMessage { address: 0xfee0_0000, data: 0x0341 };
    assert_eq!(reserved.decode(), Err(Error::ReservedDeliveryMode(0b011)));
}
