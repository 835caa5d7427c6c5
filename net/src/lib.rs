//! rinet's network stack: the inet module (Ethernet, ARP, IPv4, ICMP, UDP, TCP) and sockfs.
//!
//! Pure `no_std` + `alloc` and free of `unsafe`: the kernel injects time, randomness and devices
//! through the types in [`time`], [`rand`] and [`dev`], so every line here also runs in
//! `cargo test` on the host inside deterministic simulations. Nothing here may panic on bytes
//! from the wire or on a caller's arguments.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod config;
pub mod errno;
pub mod rand;
pub mod time;
pub mod wire;

pub mod dev;
pub mod icmp;
pub mod ipv4;
pub mod neigh;
pub mod offload;
pub mod procnet;
pub mod ratelimit;
pub mod recvbuf;
pub mod route;
pub mod sim;
pub mod snmp;
pub mod stack;
pub mod udp;

pub mod dhcp;
pub mod dns;

pub mod tcp;

pub mod host;
pub mod inet;

pub mod socket;
pub mod sockfs;
pub mod sys;

pub use core::net::Ipv4Addr;
pub use errno::Errno;
pub use time::{Duration, Instant};
pub use wire::MacAddr;
