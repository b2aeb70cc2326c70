-- Sign out: the session is gone, not marked, so its cookie opens nothing.
DELETE FROM console_sessions WHERE token_hash = @token_hash
