//! Rooms: who said what (by real JID, never by nick), never the past, never the bot itself;
//! taken nicks, kicks and semi-anonymous rooms.

use bosun_chat::{Identity, Outbound, Room};

use crate::support::client::body;
use crate::support::{ANON_MUC, Bot, TestClient, room, shared_prosody, together};

fn alice_id() -> Option<Identity> {
    Some(Identity::new("xmpp", "alice@localhost"))
}

#[tokio::test]
async fn a_room_message_is_forwarded_with_the_senders_real_jid() -> anyhow::Result<()> {
    let _turn = together().await;
    let server = shared_prosody().await?;
    let room = room("forward");
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    let mut bot = Bot::start(Bot::config(&server, "bosun", &[&room]));
    alice.sees_occupant(&room, "bosun").await?;

    alice.say(&room, "deploy blog to live").await?;
    let heard = bot.heard().await?;
    assert_eq!(heard.room, Room::new(&room));
    assert_eq!(heard.sender.identity, alice_id());
    assert_eq!(heard.sender.display, "alice");
    assert_eq!(heard.text, "deploy blog to live");
    assert!(!heard.direct);
    bot.stop().await
}

#[tokio::test]
async fn history_from_before_the_join_is_never_forwarded() -> anyhow::Result<()> {
    let _turn = together().await;
    let server = shared_prosody().await?;
    let room = room("history");
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    for text in ["deploy blog to live", "rollback blog"] {
        alice.say(&room, text).await?;
        let echo = alice.message_from(&format!("{room}/alice")).await?;
        assert_eq!(body(&echo), Some(text), "the room kept it");
    }
    let mut bot = Bot::start(Bot::config(&server, "bosun", &[&room]));
    alice.sees_occupant(&room, "bosun").await?;

    alice.say(&room, "now").await?;
    assert_eq!(
        bot.heard().await?.text,
        "now",
        "the first thing forwarded is live"
    );
    bot.stop().await
}

#[tokio::test]
async fn the_bots_own_messages_are_never_forwarded() -> anyhow::Result<()> {
    let _turn = together().await;
    let server = shared_prosody().await?;
    let room = room("own");
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    let mut bot = Bot::start(Bot::config(&server, "bosun", &[&room]));
    alice.sees_occupant(&room, "bosun").await?;

    bot.say(Outbound::milestone(Room::new(&room), "deploy blog to live"))
        .await?;
    let said = alice.message_from(&format!("{room}/bosun")).await?;
    assert_eq!(body(&said), Some("deploy blog to live"));
    alice.say(&room, "thanks").await?;
    assert_eq!(
        bot.heard().await?.text,
        "thanks",
        "the bot's own line came back to it first"
    );
    bot.stop().await
}

#[tokio::test]
async fn a_nick_taken_over_after_leaving_is_identified_by_its_new_holder() -> anyhow::Result<()> {
    let _turn = together().await;
    let server = shared_prosody().await?;
    let room = room("nicks");
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    let mut bot = Bot::start(Bot::config(&server, "bosun", &[&room]));
    alice.sees_occupant(&room, "bosun").await?;
    alice.say(&room, "hello").await?;
    assert_eq!(bot.heard().await?.sender.identity, alice_id());
    alice.leave(&room, "alice").await?;

    let mut mallory = TestClient::connect(&server, "mallory").await?;
    mallory.join(&room, "alice").await?;
    mallory.say(&room, "deploy blog to live").await?;
    let heard = bot.heard().await?;
    assert_eq!(heard.sender.display, "alice");
    assert_eq!(
        heard.sender.identity,
        Some(Identity::new("xmpp", "mallory@localhost"))
    );
    bot.stop().await
}

#[tokio::test]
async fn a_semi_anonymous_room_forwards_without_identity() -> anyhow::Result<()> {
    let _turn = together().await;
    let server = shared_prosody().await?;
    let room = format!("hidden@{ANON_MUC}");
    let mut alice = TestClient::connect(&server, "alice").await?;
    // Alice creates the room (and moderates it); the bot joins as a participant, which in a
    // semi-anonymous room cannot see real JIDs.
    alice.join(&room, "alice").await?;
    let mut bot = Bot::start(Bot::config(&server, "bosun", &[&room]));
    alice.sees_occupant(&room, "bosun").await?;

    alice.say(&room, "deploy blog to live").await?;
    let heard = bot.heard().await?;
    assert_eq!(heard.sender.display, "alice");
    assert_eq!(heard.sender.identity, None);
    bot.stop().await
}

#[tokio::test]
async fn a_taken_nick_is_retried_with_a_suffix() -> anyhow::Result<()> {
    let _turn = together().await;
    let server = shared_prosody().await?;
    let room = room("taken");
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "bosun").await?;
    let mut bot = Bot::start(Bot::config(&server, "bosun", &[&room]));
    alice.sees_occupant(&room, "bosun_").await?;

    bot.say(Outbound::milestone(Room::new(&room), "here as bosun_"))
        .await?;
    let said = alice.message_from(&format!("{room}/bosun_")).await?;
    assert_eq!(body(&said), Some("here as bosun_"));
    alice.say(&room, "hi").await?;
    let heard = bot.heard().await?;
    assert_eq!(
        (heard.text.as_str(), heard.sender.display.as_str()),
        ("hi", "bosun")
    );
    bot.stop().await
}

#[tokio::test]
async fn a_kicked_bot_rejoins() -> anyhow::Result<()> {
    let _turn = together().await;
    let server = shared_prosody().await?;
    let room = room("kick");
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?; // creates the room: alice moderates it
    let mut bot = Bot::start(Bot::config(&server, "bosun", &[&room]));
    alice.sees_occupant(&room, "bosun").await?;

    alice.kick(&room, "bosun").await?;
    alice.sees_leave(&room, "bosun").await?;
    alice.sees_occupant(&room, "bosun").await?;
    alice.say(&room, "welcome back").await?;
    assert_eq!(bot.heard().await?.text, "welcome back");
    bot.stop().await
}

#[tokio::test]
async fn when_the_core_is_done_every_milestone_is_delivered_before_the_adapter_returns()
-> anyhow::Result<()> {
    let _turn = together().await;
    let server = shared_prosody().await?;
    let room = room("done");
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    let bot = Bot::start(Bot::config(&server, "bosun", &[&room]));
    // Said before the bot is even in the room: queued until it is.
    let lines: Vec<String> = (1..=3).map(|n| format!("result {n}")).collect();
    for line in &lines {
        bot.say(Outbound::milestone(Room::new(&room), line.clone()))
            .await?;
    }
    bot.finish().await?;
    for line in &lines {
        let said = alice.message_from(&format!("{room}/bosun")).await?;
        assert_eq!(body(&said), Some(line.as_str()));
    }
    Ok(())
}
