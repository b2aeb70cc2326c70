-- The live session with this token hash: unexpired and, for an admin
-- key's session, its key still an unrevoked admin key (a revoked key ends
-- its sessions at once; a deleted one took them with it). A session
-- signed in through OpenID Connect has no key: expiry alone ends it.
SELECT s.key_id, k.label, s.csrf_token, s.expires_at, s.oidc_subject, s.oidc_email
FROM console_sessions AS s
LEFT JOIN api_keys AS k ON k.id = s.key_id
WHERE s.token_hash = @token_hash
  AND s.expires_at > now()
  AND (s.key_id IS NULL OR (k.admin AND k.revoked_at IS NULL))
