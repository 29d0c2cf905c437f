//! The console adapter: each input line is a message in room `console` from one named user; replies are printed.
//!
//! It works interactively and in a pipe. Input is taken as bytes: a line that is not UTF-8
//! text, holds a control character (NUL, escape, …) or is longer than [`MAX_LINE`] is refused
//! with a reply and nothing else happens. In [sequential](ConsoleAdapter::sequential) mode (a
//! script on stdin) each line is read only when the command before it has finished: the core
//! holds each message's [`Done`] until its work is over. At the end of input it closes the
//! inbound channel, which tells the core to finish running work; it keeps printing until the
//! core closes the outbound channel, so nothing the core said is lost.

mod config;
mod lines;

use std::io::IsTerminal;

use bosun_chat::{Adapter, Channels, Delivery, Done, Identity, Inbound, Outbound, Room, Sender};
use tokio::io::{AsyncBufRead, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

pub use config::{ConsoleSection, KEYS};
pub use lines::MAX_LINE;
use lines::{Line, LineReader};

/// The network name console identities carry (`console = "alice"` in `[[people]]`).
pub const NETWORK: &str = "console";
/// The one room of the console.
pub const ROOM: &str = "console";

/// Reads lines from `input` as `user`, writes what the bot says to `output`.
pub struct ConsoleAdapter<I, O> {
    user: String,
    input: I,
    output: O,
    /// Print progress lines too (they are never edited in place here).
    show_progress: bool,
    /// Read the next line only once the previous command has finished.
    sequential: bool,
    /// Said on stderr when the adapter starts.
    greeting: Option<String>,
}

impl<I, O> ConsoleAdapter<I, O>
where
    I: AsyncBufRead + Unpin + Send,
    O: AsyncWrite + Unpin + Send,
{
    pub fn new(user: impl Into<String>, input: I, output: O) -> Self {
        ConsoleAdapter {
            user: user.into(),
            input,
            output,
            show_progress: true,
            sequential: false,
            greeting: None,
        }
    }

    pub fn quiet_progress(mut self) -> Self {
        self.show_progress = false;
        self
    }

    /// One command at a time: the next line is read when the previous command has finished
    /// (a script), not while it runs (a person at a terminal).
    pub fn sequential(mut self) -> Self {
        self.sequential = true;
        self
    }
}

/// The boxed standard input the binary reads.
pub type Input = Box<dyn AsyncBufRead + Unpin + Send>;

/// The console adapter on this process's stdin and stdout: sequential unless stdin is a
/// terminal, where it greets the user on stderr.
pub fn stdio(user: impl Into<String>) -> ConsoleAdapter<Input, tokio::io::Stdout> {
    let user = user.into();
    let terminal = std::io::stdin().is_terminal();
    let input: Input = Box::new(tokio::io::BufReader::new(tokio::io::stdin()));
    let mut adapter = ConsoleAdapter::new(user.clone(), input, tokio::io::stdout());
    if terminal {
        adapter.greeting = Some(format!(
            "bosun is listening as {user}; type \"help\", or Ctrl-D to quit."
        ));
    } else {
        adapter = adapter.sequential();
    }
    adapter
}

/// The console adapter fed one `line`, as a script would: `bosun deploy` and `bosun rollback`.
pub fn one_line(user: impl Into<String>, line: &str) -> ConsoleAdapter<Input, tokio::io::Stdout> {
    let input: Input = Box::new(std::io::Cursor::new(format!("{line}\n").into_bytes()));
    ConsoleAdapter::new(user, input, tokio::io::stdout()).sequential()
}

impl<I, O> Adapter for ConsoleAdapter<I, O>
where
    I: AsyncBufRead + Unpin + Send,
    O: AsyncWrite + Unpin + Send,
{
    fn network(&self) -> &'static str {
        NETWORK
    }

    /// A terminal has one bot: it always answers.
    fn shared(&self) -> bool {
        false
    }

    fn home(&self) -> Option<Room> {
        Some(Room::new(ROOM))
    }

    async fn run(self, channels: Channels, shutdown: CancellationToken) -> anyhow::Result<()> {
        let ConsoleAdapter {
            user,
            input,
            mut output,
            show_progress,
            sequential,
            greeting,
        } = self;
        if let Some(greeting) = greeting {
            eprintln!("{greeting}");
        }
        let Channels {
            inbound,
            mut outbound,
        } = channels;
        let mut lines = LineReader::new(input);
        let mut inbound = Some(inbound);
        // The command being waited for, in sequential mode.
        let mut waiting: Option<bosun_chat::Finished> = None;
        loop {
            tokio::select! {
                biased;
                said = outbound.recv() => match said {
                    Some(message) => write_message(&mut output, &message, show_progress).await?,
                    None => break,
                },
                () = async { waiting.as_mut().expect("guarded").wait().await }, if waiting.is_some() => {
                    waiting = None;
                }
                line = lines.next(), if inbound.is_some() && waiting.is_none() => match line? {
                    Line::Text(text) => {
                        if text.trim().is_empty() {
                            continue;
                        }
                        let mut message = Inbound::new(
                            Room::new(ROOM),
                            Sender { identity: Some(Identity::new(NETWORK, &user)), display: user.clone() },
                            text,
                            true,
                        );
                        let finished = sequential.then(|| {
                            let (done, finished) = Done::new();
                            message.done = done;
                            finished
                        });
                        let Some(tx) = &inbound else { continue };
                        if tx.send(message).await.is_err() {
                            inbound = None;
                        } else {
                            waiting = finished;
                        }
                    }
                    Line::Refused(why) => {
                        write_text(&mut output, &why).await?;
                    }
                    // End of input: the core finishes what runs, then closes `outbound`.
                    Line::End => inbound = None,
                },
                _ = shutdown.cancelled() => {
                    drop(inbound.take());
                    // Keep printing what the core still says while it stops.
                    while let Some(message) = outbound.recv().await {
                        write_message(&mut output, &message, show_progress).await?;
                    }
                    break;
                }
            }
        }
        output.flush().await?;
        Ok(())
    }
}

async fn write_message<O: AsyncWrite + Unpin>(
    output: &mut O,
    message: &Outbound,
    show_progress: bool,
) -> std::io::Result<()> {
    if matches!(message.delivery, Delivery::Progress { .. }) && !show_progress {
        return Ok(());
    }
    write_text(output, &message.text).await
}

async fn write_text<O: AsyncWrite + Unpin>(output: &mut O, text: &str) -> std::io::Result<()> {
    let mut text = text.replace('\r', "");
    text.push('\n');
    output.write_all(text.as_bytes()).await?;
    output.flush().await
}

#[cfg(test)]
mod tests;
