//! The chat grammar: text to a `Command`, help, and did-you-mean suggestions. Pure: no I/O, no
//! configuration. One table (`COMMANDS`) drives verb recognition, suggestions and help.

mod address;
mod display;
mod error;
mod freeze;
mod help;
mod lex;
mod line;
mod model;
mod parse;
mod suggest;
mod table;
mod validate;
mod verbs;

#[cfg(test)]
mod tests;

pub use address::{Parsed, parse_message};
pub use error::{ErrorKind, ParseError};
pub use freeze::{FREEZE_MAX_MINUTES, FreezeEnd};
pub use help::help;
pub use line::MAX_LINE;
pub use model::*;
pub use parse::parse;
pub use table::{COMMANDS, CommandDoc, FlagDoc, lookup};
pub use validate::{NAME_MAX, NameError, REF_MAX, RefError};
pub use verbs::REASON_MAX;
