package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
)

// eventsSnapshot returns every event as JSON, to prove a command recorded
// none.
func eventsSnapshot(t *testing.T, c *pgx.Conn) string {
	t.Helper()
	var s string
	err := c.QueryRow(context.Background(),
		`SELECT COALESCE(json_agg(e ORDER BY id)::text, '[]') FROM oauth_token_events e`).Scan(&s)
	if err != nil {
		t.Fatalf("events snapshot: %v", err)
	}
	return s
}

// TestImportRefusesWhatCanNeverWork: each record used to be imported and
// later die as a misleading needs_reauth. Each is refused with one line
// naming the record, and nothing is written, not even the good record
// before it.
func TestImportRefusesWhatCanNeverWork(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	// Spaces after the commas, as people write lists: they are trimmed.
	env["TOKENS_ALLOWED_TOKEN_HOSTS"] = "auth.example.com, *.example.org ,127.0.0.1"
	c := connect(t, dsn)
	const url = "https://auth.example.com/token"
	mustRun(t, env, record("existing", url, "at-SECRET-old", "rt-SECRET-old", `"expires_in":3600`), "import")
	before := snapshot(t, c)
	good := record("fresh", "https://id.example.org/token", "", "rt-SECRET-fresh", "") + "\n"

	tests := []struct {
		name, bad, want string
	}{
		{"oauth2 without token_url", `{"name":"no-url","client_id":"cid","refresh_token":"rt-SECRET-1"}`,
			`record 2 ("no-url"): provider oauth2 has no token endpoint of its own: give token_url`},
		{"http outside loopback", record("insecure", "http://auth.example.com/token", "", "rt-SECRET-2", ""),
			`record 2 ("insecure"): token endpoint auth.example.com uses http`},
		{"host outside TOKENS_ALLOWED_TOKEN_HOSTS", record("elsewhere", "https://evil.example.net/token", "", "rt-SECRET-3", ""),
			`record 2 ("elsewhere"): token endpoint host evil.example.net is not in TOKENS_ALLOWED_TOKEN_HOSTS`},
		{"template's host outside TOKENS_ALLOWED_TOKEN_HOSTS", `{"name":"g","provider":"google","refresh_token":"rt-SECRET-4"}`,
			`record 2 ("g"): token endpoint host oauth2.googleapis.com is not in TOKENS_ALLOWED_TOKEN_HOSTS`},
		{"template parameter filled into a host outside", `{"name":"ms","provider":"microsoft","params":{"tenant":"acme"},"refresh_token":"rt-SECRET-5"}`,
			`record 2 ("ms"): token endpoint host login.microsoftonline.com is not in`},
		{"an update moving a stored connection off the list", `{"name":"existing","token_url":"https://evil.example.net/token"}`,
			`record 2 ("existing"): token endpoint host evil.example.net is not in`},
		{"invalid UTF-8", "{\"name\":\"utf\",\"token_url\":\"" + url + "\",\"refresh_token\":\"rt-SECRET-\xff\"}",
			`record 2 ("utf"): invalid UTF-8`},
		{"bidirectional override in a name", `{"name":"inv\u202Eeci","token_url":"` + url + `","refresh_token":"rt-SECRET-6"}`,
			`record 2 ("inv\u202eeci"): name must not contain spaces, control characters or invisible formatting characters`},
		{"slash in a name", record("team/a", url, "", "rt-SECRET-7", ""),
			`record 2 ("team/a"): name must not contain "/"`},
		{"space inside a refresh token", record("sp", url, "", "rt-SECRET-8 rest", ""),
			`record 2 ("sp"): refresh_token contains whitespace or a line break`},
		{"line break at the end of a client secret", `{"name":"nl","token_url":"` + url + `","client_secret":"cs-SECRET-9\n","refresh_token":"rt-SECRET-9"}`,
			`record 2 ("nl"): client_secret contains whitespace or a line break`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, env, good+tc.bad, "import", "-")
			if r.code != 1 || r.stdout != "" {
				t.Errorf("import: %s", r)
			}
			if line := r.oneLine(t); !strings.Contains(line, tc.want) {
				t.Errorf("error %q does not contain %q", line, tc.want)
			}
		})
	}
	t.Cleanup(func() {
		// Runs after every subtest.
		if after := snapshot(t, c); after != before {
			t.Errorf("a refused import changed the table:\nbefore: %s\nafter:  %s", before, after)
		}
	})
}

// TestImportChecksConnectionsAsTheyWillBe: a record that leaves out the
// provider and token URL updates a stored connection that has them, and
// TOKENS_ALLOW_INSECURE_HTTP admits plain http.
func TestImportChecksConnectionsAsTheyWillBe(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	env["TOKENS_ALLOWED_TOKEN_HOSTS"] = " auth.example.com "
	c := connect(t, dsn)
	mustRun(t, env, record("a", "https://auth.example.com/token", "", "rt-SECRET-1", ""), "import")
	mustRun(t, env, `{"name":"a","refresh_token":"rt-SECRET-2"}`, "import")
	if r := getRow(t, c, "a"); str(r.RefreshToken) != "rt-SECRET-2" {
		t.Errorf("the update was not stored: %+v", r)
	}
	// A connection that is never refreshed (an access token kept as it is)
	// sends nothing anywhere, so it needs no token endpoint.
	mustRun(t, env, `{"name":"static","access_token":"at-SECRET-static"}`, "import")
	// Once it gets a refresh token it does.
	r := run(t, env, `{"name":"static","refresh_token":"rt-SECRET-static"}`, "import")
	if r.code != 1 || !strings.Contains(r.oneLine(t), `record 1 ("static"): provider oauth2 has no token endpoint of its own`) {
		t.Errorf("a refresh token for a connection without token endpoint: %s", r)
	}
	env["TOKENS_ALLOW_INSECURE_HTTP"] = "true"
	mustRun(t, env, record("b", "http://auth.example.com/token", "", "rt-SECRET-3", ""), "import")
	if n := count(t, c); n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
}

// TestAuthorizeRefusesWhatCanNeverWork: `worker authorize` stores a
// connection too, through the same validation, before anyone is sent to
// a browser.
func TestAuthorizeRefusesWhatCanNeverWork(t *testing.T) {
	t.Parallel()
	_, srv, env := authorizeSetup(t, mockprovider.Options{})
	c := connect(t, env["DATABASE_URL"])
	flags := []string{"--provider", "oauth2", "--port", "0", "--timeout", "5s", "--auth-url", srv.URL + "/authorize",
		"--token-url", srv.URL + "/token", "--client-id", "cid"}
	withSecret := func(secret string) map[string]string {
		m := map[string]string{"TOKENS_CLIENT_SECRET": secret}
		for k, v := range env {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"whitespace inside the client secret", withSecret("cs-SECRET-two words"), append([]string{"acme"}, flags...), "client_secret contains whitespace"},
		{"slash in the name", withSecret("cs-SECRET"), append([]string{"team/acme"}, flags...), `name must not contain "/"`},
		{"invalid UTF-8 in the client secret", withSecret("cs-SECRET-\xff"), append([]string{"acme"}, flags...), "invalid UTF-8 in client_secret"},
		{"no token endpoint", withSecret("cs-SECRET"), []string{"acme", "--provider", "oauth2", "--port", "0", "--timeout", "5s",
			"--auth-url", srv.URL + "/authorize", "--client-id", "cid"}, "provider oauth2 has no token endpoint of its own"},
	} {
		r := run(t, tc.env, "", append([]string{"authorize"}, tc.args...)...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.oneLine(t), tc.want) {
			t.Errorf("%s: %s; want one line mentioning %q and no URL", tc.name, r, tc.want)
		}
	}
	if n := count(t, c); n != 0 {
		t.Errorf("%d rows after refusals", n)
	}
}

// TestRefreshWithoutTheKeyChangesNothing: `worker refresh NAME` without
// the key the row is sealed with used to claim it, fail, and record a
// transient failure with a backoff. It must refuse before claiming.
func TestRefreshWithoutTheKeyChangesNothing(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	prov, tokenURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour})
	env := envFor(dsn)
	env["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k1")
	c := connect(t, dsn)
	mustRun(t, env, record("a", tokenURL, "", "rt-SECRET-a", ""), "import")
	mustRun(t, env, "", "refresh", "a") // one event to keep
	rows, events := snapshot(t, c), eventsSnapshot(t, c)

	for _, tc := range []struct {
		name, keys, want string
	}{
		{"no keys", "", "TOKENS_ENCRYPTION_KEYS is not set"},
		{"another key", newKeySpec("k2"), "not in TOKENS_ENCRYPTION_KEYS"},
	} {
		env := envFor(dsn)
		if tc.keys != "" {
			env["TOKENS_ENCRYPTION_KEYS"] = tc.keys
		}
		r := run(t, env, "", "refresh", "a")
		if r.code != 1 || r.stdout != "" {
			t.Errorf("%s: %s", tc.name, r)
		}
		if line := r.oneLine(t); !strings.Contains(line, "refresh a: ") || !strings.Contains(line, `key "k1"`) || !strings.Contains(line, tc.want) {
			t.Errorf("%s: error %q does not mention %q", tc.name, line, tc.want)
		}
		if after := snapshot(t, c); after != rows {
			t.Errorf("%s: the row changed:\nbefore: %s\nafter:  %s", tc.name, rows, after)
		}
		if after := eventsSnapshot(t, c); after != events {
			t.Errorf("%s: events changed:\nbefore: %s\nafter:  %s", tc.name, events, after)
		}
	}
	if prov.Calls() != 1 {
		t.Errorf("the provider saw %d requests, want the 1 of the refresh with the key", prov.Calls())
	}
}

// TestListAndEventsNeedNoKeys: neither command shows a secret, so neither
// needs TOKENS_ENCRYPTION_KEYS, even when every row is sealed.
func TestListAndEventsNeedNoKeys(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	prov, tokenURL := newProvider(t, mockprovider.Options{Rotate: true, Lifetime: time.Hour})
	keyed := envFor(dsn)
	keyed["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k1")
	mustRun(t, keyed, record("ok", tokenURL, "at-SECRET-ok", "rt-SECRET-ok", "")+"\n"+
		record("dead", tokenURL, "at-SECRET-dead", "rt-SECRET-dead", ""), "import")
	prov.Revoke("rt-SECRET-dead")
	run(t, keyed, "", "once")
	var sealed int
	if err := connect(t, dsn).QueryRow(t.Context(),
		`SELECT count(*) FROM oauth_tokens WHERE starts_with(refresh_token, $1) AND starts_with(access_token, $1)`, keyring.Prefix).Scan(&sealed); err != nil || sealed != 2 {
		t.Fatalf("%d rows sealed, want 2 (%v)", sealed, err)
	}

	env := envFor(dsn) // no keys
	if out := mustRun(t, env, "", "list").stdout; !strings.Contains(out, "ok") || !strings.Contains(out, "needs_reauth") {
		t.Errorf("list without keys:\n%s", out)
	}
	if e := listEntries(t, env, "--json"); len(e) != 2 || !e["ok"].HasRefreshToken || e["ok"].Version != 1 || e["dead"].Status != "needs_reauth" {
		t.Errorf("list --json without keys: %+v", e)
	}
	if out := mustRun(t, env, "", "events", "dead").stdout; !strings.Contains(out, "reauth") || !strings.Contains(out, "invalid_grant") {
		t.Errorf("events without keys:\n%s", out)
	}
	var evs []struct {
		Outcome string `json:"outcome"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, env, "", "events", "--json", "ok").stdout), &evs); err != nil || len(evs) != 1 || evs[0].Outcome != "success" {
		t.Errorf("events --json without keys: %+v %v", evs, err)
	}
	if r := run(t, env, "", "events", "missing"); r.code != 1 || !strings.Contains(r.oneLine(t), "no such connection") {
		t.Errorf("events of a missing name without keys: %s", r)
	}
}

// TestProvidersFileIsBounded: TOKENS_PROVIDERS_FILE=/dev/zero used to be
// read until the process was killed for memory.
func TestProvidersFileIsBounded(t *testing.T) {
	t.Parallel()
	env := envFor(pgtest.New(t))
	env["TOKENS_PROVIDERS_FILE"] = "/dev/zero"
	for _, args := range [][]string{{"providers"}, {"list"}, {"import", "-"}} {
		r := run(t, env, `{"name":"a","expires_in":0}`, args...)
		if r.code != 1 || !strings.Contains(r.oneLine(t), "TOKENS_PROVIDERS_FILE: /dev/zero: larger than 1 MiB") {
			t.Errorf("worker %v: %s", args, r)
		}
	}
}
