// Package apikey makes, hashes and checks the API keys of the token HTTP
// API, and matches connection names against a key's patterns.
//
// A key reads tw_<id>_<secret>: the id (16 hex digits) finds the key's row,
// the secret (256 random bits, base64url) proves possession. Only the
// SHA-256 hash of the whole key is stored.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
)

const (
	prefix      = "tw_"
	idBytes     = 8
	secretBytes = 32
)

// Key is a freshly generated key. Secret is the whole key, shown once.
type Key struct {
	ID     string
	Secret string
	Hash   []byte
}

// Generate returns a new random key.
func Generate() (Key, error) {
	id := make([]byte, idBytes)
	if _, err := rand.Read(id); err != nil {
		return Key{}, fmt.Errorf("generate API key: %w", err)
	}
	secret, err := Token()
	if err != nil {
		return Key{}, fmt.Errorf("generate API key: %w", err)
	}
	k := Key{ID: hex.EncodeToString(id)}
	k.Secret = prefix + k.ID + "_" + secret
	k.Hash = Hash(k.Secret)
	return k, nil
}

// Token returns 256 random bits, base64url-encoded: the secret of a key,
// and of every other bearer value the server stores only the Hash of (a
// console session's cookie, a reconnect link).
func Token() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ID returns the id part of key, or false if key is not shaped like one of
// ours (then it cannot be valid and no lookup is needed).
func ID(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 2*idBytes || secret == "" {
		return "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", false
	}
	return id, true
}

// Hash returns the stored form of key.
//
// A single SHA-256 is right here, not bcrypt or argon2: those slow hashes
// protect low-entropy passwords against guessing, but a key holds 256 bits
// from crypto/rand, which no amount of guessing finds. A fast hash keeps
// every API request cheap.
func Hash(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// Verify reports whether key hashes to stored, in constant time.
func Verify(key string, stored []byte) bool {
	return subtle.ConstantTimeCompare(Hash(key), stored) == 1
}

// ErrBadPatterns is returned by ParsePatterns for an unusable pattern list.
var ErrBadPatterns = errors.New("bad name patterns")

// ParsePatterns splits a comma-separated list of path.Match globs, such as
// "xero-*,hubspot-acme", and checks each.
func ParsePatterns(s string) ([]string, error) {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("%w: %q is not a valid glob", ErrBadPatterns, p)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: none given", ErrBadPatterns)
	}
	return out, nil
}

// Allowed reports whether name matches one of patterns.
func Allowed(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, err := path.Match(p, name); err == nil && ok {
			return true
		}
	}
	return false
}
