DELETE FROM oauth_token_keys WHERE key_id <> ALL (CAST(@keep AS text[]))
