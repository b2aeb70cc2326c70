-- Claim one connection by name whatever its expiry (`worker refresh NAME`),
-- under the same rules as claim.sql: never over a live lease.
UPDATE oauth_tokens
SET updating       = true,
    updating_until = now() + CAST(@lease_us AS bigint) * interval '1 microsecond',
    claim_id       = gen_random_uuid()
WHERE name = @name
  AND status = 'active'
  AND refresh_token IS NOT NULL
  AND (NOT updating OR updating_until < now())
RETURNING *, false AS taken_over
