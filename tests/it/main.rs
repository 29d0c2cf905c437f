//! Integration tests against real peers: one binary, one module per story.

mod support;
mod tracker;
