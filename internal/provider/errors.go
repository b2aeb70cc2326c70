package provider

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
func classify(status int, code, desc string, header http.Header, cause error) *Error {
	e := &Error{Status: status, Code: clean(code, 64), Description: clean(desc, 200), Err: cause, msg: "token endpoint refused the refresh"}
	e.RetryAfter = parseRetryAfter(header.Get("Retry-After"), time.Now())
	e.Reauth = reauthCodes[e.Code]
	return e
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
