//! Wire format: arp (to be written).
