//! The SSH transport: a host reached through one multiplexed master connection (openssh, native mux); each command is an argument vector quoted into one remote line, its output streamed line by line.
//!
//! Native mux: bosun speaks ssh's multiplexing protocol on the master's socket and hands it the
//! command's stdin, stdout and stderr as file descriptors, so no `ssh` process is started per
//! command (a process-mux command costs a fork+exec of `ssh`, about 4 ms of CPU here) and an
//! archive on stdin is read by the master straight from the file, never through bosun's memory.
//! A timed-out command is killed on the host by its process group (the remote shell reports its
//! pid first), since closing a mux channel does not stop the remote program. The remote shell
//! also reports the program's exit status at the end of stdout and of stderr, and bosun reads
//! both streams up to it before it asks the master for the status: reading the status closes
//! the channel, and output still on its way would be lost.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use openssh::{Session, Stdio};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::hostkey::KeyProblem;
use super::master::Master;
use super::output::{Stream, collect_until_exit, pump_lines_through};
use super::quote::{self, PID_MARKER, QuoteError};
use super::{CommandOutput, OutputLine, RemoteCommand, STOP_GRACE, TransportError};

/// Why the SSH transport could not run a command.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot connect to {target}: {message}")]
    Connect { target: String, message: String },
    #[error(
        "refused {target}: the host key it presents ({fingerprints}) {problem} {known_hosts}; nothing was run there. If the key is right, add it to that file"
    )]
    HostKey {
        target: String,
        problem: KeyProblem,
        known_hosts: String,
        fingerprints: String,
    },
    #[error("the connection to {target} was lost: {message}")]
    Lost { target: String, message: String },
    #[error("{0}")]
    Quote(#[from] QuoteError),
    #[error("{0}")]
    Local(String),
}

/// A host reached over SSH. Clones share the master connection.
#[derive(Clone, Debug)]
pub struct SshHost {
    name: String,
    master: Arc<Master>,
}

impl SshHost {
    pub(crate) fn new(name: &str, master: Arc<Master>) -> SshHost {
        SshHost {
            name: name.to_string(),
            master,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `user@address:port`.
    pub fn target(&self) -> String {
        self.master.target()
    }

    /// Runs the command on the host: exactly its argument vector, in its directory, with its
    /// stdin file streamed to it; output lines also go to `lines` (never waited for).
    pub async fn run(
        &self,
        command: &RemoteCommand,
        lines: Option<&mpsc::Sender<OutputLine>>,
    ) -> Result<CommandOutput, TransportError> {
        self.run_until(command, lines, &CancellationToken::new())
            .await
    }

    /// Like `run`; when `stop` is cancelled (or the timeout passes) the held stdin is closed
    /// and the remote process group gets SIGTERM, then SIGKILL.
    pub async fn run_until(
        &self,
        command: &RemoteCommand,
        lines: Option<&mpsc::Sender<OutputLine>>,
        stop: &CancellationToken,
    ) -> Result<CommandOutput, TransportError> {
        let line =
            quote::command_line(&command.argv, command.cwd.as_deref()).map_err(SshError::from)?;
        let started = Instant::now();
        // A master found dead when the command is opened (it idled out, the host restarted
        // its sshd) is replaced once: the command had not started, so it is safe to retry.
        let mut retried = false;
        let (session, mut child) = loop {
            let session = self.master.session().await?;
            let stdin = match &command.stdin {
                Some(path) => Stdio::from(open(path).await?),
                None if command.held_stdin => Stdio::piped(),
                None => Stdio::null(),
            };
            let spawned = Session::to_raw_command(session.clone(), &line)
                .stdin(stdin)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .await;
            match spawned {
                Ok(child) => break (session, child),
                Err(openssh::Error::Disconnected) if !retried => {
                    self.master.forget(&session).await;
                    retried = true;
                }
                Err(e) => {
                    self.master.forget(&session).await;
                    return Err(self.lost(e).into());
                }
            }
        };
        // The command line can be large (a script under the step guard): not kept while the
        // command runs.
        drop(line);

        // Held until the command ends: its end of file tells the host that bosun is gone.
        let mut held = child.stdin().take();
        let pid = OnceLock::new();
        let (tail_tx, tail_rx) = mpsc::channel::<String>(64);
        let out_tx = tail_tx.clone();
        let stdout = child.stdout().take().expect("stdout is piped");
        let stderr = child.stderr().take().expect("stderr is piped");
        let ends = StreamEnds::default();
        let out_pump = async {
            let keep = |line: String| ends.strip_status(line, &ends.stdout);
            let name = self.name.clone();
            pump_lines_through(stdout, name, Stream::Stdout, lines.cloned(), out_tx, keep).await;
            ends.reached(&ends.stdout);
        };
        let err_pump = async {
            let mut first = true;
            let keep = |line: String| {
                if std::mem::take(&mut first) {
                    let reported = line
                        .strip_prefix(PID_MARKER)
                        .and_then(|rest| rest.trim_end().parse::<u32>().ok());
                    if let Some(p) = reported {
                        let _ = pid.set(p);
                        return None;
                    }
                }
                ends.strip_status(line, &ends.stderr)
            };
            let name = self.name.clone();
            pump_lines_through(stderr, name, Stream::Stderr, lines.cloned(), tail_tx, keep).await;
            ends.reached(&ends.stderr);
        };
        let pumps = async {
            tokio::join!(out_pump, err_pump);
        };
        // The exit status is asked for only once both streams have reported it (or ended): a
        // mux channel is closed when its status is read, and output still on the way would be
        // lost. What a server the program left behind writes later is not waited for.
        let exit = async {
            ends.both.notified().await;
            child.wait().await
        };
        let finished = collect_until_exit(pumps, tail_rx, exit, Duration::ZERO);
        tokio::pin!(finished);
        let timeout = tokio::time::sleep(command.timeout);
        let (status, tail, stopped) = tokio::select! {
            (status, tail) = &mut finished => (status, tail, false),
            () = timeout => {
                drop(held.take());
                if let Some(pid) = pid.get() {
                    self.kill(*pid).await;
                }
                return Err(TransportError::Timeout(command.timeout));
            }
            () = stop.cancelled() => {
                drop(held.take());
                if let Some(pid) = pid.get() {
                    self.kill(*pid).await;
                }
                match tokio::time::timeout(STOP_GRACE, &mut finished).await {
                    Ok((status, tail)) => (status, tail, true),
                    Err(_) => return Err(TransportError::Timeout(STOP_GRACE)),
                }
            }
        };
        drop(held);
        let code = match status {
            Ok(status) => status.code(),
            // The remote shell's "command not found".
            Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => Some(127),
            // Killed by a signal, or the connection went away: only the master can tell.
            Err(openssh::Error::RemoteProcessTerminated) => {
                if !self.master.check().await {
                    return Err(self.lost(openssh::Error::Disconnected).into());
                }
                None
            }
            Err(e) => {
                self.master.forget(&session).await;
                return Err(self.lost(e).into());
            }
        };
        Ok(CommandOutput {
            code,
            output: tail.into_string(),
            duration: started.elapsed(),
            stopped,
        })
    }

    /// Stops a timed-out command and everything it started (its process group), TERM first.
    async fn kill(&self, pid: u32) {
        // `kill -SIG -PGID`: dash's builtin kill takes no `--` before a negative pid.
        const KILL: &str = r#"kill -TERM -"$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null
i=0
while kill -0 -"$1" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL -"$1" 2>/dev/null
true"#;
        let cmd =
            RemoteCommand::script(KILL, [pid.to_string()]).with_timeout(Duration::from_secs(10));
        let _ = Box::pin(self.run(&cmd, None)).await;
    }

    fn lost(&self, e: openssh::Error) -> SshError {
        SshError::Lost {
            target: self.master.target(),
            message: e.to_string(),
        }
    }
}

async fn open(path: &PathBuf) -> Result<std::fs::File, TransportError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|source| TransportError::Input {
            path: path.clone(),
            source,
        })?;
    Ok(file.into_std().await)
}

/// How far bosun has read a command's two streams: each is done at the exit status line the
/// remote shell prints at its end (everything before it has arrived), or at its end of file.
#[derive(Default)]
struct StreamEnds {
    stdout: AtomicBool,
    stderr: AtomicBool,
    done: AtomicU8,
    /// Woken once both streams are done.
    both: Notify,
}

impl StreamEnds {
    fn reached(&self, stream: &AtomicBool) {
        if !stream.swap(true, Ordering::AcqRel) && self.done.fetch_add(1, Ordering::AcqRel) == 1 {
            self.both.notify_one();
        }
    }

    /// `line`, or what is left of it once the status report is taken out (a last line that
    /// had no newline); `None` when nothing is left.
    fn strip_status(&self, line: String, stream: &AtomicBool) -> Option<String> {
        match quote::exit_marker(&line) {
            None => Some(line),
            Some((before, _)) => {
                self.reached(stream);
                (!before.is_empty()).then(|| before.to_string())
            }
        }
    }
}
