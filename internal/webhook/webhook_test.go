package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/config"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/internal/webhook"
	wire "github.com/tokenwarden/tokenwarden/pkg/webhook"
)

const secret = "whsec-SECRET"

// endpoint records what it receives; answer decides each reply.
type endpoint struct {
	mu       sync.Mutex
	attempts int
	got      []received
	answer   func(attempt int, w http.ResponseWriter, r *http.Request)
}

type received struct {
	body []byte
	sig  string
	ev   wire.Event
	ok   bool // the reply was 2xx
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	e.attempts++
	n := e.attempts
	e.mu.Unlock()
	rec := httptest.NewRecorder()
	if e.answer != nil {
		e.answer(n, rec, r)
	}
	var ev wire.Event
	_ = json.Unmarshal(body, &ev)
	e.mu.Lock()
	e.got = append(e.got, received{body: body, sig: r.Header.Get(wire.SignatureHeader), ev: ev, ok: rec.Code < 300})
	e.mu.Unlock()
	w.WriteHeader(rec.Code)
}

func (e *endpoint) received() []received {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]received(nil), e.got...)
}

func start(t *testing.T, e *endpoint, opts webhook.Options) *webhook.Notifier {
	t.Helper()
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	if opts.Logger == nil {
		opts.Logger = testutil.Quiet()
	}
	if opts.Backoff == 0 {
		opts.Backoff = time.Millisecond
	}
	n := webhook.New(srv.URL+"/hook?token=url-SECRET", secret, opts)
	n.TestSignals.Init(t)
	t.Cleanup(n.Close)
	return n
}

// fates counts the events n delivered, dropped and gave up since the last
// count.
func fates(n *webhook.Notifier) (delivered, dropped, gaveUp int) {
	s := &n.TestSignals
	return len(s.Delivered.Received()), len(s.Dropped.Received()), len(s.GaveUp.Received())
}

func flush(t *testing.T, n *webhook.Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := n.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func reauth(name string) refresh.FailureEvent {
	return refresh.FailureEvent{Name: name, Provider: "xero", NeedsReauth: true, Failures: 1, LastError: "invalid_grant: token revoked"}
}

func TestSignedEvent(t *testing.T) {
	t.Parallel()
	e := &endpoint{}
	n := start(t, e, webhook.Options{})
	before := time.Now().Add(-time.Second)
	n.Failed(reauth("xero-acme"))
	flush(t, n)

	got := e.received()
	if len(got) != 1 {
		t.Fatalf("received %d requests", len(got))
	}
	r := got[0]
	if !wire.Verify([]byte(secret), r.body, r.sig) {
		t.Errorf("signature %q does not verify", r.sig)
	}
	if wire.Verify([]byte("other"), r.body, r.sig) || wire.Verify([]byte(secret), append(r.body, ' '), r.sig) {
		t.Error("signature verifies with the wrong secret or body")
	}
	if want := wire.Sign([]byte(secret), r.body); r.sig != want || !strings.HasPrefix(r.sig, "sha256=") || len(r.sig) != 7+64 {
		t.Errorf("signature %q, want %q", r.sig, want)
	}
	var fields map[string]any
	if err := json.Unmarshal(r.body, &fields); err != nil {
		t.Fatal(err)
	}
	if len(fields) != 6 || r.ev.Event != "needs_reauth" || r.ev.Name != "xero-acme" || r.ev.Provider != "xero" ||
		r.ev.Failures != 1 || r.ev.LastError != "invalid_grant: token revoked" || r.ev.Time.Before(before) || r.ev.Time.After(time.Now()) {
		t.Errorf("body %s", r.body)
	}
	if bytes.Contains(r.body, []byte("SECRET")) {
		t.Errorf("body holds a secret: %s", r.body)
	}
	if d, dr, f := fates(n); d != 1 || dr != 0 || f != 0 {
		t.Errorf("stats %d %d %d", d, dr, f)
	}
}

func TestWhichFailuresNotify(t *testing.T) {
	t.Parallel()
	e := &endpoint{}
	n := start(t, e, webhook.Options{})
	for i := 1; i <= 7; i++ {
		n.Failed(refresh.FailureEvent{Name: "a", Provider: "p", Failures: i, LastError: "HTTP 503", RetryIn: time.Second})
	}
	n.Failed(refresh.FailureEvent{Name: "b", Provider: "p", NeedsReauth: true, Failures: 2})
	// Events that only feed metrics send nothing.
	n.Refreshed("p", "success", time.Second)
	n.TakenOver()
	n.StoreRetried()
	flush(t, n)
	var got []string
	for _, r := range e.received() {
		got = append(got, r.ev.Event+":"+r.ev.Name+":"+string(rune('0'+r.ev.Failures)))
	}
	if want := "failing:a:3 failing:a:6 needs_reauth:b:2"; strings.Join(got, " ") != want {
		t.Errorf("events %q, want %q", got, want)
	}
}

func TestRetriedUntilDeliveredOnce(t *testing.T) {
	t.Parallel()
	e := &endpoint{answer: func(attempt int, w http.ResponseWriter, _ *http.Request) {
		if attempt == 1 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}}
	n := start(t, e, webhook.Options{})
	n.Failed(reauth("a"))
	flush(t, n)
	got := e.received()
	if len(got) != 2 || got[0].ok || !got[1].ok || !bytes.Equal(got[0].body, got[1].body) || got[0].sig != got[1].sig {
		t.Fatalf("received %+v; want a 500 then one delivery of the same event", got)
	}
	if d, _, f := fates(n); d != 1 || f != 0 {
		t.Errorf("delivered %d, failed %d", d, f)
	}
}

func TestGivesUpAfterMaxAttemptsAndOn4xx(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	e := &endpoint{answer: func(_ int, w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Content-Type"), "json") {
			w.WriteHeader(http.StatusBadGateway)
		}
	}}
	n := start(t, e, webhook.Options{MaxAttempts: 3, Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))})
	n.Failed(reauth("a"))
	flush(t, n)
	if got := len(e.received()); got != 3 {
		t.Errorf("%d attempts, want 3", got)
	}

	e4 := &endpoint{answer: func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadRequest) }}
	n4 := start(t, e4, webhook.Options{})
	n4.Failed(reauth("a"))
	flush(t, n4)
	if got := len(e4.received()); got != 1 {
		t.Errorf("a 400 was tried %d times, want once", got)
	}
	if _, _, f := fates(n4); f != 1 {
		t.Errorf("failed %d, want 1", f)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "webhook not delivered") || strings.Contains(logs.String(), "SECRET") {
		t.Errorf("logs: %s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// hanging is an endpoint that holds every request until released.
func hanging(t *testing.T) (*endpoint, func()) {
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	return &endpoint{answer: func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}}, free
}

// returnsPromptly fails the test unless f returns while the endpoint hangs.
func returnsPromptly(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s blocked while the endpoint hangs", what)
	}
}

func TestObserverNeverBlocksOnAHangingEndpoint(t *testing.T) {
	t.Parallel()
	e, release := hanging(t)
	n := start(t, e, webhook.Options{Timeout: time.Hour})
	var obs refresh.Observer = n
	returnsPromptly(t, "Failed", func() {
		for i := range 100 {
			obs.Failed(reauth("a" + string(rune('0'+i%10))))
		}
	})
	// The first event is being posted, and waits on the endpoint.
	testutil.Eventually(t, 10*time.Second, "a delivery to start", func() bool { return e.inFlight() > 0 })
	returnsPromptly(t, "Failed during a hanging delivery", func() { obs.Failed(reauth("late")) })
	release()
	flush(t, n)
	if d, _, _ := fates(n); d != 101 {
		t.Errorf("delivered %d, want 101", d)
	}
}

// inFlight counts requests that arrived, answered or not.
func (e *endpoint) inFlight() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.attempts
}

func TestFullQueueDropsOldest(t *testing.T) {
	t.Parallel()
	e, release := hanging(t)
	n := start(t, e, webhook.Options{QueueSize: 2, Timeout: time.Hour})
	n.Failed(reauth("first"))
	testutil.Eventually(t, 10*time.Second, "a delivery to start", func() bool { return e.inFlight() > 0 })
	// "first" is in flight; the queue holds two more, dropping the oldest.
	returnsPromptly(t, "Failed on a full queue", func() {
		for _, name := range []string{"a", "b", "c", "d", "e"} {
			n.Failed(reauth(name))
		}
	})
	var dropped []string
	for _, e := range n.TestSignals.Dropped.Received() {
		dropped = append(dropped, e.Name)
	}
	if strings.Join(dropped, ",") != "a,b,c" {
		t.Errorf("dropped %v, want a,b,c", dropped)
	}
	release()
	flush(t, n)
	var names []string
	for _, r := range e.received() {
		names = append(names, r.ev.Name)
	}
	if strings.Join(names, ",") != "first,d,e" {
		t.Errorf("delivered %v, want first,d,e", names)
	}
}

func TestCloseAbandonsAHangingDelivery(t *testing.T) {
	t.Parallel()
	e, _ := hanging(t)
	n := start(t, e, webhook.Options{Timeout: time.Hour})
	n.Failed(reauth("a"))
	n.Failed(reauth("b"))
	returnsPromptly(t, "Close", n.Close)
	n.Failed(reauth("after")) // ignored, and does not block
	if d, _, _ := fates(n); d != 0 {
		t.Errorf("delivered %d", d)
	}
}

func TestTee(t *testing.T) {
	t.Parallel()
	a, b := &counter{}, &counter{}
	if webhook.Tee(nil, nil) != nil || webhook.Tee(a, nil) != a || webhook.Tee(nil, b) != b {
		t.Fatal("Tee with nil")
	}
	o := webhook.Tee(a, b)
	o.Refreshed("p", "success", time.Second)
	o.TakenOver()
	o.StoreRetried()
	o.Failed(reauth("x"))
	if *a != (counter{1, 1, 1, 1}) || *b != *a {
		t.Errorf("a %+v, b %+v", *a, *b)
	}
}

type counter struct{ refreshed, takenOver, storeRetried, failed int }

func (c *counter) Refreshed(string, string, time.Duration) { c.refreshed++ }
func (c *counter) TakenOver()                              { c.takenOver++ }
func (c *counter) StoreRetried()                           { c.storeRetried++ }
func (c *counter) Failed(refresh.FailureEvent)             { c.failed++ }

func TestFromConfig(t *testing.T) {
	t.Parallel()
	base := map[string]string{"DATABASE_URL": "postgres://u@h/db"}
	cfg, err := config.LoadFrom(base)
	if err != nil {
		t.Fatal(err)
	}
	if webhook.FromConfig(cfg, testutil.Quiet()) != nil {
		t.Error("an observer without TOKENS_WEBHOOK_URL")
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"DATABASE_URL": base["DATABASE_URL"]}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cfg, err = config.LoadFrom(with("TOKENS_WEBHOOK_URL", "https://hooks.example.com/x", "TOKENS_WEBHOOK_SECRET", "s"))
	if err != nil {
		t.Fatal(err)
	}
	o := webhook.FromConfig(cfg, testutil.Quiet())
	if n, ok := o.(*webhook.Notifier); !ok {
		t.Errorf("FromConfig = %T", o)
	} else {
		n.Close()
	}
	for _, env := range []map[string]string{
		with("TOKENS_WEBHOOK_URL", "https://hooks.example.com/url-SECRET"),
		with("TOKENS_WEBHOOK_URL", "not a url/url-SECRET", "TOKENS_WEBHOOK_SECRET", "s"),
	} {
		if _, err := config.LoadFrom(env); err == nil || !strings.Contains(err.Error(), "TOKENS_WEBHOOK_") || strings.Contains(err.Error(), "url-SECRET") {
			t.Errorf("config error %v", err)
		}
	}
}
