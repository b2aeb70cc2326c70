-- Use up a reconnect link, in the transaction that stores the tokens it
-- let in. Its expiry is not checked again: the flow began while the link
-- was live, and the flow has its own ten minutes.
UPDATE connect_links SET used_at = now() WHERE id = @id AND used_at IS NULL
