package webhook_test

import (
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/webhook"
	wire "github.com/tokenwarden/tokenwarden/pkg/webhook"
)

// A refused configuration is its own event, at once, not a needs_reauth:
// the person it reaches must fix the configuration, not re-authorize.
func TestConfigRefusalIsAConfigErrorEvent(t *testing.T) {
	t.Parallel()
	e := &endpoint{}
	n := start(t, e, webhook.Options{})
	n.Failed(refresh.FailureEvent{Name: "misconfigured", Provider: "oauth2", NeedsReauth: true, Config: true, Failures: 1,
		LastError: "configuration error: token endpoint host evil.test is not in TOKENS_ALLOWED_TOKEN_HOSTS"})
	n.Failed(reauth("dead"))
	flush(t, n)
	got := e.received()
	if len(got) != 2 || got[0].ev.Event != wire.ConfigError || got[0].ev.Name != "misconfigured" ||
		got[1].ev.Event != wire.NeedsReauth || got[1].ev.Name != "dead" {
		t.Fatalf("events: %+v", got)
	}
}
