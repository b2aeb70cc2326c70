package provider

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxBody caps what is read of a provider's answer: a hostile or broken
// endpoint must not make the worker buffer without bound.
const maxBody = 1 << 20

// shaper adapts one provider's request and response to RFC 6749, so that
// golang.org/x/oauth2 can do the exchange for every template: it reshapes
// client authentication, re-sends scopes, encodes the body as JSON, and maps
// a non-standard success response onto the standard fields.
type shaper struct {
	base         http.RoundTripper
	tmpl         *Template
	auth         string
	scopes       string
	clientSecret string
	// answer and answerType are the last 2xx answer as x/oauth2 reads
	// it (after mapResponse), kept so that a rotated refresh token can be
	// salvaged from an answer x/oauth2 refuses. Kept by reference: the
	// happy path pays nothing.
	answer     []byte
	answerType string
}

func (s *shaper) RoundTrip(req *http.Request) (*http.Response, error) {
	req, err := s.shapeRequest(req)
	if err != nil {
		return nil, err
	}
	resp, err := s.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	// Read the answer here rather than leave it to x/oauth2, which folds
	// a read error into text: a connection cut mid-answer must stay
	// recognisable as a lost answer (see isLostAnswer).
	body, err := readBody(resp)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, nil
	}
	s.answer, s.answerType = body, resp.Header.Get("Content-Type")
	if s.tmpl.Response == nil {
		return resp, nil
	}
	return s.mapResponse(resp, body)
}

// readBody reads at most maxBody bytes of resp's body, into one buffer of
// the announced length when there is one. Read errors are returned as they
// are: a body cut short must stay an error.
func readBody(resp *http.Response) ([]byte, error) {
	n := resp.ContentLength
	if n < 0 || n >= maxBody {
		return io.ReadAll(io.LimitReader(resp.Body, maxBody))
	}
	buf := make([]byte, 0, n+1) // +1: EOF is seen without growing
	for len(buf) < cap(buf) {
		m, err := resp.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	// Longer than announced: read on, up to the cap, like any other body.
	rest, err := io.ReadAll(io.LimitReader(resp.Body, maxBody-int64(len(buf))))
	return append(buf, rest...), err
}

// acceptJSON is shared by every request's header: net/http only reads it.
var acceptJSON = []string{"application/json"}

func (s *shaper) shapeRequest(req *http.Request) (*http.Request, error) {
	// A RoundTripper must not change its caller's request: work on a
	// copy with its own header map. Request.Clone would also copy the URL
	// and every header value, on every refresh, for nothing.
	r2 := *req
	r2.Header = make(http.Header, len(req.Header)+2)
	for k, v := range req.Header {
		r2.Header[k] = v
	}
	r2.Header["Accept"] = acceptJSON
	req = &r2
	reshape := s.auth == "none" || s.auth == "bearer" || s.tmpl.SendScope || s.tmpl.Encoding == "json"
	if !reshape {
		return req, nil
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBody))
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	switch s.auth {
	case "none":
		form.Del("client_secret")
	case "bearer":
		form.Del("client_secret")
		req.Header.Set("Authorization", "Bearer "+s.clientSecret)
	}
	if s.tmpl.SendScope && s.scopes != "" {
		form.Set("scope", s.scopes)
	}
	if s.tmpl.Encoding == "json" {
		obj := map[string]string{}
		for k, v := range form {
			if k != "grant_type" && len(v) > 0 && v[0] != "" {
				obj[k] = v[0]
			}
		}
		body, _ = json.Marshal(obj)
		req.Header.Set("Content-Type", "application/json")
	} else {
		body = []byte(form.Encode())
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return req, nil
}

// mapResponse rewrites a non-standard success response into a standard
// one (see mapAnswer).
func (s *shaper) mapResponse(resp *http.Response, body []byte) (*http.Response, error) {
	mapped, ok := mapAnswer(s.tmpl.Response, body, time.Now())
	if !ok {
		// Not a refusal of the exchange: x/oauth2 reads the answer as it
		// is, and says what is wrong with it.
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	}
	s.answer, s.answerType = mapped, "application/json"
	resp.Body = io.NopCloser(bytes.NewReader(mapped))
	resp.ContentLength = int64(len(mapped))
	resp.Header.Set("Content-Type", "application/json")
	resp.Header.Del("Content-Length")
	return resp, nil
}

// mapAnswer rewrites body, a success answer in the shape m describes, into
// an RFC 6749 one; ok is false when body is not a JSON object. Fields it
// cannot find are left out, so a missing access_token is reported as it
// would be for any provider. Every grant's answer is read through it
// when its template has a response map.
func mapAnswer(m *ResponseMap, body []byte, now time.Time) (mapped []byte, ok bool) {
	var in map[string]any
	if json.Unmarshal(body, &in) != nil {
		return nil, false
	}
	out := map[string]any{"token_type": "Bearer"}
	for k, v := range in {
		if _, nested := v.(map[string]any); !nested {
			out[k] = v
		}
	}
	if v, ok := lookup(in, m.AccessToken).(string); ok {
		out["access_token"] = v
	}
	if v, ok := lookup(in, m.RefreshToken).(string); ok {
		out["refresh_token"] = v
	}
	if secs, ok := secondsUntil(lookup(in, m.ExpiresAt), now); ok {
		out["expires_in"] = secs
	} else if n, ok := number(lookup(in, m.ExpiresIn)); ok {
		out["expires_in"] = n
	}
	if secs, ok := secondsUntil(lookup(in, m.RefreshExpiresAt), now); ok {
		out["refresh_token_expires_in"] = secs
	}
	mapped, _ = json.Marshal(out)
	return mapped, true
}

// lookup follows a dotted path through nested JSON objects.
func lookup(v any, path string) any {
	if path == "" {
		return nil
	}
	for _, key := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[key]
	}
	return v
}

// secondsUntil reads an absolute expiry (RFC 3339, or epoch seconds or
// milliseconds) as seconds from now, at least 1.
func secondsUntil(v any, now time.Time) (int64, bool) {
	var t time.Time
	switch x := v.(type) {
	case string:
		parsed, err := time.Parse(time.RFC3339, x)
		if err != nil {
			n, err2 := strconv.ParseFloat(x, 64)
			if err2 != nil {
				return 0, false
			}
			return secondsUntil(n, now)
		}
		t = parsed
	case float64:
		if x > 1e12 {
			t = time.UnixMilli(int64(x))
		} else {
			t = time.Unix(int64(x), 0)
		}
	default:
		return 0, false
	}
	return max(int64(t.Sub(now).Seconds()), 1), true
}
