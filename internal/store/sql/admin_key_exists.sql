-- Whether a live admin key exists: the console is on only then. api_keys
-- holds a handful of rows, so a scan is the cheapest plan.
SELECT EXISTS (SELECT 1 FROM api_keys WHERE admin AND revoked_at IS NULL)
