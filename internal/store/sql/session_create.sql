-- Start a console session for an admin key, only if the key is a live
-- admin key at this instant: the check and the insert are one statement,
-- so a key revoked meanwhile starts nothing. Only the SHA-256 of the
-- cookie's token is stored.
WITH k AS (
    SELECT id, label FROM api_keys
    WHERE id = @key_id AND admin AND revoked_at IS NULL
), s AS (
    INSERT INTO console_sessions (token_hash, key_id, csrf_token, expires_at)
    SELECT @token_hash, id, @csrf, now() + CAST(@ttl_us AS bigint) * interval '1 microsecond'
    FROM k
    RETURNING key_id, csrf_token, expires_at
)
SELECT s.key_id, k.label, s.csrf_token, s.expires_at, NULL::text, NULL::text FROM s JOIN k ON k.id = s.key_id
