//! Direct messages: forwarded as direct, answered privately.

use bosun_chat::{Identity, Outbound};
use tokio_xmpp::parsers::message::MessageType;

use crate::support::client::body;
use crate::support::{Bot, TestClient, room, shared_prosody, together};

#[tokio::test]
async fn a_direct_message_is_forwarded_as_direct_and_answered_privately() -> anyhow::Result<()> {
    let _turn = together().await;
    let server = shared_prosody().await?;
    let lobby = room("direct");
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&lobby, "alice").await?;
    let mut bot = Bot::start(Bot::config(&server, "dmbot", &[&lobby]));
    alice.sees_occupant(&lobby, "bosun").await?; // the bot is online

    alice.tell("dmbot@localhost", "status").await?;
    let heard = bot.heard().await?;
    assert!(heard.direct);
    assert_eq!(heard.room.as_str(), "xmpp:dm:alice@localhost");
    assert_eq!(
        heard.sender.identity,
        Some(Identity::new("xmpp", "alice@localhost"))
    );
    assert_eq!(heard.text, "status");

    bot.say(Outbound::milestone(heard.room, "nothing is deploying"))
        .await?;
    let reply = alice.message_from("dmbot@localhost").await?;
    assert_eq!(reply.type_, MessageType::Chat);
    assert_eq!(body(&reply), Some("nothing is deploying"));
    bot.stop().await
}
