-- Store a new API key: only its hash, never the key.
INSERT INTO api_keys (id, label, key_hash, patterns, admin)
VALUES (@id, @label, @key_hash, CAST(@patterns AS jsonb), @admin)
