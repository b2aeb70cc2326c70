-- 00008: console sessions signed in through OpenID Connect
-- (TOKENS_OIDC_ISSUER), beside those of admin keys.
--
-- A session is either an admin key's (key_id) or a person's the company's
-- OpenID Connect provider vouched for (oidc_subject, the ID token's sub,
-- and oidc_email, who the audit log and the header name), never both and
-- never neither. An OIDC session belongs to no key, so revoking keys does
-- not end it; it ends at expires_at (TOKENS_CONSOLE_SESSION_TTL) or at
-- sign-out.
--
-- +goose Up

ALTER TABLE console_sessions ALTER COLUMN key_id DROP NOT NULL;
ALTER TABLE console_sessions ADD COLUMN IF NOT EXISTS oidc_subject text;
ALTER TABLE console_sessions ADD COLUMN IF NOT EXISTS oidc_email text;
ALTER TABLE console_sessions ADD CONSTRAINT console_sessions_one_kind CHECK (
    (key_id IS NOT NULL AND oidc_subject IS NULL AND oidc_email IS NULL)
    OR (key_id IS NULL AND oidc_subject IS NOT NULL AND oidc_email IS NOT NULL)
);
