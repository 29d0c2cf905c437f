//! Memory: the adapter's footprint stays flat while it forwards a flood of room chatter. A test binary of its own, so that no other test allocates in the process it measures.

#[path = "../support/mod.rs"]
#[allow(unused_imports)]
mod support;

use support::client::body;
use support::{Bot, TestClient, alone, room, shared_prosody};

const BATCH: usize = 100;
/// Allowed growth of this process's resident memory over the second half of the flood.
const SLACK_KIB: u64 = 2 * 1024;

#[tokio::test]
async fn memory_stays_flat_over_ten_thousand_room_messages() -> anyhow::Result<()> {
    let _turn = alone().await; // nothing else may allocate in this process meanwhile
    let server = shared_prosody().await?;
    let room = room("flood");
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    let mut bot = Bot::start(Bot::config(&server, "bosun", &[&room]));
    alice.sees_occupant(&room, "bosun").await?;

    let mut flood = async |from: usize, to: usize| -> anyhow::Result<usize> {
        let mut forwarded = 0;
        for batch in (from..to).step_by(BATCH) {
            for n in batch..batch + BATCH {
                alice
                    .say(&room, &format!("chatter {n}: the build is green again"))
                    .await?;
            }
            let last = format!("chatter {}: the build is green again", batch + BATCH - 1);
            alice.skip_until(|m| body(m) == Some(last.as_str())).await?;
            loop {
                let heard = bot.heard().await?;
                forwarded += 1;
                if heard.text == last {
                    break;
                }
            }
        }
        Ok(forwarded)
    };
    // Warm up: buffers, tables, and the allocator's per-thread arenas, which settle at a size
    // that depends on how the threads were scheduled.
    flood(0, 2_000).await?;
    let start = resident_kib()?;
    let first = flood(2_000, 7_000).await?;
    let middle = resident_kib()?;
    let second = flood(7_000, 12_000).await?;
    let end = resident_kib()?;
    assert_eq!(first + second, 10_000);
    eprintln!("resident memory over 10,000 messages: {start} → {middle} → {end} KiB");
    // Flat: the second 5,000 messages cost no more than a little slack, whatever the first did.
    let growth = end.saturating_sub(middle);
    assert!(
        growth < SLACK_KIB,
        "resident memory grew by {growth} KiB over the second 5,000 messages ({start} → {middle} → {end} KiB)"
    );
    bot.stop().await
}

/// This process's resident set size, from /proc/self/statm (pages of 4 KiB on this platform).
fn resident_kib() -> anyhow::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/self/statm: {statm}"))?
        .parse()?;
    Ok(pages * 4)
}
