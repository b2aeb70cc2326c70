SELECT id FROM oauth_tokens WHERE name = @name FOR UPDATE
