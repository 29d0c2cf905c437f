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

fn bosun_env(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("bosun runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exit_codes_tell_refused_invalid_and_undone_apart_and_logs_are_plain_or_json() {
    // The page's port is taken (as by the running bot): a scripted deploy does not serve it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut app = DemoApp::new(AppOptions {
        hosts: vec!["h1"],
        config_extra: format!(
            "[web]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://bosun.test\"\n"
        ),
        // Fails once `broken` exists beside bosun.toml (six levels up from the release).
        build_extra: vec![r#"["sh", "-c", "test ! -e ../../../../../../broken"]"#.into()],
        ..AppOptions::default()
    });
    let config = app.config_path.to_str().unwrap().to_string();
    let deploy = |target: &str, env: &[(&str, &str)], format: &str| {
        bosun_env(
            &[
                "--log-format",
                format,
                "deploy",
                target,
                "--to",
                "staging",
                "--config",
                &config,
                "--as",
                "alice",
            ],
            env,
        )
    };
    let (code, out, err) = deploy("demo", &[("BOSUN_LOG", "info")], "json");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("http://bosun.test/deploys/1"),
        "the announcement links its page: {out}"
    );
    let logged: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect();
    let messages: Vec<&str> = logged
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect();
    for expected in ["command received", "starting", "started", "finished"] {
        assert!(messages.contains(&expected), "{expected:?} in {messages:?}");
    }
    assert!(
        messages.iter().any(|m| m.contains("staged on 1/1 hosts")),
        "each phase is logged: {messages:?}"
    );

    let live = app.history[2].clone();
    let (code, out, err) = deploy(&format!("demo/{live}"), &[("BOSUN_LOG", "info")], "text");
    assert_eq!(code, Some(3), "already live is refused: {out}{err}");
    assert!(
        !err.contains('\u{1b}'),
        "no colour codes off a terminal: {err:?}"
    );
    assert!(err.contains("command received"), "{err}");

    let (code, out, err) = deploy("demo/no-such-branch", &[], "text");
    assert_eq!(code, Some(2), "an unknown ref is invalid: {out}{err}");
    let (code, _, err) = deploy("nosuchapp", &[], "text");
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = bosun_env(&["deploy", "demo/$(x)", "--to", "staging"], &[]);
    assert_eq!(code, Some(2), "{err}");

    std::fs::write(app.path().join("broken"), "").unwrap();
    app.commit("Bob", "Break the build");
    let (code, out, err) = deploy("demo", &[], "text");
    assert_eq!(code, Some(4), "failed and undone: {out}{err}");
    assert_eq!(app.live_revision("h1").as_deref(), Some(live.as_str()));

    let (code, help, _) = bosun_env(&["--help"], &[]);
    assert_eq!(code, Some(0));
    for line in [
        "3  refused",
        "2  invalid",
        "4  failed, and everything it did was undone",
    ] {
        assert!(help.contains(line), "{line:?} in {help}");
    }
    let (code, help, _) = bosun_env(&["help", "export"], &[]);
    assert_eq!(code, Some(0));
    for part in ["chat.txt", "files.txt", "archive.tar", "steps.txt"] {
        assert!(help.contains(part), "{part} in {help}");
    }

    let archive = app.path().join("export.tar.gz");
    let (code, _, err) = bosun_env(
        &[
            "export",
            "1",
            "-o",
            archive.to_str().unwrap(),
            "--config",
            &config,
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    let mut names = Vec::new();
    let mut chat = String::new();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&archive).unwrap(),
    ));
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        if name.ends_with("chat.txt") {
            std::io::Read::read_to_string(&mut entry, &mut chat).unwrap();
        }
        names.push(name);
    }
    assert!(
        names.iter().any(|n| n.ends_with("/archive.tar")),
        "{names:?}"
    );
    assert!(chat.contains("is live on 1 host"), "{chat}");
}
