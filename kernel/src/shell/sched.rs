//! `ps` and `uptime`.

use alloc::string::String;

use super::commands::no_args;
use crate::println;
use crate::sched::{self, State};

pub fn ps(args: &[&str]) -> Result<(), String> {
    no_args(args)?;
    println!("{:>5} {:>3} {:<9} {:>9} NAME", "TID", "CPU", "STATE", "SWITCHES");
    let mut threads = sched::threads();
    threads.sort_by_key(|t| t.id);
    for t in threads {
        let state = match t.state {
            State::Running => "running",
            State::Runnable => "runnable",
            State::Sleeping => "sleeping",
            State::Dead => "dead",
        };
        println!("{:>5} {:>3} {:<9} {:>9} {}", t.id, t.cpu, state, t.switches_in, t.name);
    }
    Ok(())
}

pub fn uptime(args: &[&str]) -> Result<(), String> {
    no_args(args)?;
    let ns = crate::time::uptime_ns();
    println!(
        "up {}.{:03} s, jiffies {}, {} CPUs online",
        ns / 1_000_000_000,
        (ns / 1_000_000) % 1000,
        crate::time::jiffies(),
        crate::percpu::online_cpus()
    );
    Ok(())
}
