-- The id of the connection an authorization stores into, read in the
-- storing transaction under the import lock: a reconnect's connection
-- must still be the row the flow began for, and a new connection's name
-- must still be free.
SELECT id FROM oauth_tokens WHERE name = @name
