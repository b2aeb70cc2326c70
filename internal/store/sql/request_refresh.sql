-- Wake the workers for a connection a consumer is waiting on.
SELECT pg_notify('tokenwarden_refresh', @name)
