//! A deploy as a value: `Plan` (revision, changesets, hosts in group order, steps with their undos), built by a pure function and rendered as text.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::action::{Action, Observed};
use crate::config::{CommandSpec, Environment, HealthProbe, Playbook};

/// A revision as plans and announcements show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionInfo {
    pub sha: String,
    pub short: String,
    pub tag: Option<String>,
}

impl RevisionInfo {
    /// `v1.4.2 (3f2a9c1)` or `3f2a9c1`.
    pub fn describe(&self) -> String {
        match &self.tag {
            Some(tag) => format!("{tag} ({})", self.short),
            None => self.short.clone(),
        }
    }
}

/// One commit that ships (or, for a rollback, is taken out).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangesetLine {
    pub sha: String,
    pub short: String,
    pub author: String,
    pub email: String,
    pub subject: String,
    /// Tickets the message names (`refs #12`, `fixes #3`, …).
    #[serde(default)]
    pub tickets: Vec<u32>,
}

/// A ticket as the tracker described it when the plan was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketInfo {
    pub id: u32,
    pub summary: String,
    pub status: String,
    pub resolution: String,
}

/// A host as the plan knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedHost {
    pub name: String,
    pub group: String,
    /// The deploy root as the host sees it.
    pub deploy_to: String,
    /// Its network address (`127.0.0.1` for a local host).
    #[serde(default)]
    pub address: String,
    /// The release `current` pointed at when the plan was made.
    pub previous_release: Option<String>,
    /// The revision that release holds (its `REVISION` file), when the host said.
    #[serde(default)]
    pub previous_revision: Option<String>,
}

/// Where a step belongs in the pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Pre-conditions (smoke tests) on the bot's machine, before anything is staged.
    Check,
    /// Upload, extract, link, build on every host; nothing user-visible changes.
    Stage,
    /// The maintenance page goes up on every host, before migrations.
    MaintenanceUp,
    /// Migrations, once, before the switch (for a rollback: a backup, then the downs).
    Migrate,
    /// Switch, restart and check one batch of one group.
    Switch {
        group: String,
        batch: usize,
        batches: usize,
    },
    /// The maintenance page comes down on every host.
    MaintenanceDown,
    /// Post-conditions (smoke tests) on the bot's machine; a failure rolls the fleet back.
    Verify,
    /// Clean up old releases; a failure here is reported, never undone.
    Finish,
}

impl Phase {
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Check => "check",
            Phase::Stage => "stage",
            Phase::MaintenanceUp => "maintenance up",
            Phase::Migrate => "migrate",
            Phase::MaintenanceDown => "maintenance down",
            Phase::Verify => "verify",
            Phase::Switch { .. } => "switch",
            Phase::Finish => "finish",
        }
    }
}

/// One step: an action on a host and the actions that undo it, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub seq: usize,
    pub phase: Phase,
    pub host: String,
    pub action: Action,
    pub undo: Vec<Action>,
}

/// Deploy or rollback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    Deploy,
    Rollback,
}

/// Everything a deploy will do, decided before anything is done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Version of this record's shape, for the journal.
    pub version: u32,
    pub kind: PlanKind,
    pub app: String,
    pub env: String,
    pub reference: Option<String>,
    pub revision: RevisionInfo,
    /// What was live before, per the journal.
    pub previous: Option<RevisionInfo>,
    /// The release directory name switched to.
    pub release: String,
    /// The release the journal says was live before (the same on every host unless the fleet
    /// had drifted; each host's own is in `hosts`).
    pub previous_release: Option<String>,
    /// For a deploy: what ships, newest first. For a rollback: what is taken out.
    pub changesets: Vec<ChangesetLine>,
    /// Hosts in the order they switch.
    pub hosts: Vec<PlannedHost>,
    /// Batches per group, in order: group name and its batches of host names.
    pub batches: Vec<(String, Vec<Vec<String>>)>,
    pub steps: Vec<Step>,
    /// For a canary deploy: the one host switched first; the deploy then waits for `continue`.
    #[serde(default)]
    pub canary: Option<String>,
    /// Ticket details from the tracker, by id.
    #[serde(default)]
    pub tickets: BTreeMap<u32, TicketInfo>,
    /// One-line notes for the room (e.g. why ticket details are missing).
    #[serde(default)]
    pub notices: Vec<String>,
    /// Where the whole list of changesets can be read, when the tracker has such a page.
    #[serde(default)]
    pub full_list_url: Option<String>,
}

/// What `plan` needs to know: the playbook, what to ship, and what the hosts have now.
pub struct PlanInput<'a> {
    pub kind: PlanKind,
    pub playbook: &'a Playbook,
    pub env: &'a Environment,
    pub reference: Option<String>,
    pub revision: RevisionInfo,
    pub previous: Option<RevisionInfo>,
    pub release: String,
    pub previous_release: Option<String>,
    /// The archive to unpack (a deploy only).
    pub archive: PathBuf,
    pub changesets: Vec<ChangesetLine>,
    /// Deploy root per host name, as each host sees it.
    pub deploy_roots: BTreeMap<String, String>,
    /// Network address per host name (for `{address}` in HTTP health checks).
    pub addresses: BTreeMap<String, String>,
    pub observed: BTreeMap<String, Observed>,
    /// Switch the first host of the first group alone, then wait for `continue`.
    pub canary: bool,
    /// For a rollback: the migrations the live release ran, as the journal recorded them (host,
    /// the up action, its down actions), to run down before switching back.
    pub migrations_down: Vec<(String, Action, Vec<Action>)>,
}

/// Where the bot's own commands (smoke tests) run: this machine, not a host.
pub const BOT_HOST: &str = "(bot)";

/// Builds the plan. Pure: the same input always gives the same plan.
pub fn plan(input: PlanInput<'_>) -> Plan {
    let PlanInput {
        kind,
        playbook,
        env,
        reference,
        revision,
        previous,
        release,
        previous_release,
        archive,
        changesets,
        deploy_roots,
        addresses,
        observed,
        canary,
        migrations_down,
    } = input;
    let pipeline = &playbook.pipeline;
    let timeout_ms = pipeline.command_timeout.as_millis() as u64;

    let mut hosts = Vec::new();
    let mut batches: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    let canary_host = canary
        .then(|| env.groups.first().and_then(|g| g.hosts.first()).cloned())
        .flatten();
    if let Some(first) = &canary_host {
        batches.push(("canary".to_string(), vec![vec![first.clone()]]));
    }
    for group in &env.groups {
        let members: Vec<String> = group
            .hosts
            .iter()
            .filter(|h| Some(*h) != canary_host.as_ref())
            .cloned()
            .collect();
        if !members.is_empty() {
            let size = group.batch.size_for(members.len());
            batches.push((
                group.name.clone(),
                members.chunks(size).map(|c| c.to_vec()).collect(),
            ));
        }
        for name in &group.hosts {
            hosts.push(PlannedHost {
                name: name.clone(),
                group: group.name.clone(),
                deploy_to: deploy_roots
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| playbook.app.deploy_to.clone()),
                address: addresses
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| "127.0.0.1".to_string()),
                previous_release: observed.get(name).and_then(|o| o.current.clone()),
                previous_revision: observed.get(name).and_then(|o| o.revision.clone()),
            });
        }
    }
    let host = |name: &str| hosts.iter().find(|h| h.name == name).expect("host in plan");

    // A command gets the variables of the release it runs in: the new one's, or (undoing a
    // switch, taking a host out of the load balancer) the one the host was on.
    let previous_sha = previous.as_ref().map(|p| p.sha.clone());
    let revision_in = |h: &PlannedHost, release_name: &str| {
        if release_name == release {
            revision.sha.clone()
        } else if h.previous_release.as_deref() == Some(release_name) {
            h.previous_revision
                .clone()
                .or_else(|| previous_sha.clone())
                .unwrap_or_default()
        } else {
            previous_sha.clone().unwrap_or_default()
        }
    };
    let vars_for = |h: &PlannedHost, release_name: &str| {
        let mut vars = playbook.vars.clone();
        vars.extend(env.vars.clone());
        let release_path = format!("{}/releases/{release_name}", h.deploy_to);
        vars.insert("app".into(), playbook.app.name.clone());
        vars.insert("env".into(), env.name.clone());
        vars.insert("host".into(), h.name.clone());
        vars.insert("address".into(), h.address.clone());
        vars.insert("revision".into(), revision_in(h, release_name));
        vars.insert("release".into(), release_name.to_string());
        vars.insert("release_path".into(), release_path);
        vars.insert("deploy_to".into(), h.deploy_to.clone());
        vars.insert("current_path".into(), format!("{}/current", h.deploy_to));
        vars.insert("shared_path".into(), format!("{}/shared", h.deploy_to));
        vars
    };
    let run = |what: &str, spec: &CommandSpec, h: &PlannedHost, release_name: &str| Action::Run {
        what: what.to_string(),
        argv: spec.render(&vars_for(h, release_name)),
        cwd: format!("{}/releases/{release_name}", h.deploy_to),
        timeout_ms,
    };

    let mut steps: Vec<Step> = Vec::new();
    let mut push = |phase: Phase, host: &str, action: Action, undo: Vec<Action>| {
        steps.push(Step {
            seq: steps.len() + 1,
            phase,
            host: host.to_string(),
            action,
            undo,
        });
    };

    let bot_vars_host = hosts.first().cloned();
    if kind == PlanKind::Deploy
        && let Some(h) = &bot_vars_host
    {
        for smoke in &pipeline.smoke_before {
            let Action::Run {
                argv, timeout_ms, ..
            } = run("pre-condition", smoke, h, &release)
            else {
                unreachable!("run() makes a Run")
            };
            let action = Action::Run {
                what: "pre-condition".into(),
                argv,
                cwd: String::new(),
                timeout_ms,
            };
            push(Phase::Check, BOT_HOST, action, vec![]);
        }
    }
    let migrates = match kind {
        PlanKind::Deploy => pipeline.migrate.is_some(),
        PlanKind::Rollback => !migrations_down.is_empty(),
    };
    let maintenance = pipeline.maintenance.as_ref().filter(|_| migrates);

    if kind == PlanKind::Deploy {
        for h in &hosts {
            let stage = Action::Stage {
                deploy_to: h.deploy_to.clone(),
                release: release.clone(),
                archive: archive.clone(),
                revision: revision.sha.clone(),
                shared: playbook.app.shared.clone(),
                staging: None,
            };
            let remove = Action::RemoveRelease {
                deploy_to: h.deploy_to.clone(),
                release: release.clone(),
            };
            push(Phase::Stage, &h.name, stage, vec![remove]);
            for build in &pipeline.build {
                push(
                    Phase::Stage,
                    &h.name,
                    run("build", build, h, &release),
                    vec![],
                );
            }
        }
    }
    if let Some(m) = maintenance {
        for h in &hosts {
            let cwd_release = h
                .previous_release
                .clone()
                .unwrap_or_else(|| release.clone());
            push(
                Phase::MaintenanceUp,
                &h.name,
                run("maintenance up", &m.up, h, &cwd_release),
                vec![run("maintenance down", &m.down, h, &cwd_release)],
            );
        }
    }
    if kind == PlanKind::Rollback {
        for (name, up, downs) in &migrations_down {
            let h = host(name);
            if let Some(backup) = &pipeline.backup {
                let mut vars = vars_for(h, &release);
                let path = format!("{}/shared/backup-before-rollback-to-{release}", h.deploy_to);
                vars.insert("backup_path".into(), path);
                let action = Action::Run {
                    what: "backup".into(),
                    argv: backup.render(&vars),
                    cwd: h.deploy_to.clone(),
                    timeout_ms,
                };
                push(Phase::Migrate, name, action, vec![]);
            }
            for down in downs {
                push(Phase::Migrate, name, down.clone(), vec![up.clone()]);
            }
        }
    }
    if kind == PlanKind::Deploy
        && let Some(migrate) = &pipeline.migrate
    {
        {
            let targets: Vec<&PlannedHost> = if migrate.once {
                hosts.last().into_iter().collect()
            } else {
                hosts.iter().collect()
            };
            for h in targets {
                let marker = format!("{}/.bosun/migrated-{release}", h.deploy_to);
                let migration = |up: bool, spec: &CommandSpec| {
                    let Action::Run {
                        argv,
                        cwd,
                        timeout_ms,
                        ..
                    } = run("migrate", spec, h, &release)
                    else {
                        unreachable!("run() makes a Run")
                    };
                    Action::Migrate {
                        up,
                        argv,
                        cwd,
                        timeout_ms,
                        marker: marker.clone(),
                    }
                };
                let undo = migrate
                    .down
                    .iter()
                    .map(|down| migration(false, down))
                    .collect();
                push(Phase::Migrate, &h.name, migration(true, &migrate.up), undo);
            }
        }
    }

    for (group, group_batches) in &batches {
        for (i, batch) in group_batches.iter().enumerate() {
            let phase = Phase::Switch {
                group: group.clone(),
                batch: i + 1,
                batches: group_batches.len(),
            };
            for name in batch {
                let h = host(name);
                let back: Vec<Action> = match &h.previous_release {
                    Some(prev) if *prev != release => {
                        let mut undo = vec![Action::Switch {
                            deploy_to: h.deploy_to.clone(),
                            release: prev.clone(),
                        }];
                        if let Some(restart) = &pipeline.restart {
                            undo.push(run("restart", restart, h, prev));
                        }
                        undo
                    }
                    Some(_) => vec![],
                    None => vec![Action::Unlink {
                        deploy_to: h.deploy_to.clone(),
                    }],
                };
                if let Some(lb) = &pipeline.lb {
                    let cwd_release = h
                        .previous_release
                        .clone()
                        .unwrap_or_else(|| release.clone());
                    push(
                        phase.clone(),
                        name,
                        run("lb out", &lb.out, h, &cwd_release),
                        vec![run("lb in", &lb.into, h, &cwd_release)],
                    );
                }
                push(
                    phase.clone(),
                    name,
                    Action::Switch {
                        deploy_to: h.deploy_to.clone(),
                        release: release.clone(),
                    },
                    back,
                );
                if let Some(restart) = &pipeline.restart {
                    push(
                        phase.clone(),
                        name,
                        run("restart", restart, h, &release),
                        vec![],
                    );
                }
                if let Some(health) = &pipeline.health {
                    let check = match &health.probe {
                        HealthProbe::Command(command) => {
                            let Action::Run { argv, cwd, .. } = run("health", command, h, &release)
                            else {
                                unreachable!("run() makes a Run")
                            };
                            Action::Health {
                                argv,
                                cwd,
                                retries: health.retries,
                                interval_ms: health.interval.as_millis() as u64,
                                timeout_ms: health.timeout.as_millis() as u64,
                            }
                        }
                        HealthProbe::Http(url) => Action::HealthHttp {
                            url: CommandSpec::new([url.clone()])
                                .render(&vars_for(h, &release))
                                .remove(0),
                            retries: health.retries,
                            interval_ms: health.interval.as_millis() as u64,
                            timeout_ms: health.timeout.as_millis() as u64,
                        },
                    };
                    push(phase.clone(), name, check, vec![]);
                }
                if let Some(lb) = &pipeline.lb {
                    push(
                        phase.clone(),
                        name,
                        run("lb in", &lb.into, h, &release),
                        vec![run("lb out", &lb.out, h, &release)],
                    );
                }
            }
        }
    }

    if let Some(m) = maintenance {
        for h in &hosts {
            push(
                Phase::MaintenanceDown,
                &h.name,
                run("maintenance down", &m.down, h, &release),
                vec![],
            );
        }
    }
    if let Some(h) = &bot_vars_host {
        for smoke in &pipeline.smoke_after {
            let Action::Run {
                argv, timeout_ms, ..
            } = run("post-condition", smoke, h, &release)
            else {
                unreachable!("run() makes a Run")
            };
            let action = Action::Run {
                what: "post-condition".into(),
                argv,
                cwd: String::new(),
                timeout_ms,
            };
            push(Phase::Verify, BOT_HOST, action, vec![]);
        }
    }

    if kind == PlanKind::Deploy {
        for h in &hosts {
            let mut protect = vec![release.clone()];
            protect.extend(h.previous_release.clone());
            let cleanup = Action::Cleanup {
                deploy_to: h.deploy_to.clone(),
                keep: playbook.app.keep_releases,
                protect,
            };
            push(Phase::Finish, &h.name, cleanup, vec![]);
        }
    }

    Plan {
        version: 1,
        kind,
        app: playbook.app.name.clone(),
        env: env.name.clone(),
        reference,
        revision,
        previous,
        release,
        previous_release,
        changesets,
        hosts,
        batches,
        steps,
        canary: canary_host,
        tickets: BTreeMap::new(),
        notices: Vec::new(),
        full_list_url: None,
    }
}

impl Plan {
    /// The plan for people (and snapshot tests): what ships, where, and every step with its undo.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let verb = match self.kind {
            PlanKind::Deploy => "deploy",
            PlanKind::Rollback => "roll back",
        };
        out.push_str(&format!(
            "{verb} {} {} to {} as release {}\n",
            self.app,
            self.revision.describe(),
            self.env,
            self.release
        ));
        match &self.previous {
            Some(prev) => out.push_str(&format!("replacing {}\n", prev.describe())),
            None => out.push_str("first deploy to this environment\n"),
        }
        out.push_str(&format!("changesets: {}\n", self.changesets.len()));
        for c in &self.changesets {
            out.push_str(&format!("  {} {}: {}\n", c.short, c.author, c.subject));
        }
        out.push_str("hosts, in switch order:\n");
        for (group, batches) in &self.batches {
            let shown: Vec<String> = batches.iter().map(|b| b.join(", ")).collect();
            out.push_str(&format!("  {group}: {}\n", shown.join(" | ")));
        }
        out.push_str("steps:\n");
        for s in &self.steps {
            let phase = match &s.phase {
                Phase::Switch {
                    group,
                    batch,
                    batches,
                } => format!("switch {group} {batch}/{batches}"),
                other => other.name().to_string(),
            };
            out.push_str(&format!(
                "  {:>3} {:<18} {:<8} {}\n",
                s.seq,
                phase,
                s.host,
                s.action.label()
            ));
            for u in &s.undo {
                out.push_str(&format!(
                    "  {:>3} {:<18} {:<8}   undo: {}\n",
                    "",
                    "",
                    "",
                    u.label()
                ));
            }
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a plan serialises")
    }
}
