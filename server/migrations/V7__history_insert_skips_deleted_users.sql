-- A batch holds rows of many users. If one of them is deleted (DELETE
-- /account) while the batch is being inserted, the foreign key would fail
-- the whole batch, and with it every other user's row. So the batch first
-- takes a KEY SHARE lock on its users' rows: a deletion in flight is waited
-- for, and a deleted user's rows are skipped (their saved_id is NULL, one
-- output row per input row still, in input order). KEY SHARE locks do not
-- conflict with each other, only with the deletion.
CREATE OR REPLACE FUNCTION strop_insert_history(
    user_ids bigint[], functions text[], inputs text[], outputs text[]
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
        FROM unnest(user_ids, functions, inputs, outputs)
             WITH ORDINALITY AS t(user_id, function, input, output, n)
        WHERE t.user_id IN (SELECT alive.id FROM alive)
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
