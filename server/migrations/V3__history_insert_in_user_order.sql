-- One batch of history rows, inserted so that each user's ids commit in id
-- order, across every server process on the database. A live stream resumes
-- with `id > Last-Event-ID`; if a user's row could get a lower id yet commit
-- after a higher one was already streamed (two batches in flight, here or on
-- another replica), the resumed stream would miss it. So a batch first takes
-- a transaction-scoped lock per user (in user order: no deadlock between
-- batches), and only then draws ids: a later batch of the same user waits
-- for the earlier one's commit and gets higher ids. Batches of different
-- users still commit in parallel.
CREATE FUNCTION strop_insert_history(
    user_ids bigint[], functions text[], inputs text[], outputs text[]
) RETURNS TABLE (saved_id bigint, saved_at timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    -- 1937011568 = 'strp': this lock space; users beyond 2^31 share locks,
    -- which only serialises them.
    PERFORM pg_advisory_xact_lock(1937011568, (u % 2147483647)::int)
    FROM (SELECT DISTINCT u FROM unnest(user_ids) AS u ORDER BY u) AS users;
    RETURN QUERY
    WITH new AS (
        SELECT nextval('history_id_seq') AS id, t.n, t.user_id, t.function, t.input, t.output
        FROM unnest(user_ids, functions, inputs, outputs)
             WITH ORDINALITY AS t(user_id, function, input, output, n)
        ORDER BY t.n
    ), saved AS (
        INSERT INTO history (id, user_id, function, input, output)
        SELECT new.id, new.user_id, new.function, new.input, new.output FROM new
        RETURNING history.id, history.created_at
    )
    SELECT saved.id, saved.created_at FROM new JOIN saved ON saved.id = new.id
    ORDER BY new.n;
END
$$;
