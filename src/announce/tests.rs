//! Announcement text: the plan's changesets (cut with a count), outcomes that say what is live.

use std::time::Duration;

use super::*;
use crate::engine::{ChangesetLine, PlannedHost, RevisionInfo};

fn plan_with(changesets: usize, previous: bool) -> Plan {
    Plan {
        version: 1,
        kind: PlanKind::Deploy,
        app: "blog".into(),
        env: "live".into(),
        reference: Some("v1.4.2".into()),
        revision: RevisionInfo {
            sha: "3f2a9c1".repeat(5) + "aaaaa",
            short: "3f2a9c1".into(),
            tag: Some("v1.4.2".into()),
        },
        previous: previous.then(|| RevisionInfo {
            sha: "9be01d4".into(),
            short: "9be01d4".into(),
            tag: Some("v1.4.1".into()),
        }),
        release: "20261123081502-3f2a9c1".into(),
        previous_release: None,
        changesets: (0..changesets)
            .map(|i| ChangesetLine {
                sha: format!("{i:07}"),
                short: format!("{i:07}"),
                author: if i % 2 == 0 {
                    "bob".into()
                } else {
                    "carol".into()
                },
                email: String::new(),
                subject: format!("Change number {i}"),
                tickets: vec![],
            })
            .collect(),
        hosts: ["web1", "web2"]
            .iter()
            .map(|h| PlannedHost {
                name: h.to_string(),
                group: "app".into(),
                address: "127.0.0.1".into(),
                deploy_to: "/srv/blog".into(),
                previous_release: None,
                previous_revision: None,
            })
            .collect(),
        batches: vec![],
        steps: vec![],
        canary: None,
        tickets: Default::default(),
        notices: vec![],
        full_list_url: None,
    }
}

fn settings() -> crate::config::AnnounceSection {
    crate::config::AnnounceSection {
        alert: vec![],
        max_changesets: 10,
        show_email: false,
        room: None,
    }
}

#[test]
fn tickets_notices_emails_and_the_full_list_link_are_shown() {
    let mut plan = plan_with(12, true);
    plan.changesets[0].tickets = vec![212, 7];
    plan.changesets[0].email = "bob@example.org".into();
    plan.tickets.insert(
        212,
        crate::engine::TicketInfo {
            id: 212,
            summary: "Feed skips page 2".into(),
            status: "closed".into(),
            resolution: "fixed".into(),
        },
    );
    plan.notices
        .push("ticket details unavailable: Trac answered 500".into());
    plan.full_list_url = Some("https://trac.example.org/log/?rev=b&stop_rev=a".into());
    let text = plan_announcement(
        "alice",
        &plan,
        &crate::config::AnnounceSection {
            alert: vec![],
            max_changesets: 10,
            show_email: true,
            room: None,
        },
        1,
        false,
    );
    assert!(
        text.contains("\n• 0000000 bob <bob@example.org>: Change number 0 · #212 \"Feed skips page 2\" (closed: fixed)\n"),
        "{text}"
    );
    assert!(
        text.contains("\n… and 2 more: https://trac.example.org/log/?rev=b&stop_rev=a\n"),
        "{text}"
    );
    assert!(
        text.contains("\n(ticket details unavailable: Trac answered 500)\n"),
        "{text}"
    );
}

#[test]
fn a_deploy_announcement_names_who_what_where_and_each_changeset() {
    let text = plan_announcement("alice", &plan_with(2, true), &settings(), 418, false);
    assert_eq!(
        text,
        "alice is deploying blog v1.4.2 (3f2a9c1) to live — 2 changesets since v1.4.1 (9be01d4):\n\
         • 0000000 bob: Change number 0\n\
         • 0000001 carol: Change number 1\n\
         2 hosts: web1, web2 · release 20261123081502-3f2a9c1 · journal #418"
    );
}

#[test]
fn long_lists_are_cut_with_a_count_and_first_deploys_say_so() {
    let text = plan_announcement("alice", &plan_with(60, false), &settings(), 1, false);
    assert!(
        text.contains("first deploy to live, 60 changesets in its history:"),
        "{text}"
    );
    assert_eq!(text.matches("\n• ").count(), 10);
    assert!(text.contains("\n… and 50 more\n"), "{text}");
}

#[test]
fn outcomes_repeat_what_is_live() {
    let plan = plan_with(1, true);
    let ok = outcome_text(
        &plan,
        &RunOutcome::Succeeded {
            elapsed: Duration::from_millis(9400),
        },
        418,
    );
    assert_eq!(
        ok,
        "live: blog v1.4.2 (3f2a9c1) is live on 2 hosts in 9.4 s. Journal #418."
    );
    let failure = Failure {
        host: Some("web2".into()),
        step: "health: bin/check".into(),
        reason: "health check failed 3 times".into(),
        output: "boom\n".into(),
        retries_spent: false,
    };
    let undone = outcome_text(
        &plan,
        &RunOutcome::Undone {
            failure,
            undone: 4,
            elapsed: Duration::ZERO,
        },
        419,
    );
    assert_eq!(
        undone,
        "live: deploy of blog v1.4.2 (3f2a9c1) failed — health: bin/check failed on web2: health check failed 3 times; undid 4 steps, blog is still on v1.4.1 (9be01d4). Journal #419."
    );
}

#[test]
fn status_says_runs_locks_freezes_queue_and_what_needs_a_look() {
    use crate::journal::{DeployKind, DeployRecord, DeployState, FreezeRecord, LockRecord};
    let failed = DeployRecord {
        id: 12,
        kind: DeployKind::Deploy,
        app: "blog".into(),
        env: "live".into(),
        reference: None,
        revision: Some("3f2a9c1".repeat(5) + "aaaaa"),
        tag: None,
        release: None,
        previous_release: None,
        previous_revision: None,
        requested_by: "bob".into(),
        room: "ops".into(),
        state: DeployState::Failed,
        plan: None,
        summary: None,
        started_at: 1_795_421_702_000,
        finished_at: None,
        generation: None,
    };
    let status = Status {
        live: vec!["blog on live: never deployed".into()],
        locks: vec![LockRecord {
            app: "*".into(),
            env: "live".into(),
            kind: "manual".into(),
            holder: "carol".into(),
            reason: "db upgrade".into(),
            since: 1_795_421_702_000,
            deploy_id: None,
            owner: None,
            heartbeat_at: None,
            generation: None,
        }],
        freezes: vec![FreezeRecord {
            env: "live".into(),
            holder: "dave".into(),
            reason: "release week".into(),
            since: 0,
            until: None,
        }],
        queue: vec![QueuedLine {
            kind: "deploy".into(),
            app: "blog".into(),
            env: "live".into(),
            who: "erin".into(),
        }],
        need_a_look: vec![failed],
        drift: vec![
            "blog on live: the hosts differ: web1 on r1, web2 on r2, while r1 is live".into(),
        ],
    };
    assert_eq!(
        status_text(&status),
        "blog on live: never deployed\n\
         locked: live by carol since 2026-11-23 08:15:02 UTC: db upgrade\n\
         nothing is running\n\
         frozen: live by dave until someone unfreezes it: release week\n\
         queued (1 in line): deploy blog to live for erin\n\
         NEEDS A LOOK: #12 2026-11-23 08:15:02 UTC bob deployed 3f2a9c1 to live — FAILED, needs a look — say \"repair live\" once its hosts answer (I also try on my own)\n\
         drift: blog on live: the hosts differ: web1 on r1, web2 on r2, while r1 is live"
    );
}

#[test]
fn releases_name_the_deploy_of_a_live_release_still_removing_old_ones() {
    use crate::engine::{KeptRelease, KeptReleases};
    use crate::journal::{DeployKind, DeployRecord, DeployState};
    let deploy = |id: i64, release: &str, state: DeployState| DeployRecord {
        id,
        kind: DeployKind::Deploy,
        app: "blog".into(),
        env: "staging".into(),
        reference: None,
        revision: Some(format!("{id:07}").repeat(5) + "aaaaa"),
        tag: None,
        release: Some(release.into()),
        previous_release: None,
        previous_revision: None,
        requested_by: "alice".into(),
        room: "ops".into(),
        state,
        plan: None,
        summary: None,
        started_at: 1_795_421_702_000,
        finished_at: (state != DeployState::Running).then_some(1_795_421_712_000),
        generation: None,
    };
    let kept = |name: &str, record: DeployRecord, live: bool| KeptRelease {
        name: name.into(),
        deploy: Some(record),
        migrations: vec![],
        on: vec!["s1".into()],
        live_on: if live { vec!["s1".into()] } else { vec![] },
    };
    let text = releases_text(&KeptReleases {
        app: "blog".into(),
        env: "staging".into(),
        hosts: vec!["s1".into()],
        releases: vec![
            kept("r2", deploy(2, "r2", DeployState::Running), true),
            kept("r1", deploy(1, "r1", DeployState::Succeeded), false),
        ],
        unreachable: vec![],
    });
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[1].starts_with("• r2 — 0000002")
            && lines[1].contains("by alice, journal #2")
            && lines[1].ends_with(" · its deploy is removing old releases · LIVE"),
        "{text}"
    );
    assert!(
        lines[2].contains("journal #1") && !lines[2].contains("removing"),
        "{text}"
    );
}
