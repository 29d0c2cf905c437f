//! The real `bosun` binary as a separate process, typed at through its stdin, for tests that kill it.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use super::bot::PATIENCE;

/// The real `bosun` binary, run as people run it, with its stdout read line by line.
pub struct BotProcess {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub lines: mpsc::Receiver<String>,
    pub transcript: Vec<String>,
}

impl BotProcess {
    pub fn start(config: &Path, user: &str) -> BotProcess {
        BotProcess::start_with(config, user, &[])
    }

    /// Starts the bot with extra environment variables (e.g. the kill test's `BOSUN_CRASH_AT`).
    pub fn start_with(config: &Path, user: &str, env: &[(&str, &str)]) -> BotProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bosun"))
            .envs(env.iter().copied())
            .args(["run", "--config"])
            .arg(config)
            .args(["--as", user])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the bosun binary starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel(1024);
        tokio::spawn(async move {
            let mut out = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = out.next_line().await {
                if tx.send(line).await.is_err() {
                    break;
                }
            }
        });
        BotProcess {
            stdin: child.stdin.take(),
            child,
            lines,
            transcript: Vec::new(),
        }
    }

    pub async fn say(&mut self, line: &str) {
        self.stdin
            .as_mut()
            .unwrap()
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    pub async fn expect(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.transcript.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                _ => panic!(
                    "bosun did not say {needle:?}; it said:\n{}",
                    self.transcript.join("\n")
                ),
            }
        }
    }
}

/// Waits for a file a host command creates: the event that says the deploy reached that point.
pub async fn wait_for_file(path: &Path) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !path.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // allow-sleep: polling for a file another process creates
    }
}

/// The command lines of the processes running on this machine (every test host's too) that
/// mention `marker`: what a test looks for to know that nothing it started is left.
pub fn processes_mentioning(marker: &str) -> Vec<String> {
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .expect("ps runs");
    String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| l.contains(marker))
        .map(str::to_string)
        .collect()
}
