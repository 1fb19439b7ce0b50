//! Bring-up against the e1000 model: reset, address, rings, control registers.

mod model;

use e1000::{Config, Error, E1000, MAX_TX_FRAME, POLL_LIMIT};
use hal::sim::Op;
use model::*;

/// Reads descriptor `i` (16 bytes) of the ring at `base` through the model's memory.
fn descriptor(dma_memory: &hal::dma::sim::PhysMemory, base: u64, i: usize) -> [u8; 16] {
    let mut d = [0; 16];
    dma_memory.read(hal::dma::BusAddr(base + 16 * i as u64), &mut d).unwrap();
    d
}

#[test]
fn init_resets_programs_both_rings_and_the_control_registers() {
    let (dma, w) = setup(1024);
    let memory = dma.memory();
    let config = small();
    let nic = probe(&w, dma, config);
    assert_eq!(nic.mac(), MAC);
    assert!(nic.link_up());
    // Ring descriptors plus one buffer per descriptor, each way.
    assert_eq!(nic.allocator().allocations(), 2 + 16 + 16);

    w.with_model(|m| {
        assert_eq!(m.resets, 1, "one global reset");
        assert_eq!(m.reg(CTRL) & (CTRL_SLU | CTRL_ASDE), CTRL_SLU | CTRL_ASDE, "link set up");
        assert_eq!(m.reg(CTRL) & CTRL_RST, 0);
        assert_eq!(m.reg(IMS), 0, "interrupts stay masked until enable_interrupts");

        // Receive ring [E1000 14.4].
        let rx_base = u64::from(m.reg(RDBAH)) << 32 | u64::from(m.reg(RDBAL));
        assert_eq!(rx_base % 16, 0);
        assert_eq!(m.reg(RDLEN), 16 * 16);
        assert_eq!(m.reg(RDH), 0);
        assert_eq!(m.reg(RDT), 15, "all descriptors but one handed to the device");
        let mut buffers = std::collections::BTreeSet::new();
        for i in 0..16 {
            let d = descriptor(&memory, rx_base, i);
            let addr = u64::from_le_bytes(d[0..8].try_into().unwrap());
            assert_ne!(addr, 0, "descriptor {i} has a buffer");
            assert_eq!(&d[8..16], &[0; 8], "descriptor {i} status clear");
            // The buffer lies in the fake memory and holds 2048 bytes.
            assert!(memory.write(hal::dma::BusAddr(addr + 2047), &[0]).is_ok());
            buffers.insert(addr);
        }
        assert_eq!(buffers.len(), 16, "one distinct buffer per descriptor");
        let rctl = m.reg(RCTL);
        assert_eq!(rctl & (RCTL_EN | RCTL_BAM | RCTL_SECRC), RCTL_EN | RCTL_BAM | RCTL_SECRC);
        assert_eq!(rctl & (RCTL_UPE | RCTL_MPE | RCTL_LPE | RCTL_SBP), 0);
        assert_eq!(rctl & (RCTL_BSEX | 3 << 16), 0, "BSIZE 00 without BSEX: 2048-byte buffers");
        assert_eq!(rctl & (3 << 12), 0, "multicast offset 00");

        // Transmit ring [E1000 14.5].
        let tx_base = u64::from(m.reg(TDBAH)) << 32 | u64::from(m.reg(TDBAL));
        assert_eq!(tx_base % 16, 0);
        assert_ne!(tx_base, rx_base);
        assert_eq!(m.reg(TDLEN), 16 * 16);
        assert_eq!((m.reg(TDH), m.reg(TDT)), (0, 0));
        let tctl = m.reg(TCTL);
        assert_eq!(tctl & (TCTL_EN | TCTL_PSP), TCTL_EN | TCTL_PSP);
        assert_eq!(tctl >> 4 & 0xff, 0x0f, "collision threshold");
        assert_eq!(tctl >> 12 & 0x3ff, 0x40, "full-duplex collision distance");
        assert_eq!(m.reg(TIPG), 10 | 8 << 10 | 6 << 20);
        assert_eq!(m.reg(ITR), 0);

        // Our address in entry 0, valid.
        assert_eq!(m.reg(RA), u32::from_le_bytes([MAC[0], MAC[1], MAC[2], MAC[3]]));
        assert_eq!(m.reg(RA + 4), u32::from_le_bytes([MAC[4], MAC[5], 0, 0]) | RAH_AV);
    });
    assert_clean(&w);
}

#[test]
fn init_scrubs_what_an_earlier_driver_left_because_qemu_resets_nothing() {
    let (dma, w) = setup(1024);
    w.with_model(|m| {
        m.set_reg(IMS, 0xffff);
        m.set_reg(ICR, ICR_RXT0);
        m.set_reg(RDH, 5);
        m.set_reg(TDH, 3);
        m.set_reg(TDT, 3);
        m.set_reg(ITR, 1234);
        m.set_reg(RCTL, RCTL_UPE | RCTL_MPE);
        for word in 0..128 {
            m.set_reg(MTA + 4 * word, 0xdead_beef);
        }
        m.set_reg(RA + 8, 0x0403_0201); // a stale second filter
        m.set_reg(RA + 12, 0x0605 | RAH_AV);
    });
    let _nic = probe(&w, dma, small());
    w.with_model(|m| {
        assert_eq!(m.reg(IMS), 0);
        // (TXQE is new: QEMU raises it whenever TDT or TCTL is written.)
        assert_eq!(m.reg(ICR) & ICR_RXT0, 0, "stale causes read away");
        assert!(!m.line);
        assert_eq!((m.reg(RDH), m.reg(TDH), m.reg(TDT)), (0, 0, 0));
        assert_eq!(m.reg(ITR), 0);
        assert_eq!(m.reg(RCTL) & (RCTL_UPE | RCTL_MPE), 0);
        assert!((0..128).all(|word| m.reg(MTA + 4 * word) == 0), "multicast table cleared");
        assert_eq!(m.reg(RA + 12) & RAH_AV, 0, "stale address filter invalidated");
    });
}

#[test]
fn init_works_when_reset_restores_power_on_values() {
    let (dma, w) = setup(1024);
    w.with_model(|m| m.resets_registers = true);
    let nic = probe(&w, dma, small());
    assert_eq!(nic.mac(), MAC);
    w.with_model(|m| {
        assert_eq!(m.reg(RCTL) & RCTL_EN, RCTL_EN);
        assert_eq!(m.reg(TCTL) & TCTL_EN, TCTL_EN);
        assert_eq!(m.reg(RDT), 15);
    });
    assert_eq!(w.with_model(|m| m.receive(&to_us(1, 100))), Rx::Stored);
}

#[test]
fn the_mac_comes_from_the_eeprom_when_ral_rah_are_not_valid() {
    let (dma, w) = setup(1024);
    let eeprom_mac = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];
    w.with_model(|m| {
        for i in 0..3 {
            m.eeprom[i] = u16::from_le_bytes([eeprom_mac[2 * i], eeprom_mac[2 * i + 1]]);
        }
        m.set_reg(RA, 0x1234_5678);
        m.set_reg(RA + 4, 0x9abc); // AV clear
    });
    let nic = E1000::new(&w, dma, small()).unwrap();
    assert_eq!(nic.mac(), eeprom_mac);
    assert_eq!(w.count(Op::Write, EERD), 3, "EEPROM words 0, 1, 2");
    w.with_model(|m| {
        assert_eq!(m.reg(RA), u32::from_le_bytes([0x02, 0x00, 0x5e, 0x10]));
        assert_eq!(m.reg(RA + 4), 0x3020 | RAH_AV, "programmed and marked valid");
    });

    // With a valid RAL/RAH pair the EEPROM is not touched.
    let (dma, w) = setup(1024);
    let nic = E1000::new(&w, dma, small()).unwrap();
    assert_eq!(nic.mac(), MAC);
    assert_eq!(w.count(Op::Write, EERD), 0);
}

#[test]
fn a_missing_address_is_an_error() {
    let (dma, w) = setup(1024);
    w.with_model(|m| {
        m.eeprom = [0xffff; 64]; // an erased EEPROM
        m.set_reg(RA + 4, 0);
    });
    let err = E1000::new(&w, dma, small()).unwrap_err();
    assert_eq!(err, Error::InvalidMac([0xff; 6]));
    assert_eq!(err.to_string(), "e1000: no valid Ethernet address (found ff:ff:ff:ff:ff:ff)");
}

#[test]
fn waits_on_the_device_are_bounded() {
    // A reset that never completes.
    let (dma, w) = setup(1024);
    w.with_model(|m| m.reset_sticks = true);
    assert_eq!(E1000::new(&w, dma, small()).unwrap_err(), Error::ResetTimeout);
    assert!(w.count(Op::Read, CTRL) <= POLL_LIMIT as usize + 1);
    w.with_model(|m| assert_eq!(m.reg(RCTL) & RCTL_EN, 0, "receiver left off"));

    // An EEPROM that never answers (and no address in RAL/RAH).
    let (dma, w) = setup(1024);
    w.with_model(|m| {
        m.eeprom_dead = true;
        m.set_reg(RA + 4, 0);
    });
    assert_eq!(E1000::new(&w, dma, small()).unwrap_err(), Error::EepromTimeout { word: 0 });
    assert_eq!(w.count(Op::Read, EERD), POLL_LIMIT as usize);
}

#[test]
fn a_bad_configuration_is_refused_before_the_device_is_touched() {
    let bad = [
        Config { rx_ring: 12, ..small() },
        Config { rx_ring: 0, ..small() },
        Config { tx_ring: 4, ..small() },
        Config { tx_ring: 8192, ..small() },
        Config { rx_buffer: 3000, ..small() },
        Config { rx_buffer: 0, ..small() },
    ];
    for config in bad {
        let (dma, w) = setup(64);
        assert!(matches!(E1000::new(&w, dma, config).unwrap_err(), Error::InvalidConfig(_)), "{config:?}");
        assert!(w.log().is_empty(), "{config:?} touched the device");
    }
    assert_eq!(Config::default(), Config { rx_ring: 256, tx_ring: 256, rx_buffer: 2048, itr: 0, promiscuous: false });
    assert!(Config::default().validate().is_ok());
}

#[test]
fn allocation_failure_and_a_small_window_are_errors() {
    let (dma, w) = setup(8);
    assert!(matches!(E1000::new(&w, dma, small()).unwrap_err(), Error::Dma(_)));

    let dma = hal::dma::sim::FakeDma::new(64 * 4096);
    let w = hal::sim::SimWindow::new(E1000Model::new(dma.memory(), MAC), 0x1000);
    assert!(matches!(E1000::new(&w, dma, small()).unwrap_err(), Error::WindowTooSmall { size: 0x1000 }));
}

#[test]
fn the_default_configuration_fits_and_buffers_are_sized() {
    let (dma, w) = setup(1024);
    let nic = probe(&w, dma, Config::default());
    assert_eq!(nic.allocator().allocations(), 2 + 256 + 256);
    assert_eq!(nic.tx_free_slots(), 255);
    w.with_model(|m| {
        assert_eq!(m.reg(RDLEN), 256 * 16);
        assert_eq!(m.reg(RDT), 255);
    });
    // A frame of the largest size the transmitter accepts fits its bounce buffer.
    let mut nic = nic;
    nic.transmit(&to_us(0, MAX_TX_FRAME)).unwrap();
    nic.flush_tx();
    assert_eq!(w.with_model(|m| m.transmitted[0].bytes.len()), MAX_TX_FRAME);
    assert_clean(&w);
}

#[test]
fn other_buffer_sizes_program_bsize_and_bsex() {
    for (size, bits) in [(256, 3 << 16), (512, 2 << 16), (1024, 1 << 16), (4096, RCTL_BSEX | 3 << 16)] {
        let (dma, w) = setup(1024);
        let _nic = probe(&w, dma, Config { rx_buffer: size, ..small() });
        w.with_model(|m| assert_eq!(m.reg(RCTL) & (RCTL_BSEX | 3 << 16), bits, "{size}-byte buffers"));
    }
}

#[test]
fn itr_is_programmed_and_changeable() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, Config { itr: 651, ..small() });
    assert_eq!(w.with_model(|m| m.reg(ITR)), 651);
    nic.set_itr(5580);
    assert_eq!(w.with_model(|m| m.reg(ITR)), 5580);
    assert_eq!(nic.config().itr, 5580);
    nic.set_itr(0);
    assert_eq!(w.with_model(|m| m.reg(ITR)), 0);
}
