package store_test

import (
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// A connection whose grant needs no refresh token is claimable without
// one, its grant comes with the claim, and its client secret is sealed
// bound to the grant: a database writer who turns it into a refresh-token
// connection leaves a secret that no longer opens.
func TestGrantIsClaimedAndBoundToTheSecrets(t *testing.T) {
	t.Parallel()
	k, _ := newKeyring(t, "k1")
	st := setup(t).WithKeyring(k)
	rows := []store.ImportRow{
		{Name: "app", Grant: ptr(model.GrantClientCredentials), ClientID: ptr("app-id"), ClientSecret: ptr("cs-app")},
		{Name: "legacy", ClientID: ptr("app-id"), ClientSecret: ptr("cs-legacy"), RefreshToken: ptr("rt-legacy")},
		{Name: "orphan", ClientID: ptr("app-id"), ClientSecret: ptr("cs-orphan")}, // refresh_token grant, no refresh token
	}
	if err := st.Import(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	claimed, err := st.Claim(t.Context(), 10, time.Minute, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.Claimed{}
	for _, c := range claimed {
		got[c.Name] = c
	}
	if len(got) != 2 || got["app"].Grant != model.GrantClientCredentials || got["legacy"].Grant != model.GrantRefreshToken {
		t.Fatalf("claimed %v, want app (client_credentials) and legacy (refresh_token)", got)
	}
	if got["app"].UnsealErr != nil || got["app"].ClientSecret.Reveal() != "cs-app" || got["legacy"].UnsealErr != nil {
		t.Fatalf("unseal: app %v, legacy %v", got["app"].UnsealErr, got["legacy"].UnsealErr)
	}

	exec(t, st, `UPDATE oauth_tokens SET "grant" = 'refresh_token', updating = false WHERE name = 'app'`)
	if _, err := st.Get(t.Context(), "app"); err == nil {
		t.Fatal("a secret sealed for client_credentials opened under another grant")
	}
}
