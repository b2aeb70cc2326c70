INSERT INTO oauth_token_keys (key_id, check_value) VALUES (@key_id, @check_value) ON CONFLICT DO NOTHING
