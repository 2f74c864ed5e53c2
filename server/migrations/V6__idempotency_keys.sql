-- Answers of requests sent with an Idempotency-Key, kept 24 hours.
--
-- A row is written only in the transaction that does the request's work
-- (the history row, the new user), so a stored answer means a committed
-- write. "In flight" is not a row: it is a transaction-scoped advisory lock
-- on the key, held by the request doing the work, which PostgreSQL releases
-- on commit, on rollback and when that server's connection dies, so a
-- replica stopped mid-request never leaves a key blocked.
--
-- scope: 'u<user id>' for /reverse and /piglatin, 'register' for /register.
CREATE TABLE idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    user_id      bigint      REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of what makes two requests the same (never a password).
    request_hash bytea       NOT NULL,
    -- The JSON body answered with 200.
    answer       text        NOT NULL,
    history_id   bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
CREATE INDEX idempotency_keys_user_id_idx ON idempotency_keys (user_id);
