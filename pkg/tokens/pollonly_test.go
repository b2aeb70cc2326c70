package tokens

import (
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// Behind a transaction-mode pooler there is no LISTEN: a waiting Get finds
// the new token by re-reading, and nothing is cached.
func TestPollOnlyWaitsByPolling(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{})
	c, err := Open(t.Context(), e.dsn, &Options{PollOnly: true, PollInterval: 20 * time.Millisecond, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e.insert(t, "a", time.Hour)
	e.exec(t, "UPDATE oauth_tokens SET updating = true, updating_until = now() + interval '1 minute'")

	done := make(chan *Token, 1)
	c.waiting.Init(t)
	go func() {
		tok, _ := c.Get(t.Context(), "a")
		done <- tok
	}()
	c.waiting.Wait() // the Get blocks
	e.exec(t, "UPDATE oauth_tokens SET access_token = 'at-new', updating = false, version = version + 1")
	if tok := <-done; tok == nil || tok.AccessToken != "at-new" {
		t.Fatalf("Get = %+v, want the new token", tok)
	}
	if c.hub.cached("a", time.Now(), 0) != nil {
		t.Fatal("a poll-only client cached a token")
	}
	c.hub.mu.Lock()
	connected := c.hub.connected
	c.hub.mu.Unlock()
	if connected {
		t.Fatal("a poll-only client opened a LISTEN connection")
	}
}
