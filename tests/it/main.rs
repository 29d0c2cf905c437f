//! Integration tests against real peers: one binary, one module per story.

mod announce;
mod checks;
mod cli;
mod console;
mod crash;
mod deploy;
mod discord;
mod guardrails;
mod kill;
mod lease;
mod plan;
mod reads;
mod recovery;
mod rolling;
mod slack;
mod ssh;
mod ssh_canary;
mod ssh_recovery;
mod status;
mod support;
mod tidy;
mod tracker;
mod web;
mod web_record;
mod web_releases;
mod xmpp;
