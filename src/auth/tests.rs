//! The permission table: (person, action, app, env, room) cases and their answers.

use std::collections::BTreeMap;

use super::*;

fn pattern(s: &str) -> Pattern {
    let (app, env) = s.split_once(':').unwrap();
    Pattern {
        app: app.into(),
        env: env.into(),
    }
}

fn policy() -> Policy {
    let person = |name: &str, ids: &[(&str, &str)], roles: &[&str]| Person {
        name: name.into(),
        identities: ids
            .iter()
            .map(|(n, i)| (n.to_string(), i.to_string()))
            .collect(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    };
    let mut roles = BTreeMap::new();
    roles.insert(
        "deployer".to_string(),
        Role {
            deploy: vec![pattern("*:staging"), pattern("blog:live")],
            rollback: vec![pattern("*:*")],
            lock: vec![pattern("*:staging")],
            ..Role::default()
        },
    );
    roles.insert(
        "releaser".to_string(),
        Role {
            deploy: vec![pattern("shop:*")],
            force: vec![pattern("shop:live")],
            ..Role::default()
        },
    );
    roles.insert(
        "admin".to_string(),
        Role {
            admin: vec![pattern("*:*")],
            ..Role::default()
        },
    );
    Policy {
        people: vec![
            person(
                "alice",
                &[("xmpp", "alice@example.org"), ("console", "alice")],
                &["deployer"],
            ),
            person("carol", &[("slack", "U1")], &["deployer"]),
            person("dave", &[("discord", "80351110224678912")], &["releaser"]),
            person(
                "erin",
                &[("xmpp", "erin@example.org")],
                &["deployer", "releaser"],
            ),
            person("root", &[("console", "*")], &["admin"]),
            person("ghost", &[("xmpp", "ghost@example.org")], &["no-such-role"]),
        ],
        roles,
        app_rooms: BTreeMap::from([(
            "shop".to_string(),
            vec!["ops@conference.example.org".to_string()],
        )]),
    }
}

type Case<'a> = (
    Identity,
    Action,
    &'a str,
    &'a str,
    &'a str,
    Result<(), &'a str>,
);

#[test]
fn the_permission_table() {
    let p = policy();
    let id = |n: &str, i: &str| Identity::new(n, i);
    let ops = "ops@conference.example.org";
    let dev = "dev@conference.example.org";
    let cases: &[Case] = &[
        // A deployer: staging everywhere, blog to live, rollbacks anywhere, locks on staging.
        (
            id("xmpp", "alice@example.org"),
            Action::Deploy,
            "blog",
            "staging",
            dev,
            Ok(()),
        ),
        (
            id("xmpp", "alice@example.org"),
            Action::Deploy,
            "blog",
            "live",
            dev,
            Ok(()),
        ),
        (
            id("xmpp", "alice@example.org"),
            Action::Deploy,
            "wiki",
            "live",
            dev,
            Err("alice may deploy wiki to staging, not live"),
        ),
        (
            id("xmpp", "alice@example.org"),
            Action::Rollback,
            "wiki",
            "live",
            dev,
            Ok(()),
        ),
        (
            id("xmpp", "alice@example.org"),
            Action::Force,
            "blog",
            "live",
            dev,
            Err("alice may not force blog"),
        ),
        (
            id("xmpp", "alice@example.org"),
            Action::Lock,
            "*",
            "staging",
            dev,
            Ok(()),
        ),
        (
            id("xmpp", "alice@example.org"),
            Action::Lock,
            "*",
            "live",
            dev,
            Err("alice may lock * to staging, not live"),
        ),
        (
            id("xmpp", "alice@example.org"),
            Action::UnlockOthers,
            "*",
            "staging",
            dev,
            Err("alice may not unlock others' locks on *"),
        ),
        (
            id("console", "alice"),
            Action::Deploy,
            "blog",
            "live",
            dev,
            Ok(()),
        ),
        // Unknown senders, and people known only on another network.
        (
            id("xmpp", "mallory@example.org"),
            Action::Deploy,
            "blog",
            "staging",
            dev,
            Err("I don't know who mallory@example.org is"),
        ),
        (
            id("xmpp", "mallory@example.org"),
            Action::Rollback,
            "blog",
            "staging",
            dev,
            Err("I don't know who"),
        ),
        (
            id("slack", "alice@example.org"),
            Action::Deploy,
            "blog",
            "staging",
            dev,
            Err("I don't know who"),
        ),
        (
            id("discord", "U1"),
            Action::Deploy,
            "blog",
            "staging",
            dev,
            Err("I don't know who"),
        ),
        (
            id("slack", "U1"),
            Action::Deploy,
            "blog",
            "staging",
            dev,
            Ok(()),
        ),
        (
            id("slack", "U2"),
            Action::Deploy,
            "blog",
            "staging",
            dev,
            Err("I don't know who"),
        ),
        (
            id("slack", "U1"),
            Action::Force,
            "blog",
            "staging",
            dev,
            Err("carol may not force blog"),
        ),
        // Patterns with `*` on either side.
        (
            id("discord", "80351110224678912"),
            Action::Deploy,
            "shop",
            "live",
            ops,
            Ok(()),
        ),
        (
            id("discord", "80351110224678912"),
            Action::Deploy,
            "shop",
            "anything",
            ops,
            Ok(()),
        ),
        (
            id("discord", "80351110224678912"),
            Action::Deploy,
            "blog",
            "staging",
            dev,
            Err("dave may not deploy blog"),
        ),
        (
            id("discord", "80351110224678912"),
            Action::Force,
            "shop",
            "live",
            ops,
            Ok(()),
        ),
        (
            id("discord", "80351110224678912"),
            Action::Force,
            "shop",
            "staging",
            ops,
            Err("dave may force shop to live, not staging"),
        ),
        (
            id("discord", "80351110224678912"),
            Action::Rollback,
            "shop",
            "live",
            ops,
            Err("dave may not roll back shop"),
        ),
        // Two roles add up.
        (
            id("xmpp", "erin@example.org"),
            Action::Deploy,
            "shop",
            "live",
            ops,
            Ok(()),
        ),
        (
            id("xmpp", "erin@example.org"),
            Action::Deploy,
            "blog",
            "live",
            dev,
            Ok(()),
        ),
        (
            id("xmpp", "erin@example.org"),
            Action::Rollback,
            "shop",
            "live",
            ops,
            Ok(()),
        ),
        (
            id("xmpp", "erin@example.org"),
            Action::Force,
            "wiki",
            "live",
            dev,
            Err("erin may not force wiki"),
        ),
        // A role that does not exist grants nothing.
        (
            id("xmpp", "ghost@example.org"),
            Action::Deploy,
            "blog",
            "staging",
            dev,
            Err("ghost may not deploy blog"),
        ),
        // Admin grants every action, and `*` identities match anyone on that network.
        (
            id("console", "zed"),
            Action::Deploy,
            "shop",
            "live",
            ops,
            Ok(()),
        ),
        (
            id("console", "zed"),
            Action::UnlockOthers,
            "*",
            "live",
            dev,
            Ok(()),
        ),
        (
            id("console", "zed"),
            Action::Force,
            "blog",
            "live",
            dev,
            Ok(()),
        ),
        (
            id("console", "zed"),
            Action::Admin,
            "blog",
            "live",
            dev,
            Ok(()),
        ),
        // A room the app is not allowed in: refused whoever asks.
        (
            id("console", "zed"),
            Action::Deploy,
            "shop",
            "live",
            dev,
            Err("shop is deployed from ops@conference.example.org only"),
        ),
        (
            id("discord", "80351110224678912"),
            Action::Deploy,
            "shop",
            "live",
            dev,
            Err("shop is deployed from"),
        ),
        (
            id("xmpp", "erin@example.org"),
            Action::Rollback,
            "shop",
            "staging",
            "console",
            Err("shop is deployed from"),
        ),
        (
            id("xmpp", "alice@example.org"),
            Action::Deploy,
            "blog",
            "staging",
            "console",
            Ok(()),
        ),
    ];
    assert!(cases.len() >= 30);
    for (identity, action, app, env, room, expected) in cases {
        let person = p.identify(identity);
        let who = person
            .map(|p| p.name.clone())
            .unwrap_or_else(|| identity.id.clone());
        let got = p
            .room_allows(app, room)
            .and_then(|()| p.allows(person, &who, *action, app, env));
        match (expected, &got) {
            (Ok(()), Ok(())) => {}
            (Err(want), Err(text)) if text.starts_with(want) => {}
            _ => panic!(
                "{identity} {action:?} {app}:{env} in {room}: expected {expected:?}, got {got:?}"
            ),
        }
    }
}

#[test]
fn an_exact_identity_wins_over_a_wildcard() {
    assert_eq!(
        policy()
            .identify(&Identity::new("console", "alice"))
            .unwrap()
            .name,
        "alice"
    );
    assert_eq!(
        policy()
            .identify(&Identity::new("console", "zed"))
            .unwrap()
            .name,
        "root"
    );
}

#[test]
fn where_can_i_deploy_answers_from_the_same_policy() {
    let p = policy();
    let envs: Vec<String> = ["staging", "live", "qa"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let alice = p
        .identify(&Identity::new("xmpp", "alice@example.org"))
        .unwrap();
    assert_eq!(
        p.environments_for(alice, Action::Deploy, "blog", &envs),
        ["staging", "live"]
    );
    assert_eq!(
        p.environments_for(alice, Action::Deploy, "wiki", &envs),
        ["staging"]
    );
    let dave = p
        .identify(&Identity::new("discord", "80351110224678912"))
        .unwrap();
    assert_eq!(
        p.environments_for(dave, Action::Deploy, "shop", &envs),
        envs
    );
}
