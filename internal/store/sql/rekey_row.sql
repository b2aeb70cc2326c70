-- Re-sealing leaves each value's plaintext, and so access_token_sha256,
-- as it was.
UPDATE oauth_tokens
SET access_token  = @access_token,
    refresh_token = @refresh_token,
    client_secret = @client_secret
WHERE id = @id
