//! Delta staging's engine side: for each host, stage from its live release by delta (one stream per base revision, written once) or from the full archive, and why.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::action::{Action, Observed, Staging};
use super::plan::Plan;
use crate::config::{Config, DeltaCopy, Playbook, StagingMode};
use crate::source::{ArchiveInfo, Delta, Mirror, SourceError, delta_path};

/// How each host of `observed` is staged with commit `sha`, whose full archive is `full`.
/// Hosts that run the same revision share one delta stream. Blocks (git): call it from
/// `spawn_blocking`.
pub(super) fn decide(
    config: &Arc<Config>,
    playbook: &Playbook,
    sha: &str,
    full: &ArchiveInfo,
    observed: &BTreeMap<String, Observed>,
) -> Result<BTreeMap<String, Staging>, SourceError> {
    let app = &playbook.app;
    let full_because = |reason: String| Staging::Full { reason };
    let mut decided = BTreeMap::new();
    if app.staging == StagingMode::Full {
        for host in observed.keys() {
            decided.insert(
                host.clone(),
                full_because("the playbook says staging = \"full\"".into()),
            );
        }
        return Ok(decided);
    }
    let link = match app.delta_copy {
        DeltaCopy::Link => true,
        DeltaCopy::Copy => false,
        DeltaCopy::Auto => playbook.pipeline.build.is_empty(),
    };
    let mirror = Mirror::open(&config.bot.state_dir, &app.name)?;
    let mut deltas: BTreeMap<String, Delta> = BTreeMap::new();
    for (host, seen) in observed {
        let staging = match (&seen.current, &seen.revision) {
            (None, _) => full_because("nothing is live on this host".into()),
            (Some(current), None) => full_because(format!(
                "the live release {current} does not say which revision it holds"
            )),
            (Some(current), Some(base)) => {
                if !deltas.contains_key(base) {
                    let dest: PathBuf = delta_path(&config.bot.state_dir, &app.name, base, sha);
                    let delta = mirror.write_delta(
                        base,
                        sha,
                        full,
                        &app.shared,
                        app.delta_max_percent,
                        &dest,
                    )?;
                    deltas.insert(base.clone(), delta);
                }
                match &deltas[base] {
                    Delta::Unsuitable(why) => full_because(why.clone()),
                    Delta::Ready(info) => Staging::Delta {
                        base: current.clone(),
                        base_revision: base.clone(),
                        delta: info.path.clone(),
                        tree: info.tree.clone(),
                        link,
                        changed: info.changed,
                        added: info.added,
                        removed: info.removed,
                    },
                }
            }
        };
        decided.insert(host.clone(), staging);
    }
    Ok(decided)
}

/// Writes each host's way of staging into its stage step.
pub(super) fn apply(plan: &mut Plan, decided: &BTreeMap<String, Staging>) {
    for step in &mut plan.steps {
        if let Action::Stage { staging, .. } = &mut step.action {
            *staging = decided.get(&step.host).cloned();
        }
    }
}

/// How many stage outputs say the host was staged by delta.
pub(super) fn by_delta(output: &str) -> bool {
    output
        .lines()
        .rev()
        .any(|l| l.starts_with(super::perform::DELTA_LINE))
}
