//! The test harness: starts real peers (hosts, servers, repositories) and stops them when a test ends.
#![allow(dead_code)]

pub mod app;
pub mod bot;
pub mod browser;
pub mod discord;
pub mod postgres;
pub mod process;
pub mod prosody;
pub mod proxy;
pub mod slack;
pub mod ssh_app;
pub mod sshd;
pub mod standin;
pub mod trac;
