package tokens

import (
	"io"
	"net/http"
)

// Transport returns an http.RoundTripper that sends each request with the
// named connection's current token and, when the API answers 401, reports
// the token as stale (Invalidate), waits for its replacement and sends the
// request once more: the reactive 401-then-refresh pattern, with the
// refresh done once by the worker however many requests hit the 401.
//
// A request is retried only if its body can be sent again (no body, or
// Request.GetBody set, as http.NewRequest does for in-memory bodies). base
// nil means http.DefaultTransport.
func (c *Client) Transport(name string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{c: c, name: name, base: base}
}

type transport struct {
	c    *Client
	name string
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	tok, err := t.c.Get(ctx, t.name)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.base.RoundTrip(authorized(req, tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !replayable(req) {
		return resp, err
	}
	// Drain so the connection can be reused, then retry once.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err := t.c.Invalidate(ctx, t.name, tok.AccessToken); err != nil {
		return nil, err
	}
	fresh, err := t.c.Get(ctx, t.name)
	if err != nil {
		return nil, err
	}
	retry := authorized(req, fresh)
	if req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		retry.Body = body
	}
	return t.base.RoundTrip(retry)
}

// authorized clones req with the token set; RoundTrippers must not modify
// the caller's request.
func authorized(req *http.Request, tok *Token) *http.Request {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", tok.OAuth2().Type()+" "+tok.AccessToken)
	return r
}

func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
