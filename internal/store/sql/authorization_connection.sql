-- The id of the connection an authorization stores into, read in the
-- storing transaction under the import lock: a reconnect's connection
-- must still be the row the flow began for, and a new connection's name
-- must still be free, and a disabled connection (an operator's decision
-- made while the person was at the consent page) is not revived. FOR
-- UPDATE: a disable waits for the store, or the store sees it.
SELECT id, status FROM oauth_tokens WHERE name = @name FOR UPDATE
