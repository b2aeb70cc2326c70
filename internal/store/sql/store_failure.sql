-- Release a batch of failed refreshes: back off transient failures, mark
-- connections the provider refused as needs_reauth. Fenced like a success.
WITH v AS (
    SELECT *
    FROM jsonb_to_recordset(CAST(@batch AS jsonb)) AS x(
        id uuid,
        claim_id uuid,
        reauth boolean,
        delay_ms bigint,
        last_error text
    )
)
UPDATE oauth_tokens t
SET updating        = false,
    updating_until  = NULL,
    claim_id        = NULL,
    failure_count   = t.failure_count + 1,
    status          = CASE WHEN v.reauth THEN 'needs_reauth' ELSE t.status END,
    next_attempt_at = CASE WHEN v.reauth THEN NULL
                           ELSE now() + v.delay_ms * interval '1 millisecond' END,
    last_error      = v.last_error
FROM v
WHERE t.id = v.id
  AND t.claim_id = v.claim_id
RETURNING t.id
