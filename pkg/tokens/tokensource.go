package tokens

import (
	"context"

	"golang.org/x/oauth2"
)

// TokenSource returns an oauth2.TokenSource for the named connection, so
// that oauth2.NewClient can use it. Each Token call waits at most
// Options.WaitTimeout.
func (c *Client) TokenSource(name string) oauth2.TokenSource {
	return &tokenSource{c: c, name: name}
}

type tokenSource struct {
	c    *Client
	name string
}

func (s *tokenSource) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.c.opts.WaitTimeout)
	defer cancel()
	t, err := s.c.Get(ctx, s.name)
	if err != nil {
		return nil, err
	}
	return t.OAuth2(), nil
}
