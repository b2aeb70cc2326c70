package seedimport_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// quartileAPI is the seed's token API: POST {"refresh_token"} answered
// 201 with nested authorization and refresh objects, a new pair each time.
type quartileAPI struct {
	mu     sync.Mutex
	issued map[string][2]string // presented refresh token → access, refresh
}

func (q *quartileAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.RefreshToken == "" {
		http.Error(w, `{"detail":"bad request"}`, http.StatusBadRequest)
		return
	}
	q.mu.Lock()
	pair := [2]string{"new-at-" + body.RefreshToken, "new-rt-" + body.RefreshToken}
	q.issued[body.RefreshToken] = pair
	q.mu.Unlock()
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{ //nolint:errcheck // the test reads the outcome from the database
		"authorization": map[string]any{"token": pair[0], "type": "Bearer", "expires_in": 3600, "expires_at": exp, "not_before": 0, "note": ""},
		"refresh":       map[string]any{"token": pair[1], "expires_in": 86400, "expires_at": exp, "note": ""},
	})
}

func (q *quartileAPI) get(rt string) ([2]string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, ok := q.issued[rt]
	return p, ok
}

// Every row of quartile_tokens lands as quartile-<id> with its expiry;
// the expired one refreshes on the next pass, the fresh one is left alone.
func TestQuartile(t *testing.T) {
	t.Parallel()
	api := &quartileAPI{issued: map[string][2]string{}}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	src := seedDB(t, "testdata/quartile.sql")
	dsn := migrated(t, "quartile", opts(t, "--dsn", src, "--token-url", srv.URL+"/auth/v1/refresh-token"), 2)
	pair, ok := api.get("quartile-rt-SECRET-1")
	if !ok {
		t.Fatal("the expired row was not refreshed on the next pass")
	}
	r := getRow(t, dsn, "quartile-6f1c2a3e-1d2b-11ef-9f5a-0242ac120002")
	if r.provider != "quartile" || r.accessToken != pair[0] || r.refresh != pair[1] || r.status != "active" || r.version != 1 {
		t.Fatalf("refreshed row: provider %s status %s version %d", r.provider, r.status, r.version)
	}
	if _, ok := api.get("quartile-rt-SECRET-2"); ok {
		t.Fatal("a row the seed had fresh until 2099 was refreshed")
	}
	if r := getRow(t, dsn, "quartile-7a2d3b4f-1d2b-11ef-9f5a-0242ac120002"); r.accessToken != "quartile-at-SECRET-2" || r.version != 0 {
		t.Fatalf("fresh row changed: version %d", r.version)
	}
}

// Without --dsn, or against a database without the table, nothing is
// imported.
func TestQuartileRefusals(t *testing.T) {
	t.Parallel()
	if _, err := opts(t).Open(t.Context(), "quartile"); err == nil {
		t.Fatal("imported without --dsn")
	}
	if _, err := opts(t, "--dsn", seedDB(t, "testdata/cdata.sql")).Open(t.Context(), "quartile"); err == nil {
		t.Fatal("imported from a database without quartile_tokens")
	}
}
