//! The SSH story against real sshd hosts: a rolling deploy in groups and batches, rollback over the kept connections, a host down, a failed stage, a failed health check, refused host keys, and hostile text that stays literal.

use std::collections::BTreeMap;
use std::time::Duration;

use bosun::config::{HostSpec, SshSpec};
use bosun::journal::{Journal, StepRecord, StepState};
use bosun::transport::{Connector, Host, RemoteCommand, Stream, TransportError};

use crate::support::app::{journal_id_in, release_in};
use crate::support::bot::ConsoleBot;
use crate::support::ssh_app::{SshApp, SshOptions};
use crate::support::sshd::Fleet;

/// The switch steps of a deploy that went forward (not undos), by host.
fn switches(steps: &[StepRecord]) -> BTreeMap<String, StepRecord> {
    steps
        .iter()
        .filter(|s| s.undo_of.is_none() && s.label.starts_with("switch to "))
        .map(|s| (s.host.clone().unwrap_or_default(), s.clone()))
        .collect()
}

#[tokio::test]
async fn a_rolling_deploy_over_ssh_switches_group_by_group_and_rollback_reuses_the_connections() {
    let mut ssh = SshApp::new(SshOptions::default());
    let hosts = ssh.fleet.names();
    let mut bot = ConsoleBot::start(ssh.config(), "alice");

    bot.say("deploy demo to staging").await;
    bot.expect("alice is deploying demo").await;
    let done = bot.expect("is live on 6 hosts").await;
    let text = bot.since("alice is deploying demo");
    for batch in [
        "switching edge batch 1/1 (h1)",
        "switching app batch 1/3 (h2, h3)",
        "switching app batch 2/3 (h4, h5)",
        "switching app batch 3/3 (h6)",
        "app batch 3/3 healthy (h6)",
    ] {
        assert!(text.contains(batch), "no {batch:?} in:\n{text}");
    }
    let first = release_in(&text);
    let c3 = ssh.app.history[2].clone();
    for h in &hosts {
        assert_eq!(ssh.current(h).as_deref(), Some(first.as_str()), "{h}");
        assert_eq!(ssh.live_revision(h).as_deref(), Some(c3.as_str()), "{h}");
        let built = std::fs::read_to_string(ssh.deploy_root(h).join("current/BUILT")).unwrap();
        assert_eq!(built, format!("built {c3} for {h}\n"));
        assert_eq!(
            ssh.fleet.logins(h),
            1,
            "{h}: one SSH connection for the whole deploy"
        );
    }

    // Group order, then batch order, as the journal's timestamps record them.
    let journal = Journal::open(&ssh.app.journal_path()).await.unwrap();
    let steps = journal.steps(journal_id_in(&done)).await.unwrap();
    let switched = switches(&steps);
    let batches: [&[&str]; 4] = [&["h1"], &["h2", "h3"], &["h4", "h5"], &["h6"]];
    for pair in batches.windows(2) {
        let (before, after) = (pair[0], pair[1]);
        let last_before = before
            .iter()
            .map(|h| switched[*h].finished_at.unwrap())
            .max()
            .unwrap();
        let first_after = after.iter().map(|h| switched[*h].started_at).min().unwrap();
        assert!(
            last_before <= first_after,
            "{before:?} switched before {after:?}: {switched:#?}"
        );
        let max_id = before.iter().map(|h| switched[*h].id).max().unwrap();
        let min_id = after.iter().map(|h| switched[*h].id).min().unwrap();
        assert!(max_id < min_id, "{switched:#?}");
    }

    // A second deploy and a rollback right after it ride the same connections.
    ssh.app.commit("Bob", "Tune the cache");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 6 hosts").await;
    let second = release_in(&bot.since("alice is deploying demo"));
    assert_ne!(second, first);
    bot.say("!rollback").await;
    bot.expect("is rolling demo on staging back to").await;
    let back = bot.expect("demo is back on").await;
    for h in &hosts {
        assert_eq!(
            ssh.current(h).as_deref(),
            Some(first.as_str()),
            "{h}: {back}"
        );
        assert_eq!(
            ssh.fleet.logins(h),
            1,
            "{h}: the rollback reused the deploy's connection"
        );
    }
    let (report, _) = bot.finish().await;
    assert_eq!((report.deploys_succeeded, report.deploys_failed), (3, 0));
}

#[tokio::test]
async fn a_host_that_is_down_is_named_before_anything_is_staged() {
    let mut ssh = SshApp::new(SshOptions::default());
    ssh.fleet.stop("h4");
    let mut bot = ConsoleBot::start(ssh.config(), "alice");
    bot.say("deploy demo to staging").await;
    let refused = bot.expect("h4").await;
    assert!(
        refused.contains("Connection refused") || refused.contains("cannot connect"),
        "{refused}"
    );
    let (report, transcript) = bot.finish().await;
    let text = transcript.join("\n");
    assert!(!text.contains("staged on"), "{text}");
    assert_eq!(report.deploys_succeeded, 0, "{text}");
    for h in ssh.fleet.names() {
        assert!(ssh.releases(&h).is_empty(), "{h}: {:?}", ssh.releases(&h));
        assert_eq!(ssh.current(&h), None, "{h}");
    }
}

#[tokio::test]
async fn a_stage_that_fails_on_one_host_removes_the_new_release_everywhere() {
    let mut ssh = SshApp::new(SshOptions::default());
    let mut bot = ConsoleBot::start(ssh.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 6 hosts").await;
    let first = release_in(&bot.since("alice is deploying demo"));

    // On h5 a file stands where the shared directory `log` must be: its stage step fails
    // after the archive is unpacked.
    let log = ssh.deploy_root("h5").join("shared/log");
    std::fs::remove_dir_all(&log).unwrap();
    std::fs::write(&log, "not a directory").unwrap();
    ssh.app.commit("Bob", "Ship something");
    bot.say("deploy demo to staging").await;
    bot.expect("alice is deploying demo").await;
    let failed = bot.expect("failed —").await;
    assert!(failed.contains("h5"), "{failed}");
    let (_, transcript) = bot.finish().await;
    for h in ssh.fleet.names() {
        assert_eq!(ssh.current(&h).as_deref(), Some(first.as_str()), "{h}");
        assert_eq!(
            ssh.releases(&h),
            std::slice::from_ref(&first),
            "{h}: {transcript:#?}"
        );
    }
}

#[tokio::test]
async fn a_failing_health_check_in_the_second_batch_switches_both_batches_back_newest_first() {
    let ssh = SshApp::new(SshOptions {
        health: r#"sh -c 'if [ "$1" = h2 ] && [ -e BREAK ]; then echo "h2 reports: BREAK is present" >&2; exit 1; fi' sh {host}"#.into(),
        ..SshOptions::default()
    });
    let mut bot = ConsoleBot::start(ssh.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 6 hosts").await;
    let good = release_in(&bot.since("alice is deploying demo"));

    ssh.app.repo.commit(
        "Bob Builder",
        "bob@example.org",
        "Break the health check",
        &[("BREAK", "yes")],
    );
    bot.say("deploy demo to staging").await;
    bot.expect("alice is deploying demo").await;
    let failed = bot.expect("failed —").await;
    let text = bot.since("alice is deploying demo");
    assert!(failed.contains("h2"), "{failed}");
    assert!(text.contains("h2 reports: BREAK is present"), "{text}");
    assert!(!text.contains("switching app batch 2/3"), "{text}");
    let id = journal_id_in(&failed);
    let (_, transcript) = bot.finish().await;
    for h in ssh.fleet.names() {
        assert_eq!(
            ssh.current(&h).as_deref(),
            Some(good.as_str()),
            "{h}: {transcript:#?}"
        );
    }

    let journal = Journal::open(&ssh.app.journal_path()).await.unwrap();
    let steps = journal.steps(id).await.unwrap();
    let switched = switches(&steps);
    assert_eq!(
        switched.keys().map(String::as_str).collect::<Vec<_>>(),
        ["h1", "h2", "h3"],
        "only the first two batches switched"
    );
    // Undo order: the switch-backs of batch 2 (h2, h3) come before h1's.
    let undo_of = |h: &str| {
        steps
            .iter()
            .find(|s| s.undo_of == Some(switched[h].id))
            .unwrap_or_else(|| panic!("{h} was not switched back: {steps:#?}"))
            .clone()
    };
    let h1 = undo_of("h1");
    for h in ["h2", "h3"] {
        let back = undo_of(h);
        assert!(
            back.id < h1.id && back.started_at <= h1.started_at,
            "{steps:#?}"
        );
        assert_eq!(back.state, StepState::Reverted, "{back:?}");
    }
}

#[tokio::test]
async fn unknown_and_changed_host_keys_refuse_the_host_and_name_its_fingerprint() {
    let mut ssh = SshApp::new(SshOptions {
        hosts: 3,
        groups: vec![("web", 3, None)],
        ..SshOptions::default()
    });
    ssh.fleet.forget_host_key("h2");
    let mut bot = ConsoleBot::start(ssh.config(), "alice");
    bot.say("deploy demo to staging").await;
    let refused = bot.expect("h2").await;
    let print = ssh.fleet.fingerprint("h2");
    assert!(refused.contains(&print), "{print} not in {refused}");
    assert!(refused.contains("is not in"), "{refused}");
    assert_eq!(ssh.fleet.logins("h2"), 0, "no login on a refused host");
    assert!(!ssh.deploy_root("h2").exists(), "nothing ran on h2");

    ssh.fleet.write_known_hosts(&[0, 1, 2]);
    let h3_logins = ssh.fleet.logins("h3");
    ssh.fleet.change_host_key("h3");
    bot.say("deploy demo to staging").await;
    let refused = bot.expect("h3").await;
    let print = ssh.fleet.fingerprint("h3");
    assert!(refused.contains(&print), "{print} not in {refused}");
    assert!(refused.contains("differs from"), "{refused}");
    assert_eq!(
        ssh.fleet.logins("h3"),
        h3_logins,
        "no login on a host whose key changed"
    );
    let (report, transcript) = bot.finish().await;
    assert_eq!(report.deploys_succeeded, 0, "{transcript:#?}");
    for h in ssh.fleet.names() {
        assert!(ssh.releases(&h).is_empty(), "{h}");
    }
}

/// Text that means something to a shell, or to a reader, and nothing to bosun.
fn payloads() -> Vec<String> {
    [
        "",
        " ",
        "a b",
        "'",
        "\"",
        "\\",
        "'\\''",
        ";",
        "; rm -rf /",
        "&& touch /tmp/pwned",
        "| cat",
        "$(id)",
        "${HOME}",
        "$HOME",
        "`id`",
        "> out",
        "< /etc/passwd",
        "*",
        "?",
        "[a-z]*",
        "~",
        "-n",
        "-e",
        "--",
        "-rf",
        "#",
        "!!",
        "{host}",
        "{a,b}",
        "%s%n",
        "line\nbreak",
        "tab\there",
        "é ü 漢字 🚀",
        "\u{202e}txt.exe",
        "\u{1b}[31mred",
        "x'y\"z`w$v\\u",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn spec(fleet: &Fleet, name: &str) -> HostSpec {
    HostSpec::Ssh(SshSpec {
        address: "127.0.0.1".into(),
        port: fleet.port(name),
        user: None,
        identity: Some(fleet.client_key()),
        known_hosts: Some(fleet.known_hosts()),
        connect_timeout: Duration::from_secs(5),
        keepalive: Duration::from_secs(15),
        idle: Duration::from_secs(60),
        compression: false,
        deploy_to: None,
    })
}

/// Splits what `printf '%s\0' "$@"` wrote.
fn nul_separated(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let mut words: Vec<String> = text.split('\0').map(str::to_string).collect();
    assert_eq!(words.pop().as_deref(), Some(""));
    words
}

#[tokio::test]
async fn the_transport_passes_each_argument_literally_streams_output_and_kills_on_timeout() {
    let fleet = Fleet::start(1);
    let connector = Connector::new();
    let (host, root) = connector
        .connect("h1", &spec(&fleet, "h1"), "/srv/demo")
        .await
        .unwrap();
    assert_eq!(root, "/srv/demo");
    assert!(matches!(host, Host::Ssh(_)));
    let dir = fleet.host_dir("h1");

    // Every hostile payload arrives as exactly one argument, in a hostile directory.
    let odd_dir = dir.join("we ird $(x) 'dir' ;");
    std::fs::create_dir(&odd_dir).unwrap();
    let out_file = dir.join("args");
    let mut argv = vec![
        "sh".to_string(),
        "-c".into(),
        r#"out=$1; shift; pwd > "$out.pwd"; printf '%s\0' "$@" > "$out""#.into(),
        "sh".into(),
        out_file.display().to_string(),
    ];
    argv.extend(payloads());
    let cmd = RemoteCommand::new(argv).in_dir(odd_dir.display().to_string());
    let out = host.run(&cmd, None).await.unwrap();
    assert!(out.success(), "{out:?}");
    assert_eq!(
        nul_separated(&std::fs::read(&out_file).unwrap()),
        payloads()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("args.pwd")).unwrap(),
        format!("{}\n", odd_dir.display())
    );
    // The program itself is one literal word too: no shell sees "printf %s" as two.
    let out = host
        .run(&RemoteCommand::new(["printf %s", "x"]), None)
        .await
        .unwrap();
    assert_eq!(out.code, Some(127), "{out:?}");

    // Output streams line by line; the exit status is kept; the remote pid line is not shown.
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let cmd = RemoteCommand::script("echo one; echo two >&2; exit 3", Vec::<String>::new());
    let out = host.run(&cmd, Some(&tx)).await.unwrap();
    assert_eq!(out.code, Some(3));
    let mut got = vec![rx.recv().await.unwrap().line, rx.recv().await.unwrap().line];
    got.sort();
    assert_eq!(got, ["one", "two"]);
    assert_eq!(out.output.lines().count(), 2, "{:?}", out.output);

    // Stdin streams from a file.
    let input = dir.join("input");
    std::fs::write(&input, "x".repeat(1 << 20)).unwrap();
    let out = host
        .run(&RemoteCommand::new(["wc", "-c"]).with_stdin(&input), None)
        .await
        .unwrap();
    assert_eq!(out.output.trim(), (1 << 20).to_string());

    // A command past its timeout is killed on the host, children included.
    let pid_file = dir.join("sleeper.pid");
    let cmd = RemoteCommand::script(
        r#"sleep 30 & echo $! > "$1"; wait"#,
        [pid_file.display().to_string()],
    )
    .with_timeout(Duration::from_millis(700));
    let err = host.run(&cmd, None).await.unwrap_err();
    assert!(matches!(err, TransportError::Timeout(_)), "{err}");
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the remote sleep {pid} outlived its timeout"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // allow-sleep: polling, with a deadline, for another process to exit
    }

    assert_eq!(
        fleet.logins("h1"),
        1,
        "one connection carried every command"
    );
    assert_eq!(connector.open_masters().await, 1);
    connector.shutdown().await;
    assert_eq!(connector.open_masters().await, 0);
}

#[tokio::test]
async fn hostile_text_in_variables_arrives_literally_and_in_chat_is_refused() {
    let values = payloads();
    let toml_string = |s: &str| toml::Value::String(s.to_string()).to_string();
    let half = values.len() / 2;
    let vars: String = values[..half]
        .iter()
        .enumerate()
        .map(|(i, v)| format!("p{i} = {}\n", toml_string(v)))
        .collect();
    let env_vars: Vec<String> = values[half..]
        .iter()
        .enumerate()
        .map(|(i, v)| format!("p{} = {}", i + half, toml_string(v)))
        .collect();
    let words: Vec<String> = (0..values.len()).map(|i| format!("\"{{p{i}}}\"")).collect();
    let build = format!(
        r#"[["sh", "-c", "printf '%s\\0' \"$@\" > ARGS", "sh", {}]]"#,
        words.join(", ")
    );
    let ssh = SshApp::new(SshOptions {
        hosts: 2,
        groups: vec![("web", 2, None)],
        head: format!("[vars]\n{vars}\n"),
        env_extra: format!("vars = {{ {} }}\n", env_vars.join(", ")),
        build,
        ..SshOptions::default()
    });
    let mut bot = ConsoleBot::start(ssh.config(), "alice");
    bot.say("deploy demo to staging").await;
    bot.expect("is live on 2 hosts").await;
    for h in ssh.fleet.names() {
        let args = std::fs::read(ssh.deploy_root(&h).join("current/ARGS")).unwrap();
        assert_eq!(nul_separated(&args), values, "{h}");
    }
    let releases = ssh.releases("h1");

    // In chat, the same text as an app, an environment or a ref is refused, never run.
    let mut sent = 0;
    for p in values.iter().filter(|p| !p.contains('\n')) {
        for line in [
            format!("!deploy {p} to staging"),
            format!("!deploy demo to {p}"),
            format!("!deploy demo/{p} to staging"),
        ] {
            bot.say(&line).await;
            let reply = bot.expect("").await;
            assert!(!reply.contains("is deploying"), "{line:?} → {reply}");
            sent += 1;
        }
    }
    assert!(sent >= 90, "{sent}");
    let (report, transcript) = bot.finish().await;
    let text = transcript.join("\n");
    assert_eq!(text.matches("is deploying").count(), 1, "{text}");
    assert_eq!(report.deploys_succeeded, 1);
    assert_eq!(ssh.releases("h1"), releases, "no new release");
}

/// A `bosun run` process typed at through its stdin, its stdout read line by line.
struct BotProcess {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl BotProcess {
    fn start(config: &std::path::Path) -> BotProcess {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bosun"))
            .args(["run", "--as", "alice", "--config"])
            .arg(config)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the bosun binary starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        BotProcess {
            child,
            stdin,
            lines: tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout)),
        }
    }

    async fn say(&mut self, line: &str) {
        tokio::io::AsyncWriteExt::write_all(&mut self.stdin, format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    async fn expect(&mut self, needle: &str) -> String {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + crate::support::bot::PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Ok(Ok(Some(line))) if line.contains(needle) => return line,
                Ok(Ok(Some(line))) => seen.push(line),
                other => panic!(
                    "no {needle:?} ({other:?}); the bot said:\n{}",
                    seen.join("\n")
                ),
            }
        }
    }
}

/// The ssh master processes whose control sockets live under `/tmp/bosun-ssh-<pid>/`.
fn masters_of(pid: u32) -> usize {
    let out = std::process::Command::new("ps")
        .args(["-e", "-o", "args="])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("ssh ") && l.contains(&format!("/tmp/bosun-ssh-{pid}/")))
        .count()
}

#[tokio::test]
async fn masters_left_by_a_killed_bot_are_closed_by_the_next_one() {
    let mut ssh = SshApp::new(SshOptions {
        hosts: 2,
        groups: vec![("web", 2, None)],
        ..SshOptions::default()
    });
    // This test process cleans stale directories once, at its first SSH connection: let that
    // happen now, so that only the second bot can clean what the first one leaves.
    let connector = Connector::new();
    let (host, _) = connector
        .connect("h1", &spec(&ssh.fleet, "h1"), "/srv/demo")
        .await
        .unwrap();
    assert!(
        host.run(&RemoteCommand::new(["true"]), None)
            .await
            .unwrap()
            .success()
    );
    connector.shutdown().await;

    let mut first = BotProcess::start(&ssh.app.config_path);
    first.say("deploy demo to staging").await;
    first.expect("is live on 2 hosts").await;
    // Killed once the deploy has ended ("is live" comes before the clean-up of old releases).
    let journal = bosun::journal::Journal::open(&ssh.app.journal_path())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !journal.unfinished().await.unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the deploy did not end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // allow-sleep: polling the journal the bot writes
    }
    let pid = first.child.id().unwrap();
    first.child.kill().await.unwrap();
    let stale = std::path::PathBuf::from(format!("/tmp/bosun-ssh-{pid}"));
    assert!(stale.exists(), "the killed bot left its control directory");
    assert_eq!(masters_of(pid), 2, "and its two masters, still connected");

    ssh.app.commit("Bob", "After the crash");
    let mut second = BotProcess::start(&ssh.app.config_path);
    let second_pid = second.child.id().unwrap();
    second.say("deploy demo to staging").await;
    second.expect("is live on 2 hosts").await;
    assert!(!stale.exists(), "the next bot removed {}", stale.display());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while masters_of(pid) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "stale masters still run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // allow-sleep: polling, with a deadline, for stale masters to go
    }
    drop(second.stdin);
    let status = tokio::time::timeout(crate::support::bot::PATIENCE, second.child.wait())
        .await
        .expect("the bot ends when its input does")
        .unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(
        masters_of(second_pid),
        0,
        "a bot that ends closes its masters"
    );
    let own = std::path::PathBuf::from(format!("/tmp/bosun-ssh-{second_pid}"));
    assert!(!own.exists(), "and removes {}", own.display());
}

#[tokio::test]
async fn every_line_a_command_prints_arrives_even_when_it_ends_at_once() {
    const HOSTS: usize = 6;
    let fleet = Fleet::start(HOSTS);
    let connector = Connector::new();
    let mut hosts = Vec::new();
    for i in 1..=HOSTS {
        let name = format!("h{i}");
        let (host, _) = connector
            .connect(&name, &spec(&fleet, &name), "/srv/demo")
            .await
            .unwrap();
        hosts.push(host);
    }

    // A burst bigger than a pipe holds, then a last line on each stream (stderr's without a
    // newline), then the program ends at once, on several hosts at a time: the status must
    // never overtake the output.
    const SCRIPT: &str = r#"head -c 150000 /dev/zero | tr '\0' 'x' | fold -w 100; echo
echo "last out $1"
printf 'last err %s' "$1" >&2"#;
    let rounds = hosts.iter().map(|host| async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        for round in 0..60 {
            let cmd = RemoteCommand::script(SCRIPT, [round.to_string()]);
            let out = host.run(&cmd, Some(&tx)).await.unwrap();
            assert!(out.success(), "{out:?}");
            let (mut last_out, mut errs) = (String::new(), Vec::new());
            while let Ok(line) = rx.try_recv() {
                match line.stream {
                    Stream::Stdout => last_out = line.line,
                    Stream::Stderr => errs.push(line.line),
                }
            }
            assert_eq!(
                last_out,
                format!("last out {round}"),
                "round {round}: {:?}",
                out.output.lines().rev().take(3).collect::<Vec<_>>()
            );
            assert_eq!(errs, [format!("last err {round}")], "round {round}");
        }
    });
    futures::future::join_all(rounds).await;
    let host = &hosts[0];

    // The program is always a program: a builtin's name is not found, never run by the shell.
    let out = host
        .run(&RemoteCommand::new(["exit", "3"]), None)
        .await
        .unwrap();
    assert_eq!(out.code, Some(127), "{out:?}");

    // A server the command leaves behind, holding its output open, does not hold the command.
    let pid_file = fleet.host_dir("h1").join("server.pid");
    let cmd = RemoteCommand::script(
        r#"sleep 30 & echo $! > "$1"; echo started"#,
        [pid_file.display().to_string()],
    )
    .with_timeout(Duration::from_secs(25));
    let started = std::time::Instant::now();
    let out = host.run(&cmd, None).await.unwrap();
    assert!(out.success() && out.output.contains("started"), "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited for the server it left behind"
    );
    let server = std::fs::read_to_string(&pid_file).unwrap();
    let _ = std::process::Command::new("kill")
        .arg(server.trim())
        .status();
    connector.shutdown().await;
}
