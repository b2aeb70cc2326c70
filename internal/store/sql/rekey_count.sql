-- How many rows a rekey will visit, for its progress: counted once, before
-- it starts, so an exact count (a scan of the table's smallest index) is
-- worth its cost against a rekey that reads and rewrites every row.
SELECT count(*) FROM oauth_tokens
