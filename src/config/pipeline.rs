//! `[pipeline]`: the commands a deploy runs on each host, with `migrate` and `health` tables.

use std::time::Duration;

use super::model::{HealthCheck, HealthProbe, LoadBalancer, Migrate, Pipeline};
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
        lb: reader.opt(&table, "lb", lb),
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
    let command = reader.opt(&table, "command", values::command);
    let http = reader.opt(&table, "http", values::http_url);
    let probe = match (command, http) {
        (Some(command), None) => Some(HealthProbe::Command(command)),
        (None, Some(url)) => Some(HealthProbe::Http(url)),
        (Some(_), Some(_)) => {
            reader.report(table.at, table.key.clone(), "give \"command\" or \"http\", not both");
            None
        }
        (None, None) => {
            reader.report(table.at, table.key.clone(), "missing \"command\" or \"http\"; expected a command or a URL");
            None
        }
    };
    let retries = reader.opt(&table, "retries", |r, item| r.count(item, 0));
    let interval = reader.opt(&table, "interval", values::duration);
    let timeout = reader.opt(&table, "timeout", values::time_limit);
    Some(HealthCheck {
        probe: probe?,
        retries: retries.map_or(3, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        interval: interval.unwrap_or(Duration::from_secs(1)),
        timeout: timeout.unwrap_or(Duration::from_secs(10)),
    })
}

fn lb(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<LoadBalancer> {
    let table = reader.table(item)?;
    reader.known_keys(&table, keys::LB);
    let out = reader.req(&table, "out", "a command", values::command);
    let into = reader.req(&table, "in", "a command", values::command);
    Some(LoadBalancer { out: out?, into: into? })
}
