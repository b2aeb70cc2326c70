SELECT * FROM oauth_tokens ORDER BY name
