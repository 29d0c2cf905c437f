//! `[[people]]` and `[roles.NAME]`: who is who on each chat network, and what each role grants.

use std::collections::BTreeMap;

use toml::de::DeValue;

use super::model::{Person, Role};
use super::reader::{Item, Reader};
use super::{keys, suggest, values};
use crate::chat::NAMES as NETWORKS;

/// `[roles.NAME]` tables, each granting actions on `APP:ENV` patterns.
pub(super) fn roles(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<BTreeMap<String, Role>> {
    let table = reader.table(item)?;
    let mut roles = BTreeMap::new();
    for entry in table.entries() {
        let named = values::key_name(reader, &entry);
        let Some(grants) = reader.table(entry.item) else {
            continue;
        };
        reader.known_keys(&grants, keys::ROLE);
        let mut action = |name: &str| {
            reader
                .opt(&grants, name, |r, item| r.list(item, values::pattern))
                .unwrap_or_default()
        };
        let role = Role {
            read: action("read"),
            deploy: action("deploy"),
            rollback: action("rollback"),
            force: action("force"),
            lock: action("lock"),
            unlock_others: action("unlock_others"),
            admin: action("admin"),
        };
        if named {
            roles.insert(entry.name.to_string(), role);
        }
    }
    Some(roles)
}

/// `[[people]]`: each person's name, identities and roles (which must be defined).
pub(super) fn people(
    reader: &mut Reader<'_>,
    item: Item<'_, '_>,
    roles: &BTreeMap<String, Role>,
) -> Option<Vec<Person>> {
    if !matches!(item.value, DeValue::Array(_)) {
        reader.wrong_type(&item, "an array of tables ([[people]])");
        return None;
    }
    let role_names: Vec<&str> = roles.keys().map(String::as_str).collect();
    let mut people: Vec<Person> = Vec::new();
    for element in reader.array(item)? {
        let Some(table) = reader.table(element) else {
            continue;
        };
        let known: Vec<&str> = keys::PERSON.iter().chain(NETWORKS).copied().collect();
        reader.known_keys(&table, &known);
        let name = reader
            .req(&table, "name", "a string", Reader::text)
            .unwrap_or_default();
        if let Some(item) = table.get("name")
            && people.iter().any(|p| p.name == name)
        {
            reader.report(
                item.at,
                item.key,
                format!("another person is already named {name:?}"),
            );
        }
        let mut identities = BTreeMap::new();
        for network in NETWORKS {
            let Some(item) = table.get(network) else {
                continue;
            };
            let Some(id) = reader.text(item.clone()) else {
                continue;
            };
            if let Some(other) = people
                .iter()
                .find(|p| p.identities.get(*network) == Some(&id))
            {
                reader.report(
                    item.at,
                    item.key,
                    format!(
                        "{id:?} is already the {network} identity of {:?}",
                        other.name
                    ),
                );
            }
            identities.insert(network.to_string(), id);
        }
        if identities.is_empty() {
            let message = format!(
                "no chat identity; give at least one of {}",
                NETWORKS.join(", ")
            );
            reader.report(table.at, table.key.clone(), message);
        }
        let roles = reader
            .opt(&table, "roles", |r, item| {
                r.list(item, |r, item| {
                    let role = r.text(item.clone())?;
                    if !role_names.contains(&role.as_str()) {
                        r.report(
                            item.at,
                            item.key,
                            suggest::unknown("role", &role, &role_names),
                        );
                    }
                    Some(role)
                })
            })
            .unwrap_or_default();
        people.push(Person {
            name,
            identities,
            roles,
        });
    }
    Some(people)
}
