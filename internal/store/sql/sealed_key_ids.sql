SELECT key_id FROM oauth_token_keys ORDER BY key_id
