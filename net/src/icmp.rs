//! icmp (to be written).
