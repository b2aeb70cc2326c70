-- Give back claims that were never attempted (the worker is stopping), so
-- another worker need not wait for the lease to run out.
UPDATE oauth_tokens
SET updating = false, updating_until = NULL, claim_id = NULL
WHERE claim_id IN (SELECT (jsonb_array_elements_text(CAST(@claims AS jsonb)))::uuid)
