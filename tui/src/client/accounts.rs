//! Safe retries (`Idempotency-Key`), sessions, password, account deletion,
//! the history export and history deletion, on [`Client`].

use futures::{Stream, StreamExt};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use strop_common::api::{
    AccountDeletion, DELETE_ALL_PARAM, ErrorCode, HistoryDeleted, IDEMPOTENCY_KEY, MessageResponse,
    PasswordChange, SessionsResponse, paths,
};

use super::{Client, ClientError};

/// A fresh key for one user action: 128 random bits as hex.
pub fn fresh_key() -> String {
    rand::random::<[u8; 16]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether a failed attempt may have been lost on the way (no answer, or
/// a 503): then the same request is sent again with the same key.
fn worth_retrying(e: &ClientError) -> bool {
    e.is_unreachable() || e.code() == Some(ErrorCode::Unavailable)
}

impl Client {
    /// POSTs `body` with `key` as its `Idempotency-Key`; after a lost
    /// answer or a 503, once more with the same key, so the server writes
    /// it at most once whichever attempt got through.
    pub async fn send_once<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        key: &str,
    ) -> Result<T, ClientError> {
        let attempt = || {
            self.execute(
                self.request(Method::POST, path)
                    .header(IDEMPOTENCY_KEY, key)
                    .json(body),
            )
        };
        match attempt().await {
            Err(e) if worth_retrying(&e) => match attempt().await {
                // Say the whole wait: both tries timed out.
                Err(ClientError::Timeout {
                    server,
                    seconds,
                    tries,
                }) if matches!(e, ClientError::Timeout { .. }) => Err(ClientError::Timeout {
                    server,
                    seconds,
                    tries: tries + 1,
                }),
                answer => answer,
            },
            answer => answer,
        }
    }

    /// `GET /sessions`: the user's live sessions, oldest first.
    pub async fn sessions(&self) -> Result<SessionsResponse, ClientError> {
        self.execute(self.request(Method::GET, paths::SESSIONS))
            .await
    }

    /// `DELETE /sessions/{id}`: the server's sentence.
    pub async fn revoke_session(&self, id: i64) -> Result<String, ClientError> {
        let path = format!("{}/{id}", paths::SESSIONS);
        let reply: MessageResponse = self.execute(self.request(Method::DELETE, &path)).await?;
        Ok(reply.message)
    }

    /// `DELETE /sessions?others=true`: every session but this one.
    pub async fn revoke_other_sessions(&self) -> Result<String, ClientError> {
        let path = format!("{}?others=true", paths::SESSIONS);
        let reply: MessageResponse = self.execute(self.request(Method::DELETE, &path)).await?;
        Ok(reply.message)
    }

    /// `PUT /password`: every other session is revoked by the server.
    pub async fn change_password(
        &self,
        current: &SecretString,
        new: &SecretString,
    ) -> Result<String, ClientError> {
        let body = PasswordChange {
            current_password: current.expose_secret().to_string(),
            new_password: new.expose_secret().to_string(),
        };
        let reply: MessageResponse = self
            .execute(self.request(Method::PUT, paths::PASSWORD).json(&body))
            .await?;
        Ok(reply.message)
    }

    /// `DELETE /account`: the user, their history and every token.
    pub async fn delete_account(&self, password: &SecretString) -> Result<String, ClientError> {
        let body = AccountDeletion {
            password: password.expose_secret().to_string(),
        };
        let reply: MessageResponse = self
            .execute(self.request(Method::DELETE, paths::ACCOUNT).json(&body))
            .await?;
        Ok(reply.message)
    }

    /// `DELETE /history/{id}`: one entry of the user (another user's id is
    /// a 404, like a missing one).
    pub async fn delete_entry(&self, id: i64) -> Result<HistoryDeleted, ClientError> {
        let path = format!("{}/{id}", paths::HISTORY_ENTRIES);
        self.execute(self.request(Method::DELETE, &path)).await
    }

    /// `DELETE /history?all=true`: every entry of the user.
    pub async fn delete_all_history(&self) -> Result<HistoryDeleted, ClientError> {
        let path = format!("{}?{DELETE_ALL_PARAM}=true", paths::HISTORY_ENTRIES);
        self.execute(self.request(Method::DELETE, &path)).await
    }

    /// `GET /history/export`: the body as it arrives, chunk by chunk (the
    /// caller writes it out; nothing is held here). A transfer cut short
    /// ends in an error, never in a quietly shorter file.
    pub async fn export(
        &self,
    ) -> Result<impl Stream<Item = Result<bytes::Bytes, ClientError>> + use<>, ClientError> {
        let request = self
            .request(Method::GET, paths::HISTORY_EXPORT)
            .timeout(super::STREAM_TIMEOUT);
        let response = self.open_stream(request).await?;
        let me = self.clone();
        Ok(response
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|e| me.stream_transport(&e))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fresh_32_hex_digits() {
        let (a, b) = (fresh_key(), fresh_key());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
