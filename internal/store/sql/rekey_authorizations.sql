-- The console's pending authorizations for `worker rekey`: only those that
-- can still be completed (unused, unexpired), as a used or expired one is
-- never opened again. Locked, so that a callback consuming one meanwhile
-- waits and then reads the re-sealed values. At most a few thousand rows
-- (10 minutes of people at the consent page), so one transaction.
SELECT id, name, verifier, client_secret
FROM oauth_authorizations
WHERE used_at IS NULL AND expires_at > now()
ORDER BY id
FOR UPDATE
