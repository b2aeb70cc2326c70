-- Store a batch of successful refreshes in one statement. A row is written
-- only while it still carries the claim_id its refresh was made under; a
-- worker whose claim was taken over gets nothing back for that row. Every
-- attempt, stored or fenced, is recorded in oauth_token_events by the same
-- statement.
WITH v AS (
    SELECT *
    FROM jsonb_to_recordset(CAST(@batch AS jsonb)) AS x(
        id uuid,
        claim_id uuid,
        name text,
        access_token text,
        access_token_sha256 text,
        refresh_token text,
        access_token_expires timestamptz,
        refresh_token_expires timestamptz,
        json_data jsonb,
        refresh_not_before timestamptz,
        warning text,
        duration_ms int
    )
), u AS (
    UPDATE oauth_tokens t
    SET access_token          = v.access_token,
        access_token_sha256   = decode(v.access_token_sha256, 'hex'),
        -- Providers such as Google answer without a refresh token: keep ours.
        refresh_token         = COALESCE(NULLIF(v.refresh_token, ''), t.refresh_token),
        access_token_expires  = v.access_token_expires,
        refresh_token_expires = COALESCE(v.refresh_token_expires, t.refresh_token_expires),
        json_data             = v.json_data,
        updating              = false,
        updating_until        = NULL,
        claim_id              = NULL,
        failure_count         = 0,
        next_attempt_at       = NULL,
        refresh_not_before    = v.refresh_not_before,
        -- A schedule that comes after the row enters the refresh window
        -- (@before_us) holds the row in the window: park it in the held
        -- index until then (migration 00004), rather than have every
        -- claim read past it. The trigger keeps held_until only while it
        -- equals refresh_not_before.
        held_until            = CASE WHEN v.refresh_not_before > v.access_token_expires
                                          - CAST(@before_us AS bigint) * interval '1 microsecond'
                                     THEN v.refresh_not_before END,
        -- An answer stored despite an oddity (an absurd expires_in) says so.
        last_error            = NULLIF(v.warning, ''),
        last_refreshed_at     = now(),
        version               = t.version + 1
    FROM v
    WHERE t.id = v.id
      AND t.claim_id = v.claim_id
      AND v.access_token <> ''
    RETURNING t.id, t.version
), e AS (
    INSERT INTO oauth_token_events (token_id, name, outcome, duration_ms, http_status, error, version)
    SELECT v.id, v.name, CASE WHEN u.id IS NULL THEN 'fenced' ELSE 'success' END, v.duration_ms, 200,
           NULLIF(v.warning, ''), u.version
    FROM v LEFT JOIN u ON u.id = v.id
)
SELECT id, version FROM u
