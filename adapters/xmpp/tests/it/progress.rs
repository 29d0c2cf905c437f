//! Progress is edited in place (XEP-0308); milestones are new messages.

use bosun_chat::{Outbound, Room};

use crate::support::client::{body, replaces};
use crate::support::{Bot, TestClient, room, shared_prosody, together};

#[tokio::test]
async fn progress_is_edited_in_place_and_milestones_are_new_messages() -> anyhow::Result<()> {
    let _turn = together().await;
    let server = shared_prosody().await?;
    let room = room("progress");
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    let bot = Bot::start(Bot::config(&server, "bosun", &[&room]));
    alice.sees_occupant(&room, "bosun").await?;

    let to = Room::new(&room);
    let script = [
        Outbound::progress(to.clone(), "deploy-1", "live: staging 1/3"),
        Outbound::progress(to.clone(), "deploy-1", "live: staging 2/3"),
        Outbound::progress(to.clone(), "deploy-1", "live: staging 3/3"),
        Outbound::milestone(to.clone(), "blog v1.4.2 is live"),
        Outbound::progress(to.clone(), "deploy-1", "live: post-checks 1/2"),
        Outbound::progress(to.clone(), "deploy-1", "live: post-checks 2/2"),
    ];
    let mut seen = Vec::new();
    for line in script {
        let text = line.text.clone();
        bot.say(line).await?;
        let message = alice.message_from(&format!("{room}/bosun")).await?;
        assert_eq!(body(&message), Some(text.as_str()));
        let id = message.id.clone().expect("the bot's messages carry ids").0;
        seen.push((id, replaces(&message).map(str::to_string)));
    }
    let first = &seen[0].0;
    let after_milestone = &seen[4].0;
    let expected = [
        None,
        Some(first.clone()),
        Some(first.clone()),
        None,
        None,
        Some(after_milestone.clone()),
    ];
    let replaced: Vec<Option<String>> = seen.iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(replaced, expected);
    bot.stop().await
}
