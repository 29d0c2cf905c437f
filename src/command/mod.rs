//! The chat grammar: text to a `Command`, help, and did-you-mean suggestions.

mod model;

pub use model::*;
