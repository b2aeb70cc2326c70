UPDATE oauth_tokens
SET access_token        = @access_token,
    refresh_token       = @refresh_token,
    client_secret       = @client_secret,
    access_token_sha256 = COALESCE(decode(CAST(@access_token_sha256 AS text), 'hex'), access_token_sha256)
WHERE id = @id
