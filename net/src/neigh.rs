//! neigh (to be written).
