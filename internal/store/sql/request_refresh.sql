SELECT tokenwarden_request_refresh(@name)
