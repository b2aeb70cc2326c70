package refresh_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// lockedBuffer is safe for the goroutines under test to write to.
type lockedBuffer = testutil.Buffer

// stallingServer serves h, each request only once the test lets it: the
// request is reported on arrived, then waits for proceed to be closed. It
// stands for a provider that answers after the claim's lease ran out.
func stallingServer(t *testing.T, h http.Handler) (srv *httptest.Server, arrived <-chan struct{}, proceed chan struct{}) {
	t.Helper()
	came := make(chan struct{}, 1)
	proceed = make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		came <- struct{}{}
		<-proceed
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, came, proceed
}

// A worker stalls past its lease; another takes the row over and stores
// newer tokens. The stalled worker's late answer must be refused and
// logged, not written over them.
func TestLateWriteOfATakenOverClaimIsRefusedAndLogged(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{Rotate: true, Lifetime: time.Hour})
	gated, arrived, proceed := stallingServer(t, e.prov)
	e.srv = gated
	e.insert(t, 0, "a")

	var logs lockedBuffer
	ex := provider.NewRefresher(provider.NewCatalogue(), gated.Client(), nil)
	stalled := refresh.New(e.st, ex, refresh.Config{}, slog.New(slog.NewTextHandler(&logs, nil)))
	done := make(chan refresh.Stats, 1)
	go func() {
		stats, _ := stalled.Pass(t.Context())
		done <- stats
	}()
	<-arrived

	// Its lease runs out; a second worker claims the row and stores.
	exp := time.Now().Add(time.Hour)
	e.takeOver(t, store.Success{Name: "a", AccessToken: "at-second-worker", RefreshToken: "rt-second-worker", AccessTokenExpires: &exp})

	close(proceed)
	stats := <-done
	if stats.Fenced != 1 || stats.Refreshed != 0 {
		t.Fatalf("stalled worker's stats = %+v, want its write fenced", stats)
	}
	if r := e.row(t, "a"); r.AccessToken.Reveal() != "at-second-worker" || r.Version != 1 {
		t.Fatalf("the late write landed: version %d", r.Version)
	}
	if !strings.Contains(logs.String(), "refused") || !strings.Contains(logs.String(), "name=a") {
		t.Fatalf("the refusal was not logged:\n%s", logs.String())
	}
}

// takeOver lets the one claimed row's lease run out, and has a second
// worker claim it over and store s (its ID and claim filled in), as a
// replica that took the row over does. It returns the claim.
func (e *env) takeOver(t *testing.T, s store.Success) store.Claimed {
	t.Helper()
	e.exec(t, "UPDATE oauth_tokens SET updating_until = now() - interval '1 second'")
	claimed, err := e.st.Claim(t.Context(), 1, 5*time.Minute, time.Minute)
	if err != nil || len(claimed) != 1 || !claimed[0].TakenOver {
		t.Fatalf("takeover: %v %v", claimed, err)
	}
	s.ID, s.ClaimID = claimed[0].ID, *claimed[0].ClaimID
	if _, err := e.st.StoreSuccesses(t.Context(), []store.Success{s}, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	return claimed[0]
}
