//! `cargo xtask`: ioxide's host tool.
//!
//! One entry point for everything done on the host: install what is missing
//! (`setup`), build the kernel (`build`), boot it on the standard QEMU machine
//! with the console on the terminal (`run`), print that machine's command line
//! (`qemu-cmd`), run every test level (`test`), and measure (`bench`). The
//! machine is defined once, in [`machine`]; the kernel↔xtask contract is
//! docs/testing.md.

mod bench;
mod e2e;
mod firmware;
mod kernel_build;
mod machine;
mod net;
mod ports;
mod qmp;
mod run;
mod settings;
mod setup;
mod test;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use machine::Profile;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "ioxide's host tool: setup, build, run, test and benchmark the kernel on QEMU",
    after_help = "Environment: IOXIDE_SMP (2), IOXIDE_MEM (512M), IOXIDE_NET_PORT_BASE (40000), \
                  IOXIDE_ACCEL (tcg|kvm), IOXIDE_TEST_TIMEOUT (120 s), IOXIDE_QEMU (qemu-system-x86_64)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install QEMU and the x86_64-unknown-none target if missing (idempotent).
    Setup,
    /// Build the kernel (release) and print the ELF's path.
    Build,
    /// Boot the kernel with the serial console on this terminal (or pipe).
    Run {
        #[command(flatten)]
        machine: MachineArgs,
        /// Print the QEMU command line instead of running it.
        #[arg(long)]
        print: bool,
    },
    /// Print the exact QEMU command line of `run`.
    QemuCmd {
        #[command(flatten)]
        machine: MachineArgs,
    },
    /// Run all test levels; ends with `N passed, N failed`.
    Test {
        /// Only these levels (repeatable; default: all).
        #[arg(long, value_enum)]
        level: Vec<test::Level>,
        /// Only tests whose name contains this (host tests, `ktest=<filter>`, e2e tests).
        filter: Option<String>,
    },
    /// Run a benchmark: numbers, never pass/fail (JSON in target/ioxide/bench/).
    #[command(after_help = "Comparisons with Linux use IOXIDE_SMP=1, as the Linux anchor does. \
                            IOXIDE_ACCEL=kvm opts into KVM; the default is TCG.")]
    Bench {
        #[command(subcommand)]
        bench: bench::Bench,
    },
}

#[derive(Args)]
struct MachineArgs {
    /// The machine profile.
    #[arg(long, value_enum, default_value_t = Profile::Standard)]
    profile: Profile,
    /// Extra kernel command-line words (after `--`).
    #[arg(last = true)]
    cmdline: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> Result<u8> {
    match command {
        Command::Setup => {
            setup::ensure(setup::Verbosity::Verbose)?;
            Ok(0)
        }
        Command::Build => {
            let elf = kernel_build::build()?;
            println!("{}", elf.display());
            Ok(0)
        }
        Command::Run { machine, print } if print => print_command(&machine),
        Command::QemuCmd { machine } => print_command(&machine),
        Command::Run { machine, .. } => {
            let code = run::run(machine.profile, &machine.cmdline)?;
            Ok(u8::try_from(code).unwrap_or(1))
        }
        Command::Test { level, filter } => {
            let ok = test::test(&level, filter.as_deref());
            Ok(if ok { 0 } else { 1 })
        }
        Command::Bench { bench } => {
            bench::run(&bench)?;
            Ok(0)
        }
    }
}

fn print_command(args: &MachineArgs) -> Result<u8> {
    let machine = run::machine(args.profile, &args.cmdline)?;
    println!("{}", machine.display()?);
    Ok(0)
}
