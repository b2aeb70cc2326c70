-- How many rows `worker export` will read, for its progress: in the
-- export's own snapshot, so that the total is the rows it then writes.
SELECT count(*) FROM oauth_tokens WHERE (@status = '' OR status = @status)
