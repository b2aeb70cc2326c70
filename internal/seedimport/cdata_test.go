package seedimport_test

import (
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
)

// Every row of cdata_plugin_oauth_tokens lands as cdata-<integration>
// under its template, with the client credentials of the credentials
// file, and refreshes on the next pass.
func TestCData(t *testing.T) {
	t.Parallel()
	mp, url := mock(t, mockprovider.Options{Rotate: true})
	src := seedDB(t, "testdata/cdata.sql")
	o := opts(t, "--dsn", src, "--credentials", "testdata/cdata-credentials.json", "--token-url", url)
	dsn := migrated(t, "cdata", o, 7)
	for _, c := range []struct{ name, rt, provider string }{
		{"cdata-salesforce", "sf-rt-SECRET", "salesforce"},
		{"cdata-hubspot", "hs-rt-SECRET", "hubspot"},
		{"cdata-google_analytics", "ga-rt-SECRET", "google"},
		{"cdata-xero", "xe-rt-SECRET", "xero"},
		{"cdata-mailchimp", "mc-rt-SECRET", "mailchimp"},
		{"cdata-validate_bigquery", "vb-rt-SECRET", "google"},
		{"cdata-run_bigquery", "rb-rt-SECRET", "google"},
	} {
		if r := refreshed(t, mp, dsn, c.name, c.rt); r.provider != c.provider {
			t.Errorf("%s: provider %q, want %q", c.name, r.provider, c.provider)
		}
	}
}

// An unknown integration, or no credentials file, refuses the whole
// import, without a secret in the error.
func TestCDataRefusals(t *testing.T) {
	t.Parallel()
	src := seedDB(t, "testdata/cdata.sql")
	if _, err := opts(t, "--dsn", src).Open(t.Context(), "cdata"); err == nil {
		t.Fatal("imported without --credentials")
	}
	bad := seedDB(t, "testdata/cdata.sql")
	pgxExec(t, bad, `INSERT INTO cdata_plugin_oauth_tokens VALUES (8, 'Pipedrive', '{"refresh_token": "pd-rt-SECRET"}', 'https://oauth.pipedrive.com/oauth/token')`)
	_, err := opts(t, "--dsn", bad, "--credentials", "testdata/cdata-credentials.json").Open(t.Context(), "cdata")
	if err == nil {
		t.Fatal("imported an unknown integration")
	}
	noSecret(t, err)
}
