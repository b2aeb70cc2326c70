UPDATE oauth_tokens
SET access_token = @access_token, refresh_token = @refresh_token, client_secret = @client_secret
WHERE id = @id
