-- Claim one connection by name whatever its expiry (`worker refresh NAME`),
-- under the same rules as claim.sql: never over a live lease. RETURNING is
-- claim.sql's, column for column.
UPDATE oauth_tokens
SET updating       = true,
    updating_until = now() + CAST(@lease_us AS bigint) * interval '1 microsecond',
    claim_id       = gen_random_uuid()
WHERE name = @name
  AND status = 'active'
  AND has_refresh_token
  AND (NOT updating OR updating_until < now())
RETURNING id, name, provider, token_url, client_id, client_secret,
          scopes, auth_style, refresh_token, access_token_expires,
          refresh_token_expires, updating, updating_until, claim_id,
          status, failure_count, version, params, "grant",
          false AS taken_over
