-- Wake the workers for a connection a consumer waits on.
SELECT tokenwarden_request_refresh($1)
