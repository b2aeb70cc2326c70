package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// setup returns a Store on a fresh database of its own.
func setup(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), pgtest.New(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func ptr[T any](v T) *T { return &v }

// insert imports a connection whose access token expires in expiresIn.
func insert(t *testing.T, st *store.Store, name string, expiresIn time.Duration) {
	t.Helper()
	err := st.Import(t.Context(), []store.ImportRow{{
		Name:               name,
		TokenURL:           ptr("http://127.0.0.1:1/token"),
		AccessToken:        ptr("at-" + name),
		RefreshToken:       ptr("rt-" + name),
		AccessTokenExpires: ptr(time.Now().Add(expiresIn)),
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// count returns SELECT count(*) FROM from: a table, with a WHERE clause
// if need be.
func count(t *testing.T, st *store.Store, from string) int {
	t.Helper()
	var n int
	if err := st.DB().Raw("SELECT count(*) FROM " + from).Row().Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func exec(t *testing.T, st *store.Store, sql string, args ...any) {
	t.Helper()
	if err := st.DB().Exec(sql, args...).Error; err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, st *store.Store, name string) *model.OAuthToken {
	t.Helper()
	row, err := st.Get(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

func TestClaimTakesOnlyDueRows(t *testing.T) {
	t.Parallel()
	st := setup(t)
	insert(t, st, "due", time.Minute)
	insert(t, st, "fresh", time.Hour)
	insert(t, st, "backing-off", -time.Minute)
	exec(t, st, "UPDATE oauth_tokens SET next_attempt_at = now() + interval '1 hour' WHERE name = 'backing-off'")
	insert(t, st, "dead", -time.Minute)
	exec(t, st, "UPDATE oauth_tokens SET status = 'needs_reauth' WHERE name = 'dead'")

	rows, err := st.Claim(t.Context(), 10, 5*time.Minute, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Name != "due" {
		t.Fatalf("claimed %v, want only due", names(rows))
	}
	c := rows[0]
	if !c.Updating || c.ClaimID == nil || c.UpdatingUntil == nil || c.TakenOver {
		t.Fatalf("claim not marked: updating=%v claim=%v until=%v takenOver=%v", c.Updating, c.ClaimID, c.UpdatingUntil, c.TakenOver)
	}
}

func TestLiveLeaseIsNotTakenOver(t *testing.T) {
	t.Parallel()
	st := setup(t)
	insert(t, st, "a", 0)
	first, err := st.Claim(t.Context(), 10, time.Minute, time.Minute)
	if err != nil || len(first) != 1 {
		t.Fatalf("first claim: %v %v", names(first), err)
	}
	second, err := st.Claim(t.Context(), 10, time.Minute, time.Minute)
	if err != nil || len(second) != 0 {
		t.Fatalf("second claim took %v (err %v), want nothing under a live lease", names(second), err)
	}
	if _, err := st.ClaimByName(t.Context(), "a", time.Minute); !errors.Is(err, store.ErrNotClaimable) {
		t.Fatalf("ClaimByName under a live lease: %v, want ErrNotClaimable", err)
	}
}

func TestExpiredLeaseIsTakenOverAndOldClaimFenced(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := t.Context()
	insert(t, st, "a", 0)
	first, err := st.Claim(ctx, 10, time.Minute, time.Minute)
	if err != nil || len(first) != 1 {
		t.Fatalf("first claim: %v %v", names(first), err)
	}
	// The first worker stalls past its lease.
	exec(t, st, "UPDATE oauth_tokens SET updating_until = now() - interval '1 second'")
	second, err := st.Claim(ctx, 10, time.Minute, time.Minute)
	if err != nil || len(second) != 1 {
		t.Fatalf("takeover claim: %v %v", names(second), err)
	}
	if !second[0].TakenOver || *second[0].ClaimID == *first[0].ClaimID {
		t.Fatalf("takeover: takenOver=%v, claim ids %v and %v", second[0].TakenOver, *first[0].ClaimID, *second[0].ClaimID)
	}

	exp := time.Now().Add(time.Hour)
	stored, err := st.StoreSuccesses(ctx, []store.Success{{ID: second[0].ID, ClaimID: *second[0].ClaimID, AccessToken: "at-new", RefreshToken: "rt-new", AccessTokenExpires: &exp}}, 5*time.Minute)
	if err != nil || len(stored) != 1 || stored[0].Version != 1 {
		t.Fatalf("store by the new claim: %+v %v", stored, err)
	}
	late, err := st.StoreSuccesses(ctx, []store.Success{{ID: first[0].ID, ClaimID: *first[0].ClaimID, AccessToken: "at-late", RefreshToken: "rt-late", AccessTokenExpires: &exp}}, 5*time.Minute)
	if err != nil || len(late) != 0 {
		t.Fatalf("late store by the old claim: %+v %v, want refused", late, err)
	}
	row := get(t, st, "a")
	if row.AccessToken.Reveal() != "at-new" || row.RefreshToken.Reveal() != "rt-new" || row.Updating || row.ClaimID != nil {
		t.Fatalf("row after fenced late write: at=%q rt=%q updating=%v", row.AccessToken.Reveal(), row.RefreshToken.Reveal(), row.Updating)
	}
}

func TestStoreSuccessKeepsRefreshTokenWhenProviderSentNone(t *testing.T) {
	t.Parallel()
	st := setup(t)
	insert(t, st, "g", 0)
	rows, err := st.Claim(t.Context(), 1, time.Minute, time.Minute)
	if err != nil || len(rows) != 1 {
		t.Fatal(rows, err)
	}
	exp := time.Now().Add(time.Hour)
	if _, err := st.StoreSuccesses(t.Context(), []store.Success{{ID: rows[0].ID, ClaimID: *rows[0].ClaimID, AccessToken: "at-2", AccessTokenExpires: &exp}}, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	row := get(t, st, "g")
	if row.RefreshToken.Reveal() != "rt-g" || row.AccessToken.Reveal() != "at-2" || row.Version != 1 {
		t.Fatalf("got rt=%q at=%q version=%d", row.RefreshToken.Reveal(), row.AccessToken.Reveal(), row.Version)
	}
}

func TestStoreFailureBacksOffOrNeedsReauth(t *testing.T) {
	t.Parallel()
	st := setup(t)
	insert(t, st, "flaky", 0)
	insert(t, st, "revoked", 0)
	rows, err := st.Claim(t.Context(), 10, time.Minute, time.Minute)
	if err != nil || len(rows) != 2 {
		t.Fatal(names(rows), err)
	}
	var batch []store.Failure
	for _, r := range rows {
		batch = append(batch, store.Failure{ID: r.ID, ClaimID: *r.ClaimID, Reauth: r.Name == "revoked", Delay: time.Hour, LastError: "boom " + r.Name})
	}
	released, err := st.StoreFailures(t.Context(), batch)
	if err != nil || len(released) != 2 {
		t.Fatal(released, err)
	}
	flaky := get(t, st, "flaky")
	if flaky.Status != model.StatusActive || flaky.FailureCount != 1 || flaky.NextAttemptAt == nil ||
		flaky.NextAttemptAt.Before(time.Now().Add(50*time.Minute)) || flaky.Updating || store.Str(flaky.LastError) != "boom flaky" {
		t.Fatalf("flaky: %+v", flaky)
	}
	revoked := get(t, st, "revoked")
	if revoked.Status != model.StatusNeedsReauth || revoked.Updating || store.Str(revoked.RefreshToken) == "" {
		t.Fatalf("revoked: status=%s updating=%v", revoked.Status, revoked.Updating)
	}
	again, err := st.Claim(t.Context(), 10, time.Minute, time.Minute)
	if err != nil || len(again) != 0 {
		t.Fatalf("claimed %v after failures, want nothing", names(again))
	}
}

func TestClearDropsAccessToken(t *testing.T) {
	t.Parallel()
	st := setup(t)
	insert(t, st, "a", time.Hour)
	if err := st.Clear(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	row := get(t, st, "a")
	if row.AccessToken != nil || row.AccessTokenExpires == nil || row.AccessTokenExpires.After(time.Now()) {
		t.Fatalf("after clear: token present=%v expires=%v", row.AccessToken != nil, row.AccessTokenExpires)
	}
	if err := st.Clear(t.Context(), "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("clear missing: %v", err)
	}
}

func TestImportIsAllOrNothing(t *testing.T) {
	t.Parallel()
	st := setup(t)
	insert(t, st, "a", time.Hour)
	err := st.Import(t.Context(), []store.ImportRow{
		{Name: "b", RefreshToken: ptr("rt-b")},
		{Name: "c", Provider: ptr("oauth2"), AuthStyle: ptr("post"), RefreshToken: ptr("rt-c")},
		{Name: ""}, // violates the CHECK constraint
	})
	if err == nil {
		t.Fatal("import with a bad row succeeded")
	}
	rows, err := st.List(t.Context())
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows after failed import: %d (%v), want 1", len(rows), err)
	}
}

func TestImportUpdatesOnlyGivenFieldsAndFencesClaims(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := t.Context()
	insert(t, st, "a", 0)
	claimed, err := st.Claim(ctx, 1, time.Minute, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatal(err)
	}
	// Re-authorized while a refresh was in flight: the new tokens win.
	if err := st.Import(ctx, []store.ImportRow{{Name: "a", RefreshToken: ptr("rt-reauth"), AccessToken: ptr("at-reauth"), AccessTokenExpires: ptr(time.Now().Add(time.Hour))}}); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	late, err := st.StoreSuccesses(ctx, []store.Success{{ID: claimed[0].ID, ClaimID: *claimed[0].ClaimID, AccessToken: "at-old-refresh", AccessTokenExpires: &exp}}, 5*time.Minute)
	if err != nil || len(late) != 0 {
		t.Fatalf("store after import: %+v %v, want refused", late, err)
	}
	row := get(t, st, "a")
	if row.AccessToken.Reveal() != "at-reauth" || store.Str(row.TokenURL) != "http://127.0.0.1:1/token" || row.Provider != "oauth2" {
		t.Fatalf("row: at=%q token_url=%q provider=%q", row.AccessToken.Reveal(), store.Str(row.TokenURL), row.Provider)
	}
}

func TestNextDue(t *testing.T) {
	t.Parallel()
	st := setup(t)
	if _, ok, err := st.NextDue(t.Context(), time.Minute); err != nil || ok {
		t.Fatalf("empty table: ok=%v err=%v", ok, err)
	}
	insert(t, st, "a", 10*time.Minute)
	d, ok, err := st.NextDue(t.Context(), time.Minute)
	if err != nil || !ok || d < 8*time.Minute || d > 9*time.Minute {
		t.Fatalf("next due = %v ok=%v err=%v, want about 9m", d, ok, err)
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	t.Parallel()
	st := setup(t)
	insert(t, st, "a", time.Hour)
	row := get(t, st, "a")
	for _, s := range []string{
		row.AccessToken.String(),
		row.RefreshToken.String(),
	} {
		if s != "[REDACTED]" {
			t.Fatalf("secret printed as %q", s)
		}
	}
}

func TestUnknownNameIsNotFound(t *testing.T) {
	t.Parallel()
	st := setup(t)
	if _, err := st.Get(context.Background(), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("got %v", err)
	}
}

func names(rows []store.Claimed) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Name)
	}
	return out
}

func TestEveryAttemptIsRecordedAsAnEvent(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := t.Context()
	insert(t, st, "a", 0)
	insert(t, st, "b", 0)
	rows, err := st.Claim(ctx, 10, time.Minute, time.Minute)
	if err != nil || len(rows) != 2 {
		t.Fatal(names(rows), err)
	}
	byName := map[string]store.Claimed{rows[0].Name: rows[0], rows[1].Name: rows[1]}
	exp := time.Now().Add(time.Hour)
	a, b := byName["a"], byName["b"]
	if _, err := st.StoreSuccesses(ctx, []store.Success{{ID: a.ID, ClaimID: *a.ClaimID, Name: "a", AccessToken: "at-2", AccessTokenExpires: &exp, DurationMS: 42}}, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	// A late write under a stale claim is refused, and still recorded.
	if _, err := st.StoreSuccesses(ctx, []store.Success{{ID: a.ID, ClaimID: *a.ClaimID, Name: "a", AccessToken: "at-late", AccessTokenExpires: &exp}}, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StoreFailures(ctx, []store.Failure{{ID: b.ID, ClaimID: *b.ClaimID, Name: "b", Reauth: true, HTTPStatus: 400, LastError: "invalid_grant"}}); err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events(ctx, "a", 10)
	if err != nil || len(evs) != 2 || evs[0].Outcome != "fenced" || evs[1].Outcome != "success" ||
		evs[1].DurationMS == nil || *evs[1].DurationMS != 42 || evs[1].Version == nil || *evs[1].Version != 1 {
		t.Fatalf("events of a: %+v %v", evs, err)
	}
	evs, err = st.Events(ctx, "b", 10)
	if err != nil || len(evs) != 1 || evs[0].Outcome != "reauth" || store.Str(evs[0].Error) != "invalid_grant" || *evs[0].HTTPStatus != 400 {
		t.Fatalf("events of b: %+v %v", evs, err)
	}

	exec(t, st, "UPDATE oauth_token_events SET at = now() - interval '40 days' WHERE name = 'b'")
	n, err := st.PruneEvents(ctx, 30*24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want 1", n, err)
	}
	if evs, _ := st.Events(ctx, "a", 10); len(evs) != 2 {
		t.Fatalf("recent events pruned: %d left", len(evs))
	}
}
