package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// jsonLines writes records as an import file.
func jsonLines(recs ...map[string]any) string {
	var b strings.Builder
	for _, r := range recs {
		line, _ := json.Marshal(r)
		b.Write(append(line, '\n'))
	}
	return b.String()
}

// grantsSetup imports one connection of each grant without a refresh
// token, at mock providers: cc (Salesforce client credentials), jwt
// (Salesforce JWT bearer, whose audience is the template's) and gh (a
// GitHub App installation). Their validation requests go to the mocks.
func grantsSetup(t *testing.T) (map[string]string, string, string) {
	t.Helper()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	key, keyPEM := testutil.RSAKey(t)
	_, ccURL := newProvider(t, mockprovider.Options{ClientID: "sf-consumer", ClientSecret: "sf-cs-SECRET"})
	_, keyURL := newProvider(t, mockprovider.Options{
		JWT:    &mockprovider.JWTOptions{Key: &key.PublicKey, Issuer: "sf-consumer", Audience: "https://login.salesforce.com", Subject: "integration@acme.example"},
		GitHub: &mockprovider.GitHubOptions{Key: &key.PublicKey, AppID: "4242", Installations: []string{"77"}}})
	ccBase, keyBase := strings.TrimSuffix(ccURL, "/token"), strings.TrimSuffix(keyURL, "/token")
	mustRun(t, env, jsonLines(
		map[string]any{"name": "cc", "provider": "salesforce", "grant": "client_credentials", "token_url": ccURL,
			"client_id": "sf-consumer", "client_secret": "sf-cs-SECRET", "params": map[string]string{"instance_url": ccBase}},
		map[string]any{"name": "jwt", "provider": "salesforce", "grant": "jwt_bearer", "token_url": keyURL,
			"client_id": "sf-consumer", "client_secret": keyPEM, "params": map[string]string{"subject": "integration@acme.example", "instance_url": keyBase}},
		map[string]any{"name": "gh", "provider": "github_app", "grant": "github_app", "client_secret": keyPEM,
			"params": map[string]string{"app_id": "4242", "installation_id": "77", "api_base_url": keyBase}},
	), "import", "-")
	return env, dsn, keyPEM
}

// `worker check` asks the provider about the token each grant obtained,
// through the template's validation request, and says so when the provider
// refuses one.
func TestCheckEveryGrant(t *testing.T) {
	t.Parallel()
	env, dsn, keyPEM := grantsSetup(t)
	mustRun(t, env, "", "once")
	for _, name := range []string{"cc", "jwt", "gh"} {
		r := mustRun(t, env, "", "check", name)
		if !strings.Contains(r.stdout, name+": the provider accepts the access token (HTTP 200") {
			t.Fatalf("check %s: %s", name, r)
		}
		r.leaks(t, keyPEM, "sf-cs-SECRET", "BEGIN PRIVATE KEY")
	}
	c := connect(t, dsn)
	if _, err := c.Exec(context.Background(), "UPDATE oauth_tokens SET access_token = 'at-forged' WHERE name = 'gh'"); err != nil {
		t.Fatal(err)
	}
	r := run(t, env, "", "check", "gh")
	if r.code == 0 || !strings.Contains(r.lastLine(), "check gh: the provider refused the access token (HTTP 401") {
		t.Fatalf("check of a token the provider does not know: %s", r)
	}
}

// `worker authorize` refuses, in one line and before anything else, a
// connection whose grant needs no browser, and a template that has no
// browser authorization.
func TestAuthorizeRefusesMachineGrants(t *testing.T) {
	t.Parallel()
	env, dsn, _ := grantsSetup(t)
	c := connect(t, dsn)
	before := snapshot(t, c)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"authorize", "cc"}, "authorize cc: its grant is client_credentials, which obtains tokens with the connection's own credentials and needs no browser"},
		{[]string{"authorize", "jwt"}, "authorize jwt: its grant is jwt_bearer"},
		{[]string{"authorize", "gh"}, "authorize gh: its grant is github_app"},
		{[]string{"authorize", "new", "--provider", "google_service_account", "--client-id", "x"}, "provider google_service_account has no browser authorization; its grants are jwt_bearer"},
	} {
		r := run(t, env, "", tc.args...)
		if r.code == 0 || !strings.Contains(r.oneLine(t), tc.want) || r.stdout != "" {
			t.Errorf("%v: %s, want %q", tc.args, r, tc.want)
		}
	}
	if after := snapshot(t, c); after != before {
		t.Fatal("a refused authorize changed the table")
	}
}

// `worker import --from google-service-account KEY.json` takes the
// downloaded key as it is; the next pass obtains the account's token, and
// the key is sealed away from export. A file that is not a key is refused
// in one line that names it.
func TestImportGoogleServiceAccount(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	env["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k1")
	srv := httptest.NewUnstartedServer(nil)
	tokenURL := "http://" + srv.Listener.Addr().String() + "/token"
	key, keyPEM := testutil.RSAKey(t)
	mp := mockprovider.New(mockprovider.Options{JWT: &mockprovider.JWTOptions{Key: &key.PublicKey, Issuer: "sa@acme.iam.gserviceaccount.com", Audience: tokenURL}})
	srv.Config.Handler = mp
	srv.Start()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "acme-0123.json")
	data, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "acme", "private_key_id": "0123",
		"private_key": keyPEM, "client_email": "sa@acme.iam.gserviceaccount.com", "token_uri": tokenURL})
	if err := os.WriteFile(keyFile, data, 0o600); err != nil {
		t.Fatal(err)
	}

	r := mustRun(t, env, "", "import", "--from", "google-service-account", keyFile, "--name", "gsa", "--scopes", "https://www.googleapis.com/auth/cloud-platform")
	if !strings.Contains(r.stdout, "imported 1 connection(s)") {
		t.Fatalf("import: %s", r)
	}
	mustRun(t, env, "", "once")
	grants := mp.ClientGrants()
	c := connect(t, dsn)
	row := getRow(t, c, "gsa")
	if len(grants) != 1 || grants[0].Scope != "https://www.googleapis.com/auth/cloud-platform" || row.Status != "active" {
		t.Fatalf("after once: %d grants %+v, status %s", len(grants), grants, row.Status)
	}
	exported := mustRun(t, env, "", "export")
	exported.leaks(t, "PRIVATE KEY", keyPEM)

	user := filepath.Join(dir, "user.json")
	if err := os.WriteFile(user, []byte(`{"type":"authorized_user","client_secret":"cs-SECRET","refresh_token":"rt-SECRET"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"import", "--from", "google-service-account", user, "--name", "g2", "--scopes", "s"},
		{"import", "--from", "google-service-account", keyFile, "--file", keyFile, "--name", "g2", "--scopes", "s"},
		{"import", "--from", "nifi-xero", keyFile},
	} {
		r := run(t, env, "", args...)
		if r.code == 0 || r.lastLine() == "" {
			t.Errorf("%v: %s", args, r)
		}
		r.leaks(t, "cs-SECRET", "rt-SECRET")
	}
	if r := run(t, env, "", "import", "--from", "google-service-account", user, "--name", "g2", "--scopes", "s"); !strings.Contains(r.oneLine(t), user+": not a Google service account key") {
		t.Errorf("refusal does not name the file: %s", r)
	}
	if n := count(t, c); n != 1 {
		t.Fatalf("%d rows after refused imports, want 1", n)
	}
}

// `worker providers` says which grants each template takes.
func TestProvidersListsGrants(t *testing.T) {
	t.Parallel()
	r := mustRun(t, envFor(pgtest.New(t)), "", "providers")
	lines := map[string][]string{}
	for _, line := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			lines[f[0]] = f
		}
	}
	for name, grants := range map[string]string{"PROVIDER": "GRANTS", "github_app": "github_app", "salesforce": "refresh_token,client_credentials,jwt_bearer", "hubspot": "refresh_token"} {
		if f := lines[name]; len(f) < 5 || !strings.Contains(strings.Join(f, " "), " "+grants+" ") {
			t.Errorf("%s: %q, want grants %s", name, f, grants)
		}
	}
}

// Every grant survives `worker export --include-secrets` and `worker
// import` into another database, keys and all: there the next pass obtains
// each connection's token. Without --include-secrets no key is written.
func TestExportImportKeepsEveryGrant(t *testing.T) {
	t.Parallel()
	env, _, keyPEM := grantsSetup(t)
	plain := mustRun(t, env, "", "export")
	plain.leaks(t, "PRIVATE KEY", "sf-cs-SECRET")
	if n := strings.Count(plain.stdout, `"grant":`); n != 3 {
		t.Fatalf("export without secrets: %d grants, want 3:\n%s", n, plain.stdout)
	}
	file := filepath.Join(t.TempDir(), "export.jsonl")
	mustRun(t, env, "", "export", "--include-secrets", "-o", file)
	full, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(full), `"grant":"github_app"`) || !strings.Contains(string(full), "BEGIN PRIVATE KEY") {
		t.Fatalf("export --include-secrets lacks a grant or the key (%v)", err)
	}

	dsn2 := pgtest.New(t)
	env2 := envFor(dsn2)
	env2["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k1")
	mustRun(t, env2, "", "import", file)
	mustRun(t, env2, "", "once")
	c := connect(t, dsn2)
	for _, name := range []string{"cc", "jwt", "gh"} {
		if r := getRow(t, c, name); r.Status != "active" || r.AccessToken == nil || r.Version != 1 || r.ClientSecret == nil || strings.Contains(*r.ClientSecret, "PRIVATE KEY") {
			t.Fatalf("%s after import and once: status %s version %d, key sealed: %v", name, r.Status, r.Version, r.ClientSecret != nil && !strings.Contains(*r.ClientSecret, keyPEM[:40]))
		}
	}
}
