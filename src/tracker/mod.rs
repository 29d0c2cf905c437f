//! tracker (being written).
