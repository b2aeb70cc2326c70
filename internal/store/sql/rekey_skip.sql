-- `worker rekey --skip-unreadable`: a row whose secrets do not open is taken
-- out of rotation, saying why, so that the key it names can be retired.
UPDATE oauth_tokens
SET status     = 'needs_reauth',
    last_error = @last_error
WHERE id = @id
