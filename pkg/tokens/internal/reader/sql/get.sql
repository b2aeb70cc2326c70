-- What a consumer reads of a connection: never the refresh token or the
-- client secret, so that the consumer role needs no privilege on them. Every
-- column read here must be granted to tokenwarden_consumer in sql/roles.sql
-- (TestLeastPrivilegeRolesWithEncryption fails until it is). scanRow reads
-- these columns in this order.
SELECT id, access_token, access_token_expires, updating, updating_until,
       status, last_error, version, json_data, has_refresh_token
FROM oauth_tokens
WHERE name = $1
