//! The plan as a value: the example playbook's two groups rendered as text, snapshot-tested.

use std::collections::BTreeMap;
use std::path::Path;

use bosun::engine::action::Observed;
use bosun::engine::{ChangesetLine, PlanInput, PlanKind, RevisionInfo, build_plan};

#[test]
fn the_example_playbook_plans_static_before_app_in_batches_of_two() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let playbook = bosun::config::load_playbook(
        &root.join("playbooks/demo.toml"),
        Path::new("/var/lib/bosun"),
    )
    .unwrap();
    let env = playbook.environment("live").unwrap();
    let hosts = ["cdn1", "web1", "web2", "web3"];
    let plan = build_plan(PlanInput {
        kind: PlanKind::Deploy,
        playbook: &playbook,
        env,
        reference: Some("v1.4.2".into()),
        revision: RevisionInfo {
            sha: "3f2a9c1".to_string() + &"0".repeat(33),
            short: "3f2a9c1".into(),
            tag: Some("v1.4.2".into()),
        },
        previous: Some(RevisionInfo {
            sha: "9be01d4".to_string() + &"0".repeat(33),
            short: "9be01d4".into(),
            tag: Some("v1.4.1".into()),
        }),
        release: "20261123081502-3f2a9c1".into(),
        previous_release: Some("20261120100000-9be01d4".into()),
        archive: "/var/lib/bosun/artifacts/demo-3f2a9c1.tar".into(),
        changesets: vec![ChangesetLine {
            sha: "3f2a9c1".into(),
            short: "3f2a9c1".into(),
            author: "Bob".into(),
            email: "bob@example.org".into(),
            subject: "Fix feed pagination (refs #212)".into(),
            tickets: vec![212],
        }],
        deploy_roots: hosts
            .iter()
            .map(|h| (h.to_string(), format!("/hosts/{h}/srv/demo")))
            .collect(),
        addresses: BTreeMap::new(),
        canary: false,
        migrations_down: vec![],
        observed: hosts
            .iter()
            .map(|h| {
                (
                    h.to_string(),
                    Observed {
                        current: Some("20261120100000-9be01d4".into()),
                        releases: vec![],
                        ..Observed::default()
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
    });
    insta::assert_snapshot!(plan.render());
    // A plan survives the journal: it round-trips through its JSON record.
    let back: bosun::engine::Plan = serde_json::from_str(&plan.to_json()).unwrap();
    assert_eq!(back, plan);
}
