//! From a request to a plan: resolve the revision (git), list the changesets, probe the hosts, name the release.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::action::Observed;
use super::fleet::{Reached, needed_commands, reach};
use super::plan::{BOT_HOST, ChangesetLine, Plan, PlanInput, PlanKind, RevisionInfo, plan};
use super::tickets::{annotate, from_tracker_log};
use crate::config::{ChangesetSource, Config, Environment, Playbook};
use crate::journal::{DeployRecord, FileRecord, Journal, JournalError};
use crate::source::{Changeset, Mirror, SourceError, archive_path};
use crate::tracker::Tracker;
use crate::transport::{Connector, Host, LocalHost};

/// Why a deploy or rollback could not be planned. Nothing has been changed on any host.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("I don't know the app \"{app}\"; I know {known}")]
    UnknownApp { app: String, known: String },
    #[error("{app} has no environment \"{env}\"; it has {known}")]
    UnknownEnv {
        app: String,
        env: String,
        known: String,
    },
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error("{0}")]
    Journal(#[from] JournalError),
    #[error("not every host is ready, so nothing was touched — {problems}")]
    NotReady { problems: String },
    #[error(
        "{app} {revision} is already live on {env} (journal #{id}); say \"deploy! {app} to {env}\" to deploy it again"
    )]
    AlreadyLive {
        app: String,
        env: String,
        revision: String,
        id: i64,
    },
    #[error("the playbook requires ticket details (tracker_required = true), and {0}")]
    TrackerRequired(String),
    #[error(
        "release {release} migrated with \"{up}\" and has no down migration recorded, so the database cannot follow; say \"rollback!\" to switch back anyway"
    )]
    NoDownMigration { release: String, up: String },
    #[error(
        "release {release} ran \"{up}\", which has been migrated down since; deploy it again instead, or say \"rollback!\" to switch to it without migrating"
    )]
    MigratedDownSince { release: String, up: String },
    #[error("a check failed:\n{0}")]
    Checks(String),
    #[error("nothing to roll back: {0}")]
    NothingToRollBack(String),
    #[error(
        "my journal says release {live} is live on {env}, but {hosts}: the journal is older than the hosts, or they drifted. Say \"repair {env}\" to bring them to one release first, or \"rollback!\" to go ahead anyway"
    )]
    JournalBehind {
        env: String,
        live: String,
        hosts: String,
    },
    #[error("release {release} is no longer on {host}; it cannot be switched back to")]
    ReleaseMissing { host: String, release: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl PrepareError {
    /// The request itself was wrong (no such app, environment or ref), as opposed to refused.
    pub fn is_invalid_request(&self) -> bool {
        matches!(
            self,
            PrepareError::UnknownApp { .. }
                | PrepareError::UnknownEnv { .. }
                | PrepareError::Source(
                    SourceError::NotFound { .. }
                        | SourceError::Ambiguous { .. }
                        | SourceError::NotACommit { .. }
                )
        )
    }
}

/// A plan ready to run, with the hosts it runs on.
pub struct Prepared {
    pub plan: Plan,
    pub hosts: Arc<BTreeMap<String, Host>>,
    /// Files shipped (empty for a rollback), for the journal.
    pub files: Vec<FileRecord>,
    /// Hosts left out (a partial rollback), with why.
    pub skipped: Vec<(String, String)>,
}

/// Finds the playbook and environment a request names (the first environment when none).
pub fn target<'c>(
    config: &'c Config,
    app: &str,
    env: Option<&str>,
) -> Result<(&'c Playbook, &'c Environment), PrepareError> {
    let playbook = config
        .playbook(app)
        .ok_or_else(|| PrepareError::UnknownApp {
            app: app.to_string(),
            known: list(config.playbooks.iter().map(|p| p.app.name.as_str())),
        })?;
    let environment = match env {
        Some(env) => playbook.environment(env),
        None => playbook.environments.first(),
    }
    .ok_or_else(|| PrepareError::UnknownEnv {
        app: app.to_string(),
        env: env.unwrap_or("").to_string(),
        known: list(playbook.environments.iter().map(|e| e.name.as_str())),
    })?;
    Ok((playbook, environment))
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("\"{n}\"")).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// What the caller asks for.
#[derive(Clone, Debug)]
pub struct DeployRequest {
    pub app: String,
    pub env: Option<String>,
    pub reference: Option<String>,
    pub force: bool,
    /// Switch one host first and wait for `continue`.
    pub canary: bool,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PrepareError> + Send + 'static,
) -> Result<T, PrepareError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PrepareError::Internal(e.to_string()))?
}

pub(super) fn lines(changesets: Vec<Changeset>) -> Vec<ChangesetLine> {
    changesets
        .into_iter()
        .map(|c| ChangesetLine {
            sha: c.sha,
            short: c.short,
            author: c.author_name,
            email: c.author_email,
            tickets: crate::tracker::ticket_refs(&c.message),
            subject: c.subject,
        })
        .collect()
}

fn mirror(config: &Config, playbook: &Playbook) -> Result<Mirror, PrepareError> {
    Ok(Mirror::sync(
        &config.bot.state_dir,
        &playbook.app.name,
        &playbook.app.repo,
    )?)
}

fn revision_info(mirror: &Mirror, sha: &str) -> Option<RevisionInfo> {
    let rev = mirror.resolve(sha).ok()?;
    Some(RevisionInfo {
        sha: rev.sha,
        short: rev.short,
        tag: rev.tag,
    })
}

/// A release name `<UTC timestamp>-<sha7>` that sorts after every release the hosts or the
/// journal know of.
fn release_name(short: &str, taken: &[String]) -> String {
    let mut ms = crate::clock::now_ms();
    loop {
        let name = format!("{}-{short}", crate::clock::release_stamp(ms));
        let later = taken.iter().all(|t| name.as_str() > t.as_str());
        if later {
            return name;
        }
        ms += 1000;
    }
}

/// Plans a deploy: resolves the ref, lists the changesets since what is live, probes the hosts,
/// writes the archive once.
pub async fn prepare_deploy(
    connector: &Connector,
    tracker: &Tracker,
    config: &Arc<Config>,
    journal: &Journal,
    req: DeployRequest,
) -> Result<Prepared, PrepareError> {
    let (playbook, env) = target(config, &req.app, req.env.as_deref())?;
    let live = journal
        .live(playbook.app.name.clone(), env.name.clone())
        .await?;
    let reference = req
        .reference
        .clone()
        .unwrap_or_else(|| env.default_ref.clone());

    // Each host is reached and probed (its handshake, then the probe that is the preflight) while
    // the archive is written: both take real time, and neither needs the other.
    let writing = {
        let config = config.clone();
        let app = playbook.app.name.clone();
        let reference = reference.clone();
        blocking(move || {
            let playbook = config.playbook(&app).expect("checked above");
            let mirror = mirror(&config, playbook)?;
            let rev = mirror.resolve(&reference)?;
            let path = archive_path(&config.bot.state_dir, &app, &rev.sha);
            let info = mirror.write_archive(&rev.sha, &path)?;
            let files = info
                .files
                .iter()
                .map(|f| FileRecord {
                    path: f.path.clone(),
                    size: f.size,
                    sha256: f.sha256.clone(),
                })
                .collect::<Vec<_>>();
            Ok((
                RevisionInfo {
                    sha: rev.sha,
                    short: rev.short,
                    tag: rev.tag,
                },
                info.path.clone(),
                files,
                info,
            ))
        })
    };
    let commands = needed_commands(playbook);
    let (written, reached) =
        tokio::join!(writing, reach(connector, config, playbook, env, &commands));
    let (revision, archive, files, full) = written?;

    if let Some(live) = &live
        && live.revision.as_deref() == Some(revision.sha.as_str())
        && !req.force
    {
        return Err(PrepareError::AlreadyLive {
            app: req.app,
            env: env.name.clone(),
            revision: revision.describe(),
            id: live.id,
        });
    }

    let checks = crate::checks::evaluate(crate::checks::CheckInput {
        playbook,
        env,
        revision: crate::checks::Candidate {
            sha: &revision.sha,
            short: &revision.short,
            tag: revision.tag.as_deref(),
        },
        state_dir: &config.bot.state_dir,
        journal,
        force: req.force,
        now_ms: crate::clock::now_ms(),
    })
    .await;
    if !checks.passed() {
        return Err(PrepareError::Checks(checks.to_string()));
    }
    if !reached.not_ready.is_empty() {
        return Err(PrepareError::NotReady {
            problems: reached.problems(),
        });
    }
    let Reached {
        hosts,
        roots,
        addresses,
        observed,
        ..
    } = reached;
    let mut notices = hosts_vs_journal(journal, &observed).await?;
    let staging = {
        let (config, app, sha) = (
            config.clone(),
            playbook.app.name.clone(),
            revision.sha.clone(),
        );
        let observed = observed.clone();
        blocking(move || {
            let playbook = config.playbook(&app).expect("checked above");
            Ok(super::staging::decide(
                &config, playbook, &sha, &full, &observed,
            )?)
        })
        .await?
    };
    // What is live: the journal's word, else what the hosts run (a journal that was emptied or
    // is older than the hosts is not a first deploy).
    let (live_sha, live_release) = match &live {
        Some(live) => (live.revision.clone(), live.release.clone()),
        None => match on_hosts(&observed) {
            Some((release, sha)) => {
                notices.push(format!(
                    "my journal has no record of what is live on {}; the hosts run release {release}{}, and the changesets are counted from there",
                    env.name,
                    sha.as_deref()
                        .map(|s| format!(" ({})", &s[..s.len().min(7)]))
                        .unwrap_or_default()
                ));
                (sha, Some(release))
            }
            None => (None, None),
        },
    };
    let (previous, changesets) = {
        let config = config.clone();
        let app = playbook.app.name.clone();
        let target = revision.sha.clone();
        blocking(move || {
            let playbook = config.playbook(&app).expect("checked above");
            let mirror = mirror(&config, playbook)?;
            let previous = live_sha.as_deref().map(|sha| {
                revision_info(&mirror, sha).unwrap_or_else(|| RevisionInfo {
                    short: sha.chars().take(7).collect(),
                    sha: sha.to_string(),
                    tag: None,
                })
            });
            let from = previous
                .as_ref()
                .filter(|p| mirror.resolve(&p.sha).is_ok())
                .map(|p| p.sha.clone());
            let changesets = match (&previous, &from) {
                // A revision the repository does not know: nothing can be counted from it.
                (Some(_), None) => Vec::new(),
                _ => mirror.changesets(from.as_deref(), &target)?,
            };
            Ok((previous, changesets))
        })
        .await?
    };
    let mut taken = journal
        .release_names(playbook.app.name.clone(), env.name.clone())
        .await?;
    taken.extend(observed.values().flat_map(|o| o.releases.iter().cloned()));
    let release = release_name(&revision.short, &taken);
    let (changesets, log_notice) = changeset_lines(
        tracker,
        playbook,
        changesets,
        &revision.sha,
        previous.as_ref().map(|p| p.sha.as_str()),
    )
    .await;
    let mut plan = plan(PlanInput {
        kind: PlanKind::Deploy,
        playbook,
        env,
        reference: Some(reference),
        revision,
        previous,
        release,
        previous_release: live_release,
        archive,
        changesets,
        deploy_roots: roots,
        addresses,
        observed,
        canary: req.canary,
        migrations_down: Vec::new(),
    });
    super::staging::apply(&mut plan, &staging);
    plan.notices.extend(notices);
    plan.notices.extend(log_notice);
    plan.notices.extend(checks.notices());
    annotate(&mut plan, tracker, playbook.app.tracker_required)
        .await
        .map_err(PrepareError::TrackerRequired)?;
    Ok(Prepared {
        plan,
        hosts: Arc::new(with_bot_host(hosts, config)),
        files,
        skipped: Vec::new(),
    })
}

/// The release (and its revision) that most of the hosts run, if any runs one.
fn on_hosts(observed: &BTreeMap<String, Observed>) -> Option<(String, Option<String>)> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for o in observed.values() {
        if let Some(current) = &o.current {
            *count.entry(current.as_str()).or_default() += 1;
        }
    }
    let (release, _) = count
        .into_iter()
        .max_by(|(r1, n1), (r2, n2)| n1.cmp(n2).then(r1.cmp(r2)))?;
    let sha = observed
        .values()
        .find(|o| o.current.as_deref() == Some(release))
        .and_then(|o| o.revision.clone());
    Some((release.to_string(), sha))
}

/// What the hosts' fences say about this journal: when they have seen a newer generation (the
/// journal was emptied, or replaced by an older copy), every step would be refused, so the
/// journal's generation is raised past it and people are told.
pub(crate) async fn hosts_vs_journal(
    journal: &Journal,
    observed: &BTreeMap<String, Observed>,
) -> Result<Vec<String>, PrepareError> {
    let (id, generation) = journal.identity().await?;
    let Some((seen, other)) = observed
        .values()
        .filter_map(|o| o.fence.clone())
        .max_by_key(|(g, _)| *g)
    else {
        return Ok(Vec::new());
    };
    if seen <= generation {
        return Ok(Vec::new());
    }
    journal.raise_generation(seen).await?;
    Ok(vec![if other != id {
        format!(
            "the hosts were last deployed through another journal ({other}, generation {seen}) than mine ({id}, generation {generation}): my journal is new or was replaced; I carry on from generation {seen}"
        )
    } else {
        format!(
            "the hosts have seen generation {seen} but my journal only {generation}: my journal is older than the hosts; I carry on from generation {seen}"
        )
    }])
}

/// Plans a rollback of what is live in `env` to the release before it, or to `to` (a kept
/// release, or a ref whose commit a kept release holds). The migrations of every later release
/// still applied run down first, newest first.
#[allow(clippy::too_many_arguments)]
pub async fn prepare_rollback(
    connector: &Connector,
    tracker: &Tracker,
    config: &Arc<Config>,
    journal: &Journal,
    app: &str,
    env: Option<&str>,
    to: Option<&str>,
    force: bool,
) -> Result<Prepared, PrepareError> {
    let (playbook, env) = target(config, app, env)?;
    let live = journal
        .live(playbook.app.name.clone(), env.name.clone())
        .await?
        .ok_or_else(|| {
            PrepareError::NothingToRollBack(format!(
                "{} has never been deployed to {}",
                playbook.app.name, env.name
            ))
        })?;
    let live_release = live
        .release
        .clone()
        .ok_or_else(|| PrepareError::Internal("live deploy without a release".into()))?;
    let records = journal
        .succeeded(playbook.app.name.clone(), env.name.clone())
        .await?;
    let candidates: Vec<String> = match to {
        None => {
            let introduced: DeployRecord = journal
                .introduced(
                    playbook.app.name.clone(),
                    env.name.clone(),
                    live_release.clone(),
                )
                .await?
                .unwrap_or_else(|| live.clone());
            match introduced.previous_release.clone() {
                Some(release) if introduced.previous_revision.is_some() => vec![release],
                _ if introduced.kind == crate::journal::DeployKind::Repair => {
                    return Err(PrepareError::NothingToRollBack(format!(
                        "release {live_release} was found on the hosts, not deployed through my journal, so I do not know which release ran before it on {}; say \"releases {} in {}\" and \"rollback {} in {} to RELEASE\"",
                        env.name, playbook.app.name, env.name, playbook.app.name, env.name
                    )));
                }
                _ => {
                    return Err(PrepareError::NothingToRollBack(format!(
                        "release {live_release} was the first deploy of {} to {}",
                        playbook.app.name, env.name
                    )));
                }
            }
        }
        Some(to) => super::releases::candidates(config, playbook, &env.name, &records, to).await?,
    };
    let live_sha = live.revision.clone().unwrap_or_default();

    let reached = reach(connector, config, playbook, env, &[]).await;
    let skipped = reached.not_ready.clone();
    if !skipped.is_empty() && !playbook.app.rollback_partial {
        return Err(PrepareError::NotReady {
            problems: format!(
                "{} (the playbook does not allow a partial rollback: rollback_partial = false)",
                reached.problems()
            ),
        });
    }
    let Reached {
        mut hosts,
        roots,
        addresses,
        observed,
        ..
    } = reached;
    hosts.retain(|name, _| observed.contains_key(name) && !skipped.iter().any(|(h, _)| h == name));
    if hosts.is_empty() {
        return Err(PrepareError::NotReady {
            problems: "no host can be reached".into(),
        });
    }
    let notices = hosts_vs_journal(journal, &observed).await?;
    // The journal must know what the hosts run: rolling back from what an older journal thinks
    // is live would switch to a release the hosts have long left.
    let elsewhere: Vec<String> = observed
        .iter()
        .filter(|(_, o)| o.current.as_deref() != Some(live_release.as_str()))
        .map(|(h, o)| format!("{h} on {}", o.current.as_deref().unwrap_or("nothing")))
        .collect();
    if !elsewhere.is_empty() && !force {
        return Err(PrepareError::JournalBehind {
            env: env.name.clone(),
            live: live_release,
            hosts: elsewhere.join(", "),
        });
    }
    // The newest candidate every host still keeps.
    let kept_everywhere =
        |release: &String| observed.values().all(|o| o.releases.contains(release));
    let target_release = match candidates.iter().find(|r| kept_everywhere(r)) {
        Some(release) => release.clone(),
        None => {
            let release = candidates[0].clone();
            let host = observed
                .iter()
                .find(|(_, o)| !o.releases.contains(&release))
                .map(|(h, _)| h.clone())
                .unwrap_or_default();
            return Err(PrepareError::ReleaseMissing { host, release });
        }
    };
    if target_release == live_release {
        return Err(PrepareError::NothingToRollBack(format!(
            "release {live_release} is the live one"
        )));
    }
    let target_sha = super::releases::deploys_by_release(&records)
        .get(&target_release)
        .and_then(|d| d.revision.clone())
        .or_else(|| journal_previous_revision(&records, &target_release))
        .ok_or_else(|| {
            PrepareError::NothingToRollBack(format!(
                "the journal does not say which commit release {target_release} holds"
            ))
        })?;
    let applied = super::releases::applied_migrations(&records);
    let migrations_down = super::releases::migrations_to_undo(&applied, &target_release, force)?;
    if target_release > live_release
        && !force
        && let Some((release, up)) =
            super::releases::forward_gap(&records, &live_release, &target_release)
    {
        return Err(PrepareError::MigratedDownSince { release, up });
    }
    let (revision, previous, changesets) = {
        let config = config.clone();
        let app = playbook.app.name.clone();
        let target_sha = target_sha.clone();
        blocking(move || {
            // The mirror as it is, never fetched: both commits were deployed from it, and a
            // rollback must not wait on the git server, nor fail while it is down. Without the
            // mirror, the room reads the short sha and no changeset lines.
            let mirror = Mirror::open(&config.bot.state_dir, &app).ok();
            let revision = mirror
                .as_ref()
                .and_then(|m| revision_info(m, &target_sha))
                .unwrap_or_else(|| RevisionInfo {
                    short: target_sha.chars().take(7).collect(),
                    sha: target_sha.clone(),
                    tag: None,
                });
            let previous = mirror.as_ref().and_then(|m| revision_info(m, &live_sha));
            let out = mirror
                .and_then(|m| m.changesets(Some(&target_sha), &live_sha).ok())
                .unwrap_or_default();
            Ok((revision, previous, out))
        })
        .await?
    };
    // A partial rollback switches the hosts that answered; the others are named to the room.
    let reachable_env = env.only(|h| hosts.contains_key(h));
    let mut plan = plan(PlanInput {
        kind: PlanKind::Rollback,
        playbook,
        env: &reachable_env,
        reference: None,
        revision,
        previous,
        release: target_release,
        previous_release: Some(live_release),
        archive: PathBuf::new(),
        changesets: lines(changesets),
        deploy_roots: roots,
        addresses,
        observed,
        canary: false,
        migrations_down,
    });
    plan.notices.extend(notices);
    // A rollback never waits on the tracker: details are nice to have here.
    let _ = annotate(&mut plan, tracker, false).await;
    Ok(Prepared {
        plan,
        hosts: Arc::new(with_bot_host(hosts, config)),
        files: Vec::new(),
        skipped,
    })
}

/// What a deploy would ship now, without touching any host.
pub async fn diff(
    tracker: &Tracker,
    config: &Arc<Config>,
    journal: &Journal,
    app: &str,
    env: Option<&str>,
) -> Result<Plan, PrepareError> {
    let (playbook, env) = target(config, app, env)?;
    let live = journal
        .live(playbook.app.name.clone(), env.name.clone())
        .await?;
    let reference = env.default_ref.clone();
    let (revision, previous, changesets) = {
        let config = config.clone();
        let app = playbook.app.name.clone();
        let reference = reference.clone();
        let live_sha = live.as_ref().and_then(|l| l.revision.clone());
        blocking(move || {
            let playbook = config.playbook(&app).expect("checked above");
            let mirror = mirror(&config, playbook)?;
            let rev = mirror.resolve(&reference)?;
            let previous = live_sha
                .as_deref()
                .and_then(|sha| revision_info(&mirror, sha));
            let changesets =
                mirror.changesets(previous.as_ref().map(|p| p.sha.as_str()), &rev.sha)?;
            Ok((
                RevisionInfo {
                    sha: rev.sha,
                    short: rev.short,
                    tag: rev.tag,
                },
                previous,
                changesets,
            ))
        })
        .await?
    };
    let (changesets, log_notice) = changeset_lines(
        tracker,
        playbook,
        changesets,
        &revision.sha,
        previous.as_ref().map(|p| p.sha.as_str()),
    )
    .await;
    let mut plan = plan(PlanInput {
        kind: PlanKind::Deploy,
        playbook,
        env,
        reference: Some(reference),
        release: format!("<new>-{}", revision.short),
        revision,
        previous,
        previous_release: live.as_ref().and_then(|l| l.release.clone()),
        archive: Path::new("<archive>").to_path_buf(),
        changesets,
        deploy_roots: BTreeMap::new(),
        addresses: BTreeMap::new(),
        observed: BTreeMap::new(),
        canary: false,
        migrations_down: Vec::new(),
    });
    plan.notices.extend(log_notice);
    let _ = annotate(&mut plan, tracker, false).await;
    Ok(plan)
}

/// The changeset lines for the room: from git, or from the tracker's log when the playbook says
/// `changesets = "tracker"` (falling back to git, with a notice, when the log cannot be had).
async fn changeset_lines(
    tracker: &Tracker,
    playbook: &Playbook,
    from_git: Vec<Changeset>,
    new: &str,
    old: Option<&str>,
) -> (Vec<ChangesetLine>, Option<String>) {
    match (playbook.app.changesets, old) {
        (ChangesetSource::Tracker, Some(old)) => match from_tracker_log(tracker, new, old).await {
            Ok(lines) => (lines, None),
            Err(why) => (
                lines(from_git),
                Some(format!(
                    "changesets from git: the tracker's log is unavailable: {why}"
                )),
            ),
        },
        _ => (lines(from_git), None),
    }
}

/// The commit of a release the journal knows only as some deploy's previous release.
fn journal_previous_revision(records: &[DeployRecord], release: &str) -> Option<String> {
    records
        .iter()
        .rev()
        .find(|r| r.previous_release.as_deref() == Some(release))
        .and_then(|r| r.previous_revision.clone())
}

/// This machine, where smoke tests run, as a plan's host.
pub(super) fn bot_host(config: &Config) -> (String, Host) {
    let dir =
        std::path::absolute(&config.bot.state_dir).unwrap_or_else(|_| config.bot.state_dir.clone());
    (
        BOT_HOST.to_string(),
        Host::Local(LocalHost::new(BOT_HOST, dir)),
    )
}

/// Adds this machine, where smoke tests run, to a plan's hosts.
fn with_bot_host(mut hosts: BTreeMap<String, Host>, config: &Config) -> BTreeMap<String, Host> {
    let (name, host) = bot_host(config);
    hosts.insert(name, host);
    hosts
}
