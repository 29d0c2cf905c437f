//! The playbook schema: `[app]`, `[vars]` and `[hosts.NAME]`, assembled with the environments
//! (`environments.rs`) and the pipeline (`pipeline.rs`) into a `Playbook`.

use std::collections::BTreeMap;
use std::path::Path;

use super::model::{AppSection, ChangesetSource, DeltaCopy, HostSpec, Playbook, StagingMode};
use super::paths::{dir_of, resolve};
use super::reader::{Item, Reader, Table};
use super::{environments, keys, pipeline, ssh, values};

/// A playbook as read, with where its `app.name` is written (to report a duplicate there).
pub(super) struct PlaybookFile {
    pub playbook: Playbook,
    pub name_at: Option<usize>,
}

/// Reads the document at `path`; where a value is wrong a problem is recorded and a default
/// stands in. Hosts with no `[hosts.NAME]` entry live in `<state_dir>/hosts/NAME`.
pub(super) fn read(
    reader: &mut Reader<'_>,
    root: &Table<'_, '_>,
    path: &Path,
    state_dir: &Path,
) -> PlaybookFile {
    let dir = dir_of(path);
    reader.known_keys(root, keys::PLAYBOOK);

    let app_table = reader.req(root, "app", "a table", Reader::table);
    let name_at = app_table
        .as_ref()
        .and_then(|table| table.get("name"))
        .map(|item| item.at);
    // Without an [app] table its keys are not reported missing one by one.
    let app = app_table.map_or_else(absent_app, |table| app(reader, &table, dir));

    let vars = reader
        .opt(root, "vars", values::variables)
        .unwrap_or_default();
    let environments = environments::read(reader, root);

    let ssh = ssh::defaults(reader, root, dir);
    let mut hosts = reader
        .opt(root, "hosts", |r, item| host_specs(r, item, dir, &ssh))
        .unwrap_or_default();
    for environment in &environments {
        for host in environment.groups.iter().flat_map(|group| &group.hosts) {
            hosts
                .entry(host.clone())
                .or_insert_with(|| HostSpec::Local {
                    root: state_dir.join("hosts").join(host),
                });
        }
    }

    let pipeline = pipeline::read(reader, root);
    PlaybookFile {
        playbook: Playbook {
            path: path.to_path_buf(),
            app,
            vars,
            environments,
            hosts,
            pipeline,
        },
        name_at,
    }
}

const KEEP_RELEASES: usize = 5;
const MAX_PARALLEL: usize = 32;
const DELTA_MAX_PERCENT: u32 = 50;
const CONNECT_RATE: u32 = 30;

/// Stands in for a missing `[app]` (already reported).
fn absent_app() -> AppSection {
    AppSection {
        name: String::new(),
        repo: String::new(),
        deploy_to: String::new(),
        keep_releases: KEEP_RELEASES,
        shared: Vec::new(),
        max_parallel: MAX_PARALLEL,
        min_free_bytes: 0,
        rooms: Vec::new(),
        changesets: ChangesetSource::Git,
        tracker_required: false,
        rollback_partial: false,
        staging: StagingMode::Auto,
        delta_max_percent: DELTA_MAX_PERCENT,
        delta_copy: DeltaCopy::Auto,
        connect_rate: CONNECT_RATE,
    }
}

fn app(reader: &mut Reader<'_>, table: &Table<'_, '_>, dir: &Path) -> AppSection {
    reader.known_keys(table, keys::APP);
    let name = reader.req(table, "name", "a string", values::name);
    let repo = reader
        .req(table, "repo", "a string", Reader::text)
        .map(|repo| {
            if repo.contains("://") {
                repo
            } else {
                resolve(dir, repo).to_string_lossy().into_owned()
            }
        });
    let deploy_to = reader.req(table, "deploy_to", "a string", values::absolute_path);
    AppSection {
        name: name.unwrap_or_default(),
        repo: repo.unwrap_or_default(),
        deploy_to: deploy_to.unwrap_or_default(),
        keep_releases: reader
            .opt(table, "keep_releases", |r, item| r.count(item, 2))
            .unwrap_or(KEEP_RELEASES),
        shared: reader
            .opt(table, "shared", |r, item| r.list(item, values::inner_path))
            .unwrap_or_default(),
        max_parallel: reader
            .opt(table, "max_parallel", |r, item| r.count(item, 1))
            .unwrap_or(MAX_PARALLEL),
        min_free_bytes: reader.opt(table, "min_free", values::size).unwrap_or(0),
        rooms: reader
            .opt(table, "rooms", Reader::strings)
            .unwrap_or_default(),
        changesets: reader
            .opt(table, "changesets", |r, item| {
                values::choice(r, item, "changeset source", keys::CHANGESET_SOURCES)
            })
            .unwrap_or_default(),
        tracker_required: reader
            .opt(table, "tracker_required", Reader::boolean)
            .unwrap_or(false),
        rollback_partial: reader
            .opt(table, "rollback_partial", Reader::boolean)
            .unwrap_or(false),
        staging: reader
            .opt(table, "staging", |r, item| {
                values::choice(r, item, "staging", keys::STAGING_MODES)
            })
            .unwrap_or_default(),
        delta_max_percent: reader
            .opt(table, "delta_max_percent", |r, item| {
                let n = r.count(item.clone(), 1)?;
                if n > 100 {
                    r.invalid(&item, "a whole number from 1 to 100");
                    return None;
                }
                Some(n as u32)
            })
            .unwrap_or(DELTA_MAX_PERCENT),
        delta_copy: reader
            .opt(table, "delta_copy", |r, item| {
                values::choice(r, item, "delta_copy", keys::DELTA_COPIES)
            })
            .unwrap_or_default(),
        connect_rate: reader
            .opt(table, "connect_rate", |r, item| {
                r.count(item, 1).map(|n| n.min(u32::MAX as usize) as u32)
            })
            .unwrap_or(CONNECT_RATE),
    }
}

/// `[hosts.NAME]` entries: a local host's directory (`root`, relative to the playbook) or an SSH
/// host (`address`, over the `[ssh]` defaults).
fn host_specs(
    reader: &mut Reader<'_>,
    item: Item<'_, '_>,
    dir: &Path,
    ssh_defaults: &ssh::SshDefaults,
) -> Option<BTreeMap<String, HostSpec>> {
    let table = reader.table(item)?;
    let mut hosts = BTreeMap::new();
    for entry in table.entries() {
        let named = values::key_name(reader, &entry);
        let Some(host) = reader.table(entry.item) else {
            continue;
        };
        reader.known_keys(&host, keys::HOST);
        let spec = match (host.get("root"), host.get("address")) {
            (Some(_), None) => {
                for key in keys::HOST.iter().filter(|k| **k != "root") {
                    if let Some(item) = host.get(key) {
                        let message = "only an SSH host (one with address) takes this key";
                        reader.report(item.key_at, item.key, message);
                    }
                }
                reader
                    .opt(&host, "root", Reader::text)
                    .map(|root| HostSpec::Local {
                        root: resolve(dir, root),
                    })
            }
            (None, Some(_)) => ssh::host(reader, &host, dir, ssh_defaults),
            (Some(root), Some(_)) => {
                let message = "give root (a local host) or address (an SSH host), not both";
                reader.report(root.key_at, root.key, message);
                None
            }
            (None, None) => {
                let message =
                    r#"give root = "…" (a local host's directory) or address = "…" (an SSH host)"#;
                reader.report(host.at, host.key.clone(), message);
                None
            }
        };
        if let Some(spec) = spec
            && named
        {
            hosts.insert(entry.name.to_string(), spec);
        }
    }
    Some(hosts)
}
