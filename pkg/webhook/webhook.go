// Package webhook is for the receivers of tokenwarden's failure webhooks:
// the event a worker posts when a connection needs a person, and the
// signature that proves the worker sent it.
//
// A worker with TOKENS_WEBHOOK_URL set posts each event as a JSON Event to
// that URL, with the header
//
//	X-Tokenwarden-Signature: sha256=<hex HMAC-SHA256 of the body, keyed with TOKENS_WEBHOOK_SECRET>
//
// A receiver reads the raw body, checks it with Verify before it decodes
// it, and answers 2xx; a 5xx, a 429 or no answer is retried with backoff,
// any other answer is not. An event never holds a token or a secret:
//
//	{"event":"needs_reauth","name":"xero-acme","provider":"xero","failures":1,
//	 "last_error":"invalid_grant: ...","time":"2026-01-02T15:04:05Z"}
//
// The package has no dependencies beyond the standard library.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body.
const SignatureHeader = "X-Tokenwarden-Signature"

// Event kinds.
const (
	NeedsReauth = "needs_reauth" // the provider refused the refresh token: re-authorize the connection
	ConfigError = "config_error" // the connection's configuration was refused; nothing was sent
	Failing     = "failing"      // refreshes keep failing: every third consecutive failure
)

// Event is the JSON body of a webhook.
type Event struct {
	Event     string    `json:"event"` // one of the kinds above
	Name      string    `json:"name"`  // the connection
	Provider  string    `json:"provider"`
	Failures  int       `json:"failures"` // consecutive failures, this one included
	LastError string    `json:"last_error"`
	Time      time.Time `json:"time"`
}

// Sign returns the SignatureHeader value for body, keyed with secret.
func Sign(secret, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, body))
}

// Verify reports whether header, a SignatureHeader value, is body's
// signature with secret. It compares in constant time.
func Verify(secret, body []byte, header string) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	sum, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	return hmac.Equal(sum, mac(secret, body))
}

func mac(secret, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return m.Sum(nil)
}
