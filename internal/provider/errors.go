package provider

import (
	"cmp"
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
)

// Error is a refresh that did not produce tokens.
type Error struct {
	// Reauth reports that retrying cannot help: the connection needs a
	// person to re-authorize it (or to fix its configuration).
	Reauth bool
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

// scrub removes secrets from the provider's text.
func (e *Error) scrub(secrets ...string) {
	for _, s := range secrets {
		if s == "" {
			continue
		}
		e.Code = strings.ReplaceAll(e.Code, s, "[REDACTED]")
		e.Description = strings.ReplaceAll(e.Description, s, "[REDACTED]")
		e.msg = strings.ReplaceAll(e.msg, s, "[REDACTED]")
	}
}

// reauthCodes are RFC 6749 error codes that retrying with the same request
// cannot fix.
var reauthCodes = map[string]bool{
	"invalid_grant":          true,
	"invalid_client":         true,
	"unauthorized_client":    true,
	"unsupported_grant_type": true,
	"invalid_scope":          true,
	"invalid_request":        true,
}

// classify turns the provider's answer into an Error. Unknown 4xx answers
// stay transient: a proxy's error page must not kill a connection, and the
// backoff keeps them from becoming a hot loop.
func classify(tmpl *Template, status int, code, desc string, body []byte, header http.Header, cause error) *Error {
	if code == "" || desc == "" {
		c, d := readError(body, tmpl.Errors)
		code, desc = cmp.Or(code, c), cmp.Or(desc, d)
	}
	e := &Error{Status: status, Code: clean(code, 64), Description: clean(desc, 200), Err: cause, msg: "token endpoint refused the refresh"}
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

func transientText(rules ErrorRules, desc string) bool {
	for _, t := range rules.TransientDescriptions {
		if strings.Contains(strings.ToLower(desc), strings.ToLower(t)) {
			return true
		}
	}
	return false
}

// transportError describes a request that got no usable answer. A
// *url.Error names the request's URL; only its cause is kept.
func transportError(cause error) *Error {
	if isTimeout(cause) {
		return &Error{Err: cause, msg: "token request timed out"}
	}
	inner := cause
	var ue *url.Error
	if errors.As(cause, &ue) {
		inner = ue.Err
	}
	return &Error{Err: cause, msg: "token request failed: " + clean(inner.Error(), 200)}
}

func configError(format string, args ...any) *Error {
	return &Error{Reauth: true, msg: fmt.Sprintf(format, args...)}
}

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

// clean makes provider text safe for one log line and bounded in size.
func clean(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			continue
		}
		b.WriteRune(r)
	}
	s = b.String()
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
