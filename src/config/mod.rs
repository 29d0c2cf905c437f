//! Configuration: bosun.toml and the playbooks, loaded, validated, and reported with file:line:col:key errors.
//!
//! `load` reads bosun.toml and every playbook it names and returns a validated `Config`, or a
//! `ConfigError` listing every problem found (`FILE:LINE:COL: KEY: MESSAGE`, one per line).
//! `config.example.toml` and `playbooks/demo.toml` document every key; `keys.rs` lists them.

mod bot;
mod chat;
mod checks;
mod environments;
mod error;
mod keys;
mod load;
mod model;
mod paths;
mod people;
mod pipeline;
mod plaintext;
mod playbook;
mod reader;
mod source;
mod ssh;
mod suggest;
mod tracker;
mod values;
mod web;
mod words;

#[cfg(test)]
mod tests;

pub use bosun_chat::{SecretError, SecretValue};
pub use checks::{Check, CheckSettings, CiCheck, CiProbe, DAYS, Window};
pub use error::{ConfigError, Problem};
pub use load::{load, load_playbook};
pub use model::*;
