//! `[environments.NAME]` and `[[environments.NAME.groups]]`: where an app deploys, host group by
//! host group, in the order written.

use std::collections::BTreeMap;

use super::model::{Batch, Environment, HostGroup};
use super::reader::{Item, Reader, Table};
use super::{checks, keys, values};

/// Every environment, in the order first written. Required: at least one.
pub(super) fn read(reader: &mut Reader<'_>, root: &Table<'_, '_>) -> Vec<Environment> {
    let what = "a table of environments like [environments.staging]";
    let Some(table) = reader.req(root, "environments", what, Reader::table) else {
        return Vec::new();
    };
    let entries = table.entries();
    if entries.is_empty() {
        reader.report(
            table.at,
            table.key.clone(),
            "expected at least one environment like [environments.staging]",
        );
    }
    let environments: Vec<Environment> = entries
        .into_iter()
        .filter_map(|entry| {
            let named = values::key_name(reader, &entry);
            let environment = reader
                .table(entry.item)
                .map(|table| environment(reader, &table, entry.name));
            environment.filter(|_| named)
        })
        .collect();
    checks::cross_check(reader, &table, &environments);
    environments
}

fn environment(reader: &mut Reader<'_>, table: &Table<'_, '_>, name: &str) -> Environment {
    reader.known_keys(table, keys::ENVIRONMENT);
    let default_ref = reader
        .opt(table, "default_ref", Reader::text)
        .unwrap_or_else(|| "main".to_string());
    let (require, checks) = checks::read(reader, table, &default_ref);
    let vars = reader
        .opt(table, "vars", values::variables)
        .unwrap_or_default();

    let mut seen = BTreeMap::new();
    let shorthand = reader.opt(table, "hosts", |r, item| hosts(r, item, &mut seen));
    let groups = reader.opt(table, "groups", |r, item| groups(r, item, &mut seen));
    let groups = match (shorthand, groups) {
        (Some(_), Some(groups)) => {
            if let Some(item) = table.get("groups") {
                reader.report(item.at, item.key, "give either hosts or groups, not both");
            }
            groups
        }
        (Some(hosts), None) => vec![HostGroup {
            name: "default".to_string(),
            hosts,
            batch: Batch::All,
        }],
        (None, Some(groups)) => groups,
        (None, None) => {
            if !table.entries.contains_key("hosts") && !table.entries.contains_key("groups") {
                let message = format!("no hosts; give hosts = [\"…\"] or [[{}.groups]]", table.key);
                reader.report(table.at, table.key.clone(), message);
            }
            Vec::new()
        }
    };
    Environment {
        name: name.to_string(),
        default_ref,
        require,
        checks,
        vars,
        groups,
    }
}

/// A non-empty list of host names, none already in this environment (`seen`: host → its key).
fn hosts(
    reader: &mut Reader<'_>,
    item: Item<'_, '_>,
    seen: &mut BTreeMap<String, String>,
) -> Option<Vec<String>> {
    let (key, at) = (item.key.clone(), item.at);
    let hosts = reader.list(item, |r, item| {
        let host = values::name(r, item.clone())?;
        if let Some(first) = seen.get(&host) {
            r.report(
                item.at,
                item.key,
                format!("host {host:?} is already in this environment ({first})"),
            );
        } else {
            seen.insert(host.clone(), item.key);
        }
        Some(host)
    })?;
    if hosts.is_empty() {
        reader.report(at, key, "expected at least one host, found an empty array");
    }
    Some(hosts)
}

fn groups(
    reader: &mut Reader<'_>,
    item: Item<'_, '_>,
    seen: &mut BTreeMap<String, String>,
) -> Option<Vec<HostGroup>> {
    let (key, at) = (item.key.clone(), item.at);
    let mut groups: Vec<HostGroup> = Vec::new();
    for element in reader.array(item)? {
        let Some(table) = reader.table(element) else {
            continue;
        };
        reader.known_keys(&table, keys::GROUP);
        let name = reader
            .req(&table, "name", "a string", values::name)
            .unwrap_or_default();
        if let Some(item) = table.get("name")
            && groups.iter().any(|group| group.name == name)
        {
            reader.report(
                item.at,
                item.key,
                format!("another group is already named {name:?}"),
            );
        }
        let hosts = reader.req(&table, "hosts", "an array of host names", |r, item| {
            hosts(r, item, seen)
        });
        let batch = reader
            .opt(&table, "batch", values::batch)
            .unwrap_or(Batch::All);
        groups.push(HostGroup {
            name,
            hosts: hosts.unwrap_or_default(),
            batch,
        });
    }
    if groups.is_empty() {
        reader.report(at, key, "expected at least one group, found an empty array");
    }
    Some(groups)
}
