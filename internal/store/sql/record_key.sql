INSERT INTO oauth_token_keys (key_id) VALUES (@key_id) ON CONFLICT DO NOTHING
