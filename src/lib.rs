//! bosun: a chat-ops bot that deploys and announces. The library behind the `bosun` binary.

#[cfg(test)]
extern crate self as bosun;

pub mod announce;
pub mod auth;
pub mod bot;
pub mod chat;
pub mod checks;
pub mod clock;
pub mod command;
pub mod config;
pub mod engine;
pub mod journal;
pub mod live;
pub mod malloc;
pub mod redact;
pub mod source;
pub mod tracker;
pub mod transport;
pub mod web;
