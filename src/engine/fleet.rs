//! Reaching an environment's hosts before anything is staged: connect, probe, and check each one (preflight).

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::action::{Observed, probe};
use crate::config::{Config, Environment, HealthProbe, HostSpec, Playbook};
use crate::transport::{Connector, Host};

/// What reaching the hosts found.
#[derive(Default)]
pub struct Reached {
    pub hosts: BTreeMap<String, Host>,
    /// Deploy root per host, as that host sees it.
    pub roots: BTreeMap<String, String>,
    pub addresses: BTreeMap<String, String>,
    pub observed: BTreeMap<String, Observed>,
    /// Hosts that are not ready, with why; sorted by host name.
    pub not_ready: Vec<(String, String)>,
}

impl Reached {
    /// One line naming every host that is not ready and why.
    pub fn problems(&self) -> String {
        let named: Vec<String> = self
            .not_ready
            .iter()
            .map(|(h, why)| format!("{h}: {why}"))
            .collect();
        named.join("; ")
    }
}

/// The spec of a host the playbook names (a local directory under the state dir when it has no
/// `[hosts.NAME]` entry).
fn spec_of(config: &Config, playbook: &Playbook, name: &str) -> HostSpec {
    playbook
        .hosts
        .get(name)
        .cloned()
        .unwrap_or_else(|| HostSpec::Local {
            root: config.bot.state_dir.join("hosts").join(name),
        })
}

/// Connects to every host of `env`; failures are collected, not fatal.
pub async fn connect_all(
    connector: &Connector,
    config: &Config,
    playbook: &Playbook,
    env: &Environment,
) -> Reached {
    let mut reached = Reached::default();
    connector.set_connect_rate(playbook.app.connect_rate);
    let mut tasks = tokio::task::JoinSet::new();
    for name in env.groups.iter().flat_map(|g| g.hosts.iter()) {
        let spec = spec_of(config, playbook, name);
        reached.addresses.insert(name.clone(), spec.address());
        let connector = connector.clone();
        let name = name.clone();
        let deploy_to = playbook.app.deploy_to.clone();
        tasks.spawn(async move {
            let result = connector.connect(&name, &spec, &deploy_to).await;
            (name, result)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((name, Ok((host, root)))) => {
                reached.hosts.insert(name.clone(), host);
                reached.roots.insert(name, root);
            }
            Ok((name, Err(e))) => reached.not_ready.push((name, e.to_string())),
            Err(e) => reached.not_ready.push(("(internal)".into(), e.to_string())),
        }
    }
    reached.not_ready.sort();
    reached
}

/// The commands a host must have before a deploy: `tar`, `flock` and `setsid` (the step
/// guard's), and the first word of every playbook command that is looked up on the PATH (not
/// a path into the release, not a template).
pub fn needed_commands(playbook: &Playbook) -> Vec<String> {
    let p = &playbook.pipeline;
    let mut specs: Vec<&crate::config::CommandSpec> = p.build.iter().collect();
    specs.extend(p.restart.iter());
    if let Some(m) = &p.migrate {
        specs.push(&m.up);
        specs.extend(m.down.iter());
    }
    if let Some(h) = &p.health
        && let HealthProbe::Command(c) = &h.probe
    {
        specs.push(c);
    }
    if let Some(lb) = &p.lb {
        specs.push(&lb.out);
        specs.push(&lb.into);
    }
    let mut commands = vec!["tar".to_string(), "flock".to_string(), "setsid".to_string()];
    for spec in specs {
        if let Some(first) = spec.argv.first()
            && !first.contains('/')
            && !first.contains('{')
            && !commands.contains(first)
        {
            commands.push(first.clone());
        }
    }
    commands
}

/// Connects to and probes every host in parallel: reachable, deploy root writable, enough free
/// space, the pipeline's commands present, and where `current` points.
pub async fn reach(
    connector: &Connector,
    config: &Config,
    playbook: &Playbook,
    env: &Environment,
    commands: &[String],
) -> Reached {
    let reached = connect_all(connector, config, playbook, env).await;
    probe_all(reached, playbook, commands).await
}

/// Probes every host `reached` holds (at most `max_parallel` at once) and checks each one.
async fn probe_all(mut reached: Reached, playbook: &Playbook, commands: &[String]) -> Reached {
    let min_free_kb = playbook.app.min_free_bytes / 1024;
    // The probe round is a wave like any other: at most `max_parallel` hosts at once (and the
    // connector paces the connections it opens).
    let limit = Arc::new(Semaphore::new(playbook.app.max_parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (name, host) in &reached.hosts {
        let host = host.clone();
        let name = name.clone();
        let command = probe(&reached.roots[&name], min_free_kb > 0, commands);
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            // Boxed: made only once this host's turn comes (see `Runner::run_wave`).
            let result = Box::pin(host.run(&command, None)).await;
            (name, result)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let Ok((name, result)) = joined else { continue };
        let problem = match result {
            Ok(out) if out.success() => {
                let observed = Observed::parse(&out.output);
                let problem = preflight_problem(&observed, min_free_kb, &reached.roots[&name]);
                reached.observed.insert(name.clone(), observed);
                problem
            }
            Ok(out) => Some(match out.last_line() {
                "" => format!("the probe exited with {:?}", out.code),
                line => line.to_string(),
            }),
            Err(e) => Some(e.to_string()),
        };
        if let Some(problem) = problem {
            reached.not_ready.push((name, problem));
        }
    }
    reached.not_ready.sort();
    reached
}

fn preflight_problem(observed: &Observed, min_free_kb: u64, root: &str) -> Option<String> {
    if !observed.missing.is_empty() {
        return Some(format!("missing commands: {}", observed.missing.join(", ")));
    }
    match observed.free_kb {
        Some(free) if free < min_free_kb => Some(format!(
            "only {} MB free in {root}; the playbook asks for {} MB",
            free / 1024,
            min_free_kb / 1024
        )),
        None if min_free_kb > 0 => Some(format!("cannot tell the free space in {root}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_names_missing_commands_and_low_disk() {
        let mut o = Observed {
            free_kb: Some(2048),
            ..Observed::default()
        };
        assert_eq!(preflight_problem(&o, 1024, "/srv"), None);
        assert_eq!(
            preflight_problem(&o, 10 * 1024, "/srv").unwrap(),
            "only 2 MB free in /srv; the playbook asks for 10 MB"
        );
        o.missing = vec!["make".into()];
        assert_eq!(
            preflight_problem(&o, 0, "/srv").unwrap(),
            "missing commands: make"
        );
    }
}
