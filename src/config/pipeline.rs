//! `[pipeline]`: the commands a deploy runs on each host, with `migrate` and `health` tables.

use std::time::Duration;

use super::model::{
    CommandSpec, HealthCheck, HealthProbe, LoadBalancer, Maintenance, Migrate, Pipeline,
};
use super::reader::{Item, Reader, Table};
use super::{keys, values};

pub(super) fn read(reader: &mut Reader<'_>, root: &Table<'_, '_>) -> Pipeline {
    let Some(table) = reader.opt(root, "pipeline", Reader::table) else {
        return Pipeline {
            command_timeout: Duration::from_secs(600),
            retries: RETRIES,
            ..Pipeline::default()
        };
    };
    reader.known_keys(&table, keys::PIPELINE);
    let smoke = reader.opt(&table, "smoke", smoke);
    Pipeline {
        build: reader
            .opt(&table, "build", values::commands)
            .unwrap_or_default(),
        migrate: reader.opt(&table, "migrate", migrate),
        restart: reader.opt(&table, "restart", values::command),
        health: reader.opt(&table, "health", health),
        lb: reader.opt(&table, "lb", lb),
        maintenance: reader.opt(&table, "maintenance", maintenance),
        backup: reader.opt(&table, "backup", values::command),
        smoke_before: smoke.as_ref().map(|s| s.0.clone()).unwrap_or_default(),
        smoke_after: smoke.map(|s| s.1).unwrap_or_default(),
        retries: reader
            .opt(&table, "retries", |r, item| r.count(item, 0))
            .map_or(RETRIES, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        command_timeout: reader
            .opt(&table, "command_timeout", values::time_limit)
            .unwrap_or(Duration::from_secs(600)),
    }
}

const RETRIES: u32 = 2;

fn maintenance(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<Maintenance> {
    let table = reader.table(item)?;
    reader.known_keys(&table, keys::MAINTENANCE);
    let up = reader.req(&table, "up", "a command", values::command);
    let down = reader.req(&table, "down", "a command", values::command);
    Some(Maintenance {
        up: up?,
        down: down?,
    })
}

type Smoke = (Vec<CommandSpec>, Vec<CommandSpec>);

fn smoke(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<Smoke> {
    let table = reader.table(item)?;
    reader.known_keys(&table, keys::SMOKE);
    let before = reader
        .opt(&table, "before", values::commands)
        .unwrap_or_default();
    let after = reader
        .opt(&table, "after", values::commands)
        .unwrap_or_default();
    Some((before, after))
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
            reader.report(
                table.at,
                table.key.clone(),
                "give \"command\" or \"http\", not both",
            );
            None
        }
        (None, None) => {
            reader.report(
                table.at,
                table.key.clone(),
                "missing \"command\" or \"http\"; expected a command or a URL",
            );
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
    Some(LoadBalancer {
        out: out?,
        into: into?,
    })
}
