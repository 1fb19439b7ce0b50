//! `cargo xtask run`: boot the standard machine with the serial console on the terminal.
//!
//! On a terminal QEMU simply inherits stdin and stdout (`-serial stdio` puts the
//! terminal in raw mode; Ctrl-C quits). When stdin is not a terminal — a script
//! piping `meminfo\npoweroff\n` — typing ahead is unreliable: bytes that arrive
//! before the kernel has set up its UART can be dropped. So xtask relays the
//! console itself and types one input line per `ioxide> ` prompt, exactly as a
//! person would. The e2e test `piped_run_answers` drives [`run_machine`] this way.
//!
//! QEMU's status is mapped for the shell: poweroff (0) and isa-debug-exit
//! success (33) are 0, everything else is 1 with a message.

use crate::machine::{Machine, Profile, QemuExit};
use crate::settings::Settings;
use crate::{kernel_build, setup};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

/// The shell prompt (docs/testing.md).
pub const PROMPT: &str = "ioxide> ";

/// Where the console goes.
pub enum Console {
    /// QEMU inherits this process's stdin/stdout.
    Terminal,
    /// Lines of `input` are typed one per prompt; console output is copied to `output`.
    Piped { input: Box<dyn Read + Send>, output: Box<dyn Write + Send> },
}

/// The standard machine for `run` (fixed ports from the environment, persistent
/// images in `<target>/ioxide/run`).
pub fn machine(profile: Profile, cmdline: &[String]) -> Result<Machine> {
    let settings = Settings::from_env()?;
    Ok(Machine::new(profile, kernel_build::elf_path(), &settings).cmdline(cmdline))
}

/// `cargo xtask run`: returns the process exit code.
pub fn run(profile: Profile, cmdline: &[String]) -> Result<i32> {
    setup::ensure(setup::Verbosity::Quiet)?;
    kernel_build::build()?;
    let machine = machine(profile, cmdline)?;
    let console = if std::io::stdin().is_terminal() {
        Console::Terminal
    } else {
        Console::Piped { input: Box::new(std::io::stdin()), output: Box::new(std::io::stdout()) }
    };
    let exit = run_machine(&machine, console, None)?;
    let code = exit.run_exit_code();
    if code != 0 {
        eprintln!("run: {}", exit.describe());
    }
    Ok(code)
}

/// Boots `machine` with `console` and waits for QEMU to exit (at most `timeout`,
/// after which QEMU is killed and this is an error).
pub fn run_machine(machine: &Machine, console: Console, timeout: Option<Duration>) -> Result<QemuExit> {
    machine.prepare()?;
    let mut cmd = machine.command()?;
    match console {
        Console::Terminal => {
            let mut child = cmd.spawn().context("starting QEMU")?;
            wait(&mut child, timeout)
        }
        Console::Piped { input, output } => {
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
            let child = cmd.spawn().context("starting QEMU")?;
            relay_console(child, input, output, timeout)
        }
    }
}

/// Drives a child with piped stdin/stdout as a person at the console would:
/// one line of `input` per prompt, everything it prints copied to `output`.
fn relay_console(
    mut child: Child,
    input: Box<dyn Read + Send>,
    output: Box<dyn Write + Send>,
    timeout: Option<Duration>,
) -> Result<QemuExit> {
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        bail!("QEMU's stdio was not piped");
    };
    let (prompts_tx, prompts_rx) = mpsc::channel();
    let relay = thread::spawn(move || relay_output(stdout, output, prompts_tx));
    // Not joined: it may block reading a stdin that never ends; it exits on its
    // own once QEMU's output closes.
    thread::spawn(move || type_lines(input, stdin, prompts_rx));
    let exit = wait(&mut child, timeout);
    // Normally immediate: QEMU's exit closes its stdout. A grandchild could keep
    // it open, so the wait is bounded like every other.
    join_within(relay, Duration::from_secs(5));
    exit
}

/// Joins `thread` if it finishes within `timeout`; otherwise leaves it detached.
pub fn join_within<T>(thread: thread::JoinHandle<T>, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !thread.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    if thread.is_finished() {
        let _ = thread.join();
    }
}

/// Waits for QEMU, killing it after `timeout`.
fn wait(child: &mut Child, timeout: Option<Duration>) -> Result<QemuExit> {
    let Some(timeout) = timeout else {
        return Ok(QemuExit::from_status(child.wait().context("waiting for QEMU")?));
    };
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().context("waiting for QEMU")? {
            return Ok(QemuExit::from_status(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("QEMU did not exit within {:.1} s; killed it", timeout.as_secs_f64());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Copies QEMU's console to `output`, announcing each prompt on `prompts`.
fn relay_output(mut from: impl Read, mut output: Box<dyn Write + Send>, prompts: Sender<()>) {
    let mut scanner = NeedleCounter::new(PROMPT.as_bytes());
    let mut buf = [0u8; 4096];
    let mut output_ok = true;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Keep draining QEMU even if our own output has gone away.
        if output_ok {
            output_ok = output.write_all(&buf[..n]).is_ok() && output.flush().is_ok();
        }
        for _ in 0..scanner.feed(&buf[..n]) {
            let _ = prompts.send(());
        }
    }
}

/// Types each line of `input` after a prompt; at the end of input, holds QEMU's
/// stdin open until QEMU's output closes (EOF on its stdin is not an instruction).
fn type_lines(input: Box<dyn Read + Send>, mut to: ChildStdin, prompts: Receiver<()>) {
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if !line.ends_with(b"\n") {
            line.push(b'\n');
        }
        if prompts.recv().is_err() || to.write_all(&line).and_then(|()| to.flush()).is_err() {
            return;
        }
    }
    while prompts.recv().is_ok() {}
}

/// Counts occurrences of a needle in a byte stream fed in arbitrary chunks.
pub struct NeedleCounter {
    needle: Vec<u8>,
    /// The last `needle.len() - 1` bytes seen, for matches spanning chunks.
    tail: Vec<u8>,
}

impl NeedleCounter {
    pub fn new(needle: &[u8]) -> Self {
        Self { needle: needle.to_vec(), tail: Vec::new() }
    }

    /// Feeds a chunk; returns how many needles ended inside it.
    pub fn feed(&mut self, chunk: &[u8]) -> usize {
        let n = self.needle.len();
        if n == 0 {
            return 0;
        }
        let mut hay = std::mem::take(&mut self.tail);
        hay.extend_from_slice(chunk);
        // The tail is shorter than the needle, so every match found here ends in
        // `chunk` and none is counted twice.
        let count = hay.windows(n).filter(|w| *w == self.needle).count();
        self.tail = hay[hay.len().saturating_sub(n - 1)..].to_vec();
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A shell script standing in for the kernel's console: it only reads after
    /// printing a prompt, like the real shell.
    fn console_child(script: &str) -> Child {
        Command::new("sh").args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap()
    }

    #[test]
    fn piped_input_is_typed_one_line_per_prompt() {
        let script = r#"
            printf 'booting\nioxide> '; read a; echo "ran $a"
            printf 'ioxide> '; read b; echo "ran $b"; exit 0"#;
        let out = Sink::default();
        let exit = relay_console(
            console_child(script),
            Box::new(std::io::Cursor::new(b"meminfo\npoweroff".to_vec())),
            Box::new(out.clone()),
            Some(Duration::from_secs(10)),
        )
        .unwrap();
        assert_eq!(exit, QemuExit::PowerOff);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "booting\nioxide> ran meminfo\nioxide> ran poweroff\n");
    }

    #[test]
    fn exit_statuses_pass_through() {
        let exit = relay_console(
            console_child("exit 35"),
            Box::new(std::io::empty()),
            Box::new(Sink::default()),
            Some(Duration::from_secs(10)),
        )
        .unwrap();
        assert_eq!(exit, QemuExit::Failure);
    }

    #[test]
    fn a_hung_machine_is_killed_at_the_deadline() {
        let started = Instant::now();
        let err = relay_console(
            console_child("printf 'ioxide> '; exec sleep 30"),
            Box::new(std::io::Cursor::new(b"help\n".to_vec())),
            Box::new(Sink::default()),
            Some(Duration::from_millis(300)),
        )
        .unwrap_err();
        assert!(err.to_string().contains("did not exit"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn prompts_are_counted_across_chunk_boundaries() {
        let mut c = NeedleCounter::new(PROMPT.as_bytes());
        assert_eq!(c.feed(b"boot...\nioxi"), 0);
        assert_eq!(c.feed(b"de> "), 1);
        assert_eq!(c.feed(b"help\nioxide> ioxide> "), 2);
        assert_eq!(c.feed(b"i"), 0);
        assert_eq!(c.feed(b"o"), 0);
        assert_eq!(c.feed(b"xioxide> "), 1);
        assert_eq!(c.feed(b""), 0);
    }

    #[test]
    fn a_repeated_prefix_does_not_hide_a_match() {
        let mut c = NeedleCounter::new(PROMPT.as_bytes());
        assert_eq!(c.feed(b"ioxioxide> "), 1);
    }
}
