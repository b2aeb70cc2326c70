package refresh_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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

// clientCredentialsProvider is a mock provider whose client is app-id /
// app-secret.
var clientCredentialsProvider = mockprovider.Options{ClientID: "app-id", ClientSecret: "app-secret", Lifetime: time.Hour}

// importClientCredentials imports, through the import file's parser as
// `worker import` does, client_credentials connections with the given
// secret and no token at all.
func (e *env) importClientCredentials(t *testing.T, secret string, names ...string) {
	t.Helper()
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, `{"name":%q,"grant":"client_credentials","token_url":%q,"client_id":"app-id","client_secret":%q,`+
			`"scopes":"read write","params":{"audience":"https://api.example"}}`+"\n", n, e.srv.URL+"/token", secret)
	}
	rows, err := connfile.Parse(strings.NewReader(b.String()), provider.NewCatalogue(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.Import(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
}

func TestClientCredentialsConnectionIsObtainedAndServed(t *testing.T) {
	t.Parallel()
	e := setup(t, clientCredentialsProvider)
	e.importClientCredentials(t, "app-secret", "app")

	c, err := tokens.Open(t.Context(), e.dsn, &tokens.Options{PollInterval: time.Hour, WaitTimeout: time.Hour, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	// Before the worker's pass the consumer waits, as for a refresh token:
	// the connection has no refresh token, and needs none.
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
	if stats := pass(t, e.worker(refresh.Config{})); stats.Claimed != 1 || stats.Refreshed != 1 {
		t.Fatalf("stats = %+v, want one claimed and obtained", stats)
	}
	grants := e.prov.ClientGrants()
	if len(grants) != 1 {
		t.Fatalf("provider answered %d client_credentials requests, want 1", len(grants))
	}
	g := grants[0]
	if g.GrantType != "client_credentials" || g.Scope != "read write" || g.Params.Get("audience") != "https://api.example" {
		t.Fatalf("request: grant %q scope %q params %v", g.GrantType, g.Scope, g.Params)
	}
	select {
	case err := <-got:
		if err != nil || tok.AccessToken != g.AccessToken {
			t.Fatalf("consumer Get = %v, token matches the provider's: %v", err, err == nil && tok.AccessToken == g.AccessToken)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the consumer was not woken by the new token")
	}
	r := e.row(t, "app")
	if r.Grant != model.GrantClientCredentials || r.RefreshToken != nil || r.Status != model.StatusActive ||
		r.AccessTokenExpires.Before(time.Now().Add(50*time.Minute)) || r.Version != 1 {
		t.Fatalf("row: grant %q refresh token %v status %s expiry %v version %d", r.Grant, r.RefreshToken != nil, r.Status, r.AccessTokenExpires, r.Version)
	}
	// Obtained once per lifetime: the next pass has nothing to do.
	if stats := pass(t, e.worker(refresh.Config{})); stats.Claimed != 0 || e.prov.Calls() != 1 {
		t.Fatalf("second pass claimed %d, provider calls %d; want 0 and 1", stats.Claimed, e.prov.Calls())
	}
}

func TestRefusedClientCredentialsNeedReauth(t *testing.T) {
	t.Parallel()
	e := setup(t, clientCredentialsProvider)
	e.importClientCredentials(t, "wrong-secret", "app")
	w := e.worker(refresh.Config{})

	if stats := pass(t, w); stats.Reauth != 1 {
		t.Fatalf("stats = %+v, want one needs_reauth", stats)
	}
	r := e.row(t, "app")
	if r.Status != model.StatusNeedsReauth || !strings.Contains(store.Str(r.LastError), "invalid_client") {
		t.Fatalf("status=%s last_error=%q", r.Status, store.Str(r.LastError))
	}
	if strings.Contains(store.Str(r.LastError), "wrong-secret") {
		t.Fatal("last_error holds the client secret")
	}
	if stats := pass(t, w); stats.Claimed != 0 || e.prov.Calls() != 1 {
		t.Fatalf("second pass claimed %d, provider calls %d; want 0 and 1", stats.Claimed, e.prov.Calls())
	}
}

func TestRacingWorkersObtainEachClientCredentialsTokenOnce(t *testing.T) {
	t.Parallel()
	opts := clientCredentialsProvider
	opts.Latency = time.Millisecond
	e := setup(t, opts)
	names := make([]string, 50)
	for i := range names {
		names[i] = fmt.Sprintf("app-%02d", i)
	}
	e.importClientCredentials(t, "app-secret", names...)

	var wg sync.WaitGroup
	results := make([]refresh.Stats, 2)
	for i := range results {
		// Each worker has its own pool, as separate replicas do.
		st, err := store.Open(t.Context(), e.dsn, 3)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		w := e.workerOn(st, refresh.Config{Concurrency: 4, ClaimBatch: 5})
		wg.Go(func() { results[i], _ = w.Pass(t.Context()) })
	}
	wg.Wait()
	total := results[0].Refreshed + results[1].Refreshed
	if total != 50 || e.prov.Calls() != 50 || results[0].Errors()+results[1].Errors() != 0 {
		t.Fatalf("obtained %d, provider calls %d, stats %+v; want 50 and 50", total, e.prov.Calls(), results)
	}
	issued := map[string]bool{}
	for _, g := range e.prov.ClientGrants() {
		issued[g.AccessToken] = true
	}
	for _, n := range names {
		if r := e.row(t, n); !issued[r.AccessToken.Reveal()] || r.Version != 1 {
			t.Fatalf("%s: holds a token the provider did not issue, or version %d", n, r.Version)
		}
	}
}

// A worker stalls past its lease while obtaining a client_credentials
// token; another takes the row over and stores its own. The stalled
// worker's late answer is fenced, as a late refresh is.
func TestLateClientCredentialsTokenOfATakenOverClaimIsFenced(t *testing.T) {
	t.Parallel()
	e := setup(t, clientCredentialsProvider)
	arrived, proceed := make(chan struct{}, 1), make(chan struct{})
	gated := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-proceed
		e.prov.ServeHTTP(w, r)
	}))
	defer gated.Close()
	e.srv = gated
	e.importClientCredentials(t, "app-secret", "app")

	stalled := e.worker(refresh.Config{})
	done := make(chan refresh.Stats, 1)
	go func() {
		stats, _ := stalled.Pass(t.Context())
		done <- stats
	}()
	<-arrived

	e.exec(t, "UPDATE oauth_tokens SET updating_until = now() - interval '1 second'")
	claimed, err := e.st.Claim(t.Context(), 1, 5*time.Minute, time.Minute)
	if err != nil || len(claimed) != 1 || !claimed[0].TakenOver || claimed[0].Grant != model.GrantClientCredentials {
		t.Fatalf("takeover: %v %v", claimed, err)
	}
	exp := time.Now().Add(time.Hour)
	if _, err := e.st.StoreSuccesses(t.Context(), []store.Success{{ID: claimed[0].ID, ClaimID: *claimed[0].ClaimID,
		Name: "app", AccessToken: "at-second-worker", AccessTokenExpires: &exp}}, 5*time.Minute); err != nil {
		t.Fatal(err)
	}

	close(proceed)
	if stats := <-done; stats.Fenced != 1 || stats.Refreshed != 0 {
		t.Fatalf("stalled worker's stats = %+v, want its write fenced", stats)
	}
	if r := e.row(t, "app"); r.AccessToken.Reveal() != "at-second-worker" || r.Version != 1 || r.RefreshToken != nil {
		t.Fatalf("the late write landed: version %d", r.Version)
	}
}
