//! Wire format: icmp (to be written).
