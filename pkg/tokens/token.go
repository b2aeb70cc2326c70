package tokens

import (
	"encoding/json"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/pkg/tokens/internal/reader"
)

// Token is a connection's current access token.
type Token struct {
	Name        string `json:"name"`
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	// Expiry is when the access token expires; zero means never.
	Expiry time.Time `json:"expiry,omitzero"`
	// Extra holds the non-secret fields of the provider's last token
	// response (json_data), such as instance_url or scope.
	Extra map[string]any `json:"extra,omitempty"`
	// Version counts the connection's refreshes; it changes whenever the
	// token does.
	Version int64 `json:"version"`
}

// OAuth2 converts t for use with golang.org/x/oauth2.
func (t *Token) OAuth2() *oauth2.Token {
	o := &oauth2.Token{AccessToken: t.AccessToken, TokenType: t.TokenType, Expiry: t.Expiry}
	if len(t.Extra) > 0 {
		o = o.WithExtra(t.Extra)
	}
	return o
}

// validAt reports whether the token can be handed out at now: present and
// not expiring within margin.
func (t *Token) validAt(now time.Time, margin time.Duration) bool {
	return t.AccessToken != "" && (t.Expiry.IsZero() || t.Expiry.After(now.Add(margin)))
}

func fromRow(name string, r *reader.Row) *Token {
	t := &Token{Name: name, AccessToken: r.AccessToken, TokenType: "Bearer", Expiry: r.Expires, Version: r.Version}
	if len(r.JSONData) > 0 {
		_ = json.Unmarshal(r.JSONData, &t.Extra)
		if tt, ok := t.Extra["token_type"].(string); ok && tt != "" {
			t.TokenType = tt
		}
	}
	return t
}
