//! `[pipeline]`: the commands a deploy runs on each host, with `migrate` and `health` tables.

use std::time::Duration;

use super::model::{HealthCheck, Migrate, Pipeline};
use super::reader::{Item, Reader, Table};
use super::{keys, values};

pub(super) fn read(reader: &mut Reader<'_>, root: &Table<'_, '_>) -> Pipeline {
    let Some(table) = reader.opt(root, "pipeline", Reader::table) else {
        return Pipeline {
            command_timeout: Duration::from_secs(600),
            ..Pipeline::default()
        };
    };
    reader.known_keys(&table, keys::PIPELINE);
    Pipeline {
        build: reader
            .opt(&table, "build", values::commands)
            .unwrap_or_default(),
        migrate: reader.opt(&table, "migrate", migrate),
        restart: reader.opt(&table, "restart", values::command),
        health: reader.opt(&table, "health", health),
        command_timeout: reader
            .opt(&table, "command_timeout", values::time_limit)
            .unwrap_or(Duration::from_secs(600)),
    }
}

fn migrate(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<Migrate> {
    let table = reader.table(item)?;
    reader.known_keys(&table, keys::MIGRATE);
    let up = reader.req(&table, "up", "a command", values::command);
    let down = reader.opt(&table, "down", values::command);
    let once = reader.opt(&table, "once", Reader::boolean).unwrap_or(true);
    Some(Migrate {
        up: up?,
        down,
        once,
    })
}

fn health(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<HealthCheck> {
    let table = reader.table(item)?;
    reader.known_keys(&table, keys::HEALTH);
    let command = reader.req(&table, "command", "a command", values::command);
    let retries = reader.opt(&table, "retries", |r, item| r.count(item, 0));
    let interval = reader.opt(&table, "interval", values::duration);
    let timeout = reader.opt(&table, "timeout", values::time_limit);
    Some(HealthCheck {
        command: command?,
        retries: retries.map_or(3, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        interval: interval.unwrap_or(Duration::from_secs(1)),
        timeout: timeout.unwrap_or(Duration::from_secs(10)),
    })
}
