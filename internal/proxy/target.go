package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/tokenwarden/tokenwarden/internal/provider"
)

// target is where a connection's requests go and what they carry besides
// the token: the checked API base, the template's auth scheme ("" for the
// token's type) and its provider headers, filled from the connection.
type target struct {
	name    string
	base    *url.URL
	scheme  string
	headers http.Header
}

// targetError is a connection that cannot be proxied to, with the status
// to answer. It is not cached: the fix (an import, a parameter) takes
// effect on the next request.
type targetError struct {
	status int
	msg    string
}

func (e *targetError) Error() string { return e.msg }

// target returns name's target, read at most once per CacheTTL. The status
// is the answer on error.
func (p *proxy) target(ctx context.Context, name string) (*target, int, error) {
	t, err := p.targets.Get(name, func() (*target, error) { return p.resolve(ctx, name) })
	if err != nil {
		var te *targetError
		if errors.As(err, &te) {
			return nil, te.status, err
		}
		p.Logger.Error("proxy: reading the connection failed", "name", name, "err", err)
		return nil, http.StatusServiceUnavailable, errors.New("cannot read the connection now")
	}
	return t, 0, nil
}

// resolve reads name's target: its params.api_base_url, else its
// template's, with placeholders filled from params and json_data, and
// checked against the endpoint policy; then the template's scheme and
// headers.
func (p *proxy) resolve(ctx context.Context, name string) (*target, error) {
	found, err := p.Connections.Describe(ctx, []string{name})
	if err != nil {
		return nil, err
	}
	row := found[name]
	if row == nil {
		return nil, &targetError{http.StatusNotFound, "no connection named " + name}
	}
	bad := func(what string, err error) error {
		return &targetError{http.StatusBadGateway, name + ": " + what + err.Error()}
	}
	params, err := provider.ParseParams(row.Params)
	if err != nil {
		return nil, bad("", err)
	}
	vars := provider.Placeholders(row.JSONData, params)
	tmpl, _ := p.Catalogue.Lookup(row.Provider)
	raw := params["api_base_url"]
	if raw == "" {
		raw = tmpl.APIBaseURL
	}
	if raw == "" {
		return nil, &targetError{http.StatusNotFound, name + " has no API base: set params.api_base_url"}
	}
	filled, err := provider.Fill(raw, vars, tmpl.Params)
	if err != nil {
		return nil, bad("API base: ", err)
	}
	u, err := parseBase(filled)
	if err == nil {
		err = p.Policy.Check(u.String())
	}
	if err != nil {
		return nil, bad("API base: ", err)
	}
	headers, err := tmpl.FillAPIHeaders(vars)
	if err != nil {
		return nil, bad("", err)
	}
	return &target{name: name, base: u, scheme: tmpl.APIAuthScheme, headers: headers}, nil
}
