-- Make the connection due if it still holds the access token whose SHA-256
-- is $2, and wake the workers: 'marked', 'stale' (it holds another token)
-- or 'missing' (see tokenwarden_invalidate_hash in sql/schema.sql).
SELECT tokenwarden_invalidate_hash($1, $2)
