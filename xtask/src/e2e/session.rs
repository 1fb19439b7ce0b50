//! A QEMU session driven through its serial console, like `expect(1)`.
//!
//! [`Session::boot`] starts a machine with its own disk images and ports and
//! pipes the console: a reader thread per output stream (stdout is the serial
//! port, stderr carries QEMU's own complaints) appends everything to one shared
//! buffer. [`Session::expect`] waits, with a deadline, for a needle to appear
//! after the read cursor and returns the text up to it. Every wait is bounded
//! and every error carries the tail of the console. Dropping a session kills
//! QEMU and removes its scratch directory.
//!
//! A session booted with [`SessionOptions::qmp`] also has QEMU listen for QMP
//! on a unix socket in a directory of its own; [`Session::qmp`] connects to it.

use crate::machine::{self, IsolatedMachine, Machine, Profile, QemuExit, ScratchDir, QMP_DIR_LABEL};
use crate::qmp::{self, Qmp};
use crate::run::{join_within, PROMPT};
use anyhow::{anyhow, bail, Context, Result};
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long the kernel may take to reach its prompt.
pub const PROMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one shell command may take to answer.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the output readers may lag behind QEMU's exit.
const READER_TIMEOUT: Duration = Duration::from_secs(5);
/// Console lines quoted in failure messages.
pub const TAIL_LINES: usize = 40;

/// Console output shared between the reader threads and the session.
#[derive(Default)]
struct Console {
    state: Mutex<ConsoleState>,
    grew: Condvar,
}

#[derive(Default)]
struct ConsoleState {
    bytes: Vec<u8>,
    /// Output streams still open; 0 once QEMU has closed both.
    open: usize,
}

impl Console {
    fn lock(&self) -> MutexGuard<'_, ConsoleState> {
        // A reader thread cannot panic while holding the lock, but be tolerant anyway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a session provides besides the console.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionOptions {
    /// QEMU listens for QMP (see [`Session::qmp`]).
    pub qmp: bool,
}

impl SessionOptions {
    /// A session with a QMP socket.
    pub fn qmp() -> Self {
        Self { qmp: true }
    }
}

/// A running QEMU with a piped console.
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    console: Arc<Console>,
    readers: Vec<JoinHandle<()>>,
    /// Bytes of the console already returned by `expect`.
    cursor: usize,
    exit: Option<QemuExit>,
    spawned: Instant,
    /// The directory holding QEMU's QMP socket, if it has one.
    qmp_dir: Option<ScratchDir>,
    /// Keeps the scratch images alive; declared last so QEMU dies first.
    isolated: IsolatedMachine,
}

impl Session {
    /// Boots `profile` with the kernel command line `cmdline`, with its own scratch
    /// images and free ports. The kernel must already be built.
    pub fn boot(profile: Profile, cmdline: &str) -> Result<Self> {
        Self::boot_with(profile, cmdline, SessionOptions::default())
    }

    /// Like [`Self::boot`], with `options`.
    pub fn boot_with(profile: Profile, cmdline: &str, options: SessionOptions) -> Result<Self> {
        Self::boot_isolated(IsolatedMachine::new(profile, cmdline, "session")?, options)
    }

    /// Boots a machine the caller has configured and prepared: a test that
    /// writes a disk image before boot, or injects disk errors, starts here.
    /// The images stay until the session is dropped
    /// ([`Machine::disk_image`] on [`Self::machine`] finds them).
    pub fn boot_isolated(mut isolated: IsolatedMachine, options: SessionOptions) -> Result<Self> {
        let qmp_dir = match options.qmp {
            true => Some(ScratchDir::temporary_in(&machine::qmp_dir(), QMP_DIR_LABEL)?),
            false => None,
        };
        if let Some(dir) = &qmp_dir {
            isolated.machine = isolated.machine.clone().qmp_socket(dir.path().join("qmp.sock"));
        }
        let mut cmd = isolated.machine.command()?;
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        isolated.release_ports();
        let mut child = cmd.spawn().context("starting QEMU")?;
        let spawned = Instant::now();

        let console = Arc::new(Console::default());
        let mut readers = Vec::new();
        let streams: [Option<Box<dyn Read + Send>>; 2] = [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ];
        for stream in streams.into_iter().flatten() {
            console.lock().open += 1;
            let console = Arc::clone(&console);
            readers.push(thread::spawn(move || collect(stream, &console)));
        }
        Ok(Self {
            stdin: child.stdin.take(),
            child,
            console,
            readers,
            cursor: 0,
            exit: None,
            spawned,
            qmp_dir,
            isolated,
        })
    }

    /// Connects to QEMU's QMP socket and negotiates (bounded by
    /// [`qmp::CONNECT_TIMEOUT`]; fails at once if QEMU exits meanwhile). The
    /// session must have been booted with [`SessionOptions::qmp`].
    pub fn qmp(&mut self) -> Result<Qmp> {
        let Some(dir) = &self.qmp_dir else {
            bail!("this session was booted without a QMP socket (SessionOptions::qmp)");
        };
        let path = dir.path().join("qmp.sock");
        let child = &mut self.child;
        let result = Qmp::connect(&path, qmp::CONNECT_TIMEOUT, || match child.try_wait() {
            Ok(Some(status)) => bail!("{} before QMP answered", QemuExit::from_status(status).describe()),
            _ => Ok(()),
        });
        result.map_err(|e| self.fail(format!("{e:#}")))
    }

    /// The machine this session runs (vCPUs, memory).
    pub fn machine(&self) -> &Machine {
        &self.isolated.machine
    }

    /// Time since QEMU was spawned.
    pub fn since_spawn(&self) -> Duration {
        self.spawned.elapsed()
    }

    /// Waits up to `timeout` for `needle` after the cursor; returns the text from
    /// the cursor up to and including the needle, and moves the cursor past it.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        self.expect_one_of(&[needle], timeout).map(|(_, text)| text)
    }

    /// Like [`Self::expect`] for whichever of `needles` appears first; returns its
    /// index and the text up to and including it. Lets a test fail fast when the
    /// kernel answers with something else (say, the prompt instead of a crash).
    pub fn expect_one_of(&mut self, needles: &[&str], timeout: Duration) -> Result<(usize, String)> {
        let deadline = Instant::now() + timeout;
        let longest = needles.iter().map(|n| n.len()).max().unwrap_or(0);
        let console = Arc::clone(&self.console);
        let mut state = console.lock();
        let mut from = self.cursor;
        loop {
            let hay = &state.bytes[from..];
            let first =
                needles.iter().enumerate().filter_map(|(i, n)| find(hay, n.as_bytes()).map(|pos| (pos, i))).min();
            if let Some((pos, i)) = first {
                let end = from + pos + needles[i].len();
                let text = String::from_utf8_lossy(&state.bytes[self.cursor..end]).into_owned();
                self.cursor = end;
                return Ok((i, text));
            }
            // Resume the search where a match could still start.
            from = state.bytes.len().saturating_sub(longest).max(self.cursor);
            let what = if needles.len() == 1 { format!("{:?}", needles[0]) } else { format!("one of {needles:?}") };
            if state.open == 0 {
                drop(state);
                let why = match self.reap() {
                    Some(exit) => exit.describe(),
                    None => "QEMU closed its output".into(),
                };
                return Err(self.fail(format!("{why} before {what} appeared")));
            }
            let now = Instant::now();
            if now >= deadline {
                drop(state);
                return Err(self.fail(format!("timed out after {:.1} s waiting for {what}", timeout.as_secs_f64())));
            }
            state =
                console.grew.wait_timeout(state, deadline - now).map(|(g, _)| g).unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Waits for the shell prompt (`ioxide> `).
    pub fn expect_prompt(&mut self) -> Result<String> {
        self.expect(PROMPT, PROMPT_TIMEOUT)
    }

    /// Types `line` and Enter; returns the output up to the next prompt, without
    /// the echoed command line and the prompt.
    pub fn command(&mut self, line: &str) -> Result<String> {
        self.command_within(line, COMMAND_TIMEOUT)
    }

    /// Like [`Self::command`] for a command allowed to run up to `timeout`
    /// (benchmarks, bulk transfers).
    pub fn command_within(&mut self, line: &str, timeout: Duration) -> Result<String> {
        self.send_raw(format!("{line}\n").as_bytes())?;
        let text = self.expect(PROMPT, timeout)?;
        Ok(strip_echo(&reply_text(&text), line))
    }

    /// Writes bytes to the serial port as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(self.fail("QEMU's stdin is closed (or lent to a background writer)".into()));
        };
        let result = stdin.write_all(bytes).and_then(|()| stdin.flush());
        if let Err(e) = result {
            return Err(self.fail(format!("writing to QEMU's console: {e}")));
        }
        Ok(())
    }

    /// Starts writing `data` to the serial port from another thread, `chunk` bytes
    /// per `write`, as fast as the pipe takes them. A write into a pipe blocks once
    /// QEMU stops reading (its UART model only takes bytes while the guest's FIFO
    /// has room), so a blocking write here would be an unbounded wait; the thread
    /// lets the caller keep its deadlines. Until [`Self::finish_writing`] the
    /// session cannot type anything else.
    pub fn start_writing(&mut self, data: Vec<u8>, chunk: usize) -> Result<BackgroundWriter> {
        let Some(mut stdin) = self.stdin.take() else {
            return Err(self.fail("QEMU's stdin is closed (or lent to a background writer)".into()));
        };
        let written = Arc::new(AtomicUsize::new(0));
        let progress = Arc::clone(&written);
        let total = data.len();
        let chunk = chunk.max(1);
        let handle = thread::spawn(move || {
            let mut result = Ok(());
            for piece in data.chunks(chunk) {
                result = stdin.write_all(piece).and_then(|()| stdin.flush());
                if result.is_err() {
                    break;
                }
                progress.fetch_add(piece.len(), Ordering::Relaxed);
            }
            (stdin, result)
        });
        Ok(BackgroundWriter { handle, written, total })
    }

    /// Waits up to `timeout` for a [`BackgroundWriter`] to finish and takes QEMU's
    /// stdin back. On a timeout the writer stays detached; dropping the session
    /// kills QEMU, which ends its blocked write.
    pub fn finish_writing(&mut self, writer: BackgroundWriter, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while !writer.handle.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        if !writer.handle.is_finished() {
            return Err(self.fail(format!(
                "writing to QEMU's console stalled: {} of {} bytes written after {:.1} s more",
                writer.written(),
                writer.total,
                timeout.as_secs_f64()
            )));
        }
        let written = writer.written();
        match writer.handle.join() {
            Ok((stdin, result)) => {
                if self.exit.is_none() {
                    self.stdin = Some(stdin);
                }
                result.map_err(|e| {
                    self.fail(format!("writing to QEMU's console after {written} of {} bytes: {e}", writer.total))
                })
            }
            Err(_) => Err(self.fail("the console writer thread panicked".into())),
        }
    }

    /// Waits up to `timeout` for QEMU to exit; returns its status code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(exit) = self.reap() {
                return match exit.code() {
                    Some(code) => Ok(code),
                    None => Err(self.fail(exit.describe())),
                };
            }
            if Instant::now() >= deadline {
                return Err(self.fail(format!("QEMU did not exit within {:.1} s", timeout.as_secs_f64())));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// All console text after the cursor (moves the cursor to the end).
    pub fn rest(&mut self) -> String {
        let state = self.console.lock();
        let text = String::from_utf8_lossy(&state.bytes[self.cursor..]).into_owned();
        self.cursor = state.bytes.len();
        text
    }

    /// The last `n` lines of the whole console.
    pub fn tail(&self, n: usize) -> String {
        let state = self.console.lock();
        tail_lines(&String::from_utf8_lossy(&state.bytes), n)
    }

    /// An error whose message ends with the console tail.
    pub fn fail(&self, msg: String) -> anyhow::Error {
        anyhow!("{msg}\n--- last {TAIL_LINES} console lines ---\n{}", self.tail(TAIL_LINES))
    }

    /// QEMU's exit, if it has exited; once it has, the console is complete.
    pub fn exited(&mut self) -> Option<QemuExit> {
        self.reap()
    }

    fn reap(&mut self) -> Option<QemuExit> {
        if self.exit.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(QemuExit::from_status(status));
                self.stdin = None;
                for reader in self.readers.drain(..) {
                    join_within(reader, READER_TIMEOUT);
                }
            }
        }
        self.exit
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stdin = None;
        if self.reap().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for reader in self.readers.drain(..) {
            join_within(reader, READER_TIMEOUT);
        }
    }
}

/// A write to the console in progress (see [`Session::start_writing`]).
pub struct BackgroundWriter {
    handle: JoinHandle<(ChildStdin, std::io::Result<()>)>,
    written: Arc<AtomicUsize>,
    total: usize,
}

impl BackgroundWriter {
    /// Bytes QEMU has taken so far (the pipe's buffer included).
    pub fn written(&self) -> usize {
        self.written.load(Ordering::Relaxed)
    }
}

/// Appends everything from `stream` to the console until EOF.
fn collect(mut stream: Box<dyn Read + Send>, console: &Console) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        console.lock().bytes.extend_from_slice(&buf[..n]);
        console.grew.notify_all();
    }
    console.lock().open -= 1;
    console.grew.notify_all();
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Console text as lines: `\r\n` and stray `\r` become `\n`, a trailing prompt is cut.
pub fn reply_text(raw: &str) -> String {
    let text = raw.strip_suffix(PROMPT).unwrap_or(raw);
    text.replace("\r\n", "\n").replace('\r', "")
}

/// Drops the first line if it is the echo of `line`.
pub fn strip_echo(text: &str, line: &str) -> String {
    match text.split_once('\n') {
        Some((first, rest)) if first.trim() == line.trim() => rest.to_string(),
        None if text.trim() == line.trim() => String::new(),
        _ => text.to_string(),
    }
}

/// The last `n` lines of `text`, each prefixed for readability.
pub fn tail_lines(text: &str, n: usize) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "");
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    let mut out = String::new();
    for l in &lines[start..] {
        out.push_str("  | ");
        out.push_str(l);
        out.push('\n');
    }
    if lines.is_empty() {
        out.push_str("  (no output)\n");
    }
    out
}

/// Bails unless `text` contains `needle` (for tests' assertions).
pub fn require(text: &str, needle: &str, what: &str) -> Result<()> {
    if !text.contains(needle) {
        bail!("{what}: expected {needle:?} in:\n{}", tail_lines(text, TAIL_LINES));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_lose_echo_prompt_and_carriage_returns() {
        let raw = "meminfo\r\ntotal pages: 5\r\nfree pages: 3\r\nioxide> ";
        assert_eq!(strip_echo(&reply_text(raw), "meminfo"), "total pages: 5\nfree pages: 3\n");
        // No echo: nothing is dropped.
        assert_eq!(strip_echo("a\nb\n", "help"), "a\nb\n");
        assert_eq!(strip_echo("help", "help"), "");
    }

    #[test]
    fn find_and_tail() {
        assert_eq!(find(b"abcabc", b"ca"), Some(2));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find(b"ab", b""), Some(0));
        assert_eq!(tail_lines("1\r\n2\n3\n", 2), "  | 2\n  | 3\n");
        assert_eq!(tail_lines("", 2), "  (no output)\n");
    }

    #[test]
    fn require_reports_the_text() {
        assert!(require("abc", "b", "x").is_ok());
        let e = require("abc", "z", "help").unwrap_err().to_string();
        assert!(e.contains("help: expected \"z\"") && e.contains("| abc"));
    }
}
