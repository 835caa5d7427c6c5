//! dns (to be written).
