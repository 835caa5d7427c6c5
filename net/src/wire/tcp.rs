//! Wire format: tcp (to be written).
