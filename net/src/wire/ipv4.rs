//! Wire format: ipv4 (to be written).
