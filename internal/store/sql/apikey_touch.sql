-- Record a key's use, at most once a minute, so that a busy key does not
-- turn every API read into a write.
UPDATE api_keys
SET last_used_at = now()
WHERE id = @id
  AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
