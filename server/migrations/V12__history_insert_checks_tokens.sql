-- A write's token is checked in the statement that inserts its row, so a
-- write costs one round trip: no token lookup (nor the token cache's fence)
-- before it. Each row carries its user (the token's owner, which never
-- changes) and, when the server has not checked the token already, the
-- token's SHA-256: the row is inserted only if that token is still live
-- and belongs to that user, decided in the same transaction, row by row.
-- Locks as in V7: the batch's users in order (V3), then KEY SHARE on their
-- rows (a deletion in flight is waited for). The token check reads a
-- snapshot taken after those locks, so a revocation committed before the
-- request arrived is always seen. A row not inserted (user deleted, token
-- unknown, revoked or expired) has a NULL saved_id; the others are kept.
CREATE FUNCTION strop_insert_history_checked(
    user_ids bigint[], token_hashes bytea[], functions text[], inputs text[], outputs text[]
) RETURNS TABLE (saved_id bigint, saved_at timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    -- 1937011568 = 'strp': see V3.
    PERFORM pg_advisory_xact_lock(1937011568, (u % 2147483647)::int)
    FROM (SELECT DISTINCT u FROM unnest(user_ids) AS u ORDER BY u) AS users;
    RETURN QUERY
    WITH alive AS (
        SELECT id FROM users WHERE id = ANY(user_ids) FOR KEY SHARE
    ), new AS (
        SELECT nextval('history_id_seq') AS id, t.n, t.user_id, t.function, t.input, t.output
        FROM unnest(user_ids, token_hashes, functions, inputs, outputs)
             WITH ORDINALITY AS t(user_id, token_hash, function, input, output, n)
        WHERE t.user_id IN (SELECT alive.id FROM alive)
          AND (t.token_hash IS NULL OR EXISTS (
              SELECT 1 FROM tokens k
              WHERE k.token_hash = t.token_hash AND k.user_id = t.user_id
                AND k.expires_at > now()))
        ORDER BY t.n
    ), saved AS (
        INSERT INTO history (id, user_id, function, input, output)
        SELECT new.id, new.user_id, new.function, new.input, new.output FROM new
        RETURNING history.id, history.created_at
    )
    SELECT saved.id, saved.created_at
    FROM unnest(user_ids) WITH ORDINALITY AS a(user_id, n)
         LEFT JOIN new ON new.n = a.n
         LEFT JOIN saved ON saved.id = new.id
    ORDER BY a.n;
END
$$;
