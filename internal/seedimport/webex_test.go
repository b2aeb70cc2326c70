package seedimport_test

import (
	"encoding/json"
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
)

// token-config.json and its .env land as one webex_service_app connection
// whose token_manager parameter names the manager connection, holding the
// integration that refreshes the personal token; both refresh on the next
// pass.
func TestWebex(t *testing.T) {
	t.Parallel()
	mp, url := mock(t, mockprovider.Options{Rotate: true})
	o := opts(t, "--file", "testdata/webex/token-config.json", "--token-url", url)
	dsn := migrated(t, "webex", o, 2)
	app := refreshed(t, mp, dsn, "webex-service-app", "webex-app-rt-SECRET")
	if app.provider != "webex_service_app" {
		t.Fatalf("provider %q, want webex_service_app", app.provider)
	}
	var params map[string]string
	if err := json.Unmarshal([]byte(app.params), &params); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"app_id": "Y2lzY29zcGFyazovL3VzL0FQUExJQ0FUSU9OL2ZpeHR1cmU", "target_org_id": "fixture-org-id", "token_manager": "webex-service-app-token-manager"}
	if len(params) != len(want) || params["app_id"] != want["app_id"] || params["target_org_id"] != want["target_org_id"] || params["token_manager"] != want["token_manager"] {
		t.Fatalf("params %v, want %v", params, want)
	}
	if m := refreshed(t, mp, dsn, "webex-service-app-token-manager", "webex-tm-rt-SECRET"); m.provider != "webex" {
		t.Fatalf("manager provider %q, want webex", m.provider)
	}
}

// A config without the service app's ids, or a missing .env, is refused
// without a secret in the error.
func TestWebexRefusals(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--file", "testdata/xero-client.json"},
		{"--file", "testdata/webex/token-config.json", "--env-file", "testdata/webex/missing.env"},
		{},
	} {
		_, err := opts(t, args...).Open(t.Context(), "webex")
		if err == nil {
			t.Fatalf("%v: imported", args)
		}
		noSecret(t, err)
	}
}
