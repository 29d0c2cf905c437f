//! Recovery time at 16 SSH hosts: a deploy with realistic step times killed (SIGKILL) in its switch phase, then bosun started again at once; how long until the room is told the fleet is back, and until the bot is done.
//!
//!     cargo bench --bench recovery                 # ROUNDS=7 HOSTS=16
//!     ROUNDS=3 HOSTS=8 cargo bench --bench recovery
//!
//! Real sshd hosts on 127.0.0.1, started and stopped by the test harness (`tests/it/support`).
//! The pipeline: a build of 0.5 s on every host, a migration of 1 s up (and 1 s down), a restart
//! of 0.3 s, batches of 4. Each round deploys a new commit, kills the bot as the second batch
//! starts switching (so recovery has a migration to take down, switched hosts to put back and
//! staged releases to remove on every host), and starts it again at once.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

// The integration tests' harness, shared by path (its modules name each other as siblings).
#[allow(dead_code)]
#[path = "../tests/it/support/app.rs"]
mod app;
#[allow(dead_code)]
#[path = "../tests/it/support/bot.rs"]
mod bot;
#[allow(dead_code)]
#[path = "../tests/it/support/process.rs"]
mod process;
#[allow(dead_code)]
#[path = "../tests/it/support/ssh_app.rs"]
mod ssh_app;
#[allow(dead_code)]
#[path = "../tests/it/support/sshd.rs"]
mod sshd;

use process::BotProcess;
use ssh_app::{SshApp, SshOptions};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Starts bosun with nothing to do but recover, and returns when it told the room, and when it
/// was done.
async fn restart(config: &Path) -> (Option<Duration>, Duration) {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args(["run", "--config"])
        .arg(config)
        .args(["--as", "alice"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("bosun starts");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut told = None;
    while let Ok(Some(line)) = out.next_line().await {
        if told.is_none() && line.contains("I was restarted while") {
            told = Some(started.elapsed());
        }
    }
    child.wait().await.expect("bosun ends");
    (told, started.elapsed())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let rounds = env_number("ROUNDS", 7);
    let hosts = env_number("HOSTS", 16);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let marks = tempfile::tempdir().unwrap();
        let stack = marks.path().join("stack");
        std::fs::write(&stack, "").unwrap();
        let mut ssh = SshApp::new(SshOptions {
            hosts,
            groups: vec![("web", hosts, Some(4))],
            build: r#"[["sh", "-c", "sleep 0.5"]]"#.into(),
            restart: "sleep 0.3".into(),
            pipeline_extra: format!(
                r#"migrate = {{ up = ["sh", "-c", "sleep 1; echo \"$0\" >> \"$1\"", "{{revision}}", "{stack}"], down = ["sh", "-c", "sleep 1; sed -i \"/^$0\\$/d\" \"$1\"", "{{revision}}", "{stack}"], once = true }}"#,
                stack = stack.display()
            ),
            ..SshOptions::default()
        });
        let config = ssh.app.config_path.clone();
        let mut bot = BotProcess::start(&config, "alice");
        bot.say("deploy demo to staging").await;
        bot.expect(&format!("is live on {hosts} hosts")).await;
        drop(bot);

        let (mut told, mut done) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            ssh.app.commit("Bob", &format!("Round {round}"));
            let mut bot = BotProcess::start(&config, "alice");
            bot.say("deploy demo to staging").await;
            bot.expect("switching web batch 2/").await;
            bot.child.kill().await.unwrap();
            drop(bot);
            let (at, end) = restart(&config).await;
            let at = at.expect("the room was told");
            eprintln!(
                "round {round}: told after {:.2} s, done after {:.2} s",
                at.as_secs_f64(),
                end.as_secs_f64()
            );
            told.push(at.as_secs_f64());
            done.push(end.as_secs_f64());
        }
        let (min, max) = told
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        println!(
            "recovery_s N={hosts}: median {:.2} min {min:.2} max {max:.2} (told); done median {:.2} ({rounds} rounds)",
            median(&mut told),
            median(&mut done)
        );
    });
}
