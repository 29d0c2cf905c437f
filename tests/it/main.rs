//! Integration tests against real peers: one binary, one module per story.

mod cli;
mod crash;
mod deploy;
mod discord;
mod plan;
mod slack;
mod ssh;
mod support;
mod tidy;
mod tracker;
