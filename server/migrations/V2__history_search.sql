-- Trigram indexes let `/get-history?q=` find rare substrings without walking
-- a user's whole history. pg_trgm ships with PostgreSQL's contrib package and
-- is a trusted extension, but a server without it (or a role that may not
-- create it) still works: the block rolls back on its own and the search
-- then filters the user's index scan instead.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX history_input_trgm_idx ON history USING gin (input gin_trgm_ops);
    CREATE INDEX history_output_trgm_idx ON history USING gin (output gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'history search will not be indexed: %', SQLERRM;
END
$$;
