-- Sessions: a token row gets a public id (the token itself is never shown),
-- when it was last used (kept to the minute, so at most one write per token
-- per minute) and the User-Agent that logged in.
ALTER TABLE tokens ADD COLUMN id bigserial;
ALTER TABLE tokens ADD CONSTRAINT tokens_id_key UNIQUE (id);
ALTER TABLE tokens ADD COLUMN last_used_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE tokens ADD COLUMN user_agent text;
