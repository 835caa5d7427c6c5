//! TCP tests: scripted segment-level tests, simulation, property tests.

mod autotune;
mod cc;
mod closing;
mod delack;
mod flow;
mod memory;
mod misc;
mod offload;
mod perf;
mod prop;
mod push;
mod rack;
mod sack;
mod script;
mod security;
mod sim;
mod states;
mod syncookies;
mod transfer;
