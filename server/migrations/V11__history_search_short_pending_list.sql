-- V10 turned the trigram index's pending list off; measured on one 100,000-row
-- INSERT (2 shared cores, fsync off): 13 s with the default 4 MB pending list,
-- 178 s without one, 31 s with 1 MB, 89 s with 256 kB. Without the list every
-- insert pays for the index in full, which the group-commit writer cannot
-- afford; a 1 MB list keeps what a search must scan after a write run at a
-- quarter of the default for less than three times the insert cost.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class WHERE relname = 'history_text_trgm_idx' AND relkind = 'i') THEN
        ALTER INDEX history_text_trgm_idx SET (fastupdate = on, gin_pending_list_limit = 1024);
    END IF;
END
$$;
