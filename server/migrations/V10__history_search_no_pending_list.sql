-- A GIN index buffers new entries in a pending list that every search scans
-- until VACUUM or the list's limit merges it; after a long write run a
-- one-word search read the whole list (p99 207 ms at 580,000 rows).
-- Without fastupdate each insert updates the index itself: searches stay
-- fast right after heavy writes, at a small cost per insert.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class WHERE relname = 'history_text_trgm_idx' AND relkind = 'i') THEN
        ALTER INDEX history_text_trgm_idx SET (fastupdate = off);
        -- What is already pending is merged now rather than by a search.
        PERFORM gin_clean_pending_list('history_text_trgm_idx'::regclass);
    END IF;
END
$$;
