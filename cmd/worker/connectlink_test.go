package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/apikey"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// connect-link prints the link as its first line and its expiry next;
// it is refused, in one line and before anything is written, without
// TOKENS_PUBLIC_URL, for an unknown connection or a ttl out of range.
func TestConnectLinkCommand(t *testing.T) {
	t.Parallel()
	_, srv, env := authorizeSetup(t, mockprovider.Options{})
	env["TOKENS_PUBLIC_URL"] = "https://tw.example/"
	mustRun(t, env, record("acme", srv.URL+"/token", "at-SECRET-a", "rt-SECRET-a",
		`"authorize_url":"`+srv.URL+`/authorize","status":"needs_reauth"`), "import")

	r := mustRun(t, env, "", "connect-link", "acme", "--ttl", "2h")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "https://tw.example/connect/") || len(lines[0]) < len("https://tw.example/connect/")+43 ||
		!strings.HasPrefix(lines[1], "expires ") {
		t.Fatalf("stdout %q: want the link, then its expiry", r.stdout)
	}
	exp, err := time.Parse(time.RFC3339, strings.Fields(lines[1])[1])
	if err != nil || time.Until(exp) < 119*time.Minute || time.Until(exp) > 121*time.Minute {
		t.Fatalf("expiry %q, want in 2h (%v)", lines[1], err)
	}

	c := connect(t, env["DATABASE_URL"])
	links := func() int {
		var n int
		if err := c.QueryRow(t.Context(), "SELECT count(*) FROM connect_links").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{[]string{"connect-link"}, nil, 2, "name"},
		{[]string{"connect-link", "missing"}, nil, 1, "no such connection"},
		{[]string{"connect-link", "acme", "--ttl", "200h"}, nil, 1, "between 1m and"},
		{[]string{"connect-link", "acme", "--ttl", "0s"}, nil, 2, "--ttl must be positive"},
		{[]string{"connect-link", "acme"}, map[string]string{"TOKENS_PUBLIC_URL": ""}, 1, "TOKENS_PUBLIC_URL is not set"},
	} {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		for k, v := range tc.env {
			e[k] = v
		}
		r := run(t, e, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.oneLine(t), tc.want) {
			t.Errorf("worker %s: %s; want exit %d mentioning %q", strings.Join(tc.args, " "), r, tc.code, tc.want)
		}
	}
	if n := links(); n != 1 {
		t.Fatalf("%d links stored, want only the first", n)
	}

	// export carries authorize_url, and import reads it back.
	out := mustRun(t, env, "", "export").stdout
	if !strings.Contains(out, `"authorize_url":"`+srv.URL+`/authorize"`) {
		t.Fatalf("export lost authorize_url: %s", out)
	}
	r = run(t, env, `{"name":"bad","authorize_url":"ftp://x.example/auth"}`, "import")
	if r.code == 0 || !strings.Contains(r.oneLine(t), "authorize_url") {
		t.Fatalf("a bad authorize_url was imported: %s", r)
	}
	r = run(t, env, `{"name":"bad","authorize_url":"http://login.example/auth","refresh_token":"rt-SECRET-b","token_url":"https://x.example/t"}`, "import")
	if r.code == 0 || !strings.Contains(r.oneLine(t), "authorize_url") {
		t.Fatalf("a plain-http authorize_url off loopback was imported: %s", r)
	}
}

// `worker authorize NAME` of a connection with an authorize_url needs no
// --auth-url.
func TestAuthorizeUsesTheStoredAuthorizeURL(t *testing.T) {
	t.Parallel()
	const clientSecret = "cs-SECRET-auth"
	mp, srv, env := authorizeSetup(t, mockprovider.Options{ClientID: "cid", ClientSecret: clientSecret})
	mustRun(t, env, `{"name":"acme","token_url":"`+srv.URL+`/token","authorize_url":"`+srv.URL+`/authorize","client_id":"cid","status":"needs_reauth"}`, "import")
	r := startAuthorize(t, env, clientSecret+"\n", "acme", "--port", "0")
	first := r.firstLine(t)
	if !strings.HasPrefix(first, srv.URL+"/authorize?") {
		t.Fatalf("first line %q is not the stored authorization URL", first)
	}
	if status, _ := testutil.Browse(t, first); status != http.StatusOK {
		t.Fatalf("browser got %d", status)
	}
	if res := r.wait(t); res.code != 0 {
		t.Fatalf("authorize: %s", res)
	}
	if row := getRow(t, connect(t, env["DATABASE_URL"]), "acme"); row.Status != "active" || str(row.AccessToken) != mp.Authorized()[0].AccessToken {
		t.Fatalf("row %+v", row)
	}
}

// An admin key is made with --admin alone, is listed as admin, and reads
// no token.
func TestAdminAPIKeyCommand(t *testing.T) {
	t.Parallel()
	env := envFor(pgtest.New(t))
	for _, args := range [][]string{{"apikey", "create", "--admin", "--names", "x-*"}} {
		if r := run(t, env, "", args...); r.code != 2 {
			t.Errorf("worker %s: %s; want exit 2", strings.Join(args, " "), r)
		}
	}
	r := mustRun(t, env, "", "apikey", "create", "--admin", "--label", "ops")
	key := strings.TrimSuffix(r.stdout, "\n")
	id, ok := apikey.ID(key)
	if !ok || !strings.Contains(r.stderr, "admin key "+id) {
		t.Fatalf("apikey create --admin: %s", r)
	}
	mustRun(t, env, "", "apikey", "create", "--names", "xero-*")
	table := mustRun(t, env, "", "apikey", "list").stdout
	if !strings.Contains(table, "KIND") || !strings.Contains(lineOf(table, id), "admin") || strings.Count(table, " token ") != 1 {
		t.Fatalf("apikey list does not mark the admin key:\n%s", table)
	}
	var entries []struct {
		ID       string   `json:"id"`
		Admin    bool     `json:"admin"`
		Patterns []string `json:"patterns"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, env, "", "apikey", "list", "--json").stdout), &entries); err != nil {
		t.Fatal(err)
	}
	admins := 0
	for _, e := range entries {
		if e.Admin {
			admins++
			if e.ID != id || len(e.Patterns) != 0 {
				t.Fatalf("admin entry %+v", e)
			}
		}
	}
	if admins != 1 || len(entries) != 2 {
		t.Fatalf("entries %+v", entries)
	}
}

func lineOf(s, sub string) string {
	line, _ := lineWith(s, sub)
	return line
}
