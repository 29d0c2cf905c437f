//! The console adapter: each input line is a message in room `console` from one named user; replies are printed.
//!
//! It works interactively and in a pipe. At the end of input it closes the inbound channel,
//! which tells the core to finish running work; it keeps printing until the core closes the
//! outbound channel, so nothing the core said is lost.

use bosun_chat::{Adapter, Channels, Delivery, Identity, Inbound, Outbound, Room, Sender};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

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
        }
    }

    pub fn quiet_progress(mut self) -> Self {
        self.show_progress = false;
        self
    }
}

/// The console adapter on this process's stdin and stdout.
pub fn stdio(
    user: impl Into<String>,
) -> ConsoleAdapter<tokio::io::BufReader<tokio::io::Stdin>, tokio::io::Stdout> {
    ConsoleAdapter::new(
        user,
        tokio::io::BufReader::new(tokio::io::stdin()),
        tokio::io::stdout(),
    )
}

impl<I, O> Adapter for ConsoleAdapter<I, O>
where
    I: AsyncBufRead + Unpin + Send,
    O: AsyncWrite + Unpin + Send,
{
    fn network(&self) -> &'static str {
        NETWORK
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
        } = self;
        let Channels {
            inbound,
            mut outbound,
        } = channels;
        let mut lines = input.lines();
        let mut inbound = Some(inbound);
        loop {
            tokio::select! {
                biased;
                said = outbound.recv() => match said {
                    Some(message) => write_message(&mut output, &message, show_progress).await?,
                    None => break,
                },
                line = lines.next_line(), if inbound.is_some() => match line? {
                    Some(text) => {
                        if text.trim().is_empty() {
                            continue;
                        }
                        let message = Inbound {
                            room: Room::new(ROOM),
                            sender: Sender { identity: Some(Identity::new(NETWORK, &user)), display: user.clone() },
                            text,
                            direct: true,
                        };
                        let Some(tx) = &inbound else { continue };
                        if tx.send(message).await.is_err() {
                            inbound = None;
                        }
                    }
                    // End of input: the core finishes what runs, then closes `outbound`.
                    None => inbound = None,
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
    let mut text = message.text.replace('\r', "");
    text.push('\n');
    output.write_all(text.as_bytes()).await?;
    output.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    #[tokio::test]
    async fn lines_become_messages_and_output_is_printed_until_the_core_is_done() {
        let input: &[u8] = b"deploy demo to staging\n\n!rollback\n";
        let (in_tx, mut in_rx) = mpsc::channel(4);
        let (out_tx, out_rx) = mpsc::channel(4);
        let mut written = Vec::new();
        let adapter = ConsoleAdapter::new("alice", input, &mut written);
        let core = async move {
            let first = in_rx.recv().await.unwrap();
            let second = in_rx.recv().await.unwrap();
            assert!(
                in_rx.recv().await.is_none(),
                "end of input closes the inbound channel"
            );
            out_tx
                .send(Outbound::milestone(Room::new(ROOM), "done"))
                .await
                .unwrap();
            out_tx
                .send(Outbound::progress(Room::new(ROOM), "t", "progress"))
                .await
                .unwrap();
            (first, second)
        };
        let (result, (first, second)) = tokio::join!(
            adapter.run(
                Channels {
                    inbound: in_tx,
                    outbound: out_rx
                },
                CancellationToken::new()
            ),
            core
        );
        result.unwrap();
        assert_eq!(first.text, "deploy demo to staging");
        assert_eq!(
            first.sender.identity,
            Some(Identity::new("console", "alice"))
        );
        assert_eq!(second.text, "!rollback");
        assert_eq!(String::from_utf8(written).unwrap(), "done\nprogress\n");
    }
}
