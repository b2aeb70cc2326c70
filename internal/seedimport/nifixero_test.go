package seedimport_test

import (
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
)

// The NiFi flow's Xero credentials file moves as one xero connection with
// the client credentials the flow kept in its processor, and refreshes on
// the next pass.
func TestNiFiXero(t *testing.T) {
	t.Parallel()
	mp, url := mock(t, mockprovider.Options{Rotate: true, ClientID: "xero-client-id", ClientSecret: "xero-cs-SECRET"})
	o := opts(t, "--file", "testdata/xero-credentials.json", "--credentials", "testdata/xero-client.json", "--token-url", url)
	dsn := migrated(t, "nifi-xero", o, 1)
	if r := refreshed(t, mp, dsn, "xero", "xero-rt-SECRET-1"); r.provider != "xero" {
		t.Fatalf("provider %q, want xero", r.provider)
	}
}

// A file without a refresh token, or missing client credentials, is
// refused before anything is read from the database, without a secret in
// the error.
func TestNiFiXeroRefusals(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--file", "testdata/xero-client.json", "--credentials", "testdata/xero-client.json"},
		{"--file", "testdata/xero-credentials.json", "--credentials", "testdata/xero-credentials.json"},
		{"--file", "testdata/xero-credentials.json"},
		{"--credentials", "testdata/xero-client.json"},
	} {
		_, err := opts(t, args...).Open(t.Context(), "nifi-xero")
		if err == nil {
			t.Fatalf("%v: imported", args)
		}
		noSecret(t, err)
	}
}
