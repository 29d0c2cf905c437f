//! A command's output: its exit status, a bounded tail of what it printed, and the lines as they stream.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

/// Which of a command's streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line a command printed, on its way to whoever watches the deploy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputLine {
    pub host: String,
    pub stream: Stream,
    pub line: String,
}

/// What is left of a finished command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutput {
    /// The exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// The last lines of stdout and stderr interleaved as they arrived (bounded).
    pub output: String,
    pub duration: Duration,
    /// bosun stopped it before it ended by itself (cancelled, timed out, shutting down).
    pub stopped: bool,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The last non-empty line, for one-line reports.
    pub fn last_line(&self) -> &str {
        self.output
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }
}

/// Keeps the last `max_bytes` of a command's output, whole lines only.
#[derive(Debug)]
pub struct OutputTail {
    lines: VecDeque<String>,
    bytes: usize,
    max_bytes: usize,
    dropped: usize,
}

impl OutputTail {
    pub const DEFAULT_BYTES: usize = 64 * 1024;

    pub fn new(max_bytes: usize) -> Self {
        OutputTail {
            lines: VecDeque::new(),
            bytes: 0,
            max_bytes,
            dropped: 0,
        }
    }

    pub fn push(&mut self, line: &str) {
        let line = if line.len() > self.max_bytes {
            &line[..floor_char(line, self.max_bytes)]
        } else {
            line
        };
        self.bytes += line.len() + 1;
        self.lines.push_back(line.to_string());
        while self.bytes > self.max_bytes {
            match self.lines.pop_front() {
                Some(old) => {
                    self.bytes -= old.len() + 1;
                    self.dropped += 1;
                }
                None => break,
            }
        }
    }

    pub fn into_string(self) -> String {
        let mut out = String::new();
        if self.dropped > 0 {
            out.push_str(&format!("[… {} earlier lines not kept]\n", self.dropped));
        }
        for line in self.lines {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// How long a command's output is still read after the command exited: something it started
/// (a server put in the background) may hold its output open for good.
pub(crate) const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// Runs `pumps` (which send every line to `tail_rx`'s channel) and `exit` (the command's end)
/// together, keeping a bounded tail of the output. Once the command has exited, its output is
/// read for at most `grace` more.
pub(crate) async fn collect_until_exit<T>(
    pumps: impl Future<Output = ()>,
    mut tail_rx: mpsc::Receiver<String>,
    exit: impl Future<Output = T>,
    grace: Duration,
) -> (T, OutputTail) {
    let mut tail = OutputTail::new(OutputTail::DEFAULT_BYTES);
    tokio::pin!(pumps);
    tokio::pin!(exit);
    let (mut pumped, mut closed) = (false, false);
    let mut status = None;
    // Armed when the command exits.
    let grace_ends = tokio::time::sleep(Duration::from_secs(86_400));
    tokio::pin!(grace_ends);
    loop {
        tokio::select! {
            line = tail_rx.recv(), if !closed => match line {
                Some(line) => tail.push(&line),
                None => closed = true,
            },
            () = &mut pumps, if !pumped => pumped = true,
            done = &mut exit, if status.is_none() => {
                status = Some(done);
                grace_ends.as_mut().reset(tokio::time::Instant::now() + grace);
            }
            () = &mut grace_ends, if status.is_some() => break,
        }
        if pumped && closed && status.is_some() {
            break;
        }
    }
    while let Ok(line) = tail_rx.try_recv() {
        tail.push(&line);
    }
    (status.expect("the command ended"), tail)
}

/// Reads `reader` line by line, forwarding each line to `sink` (without waiting when it is
/// full) and returning them all to the caller through `tail_tx`. Bytes that are not UTF-8 are
/// shown as U+FFFD, and the stream is always read to its end, so that a command printing
/// anything never blocks on a full pipe.
pub(crate) async fn pump_lines<R: AsyncRead + Unpin>(
    reader: R,
    host: String,
    stream: Stream,
    sink: Option<mpsc::Sender<OutputLine>>,
    tail_tx: mpsc::Sender<String>,
) {
    pump_lines_through(reader, host, stream, sink, tail_tx, Some).await;
}

/// Like [`pump_lines`], with every line passed through `keep` first: it may change the line,
/// or take it out of the output (`None`) when it is a message from bosun's own wrapper.
pub(crate) async fn pump_lines_through<R: AsyncRead + Unpin>(
    reader: R,
    host: String,
    stream: Stream,
    sink: Option<mpsc::Sender<OutputLine>>,
    tail_tx: mpsc::Sender<String>,
    mut keep: impl FnMut(String) -> Option<String>,
) {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                    if buf.last() == Some(&b'\r') {
                        buf.pop();
                    }
                }
                let Some(line) = keep(String::from_utf8_lossy(&buf).into_owned()) else {
                    continue;
                };
                if let Some(sink) = &sink {
                    let _ = sink.try_send(OutputLine {
                        host: host.clone(),
                        stream,
                        line: line.clone(),
                    });
                }
                if tail_tx.send(line).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_that_are_not_utf8_are_shown_and_the_stream_is_read_to_its_end() {
        let input: &[u8] = b"caf\xe9\nnext\r\nlast";
        let (tx, mut rx) = mpsc::channel(8);
        pump_lines(input, "h".into(), Stream::Stdout, None, tx).await;
        let mut got = Vec::new();
        while let Some(line) = rx.recv().await {
            got.push(line);
        }
        assert_eq!(got, ["caf\u{fffd}", "next", "last"]);
    }

    #[tokio::test]
    async fn output_held_open_after_the_command_ended_is_read_only_a_moment_longer() {
        // A "server" the command left behind keeps writing to its output and never closes it.
        let (_server, held) = tokio::io::duplex(64);
        let (tx, rx) = mpsc::channel(8);
        let pumps = async {
            pump_lines(held, "h".into(), Stream::Stdout, None, tx).await;
        };
        let started = std::time::Instant::now();
        let (status, _) = collect_until_exit(pumps, rx, async { 7 }, OUTPUT_GRACE).await;
        assert_eq!(status, 7);
        assert!(started.elapsed() < OUTPUT_GRACE * 3);
    }

    #[test]
    fn tail_keeps_the_last_lines_within_its_bound() {
        let mut tail = OutputTail::new(12);
        for line in ["one", "two", "three", "four"] {
            tail.push(line);
        }
        assert_eq!(
            tail.into_string(),
            "[… 2 earlier lines not kept]\nthree\nfour\n"
        );
    }

    #[test]
    fn tail_cuts_a_huge_line_on_a_char_boundary() {
        let mut tail = OutputTail::new(5);
        tail.push("ééééé");
        assert!(tail.into_string().starts_with("éé"));
    }
}
