//! Wire format: ethernet (to be written).
