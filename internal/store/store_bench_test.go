package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// BenchmarkClaim measures one claim statement taking 64 due rows.
func BenchmarkClaim(b *testing.B) {
	st := setupB(b)
	seed(b, st, 64*(b.N+1))
	b.ResetTimer()
	for range b.N {
		rows, err := st.Claim(b.Context(), 64, time.Minute, time.Minute)
		if err != nil || len(rows) == 0 {
			b.Fatal(len(rows), err)
		}
	}
}

// BenchmarkStoreSuccesses measures one batch store of 500 refreshes.
func BenchmarkStoreSuccesses(b *testing.B) {
	st := setupB(b)
	seed(b, st, 500*(b.N+1))
	exp := time.Now().Add(time.Hour)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		rows, err := st.Claim(b.Context(), 500, time.Minute, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		batch := make([]store.Success, len(rows))
		for i, r := range rows {
			batch[i] = store.Success{ID: r.ID, ClaimID: *r.ClaimID, Name: r.Name, AccessToken: "at-new", RefreshToken: "rt-new", AccessTokenExpires: &exp}
		}
		b.StartTimer()
		if _, err := st.StoreSuccesses(b.Context(), batch, 5*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

func setupB(b *testing.B) *store.Store {
	st, err := store.Open(b.Context(), pgtest.New(b), 4)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func seed(b *testing.B, st *store.Store, n int) {
	err := st.DB().Exec(fmt.Sprintf(`INSERT INTO oauth_tokens (id, name, token_url, access_token, refresh_token, access_token_expires)
		SELECT gen_random_uuid(), 'bench-' || i, 'http://127.0.0.1:1/token', 'at-' || i, 'rt-' || i, now()
		FROM generate_series(1, %d) AS i`, n)).Error
	if err != nil {
		b.Fatal(err)
	}
}
