-- The rows a chunk of an import is about to change, locked until the
-- import commits: their ids (secrets are sealed bound to them), their
-- identities and stored secrets (re-sealed when the identity changes),
-- what the endpoint check needs, and whether a refresh is in flight. Row
-- locks live in the tuples, not in the shared lock table, so they do not
-- run out however many rows an import touches. @names is a text array.
SELECT id, name, provider, token_url, client_id, params, "grant", client_secret, refresh_token,
       has_refresh_token, status, updating AND updating_until > now() AS in_flight
FROM oauth_tokens
WHERE name = ANY(@names)
FOR UPDATE
