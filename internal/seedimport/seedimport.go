// Package seedimport reads the stores of the token refreshers tokenwarden
// replaces (the seed systems) and yields their connections as the records
// of a connection file. `worker import --from` reads them through
// connfile, so that a move gets the same streaming validation, atomic
// upsert and progress as a JSON import, not a second path.
package seedimport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tokenwarden/tokenwarden/internal/connfile"
)

// Sources names the importers, as `--from` takes them.
const Sources = "cdata, google-service-account, nifi-xero, quartile, webex"

// Options are the flags of every importer; each reads those it needs.
// Secrets are read from files only, never taken as flag values, which any
// user of the machine could read in the process list.
type Options struct {
	File        string // nifi-xero: the credentials JSON; webex: token-config.json; google-service-account: the key file
	EnvFile     string // webex: the .env holding the service app's tokens
	DSN         string // cdata, quartile: the seed's database
	Credentials string // cdata, nifi-xero: client ids and secrets (JSON)
	Name        string // the connection's name, or the prefix of derived names
	TokenURL    string // overrides every token URL (a proxy, a test provider)
	Scopes      string // google-service-account: the scopes to ask for
	Subject     string // google-service-account: the user to act as (domain-wide delegation)
}

// TakesFile reports an importer whose input is one file, which `worker
// import --from` then takes as its argument (Options.File).
func TakesFile(from string) bool { return from == "google-service-account" }

// Register adds the importers' flags to fs.
func Register(fs *flag.FlagSet) *Options {
	o := &Options{}
	fs.StringVar(&o.File, "file", "", "with --from nifi-xero: the Xero credentials JSON file; with --from webex: token-config.json")
	fs.StringVar(&o.EnvFile, "env-file", "", "with --from webex: the .env holding WEBEX_SERVICE_APP_ACCESS_TOKEN and WEBEX_SERVICE_APP_REFRESH_TOKEN")
	fs.StringVar(&o.DSN, "dsn", "", "with --from cdata or quartile: the seed's PostgreSQL database")
	fs.StringVar(&o.Credentials, "credentials", "", "with --from cdata or nifi-xero: a JSON file of client ids and secrets")
	fs.StringVar(&o.Name, "name", "", "the connection's name (nifi-xero, webex) or the prefix of derived names (cdata, quartile)")
	fs.StringVar(&o.TokenURL, "token-url", "", "with --from: send every imported connection's refreshes to this token URL")
	fs.StringVar(&o.Scopes, "scopes", "", "with --from google-service-account: the scopes to ask for, separated by spaces or commas")
	fs.StringVar(&o.Subject, "subject", "", "with --from google-service-account: the user to act as (domain-wide delegation)")
	return o
}

// Open reads the store of the seed system from and returns its
// connections as JSON Lines for connfile.NewReader. The error never
// quotes a secret.
func (o *Options) Open(ctx context.Context, from string) (io.Reader, error) {
	var recs []connfile.Record
	var err error
	switch from {
	case "nifi-xero":
		recs, err = o.nifiXero()
	case "webex":
		recs, err = o.webex()
	case "quartile":
		recs, err = o.quartile(ctx)
	case "cdata":
		recs, err = o.cdata(ctx)
	case "google-service-account":
		recs, err = o.googleServiceAccount()
	default:
		return nil, fmt.Errorf("%q: unknown importer (known: %s)", from, Sources)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	if o.TokenURL != "" {
		for i := range recs {
			recs[i].TokenURL = &o.TokenURL
		}
	}
	return jsonLines(recs)
}

// jsonLines writes recs as a connection file.
func jsonLines(recs []connfile.Record) (io.Reader, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return nil, errors.New("encode a record") // never the value: it holds secrets
		}
	}
	return &b, nil
}

// readJSON decodes the JSON file path into v, naming the file but never
// quoting it.
func readJSON(what, path string, v any) error {
	if path == "" {
		return fmt.Errorf("%s is required", what)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: not a JSON object of the expected shape", path)
	}
	return nil
}

// ptr returns a pointer to s, or nil for an empty s: a field the seed did
// not hold is left out of the record, not imported as empty.
func ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// clientCredentials is a client id and secret, as the credentials file
// holds them.
type clientCredentials struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}
