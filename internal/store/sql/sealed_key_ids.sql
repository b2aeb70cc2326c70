-- The keys the table's sealed values may name, with the check value of
-- each (NULL for a key recorded before check values existed).
SELECT key_id, check_value FROM oauth_token_keys ORDER BY key_id
