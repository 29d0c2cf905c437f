//! Drives the bot the way people do: lines typed into the real console adapter, replies read back, nothing mocked.

use std::sync::Arc;
use std::time::Duration;

use bosun::bot::{self, BotOptions, BotReport};
use bosun::config::Config;
use bosun_console::ConsoleAdapter;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a test waits for a reply before it fails with the transcript.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The bot running in this process on the console adapter, typed at as one user.
pub struct ConsoleBot {
    input: Option<DuplexStream>,
    output: Lines<BufReader<DuplexStream>>,
    handle: JoinHandle<anyhow::Result<BotReport>>,
    shutdown: CancellationToken,
    /// Every line the bot printed so far.
    pub transcript: Vec<String>,
}

impl ConsoleBot {
    pub fn start(config: Arc<Config>, user: &str) -> ConsoleBot {
        let (input, adapter_in) = tokio::io::duplex(64 * 1024);
        let (adapter_out, output) = tokio::io::duplex(1024 * 1024);
        let adapter = ConsoleAdapter::new(user, BufReader::new(adapter_in), adapter_out);
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(bot::run(
            config,
            adapter,
            BotOptions::default(),
            shutdown.clone(),
        ));
        ConsoleBot {
            input: Some(input),
            output: BufReader::new(output).lines(),
            handle,
            shutdown,
            transcript: Vec::new(),
        }
    }

    /// Types a line.
    pub async fn say(&mut self, line: &str) {
        let input = self.input.as_mut().expect("input is open");
        input
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("the bot reads its input");
    }

    /// Reads the bot's lines until one contains `needle`; returns that line. Fails the test
    /// with the transcript when the bot stops or stays silent for too long.
    pub async fn expect(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let line = match tokio::time::timeout_at(deadline, self.output.next_line()).await {
                Ok(Ok(Some(line))) => line,
                Ok(_) => panic!(
                    "the bot stopped before saying {needle:?}; it said:\n{}",
                    self.transcript.join("\n")
                ),
                Err(_) => panic!(
                    "the bot did not say {needle:?} within {PATIENCE:?}; it said:\n{}",
                    self.transcript.join("\n")
                ),
            };
            self.transcript.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Everything printed since `marker` (inclusive of the marker's line), as one text.
    pub fn since(&self, marker: &str) -> String {
        let start = self
            .transcript
            .iter()
            .rposition(|l| l.contains(marker))
            .unwrap_or(0);
        self.transcript[start..].join("\n")
    }

    /// Ends the input, lets running work finish, and returns the bot's report and the rest of
    /// what it said.
    pub async fn finish(mut self) -> (BotReport, Vec<String>) {
        drop(self.input.take());
        while let Ok(Ok(Some(line))) = tokio::time::timeout(PATIENCE, self.output.next_line()).await
        {
            self.transcript.push(line);
        }
        let report = tokio::time::timeout(PATIENCE, &mut self.handle)
            .await
            .expect("the bot stops after its input ends")
            .expect("the bot task does not panic")
            .expect("the bot ends cleanly");
        (report, self.transcript.clone())
    }
}

impl Drop for ConsoleBot {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.handle.abort();
    }
}
