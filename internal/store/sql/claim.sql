-- Claim up to @limit due rows for this worker, atomically. A row is due
-- when its expiry is within the refresh window and nothing holds it: its
-- schedule (refresh_not_before: half its lifetime, at least a floor) has
-- come, its backoff has ended, and no live lease is on it. SKIP LOCKED
-- lets several replicas claim side by side without ever picking the same
-- row, and the fresh claim_id fences each claim against a later takeover.
--
-- Two index range scans find the candidates (see migration 00004), so that
-- rows still held are never read:
--   free: rows nothing holds (held_until IS NULL), soonest expiry first,
--         from oauth_tokens_due_idx;
--   held: rows whose hold (lease, backoff, parked schedule) has ended,
--         longest waiting first, from oauth_tokens_held_idx.
-- The claimed rows are the @limit soonest to expire of both. Every
-- condition is checked in both, whatever held_until says.
--
-- RETURNING names only what a refresh needs, in the order scanClaimed reads
-- it: the old access token is neither sent nor decrypted.
--
-- The rows are matched by an id array rather than a join on a CTE: with
-- a join the planner hashes the whole table (a sequential scan per claim,
-- measured 39 ms against 22 ms at 20,000 rows, and growing with the table),
-- while the array is an index lookup per row.
WITH free AS (
    SELECT id, updating, access_token_expires
    FROM oauth_tokens
    WHERE status = 'active'
      AND has_refresh_token
      AND held_until IS NULL
      AND access_token_expires <= now() + CAST(@before_us AS bigint) * interval '1 microsecond'
      AND (refresh_not_before IS NULL OR refresh_not_before <= now())
      AND (next_attempt_at IS NULL OR next_attempt_at <= now())
      AND (NOT updating OR updating_until < now())
    ORDER BY access_token_expires
    LIMIT @limit
    FOR UPDATE SKIP LOCKED
), held AS (
    SELECT id, updating, access_token_expires
    FROM oauth_tokens
    WHERE status = 'active'
      AND has_refresh_token
      AND held_until <= now()
      AND access_token_expires <= now() + CAST(@before_us AS bigint) * interval '1 microsecond'
      AND (refresh_not_before IS NULL OR refresh_not_before <= now())
      AND (next_attempt_at IS NULL OR next_attempt_at <= now())
      AND (NOT updating OR updating_until < now())
    ORDER BY held_until
    LIMIT @limit
    FOR UPDATE SKIP LOCKED
), due AS (
    SELECT id, updating
    FROM (SELECT * FROM free UNION ALL SELECT * FROM held) AS candidates
    ORDER BY access_token_expires
    LIMIT @limit
)
UPDATE oauth_tokens t
SET updating       = true,
    updating_until = now() + CAST(@lease_us AS bigint) * interval '1 microsecond',
    claim_id       = gen_random_uuid()
WHERE t.id = ANY (ARRAY(SELECT id FROM due))
RETURNING t.id, t.name, t.provider, t.token_url, t.client_id, t.client_secret,
          t.scopes, t.auth_style, t.refresh_token, t.access_token_expires,
          t.refresh_token_expires, t.updating, t.updating_until, t.claim_id,
          t.status, t.failure_count, t.version, t.params, t."grant",
          t.id = ANY (ARRAY(SELECT id FROM due WHERE updating)) AS taken_over
