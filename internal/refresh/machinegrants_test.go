package refresh_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/connfile"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/model"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

// machineGrants are the grants without a refresh token, each run through
// the worker against the mock provider, with the grant_type the provider
// records for it.
var machineGrants = map[string]string{
	model.GrantClientCredentials: "client_credentials",
	model.GrantJWTBearer:         "urn:ietf:params:oauth:grant-type:jwt-bearer",
	model.GrantGitHubApp:         mockprovider.GitHubGrant,
}

// machine is a mock provider that accepts every grant: the client app-id /
// app-secret, for the APIs https://api.example and Microsoft Graph only,
// one key as the jwt-bearer issuer consumer-key and as GitHub App 4242
// installed as 77.
type machine struct {
	*env
	keyPEM, otherPEM string
}

func machineSetup(t *testing.T, latency time.Duration) *machine {
	t.Helper()
	key, keyPEM := testutil.RSAKey(t)
	_, otherPEM := testutil.RSAKey(t)
	e := setup(t, mockprovider.Options{Lifetime: time.Hour, Latency: latency, ClientID: "app-id", ClientSecret: "app-secret",
		Audiences: []string{"https://api.example", "https://graph.microsoft.com"},
		JWT:       &mockprovider.JWTOptions{Key: &key.PublicKey, Issuer: "consumer-key", Audience: "https://login.example"},
		GitHub:    &mockprovider.GitHubOptions{Key: &key.PublicKey, AppID: "4242", Installations: []string{"77"}}})
	return &machine{env: e, keyPEM: keyPEM, otherPEM: otherPEM}
}

// importGrant imports, through the import file's parser as `worker import`
// does, connections of grant whose requests go to base, with no token at
// all, and with credentials the provider accepts (good) or refuses.
func (m *machine) importGrant(t *testing.T, grant, base string, good bool, names ...string) {
	t.Helper()
	recs := make([]map[string]any, 0, len(names))
	for _, n := range names {
		recs = append(recs, m.grantRecord(grant, base, good, n))
	}
	m.importRecords(t, recs...)
}

// grantRecord is the import record of importGrant's connection name.
func (m *machine) grantRecord(grant, base string, good bool, name string) map[string]any {
	rec := map[string]any{"name": name, "grant": grant, "client_secret": m.keyPEM}
	if !good {
		rec["client_secret"] = m.otherPEM
	}
	switch grant {
	case model.GrantClientCredentials:
		rec["token_url"], rec["client_id"], rec["client_secret"], rec["scopes"] = base+"/token", "app-id", "app-secret", "read write"
		if !good {
			rec["client_secret"] = "wrong-secret"
		}
		rec["params"] = map[string]string{"audience": "https://api.example"}
	case model.GrantJWTBearer:
		rec["token_url"], rec["client_id"], rec["scopes"] = base+"/token", "consumer-key", "api"
		rec["params"] = map[string]string{"audience": "https://login.example"}
	case model.GrantGitHubApp:
		rec["provider"] = "github_app"
		rec["params"] = map[string]string{"app_id": "4242", "installation_id": "77", "api_base_url": base}
	}
	return rec
}

// importRecords imports recs through the import file's parser and endpoint
// check, as `worker import` does.
func (m *machine) importRecords(t *testing.T, recs ...map[string]any) {
	t.Helper()
	var b strings.Builder
	for _, rec := range recs {
		line, _ := json.Marshal(rec)
		b.Write(append(line, '\n'))
	}
	rows, err := connfile.Parse(strings.NewReader(b.String()), provider.NewCatalogue(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := connfile.CheckEndpoints(1, rows, nil, provider.NewCatalogue(), provider.EndpointPolicy{}); err != nil {
		t.Fatal(err)
	}
	if err := m.st.Import(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
}

// issued is the set of access tokens the provider handed out.
func (m *machine) issued() map[string]bool {
	set := map[string]bool{}
	for _, g := range m.prov.ClientGrants() {
		set[g.AccessToken] = true
	}
	return set
}

// A consumer asking for a connection of a grant without a refresh token
// before its first token waits, and is woken by the token the worker
// obtains, once per lifetime; the request is the grant's, with the
// connection's scopes and parameters.
func TestMachineGrantConsumersWaitAndWake(t *testing.T) {
	t.Parallel()
	for grant := range machineGrants {
		t.Run(grant, func(t *testing.T) {
			t.Parallel()
			m := machineSetup(t, 0)
			m.importGrant(t, grant, m.srv.URL, true, "app")
			c, err := tokens.Open(t.Context(), m.dsn, &tokens.Options{PollInterval: time.Hour, WaitTimeout: time.Hour, Logger: testutil.Quiet()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			_, err = c.Get(short, "app")
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Get before the first token = %v, want it to wait", err)
			}

			got := make(chan error, 1)
			var tok *tokens.Token
			go func() {
				var err error
				tok, err = c.Get(t.Context(), "app")
				got <- err
			}()
			if stats := pass(t, m.worker(refresh.Config{})); stats.Claimed != 1 || stats.Refreshed != 1 {
				t.Fatalf("stats = %+v, want one claimed and obtained", stats)
			}
			grants := m.prov.ClientGrants()
			if len(grants) != 1 || grants[0].GrantType != machineGrants[grant] {
				t.Fatalf("provider answered %+v, want one %s", grants, machineGrants[grant])
			}
			if g := grants[0]; grant == model.GrantClientCredentials && (g.Scope != "read write" || g.Params.Get("audience") != "https://api.example") {
				t.Fatalf("request: scope %q params %v", g.Scope, g.Params)
			}
			select {
			case err := <-got:
				if err != nil || tok.AccessToken != grants[0].AccessToken {
					t.Fatalf("consumer Get = %v; token matches the provider's: %v", err, err == nil && tok.AccessToken == grants[0].AccessToken)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the consumer was not woken by the new token")
			}
			r := m.row(t, "app")
			if r.Grant != grant || r.RefreshToken != nil || r.Status != model.StatusActive || r.Version != 1 ||
				r.AccessTokenExpires == nil || r.AccessTokenExpires.Before(time.Now().Add(50*time.Minute)) {
				t.Fatalf("row: grant %q refresh token %v status %s expiry %v version %d", r.Grant, r.RefreshToken != nil, r.Status, r.AccessTokenExpires, r.Version)
			}
			if stats := pass(t, m.worker(refresh.Config{})); stats.Claimed != 0 || m.prov.Calls() != 1 {
				t.Fatalf("second pass claimed %d, provider calls %d; want 0 and 1", stats.Claimed, m.prov.Calls())
			}
		})
	}
}

// Two workers on one database, as two replicas, obtain each connection's
// token exactly once per expiry: once at first, once more after every
// token has expired.
func TestMachineGrantReplicasExchangeOncePerExpiry(t *testing.T) {
	t.Parallel()
	for grant := range machineGrants {
		t.Run(grant, func(t *testing.T) {
			t.Parallel()
			m := machineSetup(t, time.Millisecond)
			names := make([]string, 30)
			for i := range names {
				names[i] = fmt.Sprintf("app-%02d", i)
			}
			m.importGrant(t, grant, m.srv.URL, true, names...)
			workers := make([]*refresh.Worker, 2)
			for i := range workers {
				// Each worker has its own pool, as separate replicas do.
				st, err := store.Open(t.Context(), m.dsn, 3)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				workers[i] = m.workerOn(st, refresh.Config{Concurrency: 4, ClaimBatch: 5})
			}
			for expiry := 1; expiry <= 2; expiry++ {
				var wg sync.WaitGroup
				results := make([]refresh.Stats, len(workers))
				for i, w := range workers {
					wg.Go(func() { results[i], _ = w.Pass(t.Context()) })
				}
				wg.Wait()
				total := results[0].Refreshed + results[1].Refreshed
				if total != len(names) || m.prov.Calls() != int64(expiry*len(names)) || results[0].Errors()+results[1].Errors() != 0 {
					t.Fatalf("expiry %d: obtained %d, provider calls %d, stats %+v; want %d and %d", expiry, total, m.prov.Calls(), results, len(names), expiry*len(names))
				}
				issued := m.issued()
				for _, n := range names {
					if r := m.row(t, n); !issued[r.AccessToken.Reveal()] || r.Version != int64(expiry) {
						t.Fatalf("expiry %d: %s holds a token the provider did not issue, or version %d", expiry, n, r.Version)
					}
				}
				// Every token expires: the next round is due.
				m.exec(t, "UPDATE oauth_tokens SET access_token_expires = now() - interval '1 second', refresh_not_before = NULL")
			}
		})
	}
}

// A worker stalls past its lease while obtaining a token; another takes the
// row over and stores its own. The stalled worker's late token is fenced.
func TestMachineGrantLateTokenOfATakenOverClaimIsFenced(t *testing.T) {
	t.Parallel()
	for grant := range machineGrants {
		t.Run(grant, func(t *testing.T) {
			t.Parallel()
			m := machineSetup(t, 0)
			gated, arrived, proceed := stallingServer(t, m.prov)
			m.srv = gated
			m.importGrant(t, grant, gated.URL, true, "app")

			stalled := m.worker(refresh.Config{})
			done := make(chan refresh.Stats, 1)
			go func() {
				stats, _ := stalled.Pass(t.Context())
				done <- stats
			}()
			<-arrived
			exp := time.Now().Add(time.Hour)
			if c := m.takeOver(t, store.Success{Name: "app", AccessToken: "at-second-worker", AccessTokenExpires: &exp}); c.Grant != grant {
				t.Fatalf("the row taken over has grant %q", c.Grant)
			}
			close(proceed)
			if stats := <-done; stats.Fenced != 1 || stats.Refreshed != 0 {
				t.Fatalf("stalled worker's stats = %+v, want its write fenced", stats)
			}
			if r := m.row(t, "app"); r.AccessToken.Reveal() != "at-second-worker" || r.Version != 1 || r.RefreshToken != nil {
				t.Fatalf("the late write landed: version %d", r.Version)
			}
			if n := len(m.prov.ClientGrants()); n != 1 {
				t.Fatalf("provider issued %d tokens, want the stalled worker's one", n)
			}
		})
	}
}

// Credentials the provider does not accept make the connection
// needs_reauth, with an error that names the refusal and holds neither the
// secret or key nor the signed JWT; the connection is not tried again.
func TestMachineGrantRefusedCredentialsNeedReauth(t *testing.T) {
	t.Parallel()
	for grant, says := range map[string]string{model.GrantClientCredentials: "invalid_client", model.GrantJWTBearer: "invalid signature", model.GrantGitHubApp: "credentials revoked or wrong"} {
		t.Run(grant, func(t *testing.T) {
			t.Parallel()
			m := machineSetup(t, 0)
			m.importGrant(t, grant, m.srv.URL, false, "app")
			w := m.worker(refresh.Config{})
			if stats := pass(t, w); stats.Reauth != 1 {
				t.Fatalf("stats = %+v, want one needs_reauth", stats)
			}
			r := m.row(t, "app")
			lastErr := store.Str(r.LastError)
			if r.Status != model.StatusNeedsReauth || !strings.Contains(lastErr, says) {
				t.Fatalf("status=%s last_error=%q, want needs_reauth saying %q", r.Status, lastErr, says)
			}
			if strings.Contains(lastErr, "PRIVATE KEY") || strings.Contains(lastErr, "eyJ") || strings.Contains(lastErr, "wrong-secret") {
				t.Fatalf("last_error holds the secret, the key or the JWT: %q", lastErr)
			}
			if stats := pass(t, w); stats.Claimed != 0 || m.prov.Calls() != 1 {
				t.Fatalf("second pass claimed %d, provider calls %d; want 0 and 1", stats.Claimed, m.prov.Calls())
			}
		})
	}
}

// A client_credentials connection naming an API the provider does not
// serve (an audience or RFC 8707 resource: invalid_target; Microsoft's
// RESOURCE/.default scope: invalid_resource) is needs_reauth after its one
// exchange, with an error that names the refusal and holds no secret, and
// is not tried again; a connection of the same client naming a served API,
// on the same provider, obtains its token.
func TestMachineGrantWrongAudienceNeedsReauth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, says string
		wrong      map[string]any
	}{
		{"audience", "invalid_target", map[string]any{"params": map[string]string{"audience": "https://other.example"}}},
		{"resource", "invalid_target", map[string]any{"params": map[string]string{"resource": "https://other.example"}}},
		{"microsoft scope", "invalid_resource", map[string]any{"provider": "microsoft", "scopes": "https://other.example/.default",
			"params": map[string]string{"tenant": "contoso"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := machineSetup(t, 0)
			wrong := m.grantRecord(model.GrantClientCredentials, m.srv.URL, true, "wrong")
			for k, v := range tc.wrong {
				wrong[k] = v
			}
			m.importRecords(t, wrong, m.grantRecord(model.GrantClientCredentials, m.srv.URL, true, "right"))
			w := m.worker(refresh.Config{})
			if stats := pass(t, w); stats.Reauth != 1 || stats.Refreshed != 1 || m.prov.Calls() != 2 {
				t.Fatalf("stats = %+v, provider calls %d; want one needs_reauth, one obtained, two calls", stats, m.prov.Calls())
			}
			r := m.row(t, "wrong")
			lastErr := store.Str(r.LastError)
			if r.Status != model.StatusNeedsReauth || !strings.Contains(lastErr, tc.says) || !strings.Contains(lastErr, "https://other.example") {
				t.Fatalf("status=%s last_error=%q, want needs_reauth saying %s and naming the target", r.Status, lastErr, tc.says)
			}
			if leak := testutil.Leaked(lastErr, testutil.SecretForms("app-id", "app-secret")); leak != "" {
				t.Fatalf("last_error holds %q of the secret", leak)
			}
			grants := m.prov.ClientGrants()
			if r := m.row(t, "right"); r.Status != model.StatusActive || len(grants) != 1 || r.AccessToken.Reveal() != grants[0].AccessToken {
				t.Fatalf("right: status %s, provider grants %d, holds the one issued: %v", r.Status, len(grants), len(grants) == 1 && r.AccessToken.Reveal() == grants[0].AccessToken)
			}
			for range 3 {
				if stats := pass(t, w); stats.Claimed != 0 {
					t.Fatalf("a later pass claimed %d", stats.Claimed)
				}
			}
			if m.prov.Calls() != 2 {
				t.Fatalf("provider calls %d after later passes, want still 2", m.prov.Calls())
			}
		})
	}
}
