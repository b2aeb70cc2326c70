package refresh_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// poisoner answers for one connection with a token PostgreSQL cannot store.
type poisoner struct {
	refresh.Exchanger
	name string
}

func (p poisoner) Refresh(ctx context.Context, req provider.Request) (*provider.Result, error) {
	if req.RefreshToken.Reveal() == "rt-"+p.name { // see insert
		exp := time.Now().Add(time.Hour)
		return &provider.Result{AccessToken: "at\x00poison", Expiry: &exp}, nil
	}
	return p.Exchanger.Refresh(ctx, req)
}

// One answer the database refuses must not stall the others in its batch
// (nor the worker, retrying it forever): the rest are stored and the bad
// one is recorded as a failure.
func TestAnAnswerTheDatabaseRefusesDoesNotStallTheBatch(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{Rotate: true, Lifetime: time.Hour})
	e.insert(t, 0, "a", "b", "poison", "c")
	ex := poisoner{Exchanger: provider.NewRefresher(provider.NewCatalogue(), e.srv.Client(), nil), name: "poison"}
	w := refresh.New(e.st, ex, refresh.Config{FlushSize: 10, FlushInterval: time.Second}, testutil.Quiet())
	stats, err := w.Pass(t.Context())
	if err != nil || stats.Refreshed != 3 || stats.Failed != 1 {
		t.Fatalf("stats = %+v, %v; want 3 stored and 1 failed", stats, err)
	}
	for _, n := range []string{"a", "b", "c"} {
		e.assertHoldsIssued(t, n)
	}
	r := e.row(t, "poison")
	if r.Updating || r.Version != 0 || !strings.Contains(store.Str(r.LastError), "could not be stored") {
		t.Fatalf("poison row: updating=%v version=%d last_error=%q", r.Updating, r.Version, store.Str(r.LastError))
	}
}
