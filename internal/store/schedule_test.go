package store_test

import (
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// scheduled imports a connection expiring in 2 minutes, inside a 5 minute
// window, whose last refresh scheduled the next one in 30 s.
func scheduled(t *testing.T, st *store.Store) {
	t.Helper()
	err := st.Import(t.Context(), []store.ImportRow{{
		Name: "a", AccessToken: ptr("at"), RefreshToken: ptr("rt"),
		AccessTokenExpires: ptr(time.Now().Add(2 * time.Minute)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DB().Exec("UPDATE oauth_tokens SET refresh_not_before = now() + interval '30 seconds'").Error; err != nil {
		t.Fatal(err)
	}
}

// A row inside the window whose schedule has not come is neither claimed
// nor counted as due by the metrics.
func TestScheduleHoldsClaimAndDueGauge(t *testing.T) {
	t.Parallel()
	st := setup(t)
	scheduled(t, st)
	claimed, err := st.Claim(t.Context(), 10, 5*time.Minute, time.Minute)
	if err != nil || len(claimed) != 0 {
		t.Fatalf("claimed %d (%v) before the schedule", len(claimed), err)
	}
	stats, err := st.Stats(t.Context(), 5*time.Minute)
	if err != nil || stats.Due != 0 {
		t.Fatalf("due gauge %+v (%v), want 0", stats, err)
	}
}

// An expiry written without a schedule (an operator's SQL, clear) is a
// request to follow the expiry: the schedule the last refresh set goes.
func TestNewExpiryDropsTheSchedule(t *testing.T) {
	t.Parallel()
	for name, stmt := range map[string]string{
		"operator SQL": "UPDATE oauth_tokens SET access_token_expires = now() WHERE name = 'a'",
		"clear":        "",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := setup(t)
			scheduled(t, st)
			if stmt == "" {
				if err := st.Clear(t.Context(), "a"); err != nil {
					t.Fatal(err)
				}
			} else if err := st.DB().Exec(stmt).Error; err != nil {
				t.Fatal(err)
			}
			claimed, err := st.Claim(t.Context(), 10, 5*time.Minute, time.Minute)
			if err != nil || len(claimed) != 1 {
				t.Fatalf("claimed %d (%v), want the row", len(claimed), err)
			}
		})
	}
}
