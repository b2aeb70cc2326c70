// Package connfile reads the connection files `worker import` takes: one
// JSON object, an array of objects, or JSON Lines. It validates every record
// before anything is written, so that a bad file changes nothing.
package connfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// MaxSize bounds an import file.
const MaxSize = 64 << 20

// Record is one connection as written in a file.
type Record struct {
	Name         string   `json:"name"`
	Provider     *string  `json:"provider"`
	TokenURL     *string  `json:"token_url"`
	ClientID     *string  `json:"client_id"`
	ClientSecret *string  `json:"client_secret"`
	Scopes       *string  `json:"scopes"`
	AuthStyle    *string  `json:"auth_style"`
	AccessToken  *string  `json:"access_token"`
	RefreshToken *string  `json:"refresh_token"`
	ExpiresAt    *string  `json:"expires_at"`
	ExpiresIn    *float64 `json:"expires_in"`
	// Params are provider parameters: {tenant} of a Microsoft token URL,
	// app_id, target_org_id and token_manager of a Webex service app,
	// lifetime of a Salesforce session.
	Params map[string]any `json:"params"`
	// Fields of a provider's token response, accepted so that a saved
	// response can be imported as it is, and ignored.
	TokenType             any `json:"token_type"`
	Scope                 any `json:"scope"`
	IDToken               any `json:"id_token"`
	RefreshTokenExpiresIn any `json:"refresh_token_expires_in"`
}

// Parse reads and validates every record in r. now anchors expires_in.
func Parse(r io.Reader, cat *provider.Catalogue, now time.Time) ([]store.ImportRow, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("file is larger than %d MiB", MaxSize>>20)
	}
	recs, err := decode(data)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, errors.New("no connections in the input")
	}
	seen := map[string]bool{}
	rows := make([]store.ImportRow, 0, len(recs))
	for i, rec := range recs {
		row, err := rec.validate(cat, now)
		if err != nil {
			return nil, fmt.Errorf("record %d%s: %w", i+1, label(rec.Name), err)
		}
		if seen[rec.Name] {
			return nil, fmt.Errorf("record %d%s: name appears twice", i+1, label(rec.Name))
		}
		seen[rec.Name] = true
		rows = append(rows, row)
	}
	return rows, nil
}

func label(name string) string {
	if name == "" || len(name) > 100 {
		return ""
	}
	return fmt.Sprintf(" (%q)", name)
}

func decode(data []byte) ([]Record, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var recs []Record
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&recs); err != nil {
			return nil, fmt.Errorf("malformed JSON: %s", jsonErr(err))
		}
		// More is false before a stray ] or }, so ask for the end itself.
		if _, err := dec.Token(); err != io.EOF {
			return nil, errors.New("malformed JSON: data after the array")
		}
		return recs, nil
	}
	var recs []Record
	dec := json.NewDecoder(bufio.NewReader(bytes.NewReader(trimmed)))
	dec.DisallowUnknownFields()
	for {
		var rec Record
		err := dec.Decode(&rec)
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("record %d: malformed JSON: %s", len(recs)+1, jsonErr(err))
		}
		recs = append(recs, rec)
	}
}

// jsonErr describes a decoding error without quoting the input, which may
// hold a secret.
func jsonErr(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be a %s, not a %s", te.Field, te.Type.Kind(), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return "invalid input"
}

func (r *Record) validate(cat *provider.Catalogue, now time.Time) (store.ImportRow, error) {
	row := store.ImportRow{
		Name: r.Name, Provider: r.Provider, TokenURL: r.TokenURL, ClientID: r.ClientID,
		ClientSecret: r.ClientSecret, Scopes: r.Scopes, AuthStyle: r.AuthStyle,
		AccessToken: r.AccessToken, RefreshToken: r.RefreshToken,
	}
	if err := checkName(r.Name); err != nil {
		return row, err
	}
	if r.Provider != nil {
		if _, ok := cat.Lookup(*r.Provider); !ok {
			return row, fmt.Errorf("unknown provider %q (known: %s)", *r.Provider, strings.Join(cat.Names(), ", "))
		}
	}
	if r.TokenURL != nil {
		u, err := url.Parse(*r.TokenURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return row, errors.New("token_url must be an absolute http(s) URL without credentials")
		}
	}
	if r.AuthStyle != nil {
		if _, err := provider.ParseAuthStyle(*r.AuthStyle); err != nil {
			return row, err
		}
	}
	if r.Params != nil {
		b, err := json.Marshal(r.Params)
		if err != nil {
			return row, errors.New("params must be a JSON object")
		}
		p := string(b)
		row.Params = &p
	}
	exp, err := r.expiry(now)
	if err != nil {
		return row, err
	}
	row.AccessTokenExpires = exp
	return row, nil
}

// expiry decides the access token's expiry. expires_in 0 means never, as
// providers use it. With neither field, a token that can be refreshed is
// taken as expired, so the worker refreshes it and learns its real
// lifetime; one that cannot be refreshed is taken as never expiring.
func (r *Record) expiry(now time.Time) (*time.Time, error) {
	switch {
	case r.ExpiresAt != nil && r.ExpiresIn != nil:
		return nil, errors.New("give expires_at or expires_in, not both")
	case r.ExpiresAt != nil:
		t, err := time.Parse(time.RFC3339, *r.ExpiresAt)
		if err != nil {
			return nil, errors.New("expires_at must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
		return &t, nil
	case r.ExpiresIn != nil:
		if *r.ExpiresIn < 0 || *r.ExpiresIn > 10*365*24*3600 {
			return nil, errors.New("expires_in must be a number of seconds between 0 and ten years")
		}
		if *r.ExpiresIn == 0 {
			return nil, nil
		}
		t := now.Add(time.Duration(*r.ExpiresIn * float64(time.Second)))
		return &t, nil
	case r.AccessToken != nil && *r.AccessToken != "" && (r.RefreshToken == nil || *r.RefreshToken == ""):
		return nil, nil
	default:
		t := now
		return &t, nil
	}
}

func checkName(name string) error {
	if name == "" {
		return errors.New("name is required")
	}
	if len(name) > 200 {
		return errors.New("name is longer than 200 bytes")
	}
	for _, c := range name {
		if unicode.IsSpace(c) || unicode.IsControl(c) {
			return errors.New("name must not contain spaces or control characters")
		}
	}
	return nil
}
