-- Release a batch of failed refreshes: back off transient failures, mark
-- connections the provider refused as needs_reauth, and those whose
-- configuration was refused too (their event says 'config'). Fenced like a
-- success, and recorded in oauth_token_events by the same statement.
WITH v AS (
    SELECT *
    FROM jsonb_to_recordset(CAST(@batch AS jsonb)) AS x(
        id uuid,
        claim_id uuid,
        name text,
        reauth boolean,
        config boolean,
        refresh_token text,
        delay_ns bigint,
        last_error text,
        http_status int,
        duration_ms int
    )
), u AS (
    UPDATE oauth_tokens t
    SET updating        = false,
        updating_until  = NULL,
        claim_id        = NULL,
        failure_count   = t.failure_count + 1,
        status          = CASE WHEN v.reauth THEN 'needs_reauth' ELSE t.status END,
        next_attempt_at = CASE WHEN v.reauth THEN NULL
                               ELSE now() + (v.delay_ns / 1000) * interval '1 microsecond' END,
        last_error      = v.last_error,
        -- A rotated refresh token salvaged from an otherwise unusable
        -- answer: the provider has likely revoked the one we hold.
        refresh_token   = COALESCE(NULLIF(v.refresh_token, ''), t.refresh_token)
    FROM v
    WHERE t.id = v.id
      AND t.claim_id = v.claim_id
    RETURNING t.id, t.version
), e AS (
    INSERT INTO oauth_token_events (token_id, name, outcome, duration_ms, http_status, error, version)
    SELECT v.id, v.name,
           CASE WHEN u.id IS NULL THEN 'fenced' WHEN v.config THEN 'config'
                WHEN v.reauth THEN 'reauth' ELSE 'transient' END,
           v.duration_ms, NULLIF(v.http_status, 0), v.last_error, u.version
    FROM v LEFT JOIN u ON u.id = v.id
)
SELECT id FROM u
