//! Reading the live history stream (`GET /events`) into `LiveEvent`s.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use strop_common::{ErrorBody, ErrorCode, HistoryEntry};

use super::failure;
use crate::app::update::{Failure, FailureKind, LiveEvent};
use crate::client::Client;

/// The server comments every 15 s; this long without a byte means the
/// connection is gone even if TCP has not noticed.
const SILENCE: Duration = Duration::from_secs(40);

/// Why the byte stream stopped, besides HTTP errors.
#[derive(Debug)]
enum Gone {
    Quiet,
    Http(String),
}

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gone::Quiet => write!(f, "nothing arrived for {} s", SILENCE.as_secs()),
            Gone::Http(reason) => f.write_str(reason),
        }
    }
}

/// Opens the stream and forwards its entries until it ends; returns why it
/// ended (an `Auth` failure when the token was refused or revoked).
pub async fn follow(client: Client, last_id: Option<i64>, send: &impl Fn(LiveEvent)) -> Failure {
    let response = match client.events(last_id).await {
        Ok(response) => response,
        Err(e) => return failure(&e),
    };
    send(LiveEvent::Open);
    let bytes = futures::stream::unfold(response.bytes_stream(), |mut body| async move {
        match tokio::time::timeout(SILENCE, body.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), body)),
            Ok(Some(Err(e))) => Some((Err(Gone::Http(e.to_string())), body)),
            Ok(None) => None,
            Err(_) => Some((Err(Gone::Quiet), body)),
        }
    });
    let mut events = Box::pin(bytes).eventsource();
    let lost = |why: String| {
        Failure::new(
            FailureKind::Unreachable,
            format!(
                "The live history stream from {} was lost: {why}.",
                client.server()
            ),
        )
    };
    loop {
        match events.next().await {
            None => return lost("the server closed it".into()),
            Some(Err(e)) => return lost(e.to_string()),
            Some(Ok(ev)) if ev.event == "entry" => {
                if let Ok(entry) = serde_json::from_str::<HistoryEntry>(&ev.data) {
                    send(LiveEvent::Entry(entry));
                }
            }
            Some(Ok(ev)) if ev.event == "error" => {
                let (kind, message) = match serde_json::from_str::<ErrorBody>(&ev.data) {
                    Ok(body) if matches!(body.error, ErrorCode::InvalidToken) => {
                        (FailureKind::Auth, body.message)
                    }
                    Ok(body) => (FailureKind::Refused, body.message),
                    Err(_) => (FailureKind::Refused, ev.data),
                };
                return Failure::new(kind, message);
            }
            Some(Ok(_)) => {}
        }
    }
}
