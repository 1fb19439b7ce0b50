//! Networking: the net-device layer, NAPI, and the smoltcp stack with
//! ioxide's services (UDP echo/discard, TCP echo, ICMP echo).

pub mod device;
mod ktests;
pub mod napi;
pub mod nic;
pub mod rx;
pub mod stack;

pub fn init() {
    napi::init();
}
