-- One trigram index over input and output together instead of one each:
-- every history insert updated both, which made trigram maintenance most of
-- a row's write cost, and a two-word search had to combine four bitmaps
-- where one index scan can intersect the words itself. A search word never
-- holds whitespace, so matching it against `input || E'\n' || output` is the
-- same as matching input or output. As in V2, a database without pg_trgm
-- keeps working unindexed.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX IF NOT EXISTS history_text_trgm_idx
        ON history USING gin ((input || E'\n' || output) gin_trgm_ops);
    DROP INDEX IF EXISTS history_input_trgm_idx;
    DROP INDEX IF EXISTS history_output_trgm_idx;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'history search will not be indexed: %', SQLERRM;
END
$$;
