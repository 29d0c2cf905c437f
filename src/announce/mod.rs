//! announce (being written).
