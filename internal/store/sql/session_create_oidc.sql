-- Start a console session for a person the OpenID Connect provider
-- vouched for: no key, the ID token's subject and email instead. Only the
-- SHA-256 of the cookie's token is stored.
INSERT INTO console_sessions (token_hash, oidc_subject, oidc_email, csrf_token, expires_at)
SELECT @token_hash, @subject, @email, @csrf, now() + CAST(@ttl_us AS bigint) * interval '1 microsecond'
RETURNING key_id, NULL::text, csrf_token, expires_at, oidc_subject, oidc_email
