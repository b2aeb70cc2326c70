package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/webhook"
)

// authorizeRun is `worker authorize` running in-process, its standard
// output read through a pipe so the test sees the URL while it waits.
type authorizeRun struct {
	lines  chan string
	done   chan struct{}
	code   int
	stderr syncBuffer
	out    strings.Builder // every stdout line, once done
}

func startAuthorize(t *testing.T, environ map[string]string, stdin string, args ...string) *authorizeRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	pr, pw := io.Pipe()
	r := &authorizeRun{lines: make(chan string, 16), done: make(chan struct{})}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			r.out.WriteString(sc.Text() + "\n")
			r.lines <- sc.Text()
		}
	}()
	go func() {
		defer close(r.done)
		a := &invocation{stdin: strings.NewReader(stdin), stdout: pw, stderr: &r.stderr, environ: environ}
		r.code = a.main(ctx, append([]string{"authorize"}, args...))
		pw.Close()
		<-read
	}()
	return r
}

// firstLine returns the first line of standard output.
func (r *authorizeRun) firstLine(t *testing.T) string {
	t.Helper()
	select {
	case l := <-r.lines:
		return l
	case <-r.done:
		t.Fatalf("authorize exited %d before printing a URL: %s", r.code, r.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("no URL printed")
	}
	return ""
}

func (r *authorizeRun) wait(t *testing.T) result {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("authorize did not exit")
	}
	res := result{code: r.code, stdout: r.out.String(), stderr: r.stderr.String()}
	res.leaks(t, secretMark)
	return res
}

func authorizeSetup(t *testing.T, opts mockprovider.Options) (*mockprovider.Server, *httptest.Server, map[string]string) {
	t.Helper()
	dsn := pgtest.New(t)
	mp := mockprovider.New(opts)
	srv := httptest.NewServer(mp)
	t.Cleanup(srv.Close)
	return mp, srv, envFor(dsn)
}

func TestAuthorize(t *testing.T) {
	t.Parallel()
	const clientSecret = "cs-SECRET-auth"
	mp, srv, env := authorizeSetup(t, mockprovider.Options{Lifetime: 30 * time.Minute, ClientID: "cid", ClientSecret: clientSecret})
	r := startAuthorize(t, env, clientSecret+"\n", "acme", "--provider", "oauth2", "--port", "0",
		"--auth-url", srv.URL+"/authorize", "--token-url", srv.URL+"/token", "--client-id", "cid",
		"--scopes", "accounting offline_access", "--params", `{"tenant":"acme"}`)
	first := r.firstLine(t)
	u, err := url.Parse(first)
	if err != nil || !strings.HasPrefix(first, srv.URL+"/authorize?") {
		t.Fatalf("first line %q is not the authorization URL", first)
	}
	if cb, _ := url.Parse(u.Query().Get("redirect_uri")); cb == nil || cb.Port() == "0" || cb.Port() == "" {
		t.Fatalf("redirect_uri %q has no actual port", u.Query().Get("redirect_uri"))
	}
	status, body := testutil.Browse(t, first)
	if status != http.StatusOK || !strings.Contains(body, "Authorized") {
		t.Fatalf("browser got %d %s", status, body)
	}
	res := r.wait(t)
	if res.code != 0 {
		t.Fatalf("authorize: %s", res)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "authorized acme (provider oauth2): version 0") {
		t.Errorf("stdout: %q", res.stdout)
	}
	granted := mp.Authorized()
	if len(granted) != 1 {
		t.Fatalf("the provider issued %d grants", len(granted))
	}
	c := connect(t, env["DATABASE_URL"])
	row := getRow(t, c, "acme")
	if str(row.AccessToken) != granted[0].AccessToken || str(row.RefreshToken) != granted[0].RefreshToken ||
		str(row.ClientSecret) != clientSecret || row.Status != "active" || row.Version != 0 ||
		row.Expires == nil || time.Until(*row.Expires) < 29*time.Minute {
		t.Fatalf("row %+v, issued %+v", row, granted[0])
	}
	var tokenURL, clientID, scopes, params string
	err = c.QueryRow(t.Context(), `SELECT token_url, client_id, scopes, params::text FROM oauth_tokens WHERE name = 'acme'`).
		Scan(&tokenURL, &clientID, &scopes, &params)
	if err != nil || tokenURL != srv.URL+"/token" || clientID != "cid" || scopes != "accounting offline_access" || params != `{"tenant": "acme"}` {
		t.Errorf("stored %q %q %q %q, %v", tokenURL, clientID, scopes, params, err)
	}

	// The worker can refresh what was stored.
	mustRun(t, env, "", "refresh", "acme")
	if issued, ok := mp.Issued(granted[0].RefreshToken); !ok || str(getRow(t, c, "acme").AccessToken) != issued.AccessToken {
		t.Errorf("refresh after authorize did not store the new token")
	}

	// Re-authorizing takes only the name (and the auth URL the template
	// lacks): the stored client, secret and token URL are reused.
	r = startAuthorize(t, env, "", "acme", "--port", "0", "--auth-url", srv.URL+"/authorize")
	if status, _ := testutil.Browse(t, r.firstLine(t)); status != http.StatusOK {
		t.Fatalf("re-authorize: browser got %d", status)
	}
	if res := r.wait(t); res.code != 0 {
		t.Fatalf("re-authorize: %s", res)
	}
	granted = mp.Authorized()
	if row := getRow(t, c, "acme"); len(granted) != 2 || str(row.AccessToken) != granted[1].AccessToken || row.Version != 2 {
		t.Errorf("after re-authorize: row %+v, issued %+v", row, granted)
	}
}

func TestAuthorizeRefusesWrongState(t *testing.T) {
	t.Parallel()
	mp, srv, env := authorizeSetup(t, mockprovider.Options{})
	r := startAuthorize(t, env, "cs-SECRET-x\n", "acme", "--provider", "oauth2", "--port", "0",
		"--auth-url", srv.URL+"/authorize", "--token-url", srv.URL+"/token", "--client-id", "cid")
	u, _ := url.Parse(r.firstLine(t))
	status, _ := testutil.Browse(t, u.Query().Get("redirect_uri")+"?code=forged&state=forged")
	if status != http.StatusBadRequest {
		t.Errorf("forged redirect answered %d", status)
	}
	res := r.wait(t)
	if res.code != 1 || !strings.Contains(res.oneLine(t), "state does not match") {
		t.Fatalf("authorize: %s", res)
	}
	if n := count(t, connect(t, env["DATABASE_URL"])); n != 0 || mp.Calls() != 0 {
		t.Errorf("rows %d, token requests %d after a forged redirect", n, mp.Calls())
	}
}

func TestAuthorizeAccessDenied(t *testing.T) {
	t.Parallel()
	mp, srv, env := authorizeSetup(t, mockprovider.Options{})
	mp.DenyAuthorization(true)
	// The secret may come from the environment instead of standard input.
	env["TOKENS_CLIENT_SECRET"] = "cs-SECRET-env"
	r := startAuthorize(t, env, "", "acme", "--provider", "oauth2", "--port", "0",
		"--auth-url", srv.URL+"/authorize", "--token-url", srv.URL+"/token", "--client-id", "cid")
	testutil.Browse(t, r.firstLine(t))
	res := r.wait(t)
	if res.code != 1 || !strings.Contains(res.oneLine(t), "access_denied") {
		t.Fatalf("authorize: %s", res)
	}
	if n := count(t, connect(t, env["DATABASE_URL"])); n != 0 {
		t.Errorf("%d rows after a refusal", n)
	}
}

func TestAuthorizeUsage(t *testing.T) {
	t.Parallel()
	env := envFor(pgtest.New(t))
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"authorize"}, 2, "one connection name"},
		{[]string{"authorize", "a", "--timeout", "0s"}, 2, "--timeout"},
		{[]string{"authorize", "a", "--port", "70000"}, 2, "--port"},
		{[]string{"authorize", "a", "--params", "[1]"}, 2, "--params"},
		{[]string{"authorize", "a", "--client-secret", "x"}, 2, "client-secret"},
		{[]string{"authorize", "a", "--provider", "nope"}, 1, "unknown provider"},
		{[]string{"authorize", "a", "--client-id", "cid", "--token-url", "https://x/token"}, 1, "--auth-url"},
		{[]string{"authorize", "a", "--auth-url", "https://x/a", "--token-url", "https://x/token"}, 1, "client ID"},
		{[]string{"authorize", "a", "--provider", "xero", "--client-id", "cid"}, 1, "client secret"},
	} {
		res := run(t, env, "", tc.args...)
		if res.code != tc.code || !strings.Contains(res.oneLine(t), tc.want) {
			t.Errorf("%v: %s; want exit %d mentioning %q", tc.args, res, tc.code, tc.want)
		}
	}
}

// TestWebhookThenAuthorize follows a connection the provider revoked: the
// worker posts a signed needs_reauth event, and `worker authorize NAME`
// (re-using the stored client) brings it back.
func TestWebhookThenAuthorize(t *testing.T) {
	t.Parallel()
	const whSecret = "whsec-SECRET"
	events := make(chan webhook.Event, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !webhook.Verify([]byte(whSecret), body, r.Header.Get(webhook.SignatureHeader)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if strings.Contains(string(body), "SECRET") {
			t.Errorf("webhook body holds a secret: %s", body)
		}
		var ev webhook.Event
		_ = json.Unmarshal(body, &ev)
		events <- ev
	}))
	t.Cleanup(hook.Close)
	mp, srv, env := authorizeSetup(t, mockprovider.Options{Rotate: true})
	env["TOKENS_WEBHOOK_URL"] = hook.URL
	env["TOKENS_WEBHOOK_SECRET"] = whSecret
	const rt = "rt-SECRET-revoked"
	mustRun(t, env, record("gone", srv.URL+"/token", "at-SECRET-gone", rt, `"expires_at":"2020-01-01T00:00:00Z"`), "import")
	mp.Revoke(rt)
	if r := run(t, env, "", "once"); r.code == 0 {
		t.Fatalf("once: %s", r)
	}
	select {
	case ev := <-events:
		if ev.Event != "needs_reauth" || ev.Name != "gone" || ev.Provider != "oauth2" || ev.Failures != 1 ||
			!strings.Contains(ev.LastError, "invalid_grant") {
			t.Errorf("event %+v", ev)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook event")
	}

	r := startAuthorize(t, env, "", "gone", "--port", "0", "--auth-url", srv.URL+"/authorize")
	if status, _ := testutil.Browse(t, r.firstLine(t)); status != http.StatusOK {
		t.Fatalf("browser got %d", status)
	}
	if res := r.wait(t); res.code != 0 {
		t.Fatalf("authorize: %s", res)
	}
	row := getRow(t, connect(t, env["DATABASE_URL"]), "gone")
	if granted := mp.Authorized(); row.Status != "active" || row.FailureCount != 0 || len(granted) != 1 ||
		str(row.RefreshToken) != granted[0].RefreshToken {
		t.Errorf("after authorize: %+v", row)
	}
}
