package tokens

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
)

// api is an API that accepts only the token valid returns, recording what
// it was sent.
type api struct {
	valid    func() string
	requests atomic.Int32
	bodies   chan string
	status   int // answer to an invalid token
}

func newAPI(t *testing.T, status int) (*api, *httptest.Server) {
	a := &api{bodies: make(chan string, 10), status: status, valid: func() string { return "" }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.requests.Add(1)
		b, _ := io.ReadAll(r.Body)
		a.bodies <- string(b)
		if r.Header.Get("Authorization") != "Bearer "+a.valid() {
			w.WriteHeader(a.status)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return a, srv
}

func TestTransportRetriesOnceAfter401WithTheNewToken(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{Rotate: true, Lifetime: time.Hour})
	e.insert(t, "a", time.Hour)
	e.runWorker(t)
	a, srv := newAPI(t, http.StatusUnauthorized)
	// The API already revoked the stored token: only a refreshed one works.
	client := &http.Client{Transport: e.c.Transport("a", nil)}
	a.valid = func() string {
		issued, _ := e.prov.Issued("rt-a")
		return issued.AccessToken
	}
	resp, err := client.Post(srv.URL, "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || a.requests.Load() != 2 || e.prov.Calls() != 1 {
		t.Fatalf("status %d after %d requests and %d refreshes; want 200, 2, 1", resp.StatusCode, a.requests.Load(), e.prov.Calls())
	}
	if first, second := <-a.bodies, <-a.bodies; first != "payload" || second != "payload" {
		t.Fatalf("bodies %q and %q; the retry must resend the body", first, second)
	}
}

func TestTransportDoesNotRetryOtherStatuses(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusForbidden, http.StatusInternalServerError} {
		e := setup(t, mockprovider.Options{})
		e.insert(t, "a", time.Hour)
		a, srv := newAPI(t, status)
		resp, err := (&http.Client{Transport: e.c.Transport("a", nil)}).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status || a.requests.Load() != 1 || e.prov.Calls() != 0 {
			t.Fatalf("status %d: %d requests, %d refreshes; want 1 and 0", status, a.requests.Load(), e.prov.Calls())
		}
	}
}

func TestTransportDoesNotReplayAStreamedBody(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{})
	e.insert(t, "a", time.Hour)
	a, srv := newAPI(t, http.StatusUnauthorized)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, io.NopCloser(strings.NewReader("once")))
	req.GetBody = nil
	resp, err := (&http.Client{Transport: e.c.Transport("a", nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || a.requests.Load() != 1 {
		t.Fatalf("status %d after %d requests; want the 401 passed through", resp.StatusCode, a.requests.Load())
	}
	if e.prov.Calls() != 0 {
		t.Fatal("a request that cannot be retried still invalidated the token")
	}
}
