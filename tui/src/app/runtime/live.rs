//! Reading the live history stream (`Client::events`, the wire's
//! [`LiveEvent`]s) into messages for `update`: the one place they are
//! converted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use super::failure;
use crate::app::message::{Failure, FailureKind, Msg};
use crate::client::{Client, LiveEvent};

/// Two missed heartbeats and the stream counts as dropped (issue 17: the
/// status says "reconnecting" instead of "live" for a hung server).
pub const SILENCE: Duration = strop_common::EVENTS_HEARTBEAT.saturating_mul(2);

/// Opens the stream and forwards its entries until it ends; returns why it
/// ended (an `Auth` failure when the token was refused or revoked).
pub async fn follow(
    client: Client,
    stream: u64,
    last_id: Option<i64>,
    send: &impl Fn(Msg),
) -> Failure {
    let heard = Arc::new(Mutex::new(Instant::now()));
    let beat = heard.clone();
    let pulse = move || {
        if let Ok(mut at) = beat.lock() {
            *at = Instant::now();
        }
    };
    let events = match client.events_pulsed(last_id, pulse).await {
        Ok(events) => events,
        Err(e) => return failure(&e),
    };
    send(Msg::LiveOpened { stream });
    let mut events = Box::pin(events);
    loop {
        let due = heard.lock().map_or_else(|_| Instant::now(), |at| *at) + SILENCE;
        tokio::select! {
            item = events.next() => match item {
                Some(Ok(LiveEvent::Entry(entry))) => send(Msg::LiveEntry { stream, entry }),
                Some(Ok(LiveEvent::Deleted(gone))) => send(Msg::LiveDeleted { stream, gone }),
                Some(Ok(LiveEvent::Ended(e))) | Some(Err(e)) => return failure(&e),
                None => {
                    return Failure::new(
                        FailureKind::Unreachable,
                        format!("The live history stream from {} ended.", client.server()),
                    );
                }
            },
            () = tokio::time::sleep_until(due) => {
                // A chunk may have come meanwhile: only a real silence counts.
                let last = heard.lock().map_or_else(|_| Instant::now(), |at| *at);
                if last.elapsed() >= SILENCE {
                    return Failure::new(
                        FailureKind::Unreachable,
                        format!(
                            "{} sent nothing for {} s (not even a heartbeat).",
                            client.server(),
                            SILENCE.as_secs()
                        ),
                    );
                }
            }
        }
    }
}
