//! Integration tests against real peers: one binary, one module per story.

mod crash;
mod deploy;
mod plan;
mod support;
mod tracker;
