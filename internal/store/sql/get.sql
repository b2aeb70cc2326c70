SELECT * FROM oauth_tokens WHERE name = @name
