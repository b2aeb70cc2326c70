package app

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/progress"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// ExportOptions chooses what Export writes.
type ExportOptions struct {
	// Match keeps only the names it accepts; nil keeps all.
	Match func(name string) bool
	// Status keeps only the connections with that status; "" keeps all.
	Status string
	// Secrets writes the access token, refresh token and client secret in
	// plaintext. Without it they are left out, and importing the file
	// keeps the secrets an existing connection has.
	Secrets bool
	// Progress, when set, is told the connections to write, if known
	// before (not with Match), and those written, every progressEvery and
	// at the end.
	Progress progress.Reporter
}

// progressEvery is how often Export reports: often enough for a bar, rare
// enough to cost nothing at 100,000 rows/s.
const progressEvery = 1000

// exported is one connection as `worker import` reads it (connfile.Record):
// a field left out keeps, on import, what an existing connection has.
type exported struct {
	Name         string          `json:"name"`
	Provider     string          `json:"provider"`
	TokenURL     *string         `json:"token_url,omitempty"`
	AuthorizeURL *string         `json:"authorize_url,omitempty"`
	ClientID     *string         `json:"client_id,omitempty"`
	ClientSecret *string         `json:"client_secret,omitempty"`
	Scopes       *string         `json:"scopes,omitempty"`
	AuthStyle    *string         `json:"auth_style,omitempty"`
	Grant        string          `json:"grant,omitempty"`
	AccessToken  *string         `json:"access_token,omitempty"`
	RefreshToken *string         `json:"refresh_token,omitempty"`
	ExpiresAt    string          `json:"expires_at,omitempty"`
	ExpiresIn    *int            `json:"expires_in,omitempty"`
	Params       json.RawMessage `json:"params,omitempty"`
	// Status goes back in as it was: a disabled or needs_reauth
	// connection must not come back active.
	Status string `json:"status"`
}

// never is expires_in 0, which import reads as an access token that never
// expires: a NULL expiry.
var never = 0

// Export writes the connections opts chooses to w as JSON Lines, in name
// order, and returns how many it wrote. Rows are streamed a page at a
// time, so memory stays bounded whatever the table's size.
func (a *App) Export(ctx context.Context, w io.Writer, opts ExportOptions) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	f := store.ExportFilter{Status: opts.Status, Match: opts.Match, Secrets: opts.Secrets}
	done := func(int) {}
	if opts.Progress != nil {
		f.Total, done = opts.Progress.SetTotal, opts.Progress.Set
	}
	n := 0
	_, err := a.store.Export(ctx, f,
		func(t *model.OAuthToken) error {
			if err := enc.Encode(recordOf(t)); err != nil {
				return err
			}
			if n++; n%progressEvery == 0 {
				done(n)
			}
			return nil
		})
	if err != nil {
		return n, err
	}
	if err := bw.Flush(); err != nil {
		return n, err
	}
	done(n)
	return n, nil
}

// recordOf is the record of row t; its secrets are in it only if they
// were read.
func recordOf(t *model.OAuthToken) *exported {
	r := &exported{
		Name: t.Name, Provider: t.Provider, TokenURL: t.TokenURL, AuthorizeURL: t.AuthorizeURL, ClientID: t.ClientID, Scopes: t.Scopes,
		AuthStyle: t.AuthStyle, ClientSecret: reveal(t.ClientSecret), AccessToken: reveal(t.AccessToken),
		RefreshToken: reveal(t.RefreshToken), Params: t.Params, Status: t.Status,
	}
	if t.Grant != model.GrantRefreshToken {
		r.Grant = t.Grant // the default is left out, as before grants existed
	}
	if t.AccessTokenExpires != nil {
		// Microseconds, as PostgreSQL keeps them: the import reads back
		// the same instant.
		r.ExpiresAt = t.AccessTokenExpires.UTC().Format(time.RFC3339Nano)
	} else {
		r.ExpiresIn = &never
	}
	return r
}

func reveal(s *model.Secret) *string {
	if s == nil {
		return nil
	}
	v := s.Reveal()
	return &v
}
