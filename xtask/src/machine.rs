//! The standard test machine, defined once and used by `run`, `test` and `bench`.
//!
//! DESIGN.md, "The standard test machine": q35 under TCG with `-cpu max`, 2 vCPUs,
//! 512 MiB, the serial console on stdio, `isa-debug-exit` for exit codes, the
//! `edu` teaching device, a virtio-blk and an NVMe disk on 64 MiB scratch images,
//! and two NICs (e1000 and virtio-net), each on its own loopback `-netdev dgram`.
//!
//! [`Machine`] is a builder: a [`Profile`] picks the device set, [`Settings`]
//! supplies the environment's overrides, and callers choose the kernel command
//! line, where the disk images live, which UDP ports the NICs use and whether
//! QEMU listens for QMP. Every concurrently running QEMU needs its own images
//! (QEMU write-locks them) and its own ports: [`IsolatedMachine`] provides both
//! for tests.
//!
//! Profiles add to the standard machine and never take a standard device away:
//! `bridges` puts a second `edu` behind a PCIe root port and a third NIC (an
//! e1000) behind a PCIe-to-PCI bridge behind another root port, so enumeration
//! has to walk secondary buses; `qboot` swaps SeaBIOS for qboot, which assigns
//! no BARs, so the kernel has to.
//!
//! A machine may also fail I/O on purpose: [`Machine::inject_errors`] puts
//! QEMU's `blkdebug` driver between a scratch disk's device and its image, so
//! reads (or writes) touching chosen sectors complete with an error the guest
//! sees (`rerror=report`/`werror=report`: reported, the VM keeps running).
//!
//! [`QemuExit`] decodes QEMU's exit status per docs/testing.md: 0 is ACPI
//! poweroff, 33 and 35 are the kernel's `isa-debug-exit` success and failure.

use crate::firmware;
use crate::kernel_build;
use crate::ports::PortBlock;
use crate::settings::{Accel, Settings};
use anyhow::{bail, Context, Result};
use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicU32, Ordering};

/// Size of each scratch disk image (created sparse).
pub const IMAGE_SIZE: u64 = 64 << 20;
/// The sector size of the scratch disks (QEMU's default logical block size).
pub const SECTOR_SIZE: u64 = 512;
/// The drive id (and image stem) of the virtio-blk disk, `vda` in the guest.
pub const VBLK_DISK: &str = "vblk0";
/// `-cpu` under KVM: the host's CPU, minus the one MSR nested KVM cannot set.
pub const KVM_CPU: &str = "host,-arch-capabilities";

/// A named machine configuration: the standard machine plus a device set or a
/// firmware. Each is one variant, its extra devices in [`Profile::extra_devices`]
/// or [`Profile::extra_nics`], its firmware in [`Machine::args`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// The standard test machine of DESIGN.md.
    #[default]
    Standard,
    /// The standard machine plus two PCIe root ports, a PCIe-to-PCI bridge behind
    /// the second, a second `edu` behind the first and an e1000 behind the bridge.
    Bridges,
    /// The standard machine booted by qboot instead of SeaBIOS: no BAR is assigned.
    Qboot,
}

impl Profile {
    /// The profile's name on the command line (`--profile <name>`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Bridges => "bridges",
            Self::Qboot => "qboot",
        }
    }

    /// `-device` values added to the standard machine, in order (a bus must be
    /// created before the devices plugged into it).
    pub fn extra_devices(self) -> &'static [&'static str] {
        match self {
            Self::Standard | Self::Qboot => &[],
            Self::Bridges => BRIDGES_DEVICES,
        }
    }

    /// NICs added to the standard machine (after [`Self::extra_devices`]).
    fn extra_nics(self) -> &'static [Nic] {
        match self {
            Self::Standard | Self::Qboot => &[],
            Self::Bridges => BRIDGES_NICS,
        }
    }

    /// UDP ports the machine's NICs occupy, starting at its port base.
    pub fn net_ports(self) -> u16 {
        let nics = NICS.len() + self.extra_nics().len();
        // Two ports per NIC: the one QEMU binds and its peer's.
        2 * nics as u16
    }
}

/// The `bridges` topology. q35's root bus is PCI Express: a `pcie-root-port` is
/// a PCIe-to-PCIe bridge with one device below it, a `pcie-pci-bridge` opens a
/// conventional PCI bus (up to 32 devices). QEMU 7.2 also accepts a
/// `pcie-pci-bridge` or a plain `pci-bridge` directly on `pcie.0`, and a
/// `pci-bridge` behind a root port (all checked). QEMU's docs/pcie.txt names
/// the `pcie-pci-bridge` as the way to start a conventional PCI hierarchy on
/// q35, on `pcie.0` or behind a root port; behind one gives three levels (root
/// port, PCIe-to-PCI bridge, device), which is what enumeration should walk.
///
/// QEMU places rp1 at 00:06.0 and rp2 at 00:07.0 (after the standard devices);
/// SeaBIOS numbers the buses depth-first: rp1's secondary is bus 1 (edu at
/// 01:00.0), rp2's bus 2 (pb1 at 02:00.0), pb1's bus 3 (e1000 at 03:00.0). Each
/// bridge has a BAR0 of its own (the root ports a 4 KiB mem32, the PCIe-to-PCI
/// bridge a 256-byte mem64).
const BRIDGES_DEVICES: &[&str] = &[
    "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1",
    "pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2",
    "pcie-pci-bridge,id=pb1,bus=rp2",
    "edu,bus=rp1",
];

/// The `bridges` profile's third NIC, behind the PCIe-to-PCI bridge.
const BRIDGES_NICS: &[Nic] =
    &[Nic { netdev: "net2", model: "e1000", mac: "52:54:00:12:34:58", port_offset: 4, bus: Some("pb1") }];

/// A scratch disk: the drive id names both the image file and the QEMU drive.
struct Disk {
    id: &'static str,
    /// The `-device` value; it refers to the drive by `id`.
    device: &'static str,
}

const DISKS: &[Disk] = &[
    Disk { id: "vblk0", device: "virtio-blk-pci,drive=vblk0" },
    Disk { id: "nvme0", device: "nvme,serial=ioxide-nvme0,drive=nvme0" },
];

/// Which requests an [`InjectError`] rule fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultIo {
    Read,
    Write,
}

/// One blkdebug `[inject-error]` rule: every request of kind `io` that covers
/// `sector` completes with `errno`, for as long as QEMU runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InjectError {
    pub io: FaultIo,
    pub sector: u64,
    pub errno: u32,
}

impl InjectError {
    /// EIO, the error a failing medium reports (the guest sees
    /// `VIRTIO_BLK_S_IOERR`).
    pub const EIO: u32 = 5;

    /// Reads covering `sector` fail with EIO.
    pub fn read_eio(sector: u64) -> Self {
        Self { io: FaultIo::Read, sector, errno: Self::EIO }
    }

    /// Writes covering `sector` fail with EIO.
    pub fn write_eio(sector: u64) -> Self {
        Self { io: FaultIo::Write, sector, errno: Self::EIO }
    }
}

/// The blkdebug configuration file for `rules` (QEMU's docs/blkdebug.txt,
/// checked against QEMU 7.2).
///
/// A rule only takes effect once its `event` has fired on the blkdebug node:
/// the `raw` format driver above it fires `read_aio` before every read and
/// `write_aio` before every write, so the first matching request already
/// fails. `iotype` keeps a read rule from failing writes to the same sector
/// (without it every request type covering the sector fails once the rule is
/// active). `once = "off"` keeps the rule for the whole run.
pub fn blkdebug_config(rules: &[InjectError]) -> String {
    let mut text = String::new();
    for r in rules {
        let (event, iotype) = match r.io {
            FaultIo::Read => ("read_aio", "read"),
            FaultIo::Write => ("write_aio", "write"),
        };
        let lines = [
            "[inject-error]".to_string(),
            format!("event = \"{event}\""),
            format!("iotype = \"{iotype}\""),
            format!("errno = \"{}\"", r.errno),
            format!("sector = \"{}\"", r.sector),
            "once = \"off\"".to_string(),
        ];
        for line in lines {
            text.push_str(&line);
            text.push('\n');
        }
        text.push('\n');
    }
    text
}

/// A NIC on a loopback dgram netdev: QEMU binds `base + port_offset` and sends to
/// `base + port_offset + 1`, where a host-side peer may listen.
struct Nic {
    netdev: &'static str,
    model: &'static str,
    mac: &'static str,
    port_offset: u16,
    /// The bus the NIC plugs into (`None`: QEMU picks a slot on the root bus).
    bus: Option<&'static str>,
}

const NICS: &[Nic] = &[
    Nic { netdev: "net0", model: "e1000", mac: "52:54:00:12:34:56", port_offset: 0, bus: None },
    Nic { netdev: "net1", model: "virtio-net-pci", mac: "52:54:00:12:34:57", port_offset: 2, bus: None },
];

/// One QEMU invocation of a profile.
#[derive(Clone, Debug)]
pub struct Machine {
    profile: Profile,
    qemu: String,
    kernel: PathBuf,
    cmdline: Vec<String>,
    smp: u32,
    mem: String,
    mem_bytes: u64,
    accel: Accel,
    net_port_base: u16,
    scratch: PathBuf,
    /// The unix socket QEMU listens on for QMP, if any.
    qmp_socket: Option<PathBuf>,
    /// The firmware image of a profile that needs one, when a unit test chose it
    /// (otherwise it is looked up in QEMU's data directories).
    bios: Option<PathBuf>,
    /// Errors injected into scratch disks, by drive id (see [`Self::inject_errors`]).
    faults: Vec<(String, Vec<InjectError>)>,
}

impl Machine {
    /// A machine booting `kernel`, configured from `settings`; the disk images go to
    /// `<target>/ioxide/run` and the NICs use `settings.net_port_base` until changed.
    pub fn new(profile: Profile, kernel: impl Into<PathBuf>, settings: &Settings) -> Self {
        Self {
            profile,
            qemu: settings.qemu.clone(),
            kernel: kernel.into(),
            cmdline: Vec::new(),
            smp: settings.smp,
            mem: settings.mem.as_qemu_arg().to_string(),
            mem_bytes: settings.mem.bytes(),
            accel: settings.accel,
            net_port_base: settings.net_port_base,
            scratch: kernel_build::scratch_root().join("run"),
            qmp_socket: None,
            bios: None,
            faults: Vec::new(),
        }
    }

    /// Appends kernel command-line words (split on whitespace).
    pub fn cmdline<S: AsRef<str>>(mut self, words: impl IntoIterator<Item = S>) -> Self {
        self.cmdline.extend(
            words
                .into_iter()
                .flat_map(|w| w.as_ref().split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .filter(|w| !w.is_empty()),
        );
        self
    }

    /// Puts the disk images in `dir`.
    pub fn scratch_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.scratch = dir.into();
        self
    }

    /// Uses UDP ports `base..base+n` for the NICs (`n` is [`Profile::net_ports`]).
    pub fn net_port_base(mut self, base: u16) -> Self {
        self.net_port_base = base;
        self
    }

    /// Makes QEMU listen for QMP on the unix socket `path`
    /// (`-qmp unix:<path>,server=on,wait=off`: QEMU does not wait for a client).
    pub fn qmp_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.qmp_socket = Some(path.into());
        self
    }

    /// Makes I/O to the scratch disk `disk` (a drive id such as [`VBLK_DISK`])
    /// fail as `rules` say, through QEMU's blkdebug driver; [`Self::prepare`]
    /// writes its configuration next to the image. Replaces earlier rules for
    /// that disk; no rules means a plain disk again.
    pub fn inject_errors(mut self, disk: &str, rules: &[InjectError]) -> Self {
        self.faults.retain(|(id, _)| id != disk);
        if !rules.is_empty() {
            self.faults.push((disk.to_string(), rules.to_vec()));
        }
        self
    }

    /// Uses `path` as the firmware of a profile that replaces SeaBIOS (`qboot`)
    /// instead of looking it up (unit tests must not depend on the host's QEMU).
    #[cfg(test)]
    pub fn bios(mut self, path: impl Into<PathBuf>) -> Self {
        self.bios = Some(path.into());
        self
    }

    /// vCPUs of this machine.
    pub fn smp(&self) -> u32 {
        self.smp
    }

    /// The first UDP port of the NICs' netdevs (QEMU binds it; the e1000's
    /// peer listens one above).
    pub fn first_net_port(&self) -> u16 {
        self.net_port_base
    }

    /// Guest memory in bytes.
    pub fn mem_bytes(&self) -> u64 {
        self.mem_bytes
    }

    /// The kernel command line as passed to `-append`.
    pub fn cmdline_text(&self) -> String {
        self.cmdline.join(" ")
    }

    /// Path of a scratch disk image.
    fn image(&self, disk: &Disk) -> PathBuf {
        self.scratch.join(format!("{}.img", disk.id))
    }

    /// Path of the image behind drive `id` (e.g. [`VBLK_DISK`]): tests write
    /// it before boot and read it back after QEMU exits.
    pub fn disk_image(&self, id: &str) -> Result<PathBuf> {
        match DISKS.iter().find(|d| d.id == id) {
            Some(disk) => Ok(self.image(disk)),
            None => bail!("no scratch disk {id:?} (disks: {:?})", DISKS.iter().map(|d| d.id).collect::<Vec<_>>()),
        }
    }

    /// The blkdebug rules of drive `id`, if any.
    fn faults_of(&self, id: &str) -> Option<&[InjectError]> {
        self.faults.iter().find(|(d, _)| d == id).map(|(_, r)| r.as_slice())
    }

    /// Path of drive `id`'s blkdebug configuration.
    fn blkdebug_path(&self, id: &str) -> PathBuf {
        self.scratch.join(format!("{id}-blkdebug.conf"))
    }

    /// The `-drive` value of a scratch disk: a raw image, or, with injected
    /// errors, `raw` over `blkdebug` over the image file (the `raw` layer is
    /// what fires the events blkdebug's rules wait for: blkdebug as the
    /// top-level driver injects nothing).
    fn drive_arg(&self, disk: &Disk) -> Result<String> {
        let file = qemu_escape(utf8(&self.image(disk))?);
        if self.faults_of(disk.id).is_none() {
            return Ok(format!("if=none,id={},file={file},format=raw", disk.id));
        }
        let config = qemu_escape(utf8(&self.blkdebug_path(disk.id))?);
        Ok(format!(
            "if=none,id={},format=raw,file.driver=blkdebug,file.config={config},\
             file.image.driver=file,file.image.filename={file},rerror=report,werror=report",
            disk.id
        ))
    }

    /// QEMU's arguments (without the program name).
    pub fn args(&self) -> Result<Vec<String>> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));

        let (cpu, accel) = match self.accel {
            Accel::Tcg => ("max", "tcg"),
            // Without `-arch-capabilities`, QEMU 7.2 aborts at start under nested
            // KVM ("failed to set MSR 0x10a"): the host KVM cannot take the
            // IA32_ARCH_CAPABILITIES value QEMU derives. The kernel never reads it.
            Accel::Kvm => (KVM_CPU, "kvm"),
        };
        push(&["-machine", "q35", "-cpu", cpu, "-accel", accel]);
        push(&["-smp", &self.smp.to_string(), "-m", &self.mem]);
        push(&["-kernel", utf8(&self.kernel)?]);
        push(&["-append", &self.cmdline_text()]);
        push(&["-display", "none", "-vga", "none", "-nic", "none"]);
        push(&["-serial", "stdio", "-monitor", "none", "-no-reboot"]);
        push(&["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
        push(&["-device", "edu"]);

        for (id, _) in &self.faults {
            self.disk_image(id)?;
        }
        for disk in DISKS {
            let drive = self.drive_arg(disk)?;
            push(&["-drive", &drive, "-device", disk.device]);
        }

        for nic in NICS {
            push(&self.nic_args(nic)?.each_ref().map(String::as_str));
        }
        // After the standard devices, so those keep their slots in every profile.
        for device in self.profile.extra_devices() {
            push(&["-device", device]);
        }
        for nic in self.profile.extra_nics() {
            push(&self.nic_args(nic)?.each_ref().map(String::as_str));
        }

        if self.profile == Profile::Qboot {
            let bios = match &self.bios {
                Some(path) => path.clone(),
                None => firmware::find(&self.qemu, firmware::QBOOT)?,
            };
            push(&["-bios", utf8(&bios)?]);
        }

        if let Some(socket) = &self.qmp_socket {
            let spec = format!("unix:{},server=on,wait=off", qemu_escape(utf8(socket)?));
            push(&["-qmp", &spec]);
        }
        Ok(a)
    }

    /// `-netdev … -device …` of one NIC.
    fn nic_args(&self, nic: &Nic) -> Result<[String; 4]> {
        let local = u32::from(self.net_port_base) + u32::from(nic.port_offset);
        if local + 1 > u32::from(u16::MAX) {
            bail!(
                "UDP ports from {} leave no room for the {} ports of the {} profile",
                self.net_port_base,
                self.profile.net_ports(),
                self.profile.name()
            );
        }
        let netdev = format!(
            "dgram,id={id},local.type=inet,local.host=127.0.0.1,local.port={local},\
             remote.type=inet,remote.host=127.0.0.1,remote.port={remote}",
            id = nic.netdev,
            remote = local + 1,
        );
        let mut device = format!("{},netdev={},mac={}", nic.model, nic.netdev, nic.mac);
        if nic.model == "e1000" {
            // QEMU's e1000 otherwise holds interrupts >= 128 us apart whatever
            // the driver programs (its `mitigation` property); the driver's
            // ITR and NAPI should be what throttles, as on real hardware.
            device.push_str(",mitigation=off");
        }
        if let Some(bus) = nic.bus {
            device.push_str(&format!(",bus={bus}"));
        }
        Ok(["-netdev".into(), netdev, "-device".into(), device])
    }

    /// A `Command` for QEMU with all arguments; stdio is left to the caller.
    pub fn command(&self) -> Result<Command> {
        let mut cmd = Command::new(&self.qemu);
        cmd.args(self.args()?);
        Ok(cmd)
    }

    /// The command line as a shell would need it typed.
    pub fn display(&self) -> Result<String> {
        let mut words = vec![shell_quote(&self.qemu)];
        words.extend(self.args()?.iter().map(|a| shell_quote(a)));
        Ok(words.join(" "))
    }

    /// Creates the scratch directory, any missing disk image (sparse,
    /// [`IMAGE_SIZE`]) and the blkdebug configurations of disks with injected
    /// errors. Existing images are kept: `run`'s disks persist.
    pub fn prepare(&self) -> Result<()> {
        fs::create_dir_all(&self.scratch).with_context(|| format!("creating {}", self.scratch.display()))?;
        for (id, rules) in &self.faults {
            let path = self.blkdebug_path(id);
            fs::write(&path, blkdebug_config(rules)).with_context(|| format!("writing {}", path.display()))?;
        }
        for disk in DISKS {
            let path = self.image(disk);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => file.set_len(IMAGE_SIZE).with_context(|| format!("sizing {}", path.display()))?,
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
        Ok(())
    }
}

fn utf8(path: &Path) -> Result<&str> {
    path.to_str().with_context(|| format!("path {} is not UTF-8", path.display()))
}

/// QEMU's option syntax uses `,` as a separator; a literal comma is written `,,`.
fn qemu_escape(value: &str) -> String {
    value.replace(',', ",,")
}

/// Quotes `word` for a POSIX shell if it needs it.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./,=:@+%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A directory for one machine's disk images; temporary ones are removed on drop.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
    temporary: bool,
}

impl ScratchDir {
    /// A fresh, empty directory `<target>/ioxide/tests/<label>-<pid>-<n>`, removed on drop.
    pub fn temporary(label: &str) -> Result<Self> {
        Self::temporary_in(&tests_dir(), label)
    }

    /// A fresh, empty directory `<parent>/<label>-<pid>-<n>`, removed on drop.
    pub fn temporary_in(parent: &Path, label: &str) -> Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = parent.join(format!("{label}-{}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path, temporary: true }),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Where per-test scratch directories are created.
fn tests_dir() -> PathBuf {
    kernel_build::scratch_root().join("tests")
}

/// Where QMP sockets live: a unix socket path must fit in 108 bytes, which a
/// deep checkout's target directory may not leave room for.
pub fn qmp_dir() -> PathBuf {
    std::env::temp_dir()
}

/// The label of per-session QMP directories in [`qmp_dir`].
pub const QMP_DIR_LABEL: &str = "ioxide-qmp";

/// Removes scratch directories left by test runs whose process is gone
/// (a killed `cargo xtask test` cannot clean up after itself).
pub fn remove_stale_scratch_dirs() {
    remove_stale_in(&tests_dir(), |_| true);
    let qmp_prefix = format!("{QMP_DIR_LABEL}-");
    remove_stale_in(&qmp_dir(), |name| name.starts_with(&qmp_prefix));
}

/// Removes the `<label>-<pid>-<n>` directories in `parent` accepted by `ours`
/// whose process is gone.
fn remove_stale_in(parent: &Path, ours: impl Fn(&str) -> bool) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| ours(n)) else {
            continue;
        };
        if let Some(pid) = scratch_dir_pid(name) {
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// The pid in a scratch directory name `<label>-<pid>-<n>`.
fn scratch_dir_pid(name: &str) -> Option<u32> {
    let mut parts = name.rsplit('-');
    parts.next()?.parse::<u32>().ok()?;
    parts.next()?.parse().ok()
}

/// A machine that can run beside others: its own scratch images (removed
/// afterwards) and its own free UDP ports.
pub struct IsolatedMachine {
    pub machine: Machine,
    _scratch: ScratchDir,
    ports: Option<PortBlock>,
}

impl IsolatedMachine {
    /// Configures `profile` booting the built kernel with `cmdline`; `label` names
    /// the scratch directory. Call [`Self::release_ports`] right before spawning QEMU.
    pub fn new(profile: Profile, cmdline: &str, label: &str) -> Result<Self> {
        let settings = Settings::from_env()?;
        let kernel = kernel_build::existing_elf()?;
        let scratch = ScratchDir::temporary(label)?;
        let ports = PortBlock::reserve(profile.net_ports())?;
        let machine = Machine::new(profile, kernel, &settings)
            .cmdline([cmdline])
            .scratch_dir(scratch.path())
            .net_port_base(ports.base());
        machine.prepare()?;
        Ok(Self { machine, _scratch: scratch, ports: Some(ports) })
    }

    /// Makes I/O to `disk` fail per `rules` (see [`Machine::inject_errors`])
    /// and writes the blkdebug configuration into the scratch directory.
    pub fn inject_errors(&mut self, disk: &str, rules: &[InjectError]) -> Result<()> {
        self.machine = self.machine.clone().inject_errors(disk, rules);
        self.machine.prepare()
    }

    /// Closes the probe sockets so QEMU can bind the ports.
    pub fn release_ports(&mut self) {
        self.ports = None;
    }
}

/// How a QEMU run ended, per the kernel↔xtask contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QemuExit {
    /// Status 0: ACPI S5 poweroff (also a reset under `-no-reboot`).
    PowerOff,
    /// Status 33: the kernel wrote 0x10 to isa-debug-exit.
    Success,
    /// Status 35: the kernel wrote 0x11 (test failures, panic, fatal exception).
    Failure,
    /// Any other status (QEMU's own errors are 1).
    Other(i32),
    /// Killed by a signal.
    Signal,
}

impl QemuExit {
    /// Status 33 of isa-debug-exit.
    pub const SUCCESS_CODE: i32 = (0x10 << 1) | 1;
    /// Status 35 of isa-debug-exit.
    pub const FAILURE_CODE: i32 = (0x11 << 1) | 1;

    /// Decodes an exit code (`None` when killed by a signal).
    pub fn from_code(code: Option<i32>) -> Self {
        match code {
            Some(0) => Self::PowerOff,
            Some(Self::SUCCESS_CODE) => Self::Success,
            Some(Self::FAILURE_CODE) => Self::Failure,
            Some(c) => Self::Other(c),
            None => Self::Signal,
        }
    }

    /// Decodes a process status.
    pub fn from_status(status: ExitStatus) -> Self {
        Self::from_code(status.code())
    }

    /// The raw status, if QEMU exited normally.
    pub fn code(self) -> Option<i32> {
        match self {
            Self::PowerOff => Some(0),
            Self::Success => Some(Self::SUCCESS_CODE),
            Self::Failure => Some(Self::FAILURE_CODE),
            Self::Other(c) => Some(c),
            Self::Signal => None,
        }
    }

    /// `cargo xtask run`'s exit code: 0 for poweroff and success, 1 otherwise.
    pub fn run_exit_code(self) -> i32 {
        match self {
            Self::PowerOff | Self::Success => 0,
            _ => 1,
        }
    }

    /// A sentence for the user.
    pub fn describe(self) -> String {
        match self {
            Self::PowerOff => "QEMU exited with status 0 (ACPI poweroff)".into(),
            Self::Success => "QEMU exited with status 33 (kernel reported success)".into(),
            Self::Failure => {
                "QEMU exited with status 35 (kernel reported failure: failed tests, panic or fatal exception)".into()
            }
            Self::Other(c) => format!("QEMU exited with status {c} (not a kernel exit code; QEMU error?)"),
            Self::Signal => "QEMU was killed by a signal".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::from_lookup(|_| None).unwrap()
    }

    fn standard() -> Machine {
        Machine::new(Profile::Standard, "/k/ioxide-kernel", &settings())
            .scratch_dir("/s")
            .cmdline(["ktest", "loglevel=debug"])
    }

    /// The argument following `flag` at every occurrence.
    fn values(args: &[String], flag: &str) -> Vec<String> {
        args.windows(2).filter(|w| w[0] == flag).map(|w| w[1].clone()).collect()
    }

    #[test]
    fn standard_machine_has_the_required_flags() {
        let args = standard().args().unwrap();
        let one = |flag: &str| {
            let v = values(&args, flag);
            assert_eq!(v.len(), 1, "{flag} in {args:?}");
            v[0].clone()
        };
        assert_eq!(one("-machine"), "q35");
        assert_eq!(one("-cpu"), "max");
        assert_eq!(one("-accel"), "tcg");
        assert_eq!(one("-smp"), "2");
        assert_eq!(one("-m"), "512M");
        assert_eq!(one("-kernel"), "/k/ioxide-kernel");
        assert_eq!(one("-append"), "ktest loglevel=debug");
        assert_eq!(one("-display"), "none");
        assert_eq!(one("-vga"), "none");
        assert_eq!(one("-nic"), "none");
        assert_eq!(one("-serial"), "stdio");
        assert_eq!(one("-monitor"), "none");
        assert!(args.contains(&"-no-reboot".to_string()));

        let devices = values(&args, "-device");
        for d in [
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "edu",
            "virtio-blk-pci,drive=vblk0",
            "nvme,serial=ioxide-nvme0,drive=nvme0",
            "e1000,netdev=net0,mac=52:54:00:12:34:56,mitigation=off",
            "virtio-net-pci,netdev=net1,mac=52:54:00:12:34:57",
        ] {
            assert!(devices.iter().any(|x| x == d), "missing -device {d}");
        }
        let drives = values(&args, "-drive");
        assert_eq!(
            drives,
            ["if=none,id=vblk0,file=/s/vblk0.img,format=raw", "if=none,id=nvme0,file=/s/nvme0.img,format=raw"]
        );
    }

    #[test]
    fn netdevs_use_consecutive_ports_from_the_base() {
        let args = standard().net_port_base(41000).args().unwrap();
        let netdevs = values(&args, "-netdev");
        assert_eq!(netdevs.len(), 2);
        assert_eq!(
            netdevs[0],
            "dgram,id=net0,local.type=inet,local.host=127.0.0.1,local.port=41000,\
             remote.type=inet,remote.host=127.0.0.1,remote.port=41001"
        );
        assert!(netdevs[1].starts_with("dgram,id=net1,"));
        assert!(netdevs[1].contains("local.port=41002,"));
        assert!(netdevs[1].ends_with("remote.port=41003"));
        let default = standard().args().unwrap();
        assert!(values(&default, "-netdev")[0].contains("local.port=40000,"));
    }

    #[test]
    fn bridges_add_root_ports_a_bridge_and_devices_behind_them() {
        let standard = standard().args().unwrap();
        let bridges = Machine::new(Profile::Bridges, "/k/ioxide-kernel", &settings())
            .scratch_dir("/s")
            .cmdline(["ktest", "loglevel=debug"])
            .net_port_base(41000)
            .args()
            .unwrap();
        let devices = values(&bridges, "-device");
        // Every standard device first, in the same order (so they keep their slots).
        let standard_devices = values(&standard, "-device");
        assert_eq!(devices[..standard_devices.len()], standard_devices[..]);
        assert_eq!(
            devices[standard_devices.len()..],
            [
                "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1",
                "pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2",
                "pcie-pci-bridge,id=pb1,bus=rp2",
                "edu,bus=rp1",
                "e1000,netdev=net2,mac=52:54:00:12:34:58,mitigation=off,bus=pb1",
            ]
        );
        let netdevs = values(&bridges, "-netdev");
        assert_eq!(netdevs.len(), 3);
        assert_eq!(
            netdevs[2],
            "dgram,id=net2,local.type=inet,local.host=127.0.0.1,local.port=41004,\
             remote.type=inet,remote.host=127.0.0.1,remote.port=41005"
        );
        assert!(values(&bridges, "-bios").is_empty());
        assert_eq!(
            (Profile::Standard.net_ports(), Profile::Bridges.net_ports(), Profile::Qboot.net_ports()),
            (4, 6, 4)
        );
    }

    #[test]
    fn ports_must_fit_below_65536() {
        let s = Settings::from_lookup(|k| (k == "IOXIDE_NET_PORT_BASE").then(|| "65532".into())).unwrap();
        assert!(Machine::new(Profile::Standard, "/k", &s).args().is_ok());
        let err = Machine::new(Profile::Bridges, "/k", &s).args().unwrap_err().to_string();
        assert!(err.contains("6 ports of the bridges profile"), "{err}");
    }

    #[test]
    fn qboot_replaces_the_firmware_only() {
        let qboot = Machine::new(Profile::Qboot, "/k/ioxide-kernel", &settings())
            .scratch_dir("/s")
            .cmdline(["ktest", "loglevel=debug"])
            .bios("/fw/qboot.rom")
            .args()
            .unwrap();
        assert_eq!(values(&qboot, "-bios"), ["/fw/qboot.rom"]);
        let without: Vec<String> = {
            let i = qboot.iter().position(|a| a == "-bios").unwrap();
            qboot.iter().enumerate().filter(|(j, _)| *j != i && *j != i + 1).map(|(_, a)| a.clone()).collect()
        };
        assert_eq!(without, standard().args().unwrap());
    }

    #[test]
    fn qmp_socket_is_a_server_that_does_not_wait() {
        let args = standard().qmp_socket("/tmp/q,1/qmp.sock").args().unwrap();
        assert_eq!(values(&args, "-qmp"), ["unix:/tmp/q,,1/qmp.sock,server=on,wait=off"]);
        assert!(values(&standard().args().unwrap(), "-qmp").is_empty());
    }

    #[test]
    fn profiles_have_their_command_line_names() {
        use clap::ValueEnum;
        for p in Profile::value_variants() {
            assert_eq!(p.to_possible_value().unwrap().get_name(), p.name());
        }
    }

    #[test]
    fn environment_overrides_reach_the_command_line() {
        let s = Settings::from_lookup(|k| match k {
            "IOXIDE_SMP" => Some("1".into()),
            "IOXIDE_MEM" => Some("1G".into()),
            "IOXIDE_ACCEL" => Some("kvm".into()),
            _ => None,
        })
        .unwrap();
        let m = Machine::new(Profile::Standard, "/k", &s);
        let args = m.args().unwrap();
        assert_eq!(values(&args, "-smp"), ["1"]);
        assert_eq!(values(&args, "-m"), ["1G"]);
        assert_eq!(values(&args, "-accel"), ["kvm"]);
        assert_eq!(values(&args, "-cpu"), [KVM_CPU]);
        assert_eq!(m.mem_bytes(), 1 << 30);
    }

    #[test]
    fn empty_cmdline_is_still_appended() {
        let m = Machine::new(Profile::Standard, "/k", &settings());
        assert_eq!(values(&m.args().unwrap(), "-append"), [""]);
        assert!(m.display().unwrap().contains("-append ''"));
    }

    #[test]
    fn cmdline_words_are_split_on_whitespace() {
        let m = Machine::new(Profile::Standard, "/k", &settings()).cmdline(["a  b", "", "c"]);
        assert_eq!(m.cmdline_text(), "a b c");
    }

    #[test]
    fn commas_in_image_paths_are_escaped() {
        let m = standard().scratch_dir("/tmp/a,b");
        let drives = values(&m.args().unwrap(), "-drive");
        assert!(drives[0].contains("file=/tmp/a,,b/vblk0.img,"));
    }

    #[test]
    fn display_is_shell_quoted() {
        let text = standard().display().unwrap();
        assert!(text.starts_with("qemu-system-x86_64 -machine q35 "));
        assert!(text.contains("-append 'ktest loglevel=debug'"));
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("a,b=c"), "a,b=c");
    }

    #[test]
    fn exit_statuses_map_per_the_contract() {
        assert_eq!(QemuExit::from_code(Some(0)), QemuExit::PowerOff);
        assert_eq!(QemuExit::from_code(Some(33)), QemuExit::Success);
        assert_eq!(QemuExit::from_code(Some(35)), QemuExit::Failure);
        assert_eq!(QemuExit::from_code(Some(1)), QemuExit::Other(1));
        assert_eq!(QemuExit::from_code(None), QemuExit::Signal);
        assert_eq!(QemuExit::PowerOff.run_exit_code(), 0);
        assert_eq!(QemuExit::Success.run_exit_code(), 0);
        assert_eq!(QemuExit::Failure.run_exit_code(), 1);
        assert_eq!(QemuExit::Other(1).run_exit_code(), 1);
        assert_eq!(QemuExit::Signal.run_exit_code(), 1);
        for c in [0, 33, 35, 7] {
            assert_eq!(QemuExit::from_code(Some(c)).code(), Some(c));
        }
    }

    #[test]
    fn blkdebug_rules_render_as_qemu_config() {
        let text = blkdebug_config(&[InjectError::read_eio(40_000), InjectError::write_eio(7)]);
        assert_eq!(
            text,
            "[inject-error]\nevent = \"read_aio\"\niotype = \"read\"\nerrno = \"5\"\nsector = \"40000\"\nonce = \"off\"\n\n\
             [inject-error]\nevent = \"write_aio\"\niotype = \"write\"\nerrno = \"5\"\nsector = \"7\"\nonce = \"off\"\n\n"
        );
        assert_eq!(blkdebug_config(&[]), "");
    }

    #[test]
    fn injected_errors_put_blkdebug_under_the_raw_format() {
        let m = standard().scratch_dir("/s,x").inject_errors(VBLK_DISK, &[InjectError::read_eio(40_000)]);
        let args = m.args().unwrap();
        let drives = values(&args, "-drive");
        assert_eq!(
            drives,
            [
                "if=none,id=vblk0,format=raw,file.driver=blkdebug,file.config=/s,,x/vblk0-blkdebug.conf,\
                 file.image.driver=file,file.image.filename=/s,,x/vblk0.img,rerror=report,werror=report",
                "if=none,id=nvme0,file=/s,,x/nvme0.img,format=raw",
            ]
        );
        // The devices do not change: only the drive behind vblk0 does.
        assert_eq!(values(&args, "-device"), values(&standard().args().unwrap(), "-device"));
        // No rules: the plain machine again.
        let plain = m.clone().inject_errors(VBLK_DISK, &[]);
        assert_eq!(plain.args().unwrap(), standard().scratch_dir("/s,x").args().unwrap());
        // An unknown disk is an error, not a silently plain machine.
        let e = standard().inject_errors("vblk9", &[InjectError::read_eio(0)]).args().unwrap_err().to_string();
        assert!(e.contains("no scratch disk \"vblk9\""), "{e}");
        assert_eq!(standard().disk_image(VBLK_DISK).unwrap(), Path::new("/s/vblk0.img"));
    }

    #[test]
    fn prepare_writes_the_blkdebug_config() {
        let dir = ScratchDir::temporary("unit-blkdebug").unwrap();
        let rules = [InjectError::read_eio(123)];
        let m = standard().scratch_dir(dir.path()).inject_errors(VBLK_DISK, &rules);
        m.prepare().unwrap();
        let conf = fs::read_to_string(dir.path().join("vblk0-blkdebug.conf")).unwrap();
        assert_eq!(conf, blkdebug_config(&rules));
        assert_eq!(fs::metadata(m.disk_image(VBLK_DISK).unwrap()).unwrap().len(), IMAGE_SIZE);
    }

    #[test]
    fn scratch_dir_names_carry_the_pid() {
        assert_eq!(scratch_dir_pid("session-1234-7"), Some(1234));
        assert_eq!(scratch_dir_pid("piped-run-99-0"), Some(99));
        assert_eq!(scratch_dir_pid("session-x-7"), None);
        assert_eq!(scratch_dir_pid("session-12-x"), None);
        assert_eq!(scratch_dir_pid("README"), None);
    }

    #[test]
    fn prepare_creates_sparse_images_once() {
        let dir = ScratchDir::temporary("unit-prepare").unwrap();
        let m = standard().scratch_dir(dir.path());
        m.prepare().unwrap();
        for id in ["vblk0", "nvme0"] {
            let meta = fs::metadata(dir.path().join(format!("{id}.img"))).unwrap();
            assert_eq!(meta.len(), IMAGE_SIZE);
        }
        // A second prepare keeps existing contents.
        let img = dir.path().join("vblk0.img");
        fs::write(&img, b"data").unwrap();
        m.prepare().unwrap();
        assert_eq!(fs::read(&img).unwrap(), b"data");
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists());
    }
}
