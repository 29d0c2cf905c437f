//! The releases kept on the hosts and how to go back to one: `releases APP in ENV` lists them,
//! `rollback APP in ENV to REF|RELEASE` picks one, and the journal's history says which
//! migrations are still applied and must run down (newest first) on the way back.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::action::Action;
use super::fleet::reach;
use super::plan::{Phase, Plan, PlanKind};
use super::prepare::{PrepareError, target};
use crate::config::{Config, Playbook};
use crate::journal::{DeployKind, DeployRecord, Journal};
use crate::transport::Connector;

/// A migration whose up ran and whose down has not: it belongs to the release that ran it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub release: String,
    pub deploy_id: i64,
    pub host: String,
    pub up: Action,
    /// Its down migration(s); empty when the playbook had none.
    pub downs: Vec<Action>,
}

fn marker_of(action: &Action) -> Option<&str> {
    match action {
        Action::Migrate { marker, .. } => Some(marker),
        _ => None,
    }
}

/// Replays the successful deploys and rollbacks of one app and environment (oldest first):
/// a deploy's migrations go up, a rollback's downs take them off again. What is left is applied
/// now, oldest first.
pub fn applied_migrations(records: &[DeployRecord]) -> Vec<Applied> {
    let mut applied: Vec<Applied> = Vec::new();
    for record in records {
        let Some(plan) = record
            .plan
            .as_deref()
            .and_then(|p| serde_json::from_str::<Plan>(p).ok())
        else {
            continue;
        };
        for step in plan.steps.iter().filter(|s| s.phase == Phase::Migrate) {
            match (&plan.kind, &step.action) {
                (PlanKind::Deploy, Action::Migrate { up: true, .. }) => applied.push(Applied {
                    release: plan.release.clone(),
                    deploy_id: record.id,
                    host: step.host.clone(),
                    up: step.action.clone(),
                    downs: step.undo.clone(),
                }),
                (PlanKind::Rollback, down @ Action::Migrate { up: false, .. }) => {
                    let marker = marker_of(down);
                    if let Some(at) = applied
                        .iter()
                        .rposition(|a| a.host == step.host && marker_of(&a.up) == marker)
                    {
                        applied.remove(at);
                    }
                }
                _ => {}
            }
        }
    }
    applied
}

/// The migrations to run down to go back to `target` (those of every later release still
/// applied), newest first, as the plan takes them: host, the up, its downs. A migration without
/// a down refuses the rollback, unless `force` (then it is left as it is).
pub fn migrations_to_undo(
    applied: &[Applied],
    target: &str,
    force: bool,
) -> Result<Vec<(String, Action, Vec<Action>)>, PrepareError> {
    let mut out = Vec::new();
    for a in applied.iter().rev().filter(|a| a.release.as_str() > target) {
        if a.downs.is_empty() {
            if force {
                continue;
            }
            return Err(PrepareError::NoDownMigration {
                release: a.release.clone(),
                up: a.up.label(),
            });
        }
        out.push((a.host.clone(), a.up.clone(), a.downs.clone()));
    }
    Ok(out)
}

/// Going forward to `target` (newer than the live release) would need migrations that were
/// run down since: refused unless forced.
pub fn forward_gap(records: &[DeployRecord], live: &str, target: &str) -> Option<(String, String)> {
    records
        .iter()
        .filter(|r| r.kind == DeployKind::Deploy)
        .filter_map(|r| {
            let plan: Plan = serde_json::from_str(r.plan.as_deref()?).ok()?;
            let release = plan.release.as_str();
            if release <= live || release > target {
                return None;
            }
            let step = plan
                .steps
                .iter()
                .find(|s| matches!(s.action, Action::Migrate { up: true, .. }))?;
            Some((plan.release.clone(), step.action.label()))
        })
        .next()
}

/// The deploy that made each release (the newest successful deploy of that name).
pub fn deploys_by_release(records: &[DeployRecord]) -> BTreeMap<String, &DeployRecord> {
    let mut by = BTreeMap::new();
    for r in records.iter().filter(|r| r.kind == DeployKind::Deploy) {
        if let Some(release) = &r.release {
            by.insert(release.clone(), r);
        }
    }
    by
}

/// What `rollback … to WHAT` may mean, newest first: the release of that name, or the kept
/// releases of the commit a ref names.
pub async fn candidates(
    config: &Arc<Config>,
    playbook: &Playbook,
    env: &str,
    records: &[DeployRecord],
    to: &str,
) -> Result<Vec<String>, PrepareError> {
    let by_release = deploys_by_release(records);
    if by_release.contains_key(to) {
        return Ok(vec![to.to_string()]);
    }
    let revision = {
        let config = config.clone();
        let app = playbook.app.name.clone();
        let to = to.to_string();
        tokio::task::spawn_blocking(move || {
            let playbook = config.playbook(&app).expect("checked by the caller");
            // A kept release's commit was deployed from the mirror: a ref the mirror already
            // knows needs no git server. Only a ref it does not know is fetched for.
            let state_dir = &config.bot.state_dir;
            if let Ok(mirror) = crate::source::Mirror::open(state_dir, &playbook.app.name)
                && let Ok(revision) = mirror.resolve(&to)
            {
                return Ok(revision);
            }
            let mirror =
                crate::source::Mirror::sync(state_dir, &playbook.app.name, &playbook.app.repo)?;
            Ok::<_, PrepareError>(mirror.resolve(&to)?)
        })
        .await
        .map_err(|e| PrepareError::Internal(e.to_string()))??
    };
    let mut found: Vec<String> = by_release
        .iter()
        .filter(|(_, r)| r.revision.as_deref() == Some(revision.sha.as_str()))
        .map(|(release, _)| release.clone())
        .collect();
    found.reverse();
    if found.is_empty() {
        let app = &playbook.app.name;
        return Err(PrepareError::NothingToRollBack(format!(
            "{app} {to} ({}) was never deployed to {env}; \"releases {app} in {env}\" lists what can be rolled back to",
            revision.short,
        )));
    }
    Ok(found)
}

/// One release kept on the hosts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptRelease {
    pub name: String,
    /// The deploy that made it, when the journal knows it.
    pub deploy: Option<DeployRecord>,
    /// The up migrations that deploy ran.
    pub migrations: Vec<String>,
    /// Hosts that keep it, and hosts it is live on.
    pub on: Vec<String>,
    pub live_on: Vec<String>,
}

/// What `releases APP in ENV` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptReleases {
    pub app: String,
    pub env: String,
    /// Hosts asked.
    pub hosts: Vec<String>,
    /// Newest first.
    pub releases: Vec<KeptRelease>,
    /// Hosts that did not answer, with why.
    pub unreachable: Vec<(String, String)>,
}

/// Asks every host of `app` in `env` which releases it keeps, and the journal what each is.
pub async fn kept_releases(
    connector: &Connector,
    config: &Arc<Config>,
    journal: &Journal,
    app: &str,
    env: Option<&str>,
) -> Result<KeptReleases, PrepareError> {
    let (playbook, env) = target(config, app, env)?;
    // The deploy that went live and still removes old releases made the live release.
    let records = super::recover::succeeded_or_live(journal, &playbook.app.name, &env.name).await?;
    let by_release = deploys_by_release(&records);
    let reached = reach(connector, config, playbook, env, &[]).await;
    let mut kept: BTreeMap<String, KeptRelease> = BTreeMap::new();
    for (host, observed) in &reached.observed {
        for name in &observed.releases {
            let entry = kept.entry(name.clone()).or_insert_with(|| {
                let deploy = by_release.get(name).map(|d| (*d).clone());
                let migrations = deploy
                    .as_ref()
                    .and_then(|d| serde_json::from_str::<Plan>(d.plan.as_deref()?).ok())
                    .map(|plan| {
                        plan.steps
                            .iter()
                            .filter(|s| matches!(s.action, Action::Migrate { up: true, .. }))
                            .map(|s| s.action.label())
                            .collect()
                    })
                    .unwrap_or_default();
                KeptRelease {
                    name: name.clone(),
                    deploy,
                    migrations,
                    on: Vec::new(),
                    live_on: Vec::new(),
                }
            });
            entry.on.push(host.clone());
            if observed.current.as_deref() == Some(name.as_str()) {
                entry.live_on.push(host.clone());
            }
        }
    }
    Ok(KeptReleases {
        app: playbook.app.name.clone(),
        env: env.name.clone(),
        hosts: env.groups.iter().flat_map(|g| g.hosts.clone()).collect(),
        releases: kept.into_values().rev().collect(),
        unreachable: reached.not_ready,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::{RevisionInfo, Step};
    use crate::journal::DeployState;

    fn migrate(up: bool, release: &str) -> Action {
        Action::Migrate {
            up,
            argv: vec!["migrate".into(), if up { "up" } else { "down" }.into()],
            cwd: "/srv/demo".into(),
            timeout_ms: 1000,
            marker: format!("/srv/demo/.bosun/migrated-{release}"),
        }
    }

    fn record(id: i64, kind: PlanKind, release: &str, steps: Vec<Step>) -> DeployRecord {
        let plan = Plan {
            version: 1,
            kind,
            app: "demo".into(),
            env: "staging".into(),
            reference: None,
            revision: RevisionInfo {
                sha: format!("{id:040}"),
                short: format!("{id:07}"),
                tag: None,
            },
            previous: None,
            release: release.into(),
            previous_release: None,
            changesets: vec![],
            hosts: vec![],
            batches: vec![],
            steps,
            canary: None,
            tickets: Default::default(),
            notices: vec![],
            full_list_url: None,
        };
        DeployRecord {
            id,
            kind: match kind {
                PlanKind::Deploy => DeployKind::Deploy,
                PlanKind::Rollback => DeployKind::Rollback,
            },
            app: "demo".into(),
            env: "staging".into(),
            reference: None,
            revision: Some(plan.revision.sha.clone()),
            tag: None,
            release: Some(release.into()),
            previous_release: None,
            previous_revision: None,
            requested_by: "alice".into(),
            room: "console".into(),
            state: DeployState::Succeeded,
            plan: Some(plan.to_json()),
            summary: None,
            started_at: 0,
            finished_at: None,
            generation: None,
        }
    }

    fn deploy(id: i64, release: &str, with_down: bool) -> DeployRecord {
        let undo = if with_down {
            vec![migrate(false, release)]
        } else {
            vec![]
        };
        let step = Step {
            seq: 1,
            phase: Phase::Migrate,
            host: "h2".into(),
            action: migrate(true, release),
            undo,
        };
        record(id, PlanKind::Deploy, release, vec![step])
    }

    fn rollback(id: i64, to: &str, downs: &[&str]) -> DeployRecord {
        let steps = downs
            .iter()
            .map(|r| Step {
                seq: 1,
                phase: Phase::Migrate,
                host: "h2".into(),
                action: migrate(false, r),
                undo: vec![migrate(true, r)],
            })
            .collect();
        record(id, PlanKind::Rollback, to, steps)
    }

    fn releases_of(undo: &[(String, Action, Vec<Action>)]) -> Vec<String> {
        undo.iter()
            .map(|(_, up, _)| {
                marker_of(up)
                    .unwrap()
                    .rsplit('-')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn downs_of_every_later_release_run_newest_first() {
        let records = vec![
            deploy(1, "r1", true),
            deploy(2, "r2", true),
            deploy(3, "r3", true),
        ];
        let applied = applied_migrations(&records);
        assert_eq!(applied.len(), 3);
        let undo = migrations_to_undo(&applied, "r1", false).unwrap();
        assert_eq!(releases_of(&undo), ["r3", "r2"]);
        assert!(
            migrations_to_undo(&applied, "r3", false)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_rollback_takes_its_downs_off_the_applied_list() {
        let records = vec![
            deploy(1, "r1", true),
            deploy(2, "r2", true),
            rollback(3, "r1", &["r2"]),
            deploy(4, "r4", true),
        ];
        let applied = applied_migrations(&records);
        let undo = migrations_to_undo(&applied, "r1", false).unwrap();
        assert_eq!(releases_of(&undo), ["r4"], "r2 was already run down");
        assert_eq!(
            forward_gap(&records, "r1", "r2"),
            Some(("r2".to_string(), migrate(true, "r2").label()))
        );
        assert_eq!(forward_gap(&records, "r1", "r1"), None);
    }

    #[test]
    fn a_missing_down_refuses_with_the_reason_unless_forced() {
        let records = vec![
            deploy(1, "r1", true),
            deploy(2, "r2", false),
            deploy(3, "r3", true),
        ];
        let applied = applied_migrations(&records);
        let refused = migrations_to_undo(&applied, "r1", false).unwrap_err();
        assert!(
            refused.to_string().contains("release r2 migrated with"),
            "{refused}"
        );
        let forced = migrations_to_undo(&applied, "r1", true).unwrap();
        assert_eq!(releases_of(&forced), ["r3"]);
    }
}
