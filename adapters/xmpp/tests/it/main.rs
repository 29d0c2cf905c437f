//! Integration tests of the XMPP adapter against a real Prosody, in one test binary.

#[path = "../support/mod.rs"]
mod support;

mod direct;
mod progress;
mod restart;
mod rooms;
mod text;
mod tls;
