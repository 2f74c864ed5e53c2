-- Users, their tokens and their history.

CREATE TABLE users (
    id            bigserial   PRIMARY KEY,
    username      text        NOT NULL UNIQUE,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of a token is stored; logout deletes the row.
CREATE TABLE tokens (
    token_hash bytea       PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX tokens_user_id_expires_at_idx ON tokens (user_id, expires_at);

CREATE TABLE history (
    id         bigserial   PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    function   text        NOT NULL CHECK (function IN ('reverse', 'piglatin')),
    input      text        NOT NULL,
    output     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- A page is a backward range scan of one of these, whatever the table's size.
CREATE INDEX history_user_id_id_idx ON history (user_id, id);
CREATE INDEX history_user_id_function_id_idx ON history (user_id, function, id);
