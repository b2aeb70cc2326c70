package testutil

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
)

// SecretForms lists the ways a token request's secrets could come back in a
// provider's echo of it: each value raw, URL-encoded (with "+" and with
// "%20" for a space, and as a path segment), JSON-escaped (with and without
// HTML escaping), each of these once more (a form body echoed inside
// another encoding), and the HTTP Basic credential of clientID and
// clientSecret, base64 of the URL-encoded pair (as x/oauth2 sends it) and of
// the raw pair, standard and URL-safe, padded and not.
//
// It is the tests' own list, written apart from the code that scrubs, so
// that a form the scrubber forgets shows up as a leak.
func SecretForms(clientID, clientSecret string, values ...string) []string {
	bases := []string{}
	if clientSecret != "" {
		bases = append(bases, clientSecret)
		for _, pair := range []string{url.QueryEscape(clientID) + ":" + url.QueryEscape(clientSecret), clientID + ":" + clientSecret} {
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
				bases = append(bases, enc.EncodeToString([]byte(pair)))
			}
		}
	}
	for _, v := range values {
		if v != "" {
			bases = append(bases, v)
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, b := range bases {
		for _, once := range escapes(b) {
			for _, twice := range escapes(once) {
				if !seen[twice] {
					seen[twice] = true
					out = append(out, twice)
				}
			}
		}
	}
	return out
}

// escapes returns s and each single encoding of it.
func escapes(s string) []string {
	jsonOf := func(html bool) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		_ = enc.Encode(s)
		return strings.TrimSuffix(strings.TrimSuffix(b.String(), "\n"), `"`)[1:]
	}
	return []string{
		s,
		url.QueryEscape(s),
		strings.ReplaceAll(url.QueryEscape(s), "+", "%20"),
		url.PathEscape(s),
		jsonOf(true),
		jsonOf(false),
	}
}

// LeakWindow is the shortest part of a secret's form that Leaked reports:
// long enough that no honest text repeats it by chance, short enough to
// catch the first part of a token cut off by truncation.
const LeakWindow = 12

// Leaked returns a form, or a part of one LeakWindow bytes long, that text
// contains; "" when it contains none.
func Leaked(text string, forms []string) string {
	parts := map[string]bool{}
	for _, f := range forms {
		if len(f) < LeakWindow {
			if strings.Contains(text, f) {
				return f
			}
			continue
		}
		for i := 0; i+LeakWindow <= len(f); i++ {
			parts[f[i:i+LeakWindow]] = true
		}
	}
	for i := 0; i+LeakWindow <= len(text); i++ {
		if parts[text[i:i+LeakWindow]] {
			return text[i : i+LeakWindow]
		}
	}
	return ""
}
