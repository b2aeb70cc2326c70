SELECT tokenwarden_invalidate_hash(@name, decode(CAST(@sha256 AS text), 'hex')) AS outcome
