//! Transports: how bosun runs a command or unpacks an archive on a host. They know nothing of deploys.
//!
//! A command is always an argument vector ([`RemoteCommand`]); no transport ever builds a shell
//! string from text it was handed. Output is kept (bounded) for the journal and, when asked,
//! streamed line by line into a bounded channel.

mod connector;
mod hostkey;
mod local;
mod master;
mod output;
mod pace;
mod quote;
mod ssh;

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use connector::Connector;
pub use local::LocalHost;
pub use output::{CommandOutput, OutputLine, OutputTail, Stream};
pub use quote::{QuoteError, quote};
pub use ssh::{SshError, SshHost};

/// A command to run on a host: the program and its arguments, each one literal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteCommand {
    pub argv: Vec<String>,
    /// The working directory on the host, if any.
    pub cwd: Option<String>,
    /// A file on this machine whose bytes become the command's standard input.
    pub stdin: Option<PathBuf>,
    /// Without a file: standard input is a pipe that bosun holds open, writing nothing, until
    /// the command ends. Its end of file tells the host that bosun went away (the step guard
    /// stops its command then); otherwise standard input is empty.
    pub held_stdin: bool,
    pub timeout: Duration,
}

impl RemoteCommand {
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RemoteCommand {
            argv: argv.into_iter().map(Into::into).collect(),
            cwd: None,
            stdin: None,
            held_stdin: false,
            timeout: Duration::from_secs(600),
        }
    }

    pub fn in_dir(mut self, cwd: impl Into<String>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    pub fn with_stdin(mut self, file: impl Into<PathBuf>) -> Self {
        self.stdin = Some(file.into());
        self
    }

    /// Standard input becomes a pipe that bosun holds open while the command runs.
    pub fn holding_stdin(mut self) -> Self {
        self.held_stdin = true;
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A constant shell script run by `sh -c`, with the values as positional parameters
    /// (`$1`, `$2`, …). The script must never contain a value: values only travel as arguments.
    /// Its `$0` is `bosun`: the step guard (`engine::guard`) knows a script by that shape
    /// (`sh -c SCRIPT bosun …`) and runs it in a subshell instead of a new `sh`.
    pub fn script<I, S>(script: &'static str, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut argv = vec![
            "sh".to_string(),
            "-c".to_string(),
            script.to_string(),
            "bosun".to_string(),
        ];
        argv.extend(args.into_iter().map(Into::into));
        RemoteCommand::new(argv)
    }

    /// The command as one line for people to read (never for a shell).
    pub fn display(&self) -> String {
        self.argv
            .iter()
            .map(|a| {
                if !a.is_empty()
                    && a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
                {
                    a.clone()
                } else {
                    format!("{a:?}")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Why a command could not be run to completion.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("could not start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("cannot read {path}: {source}")]
    Input {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("an empty command")]
    Empty,
    #[error("{0}")]
    Ssh(#[from] SshError),
}

/// How long a stopped command gets to end after SIGTERM before it is killed.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);

impl TransportError {
    /// Worth another try (a timeout, a reset connection) rather than an undo at once.
    pub fn is_transient(&self) -> bool {
        matches!(self, TransportError::Timeout(_))
    }
}

/// A host, reachable through one of the transports bosun knows. The set is closed.
#[derive(Clone, Debug)]
pub enum Host {
    Local(LocalHost),
    Ssh(SshHost),
}

impl Host {
    pub fn name(&self) -> &str {
        match self {
            Host::Local(h) => h.name(),
            Host::Ssh(h) => h.name(),
        }
    }

    /// Runs `command`; lines of output also go to `lines` when given (dropped, never waited
    /// for, when that channel is full).
    pub async fn run(
        &self,
        command: &RemoteCommand,
        lines: Option<&mpsc::Sender<OutputLine>>,
    ) -> Result<CommandOutput, TransportError> {
        self.run_until(command, lines, &CancellationToken::new())
            .await
    }

    /// Like `run`, but when `stop` is cancelled the command is stopped: its held standard input
    /// is closed and its process group is sent SIGTERM (SIGKILL after a grace period). What it
    /// printed and how it ended come back with `stopped` set.
    pub async fn run_until(
        &self,
        command: &RemoteCommand,
        lines: Option<&mpsc::Sender<OutputLine>>,
        stop: &CancellationToken,
    ) -> Result<CommandOutput, TransportError> {
        match self {
            Host::Local(h) => h.run_until(command, lines, stop).await,
            Host::Ssh(h) => h.run_until(command, lines, stop).await,
        }
    }
}
