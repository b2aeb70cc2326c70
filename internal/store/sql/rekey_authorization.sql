-- Re-sealing leaves each value's plaintext as it was; the row was read
-- FOR UPDATE in the same transaction.
UPDATE oauth_authorizations
SET verifier      = @verifier,
    client_secret = @client_secret
WHERE id = @id
