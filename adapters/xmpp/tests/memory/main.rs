//! Memory: the adapter's footprint stays flat while it forwards a flood of room chatter. A test binary of its own, so that no other test allocates in the process it measures.

#[path = "../support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use support::client::body;
use support::{Bot, TestClient, alone, room, shared_prosody};

const BATCH: usize = 100;
/// Allowed growth of the bytes this process holds over the second half of the flood.
const SLACK_KIB: i64 = 1024;

/// Counts the bytes this process holds on the heap: unlike the resident set, it does not move
/// with how the allocator's arenas happen to be laid out, only with what is really kept.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_kib() -> i64 {
    LIVE.load(Ordering::Relaxed) as i64 / 1024
}

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
    let (start, rss_start) = (live_kib(), resident_kib()?);
    let first = flood(2_000, 7_000).await?;
    let (middle, rss_middle) = (live_kib(), resident_kib()?);
    let second = flood(7_000, 12_000).await?;
    let (end, rss_end) = (live_kib(), resident_kib()?);
    assert_eq!(first + second, 10_000);
    eprintln!(
        "over 10,000 messages: heap held {start} → {middle} → {end} KiB; resident {rss_start} → {rss_middle} → {rss_end} KiB"
    );
    // Flat: the heap holds no more after 10,000 messages than after 5,000, give or take a
    // little slack, and no more after 5,000 than at the start.
    for (from, to) in [(start, middle), (middle, end)] {
        assert!(
            to - from < SLACK_KIB,
            "the heap grew by {} KiB over 5,000 messages ({start} → {middle} → {end} KiB)",
            to - from
        );
    }
    bot.stop().await
}

/// This process's resident set size (reported, not asserted: it moves with the allocator's
/// arenas), from /proc/self/statm (pages of 4 KiB on this platform).
fn resident_kib() -> anyhow::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/self/statm: {statm}"))?
        .parse()?;
    Ok(pages * 4)
}
