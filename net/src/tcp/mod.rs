//! TCP (to be written).
