//! Staying up: a crashed and restarted Prosody (on the same port) is survived with a bounded
//! number of logins (no stream management resumption loop), and milestones queued during the
//! outage arrive once each, in order.

use bosun_chat::{Outbound, Room};

use crate::support::client::body;
use crate::support::{Bot, Prosody, TestClient, room, together};

#[tokio::test]
async fn a_prosody_restart_is_survived_and_queued_milestones_arrive_once_in_order()
-> anyhow::Result<()> {
    let _turn = together().await;
    let mut server = Prosody::start(&["alice", "bosun"]).await?;
    let room = room("restart");
    let bosun = format!("{room}/bosun");
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    let mut bot = Bot::start(Bot::config(&server, "bosun", &[&room]));
    alice.sees_occupant(&room, "bosun").await?;
    bot.say(Outbound::milestone(Room::new(&room), "before the restart"))
        .await?;
    assert_eq!(
        body(&alice.message_from(&bosun).await?),
        Some("before the restart")
    );
    // Once the bot forwards what alice says next, it has read everything before it.
    alice.say(&room, "about to crash").await?;
    assert_eq!(bot.heard().await?.text, "about to crash");
    assert_eq!(server.logins("bosun")?, 1);
    alice.close().await?;

    server.crash();
    let queued: Vec<String> = (1..=5).map(|n| format!("milestone {n} of 5")).collect();
    for text in &queued {
        bot.say(Outbound::milestone(Room::new(&room), text.clone()))
            .await?;
    }
    server.relaunch().await?;

    // Whether alice or the bot gets back into the (new) room first, the bot's lines reach
    // alice: live, or as the room's history.
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join_with_history(&room, "alice", 20).await?;
    let mut arrived = Vec::new();
    while arrived.last() != queued.last() {
        let message = alice.message_from(&bosun).await?;
        arrived.push(body(&message).unwrap_or_default().to_string());
    }
    assert_eq!(arrived, queued, "each once, in order");

    // Nothing is repeated later, and the bot hears the room again.
    bot.say(Outbound::milestone(Room::new(&room), "after the restart"))
        .await?;
    assert_eq!(
        body(&alice.message_from(&bosun).await?),
        Some("after the restart")
    );
    alice.say(&room, "welcome back").await?;
    assert_eq!(bot.heard().await?.text, "welcome back");

    let logins = server.logins("bosun")?;
    assert!(
        (2..=3).contains(&logins),
        "the bot logged in {logins} times"
    );
    bot.stop().await
}
