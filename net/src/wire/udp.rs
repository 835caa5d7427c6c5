//! Wire format: udp (to be written).
