//! The permission table: (person, action, app, env) cases and their answers.

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
            person("root", &[("console", "*")], &["admin"]),
        ],
        roles,
    }
}

#[test]
fn the_permission_table() {
    let p = policy();
    let id = |n: &str, i: &str| Identity::new(n, i);
    type Case<'a> = (Identity, Action, &'a str, &'a str, Result<(), &'a str>);
    let cases: &[Case] = &[
        (
            id("xmpp", "alice@example.org"),
            Action::Deploy,
            "blog",
            "staging",
            Ok(()),
        ),
        (
            id("xmpp", "alice@example.org"),
            Action::Deploy,
            "blog",
            "live",
            Ok(()),
        ),
        (
            id("xmpp", "alice@example.org"),
            Action::Deploy,
            "shop",
            "live",
            Err("alice may deploy shop to staging, not live"),
        ),
        (
            id("xmpp", "alice@example.org"),
            Action::Rollback,
            "shop",
            "live",
            Ok(()),
        ),
        (
            id("xmpp", "mallory@example.org"),
            Action::Deploy,
            "blog",
            "staging",
            Err("I don't know who mallory@example.org is"),
        ),
        (
            id("slack", "alice@example.org"),
            Action::Deploy,
            "blog",
            "staging",
            Err("I don't know who"),
        ),
        (id("slack", "U1"), Action::Deploy, "blog", "staging", Ok(())),
        (
            id("slack", "U1"),
            Action::Force,
            "blog",
            "staging",
            Err("carol may not force blog"),
        ),
        (
            id("console", "alice"),
            Action::Deploy,
            "blog",
            "live",
            Ok(()),
        ),
        (
            id("console", "anyone"),
            Action::Deploy,
            "shop",
            "live",
            Ok(()),
        ),
        (
            id("console", "anyone"),
            Action::UnlockOthers,
            "shop",
            "live",
            Ok(()),
        ),
    ];
    for (identity, action, app, env, expected) in cases {
        let person = p.identify(identity);
        let who = person
            .map(|p| p.name.clone())
            .unwrap_or_else(|| identity.id.clone());
        let got = p.allows(person, &who, *action, app, env);
        match (expected, &got) {
            (Ok(()), Ok(())) => {}
            (Err(want), Err(text)) if text.starts_with(want) => {}
            _ => panic!("{identity} {action:?} {app}:{env}: expected {expected:?}, got {got:?}"),
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
