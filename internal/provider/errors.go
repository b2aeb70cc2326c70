package provider

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

// Error is a refresh that did not produce tokens.
type Error struct {
	// Reauth reports that retrying cannot help: the connection needs a
	// person to re-authorize it (or to fix its configuration).
	Reauth bool
	// Config reports, with Reauth, that what was refused is the
	// connection's configuration (its provider, token URL, params, auth
	// style), found before anything was sent: a person must fix it, and
	// re-authorizing would not help.
	Config bool
	// Status is the HTTP status of the provider's answer, 0 if none came.
	Status int
	// Code and Description are the provider's error and error_description.
	Code        string
	Description string
	// RetryAfter is the provider's Retry-After, 0 if it sent none.
	RetryAfter time.Duration
	// RetryWithin, when set, is the longest the next attempt may wait:
	// the answer was lost and the provider accepts the old refresh token
	// again only for a grace period.
	RetryWithin time.Duration
	// RefreshToken is a new refresh token found in an answer that was
	// otherwise unusable: the provider may already have revoked the one it
	// was sent, so it must be stored with the failure (see salvage).
	RefreshToken string
	// Err is the underlying cause, for errors.Is/As; its text is not
	// repeated by Error, because transport errors may carry URLs.
	Err error
	msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.msg)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Description != "" {
		fmt.Fprintf(&b, ": %s", e.Description)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// redacted stands in the provider's text for a secret it repeated.
const redacted = "[REDACTED]"

// Redactor removes a request's secrets from text a provider answered: every
// form of each (see secretForms), longest first so that no form is left
// half-replaced by a shorter one. The zero Redactor removes nothing; its
// Clean still makes the text one bounded line.
type Redactor []string

// NewRedactor returns the Redactor for a request that sent values (refresh
// tokens, a bearer token, an authorization code) and clientID and
// clientSecret, whether as form fields or as an HTTP Basic credential. A
// provider that echoes what it received could put any of them, in any of
// their encodings, into its error.
func NewRedactor(clientID, clientSecret string, values ...string) Redactor {
	var r Redactor
	if clientSecret != "" {
		values = append(values, clientSecret)
		// The Basic credential is base64 of the pair: x/oauth2 URL-encodes
		// both halves first (RFC 6749 section 2.3.1); other clients and
		// echoes use the raw pair.
		for _, pair := range []string{url.QueryEscape(clientID) + ":" + url.QueryEscape(clientSecret), clientID + ":" + clientSecret} {
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
				values = append(values, enc.EncodeToString([]byte(pair)))
			}
		}
	}
	for _, v := range values {
		if v != "" {
			r = append(r, secretForms(v)...)
		}
	}
	slices.SortFunc(r, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	return slices.Compact(r)
}

// secretForms returns s in every encoding a provider could repeat it in: raw,
// URL-encoded as a form value ("+" for a space) and with "%20" and as a path
// segment, JSON-escaped with and without HTML escaping, URL-decoded (a
// provider's text/plain answer is read as a query string), and each of these
// encoded once more (a form body echoed inside a JSON or URL-encoded text).
func secretForms(s string) []string {
	forms := []string{}
	for _, once := range escapes(s) {
		forms = append(forms, escapes(once)...)
	}
	return forms
}

// escapes returns s and its single encodings.
func escapes(s string) []string {
	q := url.QueryEscape(s)
	out := []string{s, q, strings.ReplaceAll(q, "+", "%20"), url.PathEscape(s), jsonEscape(s, true), jsonEscape(s, false)}
	if u, err := url.QueryUnescape(s); err == nil && u != "" {
		out = append(out, u)
	}
	return out
}

// jsonEscape is s as it appears inside a JSON string.
func jsonEscape(s string, html bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	_ = enc.Encode(s) // a string always encodes
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// minPart is the shortest piece of a secret's form that clean finds on its
// own: what is left of a secret a provider cut short or altered. Shorter,
// honest text would be taken for a piece of a secret.
const minPart = 8

// Clean returns text without the secrets, as one line of at most about
// limit bytes, safe for a log, a terminal or last_error (see clean). It is
// the one way text a provider or a browser sent is made printable. Whole
// forms are replaced before the text is shortened: a secret cut by the
// shortening would no longer be found. Pieces of forms are looked for in
// the shortened text, where comparing every piece with every form costs
// little.
func (r Redactor) Clean(text string, limit int) string {
	for _, f := range r {
		text = strings.ReplaceAll(text, f, redacted)
	}
	return r.redactPieces(clean(text, limit))
}

// redactPieces replaces each run of text made of pieces, at least minPart
// bytes long, of the secrets' forms.
func (r Redactor) redactPieces(text string) string {
	var hit []bool
	for i := 0; i+minPart <= len(text); i++ {
		w := text[i : i+minPart]
		for _, f := range r {
			if strings.Contains(f, w) {
				if hit == nil {
					hit = make([]bool, len(text))
				}
				for j := i; j < i+minPart; j++ {
					hit[j] = true
				}
				break
			}
		}
	}
	if hit == nil {
		return text
	}
	// A piece may begin or end inside a character the text has and the
	// form has not (an altered echo): take the whole character, so that
	// what is left stays valid UTF-8.
	for i := 1; i < len(text); i++ {
		if hit[i-1] && !utf8.RuneStart(text[i]) {
			hit[i] = true
		}
	}
	for i := len(text) - 2; i >= 0; i-- {
		if hit[i+1] && !utf8.RuneStart(text[i+1]) {
			hit[i] = true
		}
	}
	var b strings.Builder
	for i := 0; i < len(text); {
		if !hit[i] {
			b.WriteByte(text[i])
			i++
			continue
		}
		b.WriteString(redacted)
		for i < len(text) && hit[i] {
			i++
		}
	}
	return b.String()
}

// reauthCodes are the RFC 6749 error codes that say the grant or the
// client is dead: retrying the same request cannot help. invalid_request
// is not one: it is a malformed request, which also covers a provider
// refusing one of two concurrent refreshes (ORY Hydra answers a database
// serialization failure so and asks to retry).
//
// RFC 8707's invalid_target is one: the audience or resource the
// connection names is not one the provider issues tokens for, which, like
// invalid_scope, only a person changing the connection can fix. It is not
// a configuration error (Error.Config): those are found before anything is
// sent, and this one is the provider's answer.
var reauthCodes = map[string]bool{
	"invalid_grant":          true,
	"invalid_client":         true,
	"unauthorized_client":    true,
	"unsupported_grant_type": true,
	"invalid_scope":          true,
	"invalid_target":         true,
}

// classify turns the provider's answer into an Error, with red's secrets
// removed from the provider's text before it is shortened. Unknown 4xx
// answers stay transient: a proxy's error page must not kill a connection,
// and the backoff keeps them from becoming a hot loop.
func classify(tmpl *Template, status int, code, desc string, body []byte, header http.Header, cause error, red Redactor) *Error {
	if code == "" || desc == "" {
		c, d := readError(body, tmpl.Errors)
		code, desc = cmp.Or(code, c), cmp.Or(desc, d)
	}
	e := &Error{Status: status, Code: red.Clean(code, 64), Description: red.Clean(desc, 200), Err: cause, msg: "token endpoint refused the refresh"}
	e.RetryAfter = parseRetryAfter(header.Get("Retry-After"), time.Now())
	e.Reauth = (reauthCodes[e.Code] || slices.Contains(tmpl.Errors.Reauth, e.Code)) &&
		!slices.Contains(tmpl.Errors.Transient, e.Code) && !transientText(tmpl.Errors, desc)
	return e
}

// readError reads the code and description from the fields a provider
// uses instead of RFC 6749's (HubSpot: status and message).
func readError(body []byte, rules ErrorRules) (code, desc string) {
	var obj map[string]any
	if json.Unmarshal(body, &obj) != nil {
		return "", ""
	}
	for _, f := range append(rules.CodeFields, "error") {
		if s, ok := obj[f].(string); ok && s != "" {
			code = s
			break
		}
	}
	for _, f := range append(rules.DescriptionFields, "error_description") {
		if s, ok := obj[f].(string); ok && s != "" {
			desc = s
			break
		}
	}
	return code, desc
}

// transientText reports a description that makes a fatal-looking code
// transient: one the template lists, or one that asks for a retry or speaks
// of concurrent requests (a race at the provider, not a dead grant), unless
// it says not to retry.
func transientText(rules ErrorRules, desc string) bool {
	d := strings.ToLower(desc)
	for _, t := range rules.TransientDescriptions {
		if strings.Contains(d, strings.ToLower(t)) {
			return true
		}
	}
	if strings.Contains(d, "not retry") || strings.Contains(d, "n't retry") {
		return false
	}
	return strings.Contains(d, "retry") || strings.Contains(d, "concurren")
}

// transportError describes a request that got no usable answer, with
// red's secrets removed from the cause's text. A *url.Error names the
// request's URL; only its cause is kept.
func transportError(cause error, red Redactor) *Error {
	if isTimeout(cause) {
		return &Error{Err: cause, msg: "token request timed out"}
	}
	inner := cause
	var ue *url.Error
	if errors.As(cause, &ue) {
		inner = ue.Err
	}
	return &Error{Err: cause, msg: "token request failed: " + red.Clean(inner.Error(), 200)}
}

// configError is a refusal of the connection's configuration, found before
// anything was sent. It takes the connection out of rotation like a dead
// grant (Reauth), but says "configuration error" everywhere it is reported.
func configError(format string, args ...any) *Error {
	return &Error{Reauth: true, Config: true, msg: "configuration error: " + fmt.Sprintf(format, args...)}
}

// ConfigError is a refusal of a connection's configuration that the caller
// found while building its Request (a row's params that ParseParams
// refuses): it is reported and classified like those Refresh finds.
func ConfigError(err error) *Error { return configError("%v", err) }

// isLostAnswer reports a request that may have reached the provider but
// whose answer never arrived: a timeout or a connection cut mid-exchange.
func isLostAnswer(err error) bool {
	return isTimeout(err) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// clean makes text safe for one line of a log or a terminal and bounded
// in size: invalid UTF-8 (which PostgreSQL refuses) becomes U+FFFD, control
// characters (C0, DEL and C1, which a terminal may obey) and runs of white
// space become one space, and text longer than limit bytes is cut on a
// character boundary. Secrets must be redacted before: a cut secret is no
// longer found.
func clean(s string, limit int) string {
	s = strings.Join(strings.FieldsFunc(strings.ToValidUTF8(s, "\uFFFD"), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}
