-- The check value of a key recorded before check values existed, once a
-- value sealed under it has opened (trust on first use).
UPDATE oauth_token_keys SET check_value = @check_value WHERE key_id = @key_id AND check_value IS NULL
