//! A small QMP client: QEMU's own view of the machine, for oracle tests.
//!
//! QEMU started with `-qmp unix:<path>,server=on,wait=off` listens on a unix
//! socket for the QEMU Machine Protocol: one JSON object per line. On connect
//! QEMU sends a greeting (`{"QMP": {...}}`); the client must send
//! `qmp_capabilities` before any other command. Each command
//! (`{"execute": …, "id": …}`) is answered by `{"return": …, "id": …}` or
//! `{"error": {"class": …, "desc": …}, "id": …}`; asynchronous events
//! (`{"event": …}`) may arrive in between and are skipped. Every read and write
//! here has a deadline: a QEMU that stops answering is an error, not a hang.
//!
//! [`Qmp::query_pci`] runs `query-pci` and flattens its tree (devices behind a
//! bridge are nested in the bridge's `pci_bridge.devices`) into one
//! [`QmpPciFunction`] per function, with the BARs as QEMU decodes them right now.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Number, Value};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// How long QEMU may take to accept the connection and negotiate.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one command may take to answer.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// A reply longer than this is not QEMU talking (`query-pci` is a few KiB).
const MAX_MESSAGE: usize = 16 << 20;
/// Pause between connection attempts while QEMU creates its socket.
const RETRY: Duration = Duration::from_millis(20);

/// A negotiated QMP connection.
pub struct Qmp {
    stream: UnixStream,
    /// Bytes received but not yet returned as a message.
    pending: Vec<u8>,
    next_id: u64,
}

impl Qmp {
    /// Connects to the socket at `path` (retrying until QEMU has created it),
    /// reads the greeting and negotiates capabilities, all within `timeout`.
    /// Between attempts `alive` is asked whether waiting still makes sense (an
    /// error from it, say "QEMU exited", ends the wait at once).
    pub fn connect(path: &Path, timeout: Duration, mut alive: impl FnMut() -> Result<()>) -> Result<Self> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(e) => {
                    if Instant::now() >= deadline {
                        return Err(e).with_context(|| {
                            format!("connecting to QMP at {} within {:.1} s", path.display(), timeout.as_secs_f64())
                        });
                    }
                    alive()?;
                    thread::sleep(RETRY);
                }
            }
        };
        Self::handshake(stream, deadline)
    }

    /// Reads the greeting from `stream` and sends `qmp_capabilities`.
    pub fn handshake(stream: UnixStream, deadline: Instant) -> Result<Self> {
        let mut qmp = Self { stream, pending: Vec::new(), next_id: 1 };
        let greeting = qmp.read_message(deadline).context("reading QMP's greeting")?;
        if greeting.get("QMP").is_none() {
            bail!("QMP greeting without a `QMP` member: {greeting}");
        }
        qmp.execute_until("qmp_capabilities", None, deadline).context("negotiating QMP capabilities")?;
        Ok(qmp)
    }

    /// Runs `command` (with `arguments`, an object, if given) and returns its
    /// `return` value; QEMU's `error` reply is an error naming its class.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>, timeout: Duration) -> Result<Value> {
        self.execute_until(command, arguments, Instant::now() + timeout)
    }

    fn execute_until(&mut self, command: &str, arguments: Option<Value>, deadline: Instant) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let mut request = json!({ "execute": command, "id": id });
        if let Some(args) = arguments {
            request["arguments"] = args;
        }
        let mut line = request.to_string().into_bytes();
        line.push(b'\n');
        self.write_all(&line, deadline).with_context(|| format!("sending QMP command `{command}`"))?;
        loop {
            let reply =
                self.read_message(deadline).with_context(|| format!("waiting for QMP's reply to `{command}`"))?;
            if reply.get("event").is_some() || reply.get("id").and_then(Value::as_u64) != Some(id) {
                continue;
            }
            if let Some(value) = reply.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = reply.get("error") {
                let class = error.get("class").and_then(Value::as_str).unwrap_or("?");
                let desc = error.get("desc").and_then(Value::as_str).unwrap_or("?");
                bail!("QMP command `{command}` failed: {class}: {desc}");
            }
            bail!("QMP reply to `{command}` has neither `return` nor `error`: {reply}");
        }
    }

    /// `query-pci`, flattened: one entry per function on every bus.
    pub fn query_pci(&mut self) -> Result<Vec<QmpPciFunction>> {
        let value = self.execute("query-pci", None, COMMAND_TIMEOUT)?;
        flatten_query_pci(&value)
    }

    fn write_all(&mut self, mut bytes: &[u8], deadline: Instant) -> Result<()> {
        while !bytes.is_empty() {
            let left = remaining(deadline).ok_or_else(|| anyhow!("timed out writing to QMP"))?;
            self.stream.set_write_timeout(Some(left))?;
            match self.stream.write(bytes) {
                Ok(0) => bail!("QMP connection closed"),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if retryable(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The next non-blank line, parsed as JSON, before `deadline`.
    fn read_message(&mut self, deadline: Instant) -> Result<Value> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line);
                if text.trim().is_empty() {
                    continue;
                }
                return serde_json::from_str(text.trim()).with_context(|| format!("QMP sent invalid JSON: {text:?}"));
            }
            if self.pending.len() > MAX_MESSAGE {
                bail!("QMP message longer than {MAX_MESSAGE} bytes");
            }
            let Some(left) = remaining(deadline) else {
                bail!("timed out waiting for QMP");
            };
            self.stream.set_read_timeout(Some(left))?;
            let mut buf = [0u8; 8192];
            match self.stream.read(&mut buf) {
                Ok(0) => bail!("QEMU closed the QMP connection"),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if retryable(&e) => {}
                Err(e) => return Err(e).context("reading from QMP"),
            }
        }
    }
}

/// Time left before `deadline`, if any (a zero timeout means "block" to std).
fn remaining(deadline: Instant) -> Option<Duration> {
    let left = deadline.checked_duration_since(Instant::now())?;
    (!left.is_zero()).then_some(left)
}

fn retryable(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted)
}

// ---- query-pci ----

/// One PCI function as QEMU sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QmpPciFunction {
    pub bus: u8,
    pub slot: u8,
    pub function: u8,
    pub vendor_id: u16,
    pub device_id: u16,
    /// Base class and subclass, `base << 8 | sub` (QMP reports no prog-if).
    pub class: u16,
    /// 1 for a PCI-to-PCI bridge (QMP gives it a `pci_bridge` member), else 0.
    pub header_type: u8,
    /// A bridge's secondary bus number as currently programmed.
    pub secondary_bus: Option<u8>,
    /// 0 for none, 1–4 for INTA–INTD; `None` if this QEMU does not report it.
    pub irq_pin: Option<u8>,
    pub regions: Vec<QmpRegion>,
    /// The `-device id=` of the function, if it has one.
    pub qdev_id: Option<String>,
}

/// One BAR (or, at index 6, the expansion ROM) as QEMU decodes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QmpRegion {
    /// 0–5 for BARs, 6 for the expansion ROM.
    pub bar: u8,
    pub kind: RegionKind,
    /// `None` when QEMU does not decode the region: never programmed, or the
    /// function's I/O or memory decoding is off (QMP reports -1).
    pub address: Option<u64>,
    pub size: u64,
    pub prefetch: bool,
    pub mem_type_64: bool,
}

/// Address space of a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    Io,
    Memory,
}

/// The index QEMU gives the expansion ROM among a function's regions.
pub const ROM_REGION: u8 = 6;

// The shapes of QAPI's PciInfo, PciDeviceInfo and friends, as far as they are used.

#[derive(Deserialize)]
struct PciInfo {
    devices: Vec<DeviceInfo>,
}

#[derive(Deserialize)]
struct DeviceInfo {
    bus: i64,
    slot: i64,
    function: i64,
    class_info: ClassInfo,
    id: IdInfo,
    #[serde(default)]
    irq_pin: Option<i64>,
    regions: Vec<RegionInfo>,
    #[serde(default)]
    pci_bridge: Option<BridgeInfo>,
    #[serde(default)]
    qdev_id: Option<String>,
}

#[derive(Deserialize)]
struct ClassInfo {
    class: i64,
}

#[derive(Deserialize)]
struct IdInfo {
    vendor: i64,
    device: i64,
}

#[derive(Deserialize)]
struct RegionInfo {
    bar: i64,
    #[serde(rename = "type")]
    kind: String,
    address: Number,
    size: Number,
    #[serde(default)]
    prefetch: Option<bool>,
    #[serde(default)]
    mem_type_64: Option<bool>,
}

#[derive(Deserialize)]
struct BridgeInfo {
    bus: BridgeBusInfo,
    #[serde(default)]
    devices: Option<Vec<DeviceInfo>>,
}

#[derive(Deserialize)]
struct BridgeBusInfo {
    secondary: i64,
}

/// Flattens `query-pci`'s `return` value (a list of buses) into functions,
/// depth-first in QEMU's order, walking into every bridge's `devices`.
pub fn flatten_query_pci(value: &Value) -> Result<Vec<QmpPciFunction>> {
    let buses: Vec<PciInfo> =
        serde_json::from_value(value.clone()).context("query-pci: unexpected shape of the reply")?;
    let mut out = Vec::new();
    for bus in &buses {
        flatten_devices(&bus.devices, &mut out)?;
    }
    Ok(out)
}

fn flatten_devices(devices: &[DeviceInfo], out: &mut Vec<QmpPciFunction>) -> Result<()> {
    for d in devices {
        out.push(convert(d)?);
        if let Some(children) = d.pci_bridge.as_ref().and_then(|b| b.devices.as_deref()) {
            flatten_devices(children, out)?;
        }
    }
    Ok(())
}

fn convert(d: &DeviceInfo) -> Result<QmpPciFunction> {
    let at = format!("query-pci: device at bus {} slot {} function {}", d.bus, d.slot, d.function);
    let field = |name: &str, v: i64, max: i64| -> Result<i64> {
        if (0..=max).contains(&v) {
            Ok(v)
        } else {
            bail!("{at}: {name} {v} is out of range 0..={max}")
        }
    };
    let mut regions = Vec::new();
    for r in &d.regions {
        let bar = field("region index", r.bar, i64::from(ROM_REGION))? as u8;
        let kind = match r.kind.as_str() {
            "io" => RegionKind::Io,
            "memory" => RegionKind::Memory,
            other => bail!("{at}: region {bar} has unknown type {other:?}"),
        };
        let address = region_address(&r.address).with_context(|| format!("{at}: region {bar}"))?;
        let size = r.size.as_u64().with_context(|| format!("{at}: region {bar} has size {}", r.size))?;
        regions.push(QmpRegion {
            bar,
            kind,
            address,
            size,
            prefetch: r.prefetch.unwrap_or(false),
            mem_type_64: r.mem_type_64.unwrap_or(false),
        });
    }
    let irq_pin = match d.irq_pin {
        Some(pin) => Some(field("irq_pin", pin, 4)? as u8),
        None => None,
    };
    Ok(QmpPciFunction {
        bus: field("bus", d.bus, 255)? as u8,
        slot: field("slot", d.slot, 31)? as u8,
        function: field("function", d.function, 7)? as u8,
        vendor_id: field("vendor", d.id.vendor, 0xffff)? as u16,
        device_id: field("device", d.id.device, 0xffff)? as u16,
        class: field("class", d.class_info.class, 0xffff)? as u16,
        header_type: u8::from(d.pci_bridge.is_some()),
        secondary_bus: match &d.pci_bridge {
            Some(b) => Some(field("secondary bus", b.bus.secondary, 255)? as u8),
            None => None,
        },
        irq_pin,
        regions,
        qdev_id: d.qdev_id.clone().filter(|id| !id.is_empty()),
    })
}

/// A region's address: QEMU writes "not mapped" (`PCI_BAR_UNMAPPED`, all ones)
/// as -1 in 7.2; an unsigned all-ones is accepted too.
fn region_address(n: &Number) -> Result<Option<u64>> {
    if let Some(a) = n.as_u64() {
        return Ok((a != u64::MAX).then_some(a));
    }
    match n.as_i64() {
        Some(-1) => Ok(None),
        _ => bail!("address {n} is neither an address nor -1 (unmapped)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    const STANDARD: &str = include_str!("../tests/data/query-pci-standard.json");
    const BRIDGES: &str = include_str!("../tests/data/query-pci-bridges.json");
    const QBOOT: &str = include_str!("../tests/data/query-pci-qboot.json");

    /// The `return` value of a captured QMP reply.
    fn sample(text: &str) -> Vec<QmpPciFunction> {
        let reply: Value = serde_json::from_str(text).unwrap();
        flatten_query_pci(&reply["return"]).unwrap()
    }

    fn at(fns: &[QmpPciFunction], bus: u8, slot: u8, function: u8) -> &QmpPciFunction {
        fns.iter().find(|f| (f.bus, f.slot, f.function) == (bus, slot, function)).unwrap()
    }

    fn bdfs(fns: &[QmpPciFunction]) -> Vec<(u8, u8, u8)> {
        fns.iter().map(|f| (f.bus, f.slot, f.function)).collect()
    }

    #[test]
    fn standard_machine_flattens() {
        let fns = sample(STANDARD);
        assert_eq!(
            bdfs(&fns),
            [(0, 0, 0), (0, 1, 0), (0, 2, 0), (0, 3, 0), (0, 4, 0), (0, 5, 0), (0, 31, 0), (0, 31, 2), (0, 31, 3)]
        );
        assert!(fns.iter().all(|f| f.header_type == 0));

        let host = at(&fns, 0, 0, 0);
        assert_eq!((host.vendor_id, host.device_id, host.class, host.irq_pin), (0x8086, 0x29c0, 0x0600, Some(0)));
        assert!(host.regions.is_empty());

        let edu = at(&fns, 0, 1, 0);
        assert_eq!((edu.vendor_id, edu.device_id, edu.class, edu.irq_pin), (0x1234, 0x11e8, 0x00ff, Some(1)));
        assert_eq!(
            edu.regions,
            [QmpRegion {
                bar: 0,
                kind: RegionKind::Memory,
                address: Some(0xfea0_0000),
                size: 1 << 20,
                prefetch: false,
                mem_type_64: false
            }]
        );

        let e1000 = at(&fns, 0, 4, 0);
        assert_eq!((e1000.vendor_id, e1000.device_id, e1000.class), (0x8086, 0x100e, 0x0200));
        let kinds: Vec<(u8, RegionKind, u64)> = e1000.regions.iter().map(|r| (r.bar, r.kind, r.size)).collect();
        assert_eq!(
            kinds,
            [(0, RegionKind::Memory, 0x20000), (1, RegionKind::Io, 0x40), (ROM_REGION, RegionKind::Memory, 0x40000)]
        );
        // SeaBIOS leaves the option ROM unmapped: QMP says -1.
        assert_eq!(e1000.regions[2].address, None);
        assert!(e1000.regions[1].address.is_some_and(|a| a < 0x10000));

        // virtio's modern BAR: 64-bit prefetchable.
        let vblk = at(&fns, 0, 2, 0);
        let bar4 = vblk.regions.iter().find(|r| r.bar == 4).unwrap();
        assert!(bar4.mem_type_64 && bar4.prefetch && bar4.size == 0x4000);

        let smbus = at(&fns, 0, 31, 3);
        assert_eq!(smbus.class, 0x0c05);
        assert_eq!(smbus.regions[0].kind, RegionKind::Io);
    }

    #[test]
    fn bridges_are_walked_into() {
        let fns = sample(BRIDGES);
        assert_eq!(fns.len(), 14);
        let bridges: Vec<(u8, u8, u8)> = bdfs(&fns.iter().filter(|f| f.header_type == 1).cloned().collect::<Vec<_>>());
        assert_eq!(bridges, [(0, 6, 0), (0, 7, 0), (2, 0, 0)]);

        let secondaries: Vec<Option<u8>> = fns.iter().filter(|f| f.header_type == 1).map(|f| f.secondary_bus).collect();
        assert_eq!(secondaries, [Some(1), Some(2), Some(3)]);
        assert!(fns.iter().filter(|f| f.header_type == 0).all(|f| f.secondary_bus.is_none()));

        let rp1 = at(&fns, 0, 6, 0);
        assert_eq!((rp1.vendor_id, rp1.device_id, rp1.class), (0x1b36, 0x000c, 0x0604));
        assert_eq!(rp1.qdev_id.as_deref(), Some("rp1"));
        assert_eq!(rp1.regions.len(), 1);
        assert_eq!((rp1.regions[0].bar, rp1.regions[0].size), (0, 0x1000));

        let pb1 = at(&fns, 2, 0, 0);
        assert_eq!((pb1.vendor_id, pb1.device_id, pb1.qdev_id.as_deref()), (0x1b36, 0x000e, Some("pb1")));
        assert!(pb1.regions[0].mem_type_64 && pb1.regions[0].size == 0x100);

        let edu = at(&fns, 1, 0, 0);
        assert_eq!((edu.vendor_id, edu.device_id), (0x1234, 0x11e8));
        assert_eq!(edu.qdev_id, None);
        let e1000 = at(&fns, 3, 0, 0);
        assert_eq!((e1000.vendor_id, e1000.device_id, e1000.header_type), (0x8086, 0x100e, 0));
        // Behind the bridge, its BARs fall inside the bridges' windows.
        let mem = e1000.regions.iter().find(|r| r.bar == 0).unwrap();
        assert!(mem.address.is_some());
    }

    #[test]
    fn qboot_leaves_every_bar_unassigned() {
        let fns = sample(QBOOT);
        assert_eq!(fns.len(), 9);
        let regions: Vec<&QmpRegion> = fns.iter().flat_map(|f| &f.regions).collect();
        assert!(regions.len() > 10);
        assert!(regions.iter().all(|r| r.address.is_none()), "{regions:?}");
        assert!(regions.iter().all(|r| r.size > 0));
    }

    fn device(extra: Value) -> Value {
        let mut d = json!({
            "bus": 0, "slot": 3, "function": 0,
            "class_info": {"class": 512}, "id": {"vendor": 32902, "device": 4110},
            "regions": [{"bar": 0, "type": "memory", "address": 4273471488u64, "size": 131072,
                         "prefetch": false, "mem_type_64": false}]
        });
        for (k, v) in extra.as_object().unwrap() {
            d[k] = v.clone();
        }
        json!([{ "bus": 0, "devices": [d] }])
    }

    #[test]
    fn optional_members_may_be_absent() {
        let fns = flatten_query_pci(&device(json!({}))).unwrap();
        assert_eq!(fns[0].irq_pin, None);
        assert_eq!(fns[0].qdev_id, None);
        // A bridge without `devices` (nothing behind it) is still a bridge.
        let fns = flatten_query_pci(&device(json!({"pci_bridge": {"bus": {"number": 0, "secondary": 4}}}))).unwrap();
        assert_eq!(fns.len(), 1);
        assert_eq!((fns[0].header_type, fns[0].secondary_bus), (1, Some(4)));
        let unsigned = device(json!({"regions": [{"bar": 0, "type": "io", "address": u64::MAX, "size": 64}]}));
        assert_eq!(flatten_query_pci(&unsigned).unwrap()[0].regions[0].address, None);
    }

    #[test]
    fn malformed_replies_are_errors() {
        let err = |v: Value| format!("{:#}", flatten_query_pci(&v).unwrap_err());
        assert!(err(json!({"bus": 0})).contains("unexpected shape"));
        assert!(err(json!([{"bus": 0, "devices": [{"bus": 0}]}])).contains("unexpected shape"));
        assert!(err(device(json!({"slot": 32}))).contains("slot 32"));
        assert!(err(device(json!({"bus": -1}))).contains("bus -1"));
        assert!(err(device(json!({"id": {"vendor": 65536, "device": 1}}))).contains("vendor"));
        assert!(err(device(json!({"irq_pin": 5}))).contains("irq_pin"));
        assert!(err(device(json!({"class_info": {"class": -3}}))).contains("class"));
        assert!(err(device(json!({"pci_bridge": {"devices": []}}))).contains("unexpected shape"));
        assert!(err(device(json!({"pci_bridge": {"bus": {"secondary": 256}}}))).contains("secondary bus 256"));
        let region = |r: Value| device(json!({ "regions": [r] }));
        assert!(err(region(json!({"bar": 7, "type": "io", "address": 0, "size": 4}))).contains("region index"));
        assert!(err(region(json!({"bar": 0, "type": "rom", "address": 0, "size": 4}))).contains("\"rom\""));
        assert!(err(region(json!({"bar": 0, "type": "io", "address": -2, "size": 4}))).contains("-1"));
        assert!(err(region(json!({"bar": 0, "type": "io", "address": 0, "size": -4}))).contains("size"));
        assert!(err(region(json!({"bar": 0, "type": "io", "address": 1.5, "size": 4}))).contains("address"));
    }

    /// A fake QEMU on a socket pair: greets, answers capabilities, interleaves
    /// an event, and sends `query-pci`'s reply in small pieces.
    #[test]
    fn the_client_speaks_qmp() {
        let dir = crate::machine::ScratchDir::temporary("unit-qmp").unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let reply: Value = serde_json::from_str(BRIDGES).unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n").unwrap();
            let mut input = std::io::BufReader::new(s.try_clone().unwrap());
            let mut requests = Vec::new();
            for _ in 0..3 {
                let mut line = String::new();
                std::io::BufRead::read_line(&mut input, &mut line).unwrap();
                let req: Value = serde_json::from_str(&line).unwrap();
                let id = req["id"].clone();
                let answer = match req["execute"].as_str().unwrap() {
                    "qmp_capabilities" => json!({"return": {}, "id": id}),
                    "query-pci" => json!({"return": reply["return"], "id": id}),
                    _ => json!({"error": {"class": "CommandNotFound", "desc": "nope"}, "id": id}),
                };
                s.write_all(b"{\"event\": \"RESUME\", \"timestamp\": {}}\n").unwrap();
                let text = format!("{answer}\n");
                for piece in text.as_bytes().chunks(97) {
                    s.write_all(piece).unwrap();
                }
                requests.push(req);
            }
            requests
        });
        let mut qmp = Qmp::connect(&path, CONNECT_TIMEOUT, || Ok(())).unwrap();
        let fns = qmp.query_pci().unwrap();
        assert_eq!(fns, sample(BRIDGES));
        let err = qmp.execute("frobnicate", Some(json!({"x": 1})), COMMAND_TIMEOUT).unwrap_err();
        assert!(err.to_string().contains("CommandNotFound: nope"), "{err}");
        let requests = server.join().unwrap();
        assert_eq!(requests[0]["execute"], "qmp_capabilities");
        assert_eq!(requests[2]["arguments"], json!({"x": 1}));
        let ids: Vec<u64> = requests.iter().map(|r| r["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, [1, 2, 3]);
    }

    #[test]
    fn a_silent_qemu_times_out() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let started = Instant::now();
        let err = Qmp::handshake(ours, Instant::now() + Duration::from_millis(200)).err().unwrap();
        assert!(format!("{err:#}").contains("timed out"), "{err:#}");
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(theirs);
    }

    #[test]
    fn a_missing_socket_gives_up_when_told() {
        let started = Instant::now();
        let err = Qmp::connect(Path::new("/nonexistent/qmp.sock"), Duration::from_secs(30), || bail!("QEMU exited"))
            .err()
            .unwrap();
        assert_eq!(err.to_string(), "QEMU exited");
        assert!(started.elapsed() < Duration::from_secs(5));
        let err =
            Qmp::connect(Path::new("/nonexistent/qmp.sock"), Duration::from_millis(100), || Ok(())).err().unwrap();
        assert!(err.to_string().contains("connecting to QMP"), "{err}");
    }

    #[test]
    fn a_closed_connection_is_an_error() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        theirs.write_all(b"{\"QMP\": {}}\n").unwrap();
        drop(theirs);
        let err = Qmp::handshake(ours, Instant::now() + COMMAND_TIMEOUT).err().unwrap();
        assert!(format!("{err:#}").contains("closed") || format!("{err:#}").contains("Broken pipe"), "{err:#}");
    }
}
