//! dhcp (to be written).
