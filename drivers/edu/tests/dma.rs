//! The driver's DMA against the edu model, with `hal::dma::sim::FakeDma` as
//! the memory both sides reach: the CPU through regions, the model by bus
//! address.

mod model;

use edu::{regs, Edu, Error, IrqOutcome};
use hal::dma::sim::{FakeDma, FakeRegion, PAGE_SIZE};
use hal::dma::{BusAddr, DmaAllocator, DmaError, DmaRegion};
use hal::sim::{Op, SimWindow};
use hal::{IrqReturn, RegisterWindow};
use model::{EduModel, BUFFER_START};

type Window = SimWindow<EduModel>;

/// 64 KiB of fake memory below edu's 28-bit limit, and an edu reaching it
/// that finishes a transfer after `tick_every` register reads.
fn setup(tick_every: u32) -> (FakeDma, Window) {
    let dma = FakeDma::new(16 * PAGE_SIZE);
    let model = EduModel::new(dma.memory()).ticking_every(tick_every);
    (dma, SimWindow::new(model, regs::BAR0_SIZE))
}

fn probed(window: &Window) -> Edu<&Window> {
    let edu = Edu::new(window).expect("the model is an edu");
    window.clear_log();
    edu
}

fn alloc(dma: &FakeDma, len: usize) -> FakeRegion {
    dma.alloc_coherent(len, Edu::<&Window>::dma_addr_limit()).unwrap()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

fn contents(region: &impl DmaRegion, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    region.read(0, &mut buf).unwrap();
    buf
}

/// The model saw no misprogrammed transfer.
fn assert_clean(w: &Window) {
    w.with_model(|m| {
        assert_eq!((m.range_errors, m.clamped, m.bus_errors), (0, 0, 0), "misprogrammed DMA");
        assert_eq!(m.bad_width_accesses, 0, "access of a width edu does not accept");
        assert_eq!(m.ignored_dma_writes, 0, "DMA register written while a transfer ran");
    });
}

#[test]
fn a_pattern_survives_a_round_trip_through_the_device() {
    let (dma, w) = setup(4);
    let mut edu = probed(&w);
    let src = alloc(&dma, 1000);
    let dst = alloc(&dma, 1000);
    let data = pattern(1000);
    src.write(0, &data).unwrap();

    edu.dma_to_device_polled(&src, 1000).unwrap();
    assert_eq!(w.with_model(|m| m.dma_buf[..1000].to_vec()), data, "the device buffer holds the data");
    // Programmed per the spec: source = RAM, destination = the device buffer.
    assert_eq!(w.with_model(|m| (m.dma_src, m.dma_dst, m.dma_cnt)), (src.bus_addr().0, BUFFER_START, 1000));

    edu.dma_from_device_polled(&dst, 1000).unwrap();
    assert_eq!(contents(&dst, 1000), data);
    assert_eq!(w.with_model(|m| (m.dma_src, m.dma_dst, m.dma_cnt)), (BUFFER_START, dst.bus_addr().0, 1000));
    assert_eq!(w.with_model(|m| m.dma_transfers), 2);

    let stats = edu.stats();
    assert_eq!((stats.dma_to, stats.dma_from, stats.timeouts), (1, 1, 0));
    assert!(!w.with_model(|m| m.line), "polled transfers raise no interrupt");
    assert_clean(&w);
}

#[test]
fn a_whole_buffer_transfer_is_accepted() {
    let (dma, w) = setup(2);
    let mut edu = probed(&w);
    let src = alloc(&dma, regs::MAX_DMA_LEN);
    let dst = alloc(&dma, regs::MAX_DMA_LEN);
    src.write(0, &pattern(regs::MAX_DMA_LEN)).unwrap();
    edu.dma_to_device_polled(&src, regs::MAX_DMA_LEN).unwrap();
    edu.dma_from_device_polled(&dst, regs::MAX_DMA_LEN).unwrap();
    assert_eq!(contents(&dst, regs::MAX_DMA_LEN), pattern(regs::MAX_DMA_LEN));
    assert_clean(&w);
}

#[test]
fn a_dma_interrupt_reports_the_transfer_and_is_acknowledged() {
    let (dma, w) = setup(u32::MAX);
    let mut edu = probed(&w);
    let src = alloc(&dma, 64);
    src.write(0, &pattern(64)).unwrap();

    edu.dma_to_device(&src, 64, true).unwrap();
    assert_eq!(edu.dma_busy(), Ok(true));
    assert_eq!(edu.dma_to_device(&src, 64, true), Err(Error::Busy), "a running engine is not reprogrammed");
    assert_eq!(edu.handle_interrupt().ret, IrqReturn::NotMine, "nothing yet");

    w.with_model(|m| m.tick());
    assert!(w.with_model(|m| m.line));
    assert_eq!(edu.dma_busy(), Ok(false));
    assert_eq!(
        edu.handle_interrupt(),
        IrqOutcome { ret: IrqReturn::Handled, factorial_done: false, dma_done: true, other: 0 }
    );
    assert!(!w.with_model(|m| m.line));
    assert_eq!(w.with_model(|m| m.dma_buf[..64].to_vec()), pattern(64));

    // Back from the device, also by interrupt, into a second region.
    let dst = alloc(&dma, 64);
    edu.dma_from_device(&dst, 64, true).unwrap();
    w.with_model(|m| m.tick());
    assert!(edu.handle_interrupt().dma_done);
    assert_eq!(contents(&dst, 64), pattern(64));
    let stats = edu.stats();
    assert_eq!((stats.interrupts, stats.dma_irqs, stats.not_mine), (2, 2, 1));
    assert_clean(&w);
}

#[test]
fn a_factorial_and_a_transfer_finishing_together_share_one_interrupt() {
    let (dma, w) = setup(u32::MAX);
    let mut edu = probed(&w);
    let region = alloc(&dma, 16);
    edu.start_factorial(6, true).unwrap();
    edu.dma_to_device(&region, 16, true).unwrap();
    w.with_model(|m| m.tick());
    let outcome = edu.handle_interrupt();
    assert_eq!(outcome, IrqOutcome { ret: IrqReturn::Handled, factorial_done: true, dma_done: true, other: 0 });
    assert_eq!(w.with_model(|m| (m.irq_status, m.line)), (0, false));
    assert_eq!(edu.factorial_done(), Ok(Some(720)));
}

#[test]
fn too_long_transfers_are_rejected_before_touching_the_device() {
    let (dma, w) = setup(2);
    let mut edu = probed(&w);
    let big = alloc(&dma, 2 * PAGE_SIZE);
    let len = regs::MAX_DMA_LEN + 1;
    assert_eq!(edu.dma_to_device(&big, len, false), Err(Error::TooLong { len }));
    assert_eq!(edu.dma_from_device_polled(&big, len), Err(Error::TooLong { len }));
    // Longer than the region itself: the device would read past it.
    let small = alloc(&dma, 100);
    assert_eq!(
        edu.dma_from_device(&small, 101, false),
        Err(Error::Dma(DmaError::OutOfRange { offset: 0, len: 101, size: 100 }))
    );
    assert!(w.log().is_empty(), "no register was touched");
    assert_eq!(w.with_model(|m| m.dma_transfers), 0);
    assert_eq!((edu.stats().dma_to, edu.stats().dma_from), (0, 0));
}

#[test]
fn regions_beyond_the_28_bit_limit_are_rejected_before_touching_the_device() {
    // Memory straddling 256 MiB, allocated by a kernel that forgot edu's mask.
    let limit = regs::DMA_ADDR_LIMIT;
    let dma = FakeDma::with_base(BusAddr(limit - PAGE_SIZE as u64), 4 * PAGE_SIZE);
    let w = SimWindow::new(EduModel::new(dma.memory()).ticking_every(2), regs::BAR0_SIZE);
    let mut edu = probed(&w);
    let below = dma.alloc_coherent(PAGE_SIZE, u64::MAX).unwrap();
    let above = dma.alloc_coherent(PAGE_SIZE, u64::MAX).unwrap();
    assert_eq!(above.bus_addr(), BusAddr(limit));

    assert_eq!(edu.dma_from_device(&above, 16, false), Err(Error::AddressLimit { addr: BusAddr(limit), len: 16 }));
    assert_eq!(edu.dma_to_device_polled(&above, 1), Err(Error::AddressLimit { addr: BusAddr(limit), len: 1 }));
    assert!(w.log().is_empty(), "no register was touched");

    // The region just below the limit is fine (as long a transfer as edu takes).
    edu.dma_to_device_polled(&below, regs::MAX_DMA_LEN).unwrap();
    assert_clean(&w);

    // An allocator told the limit refuses instead.
    assert_eq!(dma.alloc_coherent(16, Edu::<&Window>::dma_addr_limit()).err(), Some(DmaError::AddressLimit));
}

#[test]
fn the_limit_matters_because_edu_truncates_addresses() {
    // Bypassing the driver: program a transfer to 256 MiB + 0x100 by hand.
    let dma = FakeDma::with_base(BusAddr(0), 16 * PAGE_SIZE);
    let w = SimWindow::new(EduModel::new(dma.memory()), regs::BAR0_SIZE);
    w.with_model(|m| m.dma_buf[..4].copy_from_slice(b"oops"));
    w.write_u64(regs::DMA_SRC, regs::DMA_BUFFER).unwrap();
    w.write_u64(regs::DMA_DST, regs::DMA_ADDR_LIMIT + 0x100).unwrap();
    w.write_u32(regs::DMA_COUNT, 4).unwrap();
    w.write_u32(regs::DMA_CMD, regs::dma_cmd::START | regs::dma_cmd::TO_RAM).unwrap();
    w.with_model(|m| m.tick());
    // The bytes landed at 0x100: someone else's memory.
    let mut low = [0; 4];
    dma.memory().read(BusAddr(0x100), &mut low).unwrap();
    assert_eq!(&low, b"oops");
    assert_eq!(w.with_model(|m| m.clamped), 1);
}

#[test]
fn polled_dma_times_out_on_a_device_that_never_finishes() {
    let dma = FakeDma::new(4 * PAGE_SIZE);
    let w = SimWindow::new(EduModel::new(dma.memory()).stalled(), regs::BAR0_SIZE);
    let mut edu = probed(&w);
    edu.set_poll_limit(500);
    let region = alloc(&dma, 32);
    assert_eq!(edu.dma_to_device_polled(&region, 32), Err(Error::Timeout));
    // The busy check before programming, then exactly the limit of polls.
    assert_eq!(w.count(Op::Read, regs::DMA_CMD), 1 + 500);
    assert_eq!(edu.stats().timeouts, 1);
    assert_eq!(edu.dma_from_device_polled(&region, 32), Err(Error::Busy));
    assert_clean(&w);
}

#[test]
fn address_registers_are_written_whole_and_the_command_last() {
    let (dma, w) = setup(u32::MAX);
    let mut edu = probed(&w);
    let region = alloc(&dma, 8);
    edu.dma_from_device(&region, 8, true).unwrap();
    let writes: Vec<_> =
        w.log().into_iter().filter(|a| a.op == Op::Write).map(|a| (a.offset, a.width, a.value)).collect();
    use hal::sim::Width::{U32, U64};
    assert_eq!(
        writes,
        [
            (regs::DMA_SRC, U64, regs::DMA_BUFFER),
            (regs::DMA_DST, U64, region.bus_addr().0),
            (regs::DMA_COUNT, U32, 8),
            (regs::DMA_CMD, U32, u64::from(regs::dma_cmd::START | regs::dma_cmd::TO_RAM | regs::dma_cmd::IRQ)),
        ]
    );
}

#[test]
fn errors_say_what_went_wrong() {
    assert_eq!(Error::TooLong { len: 5000 }.to_string(), "edu: DMA of 5000 bytes exceeds the 4095-byte limit");
    assert_eq!(
        Error::AddressLimit { addr: BusAddr(0x1000_0000), len: 16 }.to_string(),
        "edu: DMA of 16 bytes at bus 0x10000000 is not below the device's limit 0x10000000"
    );
    assert_eq!(
        Error::BadIdentification(0x0200_00ed).to_string(),
        "edu: identification register reads 0x020000ed, expected 0x01rr00ed"
    );
    assert_eq!(
        Error::LivenessCheckFailed { wrote: 1, read: 1 }.to_string(),
        "edu: liveness check wrote 0x00000001, read 0x00000001 (expected 0xfffffffe)"
    );
    assert_eq!(Error::Dma(DmaError::OutOfMemory).to_string(), "edu: out of DMA memory");
}
