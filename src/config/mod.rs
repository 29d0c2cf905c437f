//! Configuration: bosun.toml and the playbooks, loaded, validated, and reported with file:line:col:key errors.

mod model;

pub use model::*;
