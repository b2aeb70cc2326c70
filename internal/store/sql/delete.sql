-- worker delete --yes: remove a connection and its secrets. Its events stay
-- (oauth_token_events has no foreign key), for `why did it go` questions;
-- a refresh in flight finds no row and is recorded as fenced. No row: no
-- such connection.
DELETE FROM oauth_tokens WHERE name = @name RETURNING name
