//! Reading the live history stream (`Client::events`) into `LiveEvent`s for
//! `update`.

use futures::StreamExt;

use super::failure;
use crate::app::update::{Failure, FailureKind, LiveEvent};
use crate::client::{self, Client};

/// Opens the stream and forwards its entries until it ends; returns why it
/// ended (an `Auth` failure when the token was refused or revoked).
pub async fn follow(client: Client, last_id: Option<i64>, send: &impl Fn(LiveEvent)) -> Failure {
    let events = match client.events(last_id).await {
        Ok(events) => events,
        Err(e) => return failure(&e),
    };
    send(LiveEvent::Open);
    let mut events = Box::pin(events);
    loop {
        match events.next().await {
            Some(Ok(client::LiveEvent::Entry(entry))) => send(LiveEvent::Entry(entry)),
            Some(Ok(client::LiveEvent::Ended(e))) | Some(Err(e)) => return failure(&e),
            None => {
                return Failure::new(
                    FailureKind::Unreachable,
                    format!("The live history stream from {} ended.", client.server()),
                );
            }
        }
    }
}
