//! `virtio`: every bound virtio device with the features it negotiated,
//! how it interrupts, and each virtqueue's counters — chains added,
//! publishes, how many of them needed a doorbell and how many the device's
//! notification suppression (event-idx) spared, used entries consumed.

use alloc::string::String;
use alloc::vec::Vec;

use super::commands::no_args;
use crate::devices::virtio;
use crate::println;

pub fn virtio_cmd(args: &[&str]) -> Result<(), String> {
    no_args(args)?;
    let reports = virtio::reports();
    if reports.is_empty() {
        println!("no virtio device bound");
    }
    for r in reports {
        let names: Vec<String> =
            ::virtio::names::feature_names(r.features, r.device_id).into_iter().map(|n| n.into_owned()).collect();
        println!("{}: {:?}, {} vector(s)", r.name, r.interrupts, r.vectors);
        println!("  features: {}", names.join(" "));
        for (name, q) in r.queues {
            println!(
                "  {name}: added={} published={} notifies={} notifies_suppressed={} used={} bad_used={}",
                q.added, q.published, q.notifications_needed, q.notifications_suppressed, q.used_popped, q.bad_used
            );
        }
    }
    Ok(())
}
