package connfile

import (
	"fmt"

	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// CheckEndpoints refuses the first of rows whose connection the worker would
// refresh but never could: a token endpoint that is missing, lacks a
// parameter, or is outside the endpoint policy. Such a connection used to be
// stored and then die as a misleading needs_reauth. stored holds the
// existing connections among the rows' names, read without their secrets: a
// field a row leaves out keeps its stored value, so the check is of the
// connection as it will be. The error names the record as Parse does: rows[0] is record first.
func CheckEndpoints(first int, rows []store.ImportRow, stored map[string]*model.OAuthToken, cat *provider.Catalogue, p provider.EndpointPolicy) error {
	for i := range rows {
		row, cur := &rows[i], stored[rows[i].Name]
		if err := CheckAuthorizeURL(row.AuthorizeURL, p); err != nil {
			return fmt.Errorf("record %d%s: %w", first+i, label(row.Name), err)
		}
		// Without a refresh token, and with a grant that needs one, the
		// worker never claims the row (an access token kept as it is), so
		// nothing is ever sent.
		if store.Str(row.RefreshToken) == "" && (cur == nil || !cur.HasRefreshToken) && !otherGrant(row, cur) {
			continue
		}
		if err := CheckEndpoint(row, cur, cat, p); err != nil {
			return fmt.Errorf("record %d%s: %w", first+i, label(row.Name), err)
		}
	}
	return nil
}

// CheckEndpoint checks where the connection that row makes of cur (nil: a
// new connection) sends its secrets when it is refreshed.
func CheckEndpoint(row *store.ImportRow, cur *model.OAuthToken, cat *provider.Catalogue, p provider.EndpointPolicy) error {
	name, tokenURL, params, grant := "oauth2", "", []byte(nil), "" // a new connection's, as import_upsert.sql stores them
	if cur != nil {
		name, tokenURL, params, grant = cur.Provider, store.Str(cur.TokenURL), cur.Params, cur.Grant
	}
	if row.Grant != nil {
		grant = *row.Grant
	}
	if row.Provider != nil {
		name = *row.Provider
	}
	if row.TokenURL != nil {
		tokenURL = *row.TokenURL
	}
	if row.Params != nil {
		params = []byte(*row.Params)
	}
	tmpl, ok := cat.Lookup(name)
	if !ok {
		return fmt.Errorf("unknown provider %q", name)
	}
	if err := tmpl.CheckGrant(grant); err != nil {
		return err
	}
	pm, err := provider.ParseParams(params)
	if err != nil {
		return err
	}
	return p.CheckConnection(&tmpl, tokenURL, pm)
}

// otherGrant reports a connection that row makes of cur whose grant needs
// no refresh token: the worker claims it all the same.
func otherGrant(row *store.ImportRow, cur *model.OAuthToken) bool {
	g := model.GrantRefreshToken
	if cur != nil && cur.Grant != "" {
		g = cur.Grant
	}
	if row.Grant != nil {
		g = *row.Grant
	}
	return g != model.GrantRefreshToken
}

// CheckAuthorizeURL checks a connection's own authorization endpoint (nil:
// none given) against the endpoint policy, as its token endpoint is: https,
// or http on loopback, and on an allowed host. Only a person's browser goes
// there, with the client id, but a link to an address of anyone's choosing
// is what a phishing page needs.
func CheckAuthorizeURL(raw *string, p provider.EndpointPolicy) error {
	if raw == nil || *raw == "" {
		return nil
	}
	if err := p.Check(*raw); err != nil {
		return fmt.Errorf("authorize_url: %w", err)
	}
	return nil
}
