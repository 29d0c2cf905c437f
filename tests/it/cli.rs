//! The command line as scripts use it: check, deploy, rollback, history and export, with their exit codes.

use std::process::Command;

use crate::support::app::{AppOptions, DemoApp};

fn bosun(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args(args)
        .output()
        .expect("bosun runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_the_example_and_names_file_line_and_key_of_a_mistake() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let (ok, out, err) = bosun(&["check", "--config", example]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("ok (1 playbooks"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bosun.toml");
    std::fs::write(&bad, "[bot]\nplaybooks = [\"nope.toml\"]\nnmae = \"x\"\n").unwrap();
    let (ok, _, err) = bosun(&["check", "--config", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("bosun.toml:2:") && err.contains("bot.playbooks[0]"),
        "{err}"
    );
    assert!(
        err.contains("bosun.toml:3:1: bot.nmae: unknown key \"nmae\"; did you mean \"name\"?"),
        "{err}"
    );
}

#[test]
fn deploy_rollback_history_and_export_work_without_chat() {
    let mut app = DemoApp::new(AppOptions::default());
    let config = app.config_path.to_str().unwrap().to_string();
    let (ok, out, err) = bosun(&[
        "deploy", "demo", "--to", "staging", "--config", &config, "--as", "alice",
    ]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("alice is deploying demo") && out.contains("is live on 2 hosts"),
        "{out}"
    );
    let first = app.current("h1").unwrap();

    let (ok, out, _) = bosun(&[
        "deploy", "demo", "--to", "staging", "--config", &config, "--as", "bob",
    ]);
    assert!(!ok, "deploying what is already live is refused: {out}");
    assert!(out.contains("is already live on staging"), "{out}");

    let tagged = app.history[1].clone();
    let (ok, out, err) = bosun(&[
        "deploy",
        "demo/v1.0",
        "--to",
        "staging",
        "--config",
        &config,
        "--as",
        "bob",
    ]);
    assert!(ok, "{out}{err}");
    assert_eq!(app.live_revision("h2").as_deref(), Some(tagged.as_str()));
    app.commit("Bob", "One more");

    let (ok, out, err) = bosun(&[
        "rollback", "demo", "--in", "staging", "--config", &config, "--as", "bob",
    ]);
    assert!(ok, "{out}{err}");
    assert_eq!(app.current("h1"), Some(first));

    let (ok, out, _) = bosun(&["history", "demo", "staging", "--config", &config]);
    assert!(ok);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.lines().next().unwrap().starts_with("#3 "), "{out}");

    let archive = app.path().join("export.tar.gz");
    let (ok, out, err) = bosun(&[
        "export",
        "1",
        "-o",
        archive.to_str().unwrap(),
        "--config",
        &config,
    ]);
    assert!(ok, "{out}{err}");
    assert!(std::fs::metadata(&archive).unwrap().len() > 100);
    let (ok, _, err) = bosun(&[
        "export",
        "99",
        "-o",
        archive.to_str().unwrap(),
        "--config",
        &config,
    ]);
    assert!(!ok && err.contains("no deploy #99"), "{err}");

    let (ok, _, err) = bosun(&[
        "deploy",
        "demo/$(reboot)",
        "--to",
        "staging",
        "--config",
        &config,
    ]);
    assert!(!ok && err.contains("is not a git ref name"), "{err}");
}
