-- `worker rekey --skip-unreadable`: a pending authorization whose verifier
-- or client secret does not open could never complete; it is deleted, so
-- that the key it names can be retired (the person starts again).
DELETE FROM oauth_authorizations WHERE id = @id
