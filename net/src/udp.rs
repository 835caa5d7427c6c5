//! udp (to be written).
