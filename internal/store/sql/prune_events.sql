-- Delete one bounded batch of events older than the retention, so pruning
-- never holds long locks; the caller repeats until nothing is left.
DELETE FROM oauth_token_events
WHERE id IN (
    SELECT id FROM oauth_token_events
    WHERE at < now() - CAST(@retention_us AS bigint) * interval '1 microsecond'
    LIMIT 10000
)
