package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// echoProvider answers every token request with (a part of) the request it
// received, headers and body: the path names the answer's shape and the
// part, e.g. /json/headers. One part at a time, because a description is
// cut to a bounded length and each part must come first to be seen whole.
func echoProvider(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	asJSON, _ := json.Marshal(form)
	var headers strings.Builder
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&headers, "%s: %s\n", k, strings.Join(r.Header[k], ","))
	}
	user, pass, _ := r.BasicAuth()
	parts := map[string]string{
		"headers": headers.String(),
		"body":    string(body),
		"json":    string(asJSON),
		"basic":   user + ":" + pass,
		"all":     headers.String() + "\n" + string(body) + "\n" + string(asJSON) + "\n" + user + ":" + pass,
	}
	shape, part, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	d := parts[part]
	switch shape {
	case "json": // a dead grant: needs_reauth at once, with a webhook
		desc, _ := json.Marshal(d)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"invalid_grant","error_description":%s}`, desc)
	case "form":
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, "error=invalid_request&error_description="+url.QueryEscape(d))
	case "html":
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<html><body><h1>Bad gateway</h1><pre>"+d+"</pre></body></html>")
	}
}

// hookRecorder keeps the bodies of the webhook requests it receives.
type hookRecorder struct {
	mu     sync.Mutex
	bodies []string
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, string(b))
	h.mu.Unlock()
}

func (h *hookRecorder) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

// A provider that echoes the whole request in its errors, with the client
// authenticated by a Basic header or by form fields, gets no secret in any
// form (raw, URL-encoded, base64 Basic, JSON-escaped) nor any part of one
// into anything the worker writes or sends: last_error, the events, the
// webhook, the logs, `worker list` and `worker events`.
func TestEchoingProviderLeaksNoSecretAnywhere(t *testing.T) {
	t.Parallel()
	for _, style := range []string{"basic", "post"} {
		t.Run(style, func(t *testing.T) {
			t.Parallel()
			dsn := pgtest.New(t)
			echo := httptest.NewServer(http.HandlerFunc(echoProvider))
			t.Cleanup(echo.Close)
			hooks := &hookRecorder{}
			hook := httptest.NewServer(hooks)
			t.Cleanup(hook.Close)
			env := envFor(dsn)
			env["TOKENS_WEBHOOK_URL"] = hook.URL
			env["TOKENS_WEBHOOK_SECRET"] = "whsec"

			// Secrets whose encodings all differ (reserved characters,
			// HTML-escaped ones, a quote, a backslash, non-ASCII), and a
			// client id that changes when URL-encoded.
			clientID := "app:1/ü"
			var forms []string
			var file strings.Builder
			var names []string
			for _, path := range []string{"json/headers", "json/body", "json/json", "json/basic", "form/body", "form/headers", "html/all"} {
				name := strings.ReplaceAll(path, "/", "-")
				names = append(names, name)
				secret := `cs-SECRET/+=&<>"\ü-` + randHex(t)
				rt := "rt-SECRET/+=&<>ü-" + strings.Repeat(randHex(t), 12)
				forms = append(forms, testutil.SecretForms(clientID, secret, rt)...)
				rec, _ := json.Marshal(map[string]any{"name": name, "token_url": echo.URL + "/" + path, "auth_style": style,
					"client_id": clientID, "client_secret": secret, "access_token": "at-SECRET-" + randHex(t), "refresh_token": rt, "expires_in": 1})
				file.Write(rec)
				file.WriteString("\n")
			}

			var texts []string
			do := func(stdin string, args ...string) {
				r := run(t, env, stdin, args...)
				texts = append(texts, r.stdout, r.stderr)
			}
			do(file.String(), "import", "-")
			do("", "once")
			do("", "refresh", "form-body")
			do("", "list")
			do("", "list", "--json")
			for _, n := range names {
				do("", "events", n)
				do("", "events", n, "--json")
			}

			c := connect(t, dsn)
			rows, err := c.Query(context.Background(), `SELECT name, COALESCE(last_error, '') FROM oauth_tokens
				UNION ALL SELECT name, COALESCE(error, '') FROM oauth_token_events`)
			if err != nil {
				t.Fatal(err)
			}
			redacted := 0
			for rows.Next() {
				var name, text string
				if err := rows.Scan(&name, &text); err != nil {
					t.Fatal(err)
				}
				if text == "" {
					t.Errorf("%s: no error recorded", name)
				}
				redacted += strings.Count(text, "[REDACTED]")
				texts = append(texts, text)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			sent := hooks.all()
			if len(sent) < 4 {
				t.Fatalf("%d webhook events; want one per dead grant", len(sent))
			}
			texts = append(texts, sent...)
			// The echo reached the errors, or the test proves nothing.
			if redacted < 4 {
				t.Fatalf("only %d redactions in last_error and events: the echo did not reach them", redacted)
			}
			for _, text := range texts {
				if leak := testutil.Leaked(text, forms); leak != "" {
					t.Errorf("%q of a secret leaked in:\n%s", leak, text)
				}
			}
		})
	}
}
