//! Text: long lines are forwarded intact (the core decides), outbound text is clipped.

use bosun_chat::{Outbound, Room};
use bosun_xmpp::MAX_OUTBOUND_CHARS;

use crate::support::client::body;
use crate::support::{Bot, TestClient, room, shared_prosody, together};

#[tokio::test]
async fn a_long_line_is_forwarded_intact_and_outbound_text_is_clipped() -> anyhow::Result<()> {
    let _turn = together().await;
    let server = shared_prosody().await?;
    let room = room("long");
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    let mut bot = Bot::start(Bot::config(&server, "bosun", &[&room]));
    alice.sees_occupant(&room, "bosun").await?;

    let line: String = "deploy blog ".chars().cycle().take(4000).collect();
    alice.say(&room, &line).await?;
    assert_eq!(bot.heard().await?.text, line);

    bot.say(Outbound::milestone(
        Room::new(&room),
        "é".repeat(3 * MAX_OUTBOUND_CHARS),
    ))
    .await?;
    let said = alice.message_from(&format!("{room}/bosun")).await?;
    let said = body(&said).expect("a body");
    assert_eq!(said.chars().count(), MAX_OUTBOUND_CHARS);
    assert!(said.ends_with('…'));
    bot.stop().await
}
