package refresh_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// xeroFake imitates Xero's token endpoint: Basic client authentication,
// a new refresh token on every refresh, and the previous refresh token
// accepted again for a 30-minute grace period, answered with the same new
// tokens (a retry after a lost answer). Reuse after the grace revokes.
type xeroFake struct {
	mu       sync.Mutex
	current  string            // the refresh token Xero holds as live
	previous map[string]string // a rotated-out refresh token -> its successor
	rotated  map[string]time.Time
	issued   map[string][2]string // refresh token -> the access and refresh tokens issued for it
	received []string             // refresh tokens received, in order
	cutNext  int                  // requests to process and then drop unanswered
	serial   int
	refusals []string
}

func newXeroFake(initial string) *xeroFake {
	return &xeroFake{current: initial, previous: map[string]string{}, rotated: map[string]time.Time{}, issued: map[string][2]string{}}
}

func (f *xeroFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	refuse := func(status int, why, body string) {
		f.refusals = append(f.refusals, why)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
	user, pass, ok := r.BasicAuth()
	if r.ParseForm() != nil || !ok || user != "xero-cid" || pass != "xero-cs-SECRET" || r.PostForm.Get("client_secret") != "" {
		refuse(401, "client authentication", `{"error":"invalid_client"}`)
		return
	}
	if r.PostForm.Get("grant_type") != "refresh_token" {
		refuse(400, "grant_type", `{"error":"unsupported_grant_type"}`)
		return
	}
	rt := r.PostForm.Get("refresh_token")
	f.received = append(f.received, rt)
	var at, next string
	switch {
	case rt == f.current:
		f.serial++
		at, next = fmt.Sprintf("xero-at-%d", f.serial), fmt.Sprintf("xero-rt-%d", f.serial)
		f.issued[rt] = [2]string{at, next}
		f.previous[rt], f.rotated[rt], f.current = next, time.Now(), next
	case f.previous[rt] != "" && time.Since(f.rotated[rt]) < 30*time.Minute:
		// Within the grace: the same answer as the first time.
		at, next = f.issued[rt][0], f.issued[rt][1]
	default:
		refuse(400, "dead refresh token "+rt, `{"error":"invalid_grant"}`)
		return
	}
	if f.cutNext > 0 {
		f.cutNext--
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		conn.Close()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id_token": "xero-id", "access_token": at, "expires_in": 1800, "token_type": "Bearer",
		"refresh_token": next, "scope": "openid offline_access accounting.transactions",
	})
}

// A Xero refresh whose answer is lost must be retried with the same
// (old) refresh token inside Xero's 30-minute grace, and the retry's
// answer stored.
func TestXeroLostAnswerRetriedWithinGrace(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{})
	fake := newXeroFake("xero-rt-0")
	fake.cutNext = 1
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	if err := e.st.Import(t.Context(), []store.ImportRow{{
		Name:               "xero-org",
		Provider:           ptr("xero"),
		TokenURL:           ptr(srv.URL + "/connect/token"),
		ClientID:           ptr("xero-cid"),
		ClientSecret:       ptr("xero-cs-SECRET"),
		AccessToken:        ptr("xero-at-0"),
		RefreshToken:       ptr("xero-rt-0"),
		AccessTokenExpires: ptr(time.Now().Add(-time.Minute)),
	}}); err != nil {
		t.Fatal(err)
	}
	// After many failures the ordinary backoff is 5 to 10 minutes; the
	// lost answer must bring the next attempt inside grace/4 = 7.5m all
	// the same.
	e.exec(t, "UPDATE oauth_tokens SET failure_count = 8 WHERE name = 'xero-org'")
	ex := provider.NewRefresher(provider.NewCatalogue(), provider.NewHTTPClient(5*time.Second, 4), nil)
	w := refresh.New(e.st, ex, refresh.Config{}, testutil.Quiet())

	before := time.Now()
	if stats := pass(t, w); stats.Claimed != 1 || stats.Failed != 1 || stats.Refreshed != 0 || stats.Reauth != 0 {
		t.Fatalf("first pass %+v, want one transient failure", stats)
	}
	after := time.Now() // the database stamped next_attempt_at between before and after
	r := e.row(t, "xero-org")
	if r.Status != model.StatusActive || r.Updating || r.ClaimID != nil || r.NextAttemptAt == nil {
		t.Fatalf("after the lost answer: status=%s updating=%v next=%v", r.Status, r.Updating, r.NextAttemptAt)
	}
	if r.NextAttemptAt.After(after.Add(30 * time.Minute / 4)) {
		t.Fatalf("next attempt in %v, want at most 7m30s (Xero's grace / 4)", r.NextAttemptAt.Sub(after).Round(time.Second))
	}
	if wait := r.NextAttemptAt.Sub(before); wait < 4*time.Minute {
		t.Fatalf("next attempt in %v: the failure count did not bring the ordinary backoff near the bound, so the test proves nothing", wait.Round(time.Second))
	}
	if r.RefreshToken.Reveal() != "xero-rt-0" || r.AccessToken.Reveal() != "xero-at-0" || r.Version != 0 {
		t.Fatalf("a lost answer changed the stored tokens (version %d)", r.Version)
	}
	if le := store.Str(r.LastError); le == "" || strings.Contains(le, "SECRET") || strings.Contains(le, "xero-rt-") {
		t.Fatalf("last_error %q", le)
	}

	// The backoff runs out; the retry sends the old refresh token again.
	e.exec(t, "UPDATE oauth_tokens SET next_attempt_at = now() WHERE name = 'xero-org'")
	if stats := pass(t, w); stats.Refreshed != 1 || stats.Errors() != 0 {
		t.Fatalf("second pass %+v, want the retry to succeed", stats)
	}
	fake.mu.Lock()
	received, refusals, issued := append([]string(nil), fake.received...), fake.refusals, fake.issued["xero-rt-0"]
	fake.mu.Unlock()
	if len(refusals) != 0 {
		t.Fatalf("the fake refused: %v", refusals)
	}
	if len(received) != 2 || received[0] != "xero-rt-0" || received[1] != "xero-rt-0" {
		t.Fatalf("refresh tokens received %v, want the old one twice", received)
	}
	r = e.row(t, "xero-org")
	if r.AccessToken.Reveal() != issued[0] || r.RefreshToken.Reveal() != issued[1] {
		t.Fatal("the row does not hold the tokens Xero issued")
	}
	if r.Status != model.StatusActive || r.Version != 1 || r.FailureCount != 0 || r.NextAttemptAt != nil || r.LastError != nil || r.Updating {
		t.Fatalf("after the retry: status=%s version=%d failures=%d next=%v last_error=%q", r.Status, r.Version, r.FailureCount, r.NextAttemptAt, store.Str(r.LastError))
	}
	if r.AccessTokenExpires == nil || r.AccessTokenExpires.Before(time.Now().Add(29*time.Minute)) || r.AccessTokenExpires.After(time.Now().Add(31*time.Minute)) {
		t.Fatalf("access_token_expires %v, want about 30m from now", r.AccessTokenExpires)
	}
	if rx := r.RefreshTokenExpires; rx == nil || rx.Before(time.Now().Add(59*24*time.Hour)) || rx.After(time.Now().Add(61*24*time.Hour)) {
		t.Fatalf("refresh_token_expires %v, want about 60 days from now", rx)
	}
	var kept map[string]any
	if err := json.Unmarshal(r.JSONData, &kept); err != nil || kept["id_token"] != "xero-id" || kept["scope"] != "openid offline_access accounting.transactions" {
		t.Fatalf("json_data %s", r.JSONData)
	}
}
