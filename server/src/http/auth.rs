//! Tokens (128 random bits, stored as SHA-256) and the filter that turns an
//! `Authorization` header into the [`User`] it belongs to. Passwords are in
//! [`crate::accounts::passwords`].

use sha2::{Digest, Sha256};
use warp::Filter;
use warp::http::HeaderMap;
use warp::http::header::AUTHORIZATION;

use crate::AppState;
use crate::config::TokenCacheMode;
use crate::db;
use crate::http::error::ApiError;
use crate::live::token_cache;

/// The caller behind a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    /// SHA-256 of the token used, so `/logout` can revoke exactly that one.
    pub token_hash: [u8; 32],
}

/// A fresh token: 128 bits from the thread-local CSPRNG as 32 lowercase hex digits.
pub fn mint_token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// What the database stores instead of the token itself.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The token in an `Authorization` header: `<token>` (the seed's form) or
/// `Bearer <token>`. Anything that cannot be one of ours is `InvalidToken`
/// before any database work.
pub fn token_from_headers(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(ApiError::MissingToken);
    };
    let value = value.to_str().map_err(|_| ApiError::InvalidToken)?.trim();
    let token = match value.split_once(char::is_whitespace) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return Err(ApiError::InvalidToken),
        None if value.eq_ignore_ascii_case("bearer") => "",
        None => value,
    };
    if token.is_empty() {
        return Err(ApiError::MissingToken);
    }
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::InvalidToken);
    }
    Ok(token.to_ascii_lowercase())
}

/// Looks the header's token up: in this process's token cache, else (or
/// always, with `--token-cache off`) with one indexed query.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<User, ApiError> {
    let token = token_from_headers(headers)?;
    let user = lookup(state, hash_token(&token))
        .await?
        .ok_or(ApiError::InvalidToken)?;
    touch(state, user.token_hash);
    Ok(user)
}

/// Who a write (`/reverse`, `/piglatin`) is by. A token whose owner this
/// process has seen is not looked up before the write: its check is part of
/// the write's own statement (migration V12), one round trip in all. Any
/// other token is looked up first, as on every route.
#[derive(Debug, Clone)]
pub enum Writer {
    /// Looked up for this request: live when it arrived.
    Checked(User),
    /// The token's owner as seen before; whether the token is still live is
    /// decided by the insert.
    Unchecked { user_id: i64, token_hash: [u8; 32] },
}

impl Writer {
    pub fn user_id(&self) -> i64 {
        match self {
            Writer::Checked(user) => user.id,
            Writer::Unchecked { user_id, .. } => *user_id,
        }
    }

    /// The token the insert must check, if any.
    pub fn unchecked_token(&self) -> Option<[u8; 32]> {
        match self {
            Writer::Checked(_) => None,
            Writer::Unchecked { token_hash, .. } => Some(*token_hash),
        }
    }

    /// The full check, for any answer but the write's own: a dead token is a
    /// 401 before any other error, as on every route.
    pub async fn confirm(&self, state: &AppState) -> Result<User, ApiError> {
        match self {
            Writer::Checked(user) => Ok(user.clone()),
            Writer::Unchecked { token_hash, .. } => {
                let user = lookup(state, *token_hash).await?;
                user.ok_or_else(|| {
                    state.token_owners.remove(token_hash);
                    ApiError::InvalidToken
                })
            }
        }
    }

    /// The write found the token dead: forget it here (its owner, and the
    /// token cache's entry), so its next request is looked up and refused.
    pub fn forget(&self, state: &AppState) {
        if let Writer::Unchecked { token_hash, .. } = self {
            state.token_owners.remove(token_hash);
            state.tokens.forget(token_hash);
        }
    }

    /// The write succeeded with the token: record its use for `/sessions`.
    pub fn used(&self, state: &AppState) {
        if let Writer::Unchecked { token_hash, .. } = self {
            touch(state, *token_hash);
        }
    }
}

/// The header's token as a [`Writer`]: a malformed token is refused at
/// once; a token of a known owner is left to the write to check (unless
/// `--token-cache off`); any other is looked up.
pub async fn writer(state: &AppState, headers: &HeaderMap) -> Result<Writer, ApiError> {
    let token_hash = hash_token(&token_from_headers(headers)?);
    if state.token_cache == TokenCacheMode::On
        && let Some(user_id) = state.token_owners.get(&token_hash)
    {
        return Ok(Writer::Unchecked {
            user_id,
            token_hash,
        });
    }
    let user = lookup(state, token_hash)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    touch(state, token_hash);
    Ok(Writer::Checked(user))
}

/// Tokens this process recorded as used, with the minute it last did.
static TOUCHED: std::sync::LazyLock<quick_cache::sync::Cache<[u8; 32], u64>> =
    std::sync::LazyLock::new(|| quick_cache::sync::Cache::new(token_cache::CAPACITY));

/// Records the token's use for `/sessions` (to the minute) in the
/// background: at most one write per token and minute from this process,
/// and none on the request's path.
fn touch(state: &AppState, token_hash: [u8; 32]) {
    let minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 60)
        .unwrap_or(0);
    if TOUCHED.get(&token_hash) == Some(minute) {
        return;
    }
    TOUCHED.insert(token_hash, minute);
    let pool = state.pool.clone();
    tokio::spawn(async move {
        let touched = async {
            let client = pool.get().await.map_err(|e| e.to_string())?;
            db::tokens::touch(&client, &token_hash)
                .await
                .map_err(|e| e.to_string())
        };
        if let Err(e) = touched.await {
            tracing::debug!(error = %e, "could not record a token's last use");
        }
    });
}

/// The user of a live token with this SHA-256; `None` once it is unknown,
/// revoked or expired.
pub async fn lookup(state: &AppState, token_hash: [u8; 32]) -> Result<Option<User>, ApiError> {
    let fetch = || async {
        let client = state.pool.get().await?;
        let found = db::tokens::owner(&client, &token_hash).await?;
        Ok::<_, ApiError>(found.map(|(owner, remaining)| {
            let owner = token_cache::Owner {
                user_id: owner.user_id,
                username: owner.username.into(),
            };
            (owner, remaining)
        }))
    };
    let owner = match state.token_cache {
        TokenCacheMode::On => state.tokens.owner(token_hash, fetch).await?,
        TokenCacheMode::Off => fetch().await?.map(|(owner, _)| owner),
    };
    if let Some(owner) = &owner {
        state.token_owners.insert(token_hash, owner.user_id);
    }
    Ok(owner.map(|owner| User {
        id: owner.user_id,
        name: owner.username.to_string(),
        token_hash,
    }))
}

/// Extracts the [`Writer`] or rejects with a 401 [`ApiError`].
pub fn writer_filter(
    state: AppState,
) -> impl Filter<Extract = (Writer,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    warp::header::headers_cloned().and_then(move |headers: HeaderMap| {
        let state = state.clone();
        async move { writer(&state, &headers).await.map_err(warp::reject::custom) }
    })
}

/// Extracts the authenticated [`User`] or rejects with a 401 [`ApiError`].
pub fn user(
    state: AppState,
) -> impl Filter<Extract = (User,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    warp::header::headers_cloned().and_then(move |headers: HeaderMap| {
        let state = state.clone();
        async move {
            authenticate(&state, &headers)
                .await
                .map_err(warp::reject::custom)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    const T: &str = "916c22895064c363b03634d580da0762";

    #[test]
    fn both_header_forms_are_accepted() {
        assert_eq!(token_from_headers(&with_auth(T)).unwrap(), T);
        assert_eq!(
            token_from_headers(&with_auth(&format!("Bearer {T}"))).unwrap(),
            T
        );
        assert_eq!(
            token_from_headers(&with_auth(&format!("bearer  {T} "))).unwrap(),
            T
        );
        assert_eq!(
            token_from_headers(&with_auth(&T.to_uppercase())).unwrap(),
            T,
            "hex is case-insensitive"
        );
    }

    #[test]
    fn missing_and_malformed_tokens() {
        assert_eq!(
            token_from_headers(&HeaderMap::new()),
            Err(ApiError::MissingToken)
        );
        assert_eq!(
            token_from_headers(&with_auth("")),
            Err(ApiError::MissingToken)
        );
        assert_eq!(
            token_from_headers(&with_auth("Bearer")),
            Err(ApiError::MissingToken)
        );
        assert_eq!(
            token_from_headers(&with_auth("Bearer ")),
            Err(ApiError::MissingToken)
        );
        for bad in [
            "abc",
            "Basic dXNlcjpwYXNz",
            &format!("{T}0"),
            &format!("Token {T}"),
            "z".repeat(32).as_str(),
        ] {
            assert_eq!(
                token_from_headers(&with_auth(bad)),
                Err(ApiError::InvalidToken),
                "{bad}"
            );
        }
    }

    #[test]
    fn minted_tokens_are_32_lowercase_hex_and_distinct() {
        let a = mint_token();
        let b = mint_token();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_ne!(a, b);
        assert_eq!(hash_token(&a).len(), 32);
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}
