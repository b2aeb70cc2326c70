-- Give back claims that were never attempted (the worker is stopping), so
-- another worker need not wait for the lease to run out. Each row is
-- addressed by its id (the primary key) and released only while it still
-- carries the claim: @claims is a JSON array of {"id", "claim_id"}.
UPDATE oauth_tokens t
SET updating = false, updating_until = NULL, claim_id = NULL
FROM jsonb_to_recordset(CAST(@claims AS jsonb)) AS c(id uuid, claim_id uuid)
WHERE t.id = c.id
  AND t.claim_id = c.claim_id
