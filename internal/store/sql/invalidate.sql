SELECT tokenwarden_invalidate(@name, @stored) AS marked
