package tokens

// Changes returns a channel that receives a value when the named
// connection's row may have changed: a change notification for it, or the
// notification connection coming up or going down (changes may have been
// missed meanwhile). Values do not queue: one pending value stands for any
// number of changes, so read the row again after each. Call stop when done.
//
// Subscribe before reading the row, so that a change committed between the
// read and the wait still arrives. Nothing arrives in PollOnly mode or while
// the notification connection is down: a caller that must notice changes
// then still re-reads on a timer of its own.
func (c *Client) Changes(name string) (changed <-chan struct{}, stop func()) {
	ch, _, _, cancel := c.hub.subscribe(name)
	return ch, cancel
}
