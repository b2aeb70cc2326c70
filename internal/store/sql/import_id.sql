-- The row an import is about to change, locked: its id (secrets are
-- sealed bound to it), its identity and stored secrets (re-sealed when the
-- identity changes), and whether a refresh of it is in flight.
SELECT id, name, provider, token_url, client_id, params, client_secret, refresh_token,
       updating AND updating_until > now() AS in_flight
FROM oauth_tokens
WHERE name = @name
FOR UPDATE
