package refresh_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// boundedPass runs one pass that must end by itself: before the schedule,
// a pass over short-lived tokens found each stored token due again and
// never ended. The deadline turns that into a count the test can see.
func boundedPass(t *testing.T, w *refresh.Worker) refresh.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	stats, err := w.Pass(ctx)
	if err != nil && ctx.Err() == nil {
		t.Fatal(err)
	}
	return stats
}

// scheduledAfter is how long after its last refresh a row's next
// scheduled refresh may run, by the database's clock.
func (e *env) scheduledAfter(t *testing.T, name string) time.Duration {
	t.Helper()
	var secs *float64
	q := "SELECT extract(epoch FROM refresh_not_before - last_refreshed_at)::float8 FROM oauth_tokens WHERE name = ?"
	if err := e.st.DB().Raw(q, name).Row().Scan(&secs); err != nil {
		t.Fatal(err)
	}
	if secs == nil {
		t.Fatalf("%s: no refresh scheduled", name)
	}
	return time.Duration(*secs * float64(time.Second))
}

func near(got, want time.Duration) bool {
	d := got - want
	return d > -2*time.Second && d < 2*time.Second
}

// A token shorter than the refresh window is refreshed once per lifetime:
// halfway through it, and never more often than the floor.
func TestShortLivedTokensAreRefreshedOncePerLifetime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lifetime time.Duration
		after    time.Duration // until the next scheduled refresh
		due      time.Duration // NextDue right after the store
	}{
		{lifetime: 2 * time.Second, after: refresh.MinRefreshInterval, due: refresh.MinRefreshInterval},
		{lifetime: time.Minute, after: 30 * time.Second, due: 30 * time.Second},
		{lifetime: 5 * time.Minute, after: 150 * time.Second, due: 150 * time.Second},
		// A long token is due RefreshBefore ahead of its expiry, as ever.
		{lifetime: time.Hour, after: 30 * time.Minute, due: 55 * time.Minute},
	} {
		t.Run(tc.lifetime.String(), func(t *testing.T) {
			t.Parallel()
			e := setup(t, mockprovider.Options{Lifetime: tc.lifetime, Rotate: true})
			var names []string
			for i := range 20 {
				names = append(names, fmt.Sprintf("c%02d", i))
			}
			e.insert(t, -time.Minute, names...)
			w := e.worker(refresh.Config{RefreshBefore: 5 * time.Minute, Concurrency: 4})

			stats := boundedPass(t, w)
			if calls := e.prov.Calls(); stats.Refreshed != 20 || calls != 20 {
				t.Fatalf("first pass: refreshed %d with %d provider calls, want 20 and 20", stats.Refreshed, calls)
			}
			if stats := boundedPass(t, w); stats.Refreshed != 0 || e.prov.Calls() != 20 {
				t.Fatalf("second pass right after: refreshed %d, provider calls %d; want 0 and 20", stats.Refreshed, e.prov.Calls())
			}
			for _, n := range names {
				if got := e.scheduledAfter(t, n); !near(got, tc.after) {
					t.Fatalf("%s: next refresh %s after the last, want %s", n, got, tc.after)
				}
			}
			d, ok, err := e.st.NextDue(t.Context(), 5*time.Minute)
			if err != nil || !ok || !near(d, tc.due) {
				t.Fatalf("NextDue = %s, %v, %v; want %s", d, ok, err, tc.due)
			}
		})
	}
}

// Invalidate is a request, not schedule: it may come under the floor.
func TestInvalidateGoesUnderTheFloor(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{Lifetime: time.Minute, Rotate: true})
	e.insert(t, -time.Minute, "a")
	w := e.worker(refresh.Config{RefreshBefore: 5 * time.Minute})
	boundedPass(t, w)
	stored := e.row(t, "a").AccessToken.Reveal()
	// As a consumer's Invalidate does (pkg/tokens).
	var outcome string
	err := e.st.DB().Raw("SELECT tokenwarden_invalidate_hash('a', sha256(convert_to(?, 'UTF8')))", stored).Row().Scan(&outcome)
	if err != nil || outcome != "marked" {
		t.Fatalf("invalidate = %q, %v", outcome, err)
	}
	if stats := boundedPass(t, w); stats.Refreshed != 1 || e.prov.Calls() != 2 {
		t.Fatalf("after Invalidate: refreshed %d, provider calls %d; want 1 and 2", stats.Refreshed, e.prov.Calls())
	}
	if r := e.row(t, "a"); r.AccessToken.Reveal() == stored || r.Version != 2 {
		t.Fatalf("the invalidated token was not replaced (version %d)", r.Version)
	}
}

// answering is a token endpoint that answers every request with body, and
// counts the requests.
func answering(t *testing.T, body string) (url string, calls *atomic.Int64) {
	t.Helper()
	calls = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, calls
}

// An expires_in that cannot be believed still gets the answer stored, the
// rotated refresh token first of all, with the template's default lifetime
// (the generic template's is 1 h) and the anomaly on record.
func TestAbsurdLifetimesAreStoredWithTheDefault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, expiresIn, anomaly string }{
		{"negative", `-60`, "expires_in -60 is not positive"},
		{"zero", `0`, "expires_in 0 is not positive"},
		{"huge", `99999999999`, "beyond the ceiling"},
		{"text", `"soon"`, "expires_in is not a number"},
		{"fraction", `3600.5`, ""}, // x/oauth2 refuses it; read leniently
		{"bool", `true`, "expires_in is not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, mockprovider.Options{})
			url, calls := answering(t, `{"access_token":"at-new","token_type":"Bearer","refresh_token":"rt-rotated","expires_in":`+tc.expiresIn+`}`)
			importAt(t, e, url+"/token", "a")
			w := e.worker(refresh.Config{RefreshBefore: 5 * time.Minute})

			if stats := boundedPass(t, w); stats.Refreshed != 1 || calls.Load() != 1 {
				t.Fatalf("refreshed %d with %d calls, want 1 and 1", stats.Refreshed, calls.Load())
			}
			r := e.row(t, "a")
			if r.RefreshToken.Reveal() != "rt-rotated" || r.AccessToken.Reveal() != "at-new" {
				t.Fatal("the answer's tokens were not stored")
			}
			if r.AccessTokenExpires == nil || !near(time.Until(*r.AccessTokenExpires), time.Hour) {
				t.Fatalf("access token expires %v, want in the default lifetime of 1h", r.AccessTokenExpires)
			}
			lastErr := ""
			if r.LastError != nil {
				lastErr = *r.LastError
			}
			if !strings.Contains(lastErr, tc.anomaly) || lastErr == "" {
				t.Fatalf("last_error %q, want it to say %q", lastErr, tc.anomaly)
			}
			events, err := e.st.Events(t.Context(), "a", 1)
			if err != nil || len(events) != 1 || events[0].Outcome != "success" || events[0].Error == nil || *events[0].Error != lastErr {
				t.Fatalf("event %+v (%v): want a success carrying %q", events, err, lastErr)
			}
			if stats := boundedPass(t, w); stats.Refreshed != 0 || calls.Load() != 1 {
				t.Fatalf("refreshed again at once: %d more, %d calls", stats.Refreshed, calls.Load())
			}
		})
	}
}

// importAt imports one due connection whose token endpoint is url.
func importAt(t *testing.T, e *env, url, name string) {
	t.Helper()
	err := e.st.Import(t.Context(), []store.ImportRow{{
		Name:               name,
		TokenURL:           ptr(url),
		AccessToken:        ptr("at-old"),
		RefreshToken:       ptr("rt-old"),
		AccessTokenExpires: ptr(time.Now().Add(-time.Minute)),
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// A rotated refresh token reaches the database whatever else is wrong with
// the answer: the provider has already retired the one it was sent.
func TestRotatedRefreshTokenSurvivesAnUnusableAnswer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body string }{
		{"no access token", `{"refresh_token":"rt-rotated","expires_in":3600}`},
		{"empty access token", `{"access_token":"","refresh_token":"rt-rotated"}`},
		{"access token not a string", `{"access_token":42,"refresh_token":"rt-rotated"}`},
		{"malformed access token", `{"access_token":"at\u0001new","refresh_token":"rt-rotated","expires_in":3600}`},
		{"error with a token", `{"access_token":"x","refresh_token":"rt-rotated","token_type":7}`},
	} {
		for _, sealed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/sealed=%v", tc.name, sealed), func(t *testing.T) {
				t.Parallel()
				e := setup(t, mockprovider.Options{})
				if sealed {
					e.st = e.st.WithKeyring(testKeyring(t))
				}
				url, _ := answering(t, tc.body)
				importAt(t, e, url+"/token", "a")
				boundedPass(t, e.worker(refresh.Config{}))
				r := e.row(t, "a")
				if r.RefreshToken.Reveal() != "rt-rotated" {
					t.Fatal("the rotated refresh token was not stored")
				}
				if tc.name == "error with a token" {
					return // read leniently: stored as a success
				}
				if r.Status != "active" || r.FailureCount != 1 || r.NextAttemptAt == nil {
					t.Fatalf("status %s, failures %d, next attempt %v: want a transient failure", r.Status, r.FailureCount, r.NextAttemptAt)
				}
				if strings.Contains(*r.LastError, "rt-rotated") {
					t.Fatalf("last_error holds the refresh token: %q", *r.LastError)
				}
				if sealed && !strings.HasPrefix(rawColumn(t, e, "a", "refresh_token"), "twenc:") {
					t.Fatal("the salvaged refresh token was stored in plaintext")
				}
			})
		}
	}
}

func testKeyring(t *testing.T) *keyring.Keyring {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	k, err := keyring.Parse("k1:" + base64.StdEncoding.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rawColumn(t *testing.T, e *env, name, col string) string {
	t.Helper()
	var v string
	if err := e.st.DB().Raw("SELECT "+col+" FROM oauth_tokens WHERE name = ?", name).Row().Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// An answer the database refuses (here a constraint standing for any data
// error) is lost, but not the rotated refresh token in it.
func TestRotatedRefreshTokenSurvivesARefusedStore(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{})
	e.exec(t, "ALTER TABLE oauth_tokens ADD CONSTRAINT no_poison CHECK (access_token IS DISTINCT FROM 'at-poison')")
	url, _ := answering(t, `{"access_token":"at-poison","refresh_token":"rt-rotated","expires_in":3600}`)
	importAt(t, e, url+"/token", "a")
	boundedPass(t, e.worker(refresh.Config{}))
	r := e.row(t, "a")
	if r.RefreshToken.Reveal() != "rt-rotated" || r.FailureCount != 1 || r.AccessToken.Reveal() != "at-old" {
		t.Fatalf("refresh token rotated=%v, failures %d: want the rotated token stored with a failure",
			r.RefreshToken.Reveal() == "rt-rotated", r.FailureCount)
	}
}
