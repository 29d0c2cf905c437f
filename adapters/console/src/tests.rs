//! Tests of the console adapter: lines in, messages out, refusals, and one command at a time in a script.

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

#[tokio::test]
async fn in_a_script_the_next_line_waits_for_the_previous_command_and_bad_bytes_are_refused() {
    let input: &[u8] = b"deploy demo to staging\n\xff\n!rollback\n";
    let (in_tx, mut in_rx) = mpsc::channel(4);
    let (out_tx, out_rx) = mpsc::channel(4);
    let mut written = Vec::new();
    let adapter = ConsoleAdapter::new("alice", input, &mut written).sequential();
    let core = async move {
        let first: Inbound = in_rx.recv().await.unwrap();
        assert!(first.done.is_awaited());
        // While the first command's token is held, nothing more is read.
        let early = tokio::time::timeout(std::time::Duration::from_millis(200), in_rx.recv()).await;
        assert!(early.is_err(), "the next line waited: {early:?}");
        out_tx
            .send(Outbound::milestone(Room::new(ROOM), "deployed"))
            .await
            .unwrap();
        drop(first);
        let second = in_rx.recv().await.unwrap();
        assert_eq!(second.text, "!rollback");
        drop(second);
        assert!(in_rx.recv().await.is_none());
    };
    let (result, ()) = tokio::join!(
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
    assert_eq!(
        String::from_utf8(written).unwrap(),
        "deployed\nrefused line 2: it is not UTF-8 text (byte 0xff at position 1); nothing was run\n"
    );
}
