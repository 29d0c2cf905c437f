//! The local transport: a host is a directory on this machine and commands are child processes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::output::{OUTPUT_GRACE, Stream, collect_until_exit, pump_lines};
use super::{CommandOutput, OutputLine, RemoteCommand, STOP_GRACE, TransportError};

/// A host that is a directory here. Its deploy root is the playbook's `deploy_to` taken inside
/// that directory, so several "hosts" can live side by side on one machine.
#[derive(Clone, Debug)]
pub struct LocalHost {
    name: String,
    root: PathBuf,
}

impl LocalHost {
    pub fn new(name: impl Into<String>, root: impl Into<PathBuf>) -> Self {
        LocalHost {
            name: name.into(),
            root: root.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Runs the command as a child process with exactly its argument vector: no shell is
    /// involved unless the vector itself names one.
    pub async fn run(
        &self,
        command: &RemoteCommand,
        lines: Option<&mpsc::Sender<OutputLine>>,
    ) -> Result<CommandOutput, TransportError> {
        self.run_until(command, lines, &CancellationToken::new())
            .await
    }

    /// Runs the command in a process group of its own; when `stop` is cancelled or the timeout
    /// passes, its held stdin is closed and the group gets SIGTERM, then SIGKILL after a grace
    /// period, so that nothing it started is left behind.
    pub async fn run_until(
        &self,
        command: &RemoteCommand,
        lines: Option<&mpsc::Sender<OutputLine>>,
        stop: &CancellationToken,
    ) -> Result<CommandOutput, TransportError> {
        let (program, args) = command.argv.split_first().ok_or(TransportError::Empty)?;
        let started = Instant::now();
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(cwd) = &command.cwd {
            cmd.current_dir(cwd);
        }
        match &command.stdin {
            Some(path) => {
                let file = std::fs::File::open(path).map_err(|source| TransportError::Input {
                    path: path.clone(),
                    source,
                })?;
                cmd.stdin(Stdio::from(file));
            }
            None if command.held_stdin => {
                cmd.stdin(Stdio::piped());
            }
            None => {
                cmd.stdin(Stdio::null());
            }
        }
        let mut child = cmd.spawn().map_err(|source| TransportError::Spawn {
            program: program.clone(),
            source,
        })?;
        let pid = child.id();
        // Held until the command ends: its end of file is how the host side learns that
        // bosun is gone.
        let mut held = child.stdin.take();

        let (tail_tx, tail_rx) = mpsc::channel::<String>(64);
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let out_pump = pump_lines(
            stdout,
            self.name.clone(),
            Stream::Stdout,
            lines.cloned(),
            tail_tx.clone(),
        );
        let err_pump = pump_lines(
            stderr,
            self.name.clone(),
            Stream::Stderr,
            lines.cloned(),
            tail_tx,
        );
        let pumps = async {
            tokio::join!(out_pump, err_pump);
        };
        let finished = async {
            let (status, tail) =
                collect_until_exit(pumps, tail_rx, child.wait(), OUTPUT_GRACE).await;
            Ok::<_, std::io::Error>((status?, tail))
        };
        tokio::pin!(finished);
        let timeout = tokio::time::sleep(command.timeout);
        let timed_out = tokio::select! {
            done = &mut finished => {
                drop(held.take());
                let (status, tail) = done.map_err(TransportError::Io)?;
                return Ok(CommandOutput {
                    code: status.code(),
                    output: tail.into_string(),
                    duration: started.elapsed(),
                    stopped: false,
                });
            }
            () = timeout => true,
            () = stop.cancelled() => false,
        };
        drop(held.take());
        if let Some(pid) = pid {
            signal_group(pid, "TERM").await;
        }
        let done = match tokio::time::timeout(STOP_GRACE, &mut finished).await {
            Ok(done) => done,
            Err(_) => {
                if let Some(pid) = pid {
                    signal_group(pid, "KILL").await;
                }
                finished.await
            }
        };
        if timed_out {
            return Err(TransportError::Timeout(command.timeout));
        }
        let (status, tail) = done.map_err(TransportError::Io)?;
        Ok(CommandOutput {
            code: status.code(),
            output: tail.into_string(),
            duration: started.elapsed(),
            stopped: true,
        })
    }
}

/// Sends `signal` to the process group `pgid` (the shell's builtin `kill`, which takes a
/// negative pid for a group).
async fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("sh")
        .args(["-c", r#"kill -"$1" -"$2" 2>/dev/null; true"#, "sh", signal])
        .arg(pgid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn host() -> LocalHost {
        LocalHost::new("h1", std::env::temp_dir())
    }

    #[tokio::test]
    async fn arguments_reach_the_program_literally() {
        let hostile = "a b; echo pwned $(id) `id` '\"";
        let out = host()
            .run(&RemoteCommand::new(["printf", "%s|", hostile, "-x"]), None)
            .await
            .unwrap();
        assert!(out.success());
        assert_eq!(out.output, format!("{hostile}|-x|\n"));
    }

    #[tokio::test]
    async fn scripts_get_values_only_as_positional_parameters() {
        let cmd = RemoteCommand::script("printf '%s\\n' \"$1\"", ["$(echo no)"]);
        let out = host().run(&cmd, None).await.unwrap();
        assert_eq!(out.output, "$(echo no)\n");
    }

    #[tokio::test]
    async fn output_streams_line_by_line_and_status_is_kept() {
        let (tx, mut rx) = mpsc::channel(8);
        let cmd = RemoteCommand::script("echo one; echo two >&2; exit 3", Vec::<String>::new());
        let out = host().run(&cmd, Some(&tx)).await.unwrap();
        assert_eq!(out.code, Some(3));
        let mut got = vec![rx.recv().await.unwrap().line, rx.recv().await.unwrap().line];
        got.sort();
        assert_eq!(got, ["one", "two"]);
    }

    #[tokio::test]
    async fn a_command_past_its_timeout_is_stopped() {
        let cmd = RemoteCommand::new(["sleep", "5"]).with_timeout(Duration::from_millis(100));
        let started = Instant::now();
        let err = host().run(&cmd, None).await.unwrap_err();
        assert!(matches!(err, TransportError::Timeout(_)), "{err}");
        assert!(err.is_transient());
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[tokio::test]
    async fn a_stopped_command_and_what_it_started_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let started = dir.path().join("started");
        let stop = CancellationToken::new();
        // The command starts a grandchild that would outlive a killed parent.
        let cmd = RemoteCommand::script(
            "sh -c 'sleep 30; true' \"$1\" & touch \"$1\"; wait",
            [started.display().to_string()],
        );
        let h = host();
        let run = h.run_until(&cmd, None, &stop);
        tokio::pin!(run);
        while !started.exists() {
            tokio::select! {
                _ = &mut run => panic!("ended before it was stopped"),
                () = tokio::task::yield_now() => {}
            }
        }
        stop.cancel();
        let out = run.await.unwrap();
        assert!(out.stopped);
        assert!(!out.success());
        let ps = std::process::Command::new("ps")
            .args(["-eo", "args"])
            .output()
            .unwrap();
        let marker = started.display().to_string();
        assert!(
            !String::from_utf8_lossy(&ps.stdout)
                .lines()
                .any(|l| l.contains("sleep 30; true") && l.contains(&marker)),
            "nothing the command started is left"
        );
    }

    #[tokio::test]
    async fn a_held_stdin_stays_open_until_the_command_ends() {
        // `cat` would end at once on an empty stdin; with a held one it waits until the
        // timeout stops it.
        let cmd = RemoteCommand::new(["cat"])
            .holding_stdin()
            .with_timeout(Duration::from_millis(300));
        let err = host().run(&cmd, None).await.unwrap_err();
        assert!(matches!(err, TransportError::Timeout(_)), "{err}");
        let out = host()
            .run(&RemoteCommand::new(["cat"]), None)
            .await
            .unwrap();
        assert!(out.success());
    }

    #[tokio::test]
    async fn a_server_left_running_with_the_output_open_does_not_hold_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("server").display().to_string();
        let cmd =
            RemoteCommand::script("sh -c 'sleep 20; true' \"$1\" & echo up", [marker.clone()]);
        let started = Instant::now();
        let out = host().run(&cmd, None).await.unwrap();
        assert!(out.success());
        assert_eq!(out.output, "up\n");
        assert!(started.elapsed() < Duration::from_secs(10));
        let _ = std::process::Command::new("pkill")
            .args(["-f", &marker])
            .status();
    }

    #[tokio::test]
    async fn stdin_comes_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::write(&input, "hello\n").unwrap();
        let out = host()
            .run(&RemoteCommand::new(["cat"]).with_stdin(&input), None)
            .await
            .unwrap();
        assert_eq!(out.output, "hello\n");
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let err = host()
            .run(&RemoteCommand::new(["/nonexistent/prog"]), None)
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Spawn { .. }));
    }
}
