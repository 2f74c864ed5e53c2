-- One trigram index over input and output together instead of one each:
-- every history insert updated both, which made trigram maintenance most of
-- a row's write cost, and a two-word search had to combine four bitmaps
-- where one index scan can intersect the words itself. A search word never
-- holds whitespace, so matching it against `input || E'\n' || output` is the
-- same as matching input or output.
--
-- Only a database without pg_trgm (not installed, or not ours to create)
-- keeps working unindexed, as in V2; any other failure (a lock, the disk)
-- fails the migration, so it is retried rather than recorded as done.
-- On a large table, build the index beforehand without blocking writes
-- (docs/deploy.md): then this only drops the old ones.
DO $$
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
        RAISE NOTICE 'history search will not be indexed: %', SQLERRM;
        RETURN;
    END;
    CREATE INDEX IF NOT EXISTS history_text_trgm_idx
        ON history USING gin ((input || E'\n' || output) gin_trgm_ops);
    DROP INDEX IF EXISTS history_input_trgm_idx;
    DROP INDEX IF EXISTS history_output_trgm_idx;
END
$$;
